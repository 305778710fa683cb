/* view.c — `traceshim view`: the terminal views of a spans file. Lists the
 * traces newest first, or draws one trace as an indented tree with a time
 * bar per span (trace_render.c); filters and file handling in cli_common.c.
 * Exit status: 0 shown (or nothing to show), 1 file or trace not found or
 * unreadable, 2 bad usage.
 *
 * The same executable also runs `traceshim html` and `traceshim stats`: the
 * launch script passes --command=html or --command=stats as the first
 * argument (one executable to find and install for the three views). */
#include "cli/cli_common.h"
#include "cli/commands.h"
#include "cli/trace_render.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_LIST_LIMIT 20

static void usage(FILE *out)
{
    fputs("usage: traceshim view [FILE] [--trace ID] [--service NAME] [--errors]\n"
          "                      [--match REGEX] [--limit N] [--tree] [--color WHEN]\n"
          "\n"
          "Lists the traces in FILE (OTLP/JSON lines, as the file exporter writes them),\n"
          "newest first: id, start, duration, spans, errors, root span and services.\n"
          "When only one trace is selected, draws it as an indented span tree with a\n"
          "time bar per span on the trace's time axis.\n"
          "\n"
          "  FILE            spans file; default $TRACESHIM_FILE, else ./" TS_CLI_DEFAULT_FILE "\n"
          "                  (- reads standard input)\n"
          "  --trace ID      draw this trace: 32 hex digits, or a unique prefix (when\n"
          "                  it passes the filters below too)\n"
          "  --service NAME  only traces with a span of this service\n"
          "  --errors        only traces with a span whose status is ERROR\n"
          "  --match REGEX   only traces with a span whose name, service or an\n"
          "                  attribute (as key=value) matches (POSIX extended,\n"
          "                  case-insensitive)\n"
          "  --limit N       list or draw at most N traces (default 20; 0 for all)\n"
          "  --tree          draw every selected trace as a tree instead of listing\n"
          "  --color WHEN    auto (default: when standard output is a terminal,\n"
          "                  NO_COLOR is unset or empty and TERM is not dumb),\n"
          "                  always or never\n"
          "  --no-color      the same as --color never\n"
          "  -h, --help      show this help\n"
          "\n"
          "Exit status: 0 shown (or nothing to show), 1 FILE or trace not found or\n"
          "unreadable (or lines of FILE rejected and no span read), 2 bad usage.\n",
          out);
}

/* Colour for WHEN = auto: a terminal, no NO_COLOR (https://no-color.org: set
 * and not empty), and not TERM=dumb. */
static bool auto_color(void)
{
    const char *no = getenv("NO_COLOR"), *term = getenv("TERM");
    if (no && no[0])
        return false;
    if (term && strcmp(term, "dumb") == 0)
        return false;
    return isatty(STDOUT_FILENO) == 1;
}

static int draw_one(const ts_cli_opts *o, const ts_tm_model *m, const char *trace_id,
                    const ts_tm_render_opts *ro)
{
    const ts_tm_trace *t;
    switch (ts_tm_find_trace(m, trace_id, &t)) {
    case TS_TM_FOUND:
        /* the other filters still hold: --trace ID --errors asks whether
         * that trace failed */
        if (!ts_cli_trace_selected(o, t)) {
            fprintf(stderr, "traceshim view: no trace %s in %s passes the filters\n", trace_id,
                    o->file);
            return 1;
        }
        ts_tm_render_trace_opts(stdout, t, ro);
        return 0;
    case TS_TM_AMBIGUOUS:
        fprintf(stderr, "traceshim view: trace id prefix %s matches several traces in %s\n",
                trace_id, o->file);
        return 1;
    case TS_TM_BAD_ID:
        fprintf(stderr, "traceshim view: --trace %s: not a trace id (1 to 32 hex digits)\n",
                trace_id);
        return 2;
    default:
        fprintf(stderr, "traceshim view: no trace %s in %s\n", trace_id, o->file);
        return 1;
    }
}

static int view_main(int argc, char **argv)
{
    ts_cli_opts o = {.cmd = "view", .limit = DEFAULT_LIST_LIMIT, .usage = usage};
    const char *trace_id = NULL, *when = "auto";
    bool tree = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        bool missing = false;
        if (ts_cli_help(&o, a)) {
            usage(stdout);
            return 0;
        } else if (o.only_files) {
            /* after --, everything is a file name */
        } else if (strcmp(a, "--tree") == 0) {
            tree = true;
            continue;
        } else if (strcmp(a, "--no-color") == 0) {
            when = "never";
            continue;
        } else if ((v = ts_cli_value("--trace", argc, argv, &i, &missing)) != NULL) {
            trace_id = v;
            continue;
        } else if ((v = ts_cli_value("--color", argc, argv, &i, &missing)) != NULL) {
            when = v;
            continue;
        }
        if (ts_cli_other_arg(&o, argc, argv, &i, missing, true) != 0) {
            usage(stderr);
            return 2;
        }
    }
    if (!ts_cli_trace_id_usable(&o, trace_id))
        return 2;
    ts_tm_render_opts ro = {.color = false};
    if (strcmp(when, "always") == 0)
        ro.color = true;
    else if (strcmp(when, "auto") == 0)
        ro.color = auto_color();
    else if (strcmp(when, "never") != 0) {
        fprintf(stderr, "traceshim view: --color %s: expected auto, always or never\n", when);
        usage(stderr);
        return 2;
    }
    ts_tm_model *m;
    int status = ts_cli_prepare(&o, &m);
    if (status)
        return status;
    const ts_tm_trace **sel = NULL;
    size_t n = 0;
    const char *name = strcmp(o.file, "-") == 0 ? "<stdin>" : o.file;
    if (trace_id) { /* one trace asked for: not there is exit 1, spans or none */
        status = draw_one(&o, m, trace_id, &ro);
    } else if (ts_tm_trace_count(m) == 0) {
        fprintf(stderr, "traceshim view: no spans in %s\n", name);
    } else {
        size_t limit = o.limit;
        o.limit = 0; /* count them all: the footer says how many were left out */
        status = ts_cli_select(&o, m, &sel, &n);
        if (status == 0 && n == 0) {
            fprintf(stderr, "traceshim view: no trace in %s passes the filters\n", name);
        } else if (status == 0 && (n == 1 || tree)) {
            size_t drawn = limit && limit < n ? limit : n;
            for (size_t i = 0; i < drawn; i++) {
                if (i)
                    fputc('\n', stdout);
                ts_tm_render_trace_opts(stdout, sel[i], &ro);
            }
            /* as the list's footer does, say what --limit (20 by default)
             * left out; on stderr, so the output stays only trees */
            if (drawn < n)
                fprintf(stderr, "traceshim view: %zu of %zu traces drawn: --limit 0 draws all\n",
                        drawn, n);
        } else if (status == 0) {
            size_t shown = limit && limit < n ? limit : n;
            ts_tm_render_list(stdout, sel, shown, &ro);
            if (shown < n)
                printf("(%zu of %zu traces shown: --limit 0 lists all)\n", shown, n);
            printf("(traceshim view --trace ID draws one)\n");
        }
    }
    free(sel);
    ts_tm_free(m);
    ts_cli_free(&o);
    return ts_cli_finish_output("view", status);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--command=html") == 0)
        return ts_html_main(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "--command=stats") == 0)
        return ts_stats_main(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "--command=view") == 0)
        return view_main(argc - 1, argv + 1);
    return view_main(argc, argv);
}
