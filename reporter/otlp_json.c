/* otlp_json.c — OTLP/JSON encoding of spans (see otlp_json.h). */
#include "otlp_json.h"

#include <stdint.h>
#include <string.h>

#include "encoder.h"
#include "resource.h"

#ifndef TS_VERSION
#error "TS_VERSION must be defined by the build"
#endif


/* The most bytes an attribute takes besides its key and string value: the
 * punctuation and type name (under 40), or a number. */
#define OTLP_ATTR_MAX 64

/* What follows an attribute's key up to its value, by the value's type:
 * the close of the key, the field named for the type, and the quote a
 * 64-bit integer has around it (a string in protobuf's JSON). */
static const struct {
    const char *text;
    size_t len;
} otlp_value_open[] = {
#define OTLP_OPEN(text) {text, sizeof text - 1}
    [TS_ATTR_STR] = OTLP_OPEN("\",\"value\":{\"stringValue\":"),
    [TS_ATTR_INT] = OTLP_OPEN("\",\"value\":{\"intValue\":\""),
    [TS_ATTR_BOOL] = OTLP_OPEN("\",\"value\":{\"boolValue\":"),
#undef OTLP_OPEN
};

/* An attribute's value, from after its type's otlp_value_open to the end
 * of the attribute: str for TS_ATTR_STR, num for TS_ATTR_INT, num != 0 for
 * TS_ATTR_BOOL. */
static inline char *otlp_put_value(char *o, uint8_t type, const char *str, size_t slen,
                                   int64_t num)
{
    if (type == TS_ATTR_STR) {
        o = ts_put_json_string(o, str, slen);
    } else if (type == TS_ATTR_INT) {
        o = ts_put_i64(o, num);
        *o++ = '"';
    } else {
        o = num ? TS_PUT_LIT(o, "true") : TS_PUT_LIT(o, "false");
    }
    return TS_PUT_LIT(o, "}}");
}

/* The room an attribute's value takes at most. */
static inline size_t otlp_value_max(uint8_t type, size_t slen)
{
    return OTLP_ATTR_MAX + (type == TS_ATTR_STR ? TS_JSON_STRING_MAX(slen) : TS_I64_CHARS_MAX);
}

/* An attribute's key the long way, {"key":K with a comma first unless it
 * is the first, up to its value: TS_JSON_STRING_MAX(klen) + OTLP_ATTR_MAX
 * bytes at most. */
static char *otlp_put_key(char *o, bool first, const char *key, size_t klen, uint8_t type)
{
    o = first ? TS_PUT_LIT(o, "{\"key\":") : TS_PUT_LIT(o, ",{\"key\":");
    o = ts_put_json_string(o, key, klen);
    /* the string's closing quote is there already */
    return ts_put(o, otlp_value_open[type].text + 1, otlp_value_open[type].len - 1);
}

/* One attribute, {"key":K,"value":{"<type>Value":V}}, with a comma first
 * unless it is the first. */
static void otlp_attr(struct ts_json_buf *b, bool first, const char *key, size_t klen,
                      uint8_t type, const char *str, size_t slen, int64_t num)
{
    char *o = ts_json_buf_room(b, TS_JSON_STRING_MAX(klen) + otlp_value_max(type, slen));
    if (!o)
        return;
    o = otlp_put_key(o, first, key, klen, type);
    ts_json_buf_commit(b, otlp_put_value(o, type, str, slen, num));
}

/* A span attribute's key as otlp_put_key writes it, with the comma before
 * it, for a value of the given type:
 * ,{"key":"http.request.method","value":{"stringValue": */
static size_t otlp_key_frag(char *text, const char *key, size_t klen, uint8_t type, size_t *at)
{
    static const char open[] = ",{\"key\":\"";
    if (klen > TS_KEY_FRAG_MAX - (sizeof open - 1) - otlp_value_open[type].len ||
        ts_json_plain_len(key, klen) != klen)
        return 0; /* long, or to be escaped: written the long way */
    char *o = TS_PUT_LIT(text, open);
    *at = (size_t)(o - text);
    o = ts_put(o, key, klen);
    o = ts_put(o, otlp_value_open[type].text, otlp_value_open[type].len);
    return (size_t)(o - text);
}

