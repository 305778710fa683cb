/* thread_hooks.c — the moments after which a thread of the program could
 * be cancelled: it creates a thread, or asks for a cancellation. From
 * then on the hooks pass every call through glibc, whose cancellation
 * points the program may be counting on (preload/direct.h says why they
 * were skipped until then).
 *
 * Each is noted before the real call: the thread that calls it is not in a
 * system call, and so when the first thread of the program starts, no
 * thread is inside a call made without glibc. The shim's own reporter
 * thread (ts_thread_create_own) does not count.
 *
 * Whether the program has threads of its own is kept too: a close_range
 * that unshares the fd table closes nothing other threads see. And a
 * thread created by one whose fd table is its own shares that table: it
 * starts with its creator's own numbers (preload/fdtable.h). */
#include <pthread.h>
#include <stdlib.h>
#include <threads.h>

#include "../preload/direct.h"
#include "../preload/fdtable.h"
#include "../preload/init.h"
#include "../preload/real.h"
#include "thread_hooks.h"

static bool made_threads;

bool ts_program_made_threads(void)
{
    return __atomic_load_n(&made_threads, __ATOMIC_RELAXED);
}

/* The program is about to have a thread of its own. */
static void program_thread_coming(void)
{
    __atomic_store_n(&made_threads, true, __ATOMIC_RELAXED);
    ts_direct_end();
}

/* A thread created by one whose fd table is its own: where it starts,
 * and the numbers of that table it inherits (fdtable.h). */
struct unshared_start {
    union {
        void *(*posix)(void *);
        thrd_start_t c11;
    } start;
    void *arg;
    unsigned first, last;
};

/* The start's copy, made by the creator (malloc), NULL when the creator's
 * table is the shared one or there is no memory for it (the thread then
 * starts as any other, its numbers taken for the shared table's). */
static struct unshared_start *unshared_start(void *arg)
{
    if (__builtin_expect(!ts_fd_unshared_here, 1))
        return NULL;
    struct unshared_start *u = malloc(sizeof *u);
    if (u) {
        u->arg = arg;
        u->first = ts_fd_unshared_first;
        u->last = ts_fd_unshared_last;
    }
    return u;
}

/* In the new thread: its creator's own numbers are its own. */
static void *unshared_begins(struct unshared_start *u)
{
    ts_fd_unshared_first = u->first;
    ts_fd_unshared_last = u->last;
    ts_fd_unshared_here = true;
    void *arg = u->arg;
    return arg;
}

static void *start_unshared(void *p)
{
    struct unshared_start *u = p;
    void *(*start)(void *) = u->start.posix;
    void *arg = unshared_begins(u);
    free(u);
    return start(arg);
}

static int start_unshared_c11(void *p)
{
    struct unshared_start *u = p;
    thrd_start_t start = u->start.c11;
    void *arg = unshared_begins(u);
    free(u);
    return start(arg);
}

TS_EXPORT int pthread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*start)(void *),
                             void *arg)
{
    if (ts_thread_creating_own()) /* the shim's reporter: it leaves any table */
        return TS_REAL(pthread_create)(thread, attr, start, arg);
    program_thread_coming();
    struct unshared_start *u = unshared_start(arg);
    if (!u)
        return TS_REAL(pthread_create)(thread, attr, start, arg);
    u->start.posix = start;
    int r = TS_REAL(pthread_create)(thread, attr, start_unshared, u);
    if (r != 0)
        free(u);
    return r;
}

/* C11 threads: glibc's thrd_create does not go through pthread_create's
 * symbol. */
TS_EXPORT int thrd_create(thrd_t *thread, thrd_start_t start, void *arg)
{
    program_thread_coming();
    struct unshared_start *u = unshared_start(arg);
    if (!u)
        return TS_REAL(thrd_create)(thread, start, arg);
    u->start.c11 = start;
    int r = TS_REAL(thrd_create)(thread, start_unshared_c11, u);
    if (r != thrd_success)
        free(u);
    return r;
}

/* A single-threaded program may cancel itself: its next cancellation
 * point must act on it. */
TS_EXPORT int pthread_cancel(pthread_t thread)
{
    ts_direct_end();
    return TS_REAL(pthread_cancel)(thread);
}
