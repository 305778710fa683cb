/* test_queue.c — the span ring on its own (order, drops, records sized to
 * the span, memory that follows the queue's depth, records given back a
 * chunk at a time and read where they are, fork), and the reporter
 * end to end:
 * threads submitting into the file exporter, a full queue, fork, the
 * program closing or dup2'ing over the exporter's fd, periodic and
 * batch-triggered export, line splitting, the console and none exporters.
 *
 * Reporter state is per process and fixed at its first span (queue size,
 * file path), so every reporter scenario runs in a forked child of the
 * test runner, with a fresh reporter; the child reports failures through
 * its exit status (CHECK), the runner asserts it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <linux/seccomp.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "isolated.h"

#include "preload/clock.h"
#include "preload/config.h"
#include "preload/fd_split.h"
#include "preload/log.h"
#include "preload/process.h"
#include "preload/sandbox.h"
#include "preload/span.h"
#include "preload/url.h"
#include "reporter/json_buf.h"
#include "reporter/program_stderr.h"
#include "reporter/queue.h"
#include "reporter/reporter.h"

#if defined(__SANITIZE_THREAD__)
/* The fork scenarios start the child's reporter thread after a fork of a
 * multi-threaded process, exactly what the shim does in real programs;
 * TSan refuses that by default. */
const char *__tsan_default_options(void);
const char *__tsan_default_options(void)
{
    return "die_after_fork=0";
}
#endif

/* ------------------------------------------------------------- helpers */

static void make_span(struct ts_span *s, const char *name)
{
    static uint32_t seq;
    uint32_t n = __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED);
    ts_span_clear(s);
    memset(s->trace_id, 0xab, sizeof s->trace_id);
    memcpy(s->span_id, &n, sizeof n);
    s->span_id[7] = 1;
    s->kind = TS_KIND_SERVER;
    s->sampled = 1;
    s->start_ns = 1000;
    s->end_ns = 2000;
    ts_span_set_name(s, name, strlen(name));
    ts_span_attr_cstr(s, "http.request.method", "GET");
    ts_span_attr_int(s, "http.response.status_code", 200);
}

static void name_of(const struct ts_span *s, char *out, size_t cap)
{
    size_t n = s->name_len < cap - 1 ? s->name_len : cap - 1;
    memcpy(out, ts_span_name(s), n);
    out[n] = '\0';
}

/* ------------------------------------------------------ the ring alone */

static void test_queue_capacity_order_and_drops(void **state)
{
    struct ts_rep_queue q;
    assert_true(ts_rep_queue_init(&q, 4));
    struct ts_span s, out[10];
    char name[32];
    for (int i = 0; i < 6; i++) {
        snprintf(name, sizeof name, "s%d", i);
        make_span(&s, name);
        assert_int_equal(ts_rep_queue_push(&q, &s), i < 4);
    }
    assert_int_equal(ts_rep_queue_count(&q), 4);
    assert_int_equal(ts_rep_queue_dropped(&q), 2);
    assert_int_equal(ts_rep_queue_pop(&q, out, 10), 4);
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "s%d", i);
        char got[32];
        name_of(&out[i], got, sizeof got);
        assert_string_equal(got, name); /* oldest first; the late ones were dropped */
    }
    assert_int_equal(ts_rep_queue_pop(&q, out, 10), 0);
    assert_int_equal(ts_rep_queue_count(&q), 0);
    ts_rep_queue_destroy(&q);
}

/* Head and tail wrap around the end of the storage. */
static void test_queue_wraps_around(void **state)
{
    struct ts_rep_queue q;
    assert_true(ts_rep_queue_init(&q, 3));
    struct ts_span s, out[3];
    char got[32];
    int next_in = 0, next_out = 0;
    for (int round = 0; round < 10; round++) {
        while (ts_rep_queue_count(&q) < 3) {
            char name[32];
            snprintf(name, sizeof name, "n%d", next_in++);
            make_span(&s, name);
            assert_true(ts_rep_queue_push(&q, &s));
        }
        make_span(&s, "overflow");
        assert_false(ts_rep_queue_push(&q, &s));
        size_t n = ts_rep_queue_pop(&q, out, 2); /* leave one behind */
        assert_int_equal(n, 2);
        for (size_t i = 0; i < n; i++) {
            char want[32];
            snprintf(want, sizeof want, "n%d", next_out++);
            name_of(&out[i], got, sizeof got);
            assert_string_equal(got, want);
        }
    }
    assert_int_equal(ts_rep_queue_dropped(&q), 10);
    ts_rep_queue_destroy(&q);
}

/* The record comes out whole: ids, the attributes and string bytes in use
 * (the slots after them are not copied). */
static void test_queue_copies_the_record(void **state)
{
    struct ts_rep_queue q;
    assert_true(ts_rep_queue_init(&q, 2));
    struct ts_span s, out;
    make_span(&s, "GET /a/long/enough/path");
    ts_span_attr_cstr(&s, "url.path", "/a/long/enough/path");
    s.parent_id[3] = 9;
    s.status = TS_STATUS_ERROR;
    assert_true(ts_rep_queue_push(&q, &s));
    memset(&out, 0x5a, sizeof out);
    assert_int_equal(ts_rep_queue_pop(&q, &out, 1), 1);
    assert_memory_equal(&out, &s, offsetof(struct ts_span, attrs) + s.nattrs * sizeof s.attrs[0]);
    assert_memory_equal(out.str, s.str, s.str_used);
    const struct ts_attr *a = ts_span_attr_find(&out, "url.path");
    assert_non_null(a);
    assert_memory_equal(ts_span_attr_sval(&out, a), "/a/long/enough/path", a->len);
    ts_rep_queue_destroy(&q);
}

static void test_queue_reserve_and_after_fork(void **state)
{
    struct ts_rep_queue q = TS_REP_QUEUE_INITIALIZER;
    struct ts_span s;
    make_span(&s, "x");
    assert_false(ts_rep_queue_push(&q, &s)); /* no storage yet: dropped */
    assert_int_equal(ts_rep_queue_dropped(&q), 1);
    assert_true(ts_rep_queue_reserve(&q, 0)); /* 0 means 1 */
    struct ts_span **slots = q.slots;
    assert_true(ts_rep_queue_reserve(&q, 100)); /* already has storage: kept */
    assert_ptr_equal(q.slots, slots);
    assert_int_equal(q.cap, 1);
    assert_true(ts_rep_queue_push(&q, &s));
    assert_false(ts_rep_queue_push(&q, &s));
    ts_rep_queue_after_fork(&q);
    assert_int_equal(ts_rep_queue_count(&q), 0);
    assert_int_equal(ts_rep_queue_dropped(&q), 0);
    assert_true(ts_rep_queue_push(&q, &s)); /* usable again */
    ts_rep_queue_destroy(&q);
}

/* VmRSS of this process, in KiB. */
static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return kib;
}

/* Only queued spans take memory: a queue with room for 100,000 spans
 * through which 200,000 pass, never more than 8 at once, keeps 8 records
 * and its ring of pointers, not 100,000 span records (200 MiB). */
static void test_queue_memory_follows_depth(void **state)
{
    enum { CAP = 100000, TOTAL = 200000, DEPTH = 8 };
    struct ts_rep_queue q;
    long before = rss_kib();
    assert_true(ts_rep_queue_init(&q, CAP));
    assert_int_equal(ts_rep_queue_records_carved(&q), 0); /* nothing until a span comes */
    struct ts_span s, out[DEPTH];
    make_span(&s, "GET /");
    for (int i = 0; i < TOTAL / DEPTH; i++) {
        for (int k = 0; k < DEPTH; k++)
            assert_true(ts_rep_queue_push(&q, &s));
        assert_int_equal(ts_rep_queue_pop(&q, out, DEPTH), DEPTH);
    }
    assert_int_equal(ts_rep_queue_records_carved(&q), DEPTH); /* the peak, reused */
    assert_int_equal(ts_rep_queue_records_bytes(&q), DEPTH * q.records[0].size);
    long grown = rss_kib() - before;
    /* 131,072 slots (100,000 rounded up to a power of two) of 8 bytes,
     * touched as the ring wraps, and 8 records: about 1 MiB (leave room for
     * a sanitizer's shadow of them; ThreadSanitizer also keeps a
     * synchronisation object, some 200 bytes, for every slot that a
     * release store has published a record through). Either way far from
     * 100,000 records. */
#if defined(__SANITIZE_THREAD__)
    assert_true(grown < 48 * 1024);
#else
    assert_true(grown < 16 * 1024);
#endif
    ts_rep_queue_destroy(&q);
}

/* A span takes the smallest record that holds what it uses; a long one and
 * one with a call stack come out whole. */
static void test_queue_record_sizes(void **state)
{
    struct ts_rep_queue q;
    assert_true(ts_rep_queue_init(&q, 8));
    struct ts_span small, medium, big, stack, out;
    make_span(&small, "GET /");
    make_span(&medium, "GET /medium");
    char value[TS_SPAN_STRBUF];
    memset(value, 'm', sizeof value);
    ts_span_attr_str(&medium, "url.path", value, 400);
    make_span(&big, "GET /big");
    ts_span_attr_str(&big, "url.path", value, 1000);
    make_span(&stack, "GET /stack");
    stack.nframes = 5;
    for (int i = 0; i < 5; i++)
        stack.frames[i] = 0x1000 + (uintptr_t)i;
    assert_true(small.str_used <= TS_REP_RECORD_STR_SMALL);
    assert_true(medium.str_used > TS_REP_RECORD_STR_SMALL &&
                medium.str_used <= TS_REP_RECORD_STR_MEDIUM);
    assert_true(big.str_used > TS_REP_RECORD_STR_MEDIUM);

    assert_true(ts_rep_queue_push(&q, &small));
    assert_int_equal(ts_rep_queue_records_bytes(&q), q.records[0].size);
    assert_true(q.records[0].size < sizeof(struct ts_span) / 2);
    assert_true(ts_rep_queue_push(&q, &medium));
    assert_int_equal(ts_rep_queue_records_bytes(&q), q.records[0].size + q.records[1].size);
    assert_true(ts_rep_queue_push(&q, &big));
    assert_true(ts_rep_queue_push(&q, &stack));
    assert_int_equal(ts_rep_queue_records_carved(&q), 4);
    assert_int_equal(ts_block_pool_carved(&q.records[2]), 2);

    const struct ts_span *want[] = {&small, &medium, &big, &stack};
    for (int i = 0; i < 4; i++) {
        memset(&out, 0x5a, sizeof out);
        assert_int_equal(ts_rep_queue_pop(&q, &out, 1), 1);
        assert_memory_equal(&out, want[i],
                            offsetof(struct ts_span, attrs) +
                                want[i]->nattrs * sizeof want[i]->attrs[0]);
        assert_memory_equal(out.str, want[i]->str, want[i]->str_used);
    }
    assert_int_equal(out.nframes, 5);
    assert_memory_equal(out.frames, stack.frames, 5 * sizeof stack.frames[0]);
    /* given back: the same four again take no new blocks */
    for (int i = 0; i < 4; i++)
        assert_true(ts_rep_queue_push(&q, want[i]));
    assert_int_equal(ts_rep_queue_records_carved(&q), 4);
    ts_rep_queue_destroy(&q);
}

/* A full queue drops the span and gives its record back at once: pushing
 * far past the capacity keeps no more records than the capacity and the
 * one a pusher makes before it finds the queue full. */
static void test_queue_full_gives_records_back(void **state)
{
    struct ts_rep_queue q;
    assert_true(ts_rep_queue_init(&q, 16));
    struct ts_span s;
    make_span(&s, "GET /");
    for (int i = 0; i < 1000; i++)
        assert_int_equal(ts_rep_queue_push(&q, &s), i < 16);
    for (int i = 0; i < 1000; i++) /* a consumer holding the mutex changes nothing */
        assert_false(ts_rep_queue_push(&q, &s));
    assert_int_equal(ts_rep_queue_dropped(&q), 2000 - 16);
    assert_int_equal(ts_rep_queue_count(&q), 16);
    assert_int_equal(ts_rep_queue_records_carved(&q), 17);
    /* a record made and then refused (the pusher's race with a full queue):
     * the block given back before is reused */
    struct ts_span *rec = ts_rep_queue_record(&q, &s);
    assert_non_null(rec);
    assert_int_equal(ts_rep_queue_push_record(&q, rec), 0);
    assert_int_equal(ts_rep_queue_push_record(&q, NULL), 0); /* no memory: dropped too */
    assert_int_equal(ts_rep_queue_records_carved(&q), 17);
    assert_int_equal(ts_rep_queue_dropped(&q), 2000 - 16 + 2);
    struct ts_span out[16];
    assert_int_equal(ts_rep_queue_pop(&q, out, 16), 16);
    for (int i = 0; i < 17; i++) /* all 17 blocks are free again */
        assert_true(ts_rep_queue_push(&q, &s) == (i < 16));
    assert_int_equal(ts_rep_queue_records_carved(&q), 17);
    ts_rep_queue_destroy(&q);
}

/* The reporter's way out: pointers to the oldest records, in order, owned
 * by the taker until it gives them back (then reused, no new blocks). */
static void test_queue_take_and_release(void **state)
{
    struct ts_rep_queue q;
    assert_true(ts_rep_queue_init(&q, 8));
    struct ts_span s, whole;
    char name[32], got[32];
    for (int i = 0; i < 5; i++) {
        snprintf(name, sizeof name, "t%d", i);
        make_span(&s, name);
        assert_true(ts_rep_queue_push(&q, &s));
    }
    struct ts_span *recs[8];
    ts_rep_queue_lock(&q, NULL);
    assert_int_equal(ts_rep_queue_take_locked(&q, recs, 3), 3);
    ts_rep_queue_unlock(&q);
    assert_int_equal(ts_rep_queue_count(&q), 2);
    for (int i = 0; i < 3; i++) {
        memset(&whole, 0x5a, sizeof whole);
        ts_rep_queue_read(&whole, recs[i]);
        snprintf(name, sizeof name, "t%d", i);
        name_of(&whole, got, sizeof got);
        assert_string_equal(got, name);
        ts_rep_queue_release(&q, recs[i]);
    }
    ts_rep_queue_release(&q, NULL); /* harmless */
    for (int i = 0; i < 6; i++)
        assert_true(ts_rep_queue_push(&q, &s));
    assert_int_equal(ts_rep_queue_records_carved(&q), 8); /* 5, 3 of them reused, 3 new */
    ts_rep_queue_destroy(&q);
}

/* Records of every class taken out together and given back together (a
 * chunk of spans the reporter has encoded): each goes back to its own
 * pool, a missing one is skipped, and the same spans again take no new
 * blocks. */
static void test_queue_release_many(void **state)
{
    struct ts_rep_queue q;
    assert_true(ts_rep_queue_init(&q, 8));
    struct ts_span spans[4];
    char value[TS_SPAN_STRBUF];
    memset(value, 'v', sizeof value);
    make_span(&spans[0], "GET /small");
    make_span(&spans[1], "GET /medium");
    ts_span_attr_str(&spans[1], "url.path", value, 400);
    make_span(&spans[2], "GET /big");
    ts_span_attr_str(&spans[2], "url.path", value, 1000);
    make_span(&spans[3], "GET /stack");
    spans[3].nframes = 3;
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 4; i++)
            assert_true(ts_rep_queue_push(&q, &spans[i]));
        struct ts_span *recs[5];
        ts_rep_queue_lock(&q, NULL);
        assert_int_equal(ts_rep_queue_take_locked(&q, recs, 4), 4);
        ts_rep_queue_unlock(&q);
        recs[4] = recs[3];
        recs[3] = NULL;
        ts_rep_queue_release_many(&q, recs, 5);
        assert_int_equal(ts_rep_queue_records_carved(&q), 4);
        assert_int_equal(ts_block_pool_carved(&q.records[0]), 1);
        assert_int_equal(ts_block_pool_carved(&q.records[1]), 1);
        assert_int_equal(ts_block_pool_carved(&q.records[2]), 2);
    }
    ts_rep_queue_trim(&q, 0); /* all free: every chunk goes */
    size_t bytes = 0;
    for (int k = 0; k < TS_REP_RECORD_CLASSES; k++) {
        size_t b;
        ts_block_pool_chunks(&q.records[k], &b);
        bytes += b;
    }
    assert_int_equal(bytes, 0);
    ts_rep_queue_destroy(&q);
}

