/* fuzz_encoders.c — libFuzzer target for the four span encoders of
 * reporter/ (OTLP/JSON, OTLP protobuf, Zipkin JSON, Jaeger thrift): every
 * byte a span can hold, every count and kind, damaged records, and the
 * process description around them, through the encoder interface
 * (reporter/encoder.h) the way the reporter drives it.
 *
 * The input describes a batch (a cursor reads it; past its end every read
 * is 0):
 *
 *   byte 0      flags: bit 0 a process from the input (else a fixed one),
 *               bit 1 call stacks (frames, symbolized as the reporter does),
 *               bit 2 damage the records after building them
 *   bytes 1-2   the message size limit: 64 + this (big-endian)
 *   byte 3      the number of spans, mod 25 (15 and more: a long thrift
 *               list header)
 *   [process]   service, host and executable name, OTEL_RESOURCE_ATTRIBUTES
 *               (strings, below), a 4-byte pid
 *   per span    32 id bytes, an id mode byte (bits: 0 root, 1 64-bit trace
 *               id, 2 zero span id, 3 zero trace id, 4 end = start + u32,
 *               5 a debug span: B3's debug flag; bits 6-7, modulo 3,
 *               where the parent lives: unknown, local, remote),
 *               kind, status, start and end times, then up to 31 operations:
 *               set the name, add a string / int / bool attribute (keys from
 *               a table: the shim's own, the ones the encoders look for,
 *               quotes, backslashes, control characters, empty, NULL)
 *   [frames]    count (0..32), a base (none, this program, libc) and 16-bit
 *               offsets, or raw 64-bit addresses
 *   [damage]    up to 7 edits: name or attribute offsets and lengths past
 *               the string buffer, unknown types, NULL keys, nattrs up to 255,
 *               the count of attributes left out (dropped_attrs) up to 255
 *
 * A string is a length byte L: L < 0xC0 takes the next L bytes as they are
 * (NUL, invalid UTF-8, quotes, control characters ...); L >= 0xC0 repeats a
 * pattern of 1..8 bytes to (L - 0xBF) * 24 bytes, past TS_SPAN_STRBUF, so
 * every length limit is in reach of a short input.
 *
 * Each encoder then builds batches as exporters.c's exp_batch_add does:
 * span() appends one span, a span that takes bound() past the limit is
 * taken back (truncate) and starts the next batch, a span too big alone is
 * dropped. Invariants (abort() on violation):
 *  - span() only appends: the bytes before it are untouched (the truncate
 *    that takes a span back relies on that), and it never fails;
 *  - finish() appends exactly one message, never fails, and its length is
 *    <= bound(spans_len, nspans) <= the limit, bound() being at most 16
 *    bytes too generous;
 *  - OTLP/JSON and Zipkin: the message is valid UTF-8 with no control byte
 *    at all (a line format), parses as JSON (common/json_read.c, a full
 *    RFC 8259 parser), has no repeated key in any object, and reads back as
 *    the spans: ids, name, kind, times, every attribute / tag in order,
 *    status, endpoints, and the process (service name, pid, executable,
 *    host; Zipkin: the resource's attributes among every span's tags),
 *    Zipkin's debug on a debug span only, and (Zipkin, Jaeger) the
 *    otel.dropped_attributes_count tag exactly when attributes were left
 *    out;
 *  - OTLP protobuf: a well-formed message tree in which every field is one
 *    the schema has (ExportTraceServiceRequest > ResourceSpans > Resource /
 *    ScopeSpans > Span > KeyValue > AnyValue, Status) with its wire type,
 *    lengths inside their parent, minimal varints, valid UTF-8 strings, and
 *    the same values read back;
 *  - Jaeger thrift: one compact-protocol Agent.emitBatch message whose
 *    structs hold exactly the fields jaeger.thrift gives them, in order,
 *    with ids, tags and references read back, and Batch.seqNo counting 1,
 *    2, 3 ... per process;
 *  - strings read back as the encoders document: every byte that starts no
 *    valid UTF-8 character becomes U+FFFD, everything else is kept
 *    (tests/decode/utf8_check.h computes that apart from json_buf.c).
 * Offsets and lengths of a damaged record read back clamped to the bytes
 * of the string buffer in use, as span.h's ts_span_bytes promises; each span lives in a heap
 * block of its exact size, so any read past it is an ASan report. */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/json_read.h"
#include "preload/config.h"
#include "preload/process.h"
#include "preload/span.h"
#include "reporter/encoder.h"
#include "reporter/json_buf.h"
#include "reporter/resource.h"
#include "reporter/symbolize.h"
#include "tests/decode/pb_read.h"
#include "tests/decode/tc_read.h"
#include "tests/decode/utf8_check.h"

/* A broken invariant: named on stderr (the line run.sh shows first),
 * then the abort libFuzzer reports with the input. */
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "CHECK failed: %s:%d: %s\n", __FILE__, __LINE__, #cond);               \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define MAX_SPANS 24
#define STRING_MAX 1536 /* longest string an input can spell */
#define BOUND_SLACK 16  /* how much bound() may exceed the real size */

/* ------------------------------------------------------------ the input */

struct cursor {
    const uint8_t *p, *end;
};

static uint8_t take_u8(struct cursor *c)
{
    return c->p < c->end ? *c->p++ : 0;
}

/* n bytes (n <= 8) as a big-endian number. */
static uint64_t take_uint(struct cursor *c, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | take_u8(c);
    return v;
}

/* A string as the header comment describes; returns its length. */
static size_t take_string(struct cursor *c, uint8_t out[STRING_MAX])
{
    uint8_t spec = take_u8(c);
    if (spec < 0xC0) {
        size_t n = 0;
        while (n < spec && c->p < c->end)
            out[n++] = *c->p++;
        return n;
    }
    size_t n = (size_t)(spec - 0xBF) * 24;
    size_t plen = take_u8(c) % 8 + 1;
    uint8_t pattern[8];
    for (size_t i = 0; i < plen; i++)
        pattern[i] = take_u8(c);
    for (size_t i = 0; i < n; i++)
        out[i] = pattern[i % plen];
    return n;
}

/* Attribute keys. In the shim they are its own string literals (ASCII), so
 * none here is invalid UTF-8: Zipkin writes tags as a map keyed by the
 * key's bytes, and two invalid keys could read back as the same text. */
static char long_key[301];
static const char *const keys[] = {
    "http.request.method",
    "url.full",
    "http.response.status_code",
    "server.port",
    "network.peer.address",
    "network.peer.port",
    "error.type",
    "error",
    "otel.status_code",
    "otel.dropped_attributes_count",
    "code.stacktrace",
    "span.kind",
    "a",
    "",
    "quote\"back\\slash/",
    "ctl\x01\x1f\x7f\ttab\nnl\r",
    "caf\xc3\xa9 \xf0\x9f\x98\x80 \xe2\x80\xa8",
    long_key,
    NULL,
};
#define NKEYS (sizeof keys / sizeof *keys)

static const char *take_key(struct cursor *c)
{
    return keys[take_u8(c) % NKEYS];
}

/* ------------------------------------------------------------ the process */

/* The process the encoders describe. Rebuilding the resource costs a
 * getifaddrs, so it is rebuilt only when the input asks for another one. */
static struct ts_process last_proc;
static char last_resource_attrs[sizeof ts_cfg.resource_attrs];
static int64_t jaeger_seq; /* the Batch.seqNo the last Jaeger message had */

static void copy_field(char *dst, size_t cap, const uint8_t *src, size_t n)
{
    if (n > cap - 1)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0'; /* the contract: these are C strings */
}

