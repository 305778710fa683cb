/* test_otlp_json.c — the JSON buffer and the OTLP/JSON encoder: the exact
 * line the collector's file exporter format expects, escaping of hostile
 * bytes (always valid JSON), and OTEL_RESOURCE_ATTRIBUTES parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "preload/blocks.h"
#include "preload/config.h"
#include "preload/process.h"
#include "preload/span.h"
#include "reporter/encoder.h"
#include "reporter/json_buf.h"
#include "reporter/otlp_json.h"
#include "reporter/resource.h"
#include "span_fixtures.h"
#include "stderr_capture.h"

/* ------------------------------------------------------------- helpers */

static const char *buf_str(struct ts_json_buf *b)
{
    ts_json_buf_append_char(b, '\0');
    b->len--;
    return b->data;
}

static void known_span(struct ts_span *s)
{
    known_span_base(s);
    s->sampled = 1;
    s->parent_is = TS_PARENT_REMOTE; /* a server span under a context read from the request */
    s->end_ns = 1700000000001500000ull;
    ts_span_attr_int(s, "http.response.status_code", 200);
    ts_span_attr_bool(s, "b", true);
}

#define RESOURCE_BASE                                                                              \
    "{\"key\":\"service.name\",\"value\":{\"stringValue\":\"frontend\"}},"                         \
    "{\"key\":\"process.pid\",\"value\":{\"intValue\":\"1234\"}},"                                 \
    "{\"key\":\"process.executable.name\",\"value\":{\"stringValue\":\"python3\"}},"               \
    "{\"key\":\"host.name\",\"value\":{\"stringValue\":\"box\"}},"                                 \
    "{\"key\":\"telemetry.sdk.name\",\"value\":{\"stringValue\":\"traceshim\"}},"                  \
    "{\"key\":\"telemetry.sdk.language\",\"value\":{\"stringValue\":\"c\"}},"                      \
    "{\"key\":\"telemetry.sdk.version\",\"value\":{\"stringValue\":\"" TS_VERSION "\"}}"

#define HEAD(extra_res)                                                                            \
    "{\"resourceSpans\":[{\"resource\":{\"attributes\":[" RESOURCE_BASE extra_res                  \
    "]},\"scopeSpans\":[{\"scope\":{\"name\":\"traceshim\",\"version\":\"" TS_VERSION              \
    "\"},\"spans\":["
#define TAIL "]}]}]}"

#define KNOWN_SPAN_JSON                                                                            \
    "{\"traceId\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"spanId\":\"00f067aa0ba902b7\","           \
    "\"parentSpanId\":\"b7ad6b7169203331\",\"name\":\"GET /api\",\"kind\":2,"                      \
    "\"startTimeUnixNano\":\"1700000000000000000\",\"endTimeUnixNano\":\"1700000000001500000\","   \
    "\"attributes\":[{\"key\":\"http.request.method\",\"value\":{\"stringValue\":\"GET\"}},"       \
    "{\"key\":\"http.response.status_code\",\"value\":{\"intValue\":\"200\"}},"                    \
    "{\"key\":\"b\",\"value\":{\"boolValue\":true}}],\"status\":{\"code\":2},\"flags\":769}"

/* A span in a trace with a W3C tracestate: "traceState", after the ids,
 * escaped as any JSON string (a value may hold '"' and '\\'). */
static void test_span_trace_state(void **state)
{
    (void)state;
    struct ts_span s;
    known_span(&s);
    static const char ts[] = "rojo=00f067aa0ba902b7,congo=a\"b\\c";
    ts_span_set_trace_state(&s, ts, sizeof ts - 1);
    struct ts_json_buf b;
    ts_json_buf_init(&b);
    ts_otlp_json_span(&b, &s, true);
    assert_non_null(b.data);
    const char *want = "\"parentSpanId\":\"b7ad6b7169203331\","
                       "\"traceState\":\"rojo=00f067aa0ba902b7,congo=a\\\"b\\\\c\","
                       "\"name\":\"GET /api\"";
    if (!strstr(b.data, want))
        fail_msg("no %s in %.*s", want, (int)b.len, b.data);
    ts_json_buf_free(&b);
    /* none: no field */
    known_span(&s);
    ts_json_buf_init(&b);
    ts_otlp_json_span(&b, &s, true);
    assert_null(strstr(b.data, "traceState"));
    ts_json_buf_free(&b);
}

/* A span whose attributes did not all fit its slots says how many were
 * left out: "droppedAttributesCount", after the attributes, only when
 * not 0 (OTLP/JSON leaves defaults out: KNOWN_SPAN_JSON has none). */
static void test_span_dropped_attributes(void **state)
{
    (void)state;
    struct ts_span s;
    known_span(&s);
    s.dropped_attrs = 255;
    struct ts_json_buf b;
    ts_json_buf_init(&b);
    ts_otlp_json_span(&b, &s, true);
    assert_non_null(b.data);
    const char *want = "{\"key\":\"b\",\"value\":{\"boolValue\":true}}],"
                       "\"droppedAttributesCount\":255,\"status\":{\"code\":2},\"flags\":769}";
    if (b.len < strlen(want) || strcmp(b.data + b.len - strlen(want), want) != 0)
        fail_msg("not ending in %s: %.*s", want, (int)b.len, b.data);
    ts_json_buf_free(&b);
}

/* ------------------------------------------------------------ json_buf */

/* A buffer grown from nothing to 8 MiB passes through each kind of memory
 * (malloc below 64 KiB, the block pools up to 2 MiB, mmap above) and keeps
 * every byte across each move, twice over (the second time from the
 * pools' spares); freed, it owns nothing, and an idle trim runs after. */
static void test_buf_grows_through_every_kind_of_memory(void **state)
{
    (void)state;
    for (int round = 0; round < 2; round++) {
        struct ts_json_buf b;
        ts_json_buf_init(&b);
        size_t caps_seen = 0, last_cap = 0;
        for (size_t i = 0; i < ((size_t)8 << 20); i++) {
            ts_json_buf_append_char(&b, (char)('a' + i % 23));
            if (b.cap != last_cap) {
                last_cap = b.cap;
                caps_seen++;
                for (size_t k = 0; k <= i; k += 4093) /* what was there came along */
                    assert_int_equal(b.data[k], (char)('a' + k % 23));
            }
        }
        assert_false(b.failed);
        assert_int_equal(b.len, (size_t)8 << 20);
        assert_true(caps_seen >= 15);
        for (size_t k = 0; k < b.len; k += 65537)
            assert_int_equal(b.data[k], (char)('a' + k % 23));
        ts_json_buf_free(&b);
        assert_null(b.data);
        assert_int_equal(b.cap, 0);
    }
    ts_buf_trim(0);
}

static void test_buf_numbers_and_hex(void **state)
{
    struct ts_json_buf b;
    ts_json_buf_init(&b);
    ts_json_buf_u64(&b, 0);
    ts_json_buf_append_char(&b, ' ');
    ts_json_buf_u64(&b, UINT64_MAX);
    ts_json_buf_append_char(&b, ' ');
    ts_json_buf_i64(&b, INT64_MIN);
    ts_json_buf_append_char(&b, ' ');
    ts_json_buf_i64(&b, -42);
    ts_json_buf_append_char(&b, ' ');
    ts_json_buf_i64(&b, INT64_MAX);
    ts_json_buf_append_char(&b, ' ');
    const uint8_t bytes[] = {0x00, 0x0f, 0xa0, 0xff};
    ts_json_buf_hex(&b, bytes, sizeof bytes);
    assert_string_equal(buf_str(&b), "0 18446744073709551615 -9223372036854775808 -42 "
                                     "9223372036854775807 000fa0ff");
    assert_false(b.failed);
    ts_json_buf_free(&b);
}

static void test_buf_grows_and_truncates(void **state)
{
    struct ts_json_buf b;
    ts_json_buf_init(&b);
    char chunk[1000];
    memset(chunk, 'x', sizeof chunk);
    for (int i = 0; i < 100; i++)
        ts_json_buf_append(&b, chunk, sizeof chunk);
    assert_int_equal(b.len, 100000);
    assert_true(b.cap >= b.len);
    assert_int_equal(b.data[99999], 'x');
    ts_json_buf_truncate(&b, 10);
    assert_int_equal(b.len, 10);
    ts_json_buf_truncate(&b, 50); /* never grows */
    assert_int_equal(b.len, 10);
    ts_json_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_true(b.cap >= 100000); /* memory kept for reuse */
    ts_json_buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.cap, 0);
}

