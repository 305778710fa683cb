/* test_blocks.c — memory for connections and spans without malloc
 * (preload/blocks.h): blocks are distinct and reused, buffers grow keeping
 * their bytes and refuse what is past the largest class, a burst's chunks
 * go back to the system once it is over (spares kept a while, none after
 * an idle trim), a batch rising and falling maps nothing new, a pool works in
 * a forked child whose parent had its lock held by another thread, and
 * blocks can be taken and given back from a signal handler that
 * interrupted malloc (which is what they are for). Per-thread caches: a
 * thread keeps what it gives back and uses it without the lock, an
 * exiting thread gives its blocks back, a trim (and the reporter's idle
 * time, for every pool) takes back what every thread keeps, no block is ever with two threads, a destroyed pool frees
 * its place, and a forked child's caches work. */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "preload/blocks.h"

static struct ts_block_pool spans_like = TS_BLOCK_POOL_INIT(2200);

static void test_blocks_are_distinct_and_reused(void **state)
{
    (void)state;
    enum { N = 100 };
    char *b[N];
    assert_int_equal(spans_like.size % 16, 0);
    for (int i = 0; i < N; i++) {
        b[i] = ts_block_get(&spans_like);
        assert_non_null(b[i]);
        assert_int_equal((uintptr_t)b[i] % 16, 0);
        memset(b[i], i, 2200);
    }
    for (int i = 0; i < N; i++)
        for (int k = 0; k < 2200; k++)
            assert_int_equal((unsigned char)b[i][k], (unsigned char)i); /* no overlap */
    ts_block_put(&spans_like, b[7]);
    assert_ptr_equal(ts_block_get(&spans_like), b[7]);
    for (int i = 0; i < N; i++)
        ts_block_put(&spans_like, b[i]);
}

static void test_buffers_grow_and_keep_their_bytes(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t cap = 0;
    assert_true(ts_buf_reserve(&buf, &cap, 10));
    assert_int_equal(cap, TS_BUF_MIN);
    memcpy(buf, "0123456789", 10);
    assert_true(ts_buf_reserve(&buf, &cap, 5000));
    assert_int_equal(cap, 8192);
    assert_memory_equal(buf, "0123456789", 10);
    char *same = buf;
    assert_true(ts_buf_reserve(&buf, &cap, 8192)); /* fits: unchanged */
    assert_ptr_equal(buf, same);
    assert_false(ts_buf_reserve(&buf, &cap, TS_BUF_MAX + 1)); /* refused, buffer kept */
    assert_ptr_equal(buf, same);
    assert_int_equal(cap, 8192);
    assert_true(ts_buf_reserve(&buf, &cap, TS_BUF_MAX));
    assert_int_equal(cap, TS_BUF_MAX);
    assert_memory_equal(buf, "0123456789", 10);
    ts_buf_release(&buf, &cap);
    assert_null(buf);
    assert_int_equal(cap, 0);
    ts_buf_release(&buf, &cap); /* nothing: fine */
}

/* ------------------------------------------------------------ bursts */

static struct ts_block_pool records_like = TS_BLOCK_POOL_INIT(800);

enum { BURST = 5000 };
static char *burst[BURST];

/* The chunks a pool holds, after checking that the blocks in use hold
 * their bytes (a chunk given back with a block in use would fault here). */
static size_t chunks_checked(struct ts_block_pool *p, char **blocks, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (blocks[i])
            for (size_t k = 0; k < 800; k += 97)
                assert_int_equal((unsigned char)blocks[i][k], (unsigned char)i);
    return ts_block_pool_chunks(p, NULL);
}

/* A backlog of 5,000 blocks (62 chunks) given back: the pool keeps no
 * more spares than TS_BLOCK_SPARE_BYTES hold, the rest go back to the
 * system at once; an idle trim lets the spares go too; and the next burst
 * is served again. */
