/*
 * reporter_bench — the reporter alone: how many spans per second it encodes
 * and exports, and how much CPU it spends per 1000 spans, for whatever
 * exporter the environment configures (issue 8 item 4).
 *
 *   bench-reporter SPANS LABEL ROUND
 *
 * Linked with the library's object libraries (CMake target bench-reporter,
 * not built by default), it does what the library's init does for the
 * reporter — resolve the real libc symbols, read the configuration from the
 * environment (TRACESHIM_EXPORTER, TRACESHIM_FILE, OTEL_EXPORTER_OTLP_*,
 * OTEL_EXPORTER_ZIPKIN_*, OTEL_EXPORTER_JAEGER_AGENT_*, OTEL_BSP_*), fill
 * the process facts the resource is made of — and skips everything about
 * hooking: no socket of its own is traced, so the only spans are the ones
 * submitted here. The configuration is read once per process, so run one
 * process per exporter.
 *
 * It submits SPANS server spans that look like the ones the hooks make for
 * a small HTTP service (13 attributes: method, route, path, query, scheme,
 * server and peer addresses and ports, protocol version, user agent,
 * status), then flushes. The submitting loop never lets the queue overflow:
 * above three quarters of OTEL_BSP_MAX_QUEUE_SIZE it sleeps 50 µs and looks
 * again, so the wall time is the reporter's pace, not a count of drops;
 * anything dropped all the same is counted and printed.
 *
 * Prints one tab-separated line on stdout:
 *
 *   reporter LABEL ROUND spans wall_s spans_per_s export_cpu_us_per_1000
 *            submit_cpu_us_per_1000 exported dropped threads
 *
 * export CPU = process CPU (CLOCK_PROCESS_CPUTIME_ID, every thread) over
 * the loop and the flush, minus the submitting thread's own CPU
 * (CLOCK_THREAD_CPUTIME_ID) over the whole loop, pauses included: the
 * reporter thread's encoding and sending, plus the final flush, which runs
 * on the calling thread. submit CPU is the submitting thread's CPU in its
 * bursts of submits, pauses left out: ts_rep_submit's copy into the queue
 * and the wake-up of the reporter, what a traced request's thread pays
 * (plus filling in fresh ids, a few ns). "threads" is how many threads the
 * process has at the end: 2 (this one and the reporter's) means the
 * subtraction left nothing else in.
 */
#ifndef _GNU_SOURCE /* the CMake build defines it for every target */
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "preload/config.h"
#include "preload/process.h"
#include "preload/real.h"
#include "preload/span.h"
#include "preload/stats.h"
#include "reporter/reporter.h"
#include "reporter/sampler.h"

enum {
    TEMPLATE_SPANS = 64,         /* distinct spans cycled through (paths, ports, agents) */
    WARMUP_SPANS = 2000,         /* thread started, connection open, queue allocated */
    PACING_SLEEP_NS = 50 * 1000, /* the wait when the queue is three quarters full */
    FLUSH_TIMEOUT_MS = 120 * 1000,
};

static const char *lookup_environment(const char *name)
{
    return getenv(name);
}

