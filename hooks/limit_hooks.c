/* limit_hooks.c — setrlimit, setrlimit64, prlimit and prlimit64: a limit of
 * no process at all for the program's user (RLIMIT_NPROC 0) refuses every
 * new thread too. haproxy, run as a user, sets it so once its own threads
 * run, and the reporter thread, started by the first span after that,
 * could not start (spans were written at a normal exit only, none for a
 * process killed by a signal). It is started before such a limit instead
 * (reporter.h ts_rep_before_limiting_threads), unless the process can no
 * longer open a file or write one (RLIMIT_NOFILE or RLIMIT_FSIZE 0
 * already: a sandbox, as OpenSSH's pre-authentication child, whose filter,
 * installed next, would not cover a thread made before it, and which
 * makes no span). Any other limit starts nothing (a shell's `ulimit -u
 * 5000`, a sandbox that leaves its children a few). The limit is read
 * as the kernel reads it (process_vm_readv): NULL or a bad address is the
 * kernel's to answer, never a fault of the shim's.
 *
 * Built without the sanitizers (CMakeLists.txt): their runtimes set a
 * limit themselves as they start (RLIMIT_CORE), before their shadow memory
 * exists, and that call comes here. Until the resource is known to be
 * RLIMIT_NPROC nothing of the shim's instrumented code runs, and a real
 * function not resolved yet is not resolved then: the call goes to the
 * kernel as glibc's own does (prlimit64 of the process). */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../preload/direct.h"
#include "../preload/init.h"
#include "../preload/real.h"
#include "../reporter/reporter.h"

/* The process's soft limit of resource (0 when it cannot be read).
 * Through syscall(2), as below, which the shim imports already: a
 * process's start pays the loader's lookup of every function the library
 * imports. */
static rlim_t soft_limit(int resource)
{
    struct rlimit64 now;
    return TS_REAL(syscall)(SYS_prlimit64, 0, resource, NULL, &now) == 0 ? (rlim_t)now.rlim_cur : 0;
}

static bool forbids_every_thread(rlim_t soft)
{
    return soft == 0 && soft_limit(RLIMIT_NOFILE) > 0 && soft_limit(RLIMIT_FSIZE) > 0;
}

/* This process's limit: pid 0, its own, or one of its threads' (the
 * kernel applies a thread's to the whole process). errno kept. */
static bool this_process(pid_t pid)
{
    if (pid == 0 || pid == getpid())
        return true;
    int saved = errno;
    bool ours = TS_REAL(syscall)(SYS_tgkill, getpid(), pid, 0) == 0;
    errno = saved;
    return ours;
}

/* The soft limit a program hands the kernel at limit, read as the kernel
 * reads it: NULL (glibc passes it on: nothing is set) and a bad address
 * (the kernel's EFAULT) give false, never a fault of the shim's. The
 * pointer is hidden from the compiler, which may take the nonnull
 * declarations at their word. */
static bool soft_limit_at(const void *limit, size_t size, rlim_t *soft)
{
    __asm__("" : "+r"(limit));
    if (!limit)
        return false;
    struct rlimit64 copy; /* the larger of the two; rlim_cur first in both */
    struct iovec here = {&copy, size}, there = {(void *)limit, size};
    int saved = errno;
    bool read =
        TS_REAL(syscall)(SYS_process_vm_readv, getpid(), &here, 1, &there, 1, 0) == (long)size;
    errno = saved;
    if (read)
        *soft = copy.rlim_cur > RLIM_INFINITY ? RLIM_INFINITY : (rlim_t)copy.rlim_cur;
    return read;
}

/* RLIMIT_NPROC about to be set from limit (for this process): a
 * sanitizer's runtime has started by then (the program's code runs). */
static void before_nproc_limit(const void *limit, size_t size)
{
    rlim_t soft;
    if (soft_limit_at(limit, size, &soft) && forbids_every_thread(soft) && ts_ready())
        ts_rep_before_limiting_threads();
}

/* The real function, or, before it is resolved, the kernel's prlimit64 as
 * glibc calls it (setrlimit is prlimit64 of pid 0, without the old limit). */
#if TS_DIRECT_AVAILABLE
#define LIMIT_CALL(name, pid, resource, limit, old, ...)                                           \
    (ts_real_##name ? ts_real_##name(__VA_ARGS__)                                                  \
                    : (int)TS_DIRECT(SYS_prlimit64, (pid), (resource), (limit), (old), 0, 0))
#else
#define LIMIT_CALL(name, pid, resource, limit, old, ...) TS_REAL(name)(__VA_ARGS__)
#endif

TS_EXPORT int setrlimit(__rlimit_resource_t resource, const struct rlimit *limit)
{
    if (resource == RLIMIT_NPROC)
        before_nproc_limit(limit, sizeof *limit);
    return LIMIT_CALL(setrlimit, 0, resource, limit, NULL, resource, limit);
}

TS_EXPORT int setrlimit64(__rlimit_resource_t resource, const struct rlimit64 *limit)
{
    if (resource == RLIMIT_NPROC)
        before_nproc_limit(limit, sizeof *limit);
    return LIMIT_CALL(setrlimit64, 0, resource, limit, NULL, resource, limit);
}

TS_EXPORT int prlimit(pid_t pid, enum __rlimit_resource resource, const struct rlimit *limit,
                      struct rlimit *old)
{
    if (resource == RLIMIT_NPROC && this_process(pid))
        before_nproc_limit(limit, sizeof *limit);
    return LIMIT_CALL(prlimit, pid, resource, limit, old, pid, resource, limit, old);
}

TS_EXPORT int prlimit64(pid_t pid, enum __rlimit_resource resource, const struct rlimit64 *limit,
                        struct rlimit64 *old)
{
    if (resource == RLIMIT_NPROC && this_process(pid))
        before_nproc_limit(limit, sizeof *limit);
    return LIMIT_CALL(prlimit64, pid, resource, limit, old, pid, resource, limit, old);
}
