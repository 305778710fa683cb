/* errno_probe.c — calls every door the shim interposes, failing and
 * succeeding, and prints the result and errno after each call.
 *
 *   errno_probe CLOSED_PORT HTTP_PORT RESPONSE_LEN
 *
 * CLOSED_PORT: a 127.0.0.1 port nobody listens on (ECONNREFUSED).
 * HTTP_PORT:   an HTTP server that answers every request with RESPONSE_LEN
 *              bytes (keep-alive); used for traced requests.
 *
 * The output contains no fd numbers, pids or ports, so a run under the shim
 * must print exactly what a run without it prints. Lines:
 *   NAME: ret=-1 errno=EBADF         a call expected to fail
 *   NAME: ret=ok|N errno=KEPT        a successful call after errno = 1234 / 4321;
 *                                    CHANGED(...) when errno moved
 * Exit status 0 unless the setup itself failed (status 2). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "probe.h"

/* Lengths read through a volatile so that, with _FORTIFY_SOURCE, read/recv/
 * recvfrom become __read_chk/__recv_chk/__recvfrom_chk. */
static volatile size_t vlen = 64;
static volatile size_t vbig = 4096;

static const char *ename(int e)
{
    if (e == 0)
        return "0";
    const char *n = strerrorname_np(e);
    static char buf[32];
    if (n)
        return n;
    snprintf(buf, sizeof buf, "E%d", e);
    return buf;
}

/* A call expected to fail (or whose outcome is printed as is). */
#define TRY(name, expr)                                                                  \
    do {                                                                                 \
        errno = 0;                                                                       \
        long r_ = (long)(expr);                                                          \
        int e_ = errno;                                                                  \
        if (r_ < 0)                                                                      \
            printf("%s: ret=-1 errno=%s\n", name, ename(e_));                            \
        else                                                                             \
            printf("%s: ret=ok errno=%s\n", name, ename(e_));                            \
    } while (0)

/* A call expected to succeed: errno must keep the value set before it.
 * show_count: print the returned count (byte counts), else just "ok". */
static long keep_report(const char *name, long r, int before, int after, int show_count)
{
    if (r < 0)
        printf("%s: ret=-1 errno=%s UNEXPECTED-FAILURE\n", name, ename(after));
    else {
        char ret[32];
        if (show_count)
            snprintf(ret, sizeof ret, "%ld", r);
        else
            snprintf(ret, sizeof ret, "ok");
        if (after == before)
            printf("%s: ret=%s errno=KEPT\n", name, ret);
        else
            printf("%s: ret=%s errno=CHANGED(%d->%s)\n", name, ret, before, ename(after));
    }
    return r;
}

#define KEEP_(name, val, count, expr)                                                    \
    ({                                                                                   \
        errno = (val);                                                                   \
        long r_ = (long)(expr);                                                          \
        int e_ = errno;                                                                  \
        keep_report(name, r_, (val), e_, count);                                         \
    })
#define KEEP(name, expr) KEEP_(name, 1234, 0, expr)
#define KEEPN(name, expr) KEEP_(name, 1234, 1, expr)

/* A listening socket on an ephemeral loopback port; *port gets the port. */
static int listener(int *port)
{
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = loopback(0);
    socklen_t len = sizeof a;
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 16) < 0 ||
        getsockname(l, (struct sockaddr *)&a, &len) < 0)
        fail("setup failed: listener");
    *port = ntohs(a.sin_port);
    return l;
}

