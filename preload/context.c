/* context.c — the thread's current server span and the process's inherited
 * context (see context.h). */
#include "context.h"

#include <string.h>

static __thread struct ts_ctx ctx_current __attribute__((tls_model("initial-exec")));
static struct ts_ctx ctx_process;

const struct ts_ctx *ts_ctx_current(void)
{
    return ctx_current.valid ? &ctx_current : NULL;
}

void ts_ctx_set_current(const struct ts_ctx *c)
{
    ctx_current = *c;
}

void ts_ctx_clear_current(const uint8_t span_id[TS_SPAN_ID_LEN])
{
    if (ctx_current.valid && memcmp(ctx_current.span_id, span_id, TS_SPAN_ID_LEN) == 0)
        ctx_current.valid = false;
}

const struct ts_ctx *ts_ctx_process(void)
{
    return ctx_process.valid ? &ctx_process : NULL;
}

void ts_ctx_set_process(const struct ts_ctx *c)
{
    ctx_process = *c;
}
