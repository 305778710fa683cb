/* zipkin_json.c — Zipkin API v2 JSON encoding of spans (see zipkin_json.h).
 *
 * The span model is the one of openzipkin/zipkin-api zipkin2-api.yaml:
 * ids as lower-case hex, times in microseconds, the process as the local
 * endpoint, the connection's other side as the remote endpoint, and every
 * attribute as a string tag, then the resource's attributes too (Zipkin
 * has no resource). */
#include "zipkin_json.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

#include "resource.h"

/* True for an attribute an encoder can write: it has a key and a type we
 * know how to name. */
static bool zk_known(const struct ts_attr *a)
{
    return a->key && a->type <= TS_ATTR_BOOL;
}

/* ------------------------------------------------------------ the keys */

/* The keys the encoder looks for among a span's attributes. */
enum zk_role {
    ZK_OTHER,
    ZK_SERVER_ADDRESS,
    ZK_PEER_ADDRESS,
    ZK_PEER_PORT,
    ZK_OTEL_STATUS,
    ZK_ERROR,
    ZK_ERROR_TYPE,
    ZK_HTTP_STATUS,
    ZK_DROPPED,
    ZK_NROLES,
};

static const char *const zk_role_keys[ZK_NROLES] = {
    [ZK_SERVER_ADDRESS] = "server.address",
    [ZK_PEER_ADDRESS] = "network.peer.address",
    [ZK_PEER_PORT] = "network.peer.port",
    [ZK_OTEL_STATUS] = "otel.status_code",
    [ZK_ERROR] = "error",
    [ZK_ERROR_TYPE] = "error.type",
    [ZK_HTTP_STATUS] = "http.response.status_code",
    [ZK_DROPPED] = "otel.dropped_attributes_count",
};

_Static_assert(ZK_NROLES <= 16, "a role is the low 4 bits of a key's info word");

static enum zk_role zk_role_of(const char *key)
{
    for (int r = ZK_OTHER + 1; r < ZK_NROLES; r++)
        if (strcmp(key, zk_role_keys[r]) == 0)
            return (enum zk_role)r;
    return ZK_OTHER;
}

/* A hash of a key's text (FNV-1a), cut to the bits a key's info word
 * has beside its role. The span's keys and the resource's are compared by
 * it first. */
static uint32_t zk_key_hash(const char *key, size_t klen)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < klen; i++)
        h = (h ^ (unsigned char)key[i]) * 16777619u;
    return h & 0x0fffffffu;
}

/* A key's role and its hash, together in one word: a key-table entry's
 * info, or worked out for a key that has no entry. */
static uint32_t zk_key_info(const char *key, size_t klen)
{
    return zk_key_hash(key, klen) << 4 | (uint32_t)zk_role_of(key);
}

#define ZK_ROLE(info) ((enum zk_role)((info) & 15))
#define ZK_HASH(info) ((info) >> 4)

/* A tag's key as written, with the comma before it: ,"http.route": */
static size_t zk_key_frag(char *text, const char *key, size_t klen, size_t *at, uint32_t *info)
{
    if (klen + 4 > TS_KEY_FRAG_MAX - 1 || ts_json_plain_len(key, klen) != klen)
        return 0; /* long, or to be escaped: written the long way */
    char *o = TS_PUT_LIT(text, ",\"");
    *at = (size_t)(o - text);
    o = ts_put(o, key, klen);
    o = TS_PUT_LIT(o, "\":");
    *info = zk_key_info(key, klen);
    return (size_t)(o - text);
}

static struct ts_key_frags zk_keys; /* reporter thread only */

/* ------------------------------------------------------------ the process */

/* Zipkin has no resource: the resource attributes go into every span's
 * tags, as OpenTelemetry's Zipkin exporters do (the JS SDK's, the
 * Collector's), but service.name, which is the serviceName. That text is
 * the same for every span of a resource, so it is made once and copied;
 * a span attribute with the key of one of them (its own value wins)
 * makes the copy leave that one out. */

/* One resource tag, within zk_res's texts. */
struct zk_res_tag {
    uint32_t hash;  /* zk_key_hash of the key as written */
    size_t key_off; /* the key as written (valid UTF-8) in zk_res.keys */
    size_t key_len;
    size_t end; /* where the tag ends in zk_res.tags */
};

