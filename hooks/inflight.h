/* inflight.h — the server spans this process is serving right now, found
 * by the trace context their requests carried.
 *
 * A proxy (nginx proxy_pass, haproxy) forwards the trace headers it
 * received. When an outgoing request carries the context of a request the
 * process is serving, that request's server span is the client span's
 * parent: exact even on an event loop serving hundreds of requests on one
 * thread, where "the thread's current server span" is only a guess.
 *
 * Entries live inside the caller's span records (no allocation here); a
 * lock per bucket, held only to link, unlink or copy a context. */
#ifndef TS_INFLIGHT_H
#define TS_INFLIGHT_H

#include <stdbool.h>
#include <stdint.h>

#include "../preload/context.h"

struct ts_inflight {
    struct ts_inflight *next;
    struct ts_ctx inbound; /* what the request carried (trace id, span id) */
    struct ts_ctx server;  /* the server span's own context */
    bool linked;
};

/* Register e (its inbound and server contexts filled in). */
void ts_inflight_add(struct ts_inflight *e);

/* Unregister e; harmless when it was never added. */
void ts_inflight_remove(struct ts_inflight *e);

/* The server span whose request carried fwd's trace id and span id: its
 * context goes to *server, and the decision the request carried to
 * *inbound_sampling (unless NULL). When several match (a client that sends
 * the same headers on concurrent requests), the one whose span is mine
 * (the calling thread's current one, NULL or invalid: none) wins, else the
 * one started last. */
bool ts_inflight_find(const struct ts_ctx *fwd, const struct ts_ctx *mine, struct ts_ctx *server,
                      uint8_t *inbound_sampling);

/* In a forked child: a lock may have been held by a thread that is gone. */
void ts_inflight_after_fork(void);

#endif
