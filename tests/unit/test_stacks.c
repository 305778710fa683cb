/* test_stacks.c — call stacks (TRACESHIM_STACKS): capture with libunwind
 * (preload/stacks.c), names from dladdr and the ELF .symtab
 * (reporter/symbolize.c), the attributes a span gets, which spans get a
 * stack; and what one capture costs (printed, not asserted).
 *
 * This executable is linked without -rdynamic: its own functions are not
 * exported, so their names can only come from its .symtab. */
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <ftw.h>
#include <link.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "preload/config.h"
#include "preload/self_image.h"
#include "preload/span.h"
#include "preload/stacks.h"
#include "reporter/symbolize.h"
#include "tests/decode/utf8_check.h"

static volatile int probe_sink; /* a store after each call: no tail calls */

/* Not inlined, and not cloned either (gcc would name a clone
 * stack_probe_leaf.constprop.0). */
#ifdef __clang__
#define PROBE __attribute__((noinline))
#else
#define PROBE __attribute__((noipa))
#endif

PROBE static int stack_probe_leaf(uintptr_t *ips, int max, bool keep_self)
{
    int n = ts_stacks_capture(ips, max, keep_self);
    probe_sink = n;
    return n;
}

PROBE static int stack_probe_middle(uintptr_t *ips, int max, bool keep_self)
{
    int n = stack_probe_leaf(ips, max, keep_self);
    probe_sink = n;
    return n;
}

/* A stack of `depth` more frames of this file above the capture. */
PROBE static int stack_probe_deep(int depth, uintptr_t *ips, int max)
{
    int n = depth > 0 ? stack_probe_deep(depth - 1, ips, max) : ts_stacks_capture(ips, max, true);
    probe_sink = n;
    return n;
}

/* Functions whose names are longer than the 256 bytes a name is shown
 * with, and have a character of 2, 3 or 4 bytes of UTF-8 across byte 256
 * (C11 takes \u in identifiers; the compiler writes them as UTF-8 in the
 * .symtab, as it does C++ and Rust symbols with such characters): 255,
 * 254 and 253 ASCII bytes first. FILL240 is 240 of them. */
#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define X4(x) CAT(CAT(x, x), CAT(x, x))
#define FILL240 X4(X4(abcdefghijklmno))
#define PROBE_UTF8(name)                                                                           \
    PROBE static int name(uintptr_t *ips, int max)                                                 \
    {                                                                                              \
        int n = ts_stacks_capture(ips, max, true);                                                 \
        probe_sink = n;                                                                            \
        return n;                                                                                  \
    }
PROBE_UTF8(CAT(CAT(stack_probe_u2, FILL240), x\u00e9_end))   /* 14 + 240 + 1, then U+00E9 */
PROBE_UTF8(CAT(CAT(stack_probe_u3, FILL240), \u4e2d_end))    /* 14 + 240, then U+4E2D */
PROBE_UTF8(CAT(CAT(stack_probe_4, FILL240), \U0001F600_end)) /* 13 + 240, then U+1F600 */

static const char *exe_path(void)
{
    static char path[1024];
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
    path[n > 0 ? n : 0] = 0;
    return path;
}

static int text_lines(const char *s, size_t len)
{
    int n = len ? 1 : 0;
    for (size_t i = 0; i < len; i++)
        n += s[i] == '\n';
    return n;
}

