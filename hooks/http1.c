/* http1.c — HTTP/1.x head parsing and body framing (see http1.h).
 *
 * The head parsers are stateless: each call parses buf from its start, so a
 * caller that receives a head in pieces calls again with the longer buffer.
 * They decide at the first byte that cannot belong to a head (ERROR) and
 * otherwise report INCOMPLETE until the blank line, which lets the sniffer
 * drop non-HTTP connections after a byte or two. The chunked decoder is the
 * one stateful part: a few bytes of state in struct ts_http_chunked, so body
 * bytes are never buffered. */
#include "http1.h"
#include "../preload/url.h"
#include "fcgi.h"
#include "http1_scan.h"

#include <limits.h>
#include <string.h>

/* Longest size/extension line or trailer line the chunked decoder accepts. */
#define TS_HTTP_CHUNK_LINE_MAX 4096
/* A chunk size has at most 16 hex digits (it must fit in 64 bits). */
#define TS_HTTP_CHUNK_SIZE_DIGITS 16

/* Internal step result: the element parsed, p advanced. */
#define TS_HTTP_OK 0

/* ---------------------------------------------------------- characters */

static inline bool ts_http_is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static inline bool ts_http_is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* What each byte may be in a head, one table lookup per byte (the head
 * parsers see every byte of every request and response):
 *   TS_HTTP_TCHAR  RFC 9110 tchar, the characters of methods and header names
 *   TS_HTTP_VALUE  allowed in a field value: visible ASCII, space, tab and
 *                  obs-text (>= 0x80); not the other controls, not DEL */
#define TS_HTTP_TCHAR 1
#define TS_HTTP_VALUE 2
static const unsigned char ts_http_byte_class[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, /* 00 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 10 */
    2, 3, 2, 3, 3, 3, 3, 3, 2, 2, 3, 3, 2, 3, 3, 2, /* 20 */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, /* 30 */
    2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* 40 */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 3, 3, /* 50 */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* 60 */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2, 3, 2, 3, 0, /* 70 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 80 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 90 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* a0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* b0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* c0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* d0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* e0 */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* f0 */
};

static inline bool ts_http_is_tchar(unsigned char c)
{
    return ts_http_byte_class[c] & TS_HTTP_TCHAR;
}

/* Control characters (C0 and DEL); obs-text (>= 0x80) is not one. */
static inline bool ts_http_is_ctl(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

/* The first byte from p that cannot be in a field value or a reason
 * phrase (a control character other than tab, or DEL), or end. Tabs are
 * rare, so the bulk scan stops at each and steps over it. */
static inline const char *ts_http_value_end(const char *p, const char *end)
{
    for (;;) {
        p = ts_http_scan_plain(p, end, 0x20);
        if (end - p < 8)
            break; /* too few bytes left for a block: p may still be plain */
        if (*p != '\t')
            return p;
        p++;
    }
    while (p < end && (ts_http_byte_class[(unsigned char)*p] & TS_HTTP_VALUE))
        p++;
    return p;
}

static inline unsigned char ts_http_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + ('a' - 'A')) : c;
}

/* Case-insensitive equality of two counted strings; the lengths first, so
 * that the usual miss (another header name) costs one comparison. */
static inline bool ts_http_eq_nocase_n(const char *s, size_t len, const char *lit, size_t lit_len)
{
    if (len != lit_len)
        return false;
    for (size_t i = 0; i < len; i++)
        if (ts_http_lower((unsigned char)s[i]) != ts_http_lower((unsigned char)lit[i]))
            return false;
    return true;
}

/* The same with a C string (a literal's length is folded at compile time). */
static inline bool ts_http_eq_nocase(const char *s, size_t len, const char *lit)
{
    return ts_http_eq_nocase_n(s, len, lit, strlen(lit));
}

/* ------------------------------------------------------- head elements */

/* Match a literal byte by byte, so that a prefix of it is INCOMPLETE and a
 * wrong byte is ERROR at once. */
static int ts_http_expect(const char **pp, const char *end, const char *lit)
{
    const char *p = *pp;
    for (; *lit; lit++, p++) {
        if (p == end)
            return TS_HTTP_INCOMPLETE;
        if (*p != *lit)
            return TS_HTTP_ERROR;
    }
    *pp = p;
    return TS_HTTP_OK;
}

/* A line end: CRLF or bare LF. A CR must be followed by LF. */
static int ts_http_eol(const char **pp, const char *end)
{
    const char *p = *pp;
    if (p == end)
        return TS_HTTP_INCOMPLETE;
    if (*p == '\n') {
        *pp = p + 1;
        return TS_HTTP_OK;
    }
    if (*p != '\r')
        return TS_HTTP_ERROR;
    if (p + 1 == end)
        return TS_HTTP_INCOMPLETE;
    if (p[1] != '\n')
        return TS_HTTP_ERROR;
    *pp = p + 2;
    return TS_HTTP_OK;
}

/* Skip empty lines before a start line (RFC 9112 2.2 asks a recipient to
 * tolerate at least one, e.g. a CRLF a client sent after a body). */
static int ts_http_skip_empty_lines(const char **pp, const char *end)
{
    while (*pp < end && (**pp == '\r' || **pp == '\n')) {
        int r = ts_http_eol(pp, end);
        if (r != TS_HTTP_OK)
            return r;
    }
    return TS_HTTP_OK;
}

/* "HTTP/1." DIGIT; stores the minor version. */
static int ts_http_version(const char **pp, const char *end, int *minor)
{
    if (end - *pp >= 7 && memcmp(*pp, "HTTP/1.", 7) == 0) {
        *pp += 7; /* the usual case, at once */
    } else {
        int r = ts_http_expect(pp, end, "HTTP/1.");
        if (r != TS_HTTP_OK)
            return r;
    }
    if (*pp == end)
        return TS_HTTP_INCOMPLETE;
    if (!ts_http_is_digit((unsigned char)**pp))
        return TS_HTTP_ERROR;
    *minor = **pp - '0';
    (*pp)++;
    return TS_HTTP_OK;
}

/* Keep the index of the first header of note k. */
static inline void ts_http_note_first(struct ts_http_noted *nt, enum ts_http_note k, size_t i)
{
    if (!(nt->seen & (1u << k))) {
        nt->seen |= 1u << k;
        nt->first[k] = (uint32_t)i;
    } else if (k == TS_HTTP_NOTE_TRACEPARENT) { /* a constant where this is inlined */
        nt->seen |= 1u << TS_HTTP_NOTE_TRACEPARENT_AGAIN;
    }
}

/* Is a four-byte name "host", in any case? Every span start asks (the
 * Host header is in every HTTP/1.1 request), so in one 32-bit compare:
 * setting 0x20 in each byte folds the case of letters and of nothing
 * else that could then equal a letter. */
static inline bool ts_http_is_host(const char *name)
{
    uint32_t w, host;
    memcpy(&w, name, 4);
    memcpy(&host, "host", 4);
    return (w | 0x20202020u) == host;
}

/* Which head a parser reads: a request's lines are noted for the names
 * only requests carry too (ts_http_note). Every header line is kept in
 * the caller's array. */
enum ts_http_keep {
    TS_HTTP_KEEP_REQUEST,
    TS_HTTP_KEEP_RESPONSE,
};

/* Note header i by its name (see struct ts_http_noted): the length first,
 * so that most headers cost a comparison or two and none more than two
 * name comparisons. The names only requests carry are noted in requests. */
