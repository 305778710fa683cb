/* program_stderr.c — see program_stderr.h. */
#include "program_stderr.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../preload/fd_split.h"
#include "../preload/fork_state.h"
#include "../preload/log.h"
#include "../preload/process.h"
#include "../preload/real.h"
#include "../preload/start_state.h"
#include "own_fd.h"

/* The program's stderr at the start, when it is one a copy may be kept of
 * (a terminal, a regular file); at_start_known false otherwise. */
static bool at_start_known TS_START_STATE;
static dev_t at_start_dev TS_START_STATE;
static ino_t at_start_ino TS_START_STATE;

/* The copy, written by the thread that moves kept_state from KEPT_ARMED
 * to KEPT_TAKING, then only used through log.h's ts_log_stderr_kept,
 * published after it (release). */
static struct ts_own_fd kept = TS_OWN_FD_NONE;

enum {
    KEPT_OFF,    /* not exiting */
    KEPT_ARMED,  /* exiting: the program's next close of fd 2 keeps a copy */
    KEPT_TAKING, /* a thread is keeping it */
    KEPT_DONE,   /* kept, or nothing to keep */
};
static uint32_t kept_state;

/* One thread at a time uses the copy (own_fd.h): the reporter thread
 * writing the console's lines, a program's thread its exit's (atomic). */
static bool kept_busy;

/* How long a line waits for another thread's on the copy. */
#define KEPT_BUSY_WAIT_MS 100

void ts_program_stderr_note_start(void)
{
    struct stat st;
    if (fstat(STDERR_FILENO, &st) != 0 || !(S_ISCHR(st.st_mode) || S_ISREG(st.st_mode)))
        return;
    at_start_dev = st.st_dev;
    at_start_ino = st.st_ino;
    at_start_known = true;
}

void ts_program_stderr_exiting(void)
{
    uint32_t off = KEPT_OFF;
    if (at_start_known)
        (void)__atomic_compare_exchange_n(&kept_state, &off, KEPT_ARMED, false, __ATOMIC_RELAXED,
                                          __ATOMIC_RELAXED);
}

static bool kept_take_turn(void)
{
    struct timespec ms = {0, 1000000L};
    for (int waited = 0;; waited++) {
        bool free_now = false;
        if (__atomic_compare_exchange_n(&kept_busy, &free_now, true, false, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED))
            return true;
        if (waited == KEPT_BUSY_WAIT_MS)
            return false; /* (a handler that interrupted this very thread's line) */
        (void)nanosleep(&ms, NULL);
    }
}

/* A line to the kept copy: on a reporter thread with an fd table of its
 * own, through a copy in that table (the program cannot reach it); else
 * on the number itself, held ours while the line goes (own_fd.h: a
 * closefrom of the program's waits for it, and a number it has taken is
 * never written). */
static bool kept_write_line(const char *line, size_t len)
{
    if (!kept_take_turn())
        return false;
    bool whole = false;
    if (ts_fd_split_here) {
        int fd = ts_own_fd_copy(&kept);
        whole = fd >= 0 && ts_log_write_line_to(fd, line, len);
        if (fd >= 0)
            TS_REAL(close)(fd);
    } else if (ts_own_fd_begin(&kept)) {
        whole = ts_log_write_line_to(kept.fd, line, len);
        ts_own_fd_end(&kept);
    }
    __atomic_store_n(&kept_busy, false, __ATOMIC_RELEASE);
    return whole;
}

/* Is what fd 2 holds now the stderr the program started with? Only that
 * is kept: a file the program opened at fd 2 since (after `2>&-`, or after
 * its own close) is its own data, and a pipe or a socket is never kept,
 * since its reader may wait for its end before the program exits (git's
 * exit handler closes the pager's pipe, then waits for the pager). */
static bool stderr_as_at_start(void)
{
    struct stat st;
    return fstat(STDERR_FILENO, &st) == 0 && st.st_dev == at_start_dev &&
           st.st_ino == at_start_ino && (S_ISCHR(st.st_mode) || S_ISREG(st.st_mode));
}

void ts_program_stderr_closing(void)
{
    uint32_t armed = KEPT_ARMED;
    if (__atomic_load_n(&kept_state, __ATOMIC_RELAXED) != KEPT_ARMED || ts_fd_split_here ||
        ts_process_foreign() ||
        !__atomic_compare_exchange_n(&kept_state, &armed, KEPT_TAKING, false, __ATOMIC_ACQUIRE,
                                     __ATOMIC_RELAXED))
        return;
    int saved = errno;
    int fd = stderr_as_at_start()
                 ? TS_REAL(fcntl)(STDERR_FILENO, F_DUPFD_CLOEXEC, STDERR_FILENO + 1)
                 : -1;
    if (fd >= 0 && ts_own_fd_adopt(&kept, fd) == 0)
        __atomic_store_n(&ts_log_stderr_kept, kept_write_line, __ATOMIC_RELEASE);
    __atomic_store_n(&kept_state, KEPT_DONE, __ATOMIC_RELEASE);
    errno = saved;
}

TS_FORK_HANDLER void ts_program_stderr_after_fork(void)
{
    uint32_t state = __atomic_load_n(&kept_state, __ATOMIC_RELAXED);
    if (state == KEPT_OFF)
        return;
    __atomic_store_n(&ts_log_stderr_kept, NULL, __ATOMIC_RELAXED);
    __atomic_store_n(&kept_busy, false, __ATOMIC_RELAXED);
    if (state == KEPT_DONE)
        ts_own_fd_close(&kept);
    else /* half kept by a thread the child does not have: its copy, if made, stays */
        ts_own_fd_forget(&kept);
    __atomic_store_n(&kept_state, KEPT_OFF, __ATOMIC_RELAXED);
}
