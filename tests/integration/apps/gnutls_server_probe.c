/* gnutls_server_probe.c — an HTTPS server in C on GnuTLS, for test_tls.py:
 * responses written over a non-blocking socket that fills, each write the
 * library asks to be made again (GNUTLS_E_AGAIN) made again as GnuTLS
 * allows: with NULL, 0, or with the same buffer and length.
 *
 *   gnutls_server_probe CERT KEY null|same|rehandshake BODY
 *
 * rehandshake: TLS 1.2 at the most, and before the first response the
 * server asks for a new handshake (gnutls_rehandshake: the client's read
 * hears GNUTLS_E_REHANDSHAKE, not a fatal error) and makes it; its writes
 * retry with the same buffer. It prints "REHANDSHAKES <n>" at the end.
 *
 * Listens on 127.0.0.1 (a free port, printed "LISTENING <port>"), takes
 * one connection (a 4 KiB send buffer), does the handshake, and answers
 * each request on it (a head up to its blank line; no body) with 200 and
 * BODY bytes, written in one gnutls_record_send after another. When the
 * client closes, prints "RETRIES <n>" (how many writes were made again)
 * and exits 0; 2 when the probe itself failed (probe.h). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <stdbool.h>

#include "probe.h"

static gnutls_session_t session;
static int fd;

static void wait_for(bool to_write)
{
    struct pollfd p = {fd, to_write ? POLLOUT : POLLIN, 0};
    if (poll(&p, 1, 10000) != 1)
        fail("the socket was not ready in 10 s");
}

/* A request head into buf; false at the end of the stream. */
static bool read_head(char *buf, size_t cap)
{
    size_t len = 0;
    while (len < 4 || memcmp(buf + len - 4, "\r\n\r\n", 4) != 0) {
        if (len == cap)
            fail("a request head of more than %zu bytes", cap);
        ssize_t r = gnutls_record_recv(session, buf + len, 1);
        if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
            wait_for(gnutls_record_get_direction(session) == 1);
            continue;
        }
        if (r == 0 || (r < 0 && len == 0 && r == GNUTLS_E_PREMATURE_TERMINATION))
            return false;
        if (r < 0)
            fail("gnutls_record_recv: %s", gnutls_strerror((int)r));
        len += (size_t)r;
    }
    return true;
}

/* A new handshake asked of the client and made (rehandshake). */
static void rehandshake(void)
{
    int r;
    do
        r = gnutls_rehandshake(session);
    while (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED);
    if (r < 0)
        fail("gnutls_rehandshake: %s", gnutls_strerror(r));
    while ((r = gnutls_handshake(session)) < 0) {
        if (gnutls_error_is_fatal(r))
            fail("the new handshake: %s", gnutls_strerror(r));
        if (r == GNUTLS_E_AGAIN)
            wait_for(gnutls_record_get_direction(session) == 1);
    }
}

/* Writes p[0..n) to the end; returns how many writes were made again. */
static unsigned write_all(const char *p, size_t n, bool retry_with_null)
{
    unsigned retries = 0;
    bool again = false;
    while (n > 0) {
        ssize_t r = again && retry_with_null ? gnutls_record_send(session, NULL, 0)
                                             : gnutls_record_send(session, p, n);
        if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
            again = true;
            retries++;
            wait_for(gnutls_record_get_direction(session) == 1);
            continue;
        }
        if (r <= 0)
            fail("gnutls_record_send of %zu bytes: %s", n, gnutls_strerror((int)r));
        if ((size_t)r > n)
            fail("gnutls_record_send took %zd bytes of %zu", r, n);
        again = false;
        p += r;
        n -= (size_t)r;
    }
    return retries;
}

int main(int argc, char **argv)
{
    bool again = argc == 5 && strcmp(argv[3], "rehandshake") == 0;
    if (argc != 5 || (strcmp(argv[3], "null") != 0 && strcmp(argv[3], "same") != 0 && !again))
        fail("usage: gnutls_server_probe CERT KEY null|same|rehandshake BODY");
    bool retry_with_null = strcmp(argv[3], "null") == 0;
    size_t body_len = strtoul(argv[4], NULL, 10);

    gnutls_certificate_credentials_t cred;
    if (gnutls_certificate_allocate_credentials(&cred) < 0 ||
        gnutls_certificate_set_x509_key_file(cred, argv[1], argv[2], GNUTLS_X509_FMT_PEM) < 0)
        fail("the certificate or key");
    int port;
    int listener = listen_loopback(1, &port);
    printf("LISTENING %d\n", port);
    fflush(stdout);

    fd = accept(listener, NULL, NULL);
    int sndbuf = 4096;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf) != 0)
        fail("accept");
    if (gnutls_init(&session, GNUTLS_SERVER) < 0 ||
        (again ? gnutls_priority_set_direct(session, "NORMAL:-VERS-TLS1.3", NULL)
               : gnutls_set_default_priority(session)) < 0 ||
        gnutls_credentials_set(session, GNUTLS_CRD_CERTIFICATE, cred) < 0)
        fail("gnutls_init");
    gnutls_transport_set_int(session, fd);
    int r;
    do
        r = gnutls_handshake(session);
    while (r < 0 && !gnutls_error_is_fatal(r));
    if (r < 0)
        fail("gnutls_handshake: %s", gnutls_strerror(r));
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);

    size_t head_len = 64;
    char *response = malloc(head_len + body_len);
    if (!response)
        fail("malloc");
    int n = snprintf(response, head_len, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", body_len);
    for (size_t i = 0; i < body_len; i++)
        response[n + i] = (char)('a' + i % 26);

    unsigned retries = 0, rehandshakes = 0;
    char head[4096];
    while (read_head(head, sizeof head)) {
        if (again && !rehandshakes++)
            rehandshake();
        retries += write_all(response, (size_t)n + body_len, retry_with_null);
    }
    if (again)
        printf("REHANDSHAKES %u\n", rehandshakes);
    printf("RETRIES %u\n", retries);
    gnutls_deinit(session);
    close(fd);
    close(listener);
    free(response);
    gnutls_certificate_free_credentials(cred);
    return 0;
}
