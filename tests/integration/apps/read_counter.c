/* read_counter.c — for test_direct_calls.py: a preloaded library placed
 * after the shim (LD_PRELOAD="libtraceshim.so read_counter.so"), so that
 * the shim's "real" read is this one. It counts the calls that reach it
 * and prints "read_counter N" on stderr at exit: how many of the
 * program's reads the shim passed through glibc's read rather than
 * making the system call itself. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

static unsigned long reads;

ssize_t read(int fd, void *buf, size_t len)
{
    static ssize_t (*next)(int, void *, size_t);
    if (!next)
        next = (ssize_t(*)(int, void *, size_t))dlsym(RTLD_NEXT, "read");
    __atomic_add_fetch(&reads, 1, __ATOMIC_RELAXED);
    return next(fd, buf, len);
}

__attribute__((destructor)) static void report(void)
{
    char line[64];
    int n = snprintf(line, sizeof line, "read_counter %lu\n", __atomic_load_n(&reads, __ATOMIC_RELAXED));
    (void)syscall(SYS_write, 2, line, (size_t)n);
}
