/* otlp_json.h — spans as one OTLP/JSON ExportTraceServiceRequest, the line
 * format of the OpenTelemetry Collector's file exporter: ids as lower-case
 * hex, 64-bit integers as strings, enums as numbers. */
#ifndef TS_OTLP_JSON_H
#define TS_OTLP_JSON_H

#include <stddef.h>

#include "../preload/span.h"
#include "json_buf.h"

/* Append one request holding spans[0..n) and this process's resource
 * (ts_proc, OTEL_RESOURCE_ATTRIBUTES) to out. No newline is written. */
void ts_otlp_json_encode(struct ts_json_buf *out, const struct ts_span *spans, size_t n);

#endif
