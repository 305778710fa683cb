/* sandbox_hooks.h — a thread that shuts itself into seccomp's strict mode
 * (sandbox_hooks.c). */
#ifndef TS_SANDBOX_HOOKS_H
#define TS_SANDBOX_HOOKS_H

/* Before the calling thread enters SECCOMP_MODE_STRICT: from then on every
 * hook passes its calls on untouched, on this thread. */
void ts_sandbox_strict_coming(void);

#endif
