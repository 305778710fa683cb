/* span.h — the finished-span record handed from hooks/ to reporter/.
 *
 * A span is a fixed-size value: it owns all its bytes (no pointers into the
 * application's memory), so it can be copied into the reporter's queue and
 * encoded long after the request that produced it is gone. Attribute keys
 * are pointers to string literals of the shim itself, never to app memory. */
#ifndef TS_SPAN_H
#define TS_SPAN_H

#include <endian.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cut_text.h"

#define TS_TRACE_ID_LEN 16
#define TS_SPAN_ID_LEN 8
#define TS_SPAN_MAX_ATTRS 24
#define TS_SPAN_STRBUF 1280 /* bytes for the name and string attribute values */
#define TS_SPAN_MAX_FRAMES 32 /* call-stack depth kept (TRACESHIM_STACKS) */

/* Numbering follows OTLP's SpanKind so encoders can emit it directly. */
enum ts_span_kind {
    TS_KIND_UNSPECIFIED = 0,
    TS_KIND_INTERNAL = 1,
    TS_KIND_SERVER = 2,
    TS_KIND_CLIENT = 3,
};

/* Numbering follows OTLP's Status.StatusCode. */
enum ts_status {
    TS_STATUS_UNSET = 0,
    TS_STATUS_OK = 1,
    TS_STATUS_ERROR = 2,
};

enum ts_attr_type {
    TS_ATTR_STR = 0,
    TS_ATTR_INT = 1,
    TS_ATTR_BOOL = 2,
};

struct ts_attr {
    const char *key; /* a string literal owned by the shim */
    uint8_t type;    /* enum ts_attr_type */
    uint16_t off;    /* TS_ATTR_STR: value is span->str[off .. off+len) */
    uint16_t len;
    int64_t num; /* TS_ATTR_INT / TS_ATTR_BOOL */
};

/* ts_span.sampled: 0 when the span is not to be exported, else these
 * bits. TS_SPAN_DEBUG never comes alone (a debug span is 3), so that
 * `if (s->sampled)` still asks whether the span is exported. */
#define TS_SPAN_SAMPLED 1
/* The trace was forced by B3's debug flag (X-B3-Flags: 1, b3 "d"): the
 * Zipkin and Jaeger exporters pass it on (Zipkin's "debug", Jaeger's flag
 * 2), so that their collectors keep the span whatever they sample. */
#define TS_SPAN_DEBUG 2

/* Where a span's parent lives, as OTLP's span flags say it (bits 8 and
 * 9): not known (the span's context came from the program's own bytes, a
 * tracer of its own), a span of this process (or none: a root), or one in
 * another process (a context read from a request or the environment). */
enum ts_parent_is {
    TS_PARENT_UNKNOWN = 0,
    TS_PARENT_LOCAL = 1,
    TS_PARENT_REMOTE = 2,
};

/* Which of Jaeger's samplers sampled a root span (Jaeger's sampler.type
 * tag), when a Jaeger sampler decided it (reporter/sampler.h). */
enum ts_sampler_tag {
    TS_SAMPLER_TAG_NONE = 0,
    TS_SAMPLER_TAG_CONST = 1,
    TS_SAMPLER_TAG_PROBABILISTIC = 2,
    TS_SAMPLER_TAG_LOWERBOUND = 3,
    TS_SAMPLER_TAG_RATELIMITING = 4,
};

struct ts_span {
    uint8_t trace_id[TS_TRACE_ID_LEN];
    uint8_t span_id[TS_SPAN_ID_LEN];
    uint8_t parent_id[TS_SPAN_ID_LEN]; /* all zero: a root span */
    uint8_t kind;                      /* enum ts_span_kind */
    uint8_t status;                    /* enum ts_status */
    uint8_t sampled;                   /* 0, or TS_SPAN_SAMPLED [| TS_SPAN_DEBUG] */
    uint8_t nattrs;
    uint8_t nframes;   /* entries of frames[] in use (0: no stack) */
    uint8_t parent_is; /* enum ts_parent_is: where the parent span lives */
    uint8_t dropped_attrs; /* attributes left out, every slot taken (at most 255) */
    /* enum ts_sampler_tag, with sampler_param the parameter that decided:
     * the reporter thread writes them as the sampler.type and
     * sampler.param attributes (reporter/sampler_tags.h), which Jaeger's
     * adaptive sampling reads from root spans. Numbers here, so that the
     * span's path formats nothing. */
    uint8_t sampler_tag;
    uint64_t start_ns; /* nanoseconds since the Unix epoch */
    uint64_t end_ns;
    double sampler_param;
    uint16_t name_off, name_len;
    uint16_t str_used;
    /* The W3C tracestate of the span's trace, in str (len 0: none): the
     * one its context carries, exported as the span's trace_state. */
    uint16_t trace_state_off, trace_state_len;
    struct ts_attr attrs[TS_SPAN_MAX_ATTRS];
    char str[TS_SPAN_STRBUF];
    /* The program's call stack when the span started, innermost first:
     * raw return addresses, turned into the code.stacktrace attribute on
     * the reporter thread. Last, so that copies can stop at nframes. */
    uintptr_t frames[TS_SPAN_MAX_FRAMES];
};

