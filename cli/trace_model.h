/* trace_model.h — the data behind `traceshim view`, `html` and `stats`: reads
 * OTLP/JSON lines (one ExportTraceServiceRequest per line, the collector
 * file-exporter format, as written by traceshim or any other OpenTelemetry
 * producer) into spans, groups them by trace and builds each trace's span
 * tree, with display times corrected for clock skew (trace_layout.h). Lookups
 * go through hash maps and the tree is built with sorting only, so files with
 * many thousands of traces stay fast. Drawing lives elsewhere: trace_render.h
 * (terminal), report_html.h (HTML), trace_stats.h (latency statistics). */
#ifndef TS_TRACE_MODEL_H
#define TS_TRACE_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Span kinds and status codes use the OTLP numbering. */
enum {
    TS_TM_KIND_UNSPECIFIED = 0,
    TS_TM_KIND_INTERNAL = 1,
    TS_TM_KIND_SERVER = 2,
    TS_TM_KIND_CLIENT = 3,
    TS_TM_KIND_PRODUCER = 4,
    TS_TM_KIND_CONSUMER = 5,
};
enum {
    TS_TM_STATUS_UNSET = 0,
    TS_TM_STATUS_OK = 1,
    TS_TM_STATUS_ERROR = 2,
};

/* Why a span is drawn as a root or marked (ts_tm_span.flags). */
enum {
    TS_TM_PARENT_MISSING = 1u << 0, /* parentSpanId names no span in the input */
    TS_TM_DUPLICATE_ID = 1u << 1,   /* an earlier, different span has this id */
    TS_TM_CYCLE = 1u << 2,          /* parent links loop; the loop was cut here */
};

/* Width of the time bar in columns. */
#define TS_TM_BAR_WIDTH 30

typedef struct {
    const char *key;
    const char *value; /* any OTLP AnyValue rendered as text */
} ts_tm_attr;

/* The process a span came from: one resourceSpans entry's resource. Equal
 * resources are shared, so pointers compare equal for one process. */
typedef struct {
    const char *service;     /* service.name, "unknown_service" if none */
    const char *host;        /* host.name, "" when absent */
    long long pid;           /* process.pid, -1 when absent */
    const ts_tm_attr *attrs; /* every resource attribute, in input order */
    size_t n_attrs;
    size_t svc_id; /* same number for the same service name */
    size_t id;     /* 0, 1, ... in order of first appearance */
} ts_tm_resource;

typedef struct ts_tm_span {
    char trace_id[33];  /* 32 lower-case hex digits (shorter ids left-padded) */
    char span_id[17];   /* 16 lower-case hex digits */
    char parent_id[17]; /* "" for a root */
    const char *name;
    const char *service; /* resource service.name, "unknown_service" if none */
    const char *status_message;
    int kind;                  /* TS_TM_KIND_* */
    int status;                /* TS_TM_STATUS_* */
    uint64_t start_ns, end_ns; /* end_ns >= start_ns */
    long long pid;             /* resource process.pid, -1 when absent */
    int http_status;           /* http.response.status_code, 0 when absent */
    const ts_tm_attr *attrs;
    size_t n_attrs;
    const ts_tm_resource *resource;
    size_t line;    /* input line the span came from (1-based) */
    size_t seq;     /* position in input order */
    size_t svc_id;  /* same number for the same service name */
    unsigned flags; /* TS_TM_PARENT_MISSING | ... ; set by ts_tm_build */
} ts_tm_span;

