/* sampler.h — whether a new span is sampled (recorded and exported).
 *
 * Configured once at start-up from OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG
 * (always_on, always_off, traceidratio, parentbased_always_on (default),
 * parentbased_always_off, parentbased_traceidratio, jaeger_remote,
 * parentbased_jaeger_remote) or, when those are unset, Jaeger's
 * JAEGER_SAMPLER_TYPE / JAEGER_SAMPLER_PARAM / JAEGER_SAMPLER_MANAGER_HOST_PORT
 * (const, probabilistic, ratelimiting, remote; these are parent-based, as
 * in Jaeger clients). Without JAEGER_SAMPLER_PARAM, const samples
 * everything, probabilistic and remote use 0.001, ratelimiting 1 trace per
 * second. A value that does not parse gets one line on stderr naming the
 * variable, the value and what was expected, and the default applies;
 * for jaeger_remote's OTEL_TRACES_SAMPLER_ARG, one bad entry makes the
 * whole argument ignored (every bad entry said), as OpenTelemetry asks.
 *
 * Trace-id ratios follow OpenTelemetry's TraceIdRatioBased: the low 8
 * bytes of the trace id, big-endian, below ratio * 2^64, so every service
 * decides alike for one trace. Rate limits are token buckets holding
 * max(1, rate) tokens.
 *
 * Remote sampling: the reporter thread polls the strategy URL and hands
 * each answer to ts_sampler_apply_strategy; until one arrives the initial
 * rate applies. Deciding never locks and never allocates, rate limiting
 * included, so it is safe in hooks on any thread while a strategy is being
 * applied. One thread at a time may load or apply. */
#ifndef TS_SAMPLER_H
#define TS_SAMPLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../preload/config.h" /* ts_env_lookup_fn */
#include "../preload/context.h"

/* Read the sampler variables through lookup (NULL: defaults) and install
 * the result; values are copied, nothing points into the environment.
 * Returns the number of values rejected. Safe to call again (tests), but
 * not while other threads decide. */
int ts_sampler_load(ts_env_lookup_fn lookup);

/* Decide for a new span named name[0..name_len) in trace trace_id whose
 * parent context is parent (NULL or !valid: a root span). Parent-based
 * samplers follow a parent's sampled / not-sampled decision; a parent that
 * deferred the decision (B3 without X-B3-Sampled) and every root go to the
 * root sampler. A B3 debug parent is always sampled. */
bool ts_sampler_should_sample(const struct ts_ctx *parent, const uint8_t trace_id[TS_TRACE_ID_LEN],
                              const char *name, size_t name_len);

/* ts_sampler_should_sample, and *tag (enum ts_sampler_tag, preload/span.h)
 * and *param: Jaeger's sampler.type and sampler.param of a span the root
 * sampler sampled under a Jaeger sampler (JAEGER_SAMPLER_TYPE, jaeger_remote,
 * parentbased_jaeger_remote) where no parent decided: const and 1;
 * probabilistic and the probability; lowerbound and the operation's
 * probability (a per-operation strategy's bucket let it through, as
 * Jaeger's clients say it); ratelimiting and the traces per second. Else
 * *tag is TS_SAMPLER_TAG_NONE and *param is left alone. */
bool ts_sampler_decide(const struct ts_ctx *parent, const uint8_t trace_id[TS_TRACE_ID_LEN],
                       const char *name, size_t name_len, uint8_t *tag, double *param);

/* Would ts_sampler_should_sample read the name of a span with this
 * parent? Only a root decision under per-operation strategies does, so
 * that a span can otherwise be named after the decision, and only when it
 * is sampled. A strategy installed between this answer and the decision
 * at worst decides one span by the default probability. */
bool ts_sampler_reads_name(const struct ts_ctx *parent);

/* Remote sampling: the strategy URL to poll (".../sampling?service=NAME",
 * service name percent-encoded; '&' instead of '?' when the endpoint has a
 * query) written to url; false when the sampler is not remote or the URL
 * does not fit in cap (url is then ""). */
bool ts_sampler_remote_url(char *url, size_t cap, const char *service_name);
/* How often to poll, in milliseconds (pollingIntervalMs, default 60000,
 * at least 100). */
unsigned ts_sampler_poll_interval_ms(void);

/* Install a strategy answer (JSON from Jaeger's sampling endpoint:
 * probabilisticSampling, rateLimitingSampling, operationSampling with
 * perOperationStrategies; strategyType as name or number). operationSampling
 * wins when present: the span name is the operation, with up to 128
 * operations of up to 128 bytes kept (others get the default probability).
 * defaultLowerBoundTracesPerSecond is a token bucket per operation that
 * samples spans the probability rejected; spans the probability accepts
 * use its tokens too (Jaeger's guaranteed-throughput sampler). Listed
 * operations have one each; unlisted ones one per slot of a table of 2048
 * indexed by the name's hash (a collision shares a slot). A bucket keeps
 * its state when the next answer has the same operation (an unlisted one:
 * the same slot), scaled to its new size (the same fraction in use, as
 * Jaeger's RateLimiter.Update keeps the balance). Call from one thread
 * (the reporter's); it allocates. Returns 0, or -1 when the answer is not
 * a strategy or the sampler is not remote (the current strategy stays). */
int ts_sampler_apply_strategy(const char *json, size_t len);

/* OTEL_TRACES_SAMPLER_ARG as a message or `traceshim config` may show it:
 * the URL of each comma-separated entry (jaeger_remote's endpoint=URL)
 * with its user and its query's values hidden (ts_url_shown), the rest as
 * written. Cut short to fit cap (> 0) bytes with its NUL. */
void ts_sampler_arg_shown(const char *arg, char *out, size_t cap);

#endif
