/* resource.h — what describes this process to a tracing backend: the OTel
 * resource attributes (service.name, process.pid, host.name, telemetry.sdk.*,
 * then OTEL_RESOURCE_ATTRIBUTES), this host's IP address and a client uuid.
 * Every encoder takes them from here (OTLP as the resource, Jaeger as the
 * process tags, Zipkin as the local endpoint), so all exporters describe the
 * process the same way.
 *
 * Built on first use and again after fork (the pid and the uuid change).
 * Not thread-safe: only the reporter calls it, under its export mutex. */
#ifndef TS_RESOURCE_H
#define TS_RESOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "../preload/span.h" /* enum ts_attr_type */

#define TS_RESOURCE_MAX_ATTRS 64

/* The instrumentation scope every span is reported under: OTLP's
 * InstrumentationScope, Jaeger's and Zipkin's otel.scope.name tag (its
 * version is TS_VERSION). */
#define TS_SCOPE_NAME "traceshim"

struct ts_resource_attr {
    const char *key; /* not NUL-terminated: use klen */
    size_t klen;
    uint8_t type; /* TS_ATTR_STR or TS_ATTR_INT */
    const char *str;
    size_t slen;
    int64_t num;
};

struct ts_resource {
    struct ts_resource_attr attrs[TS_RESOURCE_MAX_ATTRS];
    size_t nattrs;
    const char *service_name; /* NUL-terminated */
    char ip[48];              /* see ts_resource_host_ip ("" until it is asked for) */
    char client_uuid[37];     /* random, per process: 8-4-4-4-12 lower-case hex */
    unsigned generation;      /* changes each time it is rebuilt: lets encoders cache */
    /* storage the attributes point into */
    char scratch[2048];
};

/* The resource of this process (built now if needed). Never NULL. */
const struct ts_resource *ts_resource_get(void);

/* This host's address, for the backends that want one (Jaeger's "ip"
 * tag, Zipkin's localEndpoint): the first non-loopback IPv4 address of an
 * interface that is up, else such an IPv6 address, else 127.0.0.1. Looked
 * up (every interface's addresses, over netlink) only when first asked
 * for, once per process: the OTLP and file exporters never ask. */
const char *ts_resource_host_ip(void);

/* Forget the cached resource (after fork, or in tests after changing the
 * configuration): the next ts_resource_get builds it again. */
void ts_resource_reset(void);

#endif
