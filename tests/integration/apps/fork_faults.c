/* fork_faults.c — forks N times, each child leaving at once with _exit,
 * and prints the page faults (minor and major, parent and children
 * together) per fork as "faults_per_fork=F" (test_startup.py). After a
 * fork every page is shared copy-on-write: each page that the parent or
 * the child writes afterwards, and each page of code the child runs, is a
 * fault, and that is most of what a fork handler costs. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static long faults(void)
{
    struct rusage self, children;
    getrusage(RUSAGE_SELF, &self);
    getrusage(RUSAGE_CHILDREN, &children);
    return self.ru_minflt + self.ru_majflt + children.ru_minflt + children.ru_majflt;
}

static int fork_and_reap(void)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    if (pid < 0) {
        perror("fork");
        return -1;
    }
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "child %d did not exit with 0\n", (int)pid);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 200;
    if (n <= 0)
        return 2;
    for (int i = 0; i < 5; i++) /* the first forks also map what every later one uses */
        if (fork_and_reap() != 0)
            return 1;
    long before = faults();
    for (int i = 0; i < n; i++)
        if (fork_and_reap() != 0)
            return 1;
    printf("faults_per_fork=%.2f\n", (double)(faults() - before) / n);
    return 0;
}
