/* queue.h — the bounded queue of finished spans between the program's
 * threads and the reporter. A push takes no lock: a span's record is
 * copied first, then one compare-and-swap claims a place in the ring and
 * a store publishes the record (the mutex and the two pointer moves under
 * it were most of what a program's thread paid to hand a span over). A
 * full queue drops the span and counts it. The consumer (the reporter
 * thread, or a flush) takes records under the mutex, which also keeps
 * consumers one at a time. The reporter sleeps on a futex word, the
 * doorbell, until a chunk is queued: a producer rings it with one system
 * call only when the reporter really sleeps, and only the first producer
 * to see it asleep does (a condvar signal under the mutex cost a program's
 * thread two system calls, the second because the woken reporter ran into
 * the mutex the producer still held, and every push until the reporter ran
 * signalled again; nor can a signal handler take a mutex).
 *
 * Memory: only queued spans take any. The ring itself holds pointers (8
 * bytes a slot, cap rounded up to a power of two, mapped when the first
 * span comes, its pages touched as the queue grows); each span is copied
 * into a record from a block pool
 * (preload/blocks.h: mmap, no malloc, as a push may run in a signal
 * handler), sized to what the span uses: most spans fill a few hundred of
 * the TS_SPAN_STRBUF string bytes, so there are three record sizes, and
 * only a span with a call stack needs a whole struct ts_span. A popped
 * span's record goes back to its pool at once; the reporter gives back
 * those of a chunk of spans together, once they are encoded. Blocks are never returned
 * to the system: what stays resident is the queue's peak depth (at most
 * cap records, and one more for each thread pushing into a full queue at
 * that moment: the record is made before a place is claimed), not cap
 * full records from the start. */
#ifndef TS_QUEUE_H
#define TS_QUEUE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "../preload/blocks.h"
#include "../preload/span.h"

/* Record sizes: a span record up to its string buffer plus this many of
 * its bytes; the last class is the whole struct ts_span (long strings, or
 * a call stack in frames[]). */
#define TS_REP_RECORD_CLASSES 3
#define TS_REP_RECORD_STR_SMALL 256
#define TS_REP_RECORD_STR_MEDIUM 640
#define TS_REP_RECORD_BYTES(str_bytes) (offsetof(struct ts_span, str) + (str_bytes))

/* Records the reporter has given back, waiting to be made again: a bounded
 * queue (Vyukov's, many producers and many consumers, one
 * compare-and-swap each way) per record class. Records are made on the
 * program's threads and given back on the reporter's, so a thread's own
 * block cache never has one; from the pool, each took its lock and its
 * chunk bookkeeping (some 95 instructions a span, the most of anything
 * in the hand-over after the copy). A record here is still in use to its
 * pool: at most TS_REP_RECYCLE of each class wait (the rest go back to
 * the pool), and an idle trim gives them all back. */
#define TS_REP_RECYCLE 64

struct ts_rep_recycle_cell {
    size_t lap; /* atomic: which turn of the queue the cell is at: its
                   positions' multiple of TS_REP_RECYCLE when empty, that
                   + 1 when it holds a block (zero-initialised: empty, lap 0) */
    void *block;
};

struct ts_rep_recycle {
    _Alignas(64) size_t head; /* atomic: the next position to take (program threads) */
    _Alignas(64) size_t tail; /* atomic: the next position to fill (the reporter) */
    struct ts_rep_recycle_cell cells[TS_REP_RECYCLE];
};

