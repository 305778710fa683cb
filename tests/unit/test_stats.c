/* test_stats.c — the process's counters (preload/stats.h): exact totals
 * from many threads, zero after fork, the summary line byte for byte, the
 * OTLP/JSON metrics line read back with the JSON parser the viewer uses;
 * the connection code's counts (spans started, header bytes added, each
 * reason to give a connection up) on socket pairs; and the reporter's end:
 * what it counts as spans pass through, and what TRACESHIM_STATS prints
 * and appends at exit. Scenarios run in forked children, each with fresh
 * counters and a fresh reporter, as in test_queue. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "isolated.h"

#include "common/json_read.h"
#include "hooks/conn.h"
#include "preload/config.h"
#include "preload/fdtable.h"
#include "preload/process.h"
#include "preload/span.h"
#include "preload/stats.h"
#include "reporter/json_buf.h"
#include "reporter/otlp_metrics.h"
#include "reporter/reporter.h"
#include "reporter/resource.h"

static void sleep_ms(unsigned ms)
{
    struct timespec t = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

/* ------------------------------------------------------------ counters */

enum { ADDERS = 8, PER_ADDER = 100000 };

static void *adder(void *arg)
{
    (void)arg;
    for (int i = 0; i < PER_ADDER; i++) {
        ts_stats_add(TS_STAT_SPANS_STARTED, 1);
        ts_stats_add(TS_STAT_BYTES_INJECTED, 3);
    }
    return NULL;
}

static void scen_counters_exact(void)
{
    for (int i = 0; i < TS_STAT_COUNT; i++)
        CHECK(ts_stats_get((enum ts_stat)i) == 0, "counter %d starts at %llu", i,
              (unsigned long long)ts_stats_get((enum ts_stat)i));
    pthread_t t[ADDERS];
    for (int i = 0; i < ADDERS; i++)
        CHECK(pthread_create(&t[i], NULL, adder, NULL) == 0, "pthread_create");
    for (int i = 0; i < ADDERS; i++)
        pthread_join(t[i], NULL);
    CHECK(ts_stats_get(TS_STAT_SPANS_STARTED) == (uint64_t)ADDERS * PER_ADDER, "started %llu",
          (unsigned long long)ts_stats_get(TS_STAT_SPANS_STARTED));
    CHECK(ts_stats_get(TS_STAT_BYTES_INJECTED) == (uint64_t)ADDERS * PER_ADDER * 3, "bytes %llu",
          (unsigned long long)ts_stats_get(TS_STAT_BYTES_INJECTED));
    CHECK(ts_stats_get(TS_STAT_SPANS_FINISHED) == 0, "an untouched counter moved");

    struct ts_stats_snapshot s;
    ts_stats_read(&s);
    CHECK(s.count[TS_STAT_SPANS_STARTED] == (uint64_t)ADDERS * PER_ADDER, "snapshot");
    CHECK(s.queue_length == 0, "queue gauge set by ts_stats_read");
}

static void test_counters_exact_across_threads(void **state)
{
    run_in_child(ts_stats_after_fork, scen_counters_exact);
}

/* A forked child starts from zero, with its own start time; the parent
 * keeps its totals. */
static void scen_fork_zeroes(void)
{
    ts_stats_mark_start();
    uint64_t parent_start = ts_stats_start_ns();
    CHECK(parent_start > 0, "no start time");
    ts_stats_add(TS_STAT_CONNS_TRACKED, 5);
    ts_stats_add(TS_STAT_GAVE_UP_TUNNEL, 2);
    sleep_ms(2);
    ts_stats_fork_prepare(); /* what the fork handlers do */
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        ts_stats_after_fork();
        for (int i = 0; i < TS_STAT_COUNT; i++)
            CHECK(ts_stats_get((enum ts_stat)i) == 0, "child counter %d not zero", i);
        CHECK(ts_stats_start_ns() > parent_start, "child's start not its own");
        _exit(0);
    }
    int status;
    CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "child failed");
    CHECK(ts_stats_get(TS_STAT_CONNS_TRACKED) == 5, "parent lost its count");
    CHECK(ts_stats_start_ns() == parent_start, "parent's start moved");
}

static void test_fork_starts_at_zero(void **state)
{
    run_in_child(ts_stats_after_fork, scen_fork_zeroes);
}

static void test_keys_are_stable(void **state)
{
    static const char *const want[TS_STAT_COUNT] = {
        "spans_started",
        "spans_finished",
        "sampled",
        "unsampled",
        "exported",
        "dropped_queue_full",
        "dropped_export_failed",
        "dropped_exit_timeout",
        "export_errors",
        "bytes_injected",
        "conns_tracked",
        "not_http",
        "bad_head",
        "head_too_big",
        "bad_framing",
        "tunnel",
        "unseen_bytes",
        "no_memory",
        "too_many_in_flight",
        "fd_out_of_range",
        "exec",
    };
    for (int i = 0; i < TS_STAT_COUNT; i++)
        assert_string_equal(ts_stats_key((enum ts_stat)i), want[i]);
    assert_string_equal(ts_stats_key(TS_STAT_COUNT), "");
}

