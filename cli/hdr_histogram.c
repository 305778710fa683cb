/* hdr_histogram.c — see hdr_histogram.h. Bucket index of v >= 2^S (S =
 * TS_HDR_SUB_BITS): with m its highest set bit and shift = m - S, the top
 * S+1 bits of v (v >> shift, in [2^S, 2^(S+1))) pick one of 2^S sub-buckets
 * of the power of two [2^m, 2^(m+1)), each 2^shift wide; index =
 * (shift + 1) * 2^S + (v >> shift) - 2^S, which continues the exact
 * indices 0 .. 2^S - 1 of the small values without a gap. */
#include "cli/hdr_histogram.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SUB_COUNT ((uint64_t)1 << TS_HDR_SUB_BITS)
/* grow the window by whole powers of two: fewer reallocations */
#define GROW_STEP ((size_t)SUB_COUNT)

void ts_hdr_init(ts_hdr *h)
{
    memset(h, 0, sizeof(*h));
    h->min = UINT64_MAX;
}

void ts_hdr_free(ts_hdr *h)
{
    free(h->counts);
    ts_hdr_init(h);
}

size_t ts_hdr_index(uint64_t v)
{
    if (v < SUB_COUNT)
        return (size_t)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = msb - TS_HDR_SUB_BITS;
    return (size_t)((uint64_t)(shift + 1) * SUB_COUNT + ((v >> shift) - SUB_COUNT));
}

uint64_t ts_hdr_bucket_low(size_t idx)
{
    if (idx < SUB_COUNT)
        return idx;
    unsigned shift = (unsigned)(idx >> TS_HDR_SUB_BITS) - 1;
    return (SUB_COUNT + (idx & (SUB_COUNT - 1))) << shift;
}

uint64_t ts_hdr_bucket_width(size_t idx)
{
    return idx < SUB_COUNT ? 1 : (uint64_t)1 << ((idx >> TS_HDR_SUB_BITS) - 1);
}

/* Makes the window hold bucket idx. */
static int cover(ts_hdr *h, size_t idx)
{
    if (h->n && idx >= h->lo && idx < h->lo + h->n)
        return 0;
    size_t lo = h->n ? (idx < h->lo ? idx : h->lo) : idx;
    size_t hi = h->n ? (idx >= h->lo + h->n ? idx + 1 : h->lo + h->n) : idx + 1;
    lo -= lo % GROW_STEP;
    hi += (GROW_STEP - hi % GROW_STEP) % GROW_STEP;
    uint64_t *c = calloc(hi - lo, sizeof(*c));
    if (!c)
        return -1;
    if (h->n)
        memcpy(c + (h->lo - lo), h->counts, h->n * sizeof(*c));
    free(h->counts);
    h->counts = c;
    h->lo = lo;
    h->n = hi - lo;
    return 0;
}

int ts_hdr_record(ts_hdr *h, uint64_t v)
{
    size_t idx = ts_hdr_index(v);
    if (cover(h, idx) != 0)
        return -1;
    h->counts[idx - h->lo]++;
    h->total++;
    h->sum += (long double)v;
    if (v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
    return 0;
}

uint64_t ts_hdr_percentile(const ts_hdr *h, double p)
{
    if (h->total == 0)
        return 0;
    if (!(p > 0))
        return h->min;
    /* p/100 * total is inexact in binary (99.9% of 1000 comes out a hair
     * above 999): take off a relative hair before rounding up */
    double want = ceil(p / 100.0 * (double)h->total * (1.0 - 1e-12));
    uint64_t rank = want < 1 ? 1 : want >= (double)h->total ? h->total : (uint64_t)want;
    uint64_t seen = 0;
    for (size_t i = 0; i < h->n; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            size_t idx = h->lo + i;
            uint64_t w = ts_hdr_bucket_width(idx);
            uint64_t mid = ts_hdr_bucket_low(idx) + (w - 1) / 2;
            return mid < h->min ? h->min : mid > h->max ? h->max : mid;
        }
    }
    return h->max;
}
