/* env_context.h — the trace context a process inherits in its
 * environment: TRACEPARENT and the TRACESTATE beside it (OpenTelemetry's
 * environment carrier), the parent of the spans that have no other. Read
 * at start-up by the library, and by `traceshim config` to show them.
 *
 * What a traceparent cannot say travels beside it in TRACESHIM_B3, the
 * same context as a b3 header's value, {trace id}-{span id}-{1|0|d}
 * (exec_env.h writes it): B3's debug flag, and a 64-bit trace id (16
 * digits), which the child passes on as its parent would have. It counts
 * only beside a TRACEPARENT with the same ids and the same sampled flag,
 * so that a program that gave its child a TRACEPARENT of its own (an
 * OpenTelemetry SDK's) and kept the rest of the environment does not
 * have a stale one change that context. */
#ifndef TS_ENV_CONTEXT_H
#define TS_ENV_CONTEXT_H

#include "../preload/config.h"

/* Read TRACEPARENT, TRACESHIM_B3 and TRACESTATE through lookup and make
 * them the process's context (preload/context.h). A value that is not
 * valid is ignored, with one line on stderr. Returns how many were
 * ignored. A TRACESHIM_B3 of another context is left out (a line at
 * info), not counted. */
int ts_env_context_load(ts_env_lookup_fn lookup);

#endif