/* ------------------------------------------------------------ the line */

/* Counter i holds 100 + i: every value in the line is traceable to its key. */
static void numbered_snapshot(struct ts_stats_snapshot *s)
{
    for (int i = 0; i < TS_STAT_COUNT; i++)
        s->count[i] = 100 + (uint64_t)i;
    s->queue_length = 7;
}

static void test_summary_line_exact(void **state)
{
    struct ts_stats_snapshot s;
    numbered_snapshot(&s);
    char buf[1024];
    size_t n = ts_stats_format_line(&s, 4242, buf, sizeof buf);
    const char *want =
        "traceshim[4242]: stats spans_started=100 spans_finished=101 sampled=102 unsampled=103 "
        "exported=104 dropped_queue_full=105 dropped_export_failed=106 dropped_exit_timeout=107 "
        "export_errors=108 queue_length=7 bytes_injected=109 conns_tracked=110 "
        "conns_given_up=1155 (not_http=111 bad_head=112 head_too_big=113 bad_framing=114 "
        "tunnel=115 unseen_bytes=116 no_memory=117 too_many_in_flight=118 fd_out_of_range=119 "
        "exec=120)\n";
    assert_int_equal(n, strlen(want));
    assert_memory_equal(buf, want, n);
    assert_int_equal(ts_stats_given_up(&s), 1155); /* 111 + ... + 120 */
}

static void test_summary_line_zero_and_huge(void **state)
{
    struct ts_stats_snapshot s;
    memset(&s, 0, sizeof s);
    s.count[TS_STAT_BYTES_INJECTED] = UINT64_MAX;
    char buf[1024];
    size_t n = ts_stats_format_line(&s, 1, buf, sizeof buf);
    buf[n] = '\0';
    assert_non_null(strstr(buf, " spans_started=0 "));
    assert_non_null(strstr(buf, " bytes_injected=18446744073709551615 "));
    assert_non_null(strstr(buf, " conns_given_up=0 (not_http=0 "));
    assert_int_equal(buf[n - 1], '\n');
    assert_null(memchr(buf, '\n', n - 1)); /* one line */
}

/* A buffer too small for the line: cut, newline-terminated, never overrun. */
static void test_summary_line_cut(void **state)
{
    struct ts_stats_snapshot s;
    numbered_snapshot(&s);
    char buf[48];
    memset(buf, 'Z', sizeof buf);
    size_t n = ts_stats_format_line(&s, 4242, buf, 40);
    assert_int_equal(n, 40);
    assert_int_equal(buf[39], '\n');
    assert_memory_equal(buf, "traceshim[4242]: stats spans_started=10", 39);
    for (size_t i = 40; i < sizeof buf; i++)
        assert_int_equal(buf[i], 'Z');
}

/* ---------------------------------------------------- the metrics line */

static void set_process(void)
{
    memset(&ts_cfg, 0, sizeof ts_cfg);
    memset(&ts_proc, 0, sizeof ts_proc);
    ts_proc.pid = 1234;
    strcpy(ts_proc.exe_name, "python3");
    strcpy(ts_proc.service_name, "frontend");
    strcpy(ts_proc.host_name, "box");
    snprintf(ts_cfg.resource_attrs, sizeof ts_cfg.resource_attrs, "team=a");
    ts_resource_reset();
}

static const char *str_at(const ts_json *obj, const char *key)
{
    return ts_json_string(ts_json_get(obj, key), NULL);
}

static const ts_json *metric_named(const ts_json *metrics, const char *name)
{
    for (size_t i = 0; i < ts_json_len(metrics); i++) {
        const char *n = str_at(ts_json_at(metrics, i), "name");
        if (n && strcmp(n, name) == 0)
            return ts_json_at(metrics, i);
    }
    return NULL;
}

/* A monotonic cumulative Sum's data point, checked whole; returns asInt. */
static unsigned long long sum_point(const ts_json *m, size_t i, const char *reason)
{
    const ts_json *sum = ts_json_get(m, "sum");
    assert_non_null(sum);
    assert_null(ts_json_get(m, "gauge"));
    bool mono = false;
    assert_true(ts_json_bool(ts_json_get(sum, "isMonotonic"), &mono) && mono);
    double temporality = 0;
    assert_true(ts_json_number(ts_json_get(sum, "aggregationTemporality"), &temporality));
    assert_true(temporality == 2.0); /* AGGREGATION_TEMPORALITY_CUMULATIVE */
    const ts_json *p = ts_json_at(ts_json_get(sum, "dataPoints"), i);
    assert_non_null(p);
    assert_string_equal(str_at(p, "startTimeUnixNano"), "1700000000000000000");
    assert_string_equal(str_at(p, "timeUnixNano"), "1700000005000000000");
    const ts_json *attrs = ts_json_get(p, "attributes");
    if (reason) {
        assert_int_equal(ts_json_len(attrs), 1);
        assert_string_equal(str_at(ts_json_otlp_attr(attrs, "reason"), "stringValue"), reason);
    } else {
        assert_null(attrs);
    }
    const char *v = str_at(p, "asInt"); /* a 64-bit integer: a decimal string */
    assert_non_null(v);
    return strtoull(v, NULL, 10);
}