static size_t otlp_str_key_frag(char *text, const char *key, size_t klen, size_t *at,
                                uint32_t *info)
{
    (void)info;
    return otlp_key_frag(text, key, klen, TS_ATTR_STR, at);
}

static size_t otlp_int_key_frag(char *text, const char *key, size_t klen, size_t *at,
                                uint32_t *info)
{
    (void)info;
    return otlp_key_frag(text, key, klen, TS_ATTR_INT, at);
}

static size_t otlp_bool_key_frag(char *text, const char *key, size_t klen, size_t *at,
                                 uint32_t *info)
{
    (void)info;
    return otlp_key_frag(text, key, klen, TS_ATTR_BOOL, at);
}

/* The keys' fragments, a table for each type of value, so that a key's
 * fragment ends with its value's field name (reporter thread only). */
static struct ts_key_frags otlp_keys[TS_ATTR_BOOL + 1];
static const ts_key_frag_fn otlp_key_frag_of[TS_ATTR_BOOL + 1] = {
    [TS_ATTR_STR] = otlp_str_key_frag,
    [TS_ATTR_INT] = otlp_int_key_frag,
    [TS_ATTR_BOOL] = otlp_bool_key_frag,
};

/* The fragments the last span's attributes found, by position (reporter
 * thread only, like the tables). */
static struct ts_key_frag_memo otlp_last_keys[TS_SPAN_MAX_ATTRS];

/* The fragment of attribute i's key for its type, NULL when it has none. */
static inline const struct ts_key_frag *otlp_key_at(size_t i, const struct ts_attr *a)
{
    return ts_key_frag_at(&otlp_last_keys[i], a->type, otlp_keys, otlp_key_frag_of, a->key);
}

/* The room an attribute takes at most with its key's fragment: a string
 * value's slen bytes (0 for a number) and the rest. */
#define OTLP_FRAG_ATTR_MAX(slen)                                                                   \
    (TS_KEY_FRAG_MAX + OTLP_ATTR_MAX + TS_JSON_STRING_MAX(slen) + TS_I64_CHARS_MAX)

/* A span's attribute list, [ and its attributes, from the cursor o on;
 * returns where it ends (NULL when out of memory). Every attribute is
 * written with the comma before it, the first one's turned into the
 * bracket at the end; a key's fragment is copied whole, and the room's
 * end checked once per attribute. */
static char *otlp_span_attrs(struct ts_json_buf *b, char *o, const struct ts_span *s)
{
    size_t list = (size_t)(o - b->data); /* an offset: the room may move */
    size_t nattrs = ts_span_nattrs(s);
    for (size_t i = 0; i < nattrs; i++) {
        const struct ts_attr *a = &s->attrs[i];
        if (!a->key || a->type > TS_ATTR_BOOL)
            continue; /* no key, or a type we cannot name: leave it out */
        size_t slen = 0;
        const char *str = NULL;
        if (a->type == TS_ATTR_STR)
            str = ts_span_bytes(s, a->off, a->len, &slen);
        const struct ts_key_frag *k = otlp_key_at(i, a);
        if (k) {
            o = ts_json_buf_more(b, o, OTLP_FRAG_ATTR_MAX(slen));
            if (!o)
                return NULL;
            /* The whole fragment buffer is copied, a fixed size the
             * compiler turns into a few moves, and the cursor set where
             * the fragment ends: the bytes past it are overwritten next. */
            memcpy(o, k->text, TS_KEY_FRAG_MAX);
            o += k->len;
        } else {
            size_t klen = strlen(a->key);
            o = ts_json_buf_more(b, o, OTLP_FRAG_ATTR_MAX(slen) + TS_JSON_STRING_MAX(klen));
            if (!o)
                return NULL;
            o = otlp_put_key(o, false, a->key, klen, a->type);
        }
        o = otlp_put_value(o, a->type, str, slen, a->num);
    }
    if (o == b->data + list)
        *o++ = '['; /* none */
    else
        b->data[list] = '['; /* the first attribute's comma */
    return o;
}