_Static_assert(TS_RESOURCE_MAX_ATTRS <= 64, "a bit of a uint64_t per resource tag");

/* A key hash's place among the 256 bits of a key filter (zk_look's
 * span keys, zk_res's tag keys), its bits mixed first: the low bits of
 * FNV-1a alone put 4 of a server span's 12 keys on places already taken
 * among 64, and url.path and url.scheme on one place among 256; a key on
 * a taken place is compared with the keys before it. */
static inline unsigned zk_key_slot(uint32_t hash)
{
    return (hash * 0x9E3779B1u) >> 24;
}

/* What is kept of this process: the same for every span until the
 * resource is rebuilt (after fork). Reporter thread only. */
static struct {
    unsigned generation;      /* of the resource written here; 0: none yet */
    struct ts_json_buf local; /* ,"localEndpoint":{...} */
    struct ts_json_buf tags;  /* ,"key":"value" for each resource tag */
    struct ts_json_buf keys;  /* the tags' keys, one after another */
    struct zk_res_tag tag[TS_RESOURCE_MAX_ATTRS];
    size_t ntags;
    /* A bit per tag key, by zk_key_slot: an attribute key whose bit is
     * clear, nearly every one, is no tag's, and no key is compared. */
    uint64_t filter[4];
} zk_res;

/* False when no resource tag's key has this zk_key_hash: a look at one
 * bit, inline, for each attribute of each span. */
static inline bool zk_res_may_name(uint32_t hash)
{
    unsigned slot = zk_key_slot(hash);
    return zk_res.filter[slot >> 6] >> (slot & 63) & 1;
}

/* The bit of the resource tag whose key is key (hash: its zk_key_hash),
 * or 0 when none has it. */
static __attribute__((noinline)) uint64_t zk_res_tag_named(const char *key, uint32_t hash)
{
    for (size_t i = 0; i < zk_res.ntags; i++) {
        const struct zk_res_tag *t = &zk_res.tag[i];
        if (t->hash == hash && strlen(key) == t->key_len &&
            memcmp(key, zk_res.keys.data + t->key_off, t->key_len) == 0)
            return (uint64_t)1 << i;
    }
    return 0;
}

/* What one look at a span's attributes finds: each attribute's key entry
 * (NULL: none), which to write (known, and the first with its key: Zipkin
 * tags are a map, so when a key repeats the first value is the one
 * written), the first attribute with each key the encoder looks for, and
 * the resource tags whose keys the attributes have (a bit per tag of
 * zk_res). */
struct zk_attrs {
    const struct ts_key_frag *key[TS_SPAN_MAX_ATTRS];
    bool write[TS_SPAN_MAX_ATTRS];
    const struct ts_attr *role[ZK_NROLES];
    uint64_t res_taken;
};

/* The last look that can be kept, with what it was of: spans of one
 * kind carry the same keys with the same types in the same order, and a
 * span whose attributes have the very keys of that look (literals of the
 * shim's, by address: their text never changes) and types, in its
 * order, under the same resource, finds the same. Its roles are kept by
 * position. Reporter thread only; zk_forget empties it. */
static struct {
    bool valid;
    unsigned generation; /* zk_res's */
    size_t n;
    const char *key[TS_SPAN_MAX_ATTRS];
    uint8_t type[TS_SPAN_MAX_ATTRS];
    int8_t role_at[ZK_NROLES]; /* the attribute's position; -1: none */
    struct zk_attrs z;         /* its role[] set for the span looked at */
} zk_last;

/* Whether s's attributes are the ones of the kept look. */
static inline bool zk_last_fits(const struct ts_span *s, size_t n)
{
    if (!zk_last.valid || zk_last.n != n || zk_last.generation != zk_res.generation)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s->attrs[i].key != zk_last.key[i] || s->attrs[i].type != zk_last.type[i])
            return false;
    return true;
}

/* Keeps the look z of s, when every key it wrote has a literal's entry. */
static void zk_last_keep(const struct ts_span *s, size_t n, const struct zk_attrs *z)
{
    for (size_t i = 0; i < n; i++)
        if (zk_known(&s->attrs[i]) && !(z->key[i] && z->key[i]->literal))
            return;
    zk_last.valid = false;
    for (size_t i = 0; i < n; i++) {
        zk_last.key[i] = s->attrs[i].key;
        zk_last.type[i] = s->attrs[i].type;
    }
    for (int r = 0; r < ZK_NROLES; r++)
        zk_last.role_at[r] = z->role[r] ? (int8_t)(z->role[r] - s->attrs) : -1;
    zk_last.z = *z;
    zk_last.n = n;
    zk_last.generation = zk_res.generation;
    zk_last.valid = true;
}

