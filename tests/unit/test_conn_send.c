/* test_conn_send.c — the client's send path under a kernel that takes only
 * part of what it is offered: every return value must count the program's
 * own bytes on the wire, and the peer must get exactly the program's bytes
 * plus the header lines. Also: proxies forwarding a context they serve,
 * and response bodies sent where the shim cannot see them (sendfile). */
#include <pthread.h>

#include "conn_harness.h"
#include "preload/clock.h"
#include "preload/real.h"
#include "reporter/sampler.h"

/* ------------------------------------------------ a kernel with a budget */

/* Bytes the next sendmsg calls may still take (-1: no limit). At 0 the
 * next call fails with EAGAIN and the budget is refilled by refill(). */
static long budget = -1;
static long (*refill)(void);
static ts_real_sendmsg_fn libc_sendmsg;
/* Non-zero: every sendmsg fails with it, as under a seccomp filter that
 * lists write but not sendmsg. */
static int refuse_errno;

static long no_limit(void)
{
    return -1;
}

/* The flags of the sendmsg calls made, in order (the first 16). */
static int call_flags[16];
static int calls;

static ssize_t limited_sendmsg(int fd, const struct msghdr *msg, int flags)
{
    if (calls < 16)
        call_flags[calls] = flags;
    calls++;
    if (refuse_errno) {
        errno = refuse_errno;
        return -1;
    }
    if (budget < 0)
        return libc_sendmsg(fd, msg, flags);
    if (budget == 0) {
        budget = refill();
        errno = EAGAIN;
        return -1;
    }
    struct iovec v[1024];
    struct msghdr m = *msg;
    size_t left = (size_t)budget;
    int n = 0;
    for (size_t i = 0; i < msg->msg_iovlen && left > 0; i++) {
        size_t k = msg->msg_iov[i].iov_len < left ? msg->msg_iov[i].iov_len : left;
        v[n++] = (struct iovec){msg->msg_iov[i].iov_base, k};
        left -= k;
    }
    m.msg_iov = v;
    m.msg_iovlen = (size_t)n;
    ssize_t r = libc_sendmsg(fd, &m, flags);
    if (r > 0)
        budget -= r;
    return r;
}

static int setup_budget(void **state)
{
    setup(state);
    ts_real_resolve();
    if (!libc_sendmsg)
        libc_sendmsg = ts_real_sendmsg;
    ts_real_sendmsg = limited_sendmsg;
    budget = -1;
    refill = no_limit;
    refuse_errno = 0;
    calls = 0;
    return 0;
}

/* ------------------------------------------------------------- helpers */

/* The program's request with the span's header lines before its blank
 * line: what the peer must receive. */
static size_t wire_of(const char *req, size_t len, const struct ts_span *s, char *out, size_t cap)
{
    char lines[512];
    expected_lines(s, lines, sizeof lines);
    const char *eol = memchr(req, '\n', len);
    if (eol && eol > req && eol[-1] != '\r') { /* the head's lines end with LF: so do these */
        size_t k = 0;
        for (size_t i = 0; lines[i]; i++)
            if (lines[i] != '\r')
                lines[k++] = lines[i];
        lines[k] = '\0';
    }
    const char *blank = NULL;
    for (size_t i = 1; i < len; i++) {
        if (req[i - 1] == '\n' && (req[i] == '\r' || req[i] == '\n')) {
            blank = req + i;
            break;
        }
    }
    assert_non_null(blank);
    size_t before = (size_t)(blank - req);
    size_t n = (size_t)snprintf(out, cap, "%.*s%s", (int)before, req, lines);
    assert_true(n + len - before < cap);
    memcpy(out + n, blank, len - before);
    return n + len - before;
}

/* Write all of buf the way a careful non-blocking program does: resume
 * at exactly the offset the return values say, retry on EAGAIN. Checks
 * that no call claims 0 or more than it was given. Returns the first
 * call's result. */
static ssize_t write_all(struct pair *p, const char *buf, size_t len)
{
    size_t off = 0;
    ssize_t first = -2;
    int spins = 0;
    while (off < len) {
        ssize_t r = prog_write(p, buf + off, len - off);
        if (r < 0) {
            assert_int_equal(errno, EAGAIN);
            assert_true(++spins < 100000);
            continue;
        }
        assert_true(r > 0);
        assert_true((size_t)r <= len - off);
        if (first == -2)
            first = r;
        off += (size_t)r;
    }
    return first;
}

/* The peer answers every request so far with 204, and the program reads. */
static void answer(struct pair *p, int n)
{
    for (int i = 0; i < n; i++)
        peer_write(p, "HTTP/1.1 204 No Content\r\n\r\n");
    char buf[4096];
    int want = nspans + n;
    for (int tries = 0; nspans < want && tries < 100; tries++)
        prog_read(p, buf, sizeof buf);
    assert_int_equal(nspans, want);
}

/* ---------------------------------------------------------------- cuts */

static void test_every_cut_of_the_wire(void **state)
{
    (void)state;
    const char req[] = "POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello";
    size_t len = sizeof req - 1;
    size_t ins = (size_t)(strstr(req, "\r\n\r\n") - req) + 2;

    /* the injected length, from one uncut run */
    struct pair p = make_pair(TS_ROLE_CLIENT);
    write_all(&p, req, len);
    answer(&p, 1);
    char want[2048], got[4096];
    size_t wire = wire_of(req, len, &spans[0], want, sizeof want);
    size_t k = wire - len;
    close_pair(&p);

    for (size_t cut = 1; cut < wire; cut++) {
        nspans = 0;
        p = make_pair(TS_ROLE_CLIENT);
        budget = (long)cut;
        ssize_t first = write_all(&p, req, len);
        size_t expect = cut <= ins ? cut : cut < ins + k ? ins : cut - k;
        if ((size_t)first != expect)
            fail_msg("cut %zu: first write returned %zd, want %zu", cut, first, expect);
        answer(&p, 1);
        size_t n = wire_of(req, len, &spans[0], want, sizeof want);
        assert_int_equal(peer_read_all(&p, got, sizeof got), n);
        assert_memory_equal(got, want, n);
        close_pair(&p);
    }
}

/* A whole head that parses from its first byte is traced whatever its
 * method: one RFC 9110 does not name is _OTHER, the method as sent beside
 * it, as on a server's span (it went out untraced, byte for byte). A head
 * that comes in pieces is held back only when its first bytes start a
 * known method (test_conn.c, test_client_empty_line_between_requests: the
 * empty lines before a head go out first); the others go out byte for
 * byte, and the stream is not traced from there on. */
static void test_whole_heads_traced_whatever_the_method(void **state)
{
    (void)state;
    char got[4096], v[64];
    static const struct {
        const char *head, *method, *original; /* original NULL: none */
    } traced[] = {
        {"PATCH /x HTTP/1.1\r\nHost: h\r\n\r\n", "PATCH", NULL},
        {"MKCALENDAR /x HTTP/1.0\r\n\r\n", "_OTHER", "MKCALENDAR"},
        {"GET http://h/x HTTP/1.1\r\n\r\n", "GET", NULL},
        {"QUERY /x HTTP/1.1\r\nHost: h\r\n\r\n", "_OTHER", "QUERY"},
        {"FOO / HTTP/1.1\r\nHost: h\r\n\r\n", "_OTHER", "FOO"},
        {"get / HTTP/1.1\r\nHost: h\r\n\r\n", "_OTHER", "get"}, /* methods are case-sensitive */
        {"GETGETGETGETGETGETGETGETGETGETGETGET / HTTP/1.1\r\n\r\n", "_OTHER",
         "GETGETGETGETGETGETGETGETGETGETGETGET"},
    };
    for (size_t i = 0; i < sizeof traced / sizeof traced[0]; i++) {
        nspans = 0;
        struct pair p = make_pair(TS_ROLE_CLIENT);
        size_t len = strlen(traced[i].head);
        assert_int_equal(prog_write(&p, traced[i].head, len), (ssize_t)len);
        assert_true(peer_read_all(&p, got, sizeof got) > len);
        assert_non_null(strstr(got, "traceparent: 00-"));
        answer(&p, 1);
        close_pair(&p);
        assert_int_equal(nspans, 1);
        assert_string_equal(attr_str(&spans[0], "http.request.method", v, sizeof v),
                            traced[i].method);
        if (traced[i].original)
            assert_string_equal(attr_str(&spans[0], "http.request.method_original", v, sizeof v),
                                traced[i].original);
    }
    /* in two writes, the first without the blank line: not held back */
    static const char *const untraced[] = {"FOO / HTTP/1.1\r\nHost: h\r\n",
                                           "GETS / HTTP/1.1\r\nHost: h\r\n"};
    for (size_t i = 0; i < sizeof untraced / sizeof untraced[0]; i++) {
        nspans = 0;
        struct pair p = make_pair(TS_ROLE_CLIENT);
        size_t len = strlen(untraced[i]);
        assert_int_equal(prog_write(&p, untraced[i], len), (ssize_t)len);
        assert_int_equal(prog_write(&p, "\r\n", 2), 2);
        const char next[] = "GET /next HTTP/1.1\r\n\r\n";
        assert_int_equal(prog_write(&p, next, sizeof next - 1), (ssize_t)(sizeof next - 1));
        assert_int_equal(peer_read_all(&p, got, sizeof got), len + 2 + sizeof next - 1);
        assert_memory_equal(got, untraced[i], len);
        assert_memory_equal(got + len + 2, next, sizeof next - 1);
        assert_int_equal(nspans, 0);
        close_pair(&p);
    }
}

