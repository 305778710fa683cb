/* init.c — the library's life (see init.h).
 *
 * Init runs in the constructor or lazily in the first hook, whichever comes
 * first, exactly once. It reads the configuration (copying every value: the
 * environment may be overwritten later) and registers the fork handlers. It
 * starts no thread: the reporter thread starts with the first span. */
#include "init.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "../hooks/conn.h"
#include "../hooks/exec_env.h"
#include "../hooks/inflight.h"
#include "../hooks/process_span.h"
#include "../hooks/propagation.h"
#include "../hooks/rules.h"
#include "../hooks/tls_sessions.h"
#include "../hooks/trust.h"
#include "../reporter/reporter.h"
#include "../reporter/sampler.h"
#include "config.h"
#include "context.h"
#include "guard.h"
#include "ids.h"
#include "log.h"
#include "process.h"
#include "real.h"
#include "stats.h"

bool ts_active;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

/* Whether prepare took the hooks' locks: not when fork was called by a
 * signal handler that interrupted this very thread inside the shim, which
 * may hold one of them (and finishes with it after the handler returns). */
static bool fork_took_hook_locks;

static void atfork_prepare(void)
{
    ts_rep_atfork_prepare();
    fork_took_hook_locks = !ts_guard_active();
    if (fork_took_hook_locks) {
        tls_sessions_fork_prepare();
        ts_conn_fork_prepare();
    }
}

static void atfork_parent(void)
{
    if (fork_took_hook_locks) {
        ts_conn_fork_parent();
        tls_sessions_fork_parent();
    }
    ts_rep_atfork_parent();
}

static void atfork_child(void)
{
    ts_process_after_fork();
    ts_ids_after_fork();
    ts_rep_atfork_child();
    ts_inflight_after_fork();
    ts_conn_after_fork();
    tls_sessions_after_fork();
    ts_pspan_after_fork();
}

/* An inherited TRACEPARENT (OpenTelemetry's environment carrier) is the
 * parent of spans that have no other. */
static void init_process_context(void)
{
    const char *tp = getenv("TRACEPARENT");
    if (!tp || !*tp)
        return;
    struct ts_ctx ctx;
    size_t len = 0;
    while (tp[len] && len < 256)
        len++;
    if (ts_traceparent_parse(tp, len, &ctx))
        ts_ctx_set_process(&ctx);
    else
        ts_log_warn("ignoring invalid TRACEPARENT=\"%.*s\"", (int)(len < 80 ? len : 80), tp);
}

/* What a child needs to be traced too, saved before anything can change
 * the environment: the library's own path and the configuration. */
static void init_child_env(void)
{
    Dl_info self;
    const char *lib = dladdr((void *)init_child_env, &self) ? self.dli_fname : NULL;
    ts_exec_env_init(environ, lib);
}

static const char *env_lookup(const char *name)
{
    return getenv(name);
}

static void init_body(void)
{
    /* A setuid/setgid program (secure execution: the loader itself
     * distrusts the environment) is not traced at all: nothing the
     * environment says may steer a privileged process. */
    if (getauxval(AT_SECURE))
        return;
    ts_guard_enter();
    ts_real_resolve();
    ts_config_load(&ts_cfg, env_lookup);
    if (!ts_cfg.disabled) {
        /* counting starts now: the start time of the TRACESHIM_STATS metrics */
        ts_stats_mark_start();
        ts_rules_load(env_lookup); /* TRACESHIM_ROUTES, _IGNORE, _[NO_]INJECT_TO */
        ts_sampler_load(env_lookup);
        ts_trust_load(env_lookup); /* keys copied; libcrypto opened in hmac mode */
        ts_process_load();
        ts_rep_init(); /* fixes a relative span file path before any chdir */
        init_process_context();
        init_child_env();
        ts_pspan_start();
        pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
        __atomic_store_n(&ts_active, true, __ATOMIC_RELEASE);
    }
    ts_guard_leave();
}

void ts_init(void)
{
    pthread_once(&init_once, init_body);
}

__attribute__((constructor)) static void ts_constructor(void)
{
    ts_init();
}

__attribute__((destructor)) static void ts_destructor(void)
{
    if (!ts_active)
        return;
    ts_guard_enter();
    ts_pspan_end();
    /* Bounded (TRACESHIM_EXIT_TIMEOUT): a short-lived curl must not lose
     * its spans, and no program may hang on its way out because of us. */
    ts_rep_exit(ts_cfg.exit_timeout_ms);
    ts_guard_leave();
}
