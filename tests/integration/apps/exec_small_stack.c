/* exec_small_stack.c — a thread with a small stack starts a program with a
 * large environment, for test_process.py: the shim builds the child's
 * environment (TRACEPARENT, the library put back) without overflowing the
 * thread's stack.
 *
 *   exec_small_stack DOOR N [KIB]
 *
 * A thread with a 64 KiB stack, below which 1 MiB is mapped PROT_NONE (a
 * frame that outgrows the stack faults at once rather than write over
 * another mapping), starts this program again as `exec_small_stack
 * report` with an environment of N entries TS_FILL_<i>=<i> and nothing
 * else. DOOR: execve (the process becomes the report) or posix_spawn (the
 * report runs as a child, waited for; exit with its status) or handler (a
 * SIGUSR1 handler running on an alternate signal stack of KIB KiB, 8 when
 * not given, with the same guard below, execs the report: a crash
 * handler that starts a reporter does so, and glibc's execve fits in
 * SIGSTKSZ). Exit 126 when the call fails, 2 on a usage error.
 *
 *   exec_small_stack report
 *
 * Prints "fill F preload P traceparent T": F the TS_FILL_ entries it got,
 * P "yes" when LD_PRELOAD names libtraceshim, else "no", T TRACEPARENT or
 * "none". */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define STACK_BYTES ((size_t)64 << 10)
#define GUARD_BYTES ((size_t)1 << 20)

static const char *door, *self;
static char **fill_env;

static int report(void)
{
    extern char **environ;
    long fill = 0;
    for (char **e = environ; *e; e++)
        if (strncmp(*e, "TS_FILL_", 8) == 0)
            fill++;
    const char *preload = getenv("LD_PRELOAD");
    const char *tp = getenv("TRACEPARENT");
    printf("fill %ld preload %s traceparent %s\n", fill,
           preload && strstr(preload, "libtraceshim") ? "yes" : "no", tp ? tp : "none");
    return 0;
}

/* STACK_BYTES usable at the top of a mapping, GUARD_BYTES below them not. */
static char *guarded_stack(size_t bytes)
{
    char *area = mmap(NULL, GUARD_BYTES + bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (area == MAP_FAILED || mprotect(area + GUARD_BYTES, bytes, PROT_READ | PROT_WRITE) != 0) {
        perror("stack");
        exit(2);
    }
    return area + GUARD_BYTES;
}

static void exec_report(int sig)
{
    (void)sig;
    char *argv[] = {(char *)self, "report", NULL};
    execve(self, argv, fill_env);
    _exit(126);
}

static void *starter(void *arg)
{
    (void)arg;
    char *argv[] = {(char *)self, "report", NULL};
    if (strcmp(door, "execve") == 0) {
        execve(self, argv, fill_env);
        perror("execve");
        exit(126);
    }
    pid_t pid;
    int rc = posix_spawn(&pid, self, NULL, NULL, argv, fill_env);
    if (rc != 0) {
        fprintf(stderr, "posix_spawn: %s\n", strerror(rc));
        exit(126);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
        exit(126);
    exit(WEXITSTATUS(st));
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "report") == 0)
        return report();
    if (argc < 3 || argc > 4 ||
        (strcmp(argv[1], "execve") != 0 && strcmp(argv[1], "posix_spawn") != 0 &&
         strcmp(argv[1], "handler") != 0)) {
        fprintf(stderr, "usage: %s execve|posix_spawn|handler N [KIB] | report\n", argv[0]);
        return 2;
    }
    door = argv[1];
    self = "/proc/self/exe";
    long n = atol(argv[2]);
    fill_env = calloc((size_t)n + 1, sizeof *fill_env);
    for (long i = 0; i < n; i++)
        if (asprintf(&fill_env[i], "TS_FILL_%ld=%ld", i, i) < 0)
            return 2;
    if (strcmp(door, "handler") == 0) {
        size_t kib = argc == 4 ? (size_t)atol(argv[3]) : 8;
        stack_t alt = {.ss_sp = guarded_stack(kib << 10), .ss_size = kib << 10};
        struct sigaction sa = {.sa_handler = exec_report, .sa_flags = SA_ONSTACK};
        if (sigaltstack(&alt, NULL) != 0 || sigaction(SIGUSR1, &sa, NULL) != 0) {
            perror("handler");
            return 2;
        }
        raise(SIGUSR1);
        return 2; /* the handler execs or exits */
    }
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstack(&attr, guarded_stack(STACK_BYTES), STACK_BYTES);
    pthread_t t;
    if (pthread_create(&t, &attr, starter, NULL) != 0) {
        fprintf(stderr, "pthread_create failed\n");
        return 2;
    }
    pthread_join(t, NULL);
    return 2; /* the starter exits */
}
