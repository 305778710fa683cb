/* shell_pipe.c — see shell_pipe.h. */
#include "shell_pipe.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../preload/fork_state.h"
#include "../preload/real.h"
#include "conn_lock.h"

/* A stream whose shell is still to be waited for. */
struct shell_pipe {
    FILE *fp;
    int fd; /* the stream's end of the pipe */
    pid_t pid;
    struct shell_pipe *next;
};

/* The streams not closed yet, newest first. Held across a shell's start,
 * so that another thread's shell starting meanwhile does not take a pipe
 * before this one's list has it (glibc holds its list so too). */
static struct shell_pipe *open_pipes; /* written under the lock, atomically */
static struct conn_lock pipes_mu TS_FORK_STATE;

/* mode's direction, 'r' or 'w', as glibc reads it (any number of 'r',
 * 'w' and 'e', exactly one of the first two kinds); 0 when it has none of
 * them or both, or another letter. *cloexec: an 'e' was there. */
static char mode_direction(const char *mode, bool *cloexec)
{
    bool read = false, write = false;
    *cloexec = false;
    for (const char *m = mode; *m; m++) {
        if (*m == 'r')
            read = true;
        else if (*m == 'w')
            write = true;
        else if (*m == 'e')
            *cloexec = true;
        else
            return 0;
    }
    return read == write ? 0 : read ? 'r' : 'w';
}

/* The file actions of a shell whose standard fd std is child_end: the
 * other streams' pipes closed. An error number, or 0. Lock held. */
static int shell_actions(posix_spawn_file_actions_t *fa, int child_end, int std)
{
    int err = posix_spawn_file_actions_adddup2(fa, child_end, std);
    for (const struct shell_pipe *p = open_pipes; p && !err; p = p->next)
        if (p->fd != std) /* (the dup2 closed that one) */
            err = posix_spawn_file_actions_addclose(fa, p->fd);
    return err;
}

/* Start "/bin/sh -c command" in p with the pipe's child_end as its std
 * fd. An error number, or 0. Lock held. */
static int shell_spawn(struct shell_pipe *p, const char *command, int child_end, int std,
                       char *const env[])
{
    posix_spawn_file_actions_t fa;
    int err = posix_spawn_file_actions_init(&fa);
    if (err)
        return err;
    err = shell_actions(&fa, child_end, std);
    char *argv[] = {"sh", "-c", (char *)command, NULL};
    if (!err)
        err = TS_REAL(posix_spawn)(&p->pid, "/bin/sh", &fa, NULL, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    return err;
}

FILE *ts_shell_popen(const char *command, const char *mode, char *const env[])
{
    bool cloexec;
    char dir = mode_direction(mode, &cloexec);
    if (!dir) {
        errno = EINVAL;
        return NULL;
    }
    struct shell_pipe *p = malloc(sizeof *p);
    int fds[2];
    if (!p || pipe2(fds, O_CLOEXEC) != 0) {
        free(p);
        return NULL; /* (errno: malloc's, pipe2's) */
    }
    int std = dir == 'r' ? STDOUT_FILENO : STDIN_FILENO;
    p->fd = dir == 'r' ? fds[0] : fds[1];
    int child_end = dir == 'r' ? fds[1] : fds[0];
    /* The end already the shell's std fd (the program closed its own):
     * moved, or the dup2 onto itself would leave it close-on-exec. */
    if (child_end == std) {
        int moved = fcntl(child_end, F_DUPFD_CLOEXEC, 3);
        if (moved < 0) {
            int err = errno;
            close(fds[0]);
            close(fds[1]);
            free(p);
            errno = err;
            return NULL;
        }
        close(child_end);
        child_end = moved;
    }
    p->fp = fdopen(p->fd, dir == 'r' ? "r" : "w");
    if (!p->fp) {
        int err = errno;
        close(p->fd);
        close(child_end);
        free(p);
        errno = err;
        return NULL;
    }
    conn_lock(&pipes_mu);
    int err = shell_spawn(p, command, child_end, std, env);
    close(child_end);
    if (!err) {
        if (!cloexec)
            fcntl(p->fd, F_SETFD, 0);
        p->next = open_pipes;
        __atomic_store_n(&open_pipes, p, __ATOMIC_RELEASE);
    }
    conn_unlock(&pipes_mu);
    if (err) {
        fclose(p->fp);
        free(p);
        errno = err;
        return NULL;
    }
    return p->fp;
}

bool ts_shell_pclose(FILE *fp, int *status)
{
    /* every fclose asks: most programs never popen */
    if (!fp || !__atomic_load_n(&open_pipes, __ATOMIC_ACQUIRE))
        return false;
    conn_lock(&pipes_mu);
    struct shell_pipe **at = &open_pipes;
    while (*at && (*at)->fp != fp)
        at = &(*at)->next;
    struct shell_pipe *p = *at;
    if (p)
        __atomic_store_n(at, p->next, __ATOMIC_RELEASE);
    conn_unlock(&pipes_mu);
    if (!p)
        return false;
    fclose(fp); /* (its buffer flushed first: the shell reads it to the end) */
    int wstatus;
    pid_t r;
    do
        r = waitpid(p->pid, &wstatus, 0);
    while (r < 0 && errno == EINTR);
    *status = r < 0 ? -1 : wstatus;
    int err = errno;
    free(p);
    errno = err;
    return true;
}

TS_FORK_HANDLER void ts_shell_pipe_after_fork(void)
{
    atomic_store_explicit(&pipes_mu.state, 0, memory_order_relaxed);
}
