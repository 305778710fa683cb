/* trace_stats.c — see trace_stats.h. Spans are collected as small records,
 * sorted by (service, kind, name) so each group is one run of the array,
 * and each run fills one histogram: no hash map needed. */
#include "cli/trace_stats.h"
#include "cli/json_out.h"
#include "cli/trace_render.h"

#include <stdlib.h>
#include <string.h>

#define SVC_COL_MAX 24
#define NAME_COL_MAX 48

const double ts_stats_pcts[TS_STATS_N_PCT] = {50, 75, 90, 95, 99, 99.9};
static const char *const pct_labels[TS_STATS_N_PCT] = {"P50", "P75", "P90", "P95", "P99", "P99.9"};
static const char *const pct_keys[TS_STATS_N_PCT] = {"p50_ns", "p75_ns", "p90_ns",
                                                     "p95_ns", "p99_ns", "p999_ns"};

typedef struct {
    const char *service, *name;
    int kind;
    bool error;
    uint64_t duration;
} sample;

struct ts_stats {
    sample *samples;
    size_t n, cap;
    ts_stats_group *groups;
    size_t n_groups;
    uint64_t first_start, last_end;
};

ts_stats *ts_stats_new(void)
{
    ts_stats *st = calloc(1, sizeof(*st));
    if (st)
        st->first_start = UINT64_MAX;
    return st;
}

static void free_groups(ts_stats *st)
{
    for (size_t i = 0; i < st->n_groups; i++)
        ts_hdr_free(&st->groups[i].hist);
    free(st->groups);
    st->groups = NULL;
    st->n_groups = 0;
}

void ts_stats_free(ts_stats *st)
{
    if (!st)
        return;
    free_groups(st);
    free(st->samples);
    free(st);
}

int ts_stats_add(ts_stats *st, const ts_tm_span *s)
{
    if (st->n == st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 1024;
        sample *v = realloc(st->samples, cap * sizeof(*v));
        if (!v)
            return -1;
        st->samples = v;
        st->cap = cap;
    }
    st->samples[st->n++] = (sample){s->service, s->name, s->kind, s->status == TS_TM_STATUS_ERROR,
                                    s->end_ns - s->start_ns};
    ts_stats_see(st, s);
    return 0;
}

void ts_stats_see(ts_stats *st, const ts_tm_span *s)
{
    if (s->start_ns < st->first_start)
        st->first_start = s->start_ns;
    if (s->end_ns > st->last_end)
        st->last_end = s->end_ns;
}

static int cmp_key(const char *sa, int ka, const char *na, const char *sb, int kb, const char *nb)
{
    int c = strcmp(sa, sb);
    if (c)
        return c;
    if (ka != kb)
        return ka < kb ? -1 : 1;
    return strcmp(na, nb);
}

static int cmp_sample(const void *a, const void *b)
{
    const sample *x = a, *y = b;
    return cmp_key(x->service, x->kind, x->name, y->service, y->kind, y->name);
}

/* qsort has no context argument: the order being applied. */
static ts_stats_sort current_sort;

/* Larger first; ties by the group's key. */
static int cmp_desc(uint64_t x, uint64_t y)
{
    return x > y ? -1 : x < y;
}

static int cmp_group(const void *a, const void *b)
{
    const ts_stats_group *x = a, *y = b;
    int c = strcmp(x->service, y->service);
    if (c)
        return c;
    switch (current_sort) {
    case TS_STATS_SORT_P99:
    case TS_STATS_SORT_P50:
        c = cmp_desc(x->sort_ns, y->sort_ns);
        break;
    case TS_STATS_SORT_COUNT:
        c = cmp_desc(x->count, y->count);
        break;
    case TS_STATS_SORT_ERRORS: {
        /* compare errors/count without division: x.e * y.c vs y.e * x.c */
        unsigned __int128 l = (unsigned __int128)x->errors * y->count;
        unsigned __int128 r = (unsigned __int128)y->errors * x->count;
        c = l > r ? -1 : l < r;
        break;
    }
    case TS_STATS_SORT_NAME:
        /* by name, then kind (cmp_key, below, has kind first: a client
         * "a" came after a server "b") */
        c = strcmp(x->name, y->name);
        break;
    }
    return c ? c : cmp_key(x->service, x->kind, x->name, y->service, y->kind, y->name);
}

