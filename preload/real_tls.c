/* real_tls.c — finds the real TLS library functions on first use, without
 * ever loading a library (see real_tls.h). */
#include "real_tls.h"

#include <dlfcn.h>
#include <link.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "real.h"
#include "self_image.h"

/* The file names each library goes by, any version. */
static const char *const lib_prefix[] = {"libssl.so", "libgnutls.so"};

struct search {
    const char *prefix; /* of the file's name; "" for any */
    int skip;           /* matching objects to pass over */
    char path[4096];
};

/* One loaded object: is it the next one to try? Only its path is kept:
 * opening it here, under the loader's lock, is not allowed. */
static int search_object(struct dl_phdr_info *info, size_t size, void *arg)
{
    struct search *s = arg;
    const char *path = info->dlpi_name;
    const char *base = path ? strrchr(path, '/') : NULL;
    base = base ? base + 1 : path;
    if (!base || !*base || strncmp(base, s->prefix, strlen(s->prefix)) != 0 ||
        strlen(path) >= sizeof s->path || s->skip-- > 0)
        return 0;
    strcpy(s->path, path);
    return 1;
}

/* name in the loaded objects whose file names start with prefix, in load
 * order, ours excepted; NULL when none defines it. */
static void *search_loaded(const char *prefix, const char *name)
{
    for (int skip = 0;; skip++) {
        struct search s = {prefix, skip, ""};
        if (!dl_iterate_phdr(search_object, &s))
            return NULL;
        void *h = dlopen(s.path, RTLD_NOLOAD | RTLD_LAZY); /* mapped already: never loads */
        if (!h)
            continue;
        void *p = dlsym(h, name);
        dlclose(h); /* NOLOAD took a reference; its owner keeps the object mapped */
        if (p && !ts_self_holds(p))
            return p;
    }
}

/* The library's definition of name, or NULL when it is not mapped: the
 * next in the global scope; else the library itself, loaded where RTLD_NEXT
 * does not look (RTLD_LOCAL); else any object that defines it (a library
 * with its own copy of OpenSSL). */
static void *tls_lookup(enum ts_tls_lib lib, const char *name)
{
    void *p = dlsym(RTLD_NEXT, name);
    if (p && !ts_self_holds(p))
        return p;
    p = search_loaded(lib_prefix[lib], name);
    return p ? p : search_loaded("", name);
}

void *ts_real_tls_must(void *fn, const char *name)
{
    if (fn)
        return fn;
    static const char what[] = "no TLS library defines ";
    struct iovec iov[3] = {
        {(void *)what, sizeof what - 1},
        {(void *)name, strlen(name)},
        {(void *)"\n", 1},
    };
    ts_real_fatal(iov, 3);
}

/* Each symbol: a pointer resolved once (racing threads find the same). */
#define TS_REAL_TLS_DEFINE(lib, name, ret, params)                                                 \
    static _Atomic(ts_real_##name##_fn) real_##name;                                               \
    ts_real_##name##_fn ts_real_tls_##name(void)                                                   \
    {                                                                                              \
        ts_real_##name##_fn f = atomic_load_explicit(&real_##name, memory_order_acquire);          \
        if (!f) {                                                                                  \
            f = (ts_real_##name##_fn)tls_lookup(lib, #name);                                       \
            atomic_store_explicit(&real_##name, f, memory_order_release);                          \
        }                                                                                          \
        return f;                                                                                  \
    }
TS_REAL_TLS_SYMBOLS(TS_REAL_TLS_DEFINE)
#undef TS_REAL_TLS_DEFINE
