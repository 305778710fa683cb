/* report_html.c — see report_html.h. The data, one JSON object:
 *
 *   {"file": source, "spans": total spans shown, "total_traces": in the file,
 *    "limited": whether fewer traces are shown than the file has,
 *    "services": [name, ...]                    (index = ts_tm_span.svc_id)
 *    "procs": [[[key, value], ...], ...]        (index = ts_tm_resource.id)
 *    "traces": [{"id", "start": display start in ns (a decimal string: ns
 *                since 1970 do not fit a double), "started": when the root
 *                span started (as `view` shows it; a decimal string too),
 *                "dur": display duration ns,
 *                "n", "err", "root": "service: name", "rootSvc",
 *                "svcs": [svc index, ...] in order of appearance,
 *                "spans": [[id, parent id, name, svc, proc, kind, status,
 *                           status message, start offset from "start" (real
 *                           time, may be negative), duration, clock skew
 *                           shift, depth, parent position (-1 for a root),
 *                           flags, http status, [[key, value], ...]], ...]
 *               }, ...]}
 *
 * Spans are arrays, not objects: a file of thousands of traces stays small
 * and parses fast. Field order is mirrored by F in the template's script. */
#include "cli/report_html.h"
#include "cli/json_out.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define DATA_MARKER "/*TRACESHIM_DATA*/"

static void write_attrs(FILE *out, const ts_tm_attr *a, size_t n)
{
    fputc('[', out);
    for (size_t i = 0; i < n; i++) {
        fputs(i ? ",[" : "[", out);
        ts_json_out_string(out, a[i].key);
        fputc(',', out);
        ts_json_out_string(out, a[i].value);
        fputc(']', out);
    }
    fputc(']', out);
}

/* A trace's services in order of first appearance; seen[] is a scratch
 * array of one stamp per service, stamp differs per trace. */
static void write_trace_services(FILE *out, const ts_tm_trace *t, size_t *seen, size_t stamp)
{
    bool first = true;
    fputc('[', out);
    for (size_t i = 0; i < t->n_spans; i++) {
        size_t s = t->spans[i]->svc_id;
        if (seen[s] == stamp)
            continue;
        seen[s] = stamp;
        fprintf(out, first ? "%zu" : ",%zu", s);
        first = false;
    }
    fputc(']', out);
}

static void write_span(FILE *out, const ts_tm_trace *t, size_t i)
{
    const ts_tm_span *s = t->spans[i];
    fputc('[', out);
    ts_json_out_string(out, s->span_id);
    fputc(',', out);
    ts_json_out_string(out, s->parent_id);
    fputc(',', out);
    ts_json_out_string(out, s->name);
    fprintf(out, ",%zu,%zu,%d,%d,", s->svc_id, s->resource ? s->resource->id : 0, s->kind,
            s->status);
    ts_json_out_string(out, s->status_message);
    /* The start as an offset from the view's (negative for a span drawn
     * shifted later): exact in the page's doubles while a trace spans less
     * than 2^53 ns (104 days), never wrapped past int64_t beyond. */
    uint64_t ahead = s->start_ns - t->view_start_ns, behind = t->view_start_ns - s->start_ns;
    long long off = s->start_ns >= t->view_start_ns
                        ? (ahead > (uint64_t)LLONG_MAX ? LLONG_MAX : (long long)ahead)
                        : (behind > (uint64_t)LLONG_MAX ? -LLONG_MAX : -(long long)behind);
    fprintf(out, ",%lld,%llu,%lld,%u,%lld,%u,%d,", off,
            (unsigned long long)(s->end_ns - s->start_ns), (long long)t->shift_ns[i], t->depth[i],
            t->parent[i] == TS_TM_NO_PARENT ? -1LL : (long long)t->parent[i], s->flags,
            s->http_status);
    write_attrs(out, s->attrs, s->n_attrs);
    fputc(']', out);
}

