/* test_http_client.c — the exporters' HTTP/1.1 client against a scripted
 * server on 127.0.0.1: the request bytes, the ways a response may be
 * delimited, keep-alive and its failures, deadlines, hostile answers, and
 * an fd the program closed behind the client's back.
 *
 * Every test starts one server thread that plays a script (accept, read a
 * request, send bytes, close, ...) and records what it saw; every wait in
 * it is bounded, so a client that misbehaves fails the test instead of
 * hanging it, and the thread always ends before the next test. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "preload/clock.h"
#include "preload/real.h"
#include "reporter/http_client.h"

/* ------------------------------------------------------------- server */

#define SRV_WAIT_MS 3000 /* longest any server step waits for the client */
#define SRV_MAX_REQS 8
#define SRV_REQ_MAX 8192

enum srv_op {
    SRV_END = 0,
    SRV_ACCEPT,    /* accept the next connection (closing the current one) */
    SRV_READ,      /* read one request: head, then Content-Length body bytes */
    SRV_READ_BIG,  /* the same for a body of any size: its length and hash kept */
    SRV_SEND,      /* send data */
    SRV_SEND_SLOW, /* send data one byte per write, with pauses between */
    SRV_PAUSE,     /* let the client read what was sent so far */
    SRV_CLOSE,     /* close the current connection */
    SRV_HOLD,      /* say nothing until the client closes its end */
    SRV_SIGNAL,    /* tell the test this point of the script was reached */
    SRV_SLEEP,     /* a second without reading: the client's sends fill the buffers */
    SRV_AWAIT,     /* wait until the test says go (srv.go) */
};

struct srv_step {
    enum srv_op op;
    const char *data;
};

/* Steps, so that a script reads as one line per exchange. */
#define ST_ACCEPT                                                                                  \
    {                                                                                              \
        SRV_ACCEPT, NULL                                                                           \
    }
#define ST_READ                                                                                    \
    {                                                                                              \
        SRV_READ, NULL                                                                             \
    }
#define ST_READ_BIG                                                                                \
    {                                                                                              \
        SRV_READ_BIG, NULL                                                                         \
    }
#define ST_SEND(text)                                                                              \
    {                                                                                              \
        SRV_SEND, text                                                                             \
    }
#define ST_PAUSE                                                                                   \
    {                                                                                              \
        SRV_PAUSE, NULL                                                                            \
    }
#define ST_CLOSE                                                                                   \
    {                                                                                              \
        SRV_CLOSE, NULL                                                                            \
    }
#define ST_HOLD                                                                                    \
    {                                                                                              \
        SRV_HOLD, NULL                                                                             \
    }
#define ST_SIGNAL                                                                                  \
    {                                                                                              \
        SRV_SIGNAL, NULL                                                                           \
    }
#define ST_SLEEP                                                                                   \
    {                                                                                              \
        SRV_SLEEP, NULL                                                                            \
    }
#define ST_AWAIT                                                                                   \
    {                                                                                              \
        SRV_AWAIT, NULL                                                                            \
    }
#define ST_END                                                                                     \
    {                                                                                              \
        SRV_END, NULL                                                                              \
    }

static struct {
    int listen_fd;
    uint16_t port;
    pthread_t thread;
    bool running;
    const struct srv_step *script;
    atomic_bool stop;
    sem_t reached; /* posted by SRV_SIGNAL */
    sem_t go;      /* waited for by SRV_AWAIT */
    /* written by the thread, read by the test after the join */
    int conn;
    int accepts;
    int nreqs;
    char reqs[SRV_MAX_REQS][SRV_REQ_MAX];
    size_t req_len[SRV_MAX_REQS];
    size_t held;       /* SRV_HOLD: the bytes it read and dropped */
    size_t big_len;    /* SRV_READ_BIG: the body's length */
    uint64_t big_hash; /* and its FNV-1a hash */
    char failed[128]; /* empty: the script ran to its end */
} srv;

static void srv_fail(const char *what)
{
    if (!srv.failed[0])
        snprintf(srv.failed, sizeof srv.failed, "%s (errno %d)", what, errno);
}

/* Wait for events on fd in short slices (so that teardown can stop us),
 * at most SRV_WAIT_MS. */
static bool srv_wait(int fd, short events, const char *what)
{
    for (int waited = 0; waited < SRV_WAIT_MS && !atomic_load(&srv.stop); waited += 20) {
        struct pollfd p = {.fd = fd, .events = events};
        int r = poll(&p, 1, 20);
        if (r > 0)
            return true;
        if (r < 0 && errno != EINTR)
            break;
    }
    srv_fail(what);
    return false;
}

/* The value of Content-Length in a request head, 0 when absent. */
static size_t srv_content_length(const char *head)
{
    const char *p = strstr(head, "\r\nContent-Length: ");
    return p ? (size_t)strtoul(p + 18, NULL, 10) : 0;
}

static void srv_read_request(void)
{
    if (srv.nreqs == SRV_MAX_REQS) {
        srv_fail("too many requests");
        return;
    }
    char *buf = srv.reqs[srv.nreqs];
    size_t len = 0, want = SRV_REQ_MAX - 1;
    while (len < want) {
        if (!srv_wait(srv.conn, POLLIN, "no request"))
            return;
        ssize_t r = recv(srv.conn, buf + len, want - len, 0);
        if (r <= 0) {
            srv_fail("connection ended before a whole request");
            return;
        }
        len += (size_t)r;
        buf[len] = '\0';
        const char *end = strstr(buf, "\r\n\r\n");
        if (end && want == SRV_REQ_MAX - 1) {
            want = (size_t)(end + 4 - buf) + srv_content_length(buf);
            if (want > SRV_REQ_MAX - 1) {
                srv_fail("request too large for the test server");
                return;
            }
        }
    }
    srv.req_len[srv.nreqs++] = len;
}

static uint64_t fnv1a(uint64_t h, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 0x100000001b3ull;
    return h;
}
#define FNV_START 0xcbf29ce484222325ull

