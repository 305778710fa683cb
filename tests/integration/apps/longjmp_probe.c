/* longjmp_probe.c — a send given a deadline the old way (alarm, and a
 * SIGALRM handler that leaves by siglongjmp), for test_concurrent_sends.py:
 * the thread that left the send goes on traced, and the connection's send
 * lock is not left held.
 *
 *   longjmp_probe alone|threads
 *
 * The probe listens on 127.0.0.1, connects to itself and sends a POST head
 * announcing a body of 100 MB (under the shim, a traced request whose body
 * it counts). A blocking write of 8 MiB of body, which nobody reads, is
 * then left 300 ms later by the handler's siglongjmp.
 *   alone    one thread does everything: after the write is left, the
 *            server end reads what there is, and the thread sends one
 *            more byte on the connection;
 *   threads  a second thread makes the write and, once out of it, sends
 *            one byte on the connection; after it is joined, the main
 *            thread sends one more.
 * Then the main thread makes a GET /after on a new connection, answers it
 * on the server end and reads the answer. Each step prints one line;
 * "done" ends a run. A send that waits for a lock left held never returns:
 * the test's time limit tells that hang from a wrong answer. */
#define _GNU_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "probe.h"

#define BODY_CHUNK (8L << 20)

static int client, server;
static sigjmp_buf deadline;
static pthread_barrier_t sent; /* threads: the writer lives on until the main thread has sent */

static void on_alarm(int sig)
{
    (void)sig;
    siglongjmp(deadline, 1);
}

/* "NAME: ret=R errno=E" for a one-byte send. */
static void report(const char *name, ssize_t r, int err)
{
    printf("%s: ret=%zd errno=%s\n", name, r, r < 0 ? strerrorname_np(err) : "-");
}

/* Everything the server end has now, read without waiting. */
static void drain(void)
{
    char buf[65536];
    while (recv(server, buf, sizeof buf, MSG_DONTWAIT) > 0) {
    }
}

/* The write of the body, left by siglongjmp once the alarm rings. */
static void write_until_the_alarm(void)
{
    char *body = malloc(BODY_CHUNK);
    if (!body)
        fail("malloc");
    memset(body, 'b', BODY_CHUNK);
    if (sigsetjmp(deadline, 1) == 0) {
        struct itimerval in_300ms = {{0, 0}, {0, 300000}};
        setitimer(ITIMER_REAL, &in_300ms, NULL);
        ssize_t n = write(client, body, BODY_CHUNK); /* blocks: nobody reads */
        printf("write: returned %zd\n", n);
    } else {
        printf("write: left by siglongjmp\n");
    }
    free(body);
}

static void *writer(void *arg)
{
    (void)arg;
    sigset_t alrm;
    sigemptyset(&alrm);
    sigaddset(&alrm, SIGALRM);
    pthread_sigmask(SIG_UNBLOCK, &alrm, NULL); /* the alarm is this thread's */
    write_until_the_alarm();
    drain();
    report("writer's send(after the abandoned write)", send(client, "w", 1, MSG_NOSIGNAL), errno);
    pthread_barrier_wait(&sent); /* the writer's send is out */
    pthread_barrier_wait(&sent); /* so is the main thread's: a thread's exit lets go of
                                    what it held, which would hide a lock left held */
    return NULL;
}

/* GET /after on a new connection, answered by this thread on the server
 * end. */
static void get_after(int listener, int port)
{
    int c = connect_loopback(port, 0);
    int s = accept(listener, NULL, NULL);
    if (c < 0 || s < 0)
        fail("second connection");
    char req[512];
    int n = snprintf(req, sizeof req, "GET /after HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n", port);
    if (send(c, req, (size_t)n, MSG_NOSIGNAL) != n)
        fail("GET /after");
    char got[1024];
    size_t have = 0;
    while (!memmem(got, have, "\r\n\r\n", 4)) {
        ssize_t r = recv(s, got + have, sizeof got - have, 0);
        if (r <= 0)
            fail("server end of GET /after");
        have += (size_t)r;
    }
    static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    if (send(s, answer, sizeof answer - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof answer - 1))
        fail("answer");
    char resp[1024];
    if (recv_response(c, resp, sizeof resp) < 0)
        fail("response to GET /after");
    printf("GET /after: %d\n", http_status(resp));
    close(c);
    close(s);
}

int main(int argc, char **argv)
{
    if (argc != 2 || (strcmp(argv[1], "alone") != 0 && strcmp(argv[1], "threads") != 0)) {
        fprintf(stderr, "usage: longjmp_probe alone|threads\n");
        return 2;
    }
    bool threads = strcmp(argv[1], "threads") == 0;
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct sigaction sa = {.sa_handler = on_alarm};
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGALRM, &sa, NULL) != 0)
        fail("sigaction");

    int port;
    int listener = listen_loopback(4, &port);
    connect_to_itself(listener, port, &client, &server);
    send_upload_head(client);

    pthread_t t;
    if (threads) {
        sigset_t alrm;
        sigemptyset(&alrm);
        sigaddset(&alrm, SIGALRM);
        pthread_sigmask(SIG_BLOCK, &alrm, NULL); /* the writer's alone */
        if (pthread_barrier_init(&sent, NULL, 2) != 0 ||
            pthread_create(&t, NULL, writer, NULL) != 0)
            fail("writer thread");
        pthread_barrier_wait(&sent);
    } else {
        write_until_the_alarm();
    }
    drain();
    report("send(after the abandoned write)", send(client, "x", 1, MSG_NOSIGNAL), errno);
    drain();
    if (threads) {
        pthread_barrier_wait(&sent);
        pthread_join(t, NULL);
    }

    get_after(listener, port);
    close(client);
    close(server);
    close(listener);
    printf("done\n");
    return 0;
}
