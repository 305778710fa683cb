/* socket_hooks.c — the calls that make, copy and end connections: they
 * decide which fds the fd table tracks.
 *
 * Their bookkeeping (the fd table, the connection pool, the spans a close
 * ends) runs under the reentrancy guard: a signal handler that interrupts
 * it and makes socket calls of its own (all async-signal-safe, so a program
 * may) then passes straight through the hooks instead of waiting for a lock
 * this thread already holds. A hook that finds the guard already held is
 * itself such a handler: it only empties the fd slots that must not stay
 * (a closed or replaced number), without ending spans, which would take
 * locks. A vfork child shares the parent's memory but not its fds, and
 * the reporter thread has an fd table of its own (preload/fd_split.h):
 * both leave the table alone. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <linux/seccomp.h>
#include <linux/tcp.h> /* struct tcp_info with tcpi_bytes_acked (glibc's stops short) */
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../preload/direct.h"
#include "../preload/fd_split.h"
#include "../preload/fdtable.h"
#include "../preload/fork_state.h"
#include "../preload/init.h"
#include "../preload/process.h"
#include "../preload/real.h"
#include "../preload/sandbox.h"
#include "../reporter/own_fd.h"
#include "../reporter/program_stderr.h"
#include "../reporter/reporter.h"
#include "conn.h"
#include "sandbox_hooks.h"
#include "shell_pipe.h"
#include "signal_hooks.h"
#include "socket_hooks.h"
#include "thread_hooks.h"

/* Are this thread's fd numbers other than those the fd table tracks? */
static bool fds_elsewhere(void)
{
    return ts_fd_split_here || ts_process_foreign();
}

/* Is fd, on this thread, another file than the one the fd table tracks at
 * its number: fds_elsewhere, or one of the thread's own numbers in a
 * table of its own (fdtable.h ts_fd_unshared)? */
static bool fd_elsewhere(int fd)
{
    return fds_elsewhere() || ts_fd_unshared(fd);
}

/* On a thread with an fd table of its own, [first, last] changed there
 * (closed, or new files at those numbers): the numbers are its own from
 * now on (fdtable.h), and the fd table, which holds the others', is left
 * alone. False on any other thread. */
static bool changed_in_own_table(unsigned first, unsigned last)
{
    if (__builtin_expect(!ts_fd_unshared_here, 1))
        return false;
    ts_fd_unshared_add(first, last);
    return true;
}

/* Is fd a stream that may carry HTTP: TCP over IPv4 or IPv6, or a
 * Unix-domain stream socket (nginx's proxy_pass to gunicorn's
 * unix:/run/app.sock, curl --unix-socket)? Other protocols on either
 * are given up at their first bytes. */
static bool is_followed_stream(int fd, int family)
{
    if (family != AF_INET && family != AF_INET6 && family != AF_UNIX)
        return false;
    int type = 0;
    socklen_t len = sizeof type;
    return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM;
}

/* Stop tracking fds [first, last]: ending their spans, or only emptying
 * their slots when this thread is inside the shim already. */
static void untrack(unsigned first, unsigned last)
{
    int saved = errno;
    if (ts_guard_active()) {
        ts_conn_forget_range(first, last);
    } else {
        ts_guard_enter();
        if (first == last)
            ts_conn_untrack((int)first);
        else
            ts_conn_untrack_range(first, last);
        ts_guard_leave();
    }
    errno = saved;
}

/* A new fd number may be one a program closed behind our back (a raw
 * close syscall): whatever we knew about it is stale. */
static void forget_stale(int fd)
{
    if (!changed_in_own_table((unsigned)fd, (unsigned)fd) && ts_fd_tracked(fd) && !fds_elsewhere())
        untrack((unsigned)fd, (unsigned)fd);
}

TS_EXPORT int socket(int domain, int type, int protocol)
{
    int fd = TS_REAL(socket)(domain, type, protocol);
    if (fd >= 0)
        forget_stale(fd);
    return fd;
}

/* What the kernel says of a TCP socket's connection (TCP_INFO). */
enum tcp_seen {
    TCP_SEEN_NOT_TCP,  /* no TCP socket (a Unix-domain or UDP one) */
    TCP_SEEN_NO_CONN,  /* closed, and never carried a byte: never connected,
                        * or its attempt failed (a connection the peer
                        * reset is closed too, but carried its bytes) */
    TCP_SEEN_CONN,     /* connecting, connected, or closed after bytes */
    TCP_SEEN_LISTENING /* nor is a listening socket one a call connects */
};
#define TCP_STATE_LISTEN 10 /* tcpi_state (the kernel's numbering, stable) */
#define TCP_STATE_CLOSE 7

