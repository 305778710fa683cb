/* death.h — a death by signal under way (hooks/signal_hooks.c).
 *
 * SIGTERM and its kin, left at their default, find a handler of the
 * shim's that exports the spans before the process dies of the signal.
 * Untraced, the whole process would be gone at once; while the export
 * runs, the program's other threads run on, and none of them may replace,
 * end, fork or spawn the process, or take the signal over, first: the
 * hooks of those calls (exec, spawn, system, popen, fork, exit and its
 * kin, main's return, sigaction and its kin for that signal) come here
 * first, and wait for the death (bounded), or carry it out themselves.
 *
 * A signal that comes while its thread is inside the shim's work, whose
 * locks the export may need, or has just sent a request or a response
 * whose span it is about to end, is put off: a timer sends the signal
 * again a moment later, and the handler carries the death out where it
 * then lands. Nothing on the hooks' common path looks at any of this. */
#ifndef TS_DEATH_H
#define TS_DEATH_H

#include <stdbool.h>

/* The signals that stop a service from outside, which the shim's handler
 * takes at their default: a supervisor's stop (systemd, docker,
 * kubernetes), Ctrl-C, a terminal closed. */
#define TS_STOP_SIGNALS 3
extern const int ts_stop_signals[TS_STOP_SIGNALS];

/* The death under way (atomic): 0 none; sig > 0 put off; -sig being
 * carried out by a thread. */
extern int ts_death_pending;

/* What carries a death put off out (set by hooks/signal_hooks.c at
 * start-up): the spans out, then the signal again, at its default. */
extern void (*ts_death_carry_out)(int sig);

/* A signal came at a busy moment: note its death as put off, or as put
 * off once more (at most TS_DEATH_PUT_OFFS times in all); false when it
 * has been put off enough, or another death is under way.
 * Async-signal-safe. */
#define TS_DEATH_PUT_OFFS 10
bool ts_death_put_off(int sig);

/* This thread carries sig's death out (from pending, what it read: 0 or
 * sig); false when another thread has taken it on. Async-signal-safe. */
bool ts_death_claim(int sig, int pending);

/* A stop signal that comes within TS_DEATH_ECHO_MS of the claim of a
 * death is a copy of the one that claimed it, the same stop: timeout(1)
 * sends its signal to the program and then, at once, to its whole process
 * group; a timer of the shim's sends one 20 ms after a death was put off.
 * One that comes later, whichever of the stop signals, is a second stop
 * asked for (a second Ctrl-C while the export waits for a collector): it
 * ends the process at once, of the signal the death is under way for (the
 * status the first stop would have given). */
#define TS_DEATH_ECHO_MS 100

/* Was the death under way claimed less than TS_DEATH_ECHO_MS ago?
 * Async-signal-safe. */
bool ts_death_claimed_just_now(void);

/* The process dies of sig, at its default, now (this thread: unblocked).
 * Async-signal-safe. */
void ts_death_now(int sig);

/* From a hook about to replace, end, fork or spawn the process, or to
 * change a signal's disposition (sig; 0: any): a death put off is carried
 * out here; one another thread carries out is waited for (its export's
 * TRACESHIM_EXIT_TIMEOUT and a second more), then carried out here
 * without the export. Nothing when none is under way, or in a vfork
 * child (its memory is its parent's). */
void ts_death_due(int sig);

/* Around an exec's real call: a signal that comes once it may be inside
 * the kernel, where nothing can stop it any more, is sent again to the
 * process at its default instead (ts_death_now_or_after_exec), pending
 * across the exec if it gets that far: the new image dies of it, as the
 * untraced process would have died before. (atomic count) */
extern unsigned ts_death_execs_in_flight;

/* ts_death_now, unless an exec is in flight: then the signal at its
 * default, to the process, and true. */
bool ts_death_after_exec(int sig);

/* The shim's handler (set by hooks/signal_hooks.c at start-up). */
extern void (*ts_death_handler)(int sig);

/* From a hook about to replace or end the process (exec, exit): a stop
 * signal already sent to the process, for the shim's handler, that no
 * thread has taken yet (this one blocks it; the one it went to has not
 * run yet) is waited for, at most 50 ms: untraced, the kernel would have
 * ended the process as it was sent. Then as ts_death_due. */
void ts_death_awaited(void);

/* In a forked child: no death is its parent's to carry out. */
void ts_death_after_fork(void);

#endif
