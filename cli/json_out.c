/* json_out.c — see json_out.h. */
#include "cli/json_out.h"

#include <string.h>

void ts_json_out_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        if (c == '"' || c == '\\') {
            fputc('\\', out);
            fputc(c, out);
        } else if (c == '\n') {
            fputs("\\n", out);
        } else if (c == '\t') {
            fputs("\\t", out);
        } else if (c < 0x20 || c == '<' || c == '>' || c == '&' || c == 0x7F) {
            fprintf(out, "\\u%04x", c);
        } else if (c == 0xC2 && p[1] >= 0x80 && p[1] <= 0x9F) {
            /* C1 controls (U+0080-U+009F: CSI, OSC, NEL): a terminal that
             * reads them in UTF-8 acts on them, as on an ESC sequence */
            fprintf(out, "\\u%04x", p[1]);
            p += 1;
        } else if (c == 0xE2 && p[1] == 0x80 &&
                   (p[2] == 0x8E || p[2] == 0x8F || (p[2] >= 0xA8 && p[2] <= 0xAE))) {
            /* U+200E/F marks, U+2028/9 (JavaScript's line ends), U+202A-E
             * (bidirectional embeddings and overrides): shown escaped, so
             * that a line is never read in another order than written */
            fprintf(out, "\\u20%02x", p[2] - 0x80);
            p += 2;
        } else if (c == 0xE2 && p[1] == 0x81 && p[2] >= 0xA6 && p[2] <= 0xA9) {
            fprintf(out, "\\u20%02x", p[2] - 0x40); /* U+2066-9: isolates */
            p += 2;
        } else if (c == 0xD8 && p[1] == 0x9C) {
            fputs("\\u061c", out); /* the Arabic letter mark */
            p += 1;
        } else {
            fputc(c, out);
        }
    }
    fputc('"', out);
}

void ts_json_out_member(FILE *out, const char *key, const char *s)
{
    ts_json_out_string(out, key);
    fputc(':', out);
    ts_json_out_string(out, s);
}
