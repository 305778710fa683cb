/* parse_checks.h — what the fuzz targets of the head parsers (fuzz_http1.c,
 * fuzz_fcgi.c) check of any parser of heads and any body framing. Each
 * aborts on a violation. */
#ifndef TS_FUZZ_PARSE_CHECKS_H
#define TS_FUZZ_PARSE_CHECKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/types.h>

#include "hooks/http1.h"

#define PARSE_CHECK(cond)                                                                          \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

/* A head parser's prefixes: a complete head's proper prefixes are
 * INCOMPLETE; an INCOMPLETE input's prefixes too; an ERROR input's
 * prefixes are never complete heads. parse(buf, len) is the parser under
 * test; r what it returned for the whole input; cut picks one more
 * prefix. */
static void check_prefixes(int (*parse)(const char *, size_t), const char *buf, size_t len, int r,
                           size_t cut)
{
    if (r > 0) {
        PARSE_CHECK(parse(buf, (size_t)r - 1) == TS_HTTP_INCOMPLETE);
        PARSE_CHECK(parse(buf, cut % (size_t)r) == TS_HTTP_INCOMPLETE);
        PARSE_CHECK(parse(buf, (size_t)r) == r);
    } else if (r == TS_HTTP_INCOMPLETE) {
        if (len)
            PARSE_CHECK(parse(buf, cut % len) == TS_HTTP_INCOMPLETE);
    } else if (len) {
        PARSE_CHECK(parse(buf, cut % len) < 0);
    }
}

/* Feed buf to a copy of body whole and to another copy in pieces; both must
 * agree, never take more than given, and stop taking only at the end. */
static void check_body(const struct ts_http_body *body, const char *buf, size_t len, size_t piece)
{
    struct ts_http_body whole = *body;
    bool done = false;
    ssize_t k = ts_http_body_feed(&whole, buf, len, &done);
    PARSE_CHECK(k >= -1 && k <= (ssize_t)len);
    if (k >= 0 && (size_t)k < len)
        PARSE_CHECK(done);
    if (body->kind == TS_BODY_UNTIL_CLOSE || body->kind == TS_BODY_TUNNEL)
        PARSE_CHECK(k == (ssize_t)len && !done);
    if (body->kind == TS_BODY_NONE)
        PARSE_CHECK(k == 0 && done);

    struct ts_http_body split = *body;
    size_t pos = 0, total = 0;
    bool sdone = false, serr = false;
    while (pos < len) {
        size_t n = len - pos < piece ? len - pos : piece;
        bool d = false;
        ssize_t r = ts_http_body_feed(&split, buf + pos, n, &d);
        PARSE_CHECK(r >= -1 && r <= (ssize_t)n);
        if (r < 0) {
            serr = true;
            break;
        }
        if (sdone)
            PARSE_CHECK(r == 0 && d); /* after the end nothing more is taken */
        if ((size_t)r < n)
            PARSE_CHECK(d);
        if (!sdone)
            total += (size_t)r;
        sdone = sdone || d;
        pos += n;
    }
    if (k < 0) {
        PARSE_CHECK(serr);
    } else {
        PARSE_CHECK(!serr);
        PARSE_CHECK(total == (size_t)k);
        if (len > 0)
            PARSE_CHECK(sdone == done);
    }
}

#endif
