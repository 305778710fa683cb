/* json_buf.h — a growable byte buffer for building JSON text.
 *
 * Running out of memory never crashes: the buffer becomes "failed", every
 * later append is ignored, and the caller checks `failed` once at the end
 * (and drops what it was building). Strings are always emitted as valid
 * JSON whatever bytes they hold: the input is network data. */
#ifndef TS_JSON_BUF_H
#define TS_JSON_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "../preload/hex.h"

struct ts_json_buf {
    char *data; /* not NUL-terminated */
    size_t len;
    size_t cap;
    bool failed; /* an allocation failed: contents are incomplete */
    bool mapped; /* data is a mapping of its own, whatever cap (ts_json_buf_without_malloc) */
};

/* An empty buffer owning no memory (same as zero-initialising it). */
void ts_json_buf_init(struct ts_json_buf *b);

/* Release the memory; the buffer is empty and usable again afterwards. */
void ts_json_buf_free(struct ts_json_buf *b);

/* Forget the contents and the failure, keep the memory for reuse. */
static inline void ts_json_buf_reset(struct ts_json_buf *b)
{
    b->len = 0;
    b->failed = false;
}

/* Cut the contents back to len bytes (undo a partial append). */
void ts_json_buf_truncate(struct ts_json_buf *b, size_t len);

/* Make room for extra more bytes; false (and failed) when out of memory. */
bool ts_json_buf_reserve(struct ts_json_buf *b, size_t extra);

/* While on (this thread only): a signal handler writes the span file on
 * the thread it interrupted, which may be inside malloc or free. Every
 * buffer that grows then takes a mapping of its own (mmap is
 * async-signal-safe), and the memory it leaves, when malloc's, is left
 * as it is rather than freed: the process dies next. */
void ts_json_buf_without_malloc(bool on);

/* Is that mode on (this thread)? Then nothing else may reach malloc
 * either: an error's text comes from strerrorname_np, not strerror_r. */
bool ts_json_buf_malloc_barred(void);

/* Bytes the process's buffers have copied to grow since it started (a
 * count the tests read: a batch buffer grown batch after batch copies
 * each batch once more). */
uint64_t ts_json_buf_moved(void);

/* Raw bytes, copied as they are. The encoders append many short pieces
 * per span on the reporter thread; the common case (room in the buffer) is
 * inline, so a literal's length is known at compile time and the copy is a
 * few moves. */
void ts_json_buf_append_slow(struct ts_json_buf *b, const void *p, size_t n);

static inline void ts_json_buf_append(struct ts_json_buf *b, const void *p, size_t n)
{
    if (!b->failed && n <= b->cap - b->len) {
        if (n) /* memcpy from NULL is undefined even for 0 bytes */
            memcpy(b->data + b->len, p, n);
        b->len += n;
        return;
    }
    ts_json_buf_append_slow(b, p, n);
}

static inline void ts_json_buf_append_cstr(struct ts_json_buf *b, const char *s)
{
    ts_json_buf_append(b, s, strlen(s));
}

static inline void ts_json_buf_append_char(struct ts_json_buf *b, char c)
{
    ts_json_buf_append(b, &c, 1);
}

/* 1 for the bytes a JSON string holds as they are: ASCII from space to
 * DEL, but the quote and the backslash. */
extern const unsigned char ts_json_plain[256];

/* A quoted JSON string of n arbitrary bytes: '"' and '\\' escaped, control
 * characters as \u00XX, valid UTF-8 copied, every byte that is not part of
 * a valid UTF-8 sequence replaced by U+FFFD. */
void ts_json_buf_string(struct ts_json_buf *b, const char *s, size_t n);

/* Decimal numbers, unquoted. */
void ts_json_buf_u64(struct ts_json_buf *b, uint64_t v);
void ts_json_buf_i64(struct ts_json_buf *b, int64_t v);

/* n bytes as 2n lower-case hex digits, unquoted. */
void ts_json_buf_hex(struct ts_json_buf *b, const uint8_t *p, size_t n);

/* ------------------------------------------- writing through a cursor
 *
 * An encoder that knows an upper bound of what it is about to write asks
 * for that much room once, writes the pieces through a plain pointer with
 * the ts_put_* helpers below (no capacity check per piece), and commits
 * where it ended: a span is a handful of such steps instead of dozens of
 * checked appends. */

/* Where n more bytes can be written at the end of b, or NULL when b has
 * failed or cannot grow that much (it is failed then). */
char *ts_json_buf_room_slow(struct ts_json_buf *b, size_t n);

