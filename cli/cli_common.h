/* cli_common.h — what `traceshim view`, `html` and `stats` share on the
 * command line: the spans file (default $TRACESHIM_FILE, else
 * ./traceshim-spans.jsonl, - for standard input), the trace and span filters
 * (--service, --errors, --match, --limit), loading the file into a built
 * model, and the selection of traces (newest first). Messages are one line
 * on stderr prefixed "traceshim CMD: ". Exit statuses: 0 done, 1 the file
 * cannot be read (or no such trace), 2 bad usage (option, value, regex). */
#ifndef TS_CLI_COMMON_H
#define TS_CLI_COMMON_H

#include "cli/trace_model.h"

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define TS_CLI_DEFAULT_FILE "traceshim-spans.jsonl"

typedef struct {
    const char *cmd;     /* "view", "html", "stats": for messages */
    const char *file;    /* NULL until given */
    const char *service; /* --service NAME */
    bool errors_only;    /* --errors */
    const char *match;   /* --match REGEX (POSIX extended, case-insensitive) */
    regex_t match_re;    /* compiled by ts_cli_finish */
    bool have_re;
    size_t limit;    /* --limit N; 0 = no limit */
    bool only_files; /* after "--" */
    void (*usage)(FILE *out); /* the command's usage, printed after a usage error's line */
} ts_cli_opts;

/* Tries argv[*i] as a shared option (or FILE). Returns 1 when it was one
 * (*i then points at its last word), 0 when it is not (the caller's own or
 * unknown), 2 after printing why it is bad. --limit is one of them only
 * when with_limit. */
int ts_cli_common_arg(ts_cli_opts *o, int argc, char **argv, int *i, bool with_limit);

/* Takes the value of option name at argv[*i] ("--name V" or "--name=V");
 * NULL when argv[*i] is another option. Sets *missing (and leaves it set:
 * start each argument with it false) when the value is absent. */
const char *ts_cli_value(const char *name, int argc, char **argv, int *i, bool *missing);

/* Is a -h or --help (and not a file name after --)? */
bool ts_cli_help(const ts_cli_opts *o, const char *a);

/* After parsing: picks the default file, compiles --match. Returns 0 or 2. */
int ts_cli_finish(ts_cli_opts *o);
void ts_cli_free(ts_cli_opts *o);

/* The command's exit status once its output is complete: status, or 1
 * (with a line on stderr) when standard output could not be written. */
int ts_cli_finish_output(const char *cmd, int status);

/* Reads and builds o->file. Returns 0 with *out set, or 1 after a message:
 * the file cannot be opened or read, or lines were rejected and not one
 * span was read (a file without lines, or with only blank lines and
 * metrics, is read: it has no spans, and that is no error). */
int ts_cli_load(const ts_cli_opts *o, ts_tm_model **out);

/* The end of each command's argument loop, for an argv[*i] that is none of
 * the command's own options (missing: it was one, without its value): a
 * shared option or FILE (returns 0), else a message (returns 2; the caller
 * shows its usage). */
int ts_cli_other_arg(ts_cli_opts *o, int argc, char **argv, int *i, bool missing, bool with_limit);

/* --trace ID (NULL: not given) of the form a trace id takes; else a
 * message and the usage (a usage error, checked before FILE is read). */
bool ts_cli_trace_id_usable(const ts_cli_opts *o, const char *id);

/* ts_cli_finish, then ts_cli_load: 0 with *out set, else the exit status
 * (o already freed). */
int ts_cli_prepare(ts_cli_opts *o, ts_tm_model **out);

/* Does span s match re: its name, its service, or an attribute (the span's
 * or its process's) written as key=value? */
bool ts_cli_span_matches(const ts_tm_span *s, const regex_t *re);
/* Does s pass --service and --match (the span filters of stats)? */
bool ts_cli_span_selected(const ts_cli_opts *o, const ts_tm_span *s);

/* Does trace t pass --service, --match and --errors (not --limit)? It passes
 * --service and --match when one of its spans does (not necessarily the
 * same one), --errors when one has status ERROR. */
bool ts_cli_trace_selected(const ts_cli_opts *o, const ts_tm_trace *t);

/* The traces passing the filters (ts_cli_trace_selected), newest first,
 * at most o->limit. *out is malloc'd (free it). Returns 0, or 1 when out of
 * memory (after a message). */
int ts_cli_select(const ts_cli_opts *o, const ts_tm_model *m, const ts_tm_trace ***out, size_t *n);

#endif
