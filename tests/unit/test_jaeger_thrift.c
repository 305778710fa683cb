/* test_jaeger_thrift.c — the thrift compact-protocol writer byte by byte,
 * and the Jaeger agent encoder: exact Span bytes, tags of every type, a
 * damaged span record that must never be read out of bounds, bound() as a
 * true and tight upper bound, and a 500-span batch cut into datagrams the
 * way the reporter cuts it.
 *
 * With TS_DUMP_DIR set, every datagram built here is also written to
 * $TS_DUMP_DIR/NAME.bin, with NAME.json next to it holding what a decoder
 * must read back ({"size": bytes, "expected": {...}} in the shape of
 * tests/peers/jaeger_decode.py's decode_emit_batch): the integration test
 * test_jaeger_decode.py checks them with thrift's own generated decoder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "preload/config.h"
#include "preload/process.h"
#include "preload/span.h"
#include "reporter/encoder.h"
#include "reporter/jaeger_refusals.h"
#include "reporter/jaeger_thrift.h"
#include "reporter/json_buf.h"
#include "reporter/resource.h"
#include "reporter/thrift_compact.h"
#include "span_fixtures.h"
#include "tests/decode/tc_read.h"

/* ------------------------------------------------------------- helpers */

/* Assert that b holds exactly the n bytes of want (printing both on a
 * mismatch, in hex). */
static void expect_bytes(const struct ts_json_buf *b, const void *want, size_t n)
{
    assert_false(b->failed);
    if (b->len != n || memcmp(b->data, want, n) != 0) {
        fprintf(stderr, "got  %zu:", b->len);
        for (size_t i = 0; i < b->len; i++)
            fprintf(stderr, " %02x", (uint8_t)b->data[i]);
        fprintf(stderr, "\nwant %zu:", n);
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, " %02x", ((const uint8_t *)want)[i]);
        fprintf(stderr, "\n");
        fail_msg("bytes differ");
    }
}
#define EXPECT_BYTES(b, lit) expect_bytes((b), (lit), sizeof(lit) - 1)

/* True when the n bytes of needle occur in b. */
static bool has_bytes(const struct ts_json_buf *b, const void *needle, size_t n)
{
    return memmem(b->data, b->len, needle, n) != NULL;
}
#define HAS_BYTES(b, lit) has_bytes((b), (lit), sizeof(lit) - 1)

/* How many times the n bytes of needle occur in b. */
static size_t count_bytes(const struct ts_json_buf *b, const void *needle, size_t n)
{
    size_t count = 0;
    for (const char *p = b->data, *end = b->data + b->len;
         (p = memmem(p, (size_t)(end - p), needle, n)) != NULL; p += n)
        count++;
    return count;
}
#define COUNT_BYTES(b, lit) count_bytes((b), (lit), sizeof(lit) - 1)

/* ----------------------------------------- reading a datagram back */

/* The compact-protocol reader (rd_*) is tests/decode/tc_read.h, shared
 * with tests/fuzz/fuzz_encoders.c. */

/* Parse a whole emitBatch datagram: returns the number of spans (and the
 * batch's seqNo), or -1 when it is not exactly one well-formed message. */
static long parse_datagram(const char *d, size_t n, int64_t *seq_no)
{
    struct rd r = {(const uint8_t *)d, (const uint8_t *)d + n, false};
    if (rd_u8(&r) != 0x82 || rd_u8(&r) != 0x81)
        return -1;
    rd_varint(&r); /* seqid */
    if (rd_varint(&r) != 9 || r.end - r.p < 9 || memcmp(r.p, "emitBatch", 9) != 0)
        return -1;
    r.p += 9;
    int args_last = 0, last = 0, type;
    if (rd_field(&r, &args_last, &type) != 1 || type != TS_TC_STRUCT)
        return -1;
    long count = -1;
    *seq_no = -1;
    for (int id; (id = rd_field(&r, &last, &type)), type != 0 && !r.bad;) {
        if (id == 2 && type == TS_TC_LIST) {
            int elem;
            uint64_t k = rd_list(&r, &elem);
            if (elem != TS_TC_STRUCT)
                return -1;
            for (uint64_t i = 0; i < k && !r.bad; i++)
                rd_struct(&r, 1);
            count = (long)k;
        } else if (id == 3 && type == TS_TC_I64) {
            *seq_no = rd_unzigzag(rd_varint(&r));
        } else {
            rd_skip(&r, type, 1);
        }
    }
    rd_field(&r, &args_last, &type);
    if (type != 0 || r.bad || r.p != r.end)
        return -1;
    return count;
}

/* --------------------------------------------------- setup and spans */

/* A process of its own (not span_fixtures.h's default): resource
 * attributes from the environment become process tags. */
static int jt_setup(void **state)
{
    (void)state;
    set_process(4321, "shopd", "shop", "node-7", "deployment.environment=test,team=a%2Cb");
    return 0;
}

/* 64-bit words into big-endian id bytes: the last 8 bytes get low, the
 * 8 before them (of a 16-byte id) high. */
static void set_id(uint8_t *id, size_t n, uint64_t high, uint64_t low)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t word = i < n - 8 ? high : low;
        id[i] = (uint8_t)(word >> (8 * (7 - i % 8)));
    }
}

/* What the span builders below vary. */
struct span_spec {
    uint64_t trace_hi, trace_lo, span, parent; /* parent 0: a root */
    uint8_t kind, status;
    uint64_t start_ns, end_ns;
    const char *name;
};

static void span_from(struct ts_span *s, const struct span_spec *p)
{
    ts_span_clear(s);
    set_id(s->trace_id, TS_TRACE_ID_LEN, p->trace_hi, p->trace_lo);
    set_id(s->span_id, TS_SPAN_ID_LEN, 0, p->span);
    set_id(s->parent_id, TS_SPAN_ID_LEN, 0, p->parent);
    s->kind = p->kind;
    s->status = p->status;
    s->sampled = 1;
    s->start_ns = p->start_ns;
    s->end_ns = p->end_ns;
    ts_span_set_name(s, p->name, strlen(p->name));
}

/* A span whose every field is known (the exact-bytes test). The end is
 * 2000.999 µs after the start: the duration is truncated to 2000. */
static void tiny_span(struct ts_span *s, bool with_parent)
{
    span_from(s, &(struct span_spec){.trace_hi = 1,
                                     .trace_lo = 2,
                                     .span = 3,
                                     .parent = with_parent ? 4 : 0,
                                     .kind = TS_KIND_CLIENT,
                                     .start_ns = 1000000,
                                     .end_ns = 3000999,
                                     .name = "GET"});
    ts_span_attr_int(s, "http.response.status_code", 200);
}

