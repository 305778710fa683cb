/* shell_command.c — system(), as the C library does it, with the shell's
 * environment given (shell_command.h).
 *
 * What glibc 2.36's system does, and so what a program expects of it:
 * "sh -c COMMAND" (no "--": a command that starts with a dash is the
 * shell's option, as there), SIGINT and SIGQUIT ignored by the process
 * while any call waits, counted across threads so that the last call to
 * finish, not the first, puts them back; SIGCHLD blocked in the calling
 * thread, so that a handler of the program's cannot reap the shell first. */
#include "shell_command.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>

#include "../preload/real.h"

/* The calls waiting for a shell, and the dispositions of SIGINT and
 * SIGQUIT from before the first of them (under interrupts_lock). */
static pthread_mutex_t interrupts_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned shells_waited_for;
static struct sigaction program_sigint, program_sigquit;

/* The first call ignores SIGINT and SIGQUIT; *defaults gets those of the
 * two the program had not ignored, which the shell takes at their
 * defaults. */
static void interrupts_ignore(sigset_t *defaults)
{
    struct sigaction ignore = {.sa_handler = SIG_IGN};
    sigemptyset(&ignore.sa_mask);
    pthread_mutex_lock(&interrupts_lock);
    if (shells_waited_for++ == 0) {
        TS_REAL(sigaction)(SIGINT, &ignore, &program_sigint);
        TS_REAL(sigaction)(SIGQUIT, &ignore, &program_sigquit);
    }
    sigemptyset(defaults);
    if (program_sigint.sa_handler != SIG_IGN)
        sigaddset(defaults, SIGINT);
    if (program_sigquit.sa_handler != SIG_IGN)
        sigaddset(defaults, SIGQUIT);
    pthread_mutex_unlock(&interrupts_lock);
}

/* The last call puts the program's dispositions back. */
static void interrupts_restore(void)
{
    pthread_mutex_lock(&interrupts_lock);
    if (--shells_waited_for == 0) {
        TS_REAL(sigaction)(SIGINT, &program_sigint, NULL);
        TS_REAL(sigaction)(SIGQUIT, &program_sigquit, NULL);
    }
    pthread_mutex_unlock(&interrupts_lock);
}

void ts_shell_begin(struct ts_shell_call *call, const char *command)
{
    call->command = command;
    call->pid = 0;
    call->err = ENOEXEC; /* until started */
    interrupts_ignore(&call->defaults);
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &chld, &call->mask);
}

void ts_shell_start(struct ts_shell_call *call, char *const env[])
{
    posix_spawnattr_t attr;
    call->err = posix_spawnattr_init(&attr);
    if (call->err)
        return;
    posix_spawnattr_setsigmask(&attr, &call->mask);
    posix_spawnattr_setsigdefault(&attr, &call->defaults);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    char *argv[] = {(char *)"sh", (char *)"-c", (char *)call->command, NULL};
    call->err = TS_REAL(posix_spawn)(&call->pid, "/bin/sh", NULL, &attr, argv, env);
    posix_spawnattr_destroy(&attr);
}

/* A call cancelled while it waits: its shell is killed and reaped (the
 * thread is being cancelled: waitpid is no cancellation point any more),
 * and the dispositions go back as at the call's end. */
static void shell_abandoned(void *arg)
{
    pid_t pid = *(pid_t *)arg;
    TS_REAL(kill)(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
    interrupts_restore();
}

/* The shell's wait status, or -1 when waitpid failed. Out of line: the
 * cleanup handler's setjmp stays in this frame. */
static __attribute__((noinline)) int shell_wait(pid_t pid)
{
    int status = -1;
    pthread_cleanup_push(shell_abandoned, &pid);
    pid_t r;
    while ((r = waitpid(pid, &status, 0)) < 0 && errno == EINTR) {
    }
    if (r != pid)
        status = -1;
    pthread_cleanup_pop(0);
    return status;
}

int ts_shell_end(struct ts_shell_call *call)
{
    /* POSIX: a shell that could not start is one that exited with 127 */
    int status = call->err == 0 ? shell_wait(call->pid) : W_EXITCODE(127, 0);
    int saved = errno;
    interrupts_restore();
    /* errno before the mask: a SIGCHLD handler that runs once it is
     * unblocked may set it, as after glibc's system */
    errno = call->err ? call->err : saved;
    pthread_sigmask(SIG_SETMASK, &call->mask, NULL);
    return status;
}
