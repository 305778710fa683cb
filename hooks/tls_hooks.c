/* tls_hooks.c — the interposed functions of OpenSSL (libssl) and GnuTLS:
 * the program's plaintext, before encryption and after decryption.
 *
 * The shim links neither library and never loads one: a program calls one
 * of these only when its own library is mapped, and the real function is
 * found then (preload/real_tls.h). Each hook reads like a sentence: not
 * ready (or the shim's own work) goes straight to the library; else the
 * call goes through tls_sessions.c, which runs the HTTP logic on the bytes
 * and calls the real function itself. */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/socket.h>

#include "../preload/init.h"
#include "../preload/real_tls.h"
#include "conn.h"
#include "tls_sessions.h"

/* "TLSv1.3", "TLS1.3", "SSL3.0" as OpenTelemetry's tls.protocol.version:
 * the number ("1.3"); "" for a name without one. */
static void version_number(const char *name, char *out, size_t size)
{
    out[0] = '\0';
    if (!name || (strncmp(name, "TLS", 3) != 0 && strncmp(name, "SSL", 3) != 0))
        return;
    const char *p = name + 3 + (name[3] == 'v');
    size_t n = strspn(p, "0123456789.");
    if (n == 0 || n >= size)
        return;
    memcpy(out, p, n);
    out[n] = '\0';
}

/* Is fd a socket (a handle's transport may be anything)? */
static bool is_socket(int fd)
{
    int type;
    socklen_t len = sizeof type;
    return fd >= 0 && getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0;
}

/* Every hook's first act: the real functions it and its helpers call are
 * the ones the object that called it binds by itself (two copies of a
 * library in one process: preload/real_tls.h). */
#define TLS_HOOK_CALLED()                                                                          \
    const void *tls_site_before __attribute__((cleanup(tls_hook_returns), unused)) =               \
        ts_real_tls_called_from(__builtin_return_address(0))

/* (a hook run within another, from a callback or a handler: the outer
 * one's site again for the rest of its calls) */
static inline void tls_hook_returns(const void **site_before)
{
    ts_real_tls_called_from(*site_before);
}

/* ------------------------------------------------------------- OpenSSL */

#define SSL_ERROR_SSL 1
#define SSL_ERROR_SYSCALL 5
#define SSL_ERROR_ZERO_RETURN 6

/* OpenSSL's error queue is the program's thread's: SSL_get_error reads it,
 * and OpenSSL wants it empty before each call. A query the shim makes may
 * add to it (SSL_get_fd of a session with no read BIO: BIO_find_type(NULL)
 * raises ERR_R_PASSED_NULL_PARAMETER, and the program's next SSL_get_error
 * said SSL_ERROR_SSL), so each is made between ERR_set_mark and
 * ERR_pop_to_mark, which takes off what was added since the mark and
 * nothing of the program's. (The mark's answer is not looked at: 0 for an
 * empty queue, whose pop then empties it again.) Without them (a libcrypto
 * without marks) the query is made as it is. */
struct ssl_quiet {
    ts_real_ERR_pop_to_mark_fn pop;
};

static struct ssl_quiet ssl_quiet_begin(void)
{
    ts_real_ERR_set_mark_fn mark = TS_REAL_TLS(ERR_set_mark);
    ts_real_ERR_pop_to_mark_fn pop = TS_REAL_TLS(ERR_pop_to_mark);
    if (!mark || !pop)
        return (struct ssl_quiet){NULL};
    mark();
    return (struct ssl_quiet){pop};
}

static void ssl_quiet_end(struct ssl_quiet q)
{
    if (q.pop)
        q.pop();
}

/* SSL_get_error is not made quiet: it reads the queue (what is on it is
 * the program's call's), and adds nothing to it. */
static enum tls_end ssl_end(struct tls_io *io, long rc)
{
    ts_real_SSL_get_error_fn get_error = TS_REAL_TLS(SSL_get_error);
    int e = get_error ? get_error(io->handle, (int)rc) : SSL_ERROR_SSL;
    if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && rc == 0))
        return TLS_CLOSED; /* close_notify, or the transport's end of stream */
    if (e == SSL_ERROR_SSL || e == SSL_ERROR_SYSCALL)
        return TLS_FAILED;
    return TLS_AGAIN; /* WANT_READ, WANT_WRITE, and the other WANTs */
}

