/* interleave: HTTP load on several servers in turn, a short block of time
 * each, and the throughput and latency of each.
 *
 *   interleave CONNECTIONS SECONDS BLOCK_MS NAME=PORT[/PATH]...
 *
 * Why not wrk against each server in turn: on a machine whose cores are
 * shared with other tenants, an untraced server's req/s differed by up to
 * 50% from one second to the next, and the p99 of two wrk -c1 runs a
 * minute apart by 62-304% (bench/PROFILE.md): more than the few percent,
 * or the 20 µs per hop, being measured. Here every server is up for the
 * whole run and the load moves from one to the next every BLOCK_MS, so a
 * slow moment of the machine falls on all of them alike and their figures
 * compare.
 *
 * Each server gets CONNECTIONS keep-alive connections on 127.0.0.1. In its
 * block, every connection has one request in flight at a time ("GET PATH
 * HTTP/1.1", the next sent when the whole answer is in: a closed loop, as
 * wrk's); when the block's time is up no new request is sent, and the
 * block ends with the last answer. An answer needs a Content-Length
 * (nginx's and tinyhttpd's have one). The order of the servers turns by one
 * every cycle, so that none always comes right after the same other. Each
 * server's first block is a warm-up and not counted.
 *
 * Prints one line per server: NAME, answers counted, answers per second of
 * its blocks, p50, p90, p99 and p99.9 latency in µs (nearest rank), and
 * errors (answers not 2xx, connections lost). Exits 1 when a server cannot
 * be reached or a connection is lost twice in a row. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_TARGETS 8
#define MAX_CONNECTIONS 256
#define ANSWER_BUF 16384

struct connection {
    int fd;
    struct target *target;
    uint64_t sent_ns;   /* 0: no request in flight */
    size_t have;        /* bytes of the answer read so far */
    size_t answer_len;  /* the whole answer's length once its head is in, else 0 */
    unsigned failures;  /* in a row */
    char buf[ANSWER_BUF];
};

struct target {
    const char *name;
    int port;
    char request[512];
    size_t request_len;
    struct connection *conns;
    uint64_t *ns;
    size_t count, cap;
    uint64_t busy_ns; /* the time of its counted blocks */
    unsigned errors;
};

static int epfd;
static int connections;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what, const struct target *t)
{
    fprintf(stderr, "interleave: %s (port %d): %s\n", t->name, t->port, what);
    exit(1);
}

static void open_connection(struct connection *c)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)c->target->port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    if (c->fd < 0 || setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0 ||
        connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        die(strerror(errno), c->target);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0)
        die(strerror(errno), c->target);
}

static void send_request(struct connection *c)
{
    c->have = 0;
    c->answer_len = 0;
    c->sent_ns = now_ns();
    /* A request this small always fits the socket's buffer: the peer has
     * answered every earlier one. */
    if (send(c->fd, c->target->request, c->target->request_len, MSG_NOSIGNAL) !=
        (ssize_t)c->target->request_len)
        die("send failed", c->target);
}

static void record(struct target *t, uint64_t ns)
{
    if (t->count == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 65536;
        t->ns = realloc(t->ns, t->cap * sizeof *t->ns);
        if (!t->ns)
            die("out of memory", t);
    }
    t->ns[t->count++] = ns;
}

/* The length of the answer whose head is C's first HEAD_LEN bytes, or 0
 * when it is not one these servers send (no status, no Content-Length). */
static size_t answer_length(struct connection *c, size_t head_len, int *status)
{
    if (sscanf(c->buf, "HTTP/1.%*d %d", status) != 1)
        return 0;
    static const char name[] = "\r\ncontent-length:";
    for (size_t i = 0; i + sizeof name - 1 <= head_len; i++) {
        if (strncasecmp(c->buf + i, name, sizeof name - 1) != 0)
            continue;
        char *end;
        long body = strtol(c->buf + i + sizeof name - 1, &end, 10);
        return body < 0 ? 0 : head_len + (size_t)body;
    }
    return 0;
}

/* A lost connection: opened again, its request counted as an error. */
static void lost(struct connection *c)
{
    struct target *t = c->target;
    t->errors++;
    if (++c->failures >= 2)
        die("the connection was lost twice in a row", t);
    (void)epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    open_connection(c);
    c->sent_ns = 0;
}

/* Reads what C's answer has for it. Returns true when the answer is
 * complete (or the connection was lost): C has no request in flight. */
static bool read_answer(struct connection *c, bool counted)
{
    char *buf = c->buf;
    ssize_t n = recv(c->fd, buf + c->have, sizeof c->buf - 1 - c->have, 0);
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return false;
        lost(c);
        return true;
    }
    c->have += (size_t)n;
    if (!c->answer_len) {
        buf[c->have] = '\0';
        char *head_end = strstr(buf, "\r\n\r\n");
        if (!head_end) {
            if (c->have == sizeof c->buf - 1)
                die("an answer's head does not fit 16 KiB", c->target);
            return false;
        }
        int status = 0;
        c->answer_len = answer_length(c, (size_t)(head_end + 4 - buf), &status);
        if (!c->answer_len)
            die("an answer without a status or a Content-Length", c->target);
        if (status < 200 || status > 299)
            c->target->errors++;
    }
    /* The body goes through the buffer's space after the head; only its
     * length matters. */
    if (c->have < c->answer_len) {
        if (c->have == sizeof c->buf - 1) {
            c->answer_len -= c->have;
            c->have = 0;
        }
        return false;
    }
    if (c->have > c->answer_len)
        die("more bytes than the answer's length (no request was pipelined)", c->target);
    if (counted)
        record(c->target, now_ns() - c->sent_ns);
    c->failures = 0;
    c->sent_ns = 0;
    return true;
}

