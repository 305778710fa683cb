/* otlp_proto.c — OTLP protobuf encoding of spans (see otlp_proto.h).
 *
 * Field numbers are those of the official protos
 * (opentelemetry/proto/{collector/trace,trace,common,resource}/v1). Each
 * span is encoded once, as a whole ScopeSpans.spans entry, so finish() can
 * wrap a batch's span bytes verbatim: the lengths of the enclosing messages
 * follow from spans_len. */
#include "otlp_proto.h"

#include <stdint.h>
#include <string.h>

#include "pb_writer.h"
#include "resource.h"

#ifndef TS_VERSION
#error "TS_VERSION must be defined by the build"
#endif

enum {
    /* ExportTraceServiceRequest */
    OTLP_REQ_RESOURCE_SPANS = 1,
    /* ResourceSpans */
    OTLP_RS_RESOURCE = 1,
    OTLP_RS_SCOPE_SPANS = 2,
    /* Resource */
    OTLP_RES_ATTRIBUTES = 1,
    /* ScopeSpans */
    OTLP_SS_SCOPE = 1,
    OTLP_SS_SPANS = 2,
    /* InstrumentationScope */
    OTLP_SCOPE_NAME_F = 1,
    OTLP_SCOPE_VERSION_F = 2,
    /* Span */
    OTLP_SPAN_TRACE_ID = 1,
    OTLP_SPAN_SPAN_ID = 2,
    OTLP_SPAN_TRACE_STATE = 3,
    OTLP_SPAN_PARENT_SPAN_ID = 4,
    OTLP_SPAN_NAME = 5,
    OTLP_SPAN_KIND = 6,
    OTLP_SPAN_START = 7,
    OTLP_SPAN_END = 8,
    OTLP_SPAN_ATTRIBUTES = 9,
    OTLP_SPAN_DROPPED_ATTRIBUTES_COUNT = 10,
    OTLP_SPAN_STATUS = 15,
    OTLP_SPAN_FLAGS = 16,
    /* Status */
    OTLP_STATUS_CODE = 3,
    /* KeyValue */
    OTLP_KV_KEY = 1,
    OTLP_KV_VALUE = 2,
    /* AnyValue */
    OTLP_ANY_STRING = 1,
    OTLP_ANY_BOOL = 2,
    OTLP_ANY_INT = 3,
};

/* One KeyValue field; the AnyValue holds str (TS_ATTR_STR), num as int
 * (TS_ATTR_INT) or num != 0 as bool (TS_ATTR_BOOL). */
static void otlp_pb_kv(struct ts_json_buf *b, uint32_t field, const char *key, size_t klen,
                       uint8_t type, const char *str, size_t slen, int64_t num)
{
    size_t kv = ts_pb_open(b, field);
    ts_pb_string_field(b, OTLP_KV_KEY, key, klen);
    size_t any = ts_pb_open(b, OTLP_KV_VALUE);
    /* A oneof member is written even at its default value: that is what
     * says which member is set. */
    if (type == TS_ATTR_STR)
        ts_pb_string_field(b, OTLP_ANY_STRING, str, slen);
    else if (type == TS_ATTR_INT)
        ts_pb_int64_field(b, OTLP_ANY_INT, num);
    else
        ts_pb_bool_field(b, OTLP_ANY_BOOL, num != 0);
    ts_pb_close(b, any);
    ts_pb_close(b, kv);
}

/* ---------------------------------------------------------------- spans */

/* A span attribute's key field as a KeyValue starts: tag, length, the key
 * (kept per key, json_buf.h). A key that is not valid UTF-8 as it is has
 * none: it is written the long way, made valid. */
static size_t otlp_pb_key_frag(char *text, const char *key, size_t klen, size_t *at,
                               uint32_t *info)
{
    (void)info;
    if (klen + TS_PB_FIELD_HEAD_MAX > TS_KEY_FRAG_MAX || ts_utf8_clean_len(key, klen) != klen)
        return 0;
    char *o = ts_put_varint(ts_pb_put_tag(text, OTLP_KV_KEY, TS_PB_LEN), klen);
    *at = (size_t)(o - text);
    return (size_t)(ts_put(o, key, klen) - text);
}

static struct ts_key_frags otlp_pb_keys; /* reporter thread only */
static const ts_key_frag_fn otlp_pb_key_make = otlp_pb_key_frag;
/* What the last span's attributes found in otlp_pb_keys, by position. */
static struct ts_key_frag_memo otlp_pb_last_keys[TS_SPAN_MAX_ATTRS];

