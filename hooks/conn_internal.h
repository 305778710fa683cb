/* conn_internal.h — what the parts of a tracked connection share:
 *
 *   conn.c        a connection's life, what it receives, the streams that
 *                 are only observed (responses, requests to a server)
 *   conn_spans.c  spans from request heads: parents, attributes, the end
 *   conn_send.c   the client's outgoing requests, where trace headers go in
 *   conn_fcgi.c   a connection that speaks FastCGI: its heads read as HTTP
 *
 * Nothing outside hooks/conn*.c includes this. */
#ifndef TS_CONN_INTERNAL_H
#define TS_CONN_INTERNAL_H

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/un.h>

#include "../preload/fdtable.h"
#include "../preload/span.h"
#include "../preload/stats.h"
#include "conn.h"
#include "conn_lock.h"
#include "held.h"
#include "http1.h"
#include "inflight.h"
#include "propagation.h"

#define CONN_MAX_HEADERS 100
/* A request may hold the lines a traced client's shim added to a head of
 * CONN_MAX_HEADERS (and, conn_max_request_head, of conn_max_head bytes):
 * the next traced service follows what the last one sent. */
#define CONN_MAX_REQUEST_HEADERS (CONN_MAX_HEADERS + TS_PROP_INJECT_LINES)
#define CONN_PIPELINE_MAX 16
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
    FEED_CLIENT_OUT, /* our requests' bodies, when sent unseen */
};

/* A direction's message under way: the copy of a head that came in
 * pieces, and the framing of a body that goes on past the call that began
 * it. Taken from a pool when a direction first needs one and given back
 * as soon as it is between messages again (conn_dir_settle), so an idle
 * keep-alive connection holds none; a message that begins and ends within
 * one call (most responses, every request without a body) never takes
 * one. */
struct dir_ext {
    char *head; /* a copy of the head so far; given back once it is parsed */
    uint32_t head_len, head_cap;
    /* A server's request head (conn.c, answered_mid_head): when its first
     * bytes came; when the server answered it before the rest came (0:
     * not), and with what status. */
    uint64_t head_since, answered_at; /* moments (preload/clock.h) */
    uint16_t answered_status;
    struct ts_http_body body; /* DIR_BODY */
};

struct dir {
    struct dir_ext *x;   /* NULL between messages; never NULL in DIR_BODY */
    struct conn_lock mu; /* the direction's lock: what is here is under it */
    uint8_t state;
    /* out only: the lock's holder is inside the real send (conn_pass_out),
     * where it uses no span of the queue's. A send blocked there at the
     * end of the process (a peer that reads nothing) keeps the lock for
     * good; the spans waiting on the connection end all the same
     * (ts_conn_image_ends_for). Set with release: what the holder did to
     * a span it queued before the send is done by then. */
    atomic_bool sending;
};

/* Bytes of d's head copy (0: none). */
static inline size_t conn_head_len(const struct dir *d)
{
    return d->x ? d->x->head_len : 0;
}

/* The wire form of a client request head that is committed (its span
 * exists, bytes of it are on the wire) but that the program has not
 * finished sending: its remaining bytes with the trace header lines
 * inserted. The program's next bytes are that head's rest; what goes out
 * for them comes from here. Program byte j of the head is wire byte j
 * before the insertion point and j + ins_len after it.
 *
 * It lives at the start of the buffer block that holds the bytes, taken
 * when a head is set up and given back once its last byte is out: an idle
 * connection holds none (heads are no longer than conn_max_head, so 32-bit
 * offsets do). */
struct out_wire {
    uint32_t cap;      /* bytes of the block, this header included */
    uint32_t len;      /* wire bytes in buf */
    uint32_t off;      /* wire bytes sent */
    uint32_t prog_len; /* program bytes the wire form stands for */
    uint32_t prog_off; /* program bytes the program was told are sent */
    uint32_t ins;      /* program offset of the inserted lines */
    uint32_t ins_len;
    char buf[];
};

