/* io_hooks.c — every door bytes go through: the read and write families.
 *
 * Each hook reads like a sentence: an untracked fd (or the shim's own work)
 * goes straight to libc; a tracked connection's bytes go through conn.c,
 * which calls the real function itself and keeps errno as libc left it. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../preload/direct.h"
#include "../preload/fdtable.h"
#include "../preload/init.h"
#include "../preload/real.h"
#include "conn.h"
#include "held.h"
#include "iov.h"
#include "refused_address.h"
#include "socket_hooks.h"

/* The untracked fast path: one bounds check and one load. Each hook's
 * traced path is a function of its own (NAME_traced, noinline): inlined
 * into the hook, its registers were saved and restored on every call,
 * the untracked ones included (16 instructions added per call became 24,
 * bench/run.sh's callgrind count). */
#define TS_PASSTHROUGH(fd) (__builtin_expect(!ts_fd_tracked(fd), 1) || ts_guard_active_at_entry())

/* A counted reference to fd's connection, taken under the guard: when the
 * fd was untracked meanwhile, dropping the reference may end the
 * connection's spans (locks), which a signal handler interrupting it must
 * not walk into (socket_hooks.c). None for one of the own numbers of a
 * thread whose fd table is its own (fdtable.h): the number names another
 * file there. */
static inline struct ts_conn *conn_get_guarded(int fd)
{
    if (ts_fd_unshared(fd))
        return NULL;
    ts_guard_enter();
    struct ts_conn *c = ts_conn_get(fd);
    ts_guard_leave();
    return c;
}

/* After r bytes went out of (or into) a tracked connection where the shim
 * did not look at them (a sendfile or splice moved them without passing
 * through memory; a send the shim may not rewrite passed them on): let its
 * parser count them, or give the connection up when it cannot. */
static void moved_unseen(int fd, ssize_t r, bool out)
{
    int err = errno;
    struct ts_conn *c = conn_get_guarded(fd);
    if (!c) {
        errno = err;
        return;
    }
    ts_guard_enter();
    errno = err; /* a failure's: the client gone (ts_conn_sent_unseen) */
    if (out)
        ts_conn_sent_unseen(c, r);
    else
        ts_conn_received_unseen(c, r);
    ts_conn_put(c);
    ts_guard_leave();
    errno = err;
}

/* ------------------------------------------------------------- receive */

/* The original arguments of a receive, to replay them through the real
 * function. */
struct recv_call {
    int fd;
    void *buf;
    size_t len;
    size_t buflen; /* FORTIFY's object size */
    int flags;
    struct sockaddr *addr;
    socklen_t *addrlen;
    const struct iovec *iov;
    int iovcnt;
    struct msghdr *msg;
};

/* The real function behind a hook, given the call's arguments. */
typedef ssize_t (*recv_call_fn)(struct recv_call *);

/* Does a receive's result r say anything of the stream? 0 bytes into a
 * buffer with no room is no end of stream (the kernel says 0 at once). */
static inline bool recv_tells(ssize_t r, const struct iovec *iov, int iovcnt)
{
    return r != 0 || ts_iov_total(iov, iovcnt) != 0;
}

/* Receive on a tracked connection and feed what arrived to its parser.
 * Inlined into each hook with its call_* constant, which the compiler
 * then inlines too: rc is a few registers rather than a struct built on
 * the stack, and the real function a direct call (a receive per request
 * on a keep-alive server). */
static inline __attribute__((always_inline)) ssize_t
traced_recv(recv_call_fn call, struct recv_call *rc, const struct iovec *iov, int iovcnt)
{
    struct ts_conn *c = conn_get_guarded(rc->fd);
    if (!c)
        return call(rc);
    struct ts_held_conn_note held = ts_held_conn(rc->fd, c); /* let go if it ends in the call */
    ssize_t r = call(rc);
    int err = errno;
    ts_held_conn_end(held);
    ts_guard_enter();
    if (recv_tells(r, iov, iovcnt))
        ts_conn_recv_done(c, iov, iovcnt, r, rc->flags, err);
    ts_conn_done_with(rc->fd, c);
    ts_guard_leave();
    errno = err;
    return r;
}

