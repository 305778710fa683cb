/* test_otlp_response.c — an OTLP receiver's partial success read from a
 * 2xx answer's body, in protobuf and in OTLP/JSON: the rejected count and
 * the message (made safe for stderr, cut), unknown fields skipped, and
 * every body that says nothing, or does not decode, taken as a full
 * success. (The bytes protoc makes are read in
 * tests/integration/test_exporter_transport.py.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "reporter/otlp_response.h"

#define PB(lit) lit, sizeof lit - 1

static void expect_pb(const char *body, size_t len, uint64_t rejected, const char *message)
{
    struct ts_otlp_partial p;
    assert_true(ts_otlp_partial_success(body, len, false, &p));
    assert_int_equal(p.rejected_spans, rejected);
    assert_string_equal(p.message, message);
}

static void expect_nothing(const char *body, size_t len, bool json)
{
    struct ts_otlp_partial p;
    memset(&p, 0x5a, sizeof p);
    if (ts_otlp_partial_success(body, len, json, &p))
        fail_msg("%zu bytes read as %llu rejected, \"%s\"", len,
                 (unsigned long long)p.rejected_spans, p.message);
    assert_int_equal(p.rejected_spans, 0);
    assert_string_equal(p.message, "");
}

static void test_protobuf(void **state)
{
    (void)state;
    /* partial_success { rejected_spans: 3 error_message: "quota" } */
    expect_pb(PB("\x0a\x09\x08\x03\x12\x05quota"), 3, "quota");
    /* the message alone: a warning, every span taken */
    expect_pb(PB("\x0a\x04\x12\x02hi"), 0, "hi");
    /* a count past one byte of varint (300) */
    expect_pb(PB("\x0a\x03\x08\xac\x02"), 300, "");
    /* unknown fields around and inside: a varint, fixed64, fixed32 and
     * bytes at the top; bytes inside */
    expect_pb(PB("\x10\x01"
                 "\x19\x01\x02\x03\x04\x05\x06\x07\x08"
                 "\x25\x01\x02\x03\x04"
                 "\x0a\x07\x1a\x01z\x08\x02\x12\x00"
                 "\x2a\x01y"),
              2, "");
    /* two partial_success fields merge; the last scalar wins */
    expect_pb(PB("\x0a\x02\x08\x05\x0a\x03\x12\x01m"), 5, "m");
    expect_pb(PB("\x0a\x04\x08\x05\x08\x07"), 7, "");
}

static void test_protobuf_says_nothing(void **state)
{
    (void)state;
    expect_nothing("", 0, false);
    expect_nothing(PB("\x0a\x00"), false);         /* an empty partial_success */
    expect_nothing(PB("\x0a\x02\x08\x00"), false); /* zero rejected, no message */
    expect_nothing(PB("\x0a\x02\x12\x00"), false);
    /* a negative int64 (ten bytes of varint) is no count */
    expect_nothing(PB("\x0a\x0b\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"), false);
    /* does not decode: cut, a length past the end, an eleven-byte varint,
     * a group */
    expect_nothing(PB("\x0a\x05\x08\x03\x12\x05q"), false);
    expect_nothing(PB("\x0a\x7f\x08\x03"), false);
    expect_nothing(PB("\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\x0a\x02\x08\x01"), false);
    expect_nothing(PB("\x0b\x0a\x02\x08\x01"), false);
    /* HTML from a proxy in front of the collector */
    expect_nothing(PB("<html>OK</html>"), false);
}

