/* conn_send.c — a client's outgoing requests: trace header lines go into
 * every request head, and the program is told the truth about its bytes.
 *
 * The stream is heads and bodies. Bodies pass unchanged. A head that
 * arrives whole (the usual case, IO-PROFILE.md) goes out as its wire form
 * — the head with the header lines inserted before its blank line — in
 * one sendmsg with whatever body bytes share the call. A head that arrives
 * in pieces passes through as it comes (a copy is kept to parse it) until
 * its blank line starts; the lines go in right there.
 *
 * A return value counts only the program's bytes, and only those on the
 * wire: when the kernel takes part of a wire form, the program hears how
 * many of its own bytes went out before the cut, and the rest of the wire
 * form is kept (struct out_wire) to go out when the program sends those
 * bytes again. The inserted lines always come before a byte of the
 * program's (the blank line's), so the shim never owes bytes to a program
 * that thinks it is done: it cannot wait for an answer the peer has no
 * request for, and a close loses nothing the program wrote. */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include "../preload/blocks.h"
#include "../preload/hex.h"
#include "../preload/real.h"
#include "conn_internal.h"
#include "held.h"
#include "iov.h"
#include "propagation.h"
#include "refused_address.h"

/* ----------------------------------------------------------- segments */

/* The iovecs of one sendmsg: on the stack, in a buffer from blocks (not
 * malloc: preload/blocks.h) for programs that pass more pieces than that
 * (never more than the kernel takes). */
struct segs {
    struct iovec stack[CONN_IOV_STACK];
    struct iovec *v;
    int n, max;
    size_t bytes;
    char *big;
    size_t big_cap;
};

static void segs_init(struct segs *s, int want)
{
    s->v = s->stack;
    s->max = CONN_IOV_STACK;
    s->n = 0;
    s->bytes = 0;
    s->big = NULL;
    s->big_cap = 0;
    if (want > CONN_IOV_STACK) {
        int cap = want < IOV_MAX ? want : IOV_MAX;
        if (ts_buf_reserve(&s->big, &s->big_cap, sizeof(struct iovec) * (size_t)cap)) {
            s->v = (struct iovec *)(void *)s->big; /* else: fewer pieces per call, still correct */
            s->max = cap;
        }
    }
}

static void segs_free(struct segs *s)
{
    ts_buf_release(&s->big, &s->big_cap);
}

static void segs_add(struct segs *s, const void *p, size_t n)
{
    if (n && s->n < s->max) {
        s->v[s->n++] = (struct iovec){(void *)p, n};
        s->bytes += n;
    }
}

/* Add program bytes [off, off+n); returns how many fitted. */
static size_t segs_add_prog(struct segs *s, const struct iovec *iov, int iovcnt, size_t off,
                            size_t n)
{
    int k = ts_iov_slice(s->v + s->n, s->max - s->n, iov, iovcnt, off, n);
    size_t added = 0;
    for (int i = 0; i < k; i++)
        added += s->v[s->n + i].iov_len;
    s->n += k;
    s->bytes += added;
    return added;
}

/* Where a step's bytes go (see ts_conn_sink_fn). flags: a socket sink's
 * sendmsg flags, which a step may add to for its own call; NULL for
 * another sink. */
struct sink {
    ts_conn_sink_fn fn;
    void *ctx;
    int *flags;
};

static ssize_t segs_send(const struct sink *to, struct segs *s, size_t ins_from, size_t ins_len)
{
    return to->fn(to->ctx, s->v, s->n, ins_from, ins_len);
}

/* A socket's sink: one sendmsg on the fd, with the program's flags. A
 * TCP Fast Open send's first call carries its address (to) and
 * MSG_FASTOPEN: that call connects the socket, the ones after it send on
 * the connection it began. */
struct socket_sink {
    int fd, flags;
    const struct sockaddr *to;
    socklen_t to_len;
};

/* One sendmsg on a socket sink, as a ts_conn_pass_fn for conn_pass. */
struct socket_sendmsg {
    const struct socket_sink *ss;
    struct msghdr msg;
};

static ssize_t socket_sendmsg(void *arg)
{
    struct socket_sendmsg *call = arg;
    return TS_REAL(sendmsg)(call->ss->fd, &call->msg, call->ss->flags);
}

static ssize_t socket_sink_send(void *ctx, const struct iovec *v, int n, size_t ins_from,
                                size_t ins_len)
{
    struct socket_sink *ss = ctx;
    struct socket_sendmsg call = {ss,
                                  {.msg_name = (void *)ss->to,
                                   .msg_namelen = ss->to_len,
                                   .msg_iov = (struct iovec *)v,
                                   .msg_iovlen = (size_t)n}};
    ssize_t r = conn_pass(socket_sendmsg, &call);
    if (__builtin_expect(ss->to != NULL, 0)) { /* the connection is begun, or refused */
        ss->to = NULL;
        ss->to_len = 0;
        ss->flags &= ~MSG_FASTOPEN;
    }
    return r;
}

