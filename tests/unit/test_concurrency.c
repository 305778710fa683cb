/* test_concurrency.c — the shim's shared state driven from many threads at
 * once, the way a multi-threaded program drives it: the span ring
 * (producers and a consumer), the fd table (install, acquire, remove and
 * put on the same fds), tracked connections (tracked, untracked and dup'ed
 * while other threads look them up; a client that sends on one thread and
 * reads the responses on another; a server that reads requests on one
 * thread and answers on another) and the in-flight server span registry.
 *
 * Written for ThreadSanitizer (scripts/test.sh runs it, with the other
 * tests labelled tsan, from a -DTS_SANITIZE=thread build), but the checks
 * hold in every build: each scenario also verifies that nothing was lost,
 * duplicated, paired with the wrong request or destroyed while in use.
 * Every scenario is bounded, by RUN_MS of wall time and by an iteration
 * cap, so it stays short under TSan's slowdown.
 *
 * The reporter is stubbed (ts_rep_submit below, thread-safe) so that the
 * connection scenarios can check every span they produce. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "hooks/conn.h"
#include "hooks/conn_lock.h"
#include "hooks/inflight.h"
#include "hooks/tls_sessions.h"
#include "preload/config.h"
#include "preload/context.h"
#include "preload/fdtable.h"
#include "preload/real.h"
#include "preload/span.h"
#include "reporter/queue.h"
#include "reporter/reporter.h"

#include "rep_block_stub.h" /* after reporter.h, whose functions it stands in for */

#define RUN_MS 200 /* wall time per scenario (each also has an iteration cap) */

/* ------------------------------------------------------------- helpers */

static uint64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

/* xorshift32: each thread its own state */
static uint32_t rnd(uint32_t *s)
{
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

/* A failure seen on a worker thread: the first one is kept and asserted
 * by the main thread (cmocka's asserts are not for other threads). */
static pthread_mutex_t fail_mu = PTHREAD_MUTEX_INITIALIZER;
static char fail_msg_buf[512];
static atomic_int failed;

static void thread_fail(const char *fmt, ...)
{
    pthread_mutex_lock(&fail_mu);
    if (!atomic_load(&failed)) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(fail_msg_buf, sizeof fail_msg_buf, fmt, ap);
        va_end(ap);
        atomic_store(&failed, 1);
    }
    pthread_mutex_unlock(&fail_mu);
}

#define TCHECK(cond, ...)                                                                          \
    do {                                                                                           \
        if (!(cond))                                                                               \
            thread_fail(__VA_ARGS__);                                                              \
    } while (0)

static void assert_no_thread_failure(void)
{
    pthread_mutex_lock(&fail_mu);
    int f = atomic_load(&failed);
    pthread_mutex_unlock(&fail_mu);
    if (f)
        fail_msg("%s", fail_msg_buf);
}

static int reset(void **state)
{
    (void)state;
    atomic_store(&failed, 0);
    fail_msg_buf[0] = '\0';
    return 0;
}

static const char *no_env(const char *name)
{
    (void)name;
    return NULL;
}

/* --------------------------------------------------- the reporter (stub) */

/* Responses the peer gives request i: status codes[i % 7]. */
static const int codes[7] = {200, 201, 404, 500, 202, 503, 301};

static pthread_mutex_t sink_mu = PTHREAD_MUTEX_INITIALIZER;
static int sink_client, sink_server;           /* spans seen, per kind */
static int sink_next_client, sink_next_server; /* the i each next span must carry */
static int sink_code;                          /* when set, every span's status code */
static sem_t sink_credits;                     /* posted per client span: the window */

/* The i=N in a span's string attribute key, or -1. */
static int span_index(const struct ts_span *s, const char *key)
{
    const struct ts_attr *a = ts_span_attr_find(s, key);
    if (!a || a->type != TS_ATTR_STR)
        return -1;
    char v[256];
    snprintf(v, sizeof v, "%.*s", (int)a->len, ts_span_attr_sval(s, a));
    const char *p = strstr(v, "i=");
    return p ? atoi(p + 2) : -1;
}

static int64_t span_int(const struct ts_span *s, const char *key)
{
    const struct ts_attr *a = ts_span_attr_find(s, key);
    return a && a->type == TS_ATTR_INT ? a->num : -1;
}

/* Spans of one connection end in request order, each with its own
 * response's status code. */
void ts_rep_submit(const struct ts_span *s)
{
    pthread_mutex_lock(&sink_mu);
    bool client = s->kind == TS_KIND_CLIENT;
    int i = span_index(s, client ? "url.full" : "url.query");
    int *next = client ? &sink_next_client : &sink_next_server;
    TCHECK(i == *next, "%s span for request %d, expected %d", client ? "client" : "server", i,
           *next);
    int64_t code = span_int(s, "http.response.status_code");
    int want = sink_code ? sink_code : i >= 0 ? codes[i % 7] : 0;
    TCHECK(i < 0 || code == want, "request %d: status %lld, expected %d", i, (long long)code, want);
    /* no connection error: an error answer's own code alone (4xx and 5xx
     * for a client span, 5xx for a server span) */
    const struct ts_attr *et = ts_span_attr_find(s, "error.type");
    char want_type[24] = "";
    if (code >= (client ? 400 : 500))
        snprintf(want_type, sizeof want_type, "%lld", (long long)code);
    char got_type[24] = "";
    if (et && et->type == TS_ATTR_STR)
        snprintf(got_type, sizeof got_type, "%.*s", (int)et->len, ts_span_attr_sval(s, et));
    TCHECK((et != NULL) == (want_type[0] != '\0') && strcmp(got_type, want_type) == 0,
           "request %d: error.type \"%s\", expected \"%s\"", i, got_type, want_type);
    *next = i + 1;
    if (client)
        sink_client++;
    else
        sink_server++;
    pthread_mutex_unlock(&sink_mu);
    if (client)
        sem_post(&sink_credits);
}

static void sink_reset(void)
{
    pthread_mutex_lock(&sink_mu);
    sink_client = sink_server = 0;
    sink_next_client = sink_next_server = 0;
    sink_code = 0;
    pthread_mutex_unlock(&sink_mu);
}

/* ---------------------------------------------------- (a) the span ring */

enum { Q_PRODUCERS = 4, Q_CAP = 32, Q_MAX_PER = 20000 };

struct q_prod {
    struct ts_rep_queue *q;
    int id;
    uint64_t deadline;
    int attempts; /* spans offered (queued or dropped) */
};

