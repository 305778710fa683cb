/* terminal_text.h — which characters of a span's text must not reach a
 * terminal as they are: the viewer shows them as '?' (cli/trace_render.c),
 * the console exporter writes them as \u escapes (reporter/exporters.c). */
#ifndef TS_TERMINAL_TEXT_H
#define TS_TERMINAL_TEXT_H

#include <stdbool.h>

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

#endif
