/* handover.h — work a program's thread hands to the reporter thread, and
 * waits for, up to a deadline.
 *
 * Once the reporter thread has an fd table of its own (preload/fd_split.h),
 * only it can write to the exporters' files and sockets, so the flushes
 * before an exec and at exit are done there. One job at a time: a
 * requester fills in the job (whatever the caller's struct holds) between
 * ts_handover_begin and ts_handover_post, while the reporter is not
 * reading it, and the reporter marks it done. A requester that gives up
 * at its deadline leaves the job to finish; the next requester waits for
 * that first. No allocation; the waits are futex waits. */
#ifndef TS_HANDOVER_H
#define TS_HANDOVER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct ts_handover {
    pthread_mutex_t requesters; /* one requester at a time */
    uint32_t asked;             /* atomic: jobs posted */
    uint32_t done;              /* atomic futex word: jobs done */
};

#define TS_HANDOVER_INITIALIZER {PTHREAD_MUTEX_INITIALIZER, 0, 0}

/* One futex wait on word while it holds seen, until deadline_ms (on
 * ts_mono_ms): returns at once when word has moved, or when woken. False,
 * without waiting, once the deadline has passed. For the waits that check
 * their condition, wait, and check again. */
bool ts_futex_wait_until(uint32_t *word, uint32_t seen, uint64_t deadline_ms);

/* Requester: true when the job may be filled in now (the caller is the
 * only requester and the reporter has finished every earlier job); false
 * at the deadline (CLOCK_REALTIME for the lock, deadline_ms on ts_mono_ms
 * for the wait), and then nothing is held. */
bool ts_handover_begin(struct ts_handover *h, const struct timespec *deadline,
                       uint64_t deadline_ms);

/* Requester, after a true begin: post the job, wake the reporter with
 * wake(arg), wait until it is done or deadline_ms, and let the next
 * requester in. True when the job was done in time. */
bool ts_handover_post(struct ts_handover *h, uint64_t deadline_ms, void (*wake)(void *), void *arg);

/* A signal handler that ends the process (an _exit in it) on a thread it
 * found waiting in ts_handover_post: that job is waited for still, until
 * it is done or its deadline passes, so that what it carries (the flush
 * at exit) is not cut short. Nothing when the thread waits for no job.
 * Async-signal-safe (futex waits, thread-local state). True when a job
 * was waited for and is done. */
bool ts_handover_wait_interrupted(void);

/* Reporter: is a posted job waiting? (An acquire: the job's contents are
 * visible after a true answer.) */
bool ts_handover_pending(struct ts_handover *h);

/* Reporter: the job is done; its requester, if still waiting, goes on. */
void ts_handover_finish(struct ts_handover *h);

/* In a forked child: no reporter and no requester yet. */
void ts_handover_after_fork(struct ts_handover *h);

#endif
