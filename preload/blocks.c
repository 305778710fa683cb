/* blocks.c — fixed-size blocks from mmap'd chunks (see blocks.h). */
#include "blocks.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "clock.h"
#include "exit_key.h"
#include "fork_state.h"
#include "guard.h"

#define CHUNK_MIN ((size_t)64 << 10)

/* The start of every chunk; its blocks follow. A multiple of 16 bytes, so
 * the blocks keep their 16-byte alignment. */
struct ts_block_chunk {
    /* In pool->usable or pool->spares (on_list says which), or, with all
     * its blocks in use, in neither. */
    _Alignas(16) struct ts_block_chunk *prev, *next_listed;
    struct ts_block_chunk *all_prev, *all_next; /* in pool->all */
    void *free;          /* its blocks given back, linked through their first word */
    char *next, *end;    /* its part not handed out yet */
    size_t in_use;       /* blocks handed out and not given back */
    size_t carved;       /* blocks handed out of next..end so far */
    size_t bytes;        /* the chunk's size, a power of two: its alignment too */
    uint64_t emptied_ms; /* when it became a spare (ts_mono_ms) */
    struct ts_block_list *on_list;
    struct ts_block_pool *pool; /* whose it is: ts_block_home */
};

_Static_assert(sizeof(struct ts_block_chunk) % 16 == 0, "blocks after the header stay 16-aligned");
_Static_assert(sizeof(struct ts_block_chunk) + TS_BLOCK_HOME_MAX <= CHUNK_MIN,
               "blocks up to TS_BLOCK_HOME_MAX bytes are all in chunks of CHUNK_MIN");

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

static void list_push_front(struct ts_block_list *l, struct ts_block_chunk *c)
{
    c->prev = NULL;
    c->next_listed = l->first;
    if (l->first)
        l->first->prev = c;
    else
        l->last = c;
    l->first = c;
    c->on_list = l;
}

static void list_remove(struct ts_block_chunk *c)
{
    struct ts_block_list *l = c->on_list;
    if (c->prev)
        c->prev->next_listed = c->next_listed;
    else
        l->first = c->next_listed;
    if (c->next_listed)
        c->next_listed->prev = c->prev;
    else
        l->last = c->prev;
    c->prev = c->next_listed = NULL;
    c->on_list = NULL;
}

/* Spares: the most recently emptied first (given out first), the oldest
 * last (unmapped first). */
static void spare_push_front(struct ts_block_pool *p, struct ts_block_chunk *c, uint64_t now_ms)
{
    list_push_front(&p->spares, c);
    c->emptied_ms = now_ms;
    p->spare_count++;
}

static void spare_remove(struct ts_block_pool *p, struct ts_block_chunk *c)
{
    list_remove(c);
    p->spare_count--;
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
    c->pool = p;
    c->bytes = bytes;
    c->next = (char *)(c + 1);
    c->end = (char *)c + bytes;
    c->all_next = p->all;
    if (p->all)
        p->all->all_prev = c;
    p->all = c;
    list_push_front(&p->usable, c);
    p->maps++;
    return c;
}

/* The most recently emptied spare, back in line to give blocks (lock held). */
static struct ts_block_chunk *spare_take(struct ts_block_pool *p)
{
    struct ts_block_chunk *c = p->spares.first;
    spare_remove(p, c);
    list_push_front(&p->usable, c);
    return c;
}

/* Take out of the pool the spares that are past keeping (lock held): from
 * the oldest, while more than keep are held and the oldest has been empty
 * for hold_ms or the spares hold more than TS_BLOCK_SPARE_BYTES. Returns
 * them chained through next_listed, to be unmapped outside the lock. */
static struct ts_block_chunk *spares_past_keeping(struct ts_block_pool *p, uint64_t now_ms,
                                                  unsigned hold_ms, size_t keep)
{
    struct ts_block_chunk *out = NULL;
    size_t bytes = chunk_bytes(p->size);
    while (p->spare_count > keep) {
        struct ts_block_chunk *oldest = p->spares.last;
        bool stale = now_ms - oldest->emptied_ms >= hold_ms;
        bool too_many = p->spare_count > 1 && p->spare_count * bytes > TS_BLOCK_SPARE_BYTES;
        if (!stale && !too_many)
            break;
        spare_remove(p, oldest);
        all_remove(p, oldest);
        p->carved -= oldest->carved;
        oldest->next_listed = out;
        out = oldest;
    }
    return out;
}

