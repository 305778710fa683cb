/* direct.c — whether the hooks may make the program's system calls
 * themselves (see direct.h), and the shim's own thread created apart. */
#include "direct.h"

#include <dlfcn.h>
#include <gnu/libc-version.h>
#include <stddef.h>

#include "loaded_objects.h"
#include "start_state.h"

bool ts_direct_allowed TS_START_STATE;
static bool direct_ended TS_START_STATE; /* sticky: the program created or cancelled a thread */
static __thread bool creating_own_thread;

void ts_direct_begin(void)
{
    if (!TS_DIRECT_AVAILABLE)
        return;
#define TS_DIRECT_REAL_(name) (const void *)TS_REAL(name),
    const void *stand_for[] = {TS_DIRECT_STANDS_FOR(TS_DIRECT_REAL_)};
#undef TS_DIRECT_REAL_
    /* Each in the object of glibc's own gnu_get_libc_version: else another
     * interposer comes after the shim, and it sees every call. */
    if (!ts_object_holds_all((const void *)gnu_get_libc_version, stand_for,
                             sizeof stand_for / sizeof stand_for[0]))
        return;
    /* Allowed, then the end looked at again: a thread created meanwhile
     * (ts_direct_end sets the end first) leaves it off either way. */
    __atomic_store_n(&ts_direct_allowed, true, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&direct_ended, __ATOMIC_SEQ_CST))
        __atomic_store_n(&ts_direct_allowed, false, __ATOMIC_SEQ_CST);
}

void ts_direct_end(void)
{
    /* Stored only when it changes something: every pthread_create comes
     * here, and ts_direct_allowed is read by every call. A store skipped
     * because the end was already set is one ts_direct_begin has seen or
     * will see (it looks at the end after setting the switch). */
    if (!__atomic_load_n(&direct_ended, __ATOMIC_SEQ_CST))
        __atomic_store_n(&direct_ended, true, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&ts_direct_allowed, __ATOMIC_SEQ_CST))
        __atomic_store_n(&ts_direct_allowed, false, __ATOMIC_SEQ_CST);
}

/* glibc's count of the threads that keep the process alive: when it
 * reaches zero, as the program's last thread ends (the main thread by
 * pthread_exit, the others as they return), glibc calls exit(0). A
 * private symbol, found by its version; NULL where there is none (another
 * C library), and the shim's threads then count. */
static unsigned *glibc_thread_count(void)
{
    static unsigned *count;
    static bool looked;
    if (!__atomic_load_n(&looked, __ATOMIC_ACQUIRE)) {
        __atomic_store_n(&count, dlvsym(RTLD_DEFAULT, "__nptl_nthreads", "GLIBC_PRIVATE"),
                         __ATOMIC_RELAXED);
        __atomic_store_n(&looked, true, __ATOMIC_RELEASE);
    }
    return __atomic_load_n(&count, __ATOMIC_RELAXED);
}

int ts_thread_create_own(pthread_t *thread, const pthread_attr_t *attr, void *(*start)(void *),
                         void *arg)
{
    static ts_real_pthread_create_fn create;
    ts_real_pthread_create_fn fn = __atomic_load_n(&create, __ATOMIC_ACQUIRE);
    if (!fn) {
        fn = (ts_real_pthread_create_fn)dlsym(RTLD_DEFAULT, "pthread_create");
        if (!fn)
            fn = TS_REAL(pthread_create);
        __atomic_store_n(&create, fn, __ATOMIC_RELEASE);
    }
    creating_own_thread = true;
    int rc = fn(thread, attr, start, arg);
    creating_own_thread = false;
    /* The new thread never ends, and must not keep the process alive
     * after the program's last thread: left out of glibc's count. The
     * caller, a thread of the program that runs, is still in it, so the
     * count cannot reach zero here. */
    unsigned *count = rc == 0 ? glibc_thread_count() : NULL;
    if (count && __atomic_load_n(count, __ATOMIC_SEQ_CST) >= 2)
        __atomic_fetch_sub(count, 1, __ATOMIC_SEQ_CST);
    return rc;
}

bool ts_thread_creating_own(void)
{
    return creating_own_thread;
}
