/* log.c — one-line messages on stderr (see log.h). */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "real.h"

void ts_log(int level, const char *fmt, ...)
{
    if (level > ts_cfg.log_level)
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
    (void)!TS_REAL(write)(2, line, len);
    errno = saved_errno;
}
