/* trace_model.c — see trace_model.h. Spans are kept in one growable array in
 * input order; all their strings live in an arena owned by the model. Two
 * hash maps find a trace by id and a span by (trace, span id) while lines are
 * added; ts_tm_build then links parents with those maps and walks each tree
 * iteratively (no recursion, so any depth is safe), ordering a span's
 * children as it is placed, by where they are drawn to start. */
#include "cli/trace_model.h"
#include "cli/trace_layout.h"
#include "common/arena.h"

#include "common/json_read.h"

#include "preload/hex.h"
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#define NONE ((size_t)-1)
#define MAX_REPORTED_LINES 20

/* ---- memory helpers ---- */

typedef struct {
    char *s;
    size_t len, cap;
    bool oom;
} tm_buf;

typedef struct {
    char id[33];
    size_t n;                  /* spans in this trace */
    uint64_t start_ns, end_ns; /* over its spans */
    uint64_t started_ns;       /* ts_tm_trace.started_ns, the sort key */
    size_t off;                /* first slot in the build arrays */
    ts_tm_trace pub;
} tm_trace;

struct ts_tm_model {
    struct ts_arena arena;
    ts_tm_span *spans;
    size_t *span_trace; /* trace index of each span */
    size_t n_spans, cap_spans, cap_span_trace;
    tm_trace *traces;
    size_t n_traces, cap_traces;
    /* open addressing, linear probing; a slot holds index + 1, 0 is empty.
     * span_map: one slot per (trace, span id), the first span added with
     * it; copy_map: the spans whose id another span of their trace has
     * too, by their whole content. A span id used many times costs a
     * probe or two per span, not a walk over every earlier span with it
     * (40,000 spans of one id took 13 s). */
    size_t *span_map, span_map_cap, span_map_n;
    size_t *copy_map, copy_map_cap, copy_map_n;
    size_t *trace_map, trace_map_cap;
    const char **svcs;
    size_t n_svcs, cap_svcs;
    size_t *svc_map, svc_map_cap;
    /* resources (processes), interned by content */
    ts_tm_resource **res;
    uint64_t *res_hash;
    size_t n_res, cap_res, cap_res_hash;
    size_t *res_map, res_map_cap;
    /* results of ts_tm_build */
    const ts_tm_span **order;
    unsigned *depth;
    size_t *parent_pos;
    int64_t *shift_ns;
    const tm_trace **sorted;
    bool built;
    /* scratch reused while adding lines */
    tm_buf text;
    ts_tm_attr *attr_tmp;
    size_t attr_cap;
};

static void *arena_alloc(ts_tm_model *m, size_t n)
{
    return ts_arena_alloc(&m->arena, n);
}