/* The records a chunk of spans gave back are the next spans' records,
 * taken from q->recycled and not from the pool: as many as it holds
 * (TS_REP_RECYCLE of a class; the others go back to the pool), each
 * handed out once; an idle trim gives them back to the pool, and its
 * chunks go. */
static void test_queue_records_recycled(void **state)
{
    enum { N = TS_REP_RECYCLE + 10 };
    struct ts_rep_queue q;
    assert_true(ts_rep_queue_init(&q, N));
    struct ts_span s;
    make_span(&s, "GET /recycled");
    for (int i = 0; i < N; i++)
        assert_true(ts_rep_queue_push(&q, &s));
    static struct ts_span *recs[N], *again[N];
    ts_rep_queue_lock(&q, NULL);
    assert_int_equal(ts_rep_queue_take_locked(&q, recs, N), N);
    ts_rep_queue_unlock(&q);
    ts_rep_queue_release_many(&q, recs, N);
    struct ts_rep_recycle *r = &q.recycled[0];
    assert_int_equal(r->tail - r->head, TS_REP_RECYCLE); /* full; 10 went to the pool */
    for (int i = 0; i < TS_REP_RECYCLE; i++) { /* the first TS_REP_RECYCLE released, in order */
        again[i] = ts_rep_queue_record(&q, &s);
        assert_ptr_equal(again[i], recs[i]);
    }
    assert_int_equal(r->tail - r->head, 0);
    for (int i = TS_REP_RECYCLE; i < N; i++) { /* the pool's, none handed out twice */
        again[i] = ts_rep_queue_record(&q, &s);
        for (int j = 0; j < i; j++)
            assert_ptr_not_equal(again[i], again[j]);
    }
    assert_int_equal(ts_rep_queue_records_carved(&q), N);
    ts_rep_queue_release_many(&q, again, N);
    ts_rep_queue_trim(&q, 0); /* the recycled ones too: every chunk goes */
    assert_int_equal(r->tail - r->head, 0);
    assert_int_equal(ts_block_pool_chunks(&q.records[0], NULL), 0);
    /* Again, many laps of the recycled queue */
    for (int lap = 0; lap < 10; lap++) {
        for (int i = 0; i < 50; i++)
            assert_true(ts_rep_queue_push(&q, &s));
        ts_rep_queue_lock(&q, NULL);
        assert_int_equal(ts_rep_queue_take_locked(&q, recs, N), 50);
        ts_rep_queue_unlock(&q);
        ts_rep_queue_release_many(&q, recs, 50);
    }
    assert_int_equal(ts_rep_queue_records_carved(&q), 50);
    /* A forked child (after_fork in this process): the recycled records
     * are free blocks of the pool again, the recycled queue empty. */
    assert_int_equal(r->tail - r->head, 50);
    ts_rep_queue_after_fork(&q);
    assert_int_equal(r->tail, 0);
    assert_int_equal(r->head, 0);
    for (int i = 0; i < 50; i++)
        assert_true(ts_rep_queue_push(&q, &s));
    assert_int_equal(ts_rep_queue_records_carved(&q), 50);
    ts_rep_queue_destroy(&q);
}

/* A fork from a signal handler that interrupted this thread's get of a
 * recycled record, after it claimed the record's cell and before it marked
 * it taken (emulated by hand: head moved, then after_fork, then the get's
 * mark). The child gives that record to no one else (the get goes on and
 * takes it), and the mark, a lap ahead of the emptied queue, makes puts
 * and gets at that cell give up instead of waiting for it for ever (the
 * test would hang; alarm ends it). */
static void test_queue_recycled_get_across_a_fork(void **state)
{
    (void)state;
    enum { N = 4 };
    struct ts_rep_queue q;
    assert_true(ts_rep_queue_init(&q, 16));
    struct ts_span s;
    make_span(&s, "GET /recycled");
    struct ts_span *recs[N], *again[3 * N];
    for (int i = 0; i < N; i++)
        assert_true(ts_rep_queue_push(&q, &s));
    ts_rep_queue_lock(&q, NULL);
    assert_int_equal(ts_rep_queue_take_locked(&q, recs, N), N);
    ts_rep_queue_unlock(&q);
    ts_rep_queue_release_many(&q, recs, N);
    struct ts_rep_recycle *r = &q.recycled[0];
    assert_int_equal(r->tail - r->head, N);

    void *claimed = r->cells[0].block;
    __atomic_fetch_add(&r->head, 1, __ATOMIC_SEQ_CST); /* the get claims cell 0 */
    ts_rep_queue_after_fork(&q);                       /* the handler forks */
    /* The cells given back hold no block: a get interrupted before its
     * claim (of position 0, the child's first) would find none. */
    for (int i = 1; i < N; i++)
        assert_null(r->cells[i].block);
    assert_ptr_equal(r->cells[0].block, claimed);
    __atomic_store_n(&r->cells[0].lap, TS_REP_RECYCLE, __ATOMIC_RELEASE); /* the get marks it */

    alarm(20);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < N; i++) {
            again[i] = ts_rep_queue_record(&q, &s);
            assert_non_null(again[i]);
            assert_ptr_not_equal(again[i], claimed);
            for (int j = 0; j < i; j++)
                assert_ptr_not_equal(again[i], again[j]);
        }
        ts_rep_queue_release_many(&q, again, N);
        assert_true(ts_rep_queue_push(&q, &s));
        assert_int_equal(ts_rep_queue_pop(&q, &s, 1), 1);
    }
    alarm(0);
    ts_rep_queue_destroy(&q);
}

/* Whole blocks: a span made in a block of the adopted pool is queued as
 * it is, read where it is, and given back to the queue, from which the
 * pool's next block comes (as many as the queue keeps; the others to the
 * pool); one pool only. */
static struct ts_block_pool whole_pool = TS_BLOCK_POOL_INIT(sizeof(struct ts_span) + 120);

static struct ts_span *whole_span(const char *name)
{
    struct ts_span *s = ts_block_get(&whole_pool);
    assert_non_null(s);
    make_span(s, name);
    return s;
}

static void test_queue_whole_blocks(void **state)
{
    enum { N = TS_REP_RECYCLE + 6 };
    struct ts_rep_queue q;
    assert_true(ts_rep_queue_init(&q, 2 * N));
    static struct ts_block_pool other = TS_BLOCK_POOL_INIT(sizeof(struct ts_span));
    static struct ts_block_pool too_big = TS_BLOCK_POOL_INIT(TS_BLOCK_HOME_MAX + 16);
    assert_false(ts_rep_queue_adopt(&q, &too_big));
    assert_null(ts_rep_queue_reuse(&q, &whole_pool)); /* nothing adopted yet */
    assert_true(ts_rep_queue_adopt(&q, &whole_pool));
    assert_true(ts_rep_queue_adopt(&q, &whole_pool));
    assert_false(ts_rep_queue_adopt(&q, &other)); /* one pool per queue */
    assert_null(ts_rep_queue_reuse(&q, &other));

    /* whole blocks and records in one queue, in order */
    static struct ts_span *blocks[N], *recs[2 * N];
    char name[32];
    struct ts_span copy;
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "w%d", i);
        blocks[i] = whole_span(name);
        assert_int_equal(ts_rep_queue_push_record(&q, blocks[i]), 2 * (size_t)i + 1);
        snprintf(name, sizeof name, "r%d", i);
        make_span(&copy, name);
        assert_true(ts_rep_queue_push(&q, &copy));
    }
    ts_rep_queue_lock(&q, NULL);
    assert_int_equal(ts_rep_queue_take_locked(&q, recs, 2 * N), 2 * N);
    ts_rep_queue_unlock(&q);
    for (int i = 0; i < N; i++) {
        assert_ptr_equal(recs[2 * i], blocks[i]); /* the block itself, not a copy */
        assert_true(ts_rep_queue_readable_in_place(recs[2 * i]));
        snprintf(name, sizeof name, "r%d", i);
        assert_memory_equal(ts_span_name(recs[2 * i + 1]), name, strlen(name));
        assert_ptr_equal(ts_block_home(recs[2 * i + 1]), &q.records[0]);
    }
    ts_rep_queue_release_many(&q, recs, 2 * N);
    /* the first TS_REP_RECYCLE come back through the queue, in order; the
     * rest went to the pool */
    for (int i = 0; i < TS_REP_RECYCLE; i++)
        assert_ptr_equal(ts_rep_queue_reuse(&q, &whole_pool), blocks[i]);
    assert_null(ts_rep_queue_reuse(&q, &whole_pool));
    assert_int_equal(ts_rep_queue_records_carved(&q), N); /* the copies' records only */

    /* a full queue gives a whole block back to its pool */
    size_t carved = ts_block_pool_carved(&whole_pool);
    for (int i = 0; i < 2 * N; i++)
        assert_true(ts_rep_queue_push(&q, &copy));
    assert_int_equal(ts_rep_queue_push_record(&q, blocks[0]), 0);
    assert_ptr_equal(ts_block_get(&whole_pool), blocks[0]);
    assert_int_equal(ts_block_pool_carved(&whole_pool), carved);

    /* what pop and a trim do with them */
    struct ts_span out;
    while (ts_rep_queue_pop(&q, &out, 1))
        ;
    assert_int_equal(ts_rep_queue_push_record(&q, blocks[0]), 1);
    assert_int_equal(ts_rep_queue_pop(&q, &out, 1), 1); /* its block to the pool */
    assert_memory_equal(ts_span_name(&out), "w0", 2);
    ts_rep_queue_release_many(&q, blocks + 1, 5);
    ts_rep_queue_trim(&q, 0);
    assert_null(ts_rep_queue_reuse(&q, &whole_pool));
    for (int i = 6; i < TS_REP_RECYCLE; i++) /* the ones still reused here */
        ts_block_put(&whole_pool, blocks[i]);
    /* every block is free in its pool again: w0 popped, w1-w5 trimmed, the
     * last 6 released to it */
    ts_block_pool_trim(&whole_pool, 0);
    assert_int_equal(ts_block_pool_chunks(&whole_pool, NULL), 0);
    ts_rep_queue_destroy(&q);
}

/* In a forked child (after_fork here) the whole blocks the queue held,
 * queued or given back, are not given to their pool at once (its own
 * fork handler may not have run: its lock is held here to show it) but
 * at the next trim; destroy gives back those still queued. */
static void test_queue_whole_blocks_after_fork(void **state)
{
    struct ts_rep_queue q;
    assert_true(ts_rep_queue_init(&q, 16));
    assert_true(ts_rep_queue_adopt(&q, &whole_pool));
    struct ts_span *a = whole_span("a"), *b = whole_span("b"), *c = whole_span("c");
    assert_true(ts_rep_queue_push_record(&q, a) > 0);
    ts_rep_queue_lock(&q, NULL);
    struct ts_span *taken;
    assert_int_equal(ts_rep_queue_take_locked(&q, &taken, 1), 1);
    ts_rep_queue_unlock(&q);
    ts_rep_queue_release_many(&q, &taken, 1); /* a waits for reuse */
    assert_true(ts_rep_queue_push_record(&q, b) > 0); /* b queued */
    struct ts_span rec;
    make_span(&rec, "record");
    assert_true(ts_rep_queue_push(&q, &rec));
    pthread_mutex_lock(&whole_pool.mu);
    ts_rep_queue_after_fork(&q); /* would wait for the lock forever if it took it */
    assert_int_equal(ts_rep_queue_count(&q), 0);
    assert_null(ts_rep_queue_reuse(&q, &whole_pool));
    pthread_mutex_unlock(&whole_pool.mu);
    assert_int_equal(ts_rep_queue_records_carved(&q), 1);
    ts_rep_queue_trim(&q, 0); /* a and b back to the pool */
    assert_true(ts_rep_queue_push_record(&q, c) > 0);
    ts_rep_queue_destroy(&q); /* c back to the pool */
    ts_block_pool_trim(&whole_pool, 0);
    assert_int_equal(ts_block_pool_chunks(&whole_pool, NULL), 0);
}

/* A record without a call stack is encoded where it is: every string of
 * it reads, through ts_span_bytes, as in the span it was made from, and
 * nothing past the bytes it holds is reachable; one with a stack, or with
 * Jaeger's sampler tags to come, must be copied into a whole span
 * (attributes are added to it). */
static void test_queue_record_read_in_place(void **state)
{
    struct ts_rep_queue q;
    assert_true(ts_rep_queue_init(&q, 8));
    struct ts_span s, stack, tagged;
    make_span(&s, "GET /in-place");
    ts_span_attr_str(&s, "url.path", "/in-place", 9);
    ts_span_attr_int(&s, "server.port", 8080);
    make_span(&stack, "GET /stack");
    stack.nframes = 2;
    make_span(&tagged, "GET /root");
    tagged.sampler_tag = TS_SAMPLER_TAG_PROBABILISTIC;
    assert_true(ts_rep_queue_push(&q, &s));
    assert_true(ts_rep_queue_push(&q, &stack));
    assert_true(ts_rep_queue_push(&q, &tagged));
    struct ts_span *recs[3];
    ts_rep_queue_lock(&q, NULL);
    assert_int_equal(ts_rep_queue_take_locked(&q, recs, 3), 3);
    ts_rep_queue_unlock(&q);
    assert_true(ts_rep_queue_readable_in_place(recs[0]));
    assert_false(ts_rep_queue_readable_in_place(recs[1]));
    assert_false(ts_rep_queue_readable_in_place(recs[2]));
    const struct ts_span *rec = recs[0];
    size_t n, m;
    const char *got = ts_span_bytes(rec, rec->name_off, rec->name_len, &n);
    const char *want = ts_span_bytes(&s, s.name_off, s.name_len, &m);
    assert_int_equal(n, m);
    assert_memory_equal(got, want, n);
    assert_int_equal(rec->nattrs, s.nattrs);
    for (size_t i = 0; i < s.nattrs; i++) {
        got = ts_span_bytes(rec, rec->attrs[i].off, rec->attrs[i].len, &n);
        want = ts_span_bytes(&s, s.attrs[i].off, s.attrs[i].len, &m);
        assert_int_equal(n, m);
        assert_memory_equal(got, want, n);
        assert_true(got + n <= rec->str + rec->str_used);
    }
    /* past what the record holds: nothing, wherever an offset points */
    ts_span_bytes(rec, rec->str_used, 100, &n);
    assert_int_equal(n, 0);
    ts_span_bytes(rec, TS_SPAN_STRBUF - 1, 100, &n);
    assert_int_equal(n, 0);
    ts_rep_queue_release_many(&q, recs, 3);
    ts_rep_queue_destroy(&q);
}

/* A cap that is not a power of two: the ring has more slots than the
 * queue may hold, and the limit is still exactly cap, lap after lap. */
static void test_queue_cap_not_power_of_two(void **state)
{
    struct ts_rep_queue q;
    assert_true(ts_rep_queue_init(&q, 20));
    assert_int_equal(q.mask + 1, 32);
    struct ts_span s, out[20];
    char name[32];
    int next = 0, expect = 0;
    for (int lap = 0; lap < 50; lap++) {
        for (int i = 0; i < 25; i++) {
            snprintf(name, sizeof name, "n%d", next);
            make_span(&s, name);
            bool queued = ts_rep_queue_push(&q, &s);
            assert_int_equal(queued, i < 20);
            next += queued;
        }
        assert_int_equal(ts_rep_queue_count(&q), 20);
        size_t n = ts_rep_queue_pop(&q, out, 7 + (size_t)lap % 13);
        for (size_t k = 0; k < n; k++) {
            snprintf(name, sizeof name, "n%d", expect++);
            assert_int_equal(out[k].name_len, strlen(name));
            assert_memory_equal(ts_span_name(&out[k]), name, out[k].name_len);
        }
        while ((n = ts_rep_queue_pop(&q, out, 20)) > 0)
            expect += (int)n;
        next = expect;
    }
    assert_int_equal(ts_rep_queue_dropped(&q), 50 * 5);
    ts_rep_queue_destroy(&q);
}

