/* conn_lock.c — the slow halves of the futex-word lock (see conn_lock.h). */
#include "conn_lock.h"

#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../preload/clock.h"
#include "../preload/real.h"

/* The slow half of conn_lock (see conn_lock.h): mark the lock
 * contended and sleep until it is free, which the holder's unlock sees (2)
 * and wakes one sleeper for. Whoever takes it here leaves it at 2, so its
 * own unlock wakes the next sleeper, if any: at worst one needless wake. */
void conn_lock_wait(struct conn_lock *l)
{
    int saved = errno; /* FUTEX_WAIT fails with EAGAIN or EINTR, harmlessly */
    while (atomic_exchange_explicit(&l->state, 2, memory_order_acquire) != 0)
        TS_REAL(syscall)(SYS_futex, (unsigned *)&l->state, FUTEX_WAIT_PRIVATE, 2, NULL, NULL, 0);
    errno = saved;
}

/* conn_lock_wait with a bound: the same steps, each sleep no longer than
 * the time left. Giving up leaves the word at 2 while another thread
 * holds the lock: at worst one needless wake at its unlock. */
bool conn_lock_wait_for(struct conn_lock *l, long timeout_ns)
{
    int saved = errno;
    uint64_t end = ts_mono_ns() + (uint64_t)timeout_ns;
    bool got = true;
    while (atomic_exchange_explicit(&l->state, 2, memory_order_acquire) != 0) {
        uint64_t now = ts_mono_ns();
        if (now >= end) {
            got = false;
            break;
        }
        struct timespec left = {(time_t)((end - now) / 1000000000u),
                                (long)((end - now) % 1000000000u)};
        TS_REAL(syscall)(SYS_futex, (unsigned *)&l->state, FUTEX_WAIT_PRIVATE, 2, &left, NULL, 0);
    }
    errno = saved;
    return got;
}

void conn_lock_wake(struct conn_lock *l)
{
    int saved = errno;
    TS_REAL(syscall)(SYS_futex, (unsigned *)&l->state, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    errno = saved;
}
