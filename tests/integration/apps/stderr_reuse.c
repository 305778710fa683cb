/* stderr_reuse.c WHEN FILE — gives its stderr up on its way out, as
 * coreutils do in an exit handler, for test_launcher.py: the shim's last
 * lines must reach the stderr it had, and never FILE. WHEN says how:
 *   atexit  close(2) in an exit handler, then FILE opened (the lowest
 *           free number: 2) and "data\n" written there
 *   opened  started with fd 2 closed (`2>&-`): FILE opened at the start
 *           (it takes fd 2), "data\n" written, and closed in an exit
 *           handler
 *   fork    close(1) and close(2) in an exit handler, then a fork whose
 *           child sleeps 3 s holding nothing of its parent's stdout or
 *           stderr (a reader of those pipes sees their end as the parent
 *           exits); FILE is not used
 *   pager   stdout and stderr put on a pipe to a child that reads it to
 *           its end (a pager); an exit handler closes both and waits for
 *           the child, as git does; FILE is not used
 * Exit 3 when FILE did not get fd 2, 2 on a usage error. */
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *file;

static void close_then_reuse(void)
{
    close(STDERR_FILENO);
    int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd != STDERR_FILENO || write(fd, "data\n", 5) != 5)
        _exit(3);
}

static void close_then_fork(void)
{
    close(STDOUT_FILENO);
    close(STDERR_FILENO);
    if (fork() == 0) {
        sleep(3);
        _exit(0);
    }
}

static void close_opened(void)
{
    close(STDERR_FILENO);
}

static pid_t pager;

static void close_then_wait_for_pager(void)
{
    close(STDOUT_FILENO);
    close(STDERR_FILENO);
    waitpid(pager, NULL, 0);
}

/* A child reading the write end's pipe to its end; stdout and stderr are
 * that pipe now. */
static bool start_pager(void)
{
    int fds[2];
    if (pipe(fds) != 0 || (pager = fork()) < 0)
        return false;
    if (pager == 0) {
        close(fds[1]);
        char buf[512];
        while (read(fds[0], buf, sizeof buf) > 0)
            ;
        _exit(0);
    }
    close(fds[0]);
    return dup2(fds[1], STDOUT_FILENO) == STDOUT_FILENO &&
           dup2(fds[1], STDERR_FILENO) == STDERR_FILENO && close(fds[1]) == 0;
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    file = argv[2];
    void (*handler)(void) = NULL;
    if (strcmp(argv[1], "atexit") == 0) {
        handler = close_then_reuse;
    } else if (strcmp(argv[1], "opened") == 0) {
        int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd != STDERR_FILENO || write(fd, "data\n", 5) != 5)
            return 3;
        handler = close_opened;
    } else if (strcmp(argv[1], "fork") == 0) {
        handler = close_then_fork;
    } else if (strcmp(argv[1], "pager") == 0) {
        if (!start_pager())
            return 2;
        handler = close_then_wait_for_pager;
    }
    if (!handler || atexit(handler) != 0)
        return 2;
    return 0;
}
