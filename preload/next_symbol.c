/* next_symbol.c — what dlsym(RTLD_NEXT) answers, read from the loaded
 * objects' dynamic symbol tables (see next_symbol.h). */
#include "next_symbol.h"

#include <string.h>
#include <sys/auxv.h>

#include "loaded_objects.h"

uint32_t ts_gnu_hash(const char *name)
{
    uint32_t h = 5381;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = h * 33 + *p;
    return h;
}

/* The loader rewrites the entries of most objects to
 * addresses, not those of an object whose dynamic section is read-only
 * (the vDSO), and which ones it rewrites has changed between versions:
 * the entry says which by where it points. (Not "below the base": an
 * object loaded below its link address has rewritten entries there.) */
uintptr_t ts_dyn_address(const struct dl_phdr_info *info, ElfW(Addr) ptr)
{
    if (ts_object_info_holds(info, ptr))
        return ptr;
    uintptr_t moved = info->dlpi_addr + ptr;
    return ts_object_info_holds(info, moved) ? moved : 0;
}

const ElfW(Dyn) * ts_dynamic_of(const struct dl_phdr_info *info)
{
    for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++)
        if (info->dlpi_phdr[i].p_type == PT_DYNAMIC)
            return (const ElfW(Dyn) *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
    return NULL;
}

/* Does the object ask for an auditing library (DT_AUDIT, DT_DEPAUDIT)?
 * An auditor may change what dlsym answers (la_symbind). */
static bool asks_for_audit(const struct dl_phdr_info *info)
{
    for (const ElfW(Dyn) *dyn = ts_dynamic_of(info); dyn && dyn->d_tag != DT_NULL; dyn++)
        if (dyn->d_tag == DT_AUDIT || dyn->d_tag == DT_DEPAUDIT)
            return true;
    return false;
}

bool ts_symbol_table_read(const struct dl_phdr_info *info, struct ts_symbol_table *t)
{
    memset(t, 0, sizeof *t);
    t->base = info->dlpi_addr;
    for (const ElfW(Dyn) *dyn = ts_dynamic_of(info); dyn && dyn->d_tag != DT_NULL; dyn++) {
        switch (dyn->d_tag) {
        case DT_SYMTAB:
            t->symbols = (const ts_elf_sym *)ts_dyn_address(info, dyn->d_un.d_ptr);
            break;
        case DT_STRTAB:
            t->names = (const char *)ts_dyn_address(info, dyn->d_un.d_ptr);
            break;
        case DT_GNU_HASH:
            t->gnu_hash = (const uint32_t *)ts_dyn_address(info, dyn->d_un.d_ptr);
            break;
        case DT_VERSYM:
            t->versions = (const ts_elf_version *)ts_dyn_address(info, dyn->d_un.d_ptr);
            if (!t->versions)
                return false; /* named, and in none of its segments */
            break;
        case DT_AUDIT:
        case DT_DEPAUDIT:
            return false;
        default:
            break;
        }
    }
    return t->symbols && t->names && t->gnu_hash;
}

struct listing {
    uintptr_t self, must_follow;
    bool first, past_self, followed, ok;
    struct ts_next_objects *next;
};

static int list_object(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct listing *l = arg;
    bool first = l->first;
    l->first = false;
    if (!l->past_self) {
        l->past_self = ts_object_info_holds(info, l->self);
        if (first && asks_for_audit(info)) { /* the program's own: DT_DEPAUDIT */
            l->ok = false;
            return 1;
        }
        return 0;
    }
    struct ts_next_objects *next = l->next;
    if (next->n == TS_NEXT_OBJECTS_MAX)
        return 1; /* a name the ones listed do not define goes to dlsym */
    if (!ts_symbol_table_read(info, &next->table[next->n])) {
        l->ok = false;
        return 1;
    }
    next->n++;
    l->followed = l->followed || ts_object_info_holds(info, l->must_follow);
    return 0;
}

bool ts_next_objects_list(struct ts_next_objects *next, const void *self, const void *must_follow)
{
    next->n = 0;
    struct listing l = {(uintptr_t)self, (uintptr_t)must_follow, true, false, false, true, next};
    dl_iterate_phdr(list_object, &l);
    return l.past_self && l.followed && l.ok;
}

enum lookup { NOT_HERE, FOUND, UNSURE };

