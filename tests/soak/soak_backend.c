/* soak_backend.c — the last service of the soak's chain (client → middle →
 * backend): answers every request itself, a thread per connection.
 *
 *   GET  /item/N      200, a Content-Length body of 16 + N % 200 bytes
 *   POST /echo        200, the request body back (Content-Length)
 *   GET  /chunked/N   200, a chunked body of 1 + N % 4 chunks
 *   anything else     404
 *
 * Every answer carries X-Seen-Traceparent: the traceparent the request
 * arrived with (the one the middle's shim injected), so the middle can
 * check that each hop continued the trace it was serving.
 *
 * Reads with readv, writes with send (the head) and writev (head and body
 * at once). Prints "LISTENING <port>" when ready; on SIGTERM it stops
 * accepting, waits for its connections to end and prints
 * "BACKEND requests=R traceparent=T sampled=S connections=C". Exit status
 * 0, or 3 when connections were still open after the wait. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "soak_http.h"
#include "soak_server.h"

static atomic_ulong requests_served, with_traceparent, sampled_requests;

/* The same bytes the client expects for /item/N and /chunked/N. */
static size_t item_body(const char *number, char *out, size_t cap)
{
    unsigned long n = strtoul(number, NULL, 10);
    size_t len = 16 + n % 200;
    if (len > cap)
        len = cap;
    soak_fill_pattern(out, len, n);
    return len;
}

/* A connection's buffers, on the heap (thread stacks are 256 KiB). */
struct backend_conn {
    struct soak_reader reader;
    struct soak_head req;
    char body[SOAK_MAX_BODY];
    char out[SOAK_MAX_BODY];
    char encoded[SOAK_MAX_BODY + 256];
};

/* Answer the request in c; false when the connection failed. */
static bool answer(int fd, struct backend_conn *c, long body_len)
{
    const struct soak_head *req = &c->req;
    const char *body = c->body;
    char *out = c->out;
    char *encoded = c->encoded;
    char head[512];
    size_t tp_len = 0;
    const char *tp = soak_header(req, "traceparent", &tp_len);
    char seen[96];
    if (tp && tp_len < 64)
        snprintf(seen, sizeof seen, "X-Seen-Traceparent: %.*s\r\n", (int)tp_len, tp);
    else
        seen[0] = '\0';
    const char *conn = req->connection_close ? "Connection: close\r\n" : "";

    if (strcmp(req->method, "GET") == 0 && strncmp(req->target, "/chunked/", 9) == 0) {
        size_t len = item_body(req->target + 9, out, sizeof c->out);
        int chunks = 1 + (int)(strtoul(req->target + 9, NULL, 10) % 4);
        size_t enc_len = soak_chunk_encode(out, len, chunks, encoded, sizeof c->encoded);
        int n = snprintf(head, sizeof head,
                         "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n%s%s"
                         "Transfer-Encoding: chunked\r\n\r\n",
                         seen, conn);
        /* head by send, then the chunks by send: two messages */
        struct iovec h = {head, (size_t)n};
        struct iovec b = {encoded, enc_len};
        return enc_len > 0 && soak_write_all(fd, SOAK_DOOR_RECV_SEND, &h, 1) == 0 &&
               soak_write_all(fd, SOAK_DOOR_RECV_SEND, &b, 1) == 0;
    }

    int status = 200;
    const char *reason = "OK";
    const char *payload = out;
    size_t len;
    if (strcmp(req->method, "GET") == 0 && strncmp(req->target, "/item/", 6) == 0) {
        len = item_body(req->target + 6, out, sizeof c->out);
    } else if (strcmp(req->method, "POST") == 0 && strcmp(req->target, "/echo") == 0) {
        payload = body;
        len = (size_t)body_len;
    } else {
        status = 404;
        reason = "Not Found";
        payload = "not found\n";
        len = 10;
    }
    int n =
        snprintf(head, sizeof head,
                 "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\n%s%sContent-Length: %zu\r\n\r\n",
                 status, reason, seen, conn, len);
    struct iovec iov[2] = {{head, (size_t)n}, {(void *)payload, len}};
    return soak_write_all(fd, SOAK_DOOR_VECTOR, iov, 2) == 0;
}

static void serve_connection(int fd)
{
    struct backend_conn *c = malloc(sizeof *c);
    if (c) {
        soak_reader_init(&c->reader, fd, SOAK_DOOR_VECTOR);
        while (soak_read_head(&c->reader, &c->req, true) == 1) {
            long body_len = soak_read_body(&c->reader, &c->req, c->body, sizeof c->body);
            if (body_len < 0)
                break;
            atomic_fetch_add(&requests_served, 1);
            size_t tp_len;
            const char *tp = soak_header(&c->req, "traceparent", &tp_len);
            if (tp) {
                atomic_fetch_add(&with_traceparent, 1);
                if (tp_len == 55 && strncmp(tp + 53, "01", 2) == 0)
                    atomic_fetch_add(&sampled_requests, 1);
            }
            if (!answer(fd, c, body_len) || c->req.connection_close)
                break;
        }
    }
    free(c);
    close(fd);
}

int main(void)
{
    uint16_t port;
    int lfd = soak_listen_local(&port);
    if (lfd < 0) {
        perror("soak_backend: listen");
        return 1;
    }
    printf("LISTENING %u\n", port);
    fflush(stdout);
    int left = soak_serve(lfd, serve_connection, 10000);
    printf("BACKEND requests=%lu traceparent=%lu sampled=%lu connections=%lu open_at_exit=%d\n",
           atomic_load(&requests_served), atomic_load(&with_traceparent),
           atomic_load(&sampled_requests), soak_served_connections(), left);
    fflush(stdout);
    return left == 0 ? 0 : 3;
}
