/* config.c — the configuration from the environment (see config.h).
 *
 * Rules shared by every variable:
 *  - an empty value counts as unset (the OpenTelemetry SDK convention), so
 *    `OTEL_SERVICE_NAME= prog` behaves like no OTEL_SERVICE_NAME at all;
 *  - where two names of one setting are listed, the first that is set is
 *    the only one read: if its value is bad, the default is used, not the
 *    second name (but OTLP's traces-specific variables give way to the
 *    general ones, their default: read_signal_first);
 *  - a bad value costs one line on stderr (variable, value, what was
 *    expected) and its default; nothing is ever truncated silently.
 * Comparisons are ASCII-only on purpose: locale-dependent case folding
 * (strcasecmp) could run before the program has set up its locale. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ascii.h"
#include "log.h"

struct ts_config ts_cfg;

#define DEFAULT_PROPAGATORS (TS_PROP_B3MULTI | TS_PROP_TRACECONTEXT)
#define DEFAULT_QUEUE 2048u
#define DEFAULT_BATCH 512u
#define DEFAULT_DELAY_MS 5000u
#define DEFAULT_TIMEOUT_MS 30000u
#define DEFAULT_HEAD_BYTES 16384u
#define DEFAULT_EXIT_TIMEOUT_MS 2000u
#define DEFAULT_OTLP_URL "http://localhost:4318/v1/traces"
#define DEFAULT_ZIPKIN_URL "http://localhost:9411/api/v2/spans"
#define DEFAULT_EXPORTER_TIMEOUT_MS 10000u
#define DEFAULT_JAEGER_PORT 6831

/* ------------------------------------------------------------- strings */

/* Index of s in a table of lower-case names, or -1. */
static int lookup_name(const char *s, size_t len, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (ts_ascii_eq_nocase(s, len, names[i]))
            return i;
    return -1;
}

/* ------------------------------------------------------------- reporting */

void ts_config_shown_value(const char *v, char *out, size_t cap)
{
    size_t n = 0;
    for (; v[n] && n < TS_SHOWN_MAX && n + 4 < cap; n++) {
        out[n] = ts_ascii_is_control(v[n]) ? '?' : v[n];
    }
    if (v[n]) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
}

#define CFG_NUMBER_TEXT(n) #n
#define CFG_NUMBER(n) CFG_NUMBER_TEXT(n) /* a macro's number, as a string literal */

/* One error line for a value that was not accepted, and count it. */
static void reject(int *errors, const char *var, const char *value, const char *expected)
{
    char shown[TS_SHOWN_MAX + 4];
    ts_config_shown_value(value, shown, sizeof shown);
    ts_log(TS_LOG_ERROR, "invalid %s=\"%s\": expected %s", var, shown, expected);
    (*errors)++;
}

/* The same for an endpoint URL, its user and its query's values hidden
 * (a collector's token often rides there). */
static void reject_url(int *errors, const char *var, const char *url, const char *expected)
{
    char shown[TS_SHOWN_MAX * 2];
    ts_url_shown(url, shown, sizeof shown);
    reject(errors, var, shown, expected);
}

/* The same for a value that may hold credentials (the exporters' headers:
 * API keys, bearer tokens), which no message shows. */
static void reject_secret(int *errors, const char *var, const char *expected)
{
    ts_log(TS_LOG_ERROR,
           "invalid %s: expected %s (the value is not shown: it may hold credentials)", var,
           expected);
    (*errors)++;
}

/* ------------------------------------------------------------- lookups */

/* A variable's value, or NULL when unset or empty. */
static const char *env(ts_env_lookup_fn get, const char *name)
{
    const char *v = get(name);
    return (v && *v) ? v : NULL;
}

/* The value of the first of two names that is set; *name says which. */
static const char *env_first(ts_env_lookup_fn get, const char *a, const char *b, const char **name)
{
    const char *v = env(get, a);
    *name = a;
    if (!v && b) {
        v = env(get, b);
        *name = b;
    }
    return v;
}

/* ------------------------------------------------------------- readers */

static void read_bool(ts_env_lookup_fn get, const char *a, const char *b, bool *out, int *errors)
{
    static const char *const yes[] = {"true", "1", "yes", "on"};
    static const char *const no[] = {"false", "0", "no", "off", ""};
    const char *var;
    const char *v = env_first(get, a, b, &var);
    if (!v)
        return;
    size_t len = strlen(v);
    const char *t = ts_ascii_trim(v, &len);
    if (lookup_name(t, len, yes, 4) >= 0)
        *out = true;
    else if (lookup_name(t, len, no, 5) >= 0)
        *out = false;
    else
        reject(errors, var, v, "true or false (also 1/0, yes/no, on/off)");
}

/* JAEGER_DISABLED, the Jaeger clients' name, read last: a boolean as
 * their Go client parses it (strconv.ParseBool: true, t, 1 disable;
 * false, f, 0 do not), any case. */
static void read_jaeger_disabled(ts_env_lookup_fn get, bool *out, int *errors)
{
    static const char *const yes[] = {"true", "t", "1"};
    static const char *const no[] = {"false", "f", "0"};
    const char *v = env(get, "JAEGER_DISABLED");
    if (!v)
        return;
    size_t len = strlen(v);
    const char *t = ts_ascii_trim(v, &len);
    if (lookup_name(t, len, yes, 3) >= 0)
        *out = true;
    else if (lookup_name(t, len, no, 3) < 0)
        reject(errors, "JAEGER_DISABLED", v, "true or false (also t/f, 1/0)");
}

/* TRACESHIM_DISABLED as a boolean of the shim's (true, 1, yes, on, ...);
 * else OTEL_SDK_DISABLED by OpenTelemetry's rule for booleans: "true" in
 * any case disables, "false" or empty does not, and any other value does
 * not either, which a line says (the specification forbids taking more
 * words for true: "1" leaves every SDK on); else JAEGER_DISABLED. */
