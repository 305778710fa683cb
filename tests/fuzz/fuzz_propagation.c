/* fuzz_propagation.c — libFuzzer target for the trace context codecs
 * (hooks/propagation.c): what a request from anywhere can make the shim
 * believe about its trace.
 *
 * The input is given whole to the b3, traceparent and uber-trace-id value
 * parsers, and split at newlines into a header list ("name: value" lines,
 * a line without ':' becomes a header without a name, as an obs-fold
 * continuation does) for the B3 multi parser, ts_prop_extract,
 * ts_prop_present and ts_prop_id_fields. Every name and value lives in a
 * heap block of its exact size, so a read past it is an ASan report.
 *
 * Invariants (abort() on violation): a parse that fails leaves its output
 * invalid; one that succeeds has non-zero ids, and ts_prop_inject of its
 * context writes "Name: value\r\n" lines with no other CR or LF, lower-case
 * hex ids, at most 512 bytes, nothing when the buffer is short; each
 * format's line parses back to the same ids, and to the parent and
 * sampling decision the format can carry; the id fields found point at 16
 * hex digits inside a header value, and where a b3 value that names the
 * context without a decision ends, a decision put there (ts_prop_b3_decision)
 * makes it parse so decided. A tracestate (the whole input, and
 * the tracestate lines joined) is accepted only at most 512 characters
 * long, printable, without CR or LF; what ts_tracestate_find returns is
 * itself valid. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hooks/propagation.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

#define MAX_H 64
#define ALL_FORMATS (TS_PROP_B3MULTI | TS_PROP_B3 | TS_PROP_TRACECONTEXT | TS_PROP_JAEGER)

static bool all_zero(const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return false;
    return true;
}

static bool is_lower_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* A parser's verdict and what it left in *c agree. */
static void check_parsed(bool ok, const struct ts_ctx *c)
{
    CHECK(ok == c->valid);
    if (!ok)
        return;
    CHECK(!all_zero(c->trace_id, TS_TRACE_ID_LEN));
    CHECK(!all_zero(c->span_id, TS_SPAN_ID_LEN));
    CHECK(c->sampling <= TS_SAMPLING_DEBUG);
    CHECK(c->has_parent == !all_zero(c->parent_id, TS_SPAN_ID_LEN));
    if (c->trace_id_64) /* a 64-bit id is stored right-aligned */
        CHECK(all_zero(c->trace_id, 8));
}

/* ------------------------------------------------- injected header lines */

struct line {
    char name[32];
    const char *value;
    size_t value_len;
};

/* Split inject output into its lines: each "Name: value\r\n", the name a
 * known one, no CR or LF anywhere else, the value's characters those its
 * format uses. Returns the number of lines. */
static size_t split_lines(const char *buf, size_t len, struct line *out, size_t max)
{
    static const char *const names[] = {"X-B3-TraceId", "X-B3-SpanId",  "X-B3-ParentSpanId",
                                        "X-B3-Sampled", "X-B3-Flags",   "b3",
                                        "traceparent",  "uber-trace-id"};
    size_t n = 0, pos = 0;
    while (pos < len) {
        CHECK(n < max);
        const char *eol = memchr(buf + pos, '\n', len - pos);
        CHECK(eol != NULL);
        size_t end = (size_t)(eol - buf);
        CHECK(end > pos && buf[end - 1] == '\r');
        const char *line = buf + pos;
        size_t llen = end - 1 - pos;
        CHECK(memchr(line, '\r', llen) == NULL);
        const char *colon = memchr(line, ':', llen);
        CHECK(colon != NULL);
        size_t nlen = (size_t)(colon - line);
        CHECK(nlen > 0 && nlen < sizeof out[n].name);
        CHECK(llen >= nlen + 2 && colon[1] == ' ');
        memcpy(out[n].name, line, nlen);
        out[n].name[nlen] = '\0';
        bool known = false;
        for (size_t k = 0; k < sizeof names / sizeof *names; k++)
            known = known || strcmp(out[n].name, names[k]) == 0;
        CHECK(known);
        out[n].value = colon + 2;
        out[n].value_len = llen - nlen - 2;
        CHECK(out[n].value_len > 0);
        for (size_t k = 0; k < out[n].value_len; k++) {
            char c = out[n].value[k];
            CHECK(is_lower_hex(c) || c == '-' || c == ':');
        }
        n++;
        pos = end + 1;
    }
    return n;
}

