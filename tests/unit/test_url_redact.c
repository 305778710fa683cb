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

/* args: the arguments separated by '|' (NUL in /proc/PID/cmdline). */
static void check_args(const char *args, const char *want)
{
    char raw[512], out[512];
    size_t len = strlen(args);
    memcpy(raw, args, len + 1);
    for (size_t i = 0; i < len; i++)
        if (raw[i] == '|')
            raw[i] = '\0';
    size_t n = ts_args_redact(raw, len + 1, out, sizeof out); /* with the last NUL */
    out[n] = '\0';
    if (strcmp(out, want) != 0)
        fail_msg("ts_args_redact(\"%s\") = \"%s\", want \"%s\"", args, out, want);
    n = ts_args_redact(raw, len, out, sizeof out); /* without it */
    out[n] = '\0';
    if (strcmp(out, want) != 0)
        fail_msg("ts_args_redact(\"%s\", no last NUL) = \"%s\"", args, out);
}

static void test_command_line(void **state)
{
    (void)state;
    check_args("curl|-sS|http://127.0.0.1:8080/x", "curl -sS http://127.0.0.1:8080/x");
    check_args(
        "curl|-H|Authorization: Bearer SECRET|http://alice:hunter2@h/x?Signature=S&a=1",
        "curl -H Authorization: REDACTED http://REDACTED:REDACTED@h/x?Signature=REDACTED&a=1");
    check_args("curl|-H|cookie:id=1|-H|X-API-KEY: k|-H|Accept: */*",
               "curl -H cookie: REDACTED -H X-API-KEY: REDACTED -H Accept: */*");
    check_args("curl|-u|bob:pw|--user|bob:pw|--proxy-user|p:q|-u",
               "curl -u REDACTED --user REDACTED "
               "--proxy-user REDACTED -u");
    check_args("wget|--password=pw|--http-password=pw|--proxy-password=pw|--password|pw|--user=bob",
               "wget --password=REDACTED --http-password=REDACTED --proxy-password=REDACTED "
               "--password REDACTED --user=REDACTED");
    check_args("/usr/bin/curl|-u|-u", "/usr/bin/curl -u REDACTED"); /* "-u" once a value */
    check_args("curl|-ubob:pw|-HAuthorization: Bearer t|-Haccept: x",
               "curl -uREDACTED -HAuthorization: REDACTED -Haccept: x");
    check_args("wget|--header=Cookie: s=1|--header=Accept: */*",
               "wget --header=Cookie: REDACTED --header=Accept: */*");
    /* curl's -U (--proxy-user); short options grouped: a letter that
     * takes a value ends the group, its value the rest of it or the next
     * argument ("-sovLu" is -s and -o's file "vLu") */
    check_args("curl|-U|bob:pw|-Lu|bob:pw|-sSU|p:q|-LubobX:pw|-sUp:q|-sovLu|-s",
               "curl -U REDACTED -Lu REDACTED -sSU REDACTED -LuREDACTED -sUREDACTED -sovLu -s");
    check_args("curl|-sHAuthorization: Bearer t|-sH|Cookie: c=1|-o|-u|x",
               "curl -sHAuthorization: REDACTED -sH Cookie: REDACTED -o -u x");
    /* a proxy's userinfo (-x, --proxy, --preproxy), a certificate's
     * password (-E, --cert, --proxy-cert), tokens and passphrases */
    check_args("curl|-x|bob:pw@proxy:3128|--proxy|http://bob:pw@p:1/|-xu@p|--preproxy|p:1|"
               "-x|b:p@h/?sig=s",
               "curl -x REDACTED:REDACTED@proxy:3128 --proxy http://REDACTED:REDACTED@p:1/ "
               "-xREDACTED@p --preproxy p:1 -x REDACTED:REDACTED@h/?sig=REDACTED");
    check_args("curl|-E|cert.pem:pw|-sEc\\:x.pem:pw|--cert|c.pem|--proxy-cert|c:p|-E|pkcs11:o=a;p",
               "curl -E cert.pem:REDACTED -sEc\\:x.pem:REDACTED --cert c.pem "
               "--proxy-cert c:REDACTED -E pkcs11:o=a;p");
    check_args("curl|--oauth2-bearer|tok|--pass|phrase|--proxy-pass|p|--tlspassword|t|"
               "--proxy-tlspassword|t",
               "curl --oauth2-bearer REDACTED --pass REDACTED --proxy-pass REDACTED "
               "--tlspassword REDACTED --proxy-tlspassword REDACTED");
    check_args("wget|--ftp-password|pw|--proxy-password|pw|-U|agent|-x|u:p@h",
               "wget --ftp-password REDACTED --proxy-password REDACTED -U agent -x "
               "REDACTED:REDACTED@h");
    /* curl's and wget's URLs without a scheme begin with their authority:
     * its userinfo too ("bob:pw@host"), not an '@' after it */
    check_args("curl|bob:pw@h:1/p?sig=s|tok@h|h/p@q:r|--url|u:p@h|-o|f@g:h|-d|a:b@c",
               "curl REDACTED:REDACTED@h:1/p?sig=REDACTED REDACTED@h h/p@q:r --url "
               "REDACTED:REDACTED@h -o f@g:h -d a:b@c");
    check_args("wget|-q|u:p@h/x|--no-check-certificate|h/?x=a@b",
               "wget -q REDACTED:REDACTED@h/x --no-check-certificate h/?x=a@b");
    /* there only a '/' ends the userinfo: a password with a '?' or '#'
     * (curl refuses the URL, but it was written) */
    check_args("curl|-x|bob:p?w@proxy:3128|-xb:p#w@p|h?x=a@b",
               "curl -x REDACTED:REDACTED@proxy:3128 -xREDACTED:REDACTED@p REDACTED@b");
    /* a PKCS #11 URI's PIN (RFC 7512's pin-value), wherever it is given */
    check_args(
        "curl|-E|pkcs11:object=k;type=cert?pin-value=1234&module-name=m|"
        "--key|PKCS11:token=t;PIN-VALUE=9;object=k|--cert=pkcs11:o=a?pin-value=",
        "curl -E pkcs11:object=k;type=cert?pin-value=REDACTED&module-name=m "
        "--key PKCS11:token=t;PIN-VALUE=REDACTED;object=k --cert=pkcs11:o=a?pin-value=REDACTED");
    check_args("p11tool|--login|key=pkcs11:token=t?pin-value=12&pin-value=34|pkcs11:xpin-value=1",
               "p11tool --login key=pkcs11:token=t?pin-value=REDACTED&pin-value=REDACTED "
               "pkcs11:xpin-value=1");
    /* an '@' or a "sig=" among its attributes makes it no URL */
    check_args("curl|--key|pkcs11:token=me@corp;object=k?pin-value=1234|"
               "pkcs11:token=t?pin-value=12&sig=x",
               "curl --key pkcs11:token=me@corp;object=k?pin-value=REDACTED "
               "pkcs11:token=t?pin-value=REDACTED&sig=x");
    /* long options as curl reads them, in any case, and as curl and
     * getopt_long (wget) read an abbreviation, a start of one name
     * ("--proxy-us"); wget's "passwd" aliases; the options of other
     * values keep them, also one that starts like a credential's */
    check_args("curl|--USER|bob:pw|--proxy-us|p:q|--oauth2-b|tok|--tlspas=x|--Proxy|u:p@h:1",
               "curl --USER REDACTED --proxy-us REDACTED --oauth2-b REDACTED --tlspas=REDACTED "
               "--Proxy REDACTED:REDACTED@h:1");
    check_args("wget|--passw=s2|--http-passwd=s|--proxy-passwd|s3|--ftp-pass=x|--ftp-passwd|y",
               "wget --passw=REDACTED --http-passwd=REDACTED --proxy-passwd REDACTED "
               "--ftp-pass=REDACTED --ftp-passwd REDACTED");
    check_args("curl|--user-agent|ua|--proxy-header|X: y|--cert-type|PEM|--url|http://h/",
               "curl --user-agent ua --proxy-header X: y --cert-type PEM --url http://h/");
    /* another program's options mean something else; headers and URLs
     * are redacted in any */
    check_args("python3|-u|app.py|--password=x|-ubob", "python3 -u app.py --password=x -ubob");
    check_args("ssh|bob@host|-u|x|Authorization: y", "ssh bob@host -u x Authorization: REDACTED");
    check_args("curlx|-u|b:p", "curlx -u b:p");
    check_args("sh|-c|echo hi; exit 7", "sh -c echo hi; exit 7");
    check_args("x", "x");
    char out[8];
    assert_int_equal(ts_args_redact("curl\0-u\0bob:pw", 15, out, sizeof out), sizeof out);
    assert_memory_equal(out, "curl -u ", 8);
    /* a URL with a secret, cut before a character it would split, ends the
     * text: no argument after it fills the bytes the cut left */
    static const char emoji_args[] = "curl\0http://u:p@h/\xf0\x9f\x98\x80\xf0\x9f\x98\x80\0-o\0x";
    char small[35];
    size_t n = ts_args_redact(emoji_args, sizeof emoji_args - 1, small, sizeof small);
    assert_int_equal(n, 32);
    assert_memory_equal(small, "curl http://REDACTED:REDACTED@h/", 32);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_userinfo),
        cmocka_unit_test(test_command_line),
        cmocka_unit_test(test_signed_query),
        cmocka_unit_test(test_query_alone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