/* ---------------------------------------------------------- wire form */

/* How many program bytes are out once the wire has reached `sent`: all
 * wire bytes up to the last of them are. */
static size_t wire_prog_done(const struct out_wire *w, size_t sent)
{
    if (sent <= w->ins)
        return sent;
    if (sent < w->ins + w->ins_len)
        return w->ins;
    return sent - w->ins_len;
}

/* How many of the inserted lines' bytes are among the `sent` wire bytes
 * that start at wire offset `from` (a send may cut anywhere). */
static size_t wire_inserted_sent(const struct out_wire *w, size_t from, size_t sent)
{
    size_t lo = from > w->ins ? from : w->ins;
    size_t end = from + sent, ins_end = w->ins + w->ins_len;
    size_t hi = end < ins_end ? end : ins_end;
    return hi > lo ? hi - lo : 0;
}

/* What span says in a forwarded context's field, written over it at to. */
static void edit_apply(const struct span_edit *e, const struct ts_span *span, char *to)
{
    switch (e->field) {
    case EDIT_SPAN_ID:
        ts_hex_encode(span->span_id, TS_SPAN_ID_LEN, to);
        break;
    case EDIT_PARENT_ID:
        ts_hex_encode(span->parent_id, TS_SPAN_ID_LEN, to);
        break;
    case EDIT_DECISION:
        to[0] = span->sampled ? '1' : '0';
        break;
    case EDIT_TRACEPARENT_FLAGS: {
        /* W3C: flags we do not know go as zero; "random" (0x02) still
         * describes the trace id, which stays */
        unsigned char flags = (unsigned char)((ts_hex_digit((unsigned char)to[1]) & 0x02) |
                                              (span->sampled ? 0x01 : 0x00));
        ts_hex_encode(&flags, 1, to);
        break;
    }
    }
}

/* The wire form of head[from, h): the lines inserted at ins, the forwarded
 * ids rewritten to the new span's (edits are head offsets, on either side
 * of ins: see conn_client_span_start). */
static bool wire_build(struct ts_conn *c, const char *head, size_t from, size_t h, size_t ins,
                       const char *inject, size_t inject_len, const struct span_edit *edits,
                       int nedits, const struct ts_span *span)
{
    size_t len = h - from + inject_len;
    struct out_wire *w = conn_wire_reserve(c, len);
    if (!w)
        return false;
    size_t before = ins - from;
    memcpy(w->buf, head + from, before);
    memcpy(w->buf + before, inject, inject_len);
    memcpy(w->buf + before + inject_len, head + ins, h - ins);
    for (int i = 0; i < nedits; i++)
        edit_apply(&edits[i], span,
                   w->buf + (edits[i].at - from) + (edits[i].at >= ins ? inject_len : 0));
    w->len = (uint32_t)len;
    w->off = 0;
    w->prog_len = (uint32_t)(h - from);
    w->prog_off = 0;
    w->ins = (uint32_t)before;
    w->ins_len = (uint32_t)inject_len;
    return true;
}

bool conn_head_queued(struct ts_conn *c, struct pending *p, const char *head, size_t from, size_t h,
                      size_t ins, const char *inject, size_t inject_len,
                      const struct span_edit *edits, int nedits, enum ts_stat *why)
{
    /* Queued first: with more requests in flight than a connection keeps
     * spans for, this one and those after it go out as they are (their
     * responses could no longer be told apart). */
    if (!conn_q_push(c, p, NULL)) {
        conn_span_discard(p);
        *why = TS_STAT_GAVE_UP_TOO_MANY_IN_FLIGHT;
        return false;
    }
    if (!wire_build(c, head, from, h, ins, inject, inject_len, edits, nedits, &p->span)) {
        if (conn_q_pop_back(c) == p)
            conn_span_discard(p);
        *why = TS_STAT_GAVE_UP_NO_MEMORY;
        return false;
    }
    return true;
}

/* ------------------------------------------------------------- bodies */

/* How many bytes of iov from off belong to the current body, and whether
 * the body ends within them (the state itself is not changed); SIZE_MAX
 * when the framing is malformed. */
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
            return SIZE_MAX;
        n += (size_t)k;
        off = 0;
    }
    return n;
}

/* Advance the outgoing body state over n bytes of iov from off. */
static void body_advance(struct ts_conn *c, const struct iovec *iov, int iovcnt, size_t off,
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
        if (ts_http_body_feed(&c->out.x->body, (const char *)iov[i].iov_base + off, take,
                              &done) < 0) {
            conn_off(c, &c->out, TS_STAT_GAVE_UP_BAD_FRAMING);
            return;
        }
        if (done) {
            c->out.state = DIR_HEAD;
            conn_dir_settle(&c->out);
        }
        n -= take;
        off = 0;
    }
}

