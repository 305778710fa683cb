/* trust.c — inbound context trust and its signature (see trust.h).
 *
 * The state is written once at init, before any hook runs, and only read
 * afterwards. libcrypto is opened RTLD_LOCAL by its soname, so the program's
 * own OpenSSL (the same libcrypto.so.3, or another version) is never
 * disturbed, and its symbols are taken with dlsym, never linked. */
#include "trust.h"

#include <dlfcn.h>
#include <string.h>

#include "../preload/ascii.h"
#include "../preload/deepbind.h"
#include "../preload/hex.h"
#include "../preload/log.h"
#include "../preload/start_state.h"

#define TRUST_LIBCRYPTO "libcrypto.so.3"
#define TRUST_SIG_PREFIX "v1="
#define TRUST_SIG_PREFIX_LEN 3
#define TRUST_MAC_LEN 32
#define TRUST_MAX_SIG_HEADERS 4 /* signature headers looked at per request */

typedef const void *(*trust_evp_md_fn)(void);
typedef unsigned char *(*trust_hmac_fn)(const void *md, const void *key, int key_len,
                                        const unsigned char *d, size_t n, unsigned char *out,
                                        unsigned int *out_len);

int ts_trust_in_force TS_START_STATE;
static unsigned char trust_keys[TS_TRUST_MAX_KEYS][TS_TRUST_KEY_MAX];
static size_t trust_key_len[TS_TRUST_MAX_KEYS];
static int trust_nkeys TS_START_STATE;
static trust_evp_md_fn trust_sha256;
static trust_hmac_fn trust_hmac;
static ts_trust_memcmp_fn trust_ct_memcmp;   /* CRYPTO_memcmp */
static ts_trust_memcmp_fn trust_memcmp_test; /* a test's, when set */

/* ------------------------------------------------------------- loading */

/* TRACESHIM_TRUST_INBOUND's value as a mode, or -1. */
static int parse_mode(const char *v)
{
    static const char *const names[] = {"all", "none", "hmac"};
    size_t len = strlen(v);
    const char *t = ts_ascii_trim(v, &len);
    for (int i = 0; i < 3; i++)
        if (ts_ascii_eq_nocase(t, len, names[i]))
            return i;
    return -1;
}

/* Copy the comma-separated keys; false (nothing kept) when one is empty or
 * too long, or there are too many. */
static bool parse_keys(const char *v)
{
    int n = 0;
    for (const char *s = v;; n++) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        const char *k = ts_ascii_trim(s, &len);
        if (n >= TS_TRUST_MAX_KEYS || len == 0 || len > TS_TRUST_KEY_MAX) {
            trust_nkeys = 0;
            memset(trust_keys, 0, sizeof trust_keys);
            return false;
        }
        memcpy(trust_keys[n], k, len);
        trust_key_len[n] = len;
        if (!comma)
            break;
        s = comma + 1;
    }
    trust_nkeys = n + 1;
    return true;
}

/* libcrypto's HMAC, EVP_sha256 and CRYPTO_memcmp; checked against RFC 4231
 * test case 2 (this also runs OpenSSL's own lazy init here, at start-up). */
static bool load_crypto(void)
{
    void *h = ts_real_dlopen(TRUST_LIBCRYPTO, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *why = dlerror();
        ts_log_error("TRACESHIM_TRUST_INBOUND=hmac: cannot load %s (%s); trusting no inbound "
                     "context",
                     TRUST_LIBCRYPTO, why ? why : "?");
        return false;
    }
    trust_hmac = (trust_hmac_fn)dlsym(h, "HMAC");
    trust_sha256 = (trust_evp_md_fn)dlsym(h, "EVP_sha256");
    ts_trust_memcmp_fn ct = (ts_trust_memcmp_fn)dlsym(h, "CRYPTO_memcmp");
    trust_ct_memcmp = ct;
    static const unsigned char want[TRUST_MAC_LEN] = {
        0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24,
        0x26, 0x08, 0x95, 0x75, 0xc7, 0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27,
        0x39, 0x83, 0x9d, 0xec, 0x58, 0xb9, 0x64, 0xec, 0x38, 0x43};
    unsigned char got[TRUST_MAC_LEN];
    static const char msg[] = "what do ya want for nothing?";
    if (!trust_hmac || !trust_sha256 || !ct ||
        !ts_trust_hmac_sha256("Jefe", 4, msg, sizeof msg - 1, got) ||
        memcmp(got, want, sizeof want) != 0) {
        ts_log_error("TRACESHIM_TRUST_INBOUND=hmac: %s has no working HMAC-SHA256; trusting no "
                     "inbound context",
                     TRUST_LIBCRYPTO);
        trust_hmac = NULL;
        return false;
    }
    return true;
}

