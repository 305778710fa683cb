/* longjmp_probe.c — a send given a deadline the old way (alarm, and a
 * SIGALRM handler that leaves by siglongjmp), for test_concurrent_sends.py:
 * the thread that left the send goes on traced, and the connection's send
 * lock is not left held.
 *
 *   longjmp_probe alone|threads|handler
 *
 * The probe listens on 127.0.0.1 (small socket buffers) and connects to
 * itself. A blocking write of a POST head announcing a body of 100 MB
 * (under the shim, a traced request whose head gets the trace headers)
 * and 8 MiB of it, which nobody reads, is left 300 ms later by the
 * handler's siglongjmp.
 *   alone    one thread does everything, head and body in that one write
 *            (the shim's rewritten head is under way when it is left);
 *            after it, the server end reads what there is, and the
 *            thread sends one more byte on the connection;
 *   threads  the head goes first; a second thread makes the body's write
 *            and, once out of it, sends one byte on the connection; the
 *            main thread sends one more while that thread still lives;
 *   handler  (the control) the handler returns instead, after a receive
 *            on another traced connection, and a second thread reads the
 *            server end 600 ms in: the write goes on and completes. The
 *            handler runs on an alternate stack in main's frame, above
 *            the write's, which the kernel disarms while it runs
 *            (SS_AUTODISARM): no sign of it is left to see.
 * After the write is left, the thread that made it prints a line and calls
 * a function with a large frame, as any deep call would: it writes over
 * the left hook's frame, which is what lets the shim know it is gone.
 * Then the server end reads all it has and the probe prints the last
 * byte (the one sent last), and
 * the main thread makes a GET /after on a new connection, answers it on
 * the server end and reads the answer. Each step prints one line; "done"
 * ends a run. A send that waits for a lock left held never returns: the
 * test's time limit tells that hang from a wrong answer. */
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

#ifndef SS_AUTODISARM /* linux/signal.h's, which glibc's signal.h leaves out */
#define SS_AUTODISARM (1U << 31)
#endif

static int client, server;
static sigjmp_buf deadline;
static pthread_barrier_t sent; /* threads: the writer lives on until the main thread has sent */

static int spare_server; /* handler mode: a traced connection with nothing to read */

static void on_alarm(int sig)
{
    (void)sig;
    siglongjmp(deadline, 1);
}

/* A hook called inside the blocked write's call, which goes on after. */
static void on_alarm_return(int sig)
{
    (void)sig;
    char byte;
    int saved = errno;
    ssize_t r = recv(spare_server, &byte, 1, MSG_DONTWAIT);
    static const char ran[] = "handler: ran\n";
    if (r < 0 && errno == EAGAIN)
        (void)!write(1, ran, sizeof ran - 1);
    errno = saved;
}

/* A deep call's worth of stack, written (a byte at a time through the
 * volatile array: a memset of a dead array may be left out). */
static __attribute__((noinline)) void use_stack(void)
{
    volatile char frame[65536];
    for (size_t i = 0; i < sizeof frame; i++)
        frame[i] = 0;
}

/* Handler mode: the server end read 600 ms in, the whole write. */
static void *late_reader(void *arg)
{
    size_t want = (size_t)arg, got = 0;
    sleep_ms(600);
    static char buf[65536];
    while (got < want) {
        ssize_t n = recv(server, buf, sizeof buf, 0);
        if (n <= 0)
            fail("late reader");
        got += (size_t)n;
    }
    return NULL;
}

/* "NAME: ret=R errno=E" for a one-byte send. */
static void report(const char *name, ssize_t r, int err)
{
    printf("%s: ret=%zd errno=%s\n", name, r, r < 0 ? strerrorname_np(err) : "-");
}

static const char head[] = "POST /upload HTTP/1.1\r\nHost: probe\r\n"
                           "Content-Length: 100000000\r\n\r\n";
static char last_byte = '-'; /* of those the server end read */

/* Everything the server end has now, read without waiting. */
static void drain(void)
{
    static char buf[65536];
    ssize_t n;
    while ((n = recv(server, buf, sizeof buf, MSG_DONTWAIT)) > 0)
        last_byte = buf[n - 1];
}

/* The write (the head too when `with_head`), left by siglongjmp once the
 * alarm rings. */
