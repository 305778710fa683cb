/* held.h — what a program's thread holds of the shim's while it is inside
 * a real read, write or send, let go of when the thread ends there.
 *
 * Those calls are cancellation points: a thread cancelled (pthread_cancel)
 * while blocked in one unwinds out of the hook without returning through
 * it. A connection's send lock held across the real send would stay held
 * for good, and every later send on the connection would wait forever; a
 * counted reference to the connection would keep its spans from ever
 * ending. So a hook notes here, in the thread's own storage, what it
 * holds for the length of the real call, and a thread-exit destructor
 * (a pthread key's, which glibc runs for a cancelled thread and for
 * pthread_exit) lets go of what is still noted. The common case costs a
 * few thread-local stores a call. */
#ifndef TS_HELD_H
#define TS_HELD_H

#include <stdbool.h>

#include "conn_lock.h"

struct ts_conn;

/* A counted reference a read or send hook took to fd's connection. */
struct ts_held_ref {
    struct ts_conn *conn;
    int fd;
};

struct ts_held {
    struct ts_held_ref ref;
    struct conn_lock *lock; /* a direction's lock held across the real send */
    bool registered;        /* the exit destructor knows this thread */
};

extern __thread struct ts_held ts_held __attribute__((tls_model("initial-exec")));

/* Make sure the exit destructor runs for this thread (once per thread). */
void ts_held_register(void);

/* The hook holds a reference to c (fd's connection) for the real call;
 * returns what was noted before (a signal handler's hook may run inside
 * another's real call), for ts_held_conn_end. */
static inline struct ts_held_ref ts_held_conn(int fd, struct ts_conn *c)
{
    if (__builtin_expect(!ts_held.registered, 0))
        ts_held_register();
    struct ts_held_ref before = ts_held.ref;
    ts_held.ref = (struct ts_held_ref){c, fd};
    return before;
}

static inline void ts_held_conn_end(struct ts_held_ref before)
{
    ts_held.ref = before;
}

/* A direction's lock is held across the real send; returns the lock noted
 * before, for ts_held_lock_end. */
static inline struct conn_lock *ts_held_lock(struct conn_lock *l)
{
    if (__builtin_expect(!ts_held.registered, 0))
        ts_held_register();
    struct conn_lock *before = ts_held.lock;
    ts_held.lock = l;
    return before;
}

static inline void ts_held_lock_end(struct conn_lock *before)
{
    ts_held.lock = before;
}

#endif
