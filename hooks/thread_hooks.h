/* thread_hooks.h — what the thread hooks learn about the program. */
#ifndef TS_THREAD_HOOKS_H
#define TS_THREAD_HOOKS_H

#include <stdbool.h>

/* True once the program has created a thread of its own (pthread_create,
 * thrd_create; the shim's reporter does not count): its fd table may be
 * shared with threads the calling one cannot speak for. Sticky: a forked
 * child of such a program still answers true. */
bool ts_program_made_threads(void);

#endif