static uint64_t clock_ns(clockid_t clock)
{
    struct timespec now;
    clock_gettime(clock, &now);
    return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

/* A small, fast generator for ids: distinct ids matter to the backends
 * (and the sizes of their encodings), their quality does not. */
static uint64_t next_random(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return x;
}

static void put_u64(uint8_t *out, uint64_t value)
{
    for (int i = 7; i >= 0; i--) {
        out[i] = (uint8_t)value;
        value >>= 8;
    }
}

/* A server span as the hooks make one for "GET /bench/items/<n>?page=<k>"
 * from a keep-alive client on loopback. The name, "GET /bench/items/{id}"
 * for measured spans, occurs once per span in every encoding: that is what
 * the Jaeger sink counts (the warm-up spans are named otherwise, so they
 * are not counted with them). */
static void fill_template(struct ts_span *span, unsigned index, const char *name)
{
    char path[64], query[32], agent[64];
    snprintf(path, sizeof path, "/bench/items/%u", 10000 + index * 37);
    snprintf(query, sizeof query, "page=%u", index % 7);
    snprintf(agent, sizeof agent, "bench-client/1.%u (linux; x86_64)", index % 5);

    ts_span_clear(span);
    span->kind = TS_KIND_SERVER;
    span->sampled = 1;
    span->status = TS_STATUS_UNSET;
    ts_span_set_name(span, name, strlen(name));
    ts_span_attr_cstr(span, "http.route", "/bench/items/{id}");
    ts_span_attr_cstr(span, "http.request.method", "GET");
    ts_span_attr_cstr(span, "network.protocol.version", "1.1");
    ts_span_attr_cstr(span, "url.path", path);
    ts_span_attr_cstr(span, "url.query", query);
    ts_span_attr_cstr(span, "url.scheme", "http");
    ts_span_attr_cstr(span, "server.address", "127.0.0.1");
    ts_span_attr_int(span, "server.port", 8080);
    ts_span_attr_cstr(span, "client.address", "127.0.0.1");
    ts_span_attr_cstr(span, "network.peer.address", "127.0.0.1");
    ts_span_attr_int(span, "network.peer.port", 40000 + index);
    ts_span_attr_cstr(span, "user_agent.original", agent);
    ts_span_attr_int(span, "http.response.status_code", 200);
}

/* Gives a template span fresh ids and times: every submitted span is a
 * different span of a different trace, as under load. */
static void refresh(struct ts_span *span, uint64_t *random_state, uint64_t now_ns)
{
    put_u64(span->trace_id, next_random(random_state));
    put_u64(span->trace_id + 8, next_random(random_state));
    put_u64(span->span_id, next_random(random_state) | 1);
    span->start_ns = now_ns;
    span->end_ns = now_ns + 85000 + (now_ns & 0xffff);
}

/* Submits count spans, keeping the queue below high_water. Returns the
 * CPU time this thread spent submitting, pacing left out: the thread's
 * clock is read at the start of each burst of submits and before each
 * pause (a few hundred spans apart), so the sleeps' own cost (system
 * calls, wake-ups), which grows the slower the reporter is, does not count
 * as the cost of submitting. */
static uint64_t submit_spans(struct ts_span *templates, uint64_t count, uint64_t high_water,
                             uint64_t *random_state)
{
    uint64_t submit_cpu_ns = 0;
    uint64_t burst_start = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    uint64_t now_ns = clock_ns(CLOCK_REALTIME);
    for (uint64_t i = 0; i < count; i++) {
        if (ts_rep_queued() >= high_water) {
            submit_cpu_ns += clock_ns(CLOCK_THREAD_CPUTIME_ID) - burst_start;
            do {
                struct timespec pause = {.tv_sec = 0, .tv_nsec = PACING_SLEEP_NS};
                nanosleep(&pause, NULL);
            } while (ts_rep_queued() >= high_water);
            burst_start = clock_ns(CLOCK_THREAD_CPUTIME_ID);
        }
        struct ts_span *span = &templates[i % TEMPLATE_SPANS];
        /* the clock once per 64 spans: the loop measures submitting, not clock reads */
        if (i % TEMPLATE_SPANS == 0) {
            now_ns = clock_ns(CLOCK_REALTIME);
        }
        refresh(span, random_state, now_ns + i % TEMPLATE_SPANS);
        ts_rep_submit(span);
    }
    return submit_cpu_ns + (clock_ns(CLOCK_THREAD_CPUTIME_ID) - burst_start);
}

static unsigned count_threads(void)
{
    unsigned threads = 0;
    DIR *tasks = opendir("/proc/self/task");
    if (tasks == NULL) {
        return 0;
    }
    for (struct dirent *entry; (entry = readdir(tasks)) != NULL;) {
        if (entry->d_name[0] != '.') {
            threads++;
        }
    }
    closedir(tasks);
    return threads;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s SPANS LABEL ROUND\n", argv[0]);
        return 2;
    }
    uint64_t spans = strtoull(argv[1], NULL, 10);
    if (spans == 0) {
        fprintf(stderr, "bench-reporter: SPANS must be a positive count, not '%s'\n", argv[1]);
        return 2;
    }
    const char *label = argv[2];
    const char *round = argv[3];

    /* What preload/init.c does for the reporter, without the hooks. */
    ts_real_resolve();
    if (ts_config_load(&ts_cfg, lookup_environment) != 0) {
        fprintf(stderr, "bench-reporter: the configuration has rejected values (above)\n");
        return 2;
    }
    if (ts_cfg.exporters == 0) {
        fprintf(stderr, "bench-reporter: no exporter configured\n");
        return 2;
    }
    ts_stats_mark_start();
    ts_sampler_load(lookup_environment);
    ts_process_load();
    ts_rep_init();

    static struct ts_span templates[TEMPLATE_SPANS], warmup_templates[TEMPLATE_SPANS];
    for (unsigned i = 0; i < TEMPLATE_SPANS; i++) {
        fill_template(&templates[i], i, "GET /bench/items/{id}");
        fill_template(&warmup_templates[i], i, "GET /warmup/items/{id}");
    }
    uint64_t queue_capacity = ts_cfg.bsp_max_queue ? ts_cfg.bsp_max_queue : 2048;
    uint64_t high_water = queue_capacity * 3 / 4;
    if (high_water == 0) {
        high_water = 1;
    }
    uint64_t random_state = 0x9e3779b97f4a7c15u ^ (uint64_t)getpid();

    /* Warm-up, not measured: the reporter thread starts with the first
     * span, the exporter opens its file or connection, the queue is
     * allocated; a real service pays that once. */
    submit_spans(warmup_templates, WARMUP_SPANS, high_water, &random_state);
    ts_rep_flush(FLUSH_TIMEOUT_MS);
    uint64_t exported_before = ts_rep_exported();
    uint64_t dropped_before = ts_rep_dropped();

    uint64_t wall_start = clock_ns(CLOCK_MONOTONIC);
    uint64_t process_cpu_start = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
    uint64_t loop_cpu_start = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    uint64_t submit_cpu = submit_spans(templates, spans, high_water, &random_state);
    uint64_t loop_cpu_end = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    ts_rep_flush(FLUSH_TIMEOUT_MS);
    uint64_t process_cpu_end = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
    uint64_t wall_end = clock_ns(CLOCK_MONOTONIC);

    uint64_t exported = ts_rep_exported() - exported_before;
    uint64_t dropped = ts_rep_dropped() - dropped_before;
    unsigned threads = count_threads();
    double wall_seconds = (double)(wall_end - wall_start) / 1e9;
    double submit_cpu_ns = (double)submit_cpu;
    /* the whole loop, pauses included, is the bench's thread, not the reporter */
    double export_cpu_ns =
        (double)(process_cpu_end - process_cpu_start) - (double)(loop_cpu_end - loop_cpu_start);
    double thousands = (double)spans / 1000.0;
    printf("reporter\t%s\t%s\t%llu\t%.3f\t%.0f\t%.1f\t%.1f\t%llu\t%llu\t%u\n", label, round,
           (unsigned long long)spans, wall_seconds,
           wall_seconds > 0 ? (double)exported / wall_seconds : 0.0, export_cpu_ns / 1000.0 / thousands,
           submit_cpu_ns / 1000.0 / thousands, (unsigned long long)exported,
           (unsigned long long)dropped, threads);
    fflush(stdout);
    /* The usual exit path: nothing is left to flush, the counters are
     * printed when TRACESHIM_STATS asks for it. */
    ts_rep_exit(ts_cfg.exit_timeout_ms);
    return exported + dropped == spans ? 0 : 1;
}