static enum tcp_seen tcp_seen(int fd)
{
    struct tcp_info info;
    socklen_t len = sizeof info;
    memset(&info, 0, sizeof info);
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0)
        return TCP_SEEN_NOT_TCP;
    if (info.tcpi_state == TCP_STATE_LISTEN)
        return TCP_SEEN_LISTENING;
    /* (a kernel before 4.1 fills no byte counts: closed counts as unused) */
    bool carried = info.tcpi_bytes_acked || info.tcpi_bytes_received;
    return info.tcpi_state == TCP_STATE_CLOSE && !carried ? TCP_SEEN_NO_CONN : TCP_SEEN_CONN;
}

/* A connect on a socket the shim follows from an attempt that failed (a
 * non-blocking connect or Fast Open refused after its call returned): a
 * new attempt, whose connection is not that one. Keeps errno. */
static void forget_failed_attempt(int fd)
{
    if (!ts_fd_tracked(fd) || !ts_ready() || fd_elsewhere(fd))
        return;
    int saved = errno;
    if (tcp_seen(fd) == TCP_SEEN_NO_CONN)
        untrack((unsigned)fd, (unsigned)fd);
    errno = saved;
}

TS_EXPORT int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    forget_failed_attempt(fd);
    int r = TS_REAL(connect)(fd, addr, len);
    if (!ts_ready())
        return r;
    int saved = errno;
    /* connect to AF_UNSPEC dissolves a TCP connection (the socket may then
     * connect anew, elsewhere): its spans end as at a close. */
    if (r == 0 && addr && len >= sizeof addr->sa_family && addr->sa_family == AF_UNSPEC) {
        if (ts_fd_tracked(fd) && !fd_elsewhere(fd))
            untrack((unsigned)fd, (unsigned)fd);
        errno = saved;
        return r;
    }
    /* EINTR: the signal ended the wait, not the connection attempt, which
     * goes on in the kernel (POSIX); a program may learn its outcome with
     * poll and SO_ERROR and never call connect again, so track it now, as
     * for a non-blocking connect in progress. A Unix-domain socket's
     * attempt ends with the wait: it is not connected. The address is
     * read only once the kernel took it (one in the zero page fails with
     * EFAULT, which the program gets, never a fault in the shim). */
    bool connecting =
        r == 0 || saved == EINPROGRESS ||
        (saved == EINTR && addr && len >= sizeof addr->sa_family && addr->sa_family != AF_UNIX);
    if (connecting && addr && len >= sizeof addr->sa_family &&
        is_followed_stream(fd, addr->sa_family) && !fd_elsewhere(fd)) {
        ts_guard_enter();
        /* A second connect on a non-blocking socket (to learn the result)
         * must not reset the connection we already track. */
        struct ts_conn *c = ts_conn_get(fd);
        if (c)
            ts_conn_put(c);
        else
            ts_conn_track(fd, TS_ROLE_CLIENT, addr, len);
        ts_guard_leave();
    }
    errno = saved;
    return r;
}

bool ts_socket_fast_open_follows(int fd, const struct sockaddr *to, socklen_t to_len)
{
    if (!ts_ready() || !to || to_len < sizeof to->sa_family ||
        (to->sa_family != AF_INET && to->sa_family != AF_INET6) || fd_elsewhere(fd))
        return false;
    int saved = errno;
    enum tcp_seen seen = tcp_seen(fd);
    bool tracked = ts_fd_tracked(fd);
    /* Untracked: only a socket in no connection is one the call connects
     * (not a listening one, nor one connected where no hook saw it).
     * Tracked from an attempt that failed: this call fails too (Linux
     * fails the first after a failure), and ts_socket_fast_open_ends lets
     * the socket go. */
    if (!tracked && seen == TCP_SEEN_NO_CONN) {
        ts_guard_enter();
        ts_conn_track(fd, TS_ROLE_CLIENT, to, to_len);
        ts_guard_leave();
        tracked = ts_fd_tracked(fd);
    }
    errno = saved;
    return tracked && (seen == TCP_SEEN_NO_CONN || seen == TCP_SEEN_CONN);
}

void ts_socket_fast_open_ends(int fd, ssize_t r)
{
    if (r < 0) /* the call may have begun nothing: as before a connect */
        forget_failed_attempt(fd);
}

