/* soak_middle.c — the middle service of the soak's chain (client → middle
 * → backend). Each request it serves becomes one request to the backend,
 * over a keep-alive connection of its own per inbound connection: under
 * the shim, a SERVER span (context extracted from the client's headers)
 * and a CLIENT span (its child, headers injected) per request.
 *
 * It answers with the backend's status and body, re-framed the same way
 * (chunked when the backend's answer was, else Content-Length), and checks
 * on every request that the trace continued: the trace id of the
 * traceparent it received equals the one the backend says it received
 * (X-Seen-Traceparent). It does not forward the inbound headers, so the
 * shim links the hop by the thread's current server span.
 *
 * Reads with read (client side) and recv (backend side), writes with write
 * (head and body in separate calls). Usage: soak_middle BACKEND_PORT.
 * Prints "LISTENING <port>"; on SIGTERM it stops accepting, waits for its
 * connections to end and prints "MIDDLE requests=R traceparent=T
 * same_trace=S backend_errors=E connections=C". Exit status 0, or 3 when
 * connections were still open after the wait. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "soak_http.h"
#include "soak_server.h"

static uint16_t backend_port;
static atomic_ulong requests_served, with_traceparent, same_trace, backend_errors;

/* One inbound connection's state and buffers (on the heap: thread stacks
 * are 256 KiB). */
struct middle_conn {
    struct soak_reader from_client;
    struct soak_reader from_backend;
    struct soak_head req, resp;
    char req_body[SOAK_MAX_BODY];
    char resp_body[SOAK_MAX_BODY];
    char encoded[SOAK_MAX_BODY + 256];
    int backend_fd; /* -1 until the first request, and after a failure */
};

/* Send c's request to the backend and read its answer into c->resp and
 * c->resp_body; the body's length, or -1 (the backend connection is then
 * closed, to be opened again by the next request). */
static long ask_backend(struct middle_conn *c, long req_body_len)
{
    if (c->backend_fd < 0) {
        c->backend_fd = soak_connect_local(backend_port);
        if (c->backend_fd < 0)
            return -1;
        soak_reader_init(&c->from_backend, c->backend_fd, SOAK_DOOR_RECV_SEND);
    }
    char head[512];
    int n;
    if (req_body_len > 0)
        n = snprintf(head, sizeof head,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nUser-Agent: soak-middle\r\n"
                     "Content-Length: %ld\r\n\r\n",
                     c->req.method, c->req.target, backend_port, req_body_len);
    else
        n = snprintf(head, sizeof head,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nUser-Agent: soak-middle\r\n\r\n",
                     c->req.method, c->req.target, backend_port);
    struct iovec h = {head, (size_t)n};
    struct iovec b = {c->req_body, req_body_len > 0 ? (size_t)req_body_len : 0};
    long got = -1;
    if (soak_write_all(c->backend_fd, SOAK_DOOR_READ_WRITE, &h, 1) == 0 &&
        soak_write_all(c->backend_fd, SOAK_DOOR_READ_WRITE, &b, 1) == 0 &&
        soak_read_head(&c->from_backend, &c->resp, false) == 1)
        got = soak_read_body(&c->from_backend, &c->resp, c->resp_body, sizeof c->resp_body);
    if (got < 0) {
        close(c->backend_fd);
        c->backend_fd = -1;
    }
    return got;
}

/* Did the backend see the trace this request arrived in? */
static bool trace_continued(const struct middle_conn *c)
{
    size_t in_len, seen_len;
    const char *in = soak_header(&c->req, "traceparent", &in_len);
    const char *seen = soak_header(&c->resp, "X-Seen-Traceparent", &seen_len);
    const char *in_id = in ? soak_traceparent_trace_id(in, in_len) : NULL;
    const char *seen_id = seen ? soak_traceparent_trace_id(seen, seen_len) : NULL;
    return in_id && seen_id && memcmp(in_id, seen_id, 32) == 0;
}

/* Answer the client with the backend's answer (or a 502); false when the
 * client connection failed. */
static bool answer_client(int fd, struct middle_conn *c, long resp_len)
{
    char head[256];
    const char *conn = c->req.connection_close ? "Connection: close\r\n" : "";
    int n;
    struct iovec body;
    if (resp_len < 0) {
        n = snprintf(head, sizeof head, "HTTP/1.1 502 Bad Gateway\r\n%sContent-Length: 12\r\n\r\n",
                     conn);
        body = (struct iovec){(void *)"backend down", 12};
    } else if (c->resp.chunked) {
        size_t enc =
            soak_chunk_encode(c->resp_body, (size_t)resp_len, 2, c->encoded, sizeof c->encoded);
        if (enc == 0)
            return false;
        n = snprintf(head, sizeof head, "HTTP/1.1 %d X\r\n%sTransfer-Encoding: chunked\r\n\r\n",
                     c->resp.status, conn);
        body = (struct iovec){c->encoded, enc};
    } else {
        n = snprintf(head, sizeof head, "HTTP/1.1 %d X\r\n%sContent-Length: %ld\r\n\r\n",
                     c->resp.status, conn, resp_len);
        body = (struct iovec){c->resp_body, (size_t)resp_len};
    }
    struct iovec h = {head, (size_t)n};
    return soak_write_all(fd, SOAK_DOOR_READ_WRITE, &h, 1) == 0 &&
           soak_write_all(fd, SOAK_DOOR_READ_WRITE, &body, 1) == 0;
}

static void serve_connection(int fd)
{
    struct middle_conn *c = malloc(sizeof *c);
    if (c) {
        c->backend_fd = -1;
        soak_reader_init(&c->from_client, fd, SOAK_DOOR_READ_WRITE);
        while (soak_read_head(&c->from_client, &c->req, true) == 1) {
            long req_len =
                soak_read_body(&c->from_client, &c->req, c->req_body, sizeof c->req_body);
            if (req_len < 0)
                break;
            atomic_fetch_add(&requests_served, 1);
            size_t tp_len;
            if (soak_header(&c->req, "traceparent", &tp_len))
                atomic_fetch_add(&with_traceparent, 1);
            long resp_len = ask_backend(c, req_len);
            if (resp_len < 0)
                atomic_fetch_add(&backend_errors, 1);
            else if (trace_continued(c))
                atomic_fetch_add(&same_trace, 1);
            if (!answer_client(fd, c, resp_len) || c->req.connection_close)
                break;
        }
        if (c->backend_fd >= 0)
            close(c->backend_fd);
    }
    free(c);
    close(fd);
}

int main(int argc, char **argv)
{
    if (argc != 2 || atoi(argv[1]) <= 0 || atoi(argv[1]) > 65535) {
        fprintf(stderr, "usage: soak_middle BACKEND_PORT\n");
        return 2;
    }
    backend_port = (uint16_t)atoi(argv[1]);
    uint16_t port;
    int lfd = soak_listen_local(&port);
    if (lfd < 0) {
        perror("soak_middle: listen");
        return 1;
    }
    printf("LISTENING %u\n", port);
    fflush(stdout);
    int left = soak_serve(lfd, serve_connection, 10000);
    printf("MIDDLE requests=%lu traceparent=%lu same_trace=%lu backend_errors=%lu "
           "connections=%lu open_at_exit=%d\n",
           atomic_load(&requests_served), atomic_load(&with_traceparent), atomic_load(&same_trace),
           atomic_load(&backend_errors), soak_served_connections(), left);
    fflush(stdout);
    return left == 0 ? 0 : 3;
}
