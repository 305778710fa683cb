/* sampler.c — whether a new span is sampled (see sampler.h).
 *
 * One model serves every root sampler: a probability p, decided from the
 * trace id as OpenTelemetry's TraceIdRatioBased does, plus an optional
 * token bucket that lets through spans p rejected (Jaeger's
 * guaranteed-throughput sampler). always_on is p = 1, always_off p = 0,
 * rate limiting p = 0 with a bucket, a remote per-operation strategy one
 * (p, bucket) per listed operation and the default p for the others, each
 * with its own bucket in a table indexed by its name's hash.
 *
 * The strategy in force lives in one of two fixed-size buffers; an atomic
 * index names the live one. The writer (load, or the reporter thread
 * applying a remote strategy) fills the other buffer under that buffer's
 * sequence counter and then flips the index, so application threads decide
 * without a lock and without allocating: they copy what they need out of
 * the live buffer and retry if its counter moved meanwhile (a seqlock).
 * Every shared field is read and written with atomic builtins, so there is
 * no data race even when a read has to be retried. Because the live buffer
 * is never the one being written, a fork in the middle of an update leaves
 * the child a complete strategy. There is one writer at a time.
 *
 * Token buckets are kept as GCRA "theoretical arrival times": one 64-bit
 * word per bucket, updated with compare-and-swap, so rate limiting needs no
 * mutex either (and no lock can be left held by a fork).
 *
 * Number and name parsing is ASCII-only and locale-free, like config.c. */
#include "sampler.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "../common/json_read.h"
#include "../preload/ascii.h"
#include "../preload/clock.h"
#include "../preload/config.h"
#include "../preload/cut_text.h"
#include "../preload/log.h"
#include "../preload/url.h"

#define SAM_MAX_OPS 128  /* operations kept from a strategy; more are ignored */
#define SAM_NAME_MAX 128 /* longest operation name kept, in bytes */
#define SAM_NAME_WORDS (SAM_NAME_MAX / 8)
/* Lower-bound buckets of the operations a per-operation strategy does not
 * list, one per slot of a table indexed by the name's hash (two names in
 * one slot share it). Jaeger's clients give each new operation its own
 * guaranteed-throughput sampler up to maxOperations, 2000 by default; a
 * fixed table needs no allocation when a span starts. A power of two. */
#define SAM_OTHER_SLOTS 2048
#define SAM_URL_CAP 1024 /* longest sampling endpoint */
#define SAM_SHOWN_MAX 80 /* bytes of a rejected value shown in its message */

#define SAM_DEFAULT_ENDPOINT "http://localhost:5778/sampling"
#define SAM_DEFAULT_POLL_MS 60000u
#define SAM_MIN_POLL_MS 100u
#define SAM_MAX_POLL_MS 86400000u
#define SAM_DEFAULT_INITIAL_RATE 0.001 /* Jaeger's default sampling probability */
#define SAM_MAX_PER_SECOND 1e9

/* ------------------------------------------------------------- plans */

/* A strategy as the writer builds it (plain data, writer-only). */
struct sam_plan {
    double rate;       /* probability for spans no listed operation matches */
    double per_second; /* bucket refill: RATE_LIMITING's max, or the lower bound; 0: no bucket */
    bool per_operation; /* operationSampling: the bucket is each operation's lower bound */
    unsigned n_ops;
    struct {
        char name[SAM_NAME_MAX];
        size_t len;
        double rate;
    } ops[SAM_MAX_OPS];
};

/* The plan being built, and the plan that is live (for carrying bucket
 * state over to the same operation in the next strategy). */
static struct sam_plan sam_next, sam_prev;

static void sam_plan_simple(struct sam_plan *p, double rate, double per_second)
{
    p->rate = rate;
    p->per_second = per_second;
    p->per_operation = false;
    p->n_ops = 0;
}

/* Index of operation name[0..len) in p, or -1. The bound is checked
 * again in case a fork interrupted the copy of the live plan. */
static int sam_plan_find(const struct sam_plan *p, const char *name, size_t len)
{
    for (unsigned i = 0; i < p->n_ops && i < SAM_MAX_OPS; i++)
        if (p->ops[i].len == len && memcmp(p->ops[i].name, name, len) == 0)
            return (int)i;
    return -1;
}

/* ------------------------------------------------------------- shared buffers */

/* An operation as readers see it. The name is kept as zero-padded words so
 * it can be compared with atomic loads. */
struct sam_op {
    uint64_t hash;
    uint64_t len;
    uint64_t bound, all; /* probability: sampled when all, or low 64 bits < bound */
    uint64_t rate_bits;  /* the probability as a double's bits (the sampler.param tag) */
    uint64_t words[SAM_NAME_WORDS];
};

struct sam_buf {
    uint64_t seq;                   /* odd while the writer fills this buffer */
    uint64_t bound, all;            /* default probability */
    uint64_t rate_bits;             /* ... as a double's bits (the sampler.param tag) */
    uint64_t interval_ns, burst_ns; /* buckets: ns per token, tolerance; interval 0: none */
    uint64_t per_second_bits;       /* the buckets' rate as a double's bits */
    /* 1: the buckets are per-operation lower bounds, unlisted ones in other_tat */
    uint64_t lower_bounds;
    uint64_t n_ops;
    struct sam_op ops[SAM_MAX_OPS];
    /* Bucket state, outside the seqlock: the time at which the bucket will
     * be full again. [0] the strategy's one bucket (rate limiting), [1 + i]
     * ops[i]'s lower bound. */
    uint64_t tat[SAM_MAX_OPS + 1];
    /* With lower_bounds, the lower bounds of unlisted operations, by the
     * name's hash; written only then (untouched pages cost nothing). */
    uint64_t other_tat[SAM_OTHER_SLOTS];
};

/* Before any load: parent-based always-on, the documented default. */
static struct sam_buf sam_bufs[2] = {[0] = {.all = 1}};
static unsigned sam_live;

/* Shared fields are loaded with acquire and stored with release rather
 * than relaxed plus fences: a reader that sees any new field then also
 * sees the odd counter stored before it, and its final counter load cannot
 * move above its field loads. Same cost on x86, and ThreadSanitizer, which
 * does not model fences, understands it. */
