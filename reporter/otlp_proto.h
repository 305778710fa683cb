/* otlp_proto.h — OTLP protobuf encoding of spans: an
 * opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest holding
 * one ResourceSpans (the resource of reporter/resource.h) with one
 * ScopeSpans (scope "traceshim", the version). The body of an OTLP/HTTP
 * POST with Content-Type application/x-protobuf. */
#ifndef TS_OTLP_PROTO_H
#define TS_OTLP_PROTO_H

#include "encoder.h"

/* ts_encoder_otlp_proto (encoder.h) is the interface; these are its parts. */
void ts_otlp_proto_span(struct ts_json_buf *spans, const struct ts_span *s, bool first);
size_t ts_otlp_proto_bound(size_t spans_len, size_t nspans);
void ts_otlp_proto_finish(struct ts_json_buf *out, const char *spans, size_t spans_len,
                          size_t nspans);

#endif
