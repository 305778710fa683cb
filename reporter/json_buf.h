/* json_buf.h — a growable byte buffer for building JSON text.
 *
 * Out of memory makes the buffer "failed" (every later append is a no-op)
 * instead of crashing; the caller checks once at the end. Strings are
 * escaped so the output is always valid JSON, whatever bytes went in. */
#ifndef TS_JSON_BUF_H
#define TS_JSON_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ts_json_buf {
    char *data;
    size_t len, cap;
    bool failed;
};

void ts_json_buf_init(struct ts_json_buf *b);
void ts_json_buf_free(struct ts_json_buf *b);
void ts_json_buf_reset(struct ts_json_buf *b); /* empty, keeping the memory */

void ts_json_buf_raw(struct ts_json_buf *b, const char *s, size_t n);
void ts_json_buf_cstr(struct ts_json_buf *b, const char *s); /* raw, NUL-terminated */
/* A quoted JSON string; invalid UTF-8 becomes U+FFFD. */
void ts_json_buf_str(struct ts_json_buf *b, const char *s, size_t n);
void ts_json_buf_u64(struct ts_json_buf *b, uint64_t v);
void ts_json_buf_i64(struct ts_json_buf *b, int64_t v);
void ts_json_buf_hex(struct ts_json_buf *b, const uint8_t *bytes, size_t n); /* unquoted */

#endif
