/* thrift_compact.h — a small writer for Apache Thrift's compact protocol
 * (thrift/doc/specs/thrift-compact-protocol.md), enough for Jaeger's
 * agent messages: message header, structs with delta-encoded field
 * headers, zigzag varint integers, strings, lists, bools, doubles.
 *
 * It writes into a struct ts_json_buf, so it inherits that buffer's
 * out-of-memory rule: on failure the buffer is marked failed and later
 * writes are ignored; the caller checks `failed` once at the end. A misuse
 * of the writer (structs nested too deeply, ended once too often) marks
 * the buffer failed too, so a broken message is never sent. */
#ifndef TS_THRIFT_COMPACT_H
#define TS_THRIFT_COMPACT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json_buf.h"

/* Compact-protocol type codes, as written in field and list headers. */
enum ts_tc_type {
    TS_TC_BOOL_TRUE = 1, /* in a field header: a bool field whose value is true */
    TS_TC_BOOL_FALSE = 2,
    TS_TC_BYTE = 3,
    TS_TC_I16 = 4,
    TS_TC_I32 = 5,
    TS_TC_I64 = 6,
    TS_TC_DOUBLE = 7,
    TS_TC_BINARY = 8, /* also string */
    TS_TC_LIST = 9,
    TS_TC_SET = 10,
    TS_TC_MAP = 11,
    TS_TC_STRUCT = 12,
};

/* Message types of the message header. */
enum ts_tc_msg_type {
    TS_TC_CALL = 1,
    TS_TC_REPLY = 2,
    TS_TC_EXCEPTION = 3,
    TS_TC_ONEWAY = 4,
};

/* Deepest struct nesting a writer follows (Jaeger's deepest is 4). */
#define TS_TC_MAX_DEPTH 8

/* A writer: the buffer, and per open struct the id of its last field
 * (field headers carry the difference to it). */
struct ts_tc_writer {
    struct ts_json_buf *buf;
    unsigned depth;
    int16_t last_id[TS_TC_MAX_DEPTH];
};

/* A writer appending to buf, outside any struct. */
void ts_tc_init(struct ts_tc_writer *w, struct ts_json_buf *buf);

/* Zigzag mappings: small magnitudes of either sign become small unsigned
 * numbers (0, -1, 1, -2 … -> 0, 1, 2, 3 …). In unsigned arithmetic: no
 * signed overflow, no right shift of a negative number; the mask is all
 * ones exactly when v < 0. */
static inline uint32_t ts_tc_zigzag32(int32_t v)
{
    uint32_t u = (uint32_t)v;
    return (u << 1) ^ (0u - (u >> 31));
}

static inline uint64_t ts_tc_zigzag64(int64_t v)
{
    uint64_t u = (uint64_t)v;
    return (u << 1) ^ (0u - (u >> 63));
}

/* ---- through a cursor (json_buf.h's room/commit), for a struct written
 * in one piece whose field ids are known where it is written: each writes
 * at o and returns the end of what it wrote. With constant ids a field
 * header is one byte store. */

/* The most bytes of a field header, and of a list header. */
#define TS_TC_FIELD_HEADER_MAX (1 + TS_VARINT_MAX)
#define TS_TC_LIST_HEADER_MAX (1 + TS_VARINT_MAX)

/* The header of field id of this type, the struct's previous field being
 * prev (0 before the first): the id as a delta from prev in the high
 * nibble when it is 1..15, else the type alone and the id as a zigzag
 * varint. */
static inline char *ts_tc_put_field_header(char *o, enum ts_tc_type type, int16_t id,
                                           int16_t prev)
{
    int delta = (int)id - (int)prev;
    if (delta > 0 && delta <= 15) {
        *o++ = (char)(delta << 4 | (int)type);
        return o;
    }
    *o++ = (char)type;
    return ts_put_varint(o, ts_tc_zigzag32(id));
}

/* The size nibble of a list header meaning "the size follows as a
 * varint". */
#define TS_TC_LIST_LONG_FORM 0x0F

/* A list header (ts_tc_list_header). */
static inline char *ts_tc_put_list_header(char *o, enum ts_tc_type elem, uint32_t size)
{
    if (size < TS_TC_LIST_LONG_FORM) {
        *o++ = (char)(size << 4 | (uint32_t)elem);
        return o;
    }
    *o++ = (char)(TS_TC_LIST_LONG_FORM << 4 | (unsigned)elem);
    return ts_put_varint(o, size);
}

/* A string's length and bytes, made valid UTF-8 they take clean bytes
 * (ts_utf8_clean_len): clean == n means valid as they are. */
static inline char *ts_tc_put_string(char *o, const char *s, size_t n, size_t clean)
{
    o = ts_put_varint(o, clean);
    return clean == n ? ts_put(o, s, n) : ts_put_utf8(o, s, n);
}

/* Unsigned varints are json_buf.h's: ts_json_buf_varint, ts_varint_len. */

/* List header: size and element type in one byte when size < 15, else
 * 0xF0|type and the size as a varint. */
void ts_tc_list_header(struct ts_json_buf *b, enum ts_tc_type elem, uint32_t size);

/* Bytes ts_tc_list_header writes for this size. */
static inline size_t ts_tc_list_header_len(size_t size)
{
    return size < TS_TC_LIST_LONG_FORM ? 1 : 1 + ts_varint_len(size);
}

/* Message header: protocol id, version and type, sequence id, name. */
void ts_tc_message_begin(struct ts_tc_writer *w, const char *name, enum ts_tc_msg_type type,
                         int32_t seqid);

/* Open a struct (a message's arguments, a list element) / write its stop
 * byte and close it. */
void ts_tc_struct_begin(struct ts_tc_writer *w);
void ts_tc_struct_end(struct ts_tc_writer *w);

/* A field header for a field of this type and id in the open struct. */
void ts_tc_field_header(struct ts_tc_writer *w, enum ts_tc_type type, int16_t id);

/* Whole fields: header and value. */
void ts_tc_field_bool(struct ts_tc_writer *w, int16_t id, bool v);
void ts_tc_field_i32(struct ts_tc_writer *w, int16_t id, int32_t v);
void ts_tc_field_i64(struct ts_tc_writer *w, int16_t id, int64_t v);
void ts_tc_field_double(struct ts_tc_writer *w, int16_t id, double v);
/* Binary: the bytes as they are. */
void ts_tc_field_binary(struct ts_tc_writer *w, int16_t id, const void *p, size_t n);
/* String: thrift strings are UTF-8 and decoders check it, so every byte
 * that is not part of a valid UTF-8 sequence is replaced by U+FFFD (the
 * input is network data). */
void ts_tc_field_string(struct ts_tc_writer *w, int16_t id, const char *p, size_t n);
void ts_tc_field_cstr(struct ts_tc_writer *w, int16_t id, const char *s);
/* A list field's header; the caller writes the size elements after it. */
void ts_tc_field_list(struct ts_tc_writer *w, int16_t id, enum ts_tc_type elem, uint32_t size);
/* A struct field's header, and the struct opened: close with
 * ts_tc_struct_end. */
void ts_tc_field_struct(struct ts_tc_writer *w, int16_t id);

/* An i64 holding the bits of v: thrift has no unsigned types, and Jaeger's
 * ids are 64-bit patterns carried in i64 fields. */
int64_t ts_tc_u64_bits(uint64_t v);

#endif
