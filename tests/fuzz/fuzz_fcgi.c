/* fuzz_fcgi.c — libFuzzer target for FastCGI read as HTTP (hooks/fcgi.h).
 *
 * Build: clang -std=gnu11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined
 *        -I. hooks/fcgi.c hooks/http1.c preload/url.c tests/fuzz/fuzz_fcgi.c -o fuzz_fcgi
 *
 * The input's last two bytes (big-endian, modulo the length of the rest)
 * cut the rest in two: the first part is parsed as a request stream (a
 * head with room for 8 headers and 256 bytes of names, then the records of
 * its body), the second as a response stream (its CGI head, then the
 * records to END_REQUEST). Whatever follows a head is walked by
 * ts_http_body_feed whole and in pieces. Lines made of the input's bytes
 * go through ts_fcgi_params_record and must read back, inserted in a head,
 * as the same headers; the raw bytes as lines give a record or nothing.
 * Invariants are checked with abort(), so a violation is a crash the
 * fuzzer keeps.
 *
 * The walks stop feeding at the body's end, as a caller does: what a walk
 * does with bytes fed after its end is tests/unit/test_fcgi.c's. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hooks/fcgi.h"
#include "hooks/http1.h"
#include "tests/fuzz/parse_checks.h"

#define FUZZ_NH 8
#define FUZZ_NAMES 256

#define CHECK(cond) PARSE_CHECK(cond) /* tests/fuzz/parse_checks.h */

static bool within(const char *p, size_t n, const char *buf, size_t len)
{
    return p >= buf && n <= len && (size_t)(p - buf) <= len - n;
}

static bool blank(char c)
{
    return c == ' ' || c == '\t';
}

/* A reference walk of the records in buf[from..len): the end of the
 * first record of type end_type (of empty content when empty), or 0
 * when there is none whole before the bytes end or a whole record
 * header's version is not 1 (*bad then; *tail_bad: the bytes end inside
 * a header whose version byte is not 1). */
static size_t records_end(const char *buf, size_t len, size_t from, unsigned end_type, bool empty,
                          bool *bad, bool *tail_bad)
{
    const unsigned char *p = (const unsigned char *)buf;
    size_t off = from;
    *bad = false;
    *tail_bad = false;
    while (len - off >= TS_FCGI_HEADER_LEN) {
        if (p[off] != TS_FCGI_VERSION) {
            *bad = true;
            return 0;
        }
        size_t content = (size_t)(p[off + 4] << 8 | p[off + 5]);
        size_t extent = TS_FCGI_HEADER_LEN + content + p[off + 6];
        if (len - off < extent)
            return 0;
        off += extent;
        if (p[off - extent + 1] == end_type && (!empty || content == 0))
            return off;
    }
    *tail_bad = len > off && p[off] != TS_FCGI_VERSION; /* a header cut short */
    return 0;
}

/* The walk of body over buf[hlen..len) ends where the reference walk
 * does: at end (0: not within len), or fails on a bad version. */
static void check_walk_end(const struct ts_http_body *body, const char *buf, size_t len,
                           size_t hlen, size_t end, bool bad, bool tail_bad)
{
    struct ts_http_body b = *body;
    bool done = false;
    ssize_t k = ts_http_body_feed(&b, buf + hlen, len - hlen, &done);
    if (end) {
        CHECK(k >= 0 && done && hlen + (size_t)k == end);
    } else if (bad) {
        CHECK(k == -1);
    } else if (tail_bad) {
        /* a header cut short whose version byte is wrong: refused now or
         * once it is whole */
        CHECK((k == (ssize_t)(len - hlen) && !done) || k == -1);
    } else {
        CHECK(k == (ssize_t)(len - hlen) && !done);
    }
}

static int parse_req(const char *buf, size_t len, struct ts_fcgi_request *req,
                     struct ts_http_header *h, size_t cap, char *names)
{
    memset(req, 0, sizeof *req);
    req->http.headers = h;
    req->http.num_headers = cap;
    return ts_fcgi_parse_request(buf, len, req, names, FUZZ_NAMES);
}

static int parse_req_n(const char *buf, size_t len)
{
    struct ts_http_header h[FUZZ_NH];
    struct ts_fcgi_request req;
    char names[FUZZ_NAMES];
    return parse_req(buf, len, &req, h, FUZZ_NH, names);
}

static int parse_res_n(const char *buf, size_t len)
{
    int status;
    struct ts_http_body rest;
    return ts_fcgi_parse_response(buf, len, &status, &rest);
}