/* A request it cannot satisfy makes the buffer failed, not a crash; later
 * appends are ignored until reset. */
static void test_buf_failure_is_sticky(void **state)
{
    struct ts_json_buf b;
    ts_json_buf_init(&b);
    ts_json_buf_append_cstr(&b, "ab");
    assert_false(ts_json_buf_reserve(&b, SIZE_MAX / 2));
    assert_true(b.failed);
    ts_json_buf_append_cstr(&b, "cd");
    ts_json_buf_string(&b, "x", 1);
    assert_int_equal(b.len, 2);
    ts_json_buf_reset(&b);
    assert_false(b.failed);
    ts_json_buf_append_cstr(&b, "ok");
    assert_int_equal(b.len, 2);
    assert_memory_equal(b.data, "ok", 2);
    ts_json_buf_free(&b);
}

/* Every length of number (the digits go eight at a time, the first group
 * of any length) reads as printf writes it. */
static void test_buf_u64_every_length(void **state)
{
    (void)state;
    uint64_t v = 0;
    for (int digits = 1; digits <= 20; digits++) {
        const uint64_t samples[] = {v, v + 1, v * 9 + 8};
        for (size_t k = 0; k < sizeof samples / sizeof samples[0]; k++) {
            char expect[32];
            snprintf(expect, sizeof expect, "%llu", (unsigned long long)samples[k]);
            struct ts_json_buf b;
            ts_json_buf_init(&b);
            ts_json_buf_u64(&b, samples[k]);
            assert_string_equal(buf_str(&b), expect);
            ts_json_buf_free(&b);
        }
        v = v * 10 + 1;
    }
}

/* ts_put_u64 writes eight digits at a time: every power of ten and its
 * neighbours (where the count changes), 0 and UINT64_MAX read as printf
 * writes them, and not one byte is written past the TS_U64_DIGITS_MAX
 * bytes of room it has. */
static void check_put_u64(uint64_t v)
{
    char expect[32], out[32];
    int n = snprintf(expect, sizeof expect, "%llu", (unsigned long long)v);
    memset(out, '#', sizeof out);
    char *end = ts_put_u64(out, v);
    assert_int_equal(end - out, n);
    assert_memory_equal(out, expect, (size_t)n);
    for (size_t i = TS_U64_DIGITS_MAX; i < sizeof out; i++)
        assert_int_equal(out[i], '#');
    assert_int_equal(ts_u64_digits(v), (unsigned)n);
}

static void test_put_u64_boundaries(void **state)
{
    (void)state;
    static const uint64_t fixed[] = {0, 1, 9, 10, 11, 99, 100, 101, 999, 1000,
                                     UINT64_MAX, UINT64_MAX - 1, (uint64_t)INT64_MAX,
                                     (uint64_t)INT64_MAX + 1, 1700000000000000000ull};
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
        check_put_u64(fixed[i]);
    uint64_t p = 1;
    for (int k = 0; k <= 19; k++, p *= 10) {
        check_put_u64(p - 1);
        check_put_u64(p);
        check_put_u64(p + 1);
        check_put_u64(p * 2); /* above 10^19 this wraps: still some number */
    }
    /* Eight digits are two halves of four, each split the same way: every
     * half, under every other kind of half (zero, a run of nines, one in
     * the middle), and the same in the groups of longer numbers. */
    for (uint64_t half = 0; half < 10000; half++) {
        check_put_u64(half);
        check_put_u64(half * 10000);
        check_put_u64(half * 10000 + 9999);
        check_put_u64(9999 * 10000 + half);
        check_put_u64(half * 10000 + 5050);
        check_put_u64((half * 10000 + 4321) * 100000000 + 12345678);
        check_put_u64(1844 * 10000000000000000u + half * 100000000 + half);
    }
    /* every bit length: the digit count starts from it */
    for (int bits = 1; bits <= 64; bits++) {
        uint64_t top = bits == 64 ? UINT64_MAX : ((uint64_t)1 << bits) - 1;
        check_put_u64(top);
        check_put_u64((uint64_t)1 << (bits - 1));
    }
}

static void check_put_i64(int64_t v, const char *expect)
{
    char out[32];
    memset(out, '#', sizeof out);
    char *end = ts_put_i64(out, v);
    assert_int_equal((size_t)(end - out), strlen(expect));
    assert_memory_equal(out, expect, strlen(expect));
    assert_true((size_t)(end - out) <= TS_I64_CHARS_MAX);
    for (size_t i = TS_I64_CHARS_MAX; i < sizeof out; i++)
        assert_int_equal(out[i], '#');
}

static void test_put_i64_boundaries(void **state)
{
    (void)state;
    check_put_i64(0, "0");
    check_put_i64(-1, "-1");
    check_put_i64(-9, "-9");
    check_put_i64(-10, "-10");
    check_put_i64(INT64_MIN, "-9223372036854775808");
    check_put_i64(INT64_MAX, "9223372036854775807");
}

/* The byte-to-two-digits table, every byte, against printf. */
static void test_put_hex_every_byte(void **state)
{
    (void)state;
    uint8_t bytes[256];
    for (int i = 0; i < 256; i++)
        bytes[i] = (uint8_t)i;
    char out[513], expect[513];
    out[512] = '#';
    assert_ptr_equal(ts_put_hex(out, bytes, 256), out + 512);
    assert_int_equal(out[512], '#');
    for (int i = 0; i < 256; i++)
        snprintf(expect + 2 * i, 3, "%02x", i);
    assert_memory_equal(out, expect, 512);
    /* and through the buffer, in id order */
    const uint8_t id[8] = {0x00, 0x9f, 0xa0, 0xff, 0x10, 0x01, 0x7e, 0x80};
    struct ts_json_buf b;
    ts_json_buf_init(&b);
    ts_json_buf_hex(&b, id, sizeof id);
    assert_string_equal(buf_str(&b), "009fa0ff10017e80");
    ts_json_buf_free(&b);
}

/* Every length from 0 to 40 at every offset: the eight-at-a-time path,
 * the byte-at-a-time tail, and nothing written past the end. */
static void test_put_hex_lengths(void **state)
{
    (void)state;
    uint8_t bytes[48];
    for (size_t i = 0; i < sizeof bytes; i++)
        bytes[i] = (uint8_t)(i * 37 + 5);
    for (size_t off = 0; off < 8; off++) {
        for (size_t n = 0; n + off <= 40; n++) {
            char out[100], expect[100];
            memset(out, '#', sizeof out);
            for (size_t i = 0; i < n; i++)
                snprintf(expect + 2 * i, 3, "%02x", bytes[off + i]);
            assert_ptr_equal(ts_put_hex(out, bytes + off, n), out + 2 * n);
            assert_memory_equal(out, expect, 2 * n);
            assert_int_equal(out[2 * n], '#');
        }
    }
}

/* The kept leading digits are used only while they are the same: a run
 * of numbers whose part above 10^9 stays, changes, goes below 10^9 and
 * comes back, and the extremes, all read as printf writes them, with
 * nothing written past the TS_U64_DIGITS_MAX bytes of room. */
static void check_put_u64_memo(struct ts_digits_memo *m, uint64_t v)
{
    char expect[32], out[32];
    int n = snprintf(expect, sizeof expect, "%llu", (unsigned long long)v);
    memset(out, '#', sizeof out);
    char *end = ts_put_u64_memo(out, v, m);
    assert_int_equal(end - out, n);
    assert_memory_equal(out, expect, (size_t)n);
    for (size_t i = TS_U64_DIGITS_MAX; i < sizeof out; i++)
        assert_int_equal(out[i], '#');
}

static void test_put_u64_memo(void **state)
{
    (void)state;
    struct ts_digits_memo m;
    memset(&m, 0, sizeof m);
    static const uint64_t seq[] = {
        1700000000123456789ull, 1700000000999999999ull, 1700000001000000000ull,
        1700000001000000001ull, 1700000000000000007ull, 999999999ull,
        0, 1000000000ull, 1999999999ull, 2000000000ull, 1000000000ull,
        UINT64_MAX, UINT64_MAX - 999999999ull, 18446744072709551615ull,
        1700000000000000000ull, 1700000000000050000ull, 42, 1700000000000050000ull,
        1700000000000ull /* microseconds, as Zipkin writes them */,
        1700000000001ull, 1700000999999ull, 1700001000000ull,
    };
    for (size_t i = 0; i < sizeof seq / sizeof *seq; i++)
        check_put_u64_memo(&m, seq[i]);
    uint64_t p = 1;
    for (int k = 0; k <= 19; k++, p *= 10) {
        check_put_u64_memo(&m, p - 1);
        check_put_u64_memo(&m, p);
        check_put_u64_memo(&m, p + 1);
    }
}