/* A request whose body may be larger than srv.reqs holds: the head is read
 * a byte at a time up to its blank line, the body counted and hashed. */
static void srv_read_big_request(void)
{
    char head[SRV_REQ_MAX];
    size_t len = 0;
    while (len < 4 || memcmp(head + len - 4, "\r\n\r\n", 4) != 0) {
        if (len == sizeof head - 1) {
            srv_fail("request head too large for the test server");
            return;
        }
        if (!srv_wait(srv.conn, POLLIN, "no request"))
            return;
        if (recv(srv.conn, head + len, 1, 0) != 1) {
            srv_fail("connection ended in a request head");
            return;
        }
        head[++len] = '\0';
    }
    size_t want = srv_content_length(head);
    srv.big_len = 0;
    srv.big_hash = FNV_START;
    while (srv.big_len < want) {
        char chunk[16384];
        size_t ask = want - srv.big_len < sizeof chunk ? want - srv.big_len : sizeof chunk;
        if (!srv_wait(srv.conn, POLLIN, "no body"))
            return;
        ssize_t r = recv(srv.conn, chunk, ask, 0);
        if (r <= 0) {
            srv_fail("connection ended in a request body");
            return;
        }
        srv.big_hash = fnv1a(srv.big_hash, chunk, (size_t)r);
        srv.big_len += (size_t)r;
    }
}

static void srv_send(const char *data, bool slow)
{
    size_t len = strlen(data);
    for (size_t off = 0; off < len;) {
        ssize_t w = send(srv.conn, data + off, slow ? 1 : len - off, MSG_NOSIGNAL);
        if (w <= 0) {
            srv_fail("send");
            return;
        }
        off += (size_t)w;
        if (slow)
            usleep(200);
    }
}

/* Read and drop whatever comes until the client closes. */
static void srv_hold(void)
{
    char sink[512];
    for (;;) {
        if (!srv_wait(srv.conn, POLLIN, "client did not close"))
            return;
        ssize_t r = recv(srv.conn, sink, sizeof sink, 0);
        if (r <= 0)
            return;
        srv.held += (size_t)r;
    }
}

static void srv_close_conn(void)
{
    if (srv.conn >= 0)
        close(srv.conn);
    srv.conn = -1;
}

