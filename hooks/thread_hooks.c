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
 * that unshares the fd table closes nothing other threads see. */
#include <pthread.h>
#include <threads.h>

#include "../preload/direct.h"
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

TS_EXPORT int pthread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*start)(void *),
                             void *arg)
{
    if (!ts_thread_creating_own())
        program_thread_coming();
    return TS_REAL(pthread_create)(thread, attr, start, arg);
}

/* C11 threads: glibc's thrd_create does not go through pthread_create's
 * symbol. */
TS_EXPORT int thrd_create(thrd_t *thread, thrd_start_t start, void *arg)
{
    program_thread_coming();
    return TS_REAL(thrd_create)(thread, start, arg);
}

/* A single-threaded program may cancel itself: its next cancellation
 * point must act on it. */
TS_EXPORT int pthread_cancel(pthread_t thread)
{
    ts_direct_end();
    return TS_REAL(pthread_cancel)(thread);
}
