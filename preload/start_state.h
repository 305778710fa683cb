/* start_state.h — where the small state that every process's start writes
 * is kept.
 *
 * The library's data and .bss are the process's own pages, mapped at
 * their first touch: each page the constructor reads or writes is a page
 * fault (a read of an untouched page, then the write that copies it: two),
 * about one to two microseconds apiece here, under a hypervisor, and every
 * command a traced shell or make runs pays them before its main. The
 * once-flags and the small settings of a dozen modules, spread over the
 * library's data, touched a page apiece.
 *
 * An object marked TS_START_STATE lives in one section with the others, so
 * that those stores fall on one or two pages. Marking an object is an
 * optimisation only: one left out costs a fault per process, never
 * correctness. test_startup.py counts the faults a start adds. (The
 * objects the fork handlers write are grouped the same way:
 * fork_state.h.) */
#ifndef TS_START_STATE_H
#define TS_START_STATE_H

/* A section name that is a C identifier and not .data.*: the linker keeps
 * its input sections together in an output section of their own. Each
 * object starts a cache line of its own: the section comes after the
 * fork state, whose counters are written for every span, and some of
 * its objects are read on every call. Small objects only: a sanitizer
 * puts no redzones around objects in a named section, and a buffer there
 * would lose its overflow checks. */
#define TS_START_STATE __attribute__((section("ts_start_state"), aligned(64)))

/* The same without a cache line each, for the members of a table read
 * together (the real functions'), in a file with a TS_START_STATE object
 * of its own (which aligns the file's part of the section). */
#define TS_START_STATE_PACKED __attribute__((section("ts_start_state")))

#endif
