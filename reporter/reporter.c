/* reporter.c — the queue, the reporter thread and the exporters behind
 * them (see reporter.h). */
#include "reporter.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../preload/clock.h"
#include "../preload/config.h"
#include "../preload/guard.h"
#include "../preload/log.h"
#include "../preload/real.h"
#include "file_exporter.h"
#include "json_buf.h"
#include "otlp_json.h"
#include "queue.h"

static struct ts_queue rep_queue;
static pthread_once_t rep_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t wake_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake_cv;
static bool thread_running;
static pthread_mutex_t export_mu = PTHREAD_MUTEX_INITIALIZER;
static struct ts_span *batch;      /* under export_mu */
static struct ts_json_buf encoded; /* under export_mu */
static atomic_uint_fast64_t exported_count, failed_count;

static void rep_init(void)
{
    ts_queue_init(&rep_queue, ts_cfg.bsp_max_queue ? ts_cfg.bsp_max_queue : 2048);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&wake_cv, &attr);
    pthread_condattr_destroy(&attr);
}

static size_t batch_size(void)
{
    return ts_cfg.bsp_max_batch ? ts_cfg.bsp_max_batch : 512;
}

/* One readable line per span on stderr (the console exporter). */
static void console_line(const struct ts_span *s)
{
    char trace[33], span[17], parent[17];
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++)
        trace[2 * i] = hex[s->trace_id[i] >> 4], trace[2 * i + 1] = hex[s->trace_id[i] & 15];
    for (int i = 0; i < 8; i++) {
        span[2 * i] = hex[s->span_id[i] >> 4], span[2 * i + 1] = hex[s->span_id[i] & 15];
        parent[2 * i] = hex[s->parent_id[i] >> 4], parent[2 * i + 1] = hex[s->parent_id[i] & 15];
    }
    trace[32] = span[16] = parent[16] = '\0';
    const struct ts_attr *code = ts_span_attr_find(s, "http.response.status_code");
    char line[512];
    int n = snprintf(line, sizeof line, "traceshim: span %s/%s parent=%s \"%.*s\" %s %lld %s%.3fms\n",
                     trace, span, ts_id_is_zero(s->parent_id, 8) ? "-" : parent,
                     (int)(s->name_len > 200 ? 200 : s->name_len), ts_span_name(s),
                     s->kind == 2 ? "server" : s->kind == 3 ? "client" : "internal",
                     code ? (long long)code->num : 0LL,
                     s->status == 2 ? "ERROR " : "", (double)(s->end_ns - s->start_ns) / 1e6);
    if (n > 0)
        (void)!TS_REAL(write)(2, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

/* Export spans[0..n) with the configured exporter. Caller holds export_mu. */
static void export_spans(const struct ts_span *spans, size_t n)
{
    if (ts_cfg.exporter == TS_EXPORTER_CONSOLE) {
        for (size_t i = 0; i < n; i++)
            console_line(&spans[i]);
        atomic_fetch_add(&exported_count, n);
        return;
    }
    /* otlp, zipkin and jaeger exporters are not built yet: file for now
     * (said once at start-up by ts_rep_submit). */
    ts_json_buf_reset(&encoded);
    ts_otlp_json_encode(&encoded, spans, n);
    ts_json_buf_raw(&encoded, "\n", 1); /* room for the newline */
    if (encoded.failed || ts_file_export(encoded.data, encoded.len - 1) != 0)
        atomic_fetch_add(&failed_count, n);
    else
        atomic_fetch_add(&exported_count, n);
}

/* Take batches off the queue and export them until it is empty. Caller
 * holds export_mu. */
static void drain_locked(void)
{
    size_t max = batch_size();
    if (!batch) {
        batch = malloc(max * sizeof *batch);
        if (!batch)
            return;
    }
    size_t n;
    while ((n = ts_queue_pop(&rep_queue, batch, max)) > 0)
        export_spans(batch, n);
}

static void *reporter_main(void *arg)
{
    (void)arg;
    ts_guard_enter(); /* for its whole life: nothing here is traced */
    for (;;) {
        pthread_mutex_lock(&wake_mu);
        if (ts_queue_count(&rep_queue) < batch_size()) {
            struct timespec until;
            clock_gettime(CLOCK_MONOTONIC, &until);
            uint64_t ns = (uint64_t)until.tv_nsec + (uint64_t)ts_cfg.bsp_delay_ms * 1000000ull;
            until.tv_sec += (time_t)(ns / 1000000000ull);
            until.tv_nsec = (long)(ns % 1000000000ull);
            pthread_cond_timedwait(&wake_cv, &wake_mu, &until);
        }
        pthread_mutex_unlock(&wake_mu);
        pthread_mutex_lock(&export_mu);
        drain_locked();
        pthread_mutex_unlock(&export_mu);
    }
    return NULL;
}

/* Start the reporter thread (first span of this process). Signals are
 * blocked in it so they keep going to the program's own threads. */
static void start_thread(void)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t t;
    int rc = pthread_create(&t, &attr, reporter_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        thread_running = false; /* spans still go out at exit through flush */
        ts_log_warn("cannot start the reporter thread: %s", strerror(rc));
    }
}

