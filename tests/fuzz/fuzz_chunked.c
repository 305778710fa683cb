/* fuzz_chunked.c — libFuzzer target for the chunked body decoder of
 * hooks/http1.c (ts_http_body_feed on a TS_BODY_CHUNKED body): the code
 * that decides where a chunked message ends, and so where the next one on
 * the connection starts — the place the shim injects its headers.
 *
 * The decoder is compared with a reference written here the other way
 * round: it sees the whole buffer at once and works line by line (find the
 * line end, then judge the line), where the decoder is a byte-at-a-time
 * state machine fed in pieces. Both follow RFC 9112 7.1 with the limits
 * http1.c documents: 1 to 16 hex digits, blanks before a chunk extension,
 * extensions and trailer values free of control characters but HTAB,
 * trailer names of tchars (no obs-fold), CRLF or a bare LF ending every
 * line, and at most 4096 bytes in a size or trailer line (its terminator
 * not counted).
 *
 * The input:
 *   byte 0      mode: bit 0 build a chunked body from the input (below),
 *               else the rest is the body as it is; bit 1 then damage one
 *               byte of what was built (bits 3-7 pick the byte put there:
 *               a blank, CR, LF, ';', ':', a digit, a control ...); bit 2
 *               feed a prefix cut short
 *   byte 1      S, and S piece sizes for split feeding (0: an empty feed),
 *               used in turn; no sizes: one piece
 *   the rest    the body, or the description of one: up to 7 data chunks
 *               (size, digit style — lower, upper, padded to 16 or to 17
 *               digits —, extension or blanks, LF or CRLF line ends, lines
 *               grown to 4090..4101 bytes, data), the last chunk, up to 3
 *               trailer fields, the final line, and bytes that follow the
 *               body (the next message). What was built is known to end at
 *               its last line — or to be invalid (17 digits, a line past
 *               4096 bytes).
 *
 * Invariants (abort() on violation): the reference and the decoder agree
 * — malformed, or incomplete, or done after exactly the same number of
 * bytes — whether the decoder gets the body whole, in the input's pieces
 * or one byte at a time; a built body reads as built; every feed returns
 * -1 or 0..len, takes all of len unless it reports the end, and after the
 * end takes nothing more; a prefix of a complete body is incomplete. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hooks/http1.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

#define LINE_MAX_BYTES 4096 /* http1.c's TS_HTTP_CHUNK_LINE_MAX */
#define SIZE_DIGITS_MAX 16
#define ONE_BY_ONE_MAX 20000 /* longest body also fed a byte at a time */

/* What became of a body: malformed, needs more bytes, or ended after `end`
 * bytes. */
enum outcome { MALFORMED, INCOMPLETE, DONE };
struct verdict {
    enum outcome outcome;
    size_t end; /* DONE */
};

static bool same_verdict(struct verdict a, struct verdict b)
{
    return a.outcome == b.outcome && (a.outcome != DONE || a.end == b.end);
}

/* ------------------------------------------------------------ reference */

static bool is_hex(uint8_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static unsigned hex_value(uint8_t c)
{
    return c <= '9' ? (unsigned)(c - '0') : (unsigned)((c | 0x20) - 'a' + 10);
}

static bool is_ctl(uint8_t c)
{
    return c < 0x20 || c == 0x7f;
}

static bool is_tchar(uint8_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool is_blank(uint8_t c)
{
    return c == ' ' || c == '\t';
}

/* The line at p[0..n): 1 when it ends within n (*content bytes, then a
 * CRLF or LF; *next is the offset after it), 0 when the buffer ends first
 * (*content is what there is, a CR at the very end not counted), -1 for a
 * CR followed by anything but LF. */
static int ref_line(const uint8_t *p, size_t n, size_t *content, size_t *next)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\n') {
            *content = i;
            *next = i + 1;
            return 1;
        }
        if (p[i] == '\r') {
            *content = i;
            if (i + 1 == n)
                return 0;
            if (p[i + 1] != '\n')
                return -1;
            *next = i + 2;
            return 1;
        }
    }
    *content = n;
    return 0;
}

