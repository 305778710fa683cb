/* inflight.c — server spans in flight, keyed by their inbound context
 * (see inflight.h). A fixed array of buckets chained through the entries;
 * new entries go first, so a lookup meets the latest match first. */
#include "inflight.h"

#include <pthread.h>
#include <string.h>

#define INFLIGHT_BUCKETS 1024

static pthread_mutex_t inflight_mu = PTHREAD_MUTEX_INITIALIZER;
static struct ts_inflight *buckets[INFLIGHT_BUCKETS];

/* Span ids are random: a few of their bits are a good hash. */
static unsigned bucket_of(const uint8_t span_id[TS_SPAN_ID_LEN])
{
    return ((unsigned)span_id[6] << 8 | span_id[7]) % INFLIGHT_BUCKETS;
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
    unsigned b = bucket_of(e->inbound.span_id);
    pthread_mutex_lock(&inflight_mu);
    e->next = buckets[b];
    buckets[b] = e;
    e->linked = true;
    pthread_mutex_unlock(&inflight_mu);
}

void ts_inflight_remove(struct ts_inflight *e)
{
    if (!e->linked)
        return;
    unsigned b = bucket_of(e->inbound.span_id);
    pthread_mutex_lock(&inflight_mu);
    for (struct ts_inflight **p = &buckets[b]; *p; p = &(*p)->next) {
        if (*p == e) {
            *p = e->next;
            break;
        }
    }
    e->linked = false;
    e->next = NULL;
    pthread_mutex_unlock(&inflight_mu);
}

bool ts_inflight_find(const struct ts_ctx *fwd, struct ts_ctx *server)
{
    if (!fwd->valid)
        return false;
    bool found = false;
    pthread_mutex_lock(&inflight_mu);
    for (struct ts_inflight *e = buckets[bucket_of(fwd->span_id)]; e; e = e->next) {
        if (same_key(&e->inbound, fwd)) {
            *server = e->server;
            found = true;
            break;
        }
    }
    pthread_mutex_unlock(&inflight_mu);
    return found;
}

void ts_inflight_after_fork(void)
{
    pthread_mutex_init(&inflight_mu, NULL);
}
