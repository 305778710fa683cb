/* sampling_poller.h — fetches the remote sampling strategy (Jaeger's
 * GET /sampling?service=NAME) for the remote samplers, from the reporter
 * thread, every pollingIntervalMs. Failures keep the current strategy (at
 * first the initial rate) and are said once on stderr. */
#ifndef TS_SAMPLING_POLLER_H
#define TS_SAMPLING_POLLER_H

#include <stdbool.h>
#include <stdint.h>

/* True when the configured sampler is remote (call after ts_sampler_load). */
bool ts_sampling_poller_wanted(void);

/* Poll now if it is due at now_ms. Returns when the next poll is due
 * (ts_mono_ms clock); 0 when the sampler is not remote. */
uint64_t ts_sampling_poll(uint64_t now_ms);

/* In a forked child: forget the parent's connection, poll soon. */
void ts_sampling_poller_after_fork(void);

#endif