/* A span like the shim makes: top bit set in the trace id and span id,
 * every attribute type, ERROR status. */
static void server_span(struct ts_span *s)
{
    span_from(s, &(struct span_spec){.trace_hi = 0xf0e1d2c3b4a59687ull,
                                     .trace_lo = 0x8000000000000001ull,
                                     .span = 0xfedcba9876543210ull,
                                     .parent = 0x0123456789abcdefull,
                                     .kind = TS_KIND_SERVER,
                                     .status = TS_STATUS_ERROR,
                                     .start_ns = 1700000000123456789ull,
                                     .end_ns = 1700000000125456789ull,
                                     .name = "GET /api/items"});
    ts_span_attr_cstr(s, "http.request.method", "GET");
    ts_span_attr_cstr(s, "url.path", "/api/items");
    ts_span_attr_int(s, "http.response.status_code", 500);
    ts_span_attr_int(s, "server.port", 8080);
    ts_span_attr_int(s, "big.negative", INT64_MIN);
    ts_span_attr_bool(s, "tls", false);
    ts_span_attr_bool(s, "keepalive", true);
}

/* A root client span with OK status, UTF-8 and invalid bytes in strings,
 * and an end before its start (duration 0). */
static void root_span(struct ts_span *s)
{
    span_from(s, &(struct span_spec){.trace_lo = 0x42,
                                     .span = 0x43,
                                     .kind = TS_KIND_CLIENT,
                                     .status = TS_STATUS_OK,
                                     .start_ns = 5000,
                                     .end_ns = 4000,
                                     .name = "GET /caf\xc3\xa9"});
    static const char url[] = "http://h/\xff\xfe\xc0\x80\xed\xa0\x80\xf0\x9f\x98\x80\x00x";
    ts_span_attr_str(s, "url.full", url, sizeof url - 1);
}

/* A damaged record: offsets past the buffer, NULL keys, an unknown type,
 * nattrs far past the array, garbage status and kind. Allocated to its
 * exact size so that ASan sees any read past the end. */
static struct ts_span *hostile_span(void)
{
    struct ts_span *s = malloc(sizeof *s);
    assert_non_null(s);
    memset(s, 0xff, sizeof *s);
    s->kind = 9;
    s->status = 7;
    s->nattrs = 255;
    s->name_off = 65535;
    s->name_len = 65535;
    static const char *const keys[] = {"a", NULL, "b", "c", NULL};
    for (size_t i = 0; i < TS_SPAN_MAX_ATTRS; i++) {
        struct ts_attr *a = &s->attrs[i];
        a->key = keys[i % 5];
        a->type = (uint8_t)(i % 4); /* 3: unknown */
        a->off = (uint16_t)(TS_SPAN_STRBUF - 3 + i);
        a->len = 65535;
        a->num = -(int64_t)i;
    }
    return s;
}

/* -------------------------------------------- dumps for the real decoder */

/* The bytes of an id as the signed i64 Jaeger carries (written here without
 * the encoder's helpers). */
static int64_t id_i64(const uint8_t *p)
{
    uint64_t v = 0;
    for (size_t i = 0; i < 8; i++)
        v = v << 8 | p[i];
    int64_t out;
    memcpy(&out, &v, sizeof out); /* two's complement: same bits */
    return out;
}

/* The span's string s->str[off..off+len), cut to the buffer. */
static void json_span_str(struct ts_json_buf *j, const struct ts_span *s, uint16_t off,
                          uint16_t len)
{
    size_t o = off >= TS_SPAN_STRBUF ? TS_SPAN_STRBUF : off;
    size_t l = (size_t)len + o > TS_SPAN_STRBUF ? TS_SPAN_STRBUF - o : len;
    ts_json_buf_string(j, s->str + o, l);
}

static void json_key(struct ts_json_buf *j, bool *first, const char *key, size_t klen)
{
    ts_json_buf_append_cstr(j, *first ? "" : ",");
    *first = false;
    ts_json_buf_string(j, key, klen);
    ts_json_buf_append_char(j, ':');
}

/* What decode_emit_batch must return for these spans under the test's
 * resource, as JSON. */