int ts_stats_finish(ts_stats *st, ts_stats_sort sort, bool errors_only)
{
    free_groups(st);
    if (st->n) /* no samples: no array either, and qsort's may not be NULL */
        qsort(st->samples, st->n, sizeof(*st->samples), cmp_sample);
    size_t ng = 0;
    for (size_t i = 0; i < st->n; i++)
        ng += i == 0 || cmp_sample(&st->samples[i - 1], &st->samples[i]) != 0;
    st->groups = calloc(ng ? ng : 1, sizeof(*st->groups));
    if (!st->groups)
        return -1;
    for (size_t i = 0; i < st->n; i++) {
        const sample *s = &st->samples[i];
        if (i == 0 || cmp_sample(&st->samples[i - 1], s) != 0) {
            ts_stats_group *g = &st->groups[st->n_groups++];
            g->service = s->service;
            g->name = s->name;
            g->kind = s->kind;
            ts_hdr_init(&g->hist);
        }
        ts_stats_group *g = &st->groups[st->n_groups - 1];
        g->count++;
        g->errors += s->error;
        if (ts_hdr_record(&g->hist, s->duration) != 0)
            return -1;
    }
    if (errors_only) {
        size_t kept = 0;
        for (size_t i = 0; i < st->n_groups; i++) {
            if (st->groups[i].errors)
                st->groups[kept++] = st->groups[i];
            else
                ts_hdr_free(&st->groups[i].hist);
        }
        st->n_groups = kept;
    }
    current_sort = sort;
    double pct = sort == TS_STATS_SORT_P99 ? 99 : 50;
    for (size_t i = 0; i < st->n_groups; i++)
        st->groups[i].sort_ns = ts_hdr_percentile(&st->groups[i].hist, pct);
    qsort(st->groups, st->n_groups, sizeof(*st->groups), cmp_group);
    return 0;
}

size_t ts_stats_group_count(const ts_stats *st)
{
    return st->n_groups;
}

const ts_stats_group *ts_stats_group_at(const ts_stats *st, size_t i)
{
    return i < st->n_groups ? &st->groups[i] : NULL;
}

uint64_t ts_stats_window_ns(const ts_stats *st)
{
    /* over every span seen, counted or not: a filter that keeps none still
     * leaves the file's window (it was 0 then) */
    return st->first_start <= st->last_end ? st->last_end - st->first_start : 0;
}

static const char *kind_name(int kind)
{
    static const char *const names[] = {"-",      "internal", "server",
                                        "client", "producer", "consumer"};
    return kind >= 0 && kind < 6 ? names[kind] : "-";
}

static double rate_per_s(const ts_stats *st, const ts_stats_group *g)
{
    uint64_t w = ts_stats_window_ns(st);
    return w ? (double)g->count * 1e9 / (double)w : 0;
}

/* The RATE/s cell: two decimals. Spans a few nanoseconds apart make
 * millions a second: the column is as wide as its widest cell. */
static int rate_text(const ts_stats *st, const ts_stats_group *g, char *buf, size_t len)
{
    return snprintf(buf, len, "%.2f", rate_per_s(st, g));
}

static void pad_to(FILE *out, size_t used, size_t width)
{
    for (; used < width; used++)
        fputc(' ', out);
}

/* Table format: a header, then one line per group, columns separated by two
 * spaces: SERVICE (padded to the widest, at most 24 columns), KIND (8), NAME
 * (padded to the widest, at most 48, cut with "…"), COUNT (at least 7
 * columns), RATE/s (count over the window of all spans read, two decimals,
 * at least 8 columns), ERR% (one decimal), then P50, P75, P90, P95, P99,
 * P99.9 and MAX as durations right-aligned in 9 columns. COUNT and RATE/s
 * widen, header too, to their widest number: a rate of 100000/s or more
 * pushed the columns after it out of line. A blank line separates
 * services. */
