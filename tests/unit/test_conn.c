/* test_conn.c — the connection logic on real socket pairs: what the peer
 * receives, what the program is told, and the spans that come out. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>

#include "conn_harness.h"
#include "hooks/conn_internal.h"
#include "preload/clock.h"
#include "preload/stats.h"
#include "reporter/sampler.h"

static const char get_head[] = "GET /a/b?x=1 HTTP/1.1\r\nHost: example.test:8080\r\n"
                               "User-Agent: unit/1\r\n\r\n";

/* ------------------------------------------------------------- client */

static void test_client_injects_and_ends_on_response(void **state)
{
    struct pair p = make_pair(TS_ROLE_CLIENT);
    assert_int_equal(prog_write(&p, get_head, strlen(get_head)), (ssize_t)strlen(get_head));
    assert_int_equal(nspans, 0);

    peer_write(&p, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
    char buf[256];
    assert_int_equal(prog_read(&p, buf, sizeof buf), 43);
    assert_int_equal(nspans, 1);
    struct ts_span *s = &spans[0];
    assert_int_equal(s->kind, TS_KIND_CLIENT);
    assert_true(ts_id_is_zero(s->parent_id, 8));
    assert_int_equal(attr_int(s, "http.response.status_code"), 200);
    assert_int_equal(s->status, TS_STATUS_UNSET);
    assert_memory_equal(ts_span_name(s), "GET /a/b", s->name_len);
    assert_int_equal(s->name_len, 8);
    char v[256];
    assert_string_equal(attr_str(s, "url.full", v, sizeof v), "http://example.test:8080/a/b?x=1");
    assert_string_equal(attr_str(s, "server.address", v, sizeof v), "example.test");
    assert_int_equal(attr_int(s, "server.port"), 8080);
    assert_string_equal(attr_str(s, "user_agent.original", v, sizeof v), "unit/1");

    /* the peer got the head with our lines right before the blank line */
    char lines[512], want[1024], got[2048];
    expected_lines(s, lines, sizeof lines);
    size_t cut = strlen(get_head) - 2;
    snprintf(want, sizeof want, "%.*s%s\r\n", (int)cut, get_head, lines);
    peer_read_all(&p, got, sizeof got);
    assert_string_equal(got, want);
    close_pair(&p);
}

static void test_client_split_head_every_offset(void **state)
{
    const char *req = "POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nbody";
    size_t len = strlen(req);
    for (size_t cut = 1; cut < len; cut++) {
        nspans = 0;
        struct pair p = make_pair(TS_ROLE_CLIENT);
        assert_int_equal(prog_write(&p, req, cut), (ssize_t)cut);
        assert_int_equal(prog_write(&p, req + cut, len - cut), (ssize_t)(len - cut));
        peer_write(&p, "HTTP/1.1 204 No Content\r\n\r\n");
        char buf[128];
        prog_read(&p, buf, sizeof buf);
        assert_int_equal(nspans, 1);
        char lines[512], want[1024], got[2048];
        expected_lines(&spans[0], lines, sizeof lines);
        size_t head_end = strstr(req, "\r\n\r\n") - req + 2;
        snprintf(want, sizeof want, "%.*s%s%s", (int)head_end, req, lines, req + head_end);
        peer_read_all(&p, got, sizeof got);
        assert_string_equal(got, want);
        assert_int_equal(attr_int(&spans[0], "http.response.status_code"), 204);
        close_pair(&p);
    }
}

static void test_client_writev_head_over_iovecs(void **state)
{
    struct pair p = make_pair(TS_ROLE_CLIENT);
    struct iovec iov[3] = {
        {"PUT /x HTTP/1.1\r\nHo", 19},
        {"st: h\r\nContent-Length: 3\r\n\r", 27},
        {"\nabc", 4},
    };
    assert_int_equal(prog_writev(&p, iov, 3), 50);
    peer_write(&p, "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n");
    char buf[128];
    prog_read(&p, buf, sizeof buf);
    assert_int_equal(nspans, 1);
    char lines[512], want[1024], got[2048];
    expected_lines(&spans[0], lines, sizeof lines);
    snprintf(want, sizeof want, "PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n%s\r\nabc",
             lines);
    peer_read_all(&p, got, sizeof got);
    assert_string_equal(got, want);
    close_pair(&p);
}

static void test_client_app_context_no_duplicate(void **state)
{
    struct pair p = make_pair(TS_ROLE_CLIENT);
    const char *req = "GET / HTTP/1.1\r\nHost: h\r\n"
                      "X-B3-TraceId: 0af7651916cd43dd8448eb211c80319c\r\n"
                      "X-B3-SpanId: b7ad6b7169203331\r\nX-B3-Sampled: 1\r\n\r\n";
    assert_int_equal(prog_write(&p, req, strlen(req)), (ssize_t)strlen(req));
    char got[2048], want[2048];
    peer_read_all(&p, got, sizeof got);
    /* only the missing format is added, carrying the program's own ids */
    size_t cut = strlen(req) - 2;
    snprintf(want, sizeof want,
             "%.*straceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n\r\n",
             (int)cut, req);
    assert_string_equal(got, want);
    peer_write(&p, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    char buf[128];
    prog_read(&p, buf, sizeof buf);
    assert_int_equal(nspans, 1);
    char t[33], parent[17];
    hex(spans[0].trace_id, 16, t);
    hex(spans[0].parent_id, 8, parent);
    assert_string_equal(t, "0af7651916cd43dd8448eb211c80319c");
    assert_string_equal(parent, "b7ad6b7169203331");
    assert_int_equal(spans[0].status, TS_STATUS_ERROR); /* 4xx on a client span */
    char v[16];
    assert_string_equal(attr_str(&spans[0], "error.type", v, sizeof v), "404");
    close_pair(&p);
}

static void test_client_keepalive_and_pipelining(void **state)
{
    struct pair p = make_pair(TS_ROLE_CLIENT);
    const char *r1 = "GET /one HTTP/1.1\r\nHost: h\r\n\r\n";
    const char *r2 = "HEAD /two HTTP/1.1\r\nHost: h\r\n\r\n";
    assert_int_equal(prog_write(&p, r1, strlen(r1)), (ssize_t)strlen(r1));
    assert_int_equal(prog_write(&p, r2, strlen(r2)), (ssize_t)strlen(r2));
    /* chunked answer to the first, a bodiless answer to HEAD */
    peer_write(&p, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
                   "HTTP/1.1 500 Oops\r\nContent-Length: 99\r\n\r\n");
    char buf[512];
    prog_read(&p, buf, sizeof buf);
    assert_int_equal(nspans, 2);
    assert_memory_equal(ts_span_name(&spans[0]), "GET /one", 8);
    assert_int_equal(attr_int(&spans[0], "http.response.status_code"), 200);
    assert_memory_equal(ts_span_name(&spans[1]), "HEAD /two", 9);
    assert_int_equal(attr_int(&spans[1], "http.response.status_code"), 500);
    assert_int_equal(spans[1].status, TS_STATUS_ERROR);
    char v[16];
    assert_string_equal(attr_str(&spans[1], "error.type", v, sizeof v), "500");
    assert_null(ts_span_attr_find(&spans[0], "error.type"));
    assert_memory_not_equal(spans[0].span_id, spans[1].span_id, 8);
    close_pair(&p);
}

/* The peer sends first (and then, when not NULL); the program reads and
 * the pair is closed: how many traceparent lines the peer received. */
static int answered_then_closed(struct pair *p, const char *first, const char *then)
{
    char got[4096], buf[4096];
    peer_write(p, first);
    if (then)
        peer_write(p, then);
    prog_read(p, buf, sizeof buf);
    peer_read_all(p, got, sizeof got);
    close_pair(p);
    return lines_named(got, "traceparent:");
}

/* A client's request for a tunnel that its answer declines (an h2c
 * upgrade answered in HTTP/1.1, a 407 to CONNECT): the connection is
 * HTTP/1.x again, and a request sent after that answer is traced. One
 * sent before the answer may have been the tunnel's bytes: it goes as it
 * is, and so does the rest of the connection. */
static void test_client_declined_tunnel_traces_what_follows(void **state)
{
    (void)state;
    static const struct {
        const char *ask, *answer;
    } declined[] = {
        {"GET /up HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n",
         "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"},
        {"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n",
         "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n"},
        /* an interim answer declines nothing; the final one does */
        {"GET /up HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
         "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"},
    };
    const char *get = "GET /after HTTP/1.1\r\nHost: h\r\n\r\n";
    const char *ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    char buf[4096];
    for (size_t i = 0; i < sizeof declined / sizeof declined[0]; i++) {
        for (int early = 0; early < 2; early++) {
            int before = nspans;
            struct pair p = make_pair(TS_ROLE_CLIENT);
            const char *ask = declined[i].ask;
            assert_int_equal(prog_write(&p, ask, strlen(ask)), (ssize_t)strlen(ask));
            if (early) /* before the answer: maybe the tunnel's bytes */
                assert_int_equal(prog_write(&p, get, strlen(get)), (ssize_t)strlen(get));
            peer_write(&p, declined[i].answer);
            prog_read(&p, buf, sizeof buf);
            assert_int_equal(nspans, before + 1);
            if (!early)
                assert_int_equal(prog_write(&p, get, strlen(get)), (ssize_t)strlen(get));
            assert_int_equal(answered_then_closed(&p, ok, NULL), early ? 1 : 2);
            assert_int_equal(nspans, before + (early ? 1 : 2));
            if (!early)
                assert_memory_equal(ts_span_name(&spans[before + 1]), "GET /after", 10);
        }
    }

    /* Only the tunnel request's own answer declines: an answer to a
     * request before it leaves the bytes sent next untouched. */
    int before = nspans;
    struct pair p = make_pair(TS_ROLE_CLIENT);
    const char *first = "GET /first HTTP/1.1\r\nHost: h\r\n\r\n";
    const char *ask = declined[0].ask;
    assert_int_equal(prog_write(&p, first, strlen(first)), (ssize_t)strlen(first));
    assert_int_equal(prog_write(&p, ask, strlen(ask)), (ssize_t)strlen(ask));
    peer_write(&p, ok); /* the first request's */
    prog_read(&p, buf, sizeof buf);
    assert_int_equal(prog_write(&p, get, strlen(get)), (ssize_t)strlen(get));
    assert_int_equal(answered_then_closed(&p, declined[0].answer, ok), 2);
    assert_int_equal(nspans, before + 2);

    /* An interim answer declines nothing: bytes sent after it and before
     * the final one go untouched. */
    before = nspans;
    p = make_pair(TS_ROLE_CLIENT);
    const char *expecting =
        "POST /up HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n"
        "Expect: 100-continue\r\nContent-Length: 3\r\n\r\n";
    assert_int_equal(prog_write(&p, expecting, strlen(expecting)), (ssize_t)strlen(expecting));
    peer_write(&p, "HTTP/1.1 100 Continue\r\n\r\n");
    prog_read(&p, buf, sizeof buf);
    assert_int_equal(prog_write(&p, "abc", 3), 3);
    assert_int_equal(prog_write(&p, get, strlen(get)), (ssize_t)strlen(get));
    assert_int_equal(answered_then_closed(&p, declined[0].answer, ok), 1);
    assert_int_equal(nspans, before + 1);
}

static void test_client_interim_and_close_delimited(void **state)
{
    struct pair p = make_pair(TS_ROLE_CLIENT);
    const char *r = "GET /stream HTTP/1.0\r\n\r\n";
    prog_write(&p, r, strlen(r));
    peer_write(&p, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 200 OK\r\n\r\npart");
    char buf[512];
    prog_read(&p, buf, sizeof buf);
    assert_int_equal(nspans, 0); /* body runs until close */
    char sink[512];
    peer_read_all(&p, sink, sizeof sink); /* unread data would turn the close into a reset */
    close(p.peer);
    assert_int_equal(prog_read(&p, buf, sizeof buf), 0);
    assert_int_equal(nspans, 1);
    assert_int_equal(attr_int(&spans[0], "http.response.status_code"), 200);
    assert_int_equal(spans[0].status, TS_STATUS_UNSET);
    ts_conn_untrack(p.prog);
    close(p.prog);
}

/* The server pair p reads req from its peer, answers 204 and closes. */
static void serve_204_and_close(struct pair *p, const char *req)
{
    char buf[512];
    peer_write(p, req);
    prog_read(p, buf, sizeof buf);
    prog_write(p, "HTTP/1.1 204 No Content\r\n\r\n", 27);
    close_pair(p);
}

/* A client pair whose program has sent get_head, all of it read by the
 * peer. */
static struct pair client_get_sent(void)
{
    struct pair p = make_pair(TS_ROLE_CLIENT);
    prog_write(&p, get_head, strlen(get_head));
    char sink[512];
    peer_read_all(&p, sink, sizeof sink);
    return p;
}

/* A response the shim stopped reading (bytes that are no HTTP response):
 * when the connection closes, its request's outcome is not known, and no
 * error is claimed. */
static void test_client_response_unread_is_no_error(void **state)
{
    struct pair p = client_get_sent();
    peer_write(&p, "SSH-2.0-not an HTTP response\r\n");
    close(p.peer);
    char buf[128];
    while (prog_read(&p, buf, sizeof buf) > 0)
        ;
    assert_int_equal(nspans, 1);
    assert_int_equal(spans[0].status, TS_STATUS_UNSET);
    assert_null(ts_span_attr_find(&spans[0], "error.type"));
    const struct ts_attr *a = ts_span_attr_find(&spans[0], "traceshim.response_unseen");
    assert_non_null(a);
    assert_int_equal(a->type, TS_ATTR_BOOL);
    assert_true(a->num);
    ts_conn_untrack(p.prog);
    close(p.prog);
}

/* An error answer whose body the connection's close cuts short: the
 * answer's code is what went wrong (one error.type, "500"); a 404 from a
 * server is no error at all. */
static void test_error_status_then_close_keeps_the_code(void **state)
{
    struct pair p = make_pair(TS_ROLE_CLIENT);
    prog_write(&p, get_head, strlen(get_head));
    char sink[512], buf[128];
    peer_read_all(&p, sink, sizeof sink);
    peer_write(&p, "HTTP/1.1 500 Oops\r\nContent-Length: 10\r\n\r\nabc");
    close(p.peer);
    while (prog_read(&p, buf, sizeof buf) > 0)
        ;
    assert_int_equal(nspans, 1);
    assert_int_equal(spans[0].status, TS_STATUS_ERROR);
    int n = 0;
    for (size_t i = 0; i < ts_span_nattrs(&spans[0]); i++)
        n += spans[0].attrs[i].key && strcmp(spans[0].attrs[i].key, "error.type") == 0;
    assert_int_equal(n, 1);
    char v[16];
    assert_string_equal(attr_str(&spans[0], "error.type", v, sizeof v), "500");
    ts_conn_untrack(p.prog);
    close(p.prog);

    nspans = 0;
    struct pair srv = make_pair(TS_ROLE_SERVER);
    peer_write(&srv, "GET /missing HTTP/1.1\r\nHost: h\r\n\r\n");
    prog_read(&srv, buf, sizeof buf);
    const char *resp = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
    prog_write(&srv, resp, strlen(resp));
    assert_int_equal(nspans, 1);
    assert_int_equal(spans[0].status, TS_STATUS_UNSET);
    assert_null(ts_span_attr_find(&spans[0], "error.type"));
    close_pair(&srv);
}

/* url.full and url.query carry no credentials (url_redact.h); the bytes
 * on the wire are the program's, untouched. */
static void test_url_credentials_redacted(void **state)
{
    static const char head[] = "GET http://alice:pw@proxy.test/k?AWSAccessKeyId=AK&x=1&Signature=s "
                               "HTTP/1.1\r\nHost: proxy.test\r\n\r\n";
    struct pair p = make_pair(TS_ROLE_CLIENT);
    assert_int_equal(prog_write(&p, head, strlen(head)), (ssize_t)strlen(head));
    char got[2048], buf[128], v[256];
    peer_read_all(&p, got, sizeof got);
    assert_memory_equal(got, head, strlen(head) - 2); /* the head as sent, then our lines */
    peer_write(&p, "HTTP/1.1 204 No Content\r\n\r\n");
    prog_read(&p, buf, sizeof buf);
    close_pair(&p);
    assert_int_equal(nspans, 1);
    assert_string_equal(attr_str(&spans[0], "url.full", v, sizeof v),
                        "http://REDACTED:REDACTED@proxy.test/k?AWSAccessKeyId=REDACTED&x=1&"
                        "Signature=REDACTED");

    /* an origin-form target with a query too */
    nspans = 0;
    static const char origin[] = "GET /k?x=1&sig=s3cr3t HTTP/1.1\r\nHost: h.test\r\n\r\n";
    p = make_pair(TS_ROLE_CLIENT);
    assert_int_equal(prog_write(&p, origin, strlen(origin)), (ssize_t)strlen(origin));
    peer_read_all(&p, got, sizeof got);
    peer_write(&p, "HTTP/1.1 204 No Content\r\n\r\n");
    prog_read(&p, buf, sizeof buf);
    close_pair(&p);
    assert_int_equal(nspans, 1);
    assert_string_equal(attr_str(&spans[0], "url.full", v, sizeof v),
                        "http://h.test/k?x=1&sig=REDACTED");

    nspans = 0;
    struct pair srv = make_pair(TS_ROLE_SERVER);
    peer_write(&srv, "GET /blob?sv=1&sig=s3cr3t HTTP/1.1\r\nHost: s\r\n\r\n");
    prog_read(&srv, buf, sizeof buf);
    prog_write(&srv, "HTTP/1.1 204 No Content\r\n\r\n", 27);
    assert_int_equal(nspans, 1);
    assert_string_equal(attr_str(&spans[0], "url.query", v, sizeof v), "sv=1&sig=REDACTED");
    assert_string_equal(attr_str(&spans[0], "url.path", v, sizeof v), "/blob");
    close_pair(&srv);
}

/* A client span's url.full is the request's target URI (RFC 9112 3.3)
 * whatever the target's form: "OPTIONS *" names the server alone, a
 * CONNECT the authority it asks for, an absolute-form target keeps its
 * host as written and has its scheme in lower case. */
static void test_url_full_of_each_target_form(void **state)
{
    (void)state;
    static const struct {
        const char *head, *answer, *want;
    } cases[] = {
        {"OPTIONS * HTTP/1.1\r\nHost: h.test:8080\r\n\r\n", "HTTP/1.1 204 No Content\r\n\r\n",
         "http://h.test:8080"},
        {"CONNECT db.test:5432 HTTP/1.1\r\nHost: db.test:5432\r\n\r\n",
         "HTTP/1.1 200 Connection established\r\n\r\n", "http://db.test:5432"},
        {"GET HTTP://Example.TEST/Up?q=1 HTTP/1.1\r\nHost: Example.TEST\r\n\r\n",
         "HTTP/1.1 204 No Content\r\n\r\n", "http://Example.TEST/Up?q=1"},
        {"GET HtTpS://h.test:8443/x HTTP/1.1\r\nHost: h.test:8443\r\n\r\n",
         "HTTP/1.1 204 No Content\r\n\r\n", "https://h.test:8443/x"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nspans = 0;
        struct pair p = make_pair(TS_ROLE_CLIENT);
        size_t n = strlen(cases[i].head);
        assert_int_equal(prog_write(&p, cases[i].head, n), (ssize_t)n);
        char got[2048], buf[128], v[256];
        peer_read_all(&p, got, sizeof got);
        peer_write(&p, cases[i].answer);
        prog_read(&p, buf, sizeof buf);
        close_pair(&p);
        assert_int_equal(nspans, 1);
        assert_string_equal(attr_str(&spans[0], "url.full", v, sizeof v), cases[i].want);
    }
}

/* A CONNECT's target is an authority, not a path: its spans are named
 * "CONNECT" (a forward proxy's would be as many names as the hosts it
 * reaches), with no http.route and no url.path; the server span's
 * server.address and port come from the request as for any other. */
static void check_connect_spans(const char *head)
{
    nspans = 0;
    const char *answer = "HTTP/1.1 200 Connection established\r\n\r\n";
    char got[512], buf[128], v[256];
    struct pair srv = make_pair(TS_ROLE_SERVER);
    peer_write(&srv, head);
    prog_read(&srv, buf, sizeof buf);
    prog_write(&srv, answer, strlen(answer));
    close_pair(&srv);
    struct pair cli = make_pair(TS_ROLE_CLIENT);
    assert_int_equal(prog_write(&cli, head, strlen(head)), (ssize_t)strlen(head));
    peer_read_all(&cli, got, sizeof got);
    peer_write(&cli, answer);
    prog_read(&cli, buf, sizeof buf);
    close_pair(&cli);
    assert_int_equal(nspans, 2);
    for (int i = 0; i < 2; i++) {
        const struct ts_span *s = &spans[i];
        assert_int_equal(s->kind, i == 0 ? TS_KIND_SERVER : TS_KIND_CLIENT);
        assert_int_equal(s->name_len, 7);
        assert_memory_equal(ts_span_name(s), "CONNECT", 7);
        assert_string_equal(attr_str(s, "http.request.method", v, sizeof v), "CONNECT");
        assert_null(ts_span_attr_find(s, "http.route"));
        assert_null(ts_span_attr_find(s, "url.path"));
        assert_string_equal(attr_str(s, "server.address", v, sizeof v), "db.test");
        assert_int_equal(attr_int(s, "server.port"), 5432);
    }
    assert_string_equal(attr_str(&spans[1], "url.full", v, sizeof v), "http://db.test:5432");
}

/* server.address and server.port of a CONNECT: its target's authority
 * (RFC 9110 9.3.6), with a Host header or without one (Python's urllib3
 * sends "CONNECT host:port HTTP/1.0" alone; they were the proxy's own
 * address and port then, beside a url.full naming the target). */
static void test_connect_named_by_its_method(void **state)
{
    (void)state;
    static const char *const heads[] = {
        "CONNECT db.test:5432 HTTP/1.1\r\nHost: db.test:5432\r\n\r\n",
        "CONNECT db.test:5432 HTTP/1.0\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++)
        check_connect_spans(heads[i]);
}

static void test_client_closed_before_response_is_error(void **state)
{
    struct pair p = client_get_sent();
    close(p.peer);
    char buf[64];
    assert_int_equal(prog_read(&p, buf, sizeof buf), 0);
    assert_int_equal(nspans, 1);
    assert_int_equal(spans[0].status, TS_STATUS_ERROR);
    char v[64];
    assert_string_equal(attr_str(&spans[0], "error.type", v, sizeof v), "connection_closed");
    ts_conn_untrack(p.prog);
    close(p.prog);
}

/* A server pair whose request (GET path) the program has read. */
static struct pair server_read(const char *path)
{
    char req[128], buf[256];
    snprintf(req, sizeof req, "GET %s HTTP/1.0\r\n\r\n", path);
    struct pair p = make_pair(TS_ROLE_SERVER);
    peer_write(&p, req);
    prog_read(&p, buf, sizeof buf);
    return p;
}

/* A server whose thread forked while it served a request, and closes its
 * copy of the connection with no whole response head written: the child
 * it forked answers (a CGI handler). The span keeps the status line the
 * server wrote, claims no error and says its answer went unseen; it was a
 * failure, without a status. Not so for a request no thread was serving
 * at the fork, nor for a response whose head was written whole (a body
 * cut short), nor a 1xx line taken for the status. */
static void test_server_leaves_the_answer_to_its_child(void **state)
{
    (void)state;
    struct pair other = server_read("/other"); /* in flight at the fork, not served by it */
    struct pair cut = server_read("/cut");
    const char *part = "HTTP/1.0 200 OK\r\nContent-Length: 9\r\n\r\nabc";
    assert_int_equal(prog_write(&cut, part, strlen(part)), (ssize_t)strlen(part));
    ts_conn_forked();
    struct pair cgi = server_read("/cgi");
    const char *status = "HTTP/1.0 200 Script output follows\r\nServer: x\r\n";
    assert_int_equal(prog_write(&cgi, status, strlen(status)), (ssize_t)strlen(status));
    ts_conn_forked();
    struct pair hint = server_read("/hint");
    const char *early = "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n";
    assert_int_equal(prog_write(&hint, early, strlen(early)), (ssize_t)strlen(early));
    ts_conn_forked();
    struct pair *order[] = {&cgi, &other, &cut, &hint};
    for (size_t i = 0; i < 4; i++)
        close_pair(order[i]);
    assert_int_equal(nspans, 4);
    for (int i = 0; i < 4; i++) {
        const struct ts_span *s = &spans[i];
        bool unseen = ts_span_attr_find(s, "traceshim.response_unseen") != NULL;
        assert_int_equal(unseen, i == 0 || i == 3);
        assert_int_equal(s->status, unseen ? TS_STATUS_UNSET : TS_STATUS_ERROR);
    }
    assert_int_equal(attr_int(&spans[0], "http.response.status_code"), 200);
    assert_null(ts_span_attr_find(&spans[0], "error.type"));
    assert_int_equal(attr_int(&spans[3], "http.response.status_code"), -1);
}

/* The requests test_image_ends leaves waiting: a client's, one whose
 * response is under way, a server's unanswered, one with a status line
 * written, two pipelined. */
struct waiting {
    struct pair waiting, reading, unanswered, cgi, pipelined;
};

static struct waiting requests_left_waiting(void)
{
    struct waiting w;
    w.waiting = client_get_sent();
    w.reading = client_get_sent();
    peer_write(&w.reading, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nthe first");
    char buf[512];
    prog_read(&w.reading, buf, sizeof buf);
    w.unanswered = server_read("/unanswered");
    w.cgi = server_read("/cgi");
    const char *status = "HTTP/1.0 201 Created\r\nServer: x\r\n";
    assert_int_equal(prog_write(&w.cgi, status, strlen(status)), (ssize_t)strlen(status));
    w.pipelined = make_pair(TS_ROLE_SERVER);
    peer_write(&w.pipelined,
               "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n");
    prog_read(&w.pipelined, buf, sizeof buf);
    assert_int_equal(nspans, 0);
    return w;
}

static void close_waiting(struct waiting *w)
{
    struct pair *all[] = {&w->waiting, &w->reading, &w->unanswered, &w->cgi, &w->pipelined};
    for (size_t i = 0; i < 5; i++)
        close_pair(all[i]);
    assert_int_equal(nspans, 6); /* ended once */
}

/* The process exits (or a signal ends it) with requests still waiting: a
 * client that gave up waiting (siege's workers when its time is up), a
 * server that exits before it answers. The kernel closes their sockets:
 * each ends as at its close, a failure, but for the response under way.
 * Before, none of them ended: lost, their children's parents missing. */
static void test_requests_waiting_at_exit_end_as_closed(void **state)
{
    (void)state;
    struct waiting w = requests_left_waiting();
    ts_conn_image_ends(TS_IMAGE_GONE);
    assert_int_equal(nspans, 6);
    for (int i = 0; i < 6; i++) {
        const struct ts_span *s = &spans[i];
        assert_null(ts_span_attr_find(s, "traceshim.response_unseen"));
        assert_int_equal(s->status, i == 1 ? TS_STATUS_UNSET : TS_STATUS_ERROR);
    }
    assert_int_equal(attr_int(&spans[1], "http.response.status_code"), 200);
    char v[64];
    assert_string_equal(attr_str(&spans[0], "error.type", v, sizeof v), "connection_closed");
    assert_string_equal(attr_str(&spans[3], "error.type", v, sizeof v), "connection_closed");
    close_waiting(&w);
}

/* exit() and main's return: the exit handlers and the other threads still
 * run, and may see the requests through (an atexit handler that joins the
 * threads serving them): nothing waiting ends yet, and what they finish
 * ends as it would have. */
static void test_requests_waiting_at_exit_wait_for_its_handlers(void **state)
{
    (void)state;
    struct waiting w = requests_left_waiting();
    ts_conn_image_ends(TS_IMAGE_EXITING);
    assert_int_equal(nspans, 0);
    char buf[512];
    peer_write(&w.waiting, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    prog_read(&w.waiting, buf, sizeof buf);
    const char *rest = "Content-Length: 0\r\n\r\n";
    assert_int_equal(prog_write(&w.cgi, rest, strlen(rest)), (ssize_t)strlen(rest));
    assert_int_equal(nspans, 2);
    assert_int_equal(spans[0].kind, TS_KIND_CLIENT);
    assert_int_equal(attr_int(&spans[0], "http.response.status_code"), 200);
    assert_int_equal(spans[1].kind, TS_KIND_SERVER);
    assert_int_equal(attr_int(&spans[1], "http.response.status_code"), 201);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(spans[i].status, TS_STATUS_UNSET);
        assert_null(ts_span_attr_find(&spans[i], "traceshim.response_unseen"));
    }
    ts_conn_image_ends(TS_IMAGE_GONE); /* the library's destructor */
    assert_int_equal(nspans, 6);
    close_waiting(&w);
}

/* An exec with requests still waiting on connections it passes on: the
 * next image may answer them (mini_httpd executes its CGI program on the
 * socket). Each ends, its outcome unknown (no error claimed), with the
 * status line a server wrote; a connection closed on exec ends as at its
 * close. Should the exec fail, the program goes on with those
 * connections untraced: the rest of a head it had begun, and the answers
 * after it, pass as they are, and pair with no request. */
static void test_requests_handed_to_the_next_image_end_unseen(void **state)
{
    (void)state;
    struct waiting w = requests_left_waiting();
    struct pair idle = client_get_sent();
    char buf[512];
    peer_write(&idle, "HTTP/1.1 204 No Content\r\n\r\n");
    prog_read(&idle, buf, sizeof buf);
    assert_int_equal(nspans, 1);
    nspans = 0;
    assert_int_equal(fcntl(w.pipelined.prog, F_SETFD, FD_CLOEXEC), 0);
    ts_conn_image_ends(TS_IMAGE_EXEC);
    assert_int_equal(nspans, 6);
    for (int i = 0; i < 6; i++) {
        const struct ts_span *s = &spans[i];
        bool unseen = ts_span_attr_find(s, "traceshim.response_unseen") != NULL;
        assert_int_equal(unseen, i < 4); /* the pipelined pair's fd closes on exec */
        assert_int_equal(s->status, unseen ? TS_STATUS_UNSET : TS_STATUS_ERROR);
    }
    assert_int_equal(spans[0].kind, TS_KIND_CLIENT);
    assert_int_equal(attr_int(&spans[0], "http.response.status_code"), -1);
    assert_int_equal(attr_int(&spans[1], "http.response.status_code"), 200);
    assert_int_equal(spans[2].kind, TS_KIND_SERVER);
    assert_int_equal(attr_int(&spans[2], "http.response.status_code"), -1);
    assert_int_equal(attr_int(&spans[3], "http.response.status_code"), 201);
    assert_null(ts_span_attr_find(&spans[3], "error.type"));
    /* the exec failed: the program goes on */
    char got[256];
    peer_read_all(&w.cgi, got, sizeof got); /* the status line before */
    const char *rest = "Content-Length: 0\r\n\r\nHTTP/1.0 404 Not Found\r\n\r\n";
    assert_int_equal(prog_write(&w.cgi, rest, strlen(rest)), (ssize_t)strlen(rest));
    assert_int_equal(peer_read_all(&w.cgi, got, sizeof got), strlen(rest)); /* as it was */
    assert_string_equal(got, rest);
    const char *again = "GET /again HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(prog_write(&w.waiting, again, strlen(again)), (ssize_t)strlen(again));
    assert_int_equal(peer_read_all(&w.waiting, got, sizeof got), strlen(again)); /* no lines */
    /* a connection with nothing waiting is followed on */
    const char *next = "GET /next HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(prog_write(&idle, next, strlen(next)), (ssize_t)strlen(next));
    assert_true(peer_read_all(&idle, got, sizeof got) > strlen(next));
    close_waiting(&w);
    close_pair(&idle);
    assert_int_equal(nspans, 7); /* /next, failed at its close */
}

static void test_client_untracked_on_close_ends_span(void **state)
{
    struct pair p = make_pair(TS_ROLE_CLIENT);
    prog_write(&p, get_head, strlen(get_head));
    close_pair(&p);
    assert_int_equal(nspans, 1);
    assert_int_equal(spans[0].status, TS_STATUS_ERROR);
}

/* A client that closes once it has read what it wanted of a response (a
 * health check reads the status line, a download tool abandons a first
 * probe): its own choice, no fault. The status is the response's; only a
 * close before any response is an error. */
static void test_client_closing_mid_body_is_no_error(void **state)
{
    struct pair p = client_get_sent();
    peer_write(&p, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nthe first bytes");
    char buf[512];
    prog_read(&p, buf, sizeof buf);
    assert_int_equal(nspans, 0);
    close_pair(&p);
    assert_int_equal(nspans, 1);
    assert_int_equal(spans[0].status, TS_STATUS_UNSET);
    assert_int_equal(attr_int(&spans[0], "http.response.status_code"), 200);
    assert_null(ts_span_attr_find(&spans[0], "error.type"));
}

/* A client that closes before a response's head has come whole: a
 * failure without a status, whether it read the status line (and gave up
 * waiting for the rest: a CGI script that hangs) or not; the shim cannot
 * tell it from a client that stopped by choice. With the head whole, the
 * status and no error (test_client_closing_mid_body_is_no_error). */
static void test_client_closing_before_the_whole_head_is_a_failure(void **state)
{
    (void)state;
    static const size_t reads[] = {11, 12, 17, 20};
    for (size_t i = 0; i < sizeof reads / sizeof reads[0]; i++) {
        nspans = 0;
        struct pair p = client_get_sent();
        peer_write(&p, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        char buf[64];
        assert_int_equal(prog_read(&p, buf, reads[i]), (ssize_t)reads[i]);
        close_pair(&p);
        assert_int_equal(nspans, 1);
        assert_int_equal(spans[0].status, TS_STATUS_ERROR);
        assert_int_equal(attr_int(&spans[0], "http.response.status_code"), -1);
    }
}

/* A response whose body runs to the close, ended by a failure (the peer's
 * reset): it may be cut short, as the client is told, so an error with
 * its status; a close ends it whole. */
static void test_client_close_delimited_body_cut_by_a_reset(void **state)
{
    (void)state;
    for (int reset = 0; reset <= 1; reset++) {
        nspans = 0;
        struct pair p = client_get_sent();
        peer_write(&p, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\npartial-body");
        char buf[256];
        prog_read(&p, buf, sizeof buf);
        assert_int_equal(nspans, 0);
        struct ts_conn *c = ts_conn_get(p.prog);
        struct iovec iov = {buf, sizeof buf};
        ts_conn_recv_done(c, &iov, 1, reset ? -1 : 0, 0, reset ? ECONNRESET : 0);
        ts_conn_put(c);
        assert_int_equal(nspans, 1);
        assert_int_equal(attr_int(&spans[0], "http.response.status_code"), 200);
        char v[64];
        if (reset) {
            assert_int_equal(spans[0].status, TS_STATUS_ERROR);
            assert_string_equal(attr_str(&spans[0], "error.type", v, sizeof v), "connection_error");
        } else {
            assert_int_equal(spans[0].status, TS_STATUS_UNSET);
            assert_null(ts_span_attr_find(&spans[0], "error.type"));
        }
        close_pair(&p);
        assert_int_equal(nspans, 1);
    }
}

static ssize_t pass_epipe(void *arg)
{
    (void)arg;
    errno = EPIPE;
    return -1;
}

/* A server's response whose client went away in the middle of its body
 * (the send fails, EPIPE; a write, or a sendfile): it ends there in
 * error, with its status, whether its body runs to the close (it ended
 * as a success at the close) or has a length. */
static void test_server_response_cut_off_by_its_client(void **state)
{
    (void)state;
    static const char *const heads[] = {"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nfirst",
                                        "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nfirst"};
    for (size_t i = 0; i < 4; i++) {
        nspans = 0;
        struct pair p = server_read("/cut");
        const char *head = heads[i % 2];
        assert_int_equal(prog_write(&p, head, strlen(head)), (ssize_t)strlen(head));
        assert_int_equal(nspans, 0);
        struct iovec iov = {(void *)"more", 4};
        struct ts_conn *c = ts_conn_get(p.prog);
        errno = 0;
        if (i < 2) {
            assert_int_equal(ts_conn_send(c, p.prog, &iov, 1, 0, pass_epipe, NULL), -1);
        } else { /* the rest by sendfile, which failed */
            errno = EPIPE;
            ts_conn_sent_unseen(c, -1);
        }
        assert_int_equal(errno, EPIPE);
        ts_conn_put(c);
        assert_int_equal(nspans, 1);
        assert_int_equal(spans[0].status, TS_STATUS_ERROR);
        assert_int_equal(attr_int(&spans[0], "http.response.status_code"), 200);
        char v[64];
        assert_string_equal(attr_str(&spans[0], "error.type", v, sizeof v), "connection_error");
        close_pair(&p);
        assert_int_equal(nspans, 1);
    }
}

static void test_non_http_passes_untouched(void **state)
{
    struct pair p = make_pair(TS_ROLE_CLIENT);
    const char msg[] = "*1\r\n$4\r\nPING\r\n";
    assert_int_equal(prog_write(&p, msg, sizeof msg - 1), (ssize_t)(sizeof msg - 1));
    unsigned char bin[300];
    for (int i = 0; i < 300; i++)
        bin[i] = (unsigned char)(i * 7);
    assert_int_equal(prog_write(&p, (char *)bin, sizeof bin), (ssize_t)sizeof bin);
    char got[1024];
    size_t n = peer_read_all(&p, got, sizeof got);
    assert_int_equal(n, sizeof msg - 1 + sizeof bin);
    assert_memory_equal(got, msg, sizeof msg - 1);
    assert_memory_equal(got + sizeof msg - 1, bin, sizeof bin);
    peer_write(&p, "+PONG\r\n");
    char buf[64];
    prog_read(&p, buf, sizeof buf);
    close_pair(&p);
    assert_int_equal(nspans, 0);
}

/* Once the direction requests come from is not HTTP (a client's out, a
 * server's in), the hooks' ts_conn_done_with stops tracking the fd (its
 * calls then cost what an untracked fd's do). An HTTP connection, or one
 * with a span still waiting, stays tracked. */
static void test_non_http_requests_untracked(void **state)
{
    (void)state;
    const char msg[] = "*1\r\n$4\r\nPING\r\n";
    struct pair client = make_pair(TS_ROLE_CLIENT);
    assert_int_equal(prog_write(&client, msg, sizeof msg - 1), (ssize_t)(sizeof msg - 1));
    ts_conn_done_with(client.prog, ts_conn_get(client.prog));
    assert_false(ts_fd_tracked(client.prog));
    close_pair(&client);

    struct pair server = make_pair(TS_ROLE_SERVER);
    peer_write(&server, msg);
    char buf[64];
    assert_int_equal(prog_read(&server, buf, sizeof buf), (ssize_t)(sizeof msg - 1));
    ts_conn_done_with(server.prog, ts_conn_get(server.prog));
    assert_false(ts_fd_tracked(server.prog));
    close_pair(&server);
    assert_int_equal(nspans, 0);

    /* a request waiting for its answer when the answer is not HTTP: the
     * requests still are, the span ends as it did */
    struct pair h = make_pair(TS_ROLE_CLIENT);
    const char get[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    assert_int_equal(prog_write(&h, get, sizeof get - 1), (ssize_t)(sizeof get - 1));
    ts_conn_done_with(h.prog, ts_conn_get(h.prog));
    assert_true(ts_fd_tracked(h.prog));
    peer_write(&h, "+PONG\r\n");
    prog_read(&h, buf, sizeof buf);
    ts_conn_done_with(h.prog, ts_conn_get(h.prog));
    assert_true(ts_fd_tracked(h.prog));
    close_pair(&h);
    assert_int_equal(nspans, 1);
}

static void test_head_piece_passes_at_once(void **state)
{
    /* a program that stops mid request line and reads: its bytes are on the
     * wire already (the shim keeps a copy to parse, never the bytes) */
    struct pair p = make_pair(TS_ROLE_CLIENT);
    assert_int_equal(prog_write(&p, "GET /x", 6), 6);
    char got[64];
    assert_int_equal(peer_read_all(&p, got, sizeof got), 6);
    assert_string_equal(got, "GET /x");
    peer_write(&p, "?");
    char buf[8];
    prog_read(&p, buf, sizeof buf);
    assert_int_equal(prog_write(&p, " more", 5), 5);
    assert_int_equal(peer_read_all(&p, got, sizeof got), 5);
    close_pair(&p);
    assert_int_equal(nspans, 0);
}

/* ------------------------------------------------------------- server */

static void test_server_extracts_context_and_sets_current(void **state)
{
    struct pair p = make_pair(TS_ROLE_SERVER);
    peer_write(&p, "GET /api/items?id=3 HTTP/1.1\r\nHost: svc:80\r\n"
                   "b3: 80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90\r\n"
                   "User-Agent: curl/8\r\n\r\n");
    char buf[512];
    prog_read(&p, buf, sizeof buf);
    const struct ts_ctx *cur = ts_ctx_current();
    assert_non_null(cur);
    char t[33];
    hex(cur->trace_id, 16, t);
    assert_string_equal(t, "80f198ee56343ba864fe8b2a57d3eff7");
    assert_int_equal(nspans, 0);

    const char *resp = "HTTP/1.1 503 Busy\r\nContent-Length: 4\r\n\r\nbusy";
    assert_int_equal(prog_write(&p, resp, strlen(resp)), (ssize_t)strlen(resp));
    char got[256];
    peer_read_all(&p, got, sizeof got);
    assert_string_equal(got, resp); /* responses are never changed */
    assert_int_equal(nspans, 1);
    struct ts_span *s = &spans[0];
    assert_int_equal(s->kind, TS_KIND_SERVER);
    char parent[17], v[128];
    hex(s->parent_id, 8, parent);
    assert_string_equal(parent, "e457b5a2e4d86bd1");
    assert_memory_equal(s->span_id, cur->span_id, 8);
    assert_int_equal(s->status, TS_STATUS_ERROR);
    assert_int_equal(attr_int(s, "http.response.status_code"), 503);
    assert_string_equal(attr_str(s, "error.type", v, sizeof v), "503");
    assert_string_equal(attr_str(s, "url.path", v, sizeof v), "/api/items");
    assert_string_equal(attr_str(s, "url.query", v, sizeof v), "id=3");
    assert_string_equal(attr_str(s, "user_agent.original", v, sizeof v), "curl/8");
    assert_null(ts_ctx_current()); /* the response is complete: no current span */
    close_pair(&p);
}

/* What a traced client sends, a traced server with the same settings
 * follows: a head just under TRACESHIM_MAX_HEAD_BYTES, or of 101 header
 * lines (past the 100 a Python or Apache server takes, so its server takes
 * more), grows by the lines the client's shim adds, and the server's shim
 * still reads it (it gave up on it, head_too_big or bad_head, and the
 * client's span had no server span under it). */
static void test_server_follows_a_traced_clients_head(void **state)
{
    (void)state;
    ts_cfg.max_head_bytes = 1024;
    for (int shape = 0; shape < 2; shape++) {
        static char head[4096], wire[8192], buf[8192];
        size_t n = (size_t)snprintf(head, sizeof head, "GET /big HTTP/1.1\r\nHost: h\r\n");
        if (shape == 0) { /* one long header: the head 1,020 bytes */
            n += (size_t)snprintf(head + n, sizeof head - n, "X-Long: %0*d\r\n\r\n",
                                  (int)(1020 - n - 12), 0);
        } else { /* 101 header lines, Host included */
            for (int i = 1; i <= 100; i++)
                n += (size_t)snprintf(head + n, sizeof head - n, "X-H%d: v\r\n", i);
            n += (size_t)snprintf(head + n, sizeof head - n, "\r\n");
        }
        nspans = 0;
        struct pair cl = make_pair(TS_ROLE_CLIENT);
        assert_int_equal(prog_write(&cl, head, n), (ssize_t)n);
        size_t sent = peer_read_all(&cl, wire, sizeof wire - 1);
        wire[sent] = '\0';
        assert_true(sent > n); /* the trace lines went in */
        const char *resp = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        peer_write(&cl, resp);
        prog_read(&cl, buf, sizeof buf);
        close_pair(&cl);
        assert_int_equal(nspans, 1);

        struct pair sv = make_pair(TS_ROLE_SERVER);
        peer_write(&sv, wire);
        prog_read(&sv, buf, sizeof buf);
        assert_int_equal(prog_write(&sv, resp, strlen(resp)), (ssize_t)strlen(resp));
        close_pair(&sv);
        if (nspans != 2)
            fail_msg("shape %d: a %zu-byte head sent as %zu bytes made no server span", shape, n,
                     sent);
        assert_int_equal(spans[1].kind, TS_KIND_SERVER);
        assert_memory_equal(spans[1].trace_id, spans[0].trace_id, TS_TRACE_ID_LEN);
        assert_memory_equal(spans[1].parent_id, spans[0].span_id, TS_SPAN_ID_LEN);
    }
    ts_cfg.max_head_bytes = 0;
}

/* url.path and url.query of every form of target: the query is found
 * from where the parser's scan ended the path, or searched for where
 * nothing was scanned (paths around the scan's 8- and 16-byte blocks). */
static void test_server_query_of_every_target_form(void **state)
{
    static const struct {
        const char *target, *path, *query; /* query NULL: no url.query */
    } cases[] = {
        {"/a?b", "/a", "b"},
        {"/a", "/a", NULL},
        {"/a?", "/a", NULL},
        {"/a?b#c", "/a", "b"},
        {"/a#b", "/a", NULL},
        {"/a#b?c", "/a", "c"}, /* the first '?', even after the '#' */
        {"/a#b?", "/a", NULL},
        {"/", "/", NULL},
        {"/?x=1", "/", "x=1"},
        {"/0123456789abcd", "/0123456789abcd", NULL},
        {"/0123456789abcd?q", "/0123456789abcd", "q"},
        {"/0123456789abcde", "/0123456789abcde", NULL},
        {"/0123456789abcde?q", "/0123456789abcde", "q"},
        {"/0123456789abcdef", "/0123456789abcdef", NULL},
        {"/0123456789abcdef?q", "/0123456789abcdef", "q"},
        {"/0123456789abcdef0123456789abcd#f?q", "/0123456789abcdef0123456789abcd", "q"},
        {"/0123456789abcdef0123456789abcde?q#", "/0123456789abcdef0123456789abcde", "q"},
        {"http://h/p?q", "/p", "q"},
        {"http://h/p", "/p", NULL},
        {"http://h/p#f?q", "/p", "q"},
        {"http://h?x", "/", "x"},
        {"http://h", "/", NULL},
        {"*", "*", NULL},
        {"h:1?x", "h:1?x", "x"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        nspans = 0;
        struct pair p = make_pair(TS_ROLE_SERVER);
        char req[256], buf[256], v[128];
        snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: a\r\n\r\n", cases[i].target);
        peer_write(&p, req);
        prog_read(&p, buf, sizeof buf);
        const char *resp = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        assert_int_equal(prog_write(&p, resp, strlen(resp)), (ssize_t)strlen(resp));
        close_pair(&p);
        assert_int_equal(nspans, 1);
        assert_string_equal(attr_str(&spans[0], "url.path", v, sizeof v), cases[i].path);
        if (cases[i].query)
            assert_string_equal(attr_str(&spans[0], "url.query", v, sizeof v), cases[i].query);
        else
            assert_null(ts_span_attr_find(&spans[0], "url.query"));
    }
}

/* server.address and server.port name the server the request asked for,
 * on both sides (the OpenTelemetry HTTP conventions): an absolute-form
 * target's authority, else Host's, the port the scheme's default when
 * neither gives one. Without either, the server span says only the port
 * it was reached on: none over a Unix-domain socket (the test's pair). */
static void test_server_address_and_port_of_the_request(void **state)
{
    static const struct {
        const char *target, *host; /* host NULL: no Host header */
        const char *address;       /* NULL: no server.address */
        int port;
    } cases[] = {
        {"/", "example.test:8443", "example.test", 8443},
        {"/", "example.test", "example.test", 80},
        {"/", "[fd00::1]:9", "fd00::1", 9},
        {"/", "[fd00::1]", "fd00::1", 80},
        {"/", "h:notaport", "h", 80},
        {"/", NULL, NULL, 0},
        {"http://u:p@proxied.test:81/p?q", "other.test:82", "proxied.test", 81},
        {"HTTPS://proxied.test/p", "other.test", "proxied.test", 443},
        {"http://proxied.test", NULL, "proxied.test", 80},
        {"*", "star.test:7", "star.test", 7},
    };
    for (int role = 0; role < 2; role++) {
        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
            nspans = 0;
            char req[256], buf[256], v[128];
            int n = snprintf(req, sizeof req, "OPTIONS %s HTTP/1.1\r\n", cases[i].target);
            if (cases[i].host)
                n += snprintf(req + n, sizeof req - (size_t)n, "Host: %s\r\n", cases[i].host);
            snprintf(req + n, sizeof req - (size_t)n, "\r\n");
            const char *resp = "HTTP/1.1 204 No Content\r\n\r\n";
            struct pair p = make_pair(role ? TS_ROLE_CLIENT : TS_ROLE_SERVER);
            if (role) {
                prog_write(&p, req, strlen(req));
                peer_write(&p, resp);
                prog_read(&p, buf, sizeof buf);
            } else {
                peer_write(&p, req);
                prog_read(&p, buf, sizeof buf);
                prog_write(&p, resp, strlen(resp));
            }
            close_pair(&p);
            assert_int_equal(nspans, 1);
            const struct ts_span *s = &spans[0];
            if (cases[i].address) {
                assert_string_equal(attr_str(s, "server.address", v, sizeof v), cases[i].address);
                assert_int_equal(attr_int(s, "server.port"), cases[i].port);
            } else if (!role) {
                assert_null(ts_span_attr_find(s, "server.address"));
                assert_null(ts_span_attr_find(s, "server.port"));
            }
        }
    }
}

/* An exporter's request of a shim (User-Agent traceshim/...) makes no
 * span on either side, and a client sending one adds no headers: a
 * traced collector or gateway would otherwise trace every batch it is
 * sent, export that, and so on forever. Another agent is traced. */
static void test_shim_export_requests_are_not_traced(void **state)
{
    (void)state;
    const char *req = "POST /v1/traces HTTP/1.1\r\nHost: c:4318\r\n"
                      "User-Agent: traceshim/0.1.0\r\nContent-Length: 2\r\n\r\n{}";
    const char *resp = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    char buf[512];
    nspans = 0;
    struct pair p = make_pair(TS_ROLE_SERVER);
    peer_write(&p, req);
    assert_int_equal(prog_read(&p, buf, sizeof buf), (ssize_t)strlen(req));
    assert_int_equal(prog_write(&p, resp, strlen(resp)), (ssize_t)strlen(resp));
    close_pair(&p);
    assert_int_equal(nspans, 0);

    p = make_pair(TS_ROLE_CLIENT);
    assert_int_equal(prog_write(&p, req, strlen(req)), (ssize_t)strlen(req));
    peer_write(&p, resp);
    assert_int_equal(prog_read(&p, buf, sizeof buf), (ssize_t)strlen(resp));
    char got[1024];
    peer_read_all(&p, got, sizeof got);
    assert_string_equal(got, req); /* as written: no trace headers */
    close_pair(&p);
    assert_int_equal(nspans, 0);

    /* another agent, or ours as a prefix of nothing more: traced */
    const char *other = "GET / HTTP/1.1\r\nHost: h\r\nUser-Agent: traceshim\r\n\r\n";
    p = make_pair(TS_ROLE_SERVER);
    peer_write(&p, other);
    prog_read(&p, buf, sizeof buf);
    prog_write(&p, resp, strlen(resp));
    close_pair(&p);
    assert_int_equal(nspans, 1);
}

static void test_server_head_in_pieces_and_client_child(void **state)
{
    struct pair srv = make_pair(TS_ROLE_SERVER);
    const char *req =
        "GET /front HTTP/1.1\r\nHost: a\r\n"
        "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n\r\n";
    for (const char *s = req; *s; s++) {
        char one[2] = {*s, 0};
        peer_write(&srv, one);
        char buf[4];
        prog_read(&srv, buf, 1);
    }
    assert_non_null(ts_ctx_current());

    /* while serving, this thread calls another service */
    struct pair cli = make_pair(TS_ROLE_CLIENT);
    prog_write(&cli, get_head, strlen(get_head));
    char got[2048];
    peer_read_all(&cli, got, sizeof got);
    assert_non_null(strstr(got, "X-B3-TraceId: 4bf92f3577b34da6a3ce929d0e0e4736\r\n"));
    assert_non_null(strstr(got, "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-"));
    char parent_line[64], cur_id[17];
    hex(ts_ctx_current()->span_id, 8, cur_id);
    snprintf(parent_line, sizeof parent_line, "X-B3-ParentSpanId: %s\r\n", cur_id);
    assert_non_null(strstr(got, parent_line));
    peer_write(&cli, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    char buf[128];
    prog_read(&cli, buf, sizeof buf);
    close_pair(&cli);

    prog_write(&srv, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", 38);
    prog_write(&srv, "ok", 2);
    close_pair(&srv);
    assert_int_equal(nspans, 2);
    struct ts_span *client = &spans[0], *server = &spans[1];
    assert_int_equal(server->kind, TS_KIND_SERVER);
    assert_memory_equal(client->parent_id, server->span_id, 8);
    assert_memory_equal(client->trace_id, server->trace_id, 16);
    char parent[17];
    hex(server->parent_id, 8, parent);
    assert_string_equal(parent, "00f067aa0ba902b7");
    /* OTLP's span flags: the server's parent is the caller's, the
     * client's the server span of this process */
    assert_int_equal(server->parent_is, TS_PARENT_REMOTE);
    assert_int_equal(client->parent_is, TS_PARENT_LOCAL);
}

/* Where a span's parent lives (ts_span.parent_is, OTLP's span flags): a
 * root's is local (it has none), a client span's under a context the
 * program wrote itself is not known (its own tracer's span, or one it
 * passes on from a request the shim did not see). */
static void test_parent_is_where_the_parent_lives(void **state)
{
    (void)state;
    struct pair srv = make_pair(TS_ROLE_SERVER);
    serve_204_and_close(&srv, "GET /root HTTP/1.1\r\nHost: a\r\n\r\n");
    char buf[256];
    assert_int_equal(nspans, 1);
    assert_true(ts_id_is_zero(spans[0].parent_id, 8));
    assert_int_equal(spans[0].parent_is, TS_PARENT_LOCAL);

    nspans = 0;
    static const char own[] =
        "GET /x HTTP/1.1\r\nHost: b\r\n"
        "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n\r\n";
    struct pair cli = make_pair(TS_ROLE_CLIENT);
    prog_write(&cli, own, strlen(own));
    char got[2048];
    peer_read_all(&cli, got, sizeof got);
    peer_write(&cli, "HTTP/1.1 204 No Content\r\n\r\n");
    prog_read(&cli, buf, sizeof buf);
    close_pair(&cli);
    assert_int_equal(nspans, 1);
    char parent[17];
    hex(spans[0].parent_id, 8, parent);
    assert_string_equal(parent, "00f067aa0ba902b7");
    assert_int_equal(spans[0].parent_is, TS_PARENT_UNKNOWN);

    nspans = 0; /* a client span of its own: a root, local */
    cli = make_pair(TS_ROLE_CLIENT);
    prog_write(&cli, get_head, strlen(get_head));
    peer_read_all(&cli, got, sizeof got);
    peer_write(&cli, "HTTP/1.1 204 No Content\r\n\r\n");
    prog_read(&cli, buf, sizeof buf);
    close_pair(&cli);
    assert_int_equal(nspans, 1);
    assert_int_equal(spans[0].parent_is, TS_PARENT_LOCAL);
}

/* ------------------------------------------------------------ tracestate */

#define TP_IN "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n"

/* What the peer of an outgoing request gets while this thread is in the
 * middle of serving a request carrying `lines` (header lines, each with
 * its CRLF): client_head is the program's request. */
static void call_while_serving(const char *lines, const char *client_head, char *got, size_t cap)
{
    struct pair srv = make_pair(TS_ROLE_SERVER);
    char req[2048], buf[2048];
    snprintf(req, sizeof req, "GET /in HTTP/1.1\r\nHost: a\r\n%s\r\n", lines);
    peer_write(&srv, req);
    prog_read(&srv, buf, sizeof buf);
    assert_non_null(ts_ctx_current());
    struct pair cli = make_pair(TS_ROLE_CLIENT);
    assert_int_equal(prog_write(&cli, client_head, strlen(client_head)),
                     (ssize_t)strlen(client_head));
    peer_read_all(&cli, got, cap);
    peer_write(&cli, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    prog_read(&cli, buf, sizeof buf);
    close_pair(&cli);
    prog_write(&srv, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 38);
    close_pair(&srv);
}

/* The control of the tests that something is not passed on: the same
 * call, while serving a request with traceparent and tracestate alone,
 * does carry it. */
static void assert_passed_on_alone(void)
{
    char got[4096];
    call_while_serving(TP_IN "tracestate: rojo=1\r\n", get_head, got, sizeof got);
    assert_non_null(strstr(got, "\r\ntracestate: rojo=1\r\n\r\n"));
}

/* A server that got traceparent and tracestate passes the tracestate on,
 * as it came, with the traceparent it writes: sampled or not, and several
 * tracestate headers joined into one. */
static void test_tracestate_passed_on_with_traceparent(void **state)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {TP_IN "tracestate: rojo=00f067aa0ba902b7, congo=t61rcWkgMzE\r\n",
         "tracestate: rojo=00f067aa0ba902b7, congo=t61rcWkgMzE\r\n"},
        {"traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00\r\n"
         "tracestate: rojo=1\r\n",
         "tracestate: rojo=1\r\n"},
        {"TraceState: rojo=1\r\n" TP_IN "tracestate: congo=2\r\n",
         "tracestate: rojo=1,congo=2\r\n"},
        /* B3 with the traceparent's own ids: the same context, so its tracestate */
        {"b3: 4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1\r\n" TP_IN
         "tracestate: rojo=1\r\n",
         "tracestate: rojo=1\r\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char got[4096], want[1024];
        call_while_serving(cases[i].in, get_head, got, sizeof got);
        assert_non_null(strstr(got, "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-"));
        /* right after the traceparent line, ending the head */
        snprintf(want, sizeof want, "\r\n%s\r\n", cases[i].out);
        const char *tp = strstr(got, "\r\ntraceparent: ");
        assert_non_null(tp);
        assert_string_equal(strstr(tp + 2, "\r\n"), want);
        assert_int_equal(lines_named(got, "tracestate:"), 1);
    }
}

/* A context another format carried (B3 outranks traceparent) is another
 * trace than the traceparent's: its tracestate is not passed on; nor is
 * one that came without traceparent at all. */
static void test_tracestate_not_passed_from_another_context(void **state)
{
    static const char *const cases[] = {
        "b3: 80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1\r\ntracestate: rojo=1\r\n",
        "b3: 80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1\r\n" TP_IN
        "tracestate: rojo=1\r\n",
        /* the traceparent's trace with another parent span */
        "b3: 4bf92f3577b34da6a3ce929d0e0e4736-e457b5a2e4d86bd1-1\r\n" TP_IN
        "tracestate: rojo=1\r\n",
        /* the traceparent's span id in another trace */
        "b3: 80f198ee56343ba864fe8b2a57d3eff7-00f067aa0ba902b7-1\r\n" TP_IN
        "tracestate: rojo=1\r\n",
        "X-B3-TraceId: 80f198ee56343ba864fe8b2a57d3eff7\r\nX-B3-SpanId: e457b5a2e4d86bd1\r\n" TP_IN
        "tracestate: rojo=1\r\n",
        "uber-trace-id: 80f198ee56343ba864fe8b2a57d3eff7:e457b5a2e4d86bd1:0:1\r\n"
        "tracestate: rojo=1\r\n",
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char got[4096];
        call_while_serving(cases[i], get_head, got, sizeof got);
        assert_non_null(strstr(got, "traceparent: "));
        if (lines_named(got, "tracestate") != 0)
            fail_msg("case %zu passed a tracestate on:\n%s", i, got);
    }
    assert_passed_on_alone();
}

/* Only with a traceparent the shim writes: not when the configured
 * formats leave it out (OTEL_PROPAGATORS=b3multi). */
static void test_tracestate_only_with_injected_traceparent(void **state)
{
    char got[4096];
    ts_cfg.propagators = TS_PROP_B3MULTI;
    call_while_serving(TP_IN "tracestate: rojo=1\r\n", get_head, got, sizeof got);
    assert_non_null(strstr(got, "X-B3-TraceId: 4bf92f3577b34da6a3ce929d0e0e4736\r\n"));
    assert_int_equal(lines_named(got, "traceparent"), 0);
    assert_int_equal(lines_named(got, "tracestate"), 0);
    ts_cfg.propagators = TS_PROP_TRACECONTEXT;
    call_while_serving(TP_IN "tracestate: rojo=1\r\n", get_head, got, sizeof got);
    assert_non_null(strstr(got, "\r\ntracestate: rojo=1\r\n\r\n"));
}

/* The spans of a trace with a tracestate carry it (exported as their
 * trace_state): the server span that read it, and the client span that
 * passed it on. */
static void test_tracestate_kept_in_spans(void **state)
{
    char got[4096];
    call_while_serving(TP_IN "tracestate: rojo=1,congo=2\r\n", get_head, got, sizeof got);
    assert_non_null(strstr(got, "\r\ntracestate: rojo=1,congo=2\r\n"));
    assert_int_equal(nspans, 2);
    for (int i = 0; i < 2; i++) {
        size_t n;
        const char *v =
            ts_span_bytes(&spans[i], spans[i].trace_state_off, spans[i].trace_state_len, &n);
        if (n != 14 || memcmp(v, "rojo=1,congo=2", 14) != 0)
            fail_msg("span %d (kind %d): trace_state \"%.*s\"", i, spans[i].kind, (int)n, v);
    }
    /* none: none */
    nspans = 0;
    call_while_serving(TP_IN, get_head, got, sizeof got);
    assert_int_equal(nspans, 2);
    assert_int_equal(spans[0].trace_state_len + spans[1].trace_state_len, 0);
}

/* An inbound request is read only in the formats OTEL_PROPAGATORS names
 * (ts_cfg.extracted): a request carrying none of them starts a trace of
 * its own; with them, it continues the request's. */
static void test_inbound_read_only_in_extracted_formats(void **state)
{
    static const char b3_in[] = "X-B3-TraceId: 4bf92f3577b34da6a3ce929d0e0e4736\r\n"
                                "X-B3-SpanId: 00f067aa0ba902b7\r\nX-B3-Sampled: 1\r\n";
    static const char continued[] = "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-";
    static const struct {
        unsigned extracted;
        const char *lines;
        bool continues;
    } cases[] = {
        {TS_PROP_B3 | TS_PROP_B3MULTI, TP_IN, false},
        {TS_PROP_TRACECONTEXT, TP_IN, true},
        {TS_PROP_TRACECONTEXT, b3_in, false},
        {TS_PROP_B3 | TS_PROP_B3MULTI, b3_in, true},
        {TS_PROP_B3 | TS_PROP_B3MULTI,
         "b3: 4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1\r\n", true},
        {TS_PROP_JAEGER, "uber-trace-id: 4bf92f3577b34da6a3ce929d0e0e4736:00f067aa0ba902b7:0:1\r\n",
         true},
        {TS_PROP_TRACECONTEXT,
         "uber-trace-id: 4bf92f3577b34da6a3ce929d0e0e4736:00f067aa0ba902b7:0:1\r\n", false},
        {0, TP_IN, false},
        /* two traceparents: not valid (W3C), a new trace */
        {TS_PROP_TRACECONTEXT | TS_PROP_B3 | TS_PROP_B3MULTI | TS_PROP_JAEGER, TP_IN TP_IN, false},
        /* "none": not even a decision is read (a "not sampled" parent
         * would have left no span and no header) */
        {0, "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00\r\n", false},
        {0, "b3: 0\r\n", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char got[4096];
        ts_cfg.extracted = cases[i].extracted;
        call_while_serving(cases[i].lines, get_head, got, sizeof got);
        if ((strstr(got, continued) != NULL) != cases[i].continues)
            fail_msg("case %zu: %s the inbound trace:\n%s", i,
                     cases[i].continues ? "did not continue" : "continued", got);
        if (!strstr(got, "traceparent: 00-") || !strstr(got, "-01\r\n"))
            fail_msg("case %zu: no sampled traceparent of the shim's:\n%s", i, got);
    }
}

/* The program's own tracestate is left as it wrote it, and so is its own
 * traceparent: the shim adds no tracestate beside either. */
static void test_tracestate_program_own_left_alone(void **state)
{
    char got[4096];
    const char *own = "GET / HTTP/1.1\r\nHost: h\r\nTraceState: mine=1\r\n\r\n";
    call_while_serving(TP_IN "tracestate: rojo=1\r\n", own, got, sizeof got);
    assert_non_null(strstr(got, "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-"));
    assert_int_equal(lines_named(got, "tracestate"), 1);
    assert_non_null(strstr(got, "\r\nTraceState: mine=1\r\n"));

    const char *own_tp =
        "GET / HTTP/1.1\r\nHost: h\r\n"
        "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n\r\n";
    call_while_serving(TP_IN "tracestate: rojo=1\r\n", own_tp, got, sizeof got);
    assert_int_equal(lines_named(got, "tracestate"), 0);
    assert_int_equal(lines_named(got, "traceparent"), 1);
    assert_passed_on_alone();
}

/* A tracestate the spec lets a vendor drop is dropped whole: malformed,
 * more than 32 members, more than 512 characters; the traceparent still
 * goes. */
static void test_tracestate_malformed_dropped_oversized_cut(void **state)
{
    char many[1024], longest[600];
    size_t n = 0;
    for (int i = 0; i < 33; i++)
        n += (size_t)snprintf(many + n, sizeof many - n, "%sk%d=v", i ? "," : "", i);
    char x[256];
    memset(x, 'x', 255);
    x[255] = '\0';
    const char *cases[] = {"Rojo=1", "rojo", "rojo=1,rojo=2", "rojo=1,congo=a=b", many};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char lines[2048], got[4096];
        snprintf(lines, sizeof lines, TP_IN "tracestate: %s\r\n", cases[i]);
        call_while_serving(lines, get_head, got, sizeof got);
        assert_non_null(strstr(got, "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-"));
        if (lines_named(got, "tracestate") != 0)
            fail_msg("case %zu passed on", i);
    }
    /* 512 characters pass as they came */
    snprintf(longest, sizeof longest, "a=%s,b=%.*s", x, 252, x);
    assert_int_equal(strlen(longest), 512);
    char lines[2048], got[4096], want[700];
    snprintf(lines, sizeof lines, TP_IN "tracestate: %s\r\n", longest);
    call_while_serving(lines, get_head, got, sizeof got);
    snprintf(want, sizeof want, "\r\ntracestate: %s\r\n\r\n", longest);
    assert_non_null(strstr(got, want));
    /* 513 lose their last entry (trace-context §3.3.1.5) */
    snprintf(longest, sizeof longest, "a=%s,b=%.*s", x, 253, x);
    snprintf(lines, sizeof lines, TP_IN "tracestate: %s\r\n", longest);
    call_while_serving(lines, get_head, got, sizeof got);
    snprintf(want, sizeof want, "\r\ntracestate: a=%s\r\n\r\n", x);
    assert_non_null(strstr(got, want));
}

/* Pipelined requests with their own tracestates: the client calls made
 * while serving each carry that request's, and none once both are done. */
static void test_tracestate_pipelined_each_own(void **state)
{
    struct pair srv = make_pair(TS_ROLE_SERVER);
    peer_write(&srv, "GET /a HTTP/1.1\r\nHost: h\r\n" TP_IN "tracestate: first=1\r\n\r\n"
                     "GET /b HTTP/1.1\r\nHost: h\r\n"
                     "traceparent: 00-80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-01\r\n"
                     "tracestate: second=2\r\n\r\n");
    char buf[1024], got[4096];
    prog_read(&srv, buf, sizeof buf);
    const char *res = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    static const char *const want[] = {"\r\ntracestate: first=1\r\n\r\n",
                                       "\r\ntracestate: second=2\r\n\r\n", NULL};
    static const char *const trace[] = {"4bf92f3577b34da6a3ce929d0e0e4736",
                                        "80f198ee56343ba864fe8b2a57d3eff7", NULL};
    for (int i = 0; i < 3; i++) {
        struct pair cli = make_pair(TS_ROLE_CLIENT);
        prog_write(&cli, get_head, strlen(get_head));
        peer_read_all(&cli, got, sizeof got);
        if (want[i]) {
            assert_non_null(strstr(got, want[i]));
            assert_non_null(strstr(got, trace[i]));
        } else { /* served both: a new trace, nothing to pass on */
            assert_int_equal(lines_named(got, "tracestate"), 0);
        }
        assert_int_equal(lines_named(got, "tracestate"), want[i] ? 1 : 0);
        peer_write(&cli, res);
        prog_read(&cli, buf, sizeof buf);
        close_pair(&cli);
        if (i < 2)
            prog_write(&srv, res, strlen(res));
    }
    close_pair(&srv);
}

static void test_server_unsampled_not_exported_flag(void **state)
{
    struct pair p = make_pair(TS_ROLE_SERVER);
    peer_write(&p, "GET / HTTP/1.1\r\nX-B3-TraceId: 0000000000000001\r\n"
                   "X-B3-SpanId: 0000000000000002\r\nX-B3-Sampled: 0\r\n\r\n");
    char buf[256];
    prog_read(&p, buf, sizeof buf);
    prog_write(&p, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 38);
    close_pair(&p);
    assert_int_equal(nspans, 1);
    assert_int_equal(spans[0].sampled, 0);
    /* nothing of it is read but its ids: it was neither named nor given
     * attributes, the status code's included */
    assert_int_equal(spans[0].name_len, 0);
    assert_int_equal(spans[0].nattrs, 0);
}

/* A span to be exported asks for the reporter thread as it begins, and
 * the hook's end (ts_conn_done_with) starts it: a stop signal before
 * that span ends finds a thread to hand it to (reporter.h). An unsampled
 * span, or a thread that runs already, asks for none. */
static void test_span_begun_asks_for_the_reporter_thread(void **state)
{
    rep_stub_threads_asked = 0;
    struct pair cli = make_pair(TS_ROLE_CLIENT);
    prog_write(&cli, get_head, strlen(get_head));
    assert_true(ts_rep_thread_asked);
    assert_int_equal(rep_stub_threads_asked, 0); /* not deep in the send */
    ts_conn_done_with(cli.prog, ts_conn_get(cli.prog));
    assert_false(ts_rep_thread_asked);
    assert_int_equal(rep_stub_threads_asked, 1);
    ts_conn_done_with(cli.prog, ts_conn_get(cli.prog));
    assert_int_equal(rep_stub_threads_asked, 1); /* asked once */
    close_pair(&cli);

    char buf[512];
    struct pair unsampled = make_pair(TS_ROLE_SERVER);
    peer_write(&unsampled, "GET / HTTP/1.1\r\nX-B3-TraceId: 0000000000000001\r\n"
                           "X-B3-SpanId: 0000000000000002\r\nX-B3-Sampled: 0\r\n\r\n");
    prog_read(&unsampled, buf, sizeof buf);
    assert_false(ts_rep_thread_asked);
    close_pair(&unsampled);

    struct pair srv = make_pair(TS_ROLE_SERVER);
    peer_write(&srv, "GET / HTTP/1.1\r\n\r\n");
    prog_read(&srv, buf, sizeof buf);
    assert_true(ts_rep_thread_asked);
    ts_conn_done_with(srv.prog, ts_conn_get(srv.prog));
    assert_int_equal(rep_stub_threads_asked, 2);
    close_pair(&srv);

    ts_rep_thread_started = true;
    struct pair running = make_pair(TS_ROLE_CLIENT);
    prog_write(&running, get_head, strlen(get_head));
    assert_false(ts_rep_thread_asked);
    close_pair(&running);
    ts_rep_thread_started = false;
}

/* recv with MSG_TRUNC on TCP discards the bytes without copying them (a
 * NULL buffer is allowed): they are bytes the shim did not see, never read
 * from the buffer. */
static void test_server_recv_truncated_is_unseen(void **state)
{
    struct sockaddr_in tcp_peer = {.sin_family = AF_INET, .sin_port = htons(40000)};
    struct pair p = make_pair_peer(TS_ROLE_SERVER, &tcp_peer, sizeof tcp_peer);
    uint64_t unseen = ts_stats_get(TS_STAT_GAVE_UP_UNSEEN_BYTES);
    peer_write(&p, "GET /t HTTP/1.1\r\nHost: h\r\n\r\n");
    char sink[100]; /* the test's pair is not TCP: read them, pass no buffer */
    ssize_t r = recv(p.prog, sink, sizeof sink, 0);
    assert_true(r > 0);
    struct ts_conn *c = ts_conn_get(p.prog);
    struct iovec iov = {NULL, 100};
    ts_conn_recv_done(c, &iov, 1, r, MSG_TRUNC, 0);
    ts_conn_put(c);
    assert_int_equal(ts_stats_get(TS_STAT_GAVE_UP_UNSEEN_BYTES), unseen + 1);
    assert_int_equal(nspans, 0);
    close_pair(&p);
}

/* A server's response the shim cannot follow (more header lines than it
 * parses): no later answer can be paired with a request. The next request
 * that comes ends the span still waiting (its answer unseen) and makes no
 * span of its own, and leaves the thread no current span: its calls were
 * made children of the earlier request, in that request's trace. */
static void test_server_response_unfollowed_stops_the_requests(void **state)
{
    struct pair p = make_pair(TS_ROLE_SERVER);
    char buf[8192], head[8192];
    peer_write(&p, "GET /first HTTP/1.1\r\nHost: h\r\n"
                   "traceparent: 00-11111111111111111111111111111111-1111111111111111-01\r\n\r\n");
    prog_read(&p, buf, sizeof buf);
    assert_non_null(ts_ctx_current());
    size_t n = (size_t)snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n");
    for (int i = 0; i < 120; i++)
        n += (size_t)snprintf(head + n, sizeof head - n, "Set-Cookie: c%d=v\r\n", i);
    n += (size_t)snprintf(head + n, sizeof head - n, "\r\nok");
    assert_int_equal(prog_write(&p, head, n), (ssize_t)n);
    assert_int_equal(nspans, 0); /* its end is not known */
    peer_write(&p, "GET /second HTTP/1.1\r\nHost: h\r\n"
                   "traceparent: 00-22222222222222222222222222222222-2222222222222222-01\r\n\r\n");
    prog_read(&p, buf, sizeof buf);
    assert_null(ts_ctx_current());
    assert_int_equal(nspans, 1);
    char v[64];
    assert_string_equal(attr_str(&spans[0], "url.path", v, sizeof v), "/first");
    assert_true(ts_span_attr_find(&spans[0], "traceshim.response_unseen") != NULL);
    prog_write(&p, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 40);
    close_pair(&p);
    assert_int_equal(nspans, 1);
}

/* Now on the spans' clock: a moment made wall-clock time by the cached
 * offset (clock.h). The offset is read again every 100 ms, each time
 * within about 10 us of the truth, so times on it are compared with that
 * much slack: a span's start read with one offset, the test's with the
 * next, may be that far apart (the direct wall clock, ts_now_ns, put a
 * span's start after the read that made it now and then). */
#define SPAN_CLOCK_SLACK_NS (1000 * 1000)
static uint64_t span_clock_ns(void)
{
    return ts_wall_ns_at(ts_moment_ns());
}

/* A server that answers before it has read the whole request head (nginx
 * answers 400 to a cookie past its header buffers, 414 to a target past
 * them, and drains the rest): the answer is that request's. Its span is
 * made once the head is whole (a traced client's lines are at its end),
 * or when the connection ends before that, from what came; it takes the
 * answer's status and times, and the rest of the head makes no span. */
static void test_server_answers_before_the_head_ends(void **state)
{
    struct pair p = make_pair(TS_ROLE_SERVER);
    peer_write(&p, "GET /page?x=1 HTTP/1.1\r\nHost: h\r\nCookie: c=bbbbbbbb");
    char buf[512], v[64];
    prog_read(&p, buf, sizeof buf);
    uint64_t read_by = span_clock_ns();
    usleep(20 * 1000);
    const char *res =
        "HTTP/1.1 400 Bad Request\r\nContent-Length: 5\r\nConnection: close\r\n\r\noops\n";
    prog_write(&p, res, strlen(res));
    uint64_t answered_by = span_clock_ns();
    usleep(20 * 1000);
    assert_int_equal(nspans, 0); /* its context may be in the rest */
    peer_write(&p, "bbbbbbbb\r\n"
                   "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n\r\n");
    prog_read(&p, buf, sizeof buf); /* the server drains it */
    assert_int_equal(nspans, 1);
    struct ts_span *s = &spans[0];
    assert_int_equal(s->kind, TS_KIND_SERVER);
    assert_int_equal(attr_int(s, "http.response.status_code"), 400);
    assert_int_equal(s->status, TS_STATUS_UNSET); /* a 4xx is the client's error */
    assert_null(ts_span_attr_find(s, "error.type"));
    assert_string_equal(attr_str(s, "url.path", v, sizeof v), "/page");
    assert_string_equal(attr_str(s, "network.protocol.version", v, sizeof v), "1.1");
    char parent[17];
    hex(s->parent_id, 8, parent);
    assert_string_equal(parent, "00f067aa0ba902b7");
    /* from the head's first bytes to the answer */
    assert_true(s->start_ns <= read_by + SPAN_CLOCK_SLACK_NS);
    assert_true(s->end_ns >= s->start_ns + 20 * 1000 * 1000 &&
                s->end_ns <= answered_by + SPAN_CLOCK_SLACK_NS);
    peer_write(&p, "GET /next HTTP/1.1\r\nHost: h\r\n\r\n"); /* followed no further */
    prog_read(&p, buf, sizeof buf);
    close_pair(&p);
    assert_int_equal(nspans, 1);

    /* a request line cut short, the connection closed without the rest:
     * the span at the close, its target as far as it came, no version */
    nspans = 0;
    p = make_pair(TS_ROLE_SERVER);
    char line[400] = "GET /";
    memset(line + 5, 'a', 300);
    peer_write(&p, line);
    prog_read(&p, buf, sizeof buf);
    res = "HTTP/1.1 414 URI Too Long\r\nContent-Length: 0\r\n\r\n";
    prog_write(&p, res, strlen(res));
    assert_int_equal(nspans, 0);
    close_pair(&p);
    assert_int_equal(nspans, 1);
    assert_int_equal(attr_int(&spans[0], "http.response.status_code"), 414);
    char path[400];
    assert_string_equal(attr_str(&spans[0], "url.path", path, sizeof path), line + 4);
    assert_null(ts_span_attr_find(&spans[0], "network.protocol.version"));

    /* the rest past the head's limit: the span from what came, at once */
    nspans = 0;
    p = make_pair(TS_ROLE_SERVER);
    peer_write(&p, "GET /big HTTP/1.1\r\nHost: h\r\nCookie: ");
    prog_read(&p, buf, sizeof buf);
    prog_write(&p, res, strlen(res));
    char *rest = malloc(conn_max_request_head() + 1);
    memset(rest, 'c', conn_max_request_head());
    rest[conn_max_request_head()] = 0;
    peer_write(&p, rest);
    free(rest);
    while (nspans == 0 && prog_read(&p, buf, sizeof buf) > 0)
        ;
    assert_int_equal(nspans, 1);
    assert_string_equal(attr_str(&spans[0], "url.path", v, sizeof v), "/big");
    close_pair(&p);
    assert_int_equal(nspans, 1);

    /* an answer to no request at all (a 408 on an idle connection, or to
     * bytes that are no request line yet): no span */
    nspans = 0;
    p = make_pair(TS_ROLE_SERVER);
    peer_write(&p, "GET");
    prog_read(&p, buf, sizeof buf);
    res = "HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n\r\n";
    prog_write(&p, res, strlen(res));
    close_pair(&p);
    assert_int_equal(nspans, 0);
}

/* Pipelined requests read at once: the thread serves the first until its
 * response is complete, then the next; the current span (the parent of
 * the client calls the handler makes) follows, never the last one read. */
static void test_server_pipelined_requests_served_in_turn(void **state)
{
    struct pair p = make_pair(TS_ROLE_SERVER);
    peer_write(&p, "GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n");
    char buf[256], v[64];
    prog_read(&p, buf, sizeof buf);
    struct ts_ctx first = *ts_ctx_current();
    assert_true(first.valid);
    const char *res = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    prog_write(&p, res, strlen(res));
    assert_int_equal(nspans, 1);
    assert_string_equal(attr_str(&spans[0], "url.path", v, sizeof v), "/a");
    assert_memory_equal(spans[0].span_id, first.span_id, TS_SPAN_ID_LEN);
    const struct ts_ctx *second = ts_ctx_current();
    assert_non_null(second);
    assert_memory_not_equal(second->span_id, first.span_id, TS_SPAN_ID_LEN);
    struct ts_ctx kept = *second;
    prog_write(&p, res, strlen(res));
    assert_int_equal(nspans, 2);
    assert_string_equal(attr_str(&spans[1], "url.path", v, sizeof v), "/b");
    assert_memory_equal(spans[1].span_id, kept.span_id, TS_SPAN_ID_LEN);
    assert_null(ts_ctx_current()); /* served both */
    close_pair(&p);
}

/* A decision that came without ids ("b3: 1", "b3: d", "X-B3-Sampled: 1")
 * starts a new trace so decided, whatever the sampler would say (here:
 * never); "d" stays debug in what the server's own calls carry. */
static void test_server_decision_without_ids(void **state)
{
    static const struct {
        const char *line;
        uint8_t sampling;
    } cases[] = {
        {"b3: 1", TS_SAMPLING_ACCEPT},
        {"b3: d", TS_SAMPLING_DEBUG},
        {"X-B3-Sampled: 1", TS_SAMPLING_ACCEPT},
        {"X-B3-Flags: 1", TS_SAMPLING_DEBUG},
        {"b3: 0", TS_SAMPLING_DENY},
    };
    assert_int_equal(ts_sampler_load(always_off_env), 0);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct pair p = make_pair(TS_ROLE_SERVER);
        char req[128], buf[256];
        snprintf(req, sizeof req, "GET /d HTTP/1.1\r\nHost: h\r\n%s\r\n\r\n", cases[i].line);
        peer_write(&p, req);
        prog_read(&p, buf, sizeof buf);
        const struct ts_ctx *cur = ts_ctx_current();
        assert_non_null(cur);
        assert_int_equal(cur->sampling, cases[i].sampling);
        prog_write(&p, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 38);
        assert_int_equal(nspans, (int)i + 1);
        assert_int_equal(spans[i].sampled, ts_sampling_span_flags(cases[i].sampling));
        assert_true(ts_id_is_zero(spans[i].parent_id, TS_SPAN_ID_LEN)); /* a new trace */
        close_pair(&p);
    }
    ts_sampler_load(NULL);
}

static const char *parent_off_env(const char *name)
{
    return strcmp(name, "OTEL_TRACES_SAMPLER") == 0 ? "parentbased_always_off" : NULL;
}

/* A request whose B3 context carries no decision beside a traceparent of
 * the same trace and span that does (a traced proxy forwarding B3 as it
 * came, the traceparent its own): the server span follows the
 * traceparent's decision, not the root sampler's. */
static void test_server_b3_defer_follows_same_ids_traceparent(void **state)
{
    (void)state;
    static const struct {
        const char *b3;
        bool parent_off; /* parentbased_always_off, else the default (roots sampled) */
        const char *flags;
        uint8_t sampled;
    } cases[] = {
        {"X-B3-TraceId: 4bf92f3577b34da6a3ce929d0e0e4736\r\nX-B3-SpanId: 00f067aa0ba902b7", false,
         "00", 0},
        {"X-B3-TraceId: 4bf92f3577b34da6a3ce929d0e0e4736\r\nX-B3-SpanId: 00f067aa0ba902b7", true,
         "01", TS_SPAN_SAMPLED},
        {"b3: 4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", false, "00", 0},
        {"b3: 4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", true, "01", TS_SPAN_SAMPLED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        nspans = 0;
        assert_int_equal(ts_sampler_load(cases[i].parent_off ? parent_off_env : NULL), 0);
        struct pair p = make_pair(TS_ROLE_SERVER);
        char req[512], buf[256];
        snprintf(req, sizeof req,
                 "GET /d HTTP/1.1\r\nHost: h\r\n%s\r\n"
                 "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-%s\r\n\r\n",
                 cases[i].b3, cases[i].flags);
        peer_write(&p, req);
        prog_read(&p, buf, sizeof buf);
        prog_write(&p, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 38);
        assert_int_equal(nspans, 1);
        if (spans[0].sampled != cases[i].sampled)
            fail_msg("case %zu: sampled %d, want %d", i, spans[0].sampled, cases[i].sampled);
        char pid[17];
        hex(spans[0].parent_id, 8, pid);
        assert_string_equal(pid, "00f067aa0ba902b7");
        close_pair(&p);
    }
    ts_sampler_load(NULL);
}

/* A server span continuing a B3 debug context (X-B3-Flags: 1, b3's "d")
 * is a debug span, for the exporters to say so, and so is a client span
 * of a call made while serving it; a sampled context makes neither. */
static void test_debug_context_makes_debug_spans(void **state)
{
    static const struct {
        const char *lines;
        uint8_t sampled;
    } cases[] = {
        {"X-B3-TraceId: 4bf92f3577b34da6a3ce929d0e0e4736\r\nX-B3-SpanId: 00f067aa0ba902b7\r\n"
         "X-B3-Flags: 1\r\n",
         TS_SPAN_SAMPLED | TS_SPAN_DEBUG},
        {"b3: 4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-d\r\n",
         TS_SPAN_SAMPLED | TS_SPAN_DEBUG},
        {"b3: 4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1\r\n", TS_SPAN_SAMPLED},
        {TP_IN, TS_SPAN_SAMPLED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        nspans = 0;
        char got[4096];
        call_while_serving(cases[i].lines, get_head, got, sizeof got);
        assert_int_equal(nspans, 2);
        struct ts_span *client = &spans[0], *server = &spans[1];
        assert_int_equal(server->kind, TS_KIND_SERVER);
        assert_int_equal(server->sampled, cases[i].sampled);
        assert_int_equal(client->kind, TS_KIND_CLIENT);
        assert_int_equal(client->sampled, cases[i].sampled);
        assert_memory_equal(client->parent_id, server->span_id, TS_SPAN_ID_LEN);
    }
}

/* The program wrote a B3 context with no decision ("defer") and the
 * sampler made one for its span: the traceparent the shim adds says
 * that decision, not "sampled" regardless (a W3C peer would record a
 * trace whose upstream part was never recorded). */
static void test_client_program_defer_gets_the_samplers_flag(void **state)
{
    static const char head[] = "GET /x HTTP/1.1\r\nHost: h\r\n"
                               "b3: 4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7\r\n\r\n";
    static const char *const want[] = {
        "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00\r\n",
        "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n",
    };
    for (int sampled = 0; sampled < 2; sampled++) {
        nspans = 0;
        ts_sampler_load(sampled ? NULL : always_off_env);
        struct pair p = make_pair(TS_ROLE_CLIENT);
        assert_int_equal(prog_write(&p, head, strlen(head)), (ssize_t)strlen(head));
        char got[2048], buf[128];
        peer_read_all(&p, got, sizeof got);
        if (!strstr(got, want[sampled]))
            fail_msg("sampled %d: no \"%.*s\" in:\n%s", sampled, (int)strlen(want[sampled]) - 2,
                     want[sampled], got);
        assert_non_null(
            strstr(got, "\r\nb3: 4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7\r\n"));
        peer_write(&p, "HTTP/1.1 204 No Content\r\n\r\n");
        prog_read(&p, buf, sizeof buf);
        close_pair(&p);
        assert_int_equal(nspans == 1 && spans[0].sampled, sampled);
    }
}

/* The default sampler again, however the test before ended. */
static int sampler_reset(void **state)
{
    (void)state;
    ts_sampler_load(NULL);
    return 0;
}

static const char *per_operation_env(const char *name)
{
    return strcmp(name, "OTEL_TRACES_SAMPLER") == 0 ? "jaeger_remote" : NULL;
}

/* Where the sampler decides by the span's name (a remote strategy's
 * operations), the span is named before it decides. */
static void test_server_named_before_a_decision_by_name(void **state)
{
    assert_int_equal(ts_sampler_load(per_operation_env), 0);
    const char *ops = "{\"operationSampling\":{\"defaultSamplingProbability\":0,"
                      "\"perOperationStrategies\":[{\"operation\":\"GET /in\","
                      "\"probabilisticSampling\":{\"samplingRate\":1}}]}}";
    assert_int_equal(ts_sampler_apply_strategy(ops, strlen(ops)), 0);
    struct pair p = make_pair(TS_ROLE_SERVER);
    peer_write(&p, "GET /in HTTP/1.1\r\n\r\nGET /out HTTP/1.1\r\n\r\n");
    char buf[256];
    prog_read(&p, buf, sizeof buf);
    prog_write(&p, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 38);
    prog_write(&p, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 38);
    close_pair(&p);
    ts_sampler_load(NULL);
    assert_int_equal(nspans, 2);
    assert_int_equal(spans[0].sampled, 1);
    assert_memory_equal(ts_span_name(&spans[0]), "GET /in", spans[0].name_len);
    assert_int_equal(attr_int(&spans[0], "http.response.status_code"), 200);
    assert_int_equal(spans[1].sampled, 0);
}

/* ----------------------------------------------------------- fd life */

static void test_dup_shares_connection(void **state)
{
    struct pair p = make_pair(TS_ROLE_CLIENT);
    int copy = dup(p.prog);
    ts_conn_dup(p.prog, copy);
    ts_conn_untrack(p.prog);
    assert_false(ts_fd_tracked(p.prog));
    assert_true(ts_fd_tracked(copy));
    struct ts_conn *c = ts_conn_get(copy);
    assert_non_null(c);
    ts_conn_put(c);
    ts_conn_untrack(copy);
    assert_false(ts_fd_tracked(copy));
    close(copy);
    close(p.prog);
    close(p.peer);
}

/* ------------------------------------------ what a connection costs */

/* A tracked connection is one small object: three futex-word locks, room
 * for one request in flight, the peer's IPv4 address in binary, no
 * buffers (10,000 held connections must cost well under 4 MiB). */
static void test_connection_object_is_small(void **state)
{
    assert_true(sizeof(struct ts_conn) <= 96);
    assert_true(sizeof(struct conn_lock) == 4);
}

/* The peer's address is kept in binary and written out as inet_ntop
 * would, for every value of every byte; an IPv6 one as inet_ntop wrote it,
 * an IPv4-mapped one as IPv4, an unknown family as nothing. */
static void test_peer_address_text(void **state)
{
    char got[INET6_ADDRSTRLEN], want[INET6_ADDRSTRLEN];
    for (unsigned v = 0; v < 256; v++) {
        for (unsigned k = 0; k < 4; k++) {
            uint8_t ip[4] = {10, 200, 3, 99};
            ip[k] = (uint8_t)v;
            ip[(k + 1) % 4] = (uint8_t)(v * 37 + k);
            struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(8080)};
            memcpy(&a.sin_addr, ip, 4);
            struct pair p = make_pair_peer(TS_ROLE_SERVER, &a, sizeof a);
            struct ts_conn *c = ts_conn_get(p.prog);
            assert_non_null(c);
            size_t n = conn_peer_ip(c, got);
            inet_ntop(AF_INET, ip, want, sizeof want);
            assert_string_equal(got, want);
            assert_int_equal(n, strlen(want));
            assert_int_equal(c->peer_port, 8080);
            assert_null(c->rare); /* an IPv4 peer needs no block */
            ts_conn_put(c);
            close_pair(&p);
        }
    }
    static const char *const v6[][2] = {
        {"::1", "::1"},
        {"2001:db8::8a2e:370:7334", "2001:db8::8a2e:370:7334"},
        {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
        {"::ffff:192.0.2.128", "192.0.2.128"},
    };
    for (size_t i = 0; i < sizeof v6 / sizeof *v6; i++) {
        struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(443)};
        assert_int_equal(inet_pton(AF_INET6, v6[i][0], &a.sin6_addr), 1);
        struct pair p = make_pair_peer(TS_ROLE_CLIENT, &a, sizeof a);
        struct ts_conn *c = ts_conn_get(p.prog);
        assert_non_null(c);
        assert_int_equal(conn_peer_ip(c, got), strlen(v6[i][1]));
        assert_string_equal(got, v6[i][1]);
        assert_int_equal(c->peer_port, 443);
        ts_conn_put(c);
        close_pair(&p);
    }
    struct pair p = make_pair(TS_ROLE_SERVER); /* AF_UNIX: no address */
    struct ts_conn *c = ts_conn_get(p.prog);
    assert_int_equal(conn_peer_ip(c, got), 0);
    assert_string_equal(got, "");
    ts_conn_put(c);
    close_pair(&p);
}

/* The address reaches the spans as before: a server span's client and
 * peer address, a client span's URL without a Host header. */
/* A server span's name, route and method share bytes in the record: the
 * name is cut (the route to 140 bytes in it), the attributes are not. */
static void test_server_name_route_and_method(void **state)
{
    char path[200], req[400], buf[512], v[256];
    memset(path, 'r', sizeof path);
    path[0] = '/';
    path[sizeof path - 1] = '\0';
    snprintf(req, sizeof req, "LONGER-THAN-SIXTEEN %s HTTP/1.1\r\nHost: s\r\n\r\n", path);
    struct pair p = make_pair(TS_ROLE_SERVER);
    peer_write(&p, req);
    prog_read(&p, buf, sizeof buf);
    prog_write(&p, "HTTP/1.1 204 No Content\r\n\r\n", 27);
    assert_int_equal(nspans, 1);
    const struct ts_span *s = &spans[0];
    /* a method the OpenTelemetry conventions do not know: "HTTP" in the
     * name, "_OTHER", and the method as sent beside it */
    char name[200];
    snprintf(name, sizeof name, "HTTP %.140s", path);
    assert_int_equal(s->name_len, strlen(name));
    assert_memory_equal(ts_span_name(s), name, s->name_len);
    assert_string_equal(attr_str(s, "http.route", v, sizeof v), path);
    assert_string_equal(attr_str(s, "http.request.method", v, sizeof v), "_OTHER");
    assert_string_equal(attr_str(s, "http.request.method_original", v, sizeof v),
                        "LONGER-THAN-SIXTEEN");
    assert_string_equal(attr_str(s, "network.protocol.version", v, sizeof v), "1.1");
    assert_string_equal(attr_str(s, "url.path", v, sizeof v), path);
    close_pair(&p);

    /* a short one, with the route collapsed */
    p = make_pair(TS_ROLE_SERVER);
    peer_write(&p, "GET /api/items/42 HTTP/1.0\r\n\r\n");
    prog_read(&p, buf, sizeof buf);
    prog_write(&p, "HTTP/1.0 204 No Content\r\n\r\n", 27);
    assert_int_equal(nspans, 2);
    s = &spans[1];
    assert_int_equal(s->name_len, 19);
    assert_memory_equal(ts_span_name(s), "GET /api/items/{id}", 19);
    assert_string_equal(attr_str(s, "http.route", v, sizeof v), "/api/items/{id}");
    assert_string_equal(attr_str(s, "http.request.method", v, sizeof v), "GET");
    assert_null(ts_span_attr_find(s, "http.request.method_original"));
    assert_string_equal(attr_str(s, "network.protocol.version", v, sizeof v), "1.0");
    close_pair(&p);

    /* methods are case-sensitive: "get" is not GET; every known one is
     * its own name */
    static const char *const methods[] = {"get",    "GET",   "HEAD",  "POST",    "PUT",
                                          "DELETE", "PATCH", "TRACE", "OPTIONS", "PROPFIND"};
    for (size_t i = 0; i < sizeof methods / sizeof *methods; i++) {
        bool known = i > 0 && i < 9;
        nspans = 0;
        p = make_pair(TS_ROLE_SERVER);
        snprintf(req, sizeof req, "%s /m HTTP/1.1\r\nHost: s\r\n\r\n", methods[i]);
        peer_write(&p, req);
        prog_read(&p, buf, sizeof buf);
        prog_write(&p, "HTTP/1.1 204 No Content\r\n\r\n", 27);
        assert_int_equal(nspans, 1);
        s = &spans[0];
        snprintf(name, sizeof name, "%s /m", known ? methods[i] : "HTTP");
        assert_int_equal(s->name_len, strlen(name));
        assert_memory_equal(ts_span_name(s), name, s->name_len);
        assert_string_equal(attr_str(s, "http.request.method", v, sizeof v),
                            known ? methods[i] : "_OTHER");
        if (known)
            assert_null(ts_span_attr_find(s, "http.request.method_original"));
        else
            assert_string_equal(attr_str(s, "http.request.method_original", v, sizeof v),
                                methods[i]);
        close_pair(&p);
    }
}

/* One request req through a client pair connected (as connect was given
 * it) to the address peer of len bytes, answered 204; its span. */
static const struct ts_span *client_request_to(const void *peer, socklen_t len, const char *req)
{
    struct pair cli = make_pair_peer(TS_ROLE_CLIENT, peer, len);
    char buf[512];
    size_t before = nspans;
    prog_write(&cli, req, strlen(req));
    peer_read_all(&cli, buf, sizeof buf);
    peer_write(&cli, "HTTP/1.1 204 No Content\r\n\r\n");
    prog_read(&cli, buf, sizeof buf);
    close_pair(&cli);
    assert_int_equal(nspans, before + 1);
    return &spans[nspans - 1];
}

static void test_peer_address_on_spans(void **state)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(51234)};
    inet_pton(AF_INET, "172.16.254.7", &a.sin_addr);
    struct pair srv = make_pair_peer(TS_ROLE_SERVER, &a, sizeof a);
    char buf[512], v[128];
    peer_write(&srv, "GET /x HTTP/1.1\r\nHost: s\r\n\r\n");
    prog_read(&srv, buf, sizeof buf);
    prog_write(&srv, "HTTP/1.1 204 No Content\r\n\r\n", 27);
    assert_int_equal(nspans, 1);
    assert_string_equal(attr_str(&spans[0], "client.address", v, sizeof v), "172.16.254.7");
    assert_string_equal(attr_str(&spans[0], "network.peer.address", v, sizeof v), "172.16.254.7");
    assert_int_equal(attr_int(&spans[0], "network.peer.port"), 51234);
    close_pair(&srv);

    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons(8443)};
    inet_pton(AF_INET6, "fd00::2", &a6.sin6_addr);
    const struct ts_span *s = client_request_to(&a6, sizeof a6, "GET /y HTTP/1.0\r\n\r\n");
    assert_string_equal(attr_str(s, "url.full", v, sizeof v), "http://[fd00::2]:8443/y");
    assert_string_equal(attr_str(s, "server.address", v, sizeof v), "fd00::2");
    assert_string_equal(attr_str(s, "network.peer.address", v, sizeof v), "fd00::2");
    assert_int_equal(attr_int(s, "network.peer.port"), 8443);

    /* an empty Host names no server: the address connected to stands in */
    s = client_request_to(&a6, sizeof a6, "GET /z HTTP/1.1\r\nHost:\r\n\r\n");
    assert_string_equal(attr_str(s, "url.full", v, sizeof v), "http://[fd00::2]:8443/z");
    assert_string_equal(attr_str(s, "server.address", v, sizeof v), "fd00::2");
    assert_int_equal(attr_int(s, "server.port"), 8443);
}

/* HTTP over a Unix-domain stream socket (nginx's proxy_pass to
 * unix:/run/app.sock, curl --unix-socket): the spans say so
 * (network.transport "unix") and name the socket by its path, an
 * abstract one with '@' for its leading NUL, as ss(8) writes it; no port
 * anywhere, and no url.full without a Host to name the server. A server's
 * socket is the one it accepted on. */
static void test_unix_domain_connections(void **state)
{
    char v[160];
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    strcpy(un.sun_path, "/run/app.sock");
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + sizeof "/run/app.sock");
    const struct ts_span *s =
        client_request_to(&un, len, "GET /x HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_string_equal(attr_str(s, "network.transport", v, sizeof v), "unix");
    assert_string_equal(attr_str(s, "network.peer.address", v, sizeof v), "/run/app.sock");
    assert_null(ts_span_attr_find(s, "network.peer.port"));
    assert_string_equal(attr_str(s, "url.full", v, sizeof v), "http://localhost/x");
    assert_string_equal(attr_str(s, "server.address", v, sizeof v), "localhost");
    assert_int_equal(attr_int(s, "server.port"), 80);

    /* no Host: the server is the socket, and no URL can be written */
    s = client_request_to(&un, len, "GET /x HTTP/1.0\r\n\r\n");
    assert_string_equal(attr_str(s, "server.address", v, sizeof v), "/run/app.sock");
    assert_null(ts_span_attr_find(s, "server.port"));
    assert_null(ts_span_attr_find(s, "url.full"));
    s = client_request_to(&un, len, "GET /x HTTP/1.1\r\nHost:\r\n\r\n"); /* empty: names none */
    assert_string_equal(attr_str(s, "server.address", v, sizeof v), "/run/app.sock");
    assert_null(ts_span_attr_find(s, "server.port"));
    assert_null(ts_span_attr_find(s, "url.full"));

    /* an abstract name: its length, not a NUL, ends it */
    memcpy(un.sun_path, "\0app\0x", 6);
    len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 6);
    s = client_request_to(&un, len, "GET /x HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_string_equal(attr_str(s, "network.peer.address", v, sizeof v), "@app@x");

    /* a path of sun_path's whole length, with no NUL after it */
    memset(un.sun_path, 'p', sizeof un.sun_path);
    un.sun_path[0] = '/';
    s = client_request_to(&un, sizeof un, "GET /x HTTP/1.1\r\nHost: h\r\n\r\n");
    const struct ts_attr *a = ts_span_attr_find(s, "network.peer.address");
    assert_non_null(a);
    assert_int_equal(a->len, sizeof un.sun_path);

    /* a server accepting on a named socket; a socketpair's is unnamed */
    char dir[] = "/tmp/ts-unix-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct sockaddr_un at = {.sun_family = AF_UNIX};
    snprintf(at.sun_path, sizeof at.sun_path, "%s/app.sock", dir);
    int lfd = socket(AF_UNIX, SOCK_STREAM, 0), peer = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_int_equal(bind(lfd, (struct sockaddr *)&at, sizeof at), 0);
    assert_int_equal(listen(lfd, 1), 0);
    assert_int_equal(connect(peer, (struct sockaddr *)&at, sizeof at), 0);
    int fd = accept(lfd, NULL, NULL);
    assert_true(fd >= 0);
    ts_conn_track(fd, TS_ROLE_SERVER, NULL, 0);
    struct pair srv = {fd, peer};
    struct pair unnamed = make_pair(TS_ROLE_SERVER);
    struct pair *servers[] = {&srv, &unnamed};
    for (int i = 0; i < 2; i++) {
        char buf[512];
        peer_write(servers[i], "GET /y HTTP/1.1\r\nHost: localhost\r\n\r\n");
        /* MSG_TRUNC: a Unix-domain stream socket fills the buffer anyway */
        struct ts_conn *c = ts_conn_get(servers[i]->prog);
        ssize_t r = recv(servers[i]->prog, buf, sizeof buf, MSG_TRUNC);
        struct iovec iov = {buf, sizeof buf};
        ts_conn_recv_done(c, &iov, 1, r, MSG_TRUNC, 0);
        ts_conn_put(c);
        prog_write(servers[i], "HTTP/1.1 204 No Content\r\n\r\n", 27);
        close_pair(servers[i]);
        s = &spans[nspans - 1];
        assert_int_equal(s->kind, TS_KIND_SERVER);
        assert_string_equal(attr_str(s, "network.transport", v, sizeof v), "unix");
        assert_string_equal(attr_str(s, "url.path", v, sizeof v), "/y");
        assert_null(ts_span_attr_find(s, "client.address"));
        assert_null(ts_span_attr_find(s, "network.peer.port"));
        if (i == 0)
            assert_string_equal(attr_str(s, "network.local.address", v, sizeof v), at.sun_path);
        else
            assert_null(ts_span_attr_find(s, "network.local.address"));
    }
    close(lfd);
    unlink(at.sun_path);
    rmdir(dir);
}

/* A request that came through proxies: client.address and url.scheme are
 * the original client's, as Forwarded (first) or X-Forwarded-For and
 * X-Forwarded-Proto name them (the OpenTelemetry HTTP conventions);
 * network.peer.* stay the connection's (the proxy). Text that names no
 * address is no client. */
static void test_server_client_behind_proxies(void **state)
{
    static const struct {
        const char *lines;
        const char *client, *scheme;
        int port;
    } cases[] = {
        {"X-Forwarded-For: 203.0.113.195, 70.41.3.18\r\nX-Forwarded-Proto: https\r\n",
         "203.0.113.195", "https", 443},
        {"Forwarded: for=\"[2001:db8:cafe::17]:4711\";proto=https\r\n"
         "X-Forwarded-For: 198.51.100.1\r\n",
         "2001:db8:cafe::17", "https", 443},
        {"Forwarded: for=unknown\r\nX-Forwarded-For: 198.51.100.1\r\n", "198.51.100.1", "http", 80},
        {"X-Forwarded-For: <script>\r\n", "10.9.8.7", "http", 80},
        {"x-forwarded-proto: HTTP\r\n", "10.9.8.7", "http", 80},
    };
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(40001)};
    inet_pton(AF_INET, "10.9.8.7", &a.sin_addr);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        nspans = 0;
        char req[512], v[128];
        snprintf(req, sizeof req, "GET /p HTTP/1.1\r\nHost: shop.example\r\n%s\r\n",
                 cases[i].lines);
        struct pair p = make_pair_peer(TS_ROLE_SERVER, &a, sizeof a);
        serve_204_and_close(&p, req);
        assert_int_equal(nspans, 1);
        const struct ts_span *s = &spans[0];
        assert_string_equal(attr_str(s, "client.address", v, sizeof v), cases[i].client);
        assert_string_equal(attr_str(s, "url.scheme", v, sizeof v), cases[i].scheme);
        assert_int_equal(attr_int(s, "server.port"), cases[i].port);
        assert_string_equal(attr_str(s, "network.peer.address", v, sizeof v), "10.9.8.7");
        assert_int_equal(attr_int(s, "network.peer.port"), 40001);
    }
}

/* A server connection whose peer is not known (a TLS server's own BIO,
 * haproxy's or mod_ssl's: the shim never sees the socket) names none: no
 * empty network.peer.address, no port 0 (the client a proxy named
 * stays). */
static void test_server_without_a_peer_names_none(void **state)
{
    struct pair p = make_pair(TS_ROLE_SERVER);
    struct ts_conn *c = ts_conn_get(p.prog);
    c->peer_family = 0; /* as ts_conn_open leaves a connection without an fd */
    c->peer_port = c->local_port = 0;
    ts_conn_put(c);
    serve_204_and_close(&p, "GET /no-host HTTP/1.0\r\nX-Forwarded-For: 192.0.2.5\r\n\r\n");
    assert_int_equal(nspans, 1);
    char v[64]; /* the client a proxy named, and still no peer */
    assert_string_equal(attr_str(&spans[0], "client.address", v, sizeof v), "192.0.2.5");
    static const char *const absent[] = {"network.peer.address", "network.peer.port", "server.port",
                                         "server.address"};
    for (size_t i = 0; i < sizeof absent / sizeof *absent; i++)
        assert_null(ts_span_attr_find(&spans[0], absent[i]));
}

/* A thread keeps the text of the IPv4 peers it wrote out last, by
 * address: whatever the order, however many addresses share a slot, and
 * when a new connection takes the fd (and the object) of an old one, a
 * span names its own connection's peer. */
static void test_peer_text_follows_the_address(void **state)
{
    enum { ADDRS = 40 };
    uint8_t ip[ADDRS][4];
    for (unsigned i = 0; i < ADDRS; i++) { /* neighbours, and ones that differ in one byte */
        uint8_t base[4] = {192, 168, (uint8_t)(i / 8), (uint8_t)(i % 8 ? 100 + i : i)};
        memcpy(ip[i], base, 4);
    }
    struct pair p = make_pair(TS_ROLE_SERVER);
    char buf[512], got[INET6_ADDRSTRLEN], want[INET6_ADDRSTRLEN], v[128];
    size_t spans_before = nspans;
    for (unsigned step = 0; step < 400; step++) {
        unsigned i = (step * 7 + step / ADDRS) % ADDRS;
        inet_ntop(AF_INET, ip[i], want, sizeof want);
        if (step % 50 == 49) { /* an IPv6 peer on the same fd between them */
            struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons(1)};
            inet_pton(AF_INET6, "fd00::7", &a6.sin6_addr);
            ts_conn_track(p.prog, TS_ROLE_SERVER, (const struct sockaddr *)&a6, sizeof a6);
            struct ts_conn *c = ts_conn_get(p.prog);
            assert_int_equal(conn_peer_ip(c, got), 7);
            assert_string_equal(got, "fd00::7");
            ts_conn_put(c);
        }
        /* a new connection on the fd, as an accept that reused its number */
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)(1000 + step))};
        memcpy(&a.sin_addr, ip[i], 4);
        ts_conn_track(p.prog, TS_ROLE_SERVER, (const struct sockaddr *)&a, sizeof a);
        struct ts_conn *c = ts_conn_get(p.prog);
        assert_int_equal(conn_peer_ip(c, got), strlen(want));
        assert_string_equal(got, want);
        ts_conn_put(c);
        if (step % 10 == 0) {
            peer_write(&p, "GET /x HTTP/1.1\r\nHost: s\r\n\r\n");
            prog_read(&p, buf, sizeof buf);
            prog_write(&p, "HTTP/1.1 204 No Content\r\n\r\n", 27);
            assert_int_equal(nspans, spans_before + 1);
            const struct ts_span *s = &spans[nspans - 1];
            assert_string_equal(attr_str(s, "client.address", v, sizeof v), want);
            assert_string_equal(attr_str(s, "network.peer.address", v, sizeof v), want);
            assert_int_equal(attr_int(s, "network.peer.port"), 1000 + step);
            spans_before = nspans;
        }
    }
    close_pair(&p);
}

/* Two spans have the same attributes: keys, types, values. */
static void assert_same_attrs(const struct ts_span *a, const struct ts_span *b)
{
    assert_int_equal(a->nattrs, b->nattrs);
    for (unsigned i = 0; i < a->nattrs; i++) {
        const struct ts_attr *x = &a->attrs[i], *y = &b->attrs[i];
        assert_string_equal(x->key, y->key);
        assert_int_equal(x->type, y->type);
        if (x->type == TS_ATTR_STR) {
            assert_int_equal(x->len, y->len);
            assert_memory_equal(ts_span_attr_sval(a, x), ts_span_attr_sval(b, y), x->len);
        } else {
            assert_int_equal(x->num, y->num);
        }
    }
}

/* One request on a fresh connection from this IPv4 peer, with a path of
 * path_len bytes; the span it made. */
static const struct ts_span *serve_from_host(const uint8_t ip[4], uint16_t port, size_t path_len,
                                             const char *host);

static const struct ts_span *serve_from(const uint8_t ip[4], uint16_t port, size_t path_len)
{
    return serve_from_host(ip, port, path_len, "s");
}

static const struct ts_span *serve_from_host(const uint8_t ip[4], uint16_t port, size_t path_len,
                                             const char *host)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    memcpy(&a.sin_addr, ip, 4);
    struct pair p = make_pair_peer(TS_ROLE_SERVER, &a, sizeof a);
    char req[1600], buf[1600];
    assert_true(path_len < 1500);
    int n = snprintf(req, sizeof req, "GET /");
    memset(req + n, 'p', path_len - 1);
    snprintf(req + n + path_len - 1, sizeof req - (size_t)n - path_len + 1,
             " HTTP/1.1\r\nHost: %s\r\n\r\n", host);
    size_t before = (size_t)nspans;
    peer_write(&p, req);
    prog_read(&p, buf, sizeof buf);
    prog_write(&p, "HTTP/1.1 204 No Content\r\n\r\n", 27);
    close_pair(&p);
    assert_int_equal(nspans, before + 1);
    return &spans[nspans - 1];
}

/* A long query, path or user agent is cut, and the attributes after it
 * keep their values: they shared the span's string bytes, and a query of
 * 1.3 KB left the scheme, the addresses, the user agent and error.type
 * empty. */
static void test_server_long_target_leaves_room(void **state)
{
    (void)state;
    static const struct {
        size_t path, query, agent; /* lengths of each in the request */
    } cases[] = {{10, 1300, 10}, {3000, 0, 10}, {3000, 3000, 10}, {10, 10, 3000}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        nspans = 0;
        static char req[12000], buf[12000];
        char v[4096];
        size_t n = (size_t)snprintf(req, sizeof req, "GET /%0*d", (int)cases[i].path - 1, 0);
        if (cases[i].query)
            n += (size_t)snprintf(req + n, sizeof req - n, "?q=%0*d", (int)cases[i].query - 2, 0);
        n += (size_t)snprintf(req + n, sizeof req - n,
                              " HTTP/1.1\r\nHost: svc.example:8080\r\nUser-Agent: %0*d\r\n\r\n",
                              (int)cases[i].agent, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(40123)};
        inet_pton(AF_INET, "10.1.2.3", &a.sin_addr);
        struct pair p = make_pair_peer(TS_ROLE_SERVER, &a, sizeof a);
        peer_write(&p, req);
        prog_read(&p, buf, sizeof buf);
        const char *resp = "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n";
        assert_int_equal(prog_write(&p, resp, strlen(resp)), (ssize_t)strlen(resp));
        close_pair(&p);
        assert_int_equal(nspans, 1);
        const struct ts_span *s = &spans[0];
        assert_string_equal(attr_str(s, "url.scheme", v, sizeof v), "http");
        assert_string_equal(attr_str(s, "server.address", v, sizeof v), "svc.example");
        assert_string_equal(attr_str(s, "client.address", v, sizeof v), "10.1.2.3");
        assert_string_equal(attr_str(s, "network.peer.address", v, sizeof v), "10.1.2.3");
        assert_int_equal(attr_int(s, "network.peer.port"), 40123);
        assert_string_equal(attr_str(s, "error.type", v, sizeof v), "500");
        /* the long ones cut, never empty */
        assert_non_null(attr_str(s, "url.path", v, sizeof v));
        size_t path = strlen(v);
        assert_true(path > 0 && path <= cases[i].path);
        assert_int_equal(v[0], '/');
        if (cases[i].query) {
            assert_non_null(attr_str(s, "url.query", v, sizeof v));
            assert_true(strlen(v) > 0 && strlen(v) <= cases[i].query);
        }
        assert_non_null(attr_str(s, "user_agent.original", v, sizeof v));
        assert_true(strlen(v) > 0 && strlen(v) <= cases[i].agent);
        if (cases[i].path + cases[i].query < 500) /* short ones whole */
            assert_int_equal(path, cases[i].path);
    }
}

/* A server span with every attribute a request can give it leaves slots
 * for the ones the reporter adds (code.function and code.stacktrace under
 * TRACESHIM_STACKS, stacks.h) and the sampler's (sampler.type and
 * sampler.param on a root span): with 20 slots a TLS server's span for a
 * method of its own, answered 500 with a stack, lost code.function. */
static void test_server_span_leaves_slots_for_late_attributes(void **state)
{
    (void)state;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(40123)};
    inet_pton(AF_INET, "10.1.2.3", &a.sin_addr);
    struct pair p = make_pair_peer(TS_ROLE_SERVER, &a, sizeof a);
    struct ts_conn *c = ts_conn_get(p.prog);
    c->tls = true; /* as a TLS session's connection: its version on its spans */
    ts_conn_set_tls_version(c, "1.3");
    ts_conn_put(c);
    char buf[2048];
    peer_write(&p, "FOO /p?q=1 HTTP/1.1\r\nHost: svc.example:8443\r\nUser-Agent: ua/1\r\n"
                   "Forwarded: for=192.0.2.60;proto=https\r\n"
                   "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n"
                   "\r\n");
    prog_read(&p, buf, sizeof buf);
    const char *resp = "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n";
    prog_write(&p, resp, strlen(resp));
    close_pair(&p);
    assert_int_equal(nspans, 1);
    const struct ts_span *s = &spans[0];
    assert_int_equal(s->dropped_attrs, 0);
    assert_non_null(ts_span_attr_find(s, "tls.protocol.version"));
    if (s->nattrs + 4 > TS_SPAN_MAX_ATTRS)
        fail_msg("%d attributes: no room for the 4 added later", s->nattrs);
}

/* Is s[0..n) whole UTF-8 characters (RFC 3629's forms, loosely: lead
 * bytes and their continuations)? */
static bool utf8_whole(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char b = (unsigned char)s[i];
        size_t need = b < 0x80 ? 1 : b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 0;
        if (!need || i + need > n)
            return false;
        for (size_t k = 1; k < need; k++)
            if (((unsigned char)s[i + k] & 0xC0) != 0x80)
                return false;
        i += need;
    }
    return true;
}