/* A connection accepted on a listening socket: track it as a server's. */
static int accepted(int fd)
{
    if (fd < 0)
        return fd;
    if (!ts_ready() || fds_elsewhere() || ts_fd_unshared_here) {
        forget_stale(fd); /* (a number of a thread's own table: its own from now on) */
        return fd;
    }
    int saved = errno;
    ts_guard_enter();
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0 && is_followed_stream(fd, ss.ss_family))
        ts_conn_track(fd, TS_ROLE_SERVER, NULL, 0); /* replaces a stale entry */
    else if (ts_fd_tracked(fd))
        ts_conn_untrack(fd);
    ts_guard_leave();
    errno = saved;
    return fd;
}

/* Does a Unix-domain socket fd, whose peer's address was peer_len long,
 * have a name at either end: one accepted on or connected to a path, not
 * one of a socketpair (an IPC channel, which never came through connect
 * or accept)? */
static bool unix_named(int fd, socklen_t peer_len)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    return peer_len > sizeof(sa_family_t) ||
           (getsockname(fd, (struct sockaddr *)&ss, &len) == 0 && len > sizeof(sa_family_t));
}

/* Is fd, which the process did not connect or accept itself, a
 * connection that may carry HTTP: a connected stream socket over TCP, or a
 * Unix-domain one with a name (no socketpair's)? */
static bool connection_to_follow(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    return getpeername(fd, (struct sockaddr *)&ss, &len) == 0 &&
           is_followed_stream(fd, ss.ss_family) && (ss.ss_family != AF_UNIX || unix_named(fd, len));
}

/* An fd another process handed over: a connection to follow is followed
 * as a server's. That is what a connection handed over is, nearly always
 * (Node's cluster, a supervisor that accepts for its workers); a client's
 * taken for a server's only goes unfollowed, as its requests parse as no
 * response. */
static void received(int fd)
{
    if (changed_in_own_table((unsigned)fd, (unsigned)fd) || fds_elsewhere())
        return;
    ts_guard_enter();
    if (connection_to_follow(fd))
        ts_conn_track(fd, TS_ROLE_SERVER, NULL, 0); /* replaces a stale entry */
    else if (ts_fd_tracked(fd))
        ts_conn_untrack(fd);
    ts_guard_leave();
}

void ts_socket_fds_received(const struct msghdr *msg)
{
    if (!ts_ready())
        return;
    int saved = errno;
    struct msghdr *m = (struct msghdr *)msg; /* CMSG_NXTHDR's argument is not const */
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(m); cm; cm = CMSG_NXTHDR(m, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS ||
            cm->cmsg_len < CMSG_LEN(0))
            continue;
        size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < n; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(cm) + i * sizeof fd, sizeof fd);
            received(fd);
        }
    }
    errno = saved;
}

TS_FORK_HANDLER void ts_socket_hooks_after_fork(void)
{
    /* A child forked by a thread with an fd table of its own has that
     * table: the connections the fd table holds at the thread's own
     * numbers are the other threads', none of them here. Forgotten (no
     * span of the parent's is the child's to end); the child's own are
     * followed, and the connections the thread kept are the child's as
     * after any fork. */
    if (!ts_fd_unshared_here)
        return;
    unsigned first = ts_fd_unshared_first, last = ts_fd_unshared_last;
    ts_fd_unshared_here = false;
    ts_fd_unshared_first = 1;
    ts_fd_unshared_last = 0;
    if (first <= last)
        ts_conn_forget_range(first, last);
}

void ts_socket_hooks_init(void)
{
    int saved = errno;
    struct stat in, out;
    /* most programs: fd 0 is no socket, and the first call says so */
    if (!connection_to_follow(0) || fstat(0, &in) != 0) {
        errno = saved;
        return;
    }
    ts_conn_track(0, TS_ROLE_SERVER, NULL, 0);
    for (int fd = 1; fd <= 2; fd++)
        if (fstat(fd, &out) == 0 && out.st_dev == in.st_dev && out.st_ino == in.st_ino)
            ts_conn_dup(0, fd);
    errno = saved;
}

TS_EXPORT int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
    return accepted(TS_REAL(accept)(fd, addr, len));
}

TS_EXPORT int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    return accepted(TS_REAL(accept4)(fd, addr, len, flags));
}

/* closing's part on a thread with an fd table of its own (kept out of
 * line: close is a hot path). */
static __attribute__((noinline)) bool closed_in_own_table(int fd)
{
    return fd >= 0 && changed_in_own_table((unsigned)fd, (unsigned)fd);
}

