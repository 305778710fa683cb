/* guard.c — storage of the reentrancy guard, and what a call abandoned by
 * siglongjmp leaves to let go of (see guard.h). */
#include "guard.h"

#include <signal.h>
#include <stddef.h>

__thread int ts_guard_depth __attribute__((tls_model("initial-exec")));
__thread const volatile uint64_t *ts_guard_marked_call __attribute__((tls_model("initial-exec")));

/* The hooks' half (hooks/held.c): the send lock and the reference the
 * abandoned call held. Weak: the unit tests that link the preload layer
 * alone have no hooks, and no marked calls either. */
extern void ts_held_abandoned(void) __attribute__((weak));

/* How far above a marked frame this thread's frame may lie and still be
 * taken for one on the same stack (guard.h). */
#define TS_GUARD_SAME_STACK_SPAN (64u * 1024u)

/* Whether the thread runs on its alternate signal stack now (a failure to
 * tell counts as yes). */
static bool on_alternate_stack(void)
{
    stack_t ss;
    return sigaltstack(NULL, &ss) != 0 || (ss.ss_flags & SS_ONSTACK);
}

/* Has the thread left the frame that holds mark? Its bytes written over
 * say so. So does this frame lying above it, close by, on the same stack:
 * a live call's signal handlers run below it (its real function is
 * deeper still), or on the alternate stack. Stacks grow down on every
 * architecture the shim builds for. */
__attribute__((no_sanitize_address, noinline)) static bool frame_left(const volatile uint64_t *mark)
{
    if (*mark != TS_GUARD_CALL_MARK)
        return true;
    uintptr_t here = (uintptr_t)__builtin_frame_address(0), at = (uintptr_t)mark;
    return here > at && here - at < TS_GUARD_SAME_STACK_SPAN && !on_alternate_stack();
}

/* The mark is read where a frame of the thread was, which may be dead: a
 * sanitizer build must not take that read for the program's bug (after a
 * siglongjmp, the bytes may lie in a live frame's red zone). */
__attribute__((no_sanitize_address)) bool ts_guard_call_abandoned(void)
{
    /* Taken in one instruction before anything is looked at: a signal
     * handler that runs from here on finds none, and cannot let go of the
     * same things twice. Put back when the call is not to be let go of. */
    const volatile uint64_t *mark = __atomic_exchange_n(&ts_guard_marked_call, NULL,
                                                        __ATOMIC_RELAXED);
    TS_GUARD_ORDER();
    if (!mark)
        return false;
    /* The guard above the call's level: the shim's own work is under way
     * (this may be a handler that interrupted it). A frame not left: the
     * call is under way (this is its handler), or it cannot be told yet. */
    if (ts_guard_depth != TS_GUARD_CALL_HELD || !frame_left(mark)) {
        ts_guard_marked_call = mark;
        TS_GUARD_ORDER();
        return false;
    }
    if (ts_held_abandoned)
        ts_held_abandoned(); /* still under the call's guard: a handler passes through */
    TS_GUARD_ORDER();
    ts_guard_depth -= TS_GUARD_CALL_HELD;
    return true;
}
