/* exporters.c — see exporters.h. */
#include "exporters.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "../common/terminal_text.h"
#include "../preload/clock.h"
#include "../preload/config.h"
#include "../preload/fork_state.h"
#include "../preload/log.h"
#include "../preload/real.h"
#include "../preload/stats.h"
#include "encoder.h"
#include "file_exporter.h"
#include "http_client.h"
#include "jaeger_refusals.h"
#include "jaeger_thrift.h"
#include "json_buf.h"
#include "net.h"
#include "otlp_response.h"
#include "own_fd.h"
#include "resource.h"

/* The largest message sent over HTTP or written as one line: collectors
 * and line readers commonly accept a few MiB. */
#define EXP_MAX_MESSAGE ((size_t)4 << 20)
/* A span file's line is closed once its spans fill this much (a span
 * bigger on its own still gets a line of its own, up to EXP_MAX_MESSAGE).
 * A line is one write, and a write appending to a file runs in the kernel
 * from start to end: on a kernel that preempts only where the code allows
 * it (PREEMPT_NONE, common on servers and VMs), a program's thread woken
 * on the reporter's processor waits for the whole write, about 1 µs per
 * KiB. Measured one request at a time through two traced hops
 * (bench/PROFILE.md): a batch of 512 spans as one line of 430 KiB made
 * p99.9 40-80 µs worse than lines of 64 KiB; throughput was the same
 * (appends of 64 KiB cost the kernel as little per byte as larger ones). */
#define EXP_FILE_LINE_FILL ((size_t)64 << 10)
/* A buffer grown past this is given back after use, to keep RSS small: a
 * full batch takes a few hundred KiB, and keeping that between batches
 * would double the shim's resident memory in a quiet process. Buffers that
 * big come from the block pools (json_buf.c), which keep one given back
 * for a second, so that a busy exporter reuses it batch after batch, and
 * let it go once the reporter is idle. */
#define EXP_KEEP_BUF ((size_t)64 << 10)
/* How long the most a batch held sets the room every batch starts with
 * (struct exp_batch's start_with). */
#define EXP_START_WITH_MS 1000
/* What each configured exporter's batch buffer holds from the reporter
 * thread's start (ts_exp_prepare): a flush of a few spans fits. */
#define EXP_PREPARED_BUF ((size_t)16 << 10)
/* Retries: first backoff, its cap, and the most attempts per batch (the
 * cap is never reached with 6 attempts, whose waits end at 1600 ms: it
 * bounds a larger number). */
#define EXP_BACKOFF_FIRST_MS 100
#define EXP_BACKOFF_MAX_MS 5000
#define EXP_MAX_ATTEMPTS 6

struct exp_batch;

/* Send one finished message of b->sending spans: 0 when the backend took
 * it, EXP_GAVE_UP when it failed and was said so (exp_failed), EXP_RETRY
 * when it failed and may succeed later (the reason in b->why). */
#define EXP_GAVE_UP (-1)
#define EXP_RETRY 1
typedef int (*exp_send_fn)(struct exp_batch *b, const char *msg, size_t len, uint64_t deadline_ms);

/* A sealed message that failed and waits for its next attempt, its buffer
 * taken from the batch (which starts another): the reporter goes on with
 * the other exporters and the queue meanwhile, and comes back to it at
 * retry_at_ms (ts_exp_retry_due). Until it is sent or given up, the
 * exporter's next batch is held (it only grows, to bsp_max_batch spans:
 * the backend is most likely still down). */
struct exp_parked {
    struct ts_json_buf buf; /* the message at [msg, buf.len) */
    size_t msg;
    size_t n; /* its spans; 0: nothing parked */
    int attempts;
    unsigned backoff_ms;  /* the wait after the next failure, before jitter */
    uint64_t retry_at_ms; /* ts_mono_ms */
    uint64_t give_up_ms;  /* its export's deadline (OTEL_BSP_EXPORT_TIMEOUT) */
};

/* One exporter: its encoder, limit, transport and pending batch. */
struct exp_batch {
    const char *name; /* for log lines */
    int exporter;     /* enum ts_exporter */
    const struct ts_encoder *enc;
    size_t max_bytes;  /* no message is longer */
    size_t fill_bytes; /* a message is sent once its spans fill this much (0: max_bytes) */
    /* The longest message the destination takes whole among other
     * processes' (0: no bound), asked at each batch's first span: a FIFO
     * span file's PIPE_BUF, the newlines around a line included. A span
     * longer than that still goes, alone. */
    size_t whole_max;
    exp_send_fn send;
    /* The batch, built in place (encoder.h): [0, room) is left for the
     * message's head, the spans follow. */
    struct ts_json_buf spans;
    size_t room;
    size_t n;
    /* The most this batch's buffer has held (high), and the most any batch
     * sent in the last second held (start_with, room included, since
     * start_with_ms): each batch starts with room for that much, so that a
     * stream of full batches does not grow each buffer from nothing again,
     * copying it at every doubling. The most held, not the length sent: a
     * batch that filled up held, for a moment, the span that no longer fit
     * (it moved to the next batch). Over a second, not the last batch: a
     * busy reporter sends partial batches between full ones (each time the
     * queue runs dry), and each would lower the room the next full batch
     * needs. */
    size_t high;
    size_t start_with;
    uint64_t start_with_ms;
    bool failing; /* the last send failed (a recovery is worth a line) */
    bool reported;
    struct exp_parked parked;
    size_t sending;          /* the spans of the message being sent */
    char why[160];           /* EXP_RETRY: why the attempt failed */
    unsigned retry_after_ms; /* EXP_RETRY: what the backend asked for (0: nothing) */
    /* Of the batch being sent, the spans the receiver said it rejected in
     * an answer that took the rest (OTLP's partial success). */
    size_t rejected;
    bool rejection_reported, warning_reported;
};

