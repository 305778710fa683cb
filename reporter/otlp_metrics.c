/* otlp_metrics.c — the counters as OTLP/JSON metrics (see otlp_metrics.h). */
#include "otlp_metrics.h"

#include <string.h>

#include "otlp_json.h"

#ifndef TS_VERSION
#error "TS_VERSION must be defined by the build"
#endif

#define AGGREGATION_TEMPORALITY_CUMULATIVE "2" /* metrics.proto's enum value */

enum metric_kind {
    METRIC_COUNTER,   /* one monotonic Sum point: counter `first` */
    METRIC_BY_REASON, /* one monotonic Sum point per counter first..last, with a reason */
    METRIC_GAUGE,     /* one Gauge point: counter `first`, or the queue's length (TS_STAT_COUNT) */
};

struct metric {
    const char *name;
    const char *unit; /* UCUM, with {annotations} for counted things */
    const char *description;
    enum metric_kind kind;
    enum ts_stat first, last;
};

/* Names follow the stderr line's keys; never rename one, add new ones. */
static const struct metric metrics[] = {
    {"traceshim.spans.started", "{span}", "Spans begun: client, server and process spans",
     METRIC_COUNTER, TS_STAT_SPANS_STARTED, TS_STAT_SPANS_STARTED},
    {"traceshim.spans.finished", "{span}", "Spans ended and handed to the reporter", METRIC_COUNTER,
     TS_STAT_SPANS_FINISHED, TS_STAT_SPANS_FINISHED},
    {"traceshim.spans.sampled", "{span}", "Finished spans that were sampled", METRIC_COUNTER,
     TS_STAT_SPANS_SAMPLED, TS_STAT_SPANS_SAMPLED},
    {"traceshim.spans.unsampled", "{span}", "Finished spans that were not sampled", METRIC_COUNTER,
     TS_STAT_SPANS_UNSAMPLED, TS_STAT_SPANS_UNSAMPLED},
    {"traceshim.spans.exported", "{span}", "Spans an exporter delivered, summed over exporters",
     METRIC_COUNTER, TS_STAT_SPANS_EXPORTED, TS_STAT_SPANS_EXPORTED},
    /* Not exit_timeout: a later line's count of it can be lower (what went
     * out since is exported then), which a monotonic sum must not be. */
    {"traceshim.spans.dropped", "{span}", "Spans lost, by reason", METRIC_BY_REASON,
     TS_STAT_DROPPED_QUEUE_FULL, TS_STAT_DROPPED_EXPORT_FAILED},
    {"traceshim.export.errors", "{error}", "Export attempts that failed (retries included)",
     METRIC_COUNTER, TS_STAT_EXPORT_ERRORS, TS_STAT_EXPORT_ERRORS},
    {"traceshim.queue.length", "{span}",
     "Spans waiting to be exported (at exit: those left unsent)", METRIC_GAUGE, TS_STAT_COUNT,
     TS_STAT_COUNT},
    {"traceshim.bytes.injected", "By", "Bytes of trace header lines added to request heads",
     METRIC_COUNTER, TS_STAT_BYTES_INJECTED, TS_STAT_BYTES_INJECTED},
    {"traceshim.connections.tracked", "{connection}", "TCP connections the shim began to follow",
     METRIC_COUNTER, TS_STAT_CONNS_TRACKED, TS_STAT_CONNS_TRACKED},
    {"traceshim.connections.given_up", "{connection}",
     "Tracked connections the shim stopped following, by reason", METRIC_BY_REASON,
     TS_STAT_GAVE_UP_FIRST, TS_STAT_GAVE_UP_LAST},
    {"traceshim.spans.unsent_at_exit", "{span}",
     "Spans not sent when the latest flush at exit ended: still queued, or held by an exporter",
     METRIC_GAUGE, TS_STAT_DROPPED_EXIT_TIMEOUT, TS_STAT_DROPPED_EXIT_TIMEOUT},
};

/* The reason attribute of a broken-down counter: its key without the
 * "dropped_" that the stderr line needs and the metric name already says. */
static const char *reason_of(enum ts_stat st)
{
    const char *k = ts_stats_key(st);
    return strncmp(k, "dropped_", 8) == 0 ? k + 8 : k;
}

