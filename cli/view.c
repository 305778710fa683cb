/* view.c — `traceshim view [FILE] [--trace ID]`: the command line around
 * trace_model, which does the reading, tree building and rendering.
 * Exit status: 0 shown (or nothing to show), 1 file or trace not found or
 * unreadable, 2 bad usage. */
#include "cli/trace_model.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_FILE "traceshim-spans.jsonl"

static void usage(FILE *out)
{
    fputs("usage: traceshim view [FILE] [--trace ID]\n"
          "\n"
          "Shows the spans in FILE (OTLP/JSON lines, as the file exporter writes them)\n"
          "as one indented span tree per trace, with a time bar for each span.\n"
          "\n"
          "  FILE        spans file; default $TRACESHIM_FILE, else ./" DEFAULT_FILE "\n"
          "              (- reads standard input)\n"
          "  --trace ID  show only this trace: 32 hex digits, or a unique prefix\n"
          "  -h, --help  show this help\n",
          out);
}

int main(int argc, char **argv)
{
    const char *file = NULL, *trace_id = NULL;
    bool only_files = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!only_files && (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)) {
            usage(stdout);
            return 0;
        } else if (!only_files && strcmp(a, "--trace") == 0) {
            if (i + 1 >= argc) {
                fputs("traceshim view: --trace needs a trace id\n", stderr);
                usage(stderr);
                return 2;
            }
            trace_id = argv[++i];
        } else if (!only_files && strncmp(a, "--trace=", 8) == 0) {
            trace_id = a + 8;
        } else if (!only_files && strcmp(a, "--") == 0) {
            only_files = true;
        } else if (!only_files && a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "traceshim view: unknown option %s\n", a);
            usage(stderr);
            return 2;
        } else if (file) {
            fprintf(stderr, "traceshim view: only one FILE, got %s and %s\n", file, a);
            usage(stderr);
            return 2;
        } else {
            file = a;
        }
    }
    if (!file) {
        const char *env = getenv("TRACESHIM_FILE");
        file = env && env[0] ? env : DEFAULT_FILE;
    }

    bool from_stdin = strcmp(file, "-") == 0;
    FILE *in = from_stdin ? stdin : fopen(file, "r");
    if (!in) {
        fprintf(stderr, "traceshim view: cannot open %s: %s\n", file, strerror(errno));
        return 1;
    }
    const char *name = from_stdin ? "<stdin>" : file;
    ts_tm_model *m = ts_tm_new();
    if (!m) {
        fputs("traceshim view: out of memory\n", stderr);
        if (!from_stdin)
            fclose(in);
        return 1;
    }
    int status = 0;
    if (ts_tm_read_stream(m, in, name, stderr, NULL) != 0) {
        fprintf(stderr, "traceshim view: cannot read %s: %s\n", name, strerror(errno));
        status = 1;
    } else if (ts_tm_build(m) != 0) {
        fputs("traceshim view: out of memory\n", stderr);
        status = 1;
    } else if (ts_tm_trace_count(m) == 0) {
        fprintf(stderr, "traceshim view: no spans in %s\n", name);
    } else if (trace_id) {
        const ts_tm_trace *t;
        switch (ts_tm_find_trace(m, trace_id, &t)) {
        case TS_TM_FOUND:
            ts_tm_render_trace(stdout, m, t);
            break;
        case TS_TM_AMBIGUOUS:
            fprintf(stderr, "traceshim view: trace id prefix %s matches several traces in %s\n",
                    trace_id, name);
            status = 1;
            break;
        case TS_TM_BAD_ID:
            fprintf(stderr, "traceshim view: --trace %s: not a trace id (1 to 32 hex digits)\n",
                    trace_id);
            status = 2;
            break;
        default:
            fprintf(stderr, "traceshim view: no trace %s in %s\n", trace_id, name);
            status = 1;
            break;
        }
    } else {
        ts_tm_render(stdout, m);
    }
    if (!from_stdin)
        fclose(in);
    ts_tm_free(m);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "traceshim view: cannot write output: %s\n", strerror(errno));
        return 1;
    }
    return status;
}
