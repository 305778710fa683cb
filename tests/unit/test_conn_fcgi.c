/* test_conn_fcgi.c — a tracked connection that speaks FastCGI, on real
 * socket pairs: the application server's server span (php-fpm's side),
 * the web server's client span and the PARAMS record it adds (nginx's
 * fastcgi_pass), and the status and end each takes from the response. */
#include <arpa/inet.h>
#include <netinet/in.h>

#include "conn_harness.h"
#include "hooks/conn_internal.h"
#include "hooks/fcgi.h"
#include "hooks/tls_sessions.h"

/* ------------------------------------------------- building records */

struct bytes {
    char b[32768];
    size_t n;
};

static void put(struct bytes *o, const void *p, size_t n)
{
    assert_true(o->n + n <= sizeof o->b);
    memcpy(o->b + o->n, p, n);
    o->n += n;
}

/* A record of type with content[0..len), padded to a multiple of 8. */
static void record(struct bytes *o, int type, const void *content, size_t len)
{
    size_t pad = (8 - len % 8) % 8;
    unsigned char h[8] = {1,
                          (unsigned char)type,
                          0,
                          1,
                          (unsigned char)(len >> 8),
                          (unsigned char)len,
                          (unsigned char)pad,
                          0};
    put(o, h, 8);
    put(o, content, len);
    static const char zeros[8];
    put(o, zeros, pad);
}

static void pair_put(struct bytes *o, const char *name, const char *value)
{
    size_t n = strlen(name), v = strlen(value);
    assert_true(n < 128 && v < 128);
    unsigned char l[2] = {(unsigned char)n, (unsigned char)v};
    put(o, l, 2);
    put(o, name, n);
    put(o, value, v);
}

/* A request head as nginx sends one: BEGIN_REQUEST (flags), its PARAMS
 * record with these extra variables, and the empty PARAMS record; then
 * the empty STDIN record. *head_len: the head's bytes. */
static void nginx_request(struct bytes *o, int flags, const char *uri, const char *const *extra,
                          size_t *head_len)
{
    unsigned char begin[8] = {0, 1, (unsigned char)flags, 0, 0, 0, 0, 0};
    record(o, TS_FCGI_BEGIN_REQUEST, begin, 8);
    struct bytes params = {.n = 0};
    pair_put(&params, "QUERY_STRING", "");
    pair_put(&params, "REQUEST_METHOD", "GET");
    pair_put(&params, "SCRIPT_FILENAME", "/srv/www/a.php");
    pair_put(&params, "REQUEST_URI", uri);
    pair_put(&params, "SERVER_PROTOCOL", "HTTP/1.1");
    pair_put(&params, "HTTP_HOST", "shop.test");
    pair_put(&params, "HTTP_USER_AGENT", "unit/1");
    for (; extra && *extra; extra += 2)
        pair_put(&params, extra[0], extra[1]);
    record(o, TS_FCGI_PARAMS, params.b, params.n);
    record(o, TS_FCGI_PARAMS, "", 0);
    *head_len = o->n;
    record(o, TS_FCGI_STDIN, "", 0);
}

/* php-fpm's answer: the CGI head and body in one STDOUT record, the
 * empty STDOUT record, END_REQUEST. */
static void php_response(struct bytes *o, const char *stdout_text)
{
    record(o, TS_FCGI_STDOUT, stdout_text, strlen(stdout_text));
    record(o, TS_FCGI_STDOUT, "", 0);
    static const char end[8] = {0};
    record(o, TS_FCGI_END_REQUEST, end, 8);
}

static void peer_put(struct pair *p, const struct bytes *b)
{
    assert_int_equal(write(p->peer, b->b, b->n), (ssize_t)b->n);
}

/* The program reads exactly n bytes (as php-fpm reads a record's header,
 * then its content). */
static void prog_read_n(struct pair *p, size_t n)
{
    char buf[8192];
    struct ts_conn *c = ts_conn_get(p->prog);
    assert_non_null(c);
    ssize_t r = read(p->prog, buf, n);
    assert_int_equal(r, (ssize_t)n);
    struct iovec iov = {buf, n};
    ts_conn_recv_done(c, &iov, 1, r, 0, 0);
    ts_conn_put(c);
}

static void prog_write_all(struct pair *p, const struct bytes *b)
{
    assert_int_equal(prog_write(p, b->b, b->n), (ssize_t)b->n);
}

static const char php_ok[] = "X-Powered-By: PHP/8.2\r\nContent-type: text/html; charset=UTF-8\r\n"
                             "\r\nhello";

/* ------------------------------------------------------------- server */

