/* test_propagation.c — B3 single/multi, traceparent and uber-trace-id
 * codecs: every parsing rule with valid and invalid input, extraction
 * precedence, presence detection, the exact injected bytes, and round trips
 * (inject, then parse the lines back). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hooks/propagation.h"
#include "preload/ascii.h"

/* ------------------------------------------------------------- helpers */

#define T128 "463ac35c9f6413ad48485a3953bb6124"
#define T64 "a3ce929d0e0e4736"
#define S1 "a2fb4a1d1a96d312"
#define P1 "0020000000000001"

/* Headers built from "Name: value" strings (pointers into the strings). */
struct hdrs {
    struct ts_http_header h[16];
    size_t n;
};

static void hdrs_add(struct hdrs *hs, const char *line, size_t len)
{
    const char *colon = memchr(line, ':', len);
    assert_non_null(colon);
    assert_true(hs->n < 16);
    struct ts_http_header *h = &hs->h[hs->n++];
    h->name = line;
    h->name_len = (size_t)(colon - line);
    const char *v = colon + 1;
    while (v < line + len && *v == ' ')
        v++;
    h->value = v;
    h->value_len = (size_t)(line + len - v);
}

/* A header list from a NULL-terminated list of "Name: value" strings. */
static struct hdrs make_hdrs(const char *first, ...)
{
    struct hdrs hs = {.n = 0};
    va_list ap;
    va_start(ap, first);
    for (const char *s = first; s; s = va_arg(ap, const char *))
        hdrs_add(&hs, s, strlen(s));
    va_end(ap);
    return hs;
}

/* A header list from injected bytes: "Name: value\r\n" lines. */
static struct hdrs parse_lines(const char *buf, size_t len)
{
    struct hdrs hs = {.n = 0};
    const char *p = buf, *end = buf + len;
    while (p < end) {
        const char *crlf = memmem(p, (size_t)(end - p), "\r\n", 2);
        assert_non_null(crlf); /* every line ends with CRLF */
        hdrs_add(&hs, p, (size_t)(crlf - p));
        p = crlf + 2;
    }
    return hs;
}

static void unhex(const char *s, uint8_t *out)
{
    assert_true(ts_hex_decode(s, strlen(s) / 2, out));
}

/* Assert the context's trace id equals the 32-hex string t32. */
static void assert_trace(const struct ts_ctx *c, const char *t32)
{
    uint8_t want[16];
    unhex(t32, want);
    assert_memory_equal(c->trace_id, want, 16);
}

static void assert_span(const uint8_t *id, const char *s16)
{
    uint8_t want[8];
    unhex(s16, want);
    assert_memory_equal(id, want, 8);
}

/* A context with the given ids ("" parent: none). */
static struct ts_ctx make_ctx(const char *trace, const char *span, const char *parent,
                              uint8_t sampling)
{
    struct ts_ctx c;
    memset(&c, 0, sizeof c);
    size_t tl = strlen(trace);
    if (tl == 16) {
        unhex(trace, c.trace_id + 8);
        c.trace_id_64 = true;
    } else {
        unhex(trace, c.trace_id);
    }
    unhex(span, c.span_id);
    if (parent[0]) {
        unhex(parent, c.parent_id);
        c.has_parent = true;
    }
    c.sampling = sampling;
    c.valid = true;
    return c;
}

static bool parse_str(bool (*fn)(const char *, size_t, struct ts_ctx *), const char *s,
                      struct ts_ctx *out)
{
    return fn(s, strlen(s), out);
}

static bool b3s(const char *s, struct ts_ctx *out)
{
    return parse_str(ts_b3_single_parse, s, out);
}

static bool tp(const char *s, struct ts_ctx *out)
{
    return parse_str(ts_traceparent_parse, s, out);
}

static bool uber(const char *s, struct ts_ctx *out)
{
    return parse_str(ts_uber_trace_id_parse, s, out);
}

/* A poisoned context, so tests notice when a parser leaves stale state. */
static struct ts_ctx poisoned(void)
{
    struct ts_ctx c;
    memset(&c, 0xa5, sizeof c);
    c.valid = true;
    c.has_parent = true;
    c.trace_id_64 = true;
    return c;
}

static void assert_invalid(const struct ts_ctx *c, uint8_t sampling)
{
    assert_false(c->valid);
    assert_int_equal(c->sampling, sampling);
    assert_false(c->has_parent);
}

/* ------------------------------------------------------------- hex */

static void test_hex_encode_lower(void **state)
{
    (void)state;
    const unsigned char in[] = {0x00, 0x9f, 0xab, 0xff, 0x10};
    char out[11];
    memset(out, 'X', sizeof out);
    ts_hex_encode(in, 5, out);
    assert_memory_equal(out, "009fabff10", 10);
    assert_int_equal(out[10], 'X'); /* not NUL-terminated, nothing past 2n */
}

static void test_hex_decode(void **state)
{
    (void)state;
    unsigned char out[4];
    assert_true(ts_hex_decode("00Ab9fFF", 4, out));
    const unsigned char want[] = {0x00, 0xab, 0x9f, 0xff};
    assert_memory_equal(out, want, 4);
    assert_false(ts_hex_decode("0g", 1, out));
    assert_false(ts_hex_decode("g0", 1, out));
    assert_false(ts_hex_decode(" 0", 1, out));
    assert_false(ts_hex_decode("0-", 1, out));
    assert_false(ts_hex_decode("/0", 1, out)); /* '/' is just below '0' */
    assert_false(ts_hex_decode(":0", 1, out)); /* ':' just above '9' */
    assert_false(ts_hex_decode("@0", 1, out));
    assert_false(ts_hex_decode("G0", 1, out));
    assert_false(ts_hex_decode("`0", 1, out));
    assert_true(ts_hex_decode("", 0, out));
}

/* Every byte value, against printf's spelling (hex.c encodes by table). */
static void test_hex_encode_every_byte(void **state)
{
    (void)state;
    unsigned char in[256];
    for (int i = 0; i < 256; i++)
        in[i] = (unsigned char)i;
    char out[512], want[3];
    ts_hex_encode(in, sizeof in, out);
    for (int i = 0; i < 256; i++) {
        snprintf(want, sizeof want, "%02x", i);
        assert_memory_equal(out + 2 * i, want, 2);
    }
}

/* Every length from 0 to 17 bytes (two blocks of eight and a tail), every
 * byte value at every position: printf's spelling, and nothing written
 * past 2n (an exact-size heap buffer, for ASan). */
static void test_hex_encode_every_length(void **state)
{
    (void)state;
    for (size_t n = 0; n <= 17; n++) {
        unsigned char in[17];
        for (size_t i = 0; i < n; i++)
            in[i] = (unsigned char)(0x3c * i + 0x11);
        for (size_t at = 0; at < n || at == 0; at++) {
            for (int b = 0; b < 256; b++) {
                if (n)
                    in[at] = (unsigned char)b;
                char *out = malloc(2 * n + 1);
                assert_non_null(out);
                ts_hex_encode(in, n, out);
                for (size_t i = 0; i < n; i++) {
                    char want[3];
                    snprintf(want, sizeof want, "%02x", in[i]);
                    assert_memory_equal(out + 2 * i, want, 2);
                }
                free(out);
            }
        }
    }
}

/* Every pair of characters, against ts_hex_digit: decoded when both are
 * digits (either case), refused otherwise; the lower-case decoder also
 * refuses A-F. The pair is also tried in the middle of a longer string,
 * so that a bad digit is seen wherever it stands. */
static void test_hex_decode_every_pair(void **state)
{
    (void)state;
    for (int a = 0; a < 256; a++) {
        for (int b = 0; b < 256; b++) {
            char in[6] = {'0', 'f', (char)a, (char)b, 'A', '9'};
            unsigned char out[3];
            int hi = ts_hex_digit((unsigned char)a), lo = ts_hex_digit((unsigned char)b);
            bool ok = hi >= 0 && lo >= 0;
            bool lower = ok && !(a >= 'A' && a <= 'F') && !(b >= 'A' && b <= 'F');
            assert_int_equal(ts_hex_decode(in + 2, 1, out), ok);
            if (ok)
                assert_int_equal(out[0], hi << 4 | lo);
            assert_int_equal(ts_hex_decode(in, 3, out), ok);
            if (ok) {
                assert_int_equal(out[0], 0x0f);
                assert_int_equal(out[1], hi << 4 | lo);
                assert_int_equal(out[2], 0xa9);
            }
            assert_int_equal(ts_hex_decode_lower(in + 2, 1, out), lower);
            if (lower)
                assert_int_equal(out[0], hi << 4 | lo);
            assert_false(ts_hex_decode_lower(in, 3, out)); /* the 'A' */
        }
    }
    unsigned char out[2];
    assert_true(ts_hex_decode_lower("09af", 2, out));
    assert_int_equal(out[0], 0x09);
    assert_int_equal(out[1], 0xaf);
    assert_true(ts_hex_decode_lower("", 0, out));
}

/* Strings of 0 to 17 bytes (34 digits: two blocks of sixteen and a
 * tail) with every byte value at every digit position, the others a mix
 * of both cases: decoded exactly as a digit at a time would, refused for
 * any non-digit wherever it stands, and by the lower-case decoder for any
 * of A-F too. Then every pair of digits at every position, for values. */
static void check_decode(const char *in, size_t n)
{
    unsigned char want[17], out[17];
    bool ok = true, lower = true;
    for (size_t i = 0; i < 2 * n; i++) {
        unsigned char c = (unsigned char)in[i];
        ok = ok && ts_hex_digit(c) >= 0;
        lower = lower && ts_hex_digit(c) >= 0 && !(c >= 'A' && c <= 'F');
    }
    for (size_t i = 0; ok && i < n; i++)
        want[i] = (unsigned char)(ts_hex_digit((unsigned char)in[2 * i]) << 4 |
                                  ts_hex_digit((unsigned char)in[2 * i + 1]));
    char *copy = malloc(2 * n + 1); /* exact size: ASan sees reads past it */
    assert_non_null(copy);
    memcpy(copy, in, 2 * n);
    if (ts_hex_decode(copy, n, out) != ok)
        fail_msg("ts_hex_decode(\"%.*s\") is not %d", (int)(2 * n), in, ok);
    if (ok)
        assert_memory_equal(out, want, n);
    if (ts_hex_decode_lower(copy, n, out) != lower)
        fail_msg("ts_hex_decode_lower(\"%.*s\") is not %d", (int)(2 * n), in, lower);
    if (lower)
        assert_memory_equal(out, want, n);
    free(copy);
}

