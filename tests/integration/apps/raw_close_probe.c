/* raw_close_probe.c — a program that closes traced connections without
 * calling close, as libuv (and so Node) does, and then gives their numbers
 * to fds that are not TCP connections, for test_hostile.py.
 *
 *   raw_close_probe client PORT   GETs on 127.0.0.1:PORT, each connection
 *       closed by a system call made through glibc's syscall function
 *       (SYS_close, SYS_close_range, SYS_dup2 of /dev/null over it); a
 *       socketpair then takes the number and the probe writes a request
 *       head into it: the other end must read exactly those bytes. Then
 *       the same for an fd handed over with SCM_RIGHTS (a socketpair's
 *       end) that takes the number of one closed by the system call
 *       instruction itself, which no hook sees.
 *   raw_close_probe server        a connection to itself answered by the
 *       probe (a traced server connection), closed by syscall(SYS_close);
 *       a pipe's read end takes the number and the probe reads a request
 *       head carrying a B3 trace id of 1s through it: the bytes must come
 *       out as written, and make no span.
 *   raw_close_probe unshare PORT [cloexec]  a keep-alive connection used
 *       before and after a second thread closes every fd from 3 in an fd
 *       table of its own (close_range with CLOSE_RANGE_UNSHARE; cloexec:
 *       with CLOSE_RANGE_CLOEXEC too, which closes nothing, and the thread
 *       closes the connection's fd in its table itself): the connection is
 *       still the program's, and its second request is traced. Meanwhile
 *       the thread connects a socket, which takes the connection's number
 *       in its table, GETs /in-the-threads-table on it and closes it; a
 *       thread it creates (sharing its table) does the same with
 *       /in-the-threads-thread; then it forks a child (whose fd table is
 *       the thread's), which GETs /forked-by-the-thread and exits.
 *   raw_close_probe unshare-kept PORT  a keep-alive connection (GET
 *       /before-kept) that a second thread keeps as it closes every fd
 *       above it in a table of its own: the thread GETs /thread-on-kept on
 *       it, GETs /threads-own on a socket of its own (a number its close
 *       freed), closes both in its table; the program then GETs
 *       /after-kept on the connection.
 *   raw_close_probe unshare-kept-exec PORT  a GET /handed-to-exec sent,
 *       its answer not read; a second thread keeps the connection as it
 *       closes every fd above it in a table of its own, and executes sh,
 *       whose head reads the answer's first 15 bytes from it.
 *   raw_close_probe unshare-alone PORT  a thread created and joined; GET
 *       /before-alone on a connection the program keeps, then, once the
 *       shim's reporter thread runs (its name in /proc, under the shim),
 *       close_range(3, ~0U, CLOSE_RANGE_UNSHARE) from the program's only
 *       thread, which closes the connection in place (no other thread
 *       shares the table: nothing is copied); GET /after-alone on a new
 *       connection.
 *   raw_close_probe unshare-exec PORT  a GET /before-exec sent, its answer
 *       never read; a second thread closes every fd from 3 in an fd table
 *       of its own, opens /dev/null (which takes the connection's number
 *       there, not close-on-exec) and executes /bin/true with that table:
 *       the connection closes with the old image.
 *   raw_close_probe unspec PORT_A PORT_B [abandon]  a GET to A, the
 *       connection dissolved by connect to AF_UNSPEC (with A's answer read,
 *       or, abandon, not waited for), the socket connected to B and a GET
 *       there: each answer's status is printed.
 *
 * Output: a line per check, then "done"; exit 2 with a line on stderr on
 * any failure (the bytes that differ included). */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "probe.h"

/* A request head the shim would trace (and, from a client, add lines to)
 * if it took the fd for an HTTP connection. */
static const char head[] = "GET /not-a-request HTTP/1.1\r\nHost: local\r\n"
                           "X-B3-TraceId: 11111111111111111111111111111111\r\n"
                           "X-B3-SpanId: 1111111111111111\r\nX-B3-Sampled: 1\r\n\r\n";

