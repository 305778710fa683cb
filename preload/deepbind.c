/* deepbind.c — the objects a dlopen with RTLD_DEEPBIND loaded, their
 * global offset tables bound back to the shim's hooks (see deepbind.h).
 *
 * The objects are told by deepbind_objects.h: the ones the call's handle
 * holds (it and its dependencies) were relocated by the call and stay
 * loaded while we hold the handle, and their scope is the handle's; any
 * other new object (opened by a constructor, or by another thread
 * meanwhile) is pinned first (a dlopen with RTLD_NOLOAD, which also waits
 * for a load under way on another thread to finish its relocations; about
 * 45,000 instructions with its dlclose), and only its filled slots are
 * judged. Every store is decided first (dlsym is a loader call) and made
 * after, under a lock of the shim's that no loader call runs under. */
#include "deepbind.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "deepbind_objects.h"
#include "fork_state.h"
#include "loaded_objects.h"
#include "log.h"
#include "next_symbol.h"
#include "real_tls.h"
#include "self_image.h"

void *(*ts_dlopen_next)(const char *, int);

/* dlsym(RTLD_NEXT) from here: the C library's dlopen (before glibc 2.34,
 * libdl's, which the library links). */
void *(*ts_dlopen_resolve(void))(const char *, int)
{
    void *(*next)(const char *, int) = __atomic_load_n(&ts_dlopen_next, __ATOMIC_ACQUIRE);
    if (!next) {
        next = (void *(*)(const char *, int))dlsym(RTLD_NEXT, "dlopen");
        if (!next)
            abort(); /* the program calls dlopen, so there is one */
        __atomic_store_n(&ts_dlopen_next, next, __ATOMIC_RELEASE);
    }
    return next;
}

void *ts_real_dlopen(const char *file, int flags)
{
    return ts_dlopen_resolve()(file, flags);
}

/* One object's program headers, copied out of a walk: found by its
 * dynamic section (a pinned link map's l_ld), or by holding an address. */
struct object_find {
    const void *dynamic; /* or NULL */
    uintptr_t holds;     /* or 0 */
    struct dl_phdr_info info;
    bool found;
};

static int find_object(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct object_find *f = arg;
    if (f->dynamic ? (const void *)ts_dynamic_of(info) != f->dynamic
                   : !ts_object_info_holds(info, f->holds))
        return 0;
    f->info = *info;
    f->found = true;
    return 1;
}

/* --- the shim's hooks */

/* A first look at a name: most names an object imports are no hook's
 * (PHP's extensions import hundreds of zend_ and php_ functions), and one
 * bit per pair of first letters tells most of those apart without the
 * hash a lookup in the shim's table computes over the whole name. */
#define PAIR_BITS 1024
static unsigned pair_of(const char *name)
{
    return ((unsigned)(unsigned char)name[0] * 31u + (unsigned char)name[1]) % PAIR_BITS;
}

/* What dlsym(RTLD_NEXT) from the shim answers for one hook's name: the
 * function the hook stands in front of. Asked once per name and call. */
struct next_answer {
    void *hook, *next;
};

struct binding {
    struct next_answer *nexts;
    size_t n_nexts, cap_nexts;
    unsigned long slots; /* slots bound back to a hook */
    int failed;          /* errno: a read-only part stayed so */
};

/* The shim's exported symbols (its hooks) and pair_of each: read once,
 * as the shim's own table never changes. */
static struct {
    struct ts_symbol_table table;
    uint64_t pairs[PAIR_BITS / 64];
    bool read;
} hooks;
static pthread_once_t hooks_once = PTHREAD_ONCE_INIT;

static void read_hooks(void)
{
    struct object_find f = {.holds = (uintptr_t)ts_dlopen_deepbind};
    dl_iterate_phdr(find_object, &f); /* the shim stays loaded: its headers too */
    if (!f.found || !ts_symbol_table_read(&f.info, &hooks.table))
        return;
    for (uint32_t i = hooks.table.gnu_hash[1], end = ts_symbol_table_hashed_end(&hooks.table);
         i < end; i++) {
        unsigned pair = pair_of(hooks.table.names + hooks.table.symbols[i].st_name);
        hooks.pairs[pair / 64] |= (uint64_t)1 << (pair % 64);
    }
    hooks.read = true;
}

