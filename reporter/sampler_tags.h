/* sampler_tags.h — Jaeger's sampler.type and sampler.param tags on the
 * root spans a Jaeger sampler sampled, written on the reporter side.
 *
 * The Jaeger collector's adaptive sampling counts a service's traffic
 * from its root spans that carry both tags (model.Span.GetSamplerParams:
 * sampler.type one of const, probabilistic, lowerbound, ratelimiting;
 * sampler.param a number, or a string it parses as one); without them a
 * traced service never gets an adaptive strategy. Jaeger's clients set
 * them on every sampled root span, and so does the shim, as string
 * attributes, which every exporter carries and the collector reads
 * (OTLP's are turned into Jaeger tags of the same type).
 *
 * The span records which sampler decided and its parameter as numbers
 * (ts_span.sampler_tag, sampler_param: ts_sampler_decide); the text is
 * made here, off the program's threads. */
#ifndef TS_SAMPLER_TAGS_H
#define TS_SAMPLER_TAGS_H

#include <stddef.h>

#include "../preload/span.h"

/* Add the two attributes to s when it records a sampler's decision (and
 * clear that record); both or neither: nothing when two attribute slots
 * or their string bytes are not left. Before ts_sym_attach, whose stack
 * takes the string bytes that are left. */
void ts_sampler_tags_attach(struct ts_span *s);

#endif
