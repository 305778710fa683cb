/* direct.h — the program's reads and writes passed on as bare system
 * calls, while glibc's cancellation bracket around them can matter to no
 * thread.
 *
 * Why: once a process has a second thread, glibc wraps every cancellable
 * call (read, write, recv, send, close, ...) in cancellation handling:
 * with glibc 2.36's enabling and disabling of asynchronous cancellation,
 * about 45 more instructions a call, measured with callgrind
 * (bench/PROFILE.md); later versions bracket the calls differently. In a
 * program that has no thread of its own, the second thread is the shim's
 * reporter, and that tax would be the shim's cost on every read and write
 * the program makes, traced or not. The bracket only matters to a thread
 * that can be cancelled: in a program that never created a thread and
 * never asked for a cancellation, none can. So the hooks make the system
 * call themselves until the program does either (hooks/thread_hooks.c
 * says when), and go through glibc from then on, as they did before. A
 * multi-threaded program pays the tax for its own threads, with or
 * without the shim.
 *
 * Bare calls are made only where the system calls are known here (x86-64
 * and AArch64, not x32), and only once the shim's constructor has found
 * that every function they stand for is glibc's own: another interposer
 * loaded after the shim (a kernel-bypass stack, a socket wrapper) must see
 * every call, as it did before. */
#ifndef TS_DIRECT_H
#define TS_DIRECT_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "real.h"

#if (defined(__x86_64__) || defined(__aarch64__)) && !defined(__ILP32__)
#define TS_DIRECT_AVAILABLE 1
#else
#define TS_DIRECT_AVAILABLE 0
#endif

/* Every function a ts_pass_* call below stands for. ts_direct_begin allows
 * bare calls only when each of them is glibc's own; a ts_pass_* reaches
 * its real function through TS_PASS_REAL, which does not compile for a
 * function missing here, so a new bare call cannot leave another
 * interposer's function unchecked. */
/* clang-format off */
#define TS_DIRECT_STANDS_FOR(X)                                                                    \
    X(read) X(readv) X(recv) X(recvfrom) X(recvmsg) X(write) X(writev) X(send) X(sendto)          \
        X(sendmsg) X(close) X(__read_chk) X(__recv_chk) X(__recvfrom_chk)
/* clang-format on */

#define TS_DIRECT_LISTED_(name) ts_direct_listed_##name,
enum { TS_DIRECT_STANDS_FOR(TS_DIRECT_LISTED_) };
#undef TS_DIRECT_LISTED_
#define TS_PASS_REAL(name) ((void)ts_direct_listed_##name, TS_REAL(name))

/* Whether a hook may make the call itself now: false until the shim's
 * constructor allows it (ts_direct_begin), and false for good once the
 * program created a thread or asked for a cancellation (ts_direct_end). */
extern bool ts_direct_allowed;

/* The shim traces this process (its constructor, after the real functions
 * are resolved): bare calls from now on, unless a thread was created
 * already or one of the real functions is not glibc's. */
void ts_direct_begin(void);

/* From now on every call goes through glibc: the program created a
 * thread, or asked for a cancellation. */
void ts_direct_end(void);

/* The shim's own thread (the reporter) created as the program's call to
 * pthread_create would be, through what comes first in the global scope
 * (a sanitizer's interceptor must know every thread), without counting as
 * a thread of the program: not for the bare calls, and not in glibc's
 * count of the threads that keep the process alive (so the thread must
 * never end). */
int ts_thread_create_own(pthread_t *thread, const pthread_attr_t *attr, void *(*start)(void *),
                         void *arg);

/* True on a thread inside ts_thread_create_own: the pthread_create hook
 * lets that call pass without ending the bare calls. */
bool ts_thread_creating_own(void);

#if TS_DIRECT_AVAILABLE
static inline long ts_direct_syscall(long nr, long a1, long a2, long a3, long a4, long a5, long a6)
{
#if defined(__x86_64__)
    register long r10 __asm__("r10") = a4;
    register long r8 __asm__("r8") = a5;
    register long r9 __asm__("r9") = a6;
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(nr), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
#else /* AArch64 */
    register long x8 __asm__("x8") = nr;
    register long x0 __asm__("x0") = a1;
    register long x1 __asm__("x1") = a2;
    register long x2 __asm__("x2") = a3;
    register long x3 __asm__("x3") = a4;
    register long x4 __asm__("x4") = a5;
    register long x5 __asm__("x5") = a6;
    __asm__ volatile("svc 0"
                     : "+r"(x0)
                     : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
                     : "memory");
    return x0;
#endif
}

/* A system call's result as libc returns it: -1 and errno for an error. */
static inline long ts_direct_result(long ret)
{
    if (__builtin_expect((unsigned long)ret > -4096UL, 0)) {
        errno = (int)-ret;
        return -1;
    }
    return ret;
}

static inline bool ts_direct_now(void)
{
    return __builtin_expect(__atomic_load_n(&ts_direct_allowed, __ATOMIC_RELAXED), 1);
}

