/* json_read.c — see json_read.h. A recursive-descent parser whose recursion is
 * bounded by TS_JSON_MAX_DEPTH. Elements of the container being parsed are
 * collected on one shared growable stack and copied into the document's arena
 * as a contiguous array when the container closes, so indexing is O(1) and the
 * tree needs no per-node malloc. */
#include "common/json_read.h"

#include "common/arena.h"
#include "common/c_number.h"

#include "preload/hex.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define TS_JSON_STR2(x) #x
#define TS_JSON_STR(x) TS_JSON_STR2(x)

struct ts_json_doc {
    struct ts_arena arena;
    ts_json root;
};

typedef struct {
    const char *begin, *p, *end;
    ts_json_doc *doc;
    ts_json_member *stack; /* elements of all open containers */
    size_t top, cap;
    char *sbuf; /* scratch for the string being decoded */
    size_t slen, scap;
    const char *emsg; /* first error, NULL while none */
    size_t eoff;
} parser;

static void *arena_alloc(ts_json_doc *doc, size_t n)
{
    return ts_arena_alloc(&doc->arena, n);
}

/* Records the first error only; later ones are consequences of it. */
static bool fail(parser *ps, const char *at, const char *msg)
{
    if (!ps->emsg) {
        ps->emsg = msg;
        ps->eoff = (size_t)(at - ps->begin);
    }
    return false;
}

