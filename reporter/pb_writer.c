/* pb_writer.c — protobuf wire-format primitives (see pb_writer.h). */
#include "pb_writer.h"

#include <string.h>

/* Room ts_pb_open leaves for a length: 5 varint bytes hold any length below
 * 2^35, far past protobuf's own 2 GiB message limit. */
#define PB_LEN_ROOM 5

size_t ts_pb_varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

size_t ts_pb_len_field_size(uint32_t field, size_t len)
{
    return ts_pb_varint_len((uint64_t)field << 3 | TS_PB_LEN) + ts_pb_varint_len(len) + len;
}

/* Writes the varint of v into out (room for TS_PB_VARINT_MAX); returns its
 * length. */
static size_t pb_varint_to(uint8_t *out, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        out[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}

void ts_pb_varint(struct ts_json_buf *b, uint64_t v)
{
    uint8_t tmp[TS_PB_VARINT_MAX];
    ts_json_buf_append(b, tmp, pb_varint_to(tmp, v));
}

void ts_pb_tag(struct ts_json_buf *b, uint32_t field, enum ts_pb_wire wire)
{
    ts_pb_varint(b, (uint64_t)field << 3 | (uint64_t)wire);
}

void ts_pb_uint_field(struct ts_json_buf *b, uint32_t field, uint64_t v)
{
    ts_pb_tag(b, field, TS_PB_VARINT);
    ts_pb_varint(b, v);
}

void ts_pb_int64_field(struct ts_json_buf *b, uint32_t field, int64_t v)
{
    ts_pb_uint_field(b, field, (uint64_t)v); /* the cast is the two's complement */
}

void ts_pb_bool_field(struct ts_json_buf *b, uint32_t field, bool v)
{
    ts_pb_uint_field(b, field, v ? 1 : 0);
}

/* Little-endian whatever the host's byte order, as the wire format says. */
static void pb_le(struct ts_json_buf *b, uint64_t v, size_t n)
{
    uint8_t tmp[8];
    for (size_t i = 0; i < n; i++)
        tmp[i] = (uint8_t)(v >> (8 * i));
    ts_json_buf_append(b, tmp, n);
}

void ts_pb_fixed64_field(struct ts_json_buf *b, uint32_t field, uint64_t v)
{
    ts_pb_tag(b, field, TS_PB_I64);
    pb_le(b, v, 8);
}

void ts_pb_fixed32_field(struct ts_json_buf *b, uint32_t field, uint32_t v)
{
    ts_pb_tag(b, field, TS_PB_I32);
    pb_le(b, v, 4);
}

void ts_pb_bytes_field(struct ts_json_buf *b, uint32_t field, const void *p, size_t n)
{
    ts_pb_tag(b, field, TS_PB_LEN);
    ts_pb_varint(b, n);
    ts_json_buf_append(b, p, n);
}

/* How many bytes of s[0..n) form one valid UTF-8 character (RFC 3629: the
 * shortest form, not a surrogate, at most U+10FFFF), 0 when they do not.
 * Decodes the code point and checks its range for the length used. */
static size_t pb_utf8_char(const unsigned char *s, size_t n)
{
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    size_t len;
    uint32_t cp;
    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xE0) == 0xC0)
        len = 2, cp = s[0] & 0x1Fu;
    else if ((s[0] & 0xF0) == 0xE0)
        len = 3, cp = s[0] & 0x0Fu;
    else if ((s[0] & 0xF8) == 0xF0)
        len = 4, cp = s[0] & 0x07u;
    else
        return 0;
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3Fu);
    }
    if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

#define PB_REPLACEMENT "\xEF\xBF\xBD" /* U+FFFD, 3 bytes */

size_t ts_pb_utf8_len(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t out = 0;
    for (size_t i = 0; i < n;) {
        size_t k = pb_utf8_char(s + i, n - i);
        out += k ? k : sizeof PB_REPLACEMENT - 1;
        i += k ? k : 1;
    }
    return out;
}

void ts_pb_string_field(struct ts_json_buf *b, uint32_t field, const char *str, size_t n)
{
    size_t len = ts_pb_utf8_len(str, n);
    ts_pb_tag(b, field, TS_PB_LEN);
    ts_pb_varint(b, len);
    if (len == n) { /* nothing to replace: the common case */
        ts_json_buf_append(b, str, n);
        return;
    }
    if (!ts_json_buf_reserve(b, len))
        return;
    const unsigned char *s = (const unsigned char *)str;
    char *o = b->data + b->len;
    for (size_t i = 0; i < n;) {
        size_t k = pb_utf8_char(s + i, n - i);
        if (k) {
            memcpy(o, s + i, k);
            o += k;
            i += k;
        } else {
            memcpy(o, PB_REPLACEMENT, sizeof PB_REPLACEMENT - 1);
            o += sizeof PB_REPLACEMENT - 1;
            i++;
        }
    }
    b->len += len;
}

size_t ts_pb_open(struct ts_json_buf *b, uint32_t field)
{
    static const uint8_t room[PB_LEN_ROOM];
    ts_pb_tag(b, field, TS_PB_LEN);
    ts_json_buf_append(b, room, sizeof room);
    return b->len;
}

void ts_pb_close(struct ts_json_buf *b, size_t mark)
{
    if (b->failed || mark < PB_LEN_ROOM || mark > b->len)
        return; /* an append failed (sticky): the output is dropped anyway */
    size_t body = b->len - mark;
    size_t vlen = ts_pb_varint_len(body);
    if (vlen > PB_LEN_ROOM) {
        b->failed = true;
        return;
    }
    uint8_t *start = (uint8_t *)b->data + mark - PB_LEN_ROOM;
    if (vlen < PB_LEN_ROOM)
        memmove(start + vlen, start + PB_LEN_ROOM, body);
    pb_varint_to(start, body);
    b->len -= PB_LEN_ROOM - vlen;
}