/* A parsed request's fields: in the head, or the static "/"; names in the
 * names buffer, as RFC 3875 maps them back; values trimmed. */
static void check_request_fields(const struct ts_fcgi_request *req, const char *buf, size_t hlen,
                                 const char *names, size_t cap)
{
    const struct ts_http_request *http = &req->http;
    /* the head ends with the empty PARAMS record, its padding included */
    CHECK(req->params_end + TS_FCGI_HEADER_LEN <= hlen);
    CHECK(hlen == req->params_end + TS_FCGI_HEADER_LEN + (unsigned char)buf[req->params_end + 6]);
    CHECK(req->request_id != 0);
    CHECK(http->num_headers <= cap);
    CHECK(http->method_len > 0 && within(http->method, http->method_len, buf, hlen));
    CHECK(within(http->target, http->target_len, buf, hlen) ||
          (http->target_len == 1 && http->target[0] == '/'));
    CHECK(http->minor_version >= -1 && http->minor_version <= 1);
    CHECK(http->noted.headers == NULL);
    CHECK(req->remote_addr ? within(req->remote_addr, req->remote_addr_len, buf, hlen)
                           : req->remote_addr_len == 0);
    CHECK(req->remote_port ? within(req->remote_port, req->remote_port_len, buf, hlen)
                           : req->remote_port_len == 0);
    CHECK(req->server_port ? within(req->server_port, req->server_port_len, buf, hlen)
                           : req->server_port_len == 0);
    for (size_t i = 0; i < http->num_headers; i++) {
        const struct ts_http_header *h = &http->headers[i];
        CHECK(within(h->name, h->name_len, names, FUZZ_NAMES));
        CHECK(h->value_len == 0 || within(h->value, h->value_len, buf, hlen));
        for (size_t k = 0; k < h->name_len; k++)
            CHECK(!(h->name[k] >= 'A' && h->name[k] <= 'Z') && h->name[k] != '_');
        if (h->value_len)
            CHECK(!blank(h->value[0]) && !blank(h->value[h->value_len - 1]));
    }
}

/* Lines "name: value\r\n" made of the input's bytes: names of letters of
 * either case, digits and '-', values of printable ASCII and blanks. */
struct lines {
    char text[1024];
    size_t len;
    size_t count;
    char name[FUZZ_NH][16];
    size_t name_len[FUZZ_NH];
    char value[FUZZ_NH][64];
    size_t value_len[FUZZ_NH];
};

static void make_lines(struct lines *l, const uint8_t *d, size_t n)
{
    static const char name_chars[] =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-";
    memset(l, 0, sizeof *l);
    size_t i = 0;
    while (l->count < FUZZ_NH && i + 2 <= n) {
        size_t k = l->count;
        size_t nl = (size_t)(d[i] % 15) + 1, vl = (size_t)(d[i + 1] % 63);
        bool lf = d[i + 1] & 0x80;
        i += 2;
        if (i + nl + vl > n)
            break;
        for (size_t j = 0; j < nl; j++)
            l->name[k][j] = name_chars[d[i + j] % (sizeof name_chars - 1)];
        l->name_len[k] = nl;
        i += nl;
        for (size_t j = 0; j < vl; j++)
            l->value[k][j] =
                d[i + j] % 7 == 0 ? (d[i + j] & 8 ? '\t' : ' ') : (char)(0x21 + d[i + j] % 94);
        l->value_len[k] = vl;
        i += vl;
        char *t = l->text + l->len;
        memcpy(t, l->name[k], nl);
        t[nl] = ':';
        t[nl + 1] = ' ';
        memcpy(t + nl + 2, l->value[k], vl);
        size_t at = nl + 2 + vl;
        if (!lf)
            t[at++] = '\r';
        t[at++] = '\n';
        l->len += at;
        l->count++;
    }
}

/* Big-endian 16 bits. */
static void put16(char *p, unsigned v)
{
    p[0] = (char)(v >> 8);
    p[1] = (char)v;
}

/* The lines' record, inserted in a head of request id id before its
 * empty PARAMS record: read back as the same headers. */
