/* json_buf.c — growable JSON text buffer (see json_buf.h). */
#include "json_buf.h"

#include <link.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "../preload/blocks.h"
#include "../preload/self_image.h"

void ts_json_buf_init(struct ts_json_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->failed = false;
    b->mapped = false;
}

/* Where a buffer's memory comes from, by its capacity (a power of two):
 *  - below BUF_POOLED, malloc: the many small buffers (a span's text, an
 *    HTTP head);
 *  - from BUF_POOLED to TS_BUF_MAX, the shim's block pools
 *    (preload/blocks.h): a batch buffer given back after its send is kept
 *    for a second and reused by the next batch, and returned to the system
 *    once the reporter is idle. From malloc, buffers that size came from
 *    the reporter thread's arena once glibc's mmap threshold had risen to
 *    them, and their pages stayed resident for good (about 1 MiB with a
 *    busy exporter);
 *  - larger, mmap of their own. */
#define BUF_POOLED ((size_t)64 << 10)

static __thread bool buf_no_malloc __attribute__((tls_model("initial-exec")));

void ts_json_buf_without_malloc(bool on)
{
    buf_no_malloc = on;
}

bool ts_json_buf_malloc_barred(void)
{
    return buf_no_malloc;
}

static char *buf_map(size_t cap)
{
    void *p = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* A buffer of cap bytes; *mapped: a mapping of its own, whatever cap. */
static char *buf_take(size_t cap, bool *mapped)
{
    *mapped = buf_no_malloc;
    if (buf_no_malloc)
        return buf_map(cap);
    if (cap < BUF_POOLED)
        return malloc(cap);
    if (cap <= TS_BUF_MAX) {
        char *p = NULL;
        size_t got = 0;
        return ts_buf_reserve(&p, &got, cap) ? p : NULL;
    }
    return buf_map(cap);
}

static void buf_give(char *data, size_t cap, bool mapped)
{
    if (!data)
        return;
    if (mapped || cap > TS_BUF_MAX)
        munmap(data, cap);
    else if (buf_no_malloc) /* malloc's or the pools': left for the death that follows */
        return;
    else if (cap < BUF_POOLED)
        free(data);
    else
        ts_buf_release(&data, &cap);
}

void ts_json_buf_free(struct ts_json_buf *b)
{
    buf_give(b->data, b->cap, b->mapped);
    ts_json_buf_init(b);
}

void ts_json_buf_truncate(struct ts_json_buf *b, size_t len)
{
    if (len < b->len)
        b->len = len;
}

static uint64_t buf_moved; /* ts_json_buf_moved */

uint64_t ts_json_buf_moved(void)
{
    return __atomic_load_n(&buf_moved, __ATOMIC_RELAXED);
}

bool ts_json_buf_reserve(struct ts_json_buf *b, size_t extra)
{
    if (b->failed)
        return false;
    if (extra <= b->cap - b->len)
        return true;
    if (extra > SIZE_MAX / 2 - b->len) {
        b->failed = true;
        return false;
    }
    size_t need = b->len + extra;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    char *p;
    bool mapped = false;
    if (cap < BUF_POOLED && !b->mapped && !buf_no_malloc) {
        p = realloc(b->data, cap);
    } else {
        p = buf_take(cap, &mapped);
        if (p && b->len)
            memcpy(p, b->data, b->len);
        if (p)
            buf_give(b->data, b->cap, b->mapped);
    }
    if (!p) {
        b->failed = true;
        return false;
    }
    if (b->len)
        __atomic_fetch_add(&buf_moved, b->len, __ATOMIC_RELAXED);
    b->data = p;
    b->cap = cap;
    b->mapped = mapped;
    return true;
}

void ts_json_buf_append_slow(struct ts_json_buf *b, const void *p, size_t n)
{
    if (n == 0 || !ts_json_buf_reserve(b, n))
        return;
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

char *ts_json_buf_room_slow(struct ts_json_buf *b, size_t n)
{
    return ts_json_buf_reserve(b, n) ? b->data + b->len : NULL;
}

size_t ts_json_buf_put_before(struct ts_json_buf *b, size_t room_start, size_t off,
                              const void *head, size_t n)
{
    if (b->failed || room_start > off || off > b->len) {
        b->failed = true; /* a caller's mistake: never send what it made */
        return SIZE_MAX;
    }
    if (off - room_start < n) {
        size_t more = n - (off - room_start);
        if (!ts_json_buf_reserve(b, more))
            return SIZE_MAX;
        memmove(b->data + off + more, b->data + off, b->len - off);
        b->len += more;
        off += more;
    }
    ts_put(b->data + off - n, head, n);
    return off - n;
}

/* Eight bytes at a time: a word of eight bytes each of which is 0x01, and
 * the same with 0x80. */
#define SWAR_ONES ((uint64_t)0x0101010101010101u)
#define SWAR_HIGHS (SWAR_ONES * 0x80)

/* Nonzero when some byte of w is zero (exact, as any-of: the bits it sets
 * above a zero byte may be wrong, which is why only "any" is used). */
static inline uint64_t swar_has_zero(uint64_t w)
{
    return (w - SWAR_ONES) & ~w & SWAR_HIGHS;
}

static inline uint64_t swar_load(const char *p)
{
    uint64_t w;
    memcpy(&w, p, sizeof w); /* any alignment; one load on x86 */
    return w;
}

size_t ts_ascii_len(const char *s, size_t n)
{
    size_t i = 0;
    while (i + 8 <= n && !(swar_load(s + i) & SWAR_HIGHS))
        i += 8;
    while (i < n && !((unsigned char)s[i] & 0x80))
        i++;
    return i;
}

/* Nonzero when some byte of w is not plain (ts_json_plain): its high bit
 * is set, or it is below 0x20 (the subtraction borrows into the high bit
 * of exactly such bytes, ~w keeps it off for bytes that had it), or it is
 * a quote or a backslash. */
static inline uint64_t swar_json_odd(uint64_t w)
{
    uint64_t odd = (w | ((w - SWAR_ONES * 0x20) & ~w)) & SWAR_HIGHS;
    return odd | swar_has_zero(w ^ (SWAR_ONES * '"')) | swar_has_zero(w ^ (SWAR_ONES * '\\'));
}

static inline uint32_t load32(const char *p)
{
    uint32_t w;
    memcpy(&w, p, sizeof w);
    return w;
}

/* ts_json_plain_len's work, inline where the JSON strings are written.
 * Whole words first: a string of 8 or more bytes as its words and its
 * last 8 bytes, one of 4 to 7 as its first and last 4 bytes in one word,
 * one of 1 to 3 as its first, middle and last byte; only a string with an
 * odd byte is then looked at byte by byte, for the exact place. */
__attribute__((always_inline)) static inline size_t json_plain_len(const char *s, size_t n)
{
    size_t i = 0;
    if (n >= 8) {
        while (i + 8 <= n && !swar_json_odd(swar_load(s + i)))
            i += 8;
        if (i == n || (i + 8 > n && !swar_json_odd(swar_load(s + n - 8))))
            return n;
    } else if (n >= 4) {
        if (!swar_json_odd(load32(s) | (uint64_t)load32(s + n - 4) << 32))
            return n;
    } else if (n > 0) {
        const unsigned char *u = (const unsigned char *)s;
        if (ts_json_plain[u[0]] & ts_json_plain[u[n / 2]] & ts_json_plain[u[n - 1]])
            return n;
    }
    while (i < n && ts_json_plain[(unsigned char)s[i]])
        i++;
    return i;
}

size_t ts_json_plain_len(const char *s, size_t n)
{
    return json_plain_len(s, n);
}

#define TS_UTF8_REPLACEMENT "\xEF\xBF\xBD" /* U+FFFD REPLACEMENT CHARACTER */
#define TS_UTF8_REPLACEMENT_LEN (sizeof TS_UTF8_REPLACEMENT - 1)

size_t ts_utf8_char_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    /* The allowed range of the 2nd byte: RFC 3629's table, which rules out
     * overlong forms, surrogates and code points above U+10FFFF by the
     * first two bytes alone. */
    unsigned char lo = 0x80, hi = 0xBF;
    if (c < 0x80) {
        return 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0; /* overlong */
        else if (c == 0xED)
            hi = 0x9F; /* UTF-16 surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90; /* overlong */
        else if (c == 0xF4)
            hi = 0x8F; /* above U+10FFFF */
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return len;
}

size_t ts_utf8_clean_len_mixed(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t out = 0;
    for (size_t i = 0; i < n;) {
        size_t ascii = ts_ascii_len(str + i, n - i); /* valid as it is */
        out += ascii;
        i += ascii;
        if (i == n)
            break;
        size_t k = ts_utf8_char_len(s + i, n - i);
        out += k ? k : TS_UTF8_REPLACEMENT_LEN;
        i += k ? k : 1;
    }
    return out;
}

char *ts_put_utf8(char *o, const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        /* A run of valid characters is copied in one piece: valid input,
         * the common case, is a single copy. ASCII in it is looked at
         * eight bytes at a time. */
        size_t run = i, k;
        for (;;) {
            run += ts_ascii_len(str + run, n - run);
            if (run == n || (k = ts_utf8_char_len(s + run, n - run)) == 0)
                break;
            run += k;
        }
        o = ts_put(o, s + i, run - i);
        i = run;
        if (i < n) { /* one byte that starts no valid character */
            o = TS_PUT_LIT(o, TS_UTF8_REPLACEMENT);
            i++;
        }
    }
    return o;
}

void ts_json_buf_utf8(struct ts_json_buf *b, const char *s, size_t n)
{
    if (n > SIZE_MAX / TS_UTF8_REPLACEMENT_LEN) {
        b->failed = true;
        return;
    }
    char *o = ts_json_buf_room(b, n * TS_UTF8_REPLACEMENT_LEN);
    if (o)
        ts_json_buf_commit(b, ts_put_utf8(o, s, n));
}

/* Where this module's read-only data is (its string literals among it). */
#define KEY_RO_MAX 4 /* read-only segments kept: a module has one to three */
static struct {
    uintptr_t lo, hi;
} key_ro[KEY_RO_MAX];
static size_t key_ro_n;
static pthread_once_t key_ro_once = PTHREAD_ONCE_INIT;

static void key_ro_find(void)
{
    struct ts_self_segment seg[TS_SELF_SEGMENTS_MAX];
    unsigned n = ts_self_segments(seg, TS_SELF_SEGMENTS_MAX);
    for (unsigned i = 0; i < n && i < TS_SELF_SEGMENTS_MAX && key_ro_n < KEY_RO_MAX; i++)
        if (!(seg[i].flags & PF_W)) {
            key_ro[key_ro_n].lo = seg[i].lo;
            key_ro[key_ro_n].hi = seg[i].hi;
            key_ro_n++;
        }
}

/* True when key[0..klen] (its NUL too) lies in this module's read-only
 * data. */
static bool key_is_literal(const char *key, size_t klen)
{
    pthread_once(&key_ro_once, key_ro_find);
    uintptr_t p = (uintptr_t)key;
    for (size_t i = 0; i < key_ro_n; i++)
        if (p >= key_ro[i].lo && p < key_ro[i].hi && klen < key_ro[i].hi - p)
            return true;
    return false;
}

/* Make key's entry in e (klen = strlen(key)); NULL when it has none. */
static const struct ts_key_frag *key_frag_make(struct ts_key_frag *e, const char *key,
                                               size_t klen, ts_key_frag_fn make)
{
    size_t at = 0;
    uint32_t info = 0;
    size_t len = klen < TS_KEY_FRAG_MAX ? make(e->text, key, klen, &at, &info) : 0;
    /* A key that has no fragment keeps its slot all the same (klen 0, at
     * 0: it never matches again), so that it is not made again and again
     * at the end of a longer and longer search. */
    if (len == 0 || len > TS_KEY_FRAG_MAX || at + klen > len) {
        e->key = key;
        e->klen = 0;
        e->at = 0;
        e->len = 0;
        e->literal = false;
        e->info = 0;
        e->text[0] = '\0';
        return NULL;
    }
    e->key = key;
    e->klen = (uint8_t)klen;
    e->at = (uint8_t)at;
    e->len = (uint8_t)len;
    e->literal = key_is_literal(key, klen);
    e->info = info;
    return e;
}

const struct ts_key_frag *ts_key_frag_find(struct ts_key_frags *t, const char *key,
                                           ts_key_frag_fn make)
{
    /* Open addressing: from the key's slot on to the first free one. The
     * shim has a few dozen keys, so the table never fills in use; when it
     * has (tests), a new key is written the long way. */
    size_t i = ts_key_frag_slot(key);
    for (size_t probe = 0; probe < TS_KEY_FRAG_SLOTS; probe++) {
        struct ts_key_frag *e = &t->slot[(i + probe) % TS_KEY_FRAG_SLOTS];
        if (e->key == key) {
            if (e->len == 0)
                return NULL; /* none: the long way, right whatever the key reads now */
            if (ts_key_frag_is(e, key))
                return e;
            return key_frag_make(e, key, strlen(key), make); /* same address, new text */
        }
        if (!e->key)
            return key_frag_make(e, key, strlen(key), make);
    }
    return NULL;
}

void ts_json_buf_varint_slow(struct ts_json_buf *b, uint64_t v)
{
    uint8_t tmp[TS_VARINT_MAX];
    ts_json_buf_append(b, tmp, ts_varint_encode(tmp, v));
}

void ts_json_buf_varint_utf8(struct ts_json_buf *b, const char *s, size_t n)
{
    if (ts_all_ascii(s, n)) {
        ts_json_buf_varint(b, n);
        ts_json_buf_append(b, s, n);
        return;
    }
    ts_json_buf_varint(b, ts_utf8_clean_len_mixed(s, n));
    ts_json_buf_utf8(b, s, n);
}

const unsigned char ts_json_plain[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 00 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 10 */
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 20 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 30 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 40 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, /* 50 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 60 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 70 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 80 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 90 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* a0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* b0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* c0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* d0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* e0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* f0 */
};

/* The rest of a JSON string from its first byte that is not plain: a
 * run of plain bytes in one copy, then the byte that ended it. */
static char *json_put_escaped(char *o, const unsigned char *s, size_t n)
{
    size_t i = 0;
    for (;;) {
        size_t run = ts_json_plain_len((const char *)s + i, n - i);
        o = ts_put(o, s + i, run);
        i += run;
        if (i == n)
            return o;
        unsigned char c = s[i];
        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
            i++;
        } else if (c < 0x20) {
            o = TS_PUT_LIT(o, "\\u00");
            o = ts_put(o, ts_hex_pairs + 2 * c, 2);
            i++;
        } else {
            size_t k = ts_utf8_char_len(s + i, n - i);
            if (k) {
                o = ts_put(o, s + i, k);
                i += k;
            } else {
                o = TS_PUT_LIT(o, TS_UTF8_REPLACEMENT);
                i++;
            }
        }
    }
}