/* A chunk-size line "HEX [blanks] [; extension]" — or, when the line has
 * not ended yet (complete false), a start of one. Sets *size. */
static bool ref_size_line(const uint8_t *p, size_t n, bool complete, uint64_t *size)
{
    if (n > LINE_MAX_BYTES)
        return false;
    size_t i = 0;
    uint64_t v = 0;
    for (; i < n && is_hex(p[i]); i++) {
        if (i == SIZE_DIGITS_MAX)
            return false;
        v = v * 16 + hex_value(p[i]);
    }
    if (i == 0)
        return n == 0 && !complete; /* a size starts with a digit */
    while (i < n && is_blank(p[i]))
        i++;
    if (i < n) {
        if (p[i] != ';')
            return false;
        for (i++; i < n; i++)
            if (is_ctl(p[i]) && p[i] != '\t')
                return false;
    }
    *size = v;
    return true;
}

/* A trailer line "name:value" (n > 0), or the start of one. */
static bool ref_trailer_line(const uint8_t *p, size_t n, bool complete)
{
    if (n > LINE_MAX_BYTES)
        return false;
    size_t i = 0;
    while (i < n && is_tchar(p[i]))
        i++;
    if (i == 0)
        return false; /* also an obs-fold: a line that starts with a blank */
    if (i == n)
        return !complete;
    if (p[i] != ':')
        return false;
    for (i++; i < n; i++)
        if (is_ctl(p[i]) && p[i] != '\t')
            return false;
    return true;
}

static struct verdict ref_decode(const uint8_t *p, size_t n)
{
    const struct verdict malformed = {MALFORMED, 0}, incomplete = {INCOMPLETE, 0};
    size_t pos = 0, content, next;
    uint64_t size;
    for (;;) { /* chunks */
        int line = ref_line(p + pos, n - pos, &content, &next);
        if (line < 0)
            return malformed;
        if (line == 0) /* a CR at the end means the line itself is whole */
            return ref_size_line(p + pos, content, content < n - pos, &size) ? incomplete
                                                                             : malformed;
        if (!ref_size_line(p + pos, content, true, &size))
            return malformed;
        pos += next;
        if (size == 0)
            break;
        if (n - pos <= size)
            return incomplete; /* the data, or the line end after it, is still to come */
        pos += (size_t)size;
        if (p[pos] == '\n') {
            pos++;
        } else if (p[pos] == '\r') {
            if (pos + 1 == n)
                return incomplete;
            if (p[pos + 1] != '\n')
                return malformed;
            pos += 2;
        } else {
            return malformed;
        }
    }
    for (;;) { /* trailer fields, then the empty line */
        int line = ref_line(p + pos, n - pos, &content, &next);
        if (line < 0)
            return malformed;
        if (line == 0)
            return content == 0 || ref_trailer_line(p + pos, content, content < n - pos)
                       ? incomplete
                       : malformed;
        if (content == 0)
            return (struct verdict){DONE, pos + next};
        if (!ref_trailer_line(p + pos, content, true))
            return malformed;
        pos += next;
    }
}

/* ------------------------------------------------------------- decoder */

/* Feed body[0..len) to a fresh chunked decoder in pieces of the sizes
 * given in turn (none: one piece; 0: an empty feed), checking each call. */
static struct verdict feed(const uint8_t *body, size_t len, const uint8_t *sizes, size_t nsizes)
{
    struct ts_http_body b = {.kind = TS_BODY_CHUNKED};
    size_t pos = 0, k = 0, end = 0;
    bool ended = false;
    while (pos < len) {
        size_t piece = nsizes ? sizes[k++ % nsizes] : len - pos;
        if (piece > len - pos)
            piece = len - pos;
        bool done = true; /* the call must set it either way */
        ssize_t r = ts_http_body_feed(&b, (const char *)body + pos, piece, &done);
        CHECK(r >= -1 && r <= (ssize_t)piece);
        if (r < 0)
            return (struct verdict){MALFORMED, 0};
        if (ended) {
            CHECK(r == 0 && done); /* after the end nothing more is taken */
        } else if (done) {
            ended = true;
            end = pos + (size_t)r;
        } else {
            CHECK((size_t)r == piece); /* all is taken until the end */
        }
        pos += piece;
    }
    bool done = !ended; /* an empty feed changes nothing */
    CHECK(ts_http_body_feed(&b, (const char *)body + len, 0, &done) == 0 && done == ended);
    return ended ? (struct verdict){DONE, end} : (struct verdict){INCOMPLETE, 0};
}

