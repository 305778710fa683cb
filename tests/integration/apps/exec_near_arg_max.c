/* exec_near_arg_max.c — starts /bin/true with an environment as large as
 * the kernel takes, for test_process.py: the shim's entries (TRACEPARENT)
 * must not make the exec fail.
 *
 *   exec_near_arg_max execve|posix_spawn|system|popen
 *
 * The stack limit is set to 256 KiB first, so that the kernel's bound on
 * arguments and environment is its floor, 128 KiB (fs/exec.c). The largest
 * PAD=xxx... entry that still lets the program's environment through is
 * found by trying: children exec with the raw system call (through
 * syscall(), which no shim rewrites). Then /bin/true runs through the door
 * with that environment. Exit status: /bin/true's (0) once started; 3 when
 * the door failed (errno on stderr); 2 when the search found no size.
 * system and popen: the environment is the process's (environ), tried
 * with the shell's arguments ("sh -c 'echo ran; exit 7'"), and the door
 * runs that command: exit status 0 when system returned the shell's exit
 * 7 (errno left as it was, 0), or popen read "ran" and pclose returned
 * it. */
#define _GNU_SOURCE
#include <errno.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAD_MAX (128 * 1024 - 1) /* one string's bound: MAX_ARG_STRLEN */

#define SHELL_COMMAND "echo ran; exit 7"

static char pad[PAD_MAX + 1];
static char **env;
static char *trial_argv[] = {"true", NULL, NULL, NULL};

/* The program's environment and PAD=... of len bytes (its "PAD=" included). */
static void set_pad(size_t len)
{
    memset(pad, 'x', len);
    memcpy(pad, "PAD=", 4);
    pad[len] = '\0';
}

/* Does the raw execve of /bin/true with env start it? */
static int raw_exec_works(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        syscall(SYS_execve, "/bin/true", trial_argv, env);
        _exit(errno == E2BIG ? 1 : 2);
    }
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status) == 0 ? 1 : WEXITSTATUS(status) == 1 ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: exec_near_arg_max execve|posix_spawn|system|popen\n");
        return 2;
    }
    bool shell = !strcmp(argv[1], "system") || !strcmp(argv[1], "popen");
    if (shell) {
        trial_argv[0] = "sh";
        trial_argv[1] = "-c";
        trial_argv[2] = SHELL_COMMAND;
    }
    struct rlimit stack = {256 * 1024, 256 * 1024};
    if (setrlimit(RLIMIT_STACK, &stack) != 0) {
        perror("setrlimit");
        return 2;
    }
    size_t n = 0;
    while (environ[n])
        n++;
    env = calloc(n + 2, sizeof *env);
    memcpy(env, environ, n * sizeof *env);
    env[n] = pad;
    size_t lo = 5, hi = PAD_MAX; /* lo works (checked below), hi + 1 does not */
    set_pad(lo);
    if (raw_exec_works() != 1) {
        fprintf(stderr, "the environment alone is too big\n");
        return 2;
    }
    while (lo < hi) {
        size_t mid = lo + (hi - lo + 1) / 2;
        set_pad(mid);
        int works = raw_exec_works();
        if (works < 0) {
            fprintf(stderr, "a trial exec failed otherwise\n");
            return 2;
        }
        if (works)
            lo = mid;
        else
            hi = mid - 1;
    }
    set_pad(lo);
    if (!strcmp(argv[1], "system")) {
        environ = env;
        errno = 0;
        int status = system(SHELL_COMMAND);
        if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 7 || errno != 0) {
            fprintf(stderr, "system: status %d: %s\n", status, strerror(errno));
            return 3;
        }
        return 0;
    }
    if (!strcmp(argv[1], "popen")) {
        environ = env;
        FILE *f = popen(SHELL_COMMAND, "r");
        if (!f) {
            fprintf(stderr, "popen: %s\n", strerror(errno));
            return 3;
        }
        char line[16] = "";
        bool read = fgets(line, sizeof line, f) != NULL;
        int status = pclose(f);
        if (!read || strcmp(line, "ran\n") != 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 7) {
            fprintf(stderr, "popen: read %s, pclose status %d\n", read ? line : "nothing", status);
            return 3;
        }
        return 0;
    }
    char *args[] = {"true", NULL};
    if (!strcmp(argv[1], "execve")) {
        execve("/bin/true", args, env);
        perror("execve");
        return 3;
    }
    pid_t pid;
    int err = posix_spawn(&pid, "/bin/true", NULL, NULL, args, env);
    if (err) {
        fprintf(stderr, "posix_spawn: %s\n", strerror(err));
        return 3;
    }
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 4;
}
