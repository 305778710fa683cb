/* conn.c — a tracked connection's life and the streams it only observes.
 *
 * Four byte streams, two roles:
 *   client: out = requests (headers injected: conn_send.c), in = responses
 *   server: in  = requests (context extracted),    out = responses
 * The three observed streams pass unchanged; their bytes are fed to the
 * HTTP parser after the real call says how many went through. Spans come
 * from conn_spans.c. */
#include "conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../preload/blocks.h"
#include "../preload/clock.h"
#include "../preload/config.h"
#include "../preload/fdtable.h"
#include "../preload/fork_state.h"
#include "../reporter/reporter.h"
#include "conn_internal.h"
#include "fcgi.h"
#include "held.h"
#include "http1.h"
#include "refused_address.h"

/* ---------------------------------------------------------------- pool */

/* Connection objects are never given back: the fd table may probe a stale
 * pointer (see fdtable.h), so their memory must stay valid. They come from
 * blocks, not malloc, as does every buffer they use (preload/blocks.h: a
 * traced call may run in a signal handler that interrupted malloc). */
static pthread_mutex_t pool_mu TS_FORK_STATE = PTHREAD_MUTEX_INITIALIZER;
static struct ts_conn *pool_free;
static struct ts_block_pool conn_blocks TS_FORK_STATE = TS_BLOCK_POOL_INIT(sizeof(struct ts_conn));
/* The spilled span queues of connections with pipelined requests. */
static struct ts_block_pool q_blocks TS_FORK_STATE =
    TS_BLOCK_POOL_INIT(CONN_PIPELINE_MAX * sizeof(struct pending *));
/* Directions' messages under way (struct dir_ext). */
static struct ts_block_pool ext_blocks TS_FORK_STATE = TS_BLOCK_POOL_INIT(sizeof(struct dir_ext));
/* What few connections need (struct conn_rare). */
static struct ts_block_pool rare_blocks TS_FORK_STATE =
    TS_BLOCK_POOL_INIT(sizeof(struct conn_rare));

static void conn_destroy(struct ts_fd_ref *ref);

static struct ts_conn *conn_alloc(void)
{
    pthread_mutex_lock(&pool_mu);
    struct ts_conn *c = pool_free;
    if (c)
        pool_free = c->next_free;
    pthread_mutex_unlock(&pool_mu);
    if (!c) {
        c = ts_block_get(&conn_blocks);
        if (!c)
            return NULL;
        atomic_init(&c->ref.refs, 0);
    }
    /* A recycled connection can still be probed through a stale fd table
     * slot, which reads its count atomically (ts_fd_acquire): clear all
     * but the count, and set that with an atomic store. */
    size_t keep = offsetof(struct ts_conn, ref.destroy);
    memset((char *)c + keep, 0, sizeof *c - keep);
    atomic_store_explicit(&c->ref.refs, 1, memory_order_relaxed);
    c->ref.destroy = conn_destroy;
    atomic_init(&c->out.mu.state, 0);
    atomic_init(&c->in.mu.state, 0);
    atomic_init(&c->q_mu.state, 0);
    return c;
}

/* Give back d's message state, whatever it holds. */
static void dir_release(struct dir *d)
{
    d->state = DIR_HEAD;
    conn_head_release(d);
}

static void conn_free(struct ts_conn *c)
{
    dir_release(&c->out);
    dir_release(&c->in);
    conn_wire_release(c);
    if (c->q_spilled) /* normally given back when the queue emptied */
        ts_block_put(&q_blocks, c->q.spill);
    c->q_spilled = false;
    ts_block_put(&rare_blocks, c->rare); /* NULL is fine */
    c->rare = NULL;
    pthread_mutex_lock(&pool_mu);
    c->next_free = pool_free;
    pool_free = c;
    pthread_mutex_unlock(&pool_mu);
}

/* ------------------------------------------------------------- helpers */

size_t conn_max_head(void)
{
    return ts_cfg.max_head_bytes ? ts_cfg.max_head_bytes : 16384;
}

size_t conn_max_request_head(void)
{
    return conn_max_head() + TS_PROP_INJECT_MAX;
}

static atomic_size_t ext_taken;

struct dir_ext *conn_dir_ext(struct dir *d)
{
    if (!d->x) {
        struct dir_ext *x = ts_block_get(&ext_blocks);
        if (!x)
            return NULL;
        atomic_fetch_add_explicit(&ext_taken, 1, memory_order_relaxed);
        x->head = NULL;
        x->head_len = x->head_cap = 0;
        x->answered_at = 0;
        memset(&x->body, 0, sizeof x->body);
        d->x = x;
    }
    return d->x;
}

void conn_dir_settle(struct dir *d)
{
    if (d->x && !d->x->head && d->state != DIR_BODY) {
        ts_block_put(&ext_blocks, d->x);
        d->x = NULL;
    }
}

size_t conn_dir_ext_carved(void)
{
    return ts_block_pool_carved(&ext_blocks);
}

size_t conn_dir_ext_taken(void)
{
    return atomic_load_explicit(&ext_taken, memory_order_relaxed);
}

bool conn_head_reserve(struct dir *d, size_t need)
{
    struct dir_ext *x = conn_dir_ext(d);
    if (!x)
        return false;
    size_t cap = x->head_cap;
    if (!ts_buf_reserve(&x->head, &cap, need)) {
        conn_dir_settle(d);
        return false;
    }
    x->head_cap = (uint32_t)cap;
    return true;
}

void conn_head_release(struct dir *d)
{
    struct dir_ext *x = d->x;
    if (!x)
        return;
    size_t cap = x->head_cap;
    ts_buf_release(&x->head, &cap);
    x->head_len = x->head_cap = 0;
    conn_dir_settle(d);
}

struct out_wire *conn_wire_reserve(struct ts_conn *c, size_t len)
{
    char *block = (char *)c->wire;
    size_t cap = c->wire ? c->wire->cap : 0;
    if (!ts_buf_reserve(&block, &cap, offsetof(struct out_wire, buf) + len))
        return NULL;
    c->wire = (struct out_wire *)(void *)block;
    c->wire->cap = (uint32_t)cap;
    return c->wire;
}

void conn_wire_release(struct ts_conn *c)
{
    if (!c->wire)
        return;
    char *block = (char *)c->wire;
    size_t cap = c->wire->cap;
    ts_buf_release(&block, &cap);
    c->wire = NULL;
}

/* The decimal text of every address byte, at most three digits and its
 * length, four bytes to copy at once. */
struct octet {
    char digits[3];
    uint8_t len;
};
#define OCTET(n)                                                                                   \
    {{(char)('0' + ((n) >= 100 ? (n) / 100 : (n) >= 10 ? (n) / 10 : (n))),                        \
      (char)('0' + ((n) >= 100 ? (n) / 10 % 10 : (n) % 10)), (char)('0' + (n) % 10)},             \
     (uint8_t)((n) >= 100 ? 3 : (n) >= 10 ? 2 : 1)}
#define OCTET4(n) OCTET(n), OCTET((n) + 1), OCTET((n) + 2), OCTET((n) + 3)
#define OCTET16(n) OCTET4(n), OCTET4((n) + 4), OCTET4((n) + 8), OCTET4((n) + 12)
#define OCTET64(n) OCTET16(n), OCTET16((n) + 16), OCTET16((n) + 32), OCTET16((n) + 48)
static const struct octet octets[256] = {OCTET64(0), OCTET64(64), OCTET64(128), OCTET64(192)};

/* inet_ntop's dotted quad of a (network order), without its snprintf:
 * each byte's four table bytes go in whole, the next '.' or the end
 * overwrites the fourth (at most 16 bytes of out are written). */
static size_t format_v4(const uint8_t a[4], char out[16])
{
    char *p = out;
    for (int i = 0; i < 4; i++) {
        const struct octet *o = &octets[a[i]];
        memcpy(p, o, sizeof *o);
        p += o->len;
        *p++ = '.';
    }
    p[-1] = '\0';
    return (size_t)(p - 1 - out);
}

/* The text of the IPv4 peers this thread wrote out last, by address. A
 * span needs its peer's text on every request, and a keep-alive
 * connection's peer never changes, nor do a server's few busiest ones (its
 * load balancers): a compare and a 16-byte copy instead of the formatting.
 * Keyed by the address and not the connection, so that a new connection
 * on a reused fd, a recycled connection object or a forked child can only
 * ever read the text of the address it has. Never touched by two threads;
 * a signal handler's traced call cannot reach it while this thread is in
 * the shim (the guard passes it through). */
