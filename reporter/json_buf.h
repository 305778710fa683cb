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

#endif