char *ts_put_json_string_slow(char *o, const char *s, size_t n)
{
    /* Most strings (keys, methods, paths, addresses) are plain all
     * through: one check and one copy. */
    size_t plain = json_plain_len(s, n);
    *o++ = '"';
    o = ts_put(o, s, plain);
    if (plain < n)
        o = json_put_escaped(o, (const unsigned char *)s + plain, n - plain);
    *o++ = '"';
    return o;
}

void ts_json_buf_string(struct ts_json_buf *b, const char *s, size_t n)
{
    if (n > (SIZE_MAX - 2) / 6) {
        b->failed = true;
        return;
    }
    char *o = ts_json_buf_room(b, TS_JSON_STRING_MAX(n));
    if (o)
        ts_json_buf_commit(b, ts_put_json_string(o, s, n));
}

unsigned ts_u64_digits(uint64_t v)
{
    static const uint64_t pow10[TS_U64_DIGITS_MAX] = {
        1u, 10u, 100u, 1000u, 10000u, 100000u, 1000000u, 10000000u, 100000000u,
        1000000000u, 10000000000u, 100000000000u, 1000000000000u, 10000000000000u,
        100000000000000u, 1000000000000000u, 10000000000000000u, 100000000000000000u,
        1000000000000000000u, 10000000000000000000u,
    };
    /* log10(2) is about 1233 / 4096: from v's bit length that gives the
     * digit count or one less, and one comparison tells which. */
    unsigned bits = 64 - (unsigned)__builtin_clzll(v | 1);
    unsigned d = bits * 1233 >> 12; /* 0 .. 19 */
    d += v >= pow10[d];
    return d ? d : 1;
}