static int ssl_role(struct tls_io *io, bool sending)
{
    ts_real_SSL_is_server_fn is_server = TS_REAL_TLS(SSL_is_server);
    if (!is_server)
        return sending ? TS_ROLE_CLIENT : TS_ROLE_SERVER;
    struct ssl_quiet q = ssl_quiet_begin();
    int server = is_server(io->handle);
    ssl_quiet_end(q);
    return server ? TS_ROLE_SERVER : TS_ROLE_CLIENT;
}

static int ssl_fd(struct tls_io *io)
{
    ts_real_SSL_get_fd_fn get_fd = TS_REAL_TLS(SSL_get_fd);
    if (!get_fd)
        return -1;
    struct ssl_quiet q = ssl_quiet_begin();
    int fd = get_fd(io->handle); /* -1 for a BIO of the program's own (curl), or none */
    ssl_quiet_end(q);
    return is_socket(fd) ? fd : -1;
}

/* Before the handshake is done SSL_get_version names the highest version
 * the session may use (a client's: TLSv1.3, whatever its server says):
 * not known yet. */
static bool ssl_version(struct tls_io *io, char *out, size_t size)
{
    ts_real_SSL_get_version_fn get_version = TS_REAL_TLS(SSL_get_version);
    ts_real_SSL_is_init_finished_fn finished = TS_REAL_TLS(SSL_is_init_finished);
    struct ssl_quiet q = ssl_quiet_begin();
    bool negotiated = !finished || finished(io->handle);
    version_number(get_version && negotiated ? get_version(io->handle) : NULL, out, size);
    ssl_quiet_end(q);
    return negotiated;
}

static const struct tls_lib openssl = {ssl_end, ssl_role, ssl_fd, ssl_version, false};

/* The doors' real functions, in the shape tls_io wants. */
static int int_len(size_t len)
{
    return len > INT_MAX ? INT_MAX : (int)len;
}

static long call_ssl_write(struct tls_io *io, void *buf, size_t len)
{
    return TS_REAL_TLS_MUST(SSL_write)(io->handle, buf, int_len(len));
}

static long call_ssl_read(struct tls_io *io, void *buf, size_t len)
{
    return TS_REAL_TLS_MUST(SSL_read)(io->handle, buf, int_len(len));
}

static long call_ssl_write_ex(struct tls_io *io, void *buf, size_t len)
{
    size_t done = 0;
    int ok = TS_REAL_TLS_MUST(SSL_write_ex)(io->handle, buf, len, &done);
    return ok == 1 ? (long)done : 0;
}

static long call_ssl_read_ex(struct tls_io *io, void *buf, size_t len)
{
    size_t done = 0;
    int ok = TS_REAL_TLS_MUST(SSL_read_ex)(io->handle, buf, len, &done);
    return ok == 1 ? (long)done : 0;
}

/* An _ex door's answer for a call of some bytes (one of none goes to the
 * library alone): 1 with the count, or 0 with *done untouched. */
static int ex_result(long r, size_t *done)
{
    if (r <= 0)
        return 0;
    if (done)
        *done = (size_t)r;
    return 1;
}

/* A call of no bytes has nothing to trace, and the library's answer to it
 * is its own: OpenSSL 3's SSL_write_ex succeeds with 0 written, SSL_write,
 * SSL_read and SSL_read_ex fail (SSL_ERROR_SYSCALL, which after a read
 * looks like the end of the stream), GnuTLS says INVALID_REQUEST. So it
 * goes straight to the library: the program hears that answer, and no
 * span ends for it. OpenSSL has no empty retry (a write of none never
 * continues one under way); GnuTLS's write of none is its retry (NULL, 0)
 * and goes to tls_write. */
TS_EXPORT int SSL_write(void *ssl, const void *buf, int num)
{
    TLS_HOOK_CALLED();
    if (!ts_ready() || num <= 0)
        return TS_REAL_TLS_MUST(SSL_write)(ssl, buf, num);
    struct tls_io io = {ssl, &openssl, call_ssl_write};
    return (int)tls_write(&io, buf, (size_t)num);
}

