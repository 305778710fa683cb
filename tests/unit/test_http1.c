/* test_http1.c — unit tests of the HTTP/1.x parser and body framing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "hooks/http1.h"
#include "http1_ref.h"

#define MAX_H 16

/* Parse a request from a heap copy of exactly len bytes, so that ASan
 * catches any read past the end. */
static int parse_req_exact(const char *s, size_t len, struct ts_http_request *req,
                           struct ts_http_header *h, size_t cap, char **copy)
{
    char *buf = malloc(len ? len : 1);
    assert_non_null(buf);
    memcpy(buf, s, len);
    memset(req, 0, sizeof *req);
    req->headers = h;
    req->num_headers = cap;
    int r = ts_http_parse_request(buf, len, req);
    if (copy)
        *copy = buf;
    else
        free(buf);
    return r;
}

static int parse_res_exact(const char *s, size_t len, struct ts_http_response *res,
                           struct ts_http_header *h, size_t cap, char **copy)
{
    char *buf = malloc(len ? len : 1);
    assert_non_null(buf);
    memcpy(buf, s, len);
    memset(res, 0, sizeof *res);
    res->headers = h;
    res->num_headers = cap;
    int r = ts_http_parse_response(buf, len, res);
    if (copy)
        *copy = buf;
    else
        free(buf);
    return r;
}

static int req_status(const char *s, size_t len)
{
    struct ts_http_header h[MAX_H];
    struct ts_http_request req;
    return parse_req_exact(s, len, &req, h, MAX_H, NULL);
}

static int res_status(const char *s, size_t len)
{
    struct ts_http_header h[MAX_H];
    struct ts_http_response res;
    return parse_res_exact(s, len, &res, h, MAX_H, NULL);
}

static void assert_span(const char *p, size_t n, const char *want)
{
    assert_int_equal(n, strlen(want));
    assert_memory_equal(p, want, n);
}

/* ------------------------------------------------------------- heads */

static void test_request_basic(void **state)
{
    const char head[] = "GET /a/b?x=1 HTTP/1.1\r\n"
                        "Host: example.com\r\n"
                        "X-Pad: \t spaced  value \t \r\n"
                        "Empty:\r\n"
                        "Blank:   \r\n"
                        "Accept-Encoding:gzip\r\n"
                        "\r\n";
    const char body[] = "hello";
    char all[sizeof head + sizeof body];
    snprintf(all, sizeof all, "%s%s", head, body);
    struct ts_http_header h[MAX_H];
    struct ts_http_request req = {.headers = h, .num_headers = MAX_H};
    int r = ts_http_parse_request(all, strlen(all), &req);
    assert_int_equal(r, (int)strlen(head));
    assert_span(req.method, req.method_len, "GET");
    assert_span(req.target, req.target_len, "/a/b?x=1");
    assert_int_equal(req.minor_version, 1);
    assert_int_equal(req.num_headers, 5);
    assert_span(h[0].name, h[0].name_len, "Host");
    assert_span(h[0].value, h[0].value_len, "example.com");
    assert_span(h[1].name, h[1].name_len, "X-Pad");
    assert_span(h[1].value, h[1].value_len, "spaced  value");
    assert_span(h[2].name, h[2].name_len, "Empty");
    assert_int_equal(h[2].value_len, 0);
    assert_span(h[3].name, h[3].name_len, "Blank");
    assert_int_equal(h[3].value_len, 0);
    assert_span(h[4].name, h[4].name_len, "Accept-Encoding");
    assert_span(h[4].value, h[4].value_len, "gzip");
    /* zero-copy: fields point into the caller's buffer */
    assert_ptr_equal(req.method, all);
    assert_ptr_equal(req.target, all + 4);
}

static void test_request_lf_and_versions(void **state)
{
    const char head[] = "POST http://h:8/x HTTP/1.0\nContent-Length: 3\nX: y\n\nabc";
    struct ts_http_header h[MAX_H];
    struct ts_http_request req = {.headers = h, .num_headers = MAX_H};
    int r = ts_http_parse_request(head, strlen(head), &req);
    assert_int_equal(r, (int)strlen(head) - 3);
    assert_span(req.method, req.method_len, "POST");
    assert_span(req.target, req.target_len, "http://h:8/x");
    assert_int_equal(req.minor_version, 0);
    assert_int_equal(req.num_headers, 2);
    assert_span(h[0].value, h[0].value_len, "3");
    assert_span(h[1].name, h[1].name_len, "X");

    /* mixed line ends, no headers, obs-text in target and value */
    const char mixed[] = "OPTIONS * HTTP/1.1\r\nX: caf\xc3\xa9\n\r\n";
    req.num_headers = MAX_H;
    assert_int_equal(ts_http_parse_request(mixed, strlen(mixed), &req), (int)strlen(mixed));
    assert_span(req.target, req.target_len, "*");
    assert_span(h[0].value, h[0].value_len, "caf\xc3\xa9");

    /* CONNECT authority-form, and an empty line tolerated before the head */
    const char conn[] = "\r\nCONNECT example.com:443 HTTP/1.1\r\n\r\n";
    req.num_headers = MAX_H;
    assert_int_equal(ts_http_parse_request(conn, strlen(conn), &req), (int)strlen(conn));
    assert_span(req.method, req.method_len, "CONNECT");
    assert_span(req.target, req.target_len, "example.com:443");
    assert_int_equal(req.num_headers, 0);
}

static void test_response_basic(void **state)
{
    const char head[] = "HTTP/1.1 404 Not  Found\r\nContent-Length: 0\r\nServer:  x \r\n\r\n";
    struct ts_http_header h[MAX_H];
    struct ts_http_response res = {.headers = h, .num_headers = MAX_H};
    assert_int_equal(ts_http_parse_response(head, strlen(head), &res), (int)strlen(head));
    assert_int_equal(res.minor_version, 1);
    assert_int_equal(res.status, 404);
    assert_span(res.reason, res.reason_len, "Not  Found");
    assert_int_equal(res.num_headers, 2);
    assert_span(h[0].name, h[0].name_len, "Content-Length");
    assert_span(h[0].value, h[0].value_len, "0");
    assert_span(h[1].value, h[1].value_len, "x");

    const char noreason[] = "HTTP/1.0 204\n\nnext";
    res.num_headers = MAX_H;
    assert_int_equal(ts_http_parse_response(noreason, strlen(noreason), &res),
                     (int)strlen(noreason) - 4);
    assert_int_equal(res.minor_version, 0);
    assert_int_equal(res.status, 204);
    assert_int_equal(res.reason_len, 0);
    assert_int_equal(res.num_headers, 0);

    const char empty_reason[] = "HTTP/1.1 500 \r\n\r\n";
    res.num_headers = MAX_H;
    assert_int_equal(ts_http_parse_response(empty_reason, strlen(empty_reason), &res),
                     (int)strlen(empty_reason));
    assert_int_equal(res.status, 500);
    assert_int_equal(res.reason_len, 0);

    const char tab_reason[] = "HTTP/1.1 999 odd\treason\r\n\r\n";
    res.num_headers = MAX_H;
    assert_int_equal(ts_http_parse_response(tab_reason, strlen(tab_reason), &res),
                     (int)strlen(tab_reason));
    assert_int_equal(res.status, 999);
    assert_span(res.reason, res.reason_len, "odd\treason");
}

/* Complete heads used by the split tests. */
static const char *const split_requests[] = {
    "GET / HTTP/1.1\r\n\r\n",
    ("GET /a/b?x=1 HTTP/1.1\r\nHost: example.com\r\n"
     "User-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n"),
    "POST /submit HTTP/1.0\nContent-Length: 5\nX-Trim:  v \t\n\n",
    "PUT http://host:8080/p HTTP/1.1\r\nA:\r\nB: \t \r\nC:c\n\r\n",
    "\r\nDELETE /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
};

static const char *const split_responses[] = {
    "HTTP/1.1 200 OK\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\n",
    "HTTP/1.0 404\nServer: x\n\n",
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    "HTTP/1.1 301 \r\nLocation:/y\r\n\r\n",
};

/* Offsets of parsed fields relative to their buffer, to compare parses of
 * different copies of the same bytes. */
static void req_offsets(const char *buf, const struct ts_http_request *req, size_t *out)
{
    size_t k = 0;
    out[k++] = (size_t)(req->method - buf);
    out[k++] = req->method_len;
    out[k++] = (size_t)(req->target - buf);
    out[k++] = req->target_len;
    out[k++] = (size_t)req->minor_version;
    out[k++] = req->num_headers;
    for (size_t i = 0; i < req->num_headers; i++) {
        out[k++] = (size_t)(req->headers[i].name - buf);
        out[k++] = req->headers[i].name_len;
        out[k++] = (size_t)(req->headers[i].value - buf);
        out[k++] = req->headers[i].value_len;
    }
}

static void res_offsets(const char *buf, const struct ts_http_response *res, size_t *out)
{
    size_t k = 0;
    out[k++] = (size_t)res->status;
    out[k++] = (size_t)res->minor_version;
    out[k++] = (size_t)(res->reason - buf);
    out[k++] = res->reason_len;
    out[k++] = res->num_headers;
    for (size_t i = 0; i < res->num_headers; i++) {
        out[k++] = (size_t)(res->headers[i].name - buf);
        out[k++] = res->headers[i].name_len;
        out[k++] = (size_t)(res->headers[i].value - buf);
        out[k++] = res->headers[i].value_len;
    }
}

static void test_split_every_offset(void **state)
{
    for (size_t t = 0; t < sizeof split_requests / sizeof *split_requests; t++) {
        const char *s = split_requests[t];
        size_t n = strlen(s);
        struct ts_http_header h[MAX_H];
        struct ts_http_request req;
        char *whole;
        assert_int_equal(parse_req_exact(s, n, &req, h, MAX_H, &whole), (int)n);
        size_t want[6 + 4 * MAX_H] = {0};
        req_offsets(whole, &req, want);
        free(whole);
        for (size_t k = 0; k < n; k++)
            assert_int_equal(req_status(s, k), TS_HTTP_INCOMPLETE);
        /* the same head followed by more bytes: same length, same fields */
        char *longer = malloc(n + 8);
        assert_non_null(longer);
        memcpy(longer, s, n);
        memcpy(longer + n, "GET / HT", 8);
        struct ts_http_request req2;
        char *copy;
        assert_int_equal(parse_req_exact(longer, n + 8, &req2, h, MAX_H, &copy), (int)n);
        size_t got[6 + 4 * MAX_H] = {0};
        req_offsets(copy, &req2, got);
        assert_memory_equal(want, got, sizeof want);
        free(copy);
        free(longer);
    }
    for (size_t t = 0; t < sizeof split_responses / sizeof *split_responses; t++) {
        const char *s = split_responses[t];
        size_t n = strlen(s);
        struct ts_http_header h[MAX_H];
        struct ts_http_response res;
        char *whole;
        assert_int_equal(parse_res_exact(s, n, &res, h, MAX_H, &whole), (int)n);
        size_t want[5 + 4 * MAX_H] = {0};
        res_offsets(whole, &res, want);
        free(whole);
        for (size_t k = 0; k < n; k++)
            assert_int_equal(res_status(s, k), TS_HTTP_INCOMPLETE);
        char *longer = malloc(n + 4);
        assert_non_null(longer);
        memcpy(longer, s, n);
        memcpy(longer + n, "body", 4);
        struct ts_http_response res2;
        char *copy;
        assert_int_equal(parse_res_exact(longer, n + 4, &res2, h, MAX_H, &copy), (int)n);
        size_t got[5 + 4 * MAX_H] = {0};
        res_offsets(copy, &res2, got);
        assert_memory_equal(want, got, sizeof want);
        free(copy);
        free(longer);
    }
}

/* An invalid input and the length of its shortest prefix that is already
 * known to be invalid. */
struct bad_case {
    const char *s;
    size_t len;    /* 0: strlen(s) */
    size_t err_at; /* the prefix of this length must be ERROR, shorter ones INCOMPLETE */
};

static void check_bad(const struct bad_case *c, size_t n, bool request)
{
    for (size_t i = 0; i < n; i++) {
        size_t len = c[i].len ? c[i].len : strlen(c[i].s);
        int (*parse)(const char *, size_t) = request ? req_status : res_status;
        if (parse(c[i].s, len) != TS_HTTP_ERROR)
            fail_msg("case %zu (%s) not an error", i, c[i].s);
        for (size_t k = 0; k < c[i].err_at; k++) {
            if (parse(c[i].s, k) != TS_HTTP_INCOMPLETE)
                fail_msg("case %zu: prefix %zu not INCOMPLETE", i, k);
        }
        if (parse(c[i].s, c[i].err_at) != TS_HTTP_ERROR)
            fail_msg("case %zu: prefix %zu not yet ERROR", i, c[i].err_at);
    }
}

