/* file_exporter.c — the default exporter: OTLP/JSON lines appended to a
 * file (see file_exporter.h).
 *
 * The fd is the shim's, but it lives in the program's fd space: the program
 * may close it (daemons close every fd they did not open) or dup2 another
 * file over its number. So before every write we check, with fstat, that
 * the number still refers to the file we opened; if not, we open the file
 * again and never touch the old number, which now belongs to the program. */
#include "file_exporter.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../preload/config.h"
#include "../preload/log.h"
#include "../preload/real.h"
#include "own_fd.h"

static char fexp_path[TS_CFG_PATH + PATH_MAX]; /* absolute; "" until resolved */
static pthread_once_t fexp_path_once = PTHREAD_ONCE_INIT;
static bool fexp_path_ready;
static struct ts_own_fd fexp_fd = TS_OWN_FD_NONE;
static bool fexp_reported; /* the one error line of this process is out */
/* A write cut short (disk full, a file size limit) left a line without its
 * newline at the end of the file with this identity. The next line written
 * there starts with one, so that the cut line is the only one lost: glued
 * onto it, the next whole line (a batch of spans) would be unreadable too.
 * Another process's line cut short (killed in the middle of its write: a
 * fatal signal ends a long write between pages) is found by reading the
 * file's last byte before each write (fexp_ends_mid_line), where the fd can
 * read; this remembers the process's own cuts also where it cannot. */
static struct {
    bool open;
    dev_t dev;
    ino_t ino;
} fexp_cut;

static void fexp_resolve_once(void)
{
    const char *p = TS_FILE_DEFAULT_NAME;
    size_t plen = sizeof TS_FILE_DEFAULT_NAME - 1;
    if (ts_cfg.file_path[0]) {
        p = ts_cfg.file_path;
        plen = strnlen(p, sizeof ts_cfg.file_path);
    }
    size_t o = 0;
    if (p[0] != '/') {
        /* getcwd fails when the directory was removed or the path is too
         * long; the relative name is the best we can do then. */
        if (getcwd(fexp_path, PATH_MAX)) {
            o = strlen(fexp_path);
            if (o > 0 && fexp_path[o - 1] != '/')
                fexp_path[o++] = '/';
        }
    }
    memcpy(fexp_path + o, p, plen);
    fexp_path[o + plen] = '\0';
    __atomic_store_n(&fexp_path_ready, true, __ATOMIC_RELEASE);
}

void ts_file_export_resolve_path(void)
{
    pthread_once(&fexp_path_once, fexp_resolve_once);
}

const char *ts_file_export_path(void)
{
    return __atomic_load_n(&fexp_path_ready, __ATOMIC_ACQUIRE) ? fexp_path : "";
}

void ts_file_export_forget_fd(void)
{
    ts_own_fd_forget(&fexp_fd);
}

void ts_file_export_close_fd(void)
{
    ts_own_fd_close(&fexp_fd);
}

/* The one error line of the process (what failed, the path, why); spans
 * keep being dropped (and counted) silently after it. */
static void fexp_report(const char *what, const char *why)
{
    if (fexp_reported)
        return;
    fexp_reported = true;
    ts_log_error("cannot %s span file %s: %s; spans are dropped", what, fexp_path, why);
}

static void fexp_report_errno(const char *what, int err)
{
    if (fexp_reported)
        return;
    char buf[128];
    fexp_report(what, strerror_r(err, buf, sizeof buf));
}

/* The span file opened for appending: a regular file (or one about to be
 * made) for reading too, to see how it ends (fexp_ends_mid_line), unless
 * the user may not read it. Anything else write-only: a reader's end of a
 * pipe or FIFO held by the shim would keep its writers from ever seeing
 * their reader gone. */
