/* url.c — see url.h. */
#include "url.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "ascii.h"
#include "cut_text.h"

_Static_assert(TS_IPV6_ZONED_TEXT == INET6_ADDRSTRLEN + IF_NAMESIZE,
               "an IPv6 address, '%' and an interface name, as text");

/* Is c a character of a zone? What an interface's name may hold (Linux
 * refuses '/', ':' and white space in one), but for '%' and the brackets:
 * wider than RFC 6874's unreserved characters, as names such as "br+1"
 * were taken before (by the resolver). */
static bool zone_char(char c)
{
    return c > ' ' && c < 0x7f && c != '/' && c != ':' && c != '%' && c != '[' && c != ']';
}

bool ts_ipv6_literal(const char *s, size_t len, bool in_url, char out[TS_IPV6_ZONED_TEXT])
{
    const char *pct = memchr(s, '%', len);
    size_t addr_len = pct ? (size_t)(pct - s) : len;
    const char *zone = NULL;
    size_t zone_len = 0;
    if (pct) {
        zone = pct + 1;
        zone_len = len - addr_len - 1;
        if (in_url && zone_len >= 2 && zone[0] == '2' && zone[1] == '5') {
            zone += 2; /* "%25": RFC 6874's escaped '%' */
            zone_len -= 2;
        }
        if (zone_len == 0 || zone_len >= IF_NAMESIZE)
            return false;
        for (size_t i = 0; i < zone_len; i++)
            if (!zone_char(zone[i]))
                return false;
    }
    if (addr_len == 0 || addr_len >= INET6_ADDRSTRLEN)
        return false;
    char text[INET6_ADDRSTRLEN];
    memcpy(text, s, addr_len);
    text[addr_len] = '\0';
    struct in6_addr a;
    if (inet_pton(AF_INET6, text, &a) != 1)
        return false;
    memcpy(out, text, addr_len);
    if (zone) {
        out[addr_len] = '%';
        memcpy(out + addr_len + 1, zone, zone_len);
        addr_len += 1 + zone_len;
    }
    out[addr_len] = '\0';
    return true;
}

bool ts_ipv6_bad_zone(const char *s, size_t len)
{
    const char *pct = memchr(s, '%', len);
    char address[TS_IPV6_ZONED_TEXT];
    return pct && ts_ipv6_literal(s, (size_t)(pct - s), false, address);
}

bool ts_url_parse_port(const char *s, size_t len, uint16_t *out)
{
    if (len == 0 || len > 5)
        return false;
    unsigned v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v == 0 || v > 65535)
        return false;
    *out = (uint16_t)v;
    return true;
}

const char *ts_url_parse(const char *text, struct ts_url *out)
{
    memset(out, 0, sizeof *out);
    if (ts_ascii_prefix_nocase(text, "https://"))
        /* Phrased like the other reasons: config prints "expected <reason>". */
        return "an http:// URL (https is not supported by the exporter: use a local collector)";
    if (!ts_ascii_prefix_nocase(text, "http://"))
        return "an http:// URL";
    const char *auth = text + 7;
    size_t auth_len = strcspn(auth, "/?#");
    const char *rest = auth + auth_len;
    if (auth_len == 0)
        return "a URL with a host";
    if (memchr(auth, '@', auth_len))
        return "a URL without user information";
    if (auth_len >= sizeof out->authority)
        return "a shorter host";
    for (size_t i = 0; i < auth_len; i++)
        if (auth[i] == ' ' || ts_ascii_is_control(auth[i]))
            return "a URL without spaces or control characters";

    const char *host = auth, *port = NULL;
    size_t host_len = auth_len, port_len = 0;
    if (auth[0] == '[') {
        const char *close = memchr(auth, ']', auth_len);
        if (!close)
            return "a closing ']' after the IPv6 address";
        host = auth + 1;
        host_len = (size_t)(close - host);
        if (close + 1 < auth + auth_len) {
            if (close[1] != ':')
                return "':port' after the IPv6 address";
            port = close + 2;
            port_len = (size_t)(auth + auth_len - port);
        }
    } else {
        const char *colon = memchr(auth, ':', auth_len);
        if (colon) {
            host_len = (size_t)(colon - auth);
            port = colon + 1;
            port_len = (size_t)(auth + auth_len - port);
        }
    }
    if (host_len == 0)
        return "a URL with a host";
    /* The authority limit leaves room for a port and brackets; the host
     * field itself is shorter and must keep its NUL. */
    if (host_len >= sizeof out->host)
        return "a shorter host";
    out->port = 80;
    if (port && !ts_url_parse_port(port, port_len, &out->port))
        return "a port from 1 to 65535";
    if (host != auth) {
        if (!ts_ipv6_literal(host, host_len, true, out->host)) {
            if (ts_ipv6_bad_zone(host, host_len))
                return "an interface's name or index as the IPv6 address's zone, after "
                       "%25 ([fe80::1%25eth0])";
            return "an IPv6 address between '[' and ']'";
        }
        /* the Host header names the address without its zone */
        const char *pct = memchr(host, '%', host_len);
        size_t kept = pct ? (size_t)(pct - auth) : (size_t)(host + host_len - auth);
        memcpy(out->host_header, auth, kept);
        memcpy(out->host_header + kept, host + host_len,
               (size_t)(auth + auth_len - host - host_len));
    } else {
        memcpy(out->host, host, host_len);
        memcpy(out->host_header, auth, auth_len);
    }
    memcpy(out->authority, auth, auth_len);

    size_t path_len = strcspn(rest, "#");
    if (path_len + 2 > sizeof out->path)
        return "a shorter path";
    for (size_t i = 0; i < path_len; i++)
        if (rest[i] == ' ' || ts_ascii_is_control(rest[i]))
            return "a URL without spaces or control characters";
    if (path_len == 0 || rest[0] != '/') {
        out->path[0] = '/';
        memcpy(out->path + 1, rest, path_len);
    } else {
        memcpy(out->path, rest, path_len);
    }
    return NULL;
}

