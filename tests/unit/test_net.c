/* test_net.c — the exporters' connect: loopback names and address literals
 * are never looked up, IPv4 is tried before IPv6, a refused port fails
 * fast, a name that resolves to nothing is said so, and the socket the
 * caller gets is close-on-exec, non-blocking and above stderr. */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "preload/clock.h"
#include "preload/real.h"
#include "reporter/net.h"

/* getaddrinfo, counted: the connects that must not look a name up. */
static unsigned lookups;

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res)
{
    int (*real)(const char *, const char *, const struct addrinfo *, struct addrinfo **) =
        (int (*)(const char *, const char *, const struct addrinfo *, struct addrinfo **))dlsym(
            RTLD_NEXT, "getaddrinfo");
    lookups++;
    if (node && strcmp(node, "collector.unresolvable.test") == 0)
        return EAI_NONAME; /* what the resolver answers a mistyped name, without asking it */
    return real(node, service, hints, res);
}

/* A listening socket on the loopback address of family af; its port. */
static int listen_on(int af, uint16_t *port)
{
    int fd = socket(af, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    if (af == AF_INET6) {
        int one = 1;
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
        if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0) {
            close(fd);
            return -1; /* no IPv6 loopback on this machine */
        }
        socklen_t len = sizeof a;
        getsockname(fd, (struct sockaddr *)&a, &len);
        *port = ntohs(a.sin6_port);
    } else {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
        socklen_t len = sizeof a;
        getsockname(fd, (struct sockaddr *)&a, &len);
        *port = ntohs(a.sin_port);
    }
    assert_int_equal(listen(fd, 4), 0);
    return fd;
}

/* The family of the peer the client socket is connected to. */
static int peer_family(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    assert_int_equal(getpeername(fd, (struct sockaddr *)&ss, &len), 0);
    return ss.ss_family;
}

/* Is Nagle's algorithm off on the TCP socket fd? (The exporters write each
 * request whole: net.c.) */
static bool tcp_nodelay(int fd)
{
    int on = 0;
    socklen_t len = sizeof on;
    assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &len), 0);
    return on != 0;
}

static void test_localhost_names_are_loopback_v4_first(void **state)
{
    (void)state;
    uint16_t port;
    int l = listen_on(AF_INET, &port);
    static const char *const names[] = {"localhost", "LOCALHOST", "localhost.", "api.localhost"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        struct ts_own_fd o;
        assert_int_equal(ts_net_connect(&o, names[i], port, SOCK_STREAM, ts_mono_ms() + 2000), 0);
        assert_int_equal(peer_family(o.fd), AF_INET);
        assert_true(o.fd > STDERR_FILENO);
        assert_true(fcntl(o.fd, F_GETFD) & FD_CLOEXEC);
        assert_true(fcntl(o.fd, F_GETFL) & O_NONBLOCK);
        assert_true(tcp_nodelay(o.fd));
        ts_own_fd_close(&o);
    }
    close(l);
}

static void test_localhost_falls_back_to_v6(void **state)
{
    (void)state;
    uint16_t port;
    int l = listen_on(AF_INET6, &port);
    if (l < 0)
        skip();
    struct ts_own_fd o;
    assert_int_equal(ts_net_connect(&o, "localhost", port, SOCK_STREAM, ts_mono_ms() + 2000), 0);
    assert_int_equal(peer_family(o.fd), AF_INET6);
    ts_own_fd_close(&o);
    close(l);
}

/* An address literal is connected to as it is: no lookup (which would
 * allocate: a flush for an _exit in a signal handler must not). */
static void test_address_literals_are_not_looked_up(void **state)
{
    (void)state;
    uint16_t port;
    int l = listen_on(AF_INET, &port);
    struct ts_own_fd o;
    lookups = 0;
    assert_int_equal(ts_net_connect(&o, "127.0.0.1", port, SOCK_STREAM, ts_mono_ms() + 2000), 0);
    assert_int_equal(peer_family(o.fd), AF_INET);
    assert_int_equal(lookups, 0);
    ts_own_fd_close(&o);
    close(l);
    l = listen_on(AF_INET6, &port);
    if (l < 0)
        return; /* no IPv6 loopback on this machine */
    assert_int_equal(ts_net_connect(&o, "::1", port, SOCK_STREAM, ts_mono_ms() + 2000), 0);
    assert_int_equal(peer_family(o.fd), AF_INET6);
    assert_true(tcp_nodelay(o.fd));
    assert_true(fcntl(o.fd, F_GETFD) & FD_CLOEXEC);
    assert_int_equal(lookups, 0);
    ts_own_fd_close(&o);
    close(l);
}

static void test_not_localhost_names(void **state)
{
    (void)state;
    uint16_t port;
    int l = listen_on(AF_INET, &port);
    struct ts_own_fd o;
    /* what is neither a loopback name nor a literal inet_pton reads
     * ("127.1", inet_aton's short form) goes through the resolver */
    lookups = 0;
    assert_int_equal(ts_net_connect(&o, "127.1", port, SOCK_STREAM, ts_mono_ms() + 2000), 0);
    assert_true(lookups > 0);
    ts_own_fd_close(&o);
    close(l);
    /* a refused port fails at once, on both loopback addresses */
    uint64_t t0 = ts_mono_ms();
    assert_int_equal(ts_net_connect(&o, "localhost", port, SOCK_STREAM, t0 + 5000), -1);
    assert_int_equal(errno, ECONNREFUSED);
    assert_true(ts_mono_ms() - t0 < 1000);
    assert_int_equal(o.fd, -1);
}