/* Before fd goes away: the spans of its connection end. Untracked before
 * the real close, since the number may be reused by another thread the
 * moment the kernel frees it. */
static inline __attribute__((always_inline)) void closing(int fd)
{
    if (__builtin_expect(ts_fd_unshared_here, 0) && closed_in_own_table(fd))
        return; /* closed in the thread's own table: not the program's stderr either */
    if (fd == STDERR_FILENO)
        ts_program_stderr_closing(); /* during the exit, a copy is kept first */
    bool tracked = ts_fd_tracked(fd);
    bool own = fd >= 0 && ts_own_fd_among((unsigned)fd, (unsigned)fd);
    if ((tracked || own) && !fds_elsewhere()) {
        int saved = errno;
        if (own)
            ts_own_fd_taken((unsigned)fd, (unsigned)fd); /* the shim's own fd: no longer ours */
        if (tracked)
            untrack((unsigned)fd, (unsigned)fd);
        errno = saved;
    }
}

/* A server that shuts its sending side ends a response that runs to the
 * close there (busybox httpd shuts it and exits, closing nothing). */
TS_EXPORT int shutdown(int fd, int how)
{
    int r = TS_REAL(shutdown)(fd, how);
    if (r == 0 && ts_fd_tracked(fd) && !fd_elsewhere(fd)) {
        int saved = errno;
        struct ts_conn *c = ts_conn_get(fd);
        if (c) {
            ts_conn_shut(c, how);
            ts_conn_put(c);
        }
        errno = saved;
    }
    return r;
}

TS_EXPORT int close(int fd)
{
    closing(fd);
    return ts_pass_close(fd);
}

/* A stream's fd is closed by glibc's own close, which no hook sees: a
 * socket a program fdopen'ed is closed here. (A stream with no fd, as
 * fmemopen's, answers -1 and EBADF.) */
TS_EXPORT int fclose(FILE *stream)
{
    int status; /* a popen stream: its shell is waited for, as by glibc's fclose */
    if (ts_shell_pclose(stream, &status))
        return status;
    int saved = errno;
    int fd = stream ? fileno(stream) : -1;
    errno = saved;
    if (fd >= 0)
        closing(fd);
    return TS_REAL(fclose)(stream);
}

/* Does another thread of the program share the calling thread's fd
 * table, so that close_range's CLOSE_RANGE_UNSHARE gives this one a copy
 * of the table whose other numbers stay theirs (the kernel copies only
 * when the table is shared, and otherwise closes in place)? Asked of the
 * kernel, kcmp(KCMP_FILES) with each other thread of the process (listed
 * from /proc/self/task by system calls: no malloc, no stdio, as the
 * program may call close_range anywhere). Not the shim's reporter thread,
 * which uses none of the program's connections: a table shared with it
 * alone (before it left it, or TRACESHIM_OWN_FD_TABLE=0) is the caller's
 * as much after a copy. A thread the kernel will not compare (kcmp
 * refused, as a seccomp filter may) counts as sharing, and so does every
 * thread when the list cannot be read: the caller is then taken to have
 * a copy, as every thread of a program that made threads was. Only at
 * this rare call (a helper thread about to exec). */
static bool table_shared(void)
{
    if (!ts_program_made_threads())
        return false;
    long self = TS_REAL(syscall)(SYS_gettid);
    long reporter = ts_rep_thread_id();
    int dir = (int)TS_REAL(syscall)(SYS_openat, AT_FDCWD, "/proc/self/task",
                                    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0)
        return true;
    bool shared = false;
    long n;
    union {
        char bytes[2048];
        unsigned long long align;
    } buf;
    while (!shared && (n = TS_REAL(syscall)(SYS_getdents64, dir, buf.bytes, sizeof buf)) > 0) {
        for (long at = 0; at < n && !shared;) {
            /* struct linux_dirent64: d_ino, d_off, d_reclen, d_type, d_name */
            const char *entry = buf.bytes + at;
            unsigned short reclen;
            memcpy(&reclen, entry + 16, sizeof reclen);
            const char *name = entry + 19;
            at += reclen ? reclen : n;
            long tid = 0;
            for (const char *p = name; *p >= '0' && *p <= '9' && tid < 1L << 40; p++)
                tid = tid * 10 + (*p - '0');
            if (tid <= 0 || tid == self || tid == reporter)
                continue;
            long cmp = TS_REAL(syscall)(SYS_kcmp, self, tid, KCMP_FILES, 0, 0);
            shared = cmp == 0 || (cmp < 0 && errno != ESRCH); /* (ESRCH: it ended) */
        }
    }
    if (n < 0)
        shared = true;
    TS_REAL(close)(dir);
    return shared;
}

