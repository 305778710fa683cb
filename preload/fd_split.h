/* fd_split.h — the reporter thread's fd table of its own.
 *
 * While a second thread shares a process's fd table, every fd system call
 * of the program costs more: the kernel takes and drops a reference on the
 * file for each lookup, which it skips when the table has a single user
 * (measured by bench/thread_tax.c: about 50 ns a call, 2.5% of nginx's
 * throughput). So the reporter thread leaves the table: it closes all of
 * its copy at once (close_range with CLOSE_RANGE_UNSHARE, from fd 0: a copy
 * of the program's stdout or of a socket would keep that file open after
 * the program closed it, and a reader waiting for its end would hang) and
 * opens the exporters' files and sockets in a table no program call can
 * see or close.
 *
 * Only for the reporter thread; it must split before it opens anything.
 * The program's stderr, which the thread no longer has, is borrowed for
 * each message (ts_fd_split_borrow). A process where that borrowing
 * cannot work (no pidfd_getfd: an old kernel or a seccomp filter) keeps
 * one shared table, as does a process whose close_range cannot unshare,
 * and (unless TRACESHIM_OWN_FD_TABLE=1 says otherwise) one under a
 * seccomp filter. */
#ifndef TS_FD_SPLIT_H
#define TS_FD_SPLIT_H

#include <stdbool.h>

/* True when the process runs under a seccomp filter (systemd's
 * SystemCallFilter=, a container's profile): one that kills rather than
 * refuses a system call it does not list would kill it for the split's. */
bool ts_fd_split_filtered(void);

/* True on a thread that has split: its fds are not the program's. */
extern __thread bool ts_fd_split_here __attribute__((tls_model("initial-exec")));

/* Give the calling thread an empty fd table of its own. False (and the
 * table still shared) when the kernel cannot. */
bool ts_fd_split(void);

/* True once a thread of this process has split (atomic; a forked child
 * starts unsplit: its only thread is the program's). Inline: a forked
 * child's handler reads it (see fdtable.h ts_fd_high_water). */
extern bool ts_fd_split_done_;
static inline bool ts_fd_split_done(void)
{
    return __atomic_load_n(&ts_fd_split_done_, __ATOMIC_ACQUIRE);
}

/* A copy, in the calling thread's table, of the program's fd (-1 when it
 * has none or the kernel cannot say): for a split thread's messages on the
 * program's stderr. The caller closes it. */
int ts_fd_split_borrow(int program_fd);

/* In a forked child. */
void ts_fd_split_after_fork(void);

#endif