/* What s's attributes are (z: room for a new look); the kept look when
 * it fits. */
static const struct zk_attrs *zk_look(const struct ts_span *s, struct zk_attrs *z)
{
    size_t n = ts_span_nattrs(s);
    if (zk_last_fits(s, n)) {
        for (int r = 0; r < ZK_NROLES; r++)
            zk_last.z.role[r] = zk_last.role_at[r] < 0 ? NULL : &s->attrs[zk_last.role_at[r]];
        return &zk_last.z;
    }
    memset(z->role, 0, sizeof z->role);
    z->res_taken = 0;
    uint32_t hash[TS_SPAN_MAX_ATTRS];
    uint64_t seen[4] = {0}; /* a bit per key so far, by zk_key_slot */
    for (size_t i = 0; i < n; i++) {
        const struct ts_attr *a = &s->attrs[i];
        z->write[i] = false;
        z->key[i] = NULL;
        if (!zk_known(a))
            continue;
        const struct ts_key_frag *k = ts_key_frag_get(&zk_keys, a->key, zk_key_frag);
        uint32_t info = k ? k->info : zk_key_info(a->key, strlen(a->key));
        z->key[i] = k;
        hash[i] = ZK_HASH(info);
        unsigned slot = zk_key_slot(hash[i]);
        uint64_t bit = (uint64_t)1 << (slot & 63);
        bool repeated = false;
        if (seen[slot >> 6] & bit) /* maybe a repeat: only then are keys compared */
            for (size_t j = 0; j < i && !repeated; j++)
                repeated = z->write[j] && hash[j] == hash[i] && strcmp(s->attrs[j].key, a->key) == 0;
        seen[slot >> 6] |= bit;
        if (repeated)
            continue;
        z->write[i] = true;
        if (zk_res_may_name(hash[i]))
            z->res_taken |= zk_res_tag_named(a->key, hash[i]);
        if (ZK_ROLE(info) != ZK_OTHER)
            z->role[ZK_ROLE(info)] = a;
    }
    zk_last_keep(s, n, z);
    return z;
}

/* ------------------------------------------------------------ the parts */

/* An attribute's value as a JSON string (Zipkin tag values are strings):
 * at most TS_JSON_STRING_MAX of its bytes, or 22 bytes for a number. */
static char *zk_put_attr_text(char *o, const struct ts_span *s, const struct ts_attr *a)
{
    size_t n;
    const char *p;
    switch (a->type) {
    case TS_ATTR_STR:
        p = ts_span_bytes(s, a->off, a->len, &n);
        return ts_put_json_string(o, p, n);
    case TS_ATTR_INT:
        *o++ = '"';
        o = ts_put_i64(o, a->num);
        *o++ = '"';
        return o;
    default:
        return a->num ? TS_PUT_LIT(o, "\"true\"") : TS_PUT_LIT(o, "\"false\"");
    }
}

static size_t zk_attr_text_max(const struct ts_attr *a)
{
    return a->type == TS_ATTR_STR ? TS_JSON_STRING_MAX(a->len) : TS_I64_CHARS_MAX + 2;
}

/* The address zk_ip accepted last, and its family (encoders run under
 * the export lock; zk_forget empties it): a peer's address repeats from
 * span to span, and inet_pton was most of a span's endpoint. */
static struct {
    size_t n; /* 0: none */
    bool v6;
    char text[INET6_ADDRSTRLEN];
} zk_ip_last;

/* Writes lead then "ipv4":"…" or "ipv6":"…" when ip[0..n) is an address
 * of that family, and nothing otherwise (Zipkin wants an address there, not
 * a host name). Returns true when it wrote. */
