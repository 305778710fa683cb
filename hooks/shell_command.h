/* shell_command.h — system(), as the C library does it, with the shell's
 * environment given.
 *
 * glibc's system starts its shell with the process's environ through a
 * call no hook sees. A hook can give that shell TRACEPARENT only by
 * pointing environ at another array for the length of the call, which is
 * the whole process's: wrong while other threads run (their getenv, their
 * own system calls with other contexts). So the shim runs the shell
 * itself, with the environment it built. */
#ifndef TS_SHELL_COMMAND_H
#define TS_SHELL_COMMAND_H

#include <signal.h>
#include <sys/types.h>

/* One call of system(), in three steps: begun, its shell started with
 * the environment given (which the shell alone needs: it can be freed
 * once ts_shell_start returns), then waited for. As glibc 2.36's
 * system(): from ts_shell_begin to the end of ts_shell_end, SIGINT and
 * SIGQUIT are ignored in the process (the dispositions from before the
 * first call that overlaps come back after the last) and SIGCHLD is
 * blocked in the calling thread; the shell, "/bin/sh -c command", starts
 * with the caller's signal mask, and with SIGINT and SIGQUIT at their
 * defaults unless they were ignored before. */
struct ts_shell_call {
    const char *command; /* not NULL */
    sigset_t mask;       /* the caller's, before SIGCHLD was blocked */
    sigset_t defaults;   /* what the shell takes at its default */
    pid_t pid;
    int err; /* the shell's start: 0, or an error number */
};

void ts_shell_begin(struct ts_shell_call *call, const char *command);
void ts_shell_start(struct ts_shell_call *call, char *const env[]);

/* The shell's wait status; that of a shell that exited with 127, errno
 * set, when it could not be started; -1 when waiting for it failed. A
 * cancellation point: a call cancelled here kills and reaps its shell and
 * puts the dispositions back. */
int ts_shell_end(struct ts_shell_call *call);

#endif
