/* c_number.h — decimal numbers read and written with '.' as the decimal
 * point, whatever the locale. The shim runs inside programs that may have
 * called setlocale(LC_ALL, "") under a locale whose decimal point is a
 * comma (de_DE): there strtod stops at the '.' ("0.99" reads as 0) and
 * printf writes "0,001". The numbers the shim reads and writes are JSON's
 * and Jaeger's, always with '.'. No libc call beyond those the library
 * already makes: each new import costs every traced process a symbol
 * lookup at its start (strtod_l with a "C" locale from newlocale would be
 * two, uselocale a third). */
#ifndef TS_C_NUMBER_H
#define TS_C_NUMBER_H

#include <stdbool.h>
#include <stddef.h>

/* s[0..len): -?DIGITS(.DIGITS)?([eE][+-]?DIGITS)? (JSON's number grammar,
 * leading zeros allowed) into *out, rounded as strtod rounds. False when
 * s is not such a number, or out of memory (a number of more than 100 or
 * so bytes is copied to the heap). */
bool ts_c_number_read(const char *s, size_t len, double *out);

/* v as the shortest of %.15g and %.17g that reads back as v, with '.' as
 * the decimal point, NUL-terminated. Returns the length, 0 when v is not
 * finite or cap is too small. */
size_t ts_c_number_write(double v, char *out, size_t cap);

#endif
