/* alloc_lock_probe.c — a signal handler ends the process while the
 * allocator's lock is taken.
 *
 *   alloc_lock_probe exit|exec [PORT [fork]]
 *
 *   exit    the handler calls _exit(5)
 *   exec    the handler execs "alloc_lock_probe end", which ends with
 *           status 6
 *   PORT    before the signal, one GET to 127.0.0.1:PORT (a client span
 *           for the handler's flush to send)
 *   fork    the GET, the signal and the end happen in a forked child;
 *           the parent ends with the child's status
 *
 * The program brings its own malloc family (over glibc's __libc_*
 * functions), as programs with an allocator of their own do; the shim's
 * allocations come here too. main installs a SIGUSR1 handler and raises
 * the signal. The handler marks the allocator's lock taken, as a handler
 * that interrupted malloc finds it, and ends or replaces the process. From
 * then on an allocation on any other thread waits for the lock, as it
 * would, until the process is gone; one on the handler's own thread would
 * deadlock for real, and is reported on stderr instead. So whatever the
 * shim sends at that _exit or exec must need no allocation. */
#define _GNU_SOURCE
#include "probe.h"
#include <stdbool.h>
#include <stddef.h>
#include <sys/wait.h>

static volatile sig_atomic_t lock_taken;
static __thread volatile sig_atomic_t in_handler;

static void say(const char *s)
{
    (void)!write(2, s, strlen(s));
}

/* Every allocation and free passes here first. */
static void own_malloc_enter(void)
{
    if (!lock_taken)
        return;
    if (in_handler) {
        say("alloc_lock_probe: an allocation in the signal handler\n");
        return;
    }
    for (;;) { /* held by the interrupted thread until the process ends */
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
}

#include "own_malloc.h"

static bool replace;

static void end_now(int sig)
{
    (void)sig;
    in_handler = 1;
    lock_taken = 1;
    if (replace) {
        char *const argv[] = {"alloc_lock_probe", "end", NULL};
        execv("/proc/self/exe", argv);
        _exit(7); /* the exec failed */
    }
    _exit(5);
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 4 || (argc == 4 && strcmp(argv[3], "fork") != 0)) {
        say("usage: alloc_lock_probe exit|exec|end [PORT [fork]]\n");
        return 2;
    }
    if (strcmp(argv[1], "end") == 0)
        return 6;
    replace = strcmp(argv[1], "exec") == 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = end_now;
    sigaction(SIGUSR1, &sa, NULL);
    if (argc == 4) {
        pid_t child = fork();
        if (child < 0)
            return 4;
        int status;
        if (child > 0)
            return waitpid(child, &status, 0) == child && WIFEXITED(status)
                       ? WEXITSTATUS(status)
                       : 4;
    }
    if (argc >= 3) /* one GET, so that the flush has a client span to send */
        http_get_200(atoi(argv[2]), "/");
    raise(SIGUSR1);
    return 3; /* not reached */
}
