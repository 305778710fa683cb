/* death.h — a death by signal put off (hooks/signal_hooks.c).
 *
 * SIGTERM and its kin, left at their default, find a handler of the
 * shim's that exports the spans before the process dies of the signal.
 * One that comes while its thread is inside the shim, whose locks the
 * export may need (or which has just sent a request or a response whose
 * span it is about to end), is put off: the first thread to leave the
 * shim (its guard back at 0: guard.h ts_guard_leave, which the exec and
 * exit hooks pass too, so that neither replaces nor ends the process
 * first) carries it out. A thread blocked in a send to a peer that reads
 * nothing never leaves it: the signal comes again (the handler arms a
 * timer), and the shim's handler, finding a death pending, carries it
 * out there. */
#ifndef TS_DEATH_H
#define TS_DEATH_H

#include <stdbool.h>

/* The signal of a death put off; 0: none; -1: a thread carries it out
 * (atomic). */
extern int ts_death_pending;

/* What carries a death out (set by hooks/signal_hooks.c at start-up): the
 * spans out, then the signal again, at its default. */
extern void (*ts_death_carry_out)(int sig);

/* A signal came while its thread was inside the shim: put its death off;
 * false when a death is pending already. Async-signal-safe. */
bool ts_death_put_off(int sig);

/* A thread left the shim with a death pending: it carries the death out,
 * if it is the first (not a vfork child's, whose memory is its parent's).
 * Out of line: rare. */
void ts_death_due(void);

/* In a forked child: no death is its parent's to carry out. */
void ts_death_after_fork(void);

#endif
