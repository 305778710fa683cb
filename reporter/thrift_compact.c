/* thrift_compact.c — Thrift compact-protocol writer (see thrift_compact.h). */
#include "thrift_compact.h"

#include <string.h>

#define TC_PROTOCOL_ID 0x82
#define TC_VERSION 1
#define TC_TYPE_SHIFT 5

void ts_tc_init(struct ts_tc_writer *w, struct ts_json_buf *buf)
{
    w->buf = buf;
    w->depth = 0;
}

int64_t ts_tc_u64_bits(uint64_t v)
{
    /* Spelled out so that it is defined C, not just what compilers do:
     * values above INT64_MAX wrap to the negative number with the same bits. */
    if (v <= INT64_MAX)
        return (int64_t)v;
    return -(int64_t)(UINT64_MAX - v) - 1;
}

void ts_tc_list_header(struct ts_json_buf *b, enum ts_tc_type elem, uint32_t size)
{
    char *o = ts_json_buf_room(b, TS_TC_LIST_HEADER_MAX);
    if (o)
        ts_json_buf_commit(b, ts_tc_put_list_header(o, elem, size));
}

void ts_tc_message_begin(struct ts_tc_writer *w, const char *name, enum ts_tc_msg_type type,
                         int32_t seqid)
{
    uint8_t head[2] = {TC_PROTOCOL_ID, (uint8_t)((unsigned)type << TC_TYPE_SHIFT | TC_VERSION)};
    ts_json_buf_append(w->buf, head, sizeof head);
    /* The sequence id is a plain varint of its 32 bits, not zigzag. */
    ts_json_buf_varint(w->buf, (uint32_t)seqid);
    size_t n = strlen(name);
    ts_json_buf_varint(w->buf, n);
    ts_json_buf_append(w->buf, name, n);
}

void ts_tc_struct_begin(struct ts_tc_writer *w)
{
    if (w->depth >= TS_TC_MAX_DEPTH) {
        w->buf->failed = true;
        return;
    }
    w->last_id[w->depth++] = 0;
}

void ts_tc_struct_end(struct ts_tc_writer *w)
{
    if (w->depth == 0) {
        w->buf->failed = true;
        return;
    }
    w->depth--;
    ts_json_buf_append_char(w->buf, 0); /* STOP */
}

void ts_tc_field_header(struct ts_tc_writer *w, enum ts_tc_type type, int16_t id)
{
    if (w->depth == 0) { /* a field outside any struct: the message would be garbage */
        w->buf->failed = true;
        return;
    }
    int16_t *last = &w->last_id[w->depth - 1];
    char *o = ts_json_buf_room(w->buf, TS_TC_FIELD_HEADER_MAX);
    if (o)
        ts_json_buf_commit(w->buf, ts_tc_put_field_header(o, type, id, *last));
    *last = id;
}

void ts_tc_field_bool(struct ts_tc_writer *w, int16_t id, bool v)
{
    /* A bool field has no value bytes: the type nibble is the value. */
    ts_tc_field_header(w, v ? TS_TC_BOOL_TRUE : TS_TC_BOOL_FALSE, id);
}

void ts_tc_field_i32(struct ts_tc_writer *w, int16_t id, int32_t v)
{
    ts_tc_field_header(w, TS_TC_I32, id);
    ts_json_buf_varint(w->buf, ts_tc_zigzag32(v));
}

void ts_tc_field_i64(struct ts_tc_writer *w, int16_t id, int64_t v)
{
    ts_tc_field_header(w, TS_TC_I64, id);
    ts_json_buf_varint(w->buf, ts_tc_zigzag64(v));
}

void ts_tc_field_double(struct ts_tc_writer *w, int16_t id, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    uint8_t le[8];
    for (size_t i = 0; i < sizeof le; i++)
        le[i] = (uint8_t)(bits >> (8 * i));
    ts_tc_field_header(w, TS_TC_DOUBLE, id);
    ts_json_buf_append(w->buf, le, sizeof le);
}

void ts_tc_field_binary(struct ts_tc_writer *w, int16_t id, const void *p, size_t n)
{
    ts_tc_field_header(w, TS_TC_BINARY, id);
    ts_json_buf_varint(w->buf, n);
    ts_json_buf_append(w->buf, p, n);
}

void ts_tc_field_string(struct ts_tc_writer *w, int16_t id, const char *p, size_t n)
{
    ts_tc_field_header(w, TS_TC_BINARY, id);
    ts_json_buf_varint_utf8(w->buf, p, n);
}

void ts_tc_field_cstr(struct ts_tc_writer *w, int16_t id, const char *s)
{
    ts_tc_field_string(w, id, s, strlen(s));
}

void ts_tc_field_list(struct ts_tc_writer *w, int16_t id, enum ts_tc_type elem, uint32_t size)
{
    ts_tc_field_header(w, TS_TC_LIST, id);
    ts_tc_list_header(w->buf, elem, size);
}

void ts_tc_field_struct(struct ts_tc_writer *w, int16_t id)
{
    ts_tc_field_header(w, TS_TC_STRUCT, id);
    ts_tc_struct_begin(w);
}