static void json_expected(struct ts_json_buf *j, const struct ts_span *spans, size_t n)
{
    const struct ts_resource *r = ts_resource_get();
    bool first = true;
    ts_json_buf_append_cstr(j, "{\"process\":{\"serviceName\":\"shop\",\"tags\":{");
    json_key(j, &first, "hostname", 8);
    ts_json_buf_append_cstr(j, "\"node-7\"");
    json_key(j, &first, "ip", 2);
    ts_json_buf_string(j, r->ip, strlen(r->ip));
    json_key(j, &first, "client-uuid", 11);
    ts_json_buf_string(j, r->client_uuid, strlen(r->client_uuid));
    json_key(j, &first, "jaeger.version", 14);
    ts_json_buf_append_cstr(j, "\"traceshim-C-" TS_VERSION "\"");
    for (size_t i = 0; i < r->nattrs; i++) {
        const struct ts_resource_attr *a = &r->attrs[i];
        if (a->klen == 12 && memcmp(a->key, "service.name", 12) == 0)
            continue;
        json_key(j, &first, a->key, a->klen);
        if (a->type == TS_ATTR_INT)
            ts_json_buf_i64(j, a->num);
        else
            ts_json_buf_string(j, a->str, a->slen);
    }
    ts_json_buf_append_cstr(j, "}},\"spans\":[");
    for (size_t k = 0; k < n; k++) {
        const struct ts_span *s = &spans[k];
        bool root = ts_id_is_zero(s->parent_id, TS_SPAN_ID_LEN);
        int64_t lo = id_i64(s->trace_id + 8), hi = id_i64(s->trace_id);
        int64_t parent = root ? 0 : id_i64(s->parent_id);
        ts_json_buf_append_cstr(j, k ? ",{\"traceIdLow\":" : "{\"traceIdLow\":");
        ts_json_buf_i64(j, lo);
        ts_json_buf_append_cstr(j, ",\"traceIdHigh\":");
        ts_json_buf_i64(j, hi);
        ts_json_buf_append_cstr(j, ",\"spanId\":");
        ts_json_buf_i64(j, id_i64(s->span_id));
        ts_json_buf_append_cstr(j, ",\"parentSpanId\":");
        ts_json_buf_i64(j, parent);
        ts_json_buf_append_cstr(j, ",\"operationName\":");
        json_span_str(j, s, s->name_off, s->name_len);
        ts_json_buf_append_cstr(j, ",\"references\":[");
        if (!root) {
            ts_json_buf_append_cstr(j, "{\"refType\":0,\"traceIdLow\":");
            ts_json_buf_i64(j, lo);
            ts_json_buf_append_cstr(j, ",\"traceIdHigh\":");
            ts_json_buf_i64(j, hi);
            ts_json_buf_append_cstr(j, ",\"spanId\":");
            ts_json_buf_i64(j, parent);
            ts_json_buf_append_cstr(j, "}");
        }
        /* sampled, and debug (2) on a debug span */
        ts_json_buf_append_cstr(j, s->sampled & TS_SPAN_DEBUG ? "],\"flags\":3,\"startTime\":"
                                                              : "],\"flags\":1,\"startTime\":");
        ts_json_buf_u64(j, s->start_ns / 1000);
        ts_json_buf_append_cstr(j, ",\"duration\":");
        ts_json_buf_u64(j, s->end_ns >= s->start_ns ? (s->end_ns - s->start_ns) / 1000 : 0);
        ts_json_buf_append_cstr(j, ",\"tags\":{");
        first = true;
        static const char *const kinds[] = {NULL, NULL, "\"server\"", "\"client\""};
        if (s->kind < 4 && kinds[s->kind]) {
            json_key(j, &first, "span.kind", 9);
            ts_json_buf_append_cstr(j, kinds[s->kind]);
        }
        json_key(j, &first, "otel.scope.name", 15);
        ts_json_buf_append_cstr(j, "\"traceshim\"");
        json_key(j, &first, "otel.scope.version", 18);
        ts_json_buf_append_cstr(j, "\"" TS_VERSION "\"");
        for (size_t i = 0; i < s->nattrs && i < TS_SPAN_MAX_ATTRS; i++) {
            const struct ts_attr *a = &s->attrs[i];
            if (!a->key || a->type > TS_ATTR_BOOL)
                continue;
            json_key(j, &first, a->key, strlen(a->key));
            if (a->type == TS_ATTR_STR)
                json_span_str(j, s, a->off, a->len);
            else if (a->type == TS_ATTR_INT)
                ts_json_buf_i64(j, a->num);
            else
                ts_json_buf_append_cstr(j, a->num ? "true" : "false");
        }
        if (s->status == TS_STATUS_OK || s->status == TS_STATUS_ERROR) {
            json_key(j, &first, "otel.status_code", 16);
            ts_json_buf_append_cstr(j, s->status == TS_STATUS_OK ? "\"OK\"" : "\"ERROR\"");
        }
        if (s->status == TS_STATUS_ERROR) {
            json_key(j, &first, "error", 5);
            ts_json_buf_append_cstr(j, "true");
        }
        if (s->dropped_attrs) { /* a long, only when not 0 */
            json_key(j, &first, "otel.dropped_attributes_count", 29);
            ts_json_buf_u64(j, s->dropped_attrs);
        }
        ts_json_buf_append_cstr(j, "}}");
    }
    ts_json_buf_append_cstr(j, "]}");
}

/* With TS_DUMP_DIR set, write the datagram as NAME.bin and what it must
 * decode to as NAME.json. */
static void dump(const char *name, const struct ts_json_buf *dgram, const struct ts_span *spans,
                 size_t n)
{
    const char *dir = dump_dir();
    if (!dir)
        return;
    struct ts_json_buf j;
    ts_json_buf_init(&j);
    ts_json_buf_append_cstr(&j, "{\"size\":");
    ts_json_buf_u64(&j, dgram->len);
    ts_json_buf_append_cstr(&j, ",\"expected\":");
    json_expected(&j, spans, n);
    ts_json_buf_append_cstr(&j, "}\n");
    assert_false(j.failed);
    dump_file(dir, name, ".bin", dgram->data, dgram->len);
    dump_file(dir, name, ".json", j.data, j.len);
    ts_json_buf_free(&j);
}

/* Encode spans[0..n) as one datagram into out (reset first). */
static void encode_batch(struct ts_json_buf *out, const struct ts_span *spans, size_t n)
{
    struct ts_json_buf sb;
    ts_json_buf_init(&sb);
    for (size_t i = 0; i < n; i++)
        ts_encoder_jaeger_thrift.span(&sb, &spans[i], i == 0);
    assert_false(sb.failed);
    ts_json_buf_reset(out);
    ts_encoder_jaeger_thrift.finish(out, sb.data, sb.len, n);
    assert_false(out->failed);
    ts_json_buf_free(&sb);
}

/* ---------------------------------------------------- primitives */

/* The buffer and writer of the tests below: fresh for each test. */
static struct ts_json_buf g_buf;
static struct ts_tc_writer g_w;

static int buf_setup(void **state)
{
    (void)state;
    ts_json_buf_init(&g_buf);
    ts_tc_init(&g_w, &g_buf);
    return 0;
}

static int buf_teardown(void **state)
{
    (void)state;
    ts_json_buf_free(&g_buf);
    return 0;
}

/* For the encoder tests: the known process, and the buffer. */
static int span_setup(void **state)
{
    jt_setup(state);
    return buf_setup(state);
}

static void test_zigzag(void **state)
{
    (void)state;
    assert_int_equal(ts_tc_zigzag32(0), 0);
    assert_int_equal(ts_tc_zigzag32(-1), 1);
    assert_int_equal(ts_tc_zigzag32(1), 2);
    assert_int_equal(ts_tc_zigzag32(-2), 3);
    assert_int_equal(ts_tc_zigzag32(INT32_MAX), 0xFFFFFFFEu);
    assert_int_equal(ts_tc_zigzag32(INT32_MIN), 0xFFFFFFFFu);
    assert_true(ts_tc_zigzag64(0) == 0);
    assert_true(ts_tc_zigzag64(-1) == 1);
    assert_true(ts_tc_zigzag64(63) == 126);
    assert_true(ts_tc_zigzag64(-64) == 127);
    assert_true(ts_tc_zigzag64(INT64_MAX) == UINT64_MAX - 1);
    assert_true(ts_tc_zigzag64(INT64_MIN) == UINT64_MAX);
    assert_true(ts_tc_u64_bits(5) == 5);
    assert_true(ts_tc_u64_bits(UINT64_MAX) == -1);
    assert_true(ts_tc_u64_bits(0x8000000000000000ull) == INT64_MIN);
    assert_true(ts_tc_u64_bits(0x8000000000000001ull) == INT64_MIN + 1);
}

