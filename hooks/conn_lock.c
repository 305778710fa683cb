/* conn_lock.c — the slow halves of the futex-word lock (see conn_lock.h). */
#include "conn_lock.h"

#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The slow half of conn_lock (see conn_lock.h): mark the lock
 * contended and sleep until it is free, which the holder's unlock sees (2)
 * and wakes one sleeper for. Whoever takes it here leaves it at 2, so its
 * own unlock wakes the next sleeper, if any: at worst one needless wake. */
void conn_lock_wait(struct conn_lock *l)
{
    int saved = errno; /* FUTEX_WAIT fails with EAGAIN or EINTR, harmlessly */
    while (atomic_exchange_explicit(&l->state, 2, memory_order_acquire) != 0)
        syscall(SYS_futex, (unsigned *)&l->state, FUTEX_WAIT_PRIVATE, 2, NULL, NULL, 0);
    errno = saved;
}

void conn_lock_wake(struct conn_lock *l)
{
    int saved = errno;
    syscall(SYS_futex, (unsigned *)&l->state, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    errno = saved;
}