static inline __attribute__((always_inline)) void
ts_http_note(struct ts_http_noted *nt, const char *name, size_t name_len, size_t i, bool request)
{
#define TS_HTTP_IS(lit) ts_ascii_eq_lower_n(name, lit, sizeof lit - 1)
    if (name_len == sizeof "content-length" - 1) {
        if (TS_HTTP_IS("content-length") && nt->cl_count++ == 0)
            nt->cl_first = i;
        return;
    }
    if (name_len == sizeof "transfer-encoding" - 1 && TS_HTTP_IS("transfer-encoding")) {
        if (nt->te_count++ == 0)
            nt->te_first = i;
        return;
    }
    if (!request)
        return;
    switch (name_len) {
    case sizeof "host" - 1:
        if (ts_http_is_host(name))
            ts_http_note_first(nt, TS_HTTP_NOTE_HOST, i);
        break;
    case sizeof "user-agent" - 1: /* and x-b3-flags */
        if (TS_HTTP_IS("user-agent"))
            ts_http_note_first(nt, TS_HTTP_NOTE_USER_AGENT, i);
        else if (TS_HTTP_IS("x-b3-flags"))
            ts_http_note_first(nt, TS_HTTP_NOTE_B3_FLAGS, i);
        break;
    case sizeof "upgrade" - 1:
        if (TS_HTTP_IS("upgrade"))
            ts_http_note_first(nt, TS_HTTP_NOTE_UPGRADE, i);
        break;
    case sizeof "b3" - 1:
        if (TS_HTTP_IS("b3"))
            ts_http_note_first(nt, TS_HTTP_NOTE_B3, i);
        break;
    case sizeof "forwarded" - 1:
        if (TS_HTTP_IS("forwarded"))
            ts_http_note_first(nt, TS_HTTP_NOTE_FORWARDED, i);
        break;
    case sizeof "x-forwarded-for" - 1:
        if (TS_HTTP_IS("x-forwarded-for"))
            ts_http_note_first(nt, TS_HTTP_NOTE_X_FORWARDED_FOR, i);
        break;
    case sizeof "traceparent" - 1: /* and x-b3-spanid */
        if (TS_HTTP_IS("traceparent"))
            ts_http_note_first(nt, TS_HTTP_NOTE_TRACEPARENT, i);
        else if (TS_HTTP_IS("x-b3-spanid"))
            ts_http_note_first(nt, TS_HTTP_NOTE_B3_SPAN_ID, i);
        break;
    case sizeof "x-b3-traceid" - 1: /* and x-b3-sampled */
        if (TS_HTTP_IS("x-b3-traceid"))
            ts_http_note_first(nt, TS_HTTP_NOTE_B3_TRACE_ID, i);
        else if (TS_HTTP_IS("x-b3-sampled"))
            ts_http_note_first(nt, TS_HTTP_NOTE_B3_SAMPLED, i);
        break;
    case sizeof "uber-trace-id" - 1:
        if (TS_HTTP_IS("uber-trace-id"))
            ts_http_note_first(nt, TS_HTTP_NOTE_UBER_TRACE_ID, i);
        break;
    case sizeof "x-b3-parentspanid" - 1: /* transfer-encoding's length; x-forwarded-proto */
        if (TS_HTTP_IS("x-b3-parentspanid"))
            ts_http_note_first(nt, TS_HTTP_NOTE_B3_PARENT_ID, i);
        else if (TS_HTTP_IS("x-forwarded-proto"))
            ts_http_note_first(nt, TS_HTTP_NOTE_X_FORWARDED_PROTO, i);
        break;
    default:
        break;
    }
#undef TS_HTTP_IS
}

/* Keep a header as headers[n] and note it; returns the new count. */
static inline __attribute__((always_inline)) size_t
ts_http_store(struct ts_http_header *headers, size_t n, struct ts_http_noted *nt, const char *name,
              size_t name_len, const char *value, const char *value_end, enum ts_http_keep keep)
{
    headers[n].name = name;
    headers[n].name_len = name_len;
    headers[n].value = value;
    headers[n].value_len = (size_t)(value_end - value);
    ts_http_note(nt, name, name_len, n, keep == TS_HTTP_KEEP_REQUEST);
    return n + 1;
}

/* Past the blanks before a field value; nearly every value follows one
 * space, and a byte above it ends the blanks at once. */
