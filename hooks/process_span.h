/* process_span.h — a span for a traced process's life (under `traceshim
 * run`, TRACESHIM_PROCESS_SPANS=1): named by its command, with its pid, its
 * parent's pid, its command line and its exit code. It is the parent of the
 * process's spans that have no other, and of its children's process spans
 * (TRACEPARENT at exec names it), so a trace reads like the commands run. */
#ifndef TS_PROCESS_SPAN_H
#define TS_PROCESS_SPAN_H

#include <stdbool.h>

/* At init, when enabled: start the span and make it the process context. */
void ts_pspan_start(void);

/* The code the process is exiting with (exit, _exit, main's return). */
void ts_pspan_set_exit_code(int code);

/* The process ends (or its image is replaced by exec): the span ends and
 * is queued, once. Only in the process that started it. The caller flushes
 * right after (ts_rep_exit, ts_rep_flush): the span is queued with
 * ts_rep_submit_last, which leaves the write to that flush. */
void ts_pspan_end(void);

/* The same from _exit or _Exit, which may run in a signal handler: queued
 * without starting the reporter thread (ts_rep_submit_signal_safe). */
void ts_pspan_end_signal_safe(void);

/* Does this process have a span that will be exported at its end? Then,
 * once the program may run a signal handler (hooks/process_hooks.c), the
 * reporter thread starts at once rather than with the span, so that an
 * _exit in a handler, which must not start it, finds it running and hands
 * it the span. */
bool ts_pspan_will_export(void);

/* Has this process a span of its own to end (not a forked child's copy)? */
bool ts_pspan_here(void);

/* In a forked child: the span is the parent's to end; the child keeps it
 * only as the context its own spans hang under. */
void ts_pspan_after_fork(void);

#endif
