/* test_trace_views.c — unit tests for what `traceshim view`, `html` and
 * `stats` add to the trace model: processes (resources) and spans from
 * several processes in one trace, the layout (parents by position, missing
 * parents, clock skew between hosts), the trace list and colour, the trace
 * filters, the HTML report's data, and the HDR histogram against exact
 * percentiles. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <math.h>

#include "cli/cli_common.h"
#include "cli/hdr_histogram.h"
#include "cli/report_html.h"
#include "cli/trace_layout.h"
#include "cli/trace_model.h"
#include "cli/trace_render.h"
#include "cli/trace_stats.h"
#include "common/json_read.h"
#include "otlp_lines.h"

/* Everything f wrote, as a malloc'd string: call with an open_memstream. */
typedef struct {
    char *buf;
    size_t len;
    FILE *f;
} capture;

static void cap_open(capture *c)
{
    c->buf = NULL;
    c->len = 0;
    c->f = open_memstream(&c->buf, &c->len);
    assert_non_null(c->f);
}

static char *cap_close(capture *c)
{
    fclose(c->f);
    return c->buf;
}

static size_t pos_of(const ts_tm_trace *t, const char *span_id)
{
    for (size_t i = 0; i < t->n_spans; i++)
        if (strcmp(t->spans[i]->span_id, span_id) == 0)
            return i;
    fail_msg("span %s not in trace %s", span_id, t->trace_id);
    return 0;
}

/* The HTML report's data for trace t of m (to free). */
static char *report_data(const ts_tm_model *m, const ts_tm_trace *t)
{
    capture c;
    cap_open(&c);
    ts_report_write_data(c.f, m, &t, 1, "spans.jsonl");
    return cap_close(&c);
}

#define MS "000000" /* append to a millisecond count: 9 digits of ns */

/* ================= processes and layout ================= */

/* One trace through three processes, written on three lines (as three
 * processes' exporters would), plus a second line from the first process. */
static const char *const three_process_lines[] = {
    RES_HOST("frontend", "100", "web-1",
             SPAN(TID, "0000000000000001", "", "GET /checkout", "2", "000" MS, "020" MS, "")),
    RES_HOST("orders", "200", "db-1",
             SPAN(TID, "0000000000000002", "0000000000000001", "GET /order", "2", "005" MS,
                  "015" MS, ERR("db down"))),
    RES_HOST("inventory", "300", "db-1",
             SPAN(TID, "0000000000000003", "0000000000000002", "GET /stock", "2", "006" MS,
                  "008" MS, "")),
    RES_HOST(
        "frontend", "100", "web-1",
        SPAN(TID, "0000000000000004", "0000000000000001", "render", "1", "016" MS, "018" MS, "")),
};

static void test_spans_from_several_processes(void **state)
{
    ts_tm_model *m = model_of(three_process_lines, 4);
    assert_int_equal(ts_tm_trace_count(m), 1);
    /* the first process wrote two lines: one resource, shared */
    assert_int_equal(ts_tm_resource_count(m), 3);
    assert_int_equal(ts_tm_service_count(m), 3);
    const ts_tm_trace *t = ts_tm_trace_at(m, 0);
    const ts_tm_span *root = t->spans[pos_of(t, "0000000000000001")];
    const ts_tm_span *render = t->spans[pos_of(t, "0000000000000004")];
    const ts_tm_span *stock = t->spans[pos_of(t, "0000000000000003")];
    assert_ptr_equal(root->resource, render->resource);
    assert_ptr_not_equal(root->resource, stock->resource);
    assert_string_equal(root->resource->host, "web-1");
    assert_int_equal(root->resource->pid, 100);
    assert_int_equal(stock->resource->pid, 300);
    assert_string_equal(stock->resource->service, "inventory");
    assert_int_equal(stock->resource->n_attrs, 3);
    assert_string_equal(stock->resource->attrs[2].key, "host.name");
    assert_ptr_equal(ts_tm_resource_at(m, stock->resource->id), stock->resource);
    assert_null(ts_tm_resource_at(m, 3));
    assert_string_equal(ts_tm_service_at(m, stock->svc_id), "inventory");
    /* clocks: one host, one clock, whatever the process */
    const ts_tm_span *order = t->spans[pos_of(t, "0000000000000002")];
    assert_true(ts_tm_same_clock(order, stock));
    assert_false(ts_tm_same_clock(root, order));
    assert_true(ts_tm_same_clock(root, render));
    /* tree: parents by position, errors counted */
    assert_int_equal(t->parent[0], TS_TM_NO_PARENT);
    assert_int_equal(t->parent[pos_of(t, "0000000000000003")], pos_of(t, "0000000000000002"));
    assert_int_equal(t->parent[pos_of(t, "0000000000000004")], 0);
    assert_int_equal(t->n_errors, 1);
    /* everything fits: nothing shifted */
    for (size_t i = 0; i < t->n_spans; i++)
        assert_int_equal(t->shift_ns[i], 0);
    assert_int_equal(t->view_start_ns, t->start_ns);
    assert_int_equal(t->view_end_ns, t->end_ns);
    ts_tm_free(m);
}

/* A chain of spans on hosts whose clocks disagree by 2.2e18 ns, one after
 * another: each is fitted into its parent, and the shifts added down the
 * chain would pass INT64_MAX (undefined; drawn as bars wrapped to the
 * left). Past SHIFTABLE_MAX a span is not moved; display times saturate. */
static void test_layout_shifts_stay_in_range(void **state)
{
    (void)state;
    enum { N = 8 };
    static const char *const hosts[N] = {"h0", "h1", "h2", "h3", "h4", "h5", "h6", "h7"};
    ts_tm_resource res[N];
    ts_tm_span span[N];
    const ts_tm_span *spans[N];
    unsigned depth[N];
    size_t parent[N];
    int64_t shift[N];
    memset(res, 0, sizeof res);
    memset(span, 0, sizeof span);
    for (size_t i = 0; i < N; i++) {
        res[i].host = hosts[i];
        res[i].pid = -1;
        span[i].resource = &res[i];
        span[i].start_ns = i % 2 ? 2200000000000000000ULL : 1;
        span[i].end_ns = span[i].start_ns + (N - i) * 1000;
        spans[i] = &span[i];
        depth[i] = (unsigned)i;
    }
    uint64_t lo, hi;
    ts_tm_layout(spans, depth, N, parent, shift, &lo, &hi);
    for (size_t i = 1; i < N; i++) {
        assert_int_equal(parent[i], i - 1);
        /* within the parent as drawn, or not moved at all */
        uint64_t s = ts_tm_shifted(span[i].start_ns, shift[i]);
        uint64_t ps = ts_tm_shifted(span[i - 1].start_ns, shift[i - 1]);
        if (shift[i] != 0 && shift[i] != shift[i - 1] && s < ps)
            fail_msg("span %zu drawn at %llu, before its parent at %llu", i, (unsigned long long)s,
                     (unsigned long long)ps);
    }
    assert_true(lo <= hi);
    /* display times saturate rather than wrap */
    assert_int_equal(ts_tm_shifted(UINT64_MAX - 5, 10), UINT64_MAX);
    assert_int_equal(ts_tm_shifted(5, -10), 0);
    assert_int_equal(ts_tm_shifted(UINT64_MAX, INT64_MIN), UINT64_MAX - ((uint64_t)1 << 63));
}