static ssize_t call_read(struct recv_call *rc)
{
    return ts_pass_read(rc->fd, rc->buf, rc->len);
}

static ssize_t call_read_chk(struct recv_call *rc)
{
    return ts_pass_read_chk(rc->fd, rc->buf, rc->len, rc->buflen);
}

static ssize_t call_readv(struct recv_call *rc)
{
    return ts_pass_readv(rc->fd, rc->iov, rc->iovcnt);
}

static ssize_t call_recv(struct recv_call *rc)
{
    return ts_pass_recv(rc->fd, rc->buf, rc->len, rc->flags);
}

static ssize_t call_recv_chk(struct recv_call *rc)
{
    return ts_pass_recv_chk(rc->fd, rc->buf, rc->len, rc->buflen, rc->flags);
}

static ssize_t call_recvfrom(struct recv_call *rc)
{
    return ts_pass_recvfrom(rc->fd, rc->buf, rc->len, rc->flags, rc->addr, rc->addrlen);
}

static ssize_t call_recvfrom_chk(struct recv_call *rc)
{
    return ts_pass_recvfrom_chk(rc->fd, rc->buf, rc->len, rc->buflen, rc->flags, rc->addr,
                                   rc->addrlen);
}

static ssize_t call_recvmsg(struct recv_call *rc)
{
    return ts_pass_recvmsg(rc->fd, rc->msg, rc->flags);
}

/* A receive into one buffer. */
static inline __attribute__((always_inline)) ssize_t recv_one(recv_call_fn call,
                                                              struct recv_call *rc)
{
    struct iovec iov = {rc->buf, rc->len};
    return traced_recv(call, rc, &iov, 1);
}

static __attribute__((noinline)) ssize_t read_traced(int fd, void *buf, size_t len)
{
    struct recv_call rc = {.fd = fd, .buf = buf, .len = len};
    return recv_one(call_read, &rc);
}

TS_EXPORT ssize_t read(int fd, void *buf, size_t len)
{
    if (TS_PASSTHROUGH(fd))
        return ts_pass_read(fd, buf, len);
    return read_traced(fd, buf, len);
}

static __attribute__((noinline)) ssize_t __read_chk_traced(int fd, void *buf, size_t len,
                                                           size_t buflen)
{
    struct recv_call rc = {.fd = fd, .buf = buf, .len = len, .buflen = buflen};
    return recv_one(call_read_chk, &rc);
}

TS_EXPORT ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen)
{
    if (TS_PASSTHROUGH(fd))
        return ts_pass_read_chk(fd, buf, len, buflen);
    return __read_chk_traced(fd, buf, len, buflen);
}

static __attribute__((noinline)) ssize_t readv_traced(int fd, const struct iovec *iov, int iovcnt)
{
    struct recv_call rc = {.fd = fd, .iov = iov, .iovcnt = iovcnt};
    return traced_recv(call_readv, &rc, iov, iovcnt);
}

TS_EXPORT ssize_t readv(int fd, const struct iovec *iov, int iovcnt)
{
    if (TS_PASSTHROUGH(fd))
        return ts_pass_readv(fd, iov, iovcnt);
    return readv_traced(fd, iov, iovcnt);
}

static __attribute__((noinline)) ssize_t recv_traced(int fd, void *buf, size_t len, int flags)
{
    struct recv_call rc = {.fd = fd, .buf = buf, .len = len, .flags = flags};
    return recv_one(call_recv, &rc);
}

TS_EXPORT ssize_t recv(int fd, void *buf, size_t len, int flags)
{
    if (TS_PASSTHROUGH(fd))
        return ts_pass_recv(fd, buf, len, flags);
    return recv_traced(fd, buf, len, flags);
}

static __attribute__((noinline)) ssize_t __recv_chk_traced(int fd, void *buf, size_t len,
                                                           size_t buflen, int flags)
{
    struct recv_call rc = {.fd = fd, .buf = buf, .len = len, .buflen = buflen, .flags = flags};
    return recv_one(call_recv_chk, &rc);
}

TS_EXPORT ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags)
{
    if (TS_PASSTHROUGH(fd))
        return ts_pass_recv_chk(fd, buf, len, buflen, flags);
    return __recv_chk_traced(fd, buf, len, buflen, flags);
}