static void assert_attr_whole(const struct ts_span *s, const char *key, size_t at_most)
{
    const struct ts_attr *a = ts_span_attr_find(s, key);
    assert_non_null(a);
    assert_true(a->len > 0 && a->len < at_most); /* cut */
    if (!utf8_whole(ts_span_attr_sval(s, a), a->len))
        fail_msg("%s ends in part of a character: ...%.*s", key, 12,
                 ts_span_attr_sval(s, a) + a->len - 12);
}

/* A long name, path, query, user agent or URL of UTF-8 text is cut before
 * a character it would split: the exporters showed the split character's
 * first bytes as U+FFFD (a route's name ended in "日\xef\xbf\xbd"). Each
 * text is shifted by 0, 1 and 2 bytes, so that every cut meets each
 * byte of a 3-byte character. */
static void test_long_texts_are_cut_between_characters(void **state)
{
    (void)state;
    static const char han[] = "\xe6\x97\xa5"; /* 日 */
    for (int shift = 0; shift < 3; shift++) {
        static char req[16000], buf[16000];
        size_t n = (size_t)snprintf(req, sizeof req, "GET /%.*s", shift, "aa");
        for (int i = 0; i < 1000; i++)
            n += (size_t)snprintf(req + n, sizeof req - n, "%s", han);
        n += (size_t)snprintf(req + n, sizeof req - n, "?q=%.*s", shift, "bb");
        for (int i = 0; i < 500; i++)
            n += (size_t)snprintf(req + n, sizeof req - n, "\xc3\xa9"); /* é */
        n += (size_t)snprintf(req + n, sizeof req - n, " HTTP/1.1\r\nHost: h\r\nUser-Agent: %.*s",
                              shift, "cc");
        for (int i = 0; i < 300; i++)
            n += (size_t)snprintf(req + n, sizeof req - n, "%s", han);
        snprintf(req + n, sizeof req - n, "\r\n\r\n");

        nspans = 0;
        struct pair srv = make_pair(TS_ROLE_SERVER);
        peer_write(&srv, req);
        prog_read(&srv, buf, sizeof buf);
        const char *resp = "HTTP/1.1 204 No Content\r\n\r\n";
        prog_write(&srv, resp, strlen(resp));
        close_pair(&srv);
        assert_int_equal(nspans, 1);
        const struct ts_span *s = &spans[0];
        if (!utf8_whole(ts_span_name(s), s->name_len))
            fail_msg("the name ends in part of a character (shift %d)", shift);
        assert_attr_whole(s, "http.route", 3010);
        assert_attr_whole(s, "url.path", 3010);
        assert_attr_whole(s, "url.query", 1010);
        assert_attr_whole(s, "user_agent.original", 910);

        nspans = 0;
        struct pair cli = make_pair(TS_ROLE_CLIENT);
        prog_write(&cli, req, strlen(req));
        peer_read_all(&cli, buf, sizeof buf);
        peer_write(&cli, resp);
        prog_read(&cli, buf, sizeof buf);
        close_pair(&cli);
        assert_int_equal(nspans, 1);
        s = &spans[0];
        if (!utf8_whole(ts_span_name(s), s->name_len))
            fail_msg("the client span's name ends in part of a character (shift %d)", shift);
        assert_attr_whole(s, "url.full", 4100);
    }
}