static void test_metrics_json_reads_back(void **state)
{
    set_process();
    struct ts_stats_snapshot s;
    numbered_snapshot(&s);
    s.count[TS_STAT_SPANS_EXPORTED] = UINT64_MAX / 2; /* past a double's exact range */
    struct ts_json_buf b;
    ts_json_buf_init(&b);
    assert_true(ts_otlp_metrics_json(&b, &s, 1700000000000000000ull, 1700000005000000000ull));
    assert_null(memchr(b.data, '\n', b.len)); /* one line of the span file */

    ts_json_error err;
    ts_json_doc *doc = ts_json_parse(b.data, b.len, &err);
    if (!doc)
        fail_msg("not JSON at %zu: %s: %.*s", err.offset, err.msg, (int)b.len, b.data);
    const ts_json *root = ts_json_root(doc);
    assert_null(ts_json_get(root, "resourceSpans"));
    const ts_json *rm = ts_json_get(root, "resourceMetrics");
    assert_int_equal(ts_json_len(rm), 1);
    const ts_json *res_attrs =
        ts_json_get(ts_json_get(ts_json_at(rm, 0), "resource"), "attributes");
    assert_string_equal(str_at(ts_json_otlp_attr(res_attrs, "service.name"), "stringValue"),
                        "frontend");
    assert_string_equal(str_at(ts_json_otlp_attr(res_attrs, "process.pid"), "intValue"), "1234");
    assert_string_equal(str_at(ts_json_otlp_attr(res_attrs, "team"), "stringValue"), "a");
    const ts_json *sm = ts_json_get(ts_json_at(rm, 0), "scopeMetrics");
    assert_int_equal(ts_json_len(sm), 1);
    const ts_json *scope = ts_json_get(ts_json_at(sm, 0), "scope");
    assert_string_equal(str_at(scope, "name"), "traceshim");
    assert_string_equal(str_at(scope, "version"), TS_VERSION);
    const ts_json *metrics = ts_json_get(ts_json_at(sm, 0), "metrics");
    assert_int_equal(ts_json_len(metrics), 12);

    static const struct {
        const char *name;
        enum ts_stat stat;
    } plain[] = {
        {"traceshim.spans.started", TS_STAT_SPANS_STARTED},
        {"traceshim.spans.finished", TS_STAT_SPANS_FINISHED},
        {"traceshim.spans.sampled", TS_STAT_SPANS_SAMPLED},
        {"traceshim.spans.unsampled", TS_STAT_SPANS_UNSAMPLED},
        {"traceshim.spans.exported", TS_STAT_SPANS_EXPORTED},
        {"traceshim.export.errors", TS_STAT_EXPORT_ERRORS},
        {"traceshim.bytes.injected", TS_STAT_BYTES_INJECTED},
        {"traceshim.connections.tracked", TS_STAT_CONNS_TRACKED},
    };
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        const ts_json *m = metric_named(metrics, plain[i].name);
        if (!m)
            fail_msg("no metric %s", plain[i].name);
        assert_non_null(str_at(m, "description"));
        assert_non_null(str_at(m, "unit"));
        assert_int_equal(ts_json_len(ts_json_get(ts_json_get(m, "sum"), "dataPoints")), 1);
        assert_true(sum_point(m, 0, NULL) == s.count[plain[i].stat]);
    }
    assert_string_equal(str_at(metric_named(metrics, "traceshim.bytes.injected"), "unit"), "By");

    const ts_json *dropped = metric_named(metrics, "traceshim.spans.dropped");
    assert_non_null(dropped);
    assert_int_equal(ts_json_len(ts_json_get(ts_json_get(dropped, "sum"), "dataPoints")), 2);
    assert_true(sum_point(dropped, 0, "queue_full") == 105);
    assert_true(sum_point(dropped, 1, "export_failed") == 106);
    /* what the latest flush at exit left, a gauge: a second line's can be
     * lower, which a monotonic sum's point must never be */
    const ts_json *unsent = metric_named(metrics, "traceshim.spans.unsent_at_exit");
    assert_non_null(unsent);
    assert_null(ts_json_get(unsent, "sum"));
    const ts_json *up = ts_json_at(ts_json_get(ts_json_get(unsent, "gauge"), "dataPoints"), 0);
    assert_string_equal(str_at(up, "asInt"), "107");
    assert_null(ts_json_get(up, "startTimeUnixNano"));

    const ts_json *gave_up = metric_named(metrics, "traceshim.connections.given_up");
    assert_non_null(gave_up);
    assert_int_equal(ts_json_len(ts_json_get(ts_json_get(gave_up, "sum"), "dataPoints")), 10);
    for (int st = TS_STAT_GAVE_UP_FIRST; st <= TS_STAT_GAVE_UP_LAST; st++)
        assert_true(sum_point(gave_up, (size_t)(st - TS_STAT_GAVE_UP_FIRST),
                              ts_stats_key((enum ts_stat)st)) == s.count[st]);

    const ts_json *queue = metric_named(metrics, "traceshim.queue.length");
    assert_non_null(queue);
    assert_null(ts_json_get(queue, "sum"));
    const ts_json *qp = ts_json_at(ts_json_get(ts_json_get(queue, "gauge"), "dataPoints"), 0);
    assert_string_equal(str_at(qp, "asInt"), "7");
    assert_string_equal(str_at(qp, "timeUnixNano"), "1700000005000000000");
    assert_null(ts_json_get(qp, "startTimeUnixNano"));

    ts_json_free(doc);
    ts_json_buf_free(&b);
}

