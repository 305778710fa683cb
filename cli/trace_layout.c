/* trace_layout.c — see trace_layout.h. */
#include "cli/trace_layout.h"

#include <string.h>

/* Times beyond this are not shifted: the arithmetic stays in int64_t. */
#define SHIFTABLE_MAX ((uint64_t)INT64_MAX / 4)

bool ts_tm_same_clock(const ts_tm_span *a, const ts_tm_span *b)
{
    const ts_tm_resource *ra = a->resource, *rb = b->resource;
    if (ra == rb)
        return true;
    if (!ra || !rb)
        return false;
    if (ra->host[0] || rb->host[0])
        return strcmp(ra->host, rb->host) == 0;
    return ra->svc_id == rb->svc_id && ra->pid == rb->pid;
}

/* The shift that puts child c inside its parent's displayed interval
 * [ps, pe]; 0 when it already fits. */
static int64_t fit_inside(const ts_tm_span *c, int64_t ps, int64_t pe)
{
    int64_t s = (int64_t)c->start_ns, e = (int64_t)c->end_ns;
    if (s >= ps && e <= pe)
        return 0;
    if (s < ps || e - s > pe - ps)
        return ps - s;
    return pe - e;
}

uint64_t ts_tm_shifted(uint64_t t, int64_t shift)
{
    /* -(shift + 1) + 1: INT64_MIN's magnitude without overflow */
    uint64_t back = shift < 0 ? (uint64_t)(-(shift + 1)) + 1 : 0;
    if (shift < 0)
        return back > t ? 0 : t - back;
    return (uint64_t)shift > UINT64_MAX - t ? UINT64_MAX : t + (uint64_t)shift;
}

/* Can a child be fitted into its parent's interval shifted by shift? Both
 * ends, and the shift, within SHIFTABLE_MAX: the sums fit_inside makes
 * stay in int64_t (a chain of hosts adds shift to shift). */
static bool shiftable(const ts_tm_span *c, const ts_tm_span *parent, int64_t shift)
{
    return c->end_ns <= SHIFTABLE_MAX && parent->end_ns <= SHIFTABLE_MAX &&
           shift >= -(int64_t)SHIFTABLE_MAX && shift <= (int64_t)SHIFTABLE_MAX;
}

int64_t ts_tm_child_shift(const ts_tm_span *child, const ts_tm_span *parent, int64_t parent_shift)
{
    if (ts_tm_same_clock(child, parent))
        return parent_shift;
    if (!shiftable(child, parent, parent_shift))
        return 0;
    return fit_inside(child, (int64_t)parent->start_ns + parent_shift,
                      (int64_t)parent->end_ns + parent_shift);
}

void ts_tm_layout(const ts_tm_span *const *spans, const unsigned *depth, size_t n, size_t *parent,
                  int64_t *shift_ns, uint64_t *view_start, uint64_t *view_end)
{
    uint64_t lo = UINT64_MAX, hi = 0;
    for (size_t i = 0; i < n; i++) {
        parent[i] = TS_TM_NO_PARENT;
        shift_ns[i] = 0;
        if (depth[i] > 0 && i > 0) {
            /* Depth-first order: the parent is the nearest earlier span one
             * level up; climbing from the previous span's ancestors keeps
             * the whole pass linear. */
            size_t p = i - 1;
            while (p != TS_TM_NO_PARENT && depth[p] >= depth[i])
                p = parent[p];
            parent[i] = p;
        }
        if (parent[i] != TS_TM_NO_PARENT)
            shift_ns[i] = ts_tm_child_shift(spans[i], spans[parent[i]], shift_ns[parent[i]]);
        uint64_t s = ts_tm_shifted(spans[i]->start_ns, shift_ns[i]);
        uint64_t e = ts_tm_shifted(spans[i]->end_ns, shift_ns[i]);
        if (s < lo)
            lo = s;
        if (e > hi)
            hi = e;
    }
    *view_start = n ? lo : 0;
    *view_end = n ? hi : 0;
}
