/* deepbind.c — the objects a dlopen with RTLD_DEEPBIND loaded, their
 * global offset tables bound back to the shim's hooks (see deepbind.h).
 *
 * No dl* function is called inside a dl_iterate_phdr callback: the walk
 * holds the loader's list lock, which dlopen, dlclose and dlsym take after
 * their own load lock, and a dlopen on another thread meanwhile would
 * deadlock with us (the callbacks only copy). The objects the call's
 * handle holds (it and its dependencies) were relocated by the call and
 * stay loaded while we hold the handle; any other new object (opened by a
 * constructor, or by another thread meanwhile) is pinned first (a dlopen
 * with RTLD_NOLOAD, which also waits for a load under way on another
 * thread to finish its relocations) before its table is read or written:
 * a pin costs about 45,000 instructions with its dlclose. */
#include "deepbind.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

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

/* --- what the walks copy out */

/* The objects loaded before the call: the address of each one's program
 * headers (one per loaded object). A few hundred at most, compared one by
 * one: no sorting. */
struct object_set {
    const void **phdrs;
    size_t n, cap;
};

static bool grow(void **items, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return true;
    size_t more = *cap ? *cap * 2 : 64;
    void *grown = realloc(*items, more * size);
    if (!grown)
        return false;
    *items = grown;
    *cap = more;
    return true;
}

static int note_object(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct object_set *set = arg;
    if (!grow((void **)&set->phdrs, &set->cap, set->n, sizeof *set->phdrs))
        return 1; /* the set stays partial: more objects look new */
    set->phdrs[set->n++] = info->dlpi_phdr;
    return 0;
}

static bool object_set_has(const struct object_set *set, const void *phdr)
{
    for (size_t i = 0; i < set->n; i++)
        if (set->phdrs[i] == phdr)
            return true;
    return false;
}

static int read_loads(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    *(unsigned long long *)arg = info->dlpi_adds;
    return 1; /* every object has the same count */
}

/* How many objects the process has loaded so far (dl_iterate_phdr's
 * dlpi_adds). */
static unsigned long long loads_so_far(void)
{
    unsigned long long adds = 0;
    dl_iterate_phdr(read_loads, &adds);
    return adds;
}

/* An object not in `before`: loaded by the call, by a constructor it ran,
 * or meanwhile by another thread. Copied out of the walk (which holds
 * the loader's list lock, so that nothing is unloaded under it): its
 * headers, its name, and the names it and its DT_NEEDED entries go by, to
 * tell the objects the call's handle holds (its dependencies: loaded and
 * relocated by the call, kept loaded by the handle) from the rest, which
 * are pinned before they are touched. */
struct new_object {
    struct dl_phdr_info info;
    const void *dynamic;
    char *name;    /* dlpi_name */
    char *soname;  /* DT_SONAME, or NULL */
    char **needed; /* DT_NEEDED */
    size_t n_needed;
    bool held; /* by the call's handle */
};

struct new_objects {
    const struct object_set *before;
    struct new_object *objects;
    size_t n, cap;
    bool partial; /* out of memory: some left out */
};

static void free_new_object(struct new_object *o)
{
    for (size_t i = 0; i < o->n_needed; i++)
        free(o->needed[i]);
    free(o->needed);
    free(o->soname);
    free(o->name);
}

/* Its SONAME and NEEDED names, from its dynamic section. */
static bool copy_names(const struct dl_phdr_info *info, struct new_object *o)
{
    const char *strtab = NULL;
    size_t cap = 0;
    const ElfW(Dyn) *dynamic = ts_dynamic_of(info);
    for (const ElfW(Dyn) *dyn = dynamic; dyn && dyn->d_tag != DT_NULL; dyn++)
        if (dyn->d_tag == DT_STRTAB)
            strtab = (const char *)ts_dyn_address(info, dyn->d_un.d_ptr);
    if (!strtab)
        return true; /* nothing to match it by: left to a pin */
    for (const ElfW(Dyn) *dyn = dynamic; dyn && dyn->d_tag != DT_NULL; dyn++) {
        if (dyn->d_tag == DT_SONAME) {
            if (!(o->soname = strdup(strtab + dyn->d_un.d_val)))
                return false;
        } else if (dyn->d_tag == DT_NEEDED) {
            char *needed = strdup(strtab + dyn->d_un.d_val);
            if (!needed || !grow((void **)&o->needed, &cap, o->n_needed, sizeof *o->needed)) {
                free(needed);
                return false;
            }
            o->needed[o->n_needed++] = needed;
        }
    }
    return true;
}