/* The eight decimal digits of v < 10^8, zeros in front, as the values 0 to
 * 9 in the bytes of a word, the first digit in the lowest byte. All eight
 * come out together, with no division but the first: v's two halves of
 * four digits go in the word's two 32-bit lanes, each is split into its
 * hundreds and the rest in 16-bit lanes, and each of those into tens and
 * units in bytes. A lane's quotient is a multiplication and a shift
 * (n * 10486 >> 20 is n / 100 for n < 10^4, m * 103 >> 10 is m / 10 for
 * m < 100), its product too small to reach into the next lane, and the
 * mask drops what the lane above shifted down into it. */
static inline uint64_t digit_bytes8(uint32_t v)
{
    uint64_t x = v / 10000 | (uint64_t)(v % 10000) << 32;
    uint64_t hundreds = (x * 10486 >> 20) & 0x0000007F0000007Fu;
    x = hundreds | (x - hundreds * 100) << 16;
    uint64_t tens = (x * 103 >> 10) & 0x000F000F000F000Fu;
    return tens | (x - tens * 10) << 8;
}

/* The bytes of a word from digit_bytes8 in memory order, at o. */
static inline void store_digit_bytes(char *o, uint64_t w)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    memcpy(o, &w, sizeof w);
}

#define ASCII_ZEROS 0x3030303030303030u /* '0' in every byte */