void ts_stats_write_table(FILE *out, const ts_stats *st)
{
    size_t svc_w = 7, name_w = 4; /* "SERVICE", "NAME" */
    int count_w = 7, rate_w = 8;
    char num[64];
    for (size_t i = 0; i < st->n_groups; i++) {
        const ts_stats_group *g = &st->groups[i];
        size_t w = ts_tm_text_cols(g->service);
        if (w > svc_w)
            svc_w = w > SVC_COL_MAX ? SVC_COL_MAX : w;
        w = ts_tm_text_cols(g->name);
        if (w > name_w)
            name_w = w > NAME_COL_MAX ? NAME_COL_MAX : w;
        int n = snprintf(num, sizeof num, "%llu", (unsigned long long)g->count);
        count_w = n > count_w ? n : count_w;
        n = rate_text(st, g, num, sizeof num);
        rate_w = n > rate_w ? n : rate_w;
    }
    fprintf(out, "%-*s  %-8s  %-*s  %*s  %*s  %6s", (int)svc_w, "SERVICE", "KIND", (int)name_w,
            "NAME", count_w, "COUNT", rate_w, "RATE/s", "ERR%");
    for (int k = 0; k < TS_STATS_N_PCT; k++)
        fprintf(out, "  %9s", pct_labels[k]);
    fprintf(out, "  %9s\n", "MAX");
    char d[32];
    for (size_t i = 0; i < st->n_groups; i++) {
        const ts_stats_group *g = &st->groups[i];
        if (i && strcmp(g->service, st->groups[i - 1].service) != 0)
            fputc('\n', out);
        pad_to(out, ts_tm_put_text(out, g->service, svc_w), svc_w);
        fprintf(out, "  %-8s  ", kind_name(g->kind));
        pad_to(out, ts_tm_put_text(out, g->name, name_w), name_w);
        rate_text(st, g, num, sizeof num);
        fprintf(out, "  %*llu  %*s  %6.1f", count_w, (unsigned long long)g->count, rate_w, num,
                g->count ? 100.0 * (double)g->errors / (double)g->count : 0.0);
        for (int k = 0; k <= TS_STATS_N_PCT; k++) {
            uint64_t v =
                k < TS_STATS_N_PCT ? ts_hdr_percentile(&g->hist, ts_stats_pcts[k]) : g->hist.max;
            ts_tm_format_duration(v, d, sizeof(d));
            fputs("  ", out);
            pad_to(out, ts_tm_text_cols(d), 9);
            fputs(d, out);
        }
        fputc('\n', out);
    }
}

/* {"window_ns":N,"groups":[{"service":..,"kind":..,"name":..,"count":N,
 * "errors":N,"error_rate":F,"rate_per_s":F,"min_ns":N,"mean_ns":N,
 * "p50_ns":N,...,"p999_ns":N,"max_ns":N},...]} in the table's order. */
void ts_stats_write_json(FILE *out, const ts_stats *st)
{
    fprintf(out, "{\"window_ns\":%llu,\"groups\":[", (unsigned long long)ts_stats_window_ns(st));
    for (size_t i = 0; i < st->n_groups; i++) {
        const ts_stats_group *g = &st->groups[i];
        fputs(i ? ",\n{" : "\n{", out);
        ts_json_out_member(out, "service", g->service);
        fputc(',', out);
        ts_json_out_member(out, "kind", kind_name(g->kind));
        fputc(',', out);
        ts_json_out_member(out, "name", g->name);
        fprintf(out,
                ",\"count\":%llu,\"errors\":%llu,\"error_rate\":%.6g,\"rate_per_s\":%.6g,"
                "\"min_ns\":%llu,\"mean_ns\":%llu",
                (unsigned long long)g->count, (unsigned long long)g->errors,
                g->count ? (double)g->errors / (double)g->count : 0.0, rate_per_s(st, g),
                (unsigned long long)g->hist.min,
                (unsigned long long)(g->hist.sum / (long double)(g->count ? g->count : 1)));
        for (int k = 0; k < TS_STATS_N_PCT; k++)
            fprintf(out, ",\"%s\":%llu", pct_keys[k],
                    (unsigned long long)ts_hdr_percentile(&g->hist, ts_stats_pcts[k]));
        fprintf(out, ",\"max_ns\":%llu}", (unsigned long long)g->hist.max);
    }
    fputs("\n]}\n", out);
}