static int exp_send_file(struct exp_batch *b, const char *msg, size_t len, uint64_t deadline_ms);
static int exp_send_otlp(struct exp_batch *b, const char *msg, size_t len, uint64_t deadline_ms);
static int exp_send_zipkin(struct exp_batch *b, const char *msg, size_t len, uint64_t deadline_ms);
static int exp_send_jaeger(struct exp_batch *b, const char *msg, size_t len, uint64_t deadline_ms);

static struct exp_batch exp_batches[] TS_FORK_STATE = {
    {.name = "file",
     .exporter = TS_EXPORTER_FILE,
     .enc = &ts_encoder_otlp_json,
     .max_bytes = EXP_MAX_MESSAGE,
     .fill_bytes = EXP_FILE_LINE_FILL,
     .send = exp_send_file},
    {.name = "otlp",
     .exporter = TS_EXPORTER_OTLP,
     .enc = &ts_encoder_otlp_proto,
     .max_bytes = EXP_MAX_MESSAGE,
     .send = exp_send_otlp},
    {.name = "zipkin",
     .exporter = TS_EXPORTER_ZIPKIN,
     .enc = &ts_encoder_zipkin_json,
     .max_bytes = EXP_MAX_MESSAGE,
     .send = exp_send_zipkin},
    {.name = "jaeger",
     .exporter = TS_EXPORTER_JAEGER,
     .enc = &ts_encoder_jaeger_thrift,
     .max_bytes = TS_JAEGER_MAX_DATAGRAM,
     .send = exp_send_jaeger},
};
#define EXP_N (sizeof exp_batches / sizeof exp_batches[0])

static struct ts_json_buf exp_line; /* the console exporter's line */
static struct ts_http_client exp_otlp_http, exp_zipkin_http;
static bool exp_http_ready;
static struct ts_own_fd exp_jaeger_sock = TS_OWN_FD_NONE;

/* Flushes waiting for the export (atomic): an exec's for its length, the
 * exit's for good (ts_exp_final). */
static int exp_hurried TS_FORK_STATE;

void ts_exp_hurry(bool on)
{
    __atomic_add_fetch(&exp_hurried, on ? 1 : -1, __ATOMIC_RELAXED);
}

void ts_exp_final(void)
{
    ts_exp_hurry(true); /* never taken back: the process ends */
}

/* One attempt per batch and no backoff wait: at exit, or while a flush
 * waits (an exec's). */
static bool exp_no_waits(void)
{
    return __atomic_load_n(&exp_hurried, __ATOMIC_RELAXED) > 0;
}

/* The spans the exporters have taken (ts_exp_take, one per exporter fed,
 * as exported and dropped_export_failed count them) and not yet counted:
 * in a batch being built, a parked one, or a send under way. Once the exit
 * has counted those as dropped_exit_timeout (ts_exp_count_at_exit) it
 * holds EXP_UNCOUNTED_CLOSED as well, for good: the exporters' counts
 * then wait in `late`, their spans still held here, for the exit's next
 * count (a second stats line), which moves them to the counters. Each
 * count is then of one moment: a send that ends after it is not exported
 * in its line as well as held. Updated with atomics: the exit reads it
 * while an export may be under way. */
static struct {
    uint64_t spans;
    uint64_t late[2]; /* given up on ([0]) and delivered ([1]) since it closed */
} exp_uncounted TS_FORK_STATE;
#define EXP_UNCOUNTED_CLOSED ((uint64_t)1 << 63)

/* n spans delivered (ok) or given up on by one exporter. */
static void exp_count(bool ok, size_t n)
{
    uint64_t was = __atomic_load_n(&exp_uncounted.spans, __ATOMIC_RELAXED), held;
    do {
        if (was & EXP_UNCOUNTED_CLOSED) {
            __atomic_add_fetch(&exp_uncounted.late[ok], (uint64_t)n, __ATOMIC_SEQ_CST);
            return; /* for the exit's next count */
        }
        held = n < was ? n : was;
    } while (!__atomic_compare_exchange_n(&exp_uncounted.spans, &was, was - held, true,
                                          __ATOMIC_RELAXED, __ATOMIC_RELAXED));
    ts_stats_add(ok ? TS_STAT_SPANS_EXPORTED : TS_STAT_DROPPED_EXPORT_FAILED, (uint64_t)n);
}

static void exp_http_init(void)
{
    if (exp_http_ready)
        return;
    exp_http_ready = true;
    ts_http_client_init(&exp_otlp_http, &ts_cfg.otlp_url);
    ts_http_client_init(&exp_zipkin_http, &ts_cfg.zipkin_url);
}

/* The encoder OTLP uses follows OTEL_EXPORTER_OTLP_PROTOCOL. */
static const struct ts_encoder *exp_encoder(const struct exp_batch *b)
{
    if (b->exporter == TS_EXPORTER_OTLP && ts_cfg.otlp_protocol == TS_OTLP_JSON)
        return &ts_encoder_otlp_json;
    return b->enc;
}

/* ------------------------------------------------------------- messages */

/* Where b sends, as its failure line names it: an endpoint by its URL,
 * the query's values hidden (a collector's token may ride there); the
 * Jaeger agent's address is in the reason (exp_jaeger_failed). Cut to a
 * length that leaves the line room for its reason and count. */