struct ts_rep_queue {
    pthread_mutex_t mu;     /* held by a consumer (one at a time) */
    struct ts_span **slots; /* the ring of records, NULL where none is published; the
                               ring itself NULL until storage is reserved (atomic) */
    size_t slots_bytes;     /* the length of its mapping */
    size_t cap;             /* spans it holds at most */
    size_t mask;            /* slots in the ring - 1 (a power of two, at least cap) */
    size_t head;            /* atomic: the oldest span's position (the consumer moves it) */
    uint32_t doorbell;      /* atomic futex word: 1 while the consumer sleeps (or is about to) */
    uint32_t nudged;        /* atomic: the consumer is wanted for something else (a flush) */
    uint32_t note_ringer;   /* atomic: a ring notes its processor (ts_rep_queue_note_ringers) */
    int ringer_cpu;         /* atomic: the processor that rang last, -1 once taken */
    uint64_t dropped;       /* atomic */
    /* Where records come from, smallest first; each has its own lock. */
    struct ts_block_pool records[TS_REP_RECORD_CLASSES];
    /* Records given back by ts_rep_queue_release_many, taken first. */
    struct ts_rep_recycle recycled[TS_REP_RECORD_CLASSES];
    /* The pool whose whole blocks q also queues (ts_rep_queue_adopt; atomic,
     * set once), and those blocks given back, for ts_rep_queue_reuse. */
    struct ts_block_pool *adopted;
    struct ts_rep_recycle adopted_free;
    /* atomic: in a forked child, whole blocks to give back to the adopted
     * pool at the next trim (linked through their first word): its lock
     * may still be the parent's when the queue's fork handler runs. */
    void *orphans;
    /* A place claimed and never published (its producer left the push
     * between the two: a siglongjmp out of a signal handler, an
     * asynchronous cancellation) would hold every span after it back for
     * good. The consumer notes the unpublished place at the head (its
     * position + 1; 0: none) and when it first found it so, and passes it
     * once it has stayed so for skip_unpublished_ms (consumer's, under
     * mu; the field may be set before the queue's first use). */
    size_t unpublished_at;
    uint64_t unpublished_since_ms;
    unsigned skip_unpublished_ms;
    uint64_t passed; /* places passed so (ts_rep_queue_take_passed) */
    /* atomic: the next free position, claimed by producers with a
     * compare-and-swap. Positions only grow; a span at position i is in
     * slots[i & mask]. On a line of its own: every push writes it. */
    _Alignas(64) size_t tail;
};

/* How long an unpublished place may hold the consumer back before it is
 * passed (its span lost: ts_rep_queue_take_passed counts it). A producer's claim and its
 * publication are a few instructions apart: only a thread taken off the
 * processor between them for this long is mistaken for one that left
 * (its span is then lost; see ring_take in queue.c). */
#define TS_REP_SKIP_UNPUBLISHED_MS 1000

/* Static initialiser: no storage yet (see ts_rep_queue_reserve). */
#define TS_REP_QUEUE_INITIALIZER                                                                   \
    {                                                                                              \
        .mu = PTHREAD_MUTEX_INITIALIZER, .skip_unpublished_ms = TS_REP_SKIP_UNPUBLISHED_MS,        \
        .ringer_cpu = -1,                                                                          \
        .records = {                                                                               \
            TS_BLOCK_POOL_INIT(TS_REP_RECORD_BYTES(TS_REP_RECORD_STR_SMALL)),                      \
            TS_BLOCK_POOL_INIT(TS_REP_RECORD_BYTES(TS_REP_RECORD_STR_MEDIUM)),                     \
            TS_BLOCK_POOL_INIT(sizeof(struct ts_span)),                                            \
        },                                                                                         \
    }

/* Initialise q and give it room for cap spans (cap 0 means 1). Returns
 * false when out of memory (q is then usable but drops every push). */
bool ts_rep_queue_init(struct ts_rep_queue *q, size_t cap);

/* Give q room for cap spans if it has none yet; thread-safe, maps the ring
 * outside the mutex (mmap: safe in a signal handler). True when q has
 * storage afterwards. */
bool ts_rep_queue_reserve(struct ts_rep_queue *q, size_t cap);

/* Does q have storage? A hint, without the mutex. */
bool ts_rep_queue_ready(const struct ts_rep_queue *q);

/* Unmap the ring and every record block (whole blocks go back to their
 * pool), destroy the mutex. Nothing may use q any more. */
void ts_rep_queue_destroy(struct ts_rep_queue *q);

/* Lock the mutex, giving up at abs_realtime (NULL: wait as long as it
 * takes). True when locked. Consumers hold it; producers never need it. */