#define TS_DIRECT(nr, a1, a2, a3, a4, a5, a6)                                                      \
    ts_direct_result(ts_direct_syscall(nr, (long)(a1), (long)(a2), (long)(a3), (long)(a4),       \
                                       (long)(a5), (long)(a6)))
#else
static inline bool ts_direct_now(void)
{
    return false;
}
#define TS_DIRECT(nr, a1, a2, a3, a4, a5, a6) (-1)
#endif

/* The calls the hooks pass on. recv and send are recvfrom and sendto
 * without an address, as glibc makes them. */
static inline ssize_t ts_pass_read(int fd, void *buf, size_t len)
{
    if (ts_direct_now())
        return TS_DIRECT(SYS_read, fd, buf, len, 0, 0, 0);
    return TS_PASS_REAL(read)(fd, buf, len);
}

static inline ssize_t ts_pass_readv(int fd, const struct iovec *iov, int iovcnt)
{
    if (ts_direct_now())
        return TS_DIRECT(SYS_readv, fd, iov, iovcnt, 0, 0, 0);
    return TS_PASS_REAL(readv)(fd, iov, iovcnt);
}

static inline ssize_t ts_pass_recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *addr,
                                       socklen_t *addrlen)
{
    if (ts_direct_now())
        return TS_DIRECT(SYS_recvfrom, fd, buf, len, flags, addr, addrlen);
    return TS_PASS_REAL(recvfrom)(fd, buf, len, flags, addr, addrlen);
}

static inline ssize_t ts_pass_recv(int fd, void *buf, size_t len, int flags)
{
    if (ts_direct_now())
        return TS_DIRECT(SYS_recvfrom, fd, buf, len, flags, 0, 0);
    return TS_PASS_REAL(recv)(fd, buf, len, flags);
}

static inline ssize_t ts_pass_recvmsg(int fd, struct msghdr *msg, int flags)
{
    if (ts_direct_now())
        return TS_DIRECT(SYS_recvmsg, fd, msg, flags, 0, 0, 0);
    return TS_PASS_REAL(recvmsg)(fd, msg, flags);
}

static inline ssize_t ts_pass_write(int fd, const void *buf, size_t len)
{
    if (ts_direct_now())
        return TS_DIRECT(SYS_write, fd, buf, len, 0, 0, 0);
    return TS_PASS_REAL(write)(fd, buf, len);
}

static inline ssize_t ts_pass_writev(int fd, const struct iovec *iov, int iovcnt)
{
    if (ts_direct_now())
        return TS_DIRECT(SYS_writev, fd, iov, iovcnt, 0, 0, 0);
    return TS_PASS_REAL(writev)(fd, iov, iovcnt);
}

static inline ssize_t ts_pass_sendto(int fd, const void *buf, size_t len, int flags,
                                     const struct sockaddr *addr, socklen_t addrlen)
{
    if (ts_direct_now())
        return TS_DIRECT(SYS_sendto, fd, buf, len, flags, addr, addrlen);
    return TS_PASS_REAL(sendto)(fd, buf, len, flags, addr, addrlen);
}

static inline ssize_t ts_pass_send(int fd, const void *buf, size_t len, int flags)
{
    if (ts_direct_now())
        return TS_DIRECT(SYS_sendto, fd, buf, len, flags, 0, 0);
    return TS_PASS_REAL(send)(fd, buf, len, flags);
}

static inline ssize_t ts_pass_sendmsg(int fd, const struct msghdr *msg, int flags)
{
    if (ts_direct_now())
        return TS_DIRECT(SYS_sendmsg, fd, msg, flags, 0, 0, 0);
    return TS_PASS_REAL(sendmsg)(fd, msg, flags);
}

/* The fortified forms: glibc's fails the program when the buffer is
 * smaller than the length, so those go to it. */
static inline ssize_t ts_pass_read_chk(int fd, void *buf, size_t len, size_t buflen)
{
    if (ts_direct_now() && len <= buflen)
        return TS_DIRECT(SYS_read, fd, buf, len, 0, 0, 0);
    return TS_PASS_REAL(__read_chk)(fd, buf, len, buflen);
}

static inline ssize_t ts_pass_recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags)
{
    if (ts_direct_now() && len <= buflen)
        return TS_DIRECT(SYS_recvfrom, fd, buf, len, flags, 0, 0);
    return TS_PASS_REAL(__recv_chk)(fd, buf, len, buflen, flags);
}

static inline ssize_t ts_pass_recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags,
                                           struct sockaddr *addr, socklen_t *addrlen)
{
    if (ts_direct_now() && len <= buflen)
        return TS_DIRECT(SYS_recvfrom, fd, buf, len, flags, addr, addrlen);
    return TS_PASS_REAL(__recvfrom_chk)(fd, buf, len, buflen, flags, addr, addrlen);
}

static inline int ts_pass_close(int fd)
{
    if (ts_direct_now())
        return (int)TS_DIRECT(SYS_close, fd, 0, 0, 0, 0, 0);
    return TS_PASS_REAL(close)(fd);
}

#endif
