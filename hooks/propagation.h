/* propagation.h — trace context codecs: B3 single and multi header, W3C
 * traceparent, Jaeger uber-trace-id, and the W3C tracestate that travels
 * with a traceparent. Pure functions over caller buffers. */
#ifndef TS_PROPAGATION_H
#define TS_PROPAGATION_H

#include <stdbool.h>
#include <stddef.h>

#include "../preload/config.h"
#include "../preload/context.h"
#include "../preload/hex.h"
#include "http1.h"

/* Single-value parsers. Each returns true and fills *out (out->valid set)
 * when the value is well formed; on false *out is left invalid. */
bool ts_b3_single_parse(const char *v, size_t len, struct ts_ctx *out);
bool ts_traceparent_parse(const char *v, size_t len, struct ts_ctx *out);
bool ts_uber_trace_id_parse(const char *v, size_t len, struct ts_ctx *out);

/* B3 multi from a header list (X-B3-TraceId, -SpanId, -ParentSpanId,
 * -Sampled, -Flags; names case-insensitive, the first of each wins). */
bool ts_b3_multi_parse(const struct ts_http_header *h, size_t n, struct ts_ctx *out);

/* The propagation headers of a request, found in one pass over its
 * headers: the first of each name (names are case-insensitive), NULL when
 * absent. The *_found functions below read these instead of scanning the
 * headers again; the others scan them once themselves. */
struct ts_prop_headers {
    const struct ts_http_header *b3, *traceparent, *uber_trace_id;
    const struct ts_http_header *b3_trace_id, *b3_span_id, *b3_parent_id, *b3_sampled, *b3_flags;
    bool traceparent_again; /* a second traceparent header: see ts_prop_inbound */
};
void ts_prop_find(const struct ts_http_header *h, size_t n, struct ts_prop_headers *out);
/* The same for a parsed request, from its parser's notes when they hold
 * (struct ts_http_noted), without looking at the headers again. Returns
 * whether any was found: when none was, ts_prop_extract_found would find
 * no context and no decision. */
bool ts_prop_find_request(const struct ts_http_request *req, struct ts_prop_headers *out);

/* Of the headers found in an inbound request, forget those its context is
 * not read from: the formats not in formats (enum ts_prop_format bits; the
 * configuration's ts_cfg.extracted), and a traceparent sent more than once
 * (W3C trace-context: not valid, the trace starts anew). Returns whether
 * any is left. */
bool ts_prop_inbound(struct ts_prop_headers *f, unsigned formats);

/* Extract a context from request headers: b3 single first, then B3 multi,
 * then traceparent, then uber-trace-id. A "b3: 0" or a lone X-B3-Sampled: 0
 * yields a context that is not valid but carries TS_SAMPLING_DENY; callers
 * check out->valid and out->sampling. Returns out->valid. */
bool ts_prop_extract(const struct ts_http_header *h, size_t n, struct ts_ctx *out);
bool ts_prop_extract_found(const struct ts_prop_headers *f, struct ts_ctx *out);

/* Which formats (enum ts_prop_format bits) the headers already carry. */
unsigned ts_prop_present(const struct ts_http_header *h, size_t n);
unsigned ts_prop_present_found(const struct ts_prop_headers *f);

/* Where a context's ids are written in request headers: the 16-hex-digit
 * fields holding ctx's span id, and those holding its parent span id, in
 * every header that carries ctx (same trace id and span id). Pointers are
 * into the header values. A Jaeger id written with fewer digits (leading
 * zeros dropped) is not listed: it cannot be rewritten in place.
 * undecided: the B3 forms among them that carry no sampling decision
 * (TS_PROP_B3MULTI: neither X-B3-Sampled nor X-B3-Flags: 1; TS_PROP_B3:
 * "T-S", whose decision would go at b3_decision_at, the value's end).
 * decision, traceparent_flags: where those headers write their decision
 * in a form that can be rewritten in place. */
struct ts_prop_id_fields {
    const char *span[4];
    const char *parent[4];
    int nspan, nparent;
    unsigned undecided;
    const char *b3_decision_at;
    /* Where ctx's decision is written in one character, '0' or '1'
     * (X-B3-Sampled's value, b3's sampling field), and a traceparent's two
     * flag digits (NULL: none); "true", "d" and the like are not listed. */
    const char *decision[2];
    int ndecision;
    const char *traceparent_flags;
};
void ts_prop_id_fields(const struct ts_http_header *h, size_t n, const struct ts_ctx *ctx,
                       struct ts_prop_id_fields *out);