static void *next_of(struct binding *b, void *hook, const char *name)
{
    for (size_t i = 0; i < b->n_nexts; i++)
        if (b->nexts[i].hook == hook)
            return b->nexts[i].next;
    void *next = dlsym(RTLD_NEXT, name); /* a name none defines: dlerror cleared later */
    if (ts_db_grow((void **)&b->nexts, &b->cap_nexts, b->n_nexts, sizeof *b->nexts))
        b->nexts[b->n_nexts++] = (struct next_answer){hook, next};
    return next;
}

/* The TLS hooks' names: where the global scope has no TLS library (a
 * module brought its libssl in with RTLD_LOCAL), those hooks call what
 * their call site's own object binds (real_tls.h), so a slot that holds
 * such a definition may hold the hook. */
static bool resolved_per_site(const char *name)
{
#define TS_DEEPBIND_TLS_NAME(lib, fn, ret, params) #fn,
    static const char *const names[] = {TS_REAL_TLS_SYMBOLS(TS_DEEPBIND_TLS_NAME)};
#undef TS_DEEPBIND_TLS_NAME
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strcmp(name, names[i]) == 0)
            return true;
    return false;
}

/* --- one object's slots */

/* The object's relocation tables, from its dynamic section. */
struct relocations {
    const ElfW(Rela) * plt, *other; /* DT_JMPREL, DT_RELA */
    size_t plt_n, other_n;
    const ElfW(Sym) * symbols;
    const char *names;
    uintptr_t relro_lo, relro_hi; /* the whole pages of PT_GNU_RELRO; lo == hi: none */
};

static bool read_relocations(const struct dl_phdr_info *info, struct relocations *r)
{
    memset(r, 0, sizeof *r);
    bool plt_is_rela = true;
    size_t plt_bytes = 0, other_bytes = 0;
    for (const ElfW(Dyn) *dyn = ts_dynamic_of(info); dyn && dyn->d_tag != DT_NULL; dyn++) {
        switch (dyn->d_tag) {
        case DT_JMPREL:
            r->plt = (const ElfW(Rela) *)ts_dyn_address(info, dyn->d_un.d_ptr);
            break;
        case DT_PLTRELSZ:
            plt_bytes = dyn->d_un.d_val;
            break;
        case DT_PLTREL:
            plt_is_rela = dyn->d_un.d_val == DT_RELA;
            break;
        case DT_RELA:
            r->other = (const ElfW(Rela) *)ts_dyn_address(info, dyn->d_un.d_ptr);
            break;
        case DT_RELASZ:
            other_bytes = dyn->d_un.d_val;
            break;
        case DT_SYMTAB:
            r->symbols = (const ElfW(Sym) *)ts_dyn_address(info, dyn->d_un.d_ptr);
            break;
        case DT_STRTAB:
            r->names = (const char *)ts_dyn_address(info, dyn->d_un.d_ptr);
            break;
        default:
            break;
        }
    }
    if (!plt_is_rela || !r->symbols || !r->names)
        return false; /* not the x86-64 form (REL): left alone */
    r->plt_n = r->plt ? plt_bytes / sizeof *r->plt : 0;
    r->other_n = r->other ? other_bytes / sizeof *r->other : 0;
    /* the pages the loader made read-only, as it rounds them: both ends
     * down (a last page shared with .data stays writable) */
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_GNU_RELRO) {
            uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
            r->relro_lo = lo & ~(page - 1);
            r->relro_hi = (lo + ph->p_memsz) & ~(page - 1);
        }
    }
    return true;
}

/* The hook a slot should hold, or NULL to leave it; *expect: what it
 * holds now. A function reference (JUMP_SLOT, GLOB_DAT) to a name the shim
 * exports, whose slot holds the very function the hook stands in front of
 * (what dlsym(RTLD_NEXT) from the shim answers; for a TLS hook's name the
 * global scope does not define, any definition but the shim's). So a
 * definition of the library's own or of another of its dependencies (what
 * RTLD_DEEPBIND is for) stays, and an object that binds through the global
 * scope holds the hook already. A slot the loader has not filled yet
 * (lazy binding: it still points into the object's own PLT) is judged by
 * what `scope` answers, given only for the objects the call's handle
 * holds, whose scope that is; in any other object the loader fills it
 * later from its own scope, which only it knows (a program that defines
 * send itself, an interposer preloaded before the shim). */
