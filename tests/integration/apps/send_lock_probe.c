/* send_lock_probe.c — two threads sending on one traced client connection,
 * for test_concurrent_sends.py: a send that must not wait does not wait
 * for the other thread's, and a thread cancelled inside a send leaves the
 * connection usable.
 *
 *   send_lock_probe MODE
 *
 * The probe listens on 127.0.0.1, connects to itself and sends a POST head
 * announcing a body of 100 MB (under the shim, a traced request whose body
 * the shim counts). A writer thread then writes 8 MiB of body in one
 * blocking write, which blocks: nobody reads yet. Once the writer's
 * thread sleeps in its send system call (/proc says so, so that a loaded
 * machine cannot make a step run beside a writer still on its way), MODE:
 *   dontwait  the main thread sends one byte with MSG_DONTWAIT;
 *   cancel    two reader threads wait for the response, in a blocking
 *             read and a blocking recvmmsg; the main thread cancels the
 *             writer and the readers, joins them, and sends one byte with MSG_DONTWAIT and, once
 * the server end has read what there was, one byte blocking; fork      the main thread forks while
 * the writer is blocked; the child sends one byte, blocking, and exits: the writer's thread is not
 * in the child, and nothing it held may make the child's send wait for it. Then the server end
 * reads everything; the writer (dontwait) finishes. Each step prints one line with its result;
 * "done" ends a run. A step that waits more than 5 s is cut short by SIGALRM (the probe dies of
 * it): the test tells that hang from a wrong answer.
 *
 * The process ends beside a send blocked for good (nobody ever reads), the
 * status its own (7 for exit, SIGTERM's death):
 *   exit          as above; once the writer is blocked, "writer: blocked"
 *                 and the main thread calls exit(7);
 *   exit-head     the same, the head and the body in the writer's one
 *                 write (the request's span is set up by the blocked call);
 *   handler-exit  the main thread is the writer; a thread sends it SIGALRM
 *                 once it is blocked, whose handler calls exit(7);
 *   serve-term    the server end reads the request head of a GET /download
 *                 and a responder thread writes its answer, a head and
 *                 its 8 MiB body, in one write that blocks (the client end
 *                 reads nothing); "responder: blocked", then the probe
 *                 waits for the test's SIGTERM;
 *   serve-term-head  the same, the head in a write of its own first (it
 *                 goes out), then the body in one that blocks. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "probe.h"

#define BODY_CHUNK (8L << 20)

static int client;
static pid_t writer_tid, reader_tid, mmsg_reader_tid; /* set by each thread */

static void *writer(void *arg)
{
    (void)arg;
    __atomic_store_n(&writer_tid, gettid(), __ATOMIC_RELEASE);
    char *body = malloc(BODY_CHUNK);
    if (!body)
        fail("malloc");
    memset(body, 'b', BODY_CHUNK);
    ssize_t n = write(client, body, BODY_CHUNK); /* blocks until the server end reads */
    free(body);
    return (void *)n;
}

/* exit-head and serve-term: a head (arg: its format, the body's length
 * its one conversion) and its body in one write, which blocks. */
static void *head_and_body_writer(void *arg)
{
    __atomic_store_n(&writer_tid, gettid(), __ATOMIC_RELEASE);
    char *msg = malloc(BODY_CHUNK);
    if (!msg)
        fail("malloc");
    memset(msg, 'b', BODY_CHUNK);
    int h = snprintf(msg, 128, arg, BODY_CHUNK - 128);
    msg[h] = 'b'; /* (snprintf's NUL) */
    return (void *)write(client, msg, BODY_CHUNK);
}

/* serve-term-head: the head (arg: its format, the body's length its one
 * conversion) in a write of its own, then the body in one that blocks. */
static void *head_then_body_writer(void *arg)
{
    __atomic_store_n(&writer_tid, gettid(), __ATOMIC_RELEASE);
    char head[128];
    int h = snprintf(head, sizeof head, arg, BODY_CHUNK);
    if (write(client, head, (size_t)h) != h)
        fail("the response head");
    return writer(NULL);
}

static void *reader(void *arg)
{
    (void)arg;
    __atomic_store_n(&reader_tid, gettid(), __ATOMIC_RELEASE);
    char buf[256];
    return (void *)read(client, buf, sizeof buf); /* no response ever comes */
}

static void *mmsg_reader(void *arg)
{
    (void)arg;
    __atomic_store_n(&mmsg_reader_tid, gettid(), __ATOMIC_RELEASE);
    char buf[256];
    struct iovec iov = {buf, sizeof buf};
    struct mmsghdr m = {.msg_hdr = {.msg_iov = &iov, .msg_iovlen = 1}};
    return (void *)(long)recvmmsg(client, &m, 1, MSG_WAITFORONE, NULL);
}

/* Until the thread whose id *tid_at holds (once it has run) sleeps in
 * one of the system calls in calls[0..n): state S in its stat, and the
 * call's number first in its syscall file (under the shim a write may be
 * a sendmsg, a read a recvmsg). At most 5 s. */
