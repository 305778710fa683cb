/* fake_tls_user.c — a module linked to one copy of fake_tls.c's library
 * (-lfake_tlsN), as a Python extension or a database driver is linked to
 * its own libssl: it makes a handle (SSL_new, not interposed: the copy the
 * loader binds it to) and writes one byte through it (SSL_write, the
 * shim's hook). */
void *SSL_new(void *ctx);
int SSL_write(void *ssl, const void *buf, int num);

int fake_tls_user_write(void)
{
    return SSL_write(SSL_new(0), "x", 1);
}
