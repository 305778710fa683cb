/* propagation.c — trace context codecs (see propagation.h).
 *
 * Everything here is a pure function over caller memory: no allocation, no
 * libc I/O, no global state, so it is safe inside any hook. Parsers are
 * strict about shape (lengths, separators, characters) because a context we
 * misread would silently stitch unrelated requests into one trace. */
#include "propagation.h"

#include <string.h>

#include "../preload/ascii.h"

/* ------------------------------------------------------------------ hex */

/* Decode 1..2*cap hex digits (any count, odd too) right-aligned into
 * out[cap], zero-filling the high bytes: Jaeger drops leading zeros. */
static bool hex_decode_var(const char *in, size_t len, uint8_t *out, size_t cap)
{
    if (len == 0 || len > 2 * cap)
        return false;
    memset(out, 0, cap);
    size_t pos = 2 * cap - len; /* nibble index of the first digit */
    for (size_t i = 0; i < len; i++, pos++) {
        int v = ts_hex_digit((unsigned char)in[i]);
        if (v < 0)
            return false;
        if (pos % 2 == 0)
            out[pos / 2] = (uint8_t)(v << 4);
        else
            out[pos / 2] |= (uint8_t)v;
    }
    return true;
}

/* ------------------------------------------------------------- helpers */

/* Case-insensitive comparison of a counted string with a lower-case
 * literal; a header parsed without a name (NULL) matches nothing. */
static inline bool eq_nocase(const char *s, size_t len, const char *lit)
{
    return (s || len == 0) && ts_ascii_eq_nocase(s, len, lit);
}

/* Keep the first header of a name. */
static void keep_first(const struct ts_http_header **slot, const struct ts_http_header *hdr)
{
    if (!*slot)
        *slot = hdr;
}

void ts_prop_find(const struct ts_http_header *h, size_t n, struct ts_prop_headers *out)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; h && i < n; i++) {
        const struct ts_http_header *x = &h[i];
        /* The length first: one comparison rules out most headers, and
         * leaves at most two names to compare. */
        switch (x->name_len) {
        case 2:
            if (TS_HTTP_NAMED(x, "b3"))
                keep_first(&out->b3, x);
            break;
        case 10:
            if (TS_HTTP_NAMED(x, "x-b3-flags"))
                keep_first(&out->b3_flags, x);
            break;
        case 11:
            if (TS_HTTP_NAMED(x, "traceparent")) {
                out->traceparent_again |= out->traceparent != NULL;
                keep_first(&out->traceparent, x);
            } else if (TS_HTTP_NAMED(x, "x-b3-spanid"))
                keep_first(&out->b3_span_id, x);
            break;
        case 12:
            if (TS_HTTP_NAMED(x, "x-b3-traceid"))
                keep_first(&out->b3_trace_id, x);
            else if (TS_HTTP_NAMED(x, "x-b3-sampled"))
                keep_first(&out->b3_sampled, x);
            break;
        case 13:
            if (TS_HTTP_NAMED(x, "uber-trace-id"))
                keep_first(&out->uber_trace_id, x);
            break;
        case 17:
            if (TS_HTTP_NAMED(x, "x-b3-parentspanid"))
                keep_first(&out->b3_parent_id, x);
            break;
        default:
            break;
        }
    }
}

/* Whether any header of a context was found. */
static inline bool found_any(const struct ts_prop_headers *f)
{
    return f->b3 || f->traceparent || f->uber_trace_id || f->b3_trace_id || f->b3_span_id ||
           f->b3_parent_id || f->b3_sampled || f->b3_flags;
}

bool ts_prop_inbound(struct ts_prop_headers *f, unsigned formats)
{
    if (f->traceparent_again)
        f->traceparent = NULL;
    if (!(formats & TS_PROP_B3))
        f->b3 = NULL;
    if (!(formats & TS_PROP_B3MULTI))
        f->b3_trace_id = f->b3_span_id = f->b3_parent_id = f->b3_sampled = f->b3_flags = NULL;
    if (!(formats & TS_PROP_TRACECONTEXT))
        f->traceparent = NULL;
    if (!(formats & TS_PROP_JAEGER))
        f->uber_trace_id = NULL;
    return found_any(f);
}