/* A server span's connection attributes (server.port, client.address,
 * network.peer.address, network.peer.port) are the same whether built or
 * taken from the thread's last ones: for peers that differ in the address
 * or the port, after an IPv6 peer, and after paths of every length. */
static void test_server_conn_attrs_built_once(void **state)
{
    static const uint8_t ips[3][4] = {{10, 0, 0, 1}, {10, 0, 0, 2}, {192, 168, 100, 200}};
    static const uint16_t ports[] = {40000, 40001};
    char v[64], want[INET6_ADDRSTRLEN];
    for (unsigned round = 0; round < 2; round++) {
        for (unsigned i = 0; i < 3; i++) {
            for (unsigned j = 0; j < 2; j++) {
                const struct ts_span *first = serve_from(ips[i], ports[j], 10);
                const struct ts_span *again = serve_from(ips[i], ports[j], 10);
                assert_same_attrs(first, again);
                inet_ntop(AF_INET, ips[i], want, sizeof want);
                assert_string_equal(attr_str(again, "client.address", v, sizeof v), want);
                assert_string_equal(attr_str(again, "network.peer.address", v, sizeof v), want);
                assert_int_equal(attr_int(again, "network.peer.port"), ports[j]);
                assert_int_equal(attr_int(again, "server.port"), 80); /* Host: s */
            }
        }
        /* the same peer, other ports named: the thread's last four are
         * not taken for another server.port */
        for (unsigned k = 0; k < 3; k++) {
            static const char *const hosts[] = {"s:8001", "s:8002", "s"};
            static const int want_port[] = {8001, 8002, 80};
            const struct ts_span *named = serve_from_host(ips[0], ports[0], 10, hosts[k]);
            assert_int_equal(attr_int(named, "server.port"), want_port[k]);
            assert_int_equal(attr_int(named, "network.peer.port"), ports[0]);
        }
        struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons(7)};
        inet_pton(AF_INET6, "fd00::7", &a6.sin6_addr);
        struct pair p = make_pair_peer(TS_ROLE_SERVER, &a6, sizeof a6);
        char buf[256];
        peer_write(&p, "GET /x HTTP/1.1\r\nHost: s\r\n\r\n");
        prog_read(&p, buf, sizeof buf);
        prog_write(&p, "HTTP/1.1 204 No Content\r\n\r\n", 27);
        close_pair(&p);
        assert_string_equal(attr_str(&spans[nspans - 1], "client.address", v, sizeof v), "fd00::7");
    }
    /* paths of every length: a long one is cut, the address stays whole
     * (it was cut short, then left empty, past about 1,200 bytes) */
    for (size_t len = 1; len < 1400; len++) {
        const struct ts_span *built = serve_from(ips[2], ports[0], len);
        const struct ts_span *again = serve_from(ips[2], ports[0], len);
        assert_same_attrs(built, again);
        assert_string_equal(attr_str(again, "client.address", v, sizeof v), "192.168.100.200");
    }
}