/* --------------------------------------------------------------- heads */

/* How many lines the inject bytes hold. */
static size_t lines_in(const char *inject, size_t inject_len)
{
    size_t lines = 0;
    for (const char *p = inject, *end = inject + inject_len;
         (p = memchr(p, '\n', (size_t)(end - p))) != NULL; p++)
        lines++;
    return lines;
}

/* Would a head of num_headers lines, with the inject lines added, have
 * more than a traced server reads (CONN_MAX_REQUEST_HEADERS)? It would
 * give the connection up, and the trace would end there. */
static bool lines_over_what_is_read(size_t num_headers, const char *inject, size_t inject_len)
{
    return num_headers + lines_in(inject, inject_len) > CONN_MAX_REQUEST_HEADERS;
}

/* Does a head end its lines with a bare LF (RFC 9112 lets a recipient
 * take them; Twisted waits for CRLF, and refuses a head that mixes the
 * two)? Its request line says (after the empty lines a client may send
 * before it, which the parser passes over). */
static bool head_ends_lines_with_lf(const char *head, size_t len)
{
    size_t start = 0;
    while (start < len && (head[start] == '\r' || head[start] == '\n'))
        start++;
    const char *eol = memchr(head + start, '\n', len - start);
    return eol && eol > head + start && eol[-1] != '\r';
}

/* The inject lines with bare LF line ends, as the head's: their length. */
static size_t lines_ended_with_lf(char *inject, size_t inject_len)
{
    size_t n = 0;
    for (size_t i = 0; i < inject_len; i++)
        if (!(inject[i] == '\r' && i + 1 < inject_len && inject[i + 1] == '\n'))
            inject[n++] = inject[i];
    return n;
}

/* Bounds on a request head that servers commonly enforce: 99 header lines
 * (Python's http.server and the servers built on its http.client, Werkzeug
 * and gevent's among them: their 100 count the blank line; Apache's
 * LimitRequestFields takes 100), and in bytes 8 KiB
 * (lighttpd's default, Tomcat's and Jetty's maxHttpHeaderSize), 15 KiB
 * (HAProxy: its 16 KiB buffer less the 1 KiB it keeps for rewrites) and
 * 16 KiB (Node's --max-http-header-size), smallest first. */
#define PEER_MAX_HEADERS 99
static const size_t peer_max_head_bytes[] = {8192, 15360, 16384};
#define PEER_SMALLEST_HEAD_BOUND 8192
_Static_assert(PEER_SMALLEST_HEAD_BOUND > TS_PROP_INJECT_MAX, "a head near a bound has bytes");

/* Would the inject lines take a head of head_len bytes and num_headers
 * lines across one of those bounds it keeps within? Its server would then
 * refuse a request (431) that it takes untraced: the lines are left out,
 * the span stays. A head already past a bound is one its server takes.
 * Servers measure a head their own ways: Tomcat all of it, Netty its
 * header lines without the request line, Jetty about so (9.4 took a head
 * of 8,208 bytes with a 21-byte request line, and refused 431 what the
 * lines took past that): a head within a bound by either measure stays
 * within it. */
static bool lines_cross_a_peer_bound(const char *head, size_t head_len, size_t num_headers,
                                     const char *inject, size_t inject_len)
{
    size_t lines = num_headers + lines_in(inject, inject_len);
    if (num_headers <= PEER_MAX_HEADERS && lines > PEER_MAX_HEADERS)
        return true;
    const char *eol = memchr(head, '\n', head_len);
    size_t fields_len = eol ? head_len - (size_t)(eol + 1 - head) : head_len;
    for (size_t i = 0; i < sizeof peer_max_head_bytes / sizeof *peer_max_head_bytes; i++) {
        size_t bound = peer_max_head_bytes[i];
        if ((head_len <= bound && head_len + inject_len > bound) ||
            (fields_len <= bound && fields_len + inject_len > bound))
            return true;
    }
    return false;
}

/* A head begins at program byte `base` of iov (after `held` bytes of it
 * that already went out). Parses what there is; on HEAD_READY the span is
 * queued (*fresh) and the wire form and body framing are set; on HEAD_NOT
 * *why says why the stream cannot be traced. */