static void exp_where(const struct exp_batch *b, char *out, size_t cap)
{
    const struct ts_url *u = b->exporter == TS_EXPORTER_OTLP     ? &ts_cfg.otlp_url
                             : b->exporter == TS_EXPORTER_ZIPKIN ? &ts_cfg.zipkin_url
                                                                 : NULL;
    if (!u) {
        snprintf(out, cap, "%s", b->exporter == TS_EXPORTER_JAEGER ? "Jaeger agent" : "span file");
        return;
    }
    char url[200];
    ts_url_shown_parsed(u, url, sizeof url);
    snprintf(out, cap, "%s endpoint %s", u == &ts_cfg.otlp_url ? "OTLP" : "Zipkin", url);
}

/* The first failure of an exporter is said on stderr (naming where it
 * sends and why); later ones only at debug level, and a recovery at info. */
static void exp_failed(struct exp_batch *b, size_t n, const char *why)
{
    char where[224];
    exp_where(b, where, sizeof where);
    if (!b->reported) {
        b->reported = true;
        ts_log_error(
            "%s exporter: %s: %s; %zu span%s dropped (later failures are counted, not shown)",
            b->name, where, why, n, n == 1 ? "" : "s");
    } else {
        ts_log_debug("%s exporter: %s; %zu span%s dropped", b->name, why, n, n == 1 ? "" : "s");
    }
    b->failing = true;
}

static void exp_succeeded(struct exp_batch *b)
{
    if (b->failing)
        ts_log_info("%s exporter: sending again", b->name);
    b->failing = false;
}

/* An OTLP receiver's partial success in a 2xx answer (otlp_response.h):
 * the spans it rejected are counted as dropped, not exported, and the
 * first rejection and the first warning are said on stderr with the
 * receiver's own words. The batch is not sent again: the receiver has
 * what it would take (the OTLP specification's rule). */
static void exp_partial_success(struct exp_batch *b, const struct ts_http_response *r)
{
    struct ts_otlp_partial p;
    if (!ts_otlp_partial_success(r->body, r->body_len, ts_cfg.otlp_protocol == TS_OTLP_JSON, &p))
        return;
    const char *why = p.message[0] ? p.message : "no reason given";
    b->rejected = p.rejected_spans < b->sending ? (size_t)p.rejected_spans : b->sending;
    if (b->rejected && !b->rejection_reported) {
        b->rejection_reported = true;
        ts_log_error("%s exporter: the OTLP endpoint rejected %zu of %zu spans: %s (later "
                     "rejections are counted, not shown)",
                     b->name, b->rejected, b->sending, why);
    } else if (b->rejected) {
        ts_log_debug("%s exporter: the OTLP endpoint rejected %zu of %zu spans: %s", b->name,
                     b->rejected, b->sending, why);
    } else if (!b->warning_reported) {
        b->warning_reported = true;
        ts_log_warn("%s exporter: the OTLP endpoint took the spans with a warning: %s", b->name,
                    why);
    }
}

/* ------------------------------------------------------------- transports */

static int exp_send_file(struct exp_batch *b, const char *msg, size_t len, uint64_t deadline_ms)
{
    (void)b;
    (void)deadline_ms;
    int r = ts_file_export(msg, len); /* reports its own first failure */
    if (r != 0)
        ts_stats_add(TS_STAT_EXPORT_ERRORS, 1);
    return r == 0 ? 0 : EXP_GAVE_UP;
}

/* Statuses after which the same request may succeed later: the OTLP/HTTP
 * specification's retryable set, and the failures it calls transient (no
 * connection, a connection lost, an attempt past the exporter's timeout,
 * as the SDKs retry them; a backend that took a batch and answered late
 * gets it twice, which it can tell by the span ids). */
static bool exp_retryable(int status)
{
    return status == TS_HTTP_ECONNECT || status == TS_HTTP_EIO || status == TS_HTTP_ETIMEOUT ||
           status == 429 || status == 502 || status == 503 || status == 504;
}

/* POST msg, one attempt, bounded by the exporter's own timeout and by
 * deadline_ms. Its retries are the batch's (exp_park, exp_retry). */
static int exp_post(struct exp_batch *b, struct ts_http_client *c, const char *content_type,
                    const char *headers, unsigned timeout_ms, const char *msg, size_t len,
                    uint64_t deadline_ms)
{
    struct ts_http_response r;
    uint64_t now = ts_mono_ms();
    uint64_t until = now + timeout_ms < deadline_ms ? now + timeout_ms : deadline_ms;
    ts_http_request(c, "POST", content_type, headers, msg, len, until, &r);
    if (ts_http_succeeded(&r)) {
        if (b->exporter == TS_EXPORTER_OTLP)
            exp_partial_success(b, &r);
        exp_succeeded(b);
        return 0;
    }
    ts_stats_add(TS_STAT_EXPORT_ERRORS, 1); /* every failed attempt, retried or not */
    ts_http_describe(&r, b->why, sizeof b->why);
    if (!exp_retryable(r.status)) {
        exp_failed(b, b->sending, b->why);
        return EXP_GAVE_UP;
    }
    b->retry_after_ms = r.retry_after_s * 1000u;
    return EXP_RETRY;
}

static int exp_send_otlp(struct exp_batch *b, const char *msg, size_t len, uint64_t deadline_ms)
{
    exp_http_init();
    return exp_post(b, &exp_otlp_http, exp_encoder(b)->content_type, ts_cfg.otlp_headers,
                    ts_cfg.otlp_timeout_ms, msg, len, deadline_ms);
}

static int exp_send_zipkin(struct exp_batch *b, const char *msg, size_t len, uint64_t deadline_ms)
{
    exp_http_init();
    return exp_post(b, &exp_zipkin_http, b->enc->content_type, NULL, ts_cfg.zipkin_timeout_ms,
                    msg, len, deadline_ms);
}