static void bad_fds(void)
{
    char buf[64] = "x";
    struct iovec iov = {buf, sizeof buf};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    struct sockaddr_in a = loopback(9);

    TRY("write(-1)", write(-1, "x", 1));
    TRY("read(-1)", read(-1, buf, vlen));
    TRY("readv(-1)", readv(-1, &iov, 1));
    TRY("writev(-1)", writev(-1, &iov, 1));
    TRY("send(-1)", send(-1, "x", 1, MSG_NOSIGNAL));
    TRY("recv(-1)", recv(-1, buf, vlen, 0));
    TRY("sendto(-1)", sendto(-1, "x", 1, MSG_NOSIGNAL, (struct sockaddr *)&a, sizeof a));
    TRY("recvfrom(-1)", recvfrom(-1, buf, vlen, 0, NULL, NULL));
    TRY("sendmsg(-1)", sendmsg(-1, &mh, MSG_NOSIGNAL));
    TRY("recvmsg(-1)", recvmsg(-1, &mh, 0));
    TRY("close(-1)", close(-1));
    TRY("dup(-1)", dup(-1));
    TRY("dup2(-5,100)", dup2(-5, 100));
    TRY("dup3(-5,100,0)", dup3(-5, 100, 0));
    TRY("fcntl(-1,F_DUPFD)", fcntl(-1, F_DUPFD, 0));
    TRY("fcntl(-1,F_GETFL)", fcntl(-1, F_GETFL));
    TRY("connect(-1)", connect(-1, (struct sockaddr *)&a, sizeof a));
    TRY("accept(-1)", accept(-1, NULL, NULL));
    TRY("accept4(-1)", accept4(-1, NULL, NULL, SOCK_CLOEXEC));
    TRY("shutdown(-1)", shutdown(-1, SHUT_RDWR));
    TRY("socket(bad domain)", socket(12345, SOCK_STREAM, 0));
    TRY("close_range(5,2)", close_range(5, 2, 0));

    /* a closed fd */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        fail("setup failed: socket");
    close(fd);
    TRY("recv(closed fd)", recv(fd, buf, vlen, 0));
    TRY("send(closed fd)", send(fd, "x", 1, MSG_NOSIGNAL));
    TRY("close(closed fd)", close(fd));
}

static void unconnected(int closed_port)
{
    char buf[64];
    struct iovec iov = {(void *)"x", 1};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0)
        fail("setup failed: socket");
    TRY("send(unconnected tcp)", send(s, "x", 1, MSG_NOSIGNAL));
    TRY("sendmsg(unconnected tcp)", sendmsg(s, &mh, MSG_NOSIGNAL));
    TRY("recv(unconnected tcp)", recv(s, buf, vlen, MSG_DONTWAIT));
    TRY("read(unconnected tcp)", read(s, buf, vlen));
    TRY("accept(not listening)", accept(s, NULL, NULL));
    TRY("shutdown(unconnected)", shutdown(s, SHUT_RDWR));
    TRY("accept4(bad flags)", accept4(s, NULL, NULL, 0x7fff0000));
    struct sockaddr_in a = loopback(closed_port);
    TRY("connect(bad addrlen)", connect(s, (struct sockaddr *)&a, 3));
    TRY("connect(closed port)", connect(s, (struct sockaddr *)&a, sizeof a));
    close(s);

    /* non-blocking socketpair (not TCP: untracked) */
    int sp[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sp) < 0)
        fail("setup failed: socketpair");
    TRY("read(empty socketpair)", read(sp[0], buf, vlen));
    TRY("recv(empty socketpair)", recv(sp[0], buf, vlen, 0));
    close(sp[0]);
    close(sp[1]);
}

