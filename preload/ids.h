/* ids.h — random trace and span ids.
 *
 * One generator per thread (no lock on the hot path), seeded from
 * getrandom; after fork the child reseeds, so two processes never produce
 * the same ids. Ids are never all zero. */
#ifndef TS_IDS_H
#define TS_IDS_H

#include <stdint.h>

#include "span.h"

void ts_ids_new_trace(uint8_t out[TS_TRACE_ID_LEN]);
void ts_ids_new_span(uint8_t out[TS_SPAN_ID_LEN]);
/* Both ids of a root span in one call: the same draws, in the same order,
 * as ts_ids_new_trace then ts_ids_new_span. */
void ts_ids_new_trace_and_span(uint8_t trace[TS_TRACE_ID_LEN], uint8_t span[TS_SPAN_ID_LEN]);

/* In the child after fork: every thread's generator reseeds on next use. */
void ts_ids_after_fork(void);

#endif