/* The agent as traceshim config shows it: an IPv6 address in brackets
 * ([::1]:6831), not run into its port (::1:6831). */
static void exp_jaeger_agent(char *out, size_t cap)
{
    bool v6 = strchr(ts_cfg.jaeger_host, ':') != NULL;
    snprintf(out, cap, "%s%s%s:%u", v6 ? "[" : "", ts_cfg.jaeger_host, v6 ? "]" : "",
             (unsigned)ts_cfg.jaeger_port);
}

/* The Jaeger exporter's failure, naming the agent and errno's reason. */
static int exp_jaeger_failed(struct exp_batch *b, int err)
{
    ts_stats_add(TS_STAT_EXPORT_ERRORS, 1);
    char agent[sizeof ts_cfg.jaeger_host + 16], reason[96], why[sizeof agent + 128];
    exp_jaeger_agent(agent, sizeof agent);
    snprintf(why, sizeof why, "%s: %s", agent, ts_net_strerror(err, reason, sizeof reason));
    exp_failed(b, b->sending, why);
    return EXP_GAVE_UP;
}

/* A remote agent's refusals, late (jaeger_refusals.h). */
static struct ts_jaeger_refusals exp_jaeger_refusals TS_FORK_STATE;

/* The socket's pending error (SO_ERROR), cleared by reading it; 0: none. */
static int exp_jaeger_pending_error(int fd)
{
    int err = 0;
    socklen_t len = sizeof err;
    return getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 ? err : 0;
}

/* A refusal found before a send: an earlier datagram's, counted as the
 * export error it was (its spans were counted as exported when it went),
 * not as the failure of the datagram about to go. Said once the agent is
 * seen to be down (jaeger_refusals.h), which makes the exporter failing
 * until a send is evidence again that the agent takes datagrams: then the
 * recovery line. */
static void exp_jaeger_late_refusal(struct exp_batch *b, uint64_t now)
{
    ts_stats_add(TS_STAT_EXPORT_ERRORS, 1);
    if (!ts_jaeger_refused(&exp_jaeger_refusals, now)) {
        ts_log_debug("%s exporter: an earlier datagram was refused", b->name);
        return;
    }
    char agent[sizeof ts_cfg.jaeger_host + 16], reason[96], why[sizeof agent + 384];
    exp_jaeger_agent(agent, sizeof agent);
    snprintf(why, sizeof why,
             "%s: %s: the agent refuses the datagrams sent to it (each refusal the socket "
             "reports is counted as an export error; their spans were counted as exported "
             "when they went)",
             agent, ts_net_strerror(ECONNREFUSED, reason, sizeof reason));
    if (!b->reported) {
        b->reported = true;
        ts_log_error("%s exporter: Jaeger agent: %s (later failures are counted, not shown)",
                     b->name, why);
    } else {
        ts_log_debug("%s exporter: %s", b->name, why);
    }
    b->failing = true;
}

/* One datagram to the agent. A connected UDP socket holds an ICMP "port
 * unreachable" as its pending error: an agent on this host refuses within
 * the send (the kernel delivers the ICMP before send returns), so an
 * error pending right after it is this datagram's, and its spans are
 * dropped; one pending before it, or reported by the send itself, came
 * from an earlier datagram, so it is cleared first and this one is tried
 * again. */
static int exp_send_jaeger(struct exp_batch *b, const char *msg, size_t len, uint64_t deadline_ms)
{
    for (int attempt = 0; attempt < 3; attempt++) {
        if (!ts_own_fd_valid(&exp_jaeger_sock)) {
            ts_own_fd_forget(&exp_jaeger_sock);
            if (ts_net_connect(&exp_jaeger_sock, ts_cfg.jaeger_host, ts_cfg.jaeger_port,
                               SOCK_DGRAM, deadline_ms) != 0)
                return exp_jaeger_failed(b, errno);
        }
        int fd = exp_jaeger_sock.fd;
        if (!ts_own_fd_begin(&exp_jaeger_sock))
            continue; /* the program took the number: a new socket */
        int before = exp_jaeger_pending_error(fd);
        ssize_t w = TS_REAL(send)(fd, msg, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        int send_errno = errno;
        int after = w == (ssize_t)len ? exp_jaeger_pending_error(fd) : 0;
        ts_own_fd_end(&exp_jaeger_sock);
        uint64_t now = ts_mono_ms();
        bool refused_before = before == ECONNREFUSED || (w < 0 && send_errno == ECONNREFUSED);
        bool taken = false; /* evidence that the agent takes datagrams */
        if (refused_before)
            exp_jaeger_late_refusal(b, now);
        else
            taken = ts_jaeger_found_clear(&exp_jaeger_refusals, now);
        if (w == (ssize_t)len && after == 0) {
            if (taken) /* a send just after a refusal says nothing of the agent */
                exp_succeeded(b);
            return 0;
        }
        if (w == (ssize_t)len)
            return exp_jaeger_failed(b, after);
        if (w >= 0)
            return exp_jaeger_failed(b, EMSGSIZE);
        errno = send_errno;
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
            if (ts_net_wait(fd, POLLOUT, deadline_ms) != 0)
                break;
            continue;
        }
        if (errno != ECONNREFUSED && errno != EINTR)
            break;
    }
    return exp_jaeger_failed(b, errno);
}

/* ------------------------------------------------------------- batches */

