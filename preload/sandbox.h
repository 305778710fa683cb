/* sandbox.h — what the shim knows of a program's own seccomp filters.
 *
 * A thread that installs a seccomp filter (a sandboxed worker, a service
 * that restricts itself) may refuse, or be killed for, any system call its
 * filter does not list, and a filter is inherited by the threads the
 * thread starts later. The shim adds system calls to a program's threads
 * only where it must; a call that is an optimisation alone (putting the
 * reporter thread under the normal scheduling policy while the program
 * waits for it) is not made once the program has installed a filter.
 * Filters installed through the C library (prctl, or syscall with the
 * seccomp system call) are seen (hooks/sandbox_hooks.c); one installed
 * with a system call instruction of the program's own is not. After one,
 * no reporter thread is started (a new thread is a clone3 the filter may
 * trap or kill for): the spans go out from the program's own threads at
 * its exit, exec or _exit. A filter inherited at the start applies to the
 * reporter thread too, which then makes no scheduling call at all
 * (reporter/reporter.c). */
#ifndef TS_SANDBOX_H
#define TS_SANDBOX_H

#include <stdbool.h>

/* A thread of this process is about to install a seccomp filter. */
void ts_sandbox_filter_coming(void);

/* True once one was (atomic; a forked child inherits the filter and the
 * note). */
bool ts_sandbox_filter_seen(void);

#endif
