/* test_queue_signals.c — the lock-free span queue (reporter/queue.h)
 * under the worst the shim meets: producers interrupted by a signal
 * handler that itself pushes (the hooks run in handlers too), sometimes
 * between another push's claim of a place and its publication; whole
 * blocks and sized records mixed; a consumer taking and giving back in
 * chunks; a trimmer giving recycled records back to their pools all the
 * while. Every span pushed is taken exactly once with its own bytes (a
 * record handed out twice would carry another span's name), and nothing
 * is left behind. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "preload/span.h"
#include "reporter/queue.h"

enum { PRODUCERS = 3, PER = 60000, CAP = 1 << 16 };

static struct ts_rep_queue q;
static struct ts_block_pool whole = TS_BLOCK_POOL_INIT(sizeof(struct ts_span) + 64);
static atomic_uint_fast64_t pushed, taken_n, dropped_n, in_handler;
static atomic_bool stop;
static atomic_int finished;
static atomic_uint seqgen;

static void mk(struct ts_span *s, uint32_t seq)
{
    ts_span_clear(s);
    memcpy(s->span_id, &seq, sizeof seq);
    s->sampled = 1;
    char name[32];
    int n = snprintf(name, sizeof name, "s%u", seq);
    ts_span_set_name(s, name, (size_t)n);
}

static __thread struct ts_span *stash; /* a record for the handler, made outside it */
static sigset_t usr1;

static void push_one(int use_whole)
{
    /* The queue is never full: a producer waits while it is three quarters
     * so (on a loaded machine the consumer can be off the processor for
     * long), as the reporter's bench does. */
    while (ts_rep_queue_count(&q) > CAP / 4 * 3) {
        struct timespec d = {0, 50000};
        nanosleep(&d, NULL);
    }
    /* Everything that may take a pool lock runs with the signal blocked:
     * the handler only pushes (lock-free). */
    pthread_sigmask(SIG_BLOCK, &usr1, NULL);
    if (!stash) {
        struct ts_span t;
        mk(&t, 0xffff);
        stash = ts_rep_queue_record(&q, &t);
    }
    uint32_t seq = atomic_fetch_add(&seqgen, 1) & 0xffff;
    struct ts_span *rec = NULL;
    if (use_whole && ts_rep_queue_count(&q) < 64 && ts_rep_queue_adopt(&q, &whole)) {
        rec = ts_rep_queue_reuse(&q, &whole);
        if (!rec)
            rec = ts_block_get(&whole);
        if (!rec)
            abort();
        mk(rec, seq);
    } else {
        struct ts_span s;
        mk(&s, seq);
        rec = ts_rep_queue_record(&q, &s);
    }
    pthread_sigmask(SIG_UNBLOCK, &usr1, NULL);
    if (ts_rep_queue_push_record(&q, rec))
        atomic_fetch_add(&pushed, 1);
    else
        atomic_fetch_add(&dropped_n, 1);
}

static void on_sig(int sig)
{
    (void)sig;
    atomic_fetch_add(&in_handler, 1);
    struct ts_span *rec = stash;
    stash = NULL;
    if (rec && ts_rep_queue_push_record(&q, rec))
        atomic_fetch_add(&pushed, 1);
}

static void *producer(void *arg)
{
    (void)arg;
    /* PER pushes, and on until a handler has pushed (the signaller may not
     * have run yet on a loaded machine), for 20 s at most. */
    time_t give_up = time(NULL) + 20;
    for (int i = 0; i < PER || (atomic_load(&in_handler) == 0 && time(NULL) < give_up); i++)
        push_one(i & 1);
    atomic_fetch_add(&finished, 1);
    return NULL;
}

static void *signaller(void *arg)
{
    pthread_t *ts = arg;
    while (!atomic_load(&stop)) {
        for (int i = 0; i < PRODUCERS; i++)
            pthread_kill(ts[i], SIGUSR1);
        struct timespec d = {0, 20000};
        nanosleep(&d, NULL);
    }
    return NULL;
}

static void *trimmer(void *arg)
{
    (void)arg;
    pthread_sigmask(SIG_BLOCK, &usr1, NULL);
    while (!atomic_load(&stop)) {
        ts_rep_queue_trim(&q, 0);
        struct timespec d = {0, 200000};
        nanosleep(&d, NULL);
    }
    return NULL;
}

static void consume_some(void)
{
    struct ts_span *recs[64];
    ts_rep_queue_lock(&q, NULL);
    size_t n = ts_rep_queue_take_locked(&q, recs, 64);
    ts_rep_queue_unlock(&q);
    for (size_t i = 0; i < n; i++) {
        uint32_t seq;
        memcpy(&seq, recs[i]->span_id, sizeof seq);
        char name[32];
        int l = snprintf(name, sizeof name, "s%u", seq);
        assert_int_equal(recs[i]->name_len, l);
        assert_memory_equal(ts_span_name(recs[i]), name, (size_t)l);
    }
    atomic_fetch_add(&taken_n, n);
    ts_rep_queue_release_many(&q, recs, n);
}

static void test_pushes_from_signal_handlers_all_arrive(void **state)
{
    (void)state;
    assert_true(ts_rep_queue_init(&q, CAP));
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    struct sigaction sa = {0};
    sa.sa_handler = on_sig;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    pthread_t ts[PRODUCERS], sg, tr;
    for (int i = 0; i < PRODUCERS; i++)
        pthread_create(&ts[i], NULL, producer, NULL);
    pthread_create(&sg, NULL, signaller, ts);
    pthread_create(&tr, NULL, trimmer, NULL);
    while (atomic_load(&finished) < PRODUCERS)
        consume_some();
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(ts[i], NULL);
    atomic_store(&stop, true);
    pthread_join(sg, NULL);
    pthread_join(tr, NULL);
    /* What the producers left: up to three quarters of the queue when the
     * consumer was off the processor (a loaded machine), far more than a
     * fixed number of chunks; so until none is left, for 20 s at most. */
    time_t give_up = time(NULL) + 20;
    while (ts_rep_queue_count(&q) > 0 && time(NULL) < give_up)
        consume_some();
    assert_true(atomic_load(&in_handler) > 0); /* the handlers did run, and push */
    assert_int_equal(atomic_load(&dropped_n), 0); /* the queue holds them all */
    assert_int_equal(atomic_load(&taken_n), atomic_load(&pushed));
    assert_int_equal(ts_rep_queue_count(&q), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pushes_from_signal_handlers_all_arrive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
