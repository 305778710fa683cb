/* otlp_json.c — OTLP/JSON encoding of spans (see otlp_json.h). */
#include "otlp_json.h"

#include <string.h>

#include "encoder.h"
#include "resource.h"

#ifndef TS_VERSION
#error "TS_VERSION must be defined by the build"
#endif

#define TS_OTLP_SCOPE_NAME "traceshim"

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


void ts_otlp_json_resource(struct ts_json_buf *b)
{
    const struct ts_resource *r = ts_resource_get();
    ts_json_buf_append_cstr(b, "{\"attributes\":[");
    for (size_t i = 0; i < r->nattrs; i++) {
        const struct ts_resource_attr *a = &r->attrs[i];
        if (a->type == TS_ATTR_INT)
            otlp_attr_int(b, i == 0, a->key, a->klen, a->num);
        else
            otlp_attr_str(b, i == 0, a->key, a->klen, a->str, a->slen);
    }
    ts_json_buf_append_cstr(b, "]}");
}

void ts_otlp_json_begin(struct ts_json_buf *b)
{
    ts_json_buf_append_cstr(b, "{\"resourceSpans\":[{\"resource\":");
    ts_otlp_json_resource(b);
    ts_json_buf_append_cstr(b, ",\"scopeSpans\":[{\"scope\":{\"name\":\"" TS_OTLP_SCOPE_NAME
                               "\",\"version\":\"" TS_VERSION "\"},\"spans\":[");
}

void ts_otlp_json_end(struct ts_json_buf *b)
{
    ts_json_buf_append_cstr(b, "]}]}]}");
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
    p = ts_span_bytes(s, s->name_off, s->name_len, &n);
    ts_json_buf_string(b, p, n);
    ts_json_buf_append_cstr(b, ",\"kind\":");
    ts_json_buf_u64(b, s->kind);
    ts_json_buf_append_cstr(b, ",\"startTimeUnixNano\":\"");
    ts_json_buf_u64(b, s->start_ns);
    ts_json_buf_append_cstr(b, "\",\"endTimeUnixNano\":\"");
    ts_json_buf_u64(b, s->end_ns);
    ts_json_buf_append_cstr(b, "\",\"attributes\":[");
    size_t nattrs = ts_span_nattrs(s);
    bool afirst = true;
    for (size_t i = 0; i < nattrs; i++) {
        const struct ts_attr *a = &s->attrs[i];
        if (!a->key)
            continue;
        size_t klen = strlen(a->key);
        switch (a->type) {
        case TS_ATTR_STR:
            p = ts_span_bytes(s, a->off, a->len, &n);
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

/* ------------------------------------------------- the encoder interface */

/* Length of what ts_otlp_json_begin writes for this process, measured once
 * per resource (the resource is rebuilt after fork). */
static size_t otlp_json_prefix_len(void)
{
    static unsigned measured_for; /* resource generation; 0: never */
    static size_t len;
    const struct ts_resource *r = ts_resource_get();
    if (measured_for != r->generation) {
        struct ts_json_buf b;
        ts_json_buf_init(&b);
        ts_otlp_json_begin(&b);
        len = b.failed ? (size_t)1 << 20 : b.len;
        ts_json_buf_free(&b);
        measured_for = r->generation;
    }
    return len;
}

static size_t otlp_json_bound(size_t spans_len, size_t nspans)
{
    (void)nspans;
    return otlp_json_prefix_len() + spans_len + sizeof "]}]}]}";
}

static void otlp_json_finish(struct ts_json_buf *out, const char *spans, size_t spans_len,
                             size_t nspans)
{
    (void)nspans;
    ts_otlp_json_begin(out);
    ts_json_buf_append(out, spans, spans_len);
    ts_otlp_json_end(out);
}

const struct ts_encoder ts_encoder_otlp_json = {
    .name = "otlp-json",
    .content_type = "application/json",
    .span = ts_otlp_json_span,
    .bound = otlp_json_bound,
    .finish = otlp_json_finish,
};
