/* deepbind_objects.c — the objects a dlopen brought in, and which of them
 * its handle holds (see deepbind_objects.h). */
#include "deepbind_objects.h"

#include <dlfcn.h>
#include <elf.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "next_symbol.h"

bool ts_db_grow(void **items, size_t *cap, size_t n, size_t size)
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

/* --- before the call */

struct before_walk {
    struct ts_db_before *before;
    size_t cap;
};

static int note_before(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct before_walk *w = arg;
    struct ts_db_before *b = w->before;
    b->adds = info->dlpi_adds;
    b->subs = info->dlpi_subs;
    if (!ts_db_grow((void **)&b->phdrs, &w->cap, b->n, sizeof *b->phdrs)) {
        b->partial = true;
        return 1;
    }
    b->phdrs[b->n++] = info->dlpi_phdr;
    return 0;
}

static int compare_pointers(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (const void *const *)a, y = (uintptr_t) * (const void *const *)b;
    return x < y ? -1 : x > y;
}

void ts_db_before_take(struct ts_db_before *before)
{
    *before = (struct ts_db_before){0};
    struct before_walk w = {before, 0};
    dl_iterate_phdr(note_before, &w);
    if (before->n)
        qsort(before->phdrs, before->n, sizeof *before->phdrs, compare_pointers);
}

void ts_db_before_free(struct ts_db_before *before)
{
    free(before->phdrs);
    before->phdrs = NULL;
}

static int read_counts(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    unsigned long long *counts = arg;
    counts[0] = info->dlpi_adds;
    counts[1] = info->dlpi_subs;
    return 1; /* every object has the same counts */
}

bool ts_db_loaded_since(const struct ts_db_before *before)
{
    unsigned long long counts[2] = {0, 0};
    dl_iterate_phdr(read_counts, counts);
    return counts[0] != before->adds;
}

static bool was_there(const struct ts_db_before *before, const void *phdr)
{
    return before->n &&
           bsearch(&phdr, before->phdrs, before->n, sizeof *before->phdrs, compare_pointers);
}

/* --- after the call */

struct after_walk {
    struct ts_db_objects *all;
    const struct ts_db_before *before;
    const void *root; /* the dynamic section of the object the handle names */
    bool unsure;      /* objects were unloaded meanwhile: a new one may sit where an old one was */
};

void ts_db_objects_free(struct ts_db_objects *all)
{
    for (size_t i = 0; i < all->n; i++) {
        struct ts_db_object *o = &all->objects[i];
        for (size_t k = 0; k < o->n_needed; k++)
            free(o->needed[k]);
        free(o->needed);
        free(o->name);
    }
    free(all->objects);
    *all = (struct ts_db_objects){0};
}

/* Its NEEDED names, from its dynamic section (of a new object, or the
 * root). */
static bool copy_names(const struct dl_phdr_info *info, struct ts_db_object *o)
{
    const char *strtab = NULL;
    size_t cap = 0;
    for (const ElfW(Dyn) *dyn = o->dynamic; dyn && dyn->d_tag != DT_NULL; dyn++)
        if (dyn->d_tag == DT_STRTAB)
            strtab = (const char *)ts_dyn_address(info, dyn->d_un.d_ptr);
    if (!strtab)
        return true; /* no names: its dependencies stay unheld (pinned) */
    for (const ElfW(Dyn) *dyn = o->dynamic; dyn && dyn->d_tag != DT_NULL; dyn++) {
        if (dyn->d_tag == DT_NEEDED) {
            char *needed = strdup(strtab + dyn->d_un.d_val);
            if (!needed || !ts_db_grow((void **)&o->needed, &cap, o->n_needed, sizeof *o->needed)) {
                free(needed);
                return false;
            }
            o->needed[o->n_needed++] = needed;
        }
    }
    return true;
}

