/* http_client.c — see http_client.h.
 *
 * The answer is read into one buffer and parsed from its start each time
 * more bytes arrive; the answers we read (collector acknowledgements,
 * sampling strategies) are small, and a limit keeps a hostile server from
 * making us hold more. */
#include "http_client.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>

#include "../preload/ascii.h"
#include "../preload/clock.h"
#include "../preload/config.h"
#include "../preload/real.h"
#include "http_date.h"
#include "net.h"

#ifndef TS_VERSION
#error "TS_VERSION must be defined by the build"
#endif

#define HTTP_MAX_RESPONSE ((size_t)1 << 20)
#define HTTP_READ_CHUNK 16384

void ts_http_client_init(struct ts_http_client *c, const struct ts_url *url)
{
    c->url = url;
    c->conn = (struct ts_own_fd)TS_OWN_FD_NONE;
    ts_json_buf_init(&c->in);
}

void ts_http_client_prepare(struct ts_http_client *c)
{
    (void)ts_json_buf_reserve(&c->in, HTTP_READ_CHUNK);
}

void ts_http_client_close(struct ts_http_client *c)
{
    ts_own_fd_close(&c->conn);
}

void ts_http_client_forget(struct ts_http_client *c)
{
    ts_own_fd_forget(&c->conn);
    ts_json_buf_init(&c->in); /* leaked on purpose: it may be mid-update in the parent */
}

/* ------------------------------------------------------------ parsing */

/* Does s[0..n) contain the word (case-insensitively)? For "chunked" in
 * Transfer-Encoding and "close" in Connection. */
static bool http_has_word(const char *s, size_t n, const char *word)
{
    size_t w = strlen(word);
    for (size_t i = 0; i + w <= n; i++)
        if (ts_ascii_eq_nocase(s + i, w, word))
            return true;
    return false;
}

/* A decimal number in s[0..n) (blanks around it allowed); false if none
 * or absurdly large. */
static bool http_number(const char *s, size_t n, uint64_t *out)
{
    while (n && (*s == ' ' || *s == '\t'))
        s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        n--;
    if (n == 0 || n > 15)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return true;
}

/* Longest wait a Retry-After may ask for, in seconds. */
#define HTTP_RETRY_AFTER_MAX 3600

/* A Retry-After value as seconds from now: a number of seconds, or a date
 * (http_date.h), which the clock of this host turns into a wait. 0: no
 * wait asked for (the date has passed), or not a value either way. */
static unsigned http_retry_after(const char *v, size_t vl)
{
    uint64_t s;
    size_t lead = 0, digits = 0, n = vl;
    while (lead < n && (v[lead] == ' ' || v[lead] == '\t'))
        lead++;
    while (lead + 1 < n && v[lead] == '0' && v[lead + 1] >= '0' && v[lead + 1] <= '9')
        lead++; /* leading zeros count for nothing */
    while (n > lead && (v[n - 1] == ' ' || v[n - 1] == '\t' || v[n - 1] == '\r'))
        n--;
    while (lead + digits < n && v[lead + digits] >= '0' && v[lead + digits] <= '9')
        digits++;
    if (digits > 15 && lead + digits == n)
        return HTTP_RETRY_AFTER_MAX; /* seconds beyond counting: the longest wait */
    if (!http_number(v + lead, n - lead, &s)) {
        struct timespec now;
        int64_t at;
        ts_clock_read(CLOCK_REALTIME, &now); /* the receiver's date is on the real clock */
        if (!ts_http_date_parse(v, vl, (int64_t)now.tv_sec, &at) || at <= (int64_t)now.tv_sec)
            return 0;
        s = (uint64_t)(at - (int64_t)now.tv_sec);
    }
    return s > HTTP_RETRY_AFTER_MAX ? HTTP_RETRY_AFTER_MAX : (unsigned)s;
}

struct http_head {
    size_t len; /* bytes of the head, blank line included */
    int status;
    bool has_length, chunked, close;
    uint64_t length;
    unsigned retry_after_s;
};

/* Parse a response head at p[0..n). Returns 1 when complete, 0 when more
 * bytes are needed, -1 when it is not an HTTP/1.x response. */