static inline const char *ts_http_skip_ows(const char *p, const char *end)
{
    if (end - p >= 2 && p[0] == ' ' && (unsigned char)p[1] > ' ')
        return p + 1;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

/* The end of a field value from value to its stop: just past its last
 * non-blank byte, as the only bytes up to a space a value holds are the
 * blanks (space, tab). */
static inline const char *ts_http_trim_value(const char *value, const char *stop)
{
    while (stop > value && (unsigned char)stop[-1] <= ' ')
        stop--;
    return stop;
}

/* The minor version of the "HTTP/1." and digit in the eight bytes at p,
 * as in nearly every start line, or -1 for anything else. */
static inline int ts_http_minor_at(const char *p)
{
    uint64_t w = ts_http_word_le(p), http = ts_http_word_le("HTTP/1.0");
    const uint64_t all_but_last = ~(0xffull << 56);
    unsigned digit = (unsigned)(w >> 56) - '0';
    return (w & all_but_last) == (http & all_but_last) && digit < 10 ? (int)digit : -1;
}

/* Past the line end (CRLF or LF) at t, a byte before end; NULL when there
 * is none there (or not all of it yet). */
static inline const char *ts_http_line_end_at(const char *t, const char *end)
{
    if (t < end - 1 && memcmp(t, "\r\n", 2) == 0)
        return t + 2;
    if (*t == '\n')
        return t + 1;
    return NULL;
}

#ifdef __SSE2__
/* The stops (http1_scan.h) of the sixteen bytes at p, of which only those
 * before the buffer's end count: from `last`, the buffer's last block
 * (end - 16, which the caller made sure exists), on, that block is read
 * instead and its bits shifted down to start at p, which leaves none for
 * bytes past end (p - last is at most 16: p is never past end). */
#define TS_HTTP_STOPS_BEFORE_END(stops, p, last)                                                   \
    ((p) <= (last) ? stops(p) : stops(last) >> ((p) - (last)))

/* The usual header lines from *pp, a block of sixteen bytes at a time:
 * a name of letters, digits and '-' shorter than a block, ':', a value of
 * visible ASCII and spaces, and CRLF or LF. Stops at the first other line
 * (a rarer name or value, an error, the head's blank line, the buffer's
 * end) and leaves it to the byte-by-byte code, which decides it as it
 * always has: this path only takes lines that code takes, and as it takes
 * them. *lines counts the lines read, against cap, and each goes to
 * headers[*kept..]. *pp goes past the lines taken. last: see
 * TS_HTTP_STOPS_BEFORE_END. */
static inline __attribute__((always_inline)) void
ts_http_usual_lines(const char **pp, const char *end, const char *last,
                    struct ts_http_header *headers, size_t *lines, size_t *kept, size_t cap,
                    struct ts_http_noted *nt, enum ts_http_keep keep)
{
    const char *s = *pp;
    size_t line = *lines, n = *kept;
    for (; line < cap; line++) {
        unsigned stops = TS_HTTP_STOPS_BEFORE_END(ts_http_name_stops, s, last);
        if (!stops)
            break;
        size_t name_len = (size_t)__builtin_ctz(stops);
        if (s[name_len] != ':' || name_len == 0)
            break;
        /* The line ends at the value's first stop: the blanks around the
         * value are not stops, so it is looked for from the colon on. */
        const char *v = s + name_len + 1, *t = v;
        while (!(stops = TS_HTTP_STOPS_BEFORE_END(ts_http_value_stops, t, last))) {
            if (t >= last)
                goto out; /* the value goes on to the end: INCOMPLETE, or more */
            t += 16;
        }
        t += __builtin_ctz(stops);
        const char *next = ts_http_line_end_at(t, end);
        if (!next)
            break;
        /* From the colon to t only visible ASCII and spaces (the value's
         * blanks: a tab stops the scan), and t is no space, so the spaces
         * before the value end by t. */
        while (*v == ' ')
            v++;
        const char *value_end = t;
        while (value_end > v && value_end[-1] == ' ')
            value_end--;
        n = ts_http_store(headers, n, nt, s, name_len, v, value_end, keep);
        s = next;
    }
out:
    *pp = s;
    *lines = line;
    *kept = n;
}
#endif

/* Where a header line would start, *pp, after `lines` of at most cap:
 * TS_HTTP_OK past the blank line that ends the head, TS_HTTP_MORE_LINES
 * when another line starts there, or TS_HTTP_INCOMPLETE / TS_HTTP_ERROR
 * (also for a line past cap). Of the bytes up to CR only CR and LF may
 * start a line; the others are a name's to refuse. */
#define TS_HTTP_MORE_LINES 1
static inline int ts_http_head_ends(const char **pp, const char *end, size_t lines, size_t cap)
{
    const char *p = *pp;
    if (p == end)
        return TS_HTTP_INCOMPLETE;
    if ((unsigned char)*p <= '\r' && (*p == '\r' || *p == '\n'))
        return ts_http_eol(pp, end);
    return lines < cap ? TS_HTTP_MORE_LINES : TS_HTTP_ERROR; /* more than the caller holds */
}

/* The notes of a head whose lines are about to be read (only the counts
 * and `seen` start at zero: first[k] is written when bit k is), and of
 * one whose n headers were read, which hold from then on. */
static inline void ts_http_notes_begin(struct ts_http_noted *nt)
{
    nt->cl_count = nt->te_count = 0;
    nt->seen = 0;
}

static inline void ts_http_notes_end(struct ts_http_noted *nt, struct ts_http_header *headers,
                                     size_t n)
{
    nt->headers = headers;
    nt->count = n;
    if (!nt->cl_count)
        nt->cl_first = n;
    if (!nt->te_count)
        nt->te_first = n;
}

/* Header lines up to and including the blank line that ends the head.
 * The notes go to *nt, the head's own, as the lines are read (as the
 * headers go to the caller's array), with the headers' count at the end;
 * nt->headers is NULL until then (the parse's first step), so that the
 * notes of a head that turns out incomplete or invalid never hold
 * (ts_http_notes_hold), also where a head parsed before left some. cap
 * bounds the header lines. last: the
 * buffer's last block (see TS_HTTP_STOPS_BEFORE_END), NULL in a buffer
 * shorter than one. Inlined in each parser with its own `keep`. */
static inline __attribute__((always_inline)) int
ts_http_headers(const char **pp, const char *end, const char *last, struct ts_http_header *headers,
                size_t cap, struct ts_http_noted *nt, enum ts_http_keep keep)
{
    const char *p = *pp;
    size_t lines = 0, n = 0; /* read; kept */
    ts_http_notes_begin(nt);
    for (;;) {
#ifdef __SSE2__
        /* The usual lines first: they are none of the cases below, so
         * those are looked at only for a line that is not one. */
        if (last)
            ts_http_usual_lines(&p, end, last, headers, &lines, &n, cap, nt, keep);
#endif
        int r = ts_http_head_ends(&p, end, lines, cap);
        if (r == TS_HTTP_OK)
            break;
        if (r != TS_HTTP_MORE_LINES)
            return r;

        /* field-name ":" — no blank before the colon (RFC 9112 5.1); an
         * obs-fold line starting with a blank lands here too. The scan
         * stops at the colon unless the name has a rarer tchar. */
        const char *name = p;
        p = ts_http_scan_name(p, end);
        if (p == end || *p != ':') {
            while (p < end && ts_http_is_tchar((unsigned char)*p))
                p++;
            if (p == end)
                return TS_HTTP_INCOMPLETE;
            if (*p != ':')
                return TS_HTTP_ERROR;
        }
        if (p == name)
            return TS_HTTP_ERROR;
        size_t name_len = (size_t)(p - name);
        p++;

        /* OWS field-value OWS line-end */
        p = ts_http_skip_ows(p, end);
        const char *value = p;
        p = ts_http_value_end(p, end);
        if (p == end)
            return TS_HTTP_INCOMPLETE;
        const char *value_end = ts_http_trim_value(value, p);
        if (*p == '\n') {
            p++;
        } else if (*p != '\r') {
            return TS_HTTP_ERROR; /* a control character inside the value */
        } else if (p + 1 == end) {
            return TS_HTTP_INCOMPLETE;
        } else if (p[1] != '\n') {
            return TS_HTTP_ERROR;
        } else {
            p += 2;
        }
        lines++;
        n = ts_http_store(headers, n, nt, name, name_len, value, value_end, keep);
    }
    ts_http_notes_end(nt, headers, n);
    *pp = p;
    return TS_HTTP_OK;
}

/* Heads longer than INT_MAX cannot be reported: clamp the input and turn a
 * head still incomplete at the clamp into an error. */
static size_t ts_http_clamp(size_t len)
{
    return len > (size_t)INT_MAX ? (size_t)INT_MAX : len;
}

/* A parse step's result as the public result: the head's length on success. */
static int ts_http_finish(int r, size_t len, const char *start, const char *p)
{
    if (r == TS_HTTP_OK)
        return (int)(p - start);
    if (r == TS_HTTP_INCOMPLETE && len > (size_t)INT_MAX)
        return TS_HTTP_ERROR;
    return r;
}

/* The buffer's last block, from which its fast paths read the blocks that
 * would reach past its end (TS_HTTP_STOPS_BEFORE_END); NULL when it is
 * shorter than a block, and always without SSE2. */
static const char *ts_http_last_block(const char *buf, size_t len)
{
#ifdef __SSE2__
    return len >= 16 ? buf + len - 16 : NULL;
#else
    (void)buf;
    (void)len;
    return NULL;
#endif
}

#ifdef __SSE2__
/* The usual request line at p: a method of letters, digits and '-'
 * shorter than a block, SP, a target of visible ASCII, SP, "HTTP/1.d" and
 * CRLF. Its fields go to *line and the next line's start is returned;
 * NULL for any other line, which the byte-by-byte code then reads (this
 * path only takes what that code takes, and as it takes it). */
static inline const char *ts_http_request_line_fast(const char *p, const char *end,
                                                    const char *last, struct ts_http_request *line)
{
    if (!last || p > last)
        return NULL;
    size_t method_len;
    unsigned stops;
    if (memcmp(p, "GET ", 4) == 0) { /* nearly every request's, at once */
        method_len = 3;
    } else {
        stops = ts_http_name_stops(p);
        if (!stops)
            return NULL;
        method_len = (size_t)__builtin_ctz(stops);
        if (p[method_len] != ' ' || method_len == 0)
            return NULL;
    }
    const char *target = p + method_len + 1, *t = target;
    while (!(stops = TS_HTTP_STOPS_BEFORE_END(ts_http_target_stops, t, last))) {
        if (t >= last)
            return NULL;
        t += 16;
    }
    t += __builtin_ctz(stops);
    if (*t != ' ' || t == target || end - t < 11)
        return NULL;
    int minor = ts_http_minor_at(t + 1);
    if (minor < 0 || memcmp(t + 9, "\r\n", 2) != 0)
        return NULL;
    line->method = p;
    line->method_len = method_len;
    line->target = target;
    line->target_len = (size_t)(t - target);
    line->minor_version = minor;
    return t + 11;
}

/* The usual status line at p: "HTTP/1.d ddd ", a reason of visible ASCII
 * and spaces, and a line end, all within a block from the reason on. As
 * ts_http_request_line_fast. */
static inline __attribute__((always_inline)) const char *
ts_http_status_line_fast(const char *p, const char *end, const char *last,
                         struct ts_http_response *line)
{
    if (!last || p > last)
        return NULL;
    static const char ok[] = "HTTP/1.1 200 OK\r\n"; /* nearly every response's, at once */
    if (end - p >= (ptrdiff_t)sizeof ok - 1 && memcmp(p, ok, sizeof ok - 1) == 0) {
        line->minor_version = 1;
        line->status = 200;
        line->reason = p + 13;
        line->reason_len = 2;
        return p + sizeof ok - 1;
    }
    int minor = ts_http_minor_at(p);
    const unsigned char *u = (const unsigned char *)p + 8;
    /* Unsigned, a byte minus '0' is below 10 only for a digit, and minus
     * '1' below 9 only for 1..9. */
    if (minor < 0 || u[0] != ' ' || (unsigned)u[1] - '1' >= 9 || (unsigned)u[2] - '0' >= 10 ||
        (unsigned)u[3] - '0' >= 10 || u[4] != ' ')
        return NULL;
    const char *reason = p + 13;
    unsigned stops = TS_HTTP_STOPS_BEFORE_END(ts_http_value_stops, reason, last);
    if (!stops)
        return NULL;
    const char *t = reason + __builtin_ctz(stops), *next = ts_http_line_end_at(t, end);
    if (!next)
        return NULL;
    line->minor_version = minor;
    line->status = (u[1] - '0') * 100 + (u[2] - '0') * 10 + (u[3] - '0');
    line->reason = reason;
    line->reason_len = (size_t)(t - reason);
    return next;
}
#endif

/* The request line: method, target and version go to *line. */
static int ts_http_request_line(const char **pp, const char *end, const char *last,
                                struct ts_http_request *line)
{
    const char *p = *pp;
#ifdef __SSE2__
    const char *next = ts_http_request_line_fast(p, end, last, line);
    if (next) {
        *pp = next;
        return TS_HTTP_OK;
    }
#endif
    int r = ts_http_skip_empty_lines(&p, end);
    if (r != TS_HTTP_OK)
        return r;

    const char *method = p;
    while (p < end && ts_http_is_tchar((unsigned char)*p))
        p++;
    if (p == end)
        return TS_HTTP_INCOMPLETE;
    if (*p != ' ' || p == method)
        return TS_HTTP_ERROR;
    size_t method_len = (size_t)(p - method);
    p++;

    const char *target = p;
    p = ts_http_scan_plain(p, end, 0x21); /* up to a blank or a control character */
    while (p < end && *p != ' ' && !ts_http_is_ctl((unsigned char)*p))
        p++;
    if (p == end)
        return TS_HTTP_INCOMPLETE;
    if (*p != ' ' || p == target)
        return TS_HTTP_ERROR;
    size_t target_len = (size_t)(p - target);
    p++;

    int minor = 0;
    if ((r = ts_http_version(&p, end, &minor)) != TS_HTTP_OK)
        return r;
    if ((r = ts_http_eol(&p, end)) != TS_HTTP_OK)
        return r;
    line->method = method;
    line->method_len = method_len;
    line->target = target;
    line->target_len = target_len;
    line->minor_version = minor;
    *pp = p;
    return TS_HTTP_OK;
}

/* Request line and headers; the fields are written only on success (the
 * header array and the notes as they are read, see ts_http_headers). */
static int ts_http_request_head(const char **pp, const char *end, const char *last,
                                struct ts_http_request *req)
{
    const char *p = *pp;
    struct ts_http_request line;
    int r = ts_http_request_line(&p, end, last, &line);
    if (r != TS_HTTP_OK)
        return r;
    r = ts_http_headers(&p, end, last, req->headers, req->num_headers, &req->noted,
                        TS_HTTP_KEEP_REQUEST);
    if (r != TS_HTTP_OK)
        return r;

    req->method = line.method;
    req->method_len = line.method_len;
    req->target = line.target;
    req->target_len = line.target_len;
    req->minor_version = line.minor_version;
    req->num_headers = req->noted.count;
    *pp = p;
    return TS_HTTP_OK;
}

int ts_http_parse_request(const char *buf, size_t len, struct ts_http_request *req)
{
    req->noted.headers = NULL; /* see ts_http_headers */
    if (len == 0)
        return TS_HTTP_INCOMPLETE; /* buf may be NULL */
    size_t n = ts_http_clamp(len);
    const char *p = buf;
    int r = ts_http_request_head(&p, buf + n, ts_http_last_block(buf, n), req);
    return ts_http_finish(r, len, buf, p);
}

/* The status line, "HTTP/1.d SP ddd [SP reason] EOL": version, status and
 * reason go to *line. Forced inline in both response parsers, as it was
 * in the one before there were two: a call cost each response ~40. */
static inline __attribute__((always_inline)) int ts_http_status_line(const char **pp,
                                                                     const char *end,
                                                                     const char *last,
                                                                     struct ts_http_response *line)
{
    const char *p = *pp;
#ifdef __SSE2__
    const char *next = ts_http_status_line_fast(p, end, last, line);
    if (next) {
        *pp = next;
        return TS_HTTP_OK;
    }
#endif
    int r = ts_http_skip_empty_lines(&p, end);
    if (r != TS_HTTP_OK)
        return r;

    int minor = 0;
    if ((r = ts_http_version(&p, end, &minor)) != TS_HTTP_OK)
        return r;
    if ((r = ts_http_expect(&p, end, " ")) != TS_HTTP_OK)
        return r;

    /* Three digits, 100..999, one by one, to tell a prefix (INCOMPLETE)
     * from a wrong byte (ERROR). */
    int status = 0;
    for (int i = 0; i < 3; i++, p++) {
        if (p == end)
            return TS_HTTP_INCOMPLETE;
        unsigned char c = (unsigned char)*p;
        if (!ts_http_is_digit(c) || (i == 0 && c == '0'))
            return TS_HTTP_ERROR;
        status = status * 10 + (c - '0');
    }

    /* Optional SP reason-phrase: HTAB, SP, VCHAR, obs-text. */
    if (p == end)
        return TS_HTTP_INCOMPLETE;
    const char *reason = p;
    if (*p == ' ') {
        reason = ++p;
        p = ts_http_value_end(p, end);
        if (p < end && *p != '\r' && *p != '\n')
            return TS_HTTP_ERROR; /* a control character inside the reason */
    }
    size_t reason_len = (size_t)(p - reason);
    if ((r = ts_http_eol(&p, end)) != TS_HTTP_OK)
        return r;
    line->minor_version = minor;
    line->status = status;
    line->reason = reason;
    line->reason_len = reason_len;
    *pp = p;
    return TS_HTTP_OK;
}

/* Is the line at p, whose '\n' is at nl, the header `name` (lower case,
 * name_len bytes), with the colon right after it? */
static inline bool ts_http_line_named(const char *p, const char *nl, const char *name,
                                      size_t name_len)
{
    return (size_t)(nl - p) > name_len && p[name_len] == ':' &&
           ts_ascii_eq_lower_n(p, name, name_len);
}

#ifdef __SSE2__
static inline unsigned ts_http_newlines(const char *p)
{
    __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
    return (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8('\n')));
}
#endif