static void test_i64_fields_negative(void **state)
{
    (void)state;
    ts_tc_struct_begin(&g_w);
    /* A trace id half with the top bit set is a negative i64:
     * 0x8000000000000001 = INT64_MIN+1, zigzag 2^64-3. */
    ts_tc_field_i64(&g_w, 1, ts_tc_u64_bits(0x8000000000000001ull));
    ts_tc_field_i64(&g_w, 2, -1);
    ts_tc_field_i64(&g_w, 3, INT64_MAX);
    ts_tc_field_i32(&g_w, 4, INT32_MIN);
    ts_tc_field_i32(&g_w, 5, -64);
    ts_tc_struct_end(&g_w);
    EXPECT_BYTES(&g_buf, "\x16\xfd\xff\xff\xff\xff\xff\xff\xff\xff\x01"
                         "\x16\x01"
                         "\x16\xfe\xff\xff\xff\xff\xff\xff\xff\xff\x01"
                         "\x15\xff\xff\xff\xff\x0f"
                         "\x15\x7f"
                         "\x00");
}

static void test_list_headers(void **state)
{
    (void)state;
    ts_tc_list_header(&g_buf, TS_TC_STRUCT, 0);
    ts_tc_list_header(&g_buf, TS_TC_STRUCT, 1);
    ts_tc_list_header(&g_buf, TS_TC_I64, 14);    /* largest short form */
    ts_tc_list_header(&g_buf, TS_TC_STRUCT, 15); /* smallest long form */
    ts_tc_list_header(&g_buf, TS_TC_BINARY, 300);
    EXPECT_BYTES(&g_buf, "\x0c\x1c\xe6\xfc\x0f\xf8\xac\x02");
    assert_int_equal(ts_tc_list_header_len(0), 1);
    assert_int_equal(ts_tc_list_header_len(14), 1);
    assert_int_equal(ts_tc_list_header_len(15), 2);
    assert_int_equal(ts_tc_list_header_len(127), 2);
    assert_int_equal(ts_tc_list_header_len(128), 3);
    assert_int_equal(ts_tc_list_header_len(INT32_MAX), 6);
}

static void test_field_headers_and_values(void **state)
{
    (void)state;
    ts_tc_struct_begin(&g_w);
    ts_tc_field_i32(&g_w, 1, 1);       /* delta 1 */
    ts_tc_field_i32(&g_w, 16, 0);      /* delta 15: still short */
    ts_tc_field_i32(&g_w, 100, 0);     /* delta 84: long form, id zigzag 200 */
    ts_tc_field_bool(&g_w, 50, true);  /* going back: long form; the type is the value */
    ts_tc_field_bool(&g_w, 51, false); /* delta 1, false */
    ts_tc_field_struct(&g_w, 52);      /* nested: its own field ids start again */
    ts_tc_field_double(&g_w, 1, 1.0);
    ts_tc_field_binary(&g_w, 2, "\xff\x00", 2);
    ts_tc_struct_end(&g_w);
    ts_tc_field_cstr(&g_w, 53, "hé"); /* the outer struct's delta continues from 52 */
    ts_tc_field_list(&g_w, 54, TS_TC_I32, 0);
    ts_tc_field_i32(&g_w, -3, 7); /* negative id: long form */
    ts_tc_struct_end(&g_w);
    assert_int_equal(g_w.depth, 0);
    EXPECT_BYTES(&g_buf, "\x15\x02"
                         "\xf5\x00"
                         "\x05\xc8\x01\x00"
                         "\x01\x64"
                         "\x12"
                         "\x1c"
                         "\x17\x00\x00\x00\x00\x00\x00\xf0\x3f"
                         "\x18\x02\xff\x00"
                         "\x00"
                         "\x18\x03h\xc3\xa9"
                         "\x19\x05"
                         "\x05\x05\x0e"
                         "\x00");
}

/* The cursor forms write what the writer writes: field headers short and
 * long (from any previous id), list headers short and long, strings valid
 * and cleaned; and not a byte past the end they return. */
static void test_cursor_forms(void **state)
{
    (void)state;
    static const int16_t ids[][2] = {{1, 0}, {16, 1}, {100, 16}, {50, 100}, {-3, 50}, {7, 7}};
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++) {
        ts_json_buf_reset(&g_buf);
        ts_tc_init(&g_w, &g_buf);
        ts_tc_struct_begin(&g_w);
        if (ids[i][1])
            ts_tc_field_header(&g_w, TS_TC_I32, ids[i][1]);
        size_t before = g_buf.len;
        ts_tc_field_header(&g_w, TS_TC_I64, ids[i][0]);
        char out[16];
        memset(out, '#', sizeof out);
        char *end = ts_tc_put_field_header(out, TS_TC_I64, ids[i][0], ids[i][1]);
        assert_int_equal((size_t)(end - out), g_buf.len - before);
        assert_memory_equal(out, g_buf.data + before, g_buf.len - before);
        assert_int_equal(*end, '#');
    }
    static const uint32_t sizes[] = {0, 1, 14, 15, 127, 128, 300, INT32_MAX};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        ts_json_buf_reset(&g_buf);
        ts_tc_list_header(&g_buf, TS_TC_STRUCT, sizes[i]);
        char out[16];
        char *end = ts_tc_put_list_header(out, TS_TC_STRUCT, sizes[i]);
        assert_int_equal((size_t)(end - out), g_buf.len);
        assert_int_equal(g_buf.len, ts_tc_list_header_len(sizes[i]));
        assert_memory_equal(out, g_buf.data, g_buf.len);
    }
    char out[32];
    char *end = ts_tc_put_string(out, "ok", 2, 2);
    assert_int_equal(end - out, 3);
    assert_memory_equal(out, "\x02ok", 3);
    end = ts_tc_put_string(out, "a\xff", 2, ts_utf8_clean_len("a\xff", 2));
    assert_int_equal(end - out, 5);
    assert_memory_equal(out, "\x04" "a\xef\xbf\xbd", 5);
}

/* Span tag keys come from a table of ready-made key fields: keys of every
 * length around the most an entry holds, from a writable buffer (read
 * again each time), read back as the Tag they are. */
static void test_tag_keys_every_length(void **state)
{
    (void)state;
    static char key[100];
    for (size_t klen = 0; klen < sizeof key; klen++) {
        memset(key, klen % 2 ? 'k' : 'q', klen);
        key[klen] = '\0';
        struct ts_span s;
        ts_span_clear(&s);
        ts_span_attr_bool(&s, key, true);
        ts_span_attr_int(&s, key, -2);
        ts_json_buf_reset(&g_buf);
        ts_jaeger_thrift_span(&g_buf, &s, true);
        assert_false(g_buf.failed);
        unsigned char expect[2 * 120];
        size_t n = 0;
        for (int twice = 0; twice < 2; twice++) {
            expect[n++] = 0x18;
            expect[n++] = (unsigned char)klen;
            memcpy(expect + n, key, klen);
            n += klen;
            expect[n++] = 0x15;
            if (twice) {
                memcpy(expect + n, "\x06\x46\x03\x00", 4); /* LONG, vLong -2 */
                n += 4;
            } else {
                memcpy(expect + n, "\x04\x31\x00", 3); /* BOOL, vBool true */
                n += 3;
            }
        }
        assert_non_null(memmem(g_buf.data, g_buf.len, expect, n));
        struct rd r = {(const uint8_t *)g_buf.data, (const uint8_t *)g_buf.data + g_buf.len, false};
        rd_struct(&r, 0);
        assert_false(r.bad);
        assert_true(r.p == r.end);
    }
}