static void test_hex_decode_every_position(void **state)
{
    (void)state;
    static const char digits[] = "0123456789abcdefABCDEF";
    const size_t ndigits = sizeof digits - 1;
    for (size_t n = 0; n <= 17; n++) {
        char in[34] = {0};
        for (size_t i = 0; i < 2 * n; i++)
            in[i] = digits[(i * 7 + n) % ndigits];
        check_decode(in, n);
        for (size_t at = 0; at < 2 * n; at++) {
            char keep = in[at];
            for (int b = 0; b < 256; b++) {
                in[at] = (char)b;
                check_decode(in, n);
            }
            in[at] = keep;
        }
        for (size_t k = 0; k < n; k++) {
            char keep[2] = {in[2 * k], in[2 * k + 1]};
            for (size_t a = 0; a < ndigits; a++) {
                for (size_t b = 0; b < ndigits; b++) {
                    in[2 * k] = digits[a];
                    in[2 * k + 1] = digits[b];
                    check_decode(in, n);
                }
            }
            in[2 * k] = keep[0];
            in[2 * k + 1] = keep[1];
        }
    }
}

/* An id is zero only when every byte is, whichever byte is set and
 * whatever the length (whole words and a tail). */
static void test_id_is_zero_every_byte(void **state)
{
    (void)state;
    uint8_t id[25]; /* one more than the longest, for the byte past the end */
    const size_t lengths[] = {1, 3, 8, 12, 16, 24};
    for (size_t k = 0; k < sizeof lengths / sizeof lengths[0]; k++) {
        size_t n = lengths[k];
        memset(id, 0, sizeof id);
        assert_true(ts_id_is_zero(id, n));
        for (size_t i = 0; i < n; i++) {
            for (int bit = 0; bit < 8; bit++) {
                memset(id, 0, sizeof id);
                id[i] = (uint8_t)(1u << bit);
                assert_false(ts_id_is_zero(id, n));
            }
        }
        memset(id, 0, sizeof id);
        id[n] = 0xff; /* past the end: not looked at */
        assert_true(ts_id_is_zero(id, n));
    }
    assert_true(ts_id_is_zero(id, 0));
}

/* ------------------------------------------------------------- b3 single */

static void test_b3_single_full(void **state)
{
    (void)state;
    struct ts_ctx c = poisoned();
    assert_true(b3s(T128 "-" S1 "-1-" P1, &c));
    assert_true(c.valid);
    assert_false(c.trace_id_64);
    assert_trace(&c, T128);
    assert_span(c.span_id, S1);
    assert_true(c.has_parent);
    assert_span(c.parent_id, P1);
    assert_int_equal(c.sampling, TS_SAMPLING_ACCEPT);
}

static void test_b3_single_64bit_trace(void **state)
{
    (void)state;
    struct ts_ctx c = poisoned();
    assert_true(b3s(T64 "-" S1, &c));
    assert_true(c.trace_id_64);
    assert_trace(&c, "0000000000000000" T64); /* right-aligned, high bytes zero */
    assert_int_equal(c.sampling, TS_SAMPLING_DEFER);
    assert_false(c.has_parent);
}

static void test_b3_single_sampling_states(void **state)
{
    (void)state;
    struct ts_ctx c;
    assert_true(b3s(T128 "-" S1 "-0", &c));
    assert_int_equal(c.sampling, TS_SAMPLING_DENY);
    assert_false(c.has_parent);
    assert_true(b3s(T128 "-" S1 "-d", &c));
    assert_int_equal(c.sampling, TS_SAMPLING_DEBUG);
    assert_true(b3s(T128 "-" S1 "-1", &c));
    assert_int_equal(c.sampling, TS_SAMPLING_ACCEPT);
    assert_true(b3s(T64 "-" S1 "-d-" P1, &c));
    assert_int_equal(c.sampling, TS_SAMPLING_DEBUG);
    assert_true(c.has_parent);
}

static void test_b3_single_sampling_only(void **state)
{
    (void)state;
    struct ts_ctx c = poisoned();
    assert_false(b3s("0", &c));
    assert_invalid(&c, TS_SAMPLING_DENY);
    c = poisoned();
    assert_false(b3s("1", &c));
    assert_invalid(&c, TS_SAMPLING_ACCEPT);
    c = poisoned();
    assert_false(b3s("d", &c));
    assert_invalid(&c, TS_SAMPLING_DEBUG);
    c = poisoned();
    assert_false(b3s("2", &c));
    assert_invalid(&c, TS_SAMPLING_DEFER);
    c = poisoned();
    assert_false(b3s("D", &c));
    assert_invalid(&c, TS_SAMPLING_DEFER);
}

static void test_b3_single_upper_case_accepted(void **state)
{
    (void)state;
    struct ts_ctx c;
    assert_true(b3s("463AC35C9F6413AD48485A3953BB6124-A2FB4A1D1A96D312-1-0020000000000001", &c));
    assert_trace(&c, T128);
    assert_span(c.span_id, S1);
    assert_span(c.parent_id, P1);
}

static void test_b3_single_invalid(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "-",
        T128,                                        /* no span */
        T128 "-",                                    /* empty span */
        T128 "-" S1 "-",                             /* empty sampling */
        T128 "-" S1 "-1-",                           /* empty parent */
        T128 "-" S1 "-2",                            /* unknown sampling */
        T128 "-" S1 "-D",                            /* debug is lower-case d */
        T128 "-" S1 "-11",                           /* two-char sampling */
        T128 "-" S1 "-" P1,                          /* parent needs a sampling field */
        T128 "-" S1 "-1-" P1 "-1",                   /* a fifth field */
        T128 "-" S1 "-1-" P1 "0",                    /* 17-digit parent */
        T128 "-" S1 "-1-002000000000001",            /* 15-digit parent */
        T128 "-" S1 "-1-00200000000000g1",           /* bad char in parent */
        "463ac35c9f6413ad48485a3953bb612-" S1,       /* 31-digit trace */
        "463ac35c9f6413ad48485a3953bb61240-" S1,     /* 33-digit trace */
        "a3ce929d0e0e473-" S1,                       /* 15-digit trace */
        "a3ce929d0e0e47360-" S1,                     /* 17-digit trace */
        T128 "-a2fb4a1d1a96d31",                     /* 15-digit span */
        T128 "-a2fb4a1d1a96d3120",                   /* 17-digit span */
        T128 "-a2fb4a1d1a96d3z2",                    /* bad char in span */
        "463ac35c9f6413ad48485a3953bb612x-" S1,      /* bad char in trace */
        "00000000000000000000000000000000-" S1 "-1", /* zero trace */
        "0000000000000000-" S1,                      /* zero 64-bit trace */
        T128 "-0000000000000000-1",                  /* zero span */
        T128 "_" S1,                                 /* wrong separator */
        " " T128 "-" S1,                             /* leading blank */
        T128 "-" S1 " ",                             /* trailing blank */
        "1-" S1,
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct ts_ctx c = poisoned();
        if (b3s(bad[i], &c))
            fail_msg("accepted b3 \"%s\"", bad[i]);
        assert_false(c.valid);
        assert_false(c.has_parent);
        assert_int_equal(c.sampling, TS_SAMPLING_DEFER); /* malformed: no decision */
    }
}

static void test_b3_single_zero_parent_means_none(void **state)
{
    (void)state;
    struct ts_ctx c;
    assert_true(b3s(T128 "-" S1 "-1-0000000000000000", &c));
    assert_false(c.has_parent);
}

static void test_b3_single_respects_len(void **state)
{
    (void)state;
    /* The value is counted, not NUL-terminated: bytes past len are ignored. */
    const char *s = T128 "-" S1 "-1-" P1;
    struct ts_ctx c;
    assert_true(ts_b3_single_parse(s, 32 + 1 + 16 + 2, &c));
    assert_int_equal(c.sampling, TS_SAMPLING_ACCEPT);
    assert_false(c.has_parent);
    assert_false(ts_b3_single_parse(s, 40, &c));
    assert_false(ts_b3_single_parse(NULL, 0, &c));
    assert_false(c.valid);
}

/* ------------------------------------------------------------- b3 multi */

static void test_b3_multi_full(void **state)
{
    (void)state;
    struct hdrs hs = make_hdrs("Host: x", "X-B3-TraceId: " T128, "X-B3-SpanId: " S1,
                               "X-B3-ParentSpanId: " P1, "X-B3-Sampled: 1", NULL);
    struct ts_ctx c = poisoned();
    assert_true(ts_b3_multi_parse(hs.h, hs.n, &c));
    assert_true(c.valid);
    assert_false(c.trace_id_64);
    assert_trace(&c, T128);
    assert_span(c.span_id, S1);
    assert_true(c.has_parent);
    assert_span(c.parent_id, P1);
    assert_int_equal(c.sampling, TS_SAMPLING_ACCEPT);
}

static void test_b3_multi_names_case_insensitive(void **state)
{
    (void)state;
    struct hdrs hs = make_hdrs("x-b3-traceid: " T64, "X-B3-SPANID: " S1, "x-B3-sAmPlEd: 0", NULL);
    struct ts_ctx c;
    assert_true(ts_b3_multi_parse(hs.h, hs.n, &c));
    assert_true(c.trace_id_64);
    assert_trace(&c, "0000000000000000" T64);
    assert_false(c.has_parent);
    assert_int_equal(c.sampling, TS_SAMPLING_DENY);
}

static void test_b3_multi_first_wins(void **state)
{
    (void)state;
    struct hdrs hs =
        make_hdrs("X-B3-TraceId: " T128, "X-B3-SpanId: " S1, "x-b3-traceid: 1111111111111111",
                  "X-B3-SpanId: 2222222222222222", "X-B3-Sampled: 0", "X-B3-Sampled: 1", NULL);
    struct ts_ctx c;
    assert_true(ts_b3_multi_parse(hs.h, hs.n, &c));
    assert_trace(&c, T128);
    assert_false(c.trace_id_64);
    assert_span(c.span_id, S1);
    assert_int_equal(c.sampling, TS_SAMPLING_DENY);

    /* A bad first value is not replaced by a good second one. */
    hs = make_hdrs("X-B3-TraceId: xyz", "X-B3-TraceId: " T128, "X-B3-SpanId: " S1, NULL);
    assert_false(ts_b3_multi_parse(hs.h, hs.n, &c));
}

static void test_b3_multi_sampled_values(void **state)
{
    (void)state;
    static const struct {
        const char *v;
        uint8_t want;
    } cases[] = {
        {"1", TS_SAMPLING_ACCEPT},   {"0", TS_SAMPLING_DENY},      {"true", TS_SAMPLING_ACCEPT},
        {"false", TS_SAMPLING_DENY}, {"TRUE", TS_SAMPLING_ACCEPT}, {"False", TS_SAMPLING_DENY},
        {"2", TS_SAMPLING_DEFER},    {"yes", TS_SAMPLING_DEFER},   {"", TS_SAMPLING_DEFER},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char line[64];
        snprintf(line, sizeof line, "X-B3-Sampled: %s", cases[i].v);
        struct hdrs hs = make_hdrs("X-B3-TraceId: " T128, "X-B3-SpanId: " S1, line, NULL);
        struct ts_ctx c;
        assert_true(ts_b3_multi_parse(hs.h, hs.n, &c));
        if (c.sampling != cases[i].want)
            fail_msg("X-B3-Sampled: %s gave %d", cases[i].v, c.sampling);
    }
    /* absent: defer */
    struct hdrs hs = make_hdrs("X-B3-TraceId: " T128, "X-B3-SpanId: " S1, NULL);
    struct ts_ctx c;
    assert_true(ts_b3_multi_parse(hs.h, hs.n, &c));
    assert_int_equal(c.sampling, TS_SAMPLING_DEFER);
}

