/* guard.h — the thread-local reentrancy guard.
 *
 * While a thread is inside the shim's own work (parsing, queueing, the
 * reporter thread for its whole life), its libc calls must not be traced
 * again. initial-exec TLS: no allocation and no lock on first access, which
 * matters in a preloaded library.
 *
 * A hook that makes a real read or send (which may block, and which a
 * signal may interrupt) marks its own stack frame for the length of the
 * call (struct ts_guard_call). A signal handler that leaves with
 * siglongjmp leaves that frame without returning through the hook: what
 * the hook held (the guard over a send, a connection's send lock and a
 * reference to it) would stay held for the rest of the thread's life, and
 * every later call of the thread would pass untraced. The mark tells the
 * two cases apart without trusting which way the stack grows or where a
 * handler's stack is: while the hook's frame is live, the mark in it is
 * intact (a handler's hooks run in frames of their own); once the thread
 * has left the frame, later calls write over it. The first look at the
 * guard that finds the mark gone lets go of what the hook held
 * (ts_guard_call_abandoned), at a hook's entry. Until the frame is
 * written over, the thread stays as it was before this existed: its calls
 * pass untraced while it holds the guard. */
#ifndef TS_GUARD_H
#define TS_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

extern __thread int ts_guard_depth __attribute__((tls_model("initial-exec")));

/* What a marked frame holds (a value no other code stores there). */
#define TS_GUARD_CALL_MARK 0x7473686d2d63616cULL /* "tshm-cal" */

/* The marked call of this thread, if any: the outermost hook inside a real
 * function (set only for the length of that function: left from the
 * shim's own work, whose state may be half changed, nothing is let go of
 * and the thread goes on untraced). A hook in a signal handler that
 * interrupted it marks nothing. */
struct ts_guard_call {
    const volatile uint64_t *mark; /* in the hook's frame; NULL: none */
    int guard_held;                /* levels of the guard the hook holds over the call */
};

extern __thread struct ts_guard_call ts_guard_call __attribute__((tls_model("initial-exec")));

/* The marked call's frame is gone (its thread left it by siglongjmp):
 * forget the mark, give back the guard it held and let the hooks let go
 * of the rest (ts_held_abandoned). Only while the thread holds nothing of
 * the shim's but what that call held (the guard at the call's level): not
 * inside the shim's own work, nor in a signal handler that interrupted
 * it. True when it did. Out of line: only a thread with a marked call
 * gets here. */
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
    if (__builtin_expect(ts_guard_call.mark != NULL, 0))
        (void)ts_guard_call_abandoned();
    return ts_guard_depth != 0;
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
