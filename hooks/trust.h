/* trust.h — which inbound trace contexts a server honours
 * (TRACESHIM_TRUST_INBOUND) and the signature that vouches for a context
 * (TRACESHIM_HMAC_KEYS), see the README's "Signed trace context".
 *
 * The signed string of a context is
 *     "v1:" <32 lower hex trace id> ":" <16 lower hex span id> ":" <flag>
 * with flag '1' sampled, '0' not sampled, 'd' debug, '-' no decision; a
 * 64-bit trace id is zero-padded to 32 digits (the ids as the shim parses
 * them, so every format carrying one context gives one string). The header
 * is "X-Traceshim-Signature: v1=<64 lower hex HMAC-SHA256>"; the first key
 * signs, any key verifies. HMAC-SHA256 comes from libcrypto.so.3, opened
 * RTLD_LOCAL at init only in hmac mode and never linked. */
#ifndef TS_TRUST_H
#define TS_TRUST_H

#include <stdbool.h>
#include <stddef.h>

#include "../preload/config.h"
#include "../preload/context.h"
#include "../preload/span.h"
#include "http1.h"

enum ts_trust_mode {
    TS_TRUST_ALL = 0,  /* every inbound context is honoured (B3's norm, the default) */
    TS_TRUST_NONE = 1, /* none is: every server span starts a trace */
    TS_TRUST_HMAC = 2, /* only a context with a valid signature header is */
};

#define TS_TRUST_HEADER "X-Traceshim-Signature"
#define TS_TRUST_CANON_LEN 54 /* "v1:" 32 ":" 16 ":" 1 */
#define TS_TRUST_LINE_LEN 92  /* "X-Traceshim-Signature: v1=" 64 hex "\r\n" */
#define TS_TRUST_MAX_KEYS 8
#define TS_TRUST_KEY_MAX 256

/* Read TRACESHIM_TRUST_INBOUND and TRACESHIM_HMAC_KEYS (keys copied), and in
 * hmac mode load libcrypto. Anything wrong costs one stderr line and gives
 * the safe mode, none. Returns the mode in force. */
int ts_trust_load(ts_env_lookup_fn lookup);

/* Did the last ts_trust_load refuse what it was given (a bad mode, missing
 * or bad keys, no working libcrypto)? (`traceshim config` counts it.) */
bool ts_trust_refused(void);

/* The mode in force (enum ts_trust_mode). */
int ts_trust_mode(void);

/* The signed string of ctx into out[cap] (no NUL); its length
 * (TS_TRUST_CANON_LEN), or 0 when ctx is not valid or cap is too small. */
size_t ts_trust_canonical(const struct ts_ctx *ctx, char *out, size_t cap);

/* The mode in force, for ts_trust_verify's inline check: written once at
 * init (ts_trust_load), before any hook runs. */
extern int ts_trust_in_force;

/* ts_trust_verify in the modes other than all. */
bool ts_trust_verify_strict(const struct ts_http_header *h, size_t n, const struct ts_ctx *ctx);

/* Is the context extracted from these request headers to be honoured?
 * all: yes; none: no; hmac: when ctx is valid and one of the request's
 * signature headers is its HMAC under one of the keys (constant-time).
 * Inline: every server span asks, and nearly always the mode is all. */
static inline bool ts_trust_verify(const struct ts_http_header *h, size_t n,
                                   const struct ts_ctx *ctx)
{
    return ts_trust_in_force == TS_TRUST_ALL || ts_trust_verify_strict(h, n, ctx);
}

/* The signature header line ("...\r\n") of ctx into out[cap]: its length
 * (TS_TRUST_LINE_LEN), or 0 when not in hmac mode, ctx is not valid or cap
 * is too small. Signs with the first key. */
size_t ts_trust_sign(const struct ts_ctx *ctx, char *out, size_t cap);

/* May the shim vouch for the context `out` a client request carries? Yes
 * for its own client span's (mine); for a context the program wrote, when
 * it is in the trace of the request the thread serves (current), or the
 * thread serves none and it is not the trace of a context refused lately
 * (the latest 256, ts_trust_note_refused): an outsider's context the
 * program passes on is not laundered into a signed one, also when the
 * thread has served another request since, or hands it to another. */
bool ts_trust_signable(const struct ts_ctx *out, const struct ts_ctx *mine,
                       const struct ts_ctx *current);

/* An inbound context not honoured: its trace id is noted as refused
 * (ts_trust_signable), sampled or not. */
void ts_trust_note_refused(const struct ts_ctx *in);

/* A server span whose inbound context was not honoured keeps its ids as
 * traceshim.untrusted.trace_id / traceshim.untrusted.span_id. */
void ts_trust_mark_untrusted(struct ts_span *s, const struct ts_ctx *in);

/* The HMAC-SHA256 primitive (libcrypto's); false when not loaded. */
bool ts_trust_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t len,
                          unsigned char out[32]);

/* Tests: the constant-time compare verify uses (CRYPTO_memcmp by default). */
typedef int (*ts_trust_memcmp_fn)(const void *a, const void *b, size_t n);
void ts_trust_set_memcmp(ts_trust_memcmp_fn fn);

#endif
