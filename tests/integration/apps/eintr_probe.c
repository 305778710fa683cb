/* eintr_probe.c — traced HTTP through every socket door while a fast
 * interval timer interrupts the calls, for test_hostile.py.
 *
 * A SIGALRM handler is installed WITHOUT SA_RESTART and ITIMER_REAL fires
 * every 100 µs, so blocking calls come back with -1/EINTR (or a short count
 * for a send interrupted after some bytes went out). The probe does what a
 * careful program does: it retries EINTR, sends the rest after a short
 * count, and counts both, so the test can check that interruptions really
 * happened (a test whose calls are never interrupted proves nothing).
 *
 *   eintr_probe client PORT N OUTFILE [RETRY_PORT POLL_PORT]
 *     N requests, keep-alive, to 127.0.0.1:PORT (a new connection every 8),
 *     request i is sent through write door i % 6 and its response read
 *     through read door i % 6. Every byte of the requests goes to OUTFILE
 *     once, in order. With RETRY_PORT and POLL_PORT (servers whose accept
 *     queue is full at first, so connect blocks): before the N requests one
 *     connection is made to each — the first by calling connect again after
 *     EINTR, the second by waiting for writability after EINTR, as POSIX
 *     describes — and "GET /connect/retry" or "GET /connect/poll" is sent
 *     on it. "CONNECTING retry|poll" is printed just before each.
 *   eintr_probe server N OUTFILE
 *     Listens on 127.0.0.1 (a free port, printed as "LISTENING PORT"),
 *     accepts N/2 connections (accept and accept4 in turn) and serves two
 *     requests on each: read doors in turn, responses of 20 KiB and more
 *     through write doors in turn into a small send buffer. Every byte of
 *     the responses goes to OUTFILE.
 *
 * Output (after the timer is stopped): "STATUS i CODE" per request (client),
 * "EINTR door count" and "SHORT door count" per door, "SIGNALS n", "done".
 * Exit status 0, or 2 with a line on stderr when something failed. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "probe.h"

enum door {
    D_WRITE,
    D_SEND,
    D_SENDTO,
    D_SENDMSG,
    D_WRITEV,
    D_SENDMMSG,
    D_READ,
    D_RECV,
    D_RECVFROM,
    D_RECVMSG,
    D_READV,
    D_RECVMMSG,
    D_CONNECT,
    D_ACCEPT,
    D_ACCEPT4,
    D_POLL,
    D_COUNT
};
static const char *door_name[D_COUNT] = {
    "write",    "send",    "sendto", "sendmsg",  "writev",  "sendmmsg", "read",    "recv",
    "recvfrom", "recvmsg", "readv",  "recvmmsg", "connect", "accept",   "accept4", "poll",
};
static unsigned long eintr_seen[D_COUNT], short_seen[D_COUNT];
static volatile sig_atomic_t signals_seen;
static FILE *outfile;

static void on_alarm(int sig)
{
    (void)sig;
    signals_seen++;
}

/* A line on stdout while the timer runs: write, retried on EINTR (stdio
 * would give up on an interrupted write). */
static void say(const char *fmt, ...)
{
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    for (int off = 0; off < n;) {
        ssize_t w = write(STDOUT_FILENO, line + off, (size_t)(n - off));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            fail("stdout");
        off += (int)w;
    }
}

/* ------------------------------------------------------------ sending */

/* One call of a write door with the bytes [p, p+n). */
static ssize_t send_once(int fd, enum door d, const char *p, size_t n)
{
    size_t half = n / 2;
    struct iovec two[2] = {{(void *)p, half}, {(void *)(p + half), n - half}};
    size_t third = n / 3;
    struct iovec three[3] = {
        {(void *)p, third}, {(void *)(p + third), third}, {(void *)(p + 2 * third), n - 2 * third}};
    struct msghdr msg = {.msg_iov = two, .msg_iovlen = 2};
    switch (d) {
    case D_WRITE:
        return write(fd, p, n);
    case D_SEND:
        return send(fd, p, n, 0);
    case D_SENDTO:
        return sendto(fd, p, n, 0, NULL, 0);
    case D_SENDMSG:
        return sendmsg(fd, &msg, 0);
    case D_WRITEV:
        return writev(fd, three, 3);
    case D_SENDMMSG: {
        struct mmsghdr m = {.msg_hdr = msg};
        int r = sendmmsg(fd, &m, 1, 0);
        return r == 1 ? (ssize_t)m.msg_len : -1;
    }
    default:
        errno = EINVAL;
        return -1;
    }
}

