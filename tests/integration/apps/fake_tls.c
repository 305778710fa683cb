/* fake_tls.c — a stand-in TLS library with OpenSSL's names, compiled twice
 * (-DFAKE_TLS_ID=1 and 2) into two shared libraries, for test_tls.py's two
 * copies of one library in one process. Its handles carry its id: a call
 * given the other copy's handle answers -1, where a real library would
 * crash. No socket: the shim passes its calls through. */
#include <stddef.h>

struct fake_ssl {
    int id;
};

static int mine(const void *ssl)
{
    return ssl && ((const struct fake_ssl *)ssl)->id == FAKE_TLS_ID;
}

/* A handle of this copy's. */
void *SSL_new(void *ctx)
{
    (void)ctx;
    static struct fake_ssl handle = {FAKE_TLS_ID};
    return &handle;
}

int SSL_write(void *ssl, const void *buf, int num)
{
    (void)buf;
    return mine(ssl) ? num : -1;
}

int SSL_read(void *ssl, void *buf, int num)
{
    (void)buf;
    (void)num;
    return mine(ssl) ? 0 : -1;
}

int SSL_get_fd(const void *ssl)
{
    (void)ssl;
    return -1; /* a BIO of the program's own: no socket */
}

int SSL_get_error(const void *ssl, int rc)
{
    (void)rc;
    return mine(ssl) ? 0 : 1;
}

int SSL_is_server(const void *ssl)
{
    (void)ssl;
    return 0;
}

const char *SSL_get_version(const void *ssl)
{
    return mine(ssl) ? "TLSv1.3" : "wrong library";
}

void SSL_free(void *ssl)
{
    (void)ssl;
}
