/* c_number.c — see c_number.h.
 *
 * Reading: strtod rounds correctly but takes the locale's decimal point,
 * while digits, a sign and an exponent mean the same in every locale. So
 * the point is folded into the exponent ("12.5e3" is read as "125e2") and
 * strtod sees no decimal point at all. Writing: printf's %g puts the
 * locale's decimal point (one byte or more) between two digits, and '.'
 * replaces it. */
#include "common/c_number.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bigger exponents than this are all the same to strtod (inf or 0), and
 * with it a long mantissa's shift cannot overflow. */
#define C_NUMBER_EXP_MAX 100000000

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

bool ts_c_number_read(const char *s, size_t len, double *out)
{
    size_t i = 0;
    bool negative = i < len && s[i] == '-';
    i += negative;
    size_t int_at = i;
    while (i < len && is_digit(s[i]))
        i++;
    size_t int_len = i - int_at, frac_at = i, frac_len = 0;
    if (i < len && s[i] == '.') {
        frac_at = ++i;
        while (i < len && is_digit(s[i]))
            i++;
        frac_len = i - frac_at;
        if (!frac_len)
            return false;
    }
    if (!int_len)
        return false;
    int64_t exp10 = 0;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        bool exp_negative = i < len && s[i] == '-';
        i += i < len && (s[i] == '-' || s[i] == '+');
        size_t exp_at = i;
        for (; i < len && is_digit(s[i]); i++)
            if (exp10 < C_NUMBER_EXP_MAX)
                exp10 = exp10 * 10 + (s[i] - '0');
        if (i == exp_at)
            return false;
        exp10 = exp_negative ? -exp10 : exp10;
    }
    if (i != len)
        return false;
    /* the fraction's digits join the integer's, the exponent makes up for
     * them; the shift is capped like the exponent */
    exp10 -= frac_len < C_NUMBER_EXP_MAX ? (int64_t)frac_len : C_NUMBER_EXP_MAX;

    char stack[128];
    size_t need = 1 + int_len + frac_len + 24;
    char *buf = need <= sizeof stack ? stack : malloc(need);
    if (!buf)
        return false;
    size_t n = 0;
    if (negative)
        buf[n++] = '-';
    memcpy(buf + n, s + int_at, int_len);
    n += int_len;
    memcpy(buf + n, s + frac_at, frac_len);
    n += frac_len;
    snprintf(buf + n, need - n, "e%lld", (long long)exp10);
    *out = strtod(buf, NULL);
    if (buf != stack)
        free(buf);
    return true;
}

/* out[0..n) as %g wrote it, its decimal point (whatever bytes the locale
 * gives it, between two digits) made '.'. Returns the new length. */
static size_t c_number_point(char *out, size_t n)
{
    size_t at = 0;
    while (at < n && (is_digit(out[at]) || out[at] == '-'))
        at++;
    size_t end = at;
    while (end < n && !is_digit(out[end]) && out[end] != 'e')
        end++;
    if (end == at || end == n || !is_digit(out[end])) /* no fraction: "100", "1e-05" */
        return n;
    out[at] = '.';
    memmove(out + at + 1, out + end, n - end + 1); /* with the NUL */
    return n - (end - at - 1);
}

/* v with digits significant digits into out; its length, or 0. */
static size_t c_number_format(double v, int digits, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%.*g", digits, v);
    if (n <= 0 || (size_t)n >= cap)
        return 0;
    return c_number_point(out, (size_t)n);
}

size_t ts_c_number_write(double v, char *out, size_t cap)
{
    if (!isfinite(v))
        return 0;
    size_t n = c_number_format(v, 15, out, cap);
    double back;
    if (n && ts_c_number_read(out, n, &back) && back == v)
        return n;
    return c_number_format(v, 17, out, cap); /* 17 digits always read back */
}
