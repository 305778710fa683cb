/* config_cmd.c — `traceshim config`: the configuration the library would
 * use with this environment, and where each value came from.
 *
 * It runs the library's own parsers (preload/config.c, the sampler's) with
 * a lookup that records every variable they ask for, so the list of
 * sources can never drift from what the library reads. Rejected values
 * show the library's own one-line message. Output on stdout; exit status 0,
 * or 1 when a value was rejected.
 *
 * `--system [FILE]`: what a process would use in system mode (loaded from
 * /etc/ld.so.preload): the environment first, then FILE (default
 * /etc/traceshim/traceshim.conf), and which programs are traced. A
 * missing or malformed file is said here, since the library says nothing
 * in the processes it is loaded into (it traces nothing then); so is a key
 * of the file the library does not read (a warning: exit status unchanged). */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hooks/env_context.h"
#include "hooks/rules.h"
#include "hooks/trust.h"
#include "preload/config.h"
#include "preload/sysconf.h"
#include "reporter/sampler.h"

#define MAX_ASKED 128

struct asked {
    const char *name;
    const char *value; /* NULL or empty: not set */
};

static struct asked asked[MAX_ASKED];
static size_t nasked;

static struct ts_sysconf sys_file;
static bool system_mode;

/* What the library would find: the environment, and in system mode the
 * file after it (the environment wins). */
static const char *base_lookup(const char *name)
{
    const char *v = getenv(name);
    if (system_mode && !(v && *v))
        v = ts_sysconf_get(&sys_file, name);
    return v;
}

/* The entry of name, when the library asked for it; else NULL. */
static const struct asked *find_asked(const char *name)
{
    for (size_t i = 0; i < nasked; i++)
        if (strcmp(asked[i].name, name) == 0)
            return &asked[i];
    return NULL;
}

/* Did the library ask for name? */
static bool was_asked(const char *name)
{
    return find_asked(name) != NULL;
}

/* Remember a name asked for, once, with the value found. */
static const char *record(const char *name, const char *v)
{
    if (!was_asked(name) && nasked < MAX_ASKED)
        asked[nasked++] = (struct asked){name, v};
    return v;
}

/* getenv (and the system file after it) that remembers each name asked. */
static const char *recording_lookup(const char *name)
{
    return record(name, base_lookup(name));
}

/* The same from the environment alone: what the library never reads from
 * the system file (an inherited TRACEPARENT). */
static const char *recording_env_lookup(const char *name)
{
    return record(name, getenv(name));
}

static const char *bits_list(unsigned bits, const char *const names[], size_t n, char *out,
                             size_t cap)
{
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (!(bits & (1u << i)) || !names[i])
            continue;
        if (out[0])
            strncat(out, ",", cap - strlen(out) - 1);
        strncat(out, names[i], cap - strlen(out) - 1);
    }
    if (!out[0])
        snprintf(out, cap, "none");
    return out;
}

static void row(const char *what, const char *value)
{
    printf("  %-22s %s\n", what, value);
}

static void row_u(const char *what, unsigned long long v, const char *unit)
{
    printf("  %-22s %llu%s\n", what, v, unit);
}

/* Did the library reject name's value? Its messages name a variable as
 * "NAME=value" or "NAME: ...". */
static bool rejected_in(const char *messages, const char *name)
{
    char eq[80], colon[80];
    snprintf(eq, sizeof eq, " %s=", name);
    snprintf(colon, sizeof colon, " %s:", name);
    return strstr(messages, eq) || strstr(messages, colon);
}

/* For a rejected OTLP traces-specific variable, the general one that the
 * library used instead (set, and not rejected itself); else NULL. */
static const char *general_instead(const char *messages, const char *name)
{
    static const char traces[] = "OTEL_EXPORTER_OTLP_TRACES_";
    static char general[80];
    if (strncmp(name, traces, sizeof traces - 1) != 0)
        return NULL;
    snprintf(general, sizeof general, "OTEL_EXPORTER_OTLP_%s", name + sizeof traces - 1);
    const char *v = base_lookup(general);
    /* (asked: the library reads the general one only where it falls back
     * to it, not for every traces-specific variable) */
    return v && *v && was_asked(general) && !rejected_in(messages, general) ? general : NULL;
}

