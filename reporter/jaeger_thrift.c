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

/* Span.flags: 1 = sampled (the reporter only sees sampled spans), 2 =
 * debug (B3's debug flag: the agent and collector keep the span whatever
 * they sample). */
#define JT_FLAG_SAMPLED 1
#define JT_FLAG_DEBUG 2

/* ------------------------------------------------------------------ tags */

/* A Tag struct is written in one piece: its field ids are known here, so
 * the field headers are constants (thrift_compact.h's cursor forms). */

/* A tag key's field as a Tag starts: header, length, the key. Kept per
 * key (json_buf.h); a key that is not valid UTF-8 as it is has none. */
static size_t jt_key_frag(char *text, const char *key, size_t klen, size_t *at, uint32_t *info)
{
    (void)info;
    if (klen + TS_TC_FIELD_HEADER_MAX + TS_VARINT_MAX > TS_KEY_FRAG_MAX ||
        ts_utf8_clean_len(key, klen) != klen)
        return 0;
    char *o = ts_tc_put_field_header(text, TS_TC_BINARY, 1, 0); /* key */
    o = ts_put_varint(o, klen);
    *at = (size_t)(o - text);
    return (size_t)(ts_put(o, key, klen) - text);
}

static struct ts_key_frags jt_keys; /* encoders run under the export lock */
static const ts_key_frag_fn jt_key_make = jt_key_frag;

/* The most bytes of a Tag besides its key and string value: three field
 * headers, two lengths or numbers, the stop. */
#define JT_TAG_MAX (3 * TS_TC_FIELD_HEADER_MAX + 2 * TS_VARINT_MAX + 1)

/* One Tag: key (its entry k, or key[0..klen) when k is NULL), vType, the
 * value field for the type (vStr str, vBool num != 0, vLong num), stop.
 * Inline in its callers: a call with eight arguments (and the registers it
 * saved) was about 30 of a tag's 100 instructions, a dozen tags a span. */
static inline __attribute__((always_inline)) void
jt_tag(struct ts_json_buf *b, const struct ts_key_frag *k, const char *key, size_t klen,
       enum jt_tag_type type, const char *str, size_t slen, int64_t num)
{
    size_t kmax = TS_KEY_FRAG_MAX, kclean = 0, vclean = 0;
    if (!k) {
        kclean = ts_utf8_clean_len(key, klen);
        kmax = kclean;
    }
    if (type == JT_TAG_STRING)
        vclean = ts_utf8_clean_len(str, slen);
    char *o = ts_json_buf_room(b, JT_TAG_MAX + kmax + vclean);
    if (!o)
        return;
    if (k) {
        /* the whole entry, a fixed size the compiler turns into a few
         * moves; what is past the key's end is overwritten next */
        memcpy(o, k->text, TS_KEY_FRAG_MAX);
        o += k->len;
    } else {
        o = ts_tc_put_field_header(o, TS_TC_BINARY, 1, 0); /* key */
        o = ts_tc_put_string(o, key, klen, kclean);
    }
    o = ts_tc_put_field_header(o, TS_TC_I32, 2, 1); /* vType */
    o = ts_put_varint(o, ts_tc_zigzag32(type));
    switch (type) {
    case JT_TAG_STRING:
        o = ts_tc_put_field_header(o, TS_TC_BINARY, 3, 2); /* vStr */
        o = ts_tc_put_string(o, str, slen, vclean);
        break;
    case JT_TAG_BOOL: /* vBool: the type nibble is the value */
        o = ts_tc_put_field_header(o, num ? TS_TC_BOOL_TRUE : TS_TC_BOOL_FALSE, 5, 2);
        break;
    default:
        o = ts_tc_put_field_header(o, TS_TC_I64, 6, 2); /* vLong */
        o = ts_put_varint(o, ts_tc_zigzag64(num));
        break;
    }
    *o++ = 0; /* STOP */
    ts_json_buf_commit(b, o);
}

