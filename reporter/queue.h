/* queue.h — the bounded ring of finished spans between the program's
 * threads and the reporter. Pushing never blocks for longer than a short
 * copy under one mutex; a full ring drops the span and counts it. The
 * condvar lives here too so that the reporter thread can wait on the same
 * mutex that guards the ring. */
#ifndef TS_QUEUE_H
#define TS_QUEUE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "../preload/span.h"

struct ts_rep_queue {
    pthread_mutex_t mu;    /* guards everything below except dropped */
    pthread_cond_t cv;     /* the consumer waits here (CLOCK_MONOTONIC) */
    struct ts_span *slots; /* NULL until storage is reserved */
    size_t cap;
    size_t head; /* index of the oldest span */
    size_t count;
    uint64_t dropped; /* atomic: read without the mutex */
};

/* Static initialiser: no storage yet (see ts_rep_queue_reserve). The
 * condvar uses the default clock: wait with pthread_cond_clockwait. */
#define TS_REP_QUEUE_INITIALIZER                                                                   \
    {                                                                                              \
        PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, 0, 0, 0, 0                      \
    }

/* Initialise q and give it room for cap spans (cap 0 means 1). Returns
 * false when out of memory (q is then usable but drops every push). */
bool ts_rep_queue_init(struct ts_rep_queue *q, size_t cap);

/* Give q room for cap spans if it has none yet; thread-safe, allocates
 * outside the mutex. True when q has storage afterwards. */
bool ts_rep_queue_reserve(struct ts_rep_queue *q, size_t cap);

/* Free the storage and destroy the mutex and condvar. */
void ts_rep_queue_destroy(struct ts_rep_queue *q);

/* Lock the mutex, giving up at abs_realtime (NULL: wait as long as it
 * takes). True when locked. */
bool ts_rep_queue_lock(struct ts_rep_queue *q, const struct timespec *abs_realtime);
void ts_rep_queue_unlock(struct ts_rep_queue *q);

/* Copy s in (mutex held). False when full or without storage: the span is
 * dropped and counted. Only the used part of the string buffer is copied. */
bool ts_rep_queue_push_locked(struct ts_rep_queue *q, const struct ts_span *s);

/* Move up to max of the oldest spans into out[0..) (mutex held); returns
 * how many. */
size_t ts_rep_queue_pop_locked(struct ts_rep_queue *q, struct ts_span *out, size_t max);

/* The same, taking and releasing the mutex. */
bool ts_rep_queue_push(struct ts_rep_queue *q, const struct ts_span *s);
size_t ts_rep_queue_pop(struct ts_rep_queue *q, struct ts_span *out, size_t max);

/* Spans currently queued (a snapshot). */
size_t ts_rep_queue_count(struct ts_rep_queue *q);

/* Spans dropped because the ring was full (or had no storage). */
uint64_t ts_rep_queue_dropped(const struct ts_rep_queue *q);
void ts_rep_queue_count_drop(struct ts_rep_queue *q, uint64_t n);

/* In a forked child: fresh mutex and condvar (whatever state the parent's
 * threads left them in), ring emptied (the parent exports those spans),
 * drop counter zeroed; the storage is kept. */
void ts_rep_queue_after_fork(struct ts_rep_queue *q);

#endif
