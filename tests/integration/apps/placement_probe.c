/* placement_probe.c [MS [filtered | backlog MARKER]] — where the shim's reporter thread runs
 * while one processor alone feeds it, and once it is idle (reporter/placement.h).
 *
 * A server thread and the main thread, a client on one keep-alive
 * connection to it, exchange GETs, first fifty unpinned (the reporter
 * thread, started by then, takes the process's set), then both pinned to
 * the first processor the process may run on: every span, and so every
 * ring of the reporter's doorbell, then comes from that one. Exchanges go
 * on until the reporter thread's Cpus_allowed_list is the process's
 * without that processor, for at most MS milliseconds (3000 by default)
 * and 100,000 exchanges; then, with no more spans, until it is the
 * process's again, for at most MS more. One line on stdout:
 *
 *   pinned CPU process LIST reporter LIST idle LIST exchanges N
 *
 * LISTs as /proc/self/task/TID/status gives them ("none" when no thread is
 * named traceshim-rep): the process's, the reporter's after the exchanges,
 * and after the wait. Exit status 2 when the probe itself fails.
 *
 * With "filtered" it first installs a seccomp filter that allows every
 * call and runs itself again (without the word) under it, as a service
 * under systemd's SystemCallFilter= or a container's profile starts.
 *
 * With "backlog MARKER", once the reporter has left the processor out, it
 * creates the file MARKER (the test's collector then answers slowly, and
 * spans back up) and goes on exchanging, pinned, until the reporter's
 * Cpus_allowed_list is the process's again, for at most MS milliseconds;
 * then removes MARKER, and the line ends with "backlog LIST". */
#define _GNU_SOURCE
#include "probe.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <sys/prctl.h>

static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/* One keep-alive connection answered until it closes. */
static void *serve(void *arg)
{
    int listener = *(int *)arg;
    int fd = accept(listener, NULL, NULL);
    if (fd < 0)
        fail("accept");
    char buf[1024];
    size_t got = 0;
    for (;;) {
        ssize_t r = recv(fd, buf + got, sizeof buf - 1 - got, 0);
        if (r <= 0)
            break;
        got += (size_t)r;
        buf[got] = '\0';
        char *end;
        while ((end = strstr(buf, "\r\n\r\n")) != NULL) {
            if (send(fd, answer, sizeof answer - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof answer - 1))
                fail("answer");
            size_t used = (size_t)(end + 4 - buf);
            memmove(buf, buf + used, got - used + 1);
            got -= used;
        }
    }
    close(fd);
    return NULL;
}

/* Cpus_allowed_list from a status file into out, if it has one. */
static void status_cpus(const char *path, char *out)
{
    char line[256];
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Cpus_allowed_list: %255s", out) == 1)
            break;
    fclose(f);
}

/* Cpus_allowed_list of the thread named comm ("none" when none is). */
static void allowed_list(const char *comm, char *out, size_t cap)
{
    snprintf(out, cap, "none");
    DIR *d = opendir("/proc/self/task");
    if (!d)
        fail("/proc/self/task");
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[300], line[256];
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        bool match = fgets(line, sizeof line, f) && strncmp(line, comm, strlen(comm)) == 0 &&
                     line[strlen(comm)] == '\n';
        fclose(f);
        if (!match)
            continue;
        snprintf(path, sizeof path, "/proc/self/task/%s/status", e->d_name);
        status_cpus(path, out);
    }
    closedir(d);
}

/* Two Cpus_allowed_lists name the same processors ("0-2" and "0,1,2"). */
static bool same_cpus(const char *a, const char *b)
{
    cpu_set_t sa, sb;
    CPU_ZERO(&sa);
    CPU_ZERO(&sb);
    const char *lists[2] = {a, b};
    cpu_set_t *sets[2] = {&sa, &sb};
    for (int i = 0; i < 2; i++) {
        const char *p = lists[i];
        while (*p) {
            char *end;
            long lo = strtol(p, &end, 10), hi = lo;
            if (end == p)
                return false; /* "none" */
            if (*end == '-')
                hi = strtol(end + 1, &end, 10);
            for (long c = lo; c <= hi && c < CPU_SETSIZE; c++)
                CPU_SET((int)c, sets[i]);
            p = *end == ',' ? end + 1 : end;
            if (*end && *end != ',')
                return false;
        }
    }
    return CPU_EQUAL(&sa, &sb);
}

static void exchange(int fd, int port)
{
    char resp[256];
    if (http_get(fd, port, "/placement", resp, sizeof resp) != 200)
        fail("GET /placement");
}

static void run_again_filtered(char **argv)
{
    struct sock_filter allow[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
    struct sock_fprog prog = {.len = 1, .filter = allow};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0)
        fail("seccomp filter");
    char *again[] = {argv[0], argv[1], NULL};
    execv("/proc/self/exe", again);
    fail("exec");
}

int main(int argc, char **argv)
{
    if (argc > 2 && strcmp(argv[2], "filtered") == 0)
        run_again_filtered(argv);
    long max_ms = argc > 1 ? atol(argv[1]) : 3000;
    const char *marker = argc > 3 && strcmp(argv[2], "backlog") == 0 ? argv[3] : NULL;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0)
        fail("sched_getaffinity");
    int cpu = 0;
    while (cpu < CPU_SETSIZE && !CPU_ISSET(cpu, &set))
        cpu++;
    char process[256] = "none", now[256], idle[256];
    status_cpus("/proc/self/status", process); /* the main thread's, before it is pinned */
    /* what the reporter should get: the process's set without cpu */
    CPU_CLR(cpu, &set);
    char expected[256] = "";
    for (int c = 0, first = 1; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &set)) {
            size_t used = strlen(expected);
            snprintf(expected + used, sizeof expected - used, "%s%d", first ? "" : ",", c);
            first = 0;
        }

    int port, listener = listen_loopback(1, &port);
    pthread_t server;
    if (pthread_create(&server, NULL, serve, &listener) != 0)
        fail("pthread_create");
    int fd = connect_loopback(port, 0);
    if (fd < 0)
        fail("connect");
    for (int i = 0; i < 50; i++)
        exchange(fd, port);

    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    if (pthread_setaffinity_np(pthread_self(), sizeof one, &one) != 0 ||
        pthread_setaffinity_np(server, sizeof one, &one) != 0)
        fail("pin to processor %d", cpu);
    long until = now_ms() + max_ms;
    int n = 50;
    do {
        for (int i = 0; i < 200; i++, n++)
            exchange(fd, port);
        allowed_list("traceshim-rep", now, sizeof now);
    } while (!same_cpus(now, expected) && now_ms() < until && n < 100000);
    char backlog[256] = "none";
    if (marker && same_cpus(now, expected)) {
        int m = open(marker, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (m < 0)
            fail("create %s", marker);
        close(m);
        until = now_ms() + max_ms;
        do {
            for (int i = 0; i < 20; i++, n++)
                exchange(fd, port);
            allowed_list("traceshim-rep", backlog, sizeof backlog);
        } while (!same_cpus(backlog, process) && now_ms() < until);
        unlink(marker);
    }
    close(fd);
    pthread_join(server, NULL);
    until = now_ms() + max_ms;
    do {
        sleep_ms(20);
        allowed_list("traceshim-rep", idle, sizeof idle);
    } while (!same_cpus(idle, process) && now_ms() < until);
    printf("pinned %d process %s reporter %s idle %s exchanges %d", cpu, process, now, idle, n);
    if (marker)
        printf(" backlog %s", backlog);
    printf("\n");
    return 0;
}
