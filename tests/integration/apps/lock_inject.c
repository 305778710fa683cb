/* lock_inject.c — a test library, preloaded after libtraceshim.so, that
 * turns rare interleavings around the shim's locks into things that happen
 * every time (test_hostile.py). It interposes pthread_mutex_lock,
 * pthread_mutex_trylock and pthread_mutex_timedlock; only the shim's own
 * mutexes go through these symbols in the probes (glibc's are internal).
 *
 * TS_INJECT_MODE=signal: after a successful lock on the process's main
 *   thread, when the program has a SIGALRM handler and SIGALRM is not
 *   blocked (not inside that handler already), raise SIGALRM: its handler
 *   runs right there, with the lock held. A hook the handler enters while
 *   the interrupted code is inside the shim must pass straight to the C
 *   library; a lock the shim took outside its reentrancy guard would make
 *   the handler's own traced calls wait for it forever.
 *   TS_INJECT_EVERY=N (default 1): every N-th eligible lock.
 * TS_INJECT_MODE=hold: after a successful lock on any other thread, sleep
 *   TS_INJECT_HOLD_US microseconds (default 200) with it held, so that a
 *   fork from the main thread finds the shim's locks held by threads that
 *   do not exist in the child: the child must not need them as they are. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

typedef int (*lock_fn)(pthread_mutex_t *);
typedef int (*timedlock_fn)(pthread_mutex_t *, const struct timespec *);

static lock_fn real_lock, real_trylock;
static timedlock_fn real_timedlock;
static enum { MODE_NONE, MODE_SIGNAL, MODE_HOLD } mode;
static unsigned long every = 1;
static long hold_us = 200;
static unsigned long eligible;

__attribute__((constructor)) static void inject_init(void)
{
    real_lock = (lock_fn)dlsym(RTLD_NEXT, "pthread_mutex_lock");
    real_trylock = (lock_fn)dlsym(RTLD_NEXT, "pthread_mutex_trylock");
    real_timedlock = (timedlock_fn)dlsym(RTLD_NEXT, "pthread_mutex_timedlock");
    const char *m = getenv("TS_INJECT_MODE");
    mode = !m                         ? MODE_NONE
           : strcmp(m, "signal") == 0 ? MODE_SIGNAL
           : strcmp(m, "hold") == 0   ? MODE_HOLD
                                      : MODE_NONE;
    const char *e = getenv("TS_INJECT_EVERY");
    if (e && atol(e) > 0)
        every = (unsigned long)atol(e);
    const char *h = getenv("TS_INJECT_HOLD_US");
    if (h && atol(h) > 0)
        hold_us = atol(h);
}

static void raise_in_lock(void)
{
    if (syscall(SYS_gettid) != getpid())
        return; /* the main thread only: the probe's handler is meant for it */
    struct sigaction sa;
    if (sigaction(SIGALRM, NULL, &sa) != 0 || sa.sa_handler == SIG_DFL || sa.sa_handler == SIG_IGN)
        return; /* raising it would end the process */
    sigset_t cur;
    if (pthread_sigmask(SIG_BLOCK, NULL, &cur) != 0 || sigismember(&cur, SIGALRM))
        return; /* inside the handler already: it would only run after it */
    if (++eligible % every != 0)
        return;
    raise(SIGALRM); /* the handler runs before raise returns */
}

static void hold_lock(void)
{
    if (syscall(SYS_gettid) == getpid())
        return; /* the main thread forks: the others hold */
    struct timespec t = {0, hold_us * 1000};
    nanosleep(&t, NULL);
}

/* After a lock was taken. */
static void locked(void)
{
    if (mode == MODE_SIGNAL)
        raise_in_lock();
    else if (mode == MODE_HOLD)
        hold_lock();
}

int pthread_mutex_lock(pthread_mutex_t *m)
{
    if (!real_lock)
        inject_init();
    int r = real_lock(m);
    if (r == 0)
        locked();
    return r;
}

int pthread_mutex_trylock(pthread_mutex_t *m)
{
    if (!real_trylock)
        inject_init();
    int r = real_trylock(m);
    if (r == 0)
        locked();
    return r;
}

int pthread_mutex_timedlock(pthread_mutex_t *m, const struct timespec *deadline)
{
    if (!real_timedlock)
        inject_init();
    int r = real_timedlock(m, deadline);
    if (r == 0)
        locked();
    return r;
}