/* Before fds [first, last] go away, unless flags only mark them
 * close-on-exec, or the calling thread takes an fd table of its own
 * (CLOSE_RANGE_UNSHARE while another thread shares its table: the closes
 * happen in its copy): a helper thread that drops every fd before it
 * execs leaves the connections of the others open. From then on the
 * numbers it closed are not the table's (fdtable.h ts_fd_unshared): a
 * socket it makes next takes one of them, as a connection of the others'
 * has it in theirs, and must not take that connection over (its requests
 * traced in the other's place, its close ending the other's). The
 * numbers it kept are the same files in its copy (a connection it uses
 * there is followed as before); with CLOSE_RANGE_CLOEXEC it kept them
 * all, only marked close-on-exec (which its exec then reads from its
 * copy). Without another thread sharing the table (they all ended),
 * the kernel copies nothing and closes in place: the plain close_range it
 * looks like. On a thread whose table is its own already, the closes are
 * there. Keeps errno. */
static void closing_range(unsigned first, unsigned last, int flags)
{
    if (first > last || fds_elsewhere())
        return;
    int saved = errno;
    if (!ts_fd_unshared_here && flags & CLOSE_RANGE_UNSHARE && table_shared())
        ts_fd_unshared_here = true; /* before the call: a handler's hooks see it */
    errno = saved;
    if (flags & CLOSE_RANGE_CLOEXEC || changed_in_own_table(first, last))
        return;
    if (first <= STDERR_FILENO && last >= STDERR_FILENO)
        ts_program_stderr_closing();
    ts_own_fd_taken(first, last);
    untrack(first, last);
    errno = saved;
}

/* A thread's own numbers (fdtable.h), saved before a close_range that may
 * change them, and put back when the call fails. */
struct unshared_view {
    bool here;
    unsigned first, last;
};

static struct unshared_view unshared_view(void)
{
    return (struct unshared_view){ts_fd_unshared_here, ts_fd_unshared_first, ts_fd_unshared_last};
}

static void unshared_if(struct unshared_view before, long r)
{
    if (r != 0) {
        ts_fd_unshared_here = before.here;
        ts_fd_unshared_first = before.first;
        ts_fd_unshared_last = before.last;
    }
}

TS_EXPORT int close_range(unsigned first, unsigned last, int flags)
{
    struct unshared_view before = unshared_view();
    closing_range(first, last, flags);
    int r = TS_REAL(close_range)(first, last, flags);
    unshared_if(before, r);
    return r;
}

/* glibc's closefrom closes through an internal close_range that no hook
 * sees, so it is a door of its own (daemons call it to drop what they
 * inherited). */
TS_EXPORT void closefrom(int lowfd)
{
    closing_range(lowfd > 0 ? (unsigned)lowfd : 0, ~0U, 0); /* as glibc reads lowfd */
    TS_REAL(closefrom)(lowfd);
}

/* newfd is a copy of oldfd now: it shares oldfd's connection. Inside the
 * shim already (a signal handler), newfd is only forgotten. */
static int duplicated(int oldfd, int newfd)
{
    if (newfd >= 0 && newfd != oldfd && !changed_in_own_table((unsigned)newfd, (unsigned)newfd) &&
        (ts_fd_tracked(oldfd) || ts_fd_tracked(newfd)) && !fds_elsewhere()) {
        int saved = errno;
        if (ts_guard_active()) {
            ts_conn_forget_range((unsigned)newfd, (unsigned)newfd);
        } else {
            ts_guard_enter();
            ts_conn_dup(oldfd, newfd);
            ts_guard_leave();
        }
        errno = saved;
    }
    return newfd;
}

TS_EXPORT int dup(int fd)
{
    return duplicated(fd, TS_REAL(dup)(fd));
}

/* Before dup2/dup3 replace newfd: if it is one of the shim's own fds, the
 * shim lets go of the number first (reporter/own_fd.h); fd 2 is the
 * program's stderr leaving (reporter/program_stderr.h). */
static void replacing(int oldfd, int newfd)
{
    if (ts_fd_unshared_here)
        return; /* replaced in the thread's own table (duplicated notes the number) */
    if (newfd == STDERR_FILENO && oldfd != newfd)
        ts_program_stderr_closing();
    if (newfd >= 0 && newfd != oldfd && ts_own_fd_among((unsigned)newfd, (unsigned)newfd) &&
        !fds_elsewhere()) {
        int saved = errno;
        ts_own_fd_taken((unsigned)newfd, (unsigned)newfd);
        errno = saved;
    }
}

