/* fuzz_http1.c — libFuzzer target for the HTTP/1.x parser and body framing.
 *
 * Build: clang -std=gnu11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined
 *        -I. hooks/http1.c hooks/url_redact.c hooks/forwarded.c preload/url.c
 *        tests/fuzz/fuzz_http1.c -o fuzz_http1
 *
 * The input is parsed as a request and as a response head, also by the
 * parsers as they were before the block-at-a-time header lines
 * (tests/unit/http1_ref.h), which must agree in everything; whatever
 * follows a head is fed to its body framing whole and in pieces, and the
 * input is also fed raw to a chunked decoder, and to the redaction of a
 * command line and a URL (hooks/url_redact.c), and read as the values of
 * Forwarded and X-Forwarded-* headers (hooks/forwarded.c). Invariants are checked with abort(),
 * so a violation is a crash the fuzzer keeps. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hooks/forwarded.h"
#include "hooks/http1.h"
#include "hooks/url_redact.h"
#include "tests/fuzz/parse_checks.h"
#include "tests/unit/http1_ref.h"

#define FUZZ_MAX_H 32

#define CHECK(cond) PARSE_CHECK(cond) /* tests/fuzz/parse_checks.h */

/* The piece size used for split feeding, from the input's last byte so that
 * it varies without changing what the parsers see first. */
static size_t piece_size(const uint8_t *data, size_t size)
{
    return size ? (size_t)(data[size - 1] % 17) + 1 : 1;
}

static bool within(const char *p, size_t n, const char *buf, size_t len)
{
    return p >= buf && n <= len && (size_t)(p - buf) <= len - n;
}

static bool is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Headers of a successful parse lie inside the head, names are tokens and
 * values are trimmed and free of control characters other than HTAB. */
static void check_headers(const struct ts_http_header *h, size_t n, const char *buf, size_t len)
{
    for (size_t i = 0; i < n; i++) {
        CHECK(h[i].name_len > 0);
        CHECK(within(h[i].name, h[i].name_len, buf, len));
        CHECK(within(h[i].value, h[i].value_len, buf, len));
        for (size_t k = 0; k < h[i].name_len; k++)
            CHECK(is_tchar((unsigned char)h[i].name[k]));
        for (size_t k = 0; k < h[i].value_len; k++) {
            unsigned char c = (unsigned char)h[i].value[k];
            CHECK(c == '\t' || (c >= 0x20 && c != 0x7f));
        }
        if (h[i].value_len) {
            char first = h[i].value[0], last = h[i].value[h[i].value_len - 1];
            CHECK(first != ' ' && first != '\t' && last != ' ' && last != '\t');
        }
        CHECK(ts_http_find_header(h, n, "x-fuzz-no-such-header") == NULL);
    }
}

/* Insert a header at the inject offset: the new head must parse with it last. */
static void check_inject_request(const char *head, size_t hlen, size_t nh)
{
    static const char line[] = "X-A: 1\r\n";
    size_t ln = sizeof line - 1;
    size_t off = ts_http_inject_offset(head, hlen);
    CHECK(off < hlen);
    CHECK(head[off] == '\r' || head[off] == '\n');
    char *buf = malloc(hlen + ln);
    CHECK(buf != NULL);
    memcpy(buf, head, off);
    memcpy(buf + off, line, ln);
    memcpy(buf + off + ln, head + off, hlen - off);
    struct ts_http_header h[FUZZ_MAX_H + 1];
    struct ts_http_request req = {.headers = h, .num_headers = FUZZ_MAX_H + 1};
    int r = ts_http_parse_request(buf, hlen + ln, &req);
    CHECK(r == (int)(hlen + ln));
    CHECK(req.num_headers == nh + 1);
    CHECK(h[nh].name_len == 3 && memcmp(h[nh].name, "X-A", 3) == 0);
    CHECK(h[nh].value_len == 1 && h[nh].value[0] == '1');
    free(buf);
}

static void check_inject_response(const char *head, size_t hlen, size_t nh)
{
    static const char line[] = "X-A: 1\r\n";
    size_t ln = sizeof line - 1;
    size_t off = ts_http_inject_offset(head, hlen);
    CHECK(off < hlen);
    char *buf = malloc(hlen + ln);
    CHECK(buf != NULL);
    memcpy(buf, head, off);
    memcpy(buf + off, line, ln);
    memcpy(buf + off + ln, head + off, hlen - off);
    struct ts_http_header h[FUZZ_MAX_H + 1];
    struct ts_http_response res = {.headers = h, .num_headers = FUZZ_MAX_H + 1};
    int r = ts_http_parse_response(buf, hlen + ln, &res);
    CHECK(r == (int)(hlen + ln));
    CHECK(res.num_headers == nh + 1);
    CHECK(h[nh].name_len == 3 && memcmp(h[nh].name, "X-A", 3) == 0);
    free(buf);
}