void ts_otlp_json_resource(struct ts_json_buf *b)
{
    const struct ts_resource *r = ts_resource_get();
    ts_json_buf_append_cstr(b, "{\"attributes\":[");
    for (size_t i = 0; i < r->nattrs; i++) {
        const struct ts_resource_attr *a = &r->attrs[i];
        uint8_t type = a->type == TS_ATTR_INT ? TS_ATTR_INT : TS_ATTR_STR;
        otlp_attr(b, i == 0, a->key, a->klen, type, a->str, a->slen, a->num);
    }
    ts_json_buf_append_cstr(b, "]}");
}

void ts_otlp_json_begin(struct ts_json_buf *b)
{
    ts_json_buf_append_cstr(b, "{\"resourceSpans\":[{\"resource\":");
    ts_otlp_json_resource(b);
    ts_json_buf_append_cstr(b, ",\"scopeSpans\":[{\"scope\":{\"name\":\"" TS_SCOPE_NAME
                               "\",\"version\":\"" TS_VERSION "\"},\"spans\":[");
}

void ts_otlp_json_end(struct ts_json_buf *b)
{
    ts_json_buf_append_cstr(b, "]}]}]}"); /* OTLP_JSON_TAIL */
}

/* The most bytes a span takes besides its name and attributes: the
 * punctuation and field names (under 140), three ids (64 hex digits), and
 * three numbers of at most 20 digits. */
#define OTLP_SPAN_HEAD_MAX 320
#define OTLP_SPAN_TAIL_MAX (80 + 3 * TS_U64_DIGITS_MAX)

/* The leading digits of the last time written: a span's start and end, and
 * the spans after it, share them (reporter thread only, like otlp_keys). */
static struct ts_digits_memo otlp_times;