static inline char *ts_json_buf_room(struct ts_json_buf *b, size_t n)
{
    if (!b->failed && n <= b->cap - b->len)
        return b->data + b->len;
    return ts_json_buf_room_slow(b, n);
}

/* What was written into the room, up to end, is part of b from now on. */
static inline void ts_json_buf_commit(struct ts_json_buf *b, char *end)
{
    b->len = (size_t)(end - b->data);
}

/* For an encoder writing through a cursor o into b's room: o, or where it
 * is now, with room for n more bytes after it; NULL when out of memory (b
 * is failed). The room is only looked at while it suffices; when it must
 * grow (which may move it), what was written up to o is committed first. */
static inline char *ts_json_buf_more(struct ts_json_buf *b, char *o, size_t n)
{
    if (n <= (size_t)(b->data + b->cap - o))
        return o;
    ts_json_buf_commit(b, o);
    return ts_json_buf_room_slow(b, n);
}

/* For a message built around its middle (encoder.h): writes head[0..n) so
 * that it ends at offset off of b, in the free room [room_start, off)
 * before it. When that room is smaller than n, the bytes from off on move
 * up to make it. Returns the offset at which head starts, or SIZE_MAX when
 * out of memory (b is failed) or b had failed already. */
size_t ts_json_buf_put_before(struct ts_json_buf *b, size_t room_start, size_t off,
                              const void *head, size_t n);

/* Each ts_put_* writes at o and returns the end of what it wrote. */

/* n bytes from p. Most strings of a span are short, and a short copy is a
 * few overlapping moves, without the call memcpy costs (for a literal the
 * compiler keeps only the branch that applies). */
static inline char *ts_put(char *o, const void *p, size_t n)
{
    const char *s = (const char *)p;
    if (n > 16 && n <= 32) {
        uint64_t a, b, y, z;
        memcpy(&a, s, 8);
        memcpy(&b, s + 8, 8);
        memcpy(&y, s + n - 16, 8);
        memcpy(&z, s + n - 8, 8);
        memcpy(o, &a, 8);
        memcpy(o + 8, &b, 8);
        memcpy(o + n - 16, &y, 8);
        memcpy(o + n - 8, &z, 8);
    } else if (n >= 8 && n <= 16) {
        uint64_t a, z;
        memcpy(&a, s, 8);
        memcpy(&z, s + n - 8, 8);
        memcpy(o, &a, 8);
        memcpy(o + n - 8, &z, 8);
    } else if (n >= 4 && n < 8) {
        uint32_t a, z;
        memcpy(&a, s, 4);
        memcpy(&z, s + n - 4, 4);
        memcpy(o, &a, 4);
        memcpy(o + n - 4, &z, 4);
    } else if (n > 0 && n < 4) {
        o[0] = s[0];
        o[n / 2] = s[n / 2];
        o[n - 1] = s[n - 1];
    } else if (n) { /* memcpy from NULL is undefined even for 0 bytes */
        memcpy(o, s, n);
    }
    return o + n;
}

/* A string literal, whose length the compiler knows. */
#define TS_PUT_LIT(o, lit) ts_put((o), (lit), sizeof(lit) - 1)

/* Decimal, unquoted: at most TS_U64_DIGITS_MAX bytes (TS_I64_CHARS_MAX
 * with a minus sign), in room of that many: the digits are stored eight
 * at a time, so up to 8 bytes may be written (garbage past the end, to be
 * overwritten) even for a short number. */
#define TS_U64_DIGITS_MAX 20
#define TS_I64_CHARS_MAX 20
char *ts_put_u64_digits(char *o, uint64_t v);
char *ts_put_i64(char *o, int64_t v);

/* One digit (a kind, a status code) without a call. */
static inline char *ts_put_u64(char *o, uint64_t v)
{
    if (v < 10) {
        *o = (char)('0' + v);
        return o + 1;
    }
    return ts_put_u64_digits(o, v);
}

/* Number of decimal digits of v (1 .. TS_U64_DIGITS_MAX). */
unsigned ts_u64_digits(uint64_t v);

/* n bytes as 2n lower-case hex digits: with SSE2, eight bytes at a time
 * (ts_hex_encode_8, preload/hex.h), inline here where a span's 32 bytes of
 * ids are written; one table look-up a byte otherwise. */
static inline char *ts_put_hex(char *o, const uint8_t *p, size_t n)
{
    size_t i = 0;
#ifdef __SSE2__
    for (; i + 8 <= n; i += 8)
        ts_hex_encode_8(p + i, o + 2 * i);
#endif
    char *w = o + 2 * i;
    for (; i < n; i++, w += 2)
        memcpy(w, ts_hex_pairs + 2 * p[i], 2);
    return w;
}