/* A tag of a C-string key, from the key table when it has an entry. */
static void jt_tag_ckey(struct ts_json_buf *b, const char *key, enum jt_tag_type type,
                        const char *str, size_t slen, int64_t num)
{
    const struct ts_key_frag *k = ts_key_frag_get(&jt_keys, key, jt_key_frag);
    jt_tag(b, k, key, k ? k->klen : strlen(key), type, str, slen, num);
}

static void jt_tag_cstr(struct ts_json_buf *b, const char *key, const char *val)
{
    jt_tag_ckey(b, key, JT_TAG_STRING, val, strlen(val), 0);
}

/* --------------------------------------------------------------- process */

/* The encoded Process struct of this process (fields and stop), rebuilt
 * when the resource is (after fork), and the batch counter that goes with
 * it: the agent follows seqNo per client, and a new resource is a new
 * client-uuid. Encoders run under the export lock, so no lock of its own. */
static struct ts_json_buf jt_process_buf;
static unsigned jt_process_gen; /* resource generation encoded; 0: none */
static int64_t jt_seq_no;

/* True when resource attribute a has this key. */
static bool jt_res_key_is(const struct ts_resource_attr *a, const char *key)
{
    size_t n = strlen(key);
    return a->klen == n && memcmp(a->key, key, n) == 0;
}

/* True when the resource has an attribute of this key. */
static bool jt_res_has(const struct ts_resource *r, const char *key)
{
    for (size_t i = 0; i < r->nattrs; i++)
        if (jt_res_key_is(&r->attrs[i], key))
            return true;
    return false;
}

/* Process.tags: Jaeger's own process tags, then the resource attributes
 * but service.name (the serviceName already), client-uuid and
 * jaeger.version (the shim's own tags: the agent tells its clients apart
 * by client-uuid, and processes given one in JAEGER_TAGS would all be one
 * client to it). A hostname or ip attribute
 * (JAEGER_TAGS, as the Jaeger clients take it) is the tag of that key,
 * in place of the detected one, as jaeger-client-java's tracer tags
 * replace its: not a second tag of the same key. Returns how many it
 * wrote. */
