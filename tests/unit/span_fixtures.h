/* span_fixtures.h — what the span encoder tests share: the process they
 * run as, a known span's common part, dump files for the decoder checks
 * (tests/integration/test_encoders_decode.py) and a strict JSON checker.
 *
 * Test-only, included by one .c each. Everything is static inline so that
 * a test using only part of it still builds with -Wunused-function
 * -Werror. Include after <cmocka.h>. */
#ifndef TS_SPAN_FIXTURES_H
#define TS_SPAN_FIXTURES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "preload/config.h"
#include "preload/hex.h"
#include "preload/process.h"
#include "preload/span.h"
#include "reporter/json_buf.h"
#include "reporter/otlp_json.h"
#include "reporter/resource.h"

/* ------------------------------------------------------- the process */

/* The process and resource the encoders describe, rebuilt from these. */
static inline void set_process(pid_t pid, const char *exe, const char *service, const char *host,
                               const char *resource_attrs)
{
    memset(&ts_proc, 0, sizeof ts_proc);
    ts_proc.pid = pid;
    snprintf(ts_proc.exe_name, sizeof ts_proc.exe_name, "%s", exe);
    snprintf(ts_proc.service_name, sizeof ts_proc.service_name, "%s", service);
    snprintf(ts_proc.host_name, sizeof ts_proc.host_name, "%s", host);
    snprintf(ts_cfg.resource_attrs, sizeof ts_cfg.resource_attrs, "%s", resource_attrs);
    ts_resource_reset();
}

/* The default one: the expected texts of the OTLP and Zipkin tests name
 * these values. */
static inline void setup_process(void)
{
    set_process(1234, "python3", "frontend", "box", "");
}

static inline int setup(void **state)
{
    (void)state;
    setup_process();
    return 0;
}

/* ---------------------------------------------------------- the spans */

/* An id from its hex text (the literals here are always well-formed). */
static inline void hex_to_bytes(const char *hex, uint8_t *out, size_t n)
{
    assert_true(ts_hex_decode(hex, n, out));
}

/* What every test's known span has in common: W3C example ids with a
 * parent, SERVER, ERROR, the start time, the name "GET /api" and
 * http.request.method=GET as first attribute. Each test adds its end time
 * and further attributes (test_encoders_decode.py repeats the values:
 * change both together). */
static inline void known_span_base(struct ts_span *s)
{
    ts_span_clear(s);
    hex_to_bytes("4bf92f3577b34da6a3ce929d0e0e4736", s->trace_id, 16);
    hex_to_bytes("00f067aa0ba902b7", s->span_id, 8);
    hex_to_bytes("b7ad6b7169203331", s->parent_id, 8);
    s->kind = TS_KIND_SERVER;
    s->status = TS_STATUS_ERROR;
    s->start_ns = 1700000000000000000ull;
    ts_span_set_name(s, "GET /api", 8);
    ts_span_attr_cstr(s, "http.request.method", "GET");
}

/* --------------------------------------------------------------- UTF-8 */

/* One string and what every encoder must make of it: each byte that
 * starts no valid RFC 3629 character becomes U+FFFD, valid characters
 * (NUL included) are kept. */
struct utf8_case {
    const char *in;
    size_t n;
    const char *out;
    size_t on;
};

#define FIXTURE_FFFD "\xef\xbf\xbd"

/* The table (a function, so that a test not using it builds warning-free);
 * sets *n to its size. */
