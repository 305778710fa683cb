/* span.c — filling the fixed-size span record. */
#include "span.h"

#include <string.h>

void ts_span_clear(struct ts_span *s)
{
    memset(s, 0, offsetof(struct ts_span, attrs));
}

/* Copy len bytes into the span's string buffer; returns the offset and sets
 * *stored to what fitted. */
static uint16_t span_store(struct ts_span *s, const char *val, size_t len, uint16_t *stored)
{
    size_t room = sizeof s->str - s->str_used;
    if (len > room)
        len = room;
    uint16_t off = s->str_used;
    if (len)
        memcpy(s->str + off, val, len);
    s->str_used = (uint16_t)(s->str_used + len);
    *stored = (uint16_t)len;
    return off;
}

void ts_span_set_name(struct ts_span *s, const char *name, size_t len)
{
    s->name_off = span_store(s, name, len, &s->name_len);
}

static struct ts_attr *span_new_attr(struct ts_span *s, const char *key, uint8_t type)
{
    if (s->nattrs >= TS_SPAN_MAX_ATTRS)
        return NULL;
    struct ts_attr *a = &s->attrs[s->nattrs++];
    memset(a, 0, sizeof *a);
    a->key = key;
    a->type = type;
    return a;
}

void ts_span_attr_str(struct ts_span *s, const char *key, const char *val, size_t len)
{
    struct ts_attr *a = span_new_attr(s, key, TS_ATTR_STR);
    if (a)
        a->off = span_store(s, val, len, &a->len);
}

void ts_span_attr_cstr(struct ts_span *s, const char *key, const char *val)
{
    ts_span_attr_str(s, key, val, strlen(val));
}

void ts_span_attr_int(struct ts_span *s, const char *key, int64_t val)
{
    struct ts_attr *a = span_new_attr(s, key, TS_ATTR_INT);
    if (a)
        a->num = val;
}

void ts_span_attr_bool(struct ts_span *s, const char *key, bool val)
{
    struct ts_attr *a = span_new_attr(s, key, TS_ATTR_BOOL);
    if (a)
        a->num = val;
}

const struct ts_attr *ts_span_attr_find(const struct ts_span *s, const char *key)
{
    size_t n = ts_span_nattrs(s);
    for (size_t i = 0; i < n; i++)
        if (strcmp(s->attrs[i].key, key) == 0)
            return &s->attrs[i];
    return NULL;
}

bool ts_id_is_zero(const uint8_t *id, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= id[i];
    return acc == 0;
}
