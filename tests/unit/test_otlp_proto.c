/* test_otlp_proto.c — the protobuf writer and the OTLP protobuf encoder:
 * byte-exact wire format of the primitives and of a span, the envelope
 * finish() builds around a batch (read back with the wire-format reader of
 * tests/decode/pb_read.h), bound() against real output, and damaged or
 * hostile spans that must stay in bounds and still give a well-formed
 * message.
 *
 * With TS_DUMP_DIR set, every case also writes its message as NAME.bin and
 * the OTLP/JSON encoding of the same spans as NAME.expect.json, which
 * tests/integration/test_encoders_decode.py decodes with protoc. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "preload/config.h"
#include "preload/hex.h"
#include "preload/process.h"
#include "preload/span.h"
#include "reporter/json_buf.h"
#include "reporter/otlp_json.h"
#include "reporter/otlp_proto.h"
#include "reporter/pb_writer.h"
#include "reporter/resource.h"
#include "span_fixtures.h"
#include "tests/decode/pb_read.h"
#include "tests/decode/utf8_check.h"

/* ------------------------------------------------------------- helpers */

/* The values of this span are repeated in test_encoders_decode.py (KNOWN):
 * change both together. */
static void known_span(struct ts_span *s)
{
    known_span_base(s);
    s->sampled = 1;
    s->parent_is = TS_PARENT_REMOTE; /* a server span under a context read from the request */
    s->end_ns = 1700000000001500000ull;
    ts_span_attr_int(s, "http.response.status_code", 500);
    ts_span_attr_bool(s, "b", true);
    ts_span_attr_int(s, "neg", -7);
}

static void encode_batch(struct ts_json_buf *out, const struct ts_span *s, size_t n)
{
    struct ts_json_buf spans;
    ts_json_buf_init(&spans);
    for (size_t i = 0; i < n; i++)
        ts_otlp_proto_span(&spans, &s[i], i == 0);
    assert_false(spans.failed);
    size_t bound = ts_otlp_proto_bound(spans.len, n);
    ts_json_buf_init(out);
    ts_otlp_proto_finish(out, spans.data, spans.len, n);
    assert_false(out->failed);
    assert_true(bound >= out->len);
    assert_true(bound <= out->len + 16);
    ts_json_buf_free(&spans);
}

/* With TS_DUMP_DIR set: the message as NAME.bin and the same spans as
 * OTLP/JSON in NAME.expect.json, for the protoc check. */
static void dump_case(const char *name, const struct ts_span *s, size_t n)
{
    if (!dump_dir())
        return;
    struct ts_json_buf b;
    encode_batch(&b, s, n);
    dump_with_otlp_json(name, ".bin", &b, s, n);
    ts_json_buf_free(&b);
}

/* ----------------------------------------------- reading a message back */

/* The wire-format reader (pbr_*) is tests/decode/pb_read.h and the UTF-8
 * check (utf8_ok) tests/decode/utf8_check.h, shared with
 * tests/fuzz/fuzz_encoders.c. */

/* A KeyValue as "key=value" text (int in decimal, bool as true/false,
 * string as is) into out; false when it is not a well-formed KeyValue
 * with one AnyValue member of the kinds the encoder writes. */
static bool kv_text(const uint8_t *p, size_t n, char *out, size_t cap)
{
    struct pbr r = pbr_of(p, n), v;
    struct pbf f, g;
    char key[256] = "", val[2048] = "";
    int members = 0, keys = 0;
    while (pbr_next(&r, &f)) {
        if (f.field == 1 && f.wire == TS_PB_LEN && f.len < sizeof key && utf8_ok(f.data, f.len)) {
            memcpy(key, f.data, f.len);
            key[f.len] = '\0';
            keys++;
        } else if (f.field == 2 && f.wire == TS_PB_LEN) {
            v = pbr_of(f.data, f.len);
            while (pbr_next(&v, &g)) {
                members++;
                if (g.field == 1 && g.wire == TS_PB_LEN && g.len < sizeof val &&
                    utf8_ok(g.data, g.len)) {
                    memcpy(val, g.data, g.len);
                    val[g.len] = '\0';
                } else if (g.field == 2 && g.wire == TS_PB_VARINT && g.num <= 1) {
                    strcpy(val, g.num ? "true" : "false");
                } else if (g.field == 3 && g.wire == TS_PB_VARINT) {
                    snprintf(val, sizeof val, "%lld", (long long)(int64_t)g.num);
                } else {
                    return false;
                }
            }
            if (v.bad)
                return false;
        } else {
            return false;
        }
    }
    if (r.bad || keys != 1 || members != 1)
        return false;
    snprintf(out, cap, "%s=%s", key, val);
    return true;
}