static void set_process(struct cursor *c, bool from_input)
{
    struct ts_process p = {.pid = 4242};
    char attrs[sizeof ts_cfg.resource_attrs] = "";
    if (from_input) {
        static uint8_t s[STRING_MAX];
        copy_field(p.service_name, sizeof p.service_name, s, take_string(c, s));
        copy_field(p.host_name, sizeof p.host_name, s, take_string(c, s));
        copy_field(p.exe_name, sizeof p.exe_name, s, take_string(c, s));
        copy_field(attrs, sizeof attrs, s, take_string(c, s));
        p.pid = (pid_t)(take_uint(c, 4) & 0x7fffffff);
        if (p.pid == 0)
            p.pid = 1; /* 0 would mean "ask getpid()" */
    } else {
        strcpy(p.service_name, "fuzz-svc");
        strcpy(p.host_name, "fuzz-host");
        strcpy(p.exe_name, "fuzzd");
    }
    if (memcmp(&p, &last_proc, sizeof p) == 0 && strcmp(attrs, last_resource_attrs) == 0)
        return;
    ts_proc = p;
    memcpy(ts_cfg.resource_attrs, attrs, sizeof attrs);
    ts_resource_reset();
    last_proc = p;
    memcpy(last_resource_attrs, attrs, sizeof attrs);
    jaeger_seq = 0; /* a new resource is a new Jaeger client: counting starts again */
}

/* -------------------------------------------------------------- the spans */

static void build_ops(struct cursor *c, struct ts_span *s)
{
    static uint8_t str[STRING_MAX];
    size_t nops = take_u8(c) % 32;
    for (size_t i = 0; i < nops; i++) {
        uint8_t op = take_u8(c);
        const char *key;
        size_t n;
        switch (op & 3) {
        case 0:
            n = take_string(c, str);
            if (op & 4) /* a tracestate, after the name as the hooks set it */
                ts_span_set_trace_state(s, (const char *)str, n);
            else
                ts_span_set_name(s, (const char *)str, n);
            break;
        case 1:
            key = take_key(c);
            n = take_string(c, str);
            ts_span_attr_str(s, key, (const char *)str, n);
            break;
        case 2: {
            key = take_key(c);
            int64_t v;
            switch ((op >> 2) & 3) {
            case 0:
                v = (int64_t)take_uint(c, 8);
                break;
            case 1:
                v = (int8_t)take_u8(c);
                break;
            case 2:
                v = (int64_t)take_uint(c, 2); /* port numbers and around */
                break;
            default:
                v = take_u8(c) & 1 ? INT64_MIN : INT64_MAX;
                break;
            }
            ts_span_attr_int(s, key, v);
            break;
        }
        default:
            key = take_key(c);
            ts_span_attr_bool(s, key, take_u8(c) & 1);
            break;
        }
    }
}

/* Frames as the hooks record them, turned into code.function and
 * code.stacktrace by the symbolizer as the reporter thread does before
 * encoding. Addresses near a function of this program, of libc, or raw. */
static void build_frames(struct cursor *c, struct ts_span *s)
{
    size_t n = take_u8(c) % (TS_SPAN_MAX_FRAMES + 1);
    uint8_t base_kind = take_u8(c) % 4;
    uintptr_t base = base_kind == 1   ? (uintptr_t)&build_frames
                     : base_kind == 2 ? (uintptr_t)&getpid
                                      : 0;
    for (size_t i = 0; i < n; i++)
        s->frames[i] = base_kind == 3 ? (uintptr_t)take_uint(c, 8) : base + take_uint(c, 2);
    s->nframes = (uint8_t)n;
    ts_sym_attach(s);
    CHECK(s->nframes == 0);
}

/* What a corrupted record could look like; encoders must clamp. */
static void damage(struct cursor *c, struct ts_span *s)
{
    size_t n = take_u8(c) % 8;
    for (size_t i = 0; i < n; i++) {
        uint8_t op = take_u8(c);
        uint16_t v = (uint16_t)take_uint(c, 2);
        struct ts_attr *a = &s->attrs[(op >> 3) % TS_SPAN_MAX_ATTRS];
        switch (op & 7) {
        case 0: /* the name's offset, or (op's high bit) the tracestate's */
            if (op & 0x80)
                s->trace_state_off = v;
            else
                s->name_off = v;
            break;
        case 1:
            if (op & 0x80)
                s->trace_state_len = v;
            else
                s->name_len = v;
            break;
        case 2:
            a->off = v;
            break;
        case 3:
            a->len = v;
            break;
        case 4:
            a->type = (uint8_t)v;
            break;
        case 5:
            a->key = keys[v % NKEYS];
            break;
        case 6:
            s->nattrs = (uint8_t)v;
            break;
        default:
            if (op & 0x80) /* attributes left out: any count the uint8_t holds */
                s->dropped_attrs = (uint8_t)v;
            else
                s->nframes = (uint8_t)v; /* left over: encoders must not care */
            break;
        }
    }
}

/* A span in a heap block of its exact size. */
static struct ts_span *build_span(struct cursor *c, uint8_t flags)
{
    struct ts_span *s = malloc(sizeof *s);
    CHECK(s != NULL);
    memset(s, 0xa5, sizeof *s); /* a reused slot: old bytes everywhere */
    ts_span_clear(s);
    for (size_t i = 0; i < TS_SPAN_MAX_ATTRS; i++) /* no wild key pointers */
        s->attrs[i] = (struct ts_attr){.key = NULL};
    for (size_t i = 0; i < TS_TRACE_ID_LEN; i++)
        s->trace_id[i] = take_u8(c);
    for (size_t i = 0; i < TS_SPAN_ID_LEN; i++)
        s->span_id[i] = take_u8(c);
    for (size_t i = 0; i < TS_SPAN_ID_LEN; i++)
        s->parent_id[i] = take_u8(c);
    uint8_t mode = take_u8(c);
    if (mode & 1)
        memset(s->parent_id, 0, sizeof s->parent_id);
    if (mode & 2)
        memset(s->trace_id, 0, TS_TRACE_ID_LEN / 2);
    if (mode & 4)
        memset(s->span_id, 0, sizeof s->span_id);
    if (mode & 8)
        memset(s->trace_id, 0, sizeof s->trace_id);
    s->kind = take_u8(c);
    s->status = take_u8(c);
    s->sampled = mode & 32 ? TS_SPAN_SAMPLED | TS_SPAN_DEBUG : TS_SPAN_SAMPLED;
    s->parent_is = (uint8_t)((mode >> 6) % 3); /* unknown, local, remote */
    s->start_ns = take_uint(c, 8);
    s->end_ns = mode & 16 ? s->start_ns + take_uint(c, 4) : take_uint(c, 8);
    build_ops(c, s);
    if (flags & 2)
        build_frames(c, s);
    if (flags & 4)
        damage(c, s);
    return s;
}

/* -------------------------------------- what the spans should read back as */

/* s->str[off..off+len) clamped to the bytes in use (str_used, itself
 * clamped to the buffer): span.h's promise for damaged records, written
 * here apart from ts_span_bytes. */
static const uint8_t *span_text(const struct ts_span *s, uint16_t off, uint16_t len, size_t *n)
{
    size_t used = s->str_used < TS_SPAN_STRBUF ? s->str_used : TS_SPAN_STRBUF;
    size_t start = off > used ? used : off;
    size_t room = used - start;
    *n = len < room ? len : room;
    return (const uint8_t *)s->str + start;
}

/* An attribute an encoder writes: it has a key and a type it can name. */
struct want_attr {
    const char *key;
    uint8_t type;
    const uint8_t *val; /* TS_ATTR_STR */
    size_t vlen;
    int64_t num;
};

static size_t wanted_attrs(const struct ts_span *s, struct want_attr out[TS_SPAN_MAX_ATTRS])
{
    size_t n = s->nattrs < TS_SPAN_MAX_ATTRS ? s->nattrs : TS_SPAN_MAX_ATTRS, k = 0;
    for (size_t i = 0; i < n; i++) {
        const struct ts_attr *a = &s->attrs[i];
        if (!a->key || a->type > TS_ATTR_BOOL)
            continue;
        out[k] = (struct want_attr){.key = a->key, .type = a->type, .num = a->num};
        if (a->type == TS_ATTR_STR)
            out[k].val = span_text(s, a->off, a->len, &out[k].vlen);
        k++;
    }
    return k;
}

/* True when got[0..gotlen) is what the encoders make of raw[0..rawlen). */
static bool same_text(const void *raw, size_t rawlen, const void *got, size_t gotlen)
{
    static uint8_t want[3 * 4096];
    CHECK(rawlen <= 4096);
    size_t n = utf8_expect_clean(raw, rawlen, want);
    return n == gotlen && (n == 0 || memcmp(want, got, n) == 0);
}

