/* fcgi.c — FastCGI records read as HTTP (fcgi.h). */
#include "fcgi.h"

#include <string.h>

#include "../preload/ascii.h"

/* One record's header. */
struct record {
    uint8_t version, type;
    uint16_t request_id, content_len;
    uint8_t padding_len;
};

static void record_read(const char *at, struct record *r)
{
    const unsigned char *p = (const unsigned char *)at;
    r->version = p[0];
    r->type = p[1];
    r->request_id = (uint16_t)(p[2] << 8 | p[3]);
    r->content_len = (uint16_t)(p[4] << 8 | p[5]);
    r->padding_len = p[6];
}

/* The record's whole extent: header, content, padding. */
static size_t record_extent(const struct record *r)
{
    return TS_FCGI_HEADER_LEN + (size_t)r->content_len + r->padding_len;
}

bool ts_fcgi_looks_like_request(const char *buf, size_t len)
{
    const unsigned char *p = (const unsigned char *)buf;
    return (len < 1 || p[0] == TS_FCGI_VERSION) && (len < 2 || p[1] == TS_FCGI_BEGIN_REQUEST) &&
           (len < 4 || (p[2] | p[3]) != 0) && (len < 5 || p[4] == 0) && (len < 6 || p[5] == 8) &&
           (len < 9 || p[8] == 0) && (len < 10 || p[9] == TS_FCGI_ROLE_RESPONDER);
}

/* A head's length as the parsers return it (an int), or TS_HTTP_ERROR for
 * one that would not fit. */
static int head_length(size_t n)
{
    return n > (size_t)INT32_MAX ? TS_HTTP_ERROR : (int)n;
}

/* ----------------------------------------------------------- requests */

/* A name-value pair's length at p (1 byte below 128, else 4 with the top
 * bit set), within end: false when it runs past end. */
static bool pair_length(const unsigned char **p, const unsigned char *end, size_t *len)
{
    if (*p >= end)
        return false;
    if (!(**p & 0x80)) {
        *len = *(*p)++;
        return true;
    }
    if (end - *p < 4)
        return false;
    const unsigned char *q = *p;
    *len = (size_t)(q[0] & 0x7f) << 24 | (size_t)q[1] << 16 | (size_t)q[2] << 8 | q[3];
    *p += 4;
    return true;
}

static bool named(const char *name, size_t len, const char *lit, size_t lit_len)
{
    return len == lit_len && memcmp(name, lit, len) == 0;
}
#define NAMED(name, len, lit) named(name, len, lit, sizeof(lit) - 1)

/* The CGI variables a head is read for, besides the HTTP_* ones. */
enum cgi_var {
    VAR_REQUEST_METHOD,
    VAR_REQUEST_URI,
    VAR_DOCUMENT_URI,
    VAR_SCRIPT_NAME,
    VAR_SERVER_PROTOCOL,
    VAR_REMOTE_ADDR,
    VAR_REMOTE_PORT,
    VAR_SERVER_PORT,
    CGI_VARS
};

#define CGI_NAME(lit)                                                                              \
    {                                                                                              \
        lit, sizeof(lit) - 1                                                                       \
    }
static const struct {
    const char *name;
    size_t len;
} cgi_names[CGI_VARS] = {
    [VAR_REQUEST_METHOD] = CGI_NAME("REQUEST_METHOD"),
    [VAR_REQUEST_URI] = CGI_NAME("REQUEST_URI"),
    [VAR_DOCUMENT_URI] = CGI_NAME("DOCUMENT_URI"),
    [VAR_SCRIPT_NAME] = CGI_NAME("SCRIPT_NAME"),
    [VAR_SERVER_PROTOCOL] = CGI_NAME("SERVER_PROTOCOL"),
    [VAR_REMOTE_ADDR] = CGI_NAME("REMOTE_ADDR"),
    [VAR_REMOTE_PORT] = CGI_NAME("REMOTE_PORT"),
    [VAR_SERVER_PORT] = CGI_NAME("SERVER_PORT"),
};

/* What the CGI variables of a head say, before it is whole: the value of
 * each (NULL: not given; the first counts, as a server sends each once),
 * and the bytes of header names made so far. */
struct cgi_vars {
    const char *at[CGI_VARS];
    size_t len[CGI_VARS];
    size_t names_used;
};

/* One variable of the PARAMS stream: false when it cannot be kept (more
 * headers than the array holds, names past the scratch buffer). */