static void read_disabled(ts_env_lookup_fn get, bool *out, int *errors)
{
    if (env(get, "TRACESHIM_DISABLED")) {
        read_bool(get, "TRACESHIM_DISABLED", NULL, out, errors);
        return;
    }
    const char *v = env(get, "OTEL_SDK_DISABLED");
    if (!v) {
        read_jaeger_disabled(get, out, errors);
        return;
    }
    size_t len = strlen(v);
    const char *t = ts_ascii_trim(v, &len);
    if (ts_ascii_eq_nocase(t, len, "true"))
        *out = true;
    else if (!ts_ascii_eq_nocase(t, len, "false") && len)
        reject(errors, "OTEL_SDK_DISABLED", v,
               "true or false (only true disables; TRACESHIM_DISABLED also takes 1, yes, on)");
}

/* The exporters: a comma-separated list under either name. */
static void read_exporters(ts_env_lookup_fn get, unsigned *out, int *errors)
{
    const char *var;
    const char *v = env_first(get, "TRACESHIM_EXPORTER", "OTEL_TRACES_EXPORTER", &var);
    if (v && ts_config_parse_exporters(v, out) != 0)
        reject(errors, var, v,
               "a comma-separated list of file, otlp, zipkin, jaeger, console or none");
}

static void read_log_level(ts_env_lookup_fn get, int *out, int *errors)
{
    static const char *const names[] = {
        [TS_LOG_ERROR] = "error",
        [TS_LOG_WARN] = "warn",
        [TS_LOG_INFO] = "info",
        [TS_LOG_DEBUG] = "debug",
    };
    const char *v = env(get, "TRACESHIM_LOG_LEVEL");
    if (!v)
        return;
    size_t len = strlen(v);
    const char *t = ts_ascii_trim(v, &len);
    int l = lookup_name(t, len, names, 4);
    if (l < 0)
        reject(errors, "TRACESHIM_LOG_LEVEL", v, "error, warn, info or debug");
    else
        *out = l;
}

/* A string copied whole into out[cap], or rejected (never truncated). */
static void read_string(const char *var, const char *v, char *out, size_t cap, int *errors)
{
    if (!v)
        return;
    size_t len = strlen(v);
    if (len >= cap) {
        char expected[48];
        snprintf(expected, sizeof expected, "at most %zu bytes", cap - 1);
        reject(errors, var, v, expected);
        return;
    }
    memcpy(out, v, len + 1);
}

/* A positive decimal integer in [lo, hi]; blanks around it are allowed,
 * signs, hex, units and fractions are not. */
static void read_uint_value(const char *var, const char *v, unsigned lo, unsigned hi, unsigned *out,
                            int *errors)
{
    size_t len = strlen(v);
    const char *t = ts_ascii_trim(v, &len);
    uint64_t n = 0;
    bool ok = len > 0;
    for (size_t i = 0; ok && i < len; i++) {
        if (t[i] < '0' || t[i] > '9')
            ok = false;
        else if (n <= hi) /* stop growing once out of range: no overflow */
            n = n * 10 + (uint64_t)(t[i] - '0');
    }
    if (!ok || n < lo || n > hi) {
        char expected[64];
        snprintf(expected, sizeof expected, "a whole number from %u to %u", lo, hi);
        reject(errors, var, v, expected);
        return;
    }
    *out = (unsigned)n;
}

/* The same for a variable looked up by name (unset: *out unchanged). */
static void read_uint(ts_env_lookup_fn get, const char *var, unsigned lo, unsigned hi,
                      unsigned *out, int *errors)
{
    const char *v = env(get, var);
    if (v)
        read_uint_value(var, v, lo, hi, out, errors);
}

/* ------------------------------------------------------------- lists */

struct named_bits {
    const char *name;
    unsigned bits;
};

/* A comma-separated list of names from known[0..n), ORed together; blanks
 * around entries and empty entries are ignored, at least one entry is
 * needed. Returns 0, or -1 on an unknown name. */
static int parse_name_list(const char *s, const struct named_bits *known, size_t n, unsigned *out)
{
    if (!s)
        return -1;
    unsigned bits = 0;
    size_t entries = 0;
    const char *p = s;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        const char *t = ts_ascii_trim(p, &len);
        if (len) {
            size_t i = 0;
            while (i < n && !ts_ascii_eq_nocase(t, len, known[i].name))
                i++;
            if (i == n)
                return -1;
            bits |= known[i].bits;
            entries++;
        }
        if (!comma)
            break;
        p = comma + 1;
    }
    if (!entries)
        return -1;
    *out = bits;
    return 0;
}

int ts_config_parse_propagators(const char *s, unsigned *out)
{
    static const struct named_bits known[] = {
        {"b3multi", TS_PROP_B3MULTI},
        {"b3", TS_PROP_B3},
        {"tracecontext", TS_PROP_TRACECONTEXT},
        {"jaeger", TS_PROP_JAEGER},
        {"none", 0},
        {"baggage", 0}, /* baggage is not a trace context: nothing to do */
    };
    return parse_name_list(s, known, sizeof known / sizeof known[0], out);
}

/* JAEGER_PROPAGATION, the Jaeger clients' names: b3 is their B3
 * propagator, the multi-header form; w3c is tracecontext. */
int ts_config_parse_jaeger_propagation(const char *s, unsigned *out)
{
    static const struct named_bits known[] = {
        {"jaeger", TS_PROP_JAEGER},
        {"b3", TS_PROP_B3MULTI},
        {"w3c", TS_PROP_TRACECONTEXT},
    };
    return parse_name_list(s, known, sizeof known / sizeof known[0], out);
}

int ts_config_parse_exporters(const char *s, unsigned *out)
{
    static const struct named_bits known[] = {
        {"file", 1u << TS_EXPORTER_FILE},       {"otlp", 1u << TS_EXPORTER_OTLP},
        {"zipkin", 1u << TS_EXPORTER_ZIPKIN},   {"jaeger", 1u << TS_EXPORTER_JAEGER},
        {"console", 1u << TS_EXPORTER_CONSOLE}, {"none", 0},
        {"logging", 1u << TS_EXPORTER_CONSOLE}, /* the old OTel name of console */
    };
    return parse_name_list(s, known, sizeof known / sizeof known[0], out);
}

/* ------------------------------------------------------------- resource */

