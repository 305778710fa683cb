/* death.h — a death by signal put off (hooks/signal_hooks.c).
 *
 * SIGTERM and its kin, left at their default, find a handler of the
 * shim's that exports the spans before the process dies of the signal.
 * One that comes while its thread is inside the shim, whose locks the
 * export may need (or which has just sent a request or a response whose
 * span it is about to end), or while a span is under way on another
 * thread, is put off: a timer sends the signal again a moment later, and
 * the handler carries the death out then, where the thread it lands on
 * holds nothing the export needs. An exec or an exit meanwhile carries it
 * out first (ts_death_due in their hooks): the exec would delete the
 * timer, the exit end the process with another status. Nothing on the
 * hooks' common path looks at it. */
#ifndef TS_DEATH_H
#define TS_DEATH_H

#include <stdbool.h>

/* The signal of a death put off; 0: none; -1: a thread carries it out
 * (atomic). */
extern int ts_death_pending;

/* What carries a death out (set by hooks/signal_hooks.c at start-up): the
 * spans out, then the signal again, at its default. */
extern void (*ts_death_carry_out)(int sig);

/* A signal came at a busy moment: note its death as put off, or as put
 * off once more (at most TS_DEATH_PUT_OFFS times in all); false when it
 * has been put off enough, or another signal's death is pending.
 * Async-signal-safe. */
#define TS_DEATH_PUT_OFFS 10
bool ts_death_put_off(int sig);

/* Carry a pending death out now, from a hook about to replace or end the
 * process (exec, exit), outside the shim (not in a vfork child, whose
 * memory is its parent's). */
void ts_death_due(void);

/* In a forked child: no death is its parent's to carry out. */
void ts_death_after_fork(void);

#endif
