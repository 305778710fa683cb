/* jaeger_thrift.c — Jaeger agent messages: Agent.emitBatch(Batch) in the
 * thrift compact protocol (see jaeger_thrift.h). Field ids and types are
 * those of jaeger-idl's jaeger.thrift and agent.thrift. */
#include "jaeger_thrift.h"

#include <string.h>

#include "resource.h"
#include "thrift_compact.h"

#ifndef TS_VERSION
#error "TS_VERSION must be defined by the build"
#endif

#define JT_METHOD "emitBatch"
/* What the message header takes: protocol id, version/type, seqid 0 (one
 * byte), the name's length (one byte) and the name. */
#define JT_HEADER_LEN (2 + 1 + 1 + sizeof JT_METHOD - 1)

/* The values of jaeger.thrift's enum TagType { STRING, DOUBLE, BOOL, LONG,
 * BINARY } that the shim uses. */
enum jt_tag_type { JT_TAG_STRING = 0, JT_TAG_BOOL = 2, JT_TAG_LONG = 3 };

/* jaeger.thrift's enum SpanRefType. */
#define JT_REF_CHILD_OF 0

/* Span.flags: 1 = sampled (the reporter only sees sampled spans). */
#define JT_FLAG_SAMPLED 1

/* ------------------------------------------------------------------ tags */

/* Opens a Tag struct with its key and type; the caller writes the value
 * field and closes it. */
static void jt_tag_begin(struct ts_tc_writer *w, const char *key, size_t klen,
                         enum jt_tag_type type)
{
    ts_tc_struct_begin(w);
    ts_tc_field_string(w, 1, key, klen); /* key */
    ts_tc_field_i32(w, 2, type);         /* vType */
}

static void jt_tag_str(struct ts_tc_writer *w, const char *key, size_t klen, const char *val,
                       size_t vlen)
{
    jt_tag_begin(w, key, klen, JT_TAG_STRING);
    ts_tc_field_string(w, 3, val, vlen); /* vStr */
    ts_tc_struct_end(w);
}

static void jt_tag_bool(struct ts_tc_writer *w, const char *key, size_t klen, bool val)
{
    jt_tag_begin(w, key, klen, JT_TAG_BOOL);
    ts_tc_field_bool(w, 5, val); /* vBool */
    ts_tc_struct_end(w);
}

static void jt_tag_long(struct ts_tc_writer *w, const char *key, size_t klen, int64_t val)
{
    jt_tag_begin(w, key, klen, JT_TAG_LONG);
    ts_tc_field_i64(w, 6, val); /* vLong */
    ts_tc_struct_end(w);
}

static void jt_tag_cstr(struct ts_tc_writer *w, const char *key, const char *val)
{
    jt_tag_str(w, key, strlen(key), val, strlen(val));
}

/* --------------------------------------------------------------- process */

/* The encoded Process struct of this process (fields and stop), rebuilt
 * when the resource is (after fork), and the batch counter that goes with
 * it: the agent follows seqNo per client, and a new resource is a new
 * client-uuid. Only the reporter calls the encoder, so no lock. */
static struct ts_json_buf jt_process_buf;
static unsigned jt_process_gen; /* resource generation encoded; 0: none */
static int64_t jt_seq_no;

/* True when resource attribute a has this key. */
static bool jt_res_key_is(const struct ts_resource_attr *a, const char *key)
{
    size_t n = strlen(key);
    return a->klen == n && memcmp(a->key, key, n) == 0;
}

/* Process.tags: Jaeger's own process tags, then the resource attributes
 * (service.name is the serviceName already). Returns how many it wrote. */
static uint32_t jt_process_tags(struct ts_tc_writer *w, const struct ts_resource *r)
{
    uint32_t n = 0;
    for (size_t i = 0; i < r->nattrs; i++) {
        const struct ts_resource_attr *a = &r->attrs[i];
        if (jt_res_key_is(a, "host.name") && a->type == TS_ATTR_STR) {
            jt_tag_str(w, "hostname", sizeof "hostname" - 1, a->str, a->slen);
            n++;
        }
    }
    jt_tag_cstr(w, "ip", r->ip);
    jt_tag_cstr(w, "client-uuid", r->client_uuid);
    jt_tag_cstr(w, "jaeger.version", "traceshim-C-" TS_VERSION);
    n += 3;
    for (size_t i = 0; i < r->nattrs; i++) {
        const struct ts_resource_attr *a = &r->attrs[i];
        if (jt_res_key_is(a, "service.name"))
            continue;
        if (a->type == TS_ATTR_INT)
            jt_tag_long(w, a->key, a->klen, a->num);
        else
            jt_tag_str(w, a->key, a->klen, a->str, a->slen);
        n++;
    }
    return n;
}