static void test_cr_then_lf_of_the_blank_line(void **state)
{
    (void)state;
    const char req[] = "GET /cr HTTP/1.1\r\nHost: h\r\n\r\n";
    size_t len = sizeof req - 1;
    char want[2048], got[4096];
    for (size_t cut = len - 4; cut < len; cut++) {
        nspans = 0;
        struct pair p = make_pair(TS_ROLE_CLIENT);
        assert_int_equal(prog_write(&p, req, cut), (ssize_t)cut);
        assert_int_equal(prog_write(&p, req + cut, len - cut), (ssize_t)(len - cut));
        answer(&p, 1);
        size_t n = wire_of(req, len, &spans[0], want, sizeof want);
        assert_int_equal(peer_read_all(&p, got, sizeof got), n);
        assert_memory_equal(got, want, n);
        close_pair(&p);
    }
}

static void test_lf_only_head_cut_inside_the_lines(void **state)
{
    (void)state;
    const char req[] = "GET /lf HTTP/1.1\nHost: h\n\n";
    size_t len = sizeof req - 1;
    struct pair p = make_pair(TS_ROLE_CLIENT);
    /* all but the blank line, then the blank line alone with a kernel that
     * takes 10 bytes: only injected bytes went, so the program hears EAGAIN
     * and sends its "\n" again */
    assert_int_equal(prog_write(&p, req, len - 1), (ssize_t)len - 1);
    budget = 10;
    errno = 0;
    assert_int_equal(prog_write(&p, req + len - 1, 1), -1);
    assert_int_equal(errno, EAGAIN);
    assert_int_equal(prog_write(&p, req + len - 1, 1), 1);
    answer(&p, 1);
    char want[2048], got[4096];
    size_t n = wire_of(req, len, &spans[0], want, sizeof want);
    assert_int_equal(peer_read_all(&p, got, sizeof got), n);
    assert_memory_equal(got, want, n);
    close_pair(&p);
}

static void test_pipelined_heads_in_one_write(void **state)
{
    (void)state;
    const char reqs[] = "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n"
                        "POST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nok"
                        "GET /3 HTTP/1.1\r\nHost: h\r\n\r\n";
    size_t len = sizeof reqs - 1;
    struct pair p = make_pair(TS_ROLE_CLIENT);
    assert_int_equal(prog_write(&p, reqs, len), (ssize_t)len);
    answer(&p, 3);
    char want[4096], got[4096];
    size_t n = 0;
    const char *r = reqs;
    for (int i = 0; i < 3; i++) {
        const char *next = i < 2 ? strstr(r + 1, i == 0 ? "POST" : "GET /3") : reqs + len;
        n += wire_of(r, (size_t)(next - r), &spans[i], want + n, sizeof want - n);
        r = next;
    }
    assert_int_equal(peer_read_all(&p, got, sizeof got), n);
    assert_memory_equal(got, want, n);
    close_pair(&p);
}

/* A program's one write of several messages goes out in a call for each
 * (the lines go into each head), all but the last with MSG_MORE: the
 * kernel sends them as one segment, as it would have the program's call.
 * Apart, a head behind another segment waits under Nagle for the peer's
 * acknowledgement. The program's own MSG_MORE stays on every call. */
static ssize_t prog_send_flags(struct pair *p, const char *buf, size_t len, int flags)
{
    struct iovec iov = {(void *)buf, len};
    struct write_call w = {p->prog, &iov, 1};
    struct ts_conn *c = ts_conn_get(p->prog);
    assert_non_null(c);
    ssize_t r = ts_conn_send(c, p->prog, &iov, 1, flags, pass_writev, &w);
    ts_conn_put(c);
    return r;
}

static void test_one_write_of_several_messages_is_held_for_one_segment(void **state)
{
    (void)state;
    static const struct {
        const char *bytes;
        int program_flags;
        int calls;
    } cases[] = {
        {"GET /1 HTTP/1.1\r\nHost: h\r\n\r\n"
         "POST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nok"
         "GET /3 HTTP/1.1\r\nHost: h\r\n\r\n",
         0, 3},
        /* an old client's blank line after a body, sent with the next head */
        {"\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n", 0, 2},
        {"GET /one HTTP/1.1\r\nHost: h\r\n\r\n", 0, 1},
        {"GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n", MSG_MORE, 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nspans = 0;
        calls = 0;
        struct pair p = make_pair(TS_ROLE_CLIENT);
        size_t len = strlen(cases[i].bytes);
        assert_int_equal(prog_send_flags(&p, cases[i].bytes, len, cases[i].program_flags),
                         (ssize_t)len);
        assert_int_equal(calls, cases[i].calls);
        for (int k = 0; k < calls; k++) {
            bool more = k < calls - 1 || (cases[i].program_flags & MSG_MORE);
            assert_int_equal(call_flags[k] & MSG_MORE, more ? MSG_MORE : 0);
        }
        close_pair(&p);
    }
}

/* ------------------------------------------------- random segmentation */

static uint64_t rng_state;
static uint32_t rnd(uint32_t n)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(rng_state >> 33) % n;
}

static long random_budget(void)
{
    return rnd(4) == 0 ? -1 : (long)rnd(200);
}

/* One random request: no body, a length, or chunks with extensions and
 * trailers. */
static size_t random_request(char *out, size_t cap, int i)
{
    int n =
        snprintf(out, cap, "%s /r/%d HTTP/1.1\r\nHost: h%d\r\nX-Pad: %.*s\r\n",
                 rnd(2) ? "GET" : "PUT", i, i, (int)rnd(300),
                 "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz"
                 "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz"
                 "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz"
                 "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz");
    switch (rnd(3)) {
    case 0:
        n += snprintf(out + n, cap - (size_t)n, "\r\n");
        break;
    case 1: {
        int body = (int)rnd(700);
        n += snprintf(out + n, cap - (size_t)n, "Content-Length: %d\r\n\r\n", body);
        for (int k = 0; k < body; k++)
            out[n++] = (char)('A' + k % 26);
        break;
    }
    default:
        n += snprintf(out + n, cap - (size_t)n,
                      "Transfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n"
                      "3\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n");
    }
    return (size_t)n;
}

static void test_random_segmentation_and_budgets(void **state)
{
    (void)state;
    rng_state = 20261121;
    refill = random_budget;
    static char sent_wire[1 << 20], got[1 << 20];
    size_t wire = 0, got_len = 0;
    struct pair p = make_pair(TS_ROLE_CLIENT);
    for (int i = 0; i < 400; i++) {
        char req[4096];
        size_t len = random_request(req, sizeof req, i);
        budget = random_budget();
        size_t off = 0;
        while (off < len) {
            /* a random piece, sometimes as a writev of several iovecs */
            size_t piece = 1 + rnd((uint32_t)(len - off));
            ssize_t r;
            if (rnd(2)) {
                struct iovec iov[4];
                int niov = 0;
                size_t at = off, left = piece;
                while (left && niov < 4) {
                    size_t k = niov == 3 ? left : 1 + rnd((uint32_t)left);
                    iov[niov++] = (struct iovec){req + at, k};
                    at += k;
                    left -= k;
                }
                r = prog_writev(&p, iov, niov);
            } else {
                r = prog_write(&p, req + off, piece);
            }
            if (r < 0) {
                assert_int_equal(errno, EAGAIN);
                continue;
            }
            assert_true(r > 0 && (size_t)r <= piece);
            off += (size_t)r;
        }
        budget = -1;
        answer(&p, 1);
        wire += wire_of(req, len, &spans[nspans - 1], sent_wire + wire, sizeof sent_wire - wire);
        got_len += peer_read_all(&p, got + got_len, sizeof got - got_len);
    }
    assert_int_equal(got_len, wire);
    for (size_t i = 0; i < wire; i++)
        if (got[i] != sent_wire[i])
            fail_msg("first difference at byte %zu of %zu: got \"%.40s\" want \"%.40s\"", i, wire,
                     got + i, sent_wire + i);
    close_pair(&p);
}