static size_t unmap_chain(struct ts_block_chunk *c)
{
    size_t n = 0;
    while (c) {
        struct ts_block_chunk *next = c->next_listed;
        munmap(c, c->bytes);
        c = next;
        n++;
    }
    return n;
}

static bool chunk_has_block(const struct ts_block_pool *p, const struct ts_block_chunk *c)
{
    return c->free || (size_t)(c->end - c->next) >= p->size;
}

/* ------------------------------------------------------- pool, locked */

/* A block of p (lock held), or NULL when the system has no memory. */
static void *take_locked(struct ts_block_pool *p)
{
    struct ts_block_chunk *c = p->usable.first;
    if (!c)
        c = p->spares.first ? spare_take(p) : chunk_new(p);
    if (!c)
        return NULL;
    void *b;
    if (c->free) {
        b = c->free;
        memcpy(&c->free, b, sizeof c->free);
    } else {
        b = c->next;
        c->next += p->size;
        c->carved++;
        p->carved++;
    }
    c->in_use++;
    if (!chunk_has_block(p, c))
        list_remove(c);
    return b;
}

/* Give a block back (lock held). Spares past keeping are added to
 * *unmap, to be unmapped outside the lock; *now_ms is read once, when the
 * first chunk empties (0 until then). */
static void give_locked(struct ts_block_pool *p, void *block, uint64_t *now_ms,
                        struct ts_block_chunk **unmap)
{
    struct ts_block_chunk *c = chunk_of(p, block);
    memcpy(block, &c->free, sizeof c->free);
    c->free = block;
    if (--c->in_use > 0) {
        /* A full chunk can give again: first in line, as the fullest
         * (blocks come from full chunks' holes, the emptier ones drain),
         * and the block just given back is the next one out, still in the
         * cache. */
        if (!c->on_list)
            list_push_front(&p->usable, c);
        return;
    }
    /* Empty: a spare, and the moment to let go of spares gone stale
     * (one clock read per chunk emptied, not per block). */
    if (c->on_list)
        list_remove(c);
    if (*now_ms == 0)
        *now_ms = ts_mono_ms();
    spare_push_front(p, c, *now_ms);
    struct ts_block_chunk *stale = spares_past_keeping(p, *now_ms, TS_BLOCK_SPARE_HOLD_MS, 1);
    while (stale) {
        struct ts_block_chunk *next = stale->next_listed;
        stale->next_listed = *unmap;
        *unmap = stale;
        stale = next;
    }
}

struct ts_block_pool *ts_block_home(const void *block)
{
    return ((const struct ts_block_chunk *)((uintptr_t)block & ~(uintptr_t)(CHUNK_MIN - 1)))->pool;
}

/* ------------------------------------------------------ thread caches */

enum cache_state { CACHE_NEW, CACHE_ON, CACHE_OFF };

struct thread_cache {
    /* Free blocks by pool place (a pool's cache_slot - 1), a stack:
     * blocks[s][0 .. top[s]) may hold blocks, the rest are empty. Atomic:
     * only the owner puts blocks in (and moves top), but a trim or a
     * destroy on another thread may take any of them out, which the owner
     * finds as an empty entry below top. */
    void *blocks[TS_BLOCK_CACHE_POOLS][TS_BLOCK_CACHE_DEPTH];
    uint8_t top[TS_BLOCK_CACHE_POOLS];
    struct thread_cache *prev, *next; /* in caches, under caches_mu */
    int state;                        /* enum cache_state; the owner's alone */
};

static __thread struct thread_cache my_cache __attribute__((tls_model("initial-exec")));

/* Every thread whose cache is on, and the pool of each place. Taken before
 * a pool's lock when both are held, never while one is held. */