/* One block of load on T: every connection keeps a request in flight until
 * BLOCK_NS has passed, then the answers still due are read. */
static void run_block(struct target *t, uint64_t block_ns, bool counted)
{
    uint64_t start = now_ns(), end = start + block_ns;
    int in_flight = 0;
    for (int i = 0; i < connections; i++) {
        send_request(&t->conns[i]);
        in_flight++;
    }
    struct epoll_event events[64];
    while (in_flight > 0) {
        int n = epoll_wait(epfd, events, 64, 5000);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            die("no answer within 5 s", t);
        for (int k = 0; k < n; k++) {
            struct connection *c = events[k].data.ptr;
            if (c->target != t || !c->sent_ns)
                die("bytes from a server with no request in flight", c->target);
            if (!read_answer(c, counted))
                continue;
            if (now_ns() < end)
                send_request(c);
            else
                in_flight--;
        }
    }
    if (counted)
        t->busy_ns += now_ns() - start;
}

static int by_value(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static double percentile_us(const struct target *t, double p)
{
    size_t rank = (size_t)(p / 100.0 * (double)t->count + 0.999999);
    rank = rank < 1 ? 1 : rank > t->count ? t->count : rank;
    return (double)t->ns[rank - 1] / 1000.0;
}

static void parse_target(struct target *t, char *arg)
{
    char *eq = strchr(arg, '=');
    char *path = eq ? strchr(eq, '/') : NULL;
    if (path)
        *path = '\0';
    t->port = eq ? atoi(eq + 1) : 0;
    if (!eq || eq == arg || t->port <= 0 || t->port > 65535) {
        fprintf(stderr, "interleave: '%s' is not NAME=PORT[/PATH]\n", arg);
        exit(2);
    }
    *eq = '\0';
    t->name = arg;
    if (path)
        *path = '/';
    int len = snprintf(t->request, sizeof t->request, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                       path ? path : "/");
    if (len < 0 || (size_t)len >= sizeof t->request) {
        fprintf(stderr, "interleave: %s: the path is too long\n", t->name);
        exit(2);
    }
    t->request_len = (size_t)len;
}

int main(int argc, char **argv)
{
    if (argc < 5 || argc - 4 > MAX_TARGETS) {
        fprintf(stderr, "usage: interleave CONNECTIONS SECONDS BLOCK_MS NAME=PORT[/PATH]... (at most %d)\n",
                MAX_TARGETS);
        return 2;
    }
    connections = atoi(argv[1]);
    double seconds = atof(argv[2]);
    long block_ms = atol(argv[3]);
    if (connections < 1 || connections > MAX_CONNECTIONS || seconds <= 0 || block_ms <= 0) {
        fprintf(stderr, "interleave: CONNECTIONS must be 1-%d, SECONDS and BLOCK_MS positive\n",
                MAX_CONNECTIONS);
        return 2;
    }
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) {
        perror("interleave: epoll_create1");
        return 1;
    }
    static struct target targets[MAX_TARGETS];
    int n = argc - 4;
    for (int i = 0; i < n; i++) {
        struct target *t = &targets[i];
        parse_target(t, argv[i + 4]);
        t->conns = calloc((size_t)connections, sizeof *t->conns);
        if (!t->conns)
            die("out of memory", t);
        for (int k = 0; k < connections; k++) {
            t->conns[k].target = t;
            open_connection(&t->conns[k]);
        }
    }
    uint64_t block_ns = (uint64_t)block_ms * 1000000u;
    for (int i = 0; i < n; i++)
        run_block(&targets[i], block_ns, false); /* warm-up */
    uint64_t end = now_ns() + (uint64_t)(seconds * 1e9);
    for (unsigned cycle = 0; now_ns() < end; cycle++)
        for (int k = 0; k < n; k++)
            run_block(&targets[(cycle + (unsigned)k) % (unsigned)n], block_ns, true);

    for (int i = 0; i < n; i++) {
        struct target *t = &targets[i];
        if (t->count == 0) {
            printf("%s\t0\t-\t-\t-\t-\t-\t%u\n", t->name, t->errors);
            continue;
        }
        qsort(t->ns, t->count, sizeof *t->ns, by_value);
        printf("%s\t%zu\t%.0f\t%.1f\t%.1f\t%.1f\t%.1f\t%u\n", t->name, t->count,
               (double)t->count * 1e9 / (double)t->busy_ns, percentile_us(t, 50), percentile_us(t, 90),
               percentile_us(t, 99), percentile_us(t, 99.9), t->errors);
    }
    return 0;
}
