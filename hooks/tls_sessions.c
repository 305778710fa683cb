/* tls_sessions.c — TLS sessions keyed by their library handle, and the
 * HTTP logic run on their plaintext (see tls_sessions.h).
 *
 * A session's record (struct tls_sess) lives in a hash table of chains,
 * its memory from blocks (preload/blocks.h: a traced call may run where
 * malloc must not). Each chain is guarded by one of TLS_LOCKS locks (its
 * bucket's stripe), taken only under the guard: every SSL_read and
 * SSL_write looks its session up, so one lock for the whole table made the
 * threads of a TLS server queue behind each other on every call. A
 * library allows one thread at a time per session (GnuTLS one sending,
 * one receiving), so a record found is the caller's alone.
 *
 * Each call that uses a record pins it, from sess_of to the call's end
 * (struct tls_sess pins): its session may end meanwhile (an SSL_free the
 * shim took for the last reference, while another owner's thread is
 * inside SSL_write: a reference libssl took itself, one taken before the
 * hooks were bound, a tls_retain without memory), and the record then
 * leaves the table at once (a next call on the handle makes a fresh one),
 * but its memory and buffers go back only when the last pin goes: they
 * were reused by the next session while the call was still writing from
 * them. */
#include "tls_sessions.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "../preload/blocks.h"
#include "../preload/clock.h"
#include "../preload/fork_state.h"
#include "../preload/guard.h"
#include "../reporter/reporter.h"
#include "conn.h"
#include "held.h"
#include "tls_out.h"

struct tls_sess {
    struct tls_sess *next; /* in its chain */
    void *handle;
    int fd;               /* the socket under it, -1 when not known */
    bool opened;          /* conn was decided (NULL: nothing to follow) */
    bool versioned;       /* the version is known, or was asked after the handshake (atomic) */
    unsigned refs;        /* the program's references besides its first (SSL_up_ref) */
    /* Atomic: the calls using the record (pinned by sess_of under its
     * chain's lock, while it is in the table), and SESS_DEAD once it left
     * the table; the last of these to go gives it back (sess_unpin). */
    unsigned pins;
    struct ts_conn *conn; /* a counted reference */
    struct tls_out out;   /* a client's write under way */
    /* A server's write GnuTLS asked to be made again: the bytes its record
     * holds, for the retry that passes NULL, 0 (tls_write_observed). The
     * sending thread's alone (GnuTLS lets another receive meanwhile). */
    struct {
        char *buf;
        size_t cap, len;
    } repeated;
};

#define SESS_DEAD (1u << 31)
#define SESS_PINS (SESS_DEAD - 1)

/* The most plaintext one TLS record carries (2^14): all a write the library
 * asks to be made again holds of the program's bytes. */
#define TLS_RECORD_PLAINTEXT_MAX 16384

#define TLS_BUCKETS 1024
#define TLS_LOCKS 64 /* a power of two dividing TLS_BUCKETS */

/* One lock per cache line, so that threads on different stripes do not
 * pass a line back and forth either. */
struct tls_lock {
    pthread_mutex_t mu;
} __attribute__((aligned(64)));

static struct tls_lock table_locks[TLS_LOCKS] = {
    [0 ... TLS_LOCKS - 1] = {PTHREAD_MUTEX_INITIALIZER},
};
static struct tls_sess *table[TLS_BUCKETS];
/* The handle of the session last opened (its first read or write) as a
 * server's from each client port (atomic; tls_sessions_find_by_peer_port):
 * a hint, what it names is looked up and checked. Written only once the
 * process made a FastCGI exchange (conn.h ts_conn_hint_port): 512 KiB of
 * address space, about 220 KiB of it touched over Linux's ephemeral
 * ports. */
static void *handle_by_peer_port[65536];
/* Atomic: set before the first chain lock is taken by a call that may
 * make a session. A process without TLS never touches the table or its
 * locks, not even at fork (fork_state.h). */
