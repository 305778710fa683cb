/* context.c — the thread's current server span and the process's inherited
 * context (see context.h). */
#include "context.h"

__thread struct ts_ctx ts_ctx_current_ __attribute__((tls_model("initial-exec")));
static struct ts_ctx ctx_process;

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