static void wait_until_blocked(const pid_t *tid_at, const long *calls, size_t n, const char *who)
{
    long t0 = now_ms();
    while (now_ms() - t0 < 5000) {
        pid_t tid = __atomic_load_n(tid_at, __ATOMIC_ACQUIRE);
        char path[64], stat[512] = "", call[64] = "";
        FILE *f;
        snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
        if (tid && (f = fopen(path, "r"))) {
            if (!fgets(stat, sizeof stat, f))
                stat[0] = 0;
            fclose(f);
        }
        snprintf(path, sizeof path, "/proc/self/task/%d/syscall", (int)tid);
        if (tid && (f = fopen(path, "r"))) {
            if (!fgets(call, sizeof call, f))
                call[0] = 0;
            fclose(f);
        }
        const char *state = strrchr(stat, ')'); /* the name may hold anything */
        long nr = strtol(call, NULL, 10);
        bool in_call = false;
        for (size_t i = 0; i < n; i++)
            in_call |= call[0] && nr == calls[i];
        if (state && state[1] == ' ' && state[2] == 'S' && in_call)
            return;
        sleep_ms(10);
    }
    fail("the %s did not block in its call within 5 s", who);
}

static const long send_calls[] = {SYS_write, SYS_writev, SYS_sendto, SYS_sendmsg};
static const long receive_calls[] = {SYS_read, SYS_readv, SYS_recvfrom, SYS_recvmsg,
                                     SYS_recvmmsg};
#define WAIT_UNTIL_BLOCKED(tid, calls, who)                                                        \
    wait_until_blocked(&(tid), calls, sizeof calls / sizeof *calls, who)

/* "NAME: ret=R errno=E" for a one-byte send. */
static void report(const char *name, ssize_t r, int err)
{
    printf("%s: ret=%zd errno=%s\n", name, r, r < 0 ? strerrorname_np(err) : "-");
}

/* Everything the server end has now, read without waiting; the count. */
static long drain(int server)
{
    char buf[65536];
    long total = 0;
    ssize_t n;
    while ((n = recv(server, buf, sizeof buf, MSG_DONTWAIT)) > 0)
        total += n;
    return total;
}

/* fork: the child's blocking send beside the parent's blocked writer, and
 * the parent's server end reading everything meanwhile (the child's send
 * may wait for room), until the writer and the child are done. */
static void fork_beside_blocked_writer(int server, pthread_t writer_thread)
{
    pid_t child = fork();
    if (child < 0)
        fail("fork");
    if (child == 0) {
        alarm(5);
        ssize_t r = send(client, "x", 1, MSG_NOSIGNAL);
        report("child's send", r, errno);
        fflush(stdout);
        _exit(0);
    }
    int status = 0;
    bool child_done = false;
    for (;;) {
        char buf[65536];
        if (recv(server, buf, sizeof buf, MSG_DONTWAIT) > 0)
            continue;
        if (!child_done && waitpid(child, &status, WNOHANG) == child)
            child_done = true;
        if (child_done && pthread_tryjoin_np(writer_thread, NULL) == 0)
            break;
        sleep_ms(1);
    }
    printf("child: %s\n", WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "exited 0"
                          : WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM
                              ? "hung in its send"
                              : "failed");
}

/* dontwait and cancel: the main thread's sends beside the writer (whose
 * thread is pthread_t writer_thread, cancelled already in cancel mode),
 * then the server end reads what there is. */
