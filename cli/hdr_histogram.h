/* hdr_histogram.h — a latency histogram in the HDR style: log-linear
 * buckets, so any value from 1 ns to 2^64 ns is counted with a bounded
 * relative error (TS_HDR_SUB_BITS = 7: values below 128 exactly, above it
 * in buckets 1/128 of their power of two wide; a percentile is reported as
 * its bucket's midpoint, within 1/256 < 0.4% of the true sample).
 * Memory grows with the range of values actually seen, not the possible
 * range: a few KiB for latencies spanning microseconds to seconds. */
#ifndef TS_HDR_HISTOGRAM_H
#define TS_HDR_HISTOGRAM_H

#include <stddef.h>
#include <stdint.h>

#define TS_HDR_SUB_BITS 7

typedef struct {
    uint64_t *counts; /* counts[i] is bucket lo + i */
    size_t lo, n;     /* the window of buckets held */
    uint64_t total;   /* values recorded */
    uint64_t min, max;
    long double sum; /* for the mean */
} ts_hdr;

void ts_hdr_init(ts_hdr *h);
void ts_hdr_free(ts_hdr *h);

/* Counts v once. Returns 0, or -1 when out of memory (nothing counted). */
int ts_hdr_record(ts_hdr *h, uint64_t v);

/* The bucket of v, and the range [low, low + width) of a bucket. */
size_t ts_hdr_index(uint64_t v);
uint64_t ts_hdr_bucket_low(size_t idx);
uint64_t ts_hdr_bucket_width(size_t idx);

/* The p-th percentile (0 < p <= 100) by nearest rank: the value at rank
 * ceil(p/100 * total) in sorted order, as its bucket's midpoint clamped to
 * [min, max]. 0 for an empty histogram. */
uint64_t ts_hdr_percentile(const ts_hdr *h, double p);

#endif
