/* reporter.c — the span queue, the reporter thread and the choice of
 * exporter (see reporter.h).
 *
 * Two locks:
 *  - the queue mutex (rep_q.mu) guards rep_thread_* and keeps the ring's
 *    consumers one at a time; the application's threads push without it
 *    (reporter/queue.h) and take it only to start the reporter thread;
 *  - the export mutex guards everything used while exporting (the chunk
 *    array, the line buffer, the file exporter). Spans are popped only
 *    with it held, so once a flush owns it no other export is in flight
 *    and nothing popped earlier can still be unwritten.
 * Order: export mutex, then queue mutex. */
#include "reporter.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../preload/blocks.h"
#include "../preload/clock.h"
#include "../preload/config.h"
#include "../preload/direct.h"
#include "../preload/fd_split.h"
#include "../preload/fork_state.h"
#include "../preload/guard.h"
#include "../preload/log.h"
#include "../preload/process.h"
#include "../preload/real.h"
#include "../preload/sandbox.h"
#include "../preload/start_state.h"
#include "../preload/stats.h"
#include "exporters.h"
#include "file_exporter.h"
#include "handover.h"
#include "json_buf.h"
#include "otlp_metrics.h"
#include "own_fd.h"
#include "placement.h"
#include "program_stderr.h"
#include "queue.h"
#include "sampler_tags.h"
#include "sampling_poller.h"
#include "symbolize.h"

#define REP_DEFAULT_QUEUE 2048
#define REP_DEFAULT_BATCH 512
#define REP_DEFAULT_DELAY_MS 5000
/* Spans are taken from the queue in chunks of this many: pointers to their
 * records, moved under the queue mutex; the records are encoded after it
 * is released and go back to their pools together (a lock per record
 * class, not per record). It is also how many queued spans wake the
 * reporter thread: spans are encoded a chunk at a time as they come, into
 * the batch that is sent when it is full or old enough, so the thread's
 * work comes in slices of about a hundred microseconds rather than a whole
 * batch's millisecond (which a request that waited behind it paid in
 * latency), and the records of a chunk go back soon. */
#define REP_CHUNK 64
#define REP_THREAD_STACK ((size_t)512 << 10)
/* A span's whole block is queued, rather than a copy, only while fewer
 * spans than this are queued: what the queue holds past a chunk is
 * records sized to their spans (a block is 2.2 KiB, a record 800 bytes for
 * most spans), so a backlog of 2048 spans still takes what it did. */
#define REP_WHOLE_BLOCKS_UNDER REP_CHUNK
/* ts_rep_prepare_for_handlers waits at most this long, once per process,
 * for the thread to prepare the exporters. */
#define REP_READY_WAIT_MS 250u

static struct ts_rep_queue rep_q TS_FORK_STATE = TS_REP_QUEUE_INITIALIZER;

/* Under rep_q.mu (ts_rep_thread_started is also read without it, atomically,
 * as a hint). */
bool ts_rep_thread_started TS_FORK_STATE;
/* This thread began a span to be exported with no reporter thread
 * running: ts_rep_ask_for_thread. */
__thread bool ts_rep_thread_asked __attribute__((tls_model("initial-exec")));
/* Between the claim of the start (ts_rep_thread_started) and the thread's
 * creation or its failure (atomic): a limit on new threads must not come
 * in between (ts_rep_before_limiting_threads). */
static bool rep_thread_creating TS_FORK_STATE;
/* The reporter thread has tried to open the span file (atomic): a call
 * that gives up access waits for that, at most REP_FILE_WAIT_MS
 * (ts_rep_before_giving_up_access). */
static uint32_t rep_file_tried TS_FORK_STATE; /* 0, then 1: a futex word */
#define REP_FILE_WAIT_MS 20
static uint64_t rep_thread_retry_ms TS_FORK_STATE; /* after a failed start: not before */

/* Atomic, all three (ts_rep_prepare_for_handlers): the program has a
 * signal handler, so the exporters are to be prepared (kept across a
 * fork: so are the handlers); the reporter thread has prepared them (not
 * kept: the child's resource is its own); a program's thread has waited
 * for that once (not kept: the child may wait once more). */
static bool rep_prepare_wanted;
/* The shim's own handler may hand the thread a flush (a normal context
 * set it, at start-up): the thread prepares as for the program's, but
 * no program's thread waits for that (atomic). */
static bool rep_prepare_unwaited TS_START_STATE;
static bool rep_prepared TS_FORK_STATE;
static bool rep_prepare_waited TS_FORK_STATE;

static bool rep_remote_sampling; /* fixed at init: the sampler polls a strategy */

static pthread_mutex_t rep_export_mu TS_FORK_STATE = PTHREAD_MUTEX_INITIALIZER;
/* Under rep_export_mu: the records taken from the queue and not yet given
 * back (all of a chunk go back together once it is encoded), and the
 * whole span a record is copied into when it cannot be encoded where it
 * is (stack symbols are added to a span with a stack, and a record is
 * only as long as what its span uses: see
 * ts_rep_queue_readable_in_place). When a fork comes in
 * the middle of an export, the child loses the records taken (at most
 * REP_CHUNK blocks): the thread that would give them back is not there,
 * and where it had got to is not known. */
static struct ts_span *rep_taken[REP_CHUNK];
static struct ts_span rep_span;
/* Under rep_export_mu: spans added to the exporters' batches and not sent
 * yet (read atomically without it: ts_rep_queued), and when the first of
 * them was added (ts_mono_ms). */
static size_t rep_open TS_FORK_STATE;
static uint64_t rep_open_since_ms;

/* Set by the prepare handler, read by the parent/child handlers. */
static bool rep_fork_have_export_mu TS_FORK_STATE;

/* The exit accounting of this process (atomic, both). reported_at:
 * spans_started + 1 when it was last done (0: not yet). A second
 * ts_rep_exit (an _exit called from an atexit handler) says nothing
 * again, unless spans began since (requests made in the destructors of
 * libraries that come after the shim's: preload/init.c), which it then
 * counts, writing the stats line again. left: the spans that count left,
 * queued or held by an exporter, which are dropped_exit_timeout; a later
 * count puts what it finds left in their place. */
static struct {
    uint64_t reported_at;
    uint64_t left;
} rep_exit_count TS_FORK_STATE;

/* Nothing is exported any more (atomic; ts_rep_hold): the shim's calls
 * could reach a library whose destructor has run. Read under the export
 * mutex by everything that exports, so that none starts once it is set. */
static bool rep_held;

/* Once the reporter thread has an fd table of its own, the flushes of the
 * program's threads are done on it (handover.h): this is the job, filled
 * in by the requester between ts_handover_begin and ts_handover_post. */
static struct ts_handover rep_handover TS_FORK_STATE = TS_HANDOVER_INITIALIZER;
enum rep_job_kind {
    REP_JOB_FLUSH,   /* export everything queued and the open batch */
    REP_JOB_METRICS, /* the TRACESHIM_STATS line */
    REP_JOB_PREPARE, /* ready the exporters (exporters.h ts_exp_prepare) */
};
static struct {
    enum rep_job_kind kind;
    struct timespec deadline;
    uint64_t deadline_ms;
    struct ts_stats_snapshot snap;
} rep_job;


static size_t rep_queue_capacity(void)
{
    return ts_cfg.bsp_max_queue ? ts_cfg.bsp_max_queue : REP_DEFAULT_QUEUE;
}

/* Spans per exported line; never more than the queue holds, or a "batch
 * ready" wake-up could never happen. */
static size_t rep_batch_size(size_t cap)
{
    size_t b = ts_cfg.bsp_max_batch ? ts_cfg.bsp_max_batch : REP_DEFAULT_BATCH;
    return cap && b > cap ? cap : b;
}

static unsigned rep_delay_ms(void)
{
    return ts_cfg.bsp_delay_ms ? ts_cfg.bsp_delay_ms : REP_DEFAULT_DELAY_MS;
}

/* Queued spans that wake the reporter thread (rep_ring_wake_at). A ring
 * costs the program's thread that makes it a system call and wakes the
 * reporter to encode what came, which may then share a processor with the
 * program. The ring is paced to what comes in a millisecond, between
 * REP_WAKE_FEW and a chunk: while spans come slowly (a server with time
 * between its requests), a few at a time, so that each of the reporter's
 * runs is short and falls in the program's idle time, just after the
 * request that rang; faster, more at a time, so that the thread is rung
 * about once a millisecond at most: a ring (a futex wake and the
 * reporter's wake-up, a few µs) then takes a bounded share of even a
 * saturated server's time, whatever its rate. Measured side by side
 * (bench/ab.sh, bench/PROFILE.md session 18): against a ring every 64
 * spans, 16 below 43k spans a second and 64 above took 2.8-3.0 µs off the
 * p99 added per hop one request at a time through two traced hops, this
 * pace about 2.5 µs more; a saturated tinyhttpd's throughput unchanged by
 * either, within the method's noise (a ring every 16 at any rate cost it
 * 4 points). */
#define REP_WAKE_FEW 8
#define REP_PACE_WINDOW_NS 1000000u /* as many spans as come in this long */

/* A chunk, or a whole batch when batches are smaller. */
static size_t rep_wake_most(size_t cap)
{
    size_t batch = rep_batch_size(cap);
    return batch < REP_CHUNK ? batch : REP_CHUNK;
}

