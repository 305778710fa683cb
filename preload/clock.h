/* clock.h — timestamps for spans. */
#ifndef TS_CLOCK_H
#define TS_CLOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/* Wall-clock nanoseconds since the Unix epoch (span start/end). */
static inline uint64_t ts_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Monotonic milliseconds, for timeouts. */
static inline uint64_t ts_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000ull + (uint64_t)ts.tv_nsec / 1000000ull;
}

/* For a wait that yields while another thread finishes something short,
 * bounded all the same: false once ms have passed since the first call
 * for *deadline (0 before it). Called after the wait's condition, so a
 * wait that ends at once reads no clock. */
static inline bool ts_still_waiting(uint64_t *deadline, unsigned ms)
{
    uint64_t now = ts_mono_ms();
    if (!*deadline)
        *deadline = now + ms;
    return now < *deadline;
}

/* Monotonic nanoseconds, for short bounded waits. */
static inline uint64_t ts_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#endif