void ts_otlp_json_span(struct ts_json_buf *b, const struct ts_span *s, bool first)
{
    size_t name_len, state_len;
    const char *name = ts_span_bytes(s, s->name_off, s->name_len, &name_len);
    const char *state = ts_span_bytes(s, s->trace_state_off, s->trace_state_len, &state_len);
    char *o = ts_json_buf_room(b, OTLP_SPAN_HEAD_MAX + TS_JSON_STRING_MAX(name_len) +
                                      TS_JSON_STRING_MAX(state_len));
    if (!o)
        return;
    o = first ? TS_PUT_LIT(o, "{\"traceId\":\"") : TS_PUT_LIT(o, ",{\"traceId\":\"");
    o = ts_put_hex(o, s->trace_id, TS_TRACE_ID_LEN);
    o = TS_PUT_LIT(o, "\",\"spanId\":\"");
    o = ts_put_hex(o, s->span_id, TS_SPAN_ID_LEN);
    if (!ts_enc_id8_is_zero(s->parent_id)) {
        o = TS_PUT_LIT(o, "\",\"parentSpanId\":\"");
        o = ts_put_hex(o, s->parent_id, TS_SPAN_ID_LEN);
    }
    if (state_len) {
        o = TS_PUT_LIT(o, "\",\"traceState\":");
        o = ts_put_json_string(o, state, state_len);
        o = TS_PUT_LIT(o, ",\"name\":");
    } else {
        o = TS_PUT_LIT(o, "\",\"name\":");
    }
    o = ts_put_json_string(o, name, name_len);
    o = TS_PUT_LIT(o, ",\"kind\":");
    o = ts_put_u64(o, s->kind);
    o = TS_PUT_LIT(o, ",\"startTimeUnixNano\":\"");
    o = ts_put_u64_memo(o, s->start_ns, &otlp_times);
    o = TS_PUT_LIT(o, "\",\"endTimeUnixNano\":\"");
    o = ts_put_u64_memo(o, s->end_ns, &otlp_times);
    o = TS_PUT_LIT(o, "\",\"attributes\":");
    o = otlp_span_attrs(b, o, s);
    if (!o)
        return;
    o = ts_json_buf_more(b, o, OTLP_SPAN_TAIL_MAX);
    if (!o)
        return;
    if (__builtin_expect(s->dropped_attrs != 0, 0)) {
        o = TS_PUT_LIT(o, "],\"droppedAttributesCount\":");
        o = ts_put_u64(o, s->dropped_attrs);
        o = TS_PUT_LIT(o, ",\"status\":{\"code\":");
    } else {
        o = TS_PUT_LIT(o, "],\"status\":{\"code\":");
    }
    o = ts_put_u64(o, s->status);
    uint32_t flags = ts_enc_span_flags(s);
    if (flags) { /* 0, the default, is left out as OTLP/JSON leaves defaults */
        o = TS_PUT_LIT(o, "},\"flags\":");
        o = ts_put_u64(o, flags);
        o = TS_PUT_LIT(o, "}");
    } else {
        o = TS_PUT_LIT(o, "}}");
    }
    ts_json_buf_commit(b, o);
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

/* What ts_otlp_json_begin writes for this process, kept between batches:
 * it only changes when the resource is rebuilt (after fork). Used by the
 * reporter thread only, like the resource itself. */
static struct {
    unsigned generation; /* of the resource encoded here; 0: none yet */
    struct ts_json_buf bytes;
} otlp_json_head;

/* The cached head for the current resource (rebuilt when it changed), or
 * NULL when it could not be built (out of memory). */
static const struct ts_json_buf *otlp_json_head_get(void)
{
    const struct ts_resource *r = ts_resource_get();
    struct ts_json_buf *h = &otlp_json_head.bytes;
    if (otlp_json_head.generation != r->generation || h->failed) {
        ts_json_buf_reset(h);
        ts_otlp_json_begin(h);
        otlp_json_head.generation = h->failed ? 0 : r->generation;
    }
    return h->failed ? NULL : h;
}

#define OTLP_JSON_TAIL "]}]}]}" /* what ts_otlp_json_end writes */

static size_t otlp_json_head_max(void)
{
    const struct ts_json_buf *h = otlp_json_head_get();
    return h ? h->len : 0;
}

static size_t otlp_json_bound(size_t spans_len, size_t nspans)
{
    (void)nspans;
    const struct ts_json_buf *h = otlp_json_head_get();
    if (!h) /* seal() will fail too: no message */
        return SIZE_MAX;
    return h->len + spans_len + sizeof OTLP_JSON_TAIL - 1;
}

static size_t otlp_json_seal(struct ts_json_buf *batch, size_t room_start, size_t spans_off,
                             size_t nspans)
{
    (void)nspans;
    const struct ts_json_buf *h = otlp_json_head_get();
    if (!h) {
        batch->failed = true;
        return SIZE_MAX;
    }
    size_t msg = ts_json_buf_put_before(batch, room_start, spans_off, h->data, h->len);
    ts_json_buf_append(batch, OTLP_JSON_TAIL, sizeof OTLP_JSON_TAIL - 1);
    return batch->failed ? SIZE_MAX : msg;
}

static void otlp_json_finish(struct ts_json_buf *out, const char *spans, size_t spans_len,
                             size_t nspans)
{
    ts_encoder_finish_by_seal(otlp_json_head_max, otlp_json_seal, out, spans, spans_len, nspans);
}

static void otlp_json_forget(void)
{
    for (size_t i = 0; i < sizeof otlp_keys / sizeof *otlp_keys; i++)
        ts_key_frags_forget(&otlp_keys[i]);
    memset(otlp_last_keys, 0, sizeof otlp_last_keys);
    memset(&otlp_times, 0, sizeof otlp_times);
    ts_json_buf_init(&otlp_json_head.bytes); /* leaked on purpose: may be mid-realloc */
    otlp_json_head.generation = 0;
}

const struct ts_encoder ts_encoder_otlp_json = {
    .name = "otlp-json",
    .content_type = "application/json",
    .span = ts_otlp_json_span,
    .bound = otlp_json_bound,
    .head_max = otlp_json_head_max,
    .seal = otlp_json_seal,
    .finish = otlp_json_finish,
    .forget = otlp_json_forget,
};