/* A number's leading digits kept from one call to the next: a span's
 * start and end times, and those of the spans after it, share their
 * leading ten digits (the seconds), and only the nine after them change.
 * Owned by one encoder, used by one thread at a time; all zero: empty. */
struct ts_digits_memo {
    uint64_t high; /* the number over 10^9 whose digits text holds */
    uint8_t len;   /* of text; 0: nothing kept */
    char text[16]; /* room for 11 digits, copied as 16 bytes */
};

/* v in decimal like ts_put_u64, its digits above the last nine taken from
 * m when they are the same as last time (and kept there otherwise). At
 * most TS_U64_DIGITS_MAX bytes, in room of that many. */
char *ts_put_u64_memo(char *o, uint64_t v, struct ts_digits_memo *m);

/* The room ts_put_json_string needs for n input bytes: each as \u00XX,
 * the quotes, and 16 bytes its fast path may store past the string's end
 * (garbage, overwritten by what is written next). */
#define TS_JSON_STRING_MAX(n) (6 * (size_t)(n) + 2 + 16)

/* ts_put_json_string the long way, for any bytes. */
char *ts_put_json_string_slow(char *o, const char *s, size_t n);

#ifdef __SSE2__
/* Bit i set when byte i of v is not plain (ts_json_plain): below 0x20 or
 * from 0x80 on (as signed bytes, both are below 0x20), a quote or a
 * backslash. */
static inline unsigned ts_json_odd16(__m128i v)
{
    __m128i odd = _mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)),
                               _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                                            _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));
    return (unsigned)_mm_movemask_epi8(odd);
}

#if defined(__SANITIZE_ADDRESS__)
#define TS_JSON_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TS_JSON_ASAN 1
#endif
#endif

/* The 16 bytes from s, of which only s[0..n) (n < 16) are the string's:
 * false when they cannot be read. The bytes past the string are read
 * only when they are on s's page (4 KiB, the smallest there is), which is
 * mapped since s is: whatever they hold, they are readable. ASan would
 * call that an overflow of the string's object, so under it the string is
 * copied out first. */
static inline bool ts_load16_short(const char *s, size_t n, __m128i *v)
{
#ifdef TS_JSON_ASAN
    char copy[16] = {0};
    memcpy(copy, s, n);
    *v = _mm_loadu_si128((const __m128i *)copy);
    return true;
#else
    (void)n;
    if (((uintptr_t)s & 4095) > 4096 - 16)
        return false;
    *v = _mm_loadu_si128((const __m128i *)s);
    return true;
#endif
}
#endif

/* A quoted JSON string of s[0..n), as ts_json_buf_string writes it.
 * Nearly every string of a span (a method, a path, an address, a name) is
 * short and plain: with SSE2, one of 1 to 32 bytes is checked and copied
 * in one or two 16-byte pieces, inline; any other goes the long way. */
static inline char *ts_put_json_string(char *o, const char *s, size_t n)
{
#ifdef __SSE2__
    if (n - 1 < 32) { /* 1 .. 32 (n - 1 wraps for 0) */
        __m128i head, tail;
        if (n >= 16) {
            /* the first and the last 16 bytes, overlapping */
            head = _mm_loadu_si128((const __m128i *)s);
            tail = _mm_loadu_si128((const __m128i *)(s + n - 16));
            if (!(ts_json_odd16(head) | ts_json_odd16(tail))) {
                *o = '"';
                _mm_storeu_si128((__m128i *)(o + 1), head);
                _mm_storeu_si128((__m128i *)(o + 1 + n - 16), tail);
                o[n + 1] = '"';
                return o + n + 2;
            }
        } else if (ts_load16_short(s, n, &head) && !(ts_json_odd16(head) & ((1u << n) - 1))) {
            *o = '"';
            _mm_storeu_si128((__m128i *)(o + 1), head);
            o[n + 1] = '"';
            return o + n + 2;
        }
    }
#endif
    return ts_put_json_string_slow(o, s, n);
}

/* How many bytes at the start of s[0..n) a JSON string holds as they are
 * (ts_json_plain), looked at eight at a time. */
size_t ts_json_plain_len(const char *s, size_t n);

/* How many bytes at the start of s[0..n) are ASCII, eight at a time. */
size_t ts_ascii_len(const char *s, size_t n);

