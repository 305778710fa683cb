/* queue.c — the bounded span ring (see queue.h). */
#include "queue.h"

#include <stdlib.h>
#include <string.h>

bool ts_rep_queue_init(struct ts_rep_queue *q, size_t cap)
{
    memset(q, 0, sizeof *q);
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    return ts_rep_queue_reserve(q, cap);
}

bool ts_rep_queue_reserve(struct ts_rep_queue *q, size_t cap)
{
    if (cap == 0)
        cap = 1;
    pthread_mutex_lock(&q->mu);
    bool have = q->slots != NULL;
    pthread_mutex_unlock(&q->mu);
    if (have)
        return true;
    /* malloc outside the mutex: a push never waits for an allocation. The
     * pages are only touched (and become resident) as the ring fills. */
    struct ts_span *slots = cap <= SIZE_MAX / sizeof *slots ? malloc(cap * sizeof *slots) : NULL;
    if (!slots)
        return false;
    pthread_mutex_lock(&q->mu);
    if (!q->slots) {
        q->slots = slots;
        q->cap = cap;
        q->head = q->count = 0;
        slots = NULL;
    }
    pthread_mutex_unlock(&q->mu);
    free(slots); /* another thread won the race */
    return true;
}

void ts_rep_queue_destroy(struct ts_rep_queue *q)
{
    free(q->slots);
    pthread_cond_destroy(&q->cv);
    pthread_mutex_destroy(&q->mu);
    memset(q, 0, sizeof *q);
}

bool ts_rep_queue_lock(struct ts_rep_queue *q, const struct timespec *abs_realtime)
{
    if (!abs_realtime)
        return pthread_mutex_lock(&q->mu) == 0;
    return pthread_mutex_timedlock(&q->mu, abs_realtime) == 0;
}

void ts_rep_queue_unlock(struct ts_rep_queue *q)
{
    pthread_mutex_unlock(&q->mu);
}

/* Copy the meaningful part of a span record: everything before the string
 * buffer, the bytes of it that are in use (most spans use a fraction of
 * it, and this copy runs on the application's thread), and the stack's
 * frames when there is one. */
static void queue_copy_span(struct ts_span *dst, const struct ts_span *src)
{
    size_t used = src->str_used < TS_SPAN_STRBUF ? src->str_used : TS_SPAN_STRBUF;
    memcpy(dst, src, offsetof(struct ts_span, str) + used);
    size_t nframes = ts_span_nframes(src);
    if (nframes)
        memcpy(dst->frames, src->frames, nframes * sizeof src->frames[0]);
}

bool ts_rep_queue_push_locked(struct ts_rep_queue *q, const struct ts_span *s)
{
    if (!q->slots || q->count >= q->cap) {
        ts_rep_queue_count_drop(q, 1);
        return false;
    }
    size_t tail = q->head + q->count;
    if (tail >= q->cap)
        tail -= q->cap;
    queue_copy_span(&q->slots[tail], s);
    q->count++;
    return true;
}

size_t ts_rep_queue_pop_locked(struct ts_rep_queue *q, struct ts_span *out, size_t max)
{
    size_t n = 0;
    while (n < max && q->count > 0) {
        queue_copy_span(&out[n++], &q->slots[q->head]);
        if (++q->head == q->cap)
            q->head = 0;
        q->count--;
    }
    return n;
}

bool ts_rep_queue_push(struct ts_rep_queue *q, const struct ts_span *s)
{
    pthread_mutex_lock(&q->mu);
    bool ok = ts_rep_queue_push_locked(q, s);
    pthread_mutex_unlock(&q->mu);
    return ok;
}

size_t ts_rep_queue_pop(struct ts_rep_queue *q, struct ts_span *out, size_t max)
{
    pthread_mutex_lock(&q->mu);
    size_t n = ts_rep_queue_pop_locked(q, out, max);
    pthread_mutex_unlock(&q->mu);
    return n;
}

size_t ts_rep_queue_count(struct ts_rep_queue *q)
{
    pthread_mutex_lock(&q->mu);
    size_t n = q->count;
    pthread_mutex_unlock(&q->mu);
    return n;
}

uint64_t ts_rep_queue_dropped(const struct ts_rep_queue *q)
{
    return __atomic_load_n(&q->dropped, __ATOMIC_RELAXED);
}

void ts_rep_queue_count_drop(struct ts_rep_queue *q, uint64_t n)
{
    __atomic_fetch_add(&q->dropped, n, __ATOMIC_RELAXED);
}

void ts_rep_queue_after_fork(struct ts_rep_queue *q)
{
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    q->head = 0;
    q->count = 0;
    __atomic_store_n(&q->dropped, 0, __ATOMIC_RELAXED);
}
