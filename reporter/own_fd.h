/* own_fd.h — a file descriptor of the shim's own that lives in the
 * program's fd space (the span file, the sockets to the backends).
 *
 * The program may close such an fd (daemons close every fd they did not
 * open) or dup2 another file over its number. So every use first checks,
 * with fstat, that the number still refers to what we opened; when it does
 * not, the number now belongs to the program: we forget it, never close
 * it, and open afresh. Not thread-safe: the reporter's export mutex
 * serialises all users. */
#ifndef TS_OWN_FD_H
#define TS_OWN_FD_H

#include <stdbool.h>
#include <sys/types.h>

struct ts_own_fd {
    int fd; /* -1: none */
    dev_t dev;
    ino_t ino;
};

#define TS_OWN_FD_NONE {-1, 0, 0}

/* Take ownership of a freshly opened fd: move it above stderr (a number
 * 0-2 would become the program's stdin/stdout/stderr the next time it opens
 * something; the move keeps O_CLOEXEC) and remember its identity. Returns 0,
 * or -1 with errno set (fd is then closed). */
int ts_own_fd_adopt(struct ts_own_fd *o, int fd);

/* True when o->fd still refers to what we opened. */
bool ts_own_fd_valid(const struct ts_own_fd *o);

/* Close o->fd if it is still ours; forget it either way. */
void ts_own_fd_close(struct ts_own_fd *o);

/* Forget o->fd without closing it (after fork, when the state may be
 * half-updated, or when the number is known not to be ours). */
void ts_own_fd_forget(struct ts_own_fd *o);

#endif