static int http_parse_head(const char *p, size_t n, struct http_head *h)
{
    memset(h, 0, sizeof *h);
    const char *end = NULL;
    for (size_t i = 0; i + 1 < n && !end; i++)
        if (p[i] == '\n' && (p[i + 1] == '\n' || (p[i + 1] == '\r' && i + 2 < n && p[i + 2] == '\n')))
            end = p + i + (p[i + 1] == '\n' ? 2 : 3);
    /* Compare what has arrived, even fewer than five bytes: a short
     * non-HTTP answer may be all the server ever sends, and waiting for
     * more would turn it into a timeout. */
    if (memcmp(p, "HTTP/", n < 5 ? n : 5) != 0)
        return -1;
    if (!end)
        return 0;
    h->len = (size_t)(end - p);
    /* status line: HTTP/1.x SP DDD */
    if (h->len < 12 || memcmp(p, "HTTP/1.", 7) != 0 || p[8] != ' ')
        return -1;
    for (int i = 9; i < 12; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        h->status = h->status * 10 + (p[i] - '0');
    }
    h->close = p[7] == '0'; /* HTTP/1.0 closes unless it says keep-alive */
    const char *line = memchr(p, '\n', h->len) + 1;
    while (line < end) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        size_t ll = (size_t)(eol - line);
        const char *colon = memchr(line, ':', ll);
        if (colon) {
            size_t nl = (size_t)(colon - line);
            const char *v = colon + 1;
            size_t vl = (size_t)(eol - v);
            if (ts_ascii_eq_nocase(line, nl, "content-length")) {
                if (!http_number(v, vl, &h->length))
                    return -1;
                h->has_length = true;
            } else if (ts_ascii_eq_nocase(line, nl, "transfer-encoding")) {
                h->chunked = http_has_word(v, vl, "chunked");
            } else if (ts_ascii_eq_nocase(line, nl, "connection")) {
                if (http_has_word(v, vl, "close"))
                    h->close = true;
                else if (http_has_word(v, vl, "keep-alive"))
                    h->close = false;
            } else if (ts_ascii_eq_nocase(line, nl, "retry-after")) {
                h->retry_after_s = http_retry_after(v, vl);
            }
        }
        line = eol + 1;
    }
    return 1;
}

/* The longest chunk-size line, its extensions included. */
#define HTTP_CHUNK_LINE_MAX 4096

/* Walk a chunked body at p[0..n). Returns 1 when complete (its decoded
 * length in *body_len, the bytes the encoding took in *used), 0 when more
 * bytes are needed, -1 when malformed. With decode, the chunks' data is
 * also moved to the start of p. */
static int http_walk_chunks(char *p, size_t n, bool decode, size_t *body_len, size_t *used)
{
    size_t i = 0, out = 0;
    for (;;) {
        /* a size line with chunk extensions (RFC 9112 7.1.1) is refused
         * past HTTP_CHUNK_LINE_MAX, whether it came whole or in pieces */
        const char *eol = memchr(p + i, '\n', n - i);
        if (!eol || (size_t)(eol - (p + i)) > HTTP_CHUNK_LINE_MAX)
            return n - i > HTTP_CHUNK_LINE_MAX ? -1 : 0;
        uint64_t size = 0;
        size_t digits = 0;
        for (size_t j = i; p + j < eol; j++, digits++) {
            char c = ts_ascii_lower(p[j]);
            int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
            if (d < 0)
                break; /* chunk extensions or the CR follow */
            if (size > HTTP_MAX_RESPONSE)
                return -1;
            size = size * 16 + (uint64_t)d;
        }
        if (digits == 0)
            return -1;
        i = (size_t)(eol - p) + 1;
        if (size == 0) {
            /* trailers, then a blank line */
            for (;;) {
                const char *tl = memchr(p + i, '\n', n - i);
                if (!tl)
                    return 0;
                size_t tlen = (size_t)(tl - (p + i));
                i = (size_t)(tl - p) + 1;
                if (tlen == 0 || (tlen == 1 && p[i - 2] == '\r')) {
                    *body_len = out;
                    *used = i;
                    return 1;
                }
            }
        }
        if (n - i < size + 1)
            return 0;
        if (decode)
            memmove(p + out, p + i, (size_t)size);
        out += (size_t)size;
        i += (size_t)size;
        if (p[i] == '\r') {
            if (n - i < 2)
                return 0;
            i++;
        }
        if (p[i] != '\n')
            return -1;
        i++;
    }
}

/* Decode a chunked body at p[0..n) in place (results as http_walk_chunks).
 * The body is parsed from its start again each time more bytes arrive, so
 * nothing may move before it is complete: moved data would be read as
 * chunk sizes on the next pass. */
static int http_unchunk(char *p, size_t n, size_t *body_len, size_t *used)
{
    int r = http_walk_chunks(p, n, false, body_len, used);
    if (r > 0)
        r = http_walk_chunks(p, n, true, body_len, used);
    return r;
}

/* ------------------------------------------------------------ exchange */