/* The most bytes an attribute takes besides its key and string value:
 * the KeyValue's and the AnyValue's tags and lengths, the member's tag
 * and length or number. */
#define OTLP_PB_ATTR_MAX (3 * TS_PB_FIELD_HEAD_MAX)

/* One span attribute (the span's i-th), a KeyValue whose size is worked
 * out first, so that its lengths are written in place and nothing moves. */
static void otlp_pb_span_attr(struct ts_json_buf *b, size_t i, const struct ts_attr *a,
                              const char *str, size_t slen)
{
    const struct ts_key_frag *k =
        ts_key_frag_at(&otlp_pb_last_keys[i], 0, &otlp_pb_keys, &otlp_pb_key_make, a->key);
    if (!k) {
        otlp_pb_kv(b, OTLP_SPAN_ATTRIBUTES, a->key, strlen(a->key), a->type, str, slen, a->num);
        return;
    }
    /* the AnyValue: one member; a oneof member is written even at its
     * default value, that is what says which member is set */
    size_t clean = 0, any_len;
    if (a->type == TS_ATTR_STR) {
        clean = ts_utf8_clean_len(str, slen);
        any_len = ts_pb_len_field_size(OTLP_ANY_STRING, clean);
    } else if (a->type == TS_ATTR_INT) {
        any_len = ts_pb_uint_field_size(OTLP_ANY_INT, (uint64_t)a->num);
    } else {
        any_len = ts_pb_uint_field_size(OTLP_ANY_BOOL, 1);
    }
    size_t kv_len = k->len + ts_pb_len_field_size(OTLP_KV_VALUE, any_len);
    char *o = ts_json_buf_room(b, OTLP_PB_ATTR_MAX + TS_KEY_FRAG_MAX + clean);
    if (!o)
        return;
    o = ts_put_varint(ts_pb_put_tag(o, OTLP_SPAN_ATTRIBUTES, TS_PB_LEN), kv_len);
    /* the whole fragment buffer, a fixed size the compiler turns into a few
     * moves; what is past the fragment's end is overwritten next */
    memcpy(o, k->text, TS_KEY_FRAG_MAX);
    o += k->len;
    o = ts_put_varint(ts_pb_put_tag(o, OTLP_KV_VALUE, TS_PB_LEN), any_len);
    if (a->type == TS_ATTR_STR)
        o = ts_pb_put_string_field(o, OTLP_ANY_STRING, str, slen, clean);
    else if (a->type == TS_ATTR_INT)
        o = ts_pb_put_uint_field(o, OTLP_ANY_INT, (uint64_t)a->num);
    else
        o = ts_pb_put_uint_field(o, OTLP_ANY_BOOL, a->num != 0);
    ts_json_buf_commit(b, o);
}

/* The most bytes a span takes besides its name and attributes: the ids
 * with their tags and lengths (18 + 10 + 10), the name's tag and length,
 * kind, the two times (9 each), the status (2 + 1 + 10). */
#define OTLP_PB_SPAN_FIXED_MAX 128
/* After the attributes: the dropped attributes' count, the status (its
 * tag and length, the code's field) and the flags (two bytes of tag, four
 * of value). */
#define OTLP_PB_SPAN_TAIL_MAX (4 * TS_PB_FIELD_HEAD_MAX + 6)

