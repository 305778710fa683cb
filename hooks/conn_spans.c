/* conn_spans.c — spans from HTTP request heads: which span is the parent,
 * the attributes of the OpenTelemetry HTTP conventions, and the end.
 *
 * Parents, in order: the context a server's request carried; for a client
 * request, the server span whose context the request forwards (a proxy),
 * else the context the program wrote itself, else the thread's current
 * server span, else the context the process inherited (TRACEPARENT).
 *
 * A server span whose context came with a W3C traceparent keeps the
 * request's tracestate, and a client span that is the child of that span
 * as the thread's current one, and that carries the traceparent the shim
 * writes, carries the tracestate too (trace-context §3.3: whoever passes a
 * traceparent on passes its tracestate on). */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "../preload/ascii.h"
#include "../preload/blocks.h"
#include "../preload/clock.h"
#include "../preload/config.h"
#include "../preload/context.h"
#include "../preload/cut_text.h"
#include "../preload/fork_state.h"
#include "../preload/ids.h"
#include "../preload/process.h"
#include "../preload/stacks.h"
#include "../preload/stats.h"
#include "../preload/url.h"
#include "../reporter/reporter.h"
#include "../reporter/sampler.h"
#include "conn_internal.h"
#include "forwarded.h"
#include "propagation.h"
#include "rules.h"
#include "span_link.h"
#include "trust.h"
#include "url_redact.h"

/* Span records come from blocks, not malloc: they are made and ended inside
 * traced calls, which may run in a signal handler (preload/blocks.h).
 * Nearly always the thread that starts a span ends it, and a thread has
 * one or two in flight (a proxy: its server span and its client span):
 * each thread keeps two free ones, got and given back without a lock. A
 * finished span's block is mostly handed to the reporter as it is and
 * comes back from it (ts_rep_reuse_block, also without a lock); the
 * thread's own cache keeps those the reporter copied, and discarded ones. */
static struct ts_block_pool pending_blocks TS_FORK_STATE =
    TS_BLOCK_POOL_INIT_CACHED(sizeof(struct pending), 2);
_Static_assert(offsetof(struct pending, span) == 0,
               "a span handed to ts_rep_submit_block starts its block");

/* A server span's tracestate (struct pending's), in a block of its own:
 * taken only for a request that carries one, so the span records of all
 * the others stay as small as they were. */
struct conn_tracestate {
    uint16_t len;
    char value[TS_TRACESTATE_MAX];
};
static struct ts_block_pool tracestate_blocks TS_FORK_STATE =
    TS_BLOCK_POOL_INIT(sizeof(struct conn_tracestate));

/* The tracestate of the server span the thread serves (ts_ctx_current_),
 * copied when that span becomes current: a client span must not read the
 * span's own block, which the thread that ends the span gives back, maybe
 * while this one sends. Whose it is (span_id) is checked when it is used,
 * so it is never passed on in another span's trace. */
struct serving_tracestate {
    uint8_t span_id[TS_SPAN_ID_LEN];
    uint16_t len; /* 0: the current span has none */
    char value[TS_TRACESTATE_MAX];
};
static __thread struct serving_tracestate serving_tracestate
    __attribute__((tls_model("initial-exec")));

TS_FORK_HANDLER void conn_spans_fork_prepare(void)
{
    ts_block_pool_fork_prepare(&pending_blocks);
    ts_block_pool_fork_prepare(&tracestate_blocks);
}

TS_FORK_HANDLER void conn_spans_fork_parent(void)
{
    ts_block_pool_fork_parent(&tracestate_blocks);
    ts_block_pool_fork_parent(&pending_blocks);
}

TS_FORK_HANDLER void conn_spans_after_fork(void)
{
    ts_block_pool_after_fork(&pending_blocks);
    ts_block_pool_after_fork(&tracestate_blocks);
}

/* Give a span's tracestate block back. Out of line: nearly no span has
 * one, and its callers then only test the pointer. */
static __attribute__((noinline)) void tracestate_drop(struct pending *p)
{
    ts_block_put(&tracestate_blocks, p->tracestate);
    __atomic_store_n(&p->tracestate, NULL, __ATOMIC_RELAXED); /* see conn_span_serve */
}

/* TRACESHIM_IGNORE: an ignored request queues one of these stand-ins
 * (read-only, shared) so its response still pairs with it and is framed
 * by its method; ending or discarding one does nothing. */
static struct pending ignored_spans[] = {
    {.method = "GET", .method_len = 3},
    {.method = "HEAD", .method_len = 4},
    {.method = "CONNECT", .method_len = 7},
};

static bool is_ignored_span(const struct pending *p)
{
    return p >= ignored_spans && p < ignored_spans + sizeof ignored_spans / sizeof *ignored_spans;
}

/* What a span needs of a request head besides its fields, worked out
 * once: the target's path (for IGNORE, the route, url.path) and the
 * headers that become attributes (noted by the parser; one pass over the
 * headers for a head built otherwise). */
struct req_view {
    const struct ts_http_request *req;
    const char *path;
    size_t path_len;
    const struct ts_http_header *host, *user_agent;
    /* Proxies on the way said something of the client: a Forwarded or an
     * X-Forwarded-For or -Proto header (proxied_client). */
    bool proxied;
    /* A CONNECT, whose target is an authority ("host:port"), no path: its
     * span is named by the method alone, without http.route or url.path
     * (a proxy's spans would otherwise be as many names as the hosts it
     * reaches). TRACESHIM_IGNORE still sees the authority as its path. */
    bool connect;
};

/* The notes of the headers proxies add (struct req_view's proxied). */
#define PROXY_NOTES                                                                                \
    ((1u << TS_HTTP_NOTE_FORWARDED) | (1u << TS_HTTP_NOTE_X_FORWARDED_FOR) |                       \
     (1u << TS_HTTP_NOTE_X_FORWARDED_PROTO))

/* req_view_init's headers for a head whose parser noted none (one built
 * by hand): each header looked at. */
static __attribute__((noinline)) void req_view_headers(struct req_view *v,
                                                       const struct ts_http_request *req)
{
    v->host = v->user_agent = NULL;
    v->proxied = false;
    for (size_t i = req->num_headers; i-- > 0;) { /* backwards: the first of each name stays */
        const struct ts_http_header *h = &req->headers[i];
        if (TS_HTTP_NAMED(h, "host"))
            v->host = h;
        else if (TS_HTTP_NAMED(h, "user-agent"))
            v->user_agent = h;
        else if (TS_HTTP_NAMED(h, "forwarded") || TS_HTTP_NAMED(h, "x-forwarded-for") ||
                 TS_HTTP_NAMED(h, "x-forwarded-proto"))
            v->proxied = true;
    }
}

/* Forced inline: every span starts here, and the view's fields then stay
 * in the caller's registers. */
static inline __attribute__((always_inline)) void req_view_init(struct req_view *v,
                                                                const struct ts_http_request *req)
{
    v->req = req;
    v->path = ts_http_target_path(req->target, req->target_len, &v->path_len);
    v->connect = ts_http_is_connect(req->method, req->method_len);
    const struct ts_http_noted *nt = &req->noted;
    if (ts_http_notes_hold(nt, req->headers, req->num_headers)) { /* the parser found them */
        v->host = TS_HTTP_NOTED(nt, TS_HTTP_NOTE_HOST);
        v->user_agent = TS_HTTP_NOTED(nt, TS_HTTP_NOTE_USER_AGENT);
        v->proxied = nt->seen & PROXY_NOTES;
        return;
    }
    req_view_headers(v, req);
}