/* The eight digits of v < 10^8 at o, zeros in front. */
static inline char *put_8_digits(char *o, uint32_t v)
{
    store_digit_bytes(o, digit_bytes8(v) + ASCII_ZEROS);
    return o + 8;
}

/* v < 10^8 in decimal at o: its eight digits with the zeros in front
 * shifted out. Writes 8 bytes, whatever v's length. */
static inline char *put_short_digits(char *o, uint32_t v)
{
    uint64_t d = digit_bytes8(v);
    /* the bytes before the first nonzero digit; never the last digit,
     * which is 0 itself when v is */
    unsigned zeros = (unsigned)__builtin_ctzll(d | (uint64_t)1 << 56) / 8;
    store_digit_bytes(o, (d + ASCII_ZEROS) >> (8 * zeros));
    return o + 8 - zeros;
}

char *ts_put_u64_digits(char *o, uint64_t v)
{
    /* Eight digits at a time: a number below 10^8 (nearly every one but a
     * time) is one step, the longest three. */
    if (v < 100000000)
        return put_short_digits(o, (uint32_t)v);
    uint64_t high = v / 100000000;
    uint32_t low = (uint32_t)(v % 100000000);
    if (high < 100000000) {
        o = put_short_digits(o, (uint32_t)high);
    } else {
        o = put_short_digits(o, (uint32_t)(high / 100000000)); /* at most 1844 */
        o = put_8_digits(o, (uint32_t)(high % 100000000));
    }
    return put_8_digits(o, low);
}

