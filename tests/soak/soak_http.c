/* soak_http.c — see soak_http.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strncasecmp, memmem, accept4 in the programs */
#endif
#include "soak_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

void soak_reader_init(struct soak_reader *r, int fd, enum soak_door door)
{
    r->fd = fd;
    r->door = door;
    r->start = r->end = 0;
}

/* Refill the buffer (after moving the unread bytes to its start): bytes
 * read, 0 at the peer's close, -1 on an error. */
static ssize_t reader_fill(struct soak_reader *r)
{
    if (r->start > 0) {
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->start = 0;
    }
    size_t room = sizeof r->buf - r->end;
    if (room == 0)
        return -1;
    ssize_t n;
    do {
        switch (r->door) {
        case SOAK_DOOR_RECV_SEND:
            n = recv(r->fd, r->buf + r->end, room, 0);
            break;
        case SOAK_DOOR_VECTOR: {
            /* two pieces, so that readv's scatter is exercised too */
            size_t half = room / 2;
            struct iovec iov[2] = {{r->buf + r->end, half}, {r->buf + r->end + half, room - half}};
            n = readv(r->fd, iov, 2);
            break;
        }
        default:
            n = read(r->fd, r->buf + r->end, room);
            break;
        }
    } while (n < 0 && errno == EINTR);
    if (n > 0)
        r->end += (size_t)n;
    return n;
}

/* Parse the head's first line and the headers this soak cares about. */
static bool parse_head(struct soak_head *h, bool is_request)
{
    h->content_length = -1;
    h->chunked = false;
    h->connection_close = false;
    h->method[0] = h->target[0] = '\0';
    h->status = 0;
    const char *eol = strstr(h->text, "\r\n");
    if (!eol)
        return false;
    if (is_request) {
        const char *sp1 = memchr(h->text, ' ', (size_t)(eol - h->text));
        const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
        if (!sp1 || !sp2 || (size_t)(sp1 - h->text) >= sizeof h->method ||
            (size_t)(sp2 - sp1 - 1) >= sizeof h->target)
            return false;
        memcpy(h->method, h->text, (size_t)(sp1 - h->text));
        h->method[sp1 - h->text] = '\0';
        memcpy(h->target, sp1 + 1, (size_t)(sp2 - sp1 - 1));
        h->target[sp2 - sp1 - 1] = '\0';
    } else {
        if (strncmp(h->text, "HTTP/1.", 7) != 0 || sscanf(h->text + 9, "%3d", &h->status) != 1)
            return false;
    }
    size_t len;
    const char *v = soak_header(h, "Content-Length", &len);
    if (v) {
        char digits[24];
        if (len == 0 || len >= sizeof digits)
            return false;
        memcpy(digits, v, len);
        digits[len] = '\0';
        char *end;
        h->content_length = strtol(digits, &end, 10);
        if (*end || h->content_length < 0)
            return false;
    }
    v = soak_header(h, "Transfer-Encoding", &len);
    h->chunked = v && len == 7 && strncasecmp(v, "chunked", 7) == 0;
    v = soak_header(h, "Connection", &len);
    h->connection_close = v && len == 5 && strncasecmp(v, "close", 5) == 0;
    return true;
}

int soak_read_head(struct soak_reader *r, struct soak_head *h, bool is_request)
{
    for (;;) {
        const char *base = r->buf + r->start;
        size_t have = r->end - r->start;
        const char *blank = have >= 4 ? memmem(base, have, "\r\n\r\n", 4) : NULL;
        if (blank) {
            h->len = (size_t)(blank - base) + 4;
            if (h->len > SOAK_MAX_HEAD)
                return -1;
            memcpy(h->text, base, h->len);
            h->text[h->len] = '\0';
            r->start += h->len;
            return parse_head(h, is_request) ? 1 : -1;
        }
        if (have > SOAK_MAX_HEAD)
            return -1;
        ssize_t n = reader_fill(r);
        if (n == 0)
            return have == 0 ? 0 : -1;
        if (n < 0)
            return -1;
    }
}

const char *soak_header(const struct soak_head *h, const char *name, size_t *len)
{
    size_t name_len = strlen(name);
    const char *line = strstr(h->text, "\r\n");
    while (line) {
        line += 2;
        const char *eol = strstr(line, "\r\n");
        if (!eol || eol == line)
            return NULL;
        if ((size_t)(eol - line) > name_len && line[name_len] == ':' &&
            strncasecmp(line, name, name_len) == 0) {
            const char *v = line + name_len + 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            const char *e = eol;
            while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
                e--;
            *len = (size_t)(e - v);
            return v;
        }
        line = eol;
    }
    return NULL;
}

/* Exactly n bytes from the reader into out (out may be NULL: skip them). */
static bool read_exact(struct soak_reader *r, char *out, size_t n)
{
    while (n > 0) {
        if (r->start == r->end && reader_fill(r) <= 0)
            return false;
        size_t take = r->end - r->start;
        if (take > n)
            take = n;
        if (out) {
            memcpy(out, r->buf + r->start, take);
            out += take;
        }
        r->start += take;
        n -= take;
    }
    return true;
}

