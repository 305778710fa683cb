/* otlp_json.c — OTLP/JSON encoding of spans (see otlp_json.h). */
#include "otlp_json.h"

#include <string.h>

#include "../preload/config.h"
#include "../preload/hex.h"
#include "../preload/process.h"

#ifndef TS_VERSION
#error "TS_VERSION must be defined by the build"
#endif

#define TS_OTLP_SCOPE_NAME "traceshim"

/* The resource attributes the shim sets itself; an OTEL_RESOURCE_ATTRIBUTES
 * entry with one of these keys is not emitted (no duplicate keys, and the
 * shim's values are the ones that describe this process). */
static const char *const otlp_reserved_keys[] = {
    "service.name",
    "process.pid",
    "process.executable.name",
    "host.name",
    "telemetry.sdk.name",
    "telemetry.sdk.language",
    "telemetry.sdk.version",
};

/* Opens {"key":K,"value":  — the caller writes the value object and "}". */
static void otlp_attr_open(struct ts_json_buf *b, bool first, const char *key, size_t klen)
{
    ts_json_buf_append_cstr(b, first ? "{\"key\":" : ",{\"key\":");
    ts_json_buf_string(b, key, klen);
    ts_json_buf_append_cstr(b, ",\"value\":");
}

static void otlp_attr_str(struct ts_json_buf *b, bool first, const char *key, size_t klen,
                          const char *val, size_t vlen)
{
    otlp_attr_open(b, first, key, klen);
    ts_json_buf_append_cstr(b, "{\"stringValue\":");
    ts_json_buf_string(b, val, vlen);
    ts_json_buf_append_cstr(b, "}}");
}

static void otlp_attr_int(struct ts_json_buf *b, bool first, const char *key, size_t klen,
                          int64_t val)
{
    otlp_attr_open(b, first, key, klen);
    ts_json_buf_append_cstr(b, "{\"intValue\":\"");
    ts_json_buf_i64(b, val);
    ts_json_buf_append_cstr(b, "\"}}");
}

static void otlp_attr_bool(struct ts_json_buf *b, bool first, const char *key, size_t klen,
                           bool val)
{
    otlp_attr_open(b, first, key, klen);
    ts_json_buf_append_cstr(b, val ? "{\"boolValue\":true}}" : "{\"boolValue\":false}}");
}

static bool otlp_is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* Trim spaces/tabs around s[0..*n); returns the new start. */
static const char *otlp_trim(const char *s, size_t *n)
{
    while (*n && otlp_is_ows(s[0])) {
        s++;
        (*n)--;
    }
    while (*n && otlp_is_ows(s[*n - 1]))
        (*n)--;
    return s;
}

/* Percent-decode src[0..n) into dst (which has room for n bytes: decoding
 * never lengthens). Returns the decoded length, or -1 for a '%' that is not
 * followed by two hex digits (the entry is malformed). */
static long otlp_pct_decode(const char *src, size_t n, char *dst)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (src[i] != '%') {
            dst[o++] = src[i];
            continue;
        }
        if (n - i < 3)
            return -1;
        int hi = ts_hex_digit((unsigned char)src[i + 1]);
        int lo = ts_hex_digit((unsigned char)src[i + 2]);
        if (hi < 0 || lo < 0)
            return -1;
        dst[o++] = (char)(hi << 4 | lo);
        i += 2;
    }
    return (long)o;
}

/* A parsed OTEL_RESOURCE_ATTRIBUTES entry: key and decoded value, as
 * offsets into a scratch buffer. */
struct otlp_res_entry {
    uint16_t koff, klen, voff, vlen;
};

#define OTLP_RES_RAW sizeof(((struct ts_config *)0)->resource_attrs)
/* At most one entry per two bytes of input (the shortest is "k="). */
#define OTLP_RES_MAX (OTLP_RES_RAW / 2 + 1)

/* Parse "k1=v1,k2=v2" (W3C baggage style: values percent-encoded, optional
 * whitespace around keys and values; ";properties" are not part of the
 * OTel format and stay in the value). Malformed entries — no '=', empty
 * key, key with inner whitespace, broken %XX — are skipped. rawlen is below
 * OTLP_RES_RAW, so every offset fits 16 bits. Returns the number of
 * entries. */