/* Reads exactly n bytes from fd into buf; fails on an early end. */
static void read_exactly(int fd, char *buf, size_t n, const char *what)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r <= 0)
            fail("%s: read %zu of %zu bytes", what, got, n);
        got += (size_t)r;
    }
}

/* A request head from fd into buf, to its blank line; fails on an end
 * before it. */
static void read_head(int fd, char *buf, size_t cap)
{
    size_t got = 0;
    buf[0] = '\0';
    while (!strstr(buf, "\r\n\r\n")) {
        ssize_t r = got + 1 < cap ? read(fd, buf + got, cap - 1 - got) : 0;
        if (r <= 0)
            fail("the request head: %zu bytes, then the end", got);
        got += (size_t)r;
        buf[got] = '\0';
    }
}

/* head written on in, read on out: the same bytes, and no more. */
static void head_passes(int in, int out, const char *what)
{
    if (write(in, head, sizeof head - 1) != (ssize_t)(sizeof head - 1))
        fail("%s: write", what);
    char buf[1024];
    read_exactly(out, buf, sizeof head - 1, what);
    if (memcmp(buf, head, sizeof head - 1) != 0)
        fail("%s: the bytes changed on the way: %.*s", what, (int)(sizeof head - 1), buf);
    int flags = fcntl(out, F_GETFL);
    fcntl(out, F_SETFL, flags | O_NONBLOCK);
    ssize_t more = read(out, buf, sizeof buf);
    if (more > 0)
        fail("%s: %zd bytes more than were written: %.*s", what, more, (int)more, buf);
    fcntl(out, F_SETFL, flags);
    printf("%s: the same bytes\n", what);
}

/* The connection fd closed by the system call that how names, made
 * through glibc's syscall function. */
static void raw_close(int fd, const char *how)
{
    long r;
    if (!strcmp(how, "SYS_close")) {
        r = syscall(SYS_close, fd);
    } else if (!strcmp(how, "SYS_close_range")) {
        r = syscall(SYS_close_range, (unsigned)fd, (unsigned)fd, 0U);
    } else {
        /* dup2 of another file over fd closes the connection; the copy is
         * then closed as a file */
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
#ifdef SYS_dup2
        r = syscall(SYS_dup2, null, fd);
#else
        r = syscall(SYS_dup3, null, fd, 0);
#endif
        close(null);
        if (r == fd)
            r = syscall(SYS_close, fd);
    }
    if (r != 0)
        fail("%s(%d)", how, fd);
}

/* A keep-alive connection to 127.0.0.1:port that has had one GET of path
 * answered 200. */
static int connection_after_get(int port, const char *path)
{
    int fd = connect_loopback(port, 0);
    char resp[4096];
    if (fd < 0 || http_get(fd, port, path, resp, sizeof resp) != 200)
        fail("GET %s", path);
    return fd;
}

static void client(int port)
{
    static const char *const hows[] = {"SYS_close", "SYS_close_range", "SYS_dup2"};
    for (size_t i = 0; i < sizeof hows / sizeof hows[0]; i++) {
        char path[64];
        snprintf(path, sizeof path, "/before-%s", hows[i]);
        int fd = connection_after_get(port, path);
        raw_close(fd, hows[i]);
        int pair[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
            fail("socketpair");
        if (pair[0] != fd)
            fail("the socketpair took fd %d, not the connection's %d", pair[0], fd);
        char what[96];
        snprintf(what, sizeof what, "socketpair after %s", hows[i]);
        head_passes(pair[0], pair[1], what);
        close(pair[0]);
        close(pair[1]);
    }
}

/* fd handed over on carrier with SCM_RIGHTS, and taken from its other
 * end: the received fd's number. */
static int pass_fd(const int carrier[2], int fd)
{
    char byte = 'x';
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } control;
    memset(&control, 0, sizeof control);
    struct iovec iov = {&byte, 1};
    struct msghdr msg = {.msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = control.buf,
                         .msg_controllen = sizeof control.buf};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof fd);
    if (sendmsg(carrier[0], &msg, 0) != 1)
        fail("sendmsg SCM_RIGHTS");
    memset(&control, 0, sizeof control);
    msg.msg_controllen = sizeof control.buf;
    if (recvmsg(carrier[1], &msg, MSG_CMSG_CLOEXEC) != 1 || !(cm = CMSG_FIRSTHDR(&msg)) ||
        cm->cmsg_type != SCM_RIGHTS)
        fail("recvmsg SCM_RIGHTS");
    int got;
    memcpy(&got, CMSG_DATA(cm), sizeof got);
    return got;
}