static void test_b3_multi_debug_flag(void **state)
{
    (void)state;
    struct ts_ctx c;
    struct hdrs hs = make_hdrs("X-B3-TraceId: " T128, "X-B3-SpanId: " S1, "X-B3-Flags: 1", NULL);
    assert_true(ts_b3_multi_parse(hs.h, hs.n, &c));
    assert_int_equal(c.sampling, TS_SAMPLING_DEBUG);
    /* debug implies sampled, whatever Sampled says */
    hs = make_hdrs("X-B3-Sampled: 0", "X-B3-TraceId: " T128, "X-B3-SpanId: " S1, "x-b3-flags: 1",
                   NULL);
    assert_true(ts_b3_multi_parse(hs.h, hs.n, &c));
    assert_int_equal(c.sampling, TS_SAMPLING_DEBUG);
    /* flags other than 1 mean nothing */
    hs = make_hdrs("X-B3-TraceId: " T128, "X-B3-SpanId: " S1, "X-B3-Flags: 0", "X-B3-Sampled: 1",
                   NULL);
    assert_true(ts_b3_multi_parse(hs.h, hs.n, &c));
    assert_int_equal(c.sampling, TS_SAMPLING_ACCEPT);
}

static void test_b3_multi_sampling_only(void **state)
{
    (void)state;
    struct ts_ctx c = poisoned();
    struct hdrs hs = make_hdrs("X-B3-Sampled: 0", NULL);
    assert_false(ts_b3_multi_parse(hs.h, hs.n, &c));
    assert_invalid(&c, TS_SAMPLING_DENY);
    hs = make_hdrs("X-B3-Flags: 1", NULL);
    c = poisoned();
    assert_false(ts_b3_multi_parse(hs.h, hs.n, &c));
    assert_invalid(&c, TS_SAMPLING_DEBUG);
    c = poisoned();
    assert_false(ts_b3_multi_parse(NULL, 0, &c));
    assert_invalid(&c, TS_SAMPLING_DEFER);
}

static void test_b3_multi_upper_case_hex(void **state)
{
    (void)state;
    struct hdrs hs = make_hdrs("X-B3-TraceId: 463AC35C9F6413AD48485A3953BB6124",
                               "X-B3-SpanId: A2FB4A1D1A96D312", "X-B3-Sampled: 1", NULL);
    struct ts_ctx c;
    assert_true(ts_b3_multi_parse(hs.h, hs.n, &c));
    assert_trace(&c, T128);
    assert_span(c.span_id, S1);
    /* ...and always emitted lower case */
    char buf[TS_PROP_INJECT_MAX];
    size_t n = ts_prop_inject(TS_PROP_B3MULTI, &c, buf, sizeof buf);
    const char want[] = "X-B3-TraceId: " T128 "\r\nX-B3-SpanId: " S1 "\r\nX-B3-Sampled: 1\r\n";
    assert_int_equal(n, sizeof want - 1);
    assert_memory_equal(buf, want, n);
}

static void test_b3_multi_invalid(void **state)
{
    (void)state;
    static const char *const bad[][3] = {
        {"X-B3-TraceId: " T128, NULL, NULL},            /* no span */
        {"X-B3-SpanId: " S1, NULL, NULL},               /* no trace */
        {"X-B3-TraceId: " T128, "X-B3-SpanId: ", NULL}, /* empty span */
        {"X-B3-TraceId: ", "X-B3-SpanId: " S1, NULL},   /* empty trace */
        {"X-B3-TraceId: a3ce929d0e0e473", "X-B3-SpanId: " S1, NULL},
        {"X-B3-TraceId: a3ce929d0e0e47361", "X-B3-SpanId: " S1, NULL},
        {"X-B3-TraceId: 463ac35c9f6413ad48485a3953bb612", "X-B3-SpanId: " S1, NULL},
        {"X-B3-TraceId: 463ac35c9f6413ad48485a3953bb61240", "X-B3-SpanId: " S1, NULL},
        {"X-B3-TraceId: " T128, "X-B3-SpanId: a2fb4a1d1a96d31", NULL},
        {"X-B3-TraceId: " T128, "X-B3-SpanId: " S1 "0", NULL},
        {"X-B3-TraceId: " T128, "X-B3-SpanId: a2fb4a1d1a96d31g", NULL},
        {"X-B3-TraceId: 00000000000000000000000000000000", "X-B3-SpanId: " S1, NULL},
        {"X-B3-TraceId: 0000000000000000", "X-B3-SpanId: " S1, NULL},
        {"X-B3-TraceId: " T128, "X-B3-SpanId: 0000000000000000", NULL},
        {"X-B3-TraceId: " T128, "X-B3-SpanId: " S1, "X-B3-ParentSpanId: 002"},
        {"X-B3-TraceId: " T128, "X-B3-SpanId: " S1, "X-B3-ParentSpanId: " P1 "0"},
        {"X-B3-TraceId: " T128, "X-B3-SpanId: " S1, "X-B3-ParentSpanId: 00200000000000x1"},
        {"X-B3-TraceId: " T128, "X-B3-SpanId: " S1, "X-B3-ParentSpanId: "},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct hdrs hs = {.n = 0};
        for (int k = 0; k < 3 && bad[i][k]; k++)
            hdrs_add(&hs, bad[i][k], strlen(bad[i][k]));
        struct ts_ctx c = poisoned();
        if (ts_b3_multi_parse(hs.h, hs.n, &c))
            fail_msg("accepted B3 multi case %zu", i);
        assert_false(c.valid);
        assert_false(c.has_parent);
    }
}

/* ------------------------------------------------------------- traceparent */

#define TP_T "4bf92f3577b34da6a3ce929d0e0e4736"
#define TP_S "00f067aa0ba902b7"

static void test_traceparent_valid(void **state)
{
    (void)state;
    struct ts_ctx c = poisoned();
    assert_true(tp("00-" TP_T "-" TP_S "-01", &c));
    assert_true(c.valid);
    assert_trace(&c, TP_T);
    assert_span(c.span_id, TP_S);
    assert_false(c.trace_id_64);
    assert_false(c.has_parent);
    assert_int_equal(c.sampling, TS_SAMPLING_ACCEPT);

    assert_true(tp("00-" TP_T "-" TP_S "-00", &c));
    assert_int_equal(c.sampling, TS_SAMPLING_DENY);
    /* only bit 0 means sampled */
    assert_true(tp("00-" TP_T "-" TP_S "-03", &c));
    assert_int_equal(c.sampling, TS_SAMPLING_ACCEPT);
    assert_true(tp("00-" TP_T "-" TP_S "-fe", &c));
    assert_int_equal(c.sampling, TS_SAMPLING_DENY);
    /* a 64-bit-looking id stays a 128-bit W3C id */
    assert_true(tp("00-0000000000000000" T64 "-" TP_S "-01", &c));
    assert_false(c.trace_id_64);
}

static void test_traceparent_versions(void **state)
{
    (void)state;
    struct ts_ctx c = poisoned();
    assert_false(tp("ff-" TP_T "-" TP_S "-01", &c));
    assert_false(c.valid);
    /* version 00 is exactly 55 characters */
    assert_false(tp("00-" TP_T "-" TP_S "-01-extra", &c));
    assert_false(tp("00-" TP_T "-" TP_S "-010", &c));
    assert_false(tp("00-" TP_T "-" TP_S "-0", &c));
    /* later versions may carry more, after a '-' */
    assert_true(tp("01-" TP_T "-" TP_S "-01", &c));
    assert_int_equal(c.sampling, TS_SAMPLING_ACCEPT);
    assert_trace(&c, TP_T);
    assert_true(tp("cc-" TP_T "-" TP_S "-00-what-the-future-brings", &c));
    assert_int_equal(c.sampling, TS_SAMPLING_DENY);
    assert_true(tp("fe-" TP_T "-" TP_S "-01-", &c));
    assert_false(tp("01-" TP_T "-" TP_S "-01x", &c));
    assert_false(tp("01-" TP_T "-" TP_S "-0", &c));
    /* versions are lower hex too */
    assert_false(tp("0A-" TP_T "-" TP_S "-01", &c));
    assert_false(tp("0g-" TP_T "-" TP_S "-01", &c));
    assert_false(tp("FF-" TP_T "-" TP_S "-01", &c));
}

static void test_traceparent_invalid(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "00",
        "00-" TP_T "-" TP_S,
        "00-00000000000000000000000000000000-" TP_S "-01", /* zero trace */
        "00-" TP_T "-0000000000000000-01",                 /* zero span */
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-" TP_S "-01", /* upper-case trace */
        "00-" TP_T "-00F067AA0BA902B7-01",                 /* upper-case span */
        "00-" TP_T "-" TP_S "-0A",                         /* upper-case flags */
        "00-" TP_T "-" TP_S "-0g",
        "00-4bf92f3577b34da6a3ce929d0e0e473-" TP_S "-01", /* 31-digit trace */
        "00-4bf92f3577b34da6a3ce929d0e0e47366-" TP_S "-01",
        "00-" TP_T "-00f067aa0ba902b-01",
        "00-" TP_T "-00f067aa0ba902b77-01",
        "00_" TP_T "-" TP_S "-01", /* wrong separators */
        "00-" TP_T "_" TP_S "-01",
        "00-" TP_T "-" TP_S "_01",
        "00-" TP_T "-" TP_S "-01 ",
        " 00-" TP_T "-" TP_S "-01",
        "00-4bf92f3577b34da6a3ce929d0e0e473 -" TP_S "-01",
        "00-" T64 "-" TP_S "-01", /* B3's 64-bit form */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct ts_ctx c = poisoned();
        if (tp(bad[i], &c))
            fail_msg("accepted traceparent \"%s\"", bad[i]);
        assert_invalid(&c, TS_SAMPLING_DEFER);
    }
    struct ts_ctx c;
    assert_false(ts_traceparent_parse(NULL, 0, &c));
}

/* ------------------------------------------------------------- uber-trace-id */

static void test_uber_valid(void **state)
{
    (void)state;
    struct ts_ctx c = poisoned();
    assert_true(uber(T128 ":" S1 ":" P1 ":1", &c));
    assert_true(c.valid);
    assert_false(c.trace_id_64);
    assert_trace(&c, T128);
    assert_span(c.span_id, S1);
    assert_true(c.has_parent);
    assert_span(c.parent_id, P1);
    assert_int_equal(c.sampling, TS_SAMPLING_ACCEPT);

    c = poisoned();
    assert_true(uber(T64 ":" S1 ":0:0", &c));
    assert_true(c.trace_id_64);
    assert_trace(&c, "0000000000000000" T64);
    assert_false(c.has_parent);
    assert_int_equal(c.sampling, TS_SAMPLING_DENY);
}