static size_t otlp_res_parse(const char *raw, size_t rawlen, char *scratch,
                             struct otlp_res_entry *ents)
{
    size_t nents = 0, used = 0, pos = 0;
    while (pos <= rawlen) {
        const char *ent = raw + pos;
        const char *comma = memchr(ent, ',', rawlen - pos);
        size_t elen = comma ? (size_t)(comma - ent) : rawlen - pos;
        pos += elen + 1;
        const char *eq = memchr(ent, '=', elen);
        if (!eq)
            continue;
        size_t klen = (size_t)(eq - ent);
        const char *key = otlp_trim(ent, &klen);
        size_t vlen = elen - (size_t)(eq - ent) - 1;
        const char *val = otlp_trim(eq + 1, &vlen);
        bool key_ok = klen > 0;
        for (size_t i = 0; i < klen && key_ok; i++)
            key_ok = !otlp_is_ows(key[i]);
        if (!key_ok)
            continue;
        long dl = otlp_pct_decode(val, vlen, scratch + used + klen);
        if (dl < 0)
            continue;
        memcpy(scratch + used, key, klen);
        ents[nents].koff = (uint16_t)used;
        ents[nents].klen = (uint16_t)klen;
        ents[nents].voff = (uint16_t)(used + klen);
        ents[nents].vlen = (uint16_t)dl;
        used += klen + (size_t)dl;
        nents++;
    }
    return nents;
}

static bool otlp_key_eq(const char *a, size_t alen, const char *b, size_t blen)
{
    return alen == blen && memcmp(a, b, alen) == 0;
}

/* The entries of OTEL_RESOURCE_ATTRIBUTES, after the shim's own. A key
 * given twice keeps its last value (as the OTel SDKs' maps do). */
static void otlp_resource_extra(struct ts_json_buf *b)
{
    const char *raw = ts_cfg.resource_attrs;
    size_t rawlen = strnlen(raw, OTLP_RES_RAW - 1);
    if (rawlen == 0)
        return;
    char scratch[OTLP_RES_RAW];
    struct otlp_res_entry ents[OTLP_RES_MAX];
    size_t n = otlp_res_parse(raw, rawlen, scratch, ents);
    for (size_t i = 0; i < n; i++) {
        const char *key = scratch + ents[i].koff;
        size_t klen = ents[i].klen;
        bool skip = false;
        for (size_t r = 0; r < sizeof otlp_reserved_keys / sizeof *otlp_reserved_keys && !skip; r++)
            skip = otlp_key_eq(key, klen, otlp_reserved_keys[r], strlen(otlp_reserved_keys[r]));
        for (size_t j = i + 1; j < n && !skip; j++)
            skip = otlp_key_eq(key, klen, scratch + ents[j].koff, ents[j].klen);
        if (!skip)
            otlp_attr_str(b, false, key, klen, scratch + ents[i].voff, ents[i].vlen);
    }
}

/* A NUL-terminated field of a fixed-size array, never read past its end. */
#define OTLP_FIELD(arr) (arr), strnlen((arr), sizeof(arr))
#define OTLP_LIT(s) (s), (sizeof(s) - 1)

void ts_otlp_json_begin(struct ts_json_buf *b)
{
    ts_json_buf_append_cstr(b, "{\"resourceSpans\":[{\"resource\":{\"attributes\":[");
    otlp_attr_str(b, true, OTLP_LIT("service.name"), OTLP_FIELD(ts_proc.service_name));
    otlp_attr_int(b, false, OTLP_LIT("process.pid"), (int64_t)ts_proc.pid);
    otlp_attr_str(b, false, OTLP_LIT("process.executable.name"), OTLP_FIELD(ts_proc.exe_name));
    otlp_attr_str(b, false, OTLP_LIT("host.name"), OTLP_FIELD(ts_proc.host_name));
    otlp_attr_str(b, false, OTLP_LIT("telemetry.sdk.name"), OTLP_LIT("traceshim"));
    otlp_attr_str(b, false, OTLP_LIT("telemetry.sdk.language"), OTLP_LIT("c"));
    otlp_attr_str(b, false, OTLP_LIT("telemetry.sdk.version"), OTLP_LIT(TS_VERSION));
    otlp_resource_extra(b);
    ts_json_buf_append_cstr(b, "]},\"scopeSpans\":[{\"scope\":{\"name\":\"" TS_OTLP_SCOPE_NAME
                               "\",\"version\":\"" TS_VERSION "\"},\"spans\":[");
}