/* close(fd) by the system call itself, in inline assembly: no function
 * a preloaded library could see (glibc's syscall function is one). */
static long close_unseen(int fd)
{
    long r;
#if defined(__x86_64__)
    __asm__ volatile("syscall"
                     : "=a"(r)
                     : "0"((long)SYS_close), "D"((long)fd)
                     : "rcx", "r11", "memory");
#elif defined(__aarch64__)
    register long x8 __asm__("x8") = SYS_close;
    register long x0 __asm__("x0") = fd;
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8) : "memory");
    r = x0;
#else
#error "close_unseen: add this architecture's system call instruction"
#endif
    return r;
}

/* A connection closed where the shim cannot see it (close_unseen) whose
 * number an fd received with SCM_RIGHTS takes (the end of a socketpair,
 * which is no connection): receiving it replaces what the number held. */
static void received_in_place(int port)
{
    int fd = connection_after_get(port, "/before-SCM_RIGHTS");
    int carrier[2], pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, carrier) != 0 ||
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
        fail("socketpair");
    if (close_unseen(fd) != 0)
        fail("close(%d) by the system call instruction", fd);
    int got = pass_fd(carrier, pair[0]);
    if (got != fd)
        fail("the received fd is %d, not the connection's %d", got, fd);
    head_passes(got, pair[1], "an fd received with SCM_RIGHTS after an unseen close");
    close(got);
    close(pair[0]);
    close(pair[1]);
    close(carrier[0]);
    close(carrier[1]);
}