static uint32_t jt_process_tags(struct ts_json_buf *b, const struct ts_resource *r)
{
    uint32_t n = 0;
    bool hostname_given = jt_res_has(r, "hostname");
    for (size_t i = 0; i < r->nattrs && !hostname_given; i++) {
        const struct ts_resource_attr *a = &r->attrs[i];
        if (jt_res_key_is(a, "host.name") && a->type == TS_ATTR_STR) {
            jt_tag_ckey(b, "hostname", JT_TAG_STRING, a->str, a->slen, 0);
            n++;
        }
    }
    if (!jt_res_has(r, "ip")) {
        jt_tag_cstr(b, "ip", ts_resource_host_ip());
        n++;
    }
    jt_tag_cstr(b, "client-uuid", r->client_uuid);
    jt_tag_cstr(b, "jaeger.version", "traceshim-C-" TS_VERSION);
    n += 2;
    for (size_t i = 0; i < r->nattrs; i++) {
        const struct ts_resource_attr *a = &r->attrs[i];
        if (jt_res_key_is(a, "service.name") || jt_res_key_is(a, "client-uuid") ||
            jt_res_key_is(a, "jaeger.version"))
            continue;
        /* a resource key is not NUL-terminated where it ends: no entry */
        if (a->type == TS_ATTR_INT)
            jt_tag(b, NULL, a->key, a->klen, JT_TAG_LONG, NULL, 0, a->num);
        else
            jt_tag(b, NULL, a->key, a->klen, JT_TAG_STRING, a->str, a->slen, 0);
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
    uint32_t ntags = jt_process_tags(&tags, r);

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

/* Jaeger's span.kind value for a kind; NULL: no tag (internal, which the
 * OpenTelemetry Jaeger mapping leaves without one, unspecified, or a
 * value this version does not know). */
static const char *jt_kind_name(uint8_t kind)
{
    switch (kind) {
    case TS_KIND_SERVER:
        return "server";
    case TS_KIND_CLIENT:
        return "client";
    default:
        return NULL;
    }
}

/* The tags a span's list begins with: span.kind when its kind has a
 * Jaeger name, then the instrumentation scope (the OpenTelemetry Jaeger
 * mapping: the scope MUST be tags). */
static void jt_lead_tags_write(struct ts_json_buf *b, const char *kind)
{
    if (kind)
        jt_tag_cstr(b, "span.kind", kind);
    jt_tag_cstr(b, "otel.scope.name", TS_SCOPE_NAME);
    jt_tag_cstr(b, "otel.scope.version", TS_VERSION);
}

/* Those tags encoded once for each of no kind, server and client, as
 * they are the same for every span of a kind (encoders run under the
 * export lock; jt_forget empties them). */
static struct jt_lead_tags {
    enum { JT_LEAD_UNMADE, JT_LEAD_MADE, JT_LEAD_TOO_LONG } state;
    size_t len;
    char text[240];
} jt_lead[3];

/* A kind of each entry of jt_lead, in its order. */
static const uint8_t jt_lead_kind[3] = {TS_KIND_UNSPECIFIED, TS_KIND_SERVER, TS_KIND_CLIENT};

static size_t jt_lead_index(uint8_t span_kind)
{
    return span_kind == TS_KIND_SERVER ? 1 : span_kind == TS_KIND_CLIENT ? 2 : 0;
}

/* Builds one entry; out of memory leaves it unmade, to be tried again. */
static void jt_lead_make(struct jt_lead_tags *lead, const char *kind)
{
    struct ts_json_buf made;
    ts_json_buf_init(&made);
    jt_lead_tags_write(&made, kind);
    if (!made.failed) {
        lead->state = JT_LEAD_TOO_LONG;
        if (made.len <= sizeof lead->text) {
            memcpy(lead->text, made.data, made.len);
            lead->len = made.len;
            lead->state = JT_LEAD_MADE;
        }
    }
    ts_json_buf_free(&made);
}

static void jt_lead_tags(struct ts_json_buf *b, uint8_t span_kind)
{
    struct jt_lead_tags *lead = &jt_lead[jt_lead_index(span_kind)];
    if (lead->state == JT_LEAD_UNMADE) {
        /* All three at once: the one span exporters.c encodes while it
         * prepares (exp_rehearse) then makes every kind's, so that a flush
         * at _exit, from a signal handler, allocates nothing here. */
        for (size_t i = 0; i < sizeof jt_lead / sizeof *jt_lead; i++)
            if (jt_lead[i].state == JT_LEAD_UNMADE)
                jt_lead_make(&jt_lead[i], jt_kind_name(jt_lead_kind[i]));
    }
    if (lead->state == JT_LEAD_MADE)
        ts_json_buf_append(b, lead->text, lead->len);
    else
        jt_lead_tags_write(b, jt_kind_name(span_kind));
}

/* What the last span's attributes found in jt_keys, by position. */
static struct ts_key_frag_memo jt_last_keys[TS_SPAN_MAX_ATTRS];

/* One attribute's Tag; false when it is left out (no key, or a type this
 * version cannot name: damaged, or unknown, rather than guessed). */
static inline bool jt_attr_tag(struct ts_json_buf *b, const struct ts_span *s, size_t i)
{
    const struct ts_attr *a = &s->attrs[i];
    if (!a->key || a->type > TS_ATTR_BOOL)
        return false;
    const struct ts_key_frag *k =
        ts_key_frag_at(&jt_last_keys[i], 0, &jt_keys, &jt_key_make, a->key);
    size_t klen = k ? k->klen : strlen(a->key);
    if (a->type == TS_ATTR_STR) {
        size_t len;
        const char *p = ts_span_bytes(s, a->off, a->len, &len);
        jt_tag(b, k, a->key, klen, JT_TAG_STRING, p, len, 0);
    } else if (a->type == TS_ATTR_INT) {
        jt_tag(b, k, a->key, klen, JT_TAG_LONG, NULL, 0, a->num);
    } else {
        jt_tag(b, k, a->key, klen, JT_TAG_BOOL, NULL, 0, a->num != 0);
    }
    return true;
}

/* Span.tags of s, its list header first: span.kind, the instrumentation
 * scope, the attributes, the status, then otel.dropped_attributes_count
 * when the span left attributes out (the OpenTelemetry mapping to
 * non-OTLP formats: Jaeger has no field for the count; a long tag, as
 * OpenTelemetry's Jaeger exporters write their counts, and only when not
 * 0). The header's room is that of the most tags the span can have, and
 * the count is set once the tags are written (one pass over the
 * attributes, not a second to count them). */
static void jt_span_tags(struct ts_json_buf *b, const struct ts_span *s)
{
    bool status = s->status == TS_STATUS_OK || s->status == TS_STATUS_ERROR;
    bool err = s->status == TS_STATUS_ERROR;
    bool dropped = s->dropped_attrs != 0;
    size_t nattrs = ts_span_nattrs(s);
    uint32_t lead = jt_kind_name(s->kind) ? 3 : 2; /* jt_lead_tags' */
    uint32_t most = lead + (uint32_t)nattrs + status + err + dropped;
    size_t head = b->len, room = ts_tc_list_header_len(most);
    char *o = ts_json_buf_room(b, room);
    if (!o)
        return;
    ts_json_buf_commit(b, o + room);

    uint32_t n = lead;
    jt_lead_tags(b, s->kind);
    for (size_t i = 0; i < nattrs; i++)
        n += jt_attr_tag(b, s, i);
    if (status) {
        jt_tag_cstr(b, "otel.status_code", err ? "ERROR" : "OK");
        n++;
        if (err) {
            /* Jaeger's UI marks a span failed by this tag. */
            jt_tag_ckey(b, "error", JT_TAG_BOOL, NULL, 0, true);
            n++;
        }
    }
    if (__builtin_expect(dropped, 0)) {
        jt_tag_ckey(b, "otel.dropped_attributes_count", JT_TAG_LONG, NULL, 0, s->dropped_attrs);
        n++;
    }
    if (b->failed)
        return;
    size_t used = ts_tc_list_header_len(n);
    if (used < room) { /* attributes left out: the tags move up to the header */
        memmove(b->data + head + used, b->data + head + room, b->len - head - room);
        b->len -= room - used;
    }
    ts_tc_put_list_header(b->data + head, TS_TC_STRUCT, n);
}

/* 8 bytes big-endian as the i64 Jaeger carries them in, as the varint of
 * its zigzag form. */
static uint64_t jt_id64_zz(const uint8_t *p)
{
    return ts_tc_zigzag64(ts_tc_u64_bits(ts_id_u64(p)));
}

/* An i64 field of a struct written in one piece. */
static char *jt_put_i64_field(char *o, int16_t id, int16_t prev, uint64_t zigzag)
{
    return ts_put_varint(ts_tc_put_field_header(o, TS_TC_I64, id, prev), zigzag);
}

/* The most bytes of a span besides its name and tags: seven i64 fields
 * of at most 11 bytes, the reference's list header, refType and stop,
 * the flags, the tags' list header, the stops. */
#define JT_SPAN_FIXED_MAX 128

void ts_jaeger_thrift_span(struct ts_json_buf *spans, const struct ts_span *s, bool first)
{
    (void)first; /* list elements have no separator */
    uint64_t trace_high = jt_id64_zz(s->trace_id);
    uint64_t trace_low = jt_id64_zz(s->trace_id + 8);
    bool has_parent = !ts_enc_id8_is_zero(s->parent_id);
    uint64_t parent = has_parent ? jt_id64_zz(s->parent_id) : 0;
    size_t name_len;
    const char *name = ts_span_bytes(s, s->name_off, s->name_len, &name_len);
    size_t name_clean = ts_utf8_clean_len(name, name_len);
    char *o = ts_json_buf_room(spans, JT_SPAN_FIXED_MAX + name_clean);
    if (!o)
        return;
    /* the Span struct, its fields in id order (each header holds the
     * distance from the one before) */
    const char *trace_fields = o;
    o = jt_put_i64_field(o, 1, 0, trace_low);  /* traceIdLow */
    o = jt_put_i64_field(o, 2, 1, trace_high); /* traceIdHigh */
    size_t trace_fields_len = (size_t)(o - trace_fields);
    o = jt_put_i64_field(o, 3, 2, jt_id64_zz(s->span_id)); /* spanId */
    const char *parent_field = o;
    o = jt_put_i64_field(o, 4, 3, parent); /* parentSpanId */
    size_t parent_field_len = (size_t)(o - parent_field);
    o = ts_tc_put_field_header(o, TS_TC_BINARY, 5, 4); /* operationName */
    o = ts_tc_put_string(o, name, name_len, name_clean);
    int16_t prev = 5;
    if (has_parent) {
        /* references: parentSpanId alone is the legacy form; newer Jaeger
         * reads the parent from here. One SpanRef. */
        o = ts_tc_put_field_header(o, TS_TC_LIST, 6, 5);
        o = ts_tc_put_list_header(o, TS_TC_STRUCT, 1);
        o = ts_tc_put_field_header(o, TS_TC_I32, 1, 0); /* refType */
        o = ts_put_varint(o, ts_tc_zigzag32(JT_REF_CHILD_OF));
        /* traceIdLow, traceIdHigh and spanId (the parent's), fields 2, 3
         * and 4: the bytes of the Span's fields 1, 2 and 4, as each
         * header holds the distance from the field before, 1 in both */
        o = ts_put(o, trace_fields, trace_fields_len);
        o = ts_put(o, parent_field, parent_field_len);
        *o++ = 0; /* STOP */
        prev = 6;
    }
    o = ts_tc_put_field_header(o, TS_TC_I32, 7, prev); /* flags */
    int32_t flags = s->sampled & TS_SPAN_DEBUG ? JT_FLAG_SAMPLED | JT_FLAG_DEBUG : JT_FLAG_SAMPLED;
    o = ts_put_varint(o, ts_tc_zigzag32(flags));
    uint64_t dur_ns = s->end_ns > s->start_ns ? s->end_ns - s->start_ns : 0;
    o = jt_put_i64_field(o, 8, 7, ts_tc_zigzag64((int64_t)(s->start_ns / 1000))); /* µs */
    o = jt_put_i64_field(o, 9, 8, ts_tc_zigzag64((int64_t)(dur_ns / 1000)));      /* µs */
    o = ts_tc_put_field_header(o, TS_TC_LIST, 10, 9);                             /* tags */
    ts_json_buf_commit(spans, o);
    jt_span_tags(spans, s);
    ts_json_buf_append_char(spans, 0); /* STOP */
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
    size_t max =
        JT_HEADER_LEN + 1 + 1 + (proc ? proc->len : 0) + 1 + ts_tc_list_header_len(UINT32_MAX);
    /* The seal makes the head in jt_head: its room is made here, at the
     * batch's start, so that a seal allocates nothing (the flush for an
     * _exit in a signal handler must not: exporters.h ts_exp_prepare). */
    if (jt_head.cap < max) {
        ts_json_buf_reset(&jt_head);
        (void)ts_json_buf_reserve(&jt_head, max);
    }
    return max;
}

/* emitBatch_args { batch: Batch { process, spans: [...], seqNo } }: the
 * head goes before the spans, seqNo and the two stops after them. */
static size_t jt_seal(struct ts_json_buf *batch, size_t room_start, size_t spans_off, size_t nspans)
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

static void jt_forget(void)
{
    ts_key_frags_forget(&jt_keys);
    memset(jt_last_keys, 0, sizeof jt_last_keys);
    /* a fork amid its stores could leave an entry made before its length */
    memset(jt_lead, 0, sizeof jt_lead);
    /* leaked on purpose: may be mid-realloc */
    ts_json_buf_init(&jt_process_buf);
    ts_json_buf_init(&jt_head);
    jt_process_gen = 0;
}

const struct ts_encoder ts_encoder_jaeger_thrift = {
    .name = "jaeger-thrift",
    .content_type = NULL,
    .span = ts_jaeger_thrift_span,
    .bound = ts_jaeger_thrift_bound,
    .head_max = jt_head_max,
    .seal = jt_seal,
    .finish = ts_jaeger_thrift_finish,
    .forget = jt_forget,
};
