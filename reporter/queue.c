/* queue.c — the bounded queue of span records (see queue.h). */
#include "queue.h"

#include "../preload/clock.h"

#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../preload/fork_state.h"
#include "../preload/real.h"
#include "../preload/sandbox.h"

bool ts_rep_queue_init(struct ts_rep_queue *q, size_t cap)
{
    /* The doorbell's futex calls go through the real-symbol table: filled
     * here, before any producer or consumer thread can ring or wait (a
     * program that uses the queue without the library's constructor, as
     * the unit tests do, would otherwise race to fill it) */
    ts_real_resolve();
    *q = (struct ts_rep_queue)TS_REP_QUEUE_INITIALIZER;
    pthread_mutex_init(&q->mu, NULL);
    for (int k = 0; k < TS_REP_RECORD_CLASSES; k++)
        pthread_mutex_init(&q->records[k].mu, NULL);
    return ts_rep_queue_reserve(q, cap);
}

bool ts_rep_queue_ready(const struct ts_rep_queue *q)
{
    return __atomic_load_n(&q->slots, __ATOMIC_ACQUIRE) != NULL;
}

bool ts_rep_queue_reserve(struct ts_rep_queue *q, size_t cap)
{
    if (cap == 0)
        cap = 1;
    if (ts_rep_queue_ready(q))
        return true;
    /* Mapped outside the mutex: a push never waits for it. mmap, not
     * malloc: the first span may be pushed from a signal handler. The
     * pages are only touched (and become resident) as the ring fills. A
     * power of two slots, so that a position's slot is a mask away. */
    size_t ring = 1;
    while (ring < cap) {
        if (ring > SIZE_MAX / 2 / sizeof(struct ts_span *))
            return false;
        ring <<= 1;
    }
    size_t bytes = ring * sizeof(struct ts_span *);
    void *slots = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (slots == MAP_FAILED)
        return false;
    pthread_mutex_lock(&q->mu);
    if (!q->slots) {
        q->slots_bytes = bytes;
        q->cap = cap;
        q->mask = ring - 1;
        /* Published by the release store below: a producer reads cap and
         * mask only after it has seen the ring. */
        __atomic_store_n(&q->slots, (struct ts_span **)slots, __ATOMIC_RELEASE);
        slots = NULL;
    }
    pthread_mutex_unlock(&q->mu);
    if (slots) /* another thread won the race */
        munmap(slots, bytes);
    return true;
}

static int release_kind(struct ts_rep_queue *q, const struct ts_span *rec);
static void recycled_give_back(struct ts_rep_queue *q);

void ts_rep_queue_destroy(struct ts_rep_queue *q)
{
    if (q->slots) {
        /* Whole blocks are their pool's to keep; records go with their
         * pools' chunks. */
        for (size_t pos = q->head; pos != q->tail; pos++) {
            struct ts_span *rec = q->slots[pos & q->mask];
            if (rec && release_kind(q, rec) == TS_REP_RECORD_CLASSES)
                ts_block_put(q->adopted, rec);
        }
        munmap(q->slots, q->slots_bytes);
    }
    recycled_give_back(q);
    for (int k = 0; k < TS_REP_RECORD_CLASSES; k++) {
        ts_block_pool_destroy(&q->records[k]);
        pthread_mutex_destroy(&q->records[k].mu);
    }
    pthread_mutex_destroy(&q->mu);
    memset(q, 0, sizeof *q);
}

bool ts_rep_queue_lock(struct ts_rep_queue *q, const struct timespec *abs_realtime)
{
    if (!abs_realtime)
        return pthread_mutex_lock(&q->mu) == 0;
    return pthread_mutex_timedlock(&q->mu, abs_realtime) == 0;
}

void ts_rep_queue_unlock(struct ts_rep_queue *q)
{
    pthread_mutex_unlock(&q->mu);
}

/* ------------------------------------------------------------- records */

/* The bytes of the string buffer a span uses, clamped to the buffer. */
static size_t span_str_used(const struct ts_span *s)
{
    return s->str_used < TS_SPAN_STRBUF ? s->str_used : TS_SPAN_STRBUF;
}

