/* json_buf.c — JSON text building (see json_buf.h). */
#include "json_buf.h"

#include <stdlib.h>
#include <string.h>

void ts_json_buf_init(struct ts_json_buf *b)
{
    memset(b, 0, sizeof *b);
}

void ts_json_buf_free(struct ts_json_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

void ts_json_buf_reset(struct ts_json_buf *b)
{
    b->len = 0;
    b->failed = false;
}

static bool reserve(struct ts_json_buf *b, size_t more)
{
    if (b->failed)
        return false;
    if (b->len + more <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more)
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

void ts_json_buf_raw(struct ts_json_buf *b, const char *s, size_t n)
{
    if (!reserve(b, n))
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
}

void ts_json_buf_cstr(struct ts_json_buf *b, const char *s)
{
    ts_json_buf_raw(b, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, cp = c & 0x07;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    /* overlong forms, surrogates and values past U+10FFFF are invalid */
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

void ts_json_buf_str(struct ts_json_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    /* worst case: every byte becomes the 3-byte U+FFFD or a 6-byte \u00XX */
    if (!reserve(b, n * 6 + 2))
        return;
    char *o = b->data + b->len;
    *o++ = '"';
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            *o++ = '\\';
            *o++ = 'u';
            *o++ = '0';
            *o++ = '0';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
            i++;
        } else if (c < 0x80) {
            *o++ = (char)c;
            i++;
        } else {
            size_t k = utf8_len(p + i, n - i);
            if (k) {
                memcpy(o, p + i, k);
                o += k;
                i += k;
            } else {
                memcpy(o, "\xef\xbf\xbd", 3);
                o += 3;
                i++;
            }
        }
    }
    *o++ = '"';
    b->len = (size_t)(o - b->data);
}

void ts_json_buf_u64(struct ts_json_buf *b, uint64_t v)
{
    char tmp[24];
    size_t i = sizeof tmp;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    ts_json_buf_raw(b, tmp + i, sizeof tmp - i);
}

void ts_json_buf_i64(struct ts_json_buf *b, int64_t v)
{
    if (v < 0) {
        ts_json_buf_raw(b, "-", 1);
        ts_json_buf_u64(b, (uint64_t)0 - (uint64_t)v);
    } else {
        ts_json_buf_u64(b, (uint64_t)v);
    }
}

void ts_json_buf_hex(struct ts_json_buf *b, const uint8_t *bytes, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    if (!reserve(b, 2 * n))
        return;
    for (size_t i = 0; i < n; i++) {
        b->data[b->len++] = hex[bytes[i] >> 4];
        b->data[b->len++] = hex[bytes[i] & 15];
    }
}
