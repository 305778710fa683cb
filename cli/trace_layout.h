/* trace_layout.h — where each span of a built trace sits: its parent by
 * position in display order, and a display shift that undoes clock skew
 * between hosts, so a child never appears to start before the request that
 * caused it.
 *
 * Clock skew rule (Jaeger's adjuster does much the same): two spans share a
 * clock when both name the same host.name, or when neither names a host and
 * both come from the same resource (service and pid). A span on its parent's
 * clock moves with its parent (shift inherited: one clock, one error). A span
 * on another clock that does not fit inside its parent's (shifted) interval is
 * moved so it does: to start at the parent's start when it starts too early or
 * is longer than the parent, else to end at the parent's end. Only display
 * times move; the spans keep their real timestamps, and the views say when a
 * span was shifted and by how much. */
#ifndef TS_TRACE_LAYOUT_H
#define TS_TRACE_LAYOUT_H

#include "cli/trace_model.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Do a and b read the same clock (rule above)? */
bool ts_tm_same_clock(const ts_tm_span *a, const ts_tm_span *b);

/* t + shift, clamped at 0: a span's display time. */
uint64_t ts_tm_shifted(uint64_t t, int64_t shift);

/* The display shift of child, whose parent is drawn shifted by
 * parent_shift: parent_shift when both read one clock, else what fits the
 * child inside the parent's displayed interval (0 when it fits already, or
 * when the times are too large to shift). It depends on nothing else, the
 * child's siblings least of all: a tree's shifts can be found from the
 * roots down before its siblings are ordered. */
int64_t ts_tm_child_shift(const ts_tm_span *child, const ts_tm_span *parent, int64_t parent_shift);

/* For n spans in depth-first display order with their depths: fills
 * parent[i] (TS_TM_NO_PARENT for depth 0) and shift_ns[i], and sets
 * *view_start and *view_end to the shifted spans' earliest start and latest end
 * (0 and 0 when n is 0). */
void ts_tm_layout(const ts_tm_span *const *spans, const unsigned *depth, size_t n, size_t *parent,
                  int64_t *shift_ns, uint64_t *view_start, uint64_t *view_end);

#endif