/* One CRLF-terminated line (without its CRLF) into line (cap bytes). */
static bool read_line(struct soak_reader *r, char *line, size_t cap)
{
    for (;;) {
        const char *base = r->buf + r->start;
        size_t have = r->end - r->start;
        const char *crlf = have >= 2 ? memmem(base, have, "\r\n", 2) : NULL;
        if (crlf) {
            size_t len = (size_t)(crlf - base);
            if (len >= cap)
                return false;
            memcpy(line, base, len);
            line[len] = '\0';
            r->start += len + 2;
            return true;
        }
        if (have >= cap || reader_fill(r) <= 0)
            return false;
    }
}

long soak_read_body(struct soak_reader *r, const struct soak_head *h, char *out, size_t cap)
{
    if (h->chunked) {
        size_t total = 0;
        char line[128];
        for (;;) {
            if (!read_line(r, line, sizeof line))
                return -1;
            char *end;
            unsigned long size = strtoul(line, &end, 16);
            if (end == line || (*end && *end != ';'))
                return -1;
            if (size == 0)
                break;
            if (size > cap - total || !read_exact(r, out + total, size))
                return -1;
            total += size;
            if (!read_line(r, line, sizeof line) || line[0])
                return -1;
        }
        do { /* trailers, up to the blank line */
            if (!read_line(r, line, sizeof line))
                return -1;
        } while (line[0]);
        return (long)total;
    }
    if (h->content_length <= 0)
        return 0;
    if ((size_t)h->content_length > cap || !read_exact(r, out, (size_t)h->content_length))
        return -1;
    return h->content_length;
}

bool soak_read_eof(struct soak_reader *r)
{
    return r->start == r->end && reader_fill(r) == 0;
}

int soak_write_all(int fd, enum soak_door door, const struct iovec *iov, int iovcnt)
{
    struct iovec left[8];
    if (iovcnt > 8)
        return -1;
    memcpy(left, iov, sizeof *iov * (size_t)iovcnt);
    int first = 0;
    while (first < iovcnt) {
        if (left[first].iov_len == 0) {
            first++;
            continue;
        }
        ssize_t n;
        if (door == SOAK_DOOR_VECTOR)
            n = writev(fd, left + first, iovcnt - first);
        else if (door == SOAK_DOOR_RECV_SEND)
            n = send(fd, left[first].iov_base, left[first].iov_len, MSG_NOSIGNAL);
        else
            n = write(fd, left[first].iov_base, left[first].iov_len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        size_t done = (size_t)n;
        while (done > 0 && first < iovcnt) {
            size_t take = done < left[first].iov_len ? done : left[first].iov_len;
            left[first].iov_base = (char *)left[first].iov_base + take;
            left[first].iov_len -= take;
            done -= take;
            if (left[first].iov_len == 0)
                first++;
        }
    }
    return 0;
}

size_t soak_chunk_encode(const char *body, size_t len, int n_chunks, char *out, size_t cap)
{
    size_t per = n_chunks > 0 ? (len + (size_t)n_chunks - 1) / (size_t)n_chunks : len;
    size_t o = 0;
    for (size_t at = 0; at < len; at += per) {
        size_t n = len - at < per ? len - at : per;
        /* a chunk extension on the first chunk: legal, and parsers must skip it */
        int w = snprintf(out + o, cap - o, at == 0 ? "%zx;soak=1\r\n" : "%zx\r\n", n);
        if (w < 0 || (size_t)w >= cap - o || n + 2 > cap - o - (size_t)w)
            return 0;
        o += (size_t)w;
        memcpy(out + o, body + at, n);
        o += n;
        memcpy(out + o, "\r\n", 2);
        o += 2;
    }
    static const char last[] = "0\r\n\r\n";
    if (sizeof last - 1 > cap - o)
        return 0;
    memcpy(out + o, last, sizeof last - 1);
    return o + sizeof last - 1;
}

int soak_listen_local(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 128) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(sa.sin_port);
    return fd;
}

int soak_connect_local(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int r;
    do
        r = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    while (r != 0 && errno == EINTR);
    if (r != 0) {
        close(fd);
        return -1;
    }
    soak_no_delay(fd);
    return fd;
}

void soak_no_delay(int fd)
{
    /* Small request/response pairs: without this, Nagle and delayed ACKs
     * would put a 40 ms pause into every message written in two pieces. */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

const char *soak_traceparent_trace_id(const char *value, size_t len)
{
    /* 00-{32 hex}-{16 hex}-{2 hex} */
    if (len != 55 || value[2] != '-' || value[35] != '-')
        return NULL;
    return value + 3;
}

void soak_fill_pattern(char *out, size_t len, uint64_t seq)
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    uint64_t x = seq * 0x9e3779b97f4a7c15ull + 1;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out[i] = alphabet[x % (sizeof alphabet - 1)];
    }
}