static void check_params_round_trip(const struct lines *l, uint16_t id)
{
    static char rec[TS_FCGI_PARAMS_RECORD_MAX(sizeof l->text)];
    size_t rn = ts_fcgi_params_record(id, l->text, l->len, rec, sizeof rec);
    if (l->count == 0)
        return;
    CHECK(rn > 0 && rn % 8 == 0 && rn <= TS_FCGI_PARAMS_RECORD_MAX(l->len));
    static char head[sizeof rec + 64];
    /* BEGIN_REQUEST, PARAMS with REQUEST_METHOD GET, the record, the end */
    static const char begin[16] = {1, 1, 0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0};
    memcpy(head, begin, 16);
    put16(head + 2, id);
    static const char params[8 + 24] = {1,   4,   0,   0,   0,   19,  5,   0,   14,
                                        3,   'R', 'E', 'Q', 'U', 'E', 'S', 'T', '_',
                                        'M', 'E', 'T', 'H', 'O', 'D', 'G', 'E', 'T'};
    memcpy(head + 16, params, sizeof params);
    put16(head + 16 + 2, id);
    size_t n = 16 + sizeof params;
    memcpy(head + n, rec, rn);
    n += rn;
    static const char end[8] = {1, 4, 0, 0, 0, 0, 0, 0};
    memcpy(head + n, end, 8);
    put16(head + n + 2, id);
    n += 8;
    struct ts_http_header h[FUZZ_NH];
    struct ts_fcgi_request req;
    char names[FUZZ_NAMES];
    int r = parse_req(head, n, &req, h, FUZZ_NH, names);
    CHECK(r == (int)n);
    CHECK(req.request_id == id);
    CHECK(req.http.num_headers == l->count);
    for (size_t k = 0; k < l->count; k++) {
        CHECK(h[k].name_len == l->name_len[k]);
        for (size_t j = 0; j < h[k].name_len; j++) {
            char c = l->name[k][j];
            CHECK(h[k].name[j] == (c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c));
        }
        const char *v = l->value[k];
        size_t vl = l->value_len[k];
        while (vl && blank(v[0])) {
            v++;
            vl--;
        }
        while (vl && blank(v[vl - 1]))
            vl--;
        CHECK(h[k].value_len == vl && (vl == 0 || memcmp(h[k].value, v, vl) == 0));
    }
}

/* The raw bytes as lines: no record, or one whose pairs fill its content
 * exactly, each an HTTP_ variable, padded with zeros, within cap. */
static void check_params_raw(const char *buf, size_t len, size_t cap, uint16_t id)
{
    static char out[TS_FCGI_PARAMS_RECORD_MAX(4096)];
    if (len > 4096)
        len = 4096;
    if (cap > sizeof out)
        cap = sizeof out;
    size_t rn = ts_fcgi_params_record(id, buf, len, out, cap);
    CHECK(rn <= cap && rn % 8 == 0);
    if (rn == 0)
        return;
    const unsigned char *o = (const unsigned char *)out;
    CHECK(o[0] == TS_FCGI_VERSION && o[1] == TS_FCGI_PARAMS);
    CHECK((unsigned)(o[2] << 8 | o[3]) == id);
    size_t content = (size_t)(o[4] << 8 | o[5]), pad = o[6];
    /* never an empty record: it would end the PARAMS stream */
    CHECK(content > 0 && 8 + content + pad == rn);
    for (size_t i = 0; i < pad; i++)
        CHECK(o[8 + content + i] == 0);
    const unsigned char *p = o + 8, *end = o + 8 + content;
    while (p < end) {
        size_t l[2];
        for (int j = 0; j < 2; j++) {
            CHECK(p < end);
            if (*p & 0x80) {
                CHECK(end - p >= 4);
                l[j] = (size_t)(p[0] & 0x7f) << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
                p += 4;
            } else {
                l[j] = *p++;
            }
        }
        CHECK(l[0] > 5 && l[0] <= (size_t)(end - p) && l[1] <= (size_t)(end - p) - l[0]);
        CHECK(memcmp(p, "HTTP_", 5) == 0);
        p += l[0] + l[1];
    }
    CHECK(p == end);
}

