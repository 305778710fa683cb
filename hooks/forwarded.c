/* forwarded.c — see forwarded.h.
 *
 * Only what names an address is taken: a value a client wrote to make
 * itself look like another can do no more than a real proxy's would, but
 * text that is no address (a name, a script, a path) never becomes
 * client.address. */
#include "forwarded.h"

#include <arpa/inet.h>
#include <string.h>

#include "../preload/ascii.h"

/* Is c a blank of a header value (RFC 9110: OWS)? */
static bool blank(char c)
{
    return c == ' ' || c == '\t';
}

/* s[0..*n) without blanks around it. */
static const char *trimmed(const char *s, size_t *n)
{
    while (*n && blank(*s))
        s++, (*n)--;
    while (*n && blank(s[*n - 1]))
        (*n)--;
    return s;
}

/* Is s[0..n) an IPv4 or IPv6 address (as text, nothing around it)? */
static bool is_address(const char *s, size_t n)
{
    char text[64];
    unsigned char bin[16];
    if (n == 0 || n >= sizeof text || memchr(s, '\0', n))
        return false;
    memcpy(text, s, n);
    text[n] = '\0';
    return inet_pton(memchr(text, ':', n) ? AF_INET6 : AF_INET, text, bin) == 1;
}

/* The address in a node s[0..n) ("192.0.2.1", "192.0.2.1:80",
 * "[2001:db8::1]", "[2001:db8::1]:80", "2001:db8::1"): its port and
 * brackets taken off. */
static bool node_address(const char *s, size_t n, const char **addr, size_t *len)
{
    if (n && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (!close)
            return false;
        size_t after = n - (size_t)(close + 1 - s);
        if (after && close[1] != ':')
            return false;
        s++;
        n = (size_t)(close - s);
    } else {
        const char *colon = memchr(s, ':', n);
        /* one colon: IPv4 with a port; more: an IPv6 address alone */
        if (colon && !memchr(colon + 1, ':', n - (size_t)(colon + 1 - s)))
            n = (size_t)(colon - s);
    }
    if (!is_address(s, n))
        return false;
    *addr = s;
    *len = n;
    return true;
}

/* Where the first element of a list v[0..n) begins: empty ones before it
 * are none (RFC 9110 §5.6.1.2: a recipient ignores them). */
static size_t first_element(const char *v, size_t n)
{
    size_t i = 0;
    while (i < n && (blank(v[i]) || v[i] == ','))
        i++;
    return i;
}

/* The first element of a Forwarded value (up to its first ',' outside a
 * quoted string), and in it the value of parameter name (its quotes
 * taken off: a quoted value holds no escapes that an address or a scheme
 * could need). */
static bool forwarded_param(const char *v, size_t n, const char *name, const char **val,
                            size_t *val_len)
{
    size_t name_len = strlen(name);
    size_t i = first_element(v, n);
    while (i < n) {
        /* one pair: token "=" (token / quoted-string) */
        while (i < n && (blank(v[i]) || v[i] == ';'))
            i++;
        size_t key = i;
        while (i < n && v[i] != '=' && v[i] != ';' && v[i] != ',')
            i++;
        size_t key_len = i;
        while (key_len > key && blank(v[key_len - 1]))
            key_len--;
        if (i >= n || v[i] != '=')
            return false; /* the element ends, or a pair without a value */
        i++;
        while (i < n && blank(v[i])) /* not RFC 7239's, but written so */
            i++;
        size_t start = i, end;
        if (i < n && v[i] == '"') {
            start = ++i;
            while (i < n && v[i] != '"')
                i += v[i] == '\\' ? 2 : 1;
            if (i >= n)
                return false;
            end = i++;
        } else {
            while (i < n && v[i] != ';' && v[i] != ',')
                i++;
            end = i;
            while (end > start && blank(v[end - 1]))
                end--;
        }
        if (key_len - key == name_len && ts_ascii_eq_nocase(v + key, name_len, name)) {
            *val = v + start;
            *val_len = end - start;
            return true;
        }
        while (i < n && blank(v[i]))
            i++;
        if (i < n && v[i] == ',')
            return false; /* the first element had none */
    }
    return false;
}

/* "http" or "https" for s[0..n) in any case, else NULL. */
static const char *scheme_of(const char *s, size_t n)
{
    if (n == 4 && ts_ascii_eq_nocase(s, 4, "http"))
        return "http";
    if (n == 5 && ts_ascii_eq_nocase(s, 5, "https"))
        return "https";
    return NULL;
}

bool ts_forwarded_for(const char *v, size_t n, const char **addr, size_t *len)
{
    const char *f;
    size_t fn;
    return forwarded_param(v, n, "for", &f, &fn) && node_address(f, fn, addr, len);
}

const char *ts_forwarded_proto(const char *v, size_t n)
{
    const char *p;
    size_t pn;
    return forwarded_param(v, n, "proto", &p, &pn) ? scheme_of(p, pn) : NULL;
}

/* The first element of an X-Forwarded-* list v[0..n) (empty ones before
 * it skipped, blanks around it trimmed); its length in *len. */
static const char *x_first_element(const char *v, size_t n, size_t *len)
{
    size_t skip = first_element(v, n);
    v += skip;
    n -= skip;
    const char *comma = memchr(v, ',', n);
    *len = comma ? (size_t)(comma - v) : n;
    return trimmed(v, len);
}

bool ts_x_forwarded_for(const char *v, size_t n, const char **addr, size_t *len)
{
    size_t first;
    const char *s = x_first_element(v, n, &first);
    return node_address(s, first, addr, len);
}

const char *ts_x_forwarded_proto(const char *v, size_t n)
{
    size_t first;
    const char *s = x_first_element(v, n, &first);
    return scheme_of(s, first);
}
