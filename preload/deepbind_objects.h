/* deepbind_objects.h — which loaded objects a dlopen brought in, and which
 * of them its handle holds, for the RTLD_DEEPBIND binding (deepbind.h).
 *
 * Both walks (dl_iterate_phdr) only copy: the walk holds the loader's list
 * lock, which dlopen, dlclose and dlsym take after their own load lock, so
 * a dl* call inside it would deadlock with a dlopen on another thread.
 * (They allocate with malloc: an allocator that calls dlsym on its first
 * use has made that use long before.)
 *
 * "New" is "not there before the call": the objects the call loaded, the
 * ones a constructor it ran opened, and any another thread loaded
 * meanwhile. Of the new ones, those the handle holds are the one it names
 * and the dependencies the loader gave it: each DT_NEEDED name of a held
 * object is matched as the loader matches it, against every loaded object
 * in the loader's order, the first whose SONAME it is being the one; it is
 * held if it is new. Those
 * were loaded and relocated by the call (or by a load that was done
 * before it began) and stay loaded while the caller keeps the handle; the
 * other new ones must be pinned before they are read. */
#ifndef TS_DEEPBIND_OBJECTS_H
#define TS_DEEPBIND_OBJECTS_H

#include <link.h>
#include <stdbool.h>
#include <stddef.h>

/* The objects loaded before the call, by the address of their program
 * headers (one per loaded object), sorted; and the loader's counts of
 * loads and unloads then. */
struct ts_db_before {
    const void **phdrs;
    size_t n;
    unsigned long long adds, subs;
    bool partial; /* out of memory: more objects look new */
};

void ts_db_before_take(struct ts_db_before *before);
void ts_db_before_free(struct ts_db_before *before);

/* Has any object been loaded since? */
bool ts_db_loaded_since(const struct ts_db_before *before);

/* One loaded object, copied out of the walk after the call. */
struct ts_db_object {
    struct dl_phdr_info info; /* its headers: valid while it stays loaded */
    const void *dynamic;      /* its dynamic section: its identity */
    char *name;               /* dlpi_name, of new objects and the root only */
    char **needed;            /* DT_NEEDED, the same */
    size_t n_needed;
    bool fresh;      /* maybe not there before the call (unloads meanwhile make it unsure) */
    bool surely_new; /* not there before the call: no object had its place then */
    bool held;       /* the handle holds it (see the top) */
    bool root;       /* the object the handle names */
};

struct ts_db_objects {
    struct ts_db_object *objects; /* in the loader's order */
    size_t n, cap;
    bool partial; /* out of memory: some left out */
};

/* Every loaded object, in the loader's order, the new ones and the held
 * ones marked (handle: the dlopen's answer). */
void ts_db_objects_take(struct ts_db_objects *all, const struct ts_db_before *before, void *handle);
void ts_db_objects_free(struct ts_db_objects *all);

/* Room for item n of the array *items (of *cap items of size bytes),
 * doubled when full; false when out of memory. */
bool ts_db_grow(void **items, size_t *cap, size_t n, size_t size);

#endif
