/* popen_semantics.c — what the C library's popen() and pclose() do,
 * printed, for test_process.py to compare untraced and traced (the shim
 * starts popen's shell itself: hooks/shell_pipe.c).
 *
 *   popen_semantics DIR   (DIR: a directory it may write a file in)
 *
 * A second thread runs beside the calls (the shim's popen is for threaded
 * servers). Prints, one line each:
 *   read S OUT       "echo hi" read: its status and what it printed
 *   write S DATA     "cat > DIR/w" fed "data": its status, the file's bytes
 *   status S         pclose of "exit 3": the wait status's exit code
 *   fclose S         fclose (not pclose) of "exit 5": its result, as pclose's
 *   modes A B C D    errno of the modes "x", "rw", "" and of "rr"'s call
 *                    (0: it worked)
 *   cloexec E N      FD_CLOEXEC on the stream's fd with "re" (E) and "r" (N)
 *   others O         whether a shell sees the pipe of a stream still open
 *                    from an earlier call (POSIX: closed in the child)
 *   stdin S          with fd 0 closed, "cat" fed "x" as "w": its status (the
 *                    pipe's read end is then fd 0, what the shell needs)
 *   plain R          pclose of a stream fopen made: its result */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile int stop;

static void *busy(void *arg)
{
    (void)arg;
    while (!stop)
        usleep(1000);
    return NULL;
}

static int code(int status)
{
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int mode_errno(const char *mode)
{
    errno = 0;
    FILE *f = popen("true", mode);
    if (!f)
        return errno;
    pclose(f);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    pthread_t t;
    pthread_create(&t, NULL, busy, NULL);

    char line[64] = "";
    FILE *f = popen("echo hi", "r");
    if (!f || !fgets(line, sizeof line, f))
        return 3;
    line[strcspn(line, "\n")] = 0;
    printf("read %d %s\n", code(pclose(f)), line);

    char path[4096], data[16] = "";
    snprintf(path, sizeof path, "%s/w", argv[1]);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "cat > '%s'", path);
    f = popen(cmd, "w");
    if (!f)
        return 3;
    fputs("data", f);
    int st = pclose(f);
    FILE *r = fopen(path, "r");
    if (!r || !fgets(data, sizeof data, r))
        return 3;
    fclose(r);
    printf("write %d %s\n", code(st), data);

    f = popen("exit 3", "r");
    printf("status %d\n", f ? code(pclose(f)) : -2);
    f = popen("exit 5", "r");
    printf("fclose %d\n", f ? code(fclose(f)) : -2);

    printf("modes %d %d %d %d\n", mode_errno("x"), mode_errno("rw"), mode_errno(""),
           mode_errno("rr"));

    f = popen("true", "re");
    FILE *g = popen("true", "r");
    if (!f || !g)
        return 3;
    printf("cloexec %d %d\n", !!(fcntl(fileno(f), F_GETFD) & FD_CLOEXEC),
           !!(fcntl(fileno(g), F_GETFD) & FD_CLOEXEC));
    pclose(f);
    pclose(g);

    FILE *held = popen("cat > /dev/null", "w");
    if (!held)
        return 3;
    snprintf(cmd, sizeof cmd, "test -e /proc/self/fd/%d && echo open || echo closed", fileno(held));
    f = popen(cmd, "r");
    if (!f || !fgets(line, sizeof line, f))
        return 3;
    pclose(f);
    pclose(held);
    line[strcspn(line, "\n")] = 0;
    printf("others %s\n", line);

    fflush(stdout);
    int saved_in = dup(0);
    close(0);
    f = popen("cat > /dev/null; exit 7", "w");
    if (!f)
        return 3;
    fputs("x\n", f);
    st = pclose(f);
    dup2(saved_in, 0);
    close(saved_in);
    printf("stdin %d\n", code(st));

    r = fopen("/dev/null", "r");
    printf("plain %d\n", r ? pclose(r) : -2);

    stop = 1;
    pthread_join(t, NULL);
    return 0;
}