typedef struct {
    const char *trace_id;
    uint64_t start_ns, end_ns; /* earliest start and latest end of its spans */
    /* when the trace started, as the list shows it and orders the traces:
     * its root span's start (the earliest span without a parent id), else
     * start_ns. Not start_ns itself: a child on another host's clock may
     * seem to start long before the request that made it. */
    uint64_t started_ns;
    /* the span the trace is named by: that root (the earliest span without
     * a parent id), else the first span drawn (an orphan); NULL without
     * spans */
    const struct ts_tm_span *root;
    size_t n_spans;
    /* Spans in display order: depth-first, roots by start time, siblings
     * by displayed start (shifted: shift_ns below), so that rows go down
     * the screen in the order their bars start; ties by start time, then
     * input order. depth[i] is spans[i]'s level in the tree (0 for roots). */
    const ts_tm_span *const *spans;
    const unsigned *depth;
    /* parent[i]: position in spans[] of spans[i]'s parent, TS_TM_NO_PARENT for
     * the spans drawn as roots */
    const size_t *parent;
    /* shift_ns[i]: added to spans[i]'s times for display only, to undo clock
     * skew between hosts (rules in trace_layout.h); 0 almost always */
    const int64_t *shift_ns;
    /* earliest start and latest end of the shifted spans: the time axis */
    uint64_t view_start_ns, view_end_ns;
    size_t n_errors; /* spans with status ERROR */
} ts_tm_trace;

#define TS_TM_NO_PARENT ((size_t)-1)

typedef struct ts_tm_model ts_tm_model;

ts_tm_model *ts_tm_new(void);
void ts_tm_free(ts_tm_model *m);

/* Adds the spans of one OTLP/JSON line (trailing newline allowed; a blank line,
 * or a metrics request as TRACESHIM_STATS writes, adds nothing). Returns the
 * number of spans added, -1 when the whole line is rejected, -2 when out of
 * memory. When anything was rejected (the line, or some of its spans) err
 * gets a one-line reason, else err[0] is '\0'. Spans already in the model
 * with identical content are not added twice. */
int ts_tm_add_line(ts_tm_model *m, const char *line, size_t len, size_t lineno, char *err,
                   size_t errsz);

/* Reads every line of in into m. Each rejected line is reported on diag as
 * "traceshim CMD: NAME:LINE: reason" (the first 20, then a count), CMD the
 * command reading ("view", "html", "stats"), so the message names the command
 * the user ran. Returns 0, or -1 with errno set on a read error or when out
 * of memory. *bad_lines, if given, gets the number of rejected lines. */
int ts_tm_read_stream(ts_tm_model *m, FILE *in, const char *name, const char *cmd, FILE *diag,
                      size_t *bad_lines);

/* Groups, links and orders everything added so far. Call again after adding
 * more lines. Returns 0, or -1 when out of memory. */
int ts_tm_build(ts_tm_model *m);

size_t ts_tm_span_count(const ts_tm_model *m);
/* Processes (distinct resources) and service names, numbered by first
 * appearance (ts_tm_resource.id, ts_tm_span.svc_id). */
size_t ts_tm_resource_count(const ts_tm_model *m);
const ts_tm_resource *ts_tm_resource_at(const ts_tm_model *m, size_t i);
size_t ts_tm_service_count(const ts_tm_model *m);
const char *ts_tm_service_at(const ts_tm_model *m, size_t i);
/* Traces in display order (by started_ns, then id); valid after ts_tm_build. */
size_t ts_tm_trace_count(const ts_tm_model *m);
const ts_tm_trace *ts_tm_trace_at(const ts_tm_model *m, size_t i);

enum {
    TS_TM_FOUND = 0,
    TS_TM_NOT_FOUND = 1,
    TS_TM_AMBIGUOUS = 2,
    TS_TM_BAD_ID = 3, /* not 1..32 hex digits */
};
/* Whether id has the form --trace takes: 1 to 32 hex digits, in any case. */
bool ts_tm_trace_id_ok(const char *id);
/* The --trace selection: id is a full trace id or a unique prefix of one, in
 * any case; a 16-digit id also matches the same id left-padded to 32 digits
 * (64-bit B3 trace ids). An exact match wins over prefix matches. */
int ts_tm_find_trace(const ts_tm_model *m, const char *id, const ts_tm_trace **out);

#endif