static void test_invalid_requests(void **state)
{
    static const struct bad_case bad[] = {
        {"\x16\x03\x01\x02\x00", 5, 1}, /* TLS ClientHello: first byte */
        {"*2\r\n$3\r\nGET\r\n", 0, 3},  /* redis RESP */
        {"\x00GET / HTTP/1.1\r\n\r\n", 19, 1},
        {" GET / HTTP/1.1\r\n\r\n", 0, 1}, /* empty method */
        {"G(T / HTTP/1.1\r\n\r\n", 0, 2},  /* non-token method char */
        {"GET\t/ HTTP/1.1\r\n\r\n", 0, 4},
        {"GET  / HTTP/1.1\r\n\r\n", 0, 5}, /* empty target */
        {"GET /a\x01 HTTP/1.1\r\n\r\n", 0, 7},
        {"GET /\r\n\r\n", 0, 6},                         /* missing version */
        {"GET / \r\n\r\n", 0, 7},                        /* missing version */
        {"GET / HTTP/2.0\r\n\r\n", 0, 12},               /* HTTP/2 */
        {"GET / HTTP/1.x\r\n\r\n", 0, 14},               /* version digit */
        {"GET / http/1.1\r\n\r\n", 0, 7},                /* case of HTTP */
        {"GET / HTTP/1.11\r\n\r\n", 0, 15},              /* junk after version */
        {"GET / HTTP/1.1\rX\n\r\n", 0, 16},              /* CR without LF */
        {"GET / HTTP/1.1\r\nHost : x\r\n\r\n", 0, 21},   /* space before colon */
        {"GET / HTTP/1.1\r\n: x\r\n\r\n", 0, 17},        /* empty name */
        {"GET / HTTP/1.1\r\nNo colon\r\n\r\n", 0, 19},   /* space in name */
        {"GET / HTTP/1.1\r\nA: x\r\n y\r\n\r\n", 0, 23}, /* obs-fold */
        {"GET / HTTP/1.1\r\nA: x\x01y\r\n\r\n", 0, 21},  /* control char */
        {"GET / HTTP/1.1\r\nA: x\x7fy\r\n\r\n", 0, 21},  /* DEL */
        {"GET / HTTP/1.1\r\nA: x\0y\r\n\r\n", 26, 21},   /* NUL in value */
        {"GET / HTTP/1.1\r\nA\0: x\r\n\r\n", 25, 18},    /* NUL in name */
        {"GET / HTTP/1.1\r\nA: x\ry\r\n\r\n", 0, 22},    /* bare CR in value */
        {"GET / HTTP/1.1\r\n\rX", 0, 18},                /* bad final line end */
        {"\r\r\nGET / HTTP/1.1\r\n\r\n", 0, 2},
    };
    check_bad(bad, sizeof bad / sizeof *bad, true);
}

/* Field values and request targets are skipped eight bytes at a time
 * while no byte in the word can end them: every byte value at every
 * position of a long value and a long target (across word boundaries, in
 * the tail after the last whole word) must be judged as byte by byte. */
static bool value_byte_ok(int b)
{
    return b == '\t' || (b >= 0x20 && b != 0x7f);
}

/* head = a + field + b (field may hold a NUL); returns the length. */
static size_t build(char *head, const char *a, const char *field, size_t flen, const char *b)
{
    size_t n = strlen(a);
    memcpy(head, a, n);
    memcpy(head + n, field, flen);
    memcpy(head + n + flen, b, strlen(b));
    return n + flen + strlen(b);
}

static void test_every_byte_in_long_fields(void **state)
{
    enum { FIELD = 29 }; /* three words and a tail, wherever it starts */
    char head[128];
    for (size_t at = 0; at < FIELD; at++) {
        for (int b = 0; b < 256; b++) {
            char field[FIELD];
            memset(field, 'v', FIELD);
            field[at] = (char)b;

            /* in a value (between two more bytes, so that no blank is trimmed) */
            size_t n = build(head, "GET / HTTP/1.1\r\nA: w", field, FIELD, "x\r\n\r\n");
            struct ts_http_header h[MAX_H];
            struct ts_http_request req;
            char *copy;
            int r = parse_req_exact(head, n, &req, h, MAX_H, &copy);
            if (value_byte_ok(b)) {
                if (r != (int)n)
                    fail_msg("value byte %#x at %zu: %d", b, at, r);
                assert_int_equal(req.num_headers, 1);
                assert_int_equal(h[0].value_len, FIELD + 2);
                assert_memory_equal(h[0].value + 1, field, FIELD);
            } else if (r != TS_HTTP_ERROR) {
                fail_msg("value byte %#x at %zu: %d, not ERROR", b, at, r);
            }
            free(copy);

            /* in a request target */
            n = build(head, "GET /", field, FIELD, " HTTP/1.1\r\n\r\n");
            r = parse_req_exact(head, n, &req, h, MAX_H, &copy);
            if (b > 0x20 && b != 0x7f) {
                if (r != (int)n)
                    fail_msg("target byte %#x at %zu: %d", b, at, r);
                assert_int_equal(req.target_len, FIELD + 1);
                assert_memory_equal(req.target + 1, field, FIELD);
            } else if (r != TS_HTTP_ERROR) {
                fail_msg("target byte %#x at %zu: %d, not ERROR", b, at, r);
            }
            free(copy);
        }
    }
}

/* Header names are skipped eight bytes at a time while they are letters,
 * digits and '-': every byte value at every position of a long name,
 * against RFC 9110's tchar rule. */
static bool tchar(int b)
{
    return (b >= '0' && b <= '9') || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') ||
           (b && strchr("!#$%&'*+-.^_`|~", b));
}

static void test_every_byte_in_long_names(void **state)
{
    enum { FIELD = 29 };
    char head[128];
    for (size_t at = 0; at < FIELD; at++) {
        for (int b = 0; b < 256; b++) {
            char field[FIELD];
            memset(field, 'n', FIELD);
            field[at] = (char)b;
            size_t n = build(head, "GET / HTTP/1.1\r\nN", field, FIELD, "N: v\r\n\r\n");
            struct ts_http_header h[MAX_H];
            struct ts_http_request req;
            char *copy;
            int r = parse_req_exact(head, n, &req, h, MAX_H, &copy);
            if (tchar(b)) {
                if (r != (int)n)
                    fail_msg("name byte %#x at %zu: %d", b, at, r);
                assert_int_equal(h[0].name_len, FIELD + 2);
                assert_memory_equal(h[0].name + 1, field, FIELD);
                assert_int_equal(h[0].value_len, 1);
            } else if (b == ':') { /* the name ends there; the rest is the value */
                assert_int_equal(r, (int)n);
                assert_int_equal(h[0].name_len, at + 1);
            } else if (r != TS_HTTP_ERROR) {
                fail_msg("name byte %#x at %zu: %d, not ERROR", b, at, r);
            }
            free(copy);
        }
    }
}

/* Names, values and reason phrases of every length from 0 to 17 (none,
 * part of a block, one word and more, the byte loop's tail alone), with
 * every byte value at every position, in requests and responses: a name
 * takes tchars and ends at ':', a value or reason takes anything but the
 * controls other than tab and DEL. CR and LF end lines, so they are left
 * to the line tests. */
static void test_every_byte_in_short_fields(void **state)
{
    char head[128];
    for (size_t len = 1; len <= 17; len++) {
        for (size_t at = 0; at < len; at++) {
            for (int b = 0; b < 256; b++) {
                if (b == '\r' || b == '\n')
                    continue;
                char field[17];
                memset(field, 'f', len);
                field[at] = (char)b;
                struct ts_http_header h[MAX_H];
                struct ts_http_request req;
                struct ts_http_response res;
                char *copy;

                size_t n = build(head, "GET / HTTP/1.1\r\n", field, len, ": v\r\n\r\n");
                int r = parse_req_exact(head, n, &req, h, MAX_H, &copy);
                if (tchar(b)) {
                    if (r != (int)n || h[0].name_len != len)
                        fail_msg("name byte %#x at %zu of %zu: %d", b, at, len, r);
                } else if (b == ':' && at > 0) {
                    assert_int_equal(r, (int)n);
                    assert_int_equal(h[0].name_len, at);
                } else if (r != TS_HTTP_ERROR) {
                    fail_msg("name byte %#x at %zu of %zu: %d, not ERROR", b, at, len, r);
                }
                free(copy);

                bool ok = value_byte_ok(b);
                n = build(head, "GET / HTTP/1.1\r\nA:<", field, len, ">\r\n\r\n");
                r = parse_req_exact(head, n, &req, h, MAX_H, &copy);
                if (ok != (r == (int)n) || (!ok && r != TS_HTTP_ERROR))
                    fail_msg("value byte %#x at %zu of %zu: %d", b, at, len, r);
                if (ok)
                    assert_int_equal(h[0].value_len, len + 2);
                free(copy);

                n = build(head, "HTTP/1.1 200 ", field, len, "\r\nA: b\r\n\r\n");
                r = parse_res_exact(head, n, &res, h, MAX_H, &copy);
                if (ok != (r == (int)n) || (!ok && r != TS_HTTP_ERROR))
                    fail_msg("reason byte %#x at %zu of %zu: %d", b, at, len, r);
                if (ok) {
                    assert_int_equal(res.reason_len, len);
                    assert_memory_equal(res.reason, field, len);
                }
                /* every prefix of it waits for more, up to the bad byte */
                for (size_t k = 0; k < n; k++) {
                    int want = (!ok && k > 13 + at) ? TS_HTTP_ERROR : TS_HTTP_INCOMPLETE;
                    if (res_status(head, k) != want)
                        fail_msg("reason byte %#x at %zu of %zu, prefix %zu", b, at, len, k);
                }
                free(copy);
            }
        }
    }
}

/* Tabs inside a long value stop the word-at-a-time skip and are part of
 * the value; the skip takes up again after each. */
static void test_tabs_inside_long_values(void **state)
{
    const char head[] = "GET / HTTP/1.1\r\nA: aaaaaaaaa\tbbbbbbbbbbb\t\tcccccccccccc\td\r\n\r\n";
    struct ts_http_header h[MAX_H];
    struct ts_http_request req;
    char *copy;
    assert_int_equal(parse_req_exact(head, sizeof head - 1, &req, h, MAX_H, &copy),
                     (int)(sizeof head - 1));
    assert_span(h[0].value, h[0].value_len, "aaaaaaaaa\tbbbbbbbbbbb\t\tcccccccccccc\td");
    free(copy);
}

/* A long value ends exactly where its line does, wherever that falls in a
 * word; a prefix of the head is INCOMPLETE however many whole words it
 * holds (exact-size copies: ASan sees any read past the end). */
static void test_long_value_prefixes(void **state)
{
    for (size_t len = 0; len <= 40; len++) {
        char head[128];
        char value[41];
        for (size_t i = 0; i < len; i++)
            value[i] = (char)('a' + i % 26);
        int n = snprintf(head, sizeof head, "GET /%.*s HTTP/1.1\r\nB: %.*s\r\nC: d\r\n\r\n",
                         (int)len, value, (int)len, value);
        for (int k = 0; k < n; k++)
            assert_int_equal(req_status(head, (size_t)k), TS_HTTP_INCOMPLETE);
        struct ts_http_header h[MAX_H];
        struct ts_http_request req;
        char *copy;
        assert_int_equal(parse_req_exact(head, (size_t)n, &req, h, MAX_H, &copy), n);
        assert_int_equal(req.target_len, len + 1);
        assert_int_equal(req.num_headers, 2);
        assert_int_equal(h[0].value_len, len);
        assert_memory_equal(h[0].value, value, len);
        assert_int_equal(h[1].value_len, 1);
        free(copy);
    }
}

static void test_invalid_responses(void **state)
{
    static const struct bad_case bad[] = {
        {"GET / HTTP/1.1\r\n\r\n", 0, 1},
        {"\x16\x03\x03", 0, 1},
        {"+OK\r\n", 0, 1},
        {"HTTP/2 200 OK\r\n\r\n", 0, 6},
        {"HTTP/2.0 200 OK\r\n\r\n", 0, 6},
        {"HTTP/1.1  200 OK\r\n\r\n", 0, 10},
        {"HTTP/1.1 20 OK\r\n\r\n", 0, 12},   /* two digits */
        {"HTTP/1.1 2000 OK\r\n\r\n", 0, 13}, /* four digits */
        {"HTTP/1.1 099 OK\r\n\r\n", 0, 10},  /* below 100 */
        {"HTTP/1.1 2x0 OK\r\n\r\n", 0, 11},
        {"HTTP/1.1 200 O\x01K\r\n\r\n", 0, 15},
        {"HTTP/1.1 200 OK\r\nServer : x\r\n\r\n", 0, 24},
        {"HTTP/1.1 200 OK\r\nA: \x1b[0m\r\n\r\n", 0, 21},
        {"HTTP/1.1 200 OK\r\n\tfold\r\n\r\n", 0, 18},
    };
    check_bad(bad, sizeof bad / sizeof *bad, false);
}

