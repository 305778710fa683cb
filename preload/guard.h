/* guard.h — the thread-local reentrancy guard.
 *
 * While a thread is inside the shim's own work (parsing, queueing, the
 * reporter thread for its whole life), its libc calls must not be traced
 * again. initial-exec TLS: no allocation and no lock on first access, which
 * matters in a preloaded library. */
#ifndef TS_GUARD_H
#define TS_GUARD_H

#include <stdbool.h>

extern __thread int ts_guard_depth __attribute__((tls_model("initial-exec")));

static inline bool ts_guard_active(void)
{
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