void ts_prop_id_fields_found(const struct ts_prop_headers *f, const struct ts_ctx *ctx,
                             struct ts_prop_id_fields *out);

/* What tells a B3 receiver the decision sampling (accept, deny or debug)
 * where a B3 context of the program's had none (ts_prop_id_fields'
 * undecided): for TS_PROP_B3MULTI a line, "X-B3-Sampled: 1\r\n" or "0",
 * or "X-B3-Flags: 1\r\n" for debug (the spec: debug implies sampled, not
 * sent with Sampled) unless flags_written (an X-B3-Flags of the
 * program's, not 1: then "X-B3-Sampled: 1"); for TS_PROP_B3 the sampling
 * field after the span id, "-1", "-0" or "-d". Returns the bytes written
 * into buf, 0 when cap is too small or there is no decision. */
size_t ts_prop_b3_decision(unsigned format, uint8_t sampling, bool flags_written, char *buf,
                           size_t cap);

/* Write the header lines ("Name: value\r\n" each) of every format in
 * `formats` for ctx into buf. ctx->span_id is the span the receiver should
 * see as its parent; ctx->parent_id (when has_parent) goes to
 * X-B3-ParentSpanId / the b3 single header's fourth field. Returns the bytes
 * written, or 0 when cap is too small (nothing useful is written then). */
size_t ts_prop_inject(unsigned formats, const struct ts_ctx *ctx, char *buf, size_t cap);

/* W3C tracestate (trace-context §3.3): the shim adds no entry of its own,
 * so it passes a request's tracestate on as it came, or none when it is
 * malformed (the spec: a tracestate that does not parse is not
 * propagated): more than TS_TRACESTATE_MEMBERS_MAX list-members, a key
 * twice, a key or value outside the spec's grammar. One longer than
 * TS_TRACESTATE_MAX characters, the spec's minimum (context.h), goes on
 * as its members without the blanks around them, and when they are still
 * too long, without whole members until they are not (trace-context
 * §3.3.1.5: those longer than 128 characters first, then from the end,
 * the oldest vendors' entries). */
#define TS_TRACESTATE_MEMBERS_MAX 32 /* TS_TRACESTATE_MAX: context.h */

/* Is v[0..len) a tracestate as the shim passes one on? At most
 * TS_TRACESTATE_MAX characters of list-members (split at ',', blanks
 * around each ignored, empty ones allowed and not counted), at least one,
 * none malformed as above. */
bool ts_tracestate_valid(const char *v, size_t len);

/* The tracestate v[0..len) as the shim passes it on, in out (valid as
 * above): as it came, or when longer than TS_TRACESTATE_MAX its members
 * without blanks, joined by ',' and cut by whole members. Returns its
 * length, 0 when it is malformed or has no member. */
size_t ts_tracestate_normalize(const char *v, size_t len, char out[TS_TRACESTATE_MAX]);

/* A request's tracestate, as ts_tracestate_normalize has it, of the values
 * of all its tracestate headers (names case-insensitive) joined with ','
 * in order, as RFC 9110 §5.3 combines a field sent more than once, empty
 * ones skipped. Returns its length, 0 when there is none or it is
 * malformed. */
size_t ts_tracestate_find(const struct ts_http_header *h, size_t n,
                          char out[TS_TRACESTATE_MAX]);

/* Does a request carry a tracestate header (any, even an empty one)? */
bool ts_tracestate_present(const struct ts_http_header *h, size_t n);

/* Upper bound of the header lines the shim adds to a request: at most 512
 * bytes of ts_prop_inject's output for any formats and context, a
 * tracestate passed on ("tracestate: " value "\r\n"), the signature
 * line (trust.h: TS_TRUST_LINE_LEN, 92 bytes), and a forwarded B3
 * context's decision (ts_prop_b3_decision: 17 bytes and 2). */
#define TS_TRACESTATE_LINE_MAX (sizeof "tracestate: \r\n" - 1 + TS_TRACESTATE_MAX)
#define TS_PROP_INJECT_MAX (640 + TS_TRACESTATE_LINE_MAX)
/* Upper bound of the number of those lines: traceparent, tracestate, b3,
 * four X-B3-* (a forwarded context's decision line among them: its ids'
 * lines are the program's), uber-trace-id and the signature. */
#define TS_PROP_INJECT_LINES 10

#endif