/* Start b's next batch: empty, with room for the message's head. */
static void exp_batch_begin(struct exp_batch *b, const struct ts_encoder *enc)
{
    ts_json_buf_reset(&b->spans);
    b->room = enc->head_max();
    if (b->start_with > b->spans.cap)
        ts_json_buf_reserve(&b->spans, b->start_with);
    char *o = ts_json_buf_room(&b->spans, b->room);
    if (o) /* else failed: the batch is dropped when sent */
        ts_json_buf_commit(&b->spans, o + b->room);
}

/* A batch of spans begun, with what its destination takes whole (the
 * span file: its file opened now, if need be). Not for the prepare's
 * batch, which must not open the span file. */
static void exp_batch_start(struct exp_batch *b, const struct ts_encoder *enc)
{
    exp_batch_begin(b, enc);
    if (b->exporter == TS_EXPORTER_FILE)
        b->whole_max = ts_file_export_whole_line_max();
}

/* Note the most b's batch held, for the batches of the next second. */
static void exp_batch_remember_high(struct exp_batch *b)
{
    size_t high = b->high > b->spans.len ? b->high : b->spans.len;
    uint64_t now = ts_mono_ms();
    if (high >= b->start_with || now - b->start_with_ms >= EXP_START_WITH_MS) {
        b->start_with = high;
        b->start_with_ms = now;
    }
    b->high = 0;
}

/* How many bytes b's spans take so far. */
static size_t exp_spans_len(const struct exp_batch *b)
{
    return b->spans.len > b->room ? b->spans.len - b->room : 0;
}

/* The outcome of a message of n spans: counted, with the spans an OTLP
 * receiver said it rejected (b->rejected) as dropped. */
static void exp_outcome(struct exp_batch *b, bool ok, size_t n)
{
    if (ok && b->rejected) {
        exp_count(true, n - b->rejected);
        exp_count(false, b->rejected);
    } else {
        exp_count(ok, n);
    }
}

/* Send msg, of n spans, from b; its result as the send function's. */
static int exp_attempt(struct exp_batch *b, const char *msg, size_t len, size_t n,
                       uint64_t deadline_ms)
{
    b->sending = n;
    b->rejected = 0;
    b->retry_after_ms = 0;
    return b->send(b, msg, len, deadline_ms);
}

/* When the next attempt after a failure goes: the backend's Retry-After,
 * else the backoff, with up to a quarter more, so that many processes
 * restarted together do not retry in step. */
static uint64_t exp_next_attempt_ms(const struct exp_batch *b, unsigned backoff_ms)
{
    unsigned wait = b->retry_after_ms ? b->retry_after_ms : backoff_ms;
    uint64_t now = ts_mono_ms();
    wait += (unsigned)(now * 2654435761u % (wait / 4 + 1));
    ts_log_debug("%s exporter: %s; retrying in %u ms", b->name, b->why, wait);
    return now + wait;
}

/* A sent or given up message's buffer: emptied, and given back when it
 * grew past what is kept between batches. */
static void exp_buf_done(struct ts_json_buf *buf)
{
    if (buf->cap > EXP_KEEP_BUF)
        ts_json_buf_free(buf);
    else
        ts_json_buf_reset(buf);
}

static void exp_parked_free(struct exp_parked *p)
{
    p->n = 0;
    exp_buf_done(&p->buf);
}

/* Park b's sealed batch (its message at msg) after a failure worth
 * retrying: false when there is no time for another attempt before
 * deadline_ms, or a flush waits (an exit's, an exec's: one attempt each). */
static bool exp_park(struct exp_batch *b, size_t msg, uint64_t deadline_ms)
{
    if (exp_no_waits())
        return false;
    uint64_t at = exp_next_attempt_ms(b, EXP_BACKOFF_FIRST_MS);
    if (at >= deadline_ms)
        return false;
    struct exp_parked *p = &b->parked;
    struct ts_json_buf spare = p->buf; /* empty: its memory serves the next batch */
    p->buf = b->spans;
    b->spans = spare;
    p->msg = msg;
    p->n = b->n;
    p->attempts = 1;
    p->backoff_ms = EXP_BACKOFF_FIRST_MS * 2;
    p->retry_at_ms = at;
    p->give_up_ms = deadline_ms;
    return true;
}

/* The next attempt of b's parked batch, when it is due: sent, parked
 * again for a later one, or given up (after EXP_MAX_ATTEMPTS, past its
 * deadline). A flush (an exit's, an exec's) gives it the attempt that is
 * due and no other, and gives up one not due yet: the backend asked for
 * the wait (Retry-After), or the backoff's is under way. */
static void exp_retry(struct exp_batch *b, uint64_t deadline_ms)
{
    struct exp_parked *p = &b->parked;
    if (p->n == 0)
        return;
    bool hurried = exp_no_waits();
    int r = EXP_RETRY;
    if (ts_mono_ms() >= p->retry_at_ms) {
        uint64_t until = deadline_ms < p->give_up_ms ? deadline_ms : p->give_up_ms;
        r = exp_attempt(b, p->buf.data + p->msg, p->buf.len - p->msg, p->n, until);
    } else if (!hurried) {
        return;
    }
    if (r == EXP_RETRY && !hurried && ++p->attempts < EXP_MAX_ATTEMPTS) {
        uint64_t at = exp_next_attempt_ms(b, p->backoff_ms);
        if (at < p->give_up_ms) {
            p->retry_at_ms = at;
            p->backoff_ms =
                p->backoff_ms * 2 > EXP_BACKOFF_MAX_MS ? EXP_BACKOFF_MAX_MS : p->backoff_ms * 2;
            return;
        }
    }
    if (r == EXP_RETRY)
        exp_failed(b, p->n, b->why);
    exp_outcome(b, r == 0, p->n);
    exp_parked_free(p);
}

