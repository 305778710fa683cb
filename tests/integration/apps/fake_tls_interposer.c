/* fake_tls_interposer.c — a second interposer of SSL_write and SSL_clear,
 * preloaded after the shim (as a debugging or TLS-capturing library would
 * be): SSL_write says so on stderr, and each calls what comes next. The
 * shim's hooks must call it, not the library behind it. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <unistd.h>

int SSL_write(void *ssl, const void *buf, int num)
{
    int (*next)(void *, const void *, int) = (int (*)(void *, const void *, int))dlsym(
        RTLD_NEXT, "SSL_write");
    static const char said[] = "[interposer SSL_write]\n";
    (void)!write(2, said, sizeof said - 1);
    return next ? next(ssl, buf, num) : -1;
}

int SSL_clear(void *ssl)
{
    int (*next)(void *) = (int (*)(void *))dlsym(RTLD_NEXT, "SSL_clear");
    return next ? next(ssl) : 0;
}
