/* net.h — the shim's own sockets to its backends: name resolution and a
 * connect that never waits past a deadline. Every socket is O_CLOEXEC,
 * non-blocking and held as a ts_own_fd, and every call goes to libc
 * through the real-symbol table, so nothing here is ever traced. */
#ifndef TS_NET_H
#define TS_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <netinet/in.h>

#include "own_fd.h"

/* ts_net_connect's errno for a host name that resolves to no address: no
 * errno says that (EHOSTUNREACH read "No route to host" for a mistyped
 * collector's name). Outside the kernel's range; ts_net_strerror words it. */
#define TS_NET_EUNRESOLVED 4096
/* ts_net_connect's errno for an IPv6 address whose zone ("fe80::1%eth0")
 * names no network interface of this machine (connect would have said
 * "Invalid argument"). */
#define TS_NET_EUNKNOWNZONE 4097
/* ts_net_connect's errno for a link-local IPv6 address without a zone,
 * which no interface is chosen for ("Invalid argument" from connect). */
#define TS_NET_ENOZONE 4098

/* err as strerror_r words it, or the words of the errnos above; in buf. */
const char *ts_net_strerror(int err, char *buf, size_t cap);

/* Connect a socket of type (SOCK_STREAM or SOCK_DGRAM) to host:port, trying
 * each address the name resolves to, until deadline_ms (ts_mono_ms clock).
 * "localhost" (and "*.localhost") is 127.0.0.1, then ::1, and an address
 * literal is itself, without a lookup (and without allocating); an IPv6
 * one may have a zone after '%', an interface's name or index.
 * Returns 0, or -1 with errno set (ETIMEDOUT when the deadline passed,
 * TS_NET_EUNRESOLVED when the name resolves to no address,
 * TS_NET_EUNKNOWNZONE when a zone names no interface, TS_NET_ENOZONE for
 * a link-local address without one). */
int ts_net_connect(struct ts_own_fd *out, const char *host, uint16_t port, int type,
                   uint64_t deadline_ms);

/* The IPv6 address literal text, perhaps with a zone after '%' (an
 * interface's name, or its index in decimal), as a socket address with
 * port; its scope id the zone's interface index. Returns false when text
 * is not such an address (errno EINVAL), its zone names no interface
 * (TS_NET_EUNKNOWNZONE; another errno when the interfaces could not be
 * asked), or it is link-local without a zone (TS_NET_ENOZONE). No lookup,
 * no allocation. */
bool ts_net_ipv6_literal(const char *text, uint16_t port, struct sockaddr_in6 *out);

/* Wait until fd is readable (events POLLIN) or writable (POLLOUT), at most
 * until deadline_ms. Returns 0 when ready, -1 with errno (ETIMEDOUT). */
int ts_net_wait(int fd, short events, uint64_t deadline_ms);

#endif