static void test_message_header(void **state)
{
    (void)state;
    ts_tc_message_begin(&g_w, "emitBatch", TS_TC_ONEWAY, 0);
    ts_tc_message_begin(&g_w, "x", TS_TC_CALL, 300);
    ts_tc_message_begin(&g_w, "y", TS_TC_CALL, -1); /* seqid: plain varint of the bits */
    EXPECT_BYTES(&g_buf, "\x82\x81\x00\x09"
                         "emitBatch"
                         "\x82\x21\xac\x02\x01x"
                         "\x82\x21\xff\xff\xff\xff\x0f\x01y");
}

/* A string field: the cleaned length, then the cleaned bytes
 * (span_fixtures.h's table). */
static void test_strings_made_valid_utf8(void **state)
{
    (void)state;
    size_t ncases;
    const struct utf8_case *cases = utf8_cases(&ncases);
    struct ts_json_buf want;
    ts_json_buf_init(&want);
    for (size_t i = 0; i < ncases; i++) {
        ts_json_buf_reset(&g_buf);
        ts_json_buf_reset(&want);
        ts_tc_init(&g_w, &g_buf);
        ts_tc_struct_begin(&g_w);
        ts_tc_field_string(&g_w, 1, cases[i].in, cases[i].n);
        ts_json_buf_append_char(&want, 0x18);
        ts_json_buf_varint(&want, cases[i].on);
        ts_json_buf_append(&want, cases[i].out, cases[i].on);
        expect_bytes(&g_buf, want.data, want.len);
    }
    ts_json_buf_free(&want);
}

static void test_writer_misuse_fails(void **state)
{
    (void)state;
    ts_tc_field_i32(&g_w, 1, 1); /* no struct open */
    assert_true(g_buf.failed);

    ts_json_buf_reset(&g_buf);
    ts_tc_init(&g_w, &g_buf);
    for (int i = 0; i < TS_TC_MAX_DEPTH; i++)
        ts_tc_struct_begin(&g_w);
    assert_false(g_buf.failed);
    ts_tc_struct_begin(&g_w);
    assert_true(g_buf.failed);

    ts_json_buf_reset(&g_buf);
    ts_tc_init(&g_w, &g_buf);
    ts_tc_struct_end(&g_w);
    assert_true(g_buf.failed);
}

/* ------------------------------------------------------- spans */

/* The instrumentation scope's two tags, every span's after span.kind. */
_Static_assert(sizeof TS_VERSION - 1 == 5, "TS_VERSION's length: update SCOPE_TAGS' \\x05");
#define SCOPE_TAGS                                                                                 \
    "\x18\x0fotel.scope.name\x15\x00\x18\x09traceshim\x00"                                          \
    "\x18\x12otel.scope.version\x15\x00\x18\x05" TS_VERSION "\x00"

/* The bytes of tiny_span() that do not depend on the parent: flags, times,
 * and the four tags. */
#define TINY_SPAN_TAIL                                                                             \
    "\x16\xd0\x0f" /* 8 startTime 1000 µs */                                                      \
    "\x16\xa0\x1f" /* 9 duration 2000 µs */                                                       \
    "\x19\x4c"     /* 10 tags: 4 structs */                                                        \
    "\x18\x09span.kind\x15\x00\x18\x06"                                                            \
    "client\x00" SCOPE_TAGS                                                                        \
    "\x18\x19http.response.status_code\x15\x06\x46\x90\x03\x00"                                    \
    "\x00"

static void test_span_exact_bytes(void **state)
{
    (void)state;
    struct ts_span s;
    tiny_span(&s, true);
    ts_jaeger_thrift_span(&g_buf, &s, true);
    EXPECT_BYTES(&g_buf, "\x16\x04"                             /* 1 traceIdLow 2 */
                         "\x16\x02"                             /* 2 traceIdHigh 1 */
                         "\x16\x06"                             /* 3 spanId 3 */
                         "\x16\x08"                             /* 4 parentSpanId 4 */
                         "\x18\x03GET"                          /* 5 operationName */
                         "\x19\x1c"                             /* 6 references: 1 struct */
                         "\x15\x00\x16\x04\x16\x02\x16\x08\x00" /* CHILD_OF, low, high, parent */
                         "\x15\x02"                             /* 7 flags 1 */
                 TINY_SPAN_TAIL);

    /* A root: parentSpanId 0, no references, so flags follow the name
     * with a field-id delta of 2. */
    ts_json_buf_reset(&g_buf);
    tiny_span(&s, false);
    ts_jaeger_thrift_span(&g_buf, &s, false);
    EXPECT_BYTES(&g_buf, "\x16\x04\x16\x02\x16\x06"
                         "\x16\x00"
                         "\x18\x03GET"
                         "\x25\x02" TINY_SPAN_TAIL);
}

/* B3's debug flag: Span.flags 3, sampled and Jaeger's debug bit; the
 * rest of the span as it was. */
static void test_span_debug_flag(void **state)
{
    (void)state;
    struct ts_span s;
    tiny_span(&s, false);
    s.sampled = TS_SPAN_SAMPLED | TS_SPAN_DEBUG;
    ts_jaeger_thrift_span(&g_buf, &s, true);
    EXPECT_BYTES(&g_buf, "\x16\x04\x16\x02\x16\x06"
                         "\x16\x00"
                         "\x18\x03GET"
                         "\x25\x06" /* 7 flags 3 */
                 TINY_SPAN_TAIL);
    struct ts_json_buf out;
    ts_json_buf_init(&out);
    server_span(&s);
    s.sampled = TS_SPAN_SAMPLED | TS_SPAN_DEBUG;
    encode_batch(&out, &s, 1);
    dump("debug_span", &out, &s, 1);
    ts_json_buf_free(&out);
}

