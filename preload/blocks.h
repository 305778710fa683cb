/* blocks.h — fixed-size memory blocks for what a traced call needs
 * (connection objects, span records, head and wire buffers), without
 * malloc.
 *
 * A traced call may run inside a signal handler: write, send, read and the
 * rest are async-signal-safe, and programs do call them from handlers. If
 * the handler interrupted the program inside malloc, a malloc from the
 * shim would wait for the arena lock its own thread holds, forever (seen:
 * a main loop that allocates, a SIGALRM handler that writes a request on a
 * traced socket). So these blocks come from mmap and munmap (system calls,
 * safe anywhere). A pool's lock is only taken under the reentrancy guard:
 * a handler that interrupts its holder passes straight through the hooks
 * and never reaches it.
 *
 * A pool is a slab allocator. Memory is taken from the system in chunks
 * of at least 64 KiB, aligned to their size so that a block finds its
 * chunk from its own address; a chunk hands out its blocks one by one, so
 * only blocks ever used are touched. Blocks are taken from chunks that
 * already hold some in use before an empty one, so that after a burst (a
 * backlog of spans while the reporter thread was not scheduled, a spike of
 * connections) the chunks it needed drain and go back to the system.
 *
 * An emptied chunk is not unmapped at once: a queue's records rise and
 * fall by a batch every few milliseconds, and giving the drained chunks
 * back each time cost a map, an unmap (a TLB shootdown across the
 * program's threads) and a page fault per 4 KiB touched again, a few
 * hundred nanoseconds per span. Empty chunks wait as spares, the most
 * recently emptied given out first, so that the ones a shrinking load no
 * longer reaches grow old: a spare empty for TS_BLOCK_SPARE_HOLD_MS is
 * unmapped the next time a chunk empties or the pool is trimmed
 * (ts_block_pool_trim, which the reporter thread calls when idle), and the
 * spares never hold more than TS_BLOCK_SPARE_BYTES. While blocks come and
 * go one spare is always kept (no map and unmap at a chunk's edge); an
 * idle trim lets that one go too. Resident memory follows what was in use
 * in the last second or so, not the most ever in use. */
#ifndef TS_BLOCKS_H
#define TS_BLOCKS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

struct ts_block_chunk; /* blocks.c */

/* A doubly linked list of chunks. */
struct ts_block_list {
    struct ts_block_chunk *first, *last;
};

struct ts_block_pool {
    pthread_mutex_t mu;
    size_t size;                 /* bytes per block, a multiple of 16 */
    struct ts_block_list usable; /* chunks with a block to give: taken from first */
    struct ts_block_list spares; /* empty chunks, the most recently emptied first */
    size_t spare_count;
    struct ts_block_chunk *all;  /* every chunk the pool holds */
    size_t carved;               /* blocks carved in the chunks held (touched memory) */
    size_t maps;                 /* chunks ever mapped: a pool that thrashes shows here */
    /* Per-thread caching (see below). */
    unsigned cache_depth; /* blocks a thread keeps for itself (at most
                             TS_BLOCK_CACHE_DEPTH); 0: none */
    int cache_slot;       /* atomic: its place in every thread's cache, 1-based; 0 none
                             yet, -1 none to be had (every place taken) */
};

#define TS_BLOCK_POOL_INIT(bytes) TS_BLOCK_POOL_INIT_CACHED(bytes, 0)

/* Per-thread caches, for pools whose blocks nearly always go back to the
 * thread that took them (a request's span record, a head buffer): a
 * thread keeps up to `depth` free blocks of such a pool for itself, and a
 * get or put it can serve from them takes no lock (the profile of a traced
 * HTTP exchange showed five gets and five puts, each taking a pool's
 * mutex). A get the cache cannot serve takes one block from the pool, a
 * put into a full cache gives it to the pool. Blocks another thread gives
 * back (the queue's records, which the reporter thread returns) are better
 * given back in bulk: ts_block_put_many.
 *
 * Cached blocks count as in use to the pool (carved, chunks held). What the
 * caches hold is bounded and always goes back:
 *  - a thread that exits gives its blocks back (a pthread key's
 *    destructor; glibc runs it with nothing allocated as long as the key is
 *    among the first 32 of the process: when it is not, threads do not
 *    cache at all);
 *  - ts_block_pool_trim first takes back every thread's cached blocks of
 *    the pool, so an idle trim leaves none behind (a chunk one of them
 *    empties counts as emptied at that trim), and the reporter's idle
 *    time takes back those of every pool (ts_block_caches_give_back);
 *  - ts_block_pool_destroy drops them;
 *  - in a forked child, the caches of the parent's other threads are lost
 *    (at most depth blocks of each caching pool per such thread): those
 *    threads are gone and where they had got to is not known.
 * The caches are thread-local (initial-exec TLS: no allocation on first
 * use) and used under the reentrancy guard, like the pool locks. At most
 * TS_BLOCK_CACHE_POOLS pools cache at once (a destroyed one frees its
 * place); the others simply take their lock every time. */
