/* fake_tls_user.c — a module linked to one copy of fake_tls.c's library
 * (-DFAKE_TLS_ID=N, -lfake_tlsN), as a Python extension or a database
 * driver is linked to its own libssl: it makes its copy's handle and
 * writes through it. */
struct fake_ssl {
    int id;
};

int SSL_write(void *ssl, const void *buf, int num);

int fake_tls_user_write(void)
{
    static struct fake_ssl handle = {FAKE_TLS_ID};
    return SSL_write(&handle, "x", 1);
}
