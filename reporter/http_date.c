/* http_date.c — see http_date.h. */
#include "http_date.h"

#include <string.h>

struct date_in {
    const char *p, *end;
};

/* The literal lit next, exactly (HTTP-date is case-sensitive). */
static bool take(struct date_in *in, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(in->end - in->p) < n || memcmp(in->p, lit, n) != 0)
        return false;
    in->p += n;
    return true;
}

/* Exactly `digits` decimal digits. */
static bool take_number(struct date_in *in, int digits, int *out)
{
    if (in->end - in->p < digits)
        return false;
    int v = 0;
    for (int i = 0; i < digits; i++) {
        char c = in->p[i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    in->p += digits;
    *out = v;
    return true;
}

/* One of names[0..count) next; its index in *out. */
static bool take_name(struct date_in *in, const char *const *names, int count, int *out)
{
    for (int i = 0; i < count; i++)
        if (take(in, names[i])) {
            *out = i;
            return true;
        }
    return false;
}

static const char *const short_days[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
static const char *const long_days[] = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                        "Friday", "Saturday", "Sunday"};
static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* hour ":" minute ":" second */
static bool take_time(struct date_in *in, int *h, int *m, int *s)
{
    return take_number(in, 2, h) && take(in, ":") && take_number(in, 2, m) && take(in, ":") &&
           take_number(in, 2, s) && *h <= 23 && *m <= 59 && *s <= 60; /* 60: a leap second */
}

static bool leap_year(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days from 1970-01-01 to y-m-d (m 1..12) in the Gregorian calendar:
 * whole 400-year eras of 146,097 days, then the days of the era's years,
 * counted from March so that February's length comes last. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t year_of_era = y - era * 400;
    int64_t day_of_year = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    return era * 146097 + day_of_era - 719468; /* 719,468: days from 0000-03-01 to 1970-01-01 */
}

/* The epoch seconds of a date, or false when the day does not exist. */
static bool to_epoch(int64_t y, int mon, int d, int h, int m, int s, int64_t *out)
{
    static const int month_days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int last = month_days[mon - 1] + (mon == 2 && leap_year(y));
    if (d < 1 || d > last)
        return false;
    *out = days_from_civil(y, mon, d) * 86400 + h * 3600 + m * 60 + s;
    return true;
}

/* The year an RFC 850 date's two digits name: the latest year ending in
 * them that is not more than 50 years after now's. */
static int64_t rfc850_year(int yy, int64_t now_s)
{
    int64_t days = now_s / 86400;
    /* the current year, near enough: 365.2425 days a year */
    int64_t now_year = 1970 + (days * 400) / 146097;
    int64_t y = now_year - now_year % 100 + yy;
    if (y > now_year + 50)
        y -= 100;
    return y;
}

bool ts_http_date_parse(const char *s, size_t n, int64_t now_s, int64_t *epoch_s)
{
    while (n && (*s == ' ' || *s == '\t'))
        s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        n--;
    struct date_in in = {s, s + n};
    int wday, day, mon, year, h, m, sec;
    bool ok;
    if (take_name(&in, long_days, 7, &wday)) {
        /* RFC 850: Sunday, 06-Nov-94 08:49:37 GMT */
        ok = take(&in, ", ") && take_number(&in, 2, &day) && take(&in, "-") &&
             take_name(&in, months, 12, &mon) && take(&in, "-") && take_number(&in, 2, &year) &&
             take(&in, " ") && take_time(&in, &h, &m, &sec) && take(&in, " GMT") &&
             to_epoch(rfc850_year(year, now_s), mon + 1, day, h, m, sec, epoch_s);
    } else if (take_name(&in, short_days, 7, &wday)) {
        if (take(&in, ", ")) {
            /* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
            ok = take_number(&in, 2, &day) && take(&in, " ") && take_name(&in, months, 12, &mon) &&
                 take(&in, " ") && take_number(&in, 4, &year) && take(&in, " ") &&
                 take_time(&in, &h, &m, &sec) && take(&in, " GMT") &&
                 to_epoch(year, mon + 1, day, h, m, sec, epoch_s);
        } else {
            /* asctime: Sun Nov  6 08:49:37 1994 (a one-digit day after a space) */
            ok = take(&in, " ") && take_name(&in, months, 12, &mon) && take(&in, " ") &&
                 (take(&in, " ") ? take_number(&in, 1, &day) : take_number(&in, 2, &day)) &&
                 take(&in, " ") && take_time(&in, &h, &m, &sec) && take(&in, " ") &&
                 take_number(&in, 4, &year) && to_epoch(year, mon + 1, day, h, m, sec, epoch_s);
        }
    } else {
        return false;
    }
    return ok && in.p == in.end;
}