/* A span waiting for its response. */
struct pending {
    struct ts_span span;
    pid_t owner; /* the process that started it: a forked child's copy is not its to end */
    uint64_t start_moment;       /* span.start_ns as a moment (preload/clock.h) */
    struct ts_inflight inflight; /* server spans: found by forwarded context */
    /* A server span whose context came with a traceparent: the tracestate
     * that came with it, to pass on (conn_spans.c); NULL for most. */
    struct conn_tracestate *tracestate;
    char method[16];
    uint8_t method_len;
};

/* Spans in flight on a connection, in request order: room for
 * CONN_Q_INLINE in the connection itself (one request at a time is what
 * nearly every connection has), spilled into a block of CONN_PIPELINE_MAX
 * while more are pipelined, given back when the queue empties again. */
#define CONN_Q_INLINE 1

/* A Unix-domain socket's path as text: sun_path's 108 bytes, an
 * abstract name's leading NUL written as '@' (as ss(8) shows it), and a
 * NUL. */
#define CONN_UNIX_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) + 1)

/* What few connections need, in a block of their own taken when the
 * connection is made: an IPv6 peer's address, a Unix-domain socket's
 * path, a TLS session's version. */
struct conn_rare {
    union {
        char peer_ip[INET6_ADDRSTRLEN];     /* peer_family 6 */
        char unix_path[CONN_UNIX_PATH_MAX]; /* peer_family CONN_UNIX: see conn_unix_path */
    };
    char tls_version[6]; /* "1.3", "" when not known */
};

/* peer_family of a connection over a Unix-domain stream socket. */
#define CONN_UNIX 1

/* What each tracked connection costs: this object (96 bytes; the fd
 * table's slot is 8 more). Buffers, body framing, the wire form and span
 * records are only held while a head or a request is under way. */
#define CONN_OFF_OUT 1
#define CONN_OFF_IN 2

struct ts_conn {
    struct ts_fd_ref ref; /* first: the fd table holds these */
    union {
        struct out_wire *wire;     /* client: a head being sent, NULL when none */
        struct ts_conn *next_free; /* on the pool's free list (wire is NULL then) */
    };
    union {
        struct pending *slots[CONN_Q_INLINE];
        struct pending **spill; /* q_spilled: CONN_PIPELINE_MAX slots */
    } q;
    struct dir out, in;
    struct conn_rare *rare; /* NULL for most */
    struct conn_lock q_mu;
    uint8_t peer_v4[4]; /* peer_family 4: the address (IPv4-mapped IPv6 too) */
    uint16_t peer_port, local_port;
    uint8_t q_head, q_len;
    bool q_spilled;
    uint8_t role;
    /* The connection became a tunnel (CONNECT 2xx, 101 Upgrade): set by
     * the direction that saw it, each direction stops parsing at its next
     * call under its own lock (one lock never waits for the other). */
    atomic_bool tunnel;
    /* Directions that went DIR_OFF (CONN_OFF_OUT, CONN_OFF_IN): the first
     * one counts the connection as given up (preload/stats.h); the one
     * requests come from, and the fd is no longer worth tracking once no
     * span waits (ts_conn_done_with). */
    atomic_uchar dirs_off;
    bool tls;            /* the plaintext of a TLS session (ts_conn_open) */
    uint8_t peer_family; /* 0 not known, 4 (peer_v4), 6 (rare->peer_ip), CONN_UNIX */
    /* What the connection has seen once, never to be cleared (enum
     * conn_seen bits). */
    atomic_uchar seen;
    /* A server read a request that asks for a tunnel (CONNECT, or an
     * Upgrade header) and has not answered every request yet: bytes that
     * come before the answer are the tunnel's most likely (a client may
     * send them at once, as it may after its own such request), so its
     * requests are followed no further if any come (dir_feed). Cleared
     * once no request waits for an answer: a declined upgrade leaves the
     * stream to be parsed as before. */
    atomic_bool tunnel_answer_due;
    /* A send that must not wait went out unseen beside another thread's
     * (conn_lock_out): the sent stream is not known any more, and the
     * next send under the lock stops parsing it. */
    atomic_bool out_unseen;
    /* A client's request for a tunnel (enum conn_tunnel_ask): the out
     * side sets ASKED as the request goes (CONNECT, or an Upgrade header),
     * the in side DECLINED when its final answer is no tunnel. */
    atomic_uchar tunnel_ask;
};

