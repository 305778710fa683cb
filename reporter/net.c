/* net.c — see net.h. */
#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "../preload/ascii.h"
#include "../preload/clock.h"
#include "../preload/real.h"

int ts_net_wait(int fd, short events, uint64_t deadline_ms)
{
    for (;;) {
        uint64_t now = ts_mono_ms();
        if (now >= deadline_ms) {
            errno = ETIMEDOUT;
            return -1;
        }
        uint64_t left = deadline_ms - now;
        struct pollfd p = {.fd = fd, .events = events};
        int r = poll(&p, 1, left > 60000 ? 60000 : (int)left);
        if (r > 0)
            return 0; /* readable, writable, or an error the next call reports */
        if (r < 0 && errno != EINTR)
            return -1;
    }
}

/* A non-blocking connect to one address, finished within the deadline. */
static int net_connect_one(const struct addrinfo *ai, uint64_t deadline_ms, struct ts_own_fd *out)
{
    int fd = TS_REAL(socket)(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                             ai->ai_protocol);
    if (fd < 0)
        return -1;
    if (ts_own_fd_adopt(out, fd) != 0)
        return -1;
    fd = out->fd;
    if (!ts_own_fd_begin(out))
        return -1; /* the program took the number already */
    if (ai->ai_socktype == SOCK_STREAM) {
        /* Each request is written whole, so Nagle's algorithm never saves
         * a segment here; it only holds back the tail of a request the
         * send buffer did not take at once until the receiver acknowledges
         * what went before, which a delayed ACK puts off by 40 ms or more
         * (curl and Go's net/http turn it off too). At 250,000 spans a
         * second that is 10,000 spans, five queues' worth: likely what
         * dropped about that many at once now and then in the bench
         * (bench/PROFILE.md, session 37). A refusal leaves the socket
         * as it was. */
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    int r = TS_REAL(connect)(fd, ai->ai_addr, ai->ai_addrlen);
    ts_own_fd_end(out);
    if (r == 0)
        return 0;
    if (errno != EINPROGRESS && errno != EINTR)
        goto fail;
    if (ts_net_wait(fd, POLLOUT, deadline_ms) != 0)
        goto fail;
    int soerr = 0;
    socklen_t len = sizeof soerr;
    if (!ts_own_fd_begin(out))
        return -1;
    r = getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
    ts_own_fd_end(out);
    if (r != 0)
        goto fail;
    if (soerr == 0)
        return 0;
    errno = soerr;
fail:;
    int err = errno;
    ts_own_fd_close(out);
    errno = err;
    return -1;
}

/* "localhost" and "*.localhost" are the loopback addresses (RFC 6761), as
 * curl and Go resolve them: never looked up, so a missing /etc/hosts or a
 * DNS server that answers for "localhost" cannot send spans elsewhere, and
 * the default endpoints cost no lookup. IPv4 first: local agents and
 * collectors most often listen there. */
static bool net_is_localhost(const char *host)
{
    size_t n = strlen(host);
    while (n && host[n - 1] == '.')
        n--; /* "localhost." is the same name */
    static const char name[] = "localhost";
    size_t k = sizeof name - 1;
    if (n < k || !ts_ascii_eq_nocase(host + n - k, k, name))
        return false;
    return n == k || host[n - k - 1] == '.';
}

/* Connect to each address of the list in turn (stopping at a timeout). */
static int net_connect_list(const struct addrinfo *list, uint64_t deadline_ms,
                            struct ts_own_fd *out, int err)
{
    for (const struct addrinfo *ai = list; ai; ai = ai->ai_next) {
        if (net_connect_one(ai, deadline_ms, out) == 0)
            return 0;
        err = errno;
        if (err == ETIMEDOUT)
            break;
    }
    errno = err;
    return -1;
}

bool ts_net_ipv6_literal(const char *text, uint16_t port, struct sockaddr_in6 *out)
{
    *out = (struct sockaddr_in6){.sin6_family = AF_INET6, .sin6_port = htons(port)};
    const char *zone = strchr(text, '%');
    char addr[INET6_ADDRSTRLEN];
    size_t addr_len = zone ? (size_t)(zone - text) : strlen(text);
    if (addr_len >= sizeof addr || (zone && !zone[1])) {
        errno = EINVAL;
        return false;
    }
    memcpy(addr, text, addr_len);
    addr[addr_len] = '\0';
    if (inet_pton(AF_INET6, addr, &out->sin6_addr) != 1) {
        errno = EINVAL;
        return false;
    }
    if (!zone) {
        if (IN6_IS_ADDR_LINKLOCAL(&out->sin6_addr)) {
            errno = TS_NET_ENOZONE; /* connect's word for it: "Invalid argument" */
            return false;
        }
        return true;
    }
    zone++;
    /* an index as written (what `ip -6 route` shows as "dev 2"), else an
     * interface's name: each checked with an ioctl on a socket of glibc's
     * own (no lookup, no allocation) */
    char *end, name[IF_NAMESIZE];
    errno = 0;
    unsigned long index = strtoul(zone, &end, 10);
    if (zone[0] >= '0' && zone[0] <= '9' && *end == '\0') {
        if (errno || index > UINT32_MAX)
            errno = ENXIO; /* no interface has that index */
        else if (if_indextoname((unsigned)index, name))
            out->sin6_scope_id = (uint32_t)index;
    } else {
        out->sin6_scope_id = if_nametoindex(zone);
    }
    if (out->sin6_scope_id == 0) {
        /* ENODEV, ENXIO: no such interface; else the socket or the ioctl
         * failed (no descriptor left, a seccomp filter), said as it is */
        if (errno == ENODEV || errno == ENXIO || errno == 0)
            errno = TS_NET_EUNKNOWNZONE;
        return false;
    }
    return true;
}

/* host:port without a lookup when host is "localhost" (127.0.0.1, then
 * ::1) or an address literal: 1 when that was tried (its result in *rc),
 * 0 when host is a name to look up. No allocation: the reporter thread's
 * flush for an _exit in a signal handler may find the allocator locked
 * (exporters.h ts_exp_prepare). */
static int net_connect_without_lookup(struct ts_own_fd *out, const char *host, uint16_t port,
                                      int type, uint64_t deadline_ms, int *rc)
{
    struct sockaddr_in v4 = {.sin_family = AF_INET, .sin_port = htons(port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct sockaddr_in6 v6 = {.sin6_family = AF_INET6, .sin6_port = htons(port),
                              .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    struct addrinfo a6 = {.ai_family = AF_INET6, .ai_socktype = type,
                          .ai_addr = (struct sockaddr *)&v6, .ai_addrlen = sizeof v6};
    struct addrinfo a4 = {.ai_family = AF_INET, .ai_socktype = type,
                          .ai_addr = (struct sockaddr *)&v4, .ai_addrlen = sizeof v4};
    const struct addrinfo *list;
    if (net_is_localhost(host)) {
        a4.ai_next = &a6;
        list = &a4;
    } else if (inet_pton(AF_INET, host, &v4.sin_addr) == 1) {
        list = &a4;
    } else if (strchr(host, ':')) { /* IPv6, perhaps with a zone: no lookup either */
        if (!ts_net_ipv6_literal(host, port, &v6)) {
            if (errno == EINVAL)
                return 0; /* not an address after all: the lookup says what it is */
            *rc = -1;
            return 1;
        }
        list = &a6;
    } else {
        return 0;
    }
    *rc = net_connect_list(list, deadline_ms, out, ECONNREFUSED);
    return 1;
}

const char *ts_net_strerror(int err, char *buf, size_t cap)
{
    if (err == TS_NET_EUNRESOLVED) {
        snprintf(buf, cap, "the host name does not resolve");
        return buf;
    }
    if (err == TS_NET_EUNKNOWNZONE) {
        snprintf(buf, cap, "the address's zone names no network interface here");
        return buf;
    }
    if (err == TS_NET_ENOZONE) {
        snprintf(buf, cap, "a link-local address needs its zone, the interface (fe80::1%%eth0)");
        return buf;
    }
    return strerror_r(err, buf, cap);
}

int ts_net_connect(struct ts_own_fd *out, const char *host, uint16_t port, int type,
                   uint64_t deadline_ms)
{
    *out = (struct ts_own_fd)TS_OWN_FD_NONE; /* the caller let go of any earlier one */
    int rc;
    if (net_connect_without_lookup(out, host, port, type, deadline_ms, &rc))
        return rc;
    char service[8];
    snprintf(service, sizeof service, "%u", (unsigned)port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = type,
                             .ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG};
    struct addrinfo *res = NULL;
    rc = getaddrinfo(host, service, &hints, &res);
    if (rc == EAI_NONAME || rc == EAI_ADDRFAMILY || rc == EAI_FAIL) {
        /* AI_ADDRCONFIG hides loopback-only families on a machine with no
         * other interface: ask again without it. */
        hints.ai_flags = AI_NUMERICSERV;
        rc = getaddrinfo(host, service, &hints, &res);
    }
    if (rc != 0) {
        errno = rc == EAI_SYSTEM ? errno : TS_NET_EUNRESOLVED;
        return -1;
    }
    rc = net_connect_list(res, deadline_ms, out, EHOSTUNREACH);
    int err = errno;
    freeaddrinfo(res);
    errno = err;
    return rc;
}