/* What applies in place of name's rejected value, as its row says it:
 * what the library does then, which is its default for most variables,
 * not for all of them. */
static const char *rejected_outcome(const char *messages, const char *name,
                                    const struct ts_config *cfg)
{
    static char text[128];
    const char *instead = general_instead(messages, name);
    if (instead) {
        snprintf(text, sizeof text, "%s applies", instead);
        return text;
    }
    /* an endpoint named and refused: nothing goes to the default one
     * instead (preload/config.c) */
    if (strstr(name, "_OTLP_") && strstr(name, "_ENDPOINT") &&
        !(cfg->exporters & (1u << TS_EXPORTER_OTLP)))
        return "the otlp exporter is off";
    if (strcmp(name, "OTEL_EXPORTER_ZIPKIN_ENDPOINT") == 0 &&
        !(cfg->exporters & (1u << TS_EXPORTER_ZIPKIN)))
        return "the zipkin exporter is off";
    /* a bad mode, hmac without (good) keys or libcrypto: the safe mode, not
     * the default (all) */
    if ((strcmp(name, "TRACESHIM_TRUST_INBOUND") == 0 ||
         strcmp(name, "TRACESHIM_HMAC_KEYS") == 0) &&
        ts_trust_mode() == TS_TRUST_NONE)
        return "trust mode none applies: no inbound context is trusted";
    /* a bad list of destinations never to inject to: injecting nowhere
     * (hooks/rules.c), not everywhere */
    if (strcmp(name, "TRACESHIM_NO_INJECT_TO") == 0)
        return "trace headers go nowhere";
    /* a service.name too long: that entry alone is left out */
    if (strcmp(name, "OTEL_RESOURCE_ATTRIBUTES") == 0 && cfg->resource_attrs[0])
        return "its service.name is left out, its other entries apply";
    return "default";
}

/* A variable's value as the library found it, when it asked for it and it
 * was set; else NULL. */
static const char *asked_value(const char *name)
{
    const struct asked *a = find_asked(name);
    return a && a->value && *a->value ? a->value : NULL;
}

/* The sampler the library took, from the values it was given and those it
 * refused (its messages): OTEL_TRACES_SAMPLER and its argument, else
 * Jaeger's type and parameter (parent-based), else the default. */
static void sampler_text(const char *messages, char *out, size_t cap)
{
    const char *type_var = "OTEL_TRACES_SAMPLER", *arg_var = "OTEL_TRACES_SAMPLER_ARG";
    const char *type = asked_value(type_var), *kind = "";
    if (!type) {
        type_var = "JAEGER_SAMPLER_TYPE";
        arg_var = "JAEGER_SAMPLER_PARAM";
        type = asked_value(type_var);
        kind = "jaeger ";
    }
    if (!type || rejected_in(messages, type_var)) {
        snprintf(out, cap, "parentbased_always_on (the default)");
        return;
    }
    /* the argument of a sampler that reads one: the Jaeger types' (const's
     * too), the ratio's and the remote sampler's */
    bool reads_arg =
        kind[0] || strcasestr(type, "traceidratio") || strcasestr(type, "jaeger_remote");
    const char *arg = reads_arg ? asked_value(arg_var) : NULL;
    char shown[1024] = "";
    if (arg && rejected_in(messages, arg_var))
        snprintf(shown, sizeof shown, " (%s refused: its default)", arg_var);
    else if (arg) {
        shown[0] = ' ';
        ts_sampler_arg_shown(arg, shown + 1, sizeof shown - 1);
    }
    snprintf(out, cap, "%s%s%s%s", kind, type, shown, kind[0] ? " (parent-based)" : "");
}

/* A value as it may be shown: secrets are not. The HMAC keys never are;
 * of the exporters' headers (API keys, bearer tokens), only the names; of
 * the endpoints (the remote sampler's too), neither a user nor the query's
 * values (tokens). */