static bool var_take(struct cgi_vars *cv, struct ts_http_request *http, size_t cap, char *names,
                     size_t names_cap, const char *name, size_t name_len, const char *value,
                     size_t value_len)
{
    value = ts_ascii_trim(value, &value_len);
    if (name_len > 5 && memcmp(name, "HTTP_", 5) == 0) {
        size_t n = name_len - 5;
        if (http->num_headers == cap || n > names_cap - cv->names_used)
            return false;
        char *to = names + cv->names_used;
        for (size_t i = 0; i < n; i++) {
            char ch = name[5 + i];
            to[i] = ch == '_' ? '-' : ts_ascii_lower(ch);
        }
        cv->names_used += n;
        http->headers[http->num_headers++] = (struct ts_http_header){to, n, value, value_len};
        return true;
    }
    for (int k = 0; k < CGI_VARS; k++) {
        if (named(name, name_len, cgi_names[k].name, cgi_names[k].len)) {
            if (!cv->at[k]) {
                cv->at[k] = value;
                cv->len[k] = value_len;
            }
            break;
        }
    }
    return true;
}

/* The pairs of one PARAMS record's content: false when one runs past it
 * or cannot be kept. */
static bool record_vars(struct cgi_vars *cv, struct ts_http_request *http, size_t cap, char *names,
                        size_t names_cap, const char *content, size_t len)
{
    const unsigned char *p = (const unsigned char *)content, *end = p + len;
    while (p < end) {
        size_t name_len, value_len;
        if (!pair_length(&p, end, &name_len) || !pair_length(&p, end, &value_len) ||
            name_len > (size_t)(end - p) || value_len > (size_t)(end - p) - name_len)
            return false;
        const char *name = (const char *)p;
        if (!var_take(cv, http, cap, names, names_cap, name, name_len, name + name_len, value_len))
            return false;
        p += name_len + value_len;
    }
    return true;
}

/* The variable k's value, when it was given and is not empty. */
static bool var_given(const struct cgi_vars *cv, enum cgi_var k, const char **v, size_t *len)
{
    *v = cv->at[k];
    *len = cv->len[k];
    return *v && *len;
}

/* The request the variables describe (struct ts_fcgi_request's http). */
static void request_from_vars(const struct cgi_vars *cv, struct ts_http_request *http)
{
    http->method = cv->at[VAR_REQUEST_METHOD];
    http->method_len = cv->len[VAR_REQUEST_METHOD];
    if (!var_given(cv, VAR_REQUEST_URI, &http->target, &http->target_len) &&
        !var_given(cv, VAR_DOCUMENT_URI, &http->target, &http->target_len) &&
        !var_given(cv, VAR_SCRIPT_NAME, &http->target, &http->target_len)) {
        http->target = "/";
        http->target_len = 1;
    }
    const char *protocol = cv->at[VAR_SERVER_PROTOCOL];
    size_t protocol_len = cv->len[VAR_SERVER_PROTOCOL];
    http->minor_version = -1;
    if (protocol && NAMED(protocol, protocol_len, "HTTP/1.1"))
        http->minor_version = 1;
    else if (protocol && NAMED(protocol, protocol_len, "HTTP/1.0"))
        http->minor_version = 0;
    memset(&http->noted, 0, sizeof http->noted);
}

int ts_fcgi_parse_request(const char *buf, size_t len, struct ts_fcgi_request *req, char *names,
                          size_t names_cap)
{
    size_t cap = req->http.num_headers;
    req->http.num_headers = 0;
    if (len < TS_FCGI_HEADER_LEN + 8)
        return ts_fcgi_looks_like_request(buf, len) ? TS_HTTP_INCOMPLETE : TS_HTTP_ERROR;
    if (!ts_fcgi_looks_like_request(buf, TS_FCGI_HEADER_LEN + 8))
        return TS_HTTP_ERROR;
    struct record begin;
    record_read(buf, &begin);
    req->request_id = begin.request_id;
    req->keep_conn = (unsigned char)buf[TS_FCGI_HEADER_LEN + 2] & TS_FCGI_KEEP_CONN;
    size_t off = record_extent(&begin);
    struct cgi_vars cv = {0};
    for (;;) {
        if (len < off || len - off < TS_FCGI_HEADER_LEN)
            return TS_HTTP_INCOMPLETE;
        struct record r;
        record_read(buf + off, &r);
        if (r.version != TS_FCGI_VERSION || r.type != TS_FCGI_PARAMS ||
            r.request_id != begin.request_id)
            return TS_HTTP_ERROR;
        if (len - off < record_extent(&r))
            return TS_HTTP_INCOMPLETE;
        if (r.content_len == 0) {
            req->params_end = off;
            off += record_extent(&r); /* its padding too, if it has any */
            break;
        }
        if (!record_vars(&cv, &req->http, cap, names, names_cap, buf + off + TS_FCGI_HEADER_LEN,
                         r.content_len))
            return TS_HTTP_ERROR;
        off += record_extent(&r);
    }
    if (!cv.at[VAR_REQUEST_METHOD] || !cv.len[VAR_REQUEST_METHOD])
        return TS_HTTP_ERROR;
    request_from_vars(&cv, &req->http);
    req->remote_addr = cv.at[VAR_REMOTE_ADDR];
    req->remote_addr_len = cv.len[VAR_REMOTE_ADDR];
    req->remote_port = cv.at[VAR_REMOTE_PORT];
    req->remote_port_len = cv.len[VAR_REMOTE_PORT];
    req->server_port = cv.at[VAR_SERVER_PORT];
    req->server_port_len = cv.len[VAR_SERVER_PORT];
    return head_length(off);
}

