/*
 * percall — the cost of one read/write call, for the benchmarks.
 *
 *   percall [--after-span] CALLS REPETITIONS [KIND...]
 *
 * KIND is one of
 *   pipe      write 1 byte / read 1 byte on a pipe             (untracked fd)
 *   file      write 1 byte N times, then read them back, on a
 *             regular file in $TMPDIR                          (untracked fd)
 *   tcp-raw   write 1 byte / read 1 byte on a connected TCP pair over
 *             127.0.0.1; the shim tracks the sockets (connect/accept) and
 *             gives up on them once it has seen bytes that are not HTTP
 *   http      one whole keep-alive HTTP/1.1 exchange on the same kind of
 *             pair: the client writes a GET, the server reads it and
 *             answers 200, the client reads the answer; traced, that is a
 *             client span and a server span per exchange
 * (default: all four). For each KIND it times CALLS calls (for http: CALLS
 * exchanges), REPETITIONS times, and prints one line
 *   KIND <median ns> <min ns> <calls per repetition> <median CPU ns>
 * (wall-clock ns per call, then process CPU ns per call, all threads),
 * where "per call" is per read or write for the first three and per
 * exchange for http. The same binary is run with and without LD_PRELOAD by
 * bench/run.sh; the difference is what the shim costs.
 *
 * A warm-up repetition runs first and is not counted: the shim's lazy
 * set-up (and the page cache for the file) should not be billed to a call.
 *
 * --after-span: one HTTP exchange before anything is measured. Under the
 * shim it makes the first spans, which start the reporter thread: the
 * state of every traced program from its first request on. Without it, a
 * process that has made no span has no reporter thread, and its calls
 * miss what a second thread costs them (glibc's cancellation bracket).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint64_t clock_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* A connected TCP pair over loopback, made with the interposed calls
 * (socket, connect, accept) so a preloaded shim sees and tracks both ends. */
static void make_tcp_pair(int *client_fd, int *server_fd)
{
    int listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET,
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t length = sizeof address;
    if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&address, sizeof address) != 0 ||
        listen(listen_fd, 1) != 0 ||
        getsockname(listen_fd, (struct sockaddr *)&address, &length) != 0) {
        die("percall: listen");
    }
    *client_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (*client_fd < 0 || connect(*client_fd, (struct sockaddr *)&address, sizeof address) != 0) {
        die("percall: connect");
    }
    *server_fd = accept(listen_fd, NULL, NULL);
    if (*server_fd < 0) {
        die("percall: accept");
    }
    /* Small writes must not wait for Nagle's algorithm, or the timing is
     * the delayed-ACK timer's and not the calls'. */
    int enable = 1;
    setsockopt(*client_fd, IPPROTO_TCP, TCP_NODELAY, &enable, sizeof enable);
    setsockopt(*server_fd, IPPROTO_TCP, TCP_NODELAY, &enable, sizeof enable);
    close(listen_fd);
}

/* write 1 byte then read it back on the other end, CALLS/2 times. */
static void ping_one_byte(int write_fd, int read_fd, long calls)
{
    /* A zero byte: no HTTP method starts with it, so the shim can decide
     * "not HTTP" at once on a socket. */
    char byte = 0;
    for (long i = 0; i < calls / 2; i++) {
        if (write(write_fd, &byte, 1) != 1 || read(read_fd, &byte, 1) != 1) {
            die("percall: ping");
        }
    }
}

static void file_round(int file_fd, long calls)
{
    char byte = 'x';
    if (ftruncate(file_fd, 0) != 0 || lseek(file_fd, 0, SEEK_SET) != 0) {
        die("percall: truncate");
    }
    for (long i = 0; i < calls / 2; i++) {
        if (write(file_fd, &byte, 1) != 1) {
            die("percall: file write");
        }
    }
    if (lseek(file_fd, 0, SEEK_SET) != 0) {
        die("percall: lseek");
    }
    for (long i = 0; i < calls / 2; i++) {
        if (read(file_fd, &byte, 1) != 1) {
            die("percall: file read");
        }
    }
}

/* Reads until the end of an HTTP head; the head has no body. */
static void read_head(int fd, const char *what)
{
    char buffer[8192];
    size_t have = 0;
    for (;;) {
        ssize_t got = read(fd, buffer + have, sizeof buffer - have);
        if (got <= 0) {
            die(what);
        }
        have += (size_t)got;
        if (memmem(buffer, have, "\r\n\r\n", 4) != NULL) {
            return;
        }
        if (have == sizeof buffer) {
            fprintf(stderr, "percall: %s: head too large\n", what);
            exit(1);
        }
    }
}

