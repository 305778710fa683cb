/* test_trust.c — signed inbound context (hooks/trust.c): the signed
 * string, the HMAC-SHA256 primitive (RFC 4231), signing and verifying with
 * rotated keys, every rejection, the constant-time compare, and the modes
 * with their bad values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "hooks/propagation.h"
#include "hooks/trust.h"
#include "preload/hex.h"

#define T128 "463ac35c9f6413ad48485a3953bb6124"
#define T64 "a3ce929d0e0e4736"
#define S1 "a2fb4a1d1a96d312"

/* ------------------------------------------------------------- fake env */

static const char *env_mode;
static const char *env_keys;

static const char *lookup(const char *name)
{
    if (strcmp(name, "TRACESHIM_TRUST_INBOUND") == 0)
        return env_mode;
    if (strcmp(name, "TRACESHIM_HMAC_KEYS") == 0)
        return env_keys;
    return NULL;
}

static int load(const char *mode, const char *keys)
{
    env_mode = mode;
    env_keys = keys;
    return ts_trust_load(lookup);
}

/* ------------------------------------------------------------- helpers */

static struct ts_ctx make_ctx(const char *trace, const char *span, uint8_t sampling)
{
    struct ts_ctx c;
    memset(&c, 0, sizeof c);
    size_t tl = strlen(trace);
    assert_true(ts_hex_decode(trace, tl / 2, c.trace_id + (TS_TRACE_ID_LEN - tl / 2)));
    c.trace_id_64 = tl == 16;
    assert_true(ts_hex_decode(span, TS_SPAN_ID_LEN, c.span_id));
    c.sampling = sampling;
    c.valid = true;
    return c;
}

static struct ts_http_header hdr(const char *name, const char *value)
{
    return (struct ts_http_header){name, strlen(name), value, strlen(value)};
}

/* The value of a signature line ("X-Traceshim-Signature: v1=...\r\n"). */
static void sig_value(const char *line, size_t len, char *out)
{
    static const char name[] = "X-Traceshim-Signature: ";
    assert_int_equal(len, TS_TRUST_LINE_LEN);
    assert_memory_equal(line, name, sizeof name - 1);
    assert_memory_equal(line + len - 2, "\r\n", 2);
    size_t n = len - (sizeof name - 1) - 2;
    memcpy(out, line + sizeof name - 1, n);
    out[n] = '\0';
}

/* A signature header value for ctx, signed with the keys loaded now. */
static void sign_value(const struct ts_ctx *c, char out[80])
{
    char line[TS_TRUST_LINE_LEN];
    size_t n = ts_trust_sign(c, line, sizeof line);
    sig_value(line, n, out);
}

static bool verify_with(const struct ts_ctx *c, const char *sig)
{
    struct ts_http_header h[3] = {hdr("Host", "x"), hdr("X-Traceshim-Signature", sig),
                                  hdr("Accept", "*/*")};
    return ts_trust_verify(h, 3, c);
}

/* ------------------------------------------------------------- tests */

static void test_canonical(void **state)
{
    (void)state;
    char buf[TS_TRUST_CANON_LEN + 1];
    struct ts_ctx c = make_ctx(T128, S1, TS_SAMPLING_ACCEPT);
    assert_int_equal(ts_trust_canonical(&c, buf, sizeof buf), TS_TRUST_CANON_LEN);
    assert_memory_equal(buf, "v1:" T128 ":" S1 ":1", TS_TRUST_CANON_LEN);
    static const struct {
        uint8_t sampling;
        char flag;
    } flags[] = {{TS_SAMPLING_DEFER, '-'},
                 {TS_SAMPLING_ACCEPT, '1'},
                 {TS_SAMPLING_DENY, '0'},
                 {TS_SAMPLING_DEBUG, 'd'}};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        c.sampling = flags[i].sampling;
        assert_int_equal(ts_trust_canonical(&c, buf, sizeof buf), TS_TRUST_CANON_LEN);
        assert_int_equal(buf[TS_TRUST_CANON_LEN - 1], flags[i].flag);
    }
    /* a 64-bit trace id is zero-padded to 32 digits */
    struct ts_ctx c64 = make_ctx(T64, S1, TS_SAMPLING_DENY);
    assert_int_equal(ts_trust_canonical(&c64, buf, sizeof buf), TS_TRUST_CANON_LEN);
    assert_memory_equal(buf, "v1:0000000000000000" T64 ":" S1 ":0", TS_TRUST_CANON_LEN);
    /* too small, or no context: nothing */
    assert_int_equal(ts_trust_canonical(&c, buf, TS_TRUST_CANON_LEN - 1), 0);
    c.valid = false;
    assert_int_equal(ts_trust_canonical(&c, buf, sizeof buf), 0);
}