static int hex_val(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = ts_ascii_lower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* The byte of the percent-encoded v[0..len) at *i, decoded (a "%XX"
 * escape, or the byte as it is), *i moved past it; -1 for a '%' that two
 * hex digits do not follow. */
static int percent_next(const char *v, size_t len, size_t *i)
{
    char c = v[(*i)++];
    if (c != '%')
        return (unsigned char)c;
    if (len - *i < 2 || hex_val(v[*i]) < 0 || hex_val(v[*i + 1]) < 0)
        return -1;
    c = (char)(hex_val(v[*i]) << 4 | hex_val(v[*i + 1]));
    *i += 2;
    return (unsigned char)c;
}

/* Percent-decode v[0..len) into out[cap] (NUL-terminated). Returns the
 * decoded length, -1 on a bad escape anywhere, -2 when it does not fit. */
static long percent_decode(const char *v, size_t len, char *out, size_t cap)
{
    size_t n = 0;
    bool fits = true;
    for (size_t i = 0; i < len;) {
        int c = percent_next(v, len, &i);
        if (c < 0)
            return -1;
        if (n + 1 >= cap)
            fits = false;
        else
            out[n++] = (char)c;
    }
    out[n] = '\0';
    return fits ? (long)n : -2;
}

/* One "key=value" entry of a comma-separated list, blanks trimmed. */
struct kv_entry {
    const char *key, *val;
    size_t klen, vlen;
};

/* Call fn for each non-empty entry of a "k1=v1,k2=v2" list (the form of
 * OTEL_RESOURCE_ATTRIBUTES and OTEL_EXPORTER_OTLP_HEADERS). Returns -1 for
 * an entry without '=' or with an empty key, else the first non-zero value
 * fn returns, else 0. */
static int kv_list_each(const char *s, int (*fn)(const struct kv_entry *e, void *arg), void *arg)
{
    const char *p = s;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        const char *entry = ts_ascii_trim(p, &len);
        if (len) { /* empty entries (a trailing comma) are skipped */
            const char *eq = memchr(entry, '=', len);
            if (!eq)
                return -1;
            struct kv_entry e;
            e.klen = (size_t)(eq - entry);
            e.key = ts_ascii_trim(entry, &e.klen);
            e.vlen = len - (size_t)(eq + 1 - entry);
            e.val = ts_ascii_trim(eq + 1, &e.vlen);
            if (!e.klen)
                return -1;
            int r = fn(&e, arg);
            if (r)
                return r;
        }
        if (!comma)
            return 0;
        p = comma + 1;
    }
}

struct service_name_search {
    char *out;
    size_t cap;
    bool too_long;
};

/* A resource key of OTEL_RESOURCE_ATTRIBUTES or JAEGER_TAGS (one rule for
 * both, on the key once decoded): no blank or control byte (the resource
 * would drop such a key); anything else goes, "app.kubernetes.io/name" is
 * common. */
#define RESOURCE_KEYS "non-empty keys without blanks or control characters"

/* May a resource key hold the byte c (0..255)? */
static bool resource_key_byte_ok(int c)
{
    return c != ' ' && !ts_ascii_is_control((char)c);
}

/* A JAEGER_TAGS key, taken as it is (the Jaeger clients encode nothing). */
static bool resource_key_ok(const char *key, size_t klen)
{
    for (size_t i = 0; i < klen; i++)
        if (!resource_key_byte_ok((unsigned char)key[i]))
            return false;
    return true;
}

/* An OTEL_RESOURCE_ATTRIBUTES key: percent-encoded, as its value is (the
 * Resource SDK specification: ',' and '=' in keys and values are written
 * %2C and %3D), and decoded before resource_key_ok's rule applies; a bad
 * escape makes the list malformed. */
static bool attribute_key_ok(const char *key, size_t klen)
{
    for (size_t i = 0; i < klen;) {
        int c = percent_next(key, klen, &i);
        if (c < 0 || !resource_key_byte_ok(c))
            return false;
    }
    return true;
}

/* Is the OTEL_RESOURCE_ATTRIBUTES key key[0..klen), which attribute_key_ok
 * accepted, name once decoded? */
static bool attribute_key_is(const char *key, size_t klen, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < klen; n++)
        if (!name[n] || percent_next(key, klen, &i) != (unsigned char)name[n])
            return false;
    return !name[n];
}

/* One OTEL_RESOURCE_ATTRIBUTES entry: every key must be one
 * (attribute_key_ok) and every value decode; the last service.name is
 * kept. */
static int service_name_entry(const struct kv_entry *e, void *arg)
{
    struct service_name_search *sn = arg;
    if (!attribute_key_ok(e->key, e->klen))
        return -1;
    char tmp[TS_CFG_STR];
    long r = percent_decode(e->val, e->vlen, tmp, sizeof tmp);
    if (r == -1)
        return -1;
    if (attribute_key_is(e->key, e->klen, "service.name")) {
        sn->too_long = r < 0 || (size_t)r >= sn->cap;
        if (!sn->too_long)
            memcpy(sn->out, tmp, (size_t)r + 1);
    }
    return 0;
}

/* The keys the shim sets for each process (ts_resource_key_is_own). */
static const char *const own_resource_keys[] = {
    "process.pid",           "process.executable.name",
    "telemetry.sdk.name",    "telemetry.sdk.language",
    "telemetry.sdk.version",
};
#define OWN_RESOURCE_KEYS (sizeof own_resource_keys / sizeof *own_resource_keys)

bool ts_resource_key_is_own(const char *key, size_t klen)
{
    for (size_t i = 0; i < OWN_RESOURCE_KEYS; i++)
        if (klen == strlen(own_resource_keys[i]) && memcmp(key, own_resource_keys[i], klen) == 0)
            return true;
    return false;
}

/* A line for an OTEL_RESOURCE_ATTRIBUTES (or JAEGER_TAGS) entry the
 * resource leaves out, key[0..klen) as written: at the error level, as a
 * refused value is, so that it is seen by default; not counted as one,
 * since the list itself is accepted. */
static void say_own_key(const char *var, const char *key, size_t klen)
{
    ts_log_error("the %s entry %.*s is ignored: the shim sets it for each process", var, (int)klen,
                 key);
}

/* An OTEL_RESOURCE_ATTRIBUTES entry whose key, decoded, is the shim's. */
static int own_attribute_entry(const struct kv_entry *e, void *unused)
{
    (void)unused;
    for (size_t i = 0; i < OWN_RESOURCE_KEYS; i++)
        if (attribute_key_is(e->key, e->klen, own_resource_keys[i]))
            say_own_key("OTEL_RESOURCE_ATTRIBUTES", e->key, e->klen);
    return 0;
}