static void server(void)
{
    int port;
    int listener = listen_loopback(4, &port);
    int cl, conn;
    connect_to_itself(listener, port, &cl, &conn);
    static const char request[] = "GET /served HTTP/1.1\r\nHost: probe\r\n\r\n";
    static const char response[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    char buf[1024];
    if (write(cl, request, sizeof request - 1) != (ssize_t)(sizeof request - 1))
        fail("request");
    read_head(conn, buf, sizeof buf); /* with the lines the shim added */
    if (write(conn, response, sizeof response - 1) != (ssize_t)(sizeof response - 1))
        fail("response");
    if (recv_response(cl, buf, sizeof buf) < 0)
        fail("the response");
    if (syscall(SYS_close, conn) != 0)
        fail("SYS_close");
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        fail("pipe");
    if (p[0] != conn)
        fail("the pipe took fd %d, not the connection's %d", p[0], conn);
    head_passes(p[1], p[0], "pipe after SYS_close of a server connection");
    close(p[0]);
    close(p[1]);
    close(cl);
    close(listener);
}

static int unshared_port, unshared_conn; /* the keep-alive connection's fd */
static bool unshared_cloexec;

/* GET path on a socket of its own, which must take the connection's
 * number (freed in the calling thread's table), closed after. */
static void *get_at_the_connections_number(void *path)
{
    char resp[4096];
    int fd = connect_loopback(unshared_port, 0);
    if (fd != unshared_conn)
        fail("the socket took fd %d, not the connection's %d", fd, unshared_conn);
    if (http_get(fd, unshared_port, path, resp, sizeof resp) != 200)
        fail("GET %s", (const char *)path);
    close(fd);
    return NULL;
}

static void *close_all_unshared(void *arg)
{
    (void)arg;
    if (close_range(3, ~0U, CLOSE_RANGE_UNSHARE | (unshared_cloexec ? CLOSE_RANGE_CLOEXEC : 0)) !=
        0)
        fail("close_range");
    if (unshared_cloexec && close(unshared_conn) != 0) /* in the thread's table */
        fail("close");
    char resp[4096];
    get_at_the_connections_number("/in-the-threads-table");
    pthread_t t;
    if (pthread_create(&t, NULL, get_at_the_connections_number, "/in-the-threads-thread") != 0 ||
        pthread_join(t, NULL) != 0)
        fail("the thread's thread");
    fflush(stdout);
    pid_t child = fork();
    if (child < 0)
        fail("fork");
    if (child == 0) {
        int fd = connect_loopback(unshared_port, 0);
        exit(http_get(fd, unshared_port, "/forked-by-the-thread", resp, sizeof resp) == 200 ? 0
                                                                                            : 3);
    }
    int status;
    if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail("the child's GET /forked-by-the-thread (status %d)", status);
    return NULL;
}

/* GET before on a keep-alive connection (unshared_conn), a thread that
 * runs in and is joined, GET after on the connection; then line. */
static void around_a_thread(int port, const char *before, void *(*in)(void *), const char *after,
                            const char *line)
{
    int fd = connection_after_get(port, before);
    char resp[4096];
    pthread_t t;
    unshared_port = port;
    unshared_conn = fd;
    if (pthread_create(&t, NULL, in, NULL) != 0 || pthread_join(t, NULL) != 0)
        fail("thread");
    if (http_get(fd, port, after, resp, sizeof resp) != 200)
        fail("GET %s", after);
    close(fd);
    printf("%s\n", line);
}

static void unshared_close(int port, bool cloexec)
{
    unshared_cloexec = cloexec;
    around_a_thread(port, "/before-unshare", close_all_unshared, "/after-unshare",
                    "the connection outlived the thread's close_range");
}

static void *keep_unshared(void *arg)
{
    (void)arg;
    if (close_range((unsigned)unshared_conn + 1, ~0U, CLOSE_RANGE_UNSHARE) != 0)
        fail("close_range");
    char resp[4096];
    if (http_get(unshared_conn, unshared_port, "/thread-on-kept", resp, sizeof resp) != 200)
        fail("GET /thread-on-kept");
    int fd = connect_loopback(unshared_port, 0);
    if (fd != unshared_conn + 1)
        fail("the thread's socket took fd %d, not %d", fd, unshared_conn + 1);
    if (http_get(fd, unshared_port, "/threads-own", resp, sizeof resp) != 200)
        fail("GET /threads-own");
    close(fd);
    close(unshared_conn); /* in the thread's table: the program's stays open */
    return NULL;
}

static void unshared_kept(int port)
{
    around_a_thread(port, "/before-kept", keep_unshared, "/after-kept",
                    "the connection served both threads");
}

static void *exec_with_the_kept(void *arg)
{
    (void)arg;
    if (close_range((unsigned)unshared_conn + 1, ~0U, CLOSE_RANGE_UNSHARE) != 0)
        fail("close_range");
    char cmd[64];
    snprintf(cmd, sizeof cmd, "head -c 15 <&%d; echo", unshared_conn);
    fflush(stdout);
    execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
    fail("exec sh");
}

static void unshared_kept_exec(int port)
{
    int fd = connect_loopback(port, 0);
    static const char request[] = "GET /handed-to-exec HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    if (fd < 0 || write(fd, request, sizeof request - 1) != (ssize_t)(sizeof request - 1))
        fail("GET /handed-to-exec");
    unshared_conn = fd;
    pthread_t t;
    if (pthread_create(&t, NULL, exec_with_the_kept, NULL) != 0)
        fail("thread");
    pthread_join(t, NULL);
    fail("the thread's exec came back");
}

static void *nothing(void *arg)
{
    return arg;
}

/* Under the shim, until its reporter thread runs (named so in /proc):
 * it shares the fd table until it leaves it, at most 2 s. */
static bool reporter_named(void)
{
    DIR *tasks = opendir("/proc/self/task");
    bool found = false;
    for (struct dirent *e; tasks && !found && (e = readdir(tasks));) {
        char path[300], name[64] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = e->d_name[0] != '.' ? fopen(path, "r") : NULL;
        if (f) {
            found = fgets(name, sizeof name, f) && !strcmp(name, "traceshim-rep\n");
            fclose(f);
        }
    }
    if (tasks)
        closedir(tasks);
    return found;
}

static void reporter_thread_runs(void)
{
    if (!getenv("LD_PRELOAD"))
        return;
    for (long t0 = now_ms(); now_ms() - t0 < 2000; sleep_ms(10))
        if (reporter_named())
            return;
    fail("no reporter thread within 2 s");
}

static void unshared_alone(int port)
{
    pthread_t t;
    if (pthread_create(&t, NULL, nothing, NULL) != 0 || pthread_join(t, NULL) != 0)
        fail("thread");
    (void)connection_after_get(port, "/before-alone");
    reporter_thread_runs();
    if (close_range(3, ~0U, CLOSE_RANGE_UNSHARE) != 0)
        fail("close_range");
    (void)connection_after_get(port, "/after-alone");
    printf("the program's only thread's close_range closed in place\n");
}

static void *exec_unshared(void *arg)
{
    int conn = *(int *)arg;
    if (close_range(3, ~0U, CLOSE_RANGE_UNSHARE) != 0)
        fail("close_range");
    int fd = open("/dev/null", O_RDONLY);
    if (fd != conn)
        fail("/dev/null took fd %d, not the connection's %d", fd, conn);
    fflush(stdout);
    execl("/bin/true", "true", (char *)NULL);
    fail("exec /bin/true");
}

static void unshared_exec(int port)
{
    int fd = connect_loopback(port, 0);
    static const char request[] = "GET /before-exec HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    if (fd < 0 || write(fd, request, sizeof request - 1) != (ssize_t)(sizeof request - 1))
        fail("GET /before-exec");
    pthread_t t;
    if (pthread_create(&t, NULL, exec_unshared, &fd) != 0)
        fail("thread");
    pthread_join(t, NULL);
    fail("the thread's exec came back");
}

static void connect_to(int fd, int port)
{
    struct sockaddr_in sa = loopback(port);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        fail("connect to %d", port);
}

static void dissolved(int port_a, int port_b, bool abandon)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    char resp[4096];
    connect_to(fd, port_a);
    if (abandon) {
        static const char request[] = "GET /on-A HTTP/1.1\r\nHost: a\r\n\r\n";
        if (write(fd, request, sizeof request - 1) != (ssize_t)(sizeof request - 1))
            fail("GET /on-A");
        sleep_ms(100); /* A's answer is in, unread */
    } else if (http_get(fd, port_a, "/on-A", resp, sizeof resp) != 200) {
        fail("GET /on-A");
    }
    struct sockaddr unspec = {.sa_family = AF_UNSPEC};
    if (connect(fd, &unspec, sizeof unspec) != 0)
        fail("connect to AF_UNSPEC");
    connect_to(fd, port_b);
    printf("/on-B: %d\n", http_get(fd, port_b, "/on-B", resp, sizeof resp));
    close(fd);
}