/* The client span spans[0] sent wire[0..n) (a request head); a traced
 * server that reads it (into buf, cap bytes at a time) and answers makes
 * its span a child of that one. */
static void a_traced_server_continues(const char *wire, size_t n, char *buf, size_t cap)
{
    const struct ts_span client = spans[0];
    struct pair srv = make_pair(TS_ROLE_SERVER);
    assert_int_equal(write(srv.peer, wire, n), (ssize_t)n);
    while (prog_read(&srv, buf, cap) == (ssize_t)cap)
        ;
    prog_write(&srv, "HTTP/1.1 204 No Content\r\n\r\n", 27);
    close_pair(&srv);
    assert_int_equal(nspans, 2);
    assert_int_equal(spans[1].kind, TS_KIND_SERVER);
    assert_memory_equal(spans[1].trace_id, client.trace_id, TS_TRACE_ID_LEN);
    assert_memory_equal(spans[1].parent_id, client.span_id, TS_SPAN_ID_LEN);
}

/* A head gets the trace lines only when it stays within what a traced
 * server reads (CONN_MAX_REQUEST_HEADERS lines): 106 lines and the 4 added
 * go, and a traced server follows them; 107 go as they are (a probe: 107
 * to 110 got lines that the next service's shim gave the connection up
 * for, ending the trace there). */
static void test_trace_lines_only_where_a_server_reads_them(void **state)
{
    (void)state;
    static char head[8192], got[16384], buf[256];
    for (int lines = 106; lines <= 107; lines++) {
        nspans = 0;
        size_t n = (size_t)snprintf(head, sizeof head, "GET /many HTTP/1.1\r\nHost: h\r\n");
        for (int i = 1; i < lines; i++)
            n += (size_t)snprintf(head + n, sizeof head - n, "X-L%d: v\r\n", i);
        n += (size_t)snprintf(head + n, sizeof head - n, "\r\n");
        struct pair p = make_pair(TS_ROLE_CLIENT);
        assert_int_equal(prog_write(&p, head, n), (ssize_t)n);
        size_t wire = peer_read_all(&p, got, sizeof got);
        if (lines == 107) {
            assert_int_equal(wire, n); /* untouched */
            assert_memory_equal(got, head, n);
            close_pair(&p);
            assert_int_equal(nspans, 0);
            continue;
        }
        answer(&p, 1);
        close_pair(&p);
        assert_int_equal(nspans, 1);
        a_traced_server_continues(got, wire, buf, sizeof buf);
    }
}

/* A head whose lines end with a bare LF gets its trace lines so ended:
 * Twisted waits for CRLF, and answered 400 to a head that mixed the two
 * (untraced, it waits). A traced server reads them. */
static void test_trace_lines_end_as_the_heads_lines(void **state)
{
    (void)state;
    const char *head = "GET /lf HTTP/1.1\nHost: x\nConnection: close\n\n";
    struct pair p = make_pair(TS_ROLE_CLIENT);
    assert_int_equal(prog_write(&p, head, strlen(head)), (ssize_t)strlen(head));
    char got[1024];
    size_t wire = peer_read_all(&p, got, sizeof got);
    assert_true(wire > strlen(head));
    assert_null(memchr(got, '\r', wire));
    assert_memory_equal(got, head, strlen(head) - 1); /* the lines before the blank one */
    assert_non_null(strstr(got, "\ntraceparent: 00-"));
    assert_int_equal(strcmp(got + wire - 2, "\n\n"), 0);
    answer(&p, 1);
    close_pair(&p);
    assert_int_equal(nspans, 1);
    char buf[1024];
    a_traced_server_continues(got, wire, buf, sizeof buf);
}

/* A head within what servers commonly take (99 header lines: Python's
 * http.server, whose 100 count the blank line; 8 KiB: lighttpd, Tomcat; 15 KiB: HAProxy; 16 KiB:
 * Node) that the trace lines would take past
 * it goes as the program wrote it: its server would refuse it (431), as it
 * does not untraced. The client span stays. One that keeps within gets
 * the lines. Within by the measure of a server that counts the header
 * lines without the request line (20 bytes here) too: Netty, Jetty (9.4
 * took 8,208 bytes, and refused them with the lines). */
static void test_trace_lines_only_where_a_server_takes_them(void **state)
{
    (void)state;
    static char head[20000], got[24000];
    static const struct {
        int lines;    /* header lines, Host included */
        size_t bytes; /* else: the head's size, with one long cookie */
        bool lines_in;
    } cases[] = {{95, 0, true},    {96, 0, false},    {0, 7900, true},  {0, 8100, false},
                 {0, 8205, false}, {0, 8212, false},  {0, 8213, true},  {0, 8300, true},
                 {0, 15000, true}, {0, 15250, false}, {0, 15400, true}, {0, 16000, true},
                 {0, 16300, false}}; /* the lines: 166 bytes */
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        nspans = 0;
        size_t n = (size_t)snprintf(head, sizeof head, "GET /near HTTP/1.1\r\nHost: h\r\n");
        if (cases[k].lines) {
            for (int i = 1; i < cases[k].lines; i++)
                n += (size_t)snprintf(head + n, sizeof head - n, "X-L%d: v\r\n", i);
            n += (size_t)snprintf(head + n, sizeof head - n, "\r\n");
        } else {
            n += (size_t)snprintf(head + n, sizeof head - n, "Cookie: %0*d\r\n\r\n",
                                  (int)(cases[k].bytes - n - 12), 0);
            assert_int_equal(n, cases[k].bytes);
        }
        struct pair p = make_pair(TS_ROLE_CLIENT);
        assert_int_equal(prog_write(&p, head, n), (ssize_t)n);
        size_t wire = peer_read_all(&p, got, sizeof got);
        if (cases[k].lines_in) {
            assert_true(wire > n);
            assert_non_null(strstr(got, "\r\ntraceparent: 00-"));
        } else {
            assert_int_equal(wire, n);
            assert_memory_equal(got, head, n);
        }
        answer(&p, 1); /* the span in both cases */
        close_pair(&p);
    }
}

/* -------------------------------------------------------------- proxies */

#define T "0af7651916cd43dd8448eb211c80319c"
#define S0 "b7ad6b7169203331"
#define P0 "00f067aa0ba902b7"

static void serve_request(struct pair *p, const char *head)
{
    peer_write(p, head);
    char buf[2048];
    prog_read(p, buf, sizeof buf);
}

