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

/* Raw bytes, copied as they are. */
void ts_json_buf_append(struct ts_json_buf *b, const void *p, size_t n);
void ts_json_buf_append_cstr(struct ts_json_buf *b, const char *s);
void ts_json_buf_append_char(struct ts_json_buf *b, char c);

/* A quoted JSON string of n arbitrary bytes: '"' and '\\' escaped, control
 * characters as \u00XX, valid UTF-8 copied, every byte that is not part of
 * a valid UTF-8 sequence replaced by U+FFFD. */
void ts_json_buf_string(struct ts_json_buf *b, const char *s, size_t n);

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

/* Appends the varint of v. */
void ts_json_buf_varint(struct ts_json_buf *b, uint64_t v);

#endif