#define PEER_TEXT_SLOTS 8
struct peer_text {
    uint32_t addr;
    uint8_t len; /* 0: empty (every address's text has 7 bytes or more) */
    char text[16];
};
static __thread struct peer_text peer_texts[PEER_TEXT_SLOTS]
    __attribute__((tls_model("initial-exec")));

/* conn_peer_ip for an address that is not in its slot: the slot takes
 * it. Out of line, so that the look-up that finds the text saves no
 * registers. */
static __attribute__((noinline)) size_t peer_text_fill(struct peer_text *t, uint32_t addr,
                                                       char out[INET6_ADDRSTRLEN])
{
    uint8_t a[4];
    memcpy(a, &addr, sizeof a);
    t->len = (uint8_t)format_v4(a, t->text);
    t->addr = addr;
    memcpy(out, t->text, sizeof t->text);
    return t->len;
}

/* conn_peer_ip of an IPv6 peer (its text was written when the connection
 * was made) or of none; out of line, as peer_text_fill. */
static __attribute__((noinline)) size_t peer_ip_not_v4(const struct ts_conn *c,
                                                       char out[INET6_ADDRSTRLEN])
{
    if (c->peer_family == 6) {
        size_t n = strlen(c->rare->peer_ip);
        memcpy(out, c->rare->peer_ip, n + 1);
        return n;
    }
    out[0] = '\0';
    return 0;
}

size_t conn_peer_ip(const struct ts_conn *c, char out[INET6_ADDRSTRLEN])
{
    if (c->peer_family != 4)
        return peer_ip_not_v4(c, out);
    uint32_t addr;
    memcpy(&addr, c->peer_v4, sizeof addr);
    /* a multiplicative hash: its top bits depend on every byte */
    struct peer_text *t = &peer_texts[(addr * 0x9e3779b1u) >> 29];
    _Static_assert(PEER_TEXT_SLOTS == 8, "the slot is the top three bits of the hash");
    if (t->addr != addr || !t->len)
        return peer_text_fill(t, addr, out);
    memcpy(out, t->text, sizeof t->text);
    return t->len;
}

/* c's rare block, taken when it has none (NULL without memory). */
static struct conn_rare *conn_rare(struct ts_conn *c)
{
    if (!c->rare) {
        c->rare = ts_block_get(&rare_blocks);
        if (c->rare)
            memset(c->rare, 0, sizeof *c->rare);
    }
    return c->rare;
}

/* The peer's address and port from ss (an IPv4-mapped IPv6 address is its
 * IPv4 one, as text goes). */
static void peer_from(struct ts_conn *c, const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        memcpy(c->peer_v4, &a->sin_addr, 4);
        c->peer_family = 4;
        c->peer_port = ntohs(a->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
            memcpy(c->peer_v4, &a->sin6_addr.s6_addr[12], 4);
            c->peer_family = 4;
        } else if (conn_rare(c)) {
            inet_ntop(AF_INET6, &a->sin6_addr, c->rare->peer_ip, sizeof c->rare->peer_ip);
            c->peer_family = 6;
        }
        c->peer_port = ntohs(a->sin6_port);
    }
}

/* The text of a Unix-domain address of len bytes (as connect, accept or
 * getsockname gave it) in out: its path, an abstract name with '@' for
 * its leading NUL, "" for an unnamed socket. */
static void unix_path_text(const struct sockaddr_un *a, socklen_t len, char out[CONN_UNIX_PATH_MAX])
{
    size_t at = offsetof(struct sockaddr_un, sun_path);
    size_t n = len > at ? len - at : 0;
    if (n > sizeof a->sun_path)
        n = sizeof a->sun_path;
    if (n && a->sun_path[0] != '\0') /* a path: up to its NUL, if any */
        n = strnlen(a->sun_path, n);
    memcpy(out, a->sun_path, n);
    out[n] = '\0';
    if (n)
        out[0] = out[0] ? out[0] : '@';
    for (size_t i = 1; i < n; i++) /* an abstract name may hold NULs: text may not */
        if (out[i] == '\0')
            out[i] = '@';
}

/* A connection over a Unix-domain socket: the path of the socket it is
 * to (a client's peer, a server's own), when there is memory to keep it. */
static void unix_from(struct ts_conn *c, const struct sockaddr_storage *ss, socklen_t len)
{
    c->peer_family = CONN_UNIX;
    if (conn_rare(c))
        unix_path_text((const struct sockaddr_un *)ss, len, c->rare->unix_path);
}

/* The port of a local address. */
static uint16_t port_of(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)ss)->sin_port);
    if (ss->ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
    return 0;
}

/* --------------------------------------------------------------- spans */

/* The spans' queue (see CONN_Q_INLINE), q_mu held. */
static struct pending **q_slots(struct ts_conn *c)
{
    return c->q_spilled ? c->q.spill : c->q.slots;
}

static unsigned q_cap(const struct ts_conn *c)
{
    return c->q_spilled ? CONN_PIPELINE_MAX : CONN_Q_INLINE;
}

/* The slot i places behind the queue's head. Each capacity is a constant
 * where it is used, so this costs no division (a connection that has not
 * spilled has a single slot: always 0). */
static unsigned q_at(const struct ts_conn *c, unsigned i)
{
    unsigned k = c->q_head + i;
    return c->q_spilled ? k % CONN_PIPELINE_MAX : k % CONN_Q_INLINE;
}

static struct pending *q_front(struct ts_conn *c)
{
    return c->q_len ? q_slots(c)[c->q_head] : NULL;
}

/* More requests in flight than the connection has room for: move them to
 * a block with room for CONN_PIPELINE_MAX. False when there is no memory. */
static bool q_spill(struct ts_conn *c)
{
    struct pending **spill = ts_block_get(&q_blocks);
    if (!spill)
        return false;
    for (unsigned i = 0; i < c->q_len; i++)
        spill[i] = c->q.slots[(c->q_head + i) % CONN_Q_INLINE];
    c->q.spill = spill;
    c->q_spilled = true;
    c->q_head = 0;
    return true;
}

/* The queue is empty again: back to the room in the connection. */
static void q_unspill(struct ts_conn *c)
{
    if (c->q_len || !c->q_spilled)
        return;
    ts_block_put(&q_blocks, c->q.spill);
    c->q_spilled = false;
    c->q.spill = NULL;
    c->q_head = 0;
}

bool conn_q_push(struct ts_conn *c, struct pending *p, unsigned *ahead)
{
    conn_lock(&c->q_mu);
    if (!c->q_spilled && c->q_len == CONN_Q_INLINE)
        (void)q_spill(c); /* else full: the push fails as at CONN_PIPELINE_MAX */
    bool ok = c->q_len < q_cap(c);
    if (ahead)
        *ahead = c->q_len;
    if (ok) {
        q_slots(c)[q_at(c, c->q_len)] = p;
        c->q_len++;
    }
    conn_unlock(&c->q_mu);
    return ok;
}

/* The oldest span, taken off the queue (NULL: none), q_mu held. */
static inline struct pending *q_take_front(struct ts_conn *c)
{
    struct pending *p = NULL;
    if (c->q_len) {
        p = q_slots(c)[c->q_head];
        c->q_head = (uint8_t)q_at(c, 1);
        c->q_len--;
        q_unspill(c);
    }
    return p;
}

/* The oldest span, taken off the queue; *next (may be NULL): the one
 * behind it, now the oldest, or NULL. */
static struct pending *q_pop_front_next(struct ts_conn *c, struct pending **next)
{
    conn_lock(&c->q_mu);
    struct pending *p = q_take_front(c);
    if (next)
        *next = q_front(c);
    conn_unlock(&c->q_mu);
    return p;
}

static struct pending *q_pop_front(struct ts_conn *c)
{
    return q_pop_front_next(c, NULL);
}

/* Undo the last push (a request that could not be sent at all). */
struct pending *conn_q_pop_back(struct ts_conn *c)
{
    conn_lock(&c->q_mu);
    struct pending *p = NULL;
    if (c->q_len) {
        c->q_len--;
        p = q_slots(c)[q_at(c, c->q_len)];
        q_unspill(c);
    }
    conn_unlock(&c->q_mu);
    return p;
}

/* ------------------------------------------------------ observed streams */

static void answered_span_so_far(struct ts_conn *c, struct dir *in);

void conn_off(struct ts_conn *c, struct dir *d, enum ts_stat why)
{
    answered_span_so_far(c, d); /* its head comes no further */
    d->state = DIR_OFF;
    conn_head_release(d); /* and the rest of d->x */
    unsigned char bit = d == &c->out ? CONN_OFF_OUT : CONN_OFF_IN;
    if (atomic_fetch_or_explicit(&c->dirs_off, bit, memory_order_release) == 0)
        ts_stats_add(why, 1);
}