/* Failing and succeeding calls on tracked TCP connections (both ends). */
static void tracked(void)
{
    char buf[256];
    int port;
    int l = listener(&port);
    struct sockaddr_in a = loopback(port);

    /* non-blocking connect, then learn the result */
    int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (c < 0)
        fail("setup failed: socket");
    errno = 0;
    int r = connect(c, (struct sockaddr *)&a, sizeof a);
    printf("connect(non-blocking): ret=%s errno=%s\n", r < 0 ? "-1" : "ok",
           r < 0 && errno == EINPROGRESS ? "EINPROGRESS" : r == 0 ? "0(completed at once)"
                                                                  : ename(errno));
    struct pollfd p = {c, POLLOUT, 0};
    poll(&p, 1, 5000);
    int soerr = -1;
    socklen_t sl = sizeof soerr;
    getsockopt(c, SOL_SOCKET, SO_ERROR, &soerr, &sl);
    printf("connect result: SO_ERROR=%s\n", ename(soerr));
    TRY("connect(again)", connect(c, (struct sockaddr *)&a, sizeof a));

    int s = KEEP("accept", accept(l, NULL, NULL));
    if (s < 0)
        fail("setup failed: accept");

    /* nothing to read yet: EAGAIN through every receive door, both ends */
    struct iovec iov = {buf, sizeof buf};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    TRY("read(client, no data)", read(c, buf, vlen));
    TRY("recv(client, no data)", recv(c, buf, vlen, 0));
    TRY("readv(client, no data)", readv(c, &iov, 1));
    TRY("recvmsg(client, no data)", recvmsg(c, &mh, 0));
    TRY("recvfrom(client, no data)", recvfrom(c, buf, vlen, 0, NULL, NULL));
    TRY("recv(server, MSG_DONTWAIT)", recv(s, buf, vlen, MSG_DONTWAIT));
    TRY("recvfrom(server, MSG_DONTWAIT)", recvfrom(s, buf, vlen, MSG_DONTWAIT, NULL, NULL));
    TRY("recvmsg(server, MSG_DONTWAIT)", recvmsg(s, &mh, MSG_DONTWAIT));
    KEEP("fcntl(listener, F_SETFL, O_NONBLOCK)", fcntl(l, F_SETFL, O_NONBLOCK));
    TRY("accept(non-blocking, none pending)", accept(l, NULL, NULL));
    TRY("accept4(non-blocking, none pending)", accept4(l, NULL, NULL, SOCK_CLOEXEC));

    /* successful non-HTTP traffic: errno untouched */
    KEEPN("send(non-http)", send(c, "\x01\x02\x03", 3, MSG_NOSIGNAL));
    usleep(20000);
    KEEPN("recv(non-http)", recv(s, buf, 3, 0));
    KEEPN("write(non-http)", write(s, "PONG", 4));
    usleep(20000);
    KEEPN("read(non-http)", read(c, buf, 4));
    struct iovec two[2] = {{(void *)"ab", 2}, {(void *)"cd", 2}};
    KEEPN("writev(non-http)", writev(c, two, 2));
    usleep(20000);
    struct iovec in = {buf, 4};
    KEEPN("readv(non-http)", readv(s, &in, 1));
    KEEP("fcntl(F_GETFL)", fcntl(c, F_GETFL));
    int d = KEEP("dup", dup(c));
    KEEP("dup2", dup2(c, d));
    KEEP("close(dup)", close(d));
    d = KEEP("fcntl(F_DUPFD_CLOEXEC)", fcntl(c, F_DUPFD_CLOEXEC, 0));
    KEEP("close(dupfd)", close(d));

    /* our own end shut for writing: EPIPE through every send door */
    KEEP("shutdown(SHUT_WR)", shutdown(c, SHUT_WR));
    struct iovec x = {(void *)"x", 1};
    struct msghdr xm = {.msg_iov = &x, .msg_iovlen = 1};
    TRY("send(after SHUT_WR)", send(c, "x", 1, MSG_NOSIGNAL));
    TRY("write(after SHUT_WR)", write(c, "x", 1));
    TRY("writev(after SHUT_WR)", writev(c, &x, 1));
    TRY("sendmsg(after SHUT_WR)", sendmsg(c, &xm, MSG_NOSIGNAL));
    TRY("sendto(after SHUT_WR)", sendto(c, "x", 1, MSG_NOSIGNAL, NULL, 0));
    TRY("send(after SHUT_WR, http head)",
        send(c, "GET /after-shutdown HTTP/1.1\r\nHost: x\r\n\r\n", 41, MSG_NOSIGNAL));
    usleep(20000);
    TRY("recv(server, peer shut)", recv(s, buf, vlen, 0)); /* 0: end of stream */
    KEEP("close(client)", close(c));
    KEEP("close(server)", close(s));
    KEEP("close(listener)", close(l));
}

/* Read one response of exactly want bytes, errno set to 4321 before each call. */
static void read_response(int fd, const char *how, size_t want)
{
    char buf[4096], name[64];
    size_t got = 0;
    int calls = 0, changed = 0;
    while (got < want && calls < 100) {
        struct iovec iov = {buf, sizeof buf};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
        errno = 4321;
        long r;
        if (strcmp(how, "recv") == 0)
            r = recv(fd, buf, vbig, 0);
        else if (strcmp(how, "read") == 0)
            r = read(fd, buf, vbig);
        else if (strcmp(how, "readv") == 0)
            r = readv(fd, &iov, 1);
        else if (strcmp(how, "recvmsg") == 0)
            r = recvmsg(fd, &mh, 0);
        else
            r = recvfrom(fd, buf, vbig, 0, NULL, NULL);
        int e = errno;
        calls++;
        if (r <= 0) {
            printf("%s(response): ret=%ld errno=%s UNEXPECTED-FAILURE\n", how, r, ename(e));
            return;
        }
        if (e != 4321)
            changed = e;
        got += (size_t)r;
    }
    snprintf(name, sizeof name, "%s(response)", how);
    if (changed)
        printf("%s: ret=%zu errno=CHANGED(4321->%s)\n", name, got, ename(changed));
    else
        printf("%s: ret=%zu errno=KEPT\n", name, got);
}