/* Where the target's query starts (its first '?'), or NULL. A path the
 * parser scanned for its end, in an origin-form target ("/p?q") or an
 * absolute-form one with a path ("http://h/p?q": its scheme and authority
 * hold no '?', the authority ends at the first), ends at the target's
 * first '?' or '#', or at its end: only a '#' there needs the search (a
 * '?' after it still counts, "/a#b?c"). Other forms ("*", "host:port", an
 * absolute form without a path, whose path is "/") are searched. */
static const char *target_query(const struct req_view *v)
{
    const struct ts_http_request *req = v->req;
    uintptr_t target = (uintptr_t)req->target, end = target + req->target_len;
    uintptr_t path = (uintptr_t)v->path;
    bool scanned = req->target_len && (req->target[0] == '/' || (path > target && path < end));
    if (scanned) {
        const char *path_end = v->path + v->path_len;
        if ((uintptr_t)path_end == end)
            return NULL;
        if (*path_end == '?')
            return path_end;
    }
    return memchr(req->target, '?', req->target_len);
}

/* The stand-in for an ignored request of this method. */
static struct pending *ignored_stand_in(const char *method, size_t method_len)
{
    for (size_t i = 1; i < sizeof ignored_spans / sizeof *ignored_spans; i++)
        if (method_len == ignored_spans[i].method_len &&
            memcmp(method, ignored_spans[i].method, method_len) == 0)
            return &ignored_spans[i];
    return &ignored_spans[0];
}

/* Is this an exporter's request of a shim (its User-Agent, see
 * reporter/http_client.c)? A collector, a Zipkin server or a gateway
 * that is itself traced would otherwise make spans of every batch it
 * receives or passes on, export them, receive them, and so on forever. */
static inline bool shim_export_request(const struct req_view *v)
{
    static const char agent[] = "traceshim/";
    const struct ts_http_header *ua = v->user_agent;
    /* the first byte alone rules out nearly every other agent */
    return __builtin_expect(ua != NULL && ua->value_len >= sizeof agent - 1 &&
                                ua->value[0] == 't' &&
                                memcmp(ua->value, agent, sizeof agent - 1) == 0,
                            0);
}

/* The stand-in for the request when TRACESHIM_IGNORE matches it or it is
 * a shim's export, else NULL. Inline: nearly always there are no rules,
 * and the answer is the one call. */
static inline struct pending *ignored_span(const struct req_view *v)
{
    const struct ts_http_request *req = v->req;
    if (!ts_rules_ignored(req->method, req->method_len, v->path, v->path_len) &&
        !shim_export_request(v))
        return NULL;
    return ignored_stand_in(req->method, req->method_len);
}

/* A span whose connection failed before its response was complete. Out
 * of line, as it is rare: conn_span_finish then saves fewer registers. An
 * error status answer already said what went wrong (error.type is its
 * code): the span keeps that. */
static __attribute__((noinline)) void span_failed(struct ts_span *s, const char *error_type)
{
    if (s->status == TS_STATUS_ERROR)
        return;
    s->status = TS_STATUS_ERROR;
    ts_span_attr_cstr(s, "error.type", error_type);
}

/* An answer whose status code is an error: error.type is the code, as a
 * string (the OpenTelemetry HTTP conventions). Out of line: rare. */
static __attribute__((noinline)) void span_error_status(struct ts_span *s, int status)
{
    s->status = TS_STATUS_ERROR;
    char code[20], *end = code + sizeof code;
    const char *first = ts_ascii_decimal_before(end, (unsigned)status);
    ts_span_attr_str(s, "error.type", first, (size_t)(end - first));
}

/* Give p's record back, the span never ended. */
static void span_forget(struct pending *p)
{
    ts_inflight_remove(&p->inflight);
    if (p->tracestate)
        tracestate_drop(p);
    ts_block_put(&pending_blocks, p);
}

/* End a span and hand it to the reporter. error_type, when given, marks a
 * connection that failed before the response was complete. */
static void span_finish(struct pending *p, const char *error_type, uint64_t end)
{
    if (is_ignored_span(p))
        return;
    if (p->owner != ts_proc.pid) { /* the parent's, inherited by fork: it ends it */
        span_forget(p);              /* (a child counts from zero: not its start) */
        return;
    }
    p->span.end_ns = ts_wall_end_ns(p->span.start_ns, p->start_moment, end);
    ts_stacks_at_end(&p->span);
    if (error_type && p->span.sampled)
        span_failed(&p->span, error_type);
    if (p->span.kind == TS_KIND_SERVER)
        ts_ctx_clear_current(p->span.span_id);
    ts_inflight_remove(&p->inflight);
    if (p->tracestate)
        tracestate_drop(p);
    /* The reporter may take the block as it is (no copy of the span); it
     * then comes back to pending_new through ts_rep_reuse_block. */
    if (!ts_rep_submit_block(&p->span, &pending_blocks))
        ts_block_put(&pending_blocks, p);
}

void conn_span_finish(struct pending *p, const char *error_type)
{
    span_finish(p, error_type, ts_moment_ns());
}

void conn_span_finish_at(struct pending *p, uint64_t end)
{
    span_finish(p, NULL, end);
}

void conn_span_finish_unfollowed(struct pending *p)
{
    if (p->span.sampled && !is_ignored_span(p))
        ts_span_attr_bool(&p->span, "traceshim.response_unseen", true);
    conn_span_finish(p, NULL);
}

/* The thread's copy of the tracestate ts of p, which becomes current. */
static __attribute__((noinline)) void serve_tracestate(const struct pending *p,
                                                       const struct conn_tracestate *ts)
{
    struct serving_tracestate *st = &serving_tracestate;
    memcpy(st->span_id, p->span.span_id, TS_SPAN_ID_LEN);
    memcpy(st->value, ts->value, ts->len);
    st->len = ts->len;
}

void conn_span_serve(const struct pending *p)
{
    if (is_ignored_span(p))
        return;
    ts_ctx_set_current(&p->inflight.server);
    /* Read once: a thread that answers the request at once may finish p
     * meanwhile, and the pointer goes back to NULL (its block to its pool,
     * whose memory stays mapped). */
    const struct conn_tracestate *ts = __atomic_load_n(&p->tracestate, __ATOMIC_RELAXED);
    if (__builtin_expect(ts != NULL, 0))
        serve_tracestate(p, ts);
    else
        serving_tracestate.len = 0;
}

void conn_span_discard(struct pending *p)
{
    if (!p || is_ignored_span(p))
        return;
    /* Its start is taken back: the request goes out untraced, or is sent
     * again and starts a span of its own (counted then), and spans_started
     * stays the count of spans that end. */
    ts_stats_take_back(TS_STAT_SPANS_STARTED);
    span_forget(p);
}

void conn_span_began_at(struct pending *p, uint64_t start)
{
    if (is_ignored_span(p)) /* a stand-in is shared and read-only */
        return;
    p->span.start_ns += start - p->start_moment; /* (modulo 2^64: earlier moves it back) */
    p->start_moment = start;
}

/* The status code's verdict, per the OpenTelemetry HTTP conventions. */
void conn_span_set_status(struct pending *p, int status)
{
    if (is_ignored_span(p) || !p->span.sampled) /* unsampled: never read (pending_named) */
        return;
    ts_span_attr_int(&p->span, "http.response.status_code", status);
    int limit = p->span.kind == TS_KIND_SERVER ? 500 : 400;
    if (status >= limit)
        span_error_status(&p->span, status);
}

void conn_span_mark_fastcgi(struct pending *p)
{
    if (!is_ignored_span(p) && p->span.sampled)
        ts_span_attr_cstr(&p->span, "network.protocol.name", "fastcgi");
}

void conn_span_set_tls_version(struct pending *p, const char *version)
{
    if (is_ignored_span(p) || !p->span.sampled) /* unsampled: never read (pending_named) */
        return;
    ts_span_attr_cstr(&p->span, "tls.protocol.version", version);
}