void conn_check_tunnel(struct ts_conn *c, struct dir *d)
{
    if (d->state != DIR_OFF && atomic_load_explicit(&c->tunnel, memory_order_acquire))
        conn_off(c, d, TS_STAT_GAVE_UP_TUNNEL);
}

void conn_check_responses(struct ts_conn *c)
{
    /* (the reason is never counted: the responses' direction counted the
     * connection when it stopped) */
    if (c->out.state != DIR_OFF && !conn_wire_pending(c) &&
        (atomic_load_explicit(&c->dirs_off, memory_order_acquire) & CONN_OFF_IN))
        conn_off(c, &c->out, TS_STAT_GAVE_UP_BAD_HEAD);
}

/* A server's response that turns the connection into a tunnel (101, or
 * 2xx to CONNECT) must stop the parsing of the requests before it goes
 * out: the peer may send tunnel bytes the moment it has it, and another
 * thread may read them before this one parses what it sent. */
static void tunnel_ahead(struct ts_conn *c, const struct iovec *iov, int iovcnt)
{
    /* (an array or a buffer in the zero page: the kernel refuses the send) */
    if (c->out.state != DIR_HEAD || iovcnt < 1 || ts_address_refused(iov) ||
        iov[0].iov_len < 13 || ts_address_refused(iov[0].iov_base))
        return;
    const char *b = iov[0].iov_base;
    bool upgrade = memcmp(b + 9, "101", 3) == 0;
    bool maybe_connect_ok = b[9] == '2' && conn_seen(c, CONN_SEEN_CONNECT);
    if (!upgrade && !maybe_connect_ok) /* nearly every response: no tunnel */
        return;
    if (memcmp(b, "HTTP/1.", 7) != 0 || b[8] != ' ')
        return;
    bool connect_ok = false;
    if (maybe_connect_ok) {
        conn_lock(&c->q_mu);
        struct pending *p = q_front(c);
        connect_ok = p && ts_http_is_connect(p->method, p->method_len);
        conn_unlock(&c->q_mu);
    }
    if (upgrade || connect_ok)
        atomic_store_explicit(&c->tunnel, true, memory_order_release);
}

/* A head parsed once, as a request or a response by the stream's kind. */
struct parsed_head {
    union conn_head_space space;
    struct ts_http_request req;
    struct ts_http_response res;
    /* A FastCGI response head (conn_fcgi.c: its records up to the end of
     * its CGI head): the framing of its records after it. */
    struct ts_http_body fcgi_rest;
};

/* parse_head for a FastCGI stream (a request's, or the responses of a
 * connection whose requests are FastCGI). */
static __attribute__((noinline)) int parse_fcgi_head(enum feed_kind kind, const char *buf,
                                                     size_t len, struct parsed_head *ph)
{
    if (kind == FEED_SERVER_IN) {
        struct ts_fcgi_request fr;
        int h = conn_fcgi_parse_request(buf, len, &ph->space.fcgi, &fr);
        ph->req = fr.http;
        return h;
    }
    return ts_fcgi_parse_response(buf, len, &ph->res.status, &ph->fcgi_rest);
}

/* Parse the head at buf (len > 0); returns its length, TS_HTTP_INCOMPLETE
 * or TS_HTTP_ERROR, with the fields in *ph when complete. c: the
 * connection, whose requests may be FastCGI; NULL: HTTP alone. A head
 * parsed whole starts with byte 1 when, and only when, it is FastCGI's
 * (no HTTP head does). */
static int parse_head(const struct ts_conn *c, enum feed_kind kind, const char *buf, size_t len,
                      struct parsed_head *ph)
{
    if (__builtin_expect(conn_fcgi_byte(buf[0]), 0) && c &&
        (kind == FEED_SERVER_IN || conn_seen(c, CONN_SEEN_FCGI)))
        return parse_fcgi_head(kind, buf, len, ph);
    /* Only the inputs are set: a parser writes every other field of a
     * head it returns, and nothing reads them after any other result. */
    if (kind == FEED_SERVER_IN) {
        ph->req.headers = ph->space.hdrs;
        ph->req.num_headers = CONN_MAX_REQUEST_HEADERS;
        return ts_http_parse_request(buf, len, &ph->req);
    }
    /* on_head reads a response's status and framing, nothing else */
    ph->res.headers = ph->space.hdrs;
    ph->res.num_headers = CONN_MAX_HEADERS;
    return ts_http_parse_response_framing(buf, len, &ph->res);
}

bool conn_serving_ctx(struct ts_conn *c, struct ts_ctx *ctx)
{
    conn_lock(&c->q_mu);
    const struct pending *p = c->role == TS_ROLE_SERVER ? q_front(c) : NULL;
    bool found = p && p->inflight.server.valid;
    if (found)
        *ctx = p->inflight.server;
    conn_unlock(&c->q_mu);
    return found;
}

/* An end written into a head's copy for a parse of what came so far
 * (parse_head_so_far, status_so_far), over the bytes it replaces, which
 * go back after: the program may go on with the same head (the handlers
 * of an exit run, an exec fails), and the next parse must find them. */
struct head_end {
    size_t at, len;
    char saved[16];
};

/* Write end (at most 16 bytes) at byte at of d's copy; false without the
 * memory for it. */
static bool head_end_put(struct dir *d, size_t at, const char *end, struct head_end *he)
{
    he->at = at;
    he->len = strlen(end);
    if (!conn_head_reserve(d, at + he->len))
        return false;
    memcpy(he->saved, d->x->head + at, he->len);
    memcpy(d->x->head + at, end, he->len);
    return true;
}

static void head_end_take_back(struct dir *d, const struct head_end *he)
{
    memcpy(d->x->head + he->at, he->saved, he->len);
}

/* Parse the request head a server has read so far in d's copy (bytes
 * that do not end it) as if it ended there: its request line and the
 * header lines that came whole. A request line cut short ("GET /aaa...",
 * the start of a target past the server's buffer) is ended with the
 * version it would most likely have had, and minor_version says -1: not
 * known. Returns as parse_head; *he: the end to take back once ph is no
 * longer used (it may point into the copy). */
static int parse_head_so_far(struct dir *d, struct parsed_head *ph, struct head_end *he)
{
    size_t len = d->x->head_len;
    const char *nl = memrchr(d->x->head, '\n', len);
    static const char line_end[] = " HTTP/1.1\r\n\r\n";
    size_t keep = nl ? (size_t)(nl + 1 - d->x->head) : len;
    he->len = 0;
    if (!nl && !memchr(d->x->head, ' ', len)) /* not even the method whole */
        return TS_HTTP_INCOMPLETE;
    if (!head_end_put(d, keep, nl ? "\r\n" : line_end, he))
        return TS_HTTP_INCOMPLETE;
    int h = parse_head(NULL, FEED_SERVER_IN, d->x->head, keep + he->len, ph);
    if (h > 0 && !nl)
        ph->req.minor_version = -1;
    return h;
}

/* A request its server answered before the head had all come (see
 * answered_mid_head): its span, from req, begun when the head's first
 * bytes came and ended when the answer went out, with its status. */
static void answered_span(struct ts_conn *c, const struct dir_ext *x,
                          const struct ts_http_request *req)
{
    struct pending *p = conn_server_span_start(c, req);
    if (!p)
        return;
    conn_span_began_at(p, x->head_since);
    conn_span_set_status(p, x->answered_status);
    conn_span_finish_at(p, x->answered_at);
}

/* Such a request whose head will come no further (the connection ends,
 * or the rest cannot be followed): its span from what came of it;
 * nothing when no answer is noted in in's side block. In lock held, or
 * the last reference. */
static void answered_span_so_far(struct ts_conn *c, struct dir *in)
{
    if (__builtin_expect(!in->x || !in->x->answered_at, 1))
        return;
    struct parsed_head ph;
    struct head_end he;
    if (parse_head_so_far(in, &ph, &he) > 0)
        answered_span(c, in->x, &ph.req);
    head_end_take_back(in, &he);
    in->x->answered_at = 0;
}

/* A server answers (status) while no request waits for an answer, with
 * the start of a request head read: it answers that request without
 * reading the rest of its head (nginx's 400 to a cookie past its header
 * buffers, 414 to a target past them). The request's span is made once
 * the head is whole, which the server reads after the answer if it
 * drains the connection before it closes (nginx does): the trace lines
 * of a traced client are at its end. Until then the answer is noted in
 * the head's side block; a head that comes no further gets its span from
 * what came (answered_span_so_far). The queue grows only under the in
 * lock and shrinks only under the out lock, which this thread holds: it
 * stays as seen here. */