static void q_make_span(struct ts_span *s, int id, int seq)
{
    char name[32];
    int n = snprintf(name, sizeof name, "%d:%d", id, seq);
    ts_span_clear(s);
    s->kind = TS_KIND_CLIENT;
    s->sampled = 1;
    ts_span_set_name(s, name, (size_t)n);
    ts_span_attr_int(s, "seq", seq);
}

static void *q_producer(void *arg)
{
    struct q_prod *a = arg;
    struct ts_span s;
    /* Every producer races to give the ring its storage, as the first
     * spans of several threads do in ts_rep_submit. */
    TCHECK(ts_rep_queue_reserve(a->q, Q_CAP), "reserve failed");
    for (int i = 0; i < Q_MAX_PER && now_ms() < a->deadline; i++) {
        q_make_span(&s, a->id, i);
        if (a->id % 2) {
            ts_rep_queue_push(a->q, &s);
        } else { /* the reporter's way: record, push, wake the consumer at a batch */
            size_t queued = ts_rep_queue_push_record(a->q, ts_rep_queue_record(a->q, &s));
            if (queued >= 8)
                ts_rep_queue_wake(a->q);
        }
        a->attempts++;
        if (i % 4 == 3)
            sched_yield(); /* let the consumer keep up, or nearly everything drops */
        if (i % 64 == 0) { /* the counters, read from any thread */
            (void)ts_rep_queue_count(a->q);
            (void)ts_rep_queue_dropped(a->q);
        }
    }
    return NULL;
}

/* The wake-up without a lock on the producers' side: the consumer sleeps
 * (a deadline far off) until 8 spans are queued; producers push and wake
 * it. A wake-up lost between the consumer's count and its sleep would
 * leave it asleep until the deadline. Many rounds, two producers racing. */
enum { WAKE_ROUNDS = 300, WAKE_WANT = 8 };

struct wake_prod {
    struct ts_rep_queue *q;
    atomic_int round; /* the round the consumer has reached */
};

static void *wake_producer(void *arg)
{
    struct wake_prod *a = arg;
    struct ts_span s;
    q_make_span(&s, 0, 0);
    for (int r = 0; r < WAKE_ROUNDS; r++) {
        while (atomic_load(&a->round) < r)
            sched_yield();
        for (int i = 0; i < WAKE_WANT / 2; i++) {
            size_t queued = ts_rep_queue_push_record(a->q, ts_rep_queue_record(a->q, &s));
            TCHECK(queued > 0, "dropped");
            if (queued >= WAKE_WANT)
                ts_rep_queue_wake(a->q);
        }
    }
    return NULL;
}

static void test_queue_wake_not_lost(void **state)
{
    static struct ts_rep_queue q = TS_REP_QUEUE_INITIALIZER;
    assert_true(ts_rep_queue_reserve(&q, 64));
    struct wake_prod arg = {&q, 0};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, wake_producer, &arg), 0);
    struct ts_span *recs[WAKE_WANT];
    for (int r = 0; r < WAKE_ROUNDS; r++) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += 10;
        uint64_t t0 = now_ms();
        atomic_store(&arg.round, r);
        assert_true(ts_rep_queue_wait(&q, WAKE_WANT, &until));
        ts_rep_queue_lock(&q, NULL);
        size_t got = 0;
        while (got < WAKE_WANT) /* the last producer may not have published yet */
            got += ts_rep_queue_take_locked(&q, recs + got, WAKE_WANT - got);
        ts_rep_queue_unlock(&q);
        assert_true(now_ms() - t0 < 5000);
        ts_rep_queue_release_many(&q, recs, got);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    assert_no_thread_failure();
    assert_int_equal(ts_rep_queue_count(&q), 0);
    assert_int_equal(ts_rep_queue_dropped(&q), 0);
    ts_rep_queue_destroy(&q);
}

/* Gives the recycled records back to the pools, and the empty chunks to
 * the system, over and over, as the idle reporter does, while the
 * producers take recycled records out and the consumer puts them in. */
static atomic_bool trimmer_stop;

static void *q_trimmer(void *arg)
{
    while (!atomic_load(&trimmer_stop)) {
        ts_rep_queue_trim(arg, 0);
        sched_yield();
    }
    return NULL;
}

static void test_queue_producers_and_consumer(void **state)
{
    /* no storage yet: the producers reserve it */
    static struct ts_rep_queue q = TS_REP_QUEUE_INITIALIZER;
    pthread_t t[Q_PRODUCERS];
    struct q_prod args[Q_PRODUCERS];
    uint64_t deadline = now_ms() + RUN_MS;
    for (int i = 0; i < Q_PRODUCERS; i++) {
        args[i] = (struct q_prod){&q, i, deadline, 0};
        assert_int_equal(pthread_create(&t[i], NULL, q_producer, &args[i]), 0);
    }
    pthread_t trimmer;
    atomic_store(&trimmer_stop, false);
    assert_int_equal(pthread_create(&trimmer, NULL, q_trimmer, &q), 0);
    /* The consumer, as the reporter thread: wait at the ring's doorbell for a
     * batch or a short timeout, pop in chunks, or take them and give them
     * back together (recycled for the producers' next records). Until every
     * producer joined and the ring is empty. */
    static struct ts_span *taken[16];
    unsigned round = 0;
    int last[Q_PRODUCERS];
    for (int i = 0; i < Q_PRODUCERS; i++)
        last[i] = -1;
    static struct ts_span out[16];
    uint64_t popped = 0;
    int joined = 0;
    for (;;) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += 2000000;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        (void)ts_rep_queue_wait(&q, 8, &until);
        ts_rep_queue_lock(&q, NULL);
        bool take = round++ % 2;
        size_t n = take ? ts_rep_queue_take_locked(&q, taken, 16)
                        : ts_rep_queue_pop_locked(&q, out, 16);
        ts_rep_queue_unlock(&q);
        if (take) {
            for (size_t k = 0; k < n; k++)
                ts_rep_queue_read(&out[k], taken[k]);
            ts_rep_queue_release_many(&q, taken, n);
        }
        for (size_t k = 0; k < n; k++) {
            int id, seq;
            char name[32];
            snprintf(name, sizeof name, "%.*s", (int)out[k].name_len, ts_span_name(&out[k]));
            assert_int_equal(sscanf(name, "%d:%d", &id, &seq), 2);
            assert_in_range(id, 0, Q_PRODUCERS - 1);
            assert_true(seq > last[id]); /* each producer's order, no duplicates */
            assert_int_equal(span_int(&out[k], "seq"), seq);
            last[id] = seq;
        }
        popped += n;
        if (n == 0 && joined)
            break;
        if (n == 0 && now_ms() >= deadline) {
            for (int i = 0; i < Q_PRODUCERS; i++)
                pthread_join(t[i], NULL);
            joined = 1; /* one more pass empties the ring */
        }
    }
    atomic_store(&trimmer_stop, true);
    pthread_join(trimmer, NULL);
    uint64_t offered = 0;
    for (int i = 0; i < Q_PRODUCERS; i++)
        offered += (uint64_t)args[i].attempts;
    assert_no_thread_failure();
    assert_true(offered > 0);
    assert_true(popped > 0);
    print_message("ring: %llu spans offered, %llu popped\n", (unsigned long long)offered,
                  (unsigned long long)popped);
    assert_int_equal(popped + ts_rep_queue_dropped(&q), offered);
    assert_int_equal(ts_rep_queue_count(&q), 0);
    ts_rep_queue_destroy(&q);
}

