/* self_image.h — where this module (libtraceshim.so, or the program a unit
 * test links the objects into) lies in memory, segment by segment, read
 * from its own ELF program headers: no lock, no system call, no loader
 * call (dladdr takes the loader's lock). */
#ifndef TS_SELF_IMAGE_H
#define TS_SELF_IMAGE_H

#include <stdbool.h>
#include <stdint.h>

/* One loaded segment: [lo, hi) in memory and its PF_R/PF_W/PF_X flags. */
struct ts_self_segment {
    uintptr_t lo, hi;
    uint32_t flags;
};

/* Fill out[0..max) with the module's loaded (PT_LOAD) segments, in header
 * order; returns how many there are (which may be more than max). */
unsigned ts_self_segments(struct ts_self_segment *out, unsigned max);

/* Room enough for the segments of any module the linker makes. */
#define TS_SELF_SEGMENTS_MAX 16

/* Does one of seg[0..n) hold p? For many checks against one
 * ts_self_segments answer (each call of ts_self_holds reads the headers
 * again). */
bool ts_self_segments_hold(const struct ts_self_segment *seg, unsigned n, const void *p);

/* Does one of the module's loaded segments hold p (a lookup that found
 * the shim's own hook instead of the function it stands in front of)? */
bool ts_self_holds(const void *p);

#endif
