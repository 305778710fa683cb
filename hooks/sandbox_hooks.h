/* sandbox_hooks.h — a thread that shuts itself into seccomp's strict mode
 * (sandbox_hooks.c). */
#ifndef TS_SANDBOX_HOOKS_H
#define TS_SANDBOX_HOOKS_H

#include <stdbool.h>

/* What ts_sandbox_strict_coming changed, for ts_sandbox_strict_refused. */
struct ts_strict_note {
    bool guard_entered;    /* the thread's guard, entered for good */
    bool signals_given_up; /* the stop signals, back at their default */
};

/* Before the calling thread enters SECCOMP_MODE_STRICT: from then on every
 * hook passes its calls on untouched, on this thread. */
struct ts_strict_note ts_sandbox_strict_coming(void);

/* The call that was to enter it failed (the kernel refuses strict mode to a
 * thread under a filter, EINVAL): the thread is as it was, and so is the
 * shim again. Keeps errno. Nothing here may run once the call succeeded. */
void ts_sandbox_strict_refused(struct ts_strict_note note);

#endif
