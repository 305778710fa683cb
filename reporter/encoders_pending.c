/* encoders_pending.c — TEMPORARY: weak placeholders for the sampler being
 * written, so the tree links meanwhile (parent-based always-on). Deleted
 * when reporter/sampler.c lands. */
#include "sampler.h"

__attribute__((weak)) int ts_sampler_load(ts_env_lookup_fn lookup)
{
    (void)lookup;
    return 0;
}

__attribute__((weak)) bool ts_sampler_should_sample(const struct ts_ctx *parent,
                                                    const uint8_t trace_id[TS_TRACE_ID_LEN],
                                                    const char *name, size_t name_len)
{
    (void)trace_id, (void)name, (void)name_len;
    return !parent || !parent->valid || ts_ctx_sampled(parent);
}

__attribute__((weak)) bool ts_sampler_remote_url(char *url, size_t cap, const char *service_name)
{
    (void)url, (void)cap, (void)service_name;
    return false;
}

__attribute__((weak)) unsigned ts_sampler_poll_interval_ms(void)
{
    return 60000;
}

__attribute__((weak)) int ts_sampler_apply_strategy(const char *json, size_t len)
{
    (void)json, (void)len;
    return -1;
}
