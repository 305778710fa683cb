/* test_view.c — unit tests for `traceshim view`: the JSON reader
 * (common/json_read.c, in a decimal-comma locale too) and the trace model
 * and renderer (cli/trace_model.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "cli/trace_model.h"
#include "cli/trace_render.h"
#include "comma_locale.h"
#include "common/json_read.h"
#include "otlp_lines.h"

/* ---- helpers ---- */

static ts_json_doc *parse_ok(const char *text)
{
    ts_json_error err = {0};
    ts_json_doc *d = ts_json_parse(text, strlen(text), &err);
    if (!d)
        fail_msg("parse of %s failed at %zu: %s", text, err.offset, err.msg);
    return d;
}

/* Parses text expecting an error at offset whose message contains what. */
static void parse_bad(const char *text, size_t len, size_t offset, const char *what)
{
    ts_json_error err = {0};
    ts_json_doc *d = ts_json_parse(text, len, &err);
    if (d)
        fail_msg("parse of \"%.*s\" should fail", (int)len, text);
    assert_non_null(err.msg);
    if (!strstr(err.msg, what))
        fail_msg("\"%.*s\": message \"%s\" lacks \"%s\"", (int)len, text, err.msg, what);
    if (err.offset != offset)
        fail_msg("\"%.*s\": offset %zu, expected %zu", (int)len, text, err.offset, offset);
}

/* The decoded string of a one-string document. */
static void check_decoded(const char *json, const char *bytes, size_t n)
{
    ts_json_doc *d = parse_ok(json);
    size_t len = 99;
    const char *s = ts_json_string(ts_json_root(d), &len);
    assert_non_null(s);
    assert_int_equal(len, n);
    assert_memory_equal(s, bytes, n);
    assert_int_equal(s[n], '\0');
    ts_json_free(d);
}

/* The n-th line (0-based) of text, in a static buffer. */
static const char *line_of(const char *text, int n)
{
    static char out[1024];
    for (; n > 0; n--) {
        text = strchr(text, '\n');
        assert_non_null(text);
        text++;
    }
    size_t len = strcspn(text, "\n");
    assert_true(len < sizeof(out));
    memcpy(out, text, len);
    out[len] = '\0';
    return out;
}

static const ts_tm_span *find_span(const ts_tm_trace *t, const char *span_id, unsigned *depth)
{
    for (size_t i = 0; i < t->n_spans; i++)
        if (strcmp(t->spans[i]->span_id, span_id) == 0) {
            if (depth)
                *depth = t->depth[i];
            return t->spans[i];
        }
    fail_msg("span %s not in trace", span_id);
    return NULL;
}

