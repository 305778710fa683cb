/* fdtable.c — the fd → tracked connection table (see fdtable.h). */
#include "fdtable.h"

#include "fork_state.h"

struct ts_fd_ref *_Atomic ts_fd_slots[TS_FD_MAX];
__thread bool ts_fd_unshared_here __attribute__((tls_model("initial-exec")));
__thread unsigned ts_fd_unshared_first __attribute__((tls_model("initial-exec"))) = 1;
__thread unsigned ts_fd_unshared_last __attribute__((tls_model("initial-exec")));
atomic_int ts_fd_high_water_ TS_FORK_STATE; /* read by the child's fork handler */

void ts_fd_unshared_add(unsigned first, unsigned last)
{
    unsigned lo = ts_fd_unshared_first, hi = ts_fd_unshared_last;
    if (lo > hi) { /* none yet */
        lo = first;
        hi = last;
    } else if (first <= (hi == ~0U ? hi : hi + 1) && (lo == 0 ? 0 : lo - 1) <= last) {
        lo = first < lo ? first : lo; /* overlapping or adjacent: one range */
        hi = last > hi ? last : hi;
    } else {
        lo = 0; /* apart: every number */
        hi = ~0U;
    }
    ts_fd_unshared_first = lo;
    ts_fd_unshared_last = hi;
    ts_fd_unshared_here = true;
}

struct ts_fd_ref *ts_fd_acquire(int fd)
{
    if ((unsigned)fd >= TS_FD_MAX)
        return NULL;
    for (;;) {
        struct ts_fd_ref *r = atomic_load_explicit(&ts_fd_slots[fd], memory_order_acquire);
        if (!r)
            return NULL;
        /* Count ourselves in only while the object is alive (refs > 0);
         * objects are type-stable, so probing a dead one is safe. */
        int n = atomic_load_explicit(&r->refs, memory_order_relaxed);
        while (n > 0 && !atomic_compare_exchange_weak_explicit(
                            &r->refs, &n, n + 1, memory_order_acq_rel, memory_order_relaxed))
            ;
        if (n <= 0)
            continue; /* it died under us: the slot has changed, look again */
        if (atomic_load_explicit(&ts_fd_slots[fd], memory_order_acquire) == r)
            return r;
        /* The slot moved on while we counted in: not ours to use. If ours
         * was the last reference, the put destroys it as anyone's would. */
        ts_fd_put(r);
    }
}

bool ts_fd_put_unless_last(struct ts_fd_ref *r)
{
    int n = atomic_load_explicit(&r->refs, memory_order_relaxed);
    while (n > 1)
        if (atomic_compare_exchange_weak_explicit(&r->refs, &n, n - 1, memory_order_acq_rel,
                                                  memory_order_relaxed))
            return true;
    return false;
}

void ts_fd_retain(struct ts_fd_ref *r)
{
    atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
}

struct ts_fd_ref *ts_fd_install(int fd, struct ts_fd_ref *r)
{
    if ((unsigned)fd >= TS_FD_MAX)
        return r;
    int hw = atomic_load_explicit(&ts_fd_high_water_, memory_order_relaxed);
    while (fd + 1 > hw &&
           !atomic_compare_exchange_weak_explicit(&ts_fd_high_water_, &hw, fd + 1,
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
    return atomic_exchange_explicit(&ts_fd_slots[fd], r, memory_order_acq_rel);
}

struct ts_fd_ref *ts_fd_remove(int fd)
{
    if ((unsigned)fd >= TS_FD_MAX)
        return NULL;
    return atomic_exchange_explicit(&ts_fd_slots[fd], NULL, memory_order_acq_rel);
}

bool ts_fd_remove_if(int fd, struct ts_fd_ref *r)
{
    if ((unsigned)fd >= TS_FD_MAX)
        return false;
    struct ts_fd_ref *expected = r;
    return atomic_compare_exchange_strong_explicit(&ts_fd_slots[fd], &expected, NULL,
                                                   memory_order_acq_rel, memory_order_relaxed);
}
