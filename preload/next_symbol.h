/* next_symbol.h — what dlsym(RTLD_NEXT, name) answers for a module, read
 * from the dynamic symbol tables of the objects loaded after it.
 *
 * Why not dlsym alone: each call takes the loader's lock, sets up its
 * error catching and finds the caller's object before it looks the name
 * up, about 900 instructions, and the shim resolves 60 real functions at
 * every process's start (preload/real.c): 57,000 of the 194,000
 * instructions it added to /bin/true. Here the objects are listed once
 * (dl_iterate_phdr) and each name costs a GNU hash lookup in each object
 * until one defines it.
 *
 * The answer is the loader's for the objects the program started with,
 * which it searches in the order they were loaded (breadth first from the
 * program, preloaded ones first), with its rule for a name asked without
 * a version: a definition without one, else the one public version; a
 * weak definition is as good as a global one (unless LD_DYNAMIC_WEAK is
 * set, which the caller checks, as it checks for LD_AUDIT).
 * Whatever that rule does not settle plainly (an IFUNC, two public
 * versions, an object without a GNU hash table) is answered NULL, as is a
 * name no object defines: the caller asks dlsym then. */
#ifndef TS_NEXT_SYMBOL_H
#define TS_NEXT_SYMBOL_H

#include <elf.h>
#include <link.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The native class's symbol and version entries. */
typedef ElfW(Sym) ts_elf_sym;
typedef ElfW(Half) ts_elf_version;

/* One object's dynamic symbol table. */
struct ts_symbol_table {
    uintptr_t base; /* what its symbols' values are relative to */
    const ts_elf_sym *symbols;
    const char *names;
    const uint32_t *gnu_hash;
    const ts_elf_version *versions; /* NULL: no symbol versions */
};

/* The objects after a module, at most TS_NEXT_OBJECTS_MAX of them (a
 * name none of those defines is answered NULL): room for the seven after
 * nginx's or Node's shim (their libraries and the loader), kept small as
 * it lives on the stack of the start, which may be a small thread's. */
#define TS_NEXT_OBJECTS_MAX 16
struct ts_next_objects {
    unsigned n;
    struct ts_symbol_table table[TS_NEXT_OBJECTS_MAX];
};

/* The objects loaded after the one that holds `self` (an address in the
 * module that asks). False when they cannot all be searched here: one has
 * no GNU hash table, the program or one of them asks for an auditing
 * library, self is in no object, or none of them holds must_follow (an
 * address in the C library: a module loaded after it, by dlopen, has
 * dlsym search objects loaded before it). Use dlsym then. */
bool ts_next_objects_list(struct ts_next_objects *next, const void *self, const void *must_follow);

/* The first definition of name in next's objects, as dlsym(RTLD_NEXT)
 * would find it; NULL when there is none or the loader's rule would not
 * settle it plainly (see the top of the file). */
void *ts_next_symbol(const struct ts_next_objects *next, const char *name);

/* Does an object loaded after the one holding self, and before the C
 * library (the one holding libc), define a function the object holding
 * self calls: one of its undefined function symbols, or one of
 * names[0..n) (those it reaches through dlsym(RTLD_NEXT))? Those objects
 * are where its calls go before the C library's (the loader searches the
 * objects the program started with in the order they were loaded); the
 * vDSO, the loader itself and a sanitizer's runtime (AddressSanitizer's
 * after the shim, as `traceshim run` puts an LD_PRELOAD it finds: its
 * interceptors work until the process ends) are not counted. True too
 * when self's table or one of those objects' cannot be read here (no GNU
 * hash table): the caller then assumes its calls may reach another
 * library. */
bool ts_next_objects_define_calls(const void *self, const void *libc, const char *const *names,
                                  size_t n);

/* The object's symbol table, from its dynamic section; false when it has
 * no GNU hash table to look names up in, or asks for an auditor. */
bool ts_symbol_table_read(const struct dl_phdr_info *info, struct ts_symbol_table *t);

/* name's definition in t, by the rule at the top of the file; NULL when t
 * does not define it or the rule does not settle it plainly. */
void *ts_symbol_table_find(const struct ts_symbol_table *t, const char *name);

/* The end of the symbols t's GNU hash table holds (all definitions):
 * they are those from index gnu_hash[1] up to it. */
uint32_t ts_symbol_table_hashed_end(const struct ts_symbol_table *t);

/* The object's dynamic section; NULL when it has none. */
const ElfW(Dyn) * ts_dynamic_of(const struct dl_phdr_info *info);

/* A dynamic entry's address in memory, 0 when it is in none of the
 * object's segments (see next_symbol.c). */
uintptr_t ts_dyn_address(const struct dl_phdr_info *info, ElfW(Addr) ptr);

/* The GNU hash of a symbol's name (the hash of the .gnu.hash section). */
uint32_t ts_gnu_hash(const char *name);

#endif
