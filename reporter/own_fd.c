/* own_fd.c — see own_fd.h. */
#include "own_fd.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../preload/real.h"

int ts_own_fd_adopt(struct ts_own_fd *o, int fd)
{
    o->fd = -1;
    if (fd < 0)
        return -1;
    if (fd <= STDERR_FILENO) {
        int moved = TS_REAL(fcntl)(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
        int err = errno;
        TS_REAL(close)(fd);
        if (moved < 0) {
            errno = err;
            return -1;
        }
        fd = moved;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int err = errno;
        TS_REAL(close)(fd);
        errno = err;
        return -1;
    }
    o->fd = fd;
    o->dev = st.st_dev;
    o->ino = st.st_ino;
    return 0;
}

bool ts_own_fd_valid(const struct ts_own_fd *o)
{
    struct stat st;
    if (o->fd < 0 || fstat(o->fd, &st) != 0)
        return false;
    return st.st_dev == o->dev && st.st_ino == o->ino;
}

void ts_own_fd_close(struct ts_own_fd *o)
{
    if (ts_own_fd_valid(o))
        TS_REAL(close)(o->fd);
    o->fd = -1;
}

void ts_own_fd_forget(struct ts_own_fd *o)
{
    o->fd = -1;
}