bool ts_rep_queue_lock(struct ts_rep_queue *q, const struct timespec *abs_realtime);
void ts_rep_queue_unlock(struct ts_rep_queue *q);

/* A record holding a copy of s (only the used part of its string buffer,
 * and its stack when it has one), from q's pools: the copy is done before
 * the span is queued. NULL when out of memory. */
struct ts_span *ts_rep_queue_record(struct ts_rep_queue *q, const struct ts_span *s);

/* Queue a record from ts_rep_queue_record, without a lock; q owns it from
 * now on. Returns the number of spans queued with it (at least 1), or 0
 * when the queue is full, has no storage or rec is NULL: the span is then
 * dropped and counted (and its record given back). Safe from any number
 * of threads at once and in a signal handler. */
size_t ts_rep_queue_push_record(struct ts_rep_queue *q, struct ts_span *rec);

/* Whole blocks instead of copies. A span made in a block of a pool (at
 * the block's start) can be queued as it is, the block handed over with
 * it, rather than copied into a record: ts_rep_queue_push_record takes the
 * block and, once it is encoded, the reporter gives it back to q, where
 * the pool's next get takes it from (ts_rep_queue_reuse). The copy and the
 * record's get and the put of the block were most of a hand-over's cost.
 * Whole blocks are larger than records (all of a span's string buffer and
 * stack): the caller hands one over only while the queue is short (the
 * reporter: less than a chunk of spans queued), so that a backlog is made
 * of records. One pool is adopted per queue: the first one asked, if its
 * blocks are at most TS_BLOCK_HOME_MAX bytes; for any other pool this is
 * false. */
bool ts_rep_queue_adopt(struct ts_rep_queue *q, struct ts_block_pool *pool);

/* A block of pool that q was handed whole and has given back, or NULL
 * (none waiting, or pool not adopted). Lock-free. */
void *ts_rep_queue_reuse(struct ts_rep_queue *q, const struct ts_block_pool *pool);

/* Copy s in and queue it: ts_rep_queue_record, then the above. False when
 * dropped. */
bool ts_rep_queue_push(struct ts_rep_queue *q, const struct ts_span *s);

/* Wake the consumer if it sleeps in ts_rep_queue_wait (a producer that has
 * queued enough for it). No lock, at most one system call, and only by the
 * first caller to find the consumer asleep: safe in a signal handler. */
void ts_rep_queue_wake(struct ts_rep_queue *q);

/* Sleep (mutex not held) until at least `want` spans are queued and a
 * producer wakes the consumer, until the consumer is nudged, or until the
 * CLOCK_MONOTONIC deadline. False when the deadline passed first. A
 * producer that queues the want-th span must call ts_rep_queue_wake. One
 * consumer sleeps at a time. */
bool ts_rep_queue_wait(struct ts_rep_queue *q, size_t want, const struct timespec *until);

/* Wake the consumer whatever the queue holds, now or at its next wait
 * (ts_rep_queue_take_nudge tells it why). Lock-free, as ts_rep_queue_wake. */
void ts_rep_queue_nudge(struct ts_rep_queue *q);

/* For the consumer: true once per nudge. */
bool ts_rep_queue_take_nudge(struct ts_rep_queue *q);

/* For the consumer: from now on (on: true) each ring notes the processor
 * its producer runs on (sched_getcpu, no system call with rseq or the
 * vDSO: a ring makes one anyway); ts_rep_queue_take_ringer gives it once,
 * then -1 until the next ring. For where the consumer runs
 * (reporter/placement.h). */
void ts_rep_queue_note_ringers(struct ts_rep_queue *q, bool on);
int ts_rep_queue_take_ringer(struct ts_rep_queue *q);

/* Move up to max of the oldest spans into out[0..) (mutex held); returns
 * how many. Their records go back to the pools. Only the used part of a
 * record is copied: out's string buffer past str_used and its frames past
 * nframes keep whatever they held. (The reporter takes records instead,
 * ts_rep_queue_take_locked, and copies only those it cannot encode where
 * they are: ts_rep_queue_readable_in_place.) */
size_t ts_rep_queue_pop_locked(struct ts_rep_queue *q, struct ts_span *out, size_t max);

