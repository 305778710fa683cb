/* stats.c — the process's counters and their summary line (see stats.h). */
#include "stats.h"

#include <string.h>
#include <unistd.h>

#include "ascii.h"
#include "clock.h"
#include "fork_state.h"
#include "log.h"
#include "process.h"

uint64_t ts_stats_counters[TS_STAT_COUNT] TS_FORK_STATE;

static uint64_t stats_start_ns TS_FORK_STATE; /* atomic */

/* Indexed by enum ts_stat: the names users see and scripts parse. Never
 * rename one; add new ones. */
static const char *const stats_keys[TS_STAT_COUNT] = {
    [TS_STAT_SPANS_STARTED] = "spans_started",
    [TS_STAT_SPANS_FINISHED] = "spans_finished",
    [TS_STAT_SPANS_SAMPLED] = "sampled",
    [TS_STAT_SPANS_UNSAMPLED] = "unsampled",
    [TS_STAT_SPANS_EXPORTED] = "exported",
    [TS_STAT_DROPPED_QUEUE_FULL] = "dropped_queue_full",
    [TS_STAT_DROPPED_EXPORT_FAILED] = "dropped_export_failed",
    [TS_STAT_DROPPED_EXIT_TIMEOUT] = "dropped_exit_timeout",
    [TS_STAT_EXPORT_ERRORS] = "export_errors",
    [TS_STAT_BYTES_INJECTED] = "bytes_injected",
    [TS_STAT_CONNS_TRACKED] = "conns_tracked",
    [TS_STAT_GAVE_UP_NOT_HTTP] = "not_http",
    [TS_STAT_GAVE_UP_BAD_HEAD] = "bad_head",
    [TS_STAT_GAVE_UP_HEAD_TOO_BIG] = "head_too_big",
    [TS_STAT_GAVE_UP_BAD_FRAMING] = "bad_framing",
    [TS_STAT_GAVE_UP_TUNNEL] = "tunnel",
    [TS_STAT_GAVE_UP_UNSEEN_BYTES] = "unseen_bytes",
    [TS_STAT_GAVE_UP_NO_MEMORY] = "no_memory",
    [TS_STAT_GAVE_UP_TOO_MANY_IN_FLIGHT] = "too_many_in_flight",
    [TS_STAT_GAVE_UP_FD_OUT_OF_RANGE] = "fd_out_of_range",
    [TS_STAT_GAVE_UP_EXEC] = "exec",
};

void ts_stats_read(struct ts_stats_snapshot *out)
{
    for (size_t i = 0; i < TS_STAT_COUNT; i++)
        out->count[i] = ts_stats_get((enum ts_stat)i);
    out->queue_length = 0;
}

uint64_t ts_stats_given_up(const struct ts_stats_snapshot *s)
{
    uint64_t n = 0;
    for (int i = TS_STAT_GAVE_UP_FIRST; i <= TS_STAT_GAVE_UP_LAST; i++)
        n += s->count[i];
    return n;
}

const char *ts_stats_key(enum ts_stat which)
{
    return (unsigned)which < TS_STAT_COUNT ? stats_keys[which] : "";
}

uint64_t ts_stats_start_ns(void)
{
    return __atomic_load_n(&stats_start_ns, __ATOMIC_RELAXED);
}

void ts_stats_mark_start(void)
{
    __atomic_store_n(&stats_start_ns, ts_now_ns(), __ATOMIC_RELAXED);
}

/* The time of a fork, read by the parent before it: the child's clock
 * read would be its first touch of the clock's code (fork_state.h). */
static uint64_t stats_fork_ns TS_FORK_STATE;

TS_FORK_HANDLER void ts_stats_fork_prepare(void)
{
    stats_fork_ns = ts_now_ns();
}

TS_FORK_HANDLER void ts_stats_after_fork(void)
{
    for (size_t i = 0; i < TS_STAT_COUNT; i++)
        TS_FORK_RESET(&ts_stats_counters[i], 0);
    __atomic_store_n(&stats_start_ns, stats_fork_ns, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------ the line */

/* A bounded appender: what does not fit is cut, never overrun. Plain code
 * rather than snprintf, so the line can be built anywhere. */
struct line {
    char *p;
    size_t len, cap; /* cap excludes the byte kept for the newline */
};

static void line_str(struct line *l, const char *s)
{
    size_t n = strlen(s);
    if (n > l->cap - l->len)
        n = l->cap - l->len;
    memcpy(l->p + l->len, s, n);
    l->len += n;
}

static void line_u64(struct line *l, uint64_t v)
{
    char text[21];
    text[20] = '\0';
    line_str(l, ts_ascii_decimal_before(text + 20, v));
}

/* " key=value" */
static void line_kv(struct line *l, const char *key, uint64_t v)
{
    line_str(l, " ");
    line_str(l, key);
    line_str(l, "=");
    line_u64(l, v);
}

size_t ts_stats_format_line(const struct ts_stats_snapshot *s, long pid, char *out, size_t cap)
{
    struct line l = {out, 0, cap - 1};
    line_str(&l, "traceshim[");
    line_u64(&l, pid > 0 ? (uint64_t)pid : 0);
    line_str(&l, "]: stats");
    /* Counters in enum order, with the gauge after the export counters and
     * the give-up total before its reasons. */
    for (int i = 0; i < TS_STAT_GAVE_UP_FIRST; i++) {
        line_kv(&l, stats_keys[i], s->count[i]);
        if (i == TS_STAT_EXPORT_ERRORS)
            line_kv(&l, "queue_length", s->queue_length);
    }
    line_kv(&l, "conns_given_up", ts_stats_given_up(s));
    line_str(&l, " (");
    for (int i = TS_STAT_GAVE_UP_FIRST; i <= TS_STAT_GAVE_UP_LAST; i++) {
        if (i > TS_STAT_GAVE_UP_FIRST)
            line_str(&l, " ");
        line_str(&l, stats_keys[i]);
        line_str(&l, "=");
        line_u64(&l, s->count[i]);
    }
    line_str(&l, ")");
    out[l.len++] = '\n';
    return l.len;
}

void ts_stats_print(const struct ts_stats_snapshot *s)
{
    char buf[1024];
    long pid = ts_proc.pid ? (long)ts_proc.pid : (long)getpid();
    size_t n = ts_stats_format_line(s, pid, buf, sizeof buf);
    ts_log_write_line(buf, n);
}
