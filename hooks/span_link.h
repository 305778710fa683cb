/* span_link.h — how every span the shim starts gets its place in a trace:
 * its ids, its parent, and the sampler's decision, which travels on in the
 * span's own context so that downstream services agree. */
#ifndef TS_SPAN_LINK_H
#define TS_SPAN_LINK_H

#include "../preload/context.h"
#include "../preload/span.h"

/* Give s (its name already set: samplers may look at it) a trace and a
 * span id; parent, when valid, is its parent. *mine is the context that
 * names s, to be propagated or made current. */
void ts_span_link(struct ts_span *s, const struct ts_ctx *parent, struct ts_ctx *mine);

#endif