/* The record class for s. A copy has the same str_used and nframes as its
 * original, so a record's own fields say which pool it came from. */
static int record_class(const struct ts_span *s)
{
    if (ts_span_nframes(s) > 0) /* frames[] is at the end of the struct */
        return TS_REP_RECORD_CLASSES - 1;
    size_t used = span_str_used(s);
    if (used <= TS_REP_RECORD_STR_SMALL)
        return 0;
    if (used <= TS_REP_RECORD_STR_MEDIUM)
        return 1;
    return TS_REP_RECORD_CLASSES - 1;
}

/* Copy the meaningful part of a span record: its fixed fields, the
 * attribute slots and string bytes in use (most spans use a fraction of
 * each, and this copy runs on the application's thread), and the stack's
 * frames when there is one. dst must have room for src's class. */
static void copy_span(struct ts_span *dst, const struct ts_span *src)
{
    memcpy(dst, src, offsetof(struct ts_span, attrs));
    memcpy(dst->attrs, src->attrs, ts_span_nattrs(src) * sizeof src->attrs[0]);
    memcpy(dst->str, src->str, span_str_used(src));
    size_t nframes = ts_span_nframes(src);
    if (nframes)
        memcpy(dst->frames, src->frames, nframes * sizeof src->frames[0]);
}

/* ------------------------------------------------------------ recycled */

_Static_assert((TS_REP_RECYCLE & (TS_REP_RECYCLE - 1)) == 0 && TS_REP_RECYCLE > 1,
               "a position's cell and lap are a mask away");

/* Put a block in r; false when r is full. */
static bool recycle_put(struct ts_rep_recycle *r, void *block)
{
    size_t pos = __atomic_load_n(&r->tail, __ATOMIC_RELAXED);
    for (;;) {
        struct ts_rep_recycle_cell *c = &r->cells[pos & (TS_REP_RECYCLE - 1)];
        size_t lap = pos & ~(size_t)(TS_REP_RECYCLE - 1);
        intptr_t dif = (intptr_t)(__atomic_load_n(&c->lap, __ATOMIC_ACQUIRE) - lap);
        if (dif == 0) { /* empty at this lap: claim the position */
            if (__atomic_compare_exchange_n(&r->tail, &pos, pos + 1, true, __ATOMIC_RELAXED,
                                            __ATOMIC_RELAXED)) {
                c->block = block;
                __atomic_store_n(&c->lap, lap + 1, __ATOMIC_RELEASE);
                return true;
            }
        } else if (dif < 0) { /* still holds the last lap's block: full */
            return false;
        } else { /* another producer took the position */
            size_t seen = pos;
            pos = __atomic_load_n(&r->tail, __ATOMIC_RELAXED);
            if (pos == seen) /* a cell ahead of its queue: see recycled_after_fork */
                return false;
        }
    }
}

/* Take a block from r; NULL when it has none. */
static void *recycle_get(struct ts_rep_recycle *r)
{
    size_t pos = __atomic_load_n(&r->head, __ATOMIC_RELAXED);
    for (;;) {
        struct ts_rep_recycle_cell *c = &r->cells[pos & (TS_REP_RECYCLE - 1)];
        size_t lap = pos & ~(size_t)(TS_REP_RECYCLE - 1);
        intptr_t dif = (intptr_t)(__atomic_load_n(&c->lap, __ATOMIC_ACQUIRE) - (lap + 1));
        if (dif == 0) { /* holds this lap's block: claim the position */
            if (__atomic_compare_exchange_n(&r->head, &pos, pos + 1, true, __ATOMIC_RELAXED,
                                            __ATOMIC_RELAXED)) {
                void *block = c->block;
                __atomic_store_n(&c->lap, lap + TS_REP_RECYCLE, __ATOMIC_RELEASE);
                return block; /* NULL only in a child forked mid-get */
            }
        } else if (dif < 0) { /* not filled yet at this lap: empty */
            return NULL;
        } else { /* another consumer took the position */
            size_t seen = pos;
            pos = __atomic_load_n(&r->head, __ATOMIC_RELAXED);
            if (pos == seen) /* a cell ahead of its queue: see recycled_after_fork */
                return NULL;
        }
    }
}

