/* test_forwarded.c — the client and scheme a proxied request names
 * (hooks/forwarded.c): RFC 7239's Forwarded, X-Forwarded-For and
 * X-Forwarded-Proto; only an address becomes a client. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "hooks/forwarded.h"

/* The client of a Forwarded (fwd) or X-Forwarded-For value, "" for none. */
static const char *client_of(const char *v, bool fwd)
{
    static char out[128];
    const char *a;
    size_t n;
    bool ok =
        fwd ? ts_forwarded_for(v, strlen(v), &a, &n) : ts_x_forwarded_for(v, strlen(v), &a, &n);
    snprintf(out, sizeof out, "%.*s", ok ? (int)n : 0, ok ? a : "");
    return out;
}

static void test_forwarded_for(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"for=192.0.2.60;proto=http;by=203.0.113.43", "192.0.2.60"},
        {"For=\"192.0.2.60:4711\"", "192.0.2.60"},
        {"for=\"[2001:db8:cafe::17]:4711\"", "2001:db8:cafe::17"},
        {"for=\"[2001:db8:cafe::17]\"", "2001:db8:cafe::17"},
        {"proto=https; for=198.51.100.17", "198.51.100.17"},
        {"for=192.0.2.43, for=198.51.100.17", "192.0.2.43"},
        {" for = 192.0.2.43 ", "192.0.2.43"},
        {"by=203.0.113.43, for=198.51.100.17", ""}, /* the first element names none */
        {"for=unknown", ""},
        {"for=_hidden", ""},
        {"for=\"_gazonk\"", ""},
        {"for=client.example", ""},
        {"for=\"<script>\"", ""},
        {"for=[2001:db8::1", ""},
        {"for=\"192.0.2.1", ""},
        {"for=", ""},
        {"for", ""},
        {"", ""},
        {"for=\"[2001:db8::1]x\"", ""},
        {"proto=\"a\\\"b\";for=192.0.2.9", "192.0.2.9"}, /* an escape in a quoted value */
        /* empty elements before the first are none (RFC 9110 §5.6.1.2) */
        {",for=1.2.3.4", "1.2.3.4"},
        {" , ,\tfor=1.2.3.4, for=5.6.7.8", "1.2.3.4"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        if (strcmp(client_of(cases[i][0], true), cases[i][1]) != 0)
            fail_msg("Forwarded: %s -> \"%s\", want \"%s\"", cases[i][0],
                     client_of(cases[i][0], true), cases[i][1]);
}

static void test_x_forwarded_for(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"203.0.113.195", "203.0.113.195"},
        {"203.0.113.195, 70.41.3.18, 150.172.238.178", "203.0.113.195"},
        {" 203.0.113.195 ,10.0.0.1", "203.0.113.195"},
        {"2001:db8:85a3:8d3:1319:8a2e:370:7348", "2001:db8:85a3:8d3:1319:8a2e:370:7348"},
        {"[2001:db8::1]:443, 10.0.0.1", "2001:db8::1"},
        {"203.0.113.195:41237", "203.0.113.195"},
        {"unknown, 10.0.0.1", ""},
        {"client.example", ""},
        {"", ""},
        {"1.2.3.4.5", ""},
        {", 203.0.113.195, 10.0.0.1", "203.0.113.195"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        if (strcmp(client_of(cases[i][0], false), cases[i][1]) != 0)
            fail_msg("X-Forwarded-For: %s -> \"%s\", want \"%s\"", cases[i][0],
                     client_of(cases[i][0], false), cases[i][1]);
}

/* The scheme, of either header: NULL shown as "". */
static const char *proto_of(const char *v, bool fwd)
{
    const char *p = fwd ? ts_forwarded_proto(v, strlen(v)) : ts_x_forwarded_proto(v, strlen(v));
    return p ? p : "";
}

static void test_protos(void **state)
{
    (void)state;
    assert_string_equal(proto_of("for=192.0.2.60;proto=https", true), "https");
    assert_string_equal(proto_of("proto=HTTP", true), "http");
    assert_string_equal(proto_of("proto=\"https\";for=1.2.3.4", true), "https");
    assert_string_equal(proto_of("for=1.2.3.4, proto=https", true), ""); /* not the first's */
    assert_string_equal(proto_of("proto=ftp", true), "");
    assert_string_equal(proto_of("proto=httpsx", true), "");
    assert_string_equal(proto_of("https", false), "https");
    assert_string_equal(proto_of(" HTTPS , http", false), "https");
    assert_string_equal(proto_of("wss", false), "");
    assert_string_equal(proto_of(",proto=https", true), "https");
    assert_string_equal(proto_of(" ,https", false), "https");
    assert_string_equal(proto_of("", false), "");
}

/* Every cut of a value is read within its bounds (the values come from
 * the wire): no parse reads past n, whatever it finds. */
static void test_every_prefix_stays_in_bounds(void **state)
{
    (void)state;
    static const char *const values[] = {
        "for=\"[2001:db8:cafe::17]:4711\";proto=\"https\"", "proto=\"a\\\"b\";for=192.0.2.9",
        "203.0.113.195, 70.41.3.18", "[2001:db8::1]:443, 10.0.0.1"};
    for (size_t k = 0; k < sizeof values / sizeof *values; k++) {
        size_t n = strlen(values[k]);
        for (size_t cut = 0; cut <= n; cut++) {
            char *copy = test_malloc(cut ? cut : 1); /* exactly cut bytes: cmocka checks */
            memcpy(copy, values[k], cut);
            const char *a;
            size_t len;
            if (ts_forwarded_for(copy, cut, &a, &len) || ts_x_forwarded_for(copy, cut, &a, &len))
                assert_true(a >= copy && a + len <= copy + cut);
            (void)ts_forwarded_proto(copy, cut);
            (void)ts_x_forwarded_proto(copy, cut);
            test_free(copy);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forwarded_for),
        cmocka_unit_test(test_x_forwarded_for),
        cmocka_unit_test(test_protos),
        cmocka_unit_test(test_every_prefix_stays_in_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