static void test_capture_and_names(void **state)
{
    assert_true(ts_stacks_load()); /* libunwind8 is a build dependency */
    uintptr_t ips[TS_SPAN_MAX_FRAMES];
    int n = stack_probe_middle(ips, TS_SPAN_MAX_FRAMES, true);
    assert_true(n >= 4); /* leaf, middle, this test, cmocka..., main */

    /* the names are not exported: they come from the .symtab */
    Dl_info info;
    assert_true(dladdr((void *)(ips[0] - 1), &info) == 0 || info.dli_sname == NULL ||
                strcmp(info.dli_sname, "stack_probe_leaf") != 0);

    struct ts_sym_frame f;
    ts_sym_resolve(ips[0], &f);
    assert_non_null(f.func);
    assert_int_equal(f.func_len, strlen("stack_probe_leaf"));
    assert_memory_equal(f.func, "stack_probe_leaf", f.func_len);
    assert_true(f.offset > 0 && f.offset < 4096);
    assert_string_equal(f.module, exe_path());

    char text[4096], func[64];
    size_t len = ts_sym_stack_text(ips, (size_t)n, text, sizeof text - 1, func, sizeof func);
    text[len] = 0;
    print_message("%s\n", text);
    assert_string_equal(func, "stack_probe_leaf");
    char want[1200];
    snprintf(want, sizeof want, "#0 stack_probe_leaf+0x%lx (%s)\n#1 stack_probe_middle+0x",
             (unsigned long)f.offset, exe_path());
    assert_memory_equal(text, want, strlen(want));
    assert_non_null(strstr(text, "\n#2 test_capture_and_names+0x"));
    assert_non_null(strstr(text, " main+0x"));
    assert_non_null(strstr(text, "libcmocka")); /* a shared library's frames: dladdr */
    assert_int_equal(text_lines(text, len), n);
    assert_null(memchr(text, 0, len));
}

/* keep_self false drops the frames of the module the capture is linked
 * into: in the library, the shim's; here, all of this test's. */
static void test_capture_skips_own_module(void **state)
{
    uintptr_t ips[TS_SPAN_MAX_FRAMES];
    int n = stack_probe_middle(ips, TS_SPAN_MAX_FRAMES, false);
    assert_true(n >= 1);
    struct ts_sym_frame f;
    for (int i = 0; i < n; i++) {
        ts_sym_resolve(ips[i], &f);
        assert_non_null(f.module);
        assert_string_not_equal(f.module, exe_path()); /* not even main */
    }
}

static void test_drop(void **state)
{
    uintptr_t ips[] = {0x100, 0x150, 0x1ff, 0x200, 0x120, 0x300};
    assert_int_equal(ts_stacks_drop(ips, 6, 0x100, 0x200), 2);
    assert_int_equal(ips[0], 0x200);
    assert_int_equal(ips[1], 0x300);
    assert_int_equal(ts_stacks_drop(ips, 2, 0x1000, 0x2000), 2);
    assert_int_equal(ips[0], 0x200);
    assert_int_equal(ts_stacks_drop(ips, 0, 0, UINTPTR_MAX), 0);
    assert_int_equal(ts_stacks_drop(ips, 2, 0, UINTPTR_MAX), 0);
}

static void test_depth_is_bounded(void **state)
{
    uintptr_t ips[TS_SPAN_MAX_FRAMES];
    assert_int_equal(stack_probe_deep(60, ips, TS_SPAN_MAX_FRAMES), TS_SPAN_MAX_FRAMES);
    char text[8192], func[64];
    size_t len = ts_sym_stack_text(ips, TS_SPAN_MAX_FRAMES, text, sizeof text, func, sizeof func);
    assert_string_equal(func, "stack_probe_deep");
    assert_int_equal(text_lines(text, len), TS_SPAN_MAX_FRAMES);
    assert_int_equal(stack_probe_deep(3, ips, 2), 2);
    assert_int_equal(ts_stacks_capture(ips, 0, true), 0);
}

static void test_resolve_exported_and_unknown(void **state)
{
    struct ts_sym_frame f;
    ts_sym_resolve((uintptr_t)&dladdr + 1, &f); /* an exported function of libc */
    assert_non_null(f.func);
    assert_non_null(strstr(f.module, "libc.so"));
    assert_int_equal(f.offset, 1);

    static const char not_code[16];
    ts_sym_resolve(0x10, &f); /* nothing is mapped there */
    assert_null(f.module);
    assert_null(f.func);
    assert_int_equal(f.offset, 0x10);
    char text[64], func[16];
    uintptr_t bad[] = {0x10};
    size_t len = ts_sym_stack_text(bad, 1, text, sizeof text, func, sizeof func);
    assert_int_equal(len, strlen("#0 0x10 (?)"));
    assert_memory_equal(text, "#0 0x10 (?)", len);
    assert_string_equal(func, "");
    ts_sym_resolve((uintptr_t)not_code + 1, &f); /* data of the program: no function */
    assert_string_equal(f.module, exe_path());
}

