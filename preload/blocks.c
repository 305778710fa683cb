/* blocks.c — fixed-size blocks from mmap'd chunks (see blocks.h). */
#include "blocks.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#define CHUNK_MIN ((size_t)64 << 10)

/* The start of every chunk; its blocks follow. A multiple of 16 bytes, so
 * the blocks keep their 16-byte alignment. */
struct ts_block_chunk {
    struct ts_block_chunk *usable_prev, *usable_next; /* in pool->usable, when listed */
    struct ts_block_chunk *all_prev, *all_next;       /* in pool->all */
    void *free;       /* its blocks given back, linked through their first word */
    char *next, *end; /* its part not handed out yet */
    size_t in_use;    /* blocks handed out and not given back */
    size_t carved;    /* blocks handed out of next..end so far */
    size_t bytes;     /* the chunk's size, a power of two: its alignment too */
    bool listed;      /* in pool->usable */
    char pad[15];
};

_Static_assert(sizeof(struct ts_block_chunk) % 16 == 0, "blocks after the header stay 16-aligned");

/* The chunk size for blocks of this size: a power of two, so a block's
 * chunk is its address rounded down. */
static size_t chunk_bytes(size_t block)
{
    size_t need = sizeof(struct ts_block_chunk) + block, bytes = CHUNK_MIN;
    while (bytes < need)
        bytes <<= 1;
    return bytes;
}

static struct ts_block_chunk *chunk_of(const struct ts_block_pool *p, const void *block)
{
    return (struct ts_block_chunk *)((uintptr_t)block & ~(uintptr_t)(chunk_bytes(p->size) - 1));
}

/* bytes of fresh memory aligned to bytes (a power of two): twice as much
 * is mapped and the parts before and after the aligned range are unmapped. */
static void *map_aligned(size_t bytes)
{
    char *raw = mmap(NULL, 2 * bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED)
        return NULL;
    char *aligned = (char *)(((uintptr_t)raw + bytes - 1) & ~(uintptr_t)(bytes - 1));
    if (aligned > raw)
        munmap(raw, (size_t)(aligned - raw));
    char *tail = aligned + bytes, *raw_end = raw + 2 * bytes;
    if (raw_end > tail)
        munmap(tail, (size_t)(raw_end - tail));
    return aligned;
}

/* ------------------------------------------------------------- lists */

static void usable_push_front(struct ts_block_pool *p, struct ts_block_chunk *c)
{
    c->usable_prev = NULL;
    c->usable_next = p->usable;
    if (p->usable)
        p->usable->usable_prev = c;
    else
        p->usable_last = c;
    p->usable = c;
    c->listed = true;
}

static void usable_push_back(struct ts_block_pool *p, struct ts_block_chunk *c)
{
    c->usable_prev = p->usable_last;
    c->usable_next = NULL;
    if (p->usable_last)
        p->usable_last->usable_next = c;
    else
        p->usable = c;
    p->usable_last = c;
    c->listed = true;
}

static void usable_remove(struct ts_block_pool *p, struct ts_block_chunk *c)
{
    if (c->usable_prev)
        c->usable_prev->usable_next = c->usable_next;
    else
        p->usable = c->usable_next;
    if (c->usable_next)
        c->usable_next->usable_prev = c->usable_prev;
    else
        p->usable_last = c->usable_prev;
    c->usable_prev = c->usable_next = NULL;
    c->listed = false;
}

static void all_remove(struct ts_block_pool *p, struct ts_block_chunk *c)
{
    if (c->all_prev)
        c->all_prev->all_next = c->all_next;
    else
        p->all = c->all_next;
    if (c->all_next)
        c->all_next->all_prev = c->all_prev;
}

/* ------------------------------------------------------------ chunks */

/* A fresh chunk for p (lock held), first in line to give blocks. */
static struct ts_block_chunk *chunk_new(struct ts_block_pool *p)
{
    size_t bytes = chunk_bytes(p->size);
    struct ts_block_chunk *c = map_aligned(bytes);
    if (!c)
        return NULL;
    memset(c, 0, sizeof *c);
    c->bytes = bytes;
    c->next = (char *)(c + 1);
    c->end = (char *)c + bytes;
    c->all_next = p->all;
    if (p->all)
        p->all->all_prev = c;
    p->all = c;
    usable_push_front(p, c);
    p->empty_chunks++;
    return c;
}

static bool chunk_has_block(const struct ts_block_pool *p, const struct ts_block_chunk *c)
{
    return c->free || (size_t)(c->end - c->next) >= p->size;
}

/* ---------------------------------------------------------------- API */

void *ts_block_get(struct ts_block_pool *p)
{
    void *b = NULL;
    pthread_mutex_lock(&p->mu);
    struct ts_block_chunk *c = p->usable ? p->usable : chunk_new(p);
    if (c) {
        if (c->free) {
            b = c->free;
            memcpy(&c->free, b, sizeof c->free);
        } else {
            b = c->next;
            c->next += p->size;
            c->carved++;
            p->carved++;
        }
        if (c->in_use++ == 0)
            p->empty_chunks--;
        if (!chunk_has_block(p, c))
            usable_remove(p, c);
    }
    pthread_mutex_unlock(&p->mu);
    return b;
}