void ts_otlp_proto_span(struct ts_json_buf *spans, const struct ts_span *s, bool first)
{
    (void)first; /* entries of a repeated field need no separator */
    size_t name_len;
    const char *name = ts_span_bytes(s, s->name_off, s->name_len, &name_len);
    size_t name_clean = ts_utf8_clean_len(name, name_len);
    size_t state_len;
    const char *state = ts_span_bytes(s, s->trace_state_off, s->trace_state_len, &state_len);
    size_t state_clean = ts_utf8_clean_len(state, state_len);
    /* two bytes for the span's length: most spans are 128 to 16383 bytes */
    size_t span = ts_pb_open_room(spans, OTLP_SS_SPANS, 2);
    char *o = ts_json_buf_room(spans, OTLP_PB_SPAN_FIXED_MAX + name_clean + TS_PB_FIELD_HEAD_MAX +
                                          state_clean);
    if (!o)
        return;
    o = ts_pb_put_bytes_field(o, OTLP_SPAN_TRACE_ID, s->trace_id, TS_TRACE_ID_LEN);
    o = ts_pb_put_bytes_field(o, OTLP_SPAN_SPAN_ID, s->span_id, TS_SPAN_ID_LEN);
    if (state_len)
        o = ts_pb_put_string_field(o, OTLP_SPAN_TRACE_STATE, state, state_len, state_clean);
    if (!ts_enc_id8_is_zero(s->parent_id))
        o = ts_pb_put_bytes_field(o, OTLP_SPAN_PARENT_SPAN_ID, s->parent_id, TS_SPAN_ID_LEN);
    o = ts_pb_put_string_field(o, OTLP_SPAN_NAME, name, name_len, name_clean);
    o = ts_pb_put_uint_field(o, OTLP_SPAN_KIND, s->kind);
    o = ts_pb_put_fixed64_field(o, OTLP_SPAN_START, s->start_ns);
    o = ts_pb_put_fixed64_field(o, OTLP_SPAN_END, s->end_ns);
    ts_json_buf_commit(spans, o);

    size_t nattrs = ts_span_nattrs(s);
    for (size_t i = 0; i < nattrs; i++) {
        const struct ts_attr *a = &s->attrs[i];
        if (!a->key || a->type > TS_ATTR_BOOL)
            continue; /* no key, or a type we cannot name: leave it out */
        size_t n = 0;
        const char *p = NULL;
        if (a->type == TS_ATTR_STR)
            p = ts_span_bytes(s, a->off, a->len, &n);
        otlp_pb_span_attr(spans, i, a, p, n);
    }

    o = ts_json_buf_room(spans, OTLP_PB_SPAN_TAIL_MAX);
    if (!o)
        return;
    if (s->dropped_attrs)
        o = ts_pb_put_uint_field(o, OTLP_SPAN_DROPPED_ATTRIBUTES_COUNT, s->dropped_attrs);
    if (s->status != TS_STATUS_UNSET) { /* an empty Status is the same as none */
        o = ts_put_varint(ts_pb_put_tag(o, OTLP_SPAN_STATUS, TS_PB_LEN),
                          ts_pb_uint_field_size(OTLP_STATUS_CODE, s->status));
        o = ts_pb_put_uint_field(o, OTLP_STATUS_CODE, s->status);
    }
    uint32_t flags = ts_enc_span_flags(s);
    if (flags) /* 0, proto3's default, is not written */
        o = ts_pb_put_fixed32_field(o, OTLP_SPAN_FLAGS, flags);
    ts_json_buf_commit(spans, o);
    ts_pb_close_room(spans, span, 2);
}

/* ------------------------------------------------------ the envelope */

/* The encoded ResourceSpans.resource field and ScopeSpans.scope field of
 * this process, kept between batches: they only change when the resource
 * is rebuilt (after fork). Used by the reporter thread only, like the
 * resource itself. */
static struct {
    unsigned generation; /* of the resource encoded here; 0: none yet */
    size_t resource_len; /* head[0..resource_len): resource; then the scope */
    struct ts_json_buf head;
} otlp_pb_cache;

/* The cached head for the current resource (rebuilt when it changed), or
 * NULL when it could not be built (out of memory). */
static const struct ts_json_buf *otlp_pb_head(void)
{
    const struct ts_resource *r = ts_resource_get();
    struct ts_json_buf *h = &otlp_pb_cache.head;
    if (otlp_pb_cache.generation == r->generation && !h->failed)
        return h;
    ts_json_buf_reset(h);
    size_t res = ts_pb_open(h, OTLP_RS_RESOURCE);
    for (size_t i = 0; i < r->nattrs; i++) {
        const struct ts_resource_attr *a = &r->attrs[i];
        otlp_pb_kv(h, OTLP_RES_ATTRIBUTES, a->key, a->klen, a->type, a->str, a->slen, a->num);
    }
    ts_pb_close(h, res);
    otlp_pb_cache.resource_len = h->len;
    size_t scope = ts_pb_open(h, OTLP_SS_SCOPE);
    ts_pb_string_field(h, OTLP_SCOPE_NAME_F, TS_SCOPE_NAME, sizeof TS_SCOPE_NAME - 1);
    ts_pb_string_field(h, OTLP_SCOPE_VERSION_F, TS_VERSION, sizeof TS_VERSION - 1);
    ts_pb_close(h, scope);
    if (h->failed) {
        otlp_pb_cache.generation = 0;
        return NULL;
    }
    otlp_pb_cache.generation = r->generation;
    return h;
}

