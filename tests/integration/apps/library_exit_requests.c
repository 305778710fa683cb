/* library_exit_requests.c — requests a shared library of the program makes
 * as the process exits, for test_process.py, test_hostile.py and
 * test_stats.py. One source, built twice:
 *
 *   cc -shared -fPIC -DLIBRARY -o liblibrary_exit_requests.so library_exit_requests.c
 *   cc -o library_exit_requests library_exit_requests.c liblibrary_exit_requests.so
 *
 *   library_exit_requests exit|return|busy PORT
 *
 * The program GETs /main from 127.0.0.1:PORT on a keep-alive connection,
 * hands the port and that connection to the library, and ends by exit(0)
 * or main's return 0 (busy: main returns while a thread of its own GETs
 * /busy again and again on a connection of its own, until the process
 * ends; the thread prints nothing). The library's part runs at its turn among the
 * libraries' destructors, after the program's (and after those of a
 * library preloaded with LD_PRELOAD, which the loader initialises after
 * the program's own libraries):
 *  - its destructor GETs /lib-destructor on a connection of its own, then
 *    sends GET /lib-unanswered on another and ends without reading the
 *    answer (a request still waiting when the process ends);
 *  - an atexit handler its constructor registered, which glibc runs with
 *    the library's destructors (the way a C++ static's destructor in a
 *    shared library runs), GETs /lib-atexit on the program's keep-alive
 *    connection.
 * Each request's line, "PATH STATUS", goes to stdout (STATUS -1 when no
 * answer came), or "PATH sent" for the unanswered one. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "probe.h"

void library_exit_requests_use(int port, int keep_alive_fd);

#ifdef LIBRARY

static int lib_port, lib_fd = -1;

void library_exit_requests_use(int port, int keep_alive_fd)
{
    lib_port = port;
    lib_fd = keep_alive_fd;
}

static void get(int fd, const char *path)
{
    char resp[1024];
    printf("%s %d\n", path, fd < 0 ? -1 : http_get(fd, lib_port, path, resp, sizeof resp));
}

static void at_exit_of_the_library(void)
{
    if (lib_port)
        get(lib_fd, "/lib-atexit");
}

__attribute__((constructor)) static void library_starts(void)
{
    atexit(at_exit_of_the_library);
}

__attribute__((destructor)) static void library_ends(void)
{
    if (!lib_port)
        return;
    int fd = connect_loopback(lib_port, 0);
    get(fd, "/lib-destructor");
    close(fd);
    static const char unanswered[] = "GET /lib-unanswered HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    fd = connect_loopback(lib_port, 0);
    if (fd >= 0 && send(fd, unanswered, sizeof unanswered - 1, MSG_NOSIGNAL) > 0)
        printf("/lib-unanswered sent\n");
}

#else

static void *busy(void *arg)
{
    int port = (int)(long)arg;
    int fd = connect_loopback(port, 0);
    char resp[1024];
    while (fd >= 0 && http_get(fd, port, "/busy", resp, sizeof resp) == 200)
        continue;
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[1], "exit") != 0 && strcmp(argv[1], "return") != 0 &&
                      strcmp(argv[1], "busy") != 0)) {
        fprintf(stderr, "usage: library_exit_requests exit|return|busy PORT\n");
        return 2;
    }
    int port = atoi(argv[2]);
    int fd = connect_loopback(port, 0);
    char resp[1024];
    if (fd < 0 || http_get(fd, port, "/main", resp, sizeof resp) != 200)
        fail("GET /main");
    printf("/main 200\n");
    library_exit_requests_use(port, fd);
    if (strcmp(argv[1], "exit") == 0)
        exit(0);
    pthread_t t;
    if (strcmp(argv[1], "busy") == 0) {
        if (pthread_create(&t, NULL, busy, (void *)(long)port) != 0)
            fail("pthread_create");
        sleep_ms(50);
    }
    return 0;
}

#endif