/* A TLS session's version lives in the connection's rare block. */
static void test_tls_version_kept(void **state)
{
    struct ts_conn *c = ts_conn_open(TS_ROLE_CLIENT, -1, "1.3");
    assert_non_null(c);
    assert_true(c->tls);
    assert_non_null(c->rare);
    assert_string_equal(conn_tls_version(c), "1.3");
    ts_conn_put(c);
    c = ts_conn_open(TS_ROLE_SERVER, -1, NULL);
    assert_non_null(c);
    assert_null(c->rare);
    assert_string_equal(conn_tls_version(c), "");
    ts_conn_put(c);
    c = ts_conn_open(TS_ROLE_SERVER, -1, "1.2.3.4.5.6"); /* cut as before */
    assert_string_equal(conn_tls_version(c), "1.2.3");
    ts_conn_put(c);
}

/* A TLS sink that takes everything (the bytes themselves are not looked
 * at here), and a pass for the program's bytes as they are. */
static ssize_t tls_sink_all(void *ctx, const struct iovec *v, int n, size_t ins_from,
                            size_t ins_len)
{
    (void)ctx, (void)ins_from, (void)ins_len;
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += v[i].iov_len;
    return (ssize_t)total;
}

static ssize_t tls_pass_all(void *arg)
{
    return (ssize_t)((const struct iovec *)arg)->iov_len;
}

