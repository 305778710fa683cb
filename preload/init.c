/* init.c — the library's life (see init.h).
 *
 * Init runs in the constructor or lazily in the first hook, whichever comes
 * first, exactly once. It reads the configuration (copying every value: the
 * environment may be overwritten later) and registers the fork handlers. It
 * starts no thread: the reporter thread starts with the first span.
 *
 * How the library came into the process decides where its configuration
 * comes from (README, "System-wide mode"):
 *  - LD_PRELOAD names it (traceshim run, a container's ENV): the
 *    environment alone, as always;
 *  - anything else (an entry of /etc/ld.so.preload): system mode. The
 *    environment first, then /etc/traceshim/traceshim.conf; the process is
 *    traced only when TRACESHIM_PROGRAMS matches its executable, and never
 *    when it is PID 1 or the file is missing or malformed. Otherwise the
 *    library stays dormant: no thread, no fd, no output, hooks pass
 *    through.
 * When two different copies of the library are loaded (one from each),
 * only the one the program's calls reach first works; the other is
 * dormant, so nothing is traced twice. */
#include "direct.h"
#include "init.h"

#include <dlfcn.h>
#include <errno.h>
#include <gnu/libc-version.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../hooks/conn.h"
#include "../hooks/env_context.h"
#include "../hooks/exec_env.h"
#include "../hooks/exit_order.h"
#include "../hooks/inflight.h"
#include "../hooks/process_hooks.h"
#include "../hooks/process_span.h"
#include "../hooks/propagation.h"
#include "../hooks/rules.h"
#include "../hooks/shell_pipe.h"
#include "../hooks/signal_hooks.h"
#include "../hooks/socket_hooks.h"
#include "../hooks/tls_sessions.h"
#include "../hooks/trust.h"
#include "../reporter/file_exporter.h"
#include "../reporter/reporter.h"
#include "../reporter/sampler.h"
#include "clock.h"
#include "config.h"
#include "context.h"
#include "death.h"
#include "deepbind.h"
#include "env_index.h"
#include "fork_state.h"
#include "guard.h"
#include "ids.h"
#include "log.h"
#include "next_symbol.h"
#include "process.h"
#include "real.h"
#include "self_image.h"
#include "stacks.h"
#include "start_state.h"
#include "stats.h"
#include "sysconf.h"

bool ts_active;
static pthread_once_t init_once TS_START_STATE = PTHREAD_ONCE_INIT;

/* Whether prepare took the hooks' locks: not when fork was called by a
 * signal handler that interrupted this very thread inside the shim, which
 * may hold one of them (and finishes with it after the handler returns).
 * Aligned to a page, and the fork state's first object (init.c is linked
 * first): the section then starts a page, and its objects fall on the
 * fewest pages whatever the size of the data before it (32 bytes more of
 * .data once put stats_fork_ns alone on the section's last page: a fault
 * more in every fork's parent). */
static bool fork_took_hook_locks TS_FORK_STATE __attribute__((aligned(4096)));

/* From prepare to the parent or child handler the thread holds the
 * queue's and the pools' locks outside any hook: the reentrancy guard
 * stays entered meanwhile, so that a signal handler that interrupts the
 * fork (and calls a traced write, or _exit) passes through the hooks
 * rather than wait for a lock its own thread holds. */
TS_FORK_HANDLER static void atfork_prepare(void)
{
    ts_death_due(0); /* no child once a death is under way */
    bool take_hook_locks = !ts_guard_active();
    ts_guard_enter();
    ts_rep_atfork_prepare();
    /* Under the queue's lock, which this thread holds until its parent or
     * child handler: glibc runs two threads' fork handlers at once. */
    fork_took_hook_locks = take_hook_locks;
    if (fork_took_hook_locks) {
        tls_sessions_fork_prepare();
        ts_conn_fork_prepare();
    }
}