static bool tls_in_use TS_FORK_STATE;
/* tls_sessions_fork_prepare took every chain's lock. */
static bool fork_locked_chains TS_FORK_STATE;
static struct ts_block_pool sess_blocks TS_FORK_STATE = TS_BLOCK_POOL_INIT(sizeof(struct tls_sess));

static size_t bucket_index(const void *handle)
{
    uint64_t h = (uint64_t)(uintptr_t)handle * 0x9e3779b97f4a7c15ULL;
    return (size_t)(h >> 54); /* the top 10 bits: TLS_BUCKETS */
}

static struct tls_sess **bucket(const void *handle)
{
    return &table[bucket_index(handle)];
}

/* The lock of handle's chain. */
static pthread_mutex_t *chain_lock(const void *handle)
{
    return &table_locks[bucket_index(handle) % TLS_LOCKS].mu;
}

/* The lock of handle's chain, for a call that may make its record. */
static pthread_mutex_t *chain_lock_to_add(const void *handle)
{
    if (!__atomic_load_n(&tls_in_use, __ATOMIC_RELAXED))
        __atomic_store_n(&tls_in_use, true, __ATOMIC_SEQ_CST);
    return chain_lock(handle);
}

/* handle's record, NULL when there is none. Its chain's lock is held. */
static struct tls_sess *sess_find_locked(const void *handle)
{
    struct tls_sess *s = *bucket(handle);
    while (s && s->handle != handle)
        s = s->next;
    return s;
}

/* A new record of handle, in no chain (NULL without memory). Under the
 * guard. */
static struct tls_sess *sess_new(void *handle)
{
    struct tls_sess *s = ts_block_get(&sess_blocks);
    if (s) {
        memset(s, 0, sizeof *s);
        s->handle = handle;
        s->fd = -1;
    }
    return s;
}

/* handle's record, made when there is none (NULL without memory). Its
 * chain's lock is held, under the guard. */
static struct tls_sess *sess_get_locked(void *handle)
{
    struct tls_sess **b = bucket(handle), *s = sess_find_locked(handle);
    if (!s && (s = sess_new(handle))) {
        s->next = *b;
        *b = s;
    }
    return s;
}

/* A record out of the table and pinned by no call: its memory and
 * buffers go back. Under the guard. */
static void sess_free(struct tls_sess *s)
{
    tls_out_drop(&s->out);
    ts_buf_release(&s->repeated.buf, &s->repeated.cap);
    ts_block_put(&sess_blocks, s);
}

/* A call is done with the record it pinned (sess_of): the last pin of a
 * record out of the table gives it back. */
static __attribute__((noinline, cold)) void sess_free_unpinned(struct tls_sess *s)
{
    int saved = errno;
    ts_guard_enter();
    sess_free(s);
    ts_guard_leave();
    errno = saved;
}

static inline void sess_unpin(struct tls_sess *s)
{
    if (__atomic_fetch_sub(&s->pins, 1, __ATOMIC_ACQ_REL) == (SESS_DEAD | 1))
        sess_free_unpinned(s);
}

/* What a session's end lets go of, taken from its record under its
 * chain's lock, and let go outside it. */
struct sess_end {
    struct tls_sess *freed; /* the record, out of the table and pinned by no call */
    struct ts_conn *conn;   /* the session's reference */
    /* a record kept in the table (its refs): the buffers it held */
    char *out_buf, *repeated_buf;
    size_t out_cap, repeated_cap;
};

/* The session ends for handle (release: a reference of the program's
 * goes, SSL_free). A record with references counted by tls_retain stays
 * in the table with them: one is given back when release says so, and
 * for any other end it starts afresh for the handle's next connection.
 * Any other leaves the table, and is given back at once unless a call
 * pinned it (sess_unpin then does). So does a record with references that
 * a call is inside (an SSL_shutdown or SSL_clear while another thread is
 * in SSL_write on the handle, which OpenSSL forbids): a fresh one takes
 * its place and its references (without memory they are lost: the next
 * SSL_free ends the session, as after a tls_retain without memory). */
