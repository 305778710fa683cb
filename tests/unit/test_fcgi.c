/* test_fcgi.c — unit tests of hooks/fcgi.h: FastCGI request heads, response
 * heads, the records after them, and the PARAMS record that carries trace
 * context, each against bytes built here by a small encoder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "hooks/fcgi.h"
#include "hooks/http1.h"

#define MAX_H 16
#define NAMES 256
#define PAD_BYTE 0xee /* padding that is never read as content */

/* ------------------------------------------------------------ encoder */

struct enc {
    char b[24576];
    size_t n;
};

static void put(struct enc *e, const void *p, size_t n)
{
    assert_true(e->n + n <= sizeof e->b);
    if (n)
        memcpy(e->b + e->n, p, n);
    e->n += n;
}

static void put_byte(struct enc *e, unsigned v)
{
    uint8_t c = (uint8_t)v;
    put(e, &c, 1);
}

static void put_str(struct enc *e, const char *s)
{
    put(e, s, strlen(s));
}

/* A record header: version, type, request id, content length, padding. */
static void rec_header(struct enc *e, unsigned version, unsigned type, unsigned id, size_t clen,
                       unsigned pad)
{
    assert_true(clen <= 0xffff && pad <= 0xff);
    uint8_t h[8] = {
        (uint8_t)version,     (uint8_t)type,          (uint8_t)(id >> 8), (uint8_t)(id & 0xff),
        (uint8_t)(clen >> 8), (uint8_t)(clen & 0xff), (uint8_t)pad,       0};
    put(e, h, 8);
}

static void put_pad(struct enc *e, unsigned pad)
{
    for (unsigned i = 0; i < pad; i++)
        put_byte(e, PAD_BYTE);
}

/* A whole record: header, content, padding. Returns the content's offset. */
static size_t record(struct enc *e, unsigned type, unsigned id, const void *c, size_t clen,
                     unsigned pad)
{
    rec_header(e, TS_FCGI_VERSION, type, id, clen, pad);
    size_t at = e->n;
    put(e, c, clen);
    put_pad(e, pad);
    return at;
}

static unsigned pad8(size_t clen)
{
    return (unsigned)((8 - clen % 8) % 8);
}

static void begin_request_v(struct enc *e, unsigned version, unsigned id, unsigned role,
                            unsigned flags)
{
    uint8_t c[8] = {(uint8_t)(role >> 8), (uint8_t)(role & 0xff), (uint8_t)flags, 0, 0, 0, 0, 0};
    rec_header(e, version, TS_FCGI_BEGIN_REQUEST, id, 8, 0);
    put(e, c, 8);
}

static void begin_request(struct enc *e, unsigned id, unsigned role, unsigned flags)
{
    begin_request_v(e, TS_FCGI_VERSION, id, role, flags);
}

static void end_request(struct enc *e, unsigned id, uint32_t app_status, unsigned proto_status)
{
    uint8_t c[8] = {(uint8_t)(app_status >> 24),
                    (uint8_t)(app_status >> 16),
                    (uint8_t)(app_status >> 8),
                    (uint8_t)app_status,
                    (uint8_t)proto_status,
                    0,
                    0,
                    0};
    record(e, TS_FCGI_END_REQUEST, id, c, 8, 0);
}

/* A name-value pair's length: one byte below 128, else four with the high
 * bit set. */
static void put_len(struct enc *e, size_t n)
{
    if (n < 128) {
        put_byte(e, (unsigned)n);
    } else {
        put_byte(e, 0x80u | (unsigned)(n >> 24));
        put_byte(e, (unsigned)(n >> 16) & 0xff);
        put_byte(e, (unsigned)(n >> 8) & 0xff);
        put_byte(e, (unsigned)n & 0xff);
    }
}

/* A name-value pair; returns the value's offset in e. */
static size_t pair(struct enc *e, const char *name, const char *value)
{
    size_t nl = strlen(name), vl = strlen(value);
    put_len(e, nl);
    put_len(e, vl);
    put(e, name, nl);
    size_t at = e->n;
    put(e, value, vl);
    return at;
}

struct var {
    const char *name, *value;
};

/* A request head as a web server sends one, and where its parts are. */
struct head {
    struct enc e;
    size_t value_at[64]; /* each variable's value, as an offset in e */
    size_t params_end;   /* offset of the empty PARAMS record */
    size_t head_len;     /* through the empty PARAMS record */
};

/* BEGIN_REQUEST, the variables in PARAMS records (a new record before
 * variable i when bit i of cuts is set), each padded to 8 when pad, the
 * empty PARAMS record, then an empty STDIN record. */
static void build_head(struct head *h, unsigned id, unsigned flags, const struct var *v, size_t nv,
                       uint64_t cuts, bool pad)
{
    memset(h, 0, sizeof *h);
    assert_true(nv <= 64);
    begin_request(&h->e, id, TS_FCGI_ROLE_RESPONDER, flags);
    size_t i = 0;
    while (i < nv) {
        struct enc c = {.n = 0};
        size_t off[64];
        size_t first = i;
        do {
            off[i] = pair(&c, v[i].name, v[i].value);
            i++;
        } while (i < nv && !(cuts & (UINT64_C(1) << i)));
        size_t at = record(&h->e, TS_FCGI_PARAMS, id, c.b, c.n, pad ? pad8(c.n) : 0);
        for (size_t k = first; k < i; k++)
            h->value_at[k] = at + off[k];
    }
    h->params_end = h->e.n;
    rec_header(&h->e, TS_FCGI_VERSION, TS_FCGI_PARAMS, id, 0, 0);
    h->head_len = h->e.n;
    rec_header(&h->e, TS_FCGI_VERSION, TS_FCGI_STDIN, id, 0, 0);
}

/* What nginx's fastcgi_params (with fastcgi_pass) sends for
 * curl -H 'X-B3-TraceId: ...' -H 'traceparent: ...' localhost:8080/index.php?a=1 */
static const struct var nginx_vars[] = {
    {"SCRIPT_FILENAME", "/var/www/html/index.php"},
    {"QUERY_STRING", "a=1"},
    {"REQUEST_METHOD", "GET"},
    {"CONTENT_TYPE", ""},
    {"CONTENT_LENGTH", ""},
    {"SCRIPT_NAME", "/index.php"},
    {"REQUEST_URI", "/index.php?a=1"},
    {"DOCUMENT_URI", "/index.php"},
    {"DOCUMENT_ROOT", "/var/www/html"},
    {"SERVER_PROTOCOL", "HTTP/1.1"},
    {"REQUEST_SCHEME", "http"},
    {"GATEWAY_INTERFACE", "CGI/1.1"},
    {"SERVER_SOFTWARE", "nginx/1.22.1"},
    {"REMOTE_ADDR", "127.0.0.1"},
    {"REMOTE_PORT", "40312"},
    {"SERVER_ADDR", "127.0.0.1"},
    {"SERVER_PORT", "8080"},
    {"SERVER_NAME", "localhost"},
    {"REDIRECT_STATUS", "200"},
    {"HTTP_HOST", "localhost:8080"},
    {"HTTP_USER_AGENT", "curl/7.88.1"},
    {"HTTP_ACCEPT", "*/*"},
    {"HTTP_X_B3_TRACEID", "80f198ee56343ba864fe8b2a57d3eff7"},
    {"HTTP_TRACEPARENT", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
};
#define NGINX_NV (sizeof nginx_vars / sizeof *nginx_vars)
#define NGINX_METHOD 2
#define NGINX_URI 6
#define NGINX_REMOTE_ADDR 13 /* then REMOTE_PORT, SERVER_ADDR, SERVER_PORT */
#define NGINX_FIRST_HTTP 19
#define NGINX_HEADERS 5
/* host, user-agent, accept, x-b3-traceid, traceparent */
#define NGINX_NAMES_LEN (4 + 10 + 6 + 12 + 11)
static const char *const nginx_header_names[NGINX_HEADERS] = {"host", "user-agent", "accept",
                                                              "x-b3-traceid", "traceparent"};

/* ------------------------------------------------------------ parsing */

struct parsed {
    char *copy; /* the bytes parsed: a heap copy of exactly their length */
    int r;
    struct ts_fcgi_request req;
    struct ts_http_header h[MAX_H];
    char names[NAMES + 32];
};

/* Parse s[0..len) from a heap copy of exactly len bytes (ASan catches a
 * read past the end), with room for cap headers and names_cap bytes of
 * names; the names buffer past names_cap is a canary. */
static int parse_req(struct parsed *p, const char *s, size_t len, size_t cap, size_t names_cap)
{
    assert_true(cap <= MAX_H && names_cap <= NAMES);
    p->copy = malloc(len ? len : 1);
    assert_non_null(p->copy);
    memcpy(p->copy, s, len);
    memset(&p->req, 0xa5, sizeof p->req);
    memset(p->h, 0xa5, sizeof p->h);
    memset(p->names, 0x5a, sizeof p->names);
    p->req.http.headers = p->h;
    p->req.http.num_headers = cap;
    p->r = ts_fcgi_parse_request(p->copy, len, &p->req, p->names, names_cap);
    for (size_t i = names_cap; i < sizeof p->names; i++)
        assert_int_equal((unsigned char)p->names[i], 0x5a);
    return p->r;
}

static int req_result(const char *s, size_t len)
{
    struct parsed p;
    int r = parse_req(&p, s, len, MAX_H, NAMES);
    free(p.copy);
    return r;
}

static void assert_span(const char *p, size_t n, const char *want)
{
    assert_non_null(p);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(p, want, n);
}

static bool within(const char *p, size_t n, const char *buf, size_t len)
{
    return p >= buf && n <= len && (size_t)(p - buf) <= len - n;
}

/* The header names of a parsed head lie in its names buffer. */
static void assert_names_in_buffer(const struct parsed *p, size_t names_cap)
{
    for (size_t i = 0; i < p->req.http.num_headers; i++)
        assert_true(within(p->h[i].name, p->h[i].name_len, p->names, names_cap));
}

/* The nginx head's fields, parsed from p->copy (a copy of h). */
static void assert_nginx_fields(const struct parsed *p, const struct head *h, size_t first_header)
{
    const struct ts_fcgi_request *req = &p->req;
    const char *buf = p->copy;
    assert_ptr_equal(req->http.method, buf + h->value_at[NGINX_METHOD]);
    assert_span(req->http.method, req->http.method_len, "GET");
    assert_ptr_equal(req->http.target, buf + h->value_at[NGINX_URI]);
    assert_span(req->http.target, req->http.target_len, "/index.php?a=1");
    assert_int_equal(req->http.minor_version, 1);
    assert_ptr_equal(req->http.headers, p->h);
    assert_ptr_equal(req->remote_addr, buf + h->value_at[NGINX_REMOTE_ADDR]);
    assert_span(req->remote_addr, req->remote_addr_len, "127.0.0.1");
    assert_ptr_equal(req->remote_port, buf + h->value_at[NGINX_REMOTE_ADDR + 1]);
    assert_span(req->remote_port, req->remote_port_len, "40312");
    assert_ptr_equal(req->server_port, buf + h->value_at[NGINX_REMOTE_ADDR + 3]);
    assert_span(req->server_port, req->server_port_len, "8080");
    for (size_t k = 0; k < NGINX_HEADERS; k++) {
        const struct ts_http_header *hd = &p->h[first_header + k];
        const struct var *v = &nginx_vars[NGINX_FIRST_HTTP + k];
        assert_span(hd->name, hd->name_len, nginx_header_names[k]);
        assert_ptr_equal(hd->value, buf + h->value_at[NGINX_FIRST_HTTP + k]);
        assert_span(hd->value, hd->value_len, v->value);
    }
}

/* -------------------------------------------------- looks_like_request */

static const uint8_t begin_bytes[16] = {1, 1, 0, 1, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0};

static bool looks(const uint8_t *b, size_t len)
{
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, b, len);
    bool r = ts_fcgi_looks_like_request(copy, len);
    free(copy);
    return r;
}

