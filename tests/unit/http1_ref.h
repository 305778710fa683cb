/* http1_ref.h — the HTTP/1.x head parsers as they were before the parser
 * took the usual header line a block at a time (hooks/http1.c at commit
 * bd36179, their notes then only Content-Length and Transfer-Encoding),
 * frozen here so that tests can hold today's parsers to them: the same
 * result, fields, headers and notes for every input (test_http1.c's
 * differential test, tests/fuzz/fuzz_http1.c). Not to be edited with
 * http1.c: it is the reference. */
#ifndef TS_HTTP1_REF_H
#define TS_HTTP1_REF_H

#include <limits.h>
#include <stdbool.h>
#include <string.h>

#include "hooks/http1.h"
#include "hooks/http1_scan.h"

#define REF_HTTP_OK 0

/* ---------------------------------------------------------- characters */

static inline bool ref_http_is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static inline bool ref_http_is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* What each byte may be in a head, one table lookup per byte (the head
 * parsers see every byte of every request and response):
 *   REF_HTTP_TCHAR  RFC 9110 tchar, the characters of methods and header names
 *   REF_HTTP_VALUE  allowed in a field value: visible ASCII, space, tab and
 *                  obs-text (>= 0x80); not the other controls, not DEL */
#define REF_HTTP_TCHAR 1
#define REF_HTTP_VALUE 2
static const unsigned char ref_http_byte_class[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, /* 00 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 10 */
    2, 3, 2, 3, 3, 3, 3, 3, 2, 2, 3, 3, 2, 3, 3, 2, /* 20 */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, /* 30 */
    2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* 40 */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 3, 3, /* 50 */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* 60 */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2, 3, 2, 3, 0, /* 70 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 80 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 90 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* a0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* b0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* c0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* d0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* e0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* f0 */
};

static inline bool ref_http_is_tchar(unsigned char c)
{
    return ref_http_byte_class[c] & REF_HTTP_TCHAR;
}