bool ts_prop_find_request(const struct ts_http_request *req, struct ts_prop_headers *out)
{
    const struct ts_http_noted *nt = &req->noted;
    if (!ts_http_notes_hold(nt, req->headers, req->num_headers)) {
        ts_prop_find(req->headers, req->num_headers, out);
        return found_any(out);
    }
    const uint32_t context = 1u << TS_HTTP_NOTE_B3 | 1u << TS_HTTP_NOTE_TRACEPARENT |
                             1u << TS_HTTP_NOTE_UBER_TRACE_ID | 1u << TS_HTTP_NOTE_B3_TRACE_ID |
                             1u << TS_HTTP_NOTE_B3_SPAN_ID | 1u << TS_HTTP_NOTE_B3_PARENT_ID |
                             1u << TS_HTTP_NOTE_B3_SAMPLED | 1u << TS_HTTP_NOTE_B3_FLAGS;
    if (!(nt->seen & context)) { /* most requests carry none */
        memset(out, 0, sizeof *out);
        return false;
    }
    memset(out, 0, sizeof *out); /* its padding too: callers compare it whole */
    out->b3 = TS_HTTP_NOTED(nt, TS_HTTP_NOTE_B3);
    out->traceparent = TS_HTTP_NOTED(nt, TS_HTTP_NOTE_TRACEPARENT);
    out->uber_trace_id = TS_HTTP_NOTED(nt, TS_HTTP_NOTE_UBER_TRACE_ID);
    out->b3_trace_id = TS_HTTP_NOTED(nt, TS_HTTP_NOTE_B3_TRACE_ID);
    out->b3_span_id = TS_HTTP_NOTED(nt, TS_HTTP_NOTE_B3_SPAN_ID);
    out->b3_parent_id = TS_HTTP_NOTED(nt, TS_HTTP_NOTE_B3_PARENT_ID);
    out->b3_sampled = TS_HTTP_NOTED(nt, TS_HTTP_NOTE_B3_SAMPLED);
    out->b3_flags = TS_HTTP_NOTED(nt, TS_HTTP_NOTE_B3_FLAGS);
    out->traceparent_again = nt->seen & 1u << TS_HTTP_NOTE_TRACEPARENT_AGAIN;
    return found_any(out);
}

/* A B3 trace id (16 or 32 hex digits, either case) into ctx. */
static bool b3_trace_id(const char *v, size_t len, struct ts_ctx *ctx)
{
    memset(ctx->trace_id, 0, TS_TRACE_ID_LEN);
    if (len == 32) {
        ctx->trace_id_64 = false;
        if (!ts_hex_decode(v, 16, ctx->trace_id))
            return false;
    } else if (len == 16) {
        ctx->trace_id_64 = true;
        if (!ts_hex_decode(v, 8, ctx->trace_id + 8))
            return false;
    } else {
        return false;
    }
    return !ts_id_is_zero(ctx->trace_id, TS_TRACE_ID_LEN);
}

/* A 16-hex-digit span id; zero is rejected unless allow_zero. */
static bool b3_span_id(const char *v, size_t len, uint8_t out[TS_SPAN_ID_LEN], bool allow_zero)
{
    if (len != 2 * TS_SPAN_ID_LEN || !ts_hex_decode(v, TS_SPAN_ID_LEN, out))
        return false;
    return allow_zero || !ts_id_is_zero(out, TS_SPAN_ID_LEN);
}

/* --------------------------------------------------------------- B3 single */

/* The b3 single header's one-character sampling field, or -1. */
static int b3_single_sampling(char c)
{
    switch (c) {
    case '0':
        return TS_SAMPLING_DENY;
    case '1':
        return TS_SAMPLING_ACCEPT;
    case 'd':
        return TS_SAMPLING_DEBUG;
    default:
        return -1;
    }
}

bool ts_b3_single_parse(const char *v, size_t len, struct ts_ctx *out)
{
    memset(out, 0, sizeof *out);
    if (!v)
        return false;
    if (len == 1) { /* sampling decision only: never a valid context */
        int s = b3_single_sampling(v[0]);
        if (s >= 0)
            out->sampling = (uint8_t)s;
        return false;
    }

    struct ts_ctx c;
    memset(&c, 0, sizeof c);
    const char *dash = memchr(v, '-', len);
    if (!dash || !b3_trace_id(v, (size_t)(dash - v), &c))
        return false;
    const char *p = dash + 1;
    size_t rest = len - (size_t)(p - v);
    if (rest < 2 * TS_SPAN_ID_LEN || !b3_span_id(p, 2 * TS_SPAN_ID_LEN, c.span_id, false))
        return false;
    p += 2 * TS_SPAN_ID_LEN;
    rest -= 2 * TS_SPAN_ID_LEN;
    c.sampling = TS_SAMPLING_DEFER;
    if (rest > 0) {
        /* "-s" and optionally "-parent" */
        if (rest < 2 || p[0] != '-')
            return false;
        int s = b3_single_sampling(p[1]);
        if (s < 0)
            return false;
        c.sampling = (uint8_t)s;
        p += 2;
        rest -= 2;
        if (rest > 0) {
            if (rest != 1 + 2 * TS_SPAN_ID_LEN || p[0] != '-' ||
                !b3_span_id(p + 1, 2 * TS_SPAN_ID_LEN, c.parent_id, true))
                return false;
            c.has_parent = !ts_id_is_zero(c.parent_id, TS_SPAN_ID_LEN);
        }
    }
    c.valid = true;
    *out = c;
    return true;
}