/* The eight-at-a-time scans against the byte-at-a-time rule: one odd byte
 * of every value at every place of strings of every length up to 24 (so
 * it lands in a word, in the tail, and at either end of both). */
static void test_plain_and_ascii_scans(void **state)
{
    (void)state;
    char s[24];
    for (size_t n = 0; n <= sizeof s; n++) {
        memset(s, 'a', sizeof s);
        assert_int_equal(ts_json_plain_len(s, n), n);
        assert_int_equal(ts_ascii_len(s, n), n);
        for (size_t at = 0; at < n; at++) {
            for (int c = 0; c < 256; c++) {
                s[at] = (char)c;
                size_t plain = ts_json_plain[c] ? n : at;
                size_t ascii = c < 0x80 ? n : at;
                assert_int_equal(ts_json_plain_len(s, n), plain);
                assert_int_equal(ts_ascii_len(s, n), ascii);
            }
            s[at] = 'a';
        }
    }
    /* the table itself: exactly space .. DEL without '"' and '\\' */
    for (int c = 0; c < 256; c++)
        assert_int_equal(ts_json_plain[c], c >= 0x20 && c < 0x80 && c != '"' && c != '\\');
}

/* What a JSON string of n 'a's with byte c at place at reads, by the
 * rule of json_buf.h written out apart from it: a lone byte from 0x80 on
 * starts no valid UTF-8 character. */
static size_t expected_string(char *out, size_t n, size_t at, int c)
{
    size_t w = 0;
    out[w++] = '"';
    for (size_t i = 0; i < n; i++) {
        if (i != at)
            out[w++] = 'a';
        else if (c == '"' || c == '\\')
            w += (size_t)sprintf(out + w, "\\%c", c);
        else if (c < 0x20)
            w += (size_t)sprintf(out + w, "\\u%04x", c);
        else if (c >= 0x80)
            w += (size_t)sprintf(out + w, "\xef\xbf\xbd");
        else
            out[w++] = (char)c;
    }
    out[w++] = '"';
    return w;
}

/* ts_put_json_string's 16-byte fast path, for strings of 0 to 40 bytes
 * (one and two 16-byte pieces and past them), each with one byte of every
 * value at every place: the strings end exactly where a page that cannot
 * be read begins, or start on such a page's first byte, and the output is
 * written into exactly TS_JSON_STRING_MAX(n) bytes before another one, so
 * any read past the string or write past the room is a crash. */
