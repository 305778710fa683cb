/* conn.c — HTTP/1 client and server logic of one tracked connection.
 *
 * Four byte streams, two roles:
 *   client: out = requests (rewritten: trace headers injected), in = responses
 *   server: in  = requests (context extracted),    out = responses
 * Three of them are only observed: the program's bytes pass unchanged and
 * are fed to the parser after the real call says how many went through.
 * The client's request heads are the one place bytes change: a head is
 * sent as head-with-injected-lines in one sendmsg. A head that arrives in
 * pieces is held (the program is told it was written) until it is complete,
 * and bytes the program was told are written but that did not go out yet
 * are "owed": they go out before any further byte of the program's. */
#include "conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "../preload/clock.h"
#include "../preload/config.h"
#include "../preload/context.h"
#include "../preload/fdtable.h"
#include "../preload/ids.h"
#include "../preload/log.h"
#include "../preload/real.h"
#include "../reporter/reporter.h"
#include "../reporter/sampler.h"
#include "http1.h"
#include "propagation.h"

#define CONN_MAX_HEADERS 100
#define CONN_PIPELINE_MAX 16
#define CONN_OWED_DRAIN_MS 2000 /* bound on waiting for owed bytes to go out */
#define CONN_IOV_STACK 64

enum dir_state {
    DIR_HEAD = 0, /* expecting the start of a message */
    DIR_BODY = 1, /* inside a message body */
    DIR_OFF = 2,  /* not HTTP (any more): pass everything */
};

/* Which stream a parser feed is for. */
enum feed_kind {
    FEED_CLIENT_IN,  /* responses to our requests */
    FEED_SERVER_IN,  /* requests to us */
    FEED_SERVER_OUT, /* our responses */
    FEED_CLIENT_OUT, /* our requests (bodies only: heads go through send) */
};

struct dir {
    uint8_t state;
    bool interim; /* the response head just parsed was 1xx: no message end */
    char *head;   /* client out: held head bytes (not sent); else a copy */
    size_t head_len, head_cap;
    struct ts_http_body body;
};

/* A span waiting for its response. */
struct pending {
    struct ts_span span;
    char method[16];
    uint8_t method_len;
};

struct ts_conn {
    struct ts_fd_ref ref; /* first: the fd table holds these */
    struct ts_conn *next_free;
    uint8_t role;
    pthread_mutex_t out_mu, in_mu, q_mu;
    struct dir out, in;
    char *owed; /* bytes the program was told are sent */
    size_t owed_len, owed_off, owed_cap;
    struct pending *q[CONN_PIPELINE_MAX]; /* spans in request order */
    unsigned q_head, q_len;
    char peer_ip[INET6_ADDRSTRLEN];
    char local_ip[INET6_ADDRSTRLEN];
    uint16_t peer_port, local_port;
};

/* ---------------------------------------------------------------- pool */

/* Connection objects are never returned to malloc: the fd table may probe
 * a stale pointer (see fdtable.h), so their memory must stay valid. */
static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static struct ts_conn *pool_free;

static void conn_destroy(struct ts_fd_ref *ref);

static struct ts_conn *conn_alloc(void)
{
    pthread_mutex_lock(&pool_mu);
    struct ts_conn *c = pool_free;
    if (c)
        pool_free = c->next_free;
    pthread_mutex_unlock(&pool_mu);
    if (!c) {
        c = malloc(sizeof *c);
        if (!c)
            return NULL;
    }
    memset(c, 0, sizeof *c);
    atomic_init(&c->ref.refs, 1);
    c->ref.destroy = conn_destroy;
    pthread_mutex_init(&c->out_mu, NULL);
    pthread_mutex_init(&c->in_mu, NULL);
    pthread_mutex_init(&c->q_mu, NULL);
    return c;
}

static void conn_free(struct ts_conn *c)
{
    free(c->out.head);
    free(c->in.head);
    free(c->owed);
    pthread_mutex_destroy(&c->out_mu);
    pthread_mutex_destroy(&c->in_mu);
    pthread_mutex_destroy(&c->q_mu);
    c->out.head = c->in.head = c->owed = NULL;
    pthread_mutex_lock(&pool_mu);
    c->next_free = pool_free;
    pool_free = c;
    pthread_mutex_unlock(&pool_mu);
}

/* ------------------------------------------------------------- helpers */

static size_t max_head(void)
{
    return ts_cfg.max_head_bytes ? ts_cfg.max_head_bytes : 16384;
}

static bool buf_reserve(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return true;
    size_t n = *cap ? *cap : 1024;
    while (n < need)
        n *= 2;
    char *p = realloc(*buf, n);
    if (!p)
        return false;
    *buf = p;
    *cap = n;
    return true;
}