static struct sess_end sess_take(void *handle, bool release)
{
    struct sess_end e = {NULL, NULL, NULL, NULL, 0, 0};
    if (!__atomic_load_n(&tls_in_use, __ATOMIC_ACQUIRE))
        return e; /* no record was ever made */
    pthread_mutex_t *mu = chain_lock(handle);
    pthread_mutex_lock(mu);
    struct tls_sess **p = bucket(handle);
    while (*p && (*p)->handle != handle)
        p = &(*p)->next;
    struct tls_sess *s = *p;
    if (s && release && s->refs) {
        s->refs--; /* another owner lets go: the session lives on */
    } else if (s) {
        e.conn = s->conn;
        s->conn = NULL; /* (a call pinning it settles nothing: sess_done) */
        if (s->refs && !(__atomic_load_n(&s->pins, __ATOMIC_ACQUIRE) & SESS_PINS)) {
            /* no call can pin it while the lock is held: afresh, its
             * buffers let go outside the lock */
            s->opened = false;
            s->fd = -1;
            __atomic_store_n(&s->versioned, false, __ATOMIC_RELAXED);
            e.out_buf = s->out.buf;
            e.out_cap = s->out.cap;
            s->out.buf = NULL;
            s->out.cap = 0;
            tls_out_drop(&s->out);
            e.repeated_buf = s->repeated.buf;
            e.repeated_cap = s->repeated.cap;
            s->repeated.buf = NULL;
            s->repeated.cap = s->repeated.len = 0;
        } else {
            struct tls_sess *fresh = s->refs ? sess_new(handle) : NULL;
            if (fresh) {
                fresh->refs = s->refs;
                fresh->next = s->next;
                *p = fresh;
            } else {
                *p = s->next;
            }
            if (!(__atomic_fetch_or(&s->pins, SESS_DEAD, __ATOMIC_ACQ_REL) & SESS_PINS))
                e.freed = s;
        }
    }
    pthread_mutex_unlock(mu);
    return e;
}

/* The session's connection, opened on its first call (the handshake is
 * normally done by then: the library knows the role and version; see
 * sess_learn_version when it is not). Under its chain's lock: GnuTLS lets
 * one thread send while another receives. */
static void sess_open(struct tls_sess *s, struct tls_io *io, bool sending)
{
    s->opened = true;
    if (s->fd < 0)
        s->fd = io->lib->fd(io);
    char version[8];
    bool known = io->lib->version(io, version, sizeof version);
    __atomic_store_n(&s->versioned, known, __ATOMIC_RELAXED);
    s->conn = ts_conn_open(io->lib->role(io, sending), s->fd, version[0] ? version : NULL);
    uint16_t port = s->conn ? ts_conn_hint_port(s->conn) : 0;
    if (port)
        __atomic_store_n(&handle_by_peer_port[port], s->handle, __ATOMIC_RELAXED);
}

/* A session opened before its handshake was done: an OpenSSL client whose
 * first SSL_write does it (SSL_set_connect_state, no SSL_connect), whose
 * span began before the server said which version it takes. Once a call
 * has gone through, the handshake is normally done: the version goes on
 * the connection and on the spans that began without it. Not when the
 * call went through in early data (TLS 1.3's 0-RTT: the handshake ends
 * after it): then it is asked again after the next call, until the
 * handshake is done, and once after that (a version without a number,
 * DTLS's, is not asked again on every call). Under the guard. */
static __attribute__((noinline)) void sess_learn_version(struct tls_sess *s, struct ts_conn *c,
                                                         struct tls_io *io)
{
    if (__atomic_exchange_n(&s->versioned, true, __ATOMIC_RELAXED))
        return; /* GnuTLS: the other thread's call did */
    char version[8];
    if (!io->lib->version(io, version, sizeof version))
        __atomic_store_n(&s->versioned, false, __ATOMIC_RELAXED); /* early data */
    else if (version[0])
        ts_conn_set_tls_version(c, version);
}

