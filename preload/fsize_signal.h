/* fsize_signal.h — the shim's own writes at a file size limit.
 *
 * A write that finds its file at the process's file size limit (ulimit -f,
 * RLIMIT_FSIZE) fails with EFBIG, and the kernel sends the writing thread
 * SIGXFSZ, whose default action ends the process. A write the shim makes
 * on a program's thread (the span file's line of a process that has no
 * reporter thread, a line on stderr) must cost the program no more than
 * the write, reported as any failed one: around it SIGXFSZ is held off,
 * and the one it raised taken away again, so that the program sees
 * neither, and a SIGXFSZ of its own that was pending stays so. (The
 * reporter thread blocks every signal; there the hold changes nothing.)
 * System calls only: async-signal-safe, and no cancellation point. Not
 * under a seccomp filter of the program's (sandbox.h): those system calls
 * are not the program's own, and the filter may kill for them; there the
 * write raises SIGXFSZ as it did before. A SIGXFSZ pending for the whole
 * process, not the thread, cannot be told from the thread's: the write's
 * is then left pending too. */
#ifndef TS_FSIZE_SIGNAL_H
#define TS_FSIZE_SIGNAL_H

#include <stdbool.h>

struct ts_fsize_hold {
    bool held;        /* ts_fsize_hold blocked SIGXFSZ (or found it blocked) */
    bool was_blocked; /* the thread had it blocked already */
    bool was_pending; /* and pending: the program's, not for us to take */
};

/* Before the writes: SIGXFSZ blocked on this thread. errno kept. */
void ts_fsize_hold(struct ts_fsize_hold *hold);

/* After them (hit_limit: one failed with EFBIG): the SIGXFSZ it raised
 * taken away, unless one was pending for the thread before; the signal
 * let through again where the thread had not blocked it. errno kept. */
void ts_fsize_release(const struct ts_fsize_hold *hold, bool hit_limit);

#endif