#define TS_BLOCK_CACHE_POOLS 8
#define TS_BLOCK_CACHE_DEPTH 2

#define TS_BLOCK_POOL_INIT_CACHED(bytes, depth)                                                    \
    {PTHREAD_MUTEX_INITIALIZER,                                                                    \
     ((bytes) + 15) & ~(size_t)15,                                                                 \
     {0, 0},                                                                                       \
     {0, 0},                                                                                       \
     0,                                                                                            \
     0,                                                                                            \
     0,                                                                                            \
     0,                                                                                            \
     (depth),                                                                                      \
     0}

/* How long an empty chunk is kept for reuse, and how many bytes of them at
 * most (always at least one chunk). */
#define TS_BLOCK_SPARE_HOLD_MS 1000u
#define TS_BLOCK_SPARE_BYTES ((size_t)512 << 10)

/* A block of p->size bytes (contents undefined), or NULL when the system
 * has no memory. */
void *ts_block_get(struct ts_block_pool *p);

/* Give a block of this pool back. */
void ts_block_put(struct ts_block_pool *p, void *block);

/* The pool a block came from, for a block of a pool whose blocks are at
 * most TS_BLOCK_HOME_MAX bytes (those share the smallest chunk size, so
 * the chunk's header is the block's address rounded down): for a thread
 * that is given blocks of several pools back to back (the reporter's
 * queue: span records and whole span blocks). */
#define TS_BLOCK_HOME_MAX ((size_t)32 << 10)
struct ts_block_pool *ts_block_home(const void *block);

/* Give n blocks of this pool back under one lock, none kept in the
 * calling thread's cache (for a thread that gives back what others took).
 * NULL entries are skipped. */
void ts_block_put_many(struct ts_block_pool *p, void *const *blocks, size_t n);

/* Blocks of p the calling thread holds in its cache (for tests). */
size_t ts_block_cached_here(const struct ts_block_pool *p);

/* How many blocks the chunks the pool holds now have handed out at some
 * time (in use or free for reuse): what the pool keeps touched, p->size
 * bytes each. */
size_t ts_block_pool_carved(struct ts_block_pool *p);

/* How many chunks the pool holds now, and their bytes (mapped, not all
 * touched). */
size_t ts_block_pool_chunks(struct ts_block_pool *p, size_t *bytes);

/* Unmap the spare chunks that have been empty for at least older_than_ms
 * (all of them: nothing has needed them for that long). Returns how many
 * were unmapped. */
size_t ts_block_pool_trim(struct ts_block_pool *p, unsigned older_than_ms);

/* Every thread's cached blocks, of every pool, back to their pools: for
 * the reporter thread when it finds nothing to do, so that threads that
 * no longer trace keep no chunk of any pool (emptied chunks become
 * spares, and the spares' own limits apply). */
void ts_block_caches_give_back(void);

/* How many chunks the pool has mapped in its life. */
size_t ts_block_pool_maps(struct ts_block_pool *p);

/* Give every chunk back to the system: for a pool whose blocks are all out
 * of use for good (a test's, a destroyed queue's). The pool is empty and
 * usable afterwards. Not for a pool that may still be probed. */
void ts_block_pool_destroy(struct ts_block_pool *p);

/* Around fork: the forking thread takes the lock before (so that no other
 * thread is halfway through the lists when the child is made) and lets go
 * after, in the parent; the child makes a fresh lock, and keeps only its
 * own thread's cache (the others' threads are gone). */
void ts_block_pool_fork_prepare(struct ts_block_pool *p);
void ts_block_pool_fork_parent(struct ts_block_pool *p);
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

/* ts_block_pool_trim on every size class's pool. */
void ts_buf_trim(unsigned older_than_ms);

/* Around fork, every size class's pool (see ts_block_pool_fork_prepare). */
void ts_buf_fork_prepare(void);
void ts_buf_fork_parent(void);
void ts_buf_after_fork(void);

#endif