/* b (16 bytes) looks like a request up to its byte bad, not from there on */
static void assert_looks_until(const uint8_t *b, size_t bad)
{
    for (size_t len = 0; len <= 16; len++)
        assert_int_equal(looks(b, len), len <= bad);
}

static void test_looks_like_request(void **state)
{
    (void)state;
    assert_true(ts_fcgi_looks_like_request("", 0));
    for (size_t len = 1; len <= 10; len++)
        assert_true(looks(begin_bytes, len));
    assert_true(looks(begin_bytes, 16));
    /* nginx's: keep-conn flag, request id 1; and one followed by PARAMS */
    uint8_t b[24];
    memcpy(b, begin_bytes, 16);
    b[10] = TS_FCGI_KEEP_CONN;
    const uint8_t params[8] = {1, 4, 0, 1, 0x02, 0x10, 0, 0};
    memcpy(b + 16, params, 8);
    assert_true(looks(b, 16));
    assert_true(looks(b, 24));
    /* another request id (high byte only, low byte only) */
    memcpy(b, begin_bytes, 16);
    b[2] = 0x12;
    b[3] = 0;
    assert_true(looks(b, 16));

    /* wrong version: the first byte */
    memcpy(b, begin_bytes, 16);
    b[0] = 2;
    assert_looks_until(b, 0);
    b[0] = 0;
    assert_looks_until(b, 0);
    /* wrong type: ABORT_REQUEST, PARAMS */
    memcpy(b, begin_bytes, 16);
    b[1] = TS_FCGI_ABORT_REQUEST;
    assert_looks_until(b, 1);
    b[1] = TS_FCGI_PARAMS;
    assert_looks_until(b, 1);
    /* request id 0: only its second byte tells */
    memcpy(b, begin_bytes, 16);
    b[3] = 0;
    assert_looks_until(b, 3);
    /* content length 16, 0, 0x0108 */
    memcpy(b, begin_bytes, 16);
    b[5] = 16;
    assert_looks_until(b, 5);
    b[5] = 0;
    assert_looks_until(b, 5);
    b[4] = 1;
    b[5] = 8;
    assert_looks_until(b, 4);
    /* role AUTHORIZER (2), FILTER (3), 0x0101 */
    memcpy(b, begin_bytes, 16);
    b[9] = 2;
    assert_looks_until(b, 9);
    b[9] = 3;
    assert_looks_until(b, 9);
    b[8] = 1;
    b[9] = 1;
    assert_looks_until(b, 8);
    /* HTTP */
    const char get[] = "GET / HTTP/1.1\r\n\r\n";
    for (size_t len = 1; len <= strlen(get); len++)
        assert_false(looks((const uint8_t *)get, len));
    const char post[] = "POST /x HTTP/1.1\r\n";
    assert_false(looks((const uint8_t *)post, 1));
}

/* ---------------------------------------------------- parse_request */

static void test_request_nginx_head(void **state)
{
    (void)state;
    struct head h;
    build_head(&h, 1, 0, nginx_vars, NGINX_NV, 0, true);
    /* one PARAMS record padded to 8 */
    assert_int_equal(h.params_end % 8, 0);
    size_t clen = (size_t)((unsigned char)h.e.b[16 + 4] << 8 | (unsigned char)h.e.b[16 + 5]);
    assert_int_equal((unsigned char)h.e.b[16 + 6], pad8(clen));
    assert_int_not_equal(pad8(clen), 0); /* there is padding to skip */
    struct parsed p;
    int r = parse_req(&p, h.e.b, h.e.n, MAX_H, NAMES);
    assert_int_equal(r, (int)h.head_len);
    assert_int_equal(r, (int)h.e.n - 8); /* the empty STDIN is not the head's */
    assert_int_equal(p.req.params_end, h.head_len - 8);
    assert_int_equal(p.req.params_end, h.params_end);
    assert_int_equal(p.req.request_id, 1);
    assert_false(p.req.keep_conn);
    assert_int_equal(p.req.http.num_headers, NGINX_HEADERS);
    assert_nginx_fields(&p, &h, 0);
    assert_names_in_buffer(&p, NAMES);
    /* CONTENT_LENGTH, CONTENT_TYPE and the other CGI variables are no headers */
    assert_null(ts_http_find_header(p.h, p.req.http.num_headers, "content-length"));
    assert_null(ts_http_find_header(p.h, p.req.http.num_headers, "content_length"));
    assert_null(ts_http_find_header(p.h, p.req.http.num_headers, "content-type"));
    assert_null(ts_http_find_header(p.h, p.req.http.num_headers, "server-name"));
    /* noted left empty: lookups read every header */
    assert_null(p.req.http.noted.headers);
    const struct ts_http_header *tp =
        ts_http_request_header(&p.req.http, TS_HTTP_NOTE_TRACEPARENT, "traceparent");
    assert_ptr_equal(tp, &p.h[4]);
    const struct ts_http_header *b3 =
        ts_http_request_header(&p.req.http, TS_HTTP_NOTE_B3_TRACE_ID, "x-b3-traceid");
    assert_ptr_equal(b3, &p.h[3]);
    free(p.copy);

    /* without the trailing STDIN: the same */
    r = parse_req(&p, h.e.b, h.head_len, MAX_H, NAMES);
    assert_int_equal(r, (int)h.head_len);
    assert_nginx_fields(&p, &h, 0);
    free(p.copy);

    /* every proper prefix is incomplete */
    for (size_t k = 0; k < h.head_len; k++)
        assert_int_equal(req_result(h.e.b, k), TS_HTTP_INCOMPLETE);
}

static void test_request_id_and_keep_conn(void **state)
{
    (void)state;
    struct head h;
    build_head(&h, 0x0102, TS_FCGI_KEEP_CONN, nginx_vars, NGINX_NV, 0, true);
    struct parsed p;
    assert_int_equal(parse_req(&p, h.e.b, h.e.n, MAX_H, NAMES), (int)h.head_len);
    assert_int_equal(p.req.request_id, 0x0102);
    assert_true(p.req.keep_conn);
    assert_nginx_fields(&p, &h, 0);
    free(p.copy);

    build_head(&h, 0xfffe, 0, nginx_vars, NGINX_NV, 0, false);
    assert_int_equal(parse_req(&p, h.e.b, h.e.n, MAX_H, NAMES), (int)h.head_len);
    assert_int_equal(p.req.request_id, 0xfffe);
    assert_false(p.req.keep_conn);
    free(p.copy);
}

static void test_request_params_in_several_records(void **state)
{
    (void)state;
    /* records of 1, 5, 13 and 5 variables; with padding to 8, then without */
    uint64_t cuts = (UINT64_C(1) << 1) | (UINT64_C(1) << 6) | (UINT64_C(1) << 19);
    for (int pad = 0; pad < 2; pad++) {
        struct head h;
        build_head(&h, 7, 0, nginx_vars, NGINX_NV, cuts, pad);
        struct parsed p;
        assert_int_equal(parse_req(&p, h.e.b, h.e.n, MAX_H, NAMES), (int)h.head_len);
        assert_int_equal(p.req.params_end, h.params_end);
        assert_int_equal(p.req.request_id, 7);
        assert_int_equal(p.req.http.num_headers, NGINX_HEADERS);
        assert_nginx_fields(&p, &h, 0);
        free(p.copy);
        for (size_t k = 0; k < h.head_len; k++)
            assert_int_equal(req_result(h.e.b, k), TS_HTTP_INCOMPLETE);
    }
    /* every variable in a record of its own */
    struct head h;
    build_head(&h, 1, 0, nginx_vars, NGINX_NV, ~UINT64_C(0), true);
    struct parsed p;
    assert_int_equal(parse_req(&p, h.e.b, h.e.n, MAX_H, NAMES), (int)h.head_len);
    assert_nginx_fields(&p, &h, 0);
    free(p.copy);
}