/* Checks one Span message field by field: only the fields the encoder
 * writes, each with its wire type, ids of the right length, valid UTF-8.
 * Returns the number of attributes. */
static size_t check_span(const uint8_t *p, size_t n)
{
    struct pbr r = pbr_of(p, n);
    struct pbf f;
    size_t nattrs = 0;
    bool seen[17] = {false};
    char kv[4096];
    while (pbr_next(&r, &f)) {
        assert_true(f.field <= 16);
        if (f.field != 9) {
            assert_false(seen[f.field]); /* singular fields appear once */
            seen[f.field] = true;
        }
        switch (f.field) {
        case 1:
            assert_int_equal(f.len, 16);
            break;
        case 2:
        case 4:
            assert_int_equal(f.len, 8);
            break;
        case 5:
            assert_int_equal(f.wire, TS_PB_LEN);
            assert_true(utf8_ok(f.data, f.len));
            break;
        case 6:
            assert_int_equal(f.wire, TS_PB_VARINT);
            break;
        case 7:
        case 8:
            assert_int_equal(f.wire, TS_PB_I64);
            break;
        case 9:
            assert_int_equal(f.wire, TS_PB_LEN);
            assert_true(kv_text(f.data, f.len, kv, sizeof kv));
            nattrs++;
            break;
        case 16: /* flags */
            assert_int_equal(f.wire, TS_PB_I32);
            break;
        case 15: {
            struct pbr st = pbr_of(f.data, f.len);
            struct pbf g;
            assert_true(pbr_next(&st, &g));
            assert_int_equal(g.field, 3);
            assert_false(pbr_next(&st, &g));
            assert_false(st.bad);
            break;
        }
        default:
            fail_msg("unexpected span field %u", f.field);
        }
    }
    assert_false(r.bad);
    assert_true(seen[1] && seen[2] && seen[5] && seen[7] && seen[8]);
    return nattrs;
}

/* Takes a whole request apart: one ResourceSpans with the resource and one
 * ScopeSpans (scope traceshim/TS_VERSION) whose span entries are exactly
 * spans[0..spans_len) and nspans of them. The resource's attributes are
 * returned as "key=value" lines in res_text. */
static void check_request(const struct ts_json_buf *msg, const char *spans, size_t spans_len,
                          size_t nspans, char *res_text, size_t res_cap)
{
    struct pbr req = pbr_of(msg->data, msg->len), rs, sub;
    struct pbf f, g, h;
    assert_true(pbr_next(&req, &f));
    assert_int_equal(f.field, 1);
    assert_int_equal(f.wire, TS_PB_LEN);
    assert_false(pbr_next(&req, &g)); /* one ResourceSpans, nothing after it */
    assert_false(req.bad);
    rs = pbr_of(f.data, f.len);
    /* Resource */
    assert_true(pbr_next(&rs, &g));
    assert_int_equal(g.field, 1);
    sub = pbr_of(g.data, g.len);
    res_text[0] = '\0';
    while (pbr_next(&sub, &h)) {
        char kv[4096];
        assert_int_equal(h.field, 1);
        assert_true(kv_text(h.data, h.len, kv, sizeof kv));
        strncat(res_text, kv, res_cap - strlen(res_text) - 2);
        strcat(res_text, "\n");
    }
    assert_false(sub.bad);
    /* ScopeSpans */
    assert_true(pbr_next(&rs, &g));
    assert_int_equal(g.field, 2);
    assert_false(pbr_next(&rs, &h));
    assert_false(rs.bad);
    sub = pbr_of(g.data, g.len);
    assert_true(pbr_next(&sub, &h));
    assert_int_equal(h.field, 1);
    const char scope[] = "\x0a\x09traceshim\x12";
    assert_true(h.len > sizeof scope - 1);
    assert_memory_equal(h.data, scope, sizeof scope - 1);
    assert_int_equal(h.data[sizeof scope - 1], sizeof TS_VERSION - 1);
    assert_memory_equal(h.data + sizeof scope, TS_VERSION, sizeof TS_VERSION - 1);
    const uint8_t *first_span = sub.p;
    size_t count = 0;
    while (pbr_next(&sub, &h)) {
        assert_int_equal(h.field, 2);
        assert_int_equal(h.wire, TS_PB_LEN);
        check_span(h.data, h.len);
        count++;
    }
    assert_false(sub.bad);
    assert_int_equal(count, nspans);
    assert_int_equal((size_t)(sub.end - first_span), spans_len);
    if (spans_len)
        assert_memory_equal(first_span, spans, spans_len);
}