TS_EXPORT int dup2(int oldfd, int newfd)
{
    replacing(oldfd, newfd);
    return duplicated(oldfd, TS_REAL(dup2)(oldfd, newfd));
}

TS_EXPORT int dup3(int oldfd, int newfd, int flags)
{
    replacing(oldfd, newfd);
    return duplicated(oldfd, TS_REAL(dup3)(oldfd, newfd, flags));
}

/* fcntl's third argument is an int or a pointer depending on cmd; on the
 * ABIs we support both travel in the same register, so pass it as a
 * pointer-sized value (as every fcntl wrapper does). */
static int fcntl_duplicated(int fd, int cmd, int r)
{
    if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)
        duplicated(fd, r);
    return r;
}

static int fcntl_common(int (*real)(int, int, ...), int fd, int cmd, void *arg)
{
    return fcntl_duplicated(fd, cmd, real(fd, cmd, arg));
}

TS_EXPORT int fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return fcntl_common(TS_REAL(fcntl), fd, cmd, arg);
}

TS_EXPORT int fcntl64(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return fcntl_common(TS_REAL(fcntl64), fd, cmd, arg);
}

/* libuv, and so Node, closes every fd with syscall(SYS_close, fd), not
 * close: through glibc's syscall function, the calls that close or
 * replace an fd are seen here as through their own doors, so a closed
 * connection's number is not left tracked for whatever takes it next (a
 * socketpair or a pipe that would get trace lines, or be read as HTTP).
 * Every call passes on with the six arguments glibc's syscall itself
 * reads, whatever the caller gave. */
TS_EXPORT long syscall(long number, ...)
{
    va_list ap;
    va_start(ap, number);
    long a[6];
    for (int i = 0; i < 6; i++)
        a[i] = va_arg(ap, long);
    va_end(ap);
    /* int arguments came in 64-bit registers: only the low half is theirs */
    int fd = (int)a[0], newfd = (int)a[1];
#define TS_REAL_SYSCALL() TS_REAL(syscall)(number, a[0], a[1], a[2], a[3], a[4], a[5])
    switch (number) {
    case SYS_close:
        closing(fd);
        break;
#ifdef SYS_close_range
    case SYS_close_range: {
        struct unshared_view before = unshared_view();
        closing_range((unsigned)a[0], (unsigned)a[1], (int)a[2]);
        long r = TS_REAL_SYSCALL();
        unshared_if(before, r);
        return r;
    }
#endif
    case SYS_dup:
        return duplicated(fd, (int)TS_REAL_SYSCALL());
#ifdef SYS_dup2
    case SYS_dup2:
#endif
    case SYS_dup3:
        replacing(fd, newfd);
        return duplicated(fd, (int)TS_REAL_SYSCALL());
    case SYS_fcntl:
        return fcntl_duplicated(fd, (int)a[1], (int)TS_REAL_SYSCALL());
    case SYS_chroot: /* (a change of user through syscall is the calling thread's alone) */
#ifdef SYS_pivot_root
    case SYS_pivot_root:
#endif
        if (ts_ready())
            ts_rep_before_giving_up_access((uid_t)-1);
        break;
    case SYS_rt_sigaction:
        ts_signal_raw_action_coming((const void *)a[1]);
        break;
    case SYS_seccomp:
        /* Strict mode with flags or arguments the kernel refuses (EINVAL)
         * before it looks at anything else: libseccomp asks for it so,
         * seccomp(SECCOMP_SET_MODE_STRICT, 1, NULL), to learn whether the
         * system call is there (apt's methods with APT::Sandbox::Seccomp:
         * every later call of theirs went untraced). */
        if (a[0] == SECCOMP_SET_MODE_STRICT && (unsigned)a[1] == 0 && a[2] == 0) {
            struct ts_strict_note note = ts_sandbox_strict_coming();
            long r = TS_REAL_SYSCALL();
            if (r != 0) /* (in strict mode now, nothing but the return) */
                ts_sandbox_strict_refused(note);
            return r;
        }
        if (a[0] == SECCOMP_SET_MODE_FILTER)
            ts_sandbox_filter_coming();
        break;
    default:
        break;
    }
    return TS_REAL_SYSCALL();
#undef TS_REAL_SYSCALL
}
