/* encoder.h — the shape every batch encoder has, so the reporter can fill,
 * split and send batches without knowing the format.
 *
 * A batch is built in one buffer, in place: the buffer starts with
 * head_max() bytes of free room, spans are encoded one at a time after it
 * (span()), and when the batch is complete seal() writes the message's
 * head (envelope, resource) at the end of that room, just before the
 * spans, and its tail after them. The span bytes are never copied: the
 * message is sent from where its head starts. bound() says how big a
 * batch whose span bytes are spans_len long would be as a message, so a
 * batch can be cut before it passes a transport's size limit (a UDP
 * datagram, a line).
 *
 * finish() makes the same message by copying: the encoder's tests and
 * fuzz target read messages that way. */
#ifndef TS_ENCODER_H
#define TS_ENCODER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../preload/span.h"
#include "json_buf.h"

struct ts_encoder {
    const char *name;         /* "otlp-json", "otlp-proto", "zipkin-json", "jaeger-thrift" */
    const char *content_type; /* for HTTP transports; NULL otherwise */
    /* Append span s to spans; first is true for the first span of a batch. */
    void (*span)(struct ts_json_buf *spans, const struct ts_span *s, bool first);
    /* An upper bound of the message for span bytes of this length. */
    size_t (*bound)(size_t spans_len, size_t nspans);
    /* The most bytes the message can have before its spans, for the
     * resource as it is now. */
    size_t (*head_max)(void);
    /* Complete the message in place: batch->data[spans_off .. len) holds
     * the bytes of nspans spans and the bytes before spans_off, from
     * room_start on, are free. Returns the offset at which the message
     * now starts (it ends at batch->len), or SIZE_MAX when it could not be
     * made (out of memory: batch is failed). A room too small for the head
     * (the resource changed since it was measured) costs a move of the
     * spans, not the batch. */
    size_t (*seal)(struct ts_json_buf *batch, size_t room_start, size_t spans_off, size_t nspans);
    /* Append the complete message holding spans[0..spans_len) (nspans spans)
     * to out. */
    void (*finish)(struct ts_json_buf *out, const char *spans, size_t spans_len, size_t nspans);
    /* In a forked child whose parent was encoding at the fork: the
     * encoder's kept pieces (heads, the key table) may be half-written;
     * drop them without freeing anything, to be made again. */
    void (*forget)(void);
};

extern const struct ts_encoder ts_encoder_otlp_json;
extern const struct ts_encoder ts_encoder_otlp_proto;
extern const struct ts_encoder ts_encoder_zipkin_json;
extern const struct ts_encoder ts_encoder_jaeger_thrift;

/* True when the 8 bytes of a span id are all zero (a root span's parent):
 * one load and one compare, for the encoders' per-span path. */
static inline bool ts_enc_id8_is_zero(const uint8_t id[TS_SPAN_ID_LEN])
{
    uint64_t w;
    memcpy(&w, id, sizeof w);
    return w == 0;
}

/* OTLP's span flags (Span.flags, opentelemetry-proto 1.1): the W3C trace
 * flags in bits 0-7 (sampled: every exported span), and in bits 8 and 9
 * whether it is known that the parent is remote, and whether it is. */
#define TS_ENC_SPAN_FLAGS_SAMPLED 0x01u
#define TS_ENC_SPAN_FLAGS_HAS_IS_REMOTE 0x100u
#define TS_ENC_SPAN_FLAGS_IS_REMOTE 0x200u
static inline uint32_t ts_enc_span_flags(const struct ts_span *s)
{
    uint32_t flags = s->sampled ? TS_ENC_SPAN_FLAGS_SAMPLED : 0;
    if (s->parent_is != TS_PARENT_UNKNOWN)
        flags |= TS_ENC_SPAN_FLAGS_HAS_IS_REMOTE;
    if (s->parent_is == TS_PARENT_REMOTE)
        flags |= TS_ENC_SPAN_FLAGS_IS_REMOTE;
    return flags;
}

/* finish() by way of seal(): room, the spans copied after it, sealed, and
 * the message moved down to where out ended. Each encoder's finish() is
 * this with its own head_max() and seal(). */
static inline void ts_encoder_finish_by_seal(size_t (*head_max)(void),
                                             size_t (*seal)(struct ts_json_buf *, size_t, size_t,
                                                            size_t),
                                             struct ts_json_buf *out, const char *spans,
                                             size_t spans_len, size_t nspans)
{
    size_t start = out->len;
    size_t room = head_max();
    char *o = ts_json_buf_room(out, room + spans_len);
    if (!o)
        return;
    ts_json_buf_commit(out, ts_put(o + room, spans, spans_len));
    size_t msg = seal(out, start, start + room, nspans);
    if (msg == SIZE_MAX) {
        out->len = start;
        return;
    }
    memmove(out->data + start, out->data + msg, out->len - msg);
    out->len -= msg - start;
}

#endif