static void test_span_tag_types_and_status(void **state)
{
    (void)state;
    struct ts_span s;
    server_span(&s);
    ts_jaeger_thrift_span(&g_buf, &s, true);
    assert_false(g_buf.failed);
    /* traceIdLow 0x8000000000000001 is negative: zigzag 2^64-3 */
    assert_true(HAS_BYTES(&g_buf, "\x16\xfd\xff\xff\xff\xff\xff\xff\xff\xff\x01"));
    /* span.kind, the scope's 2, 7 attributes, otel.status_code, error = 12 */
    assert_true(HAS_BYTES(&g_buf, "\x19\xcc"));
    assert_true(HAS_BYTES(&g_buf, "\x18\x09span.kind\x15\x00\x18\x06server\x00" SCOPE_TAGS));
    assert_true(HAS_BYTES(&g_buf, "\x18\x13http.request.method\x15\x00\x18\x03GET\x00"));
    assert_true(HAS_BYTES(&g_buf, "\x18\x0bserver.port\x15\x06\x46\xa0\x7e\x00"));
    assert_true(HAS_BYTES(&g_buf, "\x18\x0c"
                                  "big.negative\x15\x06\x46"
                                  "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\x00"));
    assert_true(HAS_BYTES(&g_buf, "\x18\x03tls\x15\x04\x32\x00"));       /* vBool false */
    assert_true(HAS_BYTES(&g_buf, "\x18\x09keepalive\x15\x04\x31\x00")); /* vBool true */
    assert_true(HAS_BYTES(&g_buf, "\x18\x10otel.status_code\x15\x00\x18\x05"
                                  "ERROR\x00"));
    assert_true(HAS_BYTES(&g_buf, "\x18\x05"
                                  "error\x15\x04\x31\x00"));

    /* OK: the status tag, no error tag; UNSET: neither */
    s.status = TS_STATUS_OK;
    ts_json_buf_reset(&g_buf);
    ts_jaeger_thrift_span(&g_buf, &s, false);
    assert_true(HAS_BYTES(&g_buf, "\x19\xbc"));
    assert_true(HAS_BYTES(&g_buf, "\x18\x10otel.status_code\x15\x00\x18\x02OK\x00"));
    assert_false(HAS_BYTES(&g_buf, "\x05"
                                   "error"));
    s.status = TS_STATUS_UNSET;
    s.kind = TS_KIND_UNSPECIFIED;
    ts_json_buf_reset(&g_buf);
    ts_jaeger_thrift_span(&g_buf, &s, false);
    assert_true(HAS_BYTES(&g_buf, "\x19\x9c"));
    assert_false(HAS_BYTES(&g_buf, "otel.status_code"));
    assert_false(HAS_BYTES(&g_buf, "span.kind"));
    s.kind = TS_KIND_INTERNAL; /* the OpenTelemetry mapping: no span.kind tag either */
    ts_json_buf_reset(&g_buf);
    ts_jaeger_thrift_span(&g_buf, &s, false);
    assert_true(HAS_BYTES(&g_buf, "\x19\x9c" SCOPE_TAGS));
    assert_false(HAS_BYTES(&g_buf, "span.kind"));
}

static void test_hostile_span_stays_in_bounds(void **state)
{
    (void)state;
    struct ts_span *s = hostile_span();
    ts_jaeger_thrift_span(&g_buf, s, true);
    assert_false(g_buf.failed);
    /* One well-formed struct and nothing after it. */
    struct rd r = {(const uint8_t *)g_buf.data, (const uint8_t *)g_buf.data + g_buf.len, false};
    rd_struct(&r, 0);
    assert_false(r.bad);
    assert_true(r.p == r.end);
    /* Empty name: the name offset is past the buffer. */
    assert_true(HAS_BYTES(&g_buf, "\x18\x00\x19\x1c"));
    /* Tags: no span.kind (kind 9), no status (7), the scope's 2; of the 24
     * attribute slots 9 have a NULL key and 4 more an unknown type: 11
     * remain; and the dropped count (0xff bytes: 255). */
    _Static_assert(TS_SPAN_MAX_ATTRS == 24, "the count below is for 24 slots");
    assert_true(HAS_BYTES(&g_buf, "\x19\xec"));
    assert_true(HAS_BYTES(&g_buf, "\x18\x1dotel.dropped_attributes_count\x15\x06\x46\xfe\x03\x00"
                                  "\x00")); /* 255 (zigzag 510), the tag's and the span's stop */
    /* A string attribute clamped to the last 3 bytes of the buffer (0xff,
     * each replaced by U+FFFD). */
    assert_true(HAS_BYTES(&g_buf, "\x18\x01"
                                  "a\x15\x00\x18\x09\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\x00"));
    /* The whole datagram is well formed too. */
    struct ts_json_buf out;
    ts_json_buf_init(&out);
    encode_batch(&out, s, 1);
    int64_t seq;
    assert_int_equal(parse_datagram(out.data, out.len, &seq), 1);
    dump("hostile", &out, s, 1);
    ts_json_buf_free(&out);
    free(s);
}

/* Attributes left out (dropped_attrs): Jaeger has no field for the count,
 * so it is the tag otel.dropped_attributes_count (the OpenTelemetry
 * mapping to non-OTLP formats), a long, after the status tags; none when
 * nothing was left out. The datagram goes to the real decoder too. */
static void test_span_dropped_attributes_count(void **state)
{
    (void)state;
    struct ts_span s;
    server_span(&s);
    s.dropped_attrs = 3;
    ts_jaeger_thrift_span(&g_buf, &s, true);
    assert_false(g_buf.failed);
    /* span.kind, the scope's 2, 7 attributes, otel.status_code, error, the
     * count = 13 */
    assert_true(HAS_BYTES(&g_buf, "\x19\xdc"));
    assert_true(HAS_BYTES(&g_buf, "\x18\x05"
                                  "error\x15\x04\x31\x00" /* the last tag before it */
                                  "\x18\x1dotel.dropped_attributes_count"
                                  "\x15\x06"     /* vType LONG (3) */
                                  "\x46\x06\x00" /* vLong 3 (zigzag 6), stop */
                                  "\x00"));      /* the span's stop: the last tag */

    s.dropped_attrs = 255; /* the most a span counts: a varint of two bytes */
    ts_json_buf_reset(&g_buf);
    ts_jaeger_thrift_span(&g_buf, &s, true);
    assert_true(HAS_BYTES(&g_buf, "\x19\xdc"));
    assert_true(HAS_BYTES(&g_buf, "attributes_count\x15\x06\x46\xfe\x03\x00\x00"));

    s.dropped_attrs = 0; /* nothing left out: no tag */
    ts_json_buf_reset(&g_buf);
    ts_jaeger_thrift_span(&g_buf, &s, true);
    assert_true(HAS_BYTES(&g_buf, "\x19\xcc"));
    assert_false(HAS_BYTES(&g_buf, "dropped"));

    struct ts_json_buf out;
    ts_json_buf_init(&out);
    s.dropped_attrs = 3;
    encode_batch(&out, &s, 1);
    int64_t seq;
    assert_int_equal(parse_datagram(out.data, out.len, &seq), 1);
    dump("dropped_attrs", &out, &s, 1);
    ts_json_buf_free(&out);
}