static __attribute__((noinline)) ssize_t recvfrom_traced(int fd, void *buf, size_t len, int flags,
                                                         struct sockaddr *addr, socklen_t *addrlen)
{
    struct recv_call rc = {
        .fd = fd, .buf = buf, .len = len, .flags = flags, .addr = addr, .addrlen = addrlen};
    return recv_one(call_recvfrom, &rc);
}

TS_EXPORT ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *addr,
                           socklen_t *addrlen)
{
    if (TS_PASSTHROUGH(fd))
        return ts_pass_recvfrom(fd, buf, len, flags, addr, addrlen);
    return recvfrom_traced(fd, buf, len, flags, addr, addrlen);
}

static __attribute__((noinline)) ssize_t __recvfrom_chk_traced(int fd, void *buf, size_t len,
                                                               size_t buflen, int flags,
                                                               struct sockaddr *addr,
                                                               socklen_t *addrlen)
{
    struct recv_call rc = {.fd = fd,
                           .buf = buf,
                           .len = len,
                           .buflen = buflen,
                           .flags = flags,
                           .addr = addr,
                           .addrlen = addrlen};
    return recv_one(call_recvfrom_chk, &rc);
}

TS_EXPORT ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags,
                                 struct sockaddr *addr, socklen_t *addrlen)
{
    if (TS_PASSTHROUGH(fd))
        return ts_pass_recvfrom_chk(fd, buf, len, buflen, flags, addr, addrlen);
    return __recvfrom_chk_traced(fd, buf, len, buflen, flags, addr, addrlen);
}

static __attribute__((noinline)) ssize_t recvmsg_traced(int fd, struct msghdr *msg, int flags)
{
    struct recv_call rc = {.fd = fd, .msg = msg, .flags = flags};
    return traced_recv(call_recvmsg, &rc, msg->msg_iov, (int)msg->msg_iovlen);
}

TS_EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
    if (__builtin_expect(ts_address_refused(msg), 0))
        return ts_pass_recvmsg(fd, msg, flags);
    bool own = ts_guard_active_at_entry();
    ssize_t r = own || !ts_fd_tracked(fd) ? ts_pass_recvmsg(fd, msg, flags)
                                          : recvmsg_traced(fd, msg, flags);
    /* fds handed over (SCM_RIGHTS) come with control messages */
    if (__builtin_expect(r >= 0 && msg->msg_controllen != 0, 0) && !own)
        ts_socket_fds_received(msg);
    return r;
}

/* ---------------------------------------------------------------- send */

struct send_call {
    int fd;
    const void *buf;
    size_t len;
    int flags;
    const struct sockaddr *addr;
    socklen_t addrlen;
    const struct iovec *iov;
    int iovcnt;
    const struct msghdr *msg;
};

/* Send on a tracked connection: conn.c passes the call on or rewrites it,
 * and leaves errno as the program is to see it. Inlined into each hook, as
 * traced_recv is. fast_open_to: the address of a TCP Fast Open send that
 * begins the connection (NULL for any other send). */
static inline __attribute__((always_inline)) ssize_t
traced_send(ts_conn_pass_fn call, struct send_call *sc, const struct iovec *iov, int iovcnt,
            const struct sockaddr *fast_open_to, socklen_t fast_open_len)
{
    struct ts_conn *c = conn_get_guarded(sc->fd);
    if (!c)
        return call(sc);
    struct ts_held_conn_note held = ts_held_conn(sc->fd, c); /* let go if it leaves the call */
    struct ts_held_call frame;
    ts_guard_enter();
    ts_held_send_begin(&frame); /* under the guard: let go if a siglongjmp leaves it */
    ssize_t r = fast_open_to ? ts_conn_send_fast_open(c, sc->fd, iov, iovcnt, sc->flags,
                                                      fast_open_to, fast_open_len, call, sc)
                             : ts_conn_send(c, sc->fd, iov, iovcnt, sc->flags, call, sc);
    ts_held_send_end(&frame);
    ts_held_conn_end(held);
    ts_conn_done_with(sc->fd, c); /* keeps the errno the send left */
    ts_guard_leave();
    return r;
}

