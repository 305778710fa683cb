/* ids.c — per-thread id generator (see ids.h). */
#include "ids.h"
#include "fork_state.h"

#include <stdatomic.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

struct ids_state {
    uint64_t s[2];
    unsigned generation; /* matches ids_generation when seeded for this process; 0: not seeded */
};

static __thread struct ids_state ids_tls __attribute__((tls_model("initial-exec")));
static _Atomic unsigned ids_generation TS_FORK_STATE = 1; /* never 0 (wraps past it) */

/* splitmix64: spreads any seed into well-mixed state words. */
static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void ids_seed(struct ids_state *st)
{
    uint64_t seed[2] = {0, 0};
    ssize_t n = getrandom(seed, sizeof seed, GRND_NONBLOCK);
    /* Without entropy (very early boot, seccomp), mix what differs between
     * threads and processes; ids must stay unique, not secret. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t mix = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ ((uint64_t)getpid() << 17) ^
                   (uint64_t)(uintptr_t)st;
    if (n != (ssize_t)sizeof seed) {
        seed[0] ^= splitmix64(&mix);
        seed[1] ^= splitmix64(&mix);
    }
    st->s[0] = splitmix64(&seed[0]);
    st->s[1] = splitmix64(&seed[1]);
    if ((st->s[0] | st->s[1]) == 0)
        st->s[1] = 1;
    st->generation = atomic_load_explicit(&ids_generation, memory_order_relaxed);
}

/* xoroshiro128+ step: fast, and good enough for unique ids. It works on a
 * copy of the thread's state held in registers (struct ids_draw), written
 * back once per call: the ids' stores could otherwise be the state's for
 * all the compiler knows, and every word would load and store it again. */
struct ids_draw {
    uint64_t s0, s1;
};

static inline __attribute__((always_inline)) uint64_t ids_next(struct ids_draw *d)
{
    uint64_t s0 = d->s0, s1 = d->s1;
    uint64_t result = s0 + s1;
    s1 ^= s0;
    d->s0 = ((s0 << 24) | (s0 >> 40)) ^ s1 ^ (s1 << 16);
    d->s1 = (s1 << 37) | (s1 >> 27);
    return result;
}

/* The thread's state, seeded for this process: one compare says it is
 * (generation 0 never matches). */
static inline __attribute__((always_inline)) struct ids_draw ids_begin(void)
{
    struct ids_state *st = &ids_tls;
    if (__builtin_expect(st->generation !=
                             atomic_load_explicit(&ids_generation, memory_order_relaxed),
                         0))
        ids_seed(st);
    return (struct ids_draw){st->s[0], st->s[1]};
}

static inline __attribute__((always_inline)) void ids_end(const struct ids_draw *d)
{
    ids_tls.s[0] = d->s0;
    ids_tls.s[1] = d->s1;
}

/* n random bytes, n a multiple of 8, not all zero (an all-zero id means
 * "none" on the wire). */
static inline __attribute__((always_inline)) void fill(struct ids_draw *d, uint8_t *out, size_t n)
{
    uint64_t any;
    do {
        any = 0;
        for (size_t i = 0; i < n; i += 8) {
            uint64_t v = ids_next(d);
            memcpy(out + i, &v, 8);
            any |= v;
        }
    } while (__builtin_expect(any == 0, 0));
}

_Static_assert(TS_TRACE_ID_LEN % 8 == 0 && TS_SPAN_ID_LEN % 8 == 0, "ids are whole words");

void ts_ids_new_trace(uint8_t out[TS_TRACE_ID_LEN])
{
    struct ids_draw d = ids_begin();
    fill(&d, out, TS_TRACE_ID_LEN);
    ids_end(&d);
}

void ts_ids_new_span(uint8_t out[TS_SPAN_ID_LEN])
{
    struct ids_draw d = ids_begin();
    fill(&d, out, TS_SPAN_ID_LEN);
    ids_end(&d);
}

void ts_ids_new_trace_and_span(uint8_t trace[TS_TRACE_ID_LEN], uint8_t span[TS_SPAN_ID_LEN])
{
    struct ids_draw d = ids_begin();
    fill(&d, trace, TS_TRACE_ID_LEN);
    fill(&d, span, TS_SPAN_ID_LEN);
    ids_end(&d);
}

TS_FORK_HANDLER void ts_ids_after_fork(void)
{
    if (atomic_fetch_add_explicit(&ids_generation, 1, memory_order_relaxed) + 1 == 0)
        atomic_fetch_add_explicit(&ids_generation, 1, memory_order_relaxed); /* 0: unseeded */
}