#define SAM_LD(x) __atomic_load_n(&(x), __ATOMIC_ACQUIRE)
#define SAM_ST(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELEASE)

/* The fixed part of the configuration, set by ts_sampler_load only. */
struct sam_cfg {
    bool parent_based;
    bool remote;
    /* Under Jaeger's samplers (JAEGER_SAMPLER_TYPE, jaeger_remote), the
     * sampler.type of a root the probability samples (const or
     * probabilistic); TS_SAMPLER_TAG_NONE under OpenTelemetry's own. */
    uint8_t hit_tag;
    unsigned poll_ms;
    char endpoint[SAM_URL_CAP];
};

/* A macro, not a const object: C only allows constant expressions in a
 * static initializer (GCC accepts an object as an extension, clang not). */
#define SAM_CFG_DEFAULT                                                                            \
    {                                                                                              \
        .parent_based = true, .remote = false, .poll_ms = SAM_DEFAULT_POLL_MS,                     \
        .endpoint = SAM_DEFAULT_ENDPOINT,                                                          \
    }
static const struct sam_cfg sam_cfg_default = SAM_CFG_DEFAULT;
static struct sam_cfg sam_cfg = SAM_CFG_DEFAULT;

/* The live strategy's answer for every root span when it has one: no
 * operations, no bucket, and a probability of 1 or 0 (always_on,
 * always_off, Jaeger's const, the default). A root span then costs one
 * load instead of a pass of the seqlock. sam_publish sets it to SAM_ASK
 * before it fills a buffer and to the new strategy's answer after the
 * flip, so a reader never pairs the shortcut with a strategy it does not
 * belong to for longer than a decision that read the old buffer would,
 * and a fork in the middle leaves SAM_ASK, which is always right. */
enum { SAM_ASK = 0, SAM_ALWAYS = 1, SAM_NEVER = 2 };
static unsigned sam_shortcut = SAM_ALWAYS; /* matches sam_bufs' initial strategy */

