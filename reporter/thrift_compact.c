/* thrift_compact.c — Thrift compact-protocol writer (see thrift_compact.h). */
#include "thrift_compact.h"

#include <string.h>

#define TC_PROTOCOL_ID 0x82
#define TC_VERSION 1
#define TC_TYPE_SHIFT 5
#define TC_LIST_LONG_FORM 0x0F /* size nibble meaning "size follows as a varint" */

void ts_tc_init(struct ts_tc_writer *w, struct ts_json_buf *buf)
{
    w->buf = buf;
    w->depth = 0;
}

uint32_t ts_tc_zigzag32(int32_t v)
{
    /* In unsigned arithmetic: no signed overflow, no right shift of a
     * negative number. The mask is all ones exactly when v < 0. */
    uint32_t u = (uint32_t)v;
    return (u << 1) ^ (0u - (u >> 31));
}

uint64_t ts_tc_zigzag64(int64_t v)
{
    uint64_t u = (uint64_t)v;
    return (u << 1) ^ (0u - (u >> 63));
}

int64_t ts_tc_u64_bits(uint64_t v)
{
    /* Spelled out so that it is defined C, not just what compilers do:
     * values above INT64_MAX wrap to the negative number with the same bits. */
    if (v <= INT64_MAX)
        return (int64_t)v;
    return -(int64_t)(UINT64_MAX - v) - 1;
}

size_t ts_tc_varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

void ts_tc_varint(struct ts_json_buf *b, uint64_t v)
{
    uint8_t tmp[TS_TC_VARINT_MAX];
    size_t n = 0;
    while (v >= 0x80) {
        tmp[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (uint8_t)v;
    ts_json_buf_append(b, tmp, n);
}

void ts_tc_list_header(struct ts_json_buf *b, enum ts_tc_type elem, uint32_t size)
{
    if (size < TC_LIST_LONG_FORM) {
        ts_json_buf_append_char(b, (char)(size << 4 | (uint32_t)elem));
        return;
    }
    ts_json_buf_append_char(b, (char)(TC_LIST_LONG_FORM << 4 | (unsigned)elem));
    ts_tc_varint(b, size);
}

size_t ts_tc_list_header_len(size_t size)
{
    return size < TC_LIST_LONG_FORM ? 1 : 1 + ts_tc_varint_len(size);
}

void ts_tc_message_begin(struct ts_tc_writer *w, const char *name, enum ts_tc_msg_type type,
                         int32_t seqid)
{
    uint8_t head[2] = {TC_PROTOCOL_ID, (uint8_t)((unsigned)type << TC_TYPE_SHIFT | TC_VERSION)};
    ts_json_buf_append(w->buf, head, sizeof head);
    /* The sequence id is a plain varint of its 32 bits, not zigzag. */
    ts_tc_varint(w->buf, (uint32_t)seqid);
    size_t n = strlen(name);
    ts_tc_varint(w->buf, n);
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
    int delta = (int)id - (int)*last;
    if (delta > 0 && delta <= 15) {
        ts_json_buf_append_char(w->buf, (char)(delta << 4 | (int)type));
    } else {
        /* Long form: the type alone, then the id as a zigzag i16. */
        ts_json_buf_append_char(w->buf, (char)type);
        ts_tc_varint(w->buf, ts_tc_zigzag32(id));
    }
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
    ts_tc_varint(w->buf, ts_tc_zigzag32(v));
}

void ts_tc_field_i64(struct ts_tc_writer *w, int16_t id, int64_t v)
{
    ts_tc_field_header(w, TS_TC_I64, id);
    ts_tc_varint(w->buf, ts_tc_zigzag64(v));
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
    ts_tc_varint(w->buf, n);
    ts_json_buf_append(w->buf, p, n);
}

/* Length of the UTF-8 character that starts s[0..n), or 0 when the bytes
 * there are not a well-formed one (RFC 3629: shortest form only, no
 * UTF-16 surrogates, nothing above U+10FFFF). Decodes the code point and
 * checks its range, which covers every rule at once. */
static size_t tc_utf8_char_len(const unsigned char *s, size_t n)
{
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t len = c >= 0xF8 ? 0 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
    if (len == 0 || len > n)
        return 0;
    uint32_t cp = c & (0x7Fu >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3Fu);
    }
    if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

#define TC_REPLACEMENT "\xEF\xBF\xBD" /* U+FFFD */

/* Walk s[0..n) as UTF-8: with out NULL only count the bytes the cleaned
 * string takes, else also append them. One routine for both passes, so the
 * length prefix always matches the bytes. */
static size_t tc_utf8_clean(struct ts_json_buf *out, const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t total = 0, i = 0;
    while (i < n) {
        size_t run = i; /* a run of valid characters, copied in one piece */
        size_t k;
        while (run < n && (k = tc_utf8_char_len(s + run, n - run)) != 0)
            run += k;
        if (out)
            ts_json_buf_append(out, s + i, run - i);
        total += run - i;
        i = run;
        if (i < n) { /* one byte that starts no valid character */
            if (out)
                ts_json_buf_append(out, TC_REPLACEMENT, sizeof TC_REPLACEMENT - 1);
            total += sizeof TC_REPLACEMENT - 1;
            i++;
        }
    }
    return total;
}

void ts_tc_field_string(struct ts_tc_writer *w, int16_t id, const char *p, size_t n)
{
    ts_tc_field_header(w, TS_TC_BINARY, id);
    ts_tc_varint(w->buf, tc_utf8_clean(NULL, p, n));
    tc_utf8_clean(w->buf, p, n);
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