/* "host[:port]" of a Host header; port stays 0 when absent. */
static inline void split_host(const char *v, size_t len, const char **host, size_t *hlen, int *port)
{
    *host = v;
    *hlen = len;
    *port = 0;
    const char *colon = NULL;
    if (len && v[0] == '[') { /* [v6]:port */
        const char *end = memchr(v, ']', len);
        if (end) {
            *host = v + 1;
            *hlen = (size_t)(end - v - 1);
            if ((size_t)(end - v) + 1 < len && end[1] == ':')
                colon = end + 1;
        }
    } else {
        colon = memrchr(v, ':', len);
        if (colon)
            *hlen = (size_t)(colon - v);
    }
    if (colon) {
        int p = 0;
        for (const char *s = colon + 1; s < v + len && *s >= '0' && *s <= '9' && p < 65536; s++)
            p = p * 10 + (*s - '0');
        *port = p < 65536 ? p : 0;
    }
}

/* The server a request names, for server.address and server.port: an
 * absolute-form target's authority (RFC 9112 3.2.2: it outranks Host), a
 * CONNECT's authority-form target (RFC 9110 9.3.6; urllib3 sends no Host
 * with it), else the Host header's; its port, or the scheme's default
 * (the OpenTelemetry HTTP conventions take both from there, on either
 * side). False when the request names none. */
static inline __attribute__((always_inline)) bool
request_authority(const struct ts_http_request *req, const struct ts_http_header *host, bool tls,
                  const char **h, size_t *hlen, int *port)
{
    const char *a;
    size_t alen;
    bool https = tls;
    bool named = false;
    if (req->target_len && req->target[0] != '/') { /* a proxy's request, not origin-form */
        named = ts_http_target_authority(req->target, req->target_len, &a, &alen, &https);
        if (!named && ts_http_is_connect(req->method, req->method_len)) {
            a = req->target;
            alen = req->target_len;
            named = true;
        }
    }
    if (!named) {
        if (!host || !host->value_len) /* an empty one names none (RFC 9112 3.2) */
            return false;
        a = host->value;
        alen = host->value_len;
    }
    split_host(a, alen, h, hlen, port);
    if (!*port)
        *port = https ? 443 : 80;
    return true;
}

/* A header's value (the user agent) up to this long is stored whole;
 * a longer one is cut to leave LATE_ATTRS_ROOM of the span's string
 * bytes to the attributes set after it (TLS's, the response's
 * error.type), which a long one left empty. */
#define HEADER_WHOLE_MAX 256
#define LATE_ATTRS_ROOM 64

/* The span's string bytes a value may take so that `keep` stay for the
 * attributes after it (0 when fewer than that are left). */
static inline size_t attrs_room_leaving(const struct ts_attrs *at, size_t keep)
{
    size_t room = ts_attrs_room_left(at);
    return room > keep ? room - keep : 0;
}

static __attribute__((noinline)) void attr_header_cut(struct ts_attrs *at, const char *key,
                                                      const struct ts_http_header *h)
{
    size_t room = attrs_room_leaving(at, LATE_ATTRS_ROOM);
    if (room)
        ts_attrs_str(at, key, h->value,
                     h->value_len < room ? h->value_len : ts_utf8_whole(h->value, room));
    else
        ts_span_attr_dropped(at->span); /* no text left for it */
}

static void attr_header(struct ts_attrs *at, const char *key, const struct ts_http_header *h)
{
    if (!h)
        return;
    if (__builtin_expect(h->value_len > HEADER_WHOLE_MAX, 0))
        attr_header_cut(at, key, h);
    else
        ts_attrs_str(at, key, h->value, h->value_len);
}

/* What marks a span of a TLS session's plaintext: HTTP inside TLS, and
 * the TLS version when the library said (client spans also get the scheme,
 * which server spans always carry). Inline, though rare: a cursor given
 * to a call would live in memory for all of its span's attributes. */
static inline __attribute__((always_inline)) void attr_tls(struct ts_attrs *at,
                                                           const struct ts_conn *c, bool client)
{
    if (client)
        ts_attrs_cstr(at, "url.scheme", "https");
    ts_attrs_cstr(at, "network.protocol.name", "http");
    const char *version = conn_tls_version(c);
    if (version[0])
        ts_attrs_cstr(at, "tls.protocol.version", version);
}

/* What marks a span of a connection over a Unix-domain socket: the
 * transport, and the socket's path under key (the peer's for a client,
 * the local one for a server) when it has one. */
static __attribute__((noinline)) void attr_unix(struct ts_attrs *at, const char *key,
                                                const char *path)
{
    ts_attrs_cstr(at, "network.transport", "unix");
    if (path[0])
        ts_attrs_str(at, key, path, strlen(path));
}

/* A span's name and a URL are assembled as cut texts (cut_text.h):
 * snprintf would do, at several times the cost on a path that runs for
 * every request. text_put is ts_cut_text_put with the span's short copy,
 * forced inline: most pieces are literals, whose length then picks the
 * copy at compile time, and the call cost more than the copy. */
static inline __attribute__((always_inline)) void text_put(struct ts_cut_text *t, const char *s,
                                                           size_t n)
{
    size_t room = ts_cut_text_room(t);
    if (__builtin_expect(n > room, 0)) {
        ts_cut_text_put(t, s, n); /* (cut) */
        return;
    }
    ts_span_copy_(t->buf + t->len, s, n); /* most pieces are short: no call into libc */
    t->len += n;
}

/* An absolute-form target, its "scheme://" (scheme_len bytes of it) in
 * lower case: schemes are case-insensitive, and lower case is their
 * canonical form (RFC 3986 3.1). */
static __attribute__((noinline)) void put_absolute_target(struct ts_cut_text *t, const char *target,
                                                          size_t len, size_t scheme_len)
{
    for (size_t i = 0; i < scheme_len; i++) {
        char c = ts_ascii_lower(target[i]);
        text_put(t, &c, 1);
    }
    text_put(t, target + scheme_len, len - scheme_len);
}

/* A span's name: the method and the route, at most this many bytes, and
 * the route cut to SPAN_NAME_ROUTE_MAX in it. */
#define SPAN_NAME_MAX 160
#define SPAN_NAME_ROUTE_MAX 140
_Static_assert(SPAN_NAME_MAX + 1 + TS_ROUTE_MAX <= TS_SPAN_STRBUF,
               "a new span's buffer holds the name and the whole route after it");

/* A span's record for a request: its block, kind, start and method; its
 * name and attributes come with pending_named. */
static struct pending *pending_new(const struct req_view *v, uint8_t kind)
{
    const struct ts_http_request *req = v->req;
    struct pending *p = ts_rep_reuse_block(&pending_blocks);
    if (!p)
        p = ts_block_get(&pending_blocks);
    if (!p)
        return NULL;
    /* Only the fixed fields are cleared: the span's string buffer and
     * frames (most of the record's 2 KiB) are written before they are read,
     * and attributes are cleared as they are added. Of the rest, what is
     * read before it is written: the inflight entry's link (its contexts
     * are filled in before it is added), nothing of method[] past
     * method_len. */
    ts_span_clear(&p->span);
    p->inflight.next = NULL;
    p->inflight.linked = false;
    p->tracestate = NULL;
    p->owner = ts_proc.pid;
    p->span.kind = kind;
    p->start_moment = ts_moment_ns();
    p->span.start_ns = ts_wall_ns_at(p->start_moment);
    p->method_len =
        (uint8_t)(req->method_len < sizeof p->method ? req->method_len : sizeof p->method);
    ts_span_copy_(p->method, req->method, p->method_len);
    return p;
}