/* The range of calls the notes of fd's MSG_ZEROCOPY sends name (probe.h). */
static void zerocopy_notes(int fd)
{
    struct zerocopy_notes z = zerocopy_notes_read(fd, 0);
    if (z.odd)
        printf("recvmsg(MSG_ERRQUEUE): %d reads with bytes or errno changed UNEXPECTED\n", z.odd);
    if (z.notes)
        printf("zerocopy notes: sends %u..%u\n", z.lo, z.hi);
    else
        printf("zerocopy notes: none\n");
}

/* Traced HTTP requests on one keep-alive connection, through every send
 * door, errno set to 4321 before each successful call. */
static void traced_http(int http_port, size_t resp_len)
{
    static const char *sends[] = {"send", "write", "writev", "sendmsg", "sendto"};
    static const char *recvs[] = {"recv", "read", "readv", "recvmsg", "recvfrom"};
    struct sockaddr_in a = loopback(http_port);
    int c = KEEP_("socket(http)", 4321, 0, socket(AF_INET, SOCK_STREAM, 0));
    int one = 1;
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    KEEP_("connect(http)", 4321, 0, connect(c, (struct sockaddr *)&a, sizeof a));
    for (int i = 0; i < 5; i++) {
        char head[256], name[64];
        int n = snprintf(head, sizeof head,
                         "GET /errno/%s-%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                         "User-Agent: errno_probe\r\n\r\n",
                         sends[i], recvs[i], http_port);
        struct iovec iov[2] = {{head, 20}, {head + 20, (size_t)n - 20}};
        struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
        snprintf(name, sizeof name, "%s(request head)", sends[i]);
        long r;
        errno = 4321;
        switch (i) {
        case 0: r = send(c, head, (size_t)n, MSG_NOSIGNAL); break;
        case 1: r = write(c, head, (size_t)n); break;
        case 2: r = writev(c, iov, 2); break;
        case 3: r = sendmsg(c, &mh, MSG_NOSIGNAL); break;
        default: r = sendto(c, head, (size_t)n, MSG_NOSIGNAL, NULL, 0); break;
        }
        int e = errno;
        /* the count must be the program's own: compare, do not print n
         * (the head holds the port) */
        printf("%s: ret=%s errno=%s\n", name, r == n ? "all" : r < 0 ? "-1" : "SHORT",
               e == 4321 ? "KEPT" : ename(e));
        read_response(c, recvs[i], resp_len);
    }
    /* a request whose body goes in a separate send */
    {
        char head[256];
        int n = snprintf(head, sizeof head,
                         "POST /errno/post HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                         "Content-Length: 5\r\n\r\n",
                         http_port);
        errno = 4321;
        long r = send(c, head, (size_t)n, MSG_NOSIGNAL);
        int e = errno;
        printf("send(post head): ret=%s errno=%s\n", r == n ? "all" : "WRONG",
               e == 4321 ? "KEPT" : ename(e));
        KEEP_("send(post body)", 4321, 1, send(c, "hello", 5, MSG_NOSIGNAL));
        /* receives that take no byte of the stream: none ends it */
        KEEP_("recv(http, no room)", 4321, 1, recv(c, (char[1]){0}, 0, 0));
        TRY("recv(http, MSG_OOB, none urgent)", recv(c, (char[1]){0}, 1, MSG_OOB | MSG_DONTWAIT));
        read_response(c, "recv", resp_len);
    }
    /* MSG_ZEROCOPY (below): a request's body sent so, then two requests
     * in one such send (both traced: one note for the call) */
    {
        int on = 1;
        if (setsockopt(c, SOL_SOCKET, SO_ZEROCOPY, &on, sizeof on) < 0)
            fail("setup failed: SO_ZEROCOPY");
        char head[256];
        int n = snprintf(head, sizeof head,
                         "POST /errno/zerocopy HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                         "Content-Length: 5\r\n\r\n",
                         http_port);
        long r = send(c, head, (size_t)n, MSG_NOSIGNAL);
        printf("send(zerocopy post head): ret=%s\n", r == n ? "all" : "WRONG");
        KEEP_("send(post body, MSG_ZEROCOPY)", 4321, 1,
              send(c, "hello", 5, MSG_NOSIGNAL | MSG_ZEROCOPY));
        zerocopy_notes(c);
        read_response(c, "recv", resp_len);
        /* a body sent zero-copy leaves the connection followed */
        n = snprintf(head, sizeof head,
                     "GET /errno/after-zerocopy-body HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n",
                     http_port);
        r = send(c, head, (size_t)n, MSG_NOSIGNAL);
        printf("send(after zerocopy body): ret=%s\n", r == n ? "all" : "WRONG");
        read_response(c, "recv", resp_len);
        n = snprintf(head, sizeof head,
                     "GET /errno/zerocopy-a HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n"
                     "GET /errno/zerocopy-b HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n",
                     http_port, http_port);
        r = send(c, head, (size_t)n, MSG_NOSIGNAL | MSG_ZEROCOPY);
        printf("send(two requests, MSG_ZEROCOPY): ret=%s\n", r == n ? "all" : "WRONG");
        zerocopy_notes(c);
        read_response(c, "recv", 2 * resp_len);
        /* a head in two sends, its blank line with MSG_ZEROCOPY: the
         * header lines go before it, in a plain send of their own */
        n = snprintf(head, sizeof head,
                     "GET /errno/zerocopy-piece HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n", http_port);
        r = send(c, head, (size_t)n, MSG_NOSIGNAL);
        printf("send(head but its blank line): ret=%s\n", r == n ? "all" : "WRONG");
        r = send(c, "\r\n", 2, MSG_NOSIGNAL | MSG_ZEROCOPY);
        printf("send(blank line, MSG_ZEROCOPY): ret=%s\n", r == 2 ? "all" : "WRONG");
        zerocopy_notes(c);
        read_response(c, "recv", resp_len);
    }
    /* the connection is idle: a non-blocking receive fails with EAGAIN */
    TRY("recv(http, idle, MSG_DONTWAIT)", recv(c, (char[16]){0}, 16, MSG_DONTWAIT));
    KEEP_("close(http)", 4321, 0, close(c));
}