static int note_after(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct after_walk *w = arg;
    struct ts_db_objects *all = w->all;
    if (!ts_db_grow((void **)&all->objects, &all->cap, all->n, sizeof *all->objects)) {
        all->partial = true;
        return 1;
    }
    struct ts_db_object *o = &all->objects[all->n];
    if (all->n == 0) /* the counts that go with the list this walk sees */
        w->unsure = info->dlpi_subs != w->before->subs;
    bool there = w->before->partial || was_there(w->before, info->dlpi_phdr);
    *o = (struct ts_db_object){
        .info = *info,
        .dynamic = ts_dynamic_of(info),
        .fresh = !there || w->unsure,
        .surely_new = !there,
    };
    /* bound whatever the snapshot says: another thread's dlclose may have
     * freed the very place it was then loaded at */
    o->root = o->held = w->root && o->dynamic == w->root;
    if (!o->fresh && !o->root)
        return (all->n++, 0); /* its identity is all that is needed of it */
    if (!(o->name = strdup(info->dlpi_name ? info->dlpi_name : "")) || !copy_names(info, o)) {
        o->fresh = o->surely_new = o->held = o->root = false; /* left alone */
        all->n++;                                             /* freed with the rest */
        all->partial = true;
        return 1;
    }
    all->n++;
    return 0;
}

/* The SONAME of an object, read live, in a walk; NULL when it has none.
 * A DT_NEEDED entry names the SONAME of the library it was linked with,
 * and the loader takes the first loaded object that goes by it. (The
 * loader also matches the names an object was opened by and its path,
 * which are not to be read here: an object found only so is not taken
 * for held, and is pinned; one without a SONAME likewise.) */
static const char *soname_of(const struct dl_phdr_info *info)
{
    const char *strtab = NULL;
    size_t soname = 0;
    bool has_soname = false;
    for (const ElfW(Dyn) *dyn = ts_dynamic_of(info); dyn && dyn->d_tag != DT_NULL; dyn++) {
        if (dyn->d_tag == DT_STRTAB)
            strtab = (const char *)ts_dyn_address(info, dyn->d_un.d_ptr);
        else if (dyn->d_tag == DT_SONAME)
            has_soname = true, soname = dyn->d_un.d_val;
    }
    return has_soname && strtab ? strtab + soname : NULL;
}

/* One pass's names, each matched to the first loaded object that goes by
 * it, in the loader's order: as the loader took it. */
struct name_match {
    const char **names;
    const void **found; /* the matching object's dynamic section */
    size_t n;
};

static int match_names(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct name_match *m = arg;
    const char *name = soname_of(info);
    for (size_t k = 0; name && k < m->n; k++)
        if (!m->found[k] && strcmp(m->names[k], name) == 0)
            m->found[k] = ts_dynamic_of(info);
    return 0;
}

/* Mark held the new object the loader took for each DT_NEEDED name of a
 * held one (the root first), pass by pass down the dependencies. */
static void mark_held(struct ts_db_objects *all)
{
    bool *expanded = calloc(all->n ? all->n : 1, sizeof *expanded);
    struct name_match m = {0};
    size_t cap = 0;
    for (bool more = expanded != NULL; more;) {
        m.n = 0;
        for (size_t i = 0; i < all->n; i++) {
            struct ts_db_object *o = &all->objects[i];
            if (!o->held || expanded[i])
                continue;
            expanded[i] = true;
            for (size_t k = 0; k < o->n_needed; k++) {
                if (m.n == cap) {
                    size_t grown = cap ? cap * 2 : 32;
                    const char **names = realloc(m.names, grown * sizeof *names);
                    const void **found = names ? realloc(m.found, grown * sizeof *found) : NULL;
                    if (names)
                        m.names = names;
                    if (!names || !found)
                        goto out; /* the rest stay unheld: pinned */
                    m.found = found;
                    cap = grown;
                }
                m.names[m.n] = o->needed[k];
                m.found[m.n++] = NULL;
            }
        }
        if (m.n == 0)
            break;
        dl_iterate_phdr(match_names, &m);
        more = false;
        for (size_t k = 0; k < m.n; k++)
            for (size_t i = 0; m.found[k] && i < all->n; i++) {
                struct ts_db_object *dep = &all->objects[i];
                if (dep->dynamic == m.found[k] && dep->fresh && !dep->held)
                    more = dep->held = true;
            }
    }
out:
    free(m.names);
    free(m.found);
    free(expanded);
}

void ts_db_objects_take(struct ts_db_objects *all, const struct ts_db_before *before, void *handle)
{
    *all = (struct ts_db_objects){0};
    struct link_map *map = NULL;
    if (dlinfo(handle, RTLD_DI_LINKMAP, &map) != 0)
        map = NULL;
    struct after_walk w = {all, before, map ? (const void *)map->l_ld : NULL, false};
    dl_iterate_phdr(note_after, &w);
    mark_held(all);
}