TS_FORK_HANDLER static void atfork_parent(void)
{
    ts_conn_forked();
    if (fork_took_hook_locks) {
        ts_conn_fork_parent();
        tls_sessions_fork_parent();
    }
    ts_rep_atfork_parent();
    ts_guard_leave();
}

TS_FORK_HANDLER static void atfork_child(void)
{
    ts_process_after_fork();
    ts_ids_after_fork();
    ts_rep_atfork_child();
    ts_inflight_after_fork();
    ts_conn_after_fork();
    ts_socket_hooks_after_fork(); /* (the connections ts_conn_after_fork kept) */
    tls_sessions_after_fork(fork_took_hook_locks);
    ts_pspan_after_fork();
    ts_exit_order_after_fork();
    ts_shell_pipe_after_fork();
    ts_signal_hooks_after_fork();
    ts_deepbind_after_fork();
    ts_rules_after_fork();
    ts_guard_leave(); /* the child's copy of the prepare handler's */
}

/* This library's file as the loader opened it (NULL if unknown). */
static const char *self_path(void)
{
    Dl_info self;
    return dladdr((void *)self_path, &self) ? self.dli_fname : NULL;
}

/* What a child needs to be traced too, saved before anything can change
 * the environment: the library's own path, the configuration, and the
 * span file's absolute path (made at ts_rep_init; not for a process
 * configured by the system file, whose children read the file again). */
static void init_child_env(bool system)
{
    const char *span_file = ts_file_export_path();
    ts_exec_env_init(environ, self_path(), !system && span_file[0] == '/' ? span_file : NULL);
}

/* The environment indexed for the start's lookups (env_index.h): set
 * only while init_body runs, on its thread's stack. */
static const struct ts_env_index *env_at_start TS_START_STATE;

static const char *env_lookup(const char *name)
{
    return env_at_start ? ts_env_index_get(env_at_start, name) : getenv(name);
}

/* The version the library reports (telemetry.sdk.version); exported, also
 * so that a copy of the library can find out whether another copy comes
 * first in the process's symbol lookup order. */
TS_EXPORT const char *traceshim_version(void)
{
    return TS_VERSION;
}

/* Is this copy the one the program's calls reach first? A second copy
 * (a different file in /etc/ld.so.preload and in LD_PRELOAD) stays dormant
 * and its hooks pass the calls on. */
static bool first_copy(void)
{
    const void *first = dlsym(RTLD_DEFAULT, "traceshim_version");
    return !first || ts_self_holds(first);
}

/* Does LD_PRELOAD name this library (the same file by any path, or its
 * bare name, which the loader looks up in the library path)? A path with
 * one of the loader's dynamic string tokens ("/usr/$LIB/libtraceshim.so",
 * ld.so(8)), which only the loader can expand, names it by its last
 * component. Not inlined
 * into init_body, like program_selected: their 4 KiB buffers would stay
 * on the stack for the whole start, and a thread of 16 KiB that starts
 * the shim loads libunwind on what is left. */
__attribute__((noinline)) static bool named_in_ld_preload(const char *self)
{
    const char *lp = getenv("LD_PRELOAD");
    if (!lp || !*lp || !self)
        return false;
    struct stat me;
    bool have_me = stat(self, &me) == 0;
    const char *base = strrchr(self, '/');
    base = base ? base + 1 : self;
    while (*lp) {
        size_t len = strcspn(lp, " :\t\n");
        char entry[4096];
        if (len && len < sizeof entry) {
            memcpy(entry, lp, len);
            entry[len] = '\0';
            const char *slash = strrchr(entry, '/');
            struct stat st;
            if (!slash || strchr(entry, '$')
                    ? strcmp(slash ? slash + 1 : entry, base) == 0
                    : strcmp(entry, self) == 0 ||
                          (have_me && stat(entry, &st) == 0 && st.st_dev == me.st_dev &&
                           st.st_ino == me.st_ino))
                return true;
        }
        lp += len;
        if (*lp)
            lp++;
    }
    return false;
}

