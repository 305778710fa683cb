/* tls_probe.c — an HTTPS client in C, for test_tls.py: the calls of
 * OpenSSL and GnuTLS that the tools the tests run (curl, wget, Python)
 * never make, each answered by the shim as the library answers them.
 *
 *   tls_probe LIBRARY MODE PORT [BODY PIECE]
 *
 * LIBRARY: openssl or gnutls. Connects to 127.0.0.1:PORT (apps/tlsapp.py;
 * the certificate is not checked: the server is the test's own), does
 * the handshake, and (MODE):
 *
 *   empty   writes of no bytes before a GET /echo-headers, and writes and
 *           reads of none after it, before its response is read; prints
 *           each one's answer as the library gives it ("SSL_write_ex 0: 1
 *           written 0"), for the test to compare with the probe untraced
 *   pieces  a POST /echo of BODY bytes, all of it in the first write; the
 *           library takes a part (OpenSSL in SSL_MODE_ENABLE_PARTIAL_WRITE
 *           counts the first record, GnuTLS sends one record a call), and
 *           the rest goes in writes of at most PIECE bytes
 *   retry   the same over a non-blocking socket with a 4 KiB send buffer:
 *           a write the library asks to be called again is, once the
 *           socket is ready, with the same buffer and length (GnuTLS: with
 *           NULL, 0 every other time); PIECE 0: each write all that is left
 *           (OpenSSL then without partial writes)
 *   implicit (openssl) a GET /echo-headers with no SSL_connect before it:
 *           the session is set to connect (SSL_set_connect_state), and the
 *           first SSL_write_ex does the handshake; prints "VERSION ..."
 *           (SSL_get_version) after it
 *   upref   (openssl) a GET /echo-headers from a session with a second
 *           reference (SSL_up_ref), of which one is let go (SSL_free)
 *           between the request and its response, read on the same handle
 *   cancel  (openssl) a POST /echo of BODY bytes written by a thread of its
 *           own in one SSL_write, to a server that never reads: once the
 *           thread has blocked in it (1 s), it is cancelled; the session
 *           is freed, the socket closed, and the probe exits (no "BODY")
 *   dup     (openssl) two POSTs /echo of BODY bytes, on two sessions,
 *           to a server that reads the first once it has answered the
 *           second: the first session's handle is duplicated (SSL_dup of
 *           an established session: the same handle, one more reference)
 *           and its POST written by a thread of its own in one SSL_write,
 *           which blocks; once it has (1 s) the duplicate is freed, and
 *           the second session's POST is written in one SSL_write and its
 *           response read; then the first's write is waited for and its
 *           response read. Prints "WRITE <returned> of <asked>" and "BODY
 *           ..." for the second, then for the first
 *   bio_null (openssl) no connection: a new session's BIOs set to none
 *           (SSL_set_bio(ssl, NULL, NULL), as OpenSSL's SSL BIO does when
 *           popped); prints "QUEUE empty" or the first error OpenSSL's
 *           queue holds after it, and "SSL_get_error <n>" for a call that
 *           failed (-1), then exits
 *   wbio_only (openssl) no connection: a client and a server session in
 *           this process over memory BIOs the probe pumps (TLS 1.2,
 *           anonymous DH: no certificate), SSL_set_bio on each; once the
 *           handshake is done the client's read BIO is taken away
 *           (SSL_set_bio(ssl, NULL, its write BIO)) and it writes a GET
 *           /echo-headers; prints "WRITE <returned>" and "QUEUE empty" or
 *           the first error on OpenSSL's queue after it, then exits
 *
 * pieces and retry print "WRITES <calls> retries <n> over <n>", and
 * "OVER asked <n>, counted <n>" for a count of more than a write asked
 * for. Then the probe reads the response and prints its body as the last
 * line ("BODY ..."). Exit status 0; 3 when a count was more than asked
 * for; 2 when the probe itself failed (probe.h). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "probe.h"

struct tls {
    bool openssl; /* else GnuTLS */
    int fd;
    SSL *ssl;
    gnutls_session_t gs;
};

/* sndbuf > 0: the socket's send buffer, and non-blocking once the
 * handshake is done. */