static bool zk_ip(struct ts_json_buf *b, const char *lead, const char *ip, size_t n)
{
    char text[INET6_ADDRSTRLEN];
    unsigned char bin[sizeof(struct in6_addr)];
    if (n == 0 || n >= sizeof text)
        return false;
    bool v6 = zk_ip_last.v6;
    if (n != zk_ip_last.n || memcmp(ip, zk_ip_last.text, n) != 0) {
        /* a NUL would end the parse early and let the bytes after it through */
        if (memchr(ip, '\0', n))
            return false;
        memcpy(text, ip, n);
        text[n] = '\0';
        v6 = memchr(text, ':', n) != NULL;
        if (inet_pton(v6 ? AF_INET6 : AF_INET, text, bin) != 1)
            return false;
        memcpy(zk_ip_last.text, text, n);
        zk_ip_last.n = n;
        zk_ip_last.v6 = v6;
    }
    ts_json_buf_append_cstr(b, lead);
    ts_json_buf_append_cstr(b, v6 ? "\"ipv6\":\"" : "\"ipv4\":\"");
    ts_json_buf_append(b, ip, n); /* only hex digits, '.' and ':': no escaping */
    ts_json_buf_append_char(b, '"');
    return true;
}

/* ,"port":N when a holds a usable port number. */
static void zk_port(struct ts_json_buf *b, const struct ts_attr *a)
{
    if (!a || a->type != TS_ATTR_INT || a->num <= 0 || a->num > 65535)
        return; /* the spec: absent if unknown, never zero */
    char *o = ts_json_buf_room(b, 16);
    if (o)
        ts_json_buf_commit(b, ts_put_i64(TS_PUT_LIT(o, ",\"port\":"), a->num));
}

/* True when a resource attribute with the key key[0..n) (as written) is
 * not a tag: service.name (the serviceName), a key the tags have already
 * (two keys can read the same once made valid UTF-8), and the tags
 * zk_tags writes itself, the status and the scope (a resource "error"
 * would mark every span of the process failed). */
static bool zk_res_key_left_out(const char *key, size_t n)
{
    static const char *const own[] = {"service.name",    "otel.status_code",
                                      "error",           "otel.dropped_attributes_count",
                                      "otel.scope.name", "otel.scope.version"};
    for (size_t i = 0; i < sizeof own / sizeof *own; i++)
        if (strlen(own[i]) == n && memcmp(own[i], key, n) == 0)
            return true;
    for (size_t i = 0; i < zk_res.ntags; i++) {
        const struct zk_res_tag *t = &zk_res.tag[i];
        if (t->key_len == n && memcmp(zk_res.keys.data + t->key_off, key, n) == 0)
            return true;
    }
    return false;
}

/* A resource attribute's value as a tag's (a string), as zk_put_attr_text
 * writes an attribute's. */
static void zk_res_value(struct ts_json_buf *b, const struct ts_resource_attr *a)
{
    switch (a->type) {
    case TS_ATTR_STR:
        ts_json_buf_string(b, a->str, a->slen);
        break;
    case TS_ATTR_INT:
        ts_json_buf_append_char(b, '"');
        ts_json_buf_i64(b, a->num);
        ts_json_buf_append_char(b, '"');
        break;
    default:
        ts_json_buf_append_cstr(b, a->num ? "\"true\"" : "\"false\"");
        break;
    }
}

/* The resource's tags, in its order. */
static void zk_res_tags_build(const struct ts_resource *r)
{
    struct ts_json_buf *keys = &zk_res.keys, *tags = &zk_res.tags;
    for (size_t i = 0; i < r->nattrs && i < TS_RESOURCE_MAX_ATTRS; i++) {
        const struct ts_resource_attr *a = &r->attrs[i];
        if (a->type > TS_ATTR_BOOL)
            continue;
        size_t key_off = keys->len;
        ts_json_buf_utf8(keys, a->key, a->klen);
        if (keys->failed)
            return;
        size_t key_len = keys->len - key_off;
        if (zk_res_key_left_out(keys->data + key_off, key_len)) {
            ts_json_buf_truncate(keys, key_off);
            continue;
        }
        uint32_t hash = zk_key_hash(keys->data + key_off, key_len);
        ts_json_buf_append_char(tags, ',');
        ts_json_buf_string(tags, keys->data + key_off, key_len);
        ts_json_buf_append_char(tags, ':');
        zk_res_value(tags, a);
        zk_res.tag[zk_res.ntags++] = (struct zk_res_tag){hash, key_off, key_len, tags->len};
        unsigned slot = zk_key_slot(hash);
        zk_res.filter[slot >> 6] |= (uint64_t)1 << (slot & 63);
    }
}