/* Whole lines only, a note when frames were left out, never past cap. */
static void test_text_truncates_at_lines(void **state)
{
    uintptr_t ips[TS_SPAN_MAX_FRAMES];
    int n = stack_probe_middle(ips, TS_SPAN_MAX_FRAMES, true);
    char full[8192], func[64];
    size_t flen = ts_sym_stack_text(ips, (size_t)n, full, sizeof full, func, sizeof func);
    const char *nl = memchr(full, '\n', flen);
    assert_non_null(nl);
    size_t first = (size_t)(nl - full);
    for (size_t cap = 0; cap < flen; cap++) {
        char out[8192];
        memset(out, '#', sizeof out);
        size_t len = ts_sym_stack_text(ips, (size_t)n, out, cap, func, sizeof func);
        assert_true(len <= cap);
        assert_int_equal(out[cap], '#');
        if (cap < first) {
            assert_true(len == 0 || strncmp(out, "(", 1) == 0);
            continue;
        }
        assert_memory_equal(out, full, first); /* frame 0 whole */
        /* something was left out: said so, unless the note did not fit */
        if (!memmem(out, len, " more frame", 11))
            assert_true(cap - len < strlen("\n(32 more frames)"));
    }
    char out[8192];
    assert_int_equal(ts_sym_stack_text(ips, (size_t)n, out, flen, func, sizeof func), flen);
    assert_memory_equal(out, full, flen);
}

static void make_client_span(struct ts_span *s)
{
    ts_span_clear(s);
    s->kind = TS_KIND_CLIENT;
    s->sampled = 1;
    ts_span_set_name(s, "GET /inventory", 14);
    ts_span_attr_cstr(s, "http.request.method", "GET");
}

static void test_attach_attributes(void **state)
{
    struct ts_span s;
    make_client_span(&s);
    s.nframes = (uint8_t)stack_probe_middle(s.frames, TS_SPAN_MAX_FRAMES, true);
    ts_sym_attach(&s);
    assert_int_equal(s.nframes, 0);
    const struct ts_attr *fn = ts_span_attr_find(&s, "code.function");
    const struct ts_attr *st = ts_span_attr_find(&s, "code.stacktrace");
    assert_non_null(fn);
    assert_non_null(st);
    assert_int_equal(fn->type, TS_ATTR_STR);
    assert_int_equal(fn->len, strlen("stack_probe_leaf"));
    assert_memory_equal(ts_span_attr_sval(&s, fn), "stack_probe_leaf", fn->len);
    assert_memory_equal(ts_span_attr_sval(&s, st), "#0 stack_probe_leaf+0x", 22);
    assert_true(s.str_used <= TS_SPAN_STRBUF);

    /* Little room left: fewer frames, whole lines, nothing overflows. */
    make_client_span(&s);
    char big[TS_SPAN_STRBUF];
    memset(big, 'u', sizeof big);
    ts_span_attr_str(&s, "url.full", big, TS_SPAN_STRBUF - s.str_used - 200);
    s.nframes = (uint8_t)stack_probe_middle(s.frames, TS_SPAN_MAX_FRAMES, true);
    ts_sym_attach(&s);
    st = ts_span_attr_find(&s, "code.stacktrace");
    assert_non_null(st);
    assert_true(st->len <= 200 - strlen("stack_probe_leaf"));
    assert_int_equal(s.str_used, (size_t)st->off + st->len);
    assert_int_equal(ts_span_attr_sval(&s, st)[st->len - 1], ')');

    /* No room at all: no attributes, and no harm. */
    make_client_span(&s);
    ts_span_attr_str(&s, "url.full", big, TS_SPAN_STRBUF);
    s.nframes = (uint8_t)stack_probe_middle(s.frames, TS_SPAN_MAX_FRAMES, true);
    uint8_t nattrs = s.nattrs;
    ts_sym_attach(&s);
    assert_int_equal(s.nattrs, nattrs);
    assert_int_equal(s.nframes, 0);

    /* No frames: nothing. */
    make_client_span(&s);
    nattrs = s.nattrs;
    ts_sym_attach(&s);
    assert_int_equal(s.nattrs, nattrs);
}

