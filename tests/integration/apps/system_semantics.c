/* system_semantics.c — what the C library's system() does around its
 * shell, printed, for test_process.py to compare untraced and traced (the
 * shim starts system's shell itself: hooks/shell_command.c).
 *
 *   system_semantics DIR [KIB]   (DIR: a directory it may write a file in;
 *                                 KIB: the small stack below, default 16)
 *
 * Every call is made from a thread of its own (the process has several,
 * as the servers the shim's system is for). Prints, one line each:
 *   null N           system(NULL) answered nonzero (N = 1) or 0
 *   exit S           the status of "exit 3" (exited, code)
 *   interrupts S C   the shell sends its parent SIGINT and SIGQUIT: the
 *                    process lives (both ignored while it waits), the
 *                    SIGINT handler ran C times, S the shell's status
 *   shell I Q        whether the shell ignores SIGINT and SIGQUIT (its
 *                    SigIgn in /proc): both at their defaults
 *   ignored I Q      the same when the program ignores SIGQUIT: the
 *                    shell ignores it too
 *   killed S         the shell killed by SIGTERM (signalled, signal)
 *   overlap S1 S2 C  two calls at once; the second's shell sends SIGINT
 *                    after the first call returned: still ignored (C 0)
 *   cancel R GONE    a call cancelled while its shell sleeps: the thread
 *                    ends canceled (R), the shell killed and reaped
 *                    (GONE: kill(pid, 0) fails with ESRCH)
 *   kept H Q         after all that, SIGINT's handler is the program's
 *                    (H = handler) and SIGQUIT at its default (Q = default)
 *   small S          a thread with a KIB KiB stack, 4 KiB of it used,
 *                    runs "exit 3" (glibc's system takes about 7.7 KB)
 *   handler S        a signal handler on an alternate stack of KIB - 4
 *                    KiB runs "exit 4"
 *   errno S E        the main thread alone, with a SIGCHLD handler that
 *                    reaps nothing and leaves errno ECHILD: it runs as
 *                    system unblocks SIGCHLD, after system set errno (E:
 *                    the errno the caller sees) */
#define _GNU_SOURCE
#include <alloca.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t sigints;
static const char *dir;

static void on_sigint(int sig)
{
    (void)sig;
    sigints++;
}

static void status_text(int st, char *out, size_t size)
{
    if (st == -1)
        snprintf(out, size, "failed");
    else if (WIFEXITED(st))
        snprintf(out, size, "exited:%d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(out, size, "signalled:%d", WTERMSIG(st));
    else
        snprintf(out, size, "other:%#x", st);
}

/* system(arg) with stdout flushed first (the shell writes to it too). */
static void *run(void *arg)
{
    fflush(stdout);
    return (void *)(long)system(arg);
}

static int in_thread(const char *command)
{
    pthread_t t;
    void *r;
    if (pthread_create(&t, NULL, run, (void *)command) != 0 || pthread_join(t, &r) != 0) {
        perror("thread");
        exit(1);
    }
    return (int)(long)r;
}

/* Which of SIGINT and SIGQUIT a shell started by system() ignores, from
 * its SigIgn line written to a file (glibc's internal signals, which
 * posix_spawn may leave ignored in a child, are not looked at). */
static void shell_ignores(const char *label)
{
    char cmd[8400], path[4200], line[256];
    snprintf(path, sizeof path, "%s/sigign", dir);
    snprintf(cmd, sizeof cmd, "grep '^SigIgn:' /proc/$$/status > '%s'", path);
    in_thread(cmd);
    unsigned long long ign = 0;
    FILE *f = fopen(path, "r");
    if (!f || !fgets(line, sizeof line, f) || sscanf(line, "SigIgn: %llx", &ign) != 1) {
        fprintf(stderr, "no SigIgn line from the shell\n");
        exit(1);
    }
    fclose(f);
    printf("%s %s %s\n", label, ign & (1ULL << (SIGINT - 1)) ? "ignored" : "default",
           ign & (1ULL << (SIGQUIT - 1)) ? "ignored" : "default");
}

static void *shell_pid_then_sleep(void *arg)
{
    (void)arg;
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "echo $$ > '%s/shell.pid'; exec sleep 30", dir);
    return run(cmd);
}

static void *small_stack_call(void *arg)
{
    volatile char *used = alloca(4096);
    used[0] = 1;
    return run(arg);
}

static volatile int handler_status = -2;