static void test_request_odd_padding(void **state)
{
    (void)state;
    /* padding of any length is skipped: 255 after a PARAMS record */
    struct enc e = {.n = 0};
    begin_request(&e, 1, TS_FCGI_ROLE_RESPONDER, 0);
    struct enc c = {.n = 0};
    size_t m = pair(&c, "REQUEST_METHOD", "PUT");
    size_t t = pair(&c, "REQUEST_URI", "/p");
    size_t at = record(&e, TS_FCGI_PARAMS, 1, c.b, c.n, 255);
    c.n = 0;
    size_t v = pair(&c, "HTTP_X_A", "b");
    size_t at2 = record(&e, TS_FCGI_PARAMS, 1, c.b, c.n, 1);
    size_t end = e.n;
    rec_header(&e, TS_FCGI_VERSION, TS_FCGI_PARAMS, 1, 0, 0);
    struct parsed p;
    assert_int_equal(parse_req(&p, e.b, e.n, MAX_H, NAMES), (int)e.n);
    assert_int_equal(p.req.params_end, end);
    assert_ptr_equal(p.req.http.method, p.copy + at + m);
    assert_span(p.req.http.method, p.req.http.method_len, "PUT");
    assert_ptr_equal(p.req.http.target, p.copy + at + t);
    assert_int_equal(p.req.http.num_headers, 1);
    assert_span(p.h[0].name, p.h[0].name_len, "x-a");
    assert_ptr_equal(p.h[0].value, p.copy + at2 + v);
    free(p.copy);
    for (size_t k = 0; k < e.n; k++)
        assert_int_equal(req_result(e.b, k), TS_HTTP_INCOMPLETE);
}

/* A head of these variables, one PARAMS record. */
static int parse_vars(struct parsed *p, struct head *h, const struct var *v, size_t nv)
{
    build_head(h, 1, 0, v, nv, 0, true);
    return parse_req(p, h->e.b, h->e.n, MAX_H, NAMES);
}

static void parse_vars_ok(struct parsed *p, struct head *h, const struct var *v, size_t nv)
{
    int r = parse_vars(p, h, v, nv);
    assert_int_equal(r, (int)h->head_len);
}

static void test_request_target_fallbacks(void **state)
{
    (void)state;
    struct head h;
    struct parsed p;
    /* DOCUMENT_URI before REQUEST_URI in the stream: REQUEST_URI all the same */
    const struct var all[] = {{"SCRIPT_NAME", "/s.php"},
                              {"DOCUMENT_URI", "/doc.php"},
                              {"REQUEST_METHOD", "POST"},
                              {"REQUEST_URI", "/r?x=%20"}};
    parse_vars_ok(&p, &h, all, 4);
    assert_ptr_equal(p.req.http.target, p.copy + h.value_at[3]);
    assert_span(p.req.http.target, p.req.http.target_len, "/r?x=%20");
    assert_span(p.req.http.method, p.req.http.method_len, "POST");
    assert_int_equal(p.req.http.num_headers, 0);
    free(p.copy);

    const struct var doc[] = {
        {"SCRIPT_NAME", "/s.php"}, {"REQUEST_METHOD", "GET"}, {"DOCUMENT_URI", "/doc.php"}};
    parse_vars_ok(&p, &h, doc, 3);
    assert_ptr_equal(p.req.http.target, p.copy + h.value_at[2]);
    assert_span(p.req.http.target, p.req.http.target_len, "/doc.php");
    free(p.copy);

    const struct var script[] = {{"REQUEST_METHOD", "GET"}, {"SCRIPT_NAME", "/s.php"}};
    parse_vars_ok(&p, &h, script, 2);
    assert_ptr_equal(p.req.http.target, p.copy + h.value_at[1]);
    assert_span(p.req.http.target, p.req.http.target_len, "/s.php");
    free(p.copy);

    const struct var none[] = {{"REQUEST_METHOD", "GET"}, {"QUERY_STRING", "/nope"}};
    parse_vars_ok(&p, &h, none, 2);
    assert_span(p.req.http.target, p.req.http.target_len, "/");
    assert_false(within(p.req.http.target, 1, p.copy, h.e.n)); /* a static string */
    /* no REMOTE_ADDR, REMOTE_PORT, SERVER_PORT */
    assert_null(p.req.remote_addr);
    assert_int_equal(p.req.remote_addr_len, 0);
    assert_null(p.req.remote_port);
    assert_int_equal(p.req.remote_port_len, 0);
    assert_null(p.req.server_port);
    assert_int_equal(p.req.server_port_len, 0);
    free(p.copy);

    /* an IPv6 client, the port alone */
    const struct var conn[] = {{"REMOTE_PORT", "51000"},
                               {"REQUEST_METHOD", "GET"},
                               {"REMOTE_ADDR", "::1"},
                               {"SERVER_ADDR", "::1"}};
    parse_vars_ok(&p, &h, conn, 4);
    assert_ptr_equal(p.req.remote_addr, p.copy + h.value_at[2]);
    assert_span(p.req.remote_addr, p.req.remote_addr_len, "::1");
    assert_ptr_equal(p.req.remote_port, p.copy + h.value_at[0]);
    assert_span(p.req.remote_port, p.req.remote_port_len, "51000");
    assert_null(p.req.server_port);
    assert_int_equal(p.req.server_port_len, 0);
    free(p.copy);
}