/* A function name longer than the 256 bytes shown is cut before the
 * character it would split, in code.stacktrace's line and in
 * code.function (and wherever the caller's room for it ends), never inside
 * it: the exporters would show the part as U+FFFD. */
static void test_long_names_cut_between_characters(void **state)
{
    static const struct {
        int (*probe)(uintptr_t *, int);
        size_t ascii, clen; /* ASCII bytes before the character, its length */
    } cases[] = {
        {CAT(CAT(stack_probe_u2, FILL240), x\u00e9_end), 255, 2},
        {CAT(CAT(stack_probe_u3, FILL240), \u4e2d_end), 254, 3},
        {CAT(CAT(stack_probe_4, FILL240), \U0001F600_end), 253, 4},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        size_t ascii = cases[c].ascii, clen = cases[c].clen;
        uintptr_t ips[TS_SPAN_MAX_FRAMES];
        int n = cases[c].probe(ips, TS_SPAN_MAX_FRAMES);
        assert_true(n >= 2);
        /* the premise: the name has the character across byte 256 */
        struct ts_sym_frame f;
        ts_sym_resolve(ips[0], &f);
        assert_non_null(f.func);
        char name[512];
        assert_int_equal(f.func_len, ascii + clen + 4); /* "_end" */
        memcpy(name, f.func, f.func_len);
        assert_true(utf8_ok((const uint8_t *)name, f.func_len));
        assert_true(ascii < 256 && ascii + clen > 256);
        assert_int_equal(utf8_char_at((const uint8_t *)name + ascii, clen), clen);

        /* the stack's first line and code.function (the symbolizer's
         * 257-byte buffer): the ASCII bytes, not the character */
        char text[8192], func[257];
        size_t len = ts_sym_stack_text(ips, (size_t)n, text, sizeof text, func, sizeof func);
        assert_true(utf8_ok((const uint8_t *)text, len));
        assert_int_equal(strlen(func), ascii);
        assert_memory_equal(func, name, ascii);
        char want[300];
        snprintf(want, sizeof want, "#0 %.*s+0x", (int)ascii, name);
        assert_true(len > strlen(want));
        assert_memory_equal(text, want, strlen(want));

        /* any room for the function's name: the longest whole-character
         * part that fits */
        char some[sizeof name];
        for (size_t cap = ascii - 1; cap <= ascii + clen + 2; cap++) {
            size_t room = cap - 1, keep = room >= ascii && room < ascii + clen ? ascii : room;
            ts_sym_stack_text(ips, (size_t)n, text, sizeof text, some, cap);
            assert_int_equal(strlen(some), keep);
            assert_memory_equal(some, name, keep);
        }

        /* on a span */
        struct ts_span s;
        make_client_span(&s);
        memcpy(s.frames, ips, (size_t)n * sizeof *ips);
        s.nframes = (uint8_t)n;
        ts_sym_attach(&s);
        const struct ts_attr *fn = ts_span_attr_find(&s, "code.function");
        const struct ts_attr *st = ts_span_attr_find(&s, "code.stacktrace");
        assert_non_null(fn);
        assert_non_null(st);
        assert_int_equal(fn->len, ascii);
        assert_memory_equal(ts_span_attr_sval(&s, fn), name, ascii);
        assert_true(utf8_ok((const uint8_t *)ts_span_attr_sval(&s, st), st->len));
        assert_memory_equal(ts_span_attr_sval(&s, st), want, strlen(want));
    }
}

/* The directory test_long_module_path_cut_between_characters makes, taken
 * away after it whether it passed or not. */