/* ---------------------------------------------------------------- B3 multi */

/* B3 multi from the headers found (see ts_b3_multi_parse). */
static bool b3_multi_parse(const struct ts_prop_headers *f, struct ts_ctx *out)
{
    memset(out, 0, sizeof *out);
    const struct ts_http_header *tid = f->b3_trace_id, *sid = f->b3_span_id, *pid = f->b3_parent_id,
                                *smp = f->b3_sampled, *flg = f->b3_flags;

    /* The sampling decision stands on its own ("X-B3-Sampled: 0" with no
     * ids is a valid B3 message), so it is recorded even when ids are not.
     * An unrecognised Sampled value is ignored (defer), as lenient B3
     * implementations do; debug wins over any Sampled value. */
    uint8_t sampling = TS_SAMPLING_DEFER;
    if (smp) {
        if (eq_nocase(smp->value, smp->value_len, "1") ||
            eq_nocase(smp->value, smp->value_len, "true"))
            sampling = TS_SAMPLING_ACCEPT;
        else if (eq_nocase(smp->value, smp->value_len, "0") ||
                 eq_nocase(smp->value, smp->value_len, "false"))
            sampling = TS_SAMPLING_DENY;
    }
    if (flg && eq_nocase(flg->value, flg->value_len, "1"))
        sampling = TS_SAMPLING_DEBUG;
    out->sampling = sampling;

    if (!tid || !sid)
        return false;
    struct ts_ctx c;
    memset(&c, 0, sizeof c);
    if (!tid->value || !b3_trace_id(tid->value, tid->value_len, &c))
        return false;
    if (!sid->value || !b3_span_id(sid->value, sid->value_len, c.span_id, false))
        return false;
    if (pid) {
        if (!pid->value || !b3_span_id(pid->value, pid->value_len, c.parent_id, true))
            return false;
        c.has_parent = !ts_id_is_zero(c.parent_id, TS_SPAN_ID_LEN);
    }
    c.sampling = sampling;
    c.valid = true;
    *out = c;
    return true;
}

bool ts_b3_multi_parse(const struct ts_http_header *h, size_t n, struct ts_ctx *out)
{
    struct ts_prop_headers f;
    ts_prop_find(h, n, &f);
    return b3_multi_parse(&f, out);
}

/* ------------------------------------------------------------- traceparent */

bool ts_traceparent_parse(const char *v, size_t len, struct ts_ctx *out)
{
    memset(out, 0, sizeof *out);
    /* 00-<32>-<16>-<2>: 2+1+32+1+16+1+2 = 55 */
    if (!v || len < 55)
        return false;
    uint8_t version;
    if (!ts_hex_decode_lower(v, 1, &version) || version == 0xff)
        return false;
    if (version == 0 && len != 55)
        return false;
    /* Later versions may append fields, but only after a '-'. */
    if (len > 55 && v[55] != '-')
        return false;
    if (v[2] != '-' || v[35] != '-' || v[52] != '-')
        return false;

    struct ts_ctx c;
    memset(&c, 0, sizeof c);
    uint8_t flags;
    if (!ts_hex_decode_lower(v + 3, TS_TRACE_ID_LEN, c.trace_id) ||
        !ts_hex_decode_lower(v + 36, TS_SPAN_ID_LEN, c.span_id) ||
        !ts_hex_decode_lower(v + 53, 1, &flags))
        return false;
    if (ts_id_is_zero(c.trace_id, TS_TRACE_ID_LEN) || ts_id_is_zero(c.span_id, TS_SPAN_ID_LEN))
        return false;
    c.sampling = (flags & 0x01) ? TS_SAMPLING_ACCEPT : TS_SAMPLING_DENY;
    c.valid = true;
    *out = c;
    return true;
}

/* ----------------------------------------------------------- uber-trace-id */

/* Length of the Jaeger field separator at p (":" or URL-encoded "%3A"),
 * or 0 when there is none. */
static size_t jaeger_sep(const char *p, const char *end)
{
    if (p < end && *p == ':')
        return 1;
    if (end - p >= 3 && p[0] == '%' && p[1] == '3' && (p[2] == 'A' || p[2] == 'a'))
        return 3;
    return 0;
}