static void addr_text(const struct sockaddr_storage *ss, char *ip, size_t iplen, uint16_t *port)
{
    ip[0] = '\0';
    *port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, ip, (socklen_t)iplen);
        *port = ntohs(a->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr))
            inet_ntop(AF_INET, &a->sin6_addr.s6_addr[12], ip, (socklen_t)iplen);
        else
            inet_ntop(AF_INET6, &a->sin6_addr, ip, (socklen_t)iplen);
        *port = ntohs(a->sin6_port);
    }
}

static size_t iov_total(const struct iovec *iov, int iovcnt)
{
    size_t n = 0;
    for (int i = 0; i < iovcnt; i++)
        n += iov[i].iov_len;
    return n;
}

/* Copy up to n bytes of iov starting at byte off into dst; returns count. */
static size_t iov_copy(char *dst, const struct iovec *iov, int iovcnt, size_t off, size_t n)
{
    size_t done = 0;
    for (int i = 0; i < iovcnt && done < n; i++) {
        size_t len = iov[i].iov_len;
        if (off >= len) {
            off -= len;
            continue;
        }
        size_t k = len - off < n - done ? len - off : n - done;
        memcpy(dst + done, (const char *)iov[i].iov_base + off, k);
        done += k;
        off = 0;
    }
    return done;
}

/* Append to out[] the slices of iov covering bytes [off, off+n). */
static int iov_slice(struct iovec *out, int max, const struct iovec *iov, int iovcnt, size_t off,
                     size_t n)
{
    int k = 0;
    for (int i = 0; i < iovcnt && n > 0 && k < max; i++) {
        size_t len = iov[i].iov_len;
        if (off >= len) {
            off -= len;
            continue;
        }
        size_t take = len - off < n ? len - off : n;
        out[k].iov_base = (char *)iov[i].iov_base + off;
        out[k].iov_len = take;
        k++;
        n -= take;
        off = 0;
    }
    return k;
}

/* --------------------------------------------------------------- spans */

static struct pending *q_front(struct ts_conn *c)
{
    return c->q_len ? c->q[c->q_head] : NULL;
}

static bool q_push(struct ts_conn *c, struct pending *p)
{
    pthread_mutex_lock(&c->q_mu);
    bool ok = c->q_len < CONN_PIPELINE_MAX;
    if (ok)
        c->q[(c->q_head + c->q_len++) % CONN_PIPELINE_MAX] = p;
    pthread_mutex_unlock(&c->q_mu);
    return ok;
}

static struct pending *q_pop_front(struct ts_conn *c)
{
    pthread_mutex_lock(&c->q_mu);
    struct pending *p = NULL;
    if (c->q_len) {
        p = c->q[c->q_head];
        c->q_head = (c->q_head + 1) % CONN_PIPELINE_MAX;
        c->q_len--;
    }
    pthread_mutex_unlock(&c->q_mu);
    return p;
}

/* Undo the last push (a request that could not be sent at all). */
static struct pending *q_pop_back(struct ts_conn *c)
{
    pthread_mutex_lock(&c->q_mu);
    struct pending *p = NULL;
    if (c->q_len)
        p = c->q[(c->q_head + --c->q_len) % CONN_PIPELINE_MAX];
    pthread_mutex_unlock(&c->q_mu);
    return p;
}

/* End a span and hand it to the reporter. error_type, when given, marks a
 * connection that failed before the response was complete. */
static void span_finish(struct ts_conn *c, struct pending *p, const char *error_type)
{
    p->span.end_ns = ts_now_ns();
    if (error_type) {
        p->span.status = TS_STATUS_ERROR;
        ts_span_attr_cstr(&p->span, "error.type", error_type);
    }
    if (p->span.kind == TS_KIND_SERVER)
        ts_ctx_clear_current(p->span.span_id);
    ts_rep_submit(&p->span);
    free(p);
}

/* The status code's verdict, per the OpenTelemetry HTTP conventions. */
static void span_set_status(struct pending *p, int status)
{
    ts_span_attr_int(&p->span, "http.response.status_code", status);
    int limit = p->span.kind == TS_KIND_SERVER ? 500 : 400;
    if (status >= limit)
        p->span.status = TS_STATUS_ERROR;
}

/* "host[:port]" of a Host header; port stays 0 when absent. */
static void split_host(const char *v, size_t len, const char **host, size_t *hlen, int *port)
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

static void attr_header(struct ts_span *s, const char *key, const struct ts_http_request *req,
                        const char *name)
{
    const struct ts_http_header *h = ts_http_find_header(req->headers, req->num_headers, name);
    if (h)
        ts_span_attr_str(s, key, h->value, h->value_len);
}

/* Fields every HTTP span gets from its request head. */
static struct pending *pending_new(const struct ts_http_request *req, uint8_t kind)
{
    struct pending *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    ts_span_clear(&p->span);
    p->span.kind = kind;
    p->span.start_ns = ts_now_ns();
    p->method_len =
        (uint8_t)(req->method_len < sizeof p->method ? req->method_len : sizeof p->method);
    memcpy(p->method, req->method, p->method_len);