/* What a value that cannot be honoured leaves (its line on stderr said
 * why): the safe mode, none. */
static bool trust_refused TS_START_STATE;

static int trust_refuse(void)
{
    trust_refused = true;
    ts_trust_in_force = TS_TRUST_NONE;
    return ts_trust_in_force;
}

int ts_trust_load(ts_env_lookup_fn lookup)
{
    ts_trust_in_force = TS_TRUST_ALL;
    trust_refused = false;
    /* Keys are only ever held with trust_nkeys set (parse_keys clears what
     * it wrote when it fails): with none, the table's pages are left
     * untouched. */
    if (trust_nkeys) {
        trust_nkeys = 0;
        memset(trust_keys, 0, sizeof trust_keys);
    }
    const char *v = lookup("TRACESHIM_TRUST_INBOUND");
    if (!v || !*v)
        return ts_trust_in_force;
    int mode = parse_mode(v);
    if (mode < 0) {
        char shown[TS_SHOWN_MAX + 4];
        ts_config_shown_value(v, shown, sizeof shown);
        ts_log_error("invalid TRACESHIM_TRUST_INBOUND=\"%s\": expected all, none or hmac; "
                     "trusting no inbound context",
                     shown);
        return trust_refuse();
    }
    if (mode != TS_TRUST_HMAC) {
        ts_trust_in_force = mode;
        return ts_trust_in_force;
    }
    ts_trust_in_force = TS_TRUST_NONE; /* until keys and crypto are in place */
    const char *keys = lookup("TRACESHIM_HMAC_KEYS");
    if (!keys || !*keys) {
        ts_log_error("TRACESHIM_TRUST_INBOUND=hmac needs TRACESHIM_HMAC_KEYS; trusting no inbound "
                     "context");
        return trust_refuse();
    }
    if (!parse_keys(keys)) { /* the value is secret: not shown */
        ts_log_error("invalid TRACESHIM_HMAC_KEYS: expected 1 to %d comma-separated non-empty keys "
                     "of at most %d bytes; trusting no inbound context",
                     TS_TRUST_MAX_KEYS, TS_TRUST_KEY_MAX);
        return trust_refuse();
    }
    if (!load_crypto())
        return trust_refuse();
    ts_trust_in_force = TS_TRUST_HMAC;
    return ts_trust_in_force;
}

bool ts_trust_refused(void)
{
    return trust_refused;
}

int ts_trust_mode(void)
{
    return ts_trust_in_force;
}

void ts_trust_set_memcmp(ts_trust_memcmp_fn fn)
{
    trust_memcmp_test = fn;
}

/* ------------------------------------------------------------- signing */

bool ts_trust_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t len,
                          unsigned char out[32])
{
    if (!trust_hmac || !trust_sha256 || key_len > TS_TRUST_KEY_MAX)
        return false;
    unsigned int out_len = 0;
    return trust_hmac(trust_sha256(), key, (int)key_len, msg, len, out, &out_len) &&
           out_len == TRUST_MAC_LEN;
}

size_t ts_trust_canonical(const struct ts_ctx *ctx, char *out, size_t cap)
{
    if (!ctx->valid || cap < TS_TRUST_CANON_LEN)
        return 0;
    static const char flags[] = {'-', '1', '0', 'd'}; /* by enum ts_sampling */
    char *p = out;
    memcpy(p, "v1:", 3);
    p += 3;
    ts_hex_encode(ctx->trace_id, TS_TRACE_ID_LEN, p);
    p += 2 * TS_TRACE_ID_LEN;
    *p++ = ':';
    ts_hex_encode(ctx->span_id, TS_SPAN_ID_LEN, p);
    p += 2 * TS_SPAN_ID_LEN;
    *p++ = ':';
    *p++ = ctx->sampling < sizeof flags ? flags[ctx->sampling] : '-';
    return (size_t)(p - out);
}

/* HMAC of ctx's signed string under key k. */
static bool mac_of(const struct ts_ctx *ctx, int k, unsigned char mac[TRUST_MAC_LEN])
{
    char canon[TS_TRUST_CANON_LEN];
    size_t n = ts_trust_canonical(ctx, canon, sizeof canon);
    return n && ts_trust_hmac_sha256(trust_keys[k], trust_key_len[k], canon, n, mac);
}