/* Control characters (C0 and DEL); obs-text (>= 0x80) is not one. */
static inline bool ref_http_is_ctl(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

/* The first byte from p that cannot be in a field value or a reason
 * phrase (a control character other than tab, or DEL), or end. Tabs are
 * rare, so the bulk scan stops at each and steps over it. */
static inline const char *ref_http_value_end(const char *p, const char *end)
{
    for (;;) {
        p = ts_http_scan_plain(p, end, 0x20);
        if (end - p < 8)
            break; /* too few bytes left for a block: p may still be plain */
        if (*p != '\t')
            return p;
        p++;
    }
    while (p < end && (ref_http_byte_class[(unsigned char)*p] & REF_HTTP_VALUE))
        p++;
    return p;
}

/* ------------------------------------------------------- head elements */

/* Match a literal byte by byte, so that a prefix of it is INCOMPLETE and a
 * wrong byte is ERROR at once. */
static int ref_http_expect(const char **pp, const char *end, const char *lit)
{
    const char *p = *pp;
    for (; *lit; lit++, p++) {
        if (p == end)
            return TS_HTTP_INCOMPLETE;
        if (*p != *lit)
            return TS_HTTP_ERROR;
    }
    *pp = p;
    return REF_HTTP_OK;
}

/* A line end: CRLF or bare LF. A CR must be followed by LF. */
static int ref_http_eol(const char **pp, const char *end)
{
    const char *p = *pp;
    if (p == end)
        return TS_HTTP_INCOMPLETE;
    if (*p == '\n') {
        *pp = p + 1;
        return REF_HTTP_OK;
    }
    if (*p != '\r')
        return TS_HTTP_ERROR;
    if (p + 1 == end)
        return TS_HTTP_INCOMPLETE;
    if (p[1] != '\n')
        return TS_HTTP_ERROR;
    *pp = p + 2;
    return REF_HTTP_OK;
}

/* Skip empty lines before a start line (RFC 9112 2.2 asks a recipient to
 * tolerate at least one, e.g. a CRLF a client sent after a body). */
static int ref_http_skip_empty_lines(const char **pp, const char *end)
{
    while (*pp < end && (**pp == '\r' || **pp == '\n')) {
        int r = ref_http_eol(pp, end);
        if (r != REF_HTTP_OK)
            return r;
    }
    return REF_HTTP_OK;
}

/* "HTTP/1." DIGIT; stores the minor version. */
static int ref_http_version(const char **pp, const char *end, int *minor)
{
    if (end - *pp >= 7 && memcmp(*pp, "HTTP/1.", 7) == 0) {
        *pp += 7; /* the usual case, at once */
    } else {
        int r = ref_http_expect(pp, end, "HTTP/1.");
        if (r != REF_HTTP_OK)
            return r;
    }
    if (*pp == end)
        return TS_HTTP_INCOMPLETE;
    if (!ref_http_is_digit((unsigned char)**pp))
        return TS_HTTP_ERROR;
    *minor = **pp - '0';
    (*pp)++;
    return REF_HTTP_OK;
}

/* Note a header whose name has the length of Content-Length or of
 * Transfer-Encoding (see struct ts_http_noted): the length first, so that
 * the other headers cost a comparison or two. */
static inline void ref_http_note(struct ts_http_noted *nt, const char *name, size_t name_len,
                                 size_t i)
{
    if (name_len == sizeof "content-length" - 1) {
        if (ts_ascii_eq_lower_n(name, "content-length", sizeof "content-length" - 1)) {
            if (nt->cl_count++ == 0)
                nt->cl_first = i;
        }
    } else if (name_len == sizeof "transfer-encoding" - 1) {
        if (ts_ascii_eq_lower_n(name, "transfer-encoding", sizeof "transfer-encoding" - 1)) {
            if (nt->te_count++ == 0)
                nt->te_first = i;
        }
    }
}

/* Header lines up to and including the blank line that ends the head.
 * The notes go to *noted with the count. */
static int ref_http_headers(const char **pp, const char *end, struct ts_http_header *headers,
                            size_t cap, size_t *count, struct ts_http_noted *noted)
{
    const char *p = *pp;
    size_t n = 0;
    struct ts_http_noted nt = {0};
    for (;;) {
        if (p == end)
            return TS_HTTP_INCOMPLETE;
        /* CR and LF are the only bytes up to CR that may start a line; the
         * others fail below as a name that is not one. */
        if ((unsigned char)*p <= '\r' && (*p == '\r' || *p == '\n')) {
            int r = ref_http_eol(&p, end);
            if (r != REF_HTTP_OK)
                return r;
            break;
        }
        if (n == cap)
            return TS_HTTP_ERROR; /* more headers than the caller can hold */

        /* field-name ":" — no blank before the colon (RFC 9112 5.1); an
         * obs-fold line starting with a blank lands here too. The scan
         * stops at the colon unless the name has a rarer tchar. */
        const char *name = p;
        p = ts_http_scan_name(p, end);
        if (p == end || *p != ':') {
            while (p < end && ref_http_is_tchar((unsigned char)*p))
                p++;
            if (p == end)
                return TS_HTTP_INCOMPLETE;
            if (*p != ':')
                return TS_HTTP_ERROR;
        }
        if (p == name)
            return TS_HTTP_ERROR;
        size_t name_len = (size_t)(p - name);
        p++;

        /* OWS field-value OWS line-end; nearly every value follows one
         * space, and a byte above it ends the blanks at once. */
        if (end - p >= 2 && p[0] == ' ' && (unsigned char)p[1] > ' ') {
            p++;
        } else {
            while (p < end && (*p == ' ' || *p == '\t'))
                p++;
        }
        const char *value = p;
        p = ref_http_value_end(p, end);
        if (p == end)
            return TS_HTTP_INCOMPLETE;
        /* value ends just past its last non-blank byte: the only bytes up
         * to a space a value holds are the blanks (space, tab) */
        const char *value_end = p;
        while (value_end > value && (unsigned char)value_end[-1] <= ' ')
            value_end--;
        if (*p == '\n') {
            p++;
        } else if (*p != '\r') {
            return TS_HTTP_ERROR; /* a control character inside the value */
        } else if (p + 1 == end) {
            return TS_HTTP_INCOMPLETE;
        } else if (p[1] != '\n') {
            return TS_HTTP_ERROR;
        } else {
            p += 2;
        }
        headers[n].name = name;
        headers[n].name_len = name_len;
        headers[n].value = value;
        headers[n].value_len = (size_t)(value_end - value);
        ref_http_note(&nt, name, name_len, n);
        n++;
    }
    nt.headers = headers;
    nt.count = n;
    if (!nt.cl_count)
        nt.cl_first = n;
    if (!nt.te_count)
        nt.te_first = n;
    *noted = nt;
    *count = n;
    *pp = p;
    return REF_HTTP_OK;
}

/* Heads longer than INT_MAX cannot be reported: clamp the input and turn a
 * head still incomplete at the clamp into an error. */
static size_t ref_http_clamp(size_t len)
{
    return len > (size_t)INT_MAX ? (size_t)INT_MAX : len;
}

/* A parse step's result as the public result: the head's length on success. */
static int ref_http_finish(int r, size_t len, const char *start, const char *p)
{
    if (r == REF_HTTP_OK)
        return (int)(p - start);
    if (r == TS_HTTP_INCOMPLETE && len > (size_t)INT_MAX)
        return TS_HTTP_ERROR;
    return r;
}

/* Request line and headers; outputs are written only on success. */
static int ref_http_request_head(const char **pp, const char *end, struct ts_http_request *req)
{
    const char *p = *pp;
    int r = ref_http_skip_empty_lines(&p, end);
    if (r != REF_HTTP_OK)
        return r;

    const char *method = p;
    while (p < end && ref_http_is_tchar((unsigned char)*p))
        p++;
    if (p == end)
        return TS_HTTP_INCOMPLETE;
    if (*p != ' ' || p == method)
        return TS_HTTP_ERROR;
    size_t method_len = (size_t)(p - method);
    p++;

    const char *target = p;
    p = ts_http_scan_plain(p, end, 0x21); /* up to a blank or a control character */
    while (p < end && *p != ' ' && !ref_http_is_ctl((unsigned char)*p))
        p++;
    if (p == end)
        return TS_HTTP_INCOMPLETE;
    if (*p != ' ' || p == target)
        return TS_HTTP_ERROR;
    size_t target_len = (size_t)(p - target);
    p++;

    int minor = 0;
    if ((r = ref_http_version(&p, end, &minor)) != REF_HTTP_OK)
        return r;
    if ((r = ref_http_eol(&p, end)) != REF_HTTP_OK)
        return r;
    size_t count = 0;
    struct ts_http_noted noted;
    if ((r = ref_http_headers(&p, end, req->headers, req->num_headers, &count, &noted)) !=
        REF_HTTP_OK)
        return r;

    req->method = method;
    req->method_len = method_len;
    req->target = target;
    req->target_len = target_len;
    req->minor_version = minor;
    req->num_headers = count;
    req->noted = noted;
    *pp = p;
    return REF_HTTP_OK;
}

static int ref_http_parse_request(const char *buf, size_t len, struct ts_http_request *req)
{
    if (len == 0)
        return TS_HTTP_INCOMPLETE; /* buf may be NULL */
    size_t n = ref_http_clamp(len);
    const char *p = buf;
    int r = ref_http_request_head(&p, buf + n, req);
    return ref_http_finish(r, len, buf, p);
}

/* Status line ("HTTP/1.d SP ddd [SP reason] EOL") and headers. */
static int ref_http_response_head(const char **pp, const char *end, struct ts_http_response *res)
{
    const char *p = *pp;
    int r = ref_http_skip_empty_lines(&p, end);
    if (r != REF_HTTP_OK)
        return r;

    int minor = 0;
    if ((r = ref_http_version(&p, end, &minor)) != REF_HTTP_OK)
        return r;
    if ((r = ref_http_expect(&p, end, " ")) != REF_HTTP_OK)
        return r;

    int status = 0;
    for (int i = 0; i < 3; i++, p++) {
        if (p == end)
            return TS_HTTP_INCOMPLETE;
        unsigned char c = (unsigned char)*p;
        if (!ref_http_is_digit(c) || (i == 0 && c == '0'))
            return TS_HTTP_ERROR; /* three digits, 100..999 */
        status = status * 10 + (c - '0');
    }

    /* Optional SP reason-phrase: HTAB, SP, VCHAR, obs-text. */
    if (p == end)
        return TS_HTTP_INCOMPLETE;
    const char *reason = p;
    if (*p == ' ') {
        reason = ++p;
        p = ref_http_value_end(p, end);
        if (p < end && *p != '\r' && *p != '\n')
            return TS_HTTP_ERROR; /* a control character inside the reason */
    }
    size_t reason_len = (size_t)(p - reason);
    if ((r = ref_http_eol(&p, end)) != REF_HTTP_OK)
        return r;
    size_t count = 0;
    struct ts_http_noted noted;
    if ((r = ref_http_headers(&p, end, res->headers, res->num_headers, &count, &noted)) !=
        REF_HTTP_OK)
        return r;

    res->minor_version = minor;
    res->status = status;
    res->reason = reason;
    res->reason_len = reason_len;
    res->num_headers = count;
    res->noted = noted;
    *pp = p;
    return REF_HTTP_OK;
}

static int ref_http_parse_response(const char *buf, size_t len, struct ts_http_response *res)
{
    if (len == 0)
        return TS_HTTP_INCOMPLETE; /* buf may be NULL */
    size_t n = ref_http_clamp(len);
    const char *p = buf;
    int r = ref_http_response_head(&p, buf + n, res);
    return ref_http_finish(r, len, buf, p);
}

#endif