/* Interim answers (1xx) one request may get before its final answer; more
 * is a server that will not answer. */
#define HTTP_MAX_INTERIM 16

/* Drops the complete interim heads at the start of c->in, in one move,
 * counting them in c->interim. Returns what follows them: 1 a final head,
 * complete, in *h; 0 not yet complete; -1 not HTTP/1.x, or too many
 * interim answers. */
static int http_final_head(struct ts_http_client *c, struct http_head *h)
{
    size_t at = 0;
    int r;
    for (;;) {
        r = c->in.len > at ? http_parse_head(c->in.data + at, c->in.len - at, h) : 0;
        if (r <= 0 || h->status >= 200)
            break;
        at += h->len;
        if (++c->interim > HTTP_MAX_INTERIM) {
            r = -1;
            break;
        }
    }
    if (at) {
        memmove(c->in.data, c->in.data + at, c->in.len - at);
        c->in.len -= at;
    }
    return r;
}

/* Has the server sent something on the connection, or closed it, that
 * nothing was read of yet? A peek, which never waits. A number the
 * program took meanwhile says yes: the connection is replaced. */
static bool http_peer_spoke(struct ts_own_fd *conn)
{
    char byte;
    int fd = conn->fd;
    if (!ts_own_fd_begin(conn))
        return true;
    ssize_t r = TS_REAL(recv)(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    int err = errno;
    ts_own_fd_end(conn);
    return r >= 0 || (err != EAGAIN && err != EWOULDBLOCK && err != EINTR);
}

/* While a request waits for room to be written: reads what the server has
 * sent into c->in (where the answer is then read from). True when the
 * request should stop there: a final answer that is not a success (RFC
 * 9112 9.5: a collector refusing a large batch, 413, 401, before it reads
 * the body), something that is not HTTP, the server's close, or a failed
 * read. An interim answer (100 Continue) or an early success goes on. */
static bool http_heard_early(struct ts_http_client *c)
{
    for (;;) {
        if (c->in.len >= HTTP_MAX_RESPONSE || !ts_json_buf_reserve(&c->in, HTTP_READ_CHUNK))
            return true;
        int fd = c->conn.fd;
        if (!ts_own_fd_begin(&c->conn))
            return true;
        ssize_t r = TS_REAL(recv)(fd, c->in.data + c->in.len, HTTP_READ_CHUNK, MSG_DONTWAIT);
        int err = errno;
        ts_own_fd_end(&c->conn);
        if (r == 0)
            return true;
        if (r < 0) {
            if (err == EINTR)
                continue;
            if (err != EAGAIN && err != EWOULDBLOCK)
                return true;
            break;
        }
        c->in.len += (size_t)r;
    }
    struct http_head h;
    int r = http_final_head(c, &h);
    return r < 0 || (r > 0 && h.status >= 300);
}

/* Write all of iov before the deadline; MSG_NOSIGNAL so that a peer that
 * went away costs an EPIPE, never the program's SIGPIPE. What the server
 * sends meanwhile goes to c->in (http_heard_early). Returns 0 when all
 * went, -1 on failure (errno), 1 when the server's answer (or its close)
 * ended the request before all of it went. */
static int http_send_all(struct ts_http_client *c, struct iovec *iov, int iovcnt,
                         uint64_t deadline_ms)
{
    struct ts_own_fd *conn = &c->conn;
    while (iovcnt > 0) {
        struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)iovcnt};
        int fd = conn->fd;
        if (!ts_own_fd_begin(conn))
            return -1; /* the program took the number: EBADF */
        ssize_t w = TS_REAL(sendmsg)(fd, &m, MSG_NOSIGNAL);
        ts_own_fd_end(conn);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                return -1;
            if (ts_net_wait(fd, POLLOUT | POLLIN, deadline_ms) != 0)
                return -1;
            if (http_heard_early(c))
                return 1;
            continue;
        }
        size_t left = (size_t)w;
        while (iovcnt > 0 && left >= iov->iov_len) {
            left -= iov->iov_len;
            iov++;
            iovcnt--;
        }
        if (iovcnt > 0) {
            iov->iov_base = (char *)iov->iov_base + left;
            iov->iov_len -= left;
        }
    }
    return 0;
}

/* One attempt on the current connection. Returns the outcome in out;
 * *fresh_fail is set when the connection turned out dead before any answer
 * byte (worth one retry when it was a reused connection). */
