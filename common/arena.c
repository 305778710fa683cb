/* arena.c — the bump allocator (see arena.h). */
#include "common/arena.h"

#include <stdint.h>
#include <stdlib.h>

#define ARENA_BLOCK 65536
#define ARENA_ALIGN 16

struct ts_arena_block {
    struct ts_arena_block *next;
    size_t used, cap;
    _Alignas(ARENA_ALIGN) unsigned char data[];
};

void *ts_arena_alloc(struct ts_arena *a, size_t n)
{
    if (n > SIZE_MAX - ARENA_ALIGN)
        return NULL;
    n = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (n == 0)
        n = ARENA_ALIGN;
    struct ts_arena_block *b = a->blocks;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > ARENA_BLOCK ? n : ARENA_BLOCK;
        if (cap > SIZE_MAX - sizeof(*b))
            return NULL;
        b = malloc(sizeof(*b) + cap);
        if (!b)
            return NULL;
        b->used = 0;
        b->cap = cap;
        /* A one-off big block goes behind the current one, so the current
         * block's free space keeps being used. */
        if (a->blocks && cap > ARENA_BLOCK) {
            b->next = a->blocks->next;
            a->blocks->next = b;
        } else {
            b->next = a->blocks;
            a->blocks = b;
        }
    }
    void *r = b->data + b->used;
    b->used += n;
    return r;
}

void ts_arena_free(struct ts_arena *a)
{
    struct ts_arena_block *b = a->blocks;
    while (b) {
        struct ts_arena_block *next = b->next;
        free(b);
        b = next;
    }
    a->blocks = NULL;
}
