/* sampler_tags.c — see sampler_tags.h. */
#include "sampler_tags.h"

#include <string.h>

#include "../common/c_number.h"

void ts_sampler_tags_attach(struct ts_span *s)
{
    static const char *const types[] = {
        [TS_SAMPLER_TAG_CONST] = "const",
        [TS_SAMPLER_TAG_PROBABILISTIC] = "probabilistic",
        [TS_SAMPLER_TAG_LOWERBOUND] = "lowerbound",
        [TS_SAMPLER_TAG_RATELIMITING] = "ratelimiting",
    };
    unsigned tag = s->sampler_tag;
    s->sampler_tag = TS_SAMPLER_TAG_NONE;
    if (tag >= sizeof types / sizeof types[0] || !types[tag])
        return;
    char param[32];
    /* "0.001" whatever the program's locale: the collector parses it */
    size_t param_len = ts_c_number_write(s->sampler_param, param, sizeof param);
    size_t type_len = strlen(types[tag]);
    /* one without the other is no use to the collector: both, or both
     * counted as dropped */
    if (!param_len || ts_span_nattrs(s) + 2 > TS_SPAN_MAX_ATTRS ||
        type_len + param_len > ts_span_str_room(s)) {
        ts_span_attr_dropped(s);
        ts_span_attr_dropped(s);
        return;
    }
    ts_span_attr_str(s, "sampler.type", types[tag], type_len);
    ts_span_attr_str(s, "sampler.param", param, param_len);
}