/* Reset a span to empty (no name, no attributes, ids zero): the fixed
 * fields only, a few stores of a size known here. */
static inline void ts_span_clear(struct ts_span *s)
{
    memset(s, 0, offsetof(struct ts_span, attrs));
}

/* The setters below are inline: a span gets a dozen attributes per
 * request, and as calls they cost more than the work (a call, the slot and
 * room checks, a copy of a few bytes). Inline, a literal value's length is
 * known where it is used, so its copy is a load and a store or two. */

/* memcpy for the short values most attributes have (a method, a version,
 * an address): two overlapping loads and stores instead of a call into
 * libc, which costs more than the copy. */
static inline void ts_span_copy_(char *dst, const char *src, size_t len)
{
    if (len > 16) {
        memcpy(dst, src, len);
    } else if (len >= 8) {
        uint64_t head, tail;
        memcpy(&head, src, 8);
        memcpy(&tail, src + len - 8, 8);
        memcpy(dst, &head, 8);
        memcpy(dst + len - 8, &tail, 8);
    } else if (len >= 4) {
        uint32_t head, tail;
        memcpy(&head, src, 4);
        memcpy(&tail, src + len - 4, 4);
        memcpy(dst, &head, 4);
        memcpy(dst + len - 4, &tail, 4);
    } else if (len >= 2) { /* "GET", "1.1": two bytes from each end */
        uint16_t head, tail;
        memcpy(&head, src, 2);
        memcpy(&tail, src + len - 2, 2);
        memcpy(dst, &head, 2);
        memcpy(dst + len - 2, &tail, 2);
    } else if (len == 1) {
        dst[0] = src[0];
    }
}

/* Adding attributes: a cursor over the span that holds its attribute
 * count and the string bytes in use while they are added, written back
 * to the span once (ts_attrs_end). Every store into the span's attributes
 * and string buffer could change its own nattrs and str_used for all the
 * compiler knows, so that setters on the span itself load both again
 * after each store; a cursor that is the caller's local keeps them in
 * registers. Between ts_attrs_begin and ts_attrs_end, only the cursor
 * adds to the span. */
struct ts_attrs {
    struct ts_span *span;
    size_t n;    /* attributes: span->nattrs so far */
    size_t used; /* string bytes: span->str_used so far */
};

static inline struct ts_attrs ts_attrs_begin(struct ts_span *s)
{
    return (struct ts_attrs){s, s->nattrs, s->str_used};
}

static inline void ts_attrs_end(const struct ts_attrs *at)
{
    at->span->nattrs = (uint8_t)at->n;
    at->span->str_used = (uint16_t)at->used;
}

/* How much of val fits in room bytes, cut between characters. Out of line
 * and cold: inlined, the cut made ts_attrs_str too large for GCC to inline,
 * and every attribute of a span then paid a call and a copy of unknown
 * length (about 50 instructions each, 270 a request: bench/PROFILE.md). */
size_t ts_attrs_cut_(const char *val, size_t room) __attribute__((cold, noinline));

/* Copy len bytes into the span's string buffer; returns the offset and sets
 * *stored to what fitted. */
static inline uint16_t ts_attrs_store_(struct ts_attrs *at, const char *val, size_t len,
                                       uint16_t *stored)
{
    size_t room = TS_SPAN_STRBUF - at->used;
    if (__builtin_expect(len > room, 0)) {
        size_t whole = ts_attrs_cut_(val, room); /* (<= room < len; the min says so to GCC) */
        len = whole < len ? whole : len;
    }
    size_t off = at->used;
    ts_span_copy_(at->span->str + off, val, len);
    at->used = off + len;
    *stored = (uint16_t)len;
    return (uint16_t)off;
}