/* Split a Jaeger value into its four fields. */
static bool jaeger_split(const char *v, size_t len, const char *f[4], size_t fl[4])
{
    const char *p = v, *end = v + len;
    int i = 0;
    f[0] = p;
    while (p < end) {
        size_t s = jaeger_sep(p, end);
        if (s) {
            if (i == 3)
                return false; /* a fifth field */
            fl[i] = (size_t)(p - f[i]);
            p += s;
            f[++i] = p;
        } else {
            p++;
        }
    }
    if (i != 3)
        return false;
    fl[3] = (size_t)(end - f[3]);
    return true;
}

bool ts_uber_trace_id_parse(const char *v, size_t len, struct ts_ctx *out)
{
    memset(out, 0, sizeof *out);
    const char *f[4];
    size_t fl[4];
    if (!v || !jaeger_split(v, len, f, fl))
        return false;

    struct ts_ctx c;
    memset(&c, 0, sizeof c);
    if (!hex_decode_var(f[0], fl[0], c.trace_id, TS_TRACE_ID_LEN) ||
        ts_id_is_zero(c.trace_id, TS_TRACE_ID_LEN))
        return false;
    c.trace_id_64 = fl[0] <= 16;
    if (!hex_decode_var(f[1], fl[1], c.span_id, TS_SPAN_ID_LEN) ||
        ts_id_is_zero(c.span_id, TS_SPAN_ID_LEN))
        return false;
    if (!hex_decode_var(f[2], fl[2], c.parent_id, TS_SPAN_ID_LEN))
        return false;
    c.has_parent = !ts_id_is_zero(c.parent_id, TS_SPAN_ID_LEN);
    uint8_t flags;
    if (!hex_decode_var(f[3], fl[3], &flags, 1))
        return false;
    if (flags & 0x02)
        c.sampling = TS_SAMPLING_DEBUG;
    else if (flags & 0x01)
        c.sampling = TS_SAMPLING_ACCEPT;
    else
        c.sampling = TS_SAMPLING_DENY;
    c.valid = true;
    *out = c;
    return true;
}

/* ----------------------------------------------------------------- extract */

static bool same_ids(const struct ts_ctx *a, const struct ts_ctx *b)
{
    return memcmp(a->trace_id, b->trace_id, TS_TRACE_ID_LEN) == 0 &&
           memcmp(a->span_id, b->span_id, TS_SPAN_ID_LEN) == 0;
}

/* A B3 context without a decision (out) takes the one of a traceparent,
 * else an uber-trace-id, that names the same trace and span: a proxy
 * that forwards B3 as it came, decision-less, while a traced hop added
 * the other formats with the decision it made. Other ids: B3's own,
 * undecided, stand. */
static void decision_of_same_ids(const struct ts_prop_headers *f, struct ts_ctx *out)
{
    struct ts_ctx c;
    if ((f->traceparent &&
         ts_traceparent_parse(f->traceparent->value, f->traceparent->value_len, &c) &&
         same_ids(&c, out)) ||
        (f->uber_trace_id &&
         ts_uber_trace_id_parse(f->uber_trace_id->value, f->uber_trace_id->value_len, &c) &&
         same_ids(&c, out)))
        out->sampling = c.sampling;
}

/* ts_prop_extract_found when some header was found (out is zero).
 * Out of line: the common case, no context at all, then saves none of the
 * registers and stack this uses. */
static __attribute__((noinline)) bool extract_found_some(const struct ts_prop_headers *f,
                                                         struct ts_ctx *out)
{
    /* A B3 decision without ids (single form first, then multi) goes with
     * the ids another format carries, or is returned with an invalid
     * context when none does. B3 outranks the other formats: its deny
     * overrides their decision; accept or debug is applied to a context
     * that carries none of its own (debug also over a plain accept). The
     * ids stay the other format's either way, so that a request's headers
     * never name two traces (a program that wrote "X-B3-Sampled: 0" beside
     * its own traceparent keeps that trace, unsampled). */
    uint8_t b3_decision = TS_SAMPLING_DEFER;
    struct ts_ctx c;
    bool ok;

    if (f->b3) {
        if (ts_b3_single_parse(f->b3->value, f->b3->value_len, &c)) {
            *out = c;
            if (c.sampling == TS_SAMPLING_DEFER)
                decision_of_same_ids(f, out);
            return true;
        }
        b3_decision = c.sampling;
    }
    ok = b3_multi_parse(f, &c);
    bool b3_ids = ok;
    if (!ok && b3_decision == TS_SAMPLING_DEFER)
        b3_decision = c.sampling;
    if (!ok && f->traceparent)
        ok = ts_traceparent_parse(f->traceparent->value, f->traceparent->value_len, &c);
    if (!ok && f->uber_trace_id)
        ok = ts_uber_trace_id_parse(f->uber_trace_id->value, f->uber_trace_id->value_len, &c);
    if (!ok) {
        out->sampling = b3_decision;
        return false;
    }
    *out = c;
    /* B3's word where the ids' own format had none; its deny over any
     * decision; its debug flag over another format's plain "sampled"
     * (debug is sampled, forced). */
    if (out->sampling == TS_SAMPLING_DEFER || b3_decision == TS_SAMPLING_DENY ||
        (b3_decision == TS_SAMPLING_DEBUG && out->sampling == TS_SAMPLING_ACCEPT))
        out->sampling = b3_decision;
    if (b3_ids && out->sampling == TS_SAMPLING_DEFER)
        decision_of_same_ids(f, out);
    return true;
}

