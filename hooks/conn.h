/* conn.h — one tracked TCP connection: turns the bytes a program sends and
 * receives on it into HTTP client and server spans, and writes the trace
 * headers into outgoing request heads.
 *
 * The hooks call in here only for fds the fd table says are tracked. Every
 * function is safe to call from any thread; a connection's two directions
 * have their own locks, and no lock is held across a blocking receive. The
 * program is never told a byte is sent that is not on the wire, so nothing
 * needs flushing before a receive, a shutdown or a close. */
#ifndef TS_CONN_H
#define TS_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

enum ts_conn_role {
    TS_ROLE_CLIENT = 1, /* we connected: we send requests */
    TS_ROLE_SERVER = 2, /* we accepted: we receive requests */
};

struct ts_conn;

/* Start tracking fd as a connection in this role, replacing whatever the fd
 * table held for it (fds are reused without a visible close). peer is the
 * address given to connect (a non-blocking connect has no peer name yet),
 * or NULL to ask the socket. */
void ts_conn_track(int fd, int role, const struct sockaddr *peer, socklen_t peer_len);

/* Stop tracking fd. The connection's pending spans end when the last user
 * lets go of it (now, unless another thread is inside a hook on it). */
void ts_conn_untrack(int fd);

/* Stop tracking fd if its slot still holds c (the program may have closed
 * fd and another connection taken its number meanwhile): c is no longer
 * followed, or fd is no longer c's socket (closed where no hook sees:
 * fclose of an fdopen'ed socket, a raw close system call). */
void ts_conn_untrack_if(int fd, struct ts_conn *c);

/* newfd now refers to oldfd's connection (dup family), or to nothing. */
void ts_conn_dup(int oldfd, int newfd);

/* Stop tracking every fd in [first, last] (close_range). */
void ts_conn_untrack_range(unsigned first, unsigned last);

/* Stop tracking every fd in [first, last] without ever ending spans or
 * taking a lock: for a thread that is inside the shim already (a signal
 * handler that interrupted a hook), which may hold the locks that ending
 * spans takes. A connection whose last reference was its slot is left as
 * it is, its open spans lost. */
void ts_conn_forget_range(unsigned first, unsigned last);

/* Around fork: the locks of the connection pool and of the memory
 * connections and spans come from. Prepare takes them, so that no other
 * thread is halfway through a pool's lists when the child is made; parent
 * lets go of them; the child makes fresh ones. */
void ts_conn_fork_prepare(void);
void ts_conn_fork_parent(void);
void ts_conn_after_fork(void);

/* The calling thread forked (in the parent, after it, whatever the
 * locks): the request it serves, if any, may be left to the child to
 * answer (a CGI handler). */
void ts_conn_forked(void);

/* In a forked child: was one of c's locks held at the fork? A thread of
 * the parent was inside the shim on c (a blocking send holds its lock for
 * as long as it blocks); that thread is not in the child, so the lock
 * would stay held for good, and what it guards may be half written: the
 * child follows c no further. ts_conn_after_fork forgets such fds; a TLS
 * session's connection is let go of by its session table. */
bool ts_conn_held_at_fork(const struct ts_conn *c);

/* A counted reference to fd's connection, or NULL when untracked. */
struct ts_conn *ts_conn_get(int fd);
void ts_conn_put(struct ts_conn *c);
/* ts_conn_put for the hooks that read and write: when the direction
 * requests come from (a client's out, a server's in) is not parsed any
 * more (not HTTP, a tunnel) and no span waits, fd stops being tracked, so
 * its later calls pass straight through at the cost of an untracked fd.
 * Keeps errno (so does the connection's end, when it is the last user),
 * which a send hook relies on to hand the program its send's errno. */
void ts_conn_done_with(int fd, struct ts_conn *c);

/* Calls the real libc function with the program's original arguments. */
typedef ssize_t (*ts_conn_pass_fn)(void *arg);

