/* trace_render.c — see trace_render.h. */
#include "cli/trace_render.h"
#include "cli/trace_layout.h"
#include "common/terminal_text.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Rendering limits: keep lines readable when names are long or trees deep. */
#define SVC_COL_MAX 24      /* service names are cut to this many columns */
#define COL1_MAX 96         /* indent + service + name column */
#define MAX_INDENT_DEPTH 20 /* deeper spans are indented as this depth */
#define HEADER_SERVICES 8   /* services listed in a trace header */
#define NOTE_MAX 60         /* columns of an error message shown after the bar */

void ts_tm_format_duration(uint64_t ns, char *buf, size_t size)
{
    static const struct {
        uint64_t hundredth; /* the unit divided by 100 */
        const char *suffix;
    } units[] = {{10, "µs"}, {10000, "ms"}, {10000000, "s"}};
    if (ns < 1000) {
        snprintf(buf, size, "%lluns", (unsigned long long)ns);
        return;
    }
    for (size_t i = 0; i < 3; i++) {
        uint64_t d = units[i].hundredth;
        uint64_t h = ns / d + (ns % d >= d - ns % d ? 1 : 0); /* round half up */
        /* 999.996µs rounds to 1000.00µs: say 1.00ms instead */
        if (h < 100000 || i == 2) {
            snprintf(buf, size, "%llu.%02llu%s", (unsigned long long)(h / 100),
                     (unsigned long long)(h % 100), units[i].suffix);
            return;
        }
    }
}

static const char *kind_label(int kind)
{
    static const char *const labels[] = {"-",      "internal", "server",
                                         "client", "producer", "consumer"};
    return kind >= 0 && kind < 6 ? labels[kind] : "-";
}

/* Length in bytes of the UTF-8 sequence at s, and whether it is printable
 * (common/terminal_text.h: what must not reach a terminal, and bytes that
 * are not UTF-8). */
static size_t cp_next(const char *s, bool *printable)
{
    char esc[TS_TERMINAL_ESC_MAX];
    size_t n = ts_terminal_char(s, esc);
    *printable = esc[0] == '\0';
    return n;
}

/* One column per code point: wide CJK characters are counted as one, good
 * enough for alignment of typical names. */
size_t ts_tm_text_cols(const char *s)
{
    size_t cols = 0;
    bool pr;
    while (*s) {
        s += cp_next(s, &pr);
        cols++;
    }
    return cols;
}

size_t ts_tm_put_text(FILE *out, const char *s, size_t max)
{
    size_t total = ts_tm_text_cols(s);
    size_t keep = total <= max ? total : max ? max - 1 : 0;
    size_t cols = 0;
    bool pr;
    for (; cols < keep; cols++) {
        size_t n = cp_next(s, &pr);
        if (pr)
            fwrite(s, 1, n, out);
        else
            fputc('?', out);
        s += n;
    }
    if (total > max && max) {
        fputs("…", out);
        cols++;
    }
    return cols;
}

static void pad(FILE *out, size_t n)
{
    while (n--)
        fputc(' ', out);
}

static size_t indent_of(unsigned depth)
{
    return 2 + 2 * (size_t)(depth < MAX_INDENT_DEPTH ? depth : MAX_INDENT_DEPTH);
}

typedef struct {
    size_t svc, pos;
} svc_seen;