static pthread_mutex_t caches_mu TS_FORK_STATE = PTHREAD_MUTEX_INITIALIZER;
static struct thread_cache *caches TS_FORK_STATE;
static struct ts_block_pool *slot_pools[TS_BLOCK_CACHE_POOLS];

/* The key whose destructor gives an exiting thread's blocks back. */
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;
static pthread_key_t exit_key;
static bool exit_key_usable;

static void cache_thread_exit(void *arg);

/* Past the keys a thread keeps without allocation (exit_key.h), threads
 * simply do not cache. */
static void exit_key_create(void)
{
    exit_key_usable = ts_exit_key_create(&exit_key, cache_thread_exit);
}

/* Take every block of place s out of tc (caches_mu held). */
static size_t cache_take_all(struct thread_cache *tc, int s, void **out)
{
    size_t n = 0;
    for (int i = 0; i < TS_BLOCK_CACHE_DEPTH; i++) {
        void *b = __atomic_exchange_n(&tc->blocks[s][i], NULL, __ATOMIC_ACQUIRE);
        if (b)
            out[n++] = b;
    }
    return n;
}

/* Give tc's blocks of place s back to their pool (caches_mu held). */
static void cache_give_back(struct thread_cache *tc, int s)
{
    void *got[TS_BLOCK_CACHE_DEPTH];
    size_t n = cache_take_all(tc, s, got);
    if (n)
        ts_block_put_many(slot_pools[s], got, n);
}

/* Give all of tc's blocks back to their pools (caches_mu held). */
static void cache_give_back_all(struct thread_cache *tc)
{
    for (int s = 0; s < TS_BLOCK_CACHE_POOLS; s++)
        if (slot_pools[s])
            cache_give_back(tc, s);
}

/* The thread is exiting: its cache goes off for good (a later key's
 * destructor may still send traced bytes: those take the lock) and its
 * blocks go back. */
static void cache_thread_exit(void *arg)
{
    struct thread_cache *tc = arg;
    ts_guard_enter(); /* a handler's hooks must not come for the locks held here */
    tc->state = CACHE_OFF;
    pthread_mutex_lock(&caches_mu);
    if (tc->prev)
        tc->prev->next = tc->next;
    else if (caches == tc)
        caches = tc->next;
    if (tc->next)
        tc->next->prev = tc->prev;
    tc->prev = tc->next = NULL;
    cache_give_back_all(tc);
    pthread_mutex_unlock(&caches_mu);
    ts_guard_leave();
}

/* Switch the calling thread's cache on, once; false when it cannot be. */
static bool cache_join(void)
{
    if (my_cache.state != CACHE_NEW)
        return my_cache.state == CACHE_ON;
    my_cache.state = CACHE_OFF;
    pthread_once(&exit_key_once, exit_key_create);
    if (!exit_key_usable || pthread_setspecific(exit_key, &my_cache) != 0)
        return false;
    pthread_mutex_lock(&caches_mu);
    my_cache.prev = NULL;
    my_cache.next = caches;
    if (caches)
        caches->prev = &my_cache;
    caches = &my_cache;
    pthread_mutex_unlock(&caches_mu);
    my_cache.state = CACHE_ON;
    return true;
}

/* Give p a place in the caches if it has none yet (-1 when every place is
 * taken: its blocks are then never cached). */