static void on_sigusr1(int sig)
{
    (void)sig;
    handler_status = system("exit 4");
}

static void on_sigchld(int sig)
{
    (void)sig;
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

int main(int argc, char **argv)
{
    if (argc != 2 && argc != 3) {
        fprintf(stderr, "usage: %s DIR [KIB]\n", argv[0]);
        return 2;
    }
    dir = argv[1];
    size_t kib = argc == 3 ? strtoul(argv[2], NULL, 10) : 16;
    if (kib < 8) {
        fprintf(stderr, "KIB: at least 8\n");
        return 2;
    }
    struct sigaction sa = {.sa_handler = on_sigint};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    char a[32], b[32];

    printf("null %d\n", in_thread(NULL) != 0);
    status_text(in_thread("exit 3"), a, sizeof a);
    printf("exit %s\n", a);
    status_text(in_thread("kill -INT $PPID; kill -QUIT $PPID; exit 4"), a, sizeof a);
    printf("interrupts %s %d\n", a, (int)sigints);

    shell_ignores("shell");
    signal(SIGQUIT, SIG_IGN);
    shell_ignores("ignored");
    signal(SIGQUIT, SIG_DFL);

    status_text(in_thread("kill -TERM $$"), a, sizeof a);
    printf("killed %s\n", a);

    pthread_t first, second;
    void *r1, *r2;
    pthread_create(&first, NULL, run, "sleep 0.2; exit 5");
    pthread_create(&second, NULL, run, "sleep 0.8; kill -INT $PPID; exit 6");
    pthread_join(first, &r1);
    pthread_join(second, &r2);
    status_text((int)(long)r1, a, sizeof a);
    status_text((int)(long)r2, b, sizeof b);
    printf("overlap %s %s %d\n", a, b, (int)sigints);

    char pidfile[4200];
    snprintf(pidfile, sizeof pidfile, "%s/shell.pid", dir);
    unlink(pidfile);
    pthread_t c;
    void *r;
    pthread_create(&c, NULL, shell_pid_then_sleep, NULL);
    long shell = 0;
    for (int i = 0; i < 1000 && shell == 0; i++) {
        FILE *f = fopen(pidfile, "r");
        if (!f || fscanf(f, "%ld", &shell) != 1)
            shell = 0;
        if (f)
            fclose(f);
        if (shell == 0)
            sleep_ms(10);
    }
    sleep_ms(100); /* the shell has become sleep */
    pthread_cancel(c);
    pthread_join(c, &r);
    int gone = shell > 0 && kill((pid_t)shell, 0) != 0 && errno == ESRCH;
    printf("cancel %s %s\n", r == PTHREAD_CANCELED ? "canceled" : "returned",
           gone ? "gone" : "still-there");

    struct sigaction now_int, now_quit;
    sigaction(SIGINT, NULL, &now_int);
    sigaction(SIGQUIT, NULL, &now_quit);
    printf("kept %s %s\n", now_int.sa_handler == on_sigint ? "handler" : "lost",
           now_quit.sa_handler == SIG_DFL ? "default" : "changed");

    pthread_attr_t small;
    pthread_attr_init(&small);
    pthread_attr_setstacksize(&small, kib * 1024);
    pthread_t t;
    pthread_create(&t, &small, small_stack_call, "exit 3");
    pthread_join(t, &r);
    status_text((int)(long)r, a, sizeof a);
    printf("small %s\n", a);

    stack_t alt = {.ss_sp = malloc((kib - 4) * 1024), .ss_size = (kib - 4) * 1024};
    sigaltstack(&alt, NULL);
    struct sigaction on_alt = {.sa_handler = on_sigusr1, .sa_flags = SA_ONSTACK};
    sigemptyset(&on_alt.sa_mask);
    sigaction(SIGUSR1, &on_alt, NULL);
    fflush(stdout);
    raise(SIGUSR1);
    status_text(handler_status, a, sizeof a);
    printf("handler %s\n", a);

    struct sigaction reap = {.sa_handler = on_sigchld};
    sigemptyset(&reap.sa_mask);
    sigaction(SIGCHLD, &reap, NULL);
    fflush(stdout);
    errno = 0;
    int st = system("exit 5");
    int err = errno;
    signal(SIGCHLD, SIG_DFL);
    status_text(st, a, sizeof a);
    printf("errno %s %s\n", a, err == ECHILD ? "ECHILD" : err == 0 ? "0" : "other");
    return 0;
}