/* One NumberDataPoint. start_ns 0: none (a Gauge's points have no start). */
static void data_point(struct ts_json_buf *b, bool first, const char *reason, uint64_t start_ns,
                       uint64_t now_ns, uint64_t value)
{
    ts_json_buf_append_cstr(b, first ? "{" : ",{");
    if (reason) {
        ts_json_buf_append_cstr(b,
                                "\"attributes\":[{\"key\":\"reason\",\"value\":{\"stringValue\":");
        ts_json_buf_string(b, reason, strlen(reason));
        ts_json_buf_append_cstr(b, "}}],");
    }
    if (start_ns) {
        ts_json_buf_append_cstr(b, "\"startTimeUnixNano\":\"");
        ts_json_buf_u64(b, start_ns);
        ts_json_buf_append_cstr(b, "\",");
    }
    ts_json_buf_append_cstr(b, "\"timeUnixNano\":\"");
    ts_json_buf_u64(b, now_ns);
    ts_json_buf_append_cstr(b, "\",\"asInt\":\""); /* sfixed64: a decimal string in JSON */
    ts_json_buf_u64(b, value);
    ts_json_buf_append_cstr(b, "\"}");
}

static void metric(struct ts_json_buf *b, bool first, const struct metric *m,
                   const struct ts_stats_snapshot *s, uint64_t start_ns, uint64_t now_ns)
{
    ts_json_buf_append_cstr(b, first ? "{\"name\":" : ",{\"name\":");
    ts_json_buf_string(b, m->name, strlen(m->name));
    ts_json_buf_append_cstr(b, ",\"description\":");
    ts_json_buf_string(b, m->description, strlen(m->description));
    ts_json_buf_append_cstr(b, ",\"unit\":");
    ts_json_buf_string(b, m->unit, strlen(m->unit));
    if (m->kind == METRIC_GAUGE) {
        ts_json_buf_append_cstr(b, ",\"gauge\":{\"dataPoints\":[");
        data_point(b, true, NULL, 0, now_ns,
                   m->first == TS_STAT_COUNT ? s->queue_length : s->count[m->first]);
        ts_json_buf_append_cstr(b, "]}}");
        return;
    }
    ts_json_buf_append_cstr(b, ",\"sum\":{\"dataPoints\":[");
    for (int st = m->first; st <= (int)m->last; st++)
        data_point(b, st == (int)m->first, m->kind == METRIC_BY_REASON ? reason_of(st) : NULL,
                   start_ns, now_ns, s->count[st]);
    ts_json_buf_append_cstr(b, "],\"aggregationTemporality\":" AGGREGATION_TEMPORALITY_CUMULATIVE
                               ",\"isMonotonic\":true}}");
}

size_t ts_otlp_metrics_count(void)
{
    return sizeof metrics / sizeof metrics[0];
}

bool ts_otlp_metrics_json(struct ts_json_buf *out, const struct ts_stats_snapshot *s,
                          uint64_t start_ns, uint64_t now_ns)
{
    return ts_otlp_metrics_json_some(out, s, start_ns, now_ns, 0, ts_otlp_metrics_count());
}

bool ts_otlp_metrics_json_some(struct ts_json_buf *out, const struct ts_stats_snapshot *s,
                               uint64_t start_ns, uint64_t now_ns, size_t first, size_t count)
{
    /* a cumulative point needs a start no later than its time */
    if (start_ns == 0 || start_ns > now_ns)
        start_ns = now_ns;
    ts_json_buf_append_cstr(out, "{\"resourceMetrics\":[{\"resource\":");
    ts_otlp_json_resource(out);
    ts_json_buf_append_cstr(out, ",\"scopeMetrics\":[{\"scope\":{\"name\":\"traceshim\","
                                 "\"version\":\"" TS_VERSION "\"},\"metrics\":[");
    size_t end = ts_otlp_metrics_count();
    if (first < end && count < end - first)
        end = first + count;
    for (size_t i = first; i < end; i++)
        metric(out, i == first, &metrics[i], s, start_ns, now_ns);
    ts_json_buf_append_cstr(out, "]}]}]}");
    return !out->failed;
}