static void cache_slot_assign(struct ts_block_pool *p)
{
    pthread_mutex_lock(&caches_mu);
    int slot = __atomic_load_n(&p->cache_slot, __ATOMIC_RELAXED);
    if (slot == 0) {
        slot = -1;
        for (int s = 0; s < TS_BLOCK_CACHE_POOLS; s++) {
            if (!slot_pools[s]) {
                slot_pools[s] = p;
                slot = s + 1;
                break;
            }
        }
        __atomic_store_n(&p->cache_slot, slot, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&caches_mu);
}

/* How many of p's blocks a thread keeps. */
static unsigned cache_depth(const struct ts_block_pool *p)
{
    return p->cache_depth < TS_BLOCK_CACHE_DEPTH ? p->cache_depth : TS_BLOCK_CACHE_DEPTH;
}

/* The calling thread's place for p's blocks, or -1 when it keeps none. */
static int my_place(const struct ts_block_pool *p)
{
    int slot = __atomic_load_n(&p->cache_slot, __ATOMIC_ACQUIRE);
    return slot > 0 && my_cache.state == CACHE_ON ? slot - 1 : -1;
}

/* Every thread's cached blocks of p back to p. */
static void caches_give_back(struct ts_block_pool *p)
{
    int slot = __atomic_load_n(&p->cache_slot, __ATOMIC_ACQUIRE);
    if (slot <= 0)
        return;
    pthread_mutex_lock(&caches_mu);
    for (struct thread_cache *tc = caches; tc; tc = tc->next)
        cache_give_back(tc, slot - 1);
    pthread_mutex_unlock(&caches_mu);
}

void ts_block_caches_give_back(void)
{
    pthread_mutex_lock(&caches_mu);
    for (struct thread_cache *tc = caches; tc; tc = tc->next)
        cache_give_back_all(tc);
    pthread_mutex_unlock(&caches_mu);
}

/* In a forked child: the only thread is the caller; the other threads'
 * caches (and the blocks in them) are left behind. */
TS_FORK_HANDLER static void caches_after_fork(void)
{
    pthread_mutex_init(&caches_mu, NULL);
    my_cache.prev = my_cache.next = NULL;
    caches = my_cache.state == CACHE_ON ? &my_cache : NULL;
}

size_t ts_block_cached_here(const struct ts_block_pool *p)
{
    int s = my_place(p);
    size_t n = 0;
    for (int i = 0; s >= 0 && i < TS_BLOCK_CACHE_DEPTH; i++)
        n += __atomic_load_n(&my_cache.blocks[s][i], __ATOMIC_RELAXED) != NULL;
    return n;
}

/* ---------------------------------------------------------------- API */

/* A get the calling thread's cache could not serve: from the pool, under
 * its lock. The first one of a caching pool gives the pool its place in the
 * caches and switches this thread's cache on, so that the block comes back
 * into it. Out of line: the cached path stays short. */
__attribute__((noinline)) static void *get_from_pool(struct ts_block_pool *p)
{
    if (p->cache_depth) {
        if (__atomic_load_n(&p->cache_slot, __ATOMIC_ACQUIRE) == 0)
            cache_slot_assign(p);
        cache_join();
    }
    pthread_mutex_lock(&p->mu);
    void *b = take_locked(p);
    pthread_mutex_unlock(&p->mu);
    return b;
}

void *ts_block_get(struct ts_block_pool *p)
{
    int s = my_place(p);
    if (s >= 0) {
        uint8_t *top = &my_cache.top[s];
        while (*top > 0) {
            void *b = __atomic_exchange_n(&my_cache.blocks[s][--*top], NULL, __ATOMIC_ACQUIRE);
            if (b) /* else a trim took it */
                return b;
        }
    }
    return get_from_pool(p);
}

void ts_block_put(struct ts_block_pool *p, void *block)
{
    if (!block)
        return;
    int s = my_place(p);
    if (s >= 0) {
        /* Places a trim or a destroy emptied below top are used again. */
        unsigned top = my_cache.top[s];
        while (top > 0 && !__atomic_load_n(&my_cache.blocks[s][top - 1], __ATOMIC_RELAXED))
            top--;
        if (top < cache_depth(p)) {
            __atomic_store_n(&my_cache.blocks[s][top], block, __ATOMIC_RELEASE);
            my_cache.top[s] = (uint8_t)(top + 1);
            return;
        }
    }
    ts_block_put_many(p, &block, 1);
}

void ts_block_put_many(struct ts_block_pool *p, void *const *blocks, size_t n)
{
    struct ts_block_chunk *unmap = NULL;
    uint64_t now_ms = 0;
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < n; i++)
        if (blocks[i])
            give_locked(p, blocks[i], &now_ms, &unmap);
    pthread_mutex_unlock(&p->mu);
    unmap_chain(unmap);
}

