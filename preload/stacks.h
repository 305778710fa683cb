/* stacks.h — the program's call stack at the start of a span
 * (TRACESHIM_STACKS).
 *
 * The capture runs on the program's thread, inside a hook: libunwind's
 * local unwinder (unw_backtrace, which caches each return address's frame
 * layout per thread) writes raw instruction pointers into the span record,
 * without the shim's own frames, so the first one is the program's call
 * of send/write/read. No allocation once a thread has unwound before.
 * Turning the addresses into names is the reporter thread's job
 * (reporter/symbolize.h).
 *
 * libunwind is loaded with dlopen(RTLD_LOCAL) at the first capture, not
 * linked: Debian ships no PIC libunwind.a, and a libunwind.so.8 that the
 * shim depended on would join the program's global symbol scope, where its
 * _Unwind_* functions take C++ exception unwinding away from libgcc_s in
 * any module the program loads later (see the README). */
#ifndef TS_STACKS_H
#define TS_STACKS_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "span.h"

/* Capture this thread's call stack into ips[0..max): return addresses,
 * innermost first, without libunwind's frames and without this function's
 * own. keep_self false also drops every frame of the module the shim is
 * linked into (the library: its hooks and parsers above the program's
 * call, and the wrapper around main below it; a unit test's executable:
 * everything of the test). Returns the number of frames (0 when libunwind
 * cannot be loaded). */
int ts_stacks_capture(uintptr_t *ips, int max, bool keep_self);

/* Drop the frames of ips[0..n) that lie in [lo, hi), keeping the order of
 * the others; returns how many are left. */
int ts_stacks_drop(uintptr_t *ips, int n, uintptr_t lo, uintptr_t hi);

/* Load libunwind now (once; later calls return the first answer). False
 * when it is missing: stacks are then never captured. */
bool ts_stacks_load(void);

/* Capture into s->frames when ts_cfg.stacks asks for spans of s's kind
 * and s is sampled. */
void ts_stacks_capture_span(struct ts_span *s);

/* A span is starting: take its stack if the configuration says so. Off
 * (the default) costs one load and a branch. */
static inline void ts_stacks_at_start(struct ts_span *s)
{
    if (__builtin_expect(ts_cfg.stacks != TS_STACKS_OFF, 0))
        ts_stacks_capture_span(s);
}

/* A span has ended (end_ns set): under slow:DURATION, a span faster than
 * DURATION forgets its stack. */
static inline void ts_stacks_at_end(struct ts_span *s)
{
    if (ts_cfg.stacks == TS_STACKS_SLOW && s->end_ns < s->start_ns + ts_cfg.stacks_slow_ns)
        s->nframes = 0;
}

#endif
