/* fuzz_injector.c — libFuzzer target for the client's send path
 * (hooks/conn_send.c and the connection code it needs): the one place the
 * shim changes what a program puts on the wire.
 *
 * A tracked client connection over a fresh non-blocking socketpair; the
 * real sendmsg is replaced by one with a byte budget (as in
 * tests/unit/test_conn_send.c), so the kernel takes only part of a send
 * or refuses it with EAGAIN. The input is
 *
 *   byte 0      flags: bits 0-3 the propagators (0: the default set),
 *               bit 4 TRACESHIM_MAX_HEAD_BYTES=1024 (else the default)
 *   byte 1      C, the number of control bytes that follow
 *   C bytes     control, read in turn by each call: a piece selector
 *               (bits 0-5 the size, 0 = all that is left; bit 6 scales it
 *               by 16; bit 7 sends it as a writev of up to 3 iovecs) and
 *               a budget selector (< 64: no limit, else budget - 64 bytes;
 *               0 makes the next sendmsg fail with EAGAIN), and after an
 *               EAGAIN the refill (as the budget, 0 meaning 1). Past the
 *               end: the whole rest, no limit.
 *   the rest    the program's bytes, sent the way a careful non-blocking
 *               program does: resume where the return value says, retry
 *               on EAGAIN.
 *
 * Invariants (abort() on violation): every call returns 1..offered, or -1
 * with errno EAGAIN; the program gets all its bytes out; and what the peer
 * received is the program's bytes exactly, plus blocks of trace header
 * lines, each at a line start just before a CR or LF of the program's
 * (the blank line that ends a head), each line "Name: value\r\n" of a
 * propagation header that parses (ended "\n" alone where the head's
 * request line is), all lines of a block naming one trace
 * and span id. (A proxy's forwarded "b3: T-S" without a decision gets
 * its block at the b3 value's end instead, "-0\r\n" and the lines: no
 * request is served here, so none is forwarded; test_conn_send.c
 * test_proxy_b3_single_decision_every_cut covers that case.)
 *
 * A head that starts with byte 1 is a FastCGI request head (nginx's
 * fastcgi_pass; conn_fcgi.c): its BEGIN_REQUEST record and PARAMS stream,
 * then its records up to the empty STDIN record, then the next head. Its
 * trace context goes in a PARAMS record of the shim's: at most one for a
 * head, just before the empty PARAMS record that ends it, of the head's
 * request id, its content (not empty) name-value pairs HTTP_ + the upper
 * case name of a propagation header (HTTP_TRACEPARENT, HTTP_X_B3_TRACEID,
 * ...) whose value parses as that header's would, all naming one trace and
 * span id (the program's own, when its head carried a context), padded to
 * 8 bytes with zeros. A stream that starts with a FastCGI head gets header
 * lines only at a head that is HTTP's, where the walk found one. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hooks/conn.h"
#include "hooks/fcgi.h"
#include "hooks/propagation.h"
#include "preload/config.h"
#include "preload/real.h"
#include "reporter/reporter.h"
#include "tests/unit/rep_block_stub.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

/* The reporter, stubbed: spans are counted, not exported. */
static unsigned long nspans;
void ts_rep_submit(const struct ts_span *s)
{
    (void)s;
    nspans++;
}

static const char *no_env(const char *name)
{
    (void)name;
    return NULL;
}

/* ------------------------------------------------- a kernel with a budget */

static const uint8_t *ctrl;
static size_t nctrl, ci;

static int next_ctrl(void)
{
    return ci < nctrl ? ctrl[ci++] : -1;
}

static long budget = -1; /* bytes the next sendmsg calls may take; -1: no limit */
static ts_real_sendmsg_fn libc_sendmsg;

static long budget_of(int b, bool refill)
{
    if (b < 64)
        return -1;
    long n = b - 64;
    return refill && n == 0 ? 1 : n;
}

static ssize_t limited_sendmsg(int fd, const struct msghdr *msg, int flags)
{
    if (budget < 0)
        return libc_sendmsg(fd, msg, flags);
    if (budget == 0) {
        budget = budget_of(next_ctrl(), true);
        errno = EAGAIN;
        return -1;
    }
    struct iovec v[1024];
    struct msghdr m = *msg;
    size_t left = (size_t)budget;
    size_t n = 0;
    for (size_t i = 0; i < msg->msg_iovlen && left > 0 && n < 1024; i++) {
        size_t k = msg->msg_iov[i].iov_len < left ? msg->msg_iov[i].iov_len : left;
        v[n++] = (struct iovec){msg->msg_iov[i].iov_base, k};
        left -= k;
    }
    m.msg_iov = v;
    m.msg_iovlen = n;
    ssize_t r = libc_sendmsg(fd, &m, flags);
    if (r > 0)
        budget -= r;
    return r;
}

