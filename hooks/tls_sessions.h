/* tls_sessions.h — the TLS sessions the shim follows, keyed by the
 * library's own handle (SSL *, gnutls_session_t), not by fd: curl gives
 * OpenSSL a BIO of its own, so its sessions have no fd at all.
 *
 * A session's plaintext is a connection like a socket's (conn.h): the same
 * HTTP client and server logic runs on it, its spans say https. The
 * ciphertext socket under it is left to the plain hooks, which give it up
 * at its first byte (a TLS record is no HTTP), or untracked at once when
 * the program names the fd (SSL_set_fd). Every function here is called
 * from a hook with the shim ready (ts_ready), none but
 * tls_sessions_image_ends under the guard. */
#ifndef TS_TLS_SESSIONS_H
#define TS_TLS_SESSIONS_H

#include <stdbool.h>
#include <stddef.h>

#include "conn.h"

/* How a session seen for the first time is to be followed. */
enum tls_end {
    TLS_AGAIN,   /* the call is to be made again (would block, interrupted) */
    TLS_CLOSED,  /* the peer ended the session */
    TLS_FAILED,  /* the session failed */
    TLS_GOES_ON, /* the call failed, the session did not (GnuTLS's errors that are not fatal:
                  * a new handshake asked, a warning alert); no retry of it is owed */
};

struct tls_io;

/* What the shim needs of a TLS library, for a session handle. */
struct tls_lib {
    /* What a failed call's result (<= 0) means. */
    enum tls_end (*end)(struct tls_io *io, long rc);
    /* A session seen for the first time: TS_ROLE_CLIENT or _SERVER, from
     * the library, or else from the first call's direction (sending). */
    int (*role)(struct tls_io *io, bool sending);
    /* Its socket, -1 when the library does not know one. */
    int (*fd)(struct tls_io *io);
    /* The negotiated version as a number ("1.3") into out, "" when it
     * has none; false (and "") while the handshake is not done, when it
     * is asked again after a later call. */
    bool (*version)(struct tls_io *io, char *out, size_t size);
    /* A write the library asked to be made again may be made with no
     * bytes (GnuTLS's NULL, 0): the library sends what it made of the
     * first call's. */
    bool empty_retry;
};

/* One call of the program's on a session: the door's real function. */
struct tls_io {
    void *handle;
    const struct tls_lib *lib;
    /* Sends or receives len bytes at buf: how many (> 0), or the real
     * function's own failure result (<= 0). */
    long (*call)(struct tls_io *io, void *buf, size_t len);
};

/* The program writes buf[0..len) (a retry or continuation of a write under
 * way included): returns what its call returns, as call() does. */
long tls_write(struct tls_io *io, const void *buf, size_t len);

/* The program reads into buf[0..len): the bytes it gets are fed to the
 * session's HTTP logic, never changed. Returns call()'s result. */
long tls_read(struct tls_io *io, void *buf, size_t len);

/* The program tied handle to socket fd (SSL_set_fd, SSL_set_bio): the
 * session's addresses come from it, and its ciphertext is not parsed. */
void tls_bind_fd(void *handle, int fd);

/* The session ends (SSL_shutdown, SSL_clear, gnutls_bye, gnutls_deinit):
 * its open spans end and the shim forgets handle (but for the references
 * tls_retain counted, which a next connection on the handle keeps). A
 * call of another thread's still inside tls_write or tls_read on handle
 * goes on with what it had (the record is given back at its end); a
 * call made after this one starts afresh. */
void tls_forget(void *handle);

/* The program took another reference to handle (SSL_up_ref, SSL_dup of
 * an established session): the next tls_release gives it back instead of
 * ending the session. */
void tls_retain(void *handle);

/* The program lets go of a reference to handle (SSL_free): one tls_retain
 * counted is given back, and nothing ends; with none left, tls_forget
 * (before the library frees the handle: SSL_new may reuse its address at
 * once). */
void tls_release(void *handle);

/* A thread that left tls_write inside the library's call (cancelled in
 * it) lets go of the record the call pinned, at its exit (held.h). */
void tls_unpin_left(void *record);

/* Is there a session whose connection match(c, arg) says true of? It
 * is called under the session's chain lock (it may take c's queue lock,
 * nothing more). For a FastCGI request's server span, found by the
 * connection it came in on (conn_fcgi.c): a TLS session's connection is
 * in no fd table slot. */
bool tls_sessions_find(bool (*match)(struct ts_conn *c, void *arg), void *arg);

/* The same, of the session last opened as a server's from a client's
 * peer_port (noted as conn.h ts_conn_hint_port says) alone: false when
 * there is none or match says false of it. */
bool tls_sessions_find_by_peer_port(uint16_t peer_port, bool (*match)(struct ts_conn *c, void *arg),
                                    void *arg);

/* The process image ends (conn.h ts_conn_image_ends, whose `how` this
 * is): each session's connection ends as a socket's would, waiting for
 * the locks of a session another thread is inside for a bounded while
 * (TS_CONN_IMAGE_END_WAIT_NS). Under the guard; also from a signal
 * handler that did not interrupt the shim. */
void tls_sessions_image_ends(enum ts_image_end how);

/* Around fork: the table's locks and memory (taken before the connection
 * pools': a session's connection is opened under its chain's lock). */
void tls_sessions_fork_prepare(void);
void tls_sessions_fork_parent(void);
/* prepared: tls_sessions_fork_prepare ran before this fork (not for a
 * fork from a signal handler that interrupted the shim). */
void tls_sessions_after_fork(bool prepared);

#endif
