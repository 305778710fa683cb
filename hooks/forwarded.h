/* forwarded.h — what a request that came through proxies says of its
 * client: the Forwarded header (RFC 7239) and the de facto
 * X-Forwarded-For and X-Forwarded-Proto. The OpenTelemetry HTTP
 * conventions take a server span's client.address and url.scheme from
 * them when they are there: behind a load balancer the connection's peer
 * is the balancer. Pure functions over the header values; nothing is
 * copied. */
#ifndef TS_FORWARDED_H
#define TS_FORWARDED_H

#include <stdbool.h>
#include <stddef.h>

/* The client a Forwarded header value v[0..n) names: the "for" parameter
 * of its first element, as an address (quotes, an IPv6 address's
 * brackets and a port taken off). False when that element has none, or
 * names no address ("unknown", an obfuscated "_name", a malformed
 * value): the connection's peer then stands, and *addr and *len are left
 * as they were (so for ts_x_forwarded_for). */
bool ts_forwarded_for(const char *v, size_t n, const char **addr, size_t *len);

/* The "proto" parameter of the first element of a Forwarded value:
 * "http" or "https" (any case; the result is the literal, lower case).
 * NULL when it has none or another. */
const char *ts_forwarded_proto(const char *v, size_t n);

/* The first address of an X-Forwarded-For value ("client, proxy1, ..."),
 * as ts_forwarded_for takes it off (a port, brackets); false when it is
 * no address. */
bool ts_x_forwarded_for(const char *v, size_t n, const char **addr, size_t *len);

/* An X-Forwarded-Proto value's scheme ("https", or its first entry of a
 * list): "http" or "https", else NULL. */
const char *ts_x_forwarded_proto(const char *v, size_t n);

#endif