    size_t path_len;
    const char *path = ts_http_target_path(req->target, req->target_len, &path_len);
    char name[160];
    int n = snprintf(name, sizeof name, "%.*s %.*s", (int)req->method_len, req->method,
                     (int)(path_len < 140 ? path_len : 140), path);
    ts_span_set_name(&p->span, name, n > 0 ? (size_t)n : 0);
    ts_span_attr_str(&p->span, "http.request.method", req->method, req->method_len);
    ts_span_attr_cstr(&p->span, "network.protocol.version", req->minor_version ? "1.1" : "1.0");
    return p;
}

/* Parent and trace of a new span: ctx (when valid) is the parent. The
 * sampler decides whether the span is recorded (its name must be set);
 * the decision travels on in mine, so downstream services agree. */
static void span_link(struct ts_span *s, const struct ts_ctx *parent, struct ts_ctx *mine)
{
    memset(mine, 0, sizeof *mine);
    if (parent && parent->valid) {
        memcpy(s->trace_id, parent->trace_id, TS_TRACE_ID_LEN);
        memcpy(s->parent_id, parent->span_id, TS_SPAN_ID_LEN);
        mine->trace_id_64 = parent->trace_id_64;
        memcpy(mine->parent_id, parent->span_id, TS_SPAN_ID_LEN);
        mine->has_parent = true;
    } else {
        ts_ids_new_trace(s->trace_id);
    }
    bool sampled = ts_sampler_should_sample(parent, s->trace_id, ts_span_name(s), s->name_len);
    mine->sampling = parent && parent->valid && parent->sampling == TS_SAMPLING_DEBUG
                         ? TS_SAMPLING_DEBUG
                     : sampled ? TS_SAMPLING_ACCEPT
                               : TS_SAMPLING_DENY;
    ts_ids_new_span(s->span_id);
    memcpy(mine->trace_id, s->trace_id, TS_TRACE_ID_LEN);
    memcpy(mine->span_id, s->span_id, TS_SPAN_ID_LEN);
    mine->valid = true;
    s->sampled = mine->sampling != TS_SAMPLING_DENY;
}

/* A client span for an outgoing request head, and the header lines to add
 * to it (written to inject, length in *inject_len). */
static struct pending *client_span_start(struct ts_conn *c, const struct ts_http_request *req,
                                         char *inject, size_t *inject_len)
{
    struct pending *p = pending_new(req, TS_KIND_CLIENT);
    if (!p)
        return NULL;
    struct ts_ctx app, mine;
    bool app_ctx = ts_prop_extract(req->headers, req->num_headers, &app);
    unsigned present = ts_prop_present(req->headers, req->num_headers);
    const struct ts_ctx *parent = app_ctx ? &app : ts_ctx_current();
    if (!parent)
        parent = ts_ctx_process();
    span_link(&p->span, parent, &mine);

    /* The program chose its own context: every format we add carries that
     * same context, so all headers agree; we never add a second copy of a
     * format it wrote. */
    unsigned formats = ts_cfg.propagators & ~present;
    *inject_len =
        formats ? ts_prop_inject(formats, app_ctx ? &app : &mine, inject, TS_PROP_INJECT_MAX) : 0;

    const struct ts_http_header *host = ts_http_find_header(req->headers, req->num_headers, "host");
    const char *h = c->peer_ip;
    size_t hlen = strlen(c->peer_ip);
    int port = c->peer_port;
    if (host) {
        int hp;
        split_host(host->value, host->value_len, &h, &hlen, &hp);
        if (hp)
            port = hp;
        else
            port = 80;
    }
    char url[512];
    int n;
    if (req->target_len && req->target[0] != '/')
        n = snprintf(url, sizeof url, "%.*s", (int)req->target_len, req->target);
    else if (host)
        n = snprintf(url, sizeof url, "http://%.*s%.*s", (int)host->value_len, host->value,
                     (int)req->target_len, req->target);
    else
        n = snprintf(url, sizeof url, "http://%s:%u%.*s", c->peer_ip, c->peer_port,
                     (int)req->target_len, req->target);
    if (n > 0)
        ts_span_attr_str(&p->span, "url.full", url,
                         (size_t)n < sizeof url ? (size_t)n : sizeof url - 1);
    ts_span_attr_str(&p->span, "server.address", h, hlen);
    ts_span_attr_int(&p->span, "server.port", port);
    ts_span_attr_cstr(&p->span, "network.peer.address", c->peer_ip);
    ts_span_attr_int(&p->span, "network.peer.port", c->peer_port);
    attr_header(&p->span, "user_agent.original", req, "user-agent");
    return p;
}

/* A server span for an incoming request head; it becomes the thread's
 * current span, the parent of the client calls made while serving it. */
