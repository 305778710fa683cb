/* env_context.c — the trace context inherited in the environment (see
 * env_context.h). */
#include "env_context.h"

#include <string.h>

#include "../preload/context.h"
#include "../preload/log.h"
#include "propagation.h"

/* The longest TRACESTATE read: 32 members of at most 513 characters each,
 * with room for blanks around them. A longer one is no tracestate. */
#define TRACESTATE_READ_MAX 65536

/* TRACESHIM_B3 beside the TRACEPARENT read into ctx: its debug flag and
 * its 64-bit trace id go into ctx when it names the same context (see
 * env_context.h). Returns 1 when it was ignored as not valid, else 0. */
static int b3_beside(ts_env_lookup_fn lookup, struct ts_ctx *ctx)
{
    const char *v = lookup("TRACESHIM_B3");
    if (!v || !*v)
        return 0;
    struct ts_ctx b3;
    if (!ts_b3_single_parse(v, strnlen(v, 128), &b3) || b3.sampling == TS_SAMPLING_DEFER) {
        char shown[TS_SHOWN_MAX + 4];
        ts_config_shown_value(v, shown, sizeof shown);
        ts_log_error("ignoring invalid TRACESHIM_B3=\"%s\" ({trace id}-{span id}-{1|0|d})", shown);
        return 1;
    }
    if (memcmp(b3.trace_id, ctx->trace_id, TS_TRACE_ID_LEN) != 0 ||
        memcmp(b3.span_id, ctx->span_id, TS_SPAN_ID_LEN) != 0 ||
        ts_ctx_sampled(&b3) != ts_ctx_sampled(ctx)) {
        ts_log_info("ignoring TRACESHIM_B3: not the context of TRACEPARENT");
        return 0;
    }
    ctx->trace_id_64 = b3.trace_id_64;
    ctx->sampling = b3.sampling;
    return 0;
}

int ts_env_context_load(ts_env_lookup_fn lookup)
{
    const char *tp = lookup("TRACEPARENT");
    if (!tp || !*tp)
        return 0;
    struct ts_ctx ctx;
    size_t len = strnlen(tp, 256);
    if (!ts_traceparent_parse(tp, len, &ctx)) {
        char shown[TS_SHOWN_MAX + 4];
        ts_config_shown_value(tp, shown, sizeof shown);
        ts_log_error("ignoring invalid TRACEPARENT=\"%s\"", shown);
        return 1;
    }
    ctx.remote = true; /* the parent process's span */
    int ignored = b3_beside(lookup, &ctx);
    ts_ctx_set_process(&ctx);
    const char *ts = lookup("TRACESTATE");
    if (!ts || !*ts)
        return ignored;
    char kept[TS_TRACESTATE_MAX];
    len = strnlen(ts, TRACESTATE_READ_MAX + 1);
    if (len <= TRACESTATE_READ_MAX && (len = ts_tracestate_normalize(ts, len, kept))) {
        ts_ctx_set_process_tracestate(kept, len);
        return ignored;
    }
    ts_log_error("ignoring TRACESTATE: not a tracestate (at most %d entries, each key=value)",
                 TS_TRACESTATE_MEMBERS_MAX);
    return ignored + 1;
}