/* A producer that has claimed a place and not yet published its record
 * (emulated: tail moved by hand) holds the consumer back at that place,
 * without losing or repeating anything; a fork at that moment leaves the
 * child an empty queue and the published records free. */
static void test_queue_claimed_not_published(void **state)
{
    struct ts_rep_queue q;
    assert_true(ts_rep_queue_init(&q, 8));
    struct ts_span s;
    make_span(&s, "a");
    assert_true(ts_rep_queue_push(&q, &s));
    __atomic_fetch_add(&q.tail, 1, __ATOMIC_SEQ_CST); /* claimed, not published */
    make_span(&s, "c");
    assert_int_equal(ts_rep_queue_push_record(&q, ts_rep_queue_record(&q, &s)), 3);
    assert_int_equal(ts_rep_queue_count(&q), 3);
    struct ts_span *recs[8];
    ts_rep_queue_lock(&q, NULL);
    assert_int_equal(ts_rep_queue_take_locked(&q, recs, 8), 1); /* "a", then the gap */
    assert_int_equal(ts_rep_queue_take_locked(&q, recs + 1, 8), 0);
    ts_rep_queue_unlock(&q);
    assert_int_equal(ts_rep_queue_count(&q), 2);
    make_span(&s, "b"); /* the producer publishes */
    __atomic_store_n(&q.slots[1 & q.mask], ts_rep_queue_record(&q, &s), __ATOMIC_RELEASE);
    ts_rep_queue_lock(&q, NULL);
    assert_int_equal(ts_rep_queue_take_locked(&q, recs + 1, 8), 2);
    ts_rep_queue_unlock(&q);
    assert_memory_equal(ts_span_name(recs[1]), "b", 1);
    assert_memory_equal(ts_span_name(recs[2]), "c", 1);
    ts_rep_queue_release_many(&q, recs, 3);
    /* Again across a fork (after_fork in this process): the gap is
     * skipped, the published record freed, the queue usable. */
    assert_true(ts_rep_queue_push(&q, &s));
    __atomic_fetch_add(&q.tail, 1, __ATOMIC_SEQ_CST);
    size_t carved = ts_rep_queue_records_carved(&q);
    ts_rep_queue_after_fork(&q);
    assert_int_equal(ts_rep_queue_count(&q), 0);
    for (int i = 0; i < 8; i++)
        assert_true(ts_rep_queue_push(&q, &s));
    assert_false(ts_rep_queue_push(&q, &s));
    assert_int_equal(ts_rep_queue_records_carved(&q), carved > 9 ? carved : 9);
    ts_rep_queue_destroy(&q);
}

/* Takes every record queued now, as names joined by spaces. */
static void take_names(struct ts_rep_queue *q, char *out, size_t cap)
{
    struct ts_span *recs[16];
    ts_rep_queue_lock(q, NULL);
    size_t n = ts_rep_queue_take_locked(q, recs, 16);
    ts_rep_queue_unlock(q);
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        char name[32];
        name_of(recs[i], name, sizeof name);
        used += (size_t)snprintf(out + used, cap - used, "%s%s", i ? " " : "", name);
    }
    ts_rep_queue_release_many(q, recs, n);
}

/* Queues spans named p<first> .. p<last>. */
static void push_numbered(struct ts_rep_queue *q, int first, int last)
{
    for (int i = first; i <= last; i++) {
        char name[8];
        struct ts_span s;
        snprintf(name, sizeof name, "p%d", i);
        make_span(&s, name);
        assert_true(ts_rep_queue_push(q, &s));
    }
}

/* A place claimed and never published (its producer left the push: a
 * siglongjmp out of a signal handler between claim and publication,
 * emulated by moving tail by hand) holds the consumer back for
 * skip_unpublished_ms, no longer: then it is passed (and counted, for
 * the reporter's drop count), and the spans behind it come. Should the producer publish
 * late, its record is never taken as well as the one of the slot's next
 * place (each record taken once). */
static void test_queue_passes_a_place_never_published(void **state)
{
    (void)state;
    struct ts_rep_queue q;
    assert_true(ts_rep_queue_init(&q, 8));
    assert_int_equal(q.skip_unpublished_ms, TS_REP_SKIP_UNPUBLISHED_MS);
    q.skip_unpublished_ms = 200;
    struct ts_span s;
    make_span(&s, "a");
    assert_true(ts_rep_queue_push(&q, &s));
    __atomic_fetch_add(&q.tail, 1, __ATOMIC_SEQ_CST); /* position 1: claimed, never published */
    make_span(&s, "c");
    assert_true(ts_rep_queue_push(&q, &s));
    char names[256], later[256];
    uint64_t t0 = ts_mono_ms();
    take_names(&q, names, sizeof names);
    assert_string_equal(names, "a");
    take_names(&q, names, sizeof names);
    uint64_t passed = ts_rep_queue_take_passed(&q);
    bool stalled = ts_mono_ms() - t0 >= 200; /* then "c" may come now: that proves nothing */
    if (!stalled) {
        assert_string_equal(names, "");
        assert_int_equal(passed, 0);
    }
    struct timespec pause = {0, 250 * 1000000L};
    nanosleep(&pause, NULL);
    take_names(&q, later, sizeof later);
    assert_string_equal(names[0] ? names : later, "c");
    assert_string_equal(names[0] ? later : "", "");
    assert_int_equal(passed + ts_rep_queue_take_passed(&q), 1);
    assert_int_equal(ts_rep_queue_take_passed(&q), 0); /* told once */
    assert_int_equal(ts_rep_queue_dropped(&q), 0);     /* not full */
    assert_int_equal(ts_rep_queue_count(&q), 0);

    /* The producer of position 1 publishes after all, into a slot the ring
     * has passed: position 9's (eight slots). */
    make_span(&s, "late");
    __atomic_store_n(&q.slots[1 & q.mask], ts_rep_queue_record(&q, &s), __ATOMIC_RELEASE);
    push_numbered(&q, 3, 8);
    take_names(&q, names, sizeof names);
    assert_string_equal(names, "p3 p4 p5 p6 p7 p8");
    /* Position 9's producer claims its place; before it publishes, the
     * consumer finds the late record there and takes it for 9's ... */
    __atomic_fetch_add(&q.tail, 1, __ATOMIC_SEQ_CST);
    take_names(&q, names, sizeof names);
    assert_string_equal(names, "late");
    /* ... and 9's record, published behind the consumer, is never taken:
     * position 17 (the same slot) is published over it. */
    make_span(&s, "p9");
    __atomic_store_n(&q.slots[9 & q.mask], ts_rep_queue_record(&q, &s), __ATOMIC_RELEASE);
    push_numbered(&q, 10, 17);
    take_names(&q, names, sizeof names);
    assert_string_equal(names, "p10 p11 p12 p13 p14 p15 p16 p17");
    assert_int_equal(ts_rep_queue_take_passed(&q), 0);
    ts_rep_queue_destroy(&q);
}

struct holder_arg {
    struct ts_rep_queue *q;
    atomic_int stage; /* 1: the record is made; 2: go on */
};

/* Makes a record and holds it, unqueued, across the main thread's fork. */
static void *record_holder(void *p)
{
    struct holder_arg *a = p;
    struct ts_span s;
    make_span(&s, "held");
    struct ts_span *rec = ts_rep_queue_record(a->q, &s);
    atomic_store(&a->stage, 1);
    while (atomic_load(&a->stage) != 2)
        sched_yield();
    ts_rep_queue_push_record(a->q, rec);
    return NULL;
}

/* A real fork: the child's queue is empty and the records of the parent's
 * queued spans are free blocks in the child (no new memory for as many
 * spans of its own); the record another thread held at the fork is lost to
 * the child, not given back twice; the parent's spans are untouched. */
static void test_queue_fork_frees_records_in_child(void **state)
{
    enum { N = 20 };
    struct ts_rep_queue q;
    assert_true(ts_rep_queue_init(&q, 64));
    struct ts_span s, out[N + 1];
    char name[32];
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "p%d", i);
        make_span(&s, name);
        assert_true(ts_rep_queue_push(&q, &s));
    }
    struct holder_arg held = {&q, 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, record_holder, &held), 0);
    while (atomic_load(&held.stage) != 1)
        sched_yield();
    assert_int_equal(ts_rep_queue_records_carved(&q), N + 1);

    ts_rep_queue_fork_prepare(&q);
    pid_t pid = fork();
    if (pid == 0) {
        ts_rep_queue_after_fork(&q);
        int bad = 0;
        bad |= ts_rep_queue_count(&q) != 0;
        bad |= ts_rep_queue_dropped(&q) != 0;
        for (int i = 0; i < N; i++) {
            snprintf(name, sizeof name, "c%d", i);
            make_span(&s, name);
            bad |= !ts_rep_queue_push(&q, &s) << 1;
        }
        bad |= (ts_rep_queue_records_carved(&q) != N + 1) << 2; /* the N freed ones, reused */
        bad |= (ts_rep_queue_pop(&q, out, N + 1) != N) << 3;
        name_of(&out[0], name, sizeof name);
        bad |= (strcmp(name, "c0") != 0) << 4;
        _exit(bad);
    }
    ts_rep_queue_fork_parent(&q);
    assert_true(pid > 0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    atomic_store(&held.stage, 2);
    pthread_join(t, NULL);
    assert_int_equal(ts_rep_queue_pop(&q, out, N + 1), N + 1);
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "p%d", i);
        char got[32];
        name_of(&out[i], got, sizeof got);
        assert_string_equal(got, name);
    }
    ts_rep_queue_destroy(&q);
}

struct prod_arg {
    struct ts_rep_queue *q;
    int id;
    int n;
};

static void *producer(void *p)
{
    struct prod_arg *a = p;
    struct ts_span s;
    char name[32];
    for (int i = 0; i < a->n; i++) {
        snprintf(name, sizeof name, "%d:%d", a->id, i);
        make_span(&s, name);
        ts_rep_queue_push(a->q, &s);
    }
    return NULL;
}

/* Producers and a consumer at once: every span is either popped once, in
 * its producer's order, or counted as dropped. */
static void test_queue_concurrent(void **state)
{
    enum { PRODUCERS = 4, PER = 5000 };
    struct ts_rep_queue q;
    assert_true(ts_rep_queue_init(&q, 64));
    pthread_t t[PRODUCERS];
    struct prod_arg args[PRODUCERS];
    for (int i = 0; i < PRODUCERS; i++) {
        args[i] = (struct prod_arg){&q, i, PER};
        assert_int_equal(pthread_create(&t[i], NULL, producer, &args[i]), 0);
    }
    int last[PRODUCERS];
    for (int i = 0; i < PRODUCERS; i++)
        last[i] = -1;
    size_t popped = 0;
    int done = 0;
    struct ts_span out[16];
    for (;;) {
        size_t n = ts_rep_queue_pop(&q, out, 16);
        for (size_t k = 0; k < n; k++) {
            char name[32];
            int id, seq;
            name_of(&out[k], name, sizeof name);
            assert_int_equal(sscanf(name, "%d:%d", &id, &seq), 2);
            assert_in_range(id, 0, PRODUCERS - 1);
            assert_true(seq > last[id]); /* per-producer order, no duplicates */
            last[id] = seq;
        }
        popped += n;
        if (n == 0) {
            if (done)
                break;
            /* the producers are finished once all of them joined */
            done = 1;
            for (int i = 0; i < PRODUCERS; i++)
                pthread_join(t[i], NULL);
        }
    }
    assert_int_equal(popped + ts_rep_queue_dropped(&q), PRODUCERS * PER);
    ts_rep_queue_destroy(&q);
}

/* ------------------------------------------- reporter scenarios (forked) */

static char g_dir[64];
static char g_path[128];

/* A fresh configuration: the file exporter writing to a new temp file. */
/* TRACESHIM_OWN_FD_TABLE for the scenario: off unless the test runs it
 * with own_fd_table() as its setup. */
static bool g_own_fd_table;

static void own_fd_table(void)
{
    g_own_fd_table = true;
}

static void scen_setup(unsigned queue, unsigned batch, unsigned delay_ms)
{
    strcpy(g_dir, "/tmp/ts_test_queue.XXXXXX");
    CHECK(mkdtemp(g_dir) != NULL, "mkdtemp: %s", strerror(errno));
    snprintf(g_path, sizeof g_path, "%s/spans.jsonl", g_dir);
    memset(&ts_cfg, 0, sizeof ts_cfg);
    ts_cfg.exporters = 1u << TS_EXPORTER_FILE;
    ts_cfg.log_level = TS_LOG_ERROR;
    snprintf(ts_cfg.file_path, sizeof ts_cfg.file_path, "%s", g_path);
    ts_cfg.bsp_max_queue = queue;
    ts_cfg.bsp_max_batch = batch;
    ts_cfg.bsp_delay_ms = delay_ms;
    ts_cfg.bsp_export_timeout_ms = 5000;
    ts_cfg.own_fd_table = g_own_fd_table;
    memset(&ts_proc, 0, sizeof ts_proc);
    ts_proc.pid = getpid();
    strcpy(ts_proc.exe_name, "test_queue");
    strcpy(ts_proc.service_name, "test-svc");
    strcpy(ts_proc.host_name, "testhost");
}

static void scen_cleanup(void)
{
    char p[512];
    DIR *d = opendir(g_dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') {
            snprintf(p, sizeof p, "%s/%s", g_dir, e->d_name);
            unlink(p);
        }
    closedir(d);
    rmdir(g_dir);
}

static void submit_named(const char *fmt, int a, int b)
{
    char name[64];
    struct ts_span s;
    snprintf(name, sizeof name, fmt, a, b);
    make_span(&s, name);
    ts_rep_submit(&s);
}

static char *slurp_fd(int fd, size_t *len)
{
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        if (n == cap)
            buf = realloc(buf, (cap *= 2) + 1);
        ssize_t r = read(fd, buf + n, cap - n);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* The whole file ("" when it does not exist). */
static char *slurp(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        *len = 0;
        return strdup("");
    }
    char *b = slurp_fd(fd, len);
    close(fd);
    return b;
}

/* A small strict JSON checker (RFC 8259 structure, no raw control bytes
 * in strings) to prove each line is a JSON document. */
static const char *jv_value(const char *p, const char *e, int depth);

static const char *jv_ws(const char *p, const char *e)
{
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
        p++;
    return p;
}

static const char *jv_string(const char *p, const char *e)
{
    if (p >= e || *p != '"')
        return NULL;
    for (p++; p < e; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"')
            return p + 1;
        if (c < 0x20)
            return NULL;
        if (c == '\\') {
            if (++p >= e)
                return NULL;
            if (*p == 'u') {
                for (int i = 0; i < 4; i++)
                    if (++p >= e || !strchr("0123456789abcdefABCDEF", *p) || !*p)
                        return NULL;
            } else if (!*p || !strchr("\"\\/bfnrt", *p)) {
                return NULL;
            }
        }
    }
    return NULL;
}

static const char *jv_seq(const char *p, const char *e, char close, int obj, int depth)
{
    p = jv_ws(p + 1, e);
    if (p < e && *p == close)
        return p + 1;
    for (;;) {
        if (obj) {
            p = jv_string(jv_ws(p, e), e);
            if (!p)
                return NULL;
            p = jv_ws(p, e);
            if (p >= e || *p++ != ':')
                return NULL;
        }
        p = jv_value(p, e, depth + 1);
        if (!p)
            return NULL;
        p = jv_ws(p, e);
        if (p >= e)
            return NULL;
        if (*p == close)
            return p + 1;
        if (*p++ != ',')
            return NULL;
    }
}

static const char *jv_value(const char *p, const char *e, int depth)
{
    p = jv_ws(p, e);
    if (p >= e || depth > 64)
        return NULL;
    if (*p == '{')
        return jv_seq(p, e, '}', 1, depth);
    if (*p == '[')
        return jv_seq(p, e, ']', 0, depth);
    if (*p == '"')
        return jv_string(p, e);
    if ((size_t)(e - p) >= 4 && (!memcmp(p, "true", 4) || !memcmp(p, "null", 4)))
        return p + 4;
    if ((size_t)(e - p) >= 5 && !memcmp(p, "false", 5))
        return p + 5;
    const char *s = p;
    if (p < e && *p == '-')
        p++;
    while (p < e && *p >= '0' && *p <= '9')
        p++;
    return p > s ? p : NULL;
}