/* The first '\n' from p on, before end; NULL when there is none. A block
 * of sixteen bytes at a time where there are that many (last: see
 * TS_HTTP_STOPS_BEFORE_END), as most lines of a head are a block or two
 * long and memchr's call cost about as much as the scan. */
static inline const char *ts_http_find_newline(const char *p, const char *end, const char *last)
{
#ifdef __SSE2__
    if (last) {
        for (;;) {
            unsigned found = TS_HTTP_STOPS_BEFORE_END(ts_http_newlines, p, last);
            if (found)
                return p + __builtin_ctz(found);
            if (p >= last)
                return NULL;
            p += 16;
        }
    }
#else
    (void)last;
#endif
    return memchr(p, '\n', (size_t)(end - p));
}

/* The header lines of a response read for its framing: a line at a time,
 * from one '\n' to the next, only the lines that start with
 * "Content-Length:" or "Transfer-Encoding:" looked into. The other lines
 * are counted against the capacity but not checked: the framing needs
 * where each line ends and what those two headers say, and the check of
 * every line cost the program's thread about 80 instructions a line
 * against about 35 for this (nginx's static responses, eight lines: 674
 * per response before, 517 after; bench/PROFILE.md). As ts_http_headers
 * otherwise: the notes, the kept headers, and where the head ends. */
