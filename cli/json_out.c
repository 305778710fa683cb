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
        } else if (c == 0xE2 && p[1] == 0x80 && (p[2] == 0xA8 || p[2] == 0xA9)) {
            fputs(p[2] == 0xA8 ? "\\u2028" : "\\u2029", out);
            p += 2;
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
