/* fast_open_get.c CALL MODE N DIR — N GETs, each on a connection of its
 * own opened by TCP Fast Open (a send with MSG_FASTOPEN and the server's
 * address instead of a connect), to a server the probe forks.
 *
 * CALL: sendto, sendmsg or sendmmsg (one message), the call that carries
 * MSG_FASTOPEN.
 * MODE: block (a blocking socket) or nonblock (the socket non-blocking
 * until the request is out, as wget2 opens its connections: the Fast Open
 * call may come back with EINPROGRESS, nothing sent, or with part of the
 * request, and the rest is sent once the socket is writable), each
 * optionally followed by ",own-net": the probe first moves into a network
 * namespace of its own (root only) with the loopback up and Fast Open on
 * for servers too (net.ipv4.tcp_fastopen = 3), so that the request of
 * every connection after the first goes in its SYN; and optionally by
 * ",retry": each socket's first Fast Open call goes to a closed port and
 * fails (ECONNREFUSED, for a non-blocking socket after its EINPROGRESS),
 * and the same socket then tries again, to the server (a non-blocking
 * one twice: Linux answers the first call after a failed attempt with
 * ECONNABORTED), with ",late" (non-blocking) to a listener that drops the
 * SYN and is then closed, so that the refusal comes a second after the
 * call; ",retry-connect" as ",retry", the socket then connected
 * by connect and the request sent by send; ",again": what the Fast Open
 * call did not send goes by the same Fast Open call again, not by send
 * (the kernel answers EALREADY while the connection is on its way, then
 * sends).
 *
 * The server (the forked child) listens on 127.0.0.1 with TCP_FASTOPEN,
 * writes the i-th request head it received to DIR/request.I and answers
 * 200 "ok", closing the connection. The client prints one line for each
 * GET: "I STATUS SYN_DATA" (SYN_DATA 1 when the kernel says the request's
 * first bytes went in the SYN, TCPI_OPT_SYN_DATA). Exit status 0 when
 * every GET got a 200, 1 otherwise, 2 when the probe itself fails. */
#define _GNU_SOURCE
#include "probe.h"

#include <fcntl.h>
#include <net/if.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdbool.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/wait.h>

/* The request of the i-th GET: what the test rebuilds to compare. */
static int request_of(char *buf, size_t cap, int i, int port)
{
    return snprintf(buf, cap,
                    "GET /fast-open/%d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                    "Connection: close\r\n\r\n",
                    i, port);
}

/* A network namespace of the probe's own: loopback up, Fast Open on for
 * clients and servers. */
static void own_network(void)
{
    if (unshare(CLONE_NEWNET) != 0)
        fail("unshare(CLONE_NEWNET)");
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) != 0)
        fail("loopback flags");
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) != 0)
        fail("loopback up");
    close(s);
    int fd = open("/proc/sys/net/ipv4/tcp_fastopen", O_WRONLY);
    if (fd < 0 || write(fd, "3\n", 2) != 2)
        fail("net.ipv4.tcp_fastopen = 3");
    close(fd);
}

/* The server: n connections, one request each, answered and closed. */
static _Noreturn void serve(int listener, int n, const char *dir)
{
    static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
                                 "Connection: close\r\n\r\nok";
    for (int i = 0; i < n; i++) {
        int c = accept(listener, NULL, NULL);
        if (c < 0)
            fail("accept");
        char head[4096];
        size_t got = 0;
        while (got < sizeof head - 1) {
            ssize_t r = recv(c, head + got, sizeof head - 1 - got, 0);
            if (r <= 0)
                fail("request %d: %zu bytes, then the connection ended", i, got);
            got += (size_t)r;
            head[got] = '\0';
            if (strstr(head, "\r\n\r\n"))
                break;
        }
        char path[4096];
        snprintf(path, sizeof path, "%s/request.%d", dir, i);
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(head, 1, got, f) != got || fclose(f) != 0)
            fail("%s", path);
        if (send(c, answer, sizeof answer - 1, MSG_NOSIGNAL) != (ssize_t)sizeof answer - 1)
            fail("answer %d", i);
        close(c);
    }
    exit(0);
}