/* System mode: the file read once by this process (static: no malloc). */
static struct ts_sysconf system_conf;

/* System mode's lookup: the environment wins, then the file. */
static const char *system_lookup(const char *name)
{
    const char *v = env_lookup(name);
    return v && *v ? v : ts_sysconf_get(&system_conf, name);
}

/* The file the exec named (AT_EXECFN: a #! script's path, where
 * /proc/self/exe is its interpreter; a symbolic link's, where it is the
 * link's target), made absolute from the folder the process starts in;
 * NULL when it cannot be. Static: the start is single-threaded, and its
 * stack frame small. */
static const char *exec_file_name(void)
{
    static char absolute[1024];
    const char *fn = (const char *)getauxval(AT_EXECFN);
    if (!fn || !*fn || fn[0] == '/')
        return fn;
    while (fn[0] == '.' && fn[1] == '/')
        fn += 2;
    if (!getcwd(absolute, sizeof absolute))
        return NULL;
    size_t dir = strlen(absolute), len = strlen(fn);
    if (dir == 1) /* "/": the name follows it */
        dir = 0;
    if (dir + 1 + len >= sizeof absolute)
        return NULL;
    absolute[dir] = '/';
    memcpy(absolute + dir + 1, fn, len + 1);
    return absolute;
}

/* Is this program one TRACESHIM_PROGRAMS names? Unset: every program when
 * the environment preloaded the library, none in system mode. */
__attribute__((noinline)) static bool program_selected(ts_env_lookup_fn lookup, bool system)
{
    const char *patterns = lookup("TRACESHIM_PROGRAMS");
    if (!patterns || !*patterns)
        return !system;
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0)
        exe[n] = '\0';
    return ts_programs_match(patterns, n > 0 ? exe : NULL, program_invocation_name,
                             exec_file_name());
}

/* System mode: may this process be traced at all? Never PID 1 (init must
 * not depend on us), never without a well-formed file. */
static bool system_mode_possible(void)
{
    if (getpid() == 1)
        return false;
    const char *path = getenv("TRACESHIM_SYSTEM_CONFIG");
    ts_sysconf_read(&system_conf, path && *path ? path : TS_SYSCONF_PATH);
    return system_conf.status == TS_SYSCONF_OK;
}

/* Whether this process is to be traced, and how: the configuration, the
 * rules, the sampler, the process's identity, the hooks' start. */
static void init_configured(void)
{
    /* No LD_PRELOAD naming us: /etc/ld.so.preload put us into a process
     * that never asked. Stay dormant unless the system file selects it. */
    bool system = !named_in_ld_preload(self_path());
    ts_env_lookup_fn lookup = system ? system_lookup : env_lookup;
    if (system && !system_mode_possible())
        return;
    if (!program_selected(lookup, system))
        return;
    ts_guard_enter();
    ts_real_resolve();
    ts_clock_look_up(); /* in the parent: a child forked before any clock read looks up nothing */
    ts_log_muted = system; /* about the configuration: traceshim config --system says it */
    ts_config_load_zeroed(&ts_cfg, lookup); /* once per process, into .bss */
    if (system)
        ts_cfg.follow_exec = false; /* each child decides for itself from the file */
    if (!ts_cfg.disabled) {
        /* counting starts now: the start time of the TRACESHIM_STATS metrics */
        ts_stats_mark_start();
        ts_rules_load(lookup); /* TRACESHIM_ROUTES, _IGNORE, _[NO_]INJECT_TO */
        /* libunwind now, on the thread that runs the constructors: loaded
         * at the first span's stack instead, the loader ran on a thread of
         * the program, which a small stack (16 KiB) did not survive. */
        if (ts_cfg.stacks != TS_STACKS_OFF)
            (void)ts_stacks_load();
        ts_sampler_load(lookup);
        ts_trust_load(lookup); /* keys copied; libcrypto opened in hmac mode */
        ts_log_muted = false;
        ts_process_load();
        ts_rep_init(); /* fixes a relative span file path before any chdir */
        if (ts_cfg.direct_calls)
            ts_direct_begin(); /* bare system calls, where nothing can tell (direct.h) */
        ts_env_context_load(env_lookup); /* TRACEPARENT: never from the system file */
        init_child_env(system);
        ts_pspan_start();
        ts_process_hooks_init();
        ts_signal_hooks_init(); /* SIGTERM and its kin at their default: the spans first */
        ts_socket_hooks_init(); /* an inetd child's connection */
        pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
        __atomic_store_n(&ts_active, true, __ATOMIC_RELEASE);
    }
    ts_log_muted = false;
    ts_guard_leave();
}