/* s[0..n) made valid UTF-8 (ts_json_buf_utf8): at most 3n bytes. */
char *ts_put_utf8(char *o, const char *s, size_t n);

/* UTF-8, one rule for every encoder (RFC 3629: shortest form only, no
 * UTF-16 surrogates, nothing above U+10FFFF), so that a span reads the same
 * in every export format. */

/* Length of the valid UTF-8 character at s[0..n) (n >= 1): 1 for ASCII,
 * 2..4 for a well-formed multi-byte one, 0 when s[0] starts none. */
size_t ts_utf8_char_len(const unsigned char *s, size_t n);

/* Whether every byte of s[0..n) is ASCII. One OR per word and no early
 * exit: a string of 8 bytes or more as its words and its last 8 bytes,
 * one of 4 to 7 as its first and last 4, one of 1 to 3 as its first,
 * middle and last byte (a span's strings are short, and nearly always
 * ASCII). */
static inline bool ts_all_ascii(const char *s, size_t n)
{
    uint64_t seen = 0;
    if (n >= 8) {
        uint64_t w;
        for (size_t i = 0; i + 8 < n; i += 8) {
            memcpy(&w, s + i, 8);
            seen |= w;
        }
        memcpy(&w, s + n - 8, 8);
        seen |= w;
    } else if (n >= 4) {
        uint32_t first, last;
        memcpy(&first, s, 4);
        memcpy(&last, s + n - 4, 4);
        seen = first | last;
    } else if (n > 0) {
        seen = (unsigned char)s[0] | (unsigned char)s[n / 2] | (unsigned char)s[n - 1];
    }
    return !(seen & 0x8080808080808080u);
}

/* ts_utf8_clean_len for a string that is not all ASCII. */
size_t ts_utf8_clean_len_mixed(const char *s, size_t n);

/* Length of s[0..n) once every byte that is not part of a valid UTF-8
 * character is replaced by U+FFFD (3 bytes): what ts_json_buf_utf8
 * appends. The protobuf and thrift encoders ask it of every string. */
static inline size_t ts_utf8_clean_len(const char *s, size_t n)
{
    return ts_all_ascii(s, n) ? n : ts_utf8_clean_len_mixed(s, n);
}

/* s[0..n) as raw bytes (no quotes, no escaping), every byte that is not
 * part of a valid UTF-8 character replaced by U+FFFD. */
void ts_json_buf_utf8(struct ts_json_buf *b, const char *s, size_t n);

/* ------------------------------------------------- attribute keys
 *
 * Attribute keys are the shim's own string literals, the same few in span
 * after span. An encoder keeps what it writes for a key — the key with the
 * punctuation or field header around it — in a small table found by the
 * key's address, and copies that instead of measuring, checking and
 * escaping the key again for every span. An entry holds the key's bytes;
 * unless the key lies in the read-only data of the module this code is
 * part of (the shim's literals, whose bytes cannot change), it is used
 * only while the key still reads the same, so a key that is not a literal
 * costs a miss, never a wrong key. */

#define TS_KEY_FRAG_MAX 64 /* bytes of one fragment: room for the keys the shim has */
#define TS_KEY_FRAG_SLOTS 128

struct ts_key_frag {
    const char *key; /* NULL: a free slot */
    uint8_t klen;    /* strlen(key) */
    uint8_t at;      /* text[at .. at + klen) is the key as it is */
    uint8_t len;     /* of text */
    bool literal;    /* key is in this module's read-only data: its text never changes */
    uint32_t info;   /* what else the encoder wants to know of the key */
    char text[TS_KEY_FRAG_MAX];
};

struct ts_key_frags {
    struct ts_key_frag slot[TS_KEY_FRAG_SLOTS];
};

/* Writes the fragment of key[0..klen) into text (TS_KEY_FRAG_MAX bytes of
 * room) with the key's bytes unchanged at *at, and may set *info (0
 * otherwise); returns its length, or 0 when the key cannot be written that
 * way (it needs escaping, or the fragment would not fit): such a key is
 * not kept. */
typedef size_t (*ts_key_frag_fn)(char *text, const char *key, size_t klen, size_t *at,
                                 uint32_t *info);

/* The slot where the search for a key's address starts. */
static inline size_t ts_key_frag_slot(const char *key)
{
    uint64_t h = (uint64_t)(uintptr_t)key * 0x9E3779B97F4A7C15u; /* Fibonacci hashing */
    return (size_t)(h >> 57); /* 7 bits: TS_KEY_FRAG_SLOTS */
}