static size_t rep_wake_few(size_t cap)
{
    size_t most = rep_wake_most(cap);
    return most < REP_WAKE_FEW ? most : REP_WAKE_FEW;
}

size_t ts_rep_wake_at_for(uint64_t since_ns, size_t arrived, size_t few, size_t most)
{
    if (arrived == 0)
        return few;
    uint64_t ns_each = since_ns / arrived;
    if (ns_each == 0)
        return most;
    uint64_t in_window = REP_PACE_WINDOW_NS / ns_each;
    return in_window < few ? few : in_window > most ? most : (size_t)in_window;
}

/* Spans queued that ring the reporter thread, set once the ring is mapped
 * (rep_wake_few of its capacity): 0 until then (atomic; the release store
 * follows the ring's own publication, so a producer that reads it non-zero
 * finds the ring). From then on the reporter thread sets it, at each look
 * at the queue (rep_pace, rep_ring_at_pace). */
static size_t rep_ring_wake_at;

size_t ts_rep_ring_wake_at(void)
{
    return __atomic_load_n(&rep_ring_wake_at, __ATOMIC_RELAXED);
}

/* The pace of the rings, from the `pending` spans that came since the
 * reporter thread last looked at the queue (its thread only). */
static size_t rep_pace(size_t pending)
{
    static uint64_t looked_ns;
    uint64_t now = ts_mono_ns();
    size_t paced = ts_rep_wake_at_for(now - looked_ns, pending, rep_wake_few(rep_q.cap),
                                      rep_wake_most(rep_q.cap));
    looked_ns = now;
    return paced;
}

/* Make `paced` the rings' threshold, or the room left in the open batch
 * when that is less: the span that fills a batch rings, so that a full
 * batch is sent when it fills, not at a later ring or when it is due
 * (export mutex held: rep_open). */
static void rep_ring_at_pace(size_t paced)
{
    size_t wake_at = paced;
    size_t batch = rep_batch_size(rep_q.cap);
    if (rep_open > 0 && rep_open < batch && batch - rep_open < wake_at)
        wake_at = batch - rep_open;
    size_t was = __atomic_load_n(&rep_ring_wake_at, __ATOMIC_RELAXED);
    if (was != 0 && was != wake_at) /* 0: no ring mapped, none to pace */
        __atomic_store_n(&rep_ring_wake_at, wake_at, __ATOMIC_RELEASE);
}

/* When a batch's export must be over: OTEL_BSP_EXPORT_TIMEOUT from now,
 * or the flush's deadline when that comes first (0: none). */
static uint64_t rep_batch_deadline(uint64_t flush_deadline_ms)
{
    uint64_t d = ts_mono_ms() + ts_cfg.bsp_export_timeout_ms;
    return flush_deadline_ms && flush_deadline_ms < d ? flush_deadline_ms : d;
}

