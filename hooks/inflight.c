/* inflight.c — server spans in flight, keyed by their inbound context
 * (see inflight.h). A fixed array of buckets chained through the entries;
 * new entries go first, so a lookup meets the latest match first. */
#include "inflight.h"

#include <stdatomic.h>
#include <string.h>

#include "../preload/fork_state.h"
#include "conn_lock.h"

#define INFLIGHT_BUCKETS 1024

/* Each bucket has its own lock (conn_lock.h, a futex word beside its
 * list): a server span takes one on its start and one on its end, and one
 * global mutex for all of them was two lock pairs per exchange (about 120
 * instructions) and a cache line every serving thread wrote. Entries of
 * different requests land in different buckets (span ids are random), so
 * threads hardly ever meet on one. */
struct inflight_bucket {
    struct conn_lock lock;
    struct ts_inflight *first;
};

static struct inflight_bucket buckets[INFLIGHT_BUCKETS];
/* Atomic: set before the first entry's bucket is locked. Until then no
 * lookup needs a lock and a fork touches none of the buckets' pages
 * (fork_state.h). */
static bool inflight_in_use TS_FORK_STATE;

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
    if (!__atomic_load_n(&inflight_in_use, __ATOMIC_RELAXED))
        __atomic_store_n(&inflight_in_use, true, __ATOMIC_SEQ_CST);
    struct inflight_bucket *b = bucket_of(e->inbound.span_id);
    conn_lock(&b->lock);
    e->next = b->first;
    b->first = e;
    e->linked = true;
    conn_unlock(&b->lock);
}

void ts_inflight_remove(struct ts_inflight *e)
{
    if (!e->linked)
        return;
    struct inflight_bucket *b = bucket_of(e->inbound.span_id);
    conn_lock(&b->lock);
    for (struct ts_inflight **p = &b->first; *p; p = &(*p)->next) {
        if (*p == e) {
            *p = e->next;
            break;
        }
    }
    e->linked = false;
    e->next = NULL;
    conn_unlock(&b->lock);
}

bool ts_inflight_find(const struct ts_ctx *fwd, const struct ts_ctx *mine, struct ts_ctx *server,
                      uint8_t *inbound_sampling)
{
    if (!fwd->valid || !__atomic_load_n(&inflight_in_use, __ATOMIC_RELAXED))
        return false;
    if (mine && !mine->valid)
        mine = NULL;
    const struct ts_inflight *found = NULL;
    struct inflight_bucket *b = bucket_of(fwd->span_id);
    conn_lock(&b->lock);
    for (const struct ts_inflight *e = b->first; e; e = e->next) {
        if (!same_key(&e->inbound, fwd))
            continue;
        if (!found) /* the first found is the one started last */
            found = e;
        if (!mine || memcmp(e->server.span_id, mine->span_id, TS_SPAN_ID_LEN) == 0) {
            found = e;
            break;
        }
    }
    if (found) {
        *server = found->server;
        if (inbound_sampling)
            *inbound_sampling = found->inbound.sampling;
    }
    conn_unlock(&b->lock);
    return found != NULL;
}

TS_FORK_HANDLER void ts_inflight_after_fork(void)
{
    /* A lock some other thread of the parent held would stay held for
     * good. Only those are written: a store to each of the 1024 would copy
     * the table's pages from the parent at every fork (fork_state.h). */
    if (!__atomic_load_n(&inflight_in_use, __ATOMIC_RELAXED))
        return;
    for (size_t i = 0; i < INFLIGHT_BUCKETS; i++)
        if (atomic_load_explicit(&buckets[i].lock.state, memory_order_relaxed) != 0)
            atomic_store_explicit(&buckets[i].lock.state, 0, memory_order_relaxed);
}