static void tls_connect(struct tls *t, int port, int sndbuf, bool handshake)
{
    struct sockaddr_in sa = loopback(port);
    t->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (t->fd < 0 ||
        (sndbuf && setsockopt(t->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf) != 0) ||
        connect(t->fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        fail("connect to port %d", port);
    if (t->openssl) {
        SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
        if (!ctx || !(t->ssl = SSL_new(ctx)) || SSL_set_fd(t->ssl, t->fd) != 1)
            fail("SSL_new");
        SSL_CTX_free(ctx); /* the session keeps its own reference */
        if (!handshake)
            SSL_set_connect_state(t->ssl);
        else if (SSL_connect(t->ssl) != 1) {
            ERR_print_errors_fp(stderr);
            fail("SSL_connect");
        }
    } else {
        gnutls_certificate_credentials_t cred;
        if (gnutls_certificate_allocate_credentials(&cred) < 0 ||
            gnutls_init(&t->gs, GNUTLS_CLIENT) < 0 || gnutls_set_default_priority(t->gs) < 0 ||
            gnutls_credentials_set(t->gs, GNUTLS_CRD_CERTIFICATE, cred) < 0)
            fail("gnutls_init");
        gnutls_transport_set_int(t->gs, t->fd);
        int r;
        do
            r = gnutls_handshake(t->gs);
        while (r < 0 && !gnutls_error_is_fatal(r));
        if (r < 0)
            fail("gnutls_handshake: %s", gnutls_strerror(r));
    }
    if (sndbuf && fcntl(t->fd, F_SETFL, fcntl(t->fd, F_GETFL) | O_NONBLOCK) != 0)
        fail("O_NONBLOCK");
}

/* The library asked to be called again once the socket is ready for what
 * it wants (OpenSSL's WANT_READ or WANT_WRITE, GnuTLS's direction). */
static void wait_for(struct tls *t, bool to_write)
{
    struct pollfd p = {t->fd, to_write ? POLLOUT : POLLIN, 0};
    if (poll(&p, 1, 10000) != 1)
        fail("the socket was not ready in 10 s");
}

/* One write call (GnuTLS's retry may be p NULL, n 0): how many bytes the
 * library took, or 0 when it asks to be called again (the socket is ready
 * by then); the probe fails on anything else. */
static size_t write_once(struct tls *t, const void *p, size_t n)
{
    if (t->openssl) {
        size_t written = 0;
        if (SSL_write_ex(t->ssl, p, n, &written) == 1)
            return written;
        int e = SSL_get_error(t->ssl, 0);
        if (e != SSL_ERROR_WANT_WRITE && e != SSL_ERROR_WANT_READ) {
            ERR_print_errors_fp(stderr);
            fail("SSL_write_ex of %zu bytes: error %d", n, e);
        }
        wait_for(t, e == SSL_ERROR_WANT_WRITE);
        return 0;
    }
    ssize_t r = gnutls_record_send(t->gs, p, n);
    if (r > 0)
        return (size_t)r;
    if (r != GNUTLS_E_AGAIN && r != GNUTLS_E_INTERRUPTED)
        fail("gnutls_record_send of %zu bytes: %s", n, gnutls_strerror((int)r));
    wait_for(t, gnutls_record_get_direction(t->gs) == 1);
    return 0;
}

/* One read into p[0..n): how many bytes, 0 at the end of the stream. */
static size_t tls_read(struct tls *t, void *p, size_t n)
{
    for (;;) {
        if (t->openssl) {
            size_t got = 0;
            if (SSL_read_ex(t->ssl, p, n, &got) == 1)
                return got;
            int e = SSL_get_error(t->ssl, 0);
            if (e == SSL_ERROR_ZERO_RETURN)
                return 0;
            if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
                ERR_print_errors_fp(stderr);
                fail("SSL_read_ex: error %d", e);
            }
            wait_for(t, e == SSL_ERROR_WANT_WRITE);
            continue;
        }
        ssize_t r = gnutls_record_recv(t->gs, p, n);
        if (r >= 0)
            return (size_t)r;
        /* GnuTLS 3.7 says E_AGAIN once it took a TLS 1.3 session ticket,
         * on a blocking socket too */
        if (r != GNUTLS_E_AGAIN && r != GNUTLS_E_INTERRUPTED)
            fail("gnutls_record_recv: %s", gnutls_strerror((int)r));
        if (gnutls_record_check_pending(t->gs) == 0)
            wait_for(t, gnutls_record_get_direction(t->gs) == 1);
    }
}

/* What a request's writes were told. */
struct writes {
    unsigned calls, retries, over;
};

/* The request in writes: all of it in the first, then after a partial
 * count at most piece bytes a call (0: all that is left). A write asked
 * to be called again is, with the same buffer and length (GnuTLS's
 * NULL, 0 every other time). A count of more than a call asked for is
 * printed and counted in w->over. */
static void write_request(struct tls *t, const char *req, size_t total, size_t piece,
                          struct writes *w)
{
    for (size_t off = 0; off < total; w->calls++) {
        size_t ask = total - off;
        if (off && piece && piece < ask)
            ask = piece;
        size_t n;
        bool empty_retry = false;
        while ((n = empty_retry ? write_once(t, NULL, 0) : write_once(t, req + off, ask)) == 0) {
            w->retries++;
            empty_retry = !t->openssl && w->retries % 2;
        }
        if (n > ask) {
            printf("OVER asked %zu, counted %zu\n", ask, n);
            w->over++;
        }
        off += n;
    }
}

/* A response (Content-Length framed) whole: its body on a line of its own. */
static void print_response_body(struct tls *t)
{
    static char resp[1 << 16];
    size_t len = 0;
    char *body = NULL;
    long want = -1;
    while (want < 0 || (size_t)(body - resp) + (size_t)want > len) {
        if (len == sizeof resp - 1)
            fail("a response of more than %zu bytes", len);
        size_t got = tls_read(t, resp + len, sizeof resp - 1 - len);
        if (got == 0)
            fail("the response ended after %zu bytes", len);
        len += got;
        resp[len] = '\0';
        if (!body && (body = strstr(resp, "\r\n\r\n"))) {
            body += 4;
            const char *cl = strcasestr(resp, "\r\nContent-Length:");
            if (!cl || cl > body)
                fail("a response without Content-Length");
            want = strtol(cl + 17, NULL, 10);
        }
    }
    printf("BODY %.*s\n", (int)want, body);
}

static void tls_close(struct tls *t)
{
    if (t->openssl) {
        SSL_shutdown(t->ssl);
        SSL_free(t->ssl);
    } else {
        gnutls_bye(t->gs, GNUTLS_SHUT_WR);
        gnutls_deinit(t->gs);
    }
    close(t->fd);
}

/* POST /echo with a body of body_len bytes (byte i: the top byte of
 * i * 2654435761, as test_tls.py makes it). */
static char *post_request(size_t body_len, size_t *total)
{
    char head[200];
    int head_len = snprintf(head, sizeof head,
                            "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                            "Content-Type: application/octet-stream\r\n"
                            "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                            body_len);
    char *req = malloc((size_t)head_len + body_len);
    if (!req)
        fail("malloc");
    memcpy(req, head, (size_t)head_len);
    for (size_t i = 0; i < body_len; i++)
        req[(size_t)head_len + i] = (char)(((uint32_t)i * 2654435761u) >> 24);
    *total = (size_t)head_len + body_len;
    return req;
}

/* Writes of no bytes, and reads of none once the response is on its way
 * (OpenSSL's waits for a record), each answer printed as the library
 * gives it: a program that calls so must hear the library's answer, and
 * nothing it does may end the request's span. */
static void empty_calls(struct tls *t, const char *when, bool reads)
{
    char buf[16];
    if (t->openssl) {
        size_t n = 777;
        int r = SSL_write_ex(t->ssl, "", 0, &n);
        printf("%s SSL_write_ex 0: %d written %zu error %d\n", when, r, n,
               SSL_get_error(t->ssl, r));
        r = SSL_write(t->ssl, "", 0);
        printf("%s SSL_write 0: %d error %d\n", when, r, SSL_get_error(t->ssl, r));
        if (reads) {
            n = 777;
            r = SSL_read_ex(t->ssl, buf, 0, &n);
            printf("%s SSL_read_ex 0: %d read %zu error %d\n", when, r, n,
                   SSL_get_error(t->ssl, r));
            r = SSL_read(t->ssl, buf, 0);
            printf("%s SSL_read 0: %d error %d\n", when, r, SSL_get_error(t->ssl, r));
        }
        ERR_clear_error();
    } else {
        printf("%s gnutls_record_send 0: %zd\n", when, gnutls_record_send(t->gs, "", 0));
        printf("%s gnutls_record_send NULL 0: %zd\n", when, gnutls_record_send(t->gs, NULL, 0));
        if (reads)
            printf("%s gnutls_record_recv 0: %zd\n", when, gnutls_record_recv(t->gs, buf, 0));
    }
}

/* cancel, dup: the thread that blocks in SSL_write. */
struct blocked_write {
    SSL *ssl;
    char *req;
    size_t len;
    int r;
};

static void *write_blocked(void *arg)
{
    struct blocked_write *b = arg;
    b->r = SSL_write(b->ssl, b->req, (int)b->len); /* the server does not read: blocks */
    return NULL;
}

/* A thread of its own writes a POST /echo of body_len bytes on t, made
 * blocking, in one SSL_write: returned once it has blocked (1 s). */
static pthread_t start_blocked_write(struct tls *t, size_t body_len, struct blocked_write *b)
{
    if (fcntl(t->fd, F_SETFL, fcntl(t->fd, F_GETFL) & ~O_NONBLOCK) != 0)
        fail("blocking");
    *b = (struct blocked_write){t->ssl, NULL, 0, 0};
    b->req = post_request(body_len, &b->len);
    pthread_t thread;
    if (pthread_create(&thread, NULL, write_blocked, b) != 0)
        fail("pthread_create");
    sleep(1);
    return thread;
}

static void cancel_a_blocked_write(struct tls *t, size_t body_len)
{
    struct blocked_write b;
    pthread_t thread = start_blocked_write(t, body_len, &b);
    if (pthread_cancel(thread) != 0 || pthread_join(thread, NULL) != 0)
        fail("pthread_cancel");
    printf("CANCELLED\n");
    SSL_free(t->ssl);
    close(t->fd);
    free(b.req);
}

/* dup: the duplicate of a (the same handle) is freed while a's write
 * blocks, and another session writes and reads meanwhile. */
static void dup_freed_inside_a_write(struct tls *a, int port, size_t body_len)
{
    SSL *dup = SSL_dup(a->ssl);
    if (dup != a->ssl)
        fail("SSL_dup of an established session made another handle");
    struct blocked_write first;
    pthread_t thread = start_blocked_write(a, body_len, &first);
    SSL_free(dup); /* the duplicate's owner lets go: the handle lives on */
    struct tls b = {.openssl = true};
    tls_connect(&b, port, 0, true);
    size_t len;
    char *req = post_request(body_len, &len);
    printf("WRITE %d of %zu\n", SSL_write(b.ssl, req, (int)len), len);
    print_response_body(&b);
    tls_close(&b);
    free(req);
    if (pthread_join(thread, NULL) != 0)
        fail("pthread_join");
    printf("WRITE %d of %zu\n", first.r, first.len);
    free(first.req);
}

/* bio_null: what the program's thread hears from OpenSSL after it. */
static void bio_null(void)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL *ssl = ctx ? SSL_new(ctx) : NULL;
    if (!ssl)
        fail("SSL_new");
    ERR_clear_error();
    SSL_set_bio(ssl, NULL, NULL);
    unsigned long e = ERR_peek_error();
    printf("QUEUE %s\n", e ? ERR_error_string(e, NULL) : "empty");
    printf("SSL_get_error %d\n", SSL_get_error(ssl, -1));
    SSL_free(ssl);
    SSL_CTX_free(ctx);
}

/* wbio_only: what a memory BIO holds goes to the other's. */
static void pump(BIO *from, BIO *to)
{
    char buf[16384];
    int n;
    while ((n = BIO_read(from, buf, sizeof buf)) > 0)
        if (BIO_write(to, buf, n) != n)
            fail("BIO_write");
}

static SSL_CTX *anonymous_ctx(const SSL_METHOD *method)
{
    SSL_CTX *ctx = SSL_CTX_new(method);
    if (!ctx || SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_cipher_list(ctx, "aNULL:@SECLEVEL=0") != 1 || SSL_CTX_set_dh_auto(ctx, 1) != 1)
        fail("SSL_CTX");
    return ctx;
}

static void wbio_only(void)
{
    SSL_CTX *cctx = anonymous_ctx(TLS_client_method()), *sctx = anonymous_ctx(TLS_server_method());
    SSL *c = SSL_new(cctx), *s = SSL_new(sctx);
    BIO *c_in = BIO_new(BIO_s_mem()), *c_out = BIO_new(BIO_s_mem());
    BIO *s_in = BIO_new(BIO_s_mem()), *s_out = BIO_new(BIO_s_mem());
    if (!c || !s || !c_in || !c_out || !s_in || !s_out)
        fail("SSL_new");
    SSL_set_bio(c, c_in, c_out);
    SSL_set_bio(s, s_in, s_out);
    SSL_set_connect_state(c);
    SSL_set_accept_state(s);
    for (int i = 0; i < 10 && !(SSL_is_init_finished(c) && SSL_is_init_finished(s)); i++) {
        SSL_do_handshake(c);
        pump(c_out, s_in);
        SSL_do_handshake(s);
        pump(s_out, c_in);
    }
    if (!SSL_is_init_finished(c) || !SSL_is_init_finished(s)) {
        ERR_print_errors_fp(stderr);
        fail("the handshake over memory BIOs");
    }
    ERR_clear_error();
    SSL_set_bio(c, NULL, c_out); /* write only from now (c_in is freed) */
    static const char get[] = "GET /echo-headers HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    printf("WRITE %d\n", SSL_write(c, get, (int)sizeof get - 1));
    unsigned long e = ERR_peek_error();
    printf("QUEUE %s\n", e ? ERR_error_string(e, NULL) : "empty");
    SSL_free(c);
    SSL_free(s);
    SSL_CTX_free(cctx);
    SSL_CTX_free(sctx);
}

int main(int argc, char **argv)
{
    if (argc < 4 || (strcmp(argv[1], "openssl") != 0 && strcmp(argv[1], "gnutls") != 0))
        fail("usage: tls_probe openssl|gnutls "
             "empty|pieces|retry|implicit|upref|cancel|dup|bio_null|wbio_only PORT [BODY PIECE]");
    struct tls t = {.openssl = strcmp(argv[1], "openssl") == 0};
    const char *mode = argv[2];
    int port = atoi(argv[3]);
    size_t body_len = argc > 4 ? strtoul(argv[4], NULL, 10) : 0;
    size_t piece = argc > 5 ? strtoul(argv[5], NULL, 10) : 0;
    setvbuf(stdout, NULL, _IOLBF, 0);
    bool posts = strcmp(mode, "pieces") == 0 || strcmp(mode, "retry") == 0;
    bool implicit = strcmp(mode, "implicit") == 0;
    if (implicit && !t.openssl)
        fail("implicit is for openssl (a GnuTLS client calls gnutls_handshake)");
    if (strcmp(mode, "wbio_only") == 0 && t.openssl) {
        wbio_only();
        fflush(stdout);
        _exit(0);
    }
    if (strcmp(mode, "bio_null") == 0 && t.openssl) {
        bio_null();
        fflush(stdout);
        _exit(0);
    }
    bool cancel = strcmp(mode, "cancel") == 0, dup = strcmp(mode, "dup") == 0;
    if ((cancel || dup) && !t.openssl)
        fail("%s is for openssl", mode);
    tls_connect(&t, port, strcmp(mode, "retry") == 0 || cancel || dup ? 4096 : 0, !implicit);
    if (cancel) {
        cancel_a_blocked_write(&t, body_len);
        fflush(stdout);
        _exit(0);
    }
    if (dup)
        dup_freed_inside_a_write(&t, port, body_len);
    struct writes w = {0};
    static const char get[] = "GET /echo-headers HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                              "Connection: close\r\n\r\n";
    if (strcmp(mode, "empty") == 0) {
        empty_calls(&t, "before", false);
        write_request(&t, get, sizeof get - 1, 0, &w);
        empty_calls(&t, "after", true);
    } else if (strcmp(mode, "upref") == 0 && t.openssl) {
        if (SSL_up_ref(t.ssl) != 1)
            fail("SSL_up_ref");
        write_request(&t, get, sizeof get - 1, 0, &w);
        SSL_free(t.ssl); /* another owner lets go: the session lives on */
    } else if (dup) {
        /* the first session's response, below */
    } else if (implicit) {
        write_request(&t, get, sizeof get - 1, 0, &w);
        printf("VERSION %s\n", SSL_get_version(t.ssl));
    } else if (posts) {
        if (t.openssl && (piece || strcmp(mode, "pieces") == 0))
            SSL_set_mode(t.ssl, SSL_MODE_ENABLE_PARTIAL_WRITE);
        size_t total;
        char *req = post_request(body_len, &total);
        write_request(&t, req, total, piece, &w);
        free(req);
        printf("WRITES %u retries %u over %u\n", w.calls, w.retries, w.over);
    } else {
        fail("no mode %s", mode);
    }
    print_response_body(&t);
    tls_close(&t);
    /* No exit handlers: under a preloaded ASan runtime (scripts/test.sh's
     * sanitizer stage) p11-kit's destructor, GnuTLS's dependency, waits
     * forever for glibc's locale lock (tshelp.py: SANITIZER_CANNOT_RUN). */
    fflush(stdout);
    _exit(w.over ? 3 : 0);
}
