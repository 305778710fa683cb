/* conn_harness.h — the connection tests' common ground: a stub reporter
 * that captures spans, socket pairs whose one end is a tracked program fd,
 * and the program's reads and writes through the connection logic. */
#ifndef TS_TEST_CONN_HARNESS_H
#define TS_TEST_CONN_HARNESS_H

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "hooks/conn.h"
#include "hooks/propagation.h"
#include "preload/config.h"
#include "preload/context.h"
#include "preload/fdtable.h"
#include "reporter/reporter.h"
#include "rep_block_stub.h"

/* ------------------------------------------------ captured spans (stub) */

static struct ts_span spans[4096];
static int nspans;

void ts_rep_submit(const struct ts_span *s)
{
    if (nspans < 4096)
        spans[nspans++] = *s;
}

static inline const char *attr_str(const struct ts_span *s, const char *key, char *out, size_t cap)
{
    const struct ts_attr *a = ts_span_attr_find(s, key);
    if (!a || a->type != TS_ATTR_STR)
        return NULL;
    snprintf(out, cap, "%.*s", (int)a->len, ts_span_attr_sval(s, a));
    return out;
}

static inline int64_t attr_int(const struct ts_span *s, const char *key)
{
    const struct ts_attr *a = ts_span_attr_find(s, key);
    return a && a->type == TS_ATTR_INT ? a->num : -1;
}

static inline void hex(const uint8_t *id, size_t n, char *out)
{
    ts_hex_encode(id, n, out);
    out[2 * n] = '\0';
}

/* ------------------------------------------------------------- harness */

static inline const char *no_env(const char *name)
{
    (void)name;
    return NULL;
}

struct pair {
    int prog; /* the traced program's end */
    int peer; /* the other side */
};

/* An environment whose sampler never samples (for ts_sampler_load). */
static inline const char *always_off_env(const char *name)
{
    return strcmp(name, "OTEL_TRACES_SAMPLER") == 0 ? "always_off" : NULL;
}

static inline struct pair make_pair(int role)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    ts_conn_track(sv[0], role, NULL, 0);
    return (struct pair){sv[0], sv[1]};
}

/* A socket pair whose program end is tracked with peer as its address
 * (as connect gives it; a server's is most often taken from the socket). */
static inline struct pair make_pair_peer(int role, const void *peer, socklen_t len)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    ts_conn_track(sv[0], role, peer, len);
    return (struct pair){sv[0], sv[1]};
}

static inline void close_pair(struct pair *p)
{
    ts_conn_untrack(p->prog);
    close(p->prog);
    close(p->peer);
}

struct write_call {
    int fd;
    const struct iovec *iov;
    int iovcnt;
};

static inline ssize_t pass_writev(void *arg)
{
    struct write_call *w = arg;
    return writev(w->fd, w->iov, w->iovcnt);
}

/* What the program's write of buf returns through the shim. */
static inline ssize_t prog_write(struct pair *p, const char *buf, size_t len)
{
    struct iovec iov = {(void *)buf, len};
    struct write_call w = {p->prog, &iov, 1};
    struct ts_conn *c = ts_conn_get(p->prog);
    assert_non_null(c);
    ssize_t r = ts_conn_send(c, p->prog, &iov, 1, 0, pass_writev, &w);
    ts_conn_put(c);
    return r;
}

static inline ssize_t prog_writev(struct pair *p, const struct iovec *iov, int n)
{
    struct write_call w = {p->prog, iov, n};
    struct ts_conn *c = ts_conn_get(p->prog);
    assert_non_null(c);
    ssize_t r = ts_conn_send(c, p->prog, iov, n, 0, pass_writev, &w);
    ts_conn_put(c);
    return r;
}

/* The program reads what the peer wrote (all of it, in one read). */
static inline ssize_t prog_read(struct pair *p, char *buf, size_t cap)
{
    struct ts_conn *c = ts_conn_get(p->prog);
    assert_non_null(c);
    ssize_t r = read(p->prog, buf, cap);
    struct iovec iov = {buf, cap};
    ts_conn_recv_done(c, &iov, 1, r, 0, errno);
    ts_conn_put(c);
    return r;
}

/* How many times a header line starting with name (any case) is in a head. */
static inline int lines_named(const char *head, const char *name)
{
    int n = 0;
    size_t len = strlen(name);
    for (const char *l = head; (l = strstr(l, "\r\n")) != NULL; l += 2)
        if (strncasecmp(l + 2, name, len) == 0)
            n++;
    return n;
}

/* Everything the peer has received so far (non-blocking drain). */
static inline size_t peer_read_all(struct pair *p, char *buf, size_t cap)
{
    size_t n = 0;
    for (;;) {
        ssize_t r = recv(p->peer, buf + n, cap - n - 1, MSG_DONTWAIT);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    return n;
}

static inline void peer_write(struct pair *p, const char *s)
{
    assert_int_equal(write(p->peer, s, strlen(s)), (ssize_t)strlen(s));
}

/* The injected lines expected for a client span without parent. */
static inline void expected_lines(const struct ts_span *s, char *out, size_t cap)
{
    char t[33], id[17];
    hex(s->trace_id, 16, t);
    hex(s->span_id, 8, id);
    snprintf(out, cap,
             "X-B3-TraceId: %s\r\nX-B3-SpanId: %s\r\nX-B3-Sampled: 1\r\n"
             "traceparent: 00-%s-%s-01\r\n",
             t, id, t, id);
}

static inline int setup(void **state)
{
    (void)state;
    nspans = 0;
    ts_config_load(&ts_cfg, no_env);
    return 0;
}

#endif
