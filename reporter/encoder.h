/* encoder.h — the shape every batch encoder has, so the reporter can fill,
 * split and send batches without knowing the format.
 *
 * A batch is built in two buffers: spans are encoded one at a time into a
 * "spans" buffer (span()), and when the batch is complete finish() writes
 * the whole message — envelope, resource, and the span bytes — into an
 * output buffer. bound() says how big finish() could make a batch whose
 * span bytes are spans_len long, so a batch can be cut before it passes a
 * transport's size limit (a UDP datagram, a line). */
#ifndef TS_ENCODER_H
#define TS_ENCODER_H

#include <stdbool.h>
#include <stddef.h>

#include "../preload/span.h"
#include "json_buf.h"

struct ts_encoder {
    const char *name;         /* "otlp-json", "otlp-proto", "zipkin-json", "jaeger-thrift" */
    const char *content_type; /* for HTTP transports; NULL otherwise */
    /* Append span s to spans; first is true for the first span of a batch. */
    void (*span)(struct ts_json_buf *spans, const struct ts_span *s, bool first);
    /* An upper bound of finish()'s output for span bytes of this length. */
    size_t (*bound)(size_t spans_len, size_t nspans);
    /* Append the complete message holding spans[0..spans_len) (nspans spans)
     * to out. */
    void (*finish)(struct ts_json_buf *out, const char *spans, size_t spans_len, size_t nspans);
};

extern const struct ts_encoder ts_encoder_otlp_json;
extern const struct ts_encoder ts_encoder_otlp_proto;
extern const struct ts_encoder ts_encoder_zipkin_json;
extern const struct ts_encoder ts_encoder_jaeger_thrift;

#endif