/* B3 single, B3 multi and traceparent carrying one context give one string. */
static void test_canonical_same_across_formats(void **state)
{
    (void)state;
    struct ts_http_header single[] = {hdr("b3", T128 "-" S1 "-1")};
    struct ts_http_header multi[] = {hdr("X-B3-TraceId", T128), hdr("X-B3-SpanId", S1),
                                     hdr("X-B3-Sampled", "1")};
    struct ts_http_header tp[] = {hdr("traceparent", "00-" T128 "-" S1 "-01")};
    struct ts_ctx a, b, c;
    assert_true(ts_prop_extract(single, 1, &a));
    assert_true(ts_prop_extract(multi, 3, &b));
    assert_true(ts_prop_extract(tp, 1, &c));
    char ca[TS_TRUST_CANON_LEN], cb[TS_TRUST_CANON_LEN], cc[TS_TRUST_CANON_LEN];
    assert_int_equal(ts_trust_canonical(&a, ca, sizeof ca), TS_TRUST_CANON_LEN);
    assert_int_equal(ts_trust_canonical(&b, cb, sizeof cb), TS_TRUST_CANON_LEN);
    assert_int_equal(ts_trust_canonical(&c, cc, sizeof cc), TS_TRUST_CANON_LEN);
    assert_memory_equal(ca, cb, sizeof ca);
    assert_memory_equal(ca, cc, sizeof ca);
}

