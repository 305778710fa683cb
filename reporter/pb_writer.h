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
#include <string.h>

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
static inline size_t ts_pb_len_field_size(uint32_t field, size_t len)
{
    return ts_varint_len((uint64_t)field << 3 | TS_PB_LEN) + ts_varint_len(len) + len;
}

static inline void ts_pb_tag(struct ts_json_buf *b, uint32_t field, enum ts_pb_wire wire)
{
    ts_json_buf_varint(b, (uint64_t)field << 3 | (uint64_t)wire);
}

/* ---- through a cursor (json_buf.h's room/commit): each writes at o and
 * returns the end of what it wrote. With a constant field number a tag is
 * one byte store. */

#define TS_PB_TAG_MAX 5 /* bytes of a tag, field numbers up to 2^29 */
/* The most bytes a field takes besides its payload: tag and length. */
#define TS_PB_FIELD_HEAD_MAX (TS_PB_TAG_MAX + TS_VARINT_MAX)

static inline char *ts_pb_put_tag(char *o, uint32_t field, enum ts_pb_wire wire)
{
    return ts_put_varint(o, (uint64_t)field << 3 | (uint64_t)wire);
}

static inline char *ts_pb_put_uint_field(char *o, uint32_t field, uint64_t v)
{
    return ts_put_varint(ts_pb_put_tag(o, field, TS_PB_VARINT), v);
}

/* The low n bytes of v (4 or 8), little-endian whatever the host's byte
 * order, as the wire format says: one store for a constant n (GCC 12 kept
 * a loop of byte stores as it was). */
static inline char *ts_pb_put_le(char *o, uint64_t v, size_t n)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v); /* the low bytes first in memory */
#endif
    memcpy(o, &v, n);
    return o + n;
}

static inline char *ts_pb_put_fixed64_field(char *o, uint32_t field, uint64_t v)
{
    return ts_pb_put_le(ts_pb_put_tag(o, field, TS_PB_I64), v, 8);
}

static inline char *ts_pb_put_fixed32_field(char *o, uint32_t field, uint32_t v)
{
    return ts_pb_put_le(ts_pb_put_tag(o, field, TS_PB_I32), v, 4);
}

static inline char *ts_pb_put_bytes_field(char *o, uint32_t field, const void *p, size_t n)
{
    o = ts_put_varint(ts_pb_put_tag(o, field, TS_PB_LEN), n);
    return ts_put(o, p, n);
}

/* A string field whose bytes made valid UTF-8 take clean bytes
 * (ts_utf8_clean_len): clean == n means valid as they are. */
static inline char *ts_pb_put_string_field(char *o, uint32_t field, const char *s, size_t n,
                                           size_t clean)
{
    o = ts_put_varint(ts_pb_put_tag(o, field, TS_PB_LEN), clean);
    return clean == n ? ts_put(o, s, n) : ts_put_utf8(o, s, n);
}

/* Bytes a field takes with its tag: a varint one, a length-delimited one
 * of this payload length. */
static inline size_t ts_pb_uint_field_size(uint32_t field, uint64_t v)
{
    return ts_varint_len((uint64_t)field << 3) + ts_varint_len(v);
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
 * fields along when it takes more or less than the room. Opens and closes
 * nest like brackets. */
size_t ts_pb_open(struct ts_json_buf *b, uint32_t field);
void ts_pb_close(struct ts_json_buf *b, size_t mark);

/* The same with room bytes for the length (1 .. TS_VARINT_MAX): 2 holds
 * lengths from 128 to 16383 (a span) without a move. Close with the same
 * room. */
size_t ts_pb_open_room(struct ts_json_buf *b, uint32_t field, size_t room);
void ts_pb_close_room(struct ts_json_buf *b, size_t mark, size_t room);

#endif