/* The name, and the attributes every HTTP span takes from its request
 * line. Of an unsampled span nothing but its ids and flags is ever read
 * (the reporter drops it at once), and its name and attributes would be
 * most of what it costs the program's thread: they are made only for a
 * span that is sampled, after the sampler has decided, unless the
 * decision itself reads the name (per-operation strategies). Called
 * before any other attribute, so that they come first as always. */
/* Is m one of the methods the OpenTelemetry HTTP conventions know (RFC
 * 9110's and PATCH, exactly, case included)? Another is named "HTTP",
 * http.request.method "_OTHER" and its own text kept as
 * http.request.method_original: any client could otherwise make as many
 * span names as it likes. */
static inline bool semconv_method_known(const char *m, size_t len)
{
    switch (len) {
    case 3:
        return memcmp(m, "GET", 3) == 0 || memcmp(m, "PUT", 3) == 0;
    case 4:
        return memcmp(m, "POST", 4) == 0 || memcmp(m, "HEAD", 4) == 0;
    case 5:
        return memcmp(m, "PATCH", 5) == 0 || memcmp(m, "TRACE", 5) == 0;
    case 6:
        return memcmp(m, "DELETE", 6) == 0;
    case 7:
        return memcmp(m, "OPTIONS", 7) == 0 || memcmp(m, "CONNECT", 7) == 0;
    default:
        return false;
    }
}

static void pending_named(struct pending *p, const struct req_view *v)
{
    const struct ts_http_request *req = v->req;
    uint8_t kind = p->span.kind;
    bool known = semconv_method_known(req->method, req->method_len);
    const char *method = known ? req->method : "HTTP";
    size_t method_len = known ? req->method_len : 4;
    /* The name is the route (TRACESHIM_ROUTES, else ids collapsed), so
     * that names stay few; a server span also gets it as http.route. A
     * CONNECT has no route: its method is its name.
     * "METHOD route" is written straight into the span's buffer, the
     * whole route after the method even where the name cuts it short, so
     * that the method and the route attributes are the name's own bytes
     * rather than copies (the buffer is empty: all of it is room). */
    struct ts_attrs at = ts_attrs_begin(&p->span);
    char *name = ts_attrs_room(&at);
    struct ts_cut_text t = {name, SPAN_NAME_MAX, 0};
    text_put(&t, method, method_len);
    size_t route_at = t.len, route_len = 0;
    if (!v->connect) {
        text_put(&t, " ", 1);
        route_at = t.len;
        route_len = ts_rules_route(v->path, v->path_len, name + route_at, TS_ROUTE_MAX);
    }
    size_t name_len = route_at + route_len;
    if (__builtin_expect(route_len > SPAN_NAME_ROUTE_MAX || name_len > SPAN_NAME_MAX, 0)) {
        size_t cut = route_at + SPAN_NAME_ROUTE_MAX < SPAN_NAME_MAX ? route_at + SPAN_NAME_ROUTE_MAX
                                                                    : SPAN_NAME_MAX;
        name_len = ts_utf8_whole(name, cut); /* (cut < name_len) */
    }
    uint16_t name_off = (uint16_t)at.used;
    ts_attrs_name_written(&at, name_len, route_at + route_len);
    if (kind == TS_KIND_SERVER && !v->connect)
        ts_attrs_ref(&at, "http.route", (uint16_t)(name_off + route_at), (uint16_t)route_len);
    if (!known) {
        ts_attrs_cstr(&at, "http.request.method", "_OTHER");
        ts_attrs_str(&at, "http.request.method_original", req->method, req->method_len);
    } else if (req->method_len <= name_len) {
        ts_attrs_ref(&at, "http.request.method", name_off, (uint16_t)req->method_len);
    } else {
        ts_attrs_str(&at, "http.request.method", req->method, req->method_len);
    }
    if (req->minor_version >= 0) /* -1: a request line cut short (conn.c) */
        ts_attrs_cstr(&at, "network.protocol.version", req->minor_version ? "1.1" : "1.0");
    ts_attrs_end(&at);
}

/* url.full, or url.query (query: v is a query alone), as the OpenTelemetry
 * conventions allow them: a user and password and the values of the
 * parameters that sign a URL redacted (url_redact.h). Nothing to redact,
 * the common case, costs one look at the URL. */
static __attribute__((noinline)) void attr_url_redacted(struct ts_attrs *at, const char *key,
                                                        const char *v, size_t len, bool query)
{
    char buf[TS_SPAN_STRBUF]; /* out of line: only this rare path has it on its stack */
    size_t n = query ? ts_url_query_redact(v, len, buf, sizeof buf)
                     : ts_url_redact(v, len, buf, sizeof buf);
    ts_attrs_str(at, key, buf, n);
}

static void attr_url(struct ts_attrs *at, const char *key, const char *v, size_t len, bool query)
{
    if (__builtin_expect(query ? ts_url_query_has_secret(v, len) : ts_url_has_secret(v, len), 0))
        attr_url_redacted(at, key, v, len, query);
    else
        ts_attrs_str(at, key, v, len);
}

/* Parent and trace of a new span: ctx (when valid) is the parent. The
 * sampler decides whether the span is recorded (its name must be set);
 * the decision travels on in mine, so downstream services agree. */
void ts_span_link(struct ts_span *s, const struct ts_ctx *parent, struct ts_ctx *mine)
{
    ts_stats_add(TS_STAT_SPANS_STARTED, 1); /* every span, client, server or process, begins here */
    memset(mine, 0, sizeof *mine);
    if (parent && parent->valid) {
        memcpy(s->trace_id, parent->trace_id, TS_TRACE_ID_LEN);
        memcpy(s->parent_id, parent->span_id, TS_SPAN_ID_LEN);
        mine->trace_id_64 = parent->trace_id_64;
        memcpy(mine->parent_id, parent->span_id, TS_SPAN_ID_LEN);
        mine->has_parent = true;
        ts_ids_new_span(s->span_id);
    } else { /* a root: the span id is drawn with the trace's, in one call */
        ts_ids_new_trace_and_span(s->trace_id, s->span_id);
    }
    bool sampled = ts_sampler_decide(parent, s->trace_id, ts_span_name(s), s->name_len,
                                     &s->sampler_tag, &s->sampler_param);
    mine->sampling = parent && parent->valid && parent->sampling == TS_SAMPLING_DEBUG
                         ? TS_SAMPLING_DEBUG
                     : sampled ? TS_SAMPLING_ACCEPT
                               : TS_SAMPLING_DENY;
    memcpy(mine->trace_id, s->trace_id, TS_TRACE_ID_LEN);
    memcpy(mine->span_id, s->span_id, TS_SPAN_ID_LEN);
    mine->valid = true;
    s->sampled = ts_sampling_span_flags(mine->sampling);
    s->parent_is = parent && parent->valid && parent->remote ? TS_PARENT_REMOTE : TS_PARENT_LOCAL;
}

/* A sampling decision that came without ids (B3 allows "b3: 0", "1" or
 * "d", and X-B3-Sampled or X-B3-Flags alone): the new trace's root takes
 * it over the sampler's, and passes it on (a debug flag as debug). */
static void take_decision_alone(struct pending *p, struct ts_ctx *mine, uint8_t decision)
{
    if (decision == TS_SAMPLING_DEFER)
        return;
    mine->sampling = decision;
    p->span.sampled = ts_sampling_span_flags(decision);
    p->span.sampler_tag = TS_SAMPLER_TAG_NONE; /* no sampler's decision: no sampler.* tags */
}

/* The tracestate a program sent beside its own traceparent (its own, or
 * one it forwards) goes with the client span s too, a span of that trace
 * (parent's) as the server span it may forward from is (keep_tracestate):
 * after the name. Out of line: rare. */