static int ts_http_framing_lines(const char **pp, const char *end, const char *last,
                                 struct ts_http_header *headers, size_t cap,
                                 struct ts_http_noted *nt)
{
    const char *p = *pp;
    size_t lines = 0, n = 0; /* read; kept */
    ts_http_notes_begin(nt);
    for (;;) {
        int r = ts_http_head_ends(&p, end, lines, cap);
        if (r == TS_HTTP_OK)
            break;
        if (r != TS_HTTP_MORE_LINES)
            return r;
        const char *nl = ts_http_find_newline(p, end, last);
        if (!nl)
            return TS_HTTP_INCOMPLETE;
        lines++;
        size_t name_len = 0;
        switch (*p | 0x20) {
        case 'c':
            if (ts_http_line_named(p, nl, "content-length", sizeof "content-length" - 1))
                name_len = sizeof "content-length" - 1;
            break;
        case 't':
            if (ts_http_line_named(p, nl, "transfer-encoding", sizeof "transfer-encoding" - 1))
                name_len = sizeof "transfer-encoding" - 1;
            break;
        default:
            break;
        }
        if (name_len) {
            const char *value = ts_http_skip_ows(p + name_len + 1, nl);
            n = ts_http_store(headers, n, nt, p, name_len, value, ts_http_trim_value(value, nl),
                              TS_HTTP_KEEP_RESPONSE);
        }
        p = nl + 1;
    }
    ts_http_notes_end(nt, headers, n);
    *pp = p;
    return TS_HTTP_OK;
}

/* Status line and headers, as ts_http_request_head; a head read for its
 * framing alone keeps only Content-Length and Transfer-Encoding
 * (ts_http_framing_lines). */
static inline __attribute__((always_inline)) int
ts_http_response_head(const char **pp, const char *end, const char *last,
                      struct ts_http_response *res, bool framing_only)
{
    const char *p = *pp;
    struct ts_http_response line;
    int r = ts_http_status_line(&p, end, last, &line);
    if (r != TS_HTTP_OK)
        return r;
    r = framing_only
            ? ts_http_framing_lines(&p, end, last, res->headers, res->num_headers, &res->noted)
            : ts_http_headers(&p, end, last, res->headers, res->num_headers, &res->noted,
                              TS_HTTP_KEEP_RESPONSE);
    if (r != TS_HTTP_OK)
        return r;

    res->minor_version = line.minor_version;
    res->status = line.status;
    res->reason = line.reason;
    res->reason_len = line.reason_len;
    res->num_headers = res->noted.count;
    *pp = p;
    return TS_HTTP_OK;
}

static inline __attribute__((always_inline)) int
ts_http_response_keeping(const char *buf, size_t len, struct ts_http_response *res,
                         bool framing_only)
{
    res->noted.headers = NULL; /* see ts_http_headers */
    if (len == 0)
        return TS_HTTP_INCOMPLETE; /* buf may be NULL */
    size_t n = ts_http_clamp(len);
    const char *p = buf;
    int r = ts_http_response_head(&p, buf + n, ts_http_last_block(buf, n), res, framing_only);
    return ts_http_finish(r, len, buf, p);
}

int ts_http_parse_response(const char *buf, size_t len, struct ts_http_response *res)
{
    return ts_http_response_keeping(buf, len, res, false);
}

int ts_http_parse_response_framing(const char *buf, size_t len, struct ts_http_response *res)
{
    return ts_http_response_keeping(buf, len, res, true);
}

/* ------------------------------------------------------------ sniffing */

/* Methods worth holding bytes back for (RFC 9110, WebDAV, PATCH, PURGE). */
static const char *const ts_http_methods[] = {
    "GET",   "HEAD",   "POST",     "PUT",       "DELETE",     "CONNECT", "OPTIONS",
    "TRACE", "PATCH",  "PROPFIND", "PROPPATCH", "MKCOL",      "COPY",    "MOVE",
    "LOCK",  "UNLOCK", "SEARCH",   "REPORT",    "MKCALENDAR", "PURGE",
};

/* Is m[0..len) a known method (exact) or, when !whole, a prefix of one? */
static bool ts_http_known_method(const char *m, size_t len, bool whole)
{
    for (size_t i = 0; i < sizeof ts_http_methods / sizeof ts_http_methods[0]; i++) {
        const char *k = ts_http_methods[i];
        size_t klen = strlen(k);
        if (len > klen || (whole && len != klen))
            continue;
        if (len == 0 || memcmp(m, k, len) == 0)
            return true;
    }
    return false;
}

bool ts_http_method_known(const char *m, size_t len)
{
    return ts_http_known_method(m, len, true);
}

/* After a start line's version (request) or status (response): nothing yet,
 * or a line end (anything after the line end is the parser's business). */
static bool ts_http_line_end_prefix(const char *p, const char *end)
{
    if (p == end || *p == '\n')
        return true;
    if (*p != '\r')
        return false;
    return p + 1 == end || p[1] == '\n';
}

bool ts_http_looks_like_request(const char *buf, size_t len)
{
    if (len == 0)
        return true; /* buf may be NULL */
    const char *p = buf, *end = buf + len;

    const char *method = p;
    while (p < end && *p != ' ') {
        if (!ts_http_is_tchar((unsigned char)*p))
            return false;
        p++;
    }
    if (!ts_http_known_method(method, (size_t)(p - method), p < end))
        return false;
    if (p == end)
        return true;
    p++; /* SP */

    const char *target = p;
    while (p < end && *p != ' ') {
        if (ts_http_is_ctl((unsigned char)*p))
            return false;
        p++;
    }
    if (p == end)
        return true;
    if (p == target)
        return false; /* two blanks: empty target */
    p++;

    int minor;
    int r = ts_http_version(&p, end, &minor);
    if (r != TS_HTTP_OK)
        return r == TS_HTTP_INCOMPLETE;
    return ts_http_line_end_prefix(p, end);
}

bool ts_http_looks_like_response(const char *buf, size_t len)
{
    if (len == 0)
        return true; /* buf may be NULL */
    const char *p = buf, *end = buf + len;
    int minor, r;
    if ((r = ts_http_version(&p, end, &minor)) != TS_HTTP_OK)
        return r == TS_HTTP_INCOMPLETE;
    if ((r = ts_http_expect(&p, end, " ")) != TS_HTTP_OK)
        return r == TS_HTTP_INCOMPLETE;
    for (int i = 0; i < 3; i++, p++) {
        if (p == end)
            return true;
        if (!ts_http_is_digit((unsigned char)*p) || (i == 0 && *p == '0'))
            return false;
    }
    return p == end || *p == ' ' || ts_http_line_end_prefix(p, end);
}

/* ------------------------------------------------------------- helpers */

