/* reporter.h — from finished spans to the configured exporter.
 *
 * Spans are copied into a bounded queue that never blocks the caller; a
 * reporter thread, started on the first submitted span, batches and exports
 * them. The reporter thread holds the reentrancy guard for its whole life,
 * so nothing it does is traced. */
#ifndef TS_REPORTER_H
#define TS_REPORTER_H

#include <stdbool.h>
#include <stdint.h>

#include "../preload/span.h"

/* Queue a finished span. Never blocks: when the queue is full the span is
 * dropped and counted. Spans with sampled == 0 are ignored. */
void ts_rep_submit(const struct ts_span *s);

/* Export everything queued so far, waiting at most timeout_ms. Called at
 * normal exit and before exec. Safe to call when nothing was ever queued. */
void ts_rep_flush(unsigned timeout_ms);

/* Counters (for tests and `stats`). */
uint64_t ts_rep_dropped(void);
uint64_t ts_rep_exported(void);

/* Fork handling, registered by preload/ with pthread_atfork. In the child:
 * queue emptied (the parent exports those spans), locks re-initialised, no
 * reporter thread until the next span. */
void ts_rep_atfork_prepare(void);
void ts_rep_atfork_parent(void);
void ts_rep_atfork_child(void);

#endif