/* "localEndpoint": this process, its service name and address. No port:
 * a server span's server.port is the one its request named (a proxy in
 * front names its own), not the one this process listens on. The whole
 * object, closing brace included, is the same for every span. */
static void zk_local_build(const struct ts_resource *r)
{
    struct ts_json_buf *l = &zk_res.local;
    ts_json_buf_append_cstr(l, ",\"localEndpoint\":{\"serviceName\":");
    ts_json_buf_string(l, r->service_name, strlen(r->service_name));
    const char *ip = ts_resource_host_ip();
    zk_ip(l, ",", ip, strlen(ip));
    ts_json_buf_append_char(l, '}');
}

/* zk_res made for the resource as it is now; false when it could not be
 * (out of memory). */
static bool zk_res_current(void)
{
    const struct ts_resource *r = ts_resource_get();
    if (zk_res.generation == r->generation)
        return true;
    ts_json_buf_reset(&zk_res.local);
    ts_json_buf_reset(&zk_res.tags);
    ts_json_buf_reset(&zk_res.keys);
    zk_res.ntags = 0;
    memset(zk_res.filter, 0, sizeof zk_res.filter);
    zk_local_build(r);
    zk_res_tags_build(r);
    bool made = !zk_res.local.failed && !zk_res.tags.failed && !zk_res.keys.failed;
    zk_res.generation = made ? r->generation : 0;
    return made;
}

/* "remoteEndpoint": the other side of the connection, left out when
 * neither its address nor its name is known. A client span's serviceName
 * is the server it called (server.address: the OpenTelemetry Zipkin
 * mapping ranks it first among what the shim records); Zipkin's
 * dependency graph draws a link to an uninstrumented backend from it. */
static void zk_remote_endpoint(struct ts_json_buf *b, const struct ts_span *s,
                               const struct zk_attrs *z)
{
    const struct ts_attr *name = s->kind == TS_KIND_CLIENT ? z->role[ZK_SERVER_ADDRESS] : NULL;
    const struct ts_attr *a = z->role[ZK_PEER_ADDRESS];
    const char *v = NULL;
    size_t vlen = 0, n;
    if (name && name->type == TS_ATTR_STR)
        v = ts_span_bytes(s, name->off, name->len, &vlen);
    if (!vlen) /* none, or empty (as stored, or cut off by a damaged record) */
        name = NULL;
    if (a && a->type != TS_ATTR_STR)
        a = NULL;
    if (!name && !a)
        return;
    size_t mark = b->len;
    ts_json_buf_append_cstr(b, ",\"remoteEndpoint\":{");
    if (name) {
        ts_json_buf_append_cstr(b, "\"serviceName\":");
        ts_json_buf_string(b, v, vlen);
    }
    if (a) {
        const char *p = ts_span_bytes(s, a->off, a->len, &n);
        if (zk_ip(b, name ? "," : "", p, n))
            zk_port(b, z->role[ZK_PEER_PORT]);
        else if (!name)
            a = NULL;
    }
    if (!name && !a) { /* an address that is no IP, and no name: nothing to say */
        b->len = mark;
        return;
    }
    ts_json_buf_append_char(b, '}');
}

/* The resource's tags but the ones in taken (a bit per tag: the span's
 * attributes have their keys), after first's comma rule. Returns
 * whether the next tag is still the first. */
static __attribute__((noinline)) bool zk_res_tags_but(struct ts_json_buf *b, uint64_t taken,
                                                      bool first)
{
    size_t start = 0;
    for (size_t i = 0; i < zk_res.ntags; i++) {
        size_t end = zk_res.tag[i].end;
        if (!(taken >> i & 1)) {
            ts_json_buf_append(b, zk_res.tags.data + start + first, end - start - first);
            first = false;
        }
        start = end;
    }
    return first;
}

/* "tags": every attribute as a string, then the resource's attributes
 * (Zipkin has no resource), then the status the way Zipkin users look for
 * it (OpenTelemetry's Zipkin exporter does the same): otel.status_code
 * when set, and an "error" tag on errors, whose value says what went
 * wrong when the span knows; then otel.dropped_attributes_count when the
 * span left attributes out, and last the instrumentation scope
 * (otel.scope.name and .version): the OpenTelemetry mapping to non-OTLP
 * formats, for fields Zipkin has none of (the count as a string, as every
 * Zipkin tag is, and only when not 0). A key the attributes already have
 * is not written twice. */