static void skip_ws(parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static bool sbuf_reserve(parser *ps, size_t extra)
{
    if (ps->scap - ps->slen >= extra)
        return true;
    size_t cap = ps->scap ? ps->scap : 256;
    while (cap - ps->slen < extra) {
        if (cap > SIZE_MAX / 2)
            return fail(ps, ps->p, "out of memory");
        cap *= 2;
    }
    char *n = realloc(ps->sbuf, cap);
    if (!n)
        return fail(ps, ps->p, "out of memory");
    ps->sbuf = n;
    ps->scap = cap;
    return true;
}

static bool sbuf_put(parser *ps, const char *s, size_t n)
{
    if (!sbuf_reserve(ps, n))
        return false;
    memcpy(ps->sbuf + ps->slen, s, n);
    ps->slen += n;
    return true;
}

static bool sbuf_put_cp(parser *ps, uint32_t cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return sbuf_put(ps, u, n);
}

/* Length of the well-formed UTF-8 sequence at s (Unicode table 3-7), or 0
 * when the bytes there are not one. */
static size_t utf8_seq_len(const unsigned char *s, const unsigned char *end)
{
    size_t avail = (size_t)(end - s);
    unsigned char c = s[0];
    unsigned char lo = 0x80, hi = 0xBF;
    size_t n;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0; /* overlong */
        if (c == 0xED)
            hi = 0x9F; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90; /* overlong */
        if (c == 0xF4)
            hi = 0x8F; /* above U+10FFFF */
    } else {
        return 0;
    }
    if (avail < n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return n;
}

/* Reads the 4 hex digits of a \u escape at p (just after "\u"); -1 if bad. */
static long read_hex4(const char *p, const char *end)
{
    if (end - p < 4)
        return -1;
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int h = ts_hex_digit((unsigned char)p[i]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

/* Decodes the \u escape at ps->p (pointing at the backslash), combining a
 * surrogate pair when one follows. */
static bool parse_u_escape(parser *ps)
{
    long hi = read_hex4(ps->p + 2, ps->end);
    if (hi < 0)
        return fail(ps, ps->p, "invalid \\u escape");
    ps->p += 6;
    uint32_t cp = (uint32_t)hi;
    if (hi >= 0xD800 && hi <= 0xDBFF) {
        long lo = -1;
        if (ps->end - ps->p >= 2 && ps->p[0] == '\\' && ps->p[1] == 'u')
            lo = read_hex4(ps->p + 2, ps->end);
        if (lo >= 0xDC00 && lo <= 0xDFFF) {
            cp = 0x10000 + (((uint32_t)hi - 0xD800) << 10) + ((uint32_t)lo - 0xDC00);
            ps->p += 6;
        } else {
            cp = 0xFFFD; /* lone high surrogate; any following escape is read next */
        }
    } else if (hi >= 0xDC00 && hi <= 0xDFFF) {
        cp = 0xFFFD; /* lone low surrogate */
    }
    return sbuf_put_cp(ps, cp);
}

/* Parses the string at ps->p (the opening quote) and copies its decoded bytes
 * into the arena. */
static bool parse_string(parser *ps, const char **out, size_t *out_len)
{
    const char *open = ps->p;
    ps->p++;
    ps->slen = 0;
    for (;;) {
        const char *run = ps->p;
        while (ps->p < ps->end) {
            unsigned char c = (unsigned char)*ps->p;
            if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80)
                break;
            ps->p++;
        }
        if (ps->p > run && !sbuf_put(ps, run, (size_t)(ps->p - run)))
            return false;
        if (ps->p >= ps->end)
            return fail(ps, open, "unterminated string");
        unsigned char c = (unsigned char)*ps->p;
        if (c == '"') {
            ps->p++;
            break;
        }
        if (c < 0x20)
            return fail(ps, ps->p, "control character in string");
        if (c >= 0x80) {
            size_t n = utf8_seq_len((const unsigned char *)ps->p, (const unsigned char *)ps->end);
            if (n) {
                if (!sbuf_put(ps, ps->p, n))
                    return false;
                ps->p += n;
            } else {
                if (!sbuf_put_cp(ps, 0xFFFD))
                    return false;
                ps->p++;
            }
            continue;
        }
        /* backslash */
        if (ps->end - ps->p < 2)
            return fail(ps, open, "unterminated string");
        char e = ps->p[1], d;
        switch (e) {
        case '"':
            d = '"';
            break;
        case '\\':
            d = '\\';
            break;
        case '/':
            d = '/';
            break;
        case 'b':
            d = '\b';
            break;
        case 'f':
            d = '\f';
            break;
        case 'n':
            d = '\n';
            break;
        case 'r':
            d = '\r';
            break;
        case 't':
            d = '\t';
            break;
        case 'u':
            if (!parse_u_escape(ps))
                return false;
            continue;
        default:
            return fail(ps, ps->p, "invalid escape in string");
        }
        if (!sbuf_put(ps, &d, 1))
            return false;
        ps->p += 2;
    }
    char *s = arena_alloc(ps->doc, ps->slen + 1);
    if (!s)
        return fail(ps, ps->p, "out of memory");
    if (ps->slen)
        memcpy(s, ps->sbuf, ps->slen);
    s[ps->slen] = '\0';
    *out = s;
    *out_len = ps->slen;
    return true;
}

static bool is_digit(const parser *ps)
{
    return ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9';
}

static bool parse_number(parser *ps, ts_json *v)
{
    const char *start = ps->p;
    if (*ps->p == '-')
        ps->p++;
    if (!is_digit(ps))
        return fail(ps, ps->p, "invalid number");
    if (*ps->p == '0') {
        ps->p++;
    } else {
        while (is_digit(ps))
            ps->p++;
    }
    if (ps->p < ps->end && *ps->p == '.') {
        ps->p++;
        if (!is_digit(ps))
            return fail(ps, ps->p, "invalid number: digit expected after '.'");
        while (is_digit(ps))
            ps->p++;
    }
    if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
        ps->p++;
        if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
            ps->p++;
        if (!is_digit(ps))
            return fail(ps, ps->p, "invalid number: digit expected in exponent");
        while (is_digit(ps))
            ps->p++;
    }
    size_t n = (size_t)(ps->p - start);
    char *s = arena_alloc(ps->doc, n + 1);
    if (!s)
        return fail(ps, start, "out of memory");
    memcpy(s, start, n);
    s[n] = '\0';
    v->type = TS_JSON_NUMBER;
    v->u.str = s;
    v->len = n;
    /* Not strtod, which takes the locale's decimal point: the library
     * parses inside traced programs, and in one that called
     * setlocale(LC_ALL, "") under a decimal-comma locale a samplingRate
     * of 0.99 read as 0. */
    if (!ts_c_number_read(s, n, &v->num))
        return fail(ps, start, "out of memory"); /* the grammar above is its own */
    return true;
}

static bool push(parser *ps, const ts_json_member *m)
{
    if (ps->top == ps->cap) {
        size_t cap = ps->cap ? ps->cap * 2 : 64;
        if (cap > SIZE_MAX / sizeof(*ps->stack))
            return fail(ps, ps->p, "out of memory");
        ts_json_member *n = realloc(ps->stack, cap * sizeof(*n));
        if (!n)
            return fail(ps, ps->p, "out of memory");
        ps->stack = n;
        ps->cap = cap;
    }
    ps->stack[ps->top++] = *m;
    return true;
}

static bool parse_value(parser *ps, ts_json *v, int depth);

/* Parses an array or object (ps->p at its bracket) whose elements are pushed
 * on the shared stack and then moved into the arena. */
static bool parse_container(parser *ps, ts_json *v, int depth, bool is_object)
{
    if (depth >= TS_JSON_MAX_DEPTH)
        return fail(ps, ps->p, "nesting deeper than " TS_JSON_STR(TS_JSON_MAX_DEPTH) " levels");
    const char close = is_object ? '}' : ']';
    size_t base = ps->top;
    bool ok = false;
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        ok = true;
    }
    while (!ok) {
        ts_json_member m = {0};
        skip_ws(ps);
        if (is_object) {
            if (ps->p >= ps->end || *ps->p != '"') {
                fail(ps, ps->p, "expected a string key");
                break;
            }
            if (!parse_string(ps, &m.key, &m.key_len))
                break;
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != ':') {
                fail(ps, ps->p, "expected ':'");
                break;
            }
            ps->p++;
        }
        if (!parse_value(ps, &m.value, depth + 1) || !push(ps, &m))
            break;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == close) {
            ps->p++;
            ok = true;
            break;
        }
        fail(ps, ps->p, is_object ? "expected ',' or '}'" : "expected ',' or ']'");
        break;
    }
    if (!ok) {
        ps->top = base;
        return false;
    }
    size_t n = ps->top - base;
    v->type = is_object ? TS_JSON_OBJECT : TS_JSON_ARRAY;
    v->len = n;
    if (is_object) {
        ts_json_member *dst = NULL;
        if (n) {
            dst = arena_alloc(ps->doc, n * sizeof(*dst));
            if (!dst) {
                ps->top = base;
                return fail(ps, ps->p, "out of memory");
            }
            memcpy(dst, ps->stack + base, n * sizeof(*dst));
        }
        v->u.members = dst;
    } else {
        ts_json *dst = NULL;
        if (n) {
            /* n fits: the same count of larger members already fit. */
            dst = arena_alloc(ps->doc, n * sizeof(*dst));
            if (!dst) {
                ps->top = base;
                return fail(ps, ps->p, "out of memory");
            }
            for (size_t i = 0; i < n; i++)
                dst[i] = ps->stack[base + i].value;
        }
        v->u.items = dst;
    }
    ps->top = base;
    return true;
}

