/* exec_env.c — the child's environment (see exec_env.h). Only string
 * functions here: this runs inside vfork children. */
#include "exec_env.h"

#include <string.h>

#include "../preload/hex.h"

#define SAVED_MAX 96

static char saved_arena[16384];
static const char *saved[SAVED_MAX];
static size_t saved_count;
static char lib_file[4096];  /* the library's path */
static const char *lib_base; /* its last component, to find it in LD_PRELOAD */
/* TRACESHIM_FILE= the span file's absolute path, for the children (""
 * when they keep what they get), and the entry the process started with
 * (NULL: none), which the children get in its place. */
static char span_file_entry[sizeof "TRACESHIM_FILE=" + 8192];
static const char *start_file_entry;

/* Does s begin with the string literal prefix? */
#define has_prefix(s, prefix) (strncmp((s), prefix, sizeof prefix - 1) == 0)

/* Is this one of the entries a child needs to be traced like its parent?
 * TRACESHIM_B3 is not configuration but the trace context, which each
 * exec writes anew. */
static bool worth_saving(const char *e)
{
    /* One compare for most entries: a Kubernetes pod's or a CI job's
     * environment has hundreds, each looked at in every process's start. */
    if (e[0] != 'L' && e[0] != 'T' && e[0] != 'O' && e[0] != 'J')
        return false;
    if (has_prefix(e, "TRACESHIM_B3="))
        return false;
    return has_prefix(e, "LD_PRELOAD=") || has_prefix(e, "TRACESHIM_") || has_prefix(e, "OTEL_") ||
           has_prefix(e, "JAEGER_");
}

/* One of the entries that carry the trace context (replaced by the
 * shim's when it hands the child one)? */
static bool context_entry(const char *e)
{
    return has_prefix(e, "TRACEPARENT=") || has_prefix(e, "TRACESTATE=") ||
           has_prefix(e, "TRACESHIM_B3=");
}

void ts_exec_env_reset(void)
{
    saved_count = 0;
    lib_file[0] = '\0';
    lib_base = NULL;
    span_file_entry[0] = '\0';
    start_file_entry = NULL;
}

/* Children write where this process writes: span_file in place of the
 * start's TRACESHIM_FILE entry when it is saved, else among the entries
 * put back. */
static void init_span_file(const char *span_file)
{
    static const char name[] = "TRACESHIM_FILE=";
    if (!span_file || strlen(span_file) >= sizeof span_file_entry - sizeof name)
        return;
    memcpy(span_file_entry, name, sizeof name - 1);
    strcpy(span_file_entry + sizeof name - 1, span_file);
    for (size_t i = 0; i < saved_count; i++)
        if (has_prefix(saved[i], "TRACESHIM_FILE=")) {
            start_file_entry = saved[i];
            saved[i] = span_file_entry;
            return;
        }
    if (saved_count < SAVED_MAX)
        saved[saved_count++] = span_file_entry;
}

void ts_exec_env_init(char *const env[], const char *lib_path, const char *span_file)
{
    ts_exec_env_reset();
    size_t used = 0;
    for (size_t i = 0; env && env[i] && saved_count < SAVED_MAX; i++) {
        if (!worth_saving(env[i]) || !strchr(env[i], '='))
            continue;
        size_t len = strlen(env[i]) + 1;
        if (used + len > sizeof saved_arena)
            continue;
        memcpy(saved_arena + used, env[i], len);
        saved[saved_count++] = saved_arena + used;
        used += len;
    }
    init_span_file(span_file);
    if (lib_path && strlen(lib_path) < sizeof lib_file) {
        strcpy(lib_file, lib_path);
        const char *slash = strrchr(lib_file, '/');
        lib_base = slash ? slash + 1 : lib_file;
    }
}

size_t ts_exec_env_slots(char *const envp[])
{
    size_t n = 0;
    while (envp && envp[n])
        n++;
    return n + saved_count + 4; /* TRACEPARENT, TRACESTATE, TRACESHIM_B3, NULL */
}

/* Does envp have an entry named like entry (the part before '=')? */
static bool env_has(char *const envp[], const char *entry)
{
    size_t name = (size_t)(strchr(entry, '=') - entry) + 1;
    for (size_t i = 0; envp && envp[i]; i++)
        if (strncmp(envp[i], entry, name) == 0)
            return true;
    return false;
}

/* Does the LD_PRELOAD entry name the library (by its file's name)? */
static bool preload_has_lib(const char *entry)
{
    return lib_base && strstr(entry + sizeof "LD_PRELOAD=" - 1, lib_base);
}

/* An LD_PRELOAD entry with the library put first when it lost it. */
static const char *preload_with_lib(const char *entry, struct ts_exec_env_buf *buf)
{
    const char *value = entry + sizeof "LD_PRELOAD=" - 1;
    if (!lib_base || preload_has_lib(entry))
        return entry;
    size_t lib = strlen(lib_file), rest = strlen(value);
    if (sizeof "LD_PRELOAD=" + lib + 1 + rest > sizeof buf->preload)
        return entry;
    char *p = buf->preload;
    memcpy(p, "LD_PRELOAD=", sizeof "LD_PRELOAD=" - 1);
    p += sizeof "LD_PRELOAD=" - 1;
    memcpy(p, lib_file, lib);
    p += lib;
    if (rest) {
        *p++ = ' ';
        memcpy(p, value, rest);
        p += rest;
    }
    *p = '\0';
    return buf->preload;
}