bool ts_prop_extract_found(const struct ts_prop_headers *f, struct ts_ctx *out)
{
    memset(out, 0, sizeof *out);
    /* Most requests carry no context: nothing to parse, no decision. */
    if (!found_any(f))
        return false;
    bool found = extract_found_some(f, out);
    out->remote = found; /* read from a head: a span of another process */
    return found;
}

bool ts_prop_extract(const struct ts_http_header *h, size_t n, struct ts_ctx *out)
{
    struct ts_prop_headers f;
    ts_prop_find(h, n, &f);
    return ts_prop_extract_found(&f, out);
}

unsigned ts_prop_present_found(const struct ts_prop_headers *f)
{
    unsigned present = 0;
    if (f->b3)
        present |= TS_PROP_B3;
    if (f->traceparent)
        present |= TS_PROP_TRACECONTEXT;
    if (f->uber_trace_id)
        present |= TS_PROP_JAEGER;
    if (f->b3_trace_id || f->b3_span_id || f->b3_parent_id || f->b3_sampled || f->b3_flags)
        present |= TS_PROP_B3MULTI;
    return present;
}

unsigned ts_prop_present(const struct ts_http_header *h, size_t n)
{
    struct ts_prop_headers f;
    ts_prop_find(h, n, &f);
    return ts_prop_present_found(&f);
}

/* --------------------------------------------------------------- id fields */

static void add_field(const char **list, int *n, const char *at)
{
    if (*n < 4)
        list[(*n)++] = at;
}

/* A one-character decision field, '0' or '1', at p. */
static void add_decision(struct ts_prop_id_fields *out, const char *p)
{
    if ((*p == '0' || *p == '1') && out->ndecision < 2)
        out->decision[out->ndecision++] = p;
}

void ts_prop_id_fields_found(const struct ts_prop_headers *f, const struct ts_ctx *ctx,
                             struct ts_prop_id_fields *out)
{
    memset(out, 0, sizeof *out);
    struct ts_ctx c;
    const size_t id_hex = 2 * TS_SPAN_ID_LEN;

    const struct ts_http_header *b3 = f->b3;
    if (b3 && ts_b3_single_parse(b3->value, b3->value_len, &c) && same_ids(&c, ctx)) {
        const char *dash = memchr(b3->value, '-', b3->value_len);
        add_field(out->span, &out->nspan, dash + 1);
        if (b3->value_len > id_hex && b3->value_len - (size_t)(dash + 1 - b3->value) > id_hex + 2)
            add_field(out->parent, &out->nparent, b3->value + b3->value_len - id_hex);
        if (c.sampling == TS_SAMPLING_DEFER) { /* "T-S": the span id ends the value */
            out->undecided |= TS_PROP_B3;
            out->b3_decision_at = b3->value + b3->value_len;
        }
        const char *field = dash + 1 + id_hex + 1; /* "T-S-X": X, one character */
        size_t before = (size_t)(field - b3->value);
        if (before < b3->value_len && (before + 1 == b3->value_len || field[1] == '-'))
            add_decision(out, field);
    }
    if (b3_multi_parse(f, &c) && same_ids(&c, ctx)) {
        add_field(out->span, &out->nspan, f->b3_span_id->value);
        if (f->b3_parent_id)
            add_field(out->parent, &out->nparent, f->b3_parent_id->value);
        /* an X-B3-Sampled the spec does not know is the program's, left alone */
        if (c.sampling == TS_SAMPLING_DEFER && !f->b3_sampled)
            out->undecided |= TS_PROP_B3MULTI;
        if (f->b3_sampled && f->b3_sampled->value_len == 1)
            add_decision(out, f->b3_sampled->value);
    }
    const struct ts_http_header *tp = f->traceparent;
    if (tp && ts_traceparent_parse(tp->value, tp->value_len, &c) && same_ids(&c, ctx)) {
        add_field(out->span, &out->nspan, tp->value + 36);
        out->traceparent_flags = tp->value + 53; /* "VV-" 32 "-" 16 "-": the flags */
    }
    const struct ts_http_header *ub = f->uber_trace_id;
    const char *fld[4];
    size_t fl[4];
    if (ub && ts_uber_trace_id_parse(ub->value, ub->value_len, &c) && same_ids(&c, ctx) &&
        jaeger_split(ub->value, ub->value_len, fld, fl)) {
        if (fl[1] == id_hex)
            add_field(out->span, &out->nspan, fld[1]);
        if (fl[2] == id_hex)
            add_field(out->parent, &out->nparent, fld[2]);
    }
}