/* --------------------------------------------------------- batches */

static void test_datagram_layout(void **state)
{
    (void)state;
    struct ts_span spans[2];
    server_span(&spans[0]);
    root_span(&spans[1]);
    struct ts_json_buf out;
    ts_json_buf_init(&out);
    encode_batch(&out, spans, 2);
    /* message header, args field 1 (struct), Batch field 1 (Process struct),
     * serviceName */
    assert_true(out.len > 21);
    assert_memory_equal(out.data,
                        "\x82\x81\x00\x09"
                        "emitBatch"
                        "\x1c\x1c\x18\x04shop",
                        21);
    assert_true(HAS_BYTES(&out, "\x18\x08hostname\x15\x00\x18\x06node-7\x00"));
    assert_true(HAS_BYTES(&out, "\x18\x0ejaeger.version\x15\x00\x18"));
    assert_true(HAS_BYTES(&out, "traceshim-C-" TS_VERSION "\x00"));
    assert_true(HAS_BYTES(&out, "\x18\x0bprocess.pid\x15\x06\x46\xc2\x43\x00")); /* 4321 */
    assert_true(HAS_BYTES(&out, "\x18\x04team\x15\x00\x18\x03"
                                "a,b\x00"));
    assert_false(HAS_BYTES(&out, "service.name"));
    /* the spans list of 2, and at the end seqNo 1 and the two stops */
    assert_true(HAS_BYTES(&out, "\x19\x2c"));
    assert_memory_equal(out.data + out.len - 4, "\x16\x02\x00\x00", 4);
    int64_t seq;
    assert_int_equal(parse_datagram(out.data, out.len, &seq), 2);
    assert_true(seq == 1);
    dump("two_spans", &out, spans, 2);

    encode_batch(&out, &spans[0], 1);
    assert_int_equal(parse_datagram(out.data, out.len, &seq), 1);
    assert_true(seq == 2); /* one more batch */
    dump("server_span", &out, &spans[0], 1);
    encode_batch(&out, &spans[1], 1);
    dump("root_span", &out, &spans[1], 1);
    ts_json_buf_free(&out);
}

static void test_process_follows_resource(void **state)
{
    (void)state;
    struct ts_span s;
    tiny_span(&s, false);
    struct ts_json_buf out;
    ts_json_buf_init(&out);
    encode_batch(&out, &s, 1);
    assert_true(HAS_BYTES(&out, "\x18\x04shop"));
    int64_t seq;
    parse_datagram(out.data, out.len, &seq);
    assert_true(seq == 1);
    /* After a rebuild (as after fork): the new service, and the sequence
     * starts again for the new client-uuid. */
    snprintf(ts_proc.service_name, sizeof ts_proc.service_name, "%s", "svc2");
    ts_resource_reset();
    encode_batch(&out, &s, 1);
    assert_true(HAS_BYTES(&out, "\x18\x04svc2"));
    assert_false(HAS_BYTES(&out, "\x18\x04shop"));
    parse_datagram(out.data, out.len, &seq);
    assert_true(seq == 1);
    ts_json_buf_free(&out);
}

/* A hostname or ip given as a resource attribute (JAEGER_TAGS, as the
 * Jaeger clients take them, or OTEL_RESOURCE_ATTRIBUTES) is the process's
 * one tag of that key, in place of the detected one: both were sent. */
static void test_given_hostname_and_ip_replace_the_detected(void **state)
{
    (void)state;
    set_process(4321, "shopd", "shop", "node-7", "hostname=myhost,ip=10.1.1.1");
    struct ts_span s;
    tiny_span(&s, false);
    struct ts_json_buf out;
    ts_json_buf_init(&out);
    encode_batch(&out, &s, 1);
    assert_int_equal(COUNT_BYTES(&out, "\x18\x08hostname\x15"), 1);
    assert_true(HAS_BYTES(&out, "\x18\x08hostname\x15\x00\x18\x06myhost\x00"));
    assert_int_equal(COUNT_BYTES(&out, "\x18\x02ip\x15"), 1);
    assert_true(HAS_BYTES(&out, "\x18\x02ip\x15\x00\x18\x08"
                                "10.1.1.1\x00"));
    assert_true(HAS_BYTES(&out, "\x18\x09host.name\x15\x00\x18\x06node-7\x00"));

    /* a client-uuid or jaeger.version given: the shim's tag alone (the
     * agent counts each client-uuid's batches) */
    set_process(4321, "shopd", "shop", "node-7", "client-uuid=mine,jaeger.version=v9");
    encode_batch(&out, &s, 1);
    assert_int_equal(COUNT_BYTES(&out, "\x18\x0b"
                                       "client-uuid\x15"),
                     1);
    assert_false(HAS_BYTES(&out, "\x18\x04mine"));
    assert_int_equal(COUNT_BYTES(&out, "\x18\x0ejaeger.version\x15"), 1);
    assert_false(HAS_BYTES(&out, "\x18\x02v9"));

    /* without them, the detected ones */
    set_process(4321, "shopd", "shop", "node-7", "");
    encode_batch(&out, &s, 1);
    assert_int_equal(COUNT_BYTES(&out, "\x18\x08hostname\x15\x00\x18\x06node-7\x00"), 1);
    assert_int_equal(COUNT_BYTES(&out, "\x18\x02ip\x15"), 1);
    ts_json_buf_free(&out);
}

/* A span of a few hundred bytes whose content varies with i. */
static void varied_span(struct ts_span *s, size_t i)
{
    server_span(s);
    set_id(s->span_id, TS_SPAN_ID_LEN, 0, 0xa000000000000000ull + i);
    s->start_ns += i * 1000;
    char path[600];
    size_t n = 20 + (i * 37) % 560;
    for (size_t k = 0; k < n; k++)
        path[k] = (char)('a' + (i + k) % 26);
    ts_span_attr_str(s, "url.full", path, n);
    s->kind = (uint8_t)(i % 4);
    s->status = (uint8_t)(i % 3);
}

static void test_bound_is_upper_bound(void **state)
{
    (void)state;
    static struct ts_span spans[500];
    for (size_t i = 0; i < 500; i++)
        varied_span(&spans[i], i);
    static const size_t counts[] = {0, 1, 14, 15, 500};
    struct ts_json_buf sb, out;
    ts_json_buf_init(&sb);
    ts_json_buf_init(&out);
    for (size_t c = 0; c < sizeof counts / sizeof *counts; c++) {
        size_t n = counts[c];
        ts_json_buf_reset(&sb);
        for (size_t i = 0; i < n; i++)
            ts_encoder_jaeger_thrift.span(&sb, &spans[i], i == 0);
        size_t bound = ts_encoder_jaeger_thrift.bound(sb.len, n);
        ts_json_buf_reset(&out);
        ts_encoder_jaeger_thrift.finish(&out, sb.data, sb.len, n);
        assert_false(out.failed);
        assert_true(out.len <= bound);
        /* tight: only the seqNo's varint is reckoned at its longest */
        assert_true(bound - out.len <= TS_VARINT_MAX);
        int64_t seq;
        assert_int_equal(parse_datagram(out.data, out.len, &seq), (long)n);
    }
    ts_json_buf_free(&sb);
    ts_json_buf_free(&out);
}