static inline const struct utf8_case *utf8_cases(size_t *n)
{
    static const struct utf8_case cases[] = {
        {"", 0, "", 0},
        {"plain\x00", 6, "plain\x00", 6},
        {"a\xff"
         "b",
         3, "a" FIXTURE_FFFD "b", 5},
        {"\xc0\x80", 2, FIXTURE_FFFD FIXTURE_FFFD, 6},                  /* overlong NUL */
        {"\xc1\xbf", 2, FIXTURE_FFFD FIXTURE_FFFD, 6},                  /* overlong 2-byte */
        {"\xe0\x9f\xbf", 3, FIXTURE_FFFD FIXTURE_FFFD FIXTURE_FFFD, 9}, /* overlong 3-byte */
        {"\xf0\x8f\xbf\xbf", 4, FIXTURE_FFFD FIXTURE_FFFD FIXTURE_FFFD FIXTURE_FFFD,
         12},                                                           /* overlong 4-byte */
        {"\xed\xa0\x80", 3, FIXTURE_FFFD FIXTURE_FFFD FIXTURE_FFFD, 9}, /* surrogate */
        {"\xf4\x90\x80\x80", 4, FIXTURE_FFFD FIXTURE_FFFD FIXTURE_FFFD FIXTURE_FFFD,
         12}, /* > U+10FFFF */
        {"\xf5\x80\x80\x80", 4, FIXTURE_FFFD FIXTURE_FFFD FIXTURE_FFFD FIXTURE_FFFD,
         12},                                          /* no such lead byte */
        {"\xe2\x82", 2, FIXTURE_FFFD FIXTURE_FFFD, 6}, /* cut short */
        {"\xe2\x82"
         "a",
         3, FIXTURE_FFFD FIXTURE_FFFD "a", 7}, /* cut short by an ASCII byte */
        {"\xf0\x9f\x98\x80\xe2\x82\xac\xc3\xa9\x00", 10, "\xf0\x9f\x98\x80\xe2\x82\xac\xc3\xa9\x00",
         10}, /* valid, kept */
        {"\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbf", 16,
         "\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbf", 16}, /* edges */
        {"\xf0\x90\x80\x80\xf4\x8f\xbf\xbf", 8, "\xf0\x90\x80\x80\xf4\x8f\xbf\xbf", 8},
    };
    *n = sizeof cases / sizeof *cases;
    return cases;
}

/* ------------------------------------------------------------- dumps */

/* $TS_DUMP_DIR, or NULL when dumps are not wanted (unset or empty). */
static inline const char *dump_dir(void)
{
    const char *dir = getenv("TS_DUMP_DIR");
    return dir && *dir ? dir : NULL;
}