static const char *arena_strndup(ts_tm_model *m, const char *s, size_t n)
{
    char *d = arena_alloc(m, n + 1);
    if (!d)
        return NULL;
    if (n)
        memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

/* Grows the array *pp (of *cap elements of size sz) to hold at least need.
 * pp is any T ** ; the pointer is moved with memcpy so no cast through
 * void ** is needed. */
static bool grow(void *pp, size_t *cap, size_t need, size_t sz)
{
    if (need <= *cap)
        return true;
    size_t c = *cap ? *cap : 16;
    while (c < need) {
        if (c > SIZE_MAX / 2 / sz)
            return false;
        c *= 2;
    }
    void *p;
    memcpy(&p, pp, sizeof(p));
    void *n = realloc(p, c * sz);
    if (!n)
        return false;
    memcpy(pp, &n, sizeof(n));
    *cap = c;
    return true;
}

static void buf_put(tm_buf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (!grow(&b->s, &b->cap, b->len + n + 1, 1)) {
        b->oom = true;
        return;
    }
    if (n)
        memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void buf_puts(tm_buf *b, const char *s)
{
    buf_put(b, s, strlen(s));
}

/* ---- hashing ---- */

static uint64_t hash_bytes(const char *s, size_t n, uint64_t seed)
{
    uint64_t h = 1469598103934665603ULL ^ seed;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    /* FNV's low bits mix poorly for short keys; finish like splitmix64. */
    h ^= h >> 31;
    h *= 0x9E3779B97F4A7C15ULL;
    h ^= h >> 29;
    return h;
}

static uint64_t span_key_hash(size_t trace, const char *span_id)
{
    return hash_bytes(span_id, 16, (uint64_t)trace * 0x9E3779B97F4A7C15ULL);
}

/* Same id, same trace, same content: the same span delivered twice (an
 * exporter retry, or a file concatenated with itself). */
static bool same_span(const ts_tm_span *a, const ts_tm_span *b)
{
    return a->start_ns == b->start_ns && a->end_ns == b->end_ns &&
           strcmp(a->parent_id, b->parent_id) == 0 && strcmp(a->name, b->name) == 0 &&
           a->resource == b->resource;
}

/* The hash of what same_span compares, with the trace and the span id. */
static uint64_t span_copy_hash(size_t trace, const ts_tm_span *s)
{
    uint64_t h = span_key_hash(trace, s->span_id);
    h = hash_bytes(s->parent_id, strlen(s->parent_id), h);
    h = hash_bytes(s->name, strlen(s->name), h);
    const uint64_t numbers[3] = {s->start_ns, s->end_ns, (uint64_t)(uintptr_t)s->resource};
    return hash_bytes((const char *)numbers, sizeof numbers, h);
}

static uint64_t span_key_of(const ts_tm_model *m, size_t idx)
{
    return span_key_hash(m->span_trace[idx], m->spans[idx].span_id);
}

static uint64_t span_copy_key_of(const ts_tm_model *m, size_t idx)
{
    return span_copy_hash(m->span_trace[idx], &m->spans[idx]);
}

static void span_map_put_slot(size_t *map, size_t cap, uint64_t h, size_t idx)
{
    size_t mask = cap - 1;
    size_t i = h & mask;
    while (map[i])
        i = (i + 1) & mask;
    map[i] = idx + 1;
}

/* Puts span idx into the index *map of *cap slots, *n entries, growing it
 * to keep the load factor below 1/2 (key gives an entry's hash). */
static bool span_index_insert(const ts_tm_model *m, size_t **map, size_t *cap, size_t *n,
                              uint64_t (*key)(const ts_tm_model *, size_t), size_t idx)
{
    if ((*n + 1) * 2 > *cap) {
        size_t c = *cap ? *cap * 2 : 1024;
        if (c > SIZE_MAX / sizeof(size_t))
            return false;
        size_t *grown = calloc(c, sizeof(size_t));
        if (!grown)
            return false;
        for (size_t i = 0; i < *cap; i++)
            if ((*map)[i])
                span_map_put_slot(grown, c, key(m, (*map)[i] - 1), (*map)[i] - 1);
        free(*map);
        *map = grown;
        *cap = c;
    }
    span_map_put_slot(*map, *cap, key(m, idx), idx);
    (*n)++;
    return true;
}

/* What a lookup in span_map or copy_map looks for: a span of this trace
 * with this span id (and, for copy_map, this content). */
typedef struct {
    size_t trace;
    const char *span_id;
    const ts_tm_span *copy_of; /* NULL: any content */
} span_probe;

/* The entry of the index map (cap slots) with hash h that matches probe,
 * or NONE. */
static size_t span_index_find(const ts_tm_model *m, const size_t *map, size_t cap, uint64_t h,
                              const span_probe *probe)
{
    if (!cap)
        return NONE;
    size_t mask = cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        size_t v = map[i];
        if (!v)
            return NONE;
        const ts_tm_span *o = &m->spans[v - 1];
        if (m->span_trace[v - 1] == probe->trace && memcmp(o->span_id, probe->span_id, 16) == 0 &&
            (!probe->copy_of || same_span(o, probe->copy_of)))
            return v - 1;
    }
}

/* Returns the span with this id in this trace (the first added, when the
 * id was used twice), or NONE. */
static size_t span_map_find(const ts_tm_model *m, size_t trace, const char *span_id)
{
    const span_probe probe = {trace, span_id, NULL};
    return span_index_find(m, m->span_map, m->span_map_cap, span_key_hash(trace, span_id), &probe);
}

/* Returns the span of copy_map that sp (of this trace) is a copy of, or NONE. */
static size_t copy_map_find(const ts_tm_model *m, size_t trace, const ts_tm_span *sp)
{
    const span_probe probe = {trace, sp->span_id, sp};
    return span_index_find(m, m->copy_map, m->copy_map_cap, span_copy_hash(trace, sp), &probe);
}

/* Inserts span idx, the first of its id in its trace. */
static bool span_map_insert(ts_tm_model *m, size_t idx)
{
    return span_index_insert(m, &m->span_map, &m->span_map_cap, &m->span_map_n, span_key_of, idx);
}

/* Inserts span idx, one of an id used more than once in its trace. */
static bool copy_map_insert(ts_tm_model *m, size_t idx)
{
    return span_index_insert(m, &m->copy_map, &m->copy_map_cap, &m->copy_map_n, span_copy_key_of,
                             idx);
}

/* Index of the trace with this id, created when new; NONE when out of memory. */
static size_t trace_get(ts_tm_model *m, const char *id)
{
    if ((m->n_traces + 1) * 2 > m->trace_map_cap) {
        size_t cap = m->trace_map_cap ? m->trace_map_cap * 2 : 256;
        if (cap > SIZE_MAX / sizeof(size_t))
            return NONE;
        size_t *map = calloc(cap, sizeof(size_t));
        if (!map)
            return NONE;
        for (size_t t = 0; t < m->n_traces; t++)
            span_map_put_slot(map, cap, hash_bytes(m->traces[t].id, 32, 0), t);
        free(m->trace_map);
        m->trace_map = map;
        m->trace_map_cap = cap;
    }
    size_t mask = m->trace_map_cap - 1;
    size_t i = hash_bytes(id, 32, 0) & mask;
    for (; m->trace_map[i]; i = (i + 1) & mask) {
        size_t t = m->trace_map[i] - 1;
        if (memcmp(m->traces[t].id, id, 32) == 0)
            return t;
    }
    if (!grow(&m->traces, &m->cap_traces, m->n_traces + 1, sizeof(tm_trace)))
        return NONE;
    tm_trace *t = &m->traces[m->n_traces];
    memset(t, 0, sizeof(*t));
    memcpy(t->id, id, 33);
    t->start_ns = UINT64_MAX;
    m->trace_map[i] = ++m->n_traces;
    return m->n_traces - 1;
}

/* Interns a service name so equal names share one pointer and one svc_id. */
static bool svc_intern(ts_tm_model *m, const char *name, size_t len, size_t *id)
{
    if ((m->n_svcs + 1) * 2 > m->svc_map_cap) {
        size_t cap = m->svc_map_cap ? m->svc_map_cap * 2 : 64;
        if (cap > SIZE_MAX / sizeof(size_t))
            return false;
        size_t *map = calloc(cap, sizeof(size_t));
        if (!map)
            return false;
        for (size_t s = 0; s < m->n_svcs; s++)
            span_map_put_slot(map, cap, hash_bytes(m->svcs[s], strlen(m->svcs[s]), 0), s);
        /* only this index moves: the resources refer to a service by its
         * svc_id and its arena copy, both unchanged by the growth */
        free(m->svc_map);
        m->svc_map = map;
        m->svc_map_cap = cap;
    }
    size_t mask = m->svc_map_cap - 1;
    size_t i = hash_bytes(name, len, 0) & mask;
    for (; m->svc_map[i]; i = (i + 1) & mask) {
        const char *s = m->svcs[m->svc_map[i] - 1];
        if (strlen(s) == len && memcmp(s, name, len) == 0) {
            *id = m->svc_map[i] - 1;
            return true;
        }
    }
    if (!grow(&m->svcs, &m->cap_svcs, m->n_svcs + 1, sizeof(char *)))
        return false;
    const char *copy = arena_strndup(m, name, len);
    if (!copy)
        return false;
    m->svcs[m->n_svcs] = copy;
    m->svc_map[i] = ++m->n_svcs;
    *id = m->n_svcs - 1;
    return true;
}

/* ---- model life ---- */

ts_tm_model *ts_tm_new(void)
{
    return calloc(1, sizeof(ts_tm_model));
}

static void free_build(ts_tm_model *m)
{
    free(m->order);
    free(m->depth);
    free(m->parent_pos);
    free(m->shift_ns);
    free(m->sorted);
    m->order = NULL;
    m->depth = NULL;
    m->parent_pos = NULL;
    m->shift_ns = NULL;
    m->sorted = NULL;
    m->built = false;
}

void ts_tm_free(ts_tm_model *m)
{
    if (!m)
        return;
    free_build(m);
    ts_arena_free(&m->arena);
    free(m->spans);
    free(m->span_trace);
    free(m->traces);
    free(m->span_map);
    free(m->copy_map);
    free(m->trace_map);
    free(m->svcs);
    free(m->svc_map);
    free(m->res);
    free(m->res_hash);
    free(m->res_map);
    free(m->text.s);
    free(m->attr_tmp);
    free(m);
}

/* ---- reading OTLP/JSON values ---- */

static int b64val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

/* Normalises an OTLP trace or span id of nbytes bytes to lower-case hex in
 * out (2*nbytes+1 chars). OTLP/JSON says hex, but some producers follow the
 * plain protobuf JSON mapping and write base64, and 64-bit trace ids appear
 * as 16 hex digits; shorter ids are left-padded with zeros as B3 does. */
static bool norm_id(const ts_json *v, size_t nbytes, char *out)
{
    size_t len;
    const char *s = ts_json_string(v, &len);
    if (!s || len == 0)
        return false;
    size_t nhex = 2 * nbytes;
    bool all_hex = true;
    for (size_t i = 0; i < len && all_hex; i++)
        all_hex = ts_hex_digit((unsigned char)s[i]) >= 0;
    if (all_hex && len <= nhex) {
        memset(out, '0', nhex - len);
        for (size_t i = 0; i < len; i++)
            out[nhex - len + i] = "0123456789abcdef"[ts_hex_digit((unsigned char)s[i])];
        out[nhex] = '\0';
        return true;
    }
    while (len > 0 && s[len - 1] == '=')
        len--;
    unsigned char bytes[16];
    size_t nb = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int b = b64val(s[i]);
        if (b < 0)
            return false;
        acc = (acc << 6) | (uint32_t)b;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (nb == nbytes)
                return false;
            bytes[nb++] = (unsigned char)(acc >> bits);
        }
    }
    if (nb == 0)
        return false;
    size_t pad = nbytes - nb;
    memset(out, '0', 2 * pad);
    for (size_t i = 0; i < nb; i++) {
        out[2 * (pad + i)] = "0123456789abcdef"[bytes[i] >> 4];
        out[2 * (pad + i) + 1] = "0123456789abcdef"[bytes[i] & 15];
    }
    out[nhex] = '\0';
    return true;
}