static enum head_verdict head_start(struct ts_conn *c, const struct iovec *iov, int iovcnt,
                                    size_t base, size_t total, struct pending **fresh,
                                    enum ts_stat *why, size_t *between)
{
    if (atomic_load_explicit(&c->tunnel_ask, memory_order_acquire) == CONN_TUNNEL_ASKED)
        return conn_head_not(why, TS_STAT_GAVE_UP_TUNNEL); /* may be the tunnel's: never touched */
    size_t held = conn_head_len(&c->out);
    size_t flen = 0;
    const char *first = held ? c->out.x->head : ts_iov_at(iov, iovcnt, base, &flen);
    union conn_head_space space; /* a proxy forwards what it was sent */
    if (__builtin_expect(first && conn_fcgi_byte(first[0]), 0)) /* nginx's fastcgi_pass */
        return conn_fcgi_head_start(c, iov, iovcnt, base, total, fresh, why, &space.fcgi);
    size_t limit = conn_max_head();
    struct ts_http_request req = {.headers = space.hdrs, .num_headers = CONN_MAX_REQUEST_HEADERS};
    const char *head = NULL;
    int h = TS_HTTP_INCOMPLETE;

    if (!held) {
        /* An empty line after a message (old clients end a POST body with
         * one): it goes out as it is, and the head starts after it. */
        size_t blank = 0;
        while (blank < flen && (first[blank] == '\r' || first[blank] == '\n'))
            blank++;
        if (blank) {
            *between = blank;
            return HEAD_BETWEEN;
        }
        /* a head past the limit is not traced, also when it came whole */
        h = ts_http_parse_request(first, flen < limit ? flen : limit, &req);
        /* A whole head that parses from its first byte is a request,
         * whatever its method (another than RFC 9110's is traced as
         * _OTHER, as servers' spans are). A head that has not all come
         * yet is held back only when it starts with a known method: on
         * less, bytes of another protocol would wait. */
        bool request = h > 0 ? req.method == first
                             : ts_http_looks_like_request(first, flen < 32 ? flen : 32);
        if (!request)
            return conn_head_not(why, TS_STAT_GAVE_UP_NOT_HTTP);
        if (h > 0)
            head = first; /* the usual case: a whole head, parsed in place */
        else if (h != TS_HTTP_INCOMPLETE)
            return conn_head_not(why, TS_STAT_GAVE_UP_BAD_HEAD);
        else if (flen >= limit)
            return conn_head_not(why, TS_STAT_GAVE_UP_HEAD_TOO_BIG);
    }
    if (!head) {
        size_t take = total < limit - held ? total : limit - held;
        if (!conn_head_reserve(&c->out, held + take + 1))
            return conn_head_not(why, TS_STAT_GAVE_UP_NO_MEMORY);
        ts_iov_copy(c->out.x->head + held, iov, iovcnt, base, take);
        size_t avail = held + take;
        head = c->out.x->head;
        req.num_headers = CONN_MAX_REQUEST_HEADERS;
        h = ts_http_parse_request(head, avail, &req);
        if (h == TS_HTTP_INCOMPLETE) {
            if (avail >= limit)
                return conn_head_not(why, TS_STAT_GAVE_UP_HEAD_TOO_BIG);
            if (!ts_http_looks_like_request(head, avail))
                return conn_head_not(why, TS_STAT_GAVE_UP_NOT_HTTP);
            if (avail < 2 || head[avail - 2] != '\n' || head[avail - 1] != '\r')
                return HEAD_PIECE;
            /* The blank line has begun ("\r" at a line start): the lines go
             * in before it, and its "\n" is the program's next byte. */
            c->out.x->head[avail] = '\n';
            req.num_headers = CONN_MAX_REQUEST_HEADERS;
            h = ts_http_parse_request(head, avail + 1, &req);
        }
        if (h <= 0)
            return conn_head_not(why, TS_STAT_GAVE_UP_BAD_HEAD);
    }

