/* zipkin_json.h — Zipkin API v2 JSON encoding of spans: a JSON list of span
 * objects, the body of POST /api/v2/spans. */
#ifndef TS_ZIPKIN_JSON_H
#define TS_ZIPKIN_JSON_H

#include "encoder.h"

void ts_zipkin_json_span(struct ts_json_buf *spans, const struct ts_span *s, bool first);
size_t ts_zipkin_json_bound(size_t spans_len, size_t nspans);
void ts_zipkin_json_finish(struct ts_json_buf *out, const char *spans, size_t spans_len,
                           size_t nspans);

#endif