void ts_rep_submit(const struct ts_span *s)
{
    if (!s->sampled || ts_cfg.exporter == TS_EXPORTER_NONE)
        return;
    int saved = errno;
    pthread_once(&rep_once, rep_init);
    if (ts_queue_push(&rep_queue, s)) {
        pthread_mutex_lock(&wake_mu);
        if (!thread_running) {
            thread_running = true;
            if (ts_cfg.exporter == TS_EXPORTER_OTLP || ts_cfg.exporter == TS_EXPORTER_ZIPKIN ||
                ts_cfg.exporter == TS_EXPORTER_JAEGER)
                ts_log_warn("this exporter is not implemented yet; writing spans to the file");
            start_thread();
        }
        if (ts_queue_count(&rep_queue) >= batch_size())
            pthread_cond_signal(&wake_cv);
        pthread_mutex_unlock(&wake_mu);
    }
    errno = saved;
}

void ts_rep_flush(unsigned timeout_ms)
{
    int saved = errno;
    pthread_once(&rep_once, rep_init);
    if (ts_queue_count(&rep_queue) == 0) {
        errno = saved;
        return;
    }
    ts_guard_enter();
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until); /* timedlock measures CLOCK_REALTIME */
    uint64_t ns = (uint64_t)until.tv_nsec + (uint64_t)timeout_ms * 1000000ull;
    until.tv_sec += (time_t)(ns / 1000000000ull);
    until.tv_nsec = (long)(ns % 1000000000ull);
    if (pthread_mutex_timedlock(&export_mu, &until) == 0) {
        drain_locked();
        pthread_mutex_unlock(&export_mu);
    }
    ts_guard_leave();
    errno = saved;
}

uint64_t ts_rep_dropped(void)
{
    pthread_once(&rep_once, rep_init);
    return ts_queue_dropped(&rep_queue) + atomic_load(&failed_count);
}

uint64_t ts_rep_exported(void)
{
    return atomic_load(&exported_count);
}

/* Fork: the queue and wake locks are only ever held briefly, so holding
 * them across fork is cheap and leaves them consistent in the child. The
 * export lock may be held for a whole export; it is not taken (the parent
 * must not wait on it) but re-initialised in the child, where no thread is
 * exporting. */
void ts_rep_atfork_prepare(void)
{
    pthread_once(&rep_once, rep_init);
    pthread_mutex_lock(&wake_mu);
    pthread_mutex_lock(&rep_queue.mu);
}

void ts_rep_atfork_parent(void)
{
    pthread_mutex_unlock(&rep_queue.mu);
    pthread_mutex_unlock(&wake_mu);
}

void ts_rep_atfork_child(void)
{
    pthread_mutex_init(&rep_queue.mu, NULL);
    pthread_mutex_init(&wake_mu, NULL);
    pthread_mutex_init(&export_mu, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&wake_cv, &attr);
    pthread_condattr_destroy(&attr);
    rep_queue.head = rep_queue.count = 0; /* the parent exports those */
    thread_running = false;
    atomic_store(&exported_count, 0);
}
