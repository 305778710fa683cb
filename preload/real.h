/* real.h — the one table of real libc symbols.
 *
 * Every interposed function has a typedef'd pointer here, resolved once to
 * what dlsym(RTLD_NEXT) answers (read from the symbol tables of the objects
 * after the shim: next_symbol.h). The shim's own code (reporter, logging) calls libc only
 * through this table, never through the interposed names, so it can neither
 * trace itself nor recurse. A lint test checks that with nm -u. */
#ifndef TS_REAL_H
#define TS_REAL_H

#include <stdbool.h>

#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <threads.h>
#include <time.h>
#include <unistd.h>

/* glibc exports pivot_root (GLIBC_2.2.5) and declares it nowhere. */
int pivot_root(const char *new_root, const char *put_old);

/* X(name, return type, parameter list). Every entry is mandatory: glibc has
 * them all (closefrom, close_range and execveat since 2.34, the oldest the
 * library runs on), and a missing one means something is badly wrong. */
#define TS_REAL_SYMBOLS(X)                                                                         \
    X(socket, int, (int, int, int))                                                                \
    X(connect, int, (int, const struct sockaddr *, socklen_t))                                     \
    X(accept, int, (int, struct sockaddr *, socklen_t *))                                          \
    X(accept4, int, (int, struct sockaddr *, socklen_t *, int))                                    \
    X(close, int, (int))                                                                           \
    X(shutdown, int, (int, int))                                                                   \
    X(close_range, int, (unsigned, unsigned, int))                                                 \
    X(closefrom, void, (int))                                                                      \
    X(fclose, int, (FILE *))                                                                       \
    X(dup, int, (int))                                                                             \
    X(dup2, int, (int, int))                                                                       \
    X(dup3, int, (int, int, int))                                                                  \
    X(fcntl, int, (int, int, ...))                                                                 \
    X(fcntl64, int, (int, int, ...))                                                               \
    X(read, ssize_t, (int, void *, size_t))                                                        \
    X(readv, ssize_t, (int, const struct iovec *, int))                                            \
    X(recv, ssize_t, (int, void *, size_t, int))                                                   \
    X(recvfrom, ssize_t, (int, void *, size_t, int, struct sockaddr *, socklen_t *))               \
    X(recvmsg, ssize_t, (int, struct msghdr *, int))                                               \
    X(__read_chk, ssize_t, (int, void *, size_t, size_t))                                          \
    X(__recv_chk, ssize_t, (int, void *, size_t, size_t, int))                                     \
    X(__recvfrom_chk, ssize_t, (int, void *, size_t, size_t, int, struct sockaddr *, socklen_t *)) \
    X(write, ssize_t, (int, const void *, size_t))                                                 \
    X(writev, ssize_t, (int, const struct iovec *, int))                                           \
    X(send, ssize_t, (int, const void *, size_t, int))                                             \
    X(sendto, ssize_t, (int, const void *, size_t, int, const struct sockaddr *, socklen_t))       \
    X(sendmsg, ssize_t, (int, const struct msghdr *, int))                                         \
    X(sendmmsg, int, (int, struct mmsghdr *, unsigned int, int))                                   \
    X(recvmmsg, int, (int, struct mmsghdr *, unsigned int, int, struct timespec *))                \
    X(sendfile, ssize_t, (int, int, off_t *, size_t))                                              \
    X(sendfile64, ssize_t, (int, int, off64_t *, size_t))                                          \
    X(splice, ssize_t, (int, loff_t *, int, loff_t *, size_t, unsigned int))                       \
    X(execve, int, (const char *, char *const[], char *const[]))                                   \
    X(execvpe, int, (const char *, char *const[], char *const[]))                                  \
    X(fexecve, int, (int, char *const[], char *const[]))                                           \
    X(execveat, int, (int, const char *, char *const[], char *const[], int))                       \
    X(posix_spawn, int,                                                                            \
      (pid_t *, const char *, const posix_spawn_file_actions_t *, const posix_spawnattr_t *,       \
       char *const[], char *const[]))                                                              \
    X(posix_spawnp, int,                                                                           \
      (pid_t *, const char *, const posix_spawn_file_actions_t *, const posix_spawnattr_t *,       \
       char *const[], char *const[]))                                                              \
    X(system, int, (const char *))                                                                 \
    X(popen, FILE *, (const char *, const char *))                                                 \
    X(pclose, int, (FILE *))                                                                       \
    X(prctl, int, (int, ...))                                                                      \
    X(setuid, int, (uid_t))                                                                        \
    X(setgid, int, (gid_t))                                                                        \
    X(seteuid, int, (uid_t))                                                                       \
    X(setegid, int, (gid_t))                                                                       \
    X(setreuid, int, (uid_t, uid_t))                                                               \
    X(setregid, int, (gid_t, gid_t))                                                               \
    X(setresuid, int, (uid_t, uid_t, uid_t))                                                       \
    X(setresgid, int, (gid_t, gid_t, gid_t))                                                       \
    X(setgroups, int, (size_t, const gid_t *))                                                     \
    X(initgroups, int, (const char *, gid_t))                                                      \
    X(chroot, int, (const char *))                                                                 \
    X(pivot_root, int, (const char *, const char *))                                               \
    X(setrlimit, int, (__rlimit_resource_t, const struct rlimit *))                                \
    X(setrlimit64, int, (__rlimit_resource_t, const struct rlimit64 *))                            \
    X(prlimit, int, (pid_t, enum __rlimit_resource, const struct rlimit *, struct rlimit *))       \
    X(prlimit64, int, (pid_t, enum __rlimit_resource, const struct rlimit64 *, struct rlimit64 *)) \
    X(exit, void, (int))                                                                           \
    X(_exit, void, (int))                                                                          \
    X(_Exit, void, (int))                                                                          \
    X(quick_exit, void, (int))                                                                     \
    X(kill, int, (pid_t, int))                                                                     \
    X(raise, int, (int))                                                                           \
    X(sigaction, int, (int, const struct sigaction *, struct sigaction *))                         \
    X(__sigaction, int, (int, const struct sigaction *, struct sigaction *))                       \
    X(signal, __sighandler_t, (int, __sighandler_t))                                               \
    X(bsd_signal, __sighandler_t, (int, __sighandler_t))                                           \
    X(ssignal, __sighandler_t, (int, __sighandler_t))                                              \
    X(sysv_signal, __sighandler_t, (int, __sighandler_t))                                          \
    X(__sysv_signal, __sighandler_t, (int, __sighandler_t))                                        \
    X(sigset, __sighandler_t, (int, __sighandler_t))                                               \
    X(pthread_create, int, (pthread_t *, const pthread_attr_t *, void *(*)(void *), void *))       \
    X(pthread_cancel, int, (pthread_t))                                                            \
    X(thrd_create, int, (thrd_t *, thrd_start_t, void *))                                          \
    X(syscall, long, (long, ...))                                                                  \
    X(__libc_start_main, int,                                                                      \
      (int (*)(int, char **, char **), int, char **, void (*)(void), void (*)(void),               \
       void (*)(void), void *))