static void test_proxy_forwarded_context_is_rewritten_to_its_client_span(void **state)
{
    (void)state;
    /* the request the proxy serves, and another one served after it on the
     * same thread (an event loop): the thread's current span is the wrong
     * parent, the forwarded context names the right one */
    struct pair in = make_pair(TS_ROLE_SERVER);
    serve_request(&in, "GET /in HTTP/1.1\r\nHost: proxy\r\nX-B3-TraceId: " T "\r\nX-B3-SpanId: " S0
                       "\r\nX-B3-ParentSpanId: " P0 "\r\nX-B3-Sampled: 1\r\n"
                       "traceparent: 00-" T "-" S0 "-01\r\nb3: " T "-" S0 "-1-" P0 "\r\n\r\n");
    struct pair other = make_pair(TS_ROLE_SERVER);
    serve_request(&other, "GET /other HTTP/1.1\r\nHost: proxy\r\n\r\n");

    const char fwd[] = "GET /up HTTP/1.1\r\nHost: up\r\nX-B3-TraceId: " T "\r\nX-B3-SpanId: " S0
                       "\r\nX-B3-ParentSpanId: " P0 "\r\nX-B3-Sampled: 1\r\n"
                       "traceparent: 00-" T "-" S0 "-01\r\nb3: " T "-" S0 "-1-" P0 "\r\n\r\n";
    struct pair up = make_pair(TS_ROLE_CLIENT);
    assert_int_equal(prog_write(&up, fwd, sizeof fwd - 1), (ssize_t)sizeof fwd - 1);
    answer(&up, 1);
    const struct ts_span *client = &spans[nspans - 1];

    assert_int_equal(prog_write(&in, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 38), 38);
    const struct ts_span *server = &spans[nspans - 1];
    assert_int_equal(server->kind, TS_KIND_SERVER);
    char sid[17], cid[17], tid[33], pid[17];
    hex(server->span_id, 8, sid);
    hex(client->span_id, 8, cid);
    hex(client->trace_id, 16, tid);
    hex(server->parent_id, 8, pid);
    assert_string_equal(tid, T);
    assert_string_equal(pid, S0);
    assert_memory_equal(client->parent_id, server->span_id, 8);

    /* same bytes, same length, the ids of the new client span and its
     * parent in every format; nothing added (all formats are there) */
    char want[2048], got[2048];
    snprintf(want, sizeof want,
             "GET /up HTTP/1.1\r\nHost: up\r\nX-B3-TraceId: " T "\r\nX-B3-SpanId: %s\r\n"
             "X-B3-ParentSpanId: %s\r\nX-B3-Sampled: 1\r\ntraceparent: 00-" T "-%s-01\r\n"
             "b3: " T "-%s-1-%s\r\n\r\n",
             cid, sid, cid, cid, sid);
    peer_read_all(&up, got, sizeof got);
    assert_string_equal(got, want);
    close_pair(&up);
    close_pair(&in);
    close_pair(&other);
}

static void *serve_on_this_thread(void *arg)
{
    serve_request(arg, "GET /twin HTTP/1.1\r\nHost: p\r\ntraceparent: 00-" T "-" S0 "-01\r\n\r\n");
    return NULL;
}

/* A client that sends the same trace headers on two concurrent requests,
 * served by two threads: each thread's forwarded call is the child of the
 * request that thread serves (it was the child of the one started last,
 * another thread's, whatever the thread). */