/* After a call that went through (r > 0): one flag read, once the version
 * is known. */
static inline void sess_check_version(struct tls_sess *s, struct ts_conn *c, struct tls_io *io,
                                      long r)
{
    if (r > 0 && __builtin_expect(!__atomic_load_n(&s->versioned, __ATOMIC_RELAXED), 0))
        sess_learn_version(s, c, io);
}

/* The session of a call (made when new), with a counted reference to its
 * connection in *c, NULL when there is nothing to follow; NULL without
 * memory. The record is pinned: sess_unpin at the call's end. */
static struct tls_sess *sess_of(struct tls_io *io, bool sending, struct ts_conn **c)
{
    *c = NULL;
    ts_guard_enter();
    pthread_mutex_t *mu = chain_lock_to_add(io->handle);
    pthread_mutex_lock(mu);
    struct tls_sess *s = sess_get_locked(io->handle);
    if (s && !s->opened)
        sess_open(s, io, sending);
    if (s && (*c = s->conn))
        ts_conn_retain(*c);
    if (s)
        __atomic_fetch_add(&s->pins, 1, __ATOMIC_RELAXED); /* (sess_take's under this lock) */
    pthread_mutex_unlock(mu);
    ts_guard_leave();
    return s;
}

/* Done with c for this call (under the guard). When nothing on the
 * session can make a span any more (not HTTP, a tunnel), the session lets
 * its connection go: its calls go straight to the library from now on. */
static void sess_done(struct tls_sess *s, struct ts_conn *c)
{
    ts_rep_answer_thread_ask(); /* a span this call began (reporter.h) */
    bool settle = !s->out.active && ts_conn_parsing_over(c);
    if (settle) {
        pthread_mutex_t *mu = chain_lock(s->handle);
        pthread_mutex_lock(mu);
        settle = s->conn == c;
        if (settle)
            s->conn = NULL;
        pthread_mutex_unlock(mu);
    }
    if (settle)
        ts_conn_put(c); /* the session's reference */
    ts_conn_put(c);
}

/* ---------------------------------------------------------------- write */

static long call_write(void *ctx, const void *buf, size_t len)
{
    struct tls_io *io = ctx;
    return io->call(io, (void *)buf, len);
}

/* A server's responses: passed as they are, then observed. */
struct observed {
    struct tls_io *io;
    const void *buf;
    size_t len;
};

static ssize_t observed_pass(void *arg)
{
    struct observed *ob = arg;
    return ob->io->call(ob->io, (void *)ob->buf, ob->len);
}

/* A server's response bytes, passed as they are and then observed: buf
 * [0..len), or GnuTLS's retry of a write it asked to be made again, which
 * may pass NULL, 0 and send the record it made of that write's bytes.
 * Those bytes are kept when it asks (not the program's buffer: it may
 * have let it go), to be seen once the retry sends them. Under the guard. */
