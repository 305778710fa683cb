/* exec_doors.c — starts a program through one given door of the exec family
 * or posix_spawn, with an empty environment (as `env -i` would), for
 * test_process.py: every door must carry TRACEPARENT and bring the shim
 * back into the child.
 *
 *   exec_doors DOOR PROGRAM [ARG...]
 *
 * DOOR: execve execv execvp execvpe execl execlp execle fexecve, and execveat
 * (AT_FDCWD and PROGRAM), execveat_dir (PROGRAM's directory open, and its
 * base name) and execveat_fd (PROGRAM open, "" and AT_EMPTY_PATH) (the
 * process becomes PROGRAM; the doors without an envp argument run after
 * clearenv()),
 * posix_spawn posix_spawnp (PROGRAM runs as a child; exec_doors waits and
 * exits with its status). The *p doors get PROGRAM's base name and find it
 * in PATH (unset: the C library's default). The execl doors pass at most
 * six arguments. Exit 126 when the call fails, 2 on a usage error.
 * DOOR system or popen: the command line "PROGRAM ARG..." (joined with
 * spaces, no quoting) runs through the C library's system() or popen()
 * (its output copied to stdout), with the environment as it is; exit
 * status: the command's. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s DOOR PROGRAM [ARG...]\n", argv[0]);
        return 2;
    }
    const char *door = argv[1], *prog = argv[2];
    const char *base = strrchr(prog, '/') ? strrchr(prog, '/') + 1 : prog;
    char **args = argv + 2; /* args[0] is PROGRAM */
    char *empty[] = {NULL};
    const char *a[6] = {NULL}; /* the execl doors' arguments */
    if (argc > 3 + 6 && strncmp(door, "execl", 5) == 0) {
        fprintf(stderr, "the execl doors take at most six arguments\n");
        return 2;
    }
    for (int i = 3; i < argc && i < 3 + 6; i++)
        a[i - 3] = argv[i];
    fflush(stdout);

    if (strcmp(door, "system") == 0 || strcmp(door, "popen") == 0) {
        char cmd[4096] = "";
        size_t used = 0;
        for (int i = 2; i < argc; i++) {
            int n = snprintf(cmd + used, sizeof cmd - used, "%s%s", i > 2 ? " " : "", argv[i]);
            if (n < 0 || (size_t)n >= sizeof cmd - used) {
                fprintf(stderr, "command line too long\n");
                return 2;
            }
            used += (size_t)n;
        }
        int st;
        if (door[0] == 's') {
            st = system(cmd);
        } else {
            FILE *f = popen(cmd, "r");
            if (!f) {
                perror("popen");
                return 126;
            }
            char buf[4096];
            size_t n;
            while ((n = fread(buf, 1, sizeof buf, f)) > 0)
                fwrite(buf, 1, n, stdout);
            st = pclose(f);
        }
        if (st == -1)
            return 126;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }

    if (strncmp(door, "posix_spawn", 11) == 0) {
        pid_t pid;
        int r = strcmp(door, "posix_spawnp") == 0
                    ? posix_spawnp(&pid, base, NULL, NULL, args, empty)
                    : posix_spawn(&pid, prog, NULL, NULL, args, empty);
        if (r != 0) {
            fprintf(stderr, "%s: %s\n", door, strerror(r));
            return 126;
        }
        int st;
        if (waitpid(pid, &st, 0) != pid)
            return 126;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }

    if (strcmp(door, "execve") == 0)
        execve(prog, args, empty);
    else if (strcmp(door, "execvpe") == 0)
        execvpe(base, args, empty);
    else if (strcmp(door, "execle") == 0)
        execle(prog, prog, a[0], a[1], a[2], a[3], a[4], a[5], (char *)NULL, empty);
    else if (strcmp(door, "execveat") == 0)
        execveat(AT_FDCWD, prog, args, empty, 0);
    else if (strcmp(door, "execveat_dir") == 0) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%.*s", base > prog ? (int)(base - prog) : 1,
                 base > prog ? prog : ".");
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0)
            execveat(fd, base, args, empty, 0);
    } else if (strcmp(door, "execveat_fd") == 0) {
        int fd = open(prog, O_RDONLY | O_CLOEXEC);
        if (fd >= 0)
            execveat(fd, "", args, empty, AT_EMPTY_PATH);
    } else if (strcmp(door, "fexecve") == 0) {
        int fd = open(prog, O_RDONLY | O_CLOEXEC);
        if (fd >= 0)
            fexecve(fd, args, empty);
    } else {
        clearenv();
        if (strcmp(door, "execv") == 0)
            execv(prog, args);
        else if (strcmp(door, "execvp") == 0)
            execvp(base, args);
        else if (strcmp(door, "execl") == 0)
            execl(prog, prog, a[0], a[1], a[2], a[3], a[4], a[5], (char *)NULL);
        else if (strcmp(door, "execlp") == 0)
            execlp(base, base, a[0], a[1], a[2], a[3], a[4], a[5], (char *)NULL);
        else {
            fprintf(stderr, "unknown door %s\n", door);
            return 2;
        }
    }
    perror(door);
    return 126;
}
