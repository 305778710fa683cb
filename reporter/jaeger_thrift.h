/* jaeger_thrift.h — Jaeger's agent protocol: an Agent.emitBatch(Batch)
 * oneway call in thrift's compact protocol, one per UDP datagram. The
 * Batch's Process is the resource of reporter/resource.h. */
#ifndef TS_JAEGER_THRIFT_H
#define TS_JAEGER_THRIFT_H

#include "encoder.h"

/* The largest datagram the reporter sends to the agent. */
#define TS_JAEGER_MAX_DATAGRAM 65000

void ts_jaeger_thrift_span(struct ts_json_buf *spans, const struct ts_span *s, bool first);
size_t ts_jaeger_thrift_bound(size_t spans_len, size_t nspans);
void ts_jaeger_thrift_finish(struct ts_json_buf *out, const char *spans, size_t spans_len,
                             size_t nspans);

#endif
