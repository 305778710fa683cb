/* guard.h — the thread-local reentrancy guard.
 *
 * While a thread is inside the shim's own work (parsing, queueing, the
 * reporter thread for its whole life), its libc calls must not be traced
 * again. initial-exec TLS: no allocation and no lock on first access, which
 * matters in a preloaded library.
 *
 * A send hook holds the guard over the real send (which may block, and
 * which a signal may interrupt), and marks its own stack frame for the
 * length of that call (hooks/held.h). A signal handler that leaves by
 * siglongjmp leaves that frame without returning through the hook: the
 * guard would stay entered for the rest of the thread's life (every later
 * call passing untraced), the connection's send lock held (another
 * thread's send on it waiting forever). The mark tells a live call from a
 * left one: while the hook's frame is live, nothing but the kernel and
 * the thread's signal handlers (in frames of their own, below it or on
 * the alternate stack) runs until the real send returns, and the mark
 * stays intact; once the thread has left the frame, its later calls write
 * over it. That holds only where the real send is the C library's own
 * (ts_real_sends_are_libcs): a library below the shim that switches to
 * other coroutines inside it could write over a live frame (a shared
 * stack), so there nothing is marked. The first hook's entry that finds
 * the mark written over, the guard at the left call's level, lets go of
 * what the call held (ts_guard_call_abandoned). Until then (or if nothing
 * ever writes there) the thread stays as it was before this existed: its
 * calls pass untraced. (User-level threads preempted by signal handlers
 * that copy stacks in and out are not served.) */
#ifndef TS_GUARD_H
#define TS_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

extern __thread int ts_guard_depth __attribute__((tls_model("initial-exec")));

/* What a marked frame holds (a value no other code stores there). */
#define TS_GUARD_CALL_MARK 0x7473686d2d63616cULL /* "tshm-cal" */

/* The levels of the guard a marked call holds: the send hook enters it
 * once around ts_conn_send (traced_send, hooks/io_hooks.c). */
#define TS_GUARD_CALL_HELD 1

/* The mark in the frame of this thread's send inside the real function,
 * NULL when there is none. Only for the length of the real function: a
 * thread that leaves the shim's own work that way (its state may be half
 * changed) has nothing let go of, and goes on untraced. */
extern __thread const volatile uint64_t *ts_guard_marked_call __attribute__((tls_model("initial-exec")));

/* The marked call's frame is gone (its thread left it by siglongjmp):
 * forget the mark, let the hooks let go of what it held
 * (ts_held_abandoned) and give back its guard. Only while the guard is at
 * the call's level: the thread then holds nothing of the shim's but what
 * the call held (its later hooks all passed, untraced), and is not inside
 * the shim's own work. True when it did. Out of line: only a thread with
 * a marked call gets here. */
bool ts_guard_call_abandoned(void);

/* A compiler barrier: a signal handler runs on this thread, between any
 * two of its instructions, and must see the stores in program order. */
#define TS_GUARD_ORDER() __atomic_signal_fence(__ATOMIC_SEQ_CST)

static inline bool ts_guard_active(void)
{
    return ts_guard_depth != 0;
}

/* ts_guard_active at a hook's entry, before the hook holds anything: a
 * call the thread left by siglongjmp is let go of first. */
static inline bool ts_guard_active_at_entry(void)
{
    if (__builtin_expect(ts_guard_marked_call != NULL, 0))
        (void)ts_guard_call_abandoned();
    return ts_guard_depth != 0;
}
/* Is all this thread holds of the shim a send inside the real function
 * (the guard at the call's level, the call marked)? A signal handler
 * that interrupted it may use the shim: the call holds its connection's
 * send lock and nothing else. */
static inline bool ts_guard_only_a_call(void)
{
    return ts_guard_depth == TS_GUARD_CALL_HELD && ts_guard_marked_call != NULL;
}

static inline void ts_guard_enter(void)
{
    ts_guard_depth++;
}
static inline void ts_guard_leave(void)
{
    ts_guard_depth--;
}

#endif