static void http_exchange(struct ts_http_client *c, const char *head, size_t head_len,
                          const void *body, size_t len, uint64_t deadline_ms,
                          struct ts_http_response *out, bool *dead_before_answer)
{
    int fd = c->conn.fd;
    *dead_before_answer = false;
    struct iovec iov[2] = {{(void *)head, head_len}, {(void *)body, len}};
    ts_json_buf_reset(&c->in);
    c->interim = 0;
    int sent = http_send_all(c, iov, body && len ? 2 : 1, deadline_ms);
    /* A send cut short by the server's answer or its reset: the answer, if
     * it sent one before the reset, is read as any other (a 413 says more
     * than "connection reset"); the connection ends after it. */
    if (sent < 0 && errno != EPIPE && errno != ECONNRESET) {
        out->err = errno;
        out->status = errno == ETIMEDOUT ? TS_HTTP_ETIMEOUT : TS_HTTP_EIO;
        /* EBADF: the program took the number; a new connection may do */
        *dead_before_answer = errno == EBADF;
        return;
    }
    struct http_head h;
    bool have_head = false;
    bool eof = false;
    bool answered = c->in.len > 0 || c->interim > 0; /* a byte came, interim answers too */
    for (;;) {
        if (!have_head) {
            /* interim answers (100 Continue) dropped: the final one counts */
            int r = http_final_head(c, &h);
            if (r < 0) {
                out->status = TS_HTTP_EPROTO;
                return;
            }
            have_head = r > 0;
        }
        if (have_head) {
            size_t avail = c->in.len - h.len;
            char *b = c->in.data + h.len;
            /* Bytes past the body's end answer no request of ours: the
             * connection is not reused (the next request would read them
             * as its answer). */
            if (h.status == 204 || h.status == 304) {
                out->body_len = 0;
                h.close |= avail > 0;
                break;
            }
            if (h.chunked) {
                size_t blen, used;
                int r = http_unchunk(b, avail, &blen, &used);
                if (r < 0) {
                    out->status = TS_HTTP_EPROTO;
                    return;
                }
                if (r > 0) {
                    out->body_len = blen;
                    h.close |= used < avail;
                    break;
                }
            } else if (h.has_length) {
                if (h.length > HTTP_MAX_RESPONSE) {
                    out->status = TS_HTTP_EPROTO;
                    return;
                }
                if (avail >= h.length) {
                    out->body_len = (size_t)h.length;
                    h.close |= avail > h.length;
                    break;
                }
            } else {
                h.close = true; /* the body ends when the server closes */
                if (eof) {
                    out->body_len = avail;
                    break;
                }
            }
        }
        if (eof) {
            out->err = ECONNRESET;
            out->status = TS_HTTP_EIO;
            *dead_before_answer = !answered;
            return;
        }
        /* Checked at each read once the answer has begun, not only when
         * one would wait: a server that trickles its answer keeps the
         * reads from ever waiting. (Not before the first: an answer that
         * is there is read, whenever the deadline fell.) */
        if (answered && ts_mono_ms() >= deadline_ms) {
            out->err = ETIMEDOUT;
            out->status = TS_HTTP_ETIMEOUT;
            return;
        }
        if (c->in.len >= HTTP_MAX_RESPONSE + 65536) {
            out->status = TS_HTTP_EPROTO;
            return;
        }
        if (!ts_json_buf_reserve(&c->in, HTTP_READ_CHUNK)) {
            out->status = TS_HTTP_EPROTO;
            return;
        }
        if (!ts_own_fd_begin(&c->conn)) { /* the program took the number */
            out->err = EBADF;
            out->status = TS_HTTP_EIO;
            *dead_before_answer = !answered;
            return;
        }
        ssize_t r = TS_REAL(recv)(fd, c->in.data + c->in.len, HTTP_READ_CHUNK, 0);
        ts_own_fd_end(&c->conn);
        if (r > 0) {
            c->in.len += (size_t)r;
            answered = true;
        } else if (r == 0) {
            eof = true;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            if (ts_net_wait(fd, POLLIN, deadline_ms) != 0) {
                out->err = errno;
                out->status = errno == ETIMEDOUT ? TS_HTTP_ETIMEOUT : TS_HTTP_EIO;
                return;
            }
        } else if (errno != EINTR) {
            out->err = errno;
            out->status = TS_HTTP_EIO;
            *dead_before_answer = !answered;
            return;
        }
    }
    if (sent != 0 && h.status < 300) {
        /* A success for a request the server did not take whole (it
         * answered early and closed, or reset): not a delivery. */
        out->err = ECONNRESET;
        out->status = TS_HTTP_EIO;
        ts_http_client_close(c);
        return;
    }
    out->status = h.status;
    out->retry_after_s = h.retry_after_s;
    out->body = c->in.data + h.len;
    if (h.close || sent != 0)
        ts_http_client_close(c);
}