static void test_a_burst_goes_back_to_the_system(void **state)
{
    (void)state;
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < BURST; i++) {
            burst[i] = ts_block_get(&records_like);
            assert_non_null(burst[i]);
            memset(burst[i], i, 800);
        }
        size_t bytes = 0;
        size_t held = ts_block_pool_chunks(&records_like, &bytes);
        assert_true(held >= BURST * 800 / (64 << 10));
        assert_true(bytes >= (size_t)BURST * 800);
        assert_int_equal(ts_block_pool_carved(&records_like), BURST);
        for (int i = 0; i < BURST; i++) {
            ts_block_put(&records_like, burst[i]);
            burst[i] = NULL;
        }
        assert_true(ts_block_pool_chunks(&records_like, &bytes) >= 1);
        assert_true(bytes <= TS_BLOCK_SPARE_BYTES);
        assert_int_equal(ts_block_pool_trim(&records_like, TS_BLOCK_SPARE_HOLD_MS * 100), 0);
        ts_block_pool_trim(&records_like, 0); /* idle: even the last spare goes */
        assert_int_equal(ts_block_pool_chunks(&records_like, &bytes), 0);
        assert_int_equal(bytes, 0);
        assert_int_equal(ts_block_pool_carved(&records_like), 0);
    }
    ts_block_pool_destroy(&records_like);
}

/* A queue's life: a backlog builds up, then drains in order while a steady
 * trickle of new blocks keeps coming. Once the backlog is gone the pool
 * holds the chunks of the few blocks in use (and a spare), not the
 * backlog's 62. */
static void test_after_a_backlog_drains_few_chunks_stay(void **state)
{
    (void)state;
    for (int i = 0; i < BURST; i++) {
        burst[i] = ts_block_get(&records_like);
        memset(burst[i], i, 800);
    }
    /* First in, first out, one new block for every two given back, until
     * 40 are in use; then steady: one out, one in. */
    size_t head = 0, tail = BURST, in_use = BURST;
    char *ring[BURST] = {0};
    for (size_t i = 0; i < BURST; i++)
        ring[i] = burst[i];
    for (int step = 0; step < 50000; step++) {
        size_t h = head % BURST;
        ts_block_put(&records_like, ring[h]);
        ring[h] = NULL;
        head++;
        in_use--;
        if (in_use < 40 || step % 2 == 0) {
            size_t t = tail % BURST;
            ring[t] = ts_block_get(&records_like);
            assert_non_null(ring[t]);
            memset(ring[t], (int)t, 800);
            tail++;
            in_use++;
        }
    }
    assert_true(in_use <= 40);
    assert_true(chunks_checked(&records_like, ring, BURST) <=
                3 + TS_BLOCK_SPARE_BYTES / ((size_t)64 << 10));
    ts_block_pool_trim(&records_like, 0); /* the spares a second later */
    assert_true(chunks_checked(&records_like, ring, BURST) <= 3);
    for (size_t i = 0; i < BURST; i++)
        ts_block_put(&records_like, ring[i]);
    assert_true(ts_block_pool_chunks(&records_like, NULL) >= 1); /* a spare kept while busy */
    ts_block_pool_trim(&records_like, 0);
    assert_int_equal(ts_block_pool_chunks(&records_like, NULL), 0);
    ts_block_pool_destroy(&records_like);
}

/* Up and down across a chunk's edge, block by block: the spare chunk is
 * kept, not given back and mapped again each time (the pool never holds
 * more than the two chunks, and never fewer than the one in use). */
static void test_no_thrashing_at_a_chunk_edge(void **state)
{
    (void)state;
    size_t per_chunk = 0;
    char *first = ts_block_get(&records_like);
    burst[0] = first;
    memset(first, 0, 800);
    for (int i = 1; i < BURST; i++) {
        burst[i] = ts_block_get(&records_like);
        memset(burst[i], i, 800);
        if (ts_block_pool_chunks(&records_like, NULL) == 2) {
            per_chunk = (size_t)i;
            break;
        }
    }
    assert_true(per_chunk >= 70);
    char *edge = burst[per_chunk];
    for (int k = 0; k < 1000; k++) {
        ts_block_put(&records_like, edge);
        assert_int_equal(ts_block_pool_chunks(&records_like, NULL), 2);
        edge = ts_block_get(&records_like);
        assert_ptr_equal(edge, burst[per_chunk]); /* the same block, kept */
    }
    burst[per_chunk] = edge;
    memset(edge, (int)per_chunk, 800);
    assert_int_equal(chunks_checked(&records_like, burst, per_chunk + 1), 2);
    for (size_t i = 0; i <= per_chunk; i++) {
        ts_block_put(&records_like, burst[i]);
        burst[i] = NULL;
    }
    ts_block_pool_destroy(&records_like);
}