static __attribute__((noinline)) void keep_own_tracestate(struct ts_span *s,
                                                          const struct ts_http_request *req,
                                                          const struct ts_http_header *traceparent,
                                                          const struct ts_ctx *parent)
{
    struct ts_ctx tp;
    char value[TS_TRACESTATE_MAX];
    if (!ts_tracestate_present(req->headers, req->num_headers) ||
        !ts_traceparent_parse(traceparent->value, traceparent->value_len, &tp) ||
        memcmp(tp.trace_id, parent->trace_id, TS_TRACE_ID_LEN) != 0)
        return;
    size_t len = ts_tracestate_find(req->headers, req->num_headers, value);
    if (len)
        ts_span_set_trace_state(s, value, len);
}

/* Did the program write B3 multi decision lines and no ids (X-B3-Sampled
 * or X-B3-Flags alone: a client forcing a trace or none)? */
static inline bool b3_multi_decision_alone(const struct ts_prop_headers *f)
{
    return (f->b3_sampled || f->b3_flags) && !f->b3_trace_id && !f->b3_span_id &&
           !f->b3_parent_id && (ts_cfg.propagators & TS_PROP_B3MULTI);
}

/* The ids of ctx as B3 multi lines without a decision, into inject: they
 * go with the program's decision lines, which ctx's decision follows
 * (take_decision_alone, or the extraction's for ids the program wrote in
 * another format). Without them a B3 receiver, reading B3 before any
 * other format, would start a trace of its own. Returns their length.
 * Out of line: rare. */
static __attribute__((noinline)) size_t inject_b3_multi_ids(const struct ts_ctx *ctx, char *inject)
{
    struct ts_ctx undecided = *ctx;
    undecided.sampling = TS_SAMPLING_DEFER; /* no line of ours beside the program's */
    return ts_prop_inject(TS_PROP_B3MULTI, &undecided, inject, TS_PROP_INJECT_MAX);
}

/* A proxy's outgoing request forwards the context of a request it is
 * serving: find that server span, and the fields to rewrite so the
 * upstream sees our client span as its parent (*f: where they are, and
 * the B3 forms without a decision). The decision the request came with,
 * forwarded, becomes our client span's: the sampler may have decided
 * otherwise (not following its parent, or B3's "no" beside a traceparent
 * saying yes), and a peer must not record what we did not, or drop what
 * we did. A decision where the request came with none is the program's
 * own, and stays. False when the context is no request of ours, or a
 * field is already on the wire. */
static bool forwarded_parent(const struct ts_prop_headers *found, const struct ts_ctx *fwd,
                             const char *head, size_t editable, struct ts_ctx *server,
                             struct span_edit *edits, int *nedits, struct ts_prop_id_fields *f)
{
    uint8_t came_with;
    if (!ts_inflight_find(fwd, ts_ctx_current(), server, &came_with))
        return false;
    ts_prop_id_fields_found(found, fwd, f);
    const char *at[CONN_MAX_EDITS];
    enum span_edit_field what[CONN_MAX_EDITS];
    int n = 0;
    for (int i = 0; i < f->nspan; i++, n++)
        at[n] = f->span[i], what[n] = EDIT_SPAN_ID;
    for (int i = 0; i < f->nparent; i++, n++)
        at[n] = f->parent[i], what[n] = EDIT_PARENT_ID;
    if (n && came_with != TS_SAMPLING_DEFER) {
        for (int i = 0; i < f->ndecision; i++, n++)
            at[n] = f->decision[i], what[n] = EDIT_DECISION;
        if (f->traceparent_flags)
            at[n] = f->traceparent_flags, what[n++] = EDIT_TRACEPARENT_FLAGS;
    }
    for (int i = 0; i < n; i++) {
        if (at[i] < head + editable)
            return false;
        edits[i] = (struct span_edit){(size_t)(at[i] - head), what[i]};
    }
    *nedits = n;
    return n > 0;
}

/* A forwarded B3 context that left the decision open (the proxy passes
 * on what came, and none came) gets the one made for our client span, or
 * the next traced service, which reads B3 first, would decide again: for
 * B3 multi a line among the added ones (ts_prop_b3_decision); for "b3:
 * T-S" the field "-1", "-0" or "-d" after the span id, so the added
 * lines move up there, in the one block of bytes the wire form inserts:
 * "T-S" + "-0\r\n" + the lines but their last CRLF, which the b3 line's
 * own end then gives them (*ins, the insertion point, becomes the b3
 * value's end). Nothing is added when it would not fit. */
static __attribute__((noinline)) void
forward_decision(const struct ts_prop_id_fields *f, const struct ts_prop_headers *found,
                 uint8_t sampling, const char *head, char *inject, size_t *inject_len, size_t *ins)
{
    size_t len = *inject_len;
    if (f->undecided & TS_PROP_B3MULTI)
        len += ts_prop_b3_decision(TS_PROP_B3MULTI, sampling, found->b3_flags != NULL, inject + len,
                                   TS_PROP_INJECT_MAX - len);
    if ((f->undecided & TS_PROP_B3) && len + 2 <= TS_PROP_INJECT_MAX) {
        char field[2];
        ts_prop_b3_decision(TS_PROP_B3, sampling, false, field, sizeof field);
        if (len) { /* lines end with CRLF: the last one's goes first */
            memmove(inject + 4, inject, len - 2);
            memcpy(inject + 2, "\r\n", 2);
        }
        memcpy(inject, field, 2);
        len += 2;
        *ins = (size_t)(f->b3_decision_at - head);
    }
    *inject_len = len;
}

const char *ts_conn_tracestate_of(const struct ts_ctx *ctx, size_t *len)
{
    const struct serving_tracestate *st = &serving_tracestate;
    *len = 0;
    if (ctx == ts_ctx_process())
        return ts_ctx_process_tracestate(len);
    /* By span id, not by where ctx is: a proxy that forwards B3 alone
     * makes the parent a copy of the server span's context (the forwarded
     * request's, ts_inflight_find), which is this thread's current span
     * when the thread serves that request. */
    if (!st->len || memcmp(st->span_id, ctx->span_id, TS_SPAN_ID_LEN) != 0)
        return NULL;
    *len = st->len;
    return st->value;
}

/* The tracestate line of a request that carries the traceparent the shim
 * wrote for a child of parent: parent's tracestate (ts_conn_tracestate_of),
 * when it has one, into buf (at most cap bytes). Returns its length; 0
 * when there is none to pass on, or the program wrote a tracestate of its
 * own (left as it is, as its own traceparent would be). */
static __attribute__((noinline)) size_t pass_tracestate(const struct ts_http_request *req,
                                                        const struct ts_ctx *parent, char *buf,
                                                        size_t cap, struct ts_span *recorded)
{
    static const char name[] = "tracestate: ";
    size_t vlen;
    const char *value = ts_conn_tracestate_of(parent, &vlen);
    size_t len = sizeof name - 1 + vlen + 2;
    if (!value || len > cap || ts_tracestate_present(req->headers, req->num_headers))
        return 0;
    if (recorded) /* the span is in that trace: its own trace_state */
        ts_span_set_trace_state(recorded, value, vlen);
    memcpy(buf, name, sizeof name - 1);
    memcpy(buf + sizeof name - 1, value, vlen);
    memcpy(buf + len - 2, "\r\n", 2);
    return len;
}

/* TRACESHIM_TRUST_INBOUND=hmac: the signature covers the context a peer
 * reads, its sampling state included, and a peer reads whichever format
 * its OTEL_PROPAGATORS names first: the program's own headers (out), the
 * ones we add (added: the sampler's decision where out has none), or a
 * traceparent, which says sampled or not and nothing else (not B3's
 * "defer" nor its "debug"). One signature for each distinct reading, out's
 * first; the verifier looks at up to four. Returns the bytes written. */