/* Bits of struct ts_conn's seen. */
enum conn_seen {
    /* A server was asked to CONNECT: only then can a 2xx response it
     * sends open a tunnel, and only then does it look at the request
     * that response answers (tunnel_ahead). */
    CONN_SEEN_CONNECT = 1,
    /* The requests' side saw a FastCGI request head: the responses' side
     * reads FastCGI records then (conn_fcgi.c). Set before the request
     * goes on (a client) or is answered (a server): the side that reads
     * the answer sees it. */
    CONN_SEEN_FCGI = 2,
};

static inline bool conn_seen(const struct ts_conn *c, enum conn_seen what)
{
    return atomic_load_explicit(&c->seen, memory_order_acquire) & what;
}

static inline void conn_seen_now(struct ts_conn *c, enum conn_seen what)
{
    if (!conn_seen(c, what))
        atomic_fetch_or_explicit(&c->seen, (unsigned char)what, memory_order_release);
}

/* What a client sends after a request for a tunnel may be the tunnel's
 * bytes (it need not wait for the 2xx or the 101): a head it starts before
 * the answer turns its sent stream off for good. Once the answer declines
 * (a 407, an h2c upgrade answered in HTTP/1.1) with nothing sent since,
 * the connection is HTTP/1.x as before and its next request is traced. */
enum conn_tunnel_ask {
    CONN_TUNNEL_NOT_ASKED,
    CONN_TUNNEL_ASKED,    /* the last request set up asks for one, unanswered */
    CONN_TUNNEL_DECLINED, /* its final answer opened none */
};

/* The peer's address as text ("" when not known) in out; its length. */
size_t conn_peer_ip(const struct ts_conn *c, char out[INET6_ADDRSTRLEN]);

/* The path of a connection over a Unix-domain socket: the one it
 * connected to (a client's), or the one it was accepted on (a server's);
 * "" when unnamed or not known. NULL for a TCP connection. */
static inline const char *conn_unix_path(const struct ts_conn *c)
{
    if (c->peer_family != CONN_UNIX)
        return NULL;
    return c->rare ? c->rare->unix_path : "";
}

/* A TLS session's version ("1.3"), "" when not known. */
static inline const char *conn_tls_version(const struct ts_conn *c)
{
    return c->rare ? c->rare->tls_version : "";
}

/* Is a head's wire form still waiting for program bytes? */
static inline bool conn_wire_pending(const struct ts_conn *c)
{
    return c->wire && c->wire->prog_off < c->wire->prog_len;
}

/* conn.c */
size_t conn_max_head(void);
/* The largest request head read: conn_max_head and the lines another
 * traced program's shim may have added to it (TS_PROP_INJECT_MAX). */
size_t conn_max_request_head(void);
/* A dir's head copy: room for need bytes, keeping what it holds (in
 * d->x->head); and given back (none is fine), with d->x when d is not in a
 * body. */
bool conn_head_reserve(struct dir *d, size_t need);
void conn_head_release(struct dir *d);
/* d's message state, taken when it has none (NULL without memory). */
struct dir_ext *conn_dir_ext(struct dir *d);
/* Give d->x back when it holds nothing: no head copy, not in a body. */
void conn_dir_settle(struct dir *d);
/* Dir blocks carved from their pool's chunks (a test's leak check), and
 * how many times one was taken (a test's check that a message complete
 * within one call needs none). */
size_t conn_dir_ext_carved(void);
size_t conn_dir_ext_taken(void);
/* Room for a wire form of len bytes in c->wire (its header is then to be
 * filled in); and given back, c->wire NULL. */
struct out_wire *conn_wire_reserve(struct ts_conn *c, size_t len);
void conn_wire_release(struct ts_conn *c);
/* Stop parsing d; the first direction to stop counts the connection as
 * given up, for the reason why (a TS_STAT_GAVE_UP_* counter). */
