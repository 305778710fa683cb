/* otlp_lines.h — for the view tests (test_view.c, test_trace_views.c):
 * macros that build OTLP/JSON lines as the file exporter writes them, and a
 * model built from such lines. Include after cmocka.h and trace_model.h. */
#ifndef TS_TEST_OTLP_LINES_H
#define TS_TEST_OTLP_LINES_H

#define TID "5b8efff798038103d269b633813fc60c"
#define TID2 "0af7651916cd43dd8448eb211c80319c"
#define T0 "1700000000"
/* one resource with service name and pid, one scope, the given spans */
#define RES(svc, pid, spans)                                                                       \
    "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":{"     \
    "\"stringValue\":\"" svc "\"}},{\"key\":\"process.pid\",\"value\":{\"intValue\":\"" pid        \
    "\"}}]},\"scopeSpans\":[{\"scope\":{\"name\":\"traceshim\",\"version\":\"0.1.0\"},"            \
    "\"spans\":[" spans "]}]}]}\n"
/* a span; times are nanoseconds after T0 * 1e9 written as 9 digits */
#define SPAN(tid, sid, parent, name, kind, start9, end9, extra)                                    \
    "{\"traceId\":\"" tid "\",\"spanId\":\"" sid "\",\"parentSpanId\":\"" parent                   \
    "\",\"name\":\"" name "\",\"kind\":" kind ",\"startTimeUnixNano\":\"" T0 start9                \
    "\",\"endTimeUnixNano\":\"" T0 end9 "\"" extra "}"
#define HTTP(code)                                                                                 \
    ",\"attributes\":[{\"key\":\"http.response.status_code\",\"value\":{\"intValue\":\"" code      \
    "\"}}]"
#define ERR(msg) ",\"status\":{\"code\":2,\"message\":\"" msg "\"}"

/* a resource that also names its host (host.name), for clock questions */
#define RES_HOST(svc, pid, host, spans)                                                            \
    "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":{"     \
    "\"stringValue\":\"" svc "\"}},{\"key\":\"process.pid\",\"value\":{\"intValue\":\"" pid        \
    "\"}},{\"key\":\"host.name\",\"value\":{\"stringValue\":\"" host "\"}}]},"                     \
    "\"scopeSpans\":[{\"spans\":[" spans "]}]}]}\n"

/* A built model of the given lines; any rejected line fails the test. */
__attribute__((unused)) static ts_tm_model *model_of(const char *const *lines, size_t n)
{
    ts_tm_model *m = ts_tm_new();
    assert_non_null(m);
    for (size_t i = 0; i < n; i++) {
        char err[256];
        int rc = ts_tm_add_line(m, lines[i], strlen(lines[i]), i + 1, err, sizeof(err));
        if (rc < 0 || err[0])
            fail_msg("line %zu rejected (%d): %s", i + 1, rc, err);
    }
    assert_int_equal(ts_tm_build(m), 0);
    return m;
}

__attribute__((unused, noinline)) static char *render_trace(const ts_tm_model *m,
                                                            const ts_tm_trace *t)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    if (t)
        ts_tm_render_trace(f, m, t);
    else
        ts_tm_render(f, m);
    fclose(f);
    return buf;
}

#endif
