/* otlp_json.h — encodes spans as one OTLP/JSON ExportTraceServiceRequest,
 * the line format of the OpenTelemetry Collector's file exporter (protobuf
 * JSON mapping: ids as lower-case hex strings, 64-bit integers as decimal
 * strings, enums as integers). The output is valid JSON whatever bytes the
 * spans hold, and contains no newline. */
#ifndef TS_OTLP_JSON_H
#define TS_OTLP_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include "../preload/span.h"
#include "json_buf.h"

/* Append one request holding spans[0..n) and this process's resource
 * (ts_proc, ts_cfg.resource_attrs) to out. Returns false when out has
 * failed (out of memory): the output is then incomplete. */
bool ts_otlp_json_encode(struct ts_json_buf *out, const struct ts_span *spans, size_t n);

/* The same request built piecewise, for callers that add spans one at a
 * time and split long batches (the reporter): begin writes everything up to
 * the span list, span appends one span (first: no comma before it), end
 * closes the request. */
void ts_otlp_json_begin(struct ts_json_buf *out);
void ts_otlp_json_span(struct ts_json_buf *out, const struct ts_span *s, bool first);
void ts_otlp_json_end(struct ts_json_buf *out);

/* This process's resource as an OTLP/JSON Resource object,
 * {"attributes":[...]}: the one every OTLP/JSON message of the process
 * carries (spans, and the shim's own metrics). */
void ts_otlp_json_resource(struct ts_json_buf *out);

#endif
