/* zipkin_json.c — Zipkin API v2 JSON encoding of spans (see zipkin_json.h).
 *
 * The span model is the one of openzipkin/zipkin-api zipkin2-api.yaml:
 * ids as lower-case hex, times in microseconds, the process as the local
 * endpoint, the connection's other side as the remote endpoint, and every
 * attribute as a string tag. */
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

/* The first known attribute with this key, or NULL. Zipkin tags are a map:
 * when a key repeats, the first value is the one written. */
static const struct ts_attr *zk_attr(const struct ts_span *s, const char *key)
{
    size_t n = ts_span_nattrs(s);
    for (size_t i = 0; i < n; i++)
        if (zk_known(&s->attrs[i]) && strcmp(s->attrs[i].key, key) == 0)
            return &s->attrs[i];
    return NULL;
}

/* An attribute's value as a JSON string: Zipkin tag values are strings. */
static void zk_attr_text(struct ts_json_buf *b, const struct ts_span *s, const struct ts_attr *a)
{
    size_t n;
    const char *p;
    switch (a->type) {
    case TS_ATTR_STR:
        p = ts_span_bytes(s, a->off, a->len, &n);
        ts_json_buf_string(b, p, n);
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

/* Writes lead then "ipv4":"…" or "ipv6":"…" when ip[0..n) is an address
 * of that family, and nothing otherwise (Zipkin wants an address there, not
 * a host name). Returns true when it wrote. */
static bool zk_ip(struct ts_json_buf *b, const char *lead, const char *ip, size_t n)
{
    char text[INET6_ADDRSTRLEN];
    unsigned char bin[sizeof(struct in6_addr)];
    /* a NUL would end the parse early and let the bytes after it through */
    if (n == 0 || n >= sizeof text || memchr(ip, '\0', n))
        return false;
    memcpy(text, ip, n);
    text[n] = '\0';
    bool v6 = memchr(text, ':', n) != NULL;
    if (inet_pton(v6 ? AF_INET6 : AF_INET, text, bin) != 1)
        return false;
    ts_json_buf_append_cstr(b, lead);
    ts_json_buf_append_cstr(b, v6 ? "\"ipv6\":\"" : "\"ipv4\":\"");
    ts_json_buf_append(b, text, n); /* only hex digits, '.' and ':': no escaping */
    ts_json_buf_append_char(b, '"');
    return true;
}

/* ,"port":N when attribute key holds a usable port number. */
static void zk_port(struct ts_json_buf *b, const struct ts_span *s, const char *key)
{
    const struct ts_attr *a = zk_attr(s, key);
    if (!a || a->type != TS_ATTR_INT || a->num <= 0 || a->num > 65535)
        return; /* the spec: absent if unknown, never zero */
    ts_json_buf_append_cstr(b, ",\"port\":");
    ts_json_buf_i64(b, a->num);
}

/* "localEndpoint": this process; its port is the one a server span
 * listens on. */
static void zk_local_endpoint(struct ts_json_buf *b, const struct ts_span *s)
{
    const struct ts_resource *r = ts_resource_get();
    ts_json_buf_append_cstr(b, ",\"localEndpoint\":{\"serviceName\":");
    ts_json_buf_string(b, r->service_name, strlen(r->service_name));
    zk_ip(b, ",", r->ip, strnlen(r->ip, sizeof r->ip));
    if (s->kind == TS_KIND_SERVER)
        zk_port(b, s, "server.port");
    ts_json_buf_append_char(b, '}');
}

/* "remoteEndpoint": the other side of the connection, left out when its
 * address is not known. */
static void zk_remote_endpoint(struct ts_json_buf *b, const struct ts_span *s)
{
    const struct ts_attr *a = zk_attr(s, "network.peer.address");
    if (!a || a->type != TS_ATTR_STR)
        return;
    size_t n;
    const char *p = ts_span_bytes(s, a->off, a->len, &n);
    if (!zk_ip(b, ",\"remoteEndpoint\":{", p, n))
        return;
    zk_port(b, s, "network.peer.port");
    ts_json_buf_append_char(b, '}');
}

/* One tag "key":"value" (comma first unless it is the first tag). */
static void zk_tag_key(struct ts_json_buf *b, bool *first, const char *key)
{
    if (!*first)
        ts_json_buf_append_char(b, ',');
    *first = false;
    ts_json_buf_string(b, key, strlen(key));
    ts_json_buf_append_char(b, ':');
}

/* "tags": every attribute as a string, then the status the way Zipkin
 * users look for it (OpenTelemetry's Zipkin exporter does the same):
 * otel.status_code when set, and an "error" tag on errors, whose value
 * says what went wrong when the span knows. A key the attributes already
 * have is not written twice. */
static void zk_tags(struct ts_json_buf *b, const struct ts_span *s)
{
    bool first = true;
    size_t n = ts_span_nattrs(s);
    ts_json_buf_append_cstr(b, ",\"tags\":{");
    for (size_t i = 0; i < n; i++) {
        if (!zk_known(&s->attrs[i]) || zk_attr(s, s->attrs[i].key) != &s->attrs[i])
            continue; /* unknown, or a repeated key */
        zk_tag_key(b, &first, s->attrs[i].key);
        zk_attr_text(b, s, &s->attrs[i]);
    }
    if ((s->status == TS_STATUS_OK || s->status == TS_STATUS_ERROR) &&
        !zk_attr(s, "otel.status_code")) {
        zk_tag_key(b, &first, "otel.status_code");
        ts_json_buf_append_cstr(b, s->status == TS_STATUS_OK ? "\"OK\"" : "\"ERROR\"");
    }
    if (s->status == TS_STATUS_ERROR && !zk_attr(s, "error")) {
        const struct ts_attr *why = zk_attr(s, "error.type");
        if (!why)
            why = zk_attr(s, "http.response.status_code");
        zk_tag_key(b, &first, "error");
        if (why)
            zk_attr_text(b, s, why);
        else
            ts_json_buf_append_cstr(b, "\"true\"");
    }
    ts_json_buf_append_char(b, '}');
}

void ts_zipkin_json_span(struct ts_json_buf *b, const struct ts_span *s, bool first)
{
    /* A 64-bit trace id (B3 allows them) stays 64-bit: 16 hex digits. */
    bool short_id = ts_id_is_zero(s->trace_id, TS_TRACE_ID_LEN / 2);
    ts_json_buf_append_cstr(b, first ? "{\"traceId\":\"" : ",{\"traceId\":\"");
    if (short_id)
        ts_json_buf_hex(b, s->trace_id + TS_TRACE_ID_LEN / 2, TS_TRACE_ID_LEN / 2);
    else
        ts_json_buf_hex(b, s->trace_id, TS_TRACE_ID_LEN);
    ts_json_buf_append_cstr(b, "\",\"id\":\"");
    ts_json_buf_hex(b, s->span_id, TS_SPAN_ID_LEN);
    if (!ts_id_is_zero(s->parent_id, TS_SPAN_ID_LEN)) {
        ts_json_buf_append_cstr(b, "\",\"parentId\":\"");
        ts_json_buf_hex(b, s->parent_id, TS_SPAN_ID_LEN);
    }
    ts_json_buf_append_cstr(b, "\",\"name\":");
    size_t n;
    const char *name = ts_span_bytes(s, s->name_off, s->name_len, &n);
    ts_json_buf_string(b, name, n);
    if (s->kind == TS_KIND_SERVER || s->kind == TS_KIND_CLIENT)
        ts_json_buf_append_cstr(b, s->kind == TS_KIND_SERVER ? ",\"kind\":\"SERVER\""
                                                             : ",\"kind\":\"CLIENT\"");
    ts_json_buf_append_cstr(b, ",\"timestamp\":");
    ts_json_buf_u64(b, s->start_ns / 1000);
    /* Durations below 1 µs are rounded up (the spec); a damaged end before
     * the start must not wrap around. */
    uint64_t dur = s->end_ns > s->start_ns ? (s->end_ns - s->start_ns) / 1000 : 0;
    ts_json_buf_append_cstr(b, ",\"duration\":");
    ts_json_buf_u64(b, dur ? dur : 1);
    zk_local_endpoint(b, s);
    zk_remote_endpoint(b, s);
    zk_tags(b, s);
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

const struct ts_encoder ts_encoder_zipkin_json = {
    .name = "zipkin-json",
    .content_type = "application/json",
    .span = ts_zipkin_json_span,
    .bound = ts_zipkin_json_bound,
    .head_max = zk_head_max,
    .seal = zk_seal,
    .finish = ts_zipkin_json_finish,
};
