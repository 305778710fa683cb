/* rules.h — the operator's rules (PCRE2), read once at start-up:
 *
 *   TRACESHIM_INJECT_TO     where trace headers go (default: everywhere)
 *   TRACESHIM_NO_INJECT_TO  where they never go (wins over INJECT_TO)
 *   TRACESHIM_ROUTES        REGEX=TEMPLATE rules: request path -> http.route
 *   TRACESHIM_IGNORE        "METHOD /path" of requests never traced
 *
 * Lists are comma-separated; "\," is a comma inside a rule (README.md,
 * "Rules"). A bad list costs one line on stderr and that feature's safe
 * default. A match takes no memory from malloc: it runs on one of a few
 * slots made at load (see rules.c). */
#ifndef TS_RULES_H
#define TS_RULES_H

#include <stdbool.h>
#include <stddef.h>

#include "../preload/config.h"

/* Largest route ts_rules_route writes (bytes, with its NUL). */
#define TS_ROUTE_MAX 256

/* Compile the rules from the environment (replacing any loaded before).
 * Returns the number of variables rejected. */
int ts_rules_load(ts_env_lookup_fn get);

/* In a forked child: the slots that matches on the parent's other threads
 * held are free again. */
void ts_rules_after_fork(void);

/* Whether trace headers go into a request to this destination: host is
 * the Host header's value (NULL when absent; without a port it is matched
 * as host:default_port, the scheme's: 80 for http, 443 for https),
 * peer_ip:port the connected address (a Unix-domain socket's path alone,
 * peer_port 0). A rule matching either counts. */
bool ts_rules_should_inject(const char *host, size_t host_len, int default_port,
                            const char *peer_ip, int peer_port);

/* The route of a request path (no query): the first matching
 * TRACESHIM_ROUTES rule's template, else the path with numeric, UUID and
 * long hex segments collapsed ({id}, {uuid}, {hex}). Writes at most cap-1
 * bytes and a NUL into out; returns the route's length. */
size_t ts_rules_route(const char *path, size_t len, char *out, size_t cap);

/* Whether "METHOD /path" matches a TRACESHIM_IGNORE rule. */
bool ts_rules_ignored(const char *method, size_t method_len, const char *path, size_t path_len);

#endif