/* JAEGER_TAGS' entries the resource leaves out: the shim's own keys, and
 * service.name, which is no service name to the Jaeger clients (theirs is
 * JAEGER_SERVICE_NAME's alone), and the resource's service.name is the
 * configured one already. */
static int jaeger_tag_left_out(const struct kv_entry *e, void *unused)
{
    (void)unused;
    if (e->klen == 12 && memcmp(e->key, "service.name", 12) == 0)
        ts_log_error("the JAEGER_TAGS entry service.name is ignored: the service name is "
                     "OTEL_SERVICE_NAME's, else JAEGER_SERVICE_NAME's, else the service.name "
                     "of OTEL_RESOURCE_ATTRIBUTES, else the program's name");
    if (ts_resource_key_is_own(e->key, e->klen))
        say_own_key("JAEGER_TAGS", e->key, e->klen);
    return 0;
}

/* One JAEGER_TAGS entry, key=value, both as they are (not
 * percent-encoded), written as an OTEL_RESOURCE_ATTRIBUTES entry: a '%' in
 * either becomes %25, which the resource decodes back. */
struct tags_render {
    char *out;
    size_t cap, used;
};

/* The length of s[0..n) with each '%' written %25. */
static size_t escaped_len(const char *s, size_t n)
{
    size_t len = n;
    for (size_t i = 0; i < n; i++)
        len += s[i] == '%' ? 2 : 0;
    return len;
}

/* s[0..n) into o with each '%' written %25; returns the end of what it
 * wrote. */
static char *escape_percent(char *o, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            memcpy(o, "%25", 3);
            o += 3;
        } else {
            *o++ = s[i];
        }
    }
    return o;
}

static int jaeger_tag_entry(const struct kv_entry *e, void *arg)
{
    struct tags_render *t = arg;
    if (!resource_key_ok(e->key, e->klen))
        return -1;
    /* ${ENV:default}, which the Jaeger clients look up: not done here */
    if (e->vlen >= 3 && memcmp(e->val, "${", 2) == 0 && e->val[e->vlen - 1] == '}')
        return -3;
    size_t need =
        (t->used ? 1 : 0) + escaped_len(e->key, e->klen) + 1 + escaped_len(e->val, e->vlen);
    if (t->used + need >= t->cap)
        return -2;
    char *o = t->out + t->used;
    if (t->used)
        *o++ = ',';
    o = escape_percent(o, e->key, e->klen);
    *o++ = '=';
    o = escape_percent(o, e->val, e->vlen);
    *o = '\0';
    t->used += need;
    return 0;
}

/* JAEGER_TAGS, the Jaeger clients' process tags, into out[cap] in the
 * form of OTEL_RESOURCE_ATTRIBUTES (resource.c reads both, that one
 * last, so that its value wins on a key in both). A bad list is refused
 * whole, as OTEL_RESOURCE_ATTRIBUTES is. */
static void read_jaeger_tags(ts_env_lookup_fn get, char *out, size_t cap, int *errors)
{
    const char *v = env(get, "JAEGER_TAGS");
    if (!v)
        return;
    struct tags_render t = {out, cap, 0};
    int r = kv_list_each(v, jaeger_tag_entry, &t);
    if (r == -1)
        reject(errors, "JAEGER_TAGS", v, "comma-separated key=value pairs, " RESOURCE_KEYS);
    else if (r == -2)
        reject(errors, "JAEGER_TAGS", v,
               "fewer or shorter tags (at most " CFG_NUMBER(TS_CFG_TAGS_MAX) " bytes in all)");
    else if (r == -3)
        reject(errors, "JAEGER_TAGS", v,
               "key=value pairs with values as they are (a ${ENV:default} value, which Jaeger "
               "clients look up, is not supported)");
    if (r != 0)
        out[0] = '\0';
    else
        kv_list_each(v, jaeger_tag_left_out, NULL);
}

/* Check OTEL_RESOURCE_ATTRIBUTES ("k=v,k2=v2", values percent-encoded) and
 * find service.name in it (the last one wins, as in the OpenTelemetry SDKs).
 * Returns 0, -1 when the list is malformed (the whole variable is then
 * discarded, as the specification asks), -2 when service.name does not fit
 * in out[cap]. */
static int resource_service_name(const char *attrs, char *out, size_t cap)
{
    struct service_name_search sn = {out, cap, false};
    int r = kv_list_each(attrs, service_name_entry, &sn);
    return r ? r : sn.too_long ? -2 : 0;
}

/* ------------------------------------------------------------- exporters */

/* An HTTP token character (RFC 9110 tchar): what a header name may hold. */
static bool is_tchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

struct header_render {
    char *out;
    size_t cap, used;
};

/* One OTEL_EXPORTER_OTLP_HEADERS entry as a "name: value\r\n" line. */
/* Headers the exporter writes for each request's body and connection: a
 * second of them would contradict the first (two lengths, two types). */
static const char *const exporter_only_headers[] = {"content-type", "content-length",
                                                    "transfer-encoding", "connection"};

static int header_entry(const struct kv_entry *e, void *arg)
{
    struct header_render *h = arg;
    for (size_t i = 0; i < e->klen; i++)
        if (!is_tchar(e->key[i]))
            return -1;
    if (lookup_name(e->key, e->klen, exporter_only_headers,
                    (int)(sizeof exporter_only_headers / sizeof exporter_only_headers[0])) >= 0)
        return -3;
    /* The value is decoded in place, after its name: no copy on the stack
     * of the start, which may be a small thread's. (On failure the caller
     * empties out.) */
    char *o = h->out + h->used;
    size_t room = h->cap - h->used; /* its NUL's byte included */
    if (e->klen + 2 + 1 > room)
        return -2;
    memcpy(o, e->key, e->klen);
    memcpy(o + e->klen, ": ", 2);
    char *value = o + e->klen + 2;
    long r = percent_decode(e->val, e->vlen, value, room - e->klen - 2);
    if (r == -1)
        return -1;
    if (r < 0)
        return -2;
    /* CR, LF, NUL would split or end the request head; DEL is no
     * field-value byte either (RFC 9110 §5.5), and Go's servers (the
     * Collector's) answer 400 to every batch that carries one. */
    for (long i = 0; i < r; i++)
        if (ts_ascii_is_control(value[i]) && value[i] != '\t')
            return -1;
    size_t need = e->klen + 2 + (size_t)r + 2;
    if (need + 1 > room)
        return -2;
    memcpy(value + r, "\r\n", 2);
    h->used += need;
    h->out[h->used] = '\0';
    return 0;
}

