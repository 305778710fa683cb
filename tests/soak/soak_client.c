/* soak_client.c — the load of the soak (client → middle → backend): N
 * requests over C keep-alive connections, one thread each, and every S-th
 * request of a thread on a connection of its own ("Connection: close"),
 * so that connections come and go all through the run.
 *
 * Request number q (0..N-1) has the shape q % 8 says:
 *   0, 4  GET /item/q                  200, Content-Length body
 *   1     POST /echo, Content-Length   200, the body back
 *   2, 6  GET /chunked/q               200, chunked body
 *   3     GET /missing/q               404
 *   5     POST /echo, chunked body     200, the body back
 *   7     GET /item/q?from=soak        200 (a query string)
 * and every answer is checked byte for byte (soak_fill_pattern).
 *
 * GETs go out by send, Content-Length POSTs by one writev, chunked POSTs by
 * write (head, then body); answers are read with recv.
 *
 * Usage: soak_client PORT REQUESTS CONNECTIONS SHORT_EVERY (0: none).
 * Prints "PROGRESS <done>" at every 1% and, at the end,
 * "DONE requests=N errors=E short_connections=S seconds=T". Exit status 0
 * when every answer was right, 1 otherwise, 2 on bad arguments.
 *
 * SOAK_LEAK_CANARY=1 in the environment makes it lose one allocation on
 * purpose (in soak_leak_canary) before it exits: the soak runs that first,
 * to see LeakSanitizer report it, so that a quiet LeakSanitizer later
 * means no leak rather than no LeakSanitizer. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "soak_http.h"

static uint16_t server_port;
static unsigned long total_requests, n_connections, short_every;
static unsigned long progress_step;
static atomic_ulong requests_done, errors_seen, short_connections;

/* One thread's connection and buffers. */
struct client_conn {
    struct soak_reader reader;
    struct soak_head resp;
    char body[SOAK_MAX_BODY];
    char expected[SOAK_MAX_BODY];
    char encoded[SOAK_MAX_BODY + 256];
    int fd;
};

static void report_error(unsigned long seq, const char *what)
{
    if (atomic_fetch_add(&errors_seen, 1) < 10)
        fprintf(stderr, "soak_client: request %lu: %s\n", seq, what);
}

/* Send request seq on c->fd and check the answer; NULL when it was right,
 * else what was wrong. close_after: ask the server to close. */
static const char *exchange(struct client_conn *c, unsigned long seq, bool close_after)
{
    char head[512];
    const char *conn = close_after ? "Connection: close\r\n" : "";
    unsigned shape = (unsigned)(seq % 8);
    int expect_status = 200;
    size_t expect_len = 16 + seq % 200;
    soak_fill_pattern(c->expected, expect_len, seq);
    int n, ok;

    if (shape == 1 || shape == 5) {
        expect_len = 1 + (seq * 7919) % 3000;
        soak_fill_pattern(c->expected, expect_len, seq ^ 0x5eed);
        if (shape == 1) {
            n = snprintf(head, sizeof head,
                         "POST /echo HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nUser-Agent: soak-client\r\n"
                         "%sContent-Type: text/plain\r\nContent-Length: %zu\r\n\r\n",
                         server_port, conn, expect_len);
            struct iovec iov[2] = {{head, (size_t)n}, {c->expected, expect_len}};
            ok = soak_write_all(c->fd, SOAK_DOOR_VECTOR, iov, 2) == 0;
        } else {
            size_t enc =
                soak_chunk_encode(c->expected, expect_len, 3, c->encoded, sizeof c->encoded);
            n = snprintf(head, sizeof head,
                         "POST /echo HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nUser-Agent: soak-client\r\n"
                         "%sTransfer-Encoding: chunked\r\n\r\n",
                         server_port, conn);
            struct iovec h = {head, (size_t)n}, b = {c->encoded, enc};
            ok = enc > 0 && soak_write_all(c->fd, SOAK_DOOR_READ_WRITE, &h, 1) == 0 &&
                 soak_write_all(c->fd, SOAK_DOOR_READ_WRITE, &b, 1) == 0;
        }
    } else {
        const char *path = shape == 2 || shape == 6 ? "/chunked/"
                           : shape == 3             ? "/missing/"
                                                    : "/item/";
        if (shape == 3) {
            expect_status = 404;
            expect_len = 10;
            memcpy(c->expected, "not found\n", 10);
        }
        n = snprintf(head, sizeof head,
                     "GET %s%lu%s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nUser-Agent: soak-client\r\n"
                     "Accept: */*\r\n%s\r\n",
                     path, seq, shape == 7 ? "?from=soak" : "", server_port, conn);
        struct iovec h = {head, (size_t)n};
        ok = soak_write_all(c->fd, SOAK_DOOR_RECV_SEND, &h, 1) == 0;
    }
    if (!ok)
        return "send failed";
    if (soak_read_head(&c->reader, &c->resp, false) != 1)
        return "no answer head";
    long got = soak_read_body(&c->reader, &c->resp, c->body, sizeof c->body);
    if (got < 0)
        return "bad answer body";
    if (c->resp.status != expect_status)
        return "unexpected status";
    if ((size_t)got != expect_len || memcmp(c->body, c->expected, expect_len) != 0)
        return "unexpected body";
    if ((shape == 2 || shape == 6) && !c->resp.chunked)
        return "answer not chunked";
    if (close_after && !soak_read_eof(&c->reader))
        return "server did not close";
    return NULL;
}