/* Encode the Process struct of resource r into out. */
static void jt_process_encode(struct ts_json_buf *out, const struct ts_resource *r)
{
    /* The tags go to a side buffer first: the list header before them
     * needs their number. */
    struct ts_json_buf tags;
    ts_json_buf_init(&tags);
    struct ts_tc_writer tw;
    ts_tc_init(&tw, &tags);
    uint32_t ntags = jt_process_tags(&tw, r);

    struct ts_tc_writer w;
    ts_tc_init(&w, out);
    ts_tc_struct_begin(&w);
    ts_tc_field_cstr(&w, 1, r->service_name);     /* serviceName */
    ts_tc_field_list(&w, 2, TS_TC_STRUCT, ntags); /* tags */
    ts_json_buf_append(out, tags.data, tags.len);
    if (tags.failed)
        out->failed = true;
    ts_tc_struct_end(&w);
    ts_json_buf_free(&tags);
}

/* The cached Process bytes for the current resource, or NULL when they
 * could not be built (out of memory). */
static const struct ts_json_buf *jt_process(void)
{
    const struct ts_resource *r = ts_resource_get();
    if (jt_process_gen != r->generation || jt_process_buf.failed) {
        ts_json_buf_reset(&jt_process_buf);
        jt_process_encode(&jt_process_buf, r);
        jt_process_gen = r->generation;
        jt_seq_no = 0;
    }
    return jt_process_buf.failed ? NULL : &jt_process_buf;
}

/* ----------------------------------------------------------------- spans */

/* Jaeger's span.kind value for a kind; NULL: no tag (unspecified, or a
 * value this version does not know). */
static const char *jt_kind_name(uint8_t kind)
{
    switch (kind) {
    case TS_KIND_INTERNAL:
        return "internal";
    case TS_KIND_SERVER:
        return "server";
    case TS_KIND_CLIENT:
        return "client";
    default:
        return NULL;
    }
}

/* Span.tags of s: span.kind, the attributes, the status. With w NULL only
 * counts them, so that the list header can come first; one routine for
 * both keeps the count and the tags in step. Returns the number. */
static uint32_t jt_span_tags(struct ts_tc_writer *w, const struct ts_span *s)
{
    uint32_t n = 0;
    const char *kind = jt_kind_name(s->kind);
    if (kind) {
        if (w)
            jt_tag_cstr(w, "span.kind", kind);
        n++;
    }
    size_t nattrs = ts_span_nattrs(s);
    for (size_t i = 0; i < nattrs; i++) {
        const struct ts_attr *a = &s->attrs[i];
        if (!a->key || a->type > TS_ATTR_BOOL)
            continue; /* damaged or unknown: leave it out rather than guess */
        n++;
        if (!w)
            continue;
        size_t klen = strlen(a->key);
        if (a->type == TS_ATTR_STR) {
            size_t len;
            const char *p = ts_span_bytes(s, a->off, a->len, &len);
            jt_tag_str(w, a->key, klen, p, len);
        } else if (a->type == TS_ATTR_INT) {
            jt_tag_long(w, a->key, klen, a->num);
        } else {
            jt_tag_bool(w, a->key, klen, a->num != 0);
        }
    }
    if (s->status == TS_STATUS_OK || s->status == TS_STATUS_ERROR) {
        bool err = s->status == TS_STATUS_ERROR;
        if (w)
            jt_tag_cstr(w, "otel.status_code", err ? "ERROR" : "OK");
        n++;
        if (err) {
            /* Jaeger's UI marks a span failed by this tag. */
            if (w)
                jt_tag_bool(w, "error", sizeof "error" - 1, true);
            n++;
        }
    }
    return n;
}

/* 8 bytes big-endian as the i64 Jaeger carries them in. */
static int64_t jt_id64(const uint8_t *p)
{
    return ts_tc_u64_bits(ts_id_u64(p));
}

