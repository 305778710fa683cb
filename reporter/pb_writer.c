/* pb_writer.c — protobuf wire-format primitives (see pb_writer.h). */
#include "pb_writer.h"

#include <string.h>

/* A nested message's length is written once the message is: ts_pb_open
 * leaves one byte for it, which holds the length of most nested messages
 * (an attribute, a value, a status: under 128 bytes), and ts_pb_close
 * moves the message up when its length needs more. The mark is the
 * message's offset. */
#define PB_LEN_ROOM 1

size_t ts_pb_len_field_size(uint32_t field, size_t len)
{
    return ts_varint_len((uint64_t)field << 3 | TS_PB_LEN) + ts_varint_len(len) + len;
}


void ts_pb_uint_field(struct ts_json_buf *b, uint32_t field, uint64_t v)
{
    ts_pb_tag(b, field, TS_PB_VARINT);
    ts_json_buf_varint(b, v);
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
    ts_json_buf_varint(b, n);
    ts_json_buf_append(b, p, n);
}

void ts_pb_string_field(struct ts_json_buf *b, uint32_t field, const char *s, size_t n)
{
    ts_pb_tag(b, field, TS_PB_LEN);
    ts_json_buf_varint_utf8(b, s, n);
}

size_t ts_pb_open(struct ts_json_buf *b, uint32_t field)
{
    ts_pb_tag(b, field, TS_PB_LEN);
    ts_json_buf_append_char(b, 0); /* PB_LEN_ROOM */
    return b->len;
}

void ts_pb_close(struct ts_json_buf *b, size_t mark)
{
    if (b->failed || mark < PB_LEN_ROOM || mark > b->len)
        return; /* an append failed (sticky): the output is dropped anyway */
    size_t body = b->len - mark;
    size_t vlen = ts_varint_len(body);
    if (vlen > PB_LEN_ROOM) {
        size_t more = vlen - PB_LEN_ROOM;
        if (!ts_json_buf_reserve(b, more))
            return;
        memmove(b->data + mark + more, b->data + mark, body);
        b->len += more;
    }
    ts_varint_encode((uint8_t *)b->data + mark - PB_LEN_ROOM, body);
}
