/* log.c — one-line messages on stderr (see log.h). */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "fd_split.h"
#include "real.h"

bool ts_log_muted;

void ts_log(int level, const char *fmt, ...)
{
    if (level > ts_cfg.log_level || ts_log_muted)
        return;
    int saved_errno = errno;
    char line[512];
    int n = snprintf(line, sizeof line, "traceshim: ");
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0) {
        errno = saved_errno;
        return;
    }
    size_t len = (size_t)n + (size_t)m;
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    ts_log_write_line(line, len);
    errno = saved_errno;
}

bool ts_log_write_line(const char *line, size_t len)
{
    int saved_errno = errno;
    /* The reporter thread has no stderr of its own (fd_split.h): it writes
     * through a copy of the program's, taken for the line. */
    bool borrowed = ts_fd_split_here;
    int fd = borrowed ? ts_fd_split_borrow(STDERR_FILENO) : STDERR_FILENO;
    bool whole = fd >= 0;
    while (fd >= 0 && len > 0) {
        ssize_t w = TS_REAL(write)(fd, line, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            whole = false;
            break; /* stderr closed or broken: nothing better to do */
        }
        line += w;
        len -= (size_t)w;
    }
    if (borrowed && fd >= 0)
        TS_REAL(close)(fd);
    errno = saved_errno;
    return whole;
}
