/* probe.h — what the C probes of the integration tests share: failing with
 * one line on stderr, pausing, a monotonic clock, SIGALRM on an interval,
 * a listener and connections on 127.0.0.1, plain HTTP/1.1 over them, and
 * the notes of MSG_ZEROCOPY sends.
 *
 * Header-only, all functions static inline: the tests compile each probe
 * alone (`cc ... apps/NAME.c`, see compile_app in tshelp.py), so there is
 * no second object to link, and a probe that uses only some of these
 * helpers gets no warning about the others. `#include "probe.h"` is found
 * next to the probe's source without -I.
 *
 * Messages start with probe_name, which a probe sets when its executable
 * is named otherwise (test_errno.py builds errno_probe-O0 and
 * errno_probe-O2-fortify); by default the executable's own name
 * (program_invocation_short_name).
 *
 * Nothing here is async-signal-safe unless its comment says so: a probe's
 * signal handler keeps to its own code. */
#ifndef PROBE_H
#define PROBE_H

#ifndef _GNU_SOURCE
/* program_invocation_short_name and strcasestr are GNU extensions */
#error "define _GNU_SOURCE before the first include"
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

/* The name in front of the probe's messages; NULL: the executable's. */
static const char *probe_name;

/* "NAME: what (errno N text)" on stderr, and exit status 2: the status the
 * tests read as "the probe itself failed", told apart from the statuses a
 * probe reports on purpose. */
__attribute__((format(printf, 1, 2))) static inline _Noreturn void fail(const char *fmt, ...)
{
    int saved = errno; /* before stdio, which may change it */
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", probe_name ? probe_name : program_invocation_short_name);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (errno %d %s)\n", saved, strerror(saved));
    va_end(ap);
    exit(2);
}

/* Milliseconds on CLOCK_MONOTONIC, for deadlines and durations. */
static inline long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000L + t.tv_nsec / 1000000L;
}

/* Sleeps the whole time: a signal only shortens one nanosleep, the rest
 * is slept after it. */
static inline void sleep_ms(long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0 && errno == EINTR)
        ;
}

/* SIGALRM to handler every usec microseconds (ITIMER_REAL), installed
 * without SA_RESTART so that the probe's blocking calls come back with
 * EINTR, which is what the probes that use it are there to provoke. */
static inline void alarm_every(void (*handler)(int), long usec)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    if (sigaction(SIGALRM, &sa, NULL) != 0)
        fail("sigaction");
    struct itimerval it = {{0, usec}, {0, usec}};
    if (setitimer(ITIMER_REAL, &it, NULL) != 0)
        fail("setitimer");
}

/* The interval timer off; the handler stays for a signal still on its way. */
static inline void alarm_stop(void)
{
    struct itimerval off = {{0, 0}, {0, 0}};
    if (setitimer(ITIMER_REAL, &off, NULL) != 0)
        fail("setitimer");
}

/* 127.0.0.1:port as a socket address (port 0: any free port, for bind).
 * Async-signal-safe. */
static inline struct sockaddr_in loopback(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return sa;
}

/* A TCP connection to 127.0.0.1:port; socket_flags go to socket()'s type
 * (SOCK_CLOEXEC and the like). A connect interrupted by a signal is asked
 * again (Linux waits for the handshake still under way). -1 with errno
 * from the failed call, the socket closed. Async-signal-safe: a signal
 * handler may connect with it. */
