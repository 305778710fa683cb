/* process_hooks.h — what start-up sets up for the hooks of the calls that
 * replace, start and end processes (process_hooks.c). */
#ifndef TS_PROCESS_HOOKS_H
#define TS_PROCESS_HOOKS_H

/* At start-up, before the program's constructors: the flush that C11's
 * quick_exit runs, as the last of its at_quick_exit handlers. */
void ts_process_hooks_init(void);

#endif