static void test_uber_short_ids_padded(void **state)
{
    (void)state;
    struct ts_ctx c;
    assert_true(uber("abc:1:0:01", &c));
    assert_true(c.trace_id_64);
    assert_trace(&c, "00000000000000000000000000000abc");
    assert_span(c.span_id, "0000000000000001");
    assert_false(c.has_parent);
    /* 17 digits: a 128-bit id */
    assert_true(uber("1" T64 ":" S1 ":00000000:1", &c));
    assert_false(c.trace_id_64);
    assert_trace(&c, "0000000000000001" T64);
    assert_false(c.has_parent);
    /* parent of any length up to 16 */
    assert_true(uber(T64 ":" S1 ":2a:1", &c));
    assert_true(c.has_parent);
    assert_span(c.parent_id, "000000000000002a");
    /* upper case is fine here */
    assert_true(uber("ABC:DEF:0:1", &c));
    assert_trace(&c, "00000000000000000000000000000abc");
    assert_span(c.span_id, "0000000000000def");
}

static void test_uber_flags(void **state)
{
    (void)state;
    static const struct {
        const char *flags;
        uint8_t want;
    } cases[] = {
        {"0", TS_SAMPLING_DENY},  {"1", TS_SAMPLING_ACCEPT}, {"01", TS_SAMPLING_ACCEPT},
        {"3", TS_SAMPLING_DEBUG}, {"2", TS_SAMPLING_DEBUG},  {"5", TS_SAMPLING_ACCEPT},
        {"04", TS_SAMPLING_DENY}, {"ff", TS_SAMPLING_DEBUG},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char v[80];
        snprintf(v, sizeof v, T128 ":" S1 ":0:%s", cases[i].flags);
        struct ts_ctx c;
        assert_true(uber(v, &c));
        if (c.sampling != cases[i].want)
            fail_msg("flags %s gave sampling %d", cases[i].flags, c.sampling);
    }
}

static void test_uber_url_encoded(void **state)
{
    (void)state;
    struct ts_ctx c;
    assert_true(uber(T128 "%3A" S1 "%3A" P1 "%3A1", &c));
    assert_trace(&c, T128);
    assert_span(c.span_id, S1);
    assert_span(c.parent_id, P1);
    assert_int_equal(c.sampling, TS_SAMPLING_ACCEPT);
    assert_true(uber(T64 "%3a" S1 "%3a0%3a3", &c));
    assert_true(c.trace_id_64);
    assert_int_equal(c.sampling, TS_SAMPLING_DEBUG);
    assert_true(uber(T64 ":" S1 "%3A0:1", &c)); /* mixed */
    assert_false(uber(T64 "%3"
                          "0000000000000001:0:1",
                      &c)); /* "%30" */
    assert_false(uber(T64 "%3B" S1 ":0:1", &c));
    assert_false(uber(T64 "%" S1 ":0:1", &c));
    assert_false(uber(T64 "%3A" S1 ":0%3A", &c)); /* empty flags */
}

static void test_uber_invalid(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        ":::",
        T128 ":" S1 ":0",         /* three fields */
        T128 ":" S1 ":0:1:1",     /* five fields */
        T128 "::0:1",             /* empty span */
        ":" S1 ":0:1",            /* empty trace */
        T128 ":" S1 "::1",        /* empty parent */
        T128 ":" S1 ":0:",        /* empty flags */
        T128 "0:" S1 ":0:1",      /* 33-digit trace */
        T128 ":" S1 "0:0:1",      /* 17-digit span */
        T128 ":" S1 ":" P1 "0:1", /* 17-digit parent */
        T128 ":" S1 ":0:100",     /* flags wider than a byte */
        "0:" S1 ":0:1",           /* zero trace */
        "00000000000000000000000000000000:" S1 ":0:1",
        T128 ":0:0:1", /* zero span */
        T128 ":0000000000000000:0:1",
        "xyz:" S1 ":0:1",
        T128 ":" S1 ":0:g",
        T128 ":-" S1 ":0:1",
        T128 ": " S1 ":0:1",
        T128 "-" S1 "-0-1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct ts_ctx c = poisoned();
        if (uber(bad[i], &c))
            fail_msg("accepted uber-trace-id \"%s\"", bad[i]);
        assert_invalid(&c, TS_SAMPLING_DEFER);
    }
}

/* ------------------------------------------------------------- extract */

#define TRACE_B3S "11111111111111111111111111111111"
#define TRACE_B3M "22222222222222222222222222222222"
#define TRACE_TP "33333333333333333333333333333333"
#define TRACE_UB "44444444444444444444444444444444"

static void test_extract_precedence(void **state)
{
    (void)state;
    const char *b3 = "b3: " TRACE_B3S "-" S1 "-1";
    const char *mt = "X-B3-TraceId: " TRACE_B3M;
    const char *ms = "X-B3-SpanId: " S1;
    const char *tph = "traceparent: 00-" TRACE_TP "-" S1 "-01";
    const char *ub = "uber-trace-id: " TRACE_UB ":" S1 ":0:1";
    struct ts_ctx c;

    /* order in the request does not matter, precedence does */
    struct hdrs hs = make_hdrs(ub, tph, mt, ms, b3, NULL);
    assert_true(ts_prop_extract(hs.h, hs.n, &c));
    assert_trace(&c, TRACE_B3S);

    hs = make_hdrs(ub, tph, mt, ms, NULL);
    assert_true(ts_prop_extract(hs.h, hs.n, &c));
    assert_trace(&c, TRACE_B3M);
    assert_int_equal(c.sampling, TS_SAMPLING_DEFER);

    hs = make_hdrs(ub, tph, NULL);
    assert_true(ts_prop_extract(hs.h, hs.n, &c));
    assert_trace(&c, TRACE_TP);

    hs = make_hdrs(ub, NULL);
    assert_true(ts_prop_extract(hs.h, hs.n, &c));
    assert_trace(&c, TRACE_UB);

    /* an invalid higher format falls through to the next valid one */
    hs = make_hdrs("B3: nonsense", "X-B3-TraceId: short", ms, "TraceParent: 00-bad", ub, NULL);
    assert_true(ts_prop_extract(hs.h, hs.n, &c));
    assert_trace(&c, TRACE_UB);
    hs = make_hdrs("b3: " TRACE_B3S "-" S1 "-x", mt, ms, tph, NULL);
    assert_true(ts_prop_extract(hs.h, hs.n, &c));
    assert_trace(&c, TRACE_B3M);

    /* the first b3 header wins, even if a later one is valid */
    hs = make_hdrs("b3: garbage", b3, tph, NULL);
    assert_true(ts_prop_extract(hs.h, hs.n, &c));
    assert_trace(&c, TRACE_TP);
}

/* B3's debug flag without ids, beside another format's context whose
 * flags say only "sampled": the context is that format's, debug (the B3
 * spec: debug is sampled, forced); a plain B3 accept changes nothing. */
static void test_extract_b3_debug_over_traceparent(void **state)
{
    (void)state;
    struct ts_ctx c = poisoned();
    struct hdrs hs = make_hdrs("b3: d", "traceparent: 00-" TP_T "-" TP_S "-01", NULL);
    assert_true(ts_prop_extract(hs.h, hs.n, &c));
    assert_trace(&c, TP_T);
    assert_int_equal(c.sampling, TS_SAMPLING_DEBUG);
    hs = make_hdrs("X-B3-Flags: 1", "traceparent: 00-" TP_T "-" TP_S "-01", NULL);
    c = poisoned();
    assert_true(ts_prop_extract(hs.h, hs.n, &c));
    assert_int_equal(c.sampling, TS_SAMPLING_DEBUG);
    hs = make_hdrs("b3: 1", "traceparent: 00-" TP_T "-" TP_S "-01", NULL);
    c = poisoned();
    assert_true(ts_prop_extract(hs.h, hs.n, &c));
    assert_int_equal(c.sampling, TS_SAMPLING_ACCEPT);
}

static void test_extract_deny_only(void **state)
{
    (void)state;
    struct ts_ctx c = poisoned();
    struct hdrs hs = make_hdrs("b3: 0", NULL);
    assert_false(ts_prop_extract(hs.h, hs.n, &c));
    assert_invalid(&c, TS_SAMPLING_DENY);

    /* a B3 deny outranks the decision of the formats after it, whose ids
     * it goes with (the next one found: B3 multi's, then traceparent's,
     * then uber-trace-id's) */
    hs = make_hdrs("b3: 0", "X-B3-TraceId: " T128, "X-B3-SpanId: " S1,
                   "traceparent: 00-" TP_T "-" TP_S "-01", NULL);
    c = poisoned();
    assert_true(ts_prop_extract(hs.h, hs.n, &c));
    assert_trace(&c, T128);
    assert_int_equal(c.sampling, TS_SAMPLING_DENY);

    hs = make_hdrs("X-B3-Sampled: 0", NULL);
    c = poisoned();
    assert_false(ts_prop_extract(hs.h, hs.n, &c));
    assert_invalid(&c, TS_SAMPLING_DENY);

    hs = make_hdrs("X-B3-Sampled: 0", "traceparent: 00-" TP_T "-" TP_S "-01", NULL);
    c = poisoned();
    assert_true(ts_prop_extract(hs.h, hs.n, &c));
    assert_trace(&c, TP_T);
    assert_int_equal(c.sampling, TS_SAMPLING_DENY);
    assert_false(ts_ctx_sampled(&c));

    hs = make_hdrs("b3: 0", "uber-trace-id: " TP_T ":" TP_S ":0:1", NULL);
    c = poisoned();
    assert_true(ts_prop_extract(hs.h, hs.n, &c));
    assert_trace(&c, TP_T);
    assert_int_equal(c.sampling, TS_SAMPLING_DENY);

    /* ids with a deny decision are a valid, unsampled context */
    hs = make_hdrs("b3: " T128 "-" S1 "-0", NULL);
    assert_true(ts_prop_extract(hs.h, hs.n, &c));
    assert_int_equal(c.sampling, TS_SAMPLING_DENY);
    assert_false(ts_ctx_sampled(&c));
}

static void test_extract_accept_only(void **state)
{
    (void)state;
    struct ts_ctx c;
    /* a lone accept/debug decision comes back with an invalid context */
    struct hdrs hs = make_hdrs("b3: d", NULL);
    assert_false(ts_prop_extract(hs.h, hs.n, &c));
    assert_invalid(&c, TS_SAMPLING_DEBUG);
    hs = make_hdrs("b3: 1", NULL);
    assert_false(ts_prop_extract(hs.h, hs.n, &c));
    assert_invalid(&c, TS_SAMPLING_ACCEPT);
    /* ...and fills in a deferred decision of the context found next */
    hs = make_hdrs("b3: d", "X-B3-TraceId: " T128, "X-B3-SpanId: " S1, NULL);
    assert_true(ts_prop_extract(hs.h, hs.n, &c));
    assert_trace(&c, T128);
    assert_int_equal(c.sampling, TS_SAMPLING_DEBUG);
    /* but does not override a decision that context carries */
    hs = make_hdrs("b3: 1", "traceparent: 00-" TP_T "-" TP_S "-00", NULL);
    assert_true(ts_prop_extract(hs.h, hs.n, &c));
    assert_trace(&c, TP_T);
    assert_int_equal(c.sampling, TS_SAMPLING_DENY);
}