#define RESOURCE_TEXT                                                                              \
    "service.name=frontend\nprocess.pid=1234\nprocess.executable.name=python3\nhost.name=box\n"    \
    "telemetry.sdk.name=traceshim\ntelemetry.sdk.language=c\ntelemetry.sdk.version=" TS_VERSION    \
    "\n"

/* ------------------------------------------------------ the primitives */

static void assert_buf(const struct ts_json_buf *b, const void *expect, size_t n)
{
    assert_false(b->failed);
    assert_int_equal(b->len, n);
    assert_memory_equal(b->data, expect, n);
}

#define ASSERT_BUF(b, lit) assert_buf((b), (lit), sizeof(lit) - 1)

static void test_fields(void **state)
{
    struct ts_json_buf b;
    ts_json_buf_init(&b);
    ts_pb_int64_field(&b, 3, -1); /* two's complement: always 10 bytes */
    ASSERT_BUF(&b, "\x18\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01");
    ts_json_buf_reset(&b);
    ts_pb_int64_field(&b, 3, INT64_MIN);
    ASSERT_BUF(&b, "\x18\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01");
    ts_json_buf_reset(&b);
    ts_pb_int64_field(&b, 3, 0); /* written: it is what a oneof member says */
    ts_pb_bool_field(&b, 2, false);
    ts_pb_bool_field(&b, 2, true);
    ASSERT_BUF(&b, "\x18\x00\x10\x00\x10\x01");
    ts_json_buf_reset(&b);
    ts_pb_fixed64_field(&b, 7, 0x0102030405060708ull); /* little-endian */
    ts_pb_fixed32_field(&b, 1, 0xa1b2c3d4u);
    ASSERT_BUF(&b, "\x39\x08\x07\x06\x05\x04\x03\x02\x01\x0d\xd4\xc3\xb2\xa1");
    ts_json_buf_reset(&b);
    ts_pb_uint_field(&b, 15, 1); /* the last one-byte tag */
    ts_pb_uint_field(&b, 16, 1); /* the first two-byte tag */
    ts_pb_bytes_field(&b, 1, "", 0);
    ts_pb_bytes_field(&b, 4, "\x00\xff", 2);
    ASSERT_BUF(&b, "\x78\x01\x80\x01\x01\x0a\x00\x22\x02\x00\xff");
    ts_json_buf_free(&b);
}

/* The cursor forms write what the buffer forms write, and no byte past
 * the end they return. */
static void test_cursor_fields(void **state)
{
    char out[64];
    memset(out, '#', sizeof out);
    char *o = out;
    o = ts_pb_put_uint_field(o, 16, 300);
    o = ts_pb_put_fixed64_field(o, 7, 0x0102030405060708ull);
    o = ts_pb_put_bytes_field(o, 4, "\x00\xff", 2);
    o = ts_pb_put_string_field(o, 1, "a\xff", 2, ts_utf8_clean_len("a\xff", 2));
    o = ts_pb_put_string_field(o, 2, "ok", 2, 2);
    static const char expect[] = "\x80\x01\xac\x02"
                                 "\x39\x08\x07\x06\x05\x04\x03\x02\x01"
                                 "\x22\x02\x00\xff"
                                 "\x0a\x04"
                                 "a\xef\xbf\xbd"
                                 "\x12\x02ok";
    assert_int_equal(o - out, sizeof expect - 1);
    assert_memory_equal(out, expect, sizeof expect - 1);
    assert_int_equal(*o, '#');
    assert_int_equal(ts_pb_uint_field_size(16, 300), 4);
    assert_int_equal(ts_pb_uint_field_size(15, 0), 2);
}

/* Span attribute keys come from a table of ready-made key fields: keys of
 * every length around the most an entry holds (from a writable buffer,
 * read again each time) read back as the KeyValue they are. */