static ssize_t call_write(void *arg)
{
    const struct send_call *sc = arg;
    return ts_pass_write(sc->fd, sc->buf, sc->len);
}

static ssize_t call_writev(void *arg)
{
    const struct send_call *sc = arg;
    return ts_pass_writev(sc->fd, sc->iov, sc->iovcnt);
}

static ssize_t call_send(void *arg)
{
    const struct send_call *sc = arg;
    return ts_pass_send(sc->fd, sc->buf, sc->len, sc->flags);
}

static ssize_t call_sendto(void *arg)
{
    const struct send_call *sc = arg;
    return ts_pass_sendto(sc->fd, sc->buf, sc->len, sc->flags, sc->addr, sc->addrlen);
}

static ssize_t call_sendmsg(void *arg)
{
    const struct send_call *sc = arg;
    return ts_pass_sendmsg(sc->fd, sc->msg, sc->flags);
}

static inline __attribute__((always_inline)) ssize_t send_one(ts_conn_pass_fn call,
                                                              struct send_call *sc)
{
    struct iovec iov = {(void *)sc->buf, sc->len};
    return traced_send(call, sc, &iov, 1, NULL, 0);
}

static __attribute__((noinline)) ssize_t write_traced(int fd, const void *buf, size_t len)
{
    struct send_call sc = {.fd = fd, .buf = buf, .len = len};
    return send_one(call_write, &sc);
}

TS_EXPORT ssize_t write(int fd, const void *buf, size_t len)
{
    if (TS_PASSTHROUGH(fd))
        return ts_pass_write(fd, buf, len);
    return write_traced(fd, buf, len);
}

static __attribute__((noinline)) ssize_t writev_traced(int fd, const struct iovec *iov, int iovcnt)
{
    struct send_call sc = {.fd = fd, .iov = iov, .iovcnt = iovcnt};
    return traced_send(call_writev, &sc, iov, iovcnt, NULL, 0);
}

TS_EXPORT ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
    if (TS_PASSTHROUGH(fd))
        return ts_pass_writev(fd, iov, iovcnt);
    return writev_traced(fd, iov, iovcnt);
}

static __attribute__((noinline)) ssize_t send_traced(int fd, const void *buf, size_t len, int flags)
{
    struct send_call sc = {.fd = fd, .buf = buf, .len = len, .flags = flags};
    return send_one(call_send, &sc);
}

TS_EXPORT ssize_t send(int fd, const void *buf, size_t len, int flags)
{
    if (TS_PASSTHROUGH(fd))
        return ts_pass_send(fd, buf, len, flags);
    return send_traced(fd, buf, len, flags);
}

static __attribute__((noinline)) ssize_t sendto_traced(int fd, const void *buf, size_t len,
                                                       int flags, const struct sockaddr *addr,
                                                       socklen_t addrlen)
{
    struct send_call sc = {
        .fd = fd, .buf = buf, .len = len, .flags = flags, .addr = addr, .addrlen = addrlen};
    return send_one(call_sendto, &sc);
}

/* A send on a tracked connection that the shim passes on as it came: one
 * with ancillary data (the shim's rewrite could not carry it once, and
 * only once), one with an address on a Unix-domain socket. Its bytes are
 * counted as unseen. */
static ssize_t sent_as_it_came(int fd, ssize_t r)
{
    moved_unseen(fd, r, true);
    return r;
}

/* The address of a send on a tracked connection: one the kernel would
 * refuse (EFAULT, EINVAL) before it looks at the socket, when the shim
 * would rewrite the call without it. Any other address on a connected TCP
 * socket the kernel ignores. */
static bool address_refused(const void *addr, socklen_t addrlen)
{
    return addr && (ts_address_refused(addr) || addrlen > sizeof(struct sockaddr_storage));
}

/* An address on a send on a Unix-domain stream socket, which the kernel
 * refuses (EISCONN, EOPNOTSUPP) where TCP ignores it: the call goes as it
 * came, to be refused. Rare: a system call only when there is one. */
