/* span.c — filling the fixed-size span record. */
#include "span.h"

#include <string.h>

size_t ts_attrs_cut_(const char *val, size_t room)
{
    return ts_utf8_whole(val, room);
}

const struct ts_attr *ts_span_attr_find(const struct ts_span *s, const char *key)
{
    size_t n = ts_span_nattrs(s);
    for (size_t i = 0; i < n; i++) /* a damaged record may have a slot without a key */
        if (s->attrs[i].key && strcmp(s->attrs[i].key, key) == 0)
            return &s->attrs[i];
    return NULL;
}
