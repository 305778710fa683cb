/* signal_hooks.h — the program's signal dispositions, as the shim needs
 * them (signal_hooks.c): whether a handler of the program's may be
 * running (an exit or exec inside one must not allocate), and the
 * signals that end a service from outside, which, left at their default,
 * end the process only once its spans went out. */
#ifndef TS_SIGNAL_HOOKS_H
#define TS_SIGNAL_HOOKS_H

#include <stdbool.h>
#include <stdint.h>

/* At start-up, on the constructor's thread, before any of the program's
 * code: SIGTERM, SIGINT and SIGHUP at their default action get the
 * shim's handler (TRACESHIM_SIGNAL_FLUSH), which the program never sees. */
void ts_signal_hooks_init(void);

/* In a forked child (a fork handler). */
void ts_signal_hooks_after_fork(void);

/* The stop signals still at the shim's handler go back to their default:
 * before a strict seccomp mode, under which the handler's first system
 * call (getpid) would turn a SIGTERM's death into a SIGKILL's. True when
 * the shim had taken them (and now gave them up). */
bool ts_signal_hooks_give_up(void);

/* After a true ts_signal_hooks_give_up whose strict mode did not come: the
 * shim takes again those the program leaves at their default. */
void ts_signal_hooks_take_back(void);

/* Has the program installed a signal handler of its own (a function)?
 * Until it has, no _exit or exec can run in one. */
bool ts_signal_program_has_handlers(void);

/* May this thread be running a handler of the program's? It is when a
 * signal the program has a handler for is blocked, as the kernel blocks
 * it while its handler runs. A thread that keeps such a signal blocked for
 * good (one thread of many takes it) is taken for one too; and every
 * thread, once the program has installed a handler the kernel does not
 * block its signal for (SA_NODEFER) or one through a raw rt_sigaction.
 * Not seen: a handler that unblocks its own signal, one installed by a
 * system call made without glibc's syscall. A system call. */
bool ts_signal_maybe_in_a_handler(void);

/* The program's handlers held off on this thread while the shim ends the
 * process image (the flush of an exit, an _exit or an exec): a handler
 * that interrupted that work could not run it again (its locks may be
 * held: the guard), and one that calls _exit there (apt ends its
 * download methods so: stdin closed, then SIGINT) ended the process with
 * its spans half written, or before the reporter thread was handed any.
 * They run at the release, once the spans are out (at most
 * TRACESHIM_EXIT_TIMEOUT later), or never, when the process ends first,
 * as an untraced one would have ended before them. Only the signals whose
 * action is a handler the program installed with sigaction or the signal
 * family, never one a fault raises; on this thread only (a signal for the
 * process goes to another thread that does not block it, whose _exit
 * then waits for a flush handed over: ts_process_ends_now). Returns what
 * it blocked, for the release. Async-signal-safe. */
uint64_t ts_signal_hold_handlers(void);
void ts_signal_release_handlers(uint64_t held);

/* syscall(SYS_rt_sigaction, sig, kernel_act, ...) (socket_hooks.c): an
 * action whose handler and flags the shim does not read. */
void ts_signal_raw_action_coming(const void *kernel_act);

/* The program's main starts: every constructor has run. */
void ts_signal_main_starts(void);

#endif
