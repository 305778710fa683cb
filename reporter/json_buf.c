/* json_buf.c — growable JSON text buffer (see json_buf.h). */
#include "json_buf.h"

#include <stdlib.h>
#include <string.h>

static const char ts_json_hexdig[] = "0123456789abcdef";

void ts_json_buf_init(struct ts_json_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->failed = false;
}

void ts_json_buf_free(struct ts_json_buf *b)
{
    free(b->data);
    ts_json_buf_init(b);
}

void ts_json_buf_reset(struct ts_json_buf *b)
{
    b->len = 0;
    b->failed = false;
}

void ts_json_buf_truncate(struct ts_json_buf *b, size_t len)
{
    if (len < b->len)
        b->len = len;
}

bool ts_json_buf_reserve(struct ts_json_buf *b, size_t extra)
{
    if (b->failed)
        return false;
    if (extra <= b->cap - b->len)
        return true;
    if (extra > SIZE_MAX / 2 - b->len) {
        b->failed = true;
        return false;
    }
    size_t need = b->len + extra;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) {
        b->failed = true;
        return false;
    }
    b->data = p;
    b->cap = cap;
    return true;
}

void ts_json_buf_append_slow(struct ts_json_buf *b, const void *p, size_t n)
{
    if (n == 0 || !ts_json_buf_reserve(b, n))
        return;
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

#define TS_UTF8_REPLACEMENT "\xEF\xBF\xBD" /* U+FFFD REPLACEMENT CHARACTER */
#define TS_UTF8_REPLACEMENT_LEN (sizeof TS_UTF8_REPLACEMENT - 1)

size_t ts_utf8_char_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    /* The allowed range of the 2nd byte: RFC 3629's table, which rules out
     * overlong forms, surrogates and code points above U+10FFFF by the
     * first two bytes alone. */
    unsigned char lo = 0x80, hi = 0xBF;
    if (c < 0x80) {
        return 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0; /* overlong */
        else if (c == 0xED)
            hi = 0x9F; /* UTF-16 surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90; /* overlong */
        else if (c == 0xF4)
            hi = 0x8F; /* above U+10FFFF */
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return len;
}

size_t ts_utf8_clean_len(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t out = 0;
    for (size_t i = 0; i < n;) {
        size_t k = ts_utf8_char_len(s + i, n - i);
        out += k ? k : TS_UTF8_REPLACEMENT_LEN;
        i += k ? k : 1;
    }
    return out;
}

void ts_json_buf_utf8(struct ts_json_buf *b, const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        /* A run of valid characters is copied in one piece: valid input,
         * the common case, is a single append. */
        size_t run = i, k;
        while (run < n && (k = ts_utf8_char_len(s + run, n - run)) != 0)
            run += k;
        ts_json_buf_append(b, s + i, run - i);
        i = run;
        if (i < n) { /* one byte that starts no valid character */
            ts_json_buf_append(b, TS_UTF8_REPLACEMENT, TS_UTF8_REPLACEMENT_LEN);
            i++;
        }
    }
}

size_t ts_varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

size_t ts_varint_encode(uint8_t *out, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        out[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}

void ts_json_buf_varint_slow(struct ts_json_buf *b, uint64_t v)
{
    uint8_t tmp[TS_VARINT_MAX];
    ts_json_buf_append(b, tmp, ts_varint_encode(tmp, v));
}

const unsigned char ts_json_plain[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 00 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 10 */
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 20 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 30 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 40 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, /* 50 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 60 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 70 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 80 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 90 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* a0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* b0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* c0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* d0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* e0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* f0 */
};

void ts_json_buf_string_slow(struct ts_json_buf *b, const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    /* Worst case is 6 output bytes per input byte (\u00XX); reserving it up
     * front keeps the loop free of per-byte checks. */
    if (n > (SIZE_MAX - 2) / 6) {
        b->failed = true;
        return;
    }
    if ((b->failed || n * 6 + 2 > b->cap - b->len) && !ts_json_buf_reserve(b, n * 6 + 2))
        return;
    char *o = b->data + b->len;
    *o++ = '"';
    size_t i = 0;
    for (;;) {
        /* a run of plain bytes (most values are nothing else) in one copy */
        size_t run = i;
        while (run < n && ts_json_plain[s[run]])
            run++;
        if (run > i) { /* s may be NULL when n is 0 */
            memcpy(o, s + i, run - i);
            o += run - i;
            i = run;
        }
        if (i == n)
            break;
        unsigned char c = s[i];
        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
            i++;
        } else if (c < 0x20) {
            memcpy(o, "\\u00", 4);
            o[4] = ts_json_hexdig[c >> 4];
            o[5] = ts_json_hexdig[c & 15];
            o += 6;
            i++;
        } else {
            size_t k = ts_utf8_char_len(s + i, n - i);
            if (k) {
                memcpy(o, s + i, k);
                o += k;
                i += k;
            } else {
                memcpy(o, TS_UTF8_REPLACEMENT, TS_UTF8_REPLACEMENT_LEN);
                o += TS_UTF8_REPLACEMENT_LEN;
                i++;
            }
        }
    }
    *o++ = '"';
    b->len = (size_t)(o - b->data);
}

/* "00" "01" ... "99": two digits per division, so a nanosecond timestamp
 * takes ten steps instead of nineteen. */
static const char ts_json_digit_pairs[] = "00010203040506070809101112131415161718192021222324"
                                          "25262728293031323334353637383940414243444546474849"
                                          "50515253545556575859606162636465666768697071727374"
                                          "75767778798081828384858687888990919293949596979899";

void ts_json_buf_u64(struct ts_json_buf *b, uint64_t v)
{
    char tmp[20];
    size_t i = sizeof tmp;
    while (v >= 100) {
        unsigned pair = (unsigned)(v % 100);
        v /= 100;
        i -= 2;
        memcpy(tmp + i, ts_json_digit_pairs + 2 * pair, 2);
    }
    if (v >= 10) {
        i -= 2;
        memcpy(tmp + i, ts_json_digit_pairs + 2 * v, 2);
    } else {
        tmp[--i] = (char)('0' + v);
    }
    ts_json_buf_append(b, tmp + i, sizeof tmp - i);
}

void ts_json_buf_i64(struct ts_json_buf *b, int64_t v)
{
    if (v < 0) {
        ts_json_buf_append_char(b, '-');
        /* negate in unsigned arithmetic: INT64_MIN has no positive twin */
        ts_json_buf_u64(b, (uint64_t)0 - (uint64_t)v);
    } else {
        ts_json_buf_u64(b, (uint64_t)v);
    }
}

void ts_json_buf_hex(struct ts_json_buf *b, const uint8_t *p, size_t n)
{
    if (n > SIZE_MAX / 2)
        return;
    if ((b->failed || n * 2 > b->cap - b->len) && !ts_json_buf_reserve(b, n * 2))
        return;
    char *o = b->data + b->len;
    for (size_t i = 0; i < n; i++) {
        *o++ = ts_json_hexdig[p[i] >> 4];
        *o++ = ts_json_hexdig[p[i] & 15];
    }
    b->len += n * 2;
}