void ts_otlp_json_end(struct ts_json_buf *b)
{
    ts_json_buf_append_cstr(b, "]}]}]}");
}

/* A string stored in the span's buffer, clamped to the buffer so that a
 * damaged record can never make the encoder read outside the span. */
static void otlp_span_bytes(const struct ts_span *s, uint16_t off, uint16_t len, const char **p,
                            size_t *n)
{
    size_t o = off < TS_SPAN_STRBUF ? off : TS_SPAN_STRBUF;
    size_t l = len < TS_SPAN_STRBUF - o ? len : TS_SPAN_STRBUF - o;
    *p = s->str + o;
    *n = l;
}

void ts_otlp_json_span(struct ts_json_buf *b, const struct ts_span *s, bool first)
{
    const char *p;
    size_t n;
    ts_json_buf_append_cstr(b, first ? "{\"traceId\":\"" : ",{\"traceId\":\"");
    ts_json_buf_hex(b, s->trace_id, TS_TRACE_ID_LEN);
    ts_json_buf_append_cstr(b, "\",\"spanId\":\"");
    ts_json_buf_hex(b, s->span_id, TS_SPAN_ID_LEN);
    if (!ts_id_is_zero(s->parent_id, TS_SPAN_ID_LEN)) {
        ts_json_buf_append_cstr(b, "\",\"parentSpanId\":\"");
        ts_json_buf_hex(b, s->parent_id, TS_SPAN_ID_LEN);
    }
    ts_json_buf_append_cstr(b, "\",\"name\":");
    otlp_span_bytes(s, s->name_off, s->name_len, &p, &n);
    ts_json_buf_string(b, p, n);
    ts_json_buf_append_cstr(b, ",\"kind\":");
    ts_json_buf_u64(b, s->kind);
    ts_json_buf_append_cstr(b, ",\"startTimeUnixNano\":\"");
    ts_json_buf_u64(b, s->start_ns);
    ts_json_buf_append_cstr(b, "\",\"endTimeUnixNano\":\"");
    ts_json_buf_u64(b, s->end_ns);
    ts_json_buf_append_cstr(b, "\",\"attributes\":[");
    size_t nattrs = s->nattrs < TS_SPAN_MAX_ATTRS ? s->nattrs : TS_SPAN_MAX_ATTRS;
    bool afirst = true;
    for (size_t i = 0; i < nattrs; i++) {
        const struct ts_attr *a = &s->attrs[i];
        if (!a->key)
            continue;
        size_t klen = strlen(a->key);
        switch (a->type) {
        case TS_ATTR_STR:
            otlp_span_bytes(s, a->off, a->len, &p, &n);
            otlp_attr_str(b, afirst, a->key, klen, p, n);
            break;
        case TS_ATTR_INT:
            otlp_attr_int(b, afirst, a->key, klen, a->num);
            break;
        case TS_ATTR_BOOL:
            otlp_attr_bool(b, afirst, a->key, klen, a->num != 0);
            break;
        default:
            continue; /* unknown type: leave it out rather than guess */
        }
        afirst = false;
    }
    ts_json_buf_append_cstr(b, "],\"status\":{\"code\":");
    ts_json_buf_u64(b, s->status);
    ts_json_buf_append_cstr(b, "}}");
}

bool ts_otlp_json_encode(struct ts_json_buf *out, const struct ts_span *spans, size_t n)
{
    ts_otlp_json_begin(out);
    for (size_t i = 0; i < n; i++)
        ts_otlp_json_span(out, &spans[i], i == 0);
    ts_otlp_json_end(out);
    return !out->failed;
}
