/* late_handlers.c — signal handlers installed while the shim's reporter
 * thread is busy exporting.
 *
 *   late_handlers PORT
 *
 * One GET to 127.0.0.1:PORT (a span to export), then a wait for a byte on
 * stdin (the test sends it once the export has begun), then SIGUSR1 and
 * SIGUSR2 handlers
 * installed eight times in turn, with signal() and sigaction(). Prints
 * "longest install N ms" on stdout: an install waits for nothing of the
 * program's, so anything above a millisecond or two is the shim's. */
#define _GNU_SOURCE
#include "probe.h"

static void ignore(int sig)
{
    (void)sig;
}

int main(int argc, char **argv)
{
    if (argc != 2)
        fail("usage: late_handlers PORT");
    http_get_200(atoi(argv[1]), "/");
    char go;
    if (read(0, &go, 1) != 1)
        fail("no go-ahead on stdin");
    long longest = 0;
    for (int i = 0; i < 8; i++) {
        int sig = i % 2 ? SIGUSR2 : SIGUSR1;
        long t0 = now_ms();
        if (i % 4 < 2) {
            signal(sig, ignore);
        } else {
            struct sigaction sa;
            memset(&sa, 0, sizeof sa);
            sa.sa_handler = ignore;
            sigaction(sig, &sa, NULL);
        }
        long took = now_ms() - t0;
        if (took > longest)
            longest = took;
    }
    printf("longest install %ld ms\n", longest);
    return 0;
}
