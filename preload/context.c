/* context.c — the thread's current server span and the process's inherited
 * context (see context.h). */
#include "context.h"

__thread struct ts_ctx ts_ctx_current_ __attribute__((tls_model("initial-exec")));
static struct ts_ctx ctx_process;
static char ctx_process_tracestate[TS_TRACESTATE_MAX];
size_t ts_ctx_process_tracestate_len_;

const struct ts_ctx *ts_ctx_current(void)
{
    return ts_ctx_current_.valid ? &ts_ctx_current_ : NULL;
}

const struct ts_ctx *ts_ctx_process(void)
{
    return ctx_process.valid ? &ctx_process : NULL;
}

void ts_ctx_set_process(const struct ts_ctx *c)
{
    ctx_process = *c;
}

const char *ts_ctx_process_tracestate(size_t *len)
{
    *len = ts_ctx_process_tracestate_len_;
    return *len ? ctx_process_tracestate : NULL;
}

void ts_ctx_set_process_tracestate(const char *v, size_t len)
{
    if (len > sizeof ctx_process_tracestate)
        len = 0;
    memcpy(ctx_process_tracestate, v, len);
    ts_ctx_process_tracestate_len_ = len;
}
