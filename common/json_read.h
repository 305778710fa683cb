/* json_read.h — parses one JSON text (RFC 8259) into a read-only tree, for
 * the `traceshim view` command and for the library's remote-sampling
 * strategies (so it lives in common/, shared by both). The whole tree lives in one document that
 * owns all of its memory, so callers free it with one call. The parser is built to be fed untrusted
 * bytes: it never reads past the given length, limits nesting to TS_JSON_MAX_DEPTH (no deep
 * recursion), and reports the byte offset of the first error. Grammar errors are errors; invalid
 * UTF-8 inside strings and lone UTF-16 surrogates in \u escapes are replaced by U+FFFD instead,
 * because a viewer should show what it can and every string it hands out is then valid UTF-8. */
#ifndef TS_JSON_READ_H
#define TS_JSON_READ_H

#include <stdbool.h>
#include <stddef.h>

/* Arrays and objects nested deeper than this are rejected. */
#define TS_JSON_MAX_DEPTH 64

typedef enum {
    TS_JSON_NULL,
    TS_JSON_BOOL,
    TS_JSON_NUMBER,
    TS_JSON_STRING,
    TS_JSON_ARRAY,
    TS_JSON_OBJECT,
} ts_json_type;

typedef struct ts_json ts_json;
typedef struct ts_json_member ts_json_member;

struct ts_json {
    ts_json_type type;
    bool boolean; /* TS_JSON_BOOL */
    /* STRING: decoded bytes (a \u0000 escape counts); NUMBER: length of the
     * literal; ARRAY/OBJECT: number of elements or members. */
    size_t len;
    union {
        /* STRING: decoded UTF-8, NUL-terminated. NUMBER: the literal exactly as
         * written, so callers can read integers wider than a double holds. */
        const char *str;
        const ts_json *items;          /* ARRAY */
        const ts_json_member *members; /* OBJECT, in document order */
    } u;
    double num; /* NUMBER: value as a double (may be +-inf when out of range) */
};

struct ts_json_member {
    const char *key; /* decoded, NUL-terminated */
    size_t key_len;
    ts_json value;
};

typedef struct {
    size_t offset;   /* byte offset in the input where the problem was found */
    const char *msg; /* static English text, e.g. "expected ':'" */
} ts_json_error;

/* Owns a parsed tree and all memory behind it. */
typedef struct ts_json_doc ts_json_doc;

/* Parses text[0..len) as one JSON value (surrounding whitespace allowed).
 * Returns NULL on error and fills *err when err is not NULL; running out of
 * memory is reported the same way, with msg "out of memory". */
ts_json_doc *ts_json_parse(const char *text, size_t len, ts_json_error *err);
void ts_json_free(ts_json_doc *doc);
const ts_json *ts_json_root(const ts_json_doc *doc);

/* The accessors accept NULL and values of the wrong type and then return
 * NULL / 0 / false, so lookups can be chained without checks in between. */

/* Member of an object by key; with duplicate keys the last one wins, as in
 * JavaScript's JSON.parse. */
const ts_json *ts_json_get(const ts_json *obj, const char *key);
/* In an OTLP attribute list (an array of {"key": K, "value": V}), the
 * value of the first entry whose key is key. */
const ts_json *ts_json_otlp_attr(const ts_json *attrs, const char *key);
/* Element count of an array or member count of an object; 0 otherwise. */
size_t ts_json_len(const ts_json *v);
const ts_json *ts_json_at(const ts_json *arr, size_t i);
const ts_json_member *ts_json_member_at(const ts_json *obj, size_t i);
/* String contents (NUL-terminated); *len, when given, gets the byte count. */
const char *ts_json_string(const ts_json *v, size_t *len);
bool ts_json_number(const ts_json *v, double *out);
bool ts_json_bool(const ts_json *v, bool *out);
bool ts_json_is(const ts_json *v, ts_json_type type);

#endif