/* now + ms on the given clock, as an absolute timespec. */
static struct timespec rep_deadline(clockid_t clock, unsigned ms)
{
    struct timespec t;
    ts_clock_read(clock, &t);
    t.tv_sec += (time_t)(ms / 1000);
    t.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

static bool rep_past(clockid_t clock, const struct timespec *deadline)
{
    struct timespec now;
    ts_clock_read(clock, &now);
    return now.tv_sec > deadline->tv_sec ||
           (now.tv_sec == deadline->tv_sec && now.tv_nsec >= deadline->tv_nsec);
}

void ts_rep_init(void)
{
    rep_remote_sampling = ts_sampling_poller_wanted();
    if (TS_EXPORTS(&ts_cfg, TS_EXPORTER_FILE))
        ts_file_export_resolve_path();
    ts_program_stderr_note_start();
}

/* ------------------------------------------------------------ exporters */

/* The open batch has waited OTEL_BSP_SCHEDULE_DELAY (export mutex held). */
static bool rep_open_due(uint64_t now_ms)
{
    return rep_open > 0 && now_ms - rep_open_since_ms >= rep_delay_ms();
}

/* The reporter thread's scheduling (rep_yield_on_wakeup, rep_keep_up),
 * all of it read and written by that thread only. */
static bool rep_yields; /* the thread runs under SCHED_BATCH, set by itself */
/* While the thread is hurried (rep_keep_up): until when (0: it is not). */
static uint64_t rep_hurry_until_ms;
#define REP_HURRY_MS 1000u
static bool rep_sends_wait; /* an exporter waits for a receiver */
static bool rep_sends_http; /* an exporter posts to a receiver (otlp, zipkin) */
static uint64_t rep_sent_ns; /* when the thread's last send ended (ts_mono_ns) */
static __thread bool rep_on_thread __attribute__((tls_model("initial-exec")));
/* What a program's thread that waits for the reporter thread reads
 * (rep_wait_unbatched): the thread, and whether it runs under SCHED_BATCH
 * (atomic, set by the thread); and whether that waiter put it under the
 * normal policy (atomic, taken back by the thread after the job). */
static pthread_t rep_thread_self;
static pid_t rep_thread_tid; /* (atomic; 0: none yet) */
static bool rep_batch_now TS_FORK_STATE;
static bool rep_unbatched_by_waiter;

static bool rep_set_policy(int policy)
{
    if (ts_sandbox_filter_seen())
        return false; /* a filter synchronised to every thread might kill the program for it */
    struct sched_param param = {.sched_priority = 0};
    return pthread_setschedparam(pthread_self(), policy, &param) == 0;
}

/* Send the open batch (rep_open paces the thread; at an exit its spans
 * are counted through the exporters, exporters.h ts_exp_count_at_exit,
 * a send still running included). An exporter that waits for its
 * receiver's answer waits under the normal policy: under SCHED_BATCH each
 * wake-up from that wait would also wait for the tick
 * (rep_yield_on_wakeup). */
static void rep_send_open(uint64_t batch_deadline_ms)
{
    __atomic_store_n(&rep_open, 0, __ATOMIC_RELAXED);
    bool hurried = rep_on_thread && rep_yields && rep_sends_wait && !rep_hurry_until_ms &&
                   rep_set_policy(SCHED_OTHER);
    ts_exp_send(batch_deadline_ms);
    rep_sent_ns = ts_mono_ns();
    if (hurried)
        rep_set_policy(SCHED_BATCH);
}

/* An HTTP exporter's open batch goes before it is full once it holds a
 * quarter of a batch (REP_EARLY_SPANS at least) and the thread's last
 * send ended REP_EARLY_GAP_NS ago. A batch of 512 is about 230 KB of
 * OTLP protobuf, written in one call that, over loopback, also hands it
 * to the receiver: the call holds its processor the while, and on two
 * busy processors nginx and Node lost 5 to 13 points of throughput to the
 * way that lines them up, against batches of 128 (bench/PROFILE.md,
 * sessions 34 and 37). But 128 at a time cost a µs-scale server 3
 * points: 2,000 exchanges a second, each a wake-up of the receiver and
 * of this thread. The gap keeps a fast program's batches larger, so
 * that what the exchanges cost stays bounded (side by side, the
 * µs-scale server within a point). Not while the thread is behind
 * (hurried, or more than a chunk waiting): a full batch then costs least
 * per span; nor while a failed batch waits for its retry (the next one
 * is held behind it anyway). On the thread only: a flush sends whole
 * batches. The open batch is every exporter's: a span file's lines or
 * Jaeger's datagrams beside OTLP are cut with it. */
#define REP_EARLY_SPANS 128
#define REP_EARLY_GAP_NS 1000000u

static bool rep_send_early(void)
{
    if (!rep_on_thread || !rep_sends_http || rep_hurry_until_ms)
        return false;
    size_t quarter = rep_batch_size(rep_q.cap) / 4;
    if (rep_open < (quarter > REP_EARLY_SPANS ? quarter : REP_EARLY_SPANS))
        return false;
    if (ts_rep_queue_count(&rep_q) > REP_CHUNK || ts_exp_next_retry_ms() != 0)
        return false;
    return ts_mono_ns() - rep_sent_ns >= REP_EARLY_GAP_NS;
}

/* The oldest queued span's place is claimed and not yet published: a
 * short sleep before looking again (its thread is off the processor, or
 * gone, and the queue passes the place in time: queue.h). */
#define REP_UNPUBLISHED_PAUSE_MS 1

static void rep_pause_for_unpublished(void)
{
    struct timespec pause = {0, REP_UNPUBLISHED_PAUSE_MS * 1000000L};
    nanosleep(&pause, NULL);
}

/* Encode up to `want` of the oldest queued spans into the open batch,
 * sending it each time it is full (export mutex held), and send what is
 * left open too when send_rest. A flush passes its deadline: it then never
 * waits longer for the queue mutex, and stops between batches once it is
 * past. Each batch gets the export timeout from the moment it is sent.
 * The reporter thread does not yield between chunks: measured, a yield
 * every 64 spans gave the processor away for a whole time slice each time,
 * and on two busy cores the queue overflowed (a quarter of the spans
 * dropped at 100k requests/s). Returns how many spans it took. */
static size_t rep_export_queued(size_t want, const struct timespec *deadline,
                                uint64_t deadline_ms, bool send_rest)
{
    size_t taken = 0;
    while (want > 0) {
        if (!ts_rep_queue_lock(&rep_q, deadline))
            break;
        size_t batch = rep_batch_size(rep_q.cap);
        size_t take = batch > rep_open ? batch - rep_open : 1;
        if (take > REP_CHUNK)
            take = REP_CHUNK;
        if (take > want)
            take = want;
        size_t got = ts_rep_queue_take_locked(&rep_q, rep_taken, take);
        if (got) /* under the mutex: see rep_left_at_exit */
            ts_exp_take(got);
        /* A place whose thread left the hand-over is lost with its span,
         * counted where a span the queue could not hold is. */
        uint64_t passed = ts_rep_queue_take_passed(&rep_q);
        ts_rep_queue_unlock(&rep_q);
        if (passed)
            ts_stats_add(TS_STAT_DROPPED_QUEUE_FULL, passed);
        if (got == 0) {
            /* Spans counted and none taken: the oldest one's place is
             * claimed and not yet published. A flush waits for it (its
             * thread is off the processor, or gone: the queue passes the
             * place in time) as long as its deadline allows; the spans
             * behind it would otherwise be lost at an exit. */
            if (!deadline || ts_rep_queue_count(&rep_q) == 0 || rep_past(CLOCK_REALTIME, deadline))
                break;
            rep_pause_for_unpublished();
            continue;
        }
        want -= got;
        taken += got;
        if (rep_open == 0)
            rep_open_since_ms = ts_mono_ms();
        uint64_t batch_deadline = rep_batch_deadline(deadline_ms);
        for (size_t i = 0; i < got; i++) {
            const struct ts_span *s = rep_taken[i];
            if (!ts_rep_queue_readable_in_place(s)) {
                ts_rep_queue_read(&rep_span, s);
                if (rep_span.sampler_tag) /* before the stack, which takes the bytes left */
                    ts_sampler_tags_attach(&rep_span);
                if (rep_span.nframes) /* TRACESHIM_STACKS: names, off the program's threads */
                    ts_sym_attach(&rep_span);
                s = &rep_span;
            }
            ts_exp_add(s, batch_deadline);
        }
        ts_rep_queue_release_many(&rep_q, rep_taken, got);
        memset(rep_taken, 0, got * sizeof rep_taken[0]);
        __atomic_store_n(&rep_open, rep_open + got, __ATOMIC_RELAXED);
        if (rep_open >= batch || (!deadline && rep_send_early())) {
            rep_send_open(batch_deadline);
            if (deadline && rep_past(CLOCK_REALTIME, deadline))
                break;
        }
    }
    if (rep_open > 0 &&
        (send_rest || rep_open_due(ts_mono_ms()) || (!deadline && rep_send_early())))
        rep_send_open(rep_batch_deadline(deadline_ms));
    return taken;
}

/* --------------------------------------------------------------- thread */

/* How long the reporter thread may sleep: until the open batch is due, the
 * schedule delay when there is none, and never past a remote sampler's
 * next poll or a parked batch's next attempt (export mutex held). */
static unsigned rep_sleep_ms(uint64_t poll_due_ms)
{
    uint64_t now = ts_mono_ms();
    uint64_t until = now + rep_delay_ms();
    if (rep_open > 0)
        until = rep_open_since_ms + rep_delay_ms();
    if (poll_due_ms && poll_due_ms < until)
        until = poll_due_ms;
    uint64_t retry_ms = ts_exp_next_retry_ms();
    if (retry_ms && retry_ms < until)
        until = retry_ms;
    return until > now ? (unsigned)(until - now) : 0;
}

/* Let go of the exporters' fds in the program's table, then leave it
 * (preload/fd_split.h): they are opened again, in the thread's own table,
 * when next used. With the export mutex, so that a flush on another thread
 * finds the exporters either all in the program's table or all out of it. */
static void rep_leave_program_fd_table(void)
{
    if (ts_cfg.own_fd_table == 0)
        return;
    if (ts_cfg.own_fd_table < 0 && ts_fd_split_filtered()) {
        ts_log_debug("a seccomp filter is on: the reporter thread shares the program's fd "
                     "table (TRACESHIM_OWN_FD_TABLE=1 to leave it all the same)");
        return;
    }
    pthread_mutex_lock(&rep_export_mu);
    ts_exp_close_fds();
    if (!ts_fd_split())
        ts_log_debug("the reporter thread shares the program's fd table (no close_range "
                     "unshare or pidfd_getfd here)");
    pthread_mutex_unlock(&rep_export_mu);
}

static void rep_write_metrics_locked(const struct ts_stats_snapshot *snap);

/* Export everything queued and the open batch, by the deadline (export
 * mutex held): a flush, on whichever thread holds the exporters' fds. */
static void rep_flush_locked(const struct timespec *deadline, uint64_t deadline_ms)
{
    size_t pending = ts_rep_queue_count(&rep_q);
    if (pending > 0 || rep_open > 0)
        rep_export_queued(pending, deadline, deadline_ms, true);
    else if (ts_exp_next_retry_ms() != 0) /* a parked batch, and the one it holds */
        ts_exp_send(rep_batch_deadline(deadline_ms));
}

/* The exporters prepared (ts_exp_prepare), once per process. */
static void rep_prepare_locked(void)
{
    if (__atomic_load_n(&rep_prepared, __ATOMIC_RELAXED))
        return;
    ts_exp_prepare();
    __atomic_store_n(&rep_prepared, true, __ATOMIC_RELAXED);
}

static void rep_batch_again(void);

/* A job handed over by a program's thread. */
static void rep_do_job(void)
{
    pthread_mutex_lock(&rep_export_mu);
    switch (rep_job.kind) {
    case REP_JOB_FLUSH:
        if (!__atomic_load_n(&rep_held, __ATOMIC_ACQUIRE)) /* (see ts_rep_hold) */
            rep_flush_locked(&rep_job.deadline, rep_job.deadline_ms);
        break;
    case REP_JOB_METRICS:
        if (!__atomic_load_n(&rep_held, __ATOMIC_ACQUIRE))
            rep_write_metrics_locked(&rep_job.snap);
        break;
    case REP_JOB_PREPARE:
        if (!__atomic_load_n(&rep_held, __ATOMIC_ACQUIRE))
            rep_prepare_locked();
        break;
    }
    pthread_mutex_unlock(&rep_export_mu);
    ts_handover_finish(&rep_handover);
    rep_batch_again();
}

/* Exporters whose sends wait on nothing but this machine's kernel. */
#define REP_LOCAL_EXPORTERS ((1u << TS_EXPORTER_FILE) | (1u << TS_EXPORTER_CONSOLE))

/* The reporter thread yields to the program's threads when it is woken:
 * a thread of the normal policy that wakes it (the push that completes a
 * chunk) is otherwise preempted on the spot, its processor handed to the
 * encoding of the chunk while the request it was serving waits. Batch
 * threads keep their share of the processors (the same weight, the same
 * nice value) but do not preempt on wake-up: the thread runs where a
 * processor is idle, or at the next tick. Only from the normal policy: a
 * thread that inherited a real-time one, or the idle one, is left as the
 * program made it; and not under a seccomp filter, which might kill the
 * process for a scheduling call it does not list. */
static void rep_yield_on_wakeup(void)
{
    rep_on_thread = true;
    rep_yields = false;
    rep_hurry_until_ms = 0;
    /* An exporter that sends to a receiver (otlp, zipkin, jaeger) waits
     * for it, and under SCHED_BATCH every wake-up from that wait waited
     * for a tick as well: measured at 170,000 spans a second on two cores
     * (bench/ab.sh with AB_ENV setting zipkin), no throughput gained and
     * 3,400-6,200 spans of 300,000 dropped to a full queue in three rounds
     * of six, none under the normal policy. Its sends are made under the
     * normal policy (rep_send_open). */
    rep_sends_wait = (ts_cfg.exporters & ~REP_LOCAL_EXPORTERS) != 0;
    rep_sends_http =
        (ts_cfg.exporters & ((1u << TS_EXPORTER_OTLP) | (1u << TS_EXPORTER_ZIPKIN))) != 0;
    int policy;
    struct sched_param param;
    if (ts_fd_split_filtered() || pthread_getschedparam(pthread_self(), &policy, &param) != 0 ||
        policy != SCHED_OTHER)
        return;
    rep_thread_self = pthread_self();
    rep_yields = rep_set_policy(SCHED_BATCH); /* refused: as before */
    __atomic_store_n(&rep_batch_now, rep_yields, __ATOMIC_RELEASE);
}

/* A program's thread is about to wait for the reporter thread (a flush
 * before an exec or at exit, the exporters' preparation). Under
 * SCHED_BATCH the thread it wakes does not preempt: on a machine whose
 * processors are busy it waits for the running task's slice to end, and
 * every short-lived traced process (a build's, a script's) waited that
 * long at its exit, milliseconds. So the waiter puts it under the normal
 * policy first; the thread goes back once the job is done
 * (rep_batch_again). A refusal leaves it as it was. */
static void rep_wait_unbatched(void)
{
    if (!__atomic_load_n(&rep_batch_now, __ATOMIC_ACQUIRE) || ts_sandbox_filter_seen())
        return; /* a filter of the program's might refuse the call, or kill it for it */
    struct sched_param param = {.sched_priority = 0};
    if (pthread_setschedparam(rep_thread_self, SCHED_OTHER, &param) == 0)
        __atomic_store_n(&rep_unbatched_by_waiter, true, __ATOMIC_RELEASE);
}

/* The reporter thread, after a job a waiter put it under the normal
 * policy for: back under SCHED_BATCH, unless it is hurried (rep_keep_up)
 * and so under the normal policy anyway. */
static void rep_batch_again(void)
{
    if (__atomic_exchange_n(&rep_unbatched_by_waiter, false, __ATOMIC_ACQ_REL) && rep_yields &&
        !rep_hurry_until_ms)
        rep_set_policy(SCHED_BATCH);
}

/* Yielding has a price: woken while both processors are busy, the thread
 * waits for the tick, and the queue (2048 spans, 12 ms at 170,000 spans a
 * second) must hold what comes meanwhile: with the file exporter, one
 * seconds-long run of the bench's smoke lost 78 spans of 55,900 that way,
 * longer runs none. A backlog of a quarter of the queue puts the thread
 * back under the normal policy, until a second has passed without one. */
static void rep_keep_up(size_t pending)
{
    if (!rep_yields)
        return;
    uint64_t now = ts_mono_ms();
    if (pending >= rep_q.cap / 4) {
        if (!rep_hurry_until_ms && !rep_set_policy(SCHED_OTHER))
            return;
        rep_hurry_until_ms = now + REP_HURRY_MS;
    } else if (rep_hurry_until_ms && now >= rep_hurry_until_ms) {
        if (rep_set_policy(SCHED_BATCH))
            rep_hurry_until_ms = 0;
    }
}

/* Where the thread runs (placement.h): off the processor that keeps
 * waking it; anywhere while it is behind (a quarter of the queue, as for
 * rep_keep_up) or idle. Once placement is off for good, the rings stop
 * noting their processor. */
static bool rep_placing;

static void rep_place(int ringer, size_t pending, bool idle)
{
    if (!rep_placing)
        return;
    rep_placing = idle || pending >= rep_q.cap / 4 ? ts_rep_placement_release()
                                                   : ts_rep_placement_rung_from(ringer);
    if (!rep_placing)
        ts_rep_queue_note_ringers(&rep_q, false);
}

/* The reporter thread once exports are held (ts_rep_hold): it stays
 * asleep until the process ends (every signal is blocked on it), and a
 * hand-over that finds it so is not waited for past its deadline (none
 * is made once the hold is set: rep_flush). */
static void rep_park_if_held(void)
{
    while (__atomic_load_n(&rep_held, __ATOMIC_ACQUIRE))
        pause();
}

/* The reporter thread: sleeps until a chunk of spans is queued or the open
 * batch is due, encodes what is queued and sends what is due; with
 * nothing at all to do, gives back the memory that bursts left. */
static void *rep_thread_main(void *arg)
{
    (void)arg;
    ts_guard_enter(); /* for its whole life: nothing it does is traced */
    __atomic_store_n(&rep_thread_tid, (pid_t)TS_REAL(syscall)(SYS_gettid), __ATOMIC_RELAXED);
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL); /* signals are the application's */
    pthread_setname_np(pthread_self(), "traceshim-rep");
    rep_leave_program_fd_table();
    if (TS_EXPORTS(&ts_cfg, TS_EXPORTER_FILE)) {
        /* before the program can drop its user or its root (setuid,
         * chroot): the first export may come seconds later */
        pthread_mutex_lock(&rep_export_mu);
        ts_file_export_open_early();
        pthread_mutex_unlock(&rep_export_mu);
    }
    __atomic_store_n(&rep_file_tried, 1, __ATOMIC_RELEASE);
    (void)TS_REAL(syscall)(SYS_futex, &rep_file_tried, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
    /* Only now: the thread that started this one waits for the span file
     * (rep_file_tried), and a wake-up under SCHED_BATCH could wait for a
     * busy processor's slice to end (rep_wait_unbatched). */
    rep_yield_on_wakeup();
    rep_placing = ts_rep_placement_start();
    ts_rep_queue_note_ringers(&rep_q, rep_placing);
    /* Spans were counted but the oldest was not published yet (its
     * producer was between claiming its place and storing the record): the
     * next wait is a short sleep, not a spin while that thread is off the
     * processor. */
    bool unpublished = false;
    for (;;) {
        rep_park_if_held();
        /* A job handed over by a program's thread (a flush before an exec
         * or at exit) comes first: its thread waits for it. The nudge that
         * announced it is taken first, so that a later one is not lost. */
        (void)ts_rep_queue_take_nudge(&rep_q);
        /* The exporters prepared for a program with signal handlers
         * (ts_rep_prepare_for_handlers) before any job: a flush handed
         * over from a handler must find them so. Also when no program's
         * thread waited for it: a handler installed while the thread was
         * busy, or before the fork whose child this thread serves. */
        if ((__atomic_load_n(&rep_prepare_wanted, __ATOMIC_RELAXED) ||
             __atomic_load_n(&rep_prepare_unwaited, __ATOMIC_RELAXED)) &&
            !__atomic_load_n(&rep_prepared, __ATOMIC_RELAXED)) {
            pthread_mutex_lock(&rep_export_mu);
            if (!__atomic_load_n(&rep_held, __ATOMIC_ACQUIRE))
                rep_prepare_locked();
            pthread_mutex_unlock(&rep_export_mu);
        }
        if (ts_handover_pending(&rep_handover)) {
            rep_do_job();
            continue;
        }
        /* A remote sampler's strategy is fetched from here too; the wait
         * below ends in time for the next poll. */
        rep_park_if_held();
        uint64_t poll_due = rep_remote_sampling ? ts_sampling_poll(ts_mono_ms()) : 0;
        pthread_mutex_lock(&rep_export_mu);
        unsigned wait_ms = rep_sleep_ms(poll_due);
        pthread_mutex_unlock(&rep_export_mu);

        bool timed_out;
        if (unpublished) {
            /* A pause, not a wait: asleep on the doorbell, the thread would
             * be woken by every push (the queue holds a chunk and more),
             * for a span it still could not take. */
            rep_pause_for_unpublished();
            /* only a pause: the delay has not passed unless it was this short */
            timed_out = wait_ms <= REP_UNPUBLISHED_PAUSE_MS;
        } else {
            struct timespec until = rep_deadline(CLOCK_MONOTONIC, wait_ms);
            size_t want = __atomic_load_n(&rep_ring_wake_at, __ATOMIC_RELAXED);
            timed_out = !ts_rep_queue_wait(&rep_q, want ? want : 1, &until);
        }
        int ringer = ts_rep_queue_take_ringer(&rep_q);
        if (ts_handover_pending(&rep_handover))
            continue;
        size_t pending = ts_rep_queue_count(&rep_q);
        size_t paced = rep_pace(pending);
        rep_keep_up(pending);
        /* Timed out: the open batch is due, or the schedule delay has
         * passed since the thread last looked; everything goes. An open
         * batch goes too when nothing is queued: a chunk that woke the
         * thread and was the last spans for a while is sent when it is
         * due, not left open until the next span or the exit (the thread
         * would spin meanwhile, its sleep always already over). */
        pthread_mutex_lock(&rep_export_mu);
        if (__atomic_load_n(&rep_held, __ATOMIC_ACQUIRE)) {
            pthread_mutex_unlock(&rep_export_mu);
            continue; /* (parks) */
        }
        ts_exp_retry_due(rep_batch_deadline(0)); /* a failed batch's next attempt */
        bool idle = pending == 0 && rep_open == 0;
        size_t taken = idle ? 0 : rep_export_queued(pending, NULL, 0, timed_out);
        unpublished = pending > 0 && taken == 0;
        rep_ring_at_pace(paced);
        pthread_mutex_unlock(&rep_export_mu);
        rep_place(ringer, pending, idle && timed_out);
        if (idle && timed_out) {
            ts_block_caches_give_back(); /* threads' spare span records and buffers */
            ts_rep_queue_trim(&rep_q, TS_BLOCK_SPARE_HOLD_MS);
            ts_buf_trim(TS_BLOCK_SPARE_HOLD_MS);
        }
    }
    return NULL;
}

/* Start the reporter thread. All signals are blocked while it is created
 * so that it starts with them blocked (no window in which a signal meant
 * for the application lands on it). Returns false on failure. */
static bool rep_start_thread(void)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, REP_THREAD_STACK);
    pthread_t t;
    int rc = ts_thread_create_own(&t, &attr, rep_thread_main, NULL);
    if (rc == EINVAL) {
        /* The stack size can be too small for a program with a large static
         * TLS; glibc's default size then works. */
        pthread_attr_setstacksize(&attr, 0);
        pthread_attr_destroy(&attr);
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        rc = ts_thread_create_own(&t, &attr, rep_thread_main, NULL);
    }
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        static bool reported;
        if (!reported) {
            reported = true;
            char buf[128];
            ts_log_error("cannot start the reporter thread: %s; spans are exported at a normal exit "
                         "only (an _exit or exec after the program installed a signal handler "
                         "loses them)",
                         strerror_r(rc, buf, sizeof buf));
        }
        return false;
    }
    return true;
}

