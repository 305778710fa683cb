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

#include "deepbind.h"
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

/* name as dlsym finds it from the loaded object at path (in it and its
 * own dependencies); NULL when that object is not one dlopen knows by
 * that path (the program itself, by argv[0]) or none defines it. */
static void *symbol_from(const char *path, const char *name)
{
    void *h = ts_real_dlopen(path, RTLD_NOLOAD | RTLD_LAZY); /* mapped already: never loads */
    if (!h)
        return NULL;
    void *p = dlsym(h, name);
    dlclose(h); /* NOLOAD took a reference; its owner keeps the object mapped */
    return p;
}

/* name in the loaded objects whose file names start with prefix, in load
 * order, ours excepted; NULL when none defines it. */
static void *search_loaded(const char *prefix, const char *name)
{
    for (int skip = 0;; skip++) {
        struct search s = {prefix, skip, ""};
        if (!dl_iterate_phdr(search_object, &s))
            return NULL;
        void *p = symbol_from(s.path, name);
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

/* Where the hook running on this thread was called from (real_tls.h). */
static __thread const void *tls_call_site __attribute__((tls_model("initial-exec")));

const void *ts_real_tls_called_from(const void *site)
{
    const void *before = tls_call_site;
    tls_call_site = site;
    return before;
}

/* name as found from the object holding site (symbol_from); *object is
 * that object's base address. */
static void *symbol_from_site(const void *site, const char *name, const void **object)
{
    Dl_info info;
    if (!site || !dladdr(site, &info) || !info.dli_fname || !info.dli_fname[0])
        return NULL;
    *object = info.dli_fbase;
    return symbol_from(info.dli_fname, name);
}

bool ts_real_tls_called_by_a_definer(const char *name)
{
    const void *object = NULL;
    void *p = symbol_from_site(tls_call_site, name, &object);
    Dl_info def;
    return p && dladdr(p, &def) && def.dli_fbase == object;
}

/* name in the object holding site and its own dependencies: what a module
 * brought in with RTLD_LOCAL binds when the global scope has no
 * definition (Python's _ssl and its libssl, a database driver and the
 * libssl it bundles). NULL when that answer is ours, or there is none. */
static void *site_definition(const void *site, const char *name)
{
    const void *object;
    void *p = symbol_from_site(site, name, &object);
    return p && !ts_self_holds(p) ? p : NULL;
}

/* One real function. The loader binds a call from the global scope first
 * (the program, its libraries, the preloaded ones after the shim) and only
 * then from the caller's own: where the global scope defines the name,
 * that is every caller's answer (RTLD_NEXT, so that an interposer preloaded
 * after the shim stays in the chain). Where it does not, the library came
 * with RTLD_LOCAL, maybe twice (two modules, each with its own copy, which
 * the shim's hook, first in the global scope, both receives): each call
 * site then gets what its own object binds, kept in a small table, and
 * past the table's room the process-wide search's answer, as before. */
#define TLS_SITES 32
#define TLS_NOT_GLOBAL ((void *)1) /* the global scope has no definition */
struct tls_real {
    _Atomic(void *) next;                   /* dlsym(RTLD_NEXT), or TLS_NOT_GLOBAL */
    _Atomic(void *) search;                 /* the process-wide search's answer */
    _Atomic(const void *) claim[TLS_SITES]; /* the site a slot is taken for */
    _Atomic(const void *) site[TLS_SITES];  /* the same, once fn[i] is there */
    void *fn[TLS_SITES];
};

static void *tls_search(struct tls_real *r, enum ts_tls_lib lib, const char *name)
{
    void *f = atomic_load_explicit(&r->search, memory_order_acquire);
    if (!f) {
        f = tls_lookup(lib, name);
        atomic_store_explicit(&r->search, f, memory_order_release);
    }
    return f;
}

static void *tls_resolve(struct tls_real *r, enum ts_tls_lib lib, const char *name)
{
    void *next = atomic_load_explicit(&r->next, memory_order_acquire);
    if (!next) {
        next = dlsym(RTLD_NEXT, name);
        if (!next || ts_self_holds(next))
            next = TLS_NOT_GLOBAL;
        atomic_store_explicit(&r->next, next, memory_order_release);
    }
    if (next != TLS_NOT_GLOBAL)
        return next;
    const void *site = tls_call_site;
    if (!site)
        return tls_search(r, lib, name);
    int i = 0;
    for (; i < TLS_SITES; i++) {
        const void *claimed = atomic_load_explicit(&r->claim[i], memory_order_acquire);
        if (!claimed)
            break;
        /* (a slot claimed and never filled, by a fork's child, is passed) */
        if (claimed == site && atomic_load_explicit(&r->site[i], memory_order_acquire) == site)
            return r->fn[i];
    }
    if (i == TLS_SITES)
        return tls_search(r, lib, name); /* no room left: the process-wide answer */
    /* First call from this site: once per site and name. A library made
     * global since (dlopen RTLD_GLOBAL) is what the loader binds a new
     * site to, global scope first; a site answered before keeps its
     * answer, as the loader never binds a call again (a module's own
     * libssl copy stays its own: its SSL objects are that copy's). A slot
     * is claimed without a lock (a fork may come at any moment); two
     * threads that find one site at once may each fill a slot, with the
     * same answer. */
    void *f = dlsym(RTLD_NEXT, name);
    if (!f || ts_self_holds(f))
        f = site_definition(site, name);
    if (!f)
        f = tls_search(r, lib, name);
    for (; i < TLS_SITES; i++) {
        const void *free_slot = NULL;
        if (atomic_compare_exchange_strong(&r->claim[i], &free_slot, site)) {
            r->fn[i] = f;
            atomic_store_explicit(&r->site[i], site, memory_order_release);
            break;
        }
    }
    return f;
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

/* Each symbol: resolved once per call site (racing threads find the same). */
#define TS_REAL_TLS_DEFINE(lib, name, ret, params)                                                 \
    static struct tls_real real_##name;                                                            \
    ts_real_##name##_fn ts_real_tls_##name(void)                                                   \
    {                                                                                              \
        return (ts_real_##name##_fn)tls_resolve(&real_##name, lib, #name);                         \
    }
TS_REAL_TLS_SYMBOLS(TS_REAL_TLS_DEFINE)
#undef TS_REAL_TLS_DEFINE
