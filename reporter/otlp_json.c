/* otlp_json.c — the OTLP/JSON encoder (see otlp_json.h). */
#include "otlp_json.h"

#include <string.h>

#include "../preload/config.h"
#include "../preload/process.h"

static void attr_key(struct ts_json_buf *b, bool *first, const char *key, size_t key_len)
{
    ts_json_buf_cstr(b, *first ? "{\"key\":" : ",{\"key\":");
    *first = false;
    ts_json_buf_str(b, key, key_len);
    ts_json_buf_cstr(b, ",\"value\":");
}

static void attr_string(struct ts_json_buf *b, bool *first, const char *key, const char *v,
                        size_t len)
{
    attr_key(b, first, key, strlen(key));
    ts_json_buf_cstr(b, "{\"stringValue\":");
    ts_json_buf_str(b, v, len);
    ts_json_buf_cstr(b, "}}");
}

static void attr_int(struct ts_json_buf *b, bool *first, const char *key, int64_t v)
{
    attr_key(b, first, key, strlen(key));
    ts_json_buf_cstr(b, "{\"intValue\":\"");
    ts_json_buf_i64(b, v);
    ts_json_buf_cstr(b, "\"}}");
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decode and trim src[0..n) into dst (cap bytes); false when a
 * %XX is broken or the result does not fit. */
static bool decode_value(const char *src, size_t n, char *dst, size_t cap, size_t *out_len)
{
    while (n && (*src == ' ' || *src == '\t'))
        src++, n--;
    while (n && (src[n - 1] == ' ' || src[n - 1] == '\t'))
        n--;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char c = src[i];
        if (c == '%') {
            if (i + 2 >= n)
                return false;
            int hi = hex_digit(src[i + 1]), lo = hex_digit(src[i + 2]);
            if (hi < 0 || lo < 0)
                return false;
            c = (char)(hi << 4 | lo);
            i += 2;
        }
        if (k >= cap)
            return false;
        dst[k++] = c;
    }
    *out_len = k;
    return true;
}

/* Keys the shim sets itself: an OTEL_RESOURCE_ATTRIBUTES entry does not
 * add a second copy. */
static bool reserved_key(const char *k, size_t n)
{
    static const char *const keys[] = {"service.name",        "process.pid",
                                       "process.executable.name", "host.name",
                                       "telemetry.sdk.name",  "telemetry.sdk.language",
                                       "telemetry.sdk.version"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        if (strlen(keys[i]) == n && memcmp(keys[i], k, n) == 0)
            return true;
    return false;
}

/* OTEL_RESOURCE_ATTRIBUTES: "k1=v1,k2=v2", values percent-encoded;
 * malformed entries are skipped. */
static void resource_extra(struct ts_json_buf *b, bool *first, const char *attrs)
{
    const char *p = attrs;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        if (eq) {
            char key[256], val[512];
            size_t klen, vlen;
            if (decode_value(p, (size_t)(eq - p), key, sizeof key, &klen) && klen &&
                decode_value(eq + 1, len - (size_t)(eq + 1 - p), val, sizeof val, &vlen) &&
                !reserved_key(key, klen)) {
                attr_key(b, first, key, klen);
                ts_json_buf_cstr(b, "{\"stringValue\":");
                ts_json_buf_str(b, val, vlen);
                ts_json_buf_cstr(b, "}}");
            }
        }
        if (!end)
            break;
        p = end + 1;
    }
}

static void resource(struct ts_json_buf *b)
{
    bool first = true;
    ts_json_buf_cstr(b, "{\"attributes\":[");
    attr_string(b, &first, "service.name", ts_proc.service_name, strlen(ts_proc.service_name));
    attr_int(b, &first, "process.pid", ts_proc.pid);
    attr_string(b, &first, "process.executable.name", ts_proc.exe_name,
                strlen(ts_proc.exe_name));
    attr_string(b, &first, "host.name", ts_proc.host_name, strlen(ts_proc.host_name));
    attr_string(b, &first, "telemetry.sdk.name", "traceshim", 9);
    attr_string(b, &first, "telemetry.sdk.language", "c", 1);
    attr_string(b, &first, "telemetry.sdk.version", TS_VERSION, strlen(TS_VERSION));
    resource_extra(b, &first, ts_cfg.resource_attrs);
    ts_json_buf_cstr(b, "]}");
}

static void span(struct ts_json_buf *b, const struct ts_span *s)
{
    ts_json_buf_cstr(b, "{\"traceId\":\"");
    ts_json_buf_hex(b, s->trace_id, TS_TRACE_ID_LEN);
    ts_json_buf_cstr(b, "\",\"spanId\":\"");
    ts_json_buf_hex(b, s->span_id, TS_SPAN_ID_LEN);
    if (!ts_id_is_zero(s->parent_id, TS_SPAN_ID_LEN)) {
        ts_json_buf_cstr(b, "\",\"parentSpanId\":\"");
        ts_json_buf_hex(b, s->parent_id, TS_SPAN_ID_LEN);
    }
    ts_json_buf_cstr(b, "\",\"name\":");
    ts_json_buf_str(b, ts_span_name(s), s->name_len);
    ts_json_buf_cstr(b, ",\"kind\":");
    ts_json_buf_u64(b, s->kind);
    ts_json_buf_cstr(b, ",\"startTimeUnixNano\":\"");
    ts_json_buf_u64(b, s->start_ns);
    ts_json_buf_cstr(b, "\",\"endTimeUnixNano\":\"");
    ts_json_buf_u64(b, s->end_ns);
    ts_json_buf_cstr(b, "\",\"attributes\":[");
    bool first = true;
    for (unsigned i = 0; i < s->nattrs; i++) {
        const struct ts_attr *a = &s->attrs[i];
        if (a->type == TS_ATTR_STR) {
            attr_string(b, &first, a->key, ts_span_attr_sval(s, a), a->len);
        } else if (a->type == TS_ATTR_INT) {
            attr_int(b, &first, a->key, a->num);
        } else {
            attr_key(b, &first, a->key, strlen(a->key));
            ts_json_buf_cstr(b, a->num ? "{\"boolValue\":true}}" : "{\"boolValue\":false}}");
        }
    }
    ts_json_buf_cstr(b, "],\"status\":{\"code\":");
    ts_json_buf_u64(b, s->status);
    ts_json_buf_cstr(b, "}}");
}

void ts_otlp_json_encode(struct ts_json_buf *out, const struct ts_span *spans, size_t n)
{
    ts_json_buf_cstr(out, "{\"resourceSpans\":[{\"resource\":");
    resource(out);
    ts_json_buf_cstr(out, ",\"scopeSpans\":[{\"scope\":{\"name\":\"traceshim\",\"version\":\"" TS_VERSION
                          "\"},\"spans\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            ts_json_buf_raw(out, ",", 1);
        span(out, &spans[i]);
    }
    ts_json_buf_cstr(out, "]}]}]}");
}
