/* signal_probe.c — what a program sees of its signal dispositions, and a
 * program that a signal from outside ends, for test_process.py.
 *
 *   signal_probe dispositions
 *       prints what sigaction, signal and sigset report for SIGTERM,
 *       SIGINT and SIGHUP as the program finds them (handler, flags, an
 *       empty mask), sets them to their default and reads them back,
 *       catches a raised SIGTERM with a handler of its own, and puts the
 *       default back: the output must be the same traced and untraced.
 *   signal_probe wait PORT
 *       one GET to 127.0.0.1:PORT (a client span), "ready" on stdout, then
 *       waits for a signal to end it.
 *   signal_probe idle
 *       no request: "ready" on stdout, then waits for a signal to end it
 *       (its process span is its only span).
 *   signal_probe malloc
 *       the same, but allocates and frees without end meanwhile: the
 *       signal mostly lands inside malloc or free.
 *   signal_probe reraise PORT
 *       the same, with a SIGTERM handler of its own that does what node's
 *       does: runs with every signal blocked, its default put back on
 *       entry (SA_RESETHAND), writes "cleanup" and raises SIGTERM again,
 *       which ends the process once the handler returns.
 *   signal_probe stdin-exit PORT N
 *       what apt's download methods do: a SIGINT handler that calls
 *       _exit(100), N GETs to 127.0.0.1:PORT (a connection each), "ready
 *       200", then reads stdin to its end and returns from main (exit
 *       status 0), unless the SIGINT that apt sends after closing its
 *       stdin comes first, or during the exit.
 *   signal_probe stdin-exec PORT N
 *       the same, but at stdin's end it executes /bin/true instead of
 *       returning (the SIGINT may come during the exec's flush).
 *
 * Exit status 0 (dispositions), 2 when the probe itself fails; the other
 * modes end by the signal. */
#define _GNU_SOURCE
#include "probe.h"

#include <stdbool.h>

/* glibc has it, without a declaration in a GNU program's headers */
extern __sighandler_t bsd_signal(int sig, __sighandler_t handler);
/* sigset is deprecated, and still a door a program may use */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

static const int stop_signals[] = {SIGTERM, SIGINT, SIGHUP};

static const char *kind(void (*h)(int))
{
    return h == SIG_DFL ? "default" : h == SIG_IGN ? "ignored" : h == SIG_ERR ? "error" : "own";
}

static bool mask_empty(const sigset_t *set)
{
    for (int s = 1; s < 65; s++)
        if (sigismember(set, s) == 1)
            return false;
    return true;
}

static volatile sig_atomic_t caught;

static void catch_it(int sig)
{
    caught = sig;
}

static void dispositions(void)
{
    for (size_t i = 0; i < sizeof stop_signals / sizeof stop_signals[0]; i++) {
        int sig = stop_signals[i];
        struct sigaction now;
        if (sigaction(sig, NULL, &now) != 0)
            fail("sigaction %d", sig);
        printf("%d found %s flags=%#x mask %s\n", sig, kind(now.sa_handler), (unsigned)now.sa_flags,
               mask_empty(&now.sa_mask) ? "empty" : "set");
        struct sigaction dfl = {.sa_handler = SIG_DFL};
        struct sigaction before;
        if (sigaction(sig, &dfl, &before) != 0)
            fail("sigaction %d SIG_DFL", sig);
        printf("%d sigaction(SIG_DFL) was %s\n", sig, kind(before.sa_handler));
        printf("%d signal(SIG_DFL) was %s\n", sig, kind(signal(sig, SIG_DFL)));
        printf("%d bsd_signal(SIG_DFL) was %s\n", sig, kind(bsd_signal(sig, SIG_DFL)));
        printf("%d sysv_signal(SIG_DFL) was %s\n", sig, kind(sysv_signal(sig, SIG_DFL)));
        printf("%d sigset(SIG_DFL) was %s\n", sig, kind(sigset(sig, SIG_DFL)));
        if (sigaction(sig, NULL, &now) != 0)
            fail("sigaction %d", sig);
        printf("%d now %s flags=%#x mask %s\n", sig, kind(now.sa_handler), (unsigned)now.sa_flags,
               mask_empty(&now.sa_mask) ? "empty" : "set");
    }
    /* sigset answers SIG_HOLD for a signal that was blocked, and unblocks it */
    sigset_t hup;
    sigemptyset(&hup);
    sigaddset(&hup, SIGHUP);
    sigprocmask(SIG_BLOCK, &hup, NULL);
    void (*held)(int) = sigset(SIGHUP, SIG_DFL);
    sigset_t blocked;
    sigprocmask(SIG_BLOCK, NULL, &blocked);
    printf("sigset(SIG_DFL) on a blocked signal: %s, still blocked: %d\n",
           held == SIG_HOLD ? "hold" : kind(held), sigismember(&blocked, SIGHUP));
    /* a handler of the program's own catches the signal and reads back */
    struct sigaction own = {.sa_handler = catch_it}, before;
    if (sigaction(SIGTERM, &own, &before) != 0)
        fail("sigaction SIGTERM handler");
    printf("own handler: was %s\n", kind(before.sa_handler));
    raise(SIGTERM);
    printf("caught %d\n", (int)caught);
    printf("default again: signal was %s\n", kind(signal(SIGTERM, SIG_DFL)));
    printf("then %s\n", kind(signal(SIGTERM, SIG_DFL)));
}