    struct ts_http_body body;
    size_t ins = ts_http_inject_offset(head, (size_t)h);
    if (ts_http_request_body(&req, &body))
        return conn_head_not(why, TS_STAT_GAVE_UP_BAD_FRAMING);
    if (ins < held) /* its blank line already went out: no place for the lines */
        return conn_head_not(why, TS_STAT_GAVE_UP_BAD_HEAD);
    if (body.kind != TS_BODY_NONE && !conn_dir_ext(&c->out)) /* to keep the framing in */
        return conn_head_not(why, TS_STAT_GAVE_UP_NO_MEMORY);
    char inject[TS_PROP_INJECT_MAX];
    size_t inject_len;
    struct span_edit edits[CONN_MAX_EDITS];
    int nedits;
    struct pending *p =
        conn_client_span_start(c, &req, head, held, inject, &inject_len, edits, &nedits, &ins);
    if (!p)
        return conn_head_not(why, TS_STAT_GAVE_UP_NO_MEMORY);
    if (__builtin_expect(head_ends_lines_with_lf(head, (size_t)h), 0))
        inject_len = lines_ended_with_lf(inject, inject_len);
    if (__builtin_expect(req.num_headers > CONN_MAX_HEADERS, 0) &&
        lines_over_what_is_read(req.num_headers, inject, inject_len)) {
        conn_span_discard(p);
        return conn_head_not(why, TS_STAT_GAVE_UP_HEAD_TOO_BIG);
    }
    if (__builtin_expect(req.num_headers > PEER_MAX_HEADERS - TS_PROP_INJECT_LINES ||
                             (size_t)h > PEER_SMALLEST_HEAD_BOUND - TS_PROP_INJECT_MAX,
                         0) &&
        lines_cross_a_peer_bound(head, (size_t)h, req.num_headers, inject, inject_len))
        inject_len = 0;
    if (!conn_head_queued(c, p, head, held, (size_t)h, ins, inject, inject_len, edits, nedits, why))
        return HEAD_NOT;
    *fresh = p;
    bool asks_tunnel = ts_http_is_connect(req.method, req.method_len) ||
                       ts_http_request_header(&req, TS_HTTP_NOTE_UPGRADE, "upgrade");
    atomic_store_explicit(&c->tunnel_ask, asks_tunnel ? CONN_TUNNEL_ASKED : CONN_TUNNEL_NOT_ASKED,
                          memory_order_relaxed);
    c->out.state = body.kind == TS_BODY_NONE ? DIR_HEAD : DIR_BODY;
    if (c->out.state == DIR_BODY)
        c->out.x->body = body;
    return HEAD_READY;
}

/* Nothing of a freshly set-up head went out: forget it; the program sends
 * the same bytes again and they are parsed again. Unless the step that
 * failed gave the stream up (its body's framing, read in the same call, is
 * malformed): that let go of the head's copy too, and the bytes sent
 * again, which may start inside the head, go as they are. */
static void head_undo(struct ts_conn *c, struct pending *fresh)
{
    if (fresh && conn_q_pop_back(c) == fresh)
        conn_span_discard(fresh);
    conn_wire_release(c);
    /* A request for a tunnel that did not go out asks for nothing (the
     * state before it was not ASKED, or it would not have been set up). */
    atomic_store_explicit(&c->tunnel_ask, CONN_TUNNEL_NOT_ASKED, memory_order_relaxed);
    if (c->out.state != DIR_OFF)
        c->out.state = DIR_HEAD;
    conn_dir_settle(&c->out); /* a head copy (the program sends it again) stays */
}

/* ---------------------------------------------------------------- steps */

/* A program's send with MSG_ZEROCOPY. The kernel numbers a socket's
 * zerocopy calls, and for each that succeeded it queues a note once it
 * has stopped reading that call's pages: the program waits for it before
 * it reuses them. So of the calls the shim makes for the program's one,
 * exactly one carries the flag, and only if it succeeds does the program
 * hear of a success:
 * - that call is the first whose first byte is a program byte (its
 *   success then takes one, and the program is told of it); the header
 *   lines owed before it go first, in calls of their own, copied;
 * - the shim's bytes it carries go from a private copy
 *   (zerocopy_private), as the shim reuses its own buffers at once;
 * - the calls after it, for the rest of the program's bytes, are copies.
 * Bytes the kernel copied are the program's again at once, so a note
 * that names fewer of them than its call held is still true. */
struct zerocopy {
    bool pending; /* the flagged call is still to be made */
};

/* n bytes of the shim's in pages of their own, for a call with
 * MSG_ZEROCOPY; NULL when there is no memory. The caller unmaps them when
 * the call returns: the kernel holds the pages it still reads, not the
 * mapping, and no one can write them any more. */
static void *zerocopy_private(const void *p, size_t n)
{
    void *m = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    memcpy(m, p, n);
    return m;
}

/* Is the wire's next byte one of the inserted lines' (a short send before
 * stopped in them, or a head sent in pieces ended where they go)? */
static bool wire_leads_with_lines(const struct out_wire *w)
{
    return w->off >= w->ins && w->off < w->ins + w->ins_len;
}

/* A step's one call, on c, whose send lock the caller holds (the call is
 * marked: conn_sending). flagged: it is to be the program's zero-copy call
 * (made once it sent a byte). follows: the step sends program bytes and
 * the program's call has more left for a step after it, so on a socket it
 * says MSG_MORE and the kernel holds its bytes for the next step's: the
 * program made one call, and its bytes go out as one segment. Sent apart,
 * the second segment would wait under Nagle behind the first until the
 * peer acknowledged it, up to its delayed acknowledgement (a head after a
 * body's extra blank line: 44 ms a request, measured). The last step
 * sends without the flag, and so sends what was held. The loop leaves a
 * call early only at a step the kernel took less of than offered, or
 * refused: after a held step, TCP takes the next step's first bytes into
 * the held segment without waiting for room, and a call that copied bytes
 * sends what it holds before it waits or returns; so a program that hears
 * of bytes left never leaves a held segment behind (alone, one would wait
 * for the kernel's probe timer, 200 ms). A step of the zero-copy call's
 * owed lines alone never holds them: the next step may fail before its
 * call (no memory for its private copy). */