static void test_put_json_string_at_page_edges(void **state)
{
    (void)state;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    char *in = mmap(NULL, 3 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *out = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(in != MAP_FAILED && out != MAP_FAILED);
    /* in: a page that cannot be read, one that can, another that cannot */
    assert_int_equal(mprotect(in, page, PROT_NONE), 0);
    assert_int_equal(mprotect(in + 2 * page, page, PROT_NONE), 0);
    assert_int_equal(mprotect(out + page, page, PROT_NONE), 0);
    char want[6 * 40 + 2];
    for (size_t n = 0; n <= 40; n++) {
        char *room = out + page - TS_JSON_STRING_MAX(n);
        char *const places[] = {in + 2 * page - n, in + page, in + page + 100 - n % 7};
        for (size_t p = 0; p < sizeof places / sizeof *places; p++) {
            char *s = places[p];
            memset(s, 'a', n);
            for (size_t at = 0; at <= n; at++) { /* at == n: no odd byte */
                for (int c = 0; c < 256; c++) {
                    if (at < n)
                        s[at] = (char)c;
                    size_t wlen = expected_string(want, n, at, c);
                    char *end = ts_put_json_string(room, s, n);
                    assert_int_equal((size_t)(end - room), wlen);
                    assert_memory_equal(room, want, wlen);
                    if (at == n)
                        break;
                }
                if (at < n)
                    s[at] = 'a';
            }
        }
    }
    munmap(in, 3 * page);
    munmap(out, 2 * page);
}

/* Room asked for once, written through a pointer, committed. */
static void test_room_and_commit(void **state)
{
    (void)state;
    struct ts_json_buf b;
    ts_json_buf_init(&b);
    char *o = ts_json_buf_room(&b, 1000);
    assert_non_null(o);
    assert_true(b.cap >= 1000);
    assert_int_equal(b.len, 0);
    o = TS_PUT_LIT(o, "n=");
    o = ts_put_u64(o, 42);
    o = ts_put(o, NULL, 0);
    ts_json_buf_commit(&b, o);
    assert_string_equal(buf_str(&b), "n=42");
    assert_null(ts_json_buf_room(&b, SIZE_MAX / 2)); /* cannot: fails */
    assert_true(b.failed);
    assert_null(ts_json_buf_room(&b, 1)); /* failed stays failed */
    ts_json_buf_free(&b);
}

/* The head of an in-place message goes right before the spans; a room too
 * small moves the spans up; the bytes before the room are kept. */
static void test_put_before(void **state)
{
    (void)state;
    struct ts_json_buf b;
    ts_json_buf_init(&b);
    ts_json_buf_append_cstr(&b, "keep....spans");
    assert_int_equal(ts_json_buf_put_before(&b, 4, 8, "[x", 2), 6);
    assert_int_equal(b.len, 13);
    assert_memory_equal(b.data, "keep..[xspans", 13);
    /* exactly the room */
    assert_int_equal(ts_json_buf_put_before(&b, 4, 6, "AB", 2), 4);
    assert_memory_equal(b.data, "keepAB[xspans", 13);
    /* three bytes more than the room: the rest moves up by three */
    ts_json_buf_reset(&b);
    ts_json_buf_append_cstr(&b, "keep..spans");
    assert_int_equal(ts_json_buf_put_before(&b, 4, 6, "HEADER", 6), 4);
    assert_string_equal(buf_str(&b), "keepHEADERspans");
    /* nothing to put */
    assert_int_equal(ts_json_buf_put_before(&b, 4, 4, NULL, 0), 4);
    assert_string_equal(buf_str(&b), "keepHEADERspans");
    /* an offset past the end is a mistake: failed, never sent */
    assert_int_equal(ts_json_buf_put_before(&b, 0, b.len + 1, "x", 1), SIZE_MAX);
    assert_true(b.failed);
    ts_json_buf_free(&b);
}

/* protobuf's and thrift's strings: a varint length, then valid UTF-8. */
static void test_varint_utf8(void **state)
{
    (void)state;
    struct ts_json_buf b;
    ts_json_buf_init(&b);
    ts_json_buf_varint_utf8(&b, "GET /", 5);
    assert_int_equal(b.len, 6);
    assert_memory_equal(b.data, "\x05GET /", 6);
    ts_json_buf_reset(&b);
    ts_json_buf_varint_utf8(&b, "a\xff", 2); /* the 0xff becomes U+FFFD */
    assert_int_equal(b.len, 5);
    assert_memory_equal(b.data, "\x04" "a\xef\xbf\xbd", 5);
    ts_json_buf_reset(&b);
    char big[200];
    memset(big, 'z', sizeof big);
    ts_json_buf_varint_utf8(&b, big, sizeof big); /* two-byte length */
    assert_int_equal(b.len, 202);
    assert_memory_equal(b.data, "\xc8\x01", 2);
    ts_json_buf_free(&b);
}

/* A failed buffer ignores later appends, also the ones that would fit in
 * the room it has (they take the inline path). */
static void test_buf_failed_ignores_appends(void **state)
{
    (void)state;
    struct ts_json_buf b;
    ts_json_buf_init(&b);
    ts_json_buf_append_cstr(&b, "abc");
    size_t len = b.len;
    ts_json_buf_string(&b, "x", SIZE_MAX / 2); /* too long to reserve: fails */
    assert_true(b.failed);
    ts_json_buf_append_cstr(&b, "d");
    ts_json_buf_append_char(&b, 'e');
    ts_json_buf_u64(&b, 7);
    ts_json_buf_hex(&b, (const uint8_t *)"\x01", 1);
    ts_json_buf_string(&b, "f", 1);
    assert_int_equal(b.len, len);
    ts_json_buf_free(&b);
}

static void check_string(const char *in, size_t n, const char *expect)
{
    struct ts_json_buf b;
    ts_json_buf_init(&b);
    ts_json_buf_string(&b, in, n);
    assert_string_equal(buf_str(&b), expect);
    assert_true(json_valid(b.data, b.len));
    ts_json_buf_free(&b);
}

static void test_string_escaping(void **state)
{
    check_string("", 0, "\"\"");
    check_string("plain /path?q=1", 15, "\"plain /path?q=1\"");
    check_string("a\"b\\c", 5, "\"a\\\"b\\\\c\"");
    check_string("\n\r\t\x01\x1f\x7f", 6, "\"\\u000a\\u000d\\u0009\\u0001\\u001f\x7f\"");
    check_string("nul\0in", 6, "\"nul\\u0000in\"");
    /* valid UTF-8 of every length is kept */
    check_string("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9,
                 "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
    /* U+FFFD per offending byte */
    check_string("\xff", 1, "\"\xef\xbf\xbd\"");
    check_string("a\x80z", 3, "\"a\xef\xbf\xbdz\"");
    check_string("\xc0\xaf", 2, "\"\xef\xbf\xbd\xef\xbf\xbd\"");                 /* overlong '/' */
    check_string("\xe0\x80\xaf", 3, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""); /* overlong */
    check_string("\xed\xa0\x80", 3, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""); /* surrogate */
    check_string("\xf4\x90\x80\x80", 4,
                 "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""); /* > U+10FFFF */
    check_string("\xe2\x82", 2, "\"\xef\xbf\xbd\xef\xbf\xbd\"");          /* cut at the end */
    check_string("\xe2\x82x", 3, "\"\xef\xbf\xbd\xef\xbf\xbdx\"");        /* cut mid-string */
    check_string("\xf0\x9f\x98", 3, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
    /* the byte after a broken lead byte is looked at again on its own */
    check_string("\xc3\"", 2, "\"\xef\xbf\xbd\\\"\"");
}

/* ------------------------------------------------------------- encoder */

/* ------------------------------------------- varints and UTF-8 (shared) */

/* The varints protobuf and thrift's compact protocol both write. */
static void test_varint(void **state)
{
    static const struct {
        uint64_t v;
        const char *bytes;
        size_t n;
    } cases[] = {
        {0, "\x00", 1},
        {1, "\x01", 1},
        {127, "\x7f", 1},
        {128, "\x80\x01", 2},
        {300, "\xac\x02", 2},
        {16383, "\xff\x7f", 2},
        {16384, "\x80\x80\x01", 3},
        {2097151, "\xff\xff\x7f", 3},
        {2097152, "\x80\x80\x80\x01", 4},
        {UINT32_MAX, "\xff\xff\xff\xff\x0f", 5},
        {UINT64_MAX, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 10},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct ts_json_buf b;
        ts_json_buf_init(&b);
        ts_json_buf_varint(&b, cases[i].v);
        assert_false(b.failed);
        assert_int_equal(b.len, cases[i].n);
        assert_memory_equal(b.data, cases[i].bytes, cases[i].n);
        assert_int_equal(ts_varint_len(cases[i].v), cases[i].n);
        uint8_t out[TS_VARINT_MAX];
        assert_int_equal(ts_varint_encode(out, cases[i].v), cases[i].n);
        assert_memory_equal(out, cases[i].bytes, cases[i].n);
        ts_json_buf_free(&b);
    }
}

/* ts_varint_len at and around every width's edge (2^k - 1, 2^k, 2^k + 1
 * for k = 0 .. 63), against what ts_varint_encode writes. */
static void test_varint_len_every_width(void **state)
{
    (void)state;
    for (unsigned k = 0; k < 64; k++) {
        uint64_t edge = (uint64_t)1 << k;
        uint64_t values[] = {edge - 1, edge, edge + 1};
        for (size_t i = 0; i < sizeof values / sizeof *values; i++) {
            uint8_t out[TS_VARINT_MAX];
            size_t written = ts_varint_encode(out, values[i]);
            assert_int_equal(ts_varint_len(values[i]), written);
            assert_int_equal(written,
                             values[i] < 2 ? 1 : (64 - __builtin_clzll(values[i]) + 6) / 7);
        }
    }
    assert_int_equal(ts_varint_len(UINT64_MAX), 10);
}

/* ts_utf8_clean_len's all-ASCII shortcut looks at words, at overlapping
 * first and last words, or at three bytes of a short string: one byte
 * that is not ASCII (a stray continuation byte, a byte that starts no
 * character, a whole two-byte character) at every place of every length
 * up to 40 must still be seen, and counted as ts_json_buf_utf8 writes it.
 * The string sits between bytes that are not ASCII, so that ts_all_ascii
 * reading one byte before or after it answers wrong. */
static void test_utf8_clean_len_odd_byte_anywhere(void **state)
{
    (void)state;
    static const struct {
        const char *bytes;
        size_t len;
    } odd[] = {{"\x80", 1}, {"\xff", 1}, {"\xc3\xa9", 2}};
    enum { GUARD = 8, LONGEST = 40 };
    char buf[GUARD + LONGEST + GUARD];
    for (size_t n = 0; n <= LONGEST; n++) {
        char *text = buf + GUARD;
        memset(buf, '\xff', sizeof buf);
        memset(text, 'a', n);
        assert_true(ts_all_ascii(text, n));
        assert_int_equal(ts_utf8_clean_len(text, n), n);
        for (size_t k = 0; k < sizeof odd / sizeof *odd; k++) {
            for (size_t at = 0; at + odd[k].len <= n; at++) {
                memset(text, 'a', n);
                memcpy(text + at, odd[k].bytes, odd[k].len);
                assert_false(ts_all_ascii(text, n));
                struct ts_json_buf b;
                ts_json_buf_init(&b);
                ts_json_buf_utf8(&b, text, n);
                assert_false(b.failed);
                size_t want = n + (odd[k].len == 1 ? 2 : 0); /* U+FFFD: 3 bytes for 1 */
                assert_int_equal(b.len, want);
                assert_int_equal(ts_utf8_clean_len(text, n), want);
                ts_json_buf_free(&b);
            }
        }
    }
}

/* RFC 3629 at its edges (span_fixtures.h's table), and the character
 * lengths behind it. */
static void test_utf8_clean(void **state)
{
    size_t ncases;
    const struct utf8_case *cases = utf8_cases(&ncases);
    for (size_t i = 0; i < ncases; i++) {
        struct ts_json_buf b;
        ts_json_buf_init(&b);
        ts_json_buf_utf8(&b, cases[i].in, cases[i].n);
        assert_false(b.failed);
        assert_int_equal(b.len, cases[i].on);
        if (cases[i].on)
            assert_memory_equal(b.data, cases[i].out, cases[i].on);
        assert_int_equal(ts_utf8_clean_len(cases[i].in, cases[i].n), cases[i].on);
        ts_json_buf_free(&b);
    }
    assert_int_equal(ts_utf8_char_len((const unsigned char *)"A", 1), 1);
    assert_int_equal(ts_utf8_char_len((const unsigned char *)"\xc3\xa9", 2), 2);
    assert_int_equal(ts_utf8_char_len((const unsigned char *)"\xc3\xa9", 1), 0);
    assert_int_equal(ts_utf8_char_len((const unsigned char *)"\xe2\x82\xac", 3), 3);
    assert_int_equal(ts_utf8_char_len((const unsigned char *)"\xf0\x9f\x98\x80", 4), 4);
    assert_int_equal(ts_utf8_char_len((const unsigned char *)"\x80", 1), 0);
}

static void test_encode_known_span_exact(void **state)
{
    struct ts_span s;
    known_span(&s);
    struct ts_json_buf b;
    ts_json_buf_init(&b);
    assert_true(ts_otlp_json_encode(&b, &s, 1));
    assert_string_equal(buf_str(&b), HEAD("") KNOWN_SPAN_JSON TAIL);
    assert_true(json_valid(b.data, b.len));
    ts_json_buf_free(&b);
}

static void test_encode_root_without_parent(void **state)
{
    struct ts_span s;
    ts_span_clear(&s);
    hex_to_bytes("0123456789abcdef0123456789abcdef", s.trace_id, 16);
    hex_to_bytes("0102030405060708", s.span_id, 8);
    s.kind = TS_KIND_CLIENT;
    s.status = TS_STATUS_UNSET;
    s.start_ns = 5;
    s.end_ns = 7;
    ts_span_set_name(&s, "POST", 4);
    struct ts_json_buf b;
    ts_json_buf_init(&b);
    assert_true(ts_otlp_json_encode(&b, &s, 1));
    /* flags 0 (not sampled, the parent's place unknown): left out */
    assert_string_equal(buf_str(&b),
                        HEAD("") "{\"traceId\":\"0123456789abcdef0123456789abcdef\","
                                 "\"spanId\":\"0102030405060708\",\"name\":\"POST\",\"kind\":3,"
                                 "\"startTimeUnixNano\":\"5\",\"endTimeUnixNano\":\"7\","
                                 "\"attributes\":[],\"status\":{\"code\":0}}" TAIL);
    assert_null(strstr(b.data, "parentSpanId"));
    /* a sampled root: its parent (none) is local */
    s.sampled = TS_SPAN_SAMPLED;
    s.parent_is = TS_PARENT_LOCAL;
    ts_json_buf_reset(&b);
    assert_true(ts_otlp_json_encode(&b, &s, 1));
    assert_non_null(
        strstr(buf_str(&b), "\"attributes\":[],\"status\":{\"code\":0},\"flags\":257}]"));
    ts_json_buf_free(&b);
}

static void test_encode_several_and_none(void **state)
{
    struct ts_span s[3];
    for (int i = 0; i < 3; i++)
        known_span(&s[i]);
    struct ts_json_buf b;
    ts_json_buf_init(&b);
    assert_true(ts_otlp_json_encode(&b, s, 3));
    assert_string_equal(buf_str(&b),
                        HEAD("") KNOWN_SPAN_JSON "," KNOWN_SPAN_JSON "," KNOWN_SPAN_JSON TAIL);
    ts_json_buf_reset(&b);
    assert_true(ts_otlp_json_encode(&b, s, 0));
    assert_string_equal(buf_str(&b), HEAD("") TAIL);
    assert_true(json_valid(b.data, b.len));
    ts_json_buf_free(&b);
}

/* The reporter's way, in place: room for the head, the spans after it,
 * seal() — the same bytes as the one-shot encoding, also when the resource
 * grew after the room was measured (the spans move up to make room). */
static void test_sealed_in_place_matches(void **state)
{
    const struct ts_encoder *enc = &ts_encoder_otlp_json;
    struct ts_span s[2];
    known_span(&s[0]);
    known_span(&s[1]);
    for (int grow = 0; grow < 2; grow++) {
        setup_process();
        struct ts_json_buf batch, one;
        ts_json_buf_init(&batch);
        ts_json_buf_init(&one);
        size_t room = enc->head_max();
        char *o = ts_json_buf_room(&batch, room);
        assert_non_null(o);
        ts_json_buf_commit(&batch, o + room);
        enc->span(&batch, &s[0], true);
        enc->span(&batch, &s[1], false);
        size_t spans_len = batch.len - room;
        if (grow) /* a longer service name: a longer head */
            set_process(1234, "python3", "a-much-longer-service-name", "box", "");
        size_t msg = enc->seal(&batch, 0, room, 2);
        assert_int_not_equal(msg, SIZE_MAX);
        assert_true(grow ? msg == 0 : msg <= room);
        ts_otlp_json_encode(&one, s, 2);
        assert_int_equal(batch.len - msg, one.len);
        assert_memory_equal(batch.data + msg, one.data, one.len);
        assert_int_equal(enc->bound(spans_len, 2), one.len);
        ts_json_buf_free(&batch);
        ts_json_buf_free(&one);
    }
    setup_process();
}

/* Span attribute keys are written from a table of ready-made pieces:
 * keys of every length around the most a piece holds, and the same key
 * address holding another text later, read back exactly. */
static void test_attribute_keys_every_length(void **state)
{
    static char keys[100][100]; /* not literals: each address is used once per text */
    for (int twice = 0; twice < 2; twice++) {
        for (size_t klen = 0; klen < 100; klen++) {
            memset(keys[klen], twice ? 'y' : 'k', klen);
            keys[klen][klen] = '\0';
            struct ts_span s;
            known_span(&s);
            ts_span_attr_bool(&s, keys[klen], true);
            ts_span_attr_int(&s, keys[klen], -7);
            struct ts_json_buf b;
            ts_json_buf_init(&b);
            ts_otlp_json_encode(&b, &s, 1);
            char expect[512];
            snprintf(expect, sizeof expect,
                     "{\"key\":\"b\",\"value\":{\"boolValue\":true}},"
                     "{\"key\":\"%.99s\",\"value\":{\"boolValue\":true}},"
                     "{\"key\":\"%.99s\",\"value\":{\"intValue\":\"-7\"}}],",
                     keys[klen], keys[klen]);
            assert_non_null(strstr(buf_str(&b), expect));
            assert_true(json_valid(b.data, b.len));
            ts_json_buf_free(&b);
        }
    }
    /* a key that needs escaping is escaped, also when first */
    struct ts_span s;
    ts_span_clear(&s);
    ts_span_attr_cstr(&s, "q\"k", "v");
    struct ts_json_buf b;
    ts_json_buf_init(&b);
    ts_otlp_json_span(&b, &s, true);
    assert_non_null(strstr(buf_str(&b), "\"attributes\":[{\"key\":\"q\\\"k\",\"value\":{\"stringValue\":\"v\"}}]"));
    ts_json_buf_free(&b);
}

/* The key table itself: a fragment per key, found again by address; a
 * literal of this program is trusted by its address, a key in writable
 * memory is read again and made anew when its text changed. */
static size_t test_frag(char *text, const char *key, size_t klen, size_t *at, uint32_t *info)
{
    *info = (uint32_t)klen * 3;
    if (klen > TS_KEY_FRAG_MAX - 2)
        return 0;
    text[0] = '<';
    memcpy(text + 1, key, klen);
    text[klen + 1] = '>';
    *at = 1;
    return klen + 2;
}

static void test_key_frag_table(void **state)
{
    (void)state;
    static struct ts_key_frags t;
    const struct ts_key_frag *e = ts_key_frag_get(&t, "http.request.method", test_frag);
    assert_non_null(e);
    assert_true(e->literal);
    assert_int_equal(e->len, 21);
    assert_int_equal(e->info, 19 * 3); /* what the make function said of the key */
    assert_memory_equal(e->text, "<http.request.method>", 21);
    assert_ptr_equal(ts_key_frag_get(&t, "http.request.method", test_frag), e);
    static char mutable_key[16] = "abc";
    e = ts_key_frag_get(&t, mutable_key, test_frag);
    assert_non_null(e);
    assert_false(e->literal);
    assert_memory_equal(e->text, "<abc>", 5);
    strcpy(mutable_key, "abcd"); /* same address, new text: a new fragment */
    e = ts_key_frag_get(&t, mutable_key, test_frag);
    assert_non_null(e);
    assert_memory_equal(e->text, "<abcd>", 6);
    strcpy(mutable_key, "ab");
    e = ts_key_frag_get(&t, mutable_key, test_frag);
    assert_memory_equal(e->text, "<ab>", 4);
    /* a key with no fragment: none, every time */
    char long_key[TS_KEY_FRAG_MAX + 8];
    memset(long_key, 'x', sizeof long_key - 1);
    long_key[sizeof long_key - 1] = '\0';
    assert_null(ts_key_frag_get(&t, long_key, test_frag));
    assert_null(ts_key_frag_get(&t, long_key, test_frag));
    /* more keys than slots: the table fills, and keys past that have none */
    static char many[TS_KEY_FRAG_SLOTS + 10][8];
    size_t with = 0;
    for (size_t i = 0; i < sizeof many / sizeof *many; i++) {
        snprintf(many[i], sizeof many[i], "k%zu", i);
        e = ts_key_frag_get(&t, many[i], test_frag);
        if (e) {
            with++;
            assert_int_equal(e->len, strlen(many[i]) + 2);
            assert_memory_equal(e->text + 1, many[i], strlen(many[i]));
        }
    }
    assert_int_equal(with, TS_KEY_FRAG_SLOTS - 3); /* three slots were taken above */
    /* and what is in the table is still found */
    e = ts_key_frag_get(&t, "http.request.method", test_frag);
    assert_non_null(e);
    assert_memory_equal(e->text, "<http.request.method>", 21);
}

/* After a fork in the middle of an export, each encoder forgets what it
 * kept (heads, key tables; leaked, never freed) and makes it again: the
 * same bytes after. In a forked child, as in use; the child says by its
 * exit status which encoder differed (0: none). */
static int forget_then_compare(const struct ts_span *s)
{
    const struct ts_encoder *const encoders[] = {&ts_encoder_otlp_json, &ts_encoder_otlp_proto,
                                                 &ts_encoder_zipkin_json,
                                                 &ts_encoder_jaeger_thrift};
    for (size_t i = 0; i < sizeof encoders / sizeof *encoders; i++) {
        const struct ts_encoder *enc = encoders[i];
        struct ts_json_buf spans, before, after;
        ts_json_buf_init(&spans);
        ts_json_buf_init(&before);
        ts_json_buf_init(&after);
        enc->span(&spans, s, true);
        enc->finish(&before, spans.data, spans.len, 1);
        enc->forget();
        ts_json_buf_reset(&spans);
        enc->span(&spans, s, true);
        enc->finish(&after, spans.data, spans.len, 1);
        if (enc == &ts_encoder_jaeger_thrift && after.len >= 3 && before.len >= 3)
            after.data[after.len - 3] = before.data[before.len - 3]; /* seqNo starts again */
        if (after.failed || before.len != after.len ||
            memcmp(before.data, after.data, before.len) != 0)
            return (int)i + 1;
    }
    return 0;
}

static void test_encoders_forget_then_same_bytes(void **state)
{
    struct ts_span s;
    known_span(&s);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(forget_then_compare(&s)); /* _exit: the leak is the point */
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* The attributes of span s as ts_otlp_json_span writes them, between
 * "attributes":[ and ]. */
static void check_span_attrs(const struct ts_span *s, const char *expect)
{
    struct ts_json_buf b;
    ts_json_buf_init(&b);
    ts_otlp_json_span(&b, s, true);
    const char *text = buf_str(&b);
    const char *from = strstr(text, "\"attributes\":[");
    const char *to = strstr(text, "],\"status\"");
    assert_non_null(from);
    assert_non_null(to);
    from += strlen("\"attributes\":[");
    assert_int_equal((size_t)(to - from), strlen(expect));
    assert_memory_equal(from, expect, strlen(expect));
    ts_json_buf_free(&b);
}

/* The fragments kept by attribute position (the last span's keys) are
 * used only for the same key with the same type: a key that changes type
 * in place, another key in the place of one, a key that is not a literal
 * and reads differently at the same address, and the first span's keys
 * back again. */
static void test_keys_change_place_and_type(void **state)
{
    (void)state;
    struct ts_span s;
    known_span_base(&s);
    s.nattrs = 0;
    ts_span_attr_cstr(&s, "http.request.method", "GET");
    ts_span_attr_int(&s, "http.response.status_code", 200);
    const char *first = "{\"key\":\"http.request.method\",\"value\":{\"stringValue\":\"GET\"}},"
                        "{\"key\":\"http.response.status_code\",\"value\":{\"intValue\":\"200\"}}";
    check_span_attrs(&s, first);
    check_span_attrs(&s, first);

    known_span_base(&s);
    s.nattrs = 0;
    ts_span_attr_int(&s, "http.request.method", 7);
    ts_span_attr_bool(&s, "url.path", false);
    check_span_attrs(&s, "{\"key\":\"http.request.method\",\"value\":{\"intValue\":\"7\"}},"
                         "{\"key\":\"url.path\",\"value\":{\"boolValue\":false}}");

    char key[] = "dyn.a";
    for (int round = 0; round < 2; round++) {
        known_span_base(&s);
        s.nattrs = 0;
        ts_span_attr_cstr(&s, key, "v");
        check_span_attrs(&s, round == 0 ? "{\"key\":\"dyn.a\",\"value\":{\"stringValue\":\"v\"}}"
                                        : "{\"key\":\"dyn.b\",\"value\":{\"stringValue\":\"v\"}}");
        key[4] = 'b';
    }

    known_span_base(&s);
    s.nattrs = 0;
    ts_span_attr_cstr(&s, "http.request.method", "GET");
    ts_span_attr_int(&s, "http.response.status_code", 200);
    check_span_attrs(&s, first);
}

/* The piecewise API gives the same bytes as the one-shot one. */
static void test_piecewise_matches(void **state)
{
    struct ts_span s[2];
    known_span(&s[0]);
    known_span(&s[1]);
    s[1].status = TS_STATUS_OK;
    struct ts_json_buf one, two;
    ts_json_buf_init(&one);
    ts_json_buf_init(&two);
    ts_otlp_json_encode(&one, s, 2);
    ts_otlp_json_begin(&two);
    ts_otlp_json_span(&two, &s[0], true);
    ts_otlp_json_span(&two, &s[1], false);
    ts_otlp_json_end(&two);
    assert_int_equal(one.len, two.len);
    assert_memory_equal(one.data, two.data, one.len);
    assert_non_null(strstr(buf_str(&one), "\"status\":{\"code\":1}"));
    ts_json_buf_free(&one);
    ts_json_buf_free(&two);
}

static void test_encode_hostile_content(void **state)
{
    struct ts_span s;
    known_span(&s);
    ts_span_clear(&s);
    ts_span_set_name(&s, "GET /\"}]\n\x00\xff\xc3", 12);
    ts_span_attr_str(&s, "url.path", "\\\"\x1b[31m\xed\xbf\xbf", 10);
    ts_span_attr_int(&s, "neg", -7);
    ts_span_attr_bool(&s, "f", false);
    strcpy(ts_proc.host_name, "h\"o\\st\n");
    strcpy(ts_proc.service_name, "\xfe\xfe");
    ts_resource_reset();
    struct ts_json_buf b;
    ts_json_buf_init(&b);
    assert_true(ts_otlp_json_encode(&b, &s, 1));
    const char *out = buf_str(&b);
    assert_true(json_valid(out, b.len));
    assert_null(memchr(out, '\n', b.len));
    assert_non_null(strstr(out, "\"name\":\"GET /\\\"}]\\u000a\\u0000\xef\xbf\xbd\xef\xbf\xbd\""));
    assert_non_null(strstr(out, "{\"key\":\"url.path\",\"value\":{\"stringValue\":"
                                "\"\\\\\\\"\\u001b[31m\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"}}"));
    assert_non_null(strstr(out, "{\"key\":\"neg\",\"value\":{\"intValue\":\"-7\"}}"));
    assert_non_null(strstr(out, "{\"key\":\"f\",\"value\":{\"boolValue\":false}}"));
    assert_non_null(strstr(out, "{\"stringValue\":\"h\\\"o\\\\st\\u000a\"}"));
    assert_non_null(strstr(out, "{\"stringValue\":\"\xef\xbf\xbd\xef\xbf\xbd\"}"));
    ts_json_buf_free(&b);
}

/* Random bytes everywhere a span carries bytes: the line is always valid
 * JSON and never contains a newline. */
static void test_encode_random_bytes_always_valid(void **state)
{
    srand(12345);
    struct ts_json_buf b;
    ts_json_buf_init(&b);
    struct ts_span s[4];
    for (int iter = 0; iter < 2000; iter++) {
        for (int k = 0; k < 4; k++) {
            ts_span_clear(&s[k]);
            char bytes[400];
            size_t n = (size_t)rand() % sizeof bytes;
            for (size_t i = 0; i < n; i++)
                bytes[i] = (char)(rand() % 4 == 0 ? 0x80 + rand() % 0x80 : rand() % 256);
            ts_span_set_name(&s[k], bytes, n / 3);
            ts_span_attr_str(&s[k], "a", bytes + n / 3, n / 3);
            ts_span_attr_str(&s[k], "b", bytes + 2 * (n / 3), n - 2 * (n / 3));
            ts_span_attr_int(&s[k], "i", (int64_t)rand() - RAND_MAX / 2);
            s[k].kind = (uint8_t)(rand() % 4);
            s[k].start_ns = (uint64_t)rand() << 33;
        }
        ts_json_buf_reset(&b);
        assert_true(ts_otlp_json_encode(&b, s, 1 + (size_t)iter % 4));
        if (!json_valid(b.data, b.len))
            fail_msg("invalid JSON at iteration %d: %.*s", iter, (int)b.len, b.data);
        assert_null(memchr(b.data, '\n', b.len));
    }
    ts_json_buf_free(&b);
}

/* Encode one damaged span into b: valid JSON whatever it holds. */
static const char *encode_damaged(struct ts_json_buf *b, const struct ts_span *s)
{
    ts_json_buf_init(b);
    assert_true(ts_otlp_json_encode(b, s, 1));
    assert_true(json_valid(b->data, b->len));
    return buf_str(b);
}

#define EMPTY_METHOD_JSON                                                                          \
    "{\"key\":\"http.request.method\",\"value\":{\"stringValue\":\"\"}}"

/* A record whose offsets point past its buffer is clamped, not overread. */
static void test_encode_clamps_damaged_offsets(void **state)
{
    struct ts_span s;
    known_span(&s);
    damage_offsets(&s);
    /* a count past the array, over entries without a key: clamped, skipped */
    memset(&s.attrs[3], 0, sizeof s.attrs - 3 * sizeof s.attrs[0]);
    s.nattrs = 200;
    struct ts_json_buf b;
    const char *out = encode_damaged(&b, &s);
    assert_non_null(strstr(out, "\"name\":\"ok\""));
    assert_non_null(strstr(out, EMPTY_METHOD_JSON));
    ts_json_buf_free(&b);
}

/* A string the record says lies past the bytes in use is read as empty:
 * a queue record holds only those bytes (it is encoded where it is), so
 * whatever lies past them is not the span's. */
static void test_encode_keeps_to_the_bytes_in_use(void **state)
{
    struct ts_span s;
    known_span(&s);
    const struct ts_attr *method = ts_span_attr_find(&s, "http.request.method");
    assert_non_null(method);
    struct ts_attr *a = &s.attrs[method - s.attrs];
    a->off = s.str_used; /* damaged: inside the buffer, past what is used */
    memcpy(s.str + s.str_used, "STALE", 5);
    struct ts_json_buf b;
    const char *out = encode_damaged(&b, &s);
    assert_null(strstr(out, "STA"));
    assert_non_null(strstr(out, EMPTY_METHOD_JSON));
    assert_non_null(strstr(out, "\"name\":\"GET /api\""));
    ts_json_buf_free(&b);
}

/* ------------------------------------------------- resource attributes */

static void encode_with_attrs(const char *raw, struct ts_json_buf *b)
{
    snprintf(ts_cfg.resource_attrs, sizeof ts_cfg.resource_attrs, "%s", raw);
    ts_resource_reset();
    struct ts_span s;
    known_span(&s);
    ts_json_buf_init(b);
    assert_true(ts_otlp_json_encode(b, &s, 1));
    assert_true(json_valid(b->data, b->len));
    buf_str(b);
}

#define RES_STR(k, v) ",{\"key\":\"" k "\",\"value\":{\"stringValue\":\"" v "\"}}"

static void test_resource_attrs_parsed(void **state)
{
    struct ts_json_buf b;
    encode_with_attrs("deployment.environment=prod, team = a%20b%2Cc ,empty=,"
                      "q=%22%5C%0a,pct=%FF,eq=a=b",
                      &b);
    assert_string_equal(b.data,
                        HEAD(RES_STR("deployment.environment", "prod") RES_STR("team", "a b,c")
                                 RES_STR("empty", "") RES_STR("q", "\\\"\\\\\\u000a")
                                     RES_STR("pct", "\xef\xbf\xbd") RES_STR("eq", "a=b"))
                            KNOWN_SPAN_JSON TAIL);
    ts_json_buf_free(&b);
}

/* Keys are percent-decoded as values are (the Resource SDK specification:
 * ',' and '=' in keys are written %2C and %3D); the keys the resource looks
 * for are matched decoded. */
static void test_resource_attr_keys_decoded(void **state)
{
    struct ts_json_buf b;
    encode_with_attrs("a%2Cb%3Dc=1,pct%25=2,service%2Ename=x,host%2Ename=h,in%20ner=3", &b);
    assert_non_null(strstr(b.data, RES_STR("a,b=c", "1") RES_STR("pct%", "2") "]}"));
    assert_non_null(strstr(b.data, "{\"key\":\"host.name\",\"value\":{\"stringValue\":\"h\"}}"));
    assert_null(strstr(b.data, "\"x\"")); /* service.name is the configuration's */
    assert_null(strstr(b.data, "ner"));   /* a blank in a decoded key: skipped */
    ts_json_buf_free(&b);
    /* a JAEGER_TAGS key's '%' (written %25 by the configuration) */
    snprintf(ts_cfg.jaeger_tags, sizeof ts_cfg.jaeger_tags, "%s", "a%25b=1");
    encode_with_attrs("", &b);
    ts_cfg.jaeger_tags[0] = '\0';
    assert_non_null(strstr(b.data, RES_STR("a%b", "1") "]}"));
    ts_json_buf_free(&b);
}

static void test_resource_attrs_malformed_skipped(void **state)
{
    struct ts_json_buf b;
    encode_with_attrs("bad,=novalue,  =x,in ner=x,broken=%zz,trunc=ab%2,trunc2=%,ok=1,,", &b);
    assert_string_equal(b.data, HEAD(RES_STR("ok", "1")) KNOWN_SPAN_JSON TAIL);
    ts_json_buf_free(&b);
}

/* The shim's own keys are never repeated; a key given twice keeps its last
 * value. */
static void test_resource_attrs_no_duplicates(void **state)
{
    struct ts_json_buf b;
    encode_with_attrs("service.name=other,process.pid=1,host.name=x,telemetry.sdk.name=y,"
                      "telemetry.sdk.version=9,telemetry.sdk.language=go,"
                      "process.executable.name=z,dup=1,k=v,dup=2",
                      &b);
    /* the shim's own keys stay as they are, but for host.name: the user's
     * name for the host (a container's) replaces the detected one, in its
     * place */
    static const char want[] =
        "{\"resourceSpans\":[{\"resource\":{\"attributes\":["
        "{\"key\":\"service.name\",\"value\":{\"stringValue\":\"frontend\"}},"
        "{\"key\":\"process.pid\",\"value\":{\"intValue\":\"1234\"}},"
        "{\"key\":\"process.executable.name\",\"value\":{\"stringValue\":\"python3\"}},"
        "{\"key\":\"host.name\",\"value\":{\"stringValue\":\"x\"}},"
        "{\"key\":\"telemetry.sdk.name\",\"value\":{\"stringValue\":\"traceshim\"}},"
        "{\"key\":\"telemetry.sdk.language\",\"value\":{\"stringValue\":\"c\"}},"
        "{\"key\":\"telemetry.sdk.version\",\"value\":{\"stringValue\":\"" TS_VERSION "\"}}"
        RES_STR("k", "v") RES_STR("dup", "2")
        "]},\"scopeSpans\":[{\"scope\":{\"name\":\"traceshim\",\"version\":\"" TS_VERSION
        "\"},\"spans\":[" KNOWN_SPAN_JSON TAIL;
    assert_string_equal(b.data, want);
    ts_json_buf_free(&b);
    /* given twice, the last */
    encode_with_attrs("host.name=first,host.name=last%20one", &b);
    assert_non_null(strstr(b.data, "{\"key\":\"host.name\",\"value\":{\"stringValue\":\"last one\"}}"));
    assert_null(strstr(b.data, "first"));
    assert_null(strstr(b.data, "\"box\""));
    ts_json_buf_free(&b);
}

/* JAEGER_TAGS come before OTEL_RESOURCE_ATTRIBUTES's entries, which win
 * on a key in both. */
static void test_resource_jaeger_tags(void **state)
{
    struct ts_json_buf b;
    snprintf(ts_cfg.jaeger_tags, sizeof ts_cfg.jaeger_tags, "%s", "team=jaeger,zone=eu,r=5%25");
    encode_with_attrs("team=otel,k=v", &b);
    ts_cfg.jaeger_tags[0] = '\0';
    assert_non_null(strstr(b.data, RES_STR("zone", "eu") RES_STR("r", "5%") RES_STR("team", "otel")
                                       RES_STR("k", "v") "]}"));
    assert_null(strstr(b.data, "jaeger\""));
    ts_json_buf_free(&b);
}

/* encode_with_attrs, and what it said on stderr into said[cap]. */
static void encode_with_attrs_said(const char *raw, struct ts_json_buf *b, char *said, size_t cap)
{
    struct stderr_capture c;
    stderr_capture_begin(&c);
    encode_with_attrs(raw, b);
    stderr_capture_end(&c, said, cap);
}

/* More entries than the resource holds: those past it are left out, and
 * said in one line naming them and the limit (not dropped in silence). */
static void test_resource_attrs_past_the_limit(void **state)
{
    char raw[sizeof ts_cfg.resource_attrs] = "";
    for (int i = 0; i < 70; i++)
        snprintf(raw + strlen(raw), sizeof raw - strlen(raw), "%sk%d=v", i ? "," : "", i);
    struct ts_json_buf b;
    char said[1024];
    encode_with_attrs_said(raw, &b, said, sizeof said);
    assert_non_null(strstr(b.data, RES_STR("k56", "v") "]}"));
    assert_null(strstr(b.data, "\"k57\""));
    assert_string_equal(said, "traceshim: OTEL_RESOURCE_ATTRIBUTES: 13 entries are left out (k57 "
                              "to k69): a resource holds at most 64 attributes, 7 of them the "
                              "shim's own\n");
    ts_json_buf_free(&b);
}

/* The limit with JAEGER_TAGS too: OTEL_RESOURCE_ATTRIBUTES's entries are
 * given room first, so a key in both keeps its OTEL value (k3 lost both:
 * the tags' one as the loser, the OTEL one past the limit), and the line
 * names each variable that lost entries (it named JAEGER_TAGS alone, for
 * "k58 to k3"). The line is said once a process: a pid of each case's. */
static void test_resource_attrs_past_the_limit_with_jaeger_tags(void **state)
{
    static const struct {
        int tags, attrs;
        const char *line;
    } cases[] = {
        {150, 0,
         "traceshim: JAEGER_TAGS: 94 entries are left out (k56 to k149): a resource holds at "
         "most 64 attributes, 7 of them the shim's own (OTEL_RESOURCE_ATTRIBUTES's entries are "
         "given room first)\n"},
        {5, 60,
         "traceshim: OTEL_RESOURCE_ATTRIBUTES: 3 entries are left out (a57 to a59); JAEGER_TAGS: 5 "
         "entries are left out (t0 to t4): a resource holds at most 64 attributes, 7 of them the "
         "shim's own (OTEL_RESOURCE_ATTRIBUTES's entries are given room first)\n"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char raw[sizeof ts_cfg.resource_attrs] = "";
        ts_cfg.jaeger_tags[0] = '\0';
        if (cases[c].attrs == 0) {
            snprintf(raw, sizeof raw, "%s", "deployment.environment=prod,k3=otel");
            for (int i = 0; i < cases[c].tags; i++)
                snprintf(ts_cfg.jaeger_tags + strlen(ts_cfg.jaeger_tags),
                         sizeof ts_cfg.jaeger_tags - strlen(ts_cfg.jaeger_tags), "%sk%d=v",
                         i ? "," : "", i);
        } else {
            for (int i = 0; i < cases[c].attrs; i++)
                snprintf(raw + strlen(raw), sizeof raw - strlen(raw), "%sa%d=v", i ? "," : "", i);
            for (int i = 0; i < cases[c].tags; i++)
                snprintf(ts_cfg.jaeger_tags + strlen(ts_cfg.jaeger_tags),
                         sizeof ts_cfg.jaeger_tags - strlen(ts_cfg.jaeger_tags), "%st%d=v",
                         i ? "," : "", i);
        }
        ts_proc.pid = (pid_t)(5000 + c);
        struct ts_json_buf b;
        char said[1024];
        encode_with_attrs_said(raw, &b, said, sizeof said);
        ts_cfg.jaeger_tags[0] = '\0';
        assert_string_equal(said, cases[c].line);
        if (cases[c].attrs == 0) {
            assert_non_null(strstr(b.data,
                                   RES_STR("k55", "v") RES_STR("deployment.environment", "prod")
                                       RES_STR("k3", "otel") "]}"));
            assert_null(strstr(b.data, "\"k56\""));
        } else {
            assert_non_null(strstr(b.data, RES_STR("a56", "v") "]}"));
            assert_null(strstr(b.data, "\"t0\""));
        }
        ts_json_buf_free(&b);
    }
}

/* A full-length value: the largest input the configuration can hold. */
static void test_resource_attrs_full_buffer(void **state)
{
    char raw[sizeof ts_cfg.resource_attrs];
    size_t n = 0;
    while (n + 4 < sizeof raw - 1) {
        memcpy(raw + n, "k=v,", 4);
        n += 4;
    }
    raw[n] = '\0';
    struct ts_json_buf b;
    encode_with_attrs(raw, &b);
    /* every entry has key k: only one survives */
    const char *first = strstr(b.data, "{\"key\":\"k\"");
    assert_non_null(first);
    assert_null(strstr(first + 1, "{\"key\":\"k\""));
    ts_json_buf_free(&b);
    memset(raw, '=', sizeof raw - 1);
    encode_with_attrs(raw, &b); /* all empty keys: nothing added */
    assert_string_equal(b.data, HEAD("") KNOWN_SPAN_JSON TAIL);
    ts_json_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_numbers_and_hex),
        cmocka_unit_test(test_buf_grows_through_every_kind_of_memory),
        cmocka_unit_test(test_buf_u64_every_length),
        cmocka_unit_test(test_put_u64_boundaries),
        cmocka_unit_test(test_put_i64_boundaries),
        cmocka_unit_test(test_put_hex_every_byte),
        cmocka_unit_test(test_put_hex_lengths),
        cmocka_unit_test(test_put_u64_memo),
        cmocka_unit_test(test_plain_and_ascii_scans),
        cmocka_unit_test(test_put_json_string_at_page_edges),
        cmocka_unit_test(test_room_and_commit),
        cmocka_unit_test(test_put_before),
        cmocka_unit_test(test_varint_utf8),
        cmocka_unit_test(test_buf_failed_ignores_appends),
        cmocka_unit_test(test_buf_grows_and_truncates),
        cmocka_unit_test(test_buf_failure_is_sticky),
        cmocka_unit_test(test_string_escaping),
        cmocka_unit_test(test_varint),
        cmocka_unit_test(test_utf8_clean),
        cmocka_unit_test(test_utf8_clean_len_odd_byte_anywhere),
        cmocka_unit_test(test_varint_len_every_width),
        cmocka_unit_test_setup(test_encode_known_span_exact, setup),
        cmocka_unit_test_setup(test_encode_root_without_parent, setup),
        cmocka_unit_test_setup(test_encode_several_and_none, setup),
        cmocka_unit_test_setup(test_piecewise_matches, setup),
        cmocka_unit_test_setup(test_sealed_in_place_matches, setup),
        cmocka_unit_test_setup(test_attribute_keys_every_length, setup),
        cmocka_unit_test(test_key_frag_table),
        cmocka_unit_test_setup(test_encoders_forget_then_same_bytes, setup),
        cmocka_unit_test_setup(test_keys_change_place_and_type, setup),
        cmocka_unit_test_setup(test_encode_hostile_content, setup),
        cmocka_unit_test_setup(test_encode_random_bytes_always_valid, setup),
        cmocka_unit_test_setup(test_encode_clamps_damaged_offsets, setup),
        cmocka_unit_test_setup(test_encode_keeps_to_the_bytes_in_use, setup),
        cmocka_unit_test_setup(test_resource_attrs_parsed, setup),
        cmocka_unit_test_setup(test_resource_attr_keys_decoded, setup),
        cmocka_unit_test_setup(test_resource_attrs_malformed_skipped, setup),
        cmocka_unit_test_setup(test_resource_attrs_no_duplicates, setup),
        cmocka_unit_test_setup(test_resource_jaeger_tags, setup),
        cmocka_unit_test_setup(test_resource_attrs_past_the_limit, setup),
        cmocka_unit_test_setup(test_resource_attrs_past_the_limit_with_jaeger_tags, setup),
        cmocka_unit_test_setup(test_span_trace_state, setup),
        cmocka_unit_test_setup(test_span_dropped_attributes, setup),
        cmocka_unit_test_setup(test_resource_attrs_full_buffer, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