/* Does lines ("Name: value\r\n" each) hold a header of this name? */
static bool lines_name(const char *lines, const char *name)
{
    for (const char *l = lines; l && *l;) {
        const char *colon = strchr(l, ':');
        if (!colon)
            return false;
        if (ts_ascii_eq_nocase(l, (size_t)(colon - l), name))
            return true;
        l = strstr(colon, "\r\n");
        l = l ? l + 2 : NULL;
    }
    return false;
}

void ts_http_request(struct ts_http_client *c, const char *method, const char *content_type,
                     const char *extra_headers, const void *body, size_t len,
                     uint64_t deadline_ms, struct ts_http_response *out)
{
    memset(out, 0, sizeof *out);
    out->body = "";
    char *head = c->head;
    const size_t head_cap = sizeof c->head;
    /* A Host or User-Agent among the caller's headers (the user's
     * OTEL_EXPORTER_OTLP_HEADERS: a gateway's virtual host) replaces ours:
     * two Host fields make a server refuse the request (RFC 9112 3.2). */
    bool own_host = !lines_name(extra_headers, "host");
    bool own_agent = !lines_name(extra_headers, "user-agent");
    int n = snprintf(head, head_cap, "%s %s HTTP/1.1\r\n%s%s%s%s%s%s%s%s", method, c->url->path,
                     own_host ? "Host: " : "", own_host ? c->url->host_header : "",
                     own_host ? "\r\n" : "",
                     own_agent ? "User-Agent: traceshim/" TS_VERSION "\r\n" : "",
                     content_type ? "Content-Type: " : "", content_type ? content_type : "",
                     content_type ? "\r\n" : "", extra_headers ? extra_headers : "");
    if (n < 0 || (size_t)n >= head_cap - 64) {
        out->status = TS_HTTP_EPROTO;
        return;
    }
    if (body || strcmp(method, "POST") == 0)
        n += snprintf(head + n, head_cap - (size_t)n, "Content-Length: %zu\r\n", len);
    n += snprintf(head + n, head_cap - (size_t)n, "\r\n");

    for (int attempt = 0; attempt < 2; attempt++) {
        /* A deadline already passed sends nothing: a batch sent after it
         * would be counted as failed, and sent again, though delivered. */
        if (ts_mono_ms() >= deadline_ms) {
            memset(out, 0, sizeof *out);
            out->body = "";
            out->err = ETIMEDOUT;
            out->status = TS_HTTP_ETIMEOUT;
            return;
        }
        bool reused = ts_own_fd_valid(&c->conn);
        if (reused && http_peer_spoke(&c->conn)) {
            /* Closed while idle, or it sent what no request of ours asked
             * for (a server's 408 to an idle connection, before it closes
             * it): read as this request's answer, that would lose it. A
             * new connection, which is not the one retry. */
            ts_http_client_close(c);
            reused = false;
        }
        if (!reused) {
            ts_own_fd_forget(&c->conn);
            if (ts_net_connect(&c->conn, c->url->host, c->url->port, SOCK_STREAM, deadline_ms) !=
                0) {
                out->err = errno;
                out->status = errno == ETIMEDOUT ? TS_HTTP_ETIMEOUT : TS_HTTP_ECONNECT;
                return;
            }
        }
        bool dead;
        memset(out, 0, sizeof *out);
        out->body = "";
        http_exchange(c, head, (size_t)n, body, len, deadline_ms, out, &dead);
        /* A 408 on a kept-alive connection was most likely sent to it
         * idle, just as our request went (the peek came too early to see
         * it): tried once more on a new one */
        if (out->status == 408 && reused)
            dead = true;
        else if (out->status > 0)
            return;
        ts_http_client_close(c);
        if (!(reused && dead))
            return; /* a fresh connection that fails is the server's answer */
    }
}

const char *ts_http_describe(const struct ts_http_response *r, char *buf, size_t cap)
{
    char e[96];
    switch (r->status) {
    case TS_HTTP_ECONNECT:
        snprintf(buf, cap, "cannot connect: %s", ts_net_strerror(r->err, e, sizeof e));
        break;
    case TS_HTTP_ETIMEOUT:
        snprintf(buf, cap, "timed out");
        break;
    case TS_HTTP_EIO:
        snprintf(buf, cap, "connection failed: %s", strerror_r(r->err, e, sizeof e));
        break;
    case TS_HTTP_EPROTO:
        snprintf(buf, cap, "answer is not HTTP/1.x or too large");
        break;
    default:
        snprintf(buf, cap, "HTTP %d", r->status);
        break;
    }
    return buf;
}
