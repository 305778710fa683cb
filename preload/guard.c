/* guard.c — storage of the reentrancy guard, and what a call abandoned by
 * siglongjmp leaves to let go of (see guard.h). */
#include "guard.h"

#include <errno.h>
#include <stddef.h>

__thread int ts_guard_depth __attribute__((tls_model("initial-exec")));
__thread const volatile uint64_t *ts_guard_marked_call __attribute__((tls_model("initial-exec")));

/* The hooks' half (hooks/held.c): the send lock and the reference the
 * abandoned call held. Weak: the unit tests that link the preload layer
 * alone have no hooks, and no marked calls either. */
extern bool ts_held_abandoned(void) __attribute__((weak));

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
     * (this may be a handler that interrupted it). An intact mark: the
     * call is under way (this is its handler), or nothing has written
     * over its frame yet. */
    if (ts_guard_depth != TS_GUARD_CALL_HELD || *mark == TS_GUARD_CALL_MARK) {
        ts_guard_marked_call = mark;
        TS_GUARD_ORDER();
        return false;
    }
    int saved = errno; /* a hook's entry: the program's errno is not ours to change */
    /* Still under the call's guard: a handler passes through. */
    if (ts_held_abandoned && !ts_held_abandoned()) {
        ts_guard_marked_call = mark; /* not this process's to let go of */
        TS_GUARD_ORDER();
        errno = saved;
        return false;
    }
    TS_GUARD_ORDER();
    ts_guard_depth -= TS_GUARD_CALL_HELD;
    errno = saved;
    return true;
}
