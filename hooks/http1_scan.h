/* http1_scan.h — the head parsers' bulk scans (internal to http1.c; the
 * unit test includes it to hold every version to a byte-by-byte one).
 *
 * Nearly every byte of a head is in a header name or a field value, and
 * the program's thread pays for each one, so runs of them are tested a
 * block at a time: sixteen bytes with SSE2 (part of every x86-64), eight
 * in a 64-bit word (SWAR) elsewhere and for what is left after the last
 * whole sixteen. Each scan returns the first byte that fails its test, or
 * the first of the last few bytes, too few for a block: the caller's
 * byte-by-byte loop goes on from there and decides everything the scan did
 * not, so a scan only ever skips bytes the loop would have skipped. */
#ifndef TS_HTTP1_SCAN_H
#define TS_HTTP1_SCAN_H

#include <stdint.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define TS_HTTP_ONES 0x0101010101010101ull
#define TS_HTTP_HIGHS 0x8080808080808080ull

/* Eight bytes at p with the first in the lowest byte, whatever the
 * machine's order: the index of a word's first failing byte is then its
 * lowest flagged bit's, on every machine. */
static inline uint64_t ts_http_word_le(const char *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    return w;
}

/* The byte of a word (from ts_http_word_le) that holds the lowest 0x80
 * flag of a non-zero mask. */
static inline unsigned ts_http_first_flag(uint64_t mask)
{
    return (unsigned)__builtin_ctzll(mask) / 8;
}

/* 0x80 in the bytes of w that are not a letter, a digit or '-' (every byte
 * of nearly every header name; the rarer tchars are the loop's). Each test
 * adds to bytes with their top bit cleared, so no sum carries into the
 * next byte and every byte's flag is exact; bytes of 0x80 and up are
 * flagged by the last line. A byte x is at least lo when x + (0x80 - lo)
 * reaches 0x80, and above hi when x + (0x7f - hi) does. */
static inline uint64_t ts_http_name_misses(uint64_t w)
{
    const uint64_t low7 = w & ~TS_HTTP_HIGHS;
    /* x | 0x20 is a lower-case letter only for the letters of either case */
    const uint64_t folded = low7 | (TS_HTTP_ONES * 0x20);
    const uint64_t letter =
        (folded + TS_HTTP_ONES * (0x80 - 'a')) & ~(folded + TS_HTTP_ONES * (0x7f - 'z'));
    const uint64_t digit =
        (low7 + TS_HTTP_ONES * (0x80 - '0')) & ~(low7 + TS_HTTP_ONES * (0x7f - '9'));
    /* x ^ '-' is zero for '-' alone, and only zero stays below 0x80 */
    const uint64_t dash = ~((low7 ^ (TS_HTTP_ONES * '-')) + TS_HTTP_ONES * 0x7f);
    return ~((letter | digit | dash) & ~w) & TS_HTTP_HIGHS;
}

/* 0x80 in the bytes of w below `least` (at most 0x80) or DEL. Only the
 * lowest flag is exact: a borrow can flag the bytes after the first real
 * one, never a byte before it, which is all the scans ask of it. */
static inline uint64_t ts_http_plain_misses(uint64_t w, unsigned char least)
{
    const uint64_t below = (w - TS_HTTP_ONES * least) & ~w & TS_HTTP_HIGHS;
    const uint64_t x = w ^ (TS_HTTP_ONES * 0x7f); /* DEL becomes a zero byte */
    const uint64_t del = (x - TS_HTTP_ONES) & ~x & TS_HTTP_HIGHS;
    return below | del;
}

/* The word-at-a-time scans, on their own so the tests can reach them on
 * machines that take the SSE2 ones. */
static inline const char *ts_http_scan_name_swar(const char *p, const char *end)
{
    for (; end - p >= 8; p += 8) {
        uint64_t miss = ts_http_name_misses(ts_http_word_le(p));
        if (miss)
            return p + ts_http_first_flag(miss);
    }
    return p;
}

static inline const char *ts_http_scan_plain_swar(const char *p, const char *end,
                                                  unsigned char least)
{
    for (; end - p >= 8; p += 8) {
        uint64_t miss = ts_http_plain_misses(ts_http_word_le(p), least);
        if (miss)
            return p + ts_http_first_flag(miss);
    }
    return p;
}

#ifdef __SSE2__
/* Sixteen bytes' worth of each: SSE2 compares are signed, so the ranges
 * are tested as "x - lo is at most hi - lo" with unsigned saturation
 * (a difference that saturates to zero was in range). */