static void *hook_for(struct binding *b, const struct relocations *r, const ElfW(Rela) * rel,
                      const struct dl_phdr_info *info, void *scope, void **expect, void **fill)
{
    unsigned long type = ELF64_R_TYPE(rel->r_info);
    if (type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT)
        return NULL;
    const ElfW(Sym) *sym = &r->symbols[ELF64_R_SYM(rel->r_info)];
    if (sym->st_shndx != SHN_UNDEF || sym->st_name == 0)
        return NULL; /* its own definition */
    const char *name = r->names + sym->st_name;
    unsigned pair = pair_of(name);
    if (!(hooks.pairs[pair / 64] >> (pair % 64) & 1))
        return NULL;
    void *hook = ts_symbol_table_find(&hooks.table, name);
    if (!hook)
        return NULL;
    void *held = *expect =
        __atomic_load_n((void **)(info->dlpi_addr + rel->r_offset), __ATOMIC_RELAXED);
    *fill = NULL;
    if (type == R_X86_64_JUMP_SLOT && ts_object_info_holds(info, (uintptr_t)held)) {
        if (!scope)
            return NULL; /* not bound yet, and not ours to judge */
        held = *fill = dlsym(scope, name);
    }
    if (!held || held == hook)
        return NULL;
    void *next = next_of(b, hook, name);
    if (next)
        return held == next ? hook : NULL;
    return resolved_per_site(name) && !ts_self_holds(held) ? hook : NULL;
}

/* One store decided: the slot, what it held, the hook; for a lazy slot,
 * what the loader would fill it with (a thread calling through it
 * meanwhile has the loader fill it: then that is replaced). */
struct store {
    void **slot;
    void *expect, *hook, *fill;
};

/* Two threads binding one object (each its own call, one pinning what the
 * other loaded) must not interleave their changes of its protection: one
 * would make the part read-only again under the other's store. A lock of
 * the shim's own, taken with no loader call inside it (the loader's locks
 * are never taken under it); the fork's child lets it go. */
static int stores_lock TS_FORK_STATE;

TS_FORK_HANDLER void ts_deepbind_after_fork(void)
{
    if (__atomic_load_n(&stores_lock,
                        __ATOMIC_RELAXED)) /* a store that changes nothing copies a page */
        __atomic_store_n(&stores_lock, 0, __ATOMIC_RELEASE);
}

/* Each store made where the slot still holds what was decided on (a lazy
 * slot the loader filled meanwhile with the same function is taken too),
 * the read-only part made writable for them and read-only again. */
static void make_stores(struct binding *b, const struct relocations *r, const struct store *st,
                        size_t n)
{
    while (__atomic_exchange_n(&stores_lock, 1, __ATOMIC_ACQUIRE))
        sched_yield();
    bool opened = false;
    for (size_t i = 0; i < n; i++) {
        uintptr_t at = (uintptr_t)st[i].slot;
        if (at >= r->relro_lo && at < r->relro_hi && !opened) {
            if (mprotect((void *)r->relro_lo, r->relro_hi - r->relro_lo, PROT_READ | PROT_WRITE) !=
                0) {
                b->failed = errno;
                break;
            }
            opened = true;
        }
        /* one aligned store: a thread calling through it meanwhile goes
         * to one or the other */
        void *expect = st[i].expect;
        bool stored = __atomic_compare_exchange_n(st[i].slot, &expect, st[i].hook, false,
                                                  __ATOMIC_RELEASE, __ATOMIC_RELAXED);
        if (!stored && st[i].fill && expect == st[i].fill)
            stored = __atomic_compare_exchange_n(st[i].slot, &expect, st[i].hook, false,
                                                 __ATOMIC_RELEASE, __ATOMIC_RELAXED);
        b->slots += stored;
    }
    if (opened) /* fewer rights on the range just given more: cannot fail */
        (void)mprotect((void *)r->relro_lo, r->relro_hi - r->relro_lo, PROT_READ);
    __atomic_store_n(&stores_lock, 0, __ATOMIC_RELEASE);
}

