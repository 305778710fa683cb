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
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../preload/clock.h"
#include "../preload/config.h"
#include "../preload/fork_state.h"
#include "../preload/fsize_signal.h"
#include "../preload/log.h"
#include "../preload/real.h"
#include "../preload/start_state.h"
#include "json_buf.h"
#include "own_fd.h"

static char fexp_path[TS_CFG_PATH + PATH_MAX]; /* absolute; "" until resolved */
/* The folder of fexp_path (its text up to the last '/'; "/" for one at
 * the root), set with it; "" when the path is not absolute. Made once,
 * not on the stack of a flush that may run in a signal handler. */
static char fexp_folder[TS_CFG_PATH + PATH_MAX];
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
    const char *slash = strrchr(fexp_path, '/');
    if (fexp_path[0] == '/' && slash) {
        size_t n = slash > fexp_path ? (size_t)(slash - fexp_path) : 1;
        memcpy(fexp_folder, fexp_path, n);
        fexp_folder[n] = '\0';
    }
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

static void fexp_report_planted(const struct stat *st)
{
    if (fexp_reported)
        return;
    fexp_reported = true;
    ts_log_error("not writing to span file %s: it is user %u's, in a folder everyone may write "
                 "(who put it there could read the spans); spans are dropped unless the "
                 "process becomes that user",
                 fexp_path, (unsigned)st->st_uid);
}