int ts_config_render_headers(const char *s, char *out, size_t cap)
{
    out[0] = '\0';
    struct header_render h = {out, cap, 0};
    return kv_list_each(s, header_entry, &h);
}

/* One of a pair of variables read into out: false when v was rejected. */
typedef bool (*read_one_fn)(const char *var, const char *v, void *out, int *errors);

/* OTLP's traces-specific variable, else its general one: the general one
 * is the default of the traces-specific one (the OTLP exporter
 * specification), so a value the first rejects gives way to the second's
 * as an unset one would, rather than to the shim's own default. Each is
 * read by its own reader. */
static void read_signal_first(ts_env_lookup_fn get, const char *traces_var, read_one_fn traces_read,
                              const char *general_var, read_one_fn general_read, void *out,
                              int *errors)
{
    const char *v = env(get, traces_var);
    if (v && traces_read(traces_var, v, out, errors))
        return;
    v = env(get, general_var);
    if (v)
        (void)general_read(general_var, v, out, errors);
}

/* OTEL_EXPORTER_OTLP_ENDPOINT: a base to which /v1/traces is appended (the
 * OTLP exporter specification's rule), at the end of the URL's path,
 * before its query (a fragment is never sent: ts_url_parse leaves it out).
 * NULL, or why v is refused (ts_url_parse's words). */
static const char *otlp_base_url(const char *v, struct ts_url *out)
{
    const char *why = ts_url_parse(v, out);
    if (why)
        return why;
    static const char signal[] = "/v1/traces";
    char *path = out->path;
    size_t base = strcspn(path, "?"), query = strlen(path + base);
    size_t end = base;
    while (end && path[end - 1] == '/')
        end--;
    if (end + sizeof signal - 1 + query >= sizeof out->path)
        return "a shorter URL";
    memmove(path + end + sizeof signal - 1, path + base, query + 1);
    memcpy(path + end, signal, sizeof signal - 1);
    return NULL;
}

/* What a refused endpoint costs, said in its line when no other variable
 * can name the endpoint: the exporter is off. The default endpoint is a
 * port on this host that any local user may listen on, and the user, who
 * named another (an https:// collector elsewhere, most often), did not ask
 * for it: the spans go nowhere rather than there, and OTLP's headers (a
 * bearer token, an API key) are never read. */
#define OTLP_OFF                                                                                   \
    "; the otlp exporter is off: its spans and headers do not go to the default "                  \
    "(" DEFAULT_OTLP_URL ") instead"
#define ZIPKIN_OFF                                                                                 \
    "; the zipkin exporter is off: its spans do not go to the default (" DEFAULT_ZIPKIN_URL        \
    ") instead"

/* A refused endpoint variable's line: why, and off when that is not NULL. */
static void refuse_endpoint(int *errors, const char *var, const char *v, const char *why,
                            const char *off)
{
    char expected[384];
    snprintf(expected, sizeof expected, "%s%s", why, off ? off : "");
    reject_url(errors, var, v, expected);
}

/* OTLP's endpoint: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as given, else
 * OTEL_EXPORTER_OTLP_ENDPOINT with /v1/traces; the general variable is
 * looked up only when the traces one is unset or refused (it is that
 * one's default, as read_signal_first says). False when one was set and
 * none was taken: the last refusal's line says OTLP_OFF. */
static bool read_otlp_endpoint(ts_env_lookup_fn get, struct ts_url *out, int *errors)
{
    static const char traces_var[] = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
    static const char general_var[] = "OTEL_EXPORTER_OTLP_ENDPOINT";
    struct ts_url u;
    const char *traces = env(get, traces_var);
    const char *why = traces ? ts_url_parse(traces, &u) : NULL;
    if (traces && !why) {
        *out = u;
        return true;
    }
    const char *general = env(get, general_var);
    if (traces)
        refuse_endpoint(errors, traces_var, traces, why, general ? NULL : OTLP_OFF);
    if (!general)
        return !traces;
    why = otlp_base_url(general, &u);
    if (why) {
        refuse_endpoint(errors, general_var, general, why, OTLP_OFF);
        return false;
    }
    *out = u;
    return true;
}

static bool read_otlp_protocol(const char *var, const char *v, void *out, int *errors)
{
    size_t len = strlen(v);
    const char *t = ts_ascii_trim(v, &len);
    if (ts_ascii_eq_nocase(t, len, "http/protobuf")) {
        *(int *)out = TS_OTLP_PROTOBUF;
    } else if (ts_ascii_eq_nocase(t, len, "http/json")) {
        *(int *)out = TS_OTLP_JSON;
    } else {
        reject(errors, var, v, "http/protobuf or http/json (grpc is not supported)");
        return false;
    }
    return true;
}

static bool read_otlp_timeout(const char *var, const char *v, void *out, int *errors)
{
    int before = *errors;
    read_uint_value(var, v, 1, 3600000, out, errors);
    return *errors == before;
}

/* Settings of the SDKs' exporters that the shim's do not have: said in
 * one line when that exporter is in use, not ignored in silence (its
 * batches would go otherwise than the user believes). Read only then: a
 * host's environment set for its SDKs says nothing to a process that
 * exports elsewhere. (The SDKs' settings that change nothing here, limits
 * on attributes, OTEL_LOG_LEVEL, the other signals' exporters, gRPC's
 * OTEL_EXPORTER_OTLP_INSECURE, are not read at all: README lists them.) */
