/* real_tls.h — the real functions of the TLS libraries the shim interposes
 * (OpenSSL's libssl, GnuTLS), found lazily and never loaded.
 *
 * Unlike libc's (real.h), these are optional: a program without OpenSSL
 * never calls an SSL_* hook, and the shim neither links nor loads libssl.
 * A hook resolves what it needs on its first call: dlsym(RTLD_NEXT) finds
 * a library in the global scope (curl's libssl.so.3, a dependency); one a
 * module brought in with RTLD_LOCAL (Python's _ssl) is not there, so the
 * loaded objects are searched by name and opened with RTLD_NOLOAD, which
 * only ever returns a library already mapped. A module's own copy, loaded
 * with RTLD_LOCAL beside another, is found from the hook's call site
 * (ts_real_tls_called_from). */
#ifndef TS_REAL_TLS_H
#define TS_REAL_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* X(library, name, return type, parameter list). The handles are opaque
 * pointers (SSL *, BIO *, gnutls_session_t). */
#define TS_REAL_TLS_SYMBOLS(X)                                                                     \
    X(TS_TLS_OPENSSL, SSL_write, int, (void *, const void *, int))                                 \
    X(TS_TLS_OPENSSL, SSL_write_ex, int, (void *, const void *, size_t, size_t *))                 \
    X(TS_TLS_OPENSSL, SSL_read, int, (void *, void *, int))                                        \
    X(TS_TLS_OPENSSL, SSL_read_ex, int, (void *, void *, size_t, size_t *))                        \
    X(TS_TLS_OPENSSL, SSL_set_fd, int, (void *, int))                                              \
    X(TS_TLS_OPENSSL, SSL_set_bio, void, (void *, void *, void *))                                 \
    X(TS_TLS_OPENSSL, SSL_shutdown, int, (void *))                                                 \
    X(TS_TLS_OPENSSL, SSL_free, void, (void *))                                                    \
    X(TS_TLS_OPENSSL, SSL_up_ref, int, (void *))                                                   \
    X(TS_TLS_OPENSSL, SSL_dup, void *, (void *))                                                   \
    X(TS_TLS_OPENSSL, SSL_clear, int, (void *))                                                    \
    X(TS_TLS_OPENSSL, SSL_get_error, int, (const void *, int))                                     \
    X(TS_TLS_OPENSSL, SSL_get_fd, int, (const void *))                                             \
    X(TS_TLS_OPENSSL, SSL_is_server, int, (const void *))                                          \
    X(TS_TLS_OPENSSL, SSL_get_version, const char *, (const void *))                               \
    X(TS_TLS_OPENSSL, SSL_is_init_finished, int, (const void *))                                   \
    X(TS_TLS_OPENSSL, ERR_set_mark, int, (void))                                                   \
    X(TS_TLS_OPENSSL, ERR_pop_to_mark, int, (void))                                                \
    X(TS_TLS_GNUTLS, gnutls_record_send, ssize_t, (void *, const void *, size_t))                  \
    X(TS_TLS_GNUTLS, gnutls_record_recv, ssize_t, (void *, void *, size_t))                        \
    X(TS_TLS_GNUTLS, gnutls_bye, int, (void *, int))                                               \
    X(TS_TLS_GNUTLS, gnutls_deinit, void, (void *))                                                \
    X(TS_TLS_GNUTLS, gnutls_transport_get_int2, void, (void *, int *, int *))                      \
    X(TS_TLS_GNUTLS, gnutls_protocol_get_version, int, (void *))                                   \
    X(TS_TLS_GNUTLS, gnutls_protocol_get_name, const char *, (int))                                \
    X(TS_TLS_GNUTLS, gnutls_error_is_fatal, int, (int))

enum ts_tls_lib {
    TS_TLS_OPENSSL = 0, /* libssl.so.* */
    TS_TLS_GNUTLS = 1,  /* libgnutls.so.* */
};

#define TS_REAL_TLS_DECLARE(lib, name, ret, params)                                                \
    typedef ret(*ts_real_##name##_fn) params;                                                      \
    ts_real_##name##_fn ts_real_tls_##name(void);
TS_REAL_TLS_SYMBOLS(TS_REAL_TLS_DECLARE)
#undef TS_REAL_TLS_DECLARE

/* A hook's first act: where it was called from
 * (__builtin_return_address(0)), on this thread, until it returns (then
 * the site before, that of a hook it ran within, is put back). The
 * real functions it and its helpers call are then the ones that call
 * site's object binds by itself: a process may hold two copies of a TLS
 * library, each loaded RTLD_LOCAL by its own module (Python's _ssl with
 * the system's libssl, a database driver with a libssl of its own), and
 * the shim's hook, first in the global scope, takes both copies' calls. */
const void *ts_real_tls_called_from(const void *site); /* returns the site before */

/* Was the running hook called from an object that defines name itself
 * (the library calling its own exported function, as libssl calls
 * SSL_clear from SSL_new and as a handshake starts; also a wrapper of it
 * preloaded before the shim, which cannot be told apart)? Asks the loader
 * (dladdr, dlopen RTLD_NOLOAD): for calls made once a connection. */
bool ts_real_tls_called_by_a_definer(const char *name);

/* The real function, resolved on first use from each call site. A hook's own function must be
 * found (the program called it, so its library is mapped): if it is not,
 * the shim says so on stderr and aborts, as real.h does for libc. The
 * helpers (SSL_get_error, ...) may be NULL. ERR_set_mark and ERR_pop_to_mark are
 * libcrypto's, found through libssl's own dependencies. */
#define TS_REAL_TLS(name) (ts_real_tls_##name())
#define TS_REAL_TLS_MUST(name)                                                                     \
    ((ts_real_##name##_fn)ts_real_tls_must((void *)ts_real_tls_##name(), #name))

void *ts_real_tls_must(void *fn, const char *name);

#endif