static void print_value(const char *name, const char *v)
{
    if (strcmp(name, "TRACESHIM_HMAC_KEYS") == 0) {
        printf("(set, %zu bytes: not shown)", strlen(v));
        return;
    }
    if (strcmp(name, "OTEL_TRACES_SAMPLER_ARG") == 0) { /* jaeger_remote's endpoint=URL */
        char shown[4096];
        ts_sampler_arg_shown(v, shown, sizeof shown);
        fputs(shown, stdout);
        return;
    }
    size_t nlen = strlen(name);
    if (nlen > 9 && strcmp(name + nlen - 9, "_ENDPOINT") == 0) {
        char shown[4096];
        ts_url_shown(v, shown, sizeof shown);
        fputs(shown, stdout);
        return;
    }
    if (strcmp(name, "OTEL_EXPORTER_OTLP_HEADERS") != 0 &&
        strcmp(name, "OTEL_EXPORTER_OTLP_TRACES_HEADERS") != 0) {
        fputs(v, stdout);
        return;
    }
    for (const char *entry = v; *entry;) {
        const char *comma = strchr(entry, ',');
        size_t len = comma ? (size_t)(comma - entry) : strlen(entry);
        const char *eq = memchr(entry, '=', len);
        printf("%.*s%s", (int)(eq ? (size_t)(eq - entry) : len), entry, eq ? "=(not shown)" : "");
        if (!comma)
            break;
        fputc(',', stdout);
        entry = comma + 1;
    }
}

/* The variables the library reads through its lookup, so from the system
 * file too (tests/lint/check_docs.py keeps this list equal to the names in
 * the library's sources). A key of the file that is none of them the
 * library ignores without a word: a typo such as TRACESHIM_EXPORTERS. */
static const char *const file_keys[] = {
    "JAEGER_AGENT_HOST",
    "JAEGER_AGENT_PORT",
    "JAEGER_DISABLED",
    "JAEGER_ENDPOINT",
    "JAEGER_PROPAGATION",
    "JAEGER_SAMPLER_MANAGER_HOST_PORT",
    "JAEGER_SAMPLER_PARAM",
    "JAEGER_SAMPLER_TYPE",
    "JAEGER_SAMPLING_ENDPOINT",
    "JAEGER_SERVICE_NAME",
    "JAEGER_TAGS",
    "OTEL_BSP_EXPORT_TIMEOUT",
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
    "OTEL_BSP_MAX_QUEUE_SIZE",
    "OTEL_BSP_SCHEDULE_DELAY",
    "OTEL_EXPORTER_JAEGER_AGENT_HOST",
    "OTEL_EXPORTER_JAEGER_AGENT_PORT",
    "OTEL_EXPORTER_JAEGER_ENDPOINT",
    "OTEL_EXPORTER_OTLP_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_CLIENT_KEY",
    "OTEL_EXPORTER_OTLP_COMPRESSION",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
    "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY",
    "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
    "OTEL_EXPORTER_ZIPKIN_ENDPOINT",
    "OTEL_EXPORTER_ZIPKIN_TIMEOUT",
    "OTEL_PROPAGATORS",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_SDK_DISABLED",
    "OTEL_SERVICE_NAME",
    "OTEL_TRACES_EXPORTER",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "TRACESHIM_DEEPBIND",
    "TRACESHIM_DIRECT_CALLS",
    "TRACESHIM_DISABLED",
    "TRACESHIM_EXIT_TIMEOUT",
    "TRACESHIM_EXPORTER",
    "TRACESHIM_FILE",
    "TRACESHIM_FOLLOW_EXEC",
    "TRACESHIM_HMAC_KEYS",
    "TRACESHIM_IGNORE",
    "TRACESHIM_INJECT_TO",
    "TRACESHIM_LOG_LEVEL",
    "TRACESHIM_MAX_HEAD_BYTES",
    "TRACESHIM_NO_INJECT_TO",
    "TRACESHIM_OWN_FD_TABLE",
    "TRACESHIM_PROCESS_SPANS",
    "TRACESHIM_PROGRAMS",
    "TRACESHIM_ROUTES",
    "TRACESHIM_SIGNAL_FLUSH",
    "TRACESHIM_STACKS",
    "TRACESHIM_STATS",
    "TRACESHIM_TRUST_INBOUND",
};

