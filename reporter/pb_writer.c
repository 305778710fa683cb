/* pb_writer.c — protobuf wire-format primitives (see pb_writer.h). */
#include "pb_writer.h"

#include <stdint.h>
#include <string.h>

/* A nested message's length is written once the message is: ts_pb_open
 * leaves room for it (one byte: what most nested messages need, an
 * attribute, a value, a status, being under 128 bytes), and ts_pb_close
 * moves the message when its length needs more or less. The mark is the
 * message's offset. */

/* The buffer forms: room for the field at its longest, the cursor form,
 * commit. */
#define PB_FIELD(b, max, put)                                                                      \
    do {                                                                                           \
        char *o_ = ts_json_buf_room((b), (max));                                                   \
        if (o_)                                                                                    \
            ts_json_buf_commit((b), put);                                                          \
    } while (0)

void ts_pb_uint_field(struct ts_json_buf *b, uint32_t field, uint64_t v)
{
    PB_FIELD(b, TS_PB_FIELD_HEAD_MAX, ts_pb_put_uint_field(o_, field, v));
}

void ts_pb_int64_field(struct ts_json_buf *b, uint32_t field, int64_t v)
{
    ts_pb_uint_field(b, field, (uint64_t)v); /* the cast is the two's complement */
}

void ts_pb_bool_field(struct ts_json_buf *b, uint32_t field, bool v)
{
    ts_pb_uint_field(b, field, v ? 1 : 0);
}

void ts_pb_fixed64_field(struct ts_json_buf *b, uint32_t field, uint64_t v)
{
    PB_FIELD(b, TS_PB_TAG_MAX + 8, ts_pb_put_fixed64_field(o_, field, v));
}

void ts_pb_fixed32_field(struct ts_json_buf *b, uint32_t field, uint32_t v)
{
    PB_FIELD(b, TS_PB_TAG_MAX + 4, ts_pb_put_fixed32_field(o_, field, v));
}

void ts_pb_bytes_field(struct ts_json_buf *b, uint32_t field, const void *p, size_t n)
{
    if (n > SIZE_MAX - TS_PB_FIELD_HEAD_MAX) {
        b->failed = true;
        return;
    }
    PB_FIELD(b, TS_PB_FIELD_HEAD_MAX + n, ts_pb_put_bytes_field(o_, field, p, n));
}

void ts_pb_string_field(struct ts_json_buf *b, uint32_t field, const char *s, size_t n)
{
    size_t clean = ts_utf8_clean_len(s, n);
    if (clean > SIZE_MAX - TS_PB_FIELD_HEAD_MAX) {
        b->failed = true;
        return;
    }
    PB_FIELD(b, TS_PB_FIELD_HEAD_MAX + clean, ts_pb_put_string_field(o_, field, s, n, clean));
}

size_t ts_pb_open_room(struct ts_json_buf *b, uint32_t field, size_t room)
{
    char *o = ts_json_buf_room(b, TS_PB_TAG_MAX + room);
    if (!o)
        return 0; /* never a valid mark: close does nothing */
    o = ts_pb_put_tag(o, field, TS_PB_LEN);
    ts_json_buf_commit(b, o + room);
    return b->len;
}

void ts_pb_close_room(struct ts_json_buf *b, size_t mark, size_t room)
{
    if (b->failed || mark < room || mark > b->len)
        return; /* an append failed (sticky): the output is dropped anyway */
    size_t body = b->len - mark;
    size_t vlen = ts_varint_len(body);
    if (vlen > room && !ts_json_buf_reserve(b, vlen - room))
        return;
    if (vlen != room) {
        char *from = b->data + mark;
        memmove(from + vlen - room, from, body);
        b->len = b->len + vlen - room;
    }
    ts_put_varint(b->data + mark - room, body);
}

size_t ts_pb_open(struct ts_json_buf *b, uint32_t field)
{
    return ts_pb_open_room(b, field, 1);
}

void ts_pb_close(struct ts_json_buf *b, size_t mark)
{
    ts_pb_close_room(b, mark, 1);
}
