/* test_log.c — where the shim's lines may go when the program's stderr is
 * a Unix socket: a capture of its output (journald's stream, a
 * socketpair) takes them; a connection of the program's own that took
 * fd 2 after it closed stderr never does. */
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "preload/log.h"

static char folder[] = "/tmp/ts_log_XXXXXX";

/* A listener on path (an abstract name when path starts with '@'). */
static int listen_on(const char *path, struct sockaddr_un *addr, socklen_t *len)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    memset(addr, 0, sizeof *addr);
    addr->sun_family = AF_UNIX;
    size_t n = strlen(path);
    assert_true(n < sizeof addr->sun_path);
    memcpy(addr->sun_path, path, n);
    if (path[0] == '@')
        addr->sun_path[0] = '\0';
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] == '@' ? 0 : 1));
    assert_int_equal(bind(fd, (struct sockaddr *)addr, *len), 0);
    assert_int_equal(listen(fd, 4), 0);
    return fd;
}

/* A client of path and the connection its listener accepted (path's
 * folder made first, under the test's). */
static void connect_to(const char *path, int *client, int *accepted)
{
    if (path[0] != '@') {
        char dir[128];
        snprintf(dir, sizeof dir, "%s", path);
        for (char *slash = dir + strlen(folder) + 1; (slash = strchr(slash, '/')); slash++) {
            *slash = '\0';
            assert_true(mkdir(dir, 0700) == 0 || errno == EEXIST);
            *slash = '/';
        }
    }
    struct sockaddr_un addr;
    socklen_t len;
    int l = listen_on(path, &addr, &len);
    *client = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_int_equal(connect(*client, (struct sockaddr *)&addr, len), 0);
    *accepted = accept(l, NULL, NULL);
    assert_true(*accepted >= 0);
    close(l);
}

static void test_a_socketpair_takes_lines(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_true(ts_log_unix_socket_takes_lines(sv[0], "/nowhere/journal"));
    assert_true(ts_log_unix_socket_takes_lines(sv[1], "/nowhere/journal"));
    close(sv[0]);
    close(sv[1]);
}

static void test_the_journals_streams_take_lines(void **state)
{
    (void)state;
    char journal[64], paths[2][96];
    snprintf(journal, sizeof journal, "%s/journal", folder);
    snprintf(paths[0], sizeof paths[0], "%s/stdout", journal);
    snprintf(paths[1], sizeof paths[1], "%s.billing/stdout", journal); /* LogNamespace=billing */
    for (int i = 0; i < 2; i++) {
        int client, accepted;
        connect_to(paths[i], &client, &accepted);
        assert_true(ts_log_unix_socket_takes_lines(client, journal));
        /* the journal's own end is a connection accepted on a path */
        assert_false(ts_log_unix_socket_takes_lines(accepted, journal));
        close(client);
        close(accepted);
    }
}

static void test_the_programs_own_connections_take_none(void **state)
{
    (void)state;
    char journal[64], paths[6][96];
    snprintf(journal, sizeof journal, "%s/journal", folder);
    snprintf(paths[0], sizeof paths[0], "%s/db.sock", folder);
    snprintf(paths[1], sizeof paths[1], "%s/stdout2", journal);
    snprintf(paths[2], sizeof paths[2], "%s./stdout", journal);
    snprintf(paths[3], sizeof paths[3], "%sx/stdout", journal);
    snprintf(paths[4], sizeof paths[4], "%s.a/b/stdout", journal);
    /* an abstract name of this process's own: tests run side by side */
    snprintf(paths[5], sizeof paths[5], "@ts_log_%d", (int)getpid());
    for (size_t i = 0; i < 6; i++) {
        int client, accepted;
        connect_to(paths[i], &client, &accepted);
        assert_false(ts_log_unix_socket_takes_lines(client, journal));
        assert_false(ts_log_unix_socket_takes_lines(accepted, journal));
        close(client);
        close(accepted);
    }
    /* nor a socket connected to nothing */
    int lone = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_false(ts_log_unix_socket_takes_lines(lone, journal));
    close(lone);
}

static int make_folder(void **state)
{
    (void)state;
    return mkdtemp(folder) ? 0 : -1;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path);
}

/* The folder and all in it, whatever a failed test left. */
static int remove_folder(void **state)
{
    (void)state;
    return nftw(folder, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_socketpair_takes_lines),
        cmocka_unit_test(test_the_journals_streams_take_lines),
        cmocka_unit_test(test_the_programs_own_connections_take_none),
    };
    return cmocka_run_group_tests(tests, make_folder, remove_folder);
}
