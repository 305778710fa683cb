/* seccomp_probe.c — a client that installs a seccomp filter of its own
 * through the C library, for test_hostile.py.
 *
 *   seccomp_probe libseccomp PORT
 *       what libseccomp does for apt's download methods (APT::Sandbox::Seccomp):
 *       first the probe seccomp(SECCOMP_SET_MODE_STRICT, 1, NULL), which
 *       the kernel refuses (EINVAL), to learn whether the system call is
 *       there; then, through the same system call, a filter that traps
 *       clone and clone3 (the process has a single thread: apt's methods
 *       list neither), with a SIGSYS handler that writes "SIGSYS" and
 *       leaves with _exit(31), as apt's does. Then two GETs to
 *       127.0.0.1:PORT, "done", and a normal exit (status 0).
 *   seccomp_probe refused PORT
 *       a filter that allows everything, then prctl(PR_SET_SECCOMP,
 *       SECCOMP_MODE_STRICT), which the kernel refuses to a thread under a
 *       filter (EINVAL): "strict refused"; one GET to 127.0.0.1:PORT, "ready
 *       200", then it waits for a signal to end it.
 *
 * Exit status 2 when the probe itself fails. */
#define _GNU_SOURCE
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "probe.h"
#include "seccomp_filter.h"

static void sigsys(int sig)
{
    (void)sig;
    static const char line[] = "SIGSYS\n";
    ssize_t n = write(1, line, sizeof line - 1);
    (void)n;
    _exit(31);
}

static void trap_new_threads(void)
{
    struct sigaction sa = {.sa_handler = sigsys};
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSYS, &sa, NULL) != 0)
        fail("sigaction SIGSYS");
    install_filter(SYS_clone, SYS_clone3, SECCOMP_RET_TRAP, THROUGH_SECCOMP_CALL);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc != 3 || (strcmp(argv[1], "libseccomp") && strcmp(argv[1], "refused")))
        fail("usage: seccomp_probe libseccomp|refused PORT");
    int port = atoi(argv[2]);
    if (!strcmp(argv[1], "libseccomp")) {
        if (syscall(SYS_seccomp, SECCOMP_SET_MODE_STRICT, 1, NULL) != -1 || errno != EINVAL)
            fail("the probe of the seccomp system call was not refused");
        trap_new_threads();
        http_get_200(port, "/in-the-sandbox/a");
        http_get_200(port, "/in-the-sandbox/b");
        printf("done\n");
        return 0;
    }
    install_filter(-1, -1, SECCOMP_RET_ALLOW, THROUGH_SECCOMP_CALL); /* allows everything */
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT, 0, 0, 0) != -1 || errno != EINVAL)
        fail("strict mode under a filter was not refused");
    printf("strict refused\n");
    http_get_200(port, "/after-the-refusal");
    printf("ready 200\n");
    for (;;)
        pause();
}
