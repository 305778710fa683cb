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

/* Run "/bin/sh -c command" with environment env and wait for it, as
 * glibc 2.36's system(): while any call waits, SIGINT and SIGQUIT are
 * ignored in the process (their dispositions from before the first call
 * back after the last) and SIGCHLD is blocked in the calling thread; the
 * shell starts with the caller's signal mask, and with SIGINT and SIGQUIT
 * at their defaults unless they were ignored before. Returns the shell's
 * wait status; the status of a shell that exited 127, errno set, when it
 * could not be started; -1 when waiting for it failed. A cancellation
 * point: a cancelled call kills and reaps its shell and puts the
 * dispositions back. command is not NULL. */
int ts_shell_command(const char *command, char *const env[]);

#endif
