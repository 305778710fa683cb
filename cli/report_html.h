/* report_html.h — writes the self-contained HTML report of `traceshim html`:
 * the page of cli/report_template.html (embedded at build time) with the
 * selected traces, their spans, services and processes as JSON inside it. */
#ifndef TS_REPORT_HTML_H
#define TS_REPORT_HTML_H

#include "cli/trace_model.h"

#include <stdint.h>
#include <stdio.h>

/* The longest text a browser's script can hold as one string (V8's, so
 * Chromium's and Node's: 2^29 - 24 characters). The page reads its data as
 * one string: with more, it shows nothing (about 1.2 million spans). */
#define TS_REPORT_DATA_MAX ((UINT64_C(1) << 29) - 24)

/* The template, from the generated report_template.c. */
extern const char ts_report_template[];
extern const size_t ts_report_template_len;

/* Writes the page for traces[0..n) (the list's order), read from source
 * (the name shown in the page); total_traces is how many the file has, so
 * the page can say when it shows fewer. Returns 0, or -1 when the template
 * lacks its data marker. Write errors are left in ferror(out).
 * *data_bytes: the data's length in bytes where out's position can be
 * read (a file; 0 on a pipe). */
int ts_report_write(FILE *out, const ts_tm_model *m, const ts_tm_trace *const *traces, size_t n,
                    const char *source, uint64_t *data_bytes);

/* The JSON data alone (what the page embeds), for tests. */
void ts_report_write_data(FILE *out, const ts_tm_model *m, const ts_tm_trace *const *traces,
                          size_t n, const char *source);

#endif