static ssize_t step_send(struct ts_conn *c, const struct sink *to, struct segs *s, size_t ins_from,
                         size_t ins_len, struct zerocopy *zc, bool flagged, bool follows)
{
    int added = 0;
    if (to->flags) {
        if (flagged)
            added |= MSG_ZEROCOPY;
        /* not on a Fast Open call, whose bytes go in the SYN */
        if (follows && !(*to->flags & (MSG_MORE | MSG_FASTOPEN)))
            added |= MSG_MORE;
        *to->flags |= added;
    }
    conn_sending(c, true);
    ssize_t r = segs_send(to, s, ins_from, ins_len);
    conn_sending(c, false);
    if (to->flags)
        *to->flags &= ~added;
    if (flagged && r > 0) /* a call that sent nothing was not counted */
        zc->pending = false;
    return r;
}

/* One sendmsg of the client's stream, for program bytes [base, base+total)
 * of iov. Returns how many of them are now on the wire (0 when only shim
 * bytes went), or -1 with errno. *more: the step stopped at a message
 * boundary by design and the rest of the call is for the next step.
 * *wire_moved: bytes of a head's wire form went out. zc: the program's
 * MSG_ZEROCOPY (struct zerocopy), NULL for a send without. */
static ssize_t out_step(struct ts_conn *c, const struct sink *to, const struct iovec *iov,
                        int iovcnt, size_t base, size_t total, bool *more, bool *wire_moved,
                        struct zerocopy *zc, bool *as_called)
{
    struct pending *fresh = NULL;
    bool set_up = false;
    *more = false;
    *wire_moved = false;

    if (c->out.state == DIR_HEAD && !conn_wire_pending(c)) {
        enum ts_stat why = TS_STAT_GAVE_UP_NOT_HTTP;
        size_t between = 0;
        enum head_verdict v = head_start(c, iov, iovcnt, base, total, &fresh, &why, &between);
        set_up = v == HEAD_READY;
        if (v != HEAD_READY) {
            if (v == HEAD_NOT)
                conn_off(c, &c->out, why);
            /* The whole call is another protocol's, to go as it is: the
             * program's own call sends it (a filter that allows write and
             * not sendmsg, SECCOMP_MODE_STRICT's, would kill the process
             * at the shim's). */
            if (v == HEAD_NOT && base == 0 && !zc) {
                *as_called = true;
                return 0;
            }
            size_t pass = v == HEAD_BETWEEN ? between : total;
            struct segs s;
            segs_init(&s, iovcnt);
            segs_add_prog(&s, iov, iovcnt, base, pass);
            bool follows = v == HEAD_BETWEEN && pass < total;
            ssize_t r = step_send(c, to, &s, 0, 0, zc, zc && zc->pending, follows);
            segs_free(&s);
            if (v == HEAD_PIECE && r > 0)
                c->out.x->head_len += (size_t)r; /* the copy already holds them */
            *more = v == HEAD_BETWEEN && (size_t)r == pass && pass < total;
            return r;
        }
    }

    struct segs s;
    segs_init(&s, iovcnt + 1);

    /* The head's wire form, as far as the program has given its bytes. */
    struct out_wire *w = conn_wire_pending(c) ? c->wire : NULL;
    /* The zero-copy call leads with a program byte: inserted lines owed
     * first go in a step of their own, which offers no program byte. */
    bool flagged = zc && zc->pending;
    size_t offer = total; /* program bytes this step may send */
    if (flagged && w && wire_leads_with_lines(w)) {
        flagged = false;
        offer = 0;
    }
    size_t head_prog = 0, wire_from = 0, wire_to = 0;
    void *private = NULL;
    if (w) {
        wire_from = wire_to = w->off;
        size_t rest = w->prog_len - w->prog_off;
        head_prog = offer < rest ? offer : rest;
        size_t prog_end = w->prog_off + head_prog;
        wire_to = prog_end < w->ins ? prog_end : prog_end + w->ins_len;
        if (prog_end == w->prog_len) /* the last byte is the program's as it sent it */
            ts_iov_copy(w->buf + w->len - 1, iov, iovcnt, base + head_prog - 1, 1);
        const char *wire = w->buf + wire_from;
        if (flagged && !(private = zerocopy_private(wire, wire_to - wire_from))) {
            segs_free(&s);
            if (set_up)
                head_undo(c, fresh);
            errno = ENOBUFS; /* as the kernel's own zerocopy sends may fail */
            return -1;
        }
        segs_add(&s, private ? private : wire, wire_to - wire_from);
    }