/* Where release_many sorts a record: its class, or after them the
 * adopted pool's whole blocks. */
#define RELEASE_KINDS (TS_REP_RECORD_CLASSES + 1)

static struct ts_rep_recycle *recycle_of(struct ts_rep_queue *q, int kind)
{
    return kind < TS_REP_RECORD_CLASSES ? &q->recycled[kind] : &q->adopted_free;
}

static struct ts_block_pool *pool_of(struct ts_rep_queue *q, int kind)
{
    return kind < TS_REP_RECORD_CLASSES ? &q->records[kind] : q->adopted;
}

/* A record's kind for release_many (a whole block's pool is the adopted
 * one: no other is ever handed over). */
static int release_kind(struct ts_rep_queue *q, const struct ts_span *rec)
{
    struct ts_block_pool *home = ts_block_home(rec);
    for (int k = 0; k < TS_REP_RECORD_CLASSES; k++)
        if (home == &q->records[k])
            return k;
    return TS_REP_RECORD_CLASSES;
}

/* Every recycled record and whole block back to its pool, and a forked
 * child's orphaned whole blocks. */
static void recycled_give_back(struct ts_rep_queue *q)
{
    for (int k = 0; k < RELEASE_KINDS; k++) {
        void *got[TS_REP_RECYCLE];
        size_t n = 0;
        while (n < TS_REP_RECYCLE && (got[n] = recycle_get(recycle_of(q, k))))
            n++;
        if (n)
            ts_block_put_many(pool_of(q, k), got, n);
    }
    void *orphan = __atomic_exchange_n(&q->orphans, NULL, __ATOMIC_ACQUIRE);
    while (orphan) {
        void *next;
        memcpy(&next, orphan, sizeof next);
        ts_block_put_many(q->adopted, &orphan, 1);
        orphan = next;
    }
}

/* In a forked child (the only thread): a whole block for the next trim to
 * give back to the adopted pool, whose lock may still be held as the
 * parent's prepare left it. */
static void orphan_push(struct ts_rep_queue *q, void *block)
{
    memcpy(block, &q->orphans, sizeof q->orphans);
    q->orphans = block;
}

/* In a forked child: the blocks the cells hold go back to their pools,
 * and the queues start again empty. A cell whose block a get had claimed
 * (its position before head) and not yet marked taken keeps it: that get
 * was another thread of the parent's, gone in the child (the block is
 * lost, one block), or this thread's own, interrupted by a signal handler
 * that forked: it then goes on in the child, takes that block and marks
 * the cell a lap ahead of the emptied queue, where puts and gets give up
 * (recycle_put, recycle_get) rather than wait for a turn that never comes:
 * that child recycles no more records of the class, and takes them from
 * their pool instead. A put halfway through is lost the same way. */
TS_FORK_HANDLER static void recycled_after_fork(struct ts_rep_queue *q)
{
    for (int k = 0; k < RELEASE_KINDS; k++) {
        struct ts_rep_recycle *r = recycle_of(q, k);
        for (size_t i = 0; i < TS_REP_RECYCLE; i++) {
            size_t lap = r->cells[i].lap;
            size_t pos = (lap & ~(size_t)(TS_REP_RECYCLE - 1)) + i;
            if ((lap & (TS_REP_RECYCLE - 1)) == 1 && pos >= r->head) {
                if (k < TS_REP_RECORD_CLASSES)
                    ts_block_put_many(pool_of(q, k), &r->cells[i].block, 1);
                else
                    orphan_push(q, r->cells[i].block);
                /* A get of this thread's own, interrupted before its claim
                 * and going on in the child, may still claim the cell: it
                 * then finds no block (recycle_get returns NULL). */
                r->cells[i].block = NULL;
            }
            r->cells[i].lap = 0;
        }
        r->head = r->tail = 0;
    }
}