static bool same_cstr(const char *s, const void *got, size_t gotlen)
{
    return same_text(s, strlen(s), got, gotlen);
}

static void hex_of(const uint8_t *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

static uint64_t be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (size_t i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

/* An address text as Zipkin takes it: v4 or v6 (by a ':'), no host name. */
static int ip_family(const uint8_t *p, size_t n)
{
    char text[64];
    unsigned char bin[16];
    if (n == 0 || n >= 46 || memchr(p, '\0', n))
        return 0;
    memcpy(text, p, n);
    text[n] = '\0';
    int family = memchr(text, ':', n) ? AF_INET6 : AF_INET;
    return inet_pton(family, text, bin) == 1 ? family : 0;
}

/* ------------------------------------------------------------- JSON reading */

/* The message as strict JSON: valid UTF-8, no byte below 0x20 anywhere
 * (the encoders write no whitespace, and escape control characters inside
 * strings), and one value that json_read accepts. */
static ts_json_doc *parse_json(const uint8_t *msg, size_t len)
{
    CHECK(utf8_ok(msg, len));
    for (size_t i = 0; i < len; i++)
        CHECK(msg[i] >= 0x20);
    ts_json_doc *doc = ts_json_parse((const char *)msg, len, NULL);
    CHECK(doc != NULL);
    return doc;
}

static void json_no_repeated_keys(const ts_json *v)
{
    size_t n = ts_json_len(v);
    if (ts_json_is(v, TS_JSON_ARRAY)) {
        for (size_t i = 0; i < n; i++)
            json_no_repeated_keys(ts_json_at(v, i));
    } else if (ts_json_is(v, TS_JSON_OBJECT)) {
        for (size_t i = 0; i < n; i++) {
            const ts_json_member *m = ts_json_member_at(v, i);
            for (size_t j = 0; j < i; j++) {
                const ts_json_member *o = ts_json_member_at(v, j);
                CHECK(m->key_len != o->key_len || memcmp(m->key, o->key, m->key_len) != 0);
            }
            json_no_repeated_keys(&m->value);
        }
    }
}

static const ts_json *json_member(const ts_json *obj, const char *key)
{
    const ts_json *v = ts_json_get(obj, key);
    CHECK(v != NULL);
    return v;
}

static void json_expect_text(const ts_json *v, const void *raw, size_t rawlen)
{
    size_t n;
    const char *s = ts_json_string(v, &n);
    CHECK(s != NULL && same_text(raw, rawlen, s, n));
}

/* A string member holding exactly want (ASCII). */
static void json_expect_str(const ts_json *v, const char *want)
{
    size_t n;
    const char *s = ts_json_string(v, &n);
    CHECK(s != NULL && n == strlen(want) && memcmp(s, want, n) == 0);
}

/* A number written exactly as want. */
static void json_expect_num(const ts_json *v, const char *want)
{
    CHECK(ts_json_is(v, TS_JSON_NUMBER));
    CHECK(v->len == strlen(want) && memcmp(v->u.str, want, v->len) == 0);
}

static const char *dec_u64(uint64_t v, char *buf)
{
    snprintf(buf, 24, "%" PRIu64, v);
    return buf;
}

static const char *dec_i64(int64_t v, char *buf)
{
    snprintf(buf, 24, "%" PRId64, v);
    return buf;
}

/* The host.name the resource carries: OTEL_RESOURCE_ATTRIBUTES' when it
 * names one, else the detected one (resource.c res_add_configured). */
static void resource_host(const char **s, size_t *n)
{
    const struct ts_resource *r = ts_resource_get();
    for (size_t i = 0; i < r->nattrs; i++) {
        const struct ts_resource_attr *a = &r->attrs[i];
        if (a->klen == 9 && memcmp(a->key, "host.name", 9) == 0) {
            *s = a->str;
            *n = a->slen;
            return;
        }
    }
    *s = ts_proc.host_name;
    *n = strlen(*s);
}

/* ------------------------------------------------------------ OTLP / JSON */

/* {"key":K,"value":{"stringValue"|"intValue"|"boolValue":V}} */
static void otlp_json_expect_kv(const ts_json *kv, const char *key, size_t klen, uint8_t type,
                                const void *str, size_t slen, int64_t num)
{
    char d[24];
    CHECK(ts_json_is(kv, TS_JSON_OBJECT) && ts_json_len(kv) == 2);
    json_expect_text(json_member(kv, "key"), key, klen);
    const ts_json *val = json_member(kv, "value");
    CHECK(ts_json_is(val, TS_JSON_OBJECT) && ts_json_len(val) == 1);
    bool b;
    switch (type) {
    case TS_ATTR_STR:
        json_expect_text(json_member(val, "stringValue"), str, slen);
        break;
    case TS_ATTR_INT: /* a 64-bit integer is a decimal string in proto3 JSON */
        json_expect_str(json_member(val, "intValue"), dec_i64(num, d));
        break;
    default:
        CHECK(ts_json_bool(json_member(val, "boolValue"), &b) && b == (num != 0));
        break;
    }
}

/* The resource's first attributes: the ones the shim sets from ts_proc. */
static void otlp_json_expect_resource(const ts_json *attrs)
{
    CHECK(ts_json_is(attrs, TS_JSON_ARRAY) && ts_json_len(attrs) >= 4);
    for (size_t i = 0; i < ts_json_len(attrs); i++) {
        const ts_json *kv = ts_json_at(attrs, i);
        CHECK(ts_json_is(kv, TS_JSON_OBJECT) && ts_json_len(kv) == 2);
        CHECK(ts_json_is(json_member(kv, "key"), TS_JSON_STRING));
        CHECK(ts_json_len(json_member(kv, "value")) == 1);
    }
    const char *svc = ts_proc.service_name, *exe = ts_proc.exe_name, *host;
    size_t host_len;
    resource_host(&host, &host_len);
    otlp_json_expect_kv(ts_json_at(attrs, 0), "service.name", 12, TS_ATTR_STR, svc, strlen(svc), 0);
    otlp_json_expect_kv(ts_json_at(attrs, 1), "process.pid", 11, TS_ATTR_INT, NULL, 0, ts_proc.pid);
    otlp_json_expect_kv(ts_json_at(attrs, 2), "process.executable.name", 23, TS_ATTR_STR, exe,
                        strlen(exe), 0);
    otlp_json_expect_kv(ts_json_at(attrs, 3), "host.name", 9, TS_ATTR_STR, host, host_len, 0);
}

/* OTLP's Span.flags: sampled (every span here is) in bit 0; bit 8 when
 * where the parent lives is known, bit 9 when it is another process. */
static uint32_t otlp_flags_of(const struct ts_span *s)
{
    return 1u | (s->parent_is == TS_PARENT_UNKNOWN ? 0 : 0x100u) |
           (s->parent_is == TS_PARENT_REMOTE ? 0x200u : 0);
}

static void otlp_json_expect_span(const ts_json *v, const struct ts_span *s)
{
    char hex[33], d[24];
    bool root = all_zero(s->parent_id, TS_SPAN_ID_LEN);
    size_t state_len;
    const uint8_t *state = span_text(s, s->trace_state_off, s->trace_state_len, &state_len);
    CHECK(ts_json_is(v, TS_JSON_OBJECT) && ts_json_len(v) == (root ? 9u : 10u) +
                                                                 (state_len ? 1u : 0u) +
                                                                 (s->dropped_attrs ? 1u : 0u));
    if (state_len)
        json_expect_text(json_member(v, "traceState"), state, state_len);
    hex_of(s->trace_id, TS_TRACE_ID_LEN, hex);
    json_expect_str(json_member(v, "traceId"), hex);
    hex_of(s->span_id, TS_SPAN_ID_LEN, hex);
    json_expect_str(json_member(v, "spanId"), hex);
    if (!root) {
        hex_of(s->parent_id, TS_SPAN_ID_LEN, hex);
        json_expect_str(json_member(v, "parentSpanId"), hex);
    }
    size_t n;
    const uint8_t *name = span_text(s, s->name_off, s->name_len, &n);
    json_expect_text(json_member(v, "name"), name, n);
    json_expect_num(json_member(v, "kind"), dec_u64(s->kind, d));
    json_expect_str(json_member(v, "startTimeUnixNano"), dec_u64(s->start_ns, d));
    json_expect_str(json_member(v, "endTimeUnixNano"), dec_u64(s->end_ns, d));
    struct want_attr want[TS_SPAN_MAX_ATTRS];
    size_t nwant = wanted_attrs(s, want);
    const ts_json *attrs = json_member(v, "attributes");
    CHECK(ts_json_is(attrs, TS_JSON_ARRAY) && ts_json_len(attrs) == nwant);
    for (size_t i = 0; i < nwant; i++)
        otlp_json_expect_kv(ts_json_at(attrs, i), want[i].key, strlen(want[i].key), want[i].type,
                            want[i].val, want[i].vlen, want[i].num);
    if (s->dropped_attrs) /* left out when 0, as OTLP/JSON leaves defaults */
        json_expect_num(json_member(v, "droppedAttributesCount"), dec_u64(s->dropped_attrs, d));
    const ts_json *status = json_member(v, "status");
    CHECK(ts_json_is(status, TS_JSON_OBJECT) && ts_json_len(status) == 1);
    json_expect_num(json_member(status, "code"), dec_u64(s->status, d));
    json_expect_num(json_member(v, "flags"), dec_u64(otlp_flags_of(s), d));
}

static void check_otlp_json(const uint8_t *msg, size_t len, struct ts_span *const *spans, size_t n)
{
    ts_json_doc *doc = parse_json(msg, len);
    const ts_json *root = ts_json_root(doc);
    json_no_repeated_keys(root);
    CHECK(ts_json_is(root, TS_JSON_OBJECT) && ts_json_len(root) == 1);
    const ts_json *rss = json_member(root, "resourceSpans");
    CHECK(ts_json_is(rss, TS_JSON_ARRAY) && ts_json_len(rss) == 1);
    const ts_json *rs = ts_json_at(rss, 0);
    CHECK(ts_json_len(rs) == 2);
    const ts_json *resource = json_member(rs, "resource");
    CHECK(ts_json_len(resource) == 1);
    otlp_json_expect_resource(json_member(resource, "attributes"));
    const ts_json *sss = json_member(rs, "scopeSpans");
    CHECK(ts_json_is(sss, TS_JSON_ARRAY) && ts_json_len(sss) == 1);
    const ts_json *ss = ts_json_at(sss, 0);
    CHECK(ts_json_len(ss) == 2);
    const ts_json *scope = json_member(ss, "scope");
    CHECK(ts_json_len(scope) == 2);
    json_expect_str(json_member(scope, "name"), "traceshim");
    json_expect_str(json_member(scope, "version"), TS_VERSION);
    const ts_json *list = json_member(ss, "spans");
    CHECK(ts_json_is(list, TS_JSON_ARRAY) && ts_json_len(list) == n);
    for (size_t i = 0; i < n; i++)
        otlp_json_expect_span(ts_json_at(list, i), spans[i]);
    ts_json_free(doc);
}

/* ------------------------------------------------------------------ Zipkin */

/* The first attribute an encoder writes with this key, or NULL. */
static const struct want_attr *first_with_key(const struct want_attr *w, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(w[i].key, key) == 0)
            return &w[i];
    return NULL;
}

/* A Zipkin tag: key and the text of its value (all tag values are strings). */
struct want_tag {
    const char *key;
    const uint8_t *val;
    size_t vlen;
    char text[24];
};

static void tag_value_of(struct want_tag *t, const struct want_attr *a)
{
    if (a->type == TS_ATTR_STR) {
        t->val = a->val;
        t->vlen = a->vlen;
        return;
    }
    if (a->type == TS_ATTR_INT)
        dec_i64(a->num, t->text);
    else
        strcpy(t->text, a->num ? "true" : "false");
    t->val = (const uint8_t *)t->text;
    t->vlen = strlen(t->text);
}

static void tag_literal(struct want_tag *t, const char *key, const char *text)
{
    t->key = key;
    snprintf(t->text, sizeof t->text, "%s", text);
    t->val = (const uint8_t *)t->text;
    t->vlen = strlen(t->text);
}

/* True when key[0..n) is one of the tags out[0..nout). */
static bool tag_named(const struct want_tag *out, size_t nout, const char *key, size_t n)
{
    for (size_t i = 0; i < nout; i++)
        if (strlen(out[i].key) == n && memcmp(out[i].key, key, n) == 0)
            return true;
    return false;
}

/* The resource's attributes as tags after the span's own out[0..n):
 * their keys as written (valid UTF-8), not service.name (the serviceName)
 * nor the status and scope tags (the span's own), each key once, the
 * first with it winning (the span's before the resource's). Returns the
 * new count. */
static size_t zipkin_resource_tags(struct want_tag *out, size_t n)
{
    static const char *const left_out[] = {"service.name",    "otel.status_code",
                                           "error",           "otel.dropped_attributes_count",
                                           "otel.scope.name", "otel.scope.version"};
    /* the keys made valid UTF-8, each NUL-terminated (a key holds none) */
    static char keys[3 * sizeof ts_cfg.resource_attrs + 4 * TS_RESOURCE_MAX_ATTRS];
    size_t used = 0;
    const struct ts_resource *r = ts_resource_get();
    for (size_t i = 0; i < r->nattrs; i++) {
        const struct ts_resource_attr *a = &r->attrs[i];
        char *key = keys + used;
        CHECK(3 * a->klen + 1 <= sizeof keys - used);
        size_t klen = utf8_expect_clean((const uint8_t *)a->key, a->klen, (uint8_t *)key);
        CHECK(memchr(key, '\0', klen) == NULL);
        key[klen] = '\0';
        bool skip = tag_named(out, n, key, klen);
        for (size_t k = 0; k < sizeof left_out / sizeof *left_out && !skip; k++)
            skip = strcmp(key, left_out[k]) == 0;
        if (skip)
            continue;
        used += klen + 1;
        out[n].key = key;
        if (a->type == TS_ATTR_STR) {
            out[n].val = (const uint8_t *)a->str;
            out[n].vlen = a->slen;
        } else {
            CHECK(a->type == TS_ATTR_INT);
            char d[24];
            tag_literal(&out[n], key, dec_i64(a->num, d));
        }
        n++;
    }
    return n;
}

/* The tags zipkin_json.c documents: each key once (its first value), the
 * resource's, then otel.status_code for OK/ERROR, "error" for ERROR and
 * otel.dropped_attributes_count (a string) when attributes were left out,
 * unless an attribute has that key already; last the scope's. */
static size_t zipkin_tags(const struct ts_span *s, const struct want_attr *w, size_t nw,
                          struct want_tag *out)
{
    size_t n = 0;
    for (size_t i = 0; i < nw; i++) {
        if (first_with_key(w, nw, w[i].key) != &w[i])
            continue;
        out[n].key = w[i].key;
        tag_value_of(&out[n++], &w[i]);
    }
    n = zipkin_resource_tags(out, n);
    if ((s->status == TS_STATUS_OK || s->status == TS_STATUS_ERROR) &&
        !first_with_key(w, nw, "otel.status_code"))
        tag_literal(&out[n++], "otel.status_code", s->status == TS_STATUS_OK ? "OK" : "ERROR");
    if (s->status == TS_STATUS_ERROR && !first_with_key(w, nw, "error")) {
        const struct want_attr *why = first_with_key(w, nw, "error.type");
        if (!why)
            why = first_with_key(w, nw, "http.response.status_code");
        if (why) {
            out[n].key = "error";
            tag_value_of(&out[n++], why);
        } else {
            tag_literal(&out[n++], "error", "true");
        }
    }
    if (s->dropped_attrs && !first_with_key(w, nw, "otel.dropped_attributes_count")) {
        char d[24];
        tag_literal(&out[n++], "otel.dropped_attributes_count", dec_u64(s->dropped_attrs, d));
    }
    tag_literal(&out[n++], "otel.scope.name", TS_SCOPE_NAME);
    tag_literal(&out[n++], "otel.scope.version", TS_VERSION);
    return n;
}

/* "port" when the attribute with this key is an int that is a port. */
static bool zipkin_port(const struct want_attr *w, size_t nw, const char *key, int64_t *port)
{
    const struct want_attr *a = first_with_key(w, nw, key);
    if (!a || a->type != TS_ATTR_INT || a->num <= 0 || a->num > 65535)
        return false;
    *port = a->num;
    return true;
}

/* An endpoint object: optional address member, optional port. */
static size_t zipkin_expect_address(const ts_json *ep, const uint8_t *ip, size_t n)
{
    int family = ip_family(ip, n);
    if (!family) {
        CHECK(!ts_json_get(ep, "ipv4") && !ts_json_get(ep, "ipv6"));
        return 0;
    }
    const ts_json *v = json_member(ep, family == AF_INET6 ? "ipv6" : "ipv4");
    size_t len;
    const char *got = ts_json_string(v, &len);
    CHECK(got && len == n && memcmp(got, ip, n) == 0);
    return 1;
}

static void zipkin_expect_span(const ts_json *v, const struct ts_span *s)
{
    char hex[33], d[24];
    size_t members = 7; /* traceId id name timestamp duration localEndpoint tags */
    CHECK(ts_json_is(v, TS_JSON_OBJECT));
    /* A 64-bit trace id (high half zero) stays 16 hex digits. */
    if (all_zero(s->trace_id, TS_TRACE_ID_LEN / 2))
        hex_of(s->trace_id + TS_TRACE_ID_LEN / 2, TS_TRACE_ID_LEN / 2, hex);
    else
        hex_of(s->trace_id, TS_TRACE_ID_LEN, hex);
    json_expect_str(json_member(v, "traceId"), hex);
    hex_of(s->span_id, TS_SPAN_ID_LEN, hex);
    json_expect_str(json_member(v, "id"), hex);
    if (!all_zero(s->parent_id, TS_SPAN_ID_LEN)) {
        hex_of(s->parent_id, TS_SPAN_ID_LEN, hex);
        json_expect_str(json_member(v, "parentId"), hex);
        members++;
    } else {
        CHECK(!ts_json_get(v, "parentId"));
    }
    size_t n;
    const uint8_t *name = span_text(s, s->name_off, s->name_len, &n);
    json_expect_text(json_member(v, "name"), name, n);
    if (s->kind == TS_KIND_SERVER || s->kind == TS_KIND_CLIENT) {
        json_expect_str(json_member(v, "kind"), s->kind == TS_KIND_SERVER ? "SERVER" : "CLIENT");
        members++;
    } else {
        CHECK(!ts_json_get(v, "kind"));
    }
    json_expect_num(json_member(v, "timestamp"), dec_u64(s->start_ns / 1000, d));
    uint64_t dur = s->end_ns > s->start_ns ? (s->end_ns - s->start_ns) / 1000 : 0;
    json_expect_num(json_member(v, "duration"), dec_u64(dur ? dur : 1, d));

    struct want_attr w[TS_SPAN_MAX_ATTRS];
    size_t nw = wanted_attrs(s, w);
    int64_t port;
    const ts_json *local = json_member(v, "localEndpoint");
    const struct ts_resource *r = ts_resource_get();
    size_t local_members = 1;
    json_expect_text(json_member(local, "serviceName"), ts_proc.service_name,
                     strlen(ts_proc.service_name));
    local_members += zipkin_expect_address(local, (const uint8_t *)r->ip, strlen(r->ip));
    CHECK(ts_json_len(local) == local_members); /* no port */

    /* a client span's serviceName: the server it called */
    const struct want_attr *server = first_with_key(w, nw, "server.address");
    if (s->kind != TS_KIND_CLIENT || !server || server->type != TS_ATTR_STR || !server->vlen)
        server = NULL;
    const struct want_attr *peer = first_with_key(w, nw, "network.peer.address");
    if (!peer || peer->type != TS_ATTR_STR || !ip_family(peer->val, peer->vlen))
        peer = NULL;
    if (peer || server) {
        const ts_json *remote = json_member(v, "remoteEndpoint");
        size_t remote_members = 0;
        if (server) {
            json_expect_text(json_member(remote, "serviceName"), server->val, server->vlen);
            remote_members++;
        }
        if (peer) {
            remote_members += zipkin_expect_address(remote, peer->val, peer->vlen);
            if (zipkin_port(w, nw, "network.peer.port", &port)) {
                json_expect_num(json_member(remote, "port"), dec_i64(port, d));
                remote_members++;
            }
        }
        CHECK(ts_json_len(remote) == remote_members);
        members++;
    } else {
        CHECK(!ts_json_get(v, "remoteEndpoint"));
    }

    static struct want_tag tags[TS_SPAN_MAX_ATTRS + TS_RESOURCE_MAX_ATTRS + 5];
    size_t ntags = zipkin_tags(s, w, nw, tags);
    const ts_json *got = json_member(v, "tags");
    CHECK(ts_json_is(got, TS_JSON_OBJECT) && ts_json_len(got) == ntags);
    for (size_t i = 0; i < ntags; i++) {
        const ts_json_member *m = ts_json_member_at(got, i);
        CHECK(same_cstr(tags[i].key, m->key, m->key_len));
        json_expect_text(&m->value, tags[i].val, tags[i].vlen);
    }
    if (s->sampled & TS_SPAN_DEBUG) { /* B3's debug flag */
        bool debug;
        CHECK(ts_json_bool(json_member(v, "debug"), &debug) && debug);
        members++;
    } else {
        CHECK(!ts_json_get(v, "debug"));
    }
    CHECK(ts_json_len(v) == members);
}

static void check_zipkin_json(const uint8_t *msg, size_t len, struct ts_span *const *spans,
                              size_t n)
{
    ts_json_doc *doc = parse_json(msg, len);
    const ts_json *root = ts_json_root(doc);
    json_no_repeated_keys(root);
    CHECK(ts_json_is(root, TS_JSON_ARRAY) && ts_json_len(root) == n);
    for (size_t i = 0; i < n; i++)
        zipkin_expect_span(ts_json_at(root, i), spans[i]);
    ts_json_free(doc);
}

/* ---------------------------------------------------------- OTLP protobuf */

/* A string field: valid UTF-8 holding what the encoders make of raw. */
static void pb_expect_text(const struct pbf *f, const void *raw, size_t rawlen)
{
    CHECK(f->wire == PBR_LEN && utf8_ok(f->data, f->len));
    CHECK(same_text(raw, rawlen, f->data, f->len));
}

static void pb_expect_bytes(const struct pbf *f, const void *want, size_t n)
{
    CHECK(f->wire == PBR_LEN && f->len == n && memcmp(f->data, want, n) == 0);
}

/* A KeyValue read back: its key and its one AnyValue member. */
struct pb_kv {
    const uint8_t *key;
    size_t klen;
    uint32_t member; /* 1 string_value, 2 bool_value, 3 int_value */
    const uint8_t *str;
    size_t slen;
    uint64_t num;
};

static struct pb_kv pb_read_kv(const uint8_t *p, size_t n)
{
    struct pb_kv kv = {0};
    struct pbr r = pbr_of(p, n);
    struct pbf f, g;
    bool have_key = false, have_value = false;
    while (pbr_next(&r, &f)) {
        if (f.field == 1) { /* key */
            CHECK(!have_key && f.wire == PBR_LEN && utf8_ok(f.data, f.len));
            kv.key = f.data;
            kv.klen = f.len;
            have_key = true;
        } else if (f.field == 2) { /* value: an AnyValue with one member */
            CHECK(!have_value && f.wire == PBR_LEN);
            have_value = true;
            struct pbr any = pbr_of(f.data, f.len);
            CHECK(pbr_next(&any, &g));
            kv.member = g.field;
            if (g.field == 1) {
                CHECK(g.wire == PBR_LEN && utf8_ok(g.data, g.len));
                kv.str = g.data;
                kv.slen = g.len;
            } else {
                CHECK((g.field == 2 || g.field == 3) && g.wire == PBR_VARINT);
                CHECK(g.field != 2 || g.num <= 1);
                kv.num = g.num;
            }
            CHECK(!pbr_next(&any, &g) && !any.bad);
        } else {
            CHECK(false);
        }
    }
    CHECK(!r.bad && have_key && have_value);
    return kv;
}

static void pb_expect_kv(const struct pb_kv *kv, const char *key, size_t klen, uint8_t type,
                         const void *str, size_t slen, int64_t num)
{
    CHECK(same_text(key, klen, kv->key, kv->klen));
    switch (type) {
    case TS_ATTR_STR:
        CHECK(kv->member == 1 && same_text(str, slen, kv->str, kv->slen));
        break;
    case TS_ATTR_INT: /* int64 as its two's complement varint */
        CHECK(kv->member == 3 && kv->num == (uint64_t)num);
        break;
    default:
        CHECK(kv->member == 2 && kv->num == (num != 0));
        break;
    }
}

static void pb_expect_span(const uint8_t *p, size_t n, const struct ts_span *s)
{
    struct pbr r = pbr_of(p, n);
    struct pbf f;
    bool seen[17] = {false};
    struct want_attr want[TS_SPAN_MAX_ATTRS];
    size_t nwant = wanted_attrs(s, want), nattrs = 0;
    size_t len;
    const uint8_t *name = span_text(s, s->name_off, s->name_len, &len);
    size_t state_len;
    const uint8_t *state = span_text(s, s->trace_state_off, s->trace_state_len, &state_len);
    while (pbr_next(&r, &f)) {
        CHECK(f.field <= 16);
        if (f.field != 9) { /* the one repeated field */
            CHECK(!seen[f.field]);
            seen[f.field] = true;
        }
        switch (f.field) {
        case 1:
            pb_expect_bytes(&f, s->trace_id, TS_TRACE_ID_LEN);
            break;
        case 2:
            pb_expect_bytes(&f, s->span_id, TS_SPAN_ID_LEN);
            break;
        case 3:
            pb_expect_text(&f, state, state_len);
            break;
        case 4:
            pb_expect_bytes(&f, s->parent_id, TS_SPAN_ID_LEN);
            break;
        case 5:
            pb_expect_text(&f, name, len);
            break;
        case 6:
            CHECK(f.wire == PBR_VARINT && f.num == s->kind);
            break;
        case 7:
            CHECK(f.wire == PBR_I64 && f.num == s->start_ns);
            break;
        case 8:
            CHECK(f.wire == PBR_I64 && f.num == s->end_ns);
            break;
        case 9: {
            CHECK(f.wire == PBR_LEN && nattrs < nwant);
            struct pb_kv kv = pb_read_kv(f.data, f.len);
            const struct want_attr *w = &want[nattrs++];
            pb_expect_kv(&kv, w->key, strlen(w->key), w->type, w->val, w->vlen, w->num);
            break;
        }
        case 10: /* dropped_attributes_count */
            CHECK(f.wire == PBR_VARINT && f.num == s->dropped_attrs && s->dropped_attrs != 0);
            break;
        case 15: { /* Status: code only */
            CHECK(f.wire == PBR_LEN);
            struct pbr st = pbr_of(f.data, f.len);
            struct pbf g;
            CHECK(pbr_next(&st, &g) && g.field == 3 && g.wire == PBR_VARINT);
            CHECK(g.num == s->status);
            CHECK(!pbr_next(&st, &g) && !st.bad);
            break;
        }
        case 16:
            CHECK(f.wire == PBR_I32 && f.num == otlp_flags_of(s));
            break;
        default:
            CHECK(false);
        }
    }
    CHECK(!r.bad && nattrs == nwant);
    CHECK(seen[1] && seen[2] && seen[5] && seen[6] && seen[7] && seen[8]);
    CHECK(seen[4] == !all_zero(s->parent_id, TS_SPAN_ID_LEN));
    CHECK(seen[3] == (state_len != 0));
    CHECK(seen[10] == (s->dropped_attrs != 0));
    CHECK(seen[15] == (s->status != TS_STATUS_UNSET)); /* an empty Status is left out */
    CHECK(seen[16]);                                   /* never 0: every span here is sampled */
}

static void pb_expect_resource(const uint8_t *p, size_t n)
{
    struct pbr r = pbr_of(p, n);
    struct pbf f;
    size_t i = 0;
    const char *svc = ts_proc.service_name, *exe = ts_proc.exe_name, *host;
    size_t host_len;
    resource_host(&host, &host_len);
    while (pbr_next(&r, &f)) {
        CHECK(f.field == 1 && f.wire == PBR_LEN); /* Resource.attributes */
        struct pb_kv kv = pb_read_kv(f.data, f.len);
        if (i == 0)
            pb_expect_kv(&kv, "service.name", 12, TS_ATTR_STR, svc, strlen(svc), 0);
        else if (i == 1)
            pb_expect_kv(&kv, "process.pid", 11, TS_ATTR_INT, NULL, 0, ts_proc.pid);
        else if (i == 2)
            pb_expect_kv(&kv, "process.executable.name", 23, TS_ATTR_STR, exe, strlen(exe), 0);
        else if (i == 3)
            pb_expect_kv(&kv, "host.name", 9, TS_ATTR_STR, host, host_len, 0);
        i++;
    }
    CHECK(!r.bad && i >= 4);
}

static void check_otlp_proto(const uint8_t *msg, size_t len, struct ts_span *const *spans, size_t n)
{
    struct pbr req = pbr_of(msg, len), rs, ss;
    struct pbf f, g;
    /* ExportTraceServiceRequest: one resource_spans */
    CHECK(pbr_next(&req, &f) && f.field == 1 && f.wire == PBR_LEN);
    CHECK(!pbr_next(&req, &g) && !req.bad);
    /* ResourceSpans: resource, then one scope_spans */
    rs = pbr_of(f.data, f.len);
    CHECK(pbr_next(&rs, &f) && f.field == 1 && f.wire == PBR_LEN);
    pb_expect_resource(f.data, f.len);
    CHECK(pbr_next(&rs, &f) && f.field == 2 && f.wire == PBR_LEN);
    CHECK(!pbr_next(&rs, &g) && !rs.bad);
    /* ScopeSpans: scope, then the spans */
    ss = pbr_of(f.data, f.len);
    CHECK(pbr_next(&ss, &f) && f.field == 1 && f.wire == PBR_LEN);
    struct pbr scope = pbr_of(f.data, f.len);
    CHECK(pbr_next(&scope, &g) && g.field == 1);
    pb_expect_bytes(&g, "traceshim", 9);
    CHECK(pbr_next(&scope, &g) && g.field == 2);
    pb_expect_bytes(&g, TS_VERSION, sizeof TS_VERSION - 1);
    CHECK(!pbr_next(&scope, &g) && !scope.bad);
    size_t count = 0;
    while (pbr_next(&ss, &f)) {
        CHECK(f.field == 2 && f.wire == PBR_LEN && count < n);
        pb_expect_span(f.data, f.len, spans[count++]);
    }
    CHECK(!ss.bad && count == n);
}

/* ---------------------------------------------------------- Jaeger thrift */

/* The next field header must be this id and type. */
static void tc_expect_field(struct rd *r, int *last, int id, int type)
{
    int got_type;
    int got_id = rd_field(r, last, &got_type);
    CHECK(!r->bad && got_id == id && got_type == type);
}

static void tc_expect_stop(struct rd *r)
{
    CHECK(rd_u8(r) == 0 && !r->bad);
}

static int64_t tc_i64(struct rd *r)
{
    uint64_t u = rd_varint(r);
    CHECK(!r->bad);
    return rd_unzigzag(u);
}

static int32_t tc_i32(struct rd *r)
{
    uint64_t u = rd_varint(r);
    CHECK(!r->bad && u <= UINT32_MAX);
    return (int32_t)rd_unzigzag(u);
}

/* A string: a varint length, then that many bytes of valid UTF-8. */
static const uint8_t *tc_string(struct rd *r, size_t *n)
{
    uint64_t len = rd_varint(r);
    CHECK(!r->bad && len <= (uint64_t)(r->end - r->p));
    const uint8_t *p = r->p;
    r->p += len;
    *n = (size_t)len;
    CHECK(utf8_ok(p, *n));
    return p;
}

/* jaeger.thrift's Tag as the shim writes it. */
enum { JT_STRING = 0, JT_BOOL = 2, JT_LONG = 3 };

struct jt_tag {
    const char *key;
    size_t klen;
    int vtype;
    const void *str;
    size_t slen;
    int64_t num; /* LONG, and BOOL as 0/1 */
};

/* A Tag struct: key, vType and the one value field of that type. */
static void tc_expect_tag(struct rd *r, const struct jt_tag *want)
{
    int last = 0, type;
    size_t n;
    const uint8_t *p;
    tc_expect_field(r, &last, 1, RD_BINARY);
    p = tc_string(r, &n);
    CHECK(same_text(want->key, want->klen, p, n));
    tc_expect_field(r, &last, 2, RD_I32);
    CHECK(tc_i32(r) == want->vtype);
    switch (want->vtype) {
    case JT_STRING:
        tc_expect_field(r, &last, 3, RD_BINARY);
        p = tc_string(r, &n);
        CHECK(same_text(want->str, want->slen, p, n));
        break;
    case JT_BOOL: /* a bool field's value is its header's type */
        CHECK(rd_field(r, &last, &type) == 5 && !r->bad);
        CHECK(type == (want->num ? RD_BOOL_TRUE : RD_BOOL_FALSE));
        break;
    default:
        tc_expect_field(r, &last, 6, RD_I64);
        CHECK(tc_i64(r) == want->num);
        break;
    }
    tc_expect_stop(r);
}

/* Span.tags as jaeger_thrift.c documents them: span.kind (none for an
 * internal span), the scope's name and version, the attributes, then
 * otel.status_code and error for OK / ERROR, and
 * otel.dropped_attributes_count (a long) when attributes were left out. */
static size_t jaeger_tags(const struct ts_span *s, struct jt_tag *out)
{
    static const char *const kinds[] = {NULL, NULL, "server", "client"};
    struct want_attr w[TS_SPAN_MAX_ATTRS];
    size_t nw = wanted_attrs(s, w), n = 0;
    if (s->kind >= 2 && s->kind <= 3)
        out[n++] =
            (struct jt_tag){"span.kind", 9, JT_STRING, kinds[s->kind], strlen(kinds[s->kind]), 0};
    out[n++] = (struct jt_tag){"otel.scope.name", 15, JT_STRING, TS_SCOPE_NAME,
                               sizeof TS_SCOPE_NAME - 1, 0};
    out[n++] = (struct jt_tag){"otel.scope.version", 18, JT_STRING, TS_VERSION,
                               sizeof TS_VERSION - 1, 0};
    for (size_t i = 0; i < nw; i++) {
        struct jt_tag *t = &out[n++];
        *t = (struct jt_tag){.key = w[i].key, .klen = strlen(w[i].key)};
        if (w[i].type == TS_ATTR_STR) {
            t->vtype = JT_STRING;
            t->str = w[i].val;
            t->slen = w[i].vlen;
        } else if (w[i].type == TS_ATTR_INT) {
            t->vtype = JT_LONG;
            t->num = w[i].num;
        } else {
            t->vtype = JT_BOOL;
            t->num = w[i].num != 0;
        }
    }
    if (s->status == TS_STATUS_OK || s->status == TS_STATUS_ERROR) {
        bool err = s->status == TS_STATUS_ERROR;
        out[n++] = (struct jt_tag){"otel.status_code", 16, JT_STRING, err ? "ERROR" : "OK",
                                   err ? 5u : 2u,      0};
        if (err)
            out[n++] = (struct jt_tag){"error", 5, JT_BOOL, NULL, 0, 1};
    }
    if (s->dropped_attrs)
        out[n++] = (struct jt_tag){
            "otel.dropped_attributes_count", 29, JT_LONG, NULL, 0, s->dropped_attrs};
    return n;
}

/* The i64 a Jaeger id travels as: the 64 bits of the big-endian bytes. */
static int64_t id_as_i64(const uint8_t *p)
{
    uint64_t u = be64(p);
    int64_t v;
    memcpy(&v, &u, sizeof v);
    return v;
}

static void tc_expect_span(struct rd *r, const struct ts_span *s)
{
    int last = 0, elem;
    size_t n;
    int64_t lo = id_as_i64(s->trace_id + 8), hi = id_as_i64(s->trace_id);
    bool root = all_zero(s->parent_id, TS_SPAN_ID_LEN);
    int64_t parent = root ? 0 : id_as_i64(s->parent_id);
    tc_expect_field(r, &last, 1, RD_I64);
    CHECK(tc_i64(r) == lo);
    tc_expect_field(r, &last, 2, RD_I64);
    CHECK(tc_i64(r) == hi);
    tc_expect_field(r, &last, 3, RD_I64);
    CHECK(tc_i64(r) == id_as_i64(s->span_id));
    tc_expect_field(r, &last, 4, RD_I64);
    CHECK(tc_i64(r) == parent);
    tc_expect_field(r, &last, 5, RD_BINARY);
    const uint8_t *got = tc_string(r, &n);
    size_t len;
    const uint8_t *name = span_text(s, s->name_off, s->name_len, &len);
    CHECK(same_text(name, len, got, n));
    if (!root) { /* references: one CHILD_OF SpanRef */
        tc_expect_field(r, &last, 6, RD_LIST);
        CHECK(rd_list(r, &elem) == 1 && elem == RD_STRUCT && !r->bad);
        int ref_last = 0;
        tc_expect_field(r, &ref_last, 1, RD_I32);
        CHECK(tc_i32(r) == 0);
        tc_expect_field(r, &ref_last, 2, RD_I64);
        CHECK(tc_i64(r) == lo);
        tc_expect_field(r, &ref_last, 3, RD_I64);
        CHECK(tc_i64(r) == hi);
        tc_expect_field(r, &ref_last, 4, RD_I64);
        CHECK(tc_i64(r) == parent);
        tc_expect_stop(r);
    }
    tc_expect_field(r, &last, 7, RD_I32);
    CHECK(tc_i32(r) == (s->sampled & TS_SPAN_DEBUG ? 3 : 1)); /* flags: sampled, debug */
    tc_expect_field(r, &last, 8, RD_I64);
    CHECK(tc_i64(r) == (int64_t)(s->start_ns / 1000));
    uint64_t dur = s->end_ns > s->start_ns ? s->end_ns - s->start_ns : 0;
    tc_expect_field(r, &last, 9, RD_I64);
    CHECK(tc_i64(r) == (int64_t)(dur / 1000));
    struct jt_tag tags[TS_SPAN_MAX_ATTRS + 6];
    size_t ntags = jaeger_tags(s, tags);
    tc_expect_field(r, &last, 10, RD_LIST);
    CHECK(rd_list(r, &elem) == ntags && elem == RD_STRUCT && !r->bad);
    for (size_t i = 0; i < ntags; i++)
        tc_expect_tag(r, &tags[i]);
    tc_expect_stop(r);
}

/* Does the resource have an attribute of this key? */
static bool resource_has(const char *key)
{
    const struct ts_resource *r = ts_resource_get();
    for (size_t i = 0; i < r->nattrs; i++)
        if (r->attrs[i].klen == strlen(key) && memcmp(r->attrs[i].key, key, r->attrs[i].klen) == 0)
            return true;
    return false;
}

/* Process: serviceName, then tags led by Jaeger's own (hostname, from
 * host.name, unless a hostname attribute is given; ip, unless an ip
 * attribute is given; client-uuid, jaeger.version) and then the resource
 * attributes but service.name, client-uuid and jaeger.version. */
static void tc_expect_process(struct rd *r)
{
    int last = 0, elem;
    size_t n;
    const uint8_t *p;
    const struct ts_resource *res = ts_resource_get();
    tc_expect_field(r, &last, 1, RD_BINARY);
    p = tc_string(r, &n);
    CHECK(same_cstr(ts_proc.service_name, p, n));
    tc_expect_field(r, &last, 2, RD_LIST);
    uint64_t ntags = rd_list(r, &elem);
    CHECK(!r->bad && elem == RD_STRUCT);
    const char *host;
    size_t host_len;
    resource_host(&host, &host_len);
    struct jt_tag lead[4];
    size_t nlead = 0;
    if (!resource_has("hostname") && resource_has("host.name"))
        lead[nlead++] = (struct jt_tag){"hostname", 8, JT_STRING, host, host_len, 0};
    if (!resource_has("ip"))
        lead[nlead++] = (struct jt_tag){"ip", 2, JT_STRING, res->ip, strlen(res->ip), 0};
    lead[nlead++] = (struct jt_tag){
        "client-uuid", 11, JT_STRING, res->client_uuid, strlen(res->client_uuid), 0};
    lead[nlead++] = (struct jt_tag){"jaeger.version",
                                    14,
                                    JT_STRING,
                                    "traceshim-C-" TS_VERSION,
                                    sizeof "traceshim-C-" TS_VERSION - 1,
                                    0};
    static const char *const left_out[] = {"service.name", "client-uuid", "jaeger.version"};
    size_t kept = 0;
    for (size_t i = 0; i < res->nattrs; i++) {
        bool out = false;
        for (size_t k = 0; k < sizeof left_out / sizeof *left_out; k++)
            out = out || (res->attrs[i].klen == strlen(left_out[k]) &&
                          memcmp(res->attrs[i].key, left_out[k], res->attrs[i].klen) == 0);
        kept += !out;
    }
    CHECK(ntags == nlead + kept);
    for (uint64_t i = 0; i < ntags; i++) {
        if (i < nlead) {
            tc_expect_tag(r, &lead[i]);
            continue;
        }
        /* a resource attribute: key, then a string or a long */
        int tlast = 0, type;
        tc_expect_field(r, &tlast, 1, RD_BINARY);
        tc_string(r, &n);
        tc_expect_field(r, &tlast, 2, RD_I32);
        int32_t vtype = tc_i32(r);
        CHECK(vtype == JT_STRING || vtype == JT_LONG);
        CHECK(rd_field(r, &tlast, &type) == (vtype == JT_STRING ? 3 : 6) && !r->bad);
        CHECK(type == (vtype == JT_STRING ? RD_BINARY : RD_I64));
        if (vtype == JT_STRING)
            tc_string(r, &n);
        else
            tc_i64(r);
        tc_expect_stop(r);
    }
    tc_expect_stop(r);
}

static void check_jaeger_thrift(const uint8_t *msg, size_t len, struct ts_span *const *spans,
                                size_t n)
{
    struct rd r = {msg, msg + len, false};
    int elem;
    /* message header: protocol id, version 1 and type ONEWAY, seqid 0 */
    CHECK(rd_u8(&r) == 0x82 && rd_u8(&r) == 0x81);
    CHECK(rd_varint(&r) == 0 && rd_varint(&r) == 9 && !r.bad);
    CHECK(r.end - r.p >= 9 && memcmp(r.p, "emitBatch", 9) == 0);
    r.p += 9;
    int args_last = 0, batch_last = 0;
    tc_expect_field(&r, &args_last, 1, RD_STRUCT);  /* emitBatch_args.batch */
    tc_expect_field(&r, &batch_last, 1, RD_STRUCT); /* Batch.process */
    tc_expect_process(&r);
    tc_expect_field(&r, &batch_last, 2, RD_LIST); /* Batch.spans */
    CHECK(rd_list(&r, &elem) == n && elem == RD_STRUCT && !r.bad);
    for (size_t i = 0; i < n; i++)
        tc_expect_span(&r, spans[i]);
    tc_expect_field(&r, &batch_last, 3, RD_I64); /* Batch.seqNo */
    CHECK(tc_i64(&r) == ++jaeger_seq);
    tc_expect_stop(&r); /* Batch */
    tc_expect_stop(&r); /* emitBatch_args */
    CHECK(r.p == r.end);
}

/* --------------------------------------------------------- the batching */

typedef void (*check_fn)(const uint8_t *msg, size_t len, struct ts_span *const *spans, size_t n);

/* finish() the batch: appended after what out held, within bound(). */
static void finish_batch(const struct ts_encoder *enc, check_fn check, const struct ts_json_buf *b,
                         struct ts_span *const *members, size_t n, size_t limit)
{
    static const char before[] = "kept";
    size_t bound = enc->bound(b->len, n);
    CHECK(n == 0 || bound <= limit);
    struct ts_json_buf out;
    ts_json_buf_init(&out);
    ts_json_buf_append(&out, before, sizeof before - 1);
    enc->finish(&out, b->data, b->len, n);
    CHECK(!out.failed && out.len >= sizeof before - 1);
    CHECK(memcmp(out.data, before, sizeof before - 1) == 0);
    size_t len = out.len - (sizeof before - 1);
    CHECK(len <= bound && bound - len <= BOUND_SLACK);
    check((const uint8_t *)out.data + sizeof before - 1, len, members, n);
    ts_json_buf_free(&out);
}

/* Append one span, checking that the bytes before it stay as they were. */
static void append_span(const struct ts_encoder *enc, struct ts_json_buf *b,
                        const struct ts_span *s, bool first)
{
    static struct ts_json_buf before;
    ts_json_buf_reset(&before);
    ts_json_buf_append(&before, b->data, b->len);
    CHECK(!before.failed);
    size_t mark = b->len;
    enc->span(b, s, first);
    CHECK(!b->failed && b->len > mark);
    CHECK(mark == 0 || memcmp(b->data, before.data, mark) == 0);
}

/* exporters.c's exp_batch_add over all spans, then the last batch. */
static void run_encoder(const struct ts_encoder *enc, check_fn check, struct ts_span *const *spans,
                        size_t n, size_t limit)
{
    struct ts_json_buf b;
    ts_json_buf_init(&b);
    finish_batch(enc, check, &b, NULL, 0, limit); /* an empty batch is a message too */
    struct ts_span *members[MAX_SPANS];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        size_t mark = b.len;
        append_span(enc, &b, spans[i], k == 0);
        if (enc->bound(b.len, k + 1) <= limit) {
            members[k++] = spans[i];
            continue;
        }
        ts_json_buf_truncate(&b, mark);
        if (k > 0) {
            finish_batch(enc, check, &b, members, k, limit);
            ts_json_buf_reset(&b);
            k = 0;
            append_span(enc, &b, spans[i], true);
            if (enc->bound(b.len, 1) <= limit) {
                members[k++] = spans[i];
                continue;
            }
            ts_json_buf_reset(&b);
        }
        /* too big alone: dropped, as the reporter drops it */
    }
    if (k > 0)
        finish_batch(enc, check, &b, members, k, limit);
    ts_json_buf_free(&b);
}