static bool unix_addressed(int fd, const void *addr, socklen_t addrlen)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    return addr && addrlen && getsockname(fd, (struct sockaddr *)&ss, &len) == 0 &&
           ss.ss_family == AF_UNIX;
}

/* A TCP Fast Open send (MSG_FASTOPEN with an address): a connect and a
 * send in one call (wget2 opens its connections so). On a TCP socket in no
 * connection the shim follows the connection from this call on, as from a
 * connect; there and on one it follows (a second call while the first
 * connects, or after) the call's bytes are a send's on the connection,
 * the kernel deciding with the shim's first call, which carries the
 * address and the flag, what the call does (connect, send, EALREADY,
 * EISCONN). */
static ssize_t fast_open_send(ts_conn_pass_fn call, struct send_call *sc, const struct iovec *iov,
                              int iovcnt, const struct sockaddr *to, socklen_t to_len)
{
    if (ts_socket_fast_open_follows(sc->fd, to, to_len)) {
        ssize_t r = traced_send(call, sc, iov, iovcnt, to, to_len);
        ts_socket_fast_open_ends(sc->fd, r);
        return r;
    }
    return ts_fd_tracked(sc->fd) ? sent_as_it_came(sc->fd, call(sc)) : call(sc);
}

/* Out of line, so that the hooks' other calls pay only the flag's test. */
static __attribute__((noinline, cold)) ssize_t sendto_fast_open(int fd, const void *buf, size_t len,
                                                                int flags,
                                                                const struct sockaddr *addr,
                                                                socklen_t addrlen)
{
    if (ts_guard_active_at_entry() || address_refused(addr, addrlen))
        return ts_pass_sendto(fd, buf, len, flags, addr, addrlen);
    struct send_call sc = {
        .fd = fd, .buf = buf, .len = len, .flags = flags, .addr = addr, .addrlen = addrlen};
    struct iovec iov = {(void *)buf, len};
    return fast_open_send(call_sendto, &sc, &iov, 1, addr, addrlen);
}

static __attribute__((noinline, cold)) ssize_t sendmsg_fast_open(int fd, const struct msghdr *msg,
                                                                 int flags)
{
    if (ts_guard_active_at_entry() || ts_address_refused(msg) ||
        address_refused(msg->msg_name, msg->msg_namelen))
        return ts_pass_sendmsg(fd, msg, flags);
    struct send_call sc = {.fd = fd, .msg = msg, .flags = flags};
    if (msg->msg_controllen) /* (see sent_as_it_came) */
        return ts_fd_tracked(fd) ? sent_as_it_came(fd, call_sendmsg(&sc)) : call_sendmsg(&sc);
    return fast_open_send(call_sendmsg, &sc, msg->msg_iov, (int)msg->msg_iovlen, msg->msg_name,
                          msg->msg_namelen);
}

TS_EXPORT ssize_t sendto(int fd, const void *buf, size_t len, int flags,
                         const struct sockaddr *addr, socklen_t addrlen)
{
    if (__builtin_expect(flags & MSG_FASTOPEN, 0))
        return sendto_fast_open(fd, buf, len, flags, addr, addrlen);
    if (TS_PASSTHROUGH(fd) || address_refused(addr, addrlen))
        return ts_pass_sendto(fd, buf, len, flags, addr, addrlen);
    if (unix_addressed(fd, addr, addrlen))
        return sent_as_it_came(fd, ts_pass_sendto(fd, buf, len, flags, addr, addrlen));
    return sendto_traced(fd, buf, len, flags, addr, addrlen);
}

static __attribute__((noinline)) ssize_t sendmsg_traced(int fd, const struct msghdr *msg, int flags)
{
    struct send_call sc = {.fd = fd, .msg = msg, .flags = flags};
    return traced_send(call_sendmsg, &sc, msg->msg_iov, (int)msg->msg_iovlen, NULL, 0);
}

static ssize_t sendmsg_hook(int fd, const struct msghdr *msg, int flags)
{
    if (__builtin_expect(flags & MSG_FASTOPEN, 0))
        return sendmsg_fast_open(fd, msg, flags);
    if (TS_PASSTHROUGH(fd) || ts_address_refused(msg) ||
        address_refused(msg->msg_name, msg->msg_namelen))
        return ts_pass_sendmsg(fd, msg, flags);
    if (msg->msg_controllen || unix_addressed(fd, msg->msg_name, msg->msg_namelen))
        return sent_as_it_came(fd, ts_pass_sendmsg(fd, msg, flags));
    return sendmsg_traced(fd, msg, flags);
}