void ts_report_write_data(FILE *out, const ts_tm_model *m, const ts_tm_trace *const *traces,
                          size_t n, const char *source)
{
    size_t n_spans = 0;
    for (size_t i = 0; i < n; i++)
        n_spans += traces[i]->n_spans;
    fputc('{', out);
    ts_json_out_member(out, "file", source);
    fprintf(out, ",\"spans\":%zu,\"total_traces\":%zu,\"limited\":%s,\"services\":[", n_spans,
            ts_tm_trace_count(m), n < ts_tm_trace_count(m) ? "true" : "false");
    /* Only the services and processes the traces shown have: a page of one
     * trace says nothing of the rest of the file (a process's command line
     * and URLs among it). The others keep their places, empty, so that the
     * spans' indexes stay the file's. */
    size_t n_svcs = ts_tm_service_count(m), n_procs = ts_tm_resource_count(m);
    bool *svc_shown = calloc(n_svcs ? n_svcs : 1, sizeof *svc_shown);
    bool *proc_shown = calloc(n_procs ? n_procs : 1, sizeof *proc_shown);
    for (size_t k = 0; k < n && svc_shown && proc_shown; k++)
        for (size_t i = 0; i < traces[k]->n_spans; i++) {
            const ts_tm_span *sp = traces[k]->spans[i];
            if (sp->svc_id < n_svcs)
                svc_shown[sp->svc_id] = true;
            if (sp->resource && sp->resource->id < n_procs)
                proc_shown[sp->resource->id] = true;
        }
    for (size_t i = 0; i < n_svcs; i++) {
        if (i)
            fputc(',', out);
        ts_json_out_string(out, svc_shown && svc_shown[i] ? ts_tm_service_at(m, i) : "");
    }
    fputs("],\"procs\":[", out);
    for (size_t i = 0; i < n_procs; i++) {
        const ts_tm_resource *r = ts_tm_resource_at(m, i);
        if (i)
            fputc(',', out);
        if (proc_shown && proc_shown[i])
            write_attrs(out, r->attrs, r->n_attrs);
        else
            fputs("[]", out);
    }
    free(svc_shown);
    free(proc_shown);
    fputs("],\"traces\":[", out);
    size_t *seen = calloc(n_svcs ? n_svcs : 1, sizeof(*seen));
    for (size_t k = 0; k < n; k++) {
        const ts_tm_trace *t = traces[k];
        const ts_tm_span *root = t->root;
        fputs(k ? ",\n{" : "\n{", out);
        ts_json_out_member(out, "id", t->trace_id);
        fprintf(out,
                ",\"start\":\"%llu\",\"started\":\"%llu\",\"dur\":%llu,\"n\":%zu,\"err\":%zu,"
                "\"root\":",
                (unsigned long long)t->view_start_ns, (unsigned long long)t->started_ns,
                (unsigned long long)(t->view_end_ns - t->view_start_ns), t->n_spans, t->n_errors);
        if (root) {
            size_t len = strlen(root->service) + strlen(root->name) + 3;
            char *label = malloc(len);
            if (label)
                snprintf(label, len, "%s: %s", root->service, root->name);
            ts_json_out_string(out, label ? label : root->name);
            free(label);
        } else {
            fputs("\"\"", out);
        }
        fprintf(out, ",\"rootSvc\":%zu,\"svcs\":", root ? root->svc_id : 0);
        if (seen)
            write_trace_services(out, t, seen, k + 1);
        else
            fputs("[]", out);
        fputs(",\"spans\":[", out);
        for (size_t i = 0; i < t->n_spans; i++) {
            if (i)
                fputc(',', out);
            write_span(out, t, i);
        }
        fputs("]}", out);
    }
    free(seen);
    fputs("]}", out);
}

int ts_report_write(FILE *out, const ts_tm_model *m, const ts_tm_trace *const *traces, size_t n,
                    const char *source, uint64_t *data_bytes)
{
    const char *tpl = ts_report_template;
    const char *mark = strstr(tpl, DATA_MARKER);
    *data_bytes = 0;
    if (!mark)
        return -1;
    fwrite(tpl, 1, (size_t)(mark - tpl), out);
    /* ftello fails on a pipe, and its errno is not a write's */
    int saved_errno = errno;
    off_t from = ftello(out);
    errno = saved_errno;
    ts_report_write_data(out, m, traces, n, source);
    saved_errno = errno;
    off_t to = ftello(out);
    errno = saved_errno;
    if (from >= 0 && to >= from)
        *data_bytes = (uint64_t)(to - from);
    const char *rest = mark + strlen(DATA_MARKER);
    fwrite(rest, 1, ts_report_template_len - (size_t)(rest - tpl), out);
    return 0;
}