static void test_request_minor_version(void **state)
{
    (void)state;
    static const struct {
        const char *protocol; /* NULL: no SERVER_PROTOCOL */
        int minor;
    } cases[] = {
        {"HTTP/1.1", 1}, {"HTTP/1.0", 0},   {"HTTP/2.0", -1}, {"HTTP/0.9", -1},
        {"HTTP/1.", -1}, {"HTTP/1.1x", -1}, {"", -1},         {NULL, -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct var v[3] = {{"REQUEST_METHOD", "GET"}, {"REQUEST_URI", "/"}, {NULL, NULL}};
        size_t nv = 2;
        if (cases[i].protocol)
            v[nv++] = (struct var){"SERVER_PROTOCOL", cases[i].protocol};
        struct head h;
        struct parsed p;
        parse_vars_ok(&p, &h, v, nv);
        if (p.req.http.minor_version != cases[i].minor)
            fail_msg("SERVER_PROTOCOL %s: minor_version %d, want %d",
                     cases[i].protocol ? cases[i].protocol : "(none)", p.req.http.minor_version,
                     cases[i].minor);
        free(p.copy);
    }
}

static void test_request_values_trimmed(void **state)
{
    (void)state;
    const struct var v[] = {
        {"REQUEST_METHOD", "GET"}, {"HTTP_X_PAD", " \t spaced  value \t "},
        {"HTTP_X_BLANK", "  \t "}, {"HTTP_X_EMPTY", ""},
        {"HTTP_X_TIGHT", "v"},     {"HTTP_ACCEPT_ENCODING", "gzip, br"},
    };
    struct head h;
    struct parsed p;
    parse_vars_ok(&p, &h, v, 6);
    assert_int_equal(p.req.http.num_headers, 5);
    assert_span(p.h[0].name, p.h[0].name_len, "x-pad");
    assert_ptr_equal(p.h[0].value, p.copy + h.value_at[1] + 3);
    assert_span(p.h[0].value, p.h[0].value_len, "spaced  value");
    assert_span(p.h[1].name, p.h[1].name_len, "x-blank");
    assert_int_equal(p.h[1].value_len, 0);
    assert_span(p.h[2].name, p.h[2].name_len, "x-empty");
    assert_int_equal(p.h[2].value_len, 0);
    assert_span(p.h[3].name, p.h[3].name_len, "x-tight");
    assert_ptr_equal(p.h[3].value, p.copy + h.value_at[4]);
    assert_int_equal(p.h[3].value_len, 1);
    assert_span(p.h[4].name, p.h[4].name_len, "accept-encoding");
    assert_span(p.h[4].value, p.h[4].value_len, "gzip, br");
    assert_names_in_buffer(&p, NAMES);
    /* names one after another: 5 + 7 + 7 + 7 + 15 bytes fit exactly */
    free(p.copy);
    assert_int_equal(parse_req(&p, h.e.b, h.e.n, MAX_H, 5 + 7 + 7 + 7 + 15), (int)h.head_len);
    assert_span(p.h[4].name, p.h[4].name_len, "accept-encoding");
    free(p.copy);
}

static void test_request_long_values(void **state)
{
    (void)state;
    /* values of 127, 128 and 300 bytes: 1-byte and 4-byte lengths */
    static char v127[128], v128[129], v300[301];
    memset(v127, 'a', 127);
    memset(v128, 'b', 128);
    memset(v300, 'c', 300);
    static char longname[200];
    memset(longname, 'Z', sizeof longname - 1);
    memcpy(longname, "HTTP_", 5);
    const struct var v[] = {
        {"REQUEST_METHOD", "GET"}, {"REQUEST_URI", v300}, {"HTTP_A", v127},
        {"HTTP_B", v128},          {longname, "x"},
    };
    struct head h;
    struct parsed p;
    parse_vars_ok(&p, &h, v, 5);
    assert_ptr_equal(p.req.http.target, p.copy + h.value_at[1]);
    assert_int_equal(p.req.http.target_len, 300);
    assert_int_equal(p.req.http.num_headers, 3);
    assert_ptr_equal(p.h[0].value, p.copy + h.value_at[2]);
    assert_int_equal(p.h[0].value_len, 127);
    assert_ptr_equal(p.h[1].value, p.copy + h.value_at[3]);
    assert_int_equal(p.h[1].value_len, 128);
    assert_int_equal(p.h[2].name_len, sizeof longname - 1 - 5);
    for (size_t i = 0; i < p.h[2].name_len; i++)
        assert_int_equal(p.h[2].name[i], 'z');
    free(p.copy);
    for (size_t k = 0; k < h.head_len; k++)
        assert_int_equal(req_result(h.e.b, k), TS_HTTP_INCOMPLETE);
}

static void test_request_capacity(void **state)
{
    (void)state;
    struct head h;
    build_head(&h, 1, 0, nginx_vars, NGINX_NV, 0, true);
    struct parsed p;
    /* exactly as many headers as there is room for */
    assert_int_equal(parse_req(&p, h.e.b, h.e.n, NGINX_HEADERS, NAMES), (int)h.head_len);
    assert_int_equal(p.req.http.num_headers, NGINX_HEADERS);
    free(p.copy);
    /* one more HTTP_ variable than that */
    assert_int_equal(parse_req(&p, h.e.b, h.e.n, NGINX_HEADERS - 1, NAMES), TS_HTTP_ERROR);
    free(p.copy);
    assert_int_equal(parse_req(&p, h.e.b, h.e.n, 0, NAMES), TS_HTTP_ERROR);
    free(p.copy);
    /* names: exactly their bytes, and one byte fewer */
    assert_int_equal(parse_req(&p, h.e.b, h.e.n, MAX_H, NGINX_NAMES_LEN), (int)h.head_len);
    assert_nginx_fields(&p, &h, 0);
    assert_names_in_buffer(&p, NGINX_NAMES_LEN);
    free(p.copy);
    assert_int_equal(parse_req(&p, h.e.b, h.e.n, MAX_H, NGINX_NAMES_LEN - 1), TS_HTTP_ERROR);
    free(p.copy);
    assert_int_equal(parse_req(&p, h.e.b, h.e.n, MAX_H, 0), TS_HTTP_ERROR);
    free(p.copy);
    /* no HTTP_ variables: no room needed */
    const struct var v[] = {{"REQUEST_METHOD", "GET"}, {"CONTENT_LENGTH", "12"}};
    build_head(&h, 1, 0, v, 2, 0, true);
    assert_int_equal(parse_req(&p, h.e.b, h.e.n, 0, 0), (int)h.head_len);
    assert_int_equal(p.req.http.num_headers, 0);
    free(p.copy);
}

static void test_request_no_method(void **state)
{
    (void)state;
    struct var v[NGINX_NV];
    memcpy(v, nginx_vars, sizeof v);
    v[NGINX_METHOD].name = "REQUEST_METHOX";
    struct head h;
    build_head(&h, 1, 0, v, NGINX_NV, 0, true);
    assert_int_equal(req_result(h.e.b, h.e.n), TS_HTTP_ERROR);
    assert_int_equal(req_result(h.e.b, h.head_len), TS_HTTP_ERROR);
    /* not a single variable */
    build_head(&h, 1, 0, v, 0, 0, true);
    assert_int_equal(h.head_len, 24);
    assert_int_equal(req_result(h.e.b, h.head_len), TS_HTTP_ERROR);
}

/* The nginx head with, before its empty PARAMS record, the record rec
 * (whole, or only its first cut bytes when cut is given). */
static size_t nginx_with_record(struct enc *out, const struct enc *rec, size_t cut)
{
    struct head h;
    build_head(&h, 1, 0, nginx_vars, NGINX_NV, 0, true);
    out->n = 0;
    put(out, h.e.b, h.params_end);
    put(out, rec->b, cut ? cut : rec->n);
    if (!cut)
        put(out, h.e.b + h.params_end, h.head_len - h.params_end);
    return h.params_end;
}

static void test_request_other_records(void **state)
{
    (void)state;
    struct enc rec, e;
    /* STDIN before the PARAMS stream ends: as soon as its header is there */
    rec.n = 0;
    record(&rec, TS_FCGI_STDIN, 1, "a=b", 3, 5);
    nginx_with_record(&e, &rec, 0);
    assert_int_equal(req_result(e.b, e.n), TS_HTTP_ERROR);
    nginx_with_record(&e, &rec, 8);
    assert_int_equal(req_result(e.b, e.n), TS_HTTP_ERROR);
    /* an empty STDIN in place of the empty PARAMS */
    rec.n = 0;
    rec_header(&rec, TS_FCGI_VERSION, TS_FCGI_STDIN, 1, 0, 0);
    nginx_with_record(&e, &rec, 8);
    assert_int_equal(req_result(e.b, e.n), TS_HTTP_ERROR);
    /* DATA, ABORT_REQUEST, a second BEGIN_REQUEST */
    rec.n = 0;
    record(&rec, TS_FCGI_DATA, 1, "xy", 2, 0);
    nginx_with_record(&e, &rec, 0);
    assert_int_equal(req_result(e.b, e.n), TS_HTTP_ERROR);
    rec.n = 0;
    record(&rec, TS_FCGI_ABORT_REQUEST, 1, "", 0, 0);
    nginx_with_record(&e, &rec, 0);
    assert_int_equal(req_result(e.b, e.n), TS_HTTP_ERROR);
    rec.n = 0;
    begin_request(&rec, 1, TS_FCGI_ROLE_RESPONDER, 0);
    nginx_with_record(&e, &rec, 0);
    assert_int_equal(req_result(e.b, e.n), TS_HTTP_ERROR);
    /* PARAMS of another request id */
    struct enc c = {.n = 0};
    pair(&c, "HTTP_X_OTHER", "1");
    rec.n = 0;
    record(&rec, TS_FCGI_PARAMS, 2, c.b, c.n, pad8(c.n));
    nginx_with_record(&e, &rec, 0);
    assert_int_equal(req_result(e.b, e.n), TS_HTTP_ERROR);
    nginx_with_record(&e, &rec, 8);
    assert_int_equal(req_result(e.b, e.n), TS_HTTP_ERROR);
    /* the empty PARAMS of another request id */
    rec.n = 0;
    rec_header(&rec, TS_FCGI_VERSION, TS_FCGI_PARAMS, 0x0101, 0, 0);
    nginx_with_record(&e, &rec, 8);
    assert_int_equal(req_result(e.b, e.n), TS_HTTP_ERROR);
    /* a PARAMS record of version 2 */
    rec.n = 0;
    rec_header(&rec, 2, TS_FCGI_PARAMS, 1, c.n, 0);
    put(&rec, c.b, c.n);
    nginx_with_record(&e, &rec, 0);
    assert_int_equal(req_result(e.b, e.n), TS_HTTP_ERROR);
    /* and the same record of version 1 is fine (the control case) */
    rec.n = 0;
    record(&rec, TS_FCGI_PARAMS, 1, c.b, c.n, 0);
    nginx_with_record(&e, &rec, 0);
    struct parsed p;
    assert_int_equal(parse_req(&p, e.b, e.n, MAX_H, NAMES), (int)e.n);
    assert_int_equal(p.req.http.num_headers, NGINX_HEADERS + 1);
    assert_span(p.h[NGINX_HEADERS].name, p.h[NGINX_HEADERS].name_len, "x-other");
    free(p.copy);

    /* STDIN right after BEGIN_REQUEST: no PARAMS at all */
    e.n = 0;
    begin_request(&e, 1, TS_FCGI_ROLE_RESPONDER, 0);
    rec_header(&e, TS_FCGI_VERSION, TS_FCGI_STDIN, 1, 0, 0);
    assert_int_equal(req_result(e.b, e.n), TS_HTTP_ERROR);
}

static void test_request_pairs_past_content(void **state)
{
    (void)state;
    struct enc e, c;
    /* a pair split between two PARAMS records */
    e.n = 0;
    begin_request(&e, 1, TS_FCGI_ROLE_RESPONDER, 0);
    c.n = 0;
    pair(&c, "REQUEST_METHOD", "GET");
    size_t whole = c.n;
    pair(&c, "HTTP_HOST", "example.com");
    size_t cut = whole + 5; /* inside HTTP_HOST's name */
    record(&e, TS_FCGI_PARAMS, 1, c.b, cut, 0);
    record(&e, TS_FCGI_PARAMS, 1, c.b + cut, c.n - cut, 0);
    rec_header(&e, TS_FCGI_VERSION, TS_FCGI_PARAMS, 1, 0, 0);
    assert_int_equal(req_result(e.b, e.n), TS_HTTP_ERROR);
    /* the control: the same pairs cut between them */
    e.n = 0;
    begin_request(&e, 1, TS_FCGI_ROLE_RESPONDER, 0);
    record(&e, TS_FCGI_PARAMS, 1, c.b, whole, 0);
    record(&e, TS_FCGI_PARAMS, 1, c.b + whole, c.n - whole, 0);
    rec_header(&e, TS_FCGI_VERSION, TS_FCGI_PARAMS, 1, 0, 0);
    assert_int_equal(req_result(e.b, e.n), (int)e.n);

    /* cut inside the value, and inside the lengths */
    size_t cuts[] = {whole + 1, whole + 2, whole + 2 + 9, c.n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        e.n = 0;
        begin_request(&e, 1, TS_FCGI_ROLE_RESPONDER, 0);
        record(&e, TS_FCGI_PARAMS, 1, c.b, cuts[i], pad8(cuts[i]));
        record(&e, TS_FCGI_PARAMS, 1, c.b + cuts[i], c.n - cuts[i], 0);
        rec_header(&e, TS_FCGI_VERSION, TS_FCGI_PARAMS, 1, 0, 0);
        assert_int_equal(req_result(e.b, e.n), TS_HTTP_ERROR);
    }

    /* a value length past the record's content, the empty PARAMS after */
    e.n = 0;
    begin_request(&e, 1, TS_FCGI_ROLE_RESPONDER, 0);
    c.n = 0;
    pair(&c, "REQUEST_METHOD", "GET");
    put_len(&c, 9);
    put_len(&c, 50); /* 50 claimed, 10 there */
    put_str(&c, "HTTP_HOSTexample.c");
    record(&e, TS_FCGI_PARAMS, 1, c.b, c.n, pad8(c.n));
    rec_header(&e, TS_FCGI_VERSION, TS_FCGI_PARAMS, 1, 0, 0);
    assert_int_equal(req_result(e.b, e.n), TS_HTTP_ERROR);
    /* a 4-byte length (name) past the content */
    e.n = 0;
    begin_request(&e, 1, TS_FCGI_ROLE_RESPONDER, 0);
    c.n = 0;
    pair(&c, "REQUEST_METHOD", "GET");
    put_len(&c, 1000);
    put_len(&c, 1);
    put_str(&c, "HTTP_X");
    record(&e, TS_FCGI_PARAMS, 1, c.b, c.n, 0);
    rec_header(&e, TS_FCGI_VERSION, TS_FCGI_PARAMS, 1, 0, 0);
    assert_int_equal(req_result(e.b, e.n), TS_HTTP_ERROR);
    /* the content ends inside a 4-byte length */
    e.n = 0;
    begin_request(&e, 1, TS_FCGI_ROLE_RESPONDER, 0);
    c.n = 0;
    pair(&c, "REQUEST_METHOD", "GET");
    put_byte(&c, 0x80);
    put_byte(&c, 0);
    record(&e, TS_FCGI_PARAMS, 1, c.b, c.n, 6);
    rec_header(&e, TS_FCGI_VERSION, TS_FCGI_PARAMS, 1, 0, 0);
    assert_int_equal(req_result(e.b, e.n), TS_HTTP_ERROR);
    /* a length of 2^31 - 1 */
    e.n = 0;
    begin_request(&e, 1, TS_FCGI_ROLE_RESPONDER, 0);
    c.n = 0;
    pair(&c, "REQUEST_METHOD", "GET");
    put_len(&c, 6);
    const uint8_t huge[4] = {0xff, 0xff, 0xff, 0xff};
    put(&c, huge, 4);
    put_str(&c, "HTTP_Xabcdef");
    record(&e, TS_FCGI_PARAMS, 1, c.b, c.n, 0);
    rec_header(&e, TS_FCGI_VERSION, TS_FCGI_PARAMS, 1, 0, 0);
    assert_int_equal(req_result(e.b, e.n), TS_HTTP_ERROR);
}

static void test_request_bad_begin(void **state)
{
    (void)state;
    struct head good;
    build_head(&good, 1, 0, nginx_vars, NGINX_NV, 0, true);
    struct enc e;
    static const unsigned roles[] = {0, 2, 3, 0x0101};
    for (size_t i = 0; i < sizeof roles / sizeof *roles; i++) {
        e.n = 0;
        begin_request(&e, 1, roles[i], 0);
        put(&e, good.e.b + 16, good.head_len - 16);
        assert_int_equal(req_result(e.b, e.n), TS_HTTP_ERROR);
        assert_int_equal(req_result(e.b, 16), TS_HTTP_ERROR);
    }
    /* version 2; version 0 */
    e.n = 0;
    begin_request_v(&e, 2, 1, TS_FCGI_ROLE_RESPONDER, 0);
    put(&e, good.e.b + 16, good.head_len - 16);
    assert_int_equal(req_result(e.b, e.n), TS_HTTP_ERROR);
    assert_int_equal(req_result(e.b, 1), TS_HTTP_ERROR);
    e.b[0] = 0;
    assert_int_equal(req_result(e.b, e.n), TS_HTTP_ERROR);
    /* request id 0, in every record */
    struct head zero;
    build_head(&zero, 0, 0, nginx_vars, NGINX_NV, 0, true);
    assert_int_equal(req_result(zero.e.b, zero.e.n), TS_HTTP_ERROR);
    assert_int_equal(req_result(zero.e.b, 4), TS_HTTP_ERROR);
    /* BEGIN_REQUEST's content 16 bytes long */
    e.n = 0;
    uint8_t c16[16] = {0, 1};
    record(&e, TS_FCGI_BEGIN_REQUEST, 1, c16, 16, 0);
    put(&e, good.e.b + 16, good.head_len - 16);
    assert_int_equal(req_result(e.b, e.n), TS_HTTP_ERROR);
    /* a PARAMS record first */
    assert_int_equal(req_result(good.e.b + 16, good.head_len - 16), TS_HTTP_ERROR);
    /* HTTP */
    const char get[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(req_result(get, strlen(get)), TS_HTTP_ERROR);
}

/* ---------------------------------------------------- parse_response */

struct rparsed {
    char *copy;
    int r;
    int status;
    struct ts_http_body rest;
};

static int parse_res(struct rparsed *p, const char *s, size_t len)
{
    p->copy = malloc(len ? len : 1);
    assert_non_null(p->copy);
    memcpy(p->copy, s, len);
    p->status = -7;
    memset(&p->rest, 0xa5, sizeof p->rest);
    p->r = ts_fcgi_parse_response(p->copy, len, &p->status, &p->rest);
    return p->r;
}

static int res_result(const char *s, size_t len)
{
    struct rparsed p;
    int r = parse_res(&p, s, len);
    free(p.copy);
    return r;
}

/* A record before any output at s (after `before` bytes of empty STDOUT
 * records), ending at `end`: returned on its own, its header as the head
 * (status 0), its content and padding a body of its own that ends at its
 * end and takes nothing after it. */
static void assert_record_alone(const char *s, size_t len, size_t before, size_t end)
{
    struct rparsed p;
    size_t header = before + TS_FCGI_HEADER_LEN;
    assert_int_equal(parse_res(&p, s, len), (int)header);
    assert_int_equal(p.status, 0);
    if (end == header) {
        assert_int_equal(p.rest.kind, TS_BODY_NONE);
    } else {
        assert_true(ts_fcgi_body_is_record_alone(&p.rest));
        bool done = false;
        assert_int_equal(ts_http_body_feed(&p.rest, s + header, len - header, &done),
                         (ssize_t)(end - header));
        assert_true(done);
    }
    free(p.copy);
    for (size_t k = 0; k < header; k++)
        assert_int_equal(res_result(s, k), TS_HTTP_INCOMPLETE);
}

/* Feed s[0..len) to a copy of body whole, then byte by byte and in pieces
 * of 3: each takes exactly want bytes (want <= len), done at the last of
 * them and not before; after the end nothing more is taken. */
static void assert_walk(const struct ts_http_body *body, const char *s, size_t len, size_t want)
{
    char *buf = malloc(len ? len : 1);
    assert_non_null(buf);
    memcpy(buf, s, len);
    struct ts_http_body b = *body;
    bool done = false;
    assert_int_equal(ts_http_body_feed(&b, buf, len, &done), (ssize_t)want);
    assert_true(done);
    done = false;
    assert_int_equal(ts_http_body_feed(&b, buf + want, len - want, &done), 0);

    for (size_t piece = 1; piece <= 3; piece += 2) {
        b = *body;
        size_t pos = 0, total = 0;
        bool ended = false;
        while (pos < len) {
            size_t n = len - pos < piece ? len - pos : piece;
            done = false;
            ssize_t r = ts_http_body_feed(&b, buf + pos, n, &done);
            assert_true(r >= 0 && (size_t)r <= n);
            if (ended) {
                assert_int_equal(r, 0);
            } else {
                total += (size_t)r;
                if (done) {
                    ended = true;
                    assert_int_equal(total, want);
                } else {
                    assert_int_equal(r, (ssize_t)n);
                    assert_true(total < want);
                }
            }
            pos += n;
        }
        assert_true(ended);
        assert_int_equal(total, want);
    }
    free(buf);
}

/* A response stream: STDOUT records of these contents (padding pad
 * each), the empty STDOUT, END_REQUEST, then extra bytes. */
static void build_response(struct enc *e, const char *const *out, size_t n, unsigned pad,
                           const char *extra)
{
    e->n = 0;
    for (size_t i = 0; i < n; i++)
        record(e, TS_FCGI_STDOUT, 1, out[i], strlen(out[i]), pad);
    rec_header(e, TS_FCGI_VERSION, TS_FCGI_STDOUT, 1, 0, 0);
    end_request(e, 1, 0, 0);
    if (extra)
        put_str(e, extra);
}

static const char php_out[] = "X-Powered-By: PHP/8.2.0\r\n"
                              "Content-type: text/html; charset=UTF-8\r\n"
                              "\r\n"
                              "hello";

static void test_response_php(void **state)
{
    (void)state;
    const char *out[] = {php_out};
    struct enc e;
    build_response(&e, out, 1, 0, NULL);
    size_t head = 8 + strlen(php_out) - 5;
    struct rparsed p;
    assert_int_equal(parse_res(&p, e.b, e.n), (int)head);
    assert_int_equal(p.status, 200);
    assert_int_equal(p.rest.kind, TS_BODY_FCGI);
    assert_false(ts_http_body_blind(&p.rest));
    /* the rest: "hello", the empty STDOUT, END_REQUEST */
    assert_walk(&p.rest, e.b + head, e.n - head, e.n - head);
    free(p.copy);
    for (size_t k = 0; k < head; k++)
        assert_int_equal(res_result(e.b, k), TS_HTTP_INCOMPLETE);
    /* the head alone, and the head and part of the rest */
    assert_int_equal(res_result(e.b, head), (int)head);
    assert_int_equal(res_result(e.b, head + 2), (int)head);

    /* the next response on the connection after it is not this one's */
    size_t end = e.n;
    build_response(&e, out, 1, 0, NULL);
    record(&e, TS_FCGI_STDOUT, 1, "more!", 5, 3);
    assert_int_equal(parse_res(&p, e.b, e.n), (int)head);
    assert_walk(&p.rest, e.b + head, e.n - head, end - head);
    free(p.copy);

    /* with padding, and a body in more records, STDERR among them */
    e.n = 0;
    record(&e, TS_FCGI_STDOUT, 1, php_out, strlen(php_out), pad8(strlen(php_out)));
    record(&e, TS_FCGI_STDERR, 1, "PHP Notice: x\n", 14, 2);
    record(&e, TS_FCGI_STDOUT, 1, " world", 6, 255);
    rec_header(&e, TS_FCGI_VERSION, TS_FCGI_STDOUT, 1, 0, 0);
    rec_header(&e, TS_FCGI_VERSION, TS_FCGI_STDERR, 1, 0, 0);
    end_request(&e, 1, 0, 0);
    end = e.n;
    put_str(&e, "next");
    assert_int_equal(parse_res(&p, e.b, e.n), (int)head);
    assert_int_equal(p.status, 200);
    assert_walk(&p.rest, e.b + head, e.n - head, end - head);
    free(p.copy);
    for (size_t k = 0; k < head; k++)
        assert_int_equal(res_result(e.b, k), TS_HTTP_INCOMPLETE);

    /* END_REQUEST with padding: done after it */
    e.n = 0;
    record(&e, TS_FCGI_STDOUT, 1, php_out, strlen(php_out), 3);
    rec_header(&e, TS_FCGI_VERSION, TS_FCGI_STDOUT, 1, 0, 0);
    const uint8_t ended[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    record(&e, TS_FCGI_END_REQUEST, 1, ended, 8, 8);
    end = e.n;
    put_str(&e, "\x01\x06");
    assert_int_equal(parse_res(&p, e.b, e.n), (int)head);
    assert_walk(&p.rest, e.b + head, e.n - head, end - head);
    free(p.copy);
}

static int status_of(const char *out)
{
    const char *o[] = {out};
    struct enc e;
    build_response(&e, o, 1, pad8(strlen(out)), NULL);
    struct rparsed p;
    int r = parse_res(&p, e.b, e.n);
    const char *body = strstr(out, "\r\n\r\n");
    size_t head = body ? (size_t)(body - out) + 4 : (size_t)(strstr(out, "\n\n") - out) + 2;
    /* a head that ends with its record's content: through the padding
     * after it or not, either is a length the rest's framing follows */
    bool at_end = head == strlen(out);
    if (r != (int)(8 + head) && !(at_end && r == (int)(8 + head + pad8(head))))
        fail_msg("%s: returned %d, want %d", out, r, (int)(8 + head));
    assert_int_equal(p.rest.kind, TS_BODY_FCGI);
    assert_walk(&p.rest, e.b + r, e.n - (size_t)r, e.n - (size_t)r);
    free(p.copy);
    return p.status;
}

static void test_response_status(void **state)
{
    (void)state;
    assert_int_equal(status_of("Status: 404 Not Found\r\nContent-type: text/html\r\n\r\nnope"),
                     404);
    assert_int_equal(status_of("X-Powered-By: PHP/8.2.0\r\nStatus: 500 Internal Server "
                               "Error\r\n\r\n"),
                     500);
    assert_int_equal(status_of("Status: 404\r\n\r\n"), 404);
    assert_int_equal(status_of("Status:201 Created\r\n\r\n"), 201);
    assert_int_equal(status_of("Status: 100\r\n\r\n"), 100);
    assert_int_equal(status_of("Status: 999 Odd\r\n\r\n"), 999);
    assert_int_equal(status_of("Location: /x\r\n\r\n"), 302);
    assert_int_equal(status_of("Location: http://example.com/x\r\nContent-type: text/html\r\n"
                               "\r\n<a>"),
                     302);
    /* Status beats Location, either order */
    assert_int_equal(status_of("Status: 301 Moved Permanently\r\nLocation: /y\r\n\r\n"), 301);
    assert_int_equal(status_of("Location: /y\r\nStatus: 200 OK\r\n\r\n"), 200);
    assert_int_equal(status_of("Location: /y\r\nStatus: 303 See Other\r\n\r\n"), 303);
    /* LF-only lines */
    assert_int_equal(status_of("Status: 404 Not Found\nContent-type: text/html\n\nbody"), 404);
    assert_int_equal(status_of("Location: /z\n\n"), 302);
    assert_int_equal(status_of("X-Powered-By: PHP/8.2.0\nContent-type: text/plain\n\nok"), 200);
    /* a header named like Status that is not */
    assert_int_equal(status_of("X-Status: 404\r\nStatusx: 500\r\n\r\n"), 200);
}

/* Field names are case-insensitive (RFC 3875 6.3) */
static void test_response_status_any_case(void **state)
{
    (void)state;
    assert_int_equal(status_of("status: 404 Not Found\r\n\r\n"), 404);
    assert_int_equal(status_of("STATUS: 410 Gone\r\n\r\n"), 410);
    assert_int_equal(status_of("location: /x\r\n\r\n"), 302);
}

static void test_response_head_over_records(void **state)
{
    (void)state;
    static const char out[] = "X-Powered-By: PHP/8.2.0\r\n"
                              "Status: 404 Not Found\r\n"
                              "Content-type: text/html; charset=UTF-8\r\n"
                              "\r\n"
                              "<h1>nope</h1>";
    size_t n = strlen(out), head = n - strlen("<h1>nope</h1>");
    for (size_t k = 1; k < n; k++) {
        struct enc e = {.n = 0};
        record(&e, TS_FCGI_STDOUT, 1, out, k, 0);
        record(&e, TS_FCGI_STDOUT, 1, out + k, n - k, 0);
        rec_header(&e, TS_FCGI_VERSION, TS_FCGI_STDOUT, 1, 0, 0);
        end_request(&e, 1, 0, 0);
        size_t want = k >= head ? 8 + head : 16 + head;
        struct rparsed p;
        int r = parse_res(&p, e.b, e.n);
        if (r != (int)want)
            fail_msg("cut at %zu: returned %d, want %zu", k, r, want);
        assert_int_equal(p.status, 404);
        assert_int_equal(p.rest.kind, TS_BODY_FCGI);
        assert_walk(&p.rest, e.b + want, e.n - want, e.n - want);
        free(p.copy);
        for (size_t j = 0; j < want; j++)
            assert_int_equal(res_result(e.b, j), TS_HTTP_INCOMPLETE);
    }
}

static void test_response_stderr_between(void **state)
{
    (void)state;
    struct enc e = {.n = 0};
    static const char warn[] = "PHP Warning:  boom in /x.php\n";
    static const char second[] = "3 Service Unavailable\r\n\r\nbody";
    record(&e, TS_FCGI_STDERR, 1, warn, strlen(warn), pad8(strlen(warn)));
    size_t first = e.n; /* a whole record before any output: walked past on its own */
    record(&e, TS_FCGI_STDOUT, 1, "Status: 50", 10, 6);
    record(&e, TS_FCGI_STDERR, 1, "more\n", 5, 0);
    record(&e, TS_FCGI_STDERR, 1, "", 0, 0); /* an empty STDERR too */
    size_t at = record(&e, TS_FCGI_STDOUT, 1, second, strlen(second), 3);
    size_t head = at + strlen(second) - 4;
    record(&e, TS_FCGI_STDERR, 1, "after\n", 6, 2);
    rec_header(&e, TS_FCGI_VERSION, TS_FCGI_STDOUT, 1, 0, 0);
    end_request(&e, 1, 255, 0);
    size_t end = e.n;
    begin_request(&e, 1, TS_FCGI_ROLE_RESPONDER, 0); /* anything after */
    struct rparsed p;
    assert_record_alone(e.b, e.n, 0, first);
    /* STDERR records after the first output byte are part of the head */
    assert_int_equal(parse_res(&p, e.b + first, e.n - first), (int)(head - first));
    assert_int_equal(p.status, 503);
    assert_int_equal(p.rest.kind, TS_BODY_FCGI);
    assert_walk(&p.rest, e.b + head, e.n - head, end - head);
    free(p.copy);
    for (size_t k = first; k < head; k++)
        assert_int_equal(res_result(e.b + first, k - first), TS_HTTP_INCOMPLETE);
}

/* A notice longer than any head the caller keeps (php-fpm sends one of
 * up to 64 KiB as one record), after an empty STDOUT record: its header
 * alone is the head, its 20,000 bytes and padding a body of their own. */
static void test_response_long_record_before_output(void **state)
{
    (void)state;
    static struct enc e;
    static char notice[20000];
    memset(notice, 'n', sizeof notice);
    e.n = 0;
    rec_header(&e, TS_FCGI_VERSION, TS_FCGI_STDOUT, 1, 0, 0);
    record(&e, TS_FCGI_STDERR, 1, notice, sizeof notice, 0);
    size_t end = e.n;
    static const char answer[] = "Status: 201 Created\r\n\r\n";
    record(&e, TS_FCGI_STDOUT, 1, answer, strlen(answer), pad8(strlen(answer)));
    assert_record_alone(e.b, e.n, 8, end);
}

static void test_response_ends_before_head(void **state)
{
    (void)state;
    struct enc e;
    struct rparsed p;
    /* END_REQUEST alone */
    e.n = 0;
    end_request(&e, 1, 0, 0);
    size_t end = e.n;
    rec_header(&e, TS_FCGI_VERSION, TS_FCGI_STDOUT, 1, 4, 0);
    assert_int_equal(parse_res(&p, e.b, e.n), (int)end);
    assert_int_equal(p.rest.kind, TS_BODY_NONE);
    assert_int_equal(p.status, 502);
    free(p.copy);
    for (size_t k = 0; k < end; k++)
        assert_int_equal(res_result(e.b, k), TS_HTTP_INCOMPLETE);
    /* STDERR (walked past on its own), the empty STDOUT, END_REQUEST: no
     * output at all */
    e.n = 0;
    record(&e, TS_FCGI_STDERR, 1, "Primary script unknown", 22, 2);
    size_t first = e.n;
    rec_header(&e, TS_FCGI_VERSION, TS_FCGI_STDOUT, 1, 0, 0);
    end_request(&e, 1, 0, 0);
    end = e.n;
    assert_record_alone(e.b, e.n, 0, first);
    assert_int_equal(parse_res(&p, e.b + first, e.n - first), (int)(end - first));
    assert_int_equal(p.rest.kind, TS_BODY_NONE);
    assert_int_equal(p.status, 502);
    free(p.copy);
    for (size_t k = first; k < end; k++)
        assert_int_equal(res_result(e.b + first, k - first), TS_HTTP_INCOMPLETE);
    /* a head cut short: what it said so far */
    const char *cut[] = {"Status: 404 Not Found\r\nContent-Ty"};
    build_response(&e, cut, 1, 1, NULL);
    end = e.n;
    put_str(&e, "xyz");
    assert_int_equal(parse_res(&p, e.b, e.n), (int)end);
    assert_int_equal(p.rest.kind, TS_BODY_NONE);
    assert_int_equal(p.status, 404);
    free(p.copy);
    for (size_t k = 0; k < end; k++)
        assert_int_equal(res_result(e.b, k), TS_HTTP_INCOMPLETE);
    const char *loc[] = {"Location: /login\r\n"};
    build_response(&e, loc, 1, 0, NULL);
    assert_int_equal(parse_res(&p, e.b, e.n), (int)e.n);
    assert_int_equal(p.rest.kind, TS_BODY_NONE);
    assert_int_equal(p.status, 302);
    free(p.copy);
}

/* A Status header nginx cannot read is a 502 (what nginx answers), not
 * an error: the records' framing still holds. */
static void test_response_unreadable_status(void **state)
{
    (void)state;
    static const struct {
        const char *out;
        int status;
    } cases[] = {
        {"Status: abc\r\n\r\n", 502},
        {"Status: 20\r\n\r\n", 502},
        {"Status: 099 Low\r\n\r\n", 502},
        {"Status: 2000\r\n\r\n", 200}, /* nginx reads three characters */
        {"Status: \r\n\r\n", 502},
        {"Status: 20x OK\r\n\r\n", 502},
        {"Status: abc\n\nbody", 502},
        {"Location: /y\r\nStatus: x\r\n\r\n", 502},
        {"Status: 404Not Found\r\n\r\n", 404},
        {"Status:                              404\r\n\r\n", 404},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *out[] = {cases[i].out};
        struct enc e;
        build_response(&e, out, 1, 0, NULL);
        struct rparsed p;
        int r = parse_res(&p, e.b, e.n);
        if (r <= 0 || p.status != cases[i].status)
            fail_msg("%s: returned %d, status %d, want status %d", cases[i].out, r, p.status,
                     cases[i].status);
        free(p.copy);
    }
}

static void test_response_errors(void **state)
{
    (void)state;
    /* an HTTP response */
    const char http[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    assert_int_equal(res_result(http, strlen(http)), TS_HTTP_ERROR);
    assert_int_equal(res_result(http, 1), TS_HTTP_ERROR);
    /* a record of version 2, first or after a STDERR */
    struct enc e = {.n = 0};
    rec_header(&e, 2, TS_FCGI_STDOUT, 1, 4, 0);
    put_str(&e, "\r\n\r\n");
    end_request(&e, 1, 0, 0);
    assert_int_equal(res_result(e.b, e.n), TS_HTTP_ERROR);
    assert_int_equal(res_result(e.b, 1), TS_HTTP_ERROR);
    e.n = 0;
    record(&e, TS_FCGI_STDERR, 1, "x", 1, 7);
    rec_header(&e, 2, TS_FCGI_STDOUT, 1, 4, 0);
    put_str(&e, "\r\n\r\n");
    end_request(&e, 1, 0, 0);
    assert_record_alone(e.b, e.n, 0, 16); /* the STDERR record alone */
    assert_int_equal(res_result(e.b + 16, e.n - 16), TS_HTTP_ERROR);
}

/* ------------------------------------------------------ request body */

static void test_request_body_stdin(void **state)
{
    (void)state;
    struct ts_http_body body;
    memset(&body, 0xa5, sizeof body);
    ts_fcgi_request_body(&body);
    assert_int_equal(body.kind, TS_BODY_FCGI);
    assert_false(ts_http_body_blind(&body));

    static char big[1000];
    memset(big, 'x', sizeof big);
    struct enc e = {.n = 0};
    record(&e, TS_FCGI_STDIN, 1, "a=b", 3, 5);
    record(&e, TS_FCGI_STDIN, 1, big, sizeof big, 0);
    record(&e, TS_FCGI_STDIN, 1, "&c=d", 4, 255);
    rec_header(&e, TS_FCGI_VERSION, TS_FCGI_STDIN, 1, 0, 0);
    size_t end = e.n;
    /* the next request on the connection */
    struct head next;
    build_head(&next, 1, TS_FCGI_KEEP_CONN, nginx_vars, NGINX_NV, 0, true);
    put(&e, next.e.b, next.e.n);
    assert_walk(&body, e.b, e.n, end);
    assert_walk(&body, e.b, end, end);

    /* the empty STDIN alone, then with padding of its own */
    e.n = 0;
    rec_header(&e, TS_FCGI_VERSION, TS_FCGI_STDIN, 1, 0, 0);
    put_str(&e, "\x01\x01");
    assert_walk(&body, e.b, e.n, 8);
    e.n = 0;
    rec_header(&e, TS_FCGI_VERSION, TS_FCGI_STDIN, 1, 0, 3);
    put_pad(&e, 3);
    end = e.n;
    put(&e, next.e.b, next.e.n);
    assert_walk(&body, e.b, e.n, end);

    /* nothing yet: nothing taken, not done */
    struct ts_http_body b = body;
    bool done = true;
    assert_int_equal(ts_http_body_feed(&b, "", 0, &done), 0);
    assert_false(done);
}

static void test_request_body_bad_version(void **state)
{
    (void)state;
    struct ts_http_body body;
    ts_fcgi_request_body(&body);
    struct enc e = {.n = 0};
    rec_header(&e, 2, TS_FCGI_STDIN, 1, 3, 0);
    put_str(&e, "a=b");
    rec_header(&e, TS_FCGI_VERSION, TS_FCGI_STDIN, 1, 0, 0);
    struct ts_http_body b = body;
    bool done = false;
    assert_int_equal(ts_http_body_feed(&b, e.b, e.n, &done), -1);
    /* byte by byte: -1 by the end of that header */
    b = body;
    ssize_t r = 0;
    size_t k;
    for (k = 0; k < 8 && r >= 0; k++)
        r = ts_http_body_feed(&b, e.b + k, 1, &done);
    assert_int_equal(r, -1);
    /* the second record's header */
    e.n = 0;
    record(&e, TS_FCGI_STDIN, 1, "a=b", 3, 5);
    rec_header(&e, 0, TS_FCGI_STDIN, 1, 0, 0);
    b = body;
    assert_int_equal(ts_http_body_feed(&b, e.b, e.n, &done), -1);
}

/* --------------------------------------------------- params_record */

static const char tp_value[] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
static const char b3_value[] = "0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-1";

/* The record ts_fcgi_params_record should make of these variables:
 * minimal padding, zeros. */
static void want_record(struct enc *e, unsigned id, const struct var *v, size_t nv)
{
    struct enc c = {.n = 0};
    for (size_t i = 0; i < nv; i++)
        pair(&c, v[i].name, v[i].value);
    e->n = 0;
    rec_header(e, TS_FCGI_VERSION, TS_FCGI_PARAMS, id, c.n, pad8(c.n));
    put(e, c.b, c.n);
    for (unsigned i = 0; i < pad8(c.n); i++)
        put_byte(e, 0);
}

static size_t make_record(const char *lines, unsigned id, char *out, size_t cap)
{
    size_t n = strlen(lines);
    char *copy = malloc(n ? n : 1);
    assert_non_null(copy);
    memcpy(copy, lines, n);
    memset(out, 0x5a, cap + 8);
    size_t r = ts_fcgi_params_record((uint16_t)id, copy, n, out, cap);
    free(copy);
    for (size_t i = cap; i < cap + 8; i++)
        assert_int_equal((unsigned char)out[i], 0x5a);
    return r;
}

static void assert_record(const char *lines, unsigned id, const struct var *v, size_t nv)
{
    struct enc want;
    want_record(&want, id, v, nv);
    static char out[TS_FCGI_PARAMS_RECORD_MAX(4096) + 8];
    size_t cap = TS_FCGI_PARAMS_RECORD_MAX(strlen(lines));
    assert_true(cap <= sizeof out - 8);
    size_t n = make_record(lines, id, out, cap);
    assert_int_equal(n % 8, 0);
    assert_int_equal(n, want.n);
    assert_memory_equal(out, want.b, n);
    /* exactly the room it needs, one byte less */
    assert_int_equal(make_record(lines, id, out, want.n), want.n);
    assert_memory_equal(out, want.b, n);
    assert_int_equal(make_record(lines, id, out, want.n - 1), 0);
    assert_int_equal(make_record(lines, id, out, 0), 0);
}

static void test_params_record_trace_context(void **state)
{
    (void)state;
    const struct var v[] = {{"HTTP_TRACEPARENT", tp_value}, {"HTTP_B3", b3_value}};
    char lines[256];
    snprintf(lines, sizeof lines, "traceparent: %s\r\nb3: %s\r\n", tp_value, b3_value);
    assert_record(lines, 1, v, 2);
    /* the exact bytes, spelled out once */
    struct enc want;
    want_record(&want, 1, v, 2);
    assert_int_equal(want.n, 8 + 133 + 3);
    static const uint8_t hdr[8] = {1, 4, 0, 1, 0, 133, 3, 0};
    assert_memory_equal(want.b, hdr, 8);
    assert_int_equal((unsigned char)want.b[8], 16);
    assert_int_equal((unsigned char)want.b[9], 55);
    assert_memory_equal(want.b + 10, "HTTP_TRACEPARENT00-0af7", 23);
    /* LF-only lines: the same record */
    snprintf(lines, sizeof lines, "traceparent: %s\nb3: %s\n", tp_value, b3_value);
    assert_record(lines, 1, v, 2);
    /* another request id; names of any case with '-' */
    snprintf(lines, sizeof lines, "X-B3-TraceId: 80f198ee56343ba864fe8b2a57d3eff7\r\n");
    const struct var b3m[] = {{"HTTP_X_B3_TRACEID", "80f198ee56343ba864fe8b2a57d3eff7"}};
    assert_record(lines, 0x1234, b3m, 1);
    /* one line, content a multiple of 8 already: no padding */
    const struct var eight[] = {{"HTTP_AB", "abcdefg"}}; /* 2 + 7 + 7 = 16 */
    assert_record("ab: abcdefg\r\n", 1, eight, 1);
}

static void test_params_record_long_value(void **state)
{
    (void)state;
    char value[201];
    for (int i = 0; i < 200; i++)
        value[i] = (char)('a' + i % 26);
    value[200] = 0;
    char lines[256];
    snprintf(lines, sizeof lines, "x-long: %s\r\n", value);
    const struct var v[] = {{"HTTP_X_LONG", value}};
    assert_record(lines, 1, v, 1);
    struct enc want;
    want_record(&want, 1, v, 1);
    static const uint8_t lens[5] = {11, 0x80, 0, 0, 200};
    assert_memory_equal(want.b + 8, lens, 5);
    assert_int_equal(want.n, 8 + 216);
    /* a value of 127 (1 byte) and of 128 (4 bytes) */
    value[127] = 0;
    snprintf(lines, sizeof lines, "a: %s\r\n", value);
    const struct var v127[] = {{"HTTP_A", value}};
    assert_record(lines, 1, v127, 1);
    value[127] = 'x';
    value[128] = 0;
    snprintf(lines, sizeof lines, "a: %s\r\n", value);
    const struct var v128[] = {{"HTTP_A", value}};
    assert_record(lines, 1, v128, 1);
}

static void test_params_record_refused(void **state)
{
    (void)state;
    static char out[TS_FCGI_PARAMS_RECORD_MAX(80000)];
    assert_int_equal(make_record("traceparent 00-aa\r\n", 1, out, 256), 0);
    assert_int_equal(make_record("b3: 1\r\nno colon here\r\n", 1, out, 256), 0);
    /* content past 65535 bytes */
    size_t n = 70000;
    char *lines = malloc(n + 16);
    assert_non_null(lines);
    memcpy(lines, "x-big: ", 7);
    memset(lines + 7, 'v', n);
    memcpy(lines + 7 + n, "\r\n", 3);
    size_t len = strlen(lines);
    memset(out, 0, sizeof out);
    assert_int_equal(ts_fcgi_params_record(1, lines, len, out, TS_FCGI_PARAMS_RECORD_MAX(len)), 0);
    /* just under: 1 + 4 + 10 + v = 65535 - 7 padding... content 65528 */
    size_t v = 65528 - 1 - 4 - 10;
    memcpy(lines, "x-big: ", 7);
    memset(lines + 7, 'v', v);
    memcpy(lines + 7 + v, "\r\n", 3);
    len = strlen(lines);
    size_t r = ts_fcgi_params_record(1, lines, len, out, TS_FCGI_PARAMS_RECORD_MAX(len));
    assert_int_equal(r, 8 + 65528);
    assert_int_equal((unsigned char)out[4], 0xff);
    assert_int_equal((unsigned char)out[5], 0xf8);
    assert_int_equal((unsigned char)out[6], 0);
    /* content of 65535 bytes exactly (padding 1), and of 65536 */
    v = 65535 - 1 - 4 - 10;
    memset(lines + 7, 'v', v);
    memcpy(lines + 7 + v, "\r\n", 3);
    len = strlen(lines);
    r = ts_fcgi_params_record(1, lines, len, out, TS_FCGI_PARAMS_RECORD_MAX(len));
    assert_int_equal(r, 8 + 65536);
    assert_int_equal((unsigned char)out[4], 0xff);
    assert_int_equal((unsigned char)out[5], 0xff);
    assert_int_equal((unsigned char)out[6], 1);
    assert_int_equal(out[8 + 65535], 0);
    memset(lines + 7, 'v', v + 1);
    memcpy(lines + 7 + v + 1, "\r\n", 3);
    len = strlen(lines);
    assert_int_equal(ts_fcgi_params_record(1, lines, len, out, TS_FCGI_PARAMS_RECORD_MAX(len)), 0);
    free(lines);
}

static void test_params_record_round_trip(void **state)
{
    (void)state;
    char lines[256];
    snprintf(lines, sizeof lines, "traceparent: %s\r\nb3: %s\r\n", tp_value, b3_value);
    char rec[TS_FCGI_PARAMS_RECORD_MAX(256)];
    size_t rn = ts_fcgi_params_record(1, lines, strlen(lines), rec, sizeof rec);
    assert_int_equal(rn, 144);

    struct head h;
    build_head(&h, 1, 0, nginx_vars, NGINX_NV, 0, true);
    struct parsed p0;
    assert_int_equal(parse_req(&p0, h.e.b, h.e.n, MAX_H, NAMES), (int)h.head_len);
    size_t at = p0.req.params_end;
    free(p0.copy);
    struct enc e = {.n = 0};
    put(&e, h.e.b, at);
    put(&e, rec, rn);
    put(&e, h.e.b + at, h.e.n - at);
    struct parsed p;
    assert_int_equal(parse_req(&p, e.b, e.n, MAX_H, NAMES), (int)(h.head_len + rn));
    assert_int_equal(p.req.params_end, at + rn);
    assert_int_equal(p.req.http.num_headers, NGINX_HEADERS + 2);
    assert_nginx_fields(&p, &h, 0);
    assert_span(p.h[5].name, p.h[5].name_len, "traceparent");
    assert_span(p.h[5].value, p.h[5].value_len, tp_value);
    assert_true(within(p.h[5].value, p.h[5].value_len, p.copy + at, rn));
    assert_span(p.h[6].name, p.h[6].name_len, "b3");
    assert_span(p.h[6].value, p.h[6].value_len, b3_value);
    assert_true(within(p.h[6].value, p.h[6].value_len, p.copy + at, rn));
    free(p.copy);
    for (size_t k = 0; k < h.head_len + rn; k++)
        assert_int_equal(req_result(e.b, k), TS_HTTP_INCOMPLETE);

    /* request id 0x0102, keep-conn, and a record twice */
    build_head(&h, 0x0102, TS_FCGI_KEEP_CONN, nginx_vars, NGINX_NV, 0, false);
    rn = ts_fcgi_params_record(0x0102, "X-Request-Id: r1\r\n", 18, rec, sizeof rec);
    assert_true(rn > 0);
    e.n = 0;
    put(&e, h.e.b, h.params_end);
    put(&e, rec, rn);
    put(&e, rec, rn);
    put(&e, h.e.b + h.params_end, h.e.n - h.params_end);
    assert_int_equal(parse_req(&p, e.b, e.n, MAX_H, NAMES), (int)(h.head_len + 2 * rn));
    assert_int_equal(p.req.http.num_headers, NGINX_HEADERS + 2);
    assert_span(p.h[6].name, p.h[6].name_len, "x-request-id");
    assert_span(p.h[6].value, p.h[6].value_len, "r1");
    free(p.copy);
    /* made for another request id: refused */
    rn = ts_fcgi_params_record(2, "X-Request-Id: r1\r\n", 18, rec, sizeof rec);
    e.n = 0;
    put(&e, h.e.b, h.params_end);
    put(&e, rec, rn);
    put(&e, h.e.b + h.params_end, h.e.n - h.params_end);
    assert_int_equal(req_result(e.b, e.n), TS_HTTP_ERROR);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_looks_like_request),
        cmocka_unit_test(test_request_nginx_head),
        cmocka_unit_test(test_request_id_and_keep_conn),
        cmocka_unit_test(test_request_params_in_several_records),
        cmocka_unit_test(test_request_odd_padding),
        cmocka_unit_test(test_request_target_fallbacks),
        cmocka_unit_test(test_request_minor_version),
        cmocka_unit_test(test_request_values_trimmed),
        cmocka_unit_test(test_request_long_values),
        cmocka_unit_test(test_request_capacity),
        cmocka_unit_test(test_request_no_method),
        cmocka_unit_test(test_request_other_records),
        cmocka_unit_test(test_request_pairs_past_content),
        cmocka_unit_test(test_request_bad_begin),
        cmocka_unit_test(test_response_php),
        cmocka_unit_test(test_response_status),
        cmocka_unit_test(test_response_status_any_case),
        cmocka_unit_test(test_response_head_over_records),
        cmocka_unit_test(test_response_stderr_between),
        cmocka_unit_test(test_response_ends_before_head),
        cmocka_unit_test(test_response_long_record_before_output),
        cmocka_unit_test(test_response_unreadable_status),
        cmocka_unit_test(test_response_errors),
        cmocka_unit_test(test_request_body_stdin),
        cmocka_unit_test(test_request_body_bad_version),
        cmocka_unit_test(test_params_record_trace_context),
        cmocka_unit_test(test_params_record_long_value),
        cmocka_unit_test(test_params_record_refused),
        cmocka_unit_test(test_params_record_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
