/* queue.c — the bounded span ring (see queue.h). */
#include "queue.h"

#include <stdlib.h>
#include <string.h>

void ts_queue_init(struct ts_queue *q, size_t cap)
{
    memset(q, 0, sizeof *q);
    pthread_mutex_init(&q->mu, NULL);
    q->cap = cap ? cap : 1;
}

bool ts_queue_push(struct ts_queue *q, const struct ts_span *s)
{
    pthread_mutex_lock(&q->mu);
    if (!q->ring)
        q->ring = malloc(q->cap * sizeof *q->ring); /* pages are touched as used */
    bool ok = q->ring && q->count < q->cap;
    if (ok) {
        q->ring[(q->head + q->count) % q->cap] = *s;
        q->count++;
    } else {
        q->dropped++;
    }
    pthread_mutex_unlock(&q->mu);
    return ok;
}

size_t ts_queue_pop(struct ts_queue *q, struct ts_span *out, size_t max)
{
    pthread_mutex_lock(&q->mu);
    size_t n = 0;
    while (n < max && q->count) {
        out[n++] = q->ring[q->head];
        q->head = (q->head + 1) % q->cap;
        q->count--;
    }
    pthread_mutex_unlock(&q->mu);
    return n;
}

size_t ts_queue_count(struct ts_queue *q)
{
    pthread_mutex_lock(&q->mu);
    size_t n = q->count;
    pthread_mutex_unlock(&q->mu);
    return n;
}

uint64_t ts_queue_dropped(struct ts_queue *q)
{
    pthread_mutex_lock(&q->mu);
    uint64_t n = q->dropped;
    pthread_mutex_unlock(&q->mu);
    return n;
}

void ts_queue_destroy(struct ts_queue *q)
{
    free(q->ring);
    pthread_mutex_destroy(&q->mu);
    memset(q, 0, sizeof *q);
}