static inline int connect_loopback(int port, int socket_flags)
{
    int fd = socket(AF_INET, SOCK_STREAM | socket_flags, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = loopback(port);
    while (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        if (errno == EINTR)
            continue;
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

/* A TCP listener on 127.0.0.1 at a port the kernel picks, with backlog;
 * the port goes to *port. The probe fails when it cannot listen. */
static inline int listen_loopback(int backlog, int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = loopback(0);
    socklen_t len = sizeof sa;
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, backlog) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
        fail("listener");
    *port = ntohs(sa.sin_port);
    return fd;
}

/* The probe connected to itself through listener (at port): *client the
 * connecting end, *server the accepted one. Fails otherwise. */
static inline void connect_to_itself(int listener, int port, int *client, int *server)
{
    *client = connect_loopback(port, 0);
    *server = accept(listener, NULL, NULL);
    if (*client < 0 || *server < 0)
        fail("connect to itself");
}

/* A POST /upload head announcing a body of 100 MB, written on fd: under
 * the shim, a traced request whose body it counts for long after. */
static inline void send_upload_head(int fd)
{
    static const char head[] = "POST /upload HTTP/1.1\r\nHost: probe\r\n"
                               "Content-Length: 100000000\r\n\r\n";
    if (write(fd, head, sizeof head - 1) != (ssize_t)(sizeof head - 1))
        fail("request head");
}

/* The status code of the HTTP response in resp ("HTTP/1.x CODE ..."), or
 * -1 when it does not start with a status line. */
static inline int http_status(const char *resp)
{
    int code;
    return sscanf(resp, "HTTP/1.%*d %d", &code) == 1 ? code : -1;
}

/* One HTTP response from fd into buf (NUL-terminated, also on failure):
 * a head with Content-Length and that many body bytes. Its length, or -1
 * when recv fails, the peer closes first, or it does not fit in cap - 1
 * bytes. */
static inline ssize_t recv_response(int fd, char *buf, size_t cap)
{
    size_t got = 0;
    buf[0] = '\0';
    while (got + 1 < cap) {
        ssize_t r = recv(fd, buf + got, cap - 1 - got, 0);
        if (r <= 0)
            return -1;
        got += (size_t)r;
        buf[got] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        char *length = strcasestr(buf, "\r\nContent-Length:");
        if (end && length && length < end &&
            got >= (size_t)(end + 4 - buf) + strtoul(length + 17, NULL, 10))
            return (ssize_t)got;
    }
    return -1;
}

/* GET path on the connection fd to 127.0.0.1:port, the request exactly
 * "GET PATH HTTP/1.1\r\nHost: 127.0.0.1:PORT\r\n\r\n" (the tests rebuild
 * these bytes to compare what the server received); the response in resp.
 * Its status code, or -1 when the request could not be sent or no whole
 * response came back. */
static inline int http_get(int fd, int port, const char *path, char *resp, size_t cap)
{
    char req[512];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n", path, port);
    resp[0] = '\0';
    if (n < 0 || (size_t)n >= sizeof req || send(fd, req, (size_t)n, MSG_NOSIGNAL) != n)
        return -1;
    if (recv_response(fd, resp, cap) < 0)
        return -1;
    return http_status(resp);
}

/* GET path from 127.0.0.1:port on a connection of its own, closed after;
 * the probe fails unless the answer is a 200. */
static inline void http_get_200(int port, const char *path)
{
    int fd = connect_loopback(port, 0);
    char resp[1024];
    if (fd < 0 || http_get(fd, port, path, resp, sizeof resp) != 200)
        fail("GET %s from 127.0.0.1:%d", path, port);
    close(fd);
}

/* The notes of fd's MSG_ZEROCOPY sends (struct zerocopy_notes), read
 * from its error queue: 0 bytes and a control message each, nothing of
 * the stream. The kernel numbers a socket's zerocopy calls from 0 and a
 * note names a range of them: a shim that split a call, sent bytes of its
 * own so, or sent a call's bytes without the flag, would shift the
 * numbers the program counts on or leave one without its note. Reads
 * until a note names call `until` (0: any note) and the queue is empty, or
 * for two seconds. */
struct zerocopy_notes {
    int notes;      /* notes read */
    unsigned lo, hi; /* the calls they name, when notes */
    int odd;        /* reads that returned bytes or changed errno */
};

static inline struct zerocopy_notes zerocopy_notes_read(int fd, unsigned until)
{
    struct zerocopy_notes z = {0, ~0u, 0, 0};
    long t0 = now_ms();
    while (now_ms() - t0 < 2000) {
        struct pollfd p = {fd, 0, 0};
        poll(&p, 1, 50); /* POLLERR once a note is queued */
        char ctl[256];
        struct msghdr m = {.msg_control = ctl, .msg_controllen = sizeof ctl};
        errno = 4321;
        long r = recvmsg(fd, &m, MSG_ERRQUEUE | MSG_DONTWAIT);
        if (r < 0) {
            if (z.notes && z.hi >= until)
                break;
            continue;
        }
        if (r != 0 || errno != 4321)
            z.odd++;
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&m); cm; cm = CMSG_NXTHDR(&m, cm)) {
            struct sock_extended_err ee;
            memcpy(&ee, CMSG_DATA(cm), sizeof ee);
            if (ee.ee_origin != SO_EE_ORIGIN_ZEROCOPY)
                continue;
            z.notes++;
            z.lo = ee.ee_info < z.lo ? ee.ee_info : z.lo;
            z.hi = ee.ee_data > z.hi ? ee.ee_data : z.hi;
        }
    }
    return z;
}

#endif