    /* Then body bytes, up to the body's end. */
    size_t body = 0;
    bool head_done = !w || w->prog_off + head_prog == w->prog_len;
    if (head_done && head_prog < offer && c->out.state == DIR_BODY) {
        bool done;
        body = body_extent(&c->out.x->body, iov, iovcnt, base + head_prog, &done);
        if (body == SIZE_MAX) { /* malformed framing: the rest passes as it is */
            conn_off(c, &c->out, TS_STAT_GAVE_UP_BAD_FRAMING);
            body = offer - head_prog;
        }
    } else if (head_done && head_prog < offer && c->out.state == DIR_OFF) {
        body = offer - head_prog;
    }
    body = segs_add_prog(&s, iov, iovcnt, base + head_prog, body);

    /* the inserted lines among this step's bytes, which start at wire_from */
    size_t ins_lo = 0, ins_hi = 0;
    if (w) {
        ins_lo = wire_from > w->ins ? wire_from : w->ins;
        ins_hi = wire_to < w->ins + w->ins_len ? wire_to : w->ins + w->ins_len;
    }
    bool bytes_left = head_prog + body < total;
    bool follows = bytes_left && head_prog + body > 0;
    ssize_t r = ins_hi > ins_lo ? step_send(c, to, &s, ins_lo - wire_from, ins_hi - ins_lo, zc,
                                            flagged, follows)
                                : step_send(c, to, &s, 0, 0, zc, flagged, follows);
    int saved = errno;
    segs_free(&s);
    if (private)
        munmap(private, wire_to - wire_from);
    if (r < 0) {
        if (set_up)
            head_undo(c, fresh);
        errno = saved;
        return -1;
    }

    size_t wire_sent = (size_t)r < wire_to - wire_from ? (size_t)r : wire_to - wire_from;
    size_t body_sent = (size_t)r - wire_sent;
    size_t consumed = 0;
    if (wire_to > wire_from) {
        ts_stats_add(TS_STAT_BYTES_INJECTED, wire_inserted_sent(w, wire_from, wire_sent));
        w->off += (uint32_t)wire_sent;
        size_t prog_now = wire_prog_done(w, w->off);
        consumed = prog_now - w->prog_off;
        w->prog_off = (uint32_t)prog_now;
        *wire_moved = wire_sent > 0;
        if (!conn_wire_pending(c))
            conn_wire_release(c); /* all out: an idle connection holds no wire form */
        conn_head_release(&c->out); /* the head is committed: its copy is done with */
    }
    if (body_sent && c->out.state == DIR_BODY)
        body_advance(c, iov, iovcnt, base + head_prog, body_sent);
    *more = (size_t)r == s.bytes && bytes_left;
    errno = saved;
    return (ssize_t)(consumed + body_sent);
}

/* Is err a refusal of the system call itself, as a seccomp filter that
 * lists write but not sendmsg gives (EPERM from container runtimes' and
 * systemd's filters, ENOSYS, EACCES), rather than an answer about the
 * connection? A TCP send hears none of them from the network. */
static bool sink_refused(int err)
{
    return err == EPERM || err == ENOSYS || err == EACCES;
}

/* A client's send: its bytes go out through `to`, with the header lines
 * in each request head. may_wait: false for a send that must not wait
 * (MSG_DONTWAIT; see conn_lock_out). */