static void write_until_the_alarm(bool with_head)
{
    size_t at = with_head ? sizeof head - 1 : 0;
    char *body = malloc(at + BODY_CHUNK);
    if (!body)
        fail("malloc");
    memcpy(body, head, at);
    memset(body + at, 'b', BODY_CHUNK);
    if (sigsetjmp(deadline, 1) == 0) {
        struct itimerval in_300ms = {{0, 0}, {0, 300000}};
        setitimer(ITIMER_REAL, &in_300ms, NULL);
        /* Blocks: nobody reads. A handler that returns cuts it short (a
         * part written): the rest goes out as a program sends it. */
        size_t done = 0;
        while (done < at + BODY_CHUNK) {
            ssize_t n = write(client, body + done, at + BODY_CHUNK - done);
            if (n < 0 && errno != EINTR)
                fail("write");
            done += n > 0 ? (size_t)n : 0;
        }
        printf("write: wrote all\n");
    } else {
        printf("write: left by siglongjmp\n");
    }
    free(body);
    use_stack();
}

static void *writer(void *arg)
{
    (void)arg;
    sigset_t alrm;
    sigemptyset(&alrm);
    sigaddset(&alrm, SIGALRM);
    pthread_sigmask(SIG_UNBLOCK, &alrm, NULL); /* the alarm is this thread's */
    write_until_the_alarm(false);
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
    if (argc != 2 || (strcmp(argv[1], "alone") != 0 && strcmp(argv[1], "threads") != 0 &&
                      strcmp(argv[1], "handler") != 0)) {
        fprintf(stderr, "usage: longjmp_probe alone|threads|handler\n");
        return 2;
    }
    bool threads = strcmp(argv[1], "threads") == 0, returns = strcmp(argv[1], "handler") == 0;
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct sigaction sa = {.sa_handler = returns ? on_alarm_return : on_alarm,
                           .sa_flags = returns ? SA_RESTART | SA_ONSTACK : 0};
    char alternate[65536]; /* over SIGSTKSZ (sysconf'd in glibc 2.34+: not a constant) */
    stack_t alt = {.ss_sp = alternate, .ss_size = sizeof alternate, .ss_flags = SS_AUTODISARM};
    if (returns && sigaltstack(&alt, NULL) != 0)
        fail("sigaltstack");
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGALRM, &sa, NULL) != 0)
        fail("sigaction");

    /* Small buffers: the write blocks whatever the system's defaults. */
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    int small = 65536;
    struct sockaddr_in a = loopback(0);
    socklen_t alen = sizeof a;
    if (listener < 0 || setsockopt(listener, SOL_SOCKET, SO_RCVBUF, &small, sizeof small) < 0 ||
        bind(listener, (struct sockaddr *)&a, sizeof a) < 0 || listen(listener, 4) < 0 ||
        getsockname(listener, (struct sockaddr *)&a, &alen) < 0)
        fail("listener");
    int port = ntohs(a.sin_port);
    client = socket(AF_INET, SOCK_STREAM, 0);
    if (client < 0 || setsockopt(client, SOL_SOCKET, SO_SNDBUF, &small, sizeof small) < 0 ||
        connect(client, (struct sockaddr *)&a, sizeof a) < 0)
        fail("connect to itself");
    server = accept(listener, NULL, NULL);
    if (server < 0)
        fail("accept");
    if (threads && write(client, head, sizeof head - 1) != (ssize_t)(sizeof head - 1))
        fail("request head");

    pthread_t t;
    if (returns) {
        int spare_client = connect_loopback(port, 0);
        spare_server = accept(listener, NULL, NULL);
        if (spare_client < 0 || spare_server < 0)
            fail("spare connection");
        sigset_t alrm;
        sigemptyset(&alrm);
        sigaddset(&alrm, SIGALRM);
        pthread_sigmask(SIG_BLOCK, &alrm, NULL); /* the alarm is the main thread's */
        if (pthread_create(&t, NULL, late_reader, (void *)(sizeof head - 1 + BODY_CHUNK)) != 0)
            fail("reader thread");
        pthread_sigmask(SIG_UNBLOCK, &alrm, NULL);
        write_until_the_alarm(true);
        pthread_join(t, NULL);
    } else if (threads) {
        sigset_t alrm;
        sigemptyset(&alrm);
        sigaddset(&alrm, SIGALRM);
        pthread_sigmask(SIG_BLOCK, &alrm, NULL); /* the writer's alone */
        if (pthread_barrier_init(&sent, NULL, 2) != 0 ||
            pthread_create(&t, NULL, writer, NULL) != 0)
            fail("writer thread");
        pthread_barrier_wait(&sent);
    } else {
        write_until_the_alarm(true);
    }
    drain();
    report("send(after the abandoned write)", send(client, "x", 1, MSG_NOSIGNAL), errno);
    drain();
    printf("server end's last byte: %c\n", last_byte);
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