static void read_unsupported(ts_env_lookup_fn get, unsigned exporters, int *errors)
{
    const char *var, *v;
    if (exporters & (1u << TS_EXPORTER_OTLP) &&
        (v = env_first(get, "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
                       "OTEL_EXPORTER_OTLP_COMPRESSION", &var))) {
        size_t len = strlen(v);
        const char *t = ts_ascii_trim(v, &len);
        if (!ts_ascii_eq_nocase(t, len, "none"))
            reject(errors, var, v, "none (the exporter does not compress: batches go as they are)");
    }
    /* A certificate or a key for TLS: the endpoint is http:// (an https://
     * one has already turned the exporter off), so none would be used. */
    static const char *const tls[][2] = {
        {"OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", "OTEL_EXPORTER_OTLP_CERTIFICATE"},
        {"OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY", "OTEL_EXPORTER_OTLP_CLIENT_KEY"},
        {"OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE", "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"},
    };
    for (size_t i = 0; exporters & (1u << TS_EXPORTER_OTLP) && i < sizeof tls / sizeof *tls; i++)
        if ((v = env_first(get, tls[i][0], tls[i][1], &var)))
            reject(errors, var, v,
                   "no value: the otlp exporter speaks plain http:// (no TLS: https is not "
                   "supported) and uses no certificate or key");
    if (exporters & (1u << TS_EXPORTER_JAEGER) &&
        (v = env_first(get, "OTEL_EXPORTER_JAEGER_ENDPOINT", "JAEGER_ENDPOINT", &var)))
        reject_url(errors, var, v,
                   "no value: the jaeger exporter sends to the agent over UDP "
                   "(OTEL_EXPORTER_JAEGER_AGENT_HOST, _PORT); for a collector over HTTP, use otlp");
}

/* out: the configuration's otlp_headers (TS_CFG_HEADERS bytes) */
static bool read_otlp_headers(const char *var, const char *v, void *headers, int *errors)
{
    char *out = headers;
    int r = ts_config_render_headers(v, out, TS_CFG_HEADERS);
    if (r == -1)
        reject_secret(errors, var,
                      "comma-separated name=value pairs (names are HTTP tokens, values "
                      "percent-encoded)");
    else if (r == -2)
        reject_secret(
            errors, var,
            "fewer or shorter headers (at most " CFG_NUMBER(
                TS_CFG_HEADERS_MAX) " bytes "
                                    "in all, as they go in the request, their line ends included)");
    else if (r == -3)
        reject_secret(errors, var,
                      "no Content-Type, Content-Length, Transfer-Encoding or Connection (the "
                      "exporter writes those)");
    if (r != 0)
        out[0] = '\0';
    return r == 0;
}

/* A port 1..65535 under either name. */
static void read_port(ts_env_lookup_fn get, const char *a, const char *b, uint16_t *out,
                      int *errors)
{
    const char *var;
    const char *v = env_first(get, a, b, &var);
    if (!v)
        return;
    unsigned port = *out;
    int before = *errors;
    read_uint_value(var, v, 1, 65535, &port, errors);
    if (*errors == before)
        *out = (uint16_t)port;
}

/* A host name (letters, digits, '-', '_', '.') or an IPv4 address. */
static bool host_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return false;
    }
    return true;
}

/* The Jaeger agent's host under var: a host name, an IPv4 address, or an
 * IPv6 one, bare or in brackets as in a URL (kept bare: the connect reads
 * it so), with perhaps a zone ("fe80::1%eth0"). A ':' anywhere else is a
 * port ("127.0.0.1:6831", the form of JAEGER_SAMPLER_MANAGER_HOST_PORT),
 * which this variable cannot hold: refused now rather than failing at the
 * first export as a name that "does not resolve". */
enum agent_host_form {
    AGENT_HOST_OK,
    AGENT_HOST_BAD_NAME,
    AGENT_HOST_WITH_PORT,
    AGENT_HOST_BAD_ZONE /* an IPv6 address, and after its '%' no interface's name or index */
};

/* Which form v has; for an IPv6 address, bare[] gets it without brackets
 * (else an empty string, when v is a name). */
static enum agent_host_form agent_host_form(const char *v, char bare[TS_CFG_IPV6_TEXT])
{
    size_t len = strlen(v);
    bare[0] = '\0';
    if (!strchr(v, ':') && v[0] != '[')
        return host_name_ok(v) ? AGENT_HOST_OK : AGENT_HOST_BAD_NAME;
    const char *addr = v;
    /* in brackets, as in a URL: a zone's '%' may be written "%25" too */
    bool bracketed = len >= 2 && v[0] == '[' && v[len - 1] == ']';
    if (bracketed) {
        addr++;
        len -= 2;
    }
    if (ts_ipv6_literal(addr, len, bracketed, bare))
        return AGENT_HOST_OK;
    bare[0] = '\0';
    /* a ':' after the '%' reads as a port ("fe80::1%eth0:6831") */
    const char *pct = memchr(addr, '%', len);
    if (pct && !memchr(pct, ':', len - (size_t)(pct - addr)) && ts_ipv6_bad_zone(addr, len))
        return AGENT_HOST_BAD_ZONE;
    return AGENT_HOST_WITH_PORT;
}

/* What read_agent_host expects of a host that has a bad zone. */
#define AGENT_HOST_ZONE_EXPECTED                                                                   \
    "an interface's name or index after the IPv6 address's '%' (fe80::1%eth0)"

const char *ts_config_agent_host_refusal(const char *v, char bare[TS_CFG_IPV6_TEXT])
{
    switch (agent_host_form(v, bare)) {
    case AGENT_HOST_OK:
        return NULL;
    case AGENT_HOST_BAD_ZONE:
        return AGENT_HOST_ZONE_EXPECTED;
    default:
        return "a host name or an IP address";
    }
}

bool ts_config_refuses_agent_host(ts_env_lookup_fn get)
{
    const char *var;
    const char *v = env_first(get, "TRACESHIM_EXPORTER", "OTEL_TRACES_EXPORTER", &var);
    unsigned exporters = 0;
    if (!v || ts_config_parse_exporters(v, &exporters) != 0 ||
        !(exporters & (1u << TS_EXPORTER_JAEGER)))
        return false;
    v = env_first(get, "OTEL_EXPORTER_JAEGER_AGENT_HOST", "JAEGER_AGENT_HOST", &var);
    char bare[TS_CFG_IPV6_TEXT];
    return v && agent_host_form(v, bare) != AGENT_HOST_OK;
}

