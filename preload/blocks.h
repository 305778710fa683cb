/* blocks.h — fixed-size memory blocks for what a traced call needs
 * (connection objects, span records, head and wire buffers), without
 * malloc.
 *
 * A traced call may run inside a signal handler: write, send, read and the
 * rest are async-signal-safe, and programs do call them from handlers. If
 * the handler interrupted the program inside malloc, a malloc from the
 * shim would wait for the arena lock its own thread holds, forever (seen:
 * a main loop that allocates, a SIGALRM handler that writes a request on a
 * traced socket). So these blocks come from mmap (a system call, safe
 * anywhere) and go back to a free list, never to the system. A pool's lock
 * is only taken under the reentrancy guard: a handler that interrupts its
 * holder passes straight through the hooks and never reaches it.
 *
 * Memory is taken from the system in chunks of at least 64 KiB and handed
 * out block by block, so only the blocks in use are ever touched. A block
 * is carved from a chunk only when the free list is empty, so a pool's
 * footprint (ts_block_pool_carved) is the most blocks it ever had in use at
 * once: that high-water mark stays resident, as nothing goes back to the
 * system while the process runs. */
#ifndef TS_BLOCKS_H
#define TS_BLOCKS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

struct ts_block_pool {
    pthread_mutex_t mu;
    size_t size;      /* bytes per block, a multiple of 16 */
    void *free;       /* blocks given back, linked through their first word */
    char *next, *end; /* the rest of the current chunk */
    size_t carved;    /* blocks ever handed out of chunks (the high-water mark) */
    void *chunks;     /* every chunk, linked through its header (for destroy) */
};

#define TS_BLOCK_POOL_INIT(bytes)                                                                  \
    {PTHREAD_MUTEX_INITIALIZER, ((bytes) + 15) & ~(size_t)15, 0, 0, 0, 0, 0}

/* A block of p->size bytes (contents undefined), or NULL when the system
 * has no memory. */
void *ts_block_get(struct ts_block_pool *p);

/* Give a block of this pool back. */
void ts_block_put(struct ts_block_pool *p, void *block);

/* How many blocks the pool has taken from its chunks so far: the most it
 * ever had in use at once, i.e. what it keeps (p->size bytes each). */
size_t ts_block_pool_carved(struct ts_block_pool *p);

/* Give every chunk back to the system: for a pool whose blocks are all out
 * of use for good (a test's, a destroyed queue's). The pool is empty and
 * usable afterwards. Not for a pool that may still be probed. */
void ts_block_pool_destroy(struct ts_block_pool *p);

/* In a forked child: the lock may have been held by a thread that is gone
 * (the free list is consistent at every instant: at worst a block is lost). */
void ts_block_pool_after_fork(struct ts_block_pool *p);

/* Growable byte buffers from size classes of 1 KiB, 2 KiB, ... 2 MiB. */
#define TS_BUF_MIN ((size_t)1 << 10)
#define TS_BUF_MAX ((size_t)1 << 21)

/* Make *buf (of capacity *cap, 0 for none) hold at least need bytes, keeping
 * its contents; false (buffer unchanged) when need is past TS_BUF_MAX or
 * there is no memory. */
bool ts_buf_reserve(char **buf, size_t *cap, size_t need);

/* Give a buffer back (NULL is fine); *buf and *cap are cleared. */
void ts_buf_release(char **buf, size_t *cap);

/* After fork, in the child: every size class's lock. */
void ts_buf_after_fork(void);

#endif
