/* fcgi.h — FastCGI 1.0 as a web server (nginx's fastcgi_pass) and an
 * application server (php-fpm) speak it, read as HTTP: a request's head
 * (its BEGIN_REQUEST record and its PARAMS stream) as the HTTP request its
 * CGI variables describe; a response's status, from the CGI head its
 * STDOUT stream begins with; the records after either, walked to the end
 * of the exchange; and the PARAMS record that carries trace context to
 * the application.
 *
 * Pure as http1.h: no allocation, no I/O, no global state. Parsed fields
 * point into the caller's buffer, or into a scratch buffer it gives.
 * The spec: FastCGI Specification 1.0 (Open Market, 1996). */
#ifndef TS_FCGI_H
#define TS_FCGI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "http1.h"

#define TS_FCGI_VERSION 1
#define TS_FCGI_HEADER_LEN 8

enum ts_fcgi_type {
    TS_FCGI_BEGIN_REQUEST = 1,
    TS_FCGI_ABORT_REQUEST = 2,
    TS_FCGI_END_REQUEST = 3,
    TS_FCGI_PARAMS = 4,
    TS_FCGI_STDIN = 5,
    TS_FCGI_STDOUT = 6,
    TS_FCGI_STDERR = 7,
    TS_FCGI_DATA = 8,
    TS_FCGI_GET_VALUES = 9,
    TS_FCGI_GET_VALUES_RESULT = 10,
    TS_FCGI_UNKNOWN_TYPE = 11,
};

#define TS_FCGI_ROLE_RESPONDER 1
#define TS_FCGI_KEEP_CONN 1

/* Could buf[0..len) be the start of a FastCGI request stream, as a web
 * server opens one: a BEGIN_REQUEST record (version 1, type 1, a request
 * id other than 0, 8 bytes of content) for the RESPONDER role? True while
 * every byte there is agrees (len 0: true); false at the first that does
 * not. An HTTP/1.x request never starts with byte 1. */
bool ts_fcgi_looks_like_request(const char *buf, size_t len);

/* A request head as ts_fcgi_parse_request reads it. */
struct ts_fcgi_request {
    uint16_t request_id; /* from BEGIN_REQUEST */
    bool keep_conn;      /* BEGIN_REQUEST's FCGI_KEEP_CONN flag */
    /* Offset of the empty PARAMS record that ends the PARAMS stream: a
     * PARAMS record put in before it (ts_fcgi_params_record) is one more
     * part of the same stream. */
    size_t params_end;
    /* The HTTP request the CGI variables describe:
     * - method: REQUEST_METHOD (required: a head without one is no
     *   request ts_fcgi_parse_request accepts);
     * - target: REQUEST_URI, else DOCUMENT_URI, else SCRIPT_NAME, else
     *   "/" (a static string);
     * - minor_version: 1 for SERVER_PROTOCOL "HTTP/1.1", 0 for "HTTP/1.0",
     *   -1 for any other or none;
     * - headers: one per HTTP_* variable, in stream order, its name the
     *   header's as RFC 3875 4.1.18 maps it back (the "HTTP_" prefix
     *   dropped, lower case, '_' as '-': HTTP_X_B3_TRACEID is
     *   "x-b3-traceid"), written to the caller's scratch buffer; its value
     *   points into buf, blanks at either end trimmed. The caller sets
     *   headers and num_headers (capacity) as for ts_http_parse_request;
     *   noted is left empty (noted.headers NULL), so lookups read every
     *   header. */
    struct ts_http_request http;
    /* The connection the web server read the request on, as its
     * variables name it: REMOTE_ADDR and REMOTE_PORT (the client's end),
     * SERVER_PORT (its own); NULL (length 0) when a variable is absent. */
    const char *remote_addr, *remote_port, *server_port;
    size_t remote_addr_len, remote_port_len, server_port_len;
};

/* Parse a FastCGI request head in buf[0..len): a BEGIN_REQUEST record
 * (role RESPONDER), then the PARAMS records of the same request id up to
 * the empty one that ends their stream. Returns the head's length
 * (through that empty record, its padding included), TS_HTTP_INCOMPLETE (valid so
 * far), or TS_HTTP_ERROR: not such a head, a record of another type or
 * request id before the PARAMS stream ends, a name-value pair that runs
 * past its record's content (FastCGI allows a pair to cross records; the
 * servers this reads never split one) or past its length's end, more
 * HTTP_* variables than req->http.num_headers holds, or header names
 * past names_cap bytes. Records' padding is skipped whatever its
 * length. */
