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
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int port;
static atomic_bool stopping;

static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fork_probe: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (errno %d %s)\n", errno, strerror(errno));
    va_end(ap);
    exit(2);
}

static long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000L + t.tv_nsec / 1000000L;
}

static void sleep_ms(long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

static int connect_local(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        return -1;
    return fd;
}

/* GET path on fd; returns the status code, or -1. */
static int get(int fd, const char *path)
{
    char req[256], resp[4096];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n", path, port);
    if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n)
        return -1;
    size_t got = 0;
    for (;;) {
        ssize_t r = recv(fd, resp + got, sizeof resp - 1 - got, 0);
        if (r <= 0)
            return -1;
        got += (size_t)r;
        resp[got] = '\0';
        char *end = strstr(resp, "\r\n\r\n");
        char *cl = strcasestr(resp, "\r\nContent-Length:");
        if (end && cl && got >= (size_t)(end + 4 - resp) + strtoul(cl + 17, NULL, 10))
            break;
    }
    int code = 0;
    return sscanf(resp, "HTTP/1.%*d %d", &code) == 1 ? code : -1;
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
            if ((fd = connect_local()) < 0)
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
    int fd = connect_local();
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
    int a = connect_local();
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