static const char *traceparent_entry(const struct ts_ctx *ctx, struct ts_exec_env_buf *buf)
{
    char *p = buf->traceparent;
    memcpy(p, "TRACEPARENT=00-", 15);
    p += 15;
    ts_hex_encode(ctx->trace_id, TS_TRACE_ID_LEN, p);
    p += 2 * TS_TRACE_ID_LEN;
    *p++ = '-';
    ts_hex_encode(ctx->span_id, TS_SPAN_ID_LEN, p);
    p += 2 * TS_SPAN_ID_LEN;
    memcpy(p, ts_ctx_sampled(ctx) ? "-01" : "-00", 4);
    return buf->traceparent;
}

/* TRACESHIM_B3={trace id}-{span id}-{1|0|d}: the context as a b3 header
 * carries it, for what TRACEPARENT cannot say (a debug flag, a 64-bit
 * trace id, which B3 writes with 16 digits); NULL when it says nothing
 * more. */
static const char *b3_entry(const struct ts_ctx *ctx, struct ts_exec_env_buf *buf)
{
    static const char name[] = "TRACESHIM_B3=";
    if (!ctx->trace_id_64 && ctx->sampling != TS_SAMPLING_DEBUG)
        return NULL;
    char *p = buf->b3;
    memcpy(p, name, sizeof name - 1);
    p += sizeof name - 1;
    size_t skip = ctx->trace_id_64 ? TS_TRACE_ID_LEN / 2 : 0;
    ts_hex_encode(ctx->trace_id + skip, TS_TRACE_ID_LEN - skip, p);
    p += 2 * (TS_TRACE_ID_LEN - skip);
    *p++ = '-';
    ts_hex_encode(ctx->span_id, TS_SPAN_ID_LEN, p);
    p += 2 * TS_SPAN_ID_LEN;
    memcpy(p, ctx->sampling == TS_SAMPLING_DEBUG ? "-d" : ts_ctx_sampled(ctx) ? "-1" : "-0", 3);
    return buf->b3;
}

/* TRACESTATE=value, or NULL when there is none or it does not fit. */
static const char *tracestate_entry(const struct ts_exec_ctx *parent, struct ts_exec_env_buf *buf)
{
    static const char name[] = "TRACESTATE=";
    size_t len = parent->tracestate_len;
    if (!parent->tracestate || len == 0 || sizeof name + len > sizeof buf->tracestate)
        return NULL;
    memcpy(buf->tracestate, name, sizeof name - 1);
    memcpy(buf->tracestate + sizeof name - 1, parent->tracestate, len);
    buf->tracestate[sizeof name - 1 + len] = '\0';
    return buf->tracestate;
}

char **ts_exec_env_build(char *const envp[], char **out, size_t slots,
                         const struct ts_exec_ctx *parent, bool follow,
                         struct ts_exec_env_buf *buf)
{
    const struct ts_ctx *ctx = parent ? parent->ctx : NULL;
    size_t n = 0;
    bool have_preload = false, have_file = false, loads_lib = false;
    for (size_t i = 0; envp && envp[i] && n + 1 < slots; i++) {
        const char *e = envp[i];
        if (ctx && context_entry(e))
            continue;
        if (has_prefix(e, "LD_PRELOAD=")) {
            loads_lib = preload_has_lib(e);
            if (follow) {
                have_preload = true;
                e = preload_with_lib(e, buf);
            }
        }
        if (has_prefix(e, "TRACESHIM_FILE=")) {
            have_file = true;
            /* inherited, perhaps relative: a chdir since would split the trace */
            if (start_file_entry && strcmp(e, start_file_entry) == 0)
                e = span_file_entry;
        }
        out[n++] = (char *)e;
    }
    /* Not following, a child that loads the library still writes where
     * this process does (following, it is among the saved entries). */
    if (!follow && span_file_entry[0] && !start_file_entry && !have_file && loads_lib &&
        n + 1 < slots)
        out[n++] = span_file_entry;
    if (ctx && n + 1 < slots)
        out[n++] = (char *)traceparent_entry(ctx, buf);
    const char *tracestate = ctx ? tracestate_entry(parent, buf) : NULL;
    if (tracestate && n + 1 < slots)
        out[n++] = (char *)tracestate;
    const char *b3 = ctx ? b3_entry(ctx, buf) : NULL;
    if (b3 && n + 1 < slots)
        out[n++] = (char *)b3;
    for (size_t i = 0; follow && i < saved_count && n + 1 < slots; i++) {
        if (has_prefix(saved[i], "LD_PRELOAD=") ? have_preload : env_has(envp, saved[i]))
            continue;
        out[n++] = (char *)saved[i];
    }
    out[n] = NULL;
    return out;
}