/* Where a client's rewritten stream goes: n pieces, within whose bytes
 * [ins_from, ins_from + ins_len) are trace header lines the shim added
 * (ins_len 0: none). Takes a prefix, as a socket does: returns how many
 * bytes, or -1 with errno. ts_conn_send's sink is sendmsg on the fd; the
 * TLS layer's collects the bytes for one SSL_write (hooks/tls_out.h). */
typedef ssize_t (*ts_conn_sink_fn)(void *ctx, const struct iovec *v, int n, size_t ins_from,
                                   size_t ins_len);

/* Send the program's bytes (iov, as given to write/send/writev/sendmsg,
 * with flags, 0 for write/writev). Either calls pass() unchanged, or sends
 * a rewritten stream (the program's bytes plus trace headers) with
 * sendmsg. Returns what the program must see — a count of its own bytes
 * that are on the wire, never 0 for a non-empty buffer — with errno set as
 * the program would expect. */
ssize_t ts_conn_send(struct ts_conn *c, int fd, const struct iovec *iov, int iovcnt, int flags,
                     ts_conn_pass_fn pass, void *arg);

/* ts_conn_send for a TCP Fast Open send (sendto or sendmsg with
 * MSG_FASTOPEN, to the address to) on a client connection, one the call
 * begins or one it goes on with: the first sendmsg the shim makes carries
 * the address and the flag, and the kernel decides with it what the call
 * does (connect, send, refuse); the ones after it send on the connection. */
ssize_t ts_conn_send_fast_open(struct ts_conn *c, int fd, const struct iovec *iov, int iovcnt,
                               int flags, const struct sockaddr *to, socklen_t to_len,
                               ts_conn_pass_fn pass, void *arg);

/* ts_conn_send for a stream that is no socket: the client's rewritten
 * bytes go to sink; pass (the program's bytes unchanged) is called as in
 * ts_conn_send. */
ssize_t ts_conn_send_to(struct ts_conn *c, ts_conn_sink_fn sink, void *sink_ctx,
                        const struct iovec *iov, int iovcnt, ts_conn_pass_fn pass, void *arg);

/* A connection no fd table slot names: a TLS session's plaintext. fd, when
 * known (>= 0), gives the addresses; tls_version ("1.3", NULL when not
 * known) goes on its spans, which say https. Returns a counted reference
 * (ts_conn_put lets go, ending its spans), or NULL without memory. */
struct ts_conn *ts_conn_open(int role, int fd, const char *tls_version);

/* The client port a server's connection is noted under for a FastCGI
 * exchange's lookup of the request it serves (conn_fcgi.c): c's peer
 * port once the process has made such an exchange, else 0 (nothing to
 * note). For a connection no other thread can end meanwhile. */
uint16_t ts_conn_hint_port(const struct ts_conn *c);

/* The TLS version of a connection opened without one, known once its
 * handshake is done: it goes on the spans that start from now on and on
 * those in flight, which began without it (under the queue's lock, as a
 * response's status). Set once, by the call that found the handshake
 * done: OpenSSL's sessions take one call at a time, and a GnuTLS session
 * (whose calls may overlap) is opened with its version known. */
void ts_conn_set_tls_version(struct ts_conn *c, const char *tls_version);

/* Another counted reference to c (ts_conn_put lets go); c's role. */
void ts_conn_retain(struct ts_conn *c);
bool ts_conn_is_client(const struct ts_conn *c);

/* True when the direction requests come from is not parsed any more and no
 * span waits: nothing on c can make a span again (see ts_conn_done_with). */
bool ts_conn_parsing_over(struct ts_conn *c);

/* After a receive returned r (errno err when r < 0) into iov: feed the
 * bytes to the HTTP parser. MSG_PEEK reads are not fed (the bytes come
 * again), nor MSG_OOB and MSG_ERRQUEUE ones (no bytes of the stream). r ==
 * 0 is the peer's end of stream: a caller whose receive had no room does
 * not pass its 0. A failure for the call's arguments (EFAULT, EINVAL) or
 * for memory ends nothing. May change errno: the caller, which gives the
 * program the receive's errno, keeps err. */