char *ts_put_u64_memo(char *o, uint64_t v, struct ts_digits_memo *m)
{
    if (v < 1000000000)
        return ts_put_u64(o, v);
    uint64_t high = v / 1000000000;
    uint32_t low = (uint32_t)(v % 1000000000);
    if (m->len == 0 || m->high != high) {
        char *end = ts_put_u64_digits(m->text, high); /* 1 .. 11 digits: fits */
        m->len = (uint8_t)(end - m->text);
        m->high = high;
    }
    /* all of text, a fixed size (a few moves), the cursor set after the
     * digits: the bytes past them are overwritten next */
    memcpy(o, m->text, sizeof m->text);
    o += m->len;
    /* the nine low digits, zeros in front */
    *o++ = (char)('0' + low / 100000000);
    return put_8_digits(o, low % 100000000);
}

char *ts_put_i64(char *o, int64_t v)
{
    if (v >= 0)
        return ts_put_u64(o, (uint64_t)v);
    *o++ = '-';
    /* negate in unsigned arithmetic: INT64_MIN has no positive twin */
    return ts_put_u64(o, (uint64_t)0 - (uint64_t)v);
}

void ts_json_buf_u64(struct ts_json_buf *b, uint64_t v)
{
    char *o = ts_json_buf_room(b, TS_U64_DIGITS_MAX);
    if (o)
        ts_json_buf_commit(b, ts_put_u64(o, v));
}

void ts_json_buf_i64(struct ts_json_buf *b, int64_t v)
{
    char *o = ts_json_buf_room(b, TS_I64_CHARS_MAX);
    if (o)
        ts_json_buf_commit(b, ts_put_i64(o, v));
}

void ts_json_buf_hex(struct ts_json_buf *b, const uint8_t *p, size_t n)
{
    if (n > SIZE_MAX / 2)
        return;
    char *o = ts_json_buf_room(b, 2 * n);
    if (o)
        ts_json_buf_commit(b, ts_put_hex(o, p, n));
}
