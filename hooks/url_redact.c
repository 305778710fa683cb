/* url_redact.c — URL attributes without credentials (see url_redact.h). */
#include "url_redact.h"

#include <string.h>

#include "../preload/ascii.h"
#include "../preload/cut_text.h"
#include "../preload/url.h"

static const char redacted[] = "REDACTED";

/* Is name one of the query parameters whose values sign a URL, as the
 * conventions list them (case-sensitive)? */
static bool secret_name(const char *name, size_t len)
{
    switch (len) {
    case 3:
        return memcmp(name, "sig", 3) == 0;
    case 9:
        return memcmp(name, "Signature", 9) == 0;
    case 14:
        return memcmp(name, "AWSAccessKeyId", 14) == 0;
    case 16:
        return memcmp(name, "X-Goog-Signature", 16) == 0;
    default:
        return false;
    }
}

/* One "name=value" (or "name") of a query. */
struct param {
    const char *p;
    size_t len;  /* all of it */
    size_t nlen; /* the name's: up to its '=', or len */
    bool secret; /* a value to redact */
};

/* The parameter at q[*at..len), *at moved past it and its '&'; false when
 * the query is done. */
static bool next_param(const char *q, size_t len, size_t *at, struct param *out)
{
    if (*at > len)
        return false;
    const char *p = q + *at;
    const char *amp = memchr(p, '&', len - *at);
    size_t plen = amp ? (size_t)(amp - p) : len - *at;
    const char *eq = memchr(p, '=', plen);
    size_t nlen = eq ? (size_t)(eq - p) : plen;
    *out = (struct param){p, plen, nlen, eq && secret_name(p, nlen)};
    *at += plen + 1;
    return true;
}

bool ts_url_query_has_secret(const char *q, size_t len)
{
    struct param prm;
    for (size_t at = 0; next_param(q, len, &at, &prm);)
        if (prm.secret)
            return true;
    return false;
}

static void put_query(struct ts_cut_text *w, const char *q, size_t len)
{
    struct param prm;
    for (size_t at = 0; next_param(q, len, &at, &prm);) {
        if (prm.p != q)
            ts_cut_text_put(w, "&", 1);
        if (prm.secret) {
            ts_cut_text_put(w, prm.p, prm.nlen + 1); /* the name and its '=' */
            ts_cut_text_put(w, redacted, sizeof redacted - 1);
        } else {
            ts_cut_text_put(w, prm.p, prm.len);
        }
    }
}

size_t ts_url_query_redact(const char *q, size_t len, char *out, size_t cap)
{
    struct ts_cut_text w = {out, cap, 0};
    put_query(&w, q, len);
    return w.len;
}

/* Where an absolute URL's parts are: its userinfo u[user..at) when it has
 * one (user == at: none), its query u[query..query_end) (after the '?';
 * query == 0: none). A request target ("/path?q") has no userinfo. */
struct url_parts {
    size_t user, at;
    size_t query, query_end;
};

static void url_parts(const char *u, size_t len, struct url_parts *out)
{
    *out = (struct url_parts){0, 0, 0, 0};
    size_t auth = ts_url_scheme_len(u, len), path = 0;
    if (auth) {
        path = auth;
        while (path < len && u[path] != '/' && u[path] != '?' && u[path] != '#')
            path++;
        const char *at = memrchr(u + auth, '@', path - auth);
        if (at) {
            out->user = auth;
            out->at = (size_t)(at - u);
        }
    }
    const char *qm = memchr(u + path, '?', len - path);
    const char *frag = memchr(u + path, '#', len - path);
    if (qm && (!frag || qm < frag)) {
        out->query = (size_t)(qm - u) + 1;
        out->query_end = frag ? (size_t)(frag - u) : len;
    }
}

bool ts_url_has_secret(const char *u, size_t len)
{
    /* Most URLs have neither a query nor an '@': two quick scans. */
    if (!memchr(u, '?', len) && !memchr(u, '@', len))
        return false;
    struct url_parts pt;
    url_parts(u, len, &pt);
    return pt.at > pt.user ||
           (pt.query && ts_url_query_has_secret(u + pt.query, pt.query_end - pt.query));
}