/* A connected TCP client socket to 127.0.0.1:port. */
static int client_of(int port, const char *what)
{
    struct sockaddr_in a = loopback(port);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof a) < 0)
        fail("setup failed: %s", what);
    return c;
}

/* What programs get wrong or do behind the shim's back on a traced client
 * connection; the kernel's answer must reach them unchanged. */
static void misuse(int http_port)
{
    /* A socket closed by stdio (fclose of an fdopen'ed socket closes
     * through glibc's own close) or by a raw system call: the number, now
     * a file's, is written to and read as a file. The request sent before
     * the fclose gets no answer: the file's bytes are no response to it. */
    static const char teapot[] = "HTTP/1.1 418 I'm a teapot\r\nContent-Length: 0\r\n\r\n";
    char path[] = "/tmp/errno_probe-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, teapot, sizeof teapot - 1) != (ssize_t)(sizeof teapot - 1) ||
        close(fd) < 0)
        fail("setup failed: a file with a response in it");
    int c = client_of(http_port, "fdopen");
    static const char req[] = "GET /misuse/fclose HTTP/1.1\r\nHost: probe\r\n\r\n";
    if (write(c, req, sizeof req - 1) != (ssize_t)(sizeof req - 1))
        fail("setup failed: request before fclose");
    FILE *f = fdopen(c, "r+");
    if (!f)
        fail("setup failed: fdopen");
    fclose(f);
    fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC);
    unlink(path);
    printf("open(after fclose): number reused=%s\n", fd == c ? "yes" : "no");
    char back[sizeof teapot + 3];
    KEEPN("read(file where fclose closed a socket)", read(fd, back, sizeof back));
    KEEPN("write(file where fclose closed a socket)", write(fd, "abc", 3));
    KEEPN("writev(file where fclose closed a socket)", writev(fd, &(struct iovec){"abc", 3}, 1));
    close(fd);
    c = client_of(http_port, "raw close");
    syscall(SYS_close, c);
    fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    printf("open(after raw close): number reused=%s\n", fd == c ? "yes" : "no");
    KEEPN("write(file where a raw close closed a socket)", write(fd, "GET / HTTP/1.1\r\n\r\n", 18));
    close(fd);

    /* Invalid arguments, each on a fresh client connection (whose first
     * bytes the shim reads for a request head): refused by the kernel,
     * nothing sent. */
    static struct iovec many[IOV_MAX + 1];
    for (int i = 0; i <= IOV_MAX; i++)
        many[i] = (struct iovec){(void *)"G", 1};
    c = client_of(http_port, "invalid arguments");
    TRY("writev(client, IOV_MAX+1 pieces)", writev(c, many, IOV_MAX + 1));
    close(c);
    c = client_of(http_port, "invalid arguments");
    TRY("write(client, NULL buffer)", write(c, NULL, 10));
    close(c);
    c = client_of(http_port, "invalid arguments");
    TRY("send(client, NULL buffer)", send(c, NULL, 10, MSG_NOSIGNAL));
    close(c);
    c = client_of(http_port, "invalid arguments");
    TRY("writev(client, NULL piece)", writev(c, (struct iovec[]){{"GET", 3}, {NULL, 10}}, 2));
    close(c);
    c = client_of(http_port, "invalid arguments");
    TRY("writev(client, NULL array)", writev(c, NULL, 1));
    close(c);
    c = client_of(http_port, "invalid arguments");
    TRY("sendmsg(client, NULL msg_iov)",
        sendmsg(c, &(struct msghdr){.msg_iov = NULL, .msg_iovlen = 1}, MSG_NOSIGNAL));
    close(c);
    c = client_of(http_port, "invalid arguments");
    TRY("sendmsg(client, message at 8)", sendmsg(c, (struct msghdr *)8, MSG_NOSIGNAL));
    TRY("sendmmsg(client, vector at 8)", sendmmsg(c, (struct mmsghdr *)8, 1, MSG_NOSIGNAL));
    TRY("recvmsg(client, message at 8)", recvmsg(c, (struct msghdr *)8, MSG_DONTWAIT));
    TRY("recvmmsg(client, vector at 8)",
        recvmmsg(c, (struct mmsghdr *)8, 1, MSG_DONTWAIT, NULL));
    close(c);

    /* More messages than the kernel takes in one sendmmsg (UIO_MAXIOV):
     * it sends that many and says so. */
    enum { MESSAGES = IOV_MAX + 76 };
    static struct iovec one_byte[MESSAGES];
    static struct mmsghdr messages[MESSAGES];
    for (int i = 0; i < MESSAGES; i++) {
        one_byte[i] = (struct iovec){(void *)"G", 1};
        messages[i].msg_hdr = (struct msghdr){.msg_iov = &one_byte[i], .msg_iovlen = 1};
    }
    c = client_of(http_port, "invalid arguments");
    KEEPN("sendmmsg(client, IOV_MAX+76 messages)", sendmmsg(c, messages, MESSAGES, MSG_NOSIGNAL));
    close(c);

    /* The second message refused (a NULL piece): the kernel sends the
     * first, says one, and the error is lost, errno as it was. */
    static char get[] = "GET /misuse/mmsg HTTP/1.1\r\nHost: probe\r\n\r\n";
    struct iovec parts[2] = {{get, sizeof get - 1}, {NULL, 50}};
    struct mmsghdr two[2] = {{.msg_hdr = {.msg_iov = &parts[0], .msg_iovlen = 1}},
                             {.msg_hdr = {.msg_iov = &parts[1], .msg_iovlen = 1}}};
    c = client_of(http_port, "invalid arguments");
    KEEPN("sendmmsg(client, second message refused)", sendmmsg(c, two, 2, MSG_NOSIGNAL));
    close(c);

    /* An address in the zero page: the kernel's EFAULT, not a fault */
    c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    TRY("connect(address at 8)", connect(c, (struct sockaddr *)8, sizeof(struct sockaddr_in)));
    close(c);
}

