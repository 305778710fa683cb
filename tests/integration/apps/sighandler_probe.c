/* sighandler_probe.c — HTTP requests made from a signal handler while the
 * interrupted code is itself in the middle of traced calls, for
 * test_hostile.py.
 *
 *   sighandler_probe MAIN_PORT SIDE_PORT N MAIN_LOG SIDE_LOG
 *
 * The main loop makes N requests on a keep-alive connection A to MAIN_PORT
 * (a new connection every 4 requests), and after each a burst of short
 * connections to SIDE_PORT (socket, connect, send, recv, close), so that
 * it spends much of its time inside the shim's hooks, connect and close
 * included. Between requests it sleeps a millisecond with a flag saying A
 * is free, and allocates and frees memory for a while (the handler may
 * interrupt it inside malloc, and write and read are async-signal-safe:
 * the program is correct, so the shim must not call malloc there).
 *
 * SIGALRM (no SA_RESTART) fires every 500 µs. The handler makes one whole
 * HTTP request each time, in turn: with write() and read() on B, a
 * connection to SIDE_PORT opened before the timer started; on a fresh
 * connection (socket, connect, write, read, close) to SIDE_PORT; and, when
 * the flag says so, with send() and recv() on A itself. Every 25th time it
 * uses B it closes B first and connects it again. Every call it makes is
 * async-signal-safe; it keeps errno.
 *
 * Every byte of every request on A goes to MAIN_LOG (the handler's too, as
 * they happen), every request to SIDE_PORT to SIDE_LOG. Output: "REQUESTS
 * main=M side=S handler_b=HB handler_fresh=HF handler_a=HA", "SIGNALS n",
 * "done". Exit status 0, or 2 with a line on stderr. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "probe.h"

#define HANDLER_JOBS_MAX 1500 /* the handler's requests, in all */
#define HANDLER_ON_A_MAX 40
#define BURST 6 /* short connections after each main request */

static int main_port, side_port;
static int main_log = -1, side_log = -1;
static int conn_a = -1, conn_b = -1;
static volatile sig_atomic_t a_is_free; /* the main loop sleeps between requests */
static volatile sig_atomic_t signals_seen, handler_failed;
static unsigned long handler_jobs, handler_b, handler_fresh, handler_a;
static unsigned long main_requests;

/* A message on stderr and exit status 2; async-signal-safe (write, _exit). */
static void die(const char *what)
{
    char line[160];
    int e = errno;
    size_t n = 0;
    const char *parts[] = {"sighandler_probe: ", what, " failed: ", strerrorname_np(e), "\n"};
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++)
        for (const char *s = parts[i] ? parts[i] : "?"; *s && n < sizeof line; s++)
            line[n++] = *s;
    (void)!write(STDERR_FILENO, line, n);
    _exit(2);
}

