/* shell_pipe.h — popen() and pclose(), as the C library does them, with
 * the shell's environment given.
 *
 * glibc's popen starts its shell with the process's environ through a
 * call no hook sees, and keeps the child's pid where only its own pclose
 * finds it. Pointing environ elsewhere for the length of the call would
 * race with the getenv of the program's other threads, so a threaded
 * server's command would lose the request's context (system() had the
 * same trouble: shell_command.h). So the shim runs the shell itself, with
 * the environment it built, and its pclose waits for the shells its popen
 * started.
 *
 * As glibc 2.36's: mode "r" or "w", with an optional "e" (the stream's fd
 * close-on-exec), anything else EINVAL; the shell "/bin/sh -c command"
 * gets the pipe's other end as its standard output ("r") or input ("w"),
 * with the caller's signal mask and dispositions, and none of the pipes
 * of the streams that are still open from earlier calls (POSIX asks it).
 * pclose closes the stream and returns the shell's wait status, or -1
 * (errno) when waiting for it failed. */
#ifndef TS_SHELL_PIPE_H
#define TS_SHELL_PIPE_H

#include <stdbool.h>
#include <stdio.h>

/* popen, the shell started with env. NULL and errno when it could not
 * be (the mode, no pipe, no memory, the spawn's error). */
FILE *ts_shell_popen(const char *command, const char *mode, char *const env[]);

/* pclose of a stream ts_shell_popen made: false, nothing done, for any
 * other stream; else the stream is closed and *status is pclose's
 * result. */
bool ts_shell_pclose(FILE *fp, int *status);

/* In a forked child: the list's lock is free (a thread of the parent may
 * have held it); the streams are the child's copies, their shells not
 * its children. */
void ts_shell_pipe_after_fork(void);

#endif
