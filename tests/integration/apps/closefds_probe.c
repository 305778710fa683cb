/* closefds_probe.c — a program that closes or replaces every fd it did not
 * open itself, the shim's included, and goes on making traced requests, for
 * test_hostile.py.
 *
 *   closefds_probe PORT SPANS_FILE OUTDIR
 *
 * Four phases, each: three traced GETs (/PHASE/0..2, a connection each) to
 * 127.0.0.1:PORT; a pause, so that an export is on its way (the test's
 * collector answers slowly); then the fds the probe does not hold — the
 * shim's: span file, exporter sockets — are found in /proc/self/fd and
 *   range  closed with close_range(3, ~0U, 0),
 *   from   closed with closefrom(3) (glibc closes them without calling
 *          close or close_range through the symbol table),
 *   each   closed one by one (close(fd) for every fd up to the highest),
 *   dup2   replaced: dup2 of a program file over the span file's number,
 *          of one end of a socketpair over each other number of the shim's.
 * Right after (range, from, each), the program opens fds until every one of the
 * shim's old numbers is the program's: regular files OUTDIR/PHASE-N (its
 * marker written in), and socketpairs (a marker sent each way). Three more
 * traced GETs (/PHASE/3..5) follow; the probe waits until their spans are
 * in SPANS_FILE (bounded), gives the slow collector time to answer, and
 * then reads each socketpair end: it must hold exactly the peer's marker
 * (the shim never read from or wrote to it). The files are checked by the
 * test: "FILE path" lines, each must hold exactly "program PHASE fd N\n".
 * Output: "PHASE name shim=fd,fd...", "FILE path", "done"; exit 2 with a
 * line on stderr on any failure. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "probe.h"

#define MAX_FDS 64

static int port;
static const char *spans_path, *outdir;

/* One GET on a fresh connection; the connection is closed after. */
static void get(const char *phase, int k)
{
    int fd = connect_loopback(port, SOCK_CLOEXEC);
    if (fd < 0)
        fail("connect");
    char path[64], resp[4096];
    snprintf(path, sizeof path, "/%s/%d", phase, k);
    if (http_get(fd, port, path, resp, sizeof resp) != 200)
        fail("GET %s: %.20s", path, resp);
    close(fd);
}

/* The fds open now, except 0-2 and those in mine[0..nmine): the shim's. */
static int others(int *out, const int *mine, int nmine)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        fail("opendir /proc/self/fd");
    int n = 0, self = dirfd(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        int fd = atoi(e->d_name);
        bool skip = fd <= 2 || fd == self;
        for (int i = 0; i < nmine && !skip; i++)
            skip = mine[i] == fd;
        if (!skip && n < MAX_FDS)
            out[n++] = fd;
    }
    closedir(d);
    return n;
}

static bool is_span_file(int fd)
{
    char link[64], target[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n <= 0)
        return false;
    target[n] = '\0';
    return strcmp(target, spans_path) == 0;
}

/* Until the span file mentions every one of the phase's last requests. */
static void wait_spans(const char *phase)
{
    for (int tries = 0; tries < 250; tries++) {
        int fd = open(spans_path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            static char buf[1 << 20];
            ssize_t n = read(fd, buf, sizeof buf - 1);
            close(fd);
            buf[n > 0 ? n : 0] = '\0';
            int found = 0;
            for (int k = 3; k < 6; k++) {
                char path[64];
                snprintf(path, sizeof path, "/%s/%d\"", phase, k);
                found += strstr(buf, path) != NULL;
            }
            if (found == 3)
                return;
        }
        sleep_ms(20);
    }
    fail("the spans of phase %s never reached %s", phase, spans_path);
}

/* The program's fds of a phase: files (checked by the test) and socketpairs. */
struct owned {
    int fd[MAX_FDS * 2];
    int pair_peer[MAX_FDS * 2]; /* for a socketpair end: the other end, else -1 */
    int n;
};

static void own_file(struct owned *o, const char *phase, int want_fd)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s-%d", outdir, phase, o->n);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        fail("open %s", path);
    if (want_fd >= 0 && fd != want_fd) {
        if (dup2(fd, want_fd) != want_fd)
            fail("dup2 over %d", want_fd);
        close(fd);
        fd = want_fd;
    }
    char marker[64];
    int n = snprintf(marker, sizeof marker, "program %s fd %d\n", phase, fd);
    if (write(fd, marker, (size_t)n) != n)
        fail("write the marker");
    printf("FILE %s %s\n", path, marker);
    o->pair_peer[o->n] = -1;
    o->fd[o->n++] = fd;
}