/* --------------------------------------------------------- making them */

struct ts_span *ts_rep_queue_record(struct ts_rep_queue *q, const struct ts_span *s)
{
    int k = record_class(s);
    struct ts_span *rec = recycle_get(&q->recycled[k]);
    if (!rec)
        rec = ts_block_get(&q->records[k]);
    if (rec)
        copy_span(rec, s);
    return rec;
}

/* Give a record, or a whole block, back to its pool. */
static void record_put(struct ts_rep_queue *q, struct ts_span *rec)
{
    (void)q;
    ts_block_put(ts_block_home(rec), rec);
}

bool ts_rep_queue_adopt(struct ts_rep_queue *q, struct ts_block_pool *pool)
{
    struct ts_block_pool *adopted = __atomic_load_n(&q->adopted, __ATOMIC_ACQUIRE);
    if (adopted)
        return adopted == pool;
    if (pool->size > TS_BLOCK_HOME_MAX)
        return false;
    if (__atomic_compare_exchange_n(&q->adopted, &adopted, pool, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE))
        return true;
    return adopted == pool;
}

void *ts_rep_queue_reuse(struct ts_rep_queue *q, const struct ts_block_pool *pool)
{
    if (__atomic_load_n(&q->adopted, __ATOMIC_ACQUIRE) != pool)
        return NULL;
    return recycle_get(&q->adopted_free);
}


/* ---------------------------------------------------------------- ring */

/* Spans queued: positions claimed and not yet taken. head is read first:
 * it never passes tail, so the difference cannot wrap. */
static size_t ring_depth(const struct ts_rep_queue *q)
{
    size_t head = __atomic_load_n(&q->head, __ATOMIC_SEQ_CST);
    return __atomic_load_n(&q->tail, __ATOMIC_SEQ_CST) - head;
}

static size_t push_dropped(struct ts_rep_queue *q, struct ts_span *rec)
{
    if (rec)
        record_put(q, rec);
    ts_rep_queue_count_drop(q, 1);
    return 0;
}

size_t ts_rep_queue_push_record(struct ts_rep_queue *q, struct ts_span *rec)
{
    struct ts_span **slots = __atomic_load_n(&q->slots, __ATOMIC_ACQUIRE);
    if (!rec || !slots)
        return push_dropped(q, rec);
    size_t head, tail;
    for (;;) {
        /* head before tail (an acquire load: the other cannot move before
         * it), so that tail - head never wraps. */
        head = __atomic_load_n(&q->head, __ATOMIC_ACQUIRE);
        tail = __atomic_load_n(&q->tail, __ATOMIC_RELAXED);
        if (tail - head >= q->cap) {
            /* Full, unless the consumer has taken some since head was
             * read (tail only grows: with head unchanged the queue was
             * full when it was read again). */
            if (__atomic_load_n(&q->head, __ATOMIC_ACQUIRE) == head)
                return push_dropped(q, rec);
            continue;
        }
        /* Sequentially consistent: ordered before the doorbell
         * load in ts_rep_queue_wake, against the consumer's store of it
         * and its count that follows (a sleeping consumer is always seen,
         * or it sees this span). */
        if (__atomic_compare_exchange_n(&q->tail, &tail, tail + 1, false, __ATOMIC_SEQ_CST,
                                        __ATOMIC_RELAXED))
            break;
    }
    /* The place is ours: the slot's last record was taken (and the slot
     * cleared) before head passed it, and head >= tail - cap + 1 with
     * cap <= mask + 1 — unless head passed it unpublished and its producer
     * published late: this store then overwrites that record, which is
     * lost (ring_pass_unpublished). The release store publishes the
     * record's bytes. */
    __atomic_store_n(&slots[tail & q->mask], rec, __ATOMIC_RELEASE);
    return tail + 1 - head;
}