void ts_prop_id_fields(const struct ts_http_header *h, size_t n, const struct ts_ctx *ctx,
                       struct ts_prop_id_fields *out)
{
    struct ts_prop_headers f;
    ts_prop_find(h, n, &f);
    ts_prop_id_fields_found(&f, ctx, out);
}

/* -------------------------------------------------------------- tracestate */

/* The characters of a key after its first (trace-context §3.3.1.3). */
static bool key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '*' ||
           c == '/';
}

static bool lcalpha(char c)
{
    return c >= 'a' && c <= 'z';
}

/* A key: simple-key = lcalpha 0*255(key_char), or multi-tenant-key =
 * tenant-id "@" system-id, tenant-id = (lcalpha / DIGIT) 0*240(key_char),
 * system-id = lcalpha 0*13(key_char). */
static bool tracestate_key(const char *k, size_t len)
{
    const char *at = memchr(k, '@', len);
    if (!at) {
        if (len < 1 || len > 256 || !lcalpha(k[0]))
            return false;
        for (size_t i = 1; i < len; i++)
            if (!key_char(k[i]))
                return false;
        return true;
    }
    size_t tenant = (size_t)(at - k), system = len - tenant - 1;
    if (tenant < 1 || tenant > 241 || system < 1 || system > 14)
        return false;
    if (!lcalpha(k[0]) && !(k[0] >= '0' && k[0] <= '9'))
        return false;
    if (!lcalpha(at[1]))
        return false;
    for (size_t i = 1; i < len; i++)
        if (k + i != at && !key_char(k[i]))
            return false;
    return true;
}

/* A value: 0*255(chr) nblk-chr, chr = %x20 / nblk-chr, nblk-chr = the
 * printable characters but ',' and '='. Its trailing blanks were cut off
 * as the member's. */
static bool tracestate_value(const char *v, size_t len)
{
    if (len < 1 || len > 256 || v[len - 1] == ' ')
        return false;
    for (size_t i = 0; i < len; i++)
        if (v[i] < 0x20 || v[i] > 0x7e || v[i] == ',' || v[i] == '=')
            return false;
    return true;
}

static bool ows(char c)
{
    return c == ' ' || c == '\t';
}

/* A tracestate's list-members as they are read, over one or more header
 * values: each "key=value" without the blanks around it. */
struct tracestate_list {
    const char *member[TS_TRACESTATE_MEMBERS_MAX];
    /* (a member is at most 513 characters: key 256, '=', value 256; 16
     * bits spare the client's send path 384 bytes of stack) */
    uint16_t len[TS_TRACESTATE_MEMBERS_MAX];
    uint16_t key_len[TS_TRACESTATE_MEMBERS_MAX];
    size_t n;
};

/* Add v[0..len)'s members to list (split at ',', blanks around each
 * ignored, empty ones allowed and not counted). False when one is outside
 * the spec's grammar, a key comes twice, or there are more than
 * TS_TRACESTATE_MEMBERS_MAX. */
static bool tracestate_add(struct tracestate_list *list, const char *v, size_t len)
{
    const char *end = v + len;
    for (const char *m = v; m <= end;) {
        const char *comma = memchr(m, ',', (size_t)(end - m));
        const char *m_end = comma ? comma : end;
        const char *a = m, *b = m_end;
        while (a < b && ows(*a))
            a++;
        while (b > a && ows(b[-1]))
            b--;
        if (a < b) {
            if (list->n == TS_TRACESTATE_MEMBERS_MAX)
                return false;
            const char *eq = memchr(a, '=', (size_t)(b - a));
            if (!eq || !tracestate_key(a, (size_t)(eq - a)) ||
                !tracestate_value(eq + 1, (size_t)(b - eq - 1)))
                return false;
            size_t klen = (size_t)(eq - a);
            for (size_t i = 0; i < list->n; i++)
                if (list->key_len[i] == klen && memcmp(list->member[i], a, klen) == 0)
                    return false;
            list->member[list->n] = a;
            list->len[list->n] = (uint16_t)(b - a);
            list->key_len[list->n] = (uint16_t)klen;
            list->n++;
        }
        if (!comma)
            break;
        m = comma + 1;
    }
    return true;
}

