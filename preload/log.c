/* log.c — one-line messages on stderr (see log.h). */
#include "log.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "fd_split.h"
#include "fsize_signal.h"
#include "real.h"
#include "start_state.h"

/* How long a line waits for room on stderr (a full pipe nobody reads, a
 * terminal stopped by ^S): the program must not wait on the shim's
 * messages, at its start or its exit. */
#define TS_LOG_ROOM_WAIT_MS 100

/* Is the socket fd the program's stdin too: the same open file (an fd of
 * this thread's table: on a split reporter thread, a borrowed copy)? */
static bool socket_is_stdin(int fd)
{
    struct stat err, in_st;
    bool borrowed = ts_fd_split_here; /* its fd 0 is none of the program's */
    int in = borrowed ? ts_fd_split_borrow(STDIN_FILENO) : STDIN_FILENO;
    bool same = in >= 0 && fstat(fd, &err) == 0 && fstat(in, &in_st) == 0 &&
                err.st_dev == in_st.st_dev && err.st_ino == in_st.st_ino;
    if (borrowed && in >= 0)
        TS_REAL(close)(in);
    return same;
}

/* Where journald's stream sockets are, where systemd connects a service's
 * stderr (StandardError=journal, the default): JOURNAL_DIR/stdout, or
 * JOURNAL_DIR.NAMESPACE/stdout for a LogNamespace= service
 * (systemd-cat --namespace). */
#define TS_JOURNAL_DIR "/run/systemd/journal"

/* Is the address of a Unix socket (as getsockname or getpeername gave it,
 * len bytes) a path or an abstract name, rather than unnamed? */
static bool unix_named(socklen_t len)
{
    return len > offsetof(struct sockaddr_un, sun_path);
}

/* Is path[0..len) journal_dir's stream socket, or a namespace's? */
static bool journal_stream(const char *path, size_t len, const char *journal_dir)
{
    static const char stream[] = "/stdout";
    size_t dir = strlen(journal_dir), tail = sizeof stream - 1;
    if (len < dir + tail || memcmp(path, journal_dir, dir) != 0 ||
        memcmp(path + len - tail, stream, tail) != 0)
        return false;
    if (len == dir + tail)
        return true;
    /* ".NAMESPACE": a name of one folder, not empty */
    if (path[dir] != '.' || len == dir + 1 + tail)
        return false;
    return memchr(path + dir + 1, '/', len - tail - dir - 1) == NULL;
}

bool ts_log_unix_socket_takes_lines(int fd, const char *journal_dir)
{
    struct sockaddr_un me, peer;
    socklen_t me_len = sizeof me, peer_len = sizeof peer;
    if (getsockname(fd, (struct sockaddr *)&me, &me_len) != 0 || unix_named(me_len) ||
        getpeername(fd, (struct sockaddr *)&peer, &peer_len) != 0)
        return false;
    if (!unix_named(peer_len))
        return true; /* one end of a socketpair */
    size_t len = peer_len - offsetof(struct sockaddr_un, sun_path);
    if (len > sizeof peer.sun_path) /* cut short: longer than any path */
        return false;
    len = strnlen(peer.sun_path, len); /* a path's length counts its NUL */
    return peer.sun_path[0] != '\0' && journal_stream(peer.sun_path, len, journal_dir);
}

/* May a line go to fd, the program's stderr or a copy of it? Every line
 * the shim writes asks here (ts_log, the console exporter, the stats
 * line; a stderr kept at exit too): the one rule for where they go. Not
 * when fd is a socket that is one of the program's streams, where a line
 * would be bytes in front of the program's own:
 *  - a socket of IPv4 or IPv6: the program closed stderr and one of its
 *    connections took the number, or it is an inetd child whose stdio is
 *    its client;
 *  - a socket of any family that is also its stdin: a program started on
 *    an accepted connection (systemd's Accept=yes on a ListenStream=
 *    path, socat's EXEC:...,stderr), fds 0, 1 and 2 the one client;
 *  - a Unix socket other than a capture of the program's output
 *    (ts_log_unix_socket_takes_lines: journald's stream, or a socketpair
 *    a parent or libuv made for a child's stdio): the program closed
 *    stderr and a connection to a server's path (a database's), or one
 *    it accepted on its own path, took the number.
 * Nor when there is no room for the line soon. */
static bool stderr_takes_line(int fd)
{
    int domain = 0;
    socklen_t len = sizeof domain;
    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 &&
        (domain == AF_INET || domain == AF_INET6 || socket_is_stdin(fd) ||
         (domain == AF_UNIX && !ts_log_unix_socket_takes_lines(fd, TS_JOURNAL_DIR))))
        return false;
    struct pollfd p = {fd, POLLOUT, 0};
    int r;
    while ((r = poll(&p, 1, TS_LOG_ROOM_WAIT_MS)) < 0 && errno == EINTR)
        ;
    return r == 1 && (p.revents & POLLOUT);
}

bool ts_log_muted TS_START_STATE;

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

bool (*ts_log_stderr_kept)(const char *line, size_t len);

bool ts_log_write_line(const char *line, size_t len)
{
    bool (*kept)(const char *, size_t) = __atomic_load_n(&ts_log_stderr_kept, __ATOMIC_ACQUIRE);
    if (kept)
        return kept(line, len);
    int saved_errno = errno;
    /* The reporter thread has no stderr of its own (fd_split.h): it writes
     * through a copy of the program's, taken for the line. */
    bool borrowed = ts_fd_split_here;
    int fd = borrowed ? ts_fd_split_borrow(STDERR_FILENO) : STDERR_FILENO;
    bool whole = ts_log_write_line_to(fd, line, len);
    if (borrowed && fd >= 0)
        TS_REAL(close)(fd);
    errno = saved_errno;
    return whole;
}

bool ts_log_write_line_to(int fd, const char *line, size_t len)
{
    int saved_errno = errno;
    bool whole = fd >= 0 && stderr_takes_line(fd);
    /* A stderr that is a file at the file size limit fails the line; the
     * program, which would not have written it, gets no SIGXFSZ for it. */
    struct ts_fsize_hold hold = {0};
    bool hit_limit = false;
    if (whole)
        ts_fsize_hold(&hold);
    while (whole && len > 0) {
        ssize_t w = TS_REAL(write)(fd, line, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            hit_limit = w < 0 && errno == EFBIG;
            whole = false;
            break; /* stderr closed or broken: nothing better to do */
        }
        line += w;
        len -= (size_t)w;
    }
    ts_fsize_release(&hold, hit_limit);
    errno = saved_errno;
    return whole;
}