/* String bytes left in the span for the attributes still to come. */
static inline size_t ts_attrs_room_left(const struct ts_attrs *at)
{
    return TS_SPAN_STRBUF - at->used;
}

/* One more attribute left out for want of a slot (OTLP's
 * dropped_attributes_count). */
static inline void ts_span_attr_dropped(struct ts_span *s)
{
    if (s->dropped_attrs < UINT8_MAX)
        s->dropped_attrs++;
}

/* The next attribute slot, or NULL when all are taken (the attribute is
 * counted as dropped). */
static inline struct ts_attr *ts_attrs_new_(struct ts_attrs *at)
{
    if (__builtin_expect(at->n < TS_SPAN_MAX_ATTRS, 1))
        return &at->span->attrs[at->n++];
    ts_span_attr_dropped(at->span);
    return NULL;
}

/* Add attributes. Values are copied; a value that does not fit is truncated,
 * an attribute past TS_SPAN_MAX_ATTRS is dropped. Setting a key that is
 * already present adds a second entry: callers set each key once.
 * ts_attrs_str returns the attribute (NULL when dropped), so that another
 * attribute with the same value can share its bytes (ts_attrs_ref). */
static inline const struct ts_attr *ts_attrs_str(struct ts_attrs *at, const char *key,
                                                 const char *val, size_t len)
{
    struct ts_attr *a = ts_attrs_new_(at);
    if (a) {
        uint16_t stored;
        uint16_t off = ts_attrs_store_(at, val, len, &stored);
        *a = (struct ts_attr){.key = key, .type = TS_ATTR_STR, .off = off, .len = stored};
    }
    return a;
}

/* A string attribute whose value is bytes the span already holds,
 * str[off .. off+len) within str_used (part of its name, another
 * attribute's value): no copy, and no room taken. */
static inline void ts_attrs_ref(struct ts_attrs *at, const char *key, uint16_t off, uint16_t len)
{
    struct ts_attr *a = ts_attrs_new_(at);
    if (a)
        *a = (struct ts_attr){.key = key, .type = TS_ATTR_STR, .off = off, .len = len};
}

/* Inline, so that a literal value's length is known at compile time. */
static inline void ts_attrs_cstr(struct ts_attrs *at, const char *key, const char *val)
{
    ts_attrs_str(at, key, val, strlen(val));
}
static inline void ts_attrs_int(struct ts_attrs *at, const char *key, int64_t val)
{
    struct ts_attr *a = ts_attrs_new_(at);
    if (a)
        *a = (struct ts_attr){.key = key, .type = TS_ATTR_INT, .num = val};
}
static inline void ts_attrs_bool(struct ts_attrs *at, const char *key, bool val)
{
    struct ts_attr *a = ts_attrs_new_(at);
    if (a)
        *a = (struct ts_attr){.key = key, .type = TS_ATTR_BOOL, .num = val};
}

/* A name written in place, without a copy: the caller writes into the
 * free part of the string buffer (TS_SPAN_STRBUF - used bytes from the
 * pointer returned), then says how many bytes it used there, the name
 * being the first name_len of them (the rest: values that attributes refer
 * to with ts_attrs_ref). */
static inline char *ts_attrs_room(const struct ts_attrs *at)
{
    return at->span->str + at->used;
}
static inline void ts_attrs_name_written(struct ts_attrs *at, size_t name_len, size_t used)
{
    at->span->name_off = (uint16_t)at->used;
    at->span->name_len = (uint16_t)name_len;
    at->used += used;
}

/* The span's tracestate, copied into its string buffer whole or not at
 * all (a tracestate cut short is not valid). After the name: a span is
 * named into an empty buffer (hooks/conn_spans.c). */
static inline void ts_span_set_trace_state(struct ts_span *s, const char *val, size_t len)
{
    if (s->str_used > TS_SPAN_STRBUF || len > (size_t)(TS_SPAN_STRBUF - s->str_used))
        return;
    memcpy(s->str + s->str_used, val, len);
    s->trace_state_off = s->str_used;
    s->trace_state_len = (uint16_t)len;
    s->str_used = (uint16_t)(s->str_used + len);
}

