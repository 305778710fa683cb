/* fsize_probe.c — SIGXFSZ as a program finds it after the shim has
 * written at a file size limit, for test_process.py.
 *
 *   fsize_probe free | blocked | pending
 *       SIGXFSZ left as the process found it (free), blocked, or blocked
 *       and raised (pending for the thread); then the probe executes
 *       itself as `fsize_probe show`, which keeps the signal mask and the
 *       signals pending. Under a file size limit that the span file is at,
 *       the shim's own write of the first image's process span (before
 *       the exec, on this thread) fails: it must leave no SIGXFSZ of its
 *       own behind, take none of the program's, and leave the mask as it
 *       was.
 *   fsize_probe show
 *       "blocked yes|no, pending yes|no": SIGXFSZ in the mask, and in
 *       sigpending.
 *   fsize_probe filtered
 *       Every signal blocked, then a seccomp filter that kills the process
 *       for rt_sigpending and rt_sigtimedwait (calls this program never
 *       makes; a sandbox lists what its program makes), then "filtered"
 *       and a normal exit: the shim's write of the process span at that
 *       exit must make neither.
 *
 * Exit status 0; 2 when the probe itself fails. */
#define _GNU_SOURCE
#include <stddef.h>
#include <sys/syscall.h>

#include "probe.h"
#include "seccomp_filter.h"

static void show(void)
{
    sigset_t blocked, pending;
    if (sigprocmask(SIG_BLOCK, NULL, &blocked) != 0 || sigpending(&pending) != 0)
        fail("sigprocmask or sigpending");
    printf("blocked %s, pending %s\n", sigismember(&blocked, SIGXFSZ) ? "yes" : "no",
           sigismember(&pending, SIGXFSZ) ? "yes" : "no");
}

int main(int argc, char **argv)
{
    if (argc != 2)
        fail("usage: fsize_probe free | blocked | pending | show | filtered");
    if (strcmp(argv[1], "show") == 0) {
        show();
        return 0;
    }
    if (strcmp(argv[1], "filtered") == 0) {
        sigset_t all;
        sigfillset(&all);
        if (sigprocmask(SIG_BLOCK, &all, NULL) != 0)
            fail("sigprocmask");
        /* kills for two signal calls, allows everything else */
        install_filter(SYS_rt_sigpending, SYS_rt_sigtimedwait, SECCOMP_RET_KILL_PROCESS,
                       THROUGH_PRCTL);
        printf("filtered\n");
        return 0;
    }
    sigset_t xfsz;
    sigemptyset(&xfsz);
    sigaddset(&xfsz, SIGXFSZ);
    if (strcmp(argv[1], "free") != 0 && sigprocmask(SIG_BLOCK, &xfsz, NULL) != 0)
        fail("sigprocmask");
    if (strcmp(argv[1], "pending") == 0 && raise(SIGXFSZ) != 0)
        fail("raise");
    fflush(stdout);
    execl("/proc/self/exe", argv[0], "show", (char *)NULL);
    fail("execl /proc/self/exe");
}