static __attribute__((noinline)) void answered_mid_head(struct ts_conn *c, int status)
{
    struct dir *in = &c->in;
    conn_lock(&in->mu); /* after the out lock: nothing holds the in lock and waits for that */
    if (c->q_len == 0 && in->state == DIR_HEAD && conn_head_len(in) > 0 && !in->x->answered_at) {
        in->x->answered_at = ts_moment_ns(); /* (after the send: the answer is out) */
        in->x->answered_status = (uint16_t)status;
    }
    conn_unlock(&in->mu);
}

/* A client's final answer (its framing in *body) to a request that asked
 * for a tunnel (the last it sent, as nothing it sends after is followed):
 * when it answers the one request in flight and opens no tunnel, what the
 * client sends next is HTTP/1.x again. Out of line, and after the queue's
 * lock: a server's responses pay a compare for it, nothing more. */
static __attribute__((noinline)) void tunnel_answered(struct ts_conn *c,
                                                      const struct ts_http_body *body)
{
    unsigned char asked = CONN_TUNNEL_ASKED;
    if (__builtin_expect(atomic_load_explicit(&c->tunnel_ask, memory_order_relaxed) != asked, 1) ||
        body->kind == TS_BODY_TUNNEL)
        return;
    conn_lock(&c->q_mu);
    if (c->q_len == 1)
        atomic_compare_exchange_strong_explicit(&c->tunnel_ask, &asked, CONN_TUNNEL_DECLINED,
                                                memory_order_release, memory_order_relaxed);
    conn_unlock(&c->q_mu);
}

/* A server span for the request of a head just read, queued, and served
 * now unless requests before it wait for their answers; false, with the
 * reason in *why, when the stream cannot be followed further. Forced
 * inline: every request to a server comes through here. */
static inline __attribute__((always_inline)) bool
server_span_queued(struct ts_conn *c, const struct ts_http_request *req, struct pending **started,
                   enum ts_stat *why)
{
    struct pending *p = conn_server_span_start(c, req);
    if (!p) { /* no record: its response would be paired with the next span */
        *why = TS_STAT_GAVE_UP_NO_MEMORY;
        return false;
    }
    unsigned ahead;
    if (!conn_q_push(c, p, &ahead)) {
        /* More requests in flight than the connection keeps spans
         * for: the responses of those after could no longer be told
         * apart, so requests are followed no further. */
        conn_span_discard(p);
        *why = TS_STAT_GAVE_UP_TOO_MANY_IN_FLIGHT;
        return false;
    }
    if (ahead == 0) /* else pipelined: served once those before it are */
        conn_span_serve(p);
    *started = p;
    return true;
}

/* on_head for a FastCGI head: a request's server span, or a response's
 * status; the records after the head are its body. A record that came
 * before any of a response's output (its status 0) is as an interim
 * response: its rest is a body whose end is not the exchange's, and the
 * head is looked for after it. */
static __attribute__((noinline)) bool on_fcgi_head(struct ts_conn *c, enum feed_kind kind,
                                                   const struct parsed_head *ph,
                                                   struct ts_http_body *body, bool *interim,
                                                   enum ts_stat *why)
{
    if (kind == FEED_SERVER_IN) {
        conn_seen_now(c, CONN_SEEN_FCGI); /* its answers are records */
        ts_fcgi_request_body(body);
        struct pending *p;
        if (!server_span_queued(c, &ph->req, &p, why))
            return false;
        conn_span_mark_fastcgi(p);
        return true;
    }
    *body = ph->fcgi_rest;
    if (ph->res.status == 0) {
        *interim = true;
        return true;
    }
    conn_lock(&c->q_mu);
    struct pending *p = q_front(c);
    if (p)
        conn_span_set_status(p, ph->res.status);
    conn_unlock(&c->q_mu);
    return true;
}

/* A complete head on an observed stream, which starts with first (its
 * first byte). Sets up the body framing in *body; *interim: a 1xx
 * response, whose message does not end the exchange. False, with the
 * reason in *why, when the stream cannot be followed further. */
static bool on_head(struct ts_conn *c, enum feed_kind kind, char first,
                    const struct parsed_head *ph, struct ts_http_body *body, bool *interim,
                    enum ts_stat *why)
{
    *interim = false;
    *why = TS_STAT_GAVE_UP_BAD_FRAMING;
    if (__builtin_expect(conn_fcgi_byte(first), 0)) /* see parse_head */
        return on_fcgi_head(c, kind, ph, body, interim, why);
    if (kind == FEED_SERVER_IN) {
        if (ts_http_request_body(&ph->req, body))
            return false;
        /* before its span is queued: tunnel_ahead looks for it only when
         * this is set (the program's thread that answers has seen the
         * request come in, so it sees this too) */
        bool connect = ts_http_is_connect(ph->req.method, ph->req.method_len);
        if (connect)
            conn_seen_now(c, CONN_SEEN_CONNECT);
        if (connect || ts_http_request_header(&ph->req, TS_HTTP_NOTE_UPGRADE, "upgrade"))
            atomic_store_explicit(&c->tunnel_answer_due, true, memory_order_release);
        struct pending *p;
        return server_span_queued(c, &ph->req, &p, why);
    }
    const struct ts_http_response *res = &ph->res;
    if (res->status >= 100 && res->status < 200 && res->status != 101) {
        *interim = true; /* 100 Continue and friends: the real answer follows */
        body->kind = TS_BODY_NONE;
        return true;
    }
    /* The lock is held while the span is read and written (both call
     * nothing): on a client, a send that is undone (head_undo) on another
     * thread pops and discards the queue's last span, which a peer that
     * answers before the request went out would make this one. */
    conn_lock(&c->q_mu);
    struct pending *p = q_front(c);
    bool unframed = ts_http_response_body(res, p ? p->method : "GET", p ? p->method_len : 3, body);
    if (!unframed && p)
        conn_span_set_status(p, res->status);
    conn_unlock(&c->q_mu);
    if (kind == FEED_CLIENT_IN)
        tunnel_answered(c, body);
    if (__builtin_expect(!p && kind == FEED_SERVER_OUT, 0))
        answered_mid_head(c, res->status);
    return !unframed;
}

static void message_ended(struct ts_conn *c, enum feed_kind kind);

/* The end of a message on an observed stream: a response read ends its
 * client span, a response sent its server span. Inline, so that a
 * request's end (nothing to do) costs a test, not a call. */
static inline __attribute__((always_inline)) void on_message_end(struct ts_conn *c,
                                                                 enum feed_kind kind)
{
    if (kind == FEED_CLIENT_IN || kind == FEED_SERVER_OUT)
        message_ended(c, kind);
}

static void message_ended(struct ts_conn *c, enum feed_kind kind)
{
    if (kind == FEED_CLIENT_IN) {
        struct pending *p = q_pop_front(c);
        if (p)
            conn_span_finish(p, NULL);
    } else if (kind == FEED_SERVER_OUT) {
        struct pending *next;
        struct pending *p = q_pop_front_next(c, &next);
        if (p)
            conn_span_finish(p, NULL);
        if (next) /* a pipelined request's turn */
            conn_span_serve(next);
        else if (atomic_load_explicit(&c->tunnel_answer_due, memory_order_relaxed))
            atomic_store_explicit(&c->tunnel_answer_due, false, memory_order_release);
    }
}

/* Why a head on an observed stream cannot be followed (parse result h):
 * past the size limit, bytes that are no HTTP/1.x at all, or a head that
 * starts like one but does not parse. */
static enum ts_stat head_failure(enum feed_kind kind, const char *buf, size_t len, int h)
{
    if (h == TS_HTTP_INCOMPLETE)
        return TS_STAT_GAVE_UP_HEAD_TOO_BIG;
    size_t start = len < 8 ? len : 8; /* a method and its blank, or "HTTP/1.x" */
    bool http = kind == FEED_SERVER_IN ? ts_http_looks_like_request(buf, start)
                                       : ts_http_looks_like_response(buf, start);
    return http ? TS_STAT_GAVE_UP_BAD_HEAD : TS_STAT_GAVE_UP_NOT_HTTP;
}

/* Feed bytes that went through an observed stream; *body is the framing
 * of the message under way (see feed_iov). */