size_t ts_http_inject_offset(const char *head, size_t head_len)
{
    /* The head ends with an empty line, "\r\n" or "\n", which itself follows
     * the previous line's "\n". */
    if (head_len >= 3 && head[head_len - 1] == '\n' && head[head_len - 2] == '\r' &&
        head[head_len - 3] == '\n')
        return head_len - 2;
    if (head_len >= 2 && head[head_len - 1] == '\n' && head[head_len - 2] == '\n')
        return head_len - 1;
    return head_len; /* not a complete head: append at the end */
}

const struct ts_http_header *ts_http_find_header(const struct ts_http_header *h, size_t n,
                                                 const char *name)
{
    size_t name_len = strlen(name);
    for (size_t i = 0; i < n; i++) {
        if (ts_http_eq_nocase_n(h[i].name, h[i].name_len, name, name_len))
            return &h[i];
    }
    return NULL;
}

const struct ts_http_header *ts_http_request_header(const struct ts_http_request *req,
                                                    enum ts_http_note k, const char *name)
{
    const struct ts_http_noted *nt = &req->noted;
    if (ts_http_notes_hold(nt, req->headers, req->num_headers))
        return TS_HTTP_NOTED(nt, k);
    return ts_http_find_header(req->headers, req->num_headers, name);
}

/* Next element of a comma-separated list at *pos, trimmed of blanks; false
 * at the list's end. Empty elements are returned as empty. */
static bool ts_http_next_element(const char *value, size_t len, size_t *pos, const char **elem,
                                 size_t *elem_len)
{
    size_t i = *pos;
    if (i > len || !value)
        return false;
    size_t start = i;
    while (i < len && value[i] != ',')
        i++;
    size_t stop = i;
    while (start < stop && (value[start] == ' ' || value[start] == '\t'))
        start++;
    while (stop > start && (value[stop - 1] == ' ' || value[stop - 1] == '\t'))
        stop--;
    *elem = value + start;
    *elem_len = stop - start;
    *pos = i + 1; /* past the comma; past len at the end */
    return true;
}

bool ts_http_value_has_token(const char *value, size_t len, const char *token)
{
    size_t pos = 0;
    const char *e;
    size_t elen;
    while (ts_http_next_element(value, len, &pos, &e, &elen)) {
        if (elen > 0 && ts_http_eq_nocase(e, elen, token))
            return true;
    }
    return false;
}

#ifdef __SSE2__
/* The first '?' or '#' among the 16 bytes of x (as a bit mask). */
static inline unsigned ts_http_query_bits(__m128i x)
{
    return (unsigned)_mm_movemask_epi8(
        _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('?')), _mm_cmpeq_epi8(x, _mm_set1_epi8('#'))));
}
#else
/* 0x80 in the bytes of w (from ts_http_word_le) that are '?' or '#';
 * as in ts_http_plain_misses only the lowest flag is exact. */
static inline uint64_t ts_http_query_bytes(uint64_t w)
{
    const uint64_t q = w ^ (TS_HTTP_ONES * '?'), h = w ^ (TS_HTTP_ONES * '#');
    return ((q - TS_HTTP_ONES) & ~q & TS_HTTP_HIGHS) | ((h - TS_HTTP_ONES) & ~h & TS_HTTP_HIGHS);
}
#endif

/* Length of the path part starting at s: up to '?' or '#'. Every span
 * start asks, so a block of bytes is tested at a time; the last block
 * overlaps the one before, whose bytes had neither. */
static size_t ts_http_path_span(const char *s, size_t len)
{
    if (len < 8) {
        size_t i = 0;
        while (i < len && s[i] != '?' && s[i] != '#')
            i++;
        return i;
    }
#ifdef __SSE2__
    if (len < 16) { /* the first eight bytes and the last eight, in one block */
        __m128i x =
            _mm_unpacklo_epi64(_mm_loadl_epi64((const __m128i *)(const void *)s),
                               _mm_loadl_epi64((const __m128i *)(const void *)(s + len - 8)));
        unsigned hit = ts_http_query_bits(x);
        if (hit & 0xff)
            return (size_t)__builtin_ctz(hit);
        return hit ? len - 16 + (size_t)__builtin_ctz(hit) : len;
    }
    size_t i = 0;
    for (; i + 16 < len; i += 16) {
        unsigned hit = ts_http_query_bits(_mm_loadu_si128((const __m128i *)(const void *)(s + i)));
        if (hit)
            return i + (size_t)__builtin_ctz(hit);
    }
    unsigned hit =
        ts_http_query_bits(_mm_loadu_si128((const __m128i *)(const void *)(s + len - 16)));
    return hit ? len - 16 + (size_t)__builtin_ctz(hit) : len;
#else
    size_t i = 0;
    for (; i + 8 < len; i += 8) {
        uint64_t hit = ts_http_query_bytes(ts_http_word_le(s + i));
        if (hit)
            return i + ts_http_first_flag(hit);
    }
    uint64_t hit = ts_http_query_bytes(ts_http_word_le(s + len - 8));
    return hit ? len - 8 + ts_http_first_flag(hit) : len;
#endif
}

/* Where an authority that starts at i ends: at its path, query or fragment. */
static size_t authority_end(const char *target, size_t len, size_t i)
{
    while (i < len && target[i] != '/' && target[i] != '?' && target[i] != '#')
        i++;
    return i;
}

const char *ts_http_target_path(const char *target, size_t len, size_t *path_len)
{
    if (len == 0) {
        *path_len = 0;
        return target ? target : "";
    }
    if (target[0] == '/') { /* origin-form */
        *path_len = ts_http_path_span(target, len);
        return target;
    }
    size_t i = ts_url_scheme_len(target, len);
    if (i) { /* absolute-form: scheme "://" authority [path] */
        i = authority_end(target, len, i);
        if (i < len && target[i] == '/') {
            *path_len = ts_http_path_span(target + i, len - i);
            return target + i;
        }
        *path_len = 1;
        return "/";
    }
    /* asterisk-form "*", authority-form "host:port", or anything else */
    *path_len = len;
    return target;
}

bool ts_http_target_authority(const char *target, size_t len, const char **authority,
                              size_t *authority_len, bool *https)
{
    size_t scheme = ts_url_scheme_len(target, len);
    if (!scheme)
        return false;
    size_t from = scheme, to = authority_end(target, len, scheme);
    /* userinfo "@" host: the host is after the last '@' */
    const char *at = memrchr(target + from, '@', to - from);
    if (at)
        from = (size_t)(at - target) + 1;
    *authority = target + from;
    *authority_len = to - from;
    *https = ts_ascii_eq_nocase(target, scheme - 3, "https");
    return true;
}

/* ------------------------------------------------------------- framing */

/* The last transfer coding named by all Transfer-Encoding headers together
 * (h[0] is the first of them). */
static void ts_http_last_coding(const struct ts_http_header *h, size_t n, const char **coding,
                                size_t *coding_len)
{
    *coding = NULL;
    *coding_len = 0;
    for (size_t i = 0; i < n; i++) {
        if (!TS_HTTP_NAMED(&h[i], "transfer-encoding"))
            continue;
        size_t pos = 0;
        const char *e;
        size_t elen;
        while (ts_http_next_element(h[i].value, h[i].value_len, &pos, &e, &elen)) {
            if (elen > 0) {
                *coding = e;
                *coding_len = elen;
            }
        }
    }
}

/* A Content-Length value that is one decimal number and nothing else, as
 * nearly every one is: its value in *out, or false for anything else
 * (a list, blanks, another character, more than 19 digits), which the
 * general parse below then takes. 19 digits always fit in 64 bits, so
 * the digits are not checked for overflow one by one. */