static void test_message_made_safe(void **state)
{
    (void)state;
    struct ts_otlp_partial p;
    /* an escape sequence and a byte past ASCII become '?' */
    assert_true(ts_otlp_partial_success(PB("\x0a\x0b\x08\x01\x12\x07"
                                           "a\x1b[1m\xc3z"),
                                        false, &p));
    assert_string_equal(p.message, "a?[1m?z");
    /* a long one is cut */
    char body[512];
    size_t msg = 300;
    memcpy(body, "\x0a\xb1\x02\x08\x01\x12\xac\x02", 8); /* 305 = 0xb1 0x02, 300 = 0xac 0x02 */
    memset(body + 8, 'a', msg);
    assert_true(ts_otlp_partial_success(body, 8 + msg, false, &p));
    assert_int_equal(strlen(p.message), TS_OTLP_MESSAGE_MAX + 3);
    assert_memory_equal(p.message + TS_OTLP_MESSAGE_MAX, "...", 3);
    assert_int_equal(p.rejected_spans, 1);
}

static void test_json(void **state)
{
    (void)state;
    struct ts_otlp_partial p;
    static const struct {
        const char *body;
        uint64_t rejected;
        const char *message;
    } said[] = {
        {"{\"partialSuccess\":{\"rejectedSpans\":\"5\",\"errorMessage\":\"quota\"}}", 5, "quota"},
        {"{\"partialSuccess\":{\"rejectedSpans\":2}}", 2, ""},
        {"{\"partial_success\":{\"rejected_spans\":\"1\",\"error_message\":\"x\"}}", 1, "x"},
        {" {\"partialSuccess\": {\"errorMessage\": \"slow down\"}} ", 0, "slow down"},
        {"{\"partialSuccess\":{\"rejectedSpans\":\"18446744073709551615\"}}", UINT64_MAX, ""},
    };
    for (size_t i = 0; i < sizeof said / sizeof *said; i++) {
        if (!ts_otlp_partial_success(said[i].body, strlen(said[i].body), true, &p))
            fail_msg("%s: nothing read", said[i].body);
        assert_int_equal(p.rejected_spans, said[i].rejected);
        assert_string_equal(p.message, said[i].message);
    }
    static const char *const nothing[] = {
        "{}",
        "{\"partialSuccess\":{}}",
        "{\"partialSuccess\":null}",
        "{\"partialSuccess\":{\"rejectedSpans\":\"0\",\"errorMessage\":\"\"}}",
        "{\"partialSuccess\":{\"rejectedSpans\":-1}}",
        "{\"partialSuccess\":{\"rejectedSpans\":1.5}}",
        "{\"partialSuccess\":{\"rejectedSpans\":\"1e3\"}}",
        "{\"partialSuccess\":{\"rejectedSpans\":\"\"}}",
        "{\"partialSuccess\":{\"rejectedSpans\":true}}",
        "{\"partialSuccess\":{\"rejectedSpans\":3}",
        "[1,2]",
        "OK",
    };
    for (size_t i = 0; i < sizeof nothing / sizeof *nothing; i++)
        expect_nothing(nothing[i], strlen(nothing[i]), true);
}

/* Every cut of a body, from a buffer of exactly its length (ASan stops a
 * read past it), decodes or not without harm, and the message is always
 * a string. */
static void test_cuts(void **state)
{
    (void)state;
    static const struct {
        const char *body;
        size_t len;
        bool json;
    } bodies[] = {
        {PB("\x0a\x09\x08\x03\x12\x05quota"), false},
        {PB("{\"partialSuccess\":{\"rejectedSpans\":\"5\",\"errorMessage\":\"quota\"}}"), true},
    };
    for (size_t b = 0; b < sizeof bodies / sizeof *bodies; b++)
        for (size_t cut = 0; cut < bodies[b].len; cut++) {
            char *exact = malloc(cut ? cut : 1);
            assert_non_null(exact);
            memcpy(exact, bodies[b].body, cut);
            struct ts_otlp_partial p;
            (void)ts_otlp_partial_success(exact, cut, bodies[b].json, &p);
            assert_true(strlen(p.message) <= TS_OTLP_MESSAGE_MAX + 3);
            free(exact);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_protobuf),
        cmocka_unit_test(test_protobuf_says_nothing),
        cmocka_unit_test(test_message_made_safe),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_cuts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
