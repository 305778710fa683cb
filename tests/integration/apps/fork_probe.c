/* fork_probe.c — fork and vfork from a traced program, for test_hostile.py.
 *
 *   fork_probe fork PORT FORKS THREADS
 *     THREADS threads make traced keep-alive requests (GET /thread/T/I, a new
 *     connection every 20) to 127.0.0.1:PORT until the end, while the main
 *     thread forks FORKS times, 30 ms apart. Child k makes one traced request
 *     (GET /child/K) on a connection of its own and ends with exit(k % 4)
 *     (even k) or _exit(k % 4) (odd k). The parent waits for each child at
 *     most 5 s (then kills it, and forks no more). Output: "CHILD k pid P
 *     status S ms M" (S is the exit code, "signal N", or "HUNG"), "THREADS
 *     n" (requests the threads made), "done".
 *   fork_probe vfork PORT EXE
 *     One keep-alive connection A to PORT; GET /vfork/0 on it; then
 *       vfork, the child closes A's fd and every fd above it, opens a socket
 *       (which gets A's number in the child) and _exits(7);
 *       GET /vfork/1 on A;
 *       vfork, the child closes A's fd, dup2s stderr over it and execs
 *       EXE (the probe itself) with "exit 5": an exec'd traced program that
 *       ends at once with status 5;
 *       GET /vfork/2 on A.
 *     Output: "VFORK exit S" and "VFORK exec S" (the children's statuses),
 *     "done".
 * Exit status 0, or 2 with a line on stderr. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "probe.h"

static int port;
static atomic_bool stopping;

/* GET path on fd; returns the status code, or -1 (the response itself is
 * not needed). */
static int get(int fd, const char *path)
{
    char resp[4096];
    return http_get(fd, port, path, resp, sizeof resp);
}

/* ---------------------------------------------------------------- fork */

static void *requester(void *arg)
{
    long t = (long)arg, n = 0;
    int fd = -1;
    while (!atomic_load(&stopping)) {
        if (n % 20 == 0) {
            if (fd >= 0)
                close(fd);
            if ((fd = connect_loopback(port, 0)) < 0)
                fail("thread %ld: connect", t);
        }
        char path[64];
        snprintf(path, sizeof path, "/thread/%ld/%ld", t, n);
        if (get(fd, path) != 200)
            fail("thread %ld: %s", t, path);
        n++;
        sleep_ms(2);
    }
    close(fd);
    return (void *)n;
}

static void child(int k)
{
    int fd = connect_loopback(port, 0);
    char path[32];
    snprintf(path, sizeof path, "/child/%d", k);
    if (fd < 0 || get(fd, path) != 200)
        _exit(100);
    close(fd);
    if (k % 2 == 0)
        exit(k % 4);
    _exit(k % 4);
}

/* Wait for pid at most timeout_ms; its status as text. */
static const char *reap(pid_t pid, long timeout_ms, char *buf, size_t cap)
{
    long until = now_ms() + timeout_ms;
    int st;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            break;
        if (r < 0)
            fail("waitpid");
        if (now_ms() > until) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            return "HUNG";
        }
        sleep_ms(2);
    }
    if (WIFEXITED(st))
        snprintf(buf, cap, "%d", WEXITSTATUS(st));
    else
        snprintf(buf, cap, "signal %d", WTERMSIG(st));
    return buf;
}

static int run_fork(int forks, int threads)
{
    pthread_t tid[16];
    if (threads > 16)
        threads = 16;
    for (long t = 0; t < threads; t++)
        if (pthread_create(&tid[t], NULL, requester, (void *)t) != 0)
            fail("pthread_create");
    sleep_ms(300); /* spans flow, exports are on their way */
    for (int k = 0; k < forks; k++) {
        fflush(stdout);
        long t0 = now_ms();
        pid_t pid = fork();
        if (pid < 0)
            fail("fork");
        if (pid == 0)
            child(k);
        char buf[32];
        const char *st = reap(pid, 5000, buf, sizeof buf);
        printf("CHILD %d pid %d status %s ms %ld\n", k, (int)pid, st, now_ms() - t0);
        if (strcmp(st, "HUNG") == 0)
            break; /* one is enough to tell */
        sleep_ms(30);
    }
    atomic_store(&stopping, true);
    long total = 0;
    for (int t = 0; t < threads; t++) {
        void *n;
        pthread_join(tid[t], &n);
        total += (long)n;
    }
    printf("THREADS %ld\ndone\n", total);
    return 0;
}

/* --------------------------------------------------------------- vfork */

static int run_vfork(const char *exe)
{
    int a = connect_loopback(port, 0);
    if (a < 0 || get(a, "/vfork/0") != 200)
        fail("GET /vfork/0");

    pid_t pid = vfork();
    if (pid == 0) {
        /* A child that tidies up before doing its own thing: everything
         * from A up closed, then a socket of its own, which gets A's number
         * here (but not in the parent, whose fds are its own). */
        close_range((unsigned)a, ~0U, 0);
        int s = socket(AF_INET, SOCK_STREAM, 0);
        _exit(s == a ? 7 : 8);
    }
    if (pid < 0)
        fail("vfork");
    char buf[32];
    printf("VFORK exit %s\n", reap(pid, 10000, buf, sizeof buf));
    if (get(a, "/vfork/1") != 200)
        fail("GET /vfork/1 after a vfork child exited");

    pid = vfork();
    if (pid == 0) {
        close(a);
        dup2(STDERR_FILENO, a);
        execl(exe, exe, "exit", "5", (char *)NULL);
        _exit(127);
    }
    if (pid < 0)
        fail("vfork");
    printf("VFORK exec %s\n", reap(pid, 10000, buf, sizeof buf));
    if (get(a, "/vfork/2") != 200)
        fail("GET /vfork/2 after a vfork child exec'd");
    close(a);
    printf("done\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "exit") == 0)
        return atoi(argv[2]);
    if (argc == 5 && strcmp(argv[1], "fork") == 0) {
        port = atoi(argv[2]);
        return run_fork(atoi(argv[3]), atoi(argv[4]));
    }
    if (argc == 4 && strcmp(argv[1], "vfork") == 0) {
        port = atoi(argv[2]);
        return run_vfork(argv[3]);
    }
    fprintf(stderr, "usage: fork_probe fork PORT FORKS THREADS | vfork PORT EXE\n");
    return 2;
}
