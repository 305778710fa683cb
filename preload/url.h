/* url.h — the http:// URLs of the exporters' endpoints, taken apart once
 * at configuration time so that the reporter never parses text again. */
#ifndef TS_URL_H
#define TS_URL_H

#include <stdbool.h>
#include <stdint.h>

struct ts_url {
    char host[256]; /* a name or an address; IPv6 without its brackets */
    uint16_t port;  /* 80 when the URL names none */
    char path[1024]; /* from the first '/' (query included); "/" when empty */
    char authority[272]; /* host[:port] as written, for the Host header */
};

/* Parse "http://host[:port][/path]". Returns NULL on success, else a
 * short English reason ("https is not supported ...", "no host", ...). */
const char *ts_url_parse(const char *text, struct ts_url *out);

#endif