/* A queue's records rise by a batch and fall back, again and again (the
 * reporter exports every few milliseconds): after the first rise every
 * chunk comes from the spares, none is mapped again; and spares the load
 * no longer reaches are the oldest, so trimming what is a while old leaves
 * the ones in use. */
static void test_a_batch_rising_and_falling_maps_nothing_new(void **state)
{
    (void)state;
    enum { BATCH = 400 }; /* 320 KB: five chunks */
    size_t maps_after_first = 0;
    for (int round = 0; round < 50; round++) {
        for (int i = 0; i < BATCH; i++) {
            burst[i] = ts_block_get(&records_like);
            assert_non_null(burst[i]);
            memset(burst[i], i, 800);
        }
        assert_true(chunks_checked(&records_like, burst, BATCH) >= BATCH * 800 / (64 << 10));
        for (int i = 0; i < BATCH; i++) { /* first in, first out */
            ts_block_put(&records_like, burst[i]);
            burst[i] = NULL;
        }
        if (round == 0)
            maps_after_first = ts_block_pool_maps(&records_like);
    }
    assert_int_equal(ts_block_pool_maps(&records_like), maps_after_first);
    /* Now only a small load: its chunk is the most recently used spare,
     * taken first; the others stay untouched and are the ones trimmed. */
    char *small = ts_block_get(&records_like);
    memset(small, 1, 800);
    assert_int_equal(ts_block_pool_trim(&records_like, TS_BLOCK_SPARE_HOLD_MS * 100), 0);
    assert_true(ts_block_pool_trim(&records_like, 0) >= 4);
    assert_int_equal(ts_block_pool_chunks(&records_like, NULL), 1); /* the one in use */
    assert_int_equal((unsigned char)small[799], 1);
    ts_block_put(&records_like, small);
    ts_block_pool_destroy(&records_like);
}

/* ------------------------------------------------------------- fork */

static pthread_mutex_t holding = PTHREAD_MUTEX_INITIALIZER;
static atomic_bool held;

static void *hold_the_pool_lock(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&spans_like.mu);
    atomic_store(&held, true);
    pthread_mutex_lock(&holding); /* until the test lets go */
    pthread_mutex_unlock(&holding);
    pthread_mutex_unlock(&spans_like.mu);
    return NULL;
}

/* Run fn on a new thread and wait until it says (held) it is ready. */
static pthread_t start_until_held(void *(*fn)(void *))
{
    atomic_store(&held, false);
    pthread_t t;
    pthread_create(&t, NULL, fn, NULL);
    while (!atomic_load(&held))
        sched_yield();
    return t;
}

/* Did a forked child exit with 0? One stuck on a lock is killed after ten
 * seconds, and fails the test. */
static bool child_succeeded(pid_t pid)
{
    int st = 0;
    alarm(10);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    alarm(0);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static void test_pool_in_a_forked_child(void **state)
{
    (void)state;
    pthread_mutex_lock(&holding);
    pthread_t t = start_until_held(hold_the_pool_lock);
    pid_t pid = fork();
    if (pid == 0) {
        /* the holder does not exist here */
        ts_block_pool_after_fork(&spans_like);
        void *b = ts_block_get(&spans_like);
        ts_block_put(&spans_like, b);
        _exit(b ? 0 : 1);
    }
    assert_true(child_succeeded(pid));
    pthread_mutex_unlock(&holding);
    pthread_join(t, NULL);
}

/* ------------------------------------------------------ thread caches */

static struct ts_block_pool cached = TS_BLOCK_POOL_INIT_CACHED(2200, 2);

static void cached_blocks_checked(char **b, size_t n, int seed)
{
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < 2200; k += 97)
            assert_int_equal((unsigned char)b[i][k], (unsigned char)(seed + (int)i));
}