static bool ts_http_plain_length(const char *v, size_t len, uint64_t *out)
{
    if (len == 0 || len > 19 || !v)
        return false;
    uint64_t n = 0;
    for (size_t k = 0; k < len; k++) {
        unsigned c = (unsigned char)v[k] - (unsigned)'0';
        if (c > 9)
            return false;
        n = n * 10 + c;
    }
    *out = n;
    return true;
}

/* Content-Length from all its headers (h[0] is the first of them): each a
 * list of identical decimal numbers (RFC 9110 8.6). Returns 0 and *out, or
 * -1 when invalid, conflicting or past 64 bits. */
static int ts_http_content_length(const struct ts_http_header *h, size_t n, uint64_t *out)
{
    bool seen = false;
    uint64_t value = 0;
    for (size_t i = 0; i < n; i++) {
        if (!TS_HTTP_NAMED(&h[i], "content-length"))
            continue;
        uint64_t v = 0;
        if (ts_http_plain_length(h[i].value, h[i].value_len, &v)) {
            /* the whole value is the list's one element */
            if (seen && v != value)
                return -1;
            seen = true;
            value = v;
            continue;
        }
        size_t pos = 0;
        const char *e;
        size_t elen;
        while (ts_http_next_element(h[i].value, h[i].value_len, &pos, &e, &elen)) {
            if (elen == 0)
                return -1;
            v = 0;
            for (size_t k = 0; k < elen; k++) {
                unsigned char c = (unsigned char)e[k];
                if (!ts_http_is_digit(c))
                    return -1;
                if (v > (UINT64_MAX - (uint64_t)(c - '0')) / 10)
                    return -1;
                v = v * 10 + (uint64_t)(c - '0');
            }
            if (seen && v != value)
                return -1;
            seen = true;
            value = v;
        }
    }
    *out = value;
    return 0;
}

/* A fresh body state: no body, nothing counted. */
static void ts_http_body_none(struct ts_http_body *body)
{
    memset(body, 0, sizeof *body);
    body->kind = TS_BODY_NONE;
}

/* Framing by Transfer-Encoding/Content-Length, shared by both directions;
 * not_chunked is the kind for a transfer coding that does not end in
 * chunked (-1 means invalid). body is fresh (NONE, zeroed) and keeps
 * that on -1; otherwise its kind and length are set. nt: the parser's
 * notes, used when they are about these headers. */
static int ts_http_framing(const struct ts_http_header *h, size_t n, const struct ts_http_noted *nt,
                           int not_chunked, int no_length, struct ts_http_body *body)
{
    size_t te = n, cl = n;
    size_t te_span = 0, cl_span = 0; /* headers from te (cl) that may be more of the name */
    if (ts_http_notes_hold(nt, h, n)) {
        /* The parser found them: only headers of these names are looked
         * at, and only the one when there is one. */
        te = nt->te_first;
        cl = nt->cl_first;
        te_span = nt->te_count == 1 ? 1 : n - te;
        cl_span = nt->cl_count == 1 ? 1 : n - cl;
    } else {
        /* One pass finds the first of either; only the headers from there
         * on are looked at again, for more of the same name. The names'
         * lengths differ, so each header costs one comparison unless it
         * has one. */
        for (size_t i = 0; i < n; i++) {
            if (h[i].name_len == sizeof "transfer-encoding" - 1) {
                if (TS_HTTP_NAMED(&h[i], "transfer-encoding")) {
                    te = i;
                    break;
                }
            } else if (h[i].name_len == sizeof "content-length" - 1) {
                if (cl == n && TS_HTTP_NAMED(&h[i], "content-length"))
                    cl = i;
            }
        }
        te_span = n - te;
        cl_span = n - cl;
    }
    if (te < n) {
        /* Transfer-Encoding overrides Content-Length (RFC 9112 6.3). */
        const char *coding;
        size_t coding_len;
        ts_http_last_coding(h + te, te_span, &coding, &coding_len);
        if (coding && ts_http_eq_nocase(coding, coding_len, "chunked")) {
            body->kind = TS_BODY_CHUNKED;
            return 0;
        }
        if (not_chunked < 0)
            return -1;
        body->kind = (uint8_t)not_chunked;
        return 0;
    }
    if (cl == n) {
        body->kind = (uint8_t)no_length;
        return 0;
    }
    uint64_t length = 0;
    if (ts_http_content_length(h + cl, cl_span, &length) < 0)
        return -1;
    if (length != 0) {
        body->kind = TS_BODY_LENGTH;
        body->remaining = length;
    }
    return 0;
}

/* The framing of the usual head from its notes alone, when they hold:
 * no Transfer-Encoding and no Content-Length (kind no_length), or one
 * Content-Length of one plain number. True when the head is one of those
 * (body set as ts_http_framing sets it), else false with body untouched,
 * for ts_http_framing to look at the headers. */
static inline bool ts_http_framing_noted(const struct ts_http_header *h, size_t n,
                                         const struct ts_http_noted *nt, int no_length,
                                         struct ts_http_body *body)
{
    if (!ts_http_notes_hold(nt, h, n) || nt->te_count || nt->cl_count > 1)
        return false;
    if (!nt->cl_count) {
        body->kind = (uint8_t)no_length;
        return true;
    }
    uint64_t length;
    const struct ts_http_header *cl = &h[nt->cl_first];
    if (!ts_http_plain_length(cl->value, cl->value_len, &length))
        return false;
    if (length != 0) {
        body->kind = TS_BODY_LENGTH;
        body->remaining = length;
    }
    return true;
}

int ts_http_request_body(const struct ts_http_request *req, struct ts_http_body *body)
{
    ts_http_body_none(body);
    if (ts_http_framing_noted(req->headers, req->num_headers, &req->noted, TS_BODY_NONE, body))
        return 0;
    return ts_http_framing(req->headers, req->num_headers, &req->noted, -1, TS_BODY_NONE, body);
}

int ts_http_response_body(const struct ts_http_response *res, const char *req_method,
                          size_t req_method_len, struct ts_http_body *body)
{
    ts_http_body_none(body);
    int status = res->status;
    if (!req_method)
        req_method_len = 0;
    /* After 101 and after any 2xx to CONNECT (RFC 9110 9.3.6) the bytes that
     * follow the head are no longer HTTP/1, whatever the headers say. */
    if (status == 101 ||
        (status >= 200 && status < 300 && ts_http_is_connect(req_method, req_method_len))) {
        body->kind = TS_BODY_TUNNEL;
        return 0;
    }
    /* Interim 1xx: NONE, and the caller waits for the final response. */
    if ((status >= 100 && status < 200) || status == 204 || status == 304)
        return 0;
    if (req_method_len == 4 && memcmp(req_method, "HEAD", 4) == 0)
        return 0;
    if (ts_http_framing_noted(res->headers, res->num_headers, &res->noted, TS_BODY_UNTIL_CLOSE,
                              body))
        return 0;
    return ts_http_framing(res->headers, res->num_headers, &res->noted, TS_BODY_UNTIL_CLOSE,
                           TS_BODY_UNTIL_CLOSE, body);
}

/* ------------------------------------------------------------- chunked */

/* States of the chunked decoder; 0 is the start of a chunk-size line so a
 * zeroed struct is a fresh decoder. */