/* The same on the server's end of a traced connection, before its first
 * response (whose first bytes the shim looks at before they go out). */
static void misuse_server(void)
{
    int port;
    int l = listener(&port);
    struct sockaddr_in a = loopback(port);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof a) < 0)
        fail("setup failed: connect to the listener");
    int s = accept(l, NULL, NULL);
    if (s < 0)
        fail("setup failed: accept");
    TRY("write(server, NULL buffer)", write(s, NULL, 20));
    TRY("send(server, NULL buffer)", send(s, NULL, 20, MSG_NOSIGNAL));
    TRY("writev(server, NULL array)", writev(s, NULL, 1));
    TRY("writev(server, NULL piece)", writev(s, &(struct iovec){NULL, 20}, 1));
    TRY("sendmsg(server, NULL msg_iov)",
        sendmsg(s, &(struct msghdr){.msg_iov = NULL, .msg_iovlen = 1}, MSG_NOSIGNAL));
    close(s);
    close(c);
    close(l);
}

/* A connection over a Unix-domain socket, which the shim follows as a
 * TCP one: a send that names an address is refused there (TCP ignores
 * the address), and nothing goes out. */
static void misuse_unix(void)
{
    char dir[] = "/tmp/errno-probe-XXXXXX";
    if (!mkdtemp(dir))
        fail("setup failed: mkdtemp");
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s/s", dir);
    int l = socket(AF_UNIX, SOCK_STREAM, 0), c = socket(AF_UNIX, SOCK_STREAM, 0);
    if (l < 0 || c < 0 || bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 4) < 0 ||
        connect(c, (struct sockaddr *)&a, sizeof a) < 0)
        fail("setup failed: a Unix-domain connection");
    int s = accept(l, NULL, NULL);
    if (s < 0)
        fail("setup failed: accept");
    static const char head[] = "GET /addressed HTTP/1.1\r\nHost: h\r\n\r\n";
    TRY("sendto(unix client, an address)",
        sendto(c, head, sizeof head - 1, MSG_NOSIGNAL, (struct sockaddr *)&a, sizeof a));
    struct iovec iov = {(void *)head, sizeof head - 1};
    TRY("sendmsg(unix client, an address)",
        sendmsg(c,
                &(struct msghdr){
                    .msg_name = &a, .msg_namelen = sizeof a, .msg_iov = &iov, .msg_iovlen = 1},
                MSG_NOSIGNAL));
    char buf[256];
    TRY("recv(unix server, nothing sent)", recv(s, buf, sizeof buf, MSG_DONTWAIT));
    close(s);
    close(c);
    close(l);
    unlink(a.sun_path);
    rmdir(dir);
}

