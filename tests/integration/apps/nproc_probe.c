/* nproc_probe.c — a program that forbids new threads as haproxy does:
 * as root, it gives its user up (nobody), starts two threads, and both set
 * RLIMIT_NPROC to 0 at the same moment (haproxy's threads each do, once
 * they run). Then three GETs to 127.0.0.1:PORT/limited, "done" on stdout,
 * and a sleep of a minute: the test reads the spans while it runs.
 *
 *   nproc_probe PORT
 *   nproc_probe sandbox
 *
 * "sandbox": as OpenSSH's pre-authentication child, no new fd
 * (RLIMIT_NOFILE 0; OpenSSH's also limits the file size to 0, which would
 * stop this probe's own report), then no process: prints "threads N", the
 * threads the process has then (the shim must not have started its own:
 * such a sandbox's filter would not cover it).
 *
 * Exit status 2 when the probe itself fails. */
#define _GNU_SOURCE
#include <dirent.h>
#include <grp.h>
#include <pthread.h>
#include <sys/resource.h>

#include "probe.h"

static pthread_barrier_t together;

static void *forbid_threads(void *arg)
{
    (void)arg;
    struct rlimit none = {0, 0};
    pthread_barrier_wait(&together);
    if (setrlimit(RLIMIT_NPROC, &none) != 0)
        fail("setrlimit");
    return NULL;
}

static int sandbox(void)
{
    DIR *tasks = opendir("/proc/self/task"); /* opened while fds may be */
    if (!tasks)
        fail("opendir /proc/self/task");
    struct rlimit none = {0, 0};
    if (setrlimit(RLIMIT_NOFILE, &none) != 0 || setrlimit(RLIMIT_NPROC, &none) != 0)
        fail("setrlimit");
    int n = 0;
    for (struct dirent *e; (e = readdir(tasks));)
        n += e->d_name[0] != '.';
    printf("threads %d\n", n);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2)
        fail("usage: nproc_probe PORT | nproc_probe sandbox");
    if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0)
        fail("giving root up");
    if (strcmp(argv[1], "sandbox") == 0)
        return sandbox();
    int port = atoi(argv[1]);
    pthread_t t[2];
    pthread_barrier_init(&together, NULL, 2);
    for (int i = 0; i < 2; i++)
        if (pthread_create(&t[i], NULL, forbid_threads, NULL) != 0)
            fail("pthread_create");
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 3; i++)
        http_get_200(port, "/limited");
    printf("done\n");
    fflush(stdout);
    sleep_ms(60000);
    return 0;
}
