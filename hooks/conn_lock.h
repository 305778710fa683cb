/* conn_lock.h — a lock in one futex word, for the many small things the
 * hooks guard: a connection's directions and queue, the in-flight table's
 * buckets.
 *
 * 4 bytes where a pthread mutex takes 40, as a program may hold tens of
 * thousands of connections, each with three of them. 0 free, 1 held, 2
 * held with a thread waiting (or about to). Waiters sleep in the kernel,
 * so holding one across a blocking send (a connection's out lock is)
 * costs the others no CPU. The acquire and release orderings of its
 * atomics are what make it a lock, for ThreadSanitizer too. Taken only
 * under the reentrancy guard, like every lock of the shim: a signal
 * handler that interrupts a holder passes straight through the hooks.
 * All zero is free: a static one needs no initialiser, and a child after
 * fork frees one that a thread of the parent held by storing 0. */
#ifndef TS_CONN_LOCK_H
#define TS_CONN_LOCK_H

#include <stdatomic.h>
#include <stdbool.h>

struct conn_lock {
    atomic_uint state;
};

/* The slow halves, out of line (conn_lock.c). */
void conn_lock_wait(struct conn_lock *l);
bool conn_lock_wait_for(struct conn_lock *l, long timeout_ns);
void conn_lock_wake(struct conn_lock *l);

static inline void conn_lock(struct conn_lock *l)
{
    unsigned expected = 0;
    if (!atomic_compare_exchange_strong_explicit(&l->state, &expected, 1, memory_order_acquire,
                                                 memory_order_relaxed))
        conn_lock_wait(l);
}

/* conn_lock for a caller that must not wait long (a send with
 * MSG_DONTWAIT): false when the lock is still held after timeout_ns. */
static inline bool conn_lock_within(struct conn_lock *l, long timeout_ns)
{
    unsigned expected = 0;
    return atomic_compare_exchange_strong_explicit(&l->state, &expected, 1, memory_order_acquire,
                                                   memory_order_relaxed) ||
           conn_lock_wait_for(l, timeout_ns);
}

static inline void conn_unlock(struct conn_lock *l)
{
    if (atomic_exchange_explicit(&l->state, 0, memory_order_release) == 2)
        conn_lock_wake(l);
}

#endif
