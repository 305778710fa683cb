/* http1.h — HTTP/1.x head parsing and body framing, picohttpparser style.
 *
 * Zero-copy: parsed fields point into the caller's buffer. Header arrays are
 * owned by the caller. No allocation, no I/O, no global state. */
#ifndef TS_HTTP1_H
#define TS_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "../preload/ascii.h"

/* Results of the head parsers (a positive value is the head's length). */
#define TS_HTTP_ERROR (-1)      /* not a valid HTTP/1.x head */
#define TS_HTTP_INCOMPLETE (-2) /* valid so far, need more bytes */

struct ts_http_header {
    const char *name;
    size_t name_len;
    const char *value; /* leading and trailing blanks trimmed */
    size_t value_len;
};

/* The request headers a request parser notes by name (lower case): the
 * ones span code reads for attributes and trace context, and Upgrade,
 * which the tunnel checks read (conn.c, conn_send.c). */
enum ts_http_note {
    TS_HTTP_NOTE_HOST,              /* host */
    TS_HTTP_NOTE_USER_AGENT,        /* user-agent */
    TS_HTTP_NOTE_B3,                /* b3 */
    TS_HTTP_NOTE_TRACEPARENT,       /* traceparent */
    TS_HTTP_NOTE_UBER_TRACE_ID,     /* uber-trace-id */
    TS_HTTP_NOTE_B3_TRACE_ID,       /* x-b3-traceid */
    TS_HTTP_NOTE_B3_SPAN_ID,        /* x-b3-spanid */
    TS_HTTP_NOTE_B3_PARENT_ID,      /* x-b3-parentspanid */
    TS_HTTP_NOTE_B3_SAMPLED,        /* x-b3-sampled */
    TS_HTTP_NOTE_B3_FLAGS,          /* x-b3-flags */
    TS_HTTP_NOTE_FORWARDED,         /* forwarded */
    TS_HTTP_NOTE_X_FORWARDED_FOR,   /* x-forwarded-for */
    TS_HTTP_NOTE_X_FORWARDED_PROTO, /* x-forwarded-proto */
    TS_HTTP_NOTE_UPGRADE,           /* upgrade */
    TS_HTTP_NOTES,
    /* Not a header of its own: a bit of `seen` alone, set when there is a
     * second traceparent (W3C: the context is then not valid). */
    TS_HTTP_NOTE_TRACEPARENT_AGAIN = TS_HTTP_NOTES
};

/* What a head parser notes about the headers it stores, so that the
 * framing does not look at every header again: the first Content-Length
 * and Transfer-Encoding headers (an index, or count when there is none)
 * and how many of each there are. The notes are about `headers` holding
 * `count` headers; the framing trusts them only while the head's array
 * and count are still those (a head built by hand, zeroed around its
 * fields, has none, and its framing looks at every header). */
struct ts_http_noted {
    const struct ts_http_header *headers;
    size_t count;
    size_t cl_first, cl_count;
    size_t te_first, te_count;
    /* A request's parser also notes the first header of each name that
     * the span code looks up (enum ts_http_note): bit k of `seen` is set
     * when there is one, and first[k] is its index. A response's notes
     * have none of these. */
    uint32_t seen;
    uint32_t first[TS_HTTP_NOTES];
};

/* The first header of note k (enum ts_http_note) of a parsed request, or
 * NULL when it has none. Only while ts_http_notes_hold(). */
#define TS_HTTP_NOTED(nt, k) ((nt)->seen & (1u << (k)) ? &(nt)->headers[(nt)->first[k]] : NULL)

/* Are a head's notes about these headers (see struct ts_http_noted)? */
static inline bool ts_http_notes_hold(const struct ts_http_noted *nt,
                                      const struct ts_http_header *h, size_t n)
{
    return h && nt->headers == h && nt->count == n;
}

/* Is the method CONNECT (case-sensitive, as every method): a request for a
 * tunnel, whose target is an authority, not a path. */
