/* terminal_text.h — which characters of a span's text must not reach a
 * terminal as they are: the viewer shows them as '?' (cli/trace_render.c),
 * the console exporter writes them as \u escapes (reporter/exporters.c),
 * `traceshim check` writes the names it reads from a file escaped
 * (ts_terminal_char: \x1b, \u202e). */
#ifndef TS_TERMINAL_TEXT_H
#define TS_TERMINAL_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* Is the character at u (the lead byte of a valid UTF-8 sequence) one
 * that moves the cursor, changes colours, or reorders or breaks the line:
 * the C0 controls, DEL, the C1 controls (U+0080 to U+009F), U+061C (the
 * Arabic letter mark), the bidirectional marks, embeddings, overrides and
 * isolates (U+200E, U+200F, U+202A to U+202E, U+2066 to U+2069) and the
 * line and paragraph separators (U+2028, U+2029)? A span name with U+202E
 * shows the rest of the line, the other columns too, backwards. */
static inline bool ts_terminal_unsafe(const unsigned char *u)
{
    if (u[0] < 0x20 || u[0] == 0x7F)
        return true;
    if (u[0] == 0xC2)
        return u[1] < 0xA0;
    if (u[0] == 0xD8)
        return u[1] == 0x9C;
    if (u[0] == 0xE2)
        return (u[1] == 0x80 && (u[2] == 0x8E || u[2] == 0x8F || (u[2] >= 0xA8 && u[2] <= 0xAE))) ||
               (u[1] == 0x81 && u[2] >= 0xA6 && u[2] <= 0xA9);
    return false;
}

/* The character at s (in a NUL-terminated string): returns its length in
 * bytes, and writes to esc how it is shown escaped, or "" when it can go
 * to a terminal as it is. Unsafe (ts_terminal_unsafe): \r, \n, \t, \xNN
 * for the other C0 controls and DEL, \uXXXX for the C1 controls and the
 * characters that reorder a line. Not valid UTF-8 (a byte that starts no
 * sequence, or a sequence cut short: its bytes up to the one that breaks
 * it) is \xNN per byte: a lone 0x9B is CSI to a terminal that takes 8-bit
 * controls. */
#define TS_TERMINAL_ESC_MAX 13 /* room for esc: up to three \xNN and the NUL */
static inline size_t ts_terminal_char(const char *s, char esc[TS_TERMINAL_ESC_MAX])
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    size_t n = u[0] < 0x80                   ? 1
               : u[0] >= 0xC2 && u[0] < 0xE0 ? 2
               : u[0] >= 0xE0 && u[0] < 0xF0 ? 3
               : u[0] >= 0xF0 && u[0] < 0xF5 ? 4
                                             : 0;
    size_t valid = n ? 1 : 0;
    while (valid && valid < n && (u[valid] & 0xC0) == 0x80)
        valid++;
    char *e = esc;
    if (valid < n || n == 0) { /* not UTF-8: each byte up to the one that breaks it */
        n = valid ? valid : 1;
        for (size_t i = 0; i < n; i++) {
            *e++ = '\\';
            *e++ = 'x';
            *e++ = hex[u[i] >> 4];
            *e++ = hex[u[i] & 0xF];
        }
    } else if (ts_terminal_unsafe(u)) {
        unsigned cp =
            n == 1   ? u[0]
            : n == 2 ? (unsigned)(u[0] & 0x1F) << 6 | (u[1] & 0x3F)
                     : (unsigned)(u[0] & 0x0F) << 12 | (unsigned)(u[1] & 0x3F) << 6 | (u[2] & 0x3F);
        *e++ = '\\';
        if (cp == '\r' || cp == '\n' || cp == '\t') {
            *e++ = cp == '\r' ? 'r' : cp == '\n' ? 'n' : 't';
        } else if (n == 1) {
            *e++ = 'x';
            *e++ = hex[cp >> 4];
            *e++ = hex[cp & 0xF];
        } else {
            *e++ = 'u';
            for (int shift = 12; shift >= 0; shift -= 4)
                *e++ = hex[(cp >> shift) & 0xF];
        }
    }
    *e = '\0';
    return n;
}

#endif
