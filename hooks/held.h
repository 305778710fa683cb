/* held.h — what a program's thread holds of the shim's while it is inside
 * a real read, write or send, let go of when the thread leaves the call
 * without returning through the hook.
 *
 * Two ways out do that. Those calls are cancellation points: a thread
 * cancelled (pthread_cancel) while blocked in one unwinds out of the hook.
 * And a signal handler may leave by siglongjmp (an alarm that times a
 * blocking send out), after which the thread goes on. A connection's send
 * lock held across the real send would stay held for good, and every
 * later send on the connection would wait forever; a counted reference to
 * the connection would keep its spans from ever ending; the guard a send
 * holds would leave the thread untraced. So a hook notes here, in the
 * thread's own storage, what it holds for the length of the real call,
 * and a send hook marks its frame (struct ts_held_call, preload/guard.h). A
 * thread-exit destructor (a pthread key's, which glibc runs for a
 * cancelled thread and for pthread_exit) lets go of what is still noted;
 * after a siglongjmp out of a send, the first hook's entry that finds the
 * mark written over does the same (ts_held_abandoned): every hook of the
 * thread since passed untraced under the guard the send left entered, so
 * what is noted is the send's. The common case costs a few thread-local
 * stores a call. */
#ifndef TS_HELD_H
#define TS_HELD_H

#include <stdbool.h>
#include <stdint.h>

#include "../preload/direct.h"
#include "../preload/guard.h"
#include "../preload/real.h"

struct ts_conn;

/* A counted reference a read or send hook took to fd's connection. */
struct ts_held_ref {
    struct ts_conn *conn;
    int fd;
};

struct ts_held {
    struct ts_held_ref ref;
    struct ts_conn *sending;                /* whose send lock is held across the real send */
    const volatile uint64_t *send_mark;     /* the running send hook's (ts_held_send_begin) */
    void *tls_pinned; /* a TLS session's record pinned across the real write (tls_sessions.c) */
    bool registered;                        /* the exit destructor knows this thread */
};

extern __thread struct ts_held ts_held __attribute__((tls_model("initial-exec")));

/* Whether a thread of the program can be cancelled inside a real call at
 * all: not while the hooks make bare system calls (preload/direct.h: a
 * program with no thread of its own that never asked for a cancellation),
 * which spares a single-threaded server the exit destructor. */
static inline bool ts_held_needed(void)
{
    return !ts_direct_now();
}

/* Make sure the exit destructor runs for this thread (once per thread). */
void ts_held_register(void);

/* Let go of what the marked send held: its thread left it by siglongjmp
 * (called by preload/guard.c, which then gives back the guard). False,
 * and nothing done, in a vfork child: it shares the parent's memory, and
 * leaves the parent's things to the parent. */
bool ts_held_abandoned(void);

/* What a note replaced (a signal handler's hook may run inside another's
 * real call), to put back when the call is over. */
struct ts_held_conn_note {
    struct ts_held_ref before;
};

struct ts_held_send_note {
    struct ts_conn *before;
};

/* The hook holds a reference to c (fd's connection) for the real call. */
static inline struct ts_held_conn_note ts_held_conn(int fd, struct ts_conn *c)
{
    if (__builtin_expect(!ts_held.registered, 0) && ts_held_needed())
        ts_held_register();
    struct ts_held_conn_note n = {ts_held.ref};
    ts_held.ref = (struct ts_held_ref){c, fd};
    TS_GUARD_ORDER();
    return n;
}

static inline void ts_held_conn_end(struct ts_held_conn_note n)
{
    TS_GUARD_ORDER();
    ts_held.ref = n.before;
}

/* A TLS write pinned its session's record for the real call. Let go of
 * at the thread's exit only (cancelled inside it), not after a siglongjmp
 * out of a send under it, which may have left the TLS write's frame alive
 * (a setjmp in a BIO of the program's): the pin then stays until the
 * thread exits. */
struct ts_held_pin_note {
    void *before;
};

static inline struct ts_held_pin_note ts_held_tls_pin(void *record)
{
    if (__builtin_expect(!ts_held.registered, 0) && ts_held_needed())
        ts_held_register();
    struct ts_held_pin_note n = {ts_held.tls_pinned};
    ts_held.tls_pinned = record;
    TS_GUARD_ORDER();
    return n;
}

static inline void ts_held_tls_pin_end(struct ts_held_pin_note n)
{
    TS_GUARD_ORDER();
    ts_held.tls_pinned = n.before;
}

/* c's send lock is held across the real send. */
static inline struct ts_held_send_note ts_held_send_lock(struct ts_conn *c)
{
    struct ts_held_send_note n = {ts_held.sending};
    ts_held.sending = c;
    TS_GUARD_ORDER();
    return n;
}

/* Before the lock is let go of: a note of a lock already free could let
 * go of another thread's. */
static inline void ts_held_send_lock_end(struct ts_held_send_note n)
{
    TS_GUARD_ORDER();
    ts_held.sending = n.before;
    TS_GUARD_ORDER();
}

/* A send hook's mark on its own frame (the shallowest of the shim's,
 * right under the program's call: the first the program's later calls
 * write over once the hook is left), published for the length of each
 * real send it makes (ts_held_real_send_begin; see preload/guard.h): left
 * from there, the shim's state is whole, and what the send held may be
 * let go of. Sends only: a read holds no guard and no lock over its call,
 * only the reference (which a read left by siglongjmp keeps: its
 * connection's spans do not end). TLS sends make no mark: their reference
 * is noted (tls_sessions.c tls_write, fd -1) and let go of at the thread's
 * exit, not after a siglongjmp. */
struct ts_held_call {
    volatile uint64_t mark;
    const volatile uint64_t *before;
};

static inline void ts_held_send_begin(struct ts_held_call *hc)
{
    hc->mark = TS_GUARD_CALL_MARK;
    hc->before = ts_held.send_mark;
    TS_GUARD_ORDER();
    ts_held.send_mark = &hc->mark;
    TS_GUARD_ORDER();
}

/* The hook returns through its frame: the mark is taken off it, so that
 * its bytes do not look like a mark to a later look. */
static inline void ts_held_send_end(struct ts_held_call *hc)
{
    TS_GUARD_ORDER();
    ts_held.send_mark = hc->before;
    TS_GUARD_ORDER();
    hc->mark = 0;
}

/* Around the real send function: the running send hook's mark published.
 * Returns whether it was (not when none runs, as for TLS, nor while
 * another call's is published, nor where the real sends are not the C
 * library's: preload/guard.h). */
static inline bool ts_held_real_send_begin(void)
{
    const volatile uint64_t *mark = ts_held.send_mark;
    if (!mark || ts_guard_marked_call || !ts_real_sends_are_libcs)
        return false;
    TS_GUARD_ORDER();
    ts_guard_marked_call = mark;
    TS_GUARD_ORDER();
    return true;
}

static inline void ts_held_real_send_end(bool marked)
{
    if (!marked)
        return;
    TS_GUARD_ORDER();
    ts_guard_marked_call = NULL;
    TS_GUARD_ORDER();
}

#endif
