/* test_zipkin_json.c — the Zipkin API v2 JSON encoder: the exact text of
 * known spans (128- and 64-bit trace ids, IPv4 and IPv6 peers), the tag
 * rules (status, error, repeated keys), escaping of hostile strings and
 * damaged records (always valid JSON, never a read outside the span), and
 * bound() against real output.
 *
 * With TS_DUMP_DIR set, every case also writes its list as NAME.json and
 * the OTLP/JSON encoding of the same spans as NAME.expect.json, which
 * tests/integration/test_encoders_decode.py checks against the spec. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "preload/config.h"
#include "preload/hex.h"
#include "preload/process.h"
#include "preload/span.h"
#include "reporter/json_buf.h"
#include "reporter/otlp_json.h"
#include "reporter/resource.h"
#include "reporter/zipkin_json.h"
#include "span_fixtures.h"

/* ------------------------------------------------ the JSON checker */

/* The checker (span_fixtures.h) must reject what it is there to catch. */

/* The instrumentation scope's tags, the last of every span's (after the
 * opening quote of the first key, which the expectations hold). */
#define SCOPE_TAGS "otel.scope.name\":\"traceshim\",\"otel.scope.version\":\"" TS_VERSION "\""

/* The resource's tags under setup_process(), after a span's attributes:
 * every resource attribute but service.name (the serviceName), as text. */
#define RESOURCE_TAGS                                                                              \
    "\"process.pid\":\"1234\",\"process.executable.name\":\"python3\",\"host.name\":\"box\","      \
    "\"telemetry.sdk.name\":\"traceshim\",\"telemetry.sdk.language\":\"c\","                       \
    "\"telemetry.sdk.version\":\"" TS_VERSION "\""