void ts_jaeger_thrift_span(struct ts_json_buf *spans, const struct ts_span *s, bool first)
{
    (void)first; /* list elements have no separator */
    int64_t trace_high = jt_id64(s->trace_id);
    int64_t trace_low = jt_id64(s->trace_id + 8);
    bool has_parent = !ts_id_is_zero(s->parent_id, TS_SPAN_ID_LEN);
    struct ts_tc_writer w;
    ts_tc_init(&w, spans);
    ts_tc_struct_begin(&w);
    ts_tc_field_i64(&w, 1, trace_low);                              /* traceIdLow */
    ts_tc_field_i64(&w, 2, trace_high);                             /* traceIdHigh */
    ts_tc_field_i64(&w, 3, jt_id64(s->span_id));                    /* spanId */
    ts_tc_field_i64(&w, 4, has_parent ? jt_id64(s->parent_id) : 0); /* parentSpanId */
    size_t name_len;
    const char *name = ts_span_bytes(s, s->name_off, s->name_len, &name_len);
    ts_tc_field_string(&w, 5, name, name_len); /* operationName */
    if (has_parent) {
        /* references: parentSpanId alone is the legacy form; newer Jaeger
         * reads the parent from here. */
        ts_tc_field_list(&w, 6, TS_TC_STRUCT, 1);
        ts_tc_struct_begin(&w);
        ts_tc_field_i32(&w, 1, JT_REF_CHILD_OF); /* refType */
        ts_tc_field_i64(&w, 2, trace_low);
        ts_tc_field_i64(&w, 3, trace_high);
        ts_tc_field_i64(&w, 4, jt_id64(s->parent_id)); /* spanId */
        ts_tc_struct_end(&w);
    }
    ts_tc_field_i32(&w, 7, JT_FLAG_SAMPLED); /* flags */
    uint64_t dur_ns = s->end_ns > s->start_ns ? s->end_ns - s->start_ns : 0;
    ts_tc_field_i64(&w, 8, (int64_t)(s->start_ns / 1000));         /* startTime, µs */
    ts_tc_field_i64(&w, 9, (int64_t)(dur_ns / 1000));              /* duration, µs */
    ts_tc_field_list(&w, 10, TS_TC_STRUCT, jt_span_tags(NULL, s)); /* tags */
    jt_span_tags(&w, s);
    ts_tc_struct_end(&w);
}

/* ----------------------------------------------------------------- batch */

size_t ts_jaeger_thrift_bound(size_t spans_len, size_t nspans)
{
    const struct ts_json_buf *proc = jt_process();
    if (!proc)
        return (size_t)1 << 20; /* cannot build a message: never fits */
    size_t n = JT_HEADER_LEN;
    n += 1;                                             /* args.batch field header */
    n += 1 + proc->len;                                 /* Batch.process */
    n += 1 + ts_tc_list_header_len(nspans) + spans_len; /* Batch.spans */
    n += 1 + TS_VARINT_MAX;                             /* Batch.seqNo, at its longest */
    n += 2;                                             /* stops: Batch, emitBatch_args */
    return n;
}

/* The bytes before Batch.spans' elements, built anew for each batch: the
 * Process is copied from its cache, the list header counts the spans.
 * Reporter thread only. */
static struct ts_json_buf jt_head;

static size_t jt_head_max(void)
{
    const struct ts_json_buf *proc = jt_process();
    /* what bound() counts before the span bytes */
    return JT_HEADER_LEN + 1 + 1 + (proc ? proc->len : 0) + 1 + ts_tc_list_header_len(UINT32_MAX);
}

/* emitBatch_args { batch: Batch { process, spans: [...], seqNo } }: the
 * head goes before the spans, seqNo and the two stops after them. */
static size_t jt_seal(struct ts_json_buf *batch, size_t room_start, size_t spans_off,
                      size_t nspans)
{
    const struct ts_json_buf *proc = jt_process();
    if (!proc || nspans > INT32_MAX) {
        batch->failed = true;
        return SIZE_MAX;
    }
    struct ts_tc_writer w;
    ts_json_buf_reset(&jt_head);
    ts_tc_init(&w, &jt_head);
    ts_tc_message_begin(&w, JT_METHOD, TS_TC_ONEWAY, 0);
    ts_tc_struct_begin(&w);                  /* emitBatch_args */
    ts_tc_field_struct(&w, 1);               /* batch */
    ts_tc_field_header(&w, TS_TC_STRUCT, 1); /* Batch.process: bytes ready-made */
    ts_json_buf_append(&jt_head, proc->data, proc->len);
    ts_tc_field_list(&w, 2, TS_TC_STRUCT, (uint32_t)nspans); /* Batch.spans */
    if (jt_head.failed) {
        batch->failed = true;
        return SIZE_MAX;
    }
    size_t msg = ts_json_buf_put_before(batch, room_start, spans_off, jt_head.data, jt_head.len);
    /* the same writer goes on after the spans: it knows the open structs */
    w.buf = batch;
    /* seqNo (newer jaeger-idl): lets the agent count lost batches; older
     * agents skip the unknown field. */
    ts_tc_field_i64(&w, 3, ++jt_seq_no);
    ts_tc_struct_end(&w); /* Batch */
    ts_tc_struct_end(&w); /* emitBatch_args */
    return batch->failed ? SIZE_MAX : msg;
}

void ts_jaeger_thrift_finish(struct ts_json_buf *out, const char *spans, size_t spans_len,
                             size_t nspans)
{
    ts_encoder_finish_by_seal(jt_head_max, jt_seal, out, spans, spans_len, nspans);
}

const struct ts_encoder ts_encoder_jaeger_thrift = {
    .name = "jaeger-thrift",
    .content_type = NULL,
    .span = ts_jaeger_thrift_span,
    .bound = ts_jaeger_thrift_bound,
    .head_max = jt_head_max,
    .seal = jt_seal,
    .finish = ts_jaeger_thrift_finish,
};
