/* test_url_redact.c — URL attributes without credentials
 * (hooks/url_redact.c): userinfo and the values of URL-signing query
 * parameters become REDACTED, nothing else changes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "hooks/url_redact.h"

static void check_url(const char *in, const char *want)
{
    char out[512];
    size_t n = ts_url_redact(in, strlen(in), out, sizeof out);
    out[n] = '\0';
    if (strcmp(out, want) != 0)
        fail_msg("ts_url_redact(\"%s\") = \"%s\", want \"%s\"", in, out, want);
    bool secret = strcmp(in, want) != 0;
    if (ts_url_has_secret(in, strlen(in)) != secret)
        fail_msg("ts_url_has_secret(\"%s\") != %d", in, secret);
}

static void test_userinfo(void **state)
{
    (void)state;
    check_url("http://user:pass@host:8080/p?x=1", "http://REDACTED:REDACTED@host:8080/p?x=1");
    check_url("https://token@host/p", "https://REDACTED@host/p");
    check_url("http://u:p@ss@host/", "http://REDACTED:REDACTED@host/");  /* the last '@' ends it */
    check_url("http://host/p@q?a=b@c#x@y", "http://host/p@q?a=b@c#x@y"); /* not in the authority */
    check_url("http://host", "http://host");
    check_url("/p?x=1", "/p?x=1");
    check_url("/user:pass@host", "/user:pass@host"); /* a request target has no userinfo */
    check_url("", "");
}

static void test_signed_query(void **state)
{
    (void)state;
    check_url("https://b.s3.amazonaws.com/k?AWSAccessKeyId=AKIA&Expires=1&Signature=abc%2F",
              "https://b.s3.amazonaws.com/k?AWSAccessKeyId=REDACTED&Expires=1&Signature=REDACTED");
    check_url("/blob?sv=2020&sig=s3cr3t&se=x", "/blob?sv=2020&sig=REDACTED&se=x");
    check_url("/o?X-Goog-Signature=ff&X-Goog-Date=1", "/o?X-Goog-Signature=REDACTED&X-Goog-Date=1");
    check_url("/p?sig=1#sig=2", "/p?sig=REDACTED#sig=2"); /* the fragment is no query */
    check_url("/p#a?sig=1", "/p#a?sig=1");
    /* names are exact and case-sensitive; a name without '=' has no value */
    check_url("/p?SIG=1&signature=2&sigs=3&xsig=4&sig&=sig",
              "/p?SIG=1&signature=2&sigs=3&xsig=4&sig&=sig");
    check_url("/p?sig=", "/p?sig=REDACTED");
    check_url("/p?&&sig=a&&", "/p?&&sig=REDACTED&&");
    check_url("/p?", "/p?");
    check_url("http://u:p@h/p?sig=a", "http://REDACTED:REDACTED@h/p?sig=REDACTED");
}

static void test_query_alone(void **state)
{
    (void)state;
    static const char q[] = "a=1&Signature=xyz&b";
    assert_true(ts_url_query_has_secret(q, strlen(q)));
    char out[64];
    size_t n = ts_url_query_redact(q, strlen(q), out, sizeof out);
    assert_int_equal(n, strlen("a=1&Signature=REDACTED&b"));
    assert_memory_equal(out, "a=1&Signature=REDACTED&b", n);
    assert_false(ts_url_query_has_secret("a=1&b=2", 7));
    assert_false(ts_url_query_has_secret("", 0));
    /* cut at the room there is, never past it */
    memset(out, '#', sizeof out);
    n = ts_url_query_redact(q, strlen(q), out, 10);
    assert_int_equal(n, 10);
    assert_memory_equal(out, "a=1&Signat", 10);
    assert_int_equal(out[10], '#');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_userinfo),
        cmocka_unit_test(test_signed_query),
        cmocka_unit_test(test_query_alone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
