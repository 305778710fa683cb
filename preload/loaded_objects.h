/* loaded_objects.h — which loaded object (the program, a shared library)
 * holds each of some addresses, answered in one walk of the loader's list.
 *
 * Why not dladdr: it also looks for the symbol nearest the address, and
 * does so by reading the object's whole dynamic symbol table, about 48,000
 * instructions for an address in glibc (callgrind). The shim asks where
 * each function it resolves at start-up lives (its own hook? glibc's?),
 * and with dladdr that was 7 million instructions, most of a millisecond,
 * added to the start of every traced process. dl_iterate_phdr visits each
 * object's program headers once for all the addresses asked about. */
#ifndef TS_LOADED_OBJECTS_H
#define TS_LOADED_OBJECTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* An object's identity while it stays loaded: where its lowest loaded
 * segment starts; 0 for an address that no loaded object holds. */
typedef uintptr_t ts_object_id;

struct dl_phdr_info;

/* Does one of the loaded segments of the object dl_iterate_phdr describes
 * hold addr? */
bool ts_object_info_holds(const struct dl_phdr_info *info, uintptr_t addr);

/* ids[i] = the object holding addrs[i], for each i < n. */
void ts_objects_of(const void *const *addrs, ts_object_id *ids, size_t n);

/* Does the object holding home (which must be in one) hold every one of
 * addrs[0..n)? */
bool ts_object_holds_all(const void *home, const void *const *addrs, size_t n);

#endif