static int open_connection(struct client_conn *c)
{
    c->fd = soak_connect_local(server_port);
    if (c->fd >= 0)
        soak_reader_init(&c->reader, c->fd, SOAK_DOOR_RECV_SEND);
    return c->fd;
}

static void count_done(void)
{
    unsigned long done = atomic_fetch_add(&requests_done, 1) + 1;
    if (done % progress_step == 0) {
        printf("PROGRESS %lu\n", done);
        fflush(stdout);
    }
}

static void *client_thread(void *arg)
{
    unsigned long first = (unsigned long)(uintptr_t)arg;
    struct client_conn *keep = malloc(sizeof *keep);
    struct client_conn *once = malloc(sizeof *once);
    if (!keep || !once) {
        free(keep);
        free(once);
        atomic_fetch_add(&errors_seen, 1);
        return NULL;
    }
    keep->fd = -1;
    unsigned long mine = 0;
    for (unsigned long seq = first; seq < total_requests; seq += n_connections, mine++) {
        const char *err;
        if (short_every && mine % short_every == short_every - 1) {
            if (open_connection(once) < 0) {
                err = "connect failed";
            } else {
                atomic_fetch_add(&short_connections, 1);
                err = exchange(once, seq, true);
                close(once->fd);
            }
        } else {
            if (keep->fd < 0 && open_connection(keep) < 0) {
                err = "connect failed";
            } else {
                err = exchange(keep, seq, false);
                if (err) { /* a broken keep-alive connection: start a new one */
                    close(keep->fd);
                    keep->fd = -1;
                }
            }
        }
        if (err)
            report_error(seq, err);
        count_done();
    }
    if (keep->fd >= 0)
        close(keep->fd);
    free(keep);
    free(once);
    return NULL;
}

/* One allocation nothing points to once this returns (the volatile
 * pointer is cleared, so no stale copy of it stays where LeakSanitizer
 * looks). */
static void soak_leak_canary(void)
{
    static void *volatile lost;
    lost = malloc(64);
    if (lost)
        memset(lost, 0x5a, 64);
    lost = NULL;
}

static bool parse_count(const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (!*s || *end || v > max)
        return false;
    *out = v;
    return true;
}

int main(int argc, char **argv)
{
    unsigned long port;
    if (argc != 5 || !parse_count(argv[1], 65535, &port) || port == 0 ||
        !parse_count(argv[2], 1000000000ul, &total_requests) ||
        !parse_count(argv[3], 64, &n_connections) || n_connections == 0 ||
        !parse_count(argv[4], 1000000ul, &short_every)) {
        fprintf(stderr, "usage: soak_client PORT REQUESTS CONNECTIONS(1-64) SHORT_EVERY\n");
        return 2;
    }
    server_port = (uint16_t)port;
    signal(SIGPIPE, SIG_IGN); /* a server that closes early is an error to count, not a death */
    progress_step = total_requests >= 100 ? total_requests / 100 : 1;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_t threads[64];
    unsigned long started = 0;
    for (; started < n_connections; started++) {
        if (pthread_create(&threads[started], NULL, client_thread, (void *)(uintptr_t)started)) {
            perror("pthread_create");
            atomic_fetch_add(&errors_seen, 1);
            break;
        }
    }
    for (unsigned long i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    unsigned long errors = atomic_load(&errors_seen);
    printf("DONE requests=%lu errors=%lu short_connections=%lu seconds=%.2f\n",
           atomic_load(&requests_done), errors, atomic_load(&short_connections), seconds);
    fflush(stdout);
    const char *canary = getenv("SOAK_LEAK_CANARY");
    if (canary && strcmp(canary, "1") == 0)
        soak_leak_canary();
    return errors == 0 ? 0 : 1;
}