/* FNV-1a, to skip most name comparisons cheaply. */
static uint64_t sam_hash(const char *s, size_t len)
{
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static void sam_words(const char *s, size_t len, uint64_t out[SAM_NAME_WORDS])
{
    memset(out, 0, SAM_NAME_WORDS * sizeof out[0]);
    memcpy(out, s, len);
}

/* A double as 64 bits that atomic loads and stores can move, and back. */
static uint64_t sam_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}
static double sam_double(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

/* A probability as a threshold on the trace id's low 64 bits. */
static void sam_threshold(double rate, uint64_t *bound, uint64_t *all)
{
    const double two64 = 18446744073709551616.0;
    *bound = 0;
    *all = 0;
    if (!(rate > 0))
        return;
    double b = rate * two64;
    if (rate >= 1 || b >= two64)
        *all = 1;
    else
        *bound = (uint64_t)b;
}

/* A rate in tokens per second as GCRA parameters: nanoseconds per token,
 * and how far ahead of now the bucket may run (max(1, rate) tokens). */
static void sam_bucket_params(double per_second, uint64_t *interval, uint64_t *burst)
{
    *interval = 0;
    *burst = 0;
    if (!(per_second > 0))
        return;
    double t = 1e9 / per_second;
    t = t < 1 ? 1 : t > 1e18 ? 1e18 : t;
    double b = (per_second > 1 ? per_second : 1) * t;
    b = b > 1e18 ? 1e18 : b;
    *interval = (uint64_t)t;
    *burst = (uint64_t)b;
}

/* The buckets' clock: the monotonic one, in nanoseconds. */
static uint64_t sam_now_ns(void)
{
    return ts_mono_ms() * 1000000u;
}

/* A bucket's state (tat) carried from a bucket of old_burst tolerance to
 * one of new_burst: the same fraction of it in use, as Jaeger's
 * RateLimiter.Update scales the balance to the new size. Carried as it
 * was, the debt of a slow bucket kept a fast one empty: from 0.1 traces
 * per second to 100, nothing was sampled for 9 s (from 1 a minute, up to
 * 60 s). A full bucket stays full, and going to or from no bucket
 * starts full. */
static uint64_t sam_carry_tat(uint64_t tat, uint64_t old_burst, uint64_t new_burst, uint64_t now)
{
    if (tat <= now)
        return tat;
    if (!old_burst || !new_burst)
        return now;
    uint64_t debt = tat - now < old_burst ? tat - now : old_burst;
    double scaled = (double)debt * ((double)new_burst / (double)old_burst);
    return now + (scaled < (double)new_burst ? (uint64_t)scaled : new_burst);
}

/* Make p the live strategy: fill the buffer readers are not using, then
 * flip. With carry, each bucket keeps the state it had under the previous
 * strategy for the same operation (the shared bucket its shared state), as
 * Jaeger clients do, so re-polling the same answer does not refill them;
 * scaled to the new bucket's size (sam_carry_tat). */
static void sam_publish(const struct sam_plan *p, bool carry)
{
    uint64_t bound, all, interval, burst;
    sam_threshold(p->rate, &bound, &all);
    sam_bucket_params(p->per_second, &interval, &burst);
    unsigned shortcut = p->n_ops || interval ? SAM_ASK
                        : all                ? SAM_ALWAYS
                        : bound              ? SAM_ASK
                                             : SAM_NEVER;
    /* Always or never, as the live strategy already is (the initial one is
     * always: every process's first load with the default sampler): no
     * operations, no bucket, nothing to carry over; nothing is written,
     * and the buffers' pages are not touched at every start. */
    if (shortcut != SAM_ASK && SAM_LD(sam_shortcut) == shortcut)
        return;
    unsigned w = (__atomic_load_n(&sam_live, __ATOMIC_RELAXED) & 1u) ^ 1u;
    struct sam_buf *b = &sam_bufs[w];
    struct sam_buf *old = &sam_bufs[w ^ 1u];
    uint64_t seq = SAM_LD(b->seq) | 1u;
    uint64_t now = carry ? sam_now_ns() : 0, old_burst = SAM_LD(old->burst_ns);
    uint64_t lower_bounds = p->per_operation && interval;

    SAM_ST(sam_shortcut, SAM_ASK);
    SAM_ST(b->seq, seq);
    SAM_ST(b->bound, bound);
    SAM_ST(b->all, all);
    SAM_ST(b->rate_bits, sam_bits(p->rate));
    SAM_ST(b->interval_ns, interval);
    SAM_ST(b->burst_ns, burst);
    SAM_ST(b->per_second_bits, sam_bits(p->per_second));
    SAM_ST(b->lower_bounds, lower_bounds);
    SAM_ST(b->n_ops, (uint64_t)p->n_ops);
    SAM_ST(b->tat[0], carry ? sam_carry_tat(SAM_LD(old->tat[0]), old_burst, burst, now) : 0);
    for (unsigned i = 0; i < p->n_ops; i++) {
        struct sam_op *op = &b->ops[i];
        uint64_t words[SAM_NAME_WORDS];
        sam_words(p->ops[i].name, p->ops[i].len, words);
        sam_threshold(p->ops[i].rate, &bound, &all);
        SAM_ST(op->hash, sam_hash(p->ops[i].name, p->ops[i].len));
        SAM_ST(op->len, (uint64_t)p->ops[i].len);
        SAM_ST(op->bound, bound);
        SAM_ST(op->all, all);
        SAM_ST(op->rate_bits, sam_bits(p->ops[i].rate));
        for (unsigned k = 0; k < SAM_NAME_WORDS; k++)
            SAM_ST(op->words[k], words[k]);
        int j = carry ? sam_plan_find(&sam_prev, p->ops[i].name, p->ops[i].len) : -1;
        SAM_ST(b->tat[i + 1],
               j >= 0 ? sam_carry_tat(SAM_LD(old->tat[j + 1]), old_burst, burst, now) : 0);
    }
    /* An unlisted operation keeps its slot (the same hash) from one
     * per-operation strategy to the next, as a listed one keeps its
     * bucket. */
    bool carry_others = carry && SAM_LD(old->lower_bounds);
    for (unsigned k = 0; lower_bounds && k < SAM_OTHER_SLOTS; k++)
        SAM_ST(b->other_tat[k],
               carry_others ? sam_carry_tat(SAM_LD(old->other_tat[k]), old_burst, burst, now) : 0);
    __atomic_store_n(&b->seq, seq + 1, __ATOMIC_RELEASE);
    __atomic_store_n(&sam_live, w, __ATOMIC_RELEASE);
    SAM_ST(sam_shortcut, shortcut);
    /* Only what sam_plan_find reads: the operations in use. The whole
     * plan is 18 KiB, and every process starts by publishing one with
     * none: copied whole, it cost each start nine page faults. */
    if (p != &sam_prev)
        memcpy(&sam_prev, p, offsetof(struct sam_plan, ops) + p->n_ops * sizeof p->ops[0]);
}

/* What one decision needs, copied out of the live buffer. */
struct sam_view {
    uint64_t bound, all;
    uint64_t interval_ns, burst_ns;
    uint64_t *tat; /* the bucket: the strategy's, a listed operation's, or an other_tat slot */
    /* for the sampler.* tags: the probability, the bucket's rate, and
     * whether the bucket is a lower bound (else it rate-limits) */
    uint64_t rate_bits, per_second_bits;
    bool lower_bound;
};

/* Index of the operation with this name in b, or -1 (reader side: atomic
 * loads only, the caller validates the sequence counter afterwards). */
static int sam_match(struct sam_buf *b, const uint64_t words[SAM_NAME_WORDS], size_t len,
                     uint64_t hash)
{
    uint64_t n = SAM_LD(b->n_ops);
    if (n > SAM_MAX_OPS)
        n = SAM_MAX_OPS;
    for (unsigned i = 0; i < n; i++) {
        struct sam_op *op = &b->ops[i];
        if (SAM_LD(op->hash) != hash || SAM_LD(op->len) != len)
            continue;
        unsigned k = 0;
        while (k < SAM_NAME_WORDS && SAM_LD(op->words[k]) == words[k])
            k++;
        if (k == SAM_NAME_WORDS)
            return (int)i;
    }
    return -1;
}

/* Copy the live strategy's answer for the operation name[0..len) into v
 * (the seqlock's reader side: retried until a consistent copy is had). A
 * name longer than SAM_NAME_MAX is never a listed operation. */
static void sam_read(struct sam_view *v, const char *name, size_t len)
{
    /* The name's hash (and its words) only when a strategy looks names
     * up: without a per-operation strategy (every sampler but a remote
     * one that sent operationSampling) each span would pay for a 128-byte
     * copy and a hash of its name for nothing. */
    uint64_t words[SAM_NAME_WORDS];
    uint64_t hash = 0;
    bool prepared = false;
    bool listable = len <= SAM_NAME_MAX;
    for (;;) {
        struct sam_buf *b = &sam_bufs[__atomic_load_n(&sam_live, __ATOMIC_ACQUIRE) & 1u];
        uint64_t seq = __atomic_load_n(&b->seq, __ATOMIC_ACQUIRE);
        if (seq & 1u)
            continue; /* a stale index: the live buffer is never being written */
        int i = -1;
        bool listed_ops = SAM_LD(b->n_ops) > 0, others = SAM_LD(b->lower_bounds) != 0;
        if ((listed_ops || others) && !prepared) {
            if (listable)
                sam_words(name, len, words);
            hash = sam_hash(name, len);
            prepared = true;
        }
        if (listed_ops && listable)
            i = sam_match(b, words, len, hash);
        v->interval_ns = SAM_LD(b->interval_ns);
        v->burst_ns = SAM_LD(b->burst_ns);
        v->per_second_bits = SAM_LD(b->per_second_bits);
        v->lower_bound = others;
        if (i >= 0) {
            v->bound = SAM_LD(b->ops[i].bound);
            v->all = SAM_LD(b->ops[i].all);
            v->rate_bits = SAM_LD(b->ops[i].rate_bits);
            v->tat = &b->tat[i + 1];
        } else {
            v->bound = SAM_LD(b->bound);
            v->all = SAM_LD(b->all);
            v->rate_bits = SAM_LD(b->rate_bits);
            v->tat = others ? &b->other_tat[hash & (SAM_OTHER_SLOTS - 1)] : &b->tat[0];
        }
        if (__atomic_load_n(&b->seq, __ATOMIC_RELAXED) == seq)
            return;
    }
}

/* Take one token from a GCRA bucket: tat is when the bucket is full again;
 * a token is available while taking it keeps tat within burst of now. */
static bool sam_take(uint64_t *tat, uint64_t interval, uint64_t burst)
{
    if (!interval)
        return false;
    uint64_t now = sam_now_ns();
    uint64_t old = __atomic_load_n(tat, __ATOMIC_RELAXED);
    for (;;) {
        uint64_t next = (old > now ? old : now) + interval;
        if (next - now > burst)
            return false;
        if (__atomic_compare_exchange_n(tat, &old, next, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
            return true;
    }
}

/* The trace id's random part as OpenTelemetry reads it: bytes 8..15,
 * big-endian, so every service decides alike for one trace. */
static uint64_t sam_low64(const uint8_t *id)
{
    return ts_id_u64(id + 8);
}

/* The root sampler: the probability, then the bucket. A span the
 * probability accepts still takes a token when one is there, so the bucket
 * guarantees a minimum rate rather than adding to it (Jaeger's
 * GuaranteedThroughputProbabilisticSampler). With tag, a sampled span's
 * sampler.* tags as Jaeger's clients set them: probabilistic and the
 * probability when it accepted; else lowerbound and the probability (the
 * collector counts the operation's probabilities) or ratelimiting and the
 * rate. Out of line: with a fixed decision (always_on, always_off) the
 * caller needs none of the registers and the stack this uses, and would
 * otherwise save them on every span. */
static __attribute__((noinline)) bool sam_root(const uint8_t *trace_id, const char *name,
                                               size_t len, uint8_t *tag, double *param)
{
    struct sam_view v;
    sam_read(&v, name ? name : "", name ? len : 0);
    bool hit = v.all || (trace_id && sam_low64(trace_id) < v.bound);
    bool token = sam_take(v.tat, v.interval_ns, v.burst_ns);
    if (tag && (hit || token)) {
        bool by_rate = !hit && !v.lower_bound;
        *tag = hit             ? sam_cfg.hit_tag
               : v.lower_bound ? TS_SAMPLER_TAG_LOWERBOUND
                               : TS_SAMPLER_TAG_RATELIMITING;
        *param = sam_double(by_rate ? v.per_second_bits : v.rate_bits);
    }
    return hit || token;
}

/* ------------------------------------------------------------- text */

/* A decimal number in s[0..len): digits with an optional fraction and
 * exponent, blanks around allowed; no sign, inf, nan or hex (strtod would
 * take those, and reads the locale's decimal point). */
static bool sam_number(const char *s, size_t len, double *out)
{
    s = ts_ascii_trim(s, &len);
    uint64_t mant = 0;
    int exp10 = 0, digits = 0;
    size_t i = 0;
    bool point = false;
    for (; i < len; i++) {
        if (s[i] == '.' && !point) {
            point = true;
        } else if (s[i] >= '0' && s[i] <= '9') {
            digits++;
            if (mant < 100000000000000000ull)
                mant = mant * 10 + (uint64_t)(s[i] - '0'), exp10 -= point;
            else
                exp10 += !point; /* beyond 18 digits only the magnitude counts */
        } else {
            break;
        }
    }
    if (!digits)
        return false;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        bool neg = ++i < len && s[i] == '-';
        i += i < len && (s[i] == '-' || s[i] == '+');
        int e = 0, edigits = 0;
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, edigits++)
            e = e < 10000 ? e * 10 + (s[i] - '0') : e;
        if (!edigits)
            return false;
        exp10 += neg ? -e : e;
    }
    if (i != len)
        return false;
    double scale = 1;
    for (int k = exp10 < 0 ? -exp10 : exp10; k > 0 && scale < 1e300; k--)
        scale *= 10;
    *out = exp10 < 0 ? (double)mant / scale : (double)mant * scale;
    return true;
}

/* ------------------------------------------------------------- reporting */

/* One error line, variable / value / what was expected (the shape config.c
 * uses), and count it. Control bytes in the value are shown as '?'. */
static void sam_reject(int *errors, const char *var, const char *value, const char *expected)
{
    char hidden[SAM_SHOWN_MAX * 2];
    if (strcmp(var, "OTEL_TRACES_SAMPLER_ARG") == 0) { /* jaeger_remote's endpoint=URL */
        ts_sampler_arg_shown(value, hidden, sizeof hidden);
        value = hidden;
    }
    char shown[SAM_SHOWN_MAX + 1];
    size_t n = 0;
    for (; value[n] && n < SAM_SHOWN_MAX; n++) {
        unsigned char c = (unsigned char)value[n];
        shown[n] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    shown[n] = '\0';
    ts_log_error("invalid %s=\"%s%s\": expected %s", var, shown, value[n] ? "..." : "", expected);
    (*errors)++;
}

/* A variable's value; NULL when unset or empty. */
static const char *sam_env(ts_env_lookup_fn lookup, const char *name)
{
    const char *v = lookup(name);
    return v && *v ? v : NULL;
}

/* A number in [lo, hi] read from v[0..len) (whole when integral); else
 * def, after an error line for var, whose whole value is shown. */
static double sam_read_number(const char *var, const char *shown, const char *v, size_t len,
                              double lo, double hi, bool integral, double def, const char *expected,
                              int *errors)
{
    double d;
    if (sam_number(v, len, &d) && d >= lo && d <= hi && (!integral || (double)(uint64_t)d == d))
        return d;
    sam_reject(errors, var, shown, expected);
    return def;
}

/* ------------------------------------------------------------- configuration */

#define SAM_PROBABILITY "a probability from 0 to 1"

enum sam_root_kind { SAM_ON, SAM_OFF, SAM_RATIO, SAM_REMOTE };

/* (sampler.h) */
/* Could text[0..len) carry a credential a URL carries (a user before '@',
 * a token in a query)? */
static bool sam_url_like(const char *text, size_t len)
{
    return memchr(text, '@', len) || memchr(text, '?', len) || memmem(text, len, "://", 3);
}

/* text[0..len) into o: as ts_url_shown shows a URL; "(not shown)" when it
 * is too long to look at. */
static void sam_put_url_shown(struct ts_cut_text *o, const char *text, size_t len)
{
    char url[SAM_URL_CAP], url_shown[SAM_URL_CAP];
    if (len >= sizeof url) {
        ts_cut_text_put(o, "(not shown)", sizeof "(not shown)" - 1);
        return;
    }
    memcpy(url, text, len);
    url[len] = '\0';
    ts_url_shown(url, url_shown, sizeof url_shown);
    ts_cut_text_put(o, url_shown, strlen(url_shown));
}

void ts_sampler_arg_shown(const char *arg, char *out, size_t cap)
{
    struct ts_cut_text o = {out, cap - 1, 0}; /* a byte kept for the NUL */
    bool has_url = sam_url_like(arg, strlen(arg));
    for (const char *p = arg;;) {
        size_t n = strcspn(p, ",");
        const char *eq = memchr(p, '=', n);
        if (!eq) {
            /* no key: beside a URL, maybe the tail of its query that the
             * list split at a comma ("a=1,SECRET"); else as written (a
             * ratio sampler's "0.5x") */
            if (n && has_url)
                ts_cut_text_put(&o, "(not shown)", sizeof "(not shown)" - 1);
            else
                ts_cut_text_put(&o, p, n);
        } else {
            size_t klen = (size_t)(eq - p), vlen = n - klen - 1;
            size_t tlen = klen;
            const char *key = ts_ascii_trim(p, &tlen);
            if (sam_url_like(p, klen)) { /* a URL whose query holds the '=' */
                sam_put_url_shown(&o, p, n);
            } else {
                ts_cut_text_put(&o, p, klen + 1);
                if (ts_ascii_eq_nocase(key, tlen, "endpoint") || sam_url_like(eq + 1, vlen))
                    sam_put_url_shown(&o, eq + 1, vlen);
                else
                    ts_cut_text_put(&o, eq + 1, vlen);
            }
        }
        if (!p[n])
            break;
        ts_cut_text_put(&o, ",", 1);
        p += n + 1;
    }
    out[o.len] = '\0';
}

/* The strategy URL url[0..len) into cfg; else why it is refused. */
static const char *sam_endpoint(const char *url, size_t len, struct sam_cfg *cfg)
{
    char copy[SAM_URL_CAP];
    struct ts_url u;
    if (len >= sizeof copy)
        return "a URL of at most 1023 bytes";
    memcpy(copy, url, len);
    copy[len] = '\0';
    const char *why = ts_url_parse(copy, &u);
    /* url.c's words for https name the exporter: this is the sampler's */
    if (why && ts_ascii_prefix_nocase(copy, "https://"))
        why = "an http:// URL (https is not supported: the remote sampler polls a local Jaeger "
              "agent over plain HTTP)";
    if (!why)
        memcpy(cfg->endpoint, copy, len + 1);
    return why;
}

/* jaeger_remote's OTEL_TRACES_SAMPLER_ARG entry key=value (entry[0..len),
 * non-empty); an unknown key or bad value is one error line, which shows
 * the whole argument, arg, without its credentials (sam_reject). */
static void sam_remote_entry(const char *arg, const char *entry, size_t len, struct sam_cfg *cfg,
                             double *initial, int *errors)
{
    static const char var[] = "OTEL_TRACES_SAMPLER_ARG";
    const char *eq = memchr(entry, '=', len);
    size_t klen = eq ? (size_t)(eq - entry) : len;
    const char *key = ts_ascii_trim(entry, &klen);
    size_t vlen = eq ? (size_t)(entry + len - (eq + 1)) : 0;
    const char *val = eq ? ts_ascii_trim(eq + 1, &vlen) : NULL;

    if (eq && ts_ascii_eq_nocase(key, klen, "initialsamplingrate")) {
        *initial = sam_read_number(var, arg, val, vlen, 0, 1, false, SAM_DEFAULT_INITIAL_RATE,
                                   "initialSamplingRate to be " SAM_PROBABILITY, errors);
    } else if (eq && ts_ascii_eq_nocase(key, klen, "pollingintervalms")) {
        cfg->poll_ms = (unsigned)sam_read_number(
            var, arg, val, vlen, SAM_MIN_POLL_MS, SAM_MAX_POLL_MS, true, SAM_DEFAULT_POLL_MS,
            "pollingIntervalMs to be a whole number of milliseconds from 100 to 86400000", errors);
    } else if (eq && ts_ascii_eq_nocase(key, klen, "endpoint")) {
        const char *why = sam_endpoint(val, vlen, cfg);
        if (why) {
            char expected[256];
            snprintf(expected, sizeof expected, "endpoint to be %s", why);
            sam_reject(errors, var, arg, expected);
        }
    } else {
        /* The entry's key is named when it is a plain word before a '='
         * (as the argument is shown): an entry without one may be a URL
         * given without "endpoint=", with a user's password, or a token. */
        bool plain = eq && klen > 0 && klen <= SAM_SHOWN_MAX;
        for (size_t i = 0; i < klen && plain; i++)
            plain = (key[i] >= 'a' && key[i] <= 'z') || (key[i] >= 'A' && key[i] <= 'Z') ||
                    (key[i] >= '0' && key[i] <= '9') || key[i] == '_' || key[i] == '.' ||
                    key[i] == '-';
        char expected[SAM_SHOWN_MAX + 160];
        snprintf(expected, sizeof expected,
                 "comma-separated endpoint=URL, pollingIntervalMs=MS and "
                 "initialSamplingRate=RATE, not %s%.*s%s",
                 plain ? "\"" : "", plain ? (int)klen : 0, key,
                 plain ? "\""
                 : eq  ? "that entry"
                       : "an entry without =");
        sam_reject(errors, var, arg, expected);
    }
}

/* jaeger_remote's argument: a comma list of key=value, each optional.
 * All or nothing: the entries are read into copies, which replace cfg and
 * *initial only when every entry is valid. OpenTelemetry's rule for
 * OTEL_TRACES_SAMPLER_ARG is that invalid input is logged and otherwise
 * ignored, as if the variable were not set; applying the valid entries
 * beside a bad one would give a sampler nobody asked for. Each bad entry
 * is still one line. */
static void sam_remote_arg(const char *arg, struct sam_cfg *cfg, double *initial, int *errors)
{
    if (!arg)
        return;
    struct sam_cfg parsed = *cfg;
    double parsed_initial = *initial;
    int errors_before = *errors;
    const char *p = arg;
    while (*p) {
        size_t n = strcspn(p, ",");
        size_t len = n;
        const char *entry = ts_ascii_trim(p, &len);
        if (len)
            sam_remote_entry(arg, entry, len, &parsed, &parsed_initial, errors);
        p += n + (p[n] == ',');
    }
    if (*errors != errors_before)
        return;
    *cfg = parsed;
    *initial = parsed_initial;
}

/* OTEL_TRACES_SAMPLER (set) and its argument into cfg and plan. */
static void sam_load_otel(ts_env_lookup_fn lookup, const char *v, struct sam_cfg *cfg,
                          struct sam_plan *plan, int *errors)
{
    static const struct {
        const char *name;
        enum sam_root_kind root;
        bool parent_based;
    } names[] = {
        {"always_on", SAM_ON, false},
        {"always_off", SAM_OFF, false},
        {"traceidratio", SAM_RATIO, false},
        {"parentbased_always_on", SAM_ON, true},
        {"parentbased_always_off", SAM_OFF, true},
        {"parentbased_traceidratio", SAM_RATIO, true},
        {"jaeger_remote", SAM_REMOTE, false},
        {"parentbased_jaeger_remote", SAM_REMOTE, true},
    };
    size_t len = strlen(v);
    const char *t = ts_ascii_trim(v, &len);
    size_t i = 0;
    while (i < sizeof names / sizeof names[0] && !ts_ascii_eq_nocase(t, len, names[i].name))
        i++;
    if (i == sizeof names / sizeof names[0]) {
        sam_reject(errors, "OTEL_TRACES_SAMPLER", v,
                   "always_on, always_off, traceidratio, parentbased_always_on, "
                   "parentbased_always_off, parentbased_traceidratio, jaeger_remote or "
                   "parentbased_jaeger_remote");
        return;
    }
    cfg->parent_based = names[i].parent_based;
    const char *arg = sam_env(lookup, "OTEL_TRACES_SAMPLER_ARG");
    double rate = names[i].root == SAM_OFF ? 0 : 1;
    if (names[i].root == SAM_RATIO && arg)
        rate = sam_read_number("OTEL_TRACES_SAMPLER_ARG", arg, arg, strlen(arg), 0, 1, false, 1,
                               SAM_PROBABILITY, errors);
    if (names[i].root == SAM_REMOTE) {
        cfg->remote = true;
        cfg->hit_tag = TS_SAMPLER_TAG_PROBABILISTIC;
        rate = SAM_DEFAULT_INITIAL_RATE;
        sam_remote_arg(arg, cfg, &rate, errors);
    }
    sam_plan_simple(plan, rate, 0);
}

/* JAEGER_SAMPLER_MANAGER_HOST_PORT (host:port, host may be [IPv6]) as the
 * endpoint http://HOST:PORT/sampling. */
static void sam_host_port(const char *v, struct sam_cfg *cfg, int *errors)
{
    size_t len = strlen(v);
    const char *t = ts_ascii_trim(v, &len);
    const char *colon = NULL;
    for (size_t i = 0; i < len; i++)
        colon = t[i] == ':' ? t + i : colon;
    bool ok = colon && colon > t && colon + 1 < t + len && !memchr(t, '/', len) &&
              !memchr(t, '?', len) && !memchr(t, '#', len);
    char url[SAM_URL_CAP];
    struct ts_url u;
    if (ok) {
        int n = snprintf(url, sizeof url, "http://%.*s/sampling", (int)len, t);
        ok = n > 0 && (size_t)n < sizeof url && !ts_url_parse(url, &u);
    }
    if (ok)
        memcpy(cfg->endpoint, url, strlen(url) + 1);
    else
        sam_reject(errors, "JAEGER_SAMPLER_MANAGER_HOST_PORT", v,
                   "host:port of the Jaeger agent's sampling server");
}

/* JAEGER_SAMPLING_ENDPOINT, a URL as given (?service=NAME is added). */
static void sam_sampling_endpoint(const char *v, struct sam_cfg *cfg, int *errors)
{
    size_t len = strlen(v);
    const char *t = ts_ascii_trim(v, &len);
    const char *why = sam_endpoint(t, len, cfg);
    if (!why)
        return;
    char shown[SAM_URL_CAP * 2]; /* a user, a token in the query: not shown */
    ts_url_shown(v, shown, sizeof shown);
    sam_reject(errors, "JAEGER_SAMPLING_ENDPOINT", shown, why);
}

/* Port 5778 of the Jaeger agent's host (JAEGER_AGENT_HOST), where its
 * sampling server listens. */
static void sam_agent_endpoint(const char *var, const char *v, struct sam_cfg *cfg, int *errors)
{
    /* the host as the exporter takes it (config.h); an IPv6 address goes
     * in brackets in a URL */
    char bare[TS_CFG_IPV6_TEXT];
    const char *refusal = ts_config_agent_host_refusal(v, bare);
    char url[SAM_URL_CAP];
    struct ts_url u;
    /* a zone's '%' is "%25" in a URL (RFC 6874) */
    const char *zone = strchr(bare, '%');
    int n = !bare[0] ? snprintf(url, sizeof url, "http://%s:5778/sampling", v)
            : zone   ? snprintf(url, sizeof url, "http://[%.*s%%25%s]:5778/sampling",
                                (int)(zone - bare), bare, zone + 1)
                     : snprintf(url, sizeof url, "http://[%s]:5778/sampling", bare);
    if (!refusal && n > 0 && (size_t)n < sizeof url && !ts_url_parse(url, &u)) {
        memcpy(cfg->endpoint, url, (size_t)n + 1);
        return;
    }
    char expected[160];
    snprintf(expected, sizeof expected, "%s (a remote sampler polls its port 5778)",
             refusal ? refusal : "a host name or an IP address");
    sam_reject(errors, var, v, expected);
}

/* Where a Jaeger remote sampler polls, in the order of jaeger-client-go:
 * JAEGER_SAMPLING_ENDPOINT, else the deprecated
 * JAEGER_SAMPLER_MANAGER_HOST_PORT, else the agent's host
 * (JAEGER_AGENT_HOST, OpenTelemetry's name first), else the default
 * (localhost:5778). The first that is set is the only one read: a bad
 * value gives the default. */
static void sam_jaeger_endpoint(ts_env_lookup_fn lookup, struct sam_cfg *cfg, int *errors)
{
    const char *v;
    if ((v = sam_env(lookup, "JAEGER_SAMPLING_ENDPOINT")))
        sam_sampling_endpoint(v, cfg, errors);
    else if ((v = sam_env(lookup, "JAEGER_SAMPLER_MANAGER_HOST_PORT")))
        sam_host_port(v, cfg, errors);
    else if (ts_config_refuses_agent_host(lookup))
        return; /* said by the exporter's configuration: the default agent */
    else if ((v = sam_env(lookup, "OTEL_EXPORTER_JAEGER_AGENT_HOST")))
        sam_agent_endpoint("OTEL_EXPORTER_JAEGER_AGENT_HOST", v, cfg, errors);
    else if ((v = sam_env(lookup, "JAEGER_AGENT_HOST")))
        sam_agent_endpoint("JAEGER_AGENT_HOST", v, cfg, errors);
}

/* JAEGER_SAMPLER_TYPE (set) with its PARAM; Jaeger samplers are
 * parent-based. Without PARAM: const samples everything, probabilistic and
 * remote start at 0.001, ratelimiting allows 1 trace per second. */
static void sam_load_jaeger(ts_env_lookup_fn lookup, const char *v, struct sam_cfg *cfg,
                            struct sam_plan *plan, int *errors)
{
    static const char pvar[] = "JAEGER_SAMPLER_PARAM";
    size_t len = strlen(v);
    const char *t = ts_ascii_trim(v, &len);
    const char *param = sam_env(lookup, pvar);
    size_t plen = param ? strlen(param) : 0;

    if (ts_ascii_eq_nocase(t, len, "const")) {
        double on = 1;
        if (param)
            on = sam_read_number(pvar, param, param, plen, 0, 1, true, 1,
                                 "0 (sample nothing) or 1 (sample everything)", errors);
        sam_plan_simple(plan, on, 0);
    } else if (ts_ascii_eq_nocase(t, len, "probabilistic") || ts_ascii_eq_nocase(t, len, "remote")) {
        double rate = SAM_DEFAULT_INITIAL_RATE;
        if (param)
            rate = sam_read_number(pvar, param, param, plen, 0, 1, false, SAM_DEFAULT_INITIAL_RATE,
                                   SAM_PROBABILITY, errors);
        sam_plan_simple(plan, rate, 0);
        if (ts_ascii_eq_nocase(t, len, "remote")) {
            cfg->remote = true;
            sam_jaeger_endpoint(lookup, cfg, errors);
        }
    } else if (ts_ascii_eq_nocase(t, len, "ratelimiting")) {
        double per_second = 1;
        if (param)
            per_second = sam_read_number(pvar, param, param, plen, 0, SAM_MAX_PER_SECOND, false, 1,
                                         "a number of traces per second (0 or more)", errors);
        sam_plan_simple(plan, 0, per_second);
    } else {
        sam_reject(errors, "JAEGER_SAMPLER_TYPE", v,
                   "const, probabilistic, ratelimiting or remote");
        return;
    }
    cfg->parent_based = true;
    cfg->hit_tag =
        ts_ascii_eq_nocase(t, len, "const") ? TS_SAMPLER_TAG_CONST : TS_SAMPLER_TAG_PROBABILISTIC;
}

int ts_sampler_load(ts_env_lookup_fn lookup)
{
    struct sam_cfg cfg = sam_cfg_default;
    int errors = 0;
    const char *otel = lookup ? sam_env(lookup, "OTEL_TRACES_SAMPLER") : NULL;
    const char *jaeger = lookup && !otel ? sam_env(lookup, "JAEGER_SAMPLER_TYPE") : NULL;
    /* No sampler asked for (most processes): the default strategy, always
     * on (parent-based), which the live one still is unless an earlier
     * load changed it; the 18 KiB plan is not touched (start_state.h). */
    if (!otel && !jaeger && SAM_LD(sam_shortcut) == SAM_ALWAYS) {
        sam_cfg = cfg;
        return errors;
    }
    sam_plan_simple(&sam_next, 1, 0);
    if (otel)
        sam_load_otel(lookup, otel, &cfg, &sam_next, &errors);
    else if (jaeger)
        sam_load_jaeger(lookup, jaeger, &cfg, &sam_next, &errors);
    sam_cfg = cfg;
    sam_publish(&sam_next, false);
    return errors;
}

/* ------------------------------------------------------------- deciding */

/* A parent's own say: 1 sampled, 0 not, -1 when the root sampler decides
 * (no parent, a deferred decision, or a sampler that is not parent-based). */
static inline int sam_by_parent(const struct ts_ctx *parent)
{
    if (!parent || !parent->valid)
        return -1;
    if (parent->sampling == TS_SAMPLING_DEBUG)
        return 1;
    if (sam_cfg.parent_based && parent->sampling == TS_SAMPLING_ACCEPT)
        return 1;
    if (sam_cfg.parent_based && parent->sampling == TS_SAMPLING_DENY)
        return 0;
    return -1;
}

bool ts_sampler_decide(const struct ts_ctx *parent, const uint8_t trace_id[TS_TRACE_ID_LEN],
                       const char *name, size_t name_len, uint8_t *tag, double *param)
{
    if (tag)
        *tag = TS_SAMPLER_TAG_NONE;
    int said = sam_by_parent(parent);
    if (said >= 0)
        return said;
    /* Tags only on a root the sampler decided: the collector reads them
     * from spans without a parent alone (HandleRootSpan), so a B3 parent
     * that left the decision open, or a parent's decision that a
     * non-parent-based sampler overrules, gets none. */
    bool tagged = tag && sam_cfg.hit_tag && (!parent || !parent->valid);
    unsigned shortcut = SAM_LD(sam_shortcut);
    if (shortcut != SAM_ASK) {
        if (tagged && shortcut == SAM_ALWAYS) { /* probability 1: no bucket, no operations */
            *tag = sam_cfg.hit_tag;
            *param = 1;
        }
        return shortcut == SAM_ALWAYS;
    }
    return sam_root(trace_id, name, name_len, tagged ? tag : NULL, param);
}

bool ts_sampler_should_sample(const struct ts_ctx *parent, const uint8_t trace_id[TS_TRACE_ID_LEN],
                              const char *name, size_t name_len)
{
    return ts_sampler_decide(parent, trace_id, name, name_len, NULL, NULL);
}

bool ts_sampler_reads_name(const struct ts_ctx *parent)
{
    if (sam_by_parent(parent) >= 0 || SAM_LD(sam_shortcut) != SAM_ASK)
        return false;
    const struct sam_buf *b = &sam_bufs[__atomic_load_n(&sam_live, __ATOMIC_ACQUIRE) & 1u];
    return SAM_LD(b->n_ops) > 0 || SAM_LD(b->lower_bounds) != 0;
}

/* ------------------------------------------------------------- remote */

static bool sam_unreserved(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

bool ts_sampler_remote_url(char *url, size_t cap, const char *service_name)
{
    if (!sam_cfg.remote || !url || cap == 0)
        return false;
    const char *ep = sam_cfg.endpoint;
    size_t n = strlen(ep);
    const char *sep = n && (ep[n - 1] == '?' || ep[n - 1] == '&') ? ""
                      : strchr(ep, '?')                           ? "&"
                                                                  : "?";
    int m = snprintf(url, cap, "%s%sservice=", ep, sep);
    if (m < 0 || (size_t)m >= cap) {
        url[0] = '\0';
        return false;
    }
    static const char hex[] = "0123456789ABCDEF";
    size_t used = (size_t)m;
    for (const unsigned char *s = (const unsigned char *)(service_name ? service_name : ""); *s;
         s++) {
        size_t need = sam_unreserved(*s) ? 1 : 3;
        if (used + need >= cap) {
            url[0] = '\0';
            return false;
        }
        if (need == 1) {
            url[used++] = (char)*s;
        } else {
            url[used++] = '%';
            url[used++] = hex[*s >> 4];
            url[used++] = hex[*s & 15];
        }
    }
    url[used] = '\0';
    return true;
}

unsigned ts_sampler_poll_interval_ms(void)
{
    return sam_cfg.poll_ms;
}

/* A member that is present and not JSON null, or NULL. */
static const ts_json *sam_member(const ts_json *obj, const char *key)
{
    const ts_json *v = ts_json_get(obj, key);
    return v && !ts_json_is(v, TS_JSON_NULL) ? v : NULL;
}

/* obj.key as a number in [lo, hi]; a missing member is 0 (proto3 JSON
 * leaves zeros out). False when present but not such a number (null too). */
static bool sam_json_number(const ts_json *obj, const char *key, double lo, double hi, double *out)
{
    const ts_json *v = ts_json_get(obj, key);
    *out = 0;
    if (!v)
        return true;
    return ts_json_number(v, out) && isfinite(*out) && *out >= lo && *out <= hi;
}

/* A ProbabilisticSamplingStrategy object's samplingRate. */
static bool sam_json_probabilistic(const ts_json *v, double *rate)
{
    return ts_json_is(v, TS_JSON_OBJECT) && sam_json_number(v, "samplingRate", 0, 1, rate);
}

/* PerOperationSamplingStrategies into p. Operations past SAM_MAX_OPS,
 * names longer than SAM_NAME_MAX and repeated names are ignored. */
static bool sam_json_operations(const ts_json *os, struct sam_plan *p)
{
    const ts_json *list = sam_member(os, "perOperationStrategies");
    if (!ts_json_is(os, TS_JSON_OBJECT) || (list && !ts_json_is(list, TS_JSON_ARRAY)))
        return false;
    if (!sam_json_number(os, "defaultSamplingProbability", 0, 1, &p->rate) ||
        !sam_json_number(os, "defaultLowerBoundTracesPerSecond", 0, SAM_MAX_PER_SECOND,
                         &p->per_second))
        return false;
    p->per_operation = true;
    p->n_ops = 0;
    for (size_t i = 0; i < ts_json_len(list); i++) {
        const ts_json *e = ts_json_at(list, i);
        size_t len;
        const char *name = ts_json_string(ts_json_get(e, "operation"), &len);
        double rate;
        if (!name || !sam_json_probabilistic(ts_json_get(e, "probabilisticSampling"), &rate))
            return false;
        if (p->n_ops == SAM_MAX_OPS || len > SAM_NAME_MAX || sam_plan_find(p, name, len) >= 0)
            continue;
        memcpy(p->ops[p->n_ops].name, name, len);
        p->ops[p->n_ops].len = len;
        p->ops[p->n_ops].rate = rate;
        p->n_ops++;
    }
    return true;
}

/* A SamplingStrategyResponse into p. operationSampling wins; otherwise
 * strategyType (name or number) picks, or without it whichever of
 * probabilisticSampling / rateLimitingSampling is there. */
static bool sam_json_strategy(const ts_json *root, struct sam_plan *p)
{
    if (!ts_json_is(root, TS_JSON_OBJECT))
        return false;
    const ts_json *ops = sam_member(root, "operationSampling");
    if (ops)
        return sam_json_operations(ops, p);
    const ts_json *type = sam_member(root, "strategyType");
    const ts_json *prob = sam_member(root, "probabilisticSampling");
    const ts_json *limit = sam_member(root, "rateLimitingSampling");
    double num;
    const char *name = ts_json_string(type, NULL);
    bool probabilistic = prob && !limit;
    if (type && ts_json_number(type, &num) && (num == 0 || num == 1))
        probabilistic = num == 0;
    else if (name && (!strcmp(name, "PROBABILISTIC") || !strcmp(name, "RATE_LIMITING")))
        probabilistic = !strcmp(name, "PROBABILISTIC");
    else if (type)
        return false;
    sam_plan_simple(p, 0, 0);
    if (probabilistic)
        return sam_json_probabilistic(prob, &p->rate);
    return ts_json_is(limit, TS_JSON_OBJECT) &&
           sam_json_number(limit, "maxTracesPerSecond", 0, SAM_MAX_PER_SECOND, &p->per_second);
}

int ts_sampler_apply_strategy(const char *json, size_t len)
{
    if (!sam_cfg.remote || !json)
        return -1;
    ts_json_doc *doc = ts_json_parse(json, len, NULL);
    if (!doc)
        return -1;
    bool ok = sam_json_strategy(ts_json_root(doc), &sam_next);
    ts_json_free(doc);
    if (!ok)
        return -1;
    sam_publish(&sam_next, true);
    return 0;
}
