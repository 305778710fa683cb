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

#include "../preload/direct.h"
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

/* Whether a thread of the program can end inside a real call at all:
 * not while the hooks make bare system calls (preload/direct.h: a
 * program with no thread of its own that never asked for a cancellation),
 * which spares a single-threaded server the notes. */
static inline bool ts_held_needed(void)
{
    return !ts_direct_now();
}

/* Make sure the exit destructor runs for this thread (once per thread). */
void ts_held_register(void);

/* What a note replaced (a signal handler's hook may run inside another's
 * real call), to put back when the call is over; noted false: nothing was
 * noted. */
struct ts_held_conn_note {
    struct ts_held_ref before;
    bool noted;
};

struct ts_held_lock_note {
    struct conn_lock *before;
    bool noted;
};

/* The hook holds a reference to c (fd's connection) for the real call. */
static inline struct ts_held_conn_note ts_held_conn(int fd, struct ts_conn *c)
{
    struct ts_held_conn_note n = {{NULL, 0}, false};
    if (!ts_held_needed())
        return n;
    if (__builtin_expect(!ts_held.registered, 0))
        ts_held_register();
    n.before = ts_held.ref;
    n.noted = true;
    ts_held.ref = (struct ts_held_ref){c, fd};
    return n;
}

static inline void ts_held_conn_end(struct ts_held_conn_note n)
{
    if (n.noted)
        ts_held.ref = n.before;
}

/* A direction's lock is held across the real send. */
static inline struct ts_held_lock_note ts_held_lock(struct conn_lock *l)
{
    struct ts_held_lock_note n = {NULL, false};
    if (!ts_held_needed())
        return n;
    if (__builtin_expect(!ts_held.registered, 0))
        ts_held_register();
    n.before = ts_held.lock;
    n.noted = true;
    ts_held.lock = l;
    return n;
}

static inline void ts_held_lock_end(struct ts_held_lock_note n)
{
    if (n.noted)
        ts_held.lock = n.before;
}

#endif