/* All n bytes through door d: EINTR is retried, a short count continued. */
static void send_all(int fd, enum door d, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t r = send_once(fd, d, p, n);
        if (r < 0 && errno == EINTR) {
            eintr_seen[d]++;
            continue;
        }
        if (r <= 0)
            fail("%s", door_name[d]);
        if ((size_t)r < n)
            short_seen[d]++;
        p += r;
        n -= (size_t)r;
    }
}

/* ---------------------------------------------------------- receiving */

static ssize_t recv_once(int fd, enum door d, char *p, size_t n)
{
    size_t half = n / 2;
    struct iovec two[2] = {{p, half}, {p + half, n - half}};
    struct iovec one = {p, n};
    struct msghdr msg = {.msg_iov = &one, .msg_iovlen = 1};
    switch (d) {
    case D_READ:
        return read(fd, p, n);
    case D_RECV:
        return recv(fd, p, n, 0);
    case D_RECVFROM:
        return recvfrom(fd, p, n, 0, NULL, NULL);
    case D_RECVMSG:
        return recvmsg(fd, &msg, 0);
    case D_READV:
        return readv(fd, two, 2);
    case D_RECVMMSG: {
        struct mmsghdr m = {.msg_hdr = msg};
        int r = recvmmsg(fd, &m, 1, MSG_WAITFORONE, NULL);
        return r == 1 ? (ssize_t)m.msg_len : -1;
    }
    default:
        errno = EINVAL;
        return -1;
    }
}

/* One HTTP message (head and Content-Length body) through door d into
 * buf; returns its length. The peer sends one message at a time. */
static size_t recv_message(int fd, enum door d, char *buf, size_t cap)
{
    size_t got = 0;
    for (;;) {
        buf[got] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (end) {
            size_t head = (size_t)(end + 4 - buf), body = 0;
            char *cl = strcasestr(buf, "\r\nContent-Length:");
            if (cl && cl < end)
                body = strtoul(cl + 17, NULL, 10);
            if (got >= head + body)
                return got;
        }
        if (got + 1 >= cap)
            fail("message too large");
        ssize_t r = recv_once(fd, d, buf + got, cap - 1 - got);
        if (r < 0 && errno == EINTR) {
            eintr_seen[d]++;
            continue;
        }
        if (r <= 0)
            fail("%s (after %zu bytes)", door_name[d], got);
        got += (size_t)r;
    }
}

/* ------------------------------------------------------------- client */

static int tcp_socket(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        fail("socket");
    /* A small send buffer: a large request fills it and send blocks. */
    int sndbuf = 4096;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    return fd;
}

/* connect, calling it again after EINTR: on Linux a blocking connect in
 * progress waits again and returns 0 once the handshake is done. */
static int connect_retrying(int port)
{
    int fd = tcp_socket();
    struct sockaddr_in sa = loopback(port);
    for (;;) {
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
            return fd;
        if (errno == EINTR) {
            eintr_seen[D_CONNECT]++;
            continue;
        }
        if (errno == EISCONN)
            return fd;
        fail("connect to %d", port);
    }
}

/* connect once; after EINTR the connection goes on in the kernel: wait
 * until the socket is writable and read the outcome from SO_ERROR. */
static int connect_polling(int port)
{
    int fd = tcp_socket();
    struct sockaddr_in sa = loopback(port);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
        return fd;
    if (errno != EINTR)
        fail("connect to %d", port);
    eintr_seen[D_CONNECT]++;
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    for (;;) {
        int r = poll(&p, 1, 10000);
        if (r < 0 && errno == EINTR) {
            eintr_seen[D_POLL]++;
            continue;
        }
        if (r != 1)
            fail("poll after an interrupted connect");
        break;
    }
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
        errno = err;
        fail("interrupted connect to %d did not complete", port);
    }
    return fd;
}

/* One request on a connection made through an interrupted connect. */
static void connect_case(const char *how, int port, int (*make)(int))
{
    say("CONNECTING %s\n", how);
    int fd = make(port);
    char req[256], resp[4096];
    int n = snprintf(req, sizeof req, "GET /connect/%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n", how,
                     port);
    send_all(fd, D_SEND, req, (size_t)n);
    recv_message(fd, D_RECV, resp, sizeof resp);
    say("CONNECTED %s %d\n", how, http_status(resp));
    close(fd);
}

/* Request i: a header and a body whose sizes vary, so that heads and
 * bodies are cut at many places by interrupted sends. */