static void dir_feed(struct ts_conn *c, enum feed_kind kind, struct dir *d,
                     struct ts_http_body *body, const char *p, size_t n)
{
    while (n > 0 && d->state != DIR_OFF) {
        if (d->state == DIR_BODY) {
            bool done = false;
            ssize_t k = ts_http_body_feed(body, p, n, &done);
            if (k < 0) {
                conn_off(c, d, TS_STAT_GAVE_UP_BAD_FRAMING);
                return;
            }
            p += k;
            n -= (size_t)k;
            if (done) {
                d->state = DIR_HEAD;
                if (__builtin_expect(!ts_fcgi_body_is_record_alone(body), 1))
                    on_message_end(c, kind);
            }
            continue;
        }
        if (kind == FEED_SERVER_IN &&
            atomic_load_explicit(&c->tunnel_answer_due, memory_order_acquire)) {
            conn_off(c, d, TS_STAT_GAVE_UP_TUNNEL); /* bytes ahead of a tunnel's answer */
            return;
        }
        size_t prev = conn_head_len(d);
        const char *buf = p;
        size_t max = kind == FEED_SERVER_IN ? conn_max_request_head() : conn_max_head();
        size_t len = n < max ? n : max; /* whole or not: the limit holds */
        if (prev) {
            size_t take = n < max - prev ? n : max - prev;
            if (!conn_head_reserve(d, prev + take)) {
                conn_off(c, d, TS_STAT_GAVE_UP_NO_MEMORY);
                return;
            }
            memcpy(d->x->head + prev, p, take);
            d->x->head_len += take;
            buf = d->x->head;
            len = d->x->head_len;
        }
        struct parsed_head ph;
        int h = parse_head(c, kind, buf, len, &ph);
        if (h <= 0) {
            if (h == TS_HTTP_INCOMPLETE && len < max) {
                if (!prev) { /* keep the start for the next read */
                    if (!conn_head_reserve(d, n)) {
                        conn_off(c, d, TS_STAT_GAVE_UP_NO_MEMORY);
                        return;
                    }
                    memcpy(d->x->head, p, n);
                    d->x->head_len = n;
                    if (kind == FEED_SERVER_IN) /* for answered_mid_head */
                        d->x->head_since = ts_moment_ns();
                }
                return;
            }
            /* not HTTP, or a head past our limit */
            conn_off(c, d, head_failure(kind, buf, len, h));
            return;
        }
        if (__builtin_expect((size_t)h < prev, 0)) { /* it ended in bytes gone by: lost track */
            conn_off(c, d, TS_STAT_GAVE_UP_BAD_HEAD);
            return;
        }
        if (__builtin_expect(prev && d->x->answered_at, 0)) { /* see answered_mid_head */
            answered_span(c, d->x, &ph.req);
            d->x->answered_at = 0;
            conn_off(c, d, TS_STAT_GAVE_UP_BAD_HEAD); /* a head its server refused */
            return;
        }
        bool interim;
        enum ts_stat why;
        if (!on_head(c, kind, buf[0], &ph, body, &interim, &why)) {
            conn_off(c, d, why);
            return;
        }
        size_t used = (size_t)h - prev;
        if (prev)
            conn_head_release(d); /* parsed: an idle connection keeps no copy */
        p += used;
        n -= used;
        if (body->kind == TS_BODY_TUNNEL) {
            on_message_end(c, kind);
            atomic_store(&c->tunnel, true); /* the other direction stops at its next call */
            conn_off(c, d, TS_STAT_GAVE_UP_TUNNEL);
            return;
        }
        if (body->kind == TS_BODY_NONE) {
            if (!interim)
                on_message_end(c, kind);
        } else {
            d->state = DIR_BODY;
        }
    }
}

/* Feed the first n bytes of iov to an observed stream. The body's framing
 * is kept on the stack through the call's buffers and goes into d's side
 * block only when the body goes on past the call: a server's writev of a
 * head and its body (nginx) took and gave back a side block per response. */
static void feed_iov(struct ts_conn *c, enum feed_kind kind, struct dir *d,
                     const struct iovec *iov, int iovcnt, size_t n)
{
    struct ts_http_body framing;
    if (d->state == DIR_BODY)
        framing = d->x->body;
    else
        framing.kind = TS_BODY_NONE;
    for (int i = 0; i < iovcnt && n > 0; i++) {
        size_t k = iov[i].iov_len < n ? iov[i].iov_len : n;
        dir_feed(c, kind, d, &framing, iov[i].iov_base, k);
        n -= k;
    }
    if (d->state == DIR_BODY) {
        struct dir_ext *x = conn_dir_ext(d);
        if (x)
            x->body = framing;
        else
            conn_off(c, d, TS_STAT_GAVE_UP_NO_MEMORY);
    } else {
        conn_dir_settle(d);
    }
}

/* A server's response can go no further (its client reset the
 * connection, or went away, in the middle of its body): it ends now, in
 * error, whether its body runs to the close or not; what the requests
 * behind it await ends at the close. Out lock held. Out of line: rare. */
static __attribute__((noinline)) void response_cut_off(struct ts_conn *c)
{
    if (ts_fcgi_body_is_record_alone(&c->out.x->body))
        return; /* a FastCGI record of its own, no answer's output yet */
    c->out.state = DIR_HEAD;
    conn_dir_settle(&c->out);
    struct pending *p = q_pop_front(c);
    if (p)
        conn_span_finish(p, "connection_error");
}

ssize_t conn_send_observed(struct ts_conn *c, const struct iovec *iov, int iovcnt,
                           ts_conn_pass_fn pass, void *arg, bool may_wait)
{
    if (!conn_lock_out(c, may_wait))
        return conn_send_unseen(c, pass, arg); /* beside another thread's blocked send */
    struct ts_held_send_note held = ts_held_send_lock(c); /* let go if the thread leaves the send */
    tunnel_ahead(c, iov, iovcnt);
    ssize_t r = conn_pass_out(c, pass, arg);
    int saved = errno;
    ts_held_send_lock_end(held);
    if (r > 0)
        feed_iov(c, FEED_SERVER_OUT, &c->out, iov, iovcnt, (size_t)r);
    else if (r < 0 && (saved == EPIPE || saved == ECONNRESET) && c->out.state == DIR_BODY)
        response_cut_off(c);
    conn_unlock(&c->out.mu);
    errno = saved;
    return r;
}

/* n bytes of d's stream went by unseen (sendfile, splice): only a body
 * whose framing counts bytes can absorb them; anything else ends parsing,
 * and so do bytes past the body's end (the next message's head, which
 * the shim would otherwise look for in what the program sends or reads
 * next: in a body, say). */
static void skip_unseen(struct ts_conn *c, enum feed_kind kind, struct dir *d, size_t n)
{
    if (d->state == DIR_OFF || n == 0)
        return;
    if (d->state != DIR_BODY || !ts_http_body_skips(&d->x->body, n)) {
        conn_off(c, d, TS_STAT_GAVE_UP_UNSEEN_BYTES);
        return;
    }
    bool done = false;
    ssize_t took = ts_http_body_feed(&d->x->body, NULL, n, &done);
    if (done) {
        bool message_end = !ts_fcgi_body_is_record_alone(&d->x->body);
        d->state = DIR_HEAD;
        conn_dir_settle(d);
        if (message_end)
            on_message_end(c, kind);
        if ((size_t)took < n)
            conn_off(c, d, TS_STAT_GAVE_UP_UNSEEN_BYTES);
    }
}

void ts_conn_send_abandoned(struct ts_conn *c)
{
    /* The lock is this thread's still: what the send was sending (a head's
     * wire form, with the header lines) goes, and the stream with it. */
    conn_sending(c, false); /* it left the real send */
    conn_wire_release(c);
    conn_off(c, &c->out, TS_STAT_GAVE_UP_UNSEEN_BYTES);
    conn_unlock(&c->out.mu);
}

/* A client's bytes the shim did not see went out: its stream is given up.
 * Were they sent while a head's wire form was part way out (the program
 * sent the rest itself, in a call the shim passed on as it came), what is
 * left of that form is no longer the stream's: it never goes out. Under
 * the send lock. */
static void client_sent_unseen(struct ts_conn *c)
{
    if (conn_wire_pending(c))
        conn_wire_release(c);
    conn_off(c, &c->out, TS_STAT_GAVE_UP_UNSEEN_BYTES);
}

void ts_conn_sent_unseen(struct ts_conn *c, ssize_t n)
{
    int saved = errno;
    if (n < 0 && (saved == EPIPE || saved == ECONNRESET) && c->role == TS_ROLE_SERVER) {
        /* a body sent with sendfile or splice, its client gone */
        conn_lock(&c->out.mu);
        if (c->out.state == DIR_BODY)
            response_cut_off(c);
        conn_unlock(&c->out.mu);
        errno = saved;
        return;
    }
    if (n <= 0)
        return;
    conn_lock(&c->out.mu);
    conn_check_tunnel(c, &c->out);
    if (c->role == TS_ROLE_SERVER)
        skip_unseen(c, FEED_SERVER_OUT, &c->out, (size_t)n);
    else if (c->out.state == DIR_BODY && ts_http_body_skips(&c->out.x->body, (size_t)n) &&
             !conn_wire_pending(c))
        skip_unseen(c, FEED_CLIENT_OUT, &c->out, (size_t)n);
    else
        client_sent_unseen(c);
    conn_unlock(&c->out.mu);
    errno = saved;
}