/* A block given back is kept by the thread, up to the pool's depth, and
 * is the next one it gets; past the depth, blocks go back to the pool. */
static void test_a_thread_keeps_what_it_gives_back(void **state)
{
    (void)state;
    char *b[3];
    for (int i = 0; i < 3; i++)
        b[i] = ts_block_get(&cached);
    assert_int_equal(ts_block_cached_here(&cached), 0);
    for (int i = 0; i < 3; i++)
        ts_block_put(&cached, b[i]);
    assert_int_equal(ts_block_cached_here(&cached), 2);
    assert_ptr_equal(ts_block_get(&cached), b[1]); /* the last kept, first out */
    assert_ptr_equal(ts_block_get(&cached), b[0]);
    assert_int_equal(ts_block_cached_here(&cached), 0);
    assert_ptr_equal(ts_block_get(&cached), b[2]); /* from the pool: the block given back */
    for (int i = 0; i < 3; i++)
        ts_block_put(&cached, b[i]);
    assert_int_equal(ts_block_pool_carved(&cached), 3);
}

static atomic_int lockless_stage; /* 1: cache warm; 2: the lock is held; 3: done */

static void *get_and_put_cached(void *arg)
{
    (void)arg;
    ts_block_put(&cached, ts_block_get(&cached));
    atomic_store(&lockless_stage, 1);
    while (atomic_load(&lockless_stage) != 2)
        sched_yield();
    for (int i = 0; i < 1000; i++)
        ts_block_put(&cached, ts_block_get(&cached));
    atomic_store(&lockless_stage, 3);
    return NULL;
}

/* A thread served from its cache never takes the pool's lock: while
 * another thread holds it, a thousand gets and puts still go through
 * (were they to lock, the wait below would run out and the test fail). */