void ts_conn_recv_done(struct ts_conn *c, const struct iovec *iov, int iovcnt, ssize_t r, int flags,
                       int err);

/* n bytes went out (ts_conn_sent_unseen) or came in (ts_conn_received_unseen)
 * through a call whose bytes the shim does not see: sendfile, splice. They
 * can only be a body whose framing counts bytes; else parsing stops. A
 * send that failed (n < 0, errno EPIPE or ECONNRESET: the client went
 * away) ends a server's response under way, in error. */
void ts_conn_sent_unseen(struct ts_conn *c, ssize_t n);
void ts_conn_received_unseen(struct ts_conn *c, ssize_t n);

/* The program shut c's sending side (shutdown with SHUT_WR or SHUT_RDWR,
 * which succeeded): a server's response that runs to the close ends. */
void ts_conn_shut(struct ts_conn *c, int how);

/* How the process image ends (ts_conn_image_ends). */
enum ts_image_end {
    /* exit, main's return: the exit handlers, static destructors and the
     * other threads still run, and may still see requests through (an
     * atexit handler that joins the threads serving them) */
    TS_IMAGE_EXITING,
    /* nothing of the program's runs any more: _exit, quick_exit, a death
     * by signal, the library's destructor (after every exit handler), and
     * the end after every library's destructor (preload/init.c) */
    TS_IMAGE_GONE,
    /* an exec is about to replace it, and may fail */
    TS_IMAGE_EXEC,
};

/* The process image ends, its sockets about to close with it or to pass
 * to the next image. EXITING: a server's response that runs to the close
 * ends (busybox httpd, a CGI relay: they write the response and exit,
 * closing nothing). GONE: every connection ends as at its close, which
 * the kernel makes: a request still waiting for its answer fails
 * (connection_closed). EXEC: a connection with requests waiting ends them
 * as at its close when it is close-on-exec, else with their outcome
 * unknown (traceshim.response_unseen: the next image may answer, a CGI
 * program on the socket), and is followed no further (should the exec
 * fail, its answers have no requests to pair with). */
void ts_conn_image_ends(enum ts_image_end how);

/* How long one sweep at the end of the image (ts_conn_image_ends, and
 * tls_sessions_image_ends after it) waits, all told, for the connections
 * other threads are sending or receiving on: their calls may never end. */
#define TS_CONN_IMAGE_END_WAIT_NS (10 * 1000 * 1000ull)

/* ts_conn_image_ends for one connection the caller keeps alive (a
 * reference of its own, or a lock under which another's stays),
 * whose fd is fd (-1: none the next image could have, a TLS session's),
 * waiting for its locks until until_ns (ts_mono_ns) at the latest: a
 * connection another thread is inside past then is left as it is, but
 * for one whose send is blocked in the kernel when the image is GONE
 * (its peer reads nothing: the send may never come back), whose waiting
 * spans end as at its close all the same. Keeps errno. */
void ts_conn_image_ends_for(struct ts_conn *c, int fd, enum ts_image_end how, uint64_t until_ns);

/* A thread left a send on c (cancelled, or by siglongjmp) while holding
 * c's send lock: let go of it. What that send moved is not known, so the
 * sent stream is given up (the request's span ends; unseen_bytes). */
void ts_conn_send_abandoned(struct ts_conn *c);

struct ts_ctx;

/* The W3C tracestate that goes with ctx, a context a child continues (a
 * request the thread sends, a program it starts): when ctx is (or copies)
 * the thread's current server span, its request's; when it is the
 * process's, the one the process inherited (context.h). NULL (*len 0)
 * when there is none. */
const char *ts_conn_tracestate_of(const struct ts_ctx *ctx, size_t *len);

#endif
