/* config.h — the shim's configuration, read once from the environment.
 *
 * Every value is copied out of the environment at start-up: some programs
 * (nginx workers, anything using setproctitle) overwrite their environ
 * strings later, so nothing here may point into it. */
#ifndef TS_CONFIG_H
#define TS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "url.h"

enum ts_exporter {
    TS_EXPORTER_FILE = 0,
    TS_EXPORTER_OTLP,
    TS_EXPORTER_ZIPKIN,
    TS_EXPORTER_JAEGER,
    TS_EXPORTER_CONSOLE,
    TS_EXPORTER_NONE, /* not a bit of its own: an empty set means none */
};

/* True when the exporter e is one of those configured (ts_cfg.exporters). */
#define TS_EXPORTS(cfg, e) (((cfg)->exporters >> (e)) & 1u)

/* OTEL_EXPORTER_OTLP_PROTOCOL. */
enum ts_otlp_protocol {
    TS_OTLP_PROTOBUF = 0, /* http/protobuf */
    TS_OTLP_JSON = 1,     /* http/json */
};

enum ts_log_level {
    TS_LOG_ERROR = 0,
    TS_LOG_WARN = 1,
    TS_LOG_INFO = 2,
    TS_LOG_DEBUG = 3,
};

/* Propagation formats, as a bit set (OTEL_PROPAGATORS). */
enum ts_prop_format {
    TS_PROP_B3MULTI = 1u << 0,      /* X-B3-TraceId, X-B3-SpanId, ... */
    TS_PROP_B3 = 1u << 1,           /* b3: single header */
    TS_PROP_TRACECONTEXT = 1u << 2, /* traceparent */
    TS_PROP_JAEGER = 1u << 3,       /* uber-trace-id */
};

/* TRACESHIM_STACKS: which spans get the program's call stack. */
enum ts_stacks_mode {
    TS_STACKS_OFF = 0,
    TS_STACKS_CLIENT = 1, /* client spans (the calls the program makes) */
    TS_STACKS_ALL = 2,    /* client and server spans */
    TS_STACKS_SLOW = 3,   /* client spans that lasted at least stacks_slow_ns */
};

#define TS_CFG_STR 256
/* OTLP's extra request headers, rendered "Name: value\r\n" lines with their
 * NUL: room for a few bearer tokens (JWTs of 1 to 4 KiB are common). */
#define TS_CFG_HEADERS 8192
#define TS_CFG_HEADERS_MAX 8191 /* their bytes, the NUL left out */
_Static_assert(TS_CFG_HEADERS_MAX == TS_CFG_HEADERS - 1, "the headers' room and their limit");
#define TS_CFG_PATH 4096
#define TS_CFG_TAGS_MAX 1023 /* JAEGER_TAGS' bytes, '%' written as %25 */

struct ts_config {
    bool disabled;        /* TRACESHIM_DISABLED / OTEL_SDK_DISABLED / JAEGER_DISABLED */
    unsigned exporters;   /* 1u << enum ts_exporter for each configured; 0: none */
    int log_level;        /* enum ts_log_level */
    unsigned propagators; /* enum ts_prop_format bits: injected */
    /* enum ts_prop_format bits read from an inbound request: every format
     * while OTEL_PROPAGATORS is unset; else its formats, B3's two forms
     * together (a B3 propagator reads both, whichever it writes). */
    unsigned extracted;
    unsigned bsp_max_queue;         /* OTEL_BSP_MAX_QUEUE_SIZE, default 2048 */
    unsigned bsp_max_batch;         /* OTEL_BSP_MAX_EXPORT_BATCH_SIZE, default 512 */
    unsigned bsp_delay_ms;          /* OTEL_BSP_SCHEDULE_DELAY, default 5000 */
    unsigned bsp_export_timeout_ms; /* OTEL_BSP_EXPORT_TIMEOUT, default 30000 */
    unsigned max_head_bytes;        /* TRACESHIM_MAX_HEAD_BYTES, default 16384 */

    /* OTLP: the traces URL (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as given, or
     * OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces), protocol, extra request
     * headers (OTEL_EXPORTER_OTLP_[TRACES_]HEADERS, kept as ready-made
     * "Name: value\r\n" lines) and per-request timeout. */
    struct ts_url otlp_url;
    int otlp_protocol;        /* enum ts_otlp_protocol */
    unsigned otlp_timeout_ms; /* default 10000 */
    /* Zipkin: OTEL_EXPORTER_ZIPKIN_ENDPOINT, OTEL_EXPORTER_ZIPKIN_TIMEOUT. */
    struct ts_url zipkin_url;
    unsigned zipkin_timeout_ms; /* default 10000 */
    /* Jaeger agent: JAEGER_AGENT_HOST / JAEGER_AGENT_PORT (or OTel's
     * OTEL_EXPORTER_JAEGER_AGENT_HOST / _PORT). */
    char jaeger_host[256];
    uint16_t jaeger_port;
    unsigned exit_timeout_ms; /* TRACESHIM_EXIT_TIMEOUT: longest flush at exit, default 2000 */
    bool follow_exec;         /* TRACESHIM_FOLLOW_EXEC: children inherit the shim, default on */
    bool process_spans;       /* TRACESHIM_PROCESS_SPANS: a span per process (traceshim run) */
    int stacks;               /* TRACESHIM_STACKS: enum ts_stacks_mode, default off */
    uint64_t stacks_slow_ns;  /* the DURATION of slow:DURATION */
    bool stats;               /* TRACESHIM_STATS: print the counters at exit (stats.h) */
    int own_fd_table;         /* TRACESHIM_OWN_FD_TABLE: the reporter's fds apart (fd_split.h):
                                 1, 0, or -1 (unset): on unless under a seccomp filter */
    bool direct_calls;        /* TRACESHIM_DIRECT_CALLS: the hooks may make a program's reads and
                                 writes as bare system calls while no thread can be cancelled
                                 (direct.h); default on */
    bool deepbind;            /* TRACESHIM_DEEPBIND: libraries loaded with RTLD_DEEPBIND have their
                                 calls bound back to the hooks (deepbind.h); default on */
    bool signal_flush;        /* TRACESHIM_SIGNAL_FLUSH: SIGTERM, SIGINT and SIGHUP left at their
                                 default send the spans out before they end the process
                                 (signal_hooks.h); default on */