/* Seal and send b's pending batch. The message is sent from the batch's
 * own buffer: the span bytes are not copied. A batch that failed and may
 * succeed later is parked (exp_park); while one is, the next waits. */
static void exp_batch_send(struct exp_batch *b, uint64_t deadline_ms)
{
    exp_retry(b, deadline_ms);
    if (b->n == 0 || b->parked.n > 0)
        return;
    const struct ts_encoder *enc = exp_encoder(b);
    size_t msg = SIZE_MAX;
    if (!b->spans.failed)
        msg = enc->seal(&b->spans, 0, b->room, b->n);
    int r = EXP_GAVE_UP;
    if (msg != SIZE_MAX && !b->spans.failed)
        r = exp_attempt(b, b->spans.data + msg, b->spans.len - msg, b->n, deadline_ms);
    exp_batch_remember_high(b);
    if (r == EXP_RETRY && exp_park(b, msg, deadline_ms)) {
        b->n = 0;
        return;
    }
    if (r == EXP_RETRY)
        exp_failed(b, b->n, b->why);
    exp_outcome(b, r == 0, b->n);
    b->n = 0;
    exp_buf_done(&b->spans);
}

/* Add s to b's batch, sending the batch first when s would take it past
 * what a message is filled to. A span too big for a message on its own is
 * dropped. */
static void exp_batch_add(struct exp_batch *b, const struct ts_span *s, uint64_t deadline_ms)
{
    const struct ts_encoder *enc = exp_encoder(b);
    if (b->parked.n > 0 && b->n >= ts_cfg.bsp_max_batch) {
        exp_batch_send(b, deadline_ms); /* the parked batch's attempt, when due */
        if (b->parked.n > 0) {
            exp_count(false, 1); /* held behind a failed batch, and full */
            return;
        }
    }
    if (b->n == 0)
        exp_batch_start(b, enc);
    size_t mark = b->spans.len;
    enc->span(&b->spans, s, b->n == 0);
    if (b->spans.len > b->high)
        b->high = b->spans.len;
    size_t fill = b->n > 0 && b->fill_bytes ? b->fill_bytes : b->max_bytes;
    /* two newlines: the line's, and one that ends a line cut short before */
    if (b->n > 0 && b->whole_max > 2 && fill > b->whole_max - 2)
        fill = b->whole_max - 2;
    if (enc->bound(exp_spans_len(b), b->n + 1) <= fill) {
        b->n++;
        return;
    }
    ts_json_buf_truncate(&b->spans, mark);
    if (b->n > 0) {
        exp_batch_send(b, deadline_ms);
        if (b->n > 0) { /* held behind a failed batch, and full */
            exp_count(false, 1);
            return;
        }
        exp_batch_start(b, enc);
        enc->span(&b->spans, s, true);
        if (enc->bound(exp_spans_len(b), 1) <= b->max_bytes) {
            b->n = 1;
            return;
        }
        ts_json_buf_reset(&b->spans);
    }
    exp_count(false, 1);
    ts_log_debug("%s exporter: a span too large for one message was dropped", b->name);
}

/* ------------------------------------------------------------- console */

/* The code point of the character at p (valid UTF-8, as a JSON string
 * holds it) when it is one a terminal must not get
 * (common/terminal_text.h), else 0. *len: the character's length in
 * bytes. */
static unsigned console_unsafe(const unsigned char *p, size_t *len)
{
    *len = p[0] < 0x80 ? 1 : p[0] < 0xE0 ? 2 : p[0] < 0xF0 ? 3 : 4;
    if (!ts_terminal_unsafe(p))
        return 0;
    if (*len == 1)
        return p[0];
    if (*len == 2)
        return (unsigned)(p[0] & 0x1F) << 6 | (p[1] & 0x3F);
    return (unsigned)(p[0] & 0x0F) << 12 | (unsigned)(p[1] & 0x3F) << 6 | (p[2] & 0x3F);
}

/* The console line goes to the program's terminal: the quoted string b
 * holds from offset from on (valid UTF-8, C0 escaped already) gets the
 * characters console_unsafe names as \uXXXX escapes too, as view and stats
 * show them as '?' (`run -e console true $'\u202e'` wrote the rest of the
 * line backwards). Rewritten from the end, in the room grown for it. */
static void console_escape_from(struct ts_json_buf *b, size_t from)
{
    size_t extra = 0, len;
    for (size_t i = from; i < b->len; i += len)
        if (console_unsafe((const unsigned char *)b->data + i, &len))
            extra += 6 - len;
    if (!extra || !ts_json_buf_reserve(b, extra))
        return; /* nothing to do, or b failed: the line is not written */
    size_t in = b->len, out = b->len + extra;
    b->len = out;
    while (in > from) {
        size_t start = in - 1; /* back to the character's first byte */
        while (start > from && ((unsigned char)b->data[start] & 0xC0) == 0x80)
            start--;
        unsigned cp = console_unsafe((const unsigned char *)b->data + start, &len);
        if (cp) {
            static const char hex[] = "0123456789abcdef";
            char esc[6] = {'\\',        'u', hex[cp >> 12], hex[cp >> 8 & 15], hex[cp >> 4 & 15],
                           hex[cp & 15]};
            out -= 6;
            memcpy(b->data + out, esc, 6);
        } else {
            out -= in - start;
            memmove(b->data + out, b->data + start, in - start);
        }
        in = start;
    }
}

/* One readable line per span on stderr, e.g.
 * traceshim: span <trace>/<span> parent=<id> "GET /x" server 200 1.234ms
 * made in exp_line, which is returned. */