/* list's members joined by ',' into out; when that is longer than
 * TS_TRACESTATE_MAX, whole members left out until it is not: those longer
 * than 128 characters first, then the others, each time the last one
 * first (trace-context §3.3.1.5: the leftmost is the latest vendor's).
 * Returns the length, 0 for no member. */
static size_t tracestate_put(const struct tracestate_list *list, char out[TS_TRACESTATE_MAX])
{
    bool kept[TS_TRACESTATE_MEMBERS_MAX];
    size_t total = 0;
    for (size_t i = 0; i < list->n; i++) {
        kept[i] = true;
        total += list->len[i] + 1; /* and its ',' (one too many in all) */
    }
    for (size_t longer_than = 128;; longer_than = 0) {
        for (size_t i = list->n; i-- > 0 && total > TS_TRACESTATE_MAX + 1;)
            if (kept[i] && list->len[i] > longer_than) {
                kept[i] = false;
                total -= list->len[i] + 1;
            }
        if (longer_than == 0)
            break;
    }
    size_t len = 0;
    for (size_t i = 0; i < list->n; i++)
        if (kept[i]) {
            if (len)
                out[len++] = ',';
            memcpy(out + len, list->member[i], list->len[i]);
            len += list->len[i];
        }
    return len;
}

bool ts_tracestate_valid(const char *v, size_t len)
{
    struct tracestate_list list = {.n = 0};
    return v && len && len <= TS_TRACESTATE_MAX && tracestate_add(&list, v, len) && list.n > 0;
}

size_t ts_tracestate_normalize(const char *v, size_t len, char out[TS_TRACESTATE_MAX])
{
    struct tracestate_list list = {.n = 0};
    if (!tracestate_add(&list, v, len) || list.n == 0)
        return 0;
    if (len > TS_TRACESTATE_MAX)
        return tracestate_put(&list, out);
    memcpy(out, v, len); /* as it came */
    return len;
}

size_t ts_tracestate_find(const struct ts_http_header *h, size_t n, char out[TS_TRACESTATE_MAX])
{
    struct tracestate_list list = {.n = 0};
    size_t len = 0;
    bool whole = true; /* the values joined as they came fit in out */
    for (size_t i = 0; h && i < n; i++) {
        const struct ts_http_header *x = &h[i];
        if (!TS_HTTP_NAMED(x, "tracestate") || x->value_len == 0)
            continue;
        if (!tracestate_add(&list, x->value, x->value_len))
            return 0;
        size_t sep = len ? 1 : 0;
        if (whole && x->value_len + sep <= TS_TRACESTATE_MAX - len) {
            if (sep)
                out[len] = ',';
            memcpy(out + len + sep, x->value, x->value_len);
            len += sep + x->value_len;
        } else {
            whole = false;
        }
    }
    if (list.n == 0)
        return 0;
    return whole ? len : tracestate_put(&list, out);
}

bool ts_tracestate_present(const struct ts_http_header *h, size_t n)
{
    for (size_t i = 0; h && i < n; i++)
        if (TS_HTTP_NAMED(&h[i], "tracestate"))
            return true;
    return false;
}

/* ------------------------------------------------------------------ inject */

/* Bounded appender: once anything does not fit, `ok` stays false. Every
 * request a client sends gets these lines, so pieces of known length are
 * copied without measuring them, and ids are encoded in place. */
struct out_buf {
    char *p;
    size_t len, cap;
    bool ok;
};

/* Room for n more bytes, else ok turns false. */
static bool room(struct out_buf *o, size_t n)
{
    if (o->ok && n <= o->cap - o->len)
        return true;
    o->ok = false;
    return false;
}

static void put(struct out_buf *o, const char *s, size_t n)
{
    if (room(o, n)) {
        memcpy(o->p + o->len, s, n);
        o->len += n;
    }
}

/* A string literal, its length known at compile time. */
#define put_lit(o, lit) put((o), (lit), sizeof(lit) - 1)

/* The context's ids in hex, each encoded once however many formats
 * carry it (the defaults carry the trace and span ids twice). */
struct ids_hex {
    char trace[2 * TS_TRACE_ID_LEN];
    char span[2 * TS_SPAN_ID_LEN];
    char parent[2 * TS_SPAN_ID_LEN]; /* only when ctx->has_parent */
};

/* The trace id as B3 and Jaeger carry it: 16 hex digits when 64-bit. */
static void put_trace_id(struct out_buf *o, const struct ts_ctx *ctx, const struct ids_hex *x)
{
    if (ctx->trace_id_64)
        put(o, x->trace + TS_TRACE_ID_LEN, TS_TRACE_ID_LEN);
    else
        put(o, x->trace, sizeof x->trace);
}

