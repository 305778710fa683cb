/* http_date.h — an HTTP-date (RFC 9110 5.6.7) as seconds since the Unix
 * epoch: what a Retry-After field holds when it is not a number of
 * seconds. All three forms a recipient must accept are read: IMF-fixdate
 * ("Sun, 06 Nov 1994 08:49:37 GMT"), the obsolete RFC 850 form
 * ("Sunday, 06-Nov-94 08:49:37 GMT") and asctime's ("Sun Nov  6 08:49:37
 * 1994"). Bytes from the network: reads stay within the given length. */
#ifndef TS_HTTP_DATE_H
#define TS_HTTP_DATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Parse s[0..n) (blanks around it allowed) into *epoch_s. now_s (seconds
 * since the epoch) places an RFC 850 two-digit year: one that would be
 * more than 50 years ahead is the century before (RFC 9110's rule).
 * False when s is not an HTTP-date or names a day that does not exist. */
bool ts_http_date_parse(const char *s, size_t n, int64_t now_s, int64_t *epoch_s);

#endif