#define HIDDEN "(not shown)"

size_t ts_url_scheme_len(const char *s, size_t len)
{
    size_t i = 0;
    if (!len || !((s[0] | 0x20) >= 'a' && (s[0] | 0x20) <= 'z'))
        return 0;
    while (i < len && (((s[i] | 0x20) >= 'a' && (s[i] | 0x20) <= 'z') ||
                       (s[i] >= '0' && s[i] <= '9') || s[i] == '+' || s[i] == '-' || s[i] == '.'))
        i++;
    return len - i >= 3 && memcmp(s + i, "://", 3) == 0 ? i + 3 : 0;
}

/* text, the end of a URL (its path, or all of it after its user
 * information), into o: each of its query's parameters by name, the values
 * hidden, up to a fragment; the rest as written. */
static void shown_without_query_values(struct ts_cut_text *o, const char *text)
{
    const char *query = strchr(text, '?');
    if (!query) {
        ts_cut_text_put(o, text, strlen(text));
        return;
    }
    ts_cut_text_put(o, text, (size_t)(query - text) + 1);
    const char *q = query + 1, *end = q + strcspn(q, "#");
    while (q < end) {
        size_t plen = strcspn(q, "&#");
        const char *eq = memchr(q, '=', plen);
        if (eq) /* the name, not its value */
            ts_cut_text_put(o, q, (size_t)(eq - q) + 1);
        if (eq || plen) /* a parameter without a value may be a token itself */
            ts_cut_text_put(o, HIDDEN, sizeof HIDDEN - 1);
        q += plen;
        if (q < end) { /* the '&' */
            ts_cut_text_put(o, q, 1);
            q++;
        }
    }
    ts_cut_text_put(o, end, strlen(end));
}

void ts_url_shown(const char *text, char *out, size_t cap)
{
    size_t len = strlen(text);
    struct ts_cut_text o = {out, cap - 1, 0}; /* a byte kept for the NUL */
    const char *auth = text + ts_url_scheme_len(text, len);
    /* A user and password end at the text's last '@': a password may hold
     * an unescaped '/', '?' or '#' (the URL is refused then, and this is
     * its message), and hiding too much of a query or path is harmless. */
    const char *at = memrchr(auth, '@', len - (size_t)(auth - text));
    if (at) {
        ts_cut_text_put(&o, text, (size_t)(auth - text));
        ts_cut_text_put(&o, HIDDEN, sizeof HIDDEN - 1);
        text = at;
    }
    shown_without_query_values(&o, text);
    out[o.len] = '\0';
}

void ts_url_shown_parsed(const struct ts_url *u, char *out, size_t cap)
{
    struct ts_cut_text o = {out, cap - 1, 0};
    ts_cut_text_put(&o, "http://", 7);
    ts_cut_text_put(&o, u->authority, strlen(u->authority));
    shown_without_query_values(&o, u->path);
    out[o.len] = '\0';
}