/* pass(): the program's own call, under the same budget. */
struct call {
    int fd;
    const struct iovec *iov;
    int iovcnt;
};

static ssize_t pass_call(void *arg)
{
    struct call *w = arg;
    struct msghdr m = {.msg_iov = (struct iovec *)w->iov, .msg_iovlen = (size_t)w->iovcnt};
    return limited_sendmsg(w->fd, &m, 0);
}

/* ------------------------------------------------------------- checking */

static bool is_lower_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static bool lower_hex(const char *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_lower_hex(v[i]))
            return false;
    return true;
}

/* The ids one line of a block names; all lines of a block must agree. */
struct block {
    struct ts_ctx ctx;
    bool have;
    struct ts_http_header multi[8];
    size_t nmulti;
    int lf; /* the lines end with a bare LF: 1, CRLF: 0, not known yet: -1 */
};

static void block_ctx(struct block *b, const struct ts_ctx *c)
{
    CHECK(c->valid);
    if (!b->have) {
        b->ctx = *c;
        b->have = true;
        return;
    }
    CHECK(memcmp(b->ctx.trace_id, c->trace_id, TS_TRACE_ID_LEN) == 0);
    CHECK(memcmp(b->ctx.span_id, c->span_id, TS_SPAN_ID_LEN) == 0);
}

static void check_header(const char *w, size_t nlen, const char *v, size_t vlen, struct block *b);

/* One injected line at w[0..); returns its length with its line end,
 * which is the block's (b->lf). */
static size_t check_line(const char *w, size_t len, struct block *b)
{
    const char *eol = memchr(w, '\n', len);
    CHECK(eol != NULL && eol > w);
    int lf = eol[-1] != '\r';
    if (b->lf < 0)
        b->lf = lf;
    CHECK(lf == b->lf);
    size_t llen = (size_t)(eol - w) - (lf ? 0 : 1);
    CHECK(memchr(w, '\r', llen) == NULL);
    const char *colon = memchr(w, ':', llen);
    CHECK(colon != NULL && llen >= (size_t)(colon - w) + 2 && colon[1] == ' ');
    size_t nlen = (size_t)(colon - w);
    check_header(w, nlen, colon + 2, llen - nlen - 2, b);
    return llen + (b->lf ? 1 : 2);
}

/* One injected header, name w[0..nlen) (as HTTP writes it) and value
 * v[0..vlen): a propagation header whose value parses. */
static void check_header(const char *w, size_t nlen, const char *v, size_t vlen, struct block *b)
{
    struct ts_ctx c;
#define NAMED(lit) (nlen == sizeof lit - 1 && memcmp(w, lit, nlen) == 0)
    if (NAMED("traceparent")) {
        CHECK(ts_traceparent_parse(v, vlen, &c));
        block_ctx(b, &c);
    } else if (NAMED("b3")) {
        CHECK(ts_b3_single_parse(v, vlen, &c) && lower_hex(v, vlen > 32 ? 16 : vlen));
        block_ctx(b, &c);
    } else if (NAMED("uber-trace-id")) {
        CHECK(ts_uber_trace_id_parse(v, vlen, &c));
        for (size_t i = 0; i < vlen; i++)
            CHECK(is_lower_hex(v[i]) || v[i] == ':');
        block_ctx(b, &c);
    } else if (NAMED("X-B3-TraceId") || NAMED("X-B3-SpanId") || NAMED("X-B3-ParentSpanId") ||
               NAMED("X-B3-Sampled") || NAMED("X-B3-Flags")) {
        CHECK(vlen > 0 && lower_hex(v, vlen));
        CHECK(b->nmulti < 8);
        b->multi[b->nmulti++] = (struct ts_http_header){w, nlen, v, vlen};
    } else {
        CHECK(!"an injected line of an unknown header");
    }
#undef NAMED
}

/* The program's request heads, found the way the shim walks the stream
 * (head, body by its framing, next head), with the context each carries;
 * the walk stops where the parser or the framing gives up. A head whose
 * first byte (past the CR and LF before it) is 1 is FastCGI's. */