static void test_layout_missing_parents(void **state)
{
    const char *lines[] = {
        RES("a", "1",
            SPAN(TID, "000000000000000a", "", "root", "2", "000" MS, "010" MS, "") "," SPAN(
                TID, "000000000000000c", "00000000000000ff", "orphan", "2", "002" MS, "004" MS,
                "") "," SPAN(TID, "000000000000000d", "000000000000000c", "under orphan", "3",
                             "003" MS, "004" MS,
                             "") "," SPAN(TID, "000000000000000b", "000000000000000a", "child", "3",
                                          "001" MS, "009" MS, "")),
    };
    ts_tm_model *m = model_of(lines, 1);
    const ts_tm_trace *t = ts_tm_trace_at(m, 0);
    assert_int_equal(t->n_spans, 4);
    /* roots by start: root (0 ms) with its child, then the orphan (2 ms) */
    assert_string_equal(t->spans[0]->name, "root");
    assert_string_equal(t->spans[1]->name, "child");
    assert_string_equal(t->spans[2]->name, "orphan");
    assert_string_equal(t->spans[3]->name, "under orphan");
    assert_int_equal(t->parent[0], TS_TM_NO_PARENT);
    assert_int_equal(t->parent[1], 0);
    assert_int_equal(t->parent[2], TS_TM_NO_PARENT);
    assert_int_equal(t->parent[3], 2);
    assert_true(t->spans[2]->flags & TS_TM_PARENT_MISSING);
    assert_false(t->spans[3]->flags & TS_TM_PARENT_MISSING);
    /* an orphan is not moved: it has no parent to fit into */
    assert_int_equal(t->shift_ns[2], 0);
    ts_tm_free(m);
}

/* Parent on host A; children on host B whose clock runs 3 ms behind. */
static void test_layout_clock_skew(void **state)
{
    const char *lines[] = {
        RES_HOST("client", "1", "host-a",
                 SPAN(TID, "0000000000000001", "", "GET /a", "3", "010" MS, "020" MS,
                      "") "," SPAN(TID, "0000000000000005", "0000000000000001", "same host early",
                                   "1", "009" MS, "011" MS, "")),
        /* starts 2 ms before its parent: moved +2 ms, its own child with it */
        RES_HOST("server", "2", "host-b",
                 SPAN(TID, "0000000000000002", "0000000000000001", "GET /a", "2", "008" MS,
                      "012" MS, "") "," SPAN(TID, "0000000000000003", "0000000000000002", "query",
                                             "3", "009" MS, "010" MS, "")),
        /* ends 5 ms after its parent, fits in length: moved to end with it */
        RES_HOST("late", "3", "host-c",
                 SPAN(TID, "0000000000000004", "0000000000000001", "GET /late", "2", "017" MS,
                      "025" MS, "")),
    };
    ts_tm_model *m = model_of(lines, 3);
    const ts_tm_trace *t;
    assert_int_equal(ts_tm_find_trace(m, TID, &t), TS_TM_FOUND);
    size_t srv = pos_of(t, "0000000000000002"), q = pos_of(t, "0000000000000003");
    size_t late = pos_of(t, "0000000000000004"), early = pos_of(t, "0000000000000005");
    assert_int_equal(t->shift_ns[srv], 2000000);
    assert_int_equal(t->shift_ns[q], 2000000); /* same clock as its parent */
    assert_int_equal(t->shift_ns[late], -5000000);
    /* on its parent's clock a span that starts early is real: not moved */
    assert_int_equal(t->shift_ns[early], 0);
    /* the real times are kept */
    assert_int_equal(t->spans[srv]->start_ns, 1700000000008000000ULL);
    assert_int_equal(ts_tm_shifted(t->spans[srv]->start_ns, t->shift_ns[srv]),
                     1700000000010000000ULL);
    /* the axis: 9 ms (the same-host span) to 20 ms */
    assert_int_equal(t->view_start_ns, 1700000000009000000ULL);
    assert_int_equal(t->view_end_ns, 1700000000020000000ULL);
    assert_int_equal(t->end_ns, 1700000000025000000ULL);

    /* the waterfall says where and by how much, once per moved subtree */
    char *out = render_trace(m, t);
    assert_non_null(strstr(out, "(clock skew: shown +2.00ms)"));
    assert_non_null(strstr(out, "(clock skew: shown -5.00ms)"));
    const char *query = strstr(out, "query");
    assert_non_null(query);
    assert_true(strstr(query, "clock skew") > strchr(query, '\n'));
    assert_non_null(strstr(out, "  11.00ms  ")); /* header: the corrected duration */
    free(out);

    /* a child longer than its parent, on another clock, starts with it */
    ts_tm_free(m);
    const char *long_lines[] = {
        RES_HOST("p", "1", "h1",
                 SPAN(TID2, "0000000000000001", "", "root", "3", "000" MS, "001" MS, "")),
        RES_HOST("c", "2", "h2",
                 SPAN(TID2, "0000000000000002", "0000000000000001", "long", "2", "005" MS, "008" MS,
                      "")),
    };
    m = model_of(long_lines, 2);
    t = ts_tm_trace_at(m, 0);
    assert_int_equal(t->shift_ns[1], -5000000);
    assert_int_equal(t->view_start_ns, 1700000000000000000ULL);
    assert_int_equal(t->view_end_ns, 1700000000003000000ULL);
    ts_tm_free(m);
}

/* Without host.name, a resource (service and pid) is a clock. */
static void test_same_clock_without_hosts(void **state)
{
    const char *lines[] = {
        RES("a", "1", SPAN(TID, "0000000000000001", "", "p", "3", "010" MS, "020" MS, "")),
        RES("a", "1",
            SPAN(TID, "0000000000000002", "0000000000000001", "same process", "1", "009" MS,
                 "012" MS, "")),
        RES("b", "2",
            SPAN(TID, "0000000000000003", "0000000000000001", "other process", "2", "009" MS,
                 "012" MS, "")),
    };
    ts_tm_model *m = model_of(lines, 3);
    const ts_tm_trace *t = ts_tm_trace_at(m, 0);
    assert_int_equal(t->shift_ns[pos_of(t, "0000000000000002")], 0);
    assert_int_equal(t->shift_ns[pos_of(t, "0000000000000003")], 1000000);
    ts_tm_free(m);
}

/* Siblings are listed in the order they are drawn to start: by their
 * shifted start, ties as before (real start, then input order). Under a
 * parent on web-1 from 10 to 30 ms: "GET /price" on a host whose clock
 * runs 10 ms ahead ends 10 ms after its parent, so it is drawn from 15 ms,
 * before "render" (20 ms) though its real start (25 ms) is later;
 * "GET /user" and "GET /stock" started too early on their hosts and are
 * both drawn at 10 ms, the one that really started first (stock) first
 * whatever the input order; "log", on the parent's clock (another process
 * on its host), is not moved and stays at 8 ms; "render" and "audit" tie
 * on both starts and keep the input order. Ordered by real start, the
 * rows went 10, 10, 8, 20, 20, 15 ms down the screen. */