void conn_off(struct ts_conn *c, struct dir *d, enum ts_stat why);
/* Under d's lock: stop parsing d when the connection became a tunnel. */
void conn_check_tunnel(struct ts_conn *c, struct dir *d);
/* Under a client's out lock: stop parsing what it sends once its
 * responses are not parsed any more (conn_off of in): the requests after
 * them could never be paired with theirs, and their spans would only end
 * as failed at the close. Not while the rest of a head is owed. */
void conn_check_responses(struct ts_conn *c);
/* Queue a span behind the requests in flight; false when there is no
 * room. *ahead (may be NULL): how many were queued before it. */
bool conn_q_push(struct ts_conn *c, struct pending *p, unsigned *ahead);
struct pending *conn_q_pop_back(struct ts_conn *c);
/* The server's responses: passed through unchanged, then observed.
 * may_wait: see conn_lock_out. */
ssize_t conn_send_observed(struct ts_conn *c, const struct iovec *iov, int iovcnt,
                           ts_conn_pass_fn pass, void *arg, bool may_wait);

/* How long a send that must not wait (MSG_DONTWAIT) waits for the
 * connection's send lock, which another thread may hold across a blocking
 * send of its own (then the socket is full, and EAGAIN is the kernel's
 * answer too). */
#define CONN_NONBLOCKING_WAIT_NS 1000000L

/* How long any other send waits for it: the holder may be blocked in the
 * kernel for good (a peer that reads nothing), and a wait in the shim is
 * deaf to what ends the program's own blocked send (a signal's EINTR,
 * SO_SNDTIMEO's EAGAIN, pthread_cancel); past this the send goes out
 * unseen, to block where those work. Far above the microseconds a holder
 * that is not blocked keeps it. */
#define CONN_BLOCKING_WAIT_NS 20000000L

/* The program's own send, the send hook's mark published for the length
 * of it (held.h). */
static inline ssize_t conn_pass(ts_conn_pass_fn pass, void *arg)
{
    bool marked = ts_held_real_send_begin();
    ssize_t r = pass(arg);
    int saved = errno;
    ts_held_real_send_end(marked);
    errno = saved;
    return r;
}

/* The holder of c's send lock goes into its real send (on), or is back
 * (struct dir's sending). */
static inline void conn_sending(struct ts_conn *c, bool on)
{
    atomic_store_explicit(&c->out.sending, on, on ? memory_order_release : memory_order_relaxed);
}

/* The program's own send, made by the holder of c's send lock. */
static inline ssize_t conn_pass_out(struct ts_conn *c, ts_conn_pass_fn pass, void *arg)
{
    conn_sending(c, true);
    ssize_t r = conn_pass(pass, arg);
    conn_sending(c, false);
    return r;
}

/* Take c's send lock, if it is free within CONN_BLOCKING_WAIT_NS, or
 * CONN_NONBLOCKING_WAIT_NS for a send that must not wait (may_wait
 * false). When it is not, the send goes out as the program made it,
 * unseen (conn_send_unseen): waiting longer would make a send that must
 * not wait block, and EAGAIN would be a lie when the socket has room (a
 * program waiting on an edge-triggered epoll for room would wait for
 * good); a send that may wait would wait where no signal, timeout or
 * cancellation reaches it. Under the lock, the sent stream is given up
 * when a send went out unseen. */
static inline bool conn_lock_out(struct ts_conn *c, bool may_wait)
{
    long wait = may_wait ? CONN_BLOCKING_WAIT_NS : CONN_NONBLOCKING_WAIT_NS;
    /* a stream given up already waits for nothing: a lock held for good
     * (its holder left a send by siglongjmp) costs each send no wait */
    if (__builtin_expect(atomic_load_explicit(&c->out_unseen, memory_order_relaxed), 0))
        wait = 0;
    if (!conn_lock_within(&c->out.mu, wait))
        return false;
    if (__builtin_expect(atomic_load_explicit(&c->out_unseen, memory_order_relaxed), 0) &&
        c->out.state != DIR_OFF)
        conn_off(c, &c->out, TS_STAT_GAVE_UP_UNSEEN_BYTES);
    return true;
}

