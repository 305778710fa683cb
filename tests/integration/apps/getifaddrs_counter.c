/* getifaddrs_counter.c — a test library, preloaded after libtraceshim.so,
 * that appends a line to the file $GETIFADDRS_LOG each time the process
 * calls getifaddrs (which lists every interface's addresses over
 * netlink: a cost a process should pay only when an exporter wants this
 * host's address), then calls the C library's (test_startup.py). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <stdlib.h>
#include <unistd.h>

int getifaddrs(struct ifaddrs **out)
{
    const char *log = getenv("GETIFADDRS_LOG");
    if (log) {
        int fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (fd >= 0) {
            (void)!write(fd, "getifaddrs\n", 11);
            close(fd);
        }
    }
    int (*real)(struct ifaddrs **) = (int (*)(struct ifaddrs **))dlsym(RTLD_NEXT, "getifaddrs");
    return real ? real(out) : -1;
}