/* The count of key's attributes on s. */
static int attr_count(const struct ts_span *s, const char *key)
{
    int n = 0;
    for (unsigned i = 0; i < s->nattrs; i++)
        n += strcmp(s->attrs[i].key, key) == 0;
    return n;
}

/* A session opened before its handshake was done: its version, once
 * known, goes on the span in flight, which began without it, and on the
 * spans after it, once each. */
static void test_tls_version_learned_after_the_span_began(void **state)
{
    struct ts_conn *c = ts_conn_open(TS_ROLE_CLIENT, -1, NULL);
    assert_non_null(c);
    static const char get[] = "GET /v HTTP/1.1\r\nHost: h\r\n\r\n";
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    struct iovec req = {(void *)get, sizeof get - 1}, res = {(void *)ok, sizeof ok - 1};
    assert_int_equal(ts_conn_send_to(c, tls_sink_all, NULL, &req, 1, tls_pass_all, &req),
                     (ssize_t)req.iov_len);
    ts_conn_set_tls_version(c, "1.2");
    ts_conn_recv_done(c, &res, 1, (ssize_t)res.iov_len, 0, 0);
    assert_int_equal(ts_conn_send_to(c, tls_sink_all, NULL, &req, 1, tls_pass_all, &req),
                     (ssize_t)req.iov_len);
    ts_conn_recv_done(c, &res, 1, (ssize_t)res.iov_len, 0, 0);
    ts_conn_put(c);
    assert_int_equal(nspans, 2);
    char v[16];
    for (int i = 0; i < 2; i++) {
        assert_int_equal(attr_count(&spans[i], "tls.protocol.version"), 1);
        assert_string_equal(attr_str(&spans[i], "tls.protocol.version", v, sizeof v), "1.2");
    }
}