/* One definition named as asked, at index idx of t, as the loader judges
 * it for a name asked without a version (glibc's check_match with
 * DL_LOOKUP_RETURN_NEWEST): a definition without a version is the answer;
 * one with a version that is not hidden is counted, and the answer if it
 * is the object's only one (*public). Anything but a global or weak
 * function with default visibility is left to dlsym. */
static enum lookup judge(const struct ts_symbol_table *t, uint32_t idx, void **found,
                         unsigned *public)
{
    const ts_elf_sym *s = &t->symbols[idx];
    if (s->st_shndx == SHN_UNDEF)
        return NOT_HERE; /* a reference, not a definition */
    /* (the ELF32_ and ELF64_ forms of these are the same) */
    unsigned bind = ELF64_ST_BIND(s->st_info);
    if (s->st_shndx >= SHN_LORESERVE || ELF64_ST_TYPE(s->st_info) != STT_FUNC ||
        (bind != STB_GLOBAL && bind != STB_WEAK) || ELF64_ST_VISIBILITY(s->st_other) != STV_DEFAULT)
        return UNSURE; /* absolute, not a function, local, hidden, protected */
    if (s->st_value == 0)
        return NOT_HERE; /* the loader passes over it too */
    void *at = (void *)(t->base + s->st_value);
    ts_elf_version version = t->versions ? t->versions[idx] : 0;
    if ((version & 0x7fff) < 2) {
        *found = at;
        return FOUND;
    }
    if (!(version & 0x8000) && (*public)++ == 0)
        *found = at;
    return NOT_HERE;
}

static enum lookup lookup_in(const struct ts_symbol_table *t, const char *name, uint32_t hash,
                             void **found)
{
    const uint32_t *gh = t->gnu_hash;
    uint32_t nbuckets = gh[0], symoffset = gh[1], bloom_size = gh[2], bloom_shift = gh[3];
    if (nbuckets == 0 || bloom_size == 0)
        return NOT_HERE;
    const ElfW(Addr) *bloom = (const ElfW(Addr) *)(const void *)(gh + 4);
    const unsigned bits = sizeof(ElfW(Addr)) * 8;
    ElfW(Addr) word = bloom[(hash / bits) & (bloom_size - 1)];
    ElfW(Addr) mask =
        ((ElfW(Addr))1 << (hash % bits)) | ((ElfW(Addr))1 << ((hash >> bloom_shift) % bits));
    if ((word & mask) != mask)
        return NOT_HERE;
    const uint32_t *buckets = (const uint32_t *)(const void *)(bloom + bloom_size);
    const uint32_t *chain = buckets + nbuckets; /* chain[i] is symbol symoffset + i's */
    uint32_t idx = buckets[hash % nbuckets];
    if (idx < symoffset)
        return NOT_HERE;
    unsigned public = 0;
    for (;; idx++) {
        uint32_t link = chain[idx - symoffset];
        if (((link ^ hash) >> 1) == 0 && strcmp(name, t->names + t->symbols[idx].st_name) == 0) {
            enum lookup r = judge(t, idx, found, &public);
            if (r != NOT_HERE)
                return r;
        }
        if (link & 1)
            break;
    }
    if (public == 1)
        return FOUND;
    return public ? UNSURE : NOT_HERE; /* two public versions: not ours to pick */
}

uint32_t ts_symbol_table_hashed_end(const struct ts_symbol_table *t)
{
    const uint32_t *gh = t->gnu_hash;
    uint32_t nbuckets = gh[0], symoffset = gh[1], bloom_size = gh[2];
    const uint32_t *buckets =
        (const uint32_t *)(const void *)((const ElfW(Addr) *)(const void *)(gh + 4) + bloom_size);
    const uint32_t *chain = buckets + nbuckets; /* chain[i] is symbol symoffset + i's */
    uint32_t last = 0;
    for (uint32_t i = 0; i < nbuckets; i++)
        if (buckets[i] > last)
            last = buckets[i];
    if (last < symoffset)
        return symoffset; /* no symbol hashed */
    while (!(chain[last - symoffset] & 1))
        last++; /* the last bucket's chain runs to its end bit */
    return last + 1;
}

void *ts_symbol_table_find(const struct ts_symbol_table *t, const char *name)
{
    void *found = NULL;
    return lookup_in(t, name, ts_gnu_hash(name), &found) == FOUND ? found : NULL;
}

void *ts_next_symbol(const struct ts_next_objects *next, const char *name)
{
    uint32_t hash = ts_gnu_hash(name);
    for (unsigned i = 0; i < next->n; i++) {
        void *found = NULL;
        switch (lookup_in(&next->table[i], name, hash, &found)) {
        case FOUND:
            return found;
        case UNSURE:
            return NULL;
        default:
            break;
        }
    }
    return NULL;
}