static int parse_req_n(const char *buf, size_t len)
{
    struct ts_http_header h[FUZZ_MAX_H];
    struct ts_http_request req = {.headers = h, .num_headers = FUZZ_MAX_H};
    return ts_http_parse_request(buf, len, &req);
}

static int parse_res_n(const char *buf, size_t len)
{
    struct ts_http_header h[FUZZ_MAX_H];
    struct ts_http_response res = {.headers = h, .num_headers = FUZZ_MAX_H};
    return ts_http_parse_response(buf, len, &res);
}

static void fuzz_request(const char *buf, size_t len, size_t piece)
{
    struct ts_http_header h[FUZZ_MAX_H];
    struct ts_http_request req = {.headers = h, .num_headers = FUZZ_MAX_H};
    int r = ts_http_parse_request(buf, len, &req);
    CHECK(r == TS_HTTP_ERROR || r == TS_HTTP_INCOMPLETE || (r > 0 && (size_t)r <= len));
    check_prefixes(parse_req_n, buf, len, r, piece * 7919 + len / 3);

    bool looks = ts_http_looks_like_request(buf, len);
    if (looks && len)
        CHECK(ts_http_looks_like_request(buf, piece % len)); /* prefixes of a candidate are */
    if (r <= 0)
        return;

    size_t hlen = (size_t)r;
    CHECK(req.num_headers <= FUZZ_MAX_H);
    CHECK(req.method_len > 0 && within(req.method, req.method_len, buf, hlen));
    CHECK(req.target_len > 0 && within(req.target, req.target_len, buf, hlen));
    CHECK(req.minor_version >= 0 && req.minor_version <= 9);
    check_headers(h, req.num_headers, buf, hlen);
    /* a parsed request with a common method is one the sniffer holds for */
    static const char *const common[] = {"GET", "POST", "PUT", "HEAD", "DELETE", "PATCH"};
    for (size_t i = 0; i < sizeof common / sizeof *common; i++) {
        if (req.method == buf && req.method_len == strlen(common[i]) &&
            memcmp(req.method, common[i], req.method_len) == 0)
            CHECK(ts_http_looks_like_request(buf, len));
    }
    if (req.num_headers < FUZZ_MAX_H)
        check_inject_request(buf, hlen, req.num_headers);

    size_t plen;
    const char *path = ts_http_target_path(req.target, req.target_len, &plen);
    CHECK(path != NULL && plen <= req.target_len + 1);
    if (plen && path != req.target && !(plen == 1 && path[0] == '/'))
        CHECK(within(path, plen, req.target, req.target_len));

    struct ts_http_body body;
    /* The framing from the parser's notes is the framing from a walk
     * over every header (a copy without the notes). */
    struct ts_http_request walked = req;
    memset(&walked.noted, 0, sizeof walked.noted);
    struct ts_http_body wbody;
    int wr = ts_http_request_body(&walked, &wbody);
    CHECK(ts_http_request_body(&req, &body) == wr);
    CHECK(memcmp(&body, &wbody, sizeof body) == 0);
    if (wr == 0) {
        CHECK(body.kind == TS_BODY_NONE || body.kind == TS_BODY_LENGTH ||
              body.kind == TS_BODY_CHUNKED);
        check_body(&body, buf + hlen, len - hlen, piece);
    }
}

/* The framing-only parse (the one on the program's thread for every
 * response) against the full one, whose result is r and fields *full:
 * where that accepts a head or finds it incomplete, the same result,
 * status and framing; where it refuses one, a head within the buffer or
 * none, its kept headers inside it and named Content-Length or
 * Transfer-Encoding, and a framing whose body reads as any other. */