static void test_server_span_from_params(void **state)
{
    (void)state;
    struct pair p = make_pair(TS_ROLE_SERVER);
    static const char *const ctx[] = {
        "HTTP_TRACEPARENT", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", NULL};
    struct bytes req = {.n = 0};
    size_t head;
    nginx_request(&req, 0, "/a.php?x=1", ctx, &head);
    peer_put(&p, &req);
    /* php-fpm reads each record's header, then its content and padding */
    for (size_t off = 0; off < req.n;) {
        size_t content = ((unsigned char)req.b[off + 4] << 8 | (unsigned char)req.b[off + 5]) +
                         (unsigned char)req.b[off + 6];
        prog_read_n(&p, 8);
        if (content)
            prog_read_n(&p, content);
        off += 8 + content;
    }
    assert_int_equal(nspans, 0);

    struct bytes res = {.n = 0};
    php_response(&res, "Status: 404 Not Found\r\nContent-type: text/html\r\n\r\nno");
    prog_write_all(&p, &res);
    assert_int_equal(nspans, 1);
    struct ts_span *s = &spans[0];
    assert_int_equal(s->kind, TS_KIND_SERVER);
    char t[33], parent[17], v[256];
    hex(s->trace_id, 16, t);
    hex(s->parent_id, 8, parent);
    assert_string_equal(t, "0af7651916cd43dd8448eb211c80319c");
    assert_string_equal(parent, "b7ad6b7169203331");
    assert_int_equal(attr_int(s, "http.response.status_code"), 404);
    assert_string_equal(attr_str(s, "url.path", v, sizeof v), "/a.php");
    assert_string_equal(attr_str(s, "url.query", v, sizeof v), "x=1");
    assert_string_equal(attr_str(s, "http.request.method", v, sizeof v), "GET");
    assert_string_equal(attr_str(s, "server.address", v, sizeof v), "shop.test");
    assert_string_equal(attr_str(s, "user_agent.original", v, sizeof v), "unit/1");
    assert_string_equal(attr_str(s, "network.protocol.name", v, sizeof v), "fastcgi");
    assert_null(attr_str(s, "network.protocol.version", v, sizeof v));
    close_pair(&p);
}

/* The request read at once, the answer written in pieces that cut the
 * CGI head and the records anywhere: one span, ended at END_REQUEST's
 * last byte and not before. */
static void test_server_answer_in_pieces(void **state)
{
    (void)state;
    struct bytes res = {.n = 0};
    php_response(&res, "Location: /elsewhere\r\n\r\n");
    for (size_t cut = 1; cut < res.n; cut++) {
        nspans = 0;
        struct pair p = make_pair(TS_ROLE_SERVER);
        struct bytes req = {.n = 0};
        size_t head;
        nginx_request(&req, 0, "/r.php", NULL, &head);
        peer_put(&p, &req);
        prog_read_n(&p, req.n);
        assert_int_equal(prog_write(&p, res.b, cut), (ssize_t)cut);
        assert_int_equal(nspans, 0);
        assert_int_equal(prog_write(&p, res.b + cut, res.n - cut), (ssize_t)(res.n - cut));
        assert_int_equal(nspans, 1);
        assert_int_equal(attr_int(&spans[0], "http.response.status_code"), 302);
        close_pair(&p);
    }
}

/* FCGI_KEEP_CONN: requests one after another on one connection, each
 * with its body (STDIN records) read in one piece with the next head. */
static void test_server_keeps_the_connection(void **state)
{
    (void)state;
    struct pair p = make_pair(TS_ROLE_SERVER);
    for (int i = 0; i < 3; i++) {
        struct bytes req = {.n = 0};
        size_t head;
        nginx_request(&req, TS_FCGI_KEEP_CONN, i == 1 ? "/two" : "/one", NULL, &head);
        peer_put(&p, &req);
        prog_read_n(&p, req.n);
        struct bytes res = {.n = 0};
        php_response(&res, php_ok);
        prog_write_all(&p, &res);
        assert_int_equal(nspans, i + 1);
    }
    char v[64];
    assert_string_equal(attr_str(&spans[1], "url.path", v, sizeof v), "/two");
    assert_int_equal(attr_int(&spans[2], "http.response.status_code"), 200);
    close_pair(&p);
}

/* An empty PARAMS record with padding of its own (the spec allows it):
 * the head takes its padding too, and the connection's next exchange is
 * read from its first byte. */
static void test_server_padded_empty_params(void **state)
{
    (void)state;
    struct pair p = make_pair(TS_ROLE_SERVER);
    for (int i = 0; i < 2; i++) {
        struct bytes req = {.n = 0};
        size_t head;
        nginx_request(&req, TS_FCGI_KEEP_CONN, "/pad", NULL, &head);
        /* the empty PARAMS record (8 bytes before head) gets 8 bytes of padding */
        struct bytes padded = {.n = 0};
        put(&padded, req.b, head - 8);
        static const unsigned char empty_padded[16] = {1, TS_FCGI_PARAMS, 0, 1, 0, 0, 8, 0};
        put(&padded, empty_padded, sizeof empty_padded);
        put(&padded, req.b + head, req.n - head);
        peer_put(&p, &padded);
        prog_read_n(&p, padded.n);
        struct bytes res = {.n = 0};
        php_response(&res, php_ok);
        prog_write_all(&p, &res);
        assert_int_equal(nspans, i + 1);
    }
    close_pair(&p);
}

/* Room for a 1 MiB write from sender to receiver without a wait. */
static void big_buffers(int sender, int receiver)
{
    int big = 1 << 20;
    setsockopt(sender, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    setsockopt(receiver, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
}

/* A notice longer than a head may be (php-fpm sends one of up to 64 KiB
 * as one STDERR record) before the answer's output: the span has the
 * answer's status, and ends at END_REQUEST. */
static void test_server_long_notice_before_output(void **state)
{
    (void)state;
    struct pair p = make_pair(TS_ROLE_SERVER);
    big_buffers(p.prog, p.peer);
    static struct bytes req, res;
    size_t head;
    req.n = res.n = 0;
    nginx_request(&req, 0, "/n.php", NULL, &head);
    peer_put(&p, &req);
    prog_read_n(&p, req.n);
    static char notice[20000];
    memset(notice, 'x', sizeof notice);
    record(&res, TS_FCGI_STDERR, notice, sizeof notice);
    php_response(&res, "Status: 404 Not Found\r\n\r\nno");
    prog_write_all(&p, &res);
    assert_int_equal(nspans, 1);
    assert_int_equal(attr_int(&spans[0], "http.response.status_code"), 404);
    close_pair(&p);
}

/* ------------------------------------------------------------- client */

/* What the peer received, parsed as a FastCGI head: the program's bytes
 * with one PARAMS record before the empty one; that record's
 * HTTP_TRACEPARENT in traceparent (NUL-terminated). */
static void sent_context(struct pair *p, const struct bytes *req, size_t head, char traceparent[64])
{
    char got[8192];
    size_t n = peer_read_all(p, got, sizeof got);
    size_t record_len = n - req->n;
    assert_true(n > req->n && record_len % 8 == 0);
    size_t params_end = head - 8;
    assert_memory_equal(got, req->b, params_end);
    assert_memory_equal(got + params_end + record_len, req->b + params_end, req->n - params_end);
    assert_int_equal(got[params_end], 1);
    assert_int_equal(got[params_end + 1], TS_FCGI_PARAMS);

    struct ts_http_header hdrs[16];
    struct ts_fcgi_request fr = {.http = {.headers = hdrs, .num_headers = 16}};
    char names[512];
    assert_int_equal(ts_fcgi_parse_request(got, n, &fr, names, sizeof names),
                     (int)(head + record_len));
    assert_non_null(ts_http_find_header(hdrs, fr.http.num_headers, "x-b3-traceid"));
    const struct ts_http_header *tp = ts_http_find_header(hdrs, fr.http.num_headers, "traceparent");
    assert_non_null(tp);
    assert_true(tp->value_len < 64);
    memcpy(traceparent, tp->value, tp->value_len);
    traceparent[tp->value_len] = '\0';
}

/* The traceparent of span s. */
static void traceparent_of(const struct ts_span *s, char out[64])
{
    char t[33], id[17];
    hex(s->trace_id, 16, t);
    hex(s->span_id, 8, id);
    snprintf(out, 64, "00-%s-%s-01", t, id);
}

static void check_sent(struct pair *p, const struct bytes *req, size_t head,
                       const struct ts_span *s)
{
    char sent[64], want[64];
    sent_context(p, req, head, sent);
    traceparent_of(s, want);
    assert_string_equal(sent, want);
}

static void test_client_adds_a_params_record(void **state)
{
    (void)state;
    struct pair p = make_pair(TS_ROLE_CLIENT);
    struct bytes req = {.n = 0};
    size_t head;
    nginx_request(&req, 0, "/a.php?x=1", NULL, &head);
    /* nginx: the head and the STDIN records in one writev */
    struct iovec iov[2] = {{req.b, head}, {req.b + head, req.n - head}};
    assert_int_equal(prog_writev(&p, iov, 2), (ssize_t)req.n);
    assert_int_equal(nspans, 0);

    struct bytes res = {.n = 0};
    php_response(&res, "Status: 503 Service Unavailable\r\n\r\nbusy");
    peer_put(&p, &res);
    char buf[4096];
    assert_int_equal(prog_read(&p, buf, sizeof buf), (ssize_t)res.n);
    assert_int_equal(nspans, 1);
    struct ts_span *s = &spans[0];
    assert_int_equal(s->kind, TS_KIND_CLIENT);
    assert_int_equal(attr_int(s, "http.response.status_code"), 503);
    char v[256];
    assert_string_equal(attr_str(s, "url.full", v, sizeof v), "http://shop.test/a.php?x=1");
    assert_string_equal(attr_str(s, "network.protocol.name", v, sizeof v), "fastcgi");
    check_sent(&p, &req, head, s);
    close_pair(&p);
}

/* A head sent in two pieces, cut anywhere before the empty PARAMS
 * record: the pieces go as they come, the record goes in before the
 * empty one all the same. */
static void test_client_head_in_pieces(void **state)
{
    (void)state;
    struct bytes req = {.n = 0};
    size_t head;
    nginx_request(&req, 0, "/p.php", NULL, &head);
    for (size_t cut = 1; cut <= head - 8; cut++) {
        nspans = 0;
        struct pair p = make_pair(TS_ROLE_CLIENT);
        assert_int_equal(prog_write(&p, req.b, cut), (ssize_t)cut);
        assert_int_equal(prog_write(&p, req.b + cut, req.n - cut), (ssize_t)(req.n - cut));
        struct bytes res = {.n = 0};
        php_response(&res, php_ok);
        peer_put(&p, &res);
        char buf[4096];
        assert_int_equal(prog_read(&p, buf, sizeof buf), (ssize_t)res.n);
        assert_int_equal(nspans, 1);
        check_sent(&p, &req, head, &spans[0]);
        close_pair(&p);
    }
}

/* Responses read in pieces of every size, STDERR records among them: the
 * span ends at END_REQUEST's last byte, with the CGI head's status. */
static void test_client_response_in_pieces(void **state)
{
    (void)state;
    struct bytes res = {.n = 0};
    record(&res, TS_FCGI_STDERR, "PHP Notice: x", 13);
    record(&res, TS_FCGI_STDOUT, "Status: 201 Created\r\n", 21);
    record(&res, TS_FCGI_STDERR, "PHP Notice: y", 13);
    record(&res, TS_FCGI_STDOUT, "\r\nmade", 6);
    record(&res, TS_FCGI_STDOUT, "", 0);
    static const char end[8] = {0};
    record(&res, TS_FCGI_END_REQUEST, end, 8);
    for (size_t step = 1; step <= res.n; step++) {
        nspans = 0;
        struct pair p = make_pair(TS_ROLE_CLIENT);
        struct bytes req = {.n = 0};
        size_t head;
        nginx_request(&req, 0, "/c.php", NULL, &head);
        prog_write_all(&p, &req);
        peer_put(&p, &res);
        for (size_t off = 0; off < res.n; off += step) {
            assert_int_equal(nspans, 0);
            prog_read_n(&p, off + step <= res.n ? step : res.n - off);
        }
        assert_int_equal(nspans, 1);
        assert_int_equal(attr_int(&spans[0], "http.response.status_code"), 201);
        close_pair(&p);
    }
}

/* A head whose HTTP_* variables and the shim's record's would be more
 * than a traced application server reads (64): it goes as the program
 * wrote it (the next server would give the head up, and the trace end
 * there), its span made all the same. */
static void test_client_record_left_out_past_what_is_read(void **state)
{
    (void)state;
    static char names[62][16];
    static const char *extra[62 * 2 + 1];
    for (int i = 0; i < 62; i++) {
        snprintf(names[i], sizeof names[i], "HTTP_X_%02d", i);
        extra[2 * i] = names[i];
        extra[2 * i + 1] = "v";
    }
    struct pair p = make_pair(TS_ROLE_CLIENT);
    struct bytes req = {.n = 0};
    size_t head;
    nginx_request(&req, 0, "/many", extra, &head); /* 64 with HTTP_HOST and HTTP_USER_AGENT */
    prog_write_all(&p, &req);
    char got[8192];
    assert_int_equal(peer_read_all(&p, got, sizeof got), req.n);
    assert_memory_equal(got, req.b, req.n);
    struct bytes res = {.n = 0};
    php_response(&res, php_ok);
    peer_put(&p, &res);
    char buf[4096];
    assert_int_equal(prog_read(&p, buf, sizeof buf), (ssize_t)res.n);
    assert_int_equal(nspans, 1);
    close_pair(&p);
}

/* The same notice read by nginx in its 4 KiB buffer's pieces, on a kept
 * connection, twice: each exchange's span has its status, and the
 * second exchange is traced. */
static void test_client_long_notice_before_output(void **state)
{
    (void)state;
    struct pair p = make_pair(TS_ROLE_CLIENT);
    big_buffers(p.peer, p.prog);
    for (int i = 0; i < 2; i++) {
        static struct bytes req, res;
        size_t head;
        req.n = res.n = 0;
        nginx_request(&req, TS_FCGI_KEEP_CONN, "/n.php", NULL, &head);
        prog_write_all(&p, &req);
        char sent[64];
        sent_context(&p, &req, head, sent);
        static char notice[20000];
        memset(notice, 'x', sizeof notice);
        record(&res, TS_FCGI_STDERR, notice, sizeof notice);
        php_response(&res, php_ok);
        peer_put(&p, &res);
        for (size_t off = 0; off < res.n; off += 4096)
            prog_read_n(&p, res.n - off < 4096 ? res.n - off : 4096);
        assert_int_equal(nspans, i + 1);
        assert_int_equal(attr_int(&spans[i], "http.response.status_code"), 200);
    }
    close_pair(&p);
}

/* nginx closes its FastCGI connection while it reads a notice before
 * the answer's output (its own client went away): the span failed
 * (connection_closed), no status. */
static void test_client_closed_mid_notice(void **state)
{
    (void)state;
    struct pair p = make_pair(TS_ROLE_CLIENT);
    static struct bytes req, res;
    size_t head;
    req.n = res.n = 0;
    nginx_request(&req, TS_FCGI_KEEP_CONN, "/n.php", NULL, &head);
    prog_write_all(&p, &req);
    char got[16384];
    peer_read_all(&p, got, sizeof got);
    static char notice[300];
    memset(notice, 'x', sizeof notice);
    record(&res, TS_FCGI_STDERR, notice, sizeof notice);
    php_response(&res, php_ok);
    peer_put(&p, &res);
    prog_read_n(&p, 100); /* the record's header and part of the notice */
    assert_int_equal(nspans, 0);
    close_pair(&p);
    assert_int_equal(nspans, 1);
    char v[64];
    assert_string_equal(attr_str(&spans[0], "error.type", v, sizeof v), "connection_closed");
    assert_int_equal(attr_int(&spans[0], "http.response.status_code"), -1); /* none */
}

/* nginx with sendfile on: a request body's STDIN records, their headers
 * written, their content sent from a file (unseen by the shim); the
 * connection's next request is traced. */
static void test_client_body_by_sendfile(void **state)
{
    (void)state;
    struct pair p = make_pair(TS_ROLE_CLIENT);
    struct bytes req = {.n = 0};
    size_t head;
    nginx_request(&req, TS_FCGI_KEEP_CONN, "/post", NULL, &head);
    req.n = head; /* the head alone, its STDIN records after */
    prog_write_all(&p, &req);
    unsigned char stdin_header[8] = {1, TS_FCGI_STDIN, 0, 1, 0x10, 0, 0, 0}; /* 4096 bytes */
    assert_int_equal(prog_write(&p, (const char *)stdin_header, 8), 8);
    struct ts_conn *c = ts_conn_get(p.prog);
    ts_conn_sent_unseen(c, 4000); /* sendfile: the content, in two calls */
    ts_conn_sent_unseen(c, 96);
    ts_conn_put(c);
    struct bytes end = {.n = 0};
    record(&end, TS_FCGI_STDIN, "", 0);
    prog_write_all(&p, &end);
    char got[16384];
    peer_read_all(&p, got, sizeof got);
    struct bytes res = {.n = 0};
    php_response(&res, php_ok);
    peer_put(&p, &res);
    char buf[4096];
    assert_int_equal(prog_read(&p, buf, sizeof buf), (ssize_t)res.n);
    assert_int_equal(nspans, 1);
    /* the next request on the connection: its record goes in */
    struct bytes next = {.n = 0};
    nginx_request(&next, TS_FCGI_KEEP_CONN, "/next", NULL, &head);
    prog_write_all(&p, &next);
    char sent[64];
    sent_context(&p, &next, head, sent);
    peer_put(&p, &res);
    assert_int_equal(prog_read(&p, buf, sizeof buf), (ssize_t)res.n);
    assert_int_equal(nspans, 2);
    char want[64];
    traceparent_of(&spans[1], want);
    assert_string_equal(sent, want);
    close_pair(&p);
}

/* nginx's fastcgi_keep_conn: two exchanges on one connection, each its
 * own span and its own record. */
static void test_client_keeps_the_connection(void **state)
{
    (void)state;
    struct pair p = make_pair(TS_ROLE_CLIENT);
    for (int i = 0; i < 2; i++) {
        struct bytes req = {.n = 0};
        size_t head;
        nginx_request(&req, TS_FCGI_KEEP_CONN, "/k.php", NULL, &head);
        prog_write_all(&p, &req);
        char sent[64], want[64];
        sent_context(&p, &req, head, sent);
        struct bytes res = {.n = 0};
        php_response(&res, php_ok);
        peer_put(&p, &res);
        char buf[4096];
        assert_int_equal(prog_read(&p, buf, sizeof buf), (ssize_t)res.n);
        assert_int_equal(nspans, i + 1);
        traceparent_of(&spans[i], want);
        assert_string_equal(sent, want);
    }
    assert_memory_not_equal(spans[0].span_id, spans[1].span_id, 8);
    close_pair(&p);
}

/* A listener on 127.0.0.1; its port in *port. */
static int tcp_listener(uint16_t *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int l = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(l >= 0);
    assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(l, 2), 0);
    assert_int_equal(getsockname(l, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return l;
}

/* A connection to the listener l (at port) from client_addr (host order)
 * and *client_port (0: one the kernel picks, then in *client_port),
 * accepted and tracked as a server's. */
static struct pair tcp_server_pair(int l, uint16_t port, uint32_t client_addr,
                                   uint16_t *client_port)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(client_addr),
                            .sin_port = htons(*client_port)};
    socklen_t len = sizeof a;
    int c = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(c >= 0);
    assert_int_equal(bind(c, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(c, (struct sockaddr *)&a, &len), 0);
    *client_port = ntohs(a.sin_port);
    struct sockaddr_in to = {
        .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK), .sin_port = htons(port)};
    assert_int_equal(connect(c, (struct sockaddr *)&to, sizeof to), 0);
    int s = accept(l, NULL, NULL);
    assert_true(s >= 0);
    ts_conn_track(s, TS_ROLE_SERVER, NULL, 0);
    return (struct pair){s, c};
}

/* A request head with a traceparent of trace, read by the program. */
static void serve_request_of(struct pair *p, const char *trace)
{
    char head[256], buf[512];
    snprintf(
        head, sizeof head,
        "GET /shop HTTP/1.1\r\nHost: shop.test\r\ntraceparent: 00-%s-00f067aa0ba902b7-01\r\n\r\n",
        trace);
    peer_write(p, head);
    assert_int_equal(prog_read(p, buf, sizeof buf), (ssize_t)strlen(head));
}

/* One FastCGI exchange's head with these variables; the trace of the
 * context sent in its record, in trace (33 bytes). */
static void exchange_trace(const char *const *vars, char trace[33])
{
    struct pair p = make_pair(TS_ROLE_CLIENT);
    struct bytes req = {.n = 0};
    size_t head;
    nginx_request(&req, 0, "/a.php", vars, &head);
    prog_write_all(&p, &req);
    char sent[64];
    sent_context(&p, &req, head, sent);
    memcpy(trace, sent + 3, 32);
    trace[32] = '\0';
    close_pair(&p);
}

/* nginx's exchange for a request it read before another one: its parent
 * is the request REMOTE_ADDR, REMOTE_PORT and SERVER_PORT name, not the
 * thread's last. Found through the fd last tracked with that peer port
 * (kept once the process made an exchange), and when that fd is another
 * connection from the same port (another client address), or none, by
 * looking at every one. */
static void test_client_parent_by_remote_port(void **state)
{
    (void)state;
    static const char first[] = "4bf92f3577b34da6a3ce929d0e0e4736";
    static const char same_port[] = "5a8e3c2f9b1d4e6f8a0b2c4d6e8f0a1b";
    static const char later[] = "0af7651916cd43dd8448eb211c80319c";
    char trace[33];
    exchange_trace(NULL, trace); /* this process is a FastCGI client from here */
    uint16_t local_port, peer_port = 0, again;
    int l = tcp_listener(&local_port);
    struct pair served = tcp_server_pair(l, local_port, INADDR_LOOPBACK, &peer_port);
    assert_int_equal(conn_fd_by_peer_port[peer_port], served.prog + 1);
    serve_request_of(&served, first);
    again = peer_port; /* the same port from 127.0.0.2 */
    struct pair other_client = tcp_server_pair(l, local_port, INADDR_LOOPBACK + 1, &again);
    close(l);
    assert_int_equal(conn_fd_by_peer_port[peer_port], other_client.prog + 1);
    serve_request_of(&other_client, same_port);
    struct pair last = make_pair(TS_ROLE_SERVER); /* the thread's last request */
    serve_request_of(&last, later);

    char remote_port[8], server_port[8];
    snprintf(remote_port, sizeof remote_port, "%u", peer_port);
    snprintf(server_port, sizeof server_port, "%u", local_port);
    const char *vars[] = {"REMOTE_ADDR", "127.0.0.1", "REMOTE_PORT", remote_port,
                          "SERVER_PORT", server_port, NULL};
    const char *vars2[] = {"REMOTE_ADDR", "127.0.0.2", "REMOTE_PORT", remote_port,
                           "SERVER_PORT", server_port, NULL};
    int hints[] = {served.prog + 1, other_client.prog + 1, last.prog + 1, 0};
    for (size_t i = 0; i < sizeof hints / sizeof hints[0]; i++) {
        conn_fd_by_peer_port[peer_port] = hints[i];
        exchange_trace(vars, trace);
        assert_string_equal(trace, first);
        exchange_trace(vars2, trace);
        assert_string_equal(trace, same_port);
    }
    close_pair(&last);
    close_pair(&other_client);
    close_pair(&served);
}

/* --------------------------------------------- TLS sessions by client port */

/* A stand-in TLS library whose sessions are servers' over plain sockets:
 * the handle is the fd's address, the bytes go as they are. */
static enum tls_end fake_end(struct tls_io *io, long rc)
{
    (void)io;
    return rc == 0 ? TLS_CLOSED : TLS_FAILED;
}
static int fake_role(struct tls_io *io, bool sending)
{
    (void)io;
    (void)sending;
    return TS_ROLE_SERVER;
}
static int fake_fd(struct tls_io *io)
{
    return *(int *)io->handle;
}
/* Whether the stand-in's handshake is done (fake_version). */
static bool fake_handshake_done = true;
static bool fake_version(struct tls_io *io, char *out, size_t size)
{
    (void)io;
    snprintf(out, size, "%s", fake_handshake_done ? "1.3" : "");
    return fake_handshake_done;
}
static long fake_read(struct tls_io *io, void *buf, size_t len)
{
    return read(*(int *)io->handle, buf, len);
}
static const struct tls_lib fake_tls = {fake_end, fake_role, fake_fd, fake_version, false};

/* The session of handle (an int holding the socket) reads a request of
 * trace: its server span is then the one its connection serves. */
static void tls_serve_request_of(int *handle, int peer, const char *trace)
{
    char head[256], buf[512];
    snprintf(
        head, sizeof head,
        "GET /shop HTTP/1.1\r\nHost: shop.test\r\ntraceparent: 00-%s-00f067aa0ba902b7-01\r\n\r\n",
        trace);
    assert_int_equal(write(peer, head, strlen(head)), (ssize_t)strlen(head));
    struct tls_io io = {.handle = handle, .lib = &fake_tls, .call = fake_read};
    assert_int_equal(tls_read(&io, buf, sizeof buf), (long)strlen(head));
}

struct tls_wanted {
    uint16_t peer_port;
    char trace[33];
};

/* A connection from the wanted port serving a request: its trace. */
static bool tls_serves(struct ts_conn *c, void *arg)
{
    struct tls_wanted *w = arg;
    struct ts_ctx ctx;
    if (c->peer_port != w->peer_port || !conn_serving_ctx(c, &ctx))
        return false;
    hex(ctx.trace_id, 16, w->trace);
    return true;
}

/* Once the process made a FastCGI exchange, the TLS session last opened
 * as a server's from a client port is found by that port: not a port no
 * session came from, not once the session is forgotten, and not when its
 * handle names a session from another port since. */
static void test_tls_session_by_client_port(void **state)
{
    (void)state;
    static const char first[] = "4bf92f3577b34da6a3ce929d0e0e4736";
    static const char second[] = "5a8e3c2f9b1d4e6f8a0b2c4d6e8f0a1b";
    char trace[33];
    exchange_trace(NULL, trace); /* this process is a FastCGI client from here */
    uint16_t local_port, port_a = 0, port_b = 0;
    int l = tcp_listener(&local_port);
    /* the tracked fds are a TLS library's sockets: not the shim's to follow */
    struct pair a = tcp_server_pair(l, local_port, INADDR_LOOPBACK, &port_a);
    ts_conn_untrack(a.prog);
    static int handle; /* one handle, two sessions in turn */
    handle = a.prog;
    tls_serve_request_of(&handle, a.peer, first);
    struct tls_wanted w = {.peer_port = port_a};
    assert_true(tls_sessions_find_by_peer_port(port_a, tls_serves, &w));
    assert_string_equal(w.trace, first);
    w.peer_port = (uint16_t)(port_a + 1);
    assert_false(tls_sessions_find_by_peer_port(w.peer_port, tls_serves, &w));

    tls_forget(&handle);
    w.peer_port = port_a;
    assert_false(tls_sessions_find_by_peer_port(port_a, tls_serves, &w));

    /* the same handle, a session from another port: port_a's note names
     * it, and it is not port_a's */
    struct pair b = tcp_server_pair(l, local_port, INADDR_LOOPBACK, &port_b);
    close(l);
    ts_conn_untrack(b.prog);
    handle = b.prog;
    tls_serve_request_of(&handle, b.peer, second);
    w.peer_port = port_a;
    assert_false(tls_sessions_find_by_peer_port(port_a, tls_serves, &w));
    w.peer_port = port_b;
    assert_true(tls_sessions_find_by_peer_port(port_b, tls_serves, &w));
    assert_string_equal(w.trace, second);
    tls_forget(&handle);
    close(a.prog);
    close(a.peer);
    close(b.prog);
    close(b.peer);
}

/* A request whose first bytes came in early data (TLS 1.3's 0-RTT: the
 * call goes through before the handshake is done, and the library knows
 * no version yet), the rest after the handshake: its span gets the
 * version. The first call's ask, with no answer, was the only one. */
static void test_tls_version_after_early_data(void **state)
{
    (void)state;
    uint16_t local_port, port = 0;
    int l = tcp_listener(&local_port);
    struct pair a = tcp_server_pair(l, local_port, INADDR_LOOPBACK, &port);
    close(l);
    ts_conn_untrack(a.prog);
    static int handle;
    handle = a.prog;
    struct tls_io io = {.handle = &handle, .lib = &fake_tls, .call = fake_read};
    char buf[512];
    static const char early[] = "GET /early HTTP/1.1\r\nHost: shop.test\r\n";
    fake_handshake_done = false;
    assert_int_equal(write(a.peer, early, strlen(early)), (ssize_t)strlen(early));
    assert_int_equal(tls_read(&io, buf, sizeof buf), (long)strlen(early));
    fake_handshake_done = true;
    assert_int_equal(write(a.peer, "\r\n", 2), 2);
    assert_int_equal(tls_read(&io, buf, sizeof buf), 2);
    int before = nspans;
    tls_forget(&handle); /* unanswered: its span ends */
    assert_int_equal(nspans, before + 1);
    char v[16];
    const char *version = attr_str(&spans[nspans - 1], "tls.protocol.version", v, sizeof v);
    assert_non_null(version); /* none: asked once, in the early data */
    assert_string_equal(version, "1.3");
    close(a.prog);
    close(a.peer);
}

/* --------------------------------------- a session ended inside its write */

/* A stand-in client library over socket pairs (the handle is the fd's
 * address). Its write runs during_write first, once, as another thread
 * of the program would while this one is inside the library's write. */
static int fake_client_role(struct tls_io *io, bool sending)
{
    (void)io;
    (void)sending;
    return TS_ROLE_CLIENT;
}
static void (*during_write)(void);
static long fake_write(struct tls_io *io, void *buf, size_t len)
{
    void (*during)(void) = during_write;
    during_write = NULL;
    if (during)
        during();
    return write(*(int *)io->handle, buf, len);
}
static const struct tls_lib fake_client_tls = {fake_end, fake_client_role, fake_fd, fake_version,
                                               false};

static int handle_a, handle_b;
static const char request_a[] = "GET /a HTTP/1.1\r\nHost: shop.test\r\n\r\n";
static const char request_b[] = "GET /b HTTP/1.1\r\nHost: shop.test\r\n\r\n";
static long wrote_b;

static long client_write(int *handle, const char *request)
{
    struct tls_io io = {.handle = handle, .lib = &fake_client_tls, .call = fake_write};
    return tls_write(&io, request, strlen(request));
}

/* Session B begins and its request goes out. */
static void b_writes(void)
{
    wrote_b = client_write(&handle_b, request_b);
}

/* A's session ends at an SSL_free the shim took for its last reference
 * (another owner's, which it did not count: SSL_dup before the hook, an
 * SSL_up_ref before the hooks were bound), then B writes. */
static void a_released_then_b_writes(void)
{
    tls_release(&handle_a);
    b_writes();
}

/* A's session, with a reference counted, ends (SSL_shutdown or SSL_clear
 * on another thread, which OpenSSL forbids), then B writes. */
static void a_forgotten_then_b_writes(void)
{
    tls_forget(&handle_a);
    b_writes();
}

/* What a peer got: the request as written, the lines inserted once at
 * the end of its head. */
static void assert_request_arrived(int peer, const char *request)
{
    char got[1024];
    ssize_t n = recv(peer, got, sizeof got - 1, MSG_DONTWAIT);
    assert_true(n > 0);
    got[n] = '\0';
    size_t head = strlen(request) - 2; /* before the empty line */
    assert_true((size_t)n > strlen(request));
    assert_memory_equal(got, request, head);
    assert_int_equal(lines_named(got, "traceparent:"), 1);
    assert_ptr_equal(strstr(got, "\r\n\r\n") + 4, got + n); /* one head, no more */
}

/* Another thread ends A's session while A's write is inside the library,
 * and B's session begins and writes: A's write goes on with its record
 * and its rewritten bytes, and each peer gets its own request. The record
 * was given back at the end and reused by B's at once: A's write sent B's
 * bytes (its buffer was B's too) and returned 0. */
static void check_session_ended_inside_its_write(void (*during)(void), bool counted)
{
    int a[2], b[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, a), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, b), 0);
    handle_a = a[0];
    handle_b = b[0];
    if (counted)
        tls_retain(&handle_a);
    during_write = during;
    wrote_b = 0;
    assert_int_equal(client_write(&handle_a, request_a), (long)strlen(request_a));
    assert_null(during_write);
    assert_int_equal(wrote_b, (long)strlen(request_b));
    assert_request_arrived(a[1], request_a);
    assert_request_arrived(b[1], request_b);
    if (counted) { /* the reference lives on, in a fresh record */
        tls_release(&handle_a);
        assert_int_equal(client_write(&handle_a, request_a), (long)strlen(request_a));
        assert_request_arrived(a[1], request_a);
        tls_release(&handle_a);
    }
    tls_forget(&handle_b);
    for (int i = 0; i < 2; i++) {
        close(a[i]);
        close(b[i]);
    }
}