void ts_block_put(struct ts_block_pool *p, void *block)
{
    if (!block)
        return;
    struct ts_block_chunk *c = chunk_of(p, block);
    struct ts_block_chunk *unmap = NULL;
    pthread_mutex_lock(&p->mu);
    memcpy(block, &c->free, sizeof c->free);
    c->free = block;
    if (--c->in_use > 0) {
        /* A full chunk can give again: first in line, as the fullest
         * (blocks come from full chunks' holes, the emptier ones drain),
         * and the block just given back is the next one out, still in the
         * cache. */
        if (!c->listed)
            usable_push_front(p, c);
    } else if (p->empty_chunks > 0) {
        /* A second empty chunk: the burst that needed it is over. */
        if (c->listed)
            usable_remove(p, c);
        all_remove(p, c);
        p->carved -= c->carved;
        unmap = c;
    } else {
        /* The one kept as a spare: last in line, so that blocks come from
         * the chunks in use while they have any. */
        if (c->listed)
            usable_remove(p, c);
        usable_push_back(p, c);
        p->empty_chunks++;
    }
    pthread_mutex_unlock(&p->mu);
    if (unmap)
        munmap(unmap, unmap->bytes);
}

size_t ts_block_pool_carved(struct ts_block_pool *p)
{
    pthread_mutex_lock(&p->mu);
    size_t n = p->carved;
    pthread_mutex_unlock(&p->mu);
    return n;
}

size_t ts_block_pool_chunks(struct ts_block_pool *p, size_t *bytes)
{
    size_t n = 0, total = 0;
    pthread_mutex_lock(&p->mu);
    for (struct ts_block_chunk *c = p->all; c; c = c->all_next) {
        n++;
        total += c->bytes;
    }
    pthread_mutex_unlock(&p->mu);
    if (bytes)
        *bytes = total;
    return n;
}

void ts_block_pool_destroy(struct ts_block_pool *p)
{
    pthread_mutex_lock(&p->mu);
    struct ts_block_chunk *c = p->all;
    p->all = p->usable = p->usable_last = NULL;
    p->carved = p->empty_chunks = 0;
    pthread_mutex_unlock(&p->mu);
    while (c) {
        struct ts_block_chunk *next = c->all_next;
        munmap(c, c->bytes);
        c = next;
    }
}

void ts_block_pool_fork_prepare(struct ts_block_pool *p)
{
    pthread_mutex_lock(&p->mu);
}

void ts_block_pool_fork_parent(struct ts_block_pool *p)
{
    pthread_mutex_unlock(&p->mu);
}

void ts_block_pool_after_fork(struct ts_block_pool *p)
{
    pthread_mutex_init(&p->mu, NULL);
}

/* ------------------------------------------------------------- buffers */

#define BUF_CLASSES 12 /* 1 KiB << 0 ... 1 KiB << 11 = 2 MiB */

static struct ts_block_pool buf_pools[BUF_CLASSES] = {
    TS_BLOCK_POOL_INIT(TS_BUF_MIN << 0),  TS_BLOCK_POOL_INIT(TS_BUF_MIN << 1),
    TS_BLOCK_POOL_INIT(TS_BUF_MIN << 2),  TS_BLOCK_POOL_INIT(TS_BUF_MIN << 3),
    TS_BLOCK_POOL_INIT(TS_BUF_MIN << 4),  TS_BLOCK_POOL_INIT(TS_BUF_MIN << 5),
    TS_BLOCK_POOL_INIT(TS_BUF_MIN << 6),  TS_BLOCK_POOL_INIT(TS_BUF_MIN << 7),
    TS_BLOCK_POOL_INIT(TS_BUF_MIN << 8),  TS_BLOCK_POOL_INIT(TS_BUF_MIN << 9),
    TS_BLOCK_POOL_INIT(TS_BUF_MIN << 10), TS_BLOCK_POOL_INIT(TS_BUF_MIN << 11),
};

/* The class of a buffer of exactly cap bytes (a class size), or -1. */
static int class_of(size_t cap)
{
    for (int i = 0; i < BUF_CLASSES; i++)
        if (buf_pools[i].size == cap)
            return i;
    return -1;
}

bool ts_buf_reserve(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return true;
    int k = 0;
    while (k < BUF_CLASSES && buf_pools[k].size < need)
        k++;
    if (k == BUF_CLASSES)
        return false;
    char *b = ts_block_get(&buf_pools[k]);
    if (!b)
        return false;
    if (*buf) {
        memcpy(b, *buf, *cap);
        ts_buf_release(buf, cap);
    }
    *buf = b;
    *cap = buf_pools[k].size;
    return true;
}

void ts_buf_release(char **buf, size_t *cap)
{
    int k = *buf ? class_of(*cap) : -1;
    if (k >= 0)
        ts_block_put(&buf_pools[k], *buf);
    *buf = NULL;
    *cap = 0;
}

void ts_buf_fork_prepare(void)
{
    for (int i = 0; i < BUF_CLASSES; i++)
        ts_block_pool_fork_prepare(&buf_pools[i]);
}

void ts_buf_fork_parent(void)
{
    for (int i = BUF_CLASSES - 1; i >= 0; i--)
        ts_block_pool_fork_parent(&buf_pools[i]);
}

void ts_buf_after_fork(void)
{
    for (int i = 0; i < BUF_CLASSES; i++)
        ts_block_pool_after_fork(&buf_pools[i]);
}
