/* thread_tax.c — what a second thread costs a single-threaded program's
 * system calls, before that thread does anything at all (bench/PROFILE.md,
 * "The reporter thread's mere existence").
 *
 *   thread_tax [BATCHES]
 *
 * A process with one thread calls writev + recv on a Unix socket pair and
 * fstat + pread on a file, the calls nginx makes per request, in batches of
 * CALLS_PER_BATCH rounds. It then starts itself again twice: once with an
 * idle second thread (as the reporter thread is, between chunks of spans),
 * and once with that thread calling unshare(CLONE_FILES), so that the two
 * threads no longer share one file descriptor table. Each configuration
 * runs the calls through glibc and as raw system calls (syscall(2)), which
 * separates glibc's share (its cancellation wrappers, active once a process
 * has a second thread) from the kernel's (looking a descriptor up takes a
 * reference while the table is shared). Prints ns per call, the fastest
 * batch of each: the machine's noise only ever adds time.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { CALLS_PER_ROUND = 4, ROUNDS_PER_BATCH = 20000, DEFAULT_BATCHES = 15 };

enum second_thread { NO_THREAD, IDLE_THREAD, IDLE_THREAD_OWN_TABLE };

static const char *const thread_names[] = {"one thread", "+ idle thread",
                                           "+ idle thread, own fd table"};

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static void *idle_thread(void *own_table)
{
    if (own_table && unshare(CLONE_FILES) != 0)
        perror("thread_tax: unshare(CLONE_FILES)");
    for (;;)
        pause();
    return NULL;
}

/* The fastest batch's ns per call. */
static double measure(bool raw, int batches)
{
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) != 0) {
        perror("thread_tax: socketpair");
        exit(1);
    }
    int file = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (file < 0) {
        perror("thread_tax: open");
        exit(1);
    }
    char buf[64] = {0};
    struct stat st;
    double best = 1e18;
    for (int b = 0; b < batches; b++) {
        double t0 = now_ns();
        for (int i = 0; i < ROUNDS_PER_BATCH; i++) {
            struct iovec iov = {buf, 16};
            if (raw) {
                syscall(SYS_writev, pair[0], &iov, 1);
                syscall(SYS_recvfrom, pair[1], buf, sizeof buf, 0, NULL, NULL);
                syscall(SYS_fstat, file, &st);
                syscall(SYS_pread64, file, buf, 16, 0);
            } else {
                writev(pair[0], &iov, 1);
                recv(pair[1], buf, sizeof buf, 0);
                fstat(file, &st);
                pread(file, buf, 16, 0);
            }
        }
        double per_call = (now_ns() - t0) / (ROUNDS_PER_BATCH * CALLS_PER_ROUND);
        if (per_call < best)
            best = per_call;
    }
    close(pair[0]);
    close(pair[1]);
    close(file);
    return best;
}

/* One configuration, in a process of its own: a thread once started leaves
 * glibc in its multi-threaded mode for good. */
static int run_one(enum second_thread mode, int batches)
{
    if (mode != NO_THREAD) {
        pthread_t t;
        void *own_table = mode == IDLE_THREAD_OWN_TABLE ? (void *)1 : NULL;
        if (pthread_create(&t, NULL, idle_thread, own_table) != 0) {
            fprintf(stderr, "thread_tax: cannot start a thread\n");
            return 1;
        }
        usleep(20000); /* let it reach unshare and pause */
    }
    double libc = measure(false, batches);
    double raw = measure(true, batches);
    printf("%-28s  glibc %6.1f ns/call  raw syscall %6.1f ns/call\n", thread_names[mode], libc, raw);
    return 0;
}

int main(int argc, char **argv)
{
    int batches = argc > 1 ? atoi(argv[1]) : DEFAULT_BATCHES;
    if (batches <= 0) {
        fprintf(stderr, "usage: thread_tax [BATCHES]  (BATCHES > 0, default %d)\n", DEFAULT_BATCHES);
        return 2;
    }
    if (argc > 2) /* the re-executed child: argv[2] is the configuration */
        return run_one((enum second_thread)atoi(argv[2]), batches);
    for (int mode = NO_THREAD; mode <= IDLE_THREAD_OWN_TABLE; mode++) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid < 0) {
            perror("thread_tax: fork");
            return 1;
        }
        if (pid == 0) {
            char b[16], m[16];
            snprintf(b, sizeof b, "%d", batches);
            snprintf(m, sizeof m, "%d", mode);
            execl("/proc/self/exe", argv[0], b, m, (char *)NULL);
            perror("thread_tax: exec");
            _exit(1);
        }
        int status;
        if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
            return 1;
    }
    return 0;
}