/* ---------------------------------------------------- building a body */

struct cursor {
    const uint8_t *p, *end;
};

static uint8_t take_u8(struct cursor *c)
{
    return c->p < c->end ? *c->p++ : 0;
}

struct built {
    uint8_t *data;
    size_t len, cap;
    bool invalid; /* built past a limit on purpose */
};

static void put(struct built *b, const void *p, size_t n)
{
    if (b->cap - b->len < n) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->len < n)
            cap *= 2;
        b->data = realloc(b->data, cap);
        CHECK(b->data != NULL);
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void put_byte(struct built *b, uint8_t c)
{
    put(b, &c, 1);
}

static void put_line_end(struct built *b, bool bare_lf)
{
    put(b, bare_lf ? "\n" : "\r\n", bare_lf ? 1 : 2);
}

/* A byte from the input made fit for an extension or a field value. */
static uint8_t text_byte(struct cursor *c)
{
    uint8_t v = take_u8(c);
    return is_ctl(v) && v != '\t' ? (uint8_t)('a' + v % 26) : v;
}

/* The length a grown line gets: around the limit, on both sides. */
static size_t grown_length(struct cursor *c, struct built *b)
{
    size_t len = LINE_MAX_BYTES - 6 + take_u8(c) % 12;
    if (len > LINE_MAX_BYTES)
        b->invalid = true;
    return len;
}

/* A chunk-size line for size, in the style the input picks. */
static void put_size_line(struct built *b, struct cursor *c, uint64_t size, uint8_t style)
{
    static const char lower[] = "0123456789abcdef", upper[] = "0123456789ABCDEF";
    char digits[SIZE_DIGITS_MAX + 1];
    size_t n = 0;
    do {
        digits[n++] = (style & 3) == 1 ? upper[size % 16] : lower[size % 16];
        size /= 16;
    } while (size);
    size_t width = n;
    if ((style & 3) >= 2) /* leading zeros up to the limit, or one past it */
        width = (style & 3) == 2 ? SIZE_DIGITS_MAX : SIZE_DIGITS_MAX + 1;
    if (width > SIZE_DIGITS_MAX)
        b->invalid = true;
    size_t start = b->len;
    for (size_t i = n; i < width; i++)
        put_byte(b, '0');
    while (n)
        put_byte(b, (uint8_t)digits[--n]);
    unsigned ext = (style >> 2) & 3; /* 0 none, 1 extension, 2 blanks + extension, 3 blanks */
    if (ext >= 2)
        for (size_t i = take_u8(c) % 4 + 1; i > 0; i--)
            put_byte(b, take_u8(c) & 1 ? '\t' : ' ');
    if (ext == 1 || ext == 2) {
        put_byte(b, ';');
        for (size_t i = take_u8(c) % 12; i > 0; i--)
            put_byte(b, text_byte(c));
    }
    if (style & 0x40) { /* grow the line to near the limit */
        size_t want = grown_length(c, b);
        if (ext == 0) {
            put_byte(b, ';');
            ext = 1;
        }
        while (b->len - start < want)
            put_byte(b, ext == 3 ? ' ' : 'x');
    }
    put_line_end(b, style & 0x10);
}

