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

#ifdef __SSE2__
#include <emmintrin.h>

/* Eight bytes at in as sixteen lower-case digits at out, with SSE2 (part
 * of every x86-64): each byte's two nibbles side by side, then '0' added
 * to each, and 'a' - '0' - 10 more to those above 9. Inline: the hooks'
 * headers and the encoders' ids both write ids this way. */
static inline void ts_hex_encode_8(const unsigned char *in, char *out)
{
    const __m128i nibble = _mm_set1_epi8(0x0f);
    const __m128i x = _mm_loadl_epi64((const __m128i *)(const void *)in);
    const __m128i hi = _mm_and_si128(_mm_srli_epi16(x, 4), nibble);
    const __m128i digits = _mm_unpacklo_epi8(hi, _mm_and_si128(x, nibble));
    const __m128i letters =
        _mm_and_si128(_mm_cmpgt_epi8(digits, _mm_set1_epi8(9)), _mm_set1_epi8('a' - '0' - 10));
    _mm_storeu_si128((__m128i *)(void *)out,
                     _mm_add_epi8(_mm_add_epi8(digits, _mm_set1_epi8('0')), letters));
}
#endif

/* Lower-case hex of n bytes into out (2n chars, not NUL-terminated). */
void ts_hex_encode(const unsigned char *in, size_t n, char *out);

/* Decode exactly 2n lower- or upper-case hex chars; false on any other
 * char (out[0..n) may have been written then). */
bool ts_hex_decode(const char *in, size_t n, unsigned char *out);

/* The same, refusing upper case too (W3C trace context is lower case). */
bool ts_hex_decode_lower(const char *in, size_t n, unsigned char *out);

#endif
