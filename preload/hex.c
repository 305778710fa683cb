/* hex.c — hex encoding of ids (see hex.h).
 *
 * Trace ids are encoded for every header the shim injects and decoded
 * from every context it extracts, so both go through tables: one load per
 * byte to encode, one per digit to decode, and the digits' validity is
 * checked once per string rather than once per digit. */
#include "hex.h"

#include <string.h>

const char ts_hex_pairs[513] =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
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
    for (; i + 4 <= n; i += 4) { /* ids are whole words: four pairs a turn */
        memcpy(out + 2 * i, ts_hex_pairs + 2 * in[i], 2);
        memcpy(out + 2 * i + 2, ts_hex_pairs + 2 * in[i + 1], 2);
        memcpy(out + 2 * i + 4, ts_hex_pairs + 2 * in[i + 2], 2);
        memcpy(out + 2 * i + 6, ts_hex_pairs + 2 * in[i + 3], 2);
    }
    for (; i < n; i++)
        memcpy(out + 2 * i, ts_hex_pairs + 2 * in[i], 2);
}

/* Decode 2n digits into out; returns the OR of their table entries, which
 * the callers test for the characters they refuse. out is written even
 * when the string is refused (callers then ignore it). */
static unsigned hex_decode_all(const char *in, size_t n, unsigned char *out)
{
    unsigned seen = 0;
    for (size_t i = 0; i < n; i++) {
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