/* An exec whose path or environment the kernel refuses: the call fails,
 * the program goes on. The paths through volatiles: glibc declares them
 * nonnull, and GCC would warn. */
static const char *volatile null_path;
static const char *volatile path_at_8 = (const char *)8;

static void misuse_exec(void)
{
    char *argv[] = {"/bin/true", NULL};
    TRY("execve(NULL path)", execve(null_path, argv, (char *[]){NULL}));
    TRY("execve(path at 8)", execve(path_at_8, argv, (char *[]){NULL}));
    TRY("execveat(NULL path)", execveat(AT_FDCWD, null_path, argv, (char *[]){NULL}, 0));
    TRY("execveat(path at 8)", execveat(AT_FDCWD, path_at_8, argv, (char *[]){NULL}, 0));
    TRY("execveat(NULL path, AT_EMPTY_PATH)",
        execveat(AT_FDCWD, null_path, argv, (char *[]){NULL}, AT_EMPTY_PATH));
    TRY("execve(environment at 8)", execve("/bin/true", argv, (char **)8));
    char *envp[] = {"A=1", (char *)8, NULL};
    TRY("execve(environment entry at 8)", execve("/bin/true", argv, envp));
    TRY("execveat(environment at 8)", execveat(AT_FDCWD, "/bin/true", argv, (char **)8, 0));
    TRY("execveat(closed dirfd)", execveat(4000, "true", argv, (char *[]){NULL}, 0));
    int prog = open("/bin/true", O_RDONLY | O_CLOEXEC);
    TRY("fexecve(NULL environment)", fexecve(prog, argv, NULL)); /* glibc's EINVAL */
    close(prog);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: errno_probe CLOSED_PORT HTTP_PORT RESPONSE_LEN\n");
        return 2;
    }
    probe_name = "errno_probe"; /* one name for the -O0 and -O2 builds */
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    KEEPN("write(/dev/null)", write(open("/dev/null", O_WRONLY | O_CLOEXEC), "abc", 3));
    bad_fds();
    unconnected(atoi(argv[1]));
    tracked();
    traced_http(atoi(argv[2]), (size_t)atol(argv[3]));
    misuse(atoi(argv[2]));
    misuse_server();
    misuse_unix();
    misuse_exec();
    printf("done\n");
    return 0;
}