static void fexp_report_errno(const char *what, int err)
{
    if (fexp_reported)
        return;
    char buf[128];
    const char *why;
    if (ts_json_buf_malloc_barred()) {
        /* A signal handler's write (json_buf.h): strerror_r looks its text
         * up in the locale's translations, which loads them with malloc
         * (a hang on the lock of the malloc the handler interrupted). */
        why = strerrorname_np(err);
        if (!why) {
            snprintf(buf, sizeof buf, "errno %d", err);
            why = buf;
        }
    } else {
        why = strerror_r(err, buf, sizeof buf);
    }
    fexp_report(what, why);
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
/* The fd is a FIFO, whose other writers' lines can come between the
 * pieces of a write longer than PIPE_BUF: ts_file_export_whole_line_max. */
static bool fexp_fifo;
/* The fd was opened at the path (not a copy of the kept fd): the file now
 * at the path is the one to write (fexp_follow_path); when it was looked
 * at last (ts_mono_ms). */
static bool fexp_from_path;
static uint64_t fexp_path_looked_ms;
static bool fexp_follow_reported; /* a follow that failed is said once */
/* From ts_file_export_open_here to ts_file_export_end_here: opens made on
 * a program's thread, which must never wait on a FIFO nobody reads, take
 * a regular file only (opened_here: one of them opened the fd). */
static bool fexp_here, fexp_opened_here;

/* The span file as the program's fd table holds it, opened on a program's
 * thread just before the process gave up its user or root
 * (ts_file_export_keep), with the access it had then: whenever the
 * exporter opens the file after that, it takes a copy of this fd rather
 * than the path, which may be closed to the process since (fexp_open).
 * Written by the thread that moves fexp_kept_state from KEPT_NONE to
 * KEPT_OPENING (or, to keep the file again, from KEPT_READY to
 * KEPT_REOPENING), then only read: after an acquire load of KEPT_READY. A forked child inherits it,
 * fd and all. The program may close the fd (a daemon's child closes every
 * fd it inherited, then gives root up: varnish's): the next give-up call
 * keeps the file again, in the other of two places, so that a copy being
 * taken of the first (fexp_copy_kept) never reads a half-written one. */
enum { KEPT_NONE, KEPT_OPENING, KEPT_READY, KEPT_FAILED, KEPT_REOPENING };
static uint32_t fexp_kept_state;
static struct ts_own_fd fexp_kept_places[2] = {TS_OWN_FD_NONE, TS_OWN_FD_NONE};
static uint32_t fexp_kept_at; /* which place holds the kept fd */

static struct ts_own_fd *fexp_kept(void)
{
    return &fexp_kept_places[__atomic_load_n(&fexp_kept_at, __ATOMIC_ACQUIRE)];
}
/* The keeping (of this process or of one it was forked from) created the
 * file, as the user fexp_kept_maker (atomic: a keeping made again writes
 * them while READY's readers may look). */
static bool fexp_kept_made;
static uid_t fexp_kept_maker;

/* How the span file is opened for appending, by the exporter and by the
 * keeping alike (never through a symbolic link: fexp_open). */
#define FEXP_APPEND_FLAGS (O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW)

static bool fexp_folder_stat(struct stat *st);

/* Is the file st owned by none of this thread's user, also and the
 * folder's owner? */
static bool fexp_foreign(const struct stat *st, uid_t also, uid_t folder_owner)
{
    uid_t me = (uid_t)TS_REAL(syscall)(SYS_geteuid); /* this thread's */
    return st->st_uid != me && st->st_uid != also && st->st_uid != folder_owner;
}

/* Is the path's folder one everyone may write (sticky and o+w)? Its owner
 * in *owner. */
static bool fexp_folder_shared(uid_t *owner)
{
    struct stat folder;
    if (!fexp_folder_stat(&folder) || (folder.st_mode & (S_ISVTX | S_IWOTH)) != (S_ISVTX | S_IWOTH))
        return false;
    *owner = folder.st_uid;
    return true;
}

/* Is the regular file st, found at the path, one someone else put in a
 * folder everyone may write (sticky: /tmp, system mode's
 * /var/log/traceshim)? Its owner can read what is appended (URLs, command
 * lines), so a file neither the process's user (nor also, for a keeping,
 * the user it becomes) nor the folder's owner owns is not written, as
 * Linux's fs.protected_regular refuses to create over it (an existing
 * file is opened here without O_CREAT first, and that setting may be
 * off). */
static bool fexp_planted(const struct stat *st, uid_t also)
{
    uid_t owner;
    return fexp_folder_shared(&owner) && fexp_foreign(st, also, owner);
}

/* fd, the planted file st, closed unwritten: said once; -1 with EACCES. */
static int fexp_refuse_planted(int fd, const struct stat *st)
{
    TS_REAL(close)(fd);
    fexp_report_planted(st);
    errno = EACCES;
    return -1;
}

/* The kept file was another user's in a folder everyone may write, kept
 * at a call that did not name the user the process becomes (setgroups,
 * setgid, chroot: it may be the file an earlier keeping gave that user):
 * the folder's owner, and a copy is written only by a thread that is the
 * file's user by then (fexp_copy_kept); else (uid_t)-1. Atomic: set before
 * the keeping is READY. */
static uid_t fexp_kept_foreign_in = (uid_t)-1;

static int fexp_open_path(void)
{
    fexp_readable = false;
    /* O_NONBLOCK: a FIFO without a reader refuses at once (ENXIO) instead
     * of holding the caller; a regular file ignores the flag. */
    int fd = open(fexp_path, FEXP_APPEND_FLAGS | O_CREAT | (fexp_here ? O_NONBLOCK : 0), 0600);
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
    if (fexp_planted(&st, (uid_t)-1))
        return fexp_refuse_planted(fd, &st);
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

/* The folder of the absolute path fexp_path, looked at; false when there
 * is none. */
static bool fexp_folder_stat(struct stat *st)
{
    return fexp_folder[0] && fstatat(AT_FDCWD, fexp_folder, st, 0) == 0;
}

/* The folder the file was opened in (fexp_note_folder): the path is
 * followed only while it still names that folder, not one of the same name
 * in a root the program changed to since (chroot, pivot_root, a mount). */
static dev_t fexp_folder_dev;
static ino_t fexp_folder_ino;
static bool fexp_folder_known;

static void fexp_note_folder(void)
{
    struct stat st;
    fexp_folder_known = fexp_folder_stat(&st);
    if (fexp_folder_known) {
        fexp_folder_dev = st.st_dev;
        fexp_folder_ino = st.st_ino;
    }
}

/* A copy of the kept fd (ts_file_export_keep) in the calling thread's
 * table, or -1. */
static int fexp_copy_kept(void)
{
    if (__atomic_load_n(&fexp_kept_state, __ATOMIC_ACQUIRE) != KEPT_READY)
        return -1;
    int fd = ts_own_fd_copy(fexp_kept());
    if (fd < 0)
        return fd;
    uid_t folder_owner = __atomic_load_n(&fexp_kept_foreign_in, __ATOMIC_RELAXED);
    struct stat st;
    if (folder_owner != (uid_t)-1 && fstat(fd, &st) == 0 &&
        fexp_foreign(&st, (uid_t)-1, folder_owner))
        return fexp_refuse_planted(fd, &st);
    fexp_readable = false; /* write-only: see fexp_open_for_keeping */
    return fd;
}

/* Open the span file (the old fd number, if any, is simply forgotten).
 * Never through a symbolic link: in a shared directory someone else's link
 * would make a traced program (perhaps privileged) append where they
 * choose. A file the shim creates is the user's alone (0600): spans carry
 * URLs and addresses. Returns 0 or -1 with errno set. */
static int fexp_open(void)
{
    ts_own_fd_forget(&fexp_fd);
    /* The kept fd first, where there is one: the process gave its access
     * up since, and a path it can open now may not be the file (another
     * one at the same path inside its new root). */
    for (int attempt = 0;; attempt++) {
        int fd = fexp_copy_kept();
        fexp_from_path = fd < 0;
        if (fd < 0)
            fd = fexp_open_path();
        /* The path refused, but a program's thread may have kept the file
         * meanwhile, just before the drop that made the path refuse. */
        if (fd < 0) {
            int err = errno;
            fd = fexp_copy_kept();
            fexp_from_path = false;
            if (fd < 0)
                errno = err; /* the path's reason: the one reported */
        }
        if (ts_own_fd_adopt(&fexp_fd, fd) == 0) {
            struct stat st;
            fexp_fifo = fstat(fexp_fd.fd, &st) == 0 && S_ISFIFO(st.st_mode);
            fexp_opened_here = fexp_here; /* for ts_file_export_end_here to close */
            if (fexp_from_path)
                fexp_note_folder();
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

/* Is there a special file at the path (a FIFO, a device, a socket)? Asked
 * without opening it: an open and a close of a FIFO would hand its reader
 * an end of file, and a device's open and close can act on it (a serial
 * line's hang-up, a tape's rewind). A symbolic link or a directory is not
 * one: their open fails at once, and harms nothing (O_NOFOLLOW: ELOOP;
 * EISDIR), and that failure is reported as any other (one line on stderr),
 * also by a program's thread that has no reporter thread to leave the
 * file to. */
static bool fexp_special_file(void)
{
    struct stat st;
    return fstatat(AT_FDCWD, fexp_path, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode) &&
           !S_ISLNK(st.st_mode) && !S_ISDIR(st.st_mode);
}

/* The span file opened for keeping, write-only: the process keeps the fd
 * in its own table once it is another user, and what the file holds (every
 * process's spans) is not for that user to read (the exporter's copies of
 * it skip the check of a line cut short by another process:
 * fexp_ends_mid_line). The file at the path, else a new one (*made), made
 * exclusively so that made is only ever this process's; not a file planted
 * for the process or the user it becomes (fexp_planted). Where that user
 * is not known yet (*foreign_in: see fexp_kept_foreign_in), kept all the
 * same. */
static int fexp_open_for_keeping(bool *made, uid_t becomes, uid_t *foreign_in)
{
    *made = false;
    *foreign_in = (uid_t)-1;
    if (fexp_special_file())
        return -1;
    const int flags = FEXP_APPEND_FLAGS | O_NONBLOCK;
    for (int attempt = 0; attempt < 2; attempt++) {
        int fd = open(fexp_path, flags);
        struct stat st;
        uid_t folder_owner;
        if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
            fexp_folder_shared(&folder_owner) && fexp_foreign(&st, becomes, folder_owner)) {
            if (becomes == (uid_t)-1) {
                *foreign_in = folder_owner;
                return fd;
            }
            return fexp_refuse_planted(fd, &st);
        }
        if (fd >= 0 || errno != ENOENT)
            return fd;
        fd = open(fexp_path, flags | O_CREAT | O_EXCL, 0600);
        *made = fd >= 0;
        if (fd >= 0 || errno != EEXIST)
            return fd;
        /* another process made it meanwhile: open that one */
    }
    return -1;
}

/* A span file the keeping made belongs to the user the process becomes
 * for good: a launcher that gives root up and then executes the service
 * (setpriv, runuser, su) would otherwise leave a file of root's, mode 0600,
 * which the service, now that user, could not open (as it could open the
 * file it made itself, without the shim's keeping). Before the change of
 * user, while the process may still give its files away; taken back if
 * the change fails (ts_file_export_take_back). True when given. */
static bool fexp_chown_made_file(uid_t user)
{
    if (user == (uid_t)-1 || !__atomic_load_n(&fexp_kept_made, __ATOMIC_RELAXED))
        return false;
    int fd = ts_own_fd_copy(fexp_kept());
    if (fd < 0)
        return false;
    /* Only while nothing is in it: once spans are (root's, or other users'
     * from the processes that share it), the file stays its maker's; a
     * worker forked after they came does not take them with it. A file no
     * one has written yet goes to the first user that can write it, as it
     * would without the keeping (su and runuser keep it in the parent,
     * at initgroups, and change the user in the child they fork). */
    struct stat st;
    bool given = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
                 (st.st_size == 0 || user == __atomic_load_n(&fexp_kept_maker, __ATOMIC_RELAXED)) &&
                 TS_REAL(syscall)(SYS_fchown, fd, user, (gid_t)-1) == 0;
    TS_REAL(close)(fd);
    return given;
}

void ts_file_export_take_back(void)
{
    int saved = errno;
    if (__atomic_load_n(&fexp_kept_state, __ATOMIC_ACQUIRE) == KEPT_READY)
        (void)fexp_chown_made_file(__atomic_load_n(&fexp_kept_maker, __ATOMIC_RELAXED));
    errno = saved;
}

/* Another thread is keeping the file (a few system calls): wait for it to
 * end, at most KEPT_WAIT_MS (a signal handler on that very thread would
 * wait for itself), since a change of user applies to every thread, that
 * one's too. Returns the state then. */
#define KEPT_WAIT_MS 20

static uint32_t fexp_kept_settled(void)
{
    uint64_t deadline = 0;
    uint32_t state;
    while (((state = __atomic_load_n(&fexp_kept_state, __ATOMIC_ACQUIRE)) == KEPT_OPENING ||
            state == KEPT_REOPENING) &&
           ts_still_waiting(&deadline, KEPT_WAIT_MS))
        sched_yield();
    return state;
}

/* The file is kept, and its fd is still the shim's: the program has not
 * closed it, nor put another file in its place. */
static bool fexp_kept_still(void)
{
    int saved = errno;
    bool still = ts_own_fd_valid(fexp_kept());
    errno = saved;
    return still;
}

static bool fexp_kept_is_settling(uint32_t state)
{
    return state == KEPT_OPENING || state == KEPT_REOPENING;
}

/* Who keeps the file: KEPT_OPENING, this call, for the first time;
 * KEPT_REOPENING, this call, again (the program took the kept fd); else
 * the state another call's keeping left (READY: kept). */
static uint32_t fexp_kept_claim(void)
{
    uint32_t state = KEPT_NONE;
    if (__atomic_compare_exchange_n(&fexp_kept_state, &state, KEPT_OPENING, false, __ATOMIC_ACQUIRE,
                                    __ATOMIC_ACQUIRE))
        return KEPT_OPENING;
    if (fexp_kept_is_settling(state))
        state = fexp_kept_settled();
    if (state != KEPT_READY || fexp_kept_still())
        return state;
    if (!__atomic_compare_exchange_n(&fexp_kept_state, &state, KEPT_REOPENING, false,
                                     __ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE))
        return fexp_kept_is_settling(state) ? fexp_kept_settled() : state;
    if (fexp_kept_still()) { /* another thread's keeping, or a handler's, came first */
        __atomic_store_n(&fexp_kept_state, KEPT_READY, __ATOMIC_RELEASE);
        return KEPT_READY;
    }
    return KEPT_REOPENING;
}

/* Kept again (the fd at *place, the one before at *before): did an
 * earlier keeping make this very file? Only if it is the same file, still
 * its maker's: an inode number freed since may be another user's file
 * now, which must never be given away. */
static bool fexp_made_before(const struct ts_own_fd *before, const struct ts_own_fd *place)
{
    struct stat st;
    return __atomic_load_n(&fexp_kept_made, __ATOMIC_RELAXED) && before->dev == place->dev &&
           before->ino == place->ino && fstat(place->fd, &st) == 0 &&
           st.st_uid == __atomic_load_n(&fexp_kept_maker, __ATOMIC_RELAXED);
}

bool ts_file_export_keep(uid_t becomes, bool *given)
{
    *given = false;
    uint32_t state = fexp_kept_claim();
    if (state == KEPT_READY) {
        int saved = errno;
        *given = fexp_chown_made_file(becomes);
        errno = saved;
        return true;
    }
    if (!fexp_kept_is_settling(state))
        return false;
    bool again = state == KEPT_REOPENING;
    int saved = errno;
    ts_file_export_resolve_path(); /* done at init: only a load here */
    bool made;
    uid_t foreign_in;
    int fd = fexp_open_for_keeping(&made, becomes, &foreign_in);
    uint32_t at = __atomic_load_n(&fexp_kept_at, __ATOMIC_RELAXED) ^ (again ? 1 : 0);
    struct ts_own_fd *place = &fexp_kept_places[at];
    const struct ts_own_fd before = *fexp_kept();
    ts_own_fd_forget(place); /* the place of two keepings ago: long given up */
    bool ok = ts_own_fd_adopt(place, fd) == 0;
    if (ok) {
        if (!(again && !made && fexp_made_before(&before, place))) {
            __atomic_store_n(&fexp_kept_made, made, __ATOMIC_RELAXED);
            __atomic_store_n(&fexp_kept_maker, (uid_t)TS_REAL(syscall)(SYS_geteuid),
                             __ATOMIC_RELAXED); /* (imports: limit_hooks.c) */
        }
        __atomic_store_n(&fexp_kept_foreign_in, foreign_in, __ATOMIC_RELAXED);
        __atomic_store_n(&fexp_kept_at, at, __ATOMIC_RELEASE);
        *given = fexp_chown_made_file(becomes);
    }
    /* kept again and failed: the old fd, given up, leaves nothing to copy */
    __atomic_store_n(&fexp_kept_state, ok ? KEPT_READY : KEPT_FAILED, __ATOMIC_RELEASE);
    errno = saved;
    return ok;
}

void ts_file_export_open_early(void)
{
    int saved = errno;
    ts_file_export_resolve_path();
    if (!ts_own_fd_valid(&fexp_fd))
        (void)fexp_open();
    errno = saved;
}

/* Is the open span file (the reporter thread's) a FIFO, a socket or a
 * terminal, whose write may wait for a reader or raise a signal? (Not
 * /dev/null, nor another device that takes what it is given.) */
static bool fexp_fd_special(void)
{
    int fd = fexp_fd.fd;
    struct stat st;
    if (!ts_own_fd_begin(&fexp_fd))
        return false;
    bool special = fstat(fd, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) ||
                                           (S_ISCHR(st.st_mode) && isatty(fd)));
    ts_own_fd_end(&fexp_fd);
    return special;
}

int ts_file_export_open_here(void)
{
    int saved = errno;
    ts_file_export_resolve_path();
    fexp_here = true;
    fexp_opened_here = false;
    if (ts_own_fd_valid(&fexp_fd)) {
        /* A FIFO the reporter thread opened is not for this thread either:
         * a write to it waits while its reader does not read (past the
         * exit's timeout), raises SIGPIPE once the reader is gone (the
         * program's death, where the reporter thread blocks it), a
         * terminal SIGTTOU. */
        if (fexp_fd_special()) {
            errno = ENXIO;
            return -1;
        }
        errno = saved;
        return 0;
    }
    if (fexp_special_file()) {
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

TS_FORK_HANDLER void ts_file_export_kept_after_fork(void)
{
    /* A thread of the parent's was keeping the file: the child keeps its
     * own when asked (what that thread had opened stays, unowned). One
     * keeping it again leaves it as kept before (the place it published
     * last is whole): the child's next give-up call finds that fd given up
     * and keeps the file again itself. */
    uint32_t state = __atomic_load_n(&fexp_kept_state, __ATOMIC_RELAXED);
    if (state == KEPT_OPENING)
        __atomic_store_n(&fexp_kept_state, KEPT_NONE, __ATOMIC_RELAXED);
    else if (state == KEPT_REOPENING)
        __atomic_store_n(&fexp_kept_state, KEPT_READY, __ATOMIC_RELAXED);
}

/* The line's write. On a program's thread (fexp_here) with SIGXFSZ held
 * off: at the file size limit (ulimit -f) the write fails with EFBIG,
 * reported as any failed write, and the signal it raises would end the
 * program, which untraced would not have written (the reporter thread
 * blocks every signal). */
static ssize_t fexp_writev(int fd, const struct iovec *iov, int count)
{
    if (!fexp_here)
        return TS_REAL(writev)(fd, iov, count);
    struct ts_fsize_hold hold;
    ts_fsize_hold(&hold);
    ssize_t r = TS_REAL(writev)(fd, iov, count);
    ts_fsize_release(&hold, r < 0 && errno == EFBIG);
    return r;
}

/* How often the reporter looks whether the path still names the file it
 * writes. */
#define FEXP_FOLLOW_MS 100

/* The regular file this process opened at its absolute path is no longer
 * there (a log rotation renamed it away, someone removed it): the path's
 * file from now on, made again if need be, so that spans go on where they
 * are looked for (a renamed file is left to its rotation; a removed one
 * would take them where none can read them). Only where the path names
 * nothing, or another regular file, in the folder it was opened in; never
 * for a kept fd (a path the process may no longer open, or another root:
 * README), nor in a signal handler's write. Where the path cannot be
 * opened, the old file goes on, said once. At most every FEXP_FOLLOW_MS
 * (a program's thread, writing an exit's last lines, always looks): an fstatat,
 * and one of the folder when the file changed. */
static void fexp_follow_path(void)
{
    if (!fexp_from_path || ts_json_buf_malloc_barred() ||
        __atomic_load_n(&fexp_kept_state, __ATOMIC_ACQUIRE) != KEPT_NONE)
        return;
    /* A program's thread writes the last lines (an exit's or an exec's
     * flush, the reporter's fds in its table): it always looks */
    uint64_t now = ts_mono_ms();
    if (!fexp_here && now - fexp_path_looked_ms < FEXP_FOLLOW_MS)
        return;
    fexp_path_looked_ms = now;
    struct stat st, dir;
    int at = fstatat(AT_FDCWD, fexp_path, &st, AT_SYMLINK_NOFOLLOW);
    if (at == 0 && (!S_ISREG(st.st_mode) || (st.st_dev == fexp_fd.dev && st.st_ino == fexp_fd.ino)))
        return; /* the same file; or a FIFO, a link, a folder: not followed */
    if ((at != 0 && errno != ENOENT) || !fexp_folder_known || !fexp_folder_stat(&dir) ||
        dir.st_dev != fexp_folder_dev || dir.st_ino != fexp_folder_ino)
        return;
    /* A FIFO span file removed (its reader unlinks it once both ends are
     * open) goes on feeding that reader: only a regular file is followed. */
    struct stat cur;
    int fd = fexp_fd.fd;
    if (!ts_own_fd_begin(&fexp_fd))
        return;
    bool regular = fstat(fd, &cur) == 0 && S_ISREG(cur.st_mode);
    ts_own_fd_end(&fexp_fd);
    if (!regular)
        return;
    /* Opened as on a program's thread: never waiting on a FIFO put there
     * meanwhile, a regular file only. */
    bool readable = fexp_readable, here = fexp_here;
    fexp_here = true;
    fd = fexp_open_path();
    int err = errno;
    fexp_here = here;
    if (fd < 0) {
        fexp_readable = readable;
        if (!fexp_follow_reported) {
            fexp_follow_reported = true;
            const char *name = strerrorname_np(err);
            char num[24];
            if (!name) {
                snprintf(num, sizeof num, "errno %d", err);
                name = num;
            }
            ts_log_error("span file %s was replaced or removed and cannot be opened again (%s): "
                         "spans go on to the file it was",
                         fexp_path, name);
        }
        return;
    }
    ts_own_fd_close(&fexp_fd);
    if (ts_own_fd_adopt(&fexp_fd, fd) != 0) {
        /* the program took the number meanwhile: opened again, as above
         * (no wait on a FIFO); the next write says how that went */
        fexp_here = true;
        (void)fexp_open();
        fexp_here = here;
    }
}

size_t ts_file_export_whole_line_max(void)
{
    ts_file_export_resolve_path();
    /* valid, not only open: the program may have closed the number, and
     * a FIFO be at the path since */
    if (!ts_own_fd_valid(&fexp_fd))
        (void)fexp_open(); /* a failure is the export's to say */
    return fexp_fd.fd >= 0 && fexp_fifo ? PIPE_BUF : 0;
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
    fexp_follow_path();
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
        r = fexp_writev(fexp_fd.fd, iov + !mend, 2 + mend);
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
