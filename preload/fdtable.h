/* fdtable.h — which file descriptors are connections the shim tracks.
 *
 * A flat array indexed by fd: deciding that an fd is not tracked costs one
 * bounds check and one load, which is all an untracked read/write pays.
 * Entries are reference counted so a connection object stays alive while a
 * hook on another thread still uses it after the fd was closed; the objects
 * themselves must be type-stable (never returned to malloc), which the
 * connection pool in hooks/conn.c guarantees, so a stale pointer can always
 * be probed safely. */
#ifndef TS_FDTABLE_H
#define TS_FDTABLE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

/* fds at or above this are never tracked (they pass straight through). */
#define TS_FD_MAX (1 << 20)

/* Embedded as the first member of a tracked object. refs counts the table
 * slots holding it plus the hooks using it; 0 means dead. */
struct ts_fd_ref {
    atomic_int refs;
    void (*destroy)(struct ts_fd_ref *self); /* called when refs drops to 0 */
};

extern struct ts_fd_ref *_Atomic ts_fd_slots[TS_FD_MAX];

/* The calling thread took an fd table of its own (close_range with
 * CLOSE_RANGE_UNSHARE while another thread shared its table: hooks/
 * socket_hooks.c), a copy of the shared one. The numbers it closed there,
 * and those of the files it made there since, name its own files, not the
 * connections this table tracks for the others: they are the numbers in
 * [ts_fd_unshared_first, ts_fd_unshared_last] (none when first > last;
 * widened to every number when one apart from them joins), and the
 * thread's calls on them pass untraced. Its other numbers are still the
 * files they were in the shared table (a connection it kept is followed
 * as before). Set for good (the thread's table never joins the others'
 * again); threads it creates share its table and inherit it; a child it
 * forks has that table, and forgets the connections at those numbers. */
extern __thread bool ts_fd_unshared_here __attribute__((tls_model("initial-exec")));
extern __thread unsigned ts_fd_unshared_first __attribute__((tls_model("initial-exec")));
extern __thread unsigned ts_fd_unshared_last __attribute__((tls_model("initial-exec")));

/* Is fd one of the calling thread's own numbers (see above)? */
static inline bool ts_fd_unshared(int fd)
{
    return __builtin_expect(ts_fd_unshared_here, 0) && (unsigned)fd >= ts_fd_unshared_first &&
           (unsigned)fd <= ts_fd_unshared_last;
}

/* The calling thread's own table changed at [first, last] (closed there,
 * or new files there): those numbers are its own from now on (the thread
 * is marked as unshared if it was not). They join its range, which
 * covers every number when they lie apart from it. */
void ts_fd_unshared_add(unsigned first, unsigned last);

/* The fast check: is anything tracked on fd? */
static inline bool ts_fd_tracked(int fd)
{
    return (unsigned)fd < TS_FD_MAX &&
           atomic_load_explicit(&ts_fd_slots[fd], memory_order_relaxed) != NULL;
}

/* A counted reference to fd's object, or NULL. Pair with ts_fd_put. */
struct ts_fd_ref *ts_fd_acquire(int fd);

/* Drop a reference; the last one destroys the object. Inline: every
 * traced read and write on a tracked fd ends with one. */
static inline void ts_fd_put(struct ts_fd_ref *r)
{
    if (atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) == 1)
        r->destroy(r);
}

/* Drop a reference unless it is the last one, which is kept (the object
 * stays alive, owned by nobody). For a caller that must not run destroy
 * (it may take locks the caller's thread holds). Returns whether it
 * dropped. */
bool ts_fd_put_unless_last(struct ts_fd_ref *r);

/* Take an extra reference on an object already held. */
void ts_fd_retain(struct ts_fd_ref *r);

/* Put r (with a reference owned by the slot: the caller retains first or
 * passes a fresh object with refs == 1) into fd's slot. Returns the object
 * that was there, whose slot reference the caller now owns and must put,
 * or NULL. Out of range fds: returns r itself, untracked. */
struct ts_fd_ref *ts_fd_install(int fd, struct ts_fd_ref *r);

/* Empty fd's slot; returns the object (caller owns its slot reference). */
struct ts_fd_ref *ts_fd_remove(int fd);

/* Empty fd's slot if it holds r; true when it did (the caller then owns
 * the slot's reference). */
bool ts_fd_remove_if(int fd, struct ts_fd_ref *r);

/* One past the highest fd ever installed: bounds scans like close_range.
 * Inline: a forked child's _exit reads it, and a call would fault in a
 * page of code of its own there (test_startup.py ForkCost). */
extern atomic_int ts_fd_high_water_;
static inline int ts_fd_high_water(void)
{
    return atomic_load_explicit(&ts_fd_high_water_, memory_order_relaxed);
}

#endif