/* The connections' lock excludes: threads that fight over one (and so
 * sleep in the kernel and are woken) never lose an update, and errno
 * comes through unchanged. */
struct lock_fight {
    struct conn_lock lock;
    long counter;
};

static void *lock_fighter(void *arg)
{
    struct lock_fight *f = arg;
    for (int i = 0; i < 50000; i++) {
        errno = 1234;
        conn_lock(&f->lock);
        long v = f->counter;
        if (i % 1000 == 0)
            sched_yield(); /* hold it a while: the others must wait */
        f->counter = v + 1;
        conn_unlock(&f->lock);
        if (errno != 1234)
            return (void *)1;
    }
    return NULL;
}

static void test_connection_lock_excludes(void **state)
{
    enum { THREADS = 4 };
    static struct lock_fight f;
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, lock_fighter, &f), 0);
    for (int i = 0; i < THREADS; i++) {
        void *r;
        pthread_join(t[i], &r);
        assert_null(r);
    }
    assert_int_equal(f.counter, THREADS * 50000L);
    assert_int_equal(atomic_load(&f.lock.state), 0);
}

/* Buffers are held only while a head is under way: a server connection
 * whose request head came in pieces keeps no copy once it is parsed, and a
 * client connection keeps no wire form once its head is out. */
static void test_idle_connections_hold_no_buffers(void **state)
{
    struct pair srv = make_pair(TS_ROLE_SERVER);
    const char *req = "GET /pieces HTTP/1.1\r\nHost: a\r\n\r\n";
    struct ts_conn *c = ts_conn_get(srv.prog);
    assert_non_null(c);
    char buf[256];
    peer_write(&srv, "GET /pie");
    prog_read(&srv, buf, sizeof buf);
    assert_non_null(c->in.x); /* the start, kept to parse the rest */
    assert_non_null(c->in.x->head);
    peer_write(&srv, req + 8);
    prog_read(&srv, buf, sizeof buf);
    assert_null(c->in.x);
    prog_write(&srv, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 40);
    assert_int_equal(nspans, 1);
    assert_null(c->out.x);
    assert_null(c->wire);
    ts_conn_put(c);
    close_pair(&srv);

    struct pair cli = make_pair(TS_ROLE_CLIENT);
    c = ts_conn_get(cli.prog);
    assert_non_null(c);
    const char *head = "GET /x HTTP/1.1\r\nHost: h\r\n\r\n";
    prog_write(&cli, head, 10); /* a piece: passed, a copy kept */
    assert_non_null(c->out.x);
    assert_non_null(c->out.x->head);
    prog_write(&cli, head + 10, strlen(head) - 10);
    assert_null(c->out.x);
    assert_null(c->wire); /* all out */
    char got[2048];
    peer_read_all(&cli, got, sizeof got);
    assert_non_null(strstr(got, "traceparent: "));
    peer_write(&cli, "HTTP/1.1 204 No Content\r\n\r\n");
    prog_read(&cli, buf, sizeof buf);
    assert_int_equal(nspans, 2);
    assert_null(c->wire);
    assert_null(c->in.x);
    ts_conn_put(c);
    close_pair(&cli);
}