/* ----------------------------------------------------- (b) the fd table */

/* Type-stable objects, recycled through a free list as hooks/conn.c does
 * with connections: a stale pointer in a slot may be probed at any time. */
enum { FD_OBJS = 64, FD_FIRST = 200, FD_COUNT = 4, FD_THREADS = 6, FD_MAX_OPS = 200000 };

struct fobj {
    struct ts_fd_ref ref;
    struct fobj *next_free;
    int payload; /* plain data: set before install, checked while held */
    int index;
};

static struct fobj fobjs[FD_OBJS];
static struct fobj *fobj_free;
static pthread_mutex_t fobj_mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_int fobj_made, fobj_destroyed;

static int fobj_magic(const struct fobj *o)
{
    return 0x5a000000 | o->index;
}

static void fobj_destroy(struct ts_fd_ref *r)
{
    struct fobj *o = (struct fobj *)r;
    TCHECK(o->payload == fobj_magic(o), "object %d destroyed twice or corrupt", o->index);
    o->payload = 0;
    atomic_fetch_add(&fobj_destroyed, 1);
    pthread_mutex_lock(&fobj_mu);
    o->next_free = fobj_free;
    fobj_free = o;
    pthread_mutex_unlock(&fobj_mu);
}

static struct fobj *fobj_new(void)
{
    pthread_mutex_lock(&fobj_mu);
    struct fobj *o = fobj_free;
    if (o)
        fobj_free = o->next_free;
    pthread_mutex_unlock(&fobj_mu);
    if (!o)
        return NULL;
    o->payload = fobj_magic(o);
    /* refs may be probed through a stale slot pointer: an atomic store */
    atomic_store_explicit(&o->ref.refs, 1, memory_order_relaxed);
    atomic_fetch_add(&fobj_made, 1);
    return o;
}

static void *fd_worker(void *arg)
{
    uint32_t seed = (uint32_t)(uintptr_t)arg * 2654435761u + 1;
    uint64_t deadline = now_ms() + RUN_MS;
    for (int i = 0; i < FD_MAX_OPS && (i % 256 || now_ms() < deadline); i++) {
        int fd = FD_FIRST + (int)(rnd(&seed) % FD_COUNT);
        switch (rnd(&seed) % 8) {
        case 0: { /* a new connection on fd (the fd was reused) */
            struct fobj *o = fobj_new();
            if (o) {
                struct ts_fd_ref *old = ts_fd_install(fd, &o->ref);
                if (old)
                    ts_fd_put(old);
            }
            break;
        }
        case 1: { /* close */
            struct ts_fd_ref *old = ts_fd_remove(fd);
            if (old)
                ts_fd_put(old);
            break;
        }
        case 2: { /* dup2(fd, other) */
            int other = FD_FIRST + (int)(rnd(&seed) % FD_COUNT);
            struct ts_fd_ref *r = ts_fd_acquire(fd);
            if (r) {
                struct ts_fd_ref *old = ts_fd_install(other, r); /* our reference moves in */
                if (old)
                    ts_fd_put(old);
            }
            break;
        }
        default: { /* a hook: use the object while holding it */
            if (!ts_fd_tracked(fd))
                break;
            struct ts_fd_ref *r = ts_fd_acquire(fd);
            if (r) {
                struct fobj *o = (struct fobj *)r;
                TCHECK(o->payload == fobj_magic(o), "object %d used after destroy", o->index);
                TCHECK(atomic_load(&r->refs) >= 1, "held object %d with no references", o->index);
                ts_fd_retain(r); /* a second user on the same thread */
                ts_fd_put(r);
                ts_fd_put(r);
            }
            break;
        }
        }
    }
    return NULL;
}

static void test_fdtable_same_fds_many_threads(void **state)
{
    fobj_free = NULL;
    for (int i = FD_OBJS - 1; i >= 0; i--) {
        fobjs[i].index = i;
        fobjs[i].ref.destroy = fobj_destroy;
        atomic_init(&fobjs[i].ref.refs, 0);
        fobjs[i].next_free = fobj_free;
        fobj_free = &fobjs[i];
    }
    atomic_store(&fobj_made, 0);
    atomic_store(&fobj_destroyed, 0);
    pthread_t t[FD_THREADS];
    for (int i = 0; i < FD_THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, fd_worker, (void *)(uintptr_t)(i + 1)), 0);
    for (int i = 0; i < FD_THREADS; i++)
        pthread_join(t[i], NULL);
    for (int fd = FD_FIRST; fd < FD_FIRST + FD_COUNT; fd++) {
        struct ts_fd_ref *old = ts_fd_remove(fd);
        if (old)
            ts_fd_put(old);
    }
    assert_no_thread_failure();
    print_message("fd table: %d objects installed\n", atomic_load(&fobj_made));
    assert_true(atomic_load(&fobj_made) > FD_OBJS); /* objects were recycled */
    assert_int_equal(atomic_load(&fobj_made), atomic_load(&fobj_destroyed));
    for (int i = 0; i < FD_OBJS; i++)
        assert_int_equal(atomic_load(&fobjs[i].ref.refs), 0);
    assert_true(ts_fd_high_water() >= FD_FIRST + FD_COUNT);
}

/* ------------------------------- (b') connections tracked and looked up */

enum { CT_THREADS = 4, CT_MAX_OPS = 50000 };

static int ct_fds[4];