static struct pending *server_span_start(struct ts_conn *c, const struct ts_http_request *req)
{
    struct pending *p = pending_new(req, TS_KIND_SERVER);
    if (!p)
        return NULL;
    struct ts_ctx in, mine;
    bool have = ts_prop_extract(req->headers, req->num_headers, &in);
    const struct ts_ctx *parent = have ? &in : ts_ctx_process();
    span_link(&p->span, parent, &mine);
    if (!have && in.sampling == TS_SAMPLING_DENY) { /* "b3: 0": a new trace, unsampled */
        mine.sampling = TS_SAMPLING_DENY;
        p->span.sampled = 0;
    }
    ts_ctx_set_current(&mine);

    size_t path_len;
    const char *path = ts_http_target_path(req->target, req->target_len, &path_len);
    ts_span_attr_str(&p->span, "url.path", path, path_len);
    const char *q = memchr(req->target, '?', req->target_len);
    if (q) {
        const char *end = memchr(q, '#', req->target_len - (size_t)(q - req->target));
        size_t qlen = (size_t)((end ? end : req->target + req->target_len) - q - 1);
        if (qlen)
            ts_span_attr_str(&p->span, "url.query", q + 1, qlen);
    }
    ts_span_attr_cstr(&p->span, "url.scheme", "http");
    const struct ts_http_header *host = ts_http_find_header(req->headers, req->num_headers, "host");
    if (host) {
        const char *h;
        size_t hlen;
        int hp;
        split_host(host->value, host->value_len, &h, &hlen, &hp);
        ts_span_attr_str(&p->span, "server.address", h, hlen);
    }
    ts_span_attr_int(&p->span, "server.port", c->local_port);
    ts_span_attr_cstr(&p->span, "client.address", c->peer_ip);
    ts_span_attr_cstr(&p->span, "network.peer.address", c->peer_ip);
    ts_span_attr_int(&p->span, "network.peer.port", c->peer_port);
    attr_header(&p->span, "user_agent.original", req, "user-agent");
    return p;
}

/* ------------------------------------------------------ observed streams */

static void conn_off(struct ts_conn *c, struct dir *d)
{
    d->state = DIR_OFF;
    d->head_len = 0;
}

/* A complete head on an observed stream. Sets up the body framing. */
/* A head parsed once, as a request or a response by the stream's kind. */
struct parsed_head {
    struct ts_http_header hdrs[CONN_MAX_HEADERS];
    struct ts_http_request req;
    struct ts_http_response res;
};

/* Parse the head at buf; returns its length, TS_HTTP_INCOMPLETE or
 * TS_HTTP_ERROR, with the fields in *ph when complete. */
static int parse_head(enum feed_kind kind, const char *buf, size_t len, struct parsed_head *ph)
{
    if (kind == FEED_SERVER_IN) {
        ph->req = (struct ts_http_request){.headers = ph->hdrs, .num_headers = CONN_MAX_HEADERS};
        return ts_http_parse_request(buf, len, &ph->req);
    }
    ph->res = (struct ts_http_response){.headers = ph->hdrs, .num_headers = CONN_MAX_HEADERS};
    return ts_http_parse_response(buf, len, &ph->res);
}

/* A complete head on an observed stream. Sets up the body framing. */
static bool on_head(struct ts_conn *c, enum feed_kind kind, struct dir *d,
                    const struct parsed_head *ph)
{
    d->interim = false;
    if (kind == FEED_SERVER_IN) {
        if (ts_http_request_body(&ph->req, &d->body))
            return false;
        struct pending *p = server_span_start(c, &ph->req);
        if (p && !q_push(c, p))
            free(p);
        return true;
    }
    const struct ts_http_response *res = &ph->res;
    pthread_mutex_lock(&c->q_mu);
    struct pending *p = q_front(c);
    pthread_mutex_unlock(&c->q_mu);
    if (res->status >= 100 && res->status < 200 && res->status != 101) {
        d->interim = true; /* 100 Continue and friends: the real answer follows */
        d->body.kind = TS_BODY_NONE;
        return true;
    }
    if (ts_http_response_body(res, p ? p->method : "GET", p ? p->method_len : 3, &d->body))
        return false;
    if (p)
        span_set_status(p, res->status);
    return true;
}

/* The end of a message on an observed stream. */
static void on_message_end(struct ts_conn *c, enum feed_kind kind)
{
    if (kind == FEED_CLIENT_IN || kind == FEED_SERVER_OUT) {
        struct pending *p = q_pop_front(c);
        if (p)
            span_finish(c, p, NULL);
    }
}