static int json_line_valid(const char *p, size_t n)
{
    const char *e = p + n;
    const char *end = jv_value(p, e, 0);
    return end && jv_ws(end, e) == e;
}

/* What a span file (or pipe capture) holds. Span names are "span:G:I";
 * seen[G][I] counts them, pid_of[G] is the process.pid of their lines. */
#define MAXG 10
#define MAXI 10000
struct spanfile {
    int lines, spans, bad_lines, unknown_names;
    size_t longest_line, most_spans_in_line;
    size_t longest_shared_line; /* of the lines holding more than one span */
    unsigned short seen[MAXG][MAXI];
    long pid_of[MAXG]; /* 0 none seen, -1 spans of this group from several pids */
};

static void scan_spans(const char *data, size_t len, struct spanfile *sf)
{
    memset(sf, 0, sizeof *sf);
    const char *p = data, *end = data + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        CHECK(nl != NULL, "the last line has no newline");
        size_t n = (size_t)(nl - p);
        sf->lines++;
        if (n > sf->longest_line)
            sf->longest_line = n;
        if (!json_line_valid(p, n)) {
            sf->bad_lines++;
            p = nl + 1;
            continue;
        }
        long pid = 0;
        const char *pk = memmem(p, n, "\"process.pid\",\"value\":{\"intValue\":\"", 35);
        if (pk)
            pid = strtol(pk + 35, NULL, 10);
        size_t in_line = 0;
        const char *q = p;
        while ((q = memmem(q, (size_t)(nl - q), "\"traceId\":", 10))) {
            in_line++;
            const char *nm = memmem(q, (size_t)(nl - q), "\"name\":\"", 8);
            int g, i;
            if (nm && sscanf(nm + 8, "span:%d:%d", &g, &i) == 2 && g >= 0 && g < MAXG && i >= 0 &&
                i < MAXI) {
                sf->seen[g][i]++;
                if (sf->pid_of[g] == 0)
                    sf->pid_of[g] = pid;
                else if (sf->pid_of[g] != pid)
                    sf->pid_of[g] = -1;
            } else {
                sf->unknown_names++;
            }
            q += 10;
        }
        sf->spans += (int)in_line;
        if (in_line > 1 && n > sf->longest_shared_line)
            sf->longest_shared_line = n;
        if (in_line > sf->most_spans_in_line)
            sf->most_spans_in_line = in_line;
        p = nl + 1;
    }
}

static struct spanfile *read_span_file(const char *path)
{
    static struct spanfile sf;
    size_t len;
    char *data = slurp(path, &len);
    scan_spans(data, len, &sf);
    free(data);
    return &sf;
}

/* Spans G:0..n-1 each seen exactly once. */
static void check_group(const struct spanfile *sf, int g, int n)
{
    for (int i = 0; i < n; i++)
        CHECK(sf->seen[g][i] == 1, "span:%d:%d seen %d times", g, i, sf->seen[g][i]);
}

static void sleep_ms(unsigned ms)
{
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

/* Poll until the file holds `want` spans or ms pass; returns what it holds. */
/* The spans of the whole lines in the file now: the reporter may be
 * appending one as it is read (a regular file's reader can see part of a
 * write), which the next look finds whole. */
static int whole_line_spans(const char *path)
{
    static struct spanfile sf;
    size_t len;
    char *data = slurp(path, &len);
    while (len > 0 && data[len - 1] != '\n')
        len--;
    scan_spans(data, len, &sf);
    free(data);
    return sf.spans;
}

static int wait_file_spans(const char *path, int want, unsigned ms)
{
    int have = 0;
    for (unsigned waited = 0; waited <= ms; waited += 10) {
        have = whole_line_spans(path);
        if (have >= want)
            break;
        sleep_ms(10);
    }
    return have;
}

/* Redirect our stderr into a file (to check the shim's messages). */
static int capture_stderr(const char *path)
{
    int saved = dup(2);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 2);
    close(fd);
    return saved;
}

static void restore_stderr(int saved)
{
    dup2(saved, 2);
    close(saved);
}

/* --- many threads, one file: nothing lost, nothing twice */

enum { E2E_THREADS = 8, E2E_PER = 1000 };

static void *e2e_thread(void *arg)
{
    int g = (int)(intptr_t)arg;
    for (int i = 0; i < E2E_PER; i++)
        submit_named("span:%d:%d", g, i);
    return NULL;
}

static void scen_threads_end_to_end(void)
{
    scen_setup(100000, 512, 50);
    pthread_t t[E2E_THREADS];
    for (int g = 0; g < E2E_THREADS; g++)
        CHECK(pthread_create(&t[g], NULL, e2e_thread, (void *)(intptr_t)g) == 0, "create");
    for (int g = 0; g < E2E_THREADS; g++)
        pthread_join(t[g], NULL);
    errno = 4321;
    ts_rep_flush(10000);
    CHECK(errno == 4321, "flush changed errno to %d", errno);
    CHECK(ts_rep_queued() == 0, "%llu still queued", (unsigned long long)ts_rep_queued());
    CHECK(ts_rep_exported() == E2E_THREADS * E2E_PER, "exported %llu",
          (unsigned long long)ts_rep_exported());
    CHECK(ts_rep_dropped() == 0, "dropped %llu", (unsigned long long)ts_rep_dropped());
    struct spanfile *sf = read_span_file(g_path);
    CHECK(sf->bad_lines == 0, "%d invalid lines", sf->bad_lines);
    CHECK(sf->spans == E2E_THREADS * E2E_PER, "%d spans in the file", sf->spans);
    CHECK(sf->unknown_names == 0, "%d unknown names", sf->unknown_names);
    CHECK(sf->most_spans_in_line <= 512, "a line holds %zu spans", sf->most_spans_in_line);
    for (int g = 0; g < E2E_THREADS; g++) {
        check_group(sf, g, E2E_PER);
        CHECK(sf->pid_of[g] == getpid(), "pid %ld", sf->pid_of[g]);
    }
    scen_cleanup();
}

static void test_reporter_threads_end_to_end(void **state)
{
    run_in_child(NULL, scen_threads_end_to_end);
}

static void test_reporter_threads_end_to_end_own_fd_table(void **state)
{
    run_in_child(own_fd_table, scen_threads_end_to_end);
}

/* --- a full queue drops and counts; the submitter never waits */

static void scen_full_queue(void)
{
    /* The span file is a FIFO without a reader: the reporter thread,
     * started by the first span, blocks in open() as it starts, holding
     * the export lock, so the queue can only fill up (the first span's
     * submitter waits for that open a bounded while, never longer). */
    scen_setup(8, 1, 60000);
    CHECK(mkfifo(g_path, 0600) == 0, "mkfifo: %s", strerror(errno));
    for (int i = 0; i <= 20; i++)
        submit_named("span:%d:%d", 0, i);
    CHECK(ts_rep_queued() == 8, "queued %llu", (unsigned long long)ts_rep_queued());
    CHECK(ts_rep_dropped() == 13, "dropped %llu", (unsigned long long)ts_rep_dropped());
    CHECK(ts_rep_exported() == 0, "exported %llu", (unsigned long long)ts_rep_exported());
    int rfd = open(g_path, O_RDONLY | O_NONBLOCK); /* lets the writer through */
    CHECK(rfd >= 0, "open fifo: %s", strerror(errno));
    ts_rep_flush(5000);
    CHECK(ts_rep_exported() == 8, "exported %llu", (unsigned long long)ts_rep_exported());
    CHECK(ts_rep_dropped() == 13, "dropped %llu", (unsigned long long)ts_rep_dropped());
    size_t len;
    char *data = slurp_fd(rfd, &len); /* non-blocking: stops when drained */
    static struct spanfile sf;
    scan_spans(data, len, &sf);
    free(data);
    CHECK(sf.bad_lines == 0 && sf.spans == 8, "%d spans, %d bad lines", sf.spans, sf.bad_lines);
    check_group(&sf, 0, 8); /* the 8 that fitted, once each */
    for (int i = 8; i <= 20; i++)
        CHECK(sf.seen[0][i] == 0, "dropped span %d was written", i);
    close(rfd);
    scen_cleanup();
}

static void test_reporter_full_queue_drops(void **state)
{
    run_in_child(NULL, scen_full_queue);
}

/* --- fork: the child starts clean and does not repeat the parent's spans */

static void fork_child_pid(void)
{
    ts_process_after_fork();
}

static void fork_and_check_child(int parent_group, int child_group)
{
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        alarm(20);
        CHECK(ts_proc.pid == getpid(), "pid not refreshed");
        CHECK(ts_rep_queued() == 0, "child inherited %llu queued spans",
              (unsigned long long)ts_rep_queued());
        CHECK(ts_rep_exported() == 0 && ts_rep_dropped() == 0, "child counters not reset");
        /* the child's own reporter thread starts on its first span and
         * exports on its own schedule */
        ts_cfg.bsp_delay_ms = 20;
        submit_named("span:%d:%d", child_group, 0);
        for (int i = 0; i < 500 && ts_rep_exported() < 1; i++)
            sleep_ms(10);
        CHECK(ts_rep_exported() == 1, "child's thread exported %llu",
              (unsigned long long)ts_rep_exported());
        submit_named("span:%d:%d", child_group, 1);
        ts_rep_flush(5000);
        CHECK(ts_rep_exported() == 2, "child exported %llu", (unsigned long long)ts_rep_exported());
        _exit(0);
    }
    int status;
    CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child failed (status %#x)", status);
    (void)parent_group;
}

static void scen_fork(void)
{
    scen_setup(1000, 512, 60000);
    pthread_atfork(ts_rep_atfork_prepare, ts_rep_atfork_parent, ts_rep_atfork_child);
    pthread_atfork(NULL, NULL, fork_child_pid);
    for (int i = 0; i < 5; i++)
        submit_named("span:%d:%d", 1, i);
    fork_and_check_child(1, 2);
    CHECK(ts_rep_queued() == 5, "parent queue has %llu", (unsigned long long)ts_rep_queued());
    ts_rep_flush(5000);
    CHECK(ts_rep_exported() == 5, "parent exported %llu", (unsigned long long)ts_rep_exported());
    struct spanfile *sf = read_span_file(g_path);
    CHECK(sf->bad_lines == 0 && sf->spans == 7, "%d spans, %d bad lines", sf->spans, sf->bad_lines);
    check_group(sf, 1, 5);
    check_group(sf, 2, 2);
    CHECK(sf->pid_of[1] == getpid(), "parent's spans under pid %ld", sf->pid_of[1]);
    CHECK(sf->pid_of[2] > 0 && sf->pid_of[2] != getpid(), "child's spans under pid %ld",
          sf->pid_of[2]);
    scen_cleanup();
}

static void test_reporter_fork_child(void **state)
{
    run_in_child(NULL, scen_fork);
}

static void test_reporter_fork_child_own_fd_table(void **state)
{
    run_in_child(own_fd_table, scen_fork);
}

/* The reporter thread's task id, found by its name; 0 if none. */
static pid_t reporter_tid(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return 0;
    struct dirent *e;
    pid_t tid = 0;
    while (!tid && (e = readdir(d))) {
        char p[300], comm[64] = "";
        snprintf(p, sizeof p, "/proc/self/task/%s/comm", e->d_name);
        int fd = open(p, O_RDONLY);
        if (fd < 0)
            continue;
        ssize_t n = read(fd, comm, sizeof comm - 1);
        close(fd);
        if (n > 0 && strncmp(comm, "traceshim-rep\n", 14) == 0)
            tid = atoi(e->d_name);
    }
    closedir(d);
    return tid;
}

/* The reporter thread's task id once it has started (up to a second). */
static pid_t started_reporter_tid(void)
{
    pid_t tid = 0;
    for (int i = 0; i < 200 && !tid; i++, sleep_ms(5))
        tid = reporter_tid();
    CHECK(tid > 0, "no thread named traceshim-rep");
    return tid;
}

static size_t pipe_bytes(int fd)
{
    int n = 0;
    ioctl(fd, FIONREAD, &n);
    return (size_t)n;
}

struct drain {
    int fd;
    char *buf;
    size_t len, cap;
    volatile int stop;
};

/* Reads a pipe into memory until told to stop and the pipe is empty. */
static void *drain_main(void *p)
{
    struct drain *d = p;
    for (;;) {
        if (d->len + 65536 > d->cap)
            d->buf = realloc(d->buf, d->cap = d->cap * 2 + 65536);
        ssize_t r = read(d->fd, d->buf + d->len, 65536);
        if (r > 0)
            d->len += (size_t)r;
        else if (__atomic_load_n(&d->stop, __ATOMIC_ACQUIRE))
            break;
        else
            sleep_ms(2);
    }
    return NULL;
}

/* Fork while the reporter thread is blocked inside an export (the span
 * file is a full pipe): the child must neither deadlock nor reuse the
 * half-done export, and every span is still written once. */
static void scen_fork_during_export(void)
{
    scen_setup(1000, 1, 60000);
    pthread_atfork(ts_rep_atfork_prepare, ts_rep_atfork_parent, ts_rep_atfork_child);
    pthread_atfork(NULL, NULL, fork_child_pid);
    CHECK(mkfifo(g_path, 0600) == 0, "mkfifo");
    int rfd = open(g_path, O_RDONLY | O_NONBLOCK);
    CHECK(rfd >= 0, "open fifo");
    char big[1200];
    memset(big, 'x', sizeof big);
    enum { N = 100 };
    for (int i = 0; i < N; i++) {
        struct ts_span s;
        char name[32];
        snprintf(name, sizeof name, "span:3:%d:", i);
        make_span(&s, name);
        ts_span_attr_str(&s, "pad", big, sizeof big);
        ts_rep_submit(&s);
    }
    /* 100 lines of ~1.6 KiB cannot fit a 64 KiB pipe: wait until the pipe
     * is full and the thread sits in writev. */
    pid_t tid = 0;
    for (int i = 0; i < 500 && !tid; i++, sleep_ms(10))
        tid = reporter_tid();
    CHECK(tid > 0, "no reporter thread");
    /* Blocked: in writev (syscall 20 on x86-64) with the pipe not moving,
     * twice in a row. The pipe fills before 64 KiB: a write that does not
     * fit the last page's room takes fresh pages. */
    bool blocked = false;
    int stable = 0;
    size_t last = (size_t)-1;
    for (int i = 0; i < 1000 && !blocked; i++, sleep_ms(10)) {
        char p[64], sc[64] = "";
        snprintf(p, sizeof p, "/proc/self/task/%d/syscall", (int)tid);
        int fd = open(p, O_RDONLY);
        ssize_t n = fd >= 0 ? read(fd, sc, sizeof sc - 1) : -1;
        if (fd >= 0)
            close(fd);
        size_t now = pipe_bytes(rfd);
        bool in_writev = n > 0 ? atoi(sc) == 20 : true; /* no /proc syscall: trust the pipe */
        stable = in_writev && now == last && now > 0 ? stable + 1 : 0;
        last = now;
        blocked = stable >= (n > 0 ? 2 : 20);
    }
    CHECK(blocked, "the reporter thread never blocked (pipe holds %zu)", pipe_bytes(rfd));
    CHECK(ts_rep_queued() > 0, "nothing left in the queue");
    struct drain d = {rfd, NULL, 0, 0, 0};
    pthread_t dt;
    pid_t child = fork();
    CHECK(child >= 0, "fork");
    if (child == 0) {
        alarm(20);
        CHECK(ts_rep_queued() == 0, "child inherited spans");
        close(rfd);
        submit_named("span:%d:%d", 4, 0);
        submit_named("span:%d:%d", 4, 1);
        /* blocks in writev until the parent drains the pipe: that is fine,
         * a deadlock would show as the alarm */
        ts_rep_flush(15000);
        CHECK(ts_rep_exported() == 2, "child exported %llu", (unsigned long long)ts_rep_exported());
        _exit(0);
    }
    CHECK(pthread_create(&dt, NULL, drain_main, &d) == 0, "drain thread");
    int status;
    CHECK(waitpid(child, &status, 0) == child, "waitpid");
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child failed (status %#x)", status);
    ts_rep_flush(10000);
    CHECK(ts_rep_exported() == N, "parent exported %llu", (unsigned long long)ts_rep_exported());
    __atomic_store_n(&d.stop, 1, __ATOMIC_RELEASE);
    pthread_join(dt, NULL);
    static struct spanfile sf;
    scan_spans(d.buf ? d.buf : "", d.len, &sf);
    free(d.buf);
    CHECK(sf.bad_lines == 0, "%d bad lines", sf.bad_lines);
    CHECK(sf.spans == N + 2, "%d spans", sf.spans);
    check_group(&sf, 3, N);
    check_group(&sf, 4, 2);
    CHECK(sf.pid_of[3] == getpid() && sf.pid_of[4] == child, "pids %ld %ld", sf.pid_of[3],
          sf.pid_of[4]);
    close(rfd);
    scen_cleanup();
}

static void test_reporter_fork_during_export(void **state)
{
    run_in_child(NULL, scen_fork_during_export);
}

static void test_reporter_fork_during_export_own_fd_table(void **state)
{
    run_in_child(own_fd_table, scen_fork_during_export);
}

/* --- the program closes or dup2's over the exporter's fd */

/* The fd (other than skip) that refers to path, or -1. */
static int fd_of(const char *path, int skip)
{
    for (int fd = 0; fd < 1024; fd++) {
        char link[64], target[512];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n <= 0 || fd == skip)
            continue;
        target[n] = '\0';
        if (strcmp(target, path) == 0)
            return fd;
    }
    return -1;
}