static void *conn_churn(void *arg)
{
    uint32_t seed = (uint32_t)(uintptr_t)arg * 2246822519u + 7;
    uint64_t deadline = now_ms() + RUN_MS;
    for (int i = 0; i < CT_MAX_OPS && (i % 128 || now_ms() < deadline); i++) {
        int fd = ct_fds[rnd(&seed) % 4];
        switch (rnd(&seed) % 8) {
        case 0: /* connect/accept returned fd (again) */
            ts_conn_track(fd, rnd(&seed) % 2 ? TS_ROLE_CLIENT : TS_ROLE_SERVER, NULL, 0);
            break;
        case 1: /* close */
            ts_conn_untrack(fd);
            break;
        case 2: /* dup2 */
            ts_conn_dup(fd, ct_fds[rnd(&seed) % 4]);
            break;
        case 3: /* close_range */
            if (rnd(&seed) % 16 == 0)
                ts_conn_untrack_range((unsigned)ct_fds[0], (unsigned)ct_fds[3]);
            break;
        default: { /* a hook on fd */
            struct ts_conn *c = ts_conn_get(fd);
            if (c)
                ts_conn_put(c);
            break;
        }
        }
    }
    return NULL;
}

static void test_conn_track_untrack_get(void **state)
{
    int sv[2][2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv[i]), 0);
    int k = 0;
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++)
            ct_fds[k++] = sv[i][j];
    /* ascending, for close_range */
    for (int i = 0; i < 4; i++)
        for (int j = i + 1; j < 4; j++)
            if (ct_fds[j] < ct_fds[i]) {
                int x = ct_fds[i];
                ct_fds[i] = ct_fds[j];
                ct_fds[j] = x;
            }
    pthread_t t[CT_THREADS];
    for (int i = 0; i < CT_THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, conn_churn, (void *)(uintptr_t)(i + 1)), 0);
    for (int i = 0; i < CT_THREADS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 4; i++) {
        ts_conn_untrack(ct_fds[i]);
        assert_false(ts_fd_tracked(ct_fds[i]));
        close(ct_fds[i]);
    }
    assert_no_thread_failure();
}

/* --------------------- (c) one connection, a sending and a reading thread */

enum { CL_MAX_REQUESTS = 3000, CL_WINDOW = 8 };

static bool req_is_head(int i)
{
    return i % 5 == 4;
}

/* Request i as the program writes it: head (and body) */
static size_t build_request(int i, char *buf, size_t cap, size_t *head_len)
{
    int n;
    if (req_is_head(i))
        n = snprintf(buf, cap, "HEAD /r?i=%d HTTP/1.1\r\nHost: h\r\n\r\n", i);
    else if (i % 3 == 1)
        n = snprintf(buf, cap, "POST /r?i=%d HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\n", i);
    else if (i % 3 == 2)
        n = snprintf(buf, cap,
                     "POST /r?i=%d HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", i);
    else
        n = snprintf(buf, cap, "GET /r?i=%d HTTP/1.1\r\nHost: h\r\nUser-Agent: t\r\n\r\n", i);
    *head_len = (size_t)n;
    if (!req_is_head(i) && i % 3 == 1)
        n += snprintf(buf + n, cap - (size_t)n, "body");
    else if (!req_is_head(i) && i % 3 == 2)
        n += snprintf(buf + n, cap - (size_t)n, "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
    return (size_t)n;
}

/* Response i as the peer writes it. */
static size_t build_response(int i, bool head_request, char *buf, size_t cap)
{
    int code = codes[i % 7];
    if (head_request)
        return (size_t)snprintf(buf, cap, "HTTP/1.1 %d X\r\nContent-Length: 99\r\n\r\n", code);
    switch (i % 3) {
    case 0:
        return (size_t)snprintf(buf, cap, "HTTP/1.1 %d X\r\nContent-Length: 5\r\n\r\nhello", code);
    case 1:
        return (size_t)snprintf(buf, cap,
                                "HTTP/1.1 %d X\r\nTransfer-Encoding: chunked\r\n\r\n"
                                "3\r\nabc\r\n0\r\n\r\n",
                                code);
    default:
        return (size_t)snprintf(buf, cap, "HTTP/1.1 %d X\r\nContent-Length: 0\r\n\r\n", code);
    }
}

/* Whole requests (as build_request makes them, header lines possibly added)
 * in a byte stream read in arbitrary pieces: a server answers a request
 * once it has all of it. */
struct req_parser {
    char buf[16384];
    size_t len;
    int next; /* index of the request being read */
};

static int parse_requests(struct req_parser *rp, const char *p, size_t n)
{
    int complete = 0;
    while (n > 0) {
        size_t take = n < sizeof rp->buf - rp->len ? n : sizeof rp->buf - rp->len;
        if (take == 0) {
            thread_fail("request %d: no end in %zu bytes", rp->next, rp->len);
            return complete;
        }
        memcpy(rp->buf + rp->len, p, take);
        rp->len += take;
        p += take;
        n -= take;
        for (;;) {
            const char *end = memmem(rp->buf, rp->len, "\r\n\r\n", 4);
            if (!end)
                break;
            size_t need = (size_t)(end - rp->buf) + 4;
            int i = rp->next;
            if (!req_is_head(i) && i % 3 == 1) { /* Content-Length: 4 */
                need += 4;
            } else if (!req_is_head(i) && i % 3 == 2) { /* chunked: to the last chunk */
                const char *z = memmem(rp->buf + need, rp->len - need, "0\r\n\r\n", 5);
                if (!z)
                    break;
                need = (size_t)(z - rp->buf) + 5;
            }
            if (need > rp->len)
                break;
            memmove(rp->buf, rp->buf + need, rp->len - need);
            rp->len -= need;
            rp->next++;
            complete++;
        }
    }
    return complete;
}

/* Write buf in up to three pieces. */
static void write_in_pieces(int fd, const char *buf, size_t len, uint32_t *seed)
{
    size_t off = 0;
    for (int piece = 0; off < len; piece++) {
        size_t k = piece < 2 ? 1 + rnd(seed) % (len - off) : len - off;
        ssize_t r = write(fd, buf + off, k);
        if (r < 0 && errno == EINTR)
            continue;
        TCHECK(r > 0, "write: %s", strerror(errno));
        if (r <= 0)
            return;
        off += (size_t)r;
    }
}

struct write_call {
    int fd;
    const struct iovec *iov;
    int iovcnt;
};

static ssize_t pass_writev(void *arg)
{
    struct write_call *w = arg;
    return writev(w->fd, w->iov, w->iovcnt);
}

/* The program's writev(fd, iov, n) through the shim, as the hook does it;
 * loops on short counts like a program would. */
static void prog_writev(int fd, struct iovec *iov, int n)
{
    while (n > 0) {
        struct ts_conn *c = ts_conn_get(fd);
        struct write_call w = {fd, iov, n};
        ssize_t r = c ? ts_conn_send(c, fd, iov, n, 0, pass_writev, &w) : pass_writev(&w);
        if (c)
            ts_conn_put(c);
        if (r < 0 && errno == EINTR)
            continue;
        TCHECK(r > 0, "program write failed: %s", r < 0 ? strerror(errno) : "0");
        if (r <= 0)
            return;
        size_t done = (size_t)r;
        while (n > 0 && done >= iov->iov_len) {
            done -= iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + done;
            iov->iov_len -= done;
        }
    }
}

static void prog_write(int fd, const char *buf, size_t len)
{
    struct iovec iov = {(void *)buf, len};
    prog_writev(fd, &iov, 1);
}

/* The program's read(fd) through the shim, as the hook does it. */
static ssize_t prog_read(int fd, char *buf, size_t cap)
{
    struct ts_conn *c = ts_conn_get(fd);
    ssize_t r;
    do
        r = read(fd, buf, cap);
    while (r < 0 && errno == EINTR);
    int err = errno;
    if (c) {
        struct iovec iov = {buf, cap};
        ts_conn_recv_done(c, &iov, 1, r, 0, err);
        ts_conn_put(c);
    }
    return r;
}

struct client_run {
    int prog, peer;
    int sent; /* requests the program sent */
};

/* The client program's sending thread: requests, whole or in pieces, with
 * at most CL_WINDOW of them waiting for their response. */
static void *client_sender(void *arg)
{
    struct client_run *cr = arg;
    uint32_t seed = 12345;
    uint64_t deadline = now_ms() + RUN_MS;
    char req[512];
    for (int i = 0; i < CL_MAX_REQUESTS && now_ms() < deadline; i++) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 10;
        if (sem_timedwait(&sink_credits, &until) != 0) {
            thread_fail("request %d: no span ended for 10 s (responses not paired?)", i);
            break;
        }
        size_t head_len, len = build_request(i, req, sizeof req, &head_len);
        switch (i % 4) {
        case 0: /* all at once */
            prog_write(cr->prog, req, len);
            break;
        case 1: { /* cut anywhere */
            size_t cut = 1 + rnd(&seed) % (len - 1);
            prog_write(cr->prog, req, cut);
            prog_write(cr->prog, req + cut, len - cut);
            break;
        }
        case 2: { /* writev, three pieces */
            size_t a = 1 + rnd(&seed) % (len - 2);
            size_t b = a + 1 + rnd(&seed) % (len - a - 1);
            struct iovec iov[3] = {{req, a}, {req + a, b - a}, {req + b, len - b}};
            prog_writev(cr->prog, iov, 3);
            break;
        }
        default: /* head, then body */
            prog_write(cr->prog, req, head_len);
            if (len > head_len)
                prog_write(cr->prog, req + head_len, len - head_len);
            break;
        }
        cr->sent++;
    }
    shutdown(cr->prog, SHUT_WR); /* the peer answers what it got, then closes */
    return NULL;
}

