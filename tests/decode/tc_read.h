/* tc_read.h — a small reader for Thrift's compact protocol, to walk what
 * reporter/thrift_compact.c wrote without trusting it: every read is
 * bounds-checked and a malformed input sets `bad` (reads past the end
 * return 0). Varints must be minimal, as the writer writes them.
 *
 * The primitives (bytes, varints, field and list headers) plus a skipper
 * for any value, so a caller can check the fields it knows and still walk
 * past the rest. Test-only and header-only (static inline). Used by
 * tests/unit/test_jaeger_thrift.c and tests/fuzz/fuzz_encoders.c. */
#ifndef TS_TEST_TC_READ_H
#define TS_TEST_TC_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Compact-protocol type codes (field and list headers), named apart from
 * the writer's on purpose. */
enum {
    RD_BOOL_TRUE = 1, /* in a field header: a bool field that is true */
    RD_BOOL_FALSE = 2,
    RD_BYTE = 3,
    RD_I16 = 4,
    RD_I32 = 5,
    RD_I64 = 6,
    RD_DOUBLE = 7,
    RD_BINARY = 8,
    RD_LIST = 9,
    RD_SET = 10,
    RD_MAP = 11,
    RD_STRUCT = 12,
};

struct rd {
    const uint8_t *p, *end;
    bool bad;
};

static inline uint8_t rd_u8(struct rd *r)
{
    if (r->p >= r->end) {
        r->bad = true;
        return 0;
    }
    return *r->p++;
}

static inline uint64_t rd_varint(struct rd *r)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        uint8_t b = rd_u8(r);
        /* minimal: no 0 byte after a continuation, bit 63 the last */
        if ((shift == 63 && b > 1) || (shift > 0 && b == 0))
            break;
        v |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80))
            return v;
    }
    r->bad = true;
    return 0;
}

static inline int64_t rd_unzigzag(uint64_t u)
{
    return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

static inline void rd_skip_n(struct rd *r, uint64_t n)
{
    if ((uint64_t)(r->end - r->p) < n) {
        r->bad = true;
        r->p = r->end;
        return;
    }
    r->p += n;
}

/* Next field header of a struct: its id, and *type (0 at the stop). *last
 * is the previous field's id, which short headers are relative to. */
static inline int rd_field(struct rd *r, int *last, int *type)
{
    uint8_t b = rd_u8(r);
    *type = b & 0x0F;
    if (b == 0)
        return 0;
    *last = (b >> 4) ? *last + (b >> 4) : (int)rd_unzigzag(rd_varint(r));
    return *last;
}

/* A list/set header: the size, and *elem. */
static inline uint64_t rd_list(struct rd *r, int *elem)
{
    uint8_t b = rd_u8(r);
    *elem = b & 0x0F;
    return (b >> 4) == 15 ? rd_varint(r) : (uint64_t)(b >> 4);
}

static inline void rd_skip(struct rd *r, int type, int depth);

/* Skip a struct's fields up to and including its stop. */
static inline void rd_struct(struct rd *r, int depth)
{
    int last = 0, type;
    while (!r->bad) {
        rd_field(r, &last, &type);
        if (type == 0)
            return;
        rd_skip(r, type, depth + 1);
    }
}

/* Skip one value of this type (a field's: bools have no bytes). */
static inline void rd_skip(struct rd *r, int type, int depth)
{
    if (depth > 16) {
        r->bad = true;
        return;
    }
    switch (type) {
    case RD_BOOL_TRUE:
    case RD_BOOL_FALSE:
        return;
    case RD_BYTE:
        rd_u8(r);
        return;
    case RD_I16:
    case RD_I32:
    case RD_I64:
        rd_varint(r);
        return;
    case RD_DOUBLE:
        rd_skip_n(r, 8);
        return;
    case RD_BINARY:
        rd_skip_n(r, rd_varint(r));
        return;
    case RD_LIST:
    case RD_SET: {
        int elem;
        uint64_t n = rd_list(r, &elem);
        for (uint64_t i = 0; i < n && !r->bad; i++) {
            if (elem == RD_BOOL_TRUE || elem == RD_BOOL_FALSE)
                rd_u8(r); /* in a list a bool is a byte */
            else
                rd_skip(r, elem, depth + 1);
        }
        return;
    }
    case RD_STRUCT:
        rd_struct(r, depth);
        return;
    default: /* maps are never written here */
        r->bad = true;
    }
}

#endif
