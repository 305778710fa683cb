/* exit_probe.c — a traced program that ends abruptly in the middle of its
 * requests, for test_hostile.py: "what is lost is lost, nothing hangs".
 *
 *   exit_probe HOW PORT
 *
 * Eight threads make traced requests to 127.0.0.1:PORT in a loop (a slow
 * server: most of the time they wait for an answer, or are sending a body).
 * After 300 ms, HOW:
 *   exit   the main thread and two others call exit(3) at the same moment;
 *   _exit  the main thread calls _exit(4);
 *   abort  the main thread calls abort().
 * The exit status is the test's to check; without the shim it is 3, 4 and
 * SIGABRT. Nothing is printed; no core file is written (RLIMIT_CORE 0: the
 * test looks at the signal, the machine keeps its disk).
 *
 *   exit_probe handler 0
 *
 * No thread, no request: prints "threads B A", the process's threads
 * before and after signal() installs a SIGALRM handler, then allocates and
 * frees memory in a loop until the handler, 2 ms in, calls _exit(5), most
 * of the time while the program is inside malloc or free (_exit is
 * async-signal-safe: the shim's _exit may allocate nothing and start no
 * thread; it starts its reporter thread when the handler is installed).
 *
 *   exit_probe handler-exec 0
 *
 * The same, but the handler replaces the process with this program run
 * as "exit_probe exec-end 0" (execv is async-signal-safe too), which
 * prints nothing and ends with status 6.
 *
 *   exit_probe vfork-handler 0
 *
 * A vfork child installs a SIGUSR1 handler and _exits; then the process
 * itself installs one, prints "threads B A" around it, and calls _exit(8)
 * from main (the child's handler is not the parent's: its reporter thread
 * must start with its own).
 *
 *   exit_probe pthread-exit PORT
 *
 * The main thread prints "main" (not flushed: stdout is a pipe), starts a
 * thread that GETs /pthread-exit from 127.0.0.1:PORT and prints its
 * status, and ends with pthread_exit. glibc ends the process with exit(0)
 * as that thread returns, the last: status 0, both lines flushed then.
 * The shim's reporter thread, which never ends, must not count.
 *
 *   exit_probe serve-then-exit|serve-then-_exit|serve-then-shutdown PORT
 *
 * A one-request server on 127.0.0.1:PORT: it reads a request head and
 * answers 404 with a body that runs to the close (no Content-Length,
 * "Connection: close"), then ends without closing the socket: exit(0),
 * _exit(0), or shutdown(SHUT_WR) and _exit(0) (busybox httpd). Its client
 * sees the close as the kernel closes the socket; its server span must
 * end there too. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "probe.h"

#define THREADS 8
#define EXITERS 2

static int port;
static pthread_barrier_t together;

/* Requests until the process ends: a GET, or a POST with a body the slow
 * server reads slowly. Failures (the server going away) just start over. */
static void *requester(void *arg)
{
    long t = (long)arg;
    static char body[256 * 1024];
    memset(body, 'x', sizeof body);
    for (long n = 0;; n++) {
        int fd = connect_loopback(port, 0);
        if (fd < 0)
            continue;
        char head[256];
        size_t blen = (t % 2) ? sizeof body : 0;
        int h = snprintf(
            head, sizeof head,
            "%s /end/%ld/%ld HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Length: %zu\r\n\r\n",
            blen ? "POST" : "GET", t, n, port, blen);
        if (send(fd, head, (size_t)h, MSG_NOSIGNAL) == h) {
            for (size_t off = 0; off < blen;) {
                ssize_t w = send(fd, body + off, blen - off, MSG_NOSIGNAL);
                if (w <= 0)
                    break;
                off += (size_t)w;
            }
            char buf[4096];
            while (recv(fd, buf, sizeof buf, 0) > 0)
                if (memmem(buf, sizeof buf, "\r\n\r\n", 4))
                    break;
        }
        close(fd);
    }
    return NULL;
}

static void *exiter(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&together);
    exit(3);
}

static void exit_now(int sig)
{
    (void)sig;
    _exit(5);
}

static void exec_now(int sig)
{
    (void)sig;
    char *const argv[] = {"exit_probe", "exec-end", "0", NULL};
    execv("/proc/self/exe", argv);
    _exit(7); /* the exec failed */
}

