/* handler_match_probe.c — requests sent from a signal handler, where the
 * shim matches them against the rules, for test_rules.py: a match must
 * take nothing from the allocator, which the handler may have
 * interrupted.
 *
 *   handler_match_probe PORT N [nojit]
 *
 * The program brings its own malloc family (own_malloc.h, over glibc's
 * __libc_* functions), as alloc_lock_probe does; the shim's allocations
 * come here too. First one GET of / to 127.0.0.1:PORT outside any handler
 * (the reporter thread starts there, which allocates). Then N times:
 * SIGUSR1 raised, and its handler sends "GET /users/I HTTP/1.1" (Host:
 * api.example) and then "GET /health HTTP/1.1" on a fresh connection of
 * its own, reading each answer, with only async-signal-safe calls. An
 * allocation while the handler runs (one in a handler that interrupted
 * malloc would wait on the allocator's lock, or corrupt its lists) is said
 * on stderr and makes the exit status 1.
 *
 * nojit: executable memory is refused to the process first (prctl
 * PR_SET_MDWE, as systemd's MemoryDenyWriteExecute=yes does) and the
 * probe runs itself again without the word, so that the shim it starts
 * with compiles the rules without JIT: PCRE2's interpreter matches them.
 *
 * Output "done N". Exit status 0; 1 as said; 2 when the probe itself
 * failed; 77 when the kernel cannot refuse executable memory (before
 * Linux 6.3). */
#define _GNU_SOURCE
#include "probe.h"
#include <stdbool.h>
#include <stddef.h>
#include <sys/prctl.h>

#ifndef PR_SET_MDWE
#define PR_SET_MDWE 65
#define PR_MDWE_REFUSE_EXEC_GAIN 1
#endif

static __thread volatile sig_atomic_t in_handler; /* this thread runs the handler */
static volatile sig_atomic_t allocations;

static void say(const char *s)
{
    (void)!write(2, s, strlen(s));
}

/* Every allocation and free passes here first. */
static void own_malloc_enter(void)
{
    if (in_handler) {
        allocations++;
        say("handler_match_probe: an allocation in the signal handler\n");
    }
}

#include "own_malloc.h"

static int port, sent;
static volatile sig_atomic_t failed;

/* Send req whole on fd and read one answer to its end ("ok", the body of
 * the test's server): true when it came. Async-signal-safe. */
static bool exchange(int fd, const char *req, size_t len)
{
    if (send(fd, req, len, MSG_NOSIGNAL) != (ssize_t)len)
        return false;
    char buf[512];
    size_t have = 0;
    while (have < sizeof buf) {
        ssize_t r = recv(fd, buf + have, sizeof buf - have, 0);
        if (r <= 0)
            return false;
        have += (size_t)r;
        if (have >= 2 && memcmp(buf + have - 2, "ok", 2) == 0)
            return true;
    }
    return false;
}

static void requests(int sig)
{
    (void)sig;
    int saved = errno;
    in_handler = 1;
    char req[] = "GET /users/0 HTTP/1.1\r\nHost: api.example\r\n\r\n";
    req[11] = (char)('0' + sent % 10);
    static const char health[] = "GET /health HTTP/1.1\r\nHost: api.example\r\n\r\n";
    struct sockaddr_in a = loopback(port);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        !exchange(fd, req, sizeof req - 1) || !exchange(fd, health, sizeof health - 1))
        failed = 1;
    if (fd >= 0)
        close(fd);
    sent++;
    in_handler = 0;
    errno = saved;
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4 || (argc == 4 && strcmp(argv[3], "nojit") != 0)) {
        say("usage: handler_match_probe PORT N [nojit]\n");
        return 2;
    }
    if (argc == 4) {
        if (prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0)
            return 77;
        argv[3] = NULL;
        execv("/proc/self/exe", argv);
        fail("execv /proc/self/exe");
    }
    port = atoi(argv[1]);
    int n = atoi(argv[2]);
    http_get_200(port, "/");
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = requests;
    sigaction(SIGUSR1, &sa, NULL);
    for (int i = 0; i < n; i++)
        raise(SIGUSR1);
    if (failed)
        fail("a request from the handler");
    printf("done %d\n", sent);
    return allocations ? 1 : 0;
}
