/* pb_writer.h — the few protobuf wire-format primitives the OTLP encoder
 * needs, appending to a struct ts_json_buf (which is a plain byte buffer
 * despite its name): varints, tags, fixed-width numbers, length-delimited
 * fields, and nested messages whose length is only known once written.
 *
 * Like the buffer itself, nothing here fails loudly: out of memory makes the
 * buffer "failed" and the caller checks that once at the end. */
#ifndef TS_PB_WRITER_H
#define TS_PB_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json_buf.h"

/* Wire types (protobuf encoding spec). */
enum ts_pb_wire {
    TS_PB_VARINT = 0,
    TS_PB_I64 = 1,
    TS_PB_LEN = 2,
    TS_PB_I32 = 5,
};

/* Varints are json_buf.h's: ts_json_buf_varint, ts_varint_len. */

/* Bytes a length-delimited field of this number and payload length takes:
 * tag, length varint and payload. */
size_t ts_pb_len_field_size(uint32_t field, size_t len);

static inline void ts_pb_tag(struct ts_json_buf *b, uint32_t field, enum ts_pb_wire wire)
{
    ts_json_buf_varint(b, (uint64_t)field << 3 | (uint64_t)wire);
}

/* Whole fields: tag then value. */
void ts_pb_uint_field(struct ts_json_buf *b, uint32_t field, uint64_t v);
/* int64: a negative value is its two's complement, always 10 bytes. */
void ts_pb_int64_field(struct ts_json_buf *b, uint32_t field, int64_t v);
void ts_pb_bool_field(struct ts_json_buf *b, uint32_t field, bool v);
void ts_pb_fixed64_field(struct ts_json_buf *b, uint32_t field, uint64_t v);
void ts_pb_fixed32_field(struct ts_json_buf *b, uint32_t field, uint32_t v);
void ts_pb_bytes_field(struct ts_json_buf *b, uint32_t field, const void *p, size_t n);

/* A string field. proto3 requires strings to be valid UTF-8 (decoders
 * reject the whole message otherwise), so every byte of s[0..n) that is not
 * part of a valid UTF-8 sequence becomes U+FFFD (ts_json_buf_utf8) — the
 * same rule as ts_json_buf_string, so a span reads the same in every export
 * format. */
void ts_pb_string_field(struct ts_json_buf *b, uint32_t field, const char *s, size_t n);

/* A nested message: open writes the tag and one byte of room for the
 * length and returns a mark; the caller writes the message's fields; close
 * (with that mark) writes the length as a minimal varint, moving the
 * fields along when it takes more than that byte. Opens and closes nest
 * like brackets. */
size_t ts_pb_open(struct ts_json_buf *b, uint32_t field);
void ts_pb_close(struct ts_json_buf *b, size_t mark);

#endif
