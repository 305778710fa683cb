/* exporters.h — the configured exporters (TRACESHIM_EXPORTER), fed one
 * span at a time and sent one batch at a time.
 *
 *   file     OTLP/JSON lines appended to the span file
 *   console  one readable line per span on stderr
 *   otlp     POST /v1/traces, protobuf or JSON
 *   zipkin   POST of a Zipkin v2 JSON list
 *   jaeger   Agent.emitBatch, thrift compact, UDP datagrams <= 65000 bytes
 *
 * Each exporter keeps its own pending batch and cuts it where its
 * transport's size limit says. Network sends retry on connection failures
 * and on 429/502/503/504 with exponential backoff (Retry-After honoured),
 * never past the deadline they are given, the failed batch parked between
 * attempts (ts_exp_send): one exporter's backend that is down holds up
 * neither the others nor the queue. What is delivered, given up on
 * and every failed attempt are counted (preload/stats.h). Not thread-safe:
 * the reporter calls in under its export mutex, from its own thread or a
 * flush. */
#ifndef TS_EXPORTERS_H
#define TS_EXPORTERS_H

#include <stdbool.h>
#include <stdint.h>

#include "../preload/span.h"

/* n spans taken from the queue are on their way to ts_exp_add: from now
 * on they are the exporters' to count (ts_exp_count_at_exit). Every
 * span given to ts_exp_add is taken so first. */
void ts_exp_take(size_t n);

/* Add a span to every configured exporter's batch; a batch that would pass
 * its size limit is sent first (before deadline_ms, ts_mono_ms clock). */
void ts_exp_add(const struct ts_span *s, uint64_t deadline_ms);

/* Ready every configured exporter (export mutex held, on the reporter
 * thread, when reporter.h ts_rep_prepare_for_handlers asks): the resource
 * (host name, addresses) is looked up, each encoder's kept pieces made and each
 * buffer reserved, so that a flush of a few spans to a local file, an
 * address literal or "localhost" allocates nothing. A flush handed over
 * from a signal handler that interrupted malloc needs that: the
 * interrupted thread may hold a lock the allocator shares between threads
 * (a sanitizer's; glibc's arenas are mostly per thread). */
void ts_exp_prepare(void);

/* Send every pending batch, giving up at deadline_ms. A batch whose send
 * failed in a way that may pass (no connection, 429, 502, 503, 504, a
 * timeout) is parked for its next attempt, with exponential backoff from
 * 100 ms to 5 s (Retry-After honoured), at most 6 attempts, none after
 * its deadline: the other exporters go on meanwhile; the exporter's next
 * batch waits for it (and holds at most OTEL_BSP_MAX_EXPORT_BATCH_SIZE
 * spans; more are dropped, counted). During a flush (ts_exp_hurry) or at
 * exit, a parked batch gets one attempt at once. */
void ts_exp_send(uint64_t deadline_ms);
/* The parked batches' attempts that are due (export mutex held). */
void ts_exp_retry_due(uint64_t deadline_ms);
/* When the first parked batch's next attempt is due (ts_mono_ms), 0 when
 * none is parked: the reporter's sleep ends by then. */
uint64_t ts_exp_next_retry_ms(void);

/* The process is exiting: from now on each batch gets one attempt, with
 * no backoff waits, so that a backend that is down never delays the exit
 * (what fails is counted). A parked batch whose next attempt is not due
 * yet is given up. */
void ts_exp_final(void);

/* The same while a flush waits for the export (on: it starts; off: it is
 * over; flushes may overlap): an exec's, which a backend that is down
 * must not hold up either. Async-signal-safe. */
void ts_exp_hurry(bool on);

/* At exit, once the flush is over or given up: the spans the exporters
 * took and have not counted as exported or dropped (in a batch not sent,
 * a parked one, or a send still under way; one per exporter that took
 * the span, as those counts go), which the exit counts as
 * dropped_exit_timeout. From then on the exporters' counts wait for the
 * exit's next count (a second stats line: reporter.h ts_rep_exit), which
 * moves them to the counters and returns what they hold then: a send that
 * ends after a count is not exported in its line as well, and a span
 * that goes out between two counts (held at the first, or taken since)
 * is exported in the second. Async-signal-safe; no lock needed (an
 * export may be running on the reporter thread). */
uint64_t ts_exp_count_at_exit(void);

/* Close every connection and the span file (export mutex held): before
 * the reporter thread leaves the program's fd table (preload/fd_split.h),
 * it lets go of what was opened in it. Each is opened again when used. */
void ts_exp_close_fds(void);

/* In a forked child. export_was_busy: the parent was exporting at the
 * fork, so buffers and connections may be half-updated: forget them (never
 * free or close what the parent may still be using). fds_elsewhere: the
 * exporters' fds were in the parent's reporter thread's own table, not in
 * the one the child copied: forgotten too. */
void ts_exp_after_fork_child(bool export_was_busy, bool fds_elsewhere);

#endif