static void scen_fd_taken_over(void)
{
    scen_setup(1000, 512, 60000);
    char other[160];
    snprintf(other, sizeof other, "%s/other.txt", g_dir);
    for (int i = 0; i < 3; i++)
        submit_named("span:%d:%d", 5, i);
    ts_rep_flush(5000);
    int ours = fd_of(g_path, -1);
    CHECK(ours > 2, "exporter fd %d", ours);
    int flags = fcntl(ours, F_GETFD);
    CHECK(flags >= 0 && (flags & FD_CLOEXEC), "exporter fd is not close-on-exec");

    /* 1: /dev/null dup2'ed over it */
    int devnull = open("/dev/null", O_WRONLY);
    CHECK(dup2(devnull, ours) == ours, "dup2");
    for (int i = 3; i < 6; i++)
        submit_named("span:%d:%d", 5, i);
    ts_rep_flush(5000);
    CHECK(read_span_file(g_path)->spans == 6, "after dup2 /dev/null: %d spans",
          read_span_file(g_path)->spans);

    /* 2: the program's own file dup2'ed over the new fd: it must stay
     * untouched */
    int now = fd_of(g_path, -1);
    CHECK(now > 2, "no exporter fd after reopen");
    int ofd = open(other, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(dup2(ofd, now) == now, "dup2 other");
    for (int i = 6; i < 9; i++)
        submit_named("span:%d:%d", 5, i);
    ts_rep_flush(5000);
    struct stat st;
    CHECK(stat(other, &st) == 0 && st.st_size == 0, "the program's file got %lld bytes",
          (long long)st.st_size);

    /* 3: closed outright */
    now = fd_of(g_path, -1);
    CHECK(now > 2, "no exporter fd after second reopen");
    close(now);
    for (int i = 9; i < 12; i++)
        submit_named("span:%d:%d", 5, i);
    ts_rep_flush(5000);

    struct spanfile *sf = read_span_file(g_path);
    CHECK(sf->bad_lines == 0 && sf->spans == 12, "%d spans, %d bad lines", sf->spans,
          sf->bad_lines);
    check_group(sf, 5, 12);
    CHECK(ts_rep_exported() == 12 && ts_rep_dropped() == 0, "counters %llu/%llu",
          (unsigned long long)ts_rep_exported(), (unsigned long long)ts_rep_dropped());
    close(devnull);
    close(ofd);
    scen_cleanup();
}

static void test_reporter_fd_taken_over(void **state)
{
    run_in_child(NULL, scen_fd_taken_over);
}

/* With stdin closed, open() would hand the exporter fd 0; it must move
 * above the standard fds so the program's next open still gets 0. */
static void scen_stdio_fds_left_alone(void)
{
    scen_setup(1000, 512, 60000);
    close(0);
    submit_named("span:%d:%d", 6, 0);
    ts_rep_flush(5000);
    CHECK(read_span_file(g_path)->spans == 1, "span not written");
    CHECK(fcntl(0, F_GETFD) == -1 && errno == EBADF, "the exporter took fd 0");
    if (g_own_fd_table) /* the span file is not among the program's fds at all */
        CHECK(!ts_fd_split_done() || fd_of(g_path, -1) == -1, "exporter fd %d",
              fd_of(g_path, -1));
    else
        CHECK(fd_of(g_path, -1) > 2, "exporter fd %d", fd_of(g_path, -1));
    scen_cleanup();
}

static void test_reporter_stdio_fds_left_alone(void **state)
{
    run_in_child(NULL, scen_stdio_fds_left_alone);
}

static void test_reporter_stdio_fds_left_alone_own_fd_table(void **state)
{
    run_in_child(own_fd_table, scen_stdio_fds_left_alone);
}

/* --- the reporter thread's own fd table (preload/fd_split.h) */

/* Where fd of task tid points ("" when it has no such fd). */
static const char *task_fd_target(pid_t tid, int fd)
{
    static char target[512];
    char link[96];
    snprintf(link, sizeof link, "/proc/self/task/%d/fd/%d", (int)tid, fd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    target[n > 0 ? n : 0] = '\0';
    return target;
}

static bool wait_split(void)
{
    for (int i = 0; i < 2500 && !ts_fd_split_done(); i++) /* 5 s: a loaded machine */
        sleep_ms(2);
    return ts_fd_split_done();
}

/* ts_rep_exit with TRACESHIM_STATS on (its stderr line captured): the
 * span file then holds the spans of group, want of them, and the stats
 * line. */
static void exit_and_check_span_file(int group, int want)
{
    char cap[160];
    snprintf(cap, sizeof cap, "%s/stderr.txt", g_dir);
    int saved = capture_stderr(cap);
    ts_rep_exit(5000);
    restore_stderr(saved);
    struct spanfile *sf = read_span_file(g_path);
    CHECK(sf->bad_lines == 0 && sf->spans == want, "%d spans, %d bad lines", sf->spans,
          sf->bad_lines);
    check_group(sf, group, want);
    size_t len;
    char *data = slurp(g_path, &len);
    CHECK(strstr(data, "\"resourceMetrics\"") != NULL, "no stats line in the span file");
    free(data);
}

/* The span file is written through an fd the program does not have; the
 * thread holds none of the program's (not even the standard streams); the
 * flush and the stats line at exit are done by the thread; the program's
 * fd numbers are its own, whatever it does to them. */
static void scen_own_fd_table_apart(void)
{
    scen_setup(1000, 512, 60000);
    ts_cfg.stats = true;
    submit_named("span:%d:%d", 7, 0);
    CHECK(wait_split(), "the reporter thread did not leave the fd table");
    ts_rep_flush(5000);
    CHECK(read_span_file(g_path)->spans == 1, "span not written");
    CHECK(fd_of(g_path, -1) == -1, "the span file is among the program's fds (%d)",
          fd_of(g_path, -1));
    pid_t rep = reporter_tid();
    CHECK(rep > 0, "no reporter thread");
    int theirs = -1;
    for (int fd = 0; fd < 64 && theirs < 0; fd++)
        if (strcmp(task_fd_target(rep, fd), g_path) == 0)
            theirs = fd;
    CHECK(theirs > 2, "the reporter's span file fd is %d", theirs);
    for (int fd = 0; fd <= 2; fd++)
        CHECK(task_fd_target(rep, fd)[0] == '\0', "the reporter holds fd %d: %s", fd,
              task_fd_target(rep, fd));

    /* The program's own file on that very number: both stay apart. */
    char other[160];
    snprintf(other, sizeof other, "%s/other.txt", g_dir);
    int ofd = open(other, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(ofd >= 0 && dup2(ofd, theirs) == theirs, "dup2");
    CHECK(write(theirs, "mine\n", 5) == 5, "the program's write");
    for (int i = 1; i < 4; i++)
        submit_named("span:%d:%d", 7, i);
    ts_rep_flush(5000);
    struct stat st;
    CHECK(stat(other, &st) == 0 && st.st_size == 5, "the program's file has %lld bytes",
          (long long)st.st_size);
    CHECK(strcmp(task_fd_target(rep, theirs), g_path) == 0, "the reporter's fd moved");

    /* Exit: the last spans and the stats line, written by the thread. */
    submit_named("span:%d:%d", 7, 4);
    exit_and_check_span_file(7, 5);
    close(ofd);
    close(theirs);
    scen_cleanup();
}

static void test_reporter_own_fd_table_apart(void **state)
{
    run_in_child(own_fd_table, scen_own_fd_table_apart);
}

/* Off: the thread shares the program's table (the span file is there). */
static void scen_shared_fd_table(void)
{
    scen_setup(1000, 512, 60000);
    submit_named("span:%d:%d", 8, 0);
    ts_rep_flush(5000);
    for (int i = 0; i < 50; i++) /* the thread has started for sure */
        sleep_ms(2);
    submit_named("span:%d:%d", 8, 1);
    ts_rep_flush(5000);
    CHECK(!ts_fd_split_done(), "the thread left the table with TRACESHIM_OWN_FD_TABLE=0");
    CHECK(fd_of(g_path, -1) > 2, "the span file is not among the program's fds");
    CHECK(read_span_file(g_path)->spans == 2, "spans not written");
    scen_cleanup();
}

static void test_reporter_shared_fd_table(void **state)
{
    run_in_child(NULL, scen_shared_fd_table);
}

/* TRACESHIM_OWN_FD_TABLE unset: the table is left unless a seccomp filter
 * is on (one that kills for an unlisted system call would kill the
 * program); set to 1, it is left all the same. */
static void allow_all_seccomp_filter(void)
{
    struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    struct sock_fprog prog = {1, &allow};
    CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0, "no_new_privs: %s", strerror(errno));
    CHECK(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0, "seccomp: %s", strerror(errno));
}

static void split_decided(int setting, bool filtered, bool want_split)
{
    scen_setup(1000, 512, 60000);
    ts_cfg.own_fd_table = setting;
    if (filtered)
        allow_all_seccomp_filter();
    submit_named("span:%d:%d", 9, 0);
    for (int i = 0; i < 2500 && reporter_tid() == 0; i++)
        sleep_ms(2);
    CHECK(reporter_tid() > 0, "no reporter thread");
    if (want_split)
        CHECK(wait_split(), "the thread did not leave the table (setting %d)", setting);
    else
        for (int i = 0; i < 100; i++) /* time enough to have split, had it wanted to */
            sleep_ms(2);
    CHECK(ts_fd_split_done() == want_split, "split %d, setting %d, filtered %d",
          ts_fd_split_done(), setting, filtered);
    ts_rep_flush(5000);
    CHECK(read_span_file(g_path)->spans == 1, "span not written");
    CHECK((fd_of(g_path, -1) == -1) == want_split, "span file among the program's fds: %d",
          fd_of(g_path, -1));
    scen_cleanup();
}

static void scen_split_unset(void)
{
    split_decided(-1, false, true);
}

static void scen_split_unset_seccomp(void)
{
    split_decided(-1, true, false);
}

static void scen_split_forced_seccomp(void)
{
    split_decided(1, true, true);
}

static void test_reporter_fd_table_decided(void **state)
{
    run_in_child(NULL, scen_split_unset);
    run_in_child(NULL, scen_split_unset_seccomp);
    run_in_child(NULL, scen_split_forced_seccomp);
}

/* --- the thread: lazy, named, signals blocked, periodic and batch wake */

/* How many entries the directory at path has (but "." and ".."). */
static int dir_entries(const char *path)
{
    DIR *d = opendir(path);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static int task_count(void)
{
    return dir_entries("/proc/self/task");
}

/* SigBlk of a task, as a mask of signal numbers (bit n-1 = signal n). */
static unsigned long long sigblk_of(pid_t tid)
{
    char p[64];
    snprintf(p, sizeof p, "/proc/self/task/%d/status", (int)tid);
    size_t len;
    char *s = slurp(p, &len);
    const char *k = strstr(s, "SigBlk:");
    unsigned long long m = k ? strtoull(k + 7, NULL, 16) : 0;
    free(s);
    return m;
}

static void scen_lazy_thread_and_signals(void)
{
    scen_setup(1000, 512, 30);
    int base = task_count(); /* 1, or 2 with a sanitizer's own thread */
    CHECK(reporter_tid() == 0, "a reporter thread before any span");
    struct ts_span s;
    make_span(&s, "span:7:99");
    s.sampled = 0;
    ts_rep_submit(&s); /* not sampled: ignored */
    ts_rep_flush(1000);
    CHECK(ts_rep_queued() == 0 && ts_rep_dropped() == 0, "unsampled span queued or dropped");
    CHECK(task_count() == base, "a thread started without a sampled span");
    CHECK(access(g_path, F_OK) != 0, "the span file exists without a span");

    errno = 777;
    for (int i = 0; i < 3; i++)
        submit_named("span:%d:%d", 7, i);
    CHECK(errno == 777, "submit changed errno to %d", errno);
    CHECK(task_count() == base + 1, "threads after the first span: %d", task_count());
    pid_t tid = started_reporter_tid();
    unsigned long long blk = sigblk_of(tid);
    int sigs[] = {SIGINT, SIGTERM, SIGUSR1, SIGHUP, SIGCHLD, SIGPIPE, SIGALRM};
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
        CHECK(blk & (1ull << (sigs[i] - 1)), "signal %d not blocked (SigBlk %llx)", sigs[i], blk);
    CHECK((sigblk_of(getpid()) & (1ull << (SIGINT - 1))) == 0,
          "the submitting thread's mask changed");

    /* periodic export: no flush, no full batch */
    int have = wait_file_spans(g_path, 3, 5000);
    CHECK(have == 3, "periodic export wrote %d spans", have);
    CHECK(ts_rep_exported() == 3, "exported %llu", (unsigned long long)ts_rep_exported());
    scen_cleanup();
}

static void test_reporter_lazy_thread_and_signals(void **state)
{
    run_in_child(NULL, scen_lazy_thread_and_signals);
}

/* A socket of this type bound to 127.0.0.1 on a port the kernel picks
 * (listening when a stream); *port is that port. */
static int loopback_socket(int type, uint16_t *port)
{
    int fd = socket(AF_INET, type, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
              (type != SOCK_STREAM || listen(fd, 4) == 0) &&
              getsockname(fd, (struct sockaddr *)&a, &alen) == 0,
          "loopback socket: %s", strerror(errno));
    *port = ntohs(a.sin_port);
    return fd;
}

/* The reporter thread's policy once it is `want`, or as it is after
 * waiting up to ms milliseconds for that. */
static int policy_within(pid_t tid, int want, unsigned ms)
{
    int policy = sched_getscheduler(tid);
    for (unsigned waited = 0; policy != want && waited < ms; waited += 2) {
        sleep_ms(2);
        policy = sched_getscheduler(tid);
    }
    return policy;
}

/* The reporter thread started by a program's thread of policy `policy`
 * and nice value 3: its own policy (SCHED_BATCH from the normal one: woken,
 * it does not preempt the thread that woke it; any other is left as
 * inherited) and its nice value (kept). */
static void reporter_scheduling_from(int policy, int want_policy, bool with_receiver)
{
    scen_setup(1000, 512, 30);
    int agent = -1;
    if (with_receiver) { /* jaeger too, to a socket that reads nothing */
        agent = loopback_socket(SOCK_DGRAM, &ts_cfg.jaeger_port);
        ts_cfg.exporters |= 1u << TS_EXPORTER_JAEGER;
        strcpy(ts_cfg.jaeger_host, "127.0.0.1");
    }
    CHECK(setpriority(PRIO_PROCESS, 0, 3) == 0, "setpriority: %s", strerror(errno));
    struct sched_param param = {0};
    CHECK(sched_setscheduler(0, policy, &param) == 0, "sched_setscheduler: %s", strerror(errno));
    submit_named("span:%d:%d", 8, 1);
    pid_t tid = started_reporter_tid();
    /* exported: the thread is past its start, where it sets its policy.
     * The span is in the file before the thread is done with its batch:
     * with a receiver it may still be sending under the normal policy
     * (reporter.c rep_send_open), so its policy is read once it is back. */
    CHECK(wait_file_spans(g_path, 1, 5000) == 1, "the span was not exported");
    int got = policy_within(tid, want_policy, 1000);
    CHECK(got == want_policy, "reporter policy %d, want %d", got, want_policy);
    errno = 0;
    int nice_value = getpriority(PRIO_PROCESS, (id_t)tid);
    CHECK(nice_value == 3 && errno == 0, "reporter nice %d, want 3", nice_value);
    CHECK(sched_getscheduler(0) == policy, "the program's thread changed policy");
    if (agent >= 0)
        close(agent);
    scen_cleanup();
}

static void scen_thread_yields_on_wakeup(void)
{
    reporter_scheduling_from(SCHED_OTHER, SCHED_BATCH, false);
}

static void scen_thread_keeps_idle_policy(void)
{
    reporter_scheduling_from(SCHED_IDLE, SCHED_IDLE, false);
}

/* Under a seccomp filter no scheduling call is made (one that kills for a
 * call it does not list would kill the program). */
static void scen_thread_policy_left_under_seccomp(void)
{
    allow_all_seccomp_filter();
    reporter_scheduling_from(SCHED_OTHER, SCHED_OTHER, false);
}

/* A backlog of a quarter of the queue puts the thread back under the
 * normal policy (reporter.c rep_keep_up), and a second without one under
 * SCHED_BATCH again. The backlog: a place claimed and never published,
 * which the thread cannot take past until the queue passes it (1 s). */
static void scen_thread_hurries_with_a_backlog(void)
{
    scen_setup(1000, 512, 30);
    submit_named("span:%d:%d", 8, 0);
    pid_t tid = started_reporter_tid();
    CHECK(wait_file_spans(g_path, 1, 5000) == 1, "the first span was not exported");
    CHECK(sched_getscheduler(tid) == SCHED_BATCH, "not yielding at first");
    __atomic_fetch_add(&ts_rep_the_queue()->tail, 1, __ATOMIC_SEQ_CST); /* claimed, never published */
    for (int i = 1; i <= 400; i++)
        submit_named("span:%d:%d", 8, i);
    int policy = policy_within(tid, SCHED_OTHER, 800);
    CHECK(policy == SCHED_OTHER, "policy %d with 400 spans queued", policy);
    CHECK(ts_rep_queued() > 0, "the backlog was gone before the policy was looked at");
    CHECK(wait_file_spans(g_path, 401, 10000) == 401, "the backlog was not exported");
    policy = policy_within(tid, SCHED_BATCH, 3000);
    CHECK(policy == SCHED_BATCH, "policy %d a second after the backlog", policy);
    scen_cleanup();
}

static void test_reporter_thread_hurries_with_a_backlog(void **state)
{
    run_in_child(NULL, scen_thread_hurries_with_a_backlog);
}

/* With an exporter that sends to a receiver too (jaeger), the thread
 * yields all the same between its sends. */
static void scen_thread_yields_with_a_receiver(void)
{
    reporter_scheduling_from(SCHED_OTHER, SCHED_BATCH, true);
}

static void test_reporter_thread_yields_with_a_receiver(void **state)
{
    run_in_child(NULL, scen_thread_yields_with_a_receiver);
}

/* While it waits for an OTLP receiver's answer (here one that accepts
 * nothing and never answers), the thread runs under the normal policy: a
 * wake-up from that wait does not wait for the tick. Then it yields again. */
static void scen_thread_waits_for_a_receiver_unyielding(void)
{
    scen_setup(1000, 512, 30);
    uint16_t port;
    int stall = loopback_socket(SOCK_STREAM, &port); /* accepts nothing */
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/v1/traces", (unsigned)port);
    CHECK(ts_url_parse(url, &ts_cfg.otlp_url) == NULL, "url %s", url);
    ts_cfg.exporters = 1u << TS_EXPORTER_OTLP;
    ts_cfg.otlp_timeout_ms = 1500;
    ts_cfg.bsp_export_timeout_ms = 1500;
    submit_named("span:%d:%d", 8, 0);
    pid_t tid = started_reporter_tid();
    int policy = policy_within(tid, SCHED_OTHER, 800);
    CHECK(policy == SCHED_OTHER, "policy %d while the receiver does not answer", policy);
    policy = policy_within(tid, SCHED_BATCH, 3000);
    CHECK(policy == SCHED_BATCH, "policy %d after the send gave up", policy);
    close(stall);
    scen_cleanup();
}

static void test_reporter_thread_waits_for_a_receiver_unyielding(void **state)
{
    run_in_child(NULL, scen_thread_waits_for_a_receiver_unyielding);
}

/* A program's thread that hands the reporter thread a job and waits for
 * it (a flush before an exec or at exit) puts the thread under the normal
 * policy for the job: woken under SCHED_BATCH while the processors were
 * busy, it waited for the running task's slice, and every short-lived
 * traced process waited milliseconds at its exit (reporter.c
 * rep_wait_unbatched). The job here is a flush into a full pipe, which
 * holds it while its policy is looked at; the thread yields again once
 * the job is done. */
struct flush_arg {
    unsigned ms;
    bool done;
};

static void *flush_main(void *arg)
{
    struct flush_arg *f = arg;
    ts_rep_flush(f->ms);
    __atomic_store_n(&f->done, true, __ATOMIC_RELEASE);
    return NULL;
}

static size_t drain_pipe(int rfd)
{
    char buf[4096];
    size_t total = 0;
    ssize_t n;
    while ((n = read(rfd, buf, sizeof buf)) > 0)
        total += (size_t)n;
    return total;
}

/* program_filtered: the program installed a seccomp filter (its hooks
 * note it): then the waiting thread makes no scheduling call, which the
 * filter might refuse or kill it for, and the policy stays. */
static void thread_policy_while_waited_for(bool program_filtered)
{
    scen_setup(1000, 512, 30);
    CHECK(mkfifo(g_path, 0600) == 0, "mkfifo: %s", strerror(errno));
    int rfd = open(g_path, O_RDONLY | O_NONBLOCK);
    CHECK(rfd >= 0, "open fifo: %s", strerror(errno));
    submit_named("span:%d:%d", 8, 0);
    pid_t tid = started_reporter_tid();
    size_t got = 0;
    for (int i = 0; i < 500 && got == 0; i++, sleep_ms(10))
        got = drain_pipe(rfd);
    CHECK(got > 0, "the first span was not exported");
    CHECK(policy_within(tid, SCHED_BATCH, 800) == SCHED_BATCH, "not yielding at first");
    int wfd = open(g_path, O_WRONLY | O_NONBLOCK);
    CHECK(wfd >= 0, "open fifo to fill: %s", strerror(errno));
    char fill[4096];
    memset(fill, 'x', sizeof fill);
    while (write(wfd, fill, sizeof fill) > 0) {
        /* until the pipe is full: the flush's write then waits */
    }
    submit_named("span:%d:%d", 8, 1);
    if (program_filtered)
        ts_sandbox_filter_coming();
    struct flush_arg f = {5000, false};
    pthread_t ft;
    CHECK(pthread_create(&ft, NULL, flush_main, &f) == 0, "flush thread");
    int want = program_filtered ? SCHED_BATCH : SCHED_OTHER;
    int policy = program_filtered ? (sleep_ms(100), sched_getscheduler(tid))
                                  : policy_within(tid, SCHED_OTHER, 800);
    CHECK(policy == want, "policy %d while a flush is waited for, want %d", policy, want);
    CHECK(!__atomic_load_n(&f.done, __ATOMIC_ACQUIRE), "the flush was over before the look");
    for (int i = 0; i < 500 && !__atomic_load_n(&f.done, __ATOMIC_ACQUIRE); i++, sleep_ms(5))
        drain_pipe(rfd);
    pthread_join(ft, NULL);
    CHECK(ts_rep_exported() == 2, "exported %llu", (unsigned long long)ts_rep_exported());
    policy = policy_within(tid, SCHED_BATCH, 2000);
    CHECK(policy == SCHED_BATCH, "policy %d after the flush", policy);
    close(wfd);
    close(rfd);
    scen_cleanup();
}

static void scen_thread_unyielding_while_waited_for(void)
{
    thread_policy_while_waited_for(false);
}

static void scen_thread_policy_kept_for_a_filtered_program(void)
{
    thread_policy_while_waited_for(true);
}

static void test_reporter_thread_policy_kept_for_a_filtered_program(void **state)
{
    run_in_child(own_fd_table, scen_thread_policy_kept_for_a_filtered_program);
}

static void test_reporter_thread_unyielding_while_waited_for(void **state)
{
    /* in a table of its own, the span file is the thread's alone: the
     * flush is handed to it (without, the flushing thread writes itself) */
    run_in_child(own_fd_table, scen_thread_unyielding_while_waited_for);
}

static void test_reporter_thread_yields_on_wakeup(void **state)
{
    run_in_child(NULL, scen_thread_yields_on_wakeup);
}

static void test_reporter_thread_keeps_idle_policy(void **state)
{
    run_in_child(NULL, scen_thread_keeps_idle_policy);
}

static void test_reporter_thread_policy_left_under_seccomp(void **state)
{
    run_in_child(NULL, scen_thread_policy_left_under_seccomp);
}

static void scen_batch_wakes_thread(void)
{
    scen_setup(1000, 10, 60000);
    for (int i = 0; i < 9; i++)
        submit_named("span:%d:%d", 8, i);
    sleep_ms(200);
    CHECK(read_span_file(g_path)->spans == 0, "exported before the batch was full");
    submit_named("span:%d:%d", 8, 9); /* the 10th: a full batch */
    int have = wait_file_spans(g_path, 10, 5000);
    CHECK(have == 10, "batch export wrote %d spans", have);
    struct spanfile *sf = read_span_file(g_path);
    CHECK(sf->lines == 1, "%d lines for one batch", sf->lines);
    check_group(sf, 8, 10);
    scen_cleanup();
}

static void test_reporter_batch_wakes_thread(void **state)
{
    run_in_child(NULL, scen_batch_wakes_thread);
}

/* A chunk of spans wakes the thread (the doorbell), which takes them all
 * into the open batch (a chunk is less than a batch); then no span comes.
 * The batch must be sent when it is due, by the thread: not left open
 * until the next span or the flush at exit (the integration test of 200
 * connections through nginx waited 10 s for a server's last few hundred
 * spans, which came only when the server was stopped). */
static void scen_chunk_then_quiet(void)
{
    enum { DELAY_MS = 200 };
    scen_setup(2048, 512, DELAY_MS);
    for (int i = 0; i < 64; i++) /* exactly a chunk: the 64th rings */
        submit_named("span:%d:%d", 1, i);
    int have = wait_file_spans(g_path, 64, 15 * DELAY_MS);
    CHECK(have == 64,
          "%d of 64 spans exported %d ms after a chunk and nothing since "
          "(schedule delay %d ms)",
          have, 15 * DELAY_MS, DELAY_MS);
    CHECK(ts_rep_queued() == 0, "%llu still queued or open", (unsigned long long)ts_rep_queued());
    /* and again, with the thread already running: a second chunk later */
    for (int i = 0; i < 64; i++)
        submit_named("span:%d:%d", 2, i);
    have = wait_file_spans(g_path, 128, 15 * DELAY_MS);
    CHECK(have == 128, "%d of 128 spans exported after a second chunk", have);
    struct spanfile *sf = read_span_file(g_path);
    check_group(sf, 1, 64);
    check_group(sf, 2, 64);
    scen_cleanup();
}

static void test_reporter_chunk_then_quiet(void **state)
{
    run_in_child(NULL, scen_chunk_then_quiet);
}

/* --- spans handed over in their blocks */

static void scen_whole_blocks(void)
{
    scen_setup(1000, 512, 60000);
    enum { N = 300 };
    static struct ts_block_pool pool = TS_BLOCK_POOL_INIT(sizeof(struct ts_span) + 64);
    struct ts_span *unsampled = ts_block_get(&pool);
    make_span(unsampled, "unsampled");
    unsampled->sampled = 0;
    CHECK(!ts_rep_submit_block(unsampled, &pool), "an unsampled span's block taken");
    int taken = 0, reused_while_submitting = 0;
    char name[64];
    for (int i = 0; i < N; i++) {
        struct ts_span *s = ts_rep_reuse_block(&pool);
        reused_while_submitting += s != NULL;
        if (!s)
            s = ts_block_get(&pool);
        snprintf(name, sizeof name, "span:%d:%d", 3, i);
        make_span(s, name);
        /* errno is the program's: kept through the ring's first mapping,
         * the thread's start, wake-ups and copies alike */
        errno = 4242 + i;
        bool took = ts_rep_submit_block(s, &pool);
        CHECK(errno == 4242 + i, "span %d: submit changed errno to %d", i, errno);
        /* the reporter only wakes at a chunk of spans: the first chunk is
         * all taken whole */
        CHECK(took || i >= 64, "span %d copied with fewer than a chunk queued", i);
        if (!took)
            ts_block_put(&pool, s);
        taken += took;
    }
    ts_rep_flush(20000);
    struct spanfile *sf = read_span_file(g_path);
    CHECK(sf->bad_lines == 0 && sf->spans == N, "%d spans, %d bad lines", sf->spans,
          sf->bad_lines);
    check_group(sf, 3, N);
    CHECK(ts_rep_exported() == N, "exported %llu", (unsigned long long)ts_rep_exported());
    /* every block taken came back: queued for reuse, or to the pool. A
     * slow reporter (TSan) may give the first chunk back while spans are
     * still being submitted, whose loop then reuses every one of them. */
    int reused = 0;
    void *b;
    while ((b = ts_rep_reuse_block(&pool))) {
        ts_block_put(&pool, b);
        reused++;
    }
    CHECK(taken >= 64 && reused + reused_while_submitting > 0 && reused <= TS_REP_RECYCLE,
          "taken %d, reused %d after and %d while submitting", taken, reused,
          reused_while_submitting);
    ts_block_put(&pool, unsampled);
    ts_block_pool_trim(&pool, 0);
    CHECK(ts_block_pool_chunks(&pool, NULL) == 0, "blocks of the pool still out");
    scen_cleanup();
}

static void test_reporter_whole_blocks(void **state)
{
    run_in_child(NULL, scen_whole_blocks);
}

/* --- a batch whose line would pass 4 MiB is split */

static void scen_split_long_lines(void)
{
    scen_setup(4000, 2000, 60000);
    enum { N = 1000 };
    char name[TS_SPAN_STRBUF];
    for (int i = 0; i < N; i++) {
        int k = snprintf(name, sizeof name, "span:9:%d:", i);
        memset(name + k, 0x01, sizeof name - (size_t)k); /* 6 bytes each once escaped */
        struct ts_span s;
        ts_span_clear(&s);
        s.sampled = 1;
        s.span_id[0] = 1;
        ts_span_set_name(&s, name, sizeof name);
        ts_rep_submit(&s);
    }
    ts_rep_flush(20000);
    struct spanfile *sf = read_span_file(g_path);
    CHECK(sf->bad_lines == 0, "%d bad lines", sf->bad_lines);
    CHECK(sf->spans == N, "%d spans", sf->spans);
    CHECK(sf->lines >= 2, "%d lines: not split", sf->lines);
    CHECK(sf->longest_line <= (size_t)4 << 20, "a line of %zu bytes", sf->longest_line);
    CHECK(sf->longest_shared_line <= (size_t)64 << 10, "a line of %zu bytes holds several spans",
          sf->longest_shared_line);
    check_group(sf, 9, N);
    CHECK(ts_rep_exported() == N, "exported %llu", (unsigned long long)ts_rep_exported());
    scen_cleanup();
}

static void test_reporter_splits_long_lines(void **state)
{
    run_in_child(NULL, scen_split_long_lines);
}

/* A batch of ordinary spans (512 of about 300 bytes) goes out as lines of
 * at most 64 KiB: a line is one write, which a kernel that preempts only
 * where its code allows runs from start to end (reporter/exporters.c). */
static void scen_file_lines_filled(void)
{
    scen_setup(4000, 512, 60000);
    enum { N = 2048 };
    uint64_t moved_before = ts_json_buf_moved();
    for (int i = 0; i < N; i++)
        submit_named("span:%d:%d", 8, i);
    ts_rep_flush(20000);
    uint64_t moved = ts_json_buf_moved() - moved_before;
    struct spanfile *sf = read_span_file(g_path);
    CHECK(sf->bad_lines == 0, "%d bad lines", sf->bad_lines);
    CHECK(sf->spans == N, "%d spans", sf->spans);
    CHECK(sf->longest_line <= (size_t)64 << 10, "a line of %zu bytes", sf->longest_line);
    CHECK(sf->most_spans_in_line >= 64, "lines of at most %zu spans: filled short",
          sf->most_spans_in_line);
    /* The batch buffer grows for the first line only (doubling from a few
     * hundred bytes copies less than two lines' worth): each later line
     * starts with the room the fullest line of the last second needed, the
     * span that no longer fit included. One more growth of a full line
     * would copy 64 KiB more. */
    CHECK(moved < (size_t)160 << 10, "%llu bytes copied growing buffers for %d lines",
          (unsigned long long)moved, sf->lines);
    check_group(sf, 8, N);
    CHECK(ts_rep_exported() == N, "exported %llu", (unsigned long long)ts_rep_exported());
    scen_cleanup();
}

static void test_reporter_file_lines_filled(void **state)
{
    run_in_child(NULL, scen_file_lines_filled);
}

/* The rings' pace: as many spans as come in a millisecond, at least a
 * few, at most a chunk. */
static void test_reporter_wake_at_for(void **state)
{
    (void)state;
    const uint64_t ms = 1000000u;
    assert_int_equal(ts_rep_wake_at_for(5 * ms, 0, 8, 64), 8);           /* none came */
    assert_int_equal(ts_rep_wake_at_for(ms / 2, 64, 8, 64), 64);         /* 128 a ms */
    assert_int_equal(ts_rep_wake_at_for(2 * ms, 64, 8, 64), 32);         /* 32 a ms */
    assert_int_equal(ts_rep_wake_at_for(ms, 20, 8, 64), 20);             /* 20 a ms */
    assert_int_equal(ts_rep_wake_at_for(4 * ms, 16, 8, 64), 8);          /* 4 a ms */
    assert_int_equal(ts_rep_wake_at_for(0, 5, 8, 64), 64);               /* all at once */
    assert_int_equal(ts_rep_wake_at_for(UINT64_MAX, 1, 8, 64), 8);       /* no overflow */
    assert_int_equal(ts_rep_wake_at_for(ms, SIZE_MAX, 8, 64), 64);       /* no overflow */
    assert_int_equal(ts_rep_wake_at_for(ms / 10, 1000, 4, 4), 4);        /* small batches */
}

/* The reporter thread sets the pace from what it finds: many at a time
 * while a fast stream lasts, a few at a time again once it has stopped,
 * and then slow spans ring it every 8: of twenty, the last four wait (at a
 * pace of 64 once the first eight were taken, twelve would). */
static void scen_paces_its_rings(void)
{
    scen_setup(4000, 512, 200);
    struct ts_rep_queue *q = ts_rep_the_queue();
    size_t most = 0;
    for (int b = 0; b < 100; b++) {
        for (int i = 0; i < 64; i++)
            submit_named("span:%d:%d", 10, b * 64 + i);
        struct timespec pause = {0, 500000L};
        nanosleep(&pause, NULL);
        size_t now = ts_rep_ring_wake_at();
        if (b >= 20 && now > most)
            most = now;
    }
    /* 128 spans a millisecond are offered; under a sanitizer the submits
     * themselves are slower (TSan: about 55 a millisecond) */
    CHECK(most >= 32 && most <= 64, "rung every %zu spans at most during a fast stream", most);
    usleep(400 * 1000); /* the open batch is due (200 ms): the thread looks, finds none */
    CHECK(ts_rep_ring_wake_at() == 8, "rung every %zu spans after the stream",
          ts_rep_ring_wake_at());
    for (int i = 0; i < 20; i++) {
        submit_named("span:%d:%d", 10, 6400 + i);
        usleep(1000);
    }
    usleep(20 * 1000);
    size_t waiting = ts_rep_queue_count(q);
    CHECK(waiting < 8, "%zu slow spans still wait for the thread", waiting);
    ts_rep_flush(20000);
    struct spanfile *sf = read_span_file(g_path);
    CHECK(sf->spans == 6420, "%d spans", sf->spans);
    CHECK(ts_rep_dropped() == 0, "dropped %llu", (unsigned long long)ts_rep_dropped());
    scen_cleanup();
}

static void test_reporter_paces_its_rings(void **state)
{
    run_in_child(NULL, scen_paces_its_rings);
}

/* --- other exporters */

static void scen_exporter_none(void)
{
    scen_setup(1000, 512, 60000);
    ts_cfg.exporters = 0;
    int base = task_count();
    for (int i = 0; i < 5; i++)
        submit_named("span:%d:%d", 0, i);
    ts_rep_flush(1000);
    CHECK(ts_rep_queued() == 0 && ts_rep_dropped() == 0 && ts_rep_exported() == 0,
          "none exporter: queued %llu dropped %llu exported %llu",
          (unsigned long long)ts_rep_queued(), (unsigned long long)ts_rep_dropped(),
          (unsigned long long)ts_rep_exported());
    CHECK(access(g_path, F_OK) != 0, "none exporter wrote a file");
    CHECK(task_count() == base, "none exporter started a thread");
    scen_cleanup();
}

static void test_reporter_exporter_none(void **state)
{
    run_in_child(NULL, scen_exporter_none);
}

static void scen_exporter_console(void)
{
    scen_setup(1000, 512, 60000);
    ts_cfg.exporters = 1u << TS_EXPORTER_CONSOLE;
    char cap[160];
    snprintf(cap, sizeof cap, "%s/stderr.txt", g_dir);
    int saved = capture_stderr(cap);
    struct ts_span s;
    ts_span_clear(&s);
    for (int i = 0; i < 16; i++)
        s.trace_id[i] = (uint8_t)(0x10 + i);
    for (int i = 0; i < 8; i++)
        s.span_id[i] = (uint8_t)(0xa0 + i);
    s.kind = TS_KIND_SERVER;
    s.sampled = 1;
    s.start_ns = 1000000000000000000ull;
    s.end_ns = s.start_ns + 1234567;
    ts_span_set_name(&s, "GET /x", 6);
    ts_span_attr_int(&s, "http.response.status_code", 200);
    ts_rep_submit(&s);
    ts_span_clear(&s);
    for (int i = 0; i < 16; i++)
        s.trace_id[i] = (uint8_t)(0x10 + i);
    for (int i = 0; i < 8; i++)
        s.span_id[i] = (uint8_t)(0xa0 + i);
    s.span_id[7] = 0xff;
    s.parent_id[7] = 0xa7;
    s.kind = TS_KIND_CLIENT;
    s.status = TS_STATUS_ERROR;
    s.sampled = 1;
    s.start_ns = 1000000000000000000ull;
    s.end_ns = s.start_ns + 25000000000ull + 5000;
    ts_span_set_name(&s, "GET \"q\"\n", 8);
    ts_rep_submit(&s);
    /* what a terminal must not get, escaped like the C0 controls: a
     * right-to-left override, an isolate, the Arabic letter mark, C1
     * controls (NEL, CSI) and DEL; other UTF-8 (é) as it is */
    s.span_id[7] = 0xfe;
    s.status = TS_STATUS_UNSET;
    const char *hostile = "a\xE2\x80\xAE"
                          "b\xE2\x81\xA6"
                          "c\xD8\x9C"
                          "d\xC2\x85"
                          "e\xC2\x9B"
                          "f\x7F"
                          "\xC3\xA9\xE2\x80\x8F";
    ts_span_set_name(&s, hostile, strlen(hostile));
    ts_rep_submit(&s);
    ts_rep_flush(5000);
    restore_stderr(saved);
    size_t len;
    char *out = slurp(cap, &len);
    const char *want =
        "traceshim: span 101112131415161718191a1b1c1d1e1f/a0a1a2a3a4a5a6a7 parent=- "
        "\"GET /x\" server 200 1.234ms\n"
        "traceshim: span 101112131415161718191a1b1c1d1e1f/a0a1a2a3a4a5a6ff "
        "parent=00000000000000a7 \"GET \\\"q\\\"\\u000a\" client - 25000.005ms error\n"
        "traceshim: span 101112131415161718191a1b1c1d1e1f/a0a1a2a3a4a5a6fe "
        "parent=00000000000000a7 "
        "\"a\\u202eb\\u2066c\\u061cd\\u0085e\\u009bf\\u007f\xC3\xA9\\u200f\" "
        "client - 25000.005ms\n";
    CHECK(strcmp(out, want) == 0, "console output:\n%s\nwanted:\n%s", out, want);
    CHECK(ts_rep_exported() == 3, "exported %llu", (unsigned long long)ts_rep_exported());
    CHECK(access(g_path, F_OK) != 0, "console exporter wrote the span file");
    free(out);
    scen_cleanup();
}

static void test_reporter_exporter_console(void **state)
{
    run_in_child(NULL, scen_exporter_console);
}

static void test_reporter_exporter_console_own_fd_table(void **state)
{
    run_in_child(own_fd_table, scen_exporter_console);
}

/* The console's lines after the program closed its stderr on its way out
 * (coreutils, in an exit handler) and opened a file that took fd 2: they
 * go to the copy kept at that close, never into that file; a span before
 * the exit went to fd 2 as it was. */
static void scen_exporter_console_stderr_kept_at_exit(void)
{
    scen_setup(1000, 512, 60000);
    ts_cfg.exporters = 1u << TS_EXPORTER_CONSOLE;
    char cap[160], other[160];
    snprintf(cap, sizeof cap, "%s/stderr.txt", g_dir);
    snprintf(other, sizeof other, "%s/other.txt", g_dir);
    int saved = capture_stderr(cap);
    ts_program_stderr_note_start(); /* the program's stderr: this file */
    submit_named("span:%d:%d", 0, 1);
    ts_rep_flush(5000);
    ts_program_stderr_closing(); /* not exiting: nothing kept */
    CHECK(ts_log_stderr_kept == NULL, "a copy kept before the exit");
    ts_program_stderr_exiting();
    ts_program_stderr_closing(); /* as the close hook does */
    close(2);
    CHECK(open(other, O_WRONLY | O_CREAT | O_TRUNC, 0600) == 2, "the file did not take fd 2");
    submit_named("span:%d:%d", 0, 2);
    ts_rep_flush(5000);
    ts_program_stderr_after_fork(); /* as in a child: the copy let go */
    CHECK(ts_log_stderr_kept == NULL, "a child kept its parent's copy");
    restore_stderr(saved);
    size_t len, other_len;
    char *out = slurp(cap, &len);
    char *in_other = slurp(other, &other_len);
    CHECK(other_len == 0, "span text in the program's file: %s", in_other);
    CHECK(strstr(out, "\"span:0:1\"") && strstr(out, "\"span:0:2\""), "console output: %s", out);
    CHECK(ts_rep_exported() == 2 && ts_rep_dropped() == 0, "exported %llu dropped %llu",
          (unsigned long long)ts_rep_exported(), (unsigned long long)ts_rep_dropped());
    free(out);
    free(in_other);
    scen_cleanup();
}

static void test_reporter_exporter_console_stderr_kept_at_exit(void **state)
{
    run_in_child(NULL, scen_exporter_console_stderr_kept_at_exit);
}

static void test_reporter_exporter_console_stderr_kept_at_exit_own_fd_table(void **state)
{
    run_in_child(own_fd_table, scen_exporter_console_stderr_kept_at_exit);
}

/* An unwritable path: one error line naming it, spans dropped and counted. */
static void scen_file_error(void)
{
    scen_setup(1000, 512, 60000);
    char bad[200];
    snprintf(bad, sizeof bad, "%s/no-such-dir/spans.jsonl", g_dir);
    snprintf(ts_cfg.file_path, sizeof ts_cfg.file_path, "%s", bad);
    char cap[160];
    snprintf(cap, sizeof cap, "%s/stderr.txt", g_dir);
    int saved = capture_stderr(cap);
    for (int i = 0; i < 3; i++)
        submit_named("span:%d:%d", 0, i);
    ts_rep_flush(5000);
    for (int i = 3; i < 5; i++)
        submit_named("span:%d:%d", 0, i);
    ts_rep_flush(5000);
    restore_stderr(saved);
    size_t len;
    char *out = slurp(cap, &len);
    char want[512];
    snprintf(want, sizeof want,
             "traceshim: cannot open span file %s: No such file or directory; spans are "
             "dropped\n",
             bad);
    CHECK(strcmp(out, want) == 0, "stderr: %s", out);
    CHECK(ts_rep_dropped() == 5 && ts_rep_exported() == 0, "dropped %llu exported %llu",
          (unsigned long long)ts_rep_dropped(), (unsigned long long)ts_rep_exported());
    free(out);
    scen_cleanup();
}

static void test_reporter_file_error(void **state)
{
    run_in_child(NULL, scen_file_error);
}

static void test_reporter_file_error_own_fd_table(void **state)
{
    run_in_child(own_fd_table, scen_file_error);
}

/* The default file name is resolved against the start-up directory, so a
 * later chdir does not move the output. */
static void scen_relative_path_pinned(void)
{
    scen_setup(1000, 512, 60000);
    ts_cfg.file_path[0] = '\0';
    CHECK(chdir(g_dir) == 0, "chdir");
    ts_rep_init();
    CHECK(chdir("/") == 0, "chdir /");
    submit_named("span:%d:%d", 2, 0);
    ts_rep_flush(5000);
    char expect[200];
    snprintf(expect, sizeof expect, "%s/traceshim-spans.jsonl", g_dir);
    CHECK(read_span_file(expect)->spans == 1, "span not in %s", expect);
    scen_cleanup();
}

static void test_reporter_relative_path_pinned(void **state)
{
    run_in_child(NULL, scen_relative_path_pinned);
}

/* An exec hook may flush inside a vfork child, which shares the parent's
 * memory: there the flush must not touch the reporter at all. */
static void scen_flush_in_vfork_child(void)
{
    scen_setup(1000, 512, 60000);
    for (int i = 0; i < 3; i++)
        submit_named("span:%d:%d", 3, i);
    pid_t pid = vfork();
    if (pid == 0) {
        ts_rep_flush(1000);
        _exit(0);
    }
    CHECK(pid > 0, "vfork");
    int status;
    CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
    CHECK(ts_rep_queued() == 3 && ts_rep_exported() == 0, "the vfork child flushed");
    struct stat st; /* the reporter thread created it as it started: empty */
    CHECK(stat(g_path, &st) != 0 || st.st_size == 0, "the vfork child wrote the file");
    ts_rep_flush(5000);
    CHECK(ts_rep_exported() == 3, "exported %llu", (unsigned long long)ts_rep_exported());
    check_group(read_span_file(g_path), 3, 3);
    scen_cleanup();
}

static void test_reporter_flush_in_vfork_child(void **state)
{
    run_in_child(NULL, scen_flush_in_vfork_child);
}

/* A flush (at exit, before an exec) that finds the oldest span's place
 * claimed and not yet published waits for it within its deadline, rather
 * than leaving every span behind it unexported; a place never published
 * is passed in time (the queue's bound, a second) and counted dropped. */
static void scen_flush_waits_for_a_claimed_place(void)
{
    scen_setup(1000, 512, 60000);
    submit_named("span:%d:%d", 0, 0);
    __atomic_fetch_add(&ts_rep_the_queue()->tail, 1, __ATOMIC_SEQ_CST); /* claimed, never published */
    submit_named("span:%d:%d", 0, 1);
    ts_rep_flush(5000);
    struct spanfile *sf = read_span_file(g_path);
    CHECK(sf->spans == 2, "%d spans written", sf->spans);
    check_group(sf, 0, 2);
    CHECK(ts_rep_exported() == 2, "exported %llu", (unsigned long long)ts_rep_exported());
    CHECK(ts_rep_dropped() == 1, "dropped %llu", (unsigned long long)ts_rep_dropped());
    CHECK(ts_rep_queued() == 0, "queued %llu", (unsigned long long)ts_rep_queued());
    scen_cleanup();
}

static void test_reporter_flush_waits_for_a_claimed_place(void **state)
{
    run_in_child(NULL, scen_flush_waits_for_a_claimed_place);
}

/* Flushing with nothing queued does nothing: no thread, no file. */
static void scen_flush_empty(void)
{
    scen_setup(1000, 512, 60000);
    int base = task_count();
    ts_rep_flush(100);
    ts_rep_flush(0);
    CHECK(task_count() == base, "flush started a thread");
    CHECK(access(g_path, F_OK) != 0, "flush created the file");
    CHECK(ts_rep_exported() == 0 && ts_rep_dropped() == 0, "counters moved");
    scen_cleanup();
}

static void test_reporter_flush_empty(void **state)
{
    run_in_child(NULL, scen_flush_empty);
}

/* How many fds the program has open (less the one that reads them). */
static int open_fd_count(void)
{
    return dir_entries("/proc/self/fd") - 1;
}

/* A process image's last span (its process span) with the span file the
 * only exporter and no reporter thread yet: the flush that follows
 * (before an exec, at exit) writes it on the calling thread, in the
 * program's fd table, and closes the file again; no thread is started
 * for it, and the program's fds are as they were (an exec that fails
 * goes on with them). The stats line at exit is written the same way. */
static void scen_last_span_written_here(void)
{
    scen_setup(1000, 512, 60000);
    ts_cfg.stats = true;
    int tasks = task_count(), fds = open_fd_count();
    struct ts_span s;
    make_span(&s, "span:9:0");
    ts_rep_submit_last(&s);
    ts_rep_flush(5000);
    CHECK(read_span_file(g_path)->spans == 1, "the last span was not written by the flush");
    CHECK(task_count() == tasks, "a thread was started for the last span");
    CHECK(open_fd_count() == fds && fd_of(g_path, -1) == -1,
          "the program's fds changed: %d open before, %d after, the span file's %d", fds,
          open_fd_count(), fd_of(g_path, -1));

    make_span(&s, "span:9:1");
    ts_rep_submit_last(&s);
    exit_and_check_span_file(9, 2);
    CHECK(task_count() == tasks, "a thread was started at exit");
    CHECK(open_fd_count() == fds, "the program's fds changed at exit: %d, then %d", fds,
          open_fd_count());
    scen_cleanup();
}

static void test_reporter_last_span_written_here(void **state)
{
    run_in_child(own_fd_table, scen_last_span_written_here);
}

/* The allocator's calls while g_count_allocs is set. A flush from a
 * signal handler (or _exit) in a process with no reporter thread writes
 * the span file itself, and may have interrupted malloc on this very
 * thread: it must take nothing from the allocator. Counted by this
 * program's own malloc and kin in front of glibc's; not in a sanitizer
 * build, whose runtime owns the allocator (the plain build's run of this
 * test counts). */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define COUNTS_ALLOCS 0
#else
#define COUNTS_ALLOCS 1
static volatile bool g_count_allocs;
static volatile unsigned g_allocs;
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void __libc_free(void *p);

void *malloc(size_t n)
{
    g_allocs += g_count_allocs;
    return __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
    g_allocs += g_count_allocs;
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
    g_allocs += g_count_allocs;
    return __libc_realloc(p, n);
}

void free(void *p)
{
    g_allocs += g_count_allocs && p;
    __libc_free(p);
}
#endif

/* A process span ended and flushed as the shim's handler does it
 * (ts_rep_submit_signal_safe, ts_rep_exit_signal_safe), with stderr
 * captured in g_dir's stderr.txt (its path in cap) and, outside a
 * sanitizer, no call of the allocator allowed. */
static void flush_as_a_handler(const char *span_name, char *cap, size_t cap_size)
{
    snprintf(cap, cap_size, "%s/stderr.txt", g_dir);
    int saved = capture_stderr(cap);
    struct ts_span s;
    make_span(&s, span_name);
#if COUNTS_ALLOCS
    g_allocs = 0;
    g_count_allocs = true;
#endif
    ts_rep_submit_signal_safe(&s);
    ts_rep_exit_signal_safe(5000);
#if COUNTS_ALLOCS
    g_count_allocs = false;
#endif
    restore_stderr(saved);
#if COUNTS_ALLOCS
    CHECK(g_allocs == 0, "the handler's flush called the allocator %u times", g_allocs);
#endif
}

/* The process span of `traceshim run sleep 10`, and a Ctrl-C: the shim's
 * handler ends the span and flushes, with no reporter thread to hand the
 * flush to. With the span file as the only exporter the handler writes
 * the span and the stats line itself, in buffers mapped for it; before,
 * both were lost. No thread is started. */
static void scen_last_span_written_in_a_handler(void)
{
    scen_setup(1000, 512, 60000);
    ts_cfg.stats = true;
    int tasks = task_count();
    char cap[160];
    flush_as_a_handler("span:10:0", cap, sizeof cap);
    CHECK(task_count() == tasks, "a thread was started in the handler");
    struct spanfile *sf = read_span_file(g_path);
    CHECK(sf->bad_lines == 0 && sf->spans == 1, "%d spans, %d bad lines", sf->spans, sf->bad_lines);
    size_t len;
    char *data = slurp(g_path, &len);
    CHECK(data && strstr(data, "\"resourceMetrics\""), "no stats line in the span file");
    free(data);
    scen_cleanup();
}

static void test_reporter_last_span_written_in_a_handler(void **state)
{
    run_in_child(own_fd_table, scen_last_span_written_in_a_handler);
}

/* The same with a span file that cannot be opened: the message names the
 * error by its name (strerror_r, which looks its text up in the locale's
 * translations, loads them with malloc: in a translated locale the
 * handler hung on the lock of the malloc it had interrupted). */
static void scen_handler_write_that_fails(void)
{
    scen_setup(1000, 512, 60000);
    snprintf(ts_cfg.file_path, sizeof ts_cfg.file_path, "%s/no-such-folder/spans.jsonl", g_dir);
    char cap[160];
    flush_as_a_handler("span:11:0", cap, sizeof cap);
    size_t len;
    char *err = slurp(cap, &len);
    CHECK(err && strstr(err, "cannot open span file") && strstr(err, ": ENOENT;"), "stderr: %s",
          err ? err : "(none)");
    free(err);
    scen_cleanup();
}

static void test_reporter_handler_write_that_fails(void **state)
{
    run_in_child(own_fd_table, scen_handler_write_that_fails);
}

/* A reader of the FIFO at path, in a process of its own, as `cat` or a
 * log shipper is: it opens it (waiting for a writer) and reads one line,
 * or up to the end of the file; what it read comes back through the
 * returned pipe's read end. */
static int fifo_line_reader(const char *path, pid_t *pid)
{
    int result[2];
    CHECK(pipe(result) == 0, "pipe: %s", strerror(errno));
    *pid = fork();
    CHECK(*pid >= 0, "fork: %s", strerror(errno));
    if (*pid == 0) {
        close(result[0]);
        int fd = open(path, O_RDONLY);
        char c;
        while (fd >= 0 && read(fd, &c, 1) == 1) {
            (void)!write(result[1], &c, 1);
            if (c == '\n')
                break;
        }
        _exit(0);
    }
    close(result[1]);
    /* Until it waits in its open for a writer (the kernel's wait_for_partner):
     * the FIFO has a reader then. */
    char wchan[64], path_wchan[64];
    snprintf(path_wchan, sizeof path_wchan, "/proc/%d/wchan", (int)*pid);
    for (int i = 0; i < 500; i++, sleep_ms(2)) {
        int fd = open(path_wchan, O_RDONLY);
        ssize_t n = fd >= 0 ? read(fd, wchan, sizeof wchan - 1) : -1;
        if (fd >= 0)
            close(fd);
        wchan[n > 0 ? n : 0] = '\0';
        if (strstr(wchan, "partner"))
            break;
    }
    return result[0];
}

/* What fifo_line_reader read holds want; the reader is reaped. */
static void check_fifo_reader_got(int reader, pid_t reader_pid, const char *want)
{
    size_t len;
    char *data = slurp_fd(reader, &len);
    CHECK(strstr(data, want) != NULL, "the FIFO's reader got %zu bytes, without %s", len, want);
    free(data);
    close(reader);
    CHECK(waitpid(reader_pid, NULL, 0) == reader_pid, "the reader");
}

/* A FIFO for the span file, the last span queued and flushed (with a
 * reader of the FIFO when reader is not NULL): the flush must end within
 * its deadline and the timeout's margin. */
static void flush_last_span_to_a_fifo(unsigned timeout_ms, int *reader, pid_t *reader_pid)
{
    scen_setup(1000, 512, 60000);
    CHECK(mkfifo(g_path, 0600) == 0, "mkfifo: %s", strerror(errno));
    if (reader)
        *reader = fifo_line_reader(g_path, reader_pid);
    struct ts_span s;
    make_span(&s, "span:9:0");
    ts_rep_submit_last(&s);
    uint64_t t0 = ts_mono_ms();
    ts_rep_flush(timeout_ms);
    uint64_t took = ts_mono_ms() - t0;
    CHECK(took < timeout_ms + 2700, "the flush took %llu ms", (unsigned long long)took);
}

/* The same with a FIFO for the span file: its open on the program's
 * thread could wait for a reader for good, so the reporter thread is
 * started for the last span after all and the flush waits for it. The
 * FIFO is not opened here even to look at it: the reader, waiting in its
 * own open, would take that open and close for the end of the file. */
static void scen_last_span_to_a_fifo(void)
{
    int tasks = task_count(), fds = open_fd_count(), reader;
    pid_t reader_pid;
    flush_last_span_to_a_fifo(1300, &reader, &reader_pid);
    CHECK(task_count() == tasks + 1, "no reporter thread for a FIFO span file");
    CHECK(open_fd_count() == fds + 1, "the program's fds changed: %d open, then %d", fds + 1,
          open_fd_count());
    check_fifo_reader_got(reader, reader_pid, "span:9:0");
    scen_cleanup();
}

static void test_reporter_last_span_to_a_fifo(void **state)
{
    run_in_child(own_fd_table, scen_last_span_to_a_fifo);
}

/* The stats line at exit of a process that made no span, its span file a
 * FIFO with a reader waiting in its open: not looked at by an open on the
 * program's thread either (the reader took that for the end of the
 * file); the reporter thread is started for it. */
static void scen_stats_line_to_a_fifo(void)
{
    scen_setup(1000, 512, 60000);
    ts_cfg.stats = true;
    CHECK(mkfifo(g_path, 0600) == 0, "mkfifo: %s", strerror(errno));
    pid_t reader_pid;
    int reader = fifo_line_reader(g_path, &reader_pid);
    char cap[160];
    snprintf(cap, sizeof cap, "%s/stderr.txt", g_dir);
    int saved = capture_stderr(cap);
    ts_rep_exit(2000);
    restore_stderr(saved);
    check_fifo_reader_got(reader, reader_pid, "\"resourceMetrics\"");
    scen_cleanup();
}

static void test_reporter_stats_line_to_a_fifo(void **state)
{
    run_in_child(own_fd_table, scen_stats_line_to_a_fifo);
}

/* Without a reader the flush ends at its deadline: the program's thread
 * never opens the FIFO itself (the started thread's open waits). */
static void scen_last_span_to_a_fifo_nobody_reads(void)
{
    flush_last_span_to_a_fifo(300, NULL, NULL);
    CHECK(ts_rep_queued() == 1, "%llu spans queued", (unsigned long long)ts_rep_queued());
    scen_cleanup();
}

static void test_reporter_last_span_to_a_fifo_nobody_reads(void **state)
{
    run_in_child(own_fd_table, scen_last_span_to_a_fifo_nobody_reads);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_queue_capacity_order_and_drops),
        cmocka_unit_test(test_queue_wraps_around),
        cmocka_unit_test(test_queue_copies_the_record),
        cmocka_unit_test(test_queue_reserve_and_after_fork),
        cmocka_unit_test(test_queue_concurrent),
        cmocka_unit_test(test_queue_memory_follows_depth),
        cmocka_unit_test(test_queue_record_sizes),
        cmocka_unit_test(test_queue_full_gives_records_back),
        cmocka_unit_test(test_queue_take_and_release),
        cmocka_unit_test(test_queue_release_many),
        cmocka_unit_test(test_queue_records_recycled),
        cmocka_unit_test(test_queue_recycled_get_across_a_fork),
        cmocka_unit_test(test_queue_whole_blocks),
        cmocka_unit_test(test_queue_whole_blocks_after_fork),
        cmocka_unit_test(test_queue_record_read_in_place),
        cmocka_unit_test(test_queue_fork_frees_records_in_child),
        cmocka_unit_test(test_queue_cap_not_power_of_two),
        cmocka_unit_test(test_queue_claimed_not_published),
        cmocka_unit_test(test_queue_passes_a_place_never_published),
        cmocka_unit_test(test_reporter_flush_empty),
        cmocka_unit_test(test_reporter_flush_waits_for_a_claimed_place),
        cmocka_unit_test(test_reporter_last_span_written_here),
        cmocka_unit_test(test_reporter_last_span_written_in_a_handler),
        cmocka_unit_test(test_reporter_handler_write_that_fails),
        cmocka_unit_test(test_reporter_last_span_to_a_fifo),
        cmocka_unit_test(test_reporter_stats_line_to_a_fifo),
        cmocka_unit_test(test_reporter_last_span_to_a_fifo_nobody_reads),
        cmocka_unit_test(test_reporter_threads_end_to_end),
        cmocka_unit_test(test_reporter_threads_end_to_end_own_fd_table),
        cmocka_unit_test(test_reporter_full_queue_drops),
        cmocka_unit_test(test_reporter_fork_child),
        cmocka_unit_test(test_reporter_fork_child_own_fd_table),
        cmocka_unit_test(test_reporter_fork_during_export),
        cmocka_unit_test(test_reporter_fork_during_export_own_fd_table),
        cmocka_unit_test(test_reporter_fd_taken_over),
        cmocka_unit_test(test_reporter_stdio_fds_left_alone),
        cmocka_unit_test(test_reporter_stdio_fds_left_alone_own_fd_table),
        cmocka_unit_test(test_reporter_own_fd_table_apart),
        cmocka_unit_test(test_reporter_shared_fd_table),
        cmocka_unit_test(test_reporter_fd_table_decided),
        cmocka_unit_test(test_reporter_lazy_thread_and_signals),
        cmocka_unit_test(test_reporter_thread_yields_on_wakeup),
        cmocka_unit_test(test_reporter_thread_keeps_idle_policy),
        cmocka_unit_test(test_reporter_thread_hurries_with_a_backlog),
        cmocka_unit_test(test_reporter_thread_yields_with_a_receiver),
        cmocka_unit_test(test_reporter_thread_waits_for_a_receiver_unyielding),
        cmocka_unit_test(test_reporter_thread_unyielding_while_waited_for),
        cmocka_unit_test(test_reporter_thread_policy_kept_for_a_filtered_program),
        cmocka_unit_test(test_reporter_thread_policy_left_under_seccomp),
        cmocka_unit_test(test_reporter_batch_wakes_thread),
        cmocka_unit_test(test_reporter_chunk_then_quiet),
        cmocka_unit_test(test_reporter_splits_long_lines),
        cmocka_unit_test(test_reporter_file_lines_filled),
        cmocka_unit_test(test_reporter_wake_at_for),
        cmocka_unit_test(test_reporter_paces_its_rings),
        cmocka_unit_test(test_reporter_whole_blocks),
        cmocka_unit_test(test_reporter_exporter_none),
        cmocka_unit_test(test_reporter_exporter_console),
        cmocka_unit_test(test_reporter_exporter_console_own_fd_table),
        cmocka_unit_test(test_reporter_exporter_console_stderr_kept_at_exit),
        cmocka_unit_test(test_reporter_exporter_console_stderr_kept_at_exit_own_fd_table),
        cmocka_unit_test(test_reporter_file_error),
        cmocka_unit_test(test_reporter_file_error_own_fd_table),
        cmocka_unit_test(test_reporter_relative_path_pinned),
        cmocka_unit_test(test_reporter_flush_in_vfork_child),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
