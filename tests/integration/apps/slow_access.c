/* slow_access.c — preloaded into `traceshim html` by test_view_cli.py: an
 * access() of a path holding SLOW_ACCESS_PATH sleeps SLOW_ACCESS_MS after
 * it answers, so that the test can change the path in the window between
 * html's look at OUT and its open of it (a folder's owner racing the
 * writer). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int access(const char *path, int mode)
{
    int (*real)(const char *, int) = (int (*)(const char *, int))dlsym(RTLD_NEXT, "access");
    int r = real(path, mode);
    const char *slow = getenv("SLOW_ACCESS_PATH"), *ms = getenv("SLOW_ACCESS_MS");
    if (slow && ms && strstr(path, slow)) {
        long n = atol(ms);
        struct timespec t = {n / 1000, (n % 1000) * 1000000L};
        nanosleep(&t, NULL);
    }
    return r;
}
