/* strict_sandbox_probe.c — a worker that reports to its supervisor over a
 * Unix-domain connection and a TCP one, after it has shut itself into
 * seccomp's strict mode (read, write, _exit and sigreturn only; any other
 * system call kills it, and the clock's counter faults), for test_hostile.py.
 *
 *   strict_sandbox_probe prctl|seccomp [sigterm]
 *
 * prctl: prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT); seccomp: the seccomp
 * system call's SECCOMP_SET_MODE_STRICT through glibc's syscall function.
 * On each connection the worker writes a line of its own protocol, then a
 * request head (bytes a client would send), and leaves with _exit's
 * system call. The supervisor prints, per connection, the bytes it read,
 * and how the worker ended: the same traced and untraced. With sigterm
 * the worker waits in a read instead, and the supervisor stops it with
 * SIGTERM: it dies of that signal, as untraced (the shim's handler for
 * it, run under strict mode, was killed by its first system call). */
#define _GNU_SOURCE
#include <linux/seccomp.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "probe.h"

static const char line[] = "RESULT 42\n";
static const char head[] = "GET /from-the-sandbox HTTP/1.1\r\nHost: supervisor\r\n\r\n";

static void worker(const struct sockaddr_un *path, int tcp_port, const char *how, bool wait)
{
    int u = socket(AF_UNIX, SOCK_STREAM, 0);
    if (u < 0 || connect(u, (const struct sockaddr *)path, sizeof *path) != 0)
        fail("worker: connect to the Unix-domain socket");
    int t = connect_loopback(tcp_port, 0);
    if (t < 0)
        fail("worker: connect over TCP");
    long r = !strcmp(how, "prctl") ? prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT, 0, 0, 0)
                                   : syscall(SYS_seccomp, SECCOMP_SET_MODE_STRICT, 0, NULL);
    if (r != 0)
        syscall(SYS_exit, 3);
    int fds[] = {u, t};
    for (int i = 0; i < 2; i++)
        if (write(fds[i], line, sizeof line - 1) != sizeof line - 1 ||
            write(fds[i], head, sizeof head - 1) != sizeof head - 1)
            syscall(SYS_exit, 4);
    char nothing;
    if (wait) /* nothing comes: the supervisor's SIGTERM ends it */
        syscall(SYS_read, u, &nothing, 1);
    syscall(SYS_exit, 0); /* exit_group is not allowed: the thread's exit */
}

/* What the supervisor read on fd (to its end, or as much as the worker
 * writes), described in a line. */
static void report(int fd, const char *what)
{
    char buf[4096];
    size_t got = 0;
    ssize_t r;
    while (got < sizeof line - 1 + sizeof head - 1 &&
           (r = read(fd, buf + got, sizeof buf - got)) > 0)
        got += (size_t)r;
    bool same = got == sizeof line - 1 + sizeof head - 1 && !memcmp(buf, line, sizeof line - 1) &&
                !memcmp(buf + sizeof line - 1, head, sizeof head - 1);
    printf("%s: %zu bytes%s\n", what, got, same ? ", as the worker wrote them" : ", CHANGED");
}

int main(int argc, char **argv)
{
    probe_name = "strict_sandbox_probe";
    bool stop = argc == 3 && !strcmp(argv[2], "sigterm");
    if ((argc != 2 && !stop) || (strcmp(argv[1], "prctl") && strcmp(argv[1], "seccomp")))
        fail("usage: strict_sandbox_probe prctl|seccomp [sigterm]");
    setvbuf(stdout, NULL, _IOLBF, 0);
    char dir[] = "/tmp/strict-sandbox-XXXXXX";
    if (!mkdtemp(dir))
        fail("mkdtemp");
    struct sockaddr_un path = {.sun_family = AF_UNIX};
    snprintf(path.sun_path, sizeof path.sun_path, "%s/supervisor.sock", dir);
    int ul = socket(AF_UNIX, SOCK_STREAM, 0);
    if (ul < 0 || bind(ul, (struct sockaddr *)&path, sizeof path) != 0 || listen(ul, 1) != 0)
        fail("listen on %s", path.sun_path);
    int port;
    int tl = listen_loopback(1, &port);
    pid_t pid = fork();
    if (pid < 0)
        fail("fork");
    if (pid == 0)
        worker(&path, port, argv[1], stop);
    int u = accept(ul, NULL, NULL), t = accept(tl, NULL, NULL);
    if (u < 0 || t < 0)
        fail("accept");
    report(u, "unix");
    report(t, "tcp");
    if (stop)
        kill(pid, SIGTERM);
    int status;
    if (waitpid(pid, &status, 0) != pid)
        fail("waitpid");
    if (WIFSIGNALED(status))
        printf("worker: killed by signal %d\n", WTERMSIG(status));
    else
        printf("worker: exit %d\n", WEXITSTATUS(status));
    unlink(path.sun_path);
    rmdir(dir);
    printf("done\n");
    return 0;
}