int main(int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[1], "client")) {
        client(atoi(argv[2]));
        received_in_place(atoi(argv[2]));
    } else if (argc >= 2 && !strcmp(argv[1], "server"))
        server();
    else if (argc >= 3 && !strcmp(argv[1], "unshare"))
        unshared_close(atoi(argv[2]), argc > 3 && !strcmp(argv[3], "cloexec"));
    else if (argc >= 3 && !strcmp(argv[1], "unshare-kept"))
        unshared_kept(atoi(argv[2]));
    else if (argc >= 3 && !strcmp(argv[1], "unshare-kept-exec"))
        unshared_kept_exec(atoi(argv[2]));
    else if (argc >= 3 && !strcmp(argv[1], "unshare-alone"))
        unshared_alone(atoi(argv[2]));
    else if (argc >= 3 && !strcmp(argv[1], "unshare-exec"))
        unshared_exec(atoi(argv[2]));
    else if (argc >= 4 && !strcmp(argv[1], "unspec"))
        dissolved(atoi(argv[2]), atoi(argv[3]), argc > 4 && !strcmp(argv[4], "abandon"));
    else
        fail("usage: raw_close_probe client PORT | server | unshare PORT [cloexec] | unshare-kept "
             "PORT | unshare-kept-exec PORT | unshare-alone PORT | unshare-exec PORT | unspec "
             "PORT_A PORT_B [abandon]");
    printf("done\n");
    return 0;
}