TS_EXPORT int SSL_write_ex(void *ssl, const void *buf, size_t num, size_t *written)
{
    TLS_HOOK_CALLED();
    if (!ts_ready() || num == 0)
        return TS_REAL_TLS_MUST(SSL_write_ex)(ssl, buf, num, written);
    struct tls_io io = {ssl, &openssl, call_ssl_write_ex};
    return ex_result(tls_write(&io, buf, num), written);
}

TS_EXPORT int SSL_read(void *ssl, void *buf, int num)
{
    TLS_HOOK_CALLED();
    if (!ts_ready() || num <= 0)
        return TS_REAL_TLS_MUST(SSL_read)(ssl, buf, num);
    struct tls_io io = {ssl, &openssl, call_ssl_read};
    return (int)tls_read(&io, buf, (size_t)num);
}

TS_EXPORT int SSL_read_ex(void *ssl, void *buf, size_t num, size_t *readbytes)
{
    TLS_HOOK_CALLED();
    if (!ts_ready() || num == 0)
        return TS_REAL_TLS_MUST(SSL_read_ex)(ssl, buf, num, readbytes);
    struct tls_io io = {ssl, &openssl, call_ssl_read_ex};
    return ex_result(tls_read(&io, buf, num), readbytes);
}

TS_EXPORT int SSL_set_fd(void *ssl, int fd)
{
    TLS_HOOK_CALLED();
    int r = TS_REAL_TLS_MUST(SSL_set_fd)(ssl, fd);
    if (r == 1 && ts_ready() && is_socket(fd))
        tls_bind_fd(ssl, fd);
    return r;
}

TS_EXPORT void SSL_set_bio(void *ssl, void *rbio, void *wbio)
{
    TLS_HOOK_CALLED();
    TS_REAL_TLS_MUST(SSL_set_bio)(ssl, rbio, wbio);
    if (rbio && ts_ready()) { /* (none: the program detaches them, no fd to ask) */
        struct tls_io io = {ssl, &openssl, NULL};
        int fd = ssl_fd(&io); /* a socket BIO's fd; -1 for any other BIO */
        if (fd >= 0)
            tls_bind_fd(ssl, fd);
    }
}

TS_EXPORT int SSL_shutdown(void *ssl)
{
    TLS_HOOK_CALLED();
    if (ts_ready())
        tls_forget(ssl);
    return TS_REAL_TLS_MUST(SSL_shutdown)(ssl);
}

/* A reference of the program's goes: the session ends with its last
 * (SSL_up_ref counts the others). */
TS_EXPORT void SSL_free(void *ssl)
{
    TLS_HOOK_CALLED();
    if (ssl && ts_ready())
        tls_release(ssl); /* before the real free: the address may be reused at once */
    TS_REAL_TLS_MUST(SSL_free)(ssl);
}

/* Another owner of the handle (a second SSL_free to come before the
 * session ends). A reference the shim did not see (one taken before its
 * hooks were bound, a tls_retain without memory) ends the session at the
 * first SSL_free, early, never after the handle is freed (a call inside
 * it then goes on with its record: tls_sessions.c). */
TS_EXPORT int SSL_up_ref(void *ssl)
{
    TLS_HOOK_CALLED();
    int r = TS_REAL_TLS_MUST(SSL_up_ref)(ssl);
    if (r == 1 && ssl && ts_ready())
        tls_retain(ssl);
    return r;
}

/* SSL_dup of an established session returns the handle itself, with one
 * more reference libssl took without SSL_up_ref: counted as SSL_up_ref's,
 * so that the dup's SSL_free ends nothing. (Of a session not established
 * yet it is a new handle, the shim's to meet at its first call.) */
TS_EXPORT void *SSL_dup(void *ssl)
{
    TLS_HOOK_CALLED();
    void *r = TS_REAL_TLS_MUST(SSL_dup)(ssl);
    if (r && r == ssl && ts_ready())
        tls_retain(ssl);
    return r;
}

/* The program makes the handle ready for a new connection: what the shim
 * held for the old one goes, as at SSL_free (a write it was completing,
 * the old request's bytes, would otherwise go out on the new connection).
 * libssl calls SSL_clear itself too (SSL_new, a handshake's start, also
 * within a first SSL_write that the shim is making): a call from an object
 * that defines SSL_clear leaves it, whatever wraps SSL_clear between. */