static long tls_write_observed(struct tls_sess *s, struct ts_conn *c, struct tls_io *io,
                               const void *buf, size_t len)
{
    struct iovec seen = {(void *)buf, len};
    if (len == 0) /* an empty write, or the empty retry */
        seen = (struct iovec){s->repeated.buf, s->repeated.len};
    struct observed ob = {io, buf, len};
    long r = ts_conn_send_to(c, NULL, NULL, &seen, 1, observed_pass, &ob);
    int saved = errno;
    /* A pending record of more bytes than seen here went out: an empty
     * retry whose bytes could not be kept, a retry of fewer bytes than the
     * first call (against GnuTLS's rule). The stream goes on past them. */
    if (r > 0 && (size_t)r > seen.iov_len)
        ts_conn_sent_unseen(c, r - (ssize_t)seen.iov_len);
    bool asked_again = r <= 0 && io->lib->empty_retry && io->lib->end(io, r) == TLS_AGAIN;
    if (asked_again && !s->repeated.len) {
        /* the first call's bytes make the record; a retry's are ignored */
        size_t n = len < TLS_RECORD_PLAINTEXT_MAX ? len : TLS_RECORD_PLAINTEXT_MAX;
        if (ts_buf_reserve(&s->repeated.buf, &s->repeated.cap, n)) {
            memcpy(s->repeated.buf, buf, n);
            s->repeated.len = n;
        }
    } else if (!asked_again && s->repeated.len) {
        ts_buf_release(&s->repeated.buf, &s->repeated.cap);
        s->repeated.len = 0;
    }
    errno = saved;
    return r;
}

/* Send (more of) the write under way; a final failure forgets it. */
static long out_send(struct tls_sess *s, struct tls_io *io, const void *buf, size_t len)
{
    long r = tls_out_send(&s->out, buf, len, call_write, io);
    int saved = errno;
    if (r <= 0 && io->lib->end(io, r) != TLS_AGAIN)
        tls_out_drop(&s->out);
    errno = saved;
    return r;
}

long tls_write(struct tls_io *io, const void *buf, size_t len)
{
    struct ts_conn *c;
    struct tls_sess *s = sess_of(io, true, &c);
    if (!s)
        return io->call(io, (void *)buf, len);
    /* The reference to c is noted for the length of the call (held.h): a
     * thread cancelled in the real write (blocked on a peer that does not
     * read) lets go of it at its exit, and the spans end when the program
     * frees the session. Noted, they never ended, not even at exit. So is
     * the record's pin: not let go of, the record and its buffers were
     * never given back. */
    struct ts_held_conn_note held;
    if (c)
        held = ts_held_conn(-1, c); /* no fd: the connection is in no slot */
    struct ts_held_pin_note pinned = ts_held_tls_pin(s);
    long r;
    if (s->out.active && (len || tls_out_retry_due(&s->out))) {
        /* the retry of a write under way, or its rest */
        r = out_send(s, io, buf, len);
    } else if (!c || (len == 0 && ts_conn_is_client(c))) {
        if (!c && s->repeated.len) { /* the connection was let go meanwhile */
            ts_guard_enter();
            ts_buf_release(&s->repeated.buf, &s->repeated.cap);
            s->repeated.len = 0;
            ts_guard_leave();
        }
        r = io->call(io, (void *)buf, len);
    } else if (ts_conn_is_client(c)) {
        /* The HTTP logic says what goes out for these bytes; the library
         * then gets it in one piece, outside the guard and the locks. */
        struct iovec iov = {(void *)buf, len};
        tls_out_collect(&s->out, buf, len);
        ts_guard_enter();
        ssize_t took = ts_conn_send_to(c, tls_out_sink, &s->out, &iov, 1, tls_out_pass, &s->out);
        ts_guard_leave();
        if (took > 0) {
            tls_out_ready(&s->out, (size_t)took);
            r = out_send(s, io, buf, len);
        } else { /* no buffer for a rewritten write: the bytes as they are */
            tls_out_drop(&s->out);
            r = io->call(io, (void *)buf, len);
        }
    } else {
        ts_guard_enter();
        r = tls_write_observed(s, c, io, buf, len);
        ts_guard_leave();
    }
    ts_held_tls_pin_end(pinned);
    if (c) {
        int saved = errno;
        ts_held_conn_end(held);
        ts_guard_enter();
        sess_check_version(s, c, io, r);
        sess_done(s, c);
        ts_guard_leave();
        errno = saved;
    }
    sess_unpin(s);
    return r;
}

/* ----------------------------------------------------------------- read */