/* Pipelined requests beyond the room in the connection spill into a block
 * and come back when the queue empties. */
static void test_pipelining_spills_and_comes_back(void **state)
{
    struct pair p = make_pair(TS_ROLE_CLIENT);
    struct ts_conn *c = ts_conn_get(p.prog);
    assert_non_null(c);
    const char *req = "GET /p HTTP/1.1\r\nHost: h\r\n\r\n";
    const char *res = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx";
    char buf[8192], got[65536];
    for (int round = 0; round < 2; round++) {
        int n = round == 0 ? 5 : CONN_PIPELINE_MAX;
        int first = nspans;
        for (int i = 0; i < n; i++)
            assert_int_equal(prog_write(&p, req, strlen(req)), (ssize_t)strlen(req));
        peer_read_all(&p, got, sizeof got);
        assert_true(c->q_spilled);
        assert_int_equal(c->q_len, n);
        for (int i = 0; i < n; i++) {
            peer_write(&p, res);
            prog_read(&p, buf, sizeof buf);
            assert_int_equal(nspans, first + i + 1);
        }
        assert_int_equal(c->q_len, 0);
        assert_false(c->q_spilled); /* back in the connection */
        /* one more, one at a time: no spill */
        prog_write(&p, req, strlen(req));
        peer_read_all(&p, got, sizeof got);
        assert_false(c->q_spilled);
        peer_write(&p, res);
        prog_read(&p, buf, sizeof buf);
        assert_int_equal(nspans, first + n + 1);
    }
    ts_conn_put(c);
    close_pair(&p);
}

/* "GET /p<i>" with a Host, as the pipelining tests send it. */
static void numbered_get(char *out, size_t cap, int i)
{
    snprintf(out, cap, "GET /p%d HTTP/1.1\r\nHost: h\r\n\r\n", i);
}

/* The answer to request i: 200 for those that have a span, 404 after. */
static const char *limit_response(int i)
{
    return i < CONN_PIPELINE_MAX ? "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx"
                                 : "HTTP/1.1 404 No\r\nContent-Length: 0\r\n\r\n";
}

/* The spans of a pipeline past the limit: one per request that had room,
 * in order (key: an attribute naming each, format: its value for i), each
 * with its own response's status. */
static void assert_spans_up_to_the_limit(const char *key, const char *format)
{
    char want[64], v[64];
    assert_int_equal(nspans, CONN_PIPELINE_MAX);
    for (int i = 0; i < nspans; i++) {
        snprintf(want, sizeof want, format, i);
        assert_string_equal(attr_str(&spans[i], key, v, sizeof v), want);
        assert_int_equal(attr_int(&spans[i], "http.response.status_code"), 200);
    }
}

/* More requests in flight than a connection keeps spans for
 * (CONN_PIPELINE_MAX): the one past it and those after go out as the
 * program wrote them, and the connection is followed no further; each of
 * the requests that have a span still gets its own response's status,
 * never a later one's. */
static void test_client_past_the_pipeline_limit(void **state)
{
    struct pair p = make_pair(TS_ROLE_CLIENT);
    uint64_t gave_up = ts_stats_get(TS_STAT_GAVE_UP_TOO_MANY_IN_FLIGHT);
    uint64_t started = ts_stats_get(TS_STAT_SPANS_STARTED);
    enum { N = CONN_PIPELINE_MAX + 3 };
    char req[64], got[65536], buf[8192];
    for (int i = 0; i < N; i++) {
        numbered_get(req, sizeof req, i);
        assert_int_equal(prog_write(&p, req, strlen(req)), (ssize_t)strlen(req));
    }
    peer_read_all(&p, got, sizeof got);
    /* the first CONN_PIPELINE_MAX carry the headers; the rest are as written */
    const char *past = strstr(got, "GET /p" /* the first request past the limit */);
    for (int i = 0; i < CONN_PIPELINE_MAX; i++)
        past = strstr(past + 1, "GET /p");
    assert_non_null(past);
    char rest[1024] = "";
    for (int i = CONN_PIPELINE_MAX; i < N; i++) {
        numbered_get(req, sizeof req, i);
        strcat(rest, req);
    }
    assert_string_equal(past, rest);
    assert_int_equal(ts_stats_get(TS_STAT_GAVE_UP_TOO_MANY_IN_FLIGHT), gave_up + 1);
    /* the answers: 200 for those with spans, 404 for the others */
    for (int i = 0; i < N; i++) {
        peer_write(&p, limit_response(i));
        prog_read(&p, buf, sizeof buf);
    }
    assert_spans_up_to_the_limit("url.full", "http://h/p%d");
    /* the span made for the one past the limit, then given up, is not
     * counted as started (it was: started 17, finished 16) */
    assert_int_equal(ts_stats_get(TS_STAT_SPANS_STARTED), started + CONN_PIPELINE_MAX);
    close_pair(&p);
}

/* The same on a server: requests read past the limit in one read make no
 * span, and no response is paired with the wrong request. */
static void test_server_past_the_pipeline_limit(void **state)
{
    struct pair p = make_pair(TS_ROLE_SERVER);
    uint64_t gave_up = ts_stats_get(TS_STAT_GAVE_UP_TOO_MANY_IN_FLIGHT);
    uint64_t started = ts_stats_get(TS_STAT_SPANS_STARTED);
    enum { N = CONN_PIPELINE_MAX + 3 };
    char all[4096] = "", req[64], buf[8192], got[8192];
    for (int i = 0; i < N; i++) {
        numbered_get(req, sizeof req, i);
        strcat(all, req);
    }
    peer_write(&p, all);
    prog_read(&p, buf, sizeof buf);
    assert_int_equal(ts_stats_get(TS_STAT_GAVE_UP_TOO_MANY_IN_FLIGHT), gave_up + 1);
    for (int i = 0; i < N; i++) {
        const char *res = limit_response(i);
        assert_int_equal(prog_write(&p, res, strlen(res)), (ssize_t)strlen(res));
    }
    peer_read_all(&p, got, sizeof got);
    assert_spans_up_to_the_limit("url.path", "/p%d");
    assert_int_equal(ts_stats_get(TS_STAT_SPANS_STARTED), started + CONN_PIPELINE_MAX);
    close_pair(&p);
}

/* An empty line after a request body (old clients end a POST with one,
 * RFC 9112 2.2), in the same write or one of its own, goes out as it is,
 * and the next request is traced as usual. */
static void test_client_empty_line_between_requests(void **state)
{
    struct pair p = make_pair(TS_ROLE_CLIENT);
    const char *post = "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nz\r\n";
    const char *get = "GET /b HTTP/1.1\r\nHost: h\r\n\r\n";
    const char *res = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx";
    char got[4096], buf[4096];
    for (int round = 0; round < 2; round++) {
        int first = nspans;
        assert_int_equal(prog_write(&p, post, strlen(post)), (ssize_t)strlen(post));
        if (round == 1)
            assert_int_equal(prog_write(&p, "\r\n", 2), 2);
        assert_int_equal(prog_write(&p, get, strlen(get)), (ssize_t)strlen(get));
        peer_read_all(&p, got, sizeof got);
        assert_non_null(strstr(got, round == 0 ? "z\r\nGET /b" : "z\r\n\r\nGET /b"));
        const char *g = strstr(got, "GET /b");
        assert_non_null(g);
        assert_non_null(strstr(g, "traceparent: 00-")); /* the GET is traced */
        peer_write(&p, res);
        prog_read(&p, buf, sizeof buf);
        peer_write(&p, res);
        prog_read(&p, buf, sizeof buf);
        assert_int_equal(nspans, first + 2);
    }
    close_pair(&p);
}

/* A spilled queue is a ring: with requests always in flight its head goes
 * round it many times, and every response still ends the oldest request's
 * span (the ring's index wraps without a division, see q_at). */
static void test_spilled_queue_wraps_in_order(void **state)
{
    struct pair p = make_pair(TS_ROLE_CLIENT);
    struct ts_conn *c = ts_conn_get(p.prog);
    assert_non_null(c);
    const char *res = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx";
    char req[64], buf[8192], got[65536], v[64], want[64];
    int sent = 0, answered = 0;
    for (int step = 0; step < 3 * CONN_PIPELINE_MAX; step++) {
        /* three in flight after the first step, then one in, one out */
        while (sent - answered < 3) {
            snprintf(req, sizeof req, "GET /p%d HTTP/1.1\r\nHost: h\r\n\r\n", sent++);
            assert_int_equal(prog_write(&p, req, strlen(req)), (ssize_t)strlen(req));
        }
        peer_read_all(&p, got, sizeof got);
        assert_true(c->q_spilled);
        assert_int_equal(c->q_len, 3);
        peer_write(&p, res);
        prog_read(&p, buf, sizeof buf);
        assert_int_equal(nspans, answered + 1);
        snprintf(want, sizeof want, "http://h/p%d", answered);
        assert_string_equal(attr_str(&spans[answered], "url.full", v, sizeof v), want);
        answered++;
    }
    ts_conn_put(c);
    close_pair(&p);
}

/* The send hooks leave the program the errno its send set and do not save
 * it again around ts_conn_done_with: that must keep it, also when it is
 * the connection's last user and ends the spans still waiting. */
