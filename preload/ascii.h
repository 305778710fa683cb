/* ascii.h — locale-free ASCII case folding for names in configuration,
 * URLs and HTTP heads. strcasecmp and tolower follow the program's locale,
 * which may not be set up yet (the shim reads its configuration before
 * main) and must not change what a header name matches. */
#ifndef TS_ASCII_H
#define TS_ASCII_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

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