static void read_agent_host(const char *var, const char *v, const char *port_var, char *out,
                            size_t cap, int *errors)
{
    if (!v)
        return;
    char bare[TS_CFG_IPV6_TEXT];
    enum agent_host_form form = agent_host_form(v, bare);
    if (form == AGENT_HOST_BAD_NAME) {
        reject(errors, var, v, "a host name or an IP address");
        return;
    }
    if (form == AGENT_HOST_BAD_ZONE) {
        reject(errors, var, v, AGENT_HOST_ZONE_EXPECTED);
        return;
    }
    if (form == AGENT_HOST_WITH_PORT) {
        char expected[160];
        snprintf(expected, sizeof expected,
                 "a host name or an IP address (IPv6 bare or in brackets) without a port: the "
                 "port goes in %s",
                 port_var);
        reject(errors, var, v, expected);
        return;
    }
    read_string(var, bare[0] ? bare : v, out, cap, errors);
}

/* ----------------------------------------------------------- stacks */

int ts_config_parse_stacks(const char *s, int *mode, uint64_t *slow_ns)
{
    size_t len = strlen(s);
    const char *t = ts_ascii_trim(s, &len);
    if (ts_ascii_eq_nocase(t, len, "off") || len == 0) {
        *mode = TS_STACKS_OFF;
        return 0;
    }
    if (ts_ascii_eq_nocase(t, len, "client")) {
        *mode = TS_STACKS_CLIENT;
        return 0;
    }
    if (ts_ascii_eq_nocase(t, len, "all")) {
        *mode = TS_STACKS_ALL;
        return 0;
    }
    if (len < 6 || !ts_ascii_eq_nocase(t, 5, "slow:"))
        return -1;
    const char *p = t + 5, *end = t + len;
    uint64_t n = 0;
    if (p == end || *p < '0' || *p > '9')
        return -1;
    while (p < end && *p >= '0' && *p <= '9') {
        if (n > 1000000000ULL)
            return -1;
        n = n * 10 + (uint64_t)(*p++ - '0');
    }
    size_t ulen = (size_t)(end - p);
    uint64_t unit;
    if (ulen == 0 || ts_ascii_eq_nocase(p, ulen, "ms"))
        unit = 1000000ULL;
    else if (ts_ascii_eq_nocase(p, ulen, "us"))
        unit = 1000ULL;
    else if (ts_ascii_eq_nocase(p, ulen, "s"))
        unit = 1000000000ULL;
    else
        return -1;
    *mode = TS_STACKS_SLOW;
    *slow_ns = n * unit;
    return 0;
}

/* ------------------------------------------------------------- load */

int ts_config_load(struct ts_config *cfg, ts_env_lookup_fn get)
{
    if (!cfg)
        return 0;
    memset(cfg, 0, sizeof *cfg);
    return ts_config_load_zeroed(cfg, get);
}