static void test_done_with_keeps_errno(void **state)
{
    const char get[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    struct pair p = make_pair(TS_ROLE_CLIENT);
    assert_int_equal(prog_write(&p, get, sizeof get - 1), (ssize_t)(sizeof get - 1));
    struct ts_conn *c = ts_conn_get(p.prog);
    errno = EMSGSIZE;
    ts_conn_done_with(p.prog, c); /* not the last user: the slot still holds it */
    assert_int_equal(errno, EMSGSIZE);
    assert_int_equal(nspans, 0);

    c = ts_conn_get(p.prog);
    ts_conn_untrack(p.prog);
    errno = EMSGSIZE;
    ts_conn_done_with(p.prog, c); /* the last: its span ends here */
    assert_int_equal(errno, EMSGSIZE);
    assert_int_equal(nspans, 1);
    char v[64];
    assert_string_equal(attr_str(&spans[0], "error.type", v, sizeof v), "connection_closed");

    /* requests that are no HTTP: the fd is untracked on the way out */
    struct pair q = make_pair(TS_ROLE_CLIENT);
    const char msg[] = "*1\r\n$4\r\nPING\r\n";
    assert_int_equal(prog_write(&q, msg, sizeof msg - 1), (ssize_t)(sizeof msg - 1));
    errno = EMSGSIZE;
    ts_conn_done_with(q.prog, ts_conn_get(q.prog));
    assert_int_equal(errno, EMSGSIZE);
    assert_false(ts_fd_tracked(q.prog));
    close(p.prog);
    close(p.peer);
    close_pair(&q);
}

/* A body that goes on past the call that began it keeps its framing in a
 * block of the direction's, given back the moment the body ends; a message
 * that begins and ends within one call never takes one. Both roles, both
 * directions, lengths and chunks. */
static void test_body_state_taken_and_given_back(void **state)
{
    char buf[1024], got[4096];
    struct pair srv = make_pair(TS_ROLE_SERVER);
    struct ts_conn *c = ts_conn_get(srv.prog);
    assert_non_null(c);
    assert_null(c->in.x);
    peer_write(&srv, "POST /u HTTP/1.1\r\nHost: s\r\nContent-Length: 10\r\n\r\n01234");
    prog_read(&srv, buf, sizeof buf);
    assert_int_equal(c->in.state, DIR_BODY);
    assert_non_null(c->in.x);
    assert_null(c->in.x->head);
    peer_write(&srv, "567");
    prog_read(&srv, buf, sizeof buf);
    assert_non_null(c->in.x); /* still in the body */
    peer_write(&srv, "89");
    prog_read(&srv, buf, sizeof buf);
    assert_int_equal(c->in.state, DIR_HEAD);
    assert_null(c->in.x);
    const char *head = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nabc";
    assert_int_equal(prog_write(&srv, head, strlen(head)), (ssize_t)strlen(head));
    assert_non_null(c->out.x);
    assert_int_equal(nspans, 0);
    prog_write(&srv, "def", 3);
    assert_null(c->out.x);
    assert_int_equal(nspans, 1);
    assert_int_equal(attr_int(&spans[0], "http.response.status_code"), 200);
    /* whole messages in one call each: no block */
    peer_write(&srv, "PUT /v HTTP/1.1\r\nHost: s\r\nContent-Length: 2\r\n\r\nok");
    prog_read(&srv, buf, sizeof buf);
    assert_null(c->in.x);
    const char *chunked = "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
                          "2\r\nhi\r\n0\r\n\r\n";
    prog_write(&srv, chunked, strlen(chunked));
    assert_null(c->out.x);
    assert_int_equal(nspans, 2);
    assert_int_equal(attr_int(&spans[1], "http.response.status_code"), 201);
    ts_conn_put(c);
    close_pair(&srv);

    struct pair cli = make_pair(TS_ROLE_CLIENT);
    c = ts_conn_get(cli.prog);
    assert_non_null(c);
    const char *post = "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 8\r\n\r\nabcd";
    assert_int_equal(prog_write(&cli, post, strlen(post)), (ssize_t)strlen(post));
    assert_int_equal(c->out.state, DIR_BODY);
    assert_non_null(c->out.x);
    assert_int_equal(prog_write(&cli, "efgh", 4), 4);
    assert_int_equal(c->out.state, DIR_HEAD);
    assert_null(c->out.x);
    size_t n = peer_read_all(&cli, got, sizeof got);
    assert_non_null(strstr(got, "traceparent: "));
    assert_int_equal(memcmp(got + n - 12, "\r\n\r\nabcdefgh", 12), 0);
    peer_write(&cli, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n");
    prog_read(&cli, buf, sizeof buf);
    assert_int_equal(c->in.state, DIR_BODY);
    assert_non_null(c->in.x);
    assert_int_equal(nspans, 2);
    peer_write(&cli, "0\r\n\r\n");
    prog_read(&cli, buf, sizeof buf);
    assert_null(c->in.x);
    assert_int_equal(nspans, 3);
    assert_int_equal(spans[2].kind, TS_KIND_CLIENT);
    /* a close-delimited response: its block goes when the peer closes */
    const char *get_c = "GET /c HTTP/1.0\r\n\r\n";
    prog_write(&cli, get_c, strlen(get_c));
    peer_read_all(&cli, got, sizeof got);
    peer_write(&cli, "HTTP/1.0 200 OK\r\n\r\nuntil close");
    prog_read(&cli, buf, sizeof buf);
    assert_non_null(c->in.x);
    shutdown(cli.peer, SHUT_WR);
    prog_read(&cli, buf, sizeof buf);
    assert_null(c->in.x);
    assert_int_equal(nspans, 4);
    assert_int_equal(spans[3].status, TS_STATUS_UNSET);
    ts_conn_put(c);
    close_pair(&cli);
}

/* Blocks go back however a message ends: hundreds of exchanges whose
 * bodies span calls use the same few blocks. */
static void test_body_blocks_do_not_leak(void **state)
{
    char buf[1024];
    struct pair srv = make_pair(TS_ROLE_SERVER);
    size_t before = conn_dir_ext_carved();
    for (int i = 0; i < 300; i++) {
        peer_write(&srv, "POST /u HTTP/1.1\r\nHost: s\r\nContent-Length: 4\r\n\r\nab");
        prog_read(&srv, buf, sizeof buf);
        peer_write(&srv, "cd");
        prog_read(&srv, buf, sizeof buf);
        const char *head = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n";
        prog_write(&srv, head, strlen(head));
        prog_write(&srv, "ok", 2);
        recv(srv.peer, buf, sizeof buf, MSG_DONTWAIT);
    }
    assert_int_equal(nspans, 300);
    assert_true(conn_dir_ext_carved() <= before + 2);
    /* a connection closed in the middle of a body gives its block back */
    peer_write(&srv, "POST /u HTTP/1.1\r\nHost: s\r\nContent-Length: 4\r\n\r\nab");
    prog_read(&srv, buf, sizeof buf);
    struct ts_conn *c = ts_conn_get(srv.prog);
    assert_non_null(c->in.x);
    ts_conn_put(c);
    close_pair(&srv);
    struct pair again = make_pair(TS_ROLE_SERVER);
    c = ts_conn_get(again.prog);
    assert_null(c->in.x);
    assert_null(c->out.x);
    ts_conn_put(c);
    close_pair(&again);
    assert_true(conn_dir_ext_carved() <= before + 2);
}

/* A response written as head and body in one writev (nginx) is complete
 * within the call: its framing needs no side block. A body that goes on
 * past the call does. */
static void test_writev_head_and_body_takes_no_side_block(void **state)
{
    (void)state;
    char buf[1024];
    struct pair srv = make_pair(TS_ROLE_SERVER);
    peer_write(&srv, "GET /f HTTP/1.1\r\nHost: s\r\n\r\n");
    prog_read(&srv, buf, sizeof buf);
    size_t taken = conn_dir_ext_taken();
    char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", body[] = "hello";
    struct iovec iov[2] = {{head, sizeof head - 1}, {body, 5}};
    assert_int_equal(prog_writev(&srv, iov, 2), (ssize_t)(sizeof head - 1 + 5));
    assert_int_equal(nspans, 1);
    assert_int_equal(attr_int(&spans[0], "http.response.status_code"), 200);
    assert_int_equal(conn_dir_ext_taken(), taken);

    peer_write(&srv, "GET /g HTTP/1.1\r\nHost: s\r\n\r\n");
    prog_read(&srv, buf, sizeof buf);
    iov[1].iov_len = 2; /* "he" now, "llo" in the next call */
    assert_int_equal(prog_writev(&srv, iov, 2), (ssize_t)(sizeof head - 1 + 2));
    assert_int_equal(nspans, 1);
    assert_int_equal(conn_dir_ext_taken(), taken + 1);
    prog_write(&srv, "llo", 3);
    assert_int_equal(nspans, 2);
    struct ts_conn *c = ts_conn_get(srv.prog);
    assert_null(c->out.x);
    ts_conn_put(c);
    close_pair(&srv);
}

/* Pipelined requests in one read, the last one's body cut by the read:
 * the spans queue in order (spilled past the room in the connection), the
 * body's block waits for the rest, and everything is given back once the
 * responses are out. */
static void test_pipelined_requests_with_bodies(void **state)
{
    struct pair p = make_pair(TS_ROLE_SERVER);
    struct ts_conn *c = ts_conn_get(p.prog);
    assert_non_null(c);
    char buf[2048], got[2048];
    peer_write(&p, "POST /a HTTP/1.1\r\nHost: s\r\nContent-Length: 3\r\n\r\nabc"
                   "GET /b HTTP/1.1\r\nHost: s\r\n\r\n"
                   "POST /c HTTP/1.1\r\nHost: s\r\nContent-Length: 5\r\n\r\nab");
    prog_read(&p, buf, sizeof buf);
    assert_int_equal(c->q_len, 3);
    assert_true(c->q_spilled);
    assert_int_equal(c->in.state, DIR_BODY);
    assert_non_null(c->in.x);
    peer_write(&p, "cdePOST /d HTTP/1.1\r\nHo"); /* the body's end, the next head's start */
    prog_read(&p, buf, sizeof buf);
    assert_int_equal(c->in.state, DIR_HEAD);
    assert_non_null(c->in.x); /* now the head's copy */
    assert_non_null(c->in.x->head);
    peer_write(&p, "st: s\r\nContent-Length: 0\r\n\r\n");
    prog_read(&p, buf, sizeof buf);
    assert_null(c->in.x);
    assert_int_equal(c->q_len, 4);
    const char *res = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx";
    char four[256] = "";
    for (int i = 0; i < 4; i++)
        strcat(four, res);
    assert_int_equal(prog_write(&p, four, strlen(four)), (ssize_t)strlen(four));
    peer_read_all(&p, got, sizeof got);
    assert_string_equal(got, four);
    assert_int_equal(nspans, 4);
    static const char *const names[] = {"POST /a", "GET /b", "POST /c", "POST /d"};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(spans[i].name_len, strlen(names[i]));
        assert_memory_equal(ts_span_name(&spans[i]), names[i], spans[i].name_len);
    }
    assert_int_equal(c->q_len, 0);
    assert_false(c->q_spilled);
    assert_null(c->out.x);
    ts_conn_put(c);
    close_pair(&p);
}

/* A write whose pass notes whether the connection was a tunnel already
 * when the bytes went out: tunnel_ahead's work, before any parsing. */
struct noting_write {
    struct write_call w;
    struct ts_conn *c;
    bool tunnel_at_pass;
};

static ssize_t pass_noting_tunnel(void *arg)
{
    struct noting_write *n = arg;
    n->tunnel_at_pass = atomic_load(&n->c->tunnel);
    return pass_writev(&n->w);
}

static bool response_opens_tunnel_ahead(struct pair *p, const char *res)
{
    struct iovec iov = {(void *)res, strlen(res)};
    struct ts_conn *c = ts_conn_get(p->prog);
    struct noting_write n = {{p->prog, &iov, 1}, c, false};
    assert_int_equal(ts_conn_send(c, p->prog, &iov, 1, 0, pass_noting_tunnel, &n),
                     (ssize_t)strlen(res));
    ts_conn_put(c);
    return n.tunnel_at_pass;
}

/* A server's responses in every shape a call can leave them (whole, a
 * body or a head going on past the call, an interim answer, two in one
 * writev, a stream given up) end the right span with its own status and
 * leave the span queue's lock free: the next request's span is pushed
 * under it. For a change that holds that lock from a response's head to
 * its end, as tried in perf5-conn. */
static void test_response_leaves_queue_lock_free(void **state)
{
    struct pair p = make_pair(TS_ROLE_SERVER);
    struct ts_conn *c = ts_conn_get(p.prog);
    assert_non_null(c);
    char buf[2048], got[4096];
    const char *req = "GET /q HTTP/1.1\r\nHost: s\r\n\r\n";
    static const char *const responses[][3] = {
        /* whole */
        {"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok", NULL, NULL},
        /* the body goes on past the call, then ends */
        {"HTTP/1.1 202 Accepted\r\nContent-Length: 4\r\n\r\nab", "cd", NULL},
        /* the head in pieces */
        {"HTTP/1.1 203 Non-Auth", "oritative\r\nContent-Length: 0\r\n\r\n", NULL},
        /* an interim answer, then the real one */
        {"HTTP/1.1 100 Continue\r\n\r\n", "HTTP/1.1 204 No Content\r\n\r\n", NULL},
        /* chunked, over three calls */
        {"HTTP/1.1 205 Reset\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab", "c\r\n", "0\r\n\r\n"},
    };
    int n = (int)(sizeof responses / sizeof responses[0]);
    for (int i = 0; i < n; i++) {
        peer_write(&p, req);
        prog_read(&p, buf, sizeof buf);
        assert_int_equal(c->q_len, 1);
        for (int k = 0; k < 3 && responses[i][k]; k++) {
            const char *r = responses[i][k];
            assert_int_equal(prog_write(&p, r, strlen(r)), (ssize_t)strlen(r));
            assert_int_equal(atomic_load(&c->q_mu.state), 0);
        }
        peer_read_all(&p, got, sizeof got);
        assert_int_equal(nspans, i + 1);
        assert_int_equal(attr_int(&spans[i], "http.response.status_code"), 201 + i);
    }
    /* two requests, both answers in one writev, the second's body past it */
    peer_write(&p, "GET /x HTTP/1.1\r\nHost: s\r\n\r\nGET /y HTTP/1.1\r\nHost: s\r\n\r\n");
    prog_read(&p, buf, sizeof buf);
    assert_int_equal(c->q_len, 2);
    const char *one = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx";
    const char *two = "HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nn";
    struct iovec v[2] = {{(void *)one, strlen(one)}, {(void *)two, strlen(two)}};
    assert_int_equal(prog_writev(&p, v, 2), (ssize_t)(strlen(one) + strlen(two)));
    assert_int_equal(atomic_load(&c->q_mu.state), 0);
    assert_int_equal(nspans, n + 1);
    assert_int_equal(c->q_len, 1);
    assert_int_equal(prog_write(&p, "ot", 2), 2);
    assert_int_equal(nspans, n + 2);
    assert_int_equal(attr_int(&spans[n + 1], "http.response.status_code"), 404);
    /* a response whose framing does not parse: the stream is given up,
     * its span waits for the next request (which is not followed) */
    peer_write(&p, req);
    prog_read(&p, buf, sizeof buf);
    const char *bad = "HTTP/1.1 200 OK\r\nContent-Length: 12x\r\n\r\n";
    assert_int_equal(prog_write(&p, bad, strlen(bad)), (ssize_t)strlen(bad));
    assert_int_equal(atomic_load(&c->q_mu.state), 0);
    assert_int_equal(c->out.state, DIR_OFF);
    assert_int_equal(c->q_len, 1);
    peer_write(&p, req); /* its span ends: the lock is free */
    prog_read(&p, buf, sizeof buf);
    assert_int_equal(atomic_load(&c->q_mu.state), 0);
    assert_int_equal(c->q_len, 0);
    assert_int_equal(nspans, n + 3);
    peer_read_all(&p, got, sizeof got);
    ts_conn_put(c);
    close_pair(&p);
    assert_int_equal(nspans, n + 3);
}

/* A server's 2xx opens a tunnel before it goes out only when it answers a
 * CONNECT: not a GET's, not even after a CONNECT refused on the same
 * connection; a 101 does whatever it answers. */
static void test_server_tunnel_ahead_only_for_connect(void **state)
{
    (void)state;
    char buf[1024];
    struct pair p = make_pair(TS_ROLE_SERVER);
    peer_write(&p, "GET /a HTTP/1.1\r\nHost: s\r\n\r\n");
    prog_read(&p, buf, sizeof buf);
    assert_false(response_opens_tunnel_ahead(&p, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
    peer_write(&p, "CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n");
    prog_read(&p, buf, sizeof buf);
    assert_false(response_opens_tunnel_ahead(
        &p, "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n"));
    peer_write(&p, "GET /b HTTP/1.1\r\nHost: s\r\n\r\n");
    prog_read(&p, buf, sizeof buf);
    assert_false(response_opens_tunnel_ahead(&p, "HTTP/1.1 204 No Content\r\n\r\n"));
    assert_int_equal(nspans, 3);
    peer_write(&p, "CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n");
    prog_read(&p, buf, sizeof buf);
    assert_true(response_opens_tunnel_ahead(&p, "HTTP/1.1 200 Connection established\r\n\r\n"));
    assert_int_equal(nspans, 4);
    peer_write(&p, "GET /inside HTTP/1.1\r\nHost: s\r\n\r\n"); /* tunnel bytes */
    prog_read(&p, buf, sizeof buf);
    prog_write(&p, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 38);
    assert_int_equal(nspans, 4);
    close_pair(&p);

    struct pair up = make_pair(TS_ROLE_SERVER);
    peer_write(&up,
               "GET /ws HTTP/1.1\r\nHost: s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
    prog_read(&up, buf, sizeof buf);
    assert_true(response_opens_tunnel_ahead(
        &up, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"));
    close_pair(&up);
}

/* Bytes a client sends after a request that asks for a tunnel (Upgrade,
 * CONNECT), before the server's answer, are the tunnel's: they made a
 * server span of their own (a probe: "GET /inner", response unseen, a
 * root of its own, and the parent of what the server did next). A
 * declined upgrade leaves the requests after its answer traced. */
static void test_server_bytes_before_a_tunnels_answer(void **state)
{
    (void)state;
    char buf[1024];
    static const struct {
        const char *request, *answer;
    } tunnels[] = {
        {"GET /ws HTTP/1.1\r\nHost: s\r\nUpgrade: foo\r\nConnection: upgrade\r\n\r\n",
         "HTTP/1.1 101 Switching Protocols\r\nUpgrade: foo\r\nConnection: upgrade\r\n\r\n"},
        {"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n",
         "HTTP/1.1 200 Connection established\r\n\r\n"},
    };
    for (size_t i = 0; i < sizeof tunnels / sizeof tunnels[0]; i++) {
        int before = nspans;
        struct pair p = make_pair(TS_ROLE_SERVER);
        peer_write(&p, tunnels[i].request);
        prog_read(&p, buf, sizeof buf);
        peer_write(&p, "GET /inner HTTP/1.1\r\nHost: y\r\n\r\n"); /* at once */
        prog_read(&p, buf, sizeof buf);
        const char *answer = tunnels[i].answer;
        assert_int_equal(prog_write(&p, answer, strlen(answer)), (ssize_t)strlen(answer));
        close_pair(&p);
        assert_int_equal(nspans, before + 1);
        assert_int_equal(attr_int(&spans[before], "http.response.status_code"),
                         i == 0 ? 101 : 200);
    }
    /* declined: answered 200 as HTTP/1.1, the next request is traced */
    int before = nspans;
    struct pair p = make_pair(TS_ROLE_SERVER);
    peer_write(&p, tunnels[0].request);
    prog_read(&p, buf, sizeof buf);
    const char *ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    assert_int_equal(prog_write(&p, ok, strlen(ok)), (ssize_t)strlen(ok));
    peer_write(&p, "GET /after HTTP/1.1\r\nHost: s\r\n\r\n");
    prog_read(&p, buf, sizeof buf);
    assert_int_equal(prog_write(&p, ok, strlen(ok)), (ssize_t)strlen(ok));
    close_pair(&p);
    assert_int_equal(nspans, before + 2);
    char v[64];
    assert_string_equal(attr_str(&spans[before + 1], "url.path", v, sizeof v), "/after");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_server_bytes_before_a_tunnels_answer, setup),
        cmocka_unit_test_setup(test_client_injects_and_ends_on_response, setup),
        cmocka_unit_test_setup(test_server_conn_attrs_built_once, setup),
        cmocka_unit_test_setup(test_server_long_target_leaves_room, setup),
        cmocka_unit_test_setup(test_long_texts_are_cut_between_characters, setup),
        cmocka_unit_test_setup(test_server_span_leaves_slots_for_late_attributes, setup),
        cmocka_unit_test_setup(test_server_follows_a_traced_clients_head, setup),
        cmocka_unit_test_setup(test_server_query_of_every_target_form, setup),
        cmocka_unit_test_setup(test_shim_export_requests_are_not_traced, setup),
        cmocka_unit_test_setup(test_server_address_and_port_of_the_request, setup),
        cmocka_unit_test_setup(test_client_split_head_every_offset, setup),
        cmocka_unit_test_setup(test_client_writev_head_over_iovecs, setup),
        cmocka_unit_test_setup(test_writev_head_and_body_takes_no_side_block, setup),
        cmocka_unit_test_setup(test_client_app_context_no_duplicate, setup),
        cmocka_unit_test_setup(test_client_keepalive_and_pipelining, setup),
        cmocka_unit_test_setup(test_client_interim_and_close_delimited, setup),
        cmocka_unit_test_setup(test_client_declined_tunnel_traces_what_follows, setup),
        cmocka_unit_test_setup(test_error_status_then_close_keeps_the_code, setup),
        cmocka_unit_test_setup(test_url_credentials_redacted, setup),
        cmocka_unit_test_setup(test_url_full_of_each_target_form, setup),
        cmocka_unit_test_setup(test_connect_named_by_its_method, setup),
        cmocka_unit_test_setup(test_parent_is_where_the_parent_lives, setup),
        cmocka_unit_test_setup(test_client_closed_before_response_is_error, setup),
        cmocka_unit_test_setup(test_client_response_unread_is_no_error, setup),
        cmocka_unit_test_setup(test_client_untracked_on_close_ends_span, setup),
        cmocka_unit_test_setup(test_server_leaves_the_answer_to_its_child, setup),
        cmocka_unit_test_setup(test_requests_waiting_at_exit_end_as_closed, setup),
        cmocka_unit_test_setup(test_requests_waiting_at_exit_wait_for_its_handlers, setup),
        cmocka_unit_test_setup(test_requests_handed_to_the_next_image_end_unseen, setup),
        cmocka_unit_test_setup(test_client_closing_mid_body_is_no_error, setup),
        cmocka_unit_test_setup(test_client_closing_before_the_whole_head_is_a_failure, setup),
        cmocka_unit_test_setup(test_client_close_delimited_body_cut_by_a_reset, setup),
        cmocka_unit_test_setup(test_server_response_cut_off_by_its_client, setup),
        cmocka_unit_test_setup(test_non_http_passes_untouched, setup),
        cmocka_unit_test_setup(test_non_http_requests_untracked, setup),
        cmocka_unit_test_setup(test_head_piece_passes_at_once, setup),
        cmocka_unit_test_setup(test_server_extracts_context_and_sets_current, setup),
        cmocka_unit_test_setup(test_server_head_in_pieces_and_client_child, setup),
        cmocka_unit_test_setup(test_server_unsampled_not_exported_flag, setup),
        cmocka_unit_test_setup(test_span_begun_asks_for_the_reporter_thread, setup),
        cmocka_unit_test_setup(test_server_named_before_a_decision_by_name, setup),
        cmocka_unit_test_setup(test_server_decision_without_ids, setup),
        cmocka_unit_test_setup(test_server_b3_defer_follows_same_ids_traceparent, setup),
        cmocka_unit_test_setup(test_debug_context_makes_debug_spans, setup),
        cmocka_unit_test_setup(test_server_answers_before_the_head_ends, setup),
        cmocka_unit_test_setup(test_server_pipelined_requests_served_in_turn, setup),
        cmocka_unit_test_setup(test_tracestate_passed_on_with_traceparent, setup),
        cmocka_unit_test_setup(test_tracestate_not_passed_from_another_context, setup),
        cmocka_unit_test_setup(test_tracestate_only_with_injected_traceparent, setup),
        cmocka_unit_test_setup(test_inbound_read_only_in_extracted_formats, setup),
        cmocka_unit_test_setup(test_tracestate_kept_in_spans, setup),
        cmocka_unit_test_setup_teardown(test_client_program_defer_gets_the_samplers_flag, setup,
                                        sampler_reset),
        cmocka_unit_test_setup(test_tracestate_program_own_left_alone, setup),
        cmocka_unit_test_setup(test_tracestate_malformed_dropped_oversized_cut, setup),
        cmocka_unit_test_setup(test_tracestate_pipelined_each_own, setup),
        cmocka_unit_test_setup(test_server_recv_truncated_is_unseen, setup),
        cmocka_unit_test_setup(test_server_response_unfollowed_stops_the_requests, setup),
        cmocka_unit_test_setup(test_dup_shares_connection, setup),
        cmocka_unit_test_setup(test_connection_object_is_small, setup),
        cmocka_unit_test_setup(test_connection_lock_excludes, setup),
        cmocka_unit_test_setup(test_idle_connections_hold_no_buffers, setup),
        cmocka_unit_test_setup(test_pipelining_spills_and_comes_back, setup),
        cmocka_unit_test_setup(test_client_past_the_pipeline_limit, setup),
        cmocka_unit_test_setup(test_server_past_the_pipeline_limit, setup),
        cmocka_unit_test_setup(test_client_empty_line_between_requests, setup),
        cmocka_unit_test_setup(test_spilled_queue_wraps_in_order, setup),
        cmocka_unit_test_setup(test_done_with_keeps_errno, setup),
        cmocka_unit_test_setup(test_peer_address_text, setup),
        cmocka_unit_test_setup(test_server_name_route_and_method, setup),
        cmocka_unit_test_setup(test_peer_address_on_spans, setup),
        cmocka_unit_test_setup(test_unix_domain_connections, setup),
        cmocka_unit_test_setup(test_server_without_a_peer_names_none, setup),
        cmocka_unit_test_setup(test_server_client_behind_proxies, setup),
        cmocka_unit_test_setup(test_peer_text_follows_the_address, setup),
        cmocka_unit_test_setup(test_tls_version_kept, setup),
        cmocka_unit_test_setup(test_tls_version_learned_after_the_span_began, setup),
        cmocka_unit_test_setup(test_body_state_taken_and_given_back, setup),
        cmocka_unit_test_setup(test_body_blocks_do_not_leak, setup),
        cmocka_unit_test_setup(test_pipelined_requests_with_bodies, setup),
        cmocka_unit_test_setup(test_server_tunnel_ahead_only_for_connect, setup),
        cmocka_unit_test_setup(test_response_leaves_queue_lock_free, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