/* A request with some of the metrics (a line each into a FIFO): the same
 * metrics, whole, in the same order, with the same resource; a range past
 * the end is cut to what there is. */
static void test_metrics_json_some_splits_the_request(void **state)
{
    (void)state;
    set_process();
    struct ts_stats_snapshot s;
    numbered_snapshot(&s);
    struct ts_json_buf all, one;
    ts_json_buf_init(&all);
    ts_json_buf_init(&one);
    assert_true(ts_otlp_metrics_json(&all, &s, 1, 2));
    size_t n = ts_otlp_metrics_count();
    assert_int_equal(n, 12);
    /* the whole request from its metrics one by one: its text is the
     * head, the metrics joined by commas, and the tail */
    const char *first_metric = strstr(all.data, "\"metrics\":[") + strlen("\"metrics\":[");
    size_t head = (size_t)(first_metric - all.data), tail = strlen("]}]}]}");
    size_t at = head;
    for (size_t i = 0; i < n; i++) {
        ts_json_buf_reset(&one);
        assert_true(ts_otlp_metrics_json_some(&one, &s, 1, 2, i, 1));
        assert_true(one.len > head + tail);
        assert_memory_equal(one.data, all.data, head);
        size_t body = one.len - head - tail;
        assert_memory_equal(one.data + head, all.data + at, body);
        assert_memory_equal(one.data + one.len - tail, "]}]}]}", tail);
        at += body + 1; /* and the comma */
    }
    assert_int_equal(at - 1, all.len - tail);
    struct ts_json_buf last;
    ts_json_buf_init(&last);
    assert_true(ts_otlp_metrics_json_some(&last, &s, 1, 2, n - 1, 5)); /* past the end */
    assert_int_equal(last.len, one.len); /* one holds the last metric alone */
    assert_memory_equal(last.data, one.data, one.len);
    ts_json_buf_free(&last);
    ts_json_buf_reset(&one);
    assert_true(ts_otlp_metrics_json_some(&one, &s, 1, 2, 0, n + 3));
    assert_int_equal(one.len, all.len);
    assert_memory_equal(one.data, all.data, all.len);
    ts_json_buf_free(&all);
    ts_json_buf_free(&one);
}

/* No start recorded (or a clock that went back): the points start at their
 * own time, never after it. */
static void test_metrics_json_start_never_after_now(void **state)
{
    set_process();
    struct ts_stats_snapshot s;
    memset(&s, 0, sizeof s);
    struct ts_json_buf b;
    ts_json_buf_init(&b);
    assert_true(ts_otlp_metrics_json(&b, &s, 0, 1700000005000000000ull));
    ts_json_buf_append_char(&b, '\0');
    assert_null(strstr(b.data, "\"startTimeUnixNano\":\"0\""));
    assert_non_null(strstr(b.data, "\"startTimeUnixNano\":\"1700000005000000000\""));
    ts_json_buf_free(&b);
}

/* ------------------------------------------------------- connections */

/* A socket pair whose first end is tracked as a program's connection;
 * spans go to the real reporter, which (exporter none) only counts them. */
struct pair {
    int prog, peer;
};

#define TS_FD_LIMIT_FOR_TEST (TS_FD_MAX + 5)

static struct pair conn_pair(int role)
{
    memset(&ts_cfg, 0, sizeof ts_cfg);
    ts_config_load(&ts_cfg, NULL);
    ts_cfg.exporters = 0;
    ts_proc.pid = getpid();
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
    ts_conn_track(sv[0], role, NULL, 0);
    return (struct pair){sv[0], sv[1]};
}

static void conn_close(struct pair *p)
{
    ts_conn_untrack(p->prog);
    close(p->prog);
    close(p->peer);
}

struct observed_write {
    int fd;
    const char *buf;
    size_t len;
};

static ssize_t pass_observed(void *arg)
{
    struct observed_write *w = arg;
    return write(w->fd, w->buf, w->len);
}

/* The program writes s on its end, through the connection logic. */
static void prog_send(struct pair *p, const char *s)
{
    struct iovec iov = {(void *)s, strlen(s)};
    struct observed_write w = {p->prog, s, strlen(s)};
    struct ts_conn *c = ts_conn_get(p->prog);
    CHECK(c != NULL, "not tracked");
    ssize_t r = ts_conn_send(c, p->prog, &iov, 1, 0, pass_observed, &w);
    ts_conn_put(c);
    CHECK(r == (ssize_t)strlen(s), "send returned %zd", r);
}

