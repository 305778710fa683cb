/* jaeger_thrift.h — Jaeger's agent protocol: an Agent.emitBatch(Batch)
 * oneway call in thrift's compact protocol, one per UDP datagram. The
 * Batch's Process is the resource of reporter/resource.h. */
#ifndef TS_JAEGER_THRIFT_H
#define TS_JAEGER_THRIFT_H

#include "encoder.h"

/* The largest datagram the reporter sends to the agent. */
#define TS_JAEGER_MAX_DATAGRAM 65000

/* Append s as one jaeger.Span struct (an element of Batch.spans, no
 * separator: first is not needed). Strings are clamped to the span's
 * buffer and made valid UTF-8. */
void ts_jaeger_thrift_span(struct ts_json_buf *spans, const struct ts_span *s, bool first);

/* finish()'s size for these span bytes: exact but for Batch.seqNo, which
 * is counted at its longest varint. */
size_t ts_jaeger_thrift_bound(size_t spans_len, size_t nspans);

/* Append the whole datagram: message header (oneway, seqid 0), the Batch
 * with this process's Process (cached per resource) and the spans, and
 * Batch.seqNo, a counter per process (starting at 1 again after fork). */
void ts_jaeger_thrift_finish(struct ts_json_buf *out, const char *spans, size_t spans_len,
                             size_t nspans);

#endif