/* The same one at a time, on the span itself (a cursor for one). */
static inline void ts_span_set_name(struct ts_span *s, const char *name, size_t len)
{
    struct ts_attrs at = ts_attrs_begin(s);
    s->name_off = ts_attrs_store_(&at, name, len, &s->name_len);
    ts_attrs_end(&at);
}
static inline const struct ts_attr *ts_span_attr_str(struct ts_span *s, const char *key,
                                                     const char *val, size_t len)
{
    struct ts_attrs at = ts_attrs_begin(s);
    const struct ts_attr *a = ts_attrs_str(&at, key, val, len);
    ts_attrs_end(&at);
    return a;
}
static inline void ts_span_attr_ref(struct ts_span *s, const char *key, uint16_t off, uint16_t len)
{
    struct ts_attrs at = ts_attrs_begin(s);
    ts_attrs_ref(&at, key, off, len);
    ts_attrs_end(&at);
}
static inline void ts_span_attr_cstr(struct ts_span *s, const char *key, const char *val)
{
    ts_span_attr_str(s, key, val, strlen(val));
}
static inline void ts_span_attr_int(struct ts_span *s, const char *key, int64_t val)
{
    struct ts_attrs at = ts_attrs_begin(s);
    ts_attrs_int(&at, key, val);
    ts_attrs_end(&at);
}
static inline void ts_span_attr_bool(struct ts_span *s, const char *key, bool val)
{
    struct ts_attrs at = ts_attrs_begin(s);
    ts_attrs_bool(&at, key, val);
    ts_attrs_end(&at);
}

/* Lookups for encoders and tests: the attribute with this key, or NULL. */
const struct ts_attr *ts_span_attr_find(const struct ts_span *s, const char *key);

/* Pointer to a string attribute's bytes / the name (not NUL-terminated). */
static inline const char *ts_span_attr_sval(const struct ts_span *s, const struct ts_attr *a)
{
    return s->str + a->off;
}
static inline const char *ts_span_name(const struct ts_span *s)
{
    return s->str + s->name_off;
}

/* For encoders: a string stored in the span's buffer, off..off+len, clamped
 * to the part of the buffer in use (str_used, itself at most the buffer)
 * so that a damaged record can never make an encoder read outside the
 * span, nor outside a queue record, which holds only that part (an offset
 * past it gives an empty string there). Every string a span is given lies
 * within it. Sets *n to its length. */
static inline const char *ts_span_bytes(const struct ts_span *s, uint16_t off, uint16_t len,
                                        size_t *n)
{
    size_t used = s->str_used < TS_SPAN_STRBUF ? s->str_used : TS_SPAN_STRBUF;
    size_t o = off < used ? off : used;
    *n = len < used - o ? len : used - o;
    return s->str + o;
}

/* String bytes a span has left (str_used clamped to the buffer): for
 * attributes added on the reporter side. */
static inline size_t ts_span_str_room(const struct ts_span *s)
{
    return s->str_used < TS_SPAN_STRBUF ? TS_SPAN_STRBUF - s->str_used : 0;
}

/* For encoders: how many attributes to look at, clamped to the array (a
 * damaged record must not walk past it). */
static inline size_t ts_span_nattrs(const struct ts_span *s)
{
    return s->nattrs < TS_SPAN_MAX_ATTRS ? s->nattrs : TS_SPAN_MAX_ATTRS;
}

/* How many entries of frames[] to look at, clamped likewise. */
static inline size_t ts_span_nframes(const struct ts_span *s)
{
    return s->nframes < TS_SPAN_MAX_FRAMES ? s->nframes : TS_SPAN_MAX_FRAMES;
}

/* True when every byte of id[0..n) is zero: a word at a time, as ids are
 * whole words (8 or 16 bytes). */
static inline bool ts_id_is_zero(const uint8_t *id, size_t n)
{
    uint64_t seen = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t word;
        memcpy(&word, id + i, 8);
        seen |= word;
    }
    for (; i < n; i++)
        seen |= id[i];
    return seen == 0;
}

/* Eight bytes of an id (p[0..8)) as the big-endian number they spell: a
 * span id, or either half of a trace id. */
static inline uint64_t ts_id_u64(const uint8_t *p)
{
    /* one load and (on a little-endian machine) a byte swap: gcc did not
     * see one in a loop of shifts (about 17 instructions an id) */
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return be64toh(v);
}

#endif
