/* first_span_in_handler.c — the process's first span begun inside a
 * signal handler that interrupted malloc, for test_hostile.py. The shim
 * starts its reporter thread as the first span to be exported begins, at
 * the hook's end; pthread_create allocates, and must not run where the
 * handler interrupted the allocator.
 *
 *   first_span_in_handler send PORT [thread|nodefer|sysv]
 *       SIGALRM every 300 µs while the main thread allocates and frees
 *       without end; the first handler that runs opens a connection to
 *       PORT and writes a GET there (socket, connect, write: all
 *       async-signal-safe). The main thread then stops the timer and reads
 *       the response, outside the handler. "thread": one idle thread of
 *       the program's own first (glibc's malloc then takes its locks);
 *       "nodefer": the handler installed with SA_NODEFER (its signal is
 *       not blocked while it runs); "sysv": with sysv_signal, as signal
 *       is in a program built for strict ISO C (SA_RESETHAND | SA_NODEFER:
 *       the handler installs itself again); both with one signal only.
 *   first_span_in_handler other-thread UPLOAD_PORT LOG_PORT
 *       a thread begins the first span, a POST whose body UPLOAD_PORT
 *       never reads, and blocks in that send; meanwhile the main thread
 *       allocates without end, and its SIGALRM handler writes a line to a
 *       connection to LOG_PORT (a traced socket, no HTTP).
 *
 * Output "ok", "done"; exit status 0, or 2 with a line on stderr. A hang
 * or a crash is the bug. */
#define _GNU_SOURCE
#include "probe.h"

#include <pthread.h>
#include <stdbool.h>

static int target_port;
static int handler_sock = -1;
static int log_sock = -1;
static volatile sig_atomic_t handler_done;
static int handler_claimed; /* atomic: one handler does the work, nested ones return */
static bool sysv_style;

/* Allocates and frees blocks of many sizes until the handler has done its
 * work, and a while after (the signals keep coming meanwhile). */
static void allocate_until_handled(void)
{
    void *kept[64] = {0};
    unsigned r = 1;
    for (long i = 0; !handler_done || i % 100000; i++) {
        r = r * 1103515245u + 12345u;
        unsigned k = (r >> 8) % 64;
        free(kept[k]);
        kept[k] = malloc(2048 + (r >> 16) % 60000);
    }
    for (unsigned k = 0; k < 64; k++)
        free(kept[k]);
}

static void send_get_once(int sig)
{
    int saved = errno;
    if (sysv_style)
        sysv_signal(sig, send_get_once);
    if (__atomic_exchange_n(&handler_claimed, 1, __ATOMIC_SEQ_CST)) {
        errno = saved;
        return;
    }
    int fd = connect_loopback(target_port, 0);
    static const char req[] = "GET /from-the-handler HTTP/1.1\r\nHost: probe\r\n\r\n";
    if (fd < 0 || write(fd, req, sizeof req - 1) != (ssize_t)(sizeof req - 1))
        _exit(3);
    handler_sock = fd;
    handler_done = 1;
    errno = saved;
}

static void log_line_once(int sig)
{
    (void)sig;
    if (handler_done)
        return;
    int saved = errno;
    static const char line[] = "tick\n";
    if (write(log_sock, line, sizeof line - 1) != (ssize_t)(sizeof line - 1))
        _exit(3);
    handler_done = 1;
    errno = saved;
}

static void *idle(void *arg)
{
    (void)arg;
    for (;;)
        pause();
    return NULL;
}

static void *upload(void *arg)
{
    int fd = connect_loopback((int)(long)arg, 0);
    if (fd < 0)
        fail("connect for the upload");
    size_t body = (size_t)8 << 20;
    char *req = malloc(body + 128);
    if (!req)
        fail("malloc");
    int head = snprintf(
        req, 128, "POST /upload HTTP/1.1\r\nHost: probe\r\nContent-Length: %zu\r\n\r\n", body);
    memset(req + head, 'x', body);
    (void)!send(fd, req, (size_t)head + body, 0); /* blocks: the peer never reads */
    return NULL;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    probe_name = "first_span_in_handler";
    if (argc >= 3 && strcmp(argv[1], "send") == 0) {
        target_port = atoi(argv[2]);
        pthread_t t;
        sigset_t all, before;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &before); /* the idle thread takes no SIGALRM */
        if (argc > 3 && strcmp(argv[3], "thread") == 0 && pthread_create(&t, NULL, idle, NULL) != 0)
            fail("pthread_create");
        pthread_sigmask(SIG_SETMASK, &before, NULL);
        const char *how = argc > 3 ? argv[3] : "";
        if (strcmp(how, "nodefer") == 0 || strcmp(how, "sysv") == 0) {
            sysv_style = strcmp(how, "sysv") == 0;
            if (sysv_style) {
                sysv_signal(SIGALRM, send_get_once);
            } else {
                struct sigaction sa = {.sa_handler = send_get_once, .sa_flags = SA_NODEFER};
                sigemptyset(&sa.sa_mask);
                if (sigaction(SIGALRM, &sa, NULL) != 0)
                    fail("sigaction");
            }
            /* One signal: a second one between a SysV handler's reset and
             * its own install again would end the process by default. */
            struct itimerval it = {{0, 0}, {0, 300}};
            if (setitimer(ITIMER_REAL, &it, NULL) != 0)
                fail("setitimer");
        } else {
            alarm_every(send_get_once, 300);
        }
        allocate_until_handled();
        alarm_stop();
        char resp[512];
        int status = http_status(recv_response(handler_sock, resp, sizeof resp) > 0 ? resp : "");
        if (status != 200)
            fail("the handler's GET: status %d", status);
    } else if (argc == 4 && strcmp(argv[1], "other-thread") == 0) {
        log_sock = connect_loopback(atoi(argv[3]), 0);
        if (log_sock < 0)
            fail("connect to the log");
        pthread_t t;
        sigset_t all, before;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &before); /* the upload thread takes no SIGALRM */
        if (pthread_create(&t, NULL, upload, (void *)(long)atoi(argv[2])) != 0)
            fail("pthread_create");
        pthread_sigmask(SIG_SETMASK, &before, NULL);
        sleep_ms(200); /* the upload has begun its span, and blocks */
        alarm_every(log_line_once, 300);
        allocate_until_handled();
        alarm_stop();
    } else {
        fail("usage: first_span_in_handler send PORT [thread|nodefer|sysv] | other-thread "
             "UPLOAD_PORT "
             "LOG_PORT");
    }
    printf("ok\ndone\n");
    _exit(0); /* (the upload thread still blocks) */
}
