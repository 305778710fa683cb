/* trace_stats.h — latency statistics per service, span kind and span name
 * (the RED view: rate, errors, duration percentiles), from the spans of a
 * trace model; durations go into HDR-style histograms (hdr_histogram.h).
 * Written as an aligned table or as JSON. */
#ifndef TS_TRACE_STATS_H
#define TS_TRACE_STATS_H

#include "cli/hdr_histogram.h"
#include "cli/trace_model.h"

#include <stdbool.h>
#include <stdio.h>

typedef struct {
    const char *service, *name;
    int kind; /* TS_TM_KIND_* */
    uint64_t count, errors;
    ts_hdr hist; /* span durations in ns */
    /* the percentile the rows are ordered by (p99 or p50, ns), found once
     * by ts_stats_finish rather than in every comparison of the sort */
    uint64_t sort_ns;
} ts_stats_group;

/* Row order: by service, then by this key within each service. */
typedef enum {
    TS_STATS_SORT_P99, /* slowest first (default) */
    TS_STATS_SORT_P50,
    TS_STATS_SORT_COUNT,  /* busiest first */
    TS_STATS_SORT_ERRORS, /* highest error rate first */
    TS_STATS_SORT_NAME,
} ts_stats_sort;

typedef struct ts_stats ts_stats;

ts_stats *ts_stats_new(void);
void ts_stats_free(ts_stats *st);

/* Counts one span (and sees it). Returns 0, or -1 when out of memory. */
int ts_stats_add(ts_stats *st, const ts_tm_span *s);

/* Widens the window by a span that is not counted (one a filter left
 * out): the rate is over the file's time window, whatever is shown. */
void ts_stats_see(ts_stats *st, const ts_tm_span *s);

/* Groups what was added and orders the groups; with errors_only, drops the
 * groups without errors. Returns 0 or -1 (memory). */
int ts_stats_finish(ts_stats *st, ts_stats_sort sort, bool errors_only);
size_t ts_stats_group_count(const ts_stats *st);
const ts_stats_group *ts_stats_group_at(const ts_stats *st, size_t i);
/* From the earliest start to the latest end of the spans added or seen:
 * the window the rate is computed over. */
uint64_t ts_stats_window_ns(const ts_stats *st);

/* The percentiles every view shows, in this order. */
#define TS_STATS_N_PCT 6
extern const double ts_stats_pcts[TS_STATS_N_PCT];

/* After ts_stats_finish: the table (format in trace_stats.c) or JSON. */
void ts_stats_write_table(FILE *out, const ts_stats *st);
void ts_stats_write_json(FILE *out, const ts_stats *st);

#endif
