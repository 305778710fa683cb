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
#include "../preload/start_state.h"
#include "own_fd.h"

static char fexp_path[TS_CFG_PATH + PATH_MAX]; /* absolute; "" until resolved */
static pthread_once_t fexp_path_once TS_START_STATE = PTHREAD_ONCE_INIT;
static bool fexp_path_ready TS_START_STATE;
static struct ts_own_fd fexp_fd = TS_OWN_FD_NONE;
static bool fexp_reported; /* the one error line of this process is out */
/* What this process's last write left at the end of the file with this
 * identity. cut: a line without its newline (a write cut short: a full
 * disk, a file size limit); the next line written there starts with one,
 * so that the cut line is the only one lost: glued onto it, the next whole
 * line (a batch of spans) would be unreadable too. Another process's line
 * cut short (killed in the middle of its write: a fatal signal ends a long
 * write between pages) is found by reading the file's last byte before
 * each write (fexp_ends_mid_line), where the fd can read; cut remembers
 * this process's own cuts also where it cannot. size: how long the file
 * was after this process's last whole line went in (-1: not known), so
 * that the last byte is read only when another process has written
 * since. */
static struct {
    dev_t dev;
    ino_t ino;
    bool cut;
    off_t size;
} fexp_last = {0, 0, false, -1};

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

/* The span file opened for appending, write-only as always; a regular
 * file is then opened again through the first fd's /proc link (the
 * thread's: the reporter may have an fd table of its own), for reading
 * too (fexp_ends_mid_line): the same file whatever became of its
 * path meanwhile, and never a FIFO or a pipe, whose reader's end held by
 * the shim would change what their other users see. Where that second
 * open fails (no /proc, a file the user may not read), the first fd
 * stays, without the check. */
static bool fexp_readable; /* the fd can read: fexp_open_path opened it again */
/* From ts_file_export_open_here to ts_file_export_end_here: opens made on
 * a program's thread, which must never wait on a FIFO nobody reads, take
 * a regular file only (opened_here: one of them opened the fd). */
static bool fexp_here, fexp_opened_here;

static int fexp_open_path(void)
{
    fexp_readable = false;
    /* O_NONBLOCK: a FIFO without a reader refuses at once (ENXIO) instead
     * of holding the caller; a regular file ignores the flag. */
    int fd = open(fexp_path,
                  O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW |
                      (fexp_here ? O_NONBLOCK : 0),
                  0600);
    struct stat st, again;
    if (fd < 0 || fstat(fd, &st) != 0)
        return fd;
    if (!S_ISREG(st.st_mode)) {
        if (!fexp_here)
            return fd;
        TS_REAL(close)(fd);
        errno = ENXIO;
        return -1;
    }
    char link[32];
    snprintf(link, sizeof link, "/proc/thread-self/fd/%d", fd);
    int rw = open(link, O_RDWR | O_APPEND | O_CLOEXEC | O_NOCTTY);
    if (rw < 0)
        return fd;
    if (fstat(rw, &again) != 0 || again.st_dev != st.st_dev || again.st_ino != st.st_ino) {
        TS_REAL(close)(rw);
        return fd;
    }
    TS_REAL(close)(fd);
    fexp_readable = true;
    return rw;
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
        if (ts_own_fd_adopt(&fexp_fd, fd) == 0) {
            fexp_opened_here = fexp_here; /* for ts_file_export_end_here to close */
            return 0;
        }
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
static bool fexp_ends_mid_line(int fd, off_t *size)
{
    struct stat st;
    char last;
    *size = -1;
    if (!fexp_readable || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        return false;
    *size = st.st_size;
    /* Where the file is as long as this process's last whole line left
     * it, that line is its end: nothing to read. */
    if (st.st_size == 0 ||
        (fexp_last.size == st.st_size && fexp_last.dev == st.st_dev && fexp_last.ino == st.st_ino))
        return false;
    return pread(fd, &last, 1, st.st_size - 1) == 1 && last != '\n';
}

void ts_file_export_open_early(void)
{
    int saved = errno;
    ts_file_export_resolve_path();
    if (!ts_own_fd_valid(&fexp_fd))
        (void)fexp_open();
    errno = saved;
}

/* Is there something at the path that is not a regular file (a FIFO, a
 * device, a directory)? Asked without opening it: an open and a close of
 * a FIFO would hand its reader an end of file, and a device's open and
 * close can act on it (a serial line's hang-up, a tape's rewind). */
static bool fexp_not_regular(void)
{
    struct stat st;
    return fstatat(AT_FDCWD, fexp_path, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode);
}

int ts_file_export_open_here(void)
{
    int saved = errno;
    ts_file_export_resolve_path();
    fexp_here = true;
    fexp_opened_here = false;
    if (ts_own_fd_valid(&fexp_fd)) {
        errno = saved;
        return 0;
    }
    if (fexp_not_regular()) {
        errno = ENXIO;
        return -1;
    }
    /* (A FIFO put there since is refused by the open itself.) */
    if (fexp_open() != 0)
        return -1;
    errno = saved;
    return 0;
}

void ts_file_export_end_here(bool keep_open)
{
    int saved = errno;
    if (fexp_opened_here && !keep_open)
        ts_own_fd_close(&fexp_fd);
    fexp_here = fexp_opened_here = false;
    errno = saved;
}

void ts_file_export_after_fork(void)
{
    fexp_here = fexp_opened_here = false;
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
        {(void *)"\n", 1}, /* only to end a line cut short before: fexp_last */
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
        off_t size;
        bool same = fexp_last.dev == fexp_fd.dev && fexp_last.ino == fexp_fd.ino;
        mend = fexp_ends_mid_line(fexp_fd.fd, &size) || (same && fexp_last.cut);
        want = len + 1 + mend;
        r = TS_REAL(writev)(fexp_fd.fd, iov + !mend, 2 + mend);
        /* The file now ends with a newline only when all of it went in, or
         * the mend alone; nothing written leaves it as it was (and a cut of
         * another file is not this one's). */
        if (r > 0)
            fexp_last.cut = r != (ssize_t)want && !(mend && r == 1);
        else if (!same)
            fexp_last.cut = false;
        fexp_last.size = r == (ssize_t)want && size >= 0 ? size + r : -1;
        fexp_last.dev = fexp_fd.dev;
        fexp_last.ino = fexp_fd.ino;
        ts_own_fd_end(&fexp_fd);
        if (!(r < 0 && errno == EINTR))
            break;
    }
    if (r == (ssize_t)want)
        return 0;
    /* A short write (disk full, file size limit) leaves a partial line: an
     * error to report, not something to complete with a second write that
     * another process's line could come before (the next line written
     * starts a line of its own: fexp_last). */
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
