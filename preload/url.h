/* url.h — the http:// URLs of the exporters' endpoints, taken apart once
 * at configuration time so that the reporter never parses text again. */
#ifndef TS_URL_H
#define TS_URL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ts_url {
    char host[256]; /* a name or an address; IPv6 without its brackets, a
                       zone after a plain '%' ("fe80::1%eth0") */
    uint16_t port;  /* 80 when the URL names none */
    char path[1024]; /* from the first '/' (query included); "/" when empty */
    char authority[272];   /* host[:port] as written */
    char host_header[272]; /* the same for the Host header: an IPv6
                              address's zone left out (it means nothing to
                              the server: RFC 6874) */
};

/* The room an IPv6 address takes as text with a zone: the address
 * (INET6_ADDRSTRLEN with its NUL), '%' and an interface's name or index
 * (below IF_NAMESIZE). */
#define TS_IPV6_ZONED_TEXT (46 + 16)

/* Is s[0..len) an IPv6 address, with perhaps a zone, the interface a
 * link-local address is on, after a '%' ("fe80::1%eth0")? In a URL
 * (in_url) that '%' is written "%25" (RFC 6874); a '%' not followed by
 * "25" is taken as well, as curl takes it. The zone is at most 15
 * printable characters, none of '/', ':', '%', '[', ']'. When it is, out
 * gets the address with its zone after a plain '%', and a NUL. */
bool ts_ipv6_literal(const char *s, size_t len, bool in_url, char out[TS_IPV6_ZONED_TEXT]);

/* Is s[0..len), which ts_ipv6_literal refused, an IPv6 address whose zone
 * alone is wrong: the text before its first '%' an address by itself?
 * (To say "a zone" rather than "an address" when refusing it.) */
bool ts_ipv6_bad_zone(const char *s, size_t len);

/* Parse "http://host[:port][/path]". Returns NULL on success, else a
 * short English reason ("https is not supported ...", "no host", ...). */
const char *ts_url_parse(const char *text, struct ts_url *out);

/* A decimal port 1..65535 in s[0..len) (nothing else), into *out. */
bool ts_url_parse_port(const char *s, size_t len, uint16_t *out);

/* The length of the "scheme://" that s[0..len) starts with (RFC 3986
 * scheme characters, a letter first), or 0 when it starts with none. */
size_t ts_url_scheme_len(const char *s, size_t len);

/* text, a URL, as a message or `traceshim config` may show it: what may
 * be a credential hidden (a user and password before the host, the
 * values of the query: "http://(not shown)@h/p?token=(not shown)"), the
 * rest as written. Cut short to fit cap (> 0) bytes with its NUL. */
void ts_url_shown(const char *text, char *out, size_t cap);

/* u, a parsed endpoint, as ts_url_shown shows it: "http://", its
 * authority and its path, the query's values hidden. (A user and a
 * password are never in it: ts_url_parse refuses them.) */
void ts_url_shown_parsed(const struct ts_url *u, char *out, size_t cap);

#endif