#define MAX_HEADS 512
struct head {
    size_t ins;   /* program offset where header lines (a PARAMS record) go in */
    bool lf;      /* its request line ends with a bare LF: so do the lines */
    bool fcgi;    /* a FastCGI request head; ins: its empty PARAMS record */
    uint16_t id;  /* a FastCGI head's request id */
    bool has_ctx; /* the program wrote a context of its own */
    struct ts_ctx ctx;
};
static struct head heads[MAX_HEADS];
static size_t nheads;

/* Room for a FastCGI head's headers and their names: more than the
 * shim's (conn_fcgi.c), so that every head it reads is read here too. */
static struct ts_http_header fcgi_hdrs[4096];
static char fcgi_names[1 << 16];

/* The FastCGI request head at prog[pos..pn), then its records; returns
 * the program offset after them, 0 where the walk stops. */
static size_t fcgi_head(const char *prog, size_t pos, size_t pn)
{
    struct ts_fcgi_request fr = {.http = {.headers = fcgi_hdrs, .num_headers = 4096}};
    int r = ts_fcgi_parse_request(prog + pos, pn - pos, &fr, fcgi_names, sizeof fcgi_names);
    if (r <= 0)
        return 0;
    struct head *hd = &heads[nheads++];
    hd->ins = pos + fr.params_end;
    hd->lf = false;
    hd->fcgi = true;
    hd->id = fr.request_id;
    hd->has_ctx = ts_prop_extract(fr.http.headers, fr.http.num_headers, &hd->ctx);
    struct ts_http_body body;
    ts_fcgi_request_body(&body);
    pos += (size_t)r;
    bool done = false;
    ssize_t k = ts_http_body_feed(&body, prog + pos, pn - pos, &done);
    if (k < 0 || !done)
        return 0;
    return pos + (size_t)k;
}

static void find_heads(const char *prog, size_t pn)
{
    nheads = 0;
    size_t pos = 0;
    while (pos < pn && nheads < MAX_HEADS) {
        size_t first = pos; /* (past the empty lines a client may send first) */
        while (first < pn && (prog[first] == '\r' || prog[first] == '\n'))
            first++;
        if (first < pn && prog[first] == 1) {
            pos = fcgi_head(prog, first, pn);
            if (!pos)
                return;
            continue;
        }
        /* (parsed from there: the shim passes the CR and LF bytes before
         * a head as they are, a lone CR too, which the parser would not
         * skip) */
        pos = first;
        struct ts_http_header h[64];
        struct ts_http_request req = {.headers = h, .num_headers = 64};
        int r = ts_http_parse_request(prog + pos, pn - pos, &req);
        if (r <= 0)
            return;
        struct head *hd = &heads[nheads++];
        hd->ins = pos + ts_http_inject_offset(prog + pos, (size_t)r);
        hd->fcgi = false;
        const char *eol = memchr(prog + pos, '\n', (size_t)r);
        hd->lf = eol && eol > prog + pos && eol[-1] != '\r';
        hd->has_ctx = ts_prop_extract(h, req.num_headers, &hd->ctx);
        struct ts_http_body body;
        if (ts_http_request_body(&req, &body) != 0)
            return;
        pos += (size_t)r;
        bool done = false;
        ssize_t k = ts_http_body_feed(&body, prog + pos, pn - pos, &done);
        if (k < 0 || !done)
            return;
        pos += (size_t)k;
    }
}

/* The head of the given kind whose insertion point is at, or NULL. */
static const struct head *head_at(size_t at, bool fcgi)
{
    for (size_t i = 0; i < nheads; i++)
        if (heads[i].ins == at && heads[i].fcgi == fcgi)
            return &heads[i];
    return NULL;
}

/* Lines added to a head that carries the program's own context name that
 * context (none is forwarded here: this process serves no request). */
static void check_block_ctx(const struct block *b, size_t at)
{
    for (size_t i = 0; i < nheads; i++) {
        if (heads[i].ins != at)
            continue;
        if (heads[i].has_ctx && b->have) {
            CHECK(memcmp(b->ctx.trace_id, heads[i].ctx.trace_id, TS_TRACE_ID_LEN) == 0);
            CHECK(memcmp(b->ctx.span_id, heads[i].ctx.span_id, TS_SPAN_ID_LEN) == 0);
        }
        return;
    }
}

/* A name-value pair's length (1 byte below 128, else 4, the top bit
 * set) at c[*at..n). */