static int note_if_new(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct new_objects *fresh = arg;
    if (object_set_has(fresh->before, info->dlpi_phdr) || !info->dlpi_name || !info->dlpi_name[0])
        return 0;
    if (!grow((void **)&fresh->objects, &fresh->cap, fresh->n, sizeof *fresh->objects)) {
        fresh->partial = true;
        return 1;
    }
    struct new_object *o = &fresh->objects[fresh->n];
    *o = (struct new_object){.info = *info, .dynamic = ts_dynamic_of(info)};
    if (!(o->name = strdup(info->dlpi_name)) || !copy_names(info, o)) {
        free_new_object(o);
        fresh->partial = true;
        return 1;
    }
    fresh->n++;
    return 0;
}

/* Does o go by the name a DT_NEEDED entry asks for? (Its SONAME, else
 * the last part of the path it was loaded from.) */
static bool goes_by(const struct new_object *o, const char *needed)
{
    if (o->soname)
        return strcmp(o->soname, needed) == 0;
    const char *base = strrchr(o->name, '/');
    return strcmp(base ? base + 1 : o->name, needed) == 0;
}

/* Mark the new objects the handle holds: the one it names and, from
 * there, the new ones their DT_NEEDED entries name. */
static void mark_held(struct new_objects *fresh, void *handle)
{
    struct link_map *map = NULL;
    if (dlinfo(handle, RTLD_DI_LINKMAP, &map) != 0 || !map)
        return;
    size_t marked = 0;
    for (size_t i = 0; i < fresh->n; i++)
        if (fresh->objects[i].dynamic == (const void *)map->l_ld) {
            fresh->objects[i].held = true;
            marked++;
        }
    for (size_t before = 0; marked != before;) { /* until a pass marks no more */
        before = marked;
        for (size_t i = 0; i < fresh->n; i++) {
            const struct new_object *o = &fresh->objects[i];
            if (!o->held)
                continue;
            for (size_t k = 0; k < o->n_needed; k++)
                for (size_t j = 0; j < fresh->n; j++)
                    if (!fresh->objects[j].held && goes_by(&fresh->objects[j], o->needed[k])) {
                        fresh->objects[j].held = true;
                        marked++;
                    }
        }
    }
}

/* One object's program headers, copied out of the walk: found by its
 * dynamic section (the pinned link map's l_ld), or by holding an address. */
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
    struct ts_symbol_table self;    /* the shim's exported symbols: its hooks */
    uint64_t pairs[PAIR_BITS / 64]; /* pair_of each of them */
    struct next_answer *nexts;
    size_t n_nexts, cap_nexts;
    unsigned long slots; /* slots bound back to a hook */
    int failed;          /* errno: a read-only part stayed so */
};

/* The symbols of t's GNU hash table (all defined): from its first hashed
 * one to the end of the chain the last bucket starts. */
static uint32_t hashed_end(const struct ts_symbol_table *t)
{
    const uint32_t *gh = t->gnu_hash;
    uint32_t nbuckets = gh[0], symoffset = gh[1], bloom_size = gh[2];
    const uint32_t *buckets =
        (const uint32_t *)(const void *)((const ElfW(Addr) *)(const void *)(gh + 4) + bloom_size);
    const uint32_t *chain = buckets + nbuckets;
    uint32_t last = 0;
    for (uint32_t i = 0; i < nbuckets; i++)
        if (buckets[i] > last)
            last = buckets[i];
    if (last < symoffset)
        return symoffset; /* no symbol hashed */
    while (!(chain[last - symoffset] & 1))
        last++;
    return last + 1;
}

static bool read_self(struct binding *b)
{
    struct object_find f = {.holds = (uintptr_t)ts_dlopen_deepbind};
    dl_iterate_phdr(find_object, &f); /* the shim stays loaded: its headers too */
    if (!f.found || !ts_symbol_table_read(&f.info, &b->self))
        return false;
    for (uint32_t i = b->self.gnu_hash[1], end = hashed_end(&b->self); i < end; i++) {
        unsigned pair = pair_of(b->self.names + b->self.symbols[i].st_name);
        b->pairs[pair / 64] |= (uint64_t)1 << (pair % 64);
    }
    return true;
}

