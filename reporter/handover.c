/* handover.c — see handover.h. */
#include "handover.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../preload/clock.h"
#include "../preload/fork_state.h"
#include "../preload/real.h"

bool ts_futex_wait_until(uint32_t *word, uint32_t seen, uint64_t deadline_ms)
{
    uint64_t now = ts_mono_ms();
    if (now >= deadline_ms)
        return false;
    uint64_t left = deadline_ms - now;
    struct timespec rel = {(time_t)(left / 1000), (long)(left % 1000) * 1000000L};
    /* Returns at once when word moved since the caller read seen (EAGAIN). */
    (void)TS_REAL(syscall)(SYS_futex, word, FUTEX_WAIT_PRIVATE, seen, &rel, NULL, 0);
    return true;
}

/* Wait until job `gen` is done (done has reached it: the counters wrap,
 * so compared by their difference) or deadline_ms passes. */
static bool handover_wait_done(struct ts_handover *h, uint32_t gen, uint64_t deadline_ms)
{
    for (;;) {
        uint32_t done = __atomic_load_n(&h->done, __ATOMIC_ACQUIRE);
        if ((int32_t)(done - gen) >= 0)
            return true;
        if (!ts_futex_wait_until(&h->done, done, deadline_ms))
            return false;
    }
}

/* The job this thread has posted and waits for in ts_handover_post
 * (ts_handover_wait_interrupted): its handover, number and deadline; no
 * handover when there is none. initial-exec TLS: read in a signal
 * handler, no allocation on first access. */
static __thread struct {
    struct ts_handover *h;
    uint32_t gen;
    uint64_t deadline_ms;
} posted __attribute__((tls_model("initial-exec")));

bool ts_handover_begin(struct ts_handover *h, const struct timespec *deadline,
                       uint64_t deadline_ms)
{
    if (pthread_mutex_timedlock(&h->requesters, deadline) != 0)
        return false;
    if (handover_wait_done(h, __atomic_load_n(&h->asked, __ATOMIC_RELAXED), deadline_ms))
        return true;
    pthread_mutex_unlock(&h->requesters);
    return false;
}

bool ts_handover_post(struct ts_handover *h, uint64_t deadline_ms, void (*wake)(void *), void *arg)
{
    /* Release: the job's contents before the count that announces it. */
    uint32_t gen = __atomic_add_fetch(&h->asked, 1, __ATOMIC_RELEASE);
    posted.gen = gen;
    posted.deadline_ms = deadline_ms;
    __atomic_signal_fence(__ATOMIC_SEQ_CST); /* (the handler sees the job whole) */
    posted.h = h;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    wake(arg);
    bool in_time = handover_wait_done(h, gen, deadline_ms);
    posted.h = NULL;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    pthread_mutex_unlock(&h->requesters);
    return in_time;
}

bool ts_handover_wait_interrupted(void)
{
    struct ts_handover *h = posted.h;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    return h && handover_wait_done(h, posted.gen, posted.deadline_ms);
}

bool ts_handover_pending(struct ts_handover *h)
{
    return __atomic_load_n(&h->asked, __ATOMIC_ACQUIRE) !=
           __atomic_load_n(&h->done, __ATOMIC_RELAXED);
}

void ts_handover_finish(struct ts_handover *h)
{
    __atomic_store_n(&h->done, __atomic_load_n(&h->asked, __ATOMIC_RELAXED), __ATOMIC_RELEASE);
    (void)TS_REAL(syscall)(SYS_futex, &h->done, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

TS_FORK_HANDLER void ts_handover_after_fork(struct ts_handover *h)
{
    pthread_mutex_init(&h->requesters, NULL);
    __atomic_store_n(&h->done, __atomic_load_n(&h->asked, __ATOMIC_RELAXED), __ATOMIC_RELAXED);
}