static void zk_tags(struct ts_json_buf *b, const struct ts_span *s, const struct zk_attrs *z)
{
    bool first = true; /* no comma before the first tag */
    ts_json_buf_append_cstr(b, ",\"tags\":{");
    size_t n = ts_span_nattrs(s);
    for (size_t i = 0; i < n; i++) {
        if (!z->write[i])
            continue;
        const struct ts_attr *a = &s->attrs[i];
        const struct ts_key_frag *k = z->key[i];
        size_t kmax = k ? TS_KEY_FRAG_MAX : TS_JSON_STRING_MAX(strlen(a->key)) + 2;
        char *o = ts_json_buf_room(b, kmax + zk_attr_text_max(a));
        if (!o)
            return;
        if (k) {
            /* the whole fragment buffer, a fixed size the compiler turns
             * into a few moves; the end is set where the fragment ends */
            memcpy(o, k->text + first, TS_KEY_FRAG_MAX - 1);
            o += k->len - first;
        } else {
            if (!first)
                *o++ = ',';
            o = ts_put_json_string(o, a->key, strlen(a->key));
            *o++ = ':';
        }
        first = false;
        ts_json_buf_commit(b, zk_put_attr_text(o, s, a));
    }
    if (zk_res.ntags && !z->res_taken) { /* nearly every span: one copy */
        ts_json_buf_append(b, zk_res.tags.data + first, zk_res.tags.len - first);
        first = false;
    } else if (zk_res.ntags) {
        first = zk_res_tags_but(b, z->res_taken, first);
    }
    const struct ts_attr *why = z->role[ZK_ERROR_TYPE] ? z->role[ZK_ERROR_TYPE]
                                                        : z->role[ZK_HTTP_STATUS];
    static const char scope[] =
        "\"otel.scope.name\":\"" TS_SCOPE_NAME "\",\"otel.scope.version\":\"" TS_VERSION "\"}";
    static const char dropped[] = ",\"otel.dropped_attributes_count\":\"";
    char *o = ts_json_buf_room(b, 64 + sizeof scope + (why ? zk_attr_text_max(why) : 0) +
                                      sizeof dropped + TS_I64_CHARS_MAX + 1);
    if (!o)
        return;
    if ((s->status == TS_STATUS_OK || s->status == TS_STATUS_ERROR) && !z->role[ZK_OTEL_STATUS]) {
        o = first ? TS_PUT_LIT(o, "\"otel.status_code\":") : TS_PUT_LIT(o, ",\"otel.status_code\":");
        o = s->status == TS_STATUS_OK ? TS_PUT_LIT(o, "\"OK\"") : TS_PUT_LIT(o, "\"ERROR\"");
        first = false;
    }
    if (s->status == TS_STATUS_ERROR && !z->role[ZK_ERROR]) {
        o = first ? TS_PUT_LIT(o, "\"error\":") : TS_PUT_LIT(o, ",\"error\":");
        o = why ? zk_put_attr_text(o, s, why) : TS_PUT_LIT(o, "\"true\"");
        first = false;
    }
    if (__builtin_expect(s->dropped_attrs != 0, 0) && !z->role[ZK_DROPPED]) {
        o = ts_put(o, dropped + first, sizeof dropped - 1 - first);
        o = ts_put_u64(o, s->dropped_attrs);
        *o++ = '"';
        first = false;
    }
    if (!first)
        *o++ = ',';
    o = TS_PUT_LIT(o, scope); /* with the closing brace */
    ts_json_buf_commit(b, o);
}

/* The most bytes of a span's start besides its name: the punctuation and
 * field names (under 100), the ids (64 hex digits), two numbers. */
#define ZK_SPAN_HEAD_MAX 224

/* The leading digits of the last timestamp written (reporter thread only,
 * like zk_keys). */
static struct ts_digits_memo zk_times;

