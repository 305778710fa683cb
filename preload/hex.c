/* hex.c — hex encoding of ids (see hex.h). */
#include "hex.h"

void ts_hex_encode(const unsigned char *in, size_t n, char *out)
{
    static const char digits[16] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0x0f];
    }
}

bool ts_hex_decode(const char *in, size_t n, unsigned char *out)
{
    for (size_t i = 0; i < n; i++) {
        int hi = ts_hex_digit((unsigned char)in[2 * i]);
        int lo = ts_hex_digit((unsigned char)in[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return true;
}