static bool parse_literal(parser *ps, ts_json *v, const char *word, ts_json_type type, bool b)
{
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
        return fail(ps, ps->p, "invalid literal");
    ps->p += n;
    v->type = type;
    v->boolean = b;
    return true;
}

static bool parse_value(parser *ps, ts_json *v, int depth)
{
    memset(v, 0, sizeof(*v));
    skip_ws(ps);
    if (ps->p >= ps->end)
        return fail(ps, ps->p, "unexpected end of input, expected a value");
    switch (*ps->p) {
    case '{':
        return parse_container(ps, v, depth, true);
    case '[':
        return parse_container(ps, v, depth, false);
    case '"':
        v->type = TS_JSON_STRING;
        return parse_string(ps, &v->u.str, &v->len);
    case 't':
        return parse_literal(ps, v, "true", TS_JSON_BOOL, true);
    case 'f':
        return parse_literal(ps, v, "false", TS_JSON_BOOL, false);
    case 'n':
        return parse_literal(ps, v, "null", TS_JSON_NULL, false);
    default:
        if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9'))
            return parse_number(ps, v);
        return fail(ps, ps->p, "unexpected character, expected a value");
    }
}

ts_json_doc *ts_json_parse(const char *text, size_t len, ts_json_error *err)
{
    parser ps = {0};
    ts_json_doc *doc = calloc(1, sizeof(*doc));
    if (!doc) {
        if (err) {
            err->offset = 0;
            err->msg = "out of memory";
        }
        return NULL;
    }
    if (!text)
        len = 0;
    ps.begin = ps.p = text;
    ps.end = text + len;
    ps.doc = doc;
    if (text && parse_value(&ps, &doc->root, 0)) {
        skip_ws(&ps);
        if (ps.p != ps.end)
            fail(&ps, ps.p, "unexpected data after the JSON value");
    } else if (!text) {
        ps.emsg = "unexpected end of input, expected a value";
    }
    free(ps.stack);
    free(ps.sbuf);
    if (ps.emsg) {
        if (err) {
            err->offset = ps.eoff;
            err->msg = ps.emsg;
        }
        ts_json_free(doc);
        return NULL;
    }
    return doc;
}