static void write_all(int fd, const char *p, size_t n, int use_send)
{
    while (n > 0) {
        ssize_t r = use_send ? send(fd, p, n, 0) : write(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            die(use_send ? "send" : "write");
        p += r;
        n -= (size_t)r;
    }
}

/* Does s start with the ASCII text word, ignoring case? (strncasecmp is
 * not on the list of async-signal-safe functions.) */
static int starts_nocase(const char *s, const char *word)
{
    for (; *word; s++, word++) {
        char a = *s >= 'A' && *s <= 'Z' ? (char)(*s + 32) : *s;
        char b = *word >= 'A' && *word <= 'Z' ? (char)(*word + 32) : *word;
        if (a != b)
            return 0;
    }
    return 1;
}

/* One response (head and Content-Length body); returns its status code.
 * Parsed by hand: the handler may not call strtoul and friends. */
static int read_response(int fd, int use_recv)
{
    char buf[8192];
    size_t got = 0;
    for (;;) {
        for (size_t i = 0; i + 3 < got; i++) {
            if (memcmp(buf + i, "\r\n\r\n", 4) != 0)
                continue;
            size_t body = 0;
            for (size_t k = 0; k + 17 < i + 2; k++) {
                if (!starts_nocase(buf + k, "\r\ncontent-length:"))
                    continue;
                for (size_t j = k + 17; j < i + 2; j++) {
                    if (buf[j] >= '0' && buf[j] <= '9')
                        body = body * 10 + (size_t)(buf[j] - '0');
                    else if (buf[j] != ' ')
                        break;
                }
                break;
            }
            if (got < i + 4 + body)
                break;
            if (got > 12 && buf[9] >= '1' && buf[9] <= '5')
                return (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
            return -1;
        }
        if (got == sizeof buf)
            die("response too large");
        ssize_t r = use_recv ? recv(fd, buf + got, sizeof buf - got, 0)
                             : read(fd, buf + got, sizeof buf - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            die(use_recv ? "recv" : "read");
        got += (size_t)r;
    }
}

/* connect_loopback is async-signal-safe; die is the handler's way to fail. */
static int connect_to(int port)
{
    int fd = connect_loopback(port, 0);
    if (fd < 0)
        die("connect");
    return fd;
}

/* "GET /who/N HTTP/1.1\r\nHost: 127.0.0.1:PORT\r\n\r\n" without stdio
 * (the handler may not use snprintf). */
static size_t build_request(char *buf, const char *who, unsigned long n, int port)
{
    size_t len = 0;
    const char *parts[] = {"GET /", who, "/"};
    for (size_t i = 0; i < 3; i++)
        for (const char *s = parts[i]; *s; s++)
            buf[len++] = *s;
    char digits[24];
    size_t d = 0;
    do
        digits[d++] = (char)('0' + n % 10);
    while ((n /= 10) != 0);
    while (d)
        buf[len++] = digits[--d];
    const char *mid = " HTTP/1.1\r\nHost: 127.0.0.1:";
    for (const char *s = mid; *s; s++)
        buf[len++] = *s;
    unsigned long p = (unsigned long)port;
    d = 0;
    do
        digits[d++] = (char)('0' + p % 10);
    while ((p /= 10) != 0);
    while (d)
        buf[len++] = digits[--d];
    memcpy(buf + len, "\r\n\r\n", 4);
    return len + 4;
}

/* One request on fd, logged to log first (the order of the log is the
 * order on the wire: this thread is the only writer of either). */
static int request(int fd, int log, const char *who, unsigned long n, int port, int use_send)
{
    char req[128];
    size_t len = build_request(req, who, n, port);
    write_all(log, req, len, 0);
    write_all(fd, req, len, use_send);
    return read_response(fd, use_send);
}

/* The program's own work between requests: allocations of sizes malloc
 * serves from its arena (under its lock), not from the thread cache. */
static void churn_memory(void)
{
    static void *blocks[64];
    static unsigned long step;
    for (int i = 0; i < 3000; i++, step++) {
        free(blocks[step % 64]);
        blocks[step % 64] = malloc(2048 + (step * 7919) % 30000);
        if (!blocks[step % 64])
            die("malloc");
    }
}

static void on_alarm(int sig)
{
    (void)sig;
    int saved = errno;
    signals_seen++;
    if (handler_jobs < HANDLER_JOBS_MAX) {
        unsigned long job = handler_jobs++;
        int status = 0;
        if (a_is_free && handler_a < HANDLER_ON_A_MAX) {
            status = request(conn_a, main_log, "handler-a", handler_a++, main_port, 1);
        } else if (job % 2 == 0) {
            if (handler_b % 25 == 24) {
                if (close(conn_b) != 0)
                    die("close B");
                conn_b = connect_to(side_port);
            }
            status = request(conn_b, side_log, "handler-b", handler_b++, side_port, 0);
        } else {
            int fd = connect_to(side_port);
            status = request(fd, side_log, "handler-fresh", handler_fresh++, side_port, 0);
            if (close(fd) != 0)
                die("close");
        }
        if (status != 200)
            handler_failed = 1;
    }
    errno = saved;
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: sighandler_probe MAIN_PORT SIDE_PORT N MAIN_LOG SIDE_LOG\n");
        return 2;
    }
    main_port = atoi(argv[1]);
    side_port = atoi(argv[2]);
    int n = atoi(argv[3]);
    main_log = open(argv[4], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    side_log = open(argv[5], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (main_log < 0 || side_log < 0)
        die("open the logs");
    conn_b = connect_to(side_port);
    if (request(conn_b, side_log, "warm-up", 0, side_port, 0) != 200) /* the reporter starts */
        die("warm-up");

    alarm_every(on_alarm, 500);

    unsigned long burst_n = 0;
    for (int i = 0; i < n; i++) {
        if (i % 4 == 0) {
            if (conn_a >= 0 && close(conn_a) != 0)
                die("close");
            conn_a = connect_to(main_port);
        }
        main_requests++;
        if (request(conn_a, main_log, "main", (unsigned long)i, main_port, i % 2) != 200)
            die("main request");
        a_is_free = 1;
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL); /* interrupted: fine, it is only a pause */
        a_is_free = 0;
        churn_memory();
        for (int k = 0; k < BURST; k++) {
            int fd = connect_to(side_port);
            if (request(fd, side_log, "burst", burst_n++, side_port, k % 2) != 200)
                die("burst request");
            if (close(fd) != 0)
                die("close");
        }
    }
    alarm_stop();
    if (handler_failed) {
        fprintf(stderr, "sighandler_probe: a request from the handler was not answered 200\n");
        return 2;
    }
    close(conn_a);
    close(conn_b);
    printf("REQUESTS main=%lu side=%lu handler_b=%lu handler_fresh=%lu handler_a=%lu\n",
           main_requests, 1 + burst_n + handler_b + handler_fresh, handler_b, handler_fresh,
           handler_a);
    printf("SIGNALS %ld\ndone\n", (long)signals_seen);
    return 0;
}