/* Is this one of the shim's own commands (traceshim config, check,
 * view)? They report on the tracing and are never traced: the launcher
 * runs them with LD_PRELOAD empty, but from a traced shell the exec hook
 * put the library back, and `traceshim config` made spans of its own and
 * printed the library's warnings about the variables a second time. */
static bool own_command(void)
{
    static const char prefix[] = "traceshim-";
    const char *name = program_invocation_short_name;
    if (strncmp(name, prefix, sizeof prefix - 1) != 0)
        return false;
    name += sizeof prefix - 1;
    return strcmp(name, "config") == 0 || strcmp(name, "check") == 0 || strcmp(name, "view") == 0;
}

/* The start, with the environment indexed for its lookups (a pass over
 * it, not one per variable). */
static void init_body(void)
{
    /* A setuid/setgid program (secure execution: the loader itself
     * distrusts the environment) is not traced at all: nothing the
     * environment says may steer a privileged process. */
    if (getauxval(AT_SECURE) || own_command())
        return;
    if (!first_copy())
        return;
    struct ts_env_index env;
    ts_env_index_build(&env, environ);
    env_at_start = &env;
    init_configured();
    env_at_start = NULL;
}

void ts_init(void)
{
    pthread_once(&init_once, init_body);
}

__attribute__((constructor)) static void ts_constructor(void)
{
    ts_init();
}

/* Set by the destructor once the end after the libraries' destructors
 * is registered (atomic): it runs once. Not in a child a library's
 * destructor forks, whose exit runs the rest of the list too: glibc's
 * __cxa_finalize for the shim took its fork handlers away with its
 * destructor, so that child is foreign (process.h ts_process_foreign):
 * its requests pass untraced, without trace headers, and it ends
 * nothing here. */
static bool late_end_due;
/* What the destructor's end left of TRACESHIM_EXIT_TIMEOUT, in ms. */
static unsigned late_end_timeout_ms;

/* Registered by the destructor while glibc runs the libraries'
 * destructors (_dl_fini), with no object of its own (a NULL handle): the
 * exit runs it once they have all run, as it runs a handler registered
 * by an exit handler, before stdio's last flush and _exit. It does
 * nothing unless spans began since the destructor's end (a request made
 * in a later library's destructor, or by a thread still running): a
 * process that made no such request ends as it did. Not registered when
 * its calls would reach a library whose destructor has run
 * (calls_reach_an_interposer). */
static void end_after_destructors(void *arg)
{
    (void)arg;
    /* (a vfork child that calls exit runs its parent's list) */
    if (ts_process_foreign() || !__atomic_exchange_n(&late_end_due, false, __ATOMIC_ACQ_REL) ||
        !ts_rep_spans_began_since_exit())
        return;
    uint64_t held = ts_signal_hold_handlers(); /* (as in the destructor) */
    ts_guard_enter();
    ts_process_image_ends(TS_IMAGE_GONE); /* what those requests left waiting */
    /* their spans out, and counted again (the stats line too) */
    ts_rep_exit(__atomic_load_n(&late_end_timeout_ms, __ATOMIC_RELAXED));
    ts_guard_leave();
    ts_signal_release_handlers(held);
    ts_death_due(0); /* one put off during that flush: the signal's status */
}

extern int __cxa_atexit(void (*fn)(void *), void *arg, void *dso_handle);

