/* json_buf.h — a growable byte buffer for building JSON text.
 *
 * Running out of memory never crashes: the buffer becomes "failed", every
 * later append is ignored, and the caller checks `failed` once at the end
 * (and drops what it was building). Strings are always emitted as valid
 * JSON whatever bytes they hold: the input is network data. */
#ifndef TS_JSON_BUF_H
#define TS_JSON_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct ts_json_buf {
    char *data; /* not NUL-terminated */
    size_t len;
    size_t cap;
    bool failed; /* an allocation failed: contents are incomplete */
};

/* An empty buffer owning no memory (same as zero-initialising it). */
void ts_json_buf_init(struct ts_json_buf *b);

/* Release the memory; the buffer is empty and usable again afterwards. */
void ts_json_buf_free(struct ts_json_buf *b);

/* Forget the contents and the failure, keep the memory for reuse. */
void ts_json_buf_reset(struct ts_json_buf *b);

/* Cut the contents back to len bytes (undo a partial append). */
void ts_json_buf_truncate(struct ts_json_buf *b, size_t len);

/* Make room for extra more bytes; false (and failed) when out of memory. */
bool ts_json_buf_reserve(struct ts_json_buf *b, size_t extra);

/* Raw bytes, copied as they are. The encoders append many short pieces
 * per span on the reporter thread; the common case (room in the buffer) is
 * inline, so a literal's length is known at compile time and the copy is a
 * few moves. */
void ts_json_buf_append_slow(struct ts_json_buf *b, const void *p, size_t n);

static inline void ts_json_buf_append(struct ts_json_buf *b, const void *p, size_t n)
{
    if (!b->failed && n <= b->cap - b->len) {
        if (n) /* memcpy from NULL is undefined even for 0 bytes */
            memcpy(b->data + b->len, p, n);
        b->len += n;
        return;
    }
    ts_json_buf_append_slow(b, p, n);
}

static inline void ts_json_buf_append_cstr(struct ts_json_buf *b, const char *s)
{
    ts_json_buf_append(b, s, strlen(s));
}

static inline void ts_json_buf_append_char(struct ts_json_buf *b, char c)
{
    ts_json_buf_append(b, &c, 1);
}

/* A quoted JSON string of n arbitrary bytes: '"' and '\\' escaped, control
 * characters as \u00XX, valid UTF-8 copied, every byte that is not part of
 * a valid UTF-8 sequence replaced by U+FFFD. */
void ts_json_buf_string_slow(struct ts_json_buf *b, const char *s, size_t n);

/* 1 for the bytes a JSON string holds as they are: ASCII from space to
 * DEL, but the quote and the backslash. */
extern const unsigned char ts_json_plain[256];

/* Most strings (attribute keys, methods, paths, addresses) are short and
 * plain: they are checked and copied inline; the rest take the careful
 * path. */
static inline void ts_json_buf_string(struct ts_json_buf *b, const char *s, size_t n)
{
    if (!b->failed && n < 64 && n + 2 <= b->cap - b->len) {
        size_t i = 0;
        while (i < n && ts_json_plain[(unsigned char)s[i]])
            i++;
        if (i == n) {
            char *o = b->data + b->len;
            o[0] = '"';
            if (n)
                memcpy(o + 1, s, n);
            o[n + 1] = '"';
            b->len += n + 2;
            return;
        }
    }
    ts_json_buf_string_slow(b, s, n);
}

/* Decimal numbers, unquoted. */
void ts_json_buf_u64(struct ts_json_buf *b, uint64_t v);
void ts_json_buf_i64(struct ts_json_buf *b, int64_t v);

/* n bytes as 2n lower-case hex digits, unquoted. */
void ts_json_buf_hex(struct ts_json_buf *b, const uint8_t *p, size_t n);

/* UTF-8, one rule for every encoder (RFC 3629: shortest form only, no
 * UTF-16 surrogates, nothing above U+10FFFF), so that a span reads the same
 * in every export format. */

/* Length of the valid UTF-8 character at s[0..n) (n >= 1): 1 for ASCII,
 * 2..4 for a well-formed multi-byte one, 0 when s[0] starts none. */
size_t ts_utf8_char_len(const unsigned char *s, size_t n);

/* Length of s[0..n) once every byte that is not part of a valid UTF-8
 * character is replaced by U+FFFD (3 bytes): what ts_json_buf_utf8
 * appends. */
size_t ts_utf8_clean_len(const char *s, size_t n);

/* s[0..n) as raw bytes (no quotes, no escaping), every byte that is not
 * part of a valid UTF-8 character replaced by U+FFFD. */
void ts_json_buf_utf8(struct ts_json_buf *b, const char *s, size_t n);

/* Unsigned LEB128 varints, as protobuf and thrift's compact protocol write
 * them: 7 bits a byte, least significant first. */
#define TS_VARINT_MAX 10 /* bytes of the longest one (a 64-bit value) */

/* Number of bytes v takes as a varint (1 .. TS_VARINT_MAX). */
size_t ts_varint_len(uint64_t v);

/* Writes the varint of v to out (room for TS_VARINT_MAX); returns its
 * length. */
size_t ts_varint_encode(uint8_t *out, uint64_t v);

/* Appends the varint of v; one byte (tags, small lengths) inline. */
void ts_json_buf_varint_slow(struct ts_json_buf *b, uint64_t v);

static inline void ts_json_buf_varint(struct ts_json_buf *b, uint64_t v)
{
    if (v < 0x80)
        ts_json_buf_append_char(b, (char)v);
    else
        ts_json_buf_varint_slow(b, v);
}

#endif