TS_EXPORT int SSL_clear(void *ssl)
{
    TLS_HOOK_CALLED();
    if (ssl && ts_ready() && !ts_real_tls_called_by_a_definer("SSL_clear"))
        tls_forget(ssl);
    return TS_REAL_TLS_MUST(SSL_clear)(ssl);
}

/* -------------------------------------------------------------- GnuTLS */

#define GNUTLS_E_AGAIN (-28)
#define GNUTLS_E_INTERRUPTED (-52)

/* An error GnuTLS says is not fatal ends nothing: GNUTLS_E_REHANDSHAKE (the
 * peer asks for a new handshake, which the program makes, then reads on),
 * E_WARNING_ALERT_RECEIVED, E_REAUTH_REQUEST, ... */
static enum tls_end gnutls_end(struct tls_io *io, long rc)
{
    if (rc == 0)
        return TLS_CLOSED;
    if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED)
        return TLS_AGAIN;
    ts_real_gnutls_error_is_fatal_fn is_fatal = TS_REAL_TLS(gnutls_error_is_fatal);
    return is_fatal && rc >= INT_MIN && !is_fatal((int)rc) ? TLS_GOES_ON : TLS_FAILED;
}

/* GnuTLS has no call that tells a server session: the first call does
 * (a client speaks first in HTTP). */
static int gnutls_role(struct tls_io *io, bool sending)
{
    return sending ? TS_ROLE_CLIENT : TS_ROLE_SERVER;
}

static int gnutls_fd(struct tls_io *io)
{
    ts_real_gnutls_transport_get_int2_fn get_int2 = TS_REAL_TLS(gnutls_transport_get_int2);
    int recv_fd = -1, send_fd = -1;
    if (get_int2)
        get_int2(io->handle, &recv_fd, &send_fd);
    return recv_fd == send_fd && is_socket(recv_fd) ? recv_fd : -1;
}

/* (a record goes through only once the handshake is done) */
static bool gnutls_version(struct tls_io *io, char *out, size_t size)
{
    ts_real_gnutls_protocol_get_version_fn get_version = TS_REAL_TLS(gnutls_protocol_get_version);
    ts_real_gnutls_protocol_get_name_fn get_name = TS_REAL_TLS(gnutls_protocol_get_name);
    version_number(get_version && get_name ? get_name(get_version(io->handle)) : NULL, out, size);
    return true;
}

static const struct tls_lib gnutls = {gnutls_end, gnutls_role, gnutls_fd, gnutls_version, true};

static long call_gnutls_send(struct tls_io *io, void *buf, size_t len)
{
    return (long)TS_REAL_TLS_MUST(gnutls_record_send)(io->handle, buf, len);
}

static long call_gnutls_recv(struct tls_io *io, void *buf, size_t len)
{
    return (long)TS_REAL_TLS_MUST(gnutls_record_recv)(io->handle, buf, len);
}

TS_EXPORT ssize_t gnutls_record_send(void *session, const void *data, size_t size)
{
    TLS_HOOK_CALLED();
    if (!ts_ready())
        return TS_REAL_TLS_MUST(gnutls_record_send)(session, data, size);
    struct tls_io io = {session, &gnutls, call_gnutls_send};
    return tls_write(&io, data, size);
}

TS_EXPORT ssize_t gnutls_record_recv(void *session, void *data, size_t size)
{
    TLS_HOOK_CALLED();
    if (!ts_ready() || size == 0) /* see SSL_write */
        return TS_REAL_TLS_MUST(gnutls_record_recv)(session, data, size);
    struct tls_io io = {session, &gnutls, call_gnutls_recv};
    return tls_read(&io, data, size);
}

TS_EXPORT int gnutls_bye(void *session, int how)
{
    TLS_HOOK_CALLED();
    if (ts_ready())
        tls_forget(session);
    return TS_REAL_TLS_MUST(gnutls_bye)(session, how);
}

TS_EXPORT void gnutls_deinit(void *session)
{
    TLS_HOOK_CALLED();
    if (session && ts_ready())
        tls_forget(session);
    TS_REAL_TLS_MUST(gnutls_deinit)(session);
}