/* The peer writes s; the program reads all of it through the connection logic. */
static void prog_receive(struct pair *p, const char *s)
{
    CHECK(write(p->peer, s, strlen(s)) == (ssize_t)strlen(s), "peer write");
    char buf[8192];
    ssize_t r = read(p->prog, buf, sizeof buf);
    CHECK(r == (ssize_t)strlen(s), "read %zd", r);
    struct iovec iov = {buf, sizeof buf};
    struct ts_conn *c = ts_conn_get(p->prog);
    CHECK(c != NULL, "not tracked");
    ts_conn_recv_done(c, &iov, 1, r, 0, 0);
    ts_conn_put(c);
}

static size_t peer_drain(struct pair *p, char *buf, size_t cap)
{
    size_t n = 0;
    ssize_t r;
    while (n < cap - 1 && (r = recv(p->peer, buf + n, cap - 1 - n, MSG_DONTWAIT)) > 0)
        n += (size_t)r;
    buf[n] = '\0';
    return n;
}

static uint64_t given_up_now(void)
{
    struct ts_stats_snapshot s;
    ts_stats_read(&s);
    return ts_stats_given_up(&s);
}

/* A traced request and its answer: one connection tracked, one span
 * started and finished (sampled), and exactly the added header lines
 * counted as injected bytes. */