static inline __attribute__((always_inline)) ssize_t
client_send(struct ts_conn *c, const struct sink *to, const struct iovec *iov, int iovcnt,
            ts_conn_pass_fn pass, void *arg, bool may_wait)
{
    /* Refused by the kernel as they are (EINVAL, or EFAULT for an array
     * at a NULL-like address): passed on, never read, so the program
     * hears the kernel's answer. */
    if (iovcnt <= 0 || iovcnt > IOV_MAX || ts_address_refused(iov))
        return conn_pass(pass, arg);
    int orig = errno, saved = orig;
    if (!conn_lock_out(c, may_wait))
        return conn_send_unseen(c, pass, arg); /* beside another thread's blocked send */
    struct ts_held_send_note held = ts_held_send_lock(c); /* let go if the thread leaves a send */
    conn_check_tunnel(c, &c->out);
    conn_check_responses(c);
    size_t total = 0;
    bool unreadable = false;
    for (int i = 0; i < iovcnt; i++) {
        total += iov[i].iov_len;
        unreadable |= iov[i].iov_len && ts_address_refused(iov[i].iov_base);
    }
    ssize_t result;
    if (total == 0 || unreadable || (c->out.state == DIR_OFF && !conn_wire_pending(c))) {
        errno = orig;
        result = conn_pass_out(c, pass, arg);
        saved = errno;
        if (unreadable && result > 0) /* bytes the stream's parse did not see went */
            conn_off(c, &c->out, TS_STAT_GAVE_UP_UNSEEN_BYTES);
    } else {
        struct zerocopy zero_copy = {true}, *zc = NULL;
        if (to->flags && __builtin_expect(*to->flags & MSG_ZEROCOPY, 0)) {
            *to->flags &= ~MSG_ZEROCOPY; /* on the one step's call alone */
            zc = &zero_copy;
        }
        /* Step until the program's bytes are out, the kernel takes fewer
         * than offered, or it refuses: a blocking socket sees what the
         * kernel would do (all, unless interrupted), a non-blocking one a
         * short count or EAGAIN. */
        size_t done = 0;
        for (;;) {
            bool more, wire_moved, as_called = false;
            ssize_t r = out_step(c, to, iov, iovcnt, done, total - done, &more, &wire_moved, zc,
                                 &as_called);
            if (as_called) {
                errno = orig;
                result = conn_pass_out(c, pass, arg);
                break;
            }
            if (r < 0 && !done && sink_refused(errno) && !conn_wire_pending(c)) {
                /* A filter refuses the shim's sendmsg and nothing of the
                 * head went out: the program's own call may be allowed.
                 * The connection is given up, and the call passed on. */
                conn_off(c, &c->out, TS_STAT_GAVE_UP_UNSEEN_BYTES);
                errno = orig;
                result = conn_pass_out(c, pass, arg);
                break;
            }
            if (r < 0) {
                result = done ? (ssize_t)done : -1;
                break;
            }
            done += (size_t)r;
            bool wire_only = r == 0 && wire_moved;
            if (done == total || !(more || wire_only)) {
                result = (ssize_t)done;
                break;
            }
        }
        saved = result < 0 ? errno : orig;
    }
    ts_held_send_lock_end(held);
    conn_unlock(&c->out.mu);
    errno = saved;
    return result;
}

ssize_t ts_conn_send_to(struct ts_conn *c, ts_conn_sink_fn sink, void *sink_ctx,
                        const struct iovec *iov, int iovcnt, ts_conn_pass_fn pass, void *arg)
{
    if (c->role != TS_ROLE_CLIENT && iovcnt > 0) /* as ts_conn_send */
        return conn_send_observed(c, iov, iovcnt, pass, arg, true);
    const struct sink to = {sink, sink_ctx, NULL};
    return client_send(c, &to, iov, iovcnt, pass, arg, true);
}

/* The fd of a client connection a send was rewritten for is no socket:
 * the program closed the socket where no hook saw it (fclose of an
 * fdopen'ed socket, a raw close system call) and a file or pipe took its
 * number. Nothing was sent; the program's own call goes through, on
 * whatever the number is now. */
static __attribute__((noinline, cold)) ssize_t send_to_stale(struct ts_conn *c, int fd,
                                                              ts_conn_pass_fn pass, void *arg,
                                                              int orig)
{
    ts_conn_untrack_if(fd, c);
    errno = orig;
    return conn_pass(pass, arg);
}

/* ts_conn_send for a client: on the socket, in sendmsg calls. Out of
 * line, so that a server's response saves no registers for it. */
static __attribute__((noinline)) ssize_t client_send_socket(struct ts_conn *c,
                                                            struct socket_sink *ss,
                                                            const struct iovec *iov, int iovcnt,
                                                            ts_conn_pass_fn pass, void *arg)
{
    int orig = errno;
    const struct sink to = {socket_sink_send, ss, &ss->flags};
    ssize_t r = client_send(c, &to, iov, iovcnt, pass, arg, !(ss->flags & MSG_DONTWAIT));
    if (__builtin_expect(r < 0, 0) && errno == ENOTSOCK)
        r = send_to_stale(c, ss->fd, pass, arg, orig);
    return r;
}

ssize_t ts_conn_send(struct ts_conn *c, int fd, const struct iovec *iov, int iovcnt, int flags,
                     ts_conn_pass_fn pass, void *arg)
{
    if (c->role != TS_ROLE_CLIENT && iovcnt > 0) /* a server's response: no sink needed */
        return conn_send_observed(c, iov, iovcnt, pass, arg, !(flags & MSG_DONTWAIT));
    struct socket_sink ss = {fd, flags, NULL, 0};
    return client_send_socket(c, &ss, iov, iovcnt, pass, arg);
}

ssize_t ts_conn_send_fast_open(struct ts_conn *c, int fd, const struct iovec *iov, int iovcnt,
                               int flags, const struct sockaddr *to, socklen_t to_len,
                               ts_conn_pass_fn pass, void *arg)
{
    if (c->role != TS_ROLE_CLIENT) /* an accepted socket: the kernel refuses the call */
        return conn_pass(pass, arg);
    struct socket_sink ss = {fd, flags, to, to_len};
    return client_send_socket(c, &ss, iov, iovcnt, pass, arg);
}
