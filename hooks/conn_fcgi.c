/* conn_fcgi.c — a tracked connection that speaks FastCGI: a web server's
 * fastcgi_pass (nginx) to an application server (php-fpm).
 *
 * A request head (its BEGIN_REQUEST record and PARAMS stream) is read as
 * the HTTP request its CGI variables describe (fcgi.h), so that its spans
 * are made as an HTTP request's are (conn_spans.c): the application
 * server's server span, whose parent comes from the HTTP_TRACEPARENT,
 * HTTP_B3... variables, and the web server's client span, whose context
 * goes to the application in a PARAMS record of the shim's own, put in
 * before the empty one that ends the head (a PARAMS stream may have any
 * number of records, and the program's bytes all go as it wrote them).
 * The responses' status and framing are read in conn.c, by fcgi.h's
 * parsers. */
#include <arpa/inet.h>
#include <string.h>

#include "../preload/context.h"
#include "../preload/fdtable.h"
#include "../preload/url.h"
#include "conn_internal.h"
#include "fcgi.h"
#include "iov.h"
#include "tls_sessions.h"

int conn_fcgi_parse_request(const char *buf, size_t len, struct conn_fcgi_space *space,
                            struct ts_fcgi_request *req)
{
    req->http.headers = space->hdrs;
    req->http.num_headers = CONN_FCGI_MAX_HEADERS;
    int h = ts_fcgi_parse_request(buf, len, req, space->names, sizeof space->names);
    req->http.minor_version = -1;
    return h;
}

/* A request a FastCGI exchange may be made for, by the connection it
 * came in on; its server span's context goes to ctx. */
struct serving_wanted {
    uint16_t remote_port, server_port;
    const char *addr;
    size_t addr_len;
    struct ts_ctx *ctx;
};

/* Is c the connection wanted names, and does it serve a request? */
static bool serves_wanted(struct ts_conn *c, void *arg)
{
    const struct serving_wanted *w = arg;
    if (c->role != TS_ROLE_SERVER || c->peer_port != w->remote_port ||
        c->local_port != w->server_port)
        return false;
    char ip[INET6_ADDRSTRLEN];
    size_t ip_len = conn_peer_ip(c, ip);
    return ip_len == w->addr_len && memcmp(ip, w->addr, ip_len) == 0 && conn_serving_ctx(c, w->ctx);
}

/* Does the connection tracked on fd serve the request wanted names? */
static bool fd_serves_wanted(int fd, struct serving_wanted *w)
{
    struct ts_conn *c = ts_conn_get(fd);
    if (!c)
        return false;
    bool found = serves_wanted(c, w);
    ts_conn_put(c);
    return found;
}

/* The context of the request a web server makes a FastCGI exchange for,
 * when this process serves it: the variables name the connection it came
 * in on (REMOTE_ADDR and REMOTE_PORT, its client's end; SERVER_PORT, the
 * server's), and the request that connection is being served is the
 * server span at the front of its queue. Exact where "the thread's
 * current request" is a guess (nginx's event loop reads other requests
 * before it passes this one on), and needs no trace headers from the
 * client. Looks first at the fd last accepted and the TLS session last
 * opened from that peer port (conn_fd_by_peer_port,
 * tls_sessions_find_by_peer_port: kept from the first exchange on; an
 * HTTPS front end's plaintext is in no fd slot), then at every tracked
 * fd, then at every TLS session: an atomic reference taken and let go of
 * per connection open, about 8 ns each (31 µs more an exchange with
 * 4,000 open), which the first looks spare a connection noted so. A
 * reference let go of here may be the last (another thread closed that
 * fd meanwhile): that connection then ends under the FastCGI
 * connection's send lock, which no connection's ending takes. */
static bool serving_request(const struct ts_fcgi_request *fr, struct ts_ctx *ctx)
{
    if (!__atomic_load_n(&conn_fd_hints, __ATOMIC_RELAXED))
        __atomic_store_n(&conn_fd_hints, true, __ATOMIC_RELAXED); /* from now on */
    struct serving_wanted w = {
        .addr = fr->remote_addr, .addr_len = fr->remote_addr_len, .ctx = ctx};
    if (!fr->remote_port || !fr->server_port || !w.addr ||
        !ts_url_parse_port(fr->remote_port, fr->remote_port_len, &w.remote_port) ||
        !ts_url_parse_port(fr->server_port, fr->server_port_len, &w.server_port))
        return false;
    static const char mapped[] = "::ffff:"; /* an IPv4 client of a dual-stack socket */
    if (w.addr_len > sizeof mapped - 1 && memcmp(w.addr, mapped, sizeof mapped - 1) == 0 &&
        memchr(w.addr, '.', w.addr_len)) {
        w.addr += sizeof mapped - 1;
        w.addr_len -= sizeof mapped - 1;
    }
    int hinted = __atomic_load_n(&conn_fd_by_peer_port[w.remote_port], __ATOMIC_RELAXED) - 1;
    if ((hinted >= 0 && fd_serves_wanted(hinted, &w)) ||
        tls_sessions_find_by_peer_port(w.remote_port, serves_wanted, &w))
        return true;
    int high = ts_fd_high_water();
    for (int fd = 0; fd <= high; fd++)
        if (fd != hinted && ts_fd_tracked(fd) && fd_serves_wanted(fd, &w))
            return true;
    return tls_sessions_find(serves_wanted, &w);
}

/* The PARAMS record of the header lines conn_client_span_start made
 * (lines_len 0: none). When it moved their place into a forwarded b3
 * value, to add the decision the value lacked (moved: see
 * forward_decision), their first line is the value's rest, which a CGI
 * variable cannot take where it is: it is left out, and the value goes as
 * it was forwarded. Returns the record's length, 0 for none. */
