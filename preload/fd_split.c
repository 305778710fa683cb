/* fd_split.c — see fd_split.h. Raw system calls only: a hook must never
 * see a number of the split table (the hooks' tables are the program's). */
#include "fd_split.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fork_state.h"
#include "real.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE (1U << 1)
#endif

__thread bool ts_fd_split_here __attribute__((tls_model("initial-exec")));

bool ts_fd_split_done_ TS_FORK_STATE; /* atomic */
static int split_pidfd TS_FORK_STATE =
    -1; /* the process, in the split table: used by the split thread only */

static int pidfd_of_this_process(void)
{
    return (int)TS_REAL(syscall)(SYS_pidfd_open, getpid(), 0);
}

static void close_raw(int fd)
{
    if (fd >= 0)
        (void)TS_REAL(syscall)(SYS_close, fd);
}

/* Are the system calls a split thread needs there and allowed? Asked with
 * arguments they refuse (EBADF, EINVAL), so that nothing is opened in the
 * program's table, where a program closing every fd at that moment could
 * have the number. After the split a "no" would leave the thread without
 * any way to the program's stderr. */
static bool split_calls_allowed(void)
{
    if (TS_REAL(syscall)(SYS_pidfd_getfd, -1, STDERR_FILENO, 0) >= 0 || errno != EBADF)
        return false;
    /* Flag bit 1 is none of pidfd_open's. */
    return TS_REAL(syscall)(SYS_pidfd_open, getpid(), 1U) < 0 && errno == EINVAL;
}

bool ts_fd_split_filtered(void)
{
    return TS_REAL(prctl)(PR_GET_SECCOMP, 0, 0, 0, 0) == 2; /* (not the hook: check_symbols.sh) */
}

bool ts_fd_split(void)
{
    if (ts_fd_split_here)
        return true;
    int saved_errno = errno;
    bool split = false;
    if (split_calls_allowed() &&
        TS_REAL(syscall)(SYS_close_range, 0U, ~0U, CLOSE_RANGE_UNSHARE) == 0) {
        split = true;
        /* Above stderr, as every fd of the shim's: a number 0-2 is taken
         * for the standard streams by whatever code runs here. */
        int pidfd = pidfd_of_this_process();
        if (pidfd >= 0 && pidfd <= STDERR_FILENO) {
            int moved = (int)TS_REAL(syscall)(SYS_fcntl, pidfd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
            close_raw(pidfd);
            pidfd = moved;
        }
        split_pidfd = pidfd;
        ts_fd_split_here = true;
        __atomic_store_n(&ts_fd_split_done_, true, __ATOMIC_RELEASE);
    }
    errno = saved_errno;
    return split;
}

int ts_fd_split_borrow(int program_fd)
{
    if (split_pidfd < 0)
        return -1;
    int saved_errno = errno;
    int fd = (int)TS_REAL(syscall)(SYS_pidfd_getfd, split_pidfd, program_fd, 0);
    errno = saved_errno;
    return fd;
}

TS_FORK_HANDLER void ts_fd_split_after_fork(void)
{
    /* The forking thread was the program's: the split table, and the
     * pidfd in it, stayed behind in the parent. */
    split_pidfd = -1;
    __atomic_store_n(&ts_fd_split_done_, false, __ATOMIC_RELAXED);
}
