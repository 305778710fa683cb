/* net.h — the shim's own sockets to its backends: name resolution and a
 * connect that never waits past a deadline. Every socket is O_CLOEXEC,
 * non-blocking and held as a ts_own_fd, and every call goes to libc
 * through the real-symbol table, so nothing here is ever traced. */
#ifndef TS_NET_H
#define TS_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "own_fd.h"

/* ts_net_connect's errno for a host name that resolves to no address: no
 * errno says that (EHOSTUNREACH read "No route to host" for a mistyped
 * collector's name). Outside the kernel's range; ts_net_strerror words it. */
#define TS_NET_EUNRESOLVED 4096

/* err as strerror_r words it, or TS_NET_EUNRESOLVED's words; in buf. */
const char *ts_net_strerror(int err, char *buf, size_t cap);

/* Connect a socket of type (SOCK_STREAM or SOCK_DGRAM) to host:port, trying
 * each address the name resolves to, until deadline_ms (ts_mono_ms clock).
 * "localhost" (and "*.localhost") is 127.0.0.1, then ::1, and an address
 * literal is itself, without a lookup (and without allocating).
 * Returns 0, or -1 with errno set (ETIMEDOUT when the deadline passed,
 * TS_NET_EUNRESOLVED when the name resolves to no address). */
int ts_net_connect(struct ts_own_fd *out, const char *host, uint16_t port, int type,
                   uint64_t deadline_ms);

/* Wait until fd is readable (events POLLIN) or writable (POLLOUT), at most
 * until deadline_ms. Returns 0 when ready, -1 with errno (ETIMEDOUT). */
int ts_net_wait(int fd, short events, uint64_t deadline_ms);

#endif