static size_t params_record(uint16_t request_id, const char *lines, size_t lines_len, bool moved,
                            char *out, size_t cap)
{
    if (moved) {
        const char *nl = memchr(lines, '\n', lines_len);
        if (!nl)
            return 0;
        lines_len -= (size_t)(nl + 1 - lines);
        lines = nl + 1;
    }
    return lines_len ? ts_fcgi_params_record(request_id, lines, lines_len, out, cap) : 0;
}

/* Would the HTTP_* variables of req, with those of the lines added, be
 * more than a traced application server reads (CONN_FCGI_MAX_HEADERS,
 * and names in struct conn_fcgi_space's room)? It would give the head
 * up, and the trace would end there (as lines_over_what_is_read, for
 * HTTP). */
static bool lines_over_what_is_read(const struct ts_http_request *req, const char *lines,
                                    size_t lines_len)
{
    size_t headers = req->num_headers, names = 0;
    for (size_t i = 0; i < req->num_headers; i++)
        names += req->headers[i].name_len;
    for (const char *p = lines, *end = lines + lines_len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *colon = memchr(p, ':', (size_t)((nl ? nl : end) - p));
        if (colon) {
            headers++;
            names += (size_t)(colon - p);
        }
        p = nl ? nl + 1 : end;
    }
    return headers > CONN_FCGI_MAX_HEADERS || names > sizeof((struct conn_fcgi_space *)0)->names;
}

enum head_verdict conn_fcgi_head_start(struct ts_conn *c, const struct iovec *iov, int iovcnt,
                                       size_t base, size_t total, struct pending **fresh,
                                       enum ts_stat *why, struct conn_fcgi_space *space)
{
    /* Before anything goes: the answer may be read on another thread the
     * moment the request is out, and it is records too. */
    conn_seen_now(c, CONN_SEEN_FCGI);
    size_t held = conn_head_len(&c->out);
    size_t limit = conn_max_head();
    struct ts_fcgi_request fr;
    const char *head = NULL;
    int h = TS_HTTP_INCOMPLETE;

    if (!held) {
        size_t flen;
        const char *first = ts_iov_at(iov, iovcnt, base, &flen);
        size_t len = flen < limit ? flen : limit;
        h = conn_fcgi_parse_request(first, len, space, &fr);
        if (h > 0)
            head = first; /* the usual case: a whole head in one piece */
        else if (h == TS_HTTP_ERROR)
            return conn_head_not(why, ts_fcgi_looks_like_request(first, len)
                                          ? TS_STAT_GAVE_UP_BAD_HEAD
                                          : TS_STAT_GAVE_UP_NOT_HTTP);
        else if (flen >= limit)
            return conn_head_not(why, TS_STAT_GAVE_UP_HEAD_TOO_BIG);
    }
    if (!head) { /* a head sent in pieces: they go as they come, a copy is kept */
        size_t take = total < limit - held ? total : limit - held;
        if (!conn_head_reserve(&c->out, held + take))
            return conn_head_not(why, TS_STAT_GAVE_UP_NO_MEMORY);
        ts_iov_copy(c->out.x->head + held, iov, iovcnt, base, take);
        size_t avail = held + take;
        head = c->out.x->head;
        h = conn_fcgi_parse_request(head, avail, space, &fr);
        if (h == TS_HTTP_INCOMPLETE)
            return avail >= limit ? conn_head_not(why, TS_STAT_GAVE_UP_HEAD_TOO_BIG) : HEAD_PIECE;
        if (h <= 0)
            return conn_head_not(why, TS_STAT_GAVE_UP_BAD_HEAD);
    }
    /* The empty PARAMS record began to go out in an earlier piece: the
     * stream's end is on the wire, no place for the shim's record. */
    size_t params_end = fr.params_end;
    if (params_end < held)
        return conn_head_not(why, TS_STAT_GAVE_UP_BAD_HEAD);
    if (!conn_dir_ext(&c->out)) /* to keep the framing of the records after the head in */
        return conn_head_not(why, TS_STAT_GAVE_UP_NO_MEMORY);

    char lines[TS_PROP_INJECT_MAX];
    size_t lines_len, ins = params_end;
    struct span_edit edits[CONN_MAX_EDITS];
    int nedits;
    /* The request this exchange is for, found by its connection, is the
     * thread's current one while the span starts (conn_client_span_start
     * takes a forwarded context first, and the current request after). */
    struct ts_ctx was = ts_ctx_current_;
    bool found = serving_request(&fr, &ts_ctx_current_);
    struct pending *p =
        conn_client_span_start(c, &fr.http, head, held, lines, &lines_len, edits, &nedits, &ins);
    if (found)
        ts_ctx_current_ = was;
    if (!p)
        return conn_head_not(why, TS_STAT_GAVE_UP_NO_MEMORY);
    conn_span_mark_fastcgi(p);
    if (lines_len && lines_over_what_is_read(&fr.http, lines, lines_len))
        lines_len = 0;
    char record[TS_FCGI_PARAMS_RECORD_MAX(TS_PROP_INJECT_MAX)];
    size_t record_len =
        params_record(fr.request_id, lines, lines_len, ins != params_end, record, sizeof record);
    if (!conn_head_queued(c, p, head, held, (size_t)h, params_end, record, record_len, edits,
                          nedits, why))
        return HEAD_NOT;
    *fresh = p;
    atomic_store_explicit(&c->tunnel_ask, CONN_TUNNEL_NOT_ASKED, memory_order_relaxed);
    c->out.state = DIR_BODY;
    ts_fcgi_request_body(&c->out.x->body);
    return HEAD_READY;
}