/* A B3 context without a decision beside a traceparent (else an
 * uber-trace-id) naming the same trace and span: the decision is that
 * format's (a traced proxy forwards B3 as it came and adds the rest with
 * its decision). Other ids, or a decision of B3's own: B3 as it is. */
static void test_extract_b3_defer_takes_same_ids_decision(void **state)
{
    (void)state;
    static const struct {
        const char *a, *b, *c;
        const char *trace;
        uint8_t sampling;
    } cases[] = {
        {"X-B3-TraceId: " T128, "X-B3-SpanId: " S1, "traceparent: 00-" T128 "-" S1 "-00", T128,
         TS_SAMPLING_DENY},
        {"X-B3-TraceId: " T128, "X-B3-SpanId: " S1, "traceparent: 00-" T128 "-" S1 "-01", T128,
         TS_SAMPLING_ACCEPT},
        {"b3: " T128 "-" S1, "traceparent: 00-" T128 "-" S1 "-00", "Host: h", T128,
         TS_SAMPLING_DENY},
        /* a 64-bit B3 trace id is the traceparent's with zeros before it */
        {"X-B3-TraceId: " T64, "X-B3-SpanId: " S1,
         "traceparent: 00-0000000000000000" T64 "-" S1 "-00", "0000000000000000" T64,
         TS_SAMPLING_DENY},
        {"b3: " T128 "-" S1, "uber-trace-id: " T128 ":" S1 ":0:0", "Host: h", T128,
         TS_SAMPLING_DENY},
        {"b3: " T128 "-" S1, "traceparent: 00-" TP_T "-" S1 "-00",
         "uber-trace-id: " T128 ":" S1 ":0:1", T128, TS_SAMPLING_ACCEPT},
        /* other ids: B3's, undecided */
        {"X-B3-TraceId: " T128, "X-B3-SpanId: " S1, "traceparent: 00-" T128 "-" TP_S "-00", T128,
         TS_SAMPLING_DEFER},
        {"b3: " T128 "-" S1, "traceparent: 00-" TP_T "-" S1 "-00", "Host: h", T128,
         TS_SAMPLING_DEFER},
        /* B3's own decision stands */
        {"b3: " T128 "-" S1 "-1", "traceparent: 00-" T128 "-" S1 "-00", "Host: h", T128,
         TS_SAMPLING_ACCEPT},
        {"X-B3-TraceId: " T128, "X-B3-SpanId: " S1, "X-B3-Sampled: 0", T128, TS_SAMPLING_DENY},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct ts_ctx c = poisoned();
        struct hdrs hs = make_hdrs(cases[i].a, cases[i].b, cases[i].c, NULL);
        assert_true(ts_prop_extract(hs.h, hs.n, &c));
        assert_trace(&c, cases[i].trace);
        assert_span(c.span_id, S1);
        if (c.sampling != cases[i].sampling)
            fail_msg("case %zu: sampling %d, want %d", i, c.sampling, cases[i].sampling);
    }
    /* B3 with its own "1", traceparent the same ids with "00" */
    struct ts_ctx c;
    struct hdrs hs = make_hdrs("X-B3-TraceId: " T128, "X-B3-SpanId: " S1, "X-B3-Sampled: 1",
                               "traceparent: 00-" T128 "-" S1 "-00", NULL);
    assert_true(ts_prop_extract(hs.h, hs.n, &c));
    assert_int_equal(c.sampling, TS_SAMPLING_ACCEPT);
}

/* Of the B3 forms that carry a context, those without a decision, and
 * where the single form's decision would go (its value's end). */
static void test_id_fields_undecided(void **state)
{
    (void)state;
    struct ts_ctx ctx;
    struct ts_prop_id_fields f;
    struct hdrs hs = make_hdrs("b3: " T128 "-" S1, "X-B3-TraceId: " T128, "X-B3-SpanId: " S1,
                               "traceparent: 00-" T128 "-" S1 "-01", NULL);
    assert_true(ts_prop_extract(hs.h, hs.n, &ctx));
    ts_prop_id_fields(hs.h, hs.n, &ctx, &f);
    assert_int_equal(f.nspan, 3);
    assert_int_equal(f.undecided, TS_PROP_B3 | TS_PROP_B3MULTI);
    assert_ptr_equal(f.b3_decision_at, hs.h[0].value + hs.h[0].value_len);

    /* a decision in each; X-B3-Flags: 1 is one, an unknown Sampled the
     * program's own (left alone), Flags: 0 none */
    static const char *const decided[][2] = {
        {"b3: " T128 "-" S1 "-0", "X-B3-Sampled: 1"},
        {"b3: " T128 "-" S1 "-d", "X-B3-Flags: 1"},
        {"b3: " T128 "-" S1 "-1-" P1, "X-B3-Sampled: maybe"},
    };
    for (size_t i = 0; i < sizeof decided / sizeof *decided; i++) {
        hs = make_hdrs(decided[i][0], "X-B3-TraceId: " T128, "X-B3-SpanId: " S1, decided[i][1],
                       NULL);
        assert_true(ts_prop_extract(hs.h, hs.n, &ctx));
        ts_prop_id_fields(hs.h, hs.n, &ctx, &f);
        assert_int_equal(f.nspan, 2);
        assert_int_equal(f.undecided, 0);
        assert_null(f.b3_decision_at);
    }
    hs = make_hdrs("X-B3-TraceId: " T128, "X-B3-SpanId: " S1, "X-B3-Flags: 0", NULL);
    assert_true(ts_prop_extract(hs.h, hs.n, &ctx));
    ts_prop_id_fields(hs.h, hs.n, &ctx, &f);
    assert_int_equal(f.undecided, TS_PROP_B3MULTI);

    /* a B3 form with other ids is not the context's */
    hs = make_hdrs("b3: " T128 "-" P1, "X-B3-TraceId: " T128, "X-B3-SpanId: " S1, NULL);
    assert_true(ts_prop_extract(hs.h, hs.n, &ctx));
    ts_prop_id_fields(hs.h, hs.n, &ctx, &f);
    assert_int_equal(f.nspan, 1);
    assert_int_equal(f.undecided, TS_PROP_B3);
    assert_ptr_equal(f.b3_decision_at, hs.h[0].value + hs.h[0].value_len);
}

