/* stacks.c — capturing the program's call stack (see stacks.h). */
#include "stacks.h"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <pthread.h>
#include <string.h>

#include "deepbind.h"
#include "log.h"
#include "self_image.h"

/* The runtime library of Debian's libunwind8 (local unwinding). */
#define STACKS_LIBUNWIND "libunwind.so.8"
/* Raw frames taken before the shim's own are dropped: a hook's own
 * frames (hook, connection, parser, span start, capture) are about ten. */
#define STACKS_RAW_MAX (TS_SPAN_MAX_FRAMES + 24)

/* libunwind's int unw_backtrace(void **buffer, int size): a plain symbol
 * (unlike most of its API, whose names are macros), so no header needed. */
typedef int (*stacks_backtrace_fn)(void **, int);

static pthread_once_t stacks_once = PTHREAD_ONCE_INIT;
static stacks_backtrace_fn stacks_backtrace; /* NULL: no libunwind */
/* The executable part of the module the shim is linked into. */
static uintptr_t stacks_self_lo, stacks_self_hi;

/* Where this module's code is (one range over its executable segments). */
static void stacks_find_self(void)
{
    struct ts_self_segment seg[8];
    unsigned n = ts_self_segments(seg, 8);
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (unsigned i = 0; i < n && i < 8; i++)
        if (seg[i].flags & PF_X) {
            lo = seg[i].lo < lo ? seg[i].lo : lo;
            hi = seg[i].hi > hi ? seg[i].hi : hi;
        }
    stacks_self_lo = lo < hi ? lo : 0;
    stacks_self_hi = lo < hi ? hi : 0;
}

static void stacks_load_once(void)
{
    stacks_find_self();
    void *h = ts_real_dlopen(STACKS_LIBUNWIND, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *why = dlerror();
        ts_log_error("TRACESHIM_STACKS: cannot load %s (%s); spans get no call stacks",
                     STACKS_LIBUNWIND, why ? why : "?");
        return;
    }
    stacks_backtrace_fn bt = (stacks_backtrace_fn)dlsym(h, "unw_backtrace");
    if (!bt)
        ts_log_error("TRACESHIM_STACKS: %s has no unw_backtrace; spans get no call stacks",
                     STACKS_LIBUNWIND);
    __atomic_store_n(&stacks_backtrace, bt, __ATOMIC_RELEASE);
}

bool ts_stacks_load(void)
{
    pthread_once(&stacks_once, stacks_load_once);
    return __atomic_load_n(&stacks_backtrace, __ATOMIC_ACQUIRE) != NULL;
}

int ts_stacks_drop(uintptr_t *ips, int n, uintptr_t lo, uintptr_t hi)
{
    int kept = 0;
    for (int i = 0; i < n; i++)
        if (ips[i] < lo || ips[i] >= hi)
            ips[kept++] = ips[i];
    return kept;
}

static bool stacks_in_self(uintptr_t ip)
{
    return ip >= stacks_self_lo && ip < stacks_self_hi;
}

/* Not inlined: its own frame is the one it drops. */
__attribute__((noinline)) int ts_stacks_capture(uintptr_t *ips, int max, bool keep_self)
{
    if (max <= 0 || !ts_stacks_load())
        return 0;
    uintptr_t raw[STACKS_RAW_MAX]; /* void * and uintptr_t: the same bits */
    int n = stacks_backtrace((void **)raw, STACKS_RAW_MAX);
    /* libunwind's own frames come first (if any), then this function's. */
    int i = 0;
    while (i < n && !stacks_in_self(raw[i]))
        i++;
    if (i < n)
        i++;
    n -= i;
    if (!keep_self)
        n = ts_stacks_drop(raw + i, n, stacks_self_lo, stacks_self_hi);
    if (n > max)
        n = max;
    memcpy(ips, raw + i, (size_t)(n > 0 ? n : 0) * sizeof *ips);
    return n > 0 ? n : 0;
}

void ts_stacks_capture_span(struct ts_span *s)
{
    if (!s->sampled)
        return;
    bool wanted = s->kind == TS_KIND_CLIENT   ? ts_cfg.stacks != TS_STACKS_OFF
                  : s->kind == TS_KIND_SERVER ? ts_cfg.stacks == TS_STACKS_ALL
                                              : false;
    if (!wanted)
        return;
    int n = ts_stacks_capture(s->frames, TS_SPAN_MAX_FRAMES, false);
    s->nframes = (uint8_t)(n > 0 ? n : 0);
}
