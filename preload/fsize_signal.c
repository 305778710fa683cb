/* fsize_signal.c — the shim's own writes at a file size limit (see
 * fsize_signal.h). */
#include "fsize_signal.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>

#include "real.h"
#include "sandbox.h"

/* In the kernel's sigset (8 bytes, bit sig - 1), which the raw system
 * calls take: glibc's sigtimedwait is a cancellation point, and a thread
 * cancelled inside the shim's write would leave its locks held. */
static const uint64_t xfsz = 1ull << (SIGXFSZ - 1);

void ts_fsize_hold(struct ts_fsize_hold *hold)
{
    /* A program's seccomp filter may kill for a system call it does not
     * list (sandbox.h), rt_sigpending or rt_sigtimedwait say: under one,
     * the write goes as it went before the hold. */
    if (ts_sandbox_filter_seen()) {
        *hold = (struct ts_fsize_hold){0};
        return;
    }
    int saved = errno;
    uint64_t before = 0, pending = 0;
    hold->held =
        TS_REAL(syscall)(SYS_rt_sigprocmask, SIG_BLOCK, &xfsz, &before, sizeof before) == 0;
    hold->was_blocked = hold->held && (before & xfsz);
    /* Only a thread that blocks the signal can have one pending of its
     * own, which the write's would be merged into (one of a kind is
     * pending at a time): that one is the program's, and is left. So is
     * the write's where the answer is not known, or where one is pending
     * for the process (rt_sigpending shows both; rare enough). */
    hold->was_pending =
        hold->was_blocked &&
        (TS_REAL(syscall)(SYS_rt_sigpending, &pending, sizeof pending) != 0 || (pending & xfsz));
    errno = saved;
}

void ts_fsize_release(const struct ts_fsize_hold *hold, bool hit_limit)
{
    if (!hold->held)
        return;
    int saved = errno;
    /* The kernel sends the write's SIGXFSZ to the writing thread, and a
     * wait takes the thread's own pending signals before the process's. */
    if (hit_limit && !hold->was_pending) {
        struct timespec none = {0, 0};
        (void)TS_REAL(syscall)(SYS_rt_sigtimedwait, &xfsz, NULL, &none, sizeof xfsz);
    }
    if (!hold->was_blocked)
        (void)TS_REAL(syscall)(SYS_rt_sigprocmask, SIG_UNBLOCK, &xfsz, NULL, sizeof xfsz);
    errno = saved;
}