static bool all_zero(const char *hex)
{
    for (; *hex; hex++)
        if (*hex != '0')
            return false;
    return true;
}

/* The text of a JSON number (as written) or string, for integer parsing. */
static const char *int_text(const ts_json *v, size_t *len)
{
    if (ts_json_is(v, TS_JSON_NUMBER)) {
        *len = v->len;
        return v->u.str;
    }
    return ts_json_string(v, len);
}

/* Parses an unsigned decimal integer exactly (OTLP's 64-bit fields arrive as
 * strings or as numbers too wide for a double); a value written with a
 * fraction or exponent, like 1.7e18, goes through a double instead. */
static bool text_to_u64(const char *s, size_t len, uint64_t *out)
{
    if (!s || len == 0)
        return false;
    uint64_t v = 0;
    size_t i = 0;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (i == len) {
        *out = v;
        return true;
    }
    if (strspn(s, "0123456789.eE+-") != len)
        return false;
    char *end;
    double d = strtod(s, &end);
    if (end != s + len) /* "+", "9-9": not a number, however strtod starts */
        return false;
    /* the range test is false for NaN too; casting back rejects fractions
     * without needing libm */
    if (!(d >= 0 && d < 18446744073709551616.0) || d != (double)(uint64_t)d)
        return false;
    *out = (uint64_t)d;
    return true;
}

static bool json_u64(const ts_json *v, uint64_t *out)
{
    size_t len = 0;
    const char *s = int_text(v, &len);
    return text_to_u64(s, len, out);
}

static bool json_i64(const ts_json *v, long long *out)
{
    size_t len = 0;
    const char *s = int_text(v, &len);
    if (!s || len == 0)
        return false;
    bool neg = s[0] == '-';
    uint64_t u;
    if (!text_to_u64(s + neg, len - neg, &u))
        return false;
    if (neg ? u > (uint64_t)LLONG_MAX + 1 : u > (uint64_t)LLONG_MAX)
        return false;
    *out = neg ? (long long)(0 - u) : (long long)u;
    return true;
}

/* Matches an enum given as number or as name, with or without its prefix
 * ("SPAN_KIND_SERVER", "server"); -1 when neither. */
static int enum_value(const ts_json *v, const char *prefix, const char *const *names, int n)
{
    long long num;
    if (json_i64(v, &num))
        return num >= 0 && num < n ? (int)num : -1;
    const char *s = ts_json_string(v, NULL);
    if (!s)
        return -1;
    size_t pl = strlen(prefix);
    if (strncasecmp(s, prefix, pl) == 0)
        s += pl;
    for (int i = 0; i < n; i++)
        if (strcasecmp(s, names[i]) == 0)
            return i;
    return -1;
}

/* Appends an OTLP AnyValue as text: scalars as written, arrays as [a, b],
 * key-value lists as {k=v, ...}; bytes stay base64. */
