/* stats.h — the process's own counters (self-telemetry): how many spans the
 * shim started, finished, exported and lost, how many header bytes it
 * added, how many connections it followed and why it stopped following
 * some. TRACESHIM_STATS=1 prints them as one line on stderr at exit and, with
 * the file exporter, appends them to the span file as OTLP/JSON metrics.
 *
 * A counter is a uint64_t bumped with one relaxed atomic add: no lock, no
 * call, safe in a signal handler and on every hot path. The counters are
 * totals since the process started (a forked child starts again at zero:
 * ts_stats_after_fork). Each thing is counted in exactly one place.
 *
 * What each counter means, by its stable key (the stderr line's name):
 *
 *   spans_started         spans begun: a client span when a request head is set
 *                         up to go out (a head the kernel refused whole, sent
 *                         again by the program, begins again), a server span
 *                         when a request head has been read, the process span
 *   spans_finished        spans ended and handed to the reporter, sampled or
 *                         not. started - finished = spans still open, or
 *                         abandoned (a forked child's inherited ones, a
 *                         pipeline past 16 requests)
 *   sampled, unsampled    finished spans by the final sampling decision (the
 *                         sampler's, or the program's own "not sampled");
 *                         sampled + unsampled = spans_finished
 *   exported              spans an exporter delivered (summed over exporters:
 *                         with two exporters a span counts twice)
 *   dropped_queue_full    sampled spans lost because the queue
 *                         (OTEL_BSP_MAX_QUEUE_SIZE) was full (or its memory
 *                         could not be allocated), or whose place in it was
 *                         never filled (its thread left mid-hand-over)
 *   dropped_export_failed spans an exporter gave up on: the backend failed or
 *                         refused after the retries, or a span too large for
 *                         one message (summed over exporters); and the spans
 *                         an OTLP receiver rejected in an answer that took
 *                         the rest of the batch (its partial success)
 *   dropped_exit_timeout  spans not sent when the flush at exit ended: it
 *                         ran out of TRACESHIM_EXIT_TIMEOUT (or they were
 *                         queued by another thread after it). Those still
 *                         queued, and those an exporter held (a batch not
 *                         sent, a send still running: once per exporter,
 *                         as exported counts). Not a total: a second count
 *                         at exit (spans began after the first) puts what
 *                         its flush left in place of what the first's left
 *   export_errors         export attempts that failed: every HTTP request
 *                         without a 2xx answer (each retry counts), every
 *                         datagram the Jaeger agent's socket refused, every
 *                         failed write to the span file
 *   bytes_injected        bytes of trace header lines added to request heads
 *                         that went out on the wire (ids rewritten in place in
 *                         a forwarded context are not added bytes)
 *   conns_tracked         TCP connections the shim began to follow (connect,
 *                         accept)
 *   conns_given_up        tracked connections it stopped following, the sum of
 *                         the reasons below, each connection counted once, by
 *                         the first reason:
 *     not_http            its bytes do not start like HTTP/1.x (TLS, Redis...)
 *     bad_head            a head that starts like HTTP/1.x does not parse
 *                         (malformed line, more than 100 headers)
 *     head_too_big        a head longer than TRACESHIM_MAX_HEAD_BYTES
 *     bad_framing         a message whose length cannot be followed (bad
 *                         Content-Length / Transfer-Encoding, bad chunk size)
 *     tunnel              CONNECT answered 2xx, or 101 Switching Protocols
 *     unseen_bytes        bytes sent where the shim did not see or rewrite
 *                         them: sendfile/splice outside a body of known
 *                         length, a send with a control message, a head
 *                         whose sendmsg a filter refused
 *     no_memory           an allocation for the connection failed
 *     too_many_in_flight  more requests in flight on it than the 16 it keeps
 *                         spans for (pipelining)
 *     fd_out_of_range     its fd number is past the fd table (2^20)
 *
 * After a normal exit, with one exporter:
 *   sampled = exported + dropped_queue_full + dropped_export_failed
 *             + dropped_exit_timeout
 * (a send still running when the flush at exit gives up counts its spans
 * as dropped_exit_timeout, and as exported only in a later count, should
 * it end before one: exporters.h ts_exp_count_at_exit); with exporter
 * `none`, sampled spans are neither exported nor dropped.
 *
 * queue_length is not a counter but a gauge: spans waiting in the queue
 * when the line is written (at exit: the spans counted as
 * dropped_exit_timeout, else 0). The reporter fills it in. */