static void test_a_cached_get_and_put_take_no_lock(void **state)
{
    (void)state;
    atomic_store(&lockless_stage, 0);
    pthread_t t;
    pthread_create(&t, NULL, get_and_put_cached, NULL);
    while (atomic_load(&lockless_stage) != 1)
        sched_yield();
    pthread_mutex_lock(&cached.mu);
    atomic_store(&lockless_stage, 2);
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    do {
        sched_yield();
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while (atomic_load(&lockless_stage) != 3 && now.tv_sec - start.tv_sec < 5);
    bool done = atomic_load(&lockless_stage) == 3;
    pthread_mutex_unlock(&cached.mu);
    pthread_join(t, NULL);
    assert_true(done);
}

enum { EXITING_THREADS = 8 };
static pthread_barrier_t all_hold;

/* Takes two blocks while the others hold theirs (so that no two threads
 * share one), keeps them in its cache, and exits. */
static void *cache_two_and_exit(void *arg)
{
    (void)arg;
    char *b[2] = {ts_block_get(&cached), ts_block_get(&cached)};
    pthread_barrier_wait(&all_hold);
    ts_block_put(&cached, b[0]);
    ts_block_put(&cached, b[1]);
    return NULL;
}

/* Threads that end (a server with a thread per request) give their cached
 * blocks back: the next sixteen blocks are theirs, none carved anew. */
static void test_an_exiting_thread_gives_its_blocks_back(void **state)
{
    (void)state;
    ts_block_pool_destroy(&cached);
    pthread_barrier_init(&all_hold, NULL, EXITING_THREADS);
    pthread_t t[EXITING_THREADS];
    for (int i = 0; i < EXITING_THREADS; i++)
        pthread_create(&t[i], NULL, cache_two_and_exit, NULL);
    for (int i = 0; i < EXITING_THREADS; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&all_hold);
    assert_int_equal(ts_block_pool_carved(&cached), 2 * EXITING_THREADS);
    char *b[2 * EXITING_THREADS];
    for (int i = 0; i < 2 * EXITING_THREADS; i++) {
        b[i] = ts_block_get(&cached);
        memset(b[i], i, 2200);
    }
    cached_blocks_checked(b, 2 * EXITING_THREADS, 0);
    assert_int_equal(ts_block_pool_carved(&cached), 2 * EXITING_THREADS);
    ts_block_put_many(&cached, (void *const *)b, 2 * EXITING_THREADS);
    ts_block_pool_trim(&cached, 0);
    assert_int_equal(ts_block_pool_chunks(&cached, NULL), 0);
}

static atomic_bool cache_idle_go;

/* Caches two blocks, then idles until told to end; returns how many it
 * still caches then. */
static void *cache_two_and_idle(void *arg)
{
    (void)arg;
    char *b[2] = {ts_block_get(&cached), ts_block_get(&cached)};
    ts_block_put(&cached, b[0]);
    ts_block_put(&cached, b[1]);
    atomic_store(&held, true);
    while (!atomic_load(&cache_idle_go))
        sched_yield();
    return (void *)(uintptr_t)ts_block_cached_here(&cached);
}

/* An idle trim takes back what every thread caches: the pool then holds
 * nothing, though the threads live on. */
static void test_a_trim_takes_back_what_threads_cache(void **state)
{
    (void)state;
    atomic_store(&cache_idle_go, false);
    pthread_t t = start_until_held(cache_two_and_idle);
    ts_block_put(&cached, ts_block_get(&cached)); /* and one kept here */
    assert_int_equal(ts_block_cached_here(&cached), 1);
    assert_int_equal(ts_block_pool_chunks(&cached, NULL), 1);
    ts_block_pool_trim(&cached, 0);
    assert_int_equal(ts_block_cached_here(&cached), 0);
    assert_int_equal(ts_block_pool_chunks(&cached, NULL), 0);
    assert_int_equal(ts_block_pool_carved(&cached), 0);
    atomic_store(&cache_idle_go, true);
    void *still_cached;
    pthread_join(t, &still_cached);
    assert_int_equal((uintptr_t)still_cached, 0); /* the trim took them */
    /* and the caches work on */
    ts_block_put(&cached, ts_block_get(&cached));
    assert_int_equal(ts_block_cached_here(&cached), 1);
}

static struct ts_block_pool cached_too = TS_BLOCK_POOL_INIT_CACHED(300, 2);

/* Caches blocks of two pools, then idles until told to end; returns how
 * many it still caches then. */
static void *cache_in_two_pools_and_idle(void *arg)
{
    (void)arg;
    ts_block_put(&cached, ts_block_get(&cached));
    ts_block_put(&cached_too, ts_block_get(&cached_too));
    atomic_store(&held, true);
    while (!atomic_load(&cache_idle_go))
        sched_yield();
    return (void *)(uintptr_t)(ts_block_cached_here(&cached) + ts_block_cached_here(&cached_too));
}

/* The reporter's idle time takes back what threads cache of every pool,
 * pools nothing trims among them: their blocks are free again (reused,
 * none carved anew) while the threads live on. */
static void test_idle_time_takes_back_every_pools_caches(void **state)
{
    (void)state;
    ts_block_pool_trim(&cached, 0);
    atomic_store(&cache_idle_go, false);
    pthread_t t = start_until_held(cache_in_two_pools_and_idle);
    ts_block_caches_give_back();
    char *a = ts_block_get(&cached), *b = ts_block_get(&cached_too);
    assert_int_equal(ts_block_pool_carved(&cached), 1); /* the thread's, given back */
    assert_int_equal(ts_block_pool_carved(&cached_too), 1);
    atomic_store(&cache_idle_go, true);
    void *still_cached;
    pthread_join(t, &still_cached);
    assert_int_equal((uintptr_t)still_cached, 0);
    ts_block_put(&cached, a);
    ts_block_put(&cached_too, b);
    ts_block_pool_destroy(&cached_too);
}

enum { SHARERS = 4, SHARER_ROUNDS = 20000 };
static atomic_bool sharers_done;

/* Gets, marks, checks and gives back blocks, now one, now a few, so that
 * its cache fills and empties; another thread owning the same block at
 * the same time would change the mark. */
static void *share_blocks(void *arg)
{
    unsigned char mark = (unsigned char)(uintptr_t)arg;
    char *b[3];
    for (int round = 0; round < SHARER_ROUNDS; round++) {
        int n = 1 + round % 3;
        for (int i = 0; i < n; i++) {
            b[i] = ts_block_get(&cached);
            memset(b[i], mark + i, 64);
        }
        for (int i = 0; i < n; i++)
            for (int k = 0; k < 64; k++)
                if ((unsigned char)b[i][k] != (unsigned char)(mark + i))
                    return (void *)1;
        for (int i = 0; i < n; i++)
            ts_block_put(&cached, b[i]);
    }
    return NULL;
}

static void *trim_meanwhile(void *arg)
{
    (void)arg;
    while (!atomic_load(&sharers_done))
        ts_block_pool_trim(&cached, TS_BLOCK_SPARE_HOLD_MS);
    return NULL;
}

/* Threads caching blocks of one pool while another thread keeps trimming
 * it (taking their cached blocks away as they work): no block is ever
 * with two threads at once, and in the end every one is back. */
static void test_cached_blocks_are_never_shared(void **state)
{
    (void)state;
    atomic_store(&sharers_done, false);
    pthread_t trimmer, t[SHARERS];
    pthread_create(&trimmer, NULL, trim_meanwhile, NULL);
    for (int i = 0; i < SHARERS; i++)
        pthread_create(&t[i], NULL, share_blocks, (void *)(uintptr_t)(16 * i + 1));
    void *failed = NULL;
    for (int i = 0; i < SHARERS; i++) {
        void *r;
        pthread_join(t[i], &r);
        failed = failed ? failed : r;
    }
    atomic_store(&sharers_done, true);
    pthread_join(trimmer, NULL);
    assert_null(failed);
    ts_block_pool_trim(&cached, 0);
    assert_int_equal(ts_block_pool_chunks(&cached, NULL), 0);
}

/* A block names its pool: blocks of pools of different sizes, taken
 * interleaved over several chunks, each from its own. */
static void test_a_block_names_its_pool(void **state)
{
    (void)state;
    static struct ts_block_pool small = TS_BLOCK_POOL_INIT(800), large = TS_BLOCK_POOL_INIT(2200),
                                largest = TS_BLOCK_POOL_INIT(TS_BLOCK_HOME_MAX);
    enum { N = 100 };
    static void *a[N], *b[N], *c[N];
    for (int i = 0; i < N; i++) {
        a[i] = ts_block_get(&small);
        b[i] = ts_block_get(&large);
        c[i] = i < 8 ? ts_block_get(&largest) : NULL;
    }
    assert_true(ts_block_pool_chunks(&large, NULL) > 1);
    for (int i = 0; i < N; i++) {
        assert_ptr_equal(ts_block_home(a[i]), &small);
        assert_ptr_equal(ts_block_home(b[i]), &large);
        if (c[i])
            assert_ptr_equal(ts_block_home(c[i]), &largest);
    }
    ts_block_pool_destroy(&small);
    ts_block_pool_destroy(&large);
    ts_block_pool_destroy(&largest);
}

/* A destroyed pool drops the blocks threads cached (its chunks are gone)
 * and frees its place: more pools than there are places, one after the
 * other, all cache. */
static void test_a_destroyed_pool_frees_its_place(void **state)
{
    (void)state;
    for (int i = 0; i < 3 * TS_BLOCK_CACHE_POOLS; i++) {
        struct ts_block_pool p = TS_BLOCK_POOL_INIT_CACHED(100, 2);
        char *b = ts_block_get(&p);
        memset(b, i, 100);
        ts_block_put(&p, b);
        assert_int_equal(ts_block_cached_here(&p), 1);
        ts_block_pool_destroy(&p);
        assert_int_equal(ts_block_cached_here(&p), 0);
        assert_ptr_not_equal(ts_block_get(&p), NULL); /* usable again, from a new chunk */
        ts_block_pool_destroy(&p);
    }
}

/* A forked child whose parent had another thread with a full cache: the
 * child's own thread caches as before, and an idle trim there leaves no
 * more than the chunk the vanished thread's blocks keep. */
static void test_caches_in_a_forked_child(void **state)
{
    (void)state;
    ts_block_pool_trim(&cached, 0);
    atomic_store(&cache_idle_go, false);
    pthread_t t = start_until_held(cache_two_and_idle);
    pid_t pid = fork();
    if (pid == 0) {
        ts_block_pool_after_fork(&cached);
        char *b = ts_block_get(&cached);
        ts_block_put(&cached, b);
        bool ok = b && ts_block_cached_here(&cached) == 1;
        ts_block_pool_trim(&cached, 0); /* never waits for, or walks, the thread left behind */
        ok = ok && ts_block_cached_here(&cached) == 0 && ts_block_pool_chunks(&cached, NULL) <= 1;
        _exit(ok ? 0 : 1);
    }
    bool child_ok = child_succeeded(pid);
    atomic_store(&cache_idle_go, true);
    void *still_cached;
    pthread_join(t, &still_cached);
    assert_int_equal((uintptr_t)still_cached, 2); /* the parent's thread kept its own */
    assert_true(child_ok);
}

/* ---------------------------------------------------- signal handlers */

static struct ts_block_pool in_handler = TS_BLOCK_POOL_INIT(3000);
static volatile sig_atomic_t handled;

static void on_alarm(int sig)
{
    (void)sig;
    void *b = ts_block_get(&in_handler);
    char *buf = NULL;
    size_t cap = 0;
    if (b && ts_buf_reserve(&buf, &cap, 20000)) {
        handled++;
        ts_buf_release(&buf, &cap);
    }
    ts_block_put(&in_handler, b);
}

/* The main loop allocates from malloc's arena (blocks too big for its
 * thread cache) while a 50 µs timer's handler takes and gives back blocks:
 * were they from malloc, the handler would wait for the arena lock its own
 * thread holds. A hang here is ended by the test's time limit. */
static void test_usable_in_a_handler_that_interrupted_malloc(void **state)
{
    (void)state;
    pthread_t t; /* a second thread: malloc takes its arena lock for real */
    pthread_mutex_lock(&holding);
    /* The handler is to interrupt this thread's malloc: the second thread
     * starts with the timer's signal blocked, so it never runs it. */
    sigset_t alrm, old;
    sigemptyset(&alrm);
    sigaddset(&alrm, SIGALRM);
    pthread_sigmask(SIG_BLOCK, &alrm, &old);
    pthread_create(&t, NULL, hold_the_pool_lock, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 50}, {0, 50}};
    setitimer(ITIMER_REAL, &it, NULL);
    void *keep[32] = {0};
    for (long i = 0; handled < 500 && i < 50000000; i++) {
        free(keep[i % 32]);
        keep[i % 32] = malloc(2048 + (size_t)(i * 7919) % 30000);
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    signal(SIGALRM, SIG_DFL);
    for (int i = 0; i < 32; i++)
        free(keep[i]);
    assert_true(handled >= 500);
    pthread_mutex_unlock(&holding);
    pthread_join(t, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blocks_are_distinct_and_reused),
        cmocka_unit_test(test_a_block_names_its_pool),
        cmocka_unit_test(test_buffers_grow_and_keep_their_bytes),
        cmocka_unit_test(test_a_burst_goes_back_to_the_system),
        cmocka_unit_test(test_after_a_backlog_drains_few_chunks_stay),
        cmocka_unit_test(test_a_batch_rising_and_falling_maps_nothing_new),
        cmocka_unit_test(test_no_thrashing_at_a_chunk_edge),
        cmocka_unit_test(test_pool_in_a_forked_child),
        cmocka_unit_test(test_a_thread_keeps_what_it_gives_back),
        cmocka_unit_test(test_a_cached_get_and_put_take_no_lock),
        cmocka_unit_test(test_an_exiting_thread_gives_its_blocks_back),
        cmocka_unit_test(test_a_trim_takes_back_what_threads_cache),
        cmocka_unit_test(test_idle_time_takes_back_every_pools_caches),
        cmocka_unit_test(test_cached_blocks_are_never_shared),
        cmocka_unit_test(test_a_destroyed_pool_frees_its_place),
        cmocka_unit_test(test_caches_in_a_forked_child),
        cmocka_unit_test(test_usable_in_a_handler_that_interrupted_malloc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
