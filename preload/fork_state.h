/* fork_state.h — where the state that the fork handlers write is kept.
 *
 * After fork() every page of the process is shared, copy-on-write, by the
 * parent and the child: the first store to a page on either side takes a
 * page fault that copies it (about two microseconds here, under a
 * hypervisor). The shim's fork handlers store into the locks, pools,
 * queues and counters of a dozen modules: prepare's locks are released in
 * the parent, and the child resets its copy of each. Spread over the
 * library's data those stores touched 19 pages in the child and 9 in the
 * parent, which made every fork of a traced program (a shell running its
 * commands, make, a server's workers) about 80 µs slower.
 *
 * An object marked TS_FORK_STATE lives in one section with the others, so
 * that those stores fall on a few pages. Each starts a cache line of its
 * own, so that grouping hot objects of different modules puts no two of
 * them on one line. Marking an object is an optimisation only: one left
 * out costs a fault per fork, never correctness. test_startup.py counts
 * the faults a fork adds.
 *
 * The same holds for code: a forked child maps each page of the library's
 * code at its first touch, and the handlers, each in its module's part of
 * the text, touched a page apiece. A function marked TS_FORK_HANDLER is
 * cold, which puts it in .text.unlikely with the others. */
#ifndef TS_FORK_STATE_H
#define TS_FORK_STATE_H

/* A section name that is a C identifier and not .data.*: the linker keeps
 * its input sections together in an output section of their own. */
#define TS_FORK_STATE __attribute__((section("ts_fork_state"), aligned(64)))

/* A forked child's reset of *p to v, stored only when it changes
 * anything: a store that changes nothing still copies the page. For the
 * plain types the __atomic builtins take. */
#define TS_FORK_RESET(p, v)                                                                        \
    do {                                                                                           \
        if (__atomic_load_n((p), __ATOMIC_RELAXED) != (v))                                         \
            __atomic_store_n((p), (v), __ATOMIC_RELAXED);                                          \
    } while (0)

/* Code run only around fork (the handlers and what only they call). */
#define TS_FORK_HANDLER __attribute__((cold))

#endif