static void test_tls_session_released_inside_its_write(void **state)
{
    (void)state;
    check_session_ended_inside_its_write(a_released_then_b_writes, false);
}

static void test_tls_session_with_a_reference_forgotten_inside_its_write(void **state)
{
    (void)state;
    check_session_ended_inside_its_write(a_forgotten_then_b_writes, true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_server_span_from_params, setup),
        cmocka_unit_test_setup(test_server_answer_in_pieces, setup),
        cmocka_unit_test_setup(test_server_keeps_the_connection, setup),
        cmocka_unit_test_setup(test_client_adds_a_params_record, setup),
        cmocka_unit_test_setup(test_client_head_in_pieces, setup),
        cmocka_unit_test_setup(test_client_response_in_pieces, setup),
        cmocka_unit_test_setup(test_client_keeps_the_connection, setup),
        cmocka_unit_test_setup(test_server_padded_empty_params, setup),
        cmocka_unit_test_setup(test_client_record_left_out_past_what_is_read, setup),
        cmocka_unit_test_setup(test_client_body_by_sendfile, setup),
        cmocka_unit_test_setup(test_server_long_notice_before_output, setup),
        cmocka_unit_test_setup(test_client_long_notice_before_output, setup),
        cmocka_unit_test_setup(test_client_closed_mid_notice, setup),
        cmocka_unit_test_setup(test_client_parent_by_remote_port, setup),
        cmocka_unit_test_setup(test_tls_session_by_client_port, setup),
        cmocka_unit_test_setup(test_tls_version_after_early_data, setup),
        cmocka_unit_test_setup(test_tls_session_released_inside_its_write, setup),
        cmocka_unit_test_setup(test_tls_session_with_a_reference_forgotten_inside_its_write, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
