/* encoders_pending.c — TEMPORARY: weak placeholders for the encoders being
 * written, so the tree links meanwhile. Deleted when they land. */
#include "encoder.h"

__attribute__((weak)) const struct ts_encoder ts_encoder_otlp_proto;
__attribute__((weak)) const struct ts_encoder ts_encoder_zipkin_json;
__attribute__((weak)) const struct ts_encoder ts_encoder_jaeger_thrift;