bool ts_rep_queue_push(struct ts_rep_queue *q, const struct ts_span *s)
{
    /* Without storage nothing is copied: the span is dropped anyway. */
    struct ts_span *rec = ts_rep_queue_ready(q) ? ts_rep_queue_record(q, s) : NULL;
    return ts_rep_queue_push_record(q, rec) > 0;
}

/* Only the caller that turns the doorbell from 1 to 0 makes the system
 * call; the others, ringing while the woken consumer is not running yet,
 * see 0. */
static void ring_doorbell(struct ts_rep_queue *q)
{
    if (!__atomic_exchange_n(&q->doorbell, 0, __ATOMIC_SEQ_CST))
        return;
    /* (not once the program installed a seccomp filter: without rseq and
     * the vDSO, sched_getcpu is a system call) */
    if (__atomic_load_n(&q->note_ringer, __ATOMIC_RELAXED) && !ts_sandbox_filter_seen())
        __atomic_store_n(&q->ringer_cpu, sched_getcpu(), __ATOMIC_RELAXED);
    (void)TS_REAL(syscall)(SYS_futex, &q->doorbell, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

void ts_rep_queue_wake(struct ts_rep_queue *q)
{
    /* A load first: while the consumer is awake (nearly always, under
     * load) the doorbell's line stays shared, not written by every push. */
    if (__atomic_load_n(&q->doorbell, __ATOMIC_SEQ_CST))
        ring_doorbell(q);
}

bool ts_rep_queue_wait(struct ts_rep_queue *q, size_t want, const struct timespec *until)
{
    bool in_time = true;
    for (;;) {
        /* The doorbell before the count (both sequentially consistent, as
         * the producers' claim and their load of the doorbell): a producer
         * whose span is not counted here sees 1 and rings. A ring between
         * this store and the sleep leaves 0, and FUTEX_WAIT returns at
         * once, expecting 1. */
        __atomic_store_n(&q->doorbell, 1, __ATOMIC_SEQ_CST);
        if (ring_depth(q) >= want || __atomic_load_n(&q->nudged, __ATOMIC_SEQ_CST))
            break;
        /* FUTEX_WAIT_BITSET: an absolute CLOCK_MONOTONIC deadline. */
        long rc = TS_REAL(syscall)(SYS_futex, &q->doorbell, FUTEX_WAIT_BITSET_PRIVATE, 1, until,
                                   NULL, FUTEX_BITSET_MATCH_ANY);
        if (rc != 0 && errno == ETIMEDOUT) {
            in_time = false;
            break;
        }
        /* Rung, EAGAIN (rung before the sleep) or EINTR: count again. */
    }
    __atomic_store_n(&q->doorbell, 0, __ATOMIC_RELAXED);
    return in_time;
}

void ts_rep_queue_nudge(struct ts_rep_queue *q)
{
    /* The flag before the doorbell, as a producer's claim before its load:
     * a consumer that stored the doorbell before this sees the flag. */
    __atomic_store_n(&q->nudged, 1, __ATOMIC_SEQ_CST);
    ring_doorbell(q);
}

void ts_rep_queue_note_ringers(struct ts_rep_queue *q, bool on)
{
    __atomic_store_n(&q->ringer_cpu, -1, __ATOMIC_RELAXED);
    __atomic_store_n(&q->note_ringer, on, __ATOMIC_RELAXED);
}

int ts_rep_queue_take_ringer(struct ts_rep_queue *q)
{
    /* a load first: the line is the doorbell's, written only by a ring */
    if (__atomic_load_n(&q->ringer_cpu, __ATOMIC_RELAXED) < 0)
        return -1;
    return __atomic_exchange_n(&q->ringer_cpu, -1, __ATOMIC_RELAXED);
}

bool ts_rep_queue_take_nudge(struct ts_rep_queue *q)
{
    return __atomic_load_n(&q->nudged, __ATOMIC_RELAXED) &&
           __atomic_exchange_n(&q->nudged, 0, __ATOMIC_SEQ_CST);
}

/* The place at *head is claimed and its record not published: pass it
 * (true, *head moved on, counted in q->passed) once it has stood
 * so for q->skip_unpublished_ms, as one whose producer left the push. Should
 * the producer publish after all, its record lands in a slot the ring has
 * moved past, where a later take finds it in place of the record of the
 * slot's next place, or that place's producer overwrites it: either way
 * one record block is never given back, and none is taken twice (a take
 * clears the slot it read). */
static bool ring_pass_unpublished(struct ts_rep_queue *q, size_t *head)
{
    uint64_t now = ts_mono_ms();
    if (q->unpublished_at != *head + 1) {
        q->unpublished_at = *head + 1;
        q->unpublished_since_ms = now;
    }
    if (now - q->unpublished_since_ms < q->skip_unpublished_ms)
        return false;
    q->unpublished_at = 0;
    ++*head;
    q->passed++;
    return true;
}

/* Take the oldest published record, NULL when there is none (mutex held:
 * the only consumer). Moves head past it. tail is the producers' as read
 * once by the caller: a slot at or past it is never read (nothing there
 * is queued, whatever the slot holds). */
static struct ts_span *ring_take(struct ts_rep_queue *q, size_t *head, size_t tail)
{
    while (*head != tail) {
        struct ts_span **slot = &q->slots[*head & q->mask];
        struct ts_span *rec = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
        if (rec) {
            __atomic_store_n(slot, NULL, __ATOMIC_RELAXED);
            ++*head;
            return rec;
        }
        /* Claimed and not yet published: it comes next time, unless its
         * producer is gone. */
        if (!ring_pass_unpublished(q, head))
            return NULL;
    }
    return NULL;
}

size_t ts_rep_queue_pop_locked(struct ts_rep_queue *q, struct ts_span *out, size_t max)
{
    if (!ts_rep_queue_ready(q))
        return 0;
    size_t head = __atomic_load_n(&q->head, __ATOMIC_RELAXED);
    size_t tail = __atomic_load_n(&q->tail, __ATOMIC_ACQUIRE);
    size_t n = 0;
    struct ts_span *rec;
    while (n < max && (rec = ring_take(q, &head, tail))) {
        copy_span(&out[n++], rec);
        record_put(q, rec);
    }
    /* Release: the slots cleared above are free to the producers that
     * see the new head. */
    __atomic_store_n(&q->head, head, __ATOMIC_RELEASE);
    return n;
}

size_t ts_rep_queue_take_locked(struct ts_rep_queue *q, struct ts_span **recs, size_t max)
{
    if (!ts_rep_queue_ready(q))
        return 0;
    size_t head = __atomic_load_n(&q->head, __ATOMIC_RELAXED);
    size_t tail = __atomic_load_n(&q->tail, __ATOMIC_ACQUIRE);
    size_t n = 0;
    struct ts_span *rec;
    while (n < max && (rec = ring_take(q, &head, tail)))
        recs[n++] = rec;
    __atomic_store_n(&q->head, head, __ATOMIC_RELEASE);
    return n;
}

void ts_rep_queue_read(struct ts_span *out, const struct ts_span *rec)
{
    copy_span(out, rec);
}

void ts_rep_queue_release(struct ts_rep_queue *q, struct ts_span *rec)
{
    if (rec)
        record_put(q, rec);
}

void ts_rep_queue_release_many(struct ts_rep_queue *q, struct ts_span *const *recs, size_t n)
{
    enum { SORTED_MAX = 64 };
    while (n > 0) {
        size_t m = n < SORTED_MAX ? n : SORTED_MAX;
        void *sorted[RELEASE_KINDS][SORTED_MAX];
        size_t count[RELEASE_KINDS] = {0};
        for (size_t i = 0; i < m; i++) {
            if (recs[i]) {
                int k = release_kind(q, recs[i]);
                if (!recycle_put(recycle_of(q, k), recs[i]))
                    sorted[k][count[k]++] = recs[i];
            }
        }
        for (int k = 0; k < RELEASE_KINDS; k++)
            if (count[k])
                ts_block_put_many(pool_of(q, k), sorted[k], count[k]);
        recs += m;
        n -= m;
    }
}

bool ts_rep_queue_readable_in_place(const struct ts_span *rec)
{
    /* The encoders read strings through ts_span_bytes, which keeps to the
     * str_used bytes the record holds (its class was chosen by them). */
    return ts_span_nframes(rec) == 0 && rec->sampler_tag == TS_SAMPLER_TAG_NONE;
}

size_t ts_rep_queue_pop(struct ts_rep_queue *q, struct ts_span *out, size_t max)
{
    pthread_mutex_lock(&q->mu);
    size_t n = ts_rep_queue_pop_locked(q, out, max);
    pthread_mutex_unlock(&q->mu);
    return n;
}

size_t ts_rep_queue_count(struct ts_rep_queue *q)
{
    return ring_depth(q);
}

uint64_t ts_rep_queue_take_passed(struct ts_rep_queue *q)
{
    uint64_t n = q->passed;
    q->passed = 0;
    return n;
}

uint64_t ts_rep_queue_dropped(const struct ts_rep_queue *q)
{
    return __atomic_load_n(&q->dropped, __ATOMIC_RELAXED);
}

void ts_rep_queue_count_drop(struct ts_rep_queue *q, uint64_t n)
{
    __atomic_fetch_add(&q->dropped, n, __ATOMIC_RELAXED);
}

size_t ts_rep_queue_records_carved(struct ts_rep_queue *q)
{
    size_t n = 0;
    for (int k = 0; k < TS_REP_RECORD_CLASSES; k++)
        n += ts_block_pool_carved(&q->records[k]);
    return n;
}

size_t ts_rep_queue_records_bytes(struct ts_rep_queue *q)
{
    size_t bytes = 0;
    for (int k = 0; k < TS_REP_RECORD_CLASSES; k++)
        bytes += ts_block_pool_carved(&q->records[k]) * q->records[k].size;
    return bytes;
}

void ts_rep_queue_trim(struct ts_rep_queue *q, unsigned older_than_ms)
{
    recycled_give_back(q);
    for (int k = 0; k < TS_REP_RECORD_CLASSES; k++)
        ts_block_pool_trim(&q->records[k], older_than_ms);
}

/* ---------------------------------------------------------------- fork */

TS_FORK_HANDLER void ts_rep_queue_fork_prepare(struct ts_rep_queue *q)
{
    pthread_mutex_lock(&q->mu);
    for (int k = 0; k < TS_REP_RECORD_CLASSES; k++)
        pthread_mutex_lock(&q->records[k].mu);
}

TS_FORK_HANDLER void ts_rep_queue_fork_parent(struct ts_rep_queue *q)
{
    for (int k = TS_REP_RECORD_CLASSES - 1; k >= 0; k--)
        pthread_mutex_unlock(&q->records[k].mu);
    pthread_mutex_unlock(&q->mu);
}

TS_FORK_HANDLER void ts_rep_queue_after_fork(struct ts_rep_queue *q)
{
    pthread_mutex_init(&q->mu, NULL);
    for (int k = 0; k < TS_REP_RECORD_CLASSES; k++)
        ts_block_pool_after_fork(&q->records[k]);
    recycled_after_fork(q);
    /* The parent exports these spans; in the child their records are
     * simply free blocks again (the child's copies of them). A place
     * claimed and not published holds no record: that one is lost. */
    if (q->slots) {
        for (size_t pos = q->head; pos != q->tail; pos++) {
            struct ts_span **slot = &q->slots[pos & q->mask];
            if (*slot && release_kind(q, *slot) < TS_REP_RECORD_CLASSES)
                record_put(q, *slot);
            else if (*slot)
                orphan_push(q, *slot);
            *slot = NULL;
        }
    }
    q->head = q->tail = 0;
    q->unpublished_at = 0;
    q->passed = 0;
    q->doorbell = 0;
    q->nudged = 0;
    __atomic_store_n(&q->dropped, 0, __ATOMIC_RELAXED);
}
