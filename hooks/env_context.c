/* env_context.c — the trace context inherited in the environment (see
 * env_context.h). */
#include "env_context.h"

#include <string.h>

#include "../preload/context.h"
#include "../preload/log.h"
#include "propagation.h"

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
    ts_ctx_set_process(&ctx);
    const char *ts = lookup("TRACESTATE");
    if (!ts || !*ts)
        return 0;
    len = strnlen(ts, TS_TRACESTATE_MAX + 1);
    if (ts_tracestate_valid(ts, len)) {
        ts_ctx_set_process_tracestate(ts, len);
        return 0;
    }
    ts_log_error("ignoring TRACESTATE: not a tracestate the shim passes on (at most %d "
                 "characters and %d entries, each key=value)",
                 TS_TRACESTATE_MAX, TS_TRACESTATE_MEMBERS_MAX);
    return 1;
}