static size_t pair_len(const unsigned char *c, size_t n, size_t *at)
{
    CHECK(*at < n);
    if (!(c[*at] & 0x80))
        return c[(*at)++];
    CHECK(n - *at >= 4);
    size_t len = (size_t)(c[*at] & 0x7f) << 24 | (size_t)c[*at + 1] << 16 |
                 (size_t)c[*at + 2] << 8 | c[*at + 3];
    CHECK(len >= 128); /* the shortest form: what a writer of lengths makes */
    *at += 4;
    return len;
}

/* The CGI variable of each header the shim adds, as HTTP writes its name. */
static const struct {
    const char *var, *header;
} fcgi_vars[] = {
    {"HTTP_TRACEPARENT", "traceparent"},     {"HTTP_B3", "b3"},
    {"HTTP_UBER_TRACE_ID", "uber-trace-id"}, {"HTTP_X_B3_TRACEID", "X-B3-TraceId"},
    {"HTTP_X_B3_SPANID", "X-B3-SpanId"},     {"HTTP_X_B3_PARENTSPANID", "X-B3-ParentSpanId"},
    {"HTTP_X_B3_SAMPLED", "X-B3-Sampled"},   {"HTTP_X_B3_FLAGS", "X-B3-Flags"},
};

/* One PARAMS record the shim put in at w[0..n), before the empty PARAMS
 * record of FastCGI head hd; returns its length. */
static size_t check_record(const char *w, size_t n, const struct head *hd)
{
    const unsigned char *r = (const unsigned char *)w;
    CHECK(n >= TS_FCGI_HEADER_LEN);
    CHECK(r[0] == TS_FCGI_VERSION && r[1] == TS_FCGI_PARAMS);
    CHECK((uint16_t)(r[2] << 8 | r[3]) == hd->id);
    size_t clen = (size_t)r[4] << 8 | r[5];
    size_t pad = r[6];
    CHECK(clen > 0 && pad == (8 - clen % 8) % 8 && r[7] == 0);
    CHECK(n - TS_FCGI_HEADER_LEN >= clen + pad);
    const unsigned char *c = r + TS_FCGI_HEADER_LEN;
    for (size_t i = 0; i < pad; i++)
        CHECK(c[clen + i] == 0);
    struct block b = {.lf = -1};
    size_t at = 0;
    while (at < clen) {
        size_t nlen = pair_len(c, clen, &at);
        size_t vlen = pair_len(c, clen, &at);
        CHECK(nlen <= clen - at && vlen <= clen - at - nlen);
        const char *name = (const char *)c + at, *v = name + nlen;
        at += nlen + vlen;
        if (nlen == 15 && memcmp(name, "HTTP_TRACESTATE", 15) == 0) {
            CHECK(ts_tracestate_valid(v, vlen));
            continue;
        }
        size_t k = 0;
        while (k < sizeof fcgi_vars / sizeof *fcgi_vars &&
               !(strlen(fcgi_vars[k].var) == nlen && memcmp(fcgi_vars[k].var, name, nlen) == 0))
            k++;
        CHECK(k < sizeof fcgi_vars / sizeof *fcgi_vars); /* a variable of no propagation header */
        const char *h = fcgi_vars[k].header;
        check_header(h, strlen(h), v, vlen, &b);
    }
    if (b.nmulti) {
        struct ts_ctx ctx;
        CHECK(ts_b3_multi_parse(b.multi, b.nmulti, &ctx));
        block_ctx(&b, &ctx);
    }
    check_block_ctx(&b, hd->ins);
    return TS_FCGI_HEADER_LEN + clen + pad;
}

/* wire[0..wn) is prog[0..pn) with header blocks inserted, and a PARAMS
 * record before the empty PARAMS record of FastCGI heads. */