static void scen_conn_client_request(void)
{
    struct pair p = conn_pair(TS_ROLE_CLIENT);
    CHECK(ts_stats_get(TS_STAT_CONNS_TRACKED) == 1, "tracked");
    const char *req = "GET /users/7 HTTP/1.1\r\nHost: api\r\n\r\n";
    prog_send(&p, req);
    char wire[4096];
    size_t n = peer_drain(&p, wire, sizeof wire);
    CHECK(n > strlen(req), "nothing injected: %s", wire);
    CHECK(ts_stats_get(TS_STAT_BYTES_INJECTED) == n - strlen(req), "injected %llu, wire added %zu",
          (unsigned long long)ts_stats_get(TS_STAT_BYTES_INJECTED), n - strlen(req));
    CHECK(ts_stats_get(TS_STAT_SPANS_STARTED) == 1, "started");
    CHECK(ts_stats_get(TS_STAT_SPANS_FINISHED) == 0, "finished before its answer");
    prog_receive(&p, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    CHECK(ts_stats_get(TS_STAT_SPANS_FINISHED) == 1 && ts_stats_get(TS_STAT_SPANS_SAMPLED) == 1,
          "finished %llu", (unsigned long long)ts_stats_get(TS_STAT_SPANS_FINISHED));
    /* a second request on the same connection adds as many bytes again */
    prog_send(&p, req);
    size_t n2 = peer_drain(&p, wire, sizeof wire);
    CHECK(ts_stats_get(TS_STAT_BYTES_INJECTED) == (n - strlen(req)) + (n2 - strlen(req)),
          "second request");
    conn_close(&p);
    CHECK(ts_stats_get(TS_STAT_SPANS_FINISHED) == 2, "the close ends the open span");
    CHECK(given_up_now() == 0, "a clean connection counted as given up");
}

static void test_conn_client_request_counted(void **state)
{
    run_in_child(ts_stats_after_fork, scen_conn_client_request);
}

/* Each way of losing a connection is counted under its own reason, once
 * per connection (here both directions stop, one count). */
static void scen_conn_reasons(void)
{
    struct pair p = conn_pair(TS_ROLE_CLIENT); /* TLS from a client */
    prog_send(&p, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03");
    prog_receive(&p, "\x16\x03\x03\x00\x7a\x02\x00\x00\x76");
    CHECK(ts_stats_get(TS_STAT_GAVE_UP_NOT_HTTP) == 1, "not_http %llu",
          (unsigned long long)ts_stats_get(TS_STAT_GAVE_UP_NOT_HTTP));
    CHECK(given_up_now() == 1, "a connection counted twice");
    conn_close(&p);

    p = conn_pair(TS_ROLE_SERVER); /* a request line, then a broken header line */
    prog_receive(&p, "GET / HTTP/1.1\r\nHost: a\r\nno colon here\r\n\r\n");
    CHECK(ts_stats_get(TS_STAT_GAVE_UP_BAD_HEAD) == 1, "bad_head");
    conn_close(&p);

    /* a head past TRACESHIM_MAX_HEAD_BYTES and the room a request has
     * for the lines a traced client adds (TS_PROP_INJECT_MAX) */
    p = conn_pair(TS_ROLE_SERVER);
    ts_cfg.max_head_bytes = 1024;
    char big[4000];
    int k = snprintf(big, sizeof big, "GET / HTTP/1.1\r\nX-Big: ");
    memset(big + k, 'a', sizeof big - 1 - (size_t)k);
    big[sizeof big - 1] = '\0';
    prog_receive(&p, big);
    CHECK(ts_stats_get(TS_STAT_GAVE_UP_HEAD_TOO_BIG) == 1, "head_too_big");
    conn_close(&p);

    p = conn_pair(TS_ROLE_SERVER); /* a length that cannot be followed */
    prog_receive(&p, "POST / HTTP/1.1\r\nContent-Length: lots\r\n\r\n");
    CHECK(ts_stats_get(TS_STAT_GAVE_UP_BAD_FRAMING) == 1, "bad_framing");
    conn_close(&p);

    p = conn_pair(TS_ROLE_CLIENT); /* CONNECT, answered 200: a tunnel */
    prog_send(&p, "CONNECT db:5432 HTTP/1.1\r\nHost: db:5432\r\n\r\n");
    char wire[4096];
    peer_drain(&p, wire, sizeof wire);
    prog_receive(&p, "HTTP/1.1 200 Connection established\r\n\r\n");
    prog_send(&p, "\x00\x00\x00\x08\x04\xd2\x16\x2f"); /* the other direction stops too */
    CHECK(ts_stats_get(TS_STAT_GAVE_UP_TUNNEL) == 1, "tunnel %llu",
          (unsigned long long)ts_stats_get(TS_STAT_GAVE_UP_TUNNEL));
    conn_close(&p);

    p = conn_pair(TS_ROLE_SERVER); /* sendfile where no body of known length is open */
    struct ts_conn *c = ts_conn_get(p.prog);
    ts_conn_sent_unseen(c, 100);
    ts_conn_put(c);
    CHECK(ts_stats_get(TS_STAT_GAVE_UP_UNSEEN_BYTES) == 1, "unseen_bytes");
    conn_close(&p);

    ts_conn_track(TS_FD_LIMIT_FOR_TEST, TS_ROLE_CLIENT, NULL, 0); /* past the fd table */
    CHECK(ts_stats_get(TS_STAT_GAVE_UP_FD_OUT_OF_RANGE) == 1, "fd_out_of_range");

    CHECK(ts_stats_get(TS_STAT_CONNS_TRACKED) == 7, "tracked %llu",
          (unsigned long long)ts_stats_get(TS_STAT_CONNS_TRACKED));
    CHECK(given_up_now() == 7, "given up %llu", (unsigned long long)given_up_now());
    CHECK(ts_stats_get(TS_STAT_GAVE_UP_NO_MEMORY) == 0, "no_memory");
}

static void test_conn_reasons_counted_once(void **state)
{
    run_in_child(ts_stats_after_fork, scen_conn_reasons);
}

/* ------------------------------------------------- the reporter's part */

static char g_dir[64];
static char g_path[128];

static void scen_setup(unsigned queue, unsigned batch)
{
    strcpy(g_dir, "/tmp/ts_test_stats.XXXXXX");
    CHECK(mkdtemp(g_dir) != NULL, "mkdtemp: %s", strerror(errno));
    snprintf(g_path, sizeof g_path, "%s/spans.jsonl", g_dir);
    set_process();
    ts_proc.pid = getpid();
    ts_cfg.exporters = 1u << TS_EXPORTER_FILE;
    ts_cfg.log_level = TS_LOG_ERROR;
    snprintf(ts_cfg.file_path, sizeof ts_cfg.file_path, "%s", g_path);
    ts_cfg.bsp_max_queue = queue;
    ts_cfg.bsp_max_batch = batch;
    ts_cfg.bsp_delay_ms = 60000;
    ts_cfg.bsp_export_timeout_ms = 5000;
    ts_stats_mark_start();
}

static void make_span(struct ts_span *s, int n, bool sampled)
{
    ts_span_clear(s);
    memset(s->trace_id, 0xab, sizeof s->trace_id);
    memcpy(s->span_id, &n, sizeof n);
    s->span_id[7] = 1;
    s->kind = TS_KIND_SERVER;
    s->sampled = sampled;
    s->start_ns = 1000;
    s->end_ns = 2000;
    ts_span_set_name(s, "GET /x", 6);
}

/* Redirect fd 2 into a pipe; returns the read end. */
/* The test's own stderr while fd 2 is captured, for CHECK's messages. */
static int stderr_kept = -1;

/* fd 2 into a pipe; returns its read end. */
static int capture_stderr(void)
{
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    stderr_kept = dup(2);
    CHECK(stderr_kept >= 0 && dup2(p[1], 2) == 2, "dup2");
    close(p[1]);
    return p[0];
}

/* The capture is over: the pipe's write end (fd 2) closed, so that its
 * read end sees the end, and the test's stderr back, so that a failing
 * CHECK says why. */
static void end_capture(void)
{
    close(2);
    dup2(stderr_kept, 2);
    close(stderr_kept);
}

static size_t read_all(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    ssize_t r;
    while (n < cap - 1 && (r = read(fd, buf + n, cap - 1 - n)) > 0)
        n += (size_t)r;
    buf[n] = '\0';
    return n;
}

/* The value of " key=N" in the summary line. */
static unsigned long long line_value(const char *line, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, " %s=", key);
    const char *p = strstr(line, pat);
    CHECK(p != NULL, "no %s in %s", key, line);
    return strtoull(p + strlen(pat), NULL, 10);
}

/* Spans through the reporter: finished, sampled and unsampled counted as
 * they are submitted; at exit every sampled span is exported or dropped on
 * the full queue, the summary line says so once, and the span file ends
 * with the metrics line. */
static void scen_reporter_counts_and_exit(void)
{
    scen_setup(4, 4);
    ts_cfg.stats = true;
    struct ts_span s;
    for (int i = 0; i < 50; i++) {
        make_span(&s, i, i % 5 != 0); /* every fifth not sampled */
        ts_rep_submit(&s);
    }
    CHECK(ts_stats_get(TS_STAT_SPANS_FINISHED) == 50, "finished %llu",
          (unsigned long long)ts_stats_get(TS_STAT_SPANS_FINISHED));
    CHECK(ts_stats_get(TS_STAT_SPANS_SAMPLED) == 40, "sampled");
    CHECK(ts_stats_get(TS_STAT_SPANS_UNSAMPLED) == 10, "unsampled");

    int err = capture_stderr();
    ts_rep_exit(5000);
    ts_rep_exit(5000); /* a second exit path (an _exit in an atexit handler) says nothing */
    end_capture();
    char out[4096];
    read_all(err, out, sizeof out);
    char *first = strstr(out, "]: stats ");
    CHECK(first != NULL, "no summary line in %s", out);
    CHECK(strstr(first + 1, "]: stats ") == NULL, "summary printed twice: %s", out);
    char want_prefix[64];
    snprintf(want_prefix, sizeof want_prefix, "traceshim[%ld]: stats ", (long)getpid());
    const char *line = strstr(out, want_prefix);
    CHECK(line != NULL, "line not prefixed %s: %s", want_prefix, out);
    unsigned long long exported = line_value(line, "exported");
    unsigned long long full = line_value(line, "dropped_queue_full");
    CHECK(line_value(line, "spans_finished") == 50 && line_value(line, "sampled") == 40 &&
              line_value(line, "unsampled") == 10,
          "%s", line);
    CHECK(exported + full == 40, "exported %llu + dropped %llu != 40: %s", exported, full, line);
    CHECK(line_value(line, "dropped_exit_timeout") == 0 && line_value(line, "queue_length") == 0,
          "%s", line);

    /* the file: the exported spans, then one metrics line that agrees */
    FILE *f = fopen(g_path, "r");
    CHECK(f != NULL, "no span file");
    char *ln = NULL;
    size_t cap = 0;
    ssize_t len;
    int span_lines = 0, metric_lines = 0;
    while ((len = getline(&ln, &cap, f)) > 0) {
        ts_json_doc *doc = ts_json_parse(ln, (size_t)len, NULL);
        CHECK(doc != NULL, "a line is not JSON: %s", ln);
        const ts_json *root = ts_json_root(doc);
        if (ts_json_get(root, "resourceSpans")) {
            CHECK(metric_lines == 0, "a span line after the metrics line");
            span_lines++;
        } else {
            const ts_json *metrics = ts_json_get(
                ts_json_at(ts_json_get(ts_json_at(ts_json_get(root, "resourceMetrics"), 0),
                                       "scopeMetrics"),
                           0),
                "metrics");
            CHECK(ts_json_len(metrics) == 12, "metrics line: %s", ln);
            for (size_t i = 0; i < ts_json_len(metrics); i++) {
                const ts_json *m = ts_json_at(metrics, i);
                if (strcmp(str_at(m, "name"), "traceshim.spans.exported") == 0) {
                    const ts_json *p =
                        ts_json_at(ts_json_get(ts_json_get(m, "sum"), "dataPoints"), 0);
                    CHECK(strtoull(str_at(p, "asInt"), NULL, 10) == exported, "exported differs");
                }
            }
            metric_lines++;
        }
        ts_json_free(doc);
    }
    free(ln);
    fclose(f);
    CHECK(span_lines > 0 && metric_lines == 1, "%d span lines, %d metrics lines", span_lines,
          metric_lines);
}

static void test_reporter_counts_and_exit_line(void **state)
{
    run_in_child(ts_stats_after_fork, scen_reporter_counts_and_exit);
}

/* Without TRACESHIM_STATS: no line, no metrics in the file. */
static void scen_reporter_quiet_without_stats(void)
{
    scen_setup(64, 64);
    struct ts_span s;
    make_span(&s, 1, true);
    ts_rep_submit(&s);
    int err = capture_stderr();
    ts_rep_exit(5000);
    end_capture();
    char out[4096];
    CHECK(read_all(err, out, sizeof out) == 0, "stderr: %s", out);
    FILE *f = fopen(g_path, "r");
    CHECK(f != NULL, "no span file");
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    CHECK(strstr(buf, "resourceMetrics") == NULL, "metrics written without TRACESHIM_STATS");
    CHECK(ts_stats_get(TS_STAT_SPANS_EXPORTED) == 1, "still counted");
}

static void test_reporter_quiet_without_stats(void **state)
{
    run_in_child(ts_stats_after_fork, scen_reporter_quiet_without_stats);
}

/* The span file is a FIFO nobody reads (a page of room): the reporter
 * thread blocks in its write. Returns its read end, and in *held how many
 * spans the thread holds queued or in that write (of 100). */
static int span_fifo_blocked(uint64_t *held)
{
    scen_setup(1000, 1);
    ts_cfg.stats = true;
    CHECK(mkfifo(g_path, 0600) == 0, "mkfifo");
    int rfd = open(g_path, O_RDONLY | O_NONBLOCK); /* kept open, never read */
    CHECK(rfd >= 0, "open fifo");
    char pad[1500];
    memset(pad, 'x', sizeof pad);
    struct ts_span s;
    for (int i = 0; i < 100; i++) {
        make_span(&s, i, true);
        ts_span_attr_str(&s, "pad", pad, sizeof pad);
        ts_rep_submit(&s);
    }
    /* wait until the thread is stuck: the queue stops shrinking */
    uint64_t last = UINT64_MAX;
    int stable = 0;
    for (int i = 0; i < 1000 && stable < 20; i++) {
        sleep_ms(10);
        uint64_t q = ts_rep_queued();
        stable = q == last ? stable + 1 : 0;
        last = q;
    }
    CHECK(stable >= 20 && last > 0, "the reporter thread never blocked (queue %llu)",
          (unsigned long long)last);
    *held = last;
    return rfd;
}

/* ts_rep_exit(timeout_ms), its stderr caught in out[cap]: the summary
 * line there. */
static const char *exit_line(unsigned timeout_ms, char *out, size_t cap)
{
    int err = capture_stderr();
    ts_rep_exit(timeout_ms);
    end_capture();
    read_all(err, out, cap);
    close(err);
    const char *line = strstr(out, "]: stats ");
    CHECK(line != NULL, "no summary line: %s", out);
    return line;
}

static int drained_fd = -1;
static bool drain_done; /* (atomic) */

static void *drain_fifo(void *arg)
{
    (void)arg;
    char buf[65536];
    while (!__atomic_load_n(&drain_done, __ATOMIC_ACQUIRE))
        if (read(drained_fd, buf, sizeof buf) <= 0)
            sleep_ms(1);
    return NULL;
}

/* The flush at exit gives up on the blocked write. The spans still queued
 * and the one the blocked write holds are dropped_exit_timeout, and the
 * line says so: every sampled span is in one column. Then a span begins
 * (a request of a library's destructor: preload/init.c) and a reader
 * empties the FIFO: the second exit writes the line again, every span
 * exported, those the first line left too. Before, the first count
 * stopped the exporters' counting for good when it found spans left: the
 * second line said exported as the first had (16 of 101), and the rest
 * dropped_exit_timeout. */
static void scen_exit_timeout(void)
{
    uint64_t last;
    int rfd = span_fifo_blocked(&last);
    char out[4096];
    const char *line = exit_line(100, out, sizeof out);
    CHECK(line_value(line, "dropped_exit_timeout") == last + 1, "%s (queue held %llu)", line,
          (unsigned long long)last);
    CHECK(line_value(line, "queue_length") == last + 1, "%s", line);
    CHECK(line_value(line, "exported") + last + 1 == 100, "%s", line);

    drained_fd = rfd;
    pthread_t reader;
    CHECK(pthread_create(&reader, NULL, drain_fifo, NULL) == 0, "pthread_create");
    ts_stats_add(TS_STAT_SPANS_STARTED, 1);
    struct ts_span s;
    make_span(&s, 100, true);
    ts_rep_submit(&s);
    line = exit_line(5000, out, sizeof out);
    __atomic_store_n(&drain_done, true, __ATOMIC_RELEASE);
    pthread_join(reader, NULL);
    CHECK(line_value(line, "sampled") == 101 && line_value(line, "exported") == 101 &&
              line_value(line, "dropped_exit_timeout") == 0 &&
              line_value(line, "queue_length") == 0,
          "second: %s", line);
    close(rfd);
}

static void test_exit_timeout_counted(void **state)
{
    run_in_child(ts_stats_after_fork, scen_exit_timeout);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counters_exact_across_threads),
        cmocka_unit_test(test_fork_starts_at_zero),
        cmocka_unit_test(test_keys_are_stable),
        cmocka_unit_test(test_summary_line_exact),
        cmocka_unit_test(test_summary_line_zero_and_huge),
        cmocka_unit_test(test_summary_line_cut),
        cmocka_unit_test(test_metrics_json_reads_back),
        cmocka_unit_test(test_metrics_json_start_never_after_now),
        cmocka_unit_test(test_metrics_json_some_splits_the_request),
        cmocka_unit_test(test_conn_client_request_counted),
        cmocka_unit_test(test_conn_reasons_counted_once),
        cmocka_unit_test(test_reporter_counts_and_exit_line),
        cmocka_unit_test(test_reporter_quiet_without_stats),
        cmocka_unit_test(test_exit_timeout_counted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