static void test_attribute_keys_every_length(void **state)
{
    static char key[100];
    for (size_t klen = 0; klen < sizeof key; klen++) {
        memset(key, klen % 2 ? 'k' : 'y', klen);
        key[klen] = '\0';
        struct ts_span s;
        ts_span_clear(&s);
        ts_span_attr_bool(&s, key, true);
        ts_span_attr_int(&s, key, 300);
        struct ts_json_buf b;
        ts_json_buf_init(&b);
        ts_otlp_proto_span(&b, &s, true);
        assert_false(b.failed);
        /* KeyValue { key, value { bool_value: true } }, then { int_value: 300 } */
        unsigned char expect[2 * 120];
        size_t n = 0;
        for (int twice = 0; twice < 2; twice++) {
            expect[n++] = 0x4a;
            expect[n++] = (unsigned char)(2 + klen + 2 + (twice ? 3 : 2));
            expect[n++] = 0x0a;
            expect[n++] = (unsigned char)klen;
            memcpy(expect + n, key, klen);
            n += klen;
            expect[n++] = 0x12;
            if (twice) {
                memcpy(expect + n, "\x03\x18\xac\x02", 4);
                n += 4;
            } else {
                memcpy(expect + n, "\x02\x10\x01", 3);
                n += 3;
            }
        }
        assert_non_null(memmem(b.data, b.len, expect, n));
        ts_json_buf_free(&b);
    }
}

/* Invalid UTF-8 becomes U+FFFD per byte, as in the JSON encoders; the
 * length prefix counts the replaced bytes. */