void ts_conn_received_unseen(struct ts_conn *c, ssize_t n)
{
    if (n <= 0)
        return;
    int saved = errno;
    conn_lock(&c->in.mu);
    conn_check_tunnel(c, &c->in);
    skip_unseen(c, c->role == TS_ROLE_CLIENT ? FEED_CLIENT_IN : FEED_SERVER_IN, &c->in, (size_t)n);
    conn_unlock(&c->in.mu);
    errno = saved;
}

/* ------------------------------------------------------------ receiving */

/* End the spans still waiting on c, which can get no answer any more:
 * failed (error_type), unless the shim had stopped reading their
 * responses, whose outcome it does not know. */
static void end_unanswered(struct ts_conn *c, const char *error_type)
{
    unsigned char responses = c->role == TS_ROLE_CLIENT ? CONN_OFF_IN : CONN_OFF_OUT;
    bool unfollowed = atomic_load_explicit(&c->dirs_off, memory_order_acquire) & responses;
    struct pending *p;
    while ((p = q_pop_front(c))) {
        if (unfollowed)
            conn_span_finish_unfollowed(p);
        else
            conn_span_finish(p, error_type);
    }
}

/* A server whose responses are followed no more (a head past the limits,
 * bytes it could not see): no answer can be paired with a request any
 * more, so its requests are followed no further either, and once the
 * next request comes (its bytes start a head) the spans still waiting
 * end, their answers unseen, which leaves the thread no current span:
 * the next request's calls belong to no earlier one. In-direction lock
 * held. Out of line: rare. */
static __attribute__((noinline)) void requests_unanswerable(struct ts_conn *c)
{
    conn_off(c, &c->in, TS_STAT_GAVE_UP_BAD_HEAD); /* (counted when out stopped) */
    end_unanswered(c, NULL);
}

/* The peer closed, or the connection failed: end what cannot complete.
 * A response whose body runs to the close ends whole at a close only: a
 * failure (a reset) may have cut it short, as the client is told. */
static void in_closed(struct ts_conn *c, bool failed)
{
    if (c->role != TS_ROLE_CLIENT)
        return;
    if (!failed && c->in.state == DIR_BODY && c->in.x->body.kind == TS_BODY_UNTIL_CLOSE) {
        c->in.state = DIR_HEAD;
        conn_dir_settle(&c->in);
        on_message_end(c, FEED_CLIENT_IN); /* a close-delimited response ends here */
    }
    end_unanswered(c, failed ? "connection_error" : "connection_closed");
}

/* A failed receive that says nothing about the connection: nothing yet,
 * interrupted, or refused for its arguments (a bad buffer, MSG_OOB with
 * no urgent byte) or for want of memory. Any other error ends it. */
static bool recv_error_passes(int err)
{
    switch (err) {
    case EAGAIN:
#if EWOULDBLOCK != EAGAIN
    case EWOULDBLOCK:
#endif
    case EINTR:
    case EFAULT:
    case EINVAL:
    case ENOMEM:
    case ENOBUFS:
        return true;
    default:
        return false;
    }
}

void ts_conn_recv_done(struct ts_conn *c, const struct iovec *iov, int iovcnt, ssize_t r, int flags,
                       int err)
{
    /* the bytes come again (MSG_PEEK), or are none of the stream's: the
     * urgent byte (MSG_OOB), the socket's error queue (MSG_ERRQUEUE) */
    if (flags & (MSG_PEEK | MSG_OOB | MSG_ERRQUEUE))
        return;
    if (r < 0 && recv_error_passes(err))
        return;
    /* TCP discarded the bytes: none is in the buffer (a Unix-domain
     * stream socket ignores the flag and fills it) */
    if ((flags & MSG_TRUNC) && r > 0 && c->peer_family != CONN_UNIX) {
        ts_conn_received_unseen(c, r);
        return;
    }
    conn_lock(&c->in.mu);
    conn_check_tunnel(c, &c->in);
    /* (a request's body still coming is still that request's: its head's
     * state comes back once the body has all come) */
    if (__builtin_expect(atomic_load_explicit(&c->dirs_off, memory_order_acquire) & CONN_OFF_OUT,
                         0) &&
        c->role != TS_ROLE_CLIENT && r > 0 && c->in.state == DIR_HEAD)
        requests_unanswerable(c);
    enum feed_kind kind = c->role == TS_ROLE_CLIENT ? FEED_CLIENT_IN : FEED_SERVER_IN;
    if (r > 0)
        feed_iov(c, kind, &c->in, iov, iovcnt, (size_t)r);
    else
        in_closed(c, r < 0);
    conn_unlock(&c->in.mu);
}

/* ------------------------------------------------------ the sent side */

/* A server can send no more on c: a response whose body runs to the
 * close (no length, not chunked) ends here, as it ends for its client.
 * Send lock held. */
static void out_closed(struct ts_conn *c)
{
    if (c->role == TS_ROLE_CLIENT)
        return;
    if (c->out.state == DIR_BODY && c->out.x->body.kind == TS_BODY_UNTIL_CLOSE) {
        c->out.state = DIR_HEAD;
        conn_dir_settle(&c->out);
        on_message_end(c, FEED_SERVER_OUT);
    }
}

void ts_conn_shut(struct ts_conn *c, int how)
{
    if (how != SHUT_WR && how != SHUT_RDWR)
        return;
    conn_lock(&c->out.mu); /* a send blocked beside it has failed by now */
    out_closed(c);
    conn_unlock(&c->out.mu);
}

/* The status line of a response head that never came whole: its final
 * status, 0 when not even that line came (or it is a 1xx's). */
static int status_so_far(struct dir *out)
{
    if (!out->x || !out->x->head_len)
        return 0;
    const char *nl = memchr(out->x->head, '\n', out->x->head_len);
    if (!nl)
        return 0;
    size_t line = (size_t)(nl + 1 - out->x->head);
    struct head_end he;
    if (!head_end_put(out, line, "\r\n", &he)) /* the line alone, as a whole head */
        return 0;
    struct parsed_head ph;
    int h = parse_head(NULL, FEED_SERVER_OUT, out->x->head, line + 2, &ph);
    head_end_take_back(out, &he);
    return h > 0 && ph.res.status >= 200 ? ph.res.status : 0;
}

/* The status line a server wrote of its answer to p, the first waiting
 * (the head not whole), kept on p, which ends next, its answer unseen. */
static void status_so_far_kept(struct ts_conn *c, struct pending *p)
{
    int status = status_so_far(&c->out);
    if (status)
        conn_span_set_status(p, status);
}

static void end_as_closed(struct ts_conn *c);

/* The process image is replaced (an exec) with requests still waiting on
 * c, whose fd passes to the next image (not closed on exec): their answers
 * are the next image's (a server that executes a CGI program on the
 * socket, as mini_httpd does), or another process's (a child that holds
 * the socket), or none. They end, their outcome not known here
 * (traceshim.response_unseen, no error claimed), with the status line a
 * server wrote for the first, if it wrote one. Both locks held: a thread
 * still reading a request's body, or sending one, may hold its span. */
static void end_handed_on(struct ts_conn *c)
{
    struct pending *p = q_pop_front(c);
    if (p && c->role != TS_ROLE_CLIENT && c->out.state == DIR_HEAD)
        status_so_far_kept(c, p);
    for (; p; p = q_pop_front(c))
        conn_span_finish_unfollowed(p);
    if (c->role != TS_ROLE_CLIENT)
        answered_span_so_far(c, &c->in); /* (see answered_mid_head) */
}

/* Does fd pass to the image an exec starts (no FD_CLOEXEC)? The exec's
 * thread's table is the one the next image gets: from a thread with a
 * table of its own, never at one of its own numbers, whose file is not
 * the connection the table tracks there; its other numbers are the same
 * files in its copy, and their flags are read there (fdtable.h). */
static bool passes_to_the_next_image(int fd)
{
    if (ts_fd_unshared(fd))
        return false;
    int flags = TS_REAL(fcntl)(fd, F_GETFD);
    return flags >= 0 && !(flags & FD_CLOEXEC);
}

/* Does an exec leave c anything to end: a request waiting, or a
 * response or request under way? Both locks held. */
static bool exec_leaves_waiting(struct ts_conn *c)
{
    return c->q_len || c->out.state == DIR_BODY || c->in.state == DIR_BODY ||
           (c->in.x && c->in.x->answered_at);
}

