/* threads_requests.c — HTTP from several threads of one process, for
 * test_rules.py (threads with small stacks: a rule's match on a program's
 * thread must fit in what the program gave that thread) and
 * test_hostile.py (the threads call exit at once).
 *
 *   threads_requests KIB THREADS REQUESTS END [USED [absolute]]
 *
 * Serves on 127.0.0.1 (a port the kernel picks) from a thread with the
 * default stack, one more such thread per connection, each request
 * answered "200 OK" with a 2-byte body. THREADS client threads, each with
 * a stack of KIB KiB (at least the system's minimum), open one keep-alive
 * connection each and send REQUESTS requests in turn on it,
 * "GET /users/<thread>/items/<n> HTTP/1.1", reading each answer whole.
 * END join: the main thread joins them, prints "done T R" (threads,
 * requests each) and exits 0 when every answer came. END exit-together:
 * each client thread, its answers all in, waits for the others at a
 * barrier and then calls exit(5), all at the same moment. 3 when an
 * answer did not come, 2 on a usage error. USED (default 0): bytes of
 * each client thread's stack that the program itself holds while it
 * sends, as a program's own frames would, so that a run tells whether the
 * shim's calls fit in what is left (at most the stack less 4 KiB).
 * absolute: the targets in absolute form, "GET http://127.0.0.1:PORT/users/..",
 * as a client of a forward proxy sends them. */
#define _GNU_SOURCE
#include <alloca.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
static int port, requests;
static size_t used_by_program;
static bool absolute_form;
static bool exit_together;
static pthread_barrier_t all_answered;

static void *serve_connection(void *arg)
{
    int fd = (int)(long)arg;
    char buf[4096];
    size_t have = 0;
    for (;;) {
        char *end;
        buf[have] = '\0';
        while (!(end = strstr(buf, "\r\n\r\n"))) {
            ssize_t r = recv(fd, buf + have, sizeof buf - 1 - have, 0);
            if (r <= 0) {
                close(fd);
                return NULL;
            }
            have += (size_t)r;
            buf[have] = '\0';
        }
        size_t used = (size_t)(end + 4 - buf);
        if (send(fd, answer, sizeof answer - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof answer - 1)) {
            close(fd);
            return NULL;
        }
        memmove(buf, buf + used, have - used);
        have -= used;
    }
}

static void *accept_loop(void *arg)
{
    int listener = (int)(long)arg;
    for (;;) {
        int fd = accept(listener, NULL, NULL);
        if (fd < 0)
            return NULL;
        pthread_t t;
        if (pthread_create(&t, NULL, serve_connection, (void *)(long)fd) != 0)
            exit(3);
        pthread_detach(t);
    }
}

/* A client thread that lost its answer: under exit-together the others
 * would wait at the barrier for good, so the process ends here. */
static void *client_failed(void)
{
    if (exit_together)
        exit(3);
    return (void *)1;
}

/* One client thread: its connection, its requests; NULL when every answer
 * came, else a non-NULL value. */
static void *client(void *arg)
{
    long id = (long)arg;
    /* The requests below run under this much of the program's own stack
     * (alloca's room lasts until the function returns). */
    volatile char *held = used_by_program ? alloca(used_by_program) : NULL;
    if (held) {
        held[0] = 1;
        held[used_by_program - 1] = 1;
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&to, sizeof to) != 0)
        return client_failed();
    char origin[32] = ""; /* before each target: none, or the absolute form's */
    if (absolute_form)
        snprintf(origin, sizeof origin, "http://127.0.0.1:%d", port);
    for (int n = 0; n < requests; n++) {
        char req[128];
        int len = snprintf(req, sizeof req,
                           "GET %s/users/%ld/items/%d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n",
                           origin, id, n, port);
        if (send(fd, req, (size_t)len, MSG_NOSIGNAL) != len)
            return client_failed();
        char got[sizeof answer];
        size_t have = 0;
        while (have < sizeof answer - 1) {
            ssize_t r = recv(fd, got + have, sizeof answer - 1 - have, 0);
            if (r <= 0)
                return client_failed();
            have += (size_t)r;
        }
        if (memcmp(got, answer, sizeof answer - 1) != 0)
            return client_failed();
    }
    close(fd);
    if (exit_together) {
        pthread_barrier_wait(&all_answered);
        exit(5);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 5 || argc > 7 ||
        (strcmp(argv[4], "join") != 0 && strcmp(argv[4], "exit-together") != 0) ||
        (argc == 7 && strcmp(argv[6], "absolute") != 0)) {
        fprintf(stderr, "usage: threads_requests KIB THREADS REQUESTS join|exit-together "
                        "[USED [absolute]]\n");
        return 2;
    }
    long used = argc >= 6 ? atol(argv[5]) : 0;
    absolute_form = argc == 7;
    exit_together = strcmp(argv[4], "exit-together") == 0;
    size_t stack = (size_t)atoi(argv[1]) * 1024;
    int threads = atoi(argv[2]);
    requests = atoi(argv[3]);
    long least = sysconf(_SC_THREAD_STACK_MIN);
    if (least > 0 && stack < (size_t)least)
        stack = (size_t)least;
    if (threads < 1 || threads > 64 || requests < 1 || used < 0 || (size_t)used + 4096 > stack)
        return 2;
    used_by_program = (size_t)used;
    pthread_barrier_init(&all_answered, NULL, (unsigned)threads);

    int listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in at = {.sin_family = AF_INET};
    at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t at_len = sizeof at;
    if (listener < 0 || bind(listener, (struct sockaddr *)&at, sizeof at) != 0 ||
        listen(listener, 64) != 0 || getsockname(listener, (struct sockaddr *)&at, &at_len) != 0)
        return 3;
    port = ntohs(at.sin_port);
    pthread_t server;
    if (pthread_create(&server, NULL, accept_loop, (void *)(long)listener) != 0)
        return 3;

    pthread_attr_t small;
    pthread_attr_init(&small);
    if (pthread_attr_setstacksize(&small, stack) != 0)
        return 3;
    pthread_t t[64];
    for (long i = 0; i < threads; i++)
        if (pthread_create(&t[i], &small, client, (void *)i) != 0)
            return 3;
    int failed = 0;
    for (int i = 0; i < threads; i++) {
        void *r;
        pthread_join(t[i], &r);
        failed += r != NULL;
    }
    if (failed)
        return 3;
    printf("done %d %d\n", threads, requests);
    return 0;
}
