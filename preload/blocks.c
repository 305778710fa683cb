/* blocks.c — fixed-size blocks from mmap'd chunks (see blocks.h). */
#include "blocks.h"

#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>

#define CHUNK_MIN ((size_t)64 << 10)

/* The start of every chunk: the list destroy walks. 16 bytes, so the blocks
 * after it keep their 16-byte alignment. */
struct chunk_header {
    struct chunk_header *next;
    size_t bytes;
};

/* A fresh chunk for p (lock held): at least CHUNK_MIN, at least one block. */
static bool refill(struct ts_block_pool *p)
{
    size_t need = sizeof(struct chunk_header) + p->size;
    size_t bytes = need > CHUNK_MIN ? need : CHUNK_MIN;
    struct chunk_header *chunk =
        mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (chunk == MAP_FAILED)
        return false;
    chunk->next = p->chunks;
    chunk->bytes = bytes;
    p->chunks = chunk;
    /* What is left of the previous chunk (less than a block) is given up. */
    p->next = (char *)(chunk + 1);
    p->end = (char *)chunk + bytes;
    return true;
}

void *ts_block_get(struct ts_block_pool *p)
{
    void *b = NULL;
    pthread_mutex_lock(&p->mu);
    if (p->free) {
        b = p->free;
        memcpy(&p->free, b, sizeof p->free);
    } else if ((size_t)(p->end - p->next) >= p->size || refill(p)) {
        b = p->next;
        p->next += p->size;
        p->carved++;
    }
    pthread_mutex_unlock(&p->mu);
    return b;
}

void ts_block_put(struct ts_block_pool *p, void *block)
{
    if (!block)
        return;
    pthread_mutex_lock(&p->mu);
    memcpy(block, &p->free, sizeof p->free);
    p->free = block;
    pthread_mutex_unlock(&p->mu);
}

size_t ts_block_pool_carved(struct ts_block_pool *p)
{
    pthread_mutex_lock(&p->mu);
    size_t n = p->carved;
    pthread_mutex_unlock(&p->mu);
    return n;
}

void ts_block_pool_destroy(struct ts_block_pool *p)
{
    pthread_mutex_lock(&p->mu);
    struct chunk_header *chunk = p->chunks;
    p->chunks = NULL;
    p->free = NULL;
    p->next = p->end = NULL;
    p->carved = 0;
    pthread_mutex_unlock(&p->mu);
    while (chunk) {
        struct chunk_header *next = chunk->next;
        munmap(chunk, chunk->bytes);
        chunk = next;
    }
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

void ts_buf_after_fork(void)
{
    for (int i = 0; i < BUF_CLASSES; i++)
        ts_block_pool_after_fork(&buf_pools[i]);
}