static __attribute__((noinline)) size_t
sign_each_reading(const struct ts_ctx *out, const struct ts_ctx *added, char *buf, size_t cap)
{
    uint8_t readings[4] = {
        out->sampling,
        added->sampling,
        ts_ctx_sampled(out) ? TS_SAMPLING_ACCEPT : TS_SAMPLING_DENY,
        ts_ctx_sampled(added) ? TS_SAMPLING_ACCEPT : TS_SAMPLING_DENY,
    };
    size_t len = 0;
    for (int i = 0; i < 4; i++) {
        bool signed_already = false;
        for (int j = 0; j < i; j++)
            signed_already |= readings[j] == readings[i];
        if (signed_already)
            continue;
        struct ts_ctx reading = *out;
        reading.sampling = readings[i];
        len += ts_trust_sign(&reading, buf + len, cap - len);
    }
    return len;
}

struct pending *conn_client_span_start(struct ts_conn *c, const struct ts_http_request *req,
                                       const char *head, size_t editable, char *inject,
                                       size_t *inject_len, struct span_edit *edits, int *nedits,
                                       size_t *ins)
{
    *nedits = 0;
    *inject_len = 0;
    struct req_view v;
    req_view_init(&v, req);
    struct pending *ignored = ignored_span(&v); /* TRACESHIM_IGNORE: no span, no headers */
    if (ignored)
        return ignored;
    struct pending *p = pending_new(&v, TS_KIND_CLIENT);
    if (!p)
        return NULL;
    struct ts_ctx app, server, mine;
    struct ts_prop_headers found; /* what the program wrote itself */
    struct ts_prop_id_fields fields;
    ts_prop_find_request(req, &found);
    bool app_ctx = ts_prop_extract_found(&found, &app);
    bool forwarded =
        app_ctx && forwarded_parent(&found, &app, head, editable, &server, edits, nedits, &fields);
    unsigned present = ts_prop_present_found(&found);
    const struct ts_ctx *parent = forwarded ? &server : app_ctx ? &app : ts_ctx_current();
    if (!parent)
        parent = ts_ctx_process();
    bool named = ts_sampler_reads_name(parent);
    if (named)
        pending_named(p, &v);
    ts_span_link(&p->span, parent, &mine);
    if (!app_ctx) /* the program's word alone ("b3: 0", "b3: d"): it outranks the sampler */
        take_decision_alone(p, &mine, app.sampling);
    else if (!forwarded) /* its own tracer's span: in this process, or passed on unseen */
        p->span.parent_is = TS_PARENT_UNKNOWN;
    bool recorded = p->span.sampled;
    if (recorded)
        ts_rep_exported_span_begins();
    if (recorded && !named)
        pending_named(p, &v);
    if (__builtin_expect(recorded && app_ctx && found.traceparent != NULL, 0))
        keep_own_tracestate(&p->span, req, found.traceparent, parent);
    ts_stacks_at_start(&p->span);

    /* Every format we add carries the same context as the ones already
     * there: ours when we rewrote a forwarded context, else the one the
     * program chose. We never add a second copy of a format it wrote. */
    unsigned formats = ts_cfg.propagators & ~present;
    const struct ts_ctx *out = forwarded || !app_ctx ? &mine : &app;
    /* The program's context with no decision of its own (B3's "defer"):
     * the formats we add carry the one the sampler made for this span, as
     * for our own context. As the program's "defer", a traceparent's flag
     * would say sampled: W3C peers would record what we did not. */
    struct ts_ctx decided;
    const struct ts_ctx *added = out;
    if (out == &app && app.sampling == TS_SAMPLING_DEFER) {
        decided = app;
        decided.sampling = recorded ? TS_SAMPLING_ACCEPT : TS_SAMPLING_DENY;
        added = &decided;
    }
    size_t len = 0;
    if (__builtin_expect(b3_multi_decision_alone(&found), 0))
        len = inject_b3_multi_ids(added, inject);
    if (formats)
        len += ts_prop_inject(formats, added, inject + len, TS_PROP_INJECT_MAX - len);
    *inject_len = len;
    /* A child of the thread's current server span, or of the process's
     * context: the tracestate of that trace goes along. */
    if (__builtin_expect(serving_tracestate.len != 0 || ts_ctx_process_has_tracestate(), 0) &&
        (formats & TS_PROP_TRACECONTEXT) && *inject_len)
        *inject_len +=
            pass_tracestate(req, parent, inject + *inject_len, TS_PROP_INJECT_MAX - *inject_len,
                            recorded ? &p->span : NULL);
    /* TRACESHIM_TRUST_INBOUND=hmac: sign the context the peer will extract
     * (see ts_trust_signable for the program's own). */
    if (__builtin_expect(ts_trust_in_force == TS_TRUST_HMAC, 0) && (app_ctx || *inject_len) &&
        ts_trust_signable(out, &mine, ts_ctx_current()))
        *inject_len +=
            sign_each_reading(out, added, inject + *inject_len, TS_PROP_INJECT_MAX - *inject_len);

    const struct ts_http_header *host = v.host;
    char peer_ip[INET6_ADDRSTRLEN];
    size_t peer_len = conn_peer_ip(c, peer_ip);
    const char *unix_path = conn_unix_path(c);
    /* A FastCGI exchange's Host is the client's, not this hop's: its
     * server is the application server it reaches (conn_fcgi.c). */
    bool fcgi = conn_seen(c, CONN_SEEN_FCGI);
    const struct ts_http_header *hop_host = fcgi ? NULL : host;
    /* TRACESHIM_[NO_]INJECT_TO: the span stays, the request goes as written.
     * A Unix-domain socket's peer is its path, with no port. */
    bool injects = ts_rules_should_inject(hop_host ? hop_host->value : NULL,
                                          hop_host ? hop_host->value_len : 0, c->tls ? 443 : 80,
                                          unix_path ? unix_path : peer_ip, c->peer_port);
    if (!injects) {
        *inject_len = 0;
        *nedits = 0;
    } else if (forwarded && __builtin_expect(fields.undecided != 0, 0)) {
        forward_decision(&fields, &found, mine.sampling, head, inject, inject_len, ins);
    }
    if (!recorded)
        return p;
    const char *h;
    size_t hlen;
    int port;
    if (fcgi || !request_authority(req, host, c->tls, &h, &hlen, &port)) {
        h = peer_ip;
        hlen = peer_len;
        port = c->peer_port;
        if (unix_path) { /* the conventions: the socket's name */
            h = unix_path;
            hlen = strlen(unix_path);
        }
    }
    char url_buf[511];
    struct ts_cut_text url = {url_buf, sizeof url_buf, 0};
    bool origin_form = req->target_len && req->target[0] == '/';
    size_t scheme_len = origin_form ? 0 : ts_url_scheme_len(req->target, req->target_len);
    if (scheme_len) { /* absolute form: a proxy's request */
        put_absolute_target(&url, req->target, req->target_len, scheme_len);
    } else {
        if (c->tls)
            text_put(&url, "https://", 8);
        else
            text_put(&url, "http://", 7);
        /* RFC 9112 3.3: the target URI of an authority-form request
         * (CONNECT's) is its target, of an asterisk-form one ("OPTIONS *")
         * the authority alone; the path is empty for both. */
        bool authority_form =
            !origin_form && req->target_len && !(req->target_len == 1 && req->target[0] == '*');
        bool host_named = host && host->value_len; /* an empty Host names none */
        if (authority_form) {
            text_put(&url, req->target, req->target_len);
        } else if (host_named) {
            text_put(&url, host->value, host->value_len);
        } else if (!unix_path) {
            ts_cut_text_put_ip_port(&url, peer_ip, peer_len, c->peer_port);
        }
        if (origin_form)
            text_put(&url, req->target, req->target_len);
        if (unix_path && !authority_form && !host_named) /* no authority: no URL (RFC 9110 4.2.1) */
            url.len = 0;
    }
    struct ts_attrs at = ts_attrs_begin(&p->span);
    /* An origin-form target without a query, nearly every request's, has
     * nothing to redact (a Host header holds no user). */
    bool plain = origin_form && v.path == req->target && v.path_len == req->target_len;
    if (url.len && plain)
        ts_attrs_str(&at, "url.full", url.buf, url.len);
    else if (url.len)
        attr_url(&at, "url.full", url.buf, url.len, false);
    if (!injects)
        ts_attrs_bool(&at, "traceshim.injected", false);
    if (hlen)
        ts_attrs_str(&at, "server.address", h, hlen);
    if (port)
        ts_attrs_int(&at, "server.port", port);
    if (peer_len) /* a TLS session over a transport the shim cannot see has none */
        ts_attrs_str(&at, "network.peer.address", peer_ip, peer_len);
    if (c->peer_port)
        ts_attrs_int(&at, "network.peer.port", c->peer_port);
    if (__builtin_expect(unix_path != NULL, 0))
        attr_unix(&at, "network.peer.address", unix_path);
    attr_header(&at, "user_agent.original", v.user_agent);
    if (c->tls)
        attr_tls(&at, c, true);
    ts_attrs_end(&at);
    return p;
}