static const struct line *find_line(const struct line *l, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(l[i].name, name) == 0)
            return &l[i];
    return NULL;
}

/* The lines as a header list, over their own exact-size copies. */
static size_t lines_to_headers(const struct line *l, size_t n, struct ts_http_header *h,
                               char **copies)
{
    for (size_t i = 0; i < n; i++) {
        copies[i] = malloc(l[i].value_len);
        CHECK(copies[i] != NULL);
        memcpy(copies[i], l[i].value, l[i].value_len);
        h[i] = (struct ts_http_header){l[i].name, strlen(l[i].name), copies[i], l[i].value_len};
    }
    return n;
}

static void same_ids(const struct ts_ctx *a, const struct ts_ctx *b)
{
    CHECK(a->valid && b->valid);
    CHECK(memcmp(a->trace_id, b->trace_id, TS_TRACE_ID_LEN) == 0);
    CHECK(memcmp(a->span_id, b->span_id, TS_SPAN_ID_LEN) == 0);
}

/* What the format keeps of ctx after a trip through its header(s). */
static void check_carried(unsigned format, const struct ts_ctx *in, const struct ts_ctx *back)
{
    same_ids(in, back);
    bool sampled = ts_ctx_sampled(in);
    switch (format) {
    case TS_PROP_B3MULTI:
        CHECK(back->trace_id_64 == in->trace_id_64);
        CHECK(back->has_parent == in->has_parent);
        CHECK(memcmp(back->parent_id, in->parent_id, TS_SPAN_ID_LEN) == 0);
        CHECK(back->sampling == in->sampling);
        break;
    case TS_PROP_B3:
        CHECK(back->trace_id_64 == in->trace_id_64);
        CHECK(back->sampling == in->sampling);
        /* the parent is positional after the sampling field */
        if (in->sampling != TS_SAMPLING_DEFER) {
            CHECK(back->has_parent == in->has_parent);
            CHECK(memcmp(back->parent_id, in->parent_id, TS_SPAN_ID_LEN) == 0);
        } else {
            CHECK(!back->has_parent);
        }
        break;
    case TS_PROP_TRACECONTEXT:
        CHECK(!back->trace_id_64 && !back->has_parent);
        CHECK(back->sampling == (sampled ? TS_SAMPLING_ACCEPT : TS_SAMPLING_DENY));
        break;
    case TS_PROP_JAEGER:
        CHECK(back->trace_id_64 == in->trace_id_64);
        CHECK(back->has_parent == in->has_parent);
        CHECK(memcmp(back->parent_id, in->parent_id, TS_SPAN_ID_LEN) == 0);
        CHECK(back->sampling == (in->sampling == TS_SAMPLING_DEBUG ? TS_SAMPLING_DEBUG
                                 : sampled                         ? TS_SAMPLING_ACCEPT
                                                                   : TS_SAMPLING_DENY));
        break;
    }
}

/* Inject ctx in one format, parse it back with that format's parser. */
static void round_trip_one(unsigned format, const struct ts_ctx *ctx)
{
    char buf[1024];
    size_t n = ts_prop_inject(format, ctx, buf, sizeof buf);
    CHECK(n > 0 && n <= 512);
    struct line l[8];
    size_t nl = split_lines(buf, n, l, 8);
    struct ts_ctx back;
    bool ok = false;
    const struct line *v;
    switch (format) {
    case TS_PROP_B3MULTI: {
        struct ts_http_header h[8];
        char *copies[8];
        lines_to_headers(l, nl, h, copies);
        ok = ts_b3_multi_parse(h, nl, &back);
        for (size_t i = 0; i < nl; i++)
            free(copies[i]);
        break;
    }
    case TS_PROP_B3:
        CHECK(nl == 1 && (v = find_line(l, nl, "b3")) != NULL);
        ok = ts_b3_single_parse(v->value, v->value_len, &back);
        break;
    case TS_PROP_TRACECONTEXT:
        CHECK(nl == 1 && (v = find_line(l, nl, "traceparent")) != NULL);
        ok = ts_traceparent_parse(v->value, v->value_len, &back);
        break;
    case TS_PROP_JAEGER:
        CHECK(nl == 1 && (v = find_line(l, nl, "uber-trace-id")) != NULL);
        ok = ts_uber_trace_id_parse(v->value, v->value_len, &back);
        break;
    }
    CHECK(ok);
    check_parsed(ok, &back);
    check_carried(format, ctx, &back);
}

