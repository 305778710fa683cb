/* inflight.c — server spans in flight, keyed by their inbound context
 * (see inflight.h). A fixed array of buckets chained through the entries;
 * new entries go first, so a lookup meets the latest match first. */
#include "inflight.h"

#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#define INFLIGHT_BUCKETS 1024

/* Each bucket has its own lock, a word beside its list: a server span
 * takes one on its start and one on its end, and one global mutex for all
 * of them was two lock pairs per exchange (about 120 instructions) and a
 * cache line every serving thread wrote. Entries of different requests
 * land in different buckets (span ids are random), so threads hardly ever
 * meet on one; what is held is a few pointer stores or a 36-byte copy, so
 * a waiter spins a little and then yields rather than sleeping in the
 * kernel. Taken only under the reentrancy guard, like every lock of the
 * shim: a signal handler that interrupts a holder passes straight through
 * the hooks and never reaches it. */
struct inflight_bucket {
    atomic_uint lock; /* 0 free, 1 held */
    struct ts_inflight *first;
};

static struct inflight_bucket buckets[INFLIGHT_BUCKETS];

/* The slow half of bucket_lock: wait for the lock to look free before
 * trying again (no stores while it is held); after a while the holder
 * was likely preempted, so give it the CPU. */
static __attribute__((noinline)) void bucket_wait(struct inflight_bucket *b)
{
    unsigned spins = 0;
    do {
        while (atomic_load_explicit(&b->lock, memory_order_relaxed) != 0)
            if (++spins > 64)
                sched_yield();
    } while (atomic_exchange_explicit(&b->lock, 1, memory_order_acquire) != 0);
}

static inline void bucket_lock(struct inflight_bucket *b)
{
    if (atomic_exchange_explicit(&b->lock, 1, memory_order_acquire) != 0)
        bucket_wait(b);
}

static inline void bucket_unlock(struct inflight_bucket *b)
{
    atomic_store_explicit(&b->lock, 0, memory_order_release);
}

/* Span ids are random: a few of their bits are a good hash. */
static inline struct inflight_bucket *bucket_of(const uint8_t span_id[TS_SPAN_ID_LEN])
{
    return &buckets[((unsigned)span_id[6] << 8 | span_id[7]) % INFLIGHT_BUCKETS];
}

static bool same_key(const struct ts_ctx *a, const struct ts_ctx *b)
{
    return memcmp(a->span_id, b->span_id, TS_SPAN_ID_LEN) == 0 &&
           memcmp(a->trace_id, b->trace_id, TS_TRACE_ID_LEN) == 0;
}

void ts_inflight_add(struct ts_inflight *e)
{
    if (!e->inbound.valid)
        return;
    struct inflight_bucket *b = bucket_of(e->inbound.span_id);
    bucket_lock(b);
    e->next = b->first;
    b->first = e;
    e->linked = true;
    bucket_unlock(b);
}

void ts_inflight_remove(struct ts_inflight *e)
{
    if (!e->linked)
        return;
    struct inflight_bucket *b = bucket_of(e->inbound.span_id);
    bucket_lock(b);
    for (struct ts_inflight **p = &b->first; *p; p = &(*p)->next) {
        if (*p == e) {
            *p = e->next;
            break;
        }
    }
    e->linked = false;
    e->next = NULL;
    bucket_unlock(b);
}

bool ts_inflight_find(const struct ts_ctx *fwd, struct ts_ctx *server)
{
    if (!fwd->valid)
        return false;
    bool found = false;
    struct inflight_bucket *b = bucket_of(fwd->span_id);
    bucket_lock(b);
    for (struct ts_inflight *e = b->first; e; e = e->next) {
        if (same_key(&e->inbound, fwd)) {
            *server = e->server;
            found = true;
            break;
        }
    }
    bucket_unlock(b);
    return found;
}

void ts_inflight_after_fork(void)
{
    /* a lock some other thread of the parent held stays held for good */
    for (size_t i = 0; i < INFLIGHT_BUCKETS; i++)
        atomic_store_explicit(&buckets[i].lock, 0, memory_order_relaxed);
}