/* u[0..len) with its secrets redacted, appended to w (cut where w ends). */
static void put_url(struct ts_cut_text *w, const char *u, size_t len)
{
    struct url_parts pt;
    url_parts(u, len, &pt);
    size_t done = 0;
    if (pt.at > pt.user) {
        ts_cut_text_put(w, u, pt.user);
        bool password = memchr(u + pt.user, ':', pt.at - pt.user) != NULL;
        ts_cut_text_put(w, password ? "REDACTED:REDACTED" : "REDACTED", password ? 17 : 8);
        done = pt.at;
    }
    if (pt.query) {
        ts_cut_text_put(w, u + done, pt.query - done);
        put_query(w, u + pt.query, pt.query_end - pt.query);
        done = pt.query_end;
    }
    ts_cut_text_put(w, u + done, len - done);
}

size_t ts_url_redact(const char *u, size_t len, char *out, size_t cap)
{
    struct ts_cut_text w = {out, cap, 0};
    put_url(&w, u, len);
    return w.len;
}

/* An argument "Name: value" whose header carries a credential, also as
 * curl's "-HName: value" and wget's "--header=Name: value": the length up
 * to the name's ':', else 0. */
static size_t credential_header(const char *a, size_t len)
{
    static const char *const names[] = {"authorization", "proxy-authorization", "cookie",
                                        "x-api-key"};
    size_t from = 0;
    if (len > 2 && memcmp(a, "-H", 2) == 0)
        from = 2;
    else if (len > 9 && memcmp(a, "--header=", 9) == 0)
        from = 9;
    const char *colon = memchr(a + from, ':', len - from);
    if (!colon)
        return 0;
    size_t nlen = (size_t)(colon - a) - from;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (ts_ascii_eq_nocase(a + from, nlen, names[i]))
            return from + nlen + 1;
    return 0;
}

/* An option whose value is the next argument and a credential. */
static bool credential_option(const char *a, size_t len)
{
    static const char *const names[] = {"-u", "--user", "--proxy-user", "--password",
                                        "--http-password"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (len == strlen(names[i]) && memcmp(a, names[i], len) == 0)
            return true;
    return false;
}

/* "--password=x" and its kind, curl's "-ubob:pw": the length of what
 * names the option, else 0. */
static size_t credential_assignment(const char *a, size_t len)
{
    if (len > 2 && memcmp(a, "-u", 2) == 0)
        return 2;
    static const char *const names[] = {
        "--password=", "--http-password=", "--proxy-password=", "--user=", "--proxy-user="};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        size_t n = strlen(names[i]);
        if (len >= n && memcmp(a, names[i], n) == 0)
            return n;
    }
    return 0;
}

/* Is the program args[0..len) (its first argument) curl or wget, whose
 * options name credentials? Another program's -u means something else
 * (python3 -u: unbuffered). */
static bool curl_or_wget(const char *args, size_t len)
{
    const char *end = memchr(args, '\0', len);
    size_t n = end ? (size_t)(end - args) : len;
    const char *slash = memrchr(args, '/', n);
    const char *base = slash ? slash + 1 : args;
    n -= (size_t)(base - args);
    return n == 4 && (memcmp(base, "curl", 4) == 0 || memcmp(base, "wget", 4) == 0);
}

size_t ts_args_redact(const char *args, size_t len, char *out, size_t cap)
{
    struct ts_cut_text w = {out, cap, 0};
    bool value_next = false;
    bool options = curl_or_wget(args, len);
    for (size_t at = 0; at < len;) {
        const char *a = args + at;
        const char *nul = memchr(a, '\0', len - at);
        size_t alen = nul ? (size_t)(nul - a) : len - at;
        at += alen + 1;
        if (a != args)
            ts_cut_text_put(&w, " ", 1);
        size_t keep;
        if (value_next) {
            ts_cut_text_put(&w, redacted, sizeof redacted - 1);
        } else if ((keep = credential_header(a, alen)) ||
                   (options && (keep = credential_assignment(a, alen)))) {
            ts_cut_text_put(&w, a, keep);
            if (a[keep - 1] == ':') /* "Name:" then " REDACTED", as a header reads */
                ts_cut_text_put(&w, " ", 1);
            ts_cut_text_put(&w, redacted, sizeof redacted - 1);
        } else if (ts_url_has_secret(a, alen)) {
            put_url(&w, a, alen); /* (a cut there ends w too: nothing after it) */
        } else {
            ts_cut_text_put(&w, a, alen);
        }
        value_next = options && !value_next && credential_option(a, alen);
    }
    return w.len;
}