static inline bool ts_http_is_connect(const char *method, size_t len)
{
    return len == 7 && memcmp(method, "CONNECT", 7) == 0;
}

struct ts_http_request {
    const char *method;
    size_t method_len;
    const char *target; /* request-target as sent: /path?q, or http://host/path */
    size_t target_len;
    int minor_version;              /* 0 or 1; -1 not known (conn.c: a line cut short) */
    struct ts_http_header *headers; /* in: caller's array */
    size_t num_headers;             /* in: capacity; out: headers found */
    struct ts_http_noted noted;     /* out: set by the parser */
};

/* A parsed request's first header of note k, named name (its lower-case
 * name): from the parser's notes while they hold, else looked for among
 * the request's headers (a request whose array was changed since). */
const struct ts_http_header *ts_http_request_header(const struct ts_http_request *req,
                                                    enum ts_http_note k, const char *name);

struct ts_http_response {
    int minor_version;
    int status;
    const char *reason;
    size_t reason_len;
    struct ts_http_header *headers;
    size_t num_headers;         /* in: capacity; out: headers found */
    struct ts_http_noted noted; /* out: set by the parser */
};

/* Parse a request head in buf[0..len). Returns the head's length including
 * the blank line that ends it, TS_HTTP_INCOMPLETE or TS_HTTP_ERROR (also when
 * there are more headers than the array holds). Accepts CRLF and bare LF. */
int ts_http_parse_request(const char *buf, size_t len, struct ts_http_request *req);

/* Parse a response head; same contract as ts_http_parse_request. */
int ts_http_parse_response(const char *buf, size_t len, struct ts_http_response *res);

/* The same for a response read for its status and framing alone (what
 * ts_http_response_body needs), on the program's thread for every
 * response: the status line is checked as by ts_http_parse_response, the
 * header lines are only split at their '\n' and counted against the
 * capacity, and of them only Content-Length and Transfer-Encoding go to
 * the array (num_headers counts those) and the notes. Where
 * ts_http_parse_response accepts a head, this accepts it with the same
 * length and fields, and where that finds a head incomplete so does this;
 * a head with a malformed line that the full parse refuses may be read
 * here for its framing all the same. */
int ts_http_parse_response_framing(const char *buf, size_t len, struct ts_http_response *res);

/* Could buf[0..len) be the start of an HTTP/1.x request? True when it is a
 * prefix of "METHOD SP target SP HTTP/1.d" with a known method (GET, POST,
 * ...). Used to decide whether bytes are worth holding back. */
bool ts_http_looks_like_request(const char *buf, size_t len);

/* Is m[0..len) one of the methods ts_http_looks_like_request knows
 * (exactly, case-sensitive)? */
bool ts_http_method_known(const char *m, size_t len);

/* Could buf[0..len) be the start of an HTTP/1.x response ("HTTP/1.d SP ddd")? */
bool ts_http_looks_like_response(const char *buf, size_t len);

/* Offset in a complete head (as returned by the parsers) where extra header
 * lines can be inserted: the start of the blank line that ends the head. */
size_t ts_http_inject_offset(const char *head, size_t head_len);

/* Is this header the one named lit (a string literal in lower case, of
 * letters, digits and '-')? The length first, so that most headers cost
 * one comparison; a header without a name (NULL) is none. */
#define TS_HTTP_NAMED(hdr, lit)                                                                    \
    ((hdr)->name_len == sizeof(lit) - 1 && (hdr)->name &&                                          \
     ts_ascii_eq_lower_n((hdr)->name, (lit), sizeof(lit) - 1))

/* Case-insensitive header lookup: the first header with this name, or NULL. */
const struct ts_http_header *ts_http_find_header(const struct ts_http_header *h, size_t n,
                                                 const char *name);

/* True when a comma-separated header value contains token (case-insensitive),
 * e.g. Transfer-Encoding: gzip, chunked. */
