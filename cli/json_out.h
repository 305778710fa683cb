/* json_out.h — writes JSON strings and numbers to a FILE*, for
 * `traceshim stats --json` and the data inside the HTML report. Strings are
 * safe inside an HTML <script> element: '<', '>' and '&' are written as
 * \u003c, \u003e, \u0026 (so no "</script>" or "<!--" can appear), and
 * U+2028 / U+2029, which end a line in older JavaScript, as \u2028 / \u2029;
 * and what a terminal would act on (C1 controls) or reorder a line by
 * (bidirectional controls, marks) escaped as well, for a --json read on
 * one. */
#ifndef TS_JSON_OUT_H
#define TS_JSON_OUT_H

#include <stdint.h>
#include <stdio.h>

/* Writes s (valid UTF-8, as the model holds) as a quoted JSON string. */
void ts_json_out_string(FILE *out, const char *s);
/* Writes "key": followed by the string s. */
void ts_json_out_member(FILE *out, const char *key, const char *s);

#endif