static char path_test_top[] = "/tmp/ts-test-stacks-XXXXXX";

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static int path_test_teardown(void **state)
{
    (void)state;
    if (strchr(path_test_top, 'X') == NULL) /* made */
        nftw(path_test_top, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

/* A module's path longer than the 1023 bytes shown, of UTF-8 names, is cut
 * before the character it would split: a copy of libm in such a
 * directory, a function of it on the stack. */
static void test_long_module_path_cut_between_characters(void **state)
{
    void *libm = dlopen("libm.so.6", RTLD_NOW | RTLD_LOCAL);
    assert_non_null(libm);
    struct link_map *lm = NULL;
    assert_int_equal(dlinfo(libm, RTLD_DI_LINKMAP, &lm), 0);
    char orig[1024];
    snprintf(orig, sizeof orig, "%s", lm->l_name);
    char *top = path_test_top;
    assert_non_null(mkdtemp(top));
    /* top/p.../(é x 120)/ x 5 /libm.so.6, with as many p as put the lead
     * byte of an é at byte 1022, the last one shown */
    char path[2048], dirs[6][2048];
    size_t ndirs = 0;
    for (size_t pad = 1; pad <= 2; pad++) {
        size_t len = (size_t)snprintf(path, sizeof path, "%s/%.*s", top, (int)pad, "pp");
        ndirs = 0;
        memcpy(dirs[ndirs++], path, len + 1);
        for (int d = 0; d < 5; d++) {
            path[len++] = '/';
            for (int k = 0; k < 120; k++) {
                path[len++] = '\xc3';
                path[len++] = '\xa9';
            }
            path[len] = 0;
            memcpy(dirs[ndirs++], path, len + 1);
        }
        snprintf(path + len, sizeof path - len, "/libm.so.6");
        if ((unsigned char)path[1022] == 0xc3)
            break;
    }
    assert_int_equal((unsigned char)path[1022], 0xc3);
    for (size_t d = 0; d < ndirs; d++)
        assert_int_equal(mkdir(dirs[d], 0700), 0);
    int in = open(orig, O_RDONLY), out = open(path, O_WRONLY | O_CREAT | O_EXCL, 0700);
    assert_true(in >= 0 && out >= 0);
    char buf[65536];
    ssize_t r;
    while ((r = read(in, buf, sizeof buf)) > 0)
        assert_int_equal(write(out, buf, (size_t)r), r);
    close(in);
    close(out);

    void *copy = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    assert_non_null(copy);
    void *fn = dlsym(copy, "cos"); /* (an IFUNC: whichever it chose) */
    assert_non_null(fn);
    struct ts_sym_frame f;
    ts_sym_resolve((uintptr_t)fn + 1, &f);
    assert_non_null(f.module);
    assert_int_equal(strlen(f.module), 1022);
    assert_memory_equal(f.module, path, 1022);
    uintptr_t ips[] = {(uintptr_t)fn + 1};
    char text[4096], func[64];
    size_t len = ts_sym_stack_text(ips, 1, text, sizeof text, func, sizeof func);
    assert_true(utf8_ok((const uint8_t *)text, len));
    char want[2048];
    int k = snprintf(want, sizeof want, " (%.1022s)", path);
    assert_true(len > (size_t)k);
    assert_memory_equal(text + len - (size_t)k, want, (size_t)k);

    dlclose(copy);
    dlclose(libm);
}

/* Which spans get a stack, per TRACESHIM_STACKS. */
static void test_modes(void **state)
{
    struct ts_span s;
    struct {
        int mode;
        uint8_t kind, sampled;
        bool want;
    } cases[] = {
        {TS_STACKS_OFF, TS_KIND_CLIENT, 1, false},    {TS_STACKS_CLIENT, TS_KIND_CLIENT, 1, true},
        {TS_STACKS_CLIENT, TS_KIND_CLIENT, 0, false}, {TS_STACKS_CLIENT, TS_KIND_SERVER, 1, false},
        {TS_STACKS_ALL, TS_KIND_SERVER, 1, true},     {TS_STACKS_ALL, TS_KIND_CLIENT, 1, true},
        {TS_STACKS_ALL, TS_KIND_SERVER, 0, false},    {TS_STACKS_SLOW, TS_KIND_CLIENT, 1, true},
        {TS_STACKS_SLOW, TS_KIND_SERVER, 1, false},   {TS_STACKS_ALL, TS_KIND_INTERNAL, 1, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ts_cfg.stacks = cases[i].mode;
        ts_span_clear(&s);
        s.kind = cases[i].kind;
        s.sampled = cases[i].sampled;
        ts_stacks_at_start(&s);
        if (cases[i].want)
            assert_true(s.nframes > 0);
        else
            assert_int_equal(s.nframes, 0);
    }

    /* slow:10ms keeps the stack of a span that lasted 10 ms or more */
    ts_cfg.stacks = TS_STACKS_SLOW;
    ts_cfg.stacks_slow_ns = 10000000;
    uint64_t durations[] = {0, 9999999, 10000000, 60000000000ull};
    for (size_t i = 0; i < 4; i++) {
        ts_span_clear(&s);
        s.kind = TS_KIND_CLIENT;
        s.sampled = 1;
        ts_stacks_at_start(&s);
        assert_true(s.nframes > 0);
        s.end_ns = s.start_ns + durations[i];
        ts_stacks_at_end(&s);
        assert_int_equal(s.nframes > 0, durations[i] >= 10000000);
    }
    /* other modes never drop a stack at the end */
    ts_cfg.stacks = TS_STACKS_CLIENT;
    s.nframes = 3;
    s.end_ns = s.start_ns;
    ts_stacks_at_end(&s);
    assert_int_equal(s.nframes, 3);
    ts_cfg.stacks = TS_STACKS_OFF;
}

static uint64_t mono_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* What one capture costs, 10 frames deep (warm caches; printed only). */
static void test_capture_cost(void **state)
{
    uintptr_t ips[TS_SPAN_MAX_FRAMES];
    enum { ROUNDS = 20000 };
    stack_probe_deep(6, ips, TS_SPAN_MAX_FRAMES);
    uint64_t best = UINT64_MAX;
    int depth = 0;
    for (int round = 0; round < 5; round++) {
        uint64_t t0 = mono_ns();
        for (int i = 0; i < ROUNDS; i++)
            depth = stack_probe_deep(6, ips, TS_SPAN_MAX_FRAMES);
        uint64_t per = (mono_ns() - t0) / ROUNDS;
        best = per < best ? per : best;
    }
    print_message("capture: %llu ns per stack of %d frames (best of 5 x %d)\n",
                  (unsigned long long)best, depth, ROUNDS);
    assert_true(depth >= 8);
}

/* The module's own segments, from its program headers: this function lies
 * in an executable one, a string literal in a read-only one, a static
 * variable in a writable one; the stack in none. */
static int self_image_static = 7;

static const struct ts_self_segment *segment_of(const struct ts_self_segment *seg, unsigned n,
                                                const void *p)
{
    for (unsigned i = 0; i < n; i++)
        if ((uintptr_t)p >= seg[i].lo && (uintptr_t)p < seg[i].hi)
            return &seg[i];
    return NULL;
}

static void test_self_segments(void **state)
{
    (void)state;
    struct ts_self_segment seg[16];
    unsigned n = ts_self_segments(seg, 16);
    assert_true(n >= 2 && n <= 16);
    const struct ts_self_segment *code = segment_of(seg, n, (const void *)(uintptr_t)test_self_segments);
    const struct ts_self_segment *lit = segment_of(seg, n, "a literal of this test");
    const struct ts_self_segment *var = segment_of(seg, n, &self_image_static);
    assert_non_null(code);
    assert_non_null(lit);
    assert_non_null(var);
    assert_true(code->flags & PF_X);
    assert_false(lit->flags & PF_W);
    assert_true(var->flags & PF_W);
    assert_null(segment_of(seg, n, &n)); /* the stack is no part of it */
    /* only the count when there is no room */
    assert_int_equal(ts_self_segments(seg, 0), n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_self_segments),
        cmocka_unit_test(test_capture_and_names),
        cmocka_unit_test(test_capture_skips_own_module),
        cmocka_unit_test(test_drop),
        cmocka_unit_test(test_depth_is_bounded),
        cmocka_unit_test(test_resolve_exported_and_unknown),
        cmocka_unit_test(test_text_truncates_at_lines),
        cmocka_unit_test(test_attach_attributes),
        cmocka_unit_test(test_long_names_cut_between_characters),
        cmocka_unit_test_teardown(test_long_module_path_cut_between_characters, path_test_teardown),
        cmocka_unit_test(test_modes),
        cmocka_unit_test(test_capture_cost),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    ts_sym_reset();
    return rc;
}