static const char example_line[] =
    "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":{"
    "\"stringValue\":\"frontend\"}},{\"key\":\"process.pid\",\"value\":{\"intValue\":\"1234\"}}]"
    "},\"scopeSpans\":[{\"scope\":{\"name\":\"traceshim\",\"version\":\"0.1.0\"},\"spans\":[{"
    "\"traceId\":\"5b8efff798038103d269b633813fc60c\",\"spanId\":\"eee19b7ec3c1b174\","
    "\"parentSpanId\":\"eee19b7ec3c1b173\",\"name\":\"GET /api\",\"kind\":2,"
    "\"startTimeUnixNano\":\"1700000000000000000\",\"endTimeUnixNano\":\"1700000000001500000\","
    "\"attributes\":[{\"key\":\"http.request.method\",\"value\":{\"stringValue\":\"GET\"}},{"
    "\"key\":\"http.response.status_code\",\"value\":{\"intValue\":\"200\"}},{\"key\":\"x\","
    "\"value\":{\"boolValue\":true}}],\"status\":{\"code\":0}}]}]}]}";

/* ================= JSON reader ================= */

static void test_json_scalars(void **state)
{
    ts_json_doc *d = parse_ok(" null ");
    assert_true(ts_json_is(ts_json_root(d), TS_JSON_NULL));
    ts_json_free(d);

    bool b = false;
    d = parse_ok("true");
    assert_true(ts_json_bool(ts_json_root(d), &b));
    assert_true(b);
    ts_json_free(d);
    d = parse_ok("\tfalse\r\n");
    assert_true(ts_json_bool(ts_json_root(d), &b));
    assert_false(b);
    /* wrong-type accessors say no instead of crashing */
    assert_null(ts_json_string(ts_json_root(d), NULL));
    assert_false(ts_json_number(ts_json_root(d), NULL));
    assert_null(ts_json_get(ts_json_root(d), "x"));
    assert_null(ts_json_at(ts_json_root(d), 0));
    assert_int_equal(ts_json_len(ts_json_root(d)), 0);
    ts_json_free(d);

    d = parse_ok("\"hi\"");
    assert_string_equal(ts_json_string(ts_json_root(d), NULL), "hi");
    ts_json_free(d);

    /* NULL everywhere is safe */
    assert_null(ts_json_get(NULL, "a"));
    assert_null(ts_json_root(NULL));
    assert_int_equal(ts_json_len(NULL), 0);
    assert_false(ts_json_is(NULL, TS_JSON_NULL));
    ts_json_free(NULL);
}

/* Numbers that parse, with their values. */
static const struct {
    const char *text;
    double value;
} json_numbers_ok[] = {
    {"0", 0.0},      {"-0", -0.0},     {"42", 42.0},     {"-17", -17.0},
    {"1.5", 1.5},    {"-0.25", -0.25}, {"0.99", 0.99},   {"1e3", 1000.0},
    {"1E+2", 100.0}, {"2.5e-1", 0.25}, {"10.0e0", 10.0}, {"123456789", 123456789.0},
};

static void check_json_numbers_ok(void)
{
    for (size_t i = 0; i < sizeof json_numbers_ok / sizeof json_numbers_ok[0]; i++) {
        ts_json_doc *d = parse_ok(json_numbers_ok[i].text);
        double v = -1;
        assert_true(ts_json_number(ts_json_root(d), &v));
        if (v != json_numbers_ok[i].value)
            fail_msg("%s parsed as %.17g", json_numbers_ok[i].text, v);
        /* the literal is kept as written */
        assert_string_equal(ts_json_root(d)->u.str, json_numbers_ok[i].text);
        ts_json_free(d);
    }
}

static void test_json_numbers(void **state)
{
    (void)state;
    check_json_numbers_ok();
    /* wider than a double: the literal keeps every digit */
    ts_json_doc *d = parse_ok("[1700000000000000123]");
    const ts_json *n = ts_json_at(ts_json_root(d), 0);
    assert_string_equal(n->u.str, "1700000000000000123");
    assert_int_equal(n->len, 19);
    ts_json_free(d);
    d = parse_ok("1e999");
    double v = 0;
    assert_true(ts_json_number(ts_json_root(d), &v));
    assert_true(v > 1e308);
    ts_json_free(d);

    parse_bad("01", 2, 1, "after the JSON value");
    parse_bad("-", 1, 1, "invalid number");
    parse_bad("1.", 2, 2, "after '.'");
    parse_bad("1.e5", 4, 2, "after '.'");
    parse_bad("1e", 2, 2, "exponent");
    parse_bad("1e+", 3, 3, "exponent");
    parse_bad(".5", 2, 0, "unexpected character");
    parse_bad("+1", 2, 0, "unexpected character");
    parse_bad("NaN", 3, 0, "unexpected character");
    parse_bad("-Infinity", 9, 1, "invalid number");
    parse_bad("0x10", 4, 1, "after the JSON value");
}

/* The reader folds a number's decimal point into its exponent and lets
 * strtod, which knows no point then, round ("12.5e3" as "125e2"): the same
 * double as strtod in the C locale, for numbers of every shape, long ones
 * (more than the reader's stack buffer) and huge exponents too. */
static void test_json_numbers_as_strtod(void **state)
{
    (void)state;
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    char lit[600];
    for (int k = 0; k < 20000; k++) {
        size_t n = 0;
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
        uint64_t r = seed;
        if (r & 1)
            lit[n++] = '-';
        size_t int_len = 1 + (r >> 1) % 20;
        for (size_t i = 0; i < int_len; i++)
            lit[n++] =
                (char)('0' + (i == 0 && int_len > 1 ? 1 + (r >> (8 + i)) % 9 : (r >> i) % 10));
        if (r & 2) {
            size_t frac_len = 1 + (r >> 20) % ((r & 4) ? 400 : 18);
            lit[n++] = '.';
            for (size_t i = 0; i < frac_len; i++)
                lit[n++] = (char)('0' + (r >> (i % 50)) % 10);
        }
        const char *exp_sign = (r & 32) ? "-" : (r & 64) ? "+" : "";
        if (r & 8)
            n += (size_t)snprintf(lit + n, sizeof lit - n, "%s%s%d", (r & 16) ? "e" : "E", exp_sign,
                                  (int)((r >> 32) % 500));
        lit[n] = '\0';
        ts_json_doc *d = parse_ok(lit);
        double got, want = strtod(lit, NULL);
        assert_true(ts_json_number(ts_json_root(d), &got));
        if (memcmp(&got, &want, sizeof got) != 0)
            fail_msg("%s read as %.17g, strtod says %.17g", lit, got, want);
        ts_json_free(d);
    }
    static const char *const extremes[] = {
        "1e999999999999999999",
        "-1e-999999999999999999",
        "0.0000000000000000000000000000001e31",
        "123456789012345678901234567890e-30",
        "4.9406564584124654e-324",
        "2.2250738585072011e-308",
    };
    for (size_t i = 0; i < sizeof extremes / sizeof extremes[0]; i++) {
        ts_json_doc *d = parse_ok(extremes[i]);
        double got, want = strtod(extremes[i], NULL);
        assert_true(ts_json_number(ts_json_root(d), &got));
        if (memcmp(&got, &want, sizeof got) != 0)
            fail_msg("%s read as %.17g, strtod says %.17g", extremes[i], got, want);
        ts_json_free(d);
    }
}

/* The library reads JSON inside traced programs, whose LC_NUMERIC may be
 * a decimal-comma locale after setlocale(LC_ALL, ""): numbers still read
 * with '.' (a remote strategy's samplingRate 0.99 was read as 0). */
static void test_json_numbers_in_decimal_comma_locale(void **state)
{
    comma_locale_enter(state);
    check_json_numbers_ok();
    ts_json_doc *d = parse_ok("{\"samplingRate\":0.99}");
    double rate = 0;
    assert_true(ts_json_number(ts_json_get(ts_json_root(d), "samplingRate"), &rate));
    assert_true(rate == 0.99);
    ts_json_free(d);
    /* the grammar is JSON's, not the locale's */
    parse_bad("1,5", 3, 1, "after the JSON value");
    parse_bad("1.", 2, 2, "after '.'");
}

static void test_json_containers(void **state)
{
    ts_json_doc *d = parse_ok(" { \"a\" : [1, \"two\", {\"x\": null}, []], \"b\": {}, \"a\": 7 } ");
    const ts_json *root = ts_json_root(d);
    assert_true(ts_json_is(root, TS_JSON_OBJECT));
    assert_int_equal(ts_json_len(root), 3);
    /* duplicate key: the last one wins */
    double v = 0;
    assert_true(ts_json_number(ts_json_get(root, "a"), &v));
    assert_true(v == 7.0);
    /* members stay reachable in order */
    const ts_json_member *m0 = ts_json_member_at(root, 0);
    assert_string_equal(m0->key, "a");
    assert_int_equal(m0->key_len, 1);
    const ts_json *arr = &m0->value;
    assert_int_equal(ts_json_len(arr), 4);
    assert_true(ts_json_number(ts_json_at(arr, 0), &v));
    assert_true(v == 1.0);
    assert_string_equal(ts_json_string(ts_json_at(arr, 1), NULL), "two");
    assert_true(ts_json_is(ts_json_get(ts_json_at(arr, 2), "x"), TS_JSON_NULL));
    assert_true(ts_json_is(ts_json_at(arr, 3), TS_JSON_ARRAY));
    assert_int_equal(ts_json_len(ts_json_at(arr, 3)), 0);
    assert_null(ts_json_at(arr, 4));
    assert_null(ts_json_member_at(root, 3));
    assert_null(ts_json_get(root, "missing"));
    assert_null(ts_json_get(root, "")); /* no empty key */
    assert_true(ts_json_is(ts_json_get(root, "b"), TS_JSON_OBJECT));
    assert_int_equal(ts_json_len(ts_json_get(root, "b")), 0);
    ts_json_free(d);

    /* a key that is a prefix of another does not match it */
    d = parse_ok("{\"service.name\":1,\"service\":2}");
    assert_true(ts_json_number(ts_json_get(ts_json_root(d), "service"), &v));
    assert_true(v == 2.0);
    ts_json_free(d);

    /* keys with escapes are compared decoded */
    d = parse_ok("{\"\\u0041b\":true}");
    assert_true(ts_json_is(ts_json_get(ts_json_root(d), "Ab"), TS_JSON_BOOL));
    ts_json_free(d);

    /* many elements: contiguous and indexable */
    char big[64 * 1024];
    size_t p = 0;
    big[p++] = '[';
    for (int i = 0; i < 5000; i++)
        p += (size_t)sprintf(big + p, "%s%d", i ? "," : "", i);
    big[p++] = ']';
    big[p] = '\0';
    d = parse_ok(big);
    assert_int_equal(ts_json_len(ts_json_root(d)), 5000);
    assert_true(ts_json_number(ts_json_at(ts_json_root(d), 4321), &v));
    assert_true(v == 4321.0);
    ts_json_free(d);
}

static void test_json_escapes(void **state)
{
    check_decoded("\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"", "a\"b\\c/d\b\f\n\r\t", 12);
    check_decoded("\"\\u0041\\u00e9\\u20AC\"", "A\xC3\xA9\xE2\x82\xAC", 6);
    /* surrogate pair -> one 4-byte sequence (U+1F600) */
    check_decoded("\"\\ud83d\\ude00\"", "\xF0\x9F\x98\x80", 4);
    check_decoded("\"\\uD834\\uDD1E!\"", "\xF0\x9D\x84\x9E!", 5);
    /* lone surrogates become U+FFFD; what follows is kept */
    check_decoded("\"\\ud800\"", "\xEF\xBF\xBD", 3);
    check_decoded("\"\\udc00x\"", "\xEF\xBF\xBDx", 4);
    check_decoded("\"\\ud800\\u0041\"",
                  "\xEF\xBF\xBD"
                  "A",
                  4);
    check_decoded("\"\\ud800\\ud800\\udc00\"", "\xEF\xBF\xBD\xF0\x90\x80\x80", 7);
    /* \u0000 is kept as a byte; the length says so */
    check_decoded("\"a\\u0000b\"", "a\0b", 3);
    /* raw UTF-8 passes through */
    check_decoded("\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\"",
                  "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80", 14);
    /* invalid UTF-8 bytes each become U+FFFD */
    check_decoded("\"a\xFF"
                  "b\"",
                  "a\xEF\xBF\xBD"
                  "b",
                  5);
    check_decoded("\"\xC0\xAF\"", "\xEF\xBF\xBD\xEF\xBF\xBD", 6);                 /* overlong '/' */
    check_decoded("\"\xED\xA0\x80\"", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD", 9); /* surrogate */
    check_decoded("\"\xE2\x82\"", "\xEF\xBF\xBD\xEF\xBF\xBD", 6); /* truncated sequence */
    check_decoded("\"\"", "", 0);

    parse_bad("\"\\x\"", 4, 1, "invalid escape");
    parse_bad("\"\\u12G4\"", 8, 1, "invalid \\u escape");
    parse_bad("\"\\u12\"", 6, 1, "invalid \\u escape");
    parse_bad("\"abc", 4, 0, "unterminated string");
    parse_bad("\"abc\\", 5, 0, "unterminated string");
    parse_bad("\"a\tb\"", 5, 2, "control character");
    parse_bad("\"a\nb\"", 5, 2, "control character");
}

static void test_json_errors(void **state)
{
    parse_bad("", 0, 0, "unexpected end of input");
    parse_bad("   ", 3, 3, "unexpected end of input");
    parse_bad("{", 1, 1, "expected a string key");
    parse_bad("[", 1, 1, "unexpected end of input");
    parse_bad("[1,]", 4, 3, "unexpected character");
    parse_bad("[1 2]", 5, 3, "expected ',' or ']'");
    parse_bad("{\"a\" 1}", 7, 5, "expected ':'");
    parse_bad("{\"a\":1,}", 8, 7, "expected a string key");
    parse_bad("{\"a\":1 \"b\":2}", 13, 7, "expected ',' or '}'");
    parse_bad("{1:2}", 5, 1, "expected a string key");
    parse_bad("[] []", 5, 3, "after the JSON value");
    parse_bad("tru", 3, 0, "invalid literal");
    parse_bad("nul", 3, 0, "invalid literal");
    parse_bad("[truex]", 7, 5, "expected ',' or ']'");
    parse_bad("[1,\0]", 5, 3, "unexpected character"); /* an embedded NUL */
    parse_bad("{\"a\":1}\0", 8, 7, "after the JSON value");
    parse_bad("'a'", 3, 0, "unexpected character");

    /* the reader never looks past len: a valid document cut short fails */
    const char *full = "{\"a\":[1,2]}";
    for (size_t n = 0; n < strlen(full); n++) {
        char *copy = malloc(n ? n : 1); /* exact size, no NUL: ASan catches overreads */
        memcpy(copy, full, n);
        ts_json_error err = {0};
        ts_json_doc *d = ts_json_parse(copy, n, &err);
        assert_null(d);
        assert_true(err.offset <= n);
        free(copy);
    }
    /* NULL text is an empty document, not a crash */
    ts_json_error err = {0};
    assert_null(ts_json_parse(NULL, 5, &err));
    assert_non_null(err.msg);
    assert_null(ts_json_parse("x", 1, NULL));
}

static void test_json_depth(void **state)
{
    char buf[2 * TS_JSON_MAX_DEPTH + 4];
    /* exactly the limit parses */
    memset(buf, '[', TS_JSON_MAX_DEPTH);
    memset(buf + TS_JSON_MAX_DEPTH, ']', TS_JSON_MAX_DEPTH);
    ts_json_doc *d = ts_json_parse(buf, 2 * TS_JSON_MAX_DEPTH, NULL);
    assert_non_null(d);
    const ts_json *v = ts_json_root(d);
    int levels = 0;
    while (ts_json_is(v, TS_JSON_ARRAY)) {
        levels++;
        v = ts_json_at(v, 0);
    }
    assert_int_equal(levels, TS_JSON_MAX_DEPTH);
    ts_json_free(d);
    /* one more fails at the bracket that goes too deep */
    memset(buf, '[', TS_JSON_MAX_DEPTH + 1);
    memset(buf + TS_JSON_MAX_DEPTH + 1, ']', TS_JSON_MAX_DEPTH + 1);
    parse_bad(buf, 2 * TS_JSON_MAX_DEPTH + 2, TS_JSON_MAX_DEPTH, "nesting deeper than 64");
    /* objects count too */
    char obj[8 * (TS_JSON_MAX_DEPTH + 1) + 8];
    size_t p = 0;
    for (int i = 0; i <= TS_JSON_MAX_DEPTH; i++)
        p += (size_t)sprintf(obj + p, "{\"a\":");
    parse_bad(obj, p, 5 * TS_JSON_MAX_DEPTH, "nesting");
    /* a huge run of brackets is refused without deep recursion */
    size_t n = 1000000;
    char *deep = malloc(n);
    memset(deep, '[', n);
    parse_bad(deep, n, TS_JSON_MAX_DEPTH, "nesting");
    free(deep);
}

/* ================= model ================= */

static void test_model_example_line(void **state)
{
    const char *lines[] = {example_line};
    ts_tm_model *m = model_of(lines, 1);
    assert_int_equal(ts_tm_span_count(m), 1);
    assert_int_equal(ts_tm_trace_count(m), 1);
    const ts_tm_trace *t = ts_tm_trace_at(m, 0);
    assert_string_equal(t->trace_id, TID);
    assert_int_equal(t->n_spans, 1);
    const ts_tm_span *s = t->spans[0];
    assert_string_equal(s->trace_id, TID);
    assert_string_equal(s->span_id, "eee19b7ec3c1b174");
    assert_string_equal(s->parent_id, "eee19b7ec3c1b173");
    assert_string_equal(s->name, "GET /api");
    assert_int_equal(s->kind, TS_TM_KIND_SERVER);
    assert_int_equal(s->status, TS_TM_STATUS_UNSET);
    assert_true(s->start_ns == 1700000000000000000ULL);
    assert_true(s->end_ns == 1700000000001500000ULL);
    assert_string_equal(s->service, "frontend");
    assert_int_equal(s->pid, 1234);
    assert_int_equal(s->http_status, 200);
    assert_int_equal(s->line, 1);
    assert_int_equal(s->n_attrs, 3);
    assert_string_equal(s->attrs[0].key, "http.request.method");
    assert_string_equal(s->attrs[0].value, "GET");
    assert_string_equal(s->attrs[1].key, "http.response.status_code");
    assert_string_equal(s->attrs[1].value, "200");
    assert_string_equal(s->attrs[2].key, "x");
    assert_string_equal(s->attrs[2].value, "true");
    /* its parent is not in the file: a root, marked */
    assert_int_equal(t->depth[0], 0);
    assert_true(s->flags & TS_TM_PARENT_MISSING);
    char *out = render_trace(m, t);
    assert_non_null(strstr(out, "(parent eee19b7ec3c1b173 missing)"));
    free(out);
    ts_tm_free(m);
}

/* Four processes, five lines, one trace; input order differs from time
 * order; one line holds spans of two traces. */
static const char *const multi_lines[] = {
    RES("orders", "300",
        SPAN(TID, "c000000000000001", "b000000000000002", "GET /orders/42", "2", "002000000",
             "004000000", HTTP("500") ERR("db down")) "," SPAN(TID2, "d000000000000001", "", "cron",
                                                               "1", "500000000", "500000000", "")),
    RES("frontend", "200",
        SPAN(TID, "b000000000000001", "a000000000000001", "GET /api", "2", "001000000", "009000000",
             HTTP("200"))),
    "   \n",
    RES("frontend", "200",
        SPAN(TID, "b000000000000003", "b000000000000001", "render", "1", "005000000", "005000500",
             "") "," SPAN(TID, "b000000000000002", "b000000000000001", "GET /orders/42", "3",
                          "002000000", "004000000", HTTP("500") ERR("upstream 500"))),
    RES("curl", "100",
        SPAN(TID, "a000000000000001", "", "GET /api", "3", "000000000", "010000000", HTTP("200"))),
};

static void test_model_multi_process_trace(void **state)
{
    ts_tm_model *m = model_of(multi_lines, sizeof(multi_lines) / sizeof(multi_lines[0]));
    assert_int_equal(ts_tm_span_count(m), 6);
    assert_int_equal(ts_tm_trace_count(m), 2);
    /* traces by start time: TID starts at +0, TID2 at +0.5s */
    const ts_tm_trace *t = ts_tm_trace_at(m, 0);
    assert_string_equal(t->trace_id, TID);
    assert_string_equal(ts_tm_trace_at(m, 1)->trace_id, TID2);
    assert_null(ts_tm_trace_at(m, 2));
    assert_int_equal(t->n_spans, 5);
    assert_true(t->start_ns == 1700000000000000000ULL);
    assert_true(t->end_ns == 1700000000010000000ULL);

    /* depth-first, siblings by start time (render starts after orders) */
    static const char *const order[] = {"a000000000000001", "b000000000000001", "b000000000000002",
                                        "c000000000000001", "b000000000000003"};
    static const unsigned depth[] = {0, 1, 2, 3, 2};
    for (size_t i = 0; i < 5; i++) {
        assert_string_equal(t->spans[i]->span_id, order[i]);
        assert_int_equal(t->depth[i], depth[i]);
        assert_int_equal(t->spans[i]->flags, 0);
    }
    unsigned d;
    const ts_tm_span *c = find_span(t, "c000000000000001", &d);
    assert_string_equal(c->service, "orders");
    assert_int_equal(c->pid, 300);
    assert_int_equal(c->status, TS_TM_STATUS_ERROR);
    assert_string_equal(c->status_message, "db down");
    assert_int_equal(c->http_status, 500);
    assert_int_equal(c->line, 1);
    const ts_tm_span *a = find_span(t, "a000000000000001", NULL);
    assert_string_equal(a->service, "curl");
    assert_int_equal(a->line, 5);
    /* same service name, same interned id */
    assert_true(find_span(t, "b000000000000001", NULL)->svc_id ==
                find_span(t, "b000000000000002", NULL)->svc_id);
    assert_true(a->svc_id != c->svc_id);

    /* the header lists services in display order */
    char *out = render_trace(m, t);
    assert_string_equal(line_of(out, 0), "trace " TID "  5 spans  10.00ms  curl, frontend, orders");
    free(out);
    ts_tm_free(m);
}

static void test_model_lenient_forms(void **state)
{
    /* enum names, numbers instead of strings, missing/empty parent and
     * status, other attribute types, base64 and short ids, 64-bit ids */
    static const char line[] =
        "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"process.pid\","
        "\"value\":{\"intValue\":77}}]},\"scopeSpans\":[{\"spans\":["
        /* 1: everything as names and numbers */
        "{\"traceId\":\"5B8EFFF798038103D269B633813FC60C\",\"spanId\":\"00000000000000a1\","
        "\"parentSpanId\":\"\",\"name\":\"root\",\"kind\":\"SPAN_KIND_CLIENT\","
        "\"startTimeUnixNano\":1700000000000000123,\"endTimeUnixNano\":1700000000000900123,"
        "\"status\":{\"code\":\"STATUS_CODE_ERROR\"},\"attributes\":["
        "{\"key\":\"http.response.status_code\",\"value\":{\"intValue\":404}},"
        "{\"key\":\"d\",\"value\":{\"doubleValue\":0.25}},"
        "{\"key\":\"arr\",\"value\":{\"arrayValue\":{\"values\":[{\"stringValue\":\"a\"},"
        "{\"intValue\":\"2\"},{\"boolValue\":false}]}}},"
        "{\"key\":\"kv\",\"value\":{\"kvlistValue\":{\"values\":[{\"key\":\"k\",\"value\":{"
        "\"stringValue\":\"v\"}}]}}},"
        "{\"key\":\"b\",\"value\":{\"bytesValue\":\"AQI=\"}},"
        "{\"key\":\"empty\",\"value\":{}},"
        "{\"value\":{\"stringValue\":\"no key: skipped\"}}]},"
        /* 2: base64 ids (protobuf JSON mapping), no parent field, status {} */
        "{\"traceId\":\"W47/95gDgQPSabYzgT/GDA==\",\"spanId\":\"AAAAAAAAAKI=\","
        "\"parentSpanId\":\"AAAAAAAAAKE=\",\"name\":\"child\",\"kind\":\"server\","
        "\"startTimeUnixNano\":\"1700000000000100123\",\"endTimeUnixNano\":"
        "\"1700000000000200123\",\"status\":{}},"
        /* 3: 64-bit trace id, kind producer as a number, status OK by name,
         * no status code at all, no end time, all-zero parent */
        "{\"traceId\":\"d269b633813fc60c\",\"spanId\":\"1\",\"parentSpanId\":"
        "\"0000000000000000\",\"kind\":4,\"startTimeUnixNano\":\"1700000001000000000\","
        "\"status\":{\"code\":\"STATUS_CODE_OK\"}},"
        /* 4: unknown kind name, status without code, consumer by name */
        "{\"traceId\":\"d269b633813fc60c\",\"spanId\":\"2\",\"parentSpanId\":\"1\","
        "\"kind\":\"SPAN_KIND_CONSUMER\",\"startTimeUnixNano\":\"1700000001000000001\","
        "\"endTimeUnixNano\":\"1700000001000000002\",\"status\":{\"message\":\"x\"}},"
        "{\"traceId\":\"d269b633813fc60c\",\"spanId\":\"3\",\"parentSpanId\":\"1\","
        "\"kind\":\"SPAN_KIND_BOGUS\",\"startTimeUnixNano\":\"1700000001000000003\","
        "\"endTimeUnixNano\":\"1700000000000000000\"}"
        "]}]}]}";
    const char *lines[] = {line};
    ts_tm_model *m = model_of(lines, 1);
    assert_int_equal(ts_tm_trace_count(m), 2);
    const ts_tm_trace *t = ts_tm_trace_at(m, 0);
    assert_string_equal(t->trace_id, TID); /* upper case and base64 normalised */
    assert_int_equal(t->n_spans, 2);
    const ts_tm_span *r = t->spans[0];
    assert_string_equal(r->span_id, "00000000000000a1");
    assert_string_equal(r->parent_id, "");
    assert_int_equal(r->kind, TS_TM_KIND_CLIENT);
    assert_int_equal(r->status, TS_TM_STATUS_ERROR);
    assert_string_equal(r->status_message, "");
    assert_true(r->start_ns == 1700000000000000123ULL); /* exact, not via double */
    assert_true(r->end_ns == 1700000000000900123ULL);
    assert_int_equal(r->http_status, 404);
    assert_int_equal(r->pid, 77);
    assert_string_equal(r->service, "unknown_service");
    assert_int_equal(r->n_attrs, 6);
    assert_string_equal(r->attrs[0].value, "404");
    assert_string_equal(r->attrs[1].value, "0.25");
    assert_string_equal(r->attrs[2].key, "arr");
    assert_string_equal(r->attrs[2].value, "[a, 2, false]");
    assert_string_equal(r->attrs[3].value, "{k=v}");
    assert_string_equal(r->attrs[4].value, "AQI=");
    assert_string_equal(r->attrs[5].value, "");
    const ts_tm_span *c = t->spans[1];
    assert_int_equal(t->depth[1], 1);
    assert_string_equal(c->span_id, "00000000000000a2");
    assert_string_equal(c->parent_id, "00000000000000a1");
    assert_int_equal(c->kind, TS_TM_KIND_SERVER);
    assert_int_equal(c->status, TS_TM_STATUS_UNSET);
    assert_int_equal(c->flags, 0);

    t = ts_tm_trace_at(m, 1);
    assert_string_equal(t->trace_id, "0000000000000000d269b633813fc60c");
    assert_int_equal(t->n_spans, 3);
    const ts_tm_span *p = t->spans[0];
    assert_string_equal(p->span_id, "0000000000000001");
    assert_string_equal(p->parent_id, ""); /* all zeros means root */
    assert_int_equal(p->flags, 0);
    assert_string_equal(p->name, "");
    assert_int_equal(p->kind, TS_TM_KIND_PRODUCER);
    assert_int_equal(p->status, TS_TM_STATUS_OK);
    assert_true(p->end_ns == p->start_ns); /* no end: an instant */
    assert_int_equal(p->pid, 77);
    assert_int_equal(t->spans[1]->kind, TS_TM_KIND_CONSUMER);
    assert_int_equal(t->spans[1]->status, TS_TM_STATUS_UNSET);
    assert_int_equal(t->spans[2]->kind, TS_TM_KIND_UNSPECIFIED);
    assert_true(t->spans[2]->end_ns == t->spans[2]->start_ns); /* end before start */
    assert_int_equal(t->depth[1], 1);
    assert_int_equal(t->depth[2], 1);
    ts_tm_free(m);
}

static void test_model_bad_input(void **state)
{
    ts_tm_model *m = ts_tm_new();
    char err[256];
    /* blank lines: nothing, no complaint */
    assert_int_equal(ts_tm_add_line(m, "", 0, 1, err, sizeof(err)), 0);
    assert_string_equal(err, "");
    assert_int_equal(ts_tm_add_line(m, " \t\r\n", 4, 2, err, sizeof(err)), 0);
    assert_string_equal(err, "");

    const char *bad = "{\"resourceSpans\":[}";
    assert_int_equal(ts_tm_add_line(m, bad, strlen(bad), 3, err, sizeof(err)), -1);
    assert_string_equal(err, "invalid JSON at column 19: unexpected character, expected a value");
    bad = "{\"resourceLogs\":[]}";
    assert_int_equal(ts_tm_add_line(m, bad, strlen(bad), 4, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "no \"resourceSpans\" array"));
    bad = "[1,2]";
    assert_int_equal(ts_tm_add_line(m, bad, strlen(bad), 5, err, sizeof(err)), -1);
    /* an empty request is fine */
    bad = "{\"resourceSpans\":[]}";
    assert_int_equal(ts_tm_add_line(m, bad, strlen(bad), 6, err, sizeof(err)), 0);
    assert_string_equal(err, "");

    /* bad spans are skipped, good ones in the same line kept */
    const char *mixed = RES("svc", "1",
                            SPAN(TID, "a000000000000001", "", "ok", "2", "000000000", "000000100",
                                 "") ",{\"spanId\":\"a000000000000002\"},"
                                     "{\"traceId\":\"" TID "\",\"spanId\":\"xyz!\"},"
                                     "{\"traceId\":\"" TID "\",\"spanId\":\"a000000000000003\"},"
                                     "7");
    assert_int_equal(ts_tm_add_line(m, mixed, strlen(mixed), 7, err, sizeof(err)), 1);
    assert_string_equal(err, "skipped 4 of 5 spans: span 2: traceId missing or not a hex id");
    /* a time that only looks like a number: skipped, not read as one */
    const char *const not_numbers[] = {"+", "9-9", "1e", ".", "--1"};
    for (size_t i = 0; i < sizeof not_numbers / sizeof not_numbers[0]; i++) {
        char line[1024];
        snprintf(line, sizeof line,
                 "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":\"" TID
                 "\",\"spanId\":\"c000000000000001\",\"startTimeUnixNano\":\"%s\","
                 "\"endTimeUnixNano\":\"2\"}]}]}]}",
                 not_numbers[i]);
        assert_int_equal(ts_tm_add_line(m, line, strlen(line), 8, err, sizeof(err)), 0);
        if (!strstr(err, "startTimeUnixNano missing or not an integer"))
            fail_msg("\"%s\": %s", not_numbers[i], err);
    }
    /* a small error buffer is not overrun */
    char tiny[8];
    assert_int_equal(ts_tm_add_line(m, "nope", 4, 8, tiny, sizeof(tiny)), -1);
    assert_int_equal(strlen(tiny), 7);
    assert_int_equal(ts_tm_add_line(m, "nope", 4, 8, NULL, 0), -1);

    assert_int_equal(ts_tm_build(m), 0);
    assert_int_equal(ts_tm_span_count(m), 1);
    assert_int_equal(ts_tm_trace_count(m), 1);
    ts_tm_free(m);
}

static void test_read_stream(void **state)
{
    /* a valid line, a broken one, a BOM-prefixed valid one, CRLF, no final
     * newline */
    char text[4096];
    snprintf(
        text, sizeof(text), "%s%s%s%s%s",
        RES("a", "1", SPAN(TID, "a000000000000001", "", "one", "2", "000000000", "000000100", "")),
        "{\"resourceSpans\": oops}\n",
        "\xEF\xBB\xBF" RES("b", "2",
                           SPAN(TID, "a000000000000002", "a000000000000001", "two", "3",
                                "000000010", "000000090", "")),
        "\r\n",
        "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":\"" TID2
        "\",\"spanId\":\"b000000000000001\",\"startTimeUnixNano\":\"5\"}]}]}]}");
    FILE *in = fmemopen(text, strlen(text), "r");
    char *diag = NULL;
    size_t diag_len = 0;
    FILE *d = open_memstream(&diag, &diag_len);
    ts_tm_model *m = ts_tm_new();
    size_t bad = 99;
    assert_int_equal(ts_tm_read_stream(m, in, "spans.jsonl", "view", d, &bad), 0);
    fclose(d);
    fclose(in);
    assert_int_equal(bad, 1);
    assert_string_equal(diag, "traceshim view: spans.jsonl:2: invalid JSON at column 19: "
                              "unexpected character, expected a value\n");
    assert_int_equal(ts_tm_build(m), 0);
    assert_int_equal(ts_tm_span_count(m), 3);
    assert_int_equal(ts_tm_trace_count(m), 2);
    const ts_tm_trace *t = ts_tm_trace_at(m, 1);
    assert_string_equal(t->trace_id, TID);
    assert_int_equal(t->depth[1], 1);
    assert_int_equal(t->spans[1]->line, 3);
    assert_int_equal(ts_tm_trace_at(m, 0)->spans[0]->line, 5);
    free(diag);
    ts_tm_free(m);

    /* many bad lines: the first 20 are named, then a count */
    char many[2000] = "";
    for (int i = 0; i < 25; i++)
        strcat(many, "garbage\n");
    in = fmemopen(many, strlen(many), "r");
    diag = NULL;
    d = open_memstream(&diag, &diag_len);
    m = ts_tm_new();
    assert_int_equal(ts_tm_read_stream(m, in, "f", "html", d, &bad), 0);
    fclose(d);
    fclose(in);
    assert_int_equal(bad, 25);
    size_t nl = 0;
    for (const char *p = diag; *p; p++)
        nl += *p == '\n';
    assert_int_equal(nl, 21);
    /* named by the command that reads (`traceshim html` here) */
    assert_non_null(strstr(diag, "traceshim html: f:20: "));
    assert_null(strstr(diag, "traceshim html: f:21: "));
    assert_non_null(strstr(diag, "traceshim html: f: 5 more malformed lines not shown\n"));
    assert_null(strstr(diag, "traceshim view:"));
    assert_int_equal(ts_tm_build(m), 0);
    assert_int_equal(ts_tm_trace_count(m), 0);
    free(diag);
    ts_tm_free(m);
}

static void test_tree_order_and_roots(void **state)
{
    /* siblings given newest first come out oldest first; two roots of one
     * trace (one real, one orphan) are ordered by start too */
    const char *lines[] = {
        RES("s", "1",
            SPAN(TID, "0000000000000005", "0000000000000001", "c3", "1", "000000300", "000000400",
                 "") "," SPAN(TID, "0000000000000004", "0000000000000001", "c2", "1", "000000200",
                              "000000300", "") "," SPAN(TID, "0000000000000006", "0000000000000004",
                                                        "gc", "1", "000000250", "000000260",
                                                        "") "," SPAN(TID, "0000000000000003",
                                                                     "0000000000000001", "c1", "1",
                                                                     "000000100", "000000200", "")),
        RES("s", "1",
            SPAN(TID, "0000000000000009", "00000000000000ff", "orphan", "2", "000000050",
                 "000000060", "") "," SPAN(TID, "0000000000000001", "", "root", "2", "000000000",
                                           "000000500", "")),
    };
    ts_tm_model *m = model_of(lines, 2);
    const ts_tm_trace *t = ts_tm_trace_at(m, 0);
    static const char *const names[] = {"root", "c1", "c2", "gc", "c3", "orphan"};
    static const unsigned depth[] = {0, 1, 1, 2, 1, 0};
    assert_int_equal(t->n_spans, 6);
    for (size_t i = 0; i < 6; i++) {
        assert_string_equal(t->spans[i]->name, names[i]);
        assert_int_equal(t->depth[i], depth[i]);
    }
    assert_true(t->spans[5]->flags & TS_TM_PARENT_MISSING);
    assert_false(t->spans[0]->flags & TS_TM_PARENT_MISSING);
    ts_tm_free(m);
}

static void test_cycles_and_duplicates(void **state)
{
    const char *lines[] = {
        /* a <-> b loop with c hanging off b; s is its own parent */
        RES("x", "1",
            SPAN(TID, "000000000000000a", "000000000000000b", "a", "1", "000000010", "000000020",
                 "") "," SPAN(TID, "000000000000000b", "000000000000000a", "b", "1", "000000005",
                              "000000030",
                              "") "," SPAN(TID, "000000000000000c", "000000000000000b", "c", "1",
                                           "000000001", "000000002",
                                           "") "," SPAN(TID, "0000000000000005", "0000000000000005",
                                                        "self", "1", "000000040", "000000050", "")),
        /* the same span twice (exporter retry): kept once */
        RES("x", "1",
            SPAN(TID2, "0000000000000001", "", "root", "2", "000000000", "000000100", "")),
        RES("x", "1",
            SPAN(TID2, "0000000000000001", "", "root", "2", "000000000", "000000100", "")),
        /* a different span reusing the id: kept, marked; children attach
         * to the first one */
        RES("x", "1",
            SPAN(TID2, "0000000000000001", "", "impostor", "2", "000000010", "000000020",
                 "") "," SPAN(TID2, "0000000000000002", "0000000000000001", "kid", "1", "000000030",
                              "000000040", "")),
        /* that impostor again (a retried line): kept once too, though it
         * is not the first span of its id */
        RES("x", "1",
            SPAN(TID2, "0000000000000001", "", "impostor", "2", "000000010", "000000020", "")),
    };
    ts_tm_model *m = model_of(lines, 5);
    assert_int_equal(ts_tm_span_count(m), 7);
    const ts_tm_trace *t = ts_tm_trace_at(m, 0);
    assert_string_equal(t->trace_id, TID2);
    assert_int_equal(t->n_spans, 3);
    assert_string_equal(t->spans[0]->name, "root");
    assert_string_equal(t->spans[1]->name, "kid");
    assert_int_equal(t->depth[1], 1);
    assert_string_equal(t->spans[2]->name, "impostor");
    assert_int_equal(t->depth[2], 0);
    assert_int_equal(t->spans[2]->flags, TS_TM_DUPLICATE_ID);
    assert_int_equal(t->spans[0]->flags, 0);

    /* every span of the loop trace is shown exactly once; the loop is cut
     * at its earliest span (b) */
    t = ts_tm_trace_at(m, 1);
    assert_string_equal(t->trace_id, TID);
    assert_int_equal(t->n_spans, 4);
    unsigned d;
    const ts_tm_span *b = find_span(t, "000000000000000b", &d);
    assert_int_equal(d, 0);
    assert_int_equal(b->flags, TS_TM_CYCLE);
    find_span(t, "000000000000000a", &d);
    assert_int_equal(d, 1);
    find_span(t, "000000000000000c", &d);
    assert_int_equal(d, 1);
    const ts_tm_span *s = find_span(t, "0000000000000005", &d);
    assert_int_equal(d, 0);
    assert_int_equal(s->flags, TS_TM_CYCLE);
    char *out = render_trace(m, t);
    assert_non_null(strstr(out, "(parent cycle)"));
    free(out);
    out = render_trace(m, ts_tm_trace_at(m, 0));
    assert_non_null(strstr(out, "impostor"));
    assert_non_null(strstr(out, "(duplicate span id)"));
    free(out);
    ts_tm_free(m);
}

/* Milliseconds since t0 (CLOCK_MONOTONIC). */
static double ms_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* 40,000 spans of one id, in two traces, one where the id is their parent
 * id too, each 100th sent twice: the copies are dropped, the others kept
 * and marked, in time linear in the spans. Each span was compared with
 * every earlier one of its id (and its parent looked up through all of
 * them): 13 s, 24 s with the parent ids, for one such trace. */
static void test_many_spans_of_one_id(void **state)
{
    (void)state;
    enum { N = 20000 };
    ts_tm_model *m = ts_tm_new();
    char line[512], err[256];
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    size_t lineno = 0;
    for (int trace = 0; trace < 2; trace++) {
        for (int i = 0; i < N; i++) {
            for (int copy = 0; copy < (i % 100 == 0 ? 2 : 1); copy++) {
                int n = snprintf(line, sizeof(line),
                                 "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":["
                                 "{\"traceId\":\"%d\",\"spanId\":\"a\"%s,\"name\":\"d%d\","
                                 "\"startTimeUnixNano\":\"%d\",\"endTimeUnixNano\":\"%d\"}]}]}]}",
                                 trace + 1, trace ? ",\"parentSpanId\":\"a\"" : "", i, 1000 + i,
                                 1005 + i);
                assert_int_equal(ts_tm_add_line(m, line, (size_t)n, ++lineno, err, sizeof(err)),
                                 copy ? 0 : 1);
            }
        }
    }
    assert_int_equal(ts_tm_build(m), 0);
    double ms = ms_since(&t0);
    assert_int_equal(ts_tm_span_count(m), 2 * N);
    for (size_t k = 0; k < 2; k++) {
        const ts_tm_trace *t = ts_tm_trace_at(m, k);
        assert_int_equal(t->n_spans, N);
        size_t marked = 0;
        for (size_t i = 0; i < t->n_spans; i++)
            marked += (t->spans[i]->flags & TS_TM_DUPLICATE_ID) != 0;
        assert_int_equal(marked, N - 1);
    }
    ts_tm_free(m);
    if (ms > 3000)
        fail_msg("40,000 spans of one id took %.0f ms", ms);
}

/* ================= rendering ================= */

static void test_format_duration(void **state)
{
    static const struct {
        uint64_t ns;
        const char *text;
    } cases[] = {
        {0, "0ns"},
        {999, "999ns"},
        {1000, "1.00µs"},
        {1530, "1.53µs"},
        {1534, "1.53µs"},
        {1535, "1.54µs"},
        {999994, "999.99µs"},
        {999995, "1.00ms"}, /* not 1000.00µs */
        {1500000, "1.50ms"},
        {12410000, "12.41ms"},
        {999999999, "1.00s"},
        {2500000000ULL, "2.50s"},
        {3600000000000ULL, "3600.00s"},
        {UINT64_MAX, "18446744073.71s"},
    };
    char buf[32];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ts_tm_format_duration(cases[i].ns, buf, sizeof(buf));
        assert_string_equal(buf, cases[i].text);
    }
    char small[4];
    ts_tm_format_duration(12410000, small, sizeof(small));
    assert_string_equal(small, "12.");
}

static void test_render_known_trace(void **state)
{
    ts_tm_model *m = model_of(multi_lines, sizeof(multi_lines) / sizeof(multi_lines[0]));
    char *out = render_trace(m, NULL);
    /* Trace: 0..10ms. Bars have 30 columns, 1 column = 1/3 ms.
     * curl 0-10ms: all; frontend GET 1-9ms: columns 3..26; client 2-4ms:
     * 6..11; orders 2-4ms: 6..11; render 5ms+500ns: column 15. */
    const char *expected =
        "trace " TID "  5 spans  10.00ms  curl, frontend, orders\n"
        "  curl      GET /api              client    200           10.00ms  "
        "|##############################|\n"
        "    frontend  GET /api            server    200            8.00ms  "
        "|   ########################   |\n"
        "      frontend  GET /orders/42    client    500  ERROR     2.00ms  "
        "|      ######                  |  error: upstream 500\n"
        "        orders    GET /orders/42  server    500  ERROR     2.00ms  "
        "|      ######                  |  error: db down\n"
        "      frontend  render            internal                  500ns  "
        "|               #              |\n"
        "\n"
        "trace " TID2 "  1 span  0ns  orders\n"
        "  orders  cron  internal                    0ns  |##############################|\n";
    assert_string_equal(out, expected);

    /* structure, independent of exact spacing: children indented two more
     * columns than their parent, and the bars all start in one column */
    const char *bar0 = strchr(line_of(out, 1), '|');
    size_t bar_col = (size_t)(bar0 - line_of(out, 1));
    for (int i = 1; i <= 5; i++) {
        const char *l = line_of(out, i);
        /* count columns, not bytes: µ is two bytes */
        size_t cols = 0;
        for (const char *p = l; *p && *p != '|'; p++)
            cols += ((unsigned char)*p & 0xC0) != 0x80;
        assert_int_equal(cols, bar_col);
        assert_int_equal(strspn(l, " "), (size_t)(2 + 2 * ts_tm_trace_at(m, 0)->depth[i - 1]));
    }
    free(out);

    /* one trace alone: no blank line */
    const ts_tm_trace *t;
    assert_int_equal(ts_tm_find_trace(m, TID2, &t), TS_TM_FOUND);
    out = render_trace(m, t);
    assert_string_equal(out, "trace " TID2 "  1 span  0ns  orders\n"
                             "  orders  cron  internal                    0ns  "
                             "|##############################|\n");
    free(out);
    ts_tm_free(m);
}

static void test_render_units_bars_and_safety(void **state)
{
    const char *lines[] = {
        RES("svc\\u001b[31m", "1",
            SPAN(TID, "0000000000000001", "", "root\\u0007\\n\\u009bcaf\\u00e9 \\u2192", "2",
                 "000000000", "001000000", "") "," SPAN(TID, "0000000000000002", "0000000000000001",
                                                        "tail\\u202ex\\u2067y\\u2028", "3",
                                                        "000999000", "001000000", "")),
        RES("long", "2",
            SPAN(
                TID2, "0000000000000001", "",
                "GET /"
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                "2", "002000000", "002001000", "")),
    };
    ts_tm_model *m = model_of(lines, 2);
    char *out = render_trace(m, NULL);
    /* terminal control characters never reach the output */
    assert_null(strchr(out, '\x1b'));
    assert_null(strchr(out, '\a'));
    assert_null(strstr(out, "\xC2\x9B"));
    assert_non_null(strstr(out, "svc?[31m  root???"));
    /* nor the characters that reorder a line (a right-to-left override
     * would show the rest of it, durations and bars, backwards) */
    assert_null(strstr(out, "\xE2\x80\xAE"));
    assert_null(strstr(out, "\xE2\x81\xA7"));
    assert_null(strstr(out, "\xE2\x80\xA8"));
    assert_non_null(strstr(out, "tail?x?y?"));
    assert_non_null(strstr(out, "root???caf\xC3\xA9 \xE2\x86\x92")); /* printable text stays */
    /* a 1µs span at the very end of a 1ms trace still gets one column */
    const char *l = line_of(out, 2);
    assert_non_null(strstr(l, "1.00µs"));
    assert_non_null(strstr(l, "|                             #|"));
    assert_non_null(strstr(line_of(out, 1), "1.00ms"));
    /* a very long name is cut with an ellipsis, keeping the line bounded */
    l = line_of(out, 5);
    assert_non_null(strstr(l, "GET /aaaa"));
    assert_non_null(strstr(l, "…  server"));
    assert_true(strlen(l) < 200);
    free(out);
    ts_tm_free(m);
}

/* ================= --trace selection ================= */

static void test_find_trace(void **state)
{
    const char *lines[] = {
        RES("s", "1",
            SPAN("5b8efff798038103d269b633813fc60c", "0000000000000001", "", "a", "1", "000000000",
                 "000000001", "") "," SPAN("5b8e0000000000000000000000000001", "0000000000000002",
                                           "", "b", "1", "000000002", "000000003", "")),
        RES("s", "1",
            SPAN("d269b633813fc60c", "0000000000000003", "", "c", "1", "000000004", "000000005",
                 "")),
    };
    ts_tm_model *m = model_of(lines, 2);
    const ts_tm_trace *t = (const ts_tm_trace *)1;
    assert_int_equal(ts_tm_find_trace(m, "5b8efff798038103d269b633813fc60c", &t), TS_TM_FOUND);
    assert_string_equal(t->spans[0]->name, "a");
    assert_int_equal(ts_tm_find_trace(m, "5B8EFFF798038103D269B633813FC60C", &t), TS_TM_FOUND);
    assert_string_equal(t->spans[0]->name, "a");
    assert_int_equal(ts_tm_find_trace(m, "5b8ef", &t), TS_TM_FOUND);
    assert_string_equal(t->spans[0]->name, "a");
    assert_int_equal(ts_tm_find_trace(m, "5b8e0", &t), TS_TM_FOUND);
    assert_string_equal(t->spans[0]->name, "b");
    assert_int_equal(ts_tm_find_trace(m, "5b8e", &t), TS_TM_AMBIGUOUS);
    assert_null(t);
    assert_int_equal(ts_tm_find_trace(m, "5", &t), TS_TM_AMBIGUOUS);
    /* the 64-bit form of a padded id */
    assert_int_equal(ts_tm_find_trace(m, "d269b633813fc60c", &t), TS_TM_FOUND);
    assert_string_equal(t->spans[0]->name, "c");
    assert_int_equal(ts_tm_find_trace(m, "0000000000000000d269", &t), TS_TM_FOUND);
    assert_string_equal(t->spans[0]->name, "c");
    assert_int_equal(ts_tm_find_trace(m, "ffff", &t), TS_TM_NOT_FOUND);
    assert_null(t);
    assert_int_equal(ts_tm_find_trace(m, "5b8efff798038103d269b633813fc60d", &t), TS_TM_NOT_FOUND);
    assert_int_equal(ts_tm_find_trace(m, "", &t), TS_TM_BAD_ID);
    assert_int_equal(ts_tm_find_trace(m, "xyz", &t), TS_TM_BAD_ID);
    assert_int_equal(ts_tm_find_trace(m, "5b8efff798038103d269b633813fc60c0", &t), TS_TM_BAD_ID);
    assert_int_equal(ts_tm_find_trace(m, NULL, &t), TS_TM_BAD_ID);
    ts_tm_free(m);
}

/* ================= scale ================= */

static void test_many_traces_and_deep_chain(void **state)
{
    ts_tm_model *m = ts_tm_new();
    char line[1024], err[256];
    /* 5000 traces of 3 spans, added child first */
    for (int i = 0; i < 5000; i++) {
        char tid[33];
        snprintf(tid, sizeof(tid), "%032x", i + 1);
        int n = snprintf(line, sizeof(line),
                         "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":["
                         "{\"traceId\":\"%s\",\"spanId\":\"3\",\"parentSpanId\":\"2\","
                         "\"startTimeUnixNano\":\"%d\",\"endTimeUnixNano\":\"%d\"},"
                         "{\"traceId\":\"%s\",\"spanId\":\"2\",\"parentSpanId\":\"1\","
                         "\"startTimeUnixNano\":\"%d\",\"endTimeUnixNano\":\"%d\"},"
                         "{\"traceId\":\"%s\",\"spanId\":\"1\","
                         "\"startTimeUnixNano\":\"%d\",\"endTimeUnixNano\":\"%d\"}]}]}]}",
                         tid, 10000 - i + 2, 10000 - i + 3, tid, 10000 - i + 1, 10000 - i + 4, tid,
                         10000 - i, 10000 - i + 5);
        assert_int_equal(ts_tm_add_line(m, line, (size_t)n, (size_t)i + 1, err, sizeof(err)), 3);
    }
    /* one chain 20000 deep, one span per line */
    for (int i = 1; i <= 20000; i++) {
        char parent[40] = "";
        if (i > 1)
            snprintf(parent, sizeof(parent), ",\"parentSpanId\":\"%x\"", i - 1);
        int n = snprintf(line, sizeof(line),
                         "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":\"ffff\","
                         "\"spanId\":\"%x\"%s,\"startTimeUnixNano\":\"%d\","
                         "\"endTimeUnixNano\":\"40000\"}]}]}]}",
                         i, parent, i);
        assert_int_equal(ts_tm_add_line(m, line, (size_t)n, (size_t)i, err, sizeof(err)), 1);
    }
    assert_int_equal(ts_tm_build(m), 0);
    assert_int_equal(ts_tm_span_count(m), 35000);
    assert_int_equal(ts_tm_trace_count(m), 5001);
    /* newest-started trace last */
    const ts_tm_trace *first = ts_tm_trace_at(m, 0);
    assert_string_equal(first->trace_id, "0000000000000000000000000000ffff");
    const ts_tm_trace *t = ts_tm_trace_at(m, 5000);
    assert_string_equal(t->trace_id, "00000000000000000000000000000001");
    assert_int_equal(t->depth[2], 2);
    assert_string_equal(t->spans[2]->span_id, "0000000000000003");
    t = ts_tm_trace_at(m, 1);
    assert_string_equal(t->trace_id, "00000000000000000000000000001388"); /* i = 4999 */
    const ts_tm_trace *chain;
    assert_int_equal(ts_tm_find_trace(m, "ffff", &chain), TS_TM_NOT_FOUND);
    assert_int_equal(ts_tm_find_trace(m, "0000000000000000000000000000ffff", &chain), TS_TM_FOUND);
    assert_int_equal(chain->n_spans, 20000);
    assert_int_equal(chain->depth[19999], 19999);
    /* rendering a deep chain stays bounded per line */
    char *out = render_trace(m, chain);
    const char *last = strrchr(out, '\n');
    assert_non_null(last);
    assert_true(strlen(line_of(out, 20000)) < 200);
    free(out);
    /* rebuilding after more input works */
    const char *more =
        RES("late", "9", SPAN(TID, "0000000000000001", "", "x", "2", "000000000", "000000001", ""));
    assert_int_equal(ts_tm_add_line(m, more, strlen(more), 1, err, sizeof(err)), 1);
    assert_int_equal(ts_tm_trace_count(m), 0); /* stale until rebuilt */
    assert_int_equal(ts_tm_build(m), 0);
    assert_int_equal(ts_tm_trace_count(m), 5002);
    ts_tm_free(m);
}

/* 40 services (two processes each): past the sizes at which the service and
 * resource maps grow (32 services, 32 resources), which once freed the
 * resource table and aborted every command on such a file (double free). */
static void test_many_services(void **state)
{
    enum { NSVC = 40 };
    ts_tm_model *m = ts_tm_new();
    assert_non_null(m);
    char line[1024], err[256];
    size_t lineno = 0;
    /* round 0 names each service once; round 1 adds a second process per
     * service; round 2 repeats round 0's lines, whose processes are shared */
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < NSVC; i++) {
            int pid = round == 1 ? 2000 + i : 1000 + i;
            int n = snprintf(line, sizeof(line),
                             "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":"
                             "\"service.name\",\"value\":{\"stringValue\":\"svc%d\"}},{\"key\":"
                             "\"process.pid\",\"value\":{\"intValue\":\"%d\"}}]},\"scopeSpans\":"
                             "[{\"spans\":[{\"traceId\":\"%032x\",\"spanId\":\"%016x\","
                             "\"name\":\"op%d\",\"startTimeUnixNano\":\"%d\","
                             "\"endTimeUnixNano\":\"%d\"}]}]}]}\n",
                             i, pid, i + 1, round * NSVC + i + 1, i, 1000 + round * 100 + i,
                             2000 + round * 100 + i);
            assert_true(n > 0 && (size_t)n < sizeof(line));
            lineno++;
            assert_int_equal(ts_tm_add_line(m, line, (size_t)n, lineno, err, sizeof(err)), 1);
            assert_string_equal(err, "");
        }
    assert_int_equal(ts_tm_build(m), 0);
    assert_int_equal(ts_tm_span_count(m), 3 * NSVC);
    assert_int_equal(ts_tm_service_count(m), NSVC);
    assert_int_equal(ts_tm_resource_count(m), 2 * NSVC);
    assert_int_equal(ts_tm_trace_count(m), NSVC);
    for (size_t r = 0; r < 2 * NSVC; r++) {
        const ts_tm_resource *res = ts_tm_resource_at(m, r);
        assert_non_null(res);
        assert_int_equal(res->id, r);
        assert_int_equal(res->svc_id, r % NSVC);
        assert_int_equal(res->pid, (r < NSVC ? 1000 : 2000) + (long long)(r % NSVC));
    }
    for (int i = 0; i < NSVC; i++) {
        char name[16], tid[33];
        snprintf(name, sizeof(name), "svc%d", i);
        assert_string_equal(ts_tm_service_at(m, (size_t)i), name);
        snprintf(tid, sizeof(tid), "%032x", i + 1);
        const ts_tm_trace *t;
        assert_int_equal(ts_tm_find_trace(m, tid, &t), TS_TM_FOUND);
        assert_int_equal(t->n_spans, 3);
        for (int round = 0; round < 3; round++) {
            char sid[17];
            snprintf(sid, sizeof(sid), "%016x", round * NSVC + i + 1);
            const ts_tm_span *s = find_span(t, sid, NULL);
            assert_string_equal(s->service, name);
            assert_int_equal(s->svc_id, (size_t)i);
            assert_ptr_equal(s->service, ts_tm_service_at(m, (size_t)i));
            /* rounds 0 and 2: the same process, one shared resource */
            size_t want = round == 1 ? (size_t)(NSVC + i) : (size_t)i;
            assert_ptr_equal(s->resource, ts_tm_resource_at(m, want));
            assert_int_equal(s->line, (size_t)(round * NSVC + i + 1));
        }
    }
    ts_tm_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_scalars),
        cmocka_unit_test(test_json_numbers),
        cmocka_unit_test(test_json_numbers_as_strtod),
        cmocka_unit_test_setup_teardown(test_json_numbers_in_decimal_comma_locale,
                                        comma_locale_setup, comma_locale_teardown),
        cmocka_unit_test(test_json_containers),
        cmocka_unit_test(test_json_escapes),
        cmocka_unit_test(test_json_errors),
        cmocka_unit_test(test_json_depth),
        cmocka_unit_test(test_model_example_line),
        cmocka_unit_test(test_model_multi_process_trace),
        cmocka_unit_test(test_model_lenient_forms),
        cmocka_unit_test(test_model_bad_input),
        cmocka_unit_test(test_read_stream),
        cmocka_unit_test(test_tree_order_and_roots),
        cmocka_unit_test(test_cycles_and_duplicates),
        cmocka_unit_test(test_many_spans_of_one_id),
        cmocka_unit_test(test_format_duration),
        cmocka_unit_test(test_render_known_trace),
        cmocka_unit_test(test_render_units_bars_and_safety),
        cmocka_unit_test(test_find_trace),
        cmocka_unit_test(test_many_traces_and_deep_chain),
        cmocka_unit_test(test_many_services),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
