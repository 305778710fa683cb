/* process_hooks.h — what start-up sets up for the hooks of the calls that
 * replace, start and end processes (process_hooks.c). */
#ifndef TS_PROCESS_HOOKS_H
#define TS_PROCESS_HOOKS_H

#include <stdbool.h>

#include "conn.h"

/* At start-up, before the program's constructors: the flush that C11's
 * quick_exit runs, as the last of its at_quick_exit handlers. */
void ts_process_hooks_init(void);

/* Is the shim on in this process, and is this the process it set up (not a
 * vfork child, which shares the memory but not the pid), and is this
 * thread not inside the shim (whose locks it may hold)? No lazy init. */
bool ts_process_hooks_own(void);

/* The process image ends (conn.h enum ts_image_end): its connections end
 * as their sockets would, those on fds (ts_conn_image_ends) and those of
 * TLS sessions (tls_sessions_image_ends). Under the guard. */
void ts_process_image_ends(enum ts_image_end how);

/* The process ends now without its exit handlers (_exit, a signal): the
 * spans of responses that run to the close end, the process span takes
 * status, and the spans go out (bounded). in_handler: in the shim's own
 * signal handler, which may have interrupted malloc (the flush is handed
 * to the reporter thread). Nothing when this thread was inside the shim,
 * but for a send inside the real function in the shim's handler (guard.h
 * ts_guard_only_a_call). */
void ts_process_ends_now(int status, bool in_handler);

#endif
