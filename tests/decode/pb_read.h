/* pb_read.h — just enough of a protobuf wire-format reader to take the
 * OTLP encoder's output apart without trusting it: every read is
 * bounds-checked, and a malformed message sets `bad` instead of reading on.
 *
 * Stricter than protobuf parsers on one point: a varint must be minimal
 * (no trailing 0x80 padding, at most 64 bits), which is what the writer
 * promises — ts_pb_close writes each length in as few bytes as it needs — so a
 * message that only a lenient parser would take is caught here.
 *
 * Test-only and header-only (static inline). Used by
 * tests/unit/test_otlp_proto.c and tests/fuzz/fuzz_encoders.c. */
#ifndef TS_TEST_PB_READ_H
#define TS_TEST_PB_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Wire types, as the protobuf encoding spec numbers them (the same values
 * as reporter/pb_writer.h's, named apart from it on purpose). */
enum { PBR_VARINT = 0, PBR_I64 = 1, PBR_LEN = 2, PBR_I32 = 5 };

/* A message being read: the bytes left, and whether it went wrong. */
struct pbr {
    const uint8_t *p, *end;
    bool bad;
};

/* One field as read. */
struct pbf {
    uint32_t field;
    unsigned wire;
    uint64_t num;        /* VARINT, I64, I32 */
    const uint8_t *data; /* LEN */
    size_t len;
};

static inline struct pbr pbr_of(const void *p, size_t n)
{
    return (struct pbr){(const uint8_t *)p, (const uint8_t *)p + n, false};
}

static inline uint64_t pbr_varint(struct pbr *r)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end)
            break;
        uint8_t c = *r->p++;
        /* the 10th byte holds bit 63 only; a last byte 0 after others is
         * padding a minimal varint does not have */
        if ((shift == 63 && c > 1) || (shift > 0 && c == 0))
            break;
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80))
            return v;
    }
    r->bad = true;
    return 0;
}

/* The next field, or false at the end of the message (or when malformed:
 * then r->bad is set). Field number 0 is malformed. */
static inline bool pbr_next(struct pbr *r, struct pbf *f)
{
    if (r->bad || r->p >= r->end)
        return false;
    uint64_t tag = pbr_varint(r);
    if (tag >> 3 == 0 || tag >> 3 > 0x1FFFFFFF)
        r->bad = true;
    f->field = (uint32_t)(tag >> 3);
    f->wire = (unsigned)(tag & 7);
    f->num = 0;
    f->data = NULL;
    f->len = 0;
    size_t fixed = f->wire == PBR_I64 ? 8 : f->wire == PBR_I32 ? 4 : 0;
    if (r->bad) {
        return false;
    } else if (f->wire == PBR_VARINT) {
        f->num = pbr_varint(r);
    } else if (fixed) {
        if ((size_t)(r->end - r->p) < fixed) {
            r->bad = true;
            return false;
        }
        for (size_t i = 0; i < fixed; i++)
            f->num |= (uint64_t)r->p[i] << (8 * i);
        r->p += fixed;
    } else if (f->wire == PBR_LEN) {
        uint64_t n = pbr_varint(r);
        if (r->bad || n > (uint64_t)(r->end - r->p)) {
            r->bad = true;
            return false;
        }
        f->data = r->p;
        f->len = (size_t)n;
        r->p += n;
    } else {
        r->bad = true; /* groups (3, 4) and the unused 6, 7: never written */
    }
    return !r->bad;
}

#endif
