/* report_html.h — writes the self-contained HTML report of `traceshim html`:
 * the page of cli/report_template.html (embedded at build time) with the
 * selected traces, their spans, services and processes as JSON inside it. */
#ifndef TS_REPORT_HTML_H
#define TS_REPORT_HTML_H

#include "cli/trace_model.h"

#include <stdio.h>

/* The template, from the generated report_template.c. */
extern const char ts_report_template[];
extern const size_t ts_report_template_len;

/* Writes the page for traces[0..n) (the list's order), read from source
 * (the name shown in the page); total_traces is how many the file has, so
 * the page can say when it shows fewer. Returns 0, or -1 when the template
 * lacks its data marker. Write errors are left in ferror(out). */
int ts_report_write(FILE *out, const ts_tm_model *m, const ts_tm_trace *const *traces, size_t n,
                    const char *source);

/* The JSON data alone (what the page embeds), for tests. */
void ts_report_write_data(FILE *out, const ts_tm_model *m, const ts_tm_trace *const *traces,
                          size_t n, const char *source);

#endif
