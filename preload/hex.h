/* hex.h — hexadecimal digits and byte strings, as trace ids travel. */
#ifndef TS_HEX_H
#define TS_HEX_H

#include <stdbool.h>
#include <stddef.h>

/* "00" "01" ... "ff": byte b's two lower-case hex digits are at 2 * b
 * (the hooks' hex and the encoders' ids share it). */
extern const char ts_hex_pairs[513];

/* Value of one hex digit (either case), or -1. */
static inline int ts_hex_digit(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Lower-case hex of n bytes into out (2n chars, not NUL-terminated). */
void ts_hex_encode(const unsigned char *in, size_t n, char *out);

/* Decode exactly 2n lower- or upper-case hex chars; false on any other
 * char (out[0..n) may have been written then). */
bool ts_hex_decode(const char *in, size_t n, unsigned char *out);

/* The same, refusing upper case too (W3C trace context is lower case). */
bool ts_hex_decode_lower(const char *in, size_t n, unsigned char *out);

#endif
