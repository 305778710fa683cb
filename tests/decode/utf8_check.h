/* utf8_check.h — UTF-8 as the encoder tests and fuzzers check it, written
 * apart from reporter/json_buf.c so that a check does not trust the code it
 * checks: characters are decoded to their code point and the code point is
 * tested against RFC 3629 (shortest form, no UTF-16 surrogates, nothing
 * above U+10FFFF), where the encoders look at the first two bytes instead.
 *
 * Test-only and header-only (static inline: a user of part of it builds
 * with -Wunused-function -Werror). Used by tests/unit/test_otlp_proto.c and
 * tests/fuzz/fuzz_encoders.c. */
#ifndef TS_TEST_UTF8_CHECK_H
#define TS_TEST_UTF8_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Length of the valid UTF-8 character at s[0..n) (n >= 1), 0 when the
 * bytes there start none. */
static inline size_t utf8_char_at(const uint8_t *s, size_t n)
{
    uint8_t c = s[0];
    size_t len = c < 0x80                ? 1
                 : c >= 0xC0 && c < 0xE0 ? 2
                 : c >= 0xE0 && c < 0xF0 ? 3
                 : c >= 0xF0 && c < 0xF8 ? 4
                                         : 0;
    if (len == 0 || n < len)
        return 0;
    uint32_t cp = len == 1 ? c : c & (0x7Fu >> len);
    for (size_t k = 1; k < len; k++) {
        if ((s[k] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[k] & 0x3Fu);
    }
    static const uint32_t shortest[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < shortest[len] || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
        return 0;
    return len;
}

/* True when s[0..n) is valid UTF-8 (NUL included: it is a character). */
static inline bool utf8_ok(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t k = utf8_char_at(s + i, n - i);
        if (k == 0)
            return false;
        i += k;
    }
    return true;
}

#define UTF8_REPLACEMENT "\xef\xbf\xbd" /* U+FFFD */

/* What every encoder documents it makes of arbitrary bytes: valid
 * characters kept, each byte that starts none replaced by U+FFFD. Writes
 * to out (room for 3 * n bytes) and returns the length. */
static inline size_t utf8_expect_clean(const uint8_t *s, size_t n, uint8_t *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_char_at(s + i, n - i);
        if (k == 0) {
            for (size_t j = 0; j < 3; j++)
                out[o++] = (uint8_t)UTF8_REPLACEMENT[j];
            i++;
            continue;
        }
        for (size_t j = 0; j < k; j++)
            out[o++] = s[i + j];
        i += k;
    }
    return o;
}

#endif