static int fexp_open_path(void)
{
    int flags = O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW;
    struct stat st;
    if (lstat(fexp_path, &st) == 0 ? S_ISREG(st.st_mode) : errno == ENOENT) {
        int fd = open(fexp_path, flags | O_RDWR, 0600);
        if (fd < 0 && errno == ELOOP)
            return -1;
        if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
            return fd;
        if (fd >= 0)
            TS_REAL(close)(fd); /* replaced since the lstat */
    }
    return open(fexp_path, flags | O_WRONLY, 0600);
}

/* Open the span file (the old fd number, if any, is simply forgotten).
 * Never through a symbolic link: in a shared directory someone else's link
 * would make a traced program (perhaps privileged) append where they
 * choose. A file the shim creates is the user's alone (0600): spans carry
 * URLs and addresses. Returns 0 or -1 with errno set. */
static int fexp_open(void)
{
    ts_own_fd_forget(&fexp_fd);
    for (int attempt = 0;; attempt++) {
        int fd = fexp_open_path();
        if (ts_own_fd_adopt(&fexp_fd, fd) == 0)
            return 0;
        /* EBADF: the program closed the new fd before the hooks knew it
         * was ours (a close-everything loop running right then): again. */
        if (fd < 0 || errno != EBADF || attempt == 2)
            return -1;
    }
}

/* Does the regular file open at fd end with a line that has no newline
 * (one cut short by another process, or by this one)? One fstat and one
 * pread per write of a batch; false where fd cannot be read. A process
 * that appends in between can make the mend a blank line, which readers
 * of the file skip. */
static bool fexp_ends_mid_line(int fd)
{
    struct stat st;
    char last;
    return fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
           pread(fd, &last, 1, st.st_size - 1) == 1 && last != '\n';
}

int ts_file_export(const char *line, size_t len)
{
    ts_file_export_resolve_path();
    if (!ts_own_fd_valid(&fexp_fd) && fexp_open() != 0) {
        int err = errno;
        if (err == ELOOP)
            fexp_report("open", "it is a symbolic link, which the shim does not follow");
        else
            fexp_report_errno("open", err);
        errno = err;
        return -1;
    }
    /* One writev is one system call: on a regular file opened O_APPEND the
     * kernel appends the whole of it under the inode lock, so the line and
     * its newline land together and never interleave with another
     * process's line. */
    struct iovec iov[3] = {
        {(void *)"\n", 1}, /* only to end a line cut short before: fexp_cut */
        {(void *)line, len},
        {(void *)"\n", 1},
    };
    ssize_t r;
    size_t want = len + 1;
    bool mend = false, reopened = false;
    for (;;) {
        if (!ts_own_fd_begin(&fexp_fd)) {
            /* The program took the number since the check above. */
            if (reopened || fexp_open() != 0) {
                int err = errno;
                fexp_report_errno("open", err);
                errno = err;
                return -1;
            }
            reopened = true;
            continue;
        }
        mend = (fexp_cut.open && fexp_cut.dev == fexp_fd.dev && fexp_cut.ino == fexp_fd.ino) ||
               fexp_ends_mid_line(fexp_fd.fd);
        want = len + 1 + mend;
        r = TS_REAL(writev)(fexp_fd.fd, iov + !mend, 2 + mend);
        if (r > 0) {
            /* The file now ends with a newline only when all of it went
             * in, or the mend alone. */
            fexp_cut.open = r != (ssize_t)want && !(mend && r == 1);
            fexp_cut.dev = fexp_fd.dev;
            fexp_cut.ino = fexp_fd.ino;
        }
        ts_own_fd_end(&fexp_fd);
        if (!(r < 0 && errno == EINTR))
            break;
    }
    if (r == (ssize_t)want)
        return 0;
    /* A short write (disk full, file size limit) leaves a partial line: an
     * error to report, not something to complete with a second write that
     * another process's line could come before (the next line written
     * starts a line of its own: fexp_cut). */
    if (r < 0) {
        int err = errno;
        fexp_report_errno("write", err);
        errno = err;
    } else {
        char why[96];
        snprintf(why, sizeof why, "short write (%zd of %zu bytes)", r, want);
        fexp_report("write", why);
        errno = EIO;
    }
    return -1;
}