/* The call that carries MSG_FASTOPEN (CALL). */
enum { BY_SENDTO, BY_SENDMSG, BY_SENDMMSG };

/* The Fast Open call itself: buf's n bytes to sa, by the call CALL names. */
static ssize_t fast_open_send(int fd, int call, const char *buf, size_t n,
                              const struct sockaddr_in *sa)
{
    if (call == BY_SENDTO)
        return sendto(fd, buf, n, MSG_FASTOPEN | MSG_NOSIGNAL, (const struct sockaddr *)sa,
                      sizeof *sa);
    struct iovec iov = {(void *)buf, n};
    struct mmsghdr mm = {.msg_hdr = {.msg_name = (void *)sa,
                                     .msg_namelen = sizeof *sa,
                                     .msg_iov = &iov,
                                     .msg_iovlen = 1},
                         .msg_len = 0};
    if (call == BY_SENDMSG)
        return sendmsg(fd, &mm.msg_hdr, MSG_FASTOPEN | MSG_NOSIGNAL);
    int r = sendmmsg(fd, &mm, 1, MSG_FASTOPEN | MSG_NOSIGNAL);
    return r == 1 ? (ssize_t)mm.msg_len : r;
}

/* What a socket does after its first Fast Open call failed (",retry"). */
enum { RETRY_NONE, RETRY_FAST_OPEN, RETRY_CONNECT };

/* A port on 127.0.0.1 where nothing listens. */
static int closed_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = loopback(0);
    socklen_t len = sizeof sa;
    if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        getsockname(s, (struct sockaddr *)&sa, &len) != 0)
        fail("a closed port");
    close(s);
    return ntohs(sa.sin_port);
}

/* A listener on 127.0.0.1 whose accept queue is full (backlog 0, one
 * connection *filler waiting in it): a SYN to it is dropped, and sent
 * again about a second later. */
static int full_listener(int *port, int *filler)
{
    int l = listen_loopback(0, port);
    *filler = connect_loopback(*port, 0);
    if (*filler < 0)
        fail("a connection to fill the queue");
    return l;
}

/* A Fast Open call of buf's n bytes on fd to a closed port, which fails.
 * late (non-blocking): to a listener that drops the SYN and is closed
 * once the call is back, so that the refusal comes after the call. */