static void test_too_many_headers(void **state)
{
    const char head[] = "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    size_t n = strlen(head);
    struct ts_http_header h[3];
    struct ts_http_request req;
    assert_int_equal(parse_req_exact(head, n, &req, h, 3, NULL), (int)n);
    assert_int_equal(req.num_headers, 3);
    assert_int_equal(parse_req_exact(head, n, &req, h, 2, NULL), TS_HTTP_ERROR);
    assert_int_equal(parse_req_exact(head, n, &req, h, 0, NULL), TS_HTTP_ERROR);
    /* the error shows as soon as the third header starts */
    assert_int_equal(parse_req_exact(head, 28, &req, h, 2, NULL), TS_HTTP_INCOMPLETE);
    assert_int_equal(parse_req_exact(head, 29, &req, h, 2, NULL), TS_HTTP_ERROR);
    const char bare[] = "GET / HTTP/1.1\r\n\r\n";
    assert_int_equal(parse_req_exact(bare, strlen(bare), &req, h, 0, NULL), (int)strlen(bare));

    const char rhead[] = "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n\r\n";
    struct ts_http_response res;
    assert_int_equal(parse_res_exact(rhead, strlen(rhead), &res, h, 1, NULL), TS_HTTP_ERROR);
    assert_int_equal(parse_res_exact(rhead, strlen(rhead), &res, h, 2, NULL), (int)strlen(rhead));
}

/* ------------------------------------------------------------- sniffing */

static bool looks_req(const char *s)
{
    return ts_http_looks_like_request(s, strlen(s));
}

static bool looks_res(const char *s)
{
    return ts_http_looks_like_response(s, strlen(s));
}

static void test_looks_like_request(void **state)
{
    assert_true(ts_http_looks_like_request(NULL, 0));
    assert_true(looks_req(""));
    assert_true(looks_req("G"));
    assert_true(looks_req("GE"));
    assert_true(looks_req("GET"));
    assert_true(looks_req("GET "));
    assert_true(looks_req("GET /a"));
    assert_true(looks_req("GET /a "));
    assert_true(looks_req("GET /a HT"));
    assert_true(looks_req("GET /a HTTP/1."));
    assert_true(looks_req("GET /a HTTP/1.1"));
    assert_true(looks_req("GET /a HTTP/1.1\r"));
    assert_true(looks_req("GET /a HTTP/1.1\r\nHost: x\r\n"));
    assert_true(looks_req("GET /a HTTP/1.0\nHost"));
    assert_true(looks_req("PROPF"));
    assert_true(looks_req("PROPFIND /d HTTP/1.1"));
    assert_true(looks_req("CONNECT host:443 HTTP/1.1\r\n"));
    const char *methods[] = {"GET",     "HEAD",    "POST",  "PUT",  "DELETE",
                             "CONNECT", "OPTIONS", "TRACE", "PATCH"};
    for (size_t i = 0; i < sizeof methods / sizeof *methods; i++) {
        char line[64];
        snprintf(line, sizeof line, "%s /x HTTP/1.1\r\n\r\n", methods[i]);
        for (size_t k = 0; k <= strlen(line); k++)
            assert_true(ts_http_looks_like_request(line, k));
    }

    assert_false(looks_req("XYZ / HTTP/1.1"));
    assert_false(looks_req("X"));
    assert_false(looks_req("get / HTTP/1.1")); /* methods are case-sensitive */
    assert_false(looks_req("GETX / HTTP/1.1"));
    assert_false(looks_req("GE "));
    assert_false(looks_req(" GET"));
    assert_false(looks_req("GET /a FOO"));
    assert_false(looks_req("GET /a HTTP/2"));
    assert_false(looks_req("GET /a HTTP/1.1x"));
    assert_false(looks_req("GET /a HTTP/1.1\rx"));
    assert_false(looks_req("GET  /a HTTP/1.1"));
    assert_false(looks_req("GET /a\r\n"));
    assert_false(looks_req("\x16\x03\x01"));
    assert_false(looks_req("*2\r\n$3"));
    assert_false(looks_req("SSH-2.0-OpenSSH"));
    assert_false(looks_req("HTTP/1.1 200 OK"));
}

static void test_method_known(void **state)
{
    static const char *const known[] = {
        "GET",   "HEAD",   "POST",     "PUT",       "DELETE",     "CONNECT", "OPTIONS",
        "TRACE", "PATCH",  "PROPFIND", "PROPPATCH", "MKCOL",      "COPY",    "MOVE",
        "LOCK",  "UNLOCK", "SEARCH",   "REPORT",    "MKCALENDAR", "PURGE",
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        size_t n = strlen(known[i]);
        assert_true(ts_http_method_known(known[i], n));
        assert_false(ts_http_method_known(known[i], n - 1)); /* a prefix */
        char longer[16];
        snprintf(longer, sizeof longer, "%sX", known[i]);
        assert_false(ts_http_method_known(longer, n + 1));
    }
    assert_false(ts_http_method_known("get", 3));
    assert_false(ts_http_method_known("FOO", 3));
    assert_false(ts_http_method_known("", 0));
}