/* Read from the environment alone, never from the system file. */
static const char *const environment_only[] = {"TRACESHIM_SYSTEM_CONFIG", "TRACESHIM_B3",
                                               "TRACEPARENT", "TRACESTATE"};

static bool listed(const char *name, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return true;
    return false;
}

/* Edits (insert, delete, substitute a character) from a to b, counted up
 * to a bound: 64 characters each at most (longer ones are no near miss). */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return SIZE_MAX;
    size_t row[65];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* --system: a line on stderr for each key of the file the library does not
 * read from it, with the nearest one it does when that is a near miss (at
 * most 2 edits, or a quarter of the name). A warning: the exit status is
 * what the values decide. */
static void warn_unknown_keys(const char *path)
{
    size_t n = sizeof file_keys / sizeof file_keys[0];
    for (size_t k = 0; k < sys_file.count; k++) {
        const char *key = sys_file.key[k];
        if (listed(key, file_keys, n))
            continue;
        if (listed(key, environment_only, sizeof environment_only / sizeof environment_only[0])) {
            fprintf(stderr,
                    "traceshim config: warning: %s sets %s, which the library reads from the "
                    "environment only: ignored\n",
                    path, key);
            continue;
        }
        const char *nearest = NULL;
        size_t best = SIZE_MAX;
        for (size_t i = 0; i < n; i++) {
            size_t d = edit_distance(key, file_keys[i]);
            if (d < best) {
                best = d;
                nearest = file_keys[i];
            }
        }
        size_t near = strlen(key) / 4 > 2 ? strlen(key) / 4 : 2;
        fprintf(stderr,
                "traceshim config: warning: %s sets %s, which the library does not read: "
                "ignored",
                path, key);
        if (nearest && best <= near)
            fprintf(stderr, " (did you mean %s?)", nearest);
        fputc('\n', stderr);
    }
}

static const char *const sysconf_problems[] = {
    [TS_SYSCONF_OK] = "",
    [TS_SYSCONF_MISSING] = "cannot be read (missing or no permission)",
    [TS_SYSCONF_TOO_BIG] = "is too big (at most 64 KiB and 128 keys)",
    [TS_SYSCONF_MALFORMED] = "is malformed",
    [TS_SYSCONF_NOT_FILE] = "is not a regular file",
};

/* --system: read the file; 0, or 1 (said on stderr) when it is unusable. */
static int load_system_file(const char *path)
{
    system_mode = true;
    ts_sysconf_read(&sys_file, path);
    if (sys_file.status == TS_SYSCONF_OK)
        return 0;
    if (sys_file.status == TS_SYSCONF_MALFORMED)
        fprintf(stderr,
                "traceshim config: %s is malformed at line %d: each line must be KEY=VALUE, "
                "a comment (#) or blank; system mode traces nothing until it is fixed\n",
                path, sys_file.bad_line);
    else
        fprintf(stderr, "traceshim config: %s %s: system mode traces nothing\n", path,
                sysconf_problems[sys_file.status]);
    return 1;
}

/* In system mode: which programs are traced. */
static void print_system_programs(const char *path)
{
    const char *programs = base_lookup("TRACESHIM_PROGRAMS");
    const char *env = getenv("TRACESHIM_PROGRAMS");
    printf("system mode (/etc/ld.so.preload), configuration file %s\n", path);
    if (programs && *programs)
        printf("  %-22s %s%s\n", "programs traced", programs,
               env && *env ? " (from the environment)" : "");
    else
        printf("  %-22s none (TRACESHIM_PROGRAMS is not set)\n", "programs traced");
    printf("  %-22s never: PID 1, set-user-ID programs\n\n", "");
}

static void usage(FILE *out)
{
    fputs("usage: traceshim config [--system [FILE]]\n"
          "Prints the configuration libtraceshim.so would use with this environment,\n"
          "then every variable it reads: its value and whether it was used, rejected\n"
          "or not set (the default applies). Exit status 1 when a value is rejected.\n"
          "--system: as a process would see it in system mode (/etc/ld.so.preload):\n"
          "the environment, then FILE (default $TRACESHIM_SYSTEM_CONFIG, else\n" TS_SYSCONF_PATH
          "); exit status 1\n"
          "also when FILE is missing or malformed. A key of FILE the library does not\n"
          "read gets a warning on stderr (the exit status stays 0).\n",
          out);
}

