/* guard.c — storage of the reentrancy guard, and what a call abandoned by
 * siglongjmp leaves to let go of (see guard.h). */
#include "guard.h"

#include <stddef.h>

__thread int ts_guard_depth __attribute__((tls_model("initial-exec")));
__thread struct ts_guard_call ts_guard_call __attribute__((tls_model("initial-exec")));

/* The hooks' half (hooks/held.c): the send lock and the reference the
 * abandoned call held. Weak: the unit tests that link the preload layer
 * alone have no hooks, and no marked calls either. */
extern void ts_held_abandoned(void) __attribute__((weak));

/* The mark is read where a frame of the thread was, which may be dead: a
 * sanitizer build must not take that read for the program's bug (after a
 * siglongjmp, the bytes may lie in a live frame's red zone). */
__attribute__((no_sanitize_address)) bool ts_guard_call_abandoned(void)
{
    const volatile uint64_t *mark = ts_guard_call.mark;
    int guard_held = ts_guard_call.guard_held;
    if (!mark || ts_guard_depth != guard_held || *mark == TS_GUARD_CALL_MARK)
        return false; /* none, the shim's work under way, or the call itself (its handler) */
    ts_guard_call = (struct ts_guard_call){NULL, 0};
    TS_GUARD_ORDER();
    ts_guard_depth -= guard_held;
    if (ts_held_abandoned)
        ts_held_abandoned();
    return true;
}