/* Feed bytes that went through an observed stream. */
static void dir_feed(struct ts_conn *c, enum feed_kind kind, struct dir *d, const char *p, size_t n)
{
    while (n > 0 && d->state != DIR_OFF) {
        if (d->state == DIR_BODY) {
            bool done = false;
            ssize_t k = ts_http_body_feed(&d->body, p, n, &done);
            if (k < 0) {
                conn_off(c, d);
                return;
            }
            p += k;
            n -= (size_t)k;
            if (done) {
                d->state = DIR_HEAD;
                on_message_end(c, kind);
            }
            continue;
        }
        if (kind == FEED_CLIENT_OUT) { /* heads of our requests go through send */
            conn_off(c, d);
            return;
        }
        size_t prev = d->head_len;
        const char *buf = p;
        size_t len = n;
        if (prev) {
            size_t take = n < max_head() - prev ? n : max_head() - prev;
            if (!buf_reserve(&d->head, &d->head_cap, prev + take)) {
                conn_off(c, d);
                return;
            }
            memcpy(d->head + prev, p, take);
            d->head_len += take;
            buf = d->head;
            len = d->head_len;
        }
        struct parsed_head ph;
        int h = parse_head(kind, buf, len, &ph);
        if (h <= 0) {
            if (h == TS_HTTP_INCOMPLETE && len < max_head()) {
                if (!prev) { /* keep the start for the next read */
                    if (!buf_reserve(&d->head, &d->head_cap, n)) {
                        conn_off(c, d);
                        return;
                    }
                    memcpy(d->head, p, n);
                    d->head_len = n;
                }
                return;
            }
            conn_off(c, d); /* not HTTP, or a head past our limit */
            return;
        }
        if (!on_head(c, kind, d, &ph)) {
            conn_off(c, d);
            return;
        }
        size_t used = (size_t)h - prev;
        d->head_len = 0;
        p += used;
        n -= used;
        if (d->body.kind == TS_BODY_TUNNEL) {
            on_message_end(c, kind);
            conn_off(c, &c->in);
            conn_off(c, &c->out);
            return;
        }
        if (d->body.kind == TS_BODY_NONE) {
            if (!d->interim)
                on_message_end(c, kind);
        } else {
            d->state = DIR_BODY;
        }
    }
}

/* ----------------------------------------------------------- owed bytes */

static bool owed_pending(const struct ts_conn *c)
{
    return c->owed_off < c->owed_len;
}

/* Send owed bytes. wait_ms > 0 waits that long for a full socket buffer to
 * drain. Returns true when nothing is owed any more; else errno says why. */
static bool owed_drain(struct ts_conn *c, int fd, int flags, int wait_ms)
{
    uint64_t deadline = ts_mono_ms() + (uint64_t)(wait_ms > 0 ? wait_ms : 0);
    while (owed_pending(c)) {
        ssize_t r = TS_REAL(send)(fd, c->owed + c->owed_off, c->owed_len - c->owed_off, flags);
        if (r > 0) {
            c->owed_off += (size_t)r;
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            uint64_t now = ts_mono_ms();
            if (now >= deadline)
                return false;
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            int saved = errno;
            if (poll(&pfd, 1, (int)(deadline - now)) <= 0) {
                errno = saved;
                return false;
            }
            continue;
        }
        return false;
    }
    c->owed_off = c->owed_len = 0;
    return true;
}

/* Make the unsent tail of segs (after `sent` bytes) owed. */
static bool owed_keep(struct ts_conn *c, const struct iovec *segs, int nseg, size_t sent)
{
    size_t total = iov_total(segs, nseg);
    size_t rest = total - sent;
    char *tmp = malloc(rest);
    if (!tmp)
        return false;
    iov_copy(tmp, segs, nseg, sent, rest);
    c->owed_off = c->owed_len = 0;
    bool ok = buf_reserve(&c->owed, &c->owed_cap, rest);
    if (ok) {
        memcpy(c->owed, tmp, rest);
        c->owed_len = rest;
    }
    free(tmp);
    return ok;
}

/* Give up on the outgoing stream: held head bytes become owed as they are. */
static void out_give_up(struct ts_conn *c)
{
    if (c->out.head_len) {
        struct iovec seg = {c->out.head, c->out.head_len};
        owed_keep(c, &seg, 1, 0);
    }
    conn_off(c, &c->out);
}

/* ------------------------------------------------------------ sending */

/* How many bytes of iov from off belong to the current body, and whether
 * the body ends within them (the state itself is not changed). */
static size_t body_extent(const struct ts_http_body *body, const struct iovec *iov, int iovcnt,
                          size_t off, bool *done)
{
    struct ts_http_body b = *body;
    size_t n = 0;
    *done = false;
    for (int i = 0; i < iovcnt && !*done; i++) {
        size_t len = iov[i].iov_len;
        if (off >= len) {
            off -= len;
            continue;
        }
        ssize_t k = ts_http_body_feed(&b, (const char *)iov[i].iov_base + off, len - off, done);
        if (k < 0)
            return SIZE_MAX; /* malformed: caller stops parsing */
        n += (size_t)k;
        off = 0;
    }
    return n;
}