static void check_framing_parse(const char *buf, size_t len, size_t piece, int r,
                                const struct ts_http_response *full)
{
    struct ts_http_header h[FUZZ_MAX_H];
    struct ts_http_response q = {.headers = h, .num_headers = FUZZ_MAX_H};
    int rf = ts_http_parse_response_framing(buf, len, &q);
    if (r != TS_HTTP_ERROR)
        CHECK(rf == r);
    CHECK(rf == TS_HTTP_ERROR || rf == TS_HTTP_INCOMPLETE || (rf > 0 && (size_t)rf <= len));
    if (rf <= 0)
        return;
    size_t hlen = (size_t)rf;
    CHECK(q.num_headers <= FUZZ_MAX_H);
    for (size_t i = 0; i < q.num_headers; i++) {
        CHECK(within(h[i].name, h[i].name_len, buf, hlen));
        CHECK(h[i].value_len == 0 || within(h[i].value, h[i].value_len, buf, hlen));
        CHECK((h[i].name_len == 14 && strncasecmp(h[i].name, "content-length", 14) == 0) ||
              (h[i].name_len == 17 && strncasecmp(h[i].name, "transfer-encoding", 17) == 0));
    }
    static const char *const methods[] = {"GET", "HEAD", "CONNECT"};
    const char *m = methods[piece % 3];
    struct ts_http_body body;
    int br = ts_http_response_body(&q, m, strlen(m), &body);
    if (r > 0) {
        CHECK(q.status == full->status && q.minor_version == full->minor_version);
        struct ts_http_body fbody;
        CHECK(ts_http_response_body(full, m, strlen(m), &fbody) == br);
        CHECK(memcmp(&body, &fbody, sizeof body) == 0);
    }
    if (br == 0)
        check_body(&body, buf + hlen, len - hlen, piece);
}

static void fuzz_response(const char *buf, size_t len, size_t piece)
{
    struct ts_http_header h[FUZZ_MAX_H];
    struct ts_http_response res = {.headers = h, .num_headers = FUZZ_MAX_H};
    int r = ts_http_parse_response(buf, len, &res);
    CHECK(r == TS_HTTP_ERROR || r == TS_HTTP_INCOMPLETE || (r > 0 && (size_t)r <= len));
    check_prefixes(parse_res_n, buf, len, r, piece * 104729 + len / 2);

    bool looks = ts_http_looks_like_response(buf, len);
    if (looks && len)
        CHECK(ts_http_looks_like_response(buf, piece % len));
    check_framing_parse(buf, len, piece, r, &res);
    if (r <= 0)
        return;

    size_t hlen = (size_t)r;
    CHECK(res.status >= 100 && res.status <= 999);
    CHECK(res.reason_len == 0 || within(res.reason, res.reason_len, buf, hlen));
    check_headers(h, res.num_headers, buf, hlen);
    if (res.num_headers < FUZZ_MAX_H)
        check_inject_response(buf, hlen, res.num_headers);

    static const char *const methods[] = {"GET", "HEAD", "CONNECT"};
    const char *m = methods[piece % 3];
    struct ts_http_body body;
    struct ts_http_response walked = res;
    memset(&walked.noted, 0, sizeof walked.noted);
    struct ts_http_body wbody;
    int wr = ts_http_response_body(&walked, m, strlen(m), &wbody);
    CHECK(ts_http_response_body(&res, m, strlen(m), &body) == wr);
    CHECK(memcmp(&body, &wbody, sizeof body) == 0);
    if (wr == 0)
        check_body(&body, buf + hlen, len - hlen, piece);
}

/* Today's parsers and the reference (http1_ref.h) on the same bytes with
 * room for cap headers: the same result and header array (what an error
 * left in it too), the same fields and Content-Length / Transfer-Encoding
 * notes on success and notes that do not hold on failure; a request's
 * other notes are the first header of each name, and its path is the
 * target up to '?' or '#'. */