/* ----------------------------------------------------------------- API */

/* Start the reporter thread unless it runs or a failed start is too
 * recent (queue mutex held). True when the caller must start it (outside
 * the mutex) with rep_start_thread. */
static bool rep_claim_thread_start_locked(void)
{
    if (ts_rep_thread_started || (rep_thread_retry_ms != 0 && ts_mono_ms() < rep_thread_retry_ms))
        return false;
    /* Not once the program has installed a seccomp filter of its own: a
     * new thread is a system call (clone3) the filter may trap or kill for
     * (apt's methods under APT::Sandbox::Seccomp trap it: SIGSYS). The
     * spans then go out from the program's threads, at its exit, exec or
     * _exit (preload/sandbox.h). */
    if (ts_sandbox_filter_seen())
        return false;
    /* creating before started: who sees the start claimed sees it under way */
    __atomic_store_n(&rep_thread_creating, true, __ATOMIC_RELAXED);
    /* only one caller starts it */
    __atomic_store_n(&ts_rep_thread_started, true, __ATOMIC_RELEASE);
    return true;
}

static void rep_start_claimed_thread(void)
{
    if (rep_start_thread())
        return;
    ts_rep_queue_lock(&rep_q, NULL);
    __atomic_store_n(&ts_rep_thread_started, false, __ATOMIC_RELAXED);
    rep_thread_retry_ms = ts_mono_ms() + rep_delay_ms();
    ts_rep_queue_unlock(&rep_q);
    /* no thread will try the file: a wait for it (rep_wait_thread_ready) ends */
    (void)TS_REAL(syscall)(SYS_futex, &rep_file_tried, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

/* The rare steps of a hand-over, out of line and each under the guard
 * with errno kept (they make system calls): the common one, a span's
 * block or record pushed into a mapped ring whose reporter is running
 * and awake, makes none, and pays for neither. */

static bool rep_hand_over(enum rep_job_kind kind, const struct ts_stats_snapshot *snap,
                          const struct timespec *deadline, uint64_t deadline_ms);

/* The running reporter thread prepares the exporters (the program has
 * signal handlers): waited for, at most REP_READY_WAIT_MS, once per
 * process, and only while the thread is free: an export holds the lock
 * for up to the exporter's timeout (a collector that never answers) and
 * the program's sigaction must not wait for that; else the thread is
 * woken, and prepares before anything else. just_started: this caller
 * started the thread, which holds the lock as it starts (its fd table)
 * and prepares before its first export: it is waited for. Guard held. */
static void rep_prepare_wait(bool just_started)
{
    if (!__atomic_load_n(&ts_rep_thread_started, __ATOMIC_RELAXED) ||
        __atomic_load_n(&rep_prepared, __ATOMIC_RELAXED))
        return;
    bool idle = just_started || pthread_mutex_trylock(&rep_export_mu) == 0;
    if (idle && !just_started)
        pthread_mutex_unlock(&rep_export_mu);
    if (!idle || __atomic_exchange_n(&rep_prepare_waited, true, __ATOMIC_RELAXED)) {
        ts_rep_queue_nudge(&rep_q);
        return;
    }
    struct timespec deadline = rep_deadline(CLOCK_REALTIME, REP_READY_WAIT_MS);
    (void)rep_hand_over(REP_JOB_PREPARE, NULL, &deadline, ts_mono_ms() + REP_READY_WAIT_MS);
}

/* Until the reporter thread, once started, has left the program's fd
 * table and tried to open the span file (rep_file_tried), or deadline_ms
 * passes. Woken by the thread the moment it has tried (a sleep of 100 µs
 * at a time, as it was, slept half of it too long on average, and more
 * with the kernel's timer slack). */
static void rep_wait_thread_ready(uint64_t deadline_ms)
{
    while (__atomic_load_n(&ts_rep_thread_started, __ATOMIC_RELAXED) &&
           !__atomic_load_n(&rep_file_tried, __ATOMIC_ACQUIRE) &&
           ts_futex_wait_until(&rep_file_tried, 0, deadline_ms)) {
        /* looked at again after each wake */
    }
}

/* Before a call that gives up access (access_hooks.c: setuid and its
 * kin, chroot): the span file is kept open in the program's fd table, and
 * the exporter takes a copy of that fd whenever it opens the file after
 * that, rather than the path, which may be closed to it since. A span file that cannot be kept so (a FIFO: an open that does not
 * wait for a reader fails without one) is opened by the reporter thread,
 * which the process's first span started, and a program that gives its
 * user or root up right after that span must not do it before the thread
 * has tried the file. Waited for there, until
 * REP_FILE_WAIT_MS after the first such call (the threads that make one
 * meanwhile wait as long: glibc changes every thread's user, the reporter
 * thread's too), rather than at the first span of every process that
 * could give its access up (one started as root: a few hundred
 * microseconds on an idle machine, milliseconds on a busy one, where a new
 * thread can wait a scheduler's slice for a processor). Not in a vfork
 * child, or one made without the fork handlers: its user and root are its
 * own, and its parent's thread is none of its business. */
static uint64_t rep_access_until_ms TS_FORK_STATE; /* 0: no such call yet */

bool ts_rep_before_giving_up_access(uid_t becomes)
{
    if (rep_on_thread || !TS_EXPORTS(&ts_cfg, TS_EXPORTER_FILE) || ts_process_foreign())
        return false;
    int saved_errno = errno;
    bool given;
    /* The span file kept in the program's fd table, with the access the
     * program has now: whatever the process's first span comes after, the
     * exporter can write to it (file_exporter.h ts_file_export_keep).
     * Only what cannot be kept so (a FIFO) is waited for. */
    if (!ts_file_export_keep(becomes, &given) &&
        __atomic_load_n(&ts_rep_thread_started, __ATOMIC_ACQUIRE) &&
        !__atomic_load_n(&rep_file_tried, __ATOMIC_ACQUIRE)) {
        uint64_t until = __atomic_load_n(&rep_access_until_ms, __ATOMIC_RELAXED);
        uint64_t mine = ts_mono_ms() + REP_FILE_WAIT_MS;
        if (until == 0 && __atomic_compare_exchange_n(&rep_access_until_ms, &until, mine, false,
                                                      __ATOMIC_RELAXED, __ATOMIC_RELAXED))
            until = mine;
        rep_wait_thread_ready(until);
    }
    errno = saved_errno;
    return given;
}

void ts_rep_access_kept_after_all(void)
{
    ts_file_export_take_back();
}

/* Start the reporter thread unless it runs (or a failed start is too
 * recent, unless even_if_failed_lately). True when this call started it. */
static __attribute__((noinline)) bool rep_start_thread_now(bool even_if_failed_lately)
{
    if (__atomic_load_n(&rep_held, __ATOMIC_ACQUIRE))
        return false; /* it would export nothing (ts_rep_hold) */
    int saved_errno = errno;
    ts_guard_enter();
    ts_rep_queue_lock(&rep_q, NULL);
    if (even_if_failed_lately)
        rep_thread_retry_ms = 0;
    bool start = rep_claim_thread_start_locked();
    ts_rep_queue_unlock(&rep_q);
    if (start) {
        /* the table of real functions (the futex calls of both threads)
         * complete before the thread exists: the shim's constructor has
         * resolved it, a program's early call or a test may not have */
        ts_real_resolve();
        rep_start_claimed_thread();
        __atomic_store_n(&rep_thread_creating, false, __ATOMIC_RELEASE);
        /* the program has signal handlers: see ts_rep_prepare_for_handlers */
        if (__atomic_load_n(&rep_prepare_wanted, __ATOMIC_RELAXED))
            rep_prepare_wait(true);
    }
    ts_guard_leave();
    errno = saved_errno;
    return start;
}

static bool rep_start_thread_once(void)
{
    return rep_start_thread_now(false);
}

/* How long a limit on new threads waits for another thread's start of the
 * reporter thread (a clone: microseconds). */
#define REP_CREATING_WAIT_MS 100

void ts_rep_before_limiting_threads(void)
{
    if (rep_on_thread || (ts_cfg.exporters == 0 && !rep_remote_sampling) || ts_process_foreign())
        return;
    /* the last chance: a failed start's wait before the next try
     * (rep_thread_retry_ms) is not waited out */
    if (!__atomic_load_n(&ts_rep_thread_started, __ATOMIC_ACQUIRE) && rep_start_thread_now(true))
        return;
    /* Started by another thread, maybe not created yet: the limit is the
     * process's, and haproxy's threads each set it at once. */
    int saved_errno = errno;
    uint64_t deadline = 0;
    while (__atomic_load_n(&rep_thread_creating, __ATOMIC_ACQUIRE) &&
           ts_still_waiting(&deadline, REP_CREATING_WAIT_MS))
        sched_yield();
    errno = saved_errno;
}

/* First span of the process: the ring is mapped now, not at start-up
 * (most processes a wrapper script runs have no spans). Returns
 * rep_ring_wake_at. */
static __attribute__((noinline)) size_t rep_map_ring(void)
{
    int saved_errno = errno;
    ts_guard_enter();
    size_t wake_at = 0;
    if (ts_rep_queue_reserve(&rep_q, rep_queue_capacity())) {
        wake_at = rep_wake_few(rep_q.cap);
        __atomic_store_n(&rep_ring_wake_at, wake_at, __ATOMIC_RELEASE);
    }
    ts_guard_leave();
    errno = saved_errno;
    return wake_at; /* 0 without a ring: the push drops the span */
}

/* A copy of s in a record of the queue's (NULL without memory). */
static __attribute__((noinline)) struct ts_span *rep_record(const struct ts_span *s)
{
    int saved_errno = errno;
    ts_guard_enter();
    struct ts_span *record = ts_rep_queue_record(&rep_q, s);
    ts_guard_leave();
    errno = saved_errno;
    return record;
}

static __attribute__((noinline)) void rep_wake(void)
{
    int saved_errno = errno;
    ts_guard_enter();
    ts_rep_queue_wake(&rep_q); /* a system call only when the thread sleeps */
    ts_guard_leave();
    errno = saved_errno;
}

/* The pool whose blocks the queue takes whole, once it has (atomic): the
 * queue's answer for it never changes after. */
static struct ts_block_pool *rep_adopted;

static bool rep_adopt(struct ts_block_pool *pool)
{
    if (__atomic_load_n(&rep_adopted, __ATOMIC_RELAXED) == pool)
        return true;
    if (!ts_rep_queue_adopt(&rep_q, pool))
        return false;
    __atomic_store_n(&rep_adopted, pool, __ATOMIC_RELAXED);
    return true;
}

/* A span that is not exported (unsampled, or nothing is exported at all),
 * with a remote sampler, is the moment to start the thread that fetches the
 * strategy: a process whose initial rate samples nothing must still learn
 * its real rate, and one that exports nothing still hands its decisions
 * on. */
static void rep_start_for_the_sampler(void)
{
    if (rep_remote_sampling && !__atomic_load_n(&ts_rep_thread_started, __ATOMIC_RELAXED))
        rep_start_thread_once();
}

/* ts_rep_submit, and ts_rep_submit_block when whole is the span's pool:
 * true when the queue has taken the span's block. may_start: the reporter
 * thread may be started here (not from _exit: ts_rep_submit_signal_safe). */
static bool rep_submit(const struct ts_span *s, struct ts_block_pool *whole, bool may_start)
{
    if (!s) /* no ts_process_foreign() here: see reporter.h */
        return false;
    /* Counted here, where every span ends, with the final sampling
     * decision (a program's own "not sampled" overrides the sampler's). */
    ts_stats_add(TS_STAT_SPANS_FINISHED, 1);
    ts_stats_add(s->sampled ? TS_STAT_SPANS_SAMPLED : TS_STAT_SPANS_UNSAMPLED, 1);
    if (ts_cfg.exporters == 0 || !s->sampled) {
        if (may_start)
            rep_start_for_the_sampler();
        return false;
    }
    size_t wake_at = __atomic_load_n(&rep_ring_wake_at, __ATOMIC_ACQUIRE);
    if (!wake_at)
        wake_at = rep_map_ring();
    /* The block itself while the queue is short (a backlog is made of
     * records sized to their spans: reporter/queue.h), else a copy, made
     * first; the push itself takes no lock. */
    bool taken = whole && ts_rep_queue_count(&rep_q) < REP_WHOLE_BLOCKS_UNDER && rep_adopt(whole);
    struct ts_span *record = taken ? (struct ts_span *)s : rep_record(s);
    size_t queued = ts_rep_queue_push_record(&rep_q, record);
    if (!queued) {
        ts_stats_add(TS_STAT_DROPPED_QUEUE_FULL, 1);
        return taken;
    }
    if (__atomic_load_n(&rep_held, __ATOMIC_ACQUIRE))
        return taken; /* never exported (ts_rep_hold): no thread woken for it */
    /* A start claimed by another thread meanwhile: this span may be the
     * one that makes a chunk, and that thread's reporter may be asleep
     * already. */
    bool started = may_start && !__atomic_load_n(&ts_rep_thread_started, __ATOMIC_RELAXED) &&
                   rep_start_thread_once();
    if (!started && queued >= wake_at)
        rep_wake();
    return taken;
}

void ts_rep_submit(const struct ts_span *s)
{
    rep_submit(s, NULL, true);
}

/* Whether the flush that follows a process image's last span can write
 * it on the program's thread (rep_here_locked) instead of starting
 * a reporter thread for it: the span file is the only exporter, and no
 * thread runs. The thread's start, its leaving the fd table and the
 * hand-over cost a short-lived process (a command a build script runs
 * under traceshim run) more than the write: about 0.25 ms of its 0.4 ms
 * here. */
static bool rep_may_write_here(void)
{
    return ts_cfg.exporters == 1u << TS_EXPORTER_FILE &&
           !__atomic_load_n(&ts_rep_thread_started, __ATOMIC_RELAXED);
}

void ts_rep_submit_last(const struct ts_span *s)
{
    rep_submit(s, NULL, !rep_may_write_here());
}

void ts_rep_submit_signal_safe(const struct ts_span *s)
{
    rep_submit(s, NULL, false);
}

bool ts_rep_submit_block(struct ts_span *s, struct ts_block_pool *pool)
{
    return rep_submit(s, pool, true);
}

void *ts_rep_reuse_block(const struct ts_block_pool *pool)
{
    return ts_rep_queue_reuse(&rep_q, pool);
}

static void rep_nudge(void *arg)
{
    (void)arg;
    ts_rep_queue_nudge(&rep_q);
}

/* How much before its waiter's deadline a job's own comes: a tenth of
 * the time left, at most REP_JOB_MARGIN_MS (rep_hand_over). */
#define REP_JOB_MARGIN_MS 100u

static uint64_t rep_job_margin_ms(uint64_t deadline_ms)
{
    uint64_t now = ts_mono_ms();
    uint64_t tenth = deadline_ms > now ? (deadline_ms - now) / 10 : 0;
    return tenth < REP_JOB_MARGIN_MS ? tenth : REP_JOB_MARGIN_MS;
}

/* t, ms earlier (ms below a second). */
static struct timespec rep_timespec_earlier(struct timespec t, uint64_t ms)
{
    t.tv_sec -= (time_t)(ms / 1000);
    t.tv_nsec -= (long)(ms % 1000) * 1000000L;
    if (t.tv_nsec < 0) {
        t.tv_sec--;
        t.tv_nsec += 1000000000L;
    }
    return t;
}

/* Hand a job to the reporter thread (its fd table is its own) and wait
 * for it until the deadline; snap: the stats line's. True when it was done
 * in time. The job's own deadline comes a little earlier
 * (rep_job_margin_ms): an export it cuts short (a collector that never
 * answers) then normally ends as any failed export does, its spans
 * counted as failed and said on stderr, before the waiter stops waiting.
 * With one deadline for both, the waiter left first as often as not, and
 * at an exit the spans of that export went without a word (counted as
 * dropped_exit_timeout since, in no count before). A flush also stops
 * taking new batches that much earlier. */
static bool rep_hand_over(enum rep_job_kind kind, const struct ts_stats_snapshot *snap,
                          const struct timespec *deadline, uint64_t deadline_ms)
{
    if (__atomic_load_n(&rep_held, __ATOMIC_ACQUIRE) ||
        !ts_handover_begin(&rep_handover, deadline, deadline_ms))
        return false; /* (held: the thread does no job, ts_rep_hold) */
    uint64_t margin = rep_job_margin_ms(deadline_ms);
    rep_job.kind = kind;
    rep_job.deadline = rep_timespec_earlier(*deadline, margin);
    rep_job.deadline_ms = deadline_ms - margin;
    if (snap)
        rep_job.snap = *snap;
    rep_wait_unbatched();
    return ts_handover_post(&rep_handover, deadline_ms, rep_nudge, NULL);
}

void ts_rep_prepare_for_handlers(bool start_thread)
{
    if (ts_cfg.exporters == 0)
        return;
    __atomic_store_n(&rep_prepare_wanted, true, __ATOMIC_RELAXED);
    if (__atomic_load_n(&rep_prepared, __ATOMIC_RELAXED))
        return;
    if (start_thread && !__atomic_load_n(&ts_rep_thread_started, __ATOMIC_RELAXED) &&
        rep_start_thread_once())
        return; /* and waited there */
    int saved_errno = errno;
    ts_guard_enter();
    rep_prepare_wait(false); /* a thread not running yet prepares when it starts */
    ts_guard_leave();
    errno = saved_errno;
}

bool ts_rep_flush_possible_in_handler(void)
{
    return __atomic_load_n(&ts_rep_thread_started, __ATOMIC_RELAXED) || rep_may_write_here();
}

void ts_rep_ask_for_thread(void)
{
    if (ts_cfg.exporters != 0 && !ts_process_foreign())
        ts_rep_thread_asked = true;
}

bool (*ts_rep_maybe_in_a_handler)(void);

void ts_rep_thread_asked_here(void)
{
    ts_rep_thread_asked = false;
    if (!__atomic_load_n(&ts_rep_thread_started, __ATOMIC_RELAXED) &&
        !(ts_rep_maybe_in_a_handler && ts_rep_maybe_in_a_handler()))
        (void)rep_start_thread_once(); /* a failed start: the next span asks again */
}

void ts_rep_prepare_unwaited(void)
{
    if (ts_cfg.exporters != 0)
        __atomic_store_n(&rep_prepare_unwaited, true, __ATOMIC_RELAXED);
}

/* On the program's thread, export mutex held, no reporter thread with an
 * fd table of its own: the span file opened for job, which writes to it
 * (rep_flush_locked, rep_write_metrics_locked), and closed again, so that
 * the program's fd table is as it was (kept open for a reporter thread
 * that is up and shares the table: TRACESHIM_OWN_FD_TABLE=0; one that
 * leaves it closes the program's copy as it does). False, job not run,
 * when the span file is a special file (a FIFO, whose open would wait for
 * a reader): that is for a reporter thread, never for this one. Any other
 * failure to open it (a symbolic link, a directory) is the job's to
 * report, here, with the line a reporter thread would write (in a signal
 * handler none can start to say it), and the other exporters' work is
 * done. */
static bool rep_here_locked(void (*job)(const void *arg), const void *arg)
{
    bool file = TS_EXPORTS(&ts_cfg, TS_EXPORTER_FILE);
    if (file && ts_file_export_open_here() != 0 && errno == ENXIO) {
        ts_file_export_end_here(false);
        return false;
    }
    job(arg);
    if (file)
        ts_file_export_end_here(__atomic_load_n(&ts_rep_thread_started, __ATOMIC_RELAXED) &&
                                __atomic_load_n(&rep_file_tried, __ATOMIC_ACQUIRE));
    return true;
}

/* After rep_here_locked refused a span file that is a special file:
 * the reporter thread, started now if it was not (the last span did not
 * start it: ts_rep_submit_last), is to write it. False when there is none
 * and none can start: the job is not done (never by an open that could
 * wait for good on the program's thread). */
static bool rep_thread_for_the_file(void)
{
    if (!__atomic_load_n(&ts_rep_thread_started, __ATOMIC_RELAXED))
        (void)rep_start_thread_once();
    return __atomic_load_n(&ts_rep_thread_started, __ATOMIC_RELAXED);
}

/* rep_here_locked from a signal handler, or from _exit or an exec that
 * may be in one, in a process with no reporter thread to hand the job
 * to: a process whose only span is its process span, with the span file
 * as its only exporter (rep_may_write_here; `traceshim run sleep 10`
 * and a Ctrl-C). The handler may have interrupted malloc on this very
 * thread: the export mutex is only tried, and no buffer comes from
 * malloc (json_buf.h ts_json_buf_without_malloc). False, job not done,
 * when it cannot be done so. */
static bool rep_here_signal_safe(void (*job)(const void *arg), const void *arg)
{
    if (!rep_may_write_here() || ts_fd_split_done() || pthread_mutex_trylock(&rep_export_mu) != 0)
        return false;
    ts_json_buf_without_malloc(true);
    bool done = rep_here_locked(job, arg);
    ts_json_buf_without_malloc(false);
    pthread_mutex_unlock(&rep_export_mu);
    return done;
}

struct rep_flush_job {
    const struct timespec *deadline;
    uint64_t deadline_ms;
};

static void rep_flush_job(const void *arg)
{
    const struct rep_flush_job *f = arg;
    if (!__atomic_load_n(&rep_held, __ATOMIC_ACQUIRE)) /* (see ts_rep_hold) */
        rep_flush_locked(f->deadline, f->deadline_ms);
}

static void rep_metrics_job(const void *arg)
{
    if (!__atomic_load_n(&rep_held, __ATOMIC_ACQUIRE))
        rep_write_metrics_locked(arg);
}

/* ts_rep_flush, by the deadline (CLOCK_REALTIME, as
 * pthread_mutex_timedlock measures it; deadline_ms on ts_mono_ms): true
 * when everything queued went out in time. signal_safe (_exit, maybe in a
 * signal handler that interrupted malloc): only handed over to a reporter
 * thread that runs, whatever its fd table; nothing is encoded here, and
 * without that thread nothing is flushed. */
static bool rep_flush(const struct timespec *deadline, uint64_t deadline_ms, bool signal_safe)
{
    /* Nothing exported, nothing to flush: a thread started only for the
     * remote sampler's poll is not waited for (a poll of an agent that
     * does not answer held each exit up to a second). */
    if (ts_cfg.exporters == 0)
        return true;
    if (__atomic_load_n(&rep_held, __ATOMIC_ACQUIRE))
        return false; /* (ts_rep_hold) */
    size_t pending = ts_rep_queue_count(&rep_q);
    bool flushed = true;
    bool running = __atomic_load_n(&ts_rep_thread_started, __ATOMIC_RELAXED);
    /* The export lock first, also when the queue looks empty: the reporter
     * thread may have taken the last spans out of the queue and still be
     * writing them, and "flushed" must mean they are out (a program that
     * exits next would cut that export short). */
    if (signal_safe && (pending > 0 || running)) {
        struct rep_flush_job job = {deadline, deadline_ms};
        flushed = running ? rep_hand_over(REP_JOB_FLUSH, NULL, deadline, deadline_ms)
                          : rep_here_signal_safe(rep_flush_job, &job);
        if (!flushed)
            ts_log_debug("flush at _exit or exec: %s, %zu span%s not flushed",
                         running ? "the reporter thread did not finish in time"
                                 : "no reporter thread",
                         ts_rep_queue_count(&rep_q), ts_rep_queue_count(&rep_q) == 1 ? "" : "s");
    } else if (pending > 0 || running) {
        /* A thread started a moment ago (a process's first span does not
         * wait for it: ts_rep_before_giving_up_access) is let leave the
         * program's fd table and try the span file first: this thread
         * would otherwise take the export lock before it and open the
         * file itself, and a span file that holds its opener (a FIFO
         * nobody reads yet) would hold the program at its exit for good. */
        rep_wait_thread_ready(deadline_ms);
        bool hand_over = ts_fd_split_done();
        if (!hand_over && pthread_mutex_timedlock(&rep_export_mu, deadline) == 0) {
            /* Split meanwhile: the exporters' fds are the thread's now. */
            struct rep_flush_job job = {deadline, deadline_ms};
            bool split = ts_fd_split_done();
            bool refused = !split && !rep_here_locked(rep_flush_job, &job);
            hand_over = split || refused;
            pthread_mutex_unlock(&rep_export_mu);
            if (refused && !rep_thread_for_the_file()) {
                hand_over = false;
                flushed = false;
            }
        } else if (!hand_over) {
            flushed = false;
        }
        if (hand_over)
            flushed = rep_hand_over(REP_JOB_FLUSH, NULL, deadline, deadline_ms);
        if (!flushed)
            ts_log_debug("flush: export still busy at the deadline, %zu span%s not flushed",
                         ts_rep_queue_count(&rep_q), ts_rep_queue_count(&rep_q) == 1 ? "" : "s");
    }
    return flushed;
}

static void rep_flush_now(unsigned timeout_ms, bool signal_safe)
{
    int saved_errno = errno;
    /* A pid that is not ours means a vfork child (an exec hook runs there,
     * sharing the parent's memory: no locks, no allocation) or a child made
     * without the fork handlers (raw clone): leave the state alone. */
    if (ts_proc.pid != 0 && getpid() != ts_proc.pid)
        return;
    ts_guard_enter();
    struct timespec deadline = rep_deadline(CLOCK_REALTIME, timeout_ms);
    ts_exp_hurry(true); /* a parked batch not due is given up: the flush waits */
    (void)rep_flush(&deadline, ts_mono_ms() + timeout_ms, signal_safe);
    ts_exp_hurry(false);
    ts_guard_leave();
    errno = saved_errno;
}

void ts_rep_flush(unsigned timeout_ms)
{
    rep_flush_now(timeout_ms, false);
}

void ts_rep_flush_signal_safe(unsigned timeout_ms)
{
    rep_flush_now(timeout_ms, true);
}

/* TRACESHIM_STATS with the file exporter: the counters as one OTLP/JSON
 * metrics line after the spans (export mutex held). */
static void rep_write_metrics_locked(const struct ts_stats_snapshot *snap)
{
    /* Into a FIFO, where another process's line can come between the
     * pieces of a line longer than PIPE_BUF: a line a metric, each well
     * under it with a resource of common size. */
    size_t all = ts_otlp_metrics_count();
    size_t per_line = ts_file_export_whole_line_max() ? 1 : all;
    uint64_t start_ns = ts_stats_start_ns(), now_ns = ts_now_ns();
    struct ts_json_buf line;
    ts_json_buf_init(&line);
    for (size_t first = 0; first < all; first += per_line) {
        ts_json_buf_reset(&line);
        if (!ts_otlp_metrics_json_some(&line, snap, start_ns, now_ns, first, per_line) ||
            ts_file_export(line.data, line.len) != 0) /* reports its own first failure */
            break;
    }
    ts_json_buf_free(&line);
}

/* The stats line at exit, after a flush that was done in time (flushed),
 * within the flush's deadline: when the flush gave up on an export that is
 * still running, the line is left out rather than hold the exit up any
 * longer. With the reporter's own fd table the line is written there;
 * else here, once the export mutex is free: a reporter thread that shares
 * the table may hold it a moment, looking at a queue the flush emptied
 * (a try of the lock lost the line about one exit in eight under TSan).
 * signal_safe: only there (see rep_flush). */
static void rep_write_metrics(const struct ts_stats_snapshot *snap, bool flushed,
                              const struct timespec *deadline, uint64_t deadline_ms,
                              bool signal_safe)
{
    bool written = false, refused_here = false;
    if (flushed && !signal_safe && !ts_fd_split_done() &&
        pthread_mutex_timedlock(&rep_export_mu, deadline) == 0) {
        /* Split meanwhile: the span file is the thread's now. */
        if (!ts_fd_split_done()) {
            written = rep_here_locked(rep_metrics_job, snap);
            refused_here = !written; /* a FIFO: for the thread */
        }
        pthread_mutex_unlock(&rep_export_mu);
    }
    if (flushed && signal_safe && !__atomic_load_n(&ts_rep_thread_started, __ATOMIC_RELAXED))
        written = rep_here_signal_safe(rep_metrics_job, snap);
    bool thread_writes = signal_safe    ? __atomic_load_n(&ts_rep_thread_started, __ATOMIC_RELAXED)
                         : refused_here ? rep_thread_for_the_file()
                                        : ts_fd_split_done();
    if (flushed && !written && thread_writes)
        written = rep_hand_over(REP_JOB_METRICS, snap, deadline, deadline_ms);
    if (!written)
        ts_log_debug("stats: an export is still running at exit, or no reporter thread at "
                     "_exit; no metrics line");
}

/* How long the exit waits for the queue's mutex to count what its flush
 * left: the mutex is held for short copies only. */
#define REP_EXIT_COUNT_LOCK_MS 10u

/* At exit, once the flush is over or given up: the spans it left, still
 * queued or taken by an exporter and not counted (exporters.h
 * ts_exp_count_at_exit, which also counts what went out since the exit's
 * last count), made what dropped_exit_timeout says in place of what the
 * last count left: those of its spans that went out since are exported
 * (or failed) now. Read under the queue's mutex, under which the reporter
 * takes spans and hands them to the exporters, so that a span it takes
 * meanwhile is in one of the two, and so that two counts (an _exit beside
 * an exit) replace each other in the order they counted; not from a
 * signal handler (signal_safe), whose interrupted code may hold it. */
static uint64_t rep_left_at_exit(bool signal_safe)
{
    struct timespec soon = rep_deadline(CLOCK_REALTIME, REP_EXIT_COUNT_LOCK_MS);
    bool locked = !signal_safe && ts_rep_queue_lock(&rep_q, &soon);
    uint64_t left = ts_exp_count_at_exit() + ts_rep_queue_count(&rep_q);
    uint64_t was_left = __atomic_exchange_n(&rep_exit_count.left, left, __ATOMIC_RELAXED);
    /* (fewer left: the unsigned add takes the difference away) */
    ts_stats_add(TS_STAT_DROPPED_EXIT_TIMEOUT, left - was_left);
    if (locked)
        ts_rep_queue_unlock(&rep_q);
    return left;
}

bool ts_rep_spans_began_since_exit(void)
{
    /* (never counted: a child forked since its parent's count, which
     * counts from zero) */
    uint64_t at = __atomic_load_n(&rep_exit_count.reported_at, __ATOMIC_RELAXED);
    return ts_stats_get(TS_STAT_SPANS_STARTED) + 1 != (at ? at : 1);
}

/* ts_rep_exit, and ts_rep_exit_signal_safe when signal_safe. */
static void rep_exit(unsigned timeout_ms, bool signal_safe)
{
    if ((ts_proc.pid != 0 && getpid() != ts_proc.pid) ||
        __atomic_load_n(&rep_held, __ATOMIC_ACQUIRE))
        return;
    ts_exp_final();
    int saved_errno = errno;
    ts_guard_enter();
    /* One deadline for the flush and the stats line. */
    struct timespec deadline = rep_deadline(CLOCK_REALTIME, timeout_ms);
    uint64_t deadline_ms = ts_mono_ms() + timeout_ms;
    bool flushed = rep_flush(&deadline, deadline_ms, signal_safe);
    ts_guard_leave();
    errno = saved_errno;
    uint64_t at = ts_stats_get(TS_STAT_SPANS_STARTED) + 1;
    uint64_t was = __atomic_load_n(&rep_exit_count.reported_at, __ATOMIC_RELAXED);
    if (was == at || !__atomic_compare_exchange_n(&rep_exit_count.reported_at, &was, at, false,
                                                  __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        return;
    uint64_t left = rep_left_at_exit(signal_safe);
    uint64_t full = ts_stats_get(TS_STAT_DROPPED_QUEUE_FULL);
    uint64_t failed = ts_stats_get(TS_STAT_DROPPED_EXPORT_FAILED);
    if (ts_cfg.stats) {
        struct ts_stats_snapshot snap;
        ts_stats_read(&snap);
        snap.queue_length = left;
        if (TS_EXPORTS(&ts_cfg, TS_EXPORTER_FILE)) {
            saved_errno = errno; /* the program's: an exit handler after this may read it */
            rep_write_metrics(&snap, flushed, &deadline, deadline_ms, signal_safe);
            errno = saved_errno;
        }
        ts_stats_print(&snap);
    }
    if (full + failed + left > 0)
        ts_log_warn("%llu span%s not exported: %llu dropped on a full queue, %llu failed or "
                    "refused by the backend, %llu still queued or being sent at exit",
                    (unsigned long long)(full + failed + left),
                    full + failed + left == 1 ? "" : "s", (unsigned long long)full,
                    (unsigned long long)failed, (unsigned long long)left);
}

void ts_rep_exit(unsigned timeout_ms)
{
    rep_exit(timeout_ms, false);
}

void ts_rep_exit_signal_safe(unsigned timeout_ms)
{
    rep_exit(timeout_ms, true);
}

void ts_rep_wait_interrupted_flush(void)
{
    if (!ts_process_foreign())
        (void)ts_handover_wait_interrupted();
}

void ts_rep_hold(unsigned timeout_ms)
{
    __atomic_store_n(&rep_held, true, __ATOMIC_SEQ_CST);
    /* An export that began before (under the export mutex) ends first. */
    struct timespec deadline = rep_deadline(CLOCK_REALTIME, timeout_ms);
    if (pthread_mutex_timedlock(&rep_export_mu, &deadline) == 0)
        pthread_mutex_unlock(&rep_export_mu);
}

pid_t ts_rep_thread_id(void)
{
    return __atomic_load_n(&rep_thread_tid, __ATOMIC_RELAXED);
}

uint64_t ts_rep_dropped(void)
{
    return ts_stats_get(TS_STAT_DROPPED_QUEUE_FULL) + ts_stats_get(TS_STAT_DROPPED_EXPORT_FAILED);
}

uint64_t ts_rep_exported(void)
{
    return ts_stats_get(TS_STAT_SPANS_EXPORTED);
}

struct ts_rep_queue *ts_rep_the_queue(void)
{
    return &rep_q;
}

uint64_t ts_rep_queued(void)
{
    return ts_rep_queue_count(&rep_q) + __atomic_load_n(&rep_open, __ATOMIC_RELAXED);
}

/* ----------------------------------------------------------------- fork */

/* Prepare: the queue mutex is held only for short copies, so taking it
 * costs the forking thread microseconds and leaves the ring consistent in
 * the child. The export mutex is only tried, never waited for: an export
 * may take long (a network exporter up to its timeout) and fork must not
 * stall the application for it. The child re-creates both mutexes anyway;
 * when the try failed, an export was in flight at the fork, so the child
 * also abandons the export-side state that may be half-updated. */
TS_FORK_HANDLER void ts_rep_atfork_prepare(void)
{
    ts_rep_queue_fork_prepare(&rep_q); /* its mutex and its record pools' */
    ts_stats_fork_prepare();           /* under that mutex: two threads may fork at once */
    rep_fork_have_export_mu = pthread_mutex_trylock(&rep_export_mu) == 0;
}

TS_FORK_HANDLER void ts_rep_atfork_parent(void)
{
    if (rep_fork_have_export_mu)
        pthread_mutex_unlock(&rep_export_mu);
    ts_rep_queue_fork_parent(&rep_q);
}

TS_FORK_HANDLER void ts_rep_atfork_child(void)
{
    /* A new process: its counters, the hooks' too, start at zero (and its
     * exit is its own to report). Here because this is the handler that
     * every process that can fork runs, the reporter's own tests too. */
    ts_stats_after_fork();
    __atomic_store_n(&rep_thread_tid, 0, __ATOMIC_RELAXED); /* (none in the child) */
    ts_own_fd_after_fork(); /* no thread of ours is inside a call on our fds */
    ts_program_stderr_after_fork(); /* a reader of its parent's stderr must not wait for it */
    __atomic_store_n(&rep_exit_count.reported_at, 0, __ATOMIC_RELAXED);
    TS_FORK_RESET(&rep_exit_count.left, 0);
    ts_rep_queue_after_fork(&rep_q); /* empty, records freed: the parent exports those spans */
    pthread_mutex_init(&rep_export_mu, NULL);
    /* The exporters' fds were in the parent's reporter thread's own table
     * (fd_split.h) or in the one this child copied. */
    ts_exp_after_fork_child(!rep_fork_have_export_mu, ts_fd_split_done());
    ts_fd_split_after_fork();
    ts_handover_after_fork(&rep_handover);
    rep_open = 0; /* the open batch is the parent's to send */
    ts_sampling_poller_after_fork();
    __atomic_store_n(&ts_rep_thread_started, false,
                     __ATOMIC_RELAXED); /* the thread did not survive the fork */
    TS_FORK_RESET(&rep_thread_creating, false);
    ts_rep_thread_asked = false; /* (the forking thread's): the child's own spans ask again */
    TS_FORK_RESET(&rep_batch_now, false);
    TS_FORK_RESET(&rep_unbatched_by_waiter, false);
    TS_FORK_RESET(&rep_access_until_ms, 0); /* the child's thread, when it starts, is its own */
    __atomic_store_n(&rep_file_tried, 0, __ATOMIC_RELAXED);
    rep_thread_retry_ms = 0;
    __atomic_store_n(&rep_prepared, false, __ATOMIC_RELAXED); /* this pid's resource is new */
    __atomic_store_n(&rep_prepare_waited, false, __ATOMIC_RELAXED);
}
