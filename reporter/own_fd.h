/* own_fd.h — a file descriptor of the shim's own that lives in the
 * program's fd space (the span file, the sockets to the backends).
 *
 * The program may close such an fd (daemons close every fd they did not
 * open) or dup2 another file over its number, and then open something of
 * its own that gets the number. Two defences:
 *
 * - The program's close, close_range, dup2 and dup3 go through the hooks,
 *   which tell this module first (ts_own_fd_taken): the number is marked
 *   taken, and if a system call of the shim on it is in progress, the
 *   program's call waits for it to end (one non-blocking call, or one
 *   write to the span file). Every system call the shim makes on its fd is
 *   bracketed by ts_own_fd_begin / ts_own_fd_end, and begin refuses a
 *   taken number. So the shim never reads from or writes to a number the
 *   program has taken, even when that happens in the middle of an export
 *   (an HTTP exchange with a slow collector lasts long enough for a daemon
 *   to close everything and open its own sockets).
 * - For closes the hooks cannot see (a raw close system call), every use
 *   first checks, with fstat, that the number still refers to what we
 *   opened.
 *
 * A number found taken is forgotten, never closed, and the file or socket
 * is opened afresh.
 *
 * None of that is needed on a reporter thread with an fd table of its own
 * (preload/fd_split.h), where the program cannot reach the shim's fds:
 * there an fd is adopted without an entry in the hooks' registry.
 *
 * A ts_own_fd is used by one thread at a time (the reporter's export
 * mutex serialises the exporters'; the span file kept before a program
 * gives its access up is written by one keeping at a time, then only
 * copied). The registry the hooks read may be changed by several at
 * once. */
#ifndef TS_OWN_FD_H
#define TS_OWN_FD_H

#include <stdbool.h>
#include <sys/types.h>

struct ts_own_fd {
    int fd; /* -1: none */
    dev_t dev;
    ino_t ino;
    int slot; /* 1 + its entry in the registry the hooks see, 0: none */
};

#define TS_OWN_FD_NONE {-1, 0, 0, 0}

/* Take ownership of a freshly opened fd: move it above stderr (a number
 * 0-2 would become the program's stdin/stdout/stderr the next time it opens
 * something; the move keeps O_CLOEXEC), remember its identity and register
 * it with the hooks. Returns 0, or -1 with errno set (fd is then closed, or
 * forgotten when the program took its number meanwhile). */
int ts_own_fd_adopt(struct ts_own_fd *o, int fd);

/* True when o->fd still refers to what we opened and the program has not
 * taken the number. */
bool ts_own_fd_valid(const struct ts_own_fd *o);

/* Before a system call on o->fd: true when the number is still ours, and it
 * stays ours until ts_own_fd_end. False when the program took it (o is then
 * forgotten, errno is EBADF). Keep the call between them short: the
 * program's close of that number waits for it. */
bool ts_own_fd_begin(struct ts_own_fd *o);
void ts_own_fd_end(struct ts_own_fd *o);

/* A new fd, in the calling thread's table, for the file o->fd holds in
 * the program's: a dup above stderr (O_CLOEXEC), or on a thread with a
 * table of its own, a copy taken from the program's table (fd_split.h
 * ts_fd_split_borrow). o itself is left as it is. -1 with errno EBADF
 * when the program has taken the number or it no longer holds that file;
 * the caller closes what it gets. */
int ts_own_fd_copy(const struct ts_own_fd *o);

/* Close o->fd if it is still ours; forget it either way. */
void ts_own_fd_close(struct ts_own_fd *o);

/* Forget o->fd without closing it (after fork, when the state may be
 * half-updated, or when the number is known not to be ours). */
void ts_own_fd_forget(struct ts_own_fd *o);

/* For the hooks: is one of the shim's fds among [first, last]? No system
 * call; for a number that is not ours (nearly every close), one load. */
bool ts_own_fd_among(unsigned first, unsigned last);

/* For the hooks, before the program closes or replaces fds [first, last]:
 * each of the shim's fds among them is marked taken, and a system call the
 * shim has in progress on it is waited for (at most a fraction of a second:
 * a program must never hang for the shim). */
void ts_own_fd_taken(unsigned first, unsigned last);

/* In a forked child: no thread of the shim is inside a system call. */
void ts_own_fd_after_fork(void);

#endif
