/* hex.c — hex encoding of ids (see hex.h).
 *
 * Trace ids are encoded for every header the shim injects and decoded
 * from every context it extracts, so both go through tables: one load per
 * byte to encode, one per digit to decode, and the digits' validity is
 * checked once per string rather than once per digit. On x86-64, ids are
 * encoded and decoded sixteen digits at a time with SSE2 (part of every
 * x86-64), the tables taking what is left. */
#include "hex.h"

#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

const char ts_hex_pairs[513] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
                               "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
                               "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
                               "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
                               "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
                               "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
                               "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
                               "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";

/* What a character is worth as a hex digit: its value for 0-9 and a-f,
 * HEX_UPPER plus its value for A-F, HEX_BAD for anything else. OR-ing the
 * entries of a string together tells at once whether all were digits, and
 * whether any was upper case. */
#define X 0xff /* HEX_BAD */
#define HEX_UPPER 0x10
#define HEX_BAD 0x80
static const unsigned char hex_value[256] = {
    X, X,  X,  X,  X,  X,  X,  X, X, X, X, X, X, X, X, X, /* 00 */
    X, X,  X,  X,  X,  X,  X,  X, X, X, X, X, X, X, X, X, /* 10 */
    X, X,  X,  X,  X,  X,  X,  X, X, X, X, X, X, X, X, X, /* 20 */
    0, 1,  2,  3,  4,  5,  6,  7, 8, 9, X, X, X, X, X, X, /* 30 */
    X, 26, 27, 28, 29, 30, 31, X, X, X, X, X, X, X, X, X, /* 40: A-F */
    X, X,  X,  X,  X,  X,  X,  X, X, X, X, X, X, X, X, X, /* 50 */
    X, 10, 11, 12, 13, 14, 15, X, X, X, X, X, X, X, X, X, /* 60: a-f */
    X, X,  X,  X,  X,  X,  X,  X, X, X, X, X, X, X, X, X, /* 70 */
    X, X,  X,  X,  X,  X,  X,  X, X, X, X, X, X, X, X, X, /* 80 */
    X, X,  X,  X,  X,  X,  X,  X, X, X, X, X, X, X, X, X, /* 90 */
    X, X,  X,  X,  X,  X,  X,  X, X, X, X, X, X, X, X, X, /* a0 */
    X, X,  X,  X,  X,  X,  X,  X, X, X, X, X, X, X, X, X, /* b0 */
    X, X,  X,  X,  X,  X,  X,  X, X, X, X, X, X, X, X, X, /* c0 */
    X, X,  X,  X,  X,  X,  X,  X, X, X, X, X, X, X, X, X, /* d0 */
    X, X,  X,  X,  X,  X,  X,  X, X, X, X, X, X, X, X, X, /* e0 */
    X, X,  X,  X,  X,  X,  X,  X, X, X, X, X, X, X, X, X, /* f0 */
};
#undef X


void ts_hex_encode(const unsigned char *in, size_t n, char *out)
{
    size_t i = 0;
#ifdef __SSE2__
    for (; i + 8 <= n; i += 8) /* ids are 8 and 16 bytes */
        ts_hex_encode_8(in + i, out + 2 * i);
#endif
    for (; i + 4 <= n; i += 4) { /* four pairs a turn */
        memcpy(out + 2 * i, ts_hex_pairs + 2 * in[i], 2);
        memcpy(out + 2 * i + 2, ts_hex_pairs + 2 * in[i + 1], 2);
        memcpy(out + 2 * i + 4, ts_hex_pairs + 2 * in[i + 2], 2);
        memcpy(out + 2 * i + 6, ts_hex_pairs + 2 * in[i + 3], 2);
    }
    for (; i < n; i++)
        memcpy(out + 2 * i, ts_hex_pairs + 2 * in[i], 2);
}

#ifdef __SSE2__
/* Sixteen digits at p into eight bytes at out; returns what OR-ing their
 * hex_value entries would (HEX_BAD, HEX_UPPER). SSE2 compares are signed,
 * so a range is tested as "x - lo is at most hi - lo" with unsigned
 * saturation: a difference that saturates to zero was in range. */
static unsigned hex_decode_16(const char *p, unsigned char *out)
{
    const __m128i zero = _mm_setzero_si128();
    const __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
    const __m128i digit =
        _mm_cmpeq_epi8(_mm_subs_epu8(_mm_sub_epi8(x, _mm_set1_epi8('0')), _mm_set1_epi8(9)), zero);
    /* x | 0x20 is in a..f only for the letters a-f and A-F */
    const __m128i letter = _mm_cmpeq_epi8(
        _mm_subs_epu8(_mm_sub_epi8(_mm_or_si128(x, _mm_set1_epi8(0x20)), _mm_set1_epi8('a')),
                      _mm_set1_epi8(5)),
        zero);
    unsigned digits = (unsigned)_mm_movemask_epi8(digit);
    unsigned letters = (unsigned)_mm_movemask_epi8(letter);
    /* bit 0x20 of each byte, moved to where movemask reads: clear for A-F */
    unsigned lower_bits = (unsigned)_mm_movemask_epi8(_mm_slli_epi16(x, 2));
    unsigned seen = 0;
    if ((digits | letters) != 0xffff)
        seen |= HEX_BAD;
    if (letters & ~lower_bits)
        seen |= HEX_UPPER;

    /* Each digit's value in its byte ('a' is 0x61: 1 + 9), then each pair
     * (the first digit in the low byte of a 16-bit lane) into one byte:
     * the first digit is the high nibble. */
    const __m128i value = _mm_add_epi8(_mm_and_si128(x, _mm_set1_epi8(0x0f)),
                                       _mm_and_si128(letter, _mm_set1_epi8(9)));
    const __m128i pairs = _mm_and_si128(
        _mm_or_si128(_mm_slli_epi16(value, 4), _mm_srli_epi16(value, 8)), _mm_set1_epi16(0x00ff));
    _mm_storel_epi64((__m128i *)(void *)out, _mm_packus_epi16(pairs, pairs));
    return seen;
}
#endif

/* Decode 2n digits into out; returns the OR of their table entries, which
 * the callers test for the characters they refuse. out is written even
 * when the string is refused (callers then ignore it). */
static unsigned hex_decode_all(const char *in, size_t n, unsigned char *out)
{
    unsigned seen = 0;
    size_t i = 0;
#ifdef __SSE2__
    for (; i + 8 <= n; i += 8)
        seen |= hex_decode_16(in + 2 * i, out + i);
#endif
    for (; i < n; i++) {
        unsigned hi = hex_value[(unsigned char)in[2 * i]];
        unsigned lo = hex_value[(unsigned char)in[2 * i + 1]];
        seen |= hi | lo;
        out[i] = (unsigned char)((hi & 0x0f) << 4 | (lo & 0x0f));
    }
    return seen;
}

bool ts_hex_decode(const char *in, size_t n, unsigned char *out)
{
    return (hex_decode_all(in, n, out) & HEX_BAD) == 0;
}

bool ts_hex_decode_lower(const char *in, size_t n, unsigned char *out)
{
    return (hex_decode_all(in, n, out) & (HEX_BAD | HEX_UPPER)) == 0;
}