/* The attributes a server span takes from its connection, after
 * server.address: server.port, client.address, network.peer.address (the
 * same bytes, unless proxies named the client: client, client_len) and
 * network.peer.port. */
#define SERVER_CONN_ATTRS 4
static void attr_server_conn_built(struct ts_attrs *at, const struct ts_conn *c, int port,
                                   const char *client, size_t client_len)
{
    if (port) /* none without a Host on a socket whose port is not known */
        ts_attrs_int(at, "server.port", port);
    if (client)
        ts_attrs_str(at, "client.address", client, client_len);
    const char *unix_path = conn_unix_path(c);
    if (__builtin_expect(unix_path != NULL, 0)) { /* no ports, and the peer most often unnamed */
        attr_unix(at, "network.local.address", unix_path);
        return;
    }
    char peer_ip[INET6_ADDRSTRLEN];
    size_t peer_len = conn_peer_ip(c, peer_ip);
    /* The second address shares the first's bytes, found by the cursor:
     * read back from the attribute just stored, in a span record fresh
     * from the reporter's processor, they waited for the store to reach
     * the cache (bench/PROFILE.md, session 26). A TLS session over a
     * transport the shim cannot see (a BIO of the server's own: haproxy,
     * Apache's mod_ssl) has no peer to name. */
    uint16_t text_at = (uint16_t)at->used;
    if (client) {
        if (peer_len)
            ts_attrs_str(at, "network.peer.address", peer_ip, peer_len);
    } else if (peer_len && ts_attrs_str(at, "client.address", peer_ip, peer_len)) {
        ts_attrs_ref(at, "network.peer.address", text_at, (uint16_t)(at->used - text_at));
    }
    if (c->peer_port)
        ts_attrs_int(at, "network.peer.port", c->peer_port);
}

/* The requests of a keep-alive connection, and the connections from a
 * server's busiest peer (its load balancer), share all four but the
 * peer's port: this thread keeps the four an IPv4 peer's span was last
 * given, keyed by the server's port and the peer's address, and the next
 * span with the same key and room for them takes them as one block, and
 * the address's bytes, its own peer port and offsets set in the copy.
 * Keyed by value, not by connection, as conn.c's peer_texts and for the
 * same reasons; never touched by two threads. Made from the values, not
 * read back from a span (see attr_server_conn_built). */
struct server_conn_memo {
    bool built;
    uint8_t text_len;
    uint16_t server_port;
    uint8_t peer_v4[4];
    struct ts_attr attrs[SERVER_CONN_ATTRS]; /* offsets and peer port: set in each copy */
    char text[16];                           /* the address as text, and what follows */
};
static __thread struct server_conn_memo server_conn_memo __attribute__((tls_model("initial-exec")));

static void server_conn_memo_make(struct server_conn_memo *m, const struct ts_conn *c, int port)
{
    char peer_ip[INET6_ADDRSTRLEN];
    uint16_t len = (uint16_t)conn_peer_ip(c, peer_ip); /* an IPv4 address: at most 15 */
    memcpy(m->text, peer_ip, sizeof m->text);
    m->text_len = (uint8_t)len;
    m->attrs[0] = (struct ts_attr){.key = "server.port", .type = TS_ATTR_INT, .num = port};
    m->attrs[1] = (struct ts_attr){.key = "client.address", .type = TS_ATTR_STR, .len = len};
    m->attrs[2] = (struct ts_attr){.key = "network.peer.address", .type = TS_ATTR_STR, .len = len};
    m->attrs[3] = (struct ts_attr){.key = "network.peer.port", .type = TS_ATTR_INT};
    m->server_port = (uint16_t)port;
    memcpy(m->peer_v4, c->peer_v4, 4);
    m->built = true;
}

static void attr_server_conn(struct ts_attrs *at, const struct ts_conn *c, int port,
                             const char *client, size_t client_len)
{
    struct server_conn_memo *m = &server_conn_memo;
    /* the block, and all 16 bytes of the text, fit: nothing is cut short */
    if (c->peer_family != 4 || client || at->n + SERVER_CONN_ATTRS > TS_SPAN_MAX_ATTRS ||
        TS_SPAN_STRBUF - at->used < sizeof m->text) {
        attr_server_conn_built(at, c, port, client, client_len);
        return;
    }
    if (!m->built || m->server_port != port || memcmp(m->peer_v4, c->peer_v4, 4) != 0)
        server_conn_memo_make(m, c, port);
    struct ts_span *s = at->span;
    size_t first = at->n;
    uint16_t text_at = (uint16_t)at->used;
    memcpy(&s->attrs[first], m->attrs, sizeof m->attrs);
    s->attrs[first + 1].off = s->attrs[first + 2].off = text_at;
    s->attrs[first + 3].num = c->peer_port;
    memcpy(s->str + text_at, m->text, sizeof m->text);
    at->n = first + SERVER_CONN_ATTRS;
    at->used = text_at + m->text_len;
}

/* A request's tracestate, kept with its server span p when the span's
 * parent in is the context of its traceparent: the tracestate is that
 * trace's (W3C keeps them together); a context another format carried
 * (B3 outranks traceparent) with other ids is another trace, and the
 * tracestate is not its. Out of line: rare. */
static __attribute__((noinline)) void keep_tracestate(struct pending *p,
                                                      const struct ts_http_request *req,
                                                      const struct ts_http_header *traceparent,
                                                      const struct ts_ctx *in)
{
    struct ts_ctx tp;
    if (!ts_tracestate_present(req->headers, req->num_headers) ||
        !ts_traceparent_parse(traceparent->value, traceparent->value_len, &tp) ||
        memcmp(tp.trace_id, in->trace_id, TS_TRACE_ID_LEN) != 0 ||
        memcmp(tp.span_id, in->span_id, TS_SPAN_ID_LEN) != 0)
        return;
    struct conn_tracestate *ts = ts_block_get(&tracestate_blocks);
    if (!ts)
        return;
    size_t len = ts_tracestate_find(req->headers, req->num_headers, ts->value);
    if (!len) { /* malformed, or longer than the shim passes on: dropped */
        ts_block_put(&tracestate_blocks, ts);
        return;
    }
    ts->len = (uint16_t)len;
    p->tracestate = ts;
}

/* The process's tracestate, kept with its server span p whose parent is
 * the process's context. Out of line: rare. */