static const char *const skewed_sibling_lines[] = {
    RES_HOST("web", "1", "web-1",
             SPAN(TID, "0000000000000001", "", "GET /checkout", "2", "010" MS, "030" MS,
                  "") "," SPAN(TID, "0000000000000002", "0000000000000001", "render", "1", "020" MS,
                               "022" MS, "") "," SPAN(TID, "0000000000000003", "0000000000000001",
                                                      "audit", "1", "020" MS, "021" MS, "")),
    RES_HOST("log", "5", "web-1",
             SPAN(TID, "0000000000000004", "0000000000000001", "log", "1", "008" MS, "009" MS, "")),
    RES_HOST("price", "2", "price-1",
             SPAN(TID, "0000000000000005", "0000000000000001", "GET /price", "2", "025" MS,
                  "040" MS, "") "," SPAN(TID, "0000000000000006", "0000000000000005",
                                         "SELECT price", "3", "026" MS, "027" MS, "")),
    RES_HOST("user", "3", "user-1",
             SPAN(TID, "0000000000000007", "0000000000000001", "GET /user", "2", "005" MS, "009" MS,
                  "")),
    RES_HOST("stock", "4", "stock-1",
             SPAN(TID, "0000000000000008", "0000000000000001", "GET /stock", "2", "002" MS,
                  "006" MS, "")),
};

static void test_siblings_by_shown_start(void **state)
{
    ts_tm_model *m = model_of(skewed_sibling_lines, 5);
    const ts_tm_trace *t = ts_tm_trace_at(m, 0);
    static const char *const names[] = {"GET /checkout", "log",          "GET /stock", "GET /user",
                                        "GET /price",    "SELECT price", "render",     "audit"};
    static const unsigned depth[] = {0, 1, 1, 1, 1, 2, 1, 1};
    static const int64_t shift_ms[] = {0, 0, 8, 5, -10, -10, 0, 0};
    assert_int_equal(t->n_spans, 8);
    for (size_t i = 0; i < 8; i++) {
        if (strcmp(t->spans[i]->name, names[i]) != 0)
            fail_msg("row %zu is %s, expected %s", i, t->spans[i]->name, names[i]);
        assert_int_equal(t->depth[i], depth[i]);
        /* the shifts themselves are what they were */
        assert_int_equal(t->shift_ns[i], shift_ms[i] * 1000000);
        assert_int_equal(t->parent[i], i == 0 ? TS_TM_NO_PARENT : i == 5 ? 4 : 0);
    }
    assert_ptr_equal(t->root, t->spans[0]);

    /* the terminal tree: rows and the header's services in that order */
    char *out = render_trace(m, t);
    assert_non_null(strstr(out, "  web, log, stock, user, price\n"));
    const char *at = out;
    for (size_t i = 0; i < 8; i++) {
        at = strstr(at, names[i]);
        if (!at)
            fail_msg("%s not drawn after %s:\n%s", names[i], i ? names[i - 1] : "the header", out);
    }
    free(out);

    /* the page's data: its spans and services in that order */
    out = report_data(m, t);
    ts_json_error err;
    ts_json_doc *d = ts_json_parse(out, strlen(out), &err);
    assert_non_null(d);
    const ts_json *tr = ts_json_at(ts_json_get(ts_json_root(d), "traces"), 0);
    const ts_json *spans = ts_json_get(tr, "spans");
    assert_int_equal(ts_json_len(spans), 8);
    for (size_t i = 0; i < 8; i++)
        assert_string_equal(ts_json_string(ts_json_at(ts_json_at(spans, i), 2), NULL), names[i]);
    const ts_json *svcs = ts_json_get(tr, "svcs");
    static const char *const svc_names[] = {"web", "log", "stock", "user", "price"};
    assert_int_equal(ts_json_len(svcs), 5);
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(ts_tm_service_at(m, (size_t)ts_json_at(svcs, i)->num), svc_names[i]);
    ts_json_free(d);
    free(out);
    ts_tm_free(m);
}

/* One parent of one second, 100,000 children: half on its clock, inside
 * it; half on another host's, starting anywhere from half a second before
 * the parent to half a second after its end, most of those shifted. The
 * siblings come out by shifted start, and the build stays near linear
 * (each child's shift found once, each family sorted once). */
