/* direct_probe.c — for test_direct_calls.py: the moments after which the
 * shim's hooks must pass a program's reads through glibc again
 * (preload/direct.h).
 *
 *   direct_probe plain N         N one-byte writes and reads on a pipe
 *   direct_probe thread N        the same after creating a thread (which waits)
 *   direct_probe c11-thread N    the same after creating a C11 thread (thrd_create)
 *   direct_probe cancel-reader   a thread blocked in read on an empty pipe is
 *                                cancelled and joined: prints "joined"
 *   direct_probe cancel-self     cancels itself (deferred), then reads a pipe
 *                                holding a byte: the read must act on the
 *                                cancellation; prints "read returned" if not
 *
 * Exits 0 when it ran as asked, 1 on a failed call. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <threads.h>
#include <unistd.h>

static int fds[2];

static void pairs(long n)
{
    char c = 'x';
    for (long i = 0; i < n; i++) {
        if (write(fds[1], &c, 1) != 1 || read(fds[0], &c, 1) != 1) {
            perror("direct_probe: pipe");
            exit(1);
        }
    }
}

static void *wait_forever(void *arg)
{
    (void)arg;
    for (;;)
        pause();
    return NULL;
}

static int wait_forever_c11(void *arg)
{
    (void)wait_forever(arg);
    return 0;
}

static void *read_empty_pipe(void *arg)
{
    (void)arg;
    char c;
    (void)read(fds[0], &c, 1); /* blocks until cancelled: nothing is written */
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2 || pipe(fds) != 0)
        return 1;
    const char *mode = argv[1];
    long n = argc > 2 ? atol(argv[2]) : 0;
    pthread_t t;
    if (strcmp(mode, "plain") == 0) {
        pairs(n);
    } else if (strcmp(mode, "thread") == 0) {
        if (pthread_create(&t, NULL, wait_forever, NULL) != 0)
            return 1;
        pairs(n);
    } else if (strcmp(mode, "c11-thread") == 0) {
        thrd_t c11;
        if (thrd_create(&c11, wait_forever_c11, NULL) != thrd_success)
            return 1;
        pairs(n);
    } else if (strcmp(mode, "cancel-reader") == 0) {
        if (pthread_create(&t, NULL, read_empty_pipe, NULL) != 0)
            return 1;
        usleep(200000); /* let it block in read */
        if (pthread_cancel(t) != 0 || pthread_join(t, NULL) != 0)
            return 1;
        puts("joined");
    } else if (strcmp(mode, "cancel-self") == 0) {
        char c = 'x';
        if (write(fds[1], &c, 1) != 1)
            return 1;
        fflush(stdout);
        pthread_cancel(pthread_self());
        (void)read(fds[0], &c, 1); /* a cancellation point: the thread ends here */
        puts("read returned");
    } else {
        return 1;
    }
    fflush(stdout);
    return 0;
}