/* Move up to max of the oldest records into recs[0..) (mutex held);
 * returns how many. The caller owns them: it reads each (for instance with
 * ts_rep_queue_read, outside the mutex) and gives it back with
 * ts_rep_queue_release. A record whose producer has claimed its place but
 * not yet published it ends the take (it comes next time), unless it has
 * stood unpublished for q->skip_unpublished_ms: that place is then passed
 * (ts_rep_queue_take_passed). A record is
 * only as long as its class: read it no further than str_used and
 * nframes say. */
size_t ts_rep_queue_take_locked(struct ts_rep_queue *q, struct ts_span **recs, size_t max);

/* Copy a record's used part into a whole span (as pop does). */
void ts_rep_queue_read(struct ts_span *out, const struct ts_span *rec);

/* Give a record from ts_rep_queue_take_locked back; no mutex needed. */
void ts_rep_queue_release(struct ts_rep_queue *q, struct ts_span *rec);

/* The same for n records (NULL entries skipped): the reporter's, once a
 * chunk of spans is encoded. They wait in q->recycled (whole blocks in
 * q->adopted_free) for the next spans, as many as there is room for; the
 * rest go back to their pools, one pool lock per pool rather than one per
 * record. */
void ts_rep_queue_release_many(struct ts_rep_queue *q, struct ts_span *const *recs, size_t n);

/* Can rec be encoded where it is, as a whole span? Encoders read its
 * fixed fields and, through ts_span_bytes, only the string bytes it holds.
 * True unless it has a call stack or Jaeger sampler tags to come
 * (attributes are then added to the span: copy it into a whole span with
 * ts_rep_queue_read first). */
bool ts_rep_queue_readable_in_place(const struct ts_span *rec);

/* pop_locked, taking and releasing the mutex. */
size_t ts_rep_queue_pop(struct ts_rep_queue *q, struct ts_span *out, size_t max);

/* Spans currently queued, counting those whose place is claimed and
 * not yet published (a snapshot, without a lock). */
size_t ts_rep_queue_count(struct ts_rep_queue *q);

/* For the consumer (mutex held): how many places its takes passed,
 * claimed and never published, since it last asked. Their spans are lost:
 * the caller counts them as dropped. */
uint64_t ts_rep_queue_take_passed(struct ts_rep_queue *q);

/* Spans dropped because the queue was full (or had no storage, or no
 * memory for a record). */
uint64_t ts_rep_queue_dropped(const struct ts_rep_queue *q);
void ts_rep_queue_count_drop(struct ts_rep_queue *q, uint64_t n);

/* Record blocks q has taken from the system, counted and in bytes: the
 * high-water mark of the records it had in use at once (what stays
 * resident once touched). */
size_t ts_rep_queue_records_carved(struct ts_rep_queue *q);
size_t ts_rep_queue_records_bytes(struct ts_rep_queue *q);

/* Give the recycled records and whole blocks back to their pools, then the
 * record chunks that have been empty for older_than_ms
 * (ts_block_pool_trim on each record pool): for the reporter thread when
 * it finds nothing to do. */
void ts_rep_queue_trim(struct ts_rep_queue *q, unsigned older_than_ms);

/* Fork: prepare takes the mutex (no consumer is halfway through a take)
 * and the pools' locks, so the child finds the pools consistent; parent
 * releases them. Producers may still be pushing: see after_fork. */
void ts_rep_queue_fork_prepare(struct ts_rep_queue *q);
void ts_rep_queue_fork_parent(struct ts_rep_queue *q);

/* In a forked child: fresh mutex, doorbell and pool locks (whatever state the
 * parent's threads left them in), queue emptied (the parent exports those
 * spans) with the records of those spans given back to the pools, drop
 * counter zeroed; the storage is kept. A record another thread of the
 * parent was filling, or had claimed a place for and not yet published, at
 * the fork is lost to the child (one block per such thread), never given
 * back twice. Whole blocks go back to their pool at the child's first trim
 * (the pool's own fork handler may not have run yet). */
void ts_rep_queue_after_fork(struct ts_rep_queue *q);

#endif