static void test_siblings_by_shown_start_at_scale(void **state)
{
    (void)state;
    enum { CHILDREN = 100000, PER_LINE = 1000 };
    ts_tm_model *m = ts_tm_new();
    assert_non_null(m);
    char *line = malloc(PER_LINE * 256 + 512), err[256];
    assert_non_null(line);
    static const char *const res_fmt =
        "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"host.name\",\"value\":{"
        "\"stringValue\":\"%s\"}}]},\"scopeSpans\":[{\"spans\":[";
    static const char *const span_fmt =
        "%s{\"traceId\":\"" TID "\",\"spanId\":\"%x\",\"parentSpanId\":\"%s\","
        "\"startTimeUnixNano\":\"%llu\",\"endTimeUnixNano\":\"%llu\"}";
    const unsigned long long second = 1000000000ULL;
    int len = snprintf(line, 512, res_fmt, "a");
    len += snprintf(line + len, 512, span_fmt, "", 1u, "", second, 2 * second);
    len += snprintf(line + len, 16, "]}]}]}");
    assert_int_equal(ts_tm_add_line(m, line, (size_t)len, 1, err, sizeof err), 1);
    for (unsigned first = 0; first < CHILDREN; first += PER_LINE) {
        for (int host = 0; host < 2; host++) {
            len = snprintf(line, 512, res_fmt, host ? "b" : "a");
            for (unsigned k = first + (unsigned)host; k < first + PER_LINE; k += 2) {
                /* on "a": within the parent; on "b": from 0.5 s to 2.5 s */
                unsigned long long start = host ? second / 2 + (k * 2654435761ULL) % (2 * second)
                                                : second + (k * 2654435761ULL) % second;
                len += snprintf(line + len, 256, span_fmt, k == first + (unsigned)host ? "" : ",",
                                k + 2, "1", start, start + 1000 + k % 5000);
            }
            len += snprintf(line + len, 16, "]}]}]}");
            assert_int_equal(ts_tm_add_line(m, line, (size_t)len, 2, err, sizeof err),
                             PER_LINE / 2);
        }
    }
    free(line);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(ts_tm_build(m), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    print_message("%d siblings on two clocks: built in %.0f ms\n", CHILDREN, ms);
    const ts_tm_trace *t = ts_tm_trace_at(m, 0);
    assert_int_equal(t->n_spans, CHILDREN + 1);
    size_t shifted = 0;
    for (size_t i = 1; i < t->n_spans; i++) {
        assert_int_equal(t->parent[i], 0);
        shifted += t->shift_ns[i] != 0;
        if (i > 1 && ts_tm_shifted(t->spans[i]->start_ns, t->shift_ns[i]) <
                         ts_tm_shifted(t->spans[i - 1]->start_ns, t->shift_ns[i - 1]))
            fail_msg("row %zu is drawn before row %zu", i, i - 1);
    }
    assert_true(shifted > CHILDREN / 5);
    ts_tm_free(m);
    if (ms > 3000)
        fail_msg("%d siblings took %.0f ms to build", CHILDREN, ms);
}

/* ================= the trace list, colour and filters ================= */

static const char *const list_lines[] = {
    RES("web", "1",
        SPAN(TID, "0000000000000001", "", "GET /old", "2", "000" MS, "004" MS, HTTP("200"))),
    RES("web", "1",
        SPAN(TID2, "0000000000000001", "", "GET /new", "2", "100" MS, "103" MS,
             ERR("boom")) "," SPAN(TID2, "0000000000000002", "0000000000000001", "SELECT", "3",
                                   "101" MS, "102" MS, ERR("timeout"))),
    RES("batch", "2",
        SPAN("00000000000000000000000000000003", "0000000000000001", "", "cron", "1", "050" MS,
             "051" MS, HTTP("503"))),
};

static void test_render_list(void **state)
{
    setenv("TZ", "UTC", 1);
    ts_tm_model *m = model_of(list_lines, 3);
    ts_cli_opts o = {.cmd = "test"};
    const ts_tm_trace **sel;
    size_t n;
    assert_int_equal(ts_cli_select(&o, m, &sel, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(sel[0]->trace_id, TID2); /* newest first */
    assert_string_equal(sel[2]->trace_id, TID);

    capture c;
    cap_open(&c);
    ts_tm_render_list(c.f, sel, n, &(ts_tm_render_opts){.color = false});
    char *out = cap_close(&c);
    const char *expected =
        "TRACE                             STARTED                   DURATION  SPANS  ERRORS  "
        "ROOT\n" TID2 "  2023-11-14 22:13:20.100     3.00ms      2       2  web: GET /new  [web]\n"
        "00000000000000000000000000000003  2023-11-14 22:13:20.050     1.00ms      1       0  "
        "batch: cron  [batch]\n" TID "  2023-11-14 22:13:20.000     4.00ms      1       0  web: "
        "GET /old  [web]\n";
    assert_string_equal(out, expected);
    assert_null(strchr(out, '\x1b'));
    free(out);

    /* colour: errors red, services coloured, and the same text without the
     * escape sequences */
    cap_open(&c);
    ts_tm_render_list(c.f, sel, n, &(ts_tm_render_opts){.color = true});
    out = cap_close(&c);
    assert_non_null(strstr(out, "\x1b[31m\x1b[1m     2\x1b[0m"));
    char *plain = malloc(strlen(out) + 1), *w = plain;
    for (const char *p = out; *p;) {
        if (*p == '\x1b')
            p += strcspn(p, "m") + 1;
        else
            *w++ = *p++;
    }
    *w = '\0';
    assert_string_equal(plain, expected);
    free(plain);
    free(out);

    /* the tree in colour: an ERROR in red, the bar in its service's colour */
    cap_open(&c);
    ts_tm_render_trace_opts(c.f, sel[0], &(ts_tm_render_opts){.color = true});
    out = cap_close(&c);
    assert_non_null(strstr(out, "\x1b[31m\x1b[1mERROR\x1b[0m"));
    assert_non_null(strstr(out, "\x1b[31merror: boom\x1b[0m"));
    free(out);
    cap_open(&c);
    ts_tm_render_trace_opts(c.f, sel[0], &(ts_tm_render_opts){.color = false});
    out = cap_close(&c);
    assert_null(strchr(out, '\x1b'));
    free(out);
    free(sel);
    ts_tm_free(m);
}

/* A trace starts when its root does: a child on a skewed clock that seems
 * to start 95 ms before its root neither dates the trace nor moves it in
 * the newest-first order. */
static void test_list_started_by_root(void **state)
{
    setenv("TZ", "UTC", 1);
    const char *lines[] = {
        RES_HOST("client", "1", "host-a",
                 SPAN(TID, "0000000000000001", "", "GET /skewed", "3", "100" MS, "110" MS, "")),
        RES_HOST("server", "2", "host-b",
                 SPAN(TID, "0000000000000002", "0000000000000001", "GET /skewed", "2", "005" MS,
                      "008" MS, "")),
        /* an orphan of the same trace, drawn first (its parent is lost):
         * the trace is still named by its root */
        RES_HOST("worker", "3", "host-c",
                 SPAN(TID, "0000000000000004", "00000000000000ee", "lost child", "1", "001" MS,
                      "002" MS, "")),
        RES("web", "1", SPAN(TID2, "0000000000000001", "", "GET /b", "2", "050" MS, "051" MS, "")),
        /* no root, only a span whose parent is missing: its own start */
        RES("web", "1",
            SPAN("00000000000000000000000000000003", "0000000000000002", "00000000000000ff",
                 "orphan", "2", "070" MS, "071" MS, "")),
    };
    ts_tm_model *m = model_of(lines, 5);
    const ts_tm_trace *t;
    assert_int_equal(ts_tm_find_trace(m, TID, &t), TS_TM_FOUND);
    assert_int_equal(t->start_ns, 1700000000001000000ULL); /* still the earliest span */
    assert_int_equal(t->started_ns, 1700000000100000000ULL);
    assert_string_equal(t->spans[0]->name, "lost child");
    assert_string_equal(t->root->name, "GET /skewed");
    assert_string_equal(t->root->service, "client");
    assert_int_equal(ts_tm_find_trace(m, "00000000000000000000000000000003", &t), TS_TM_FOUND);
    assert_int_equal(t->started_ns, t->start_ns);

    ts_cli_opts o = {.cmd = "test"};
    const ts_tm_trace **sel;
    size_t n;
    assert_int_equal(ts_cli_select(&o, m, &sel, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(sel[0]->trace_id, TID); /* newest: its root is */
    assert_string_equal(sel[1]->trace_id, "00000000000000000000000000000003");
    assert_string_equal(sel[2]->trace_id, TID2);
    capture c;
    cap_open(&c);
    ts_tm_render_list(c.f, sel, 1, &(ts_tm_render_opts){.color = false});
    char *out = cap_close(&c);
    assert_non_null(strstr(out, "\n" TID "  2023-11-14 22:13:20.100  "));
    assert_non_null(strstr(out, "client: GET /skewed"));
    free(out);
    free(sel);
    ts_tm_free(m);
}

static size_t select_count(const ts_tm_model *m, ts_cli_opts *o, const char **first)
{
    const ts_tm_trace **sel;
    size_t n;
    assert_int_equal(ts_cli_finish(o), 0);
    assert_int_equal(ts_cli_select(o, m, &sel, &n), 0);
    *first = n ? sel[0]->trace_id : "";
    free(sel);
    ts_cli_free(o);
    return n;
}

static void test_filters(void **state)
{
    ts_tm_model *m = model_of(list_lines, 3);
    const char *first;
    ts_cli_opts o = {.cmd = "test", .file = "x", .service = "batch"};
    assert_int_equal(select_count(m, &o, &first), 1);
    assert_string_equal(first, "00000000000000000000000000000003");
    o = (ts_cli_opts){.cmd = "test", .file = "x", .errors_only = true};
    assert_int_equal(select_count(m, &o, &first), 1);
    assert_string_equal(first, TID2);
    /* attributes match as key=value, case-insensitively; names too */
    o = (ts_cli_opts){.cmd = "test", .file = "x", .match = "status_code=5[0-9]{2}$"};
    assert_int_equal(select_count(m, &o, &first), 1);
    assert_string_equal(first, "00000000000000000000000000000003");
    o = (ts_cli_opts){.cmd = "test", .file = "x", .match = "^select"};
    assert_int_equal(select_count(m, &o, &first), 1);
    o = (ts_cli_opts){.cmd = "test", .file = "x", .match = "process.pid=1$"};
    assert_int_equal(select_count(m, &o, &first), 2); /* the resource's attributes */
    o = (ts_cli_opts){.cmd = "test", .file = "x", .limit = 2};
    assert_int_equal(select_count(m, &o, &first), 2);
    assert_string_equal(first, TID2);
    /* --service and --match together: both must hold in the trace */
    o = (ts_cli_opts){.cmd = "test", .file = "x", .service = "web", .match = "cron"};
    assert_int_equal(select_count(m, &o, &first), 0);
    /* a bad regular expression is a usage error with a message */
    o = (ts_cli_opts){.cmd = "test", .file = "x", .match = "(unclosed"};
    assert_int_equal(ts_cli_finish(&o), 2);
    ts_tm_free(m);
}

/* Milliseconds since t0 (CLOCK_MONOTONIC). */
static double ms_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* Whether --match PATTERN takes a span named name. */
static bool match_name(const char *pattern, const char *name)
{
    ts_cli_opts o = {.cmd = "test", .file = "x", .match = pattern};
    assert_int_equal(ts_cli_finish(&o), 0);
    ts_tm_span s = {.name = name, .service = ""};
    bool hit = ts_cli_span_matches(&s, &o.match_re);
    ts_cli_free(&o);
    return hit;
}

/* --match is searched as one anchored pass ("^.*(PATTERN)"): the same
 * answers as the pattern searched anywhere, and linear in the text. glibc
 * searched an unanchored pattern from every starting position, each pass
 * to the end: 'e.*q' over a 16 KiB value took 215 ms, over 128 KiB half a
 * minute. */
static void test_match_anchored_same_answers_in_linear_time(void **state)
{
    static const struct {
        const char *pattern, *name;
        bool hit;
    } cases[] = {
        {"", "x", true},
        {"get|post", "a POST b", true},
        {"get|post", "put", false},
        {"^get", "GET /", true},
        {"^get", "x GET /", false},
        {"/x$", "GET /x", true},
        {"/x$", "GET /x/", false},
        {"s{2}", "class", true},
        {"[[:digit:]]{3}", "status 503", true},
        {"a\\)b", "a)b", true},
        {"(e)\\1", "bee", true}, /* a back-reference: searched as written */
        {"(e)\\1", "be", false},
        {"x\\\\1", "x\\1", true}, /* an escaped backslash, then 1: no back-reference */
        {"e.*q", "e q", true},
        {"e.*q", "q e", false},
        /* a ')' without its '(' is a character to glibc: searched as written */
        {"a)|b", "b", true},
        {"a)|b", "xa", false},
        {"x)|y", "y", true},
        {"(a)|b)", "a", true},
        {"b$)|^a", "a", true},
        {"[)]x", "a)x", true}, /* in a bracket expression, a ')' is a member */
        {"[]a)]+$", "x])", true},
        {"[[:alpha:])]z", ")z", true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        if (match_name(cases[i].pattern, cases[i].name) != cases[i].hit)
            fail_msg("--match '%s' on \"%s\": want %d", cases[i].pattern, cases[i].name,
                     cases[i].hit);
    enum { LEN = 128 << 10 };
    char *value = malloc(LEN + 1);
    assert_non_null(value);
    for (size_t i = 0; i < LEN; i++)
        value[i] = "ex"[i % 2];
    value[LEN] = '\0';
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_false(match_name("e.*q", value));
    double ms = ms_since(&t0);
    free(value);
    if (ms > 1000)
        fail_msg("'e.*q' over 128 KiB took %.0f ms", ms);
}

/* ================= the HTML report's data ================= */

static void test_report_data(void **state)
{
    /* a name that would end the <script> element, U+2028, and what a
     * terminal acts on or reorders a line by (C1's CSI, a bidirectional
     * override, an isolate, a mark, the Arabic letter mark) */
    const char *lines[] = {
        RES_HOST("shop", "7", "h1",
                 SPAN(TID, "0000000000000001", "",
                      "GET /</script><b>x\\u2028y\\u009b1m\\u202e\\u2066\\u200f\\u061c", "2",
                      "000" MS, "010" MS,
                      ",\"attributes\":[{\"key\":\"code.stacktrace\",\"value\":{\"stringValue\":"
                      "\"#0 main+0x1 (/bin/shop)\\n#1 start\"}}]")),
        RES_HOST("db", "8", "h2",
                 SPAN(TID, "0000000000000002", "0000000000000001", "query", "2", "000" MS, "002" MS,
                      "") "," SPAN(TID, "0000000000000003", "00000000000000ee", "lost", "2",
                                   "001" MS, "002" MS, ERR("gone"))),
    };
    ts_tm_model *m = model_of(lines, 2);
    const ts_tm_trace *t = ts_tm_trace_at(m, 0);
    char *out = report_data(m, t);
    assert_null(strstr(out, "</"));
    assert_null(strstr(out, "<b>"));
    assert_null(strstr(out, "\xE2\x80\xA8"));
    assert_non_null(strstr(out, "\\u003c/script\\u003e"));
    assert_non_null(strstr(out, "\\u2028"));
    static const char *const raw[] = {"\xC2\x9B", "\xE2\x80\xAE", "\xE2\x81\xA6", "\xE2\x80\x8F",
                                      "\xD8\x9C"};
    for (size_t i = 0; i < sizeof raw / sizeof raw[0]; i++)
        if (strstr(out, raw[i]))
            fail_msg("control %zu written as it is: %s", i, out);
    assert_non_null(strstr(out, "y\\u009b1m\\u202e\\u2066\\u200f\\u061c"));

    ts_json_error err;
    ts_json_doc *d = ts_json_parse(out, strlen(out), &err);
    if (!d)
        fail_msg("report data is not JSON (%s at %zu): %s", err.msg, err.offset, out);
    const ts_json *root = ts_json_root(d);
    assert_string_equal(ts_json_string(ts_json_get(root, "file"), NULL), "spans.jsonl");
    assert_int_equal(ts_json_len(ts_json_get(root, "procs")), 2);
    const ts_json *tr = ts_json_at(ts_json_get(root, "traces"), 0);
    assert_string_equal(ts_json_string(ts_json_get(tr, "id"), NULL), TID);
    const ts_json *spans = ts_json_get(tr, "spans");
    assert_int_equal(ts_json_len(spans), 3);
    /* the root, decoded, is the name as read */
    const ts_json *s0 = ts_json_at(spans, 0);
    assert_string_equal(ts_json_string(ts_json_at(s0, 2), NULL),
                        "GET /</script><b>x\xE2\x80\xA8y\xC2\x9B"
                        "1m\xE2\x80\xAE\xE2\x81\xA6\xE2\x80\x8F\xD8\x9C");
    assert_string_equal(ts_json_string(ts_json_at(ts_json_at(ts_json_at(s0, 15), 0), 1), NULL),
                        "#0 main+0x1 (/bin/shop)\n#1 start");
    /* the child from another host started 0 ms into a parent that started
     * at 0 ms: fits, no shift; the orphan has parent position -1 */
    const ts_json *s2 = ts_json_at(spans, 2);
    assert_string_equal(ts_json_string(ts_json_at(s2, 0), NULL), "0000000000000003");
    assert_int_equal((int)ts_json_at(s2, 12)->num, -1);
    assert_int_equal((int)ts_json_at(s2, 13)->num, TS_TM_PARENT_MISSING);
    assert_int_equal((int)ts_json_at(s2, 6)->num, TS_TM_STATUS_ERROR);
    assert_int_equal((int)ts_json_at(ts_json_at(spans, 1), 12)->num, 0);
    assert_int_equal((int)ts_json_get(tr, "err")->num, 1);
    ts_json_free(d);
    free(out);

    /* A span 2^64 - 2 ns after the trace's first: its offset is the
     * largest the page's number holds, not wrapped to a negative one (the
     * bar was drawn off to the left, its start as 1969). */
    ts_tm_model *far = ts_tm_new();
    char far_err[256];
    static const char far_line[] =
        "{\"resourceSpans\":[{\"resource\":{\"attributes\":[]},\"scopeSpans\":[{\"spans\":["
        "{\"traceId\":\"" TID "\",\"spanId\":\"0000000000000001\",\"parentSpanId\":\"\","
        "\"name\":\"first\",\"startTimeUnixNano\":\"1\",\"endTimeUnixNano\":\"2\"},"
        "{\"traceId\":\"" TID "\",\"spanId\":\"0000000000000002\",\"parentSpanId\":\"\","
        "\"name\":\"last\",\"startTimeUnixNano\":\"18446744073709551614\","
        "\"endTimeUnixNano\":\"18446744073709551615\"}]}]}]}";
    assert_int_equal(ts_tm_add_line(far, far_line, strlen(far_line), 1, far_err, sizeof far_err),
                     2);
    assert_int_equal(ts_tm_build(far), 0);
    const ts_tm_trace *ft = ts_tm_trace_at(far, 0);
    out = report_data(far, ft);
    d = ts_json_parse(out, strlen(out), &err);
    assert_non_null(d);
    spans = ts_json_get(ts_json_at(ts_json_get(ts_json_root(d), "traces"), 0), "spans");
    double last_off = -1;
    for (size_t i = 0; i < 2; i++)
        if (strcmp(ts_json_string(ts_json_at(ts_json_at(spans, i), 2), NULL), "last") == 0)
            assert_true(ts_json_number(ts_json_at(ts_json_at(spans, i), 8), &last_off));
    assert_true(last_off >= 9.2e18);
    ts_json_free(d);
    free(out);
    ts_tm_free(far);

    /* the page: the template around the data, the marker gone */
    capture c;
    cap_open(&c);
    uint64_t data_bytes;
    assert_int_equal(ts_report_write(c.f, m, &t, 1, "spans.jsonl", &data_bytes), 0);
    out = cap_close(&c);
    /* the data's length, which html compares with what a browser can read */
    char *data = report_data(m, t);
    assert_int_equal(data_bytes, strlen(data));
    free(data);
    assert_non_null(strstr(out, "<!DOCTYPE html>"));
    assert_null(strstr(out, "/*TRACESHIM_DATA*/"));
    assert_non_null(strstr(out, "\"id\":\"" TID "\""));
    /* self-contained: nothing fetched from elsewhere */
    assert_null(strstr(out, "src=\"http"));
    assert_null(strstr(out, "href=\"http"));
    assert_null(strstr(out, "@import"));
    free(out);
    ts_tm_free(m);
}

/* A page of some traces carries the services and processes those traces
 * have, and nothing of the others in the file (their command lines and
 * URLs); the others keep their places, empty, so the indexes still hold. */
static void test_report_data_only_what_is_shown(void **state)
{
    const char *lines[] = {
        RES_HOST("shown-svc", "7", "shown-host",
                 SPAN(TID, "0000000000000001", "", "GET /a", "2", "000" MS, "001" MS, "")),
        RES_HOST("secret-svc", "8", "secret-host",
                 SPAN(TID2, "0000000000000002", "", "GET /b", "2", "000" MS, "001" MS, "")),
    };
    ts_tm_model *m = model_of(lines, 2);
    const ts_tm_trace *t = NULL;
    for (size_t i = 0; i < ts_tm_trace_count(m); i++)
        if (strcmp(ts_tm_trace_at(m, i)->trace_id, TID) == 0)
            t = ts_tm_trace_at(m, i);
    assert_non_null(t);
    char *out = report_data(m, t);
    assert_non_null(strstr(out, "shown-svc"));
    assert_non_null(strstr(out, "shown-host"));
    assert_null(strstr(out, "secret"));
    ts_json_error err;
    ts_json_doc *d = ts_json_parse(out, strlen(out), &err);
    assert_non_null(d);
    const ts_json *root = ts_json_root(d);
    assert_int_equal(ts_json_len(ts_json_get(root, "procs")), 2);
    assert_int_equal(ts_json_len(ts_json_get(root, "services")), 2);
    const ts_json *s0 =
        ts_json_at(ts_json_get(ts_json_at(ts_json_get(root, "traces"), 0), "spans"), 0);
    const ts_json *svcs = ts_json_get(root, "services");
    assert_string_equal(ts_json_string(ts_json_at(svcs, (size_t)ts_json_at(s0, 3)->num), NULL),
                        "shown-svc");
    ts_json_free(d);
    free(out);
    ts_tm_free(m);
}

/* ================= the histogram ================= */

static void test_hdr_buckets(void **state)
{
    /* small values exactly; every value inside its bucket; buckets at most
     * 1/128 of their low end wide; indexes increase with values */
    for (uint64_t v = 0; v < 128; v++) {
        assert_int_equal(ts_hdr_index(v), v);
        assert_int_equal(ts_hdr_bucket_width(v), 1);
    }
    uint64_t x = 88172645463325252ULL;
    size_t prev_idx = 0;
    uint64_t prev_v = 0;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        uint64_t v = i < 100000 ? x >> (x % 64) : (uint64_t)i * 977;
        size_t idx = ts_hdr_index(v);
        uint64_t lo = ts_hdr_bucket_low(idx), w = ts_hdr_bucket_width(idx);
        if (!(lo <= v && v - lo < w))
            fail_msg("%llu not in bucket %zu [%llu, +%llu)", (unsigned long long)v, idx,
                     (unsigned long long)lo, (unsigned long long)w);
        if (v >= 128)
            assert_true(w * 128 <= lo);
        if (i >= 100000) { /* increasing values: indexes never go down */
            assert_true(v < prev_v || idx >= prev_idx);
            prev_idx = idx;
            prev_v = v;
        }
    }
    assert_int_equal(ts_hdr_index(UINT64_MAX), 57 * 128 + 127);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest rank on sorted values: the smallest value with at least p% of
 * the values at or below it. */
static uint64_t exact_percentile(const uint64_t *sorted, size_t n, double p)
{
    /* by integer arithmetic: every p asked for is a whole number of tenths */
    size_t tenths = (size_t)(p * 10 + 0.5);
    size_t rank = (tenths * n + 999) / 1000;
    return sorted[(rank ? rank : 1) - 1];
}

/* Records the values, then compares every reported percentile with the
 * exact one: within 1% (the design bound; the buckets give 0.4%). */
static void check_distribution(const char *what, uint64_t *v, size_t n)
{
    ts_hdr h;
    ts_hdr_init(&h);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(ts_hdr_record(&h, v[i]), 0);
    qsort(v, n, sizeof(*v), cmp_u64);
    assert_int_equal(h.total, n);
    assert_int_equal(h.min, v[0]);
    assert_int_equal(h.max, v[n - 1]);
    const double ps[] = {1, 25, 50, 75, 90, 95, 99, 99.9, 100};
    for (size_t k = 0; k < sizeof(ps) / sizeof(ps[0]); k++) {
        uint64_t want = exact_percentile(v, n, ps[k]);
        uint64_t got = ts_hdr_percentile(&h, ps[k]);
        uint64_t diff = got > want ? got - want : want - got;
        if (diff * 100 > want)
            fail_msg("%s: p%g is %llu, exactly %llu (off by more than 1%%)", what, ps[k],
                     (unsigned long long)got, (unsigned long long)want);
    }
    ts_hdr_free(&h);
}

/* A deterministic generator: xorshift64*, uniform in [0, 1). */
static double uniform01(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return (double)((*s * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static void test_hdr_percentiles(void **state)
{
    enum { N = 100000 };
    uint64_t *v = malloc(N * sizeof(*v)), seed = 42;
    assert_non_null(v);
    for (size_t i = 0; i < N; i++) /* uniform 1 µs .. 100 ms */
        v[i] = 1000 + (uint64_t)(uniform01(&seed) * 99999000.0);
    check_distribution("uniform", v, N);
    for (size_t i = 0; i < N; i++) /* exponential, mean 2 ms: a long tail */
        v[i] = 1 + (uint64_t)(-log(1 - uniform01(&seed)) * 2e6);
    check_distribution("exponential", v, N);
    for (size_t i = 0; i < N; i++) /* bimodal: fast cache hits, slow misses */
        v[i] = i % 10 == 0 ? 250000000 + (uint64_t)(uniform01(&seed) * 5e7)
                           : 40000 + (uint64_t)(uniform01(&seed) * 2e4);
    check_distribution("bimodal", v, N);
    for (size_t i = 0; i < 1000; i++) /* small exact values and one outlier */
        v[i] = i == 999 ? 3600000000000ULL : i % 100;
    check_distribution("small", v, 1000);
    v[0] = 123456789;
    check_distribution("one value", v, 1);
    free(v);

    ts_hdr h;
    ts_hdr_init(&h);
    assert_int_equal(ts_hdr_percentile(&h, 50), 0);
    ts_hdr_free(&h);
}

/* ================= stats ================= */

/* A finished ts_stats of every span of the lines. */
static ts_stats *stats_of(const char *const *lines, size_t n, ts_stats_sort sort, ts_tm_model **m)
{
    *m = model_of(lines, n);
    ts_stats *st = ts_stats_new();
    assert_non_null(st);
    for (size_t t = 0; t < ts_tm_trace_count(*m); t++)
        for (size_t i = 0; i < ts_tm_trace_at(*m, t)->n_spans; i++)
            assert_int_equal(ts_stats_add(st, ts_tm_trace_at(*m, t)->spans[i]), 0);
    assert_int_equal(ts_stats_finish(st, sort, false), 0);
    return st;
}

static void test_stats_groups(void **state)
{
    const char *lines[] = {
        RES("api", "1",
            SPAN(TID, "0000000000000001", "", "GET /fast", "2", "000" MS, "001" MS, "") "," SPAN(
                TID, "0000000000000002", "", "GET /fast", "2", "000" MS, "003" MS,
                "") "," SPAN(TID, "0000000000000003", "", "GET /slow", "2", "000" MS, "100" MS,
                             ERR("x")) "," SPAN(TID, "0000000000000004", "", "GET /slow", "3",
                                                "000" MS, "050" MS, "")),
        RES("db", "2", SPAN(TID2, "0000000000000001", "", "query", "2", "200" MS, "201" MS, "")),
    };
    ts_tm_model *m;
    ts_stats *st = stats_of(lines, 2, TS_STATS_SORT_P99, &m);
    /* api: GET /slow server (100 ms), GET /slow client (50 ms), GET /fast;
     * then db */
    assert_int_equal(ts_stats_group_count(st), 4);
    const ts_stats_group *g = ts_stats_group_at(st, 0);
    assert_string_equal(g->service, "api");
    assert_string_equal(g->name, "GET /slow");
    assert_int_equal(g->kind, TS_TM_KIND_SERVER);
    assert_int_equal(g->errors, 1);
    g = ts_stats_group_at(st, 1);
    assert_int_equal(g->kind, TS_TM_KIND_CLIENT);
    g = ts_stats_group_at(st, 2);
    assert_string_equal(g->name, "GET /fast");
    assert_int_equal(g->count, 2);
    assert_int_equal(ts_hdr_percentile(&g->hist, 50), 1000000 - 1000000 % 4096 + 2047);
    assert_string_equal(ts_stats_group_at(st, 3)->service, "db");
    assert_int_equal(ts_stats_window_ns(st), 201000000);

    /* a filter that keeps db's span alone: the rate is still over the
     * file's window (the spans left out are seen), not db's 1 ms */
    ts_stats *only_db = ts_stats_new();
    assert_non_null(only_db);
    for (size_t t = 0; t < ts_tm_trace_count(m); t++)
        for (size_t i = 0; i < ts_tm_trace_at(m, t)->n_spans; i++) {
            const ts_tm_span *sp = ts_tm_trace_at(m, t)->spans[i];
            if (strcmp(sp->service, "db") == 0)
                assert_int_equal(ts_stats_add(only_db, sp), 0);
            else
                ts_stats_see(only_db, sp);
        }
    assert_int_equal(ts_stats_finish(only_db, TS_STATS_SORT_P99, false), 0);
    assert_int_equal(ts_stats_group_count(only_db), 1);
    assert_int_equal(ts_stats_window_ns(only_db), 201000000);
    ts_stats_free(only_db);

    /* a filter that keeps nothing: the file's window all the same (it was
     * 0, where any other filter gave the file's) */
    ts_stats *none = ts_stats_new();
    assert_non_null(none);
    for (size_t t = 0; t < ts_tm_trace_count(m); t++)
        for (size_t i = 0; i < ts_tm_trace_at(m, t)->n_spans; i++)
            ts_stats_see(none, ts_tm_trace_at(m, t)->spans[i]);
    assert_int_equal(ts_stats_finish(none, TS_STATS_SORT_P99, false), 0);
    assert_int_equal(ts_stats_group_count(none), 0);
    assert_int_equal(ts_stats_window_ns(none), 201000000);
    ts_stats_free(none);
    none = ts_stats_new(); /* nothing seen at all: no window */
    assert_non_null(none);
    assert_int_equal(ts_stats_finish(none, TS_STATS_SORT_P99, false), 0);
    assert_int_equal(ts_stats_window_ns(none), 0);
    ts_stats_free(none);

    capture c;
    cap_open(&c);
    ts_stats_write_table(c.f, st);
    char *out = cap_close(&c);
    assert_non_null(strstr(out, "SERVICE  KIND      NAME         COUNT    RATE/s    ERR%"));
    assert_non_null(strstr(out, "api      server    GET /slow        1      4.98   100.0"));
    assert_non_null(strstr(out, "\n\ndb "));
    free(out);

    cap_open(&c);
    ts_stats_write_json(c.f, st);
    out = cap_close(&c);
    ts_json_error err;
    ts_json_doc *d = ts_json_parse(out, strlen(out), &err);
    assert_non_null(d);
    const ts_json *g0 = ts_json_at(ts_json_get(ts_json_root(d), "groups"), 0);
    assert_string_equal(ts_json_string(ts_json_get(g0, "kind"), NULL), "server");
    assert_int_equal((long long)ts_json_get(g0, "max_ns")->num, 100000000);
    assert_true(ts_json_get(g0, "p999_ns") != NULL);
    ts_json_free(d);
    free(out);

    /* by count, and only the rows with errors */
    assert_int_equal(ts_stats_finish(st, TS_STATS_SORT_COUNT, false), 0);
    assert_string_equal(ts_stats_group_at(st, 0)->name, "GET /fast");
    assert_int_equal(ts_stats_finish(st, TS_STATS_SORT_P99, true), 0);
    assert_int_equal(ts_stats_group_count(st), 1);
    ts_stats_free(st);
    ts_tm_free(m);
}

/* Four spans 5 ns long within 8 ns, one per name and kind in service s:
 * 125000000.00 a second each. */
static const char *const four_quick_spans[] = {
    RES("s", "1",
        SPAN(TID, "0000000000000001", "", "b-server", "2", "000000000", "000000005", "") "," SPAN(
            TID, "0000000000000002", "", "a-client", "3", "000000001", "000000006",
            "") "," SPAN(TID, "0000000000000003", "", "c-internal", "1", "000000002", "000000007",
                         "") "," SPAN(TID, "0000000000000004", "", "a-server", "2", "000000003",
                                      "000000008", "")),
};

/* --sort name orders a service's rows by name, then kind: it ordered them
 * by kind first (internal, server, client), then name, so "b-server"
 * came before "a-client". */
static void test_stats_sort_by_name(void **state)
{
    (void)state;
    ts_tm_model *m;
    ts_stats *st = stats_of(four_quick_spans, 1, TS_STATS_SORT_NAME, &m);
    assert_int_equal(ts_stats_group_count(st), 4);
    static const char *const names[] = {"a-client", "a-server", "b-server", "c-internal"};
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(ts_stats_group_at(st, i)->name, names[i]);
    assert_int_equal(ts_stats_group_at(st, 0)->kind, TS_TM_KIND_CLIENT);
    ts_stats_free(st);
    ts_tm_free(m);
}

/* A RATE/s wider than its 8 columns (100000/s and more) pushed ERR% and
 * the percentiles out of line, under a header that did not move; the
 * column now widens to its widest cell, header too. */
static void test_stats_wide_rates_stay_aligned(void **state)
{
    (void)state;
    ts_tm_model *m;
    ts_stats *st = stats_of(four_quick_spans, 1, TS_STATS_SORT_P99, &m);
    capture c;
    cap_open(&c);
    ts_stats_write_table(c.f, st);
    char *out = cap_close(&c);
    /* every line as long as the header, each rate ending where "RATE/s" does */
    const char *header_end = strchr(out, '\n');
    assert_non_null(header_end);
    size_t width = (size_t)(header_end - out);
    size_t rate_end = (size_t)(strstr(out, "RATE/s") - out) + strlen("RATE/s");
    size_t rows = 0;
    for (const char *line = header_end + 1; *line; rows++) {
        const char *end = strchr(line, '\n');
        assert_non_null(end);
        assert_int_equal((size_t)(end - line), width);
        const char *rate = strstr(line, "125000000.00");
        assert_non_null(rate);
        assert_int_equal((size_t)(rate - line) + strlen("125000000.00"), rate_end);
        line = end + 1;
    }
    assert_int_equal(rows, 4);
    assert_non_null(strstr(out, "  COUNT        RATE/s    ERR%"));
    free(out);
    ts_stats_free(st);
    ts_tm_free(m);
}

/* Milliseconds ts_stats_finish takes to order st's groups by sort. */
static double finish_ms(ts_stats *st, ts_stats_sort sort)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(ts_stats_finish(st, sort, false), 0);
    return ms_since(&t0);
}

/* Ordering many groups by a percentile: each group's is found once, not
 * in every comparison of the sort (n log n of them, each a walk over two
 * histograms). 50,000 names whose durations span seven decades took
 * three times as long to order by p99 as by name; now about as long. */
static void test_stats_many_groups_sorted_once(void **state)
{
    enum { GROUPS = 50000, PER = 8 };
    ts_stats *st = ts_stats_new();
    assert_non_null(st);
    static char names[GROUPS][16];
    for (int g = 0; g < GROUPS; g++) {
        snprintf(names[g], sizeof names[g], "GET /%d", g);
        uint64_t d = 1000 + (uint64_t)(g % 997);
        for (int k = 0; k < PER; k++, d *= 10) {
            ts_tm_span sp = {.service = "svc",
                             .name = names[g],
                             .kind = TS_TM_KIND_SERVER,
                             .start_ns = 1000,
                             .end_ns = 1000 + d};
            assert_int_equal(ts_stats_add(st, &sp), 0);
        }
    }
    /* the faster of two runs of each, taken in turn: the machine's other
     * work falls on both alike */
    double by_name = 1e9, by_p99 = 1e9;
    for (int round = 0; round < 2; round++) {
        double n = finish_ms(st, TS_STATS_SORT_NAME), p = finish_ms(st, TS_STATS_SORT_P99);
        by_name = n < by_name ? n : by_name;
        by_p99 = p < by_p99 ? p : by_p99;
    }
    print_message("%d groups: by name %.0f ms, by p99 %.0f ms\n", GROUPS, by_name, by_p99);
    assert_int_equal(ts_stats_group_count(st), GROUPS);
    for (size_t i = 1; i < GROUPS; i++)
        assert_true(ts_hdr_percentile(&ts_stats_group_at(st, i - 1)->hist, 99) >=
                    ts_hdr_percentile(&ts_stats_group_at(st, i)->hist, 99));
    if (by_p99 > 2 * by_name + 50)
        fail_msg("ordering by p99 took %.0f ms, by name %.0f ms", by_p99, by_name);
    ts_stats_free(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spans_from_several_processes),
        cmocka_unit_test(test_layout_missing_parents),
        cmocka_unit_test(test_layout_shifts_stay_in_range),
        cmocka_unit_test(test_layout_clock_skew),
        cmocka_unit_test(test_same_clock_without_hosts),
        cmocka_unit_test(test_siblings_by_shown_start),
        cmocka_unit_test(test_siblings_by_shown_start_at_scale),
        cmocka_unit_test(test_render_list),
        cmocka_unit_test(test_list_started_by_root),
        cmocka_unit_test(test_filters),
        cmocka_unit_test(test_stats_many_groups_sorted_once),
        cmocka_unit_test(test_stats_sort_by_name),
        cmocka_unit_test(test_stats_wide_rates_stay_aligned),
        cmocka_unit_test(test_match_anchored_same_answers_in_linear_time),
        cmocka_unit_test(test_report_data),
        cmocka_unit_test(test_report_data_only_what_is_shown),
        cmocka_unit_test(test_hdr_buckets),
        cmocka_unit_test(test_hdr_percentiles),
        cmocka_unit_test(test_stats_groups),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