enum ts_http_chunk_state {
    TS_CHUNK_SIZE_START = 0, /* first hex digit of a chunk size */
    TS_CHUNK_SIZE,           /* more hex digits */
    TS_CHUNK_SIZE_BWS,       /* blanks after the size, before ';' or line end */
    TS_CHUNK_EXT,            /* chunk extensions: ";name=value..." */
    TS_CHUNK_SIZE_LF,        /* LF after the size line's CR */
    TS_CHUNK_DATA,           /* chunk data, `remaining` bytes left */
    TS_CHUNK_DATA_CR,        /* line end after the data */
    TS_CHUNK_DATA_LF,        /* LF after the data's CR */
    TS_CHUNK_TRAILER_START,  /* start of a trailer line or the final empty line */
    TS_CHUNK_TRAILER_NAME,   /* trailer field name */
    TS_CHUNK_TRAILER_VALUE,  /* trailer field value */
    TS_CHUNK_TRAILER_LF,     /* LF after a trailer line's CR */
    TS_CHUNK_FINAL_LF,       /* LF of the final empty line */
    TS_CHUNK_DONE,           /* the body ended */
};

static int ts_http_hex(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = ts_http_lower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* The end of a chunk-size line: data follows, or the trailer after "0". */
static void ts_http_size_line_done(struct ts_http_chunked *ck)
{
    ck->line_len = 0;
    ck->state = ck->remaining ? TS_CHUNK_DATA : TS_CHUNK_TRAILER_START;
}

/* Run the chunked decoder over buf; returns bytes consumed or -1. Every
 * state handles one byte at a time except data, which is skipped in bulk. */
static ssize_t ts_http_chunked_feed(struct ts_http_chunked *ck, const char *buf, size_t len,
                                    bool *done)
{
    size_t i = 0;
    while (i < len) {
        if (ck->state == TS_CHUNK_DONE)
            break;
        if (ck->state == TS_CHUNK_DATA) {
            size_t avail = len - i;
            size_t take = ck->remaining < avail ? (size_t)ck->remaining : avail;
            ck->remaining -= take;
            i += take;
            if (ck->remaining == 0)
                ck->state = TS_CHUNK_DATA_CR;
            continue;
        }
        unsigned char c = (unsigned char)buf[i++];
        switch (ck->state) {
        case TS_CHUNK_SIZE_START:
        case TS_CHUNK_SIZE: {
            int d = ts_http_hex(c);
            if (d >= 0) {
                if (ck->state == TS_CHUNK_SIZE_START) {
                    ck->remaining = 0;
                    ck->line_len = 0;
                    ck->state = TS_CHUNK_SIZE;
                }
                /* line_len counts the digits so far: they start the line */
                if (ck->line_len >= TS_HTTP_CHUNK_SIZE_DIGITS)
                    return -1;
                ck->remaining = ck->remaining * 16 + (uint64_t)d;
                ck->line_len++;
                continue;
            }
            if (ck->state == TS_CHUNK_SIZE_START)
                return -1; /* a size line starts with a digit */
            ck->line_len++;
            if (c == ' ' || c == '\t')
                ck->state = TS_CHUNK_SIZE_BWS;
            else if (c == ';')
                ck->state = TS_CHUNK_EXT;
            else if (c == '\r')
                ck->state = TS_CHUNK_SIZE_LF;
            else if (c == '\n')
                ts_http_size_line_done(ck);
            else
                return -1;
            continue;
        }
        case TS_CHUNK_SIZE_BWS:
            /* The line end is not part of the line: it is looked at before
             * the byte is counted, as in TS_CHUNK_EXT and the trailer
             * states, so that a line of blanks may be as long as any
             * other (counting the CR cut it to 4095 bytes; fuzz_chunked). */
            if (c == '\r')
                ck->state = TS_CHUNK_SIZE_LF;
            else if (c == '\n')
                ts_http_size_line_done(ck);
            else if (++ck->line_len > TS_HTTP_CHUNK_LINE_MAX)
                return -1;
            else if (c == ';')
                ck->state = TS_CHUNK_EXT;
            else if (c != ' ' && c != '\t')
                return -1;
            break;
        case TS_CHUNK_EXT:
            if (c == '\r')
                ck->state = TS_CHUNK_SIZE_LF;
            else if (c == '\n')
                ts_http_size_line_done(ck);
            else if (ts_http_is_ctl(c) && c != '\t')
                return -1;
            else if (++ck->line_len > TS_HTTP_CHUNK_LINE_MAX)
                return -1;
            break;
        case TS_CHUNK_SIZE_LF:
            if (c != '\n')
                return -1;
            ts_http_size_line_done(ck);
            break;
        case TS_CHUNK_DATA_CR:
            if (c == '\r')
                ck->state = TS_CHUNK_DATA_LF;
            else if (c == '\n')
                ck->state = TS_CHUNK_SIZE_START;
            else
                return -1;
            break;
        case TS_CHUNK_DATA_LF:
            if (c != '\n')
                return -1;
            ck->state = TS_CHUNK_SIZE_START;
            break;
        case TS_CHUNK_TRAILER_START:
            ck->line_len = 0;
            if (c == '\r') {
                ck->state = TS_CHUNK_FINAL_LF;
            } else if (c == '\n') {
                ck->state = TS_CHUNK_DONE;
            } else if (ts_http_is_tchar(c)) {
                ck->line_len = 1;
                ck->state = TS_CHUNK_TRAILER_NAME;
            } else {
                return -1; /* includes obs-fold */
            }
            break;
        case TS_CHUNK_TRAILER_NAME:
            if (++ck->line_len > TS_HTTP_CHUNK_LINE_MAX)
                return -1;
            if (c == ':')
                ck->state = TS_CHUNK_TRAILER_VALUE;
            else if (!ts_http_is_tchar(c))
                return -1;
            break;
        case TS_CHUNK_TRAILER_VALUE:
            if (c == '\r')
                ck->state = TS_CHUNK_TRAILER_LF;
            else if (c == '\n')
                ck->state = TS_CHUNK_TRAILER_START;
            else if (ts_http_is_ctl(c) && c != '\t')
                return -1;
            else if (++ck->line_len > TS_HTTP_CHUNK_LINE_MAX)
                return -1;
            break;
        case TS_CHUNK_TRAILER_LF:
            if (c != '\n')
                return -1;
            ck->state = TS_CHUNK_TRAILER_START;
            break;
        case TS_CHUNK_FINAL_LF:
            if (c != '\n')
                return -1;
            ck->state = TS_CHUNK_DONE;
            break;
        default:
            return -1; /* corrupted state */
        }
    }
    if (ck->state == TS_CHUNK_DONE)
        *done = true;
    return (ssize_t)i;
}

ssize_t ts_http_body_feed(struct ts_http_body *body, const char *buf, size_t len, bool *done)
{
    *done = false;
    if (len > (size_t)SSIZE_MAX)
        len = (size_t)SSIZE_MAX; /* the caller feeds the rest next time */
    switch (body->kind) {
    case TS_BODY_NONE:
        *done = true;
        return 0;
    case TS_BODY_LENGTH: {
        size_t take = body->remaining < len ? (size_t)body->remaining : len;
        body->remaining -= take;
        if (body->remaining == 0)
            *done = true;
        return (ssize_t)take;
    }
    case TS_BODY_CHUNKED:
        return ts_http_chunked_feed(&body->chunked, buf, len, done);
    case TS_BODY_UNTIL_CLOSE:
    case TS_BODY_TUNNEL:
        return (ssize_t)len;
    case TS_BODY_FCGI:
        return ts_fcgi_body_feed(body, buf, len, done);
    default:
        return -1;
    }
}

bool ts_http_body_blind(const struct ts_http_body *body)
{
    return body->kind == TS_BODY_LENGTH || body->kind == TS_BODY_UNTIL_CLOSE ||
           body->kind == TS_BODY_TUNNEL;
}

bool ts_http_body_skips(const struct ts_http_body *body, size_t n)
{
    if (body->kind == TS_BODY_FCGI)
        return body->fcgi.have == 0 && n <= body->fcgi.left;
    return ts_http_body_blind(body);
}
