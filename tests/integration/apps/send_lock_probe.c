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
 *             writer and the readers, joins them, and sends one byte with MSG_DONTWAIT and, once the
 *             server end has read what there was, one byte blocking;
 *   fork      the main thread forks while the writer is blocked; the
 *             child sends one byte, blocking, and exits: the writer's
 *             thread is not in the child, and nothing it held may make
 *             the child's send wait for it.
 * Then the server end reads everything; the writer (dontwait) finishes.
 * Each step prints one line with its result; "done" ends a run. A step
 * that waits more than 5 s is cut short by SIGALRM (the probe dies of it):
 * the test tells that hang from a wrong answer. */
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

int main(int argc, char **argv)
{
    if (argc != 2 || (strcmp(argv[1], "dontwait") != 0 && strcmp(argv[1], "cancel") != 0 &&
                      strcmp(argv[1], "fork") != 0)) {
        fprintf(stderr, "usage: send_lock_probe dontwait|cancel|fork\n");
        return 2;
    }
    bool cancel = strcmp(argv[1], "cancel") == 0;
    setvbuf(stdout, NULL, _IOLBF, 0);
    alarm(20); /* the whole run, whatever happens */

    int port;
    int listener = listen_loopback(1, &port);
    int server;
    connect_to_itself(listener, port, &client, &server);
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