static void check_wire(const char *wire, size_t wn, const char *prog, size_t pn)
{
    find_heads(prog, pn);
    bool fcgi_stream = pn > 0 && prog[0] == 1;
    size_t i = 0, j = 0;
    size_t record_at = (size_t)-1; /* the program offset a record went in at */
    while (i < wn) {
        /* a FastCGI head's empty PARAMS record: a record of the shim's
         * (not empty) may come first, one */
        const struct head *fh = j < pn ? head_at(j, true) : NULL;
        if (fh && record_at != j && wn - i >= TS_FCGI_HEADER_LEN &&
            memcmp(wire + i, prog + j, TS_FCGI_HEADER_LEN) != 0) {
            i += check_record(wire + i, wn - i, fh);
            record_at = j;
            continue;
        }
        if (j < pn && wire[i] == prog[j]) {
            i++, j++;
            continue;
        }
        /* a block of lines, at a line start, before the program's CR or LF */
        CHECK(i > 0 && wire[i - 1] == '\n');
        CHECK(j < pn && (prog[j] == '\r' || prog[j] == '\n'));
        /* (a FastCGI stream's lines: at an HTTP head the walk found) */
        CHECK(!fcgi_stream || head_at(j, false) != NULL);
        struct block b = {.lf = -1};
        for (size_t h = 0; h < nheads; h++)
            if (heads[h].ins == j)
                b.lf = heads[h].lf;
        size_t lines = 0;
        while (i < wn && wire[i] != '\r' && wire[i] != '\n') {
            i += check_line(wire + i, wn - i, &b);
            lines++;
        }
        CHECK(lines > 0);
        if (b.nmulti) {
            struct ts_ctx c;
            CHECK(ts_b3_multi_parse(b.multi, b.nmulti, &c));
            block_ctx(&b, &c);
        }
        check_block_ctx(&b, j);
    }
    CHECK(j == pn);
}

/* ---------------------------------------------------------------- run */

static char got[1 << 21];
static size_t got_len;

static void drain(int peer)
{
    for (;;) {
        CHECK(got_len < sizeof got);
        ssize_t r = recv(peer, got + got_len, sizeof got - got_len, MSG_DONTWAIT);
        if (r <= 0) {
            CHECK(r == 0 || errno == EAGAIN);
            return;
        }
        got_len += (size_t)r;
    }
}

static ssize_t prog_send(int fd, const struct iovec *iov, int iovcnt)
{
    struct call w = {fd, iov, iovcnt};
    struct ts_conn *c = ts_conn_get(fd);
    CHECK(c != NULL);
    ssize_t r = ts_conn_send(c, fd, iov, iovcnt, 0, pass_call, &w);
    ts_conn_put(c);
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        ts_real_resolve();
        libc_sendmsg = ts_real_sendmsg;
        ts_real_sendmsg = limited_sendmsg;
        ts_config_load(&ts_cfg, no_env);
        ts_cfg.log_level = -1; /* quiet */
        ready = 1;
    }
    static unsigned default_props;
    if (!default_props)
        default_props = ts_cfg.propagators;
    if (size < 2)
        return 0;
    ts_cfg.propagators = (data[0] & 0xf) ? (data[0] & 0xfu) : default_props;
    ts_cfg.max_head_bytes = (data[0] & 0x10) ? 1024 : 16384;
    nctrl = data[1] < size - 2 ? data[1] : size - 2;
    ctrl = data + 2;
    ci = 0;
    const char *prog = (const char *)data + 2 + nctrl;
    size_t len = size - 2 - nctrl;

    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
    ts_conn_track(sv[0], TS_ROLE_CLIENT, NULL, 0);
    got_len = 0;
    budget = -1;

    size_t off = 0;
    unsigned spins = 0;
    while (off < len) {
        size_t rest = len - off;
        int sel = next_ctrl();
        size_t piece = rest;
        if (sel > 0 && (sel & 63)) {
            size_t p = (size_t)(sel & 63) * ((sel & 64) ? 16 : 1);
            piece = p < rest ? p : rest;
        }
        if (budget == -1 || budget > 0) /* an EAGAIN owed is kept */
            budget = budget_of(next_ctrl(), false);
        ssize_t r;
        if (sel > 0 && (sel & 128) && piece > 1) {
            struct iovec iov[3];
            int n = 0;
            size_t at = off, left = piece;
            while (left && n < 3) {
                int s = next_ctrl();
                size_t k = n == 2 || s < 0 ? left : 1 + (size_t)s % left;
                iov[n++] = (struct iovec){(void *)(prog + at), k};
                at += k;
                left -= k;
            }
            r = prog_send(sv[0], iov, n);
        } else {
            struct iovec iov = {(void *)(prog + off), piece};
            r = prog_send(sv[0], &iov, 1);
        }
        int err = errno;
        drain(sv[1]);
        if (r < 0) {
            CHECK(r == -1 && err == EAGAIN);
            CHECK(++spins < 100000); /* no progress, ever: a livelock */
            continue;
        }
        CHECK(r >= 1 && (size_t)r <= piece);
        off += (size_t)r;
        spins = 0;
    }
    drain(sv[1]);
    ts_conn_untrack(sv[0]);
    close(sv[0]);
    close(sv[1]);
    check_wire(got, got_len, prog, len);
    return 0;
}