size_t ts_trust_sign(const struct ts_ctx *ctx, char *out, size_t cap)
{
    static const char name[] = TS_TRUST_HEADER ": " TRUST_SIG_PREFIX;
    unsigned char mac[TRUST_MAC_LEN];
    if (ts_trust_in_force != TS_TRUST_HMAC || trust_nkeys == 0 || cap < TS_TRUST_LINE_LEN ||
        !mac_of(ctx, 0, mac))
        return 0;
    memcpy(out, name, sizeof name - 1);
    ts_hex_encode(mac, TRUST_MAC_LEN, out + sizeof name - 1);
    memcpy(out + sizeof name - 1 + 2 * TRUST_MAC_LEN, "\r\n", 2);
    return TS_TRUST_LINE_LEN;
}

bool ts_trust_verify_strict(const struct ts_http_header *h, size_t n, const struct ts_ctx *ctx)
{
    ts_trust_memcmp_fn ct = trust_memcmp_test ? trust_memcmp_test : trust_ct_memcmp;
    if (ts_trust_in_force != TS_TRUST_HMAC || !ctx->valid || !ct)
        return false;
    unsigned char macs[TS_TRUST_MAX_KEYS][TRUST_MAC_LEN];
    for (int k = 0; k < trust_nkeys; k++)
        if (!mac_of(ctx, k, macs[k]))
            return false;
    bool ok = false;
    int seen = 0;
    for (size_t i = 0; i < n && seen < TRUST_MAX_SIG_HEADERS; i++) {
        if (!ts_ascii_eq_nocase(h[i].name, h[i].name_len, "x-traceshim-signature"))
            continue;
        seen++;
        unsigned char got[TRUST_MAC_LEN];
        if (h[i].value_len != TRUST_SIG_PREFIX_LEN + 2 * TRUST_MAC_LEN ||
            memcmp(h[i].value, TRUST_SIG_PREFIX, TRUST_SIG_PREFIX_LEN) != 0 ||
            !ts_hex_decode(h[i].value + TRUST_SIG_PREFIX_LEN, TRUST_MAC_LEN, got))
            continue;
        for (int k = 0; k < trust_nkeys; k++) /* every key: no early exit */
            ok |= ct(got, macs[k], TRUST_MAC_LEN) == 0;
    }
    return ok;
}

/* The trace ids of the latest contexts refused (ts_trust_note_refused),
 * each as two words stored one by one: a program may pass one on after
 * the thread that read it has served other requests, or from another
 * thread, when nothing tells it from the program's own. A reader racing
 * a store sees an id that is neither, which matches nothing; an id is
 * noted as its request's head is read, before the program can pass it
 * on. */
#define REFUSED_IDS 256
static uint64_t refused_ids[REFUSED_IDS][2];
static unsigned refused_next;

void ts_trust_note_refused(const struct ts_ctx *in)
{
    uint64_t w[2];
    memcpy(w, in->trace_id, sizeof w);
    unsigned at = __atomic_fetch_add(&refused_next, 1, __ATOMIC_RELAXED) % REFUSED_IDS;
    __atomic_store_n(&refused_ids[at][0], w[0], __ATOMIC_RELAXED);
    __atomic_store_n(&refused_ids[at][1], w[1], __ATOMIC_RELEASE);
}

static bool was_refused(const unsigned char trace_id[TS_TRACE_ID_LEN])
{
    uint64_t w[2];
    memcpy(w, trace_id, sizeof w);
    /* every slot: one never written holds zeros, no valid trace id */
    for (unsigned i = 0; i < REFUSED_IDS; i++)
        if (__atomic_load_n(&refused_ids[i][1], __ATOMIC_ACQUIRE) == w[1] &&
            __atomic_load_n(&refused_ids[i][0], __ATOMIC_RELAXED) == w[0])
            return true;
    return false;
}

bool ts_trust_signable(const struct ts_ctx *out, const struct ts_ctx *mine,
                       const struct ts_ctx *current)
{
    if (out == mine)
        return true;
    if (current)
        return memcmp(out->trace_id, current->trace_id, TS_TRACE_ID_LEN) == 0;
    return !was_refused(out->trace_id);
}

void ts_trust_mark_untrusted(struct ts_span *s, const struct ts_ctx *in)
{
    char hex[2 * TS_TRACE_ID_LEN];
    size_t skip = in->trace_id_64 ? TS_TRACE_ID_LEN / 2 : 0; /* as it came: 16 digits */
    ts_hex_encode(in->trace_id + skip, TS_TRACE_ID_LEN - skip, hex);
    ts_span_attr_str(s, "traceshim.untrusted.trace_id", hex, 2 * (TS_TRACE_ID_LEN - skip));
    ts_hex_encode(in->span_id, TS_SPAN_ID_LEN, hex);
    ts_span_attr_str(s, "traceshim.untrusted.span_id", hex, 2 * TS_SPAN_ID_LEN);
}