/* Threads in this process (from /proc/self/status). */
static int threads(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    int n = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "Threads: %d", &n) == 1)
            break;
    if (f)
        fclose(f);
    return n;
}

/* "handler", "handler-exec": malloc and free until the timer's handler
 * ends or replaces the process. */
static void allocate_until_the_alarm(void (*handler)(int))
{
    int before = threads();
    signal(SIGALRM, handler);
    printf("threads %d %d\n", before, threads());
    fflush(stdout);
    struct itimerval in_2ms = {{0, 0}, {0, 2000}};
    setitimer(ITIMER_REAL, &in_2ms, NULL);
    for (;;) {
        void *p[64];
        for (int i = 0; i < 64; i++)
            p[i] = malloc(2000 + (size_t)i * 97);
        for (int i = 0; i < 64; i++)
            free(p[i]);
    }
}

/* "pthread-exit": see the header. */
static void *get_once(void *arg)
{
    (void)arg;
    int fd = connect_loopback(port, 0);
    char resp[1024];
    printf("worker %d\n", fd < 0 ? -1 : http_get(fd, port, "/pthread-exit", resp, sizeof resp));
    close(fd);
    return NULL;
}

static void pthread_exit_first(void)
{
    printf("main\n");
    pthread_t tid;
    if (pthread_create(&tid, NULL, get_once, NULL) != 0)
        fail("pthread_create");
    pthread_exit(NULL);
}

/* "serve-then-...": see the header. */
static void serve_then_end(const char *how)
{
    int one = 1, ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = loopback(port);
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) != 0 || listen(ls, 1) != 0)
        fail("listen on %d", port);
    int fd = accept(ls, NULL, NULL);
    char head[4096];
    size_t n = 0;
    while (n < sizeof head - 1 && !memmem(head, n, "\r\n\r\n", 4)) {
        ssize_t r = read(fd, head + n, sizeof head - 1 - n);
        if (r <= 0)
            fail("read the request");
        n += (size_t)r;
    }
    static const char resp[] = "HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n"
                               "no such thing, and no length: the close ends it\n";
    if (write(fd, resp, sizeof resp - 1) != (ssize_t)sizeof resp - 1)
        fail("write the response");
    if (strcmp(how, "serve-then-exit") == 0)
        exit(0);
    if (strcmp(how, "serve-then-shutdown") == 0)
        shutdown(fd, SHUT_WR);
    _exit(0);
}

/* "vfork-handler": see the header. */
static void handler_in_a_vfork_child_first(void)
{
    pid_t pid = vfork();
    if (pid == 0) {
        signal(SIGUSR1, exit_now);
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    int before = threads();
    signal(SIGUSR1, exit_now);
    printf("threads %d %d\n", before, threads());
    fflush(stdout);
    _exit(8);
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    port = atoi(argv[2]);
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    if (strcmp(argv[1], "handler") == 0)
        allocate_until_the_alarm(exit_now);
    if (strcmp(argv[1], "handler-exec") == 0)
        allocate_until_the_alarm(exec_now);
    if (strcmp(argv[1], "exec-end") == 0)
        return 6;
    if (strcmp(argv[1], "vfork-handler") == 0)
        handler_in_a_vfork_child_first();
    if (strcmp(argv[1], "pthread-exit") == 0)
        pthread_exit_first();
    if (strncmp(argv[1], "serve-then-", 11) == 0)
        serve_then_end(argv[1]);
    pthread_t tid;
    for (long t = 0; t < THREADS; t++)
        pthread_create(&tid, NULL, requester, (void *)t);
    pthread_barrier_init(&together, NULL, EXITERS + 1);
    if (strcmp(argv[1], "exit") == 0)
        for (int i = 0; i < EXITERS; i++)
            pthread_create(&tid, NULL, exiter, NULL);
    sleep_ms(300);
    if (strcmp(argv[1], "exit") == 0) {
        pthread_barrier_wait(&together);
        exit(3);
    }
    if (strcmp(argv[1], "_exit") == 0)
        _exit(4);
    if (strcmp(argv[1], "abort") == 0)
        abort();
    return 2;
}
