/* direct.h — the program's reads and writes passed on as bare system
 * calls, while glibc's cancellation bracket around them can matter to no
 * thread.
 *
 * Why: once a process has a second thread, glibc wraps every cancellable
 * call (read, write, recv, send, close, ...) in enabling and disabling
 * asynchronous cancellation: about 45 more instructions a call, measured
 * with callgrind (bench/PROFILE.md). In a program that has no thread of
 * its own, the second thread is the shim's reporter, and that tax would be
 * the shim's cost on every read and write the program makes, traced or
 * not. The bracket only matters to a thread that can be cancelled: in a
 * program that never created a thread and never asked for a cancellation,
 * none can. So the hooks make the system call themselves until the
 * program does either (hooks/thread_hooks.c says when), and go through
 * glibc from then on, as they did before. A multi-threaded program pays
 * the tax for its own threads, with or without the shim.
 *
 * Direct calls are made only where the system call is known here
 * (x86-64, AArch64) and not under ASan or TSan, whose interceptors of
 * read and write must see the calls. */
#ifndef TS_DIRECT_H
#define TS_DIRECT_H

#include <errno.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "real.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define TS_DIRECT_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TS_DIRECT_SANITIZED 1
#endif

#if (defined(__x86_64__) || defined(__aarch64__)) && !defined(TS_DIRECT_SANITIZED)
#define TS_DIRECT_AVAILABLE 1
#else
#define TS_DIRECT_AVAILABLE 0
#endif

/* True until the program creates a thread or calls pthread_cancel (or
 * TRACESHIM's tests turn it off): then no thread can be cancelled, and a
 * call may skip glibc's bracket. Never true again once false. */
extern bool ts_direct_allowed;

/* From now on every call goes through glibc: the program created a
 * thread, or asked for a cancellation. */
void ts_direct_end(void);

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
    return TS_REAL(read)(fd, buf, len);
}

static inline ssize_t ts_pass_readv(int fd, const struct iovec *iov, int iovcnt)
{
    if (ts_direct_now())
        return TS_DIRECT(SYS_readv, fd, iov, iovcnt, 0, 0, 0);
    return TS_REAL(readv)(fd, iov, iovcnt);
}

static inline ssize_t ts_pass_recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *addr,
                                       socklen_t *addrlen)
{
    if (ts_direct_now())
        return TS_DIRECT(SYS_recvfrom, fd, buf, len, flags, addr, addrlen);
    return TS_REAL(recvfrom)(fd, buf, len, flags, addr, addrlen);
}

static inline ssize_t ts_pass_recv(int fd, void *buf, size_t len, int flags)
{
    if (ts_direct_now())
        return TS_DIRECT(SYS_recvfrom, fd, buf, len, flags, 0, 0);
    return TS_REAL(recv)(fd, buf, len, flags);
}

static inline ssize_t ts_pass_recvmsg(int fd, struct msghdr *msg, int flags)
{
    if (ts_direct_now())
        return TS_DIRECT(SYS_recvmsg, fd, msg, flags, 0, 0, 0);
    return TS_REAL(recvmsg)(fd, msg, flags);
}

static inline ssize_t ts_pass_write(int fd, const void *buf, size_t len)
{
    if (ts_direct_now())
        return TS_DIRECT(SYS_write, fd, buf, len, 0, 0, 0);
    return TS_REAL(write)(fd, buf, len);
}

static inline ssize_t ts_pass_writev(int fd, const struct iovec *iov, int iovcnt)
{
    if (ts_direct_now())
        return TS_DIRECT(SYS_writev, fd, iov, iovcnt, 0, 0, 0);
    return TS_REAL(writev)(fd, iov, iovcnt);
}

static inline ssize_t ts_pass_sendto(int fd, const void *buf, size_t len, int flags,
                                     const struct sockaddr *addr, socklen_t addrlen)
{
    if (ts_direct_now())
        return TS_DIRECT(SYS_sendto, fd, buf, len, flags, addr, addrlen);
    return TS_REAL(sendto)(fd, buf, len, flags, addr, addrlen);
}

static inline ssize_t ts_pass_send(int fd, const void *buf, size_t len, int flags)
{
    if (ts_direct_now())
        return TS_DIRECT(SYS_sendto, fd, buf, len, flags, 0, 0);
    return TS_REAL(send)(fd, buf, len, flags);
}

static inline ssize_t ts_pass_sendmsg(int fd, const struct msghdr *msg, int flags)
{
    if (ts_direct_now())
        return TS_DIRECT(SYS_sendmsg, fd, msg, flags, 0, 0, 0);
    return TS_REAL(sendmsg)(fd, msg, flags);
}

static inline int ts_pass_close(int fd)
{
    if (ts_direct_now())
        return (int)TS_DIRECT(SYS_close, fd, 0, 0, 0, 0, 0);
    return TS_REAL(close)(fd);
}

#endif