static struct ts_json_buf *exp_console_line(const struct ts_span *s)
{
    static const char *const kinds[] = {"unspecified", "internal", "server", "client"};
    struct ts_json_buf *b = &exp_line;
    ts_json_buf_reset(b);
    ts_json_buf_append_cstr(b, "traceshim: span ");
    ts_json_buf_hex(b, s->trace_id, TS_TRACE_ID_LEN);
    ts_json_buf_append_char(b, '/');
    ts_json_buf_hex(b, s->span_id, TS_SPAN_ID_LEN);
    ts_json_buf_append_cstr(b, " parent=");
    if (ts_id_is_zero(s->parent_id, TS_SPAN_ID_LEN))
        ts_json_buf_append_char(b, '-');
    else
        ts_json_buf_hex(b, s->parent_id, TS_SPAN_ID_LEN);
    ts_json_buf_append_char(b, ' ');
    size_t name_len;
    const char *name = ts_span_bytes(s, s->name_off, s->name_len, &name_len);
    size_t name_at = b->len;
    ts_json_buf_string(b, name, name_len); /* quoted, control bytes escaped */
    console_escape_from(b, name_at);
    ts_json_buf_append_char(b, ' ');
    ts_json_buf_append_cstr(b, s->kind < 4 ? kinds[s->kind] : "unspecified");
    ts_json_buf_append_char(b, ' ');
    const struct ts_attr *code = ts_span_attr_find(s, "http.response.status_code");
    if (code && code->type == TS_ATTR_INT)
        ts_json_buf_i64(b, code->num);
    else
        ts_json_buf_append_char(b, '-');
    uint64_t dur = s->end_ns > s->start_ns ? s->end_ns - s->start_ns : 0;
    uint64_t frac = dur / 1000 % 1000; /* microseconds, as 3 decimals of ms */
    char dec[5] = {'.', (char)('0' + frac / 100), (char)('0' + frac / 10 % 10),
                   (char)('0' + frac % 10), 0};
    ts_json_buf_append_char(b, ' ');
    ts_json_buf_u64(b, dur / 1000000);
    ts_json_buf_append_cstr(b, dec);
    ts_json_buf_append_cstr(b, "ms");
    if (s->status == TS_STATUS_ERROR)
        ts_json_buf_append_cstr(b, " error");
    ts_json_buf_append_char(b, '\n');
    return b;
}

static void exp_console_span(const struct ts_span *s)
{
    struct ts_json_buf *b = exp_console_line(s);
    if (b->failed) {
        exp_count(false, 1);
        return;
    }
    /* The program's stderr, also from a reporter thread with an fd table
     * of its own (log.h), and after the program closed it on its way out
     * (program_stderr.h): a line that did not get there is a span lost. */
    exp_count(ts_log_write_line(b->data, b->len), 1);
}

/* ------------------------------------------------------------- API */

void ts_exp_take(size_t n)
{
    uint64_t fed = TS_EXPORTS(&ts_cfg, TS_EXPORTER_CONSOLE);
    for (size_t i = 0; i < EXP_N; i++)
        fed += TS_EXPORTS(&ts_cfg, exp_batches[i].exporter);
    __atomic_add_fetch(&exp_uncounted.spans, fed * n, __ATOMIC_SEQ_CST);
}

