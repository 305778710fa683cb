/* sampler.h — whether a new span is sampled (recorded and exported).
 *
 * Configured once at start-up from OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG
 * (always_on, always_off, traceidratio, parentbased_always_on (default),
 * parentbased_always_off, parentbased_traceidratio, jaeger_remote,
 * parentbased_jaeger_remote) or, when those are unset, Jaeger's
 * JAEGER_SAMPLER_TYPE / JAEGER_SAMPLER_PARAM / JAEGER_SAMPLER_MANAGER_HOST_PORT
 * (const, probabilistic, ratelimiting, remote). A value that does not parse
 * gets one line on stderr naming the variable, the value and what was
 * expected, and the default applies.
 *
 * Remote sampling: the reporter thread polls the strategy URL and hands
 * each answer to ts_sampler_apply_strategy; until one arrives the initial
 * rate applies. Deciding is lock-free for every sampler but rate limiting,
 * which takes a short mutex. */
#ifndef TS_SAMPLER_H
#define TS_SAMPLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../preload/config.h" /* ts_env_lookup_fn */
#include "../preload/context.h"

/* Read the sampler variables through lookup and install the result.
 * Returns the number of values rejected. Safe to call again (tests). */
int ts_sampler_load(ts_env_lookup_fn lookup);

/* Decide for a new span named name[0..name_len) in trace trace_id whose
 * parent context is parent (NULL or !valid: a root span). Parent-based
 * samplers follow a parent's sampled / not-sampled decision; a parent that
 * deferred the decision (B3 without X-B3-Sampled) and every root go to the
 * root sampler. A B3 debug parent is always sampled. */
bool ts_sampler_should_sample(const struct ts_ctx *parent, const uint8_t trace_id[TS_TRACE_ID_LEN],
                              const char *name, size_t name_len);

/* Remote sampling: the strategy URL to poll (".../sampling?service=NAME",
 * service name percent-encoded) written to url; false when the sampler is
 * not remote. */
bool ts_sampler_remote_url(char *url, size_t cap, const char *service_name);
/* How often to poll, in milliseconds (pollingIntervalMs, default 60000). */
unsigned ts_sampler_poll_interval_ms(void);

/* Install a strategy answer (JSON from Jaeger's sampling endpoint:
 * probabilisticSampling, rateLimitingSampling, operationSampling with
 * perOperationStrategies; strategyType as name or number). Returns 0, or
 * -1 when the answer is not a strategy (the current one stays). */
int ts_sampler_apply_strategy(const char *json, size_t len);

#endif