static void exit_100(int sig)
{
    (void)sig;
    _exit(100);
}

/* stdin-exit PORT N and stdin-exec PORT N (see the top) */
static int stdin_exit(int port, int n, bool exec_at_end)
{
    struct sigaction sa = {.sa_handler = exit_100};
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, &sa, NULL) != 0)
        fail("sigaction");
    char resp[4096];
    int status = 0;
    for (int i = 0; i < n; i++) {
        int fd = connect_loopback(port, 0);
        if (fd < 0)
            fail("connect to 127.0.0.1:%d", port);
        char path[64];
        snprintf(path, sizeof path, "/before-the-exit/%d", i);
        status = http_get(fd, port, path, resp, sizeof resp);
        close(fd);
    }
    printf("ready %d\n", status);
    char buf[256];
    while (read(0, buf, sizeof buf) > 0)
        ;
    if (exec_at_end) {
        execl("/bin/true", "true", (char *)NULL);
        fail("exec /bin/true");
    }
    return 0;
}

static void reraise(int sig)
{
    static const char line[] = "cleanup\n";
    ssize_t n = write(1, line, sizeof line - 1);
    (void)n;
    raise(sig);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc == 2 && strcmp(argv[1], "dispositions") == 0) {
        dispositions();
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "idle") == 0) {
        printf("ready\n");
        for (;;)
            pause();
    }
    if (argc == 2 && strcmp(argv[1], "malloc") == 0) {
        printf("ready\n");
        void *volatile kept[64] = {0};
        for (unsigned i = 0;; i++) {
            free(kept[i % 64]);
            kept[i % 64] = malloc(16 + (i * 7919u) % 4096);
        }
    }
    if (argc == 4 && (strcmp(argv[1], "stdin-exit") == 0 || strcmp(argv[1], "stdin-exec") == 0))
        return stdin_exit(atoi(argv[2]), atoi(argv[3]), strcmp(argv[1], "stdin-exec") == 0);
    if (argc != 3 || (strcmp(argv[1], "wait") != 0 && strcmp(argv[1], "reraise") != 0))
        fail("usage: signal_probe dispositions | idle | malloc | wait PORT | reraise PORT | "
             "stdin-exit PORT N");
    if (strcmp(argv[1], "reraise") == 0) {
        struct sigaction sa = {.sa_handler = reraise, .sa_flags = SA_RESETHAND};
        sigfillset(&sa.sa_mask);
        if (sigaction(SIGTERM, &sa, NULL) != 0)
            fail("sigaction");
    }
    int port = atoi(argv[2]);
    int fd = connect_loopback(port, 0);
    if (fd < 0)
        fail("connect to 127.0.0.1:%d", port);
    char resp[4096];
    int status = http_get(fd, port, "/before-the-signal", resp, sizeof resp);
    close(fd);
    printf("ready %d\n", status);
    for (;;)
        pause();
}
