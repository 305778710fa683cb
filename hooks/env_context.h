/* env_context.h — the trace context a process inherits in its
 * environment: TRACEPARENT and the TRACESTATE beside it (OpenTelemetry's
 * environment carrier), the parent of the spans that have no other. Read
 * at start-up by the library, and by `traceshim config` to show them. */
#ifndef TS_ENV_CONTEXT_H
#define TS_ENV_CONTEXT_H

#include "../preload/config.h"

/* Read TRACEPARENT and TRACESTATE through lookup and make them the
 * process's context (preload/context.h). A value that is not valid is
 * ignored, with one line on stderr. Returns how many were ignored. */
int ts_env_context_load(ts_env_lookup_fn lookup);

#endif