/* B3 multi's decision line (none for a deferred one). Debug implies
 * accept, so the spec says not to send Sampled with the flag; where an
 * X-B3-Flags is written already (flags_written), Sampled says accept.
 * Inlined: ts_prop_inject, on every request, pays no call for it. */
static inline __attribute__((always_inline)) void
put_b3_multi_decision(struct out_buf *o, uint8_t sampling, bool flags_written)
{
    if (sampling == TS_SAMPLING_DEBUG && !flags_written)
        put_lit(o, "X-B3-Flags: 1\r\n");
    else if (sampling == TS_SAMPLING_ACCEPT || sampling == TS_SAMPLING_DEBUG)
        put_lit(o, "X-B3-Sampled: 1\r\n");
    else if (sampling == TS_SAMPLING_DENY)
        put_lit(o, "X-B3-Sampled: 0\r\n");
}

/* The b3 single header's sampling field, with its dash ("-1"; 2 bytes). */
static inline const char *b3_single_field(uint8_t sampling)
{
    return sampling == TS_SAMPLING_DEBUG ? "-d" : sampling == TS_SAMPLING_ACCEPT ? "-1" : "-0";
}

size_t ts_prop_b3_decision(unsigned format, uint8_t sampling, bool flags_written, char *buf,
                           size_t cap)
{
    struct out_buf o = {buf, 0, cap, true};
    if (sampling == TS_SAMPLING_DEFER || !buf)
        return 0;
    if (format == TS_PROP_B3)
        put(&o, b3_single_field(sampling), 2);
    else
        put_b3_multi_decision(&o, sampling, flags_written);
    return o.ok ? o.len : 0;
}

size_t ts_prop_inject(unsigned formats, const struct ts_ctx *ctx, char *buf, size_t cap)
{
    /* An invalid context has no ids worth sending: receivers would reject
     * all-zero ids anyway, so nothing is written. */
    if (!ctx || !ctx->valid || !buf)
        return 0;
    struct out_buf o = {buf, 0, cap, true};
    bool sampled = ts_ctx_sampled(ctx);
    struct ids_hex x;
    ts_hex_encode(ctx->trace_id, TS_TRACE_ID_LEN, x.trace);
    ts_hex_encode(ctx->span_id, TS_SPAN_ID_LEN, x.span);
    if (ctx->has_parent)
        ts_hex_encode(ctx->parent_id, TS_SPAN_ID_LEN, x.parent);

    if (formats & TS_PROP_B3MULTI) {
        put_lit(&o, "X-B3-TraceId: ");
        put_trace_id(&o, ctx, &x);
        put_lit(&o, "\r\nX-B3-SpanId: ");
        put(&o, x.span, sizeof x.span);
        put_lit(&o, "\r\n");
        if (ctx->has_parent) {
            put_lit(&o, "X-B3-ParentSpanId: ");
            put(&o, x.parent, sizeof x.parent);
            put_lit(&o, "\r\n");
        }
        put_b3_multi_decision(&o, ctx->sampling, false);
    }
    if (formats & TS_PROP_B3) {
        put_lit(&o, "b3: ");
        put_trace_id(&o, ctx, &x);
        put_lit(&o, "-");
        put(&o, x.span, sizeof x.span);
        /* The parent is positional after the sampling field, so a deferred
         * decision (no field) cannot carry it. */
        if (ctx->sampling != TS_SAMPLING_DEFER) {
            put(&o, b3_single_field(ctx->sampling), 2);
            if (ctx->has_parent) {
                put_lit(&o, "-");
                put(&o, x.parent, sizeof x.parent);
            }
        }
        put_lit(&o, "\r\n");
    }
    if (formats & TS_PROP_TRACECONTEXT) {
        /* Always 128-bit: a 64-bit id is already zero in its high bytes. */
        put_lit(&o, "traceparent: 00-");
        put(&o, x.trace, sizeof x.trace);
        put_lit(&o, "-");
        put(&o, x.span, sizeof x.span);
        put(&o, sampled ? "-01\r\n" : "-00\r\n", 5);
    }
    if (formats & TS_PROP_JAEGER) {
        put_lit(&o, "uber-trace-id: ");
        put_trace_id(&o, ctx, &x);
        put_lit(&o, ":");
        put(&o, x.span, sizeof x.span);
        put_lit(&o, ":");
        if (ctx->has_parent)
            put(&o, x.parent, sizeof x.parent);
        else
            put_lit(&o, "0");
        /* Jaeger flags: 0x01 sampled, 0x02 debug (sent with sampled). */
        put(&o, ctx->sampling == TS_SAMPLING_DEBUG ? ":3\r\n" : sampled ? ":1\r\n" : ":0\r\n", 4);
    }
    return o.ok ? o.len : 0;
}