static int cmp_svc_seen(const void *a, const void *b)
{
    const svc_seen *x = a, *y = b;
    if (x->svc != y->svc)
        return x->svc < y->svc ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static int cmp_svc_pos(const void *a, const void *b)
{
    const svc_seen *x = a, *y = b;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Writes the distinct services of t in display order, comma separated. */
static void put_services(FILE *out, const ts_tm_trace *t)
{
    svc_seen *v = malloc((t->n_spans ? t->n_spans : 1) * sizeof(*v));
    if (!v) { /* out of memory: the first span's service still says something */
        if (t->n_spans)
            ts_tm_put_text(out, t->spans[0]->service, SVC_COL_MAX);
        return;
    }
    for (size_t i = 0; i < t->n_spans; i++) {
        v[i].svc = t->spans[i]->svc_id;
        v[i].pos = i;
    }
    qsort(v, t->n_spans, sizeof(*v), cmp_svc_seen);
    size_t nd = 0;
    for (size_t i = 0; i < t->n_spans; i++)
        if (i == 0 || v[i].svc != v[i - 1].svc)
            v[nd++] = v[i];
    qsort(v, nd, sizeof(*v), cmp_svc_pos);
    for (size_t i = 0; i < nd && i < HEADER_SERVICES; i++) {
        if (i)
            fputs(", ", out);
        ts_tm_put_text(out, t->spans[v[i].pos]->service, SVC_COL_MAX);
    }
    if (nd > HEADER_SERVICES)
        fprintf(out, ", +%zu more", nd - HEADER_SERVICES);
    free(v);
}

/* ANSI SGR sequences; a span's service picks its colour (svc_id modulo
 * the palette), so one service looks the same in every trace. */
#define SGR_RESET "\x1b[0m"
#define SGR_RED "\x1b[31m"
#define SGR_BOLD "\x1b[1m"
#define SGR_DIM "\x1b[2m"
static const char *const service_sgr[] = {"\x1b[36m", "\x1b[33m", "\x1b[35m", "\x1b[32m",
                                          "\x1b[34m", "\x1b[96m", "\x1b[93m", "\x1b[95m"};

static void sgr(FILE *out, const ts_tm_render_opts *o, const char *seq)
{
    if (o->color)
        fputs(seq, out);
}

static const char *service_color(size_t svc_id)
{
    return service_sgr[svc_id % (sizeof(service_sgr) / sizeof(service_sgr[0]))];
}

/* Draws where span i lies on the trace's (skew-corrected) time axis: each
 * end rounded to the nearest column boundary, at least one column wide. */
static void put_bar(FILE *out, const ts_tm_trace *t, size_t i, const ts_tm_render_opts *o)
{
    const ts_tm_span *s = t->spans[i];
    uint64_t total = t->view_end_ns - t->view_start_ns;
    uint64_t a = ts_tm_shifted(s->start_ns, t->shift_ns[i]) - t->view_start_ns;
    uint64_t e = ts_tm_shifted(s->end_ns, t->shift_ns[i]) - t->view_start_ns;
    size_t from = 0, to = TS_TM_BAR_WIDTH;
    if (total > 0) {
        /* scale down so offset * width cannot overflow */
        while (total > (UINT64_MAX - total) / TS_TM_BAR_WIDTH) {
            total >>= 1;
            a >>= 1;
            e >>= 1;
        }
        if (total == 0)
            total = 1;
        from = (size_t)((a * TS_TM_BAR_WIDTH + total / 2) / total);
        to = (size_t)((e * TS_TM_BAR_WIDTH + total / 2) / total);
        if (to > TS_TM_BAR_WIDTH)
            to = TS_TM_BAR_WIDTH;
        if (from > TS_TM_BAR_WIDTH - 1)
            from = TS_TM_BAR_WIDTH - 1;
        if (to <= from)
            to = from + 1;
    }
    fputc('|', out);
    for (size_t c = 0; c < TS_TM_BAR_WIDTH; c++) {
        if (c == from)
            sgr(out, o, s->status == TS_TM_STATUS_ERROR ? SGR_RED : service_color(s->svc_id));
        fputc(c >= from && c < to ? '#' : ' ', out);
        if (c + 1 == to)
            sgr(out, o, SGR_RESET);
    }
    fputc('|', out);
}

/* "+1.50ms" or "-250µs": a signed duration, for the clock skew note. */
static void format_shift(int64_t ns, char *buf, size_t size)
{
    if (size < 2)
        return;
    buf[0] = ns < 0 ? '-' : '+';
    ts_tm_format_duration(ns < 0 ? (uint64_t)0 - (uint64_t)ns : (uint64_t)ns, buf + 1, size - 1);
}

void ts_tm_render_trace(FILE *out, const ts_tm_model *m, const ts_tm_trace *t)
{
    static const ts_tm_render_opts plain = {.color = false};
    (void)m;
    ts_tm_render_trace_opts(out, t, &plain);
}

/* Output format, one header line then one line per span:
 *
 * trace <id>  <N> span(s)  <duration>  <service>, <service>, ...
 *   <indent><service padded>  <name padded>  <kind  >  <http>  <stat >  <duration>  |<bar>|<notes>
 *
 * indent is 2 spaces per depth level (capped at MAX_INDENT_DEPTH); service is
 * padded to the widest service of the trace (at most SVC_COL_MAX); the
 * indent+service+name column is padded to the widest such column of the trace
 * (at most COL1_MAX, longer names are cut with "…"); kind is 8 columns wide
 * (server, client, internal, producer, consumer, or "-"); http is the response
 * status code right-aligned in 3 columns (blank when absent); stat is "ERROR",
 * "OK" or blank in 5 columns; duration is right-aligned in 9 columns; the bar
 * is TS_TM_BAR_WIDTH columns of '#' and ' ' on the trace's skew-corrected time
 * axis. Notes, each after two spaces: "(parent <id> missing)", "(duplicate
 * span id)", "(parent cycle)", "(clock skew: shown <+/-duration>)",
 * "error: <status message>". With colour, the escape sequences wrap the
 * service, the bar's '#' run and ERROR; the columns stay the same. */
void ts_tm_render_trace_opts(FILE *out, const ts_tm_trace *t, const ts_tm_render_opts *o)
{
    char dur[32];
    if (!t)
        return;
    ts_tm_format_duration(t->view_end_ns - t->view_start_ns, dur, sizeof(dur));
    sgr(out, o, SGR_BOLD);
    fprintf(out, "trace %s", t->trace_id);
    sgr(out, o, SGR_RESET);
    fprintf(out, "  %zu span%s  %s  ", t->n_spans, t->n_spans == 1 ? "" : "s", dur);
    put_services(out, t);
    fputc('\n', out);

    size_t svc_w = 0, col1 = 0;
    for (size_t i = 0; i < t->n_spans; i++) {
        size_t w = ts_tm_text_cols(t->spans[i]->service);
        if (w > svc_w)
            svc_w = w > SVC_COL_MAX ? SVC_COL_MAX : w;
    }
    for (size_t i = 0; i < t->n_spans; i++) {
        size_t w = indent_of(t->depth[i]) + svc_w + 2 + ts_tm_text_cols(t->spans[i]->name);
        if (w > col1)
            col1 = w > COL1_MAX ? COL1_MAX : w;
    }
    for (size_t i = 0; i < t->n_spans; i++) {
        const ts_tm_span *s = t->spans[i];
        bool error = s->status == TS_TM_STATUS_ERROR;
        size_t ind = indent_of(t->depth[i]);
        pad(out, ind);
        sgr(out, o, service_color(s->svc_id));
        size_t used = ts_tm_put_text(out, s->service, svc_w);
        sgr(out, o, SGR_RESET);
        pad(out, svc_w - used + 2);
        size_t room = col1 - ind - svc_w - 2;
        pad(out, room - ts_tm_put_text(out, s->name, room));
        fprintf(out, "  %-8s  ", kind_label(s->kind));
        if (s->http_status > 0 && s->http_status < 1000)
            fprintf(out, "%3d", s->http_status);
        else
            pad(out, 3);
        fputs("  ", out);
        if (error) {
            sgr(out, o, SGR_RED SGR_BOLD);
            fputs("ERROR", out);
            sgr(out, o, SGR_RESET);
        } else {
            fprintf(out, "%-5s", s->status == TS_TM_STATUS_OK ? "OK" : "");
        }
        fputs("  ", out);
        ts_tm_format_duration(s->end_ns - s->start_ns, dur, sizeof(dur));
        size_t dw = ts_tm_text_cols(dur);
        pad(out, dw < 9 ? 9 - dw : 0);
        fputs(dur, out);
        fputs("  ", out);
        put_bar(out, t, i, o);
        /* said once, where the shift starts; its subtree moves with it */
        bool skewed =
            t->parent[i] != TS_TM_NO_PARENT && t->shift_ns[i] != t->shift_ns[t->parent[i]];
        bool notes =
            skewed || (s->flags & (TS_TM_PARENT_MISSING | TS_TM_DUPLICATE_ID | TS_TM_CYCLE));
        if (notes)
            sgr(out, o, SGR_DIM);
        if (s->flags & TS_TM_PARENT_MISSING)
            fprintf(out, "  (parent %s missing)", s->parent_id);
        if (s->flags & TS_TM_DUPLICATE_ID)
            fputs("  (duplicate span id)", out);
        if (s->flags & TS_TM_CYCLE)
            fputs("  (parent cycle)", out);
        if (skewed) {
            format_shift(t->shift_ns[i], dur, sizeof(dur));
            fprintf(out, "  (clock skew: shown %s)", dur);
        }
        if (notes)
            sgr(out, o, SGR_RESET);
        if (error && s->status_message[0]) {
            fputs("  ", out);
            sgr(out, o, SGR_RED);
            fputs("error: ", out);
            ts_tm_put_text(out, s->status_message, NOTE_MAX);
            sgr(out, o, SGR_RESET);
        }
        fputc('\n', out);
    }
}

void ts_tm_render(FILE *out, const ts_tm_model *m)
{
    for (size_t i = 0; i < ts_tm_trace_count(m); i++) {
        if (i)
            fputc('\n', out);
        ts_tm_render_trace(out, m, ts_tm_trace_at(m, i));
    }
}

/* "2023-11-14 22:13:20.123" in local time. */
static void format_start(uint64_t ns, char *buf, size_t size)
{
    time_t sec = (time_t)(ns / 1000000000u);
    struct tm tm;
    char day[32];
    if (!localtime_r(&sec, &tm) || !strftime(day, sizeof(day), "%Y-%m-%d %H:%M:%S", &tm))
        snprintf(day, sizeof(day), "%lld", (long long)sec);
    snprintf(buf, size, "%s.%03u", day, (unsigned)(ns / 1000000u % 1000u));
}

/* The list's line format (columns separated by two spaces):
 *
 * TRACE                             STARTED                  DURATION  SPANS  ERRORS  ROOT
 * <32 hex id>                       <local time, ms>         <right 9>  <5>    <6>     <service>:
 * <name>  [<services>]
 *
 * STARTED is when the root span started (ts_tm_trace.started_ns), ROOT
 * that span (ts_tm_trace.root); services as in a
 * trace's header. Error counts above zero are red with colour. */
void ts_tm_render_list(FILE *out, const ts_tm_trace *const *traces, size_t n,
                       const ts_tm_render_opts *o)
{
    char start[64], dur[32];
    sgr(out, o, SGR_BOLD);
    fprintf(out, "%-32s  %-23s  %9s  %5s  %6s  %s\n", "TRACE", "STARTED", "DURATION", "SPANS",
            "ERRORS", "ROOT");
    sgr(out, o, SGR_RESET);
    for (size_t i = 0; i < n; i++) {
        const ts_tm_trace *t = traces[i];
        format_start(t->started_ns, start, sizeof(start));
        ts_tm_format_duration(t->view_end_ns - t->view_start_ns, dur, sizeof(dur));
        size_t dw = ts_tm_text_cols(dur);
        fprintf(out, "%s  %-23s  ", t->trace_id, start);
        pad(out, dw < 9 ? 9 - dw : 0);
        fprintf(out, "%s  %5zu  ", dur, t->n_spans);
        if (t->n_errors)
            sgr(out, o, SGR_RED SGR_BOLD);
        fprintf(out, "%6zu", t->n_errors);
        if (t->n_errors)
            sgr(out, o, SGR_RESET);
        fputs("  ", out);
        if (t->root) {
            const ts_tm_span *root = t->root;
            sgr(out, o, service_color(root->svc_id));
            ts_tm_put_text(out, root->service, SVC_COL_MAX);
            sgr(out, o, SGR_RESET);
            fputs(": ", out);
            ts_tm_put_text(out, root->name, COL1_MAX / 2);
            fputs("  [", out);
            put_services(out, t);
            fputc(']', out);
        }
        fputc('\n', out);
    }
}