static inline bool ts_key_frag_is(const struct ts_key_frag *e, const char *key)
{
    /* A literal's address is as good as its text; any other key is read
     * again (strncmp stops at key's end: never past a shorter key). */
    return e->key == key && (e->literal || (strncmp(e->text + e->at, key, e->klen) == 0 &&
                                            key[e->klen] == '\0'));
}

/* Empty the table (after fork, when it may be half-written). */
static inline void ts_key_frags_forget(struct ts_key_frags *t)
{
    memset(t, 0, sizeof *t);
}

/* The search past the first slot, and making an entry. */
const struct ts_key_frag *ts_key_frag_find(struct ts_key_frags *t, const char *key,
                                           ts_key_frag_fn make);

/* key's fragment, made by make the first time; NULL when key has none
 * (the caller writes it the long way). */
static inline const struct ts_key_frag *ts_key_frag_get(struct ts_key_frags *t, const char *key,
                                                        ts_key_frag_fn make)
{
    /* its own slot, or the next: where a key that found its own taken
     * usually is */
    size_t i = ts_key_frag_slot(key);
    if (ts_key_frag_is(&t->slot[i], key))
        return &t->slot[i];
    if (ts_key_frag_is(&t->slot[(i + 1) % TS_KEY_FRAG_SLOTS], key))
        return &t->slot[(i + 1) % TS_KEY_FRAG_SLOTS];
    return ts_key_frag_find(t, key, make);
}

/* What the last span's attributes found, by position: spans of one kind
 * carry the same keys in the same order, so the key at a position is
 * found with one comparison before its table is searched. Only a
 * literal key's entry is kept (its fragment never changes); forget it
 * with the table (memset to 0). */
struct ts_key_frag_memo {
    const char *key;
    uint8_t table; /* which of the encoder's tables (0 when it has one) */
    const struct ts_key_frag *frag;
};

/* ts_key_frag_get(&tables[table], key, makes[table]) through the memo m
 * of the key's position: an encoder has a table (and its make) for each
 * kind of fragment, or one (table 0). */
static inline const struct ts_key_frag *ts_key_frag_at(struct ts_key_frag_memo *m, uint8_t table,
                                                       struct ts_key_frags *tables,
                                                       const ts_key_frag_fn *makes, const char *key)
{
    if (m->key == key && m->table == table)
        return m->frag;
    const struct ts_key_frag *k = ts_key_frag_get(&tables[table], key, makes[table]);
    if (k && k->literal) {
        m->key = key;
        m->table = table;
        m->frag = k;
    }
    return k;
}

/* Unsigned LEB128 varints, as protobuf and thrift's compact protocol write
 * them: 7 bits a byte, least significant first. */
#define TS_VARINT_MAX 10 /* bytes of the longest one (a 64-bit value) */

/* Number of bytes v takes as a varint (1 .. TS_VARINT_MAX). */
static inline size_t ts_varint_len(uint64_t v)
{
    if (v < 0x80) /* most: tags, and short strings' lengths */
        return 1;
    /* 7 bits a byte: ceil(bits / 7) of its significant bits, which
     * (bits * 9 + 64) / 64 is for every width from 1 to 64 */
    unsigned bits = 64 - (unsigned)__builtin_clzll(v);
    return (bits * 9 + 64) >> 6;
}

/* The varint of v at o (room for TS_VARINT_MAX); returns its end. */
static inline char *ts_put_varint(char *o, uint64_t v)
{
    while (v >= 0x80) {
        *o++ = (char)(v | 0x80);
        v >>= 7;
    }
    *o++ = (char)v;
    return o;
}

/* Writes the varint of v to out (room for TS_VARINT_MAX); returns its
 * length. */
static inline size_t ts_varint_encode(uint8_t *out, uint64_t v)
{
    return (size_t)(ts_put_varint((char *)out, v) - (char *)out);
}

/* Appends the varint of v; one byte (tags, small lengths) inline. */
void ts_json_buf_varint_slow(struct ts_json_buf *b, uint64_t v);

static inline void ts_json_buf_varint(struct ts_json_buf *b, uint64_t v)
{
    if (v < 0x80)
        ts_json_buf_append_char(b, (char)v);
    else
        ts_json_buf_varint_slow(b, v);
}

/* A string as protobuf and thrift's compact protocol both write one: its
 * length as a varint, then its bytes, made valid UTF-8 (ts_json_buf_utf8:
 * their decoders reject anything else). ASCII, nearly every string a span
 * holds, is one check and one copy. */
void ts_json_buf_varint_utf8(struct ts_json_buf *b, const char *s, size_t n);

#endif
