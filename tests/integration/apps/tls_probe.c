/* tls_probe.c — an HTTPS client in C, for test_tls.py: the calls of
 * OpenSSL and GnuTLS that the tools the tests run (curl, wget, Python)
 * never make, each answered by the shim as the library answers them.
 *
 *   tls_probe LIBRARY empty PORT
 *
 * LIBRARY: openssl or gnutls. Connects to 127.0.0.1:PORT (apps/tlsapp.py;
 * the certificate is not checked: the server is the test's own), does
 * the handshake, and:
 *
 *   empty   writes of no bytes before a GET /echo-headers, and writes and
 *           reads of none after it, before its response is read; prints
 *           each one's answer as the library gives it ("SSL_write_ex 0: 1
 *           written 0"), for the test to compare with the probe untraced
 *
 * Then reads the response and prints its body as the last line ("BODY
 * ..."). Exit status 0, or 2 when the probe itself failed (probe.h). */
#define _GNU_SOURCE
#include <gnutls/gnutls.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdbool.h>

#include "probe.h"

struct tls {
    bool openssl; /* else GnuTLS */
    int fd;
    SSL *ssl;
    gnutls_session_t gs;
};

static void tls_connect(struct tls *t, int port)
{
    t->fd = connect_loopback(port, 0);
    if (t->fd < 0)
        fail("connect to port %d", port);
    if (t->openssl) {
        SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
        if (!ctx || !(t->ssl = SSL_new(ctx)) || SSL_set_fd(t->ssl, t->fd) != 1)
            fail("SSL_new");
        SSL_CTX_free(ctx); /* the session keeps its own reference */
        if (SSL_connect(t->ssl) != 1) {
            ERR_print_errors_fp(stderr);
            fail("SSL_connect");
        }
        return;
    }
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

/* One write of n > 0 bytes: how many the library took; the probe fails
 * on anything else. */
static size_t tls_write(struct tls *t, const void *p, size_t n)
{
    if (t->openssl) {
        size_t written = 0;
        if (SSL_write_ex(t->ssl, p, n, &written) != 1) {
            ERR_print_errors_fp(stderr);
            fail("SSL_write_ex of %zu bytes", n);
        }
        return written;
    }
    ssize_t r = gnutls_record_send(t->gs, p, n);
    if (r <= 0)
        fail("gnutls_record_send of %zu bytes: %s", n, gnutls_strerror((int)r));
    return (size_t)r;
}

/* One read into p[0..n): how many bytes, 0 at the end of the stream. */
static size_t tls_read(struct tls *t, void *p, size_t n)
{
    if (t->openssl) {
        size_t got = 0;
        if (SSL_read_ex(t->ssl, p, n, &got) == 1)
            return got;
        int e = SSL_get_error(t->ssl, 0);
        if (e == SSL_ERROR_ZERO_RETURN)
            return 0;
        ERR_print_errors_fp(stderr);
        fail("SSL_read_ex: error %d", e);
    }
    for (;;) {
        ssize_t r = gnutls_record_recv(t->gs, p, n);
        if (r >= 0)
            return (size_t)r;
        /* GnuTLS 3.7 says E_AGAIN once it took a TLS 1.3 session ticket,
         * on a blocking socket too */
        if (r != GNUTLS_E_AGAIN && r != GNUTLS_E_INTERRUPTED)
            fail("gnutls_record_recv: %s", gnutls_strerror((int)r));
    }
}

static void write_all(struct tls *t, const char *p, size_t n)
{
    for (size_t off = 0; off < n;)
        off += tls_write(t, p + off, n - off);
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

int main(int argc, char **argv)
{
    if (argc < 4 || (strcmp(argv[1], "openssl") != 0 && strcmp(argv[1], "gnutls") != 0))
        fail("usage: tls_probe openssl|gnutls empty PORT");
    struct tls t = {.openssl = strcmp(argv[1], "openssl") == 0};
    const char *mode = argv[2];
    int port = atoi(argv[3]);
    setvbuf(stdout, NULL, _IOLBF, 0);
    tls_connect(&t, port);
    if (strcmp(mode, "empty") == 0) {
        static const char get[] = "GET /echo-headers HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
        empty_calls(&t, "before", false);
        write_all(&t, get, sizeof get - 1);
        empty_calls(&t, "after", true);
    } else {
        fail("no mode %s", mode);
    }
    print_response_body(&t);
    tls_close(&t);
    /* No exit handlers: under a preloaded ASan runtime (scripts/test.sh's
     * sanitizer stage) p11-kit's destructor, GnuTLS's dependency, waits
     * forever for glibc's locale lock (tshelp.py: SANITIZER_CANNOT_RUN). */
    fflush(stdout);
    _exit(0);
}