static void test_string_made_valid_utf8(void **state)
{
    struct ts_json_buf b;
    ts_json_buf_init(&b);
    ts_pb_string_field(&b, 1, "a\xc3\xa9\xf0\x9f\x98\x80", 7);
    ASSERT_BUF(&b, "\x0a\x07"
                   "a\xc3\xa9\xf0\x9f\x98\x80");
    ts_json_buf_reset(&b);
    ts_pb_string_field(&b, 1,
                       "\xff"
                       "a\xc0\xaf\xed\xa0\x80\xe2\x82",
                       9);
    ASSERT_BUF(&b, "\x0a\x19\xef\xbf\xbd"
                   "a\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
                   "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    ts_json_buf_reset(&b);
    ts_pb_string_field(&b, 1, "\xf4\x90\x80\x80\x00", 5); /* > U+10FFFF; NUL is valid */
    ASSERT_BUF(&b, "\x0a\x0d\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\x00");
    assert_int_equal(ts_utf8_clean_len("\xc3", 1), 3);
    assert_int_equal(ts_utf8_clean_len("\xe2\x82\xac", 3), 3);
    ts_json_buf_free(&b);
}

/* A nested message's length is a minimal varint whatever its size and
 * whatever room was left for it (1: ts_pb_open; 2: a span; 3), and the
 * fields are moved up or down to it intact. */
static void test_nested_length_boundaries(void **state)
{
    static const size_t sizes[] = {0, 1, 127, 128, 16383, 16384, 100000};
    static char body[100000];
    for (size_t i = 0; i < sizeof body; i++)
        body[i] = (char)(i * 7 + 3);
    for (size_t k = 0; k < 3 * sizeof sizes / sizeof *sizes; k++) {
        size_t n = sizes[k / 3], room = k % 3 + 1;
        struct ts_json_buf b;
        ts_json_buf_init(&b);
        ts_json_buf_append_char(&b, 'x'); /* marks are offsets, not from 0 */
        size_t m = room == 1 ? ts_pb_open(&b, 2) : ts_pb_open_room(&b, 2, room);
        ts_json_buf_append(&b, body, n);
        if (room == 1)
            ts_pb_close(&b, m);
        else
            ts_pb_close_room(&b, m, room);
        struct ts_json_buf e;
        ts_json_buf_init(&e);
        ts_json_buf_append_char(&e, 'x');
        ts_json_buf_append_char(&e, 0x12);
        ts_json_buf_varint(&e, n);
        ts_json_buf_append(&e, body, n);
        assert_int_equal(b.len, 2 + ts_varint_len(n) + n);
        assert_buf(&b, e.data, e.len);
        assert_int_equal(ts_pb_len_field_size(2, n), b.len - 1);
        ts_json_buf_free(&b);
        ts_json_buf_free(&e);
    }
    /* nesting: the inner close does not disturb the outer mark */
    struct ts_json_buf b;
    ts_json_buf_init(&b);
    size_t outer = ts_pb_open(&b, 1);
    size_t inner = ts_pb_open(&b, 2);
    ts_pb_uint_field(&b, 3, 150);
    ts_pb_close(&b, inner);
    ts_pb_uint_field(&b, 4, 1);
    ts_pb_close(&b, outer);
    ASSERT_BUF(&b, "\x0a\x07\x12\x03\x18\x96\x01\x20\x01");
    ts_json_buf_free(&b);
}

/* ------------------------------------------------------------ the span */

#define KNOWN_IDS                                                                                  \
    "\x0a\x10\x4b\xf9\x2f\x35\x77\xb3\x4d\xa6\xa3\xce\x92\x9d\x0e\x0e\x47\x36"                     \
    "\x12\x08\x00\xf0\x67\xaa\x0b\xa9\x02\xb7"
/* start 1700000000000000000 = 0x17979cfe362a0000, end +1500000 */
#define KNOWN_TIMES                                                                                \
    "\x39\x00\x00\x2a\x36\xfe\x9c\x97\x17"                                                         \
    "\x41\x60\xe3\x40\x36\xfe\x9c\x97\x17"

static void test_span_exact_with_parent(void **state)
{
    struct ts_span s;
    known_span(&s);
    struct ts_json_buf b;
    ts_json_buf_init(&b);
    ts_otlp_proto_span(&b, &s, true);
    ASSERT_BUF(&b, "\x12\xab\x01" KNOWN_IDS "\x22\x08\xb7\xad\x6b\x71\x69\x20\x33\x31"
                   "\x2a\x08GET /api"
                   "\x30\x02" KNOWN_TIMES "\x4a\x1c\x0a\x13http.request.method\x12\x05\x0a\x03GET"
                   "\x4a\x20\x0a\x19http.response.status_code\x12\x03\x18\xf4\x03"
                   "\x4a\x07\x0a\x01"
                   "b\x12\x02\x10\x01"
                   "\x4a\x12\x0a\x03neg\x12\x0b\x18\xf9\xff\xff\xff\xff\xff\xff\xff\xff\x01"
                   "\x7a\x02\x18\x02"
                   "\x85\x01\x01\x03\x00\x00"); /* flags: sampled, the parent remote */
    /* first makes no difference: entries of a repeated field */
    struct ts_json_buf c;
    ts_json_buf_init(&c);
    ts_otlp_proto_span(&c, &s, false);
    assert_buf(&c, b.data, b.len);
    ts_json_buf_free(&b);
    ts_json_buf_free(&c);
}

static void test_span_exact_root(void **state)
{
    struct ts_span s;
    known_span(&s);
    memset(s.parent_id, 0, sizeof s.parent_id);
    s.nattrs = 0;
    s.kind = TS_KIND_CLIENT;
    s.status = TS_STATUS_UNSET; /* no Status message at all */
    s.parent_is = TS_PARENT_LOCAL;
    struct ts_json_buf b;
    ts_json_buf_init(&b);
    ts_otlp_proto_span(&b, &s, true);
    ASSERT_BUF(&b, "\x12\x40" KNOWN_IDS "\x2a\x08GET /api\x30\x03" KNOWN_TIMES
                   "\x85\x01\x01\x01\x00\x00"); /* flags: sampled, the parent local */
    ts_json_buf_reset(&b);
    s.status = TS_STATUS_OK;
    ts_otlp_proto_span(&b, &s, true);
    ASSERT_BUF(&b, "\x12\x44" KNOWN_IDS "\x2a\x08GET /api\x30\x03" KNOWN_TIMES "\x7a\x02\x18\x01"
                   "\x85\x01\x01\x01\x00\x00");
    ts_json_buf_reset(&b);
    s.sampled = 0; /* flags 0: proto3's default, not written */
    s.parent_is = TS_PARENT_UNKNOWN;
    ts_otlp_proto_span(&b, &s, true);
    ASSERT_BUF(&b, "\x12\x3e" KNOWN_IDS "\x2a\x08GET /api\x30\x03" KNOWN_TIMES "\x7a\x02\x18\x01");
    ts_json_buf_free(&b);
}

/* A span whose attributes did not all fit its slots says how many were
 * left out: Span.dropped_attributes_count, field 10, after the
 * attributes (none when 0, proto3's default). */
static void test_span_dropped_attributes(void **state)
{
    struct ts_span s;
    known_span(&s);
    memset(s.parent_id, 0, sizeof s.parent_id);
    s.nattrs = 0;
    s.kind = TS_KIND_CLIENT;
    s.status = TS_STATUS_OK;
    s.parent_is = TS_PARENT_LOCAL;
    s.dropped_attrs = 3;
    struct ts_json_buf b;
    ts_json_buf_init(&b);
    ts_otlp_proto_span(&b, &s, true);
    ASSERT_BUF(&b, "\x12\x46" KNOWN_IDS "\x2a\x08GET /api\x30\x03" KNOWN_TIMES "\x50\x03"
                   "\x7a\x02\x18\x01\x85\x01\x01\x01\x00\x00");
    ts_json_buf_free(&b);
}

/* A span in a trace with a W3C tracestate: Span.trace_state, field 3,
 * between the span id and the parent's. */
static void test_span_trace_state(void **state)
{
    struct ts_span s;
    known_span(&s);
    memset(s.parent_id, 0, sizeof s.parent_id);
    s.nattrs = 0;
    s.status = TS_STATUS_UNSET;
    s.parent_is = TS_PARENT_UNKNOWN; /* flags: sampled alone */
    ts_span_set_trace_state(&s, "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE", 39);
    struct ts_json_buf b;
    ts_json_buf_init(&b);
    ts_otlp_proto_span(&b, &s, true);
    ASSERT_BUF(&b, "\x12\x69" KNOWN_IDS "\x1a\x27rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
                   "\x2a\x08GET /api\x30\x02" KNOWN_TIMES "\x85\x01\x01\x00\x00\x00");
    ts_json_buf_free(&b);
}

/* A span whose length crosses the one-byte varint limit. */
static void test_span_length_127_128(void **state)
{
    struct ts_span s;
    char name[200];
    memset(name, 'n', sizeof name);
    for (size_t want = 127; want <= 128; want++) {
        known_span(&s);
        s.nattrs = 0;
        s.status = TS_STATUS_UNSET;
        ts_span_clear(&s);
        /* ids 28 + name 2+len + kind 2 + times 18 = want */
        size_t nlen = want - 28 - 2 - 2 - 18;
        ts_span_set_name(&s, name, nlen);
        struct ts_json_buf b;
        ts_json_buf_init(&b);
        ts_otlp_proto_span(&b, &s, true);
        struct pbr r = pbr_of(b.data, b.len);
        struct pbf f;
        assert_true(pbr_next(&r, &f));
        assert_int_equal(f.len, want);
        assert_int_equal(b.len, 1 + ts_varint_len(want) + want);
        assert_int_equal(b.data[1] & 0xff, want == 127 ? 0x7f : 0x80);
        check_span(f.data, f.len);
        ts_json_buf_free(&b);
    }
}

/* ------------------------------------------------- the whole request */

static void test_finish_envelope(void **state)
{
    struct ts_span s[2];
    known_span(&s[0]);
    known_span(&s[1]);
    s[1].span_id[7] ^= 1;
    struct ts_json_buf spans, out;
    ts_json_buf_init(&spans);
    ts_otlp_proto_span(&spans, &s[0], true);
    ts_otlp_proto_span(&spans, &s[1], false);
    ts_json_buf_init(&out);
    ts_json_buf_append_cstr(&out, "keep"); /* finish appends */
    ts_otlp_proto_finish(&out, spans.data, spans.len, 2);
    assert_memory_equal(out.data, "keep", 4);
    struct ts_json_buf msg = {out.data + 4, out.len - 4, out.cap, false, false};
    char res[4096];
    check_request(&msg, spans.data, spans.len, 2, res, sizeof res);
    assert_string_equal(res, RESOURCE_TEXT);
    assert_int_equal(ts_otlp_proto_bound(spans.len, 2), msg.len);
    dump_case("two", s, 2);
    ts_json_buf_free(&spans);
    ts_json_buf_free(&out);
}

static void test_known_dump(void **state)
{
    snprintf(ts_cfg.resource_attrs, sizeof ts_cfg.resource_attrs,
             "deployment.environment=test,team=a%%2Cb");
    ts_resource_reset();
    struct ts_span s;
    known_span(&s);
    struct ts_json_buf out;
    encode_batch(&out, &s, 1);
    char res[4096];
    struct ts_json_buf spans;
    ts_json_buf_init(&spans);
    ts_otlp_proto_span(&spans, &s, true);
    check_request(&out, spans.data, spans.len, 1, res, sizeof res);
    assert_string_equal(res, RESOURCE_TEXT "deployment.environment=test\nteam=a,b\n");
    dump_case("known", &s, 1);
    ts_json_buf_free(&out);
    ts_json_buf_free(&spans);
}

/* bound() is never below what finish() writes, for 0, 1 and 300 spans. */
static void test_bound_covers_output(void **state)
{
    static struct ts_span s[300];
    for (size_t i = 0; i < 300; i++) {
        known_span(&s[i]);
        s[i].span_id[0] = (uint8_t)i;
        s[i].span_id[1] = (uint8_t)(i >> 8);
        if (i % 3 == 0)
            memset(s[i].parent_id, 0, sizeof s[i].parent_id);
    }
    static const size_t counts[] = {0, 1, 300};
    for (size_t k = 0; k < 3; k++) {
        struct ts_json_buf out;
        encode_batch(&out, s, counts[k]); /* asserts bound >= len */
        ts_json_buf_free(&out);
    }
    dump_case("empty", s, 0);
    dump_case("many", s, 300);
}

/* A rebuilt resource (after fork, or a new configuration) is picked up. */
static void test_resource_change_seen(void **state)
{
    struct ts_json_buf a, b;
    encode_batch(&a, NULL, 0);
    strcpy(ts_proc.service_name, "other-name");
    ts_resource_reset();
    encode_batch(&b, NULL, 0);
    assert_int_equal(b.len, a.len + 2); /* "frontend" -> "other-name" */
    assert_non_null(memmem(b.data, b.len, "other-name", 10));
    assert_null(memmem(b.data, b.len, "frontend", 8));
    ts_json_buf_free(&a);
    ts_json_buf_free(&b);
}

/* Offsets past the buffer, lengths past its end, a count past the array
 * with keyless entries, unknown types, invalid UTF-8: the encoder stays in
 * the span (ASan checks that) and the message is well-formed. */
static void test_hostile_span(void **state)
{
    struct ts_span s[2];
    known_span(&s[0]);
    damage_offsets(&s[0]);
    s[0].attrs[1].type = 77; /* unknown: left out */
    memset(&s[0].attrs[4], 0, sizeof s[0].attrs - 4 * sizeof s[0].attrs[0]);
    s[0].nattrs = 255;
    s[0].kind = 9;
    s[0].end_ns = 1; /* before the start */

    ts_span_clear(&s[1]);
    s[1].trace_id[15] = 1;
    s[1].span_id[7] = 2;
    ts_span_set_name(&s[1], "GET /\"}]\n\x00\xff\xc3", 12);
    ts_span_attr_str(&s[1], "url.path", "\\\"\x1b[31m\xed\xbf\xbf", 10);
    ts_span_attr_str(&s[1], "url.path", "again", 5); /* a repeated key is kept */
    ts_span_attr_str(&s[1], "last", "tail", 4);
    s[1].str_used = TS_SPAN_STRBUF;         /* damaged: the whole buffer claimed in use */
    s[1].attrs[2].off = TS_SPAN_STRBUF - 1; /* one byte left: "?" */
    s[1].attrs[2].len = 4;
    s[1].str[TS_SPAN_STRBUF - 1] = '?';
    s[1].status = 200;
    strcpy(ts_proc.host_name, "h\"o\\st\n\xfe");
    ts_resource_reset();

    struct ts_json_buf spans;
    ts_json_buf_init(&spans);
    ts_otlp_proto_span(&spans, &s[0], true);
    ts_otlp_proto_span(&spans, &s[1], false);
    struct pbr r = pbr_of(spans.data, spans.len);
    struct pbf f;
    assert_true(pbr_next(&r, &f));
    assert_int_equal(check_span(f.data, f.len), 3); /* method (empty), b, neg */
    assert_non_null(memmem(f.data, f.len, "\x2a\x02ok", 4));
    assert_non_null(memmem(f.data, f.len, "\x0a\x13http.request.method\x12\x02\x0a\x00", 25));
    assert_true(pbr_next(&r, &f));
    assert_int_equal(check_span(f.data, f.len), 3);
    assert_non_null(memmem(f.data, f.len, "\x2a\x10GET /\"}]\n\x00\xef\xbf\xbd\xef\xbf\xbd", 18));
    assert_non_null(memmem(f.data, f.len, "\x0a\x04last\x12\x03\x0a\x01?", 11));
    assert_false(pbr_next(&r, &f));
    assert_false(r.bad);

    struct ts_json_buf out;
    encode_batch(&out, s, 2);
    char res[4096];
    check_request(&out, spans.data, spans.len, 2, res, sizeof res);
    assert_non_null(strstr(res, "host.name=h\"o\\st\n\xef\xbf\xbd\n"));
    dump_case("hostile", s, 2);
    ts_json_buf_free(&spans);
    ts_json_buf_free(&out);
}

/* Random bytes everywhere a span carries bytes, random counts and kinds:
 * always a well-formed request, and bound() holds. */
static void test_random_spans_well_formed(void **state)
{
    srand(4242);
    struct ts_span s[4];
    static const char *const keys[] = {"a", "b", "http.request.method", "x"};
    for (int iter = 0; iter < 500; iter++) {
        size_t n = (size_t)iter % 5;
        for (size_t k = 0; k < n; k++) {
            ts_span_clear(&s[k]);
            for (size_t i = 0; i < sizeof s[k].trace_id; i++)
                s[k].trace_id[i] = (uint8_t)rand();
            s[k].span_id[0] = (uint8_t)(rand() | 1);
            if (rand() % 2)
                s[k].parent_id[3] = (uint8_t)(rand() | 1);
            char bytes[600];
            size_t len = (size_t)rand() % sizeof bytes;
            for (size_t i = 0; i < len; i++)
                bytes[i] = (char)rand();
            ts_span_set_name(&s[k], bytes, len / 2);
            int nattrs = rand() % 6;
            for (int a = 0; a < nattrs; a++) {
                const char *key = keys[rand() % 4];
                if (rand() % 3 == 0)
                    ts_span_attr_str(&s[k], key, bytes + len / 2, (size_t)rand() % (len / 2 + 1));
                else if (rand() % 2)
                    ts_span_attr_int(&s[k], key,
                                     (int64_t)rand() * (rand() % 2 ? -1048576 : 1048576));
                else
                    ts_span_attr_bool(&s[k], key, rand() % 2);
            }
            s[k].kind = (uint8_t)(rand() % 4);
            s[k].status = (uint8_t)(rand() % 3);
            s[k].start_ns = (uint64_t)rand() << 31;
            s[k].end_ns = s[k].start_ns + (uint64_t)rand();
        }
        struct ts_json_buf spans, out;
        ts_json_buf_init(&spans);
        for (size_t k = 0; k < n; k++)
            ts_otlp_proto_span(&spans, &s[k], k == 0);
        encode_batch(&out, s, n);
        char res[4096];
        check_request(&out, spans.data, spans.len, n, res, sizeof res);
        if (iter == 7)
            dump_case("random", s, n);
        ts_json_buf_free(&spans);
        ts_json_buf_free(&out);
    }
}

static void test_encoder_interface(void **state)
{
    assert_string_equal(ts_encoder_otlp_proto.name, "otlp-proto");
    assert_string_equal(ts_encoder_otlp_proto.content_type, "application/x-protobuf");
    assert_ptr_equal(ts_encoder_otlp_proto.span, ts_otlp_proto_span);
    assert_ptr_equal(ts_encoder_otlp_proto.bound, ts_otlp_proto_bound);
    assert_ptr_equal(ts_encoder_otlp_proto.finish, ts_otlp_proto_finish);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_cursor_fields),
        cmocka_unit_test(test_attribute_keys_every_length),
        cmocka_unit_test(test_string_made_valid_utf8),
        cmocka_unit_test(test_nested_length_boundaries),
        cmocka_unit_test_setup(test_span_exact_with_parent, setup),
        cmocka_unit_test_setup(test_span_trace_state, setup),
        cmocka_unit_test_setup(test_span_dropped_attributes, setup),
        cmocka_unit_test_setup(test_span_exact_root, setup),
        cmocka_unit_test_setup(test_span_length_127_128, setup),
        cmocka_unit_test_setup(test_finish_envelope, setup),
        cmocka_unit_test_setup(test_known_dump, setup),
        cmocka_unit_test_setup(test_bound_covers_output, setup),
        cmocka_unit_test_setup(test_resource_change_seen, setup),
        cmocka_unit_test_setup(test_hostile_span, setup),
        cmocka_unit_test_setup(test_random_spans_well_formed, setup),
        cmocka_unit_test(test_encoder_interface),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
