/* context.h — trace context: what propagates between services, and the
 * thread's current server span (the parent of client spans it starts). */
#ifndef TS_CONTEXT_H
#define TS_CONTEXT_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "span.h"

/* Sampling decision carried in a context. */
enum ts_sampling {
    TS_SAMPLING_DEFER = 0,  /* no decision was propagated (B3 without X-B3-Sampled) */
    TS_SAMPLING_ACCEPT = 1, /* sampled */
    TS_SAMPLING_DENY = 2,   /* not sampled */
    TS_SAMPLING_DEBUG = 3,  /* B3 debug flag: sampled, forced */
};

/* A propagated span context. trace_id is always 16 bytes; a 64-bit B3 trace
 * id is stored right-aligned with the high 8 bytes zero and trace_id_64 set,
 * so that it is passed on as 16 hex digits again. */
struct ts_ctx {
    uint8_t trace_id[TS_TRACE_ID_LEN];
    uint8_t span_id[TS_SPAN_ID_LEN];
    uint8_t parent_id[TS_SPAN_ID_LEN]; /* B3's ParentSpanId when given, else zero */
    uint8_t sampling;                  /* enum ts_sampling */
    bool valid;
    bool trace_id_64;
    bool has_parent;
    /* Read from a request's head or the environment: its span is in
     * another process (a span the shim made here has it false). */
    bool remote;
};

/* True when the context says "export this trace" (sampled or debug, or
 * deferred, which we resolve as sampled: parentbased_always_on). */
static inline bool ts_ctx_sampled(const struct ts_ctx *c)
{
    return c->sampling != TS_SAMPLING_DENY;
}

/* What a span started in a context with this sampling decision records
 * of it (ts_span.sampled): a debug context makes a debug span, which the
 * exporters say (a plain "sampled" would let a Zipkin or Jaeger
 * collector's own sampling drop a trace its sender forced). */
static inline uint8_t ts_sampling_span_flags(uint8_t sampling)
{
    if (sampling == TS_SAMPLING_DENY)
        return 0;
    return sampling == TS_SAMPLING_DEBUG ? TS_SPAN_SAMPLED | TS_SPAN_DEBUG : TS_SPAN_SAMPLED;
}

/* The calling thread's current server span, or NULL when it serves none.
 * Set by the HTTP server logic when a request head has been read, cleared
 * when its response is complete. */
const struct ts_ctx *ts_ctx_current(void);

/* The thread's current context itself (valid false: none), for the
 * inline setters below: every server span sets it and clears it again,
 * a copy and a compare that cost less than the calls did. */
extern __thread struct ts_ctx ts_ctx_current_
    __attribute__((tls_model("initial-exec")));

static inline void ts_ctx_set_current(const struct ts_ctx *c)
{
    ts_ctx_current_ = *c;
}

/* Clear the current context only if it still names span_id. */
static inline void ts_ctx_clear_current(const uint8_t span_id[TS_SPAN_ID_LEN])
{
    if (ts_ctx_current_.valid && memcmp(ts_ctx_current_.span_id, span_id, TS_SPAN_ID_LEN) == 0)
        ts_ctx_current_.valid = false;
}

/* The process's inherited context (TRACEPARENT in the environment at start),
 * or NULL. Parent of spans that have no other parent. */
const struct ts_ctx *ts_ctx_process(void);
void ts_ctx_set_process(const struct ts_ctx *c);

/* The most characters of a W3C tracestate the shim keeps and passes on
 * (hooks/propagation.h ts_tracestate_valid). */
#define TS_TRACESTATE_MAX 512

/* The tracestate that came with the inherited context (TRACESTATE beside
 * TRACEPARENT at start): the vendors' entries of that trace, which the
 * process's spans continue. NULL (*len 0) when there is none. */
const char *ts_ctx_process_tracestate(size_t *len);
void ts_ctx_set_process_tracestate(const char *v, size_t len);

extern size_t ts_ctx_process_tracestate_len_;
static inline bool ts_ctx_process_has_tracestate(void)
{
    return ts_ctx_process_tracestate_len_ != 0;
}

#endif