static void check_same_as_ref(const char *buf, size_t len, size_t cap)
{
    struct ts_http_header h[2][FUZZ_MAX_H];
    memset(h, 0xa5, sizeof h);
    struct ts_http_request q[2] = {{.headers = h[0], .num_headers = cap},
                                   {.headers = h[1], .num_headers = cap}};
    int r = ts_http_parse_request(buf, len, &q[0]);
    CHECK(r == ref_http_parse_request(buf, len, &q[1]));
    CHECK(memcmp(h[0], h[1], sizeof h[0]) == 0);
    CHECK(r > 0 || !ts_http_notes_hold(&q[0].noted, q[0].headers, q[0].num_headers));
    if (r > 0) {
        CHECK(q[0].method == q[1].method && q[0].method_len == q[1].method_len);
        CHECK(q[0].target == q[1].target && q[0].target_len == q[1].target_len);
        CHECK(q[0].minor_version == q[1].minor_version && q[0].num_headers == q[1].num_headers);
        const struct ts_http_noted *a = &q[0].noted, *b = &q[1].noted;
        CHECK(a->count == b->count && a->cl_first == b->cl_first && a->cl_count == b->cl_count &&
              a->te_first == b->te_first && a->te_count == b->te_count);
        static const char *const names[TS_HTTP_NOTES] = {
            [TS_HTTP_NOTE_HOST] = "host",
            [TS_HTTP_NOTE_USER_AGENT] = "user-agent",
            [TS_HTTP_NOTE_B3] = "b3",
            [TS_HTTP_NOTE_TRACEPARENT] = "traceparent",
            [TS_HTTP_NOTE_UBER_TRACE_ID] = "uber-trace-id",
            [TS_HTTP_NOTE_B3_TRACE_ID] = "x-b3-traceid",
            [TS_HTTP_NOTE_B3_SPAN_ID] = "x-b3-spanid",
            [TS_HTTP_NOTE_B3_PARENT_ID] = "x-b3-parentspanid",
            [TS_HTTP_NOTE_B3_SAMPLED] = "x-b3-sampled",
            [TS_HTTP_NOTE_B3_FLAGS] = "x-b3-flags",
            [TS_HTTP_NOTE_FORWARDED] = "forwarded",
            [TS_HTTP_NOTE_X_FORWARDED_FOR] = "x-forwarded-for",
            [TS_HTTP_NOTE_X_FORWARDED_PROTO] = "x-forwarded-proto",
            [TS_HTTP_NOTE_UPGRADE] = "upgrade",
        };
        for (int k = 0; k < TS_HTTP_NOTES; k++) {
            CHECK(names[k] != NULL); /* a note added to http1.h is added here */
            CHECK(TS_HTTP_NOTED(a, k) == ts_http_find_header(h[0], q[0].num_headers, names[k]));
        }
        size_t plen;
        const char *path = ts_http_target_path(q[0].target, q[0].target_len, &plen);
        if (q[0].target[0] == '/') {
            size_t want = 0;
            while (want < q[0].target_len && q[0].target[want] != '?' && q[0].target[want] != '#')
                want++;
            CHECK(path == q[0].target && plen == want);
        }
    }

    memset(h, 0xa5, sizeof h);
    struct ts_http_response s[2] = {{.headers = h[0], .num_headers = cap},
                                    {.headers = h[1], .num_headers = cap}};
    r = ts_http_parse_response(buf, len, &s[0]);
    CHECK(r == ref_http_parse_response(buf, len, &s[1]));
    CHECK(memcmp(h[0], h[1], sizeof h[0]) == 0);
    CHECK(r > 0 || !ts_http_notes_hold(&s[0].noted, s[0].headers, s[0].num_headers));
    if (r > 0) {
        CHECK(s[0].status == s[1].status && s[0].minor_version == s[1].minor_version);
        CHECK(s[0].reason == s[1].reason && s[0].reason_len == s[1].reason_len);
        CHECK(s[0].num_headers == s[1].num_headers);
        const struct ts_http_noted *a = &s[0].noted, *b = &s[1].noted;
        CHECK(a->count == b->count && a->cl_first == b->cl_first && a->cl_count == b->cl_count &&
              a->te_first == b->te_first && a->te_count == b->te_count && a->seen == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    size_t piece = piece_size(data, size);
    fuzz_request(buf, size, piece);
    fuzz_response(buf, size, piece);
    check_same_as_ref(buf, size, FUZZ_MAX_H);
    check_same_as_ref(buf, size, piece % 8);

    /* the raw input as a chunked body */
    struct ts_http_body chunked = {.kind = TS_BODY_CHUNKED};
    check_body(&chunked, buf, size, piece);
    /* and as a Content-Length body */
    struct ts_http_body length = {.kind = TS_BODY_LENGTH, .remaining = piece * 3};
    check_body(&length, buf, size, piece);

    /* the list helper on the raw bytes must not read past len */
    (void)ts_http_value_has_token(buf, size, "chunked");
    size_t plen;
    const char *p = ts_http_target_path(buf, size, &plen);
    CHECK(p != NULL);
    const char *auth;
    size_t alen;
    bool https;
    if (ts_http_target_authority(buf, size, &auth, &alen, &https))
        CHECK(within(auth, alen, buf, size));
    /* the raw bytes as a process's arguments and as a URL: never past the
     * room given */
    char redacted[1024];
    CHECK(ts_args_redact(buf, size, redacted, sizeof redacted) <= sizeof redacted);
    CHECK(ts_url_redact(buf, size, redacted, 64) <= 64);
    /* the raw bytes as a proxy's header values: a client is within them */
    const char *client;
    size_t clen;
    if (ts_forwarded_for(buf, size, &client, &clen))
        CHECK(within(client, clen, buf, size) && clen > 0);
    if (ts_x_forwarded_for(buf, size, &client, &clen))
        CHECK(within(client, clen, buf, size) && clen > 0);
    (void)ts_forwarded_proto(buf, size);
    (void)ts_x_forwarded_proto(buf, size);
    return 0;
}
