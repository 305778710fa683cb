/* interleave_latency: one request at a time to several HTTP servers in
 * turn, a short block of time each, and the latency percentiles of each.
 *
 *   interleave_latency SECONDS BLOCK_MS NAME=PORT...
 *
 * Why not wrk -c1 against each server in turn: on a machine whose cores
 * are shared with other tenants, the untraced p99 of two wrk runs a minute
 * apart differed by 62-304% (PROFILE.md), far more than the 20 µs per hop
 * being measured. Here every server is up for the whole run and the client
 * moves from one to the next every BLOCK_MS, so a slow second of the
 * machine falls on all of them alike and their percentiles compare.
 *
 * Each server gets one keep-alive connection on 127.0.0.1 and the request
 * "GET / HTTP/1.1"; an answer needs a Content-Length (tinyhttpd's and
 * nginx's do). The first 200 answers of each server are not counted (warm
 * caches, the first span file write). The order of the servers turns by
 * one every cycle, so that none always comes right after the same other.
 *
 * Prints one line per server: NAME, answers counted, p50, p90, p99 and
 * p99.9 in µs, and errors (answers not 2xx, or a connection lost). Exits 1
 * when a server cannot be reached or a connection fails twice in a row. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define WARMUP 200
#define MAX_TARGETS 8

struct target {
    const char *name;
    int port;
    int fd;
    uint64_t *ns;
    size_t count, cap;
    unsigned errors;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* The value of a Content-Length header in HEAD (LEN bytes, ending with the
 * blank line), or -1 without one. */
static long content_length(const char *head, size_t len)
{
    static const char name[] = "\r\ncontent-length:";
    for (size_t i = 0; i + sizeof name - 1 <= len; i++) {
        if (strncasecmp(head + i, name, sizeof name - 1) != 0)
            continue;
        const char *p = head + i + sizeof name - 1;
        while (*p == ' ' || *p == '\t')
            p++;
        char *end;
        long value = strtol(p, &end, 10);
        return end == p || value < 0 ? -1 : value;
    }
    return -1;
}

/* One request and its whole answer on T's connection. Returns its status
 * code, or -1 when the connection failed. */
static int one_request(struct target *t)
{
    static const char request[] = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    if (send(t->fd, request, sizeof request - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof request - 1))
        return -1;
    char buf[16384];
    size_t have = 0;
    char *head_end = NULL;
    while (!head_end) {
        if (have == sizeof buf - 1)
            return -1; /* a head this large is not what these servers send */
        ssize_t n = recv(t->fd, buf + have, sizeof buf - 1 - have, 0);
        if (n <= 0)
            return -1;
        have += (size_t)n;
        buf[have] = '\0';
        head_end = strstr(buf, "\r\n\r\n");
    }
    size_t head_len = (size_t)(head_end + 4 - buf);
    int status = 0;
    if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
        return -1;
    long body = content_length(buf, head_len);
    if (body < 0)
        return -1;
    size_t left = (size_t)body > have - head_len ? (size_t)body - (have - head_len) : 0;
    while (left > 0) {
        ssize_t n = recv(t->fd, buf, left < sizeof buf ? left : sizeof buf, 0);
        if (n <= 0)
            return -1;
        left -= (size_t)n;
    }
    return status;
}

/* One request, timed; a failed connection is opened again once. */
static int timed_request(struct target *t, uint64_t *ns)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        uint64_t start = now_ns();
        int status = one_request(t);
        *ns = now_ns() - start;
        if (status >= 0)
            return status;
        t->errors++;
        close(t->fd);
        t->fd = connect_to(t->port);
        if (t->fd < 0)
            break;
    }
    fprintf(stderr, "interleave_latency: %s (port %d): the connection failed twice\n", t->name, t->port);
    exit(1);
}

static void record(struct target *t, uint64_t ns)
{
    if (t->count == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 65536;
        t->ns = realloc(t->ns, t->cap * sizeof *t->ns);
        if (!t->ns) {
            perror("interleave_latency: realloc");
            exit(1);
        }
    }
    t->ns[t->count++] = ns;
}

static int by_value(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* The nearest-rank percentile P (0-100) of T's sorted samples, in µs. */
static double percentile_us(const struct target *t, double p)
{
    size_t rank = (size_t)(p / 100.0 * (double)t->count + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > t->count)
        rank = t->count;
    return (double)t->ns[rank - 1] / 1000.0;
}

int main(int argc, char **argv)
{
    if (argc < 4 || argc - 3 > MAX_TARGETS) {
        fprintf(stderr, "usage: interleave_latency SECONDS BLOCK_MS NAME=PORT... (at most %d)\n", MAX_TARGETS);
        return 2;
    }
    double seconds = atof(argv[1]);
    long block_ms = atol(argv[2]);
    if (seconds <= 0 || block_ms <= 0) {
        fprintf(stderr, "interleave_latency: SECONDS and BLOCK_MS must be positive\n");
        return 2;
    }
    struct target targets[MAX_TARGETS] = {{0}};
    int n = argc - 3;
    for (int i = 0; i < n; i++) {
        char *eq = strchr(argv[i + 3], '=');
        targets[i].port = eq ? atoi(eq + 1) : 0;
        if (!eq || targets[i].port <= 0 || targets[i].port > 65535) {
            fprintf(stderr, "interleave_latency: '%s' is not NAME=PORT\n", argv[i + 3]);
            return 2;
        }
        *eq = '\0';
        targets[i].name = argv[i + 3];
        targets[i].fd = connect_to(targets[i].port);
        if (targets[i].fd < 0) {
            fprintf(stderr, "interleave_latency: %s: cannot connect to 127.0.0.1:%d: %s\n", targets[i].name,
                    targets[i].port, strerror(errno));
            return 1;
        }
    }
    uint64_t ns;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < WARMUP; k++)
            (void)timed_request(&targets[i], &ns);

    uint64_t block = (uint64_t)block_ms * 1000000u;
    uint64_t end = now_ns() + (uint64_t)(seconds * 1e9);
    for (unsigned cycle = 0; now_ns() < end; cycle++) {
        for (int k = 0; k < n; k++) {
            struct target *t = &targets[(cycle + (unsigned)k) % (unsigned)n];
            uint64_t block_end = now_ns() + block;
            do {
                int status = timed_request(t, &ns);
                if (status < 200 || status > 299)
                    t->errors++;
                else
                    record(t, ns);
            } while (now_ns() < block_end);
        }
    }
    for (int i = 0; i < n; i++) {
        struct target *t = &targets[i];
        if (t->count == 0) {
            printf("%s\t0\t-\t-\t-\t-\t%u\n", t->name, t->errors);
            continue;
        }
        qsort(t->ns, t->count, sizeof *t->ns, by_value);
        printf("%s\t%zu\t%.1f\t%.1f\t%.1f\t%.1f\t%u\n", t->name, t->count, percentile_us(t, 50),
               percentile_us(t, 90), percentile_us(t, 99), percentile_us(t, 99.9), t->errors);
        close(t->fd);
        free(t->ns);
    }
    return 0;
}
