/* exec_env.h — the environment a traced program's child starts with.
 *
 * The program's own entries, with TRACEPARENT naming the span current at
 * the exec and TRACESTATE that trace's tracestate (the OpenTelemetry
 * environment carriers), TRACESHIM_B3 beside them when the context is
 * more than a traceparent says (a B3 debug flag, a 64-bit B3 trace id:
 * env_context.h), and — when following
 * children is on and the program dropped them — what the shim needs to
 * come along: LD_PRELOAD with the library, and the shim's configuration as
 * the program started with it (TRACESHIM_*, OTEL_*, JAEGER_*), the span
 * file named by the absolute path this process writes.
 *
 * Built in the caller's memory: an exec hook may run in a vfork child,
 * which shares its parent's memory and must not allocate or lock. */
#ifndef TS_EXEC_ENV_H
#define TS_EXEC_ENV_H

#include <stdbool.h>
#include <stddef.h>

#include "../preload/context.h"

/* At start-up: copy the entries to re-add from env; lib_path is the
 * library's own file (to put back into an LD_PRELOAD that lost it);
 * span_file, when not NULL, the absolute path of the span file this
 * process writes: its children get TRACESHIM_FILE set to it in place of
 * the entry the process started with (a relative path, or none: the
 * default in the cwd, which a chdir before an exec would change), and
 * among the entries put back. */
void ts_exec_env_init(char *const env[], const char *lib_path, const char *span_file);

/* Scratch for the strings the new environment needs. */
struct ts_exec_env_buf {
    char traceparent[96];
    char tracestate[sizeof "TRACESTATE=" + TS_TRACESTATE_MAX];
    /* TRACESHIM_B3={trace id}-{span id}-{1|0|d} */
    char b3[sizeof "TRACESHIM_B3=" + 2 * TS_TRACE_ID_LEN + 1 + 2 * TS_SPAN_ID_LEN + 2];
    char preload[8192];
};

/* What the child continues: a context and the tracestate that goes with
 * it (value[0..len), len 0: none). */
struct ts_exec_ctx {
    const struct ts_ctx *ctx;
    const char *tracestate;
    size_t tracestate_len;
};

/* Slots out[] needs for envp: its entries, ours, and the NULL. */
size_t ts_exec_env_slots(char *const envp[]);

/* Write the child's environment into out[0..slots): envp's entries with,
 * when parent->ctx, TRACEPARENT set to it, TRACESTATE to its tracestate
 * and TRACESHIM_B3 to its B3 form when it has a debug flag or a 64-bit
 * trace id (the program's own entries of all three replaced: a TRACESTATE
 * or TRACESHIM_B3 is its TRACEPARENT's), and, when follow, the saved
 * entries envp lacks and the library in LD_PRELOAD. The start's own
 * TRACESHIM_FILE entry, still in envp, becomes init's span_file whether
 * following or not; not following, a child whose LD_PRELOAD has the
 * library gets span_file where the process started without the entry
 * and envp has none. Returns out. */
char **ts_exec_env_build(char *const envp[], char **out, size_t slots,
                         const struct ts_exec_ctx *parent, bool follow,
                         struct ts_exec_env_buf *buf);

/* Forget what init saved (tests). */
void ts_exec_env_reset(void);

#endif
