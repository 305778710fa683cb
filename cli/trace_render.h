/* trace_render.h — the terminal views of a trace model: one trace as an
 * indented tree with a time bar per span (the waterfall), and the list of
 * traces (one line each). Text from the input never reaches the terminal
 * raw: control characters become '?'. Colour (ANSI SGR) only when asked;
 * the caller decides (a terminal, NO_COLOR; see view.c). */
#ifndef TS_TRACE_RENDER_H
#define TS_TRACE_RENDER_H

#include "cli/trace_model.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
    bool color; /* ANSI colours: a colour per service, errors in red */
} ts_tm_render_opts;

/* Formats a duration with three to six significant digits: "850ns",
 * "1.53µs", "12.41ms", "2.00s". */
void ts_tm_format_duration(uint64_t ns, char *buf, size_t size);

/* Terminal columns of s (one per code point). */
size_t ts_tm_text_cols(const char *s);
/* Writes s with unprintable characters as '?', cut to max columns with a
 * trailing "…"; returns the columns written. */
size_t ts_tm_put_text(FILE *out, const char *s, size_t max);

/* Writes one trace: a header line, then one line per span (format in
 * trace_render.c above ts_tm_render_trace_opts). */
void ts_tm_render_trace(FILE *out, const ts_tm_model *m, const ts_tm_trace *t);
void ts_tm_render_trace_opts(FILE *out, const ts_tm_trace *t, const ts_tm_render_opts *o);
/* Writes all traces in display order, separated by blank lines. */
void ts_tm_render(FILE *out, const ts_tm_model *m);

/* Writes a header line, then one line per trace, in the order given: id,
 * start (local time; the root span's, started_ns), duration, spans, errors,
 * the root span's service and name, and the trace's services. */
void ts_tm_render_list(FILE *out, const ts_tm_trace *const *traces, size_t n,
                       const ts_tm_render_opts *o);

#endif