static void test_checker_rejects_bad_json(void **state)
{
    const char *good[] = {
        "[{\"a\":[1,-2.5e3,true,null,\"x\\u00e9\\n\xc3\xa9\"],\"b\":{}},[],0]",
        "{\"a\":[1,-2.5e3,true,null,\"x\\u00e9\\n\xc3\xa9\"], \"b\":{}}",
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        assert_true(json_valid(good[i], strlen(good[i])));
    const char *bad[] = {
        "{\"a\":1,}",
        "[1 2]",
        "\"a\nb\"",
        "\"\\x\"",
        "{\"a\"}",
        "\"\xff\"",
        "\"\xc0\xaf\"",
        "\"\xed\xa0\x80\"",
        "[1]x",
        "\"abc",
        "01",
        "{1:2}",
        "[",
        "]",
        "-",
        "1.",
        "[,]",
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (json_valid(bad[i], strlen(bad[i])))
            fail_msg("accepted %s", bad[i]);
}

/* ------------------------------------------------------------- helpers */

/* The values of this span are repeated in test_encoders_decode.py
 * (ZIPKIN_KNOWN): change both together. */
static void known_span(struct ts_span *s)
{
    known_span_base(s);
    s->end_ns = 1700000000001500999ull;
    ts_span_attr_int(s, "http.response.status_code", 500);
    ts_span_attr_int(s, "server.port", 8080);
    ts_span_attr_cstr(s, "network.peer.address", "10.1.2.3");
    ts_span_attr_int(s, "network.peer.port", 51000);
    ts_span_attr_bool(s, "b", true);
    ts_span_attr_int(s, "neg", -7);
}

/* Encodes spans[0..n) as one list, checking bound() and that it is JSON. */
static void encode(struct ts_json_buf *out, const struct ts_span *s, size_t n)
{
    struct ts_json_buf spans;
    ts_json_buf_init(&spans);
    for (size_t i = 0; i < n; i++)
        ts_zipkin_json_span(&spans, &s[i], i == 0);
    ts_json_buf_init(out);
    ts_zipkin_json_finish(out, spans.data, spans.len, n);
    assert_false(out->failed);
    assert_true(ts_zipkin_json_bound(spans.len, n) >= out->len);
    if (!json_valid(out->data, out->len))
        fail_msg("not JSON: %.*s", (int)out->len, out->data);
    ts_json_buf_append_char(out, '\0'); /* for string asserts; not counted */
    out->len--;
    ts_json_buf_free(&spans);
}

/* With TS_DUMP_DIR set: the list as NAME.json and the same spans as
 * OTLP/JSON in NAME.expect.json, for the spec check. */
static void dump_case(const char *name, const struct ts_span *s, size_t n)
{
    if (!dump_dir())
        return;
    struct ts_json_buf b;
    encode(&b, s, n);
    dump_with_otlp_json(name, ".json", &b, s, n);
    ts_json_buf_free(&b);
}

/* The localEndpoint's address member for this host, as the encoder writes
 * it (the address comes from the machine the test runs on). */
static const char *local_ip_json(void)
{
    static char text[128];
    const char *ip = ts_resource_host_ip();
    snprintf(text, sizeof text, "\"%s\":\"%s\"", strchr(ip, ':') ? "ipv6" : "ipv4", ip);
    return text;
}

/* A span of this kind with ids and times, and nothing else. */
static void bare_span(struct ts_span *s, uint8_t kind)
{
    ts_span_clear(s);
    s->trace_id[0] = 1;
    s->span_id[7] = 1;
    s->kind = kind;
    s->start_ns = 1000000;
    s->end_ns = 3000000;
}

static void assert_has(const struct ts_json_buf *b, const char *needle)
{
    if (!strstr(b->data, needle))
        fail_msg("missing %s in %s", needle, b->data);
}

static void assert_lacks(const struct ts_json_buf *b, const char *needle)
{
    if (strstr(b->data, needle))
        fail_msg("unexpected %s in %s", needle, b->data);
}

/* ------------------------------------------------------------- the spans */

static void test_known_span_exact(void **state)
{
    struct ts_span s;
    known_span(&s);
    struct ts_json_buf b;
    encode(&b, &s, 1);
    char expect[2048];
    snprintf(expect, sizeof expect,
             "[{\"traceId\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"id\":\"00f067aa0ba902b7\","
             "\"parentId\":\"b7ad6b7169203331\",\"name\":\"GET /api\",\"kind\":\"SERVER\","
             "\"timestamp\":1700000000000000,\"duration\":1500,"
             "\"localEndpoint\":{\"serviceName\":\"frontend\",%s},"
             "\"remoteEndpoint\":{\"ipv4\":\"10.1.2.3\",\"port\":51000},"
             "\"tags\":{\"http.request.method\":\"GET\",\"http.response.status_code\":\"500\","
             "\"server.port\":\"8080\",\"network.peer.address\":\"10.1.2.3\","
             "\"network.peer.port\":\"51000\",\"b\":\"true\",\"neg\":\"-7\"," RESOURCE_TAGS
             ",\"otel.status_code\":\"ERROR\",\"error\":\"500\",\"" SCOPE_TAGS "}}]",
             local_ip_json());
    assert_string_equal(b.data, expect);
    dump_case("known", &s, 1);
    ts_json_buf_free(&b);
}

/* A 64-bit trace id stays 16 hex digits; a root has no parentId; a client
 * span's local endpoint has no port; no status, no status tags. */
static void test_short_trace_id_client_root(void **state)
{
    struct ts_span s;
    ts_span_clear(&s);
    hex_to_bytes("0000000000000000a3ce929d0e0e4736", s.trace_id, 16);
    hex_to_bytes("0102030405060708", s.span_id, 8);
    s.kind = TS_KIND_CLIENT;
    s.start_ns = 5000;
    s.end_ns = 5999; /* under 1 µs: rounded up to 1 */
    ts_span_set_name(&s, "POST", 4);
    ts_span_attr_int(&s, "server.port", 80);
    struct ts_json_buf b;
    encode(&b, &s, 1);
    char expect[1024];
    snprintf(expect, sizeof expect,
             "[{\"traceId\":\"a3ce929d0e0e4736\",\"id\":\"0102030405060708\",\"name\":\"POST\","
             "\"kind\":\"CLIENT\",\"timestamp\":5,\"duration\":1,"
             "\"localEndpoint\":{\"serviceName\":\"frontend\",%s},"
             "\"tags\":{\"server.port\":\"80\"," RESOURCE_TAGS ",\"" SCOPE_TAGS "}}]",
             local_ip_json());
    assert_string_equal(b.data, expect);
    dump_case("short_trace", &s, 1);
    ts_json_buf_free(&b);
    /* one non-zero byte in the high half: all 32 digits */
    s.trace_id[7] = 1;
    encode(&b, &s, 1);
    assert_has(&b, "\"traceId\":\"0000000000000001a3ce929d0e0e4736\"");
    ts_json_buf_free(&b);
}

/* s encoded alone has the remoteEndpoint expect (NULL: none). */
static void assert_remote_endpoint(const struct ts_span *s, const char *expect)
{
    struct ts_json_buf b;
    encode(&b, s, 1);
    if (expect)
        assert_has(&b, expect);
    else
        assert_lacks(&b, "remoteEndpoint");
    ts_json_buf_free(&b);
}

/* A client span names the server it called in remoteEndpoint.serviceName
 * (server.address), beside its address when that is an IP, alone when
 * not; a server span does not (its remote side is the caller). */
static void test_remote_service_name(void **state)
{
    (void)state;
    static const struct {
        uint8_t kind;
        const char *server, *peer; /* NULL: not set */
        const char *expect;        /* NULL: no remoteEndpoint */
    } cases[] = {
        {TS_KIND_CLIENT, "backend.test", "10.0.0.9",
         "\"remoteEndpoint\":{\"serviceName\":\"backend.test\",\"ipv4\":\"10.0.0.9\",\"port\":"
         "443}"},
        {TS_KIND_CLIENT, "back\"end", "not-an-ip",
         "\"remoteEndpoint\":{\"serviceName\":\"back\\\"end\"}"},
        {TS_KIND_CLIENT, "backend.test", NULL,
         "\"remoteEndpoint\":{\"serviceName\":\"backend.test\"}"},
        {TS_KIND_CLIENT, "", "10.0.0.9", "\"remoteEndpoint\":{\"ipv4\":\"10.0.0.9\",\"port\":443}"},
        {TS_KIND_SERVER, "front.test", "10.0.0.9",
         "\"remoteEndpoint\":{\"ipv4\":\"10.0.0.9\",\"port\":443}"},
        {TS_KIND_SERVER, "front.test", NULL, NULL},
        {TS_KIND_CLIENT, NULL, "nope", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct ts_span s;
        known_span_base(&s);
        s.kind = cases[i].kind;
        if (cases[i].server)
            ts_span_attr_cstr(&s, "server.address", cases[i].server);
        if (cases[i].peer)
            ts_span_attr_cstr(&s, "network.peer.address", cases[i].peer);
        ts_span_attr_int(&s, "network.peer.port", 443);
        assert_remote_endpoint(&s, cases[i].expect);
    }
}

static void test_remote_endpoint(void **state)
{
    static const struct {
        const char *addr;
        int64_t port;
        const char *expect; /* NULL: no remoteEndpoint */
    } cases[] = {
        {"2001:db8::1", 443, "\"remoteEndpoint\":{\"ipv6\":\"2001:db8::1\",\"port\":443}"},
        {"::ffff:10.0.0.1", 1, "\"remoteEndpoint\":{\"ipv6\":\"::ffff:10.0.0.1\",\"port\":1}"},
        {"127.0.0.1", 65535, "\"remoteEndpoint\":{\"ipv4\":\"127.0.0.1\",\"port\":65535}"},
        {"127.0.0.1", 0, "\"remoteEndpoint\":{\"ipv4\":\"127.0.0.1\"}"}, /* never port 0 */
        {"127.0.0.1", 65536, "\"remoteEndpoint\":{\"ipv4\":\"127.0.0.1\"}"},
        {"127.0.0.1", -5, "\"remoteEndpoint\":{\"ipv4\":\"127.0.0.1\"}"},
        {"example.com", 80, NULL}, /* not an address */
        {"10.1.2", 80, NULL},
        {"fe80::1%eth0", 80, NULL},
        {"1.2.3.4\"x", 80, NULL},
        {"", 80, NULL},
        {"1111:2222:3333:4444:5555:6666:777.888.999.000", 80, NULL},
        {"0000:0000:0000:0000:0000:0000:0000:0000:0000:0000", 80, NULL}, /* too long */
        /* the encoder keeps the address it accepted last: one of the same
         * length right after it is still looked at, and the family of a
         * repeat is the one it had */
        {"127.0.0.1", 80, "\"remoteEndpoint\":{\"ipv4\":\"127.0.0.1\",\"port\":80}"},
        {"127.0.0.x", 80, NULL},
        {"127.0.0.x", 80, NULL}, /* refused twice: only what is accepted is kept */
        {"1.2.3.4\"x", 80, NULL},
        {"1.2.3.4\"x", 80, NULL},
        {"127.0.0.2", 80, "\"remoteEndpoint\":{\"ipv4\":\"127.0.0.2\",\"port\":80}"},
        {"::1:2", 80, "\"remoteEndpoint\":{\"ipv6\":\"::1:2\",\"port\":80}"},
        {"::1:2", 81, "\"remoteEndpoint\":{\"ipv6\":\"::1:2\",\"port\":81}"},
        {"1.2.3", 80, NULL},
        {"::1:3", 80, "\"remoteEndpoint\":{\"ipv6\":\"::1:3\",\"port\":80}"},
        {"1.2.3.4", 80, "\"remoteEndpoint\":{\"ipv4\":\"1.2.3.4\",\"port\":80}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct ts_span s;
        known_span(&s);
        s.nattrs = 3; /* method, status code, server.port */
        ts_span_attr_cstr(&s, "network.peer.address", cases[i].addr);
        ts_span_attr_int(&s, "network.peer.port", cases[i].port);
        assert_remote_endpoint(&s, cases[i].expect);
        if (i == 0)
            dump_case("ipv6_peer", &s, 1);
    }
    /* an address, then a NUL and bytes that must not get through unescaped */
    struct ts_span z;
    known_span(&z);
    z.nattrs = 3;
    ts_span_attr_str(&z, "network.peer.address", "1.2.3.4\0\"}", 10);
    struct ts_json_buf zb;
    encode(&zb, &z, 1);
    assert_lacks(&zb, "remoteEndpoint");
    ts_json_buf_free(&zb);
    /* a peer address that is not a string */
    struct ts_span s;
    known_span(&s);
    s.nattrs = 3;
    ts_span_attr_int(&s, "network.peer.address", 1);
    struct ts_json_buf b;
    encode(&b, &s, 1);
    assert_lacks(&b, "remoteEndpoint");
    ts_json_buf_free(&b);
}

/* Status and error tags, and Zipkin's one value per tag key. */
static void test_status_and_error_tags(void **state)
{
    struct ts_span s[6];
    for (int i = 0; i < 6; i++) {
        ts_span_clear(&s[i]);
        s[i].trace_id[0] = 1;
        s[i].span_id[7] = (uint8_t)(i + 1);
        s[i].kind = TS_KIND_CLIENT;
        s[i].start_ns = 1000000;
        s[i].end_ns = 3000000;
    }
    s[0].status = TS_STATUS_ERROR; /* no cause known */
    s[1].status = TS_STATUS_ERROR;
    ts_span_attr_int(&s[1], "http.response.status_code", 503);
    s[2].status = TS_STATUS_ERROR; /* error.type wins over the status code */
    ts_span_attr_int(&s[2], "http.response.status_code", 503);
    ts_span_attr_cstr(&s[2], "error.type", "timeout");
    s[3].status = TS_STATUS_OK;
    ts_span_attr_int(&s[3], "http.response.status_code", 200);
    s[4].status = TS_STATUS_ERROR; /* attributes with those keys are kept, not doubled */
    ts_span_attr_cstr(&s[4], "error", "mine");
    ts_span_attr_cstr(&s[4], "otel.status_code", "custom");
    ts_span_attr_cstr(&s[4], "error", "second");
    s[5].status = 7; /* damaged: no status tags */
    s[5].kind = TS_KIND_INTERNAL;
    ts_span_attr_cstr(&s[5], "k", "first");
    ts_span_attr_int(&s[5], "k", 2);
    static const char *const tags[6] = {
        "\"tags\":{" RESOURCE_TAGS
        ",\"otel.status_code\":\"ERROR\",\"error\":\"true\",\"" SCOPE_TAGS "}}",
        "\"tags\":{\"http.response.status_code\":\"503\"," RESOURCE_TAGS
        ",\"otel.status_code\":\"ERROR\",\"error\":\"503\",\"" SCOPE_TAGS "}}",
        "\"tags\":{\"http.response.status_code\":\"503\",\"error.type\":\"timeout\"," RESOURCE_TAGS
        ",\"otel.status_code\":\"ERROR\",\"error\":\"timeout\",\"" SCOPE_TAGS "}}",
        "\"tags\":{\"http.response.status_code\":\"200\"," RESOURCE_TAGS
        ",\"otel.status_code\":\"OK\",\"" SCOPE_TAGS "}}",
        "\"tags\":{\"error\":\"mine\",\"otel.status_code\":\"custom\"," RESOURCE_TAGS
        ",\"" SCOPE_TAGS "}}",
        "\"tags\":{\"k\":\"first\"," RESOURCE_TAGS ",\"" SCOPE_TAGS "}}",
    };
    for (int i = 0; i < 6; i++) {
        struct ts_json_buf b;
        encode(&b, &s[i], 1);
        assert_has(&b, tags[i]);
        ts_json_buf_free(&b);
    }
    struct ts_json_buf b;
    encode(&b, &s[5], 1);
    assert_lacks(&b, "\"kind\""); /* only CLIENT and SERVER are named */
    ts_json_buf_free(&b);
    dump_case("status", s, 6);
}

/* A repeated key is found whatever its place and its address: keys of the
 * same text from writable buffers (a different address each, read as
 * text) and literals, twenty attributes, every repeat after the first of
 * its key left out; the keys the encoder looks for are found as the first
 * of their text. */
static void test_repeated_keys_by_text(void **state)
{
    static char copy_status[32], copy_a[8], copy_peer[32];
    strcpy(copy_status, "http.response.status_code");
    strcpy(copy_a, "a");
    strcpy(copy_peer, "network.peer.port");
    struct ts_span s;
    bare_span(&s, TS_KIND_SERVER);
    s.status = TS_STATUS_ERROR;
    ts_span_attr_cstr(&s, "a", "1");
    ts_span_attr_int(&s, copy_status, 500);
    for (int i = 0; i < 14; i++) {
        static const char *const filler[] = {"f0", "f1", "f2", "f3", "f4", "f5", "f6",
                                             "f7", "f8", "f9", "fa", "fb", "fc", "fd"};
        ts_span_attr_bool(&s, filler[i], i % 2);
    }
    ts_span_attr_cstr(&s, copy_a, "2");                     /* repeat of "a" */
    ts_span_attr_int(&s, "http.response.status_code", 404); /* repeat */
    ts_span_attr_cstr(&s, "network.peer.address", "10.0.0.1");
    ts_span_attr_int(&s, copy_peer, 1234);
    assert_int_equal(s.nattrs, 20);
    struct ts_json_buf b;
    encode(&b, &s, 1);
    assert_has(&b, "\"tags\":{\"a\":\"1\",\"http.response.status_code\":\"500\",\"f0\":\"false\"");
    assert_has(&b,
               "\"fd\":\"true\",\"network.peer.address\":\"10.0.0.1\","
               "\"network.peer.port\":\"1234\"," RESOURCE_TAGS ",\"otel.status_code\":\"ERROR\","
               "\"error\":\"500\",\"" SCOPE_TAGS "}}");
    assert_has(&b, "\"remoteEndpoint\":{\"ipv4\":\"10.0.0.1\",\"port\":1234}");
    assert_lacks(&b, "\"2\"");
    assert_lacks(&b, "404");
    ts_json_buf_free(&b);
}

/* The look at a span's keys is kept for the next span with the very same
 * keys and types: that span's own values are written (its peer's address
 * and port in remoteEndpoint, its status in "error"), and an attribute of
 * a type no encoder knows, where the span before had a known one, is
 * left out. Two spans of one list, apart in memory as the reporter's
 * are. */
static void test_a_kept_look_is_each_spans_own(void **state)
{
    (void)state;
    struct ts_span *s = calloc(3, sizeof *s);
    assert_non_null(s);
    for (int i = 0; i < 3; i++) {
        known_span(&s[i]);
        s[i].status = TS_STATUS_ERROR;
    }
    s[1].nattrs = 2; /* method, status code: then its own peer and port */
    s[1].attrs[1].num = 503;
    ts_span_attr_int(&s[1], "server.port", 8080);
    ts_span_attr_cstr(&s[1], "network.peer.address", "10.9.8.7");
    ts_span_attr_int(&s[1], "network.peer.port", 40000);
    ts_span_attr_bool(&s[1], "b", true);
    ts_span_attr_int(&s[1], "neg", -7);
    s[2].attrs[6].type = TS_ATTR_BOOL + 1; /* "neg", damaged */
    struct ts_json_buf b;
    encode(&b, s, 3);
    const char *second = strstr(b.data, "},{\"traceId\"");
    assert_non_null(second);
    const char *third = strstr(second + 1, "},{\"traceId\"");
    assert_non_null(third);
    assert_non_null(strstr(b.data, "\"remoteEndpoint\":{\"ipv4\":\"10.1.2.3\",\"port\":51000}"));
    const char *peer = strstr(second, "\"remoteEndpoint\":{\"ipv4\":\"10.9.8.7\",\"port\":40000}");
    assert_true(peer && peer < third);
    const char *error = strstr(second, "\"error\":\"503\"");
    assert_true(error && error < third);
    assert_non_null(strstr(third, "\"b\":\"true\","));
    assert_null(strstr(third, "\"neg\""));
    ts_json_buf_free(&b);
    free(s);
}

/* The resource's attributes are every span's tags (Zipkin has no
 * resource), after the span's own and in the resource's order, the ones
 * of OTEL_RESOURCE_ATTRIBUTES too; not service.name (the serviceName),
 * nor a key of the tags the encoder writes itself (a resource "error"
 * would mark every span failed). Keys are made valid UTF-8 (two that
 * then read the same: the first), values escaped; a new resource (after
 * fork) brings its own. */
static void test_resource_tags(void **state)
{
    set_process(1234, "python3", "frontend", "box",
                "deployment.environment=test,service.namespace=shop,host.name=node-7,team=a%2Cb,"
                "error=oops,otel.status_code=OK,otel.scope.name=x,otel.scope.version=y");
    struct ts_span s;
    known_span(&s);
    struct ts_json_buf b;
    encode(&b, &s, 1);
    assert_has(&b,
               "\"neg\":\"-7\",\"process.pid\":\"1234\",\"process.executable.name\":\"python3\","
               "\"host.name\":\"node-7\",\"telemetry.sdk.name\":\"traceshim\","
               "\"telemetry.sdk.language\":\"c\",\"telemetry.sdk.version\":\"" TS_VERSION "\","
               "\"deployment.environment\":\"test\",\"service.namespace\":\"shop\","
               "\"team\":\"a,b\",\"otel.status_code\":\"ERROR\",\"error\":\"500\",\"" SCOPE_TAGS
               "}}]");
    assert_lacks(&b, "oops");
    assert_lacks(&b, "\"service.name\"");
    dump_case("resource", &s, 1);
    ts_json_buf_free(&b);

    set_process(77, "python3", "frontend", "box", "k\xff=1,k\xfe=2,q=%22%0A");
    encode(&b, &s, 1);
    assert_has(&b, "\"process.pid\":\"77\",");
    assert_has(&b, "\"telemetry.sdk.version\":\"" TS_VERSION "\",\"k\xef\xbf\xbd\":\"1\","
                   "\"q\":\"\\\"\\u000a\",\"otel.status_code\"");
    assert_lacks(&b, "1234");
    assert_lacks(&b, "deployment.environment");
    ts_json_buf_free(&b);
}

/* A span attribute with a resource tag's key (the process span has
 * process.pid) is written once, with the span's value, wherever the tag
 * is among the resource's (first, middle, last); the other resource tags
 * follow in order, and the next span has them all again. */
static void test_span_attribute_beats_resource_tag(void **state)
{
    static char copy_host[16]; /* not a literal: found by its text */
    strcpy(copy_host, "host.name");
    struct ts_span s;
    bare_span(&s, TS_KIND_INTERNAL);
    ts_span_attr_int(&s, "process.pid", 99);
    ts_span_attr_cstr(&s, copy_host, "mine");
    ts_span_attr_cstr(&s, "telemetry.sdk.version", "span's");
    struct ts_json_buf b;
    encode(&b, &s, 1);
    assert_has(&b,
               "\"tags\":{\"process.pid\":\"99\",\"host.name\":\"mine\","
               "\"telemetry.sdk.version\":\"span's\",\"process.executable.name\":\"python3\","
               "\"telemetry.sdk.name\":\"traceshim\",\"telemetry.sdk.language\":\"c\",\"" SCOPE_TAGS
               "}}]");
    assert_lacks(&b, "1234");
    assert_lacks(&b, "\"box\"");
    ts_json_buf_free(&b);
    struct ts_span next;
    known_span(&next);
    encode(&b, &next, 1);
    assert_has(&b, "\"neg\":\"-7\"," RESOURCE_TAGS ",\"otel.status_code\"");
    ts_json_buf_free(&b);
}

/* Attributes left out (dropped_attrs): Zipkin has no field for the count,
 * so it is the tag otel.dropped_attributes_count (the OpenTelemetry
 * mapping to non-OTLP formats), a string as every Zipkin tag, after the
 * status tags and before the scope's; none when nothing was left out. A
 * span attribute of that key is kept, not doubled, and a resource
 * attribute of that key is no tag (it would count for every span). */
static void test_dropped_attributes_count(void **state)
{
    struct ts_span s[4];
    for (int i = 0; i < 4; i++) {
        known_span(&s[i]);
        s[i].span_id[0] = (uint8_t)(i + 1);
    }
    s[0].dropped_attrs = 3;
    s[1].dropped_attrs = 255; /* the most a span counts */
    s[2].status = TS_STATUS_UNSET;
    s[2].dropped_attrs = 1; /* the first tag after the attributes and resource */
    /* s[3]: nothing left out */
    static const char *const tags[4] = {
        RESOURCE_TAGS ",\"otel.status_code\":\"ERROR\",\"error\":\"500\","
                      "\"otel.dropped_attributes_count\":\"3\",\"" SCOPE_TAGS "}}",
        RESOURCE_TAGS ",\"otel.status_code\":\"ERROR\",\"error\":\"500\","
                      "\"otel.dropped_attributes_count\":\"255\",\"" SCOPE_TAGS "}}",
        RESOURCE_TAGS ",\"otel.dropped_attributes_count\":\"1\",\"" SCOPE_TAGS "}}",
        RESOURCE_TAGS ",\"otel.status_code\":\"ERROR\",\"error\":\"500\",\"" SCOPE_TAGS "}}",
    };
    struct ts_json_buf b;
    for (int i = 0; i < 4; i++) {
        encode(&b, &s[i], 1);
        assert_has(&b, tags[i]);
        ts_json_buf_free(&b);
    }
    encode(&b, &s[3], 1);
    assert_lacks(&b, "dropped");
    ts_json_buf_free(&b);
    dump_case("dropped", s, 4);

    /* an attribute of that key: its value, once */
    struct ts_span own;
    bare_span(&own, TS_KIND_SERVER);
    ts_span_attr_cstr(&own, "otel.dropped_attributes_count", "mine");
    own.dropped_attrs = 2;
    encode(&b, &own, 1);
    assert_has(&b, "\"tags\":{\"otel.dropped_attributes_count\":\"mine\"," RESOURCE_TAGS
                   ",\"" SCOPE_TAGS "}}");
    assert_lacks(&b, "\"2\"");
    ts_json_buf_free(&b);

    /* a resource attribute of that key: no tag, with a count or without */
    set_process(1234, "python3", "frontend", "box", "otel.dropped_attributes_count=9,team=t");
    encode(&b, &s[3], 1);
    assert_has(&b, "\"team\":\"t\",\"otel.status_code\"");
    assert_lacks(&b, "dropped");
    ts_json_buf_free(&b);
    encode(&b, &s[0], 1);
    assert_has(&b, "\"team\":\"t\",\"otel.status_code\":\"ERROR\",\"error\":\"500\","
                   "\"otel.dropped_attributes_count\":\"3\",\"" SCOPE_TAGS "}}");
    assert_lacks(&b, "\"9\"");
    ts_json_buf_free(&b);
}

/* B3's debug flag: Zipkin's "debug":true, after the tags, on a debug span
 * only. */
static void test_debug_flag(void **state)
{
    struct ts_span s[2];
    known_span(&s[0]);
    known_span(&s[1]);
    s[0].sampled = TS_SPAN_SAMPLED | TS_SPAN_DEBUG;
    s[1].sampled = TS_SPAN_SAMPLED;
    s[1].span_id[0] = 1;
    struct ts_json_buf b;
    encode(&b, s, 2);
    assert_has(&b, "\"" SCOPE_TAGS "},\"debug\":true},{\"traceId\"");
    const char *end = "\"" SCOPE_TAGS "}}]";
    assert_string_equal(b.data + b.len - strlen(end), end);
    const char *debug = strstr(b.data, "\"debug\"");
    assert_non_null(debug);
    assert_null(strstr(debug + 1, "\"debug\"")); /* the first span's only */
    dump_case("debug", s, 2);
    ts_json_buf_free(&b);
}

static void test_hostile_strings_escaped(void **state)
{
    struct ts_span s;
    known_span(&s);
    ts_span_clear(&s);
    s.trace_id[15] = 9;
    s.span_id[0] = 9;
    ts_span_set_name(&s, "GET /\"}]\n\x00\xff\xc3", 12);
    ts_span_attr_str(&s, "url.path", "\\\"\x1b[31m\xed\xbf\xbf", 10);
    ts_span_attr_cstr(&s, "k\"ey\\", "v\x7f");
    ts_span_attr_cstr(&s, "network.peer.address", "\"},\"x\":{\"");
    strcpy(ts_proc.service_name, "sv\"c\n\xfe");
    ts_resource_reset();
    struct ts_json_buf b;
    encode(&b, &s, 1);
    assert_has(&b, "\"name\":\"GET /\\\"}]\\u000a\\u0000\xef\xbf\xbd\xef\xbf\xbd\"");
    assert_has(&b, "\"url.path\":\"\\\\\\\"\\u001b[31m\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
    assert_has(&b, "\"k\\\"ey\\\\\":\"v\x7f\"");
    assert_has(&b, "\"serviceName\":\"sv\\\"c\\u000a\xef\xbf\xbd\"");
    assert_lacks(&b, "remoteEndpoint");
    assert_null(memchr(b.data, '\n', b.len));
    dump_case("hostile", &s, 1);
    ts_json_buf_free(&b);
}

/* Offsets past the buffer, a count past the array over keyless entries,
 * unknown types, an end before the start: clamped, skipped, in bounds. */
static void test_damaged_record(void **state)
{
    struct ts_span s;
    known_span(&s);
    damage_offsets(&s);
    s.attrs[1].type = 99;                /* unknown: not a tag, not the error cause */
    s.attrs[3].off = TS_SPAN_STRBUF - 1; /* the peer address: one byte left */
    memset(&s.attrs[7], 0, sizeof s.attrs - 7 * sizeof s.attrs[0]);
    s.nattrs = 255;
    s.end_ns = 5;
    struct ts_json_buf b;
    encode(&b, &s, 1);
    assert_has(&b, "\"name\":\"ok\"");
    assert_has(&b, "\"duration\":1,");
    assert_has(&b, "\"http.request.method\":\"\"");
    assert_lacks(&b, "http.response.status_code");
    assert_lacks(&b, "remoteEndpoint");
    assert_has(&b, "\"error\":\"true\",\"" SCOPE_TAGS "}");
    dump_case("damaged", &s, 1);
    ts_json_buf_free(&b);
}

/* Random bytes wherever a span carries bytes: always valid JSON. */
static void test_random_bytes_always_valid(void **state)
{
    srand(777);
    struct ts_span s[3];
    static const char *const keys[] = {"error.type", "network.peer.address", "a", "error"};
    for (int iter = 0; iter < 2000; iter++) {
        size_t n = (size_t)iter % 4;
        for (size_t k = 0; k < n; k++) {
            ts_span_clear(&s[k]);
            char bytes[300];
            size_t len = (size_t)rand() % sizeof bytes;
            for (size_t i = 0; i < len; i++)
                bytes[i] = (char)(rand() % 3 == 0 ? 0x80 + rand() % 0x80 : rand() % 256);
            ts_span_set_name(&s[k], bytes, len / 3);
            ts_span_attr_str(&s[k], keys[rand() % 4], bytes + len / 3, len / 3);
            ts_span_attr_str(&s[k], keys[rand() % 4], bytes + 2 * (len / 3), len - 2 * (len / 3));
            ts_span_attr_int(&s[k], keys[rand() % 4], (int64_t)rand() - RAND_MAX / 2);
            s[k].kind = (uint8_t)(rand() % 4);
            s[k].status = (uint8_t)(rand() % 4);
            s[k].trace_id[rand() % 16] = (uint8_t)rand();
            s[k].start_ns = (uint64_t)rand() << 30;
            s[k].end_ns = (uint64_t)rand() << 30;
        }
        struct ts_json_buf b;
        encode(&b, s, n); /* checks the JSON */
        ts_json_buf_free(&b);
    }
}

static void test_list_and_bound(void **state)
{
    static struct ts_span s[300];
    for (size_t i = 0; i < 300; i++) {
        known_span(&s[i]);
        s[i].span_id[0] = (uint8_t)(i + 1);
    }
    struct ts_json_buf b;
    encode(&b, s, 0);
    assert_string_equal(b.data, "[]");
    ts_json_buf_free(&b);
    encode(&b, s, 1);
    assert_int_equal(b.data[0], '[');
    assert_int_equal(b.data[1], '{');
    ts_json_buf_free(&b);
    encode(&b, s, 300);
    size_t objects = 0;
    for (const char *p = b.data; (p = strstr(p, "{\"traceId\"")); p++)
        objects++;
    assert_int_equal(objects, 300);
    assert_non_null(strstr(b.data, "}},{\"traceId\""));
    assert_int_equal(ts_zipkin_json_bound(b.len - 2, 300), b.len);
    ts_json_buf_free(&b);
    dump_case("empty", s, 0);
    dump_case("many", s, 300);
}

static void test_encoder_interface(void **state)
{
    assert_string_equal(ts_encoder_zipkin_json.name, "zipkin-json");
    assert_string_equal(ts_encoder_zipkin_json.content_type, "application/json");
    assert_ptr_equal(ts_encoder_zipkin_json.span, ts_zipkin_json_span);
    assert_ptr_equal(ts_encoder_zipkin_json.bound, ts_zipkin_json_bound);
    assert_ptr_equal(ts_encoder_zipkin_json.finish, ts_zipkin_json_finish);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checker_rejects_bad_json),
        cmocka_unit_test_setup(test_known_span_exact, setup),
        cmocka_unit_test_setup(test_short_trace_id_client_root, setup),
        cmocka_unit_test_setup(test_remote_endpoint, setup),
        cmocka_unit_test_setup(test_remote_service_name, setup),
        cmocka_unit_test_setup(test_status_and_error_tags, setup),
        cmocka_unit_test_setup(test_repeated_keys_by_text, setup),
        cmocka_unit_test_setup(test_a_kept_look_is_each_spans_own, setup),
        cmocka_unit_test_setup(test_resource_tags, setup),
        cmocka_unit_test_setup(test_span_attribute_beats_resource_tag, setup),
        cmocka_unit_test_setup(test_dropped_attributes_count, setup),
        cmocka_unit_test_setup(test_debug_flag, setup),
        cmocka_unit_test_setup(test_hostile_strings_escaped, setup),
        cmocka_unit_test_setup(test_damaged_record, setup),
        cmocka_unit_test_setup(test_random_bytes_always_valid, setup),
        cmocka_unit_test_setup(test_list_and_bound, setup),
        cmocka_unit_test(test_encoder_interface),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