/* A chunked body and the bytes after it; returns where the body ends. */
static size_t build_body(struct built *b, struct cursor *c)
{
    size_t nchunks = take_u8(c) % 8;
    for (size_t k = 0; k < nchunks; k++) {
        uint8_t style = take_u8(c);
        uint64_t size = take_u8(c) + 1u;
        if (style & 0x80)
            size *= 37; /* past a piece, past a line */
        put_size_line(b, c, size, style);
        for (uint64_t i = 0; i < size; i++)
            put_byte(b, c->p < c->end ? *c->p++ : (uint8_t)('d' + i % 7));
        put_line_end(b, style & 0x20);
    }
    put_size_line(b, c, 0, take_u8(c) & 0x5f); /* the last chunk */
    size_t ntrailers = take_u8(c) % 4;
    for (size_t k = 0; k < ntrailers; k++) {
        uint8_t style = take_u8(c);
        size_t start = b->len;
        static const char name_chars[] = "abcXYZ019!#$%&'*+-.^_`|~";
        for (size_t i = take_u8(c) % 8 + 1; i > 0; i--)
            put_byte(b, (uint8_t)name_chars[take_u8(c) % (sizeof name_chars - 1)]);
        put_byte(b, ':');
        for (size_t i = take_u8(c) % 16; i > 0; i--)
            put_byte(b, text_byte(c));
        if (style & 0x40) {
            size_t want = grown_length(c, b);
            while (b->len - start < want)
                put_byte(b, 'v');
        }
        put_line_end(b, style & 0x10);
    }
    put_line_end(b, take_u8(c) & 1);
    size_t end = b->len;
    put(b, c->p, (size_t)(c->end - c->p)); /* the next message */
    return end;
}

/* -------------------------------------------------------------- entry */

/* The decoder on body[0..len): whole, in the input's pieces, one byte at
 * a time — the same verdict each way, the reference's. */
static struct verdict check_all_ways(const uint8_t *body, size_t len, const uint8_t *sizes,
                                     size_t nsizes)
{
    struct verdict want = ref_decode(body, len);
    CHECK(same_verdict(feed(body, len, NULL, 0), want));
    if (nsizes)
        CHECK(same_verdict(feed(body, len, sizes, nsizes), want));
    if (len <= ONE_BY_ONE_MAX) {
        static const uint8_t one = 1;
        CHECK(same_verdict(feed(body, len, &one, 1), want));
    }
    return want;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cursor c = {data, data + size};
    uint8_t mode = take_u8(&c);
    size_t nsizes = take_u8(&c);
    if (nsizes > (size_t)(c.end - c.p))
        nsizes = (size_t)(c.end - c.p);
    const uint8_t *sizes = c.p;
    c.p += nsizes;
    bool any_bytes = false; /* only empty feeds would never get anywhere */
    for (size_t i = 0; i < nsizes; i++)
        any_bytes = any_bytes || sizes[i] != 0;
    if (!any_bytes)
        nsizes = 0;
    size_t cut_seed = size * 7919u + mode;

    if (!(mode & 1)) {
        struct verdict v = check_all_ways(c.p, (size_t)(c.end - c.p), sizes, nsizes);
        if (v.outcome == DONE && (mode & 4)) /* a prefix of a whole body */
            CHECK(check_all_ways(c.p, cut_seed % v.end, NULL, 0).outcome == INCOMPLETE);
        return 0;
    }

    struct built b = {0};
    size_t end = build_body(&b, &c);
    if (mode & 2) { /* damage one byte: the construction no longer says */
        /* the bytes the grammar turns on, so that a damaged body is a near
         * miss more often than noise */
        static const uint8_t turning[] = " \t\r\n;:=0fFgx\"\x00\x01\x7f\x80\xff";
        b.data[cut_seed % b.len] = turning[(mode >> 3) % (sizeof turning - 1)];
        check_all_ways(b.data, b.len, sizes, nsizes);
    } else {
        struct verdict v = check_all_ways(b.data, b.len, sizes, nsizes);
        if (b.invalid) {
            CHECK(v.outcome == MALFORMED);
        } else {
            CHECK(v.outcome == DONE && v.end == end); /* the reference reads it as built */
            if (mode & 4)                             /* and a prefix of it is incomplete */
                CHECK(check_all_ways(b.data, cut_seed % end, NULL, 0).outcome == INCOMPLETE);
        }
    }
    free(b.data);
    return 0;
}
