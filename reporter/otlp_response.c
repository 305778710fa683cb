/* otlp_response.c — see otlp_response.h.
 *
 * message ExportTraceServiceResponse { ExportTracePartialSuccess partial_success = 1; }
 * message ExportTracePartialSuccess { int64 rejected_spans = 1; string error_message = 2; }
 *
 * The body comes from the network: every read is bounded by its length,
 * and anything that does not decode counts as no partial success. */
#include "otlp_response.h"

#include <string.h>

#include "../common/json_read.h"

/* The message as shown: printable ASCII kept, any other byte '?' (the
 * line goes to the program's stderr, where a control byte could move the
 * cursor), cut with "..." past TS_OTLP_MESSAGE_MAX. */
static void keep_message(struct ts_otlp_partial *out, const char *s, size_t n)
{
    size_t shown = n > TS_OTLP_MESSAGE_MAX ? TS_OTLP_MESSAGE_MAX : n;
    for (size_t i = 0; i < shown; i++)
        out->message[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
    if (shown < n)
        memcpy(out->message + shown, "...", 3), shown += 3;
    out->message[shown] = '\0';
}

/* ------------------------------------------------------------- protobuf */

struct pb_in {
    const unsigned char *p, *end;
};

/* A base-128 varint; false when cut short or longer than ten bytes. */
static bool pb_varint(struct pb_in *in, uint64_t *v)
{
    *v = 0;
    for (unsigned shift = 0; shift < 70; shift += 7) {
        if (in->p == in->end)
            return false;
        unsigned char b = *in->p++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return true;
    }
    return false;
}

/* One field's key, and its value skipped or taken: a varint in *num, a
 * length-delimited value in *field. False when the field does not decode. */
static bool pb_field(struct pb_in *in, uint64_t *number, unsigned *wire, uint64_t *num,
                     struct pb_in *field)
{
    uint64_t key;
    if (!pb_varint(in, &key))
        return false;
    *number = key >> 3;
    *wire = (unsigned)(key & 7);
    size_t left = (size_t)(in->end - in->p);
    switch (*wire) {
    case 0:
        return pb_varint(in, num);
    case 1: /* fixed64 */
        if (left < 8)
            return false;
        in->p += 8;
        return true;
    case 5: /* fixed32 */
        if (left < 4)
            return false;
        in->p += 4;
        return true;
    case 2: {
        uint64_t len;
        if (!pb_varint(in, &len) || len > (uint64_t)(in->end - in->p))
            return false;
        field->p = in->p;
        field->end = in->p + len;
        in->p += len;
        return true;
    }
    default: /* groups (3, 4) are not in these messages */
        return false;
    }
}

/* ExportTracePartialSuccess into out; a message given twice is merged,
 * its scalars the last ones given (protobuf's rule). */
static bool pb_partial(struct pb_in in, struct ts_otlp_partial *out, bool *said)
{
    while (in.p < in.end) {
        uint64_t number, num = 0;
        unsigned wire;
        struct pb_in field = {0};
        if (!pb_field(&in, &number, &wire, &num, &field))
            return false;
        if (number == 1 && wire == 0) {
            /* an int64: a negative count means nothing */
            out->rejected_spans = (int64_t)num < 0 ? 0 : num;
        } else if (number == 2 && wire == 2) {
            keep_message(out, (const char *)field.p, (size_t)(field.end - field.p));
            *said = field.end > field.p;
        }
    }
    return true;
}

static bool pb_response(const char *body, size_t len, struct ts_otlp_partial *out)
{
    struct pb_in in = {(const unsigned char *)body, (const unsigned char *)body + len};
    bool said = false;
    while (in.p < in.end) {
        uint64_t number, num;
        unsigned wire;
        struct pb_in field = {0};
        if (!pb_field(&in, &number, &wire, &num, &field))
            return false;
        if (number == 1 && wire == 2 && !pb_partial(field, out, &said))
            return false;
    }
    return out->rejected_spans > 0 || said;
}

/* ------------------------------------------------------------- JSON */

/* A member under its JSON name or its proto field name (OTLP/JSON
 * receivers accept both, and may answer with either). */
static const ts_json *json_member(const ts_json *obj, const char *camel, const char *proto)
{
    const ts_json *v = ts_json_get(obj, camel);
    return v ? v : ts_json_get(obj, proto);
}

/* An int64 as proto3 JSON writes it, a decimal string, or as a number. */
static bool json_count(const ts_json *v, uint64_t *out)
{
    double d;
    size_t len;
    const char *s = ts_json_string(v, &len);
    if (s) {
        if (len == 0)
            return false;
        uint64_t n = 0;
        for (size_t i = 0; i < len; i++) {
            if (s[i] < '0' || s[i] > '9')
                return false;
            unsigned digit = (unsigned)(s[i] - '0');
            n = n > (UINT64_MAX - digit) / 10 ? UINT64_MAX
                                              : n * 10 + digit; /* saturated: the batch bounds it */
        }
        *out = n;
        return true;
    }
    if (!ts_json_number(v, &d) || !(d >= 0)) /* NaN too */
        return false;
    if (d >= 18446744073709551616.0) { /* 2^64 and past, infinity */
        *out = UINT64_MAX;
        return true;
    }
    *out = (uint64_t)d;
    return (double)*out == d; /* a whole number */
}

static bool json_response(const char *body, size_t len, struct ts_otlp_partial *out)
{
    ts_json_doc *doc = ts_json_parse(body, len, NULL);
    if (!doc)
        return false;
    const ts_json *ps = json_member(ts_json_root(doc), "partialSuccess", "partial_success");
    const ts_json *rejected = json_member(ps, "rejectedSpans", "rejected_spans");
    size_t mlen = 0;
    const char *msg = ts_json_string(json_member(ps, "errorMessage", "error_message"), &mlen);
    bool said = false;
    if (rejected && !json_count(rejected, &out->rejected_spans))
        out->rejected_spans = 0;
    if (msg && mlen) {
        keep_message(out, msg, mlen);
        said = true;
    }
    ts_json_free(doc);
    return out->rejected_spans > 0 || said;
}

bool ts_otlp_partial_success(const char *body, size_t len, bool json, struct ts_otlp_partial *out)
{
    memset(out, 0, sizeof *out);
    if (len == 0)
        return false;
    bool said = json ? json_response(body, len, out) : pb_response(body, len, out);
    if (!said)
        memset(out, 0, sizeof *out);
    return said;
}
