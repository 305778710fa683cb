/* tls_out.h — one program write on a TLS session, on its way out: the
 * bookkeeping that keeps a rewritten write consistent across retries.
 *
 * The HTTP logic (conn_send.c) decides what goes out for the program's
 * bytes: the same bytes, or with trace header lines inserted. Over TLS
 * that stream is collected here (tls_out_sink) and handed to the real
 * write function of the TLS library in one piece. The libraries' rules:
 *
 *   - a write that asks to be called again (OpenSSL's WANT_WRITE and
 *     WANT_READ, GnuTLS's E_AGAIN and E_INTERRUPTED) must get the same
 *     buffer and length again: a rewritten write keeps its bytes in a
 *     buffer of its own, stable until every byte is out, and the
 *     program's retry, which asks for the same bytes again, replays
 *     exactly that;
 *   - a write may take part of the buffer (OpenSSL's partial-write mode,
 *     GnuTLS always): the program hears how many of its own bytes are out
 *     (inserted lines do not count, a cut inside them counts up to their
 *     start), and its next write continues the rest of the wire bytes, as
 *     far as its own bytes in that call reach (a program may go on in
 *     smaller pieces than it began with).
 *
 * The program is never told a byte is written before the TLS library took
 * it, never 0 for a non-empty write, and never more than the call asked
 * for (the library took no more than that). A write the shim did not rewrite
 * goes from the program's own buffer; only the count of its bytes that the
 * HTTP logic has already seen is kept, so a retry is not seen twice. */
#ifndef TS_TLS_OUT_H
#define TS_TLS_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

/* Inserted header blocks one write can carry (pipelined heads). A write
 * with more is cut before the next block, as a socket takes a prefix. */
#define TLS_OUT_MAX_INS 16

/* The real write function of a session: sends len bytes of buf; returns
 * how many it took (> 0), or its own result for a failure (<= 0). */
typedef long (*tls_write_fn)(void *ctx, const void *buf, size_t len);

struct tls_out {
    bool active;    /* a write is under way: the program's next write continues it */
    bool rewritten; /* the wire bytes are in buf, else they are the program's own */
    char *buf;      /* rewritten wire bytes (preload/blocks.h), NULL when none */
    size_t cap;
    size_t len, off;    /* wire bytes, and how many the library took */
    size_t prog, told;  /* program bytes they stand for; how many the program was told */
    size_t retry_asked; /* the library asked for a call to be made again: its program bytes */
    const char *app;    /* while collecting: the program's buffer */
    size_t app_len;
    uint8_t nins;
    struct {
        uint32_t at, len; /* wire offset and length, ascending */
    } ins[TLS_OUT_MAX_INS];
};

/* Start collecting the wire bytes for a program write of app[0..len). */
void tls_out_collect(struct tls_out *o, const void *app, size_t len);

/* A ts_conn_sink_fn (ctx: the struct tls_out): takes the pieces, copying
 * them only once a piece is not the program's next bytes. -1 (ENOBUFS)
 * when no buffer can hold them. */
ssize_t tls_out_sink(void *ctx, const struct iovec *v, int n, size_t ins_from, size_t ins_len);

/* A ts_conn_pass_fn (arg: the struct tls_out): the whole write goes as
 * the program gave it. */
ssize_t tls_out_pass(void *arg);

/* Collecting is over: the wire bytes stand for prog program bytes (what
 * the HTTP logic said it took). The write is now under way. */
void tls_out_ready(struct tls_out *o, size_t prog);

/* Send (more of) the write under way through fn: the program's write of
 * app[0..app_len) is this write, or its retry, or its continuation after
 * a partial count. fn is offered the wire bytes of the program's next
 * app_len bytes, no more (the same again for a retry). GnuTLS's retry may
 * pass NULL, 0, only while tls_out_retry_due: it stands for the call that
 * asked for it. Returns how many more program bytes are out (> 0, at most
 * app_len, or what the call an empty retry repeats asked for), or fn's
 * failure result (the write stays under way: a retry continues it;
 * tls_out_drop when the failure is final). A rewritten write calls fn
 * again by itself when only inserted bytes were taken. */
long tls_out_send(struct tls_out *o, const void *app, size_t app_len, tls_write_fn fn, void *ctx);

/* The library asked for its last call of the write under way to be made
 * again: an empty write (GnuTLS's NULL, 0) is that retry. */
bool tls_out_retry_due(const struct tls_out *o);

/* Forget the write under way (the session failed or ends). */
void tls_out_drop(struct tls_out *o);

/* Program bytes entirely out once the library has taken `wire` bytes. */
size_t tls_out_prog_at(const struct tls_out *o, size_t wire);

#endif
