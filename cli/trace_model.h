/* trace_model.h — the data behind `traceshim view`: reads OTLP/JSON lines (one
 * ExportTraceServiceRequest per line, the collector file-exporter format, as
 * written by traceshim or any other OpenTelemetry producer) into spans, groups
 * them by trace, builds each trace's span tree and renders it as an indented
 * waterfall to a FILE*. Lookups go through hash maps and the tree is built
 * with sorting only, so files with many thousands of traces stay fast. */
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

typedef struct {
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
    size_t line;    /* input line the span came from (1-based) */
    size_t seq;     /* position in input order */
    size_t svc_id;  /* same number for the same service name */
    unsigned flags; /* TS_TM_PARENT_MISSING | ... ; set by ts_tm_build */
} ts_tm_span;

typedef struct {
    const char *trace_id;
    uint64_t start_ns, end_ns; /* earliest start and latest end of its spans */
    size_t n_spans;
    /* Spans in display order: depth-first, roots and siblings by start time.
     * depth[i] is spans[i]'s level in the tree (0 for roots). */
    const ts_tm_span *const *spans;
    const unsigned *depth;
} ts_tm_trace;

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
 * "traceshim view: NAME:LINE: reason" (the first 20, then a count). Returns 0,
 * or -1 with errno set on a read error or when out of memory. *bad_lines, if
 * given, gets the number of rejected lines. */
int ts_tm_read_stream(ts_tm_model *m, FILE *in, const char *name, FILE *diag, size_t *bad_lines);

/* Groups, links and orders everything added so far. Call again after adding
 * more lines. Returns 0, or -1 when out of memory. */
int ts_tm_build(ts_tm_model *m);

size_t ts_tm_span_count(const ts_tm_model *m);
/* Traces in display order (by start time, then id); valid after ts_tm_build. */
size_t ts_tm_trace_count(const ts_tm_model *m);
const ts_tm_trace *ts_tm_trace_at(const ts_tm_model *m, size_t i);

enum {
    TS_TM_FOUND = 0,
    TS_TM_NOT_FOUND = 1,
    TS_TM_AMBIGUOUS = 2,
    TS_TM_BAD_ID = 3, /* not 1..32 hex digits */
};
/* The --trace selection: id is a full trace id or a unique prefix of one, in
 * any case; a 16-digit id also matches the same id left-padded to 32 digits
 * (64-bit B3 trace ids). An exact match wins over prefix matches. */
int ts_tm_find_trace(const ts_tm_model *m, const char *id, const ts_tm_trace **out);

/* Formats a duration with three to six significant digits: "850ns",
 * "1.53µs", "12.41ms", "2.00s". */
void ts_tm_format_duration(uint64_t ns, char *buf, size_t size);

/* Writes one trace: a header line, then one line per span (format in
 * trace_model.c above ts_tm_render_trace). */
void ts_tm_render_trace(FILE *out, const ts_tm_model *m, const ts_tm_trace *t);
/* Writes all traces in display order, separated by blank lines. */
void ts_tm_render(FILE *out, const ts_tm_model *m);

#endif