long tls_read(struct tls_io *io, void *buf, size_t len)
{
    long r = io->call(io, buf, len);
    int saved = errno;
    enum tls_end end = r > 0 ? TLS_AGAIN : io->lib->end(io, r);
    if (r <= 0 && (end == TLS_AGAIN || end == TLS_GOES_ON)) { /* no end: nothing to see */
        errno = saved;
        return r;
    }
    /* after the call: a first read may have done the handshake */
    struct ts_conn *c;
    struct tls_sess *s = sess_of(io, false, &c);
    if (s && c) {
        struct iovec iov = {buf, r > 0 ? (size_t)r : 0};
        ts_guard_enter();
        sess_check_version(s, c, io, r); /* before the response ends a span */
        ts_conn_recv_done(c, &iov, 1, r > 0 ? r : end == TLS_CLOSED ? 0 : -1, 0,
                          end == TLS_CLOSED ? 0 : ECONNRESET);
        sess_done(s, c);
        ts_guard_leave();
    }
    if (s)
        sess_unpin(s);
    errno = saved;
    return r;
}

/* ------------------------------------------------------------ life */

void tls_unpin_left(void *record)
{
    sess_unpin(record);
}

void tls_bind_fd(void *handle, int fd)
{
    if (fd < 0)
        return;
    int saved = errno;
    ts_guard_enter();
    pthread_mutex_t *mu = chain_lock_to_add(handle);
    pthread_mutex_lock(mu);
    struct tls_sess *s = sess_get_locked(handle);
    if (s && !s->opened)
        s->fd = fd;
    pthread_mutex_unlock(mu);
    ts_conn_untrack(fd); /* its bytes are ciphertext: the plain hooks let them be */
    ts_guard_leave();
    errno = saved;
}

static void sess_end(void *handle, bool release)
{
    int saved = errno;
    ts_guard_enter();
    struct sess_end e = sess_take(handle, release);
    ts_buf_release(&e.out_buf, &e.out_cap);
    ts_buf_release(&e.repeated_buf, &e.repeated_cap);
    if (e.conn)
        ts_conn_put(e.conn); /* its open spans end (a call inside holds its own reference) */
    if (e.freed)
        sess_free(e.freed);
    ts_guard_leave();
    errno = saved;
}

void tls_forget(void *handle)
{
    sess_end(handle, false);
}

void tls_release(void *handle)
{
    sess_end(handle, true);
}

void tls_retain(void *handle)
{
    int saved = errno;
    ts_guard_enter();
    pthread_mutex_t *mu = chain_lock_to_add(handle);
    pthread_mutex_lock(mu);
    struct tls_sess *s = sess_get_locked(handle);
    if (s)
        s->refs++; /* without memory: its first SSL_free ends it, as before */
    pthread_mutex_unlock(mu);
    ts_guard_leave();
    errno = saved;
}

bool tls_sessions_find(bool (*match)(struct ts_conn *c, void *arg), void *arg)
{
    if (!__atomic_load_n(&tls_in_use, __ATOMIC_ACQUIRE))
        return false;
    bool found = false;
    ts_guard_enter();
    for (size_t lock = 0; lock < TLS_LOCKS && !found; lock++) {
        pthread_mutex_t *mu = &table_locks[lock].mu;
        pthread_mutex_lock(mu);
        for (size_t b = lock; b < TLS_BUCKETS && !found; b += TLS_LOCKS) /* (chain_lock) */
            for (struct tls_sess *s = table[b]; s && !found; s = s->next)
                found = s->conn && match(s->conn, arg);
        pthread_mutex_unlock(mu);
    }
    ts_guard_leave();
    return found;
}