void ts_fcgi_request_body(struct ts_http_body *body)
{
    memset(body, 0, sizeof *body);
    body->kind = TS_BODY_FCGI;
    body->fcgi.end_type = TS_FCGI_STDIN;
}

/* ---------------------------------------------------------- responses */

/* The CGI head of a response's STDOUT stream, read as it comes: each
 * line's first bytes (a Status or Location header is told by them). */
#define CGI_LINE_KEPT 64

struct cgi_head {
    char line[CGI_LINE_KEPT];
    size_t line_len; /* bytes of the line so far (only the first CGI_LINE_KEPT kept) */
    int status;      /* a Status header's code; 0: none */
    bool location, any, ended;
};

/* The status a Status header's value gives, read as nginx reads it: its
 * first three characters after the blanks, a code from 100 up; 502 (what
 * nginx answers then) for anything else. */
static int status_code(const char *v, size_t len)
{
    while (len && (*v == ' ' || *v == '\t')) {
        v++;
        len--;
    }
    if (len < 3 || !ts_ascii_is_digit(v[0]) || !ts_ascii_is_digit(v[1]) || !ts_ascii_is_digit(v[2]))
        return 502;
    int code = (v[0] - '0') * 100 + (v[1] - '0') * 10 + (v[2] - '0');
    return code >= 100 ? code : 502;
}

static bool starts_lower(const char *s, size_t len, const char *lit, size_t lit_len)
{
    return len >= lit_len && ts_ascii_eq_lower_n(s, lit, lit_len);
}

/* A line of the head whole (its '\n' not kept). */
static void cgi_line_end(struct cgi_head *h)
{
    size_t kept = h->line_len < CGI_LINE_KEPT ? h->line_len : CGI_LINE_KEPT;
    if (h->line_len == 0 || (h->line_len == 1 && h->line[0] == '\r')) {
        h->ended = true;
        return;
    }
    if (starts_lower(h->line, kept, "status:", 7)) {
        if (!h->status)
            h->status = status_code(h->line + 7, kept - 7);
    } else if (starts_lower(h->line, kept, "location:", 9)) {
        h->location = true;
    }
    h->line_len = 0;
}

/* Read STDOUT content; returns how many bytes the head took (all of len
 * unless it ended within them). */
static size_t cgi_feed(struct cgi_head *h, const char *p, size_t len)
{
    h->any |= len > 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] == '\n') {
            cgi_line_end(h);
            if (h->ended)
                return i + 1;
            continue;
        }
        if (h->line_len < CGI_LINE_KEPT)
            h->line[h->line_len] = p[i];
        h->line_len++;
    }
    return len;
}

static int cgi_status(const struct cgi_head *h)
{
    if (h->status)
        return h->status;
    if (h->location)
        return 302;
    return h->any ? 200 : 502;
}

int ts_fcgi_parse_response(const char *buf, size_t len, int *status, struct ts_http_body *rest)
{
    struct cgi_head h = {.status = 0};
    size_t off = 0;
    memset(rest, 0, sizeof *rest);
    for (;;) {
        if (len - off < TS_FCGI_HEADER_LEN) {
            if (len > off && (unsigned char)buf[off] != TS_FCGI_VERSION)
                return TS_HTTP_ERROR;
            return TS_HTTP_INCOMPLETE;
        }
        struct record r;
        record_read(buf + off, &r);
        if (r.version != TS_FCGI_VERSION)
            return TS_HTTP_ERROR;
        size_t content = off + TS_FCGI_HEADER_LEN;
        size_t have = len - content < r.content_len ? len - content : r.content_len;
        if (!h.any && r.type != TS_FCGI_STDOUT && r.type != TS_FCGI_END_REQUEST) {
            /* A record before any output (a script's notice on STDERR,
             * which may be as long as a record can be): its header on its
             * own, its content and padding a body of their own (the
             * caller's bound on a head's size is no bound on it). */
            *status = 0;
            size_t part = (size_t)r.content_len + r.padding_len;
            if (part) {
                rest->kind = TS_BODY_FCGI;
                rest->fcgi.end_type = TS_FCGI_RECORD_ALONE;
                rest->fcgi.last = true;
                rest->fcgi.left = (uint32_t)part;
            }
            return head_length(content);
        }
        if (r.type == TS_FCGI_STDOUT) {
            size_t took = cgi_feed(&h, buf + content, have);
            if (h.ended) {
                size_t at = content + took;
                *status = cgi_status(&h);
                rest->kind = TS_BODY_FCGI;
                rest->fcgi.end_type = TS_FCGI_END_REQUEST;
                rest->fcgi.left = (uint32_t)(r.content_len - took + r.padding_len);
                return head_length(at);
            }
        }
        if (len - off < record_extent(&r))
            return TS_HTTP_INCOMPLETE;
        off += record_extent(&r);
        if (r.type == TS_FCGI_END_REQUEST) { /* before the head ended */
            *status = cgi_status(&h);
            rest->kind = TS_BODY_NONE;
            return head_length(off);
        }
    }
}