int main(int argc, char **argv)
{
    /* Options anywhere; an argument that starts with '-' is one (after
     * "--", a FILE): `config --system --help` took --help for the FILE. */
    bool system = false, only_files = false;
    const char *file = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!only_files && (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)) {
            usage(stdout);
            return 0;
        } else if (!only_files && strcmp(a, "--system") == 0) {
            system = true;
        } else if (!only_files && strcmp(a, "--") == 0) {
            only_files = true;
        } else if (!only_files && a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "traceshim config: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        } else if (!system || file) {
            fprintf(stderr,
                    "traceshim config: unexpected argument '%s' (see traceshim config -h)\n", a);
            return 2;
        } else {
            file = a;
        }
    }
    const char *sys_path = NULL;
    if (system) {
        const char *given = getenv("TRACESHIM_SYSTEM_CONFIG");
        sys_path = file ? file : given && *given ? given : TS_SYSCONF_PATH;
        if (load_system_file(sys_path) != 0)
            return 1;
        warn_unknown_keys(sys_path);
    }

    /* The library's own messages about rejected values are caught (to
     * mark those variables) and passed on to stderr unchanged. */
    static char messages[16384];
    size_t mlen = 0;
    FILE *cap = tmpfile();
    int saved_err = dup(2);
    fflush(stderr);
    if (cap && saved_err >= 0)
        dup2(fileno(cap), 2);
    struct ts_config cfg;
    if (sys_path) /* read by the library in system mode only, and only from the environment */
        recording_lookup("TRACESHIM_SYSTEM_CONFIG");
    recording_lookup("TRACESHIM_PROGRAMS"); /* the library's first question (preload/init.c) */
    /* The library's warnings too (a resource key it leaves out, an
     * ignored TRACEPARENT), whatever level the library itself would
     * print at. */
    ts_cfg.log_level = TS_LOG_WARN;
    int errors = ts_config_load(&cfg, recording_lookup);
    ts_cfg.log_level = cfg.log_level > TS_LOG_WARN ? cfg.log_level : TS_LOG_WARN;
    errors += ts_sampler_load(recording_lookup);
    errors += ts_rules_load(recording_lookup);
    ts_trust_load(recording_lookup);
    errors += ts_trust_refused();
    errors += ts_env_context_load(recording_env_lookup); /* read last, never from the file */
    if (cap && saved_err >= 0) {
        fflush(stderr);
        dup2(saved_err, 2);
        rewind(cap);
        mlen = fread(messages, 1, sizeof messages - 1, cap);
        messages[mlen] = '\0';
        fputs(messages, stderr);
    }
    if (cap)
        fclose(cap);
    if (saved_err >= 0)
        close(saved_err);

    if (sys_path)
        print_system_programs(sys_path);
    static const char *const exporters[] = {"file", "otlp", "zipkin", "jaeger", "console"};
    static const char *const props[] = {"b3multi", "b3", "tracecontext", "jaeger"};
    static const char *const levels[] = {"error", "warn", "info", "debug"};
    static const char *const stacks[] = {"off", "client", "all", "slow"};
    char buf[2048];

    printf("effective configuration%s\n", cfg.disabled ? " (tracing DISABLED)" : "");
    row("service.name", cfg.service_name[0] ? cfg.service_name : "(the program's name)");
    row("exporters", bits_list(cfg.exporters, exporters, 5, buf, sizeof buf));
    row("span file", cfg.file_path[0] ? cfg.file_path : "./traceshim-spans.jsonl");
    row("propagators", bits_list(cfg.propagators, props, 4, buf, sizeof buf));
    row("read from requests", bits_list(cfg.extracted, props, 4, buf, sizeof buf));
    static const char *const trust[] = {"all", "none", "hmac"};
    row("trust inbound", trust[ts_trust_mode() % 3]);
    sampler_text(messages, buf, sizeof buf);
    row("sampler", buf);
    /* an exporter's settings only when it is in use: the library reads
     * them only then (preload/config.c) */
    if (cfg.exporters & (1u << TS_EXPORTER_OTLP)) {
        ts_url_shown_parsed(&cfg.otlp_url, buf, sizeof buf - 64);
        snprintf(buf + strlen(buf), 64, " (%s, %u ms)",
                 cfg.otlp_protocol == TS_OTLP_JSON ? "http/json" : "http/protobuf",
                 cfg.otlp_timeout_ms);
        row("otlp", buf);
    }
    if (cfg.exporters & (1u << TS_EXPORTER_ZIPKIN)) {
        ts_url_shown_parsed(&cfg.zipkin_url, buf, sizeof buf - 64);
        snprintf(buf + strlen(buf), 64, " (%u ms)", cfg.zipkin_timeout_ms);
        row("zipkin", buf);
    }
    if (cfg.exporters & (1u << TS_EXPORTER_JAEGER)) {
        bool v6 = strchr(cfg.jaeger_host, ':') != NULL; /* in brackets, as the port follows */
        snprintf(buf, sizeof buf, "%s%s%s:%u (UDP)", v6 ? "[" : "", cfg.jaeger_host, v6 ? "]" : "",
                 cfg.jaeger_port);
        row("jaeger agent", buf);
    }
    row_u("batch: queue", cfg.bsp_max_queue, " spans");
    row_u("batch: size", cfg.bsp_max_batch, " spans");
    row_u("batch: delay", cfg.bsp_delay_ms, " ms");
    row_u("batch: export timeout", cfg.bsp_export_timeout_ms, " ms");
    row_u("exit timeout", cfg.exit_timeout_ms, " ms");
    row_u("max head", cfg.max_head_bytes, " bytes");
    row("follow exec", cfg.follow_exec ? "on" : "off");
    row("process spans", cfg.process_spans ? "on" : "off");
    if (cfg.stacks == TS_STACKS_SLOW && cfg.stacks_slow_ns % 1000000 != 0)
        snprintf(buf, sizeof buf, "slow:%lluus", (unsigned long long)(cfg.stacks_slow_ns / 1000));
    else if (cfg.stacks == TS_STACKS_SLOW)
        snprintf(buf, sizeof buf, "slow:%llums", (unsigned long long)(cfg.stacks_slow_ns / 1000000));
    else
        snprintf(buf, sizeof buf, "%s", stacks[cfg.stacks & 3]);
    row("stacks", buf);
    row("stats at exit", cfg.stats ? "on" : "off");
    row("log level", levels[cfg.log_level & 3]);

    printf("\nvariables read (in the order the library reads them)\n");
    unsigned unused = ~cfg.exporters & (1u << TS_EXPORTER_OTLP | 1u << TS_EXPORTER_ZIPKIN |
                                        1u << TS_EXPORTER_JAEGER);
    /* an exporter turned off by its refused endpoint: that is read, not the rest */
    unsigned off =
        unused & ((was_asked("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") ? 1u : 0u) << TS_EXPORTER_OTLP |
                  (was_asked("OTEL_EXPORTER_ZIPKIN_ENDPOINT") ? 1u : 0u) << TS_EXPORTER_ZIPKIN);
    if (unused & ~off)
        printf("  (not the %s exporters' settings: they are read only when in use)\n",
               bits_list(unused & ~off, exporters, 5, buf, sizeof buf));
    if (off)
        printf("  (of the %s exporters' settings, the endpoint alone: refused, it turned the "
               "exporter off)\n",
               bits_list(off, exporters, 5, buf, sizeof buf));
    for (size_t i = 0; i < nasked; i++) {
        const char *v = asked[i].value;
        if (v && *v) {
            printf("  %-36s = ", asked[i].name);
            print_value(asked[i].name, v);
            if (rejected_in(messages, asked[i].name))
                printf("   (REJECTED: %s)\n", rejected_outcome(messages, asked[i].name, &cfg));
            else
                printf("\n");
        } else
            printf("  %-36s   (not set: default)\n", asked[i].name);
    }
    if (errors)
        printf("\n%d value(s) rejected (messages on stderr); what applies instead is said beside "
               "each.\n",
               errors);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "traceshim config: cannot write the output: %s\n", strerror(errno));
        return 1;
    }
    return errors ? 1 : 0;
}
