/* exit_codes.c — ends in the way its arguments say, for the process span's
 * process.exit_code (test_process.py).
 *
 *   exit_codes exit N      exit(N) from a function a few calls below main
 *   exit_codes return N    main returns N
 *   exit_codes _exit N     _exit(N) (no destructors, no atexit handlers)
 *   exit_codes _Exit N     _Exit(N)
 *   exit_codes selfkill N  kill(getpid(), SIGTERM) and raise(SIGINT), then
 *                          exit(N): as a PID namespace's init the process
 *                          lives on (the kernel drops the signals)
 *   exit_codes handled_selfkill N  a SIGTERM handler installed, the default
 *                          put back, kill(getpid(), SIGTERM), then exit(N):
 *                          the process dies of the signal
 *   exit_codes quick_exit N  quick_exit(N), after an at_quick_exit handler
 *                          that prints "quick handler" (C11: no atexit
 *                          handlers, no destructors)
 *   exit_codes error N     glibc's error(N, ...): its exit is an internal
 *                          call (coreutils report failures so)
 *   exit_codes errx N      errx(N, ...), the same from BSD's family
 *   exit_codes atexit_error N  main returns 0 and an atexit handler then
 *                          calls error(N, ...) (xargs's way: the process
 *                          exits with N)
 *
 * Prints "ending by MODE N" on stdout first (flushed: _exit would lose it). */
#include <err.h>
#include <error.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* exit() from C code below main, not main's return */
static void __attribute__((noinline)) finish(int code)
{
    fflush(stdout);
    exit(code);
}

static void __attribute__((noinline)) leave(int code)
{
    finish(code);
}

static int late_code;

static void late_failure(void)
{
    error(late_code, 0, "failing after main");
}

static void ignore_it(int sig)
{
    (void)sig;
}

/* A handler the program had once, its default back, then the signal */
static int handled_then_default_selfkill(void)
{
    struct sigaction sa = {.sa_handler = ignore_it};
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGTERM, &sa, NULL) != 0 || signal(SIGTERM, SIG_DFL) == SIG_ERR)
        return -1;
    return kill(getpid(), SIGTERM);
}

static void quick_handler(void)
{
    printf("quick handler\n");
    fflush(stdout);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr,
                "usage: %s exit|return|_exit|_Exit|selfkill|handled_selfkill|quick_exit|error|errx|"
                "atexit_error N\n",
                argv[0]);
        return 2;
    }
    int code = atoi(argv[2]);
    printf("ending by %s %d\n", argv[1], code);
    fflush(stdout);
    if (strcmp(argv[1], "exit") == 0)
        leave(code);
    else if (strcmp(argv[1], "_exit") == 0)
        _exit(code);
    else if (strcmp(argv[1], "_Exit") == 0)
        _Exit(code);
    else if (strcmp(argv[1], "selfkill") == 0 && kill(getpid(), SIGTERM) == 0 && raise(SIGINT) == 0)
        leave(code);
    else if (strcmp(argv[1], "handled_selfkill") == 0 && handled_then_default_selfkill() == 0)
        leave(code);
    else if (strcmp(argv[1], "quick_exit") == 0 && at_quick_exit(quick_handler) == 0)
        quick_exit(code);
    else if (strcmp(argv[1], "error") == 0)
        error(code, 0, "failing");
    else if (strcmp(argv[1], "errx") == 0)
        errx(code, "failing");
    else if (strcmp(argv[1], "atexit_error") == 0) {
        late_code = code;
        if (atexit(late_failure) != 0)
            return 2;
        return 0;
    } else if (strcmp(argv[1], "return") != 0) {
        fprintf(stderr, "unknown mode %s\n", argv[1]);
        return 2;
    }
    return code;
}