bool tls_sessions_find_by_peer_port(uint16_t peer_port, bool (*match)(struct ts_conn *c, void *arg),
                                    void *arg)
{
    void *handle = __atomic_load_n(&handle_by_peer_port[peer_port], __ATOMIC_RELAXED);
    if (!handle || !__atomic_load_n(&tls_in_use, __ATOMIC_ACQUIRE))
        return false;
    ts_guard_enter();
    pthread_mutex_t *mu = chain_lock(handle);
    pthread_mutex_lock(mu);
    struct tls_sess *s = sess_find_locked(handle);
    bool found = s && s->conn && match(s->conn, arg);
    pthread_mutex_unlock(mu);
    ts_guard_leave();
    return found;
}

/* A chain lock taken by until_ns (ts_mono_ns) at the latest. */
static bool chain_lock_by(pthread_mutex_t *mu, uint64_t until_ns)
{
    struct timespec by = {(time_t)(until_ns / 1000000000u), (long)(until_ns % 1000000000u)};
    return pthread_mutex_clocklock(mu, CLOCK_MONOTONIC, &by) == 0;
}

/* Cold: once per process image (a forked child's _exit too). */
__attribute__((cold)) void tls_sessions_image_ends(enum ts_image_end how)
{
    if (!__atomic_load_n(&tls_in_use, __ATOMIC_ACQUIRE))
        return;
    int saved = errno;
    uint64_t until = ts_mono_ns() + TS_CONN_IMAGE_END_WAIT_NS;
    for (size_t lock = 0; lock < TLS_LOCKS; lock++) {
        pthread_mutex_t *mu = &table_locks[lock].mu;
        if (!chain_lock_by(mu, until))
            continue; /* a thread inside its chain past the deadline */
        /* the chains of this lock's stripe (chain_lock) */
        for (size_t b = lock; b < TLS_BUCKETS; b += TLS_LOCKS)
            for (struct tls_sess *s = table[b]; s; s = s->next)
                if (s->conn) /* its socket's fd, if any, is of no use to a next image */
                    ts_conn_image_ends_for(s->conn, -1, how, until);
        pthread_mutex_unlock(mu);
    }
    errno = saved;
}

/* Around fork: every stripe is held, in order, so that the child's table
 * is not caught mid-update; none while the table has never been used. */
TS_FORK_HANDLER void tls_sessions_fork_prepare(void)
{
    fork_locked_chains = __atomic_load_n(&tls_in_use, __ATOMIC_SEQ_CST);
    if (fork_locked_chains)
        for (size_t i = 0; i < TLS_LOCKS; i++)
            pthread_mutex_lock(&table_locks[i].mu);
    ts_block_pool_fork_prepare(&sess_blocks);
}

TS_FORK_HANDLER void tls_sessions_fork_parent(void)
{
    ts_block_pool_fork_parent(&sess_blocks);
    if (fork_locked_chains)
        for (size_t i = TLS_LOCKS; i-- > 0;)
            pthread_mutex_unlock(&table_locks[i].mu);
}

TS_FORK_HANDLER void tls_sessions_after_fork(bool prepared)
{
    ts_block_pool_after_fork(&sess_blocks);
    if (!__atomic_load_n(&tls_in_use, __ATOMIC_RELAXED))
        return; /* no chain lock was ever taken */
    for (size_t i = 0; i < TLS_LOCKS; i++)
        pthread_mutex_init(&table_locks[i].mu, NULL);
    if (!prepared || !fork_locked_chains) {
        /* Another thread made the first record as the process forked, or
         * the fork came from a signal handler that interrupted the shim,
         * perhaps inside the table: it may be caught mid-update. The
         * child starts it afresh (those records are left behind, as a
         * lost thread's are). */
        memset(table, 0, sizeof table);
        return;
    }
    /* A session whose connection a thread of the parent was inside at the
     * fork (ts_conn_held_at_fork) has nothing to follow in the child: its
     * reference is left as it is (the connection is never ended here). */
    for (size_t i = 0; i < TLS_BUCKETS; i++)
        for (struct tls_sess *s = table[i]; s; s = s->next)
            if (s->conn && ts_conn_held_at_fork(s->conn))
                s->conn = NULL;
}
