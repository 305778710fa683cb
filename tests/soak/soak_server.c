/* soak_server.c — see soak_server.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* accept4 */
#endif
#include "soak_server.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "soak_http.h"

static volatile sig_atomic_t stop_requested;
static pthread_mutex_t live_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t live_cond = PTHREAD_COND_INITIALIZER;
static int live_threads;
static unsigned long accepted_total;
static void (*conn_handler)(int fd);

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* A connection's thread: the fd travels in the argument itself, so that
 * nothing is allocated per connection that could be lost. */
static void *conn_thread(void *arg)
{
    conn_handler((int)(intptr_t)arg);
    pthread_mutex_lock(&live_mu);
    live_threads--;
    pthread_cond_broadcast(&live_cond);
    pthread_mutex_unlock(&live_mu);
    return NULL;
}

unsigned long soak_served_connections(void)
{
    pthread_mutex_lock(&live_mu);
    unsigned long n = accepted_total;
    pthread_mutex_unlock(&live_mu);
    return n;
}

int soak_serve(int listen_fd, void (*handle)(int fd), int drain_ms)
{
    conn_handler = handle;
    /* No SA_RESTART: the loop polls with a timeout anyway, so the flag is
     * seen within 100 ms whatever the signal interrupts. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    while (!stop_requested) {
        struct pollfd p = {.fd = listen_fd, .events = POLLIN};
        int r = poll(&p, 1, 100);
        if (r <= 0)
            continue;
        int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EAGAIN)
                continue;
            perror("accept4");
            break;
        }
        soak_no_delay(fd);
        pthread_mutex_lock(&live_mu);
        live_threads++;
        accepted_total++;
        pthread_mutex_unlock(&live_mu);
        pthread_t t;
        if (pthread_create(&t, &attr, conn_thread, (void *)(intptr_t)fd) != 0) {
            perror("pthread_create");
            close(fd);
            pthread_mutex_lock(&live_mu);
            live_threads--;
            pthread_mutex_unlock(&live_mu);
        }
    }
    pthread_attr_destroy(&attr);
    close(listen_fd);

    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += drain_ms / 1000;
    deadline.tv_nsec += (long)(drain_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&live_mu);
    while (live_threads > 0 && pthread_cond_timedwait(&live_cond, &live_mu, &deadline) != ETIMEDOUT)
        ;
    int left = live_threads;
    pthread_mutex_unlock(&live_mu);
    return left;
}
