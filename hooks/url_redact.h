/* url_redact.h — what a URL attribute may not carry, by the OpenTelemetry
 * conventions for url.full and url.query: the user and password of a URL
 * ("http://user:pass@host/") become REDACTED, and so do the values of the
 * query parameters that sign a URL (AWSAccessKeyId, Signature, sig,
 * X-Goog-Signature: a presigned S3 or GCS link grants access to whoever
 * reads the trace). Pure functions over caller buffers. */
#ifndef TS_URL_REDACT_H
#define TS_URL_REDACT_H

#include <stdbool.h>
#include <stddef.h>

/* Does the query q[0..len) (after its '?', before any '#') hold a value to
 * redact? Most queries do not, and are then used as they are. */
bool ts_url_query_has_secret(const char *q, size_t len);

/* Does the URL u[0..len) (absolute: "scheme://authority/path?query", or a
 * request target "/path?query") hold anything to redact? */
bool ts_url_has_secret(const char *u, size_t len);

/* Write q (a query) or u (a URL) into out[0..cap) with what is to be
 * redacted replaced by "REDACTED" (a user and password by
 * "REDACTED:REDACTED"); everything else is as it was. Returns the length
 * written, cut at cap. */
size_t ts_url_query_redact(const char *q, size_t len, char *out, size_t cap);
size_t ts_url_redact(const char *u, size_t len, char *out, size_t cap);

/* A process's arguments args[0..len) (each ended by a NUL, as in
 * /proc/PID/cmdline) joined by spaces into out[0..cap), what commonly
 * carries a credential redacted: every argument as ts_url_redact has it;
 * the value of a credential header given as one argument
 * ("Authorization: Bearer x" -> "Authorization: REDACTED"; also
 * Proxy-Authorization, Cookie, X-Api-Key, any case; also as curl's
 * "-HName: value" and wget's "--header=Name: value"); for curl and wget
 * (the program's base name) the value (the next argument, or after '=')
 * of --user, --proxy-user, --password, --http-password, --proxy-password,
 * --ftp-password, --oauth2-bearer, --pass, --proxy-pass, --tlspassword,
 * --proxy-tlspassword (wget's --http-passwd, --proxy-passwd and
 * --ftp-passwd too; each name in any case, or a start of it, as curl and
 * getopt_long read an abbreviation), and of curl's -u and -U, also in a group of short
 * options (-Lu VALUE, -LuVALUE: as curl reads it, the first letter that
 * takes a value ends the group); the userinfo of a proxy (-x, --proxy,
 * --preproxy, with or without a scheme); what follows the first ':' not
 * escaped of a certificate (-E, --cert, --proxy-cert: its password); the
 * userinfo of their URL arguments without a scheme ("bob:pw@host/x").
 * In any argument, a PKCS #11 URI's pin-value (RFC 7512).
 * Other secrets on a command line go as they are. Returns the length
 * written, cut at cap. */
size_t ts_args_redact(const char *args, size_t len, char *out, size_t cap);

#endif
