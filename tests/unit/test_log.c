/* test_log.c — where the shim's lines may go when the program's stderr is
 * a Unix socket: a capture of its output (journald's stream, a
 * socketpair) takes them; a connection of the program's own that took
 * fd 2 after it closed stderr never does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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

/* A client of path and the connection its listener accepted. */
static void connect_to(const char *path, int *client, int *accepted)
{
    struct sockaddr_un addr;
    socklen_t len;
    int l = listen_on(path, &addr, &len);
    *client = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_int_equal(connect(*client, (struct sockaddr *)&addr, len), 0);
    *accepted = accept(l, NULL, NULL);
    assert_true(*accepted >= 0);
    close(l);
    if (path[0] != '@')
        unlink(path);
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

static void test_the_journals_stream_takes_lines(void **state)
{
    (void)state;
    char journal[64];
    snprintf(journal, sizeof journal, "%s/stdout", folder);
    int client, accepted;
    connect_to(journal, &client, &accepted);
    assert_true(ts_log_unix_socket_takes_lines(client, journal));
    /* the journal's own end is a connection accepted on a path */
    assert_false(ts_log_unix_socket_takes_lines(accepted, journal));
    close(client);
    close(accepted);
}

static void test_the_programs_own_connections_take_none(void **state)
{
    (void)state;
    char journal[64], db[64], longer[64];
    snprintf(journal, sizeof journal, "%s/stdout", folder);
    snprintf(db, sizeof db, "%s/db.sock", folder);
    snprintf(longer, sizeof longer, "%s/stdout2", folder);
    const char *paths[] = {db, longer, "@ts_log_abstract"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
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

static int remove_folder(void **state)
{
    (void)state;
    return rmdir(folder);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_socketpair_takes_lines),
        cmocka_unit_test(test_the_journals_stream_takes_lines),
        cmocka_unit_test(test_the_programs_own_connections_take_none),
    };
    return cmocka_run_group_tests(tests, make_folder, remove_folder);
}