/* The names a walk looks up, with their hashes, worked out once: at most
 * CALLS_MAX (a name past them is hashed at each lookup). Static, not on
 * the stack of the thread that exits (which may be a small one): the
 * walk runs once per process, from the shim's destructor. */
#define CALLS_MAX 384
static const char *calls_name[CALLS_MAX];
static uint32_t calls_hash[CALLS_MAX];

struct calls_walk {
    uintptr_t self, libc, vdso, loader;
    const char *const *names;
    size_t n;
    bool past_self, listed, defined;
    struct ts_symbol_table own; /* self's */
    size_t count;               /* names, then self's imports (some past CALLS_MAX) */
};

/* The names, then the functions self's table imports, each passed to
 * each(w, name, i) until it returns true; true then. */
static bool each_call(struct calls_walk *w, const struct ts_symbol_table *t,
                      bool (*each)(struct calls_walk *w, const struct ts_symbol_table *t,
                                   const char *name, size_t i))
{
    size_t i = 0;
    for (size_t k = 0; k < w->n; k++, i++)
        if (each(w, t, w->names[k], i))
            return true;
    uint32_t end = ts_symbol_table_hashed_end(&w->own);
    for (uint32_t k = 1; k < end; k++) {
        const ts_elf_sym *s = &w->own.symbols[k];
        if (s->st_shndx == SHN_UNDEF && ELF64_ST_TYPE(s->st_info) == STT_FUNC &&
            each(w, t, w->own.names + s->st_name, i++))
            return true;
    }
    return false;
}

static bool list_call(struct calls_walk *w, const struct ts_symbol_table *t, const char *name,
                      size_t i)
{
    (void)t;
    if (i < CALLS_MAX) {
        calls_name[i] = name;
        calls_hash[i] = ts_gnu_hash(name);
    }
    w->count = i + 1;
    return false;
}

static bool defined_in(struct calls_walk *w, const struct ts_symbol_table *t, const char *name,
                       size_t i)
{
    (void)w;
    void *found;
    return lookup_in(t, name, i < CALLS_MAX ? calls_hash[i] : ts_gnu_hash(name), &found) !=
           NOT_HERE;
}

/* Does t define a function self calls (a name, or one self imports)? */
static bool defines_a_call(struct calls_walk *w, const struct ts_symbol_table *t)
{
    if (!w->listed) {
        (void)each_call(w, t, list_call);
        w->listed = true;
    }
    void *found;
    size_t listed = w->count < CALLS_MAX ? w->count : CALLS_MAX;
    for (size_t i = 0; i < listed; i++)
        if (lookup_in(t, calls_name[i], calls_hash[i], &found) != NOT_HERE)
            return true;
    return w->count > CALLS_MAX && each_call(w, t, defined_in);
}

static int walk_for_calls(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct calls_walk *w = arg;
    if (!w->past_self) {
        if (!ts_object_info_holds(info, w->self))
            return 0;
        w->past_self = true;
        w->defined = !ts_symbol_table_read(info, &w->own);
        return w->defined;
    }
    if (ts_object_info_holds(info, w->libc))
        return 1; /* the rest come after the C library */
    if ((w->vdso && ts_object_info_holds(info, w->vdso)) ||
        (w->loader && ts_object_info_holds(info, w->loader)))
        return 0;
    struct ts_symbol_table t;
    if (!ts_symbol_table_read(info, &t)) {
        w->defined = true;
        return 1;
    }
    void *found;
    static const char sanitizer[] = "__sanitizer_set_report_path"; /* every sanitizer's runtime */
    if (lookup_in(&t, sanitizer, ts_gnu_hash(sanitizer), &found) != NOT_HERE)
        return 0; /* it intercepts until the process ends */
    w->defined = defines_a_call(w, &t);
    return w->defined;
}

bool ts_next_objects_define_calls(const void *self, const void *libc, const char *const *names,
                                  size_t n)
{
    struct calls_walk w = {.self = (uintptr_t)self,
                           .libc = (uintptr_t)libc,
                           .vdso = (uintptr_t)getauxval(AT_SYSINFO_EHDR),
                           .loader = (uintptr_t)getauxval(AT_BASE),
                           .names = names,
                           .n = n};
    dl_iterate_phdr(walk_for_calls, &w);
    return w.defined;
}