/* The decision put into a B3 context that had none, per form. */
static void test_b3_decision(void **state)
{
    (void)state;
    static const struct {
        unsigned format;
        uint8_t sampling;
        bool flags_written;
        const char *want;
    } cases[] = {
        {TS_PROP_B3MULTI, TS_SAMPLING_ACCEPT, false, "X-B3-Sampled: 1\r\n"},
        {TS_PROP_B3MULTI, TS_SAMPLING_DENY, false, "X-B3-Sampled: 0\r\n"},
        {TS_PROP_B3MULTI, TS_SAMPLING_DEBUG, false, "X-B3-Flags: 1\r\n"},
        {TS_PROP_B3MULTI, TS_SAMPLING_DEBUG, true, "X-B3-Sampled: 1\r\n"},
        {TS_PROP_B3MULTI, TS_SAMPLING_DENY, true, "X-B3-Sampled: 0\r\n"},
        {TS_PROP_B3, TS_SAMPLING_ACCEPT, false, "-1"},
        {TS_PROP_B3, TS_SAMPLING_DENY, false, "-0"},
        {TS_PROP_B3, TS_SAMPLING_DEBUG, false, "-d"},
        {TS_PROP_B3, TS_SAMPLING_DEFER, false, ""},
        {TS_PROP_B3MULTI, TS_SAMPLING_DEFER, false, ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char buf[32];
        size_t n = ts_prop_b3_decision(cases[i].format, cases[i].sampling, cases[i].flags_written,
                                       buf, sizeof buf);
        assert_int_equal(n, strlen(cases[i].want));
        assert_memory_equal(buf, cases[i].want, n);
        /* a buffer one byte short: nothing */
        if (n)
            assert_int_equal(ts_prop_b3_decision(cases[i].format, cases[i].sampling,
                                                 cases[i].flags_written, buf, n - 1),
                             0);
    }
}

static void test_extract_nothing(void **state)
{
    (void)state;
    struct ts_ctx c = poisoned();
    struct hdrs hs = make_hdrs("Host: a", "Accept: */*", NULL);
    assert_false(ts_prop_extract(hs.h, hs.n, &c));
    assert_invalid(&c, TS_SAMPLING_DEFER);
    c = poisoned();
    assert_false(ts_prop_extract(NULL, 0, &c));
    assert_invalid(&c, TS_SAMPLING_DEFER);
}

/* ts_prop_extract_found returns at once when no header was found: each
 * header, alone, still reaches the parsers, and a found header that holds
 * nothing usable leaves the context as empty as no header at all. */
static void test_extract_found_each_header_alone(void **state)
{
    (void)state;
    static const struct {
        const char *line;
        bool valid;
        uint8_t sampling;
    } cases[] = {
        {"b3: 0", false, TS_SAMPLING_DENY},
        {"b3: d", false, TS_SAMPLING_DEBUG},
        {"traceparent: 00-" TP_T "-" TP_S "-01", true, TS_SAMPLING_ACCEPT},
        {"uber-trace-id: " TP_T ":" TP_S ":0:1", true, TS_SAMPLING_ACCEPT},
        {"X-B3-Sampled: 0", false, TS_SAMPLING_DENY},
        {"X-B3-Sampled: true", false, TS_SAMPLING_ACCEPT},
        {"X-B3-Flags: 1", false, TS_SAMPLING_DEBUG},
        {"X-B3-TraceId: " T128, false, TS_SAMPLING_DEFER},
        {"X-B3-SpanId: " S1, false, TS_SAMPLING_DEFER},
        {"X-B3-ParentSpanId: " S1, false, TS_SAMPLING_DEFER},
        {"traceparent: 00-bad", false, TS_SAMPLING_DEFER},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct hdrs hs = make_hdrs("Host: a", cases[i].line, NULL);
        struct ts_prop_headers found;
        ts_prop_find(hs.h, hs.n, &found);
        struct ts_ctx c = poisoned();
        assert_int_equal(ts_prop_extract_found(&found, &c), cases[i].valid);
        if (cases[i].valid)
            assert_int_equal(c.sampling, cases[i].sampling);
        else
            assert_invalid(&c, cases[i].sampling);
    }
    struct ts_prop_headers none;
    memset(&none, 0, sizeof none);
    struct ts_ctx c = poisoned();
    assert_false(ts_prop_extract_found(&none, &c));
    assert_invalid(&c, TS_SAMPLING_DEFER);
}

/* ------------------------------------------------------------- present */

static void test_present(void **state)
{
    (void)state;
    static const struct {
        const char *line;
        unsigned want;
    } cases[] = {
        {"X-B3-TraceId: x", TS_PROP_B3MULTI},
        {"x-b3-spanid: x", TS_PROP_B3MULTI},
        {"X-B3-ParentSpanId: x", TS_PROP_B3MULTI},
        {"X-B3-SAMPLED: 0", TS_PROP_B3MULTI},
        {"X-B3-Flags: 1", TS_PROP_B3MULTI},
        {"B3: 0", TS_PROP_B3},
        {"TraceParent: x", TS_PROP_TRACECONTEXT},
        {"Uber-Trace-Id: x", TS_PROP_JAEGER},
        {"X-B3-Other: x", 0},
        {"b3x: 1", 0},
        {"tracestate: a=b", 0},
        {"traceparent2: x", 0},
        {"X-B3-TraceIds: x", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct hdrs hs = make_hdrs("Host: h", cases[i].line, NULL);
        unsigned got = ts_prop_present(hs.h, hs.n);
        if (got != cases[i].want)
            fail_msg("%s: present %#x, want %#x", cases[i].line, got, cases[i].want);
    }
    struct hdrs hs =
        make_hdrs("b3: 0", "X-B3-Flags: 1", "traceparent: x", "uber-trace-id: y", NULL);
    assert_int_equal(ts_prop_present(hs.h, hs.n),
                     TS_PROP_B3 | TS_PROP_B3MULTI | TS_PROP_TRACECONTEXT | TS_PROP_JAEGER);
    assert_int_equal(ts_prop_present(NULL, 0), 0);
}

/* ts_ascii_eq_lower_n, the name test ts_prop_find uses, against the
 * byte-by-byte ts_ascii_eq_nocase: for literals of every length from 1 to
 * 24 (under a word, whole words, words and a tail) made of what header
 * names are made of, with every byte value at every position. */
static void test_ascii_eq_lower_n(void **state)
{
    (void)state;
    const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789-";
    char lit[25], s[25];
    for (size_t n = 1; n <= 24; n++) {
        for (size_t i = 0; i < n; i++)
            lit[i] = alphabet[(i * 7 + n) % (sizeof alphabet - 1)];
        lit[n] = '\0';
        memcpy(s, lit, n + 1);
        assert_true(ts_ascii_eq_lower_n(s, lit, n));
        for (size_t i = 0; i < n; i++) {
            for (int b = 0; b < 256; b++) {
                memcpy(s, lit, n + 1);
                s[i] = (char)b;
                bool want = ts_ascii_eq_nocase(s, n, lit);
                if (ts_ascii_eq_lower_n(s, lit, n) != want)
                    fail_msg("\"%s\" with byte %#x at %zu: want %d", lit, b, i, want);
            }
        }
        for (size_t i = 0; i < n; i++) /* all upper case */
            s[i] = lit[i] >= 'a' && lit[i] <= 'z' ? (char)(lit[i] - 32) : lit[i];
        assert_true(ts_ascii_eq_lower_n(s, lit, n));
    }
    assert_true(ts_ascii_eq_lower_n("", "", 0));
    assert_true(ts_ascii_eq_lower_n("X-B3-TraceId", "x-b3-traceid", 12));
    assert_false(ts_ascii_eq_lower_n("X-B3-TraceI\x04", "x-b3-traceid", 12)); /* 0x04|0x20 != 'd' */
    assert_false(ts_ascii_eq_lower_n("x\rb3-traceid", "x-b3-traceid", 12));   /* '\r'|0x20 == '-' */
}

/* ts_prop_find: the first header of each name, in any case; a header of
 * the right length but another name, or without a name, is none of them. */
static void test_find_first_of_each(void **state)
{
    (void)state;
    struct hdrs hs = make_hdrs("Host: h", "X-B3-TRACEID: 1", "x-b3-traceid: 2", "B3: 3", "b3: 4",
                               "X-B3-SpanId: 5", "TRACEPARENT: 6", "traceparent: 7",
                               "X-B3-ParentSpanId: 8", "x-b3-sampled: 9", "X-b3-flags: 10",
                               "Uber-Trace-ID: 11", "uber-trace-id: 12", "x-b3-spanid: 13", NULL);
    struct ts_prop_headers f;
    ts_prop_find(hs.h, hs.n, &f);
    assert_ptr_equal(f.b3_trace_id, &hs.h[1]);
    assert_ptr_equal(f.b3, &hs.h[3]);
    assert_ptr_equal(f.b3_span_id, &hs.h[5]);
    assert_ptr_equal(f.traceparent, &hs.h[6]);
    assert_ptr_equal(f.b3_parent_id, &hs.h[8]);
    assert_ptr_equal(f.b3_sampled, &hs.h[9]);
    assert_ptr_equal(f.b3_flags, &hs.h[10]);
    assert_ptr_equal(f.uber_trace_id, &hs.h[11]);
    assert_true(f.traceparent_again); /* TRACEPARENT: 6, then traceparent: 7 */
    assert_int_equal(ts_prop_present_found(&f),
                     TS_PROP_B3 | TS_PROP_B3MULTI | TS_PROP_TRACECONTEXT | TS_PROP_JAEGER);

    hs = make_hdrs("b4: x", "x-b3-flagz: x", "traceparenT: x", "x-b3-spanie: x", NULL);
    hs.h[2].name = NULL; /* a name of the right length that is not there */
    ts_prop_find(hs.h, hs.n, &f);
    const struct ts_prop_headers none = {0};
    assert_memory_equal(&f, &none, sizeof f);
    assert_int_equal(ts_prop_present_found(&f), 0);
    ts_prop_find(NULL, 3, &f);
    assert_memory_equal(&f, &none, sizeof f);
}

/* ts_prop_inbound: what an inbound request's context is read from. */
static void test_inbound(void **state)
{
    (void)state;
    const unsigned every = TS_PROP_B3 | TS_PROP_B3MULTI | TS_PROP_TRACECONTEXT | TS_PROP_JAEGER;
    struct hdrs hs = make_hdrs("b3: 1", "x-b3-sampled: 1", "x-b3-flags: 1", "traceparent: 2",
                               "uber-trace-id: 3", NULL);
    struct ts_prop_headers f;
    ts_prop_find(hs.h, hs.n, &f);
    assert_false(f.traceparent_again);
    assert_true(ts_prop_inbound(&f, every));
    assert_ptr_equal(f.b3, &hs.h[0]);
    assert_ptr_equal(f.traceparent, &hs.h[3]);
    assert_true(ts_prop_inbound(&f, TS_PROP_TRACECONTEXT | TS_PROP_JAEGER));
    assert_null(f.b3);
    assert_null(f.b3_sampled);
    assert_null(f.b3_flags);
    assert_ptr_equal(f.traceparent, &hs.h[3]);
    assert_ptr_equal(f.uber_trace_id, &hs.h[4]);
    assert_true(ts_prop_inbound(&f, TS_PROP_TRACECONTEXT));
    assert_null(f.uber_trace_id);
    assert_false(ts_prop_inbound(&f, 0));
    assert_null(f.traceparent);

    /* two traceparents: neither is read (W3C: not valid), the rest is */
    static const char tp[] = "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    hs = make_hdrs(tp, "Host: h", tp, NULL);
    ts_prop_find(hs.h, hs.n, &f);
    assert_true(f.traceparent_again);
    assert_false(ts_prop_inbound(&f, every));
    struct ts_ctx c;
    assert_false(ts_prop_extract_found(&f, &c));
    assert_int_equal(c.sampling, TS_SAMPLING_DEFER);
    hs = make_hdrs(tp, "x-b3-sampled: 0", tp, NULL);
    ts_prop_find(hs.h, hs.n, &f);
    assert_true(ts_prop_inbound(&f, every));
    assert_false(ts_prop_extract_found(&f, &c));
    assert_int_equal(c.sampling, TS_SAMPLING_DENY);
}

/* ------------------------------------------------------------- inject */

static size_t inject(unsigned formats, const struct ts_ctx *c, char *buf)
{
    size_t n = ts_prop_inject(formats, c, buf, TS_PROP_INJECT_MAX);
    buf[n < TS_PROP_INJECT_MAX ? n : TS_PROP_INJECT_MAX - 1] = '\0';
    return n;
}

static void test_inject_exact(void **state)
{
    (void)state;
    char buf[TS_PROP_INJECT_MAX + 1];
    struct ts_ctx c = make_ctx(T128, S1, P1, TS_SAMPLING_ACCEPT);
    inject(TS_PROP_B3MULTI | TS_PROP_B3 | TS_PROP_TRACECONTEXT | TS_PROP_JAEGER, &c, buf);
    assert_string_equal(buf, "X-B3-TraceId: " T128 "\r\n"
                             "X-B3-SpanId: " S1 "\r\n"
                             "X-B3-ParentSpanId: " P1 "\r\n"
                             "X-B3-Sampled: 1\r\n"
                             "b3: " T128 "-" S1 "-1-" P1 "\r\n"
                             "traceparent: 00-" T128 "-" S1 "-01\r\n"
                             "uber-trace-id: " T128 ":" S1 ":" P1 ":1\r\n");

    /* the default set, as the connection code expects it */
    c = make_ctx(T128, S1, "", TS_SAMPLING_ACCEPT);
    inject(TS_PROP_B3MULTI | TS_PROP_TRACECONTEXT, &c, buf);
    assert_string_equal(buf, "X-B3-TraceId: " T128 "\r\nX-B3-SpanId: " S1 "\r\nX-B3-Sampled: 1\r\n"
                             "traceparent: 00-" T128 "-" S1 "-01\r\n");
}

static void test_inject_sampling_states(void **state)
{
    (void)state;
    char buf[TS_PROP_INJECT_MAX + 1];
    unsigned all = TS_PROP_B3MULTI | TS_PROP_B3 | TS_PROP_TRACECONTEXT | TS_PROP_JAEGER;

    struct ts_ctx c = make_ctx(T128, S1, P1, TS_SAMPLING_DEBUG);
    inject(all, &c, buf);
    assert_string_equal(buf, "X-B3-TraceId: " T128 "\r\n"
                             "X-B3-SpanId: " S1 "\r\n"
                             "X-B3-ParentSpanId: " P1 "\r\n"
                             "X-B3-Flags: 1\r\n"
                             "b3: " T128 "-" S1 "-d-" P1 "\r\n"
                             "traceparent: 00-" T128 "-" S1 "-01\r\n"
                             "uber-trace-id: " T128 ":" S1 ":" P1 ":3\r\n");

    c = make_ctx(T128, S1, P1, TS_SAMPLING_DENY);
    inject(all, &c, buf);
    assert_string_equal(buf, "X-B3-TraceId: " T128 "\r\n"
                             "X-B3-SpanId: " S1 "\r\n"
                             "X-B3-ParentSpanId: " P1 "\r\n"
                             "X-B3-Sampled: 0\r\n"
                             "b3: " T128 "-" S1 "-0-" P1 "\r\n"
                             "traceparent: 00-" T128 "-" S1 "-00\r\n"
                             "uber-trace-id: " T128 ":" S1 ":" P1 ":0\r\n");

    /* defer: no Sampled header, no b3 sampling field (so no parent there);
     * traceparent and Jaeger have no "defer" and say sampled, as we do */
    c = make_ctx(T128, S1, P1, TS_SAMPLING_DEFER);
    inject(all, &c, buf);
    assert_string_equal(buf, "X-B3-TraceId: " T128 "\r\n"
                             "X-B3-SpanId: " S1 "\r\n"
                             "X-B3-ParentSpanId: " P1 "\r\n"
                             "b3: " T128 "-" S1 "\r\n"
                             "traceparent: 00-" T128 "-" S1 "-01\r\n"
                             "uber-trace-id: " T128 ":" S1 ":" P1 ":1\r\n");
}

static void test_inject_64bit(void **state)
{
    (void)state;
    char buf[TS_PROP_INJECT_MAX + 1];
    struct ts_ctx c = make_ctx(T64, S1, "", TS_SAMPLING_ACCEPT);
    inject(TS_PROP_B3MULTI | TS_PROP_B3 | TS_PROP_TRACECONTEXT | TS_PROP_JAEGER, &c, buf);
    assert_string_equal(buf, "X-B3-TraceId: " T64 "\r\n"
                             "X-B3-SpanId: " S1 "\r\n"
                             "X-B3-Sampled: 1\r\n"
                             "b3: " T64 "-" S1 "-1\r\n"
                             "traceparent: 00-0000000000000000" T64 "-" S1 "-01\r\n"
                             "uber-trace-id: " T64 ":" S1 ":0:1\r\n");
}

static void test_inject_each_format_alone(void **state)
{
    (void)state;
    char buf[TS_PROP_INJECT_MAX + 1];
    struct ts_ctx c = make_ctx(T128, S1, "", TS_SAMPLING_ACCEPT);
    inject(TS_PROP_B3, &c, buf);
    assert_string_equal(buf, "b3: " T128 "-" S1 "-1\r\n");
    inject(TS_PROP_TRACECONTEXT, &c, buf);
    assert_string_equal(buf, "traceparent: 00-" T128 "-" S1 "-01\r\n");
    inject(TS_PROP_JAEGER, &c, buf);
    assert_string_equal(buf, "uber-trace-id: " T128 ":" S1 ":0:1\r\n");
    assert_int_equal(ts_prop_inject(0, &c, buf, sizeof buf), 0);
}

static void test_inject_capacity(void **state)
{
    (void)state;
    unsigned all = TS_PROP_B3MULTI | TS_PROP_B3 | TS_PROP_TRACECONTEXT | TS_PROP_JAEGER;
    /* the largest output: 128-bit trace, parent, explicit sampling */
    static const uint8_t samplings[] = {TS_SAMPLING_DEFER, TS_SAMPLING_ACCEPT, TS_SAMPLING_DENY,
                                        TS_SAMPLING_DEBUG};
    char big[2 * TS_PROP_INJECT_MAX];
    for (size_t i = 0; i < sizeof samplings; i++) {
        struct ts_ctx c = make_ctx(T128, S1, P1, samplings[i]);
        size_t need = ts_prop_inject(all, &c, big, sizeof big);
        assert_true(need > 0);
        assert_true(need <= TS_PROP_INJECT_MAX);
        /* exactly enough works; one byte less writes nothing useful: 0 */
        char buf[2 * TS_PROP_INJECT_MAX];
        assert_int_equal(ts_prop_inject(all, &c, buf, need), need);
        assert_memory_equal(buf, big, need);
        for (size_t cap = 0; cap < need; cap++)
            assert_int_equal(ts_prop_inject(all, &c, buf, cap), 0);
    }
}

static void test_inject_invalid_ctx(void **state)
{
    (void)state;
    char buf[TS_PROP_INJECT_MAX];
    struct ts_ctx c;
    memset(&c, 0, sizeof c);
    c.sampling = TS_SAMPLING_DENY;
    assert_int_equal(ts_prop_inject(TS_PROP_B3MULTI | TS_PROP_B3, &c, buf, sizeof buf), 0);
    assert_int_equal(ts_prop_inject(TS_PROP_B3MULTI, NULL, buf, sizeof buf), 0);
}

/* ------------------------------------------------------------- round trips */

/* Inject one format, parse its lines back with that format's parser. */
static struct ts_ctx round_trip(unsigned format, const struct ts_ctx *in)
{
    char buf[TS_PROP_INJECT_MAX];
    size_t n = ts_prop_inject(format, in, buf, sizeof buf);
    assert_true(n > 0);
    struct hdrs hs = parse_lines(buf, n);
    struct ts_ctx out = poisoned();
    bool ok = false;
    switch (format) {
    case TS_PROP_B3MULTI:
        ok = ts_b3_multi_parse(hs.h, hs.n, &out);
        break;
    case TS_PROP_B3:
        assert_int_equal(hs.n, 1);
        ok = ts_b3_single_parse(hs.h[0].value, hs.h[0].value_len, &out);
        break;
    case TS_PROP_TRACECONTEXT:
        assert_int_equal(hs.n, 1);
        ok = ts_traceparent_parse(hs.h[0].value, hs.h[0].value_len, &out);
        break;
    case TS_PROP_JAEGER:
        assert_int_equal(hs.n, 1);
        ok = ts_uber_trace_id_parse(hs.h[0].value, hs.h[0].value_len, &out);
        break;
    }
    assert_true(ok);
    /* extract over the same lines agrees with the format's own parser */
    struct ts_ctx ex;
    assert_true(ts_prop_extract(hs.h, hs.n, &ex));
    assert_true(ex.remote); /* read from a head: another process's span */
    assert_false(out.remote);
    ex.remote = false;
    assert_memory_equal(&ex, &out, sizeof ex);
    assert_int_equal(ts_prop_present(hs.h, hs.n), format);
    return out;
}

static void assert_ctx_equal(const struct ts_ctx *a, const struct ts_ctx *b)
{
    assert_memory_equal(a->trace_id, b->trace_id, 16);
    assert_memory_equal(a->span_id, b->span_id, 8);
    assert_int_equal(a->has_parent, b->has_parent);
    assert_memory_equal(a->parent_id, b->parent_id, 8);
    assert_int_equal(a->sampling, b->sampling);
    assert_int_equal(a->valid, b->valid);
    assert_int_equal(a->trace_id_64, b->trace_id_64);
}

static void test_round_trips(void **state)
{
    (void)state;
    static const char *const traces[] = {T128, T64, "00000000000000010000000000000000",
                                         "0000000000000000000000000000000f"};
    static const char *const parents[] = {"", P1};
    static const uint8_t samplings[] = {TS_SAMPLING_DEFER, TS_SAMPLING_ACCEPT, TS_SAMPLING_DENY,
                                        TS_SAMPLING_DEBUG};
    for (size_t t = 0; t < 4; t++)
        for (size_t p = 0; p < 2; p++)
            for (size_t s = 0; s < 4; s++) {
                struct ts_ctx in =
                    make_ctx(traces[t], "ffffffffffffffff", parents[p], samplings[s]);
                struct ts_ctx out;

                /* B3 multi keeps everything */
                out = round_trip(TS_PROP_B3MULTI, &in);
                assert_ctx_equal(&out, &in);

                /* b3 single keeps everything but a parent under defer */
                out = round_trip(TS_PROP_B3, &in);
                struct ts_ctx want = in;
                if (in.sampling == TS_SAMPLING_DEFER) {
                    want.has_parent = false;
                    memset(want.parent_id, 0, 8);
                }
                assert_ctx_equal(&out, &want);

                /* Jaeger keeps ids, 64-bitness, parent; defer reads as accept */
                out = round_trip(TS_PROP_JAEGER, &in);
                want = in;
                if (in.sampling == TS_SAMPLING_DEFER)
                    want.sampling = TS_SAMPLING_ACCEPT;
                assert_ctx_equal(&out, &want);

                /* traceparent keeps trace and span id and sampled-or-not */
                out = round_trip(TS_PROP_TRACECONTEXT, &in);
                want = in;
                want.trace_id_64 = false;
                want.has_parent = false;
                memset(want.parent_id, 0, 8);
                want.sampling = ts_ctx_sampled(&in) ? TS_SAMPLING_ACCEPT : TS_SAMPLING_DENY;
                assert_ctx_equal(&out, &want);
            }
}

/* Parsed values survive inject unchanged: parse, inject, compare text. */
static void test_parse_then_inject_same_text(void **state)
{
    (void)state;
    static const char *const b3_values[] = {
        T128 "-" S1,
        T64 "-" S1 "-1",
        T128 "-" S1 "-0-" P1,
        T64 "-" S1 "-d-" P1,
    };
    for (size_t i = 0; i < 4; i++) {
        struct ts_ctx c;
        assert_true(b3s(b3_values[i], &c));
        char buf[TS_PROP_INJECT_MAX + 1];
        inject(TS_PROP_B3, &c, buf);
        char want[128];
        snprintf(want, sizeof want, "b3: %s\r\n", b3_values[i]);
        assert_string_equal(buf, want);
    }
    struct ts_ctx c;
    assert_true(tp("00-" TP_T "-" TP_S "-00", &c));
    char buf[TS_PROP_INJECT_MAX + 1];
    inject(TS_PROP_TRACECONTEXT, &c, buf);
    assert_string_equal(buf, "traceparent: 00-" TP_T "-" TP_S "-00\r\n");
}

/* ts_prop_find_request (from the parser's notes) finds what ts_prop_find
 * finds in the same headers, and says whether it found any, with the
 * notes and without them: requests of
 * random propagation headers (and others of their lengths), in random
 * case and with repeats, so that the first of each name must win. */
static void test_find_request_matches_find(void **state)
{
    (void)state;
    static const char *const names[] = {
        "b3",
        "traceparent",
        "uber-trace-id",
        "x-b3-traceid",
        "x-b3-spanid",
        "x-b3-parentspanid",
        "x-b3-sampled",
        "x-b3-flags",
        "host",
        "user-agent",
        "b4",
        "traceparenx",
        "x-b3-flagz",
        "content-length",
    };
    uint64_t seed = 88172645463325252ull;
    for (int round = 0; round < 4000; round++) {
        char buf[2048];
        size_t len = (size_t)snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\n");
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
        int count = (int)(seed % 12);
        for (int i = 0; i < count; i++) {
            seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
            const char *name = names[seed % (sizeof names / sizeof *names)];
            for (size_t c = 0; name[c]; c++)
                buf[len++] =
                    (seed >> (8 + c % 48)) & 1 && name[c] >= 'a' ? (char)(name[c] - 32) : name[c];
            len += (size_t)snprintf(buf + len, sizeof buf - len, ": %d\r\n", i);
        }
        len += (size_t)snprintf(buf + len, sizeof buf - len, "\r\n");

        struct ts_http_header h[16];
        struct ts_http_request req = {.headers = h, .num_headers = 16};
        assert_int_equal(ts_http_parse_request(buf, len, &req), (int)len);
        struct ts_prop_headers want, got;
        ts_prop_find(h, req.num_headers, &want);
        static const struct ts_prop_headers none;
        bool any = memcmp(&want, &none, sizeof want) != 0;
        assert_int_equal(ts_prop_find_request(&req, &got), any);
        if (memcmp(&want, &got, sizeof want) != 0)
            fail_msg("round %d: found otherwise in:\n%.*s", round, (int)len, buf);
        memset(&req.noted, 0, sizeof req.noted); /* a head built by hand */
        assert_int_equal(ts_prop_find_request(&req, &got), any);
        assert_memory_equal(&want, &got, sizeof want);
    }
}

/* ------------------------------------------------------------ tracestate */

/* A tracestate of n members "kI=v" joined with ','. */
static size_t members_text(char *out, size_t cap, int n)
{
    size_t len = 0;
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(out + len, cap - len, "%sk%d=v", i ? "," : "", i);
    return len;
}

static void test_tracestate_valid(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "congo=t61rcWkgMzE",
        "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
        "  rojo=1 ,\tcongo=2\t",     /* blanks around members */
        "a=1,,b=2,",                 /* empty members are allowed */
        "tenant1@sys=x",             /* multi-tenant key */
        "0tenant@s_-*/9=x",          /* a tenant may start with a digit */
        "k_-*/9=v w",                /* every key character; a space inside the value */
        "k= !\"#$%&'()*+-./:;<>?~",  /* the value's characters, ',' and '=' not among them */
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
        if (!ts_tracestate_valid(ok[i], strlen(ok[i])))
            fail_msg("refused: \"%s\"", ok[i]);
    static const char *const bad[] = {
        "",            /* nothing to pass on */
        " , ,",        /* empty members alone */
        "congo",       /* no '=' */
        "=v",          /* no key */
        "k=",          /* no value */
        "Congo=1",     /* an upper-case key */
        "1k=v",        /* a simple key starts with a letter */
        "k.x=v",       /* not a key character */
        "k=a=b",       /* '=' in the value */
        "k=v\x01",     /* a control character */
        "k=v\x80",     /* not ASCII */
        "a=1,a=2",     /* a key twice */
        "@s=v",        /* an empty tenant */
        "t@=v",        /* an empty system */
        "t@1s=v",      /* a system starts with a letter */
        "t@s@x=v",     /* two '@' */
        "t@abcdefghijklmno=v", /* a system of 15 */
        "k=v\tw",      /* a tab inside the value */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (ts_tracestate_valid(bad[i], strlen(bad[i])))
            fail_msg("accepted: \"%s\"", bad[i]);

    char buf[1024];
    size_t len = members_text(buf, sizeof buf, 32);
    assert_true(ts_tracestate_valid(buf, len));
    len = members_text(buf, sizeof buf, 33);
    assert_false(ts_tracestate_valid(buf, len)); /* the spec's most is 32 */

    /* 512 characters pass, 513 do not */
    memset(buf, 'x', sizeof buf);
    memcpy(buf, "k=", 2);
    buf[2 + 255] = ',';
    memcpy(buf + 258, "j=", 2);
    assert_true(ts_tracestate_valid(buf, 2 + 255 + 1 + 2 + 252));
    assert_false(ts_tracestate_valid(buf, 2 + 255 + 1 + 2 + 253));
    /* a value of 256 characters is the most */
    assert_true(ts_tracestate_valid(buf, 2 + 256));
    assert_false(ts_tracestate_valid(buf, 2 + 257));
}

static void test_tracestate_find_joins_headers(void **state)
{
    (void)state;
    char out[TS_TRACESTATE_MAX];
    struct hdrs hs = make_hdrs("Host: h", "tracestate: rojo=1", "X: y", "TraceState: congo=2",
                               "tracestate: ", NULL);
    size_t len = ts_tracestate_find(hs.h, hs.n, out);
    assert_int_equal(len, strlen("rojo=1,congo=2"));
    assert_memory_equal(out, "rojo=1,congo=2", len);
    assert_true(ts_tracestate_present(hs.h, hs.n));

    hs = make_hdrs("Host: h", NULL);
    assert_int_equal(ts_tracestate_find(hs.h, hs.n, out), 0);
    assert_false(ts_tracestate_present(hs.h, hs.n));
    hs = make_hdrs("tracestate: rojo=1", "tracestate: rojo=2", NULL); /* a key twice, joined */
    assert_int_equal(ts_tracestate_find(hs.h, hs.n, out), 0);

    /* joined, longer than 512: whole members left out from the end until
     * it fits (trace-context §3.3.1.5) */
    char x200[201], a[600], b[300];
    memset(x200, 'x', 200);
    x200[200] = '\0';
    snprintf(a, sizeof a, "tracestate: a=%s,c=%s", x200, x200); /* 405 characters */
    snprintf(b, sizeof b, "tracestate: b=%s", x200);              /* 202 */
    hs = make_hdrs(a, NULL);
    assert_int_equal(ts_tracestate_find(hs.h, hs.n, out), strlen(a) - 12);
    hs = make_hdrs(b, a, NULL);
    len = ts_tracestate_find(hs.h, hs.n, out);
    assert_int_equal(len, 405);
    assert_memory_equal(out, b + 12, 202);
    assert_memory_equal(out + 202, ",a=", 3);
}

/* ts_tracestate_normalize(in) is want. */
static void check_normalized(const char *in, size_t in_len, const char *want)
{
    char out[TS_TRACESTATE_MAX];
    size_t len = ts_tracestate_normalize(in, in_len, out);
    if (len != strlen(want) || memcmp(out, want, len) != 0)
        fail_msg("normalized to \"%.*s\", want \"%s\"", (int)len, out, want);
    assert_true(!len || ts_tracestate_valid(out, len));
}

static void test_tracestate_cut_by_whole_members(void **state)
{
    (void)state;
    char in[2048], want[TS_TRACESTATE_MAX + 1];
    /* blanks are not counted: 30 members of 16 characters and 4 blanks
     * each (599 in all) go on, 509 characters without the blanks */
    size_t n = 0, w = 0;
    for (int i = 0; i < 30; i++) {
        n += (size_t)snprintf(in + n, sizeof in - n, "%s  k%02d=%011d  ", i ? "," : "", i, i);
        w += (size_t)snprintf(want + w, sizeof want - w, "%sk%02d=%011d", i ? "," : "", i, i);
    }
    check_normalized(in, n, want);
    /* a member longer than 128 characters goes first, wherever it is */
    n = (size_t)snprintf(in, sizeof in, "big=%0250d", 0);
    w = 0;
    for (int i = 0; i < 12; i++) {
        n += (size_t)snprintf(in + n, sizeof in - n, ",k%02d=%019d", i, i);
        w += (size_t)snprintf(want + w, sizeof want - w, "%sk%02d=%019d", i ? "," : "", i, i);
    }
    check_normalized(in, n, want); /* 254 + 12 * 24 = 542 in all */
    /* none longer than 128: the last ones go, as few as need to */
    n = w = 0;
    for (int i = 0; i < 5; i++) {
        n += (size_t)snprintf(in + n, sizeof in - n, "%sk%d=%0117d", i ? "," : "", i, i);
        if (i < 4)
            w = n;
    }
    memcpy(want, in, w); /* 4 of 120 and their commas: 483 */
    want[w] = '\0';
    check_normalized(in, n, want);
    /* a long one before the end goes, and then what fits stays */
    n = (size_t)snprintf(in, sizeof in, "a=%0200d,b=%0200d,c=%0150d,d=1", 0, 0, 0);
    snprintf(want, sizeof want, "a=%0200d,b=%0200d,d=1", 0, 0);
    check_normalized(in, n, want);
    /* one that fits goes as it came, blanks and empty members too */
    check_normalized(" rojo=1 ,, congo=2\t", 19, " rojo=1 ,, congo=2\t");
    /* malformed anywhere, or only empty members: nothing */
    check_normalized(" , ", 3, "");
    check_normalized("a=1,B=2", 7, "");
    check_normalized("a=1, a=2", 8, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hex_encode_lower),
        cmocka_unit_test(test_hex_decode),
        cmocka_unit_test(test_hex_encode_every_byte),
        cmocka_unit_test(test_hex_encode_every_length),
        cmocka_unit_test(test_hex_decode_every_pair),
        cmocka_unit_test(test_hex_decode_every_position),
        cmocka_unit_test(test_id_is_zero_every_byte),
        cmocka_unit_test(test_b3_single_full),
        cmocka_unit_test(test_b3_single_64bit_trace),
        cmocka_unit_test(test_b3_single_sampling_states),
        cmocka_unit_test(test_b3_single_sampling_only),
        cmocka_unit_test(test_b3_single_upper_case_accepted),
        cmocka_unit_test(test_b3_single_invalid),
        cmocka_unit_test(test_b3_single_zero_parent_means_none),
        cmocka_unit_test(test_b3_single_respects_len),
        cmocka_unit_test(test_b3_multi_full),
        cmocka_unit_test(test_b3_multi_names_case_insensitive),
        cmocka_unit_test(test_b3_multi_first_wins),
        cmocka_unit_test(test_b3_multi_sampled_values),
        cmocka_unit_test(test_b3_multi_debug_flag),
        cmocka_unit_test(test_b3_multi_sampling_only),
        cmocka_unit_test(test_b3_multi_upper_case_hex),
        cmocka_unit_test(test_b3_multi_invalid),
        cmocka_unit_test(test_traceparent_valid),
        cmocka_unit_test(test_traceparent_versions),
        cmocka_unit_test(test_traceparent_invalid),
        cmocka_unit_test(test_uber_valid),
        cmocka_unit_test(test_uber_short_ids_padded),
        cmocka_unit_test(test_uber_flags),
        cmocka_unit_test(test_uber_url_encoded),
        cmocka_unit_test(test_uber_invalid),
        cmocka_unit_test(test_extract_precedence),
        cmocka_unit_test(test_extract_b3_debug_over_traceparent),
        cmocka_unit_test(test_extract_deny_only),
        cmocka_unit_test(test_extract_accept_only),
        cmocka_unit_test(test_extract_b3_defer_takes_same_ids_decision),
        cmocka_unit_test(test_id_fields_undecided),
        cmocka_unit_test(test_b3_decision),
        cmocka_unit_test(test_extract_nothing),
        cmocka_unit_test(test_extract_found_each_header_alone),
        cmocka_unit_test(test_present),
        cmocka_unit_test(test_ascii_eq_lower_n),
        cmocka_unit_test(test_find_first_of_each),
        cmocka_unit_test(test_inbound),
        cmocka_unit_test(test_inject_exact),
        cmocka_unit_test(test_inject_sampling_states),
        cmocka_unit_test(test_inject_64bit),
        cmocka_unit_test(test_inject_each_format_alone),
        cmocka_unit_test(test_inject_capacity),
        cmocka_unit_test(test_inject_invalid_ctx),
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_parse_then_inject_same_text),
        cmocka_unit_test(test_find_request_matches_find),
        cmocka_unit_test(test_tracestate_valid),
        cmocka_unit_test(test_tracestate_find_joins_headers),
        cmocka_unit_test(test_tracestate_cut_by_whole_members),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
