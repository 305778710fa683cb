/* init.h — the library's life: constructor, lazy init, fork, exit. */
#ifndef TS_INIT_H
#define TS_INIT_H

#include <stdbool.h>

#include "guard.h"

/* Exported symbols of the library. Everything else is hidden. */
#define TS_EXPORT __attribute__((visibility("default")))

/* True once init has run and tracing is on (not disabled). */
extern bool ts_active;

/* Run init once (from the constructor, or the first hook that needs it). */
void ts_init(void);

/* Should a hook do the shim's work now? Inits lazily; false while init is
 * still running, when disabled, and inside the shim's own work. */
static inline bool ts_ready(void)
{
    if (__builtin_expect(!ts_active, 0)) {
        if (ts_guard_active())
            return false;
        ts_init();
        if (!ts_active)
            return false;
    }
    return !ts_guard_active_at_entry();
}

#endif
