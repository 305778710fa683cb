/* soak_http.h — the little HTTP/1.1 the soak's three programs (client,
 * middle, backend) speak to each other: a buffered reader over a blocking
 * socket, a head parser good enough for our own messages, bodies framed by
 * Content-Length or chunked, and socket helpers bound to 127.0.0.1.
 *
 * Not a general HTTP library: every peer is one of these programs, and the
 * only bytes added on the way are the trace header lines the shim injects.
 * Each program reads and writes through different libc doors (read, recv,
 * readv; write, send, writev) so that the soak runs through more of the
 * shim's hooks. */
#ifndef SOAK_HTTP_H
#define SOAK_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#define SOAK_READ_BUF 16384
#define SOAK_MAX_HEAD 8192
#define SOAK_MAX_BODY 65536

/* Which libc call a reader or writer uses. */
enum soak_door { SOAK_DOOR_READ_WRITE, SOAK_DOOR_RECV_SEND, SOAK_DOOR_VECTOR };

struct soak_reader {
    int fd;
    enum soak_door door;
    size_t start, end; /* unread bytes are buf[start..end) */
    char buf[SOAK_READ_BUF];
};

/* One parsed head. The text is kept (NUL-terminated) so headers can be
 * looked up after parsing. */
struct soak_head {
    char text[SOAK_MAX_HEAD + 1];
    size_t len;          /* bytes of the head, blank line included */
    char method[16];     /* requests */
    char target[256];    /* requests */
    int status;          /* responses */
    long content_length; /* -1 when absent */
    bool chunked;        /* Transfer-Encoding: chunked */
    bool connection_close;
};

void soak_reader_init(struct soak_reader *r, int fd, enum soak_door door);

/* Read one head. 1: read and parsed as a request (is_request) or a
 * response; 0: the peer closed before its first byte; -1: an error, a
 * close mid-head, or a head we cannot parse. */
int soak_read_head(struct soak_reader *r, struct soak_head *h, bool is_request);

/* The value of the first header called name (any case), or NULL;
 * *len is its length. */
const char *soak_header(const struct soak_head *h, const char *name, size_t *len);

/* The message body after h into out (at most cap bytes): its length, or -1
 * on an error or a body larger than cap. A head with neither framing has
 * no body (our peers never delimit by close). */
long soak_read_body(struct soak_reader *r, const struct soak_head *h, char *out, size_t cap);

/* After a "Connection: close" exchange: true when the peer's next event
 * is its close (no stray bytes). */
bool soak_read_eof(struct soak_reader *r);

/* Write all of iov (iovcnt pieces) through door: whole vectors by writev,
 * or piece by piece by write or send. 0, or -1 on an error. */
int soak_write_all(int fd, enum soak_door door, const struct iovec *iov, int iovcnt);

/* Chunked encoding of body as n_chunks chunks (the last one possibly
 * shorter), with the last-chunk line; into out (cap bytes). Its length,
 * or 0 when it does not fit. */
size_t soak_chunk_encode(const char *body, size_t len, int n_chunks, char *out, size_t cap);

/* A socket listening on 127.0.0.1 at a port the kernel picks (*port). */
int soak_listen_local(uint16_t *port);

/* A blocking TCP connection to 127.0.0.1:port, or -1. */
int soak_connect_local(uint16_t port);

/* TCP_NODELAY on a connection (connect_local does it; servers call it
 * on what they accept). */
void soak_no_delay(int fd);

/* The 32 hex digits of the trace id in a traceparent value, or NULL. */
const char *soak_traceparent_trace_id(const char *value, size_t len);

/* Deterministic body bytes for request number seq (client and backend
 * agree on them without sending a seed). */
void soak_fill_pattern(char *out, size_t len, uint64_t seq);

#endif