static void *srv_main(void *arg)
{
    (void)arg;
    for (const struct srv_step *s = srv.script; s->op != SRV_END && !srv.failed[0]; s++) {
        switch (s->op) {
        case SRV_ACCEPT:
            if (!srv_wait(srv.listen_fd, POLLIN, "no connection"))
                break;
            srv_close_conn();
            srv.conn = accept4(srv.listen_fd, NULL, NULL, SOCK_CLOEXEC);
            if (srv.conn < 0) {
                srv_fail("accept");
                break;
            }
            srv.accepts++;
            /* one segment per write, for the byte-by-byte answers */
            setsockopt(srv.conn, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
            break;
        case SRV_READ:
            srv_read_request();
            break;
        case SRV_READ_BIG:
            srv_read_big_request();
            break;
        case SRV_SEND:
        case SRV_SEND_SLOW:
            srv_send(s->data, s->op == SRV_SEND_SLOW);
            break;
        case SRV_PAUSE:
            usleep(50 * 1000);
            break;
        case SRV_CLOSE:
            srv_close_conn();
            break;
        case SRV_HOLD:
            srv_hold();
            break;
        case SRV_SIGNAL:
            sem_post(&srv.reached);
            break;
        case SRV_AWAIT: {
            struct timespec t;
            clock_gettime(CLOCK_REALTIME, &t);
            t.tv_sec += SRV_WAIT_MS / 1000;
            if (sem_timedwait(&srv.go, &t) != 0)
                srv_fail("no go from the test");
            break;
        }
        case SRV_SLEEP:
            for (int i = 0; i < 50 && !atomic_load(&srv.stop); i++)
                usleep(20 * 1000);
            break;
        case SRV_END:
            break;
        }
    }
    srv_close_conn();
    return NULL;
}

/* A listening socket on 127.0.0.1 with an ephemeral port. */
static int listen_loopback(uint16_t *port, bool do_listen)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    if (do_listen)
        assert_int_equal(listen(fd, 8), 0);
    socklen_t alen = sizeof a;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

/* ------------------------------------------------------------- client */

static struct ts_url url;
static struct ts_http_client client;
static char url_text[64];

static void client_init(uint16_t port)
{
    snprintf(url_text, sizeof url_text, "http://127.0.0.1:%u/v1/traces", (unsigned)port);
    assert_null(ts_url_parse(url_text, &url));
    ts_http_client_init(&client, &url);
}

/* Start the server on script and point the client at it. */
static void srv_start(const struct srv_step *script)
{
    srv.script = script;
    srv.listen_fd = listen_loopback(&srv.port, true);
    assert_int_equal(pthread_create(&srv.thread, NULL, srv_main, NULL), 0);
    srv.running = true;
    client_init(srv.port);
}

static void srv_join(void)
{
    if (!srv.running)
        return;
    pthread_join(srv.thread, NULL);
    srv.running = false;
    close(srv.listen_fd);
    srv.listen_fd = -1;
}

/* The client is done: the server must have played its whole script. */
static void srv_finish(void)
{
    ts_http_client_close(&client);
    srv_join();
    if (srv.failed[0])
        fail_msg("server: %s", srv.failed);
}

/* Wait (bounded) until the server reached its SRV_SIGNAL step. */
static void srv_await_signal(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_sec += SRV_WAIT_MS / 1000;
    assert_int_equal(sem_timedwait(&srv.reached, &t), 0);
}

static int setup(void **state)
{
    (void)state;
    memset(&srv, 0, sizeof srv);
    srv.listen_fd = -1;
    srv.conn = -1;
    sem_init(&srv.reached, 0, 0);
    sem_init(&srv.go, 0, 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    atomic_store(&srv.stop, true); /* a failed test must not leave the thread behind */
    ts_http_client_close(&client);
    srv_join();
    sem_destroy(&srv.reached);
    sem_destroy(&srv.go);
    ts_json_buf_free(&client.in);
    return 0;
}

/* A POST with a small body, allowed timeout_ms. */
static void post(struct ts_http_response *r, uint64_t timeout_ms)
{
    ts_http_request(&client, "POST", "application/json", NULL, "{}", 2, ts_mono_ms() + timeout_ms,
                    r);
}

static void assert_body(const struct ts_http_response *r, const char *want)
{
    if (r->body_len != strlen(want) || memcmp(r->body, want, r->body_len) != 0)
        fail_msg("body \"%.*s\" (%zu bytes), want \"%s\"", (int)r->body_len, r->body, r->body_len,
                 want);
}

/* One POST answered with status and body. */
static void assert_answer(int status, const char *body)
{
    struct ts_http_response r;
    post(&r, 2000);
    if (r.status != status)
        fail_msg("status %d (err %d), want %d", r.status, r.err, status);
    assert_body(&r, body);
}

#define OK_2 "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

/* ------------------------------------------------------------- request */

static void test_request_bytes(void **state)
{
    (void)state;
    static const struct srv_step script[] = {ST_ACCEPT, ST_READ,       ST_SEND(OK_2),
                                             ST_READ,   ST_SEND(OK_2), ST_END};
    srv_start(script);
    struct ts_http_response r;
    ts_http_request(&client, "POST", "application/x-protobuf", "X-A: 1\r\nX-Tenant: two\r\n",
                    "hello body", 10, ts_mono_ms() + 2000, &r);
    assert_int_equal(r.status, 200);
    /* a GET without body: no Content-Type, no Content-Length */
    ts_http_request(&client, "GET", NULL, NULL, NULL, 0, ts_mono_ms() + 2000, &r);
    assert_int_equal(r.status, 200);
    srv_finish();

    char want[512];
    snprintf(want, sizeof want,
             "POST /v1/traces HTTP/1.1\r\n"
             "Host: 127.0.0.1:%u\r\n"
             "User-Agent: traceshim/" TS_VERSION "\r\n"
             "Content-Type: application/x-protobuf\r\n"
             "X-A: 1\r\n"
             "X-Tenant: two\r\n"
             "Content-Length: 10\r\n"
             "\r\n"
             "hello body",
             (unsigned)srv.port);
    assert_int_equal(srv.nreqs, 2);
    assert_string_equal(srv.reqs[0], want);
    snprintf(want, sizeof want,
             "GET /v1/traces HTTP/1.1\r\n"
             "Host: 127.0.0.1:%u\r\n"
             "User-Agent: traceshim/" TS_VERSION "\r\n"
             "\r\n",
             (unsigned)srv.port);
    assert_string_equal(srv.reqs[1], want);
    assert_int_equal(srv.accepts, 1);
}

/* The client's calls of the real sendmsg, and a script that makes the
 * first ones short, as a full socket buffer would: the real call gets
 * only some of the bytes offered. */
#define SHORT_ALL ((size_t)0)          /* every byte offered */
#define SHORT_EAGAIN ((size_t)-1)      /* none: EAGAIN */
#define SHORT_FIRST_ENTRY ((size_t)-2) /* what is left of the first iovec: the head's end */
static ts_real_sendmsg_fn sendmsg_before;
static size_t sendmsg_calls;
static const size_t *sendmsg_short;
static size_t sendmsg_nshort;

/* The client's sendmsg through hook (its calls counted from 0), until
 * sendmsg_unhook. */
static void sendmsg_hook(ts_real_sendmsg_fn hook)
{
    ts_real_resolve();
    sendmsg_before = ts_real_sendmsg;
    sendmsg_calls = 0;
    ts_real_sendmsg = hook;
}

static void sendmsg_unhook(void)
{
    ts_real_sendmsg = sendmsg_before;
}

static ssize_t shortening_sendmsg(int fd, const struct msghdr *m, int flags)
{
    size_t len = 0;
    for (size_t i = 0; i < m->msg_iovlen; i++)
        len += m->msg_iov[i].iov_len;
    size_t call = sendmsg_calls++;
    size_t give = call < sendmsg_nshort ? sendmsg_short[call] : SHORT_ALL;
    if (give == SHORT_EAGAIN) {
        errno = EAGAIN;
        return -1;
    }
    if (give == SHORT_FIRST_ENTRY)
        give = m->msg_iov[0].iov_len;
    if (give == SHORT_ALL || give >= len)
        return sendmsg_before(fd, m, flags);
    struct iovec part[4];
    struct msghdr shorter = *m;
    shorter.msg_iov = part;
    shorter.msg_iovlen = 0;
    for (size_t i = 0; i < m->msg_iovlen && i < 4 && give > 0; i++) {
        part[i] = m->msg_iov[i];
        part[i].iov_len = part[i].iov_len < give ? part[i].iov_len : give;
        give -= part[i].iov_len;
        shorter.msg_iovlen++;
    }
    return sendmsg_before(fd, &shorter, flags);
}

static char big_body[5 * 65536 + 1234];

/* A batch's request (hundreds of KiB) when the kernel takes less than it
 * is offered: a call that ends in the head, one that ends exactly at the
 * head's end, one refused with EAGAIN (the client waits until the socket
 * can be written), two that end mid-body. The server gets it whole. */
static void test_large_body_short_writes(void **state)
{
    (void)state;
    static const struct srv_step steps[] = {ST_ACCEPT, ST_READ_BIG, ST_SEND(OK_2), ST_END};
    static const size_t script[] = {37, SHORT_FIRST_ENTRY, SHORT_EAGAIN, 1000, 5};
    srv_start(steps);
    for (size_t i = 0; i < sizeof big_body; i++)
        big_body[i] = (char)('a' + (i * 7 + i / 4093) % 26);

    sendmsg_short = script;
    sendmsg_nshort = sizeof script / sizeof script[0];
    sendmsg_hook(shortening_sendmsg);
    struct ts_http_response r;
    ts_http_request(&client, "POST", "application/x-protobuf", NULL, big_body, sizeof big_body,
                    ts_mono_ms() + 5000, &r);
    sendmsg_unhook();
    assert_int_equal(r.status, 200);
    srv_finish();

    assert_int_equal(srv.big_len, sizeof big_body);
    assert_true(srv.big_hash == fnv1a(FNV_START, big_body, sizeof big_body));
    assert_true(sendmsg_calls > sizeof script / sizeof script[0]);
}

/* A Host or User-Agent among the caller's headers (OTEL_EXPORTER_OTLP_HEADERS)
 * replaces the client's own: one of each, never two. */
static void test_request_host_and_agent_given(void **state)
{
    (void)state;
    static const struct srv_step script[] = {ST_ACCEPT, ST_READ,       ST_SEND(OK_2),
                                             ST_READ,   ST_SEND(OK_2), ST_END};
    srv_start(script);
    struct ts_http_response r;
    ts_http_request(&client, "POST", "application/json",
                    "X-A: 1\r\nhost: otel.example.com\r\nUSER-AGENT: mine/2\r\n", "{}", 2,
                    ts_mono_ms() + 2000, &r);
    assert_int_equal(r.status, 200);
    /* a name that merely starts alike is another header */
    ts_http_request(&client, "POST", "application/json", "Hosts: a\r\nX-User-Agent: b\r\n", "{}", 2,
                    ts_mono_ms() + 2000, &r);
    assert_int_equal(r.status, 200);
    srv_finish();
    assert_int_equal(srv.nreqs, 2);
    assert_string_equal(srv.reqs[0], "POST /v1/traces HTTP/1.1\r\n"
                                     "Content-Type: application/json\r\n"
                                     "X-A: 1\r\n"
                                     "host: otel.example.com\r\n"
                                     "USER-AGENT: mine/2\r\n"
                                     "Content-Length: 2\r\n"
                                     "\r\n"
                                     "{}");
    char want[512];
    snprintf(want, sizeof want,
             "POST /v1/traces HTTP/1.1\r\n"
             "Host: 127.0.0.1:%u\r\n"
             "User-Agent: traceshim/" TS_VERSION "\r\n"
             "Content-Type: application/json\r\n"
             "Hosts: a\r\n"
             "X-User-Agent: b\r\n"
             "Content-Length: 2\r\n"
             "\r\n"
             "{}",
             (unsigned)srv.port);
    assert_string_equal(srv.reqs[1], want);
}

/* ------------------------------------------------------------- responses */

/* One request answered with answer (sent in one go, or byte by byte). */
static void check_single_answer(enum srv_op send_op, const char *answer, int status,
                                const char *body)
{
    const struct srv_step script[] = {ST_ACCEPT, ST_READ, {send_op, answer}, ST_END};
    srv_start(script);
    assert_answer(status, body);
    srv_finish();
}

static void test_content_length(void **state)
{
    (void)state;
    check_single_answer(SRV_SEND,
                        "HTTP/1.1 200 OK\r\ncontent-length:  11 \r\nX-Other: y\r\n\r\nhello world",
                        200, "hello world");
}

static void test_chunked(void **state)
{
    (void)state;
    check_single_answer(SRV_SEND,
                        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                        "5;name=value\r\nhello\r\n"
                        "7 ; ext\r\n, world\r\n"
                        "B\r\n 0123456789\r\n"
                        "0\r\nX-Trailer: t\r\nX-Other: u\r\n\r\n",
                        200, "hello, world 0123456789");
}

/* A chunked body that arrives in two parts, the cut after a whole chunk:
 * the first part must not be decoded in place before the rest is there. */
static void test_chunked_in_parts(void **state)
{
    (void)state;
    static const struct srv_step script[] = {
        ST_ACCEPT,
        ST_READ,
        ST_SEND("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"),
        ST_PAUSE,
        ST_SEND("7\r\n, world\r\n"),
        ST_PAUSE,
        ST_SEND("0\r\n\r\n"),
        ST_END};
    srv_start(script);
    assert_answer(200, "hello, world");
    srv_finish();
}

static void test_no_content(void **state)
{
    (void)state;
    static const struct srv_step script[] = {ST_ACCEPT,
                                             ST_READ,
                                             ST_SEND("HTTP/1.1 204 No Content\r\n\r\n"),
                                             ST_READ,
                                             ST_SEND("HTTP/1.1 204 No Content\r\n\r\n"),
                                             ST_END};
    srv_start(script);
    assert_answer(204, "");
    assert_answer(204, ""); /* on the same connection: nothing was left to read */
    srv_finish();
    assert_int_equal(srv.accepts, 1);
}

static void test_interim_continue(void **state)
{
    (void)state;
    check_single_answer(SRV_SEND,
                        "HTTP/1.1 100 Continue\r\n\r\n"
                        "HTTP/1.1 201 Created\r\nContent-Length: 4\r\n\r\ndone",
                        201, "done");
}

static void test_close_delimited(void **state)
{
    (void)state;
    static const struct srv_step script[] = {
        ST_ACCEPT,
        ST_READ,
        ST_SEND("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil "),
        ST_PAUSE,
        ST_SEND("the end"),
        ST_CLOSE,
        ST_END};
    srv_start(script);
    assert_answer(200, "until the end");
    assert_int_equal(client.conn.fd, -1); /* that connection is spent */
    srv_finish();
}

/* The answer of test_chunked and test_interim_continue together, one byte
 * per segment. */
static void test_one_byte_writes(void **state)
{
    (void)state;
    check_single_answer(SRV_SEND_SLOW,
                        "HTTP/1.1 100 Continue\r\n\r\n"
                        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nRetry-After: 3\r\n\r\n"
                        "3;x=y\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n",
                        200, "abcdefg");
}

static void test_one_byte_writes_length(void **state)
{
    (void)state;
    check_single_answer(SRV_SEND_SLOW, "HTTP/1.1 202 Accepted\r\nContent-Length: 5\r\n\r\nbytes",
                        202, "bytes");
}

static void test_retry_after(void **state)
{
    (void)state;
    static const struct srv_step script[] = {
        ST_ACCEPT, ST_READ,
        ST_SEND("HTTP/1.1 503 Service Unavailable\r\nRetry-After: 7\r\nContent-Length: 0\r\n\r\n"),
        ST_READ,
        /* more seconds than are counted: the longest wait, not none */
        ST_SEND("HTTP/1.1 503 Service Unavailable\r\nRetry-After: 99999999999999999\r\n"
                "Content-Length: 0\r\n\r\n"),
        ST_END};
    srv_start(script);
    struct ts_http_response r;
    post(&r, 2000);
    assert_int_equal(r.status, 503);
    assert_int_equal(r.retry_after_s, 7);
    assert_int_equal(r.body_len, 0);
    post(&r, 2000);
    assert_int_equal(r.status, 503);
    assert_int_equal(r.retry_after_s, 3600);
    srv_finish();
}

/* Retry-After as a date (RFC 9110 allows either): the wait until then,
 * by this host's clock; a date passed or a value that is neither asks for
 * no wait. */
static void test_retry_after_date(void **state)
{
    (void)state;
    char ahead[160], passed[160];
    time_t now = time(NULL), later = now + 100, before = now - 100;
    struct tm tm;
    strftime(ahead, sizeof ahead,
             "HTTP/1.1 503 Service Unavailable\r\nRetry-After: %a, %d %b %Y %H:%M:%S GMT\r\n"
             "Content-Length: 0\r\n\r\n",
             gmtime_r(&later, &tm));
    strftime(passed, sizeof passed,
             "HTTP/1.1 429 Too Many Requests\r\nRetry-After: %a, %d %b %Y %H:%M:%S GMT\r\n"
             "Content-Length: 0\r\n\r\n",
             gmtime_r(&before, &tm));
    const struct srv_step script[] = {
        ST_ACCEPT, ST_READ, ST_SEND(ahead), ST_READ, ST_SEND(passed), ST_READ,
        ST_SEND("HTTP/1.1 503 Service Unavailable\r\nRetry-After: soon\r\n"
                "Content-Length: 0\r\n\r\n"),
        ST_END};
    srv_start(script);
    struct ts_http_response r;
    post(&r, 2000);
    assert_int_equal(r.status, 503);
    /* 100 s, less the seconds the clock may have turned since */
    assert_in_range(r.retry_after_s, 98, 100);
    post(&r, 2000);
    assert_int_equal(r.status, 429);
    assert_int_equal(r.retry_after_s, 0);
    post(&r, 2000);
    assert_int_equal(r.status, 503);
    assert_int_equal(r.retry_after_s, 0);
    srv_finish();
}

/* ------------------------------------------------------------- keep-alive */

static void test_connection_close_vs_keep_alive(void **state)
{
    (void)state;
    static const struct srv_step script[] = {
        ST_ACCEPT, ST_READ,
        ST_SEND("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nc1"),
        /* the server leaves it open: the client must not use it again */
        ST_ACCEPT, ST_READ,
        ST_SEND("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nc2"), /* 1.0 closes too */
        ST_ACCEPT, ST_READ, ST_SEND("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nk1"), ST_READ,
        ST_SEND("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nk2"), ST_END};
    srv_start(script);
    assert_answer(200, "c1");
    assert_answer(200, "c2");
    assert_answer(200, "k1");
    assert_answer(200, "k2");
    srv_finish();
    assert_int_equal(srv.accepts, 3);
    assert_int_equal(srv.nreqs, 4);
}

static void test_stale_keep_alive_retried(void **state)
{
    (void)state;
    static const struct srv_step script[] = {ST_ACCEPT, ST_READ, ST_SEND(OK_2), ST_CLOSE, ST_SIGNAL,
                                             ST_ACCEPT, ST_READ, ST_SEND(OK_2), ST_END};
    srv_start(script);
    assert_answer(200, "ok");
    int first_fd = client.conn.fd;
    assert_true(first_fd >= 0);
    srv_await_signal(); /* the server has closed the kept-alive connection */
    assert_answer(200, "ok");
    srv_finish();
    assert_int_equal(srv.accepts, 2);
    assert_int_equal(srv.nreqs, 2);
}

/* A fresh connection that dies is the answer: no second attempt. */
static void test_fresh_connection_not_retried(void **state)
{
    (void)state;
    static const struct srv_step script[] = {ST_ACCEPT, ST_READ, ST_CLOSE, ST_END};
    srv_start(script);
    struct ts_http_response r;
    post(&r, 2000);
    assert_int_equal(r.status, TS_HTTP_EIO);
    srv_finish();
    assert_int_equal(srv.accepts, 1);
}

/* The program closes the client's socket and opens a file that takes its
 * number: the client must notice, leave the file alone and reconnect. */
static void test_fd_taken_over_by_program(void **state)
{
    (void)state;
    static const struct srv_step script[] = {ST_ACCEPT, ST_READ,       ST_SEND(OK_2), ST_ACCEPT,
                                             ST_READ,   ST_SEND(OK_2), ST_END};
    srv_start(script);
    assert_answer(200, "ok");
    int fd = client.conn.fd;
    assert_true(fd >= 0);

    close(fd);
    char path[] = "/tmp/test_http_client_XXXXXX";
    int file = mkstemp(path);
    assert_true(file >= 0);
    unlink(path);
    if (file != fd) { /* normally the lowest free number is the one just freed */
        assert_int_equal(dup2(file, fd), fd);
        close(file);
    }
    assert_answer(200, "ok");
    assert_true(client.conn.fd >= 0);
    assert_int_not_equal(client.conn.fd, fd);

    /* closing the client must not close the program's file either */
    srv_finish();
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    assert_int_equal(st.st_size, 0);
    close(fd);
    assert_int_equal(srv.accepts, 2);
}

/* ------------------------------------------------------------- failures */

/* What a server sends on an idle kept-alive connection, after its last
 * answer (a 408, or a 503, before it closes it), answers no request: the
 * next one goes on a new connection, and gets its own answer. */
static void test_idle_answer_not_taken_for_the_next(void **state)
{
    (void)state;
    static const struct srv_step script[] = {
        ST_ACCEPT,
        ST_READ,
        ST_SEND(OK_2),
        ST_PAUSE,
        ST_SEND(
            "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"),
        ST_SIGNAL,
        ST_ACCEPT,
        ST_READ,
        ST_SEND(OK_2),
        ST_END};
    srv_start(script);
    assert_answer(200, "ok");
    srv_await_signal();
    usleep(20 * 1000); /* the 503 reaches the client's socket */
    assert_answer(200, "ok");
    srv_finish();
    assert_int_equal(srv.accepts, 2);
    assert_int_equal(srv.nreqs, 2);
}

/* Bytes past the end of an answer's body, in the same read or later: the
 * connection is not used again (the next request would read them as its
 * answer). */
static void test_bytes_after_the_body(void **state)
{
    (void)state;
    static const struct srv_step script[] = {
        ST_ACCEPT,
        ST_READ,
        ST_SEND(OK_2 "\r\n"), /* with the body */
        ST_ACCEPT,
        ST_READ,
        ST_SEND(OK_2),
        ST_PAUSE,
        ST_SEND("\r\n"),
        ST_SIGNAL, /* after it */
        ST_ACCEPT,
        ST_READ,
        ST_SEND("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                "2\r\nok\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n"),
        ST_ACCEPT,
        ST_READ,
        ST_SEND(OK_2),
        ST_END};
    srv_start(script);
    assert_answer(200, "ok");
    assert_answer(200, "ok");
    srv_await_signal();
    usleep(20 * 1000);
    assert_answer(200, "ok");
    assert_answer(200, "ok");
    srv_finish();
    assert_int_equal(srv.accepts, 4);
}

/* A POST of len zero bytes against script; its outcome and how long it
 * took (ms). */
/* Start the server on script with a small receive buffer (the accepted
 * connection inherits it): the client's large sends wait for room
 * whatever the host's TCP settings. */
static void srv_start_slow_reader(const struct srv_step *script)
{
    srv_start(script);
    setsockopt(srv.listen_fd, SOL_SOCKET, SO_RCVBUF, &(int){65536}, sizeof(int));
}

/* A POST of len zero bytes on the client as it is; its outcome and how
 * long it took (ms). */
static int post_zeros(size_t len, uint64_t *took, struct ts_http_response *r)
{
    char *body = calloc(1, len);
    assert_non_null(body);
    uint64_t t0 = ts_mono_ms();
    ts_http_request(&client, "POST", NULL, NULL, body, len, t0 + 20000, r);
    *took = ts_mono_ms() - t0;
    free(body);
    return r->status;
}

static int big_post(const struct srv_step *script, size_t len, uint64_t *took,
                    struct ts_http_response *r)
{
    srv_start_slow_reader(script);
    return post_zeros(len, took, r);
}

#define BIG_POST ((size_t)16 << 20) /* more than both ends' socket buffers hold */
#define ANSWER_413                                                                                 \
    "HTTP/1.1 413 Payload Too Large\r\nConnection: close\r\nContent-Length: 5\r\n\r\nlarge"

/* A collector that refuses a request before reading its body (413, 401)
 * and stops reading: its answer is the outcome, not a reset or a
 * timeout, and it comes as soon as it is sent; so too when it closes at
 * once (the answer is read after the reset). */
static void test_answer_before_the_body_is_taken(void **state)
{
    (void)state;
    static const struct srv_step holds[] = {ST_ACCEPT, ST_SEND(ANSWER_413), ST_SLEEP, ST_CLOSE,
                                            ST_END};
    static const struct srv_step closes[] = {ST_ACCEPT, ST_SEND(ANSWER_413), ST_CLOSE, ST_END};
    const struct srv_step *const scripts[] = {holds, closes};
    for (size_t i = 0; i < 2; i++) {
        struct ts_http_response r;
        uint64_t took;
        if (big_post(scripts[i], BIG_POST, &took, &r) != 413)
            fail_msg("script %zu: status %d (err %d), want 413", i, r.status, r.err);
        assert_body(&r, "large");
        if (took >= 900) /* the server holds it a second before it closes */
            fail_msg("script %zu: the answer was read after %llu ms", i, (unsigned long long)took);
        assert_int_equal(client.conn.fd, -1); /* the request was cut short: never used again */
        srv_finish();
        teardown(NULL);
        setup(NULL);
    }
}

/* What a server may send before it has read a large request and that is
 * not a refusal: an interim 100 Continue, or its success (some answer
 * first): the whole request still goes, and the answer is the outcome. */
static void test_early_interim_or_success_does_not_cut(void **state)
{
    (void)state;
    static const struct srv_step interim[] = {
        ST_ACCEPT, ST_SEND("HTTP/1.1 100 Continue\r\n\r\n"), ST_SLEEP, ST_READ_BIG, ST_SEND(OK_2),
        ST_END};
    static const struct srv_step success[] = {ST_ACCEPT, ST_SEND(OK_2), ST_SLEEP, ST_READ_BIG,
                                              ST_END};
    const struct srv_step *const scripts[] = {interim, success};
    for (size_t i = 0; i < 2; i++) {
        struct ts_http_response r;
        uint64_t took;
        if (big_post(scripts[i], BIG_POST, &took, &r) != 200)
            fail_msg("script %zu: status %d (err %d), want 200", i, r.status, r.err);
        assert_body(&r, "ok");
        srv_finish();
        assert_int_equal(srv.big_len, BIG_POST); /* all of it */
        teardown(NULL);
        setup(NULL);
    }
}

/* A success for a request the server did not take whole (it answered
 * early, then closed) is not a delivery: the batch is to be sent again.
 * Nor is an endless run of interim answers an answer. */
static void test_early_success_then_close_is_not_delivered(void **state)
{
    (void)state;
    static const struct srv_step script[] = {ST_ACCEPT, ST_SEND(OK_2), ST_CLOSE, ST_END};
    struct ts_http_response r;
    uint64_t took;
    assert_int_equal(big_post(script, BIG_POST, &took, &r), TS_HTTP_EIO);
    srv_finish();
    teardown(NULL);
    setup(NULL);
    static char interims[64 * 30];
    interims[0] = '\0';
    for (int i = 0; i < 17; i++)
        strcat(interims, "HTTP/1.1 100 Continue\r\n\r\n");
    const struct srv_step many[] = {ST_ACCEPT,     ST_READ, ST_SEND(interims),
                                    ST_SEND(OK_2), ST_HOLD, ST_END};
    srv_start(many);
    post(&r, 2000);
    assert_int_equal(r.status, TS_HTTP_EPROTO);
    srv_finish();
}

/* sendmsg that lets the server act on the kept-alive connection first
 * (srv.go, then 50 ms): after the client's look at the idle connection,
 * before its request goes. */
static ssize_t closing_first_sendmsg(int fd, const struct msghdr *m, int flags)
{
    if (sendmsg_calls++ == 0) {
        sem_post(&srv.go);
        usleep(50 * 1000);
    }
    return sendmsg_before(fd, m, flags);
}

/* An interim answer during a large request on a kept-alive connection,
 * then a close: the server answered, so it is not sent again at once on a
 * new connection (where, the script over, it would wait for its deadline). */
static void test_interim_during_the_send_then_close_not_retried(void **state)
{
    (void)state;
    static const struct srv_step script[] = {
        ST_ACCEPT, ST_READ,  ST_SEND(OK_2), ST_AWAIT, ST_SEND("HTTP/1.1 100 Continue\r\n\r\n"),
        ST_SLEEP,  ST_CLOSE, ST_END};
    srv_start_slow_reader(script);
    assert_answer(200, "ok");
    /* the 100 comes after the client's look at the idle connection, as the
     * request goes: it is read while the request waits for room */
    sendmsg_hook(closing_first_sendmsg);
    struct ts_http_response r;
    uint64_t took;
    post_zeros(BIG_POST, &took, &r);
    sendmsg_unhook();
    if (r.status != TS_HTTP_EIO)
        fail_msg("status %d (err %d), want EIO", r.status, r.err);
    assert_true(took < 10000);
    srv_finish();
    assert_int_equal(srv.accepts, 1);
}

/* A kept-alive connection the server closes as the request goes (after
 * the client's peek saw it alive): the request is sent once more on a new
 * connection. */
static void test_closed_as_the_request_goes_retried(void **state)
{
    (void)state;
    static const struct srv_step script[] = {ST_ACCEPT, ST_READ, ST_SEND(OK_2), ST_AWAIT, ST_CLOSE,
                                             ST_ACCEPT, ST_READ, ST_SEND(OK_2), ST_END};
    srv_start(script);
    assert_answer(200, "ok");
    sendmsg_hook(closing_first_sendmsg);
    struct ts_http_response r;
    post(&r, 2000);
    sendmsg_unhook();
    if (r.status != 200)
        fail_msg("status %d (err %d), want 200", r.status, r.err);
    srv_finish();
    assert_int_equal(srv.accepts, 2);
    assert_int_equal(srv.nreqs, 2);
}

/* A chunk-size line with extensions longer than 64 bytes, in two reads:
 * taken as when it comes whole; one longer than 4 KiB is refused. */
static void test_long_chunk_extension_in_parts(void **state)
{
    (void)state;
    static char head[256], tail[8192];
    snprintf(head, sizeof head,
             "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;name=%0100d", 0);
    snprintf(tail, sizeof tail, "%s", "\r\nok\r\n0\r\n\r\n");
    const struct srv_step script[] = {ST_ACCEPT, ST_READ,       ST_SEND(head),
                                      ST_PAUSE,  ST_SEND(tail), ST_END};
    srv_start(script);
    assert_answer(200, "ok");
    srv_finish();
    teardown(NULL);
    setup(NULL);
    /* past 4 KiB, whole or in parts: refused */
    static char huge[8192];
    snprintf(huge, sizeof huge, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;x=%05000d",
             0);
    const struct srv_step refused[] = {ST_ACCEPT,     ST_READ, ST_SEND(huge), ST_PAUSE,
                                       ST_SEND(tail), ST_HOLD, ST_END};
    srv_start(refused);
    struct ts_http_response r;
    post(&r, 2000);
    assert_int_equal(r.status, TS_HTTP_EPROTO);
    srv_finish();
}

/* The status of a second POST (allowed timeout_ms) after one answered
 * "ok" on the kept-alive connection, the server's script played whole. */
static int second_post_status(const struct srv_step *script, uint64_t timeout_ms)
{
    srv_start(script);
    assert_answer(200, "ok");
    struct ts_http_response r;
    post(&r, timeout_ms);
    srv_finish();
    return r.status;
}

/* A deadline already passed sends nothing, even on a kept-alive
 * connection: sent, the batch would be delivered and counted as failed. */
static void test_deadline_passed_sends_nothing(void **state)
{
    (void)state;
    static const struct srv_step script[] = {ST_ACCEPT, ST_READ, ST_SEND(OK_2), ST_HOLD, ST_END};
    assert_int_equal(second_post_status(script, 0), TS_HTTP_ETIMEOUT);
    assert_int_equal(srv.held, 0);
}

/* An interim answer and then a close, on a kept-alive connection: the
 * server answered, so the request is not sent again on a new one. */
static void test_continue_then_close_not_retried(void **state)
{
    (void)state;
    static const struct srv_step script[] = {
        ST_ACCEPT, ST_READ, ST_SEND(OK_2), ST_READ, ST_SEND("HTTP/1.1 100 Continue\r\n\r\n"),
        ST_CLOSE,  ST_END};
    /* sent again on a new connection, it would wait for an answer that
     * never comes (the script is over): a timeout, not EIO */
    assert_int_equal(second_post_status(script, 1000), TS_HTTP_EIO);
}

/* A 408 to a request on a kept-alive connection (the server timed the
 * connection out as the request went): sent once more, on a new one. */
static void test_408_on_a_kept_alive_connection_retried(void **state)
{
    (void)state;
    static const struct srv_step script[] = {
        ST_ACCEPT,
        ST_READ,
        ST_SEND(OK_2),
        ST_READ,
        ST_SEND("HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"),
        ST_ACCEPT,
        ST_READ,
        ST_SEND(OK_2),
        ST_END};
    srv_start(script);
    assert_answer(200, "ok");
    assert_answer(200, "ok");
    srv_finish();
    assert_int_equal(srv.accepts, 2);
    assert_int_equal(srv.nreqs, 3);
}

static void test_connection_refused(void **state)
{
    (void)state;
    uint16_t port;
    int fd = listen_loopback(&port, false); /* bound, not listening: RST */
    client_init(port);
    struct ts_http_response r;
    uint64_t t0 = ts_mono_ms();
    post(&r, 3000);
    uint64_t took = ts_mono_ms() - t0;
    close(fd);
    assert_int_equal(r.status, TS_HTTP_ECONNECT);
    assert_int_equal(r.err, ECONNREFUSED);
    assert_true(took < 500);
    assert_int_equal(client.conn.fd, -1);
}

static void test_no_answer_times_out(void **state)
{
    (void)state;
    static const struct srv_step script[] = {
        ST_ACCEPT, ST_READ, ST_SEND("HTTP/1.1 200 OK\r\nContent-Len"), /* and then nothing */
        ST_HOLD, ST_END};
    srv_start(script);
    struct ts_http_response r;
    uint64_t deadline = ts_mono_ms() + 300;
    ts_http_request(&client, "POST", NULL, NULL, "x", 1, deadline, &r);
    uint64_t end = ts_mono_ms();
    assert_int_equal(r.status, TS_HTTP_ETIMEOUT);
    assert_true(end >= deadline);
    if (end > deadline + 100)
        fail_msg("timed out %llu ms after the deadline", (unsigned long long)(end - deadline));
    assert_int_equal(client.conn.fd, -1); /* the half-answered connection is dropped */
    srv_finish();
}

static void test_hostile_answers(void **state)
{
    (void)state;
    static const char *const answers[] = {
        "SSH-2.0-OpenSSH_9.2\r\n",
        "NO\n", /* short, and nothing follows: known at its first byte */
        "HTTP/2 200\r\n\r\n",
        "HTTP/1.1 2x0 OK\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 2000000\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX\r\n0\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof answers / sizeof answers[0]; i++) {
        const struct srv_step script[] = {ST_ACCEPT, ST_READ, ST_SEND(answers[i]),
                                          ST_HOLD, /* the client must give up by itself */
                                          ST_END};
        srv_start(script);
        struct ts_http_response r;
        post(&r, 2000);
        if (r.status != TS_HTTP_EPROTO)
            fail_msg("answer %zu: status %d, want EPROTO", i, r.status);
        assert_int_equal(client.conn.fd, -1);
        srv_finish();
        /* a fresh server and client for the next answer */
        teardown(NULL);
        setup(NULL);
    }
}

/* A head that cannot be built is refused before any connection is made. */
static void test_head_too_large(void **state)
{
    (void)state;
    uint16_t port;
    int fd = listen_loopback(&port, false); /* a connect would be refused */
    client_init(port);
    static char extra[12000]; /* past the head buffer: 2048 + TS_CFG_HEADERS */
    for (size_t i = 0; i + 12 < sizeof extra; i += 12)
        memcpy(extra + i, "X-Pad: 1234\r\n", 13);
    struct ts_http_response r;
    post(&r, 2000);
    assert_int_equal(r.status, TS_HTTP_ECONNECT);
    ts_http_request(&client, "POST", NULL, extra, "x", 1, ts_mono_ms() + 2000, &r);
    close(fd);
    assert_int_equal(r.status, TS_HTTP_EPROTO);
}

/* ------------------------------------------------------------- describe */

static void test_describe(void **state)
{
    (void)state;
    static const struct {
        int status, err;
        const char *want;
    } cases[] = {
        {TS_HTTP_ECONNECT, ECONNREFUSED, "cannot connect: Connection refused"},
        {TS_HTTP_ETIMEOUT, 0, "timed out"},
        {TS_HTTP_EIO, ECONNRESET, "connection failed: Connection reset by peer"},
        {TS_HTTP_EPROTO, 0, "answer is not HTTP/1.x or too large"},
        {503, 0, "HTTP 503"},
        {200, 0, "HTTP 200"},
    };
    char buf[128];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct ts_http_response r = {.status = cases[i].status, .err = cases[i].err};
        assert_ptr_equal(ts_http_describe(&r, buf, sizeof buf), buf);
        assert_string_equal(buf, cases[i].want);
    }
    /* a short buffer is cut, never overrun */
    char small[6];
    struct ts_http_response r = {.status = TS_HTTP_EPROTO};
    assert_string_equal(ts_http_describe(&r, small, sizeof small), "answe");
}

int main(void)
{
    ts_real_resolve(); /* no preloaded library here: fill the table up front */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_request_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_host_and_agent_given, setup, teardown),
        cmocka_unit_test_setup_teardown(test_large_body_short_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_content_length, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chunked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chunked_in_parts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_content, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interim_continue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_delimited, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_byte_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_byte_writes_length, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_after, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_after_date, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_close_vs_keep_alive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_keep_alive_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fresh_connection_not_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fd_taken_over_by_program, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_answer_not_taken_for_the_next, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bytes_after_the_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_answer_before_the_body_is_taken, setup, teardown),
        cmocka_unit_test_setup_teardown(test_early_interim_or_success_does_not_cut, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_early_success_then_close_is_not_delivered, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_interim_during_the_send_then_close_not_retried, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_closed_as_the_request_goes_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_chunk_extension_in_parts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deadline_passed_sends_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_continue_then_close_not_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_408_on_a_kept_alive_connection_retried, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_connection_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_answer_times_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_answers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_head_too_large, setup, teardown),
        cmocka_unit_test_setup_teardown(test_describe, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
