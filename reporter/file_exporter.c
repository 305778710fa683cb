/* file_exporter.c — the default exporter (see file_exporter.h).
 *
 * The fd is the shim's own but lives in the program's fd space: the
 * program may close it or dup2 over it. Before each write we check that it
 * still is the file we opened, and reopen if not. */
#include "file_exporter.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../preload/config.h"
#include "../preload/log.h"
#include "../preload/real.h"

static int file_fd = -1;
static dev_t file_dev;
static ino_t file_ino;
static char file_path[PATH_MAX];
static bool file_reported;

/* The path, made absolute once: the program may chdir later. */
static const char *path(void)
{
    if (file_path[0])
        return file_path;
    const char *p = ts_cfg.file_path[0] ? ts_cfg.file_path : "traceshim-spans.jsonl";
    if (p[0] == '/') {
        snprintf(file_path, sizeof file_path, "%s", p);
    } else {
        char cwd[PATH_MAX];
        size_t n = getcwd(cwd, sizeof cwd) ? strlen(cwd) : 0;
        if (n && n + 1 + strlen(p) < sizeof file_path) {
            memcpy(file_path, cwd, n);
            file_path[n] = '/';
            memcpy(file_path + n + 1, p, strlen(p) + 1);
        } else {
            snprintf(file_path, sizeof file_path, "%s", p);
        }
    }
    return file_path;
}

static void report_once(const char *what)
{
    if (file_reported)
        return;
    file_reported = true;
    ts_log_error("cannot %s span file %s: %s (spans are dropped)", what, path(), strerror(errno));
}

static bool still_ours(void)
{
    struct stat st;
    return file_fd >= 0 && fstat(file_fd, &st) == 0 && st.st_dev == file_dev &&
           st.st_ino == file_ino;
}

static int open_file(void)
{
    int fd = open(path(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        report_once("open");
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        report_once("inspect");
        TS_REAL(close)(fd);
        return -1;
    }
    file_fd = fd;
    file_dev = st.st_dev;
    file_ino = st.st_ino;
    return 0;
}

int ts_file_export(char *line, size_t len)
{
    if (!still_ours()) {
        /* Not ours any more (closed, or another file dup2'ed over it): the
         * number belongs to the program now, so leave it alone. */
        file_fd = -1;
        if (open_file() != 0)
            return -1;
    }
    line[len] = '\n';
    ssize_t r;
    do
        r = TS_REAL(write)(file_fd, line, len + 1);
    while (r < 0 && errno == EINTR);
    if (r != (ssize_t)(len + 1)) {
        if (r >= 0)
            errno = EIO;
        report_once("write");
        return -1;
    }
    return 0;
}

void ts_file_exporter_reset(void)
{
    file_fd = -1;
    file_path[0] = '\0';
    file_reported = false;
}