/* ts_conn_image_ends for one connection, both its locks held. */
static void conn_image_ends(struct ts_conn *c, int fd, enum ts_image_end how)
{
    switch (how) {
    case TS_IMAGE_EXITING:
        out_closed(c);
        if (c->role != TS_ROLE_CLIENT)
            answered_span_so_far(c, &c->in); /* (see answered_mid_head) */
        break;
    case TS_IMAGE_GONE:
        out_closed(c);
        end_as_closed(c);
        break;
    case TS_IMAGE_EXEC:
        if (!exec_leaves_waiting(c))
            break;
        if (passes_to_the_next_image(fd)) {
            end_handed_on(c);
        } else {
            out_closed(c);
            end_as_closed(c);
        }
        conn_off(c, &c->out, TS_STAT_GAVE_UP_EXEC);
        conn_off(c, &c->in, TS_STAT_GAVE_UP_EXEC);
        break;
    }
}

/* The process is gone while a send on c is blocked in the kernel (its
 * peer reads nothing) and holds c's send lock, which nothing will let go
 * of: the spans waiting on c end all the same, as at the close the kernel
 * makes (connection_closed: that close cuts what the send had left), the
 * queue's lock alone keeping them. Only while the holder is inside the
 * real send (out.sending), which uses no span of the queue's: should the
 * send come back before exit_group ends the thread, a client's undone
 * head finds its span gone from the queue (head_undo discards only what
 * it pops), and a server's response, fed on, finds none to end. The in
 * lock first, within the short waits a send that must not wait has
 * (its holder is parsing, never blocked): a server's reader uses the span
 * it queues after the push; a client's reads its spans under the queue's
 * lock, and its response under way is the in side's to tell. */
static __attribute__((noinline)) void end_beside_blocked_send(struct ts_conn *c)
{
    bool client = c->role == TS_ROLE_CLIENT;
    bool have_in = conn_lock_within(&c->in.mu, CONN_NONBLOCKING_WAIT_NS);
    if (!have_in && !client)
        return;
    struct pending *waiting[CONN_PIPELINE_MAX];
    unsigned n = 0;
    if (conn_lock_within(&c->q_mu, CONN_NONBLOCKING_WAIT_NS)) {
        if (atomic_load_explicit(&c->out.sending, memory_order_acquire))
            while (n < CONN_PIPELINE_MAX && (waiting[n] = q_take_front(c)) != NULL)
                n++;
        conn_unlock(&c->q_mu);
    }
    unsigned i = 0;
    /* a response under way, its status known (as end_as_closed) */
    if (n && have_in && client && c->in.state == DIR_BODY &&
        !ts_fcgi_body_is_record_alone(&c->in.x->body))
        conn_span_finish(waiting[i++], NULL);
    bool unfollowed = atomic_load_explicit(&c->dirs_off, memory_order_acquire) &
                      (client ? CONN_OFF_IN : CONN_OFF_OUT);
    for (; i < n; i++) {
        if (unfollowed)
            conn_span_finish_unfollowed(waiting[i]);
        else
            conn_span_finish(waiting[i], "connection_closed");
    }
    if (have_in) {
        if (!client)
            answered_span_so_far(c, &c->in); /* (see answered_mid_head) */
        conn_unlock(&c->in.mu);
    }
}

void ts_conn_image_ends_for(struct ts_conn *c, int fd, enum ts_image_end how, uint64_t until_ns)
{
    int saved = errno;
    uint64_t now = ts_mono_ns();
    long wait = now < until_ns ? (long)(until_ns - now) : 0;
    if (conn_lock_within(&c->out.mu, wait)) {
        now = ts_mono_ns();
        wait = now < until_ns ? (long)(until_ns - now) : 0;
        if (conn_lock_within(&c->in.mu, wait)) { /* (the out lock first) */
            conn_image_ends(c, fd, how);
            conn_unlock(&c->in.mu);
        }
        conn_unlock(&c->out.mu);
    } else if (how == TS_IMAGE_GONE) {
        end_beside_blocked_send(c);
    }
    errno = saved;
}

/* Cold: once per process image, in a forked child's _exit too. */
__attribute__((cold)) void ts_conn_image_ends(enum ts_image_end how)
{
    int saved = errno;
    uint64_t until = ts_mono_ns() + TS_CONN_IMAGE_END_WAIT_NS;
    int hw = ts_fd_high_water();
    for (int fd = 0; fd < hw; fd++) {
        struct ts_conn *c = ts_fd_tracked(fd) ? ts_conn_get(fd) : NULL;
        if (!c)
            continue;
        ts_conn_image_ends_for(c, fd, how, until);
        ts_conn_put(c);
    }
    errno = saved;
}

/* --------------------------------------------------------- life and fds */

/* The server spans a thread was serving when it forked (span ids, the
 * latest CONN_FORKED_SERVING): their answers may be the child's, a CGI
 * handler's (Python's http.server --cgi writes the status line, forks,
 * and its child executes the script on the socket). */
#define CONN_FORKED_SERVING 8
static uint64_t conn_forked_serving[CONN_FORKED_SERVING] TS_FORK_STATE;
static unsigned conn_forked_count TS_FORK_STATE;

TS_FORK_HANDLER void ts_conn_forked(void)
{
    const struct ts_ctx *serving = ts_ctx_current();
    if (!serving)
        return;
    uint64_t id;
    memcpy(&id, serving->span_id, sizeof id);
    unsigned i = __atomic_fetch_add(&conn_forked_count, 1, __ATOMIC_RELAXED);
    __atomic_store_n(&conn_forked_serving[i % CONN_FORKED_SERVING], id, __ATOMIC_RELAXED);
}

/* Did a thread fork while it served this span? */
static bool forked_serving(const struct pending *p)
{
    if (!__atomic_load_n(&conn_forked_count, __ATOMIC_RELAXED))
        return false;
    uint64_t id;
    memcpy(&id, p->span.span_id, sizeof id);
    for (int i = 0; i < CONN_FORKED_SERVING; i++)
        if (__atomic_load_n(&conn_forked_serving[i], __ATOMIC_RELAXED) == id)
            return true;
    return false;
}

/* A server closes its copy of a connection whose request its thread was
 * serving when it forked, with no whole response head written: the child
 * most likely answers (a CGI handler puts the socket on the child's
 * stdout). The outcome is not known here, so the connection's close
 * claims no error (traceshim.response_unseen); the status line the
 * server wrote itself, if it did, is kept. */
static void end_left_to_a_child(struct ts_conn *c)
{
    if (c->role == TS_ROLE_CLIENT || c->out.state != DIR_HEAD)
        return;
    struct pending *p = q_front(c);
    if (!p || !forked_serving(p))
        return;
    q_pop_front(c);
    status_so_far_kept(c, p);
    conn_span_finish_unfollowed(p);
}

/* c's copy closes: its last reference goes, or the process image ends
 * with its fd (exit, a death by signal, an exec of an fd closed on exec:
 * the kernel closes it, as it closes the sockets of a server that closes
 * nothing itself). Every span still open ends. */
static void end_as_closed(struct ts_conn *c)
{
    struct dir *resp = c->role == TS_ROLE_CLIENT ? &c->in : &c->out;
    /* A response under way, its status known, ends here without a fault:
     * one whose body runs to the close, or one whose client closes when it
     * has read what it wanted (a health check reads the head). (A
     * FastCGI record before the answer's output is no such body: no
     * status yet.) */
    if (resp->state == DIR_BODY && !ts_fcgi_body_is_record_alone(&resp->x->body) &&
        (resp->x->body.kind == TS_BODY_UNTIL_CLOSE || c->role == TS_ROLE_CLIENT)) {
        struct pending *p = q_pop_front(c);
        if (p)
            conn_span_finish(p, NULL);
    }
    end_left_to_a_child(c);
    end_unanswered(c, "connection_closed");
    answered_span_so_far(c, &c->in); /* a head answered that never came whole */
}

/* The last reference is gone. */
static void conn_destroy(struct ts_fd_ref *ref)
{
    struct ts_conn *c = (struct ts_conn *)ref;
    int saved = errno;
    end_as_closed(c);
    conn_free(c);
    errno = saved;
}

/* A fresh connection in this role, its addresses from peer (the address
 * given to connect) or, without it, from the socket fd (none when fd < 0);
 * NULL without memory (counted). */