static size_t build_request(char *buf, size_t cap, int i, int port)
{
    size_t pad = 64 + (size_t)(i * 1237) % 6000;
    size_t body = (i % 5 == 0) ? 0 : 512 + (size_t)(i * 3571) % 12000;
    const char *method = body ? "POST" : "GET";
    int n = snprintf(buf, cap, "%s /eintr/%d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nX-Pad: ", method, i,
                     port);
    size_t len = (size_t)n;
    for (size_t k = 0; k < pad; k++)
        buf[len++] = (char)('a' + (k + (size_t)i) % 26);
    if (body)
        len += (size_t)snprintf(buf + len, cap - len, "\r\nContent-Length: %zu", body);
    memcpy(buf + len, "\r\n\r\n", 4);
    len += 4;
    for (size_t k = 0; k < body; k++)
        buf[len++] = (char)('A' + (k * 7 + (size_t)i) % 26);
    return len;
}

static int run_client(int port, int n, int retry_port, int poll_port)
{
    if (retry_port && poll_port) {
        connect_case("retry", retry_port, connect_retrying);
        connect_case("poll", poll_port, connect_polling);
    }
    static char req[32768], resp[65536];
    int fd = -1;
    for (int i = 0; i < n; i++) {
        if (i % 8 == 0) {
            if (fd >= 0)
                close(fd);
            fd = connect_retrying(port);
        }
        size_t len = build_request(req, sizeof req, i, port);
        if (fwrite(req, 1, len, outfile) != len)
            fail("outfile");
        send_all(fd, (enum door)(D_WRITE + i % 6), req, len);
        recv_message(fd, (enum door)(D_READ + i % 6), resp, sizeof resp);
        int code = http_status(resp);
        if (code < 0)
            fail("no status line in response %d", i);
        say("STATUS %d %d\n", i, code);
    }
    close(fd);
    return 0;
}

/* ------------------------------------------------------------- server */

static int accept_once(int lfd, int i)
{
    for (;;) {
        int fd = i % 2 ? accept4(lfd, NULL, NULL, SOCK_CLOEXEC) : accept(lfd, NULL, NULL);
        if (fd >= 0)
            return fd;
        if (errno == EINTR) {
            eintr_seen[i % 2 ? D_ACCEPT4 : D_ACCEPT]++;
            continue;
        }
        fail("accept");
    }
}

static int run_server(int n)
{
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1, sndbuf = 4096;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(lfd, SOL_SOCKET, SO_SNDBUF, &sndbuf,
               sizeof sndbuf); /* accepted sockets inherit it */
    struct sockaddr_in sa = loopback(0);
    socklen_t len = sizeof sa;
    if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(lfd, 16) != 0 ||
        getsockname(lfd, (struct sockaddr *)&sa, &len) != 0)
        fail("listen");
    say("LISTENING %d\n", ntohs(sa.sin_port));
    static char req[65536], resp[65536];
    for (int i = 0; i < n; i += 2) {
        int fd = accept_once(lfd, i / 2);
        for (int k = i; k < i + 2 && k < n; k++) {
            recv_message(fd, (enum door)(D_READ + k % 6), req, sizeof req);
            int code = k % 4 == 3 ? 500 : 200;
            size_t body = 20000 + (size_t)k * 97;
            int h = snprintf(resp, sizeof resp,
                             "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: "
                             "%zu\r\n\r\n",
                             code, code == 200 ? "OK" : "Internal Server Error", body);
            for (size_t b = 0; b < body; b++)
                resp[(size_t)h + b] = (char)('a' + (b + (size_t)k) % 26);
            size_t total = (size_t)h + body;
            if (fwrite(resp, 1, total, outfile) != total)
                fail("outfile");
            send_all(fd, (enum door)(D_WRITE + k % 6), resp, total);
        }
        close(fd);
    }
    close(lfd);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: eintr_probe client PORT N OUTFILE [RETRY_PORT POLL_PORT] | "
                        "server N OUTFILE\n");
        return 2;
    }
    int client = strcmp(argv[1], "client") == 0;
    if (client && argc < 5)
        return 2;
    outfile = fopen(argv[client ? 4 : 3], "wb");
    if (!outfile)
        fail("cannot open %s", argv[client ? 4 : 3]);
    alarm_every(on_alarm, 100);
    int rc = client ? run_client(atoi(argv[2]), atoi(argv[3]), argc > 6 ? atoi(argv[5]) : 0,
                                 argc > 6 ? atoi(argv[6]) : 0)
                    : run_server(atoi(argv[2]));
    alarm_stop();
    if (fclose(outfile) != 0)
        fail("outfile");
    for (int d = 0; d < D_COUNT; d++)
        printf("EINTR %s %lu\nSHORT %s %lu\n", door_name[d], eintr_seen[d], door_name[d],
               short_seen[d]);
    printf("SIGNALS %ld\ndone\n", (long)signals_seen);
    return rc;
}