#define TS_REAL_DECLARE(name, ret, params)                                                         \
    typedef ret(*ts_real_##name##_fn) params;                                                      \
    extern ts_real_##name##_fn ts_real_##name;
TS_REAL_SYMBOLS(TS_REAL_DECLARE)
#undef TS_REAL_DECLARE

/* Resolve the whole table (idempotent, thread-safe). Aborts with a clear
 * message when a symbol is missing or resolves to the shim's own hook. */
void ts_real_resolve(void);

/* Write "traceshim: fatal: " and the n pieces to stderr, then abort. Needs
 * nothing from the table: for when resolving it is what failed. */
__attribute__((noreturn)) void ts_real_fatal(const struct iovec *pieces, int n);

/* Whether the real write, writev, send, sendto and sendmsg are the C
 * library's own (after ts_real_resolve): false when another library
 * interposes them below the shim (a coroutine library that switches
 * stacks inside them, say), and then nothing but the kernel may be
 * assumed to run while one of them is called. */
extern bool ts_real_sends_are_libcs;

/* The real function, resolving the table first if a hook runs before the
 * shim's constructor (another library's constructor calling write, say). */
#define TS_REAL(name)                                                                              \
    (__builtin_expect(ts_real_##name != NULL, 1) ? ts_real_##name                                  \
                                                 : (ts_real_resolve(), ts_real_##name))

#endif