/* The client program's reading thread: responses in reads of any size. */
static void *client_reader(void *arg)
{
    struct client_run *cr = arg;
    uint32_t seed = 777;
    char buf[2048];
    for (;;) {
        size_t cap = 1 + rnd(&seed) % sizeof buf;
        ssize_t r = prog_read(cr->prog, buf, cap);
        if (r == 0)
            break;
        if (r < 0) {
            thread_fail("program read: %s", strerror(errno));
            break;
        }
    }
    return NULL;
}

/* The server at the other end: one response per whole request it reads,
 * written in pieces; closes after the client's end of stream. */
static void *client_peer(void *arg)
{
    struct client_run *cr = arg;
    uint32_t seed = 4242;
    static struct req_parser rp;
    memset(&rp, 0, sizeof rp);
    int answered = 0;
    char in[4096], out[256];
    for (;;) {
        ssize_t r = read(cr->peer, in, sizeof in);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        int n = parse_requests(&rp, in, (size_t)r);
        for (int k = 0; k < n; k++, answered++) {
            size_t len = build_response(answered, req_is_head(answered), out, sizeof out);
            write_in_pieces(cr->peer, out, len, &seed);
        }
    }
    shutdown(cr->peer, SHUT_WR);
    return NULL;
}

static void test_client_send_and_receive_threads(void **state)
{
    sink_reset();
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    ts_conn_track(sv[0], TS_ROLE_CLIENT, NULL, 0);
    struct client_run cr = {sv[0], sv[1], 0};
    assert_int_equal(sem_init(&sink_credits, 0, CL_WINDOW), 0);
    pthread_t ts, tr, tp;
    assert_int_equal(pthread_create(&tp, NULL, client_peer, &cr), 0);
    assert_int_equal(pthread_create(&tr, NULL, client_reader, &cr), 0);
    assert_int_equal(pthread_create(&ts, NULL, client_sender, &cr), 0);
    pthread_join(ts, NULL);
    pthread_join(tr, NULL);
    pthread_join(tp, NULL);
    ts_conn_untrack(sv[0]);
    close(sv[0]);
    close(sv[1]);
    sem_destroy(&sink_credits);
    assert_no_thread_failure();
    pthread_mutex_lock(&sink_mu);
    int spans = sink_client;
    pthread_mutex_unlock(&sink_mu);
    print_message("client: %d requests\n", cr.sent);
    assert_true(cr.sent > CL_WINDOW);
    assert_int_equal(spans, cr.sent); /* every request, ended by its own response */
}

/* ------------------ (c') a server reading on one thread, answering on another */

enum { SV_MAX_REQUESTS = 3000, SV_WINDOW = 8 };

struct server_run {
    int prog, peer;
    int sent;            /* requests the peer sent */
    atomic_int received; /* whole requests the reading thread saw */
    sem_t to_answer;     /* reader -> writer: one per request read */
    sem_t window;        /* the peer's requests waiting for an answer */
    atomic_int reader_done;
};

/* The server program's reading thread: requests in reads of any size. */
static void *server_reader(void *arg)
{
    struct server_run *sr = arg;
    uint32_t seed = 99;
    static struct req_parser rp;
    memset(&rp, 0, sizeof rp);
    char buf[2048];
    for (;;) {
        size_t cap = 1 + rnd(&seed) % sizeof buf;
        ssize_t r = prog_read(sr->prog, buf, cap);
        if (r <= 0) {
            TCHECK(r == 0, "server read: %s", strerror(errno));
            break;
        }
        int n = parse_requests(&rp, buf, (size_t)r);
        for (int k = 0; k < n; k++) {
            atomic_fetch_add(&sr->received, 1);
            sem_post(&sr->to_answer);
        }
    }
    atomic_store(&sr->reader_done, 1);
    sem_post(&sr->to_answer); /* wake the writer to notice */
    return NULL;
}

/* The server program's writing thread: one response per request, in
 * pieces (its response spans end here, not on the reading thread). */
