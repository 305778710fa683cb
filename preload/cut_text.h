/* cut_text.h — text built in a fixed buffer and cut where the buffer ends:
 * for texts kept or shown whole when they fit and cut when they do not (a
 * URL with its secrets hidden, a route, a span's name, a redacted command
 * line). No NUL is written; a caller that needs one leaves a byte for it
 * out of cap. A cut never splits a UTF-8 character (the exporters would
 * show its first bytes as U+FFFD). Inline: the pieces are short, and a
 * call would cost more than most copies. */
#ifndef TS_CUT_TEXT_H
#define TS_CUT_TEXT_H

#include <stddef.h>
#include <string.h>

#include "ascii.h"

struct ts_cut_text {
    char *buf;
    size_t cap, len;
};

/* How much of s[0..len), the start of a longer text cut at len, to keep so
 * that it does not end in part of a UTF-8 character: len, or up to 3
 * bytes less. (Bytes that are not UTF-8 are kept as they are, but for a
 * lead byte at the end whose character would not be whole.) */
static inline size_t ts_utf8_whole(const char *s, size_t len)
{
    for (size_t k = len; k > 0 && len - k < 4; k--) {
        unsigned char b = (unsigned char)s[k - 1];
        if ((b & 0xC0) == 0x80)
            continue; /* a continuation byte: its character began before it */
        size_t need = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
        return need > len - (k - 1) ? k - 1 : len;
    }
    return len;
}

/* t was cut: it keeps no part of a character, and takes nothing more. */
static inline void ts_cut_text_close(struct ts_cut_text *t)
{
    t->len = ts_utf8_whole(t->buf, t->len);
    t->cap = t->len;
}

/* Room left in t. */
static inline size_t ts_cut_text_room(const struct ts_cut_text *t)
{
    return t->cap - t->len;
}

/* Append s[0..n), as much of it as fits. */
static inline void ts_cut_text_put(struct ts_cut_text *t, const char *s, size_t n)
{
    size_t room = ts_cut_text_room(t);
    if (n <= room) {
        memcpy(t->buf + t->len, s, n);
        t->len += n;
        return;
    }
    memcpy(t->buf + t->len, s, room);
    t->len += room;
    ts_cut_text_close(t);
}

/* Append v in decimal, as much of it as fits. */
static inline void ts_cut_text_put_uint(struct ts_cut_text *t, unsigned v)
{
    char digits[20], *end = digits + sizeof digits;
    const char *first = ts_ascii_decimal_before(end, v);
    ts_cut_text_put(t, first, (size_t)(end - first));
}

/* Append an address and port as a URI's authority writes them: ip:port,
 * an IPv6 address (one with a ':') in brackets, [ip]:port (RFC 3986). */
static inline void ts_cut_text_put_ip_port(struct ts_cut_text *t, const char *ip, size_t ip_len,
                                           unsigned port)
{
    if (memchr(ip, ':', ip_len)) {
        ts_cut_text_put(t, "[", 1);
        ts_cut_text_put(t, ip, ip_len);
        ts_cut_text_put(t, "]:", 2);
    } else {
        ts_cut_text_put(t, ip, ip_len);
        ts_cut_text_put(t, ":", 1);
    }
    ts_cut_text_put_uint(t, port);
}

#endif