static void *next_of(struct binding *b, void *hook, const char *name)
{
    for (size_t i = 0; i < b->n_nexts; i++)
        if (b->nexts[i].hook == hook)
            return b->nexts[i].next;
    void *next = dlsym(RTLD_NEXT, name); /* a name none defines: dlerror cleared later */
    if (grow((void **)&b->nexts, &b->cap_nexts, b->n_nexts, sizeof *b->nexts))
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

/* The hook a slot should hold, or NULL to leave it. A function reference
 * (JUMP_SLOT, GLOB_DAT) to a name the shim exports, whose slot holds the
 * very function the hook stands in front of (what dlsym(RTLD_NEXT) from
 * the shim answers; for a TLS hook's name the global scope does not
 * define, any definition but the shim's). A slot the loader has not
 * filled yet (lazy binding: it still points into the object's own PLT)
 * is judged by what the object's scope answers (dlsym on `scope`).
 * So a definition of the library's own or of another of its
 * dependencies (what RTLD_DEEPBIND is for) stays, and an object that
 * binds through the global scope already holds the hook. */
static void *hook_for(struct binding *b, const struct relocations *r, const ElfW(Rela) * rel,
                      const struct dl_phdr_info *info, void *scope)
{
    unsigned long type = ELF64_R_TYPE(rel->r_info);
    if (type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT)
        return NULL;
    const ElfW(Sym) *sym = &r->symbols[ELF64_R_SYM(rel->r_info)];
    if (sym->st_shndx != SHN_UNDEF || sym->st_name == 0)
        return NULL; /* its own definition */
    const char *name = r->names + sym->st_name;
    unsigned pair = pair_of(name);
    if (!(b->pairs[pair / 64] >> (pair % 64) & 1))
        return NULL;
    void *hook = ts_symbol_table_find(&b->self, name);
    if (!hook)
        return NULL;
    void *held = __atomic_load_n((void **)(info->dlpi_addr + rel->r_offset), __ATOMIC_RELAXED);
    if (type == R_X86_64_JUMP_SLOT && ts_object_info_holds(info, (uintptr_t)held))
        held = dlsym(scope, name); /* not bound yet */
    if (!held || held == hook)
        return NULL;
    void *next = next_of(b, hook, name);
    if (next)
        return held == next ? hook : NULL;
    return resolved_per_site(name) && !ts_self_holds(held) ? hook : NULL;
}

/* scope: a handle whose dlsym answers as the object's scope binds (the
 * call's handle for the objects it holds, else the object's pin). */
static void bind_object(struct binding *b, const struct dl_phdr_info *info, void *scope)
{
    struct relocations r;
    if (!read_relocations(info, &r))
        return;
    bool opened = false; /* the read-only part made writable */
    const struct {
        const ElfW(Rela) * table;
        size_t n;
    } tables[] = {{r.plt, r.plt_n}, {r.other, r.other_n}};
    for (size_t t = 0; t < sizeof tables / sizeof *tables; t++) {
        for (size_t i = 0; i < tables[t].n; i++) {
            const ElfW(Rela) *rel = &tables[t].table[i];
            void *hook = hook_for(b, &r, rel, info, scope);
            if (!hook)
                continue;
            void **slot = (void **)(info->dlpi_addr + rel->r_offset);
            uintptr_t at = (uintptr_t)slot;
            if (at >= r.relro_lo && at < r.relro_hi && !opened) {
                if (mprotect((void *)r.relro_lo, r.relro_hi - r.relro_lo, PROT_READ | PROT_WRITE) !=
                    0) {
                    b->failed = errno;
                    return;
                }
                opened = true;
            }
            /* one aligned store: a thread calling through it meanwhile
             * goes to one or the other */
            __atomic_store_n(slot, hook, __ATOMIC_RELEASE);
            b->slots++;
        }
    }
    if (opened) /* fewer rights on the range just given more: cannot fail */
        (void)mprotect((void *)r.relro_lo, r.relro_hi - r.relro_lo, PROT_READ);
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
            bind_object(b, &f.info, pin);
    }
    dlclose(pin);
}

void *ts_dlopen_deepbind(const char *file, int flags)
{
    struct object_set before = {0};
    unsigned long long loads = loads_so_far();
    dl_iterate_phdr(note_object, &before);
    void *handle = ts_dlopen_resolve()(file, flags);
    int saved_errno = errno;
    if (handle && loads_so_far() != loads) {
        struct new_objects fresh = {.before = &before};
        dl_iterate_phdr(note_if_new, &fresh);
        mark_held(&fresh, handle);
        struct binding b = {0};
        if (read_self(&b)) {
            for (size_t i = 0; i < fresh.n; i++) {
                /* the handle's scope is theirs (RTLD_DEEPBIND) */
                if (fresh.objects[i].held)
                    bind_object(&b, &fresh.objects[i].info, handle);
                else
                    bind_pinned(&b, fresh.objects[i].name);
            }
        }
        for (size_t i = 0; i < fresh.n; i++)
            free_new_object(&fresh.objects[i]);
        free(fresh.objects);
        free(b.nexts);
        (void)dlerror(); /* names none defines: not the caller's error */
        if (b.failed)
            ts_log_warn("%s, loaded with RTLD_DEEPBIND: a read-only part of what it loaded could "
                        "not be made writable (%s); some of its calls go around the shim",
                        file, strerrorname_np(b.failed) ? strerrorname_np(b.failed) : "error");
        else
            ts_log_debug("%s, loaded with RTLD_DEEPBIND: %lu calls of the %zu objects it loaded "
                         "bound to the shim%s",
                         file, b.slots, fresh.n, fresh.partial ? " (out of memory: not all)" : "");
    }
    free(before.phdrs);
    errno = saved_errno;
    return handle;
}