void ts_json_free(ts_json_doc *doc)
{
    if (!doc)
        return;
    ts_arena_free(&doc->arena);
    free(doc);
}

const ts_json *ts_json_root(const ts_json_doc *doc)
{
    return doc ? &doc->root : NULL;
}

const ts_json *ts_json_get(const ts_json *obj, const char *key)
{
    if (!obj || obj->type != TS_JSON_OBJECT || !key)
        return NULL;
    size_t kl = strlen(key);
    for (size_t i = obj->len; i-- > 0;) {
        const ts_json_member *m = &obj->u.members[i];
        if (m->key_len == kl && memcmp(m->key, key, kl) == 0)
            return &m->value;
    }
    return NULL;
}

const ts_json *ts_json_otlp_attr(const ts_json *attrs, const char *key)
{
    for (size_t i = 0; i < ts_json_len(attrs); i++) {
        const ts_json *kv = ts_json_at(attrs, i);
        const char *k = ts_json_string(ts_json_get(kv, "key"), NULL);
        if (k && key && strcmp(k, key) == 0)
            return ts_json_get(kv, "value");
    }
    return NULL;
}

size_t ts_json_len(const ts_json *v)
{
    if (!v || (v->type != TS_JSON_ARRAY && v->type != TS_JSON_OBJECT))
        return 0;
    return v->len;
}

const ts_json *ts_json_at(const ts_json *arr, size_t i)
{
    if (!arr || arr->type != TS_JSON_ARRAY || i >= arr->len)
        return NULL;
    return &arr->u.items[i];
}

const ts_json_member *ts_json_member_at(const ts_json *obj, size_t i)
{
    if (!obj || obj->type != TS_JSON_OBJECT || i >= obj->len)
        return NULL;
    return &obj->u.members[i];
}

const char *ts_json_string(const ts_json *v, size_t *len)
{
    if (!v || v->type != TS_JSON_STRING)
        return NULL;
    if (len)
        *len = v->len;
    return v->u.str;
}

bool ts_json_number(const ts_json *v, double *out)
{
    if (!v || v->type != TS_JSON_NUMBER)
        return false;
    if (out)
        *out = v->num;
    return true;
}

bool ts_json_bool(const ts_json *v, bool *out)
{
    if (!v || v->type != TS_JSON_BOOL)
        return false;
    if (out)
        *out = v->boolean;
    return true;
}

bool ts_json_is(const ts_json *v, ts_json_type type)
{
    return v && v->type == type;
}