/* ------------------------------------------------------------- bodies */

ssize_t ts_fcgi_body_feed(struct ts_http_body *body, const char *buf, size_t len, bool *done)
{
    struct ts_fcgi_walk *w = &body->fcgi;
    size_t i = 0;
    *done = false;
    if (w->last && w->left == 0 && w->have == 0) { /* ended: what comes is another's */
        *done = true;
        return 0;
    }
    while (i < len) {
        if (w->left) {
            size_t take = w->left < len - i ? w->left : len - i;
            w->left -= (uint32_t)take;
            i += take;
            if (w->left == 0 && w->last)
                break;
            continue;
        }
        w->hdr[w->have++] = (uint8_t)buf[i++];
        if (w->have < TS_FCGI_HEADER_LEN)
            continue;
        w->have = 0;
        struct record r;
        record_read((const char *)w->hdr, &r);
        if (r.version != TS_FCGI_VERSION)
            return -1;
        w->left = (uint32_t)r.content_len + r.padding_len;
        w->last = r.type == w->end_type && (w->end_type != TS_FCGI_STDIN || r.content_len == 0);
        if (w->last && w->left == 0)
            break;
    }
    if (w->last && w->left == 0 && w->have == 0)
        *done = true;
    return (ssize_t)i;
}

/* ------------------------------------------------------ trace context */

/* Write a pair's length at out; returns its bytes. */
static size_t length_put(unsigned char *out, size_t len)
{
    if (len < 128) {
        out[0] = (unsigned char)len;
        return 1;
    }
    out[0] = (unsigned char)(0x80 | len >> 24);
    out[1] = (unsigned char)(len >> 16);
    out[2] = (unsigned char)(len >> 8);
    out[3] = (unsigned char)len;
    return 4;
}

size_t ts_fcgi_params_record(uint16_t request_id, const char *lines, size_t lines_len, char *out,
                             size_t cap)
{
    if (cap < TS_FCGI_HEADER_LEN)
        return 0;
    unsigned char *o = (unsigned char *)out;
    size_t at = TS_FCGI_HEADER_LEN;
    const char *p = lines, *end = lines + lines_len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *next = nl ? nl + 1 : end;
        const char *e = nl ? nl : end;
        if (e > p && e[-1] == '\r')
            e--;
        if (e == p) { /* a blank line */
            p = next;
            continue;
        }
        const char *colon = memchr(p, ':', (size_t)(e - p));
        if (!colon || colon == p)
            return 0;
        size_t name_len = (size_t)(colon - p);
        const char *value = colon + 1;
        size_t value_len = (size_t)(e - value);
        value = ts_ascii_trim(value, &value_len);
        size_t var_len = 5 + name_len;
        size_t lengths = (var_len < 128 ? 1 : 4) + (value_len < 128 ? 1 : 4);
        if (cap - at < lengths + var_len + value_len)
            return 0;
        at += length_put(o + at, var_len);
        at += length_put(o + at, value_len);
        memcpy(o + at, "HTTP_", 5);
        for (size_t i = 0; i < name_len; i++) {
            char ch = p[i];
            o[at + 5 + i] = (unsigned char)(ch == '-'                ? '_'
                                            : ch >= 'a' && ch <= 'z' ? ch - 'a' + 'A'
                                                                     : ch);
        }
        at += var_len;
        memcpy(o + at, value, value_len);
        at += value_len;
        p = next;
    }
    size_t content = at - TS_FCGI_HEADER_LEN;
    if (content == 0 || content > 65535) /* an empty record would end the stream */
        return 0;
    size_t pad = (8 - content % 8) % 8;
    if (cap - at < pad)
        return 0;
    memset(o + at, 0, pad);
    const unsigned char header[TS_FCGI_HEADER_LEN] = {TS_FCGI_VERSION,
                                                      TS_FCGI_PARAMS,
                                                      (unsigned char)(request_id >> 8),
                                                      (unsigned char)request_id,
                                                      (unsigned char)(content >> 8),
                                                      (unsigned char)content,
                                                      (unsigned char)pad,
                                                      0};
    memcpy(o, header, sizeof header);
    return at + pad;
}
