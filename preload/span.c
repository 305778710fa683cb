/* span.c — filling the fixed-size span record. */
#include "span.h"

#include <string.h>

void ts_span_clear(struct ts_span *s)
{
    memset(s, 0, offsetof(struct ts_span, attrs));
}

/* memcpy for the short values most attributes have (a method, a version,
 * an address): two overlapping loads and stores instead of a call into
 * libc, which costs more than the copy. */
static inline void span_copy(char *dst, const char *src, size_t len)
{
    if (len > 16) {
        memcpy(dst, src, len);
    } else if (len >= 8) {
        uint64_t head, tail;
        memcpy(&head, src, 8);
        memcpy(&tail, src + len - 8, 8);
        memcpy(dst, &head, 8);
        memcpy(dst + len - 8, &tail, 8);
    } else if (len >= 4) {
        uint32_t head, tail;
        memcpy(&head, src, 4);
        memcpy(&tail, src + len - 4, 4);
        memcpy(dst, &head, 4);
        memcpy(dst + len - 4, &tail, 4);
    } else {
        for (size_t i = 0; i < len; i++)
            dst[i] = src[i];
    }
}

/* Copy len bytes into the span's string buffer; returns the offset and sets
 * *stored to what fitted. */
static uint16_t span_store(struct ts_span *s, const char *val, size_t len, uint16_t *stored)
{
    size_t room = sizeof s->str - s->str_used;
    if (len > room)
        len = room;
    uint16_t off = s->str_used;
    span_copy(s->str + off, val, len);
    s->str_used = (uint16_t)(s->str_used + len);
    *stored = (uint16_t)len;
    return off;
}

void ts_span_set_name(struct ts_span *s, const char *name, size_t len)
{
    s->name_off = span_store(s, name, len, &s->name_len);
}

/* The next attribute slot, or NULL when all are taken. */
static struct ts_attr *span_new_attr(struct ts_span *s)
{
    return s->nattrs < TS_SPAN_MAX_ATTRS ? &s->attrs[s->nattrs++] : NULL;
}

void ts_span_attr_str(struct ts_span *s, const char *key, const char *val, size_t len)
{
    struct ts_attr *a = span_new_attr(s);
    if (a) {
        uint16_t stored;
        uint16_t off = span_store(s, val, len, &stored);
        *a = (struct ts_attr){.key = key, .type = TS_ATTR_STR, .off = off, .len = stored};
    }
}

void ts_span_attr_int(struct ts_span *s, const char *key, int64_t val)
{
    struct ts_attr *a = span_new_attr(s);
    if (a)
        *a = (struct ts_attr){.key = key, .type = TS_ATTR_INT, .num = val};
}

void ts_span_attr_bool(struct ts_span *s, const char *key, bool val)
{
    struct ts_attr *a = span_new_attr(s);
    if (a)
        *a = (struct ts_attr){.key = key, .type = TS_ATTR_BOOL, .num = val};
}

const struct ts_attr *ts_span_attr_find(const struct ts_span *s, const char *key)
{
    size_t n = ts_span_nattrs(s);
    for (size_t i = 0; i < n; i++) /* a damaged record may have a slot without a key */
        if (s->attrs[i].key && strcmp(s->attrs[i].key, key) == 0)
            return &s->attrs[i];
    return NULL;
}
