/* spawn_cost.c — what the shim adds to starting a short command
 * (bench/PROFILE.md, "A process's start: the pages it touches").
 *
 *   spawn_cost N PROGRAM [LIBRARY]
 *
 * Starts PROGRAM (no arguments) N times, one after the other, with fork
 * and exec from this process, which is not traced itself: the library, if
 * given, is put into LD_PRELOAD for the children only (the rest of the
 * environment, TRACESHIM_* included, is passed on as it is). Prints, per
 * start, the wall time from fork to the child's reaping, the children's
 * CPU time and their page faults, as a traced shell or make would pay
 * them for each command.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static double tv_us(struct timeval t)
{
    return (double)t.tv_sec * 1e6 + (double)t.tv_usec;
}

int main(int argc, char **argv)
{
    if (argc < 3 || atoi(argv[1]) <= 0) {
        fprintf(stderr, "usage: spawn_cost N PROGRAM [LIBRARY]\n");
        return 2;
    }
    int n = atoi(argv[1]);
    if (argc > 3 && setenv("LD_PRELOAD", argv[3], 1) != 0) {
        perror("setenv");
        return 1;
    }
    char *child_argv[] = {argv[2], NULL};
    double start = now_us();
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            execv(argv[2], child_argv);
            _exit(127);
        }
        int status;
        if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
            WEXITSTATUS(status) != 0) {
            fprintf(stderr, "spawn_cost: %s did not exit with 0\n", argv[2]);
            return 1;
        }
    }
    double wall = now_us() - start;
    struct rusage ch;
    getrusage(RUSAGE_CHILDREN, &ch);
    printf("%.1f us wall, %.1f us CPU (user %.1f, system %.1f), %.1f page faults per start\n",
           wall / n, (tv_us(ch.ru_utime) + tv_us(ch.ru_stime)) / n, tv_us(ch.ru_utime) / n,
           tv_us(ch.ru_stime) / n, (double)(ch.ru_minflt + ch.ru_majflt) / n);
    return 0;
}
