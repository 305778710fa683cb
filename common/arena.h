/* arena.h — a bump allocator of 64 KiB blocks, freed all at once: the
 * viewer's parsed documents and trace model live in one each. */
#ifndef TS_ARENA_H
#define TS_ARENA_H

#include <stddef.h>

struct ts_arena_block;

struct ts_arena {
    struct ts_arena_block *blocks; /* zero-initialised: an empty arena */
};

/* n bytes aligned to 16, or NULL when out of memory. */
void *ts_arena_alloc(struct ts_arena *a, size_t n);

/* Free every block; the arena is empty again. */
void ts_arena_free(struct ts_arena *a);

#endif
