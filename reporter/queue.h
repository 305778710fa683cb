/* queue.h — the bounded span queue between the program's threads and the
 * reporter: a ring of span records under one short mutex. Pushing never
 * blocks; a full queue drops the span and counts it. */
#ifndef TS_QUEUE_H
#define TS_QUEUE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../preload/span.h"

struct ts_queue {
    pthread_mutex_t mu;
    struct ts_span *ring; /* allocated on first push */
    size_t cap, head, count;
    uint64_t dropped;
};

void ts_queue_init(struct ts_queue *q, size_t cap);
/* Copy s in; false (and counted as dropped) when full or out of memory. */
bool ts_queue_push(struct ts_queue *q, const struct ts_span *s);
/* Move up to max spans out into out[]; returns how many. */
size_t ts_queue_pop(struct ts_queue *q, struct ts_span *out, size_t max);
size_t ts_queue_count(struct ts_queue *q);
uint64_t ts_queue_dropped(struct ts_queue *q);
void ts_queue_destroy(struct ts_queue *q);

#endif