static void test_batch_cut_into_datagrams(void **state)
{
    (void)state;
    static struct ts_span spans[500];
    for (size_t i = 0; i < 500; i++)
        varied_span(&spans[i], i);
    const struct ts_encoder *enc = &ts_encoder_jaeger_thrift;
    struct ts_json_buf sb, out;
    ts_json_buf_init(&sb);
    ts_json_buf_init(&out);
    size_t first = 0, n = 0, total = 0, datagrams = 0;
    int64_t want_seq = 1;
    /* The reporter's rule: add a span; if bound() passes the limit, take it
     * back, send the batch, and start the next one with it. */
    for (size_t i = 0; i <= 500; i++) {
        if (i < 500) {
            size_t mark = sb.len;
            enc->span(&sb, &spans[i], n == 0);
            if (enc->bound(sb.len, n + 1) <= TS_JAEGER_MAX_DATAGRAM) {
                n++;
                continue;
            }
            ts_json_buf_truncate(&sb, mark);
            assert_true(n > 0); /* a single span always fits */
        }
        ts_json_buf_reset(&out);
        enc->finish(&out, sb.data, sb.len, n);
        assert_false(out.failed);
        assert_true(out.len <= TS_JAEGER_MAX_DATAGRAM);
        /* Cut late enough: every batch but the last was full to within
         * one span (these encode to under 1 KiB). */
        if (i < 500)
            assert_true(out.len > TS_JAEGER_MAX_DATAGRAM - 1024);
        int64_t seq;
        assert_int_equal(parse_datagram(out.data, out.len, &seq), (long)n);
        assert_true(seq == want_seq++);
        char name[32];
        snprintf(name, sizeof name, "batch_%02zu", datagrams);
        dump(name, &out, &spans[first], n);
        total += n;
        datagrams++;
        first += n;
        ts_json_buf_reset(&sb);
        n = 0;
        if (i < 500) {
            enc->span(&sb, &spans[i], true);
            n = 1;
        }
    }
    assert_int_equal(total, 500);
    assert_true(datagrams > 1);
    ts_json_buf_free(&sb);
    ts_json_buf_free(&out);
}

/* A remote agent's late refusals (jaeger_refusals.h), on a clock of the
 * test's own. */
static void test_jaeger_refusals_tell_down_from_restarted(void **state)
{
    (void)state;
    /* A healthy agent with a send every 300 ms: two single refusals 63.6
     * s apart, the sends between them taken. The evidence came 1.2 s after
     * the first (it took sends further apart than a second before: a busy
     * service never gave any, and said the second refusal as a down
     * agent). */
    struct ts_jaeger_refusals r = {0};
    assert_true(ts_jaeger_found_clear(&r, 1000)); /* none yet: evidence */
    assert_false(ts_jaeger_refused(&r, 1300));
    uint64_t t = 1300;
    for (t += 300; t < 1300 + TS_JAEGER_REFUSAL_BACK_MS; t += 300)
        assert_false(ts_jaeger_found_clear(&r, t)); /* too soon to tell */
    for (; t < 64900; t += 300)
        assert_true(ts_jaeger_found_clear(&r, t));
    assert_false(ts_jaeger_refused(&r, 64900));

    /* Two refusals within the minute: down, whatever came between. */
    assert_true(ts_jaeger_refused(&r, 70000));

    /* A down agent that gets one batch a minute: every send finds the
     * last one's refusal; the second is said. */
    struct ts_jaeger_refusals sparse = {0};
    assert_true(ts_jaeger_found_clear(&sparse, 0));
    assert_false(ts_jaeger_refused(&sparse, 61000));
    assert_true(ts_jaeger_refused(&sparse, 122000));

    /* A down agent sent bursts: the sends right after the refusal find
     * nothing pending (the refusals are not back yet), which is no
     * evidence; the next burst's first send finds one again. */
    struct ts_jaeger_refusals burst = {0};
    assert_false(ts_jaeger_refused(&burst, 200000));
    for (uint64_t u = 200001; u < 200010; u++)
        assert_false(ts_jaeger_found_clear(&burst, u));
    assert_true(ts_jaeger_refused(&burst, 265000)); /* 65 s on, no evidence between */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zigzag),
        cmocka_unit_test_setup_teardown(test_i64_fields_negative, buf_setup, buf_teardown),
        cmocka_unit_test_setup_teardown(test_list_headers, buf_setup, buf_teardown),
        cmocka_unit_test_setup_teardown(test_field_headers_and_values, buf_setup, buf_teardown),
        cmocka_unit_test_setup_teardown(test_cursor_forms, buf_setup, buf_teardown),
        cmocka_unit_test_setup_teardown(test_tag_keys_every_length, span_setup, buf_teardown),
        cmocka_unit_test_setup_teardown(test_message_header, buf_setup, buf_teardown),
        cmocka_unit_test_setup_teardown(test_strings_made_valid_utf8, buf_setup, buf_teardown),
        cmocka_unit_test_setup_teardown(test_writer_misuse_fails, buf_setup, buf_teardown),
        cmocka_unit_test_setup_teardown(test_span_exact_bytes, span_setup, buf_teardown),
        cmocka_unit_test_setup_teardown(test_span_debug_flag, span_setup, buf_teardown),
        cmocka_unit_test_setup_teardown(test_span_tag_types_and_status, span_setup, buf_teardown),
        cmocka_unit_test_setup_teardown(test_span_dropped_attributes_count, span_setup,
                                        buf_teardown),
        cmocka_unit_test_setup_teardown(test_hostile_span_stays_in_bounds, span_setup,
                                        buf_teardown),
        cmocka_unit_test_setup(test_datagram_layout, jt_setup),
        cmocka_unit_test_setup(test_process_follows_resource, jt_setup),
        cmocka_unit_test_setup(test_given_hostname_and_ip_replace_the_detected, jt_setup),
        cmocka_unit_test_setup(test_bound_is_upper_bound, jt_setup),
        cmocka_unit_test_setup(test_batch_cut_into_datagrams, jt_setup),
        cmocka_unit_test(test_jaeger_refusals_tell_down_from_restarted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