    /* Text written only when its variable is set, kept last: a process's
     * start writes the settings above, and each page of the structure it
     * touches is a page fault (start_state.h). */
    char service_name[TS_CFG_STR]; /* empty: use the program's name */
    char file_path[TS_CFG_PATH];   /* TRACESHIM_FILE; empty: traceshim-spans.jsonl in the cwd */
    char resource_attrs[1024];     /* OTEL_RESOURCE_ATTRIBUTES, raw */
    char jaeger_tags[TS_CFG_TAGS_MAX + 1]; /* JAEGER_TAGS, as OTEL_RESOURCE_ATTRIBUTES entries */
    char otlp_headers[TS_CFG_HEADERS]; /* OTLP's extra request headers, as said above */
};

/* The live configuration of this process (filled by ts_config_load at init). */
extern struct ts_config ts_cfg;

/* A getenv-like lookup; tests pass their own. */
typedef const char *(*ts_env_lookup_fn)(const char *name);

/* Fill cfg from the environment. Never fails: a value that does not parse
 * is reported with one line on stderr (variable, value, what was expected)
 * and its default is used. Returns the number of values rejected. */
int ts_config_load(struct ts_config *cfg, ts_env_lookup_fn lookup);

/* The same into a cfg that is all zero bytes (the live one at a process's
 * start: .bss), which is not cleared first: of its 11 KiB, only the pages
 * a setting lands on are touched. */
int ts_config_load_zeroed(struct ts_config *cfg, ts_env_lookup_fn lookup);

/* A rejected value as its one-line message shows it: control bytes become
 * '?', and past TS_SHOWN_MAX bytes it is cut, "..." after it. out holds
 * TS_SHOWN_MAX + 4 bytes. */
#define TS_SHOWN_MAX 80
void ts_config_shown_value(const char *v, char *out, size_t cap);

/* Parse an OTEL_PROPAGATORS list ("b3multi,tracecontext"). Returns 0 and
 * sets *out, or -1 when an entry is unknown. "none" gives 0 formats;
 * "baggage" is accepted and ignored. */
int ts_config_parse_propagators(const char *s, unsigned *out);

/* The same for JAEGER_PROPAGATION ("jaeger,b3,w3c"): b3 is B3's
 * multi-header form, w3c is tracecontext. */
int ts_config_parse_jaeger_propagation(const char *s, unsigned *out);

/* Parse an exporter list ("otlp,console"; TRACESHIM_EXPORTER and
 * OTEL_TRACES_EXPORTER alike). Returns 0 and sets *out to the bit set, or
 * -1 when an entry is unknown. "none" alone gives the empty set. */
int ts_config_parse_exporters(const char *s, unsigned *out);

/* Whether ts_config_load, under get, refuses the Jaeger agent's host
 * (OTEL_EXPORTER_JAEGER_AGENT_HOST, else JAEGER_AGENT_HOST) with its line:
 * the jaeger exporter is on and the host has a port or is no host. The
 * remote sampler, which polls that host too, then says none of its own
 * (one line is enough) and polls the default agent, as the exporter
 * sends to it. */
bool ts_config_refuses_agent_host(ts_env_lookup_fn get);

/* The room an IPv6 address takes as text, with a zone. */
#define TS_CFG_IPV6_TEXT TS_IPV6_ZONED_TEXT

/* Is v a Jaeger agent host as JAEGER_AGENT_HOST takes it: a host name, an
 * IPv4 address, or an IPv6 one (perhaps with a zone, "fe80::1%eth0"), bare
 * or in brackets, and no port? NULL when it is, else what was expected
 * instead ("a host name or an IP address", or what a zone must be). For
 * an IPv6 one, bare[] gets it without brackets; else bare[0] is '\0'. */
const char *ts_config_agent_host_refusal(const char *v, char bare[TS_CFG_IPV6_TEXT]);

/* Parse TRACESHIM_STACKS: off, client, all or slow:DURATION, where
 * DURATION is a number with a unit (us, ms, s; none means ms). Returns 0,
 * or -1 when malformed. */
int ts_config_parse_stacks(const char *s, int *mode, uint64_t *slow_ns);

/* Render OTEL_EXPORTER_OTLP_HEADERS ("k1=v1,k2=v2", values percent-
 * encoded) as HTTP header lines "k1: v1\r\n..." into out[cap]. Returns 0,
 * or -1 when malformed (no '=', an empty or non-token name, a bad escape, a
 * control character, DEL included, in a value), -2 when it does not fit,
 * or -3 for a header the exporter writes itself for the body and the connection
 * (Content-Type, Content-Length, Transfer-Encoding, Connection). */
int ts_config_render_headers(const char *s, char *out, size_t cap);

/* An OTEL_RESOURCE_ATTRIBUTES key the shim sets itself (process.pid,
 * process.executable.name, telemetry.sdk.*): the variable's entry is
 * left out, as the variable reaches every child process and the shim's
 * values describe each (a warning says so). */
bool ts_resource_key_is_own(const char *key, size_t klen);

#endif