/* The payload lengths of the one ResourceSpans and its one ScopeSpans for
 * a batch whose span bytes are spans_len long. */
static void otlp_pb_envelope(const struct ts_json_buf *head, size_t spans_len, size_t *rs_len,
                             size_t *ss_len)
{
    size_t scope_len = head->len - otlp_pb_cache.resource_len;
    *ss_len = scope_len + spans_len;
    *rs_len = otlp_pb_cache.resource_len + ts_pb_len_field_size(OTLP_RS_SCOPE_SPANS, *ss_len);
}

size_t ts_otlp_proto_bound(size_t spans_len, size_t nspans)
{
    (void)nspans;
    const struct ts_json_buf *head = otlp_pb_head();
    if (!head) /* seal() will fail too; any answer will do */
        return spans_len + 64;
    size_t rs_len, ss_len;
    otlp_pb_envelope(head, spans_len, &rs_len, &ss_len);
    return ts_pb_len_field_size(OTLP_REQ_RESOURCE_SPANS, rs_len);
}

/* The head is the cached resource and scope and the two length-delimited
 * field headers around them: a tag and a length of at most 10 bytes. */
#define OTLP_PB_FIELD_HEAD_MAX (1 + TS_VARINT_MAX)

static size_t otlp_pb_head_max(void)
{
    const struct ts_json_buf *head = otlp_pb_head();
    return (head ? head->len : 0) + 2 * OTLP_PB_FIELD_HEAD_MAX;
}

/* The tag and length of a length-delimited field into out; returns how
 * many bytes they took. */
static size_t otlp_pb_field_head(uint8_t out[OTLP_PB_FIELD_HEAD_MAX], uint32_t field, size_t len)
{
    out[0] = (uint8_t)(field << 3 | TS_PB_LEN); /* the fields here are all below 16 */
    return 1 + ts_varint_encode(out + 1, len);
}

/* ExportTraceServiceRequest { resource_spans { resource, scope_spans {
 * scope, spans... } } }: the spans are the innermost field's tail, so the
 * whole head goes before them, written backwards from the spans. */
static size_t otlp_pb_seal(struct ts_json_buf *batch, size_t room_start, size_t spans_off,
                           size_t nspans)
{
    (void)nspans;
    const struct ts_json_buf *head = otlp_pb_head();
    if (!head || spans_off > batch->len) {
        batch->failed = true;
        return SIZE_MAX;
    }
    size_t rs_len, ss_len;
    otlp_pb_envelope(head, batch->len - spans_off, &rs_len, &ss_len);
    size_t res_len = otlp_pb_cache.resource_len;
    uint8_t fh[OTLP_PB_FIELD_HEAD_MAX];
    size_t at = spans_off;
    at = ts_json_buf_put_before(batch, room_start, at, head->data + res_len, head->len - res_len);
    at = ts_json_buf_put_before(batch, room_start, at, fh,
                                otlp_pb_field_head(fh, OTLP_RS_SCOPE_SPANS, ss_len));
    at = ts_json_buf_put_before(batch, room_start, at, head->data, res_len);
    at = ts_json_buf_put_before(batch, room_start, at, fh,
                                otlp_pb_field_head(fh, OTLP_REQ_RESOURCE_SPANS, rs_len));
    return at; /* SIZE_MAX if any of them failed: the later ones fail too */
}

void ts_otlp_proto_finish(struct ts_json_buf *out, const char *spans, size_t spans_len,
                          size_t nspans)
{
    ts_encoder_finish_by_seal(otlp_pb_head_max, otlp_pb_seal, out, spans, spans_len, nspans);
}

static void otlp_pb_forget(void)
{
    ts_key_frags_forget(&otlp_pb_keys);
    memset(otlp_pb_last_keys, 0, sizeof otlp_pb_last_keys);
    ts_json_buf_init(&otlp_pb_cache.head); /* leaked on purpose: may be mid-realloc */
    otlp_pb_cache.generation = 0;
}

const struct ts_encoder ts_encoder_otlp_proto = {
    .name = "otlp-proto",
    .content_type = "application/x-protobuf",
    .span = ts_otlp_proto_span,
    .bound = ts_otlp_proto_bound,
    .head_max = otlp_pb_head_max,
    .seal = otlp_pb_seal,
    .finish = ts_otlp_proto_finish,
    .forget = otlp_pb_forget,
};