static void any_to_text(tm_buf *b, const ts_json *v)
{
    const ts_json *x;
    const char *s;
    size_t len;
    bool bv;
    if ((x = ts_json_get(v, "stringValue")) != NULL) {
        if ((s = ts_json_string(x, &len)) != NULL)
            buf_put(b, s, len);
    } else if ((x = ts_json_get(v, "boolValue")) != NULL) {
        if (ts_json_bool(x, &bv))
            buf_puts(b, bv ? "true" : "false");
        else if ((s = ts_json_string(x, &len)) != NULL)
            buf_put(b, s, len);
    } else if ((x = ts_json_get(v, "intValue")) != NULL ||
               (x = ts_json_get(v, "doubleValue")) != NULL ||
               (x = ts_json_get(v, "bytesValue")) != NULL) {
        /* numbers keep the literal as written; proto3 JSON may also use
         * strings here ("123", "NaN") */
        if ((s = int_text(x, &len)) != NULL)
            buf_put(b, s, len);
    } else if ((x = ts_json_get(v, "arrayValue")) != NULL) {
        const ts_json *vals = ts_json_get(x, "values");
        buf_puts(b, "[");
        for (size_t i = 0; i < ts_json_len(vals); i++) {
            if (i)
                buf_puts(b, ", ");
            any_to_text(b, ts_json_at(vals, i));
        }
        buf_puts(b, "]");
    } else if ((x = ts_json_get(v, "kvlistValue")) != NULL) {
        const ts_json *vals = ts_json_get(x, "values");
        buf_puts(b, "{");
        for (size_t i = 0; i < ts_json_len(vals); i++) {
            const ts_json *kv = ts_json_at(vals, i);
            if (i)
                buf_puts(b, ", ");
            if ((s = ts_json_string(ts_json_get(kv, "key"), &len)) != NULL)
                buf_put(b, s, len);
            buf_puts(b, "=");
            any_to_text(b, ts_json_get(kv, "value"));
        }
        buf_puts(b, "}");
    }
}

/* An integer attribute given as intValue (string or number) or as a numeric
 * stringValue, as older producers write HTTP status codes. */
static bool attr_int(const ts_json *attrs, const char *key, long long *out)
{
    const ts_json *v = ts_json_otlp_attr(attrs, key);
    if (!v)
        return false;
    const ts_json *x = ts_json_get(v, "intValue");
    if (!x)
        x = ts_json_get(v, "stringValue");
    return json_i64(x, out);
}

/* Reads an OTLP attribute list (key/value objects) into the arena, values
 * as text; entries without a string key are left out. Returns 0 or -2 when
 * out of memory. */
static int read_attrs(ts_tm_model *m, const ts_json *attrs, const ts_tm_attr **out, size_t *n_out)
{
    size_t na = 0, len;
    *out = NULL;
    *n_out = 0;
    for (size_t i = 0; i < ts_json_len(attrs); i++) {
        const ts_json *kv = ts_json_at(attrs, i);
        const char *key = ts_json_string(ts_json_get(kv, "key"), &len);
        if (!key)
            continue;
        if (!grow(&m->attr_tmp, &m->attr_cap, na + 1, sizeof(ts_tm_attr)))
            return -2;
        m->text.len = 0;
        m->text.oom = false;
        buf_put(&m->text, "", 0);
        any_to_text(&m->text, ts_json_get(kv, "value"));
        if (m->text.oom)
            return -2;
        m->attr_tmp[na].key = arena_strndup(m, key, len);
        m->attr_tmp[na].value = arena_strndup(m, m->text.s, m->text.len);
        if (!m->attr_tmp[na].key || !m->attr_tmp[na].value)
            return -2;
        na++;
    }
    if (na) {
        ts_tm_attr *a = arena_alloc(m, na * sizeof(*a));
        if (!a)
            return -2;
        memcpy(a, m->attr_tmp, na * sizeof(*a));
        *out = a;
        *n_out = na;
    }
    return 0;
}

/* Hash of a resource's content: its service and every attribute in order. */
static uint64_t resource_hash(size_t svc_id, const ts_tm_attr *attrs, size_t n)
{
    uint64_t h = hash_bytes("", 0, (uint64_t)svc_id);
    for (size_t i = 0; i < n; i++) {
        h = hash_bytes(attrs[i].key, strlen(attrs[i].key), h);
        h = hash_bytes(attrs[i].value, strlen(attrs[i].value), h);
    }
    return h;
}

static bool same_resource(const ts_tm_resource *r, size_t svc_id, const ts_tm_attr *attrs, size_t n)
{
    if (r->svc_id != svc_id || r->n_attrs != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(r->attrs[i].key, attrs[i].key) != 0 ||
            strcmp(r->attrs[i].value, attrs[i].value) != 0)
            return false;
    return true;
}

/* The resource (the process) of one resourceSpans entry. A process writes
 * the same resource on every line, so identical ones are shared: the
 * report then lists each process once. Returns 0, or -2 when out of memory. */
static int resource_get(ts_tm_model *m, const ts_json *rattrs, const char *svc, size_t slen,
                        const ts_tm_resource **out)
{
    size_t svc_id, n_attrs;
    const ts_tm_attr *attrs;
    if (!svc_intern(m, svc, slen, &svc_id) || read_attrs(m, rattrs, &attrs, &n_attrs) != 0)
        return -2;
    if ((m->n_res + 1) * 2 > m->res_map_cap) {
        size_t cap = m->res_map_cap ? m->res_map_cap * 2 : 64;
        size_t *map = cap < SIZE_MAX / sizeof(size_t) ? calloc(cap, sizeof(size_t)) : NULL;
        if (!map)
            return -2;
        for (size_t r = 0; r < m->n_res; r++)
            span_map_put_slot(map, cap, m->res_hash[r], r);
        free(m->res_map);
        m->res_map = map;
        m->res_map_cap = cap;
    }
    uint64_t h = resource_hash(svc_id, attrs, n_attrs);
    size_t mask = m->res_map_cap - 1, i = h & mask;
    for (; m->res_map[i]; i = (i + 1) & mask) {
        const ts_tm_resource *r = m->res[m->res_map[i] - 1];
        if (same_resource(r, svc_id, attrs, n_attrs)) {
            *out = r;
            return 0;
        }
    }
    ts_tm_resource *r = arena_alloc(m, sizeof(*r));
    if (!r || !grow(&m->res, &m->cap_res, m->n_res + 1, sizeof(*m->res)) ||
        !grow(&m->res_hash, &m->cap_res_hash, m->n_res + 1, sizeof(*m->res_hash)))
        return -2;
    memset(r, 0, sizeof(*r));
    r->service = m->svcs[svc_id];
    r->svc_id = svc_id;
    r->host = "";
    r->attrs = attrs;
    r->n_attrs = n_attrs;
    r->id = m->n_res;
    if (!attr_int(rattrs, "process.pid", &r->pid))
        r->pid = -1;
    for (size_t a = 0; a < n_attrs; a++)
        if (strcmp(attrs[a].key, "host.name") == 0)
            r->host = attrs[a].value;
    m->res[m->n_res] = r;
    m->res_hash[m->n_res] = h;
    m->res_map[i] = ++m->n_res;
    *out = r;
    return 0;
}

