/* stats_cmd.c — `traceshim stats [FILE]`: latency statistics per service,
 * kind and span name (trace_stats.c) as a table or JSON. Exit status: 0
 * shown (or nothing to show), 1 FILE unreadable, 2 bad usage. */
#include "cli/cli_common.h"
#include "cli/commands.h"
#include "cli/trace_stats.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *out)
{
    fputs("usage: traceshim stats [FILE] [--service NAME] [--match REGEX] [--errors]\n"
          "                       [--sort KEY] [--json]\n"
          "\n"
          "Per service, span kind and span name: how many spans, their rate over the\n"
          "file's time window, the error rate, and the latency percentiles p50, p75,\n"
          "p90, p95, p99, p99.9 and the maximum (HDR-style histograms, within 0.4%).\n"
          "\n"
          "  FILE            spans file; default $TRACESHIM_FILE, else ./" TS_CLI_DEFAULT_FILE "\n"
          "                  (- reads standard input)\n"
          "  --service NAME  only spans of this service\n"
          "  --match REGEX   only spans whose name, service or an attribute (as\n"
          "                  key=value) matches (POSIX extended, case-insensitive)\n"
          "  --errors        only rows with at least one error\n"
          "  --sort KEY      order within each service: p99 (slowest first, the\n"
          "                  default), p50, count, errors (error rate) or name\n"
          "                  (then kind)\n"
          "  --json          one JSON object instead of the table\n"
          "  -h, --help      show this help\n"
          "\n"
          "Exit status: 0 shown (or nothing to show), 1 FILE not found or unreadable\n"
          "(or lines of FILE rejected and no span read), 2 bad usage.\n",
          out);
}

static bool parse_sort(const char *v, ts_stats_sort *out)
{
    static const struct {
        const char *name;
        ts_stats_sort sort;
    } keys[] = {{"p99", TS_STATS_SORT_P99},
                {"p50", TS_STATS_SORT_P50},
                {"count", TS_STATS_SORT_COUNT},
                {"errors", TS_STATS_SORT_ERRORS},
                {"name", TS_STATS_SORT_NAME}};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (strcmp(v, keys[i].name) == 0) {
            *out = keys[i].sort;
            return true;
        }
    return false;
}

int ts_stats_main(int argc, char **argv)
{
    ts_cli_opts o = {.cmd = "stats", .usage = usage};
    ts_stats_sort sort = TS_STATS_SORT_P99;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        bool missing = false;
        if (ts_cli_help(&o, a)) {
            usage(stdout);
            return 0;
        }
        if (!o.only_files && strcmp(a, "--json") == 0) {
            json = true;
            continue;
        }
        if (!o.only_files && (v = ts_cli_value("--sort", argc, argv, &i, &missing)) != NULL) {
            if (!parse_sort(v, &sort)) {
                fprintf(stderr,
                        "traceshim stats: --sort %s: expected p99, p50, count, errors or "
                        "name\n",
                        v);
                usage(stderr);
                return 2;
            }
            continue;
        }
        if (ts_cli_other_arg(&o, argc, argv, &i, missing, false) != 0) {
            usage(stderr);
            return 2;
        }
    }
    ts_tm_model *m;
    int status = ts_cli_prepare(&o, &m);
    if (status)
        return status;
    ts_stats *st = ts_stats_new();
    if (!st)
        status = 1;
    for (size_t t = 0; st && status == 0 && t < ts_tm_trace_count(m); t++) {
        const ts_tm_trace *tr = ts_tm_trace_at(m, t);
        for (size_t i = 0; i < tr->n_spans && status == 0; i++) {
            if (!ts_cli_span_selected(&o, tr->spans[i]))
                ts_stats_see(st, tr->spans[i]); /* the file's window, not the filter's */
            else if (ts_stats_add(st, tr->spans[i]) != 0)
                status = 1;
        }
    }
    if (status == 0 && ts_stats_finish(st, sort, o.errors_only) != 0)
        status = 1;
    if (status) {
        fputs("traceshim stats: out of memory\n", stderr);
    } else if (ts_stats_group_count(st) == 0 && !json) {
        fprintf(stderr, "traceshim stats: no spans %sin %s\n",
                o.service || o.have_re || o.errors_only ? "passing the filters " : "", o.file);
    } else if (json) {
        ts_stats_write_json(stdout, st);
    } else {
        ts_stats_write_table(stdout, st);
    }
    ts_stats_free(st);
    ts_tm_free(m);
    ts_cli_free(&o);
    return ts_cli_finish_output("stats", status);
}