int ts_config_load_zeroed(struct ts_config *cfg, ts_env_lookup_fn get)
{
    if (!cfg)
        return 0;
    cfg->disabled = false;
    cfg->exporters = 1u << TS_EXPORTER_FILE;
    cfg->log_level = TS_LOG_ERROR;
    cfg->propagators = DEFAULT_PROPAGATORS;
    cfg->extracted = TS_PROP_B3MULTI | TS_PROP_B3 | TS_PROP_TRACECONTEXT | TS_PROP_JAEGER;
    cfg->bsp_max_queue = DEFAULT_QUEUE;
    cfg->bsp_max_batch = DEFAULT_BATCH;
    cfg->bsp_delay_ms = DEFAULT_DELAY_MS;
    cfg->bsp_export_timeout_ms = DEFAULT_TIMEOUT_MS;
    cfg->max_head_bytes = DEFAULT_HEAD_BYTES;
    cfg->exit_timeout_ms = DEFAULT_EXIT_TIMEOUT_MS;
    cfg->follow_exec = true;
    cfg->own_fd_table = -1;
    cfg->direct_calls = true;
    cfg->deepbind = true;
    cfg->signal_flush = true;
    ts_url_parse(DEFAULT_OTLP_URL, &cfg->otlp_url);
    cfg->otlp_protocol = TS_OTLP_PROTOBUF;
    cfg->otlp_timeout_ms = DEFAULT_EXPORTER_TIMEOUT_MS;
    ts_url_parse(DEFAULT_ZIPKIN_URL, &cfg->zipkin_url);
    cfg->zipkin_timeout_ms = DEFAULT_EXPORTER_TIMEOUT_MS;
    memcpy(cfg->jaeger_host, "127.0.0.1", sizeof "127.0.0.1");
    cfg->jaeger_port = DEFAULT_JAEGER_PORT;
    if (!get)
        return 0;

    int errors = 0;
    const char *var, *v;

    read_disabled(get, &cfg->disabled, &errors);
    read_exporters(get, &cfg->exporters, &errors);
    read_log_level(get, &cfg->log_level, &errors);

    v = env(get, "OTEL_PROPAGATORS");
    var = "OTEL_PROPAGATORS";
    int parsed = v ? ts_config_parse_propagators(v, &cfg->propagators) : 0;
    if (!v && (v = env(get, "JAEGER_PROPAGATION"))) {
        var = "JAEGER_PROPAGATION";
        parsed = ts_config_parse_jaeger_propagation(v, &cfg->propagators);
    }
    if (parsed != 0 && var[0] == 'O')
        reject(&errors, var, v,
               "a comma-separated list of b3multi, b3, tracecontext, jaeger, baggage or none");
    else if (parsed != 0)
        reject(&errors, var, v, "a comma-separated list of jaeger, b3 or w3c");
    else if (v)
        cfg->extracted = cfg->propagators & (TS_PROP_B3 | TS_PROP_B3MULTI)
                             ? cfg->propagators | TS_PROP_B3 | TS_PROP_B3MULTI
                             : cfg->propagators;

    v = env_first(get, "OTEL_SERVICE_NAME", "JAEGER_SERVICE_NAME", &var);
    read_string(var, v, cfg->service_name, sizeof cfg->service_name, &errors);
    bool service_set = v != NULL;

    v = env(get, "OTEL_RESOURCE_ATTRIBUTES");
    if (v) {
        char name[TS_CFG_STR] = "";
        int r = resource_service_name(v, name, sizeof name);
        if (r == -1) {
            reject(&errors, "OTEL_RESOURCE_ATTRIBUTES", v,
                   "comma-separated key=value pairs, " RESOURCE_KEYS ", values percent-encoded");
        } else {
            read_string("OTEL_RESOURCE_ATTRIBUTES", v, cfg->resource_attrs,
                        sizeof cfg->resource_attrs, &errors);
            if (cfg->resource_attrs[0])
                kv_list_each(v, own_attribute_entry, NULL);
            /* Its service.name counts only when no service variable is set,
             * and only when the attributes themselves were accepted. */
            if (!service_set && cfg->resource_attrs[0]) {
                if (r == -2) {
                    char expected[48];
                    snprintf(expected, sizeof expected, "a service.name of at most %zu bytes",
                             sizeof cfg->service_name - 1);
                    reject(&errors, "OTEL_RESOURCE_ATTRIBUTES", v, expected);
                } else {
                    memcpy(cfg->service_name, name, sizeof name);
                }
            }
        }
    }

    read_jaeger_tags(get, cfg->jaeger_tags, sizeof cfg->jaeger_tags, &errors);

    v = env(get, "TRACESHIM_FILE");
    read_string("TRACESHIM_FILE", v, cfg->file_path, sizeof cfg->file_path, &errors);

    read_uint(get, "OTEL_BSP_MAX_QUEUE_SIZE", 1, 1000000, &cfg->bsp_max_queue, &errors);
    /* A batch larger than the queue could never fill; with a small queue the
     * default batch shrinks to the queue's size. */
    if (cfg->bsp_max_batch > cfg->bsp_max_queue)
        cfg->bsp_max_batch = cfg->bsp_max_queue;
    read_uint(get, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 1, cfg->bsp_max_queue, &cfg->bsp_max_batch,
              &errors);
    read_uint(get, "OTEL_BSP_SCHEDULE_DELAY", 1, 3600000, &cfg->bsp_delay_ms, &errors);
    read_uint(get, "OTEL_BSP_EXPORT_TIMEOUT", 1, 3600000, &cfg->bsp_export_timeout_ms, &errors);
    read_uint(get, "TRACESHIM_MAX_HEAD_BYTES", 1024, 1048576, &cfg->max_head_bytes, &errors);
    read_uint(get, "TRACESHIM_EXIT_TIMEOUT", 0, 600000, &cfg->exit_timeout_ms, &errors);

    /* An exporter's settings are read only when it is in use: a host's
     * environment set for its SDKs (a gRPC or https collector, an agent's
     * name) says nothing to a process that exports elsewhere, and each of
     * its processes said so in a line on stderr. */
    if (cfg->exporters & (1u << TS_EXPORTER_OTLP) &&
        !read_otlp_endpoint(get, &cfg->otlp_url, &errors))
        cfg->exporters &= ~(1u << TS_EXPORTER_OTLP); /* OTLP_OFF */
    if (cfg->exporters & (1u << TS_EXPORTER_OTLP)) {
        read_signal_first(get, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", read_otlp_protocol,
                          "OTEL_EXPORTER_OTLP_PROTOCOL", read_otlp_protocol, &cfg->otlp_protocol,
                          &errors);
        read_signal_first(get, "OTEL_EXPORTER_OTLP_TRACES_HEADERS", read_otlp_headers,
                          "OTEL_EXPORTER_OTLP_HEADERS", read_otlp_headers, cfg->otlp_headers,
                          &errors);
        read_signal_first(get, "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", read_otlp_timeout,
                          "OTEL_EXPORTER_OTLP_TIMEOUT", read_otlp_timeout, &cfg->otlp_timeout_ms,
                          &errors);
    }
    read_unsupported(get, cfg->exporters, &errors);
    if (cfg->exporters & (1u << TS_EXPORTER_ZIPKIN)) {
        struct ts_url u;
        const char *why = NULL;
        v = env(get, "OTEL_EXPORTER_ZIPKIN_ENDPOINT");
        if (v && (why = ts_url_parse(v, &u)) != NULL)
            refuse_endpoint(&errors, "OTEL_EXPORTER_ZIPKIN_ENDPOINT", v, why, ZIPKIN_OFF);
        else if (v)
            cfg->zipkin_url = u;
        if (why)
            cfg->exporters &= ~(1u << TS_EXPORTER_ZIPKIN);
        else
            read_uint(get, "OTEL_EXPORTER_ZIPKIN_TIMEOUT", 1, 3600000, &cfg->zipkin_timeout_ms,
                      &errors);
    }
    if (cfg->exporters & (1u << TS_EXPORTER_JAEGER)) {
        v = env_first(get, "OTEL_EXPORTER_JAEGER_AGENT_HOST", "JAEGER_AGENT_HOST", &var);
        read_agent_host(var, v,
                        var[0] == 'O' ? "OTEL_EXPORTER_JAEGER_AGENT_PORT" : "JAEGER_AGENT_PORT",
                        cfg->jaeger_host, sizeof cfg->jaeger_host, &errors);
        read_port(get, "OTEL_EXPORTER_JAEGER_AGENT_PORT", "JAEGER_AGENT_PORT", &cfg->jaeger_port,
                  &errors);
    }
    read_bool(get, "TRACESHIM_FOLLOW_EXEC", NULL, &cfg->follow_exec, &errors);
    read_bool(get, "TRACESHIM_PROCESS_SPANS", NULL, &cfg->process_spans, &errors);
    read_bool(get, "TRACESHIM_STATS", NULL, &cfg->stats, &errors);
    read_bool(get, "TRACESHIM_DIRECT_CALLS", NULL, &cfg->direct_calls, &errors);
    read_bool(get, "TRACESHIM_DEEPBIND", NULL, &cfg->deepbind, &errors);
    read_bool(get, "TRACESHIM_SIGNAL_FLUSH", NULL, &cfg->signal_flush, &errors);
    if (env(get, "TRACESHIM_OWN_FD_TABLE")) { /* unset: decided at run time (-1) */
        bool own = true;
        int before = errors;
        read_bool(get, "TRACESHIM_OWN_FD_TABLE", NULL, &own, &errors);
        if (errors == before)
            cfg->own_fd_table = own;
    }
    v = env(get, "TRACESHIM_STACKS");
    if (v && ts_config_parse_stacks(v, &cfg->stacks, &cfg->stacks_slow_ns) != 0)
        reject(&errors, "TRACESHIM_STACKS", v,
               "off, client, all or slow:DURATION (e.g. slow:50ms)");
    return errors;
}