int ts_fcgi_parse_request(const char *buf, size_t len, struct ts_fcgi_request *req, char *names,
                          size_t names_cap);

/* Parse the start of a FastCGI response stream in buf[0..len) up to the
 * end of the CGI head (RFC 3875 6.2) its STDOUT records begin with; other
 * records (STDERR, and any of another type before END_REQUEST) are walked
 * past. *status: the Status header's code, read as nginx reads it (the
 * first three characters of its value, a code from 100 up; else 502, what
 * nginx answers then), else 302 when there is a Location header, else
 * 200 (names in any case). Returns the number of bytes of buf that takes
 * — it may end inside a STDOUT record; *rest is then the framing
 * (TS_BODY_FCGI) of what follows, to the end of the END_REQUEST record —
 * or TS_HTTP_INCOMPLETE, or TS_HTTP_ERROR (not a FastCGI record stream).
 * The caller bounds len, and so the CGI head's size.
 *
 * A record that comes before any STDOUT byte (a script's notice on
 * STDERR: a record may hold 64 KiB) is returned on its own: the length
 * through its header (and the empty STDOUT records before it, if any),
 * *status 0, and in *rest the framing of its content and padding
 * (TS_BODY_FCGI, which ts_fcgi_body_is_record_alone tells: its end is
 * not the exchange's), TS_BODY_NONE when it has none; the head is looked
 * for in what follows.
 *
 * A stream whose END_REQUEST record comes before the CGI head has ended
 * (no output at all, a head cut short) ends there: the length returned
 * is through the END_REQUEST record, *rest is TS_BODY_NONE, and *status
 * is what the head's lines said so far (as above), or 502 when no STDOUT
 * byte came at all (what nginx answers for a response without a head).
 * The CGI head's lines may end with CRLF or LF alone. */
int ts_fcgi_parse_response(const char *buf, size_t len, int *status, struct ts_http_body *rest);

/* The end_type of a TS_BODY_FCGI framing that is one record's rest alone
 * (see ts_fcgi_parse_response): no record type is 0. */
#define TS_FCGI_RECORD_ALONE 0

/* Is body the rest of one record that came before a response's output,
 * whose end is not the exchange's? */
static inline bool ts_fcgi_body_is_record_alone(const struct ts_http_body *body)
{
    return body->kind == TS_BODY_FCGI && body->fcgi.end_type == TS_FCGI_RECORD_ALONE;
}

/* Framing (ts_http_body, kind TS_BODY_FCGI) of the records that follow a
 * request head: they go on to the end of the empty STDIN record that
 * ends the request's input (ts_http_body_feed walks them). */
void ts_fcgi_request_body(struct ts_http_body *body);

/* The walk of TS_BODY_FCGI (ts_http_body_feed calls it): same contract
 * as ts_http_body_feed; -1 for a record header whose version is not 1.
 * Done at the end of the record that ends the body (its content and
 * padding). */
ssize_t ts_fcgi_body_feed(struct ts_http_body *body, const char *buf, size_t len, bool *done);

/* Bytes a PARAMS record made by ts_fcgi_params_record may need for lines
 * of lines_len bytes. */
#define TS_FCGI_PARAMS_RECORD_MAX(lines_len) ((lines_len)*2 + 64)

/* Write into out (cap bytes) one PARAMS record of request_id that gives
 * the application the HTTP header lines in lines[0..lines_len) ("name:
 * value\r\n" each, or "\n" alone at the end) as the CGI variables a web
 * server would make of them (HTTP_ and the name in upper case, '-' as
 * '_'), in the same order. Returns its length (a multiple of 8, padded
 * with zeros), or 0 when cap is too small, a line has no ':', or the
 * content would pass 65535 bytes. */
size_t ts_fcgi_params_record(uint16_t request_id, const char *lines, size_t lines_len, char *out,
                             size_t cap);

#endif