/* An IPv6 address with a zone: its scope id the interface's index, from
 * its name or as written; a zone that names no interface is said so. */
static void test_ipv6_zones(void **state)
{
    (void)state;
    unsigned lo = if_nametoindex("lo");
    assert_true(lo > 0);
    struct sockaddr_in6 sa;
    assert_true(ts_net_ipv6_literal("fe80::1%lo", 4318, &sa));
    assert_int_equal(sa.sin6_family, AF_INET6);
    assert_int_equal(ntohs(sa.sin6_port), 4318);
    assert_int_equal(sa.sin6_scope_id, lo);
    struct in6_addr want;
    assert_int_equal(inet_pton(AF_INET6, "fe80::1", &want), 1);
    assert_memory_equal(&sa.sin6_addr, &want, sizeof want);
    char by_index[32]; /* the same interface by its index */
    snprintf(by_index, sizeof by_index, "fe80::1%%%u", lo);
    assert_true(ts_net_ipv6_literal(by_index, 1, &sa));
    assert_int_equal(sa.sin6_scope_id, lo);
    assert_true(ts_net_ipv6_literal("fd00::1", 1, &sa)); /* not link-local: no zone needed */
    assert_int_equal(sa.sin6_scope_id, 0);
    if (lo == 1) {
        assert_true(ts_net_ipv6_literal("fe80::1%01", 1, &sa));
        assert_int_equal(sa.sin6_scope_id, 1);
    }
    /* names and indexes of no interface, each checked */
    static const char *const unknown[] = {"fe80::1%no-such-if0", "fe80::1%0", "fe80::1%999999",
                                          "fe80::1%4294967296", "fe80::1%99999999999999999999"};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        errno = 0;
        if (ts_net_ipv6_literal(unknown[i], 1, &sa) || errno != TS_NET_EUNKNOWNZONE)
            fail_msg("%s: scope %u, errno %d", unknown[i], sa.sin6_scope_id, errno);
    }
    /* a link-local address without one: no interface to send from */
    assert_false(ts_net_ipv6_literal("fe80::1", 1, &sa));
    assert_int_equal(errno, TS_NET_ENOZONE);
    assert_false(ts_net_ipv6_literal("fe80::zz%lo", 1, &sa));
    assert_int_equal(errno, EINVAL);
    assert_false(ts_net_ipv6_literal("fe80::1%", 1, &sa));
    assert_int_equal(errno, EINVAL);

    /* connected to without a lookup; and not at all with an unknown zone */
    struct ts_own_fd o;
    lookups = 0;
    uint64_t t0 = ts_mono_ms();
    assert_int_equal(ts_net_connect(&o, "fe80::1%no-such-if0", 4318, SOCK_STREAM, t0 + 2000), -1);
    assert_int_equal(errno, TS_NET_EUNKNOWNZONE);
    assert_int_equal(o.fd, -1);
    assert_int_equal(lookups, 0);
    assert_int_equal(ts_net_connect(&o, "fe80::1", 4318, SOCK_DGRAM, t0 + 2000), -1);
    assert_int_equal(errno, TS_NET_ENOZONE);
    assert_int_equal(lookups, 0);
    char buf[96];
    assert_string_equal(ts_net_strerror(TS_NET_EUNKNOWNZONE, buf, sizeof buf),
                        "the address's zone names no network interface here");
    assert_string_equal(ts_net_strerror(TS_NET_ENOZONE, buf, sizeof buf),
                        "a link-local address needs its zone, the interface (fe80::1%eth0)");
    uint16_t port;
    int l = listen_on(AF_INET6, &port);
    if (l < 0)
        skip(); /* no IPv6 loopback on this machine */
    static const char *const zoned[] = {"::1%lo", "::1%1"};
    for (size_t i = 0; i < sizeof zoned / sizeof zoned[0]; i++) {
        if (i == 1 && lo != 1)
            continue;
        assert_int_equal(ts_net_connect(&o, zoned[i], port, SOCK_STREAM, ts_mono_ms() + 2000), 0);
        assert_int_equal(peer_family(o.fd), AF_INET6);
        ts_own_fd_close(&o);
    }
    assert_int_equal(lookups, 0);
    close(l);
}

/* A name that resolves to nothing is said so (it read "No route to host"). */
static void test_unresolved_name(void **state)
{
    (void)state;
    struct ts_own_fd o;
    assert_int_equal(
        ts_net_connect(&o, "collector.unresolvable.test", 4318, SOCK_STREAM, ts_mono_ms() + 2000),
        -1);
    assert_int_equal(errno, TS_NET_EUNRESOLVED);
    assert_int_equal(o.fd, -1);
    char buf[96];
    assert_string_equal(ts_net_strerror(TS_NET_EUNRESOLVED, buf, sizeof buf),
                        "the host name does not resolve");
    assert_string_equal(ts_net_strerror(ECONNREFUSED, buf, sizeof buf), "Connection refused");
}

int main(void)
{
    ts_real_resolve();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_localhost_names_are_loopback_v4_first),
        cmocka_unit_test(test_localhost_falls_back_to_v6),
        cmocka_unit_test(test_address_literals_are_not_looked_up),
        cmocka_unit_test(test_not_localhost_names),
        cmocka_unit_test(test_unresolved_name),
        cmocka_unit_test(test_ipv6_zones),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