static void fuzz_request(const char *buf, size_t len, size_t piece)
{
    struct ts_http_header h[FUZZ_NH];
    struct ts_fcgi_request req;
    char names[FUZZ_NAMES];
    int r = parse_req(buf, len, &req, h, FUZZ_NH, names);
    CHECK(r == TS_HTTP_ERROR || r == TS_HTTP_INCOMPLETE || (r > 0 && (size_t)r <= len));
    check_prefixes(parse_req_n, buf, len, r, piece * 7919 + len / 3);

    bool looks = ts_fcgi_looks_like_request(buf, len);
    if (len)
        CHECK(!looks || ts_fcgi_looks_like_request(buf, piece % len));
    if (r == TS_HTTP_INCOMPLETE && len <= 16)
        CHECK(looks);
    if (r <= 0)
        return;
    size_t hlen = (size_t)r;
    CHECK(ts_fcgi_looks_like_request(buf, 16));
    check_request_fields(&req, buf, hlen, names, FUZZ_NH);

    struct ts_http_body body;
    memset(&body, 0xa5, sizeof body);
    ts_fcgi_request_body(&body);
    CHECK(body.kind == TS_BODY_FCGI);
    check_body(&body, buf + hlen, len - hlen, piece);
    bool bad, tail_bad;
    size_t end = records_end(buf, len, hlen, TS_FCGI_STDIN, true, &bad, &tail_bad);
    check_walk_end(&body, buf, len, hlen, end, bad, tail_bad);
}

static void fuzz_response(const char *buf, size_t len, size_t piece)
{
    int status = -7;
    struct ts_http_body rest;
    int r = ts_fcgi_parse_response(buf, len, &status, &rest);
    CHECK(r == TS_HTTP_ERROR || r == TS_HTTP_INCOMPLETE || (r > 0 && (size_t)r <= len));
    check_prefixes(parse_res_n, buf, len, r, piece * 104729 + len / 2);
    if (r <= 0)
        return;
    size_t hlen = (size_t)r;
    CHECK(hlen >= TS_FCGI_HEADER_LEN);
    if (status == 0) {
        /* a record before any output, returned on its own: empty STDOUT
         * records, then its header; its content and padding the rest */
        size_t at = 0;
        while (at + TS_FCGI_HEADER_LEN < hlen) {
            CHECK((unsigned char)buf[at + 1] == TS_FCGI_STDOUT && buf[at + 4] == 0 &&
                  buf[at + 5] == 0);
            at += TS_FCGI_HEADER_LEN + (unsigned char)buf[at + 6];
        }
        CHECK(at + TS_FCGI_HEADER_LEN == hlen);
        unsigned type = (unsigned char)buf[at + 1];
        size_t part = (size_t)((unsigned char)buf[at + 4] << 8 | (unsigned char)buf[at + 5]) +
                      (unsigned char)buf[at + 6];
        CHECK(type != TS_FCGI_STDOUT && type != TS_FCGI_END_REQUEST);
        if (part == 0) {
            CHECK(rest.kind == TS_BODY_NONE);
        } else {
            CHECK(ts_fcgi_body_is_record_alone(&rest) && rest.fcgi.left == part);
            check_body(&rest, buf + hlen, len - hlen, piece);
            /* it ends exactly at the record's end */
            struct ts_http_body walk = rest;
            bool done = false;
            ssize_t k = ts_http_body_feed(&walk, buf + hlen, len - hlen, &done);
            CHECK(k == (ssize_t)(len - hlen < part ? len - hlen : part));
            CHECK(done == (len - hlen >= part));
        }
        return;
    }
    CHECK(status >= 100 && status <= 999);
    CHECK(rest.kind == TS_BODY_FCGI || rest.kind == TS_BODY_NONE);
    check_body(&rest, buf + hlen, len - hlen, piece);
    /* the stream ends with its END_REQUEST record: a head that ended
     * before it is followed to it, else the head ended there */
    bool bad, tail_bad;
    size_t end = records_end(buf, len, 0, TS_FCGI_END_REQUEST, false, &bad, &tail_bad);
    if (rest.kind == TS_BODY_NONE)
        CHECK(end == hlen);
    else
        check_walk_end(&rest, buf, len, hlen, end, bad, tail_bad);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    size_t n = size, cut = size;
    if (size >= 2) {
        n = size - 2;
        cut = (size_t)(data[size - 2] << 8 | data[size - 1]) % (n + 1);
    }
    size_t piece = size % 17 + 1;
    fuzz_request(buf, cut, piece);
    fuzz_response(buf + cut, n - cut, piece);
    if (size < 2) {
        fuzz_response(buf, size, piece);
    }

    struct lines l;
    make_lines(&l, data, n);
    uint16_t id = (uint16_t)(size ? data[0] + 1 : 1);
    check_params_round_trip(&l, id);
    check_params_raw(buf, n, size > 0 ? (size_t)data[0] * 4 : 0, id);
    check_params_raw(buf, n, TS_FCGI_PARAMS_RECORD_MAX(n), id);
    return 0;
}
