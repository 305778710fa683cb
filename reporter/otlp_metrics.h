/* otlp_metrics.h — the shim's own counters (preload/stats.h) as one OTLP/JSON
 * ExportMetricsServiceRequest: the line TRACESHIM_STATS=1 appends to the
 * span file at exit, next to the span lines, so that a collector's file
 * receiver takes in both.
 *
 * Shape (opentelemetry-proto metrics.proto, protobuf JSON mapping: field
 * names in lowerCamelCase, 64-bit integers as decimal strings, enums as
 * integers):
 *
 *   {"resourceMetrics":[{"resource":{"attributes":[...the spans' resource...]},
 *     "scopeMetrics":[{"scope":{"name":"traceshim","version":V},"metrics":[
 *       {"name":"traceshim.spans.started","description":...,"unit":"{span}",
 *        "sum":{"dataPoints":[{"startTimeUnixNano":S,"timeUnixNano":T,"asInt":"N"}],
 *               "aggregationTemporality":2,"isMonotonic":true}},
 *       ...
 *       {"name":"traceshim.spans.dropped",...,"sum":{"dataPoints":[
 *          {"attributes":[{"key":"reason","value":{"stringValue":"queue_full"}}],...},
 *          ...export_failed, exit_timeout...]}},
 *       {"name":"traceshim.queue.length",...,"gauge":{"dataPoints":[{"timeUnixNano":T,"asInt":"N"}]}},
 *       ...]}]}]}
 *
 * Every counter is a cumulative (aggregationTemporality 2), monotonic Sum
 * from S (when counting began: start-up or fork) to T (now); the dropped
 * spans and the connections given up are one Sum each with a data point per
 * `reason`. The queue length is a Gauge. Metric names, units and reasons
 * are listed in otlp_metrics.c. */
#ifndef TS_OTLP_METRICS_H
#define TS_OTLP_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../preload/stats.h"
#include "json_buf.h"

/* Append the request for snapshot s, its sums starting at start_ns and
 * every point taken at now_ns, with this process's resource (so: under the
 * reporter's export mutex, like every resource user). No newline. Returns
 * false when out has failed (out of memory). */
bool ts_otlp_metrics_json(struct ts_json_buf *out, const struct ts_stats_snapshot *s,
                          uint64_t start_ns, uint64_t now_ns);

/* How many metrics the request has. */
size_t ts_otlp_metrics_count(void);

/* The same request with only the metrics first .. first + count - 1 (as
 * many of them as there are), for lines that must stay short: each
 * metric's points are whole in one request. */
bool ts_otlp_metrics_json_some(struct ts_json_buf *out, const struct ts_stats_snapshot *s,
                               uint64_t start_ns, uint64_t now_ns, size_t first, size_t count);

#endif