static void test_looks_like_response(void **state)
{
    assert_true(ts_http_looks_like_response(NULL, 0));
    const char full[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    for (size_t k = 0; k <= strlen(full); k++)
        assert_true(ts_http_looks_like_response(full, k));
    assert_true(looks_res("HTTP/1.0 404\r\n"));
    assert_true(looks_res("HTTP/1.1 204\n"));

    assert_false(looks_res("HTTP/2 200"));
    assert_false(looks_res("HTTP/1.1 2x"));
    assert_false(looks_res("HTTP/1.1 20 OK"));
    assert_false(looks_res("HTTP/1.1 2000"));
    assert_false(looks_res("HTTP/1.1 099"));
    assert_false(looks_res("HTTP/1.1  200"));
    assert_false(looks_res("http/1.1 200"));
    assert_false(looks_res("GET / HTTP/1.1"));
    assert_false(looks_res("\x16\x03\x03"));
    assert_false(looks_res("+OK\r\n"));
}

/* ------------------------------------------------------------- helpers */

/* Insert a line at the inject offset and check the result parses with the
 * line as its last header. */
static void check_inject(const char *head, size_t want_off)
{
    size_t n = strlen(head);
    size_t off = ts_http_inject_offset(head, n);
    assert_int_equal(off, want_off);
    const char line[] = "X-A: 1\r\n";
    size_t ln = strlen(line);
    char buf[512];
    assert_true(n + ln < sizeof buf);
    memcpy(buf, head, off);
    memcpy(buf + off, line, ln);
    memcpy(buf + off + ln, head + off, n - off);
    struct ts_http_header h[MAX_H], h0[MAX_H];
    struct ts_http_request req0;
    int r0 = parse_req_exact(head, n, &req0, h0, MAX_H, NULL);
    assert_int_equal(r0, (int)n);
    struct ts_http_request req;
    assert_int_equal(parse_req_exact(buf, n + ln, &req, h, MAX_H, NULL), (int)(n + ln));
    assert_int_equal(req.num_headers, req0.num_headers + 1);
    const struct ts_http_header *x = &h[req.num_headers - 1];
    assert_int_equal(x->name_len, 3);
    assert_int_equal(x->value_len, 1);
}

static void test_inject_offset(void **state)
{
    check_inject("GET / HTTP/1.1\r\nHost: a\r\n\r\n", 25);
    check_inject("GET / HTTP/1.1\nHost: a\n\n", 23);
    check_inject("GET / HTTP/1.1\r\n\r\n", 16);
    check_inject("GET / HTTP/1.1\n\n", 15);
    check_inject("GET / HTTP/1.1\r\nHost: a\n\r\n", 24);
    check_inject("GET / HTTP/1.1\nHost: a\r\n\n", 24);
    /* the parse's length, not the buffer's, delimits the head */
    const char with_body[] = "POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n\r\n";
    struct ts_http_header h[MAX_H];
    struct ts_http_request req = {.headers = h, .num_headers = MAX_H};
    int r = ts_http_parse_request(with_body, strlen(with_body), &req);
    assert_int_equal(r, (int)strlen(with_body) - 2);
    assert_int_equal(ts_http_inject_offset(with_body, (size_t)r), (size_t)r - 2);
}

static void test_find_header(void **state)
{
    struct ts_http_header h[] = {
        {"Host", 4, "a", 1},
        {"X-B3-TraceId", 12, "1", 1},
        {"x-b3-traceid", 12, "2", 1},
        {"Hos", 3, "c", 1},
    };
    const struct ts_http_header *f = ts_http_find_header(h, 4, "x-b3-TRACEID");
    assert_ptr_equal(f, &h[1]);
    assert_ptr_equal(ts_http_find_header(h, 4, "HOST"), &h[0]);
    assert_ptr_equal(ts_http_find_header(h, 4, "hos"), &h[3]);
    assert_null(ts_http_find_header(h, 4, "Hostx"));
    assert_null(ts_http_find_header(h, 4, "Ho"));
    assert_null(ts_http_find_header(h, 0, "Host"));
}

static bool has_token(const char *v, const char *t)
{
    return ts_http_value_has_token(v, strlen(v), t);
}

static void test_value_has_token(void **state)
{
    assert_true(has_token("chunked", "chunked"));
    assert_true(has_token("gzip, chunked", "chunked"));
    assert_true(has_token("gzip,CHUNKED", "chunked"));
    assert_true(has_token(" keep-alive , Upgrade\t", "upgrade"));
    assert_true(has_token(",,close,", "close"));
    assert_false(has_token("gzip, chunkedx", "chunked"));
    assert_false(has_token("xchunked", "chunked"));
    assert_false(has_token("chunk", "chunked"));
    assert_false(has_token("", "chunked"));
    assert_false(has_token("a b", "a"));
    /* only len bytes count */
    assert_false(ts_http_value_has_token("gzip, chunked", 6, "chunked"));
    assert_true(ts_http_value_has_token("gzip, chunked", 4, "gzip"));
}

static void check_path(const char *target, const char *want)
{
    size_t n = 99;
    const char *p = ts_http_target_path(target, strlen(target), &n);
    assert_non_null(p);
    assert_span(p, n, want);
}

static void test_target_path(void **state)
{
    check_path("/a/b?x#y", "/a/b");
    check_path("/a/b#y?x", "/a/b");
    check_path("/", "/");
    check_path("/?q", "/");
    check_path("http://host:8/a/b?x", "/a/b");
    check_path("https://host/a", "/a");
    check_path("http://host", "/");
    check_path("http://host?x", "/");
    check_path("http://user@host:8/p#f", "/p");
    check_path("*", "*");
    check_path("example.com:443", "example.com:443");
    check_path("[::1]:443", "[::1]:443");
    check_path("", "");
    size_t n0 = 9;
    assert_non_null(ts_http_target_path(NULL, 0, &n0));
    assert_int_equal(n0, 0);
    assert_false(ts_http_value_has_token(NULL, 0, "chunked"));
    const char t[] = "/a/b?x";
    size_t n;
    assert_ptr_equal(ts_http_target_path(t, strlen(t), &n), t); /* zero-copy */
}

/* ------------------------------------------------------------- framing */

struct hdrs {
    struct ts_http_header h[MAX_H];
    size_t n;
};

/* Build a header array from "Name: value" strings. */
static void hdrs_set(struct hdrs *hs, const char *const *lines)
{
    hs->n = 0;
    for (; *lines; lines++) {
        const char *colon = strchr(*lines, ':');
        assert_non_null(colon);
        const char *v = colon + 1;
        while (*v == ' ')
            v++;
        hs->h[hs->n++] = (struct ts_http_header){*lines, (size_t)(colon - *lines), v, strlen(v)};
    }
}

/* Request framing: returns the result and fills *body. */
static int req_framing(struct ts_http_body *body, const char *const *lines)
{
    struct hdrs hs;
    hdrs_set(&hs, lines);
    struct ts_http_request req = {.method = "POST",
                                  .method_len = 4,
                                  .target = "/",
                                  .target_len = 1,
                                  .minor_version = 1,
                                  .headers = hs.h,
                                  .num_headers = hs.n};
    memset(body, 0xa5, sizeof *body);
    return ts_http_request_body(&req, body);
}

static int res_framing(struct ts_http_body *body, int status, const char *method,
                       const char *const *lines)
{
    struct hdrs hs;
    hdrs_set(&hs, lines);
    struct ts_http_response res = {
        .minor_version = 1, .status = status, .headers = hs.h, .num_headers = hs.n};
    memset(body, 0xa5, sizeof *body);
    return ts_http_response_body(&res, method, method ? strlen(method) : 0, body);
}

#define L(...) ((const char *const[]){__VA_ARGS__, NULL})
#define NOHDR ((const char *const[]){NULL})

static void test_request_framing(void **state)
{
    struct ts_http_body b;
    assert_int_equal(req_framing(&b, NOHDR), 0);
    assert_int_equal(b.kind, TS_BODY_NONE);
    assert_int_equal(req_framing(&b, L("Host: a", "Accept: */*")), 0);
    assert_int_equal(b.kind, TS_BODY_NONE);

    assert_int_equal(req_framing(&b, L("Content-Length: 10")), 0);
    assert_int_equal(b.kind, TS_BODY_LENGTH);
    assert_int_equal(b.remaining, 10);
    assert_int_equal(req_framing(&b, L("content-length: 0")), 0);
    assert_int_equal(b.kind, TS_BODY_NONE);
    assert_int_equal(req_framing(&b, L("Content-Length: 007")), 0);
    assert_int_equal(b.kind, TS_BODY_LENGTH);
    assert_int_equal(b.remaining, 7);
    assert_int_equal(req_framing(&b, L("Content-Length: 18446744073709551615")), 0);
    assert_int_equal(b.kind, TS_BODY_LENGTH);
    assert_true(b.remaining == UINT64_MAX);

    /* identical repeats are one value; differing ones are invalid */
    assert_int_equal(req_framing(&b, L("Content-Length: 5, 5")), 0);
    assert_int_equal(b.kind, TS_BODY_LENGTH);
    assert_int_equal(b.remaining, 5);
    assert_int_equal(req_framing(&b, L("Content-Length: 5", "X: y", "CONTENT-LENGTH: 5")), 0);
    assert_int_equal(b.kind, TS_BODY_LENGTH);
    assert_int_equal(b.remaining, 5);
    assert_int_equal(req_framing(&b, L("Content-Length: 5", "Content-Length: 6")), -1);
    assert_int_equal(req_framing(&b, L("Content-Length: 5, 6")), -1);
    assert_int_equal(req_framing(&b, L("Content-Length: 0", "Content-Length: 5")), -1);

    /* not a number */
    assert_int_equal(req_framing(&b, L("Content-Length: abc")), -1);
    assert_int_equal(req_framing(&b, L("Content-Length: ")), -1);
    assert_int_equal(req_framing(&b, L("Content-Length: -1")), -1);
    assert_int_equal(req_framing(&b, L("Content-Length: +5")), -1);
    assert_int_equal(req_framing(&b, L("Content-Length: 5 5")), -1);
    assert_int_equal(req_framing(&b, L("Content-Length: 0x10")), -1);
    assert_int_equal(req_framing(&b, L("Content-Length: 18446744073709551616")), -1);
    assert_int_equal(req_framing(&b, L("Content-Length: 99999999999999999999999")), -1);

    /* chunked */
    assert_int_equal(req_framing(&b, L("Transfer-Encoding: chunked")), 0);
    assert_int_equal(b.kind, TS_BODY_CHUNKED);
    assert_int_equal(b.chunked.state, 0);
    assert_int_equal(req_framing(&b, L("transfer-encoding: gzip, Chunked")), 0);
    assert_int_equal(b.kind, TS_BODY_CHUNKED);
    assert_int_equal(req_framing(&b, L("Transfer-Encoding: gzip", "Transfer-Encoding: chunked")),
                     0);
    assert_int_equal(b.kind, TS_BODY_CHUNKED);
    /* chunked wins over Content-Length, even a bad one */
    assert_int_equal(req_framing(&b, L("Content-Length: 10", "Transfer-Encoding: chunked")), 0);
    assert_int_equal(b.kind, TS_BODY_CHUNKED);
    assert_int_equal(req_framing(&b, L("Transfer-Encoding: chunked", "Content-Length: 1, 2")), 0);
    assert_int_equal(b.kind, TS_BODY_CHUNKED);
    /* a request whose last coding is not chunked cannot be delimited */
    assert_int_equal(req_framing(&b, L("Transfer-Encoding: gzip")), -1);
    assert_int_equal(req_framing(&b, L("Transfer-Encoding: chunked, gzip")), -1);
    assert_int_equal(req_framing(&b, L("Transfer-Encoding: chunked", "Transfer-Encoding: gzip")),
                     -1);
    assert_int_equal(req_framing(&b, L("Transfer-Encoding: chunkedx")), -1);
    assert_int_equal(req_framing(&b, L("Transfer-Encoding: gzip", "Content-Length: 4")), -1);

    /* names of the same lengths that are other names, before and after */
    assert_int_equal(
        req_framing(&b, L("X-B3-ParentSpanId: chunked", "Content-Lengtx: 4",
                          "Transfer-Encodinx: chunked", "content-length: 3", "Content-Lengtz: 9")),
        0);
    assert_int_equal(b.kind, TS_BODY_LENGTH);
    assert_int_equal(b.remaining, 3);
    assert_int_equal(req_framing(&b, L("Content-Length: 3", "X-B3-ParentSpanId: 1",
                                       "TRANSFER-ENCODING: chunked")),
                     0);
    assert_int_equal(b.kind, TS_BODY_CHUNKED);
    assert_int_equal(req_framing(&b, L("Content-Length: 3", "x: y", "content-length: 4")), -1);
}

/* Content-Length values of every digit count up to 24, with leading
 * zeros, around 10^19 and around 2^64: the length, or -1 past 64 bits,
 * as a digit-by-digit parse with an overflow check gives it. */
static void test_content_length_every_digit_count(void **state)
{
    (void)state;
    static const char *const cores[] = {"0",
                                        "7",
                                        "123",
                                        "9999999999999999999",
                                        "10000000000000000000",
                                        "18446744073709551615",
                                        "18446744073709551616",
                                        "99999999999999999999"};
    for (size_t c = 0; c < sizeof cores / sizeof *cores; c++) {
        for (size_t zeros = 0; zeros + strlen(cores[c]) <= 24; zeros++) {
            char line[64];
            int n = snprintf(line, sizeof line, "Content-Length: %0*d%s", (int)zeros, 0, cores[c]);
            if (zeros == 0) /* %0*d wrote one zero */
                n = snprintf(line, sizeof line, "Content-Length: %s", cores[c]);
            assert_true(n > 0);
            uint64_t want = 0;
            bool over = false;
            for (const char *d = line + strlen("Content-Length: "); *d; d++) {
                unsigned v = (unsigned)(*d - '0');
                if (want > (UINT64_MAX - v) / 10)
                    over = true;
                want = want * 10 + v;
            }
            struct ts_http_body b;
            int r = req_framing(&b, L(line));
            if (over) {
                assert_int_equal(r, -1);
                continue;
            }
            assert_int_equal(r, 0);
            if (want == 0) {
                assert_int_equal(b.kind, TS_BODY_NONE);
            } else {
                assert_int_equal(b.kind, TS_BODY_LENGTH);
                if (b.remaining != want)
                    fail_msg("%s: %llu", line, (unsigned long long)b.remaining);
            }
        }
    }
}

static void test_response_framing(void **state)
{
    struct ts_http_body b;
    /* no body */
    assert_int_equal(res_framing(&b, 200, "HEAD", L("Content-Length: 100")), 0);
    assert_int_equal(b.kind, TS_BODY_NONE);
    assert_int_equal(res_framing(&b, 200, "HEAD", L("Transfer-Encoding: chunked")), 0);
    assert_int_equal(b.kind, TS_BODY_NONE);
    assert_int_equal(res_framing(&b, 200, "HEAD", NOHDR), 0);
    assert_int_equal(b.kind, TS_BODY_NONE);
    assert_int_equal(res_framing(&b, 100, "POST", NOHDR), 0);
    assert_int_equal(b.kind, TS_BODY_NONE);
    assert_int_equal(res_framing(&b, 103, "GET", L("Link: </s.css>")), 0);
    assert_int_equal(b.kind, TS_BODY_NONE);
    assert_int_equal(res_framing(&b, 204, "GET", NOHDR), 0);
    assert_int_equal(b.kind, TS_BODY_NONE);
    assert_int_equal(res_framing(&b, 204, "GET", L("Content-Length: 5")), 0);
    assert_int_equal(b.kind, TS_BODY_NONE);
    assert_int_equal(res_framing(&b, 304, "GET", L("Content-Length: 5")), 0);
    assert_int_equal(b.kind, TS_BODY_NONE);
    assert_int_equal(res_framing(&b, 200, "GET", L("Content-Length: 0")), 0);
    assert_int_equal(b.kind, TS_BODY_NONE);

    /* tunnels */
    assert_int_equal(res_framing(&b, 101, "GET", L("Upgrade: websocket")), 0);
    assert_int_equal(b.kind, TS_BODY_TUNNEL);
    assert_int_equal(res_framing(&b, 200, "CONNECT", NOHDR), 0);
    assert_int_equal(b.kind, TS_BODY_TUNNEL);
    assert_int_equal(res_framing(&b, 204, "CONNECT", NOHDR), 0);
    assert_int_equal(b.kind, TS_BODY_TUNNEL); /* any 2xx to CONNECT opens the tunnel */
    assert_int_equal(res_framing(&b, 101, "HEAD", NOHDR), 0);
    assert_int_equal(b.kind, TS_BODY_TUNNEL);
    assert_int_equal(res_framing(&b, 200, "connect", L("Content-Length: 4")), 0);
    assert_int_equal(b.kind, TS_BODY_LENGTH); /* methods are case-sensitive */
    assert_int_equal(res_framing(&b, 299, "CONNECT", L("Content-Length: 4")), 0);
    assert_int_equal(b.kind, TS_BODY_TUNNEL);
    /* a refused CONNECT has an ordinary body */
    assert_int_equal(res_framing(&b, 407, "CONNECT", L("Content-Length: 4")), 0);
    assert_int_equal(b.kind, TS_BODY_LENGTH);
    assert_int_equal(b.remaining, 4);
    /* a method that merely starts like CONNECT/HEAD is not one */
    assert_int_equal(res_framing(&b, 200, "HEADX", L("Content-Length: 4")), 0);
    assert_int_equal(b.kind, TS_BODY_LENGTH);

    /* lengths */
    assert_int_equal(res_framing(&b, 200, "GET", L("Content-Length: 12")), 0);
    assert_int_equal(b.kind, TS_BODY_LENGTH);
    assert_int_equal(b.remaining, 12);
    assert_int_equal(res_framing(&b, 200, "GET", L("Content-Length: 12", "Content-Length: 13")),
                     -1);
    assert_int_equal(res_framing(&b, 200, "GET", L("Content-Length: x")), -1);

    /* chunked and close-delimited */
    assert_int_equal(res_framing(&b, 200, "GET", L("Transfer-Encoding: chunked")), 0);
    assert_int_equal(b.kind, TS_BODY_CHUNKED);
    assert_int_equal(
        res_framing(&b, 500, "POST", L("Content-Length: 3", "Transfer-Encoding: gzip,chunked")), 0);
    assert_int_equal(b.kind, TS_BODY_CHUNKED);
    assert_int_equal(res_framing(&b, 200, "GET", L("Transfer-Encoding: gzip")), 0);
    assert_int_equal(b.kind, TS_BODY_UNTIL_CLOSE);
    assert_int_equal(res_framing(&b, 200, "GET", L("Transfer-Encoding: gzip", "Content-Length: 3")),
                     0);
    assert_int_equal(b.kind, TS_BODY_UNTIL_CLOSE);
    assert_int_equal(res_framing(&b, 200, "GET", NOHDR), 0);
    assert_int_equal(b.kind, TS_BODY_UNTIL_CLOSE);
    assert_int_equal(res_framing(&b, 404, NULL, L("Server: x")), 0);
    assert_int_equal(b.kind, TS_BODY_UNTIL_CLOSE);
}

/* ------------------------------------------------------------- body feed */

static void test_feed_simple_kinds(void **state)
{
    struct ts_http_body b;
    bool done = false;
    const char data[] = "0123456789GET / HTTP/1.1\r\n\r\n";

    assert_int_equal(req_framing(&b, L("Content-Length: 10")), 0);
    assert_int_equal(ts_http_body_feed(&b, data, 0, &done), 0);
    assert_false(done);
    assert_int_equal(ts_http_body_feed(&b, data, 4, &done), 4);
    assert_false(done);
    assert_int_equal(ts_http_body_feed(&b, data + 4, 5, &done), 5);
    assert_false(done);
    assert_int_equal(b.remaining, 1);
    /* the body's last byte, then a pipelined request: not consumed */
    assert_int_equal(ts_http_body_feed(&b, data + 9, strlen(data) - 9, &done), 1);
    assert_true(done);
    assert_int_equal(ts_http_body_feed(&b, data + 10, 5, &done), 0);
    assert_true(done);

    assert_int_equal(req_framing(&b, L("Content-Length: 10")), 0);
    done = false;
    assert_int_equal(ts_http_body_feed(&b, data, strlen(data), &done), 10);
    assert_true(done);

    assert_int_equal(req_framing(&b, NOHDR), 0);
    done = false;
    assert_int_equal(ts_http_body_feed(&b, data, strlen(data), &done), 0);
    assert_true(done);

    assert_int_equal(res_framing(&b, 200, "GET", NOHDR), 0);
    for (int i = 0; i < 3; i++) {
        done = true;
        assert_int_equal(ts_http_body_feed(&b, data, strlen(data), &done), (ssize_t)strlen(data));
        assert_false(done);
    }
    assert_int_equal(res_framing(&b, 101, "GET", NOHDR), 0);
    done = true;
    assert_int_equal(ts_http_body_feed(&b, data, strlen(data), &done), (ssize_t)strlen(data));
    assert_false(done);
}

static void chunked_init(struct ts_http_body *b)
{
    assert_int_equal(req_framing(b, L("Transfer-Encoding: chunked")), 0);
    assert_int_equal(b->kind, TS_BODY_CHUNKED);
}

/* Feed msg in pieces cut at the given offsets (ascending, within len) and
 * check the body ends exactly at body_len, once. */
static void feed_cuts(const char *msg, size_t len, size_t body_len, const size_t *cuts,
                      size_t ncuts)
{
    struct ts_http_body b;
    chunked_init(&b);
    size_t pos = 0, consumed = 0;
    int done_count = 0;
    for (size_t c = 0; c <= ncuts; c++) {
        size_t stop = c < ncuts ? cuts[c] : len;
        /* a heap copy of exactly this piece: ASan sees any over-read */
        size_t n = stop - pos;
        char *piece = malloc(n ? n : 1);
        assert_non_null(piece);
        memcpy(piece, msg + pos, n);
        bool done = false;
        ssize_t k = ts_http_body_feed(&b, piece, n, &done);
        free(piece);
        assert_true(k >= 0);
        assert_true((size_t)k <= n);
        if (done_count == 0) {
            consumed += (size_t)k;
            if (done) {
                done_count++;
                assert_int_equal(consumed, body_len);
            } else {
                assert_int_equal((size_t)k, n); /* not finished: everything belongs */
            }
        } else {
            assert_int_equal(k, 0); /* after the end nothing more is taken */
            assert_true(done);
        }
        pos = stop;
    }
    assert_int_equal(done_count, 1);
    assert_int_equal(consumed, body_len);
}

static const char chunked_body[] = "4;a=b\r\nWiki\r\n"
                                   "5\r\npedia\r\n"
                                   "E ; ext=\"q r\";x\r\n in\r\n\r\nchunks.\r\n"
                                   "1a\r\nabcdefghijklmnopqrstuvwxyz\r\n"
                                   "0;last\r\n"
                                   "Expires: never\r\n"
                                   "X-Trailer:\tv\r\n"
                                   "\r\n";
static const char chunked_lf_body[] = "3\nabc\n00\nT: 1\n\n";
static const char chunked_min_body[] = "0\r\n\r\n";
static const char next_msg[] = "GET /next HTTP/1.1\r\n\r\n";

static void check_chunked_all_splits(const char *body)
{
    size_t blen = strlen(body);
    char msg[512];
    size_t len = (size_t)snprintf(msg, sizeof msg, "%s%s", body, next_msg);
    assert_true(len < sizeof msg);

    /* whole, with and without the next message */
    feed_cuts(msg, blen, blen, NULL, 0);
    feed_cuts(msg, len, blen, NULL, 0);
    /* byte by byte */
    size_t cuts[512];
    for (size_t i = 0; i < len - 1; i++)
        cuts[i] = i + 1;
    feed_cuts(msg, len, blen, cuts, len - 1);
    /* one cut at every offset, then two cuts at every pair */
    for (size_t i = 0; i <= len; i++) {
        size_t one[1] = {i};
        feed_cuts(msg, len, blen, one, 1);
        for (size_t j = i; j <= len; j++) {
            size_t two[2] = {i, j};
            feed_cuts(msg, len, blen, two, 2);
        }
    }
}

static void test_chunked_splits(void **state)
{
    check_chunked_all_splits(chunked_body);
    check_chunked_all_splits(chunked_lf_body);
    check_chunked_all_splits(chunked_min_body);
}

static void test_chunked_state_after_end(void **state)
{
    struct ts_http_body b;
    chunked_init(&b);
    bool done = false;
    assert_int_equal(ts_http_body_feed(&b, "0\r\n\r\n0\r\n\r\n", 10, &done), 5);
    assert_true(done);
    done = false;
    assert_int_equal(ts_http_body_feed(&b, "0\r\n\r\n", 5, &done), 0);
    assert_true(done);
    done = false;
    assert_int_equal(ts_http_body_feed(&b, NULL, 0, &done), 0);
    assert_true(done);
}

/* Feed body whole and byte by byte: -1 exactly at byte err_at (0-based). */
static void check_chunked_bad(const char *body, size_t err_at)
{
    size_t len = strlen(body);
    struct ts_http_body b;
    chunked_init(&b);
    bool done = false;
    assert_int_equal(ts_http_body_feed(&b, body, len, &done), -1);

    chunked_init(&b);
    for (size_t i = 0; i < len; i++) {
        done = false;
        ssize_t k = ts_http_body_feed(&b, body + i, 1, &done);
        if (i < err_at) {
            if (k != 1)
                fail_msg("\"%s\": byte %zu gave %zd, want 1", body, i, k);
            assert_false(done);
        } else {
            if (k != -1)
                fail_msg("\"%s\": byte %zu gave %zd, want -1", body, i, k);
            return;
        }
    }
    fail_msg("\"%s\": no error", body);
}

static void test_chunked_malformed(void **state)
{
    check_chunked_bad("x\r\n", 0);
    check_chunked_bad("\r\n", 0);
    check_chunked_bad(" 4\r\nWiki\r\n0\r\n\r\n", 0);
    check_chunked_bad("-1\r\n", 0);
    check_chunked_bad("0x10\r\n", 1);
    check_chunked_bad("4g\r\n", 1);
    check_chunked_bad("4 x\r\n", 2);
    check_chunked_bad("4\rX", 2);
    check_chunked_bad("4\r\nWikiX\r\n", 7);
    check_chunked_bad("4\r\nWiki\rX", 8);
    check_chunked_bad("4;a\x01\r\n", 3);
    check_chunked_bad("0\r\nbad trailer: x\r\n\r\n", 6);
    check_chunked_bad("0\r\n: x\r\n\r\n", 3);
    check_chunked_bad("0\r\n fold\r\n\r\n", 3);
    check_chunked_bad("0\r\nT: a\x02\r\n\r\n", 7);
    check_chunked_bad("0\r\nT: a\rb\r\n", 8);
    check_chunked_bad("0\r\n\rX", 4);

    /* 16 hex digits are fine, 17 are not (leading zeros included) */
    struct ts_http_body b;
    bool done = false;
    chunked_init(&b);
    const char big[] = "ffffffffffffffff\r\n";
    assert_int_equal(ts_http_body_feed(&b, big, strlen(big), &done), (ssize_t)strlen(big));
    assert_false(done);
    char data[1000];
    memset(data, 'z', sizeof data);
    assert_int_equal(ts_http_body_feed(&b, data, sizeof data, &done), (ssize_t)sizeof data);
    assert_false(done);
    assert_true(b.chunked.remaining == UINT64_MAX - sizeof data);
    check_chunked_bad("10000000000000000\r\n", 16);
    check_chunked_bad("00000000000000001\r\n", 16);

    /* a size line, an extension or a trailer past the line bound */
    char line[5000];
    size_t n = (size_t)snprintf(line, sizeof line, "1;");
    memset(line + n, 'e', sizeof line - n - 1);
    line[sizeof line - 1] = '\0';
    chunked_init(&b);
    assert_int_equal(ts_http_body_feed(&b, line, strlen(line), &done), -1);
    n = (size_t)snprintf(line, sizeof line, "0\r\nT: ");
    memset(line + n, 'v', sizeof line - n - 1);
    chunked_init(&b);
    assert_int_equal(ts_http_body_feed(&b, line, strlen(line), &done), -1);
    n = (size_t)snprintf(line, sizeof line, "1");
    memset(line + n, ' ', sizeof line - n - 1);
    chunked_init(&b);
    assert_int_equal(ts_http_body_feed(&b, line, strlen(line), &done), -1);
    /* a long but bounded extension is fine */
    n = (size_t)snprintf(line, sizeof line, "1;");
    memset(line + n, 'e', 3000);
    memcpy(line + n + 3000, "\r\nA\r\n0\r\n\r\n", 11);
    chunked_init(&b);
    done = false;
    assert_int_equal(ts_http_body_feed(&b, line, strlen(line), &done), (ssize_t)strlen(line));
    assert_true(done);
}

/* Every kind of line the chunked decoder bounds — blanks after a chunk
 * size, an extension, a trailer field — may hold exactly 4096 bytes, its
 * CRLF or LF not counted, and not one more. (A size line of blanks used to
 * count its CR and stop at 4095: tests/fuzz/regressions/
 * chunked-blank-size-line-4096.bin.) */
static void test_chunked_line_limit_same_for_every_line(void **state)
{
    static const char *const starts[] = {"1 ", "1;", "1 ;", "0\r\nT:"};
    static const char *const ends[] = {"\r\n", "\n"};
    for (size_t k = 0; k < sizeof starts / sizeof *starts; k++) {
        for (size_t e = 0; e < 2; e++) {
            for (size_t content = 4095; content <= 4097; content++) {
                static char msg[5000];
                bool trailer = starts[k][0] == '0';
                size_t lead = trailer ? 3 : 0; /* "0\r\n" is a line of its own */
                size_t n = (size_t)snprintf(msg, sizeof msg, "%s", starts[k]);
                char fill = ' '; /* more of what the line start ends with */
                if (trailer)
                    fill = 'v';
                else if (starts[k][n - 1] == ';')
                    fill = 'e';
                memset(msg + n, fill, content + lead - n);
                n = content + lead;
                n += (size_t)snprintf(msg + n, sizeof msg - n, "%s%s", ends[e],
                                      trailer ? ends[e] : "A\r\n0\r\n\r\n");
                struct ts_http_body b;
                chunked_init(&b);
                bool done = false;
                ssize_t got = ts_http_body_feed(&b, msg, n, &done);
                if (content <= 4096 && (got != (ssize_t)n || !done))
                    fail_msg("line \"%s...\" of %zu bytes refused", starts[k], content);
                if (content > 4096 && got != -1)
                    fail_msg("line \"%s...\" of %zu bytes taken", starts[k], content);
            }
        }
    }
}

/* The framing of a parsed head, from the parser's notes and (notes
 * dropped) from a walk over every header: the two must agree, in result,
 * kind and length, for both directions. */
static void framing_both_ways(const char *head_lines, int *result, struct ts_http_body *body)
{
    char buf[1024];
    struct ts_http_header h[16];
    struct ts_http_body b[2];
    int r[2];

    snprintf(buf, sizeof buf, "POST / HTTP/1.1\r\n%s", head_lines);
    struct ts_http_request req = {.headers = h, .num_headers = 16};
    assert_true(ts_http_parse_request(buf, strlen(buf), &req) > 0);
    assert_ptr_equal(req.noted.headers, h);
    assert_int_equal(req.noted.count, req.num_headers);
    r[0] = ts_http_request_body(&req, &b[0]);
    memset(&req.noted, 0, sizeof req.noted);
    r[1] = ts_http_request_body(&req, &b[1]);
    assert_int_equal(r[0], r[1]);
    assert_memory_equal(&b[0], &b[1], sizeof b[0]);
    *result = r[0];
    *body = b[0]; /* the request's: what the cases list */

    snprintf(buf, sizeof buf, "HTTP/1.1 200 OK\r\n%s", head_lines);
    struct ts_http_response res = {.headers = h, .num_headers = 16};
    assert_true(ts_http_parse_response(buf, strlen(buf), &res) > 0);
    int rr = ts_http_response_body(&res, "GET", 3, &b[0]);
    memset(&res.noted, 0, sizeof res.noted);
    assert_int_equal(ts_http_response_body(&res, "GET", 3, &b[1]), rr);
    assert_memory_equal(&b[0], &b[1], sizeof b[0]);
}

static void test_noted_framing_matches_walk(void **state)
{
    (void)state;
    static const struct {
        const char *lines;
        int result;
        uint8_t kind;
        uint64_t length;
    } cases[] = {
        {"Host: a\r\n\r\n", 0, TS_BODY_NONE, 0},
        {"content-length: 5\r\n\r\n", 0, TS_BODY_LENGTH, 5},
        {"CONTENT-LENGTH: 5\r\n\r\n", 0, TS_BODY_LENGTH, 5},
        {"CoNtEnT-lEnGtH: 7\n\n", 0, TS_BODY_LENGTH, 7}, /* bare LF */
        {"Content-Length: 5\r\nContent-Length: 5\r\n\r\n", 0, TS_BODY_LENGTH, 5},
        {"Content-Length: 5\r\nX: y\r\ncontent-length: 6\r\n\r\n", -1, TS_BODY_NONE, 0},
        {"Content-Lengtx: 5\r\n\r\n", 0, TS_BODY_NONE, 0},   /* same length, not it */
        {"Content-Lengt: 5\r\n\r\n", 0, TS_BODY_NONE, 0},    /* a prefix */
        {"Content-Length-X: 5\r\n\r\n", 0, TS_BODY_NONE, 0}, /* it as a prefix */
        {"Transfer-Encodingx: chunked\r\n\r\n", 0, TS_BODY_NONE, 0},
        {"TRANSFER-ENCODING: chunked\r\n\r\n", 0, TS_BODY_CHUNKED, 0},
        {"Transfer-Encoding: gzip\r\n\r\n", -1, TS_BODY_NONE, 0},
        {"Transfer-Encoding: gzip\r\nContent-Length: 3\r\ntransfer-encoding: chunked\r\n\r\n", 0,
         TS_BODY_CHUNKED, 0},
        {"Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n", -1, TS_BODY_NONE, 0},
        {"Content-Length: 9\r\nTransfer-Encoding: chunked\r\n\r\n", 0, TS_BODY_CHUNKED, 0},
        {"Content-Length: 1,1\r\n\r\n", 0, TS_BODY_LENGTH, 1},
        {"Content-Length: 1, 2\r\n\r\n", -1, TS_BODY_NONE, 0},
        {"Content-Length: 12345678901234567\r\nA-Long-Header-Name-Of-Sixteen: x\r\n\r\n", 0,
         TS_BODY_LENGTH, 12345678901234567ull},
        {"Content-Length: 0\r\n\r\n", 0, TS_BODY_NONE, 0},
        {"Content-Length: 007\r\n\r\n", 0, TS_BODY_LENGTH, 7},
        {"Content-Length:\t 8 \t\r\n\r\n", 0, TS_BODY_LENGTH, 8},
        {"Content-Length: +5\r\n\r\n", -1, TS_BODY_NONE, 0},
        {"Content-Length:\r\n\r\n", -1, TS_BODY_NONE, 0},
        {"Content-Length: 9999999999999999999\r\n\r\n", 0, TS_BODY_LENGTH,
         9999999999999999999ull}, /* 19 digits, the most read at once */
        {"Content-Length: 18446744073709551615\r\n\r\n", 0, TS_BODY_LENGTH, UINT64_MAX},
        {"Content-Length: 18446744073709551616\r\n\r\n", -1, TS_BODY_NONE, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int r;
        struct ts_http_body body;
        framing_both_ways(cases[i].lines, &r, &body);
        if (r != cases[i].result || body.kind != cases[i].kind ||
            (body.kind == TS_BODY_LENGTH && body.remaining != cases[i].length))
            fail_msg("case %zu: result %d kind %d", i, r, body.kind);
    }
}

/* Heads the parser rejects or waits on stay so with the notes: an
 * obs-fold line, a blank before the colon, a control byte in a value, and
 * every prefix of a head is incomplete. */
static void test_noted_heads_reject_as_before(void **state)
{
    (void)state;
    struct ts_http_header h[8];
    static const char *const bad[] = {
        "GET / HTTP/1.1\r\nContent-Length: 1\r\n folded\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length : 1\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: 1\x01\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: 1\r\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct ts_http_request req = {.headers = h, .num_headers = 8};
        assert_int_equal(ts_http_parse_request(bad[i], strlen(bad[i]), &req), TS_HTTP_ERROR);
    }
    const char *ok = "GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n";
    for (size_t n = 0; n < strlen(ok); n++) {
        struct ts_http_request req = {.headers = h, .num_headers = 8};
        assert_int_equal(ts_http_parse_request(ok, n, &req), TS_HTTP_INCOMPLETE);
    }
}

/* The authority of an absolute-form target: without its userinfo, https
 * by the scheme in any case; none for another form. Each target in an
 * exact-size heap copy, so that ASan sees any read past the end. */
static void test_target_authority(void **state)
{
    static const struct {
        const char *target, *authority; /* authority NULL: not absolute-form */
        bool https;
    } cases[] = {
        {"http://h:8/a?x", "h:8", false},
        {"https://h", "h", true},
        {"HTTPS://h/", "h", true},
        {"httpss://h/", "h", false},
        {"ws://h?x", "h", false},
        {"http://u:p@h:9#f", "h:9", false},
        {"http://a@b@h/", "h", false},
        {"http:///p", "", false},
        {"http://[::1]:80/", "[::1]:80", false},
        {"/a", NULL, false},
        {"*", NULL, false},
        {"h:443", NULL, false},
        {"http:/h", NULL, false},
        {"", NULL, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *a = NULL;
        size_t n = 0;
        bool https = false;
        size_t len = strlen(cases[i].target);
        char *t = malloc(len ? len : 1); /* exact size, no NUL */
        assert_non_null(t);
        memcpy(t, cases[i].target, len);
        bool got = ts_http_target_authority(t, len, &a, &n, &https);
        if (!cases[i].authority) {
            assert_false(got);
            free(t);
            continue;
        }
        assert_true(got);
        assert_int_equal(n, strlen(cases[i].authority));
        assert_memory_equal(a, cases[i].authority, n);
        assert_true(a >= t && a + n <= t + len); /* zero-copy */
        assert_int_equal(https, cases[i].https);
        free(t);
    }
}

/* The path of every target up to three SSE2 blocks long, with '?' or '#'
 * (or both, or neither) at every position, against a byte loop; in an
 * exact-size heap copy, so that ASan sees any read past the end. */
static void test_target_path_every_position(void **state)
{
    (void)state;
    static const char *const prefixes[] = {"/", "http://h:8/"};
    static const char marks[] = {'?', '#'};
    for (size_t k = 0; k < 2; k++) {
        size_t plen = strlen(prefixes[k]);
        for (size_t len = plen; len <= 48; len++) {
            for (size_t at = plen; at <= len; at++) { /* at == len: no mark */
                for (size_t m = 0; m < 2; m++) {
                    char *t = malloc(len);
                    assert_non_null(t);
                    memcpy(t, prefixes[k], plen);
                    for (size_t i = plen; i < len; i++)
                        t[i] = (char)('a' + i % 26);
                    if (at < len)
                        t[at] = marks[m];
                    if (at + 3 < len)
                        t[at + 3] = marks[1 - m]; /* a later mark changes nothing */
                    size_t start = k == 0 ? 0 : plen - 1, want = start;
                    while (want < len && t[want] != '?' && t[want] != '#')
                        want++;
                    size_t n = 0;
                    const char *p = ts_http_target_path(t, len, &n);
                    if (p != t + start || n != want - start)
                        fail_msg("%s+%zu bytes, mark at %zu: path at %td, %zu bytes", prefixes[k],
                                 len - plen, at, p - t, n);
                    free(t);
                }
            }
        }
    }
}

/* A small deterministic generator (xorshift), so failures repeat. */
static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* The names a request's parser notes (enum ts_http_note order), and names
 * of the same lengths that are not them. */
static const char *const noted_names[TS_HTTP_NOTES] = {
    "host",
    "user-agent",
    "b3",
    "traceparent",
    "uber-trace-id",
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-parentspanid",
    "x-b3-sampled",
    "x-b3-flags",
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-proto",
    "upgrade",
};
static const char *const near_names[] = {
    "hosT-",
    "hos",
    "hosx",
    "user-agenx",
    "b4",
    "traceparenx",
    "uber-trace-ix",
    "x-b3-traceix",
    "x-b3-spanix",
    "x-b3-parentspanix",
    "content-length",
    "transfer-encoding",
    "x-b3-flagz",
    "accept",
    "content-type",
    "forwardex",
    "accept-language", /* x-forwarded-for's length */
    "x-forwarded-prot0",
    "x-forwarded-host",
    "upgradx",
    "referer", /* upgrade's length */
};

/* A request head of random headers from both lists, in random case, with
 * repeats: its parse's notes find the first header of each noted name,
 * as ts_http_find_header does, and a response notes none of them. */
static void test_notes_find_first_of_each(void **state)
{
    (void)state;
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    for (int round = 0; round < 4000; round++) {
        char buf[2048];
        size_t len = (size_t)snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\n");
        int count = (int)(rng_next(&seed) % 14);
        for (int i = 0; i < count; i++) {
            uint64_t r = rng_next(&seed);
            const char *name =
                r % 3 ? noted_names[(r >> 8) % TS_HTTP_NOTES]
                      : near_names[(r >> 8) % (sizeof near_names / sizeof *near_names)];
            for (const char *c = name; *c; c++) {
                bool upper = (rng_next(&seed) & 3) == 0 && *c >= 'a' && *c <= 'z';
                buf[len++] = upper ? (char)(*c - 32) : *c;
            }
            len += (size_t)snprintf(buf + len, sizeof buf - len, ": v%d\r\n", i);
        }
        len += (size_t)snprintf(buf + len, sizeof buf - len, "\r\n");

        struct ts_http_header h[16];
        struct ts_http_request req = {.headers = h, .num_headers = 16};
        assert_int_equal(ts_http_parse_request(buf, len, &req), (int)len);
        assert_true(ts_http_notes_hold(&req.noted, h, req.num_headers));
        for (int k = 0; k < TS_HTTP_NOTES; k++) {
            assert_non_null(noted_names[k]); /* a note added to http1.h is added here */
            const struct ts_http_header *want =
                ts_http_find_header(h, req.num_headers, noted_names[k]);
            if (TS_HTTP_NOTED(&req.noted, k) != want)
                fail_msg("round %d: %s noted wrong in:\n%.*s", round, noted_names[k], (int)len,
                         buf);
        }

        /* the same headers after a status line */
        size_t start = strlen("GET / HTTP/1.1\r\n"), rlen = strlen("HTTP/1.1 200 OK\r\n");
        char rbuf[2048 + 8];
        memcpy(rbuf, "HTTP/1.1 200 OK\r\n", rlen);
        memcpy(rbuf + rlen, buf + start, len - start);
        struct ts_http_response res = {.headers = h, .num_headers = 16};
        assert_true(ts_http_parse_response(rbuf, rlen + len - start, &res) > 0);
        assert_int_equal(res.noted.seen, 0);
    }
}

/* ts_http_request_header: a parsed request's header from its notes; one
 * whose headers were changed since, or built by hand, by its name. */
static void test_request_header_noted_or_looked_up(void **state)
{
    (void)state;
    static const char head[] = "GET /chat HTTP/1.1\r\nHost: h\r\nUPGRADE: websocket\r\n"
                               "Upgrade: h2c\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n";
    struct ts_http_header h[8];
    struct ts_http_request req = {.headers = h, .num_headers = 8};
    assert_int_equal(ts_http_parse_request(head, sizeof head - 1, &req), sizeof head - 1);
    assert_ptr_equal(ts_http_request_header(&req, TS_HTTP_NOTE_UPGRADE, "upgrade"), &h[1]);
    assert_ptr_equal(ts_http_request_header(&req, TS_HTTP_NOTE_X_FORWARDED_FOR, "x-forwarded-for"),
                     &h[3]);
    assert_null(ts_http_request_header(&req, TS_HTTP_NOTE_FORWARDED, "forwarded"));

    /* the first header dropped: the notes no longer hold, the name is looked for */
    struct ts_http_request moved = req;
    moved.headers = h + 1;
    moved.num_headers = req.num_headers - 1;
    assert_ptr_equal(ts_http_request_header(&moved, TS_HTTP_NOTE_UPGRADE, "upgrade"), &h[1]);
    assert_null(ts_http_request_header(&moved, TS_HTTP_NOTE_HOST, "host"));

    /* built by hand, no notes at all */
    struct ts_http_header mine[] = {{"Connection", 10, "upgrade", 7}, {"upgrade", 7, "ws", 2}};
    struct ts_http_request built = {.method = "GET",
                                    .method_len = 3,
                                    .target = "/",
                                    .target_len = 1,
                                    .headers = mine,
                                    .num_headers = 2};
    assert_ptr_equal(ts_http_request_header(&built, TS_HTTP_NOTE_UPGRADE, "upgrade"), &mine[1]);
}

/* A response parsed for its framing keeps only the headers that frame
 * it, while every line still counts against the capacity. */
static void test_response_framing_only(void **state)
{
    (void)state;
    static const char head[] = "HTTP/1.1 200 OK\r\nServer: x\r\ncontent-length: 7\r\n"
                               "Accept-Charset: y\r\nTransfer-Encoding: gzip, chunked\r\n"
                               "Content-Length:  7 \r\n\r\nbody";
    struct ts_http_header h[5];
    struct ts_http_response res = {.headers = h, .num_headers = 5};
    int n = ts_http_parse_response_framing(head, sizeof head - 1, &res);
    assert_int_equal(n, sizeof head - 1 - 4);
    assert_int_equal(res.status, 200);
    assert_int_equal(res.num_headers, 3);
    assert_int_equal(h[0].name_len, 14);
    assert_memory_equal(h[1].value, "gzip, chunked", h[1].value_len);
    assert_memory_equal(h[2].value, "7", h[2].value_len);
    assert_int_equal(res.noted.cl_first, 0);
    assert_int_equal(res.noted.cl_count, 2);
    assert_int_equal(res.noted.te_first, 1);
    struct ts_http_body body;
    assert_int_equal(ts_http_response_body(&res, "GET", 3, &body), 0);
    assert_int_equal(body.kind, TS_BODY_CHUNKED);
    /* five lines, room for four: refused, as the full parse refuses it */
    res.num_headers = 4;
    assert_int_equal(ts_http_parse_response_framing(head, sizeof head - 1, &res), TS_HTTP_ERROR);
    /* the other lines are split at their '\n', not checked: one the full
     * parse refuses still leaves the framing readable */
    static const char odd[] = "HTTP/1.1 200 OK\r\nServer: a\x01b\r\nNo colon\r\n"
                              "Content-Length: 3\r\n\r\nabc";
    struct ts_http_header full_h[5];
    struct ts_http_response full = {.headers = full_h, .num_headers = 5};
    assert_int_equal(ts_http_parse_response(odd, sizeof odd - 1, &full), TS_HTTP_ERROR);
    res.num_headers = 5;
    assert_int_equal(ts_http_parse_response_framing(odd, sizeof odd - 1, &res), sizeof odd - 1 - 3);
    assert_int_equal(res.num_headers, 1);
    assert_int_equal(ts_http_response_body(&res, "GET", 3, &body), 0);
    assert_int_equal(body.kind, TS_BODY_LENGTH);
    assert_int_equal(body.remaining, 3);
    /* ... and until its blank line is in, such a head is incomplete */
    res.num_headers = 5;
    assert_int_equal(ts_http_parse_response_framing(odd, sizeof odd - 1 - 5, &res),
                     TS_HTTP_INCOMPLETE);
    /* the status line is checked as the full parse checks it */
    static const char bad_status[] = "HTTP/1.1 20x OK\r\nContent-Length: 3\r\n\r\n";
    assert_int_equal(ts_http_parse_response_framing(bad_status, sizeof bad_status - 1, &res),
                     TS_HTTP_ERROR);
    /* a name with a blank before its colon is no Content-Length */
    static const char spaced[] = "HTTP/1.1 200 OK\r\nContent-Length : 3\r\n\r\n";
    res.num_headers = 5;
    assert_true(ts_http_parse_response_framing(spaced, sizeof spaced - 1, &res) > 0);
    assert_int_equal(res.num_headers, 0);
}

/* ------------------------------------------- against the old parsers */

/* The framing-only parse of a response (ts_http_parse_response_framing)
 * against the full one, whose result r and fields are in *full: where the
 * full parse accepts a head or finds it incomplete, the same result and
 * fields, of the headers exactly the full parse's
 * Content-Length and Transfer-Encoding ones in their order, notes about
 * those, and the same body framing for a GET and for a HEAD. */
static void check_framing_parse_same(const char *buf, size_t len, size_t cap,
                                     const struct ts_http_response *full, int r)
{
    enum { CAP_MAX = 24 };
    struct ts_http_header h[CAP_MAX];
    struct ts_http_response q;
    memset(&q, 0x5a, sizeof q);
    q.headers = h;
    q.num_headers = cap;
    int rf = ts_http_parse_response_framing(buf, len, &q);
    if (r == TS_HTTP_ERROR) {
        /* Lines the full parse refuses are not checked here: whatever it
         * makes of them, a head within the buffer or no head. */
        if (rf == 0 || rf > (int)len)
            fail_msg("framing-only response of %zu bytes (cap %zu): %d, the full parse refused it",
                     len, cap, rf);
        return;
    }
    if (rf != r)
        fail_msg("framing-only response of %zu bytes (cap %zu): %d, the full parse %d:\n%.*s", len,
                 cap, rf, r, (int)len, buf);
    if (r <= 0)
        return;
    assert_int_equal(q.minor_version, full->minor_version);
    assert_int_equal(q.status, full->status);
    assert_ptr_equal(q.reason, full->reason);
    assert_int_equal(q.reason_len, full->reason_len);
    size_t kept = 0;
    for (size_t i = 0; i < full->num_headers; i++) {
        const struct ts_http_header *f = &full->headers[i];
        if (!TS_HTTP_NAMED(f, "content-length") && !TS_HTTP_NAMED(f, "transfer-encoding"))
            continue;
        assert_true(kept < q.num_headers);
        assert_memory_equal(&q.headers[kept], f, sizeof *f);
        kept++;
    }
    assert_int_equal(q.num_headers, kept);
    assert_true(ts_http_notes_hold(&q.noted, q.headers, q.num_headers));
    assert_int_equal(q.noted.cl_count, full->noted.cl_count);
    assert_int_equal(q.noted.te_count, full->noted.te_count);
    if (q.noted.cl_count)
        assert_true(TS_HTTP_NAMED(&q.headers[q.noted.cl_first], "content-length"));
    else
        assert_int_equal(q.noted.cl_first, kept);
    if (q.noted.te_count)
        assert_true(TS_HTTP_NAMED(&q.headers[q.noted.te_first], "transfer-encoding"));
    else
        assert_int_equal(q.noted.te_first, kept);
    static const char *const methods[] = {"GET", "HEAD"};
    for (int m = 0; m < 2; m++) {
        struct ts_http_body b[2];
        int fr[2] = {
            ts_http_response_body(full, methods[m], strlen(methods[m]), &b[0]),
            ts_http_response_body(&q, methods[m], strlen(methods[m]), &b[1]),
        };
        assert_int_equal(fr[0], fr[1]);
        assert_memory_equal(&b[0], &b[1], sizeof b[0]);
    }
}

/* Both parses of buf[0..len) (an exact-size heap copy: ASan sees any read
 * past the end), today's and the reference's (http1_ref.h), into header
 * arrays of cap entries that start alike: the same result, the same
 * header array (also what an error left in it), and on success the same
 * fields and Content-Length / Transfer-Encoding notes. */
static void check_same_as_ref(const char *s, size_t len, size_t cap, bool request)
{
    enum { CAP_MAX = 24 };
    char *buf = malloc(len ? len : 1);
    assert_non_null(buf);
    memcpy(buf, s, len);
    struct ts_http_header h[2][CAP_MAX];
    memset(h, 0xa5, sizeof h);
    int r[2];
    struct ts_http_noted nt[2];
    if (request) {
        struct ts_http_request q[2];
        memset(q, 0x5a, sizeof q);
        for (int k = 0; k < 2; k++) {
            q[k].headers = h[k];
            q[k].num_headers = cap;
        }
        r[0] = ts_http_parse_request(buf, len, &q[0]);
        r[1] = ref_http_parse_request(buf, len, &q[1]);
        if (r[0] > 0 && r[0] == r[1]) {
            assert_ptr_equal(q[0].method, q[1].method);
            assert_int_equal(q[0].method_len, q[1].method_len);
            assert_ptr_equal(q[0].target, q[1].target);
            assert_int_equal(q[0].target_len, q[1].target_len);
            assert_int_equal(q[0].minor_version, q[1].minor_version);
            assert_int_equal(q[0].num_headers, q[1].num_headers);
        }
        nt[0] = q[0].noted;
        nt[1] = q[1].noted;
    } else {
        struct ts_http_response q[2];
        memset(q, 0x5a, sizeof q);
        for (int k = 0; k < 2; k++) {
            q[k].headers = h[k];
            q[k].num_headers = cap;
        }
        r[0] = ts_http_parse_response(buf, len, &q[0]);
        r[1] = ref_http_parse_response(buf, len, &q[1]);
        if (r[0] > 0 && r[0] == r[1]) {
            assert_int_equal(q[0].minor_version, q[1].minor_version);
            assert_int_equal(q[0].status, q[1].status);
            assert_ptr_equal(q[0].reason, q[1].reason);
            assert_int_equal(q[0].reason_len, q[1].reason_len);
            assert_int_equal(q[0].num_headers, q[1].num_headers);
        }
        nt[0] = q[0].noted;
        nt[1] = q[1].noted;
        check_framing_parse_same(buf, len, cap, &q[0], r[0]);
    }
    if (r[0] != r[1])
        fail_msg("%s of %zu bytes (cap %zu): %d, the reference %d:\n%.*s",
                 request ? "request" : "response", len, cap, r[0], r[1], (int)len, s);
    if (memcmp(h[0], h[1], sizeof h[0]) != 0)
        fail_msg("%s of %zu bytes (cap %zu): other headers than the reference's:\n%.*s",
                 request ? "request" : "response", len, cap, (int)len, s);
    if (r[0] > 0) {
        assert_ptr_equal(nt[0].headers, h[0]);
        assert_ptr_equal(nt[1].headers, h[1]);
        assert_int_equal(nt[0].count, nt[1].count);
        assert_int_equal(nt[0].cl_first, nt[1].cl_first);
        assert_int_equal(nt[0].cl_count, nt[1].cl_count);
        assert_int_equal(nt[0].te_first, nt[1].te_first);
        assert_int_equal(nt[0].te_count, nt[1].te_count);
    }
    free(buf);
}

/* Every prefix of a head, as a request and as a response (the start line
 * replaced), with room for every header and for fewer. */
static void check_prefixes_same_as_ref(const char *lines, size_t lines_len, size_t caps_upto)
{
    static const char *const starts[] = {"GET /a/b?c=1 HTTP/1.1\r\n", "HTTP/1.1 200 OK\r\n"};
    char buf[1024];
    for (int k = 0; k < 2; k++) {
        size_t sl = strlen(starts[k]);
        assert_true(sl + lines_len <= sizeof buf);
        memcpy(buf, starts[k], sl);
        memcpy(buf + sl, lines, lines_len);
        size_t len = sl + lines_len;
        for (size_t n = 0; n <= len; n++)
            check_same_as_ref(buf, n, 24, k == 0);
        for (size_t cap = 0; cap <= caps_upto && cap < 24; cap++)
            check_same_as_ref(buf, len, cap, k == 0);
    }
}

/* Bytes that matter to a header line, for generated lines and mutations:
 * line ends, the colon, blanks, controls, DEL, obs-text, the rarer
 * tchars, the name characters and the bounds of their ranges. */
static const unsigned char edge_bytes[] = {
    '\r', '\n', ':', ' ', '\t', 0x00, 0x01, 0x0b, 0x1f, 0x7f, 0x80, 0xa0, 0xff, '_', '!',
    '~',  '.',  '@', '[', '`',  '{',  '/',  '0',  '9',  'a',  'z',  'A',  'Z',  '-', '"',
};

/* One generated header line into buf: names of 0 to 20 bytes (to either
 * side of a block), values of 0 to 40, each blank-padded or not, ending
 * in CRLF or LF, now and then with an edge byte anywhere in it. */
static size_t gen_line(uint64_t *seed, char *buf)
{
    static const char name_chars[] =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-";
    static const char value_chars[] = "abcXYZ019 -_/.;=,\"()*";
    size_t n = 0;
    uint64_t r = rng_next(seed);
    size_t name_len = r % 21, value_len = (r >> 8) % 41;
    for (size_t i = 0; i < name_len; i++)
        buf[n++] = name_chars[rng_next(seed) % (sizeof name_chars - 1)];
    buf[n++] = ':';
    static const char *const ows[] = {"", " ", "  ", "\t", " \t "};
    const char *lead = ows[(r >> 16) % 5], *trail = ows[(r >> 20) % 5];
    memcpy(buf + n, lead, strlen(lead));
    n += strlen(lead);
    for (size_t i = 0; i < value_len; i++)
        buf[n++] = value_chars[rng_next(seed) % (sizeof value_chars - 1)];
    memcpy(buf + n, trail, strlen(trail));
    n += strlen(trail);
    if ((r >> 24) % 4 == 0) {
        buf[n++] = '\n';
    } else {
        buf[n++] = '\r';
        buf[n++] = '\n';
    }
    if ((r >> 28) % 6 == 0) /* an edge byte anywhere in the line */
        buf[(r >> 32) % n] = (char)edge_bytes[(r >> 40) % sizeof edge_bytes];
    return n;
}

/* Today's parsers against the reference on heads of generated lines and
 * on mutated real ones (bytes replaced, inserted, removed): every prefix,
 * every capacity, both directions. */
static void test_heads_same_as_ref(void **state)
{
    (void)state;
    static const char *const real[] = {
        "Server: nginx/1.22.1\r\nDate: Sun, 22 Nov 2026 07:00:00 GMT\r\n"
        "Content-Type: text/html\r\nContent-Length: 1024\r\n"
        "Last-Modified: Sun, 22 Nov 2026 06:00:00 GMT\r\nConnection: keep-alive\r\n"
        "ETag: \"6739ab12-400\"\r\nAccept-Ranges: bytes\r\n\r\n",
        "Host: 127.0.0.1\r\nUser-Agent: bench/1\r\nAccept: */*\r\n\r\n",
        "Host: a\nTransfer-Encoding: chunked\nX_Under: 1\nx-b3-traceid: 0af7651916cd43dd\n\n",
        "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n"
        "A-Very-Long-Header-Name-Indeed: \t v a l u e \t \r\nK:\r\nK2: \r\nE:v\r\n\r\n",
        "Obs: caf\xc3\xa9 \xff\x80\r\nTabs:\ta\tb\t\r\n\r\n",
    };
    /* One line of each kind the parsers reject or treat apart, after a
     * line of every length from 5 to 36 bytes, so that each falls at
     * every offset in a block and near the buffer's end. */
#define ODD(lit)                                                                                   \
    {                                                                                              \
        lit, sizeof lit - 1                                                                        \
    }
    static const struct {
        const char *s;
        size_t len;
    } odd[] = {
        ODD("No-Colon\r\n"),
        ODD(": empty-name\r\n"),
        ODD("Blank : before\r\n"),
        ODD(" obs-fold\r\n"),
        ODD("\tobs-fold\r\n"),
        ODD("Ctl: a\x01b\r\n"),
        ODD("Nul: a\0b\r\n"),
        ODD("Del: a\x7f\r\n"),
        ODD("Cr: a\rb\r\n"),
        ODD("Bare-Cr: a\r"),
        ODD("Lf-Only: a\n"),
        ODD("Rare_tchar!~: v\r\n"),
        ODD("Sixteen-Byte-Nam: v\r\n"),
        ODD("Seventeen-Byte-Na: v\r\n"),
        ODD("Empty:\r\n"),
        ODD("Blanks: \t \r\n"),
        ODD("Obs: \x80\xff\r\n"),
        ODD("Tab\tin: name\r\n"),
        ODD("\r"),
        ODD("\rX"),
        ODD("\n"),
    };
#undef ODD
    for (size_t i = 0; i < sizeof odd / sizeof *odd; i++) {
        char buf[128];
        for (size_t pad = 0; pad < 32; pad++) {
            size_t n = (size_t)snprintf(buf, sizeof buf, "X: %.*s\r\n", (int)pad,
                                        "abcdefghijklmnopqrstuvwxyz0123456789");
            memcpy(buf + n, odd[i].s, odd[i].len);
            n += odd[i].len;
            memcpy(buf + n, "\r\n", 2);
            check_prefixes_same_as_ref(buf, n + 2, 2);
        }
    }

    uint64_t seed = 0x2545f4914f6cdd1dull;
    for (size_t i = 0; i < sizeof real / sizeof *real; i++) {
        const char *lines = real[i];
        size_t len = strlen(lines);
        check_prefixes_same_as_ref(lines, len, 12);
        char buf[512];
        for (int m = 0; m < 300; m++) {
            memcpy(buf, lines, len);
            size_t n = len;
            for (int k = 0; k < 1 + (int)(rng_next(&seed) % 3); k++) {
                uint64_t r = rng_next(&seed);
                size_t at = (r >> 8) % n;
                unsigned char b = edge_bytes[(r >> 24) % sizeof edge_bytes];
                if (r % 3 == 0) {
                    buf[at] = (char)b;
                } else if (r % 3 == 1 && n < sizeof buf) {
                    memmove(buf + at + 1, buf + at, n - at);
                    buf[at] = (char)b;
                    n++;
                } else if (n > 1) {
                    memmove(buf + at, buf + at + 1, n - at - 1);
                    n--;
                }
            }
            check_prefixes_same_as_ref(buf, n, 2);
        }
    }
    for (int round = 0; round < 600; round++) {
        char buf[900];
        size_t n = 0;
        int lines = (int)(rng_next(&seed) % 9);
        for (int k = 0; k < lines; k++)
            n += gen_line(&seed, buf + n);
        memcpy(buf + n, rng_next(&seed) % 4 ? "\r\n" : "\n", 2);
        n += buf[n] == '\r' ? 2 : 1;
        check_prefixes_same_as_ref(buf, n, 2);
    }
}

/* Status lines with every three of a few bytes where the code goes
 * (digits, '0' first, letters, blanks, line ends), each prefix against
 * the reference. */
static void test_status_codes_same_as_ref(void **state)
{
    (void)state;
    static const char bytes[] = "0129a /\r:";
    char buf[64];
    for (size_t i = 0; i < sizeof bytes - 1; i++) {
        for (size_t j = 0; j < sizeof bytes - 1; j++) {
            for (size_t k = 0; k < sizeof bytes - 1; k++) {
                int n = snprintf(buf, sizeof buf, "HTTP/1.1 %c%c%c OK\r\nA: b\r\n\r\n", bytes[i],
                                 bytes[j], bytes[k]);
                for (int len = 0; len <= n; len++)
                    check_same_as_ref(buf, (size_t)len, 24, false);
            }
        }
    }
}

/* Start lines of every shape the fast paths read (http1.c) and of the
 * shapes next to them, followed by a header line and the blank line,
 * each prefix against the reference: methods and targets of 0 to 40
 * bytes (a method ending at either side of a block), versions, line ends
 * and reasons of 0 to 40 bytes, now and then with an edge byte anywhere
 * in the line; so the line's end falls at every offset of a block and the
 * buffer ends inside its first block and just past it. */
static void test_start_lines_same_as_ref(void **state)
{
    (void)state;
    static const char word_chars[] =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-/?=&.";
    static const char *const versions[] = {"HTTP/1.1", "HTTP/1.0", "HTTP/1.9", "HTTP/1.x",
                                           "HTTP/2.0", "HTTP/1.",  "http/1.1", "HTTP/1.10"};
    static const char *const ends[] = {"\r\n", "\n", "\r", " \r\n", "\r\r\n"};
    static const char *const reasons[] = {"OK",
                                          "",
                                          "Not Found",
                                          "Internal Server Error",
                                          "A reason of exactly thirty-one b",
                                          "x\ty",
                                          "caf\xc3\xa9"};
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    char buf[256];
    for (int round = 0; round < 3000; round++) {
        uint64_t r = rng_next(&seed);
        size_t n = 0;
        bool request = r & 1;
        if (r & 2)
            n += (size_t)sprintf(buf, (r & 4) ? "\r\n" : "\n"); /* an empty line first */
        if (request) {
            static const char *const methods[] = {"GET", "GETS", "GE", "get", "POST"};
            size_t method_len = (r >> 8) % 19, target_len = (r >> 16) % 41;
            if ((r >> 60) % 2) { /* a known method, or one next to GET */
                n += (size_t)sprintf(buf + n, "%s", methods[(r >> 5) % 5]);
                method_len = 0;
            }
            for (size_t i = 0; i < method_len; i++)
                buf[n++] = word_chars[rng_next(&seed) % 52]; /* letters */
            buf[n++] = ' ';
            if (target_len)
                buf[n++] = '/';
            for (size_t i = 1; i < target_len; i++)
                buf[n++] = word_chars[rng_next(&seed) % (sizeof word_chars - 1)];
            n += (size_t)sprintf(buf + n, " %s", versions[(r >> 24) % 8]);
        } else {
            unsigned status = 100 + (unsigned)((r >> 8) % 900);
            const char *reason = reasons[(r >> 24) % 7];
            if ((r >> 28) % 3 == 0) /* a reason of any length from 0 to 40 */
                reason = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKL" + (r >> 32) % 40;
            static const char *const usual[] = {"HTTP/1.1 200 OK", "HTTP/1.1 200 OKAY",
                                                "HTTP/1.1 200 O", "HTTP/1.0 200 OK",
                                                "HTTP/1.1 201 OK"};
            if ((r >> 60) % 2) /* the usual status line, or one next to it */
                n += (size_t)sprintf(buf + n, "%s", usual[(r >> 5) % 5]);
            else
                n += (size_t)sprintf(buf + n, "%s %u%s%s", versions[(r >> 40) % 8], status,
                                     (r >> 44) % 5 ? " " : "", reason);
        }
        n += (size_t)sprintf(buf + n, "%sA: b\r\n\r\n", ends[(r >> 48) % 5]);
        if ((r >> 52) % 5 == 0) /* an edge byte anywhere in the head */
            buf[(r >> 56) % n] = (char)edge_bytes[rng_next(&seed) % sizeof edge_bytes];
        for (size_t len = 0; len <= n; len++)
            check_same_as_ref(buf, len, 24, request);
    }
}

/* The notes of a head that failed (incomplete, invalid) never hold, also
 * in a request that held notes of a head parsed before it. */
static void test_notes_of_a_failed_head_never_hold(void **state)
{
    (void)state;
    struct ts_http_header h[8];
    const char *ok = "GET / HTTP/1.1\r\nContent-Length: 1\r\nHost: a\r\n\r\n";
    const char *bad = "GET / HTTP/1.1\r\nContent-Length: 2\r\nHost: a\x01\r\n\r\n";
    for (size_t n = 0; n <= strlen(bad); n++) {
        struct ts_http_request req = {.headers = h, .num_headers = 8};
        assert_true(ts_http_parse_request(ok, strlen(ok), &req) > 0);
        assert_true(ts_http_notes_hold(&req.noted, req.headers, req.num_headers));
        req.num_headers = 2; /* the count of the first head, the room of the next */
        assert_true(ts_http_parse_request(bad, n, &req) < 0);
        assert_false(ts_http_notes_hold(&req.noted, req.headers, req.num_headers));
        struct ts_http_body body;
        assert_int_equal(ts_http_request_body(&req, &body), 0);
        assert_int_equal(body.kind, TS_BODY_LENGTH); /* from the walk over what is there */
    }
}

/* Every prefix of a request and of a response head ending at the last
 * byte of a page whose next page cannot be read (without ASan too): the
 * fast paths read blocks of sixteen bytes, never one past the end; each
 * parse as the reference's. */
static void test_heads_ending_at_a_page_end(void **state)
{
    (void)state;
    static const char *const heads[] = {
        "GET /api/items/42 HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: bench/1\r\n"
        "Accept: */*\r\n\r\n",
        "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nContent-Length: 1024\r\n"
        "Connection: keep-alive\r\nETag: \"6739ab12-400\"\r\n\r\n",
    };
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    char *map = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(map != MAP_FAILED);
    assert_int_equal(mprotect(map + page, page, PROT_NONE), 0);
    for (int k = 0; k < 2; k++) {
        size_t len = strlen(heads[k]);
        for (size_t n = 1; n <= len; n++) {
            char *at = map + page - n;
            memcpy(at, heads[k], n);
            struct ts_http_header h[2][MAX_H];
            memset(h, 0, sizeof h);
            int r[2];
            if (k == 0) {
                struct ts_http_request q[2] = {{.headers = h[0], .num_headers = MAX_H},
                                               {.headers = h[1], .num_headers = MAX_H}};
                r[0] = ts_http_parse_request(at, n, &q[0]);
                r[1] = ref_http_parse_request(at, n, &q[1]);
            } else {
                struct ts_http_response q[2] = {{.headers = h[0], .num_headers = MAX_H},
                                                {.headers = h[1], .num_headers = MAX_H}};
                r[0] = ts_http_parse_response(at, n, &q[0]);
                r[1] = ref_http_parse_response(at, n, &q[1]);
            }
            assert_int_equal(r[0], r[1]);
            assert_memory_equal(h[0], h[1], sizeof h[0]);
        }
    }
    munmap(map, 2 * page);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_basic),
        cmocka_unit_test(test_request_lf_and_versions),
        cmocka_unit_test(test_response_basic),
        cmocka_unit_test(test_split_every_offset),
        cmocka_unit_test(test_invalid_requests),
        cmocka_unit_test(test_every_byte_in_long_fields),
        cmocka_unit_test(test_every_byte_in_long_names),
        cmocka_unit_test(test_every_byte_in_short_fields),
        cmocka_unit_test(test_tabs_inside_long_values),
        cmocka_unit_test(test_long_value_prefixes),
        cmocka_unit_test(test_invalid_responses),
        cmocka_unit_test(test_too_many_headers),
        cmocka_unit_test(test_looks_like_request),
        cmocka_unit_test(test_method_known),
        cmocka_unit_test(test_looks_like_response),
        cmocka_unit_test(test_inject_offset),
        cmocka_unit_test(test_find_header),
        cmocka_unit_test(test_value_has_token),
        cmocka_unit_test(test_target_path),
        cmocka_unit_test(test_target_path_every_position),
        cmocka_unit_test(test_target_authority),
        cmocka_unit_test(test_notes_find_first_of_each),
        cmocka_unit_test(test_request_header_noted_or_looked_up),
        cmocka_unit_test(test_heads_same_as_ref),
        cmocka_unit_test(test_status_codes_same_as_ref),
        cmocka_unit_test(test_start_lines_same_as_ref),
        cmocka_unit_test(test_notes_of_a_failed_head_never_hold),
        cmocka_unit_test(test_heads_ending_at_a_page_end),
        cmocka_unit_test(test_request_framing),
        cmocka_unit_test(test_content_length_every_digit_count),
        cmocka_unit_test(test_response_framing),
        cmocka_unit_test(test_response_framing_only),
        cmocka_unit_test(test_feed_simple_kinds),
        cmocka_unit_test(test_chunked_splits),
        cmocka_unit_test(test_chunked_state_after_end),
        cmocka_unit_test(test_chunked_malformed),
        cmocka_unit_test(test_chunked_line_limit_same_for_every_line),
        cmocka_unit_test(test_noted_framing_matches_walk),
        cmocka_unit_test(test_noted_heads_reject_as_before),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
