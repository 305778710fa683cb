/* test_http_date.c — Retry-After's dates: the three forms of RFC 9110
 * 5.6.7 read to the second, checked against glibc's own calendar over
 * four centuries of days, RFC 850's two-digit years placed, and anything
 * else (a day that does not exist, another case, a cut) refused without
 * reading past the text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "reporter/http_date.h"

/* 2026-11-24: where "now" is for the two-digit years */
#define NOW 1795500000

static int64_t parsed(const char *s)
{
    int64_t t = -1;
    if (!ts_http_date_parse(s, strlen(s), NOW, &t))
        fail_msg("\"%s\" refused", s);
    return t;
}

static void test_three_forms(void **state)
{
    (void)state;
    /* RFC 9110's own example, in each form */
    assert_int_equal(parsed("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777);
    assert_int_equal(parsed("Sunday, 06-Nov-94 08:49:37 GMT"), 784111777);
    assert_int_equal(parsed("Sun Nov  6 08:49:37 1994"), 784111777);
    assert_int_equal(parsed("Thu, 01 Jan 1970 00:00:00 GMT"), 0);
    assert_int_equal(parsed("Fri, 31 Dec 9999 23:59:59 GMT"), 253402300799);
    assert_int_equal(parsed("Thu Feb 29 12:00:00 2024"), 1709208000);
    /* blanks around the value, as a field value may carry */
    assert_int_equal(parsed(" \tSun, 06 Nov 1994 08:49:37 GMT \r"), 784111777);
    /* a leap second is a second more */
    assert_int_equal(parsed("Sat, 31 Dec 2016 23:59:60 GMT"), 1483228800);
}

static void test_two_digit_years(void **state)
{
    (void)state;
    /* now is 2026: up to 2076 is ahead, later is the century before */
    assert_int_equal(parsed("Thursday, 01-Jan-70 00:00:00 GMT"), 3155760000); /* 2070 */
    assert_int_equal(parsed("Friday, 01-Jan-77 00:00:00 GMT"), 220924800);    /* 1977 */
    assert_int_equal(parsed("Tuesday, 24-Nov-26 00:00:00 GMT"), 1795478400);  /* 2026 */
}

/* Every 7th day from 1900 to 2300 at a changing time of day, written by
 * glibc's strftime in each form and read back: the calendar, leap years
 * and the days of each month all agree with glibc's. */
static void test_against_glibc(void **state)
{
    (void)state;
    static const char *const forms[] = {"%a, %d %b %Y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"};
    for (int64_t t = -2208988800; t < 10413792000; t += 7 * 86400 + 3671) {
        time_t tt = (time_t)t;
        struct tm tm;
        gmtime_r(&tt, &tm);
        for (size_t f = 0; f < sizeof forms / sizeof *forms; f++) {
            char text[64];
            strftime(text, sizeof text, forms[f], &tm);
            int64_t got;
            if (!ts_http_date_parse(text, strlen(text), NOW, &got) || got != t)
                fail_msg("\"%s\": %lld, want %lld", text, (long long)got, (long long)t);
        }
    }
}

static void test_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "120",
        "Sun, 06 Nov 1994 08:49:37 gmt", /* case-sensitive */
        "sun, 06 Nov 1994 08:49:37 GMT",
        "Sun, 6 Nov 1994 08:49:37 GMT", /* IMF-fixdate's day has two digits */
        "Sun, 06 Nov 94 08:49:37 GMT",  /* and its year four */
        "Sun, 06 Nov 1994 08:49:37 UTC",
        "Sun, 06 Nov 1994 08:49:37",
        "Sun, 06 Nov 1994 08:49:37 GMT x",
        "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Nov 1994 08:60:00 GMT",
        "Sun, 06 Nov 1994 08:49:61 GMT",
        "Sun, 31 Nov 1994 08:49:37 GMT", /* November has 30 days */
        "Sun, 00 Nov 1994 08:49:37 GMT",
        "Thu, 29 Feb 2023 00:00:00 GMT", /* not a leap year */
        "Thu, 29 Feb 1900 00:00:00 GMT", /* nor is a century but every fourth */
        "Sun, 06 Noo 1994 08:49:37 GMT",
        "Sux, 06 Nov 1994 08:49:37 GMT",
        "Sun,06 Nov 1994 08:49:37 GMT",
        "Sunday, 06-Nov-1994 08:49:37 GMT", /* RFC 850's year has two digits */
        "Sunday 06-Nov-94 08:49:37 GMT",
        "Sun Nov 6 08:49:37 1994", /* asctime pads a one-digit day */
        "Sun Nov 06 08:49:37 1994 GMT",
        "Sun, 06 Nov 1994 08:49:37 GMT\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int64_t t;
        if (ts_http_date_parse(bad[i], strlen(bad[i]), NOW, &t))
            fail_msg("\"%s\" accepted as %lld", bad[i], (long long)t);
    }
}

/* Each cut of a good date is read from a buffer of exactly its length
 * (under ASan a read past it stops the test) and refused. */
static void test_cuts(void **state)
{
    (void)state;
    static const char *const good[] = {"Sun, 06 Nov 1994 08:49:37 GMT",
                                       "Sunday, 06-Nov-94 08:49:37 GMT",
                                       "Sun Nov  6 08:49:37 1994"};
    for (size_t g = 0; g < sizeof good / sizeof *good; g++) {
        size_t n = strlen(good[g]);
        for (size_t cut = 0; cut < n; cut++) {
            char *exact = malloc(cut ? cut : 1);
            assert_non_null(exact);
            memcpy(exact, good[g], cut);
            int64_t t;
            if (ts_http_date_parse(exact, cut, NOW, &t))
                fail_msg("\"%.*s\" accepted", (int)cut, good[g]);
            free(exact);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_three_forms),   cmocka_unit_test(test_two_digit_years),
        cmocka_unit_test(test_against_glibc), cmocka_unit_test(test_refused),
        cmocka_unit_test(test_cuts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