/* Advance the outgoing body state over n bytes of iov from off. */
static void out_body_advance(struct ts_conn *c, const struct iovec *iov, int iovcnt, size_t off,
                             size_t n)
{
    for (int i = 0; i < iovcnt && n > 0 && c->out.state == DIR_BODY; i++) {
        size_t len = iov[i].iov_len;
        if (off >= len) {
            off -= len;
            continue;
        }
        size_t take = len - off < n ? len - off : n;
        bool done = false;
        ssize_t k =
            ts_http_body_feed(&c->out.body, (const char *)iov[i].iov_base + off, take, &done);
        if (k < 0) {
            conn_off(c, &c->out);
            return;
        }
        if (done)
            c->out.state = DIR_HEAD;
        n -= take;
        off = 0;
    }
}

static ssize_t send_segments(int fd, struct iovec *segs, int nseg, int flags)
{
    struct msghdr msg = {.msg_iov = segs, .msg_iovlen = (size_t)nseg};
    return TS_REAL(sendmsg)(fd, &msg, flags);
}

/* Observed send: pass the program's call through, feed what went out. */
static ssize_t send_observed(struct ts_conn *c, enum feed_kind kind, const struct iovec *iov,
                             int iovcnt, ts_conn_pass_fn pass, void *arg)
{
    ssize_t r = pass(arg);
    int saved = errno;
    if (r > 0) {
        size_t left = (size_t)r;
        for (int i = 0; i < iovcnt && left > 0; i++) {
            size_t k = iov[i].iov_len < left ? iov[i].iov_len : left;
            dir_feed(c, kind, &c->out, iov[i].iov_base, k);
            left -= k;
        }
    }
    errno = saved;
    return r;
}

/* The client's outgoing stream: bodies pass, heads get the trace headers. */
static ssize_t send_client(struct ts_conn *c, int fd, const struct iovec *iov, int iovcnt,
                           int flags, ts_conn_pass_fn pass, void *arg)
{
    size_t total = iov_total(iov, iovcnt);

    if (c->out.state == DIR_OFF)
        return pass(arg);

    if (c->out.state == DIR_BODY) {
        bool done;
        size_t body = body_extent(&c->out.body, iov, iovcnt, 0, &done);
        if (body == SIZE_MAX) {
            conn_off(c, &c->out);
            return pass(arg);
        }
        ssize_t r;
        if (!done || body >= total) {
            r = pass(arg);
        } else {
            /* The next request starts in this buffer: end this call at the
             * body's end so its head is handled on its own next time. */
            struct iovec segs[CONN_IOV_STACK];
            int nseg = iov_slice(segs, CONN_IOV_STACK, iov, iovcnt, 0, body);
            r = send_segments(fd, segs, nseg, flags);
        }
        int saved = errno;
        if (r > 0)
            out_body_advance(c, iov, iovcnt, 0, (size_t)r);
        errno = saved;
        return r;
    }

    /* DIR_HEAD: the start (or more) of a request head. */
    size_t held = c->out.head_len;
    size_t limit = max_head();
    const char *head;
    size_t avail;
    struct ts_http_header hdrs[CONN_MAX_HEADERS];
    struct ts_http_request req = {.headers = hdrs, .num_headers = CONN_MAX_HEADERS};
    int h = TS_HTTP_INCOMPLETE;
    if (!held &&
        (h = ts_http_parse_request(iov[0].iov_base, iov[0].iov_len, &req)) != TS_HTTP_INCOMPLETE) {
        head = iov[0].iov_base; /* the usual case: a whole head, parsed in place */
        avail = iov[0].iov_len;
    } else {
        size_t take = total < limit - held ? total : limit - held;
        if (!buf_reserve(&c->out.head, &c->out.head_cap, held + take)) {
            out_give_up(c);
            goto resend;
        }
        iov_copy(c->out.head + held, iov, iovcnt, 0, take);
        head = c->out.head;
        avail = held + take;
        req.num_headers = CONN_MAX_HEADERS;
        h = ts_http_parse_request(head, avail, &req);
    }
    if (h == TS_HTTP_INCOMPLETE && avail < limit && ts_http_looks_like_request(head, avail)) {
        /* Hold the piece: the program goes on writing its head, and the
         * headers must go in before the head's end. */
        c->out.head_len = avail;
        return (ssize_t)total;
    }
    if (h <= 0) {
        c->out.head_len = held;
        out_give_up(c); /* not HTTP (or too big): the held bytes go as they were */
        goto resend;
    }

    /* A complete head of h bytes: held bytes plus `used` of this call. */
    size_t used = (size_t)h - held;
    char inject[TS_PROP_INJECT_MAX];
    size_t inject_len = 0;
    struct pending *p = client_span_start(c, &req, inject, &inject_len);
    struct ts_http_body body;
    if (ts_http_request_body(&req, &body)) {
        free(p);
        c->out.head_len = held;
        out_give_up(c);
        goto resend;
    }
    size_t ins = ts_http_inject_offset(head, (size_t)h);

    /* The body bytes that may ride along in this call. */
    size_t tail = total - used;
    if (body.kind == TS_BODY_NONE) {
        tail = 0; /* a next request starts after this head: next call */
    } else if (tail) {
        bool done;
        size_t ext = body_extent(&body, iov, iovcnt, used, &done);
        if (ext != SIZE_MAX && done)
            tail = ext;
    }

    struct iovec stack_segs[CONN_IOV_STACK + 3];
    struct iovec *segs = stack_segs;
    int maxseg = CONN_IOV_STACK;
    if (iovcnt > CONN_IOV_STACK) {
        segs = malloc(sizeof *segs * ((size_t)iovcnt + 3));
        maxseg = iovcnt;
        if (!segs) {
            free(p);
            c->out.head_len = held;
            out_give_up(c);
            goto resend;
        }
    }
    int nseg = 0;
    segs[nseg++] = (struct iovec){(void *)head, ins};
    segs[nseg++] = (struct iovec){inject, inject_len};
    segs[nseg++] = (struct iovec){(void *)(head + ins), (size_t)h - ins};
    nseg += iov_slice(segs + nseg, maxseg, iov, iovcnt, used, tail);
    size_t claimed = (size_t)h + inject_len;

    bool queued = p && q_push(c, p);
    if (p && !queued)
        free(p);
    ssize_t r = send_segments(fd, segs, nseg, flags);
    int saved = errno;
    if (r <= 0) {
        /* Nothing went out: the program will try again with the same bytes
         * and we parse them again then. */
        if (queued)
            free(q_pop_back(c));
        c->out.head_len = held;
        if (segs != stack_segs)
            free(segs);
        errno = saved;
        return r;
    }

    /* Committed: the head is the program's past now. */
    c->out.head_len = 0;
    c->out.body = body;
    c->out.state = body.kind == TS_BODY_NONE ? DIR_HEAD : DIR_BODY;
    ssize_t result;
    if ((size_t)r < claimed) {
        /* Stopped inside the head: the program is told its head went out;
         * the rest is owed and goes before any more of its bytes. */
        if (!owed_keep(c, segs, 3, (size_t)r))
            conn_off(c, &c->out);
        owed_drain(c, fd, flags, CONN_OWED_DRAIN_MS);
        result = (ssize_t)used;
    } else {
        size_t body_sent = (size_t)r - claimed;
        out_body_advance(c, iov, iovcnt, used, body_sent);
        result = (ssize_t)(used + body_sent);
    }
    if (segs != stack_segs)
        free(segs);
    errno = saved;
    return result;

resend:
    /* Tracing of this stream stopped; bytes we held go out first. */
    if (owed_pending(c) && !owed_drain(c, fd, flags, CONN_OWED_DRAIN_MS))
        return -1;
    return pass(arg);
}