/* scope: a handle whose dlsym answers as the object's scope binds (the
 * call's handle for the objects it holds), or NULL. */
static void bind_object(struct binding *b, const struct dl_phdr_info *info, void *scope)
{
    struct relocations r;
    if (!read_relocations(info, &r))
        return;
    struct store *st = NULL;
    size_t n = 0, cap = 0;
    const struct {
        const ElfW(Rela) * table;
        size_t n;
    } tables[] = {{r.plt, r.plt_n}, {r.other, r.other_n}};
    for (size_t t = 0; t < sizeof tables / sizeof *tables; t++) {
        for (size_t i = 0; i < tables[t].n; i++) {
            const ElfW(Rela) *rel = &tables[t].table[i];
            void *expect, *fill;
            void *hook = hook_for(b, &r, rel, info, scope, &expect, &fill);
            if (!hook)
                continue;
            if (!ts_db_grow((void **)&st, &cap, n, sizeof *st))
                break;
            st[n++] =
                (struct store){(void **)(info->dlpi_addr + rel->r_offset), expect, hook, fill};
        }
    }
    if (n)
        make_stores(b, &r, st, n);
    free(st);
}

/* A new object the handle does not hold, by name: pinned (which waits for
 * a load under way on another thread to be done), found again by its
 * pin's link map, bound, let go. */
static void bind_pinned(struct binding *b, const char *name)
{
    void *pin = ts_real_dlopen(name, RTLD_NOLOAD | RTLD_LAZY);
    if (!pin)
        return; /* closed meanwhile */
    struct link_map *map = NULL;
    if (dlinfo(pin, RTLD_DI_LINKMAP, &map) == 0 && map) {
        struct object_find f = {.dynamic = map->l_ld};
        dl_iterate_phdr(find_object, &f);
        if (f.found)
            bind_object(b, &f.info, NULL);
    }
    dlclose(pin);
}

void *ts_dlopen_deepbind(const char *file, int flags)
{
    struct ts_db_before before;
    ts_db_before_take(&before);
    void *handle = ts_dlopen_resolve()(file, flags);
    int saved_errno = errno;
    if (handle && ts_db_loaded_since(&before)) {
        struct ts_db_objects all;
        ts_db_objects_take(&all, &before, handle);
        struct binding b = {0};
        size_t bound = 0;
        pthread_once(&hooks_once, read_hooks);
        if (hooks.read) {
            for (size_t i = 0; i < all.n; i++) {
                const struct ts_db_object *o = &all.objects[i];
                /* the handle's scope is theirs (RTLD_DEEPBIND) if the call
                 * loaded them; one that may have been there before (the
                 * root opened again, or an unload meanwhile makes it
                 * unsure) has a scope of its own: its filled slots only */
                if (o->held && o->surely_new)
                    bind_object(&b, &o->info, handle);
                else if (o->held && (o->fresh || o->root))
                    bind_object(&b, &o->info, NULL);
                else if (o->fresh && o->name && o->name[0])
                    bind_pinned(&b, o->name);
                else
                    continue;
                bound++;
            }
        }
        free(b.nexts);
        (void)dlerror(); /* names none defines: not the caller's error */
        if (b.failed)
            ts_log_warn("%s, loaded with RTLD_DEEPBIND: a read-only part of what it loaded could "
                        "not be made writable (%s); some of its calls go around the shim",
                        file, strerrorname_np(b.failed) ? strerrorname_np(b.failed) : "error");
        else
            ts_log_debug("%s, loaded with RTLD_DEEPBIND: %lu calls of %zu objects bound to the "
                         "shim%s",
                         file, b.slots, bound, all.partial ? " (out of memory: not all)" : "");
        ts_db_objects_free(&all);
    }
    ts_db_before_free(&before);
    errno = saved_errno;
    return handle;
}