static void send_beside_blocked_writer(int server, pthread_t writer_thread, bool cancel)
{
    alarm(5);
    long t0 = now_ms();
    ssize_t r = send(client, "x", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
    int err = errno;
    long waited = now_ms() - t0;
    report("send(MSG_DONTWAIT)", r, err);
    printf("send(MSG_DONTWAIT) waited: %s\n", waited < 1000 ? "no" : "yes");

    long got = drain(server);
    if (cancel) {
        r = send(client, "y", 1, MSG_NOSIGNAL);
        report("send(after the cancelled write)", r, errno);
        got += drain(server);
    } else {
        while (got < BODY_CHUNK) {
            char buf[65536];
            ssize_t n = recv(server, buf, sizeof buf, 0);
            if (n <= 0)
                fail("server end read");
            got += n;
        }
        void *res;
        pthread_join(writer_thread, &res);
        printf("writer: wrote %s\n", (long)res == BODY_CHUNK ? "all" : "part");
    }
}

/* handler-exit: the exit, from a handler that interrupts the main
 * thread's blocked write. */
static void exit_now(int sig)
{
    (void)sig;
    exit(7);
}

static pthread_t main_thread;

/* handler-exit: SIGALRM to the main thread once it is blocked. */
static void *interrupter(void *arg)
{
    (void)arg;
    WAIT_UNTIL_BLOCKED(writer_tid, send_calls, "writer");
    pthread_kill(main_thread, SIGALRM);
    return NULL;
}

/* The modes that end the process beside a blocked send (see the header). */
static void end_beside_a_blocked_send(const char *mode, int server)
{
    pthread_t t;
    if (strcmp(mode, "serve-term") == 0 || strcmp(mode, "serve-term-head") == 0) {
        static const char get[] = "GET /download HTTP/1.1\r\nHost: probe\r\n\r\n";
        if (write(client, get, sizeof get - 1) != (ssize_t)(sizeof get - 1))
            fail("the request");
        char head[1024]; /* with the shim's lines, under the shim */
        size_t got = 0;
        while (!memmem(head, got, "\r\n\r\n", 4)) {
            ssize_t n = read(server, head + got, sizeof head - got);
            if (n <= 0)
                fail("the request head");
            got += (size_t)n;
        }
        client = server; /* the responder writes on the server end */
        if (pthread_create(&t, NULL,
                           strcmp(mode, "serve-term") == 0 ? head_and_body_writer
                                                           : head_then_body_writer,
                           "HTTP/1.1 200 OK\r\nContent-Length: %ld\r\n\r\n") != 0)
            fail("pthread_create");
        WAIT_UNTIL_BLOCKED(writer_tid, send_calls, "responder");
        printf("responder: blocked\n");
        for (;;)
            pause();
    }
    if (strcmp(mode, "handler-exit") == 0) {
        send_upload_head(client);
        signal(SIGALRM, exit_now);
        main_thread = pthread_self();
        if (pthread_create(&t, NULL, interrupter, NULL) != 0)
            fail("pthread_create");
        writer(NULL);
        fail("the write came back");
    }
    if (strcmp(mode, "exit") == 0)
        send_upload_head(client);
    static const char post[] =
        "POST /upload HTTP/1.1\r\nHost: probe\r\nContent-Length: %ld\r\n\r\n";
    if (pthread_create(&t, NULL, strcmp(mode, "exit") == 0 ? writer : head_and_body_writer,
                       (void *)post) != 0)
        fail("pthread_create");
    WAIT_UNTIL_BLOCKED(writer_tid, send_calls, "writer");
    printf("writer: blocked\n");
    exit(7);
}

int main(int argc, char **argv)
{
    static const char *const ends[] = {"exit", "exit-head", "handler-exit", "serve-term",
                                       "serve-term-head"};
    bool end = false;
    for (size_t i = 0; argc == 2 && i < sizeof ends / sizeof *ends; i++)
        end |= strcmp(argv[1], ends[i]) == 0;
    if (argc != 2 || (strcmp(argv[1], "dontwait") != 0 && strcmp(argv[1], "cancel") != 0 &&
                      strcmp(argv[1], "fork") != 0 && !end)) {
        fprintf(stderr, "usage: send_lock_probe dontwait|cancel|fork|exit|exit-head|"
                        "handler-exit|serve-term|serve-term-head\n");
        return 2;
    }
    bool cancel = strcmp(argv[1], "cancel") == 0;
    setvbuf(stdout, NULL, _IOLBF, 0);
    alarm(20); /* the whole run, whatever happens */

    int port;
    int listener = listen_loopback(1, &port);
    int server;
    connect_to_itself(listener, port, &client, &server);
    if (end)
        end_beside_a_blocked_send(argv[1], server);
    send_upload_head(client);

    pthread_t t, r_t, m_t;
    if (pthread_create(&t, NULL, writer, NULL) != 0 ||
        (cancel && (pthread_create(&r_t, NULL, reader, NULL) != 0 ||
                    pthread_create(&m_t, NULL, mmsg_reader, NULL) != 0)))
        fail("pthread_create");
    WAIT_UNTIL_BLOCKED(writer_tid, send_calls, "writer");
    if (cancel) {
        WAIT_UNTIL_BLOCKED(reader_tid, receive_calls, "reader");
        WAIT_UNTIL_BLOCKED(mmsg_reader_tid, receive_calls, "recvmmsg reader");
    }

    if (cancel) {
        void *res;
        pthread_cancel(t);
        pthread_join(t, &res);
        printf("writer: %s\n", res == PTHREAD_CANCELED ? "cancelled" : "finished");
        pthread_cancel(r_t);
        pthread_join(r_t, &res);
        printf("reader: %s\n", res == PTHREAD_CANCELED ? "cancelled" : "finished");
        pthread_cancel(m_t);
        pthread_join(m_t, &res);
        printf("recvmmsg reader: %s\n", res == PTHREAD_CANCELED ? "cancelled" : "finished");
    }

    if (strcmp(argv[1], "fork") == 0) {
        alarm(15);
        fork_beside_blocked_writer(server, t);
    } else {
        send_beside_blocked_writer(server, t, cancel);
    }
    alarm(0);
    close(client);
    close(server);
    close(listener);
    printf("done\n");
    return 0;
}