/* Whether a send on fd may wait: not with MSG_DONTWAIT or O_NONBLOCK. */
static bool send_may_block(int fd, int flags)
{
    if (flags & MSG_DONTWAIT)
        return false;
    int fl = TS_REAL(fcntl)(fd, F_GETFL);
    return fl >= 0 && !(fl & O_NONBLOCK);
}

ssize_t ts_conn_send(struct ts_conn *c, int fd, const struct iovec *iov, int iovcnt, int flags,
                     ts_conn_pass_fn pass, void *arg)
{
    int saved = errno;
    pthread_mutex_lock(&c->out_mu);
    ssize_t r;
    if (owed_pending(c) &&
        !owed_drain(c, fd, flags, send_may_block(fd, flags) ? CONN_OWED_DRAIN_MS : 0)) {
        r = -1; /* errno from the drain: EAGAIN, EPIPE, ... */
    } else if (iovcnt <= 0 || iov_total(iov, iovcnt) == 0) {
        errno = saved;
        r = pass(arg);
    } else if (c->role == TS_ROLE_CLIENT) {
        errno = saved;
        r = send_client(c, fd, iov, iovcnt, flags, pass, arg);
    } else {
        errno = saved;
        r = send_observed(c, FEED_SERVER_OUT, iov, iovcnt, pass, arg);
    }
    saved = errno;
    pthread_mutex_unlock(&c->out_mu);
    errno = saved;
    return r;
}

/* ------------------------------------------------------------ receiving */

void ts_conn_recv_prepare(struct ts_conn *c, int fd)
{
    if (c->role != TS_ROLE_CLIENT)
        return;
    int saved = errno;
    pthread_mutex_lock(&c->out_mu);
    if (c->out.state == DIR_HEAD && c->out.head_len) {
        /* It reads before finishing its head: not the HTTP we know. */
        out_give_up(c);
    }
    if (owed_pending(c))
        owed_drain(c, fd, MSG_NOSIGNAL, CONN_OWED_DRAIN_MS);
    pthread_mutex_unlock(&c->out_mu);
    errno = saved;
}