/* Writes p[0..n) to dir/NAME.EXT (ext with its dot). */
static inline void dump_file(const char *dir, const char *name, const char *ext, const void *p,
                             size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s%s", dir, name, ext);
    FILE *f = fopen(path, "wb");
    if (!f)
        fail_msg("TS_DUMP_DIR: cannot write %s", path);
    assert_int_equal(fwrite(n ? p : "", 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* With TS_DUMP_DIR set: msg as NAME.EXT and the OTLP/JSON encoding of the
 * same spans as NAME.expect.json, what the decoder check compares it to. */
static inline void dump_with_otlp_json(const char *name, const char *ext,
                                       const struct ts_json_buf *msg, const struct ts_span *s,
                                       size_t n)
{
    const char *dir = dump_dir();
    if (!dir)
        return;
    struct ts_json_buf expect;
    ts_json_buf_init(&expect);
    assert_true(ts_otlp_json_encode(&expect, s, n));
    dump_file(dir, name, ext, msg->data, msg->len);
    dump_file(dir, name, ".expect.json", expect.data, expect.len);
    ts_json_buf_free(&expect);
}

/* ------------------------------------------------ a strict JSON checker */

/* RFC 8259 validator: one value, nothing after it; strings must be valid
 * UTF-8 with no raw control characters. Returns true when s[0..n) is valid. */
struct jchk {
    const unsigned char *p, *end;
    int depth;
};

static inline void jchk_ws(struct jchk *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static inline bool jchk_lit(struct jchk *c, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0)
        return false;
    c->p += n;
    return true;
}

static inline bool jchk_utf8(struct jchk *c)
{
    unsigned char b = *c->p;
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF)
        len = 2;
    else if (b >= 0xE0 && b <= 0xEF)
        len = 3, lo = b == 0xE0 ? 0xA0 : 0x80, hi = b == 0xED ? 0x9F : 0xBF;
    else if (b >= 0xF0 && b <= 0xF4)
        len = 4, lo = b == 0xF0 ? 0x90 : 0x80, hi = b == 0xF4 ? 0x8F : 0xBF;
    else
        return false;
    if ((size_t)(c->end - c->p) < len || c->p[1] < lo || c->p[1] > hi)
        return false;
    for (size_t i = 2; i < len; i++)
        if ((c->p[i] & 0xC0) != 0x80)
            return false;
    c->p += len;
    return true;
}

static inline bool jchk_string(struct jchk *c)
{
    if (c->p >= c->end || *c->p != '"')
        return false;
    c->p++;
    while (c->p < c->end) {
        unsigned char b = *c->p;
        if (b == '"') {
            c->p++;
            return true;
        }
        if (b < 0x20)
            return false;
        if (b == '\\') {
            c->p++;
            if (c->p >= c->end)
                return false;
            unsigned char e = *c->p++;
            if (e == 'u') {
                for (int i = 0; i < 4; i++, c->p++)
                    if (c->p >= c->end || !strchr("0123456789abcdefABCDEF", *c->p) || !*c->p)
                        return false;
            } else if (!strchr("\"\\/bfnrt", e) || !e) {
                return false;
            }
        } else if (b < 0x80) {
            c->p++;
        } else if (!jchk_utf8(c)) {
            return false;
        }
    }
    return false;
}

static inline bool jchk_digits(struct jchk *c)
{
    const unsigned char *s = c->p;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
        c->p++;
    return c->p > s;
}

static inline bool jchk_number(struct jchk *c)
{
    if (c->p < c->end && *c->p == '-')
        c->p++;
    if (c->p < c->end && *c->p == '0')
        c->p++;
    else if (!jchk_digits(c))
        return false;
    if (c->p < c->end && *c->p == '.') {
        c->p++;
        if (!jchk_digits(c))
            return false;
    }
    if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
        c->p++;
        if (c->p < c->end && (*c->p == '+' || *c->p == '-'))
            c->p++;
        if (!jchk_digits(c))
            return false;
    }
    return true;
}

static inline bool jchk_value(struct jchk *c);

static inline bool jchk_container(struct jchk *c, char close, bool object)
{
    if (++c->depth > 64)
        return false;
    c->p++;
    jchk_ws(c);
    if (c->p < c->end && *c->p == close) {
        c->p++;
        c->depth--;
        return true;
    }
    for (;;) {
        jchk_ws(c);
        if (object) {
            if (!jchk_string(c))
                return false;
            jchk_ws(c);
            if (c->p >= c->end || *c->p++ != ':')
                return false;
        }
        if (!jchk_value(c))
            return false;
        jchk_ws(c);
        if (c->p >= c->end)
            return false;
        unsigned char b = *c->p++;
        if (b == close)
            break;
        if (b != ',')
            return false;
    }
    c->depth--;
    return true;
}

static inline bool jchk_value(struct jchk *c)
{
    jchk_ws(c);
    if (c->p >= c->end)
        return false;
    switch (*c->p) {
    case '{':
        return jchk_container(c, '}', true);
    case '[':
        return jchk_container(c, ']', false);
    case '"':
        return jchk_string(c);
    case 't':
        return jchk_lit(c, "true");
    case 'f':
        return jchk_lit(c, "false");
    case 'n':
        return jchk_lit(c, "null");
    default:
        return jchk_number(c);
    }
}

static inline bool json_valid(const char *s, size_t n)
{
    struct jchk c = {(const unsigned char *)s, (const unsigned char *)s + n, 0};
    if (!jchk_value(&c))
        return false;
    jchk_ws(&c);
    return c.p == c.end;
}

/* Damage a span the way a corrupted record could be: it claims its whole
 * string buffer in use, its name runs past the buffer (only "ok" fits) and
 * its first attribute's value lies wholly outside it. Encoders must clamp,
 * never read past the span. */
static inline void damage_offsets(struct ts_span *s)
{
    s->str_used = TS_SPAN_STRBUF;
    s->name_off = TS_SPAN_STRBUF - 2;
    s->name_len = 500;
    s->str[TS_SPAN_STRBUF - 2] = 'o';
    s->str[TS_SPAN_STRBUF - 1] = 'k';
    s->attrs[0].off = 60000;
    s->attrs[0].len = 60000;
}

#endif