bool ts_http_value_has_token(const char *value, size_t len, const char *token);

/* The path of a request target without query or fragment: "/a/b" for
 * "/a/b?x=1" and for "http://host:8/a/b?x". Sets *path_len. */
const char *ts_http_target_path(const char *target, size_t len, size_t *path_len);

/* The authority of an absolute-form target, without its userinfo:
 * "host:8" for "http://u:p@host:8/a?x" (RFC 9112 3.2.2: the server takes
 * the host from it, not from Host). *https says the scheme is https (any
 * case). False, nothing set, for a target of another form. */
bool ts_http_target_authority(const char *target, size_t len, const char **authority,
                              size_t *authority_len, bool *https);

/* Body framing. */
enum ts_http_body_kind {
    TS_BODY_NONE = 0,        /* no body: the message ends with its head */
    TS_BODY_LENGTH = 1,      /* Content-Length bytes */
    TS_BODY_CHUNKED = 2,     /* chunked transfer coding */
    TS_BODY_UNTIL_CLOSE = 3, /* response delimited by the connection's close */
    TS_BODY_TUNNEL = 4,      /* CONNECT 2xx / 101 Upgrade: no more HTTP on this connection */
    TS_BODY_FCGI = 5,        /* FastCGI records, to the one that ends the exchange (fcgi.h) */
};

struct ts_http_chunked {
    uint8_t state;
    uint64_t remaining; /* bytes left in the current chunk's data */
    uint32_t line_len;  /* bytes seen on the current size/trailer line (bounded) */
};

/* TS_BODY_FCGI's walk through the records (fcgi.c). */
struct ts_fcgi_walk {
    uint32_t left;    /* bytes of the current record (content and padding) still to come */
    uint8_t have;     /* bytes of the next record's header seen so far */
    uint8_t end_type; /* the type of the record that ends the body */
    bool last;        /* the current record ends the body */
    uint8_t hdr[8];   /* the next record's header, its first `have` bytes */
};

struct ts_http_body {
    uint8_t kind; /* enum ts_http_body_kind */
    uint64_t remaining;
    union {
        struct ts_http_chunked chunked; /* TS_BODY_CHUNKED */
        struct ts_fcgi_walk fcgi;       /* TS_BODY_FCGI */
    };
};

/* Framing of a request body from its head. Returns 0, or -1 when the head's
 * framing is invalid (conflicting Content-Length, bad number, unknown
 * transfer coding last). */
int ts_http_request_body(const struct ts_http_request *req, struct ts_http_body *body);

/* Framing of a response body, knowing the request method it answers
 * (HEAD, 1xx, 204, 304 have none; 2xx to CONNECT and 101 are tunnels).
 * Returns 0 or -1 as above. */
int ts_http_response_body(const struct ts_http_response *res, const char *req_method,
                          size_t req_method_len, struct ts_http_body *body);

/* Feed body bytes. Returns how many bytes of buf belong to this body (all of
 * len when the body goes on), sets *done when the body ended within them,
 * or returns -1 when chunked framing is malformed. TS_BODY_UNTIL_CLOSE and
 * TS_BODY_TUNNEL consume everything and never finish. */
ssize_t ts_http_body_feed(struct ts_http_body *body, const char *buf, size_t len, bool *done);

/* True when the body's framing only counts bytes (length, until close,
 * tunnel): ts_http_body_feed then never reads buf, which may be NULL. */
bool ts_http_body_blind(const struct ts_http_body *body);

/* Can the body take n bytes it does not see (sent by sendfile, spliced)?
 * A blind framing can; FastCGI's records, when the n bytes all lie
 * inside the current record (nginx sends a buffered body's records'
 * headers from memory, their content from the file). ts_http_body_feed
 * then reads none of them: buf may be NULL. */
bool ts_http_body_skips(const struct ts_http_body *body, size_t n);

#endif