/* The peer closed or the connection failed: end what cannot complete. */
static void in_closed(struct ts_conn *c, const char *error_type)
{
    if (c->role != TS_ROLE_CLIENT)
        return;
    if (c->in.state == DIR_BODY && c->in.body.kind == TS_BODY_UNTIL_CLOSE) {
        c->in.state = DIR_HEAD;
        on_message_end(c, FEED_CLIENT_IN); /* a close-delimited response ends here */
    }
    struct pending *p;
    while ((p = q_pop_front(c)))
        span_finish(c, p, error_type);
}

void ts_conn_recv_done(struct ts_conn *c, const struct iovec *iov, int iovcnt, ssize_t r, int flags,
                       int err)
{
    if (flags & MSG_PEEK)
        return;
    if (r < 0 && (err == EAGAIN || err == EWOULDBLOCK || err == EINTR))
        return;
    int saved = errno;
    pthread_mutex_lock(&c->in_mu);
    enum feed_kind kind = c->role == TS_ROLE_CLIENT ? FEED_CLIENT_IN : FEED_SERVER_IN;
    if (r > 0) {
        size_t left = (size_t)r;
        for (int i = 0; i < iovcnt && left > 0; i++) {
            size_t k = iov[i].iov_len < left ? iov[i].iov_len : left;
            dir_feed(c, kind, &c->in, iov[i].iov_base, k);
            left -= k;
        }
    } else if (r == 0) {
        in_closed(c, "connection_closed");
    } else {
        in_closed(c, "connection_error");
    }
    pthread_mutex_unlock(&c->in_mu);
    errno = saved;
}

/* --------------------------------------------------------- life and fds */

/* The last reference is gone: end every span still open. */
static void conn_destroy(struct ts_fd_ref *ref)
{
    struct ts_conn *c = (struct ts_conn *)ref;
    int saved = errno;
    struct dir *resp = c->role == TS_ROLE_CLIENT ? &c->in : &c->out;
    if (resp->state == DIR_BODY && resp->body.kind == TS_BODY_UNTIL_CLOSE) {
        struct pending *p = q_pop_front(c);
        if (p)
            span_finish(c, p, NULL);
    }
    struct pending *p;
    while ((p = q_pop_front(c)))
        span_finish(c, p, "connection_closed");
    conn_free(c);
    errno = saved;
}

void ts_conn_track(int fd, int role, const struct sockaddr *peer, socklen_t peer_len)
{
    int saved = errno;
    struct ts_conn *c = conn_alloc();
    if (!c) {
        ts_conn_untrack(fd);
        errno = saved;
        return;
    }
    c->role = (uint8_t)role;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (peer && peer_len <= sizeof ss) {
        memset(&ss, 0, sizeof ss);
        memcpy(&ss, peer, peer_len);
        addr_text(&ss, c->peer_ip, sizeof c->peer_ip, &c->peer_port);
    } else if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0) {
        addr_text(&ss, c->peer_ip, sizeof c->peer_ip, &c->peer_port);
    }
    len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
        addr_text(&ss, c->local_ip, sizeof c->local_ip, &c->local_port);
    struct ts_fd_ref *old = ts_fd_install(fd, &c->ref);
    if (old == &c->ref) /* fd out of the table's range: not tracked */
        conn_free(c);
    else if (old)
        ts_fd_put(old);
    errno = saved;
}

void ts_conn_untrack(int fd)
{
    int saved = errno;
    struct ts_fd_ref *old = ts_fd_remove(fd);
    if (old)
        ts_fd_put(old);
    errno = saved;
}

void ts_conn_untrack_range(unsigned first, unsigned last)
{
    unsigned hw = (unsigned)ts_fd_high_water();
    if (last >= hw)
        last = hw ? hw - 1 : 0;
    for (unsigned fd = first; fd <= last && fd < hw; fd++)
        if (ts_fd_tracked((int)fd))
            ts_conn_untrack((int)fd);
}

void ts_conn_dup(int oldfd, int newfd)
{
    int saved = errno;
    struct ts_fd_ref *r = ts_fd_acquire(oldfd);
    if (!r) {
        ts_conn_untrack(newfd);
    } else {
        /* our acquired reference becomes the new slot's */
        struct ts_fd_ref *old = ts_fd_install(newfd, r);
        if (old == r)
            ts_fd_put(r); /* out of range */
        else if (old)
            ts_fd_put(old);
    }
    errno = saved;
}

struct ts_conn *ts_conn_get(int fd)
{
    return (struct ts_conn *)ts_fd_acquire(fd);
}

void ts_conn_put(struct ts_conn *c)
{
    ts_fd_put(&c->ref);
}

void ts_conn_before_close(struct ts_conn *c, int fd)
{
    int saved = errno;
    pthread_mutex_lock(&c->out_mu);
    if (c->role == TS_ROLE_CLIENT && c->out.state == DIR_HEAD && c->out.head_len)
        out_give_up(c);
    if (owed_pending(c))
        owed_drain(c, fd, MSG_NOSIGNAL, CONN_OWED_DRAIN_MS);
    pthread_mutex_unlock(&c->out_mu);
    errno = saved;
}
