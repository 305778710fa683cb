/* test_url.c — the exporters' http:// URLs taken apart: host, port, path
 * and the Host header's authority for the forms users write, and a reason
 * (never a half-filled URL the reporter would use) for everything else. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "preload/url.h"

struct good_case {
    const char *text;
    const char *host;
    unsigned port;
    const char *path;
    const char *authority;
};

static void check_good(const struct good_case *g)
{
    struct ts_url u;
    memset(&u, 0x5a, sizeof u); /* parse must reset every field */
    const char *why = ts_url_parse(g->text, &u);
    if (why)
        fail_msg("\"%s\" rejected: %s", g->text, why);
    assert_string_equal(u.host, g->host);
    assert_int_equal(u.port, g->port);
    assert_string_equal(u.path, g->path);
    assert_string_equal(u.authority, g->authority);
    if (!strchr(g->host, '%')) /* no zone: the Host header names the authority */
        assert_string_equal(u.host_header, g->authority);
}

static void test_accepted(void **state)
{
    (void)state;
    static const struct good_case cases[] = {
        {"http://h", "h", 80, "/", "h"},
        {"http://h/", "h", 80, "/", "h"},
        {"http://h:1234/p?q=1#frag", "h", 1234, "/p?q=1", "h:1234"},
        {"http://h#frag", "h", 80, "/", "h"},
        {"http://h?q=1", "h", 80, "/?q=1", "h"},
        {"http://[::1]:4318/v1/traces", "::1", 4318, "/v1/traces", "[::1]:4318"},
        {"http://[::1]/", "::1", 80, "/", "[::1]"},
        {"http://[::ffff:127.0.0.1]/", "::ffff:127.0.0.1", 80, "/", "[::ffff:127.0.0.1]"},
        {"HTTP://Collector.Example:4318/v1/traces", "Collector.Example", 4318, "/v1/traces",
         "Collector.Example:4318"},
        {"hTtP://h:65535/", "h", 65535, "/", "h:65535"},
        {"http://h:1/", "h", 1, "/", "h:1"},
        {"http://127.0.0.1:9411/api/v2/spans", "127.0.0.1", 9411, "/api/v2/spans",
         "127.0.0.1:9411"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_good(&cases[i]);
}

/* An IPv6 address's zone, RFC 6874's "%25eth0" or a bare '%' as curl takes
 * it: the connect's (host, a plain '%'), shown as written (authority), and
 * left out of the Host header, where it means nothing to the server. */
static void test_zones(void **state)
{
    (void)state;
    static const struct {
        const char *text, *host, *authority, *host_header;
    } cases[] = {
        {"http://[fe80::1%25eth0]:9/", "fe80::1%eth0", "[fe80::1%25eth0]:9", "[fe80::1]:9"},
        {"http://[fe80::1%eth0]:9/", "fe80::1%eth0", "[fe80::1%eth0]:9", "[fe80::1]:9"},
        {"http://[fe80::1%252]/v1", "fe80::1%2", "[fe80::1%252]", "[fe80::1]"},
        {"http://[fe80::1%25a.b-c_d~e]/", "fe80::1%a.b-c_d~e", "[fe80::1%25a.b-c_d~e]",
         "[fe80::1]"},
        /* IF_NAMESIZE - 1 bytes, the longest name an interface has */
        {"http://[fe80::1%25abcdefghijklmno]:1/", "fe80::1%abcdefghijklmno",
         "[fe80::1%25abcdefghijklmno]:1", "[fe80::1]:1"},
        {"http://[::1]:4318/", "::1", "[::1]:4318", "[::1]:4318"},
        /* what an interface's name may hold beyond RFC 6874's characters */
        {"http://[fe80::1%25br+1]/", "fe80::1%br+1", "[fe80::1%25br+1]", "[fe80::1]"},
        {"http://[FE80::1%ETH0]/", "FE80::1%ETH0", "[FE80::1%ETH0]", "[FE80::1]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct ts_url u;
        memset(&u, 0x5a, sizeof u);
        const char *why = ts_url_parse(cases[i].text, &u);
        if (why)
            fail_msg("\"%s\" rejected: %s", cases[i].text, why);
        assert_string_equal(u.host, cases[i].host);
        assert_string_equal(u.authority, cases[i].authority);
        assert_string_equal(u.host_header, cases[i].host_header);
    }
    /* a zone wrong where the address is right: said as the zone's fault */
    static const char *const bad_zone[] = {"fe80::1%", "fe80::1%a/b", "fe80::1%abcdefghijklmnop",
                                           "fe80::1%:1", "::1%e t"};
    for (size_t i = 0; i < sizeof bad_zone / sizeof bad_zone[0]; i++)
        assert_true(ts_ipv6_bad_zone(bad_zone[i], strlen(bad_zone[i])));
    static const char *const not_zone[] = {"fe80::g%eth0", "%eth0", "fe80::1", "host%eth0"};
    for (size_t i = 0; i < sizeof not_zone / sizeof not_zone[0]; i++)
        assert_false(ts_ipv6_bad_zone(not_zone[i], strlen(not_zone[i])));
}

/* text is rejected with a reason containing want. */
static void check_bad(const char *text, const char *want)
{
    struct ts_url u;
    const char *why = ts_url_parse(text, &u);
    if (!why)
        fail_msg("\"%s\" accepted (host \"%s\")", text, u.host);
    if (!strstr(why, want))
        fail_msg("\"%s\": reason \"%s\" does not mention \"%s\"", text, why, want);
}

static void test_rejected(void **state)
{
    (void)state;
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"https://collector:4318/v1/traces", "https is not supported"},
        {"HTTPS://collector/", "https is not supported"},
        {"ftp://h/", "http://"},
        {"h:4318/v1/traces", "http://"},
        {"http:/h/", "http://"},
        {"", "http://"},
        {"http://", "host"},
        {"http:///v1/traces", "host"},
        {"http://:4318/", "host"},
        {"http://[]:4318/", "host"},
        {"http://user@h/", "user"},
        {"http://user:pw@h:80/", "user"},
        {"http://h:0/", "port"},
        {"http://h:65536/", "port"},
        {"http://h:99999/", "port"},
        {"http://h:12a/", "port"},
        {"http://h:/", "port"},
        {"http://h:-1/", "port"},
        {"http://h:000080/", "port"},
        {"http://[::1/", "']'"},
        {"http://[::1]x/", "port"},
        {"http://[::1]:0/", "port"},
        /* brackets hold an IPv6 address (the lookup said "No route to host") */
        {"http://[zz]:4318/", "IPv6 address"},
        {"http://[127.0.0.1]/", "IPv6 address"},
        {"http://[]:80/", "host"},
        {"http://[%25eth0]/", "IPv6 address"},
        /* a zone is an interface's name or index: not empty, not longer
         * than IF_NAMESIZE holds, nothing escaped */
        {"http://[fe80::1%25]/", "zone"},
        {"http://[fe80::1%]/", "zone"},
        {"http://[fe80::1%25abcdefghijklmnop]/", "zone"},
        {"http://[fe80::1%25a%2Fb]/", "zone"},
        {"http://[fe80::1%25a:b]/", "zone"},
        {"http://[zz%25eth0]/", "IPv6 address"},
        {"http://h ost/", "spaces"},
        {"http://h\t/", "spaces"},
        {"http://h\x7f/", "spaces"},
        {"http://h/a b", "spaces"},
        {"http://h/a\r\nX: y", "spaces"},
        {"http://h/\x01", "spaces"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_bad(cases[i].text, cases[i].want);
}

/* The fixed fields take their maximum and refuse one byte more. */
static void test_lengths(void **state)
{
    (void)state;
    struct ts_url u;
    static char text[8192], name[2048];

    memset(name, 'h', sizeof u.host - 1);
    name[sizeof u.host - 1] = '\0';
    snprintf(text, sizeof text, "http://%s:4318/", name);
    assert_null(ts_url_parse(text, &u));
    assert_string_equal(u.host, name);
    assert_int_equal(u.port, 4318);

    /* one byte more fits the authority but not the host */
    name[sizeof u.host - 1] = 'h';
    name[sizeof u.host] = '\0';
    snprintf(text, sizeof text, "http://%s/", name);
    check_bad(text, "shorter host");
    snprintf(text, sizeof text, "http://[%s]:4318/", name);
    check_bad(text, "shorter host");
    /* longer than the authority too */
    memset(name, 'h', 300);
    name[300] = '\0';
    snprintf(text, sizeof text, "http://%s/", name);
    check_bad(text, "shorter host");

    /* the longest path keeps a byte spare for the '/' that a path starting
     * with '?' gets in front */
    memset(name, 'p', sizeof u.path - 3);
    name[sizeof u.path - 3] = '\0';
    snprintf(text, sizeof text, "http://h/%s", name);
    assert_null(ts_url_parse(text, &u));
    assert_int_equal(strlen(u.path), sizeof u.path - 2);
    snprintf(text, sizeof text, "http://h?%s", name);
    assert_null(ts_url_parse(text, &u));
    assert_int_equal(strlen(u.path), sizeof u.path - 1);
    assert_int_equal(u.path[0], '/');
    snprintf(text, sizeof text, "http://h/%sp", name);
    check_bad(text, "shorter path");
    /* a fragment does not count */
    snprintf(text, sizeof text, "http://h/%s#%s", name, name);
    assert_null(ts_url_parse(text, &u));
}

static void test_scheme_len(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        size_t len, want; /* len: of s taken (less than strlen: cut) */
    } cases[] = {
        {"http://h", 8, 7}, {"HTTPS://h", 9, 8}, {"a+b.c-d://", 10, 10}, {"http://", 7, 7},
        {"http://", 6, 0},  {"http:/", 6, 0},    {"1http://", 8, 0},     {"://h", 4, 0},
        {"h:4318", 6, 0},   {"", 0, 0},          {"ht tp://", 8, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        assert_int_equal(ts_url_scheme_len(cases[i].s, cases[i].len), cases[i].want);
}

/* What may be a credential is never shown; the rest is, as written. */
static void test_shown(void **state)
{
    (void)state;
    static const struct {
        const char *url, *shown;
    } cases[] = {
        {"http://h:4318/v1/traces", "http://h:4318/v1/traces"},
        {"http://u:p@h/x", "http://(not shown)@h/x"},
        {"http://a@b@h", "http://(not shown)@h"},
        {"https://h/v1/traces?token=s3cr3t&x=1",
         "https://h/v1/traces?token=(not shown)&x=(not shown)"},
        {"http://h?flag&k=v#frag", "http://h?(not shown)&k=(not shown)#frag"},
        {"http://h/p?", "http://h/p?"},
        {"http://h/p?&&a=", "http://h/p?&&a=(not shown)"},
        {"http://h/a@b?k=v", "http://(not shown)@b?k=(not shown)"},  /* more hidden: harmless */
        {"http://user:abc/def@c:4318", "http://(not shown)@c:4318"}, /* a '/' in the password */
        {"http://u:a?b#c@h/x", "http://(not shown)@h/x"},
        {"http://h/?r=http://u:pw@x", "http://(not shown)@x"},
        {"u:pw@h:4318", "(not shown)@h:4318"}, /* no scheme */
        {"1http://u:pw@h", "(not shown)@h"},
        {"http://u:p@h/?k=v=w", "http://(not shown)@h/?k=(not shown)"},
        {"h:4318", "h:4318"},
        {"", ""},
    };
    char out[256];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ts_url_shown(cases[i].url, out, sizeof out);
        assert_string_equal(out, cases[i].shown);
    }
    /* cut short, never past its room */
    for (size_t cap = 1; cap < 40; cap++) {
        char small[40];
        memset(small, 'X', sizeof small);
        ts_url_shown("http://user:pw@h/p?token=abc&k=v", small, cap);
        assert_int_equal(strlen(small), cap - 1);
        assert_null(strstr(small, "pw"));
        assert_null(strstr(small, "abc"));
        if (cap < sizeof small)
            assert_int_equal(small[cap], 'X'); /* nothing written past it */
    }
}

/* A parsed endpoint shown as its URL, as the exporters' failure lines
 * name it: the query's values hidden, the IPv6 brackets and zone as
 * written, cut short to its room. */
static void test_shown_parsed(void **state)
{
    (void)state;
    static const struct {
        const char *url, *shown;
    } cases[] = {
        {"http://localhost:4318/v1/traces", "http://localhost:4318/v1/traces"},
        {"http://c:4318/otlp/v1/traces?api-key=s3cr3t&team",
         "http://c:4318/otlp/v1/traces?api-key=(not shown)&(not shown)"},
        {"http://[fe80::1%25eth0]:4318#frag", "http://[fe80::1%25eth0]:4318/"},
        {"http://zipkin", "http://zipkin/"},
    };
    char out[256];
    struct ts_url u;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        assert_null(ts_url_parse(cases[i].url, &u));
        ts_url_shown_parsed(&u, out, sizeof out);
        assert_string_equal(out, cases[i].shown);
    }
    assert_null(ts_url_parse("http://h/p?token=abc", &u));
    ts_url_shown_parsed(&u, out, 18);
    assert_string_equal(out, "http://h/p?token="); /* 17 bytes and the NUL */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepted),     cmocka_unit_test(test_rejected),
        cmocka_unit_test(test_lengths),      cmocka_unit_test(test_scheme_len),
        cmocka_unit_test(test_shown),        cmocka_unit_test(test_zones),
        cmocka_unit_test(test_shown_parsed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