/* Every format, every subset, every short buffer. */
static void round_trip(const struct ts_ctx *ctx, unsigned pick)
{
    check_parsed(true, ctx);
    round_trip_one(TS_PROP_B3MULTI, ctx);
    round_trip_one(TS_PROP_B3, ctx);
    round_trip_one(TS_PROP_TRACECONTEXT, ctx);
    round_trip_one(TS_PROP_JAEGER, ctx);

    /* all formats at once: extract reads the same ids back */
    char all[1024];
    size_t n = ts_prop_inject(ALL_FORMATS, ctx, all, sizeof all);
    CHECK(n > 0 && n <= 512);
    struct line l[16];
    size_t nl = split_lines(all, n, l, 16);
    struct ts_http_header h[16];
    char *copies[16];
    lines_to_headers(l, nl, h, copies);
    struct ts_ctx back;
    CHECK(ts_prop_extract(h, nl, &back));
    check_parsed(true, &back);
    same_ids(ctx, &back);
    CHECK(ts_prop_present(h, nl) == ALL_FORMATS);
    struct ts_prop_id_fields f;
    ts_prop_id_fields(h, nl, ctx, &f);
    CHECK(f.nspan == 4); /* b3, X-B3-SpanId, traceparent, uber-trace-id */
    for (size_t i = 0; i < nl; i++)
        free(copies[i]);

    /* a subset, and the same subset into a buffer that may be short */
    unsigned formats = pick & ALL_FORMATS;
    size_t want = ts_prop_inject(formats, ctx, all, sizeof all);
    CHECK(formats ? want > 0 : want == 0);
    size_t cap = (pick >> 4) % (want + 2);
    char *small = malloc(cap ? cap : 1);
    CHECK(small != NULL);
    size_t got = ts_prop_inject(formats, ctx, small, cap);
    CHECK(got == (cap >= want ? want : 0));
    if (got)
        CHECK(memcmp(small, all, got) == 0);
    free(small);
}

/* ------------------------------------------------------- header lists */

struct hlist {
    struct ts_http_header h[MAX_H];
    char *blocks[2 * MAX_H];
    size_t n, nblocks;
};

static const char *copy_exact(struct hlist *l, const char *p, size_t n)
{
    char *b = malloc(n ? n : 1);
    CHECK(b != NULL);
    memcpy(b, p, n);
    l->blocks[l->nblocks++] = b;
    return b;
}

/* Lines at '\n' (a '\r' before it dropped); "name: value", the value
 * trimmed of blanks; a line without ':' is a value without a name. */
static void build_headers(struct hlist *l, const char *buf, size_t len)
{
    l->n = l->nblocks = 0;
    size_t pos = 0;
    while (pos < len && l->n < MAX_H) {
        const char *eol = memchr(buf + pos, '\n', len - pos);
        size_t end = eol ? (size_t)(eol - buf) : len;
        const char *line = buf + pos;
        size_t llen = end - pos;
        if (llen && line[llen - 1] == '\r')
            llen--;
        const char *colon = memchr(line, ':', llen);
        struct ts_http_header *h = &l->h[l->n++];
        const char *v = line;
        size_t vlen = llen;
        if (colon) {
            h->name_len = (size_t)(colon - line);
            h->name = copy_exact(l, line, h->name_len);
            v = colon + 1;
            vlen = llen - h->name_len - 1;
        } else {
            h->name = NULL;
            h->name_len = 0;
        }
        while (vlen && (*v == ' ' || *v == '\t'))
            v++, vlen--;
        while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
            vlen--;
        h->value = copy_exact(l, v, vlen);
        h->value_len = vlen;
        pos = end + 1;
    }
}

static void free_headers(struct hlist *l)
{
    for (size_t i = 0; i < l->nblocks; i++)
        free(l->blocks[i]);
}

/* Is p[0..16) inside one of the header values? */
static bool in_a_value(const struct hlist *l, const char *p)
{
    for (size_t i = 0; i < l->n; i++) {
        const char *v = l->h[i].value;
        if (p >= v && l->h[i].value_len >= 16 && (size_t)(p - v) <= l->h[i].value_len - 16)
            return true;
    }
    return false;
}