static void refused_first(int fd, int call, bool nonblock, bool late, const char *buf, size_t n)
{
    int filler = -1, full = late ? full_listener(&(int){0}, &filler) : -1;
    struct sockaddr_in dead = loopback(closed_port());
    if (late) {
        socklen_t len = sizeof dead;
        if (getsockname(full, (struct sockaddr *)&dead, &len) != 0)
            fail("the full listener's port");
    }
    if (fast_open_send(fd, call, buf, n, &dead) >= 0)
        fail("a Fast Open call to a closed port was taken");
    if (late) {
        if (errno != EINPROGRESS)
            fail("a Fast Open call to a full listener");
        close(full);
        close(filler);
    }
    if (nonblock && errno == EINPROGRESS) {
        struct pollfd p = {fd, POLLOUT, 0};
        int err = 0;
        socklen_t len = sizeof err;
        if (poll(&p, 1, 10000) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
            fail("the refused attempt's end");
        errno = err;
    }
    if (errno != ECONNREFUSED)
        fail("a Fast Open call to a closed port");
}

/* One GET on a connection opened by Fast Open; its status code, or -1.
 * *syn_data: whether the kernel put its first bytes in the SYN. */
static int get_by_fast_open(int port, int i, int call, bool nonblock, int retry, bool late,
                            bool again, int *syn_data)
{
    int fd = socket(AF_INET, SOCK_STREAM | (nonblock ? SOCK_NONBLOCK : 0), 0);
    if (fd < 0)
        fail("socket");
    char req[512];
    size_t n = (size_t)request_of(req, sizeof req, i, port);
    if (retry)
        refused_first(fd, call, nonblock, late, req, n);
    struct sockaddr_in sa = loopback(port);
    ssize_t r;
    if (retry == RETRY_CONNECT) {
        r = connect(fd, (struct sockaddr *)&sa, sizeof sa);
        if (r < 0 && nonblock && errno == ECONNABORTED)
            r = connect(fd, (struct sockaddr *)&sa, sizeof sa);
        if (r < 0 && !(nonblock && errno == EINPROGRESS))
            fail("GET %d: connect", i);
        r = 0;
    } else {
        r = fast_open_send(fd, call, req, n, &sa);
        if (r < 0 && retry && nonblock && errno == ECONNABORTED)
            r = fast_open_send(fd, call, req, n, &sa);
        if (r < 0 && !(nonblock && errno == EINPROGRESS))
            fail("GET %d: the Fast Open call", i);
    }
    size_t sent = r > 0 ? (size_t)r : 0;
    while (sent < n) { /* the rest once the connection takes it */
        struct pollfd p = {fd, POLLOUT, 0};
        if (poll(&p, 1, 10000) != 1)
            fail("GET %d: the socket never became writable", i);
        r = again ? fast_open_send(fd, call, req + sent, n - sent, &sa)
                  : send(fd, req + sent, n - sent, MSG_NOSIGNAL);
        if (r < 0 && errno != EAGAIN && errno != EALREADY)
            fail("GET %d: %s", i, again ? "the Fast Open call again" : "send");
        sent += r > 0 ? (size_t)r : 0;
    }
    if (nonblock && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0)
        fail("blocking again");
    char resp[1024];
    int status = recv_response(fd, resp, sizeof resp) < 0 ? -1 : http_status(resp);
    struct tcp_info info;
    socklen_t len = sizeof info;
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0)
        fail("TCP_INFO");
    *syn_data = (info.tcpi_options & TCPI_OPT_SYN_DATA) != 0;
    close(fd);
    return status;
}

int main(int argc, char **argv)
{
    if (argc != 5)
        fail("usage: fast_open_get sendto|sendmsg|sendmmsg "
             "block|nonblock[,own-net][,retry|,retry-connect][,late][,again] N DIR");
    int call = strcmp(argv[1], "sendto") == 0    ? BY_SENDTO
               : strcmp(argv[1], "sendmsg") == 0 ? BY_SENDMSG
                                                 : BY_SENDMMSG;
    bool nonblock = strncmp(argv[2], "nonblock", 8) == 0;
    int retry = strstr(argv[2], ",retry-connect") ? RETRY_CONNECT
                : strstr(argv[2], ",retry")       ? RETRY_FAST_OPEN
                                                  : RETRY_NONE;
    bool again = strstr(argv[2], ",again") != NULL;
    bool late = strstr(argv[2], ",late") != NULL;
    int n = atoi(argv[3]);
    if (strstr(argv[2], ",own-net"))
        own_network();
    int port;
    int listener = listen_loopback(16, &port);
    int qlen = 16;
    if (setsockopt(listener, IPPROTO_TCP, TCP_FASTOPEN, &qlen, sizeof qlen) != 0)
        fail("TCP_FASTOPEN on the listener");
    fflush(stdout);
    pid_t server = fork();
    if (server < 0)
        fail("fork");
    if (server == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* not left waiting when the client fails */
        serve(listener, n, argv[4]);
    }
    close(listener);
    int ok = 0;
    for (int i = 0; i < n; i++) {
        int syn_data = 0;
        int status = get_by_fast_open(port, i, call, nonblock, retry, late, again, &syn_data);
        printf("%d %d %d\n", i, status, syn_data);
        ok += status == 200;
    }
    int ws;
    if (waitpid(server, &ws, 0) != server || !WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
        fail("the server child");
    return ok == n ? 0 : 1;
}
