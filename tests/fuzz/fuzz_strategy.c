/* fuzz_strategy.c — libFuzzer target for what the exporters and samplers
 * read from outside: a remote sampling strategy (JSON from the agent), an
 * OTLP receiver's answer (its partial success, protobuf and JSON) and a
 * Retry-After date, and the endpoint URLs and OTLP header lists from the
 * environment.
 *
 * The input is applied as a strategy to a remote sampler, which must then
 * still decide for any operation name; it is also parsed as a URL and
 * rendered as an OTEL_EXPORTER_OTLP_HEADERS list, whose output must stay
 * inside its buffer and never hold a CR or LF but at line ends. An
 * answer's message must come out printable and bounded; a date read must
 * read back the same when written as IMF-fixdate. Invariants are checked
 * with abort(). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "preload/config.h"
#include "preload/url.h"
#include "reporter/http_date.h"
#include "reporter/otlp_response.h"
#include "reporter/sampler.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

static const char *remote_env(const char *name)
{
    if (strcmp(name, "OTEL_TRACES_SAMPLER") == 0)
        return "parentbased_jaeger_remote";
    if (strcmp(name, "OTEL_TRACES_SAMPLER_ARG") == 0)
        return "endpoint=http://127.0.0.1:5778/sampling,initialSamplingRate=0.5";
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int loaded;
    if (!loaded) {
        ts_cfg.log_level = -1; /* keep the fuzzer's output quiet */
        ts_sampler_load(remote_env);
        loaded = 1;
    }
    int r = ts_sampler_apply_strategy((const char *)data, size);
    CHECK(r == 0 || r == -1);
    uint8_t trace[TS_TRACE_ID_LEN] = {0};
    memcpy(trace, data, size < sizeof trace ? size : sizeof trace);
    (void)ts_sampler_should_sample(NULL, trace, (const char *)data, size < 200 ? size : 200);

    for (int json = 0; json < 2; json++) {
        struct ts_otlp_partial p;
        bool said = ts_otlp_partial_success((const char *)data, size, json, &p);
        size_t n = strnlen(p.message, sizeof p.message);
        CHECK(n <= TS_OTLP_MESSAGE_MAX + 3);
        for (size_t i = 0; i < n; i++)
            CHECK(p.message[i] >= 0x20 && p.message[i] < 0x7f);
        CHECK(said || (p.rejected_spans == 0 && n == 0));
    }
    int64_t at;
    if (ts_http_date_parse((const char *)data, size, 1795500000, &at) && at >= -30610224000 &&
        at < 253402300800) { /* years 1000 to 9999: what %Y writes in four digits */
        time_t t = (time_t)at;
        struct tm tm;
        char again[64];
        int64_t back;
        CHECK(gmtime_r(&t, &tm));
        size_t n = strftime(again, sizeof again, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        CHECK(n > 0);
        CHECK(ts_http_date_parse(again, n, 1795500000, &back) && back == at);
    }

    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    struct ts_url u;
    if (ts_url_parse(text, &u) == NULL) {
        CHECK(memchr(u.host, '\0', sizeof u.host) && u.host[0]);
        CHECK(memchr(u.path, '\0', sizeof u.path) && u.path[0] == '/');
        CHECK(memchr(u.authority, '\0', sizeof u.authority));
        /* the Host header's: the authority, or its IPv6 address's zone
         * left out; nothing that could end the header line */
        CHECK(memchr(u.host_header, '\0', sizeof u.host_header) && u.host_header[0]);
        size_t hh = strlen(u.host_header), zone_at = strcspn(u.authority, "%");
        CHECK(strncmp(u.host_header, u.authority, hh < zone_at ? hh : zone_at) == 0);
        CHECK(!strpbrk(u.host_header, " \r\n"));
        CHECK(u.port != 0);
        CHECK(!strpbrk(u.path, " \r\n"));
    }
    char headers[256];
    if (ts_config_render_headers(text, headers, sizeof headers) == 0) {
        size_t n = strnlen(headers, sizeof headers);
        CHECK(n < sizeof headers);
        for (size_t i = 0; i < n; i++)
            if (headers[i] == '\r' || headers[i] == '\n')
                CHECK(i + 1 < n ? (headers[i] == '\r' && headers[i + 1] == '\n') ||
                                      (headers[i] == '\n' && i > 0 && headers[i - 1] == '\r')
                                : headers[i] == '\n');
    }
    free(text);
    return 0;
}