/* Once the libraries after the shim have run their destructors, would the
 * shim's calls reach one of them? A library loaded after the shim and
 * before the C library that defines a function the shim calls
 * (libfaketime's fstat, clock_gettime, poll, nanosleep, ...; an
 * allocator's malloc; another interposer's write) gets the shim's calls
 * to it, and after its destructor it may no longer work: libfaketime's
 * fstat takes a semaphore its destructor unmapped, and the reporter
 * thread's export, in the end after the libraries' destructors or on its
 * own during them, killed the process with SIGSEGV, its buffered output
 * lost. Every function the shim calls counts, those it imports and those
 * of its table of real functions (real.h), not only those the export is
 * known to reach: it reaches dozens. */
static bool calls_reach_an_interposer(void)
{
#define TS_REAL_NAME_(name, ret, params) #name,
    static const char *const real_names[] = {TS_REAL_SYMBOLS(TS_REAL_NAME_)};
#undef TS_REAL_NAME_
    return ts_next_objects_define_calls((const void *)calls_reach_an_interposer,
                                        (const void *)gnu_get_libc_version, real_names,
                                        sizeof real_names / sizeof *real_names);
}

/* After every exit handler: what they left waiting ends as the kernel
 * closes it (also after an exit through glibc's own calls, error() and
 * err(), which no hook sees), the process span ends, and the spans go out,
 * bounded (TRACESHIM_EXIT_TIMEOUT): a short-lived curl must not lose its
 * spans, and no program may hang on its way out because of us.
 *
 * The library is preloaded, and the loader starts it after the libraries
 * the program links: their destructors run after this one. A request made
 * there (a library's destructor, a C++ static's destructor in a library,
 * an atexit handler a library registered, all run at that library's turn)
 * was traced, its trace headers went out, and its span was never exported
 * nor counted. The end stays here, so that a later destructor that
 * crashes takes nothing along, and a handler that runs after every
 * library's destructor (end_after_destructors) ends what began since.
 * Unless the shim's calls would reach a library whose destructor has run
 * by then (calls_reach_an_interposer): then nothing is exported after
 * this end (ts_rep_hold), and those spans are lost. A vfork child that
 * exits (after a failed exec) shares its parent's memory: it ends no
 * connection and registers nothing. */
__attribute__((destructor)) static void ts_destructor(void)
{
    if (!ts_active)
        return;
    /* The program's handlers wait for the end (signal_hooks.h): one that
     * calls _exit would otherwise end the process mid-flush. */
    uint64_t held = ts_signal_hold_handlers();
    ts_guard_enter();
    uint64_t start = ts_mono_ms();
    unsigned timeout_ms = ts_cfg.exit_timeout_ms;
    if (!ts_process_foreign())
        ts_process_image_ends(TS_IMAGE_GONE);
    ts_pspan_end();
    ts_rep_exit(timeout_ms);
    ts_exit_order_flushed();
    if (!ts_process_foreign()) {
        uint64_t spent = ts_mono_ms() - start;
        /* one budget for both ends */
        unsigned left = spent < timeout_ms ? timeout_ms - (unsigned)spent : 0;
        if (calls_reach_an_interposer()) {
            ts_rep_hold(left); /* (an export under way ends first) */
        } else {
            __atomic_store_n(&late_end_timeout_ms, left, __ATOMIC_RELAXED);
            /* due before it is registered: another thread's exit (glibc
             * before 2.41, past ts_exit_order_enter's wait) may run it at
             * once */
            __atomic_store_n(&late_end_due, true, __ATOMIC_RELEASE);
            if (__cxa_atexit(end_after_destructors, NULL, NULL) != 0) /* no memory for the list */
                __atomic_store_n(&late_end_due, false, __ATOMIC_RELAXED);
        }
    }
    ts_guard_leave();
    ts_signal_release_handlers(held);
    ts_death_due(0); /* one put off during that flush: the signal's status */
}