static inline const char *ts_http_scan_name_sse2(const char *p, const char *end)
{
    const __m128i zero = _mm_setzero_si128();
    for (; end - p >= 16; p += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
        __m128i folded = _mm_or_si128(x, _mm_set1_epi8(0x20));
        __m128i letter = _mm_cmpeq_epi8(
            _mm_subs_epu8(_mm_sub_epi8(folded, _mm_set1_epi8('a')), _mm_set1_epi8('z' - 'a')),
            zero);
        __m128i digit = _mm_cmpeq_epi8(
            _mm_subs_epu8(_mm_sub_epi8(x, _mm_set1_epi8('0')), _mm_set1_epi8('9' - '0')), zero);
        __m128i dash = _mm_cmpeq_epi8(x, _mm_set1_epi8('-'));
        unsigned hits =
            (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(letter, digit), dash));
        if (hits != 0xffff)
            return p + __builtin_ctz(~hits);
    }
    return ts_http_scan_name_swar(p, end);
}

static inline const char *ts_http_scan_plain_sse2(const char *p, const char *end,
                                                  unsigned char least)
{
    const __m128i zero = _mm_setzero_si128();
    const __m128i top = _mm_set1_epi8((char)(least - 1));
    for (; end - p >= 16; p += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
        __m128i below = _mm_cmpeq_epi8(_mm_subs_epu8(x, top), zero);
        __m128i del = _mm_cmpeq_epi8(x, _mm_set1_epi8(0x7f));
        unsigned miss = (unsigned)_mm_movemask_epi8(_mm_or_si128(below, del));
        if (miss)
            return p + __builtin_ctz(miss);
    }
    return ts_http_scan_plain_swar(p, end, least);
}
#endif

#ifdef __SSE2__
/* Masks for the parser's one-line fast path (http1.c): bit i set when
 * byte i of the sixteen at p stops a header name (it is not a letter, a
 * digit or '-'), or may stop a field value. Signed compares test a range
 * as "x + (0x80 - lo) is below -0x80 + (hi - lo + 1)": only bytes in
 * [lo, hi] land there. */
static inline unsigned ts_http_name_stops(const char *p)
{
    const __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
    const __m128i folded = _mm_or_si128(x, _mm_set1_epi8(0x20));
    const __m128i letter = _mm_cmplt_epi8(_mm_add_epi8(folded, _mm_set1_epi8((char)(0x80 - 'a'))),
                                          _mm_set1_epi8((char)(0x80 + 26)));
    const __m128i digit = _mm_cmplt_epi8(_mm_add_epi8(x, _mm_set1_epi8((char)(0x80 - '0'))),
                                         _mm_set1_epi8((char)(0x80 + 10)));
    const __m128i dash = _mm_cmpeq_epi8(x, _mm_set1_epi8('-'));
    return (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(letter, digit), dash)) ^ 0xffff;
}

/* The bytes outside [least, 0x7e], least being 0x20 or 0x21: those that
 * may stop a field value (least 0x20) or a request target (0x21, so the
 * space too). The controls that do stop them (all but tab), DEL, and also
 * tab and obs-text (0x80 and up), which a value or target may hold but
 * seldom does: the fast paths leave one with those to the byte-by-byte
 * code. One compare tests the range: x + 1 is, as a signed byte, above
 * least for exactly the bytes in it (DEL becomes -0x80, obs-text negative
 * too). */
static inline unsigned ts_http_visible_stops(const char *p, char least)
{
    const __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
    const __m128i visible = _mm_cmpgt_epi8(_mm_add_epi8(x, _mm_set1_epi8(1)), _mm_set1_epi8(least));
    return (unsigned)_mm_movemask_epi8(visible) ^ 0xffff;
}

static inline unsigned ts_http_value_stops(const char *p)
{
    return ts_http_visible_stops(p, 0x20);
}

static inline unsigned ts_http_target_stops(const char *p)
{
    return ts_http_visible_stops(p, 0x21);
}
#endif

/* Past the letters, digits and '-' from p (see the top of the file). */
static inline const char *ts_http_scan_name(const char *p, const char *end)
{
#ifdef __SSE2__
    return ts_http_scan_name_sse2(p, end);
#else
    return ts_http_scan_name_swar(p, end);
#endif
}

/* Past the bytes from p that are neither below least (1..0x80) nor DEL. */
static inline const char *ts_http_scan_plain(const char *p, const char *end, unsigned char least)
{
#ifdef __SSE2__
    return ts_http_scan_plain_sse2(p, end, least);
#else
    return ts_http_scan_plain_swar(p, end, least);
#endif
}

#endif