/* ----------------------------------------------------------------- entry */

/* The JSON checks lean on json_read being strict: prove it on inputs it
 * must refuse, once. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    static const char *const not_json[] = {"[1,]",       "01",      "{\"a\":1}x", "{\"a\" 1}",
                                           "[\"\x01\"]", "\"\\x\"", "[1 2]",      "{,}",
                                           "-",          "\"abc"};
    for (size_t i = 0; i < sizeof not_json / sizeof *not_json; i++)
        CHECK(ts_json_parse(not_json[i], strlen(not_json[i]), NULL) == NULL);
    memset(long_key, 'k', sizeof long_key - 1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cursor c = {data, data + size};
    uint8_t flags = take_u8(&c);
    size_t limit = 64 + (size_t)take_uint(&c, 2);
    size_t n = take_u8(&c) % (MAX_SPANS + 1);
    set_process(&c, flags & 1);
    struct ts_span *spans[MAX_SPANS];
    for (size_t i = 0; i < n; i++)
        spans[i] = build_span(&c, flags);

    run_encoder(&ts_encoder_otlp_json, check_otlp_json, spans, n, limit);
    run_encoder(&ts_encoder_otlp_proto, check_otlp_proto, spans, n, limit);
    run_encoder(&ts_encoder_zipkin_json, check_zipkin_json, spans, n, limit);
    run_encoder(&ts_encoder_jaeger_thrift, check_jaeger_thrift, spans, n, limit);

    for (size_t i = 0; i < n; i++)
        free(spans[i]);
    return 0;
}