static struct ts_conn *conn_new(int fd, int role, const struct sockaddr *peer, socklen_t peer_len)
{
    ts_stats_add(TS_STAT_CONNS_TRACKED, 1);
    struct ts_conn *c = conn_alloc();
    if (!c) {
        ts_stats_add(TS_STAT_GAVE_UP_NO_MEMORY, 1);
        return NULL;
    }
    c->role = (uint8_t)role;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (peer && peer_len <= sizeof ss) {
        memset(&ss, 0, sizeof ss);
        memcpy(&ss, peer, peer_len);
        len = peer_len;
    } else if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &len) != 0) {
        ss.ss_family = AF_UNSPEC;
    }
    bool unix_domain = ss.ss_family == AF_UNIX;
    if (unix_domain && role == TS_ROLE_CLIENT) {
        unix_from(c, &ss, len); /* the path it connected to; no local port to learn */
        return c;
    }
    if (!unix_domain)
        peer_from(c, &ss);
    len = sizeof ss;
    if (fd >= 0 && getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
        /* a server's path is the one it accepted on (its peer is most
         * often unnamed); the local family tells also when the peer's
         * address could not be had */
        if (ss.ss_family == AF_UNIX && (unix_domain || !c->peer_family)) {
            if (role == TS_ROLE_CLIENT)
                c->peer_family = CONN_UNIX; /* its path is not known */
            else
                unix_from(c, &ss, len);
        }
        c->local_port = port_of(&ss);
    }
    return c;
}

void ts_conn_track(int fd, int role, const struct sockaddr *peer, socklen_t peer_len)
{
    int saved = errno;
    struct ts_conn *c = conn_new(fd, role, peer, peer_len);
    if (!c) {
        ts_conn_untrack(fd);
        errno = saved;
        return;
    }
    /* read before the slot has it: from then on another thread may close
     * the fd and the object serve another connection */
    uint16_t hint_port = ts_conn_hint_port(c);
    struct ts_fd_ref *old = ts_fd_install(fd, &c->ref);
    if (old == &c->ref) { /* fd out of the table's range: not tracked */
        ts_stats_add(TS_STAT_GAVE_UP_FD_OUT_OF_RANGE, 1);
        conn_free(c);
        errno = saved;
        return;
    }
    if (old)
        ts_fd_put(old);
    if (hint_port)
        __atomic_store_n(&conn_fd_by_peer_port[hint_port], fd + 1, __ATOMIC_RELAXED);
    errno = saved;
}

bool conn_fd_hints;
int conn_fd_by_peer_port[65536];

uint16_t ts_conn_hint_port(const struct ts_conn *c)
{
    return c->role == TS_ROLE_SERVER && __atomic_load_n(&conn_fd_hints, __ATOMIC_RELAXED)
               ? c->peer_port
               : 0;
}

struct ts_conn *ts_conn_open(int role, int fd, const char *tls_version)
{
    int saved = errno;
    struct ts_conn *c = conn_new(fd, role, NULL, 0);
    if (c) {
        c->tls = true;
        if (tls_version && tls_version[0] && conn_rare(c))
            strncpy(c->rare->tls_version, tls_version, sizeof c->rare->tls_version - 1);
    }
    errno = saved;
    return c;
}

void ts_conn_set_tls_version(struct ts_conn *c, const char *tls_version)
{
    int saved = errno;
    conn_lock(&c->q_mu); /* as a response's status is set on a span in flight */
    if (conn_rare(c)) {
        strncpy(c->rare->tls_version, tls_version, sizeof c->rare->tls_version - 1);
        for (unsigned i = 0; i < c->q_len; i++)
            conn_span_set_tls_version(q_slots(c)[q_at(c, i)], c->rare->tls_version);
    }
    conn_unlock(&c->q_mu);
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

void ts_conn_untrack_if(int fd, struct ts_conn *c)
{
    int saved = errno;
    if (ts_fd_remove_if(fd, &c->ref))
        ts_fd_put(&c->ref); /* the slot's reference */
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

void ts_conn_forget_range(unsigned first, unsigned last)
{
    unsigned hw = (unsigned)ts_fd_high_water();
    for (unsigned fd = first; fd <= last && fd < hw; fd++) {
        struct ts_fd_ref *old = ts_fd_tracked((int)fd) ? ts_fd_remove((int)fd) : NULL;
        if (old)
            (void)ts_fd_put_unless_last(old); /* the last one: abandoned, see conn.h */
    }
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

void ts_conn_retain(struct ts_conn *c)
{
    ts_fd_retain(&c->ref);
}

bool ts_conn_is_client(const struct ts_conn *c)
{
    return c->role == TS_ROLE_CLIENT;
}

bool ts_conn_parsing_over(struct ts_conn *c)
{
    /* Spans start in one direction, a client's requests out and a
     * server's requests in; once that one is off, only the spans already
     * waiting need the other. */
    unsigned char starts = c->role == TS_ROLE_CLIENT ? CONN_OFF_OUT : CONN_OFF_IN;
    if (!(atomic_load_explicit(&c->dirs_off, memory_order_acquire) & starts))
        return false;
    conn_lock(&c->q_mu);
    bool idle = c->q_len == 0;
    conn_unlock(&c->q_mu);
    return idle;
}

/* ts_conn_done_with for a connection whose requests are not parsed any
 * more: untrack fd once no span waits. Out of line, so that the usual
 * case saves no registers. */
static __attribute__((noinline)) void untrack_when_idle(int fd, struct ts_conn *c)
{
    if (ts_conn_parsing_over(c))
        ts_conn_untrack_if(fd, c);
}

static inline __attribute__((always_inline)) void conn_done_with(int fd, struct ts_conn *c)
{
    unsigned char starts = c->role == TS_ROLE_CLIENT ? CONN_OFF_OUT : CONN_OFF_IN;
    if (atomic_load_explicit(&c->dirs_off, memory_order_relaxed) & starts)
        untrack_when_idle(fd, c);
    ts_fd_put(&c->ref);
}

/* ts_conn_done_with after a call that began a span with no reporter
 * thread running: the thread's ask answered here, at the hook's own depth
 * (reporter.h ts_rep_exported_span_begins). Out of line, so that the
 * usual case keeps no frame for it. */
static __attribute__((noinline, cold)) void done_with_thread_asked(int fd, struct ts_conn *c)
{
    ts_rep_thread_asked_here();
    conn_done_with(fd, c);
}

void ts_conn_done_with(int fd, struct ts_conn *c)
{
    if (__builtin_expect(ts_rep_thread_asked, 0))
        done_with_thread_asked(fd, c);
    else
        conn_done_with(fd, c);
}

TS_FORK_HANDLER void ts_conn_fork_prepare(void)
{
    pthread_mutex_lock(&pool_mu); /* before conn_blocks: conn_alloc's order */
    ts_block_pool_fork_prepare(&conn_blocks);
    ts_block_pool_fork_prepare(&q_blocks);
    ts_block_pool_fork_prepare(&ext_blocks);
    ts_block_pool_fork_prepare(&rare_blocks);
    conn_spans_fork_prepare();
    ts_buf_fork_prepare();
}

TS_FORK_HANDLER void ts_conn_fork_parent(void)
{
    ts_buf_fork_parent();
    conn_spans_fork_parent();
    ts_block_pool_fork_parent(&rare_blocks);
    ts_block_pool_fork_parent(&ext_blocks);
    ts_block_pool_fork_parent(&q_blocks);
    ts_block_pool_fork_parent(&conn_blocks);
    pthread_mutex_unlock(&pool_mu);
}

bool ts_conn_held_at_fork(const struct ts_conn *c)
{
    return atomic_load_explicit(&c->out.mu.state, memory_order_relaxed) != 0 ||
           atomic_load_explicit(&c->in.mu.state, memory_order_relaxed) != 0 ||
           atomic_load_explicit(&c->q_mu.state, memory_order_relaxed) != 0;
}

TS_FORK_HANDLER void ts_conn_after_fork(void)
{
    pthread_mutex_init(&pool_mu, NULL);
    ts_block_pool_after_fork(&conn_blocks);
    ts_block_pool_after_fork(&q_blocks);
    ts_block_pool_after_fork(&ext_blocks);
    ts_block_pool_after_fork(&rare_blocks);
    conn_spans_after_fork();
    ts_buf_after_fork();
    /* The child follows none of those: their fds are forgotten as a
     * handler's close_range forgets them (no lock taken, nothing ended),
     * and its calls on them pass straight through. The forking thread's
     * own (a fork from a handler that interrupted a hook) is forgotten
     * too; the hook it interrupted still holds its reference and ends
     * what it does as it would. */
    unsigned hw = (unsigned)ts_fd_high_water();
    for (unsigned fd = 0; fd < hw; fd++) {
        struct ts_fd_ref *r = atomic_load_explicit(&ts_fd_slots[fd], memory_order_relaxed);
        if (r && ts_conn_held_at_fork((const struct ts_conn *)r))
            ts_conn_forget_range(fd, fd);
    }
}