static void *server_writer(void *arg)
{
    struct server_run *sr = arg;
    uint32_t seed = 31337;
    char out[256];
    for (int i = 0;; i++) {
        sem_wait(&sr->to_answer);
        if (i >= atomic_load(&sr->received)) /* only the reader's last wake-up */
            break;
        size_t len = build_response(i, req_is_head(i), out, sizeof out);
        size_t cut = 1 + rnd(&seed) % len;
        prog_write(sr->prog, out, cut);
        if (cut < len)
            prog_write(sr->prog, out + cut, len - cut);
    }
    shutdown(sr->prog, SHUT_WR);
    return NULL;
}

/* The client at the other end: requests, sometimes several at once. */
static void *server_peer_sender(void *arg)
{
    struct server_run *sr = arg;
    uint32_t seed = 5;
    uint64_t deadline = now_ms() + RUN_MS;
    char req[512];
    for (int i = 0; i < SV_MAX_REQUESTS && now_ms() < deadline; i++) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 10;
        if (sem_timedwait(&sr->window, &until) != 0) {
            thread_fail("request %d: no response for 10 s", i);
            break;
        }
        size_t head_len, len = build_request(i, req, sizeof req, &head_len);
        write_in_pieces(sr->peer, req, len, &seed);
        sr->sent++;
    }
    shutdown(sr->peer, SHUT_WR);
    return NULL;
}

/* ... and its reader: counts responses (by their status lines) to keep the
 * window moving. */
