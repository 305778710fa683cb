/* test_blocks.c — memory for connections and spans without malloc
 * (preload/blocks.h): blocks are distinct and reused, buffers grow keeping
 * their bytes and refuse what is past the largest class, a burst's chunks
 * go back to the system once it is over (spares kept a while, none after
 * an idle trim), a batch rising and falling maps nothing new, a pool works in
 * a forked child whose parent had its lock held by another thread, and
 * blocks can be taken and given back from a signal handler that
 * interrupted malloc (which is what they are for). */
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

static void test_pool_in_a_forked_child(void **state)
{
    (void)state;
    pthread_mutex_lock(&holding);
    pthread_t t;
    pthread_create(&t, NULL, hold_the_pool_lock, NULL);
    while (!atomic_load(&held))
        sched_yield();
    pid_t pid = fork();
    if (pid == 0) {
        /* the holder does not exist here */
        ts_block_pool_after_fork(&spans_like);
        void *b = ts_block_get(&spans_like);
        ts_block_put(&spans_like, b);
        _exit(b ? 0 : 1);
    }
    int st = 0;
    alarm(10); /* a child stuck on the lock would be killed, and fail the test */
    assert_int_equal(waitpid(pid, &st, 0), pid);
    alarm(0);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    pthread_mutex_unlock(&holding);
    pthread_join(t, NULL);
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
    pthread_create(&t, NULL, hold_the_pool_lock, NULL);
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
        cmocka_unit_test(test_buffers_grow_and_keep_their_bytes),
        cmocka_unit_test(test_a_burst_goes_back_to_the_system),
        cmocka_unit_test(test_after_a_backlog_drains_few_chunks_stay),
        cmocka_unit_test(test_a_batch_rising_and_falling_maps_nothing_new),
        cmocka_unit_test(test_no_thrashing_at_a_chunk_edge),
        cmocka_unit_test(test_pool_in_a_forked_child),
        cmocka_unit_test(test_usable_in_a_handler_that_interrupted_malloc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
