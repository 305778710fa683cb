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

/* Where a URL's parts are: its userinfo u[user..at) when it has one
 * (user == at: none), its query u[query..query_end) (after the '?';
 * query == 0: none). A request target ("/path?q") has no userinfo; nor
 * has a URL without a scheme, unless bare says it begins with its
 * authority (curl's and wget's "bob:pw@host/path", a proxy's
 * "bob:pw@host:3128"). */
struct url_parts {
    size_t user, at;
    size_t query, query_end;
};

static void url_parts(const char *u, size_t len, bool bare, struct url_parts *out)
{
    *out = (struct url_parts){0, 0, 0, 0};
    size_t auth = ts_url_scheme_len(u, len), path = 0;
    if (auth || bare) {
        /* Without a scheme the text may be any string curl will refuse
         * ("bob:p?w@proxy"): only a '/' ends what may be userinfo then,
         * and hiding a query's or fragment's '@' too is harmless. */
        bool slash_alone = bare && !auth;
        path = auth;
        while (path < len && u[path] != '/' && (slash_alone || (u[path] != '?' && u[path] != '#')))
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

static bool url_has_secret(const char *u, size_t len, bool bare)
{
    /* Most URLs have neither a query nor an '@': two quick scans. */
    if (!memchr(u, '?', len) && !memchr(u, '@', len))
        return false;
    struct url_parts pt;
    url_parts(u, len, bare, &pt);
    return pt.at > pt.user ||
           (pt.query && ts_url_query_has_secret(u + pt.query, pt.query_end - pt.query));
}

bool ts_url_has_secret(const char *u, size_t len)
{
    return url_has_secret(u, len, false);
}

/* u[0..len) with its secrets redacted, appended to w (cut where w ends). */
static void put_url(struct ts_cut_text *w, const char *u, size_t len, bool bare)
{
    struct url_parts pt;
    url_parts(u, len, bare, &pt);
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
    put_url(&w, u, len, false);
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

/* How an option's value carries a credential. */
enum cred {
    CRED_NONE,
    CRED_WHOLE,    /* all of it: "bob:pw", a token, a passphrase */
    CRED_USERINFO, /* a proxy's "[scheme://]user:pw@host[:port]": the userinfo */
    CRED_CERT,     /* curl's "certificate[:password]": after the first ':' */
};

/* The long options (curl's and wget's) whose value carries a credential,
 * as the next argument ("--user bob:pw") or after '=' ("--user=bob:pw");
 * wget's spellings with "passwd" are its own aliases. */
static const struct {
    const char *name;
    enum cred how;
} cred_options[] = {
    {"--user", CRED_WHOLE},         {"--proxy-user", CRED_WHOLE},
    {"--password", CRED_WHOLE},     {"--http-password", CRED_WHOLE},
    {"--http-passwd", CRED_WHOLE},  {"--proxy-password", CRED_WHOLE},
    {"--proxy-passwd", CRED_WHOLE}, {"--ftp-password", CRED_WHOLE},
    {"--ftp-passwd", CRED_WHOLE},   {"--oauth2-bearer", CRED_WHOLE},
    {"--pass", CRED_WHOLE},         {"--proxy-pass", CRED_WHOLE},
    {"--tlspassword", CRED_WHOLE},  {"--proxy-tlspassword", CRED_WHOLE},
    {"--proxy", CRED_USERINFO},     {"--preproxy", CRED_USERINFO},
    {"--cert", CRED_CERT},          {"--proxy-cert", CRED_CERT},
};

/* Does the option name given[0..n) stand for name: the whole name
 * (whole), or the start of it, in any case (curl's reading; wget's
 * getopt_long takes its own case alone, and refuses a value the safe
 * side hides all the same)? */
static bool option_names(const char *given, size_t n, const char *name, bool whole)
{
    size_t l = strlen(name);
    return (whole ? n == l : n < l) && ts_ascii_eq_lower_n(given, name, n);
}

/* a[0..len) a long option of cred_options: how its value carries the
 * credential; *name_len: the length of "--name" ("--name=" when the value
 * follows it in a, *attached then true). An abbreviation (curl and getopt_long take any start of a
 * name that names one option alone) counts as every credential option it starts, and hides as much
 * as the most of them does (a start of several the program refuses anyway; one that also starts an
 * option without a credential hides that one's value too: the safe side). */
static enum cred credential_long_option(const char *a, size_t len, size_t *name_len, bool *attached)
{
    if (len < 3 || a[0] != '-' || a[1] != '-')
        return CRED_NONE;
    const char *eq = memchr(a, '=', len);
    size_t n = eq ? (size_t)(eq - a) : len;
    enum cred how = CRED_NONE;
    for (int whole = 1; whole >= 0 && how == CRED_NONE; whole--)
        for (size_t i = 0; i < sizeof cred_options / sizeof *cred_options; i++)
            if (option_names(a, n, cred_options[i].name, whole) &&
                (how == CRED_NONE || cred_options[i].how == CRED_WHOLE))
                how = cred_options[i].how;
    if (how != CRED_NONE) {
        *attached = eq != NULL;
        *name_len = eq ? n + 1 : n;
    }
    return how;
}

/* curl's short options that take a value (curl 7.88's --help all): in a
 * group ("-sLu"), such a letter takes the rest of it as its value
 * ("-Lubob:pw"), or, last in it, the next argument. */
static bool curl_letter_takes_value(char c)
{
    return c && strchr("AbcCdDeEFHKmoPQrtTuUwxXyYz", c) != NULL;
}

static enum cred curl_letter_credential(char c)
{
    switch (c) {
    case 'u': /* --user */
    case 'U': /* --proxy-user */
        return CRED_WHOLE;
    case 'x': /* --proxy */
        return CRED_USERINFO;
    case 'E': /* --cert */
        return CRED_CERT;
    default:
        return CRED_NONE;
    }
}

/* A curl group of short options a[0..len) ("-sS", "-Lu", "-Lubob:pw",
 * "-HName: value"): *value_at is where the value of its one option that
 * takes a value begins in a (len: it is the next argument; 0: no such
 * option), and that option's credential, if any, is returned. */
static enum cred curl_short_group(const char *a, size_t len, size_t *value_at)
{
    *value_at = 0;
    if (len < 2 || a[0] != '-' || a[1] == '-')
        return CRED_NONE;
    for (size_t i = 1; i < len; i++)
        if (curl_letter_takes_value(a[i])) {
            *value_at = i + 1;
            return curl_letter_credential(a[i]);
        }
    return CRED_NONE;
}

/* Where a PKCS #11 URI ("pkcs11:token=t;object=k?pin-value=1234", RFC
 * 7512) begins in a[0..len), its scheme in any case; len: nowhere. */
static size_t pkcs11_start(const char *a, size_t len)
{
    for (size_t i = 0; i + 7 <= len; i++)
        if ((a[i] | 0x20) == 'p' && ts_ascii_eq_nocase(a + i, 7, "pkcs11:"))
            return i;
    return len;
}

/* u[0..len), a PKCS #11 URI, with the value of its pin-value attribute
 * (RFC 7512 section 2.3: the token's PIN itself) redacted, in its query
 * or, as some tools also take it, among its path's attributes. */
static void put_pkcs11(struct ts_cut_text *w, const char *u, size_t len)
{
    static const char pin[] = "pin-value=";
    size_t done = 0;
    for (size_t i = 7; i + sizeof pin - 1 <= len; i++) {
        char before = u[i - 1];
        if ((before != ':' && before != ';' && before != '?' && before != '&') ||
            !ts_ascii_eq_nocase(u + i, sizeof pin - 1, pin))
            continue;
        size_t value = i + sizeof pin - 1, end = value;
        while (end < len && u[end] != ';' && u[end] != '?' && u[end] != '&')
            end++;
        ts_cut_text_put(w, u + done, value - done);
        ts_cut_text_put(w, redacted, sizeof redacted - 1);
        done = i = end;
    }
    ts_cut_text_put(w, u + done, len - done);
}

/* v[0..len), an option's value, as how says it carries a credential. */
static void put_credential_value(struct ts_cut_text *w, enum cred how, const char *v, size_t len)
{
    if (how == CRED_WHOLE) {
        ts_cut_text_put(w, redacted, sizeof redacted - 1);
    } else if (how == CRED_USERINFO) {
        put_url(w, v, len, true);
    } else { /* CRED_CERT: a ':' not escaped ("\:") ends the file's name */
        if (len >= 7 && ts_ascii_eq_nocase(v, 7, "pkcs11:")) { /* no file: a token's key */
            put_pkcs11(w, v, len);
            return;
        }
        size_t colon = 0;
        for (size_t i = 0; i < len; i++) {
            if (v[i] == '\\' && i + 1 < len)
                i++;
            else if (v[i] == ':') {
                colon = i + 1;
                break;
            }
        }
        ts_cut_text_put(w, v, colon ? colon : len);
        if (colon)
            ts_cut_text_put(w, redacted, sizeof redacted - 1);
    }
}

/* The program args[0..len) (its first argument): curl or wget, whose
 * options name credentials, or another (an other's -u means something
 * else: python3 -u, unbuffered). */
enum program { PROGRAM_OTHER, PROGRAM_CURL, PROGRAM_WGET };

static enum program program_of(const char *args, size_t len)
{
    const char *end = memchr(args, '\0', len);
    size_t n = end ? (size_t)(end - args) : len;
    const char *slash = memrchr(args, '/', n);
    const char *base = slash ? slash + 1 : args;
    n -= (size_t)(base - args);
    if (n == 4 && memcmp(base, "curl", 4) == 0)
        return PROGRAM_CURL;
    if (n == 4 && memcmp(base, "wget", 4) == 0)
        return PROGRAM_WGET;
    return PROGRAM_OTHER;
}

/* An argument that is no option of curl's or wget's (or is an option's
 * value): a credential header's value, a URL's secrets (url: it is one
 * of curl's or wget's URLs, which may begin with their userinfo, no
 * scheme before it) and a PKCS #11 URI's PIN redacted. */
static void put_argument(struct ts_cut_text *w, const char *a, size_t len, bool url)
{
    size_t keep = credential_header(a, len), p11;
    if (keep) {
        ts_cut_text_put(w, a, keep);
        if (a[keep - 1] == ':') /* "Name:" then " REDACTED", as a header reads */
            ts_cut_text_put(w, " ", 1);
        ts_cut_text_put(w, redacted, sizeof redacted - 1);
    } else if ((p11 = pkcs11_start(a, len)) < len) {
        /* its attributes may hold an '@' (RFC 7512) or a "sig=": not a URL's */
        put_url(w, a, p11, url && p11 > 0);
        put_pkcs11(w, a + p11, len - p11);
    } else if (url_has_secret(a, len, url)) {
        put_url(w, a, len, url); /* (a cut there ends w too: nothing after it) */
    } else {
        ts_cut_text_put(w, a, len);
    }
}

size_t ts_args_redact(const char *args, size_t len, char *out, size_t cap)
{
    struct ts_cut_text w = {out, cap, 0};
    enum program program = program_of(args, len);
    bool value_next = false;    /* this argument is an option's value */
    enum cred next = CRED_NONE; /* and carries a credential so */
    for (size_t at = 0; at < len;) {
        const char *a = args + at;
        const char *nul = memchr(a, '\0', len - at);
        size_t alen = nul ? (size_t)(nul - a) : len - at;
        at += alen + 1;
        if (a != args)
            ts_cut_text_put(&w, " ", 1);
        bool value = value_next;
        enum cred how = next;
        value_next = false;
        next = CRED_NONE;
        size_t name_len, value_at;
        bool attached;
        if (value && how != CRED_NONE) {
            put_credential_value(&w, how, a, alen);
        } else if (value || a == args || program == PROGRAM_OTHER || credential_header(a, alen)) {
            put_argument(&w, a, alen, false);
        } else if ((how = credential_long_option(a, alen, &name_len, &attached))) {
            ts_cut_text_put(&w, a, name_len);
            if (attached)
                put_credential_value(&w, how, a + name_len, alen - name_len);
            if (!attached) {
                value_next = true;
                next = how;
            }
        } else if (program == PROGRAM_CURL &&
                   ((how = curl_short_group(a, alen, &value_at)) || value_at)) {
            ts_cut_text_put(&w, a, value_at);
            if (value_at == alen) { /* the next argument is the value */
                value_next = true;
                next = how;
            } else if (how) {
                put_credential_value(&w, how, a + value_at, alen - value_at);
            } else { /* another option's ("-sHName: value": a header) */
                put_argument(&w, a + value_at, alen - value_at, false);
            }
        } else { /* one of the program's URLs, or an option of no concern */
            put_argument(&w, a, alen, a[0] != '-');
        }
    }
    return w.len;
}