static void check_id_fields(const struct hlist *l, const struct ts_ctx *ctx)
{
    struct ts_prop_id_fields f;
    ts_prop_id_fields(l->h, l->n, ctx, &f);
    CHECK(f.nspan >= 0 && f.nspan <= 4 && f.nparent >= 0 && f.nparent <= 4);
    for (int i = 0; i < f.nspan; i++) {
        CHECK(in_a_value(l, f.span[i]));
        uint8_t id[TS_SPAN_ID_LEN];
        CHECK(ts_hex_decode(f.span[i], TS_SPAN_ID_LEN, id));
        CHECK(memcmp(id, ctx->span_id, TS_SPAN_ID_LEN) == 0);
    }
    for (int i = 0; i < f.nparent; i++) {
        CHECK(in_a_value(l, f.parent[i]));
        uint8_t id[TS_SPAN_ID_LEN];
        CHECK(ts_hex_decode(f.parent[i], TS_SPAN_ID_LEN, id));
    }
    CHECK((f.undecided & ~(unsigned)(TS_PROP_B3 | TS_PROP_B3MULTI)) == 0);
    CHECK(!(f.undecided & TS_PROP_B3) == !f.b3_decision_at);
    if (f.b3_decision_at) {
        /* the end of a b3 value that names ctx; its decision put there
         * ("-0", "-d") makes a value that parses to the same ids so decided */
        const struct ts_http_header *b3 = NULL;
        for (size_t i = 0; i < l->n && !b3; i++)
            if (l->h[i].name_len == 2 && l->h[i].value + l->h[i].value_len == f.b3_decision_at)
                b3 = &l->h[i];
        CHECK(b3 != NULL && b3->value_len <= 49);
        static const uint8_t decisions[] = {TS_SAMPLING_DENY, TS_SAMPLING_DEBUG};
        for (size_t k = 0; k < 2; k++) {
            char v[64];
            memcpy(v, b3->value, b3->value_len);
            CHECK(ts_prop_b3_decision(TS_PROP_B3, decisions[k], false, v + b3->value_len, 2) == 2);
            struct ts_ctx c;
            CHECK(ts_b3_single_parse(v, b3->value_len + 2, &c));
            same_ids(ctx, &c);
            CHECK(c.sampling == decisions[k]);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* the whole input as one header value, in a block of its own size */
    char *v = malloc(size ? size : 1);
    CHECK(v != NULL);
    memcpy(v, data, size);
    unsigned pick = size ? data[0] * 31u + data[size - 1] : 0;
    struct ts_ctx c;
    bool ok = ts_b3_single_parse(v, size, &c);
    check_parsed(ok, &c);
    if (ok)
        round_trip(&c, pick);
    ok = ts_traceparent_parse(v, size, &c);
    check_parsed(ok, &c);
    if (ok)
        round_trip(&c, pick);
    ok = ts_uber_trace_id_parse(v, size, &c);
    check_parsed(ok, &c);
    if (ok)
        round_trip(&c, pick);
    if (ts_tracestate_valid(v, size)) {
        CHECK(size <= TS_TRACESTATE_MAX);
        for (size_t i = 0; i < size; i++)
            CHECK(v[i] == '\t' || (v[i] >= 0x20 && v[i] <= 0x7e));
    }
    free(v);

    /* the input as header lines */
    static struct hlist l;
    build_headers(&l, (const char *)data, size);
    ok = ts_b3_multi_parse(l.h, l.n, &c);
    check_parsed(ok, &c);
    if (ok) {
        round_trip(&c, pick);
        check_id_fields(&l, &c);
    }
    ok = ts_prop_extract(l.h, l.n, &c);
    check_parsed(ok, &c);
    if (ok) {
        round_trip(&c, pick);
        check_id_fields(&l, &c);
    }
    CHECK((ts_prop_present(l.h, l.n) & ~(unsigned)ALL_FORMATS) == 0);
    char state[TS_TRACESTATE_MAX];
    size_t state_len = ts_tracestate_find(l.h, l.n, state);
    CHECK(state_len <= TS_TRACESTATE_MAX);
    CHECK(!state_len || (ts_tracestate_present(l.h, l.n) && ts_tracestate_valid(state, state_len)));
    free_headers(&l);
    /* and an empty list */
    CHECK(!ts_prop_extract(NULL, 0, &c) && !c.valid);
    return 0;
}
