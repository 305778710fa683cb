/* tls_out.c — a program write on a TLS session across retries and partial
 * counts (see tls_out.h). */
#include "tls_out.h"

#include <errno.h>
#include <string.h>

#include "../preload/blocks.h"

void tls_out_collect(struct tls_out *o, const void *app, size_t len)
{
    tls_out_drop(o);
    o->app = app;
    o->app_len = len;
    o->len = o->off = o->prog = o->told = 0;
    o->nins = 0;
}

/* From now on the wire bytes are ours: copy the program's bytes taken so
 * far (they are app[0..len)) into the buffer. */
static bool go_rewritten(struct tls_out *o, size_t need)
{
    if (!ts_buf_reserve(&o->buf, &o->cap, need))
        return false;
    if (!o->rewritten)
        memcpy(o->buf, o->app, o->len);
    o->rewritten = true;
    return true;
}

ssize_t tls_out_sink(void *ctx, const struct iovec *v, int n, size_t ins_from, size_t ins_len)
{
    struct tls_out *o = ctx;
    size_t want = 0;
    for (int i = 0; i < n; i++)
        want += v[i].iov_len;
    if (ins_len && o->nins == TLS_OUT_MAX_INS)
        want = ins_from; /* no room to remember another block: stop before it */
    if (want == 0) {
        errno = ENOBUFS;
        return -1;
    }
    size_t start = o->len, taken = 0;
    for (int i = 0; i < n && taken < want; i++) {
        size_t k = v[i].iov_len < want - taken ? v[i].iov_len : want - taken;
        const char *p = v[i].iov_base;
        bool programs_next = !o->rewritten && p == o->app + o->len;
        if (!programs_next) {
            if (!go_rewritten(o, start + want)) {
                errno = ENOBUFS;
                return taken ? (ssize_t)taken : -1;
            }
            memcpy(o->buf + o->len, p, k);
        }
        o->len += k;
        taken += k;
    }
    if (ins_len && ins_from < taken) {
        size_t end = ins_from + ins_len < taken ? ins_from + ins_len : taken;
        o->ins[o->nins].at = (uint32_t)(start + ins_from);
        o->ins[o->nins].len = (uint32_t)(end - ins_from);
        o->nins++;
    }
    return (ssize_t)taken;
}

ssize_t tls_out_pass(void *arg)
{
    struct tls_out *o = arg;
    o->len = o->app_len;
    return (ssize_t)o->app_len;
}

void tls_out_ready(struct tls_out *o, size_t prog)
{
    o->prog = prog;
    o->off = o->told = o->retry_asked = 0;
    o->active = true;
    o->app = NULL;
    o->app_len = 0;
}

size_t tls_out_prog_at(const struct tls_out *o, size_t wire)
{
    size_t shim = 0;
    for (unsigned i = 0; i < o->nins; i++) {
        size_t at = o->ins[i].at, len = o->ins[i].len;
        if (wire <= at)
            break;
        if (wire < at + len)
            return at - shim; /* inside inserted lines: the program's bytes before them */
        shim += len;
    }
    return wire - shim;
}

void tls_out_drop(struct tls_out *o)
{
    ts_buf_release(&o->buf, &o->cap);
    o->active = false;
    o->rewritten = false;
    o->nins = 0;
    o->retry_asked = 0;
}

/* The wire bytes that carry program bytes [0, prog): the lines inserted
 * before any of them count, those inserted before byte prog go with it. */
static size_t wire_end_of(const struct tls_out *o, size_t prog)
{
    size_t shim = 0;
    for (unsigned i = 0; i < o->nins && o->ins[i].at - shim < prog; i++)
        shim += o->ins[i].len;
    return prog + shim;
}

/* How many wire bytes a program call of app_len bytes may hand the
 * library: those that carry its next app_len bytes of this write (every
 * byte that is left when it asks for them all), so that no count the
 * program hears is more than it asked for. */
static size_t wire_offer(const struct tls_out *o, size_t app_len)
{
    size_t left = o->prog - o->told;
    if (app_len >= left)
        return o->len - o->off;
    return wire_end_of(o, o->told + app_len) - o->off;
}

long tls_out_send(struct tls_out *o, const void *app, size_t app_len, tls_write_fn fn, void *ctx)
{
    /* GnuTLS's retry may pass NULL, 0: it stands for the call that asked
     * for it (the program's own bytes go as NULL, 0, which GnuTLS takes
     * for the same). */
    bool empty_retry = app_len == 0;
    size_t asked = empty_retry ? o->retry_asked : app_len;
    for (;;) {
        size_t len = wire_offer(o, asked);
        /* The program's own bytes, from its own buffer: what it passes
         * now starts where the write stopped. */
        long r = o->rewritten ? fn(ctx, o->buf + o->off, len) : fn(ctx, app, empty_retry ? 0 : len);
        if (r <= 0) {
            o->retry_asked = asked; /* the retry offers the same bytes again */
            return r;
        }
        o->retry_asked = 0;
        o->off += (size_t)r < o->len - o->off ? (size_t)r : o->len - o->off;
        size_t now = tls_out_prog_at(o, o->off);
        size_t more = now - o->told;
        o->told = now;
        if (o->off == o->len)
            tls_out_drop(o); /* all out: an idle session holds no buffer */
        if (more > 0 || !o->active)
            return (long)more;
    }
}

bool tls_out_retry_due(const struct tls_out *o)
{
    return o->active && o->retry_asked > 0;
}
