/* ascii.h — locale-free ASCII case folding for names in configuration,
 * URLs and HTTP heads. strcasecmp and tolower follow the program's locale,
 * which may not be set up yet (the shim reads its configuration before
 * main) and must not change what a header name matches. */
#ifndef TS_ASCII_H
#define TS_ASCII_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline bool ts_ascii_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* v in decimal, written backwards to end just before end (which has room
 * for 20 digits before it: a uint64_t's most); returns where its first
 * digit is. By hand, where snprintf's own frames would take kilobytes of
 * a thread's stack (and a signal handler may be the caller). */
static inline char *ts_ascii_decimal_before(char *end, uint64_t v)
{
    do
        *--end = (char)('0' + v % 10);
    while (v /= 10);
    return end;
}

/* An ASCII control byte: below the space, or DEL. None may stand in an
 * HTTP field value (RFC 9110 §5.5: a tab alone is allowed there), a URL
 * or a message line. */
static inline bool ts_ascii_is_control(char c)
{
    return (unsigned char)c < 0x20 || c == 0x7f;
}

static inline char ts_ascii_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* s[0..n) equals the lower-case literal lit, ignoring ASCII case. */
static inline bool ts_ascii_eq_nocase(const char *s, size_t n, const char *lit)
{
    size_t l = strlen(lit);
    if (n != l)
        return false;
    for (size_t i = 0; i < n; i++)
        if (ts_ascii_lower(s[i]) != lit[i])
            return false;
    return true;
}

/* Eight bytes at p, unaligned. */
static inline uint64_t ts_ascii_word(const char *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
    return w;
}

/* Eight bytes of s against eight of lit, ignoring case (see below). */
static inline bool ts_ascii_word_eq_lower(const char *s, const char *lit)
{
    uint64_t l = ts_ascii_word(lit);
    uint64_t fold = (l & 0x4040404040404040ull) >> 1;
    return (ts_ascii_word(s) | fold) == l;
}

/* A header name against a name the shim looks for: s[0..n) equals
 * lit[0..n) ignoring ASCII case, for a lit made only of lower-case
 * letters, digits and '-' (every header name the shim reads is). Each
 * header of every request is tested against a few names, so this goes
 * eight bytes at a time: a byte of lit with bit 0x40 set is a letter, and
 * is matched by either case of it (the byte or'ed with 0x20); any other
 * byte of lit must be matched exactly. The lengths are known equal. */
static inline bool ts_ascii_eq_lower_n(const char *s, const char *lit, size_t n)
{
    if (n < 8) {
        for (size_t i = 0; i < n; i++) {
            char fold = (char)((lit[i] & 0x40) >> 1);
            if ((char)(s[i] | fold) != lit[i])
                return false;
        }
        return true;
    }
    /* Whole words, the last one overlapping the one before it. */
    for (size_t i = 0; i + 8 < n; i += 8)
        if (!ts_ascii_word_eq_lower(s + i, lit + i))
            return false;
    return ts_ascii_word_eq_lower(s + n - 8, lit + n - 8);
}

/* The NUL-terminated s starts with the lower-case literal prefix, ignoring
 * ASCII case. */
static inline bool ts_ascii_prefix_nocase(const char *s, const char *prefix)
{
    size_t l = strlen(prefix);
    return strnlen(s, l) == l && ts_ascii_eq_nocase(s, l, prefix);
}

/* s[0..*len) without the blanks (space, tab) at either end: returns the
 * new start and shortens *len. */
static inline const char *ts_ascii_trim(const char *s, size_t *len)
{
    while (*len && (*s == ' ' || *s == '\t')) {
        s++;
        (*len)--;
    }
    while (*len && (s[*len - 1] == ' ' || s[*len - 1] == '\t'))
        (*len)--;
    return s;
}

#endif