/* ---- adding spans ---- */

typedef struct {
    size_t total, skipped;
    char first[160]; /* the first reason a span was skipped */
} line_report;

static void report_skip(line_report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report_skip(line_report *r, const char *fmt, ...)
{
    r->skipped++;
    if (r->skipped > 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->first, sizeof(r->first), fmt, ap);
    va_end(ap);
}

static const char *const kind_names[] = {"UNSPECIFIED", "INTERNAL", "SERVER",
                                         "CLIENT",      "PRODUCER", "CONSUMER"};
static const char *const status_names[] = {"UNSET", "OK", "ERROR"};

/* Adds one OTLP span object. Returns 1 when added, 0 when skipped (reason
 * recorded in r) or an identical copy, -2 when out of memory. */
static int add_span(ts_tm_model *m, const ts_json *js, const ts_tm_resource *res, size_t lineno,
                    line_report *r)
{
    ts_tm_span sp;
    memset(&sp, 0, sizeof(sp));
    size_t idx = r->total + 1; /* 1-based, as people count */
    if (!ts_json_is(js, TS_JSON_OBJECT)) {
        report_skip(r, "span %zu is not an object", idx);
        return 0;
    }
    if (!norm_id(ts_json_get(js, "traceId"), 16, sp.trace_id)) {
        report_skip(r, "span %zu: traceId missing or not a hex id", idx);
        return 0;
    }
    if (!norm_id(ts_json_get(js, "spanId"), 8, sp.span_id)) {
        report_skip(r, "span %zu: spanId missing or not a hex id", idx);
        return 0;
    }
    const ts_json *pj = ts_json_get(js, "parentSpanId");
    size_t plen = 0;
    if (ts_json_string(pj, &plen) && plen > 0) {
        if (!norm_id(pj, 8, sp.parent_id)) {
            report_skip(r, "span %zu: parentSpanId is not a hex id", idx);
            return 0;
        }
        if (all_zero(sp.parent_id)) /* Zipkin/Jaeger spell "no parent" as 0 */
            sp.parent_id[0] = '\0';
    } else if (pj && !ts_json_is(pj, TS_JSON_NULL) && !ts_json_is(pj, TS_JSON_STRING)) {
        report_skip(r, "span %zu: parentSpanId is not a string", idx);
        return 0;
    }
    if (!json_u64(ts_json_get(js, "startTimeUnixNano"), &sp.start_ns)) {
        report_skip(r, "span %zu: startTimeUnixNano missing or not an integer", idx);
        return 0;
    }
    const ts_json *ej = ts_json_get(js, "endTimeUnixNano");
    if (!json_u64(ej, &sp.end_ns)) {
        if (ej) {
            report_skip(r, "span %zu: endTimeUnixNano is not an integer", idx);
            return 0;
        }
        sp.end_ns = sp.start_ns; /* never finished: draw it as an instant */
    }
    if (sp.end_ns < sp.start_ns)
        sp.end_ns = sp.start_ns;

    size_t len;
    const char *name = ts_json_string(ts_json_get(js, "name"), &len);
    sp.name = arena_strndup(m, name ? name : "", name ? len : 0);
    if (!sp.name)
        return -2;
    int k = enum_value(ts_json_get(js, "kind"), "SPAN_KIND_", kind_names, 6);
    sp.kind = k < 0 ? TS_TM_KIND_UNSPECIFIED : k;
    const ts_json *st = ts_json_get(js, "status");
    int c = enum_value(ts_json_get(st, "code"), "STATUS_CODE_", status_names, 3);
    sp.status = c < 0 ? TS_TM_STATUS_UNSET : c;
    const char *msg = ts_json_string(ts_json_get(st, "message"), &len);
    sp.status_message = msg ? arena_strndup(m, msg, len) : "";
    if (!sp.status_message)
        return -2;
    sp.service = res->service;
    sp.svc_id = res->svc_id;
    sp.pid = res->pid;
    sp.resource = res;
    sp.line = lineno;

    const ts_json *attrs = ts_json_get(js, "attributes");
    long long hs;
    if (attr_int(attrs, "http.response.status_code", &hs) ||
        attr_int(attrs, "http.status_code", &hs))
        sp.http_status = hs > 0 && hs < 1000 ? (int)hs : 0;
    if (read_attrs(m, attrs, &sp.attrs, &sp.n_attrs) != 0)
        return -2;

    size_t t = trace_get(m, sp.trace_id);
    if (t == NONE)
        return -2;
    size_t first = span_map_find(m, t, sp.span_id);
    if (first != NONE) {
        /* a copy of any of the spans with this id (not only the first):
         * from an id's second span on, its spans are in copy_map, the
         * first too */
        if (copy_map_find(m, t, &m->spans[first]) == NONE && !copy_map_insert(m, first))
            return -2;
        if (copy_map_find(m, t, &sp) != NONE)
            return 0;
        sp.flags |= TS_TM_DUPLICATE_ID;
    }
    if (!grow(&m->spans, &m->cap_spans, m->n_spans + 1, sizeof(ts_tm_span)))
        return -2;
    if (!grow(&m->span_trace, &m->cap_span_trace, m->n_spans + 1, sizeof(size_t)))
        return -2;
    sp.seq = m->n_spans;
    m->spans[m->n_spans] = sp;
    m->span_trace[m->n_spans] = t;
    if (first == NONE ? !span_map_insert(m, m->n_spans) : !copy_map_insert(m, m->n_spans))
        return -2;
    m->n_spans++;
    tm_trace *tr = &m->traces[t];
    tr->n++;
    if (sp.start_ns < tr->start_ns)
        tr->start_ns = sp.start_ns;
    if (sp.end_ns > tr->end_ns)
        tr->end_ns = sp.end_ns;
    m->built = false;
    return 1;
}

int ts_tm_add_line(ts_tm_model *m, const char *line, size_t len, size_t lineno, char *err,
                   size_t errsz)
{
    char dummy[1];
    if (!err || errsz == 0) {
        err = dummy;
        errsz = sizeof(dummy);
    }
    err[0] = '\0';
    if (len >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0) { /* a byte order mark */
        line += 3;
        len -= 3;
    }
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r' || line[i] == '\n'))
        i++;
    if (i == len)
        return 0;

    ts_json_error jerr;
    ts_json_doc *doc = ts_json_parse(line, len, &jerr);
    if (!doc) {
        if (strcmp(jerr.msg, "out of memory") == 0)
            return -2;
        snprintf(err, errsz, "invalid JSON at column %zu: %s", jerr.offset + 1, jerr.msg);
        return -1;
    }
    const ts_json *rs = ts_json_get(ts_json_root(doc), "resourceSpans");
    if (!rs && ts_json_is(ts_json_get(ts_json_root(doc), "resourceMetrics"), TS_JSON_ARRAY)) {
        /* An OTLP/JSON metrics request: TRACESHIM_STATS writes the shim's
         * counters next to the spans. No spans, and nothing wrong either. */
        ts_json_free(doc);
        return 0;
    }
    if (!ts_json_is(rs, TS_JSON_ARRAY)) {
        snprintf(err, errsz, "not an OTLP/JSON trace request (no \"resourceSpans\" array)");
        ts_json_free(doc);
        return -1;
    }
    line_report r = {0};
    int added = 0, rc = 0;
    for (size_t ri = 0; ri < ts_json_len(rs) && rc >= 0; ri++) {
        const ts_json *res = ts_json_at(rs, ri);
        const ts_json *rattrs = ts_json_get(ts_json_get(res, "resource"), "attributes");
        size_t slen = 0;
        const char *svc = ts_json_string(
            ts_json_get(ts_json_otlp_attr(rattrs, "service.name"), "stringValue"), &slen);
        if (!svc || svc[0] == '\0')
            svc = "unknown_service";
        slen = strlen(svc); /* names are used as C strings: stop at a \u0000 */
        const ts_tm_resource *resource;
        rc = resource_get(m, rattrs, svc, slen, &resource);
        if (rc < 0)
            break;
        const ts_json *scopes = ts_json_get(res, "scopeSpans");
        if (!scopes) /* the name before OTLP 1.0 */
            scopes = ts_json_get(res, "instrumentationLibrarySpans");
        for (size_t si = 0; si < ts_json_len(scopes) && rc >= 0; si++) {
            const ts_json *spans = ts_json_get(ts_json_at(scopes, si), "spans");
            for (size_t k = 0; k < ts_json_len(spans); k++) {
                rc = add_span(m, ts_json_at(spans, k), resource, lineno, &r);
                r.total++;
                if (rc < 0)
                    break;
                added += rc;
            }
        }
    }
    ts_json_free(doc);
    if (rc == -2)
        return -2;
    if (r.skipped)
        snprintf(err, errsz, "skipped %zu of %zu spans: %s", r.skipped, r.total, r.first);
    return added;
}

int ts_tm_read_stream(ts_tm_model *m, FILE *in, const char *name, const char *cmd, FILE *diag,
                      size_t *bad_lines)
{
    char *line = NULL;
    size_t cap = 0, lineno = 0, bad = 0;
    ssize_t n;
    char err[256];
    int rc = 0;
    for (;;) {
        errno = 0; /* getline leaves errno alone at end of file */
        if ((n = getline(&line, &cap, in)) < 0)
            break;
        lineno++;
        int r = ts_tm_add_line(m, line, (size_t)n, lineno, err, sizeof(err));
        if (r == -2) {
            errno = ENOMEM;
            rc = -1;
            break;
        }
        if (err[0]) {
            bad++;
            if (bad <= MAX_REPORTED_LINES && diag)
                fprintf(diag, "traceshim %s: %s:%zu: %s\n", cmd, name, lineno, err);
        }
    }
    /* getline's -1 is the end only at end of file: glibc's fails with
     * ENOMEM on a line longer than memory allows without setting the error
     * flag, and the lines after it would be dropped without a word */
    if (rc == 0 && (ferror(in) || !feof(in))) {
        if (!errno)
            errno = EIO;
        rc = -1;
    }
    int saved = errno;
    free(line);
    if (bad > MAX_REPORTED_LINES && diag)
        fprintf(diag, "traceshim %s: %s: %zu more malformed lines not shown\n", cmd, name,
                bad - MAX_REPORTED_LINES);
    if (bad_lines)
        *bad_lines = bad;
    errno = saved;
    return rc;
}

/* ---- building the trees ---- */

/* Order of roots, and of siblings drawn to start at the same time: start
 * time, then input order so output is stable. */
static int cmp_span_ptr(const void *a, const void *b)
{
    const ts_tm_span *x = *(const ts_tm_span *const *)a;
    const ts_tm_span *y = *(const ts_tm_span *const *)b;
    if (x->start_ns != y->start_ns)
        return x->start_ns < y->start_ns ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int cmp_trace_ptr(const void *a, const void *b)
{
    const tm_trace *x = *(const tm_trace *const *)a;
    const tm_trace *y = *(const tm_trace *const *)b;
    if (x->started_ns != y->started_ns)
        return x->started_ns < y->started_ns ? -1 : 1;
    return strcmp(x->id, y->id);
}

/* A child as its family is ordered: where it is drawn to start. */
typedef struct {
    uint64_t shown_start;
    const ts_tm_span *span;
} sibling_key;

/* Sibling order: where they are drawn to start, after the clock-skew
 * shift. A child on another host's clock may really start after a sibling
 * and be drawn before it, or the other way round, and the rows must go
 * down the screen in the order their bars start. Ties as cmp_span_ptr. */
static int cmp_sibling(const void *a, const void *b)
{
    const sibling_key *x = a, *y = b;
    if (x->shown_start != y->shown_start)
        return x->shown_start < y->shown_start ? -1 : 1;
    return cmp_span_ptr(&x->span, &y->span);
}

typedef struct {
    size_t *parent;    /* parent span index or NONE */
    size_t *child_off; /* children of i: kids[child_off[i] .. child_off[i+1]) */
    const ts_tm_span **kids;
    unsigned char *state; /* 0 not placed, 1 placed, 2 on a parent walk */
    size_t *stack;        /* (span, depth) pairs */
    /* shift[i]: span i's display shift, set when its parent is placed
     * (0 for a span drawn as a root) */
    int64_t *shift;
    sibling_key *keys; /* one family's, while it is ordered */
} build_tmp;

/* Finds the display shift of each child of span s, just placed, and orders
 * the children by where they are drawn to start. A child's shift depends
 * only on s's and on its own times (ts_tm_child_shift), so it is known
 * before the child's place is; each family is sorted once, when its parent
 * is placed. */
static void order_children(ts_tm_model *m, build_tmp *b, size_t s)
{
    size_t first = b->child_off[s], n = b->child_off[s + 1] - first;
    for (size_t k = 0; k < n; k++) {
        const ts_tm_span *c = b->kids[first + k];
        size_t ci = (size_t)(c - m->spans);
        int64_t shift = ts_tm_child_shift(c, &m->spans[s], b->shift[s]);
        /* a loop's cut span, placed already as a root, keeps its 0; the
         * walk skips it */
        if (b->state[ci] != 1)
            b->shift[ci] = shift;
        b->keys[k] = (sibling_key){ts_tm_shifted(c->start_ns, shift), c};
    }
    if (n < 2)
        return;
    qsort(b->keys, n, sizeof(*b->keys), cmp_sibling);
    for (size_t k = 0; k < n; k++)
        b->kids[first + k] = b->keys[k].span;
}

/* Emits the subtree under root in depth-first order starting at *pos. */
static void walk_tree(ts_tm_model *m, build_tmp *b, size_t root, size_t *pos)
{
    size_t sp = 0;
    b->shift[root] = 0; /* drawn as a root: nothing to fit into */
    b->stack[sp++] = root;
    b->stack[sp++] = 0;
    while (sp) {
        unsigned d = (unsigned)b->stack[--sp];
        size_t s = b->stack[--sp];
        if (b->state[s] == 1)
            continue; /* a cut cycle's root, reached again from inside */
        b->state[s] = 1;
        m->order[*pos] = &m->spans[s];
        m->depth[*pos] = d;
        (*pos)++;
        order_children(m, b, s);
        /* push in reverse so the earliest child comes out first */
        for (size_t k = b->child_off[s + 1]; k-- > b->child_off[s];) {
            size_t c = (size_t)(b->kids[k] - m->spans);
            if (b->state[c] == 1)
                continue;
            b->stack[sp++] = c;
            b->stack[sp++] = d + 1 > d ? d + 1 : d;
        }
    }
}

/* For a span never reached from a root: its ancestors loop. Finds the loop
 * and returns its earliest span, where the loop is cut. */
static size_t cycle_cut(ts_tm_model *m, build_tmp *b, size_t s)
{
    size_t x = s;
    while (b->state[x] == 0) {
        b->state[x] = 2;
        x = b->parent[x]; /* never NONE: a span without parent is a root */
    }
    bool looped = b->state[x] == 2; /* stopped on our own mark: x is on the loop */
    for (size_t y = s; b->state[y] == 2; y = b->parent[y])
        b->state[y] = 0;
    if (!looped) /* cannot happen: placed spans have placed subtrees */
        return s;
    size_t best = x;
    for (size_t y = b->parent[x]; y != x; y = b->parent[y])
        if (cmp_span_ptr(&(const ts_tm_span *){&m->spans[y]},
                         &(const ts_tm_span *){&m->spans[best]}) < 0)
            best = y;
    return best;
}

int ts_tm_build(ts_tm_model *m)
{
    free_build(m);
    size_t n = m->n_spans, nt = m->n_traces;
    build_tmp b = {0};
    size_t *by_trace = NULL;
    const ts_tm_span **roots = NULL;
    int rc = -1;
    m->order = malloc((n ? n : 1) * sizeof(*m->order));
    m->depth = malloc((n ? n : 1) * sizeof(*m->depth));
    m->sorted = malloc((nt ? nt : 1) * sizeof(*m->sorted));
    m->parent_pos = malloc((n ? n : 1) * sizeof(*m->parent_pos));
    m->shift_ns = malloc((n ? n : 1) * sizeof(*m->shift_ns));
    b.parent = malloc((n ? n : 1) * sizeof(size_t));
    b.child_off = calloc(n + 2, sizeof(size_t));
    b.kids = malloc((n ? n : 1) * sizeof(*b.kids));
    b.state = calloc(n ? n : 1, 1);
    b.stack = malloc((2 * n + 2) * sizeof(size_t));
    b.shift = malloc((n ? n : 1) * sizeof(*b.shift));
    b.keys = malloc((n ? n : 1) * sizeof(*b.keys));
    by_trace = malloc((n ? n : 1) * sizeof(size_t));
    roots = malloc((n ? n : 1) * sizeof(*roots));
    if (!m->order || !m->depth || !m->sorted || !m->parent_pos || !m->shift_ns || !b.parent ||
        !b.child_off || !b.kids || !b.state || !b.stack || !b.shift || !b.keys || !by_trace ||
        !roots)
        goto out;

    /* link each span to its parent */
    for (size_t i = 0; i < n; i++) {
        ts_tm_span *s = &m->spans[i];
        s->flags &= ~(unsigned)(TS_TM_PARENT_MISSING | TS_TM_CYCLE);
        b.parent[i] = NONE;
        if (!s->parent_id[0])
            continue;
        size_t p = span_map_find(m, m->span_trace[i], s->parent_id);
        if (p == NONE)
            s->flags |= TS_TM_PARENT_MISSING;
        else if (p == i)
            s->flags |= TS_TM_CYCLE; /* its own parent: draw as a root */
        else
            b.parent[i] = p;
    }
    /* children lists, by counting: child_off[p + 2] counts, then prefix sums */
    for (size_t i = 0; i < n; i++)
        if (b.parent[i] != NONE)
            b.child_off[b.parent[i] + 2]++;
    for (size_t i = 2; i < n + 2; i++)
        b.child_off[i] += b.child_off[i - 1];
    for (size_t i = 0; i < n; i++)
        if (b.parent[i] != NONE)
            b.kids[b.child_off[b.parent[i] + 1]++] = &m->spans[i];
    /* each family is ordered during the walk (order_children), once its
     * parent's display shift is known */

    /* spans grouped by trace, in input order */
    size_t off = 0;
    for (size_t t = 0; t < nt; t++) {
        m->traces[t].off = off;
        off += m->traces[t].n;
        m->traces[t].n = 0;
    }
    for (size_t i = 0; i < n; i++) {
        tm_trace *tr = &m->traces[m->span_trace[i]];
        by_trace[tr->off + tr->n++] = i;
    }

    for (size_t t = 0; t < nt; t++) {
        tm_trace *tr = &m->traces[t];
        size_t nr = 0, pos = tr->off;
        for (size_t k = 0; k < tr->n; k++) {
            size_t i = by_trace[tr->off + k];
            if (b.parent[i] == NONE)
                roots[nr++] = &m->spans[i];
        }
        qsort(roots, nr, sizeof(*roots), cmp_span_ptr);
        for (size_t k = 0; k < nr; k++)
            walk_tree(m, &b, (size_t)(roots[k] - m->spans), &pos);
        /* whatever is left hangs off a parent loop */
        for (size_t k = 0; k < tr->n && pos < tr->off + tr->n; k++) {
            size_t i = by_trace[tr->off + k];
            if (b.state[i] != 0)
                continue;
            size_t cut = cycle_cut(m, &b, i);
            m->spans[cut].flags |= TS_TM_CYCLE;
            walk_tree(m, &b, cut, &pos);
        }
        /* the roots' trees are drawn oldest root first, so the first span
         * drawn without a parent id is the earliest real root (the other
         * roots lost their parent or cut a loop: they have one) */
        tr->started_ns = tr->start_ns;
        tr->pub.root = tr->n ? m->order[tr->off] : NULL;
        for (size_t k = tr->off; k < tr->off + tr->n; k++) {
            if (!m->order[k]->parent_id[0]) {
                tr->started_ns = m->order[k]->start_ns;
                tr->pub.root = m->order[k];
                break;
            }
        }
        tr->pub.trace_id = tr->id;
        tr->pub.start_ns = tr->start_ns;
        tr->pub.started_ns = tr->started_ns;
        tr->pub.end_ns = tr->end_ns;
        tr->pub.n_spans = tr->n;
        tr->pub.spans = m->order + tr->off;
        tr->pub.depth = m->depth + tr->off;
        tr->pub.parent = m->parent_pos + tr->off;
        tr->pub.shift_ns = m->shift_ns + tr->off;
        /* the walk found each span's shift to order its family; the
         * layout gives the shifts by position, by the same rule
         * (ts_tm_child_shift), with the parents' positions and the axis */
        ts_tm_layout(tr->pub.spans, tr->pub.depth, tr->n, m->parent_pos + tr->off,
                     m->shift_ns + tr->off, &tr->pub.view_start_ns, &tr->pub.view_end_ns);
        tr->pub.n_errors = 0;
        for (size_t k = 0; k < tr->n; k++)
            tr->pub.n_errors += tr->pub.spans[k]->status == TS_TM_STATUS_ERROR;
        m->sorted[t] = tr;
    }
    qsort(m->sorted, nt, sizeof(*m->sorted), cmp_trace_ptr);
    m->built = true;
    rc = 0;
out:
    free(b.parent);
    free(b.child_off);
    free(b.kids);
    free(b.state);
    free(b.stack);
    free(b.shift);
    free(b.keys);
    free(by_trace);
    free(roots);
    if (rc)
        free_build(m);
    return rc;
}

size_t ts_tm_resource_count(const ts_tm_model *m)
{
    return m->n_res;
}

const ts_tm_resource *ts_tm_resource_at(const ts_tm_model *m, size_t i)
{
    return i < m->n_res ? m->res[i] : NULL;
}

size_t ts_tm_service_count(const ts_tm_model *m)
{
    return m->n_svcs;
}

const char *ts_tm_service_at(const ts_tm_model *m, size_t i)
{
    return i < m->n_svcs ? m->svcs[i] : NULL;
}

size_t ts_tm_span_count(const ts_tm_model *m)
{
    return m->n_spans;
}

size_t ts_tm_trace_count(const ts_tm_model *m)
{
    return m->built ? m->n_traces : 0;
}

const ts_tm_trace *ts_tm_trace_at(const ts_tm_model *m, size_t i)
{
    if (!m->built || i >= m->n_traces)
        return NULL;
    return &m->sorted[i]->pub;
}

bool ts_tm_trace_id_ok(const char *id)
{
    size_t len = id ? strlen(id) : 0;
    if (len == 0 || len > 32)
        return false;
    for (size_t i = 0; i < len; i++)
        if (ts_hex_digit((unsigned char)id[i]) < 0)
            return false;
    return true;
}

int ts_tm_find_trace(const ts_tm_model *m, const char *id, const ts_tm_trace **out)
{
    char want[33], padded[33];
    *out = NULL;
    if (!ts_tm_trace_id_ok(id))
        return TS_TM_BAD_ID;
    size_t len = strlen(id);
    for (size_t i = 0; i < len; i++)
        want[i] = "0123456789abcdef"[ts_hex_digit((unsigned char)id[i])];
    want[len] = '\0';
    memset(padded, '0', 16);
    memcpy(padded + 16, want, 17);
    size_t matches = 0;
    const ts_tm_trace *prefix = NULL;
    for (size_t i = 0; i < ts_tm_trace_count(m); i++) {
        const ts_tm_trace *t = ts_tm_trace_at(m, i);
        if (strcmp(t->trace_id, want) == 0 || (len == 16 && strcmp(t->trace_id, padded) == 0)) {
            *out = t;
            return TS_TM_FOUND;
        }
        if (strncmp(t->trace_id, want, len) == 0) {
            matches++;
            prefix = t;
        }
    }
    if (matches == 1) {
        *out = prefix;
        return TS_TM_FOUND;
    }
    return matches ? TS_TM_AMBIGUOUS : TS_TM_NOT_FOUND;
}
