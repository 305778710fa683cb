/* otlp_response.h — what an OTLP/HTTP receiver says in the body of a 2xx
 * answer: ExportTraceServiceResponse's partial_success, the spans it
 * rejected and why (opentelemetry-proto, collector/trace/v1), in the
 * encoding the request was sent in. A receiver that rejects part of a
 * batch still answers 200 and must not be sent the batch again, so this
 * is the only way the exporter learns that those spans were lost. */
#ifndef TS_OTLP_RESPONSE_H
#define TS_OTLP_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The receiver's message is shown cut to this many bytes. */
#define TS_OTLP_MESSAGE_MAX 200

struct ts_otlp_partial {
    uint64_t rejected_spans;
    /* error_message, NUL-terminated: bytes outside printable ASCII shown
     * as '?' (it goes into the program's stderr), cut with "..." */
    char message[TS_OTLP_MESSAGE_MAX + 4];
};

/* Read body[0..len), protobuf or (json) OTLP/JSON. True when it holds a
 * partial success that says something: spans rejected, or a message (a
 * warning about spans all taken). False for an empty body, an empty
 * partial_success, and a body that does not decode: a receiver that
 * answered 2xx has taken the batch. */
bool ts_otlp_partial_success(const char *body, size_t len, bool json, struct ts_otlp_partial *out);

#endif
