/* deepbind.c — the objects a dlopen with RTLD_DEEPBIND loaded, their
 * global offset tables bound back to the shim's hooks (see deepbind.h). */
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

/* --- the objects loaded before the call: the address of each one's
 * program headers (one per loaded object), in dl_iterate_phdr's order. A
 * walk of a few hundred at most, twice per such dlopen: no sorting. */

struct object_set {
    const void **phdrs;
    size_t n, cap;
};

static int add_object(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct object_set *set = arg;
    if (set->n == set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 64;
        const void **grown = realloc(set->phdrs, cap * sizeof *grown);
        if (!grown)
            return 1; /* the set stays partial: more objects look new */
        set->phdrs = grown;
        set->cap = cap;
    }
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

/* --- one new object's slots */

/* A first look at a name: most names an object imports are no hook's
 * (PHP's extensions import hundreds of zend_ and php_ functions), and one
 * bit per pair of first letters tells most of those apart without the
 * hash a lookup in the shim's table computes over the whole name. */
#define PAIR_BITS 1024
static unsigned pair_of(const char *name)
{
    return ((unsigned)(unsigned char)name[0] * 31u + (unsigned char)name[1]) % PAIR_BITS;
}

struct binding {
    void *handle;                    /* the dlopen's answer: its objects' local scope */
    struct ts_symbol_table self;     /* the shim's exported symbols: its hooks */
    uint64_t pairs[PAIR_BITS / 64];  /* pair_of each of them */
    const struct object_set *before; /* the objects there before the call */
    unsigned long slots;             /* slots bound back to a hook */
    int failed;                      /* errno: a read-only part stayed so */
};

/* The object's relocation tables, from its dynamic section. */
struct relocations {
    const ElfW(Rela) * plt, *other; /* DT_JMPREL, DT_RELA */
    size_t plt_n, other_n;
    const ElfW(Sym) * symbols;
    const char *names;
    uintptr_t relro_lo, relro_hi; /* PT_GNU_RELRO, in whole pages; 0, 0: none */
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
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_GNU_RELRO) {
            uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
            r->relro_lo = lo & ~(page - 1);
            r->relro_hi = (lo + ph->p_memsz + page - 1) & ~(page - 1);
        }
    }
    return true;
}

/* The hook a slot of the object should hold, or NULL to leave it: a
 * function reference (JUMP_SLOT, GLOB_DAT) to a name the shim exports,
 * which the object's scope binds to the definition the shim's hook calls
 * (the one after the shim in the global scope). */
static void *hook_for(struct binding *b, const struct relocations *r, const ElfW(Rela) * rel)
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
    void *bound = dlsym(b->handle, name); /* its scope's answer (dlerror cleared later) */
    return bound && bound == dlsym(RTLD_NEXT, name) ? hook : NULL;
}

static void bind_object(struct binding *b, const struct dl_phdr_info *info)
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
            void *hook = hook_for(b, &r, rel);
            if (!hook)
                continue;
            void **slot = (void **)(info->dlpi_addr + rel->r_offset);
            if (__atomic_load_n(slot, __ATOMIC_RELAXED) == hook)
                continue;
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

struct new_objects {
    struct binding *binding;
    uintptr_t self; /* an address in the shim */
    bool self_found;
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

static int find_self(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct new_objects *w = arg;
    if (!ts_object_info_holds(info, w->self))
        return 0;
    struct binding *b = w->binding;
    w->self_found = ts_symbol_table_read(info, &b->self);
    if (w->self_found)
        for (uint32_t i = b->self.gnu_hash[1], end = hashed_end(&b->self); i < end; i++) {
            unsigned pair = pair_of(b->self.names + b->self.symbols[i].st_name);
            b->pairs[pair / 64] |= (uint64_t)1 << (pair % 64);
        }
    return 1;
}

static int bind_if_new(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct new_objects *w = arg;
    if (!object_set_has(w->binding->before, info->dlpi_phdr))
        bind_object(w->binding, info);
    return 0;
}

void *ts_dlopen_deepbind(const char *file, int flags)
{
    struct object_set before = {0};
    unsigned long long loads = loads_so_far();
    dl_iterate_phdr(add_object, &before);
    void *handle = ts_dlopen_resolve()(file, flags);
    int saved_errno = errno;
    if (handle && loads_so_far() != loads) {
        struct binding b = {.handle = handle, .before = &before};
        struct new_objects w = {&b, (uintptr_t)ts_dlopen_deepbind, false};
        dl_iterate_phdr(find_self, &w);
        if (w.self_found)
            dl_iterate_phdr(bind_if_new, &w);
        (void)dlerror(); /* the names the scope does not define: not the caller's error */
        if (b.failed)
            ts_log_warn("%s, loaded with RTLD_DEEPBIND: a read-only part of it could not be made "
                        "writable (%s); some of its calls go around the shim",
                        file, strerrorname_np(b.failed) ? strerrorname_np(b.failed) : "error");
        else
            ts_log_debug("%s, loaded with RTLD_DEEPBIND: %lu of its calls bound to the shim", file,
                         b.slots);
    }
    free(before.phdrs);
    errno = saved_errno;
    return handle;
}