/* RFC 4231 test cases 1, 2 and 6 (a key longer than the block). */
static void test_hmac_rfc4231(void **state)
{
    (void)state;
    assert_int_equal(load("hmac", "k"), TS_TRUST_HMAC);
    unsigned char key1[20], key6[131], mac[32];
    memset(key1, 0x0b, sizeof key1);
    memset(key6, 0xaa, sizeof key6);
    static const struct {
        const unsigned char *key;
        size_t klen;
        const char *msg;
        const char *want;
    } v[] = {
        {NULL, 20, "Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
        {(const unsigned char *)"Jefe", 4, "what do ya want for nothing?",
         "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
        {NULL, 131, "Test Using Larger Than Block-Size Key - Hash Key First",
         "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
    };
    for (size_t i = 0; i < 3; i++) {
        const unsigned char *k = v[i].key ? v[i].key : v[i].klen == 20 ? key1 : key6;
        assert_true(ts_trust_hmac_sha256(k, v[i].klen, v[i].msg, strlen(v[i].msg), mac));
        char hex[65];
        ts_hex_encode(mac, 32, hex);
        hex[64] = '\0';
        assert_string_equal(hex, v[i].want);
    }
}

static void test_modes(void **state)
{
    (void)state;
    assert_int_equal(load(NULL, NULL), TS_TRUST_ALL);
    assert_int_equal(load("", NULL), TS_TRUST_ALL);
    assert_int_equal(load("all", "k"), TS_TRUST_ALL);
    assert_int_equal(load(" ALL ", NULL), TS_TRUST_ALL);
    assert_int_equal(load("none", NULL), TS_TRUST_NONE);
    assert_int_equal(load("None", "k"), TS_TRUST_NONE);
    assert_int_equal(load("hmac", "k"), TS_TRUST_HMAC);
    assert_int_equal(load("\tHMAC ", " k1 , k2 "), TS_TRUST_HMAC);
    assert_int_equal(ts_trust_mode(), TS_TRUST_HMAC);
    /* bad values: the safe mode, none */
    assert_int_equal(load("bogus", "k"), TS_TRUST_NONE);
    assert_int_equal(load("hmac,all", "k"), TS_TRUST_NONE);
    assert_int_equal(load("yes", NULL), TS_TRUST_NONE);
    assert_int_equal(load("hmac", NULL), TS_TRUST_NONE);
    assert_int_equal(load("hmac", ""), TS_TRUST_NONE);
    assert_int_equal(load("hmac", "a,,b"), TS_TRUST_NONE);
    assert_int_equal(load("hmac", "a,"), TS_TRUST_NONE);
    assert_int_equal(load("hmac", " "), TS_TRUST_NONE);
    assert_int_equal(load("hmac", "1,2,3,4,5,6,7,8,9"), TS_TRUST_NONE);
    assert_int_equal(load("hmac", "1,2,3,4,5,6,7,8"), TS_TRUST_HMAC);
    char big[TS_TRUST_KEY_MAX + 2];
    memset(big, 'k', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(load("hmac", big), TS_TRUST_NONE);
    big[TS_TRUST_KEY_MAX] = '\0';
    assert_int_equal(load("hmac", big), TS_TRUST_HMAC);
}

/* The keys are copied: changing the environment later changes nothing. */
static void test_keys_copied(void **state)
{
    (void)state;
    char keys[] = "secret";
    struct ts_ctx c = make_ctx(T128, S1, TS_SAMPLING_ACCEPT);
    assert_int_equal(load("hmac", keys), TS_TRUST_HMAC);
    char before[80], after[80];
    sign_value(&c, before);
    memset(keys, 'x', sizeof keys - 1);
    sign_value(&c, after);
    assert_string_equal(before, after);
}

static void test_sign_line(void **state)
{
    (void)state;
    struct ts_ctx c = make_ctx(T128, S1, TS_SAMPLING_ACCEPT);
    assert_int_equal(load("hmac", "new,old"), TS_TRUST_HMAC);
    char line[TS_TRUST_LINE_LEN + 8];
    size_t n = ts_trust_sign(&c, line, sizeof line);
    char v[80];
    sig_value(line, n, v);
    /* v1= and the lower-hex HMAC-SHA256 under the first key of the signed string */
    unsigned char mac[32];
    const char canon[] = "v1:" T128 ":" S1 ":1";
    assert_true(ts_trust_hmac_sha256("new", 3, canon, sizeof canon - 1, mac));
    char want[80] = "v1=";
    ts_hex_encode(mac, 32, want + 3);
    want[67] = '\0';
    assert_string_equal(v, want);
    /* too small: nothing */
    assert_int_equal(ts_trust_sign(&c, line, TS_TRUST_LINE_LEN - 1), 0);
    /* no valid context: nothing */
    c.valid = false;
    assert_int_equal(ts_trust_sign(&c, line, sizeof line), 0);
    /* other modes sign nothing */
    c.valid = true;
    assert_int_equal(load("all", "new"), TS_TRUST_ALL);
    assert_int_equal(ts_trust_sign(&c, line, sizeof line), 0);
    assert_int_equal(load("none", "new"), TS_TRUST_NONE);
    assert_int_equal(ts_trust_sign(&c, line, sizeof line), 0);
    /* the injection buffer has room for every format and the line */
    assert_true(TS_PROP_INJECT_MAX >= 512 + TS_TRUST_LINE_LEN);
}

static void test_verify(void **state)
{
    (void)state;
    struct ts_ctx c = make_ctx(T128, S1, TS_SAMPLING_ACCEPT);
    assert_int_equal(load("hmac", "k1"), TS_TRUST_HMAC);
    char sig[80];
    sign_value(&c, sig);
    assert_true(verify_with(&c, sig));

    /* upper-case hex is the same MAC */
    char up[80];
    strcpy(up, sig);
    for (char *p = up + 3; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    assert_true(verify_with(&c, up));

    /* tampered context: trace id, span id, sampling flag */
    struct ts_ctx t = c;
    t.trace_id[0] ^= 1;
    assert_false(verify_with(&t, sig));
    t = c;
    t.span_id[7] ^= 1;
    assert_false(verify_with(&t, sig));
    t = c;
    t.sampling = TS_SAMPLING_DEBUG;
    assert_false(verify_with(&t, sig));
    t = c;
    t.valid = false;
    assert_false(verify_with(&t, sig));

    /* tampered or malformed signatures */
    char bad[80];
    strcpy(bad, sig);
    bad[10] = bad[10] == '0' ? '1' : '0';
    assert_false(verify_with(&c, bad));
    strcpy(bad, sig);
    bad[0] = 'v', bad[1] = '2';
    assert_false(verify_with(&c, bad));
    assert_false(verify_with(&c, sig + 3)); /* no v1= */
    strcpy(bad, sig);
    bad[strlen(bad) - 1] = '\0'; /* short */
    assert_false(verify_with(&c, bad));
    strcpy(bad, sig);
    bad[20] = 'g'; /* not hex */
    assert_false(verify_with(&c, bad));
    assert_false(verify_with(&c, ""));

    /* missing header */
    struct ts_http_header none[] = {hdr("Host", "x")};
    assert_false(ts_trust_verify(none, 1, &c));
    assert_false(ts_trust_verify(NULL, 0, &c));

    /* one good signature among bad ones (a proxy kept a stale one) */
    struct ts_http_header two[] = {hdr("X-Traceshim-Signature", "v1=00"),
                                   hdr("x-traceshim-signature", sig)};
    assert_true(ts_trust_verify(two, 2, &c));

    /* wrong key */
    assert_int_equal(load("hmac", "k2"), TS_TRUST_HMAC);
    assert_false(verify_with(&c, sig));
}

/* Rotation: "new,old" signs with new and accepts both. */
static void test_rotated_keys(void **state)
{
    (void)state;
    struct ts_ctx c = make_ctx(T64, S1, TS_SAMPLING_DEBUG);
    char by_old[80], by_new[80], by_other[80];
    assert_int_equal(load("hmac", "old"), TS_TRUST_HMAC);
    sign_value(&c, by_old);
    assert_int_equal(load("hmac", "new"), TS_TRUST_HMAC);
    sign_value(&c, by_new);
    assert_int_equal(load("hmac", "other"), TS_TRUST_HMAC);
    sign_value(&c, by_other);

    assert_int_equal(load("hmac", "new,old"), TS_TRUST_HMAC);
    assert_true(verify_with(&c, by_old));
    assert_true(verify_with(&c, by_new));
    assert_false(verify_with(&c, by_other));
    char mine[80];
    sign_value(&c, mine);
    assert_string_equal(mine, by_new); /* the first key signs */
}

/* The modes without a signature: all honours, none and hmac do not. */
static void test_verify_modes(void **state)
{
    (void)state;
    struct ts_ctx c = make_ctx(T128, S1, TS_SAMPLING_ACCEPT);
    struct ts_http_header h[] = {hdr("Host", "x")};
    assert_int_equal(load("hmac", "k"), TS_TRUST_HMAC);
    char sig[80];
    sign_value(&c, sig);
    assert_int_equal(load(NULL, NULL), TS_TRUST_ALL);
    assert_true(ts_trust_verify(h, 1, &c));
    assert_int_equal(load("none", NULL), TS_TRUST_NONE);
    assert_false(ts_trust_verify(h, 1, &c));
    assert_false(verify_with(&c, sig)); /* none: even signed contexts */
    assert_int_equal(load("bogus", "k"), TS_TRUST_NONE);
    assert_false(verify_with(&c, sig));
}

/* verify compares MACs with the constant-time compare, all 32 bytes. */
static int ct_calls, ct_bad_len;
static int spy_memcmp(const void *a, const void *b, size_t n)
{
    ct_calls++;
    if (n != 32)
        ct_bad_len++;
    const unsigned char *x = a, *y = b;
    unsigned char d = 0;
    for (size_t i = 0; i < n; i++)
        d |= (unsigned char)(x[i] ^ y[i]);
    return d != 0;
}

static void test_constant_time_compare(void **state)
{
    (void)state;
    struct ts_ctx c = make_ctx(T128, S1, TS_SAMPLING_ACCEPT);
    assert_int_equal(load("hmac", "a,b,c"), TS_TRUST_HMAC);
    char sig[80];
    sign_value(&c, sig);
    ts_trust_set_memcmp(spy_memcmp);
    ct_calls = ct_bad_len = 0;
    assert_true(verify_with(&c, sig));
    assert_int_equal(ct_calls, 3); /* every key, no early exit */
    assert_int_equal(ct_bad_len, 0);
    ct_calls = 0;
    struct ts_ctx t = c;
    t.span_id[0] ^= 0x80;
    assert_false(verify_with(&t, sig));
    assert_int_equal(ct_calls, 3);
    ts_trust_set_memcmp(NULL);
    assert_true(verify_with(&c, sig)); /* back to CRYPTO_memcmp */
}

static void test_signable(void **state)
{
    (void)state;
    struct ts_ctx mine = make_ctx(T128, S1, TS_SAMPLING_ACCEPT);
    struct ts_ctx app = make_ctx(T128, "0000000000000001", TS_SAMPLING_ACCEPT);
    struct ts_ctx cur = make_ctx(T128, "0000000000000002", TS_SAMPLING_ACCEPT);
    struct ts_ctx other = make_ctx(T64, "0000000000000002", TS_SAMPLING_ACCEPT);
    assert_true(ts_trust_signable(&mine, &mine, NULL));
    assert_true(ts_trust_signable(&mine, &mine, &other));
    assert_true(ts_trust_signable(&app, &mine, NULL));    /* no request served: the program's own */
    assert_true(ts_trust_signable(&app, &mine, &cur));    /* in the trace it serves */
    assert_false(ts_trust_signable(&app, &mine, &other)); /* another trace: not vouched for */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_canonical),    cmocka_unit_test(test_canonical_same_across_formats),
        cmocka_unit_test(test_hmac_rfc4231), cmocka_unit_test(test_modes),
        cmocka_unit_test(test_keys_copied),  cmocka_unit_test(test_sign_line),
        cmocka_unit_test(test_verify),       cmocka_unit_test(test_rotated_keys),
        cmocka_unit_test(test_verify_modes), cmocka_unit_test(test_constant_time_compare),
        cmocka_unit_test(test_signable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