static void http_exchanges(int client_fd, int server_fd, long exchanges)
{
    static const char request[] = "GET /bench HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    static const char response[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    for (long i = 0; i < exchanges; i++) {
        if (write(client_fd, request, sizeof request - 1) != (ssize_t)(sizeof request - 1)) {
            die("percall: request write");
        }
        read_head(server_fd, "percall: request read");
        if (write(server_fd, response, sizeof response - 1) != (ssize_t)(sizeof response - 1)) {
            die("percall: response write");
        }
        read_head(client_fd, "percall: response read");
    }
}

struct fixture {
    int pipe_fds[2];
    int file_fd;
    int raw_client, raw_server;
    int http_client, http_server;
};

static void run_kind(const char *kind, struct fixture *fixture, long calls)
{
    if (strcmp(kind, "pipe") == 0) {
        ping_one_byte(fixture->pipe_fds[1], fixture->pipe_fds[0], calls);
    } else if (strcmp(kind, "file") == 0) {
        file_round(fixture->file_fd, calls);
    } else if (strcmp(kind, "tcp-raw") == 0) {
        ping_one_byte(fixture->raw_client, fixture->raw_server, calls);
    } else if (strcmp(kind, "http") == 0) {
        http_exchanges(fixture->http_client, fixture->http_server, calls);
    } else {
        fprintf(stderr, "percall: unknown kind %s\n", kind);
        exit(2);
    }
}

int main(int argc, char **argv)
{
    bool after_span = argc > 1 && strcmp(argv[1], "--after-span") == 0;
    if (after_span) {
        argv++;
        argc--;
    }
    if (argc < 3) {
        fprintf(stderr, "usage: percall [--after-span] CALLS REPETITIONS [pipe|file|tcp-raw|http...]\n");
        return 2;
    }
    long calls = strtol(argv[1], NULL, 10);
    int repetitions = atoi(argv[2]);
    if (calls < 2 || repetitions < 1 || repetitions > 1000) {
        fprintf(stderr, "percall: CALLS >= 2, 1 <= REPETITIONS <= 1000\n");
        return 2;
    }
    static const char *const all_kinds[] = {"pipe", "file", "tcp-raw", "http"};
    const char *const *kinds = argc > 3 ? (const char *const *)argv + 3 : all_kinds;
    int kind_count = argc > 3 ? argc - 3 : 4;

    struct fixture fixture;
    if (pipe(fixture.pipe_fds) != 0) {
        die("percall: pipe");
    }
    const char *temporary_directory = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char file_path[4096];
    snprintf(file_path, sizeof file_path, "%s/percall-XXXXXX", temporary_directory);
    fixture.file_fd = mkstemp(file_path);
    if (fixture.file_fd < 0) {
        die("percall: mkstemp");
    }
    unlink(file_path);
    make_tcp_pair(&fixture.raw_client, &fixture.raw_server);
    make_tcp_pair(&fixture.http_client, &fixture.http_server);
    if (after_span)
        http_exchanges(fixture.http_client, fixture.http_server, 1);

    /* Wall time shows what the calling thread waits; process CPU time
     * (all threads) also counts what the shim's reporter thread spends on
     * the other core encoding and writing spans. */
    double per_call_ns[1000], cpu_per_call_ns[1000];
    for (int k = 0; k < kind_count; k++) {
        run_kind(kinds[k], &fixture, calls < 1000 ? calls : 1000); /* warm-up */
        for (int r = 0; r < repetitions; r++) {
            uint64_t start = clock_ns(CLOCK_MONOTONIC);
            uint64_t cpu_start = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
            run_kind(kinds[k], &fixture, calls);
            uint64_t cpu_elapsed = clock_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu_start;
            uint64_t elapsed = clock_ns(CLOCK_MONOTONIC) - start;
            long counted = strcmp(kinds[k], "http") == 0 ? calls : calls / 2 * 2;
            per_call_ns[r] = (double)elapsed / (double)counted;
            cpu_per_call_ns[r] = (double)cpu_elapsed / (double)counted;
        }
        qsort(per_call_ns, (size_t)repetitions, sizeof per_call_ns[0], compare_doubles);
        qsort(cpu_per_call_ns, (size_t)repetitions, sizeof cpu_per_call_ns[0], compare_doubles);
        printf("%s %.1f %.1f %ld %.1f\n", kinds[k], per_call_ns[repetitions / 2], per_call_ns[0],
               calls, cpu_per_call_ns[repetitions / 2]);
        fflush(stdout);
    }
    return 0;
}
