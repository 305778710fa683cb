/* clock.h — times for spans (moments on the program's boot clock, made
 * wall-clock time by a cached offset, as the program reads both), and the
 * kernel's own clocks for the shim's deadlines. */
#ifndef TS_CLOCK_H
#define TS_CLOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/* Wall-clock nanoseconds since the Unix epoch (the span file's metrics,
 * the start of the statistics). */
static inline uint64_t ts_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A moment, in nanoseconds since boot (CLOCK_BOOTTIME, as the program
 * reads it: monotonic, and counting a suspend, as the wall clock does).
 * Spans are timed in moments: a span's start is its first moment as
 * wall-clock time (ts_wall_ns_at), its end that start plus the moments
 * between, so a step of the wall clock while a span runs (an NTP step,
 * settimeofday) neither changes its duration nor puts its end before its
 * start. */
static inline uint64_t ts_moment_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_BOOTTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The wall-clock time (ns since the Unix epoch) of a recent moment. The
 * two clocks differ by the wall clock's steps alone (both are slewed
 * alike, both count a suspend), so the difference is read again only when
 * it is older than TS_WALL_OFFSET_MAX_AGE_NS: a span start reads one
 * clock, not two. Async-signal-safe. */
#define TS_WALL_OFFSET_MAX_AGE_NS (100ull * 1000 * 1000)
uint64_t ts_wall_ns_at(uint64_t moment);

/* The end, in wall-clock ns, of what began at wall-clock time start_ns
 * and moment start and ended at moment end. */
static inline uint64_t ts_wall_end_ns(uint64_t start_ns, uint64_t start, uint64_t end)
{
    return start_ns + (end > start ? end - start : 0);
}

/* clock, as the kernel keeps it: through the vDSO (or the system call),
 * never libc's clock_gettime, which another preloaded library may fake
 * (libfaketime fakes CLOCK_MONOTONIC too: the reporter's periodic export
 * never came, and an exit with a frozen clock never ended). The shim's
 * deadlines are the kernel's to measure (futex waits, timed locks), so
 * they are read on its clocks. Async-signal-safe. */
typedef int (*ts_vdso_clock_fn)(clockid_t, struct timespec *);
extern ts_vdso_clock_fn ts_clock_vdso; /* NULL until looked up, or without a vDSO */
void ts_clock_read_slow(clockid_t clock, struct timespec *ts);
/* At start-up: the vDSO's function found (a few thousand instructions). */
void ts_clock_look_up(void);

static inline void ts_clock_read(clockid_t clock, struct timespec *ts)
{
    ts_vdso_clock_fn vdso = __atomic_load_n(&ts_clock_vdso, __ATOMIC_RELAXED);
    if (__builtin_expect(vdso == NULL, 0) || vdso(clock, ts) != 0)
        ts_clock_read_slow(clock, ts);
}

/* Monotonic milliseconds, for timeouts. */
static inline uint64_t ts_mono_ms(void)
{
    struct timespec ts;
    ts_clock_read(CLOCK_MONOTONIC, &ts);
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
    ts_clock_read(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#endif