static void *server_peer_reader(void *arg)
{
    struct server_run *sr = arg;
    char buf[4096], tail[16] = {0};
    size_t tail_len = 0;
    static const char mark[] = "HTTP/1.1 ";
    const size_t m = sizeof mark - 1;
    for (;;) {
        char scan[4096 + 16];
        ssize_t r = read(sr->peer, buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        memcpy(scan, tail, tail_len);
        memcpy(scan + tail_len, buf, (size_t)r);
        size_t len = tail_len + (size_t)r;
        for (size_t i = 0; i + m <= len; i++)
            if (memcmp(scan + i, mark, m) == 0)
                sem_post(&sr->window);
        tail_len = len < m - 1 ? len : m - 1;
        memcpy(tail, scan + len - tail_len, tail_len);
    }
    return NULL;
}

static void test_server_receive_and_answer_threads(void **state)
{
    sink_reset();
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    ts_conn_track(sv[0], TS_ROLE_SERVER, NULL, 0);
    static struct server_run sr;
    memset(&sr, 0, sizeof sr);
    sr.prog = sv[0];
    sr.peer = sv[1];
    assert_int_equal(sem_init(&sr.to_answer, 0, 0), 0);
    assert_int_equal(sem_init(&sr.window, 0, SV_WINDOW), 0);
    pthread_t t[4];
    assert_int_equal(pthread_create(&t[0], NULL, server_reader, &sr), 0);
    assert_int_equal(pthread_create(&t[1], NULL, server_writer, &sr), 0);
    assert_int_equal(pthread_create(&t[2], NULL, server_peer_reader, &sr), 0);
    assert_int_equal(pthread_create(&t[3], NULL, server_peer_sender, &sr), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    ts_conn_untrack(sv[0]);
    close(sv[0]);
    close(sv[1]);
    sem_destroy(&sr.to_answer);
    sem_destroy(&sr.window);
    assert_no_thread_failure();
    pthread_mutex_lock(&sink_mu);
    int spans = sink_server;
    pthread_mutex_unlock(&sink_mu);
    print_message("server: %d requests\n", sr.sent);
    assert_true(sr.sent > SV_WINDOW);
    assert_int_equal(atomic_load(&sr.received), sr.sent);
    assert_int_equal(spans, sr.sent);
}

/* -------- (c'') a server upgrades the connection on its writing thread */

/* A WebSocket-style server with a reading and a writing thread: the
 * reading thread reads the upgrade request and hands it over, the writing
 * thread answers 101, the client then sends its frames, which the reading
 * thread reads. The 101 must end the request's span and stop parsing in
 * both directions: bytes inside the tunnel are not requests, even when
 * they look like one.
 *
 * It found a race (fixed): the writing thread turned the incoming
 * direction off under the outgoing direction's lock, and only after the
 * 101 had gone out, so the client's first tunnel bytes could be read and
 * parsed as a request. Now a 101 (or a 2xx to CONNECT) marks the
 * connection a tunnel before it is sent, and each direction stops under
 * its own lock (hooks/conn.c tunnel_ahead, conn_check_tunnel).
 */

enum { UP_MAX_CONNS = 50 };

/* What the client sends in the tunnel: it looks like a request, and must
 * not be taken for one. */
static const char up_frames[] = "GET /inside?i=999 HTTP/1.1\r\nHost: h\r\n\r\n";

struct upgrade_run {
    int prog, peer;
    int index;
    sem_t have_request; /* reader -> writer */
};

static void *upgrade_reader(void *arg)
{
    struct upgrade_run *ur = arg;
    char buf[512], seen[1024];
    size_t seen_len = 0;
    bool handed = false;
    for (;;) {
        ssize_t r = prog_read(ur->prog, buf, sizeof buf);
        if (r <= 0) {
            TCHECK(r == 0, "upgrade read: %s", strerror(errno));
            break;
        }
        size_t k = (size_t)r < sizeof seen - seen_len ? (size_t)r : sizeof seen - seen_len;
        memcpy(seen + seen_len, buf, k);
        seen_len += k;
        if (!handed && memmem(seen, seen_len, "\r\n\r\n", 4)) {
            handed = true;
            sem_post(&ur->have_request);
        }
    }
    TCHECK(handed, "no upgrade request");
    if (!handed)
        sem_post(&ur->have_request);
    return NULL;
}

static void *upgrade_writer(void *arg)
{
    struct upgrade_run *ur = arg;
    sem_wait(&ur->have_request);
    static const char resp[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                               "Connection: Upgrade\r\n\r\n";
    prog_write(ur->prog, resp, sizeof resp - 1);
    return NULL; /* and writes nothing more for a while: no ordering from here */
}

static void *upgrade_peer(void *arg)
{
    struct upgrade_run *ur = arg;
    char req[256], buf[512], seen[1024];
    int n = snprintf(req, sizeof req,
                     "GET /ws?i=%d HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\n\r\n",
                     ur->index);
    TCHECK(write(ur->peer, req, (size_t)n) == n, "peer write");
    size_t seen_len = 0;
    while (!memmem(seen, seen_len, "\r\n\r\n", 4)) {
        ssize_t r = read(ur->peer, buf, sizeof buf);
        if (r <= 0) {
            thread_fail("no 101 for the upgrade");
            break;
        }
        size_t k = (size_t)r < sizeof seen - seen_len ? (size_t)r : sizeof seen - seen_len;
        memcpy(seen + seen_len, buf, k);
        seen_len += k;
    }
    TCHECK(seen_len > 12 && memcmp(seen, "HTTP/1.1 101", 12) == 0, "not a 101");
    for (int i = 0; i < 3; i++) /* the frames, in the tunnel */
        TCHECK(write(ur->peer, up_frames, sizeof up_frames - 1) == (ssize_t)(sizeof up_frames - 1),
               "peer frame write");
    shutdown(ur->peer, SHUT_WR);
    return NULL;
}

static void test_server_upgrade_on_writer_thread(void **state)
{
    sink_reset();
    pthread_mutex_lock(&sink_mu);
    sink_code = 101;
    pthread_mutex_unlock(&sink_mu);
    uint64_t deadline = now_ms() + RUN_MS;
    int conns = 0;
    for (; conns < UP_MAX_CONNS && now_ms() < deadline; conns++) {
        int sv[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
        ts_conn_track(sv[0], TS_ROLE_SERVER, NULL, 0);
        struct upgrade_run ur = {sv[0], sv[1], conns, {{0}}};
        assert_int_equal(sem_init(&ur.have_request, 0, 0), 0);
        pthread_t t[3];
        assert_int_equal(pthread_create(&t[0], NULL, upgrade_reader, &ur), 0);
        assert_int_equal(pthread_create(&t[1], NULL, upgrade_writer, &ur), 0);
        assert_int_equal(pthread_create(&t[2], NULL, upgrade_peer, &ur), 0);
        for (int i = 0; i < 3; i++)
            pthread_join(t[i], NULL);
        ts_conn_untrack(sv[0]);
        close(sv[0]);
        close(sv[1]);
        sem_destroy(&ur.have_request);
        assert_no_thread_failure();
    }
    pthread_mutex_lock(&sink_mu);
    int spans = sink_server;
    pthread_mutex_unlock(&sink_mu);
    print_message("upgrade: %d connections\n", conns);
    assert_true(conns > 0);
    assert_int_equal(spans, conns); /* one per upgrade; nothing from inside the tunnels */
}

/* ------------------------------------------- (d) server spans in flight */

enum { IF_THREADS = 4, IF_ENTRIES = 16, IF_MAX_ROUNDS = 20000 };

/* Entry e of thread t: its inbound context (the key) and its server
 * context, derived from the key so any thread can check what it finds.
 * The low span id bytes, which pick the bucket, repeat across threads:
 * the chains are shared. */
static void if_key(int t, int e, struct ts_ctx *in)
{
    memset(in, 0, sizeof *in);
    for (int i = 0; i < TS_TRACE_ID_LEN; i++)
        in->trace_id[i] = (uint8_t)(0x10 + t * 31 + e + i);
    in->span_id[0] = (uint8_t)t;
    in->span_id[1] = (uint8_t)e;
    in->span_id[6] = 0;
    in->span_id[7] = (uint8_t)(e % 4); /* four buckets for everyone */
    in->valid = true;
}

static void if_server_of(const struct ts_ctx *in, struct ts_ctx *server)
{
    *server = *in;
    for (int i = 0; i < TS_SPAN_ID_LEN; i++)
        server->span_id[i] = (uint8_t)~in->span_id[i];
    memcpy(server->parent_id, in->span_id, TS_SPAN_ID_LEN);
}

static void *inflight_worker(void *arg)
{
    int t = (int)(uintptr_t)arg;
    uint32_t seed = (uint32_t)t * 911u + 3;
    struct ts_inflight mine[IF_ENTRIES];
    memset(mine, 0, sizeof mine);
    uint64_t deadline = now_ms() + RUN_MS;
    for (int round = 0; round < IF_MAX_ROUNDS && (round % 64 || now_ms() < deadline); round++) {
        int e = (int)(rnd(&seed) % IF_ENTRIES);
        struct ts_inflight *x = &mine[e];
        struct ts_ctx got, want;
        if (!x->linked) { /* a request arrives */
            if_key(t, e, &x->inbound);
            if_server_of(&x->inbound, &x->server);
            ts_inflight_add(x);
            TCHECK(ts_inflight_find(&x->inbound, NULL, &got, NULL), "own entry %d/%d not found", t,
                   e);
            TCHECK(memcmp(got.span_id, x->server.span_id, TS_SPAN_ID_LEN) == 0,
                   "own entry %d/%d: another's server context", t, e);
        } else { /* its response is done */
            ts_inflight_remove(x);
            TCHECK(!x->linked, "entry still linked");
            if (ts_inflight_find(&x->inbound, NULL, &got, NULL))
                thread_fail("removed entry %d/%d still found", t, e);
        }
        /* a proxy thread looks up some request of another thread */
        struct ts_ctx other;
        if_key((int)(rnd(&seed) % IF_THREADS), (int)(rnd(&seed) % IF_ENTRIES), &other);
        if (ts_inflight_find(&other, NULL, &got, NULL)) {
            if_server_of(&other, &want);
            TCHECK(memcmp(got.span_id, want.span_id, TS_SPAN_ID_LEN) == 0 &&
                       memcmp(got.trace_id, want.trace_id, TS_TRACE_ID_LEN) == 0,
                   "found another request's server context");
        }
    }
    for (int e = 0; e < IF_ENTRIES; e++)
        ts_inflight_remove(&mine[e]); /* harmless for those never added */
    return NULL;
}

static void test_inflight_add_find_remove(void **state)
{
    pthread_t t[IF_THREADS];
    for (int i = 0; i < IF_THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, inflight_worker, (void *)(uintptr_t)i), 0);
    for (int i = 0; i < IF_THREADS; i++)
        pthread_join(t[i], NULL);
    assert_no_thread_failure();
    struct ts_ctx k, got;
    for (int i = 0; i < IF_THREADS; i++)
        for (int e = 0; e < IF_ENTRIES; e++) {
            if_key(i, e, &k);
            assert_false(ts_inflight_find(&k, NULL, &got, NULL)); /* every entry unlinked */
        }
}

/* A fork while other threads hold the locks: the child's table works.
 * Threads link and unlink entries of one bucket (one lock) without a
 * pause while the test forks again and again; some forks catch the lock
 * held, by a thread the child does not have. The child, after
 * ts_inflight_after_fork, links, finds and unlinks an entry of that same
 * bucket; an alarm ends a child left waiting for the lock. */
enum { IF_FORKS = 200 };

static atomic_bool if_churn_stop;

static void *inflight_churn(void *arg)
{
    int t = (int)(uintptr_t)arg;
    struct ts_inflight x;
    memset(&x, 0, sizeof x);
    if_key(t, 0, &x.inbound);
    if_server_of(&x.inbound, &x.server);
    while (!atomic_load(&if_churn_stop)) {
        ts_inflight_add(&x);
        ts_inflight_remove(&x);
    }
    return NULL;
}

static void test_inflight_after_fork(void **state)
{
    pthread_t t[2];
    atomic_store(&if_churn_stop, false);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, inflight_churn, (void *)(uintptr_t)i), 0);
    int stuck = 0;
    for (int f = 0; f < IF_FORKS; f++) {
        pid_t pid = fork();
        if (pid == 0) {
            alarm(2);
            ts_inflight_after_fork();
            struct ts_inflight x;
            struct ts_ctx got;
            memset(&x, 0, sizeof x);
            if_key(IF_THREADS, 0, &x.inbound); /* bucket 0, like the threads' */
            if_server_of(&x.inbound, &x.server);
            ts_inflight_add(&x);
            bool found = ts_inflight_find(&x.inbound, NULL, &got, NULL) &&
                         memcmp(got.span_id, x.server.span_id, TS_SPAN_ID_LEN) == 0;
            ts_inflight_remove(&x);
            _exit(found && !ts_inflight_find(&x.inbound, NULL, &got, NULL) ? 0 : 1);
        }
        assert_true(pid > 0);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        stuck += !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    atomic_store(&if_churn_stop, true);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(stuck, 0);
}

/* TLS sessions across a fork. Until a process has made a session, its fork
 * handlers take none of the table's locks (preload/fork_state.h); once it
 * has, they hold every chain's lock over the fork. Either way the child's
 * table works: threads bind and forget sessions on one handle without a
 * pause while the test forks again and again; the child binds and forgets
 * a session on that handle's chain. */
enum { TLS_FORKS = 200 };

static atomic_bool tls_churn_stop;
static char tls_handles[3]; /* their addresses are the handles */

static void *tls_churn(void *arg)
{
    void *handle = arg;
    while (!atomic_load(&tls_churn_stop)) {
        tls_bind_fd(handle, 1000);
        tls_forget(handle);
    }
    return NULL;
}

/* Fork as the library's handlers do around it; 0 when the child's table
 * worked. */
static int tls_fork_child_works(void *handle)
{
    tls_sessions_fork_prepare();
    pid_t pid = fork();
    if (pid == 0) {
        tls_sessions_after_fork(true);
        alarm(2); /* a chain lock left held fails here */
        tls_bind_fd(handle, 1001);
        tls_forget(handle);
        _exit(0);
    }
    tls_sessions_fork_parent();
    assert_true(pid > 0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

static void test_tls_sessions_after_fork(void **state)
{
    assert_int_equal(tls_fork_child_works(&tls_handles[0]), 0); /* no session made yet */
#if defined(__SANITIZE_THREAD__)
    /* ThreadSanitizer's deadlock detector follows at most 64 locks held by
     * one thread, and the prepare handler holds 65 (every chain's and the
     * records' pool's): the rest runs in the other builds. */
    skip();
#endif
    pthread_t t[2];
    atomic_store(&tls_churn_stop, false);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, tls_churn, &tls_handles[1 + i]), 0);
    int stuck = 0;
    for (int f = 0; f < TLS_FORKS; f++)
        stuck += tls_fork_child_works(&tls_handles[1 + f % 2]);
    atomic_store(&tls_churn_stop, true);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(stuck, 0);
}

/* ------------------------------------------------- a bounded lock wait */

struct lock_holder {
    struct conn_lock *l;
    long hold_ms;
    sem_t taken;
};

static void *hold_lock(void *arg)
{
    struct lock_holder *h = arg;
    conn_lock(h->l);
    sem_post(&h->taken);
    struct timespec t = {h->hold_ms / 1000, (h->hold_ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0)
        ;
    conn_unlock(h->l);
    return NULL;
}

static void start_holder(struct lock_holder *h, pthread_t *t, struct conn_lock *l, long hold_ms)
{
    h->l = l;
    h->hold_ms = hold_ms;
    sem_init(&h->taken, 0, 0);
    assert_int_equal(pthread_create(t, NULL, hold_lock, h), 0);
    sem_wait(&h->taken);
}

/* conn_lock_within (a send with MSG_DONTWAIT beside a blocked one): a free
 * lock at once; a lock held past the bound: false after about the bound,
 * the lock still the holder's and working for everyone after; a lock let
 * go of within the bound: true. */
static void test_conn_lock_within_bounds_the_wait(void **state)
{
    (void)state;
    struct conn_lock l = {0};
    assert_true(conn_lock_within(&l, 1000000L));
    conn_unlock(&l);

    struct lock_holder h;
    pthread_t t;
    start_holder(&h, &t, &l, 300);
    uint64_t t0 = now_ms();
    errno = 77;
    assert_false(conn_lock_within(&l, 20 * 1000000L));
    uint64_t waited = now_ms() - t0;
    assert_int_equal(errno, 77);
    assert_true(waited >= 19 && waited < 250);
    conn_lock(&l); /* the holder's unlock wakes this one */
    assert_true(now_ms() - t0 >= 250);
    conn_unlock(&l);
    pthread_join(t, NULL);

    start_holder(&h, &t, &l, 10);
    t0 = now_ms();
    assert_true(conn_lock_within(&l, 2000 * 1000000L));
    assert_true(now_ms() - t0 < 1500);
    conn_unlock(&l);
    pthread_join(t, NULL);
    assert_int_equal(atomic_load(&l.state), 0);
}

int main(void)
{
    ts_real_resolve(); /* no preloaded library here: fill the table before any thread */
    ts_config_load(&ts_cfg, no_env);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_queue_producers_and_consumer, reset),
        cmocka_unit_test_setup(test_queue_wake_not_lost, reset),
        cmocka_unit_test_setup(test_fdtable_same_fds_many_threads, reset),
        cmocka_unit_test_setup(test_conn_track_untrack_get, reset),
        cmocka_unit_test_setup(test_client_send_and_receive_threads, reset),
        cmocka_unit_test_setup(test_server_receive_and_answer_threads, reset),
        cmocka_unit_test_setup(test_server_upgrade_on_writer_thread, reset),
        cmocka_unit_test_setup(test_inflight_add_find_remove, reset),
        cmocka_unit_test_setup(test_inflight_after_fork, reset),
        cmocka_unit_test_setup(test_tls_sessions_after_fork, reset),
        cmocka_unit_test_setup(test_conn_lock_within_bounds_the_wait, reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