/* The program's send, made without the lock conn_lock_out could not take:
 * when it moved bytes, the stream's next locker gives it up. */
static inline ssize_t conn_send_unseen(struct ts_conn *c, ts_conn_pass_fn pass, void *arg)
{
    ssize_t r = conn_pass(pass, arg);
    if (r > 0)
        atomic_store_explicit(&c->out_unseen, true, memory_order_relaxed);
    return r;
}

/* conn_fcgi.c */

/* A FastCGI request head's headers hold fewer than an HTTP head's, in
 * the same room: the rest of it takes the names made of the CGI
 * variables' (fcgi.h), so that a head parse on the program's thread
 * needs no more stack for either. */
#define CONN_FCGI_MAX_HEADERS 64
struct conn_fcgi_space {
    struct ts_http_header hdrs[CONN_FCGI_MAX_HEADERS];
    char names[(CONN_MAX_REQUEST_HEADERS - CONN_FCGI_MAX_HEADERS) * sizeof(struct ts_http_header)];
};

/* The room a request head's parse takes its headers in: an HTTP head's,
 * or a FastCGI head's headers and names. */
union conn_head_space {
    struct ts_http_header hdrs[CONN_MAX_REQUEST_HEADERS];
    struct conn_fcgi_space fcgi;
};

/* Could bytes that start with byte b be a FastCGI record? (No HTTP/1.x
 * head starts with 1.) */
static inline bool conn_fcgi_byte(char b)
{
    return b == 1;
}

/* Parse the FastCGI request head in buf[0..len) into *req, its headers
 * and names in *space: as ts_fcgi_parse_request, with no protocol
 * version for the span (the variables' is the client's HTTP, not this
 * hop's). */
struct ts_fcgi_request;
int conn_fcgi_parse_request(const char *buf, size_t len, struct conn_fcgi_space *space,
                            struct ts_fcgi_request *req);

/* The context of the server span at the front of c's queue (the request
 * a server connection is serving): false when there is none. */
bool conn_serving_ctx(struct ts_conn *c, struct ts_ctx *ctx);

/* The fd of the server connection last tracked with each peer port, plus
 * one (0: none; atomic): where a FastCGI exchange's REMOTE_PORT is looked
 * for first (conn_fcgi.c), before every tracked fd. A hint only, what it
 * names is checked. Kept only once the process made a FastCGI exchange
 * (conn_fd_hints, atomic): a server that never does (php-fpm, a forking
 * server whose every fork would copy the page written again) pays
 * nothing for it. Its pages are touched as ports come (at most 256 KiB,
 * about 110 KiB for Linux's ephemeral ports). */
extern bool conn_fd_hints;
extern int conn_fd_by_peer_port[65536];

/* What head_start (conn_send.c) says of the bytes a client sends. */
enum head_verdict {
    HEAD_PIECE,   /* the start of a head: pass it, keep a copy */
    HEAD_BETWEEN, /* CR and LF before a head (RFC 9112 2.2): pass them alone */
    HEAD_READY,   /* complete (or its blank line begun): the wire form is set up */
    HEAD_NOT,     /* not a request head we can trace: stop tracing the stream */
};

/* HEAD_NOT, noting why (a TS_STAT_GAVE_UP_* counter) in *why. */
static inline enum head_verdict conn_head_not(enum ts_stat *why, enum ts_stat reason)
{
    *why = reason;
    return HEAD_NOT;
}

/* head_start for a client whose stream is FastCGI (its head copy, or its
 * bytes at base, start with a FastCGI record): the head parsed, the
 * client span made, and the wire form set up with a PARAMS record of the
 * span's context before the empty one that ends the head. Arguments as
 * head_start's; space: the room for the head's headers. */
enum head_verdict conn_fcgi_head_start(struct ts_conn *c, const struct iovec *iov, int iovcnt,
                                       size_t base, size_t total, struct pending **fresh,
                                       enum ts_stat *why, struct conn_fcgi_space *space);