size_t ts_block_pool_trim(struct ts_block_pool *p, unsigned older_than_ms)
{
    caches_give_back(p);
    pthread_mutex_lock(&p->mu);
    struct ts_block_chunk *unmap = spares_past_keeping(p, ts_mono_ms(), older_than_ms, 0);
    pthread_mutex_unlock(&p->mu);
    return unmap_chain(unmap);
}

size_t ts_block_pool_maps(struct ts_block_pool *p)
{
    pthread_mutex_lock(&p->mu);
    size_t n = p->maps;
    pthread_mutex_unlock(&p->mu);
    return n;
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
    /* The threads' cached blocks are in the chunks about to go: dropped,
     * and the pool's place freed for another pool. */
    int slot = __atomic_load_n(&p->cache_slot, __ATOMIC_ACQUIRE);
    if (slot > 0) {
        void *dropped[TS_BLOCK_CACHE_DEPTH];
        pthread_mutex_lock(&caches_mu);
        for (struct thread_cache *tc = caches; tc; tc = tc->next)
            cache_take_all(tc, slot - 1, dropped);
        slot_pools[slot - 1] = NULL;
        pthread_mutex_unlock(&caches_mu);
    }
    __atomic_store_n(&p->cache_slot, 0, __ATOMIC_RELEASE);
    pthread_mutex_lock(&p->mu);
    struct ts_block_chunk *c = p->all;
    p->all = NULL;
    p->usable.first = p->usable.last = p->spares.first = p->spares.last = NULL;
    p->carved = p->spare_count = 0;
    pthread_mutex_unlock(&p->mu);
    while (c) {
        struct ts_block_chunk *next = c->all_next;
        munmap(c, c->bytes);
        c = next;
    }
}

TS_FORK_HANDLER void ts_block_pool_fork_prepare(struct ts_block_pool *p)
{
    pthread_mutex_lock(&p->mu);
}

TS_FORK_HANDLER void ts_block_pool_fork_parent(struct ts_block_pool *p)
{
    pthread_mutex_unlock(&p->mu);
}

TS_FORK_HANDLER void ts_block_pool_after_fork(struct ts_block_pool *p)
{
    pthread_mutex_init(&p->mu, NULL);
    caches_after_fork(); /* the same for every pool: once would do */
}

/* ------------------------------------------------------------- buffers */

#define BUF_CLASSES 12 /* 1 KiB << 0 ... 1 KiB << 11 = 2 MiB */

/* The small classes are cached per thread: a client's rewritten head and a
 * connection's head buffer are taken and given back by the thread that
 * makes the call, once or twice per request. The large ones are rare (and
 * a cached one would keep a lot). */
#define BUF_CACHED(bytes) TS_BLOCK_POOL_INIT_CACHED(bytes, 2)

static struct ts_block_pool buf_pools[BUF_CLASSES] TS_FORK_STATE = {
    BUF_CACHED(TS_BUF_MIN << 0),          BUF_CACHED(TS_BUF_MIN << 1),
    BUF_CACHED(TS_BUF_MIN << 2),          TS_BLOCK_POOL_INIT(TS_BUF_MIN << 3),
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

void ts_buf_trim(unsigned older_than_ms)
{
    for (int i = 0; i < BUF_CLASSES; i++)
        ts_block_pool_trim(&buf_pools[i], older_than_ms);
}

TS_FORK_HANDLER void ts_buf_fork_prepare(void)
{
    for (int i = 0; i < BUF_CLASSES; i++)
        ts_block_pool_fork_prepare(&buf_pools[i]);
}

TS_FORK_HANDLER void ts_buf_fork_parent(void)
{
    for (int i = BUF_CLASSES - 1; i >= 0; i--)
        ts_block_pool_fork_parent(&buf_pools[i]);
}

TS_FORK_HANDLER void ts_buf_after_fork(void)
{
    for (int i = 0; i < BUF_CLASSES; i++)
        ts_block_pool_after_fork(&buf_pools[i]);
}
