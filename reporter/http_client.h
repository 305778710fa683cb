/* http_client.h — a small HTTP/1.1 client for the exporters: one
 * keep-alive connection per endpoint, every step bounded by a deadline,
 * Content-Length or chunked responses. Only the reporter thread uses it
 * (the export mutex serialises calls). */
#ifndef TS_HTTP_CLIENT_H
#define TS_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../preload/config.h"
#include "../preload/url.h"
#include "json_buf.h"
#include "own_fd.h"

struct ts_http_client {
    const struct ts_url *url;
    struct ts_own_fd conn; /* the kept-alive connection, or none */
    struct ts_json_buf in; /* response bytes */
    unsigned interim;      /* interim answers (1xx) the current request got */
    /* The request head being sent: the request line, the client's own
     * lines and the user's (OTEL_EXPORTER_OTLP_HEADERS). Here, not on the
     * stack: a flush at exit or exec may run on a program's thread of 16
     * KiB (a client is used by one thread at a time). */
    char head[2048 + TS_CFG_HEADERS];
};

/* Why a request got no HTTP status. */
enum ts_http_error {
    TS_HTTP_ECONNECT = -1, /* could not connect (refused, unreachable, name unknown) */
    TS_HTTP_ETIMEOUT = -2, /* the deadline passed */
    TS_HTTP_EIO = -3,      /* the connection failed or closed mid-exchange */
    TS_HTTP_EPROTO = -4,   /* the answer was not HTTP/1.x we understand, or too big */
};

struct ts_http_response {
    int status;            /* the HTTP status, or an enum ts_http_error */
    int err;               /* errno behind ECONNECT / EIO, else 0 */
    unsigned retry_after_s; /* Retry-After in seconds, a date as seconds from now (0: none) */
    const char *body;      /* into the client's buffer; valid until the next request */
    size_t body_len;
};

/* Did the server take the request: any 2xx status (an OTLP receiver
 * answers 200 or 202, a sampling endpoint behind a proxy may say 203). */
static inline bool ts_http_succeeded(const struct ts_http_response *r)
{
    return r->status >= 200 && r->status <= 299;
}

void ts_http_client_init(struct ts_http_client *c, const struct ts_url *url);

/* Reserve the buffer answers are read into (the reporter thread's start,
 * exporters.h ts_exp_prepare): a request then allocates nothing. */
void ts_http_client_prepare(struct ts_http_client *c);

/* Send one request (method "POST" or "GET"; body may be NULL) to the
 * client's URL with content_type (NULL: none) and extra_headers (ready-made
 * "Name: value\r\n" lines, or NULL), and read the answer, all before
 * deadline_ms (ts_mono_ms clock). A kept-alive connection the server has
 * closed meanwhile is retried once on a fresh one. */
void ts_http_request(struct ts_http_client *c, const char *method, const char *content_type,
                     const char *extra_headers, const void *body, size_t len,
                     uint64_t deadline_ms, struct ts_http_response *out);

/* Close the connection (if still ours). */
void ts_http_client_close(struct ts_http_client *c);

/* After fork in the child: forget the connection (it is shared with the
 * parent) without touching it. */
void ts_http_client_forget(struct ts_http_client *c);

/* A short text for a response's outcome ("connection refused",
 * "timed out", "HTTP 503"), for log lines. */
const char *ts_http_describe(const struct ts_http_response *r, char *buf, size_t cap);

#endif