/* conn_send.c */

/* A head about to go out, whose span p has begun: p queued behind the
 * requests in flight, and the head's wire form set up (struct out_wire):
 * head[from, h) with the bytes inject[0..inject_len) inserted at head
 * offset ins, the forwarded ids rewritten to p's (edits are head offsets,
 * see conn_client_span_start). False when it cannot be (p let go of, the
 * reason in *why, a TS_STAT_GAVE_UP_* counter). */
struct span_edit;
bool conn_head_queued(struct ts_conn *c, struct pending *p, const char *head, size_t from, size_t h,
                      size_t ins, const char *inject, size_t inject_len,
                      const struct span_edit *edits, int nedits, enum ts_stat *why);

/* conn_spans.c */

/* In-place rewrites of a forwarded context in a request head (see
 * conn_client_span_start): at head offset `at`, what the new client span
 * says there. */
enum span_edit_field {
    EDIT_SPAN_ID,          /* 16 hex digits: its id */
    EDIT_PARENT_ID,        /* 16 hex digits: its parent's */
    EDIT_DECISION,         /* '1' or '0': whether it is recorded */
    EDIT_TRACEPARENT_FLAGS /* 2 hex digits: sampled, and the trace id's random flag kept */
};
struct span_edit {
    size_t at;
    enum span_edit_field field;
};
#define CONN_MAX_EDITS 11 /* 4 span ids, 4 parent ids, 2 decisions, flags */

/* A client span for an outgoing request head (head[0..] is where the
 * request's fields point). Writes the bytes to insert at head offset *ins
 * (given: where the header lines go, the blank line) into inject
 * (*inject_len). When the head forwards the context of a request this
 * process is serving, the span becomes that server span's child and
 * *nedits id fields are listed for rewriting, all at offsets >= editable
 * (bytes before it are already on the wire); a forwarded "b3: T-S" that
 * carries no decision gets one, and *ins moves to its end, still >=
 * editable (see forward_decision). */
struct pending *conn_client_span_start(struct ts_conn *c, const struct ts_http_request *req,
                                       const char *head, size_t editable, char *inject,
                                       size_t *inject_len, struct span_edit *edits, int *nedits,
                                       size_t *ins);
/* A server span for a request head. */
struct pending *conn_server_span_start(struct ts_conn *c, const struct ts_http_request *req);
/* The server span whose request the thread now serves becomes its current
 * span (the parent of the client spans it starts): the one at the front
 * of the connection's queue, when its request is read or when the
 * response of the one before it is complete (pipelined requests). */
void conn_span_serve(const struct pending *p);
/* The span began before its head was whole: at moment start
 * (preload/clock.h), when its first bytes came (a request its server
 * answered before reading it all). */
void conn_span_began_at(struct pending *p, uint64_t start);
/* Record the status code of the response. */
void conn_span_set_status(struct pending *p, int status);
/* A span of a FastCGI exchange (conn_fcgi.c): says so
 * (network.protocol.name "fastcgi") when it is recorded. */
void conn_span_mark_fastcgi(struct pending *p);
/* Record the TLS version of a span that began before it was known. */
void conn_span_set_tls_version(struct pending *p, const char *version);
/* End the span and hand it to the reporter (error_type marks a failure). */
void conn_span_finish(struct pending *p, const char *error_type);
/* The same for a span that ended earlier, at moment end, without a
 * failure. */
void conn_span_finish_at(struct pending *p, uint64_t end);
/* End the span of a request whose response the shim had stopped reading
 * (bytes it could not see or parse): how it went is not known, so no
 * error is claimed; traceshim.response_unseen says so. */
void conn_span_finish_unfollowed(struct pending *p);
/* Forget a span that never started for the peer (its head was not sent). */
void conn_span_discard(struct pending *p);
/* Around fork: the span records' pool (see ts_conn_fork_prepare). */
void conn_spans_fork_prepare(void);
void conn_spans_fork_parent(void);
void conn_spans_after_fork(void);

#endif