static __attribute__((noinline)) void keep_process_tracestate(struct pending *p)
{
    size_t len;
    const char *value = ts_ctx_process_tracestate(&len);
    struct conn_tracestate *ts = value ? ts_block_get(&tracestate_blocks) : NULL;
    if (!ts)
        return;
    memcpy(ts->value, value, len);
    ts->len = (uint16_t)len;
    p->tracestate = ts;
}

/* A server span's url.path and url.query are stored whole when the
 * request's target is at most SERVER_TARGET_WHOLE_MAX long; a longer
 * one's are cut to leave SERVER_ATTRS_AFTER of the span's string bytes to
 * the attributes after them (the scheme, server.address, a host name
 * being at most 253 bytes, the peer's address, the user agent, TLS's
 * version, the response's error.type), which a long query left empty. */
#define SERVER_TARGET_WHOLE_MAX 256
#define SERVER_ATTRS_AFTER 512
_Static_assert(SPAN_NAME_MAX + 1 + TS_ROUTE_MAX + SERVER_TARGET_WHOLE_MAX + SERVER_ATTRS_AFTER <=
                   TS_SPAN_STRBUF,
               "a target stored whole leaves the attributes after it their room");

/* The length of the query that starts at q (its '?') in req's target,
 * up to a fragment. */
static inline size_t query_len(const struct ts_http_request *req, const char *q)
{
    const char *end = memchr(q, '#', req->target_len - (size_t)(q - req->target));
    return (size_t)((end ? end : req->target + req->target_len) - q - 1);
}

/* What a long target's path and query may take: together at most what
 * leaves SERVER_ATTRS_AFTER, the query keeping up to half of it. */
struct url_cut {
    size_t path_len, query_room;
};

static __attribute__((noinline)) struct url_cut server_url_cut(const struct ts_attrs *at,
                                                               const struct req_view *v,
                                                               const struct ts_http_request *req)
{
    size_t room = attrs_room_leaving(at, SERVER_ATTRS_AFTER);
    const char *q = target_query(v);
    size_t qlen = q ? query_len(req, q) : 0;
    size_t query_keeps = qlen < room / 2 ? qlen : room / 2;
    size_t path_len =
        v->path_len < room - query_keeps ? v->path_len : ts_utf8_whole(v->path, room - query_keeps);
    return (struct url_cut){path_len, room - path_len};
}

/* What the proxies a request came through said of its client (the
 * OpenTelemetry HTTP conventions: the original client's scheme and
 * address, when known): Forwarded first (RFC 7239), else the
 * X-Forwarded-* headers. *client: NULL when none names an address (the
 * connection's peer stands). Returns whether the scheme is https (tls,
 * the connection's, when none says). Out of line: most requests came
 * straight. */
static __attribute__((noinline)) bool proxied_client(const struct ts_http_request *req, bool tls,
                                                     const char **client, size_t *client_len)
{
    const struct ts_http_header *f = ts_http_request_header(req, TS_HTTP_NOTE_FORWARDED,
                                                            "forwarded"),
                                *xf = ts_http_request_header(req, TS_HTTP_NOTE_X_FORWARDED_FOR,
                                                             "x-forwarded-for"),
                                *xp = ts_http_request_header(req, TS_HTTP_NOTE_X_FORWARDED_PROTO,
                                                             "x-forwarded-proto");
    *client = NULL; /* (the parsers write it only when they find an address) */
    if (!(f && ts_forwarded_for(f->value, f->value_len, client, client_len)) && xf)
        (void)ts_x_forwarded_for(xf->value, xf->value_len, client, client_len);
    const char *scheme = f ? ts_forwarded_proto(f->value, f->value_len) : NULL;
    if (!scheme && xp)
        scheme = ts_x_forwarded_proto(xp->value, xp->value_len);
    return scheme ? scheme[4] == 's' : tls; /* "https", not "http" */
}

struct pending *conn_server_span_start(struct ts_conn *c, const struct ts_http_request *req)
{
    struct req_view v;
    req_view_init(&v, req);
    struct pending *ignored = ignored_span(&v); /* TRACESHIM_IGNORE: no span */
    if (ignored)
        return ignored;
    struct pending *p = pending_new(&v, TS_KIND_SERVER);
    if (!p)
        return NULL;
    struct ts_ctx in = {0};
    /* The span's context, made where it is kept: current while its request
     * is served (conn_span_serve). */
    struct ts_ctx *mine = &p->inflight.server;
    struct ts_prop_headers found;
    /* most requests carry no context: nothing to extract */
    bool have = ts_prop_find_request(req, &found) && ts_prop_inbound(&found, ts_cfg.extracted) &&
                ts_prop_extract_found(&found, &in);
    /* TRACESHIM_TRUST_INBOUND: a context not honoured is as good as none
     * (its flags included), but its ids are kept as attributes. */
    bool trusted = ts_trust_verify(req->headers, req->num_headers, &in);
    if (__builtin_expect(have && !trusted, 0))
        ts_trust_note_refused(&in);
    const struct ts_ctx *parent = have && trusted ? &in : ts_ctx_process();
    bool named = ts_sampler_reads_name(parent);
    if (named)
        pending_named(p, &v);
    ts_span_link(&p->span, parent, mine);
    if (!have && trusted) /* "b3: 0", "b3: 1", "b3: d": a new trace, so decided */
        take_decision_alone(p, mine, in.sampling);
    if (have && trusted) {
        p->inflight.inbound = in;
        ts_inflight_add(&p->inflight);
        if (found.traceparent) /* sampled or not, it is passed on */
            keep_tracestate(p, req, found.traceparent, &in);
    } else if (__builtin_expect(ts_ctx_process_has_tracestate(), 0) && parent) {
        keep_process_tracestate(p); /* the span continues the process's trace */
    }
    if (!p->span.sampled)
        return p;
    ts_rep_exported_span_begins();
    if (!named)
        pending_named(p, &v);
    if (__builtin_expect(p->tracestate != NULL,
                         0)) /* after the name: see ts_span_set_trace_state */
        ts_span_set_trace_state(&p->span, p->tracestate->value, p->tracestate->len);
    if (have && !trusted)
        ts_trust_mark_untrusted(&p->span, &in);
    ts_stacks_at_start(&p->span);

    struct ts_attrs at = ts_attrs_begin(&p->span);
    struct url_cut cut = {v.path_len, SIZE_MAX};
    if (__builtin_expect(req->target_len > SERVER_TARGET_WHOLE_MAX, 0))
        cut = server_url_cut(&at, &v, req);
    if (!v.connect)
        ts_attrs_str(&at, "url.path", v.path, cut.path_len);
    const char *q = target_query(&v);
    if (q) {
        size_t qlen = query_len(req, q);
        if (qlen > cut.query_room) {
            qlen = ts_utf8_whole(q + 1, cut.query_room);
            if (!qlen)
                ts_span_attr_dropped(&p->span); /* no text left for it */
        }
        if (qlen)
            attr_url(&at, "url.query", q + 1, qlen, true);
    }
    const char *client = NULL;
    size_t client_len = 0;
    bool https = c->tls;
    if (__builtin_expect(v.proxied, 0))
        https = proxied_client(req, https, &client, &client_len);
    if (https) /* (two calls: each literal's length known where it is copied) */
        ts_attrs_cstr(&at, "url.scheme", "https");
    else
        ts_attrs_cstr(&at, "url.scheme", "http");
    const char *h;
    size_t hlen;
    int port;
    if (request_authority(req, v.host, https, &h, &hlen, &port))
        ts_attrs_str(&at, "server.address", h, hlen);
    else /* no name: the port it was reached on */
        port = c->local_port;
    attr_server_conn(&at, c, port, client, client_len);
    attr_header(&at, "user_agent.original", v.user_agent);
    if (c->tls)
        attr_tls(&at, c, false);
    ts_attrs_end(&at);
    return p;
}