#ifndef TS_STATS_H
#define TS_STATS_H

#include <stddef.h>
#include <stdint.h>

enum ts_stat {
    TS_STAT_SPANS_STARTED,
    TS_STAT_SPANS_FINISHED,
    TS_STAT_SPANS_SAMPLED,
    TS_STAT_SPANS_UNSAMPLED,
    TS_STAT_SPANS_EXPORTED,
    TS_STAT_DROPPED_QUEUE_FULL,
    TS_STAT_DROPPED_EXPORT_FAILED,
    TS_STAT_DROPPED_EXIT_TIMEOUT,
    TS_STAT_EXPORT_ERRORS,
    TS_STAT_BYTES_INJECTED,
    TS_STAT_CONNS_TRACKED,
    /* Why a tracked connection stopped being followed (conns_given_up is
     * their sum); keep them together and in this order. */
    TS_STAT_GAVE_UP_NOT_HTTP,
    TS_STAT_GAVE_UP_BAD_HEAD,
    TS_STAT_GAVE_UP_HEAD_TOO_BIG,
    TS_STAT_GAVE_UP_BAD_FRAMING,
    TS_STAT_GAVE_UP_TUNNEL,
    TS_STAT_GAVE_UP_UNSEEN_BYTES,
    TS_STAT_GAVE_UP_NO_MEMORY,
    TS_STAT_GAVE_UP_TOO_MANY_IN_FLIGHT,
    TS_STAT_GAVE_UP_FD_OUT_OF_RANGE,
    TS_STAT_GAVE_UP_EXEC,
    TS_STAT_COUNT
};

#define TS_STAT_GAVE_UP_FIRST TS_STAT_GAVE_UP_NOT_HTTP
#define TS_STAT_GAVE_UP_LAST TS_STAT_GAVE_UP_EXEC

/* The counters themselves: written only through ts_stats_add. */
extern uint64_t ts_stats_counters[TS_STAT_COUNT];

/* Count n more of `which`. One relaxed atomic add (async-signal-safe). */
static inline void ts_stats_add(enum ts_stat which, uint64_t n)
{
    __atomic_fetch_add(&ts_stats_counters[which], n, __ATOMIC_RELAXED);
}

/* Take one count of `which` back (a start undone). */
static inline void ts_stats_take_back(enum ts_stat which)
{
    __atomic_fetch_sub(&ts_stats_counters[which], 1, __ATOMIC_RELAXED);
}

/* The current value of one counter. */
static inline uint64_t ts_stats_get(enum ts_stat which)
{
    return __atomic_load_n(&ts_stats_counters[which], __ATOMIC_RELAXED);
}

/* Every counter at one moment (each read atomically; the set is not one
 * atomic snapshot, which totals do not need), plus the queue gauge. */
struct ts_stats_snapshot {
    uint64_t count[TS_STAT_COUNT];
    uint64_t queue_length; /* spans waiting in the queue: set by the reporter */
};

/* Read every counter into *out; queue_length is set to 0. */
void ts_stats_read(struct ts_stats_snapshot *out);

/* conns_given_up: the sum of the reasons. */
uint64_t ts_stats_given_up(const struct ts_stats_snapshot *s);

/* The stable short name of a counter, as on the stderr line:
 * "spans_started", ..., and for the reasons "not_http", "tunnel", ... */
const char *ts_stats_key(enum ts_stat which);

/* When counting began, in ns since the Unix epoch: the shim's start-up or
 * the fork that made this process (0 until ts_stats_mark_start). */
uint64_t ts_stats_start_ns(void);

/* Record now as the start of counting (called at init). */
void ts_stats_mark_start(void);

/* The summary line for process pid into out[cap], newline-terminated:
 *   traceshim[PID]: stats spans_started=N ... conns_given_up=N (not_http=N ...)
 * every key present, always in the same order. Returns its length (cut at
 * cap - 1, still newline-terminated; cap >= 2). */
size_t ts_stats_format_line(const struct ts_stats_snapshot *s, long pid, char *out, size_t cap);

/* Write the summary line of this process (ts_proc.pid) to stderr. */
void ts_stats_print(const struct ts_stats_snapshot *s);

/* Around fork: the parent notes the time before it forks; the forked
 * child sets every counter back to zero and counts from that time. */
void ts_stats_fork_prepare(void);
void ts_stats_after_fork(void);

#endif
