/* real.c — resolves the table of real libc symbols (see real.h). */
#include "real.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loaded_objects.h"
#include "next_symbol.h"
#include "self_image.h"
#include "start_state.h"

#define TS_REAL_DEFINE(name, ret, params) ts_real_##name##_fn ts_real_##name TS_START_STATE_PACKED;
TS_REAL_SYMBOLS(TS_REAL_DEFINE)
#undef TS_REAL_DEFINE

static pthread_once_t real_once TS_START_STATE = PTHREAD_ONCE_INIT;

void ts_real_fatal(const struct iovec *pieces, int n)
{
    /* the C library's writev, looked up here: the table may be what failed */
    ssize_t (*libc_writev)(int, const struct iovec *, int) =
        (ssize_t(*)(int, const struct iovec *, int))dlsym(RTLD_NEXT, "writev");
    static const char prefix[] = "traceshim: fatal: ";
    struct iovec all[8] = {{(void *)prefix, sizeof prefix - 1}};
    int count = 1;
    for (int i = 0; i < n && count < 8; i++)
        all[count++] = pieces[i];
    if (libc_writev)
        (void)!libc_writev(2, all, count);
    abort();
}

/* Say why we cannot go on. */
static void real_die(const char *what, const char *name)
{
    struct iovec iov[3] = {
        {(void *)what, strlen(what)},
        {(void *)name, strlen(name)},
        {(void *)"\n", 1},
    };
    ts_real_fatal(iov, 3);
}

/* The shim's own segments, read once for all the lookups of a process's
 * start. */
struct real_self {
    struct ts_self_segment seg[TS_SELF_SEGMENTS_MAX];
    unsigned n;
};

/* Look one symbol up in the libraries after us, in their symbol tables
 * when `next` lists them (next_symbol.h), else or when those do not settle
 * it through dlsym; and refuse our own hook. */
static void *real_lookup(const char *name, const struct real_self *self,
                         const struct ts_next_objects *next)
{
    void *p = next ? ts_next_symbol(next, name) : NULL;
    if (!p)
        p = dlsym(RTLD_NEXT, name);
    if (!p)
        real_die("libc has no symbol ", name);
    if (ts_self_segments_hold(self->seg, self->n, p))
        real_die("symbol resolves to the shim itself: ", name);
    return p;
}

bool ts_real_sends_are_libcs TS_START_STATE;

/* The objects after ours, when their tables answer as dlsym does
 * (next_symbol.h): the shim loaded before the C library, the loader's
 * usual rules (not LD_DYNAMIC_WEAK's), no auditor that may redirect
 * dlsym's answers (LD_AUDIT), and one answer checked against dlsym's (a
 * loader whose order or rules differ from the ones next_symbol.h follows).
 * NULL: dlsym for each. */
static const struct ts_next_objects *real_next_objects(struct ts_next_objects *next)
{
    if (getenv("LD_DYNAMIC_WEAK") || getenv("LD_AUDIT") ||
        !ts_next_objects_list(next, (const void *)real_next_objects,
                              (const void *)__errno_location))
        return NULL;
    void *mine = ts_next_symbol(next, "socket");
    return mine && mine == dlsym(RTLD_NEXT, "socket") ? next : NULL;
}

static void real_resolve_once(void)
{
    struct real_self self;
    unsigned n = ts_self_segments(self.seg, TS_SELF_SEGMENTS_MAX);
    self.n = n < TS_SELF_SEGMENTS_MAX ? n : TS_SELF_SEGMENTS_MAX;
    struct ts_next_objects objects;
    const struct ts_next_objects *next = real_next_objects(&objects);
#define TS_REAL_RESOLVE(name, ret, params)                                                         \
    ts_real_##name = (ts_real_##name##_fn)real_lookup(#name, &self, next);
    TS_REAL_SYMBOLS(TS_REAL_RESOLVE)
#undef TS_REAL_RESOLVE
    const void *const sends[] = {(void *)ts_real_write, (void *)ts_real_writev,
                                 (void *)ts_real_send, (void *)ts_real_sendto,
                                 (void *)ts_real_sendmsg};
    ts_real_sends_are_libcs =
        ts_object_holds_all((void *)__errno_location, sends, sizeof sends / sizeof sends[0]);
}

void ts_real_resolve(void)
{
    pthread_once(&real_once, real_resolve_once);
}