void ts_zipkin_json_span(struct ts_json_buf *b, const struct ts_span *s, bool first)
{
    if (!zk_res_current()) {
        b->failed = true;
        return;
    }
    struct zk_attrs room;
    const struct zk_attrs *z = zk_look(s, &room);
    size_t name_len;
    const char *name = ts_span_bytes(s, s->name_off, s->name_len, &name_len);
    char *o = ts_json_buf_room(b, ZK_SPAN_HEAD_MAX + TS_JSON_STRING_MAX(name_len));
    if (!o)
        return;
    o = first ? TS_PUT_LIT(o, "{\"traceId\":\"") : TS_PUT_LIT(o, ",{\"traceId\":\"");
    /* A 64-bit trace id (B3 allows them) stays 64-bit: 16 hex digits. */
    if (ts_enc_id8_is_zero(s->trace_id))
        o = ts_put_hex(o, s->trace_id + TS_TRACE_ID_LEN / 2, TS_TRACE_ID_LEN / 2);
    else
        o = ts_put_hex(o, s->trace_id, TS_TRACE_ID_LEN);
    o = TS_PUT_LIT(o, "\",\"id\":\"");
    o = ts_put_hex(o, s->span_id, TS_SPAN_ID_LEN);
    if (!ts_enc_id8_is_zero(s->parent_id)) {
        o = TS_PUT_LIT(o, "\",\"parentId\":\"");
        o = ts_put_hex(o, s->parent_id, TS_SPAN_ID_LEN);
    }
    o = TS_PUT_LIT(o, "\",\"name\":");
    o = ts_put_json_string(o, name, name_len);
    if (s->kind == TS_KIND_SERVER)
        o = TS_PUT_LIT(o, ",\"kind\":\"SERVER\"");
    else if (s->kind == TS_KIND_CLIENT)
        o = TS_PUT_LIT(o, ",\"kind\":\"CLIENT\"");
    o = TS_PUT_LIT(o, ",\"timestamp\":");
    o = ts_put_u64_memo(o, s->start_ns / 1000, &zk_times);
    /* Durations below 1 µs are rounded up (the spec); a damaged end before
     * the start must not wrap around. */
    uint64_t dur = s->end_ns > s->start_ns ? (s->end_ns - s->start_ns) / 1000 : 0;
    o = TS_PUT_LIT(o, ",\"duration\":");
    o = ts_put_u64(o, dur ? dur : 1);
    ts_json_buf_commit(b, o);
    ts_json_buf_append(b, zk_res.local.data, zk_res.local.len);
    zk_remote_endpoint(b, s, z);
    zk_tags(b, s, z);
    /* Zipkin's debug: its collector keeps the span whatever it samples */
    static const char debug_end[] = ",\"debug\":true}";
    if (s->sampled & TS_SPAN_DEBUG)
        ts_json_buf_append(b, debug_end, sizeof debug_end - 1);
    else
        ts_json_buf_append_char(b, '}');
}

size_t ts_zipkin_json_bound(size_t spans_len, size_t nspans)
{
    (void)nspans;
    return spans_len + 2;
}

/* The message is a JSON list: '[' before the spans, ']' after them. */
static size_t zk_head_max(void)
{
    return 1;
}

static size_t zk_seal(struct ts_json_buf *batch, size_t room_start, size_t spans_off,
                      size_t nspans)
{
    (void)nspans;
    size_t msg = ts_json_buf_put_before(batch, room_start, spans_off, "[", 1);
    ts_json_buf_append_char(batch, ']');
    return batch->failed ? SIZE_MAX : msg;
}

void ts_zipkin_json_finish(struct ts_json_buf *out, const char *spans, size_t spans_len,
                           size_t nspans)
{
    ts_encoder_finish_by_seal(zk_head_max, zk_seal, out, spans, spans_len, nspans);
}

static void zk_forget(void)
{
    ts_key_frags_forget(&zk_keys);
    zk_last.valid = false;
    memset(&zk_times, 0, sizeof zk_times);
    /* a fork amid its stores could leave an address with another's family */
    memset(&zk_ip_last, 0, sizeof zk_ip_last);
    /* leaked on purpose: may be mid-realloc */
    ts_json_buf_init(&zk_res.local);
    ts_json_buf_init(&zk_res.tags);
    ts_json_buf_init(&zk_res.keys);
    zk_res.ntags = 0;
    memset(zk_res.filter, 0, sizeof zk_res.filter);
    zk_res.generation = 0;
}

const struct ts_encoder ts_encoder_zipkin_json = {
    .name = "zipkin-json",
    .content_type = "application/json",
    .span = ts_zipkin_json_span,
    .bound = ts_zipkin_json_bound,
    .head_max = zk_head_max,
    .seal = zk_seal,
    .finish = ts_zipkin_json_finish,
    .forget = zk_forget,
};