static void pair_marker(int fd, char *out, size_t cap)
{
    snprintf(out, cap, "pair end %d says hello", fd);
}

static void own_pair(struct owned *o, int want_fd)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        fail("socketpair");
    if (want_fd >= 0 && sv[0] != want_fd) {
        if (dup2(sv[0], want_fd) != want_fd)
            fail("dup2 over %d", want_fd);
        close(sv[0]);
        sv[0] = want_fd;
    }
    for (int i = 0; i < 2; i++) {
        char m[64];
        pair_marker(sv[i], m, sizeof m);
        if (send(sv[i], m, strlen(m), MSG_NOSIGNAL) != (ssize_t)strlen(m))
            fail("send the marker");
        o->fd[o->n] = sv[i];
        o->pair_peer[o->n++] = sv[1 - i];
    }
}

/* Every socketpair end holds exactly its peer's marker; then all closed. */
static void check_and_close(struct owned *o)
{
    for (int i = 0; i < o->n; i++) {
        if (o->pair_peer[i] >= 0) {
            char want[64], got[256];
            pair_marker(o->pair_peer[i], want, sizeof want);
            ssize_t r = recv(o->fd[i], got, sizeof got - 1, MSG_DONTWAIT);
            got[r > 0 ? r : 0] = '\0';
            if (r != (ssize_t)strlen(want) || strcmp(got, want) != 0)
                fail("socketpair end %d holds \"%s\" (%zd bytes), not its peer's marker \"%s\"",
                     o->fd[i], got, r, want);
        }
    }
    for (int i = 0; i < o->n; i++)
        close(o->fd[i]);
    o->n = 0;
}

static void phase(const char *name)
{
    for (int k = 0; k < 3; k++)
        get(name, k);
    sleep_ms(150); /* an export is likely on its way to the slow collector */
    int shim[MAX_FDS];
    int nshim = others(shim, NULL, 0);
    int highest = 2;
    bool spans_fd[MAX_FDS];
    printf("PHASE %s shim=", name);
    for (int i = 0; i < nshim; i++) {
        spans_fd[i] = is_span_file(shim[i]);
        printf("%s%d%s", i ? "," : "", shim[i], spans_fd[i] ? "(spans)" : "");
        if (shim[i] > highest)
            highest = shim[i];
    }
    printf("\n");
    fflush(stdout);

    static struct owned o;
    if (strcmp(name, "dup2") != 0) {
        if (strcmp(name, "range") == 0) {
            if (close_range(3, ~0U, 0) != 0)
                fail("close_range");
        } else if (strcmp(name, "from") == 0) {
            closefrom(3);
        } else {
            for (int fd = 3; fd <= highest + 8; fd++)
                close(fd);
        }
        /* New fds take the lowest free numbers, the shim's old ones among
         * them: where the next one is an old socket of the shim's, a
         * socketpair (a socket the shim could read from or write to),
         * else a file. */
        int next = 3;
        while (next <= highest) {
            bool was_socket = false;
            for (int i = 0; i < nshim; i++)
                was_socket |= shim[i] == next && !spans_fd[i];
            if (was_socket)
                own_pair(&o, -1);
            else
                own_file(&o, name, -1);
            next = o.fd[o.n - 1] + 1;
        }
    } else {
        for (int i = 0; i < nshim; i++) {
            if (spans_fd[i])
                own_file(&o, name, shim[i]);
            else
                own_pair(&o, shim[i]);
        }
    }
    fflush(stdout);
    for (int k = 3; k < 6; k++)
        get(name, k);
    wait_spans(name);
    sleep_ms(700); /* the slow collector answers what was on its way */
    check_and_close(&o);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: closefds_probe PORT SPANS_FILE OUTDIR\n");
        return 2;
    }
    port = atoi(argv[1]);
    spans_path = argv[2];
    outdir = argv[3];
    phase("range");
    phase("from");
    phase("each");
    phase("dup2");
    printf("done\n");
    return 0;
}