static void test_proxy_same_context_twice_takes_the_threads_own(void **state)
{
    (void)state;
    struct pair mine = make_pair(TS_ROLE_SERVER), twin = make_pair(TS_ROLE_SERVER);
    serve_request(&mine,
                  "GET /mine HTTP/1.1\r\nHost: p\r\ntraceparent: 00-" T "-" S0 "-01\r\n\r\n");
    pthread_t t; /* the twin starts last, on a thread of its own */
    assert_int_equal(pthread_create(&t, NULL, serve_on_this_thread, &twin), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    uint8_t my_span[8];
    memcpy(my_span, ts_ctx_current()->span_id, 8);

    const char fwd[] = "GET /up HTTP/1.1\r\nHost: up\r\ntraceparent: 00-" T "-" S0 "-01\r\n\r\n";
    struct pair up = make_pair(TS_ROLE_CLIENT);
    assert_int_equal(prog_write(&up, fwd, sizeof fwd - 1), (ssize_t)sizeof fwd - 1);
    answer(&up, 1);
    assert_memory_equal(spans[nspans - 1].parent_id, my_span, 8);
    char got[2048], want[128], cid[17];
    hex(spans[nspans - 1].span_id, 8, cid);
    snprintf(want, sizeof want, "traceparent: 00-" T "-%s-01\r\n", cid);
    peer_read_all(&up, got, sizeof got);
    assert_non_null(strstr(got, want));
    close_pair(&up);
    close_pair(&mine);
    close_pair(&twin);
}

static void test_proxy_ids_already_on_the_wire_are_left_alone(void **state)
{
    (void)state;
    struct pair in = make_pair(TS_ROLE_SERVER);
    serve_request(&in, "GET /in HTTP/1.1\r\nHost: p\r\ntraceparent: 00-" T "-" S0 "-01\r\n\r\n");
    const char part1[] = "GET /up HTTP/1.1\r\ntraceparent: 00-" T "-" S0 "-01\r\n";
    const char part2[] = "Host: up\r\n\r\n";
    struct pair up = make_pair(TS_ROLE_CLIENT);
    assert_int_equal(prog_write(&up, part1, sizeof part1 - 1), (ssize_t)sizeof part1 - 1);
    assert_int_equal(prog_write(&up, part2, sizeof part2 - 1), (ssize_t)sizeof part2 - 1);
    answer(&up, 1);
    char pid[17];
    hex(spans[nspans - 1].parent_id, 8, pid);
    assert_string_equal(pid, S0); /* the program's context, as before */
    char got[2048];
    peer_read_all(&up, got, sizeof got);
    assert_non_null(strstr(got, "traceparent: 00-" T "-" S0 "-01\r\n"));
    close_pair(&up);
    close_pair(&in);
}

/* An environment whose sampler follows a parent's decision and turns down
 * roots, and a parent that left it open (for ts_sampler_load). */
static const char *parent_off_env(const char *name)
{
    return strcmp(name, "OTEL_TRACES_SAMPLER") == 0 ? "parentbased_always_off" : NULL;
}

/* tpl with each {C} replaced by c and each {S} by s. */
static void expand(const char *tpl, const char *c, const char *s, char *out, size_t cap)
{
    size_t n = 0;
    while (*tpl && n + 17 < cap) {
        if (tpl[0] == '{' && (tpl[1] == 'C' || tpl[1] == 'S') && tpl[2] == '}') {
            memcpy(out + n, tpl[1] == 'C' ? c : s, 16);
            n += 16;
            tpl += 3;
        } else {
            out[n++] = *tpl++;
        }
    }
    out[n] = '\0';
}

/* The proxy serves a request with in_lines and forwards fwd, its bytes
 * written as a careful non-blocking program does under a kernel that
 * takes cut bytes first (-1: all). The upstream must get want ({C}: the
 * client span's id, {S}: its parent's, the server span's) and the client
 * span be sampled so (a TS_SPAN_* set). Returns the first write's count. */
static ssize_t forward_through_proxy(const char *in_lines, const char *fwd, long cut,
                                     const char *want_tpl, uint8_t sampled)
{
    struct pair in = make_pair(TS_ROLE_SERVER);
    char head[1024];
    snprintf(head, sizeof head, "GET /in HTTP/1.1\r\nHost: proxy\r\n%s\r\n", in_lines);
    serve_request(&in, head);
    struct pair up = make_pair(TS_ROLE_CLIENT);
    budget = cut;
    ssize_t first = write_all(&up, fwd, strlen(fwd));
    budget = -1;
    answer(&up, 1);
    const struct ts_span *client = &spans[nspans - 1];
    assert_int_equal(client->kind, TS_KIND_CLIENT);
    assert_int_equal(client->sampled, sampled);
    char cid[17], sid[17], want[2048], got[2048];
    hex(client->span_id, 8, cid);
    hex(client->parent_id, 8, sid);
    expand(want_tpl, cid, sid, want, sizeof want);
    peer_read_all(&up, got, sizeof got);
    if (strcmp(got, want) != 0)
        fail_msg("cut %ld: the upstream got\n%s\nwant\n%s", cut, got, want);
    assert_int_equal(prog_write(&in, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 38), 38);
    const struct ts_span *server = &spans[nspans - 1];
    assert_int_equal(server->kind, TS_KIND_SERVER);
    assert_memory_equal(server->span_id, client->parent_id, 8);
    close_pair(&up);
    close_pair(&in);
    return first;
}

#define B3_IN "X-B3-TraceId: " T "\r\nX-B3-SpanId: " S0 "\r\n"
#define UP "GET /up HTTP/1.1\r\nHost: up\r\n"

/* A proxy forwards a B3 context that came without a decision (as it
 * came): the forwarded B3 says the one made for the proxy's client span,
 * or the next traced service, reading B3 first, decides again (records
 * spans whose parents were not, or drops those of a recorded trace). A
 * decision the program wrote is left as it is. */
static void test_proxy_forwarded_b3_carries_the_decision(void **state)
{
    (void)state;
    const uint8_t on = TS_SPAN_SAMPLED, dbg = TS_SPAN_SAMPLED | TS_SPAN_DEBUG;
    static const struct {
        bool off; /* parentbased_always_off, else the default sampler */
        const char *in, *fwd, *want;
        uint8_t sampled;
    } cases[] = {
        {true, B3_IN, UP B3_IN "\r\n",
         UP "X-B3-TraceId: " T "\r\nX-B3-SpanId: {C}\r\ntraceparent: 00-" T "-{C}-00\r\n"
            "X-B3-Sampled: 0\r\n\r\n",
         0},
        {false, B3_IN, UP B3_IN "\r\n",
         UP "X-B3-TraceId: " T "\r\nX-B3-SpanId: {C}\r\ntraceparent: 00-" T "-{C}-01\r\n"
            "X-B3-Sampled: 1\r\n\r\n",
         on},
        /* single: the field after the span id, the added lines after it */
        {true, "b3: " T "-" S0 "\r\n", "GET /up HTTP/1.1\r\nb3: " T "-" S0 "\r\nHost: up\r\n\r\n",
         "GET /up HTTP/1.1\r\nb3: " T "-{C}-0\r\nX-B3-TraceId: " T "\r\nX-B3-SpanId: {C}\r\n"
         "X-B3-ParentSpanId: {S}\r\nX-B3-Sampled: 0\r\ntraceparent: 00-" T "-{C}-00\r\n"
         "Host: up\r\n\r\n",
         0},
        {false, "b3: " T "-" S0 "\r\n", UP "b3: " T "-" S0 "\r\n\r\n",
         UP "b3: " T "-{C}-1\r\nX-B3-TraceId: " T "\r\nX-B3-SpanId: {C}\r\n"
            "X-B3-ParentSpanId: {S}\r\nX-B3-Sampled: 1\r\ntraceparent: 00-" T "-{C}-01\r\n\r\n",
         on},
        /* debug (the program dropped the flag): "d" and X-B3-Flags */
        {false, "b3: " T "-" S0 "-d\r\n", UP "b3: " T "-" S0 "\r\n" B3_IN "\r\n",
         UP "b3: " T "-{C}-d\r\ntraceparent: 00-" T "-{C}-01\r\nX-B3-Flags: 1\r\n"
            "X-B3-TraceId: " T "\r\nX-B3-SpanId: {C}\r\n\r\n",
         dbg},
        /* every format there: only the decision is added */
        {true, B3_IN, UP B3_IN "traceparent: 00-" T "-" S0 "-01\r\n\r\n",
         UP "X-B3-TraceId: " T "\r\nX-B3-SpanId: {C}\r\ntraceparent: 00-" T "-{C}-01\r\n"
            "X-B3-Sampled: 0\r\n\r\n",
         0},
        /* the program's own decision stands */
        {true, B3_IN, UP B3_IN "X-B3-Sampled: 1\r\n\r\n",
         UP "X-B3-TraceId: " T "\r\nX-B3-SpanId: {C}\r\nX-B3-Sampled: 1\r\n"
            "traceparent: 00-" T "-{C}-00\r\n\r\n",
         0},
        {true, B3_IN, UP "b3: " T "-" S0 "-1\r\n\r\n",
         UP "b3: " T "-{C}-1\r\nX-B3-TraceId: " T "\r\nX-B3-SpanId: {C}\r\n"
            "X-B3-ParentSpanId: {S}\r\nX-B3-Sampled: 0\r\ntraceparent: 00-" T "-{C}-00\r\n\r\n",
         0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        assert_int_equal(ts_sampler_load(cases[i].off ? parent_off_env : NULL), 0);
        forward_through_proxy(cases[i].in, cases[i].fwd, -1, cases[i].want, cases[i].sampled);
    }
    ts_sampler_load(NULL);
}

static const char *always_on_env(const char *name)
{
    return strcmp(name, "OTEL_TRACES_SAMPLER") == 0 ? "always_on" : NULL;
}

/* A proxy forwards the decision its request came with, and the sampler
 * decided otherwise for its client span (always_off or a ratio at the
 * edge, always_on, B3's "no" beside a traceparent saying yes): the
 * forwarded decision fields say the client span's decision, as the ids
 * name it, or a W3C peer records a child of a span never recorded (or
 * drops what was). The trace id's "random" flag stays. */
static void test_proxy_forwarded_decision_is_the_client_spans(void **state)
{
    (void)state;
    const uint8_t on = TS_SPAN_SAMPLED;
    static const struct {
        const char *(*env)(const char *);
        const char *in, *fwd, *want;
        uint8_t sampled;
    } cases[] = {
        {always_off_env, "traceparent: 00-" T "-" S0 "-01\r\n",
         UP "traceparent: 00-" T "-" S0 "-01\r\n\r\n",
         UP "traceparent: 00-" T "-{C}-00\r\nX-B3-TraceId: " T "\r\nX-B3-SpanId: {C}\r\n"
            "X-B3-ParentSpanId: {S}\r\nX-B3-Sampled: 0\r\n\r\n",
         0},
        {always_on_env, "traceparent: 00-" T "-" S0 "-00\r\n",
         UP "traceparent: 00-" T "-" S0 "-00\r\n\r\n",
         UP "traceparent: 00-" T "-{C}-01\r\nX-B3-TraceId: " T "\r\nX-B3-SpanId: {C}\r\n"
            "X-B3-ParentSpanId: {S}\r\nX-B3-Sampled: 1\r\n\r\n",
         on},
        /* random (0x02) kept, an unknown flag (0x08) dropped */
        {always_off_env, "traceparent: 00-" T "-" S0 "-0b\r\n",
         UP "traceparent: 00-" T "-" S0 "-0b\r\n\r\n",
         UP "traceparent: 00-" T "-{C}-02\r\nX-B3-TraceId: " T "\r\nX-B3-SpanId: {C}\r\n"
            "X-B3-ParentSpanId: {S}\r\nX-B3-Sampled: 0\r\n\r\n",
         0},
        /* B3's "no" wins over the traceparent's yes, for us and upstream */
        {NULL, B3_IN "X-B3-Sampled: 0\r\ntraceparent: 00-" T "-" S0 "-01\r\n",
         UP B3_IN "X-B3-Sampled: 0\r\ntraceparent: 00-" T "-" S0 "-01\r\n\r\n",
         UP "X-B3-TraceId: " T "\r\nX-B3-SpanId: {C}\r\nX-B3-Sampled: 0\r\n"
            "traceparent: 00-" T "-{C}-00\r\n\r\n",
         0},
        {always_off_env, "b3: " T "-" S0 "-1\r\n", UP "b3: " T "-" S0 "-1\r\n\r\n",
         UP "b3: " T "-{C}-0\r\nX-B3-TraceId: " T "\r\nX-B3-SpanId: {C}\r\n"
            "X-B3-ParentSpanId: {S}\r\nX-B3-Sampled: 0\r\ntraceparent: 00-" T "-{C}-00\r\n\r\n",
         0},
        {always_off_env, B3_IN "X-B3-Sampled: 1\r\n", UP B3_IN "X-B3-Sampled: 1\r\n\r\n",
         UP "X-B3-TraceId: " T "\r\nX-B3-SpanId: {C}\r\nX-B3-Sampled: 0\r\n"
            "traceparent: 00-" T "-{C}-00\r\n\r\n",
         0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        assert_int_equal(ts_sampler_load(cases[i].env), 0);
        forward_through_proxy(cases[i].in, cases[i].fwd, -1, cases[i].want, cases[i].sampled);
    }
    ts_sampler_load(NULL);
}

/* The decision put into "b3: T-S" goes out exactly wherever the kernel
 * cuts the write: the program hears of its bytes before the inserted
 * ones (which begin at the b3 value's end), then of the rest. */
static void test_proxy_b3_single_decision_every_cut(void **state)
{
    (void)state;
    const char fwd[] = "GET /up HTTP/1.1\r\nb3: " T "-" S0 "\r\nHost: up\r\n\r\n";
    const char want[] = "GET /up HTTP/1.1\r\nb3: " T "-{C}-0\r\nX-B3-TraceId: " T
                        "\r\nX-B3-SpanId: {C}\r\nX-B3-ParentSpanId: {S}\r\nX-B3-Sampled: 0\r\n"
                        "traceparent: 00-" T "-{C}-00\r\nHost: up\r\n\r\n";
    size_t len = sizeof fwd - 1;
    size_t ins = (size_t)(strstr(fwd, S0) - fwd) + 16;
    size_t wire = sizeof want - 1;
    for (const char *id = want; (id = strchr(id, '{')) != NULL; id++)
        wire += 16 - 3; /* {C} or {S}: 16 hex digits */
    size_t k = wire - len;
    assert_int_equal(ts_sampler_load(parent_off_env), 0);
    for (size_t cut = 1; cut < wire; cut++) {
        size_t expect = cut <= ins ? cut : cut < ins + k ? ins : cut - k;
        ssize_t first = forward_through_proxy("b3: " T "-" S0 "\r\n", fwd, (long)cut, want, 0);
        if ((size_t)first != expect)
            fail_msg("cut %zu: first write returned %zd, want %zu", cut, first, expect);
    }
    ts_sampler_load(NULL);
}

/* The program said "X-B3-Sampled: 0" without ids: our span is not
 * sampled, and the lines we add say so (no contradicting "sampled"). */
static void test_program_deny_is_kept(void **state)
{
    (void)state;
    const char req[] = "GET /quiet HTTP/1.1\r\nHost: h\r\nX-B3-Sampled: 0\r\n\r\n";
    struct pair p = make_pair(TS_ROLE_CLIENT);
    assert_int_equal(prog_write(&p, req, sizeof req - 1), (ssize_t)sizeof req - 1);
    answer(&p, 1);
    assert_int_equal(spans[nspans - 1].sampled, 0);
    assert_int_equal(spans[nspans - 1].nattrs, 0); /* not exported: not described */
    char got[2048];
    peer_read_all(&p, got, sizeof got);
    char *tp = strstr(got, "traceparent: 00-");
    assert_non_null(tp);
    assert_memory_equal(tp + 16 + 32 + 1 + 16, "-00\r\n", 5);
    close_pair(&p);
}

/* A client request with the program's own header lines (lines: without
 * the last line end): what went out on the wire into got, answered; the
 * client span the shim made of it. */
static const struct ts_span *send_with_lines(const char *path, const char *lines, char *got,
                                             size_t cap)
{
    char req[1024];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: h\r\n%s\r\n\r\n", path, lines);
    struct pair p = make_pair(TS_ROLE_CLIENT);
    assert_int_equal(prog_write(&p, req, strlen(req)), (ssize_t)strlen(req));
    peer_read_all(&p, got, cap);
    answer(&p, 1);
    close_pair(&p);
    return &spans[nspans - 1];
}

/* The program said "sampled" or "debug" without ids: our span is sampled
 * though the sampler never samples (a debug span for "debug"), and the
 * lines we add say so. */
static void test_program_accept_is_kept(void **state)
{
    (void)state;
    static const char *const lines[] = {"X-B3-Sampled: 1", "b3: d"};
    static const uint8_t sampled[] = {TS_SPAN_SAMPLED, TS_SPAN_SAMPLED | TS_SPAN_DEBUG};
    assert_int_equal(ts_sampler_load(always_off_env), 0);
    for (int i = 0; i < 2; i++) {
        char got[2048];
        assert_int_equal(send_with_lines("/loud", lines[i], got, sizeof got)->sampled, sampled[i]);
        char *tp = strstr(got, "traceparent: 00-");
        assert_non_null(tp);
        assert_memory_equal(tp + 16 + 32 + 1 + 16, "-01\r\n", 5);
    }
    ts_sampler_load(NULL);
}

/* The program's B3 decision lines without ids: the ids of our client span
 * go with them in the same form (and no decision line of ours beside the
 * program's), or a B3 receiver, which reads B3 before traceparent, would
 * start a trace of its own. */
static void test_program_decision_gets_the_ids(void **state)
{
    (void)state;
    static const char *const lines[] = {"X-B3-Sampled: 1", "X-B3-Flags: 1", "X-B3-Sampled: 0"};
    static const char *const flags[] = {"01", "01", "00"};
    for (int i = 0; i < 3; i++) {
        char got[2048], want[2048], tid[33], cid[17];
        const struct ts_span *client = send_with_lines("/decided", lines[i], got, sizeof got);
        assert_int_equal(client->kind, TS_KIND_CLIENT);
        hex(client->trace_id, 16, tid);
        hex(client->span_id, 8, cid);
        snprintf(want, sizeof want,
                 "GET /decided HTTP/1.1\r\nHost: h\r\n%s\r\nX-B3-TraceId: %s\r\n"
                 "X-B3-SpanId: %s\r\ntraceparent: 00-%s-%s-%s\r\n\r\n",
                 lines[i], tid, cid, tid, cid, flags[i]);
        assert_string_equal(got, want);
    }
}

/* The program's own context beside its B3 decision without ids: the span
 * continues the program's ids with B3's decision (a deny over the other
 * format's sampled), and what the shim adds carries those ids: the B3
 * ids beside the program's decision line, the formats missing with the
 * decision. Once, a deny made a new trace, whose ids the shim wrote
 * beside the program's. */
static void test_program_context_beside_a_b3_decision(void **state)
{
    (void)state;
    static const struct {
        const char *lines, *added;
        uint8_t sampled;
    } cases[] = {
        {"traceparent: 00-" T "-" S0 "-01\r\nX-B3-Sampled: 0",
         "X-B3-TraceId: " T "\r\nX-B3-SpanId: " S0 "\r\n", 0},
        {"traceparent: 00-" T "-" S0 "-01\r\nX-B3-Flags: 1",
         "X-B3-TraceId: " T "\r\nX-B3-SpanId: " S0 "\r\n", TS_SPAN_SAMPLED | TS_SPAN_DEBUG},
        {"uber-trace-id: " T ":" S0 ":0:1\r\nX-B3-Sampled: 0",
         "X-B3-TraceId: " T "\r\nX-B3-SpanId: " S0 "\r\ntraceparent: 00-" T "-" S0 "-00\r\n", 0},
        {"traceparent: 00-" T "-" S0 "-01\r\nb3: 0",
         "X-B3-TraceId: " T "\r\nX-B3-SpanId: " S0 "\r\nX-B3-Sampled: 0\r\n", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char want[1024], got[2048];
        snprintf(want, sizeof want, "GET /own HTTP/1.1\r\nHost: h\r\n%s\r\n%s\r\n", cases[i].lines,
                 cases[i].added);
        const struct ts_span *client = send_with_lines("/own", cases[i].lines, got, sizeof got);
        char tid[33], pid[17];
        hex(client->trace_id, 16, tid);
        hex(client->parent_id, 8, pid);
        assert_string_equal(tid, T);
        assert_string_equal(pid, S0);
        assert_int_equal(client->sampled, cases[i].sampled);
        assert_string_equal(got, want);
    }
}

/* A program's own traceparent and tracestate (its own context, or one it
 * forwards itself): its client span, in that trace, carries the
 * tracestate, as the spans of a trace whose traceparent the shim writes
 * do. Not when the span's parent is another trace's (B3 outranks). */
static void test_program_tracestate_in_its_client_span(void **state)
{
    (void)state;
    static const struct {
        const char *lines;
        const char *trace_state;
    } cases[] = {
        {"traceparent: 00-" T "-" S0 "-01\r\ntracestate: congo=t61rcWkgMzE", "congo=t61rcWkgMzE"},
        {"X-B3-TraceId: " P0 P0 "\r\nX-B3-SpanId: " P0 "\r\nX-B3-Sampled: 1\r\n"
         "traceparent: 00-" T "-" S0 "-01\r\ntracestate: congo=t61rcWkgMzE",
         ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char got[2048];
        const struct ts_span *client = send_with_lines("/own", cases[i].lines, got, sizeof got);
        size_t n;
        const char *v = ts_span_bytes(client, client->trace_state_off, client->trace_state_len, &n);
        if (n != strlen(cases[i].trace_state) || memcmp(v, cases[i].trace_state, n) != 0)
            fail_msg("case %zu: trace_state \"%.*s\"", i, (int)n, v);
    }
}

/* ------------------------------------------------------- unseen bodies */

static void test_server_body_by_sendfile_ends_the_span(void **state)
{
    (void)state;
    struct pair p = make_pair(TS_ROLE_SERVER);
    serve_request(&p, "GET /file HTTP/1.1\r\nHost: s\r\n\r\n");
    const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n";
    assert_int_equal(prog_write(&p, head, sizeof head - 1), (ssize_t)sizeof head - 1);
    struct ts_conn *c = ts_conn_get(p.prog);
    ts_conn_sent_unseen(c, 600);
    assert_int_equal(nspans, 0);
    ts_conn_sent_unseen(c, 400);
    ts_conn_put(c);
    assert_int_equal(nspans, 1);
    assert_int_equal(attr_int(&spans[0], "http.response.status_code"), 200);
    assert_int_equal(spans[0].status, TS_STATUS_UNSET);
    /* the connection goes on: the next request is its own span */
    serve_request(&p, "GET /next HTTP/1.1\r\nHost: s\r\n\r\n");
    assert_int_equal(prog_write(&p, "HTTP/1.1 404 Nope\r\nContent-Length: 0\r\n\r\n", 41), 41);
    assert_int_equal(nspans, 2);
    assert_int_equal(attr_int(&spans[1], "http.response.status_code"), 404);
    close_pair(&p);
}

/* Bytes sent unseen past the end of a body (one sendfile carrying a body's
 * rest and the next response) end the parsing: the shim had taken the
 * next bytes the program wrote for a head, and the response the sendfile
 * carried for its neighbour's (a probe: /b 503, /c connection_closed). */
static void test_server_unseen_bytes_past_a_body_stop_parsing(void **state)
{
    (void)state;
    struct pair p = make_pair(TS_ROLE_SERVER);
    serve_request(&p, "GET /a HTTP/1.1\r\nHost: s\r\n\r\n"
                      "GET /b HTTP/1.1\r\nHost: s\r\n\r\n"
                      "GET /c HTTP/1.1\r\nHost: s\r\n\r\n");
    const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
    assert_int_equal(prog_write(&p, head, sizeof head - 1), (ssize_t)sizeof head - 1);
    struct ts_conn *c = ts_conn_get(p.prog);
    /* "hello" and "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n" */
    ts_conn_sent_unseen(c, 5 + 45);
    ts_conn_put(c);
    assert_int_equal(nspans, 1);
    assert_int_equal(attr_int(&spans[0], "http.response.status_code"), 200);
    const char third[] = "HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n";
    assert_int_equal(prog_write(&p, third, sizeof third - 1), (ssize_t)sizeof third - 1);
    assert_int_equal(nspans, 1);
    close_pair(&p);
    /* /b and /c end at the close, their answers not seen: no status, no
     * error claimed */
    assert_int_equal(nspans, 3);
    for (int i = 1; i < 3; i++) {
        assert_null(ts_span_attr_find(&spans[i], "http.response.status_code"));
        assert_int_equal(spans[i].status, TS_STATUS_UNSET);
        assert_non_null(ts_span_attr_find(&spans[i], "traceshim.response_unseen"));
    }
}

/* The same on a client: a request body's rest and the next request's head
 * sent unseen, and then that request's body, which looks like a head,
 * written plainly: it passes untouched (the shim put its trace lines in
 * it, 166 bytes the server then read as a request of their own). */
static void test_client_unseen_bytes_past_a_body_stop_parsing(void **state)
{
    (void)state;
    struct pair p = make_pair(TS_ROLE_CLIENT);
    const char post[] = "POST /p HTTP/1.1\r\nHost: s\r\nContent-Length: 5\r\n\r\n";
    assert_int_equal(prog_write(&p, post, sizeof post - 1), (ssize_t)sizeof post - 1);
    char got[2048];
    peer_read_all(&p, got, sizeof got);
    assert_non_null(strstr(got, "traceparent: "));
    struct ts_conn *c = ts_conn_get(p.prog);
    /* "hello" and "POST /b HTTP/1.1\r\nHost: s\r\nContent-Length: 28\r\n\r\n" */
    ts_conn_sent_unseen(c, 5 + 51);
    ts_conn_put(c);
    const char body[] = "GET /x HTTP/1.1\r\nHost: y\r\n\r\n";
    assert_int_equal(prog_write(&p, body, sizeof body - 1), (ssize_t)sizeof body - 1);
    assert_int_equal(peer_read_all(&p, got, sizeof got), sizeof body - 1);
    assert_string_equal(got, body);
    close_pair(&p);
}

/* The peer got first then then, and nothing else: not a trace line. */
static void peer_received_exactly(struct pair *p, const char *first, const char *then)
{
    char got[2048], want[1024];
    snprintf(want, sizeof want, "%s%s", first, then);
    peer_read_all(p, got, sizeof got);
    assert_string_equal(got, want);
}

/* Bytes the shim did not send went out while a head's wire form was only
 * part way out (the program sent the rest itself with a control message,
 * which the shim passes on as it came): what is left of that wire form is
 * no longer the stream's, and never goes out in place of the program's
 * next bytes. */
static void test_unseen_bytes_in_the_middle_of_a_heads_wire(void **state)
{
    (void)state;
    struct pair p = make_pair(TS_ROLE_CLIENT);
    const char get[] = "GET /a HTTP/1.1\r\nHost: s\r\n\r\n";
    budget = 10; /* then EAGAIN, then no limit */
    assert_int_equal(prog_write(&p, get, sizeof get - 1), 10);
    struct iovec rest = {(void *)(get + 10), sizeof get - 1 - 10};
    struct msghdr m = {.msg_iov = &rest, .msg_iovlen = 1};
    assert_int_equal(libc_sendmsg(p.prog, &m, 0), (ssize_t)rest.iov_len);
    struct ts_conn *c = ts_conn_get(p.prog);
    ts_conn_sent_unseen(c, (ssize_t)rest.iov_len);
    ts_conn_put(c);
    const char next[] = "GET /b HTTP/1.1\r\nHost: s\r\n\r\n";
    assert_int_equal(prog_write(&p, next, sizeof next - 1), (ssize_t)sizeof next - 1);
    peer_received_exactly(&p, get, next);
    close_pair(&p);
}

/* A head whose first bytes went out as a piece, completed by a call whose
 * chunked body is malformed and which the kernel refuses (EAGAIN): that
 * step gave the stream up, and the program's bytes sent again, which start
 * inside the head (here with what parses as a request line, "aPUT /c
 * HTTP/1.1"), go as they are. The fuzzer's find: they were parsed as a
 * head of their own, with trace lines in the middle of the real one. */
static void test_a_head_undone_after_its_stream_was_given_up(void **state)
{
    (void)state;
    struct pair p = make_pair(TS_ROLE_CLIENT);
    const char piece[] = "GET /own HTTP/1.1\r\nHost: up\r\nX-Note: a";
    const char rest[] = "PUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
    assert_int_equal(prog_write(&p, piece, sizeof piece - 1), (ssize_t)sizeof piece - 1);
    budget = 0; /* the next sendmsg: EAGAIN, then no limit */
    errno = 0;
    assert_int_equal(prog_write(&p, rest, sizeof rest - 1), -1);
    assert_int_equal(errno, EAGAIN);
    assert_int_equal(prog_write(&p, rest, sizeof rest - 1), (ssize_t)sizeof rest - 1);
    peer_received_exactly(&p, piece, rest);
    close_pair(&p);
}

/* A filter that refuses sendmsg (the shim's way of sending a head with its
 * lines) but not write: the program's write goes through as it was made,
 * the connection is no longer traced, and nothing of it is lost. Any other
 * error (the connection's) is the program's to hear. */
static void test_a_refused_sendmsg_lets_the_programs_write_through(void **state)
{
    (void)state;
    static const int refusals[] = {EPERM, ENOSYS, EACCES};
    const char first[] = "GET /a HTTP/1.1\r\nHost: s\r\n\r\n";
    const char second[] = "GET /b HTTP/1.1\r\nHost: s\r\n\r\n";
    char got[2048];
    for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++) {
        nspans = 0;
        struct pair p = make_pair(TS_ROLE_CLIENT);
        refuse_errno = refusals[i];
        errno = 0;
        assert_int_equal(prog_write(&p, first, sizeof first - 1), (ssize_t)sizeof first - 1);
        assert_int_equal(errno, 0);
        assert_int_equal(prog_write(&p, second, sizeof second - 1), (ssize_t)sizeof second - 1);
        assert_int_equal(peer_read_all(&p, got, sizeof got), sizeof first + sizeof second - 2);
        assert_memory_equal(got, first, sizeof first - 1);
        assert_string_equal(got + sizeof first - 1, second);
        peer_write(&p, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
                       "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        prog_read(&p, got, sizeof got);
        refuse_errno = 0;
        close_pair(&p);
        assert_int_equal(nspans, 0);
    }
    /* an error about the connection: the program hears it */
    struct pair p = make_pair(TS_ROLE_CLIENT);
    refuse_errno = EPIPE;
    assert_int_equal(prog_write(&p, first, sizeof first - 1), -1);
    assert_int_equal(errno, EPIPE);
    refuse_errno = 0;
    close_pair(&p);
}

static void test_unseen_bytes_with_chunked_framing_stop_parsing(void **state)
{
    (void)state;
    struct pair p = make_pair(TS_ROLE_SERVER);
    serve_request(&p, "GET /c HTTP/1.1\r\nHost: s\r\n\r\n");
    const char head[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    prog_write(&p, head, sizeof head - 1);
    struct ts_conn *c = ts_conn_get(p.prog);
    ts_conn_sent_unseen(c, 100);
    ts_conn_put(c);
    assert_int_equal(prog_write(&p, "0\r\n\r\n", 5), 5);
    assert_int_equal(nspans, 0); /* the end cannot be known any more */
    close_pair(&p);
    assert_int_equal(nspans, 1);
    /* ended at the close, its outcome not known: no error claimed */
    assert_int_equal(spans[0].status, TS_STATUS_UNSET);
    assert_null(ts_span_attr_find(&spans[0], "error.type"));
    assert_non_null(ts_span_attr_find(&spans[0], "traceshim.response_unseen"));
}

/* A request for a tunnel that did not go out (EAGAIN before its first
 * byte) asks for nothing: sent again, it is traced, and so is what
 * follows its declining answer. It counted as asked, with nothing in
 * flight for an answer to decline: the connection went untraced. */
static void test_a_tunnel_request_sent_again_is_traced(void **state)
{
    (void)state;
    const char *up = "GET /up HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n";
    const char *get = "GET /after HTTP/1.1\r\nHost: h\r\n\r\n";
    const char *ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    char got[8192], buf[4096];
    struct pair p = make_pair(TS_ROLE_CLIENT);
    budget = 0;
    refill = no_limit;
    assert_int_equal(prog_write(&p, up, strlen(up)), -1);
    assert_int_equal(errno, EAGAIN);
    assert_int_equal(prog_write(&p, up, strlen(up)), (ssize_t)strlen(up));
    peer_write(&p, ok);
    prog_read(&p, buf, sizeof buf);
    assert_int_equal(prog_write(&p, get, strlen(get)), (ssize_t)strlen(get));
    peer_write(&p, ok);
    prog_read(&p, buf, sizeof buf);
    peer_read_all(&p, got, sizeof got);
    close_pair(&p);
    assert_int_equal(nspans, 2);
    assert_int_equal(lines_named(got, "traceparent:"), 2);
}

struct blocked_send {
    struct pair *p;
    const char *buf;
    size_t len;
    ssize_t r;
};

static void *send_on_a_thread(void *arg)
{
    struct blocked_send *b = arg;
    b->r = prog_write(b->p, b->buf, b->len);
    return NULL;
}

/* Two threads send on one connection, the first blocked in the kernel (a
 * peer that reads nothing): the second's send reaches the kernel within
 * CONN_BLOCKING_WAIT_NS, where its SO_SNDTIMEO ends it (EAGAIN), as it
 * would untraced. It waited on the shim's lock for as long as the first
 * blocked, deaf to its timeout, a signal or a cancellation (an alarm ends
 * this test then). */
static void test_a_send_beside_a_blocked_one_keeps_its_timeout(void **state)
{
    (void)state;
    struct pair p = make_pair(TS_ROLE_CLIENT);
    enum { BODY = 4 << 20 };
    static char big[BODY + 128];
    int head = snprintf(big, 128, "POST /big HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n",
                        (int)BODY);
    memset(big + head, 'b', BODY);
    struct blocked_send first = {&p, big, (size_t)head + BODY, 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, send_on_a_thread, &first), 0);
    usleep(200 * 1000); /* the first has filled the socket and blocks */
    struct timeval timeout = {0, 200 * 1000};
    assert_int_equal(setsockopt(p.prog, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout), 0);
    alarm(20);
    uint64_t t0 = ts_mono_ns();
    errno = 0;
    ssize_t r = prog_write(&p, "x", 1);
    int err = errno;
    uint64_t took_ms = (ts_mono_ns() - t0) / 1000000;
    alarm(0);
    assert_int_equal(r, -1);
    assert_int_equal(err, EAGAIN);
    assert_true(took_ms < 2000);
    /* the first's bytes all go once the peer reads */
    size_t got = 0;
    char sink[65536];
    assert_int_equal(fcntl(p.peer, F_SETFL, O_NONBLOCK), 0);
    for (;;) {
        ssize_t k = read(p.peer, sink, sizeof sink);
        if (k > 0) {
            got += (size_t)k;
            continue;
        }
        assert_true(k < 0 && errno == EAGAIN);
        if (pthread_tryjoin_np(t, NULL) == 0)
            break;
        usleep(1000);
    }
    assert_int_equal(first.r, (ssize_t)first.len);
    assert_true(got > first.len); /* and its header lines */
    close_pair(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_every_cut_of_the_wire, setup_budget),
        cmocka_unit_test_setup(test_a_tunnel_request_sent_again_is_traced, setup_budget),
        cmocka_unit_test_setup(test_whole_heads_traced_whatever_the_method, setup_budget),
        cmocka_unit_test_setup(test_cr_then_lf_of_the_blank_line, setup_budget),
        cmocka_unit_test_setup(test_lf_only_head_cut_inside_the_lines, setup_budget),
        cmocka_unit_test_setup(test_pipelined_heads_in_one_write, setup_budget),
        cmocka_unit_test_setup(test_one_write_of_several_messages_is_held_for_one_segment,
                               setup_budget),
        cmocka_unit_test_setup(test_trace_lines_only_where_a_server_reads_them, setup_budget),
        cmocka_unit_test_setup(test_trace_lines_only_where_a_server_takes_them, setup_budget),
        cmocka_unit_test_setup(test_trace_lines_end_as_the_heads_lines, setup_budget),
        cmocka_unit_test_setup(test_random_segmentation_and_budgets, setup_budget),
        cmocka_unit_test_setup(test_proxy_forwarded_context_is_rewritten_to_its_client_span,
                               setup_budget),
        cmocka_unit_test_setup(test_proxy_same_context_twice_takes_the_threads_own, setup),
        cmocka_unit_test_setup(test_proxy_ids_already_on_the_wire_are_left_alone, setup_budget),
        cmocka_unit_test_setup(test_proxy_forwarded_b3_carries_the_decision, setup_budget),
        cmocka_unit_test_setup(test_proxy_b3_single_decision_every_cut, setup_budget),
        cmocka_unit_test_setup(test_proxy_forwarded_decision_is_the_client_spans, setup_budget),
        cmocka_unit_test_setup(test_program_deny_is_kept, setup_budget),
        cmocka_unit_test_setup(test_program_accept_is_kept, setup_budget),
        cmocka_unit_test_setup(test_program_decision_gets_the_ids, setup_budget),
        cmocka_unit_test_setup(test_program_context_beside_a_b3_decision, setup_budget),
        cmocka_unit_test_setup(test_program_tracestate_in_its_client_span, setup_budget),
        cmocka_unit_test_setup(test_server_body_by_sendfile_ends_the_span, setup_budget),
        cmocka_unit_test_setup(test_unseen_bytes_with_chunked_framing_stop_parsing, setup_budget),
        cmocka_unit_test_setup(test_server_unseen_bytes_past_a_body_stop_parsing, setup_budget),
        cmocka_unit_test_setup(test_client_unseen_bytes_past_a_body_stop_parsing, setup_budget),
        cmocka_unit_test_setup(test_unseen_bytes_in_the_middle_of_a_heads_wire, setup_budget),
        cmocka_unit_test_setup(test_a_head_undone_after_its_stream_was_given_up, setup_budget),
        cmocka_unit_test_setup(test_a_send_beside_a_blocked_one_keeps_its_timeout, setup),
        cmocka_unit_test_setup(test_a_refused_sendmsg_lets_the_programs_write_through,
                               setup_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