uint64_t ts_exp_count_at_exit(void)
{
    (void)__atomic_fetch_or(&exp_uncounted.spans, EXP_UNCOUNTED_CLOSED, __ATOMIC_SEQ_CST);
    /* An exporter's count after these exchanges: its spans are held in this one. */
    uint64_t failed = __atomic_exchange_n(&exp_uncounted.late[0], 0, __ATOMIC_SEQ_CST);
    uint64_t ok = __atomic_exchange_n(&exp_uncounted.late[1], 0, __ATOMIC_SEQ_CST);
    ts_stats_add(TS_STAT_DROPPED_EXPORT_FAILED, failed);
    ts_stats_add(TS_STAT_SPANS_EXPORTED, ok);
    uint64_t was = __atomic_load_n(&exp_uncounted.spans, __ATOMIC_RELAXED), counted;
    do {
        uint64_t held = was & ~EXP_UNCOUNTED_CLOSED;
        counted = ok + failed < held ? ok + failed : held;
    } while (!__atomic_compare_exchange_n(&exp_uncounted.spans, &was, was - counted, true,
                                          __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
    return (was - counted) & ~EXP_UNCOUNTED_CLOSED;
}

void ts_exp_add(const struct ts_span *s, uint64_t deadline_ms)
{
    if (TS_EXPORTS(&ts_cfg, TS_EXPORTER_CONSOLE))
        exp_console_span(s);
    for (size_t i = 0; i < EXP_N; i++)
        if (TS_EXPORTS(&ts_cfg, exp_batches[i].exporter))
            exp_batch_add(&exp_batches[i], s, deadline_ms);
}

/* A span of the kind a flush at _exit sends (the process span), put
 * through every configured encoder once, not sent: the pieces each
 * encoder keeps (heads, made for head_max; the local endpoint) are made
 * now and the buffers grown. */
static void exp_rehearse(void)
{
    struct ts_span s;
    ts_span_clear(&s);
    s.kind = TS_KIND_INTERNAL;
    memset(s.trace_id, 0x11, sizeof s.trace_id);
    memset(s.span_id, 0x22, sizeof s.span_id);
    memset(s.parent_id, 0x33, sizeof s.parent_id);
    s.start_ns = 1;
    s.end_ns = 2;
    ts_span_set_name(&s, "prepare", 7);
    ts_span_attr_int(&s, "process.pid", 1);
    ts_span_attr_int(&s, "process.parent_pid", 1);
    ts_span_attr_cstr(&s, "process.command_line", "prepare");
    ts_span_attr_int(&s, "process.exit_code", 0);
    if (TS_EXPORTS(&ts_cfg, TS_EXPORTER_CONSOLE))
        ts_json_buf_reset(exp_console_line(&s));
    for (size_t i = 0; i < EXP_N; i++) {
        struct exp_batch *b = &exp_batches[i];
        if (!TS_EXPORTS(&ts_cfg, b->exporter))
            continue;
        if (b->n > 0) { /* a batch open: its spans stay, the room is made */
            (void)ts_json_buf_reserve(&b->spans, EXP_PREPARED_BUF);
            continue;
        }
        const struct ts_encoder *enc = exp_encoder(b);
        exp_batch_begin(b, enc);
        enc->span(&b->spans, &s, true);
        if (b->spans.cap < EXP_PREPARED_BUF)
            (void)ts_json_buf_reserve(&b->spans, EXP_PREPARED_BUF);
        ts_json_buf_reset(&b->spans);
    }
}

void ts_exp_prepare(void)
{
    (void)ts_resource_get();
    exp_http_init();
    if (TS_EXPORTS(&ts_cfg, TS_EXPORTER_OTLP))
        ts_http_client_prepare(&exp_otlp_http); /* its answers' buffer */
    if (TS_EXPORTS(&ts_cfg, TS_EXPORTER_ZIPKIN))
        ts_http_client_prepare(&exp_zipkin_http);
    exp_rehearse();
}

void ts_exp_retry_due(uint64_t deadline_ms)
{
    for (size_t i = 0; i < EXP_N; i++)
        if (exp_batches[i].parked.n > 0) {
            struct exp_batch *b = &exp_batches[i];
            exp_retry(b, deadline_ms);
            if (b->parked.n == 0 && b->n > 0) /* the batch it held goes now */
                exp_batch_send(b, deadline_ms);
        }
}

uint64_t ts_exp_next_retry_ms(void)
{
    uint64_t next = 0;
    for (size_t i = 0; i < EXP_N; i++) {
        const struct exp_parked *p = &exp_batches[i].parked;
        if (p->n > 0 && (next == 0 || p->retry_at_ms < next))
            next = p->retry_at_ms;
    }
    return next;
}

void ts_exp_send(uint64_t deadline_ms)
{
    for (size_t i = 0; i < EXP_N; i++)
        exp_batch_send(&exp_batches[i], deadline_ms);
}

/* Let go of every connection and of the span file: closed when they are
 * this thread's to close, else only forgotten. */
static void exp_drop_fds(bool close_them)
{
    if (exp_http_ready) {
        if (close_them) {
            ts_http_client_close(&exp_otlp_http);
            ts_http_client_close(&exp_zipkin_http);
        } else {
            ts_http_client_forget(&exp_otlp_http);
            ts_http_client_forget(&exp_zipkin_http);
        }
    }
    if (close_them) {
        ts_own_fd_close(&exp_jaeger_sock);
        ts_file_export_close_fd();
    } else {
        ts_own_fd_forget(&exp_jaeger_sock);
        ts_file_export_forget_fd();
    }
}

void ts_exp_close_fds(void)
{
    exp_drop_fds(true);
}

TS_FORK_HANDLER void ts_exp_after_fork_child(bool export_was_busy, bool fds_elsewhere)
{
    /* the flushes the parent's threads were waiting on are not the child's,
     * nor the spans its exporters held (the parent sends and counts them) */
    __atomic_store_n(&exp_hurried, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&exp_uncounted.spans, 0, __ATOMIC_RELAXED);
    TS_FORK_RESET(&exp_uncounted.late[0], 0);
    TS_FORK_RESET(&exp_uncounted.late[1], 0);
    ts_file_export_kept_after_fork();
    for (size_t i = 0; i < EXP_N; i++) {
        struct exp_batch *b = &exp_batches[i];
        if (export_was_busy)
            ts_json_buf_init(&b->spans); /* leaked on purpose: may be mid-realloc */
        else
            ts_json_buf_reset(&b->spans);
        if (export_was_busy)
            ts_json_buf_init(&b->parked.buf);
        else
            exp_parked_free(&b->parked);
        b->parked.n = 0;
        b->n = 0; /* the parent sends these */
        b->failing = false;
    }
    /* the child's refusals are its own account (its socket is its own) */
    TS_FORK_RESET(&exp_jaeger_refusals.refused_ms, 0);
    TS_FORK_RESET(&exp_jaeger_refusals.taken_since, false);
    if (export_was_busy) {
        ts_file_export_after_fork(); /* a program's thread flushing itself (reporter.c) */
        ts_json_buf_init(&exp_line);
        const struct ts_encoder *const encoders[] = {&ts_encoder_otlp_json, &ts_encoder_otlp_proto,
                                                     &ts_encoder_zipkin_json,
                                                     &ts_encoder_jaeger_thrift};
        for (size_t i = 0; i < sizeof encoders / sizeof *encoders; i++)
            encoders[i]->forget();
    }
    if (export_was_busy || fds_elsewhere) {
        /* Half-updated, or numbers of the parent's reporter thread's own
         * table, which the child does not have: not ours to close. */
        exp_drop_fds(false);
        return;
    }
    /* The connections are the parent's too: the child opens its own (the
     * span file it may share: every write appends). */
    if (exp_http_ready) {
        ts_http_client_close(&exp_otlp_http);
        ts_http_client_close(&exp_zipkin_http);
    }
    ts_own_fd_close(&exp_jaeger_sock);
}