TS_EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
    return sendmsg_hook(fd, msg, flags);
}

/* A message-vector send on a stream socket is a series of sends: each
 * message goes through the connection in order; a short one ends the call,
 * as the kernel's own loop would stop at a full socket buffer. Like the
 * kernel, it sends at most UIO_MAXIOV (IOV_MAX) messages a call. */
TS_EXPORT int sendmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, int flags)
{
    /* (with MSG_FASTOPEN, the first message may begin the connection) */
    if ((TS_PASSTHROUGH(fd) && !(flags & MSG_FASTOPEN)) || ts_address_refused(vec))
        return TS_REAL(sendmmsg)(fd, vec, vlen, flags);
    if (vlen > IOV_MAX)
        vlen = IOV_MAX;
    int orig = errno;
    unsigned int i;
    for (i = 0; i < vlen; i++) {
        struct msghdr *m = &vec[i].msg_hdr;
        ssize_t r = sendmsg_hook(fd, m, flags);
        if (r < 0 && i == 0)
            return -1;
        if (r < 0) { /* the kernel's: the messages sent, the error lost */
            errno = orig;
            return (int)i;
        }
        vec[i].msg_len = (unsigned int)r;
        if ((size_t)r < ts_iov_total(m->msg_iov, (int)m->msg_iovlen))
            return (int)i + 1;
    }
    return (int)i;
}

TS_EXPORT int recvmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, int flags,
                       struct timespec *timeout)
{
    if (TS_PASSTHROUGH(fd) || ts_address_refused(vec))
        return TS_REAL(recvmmsg)(fd, vec, vlen, flags, timeout);
    struct ts_conn *c = conn_get_guarded(fd);
    if (!c)
        return TS_REAL(recvmmsg)(fd, vec, vlen, flags, timeout);
    struct ts_held_conn_note held = ts_held_conn(fd, c); /* let go if it ends in the call */
    int r = TS_REAL(recvmmsg)(fd, vec, vlen, flags, timeout);
    int err = errno;
    ts_held_conn_end(held);
    ts_guard_enter();
    if (r < 0)
        ts_conn_recv_done(c, NULL, 0, -1, flags, err);
    for (int i = 0; i < r; i++) {
        const struct msghdr *m = &vec[i].msg_hdr;
        if (recv_tells((ssize_t)vec[i].msg_len, m->msg_iov, (int)m->msg_iovlen))
            ts_conn_recv_done(c, m->msg_iov, (int)m->msg_iovlen, (ssize_t)vec[i].msg_len, flags,
                              0);
    }
    ts_conn_done_with(fd, c);
    ts_guard_leave();
    errno = err;
    return r;
}

/* ---------------------------------------------- bytes the shim cannot see */

TS_EXPORT ssize_t sendfile(int out_fd, int in_fd, off_t *offset, size_t count)
{
    ssize_t r = TS_REAL(sendfile)(out_fd, in_fd, offset, count);
    if (!TS_PASSTHROUGH(out_fd))
        moved_unseen(out_fd, r, true);
    return r;
}

TS_EXPORT ssize_t sendfile64(int out_fd, int in_fd, off64_t *offset, size_t count)
{
    ssize_t r = TS_REAL(sendfile64)(out_fd, in_fd, offset, count);
    if (!TS_PASSTHROUGH(out_fd))
        moved_unseen(out_fd, r, true);
    return r;
}

TS_EXPORT ssize_t splice(int fd_in, loff_t *off_in, int fd_out, loff_t *off_out, size_t len,
                         unsigned int flags)
{
    ssize_t r = TS_REAL(splice)(fd_in, off_in, fd_out, off_out, len, flags);
    if (!TS_PASSTHROUGH(fd_out))
        moved_unseen(fd_out, r, true);
    if (!TS_PASSTHROUGH(fd_in))
        moved_unseen(fd_in, r, false);
    return r;
}
