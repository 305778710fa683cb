/* rules.c — the operator's rules (see rules.h), compiled with PCRE2.
 *
 * Every list is compiled once, at init, with pcre2_jit_compile where the
 * machine allows it. A match runs on one of a few slots made at load,
 * each with the match data, JIT stack and frames it needs (struct
 * match_slot): matching takes no memory from the heap and no lock.
 *
 * A list with a bad rule is dropped whole, with one line on stderr, and
 * its feature keeps its safe default: routes the built-in ones, IGNORE
 * nothing, INJECT_TO everywhere, NO_INJECT_TO (an operator's deny list
 * that we cannot honour) nowhere. A match that fails (a limit reached,
 * match_failed) counts as no match, but in NO_INJECT_TO as a match, for
 * the same reason. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "rules.h"

#include <pcre2.h>
#include <sched.h>
#include <stdint.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>

#include "../preload/ascii.h"
#include "../preload/clock.h"
#include "../preload/cut_text.h"
#include "../preload/fork_state.h"
#include "../preload/log.h"
#include "../preload/real.h"
#include "../preload/start_state.h"

#define RULES_MAX 32
#define RULE_TEXT_MAX 1024 /* one rule, after unescaping, with its NUL */
#define ROUTE_REFS 10      /* $0..$9 */
/* "METHOD /path" put together for an absolute-form target (a client of a
 * forward proxy): a longer one is not ignored */
#define SUBJECT_MAX 512
/* "host:port" or "[v6]:port" built for a match: a DNS name is at most 253
 * bytes (254 with its final dot), an address's text at most 45
 * (INET6_ADDRSTRLEN) */
#define HOST_SUBJECT_MAX 272
#define SHOWN_MAX 60

struct rule {
    pcre2_code *re;
    bool jit;   /* has JIT code */
    char *tmpl; /* routes: the template (NUL-terminated) */
};

struct rule_set {
    struct rule r[RULES_MAX];
    int n;
    bool broken; /* a rule was bad: the feature's safe default applies */
    /* A match that fails (rule_match) counts as one: the deny list's, so
     * that a rule that cannot answer keeps the trace ids from the places
     * it names. For the others it counts as none, as a bad list does. */
    bool failure_matches;
    const char *var;  /* its variable, for the failure's line */
    int failure_said; /* atomic: that line was written */
};

static struct rule_set inject_to, no_inject_to, routes, ignore_rules;

/* ------------------------------------------------------------- slots */

/* A match runs on what one of MATCH_SLOTS slots holds, made at the first
 * load with a rule and never freed: a match context, which hands PCRE2
 * the slot's JIT stack and its limits, and a match data, with room for a
 * route's ten pairs and, for the interpreter, its backtracking frames. A
 * lookup (a route, whether a request is ignored, whether headers go in)
 * borrows a free slot for all its matches (busy, atomic: one compare and
 * swap) and gives it back, so that it takes no memory and no lock, and
 * nothing is shared between threads but the read-only compiled patterns
 * and the slots. When all are in use, it waits for one (slot_take). A
 * forked child frees those that other threads held (ts_rules_after_fork).
 *
 * JIT code needs a stack of its own: given none, PCRE2 takes 32 KiB of the
 * calling thread's stack for it, and a program's thread with a small
 * stack (16 to 48 KiB) died of it on its first match. Each slot's JIT
 * stack starts at 32 KiB and grows, as a match needs, to 1 MiB: PCRE2
 * maps the whole at once, and only the pages a match touches become
 * resident. Fixed at 32 KiB, it failed ^/files/(\w+/?)+$ on a path of 2
 * KiB (PCRE2_ERROR_JIT_STACKLIMIT), which the interpreter's frames hold
 * to 9 KiB; 1 MiB holds it to 43 KiB. */
#define MATCH_SLOTS 8
#define JIT_STACK_START (32 * 1024)
#define JIT_STACK_MAX (1024 * 1024)
/* The interpreter (a rule without JIT code: no executable memory) keeps
 * its backtracking frames in the match data: PCRE2 10.42 starts them at
 * 20 KiB and doubles them as a match needs, each time from the match
 * data's allocator, and keeps the largest for the next match. Ours hands
 * out the two halves of the slot's frames region in turn, mapped at load
 * (a vector that grows is copied into the other half, and the old one is
 * freed before the next growth), and the slot's heap limit, FRAMES_KIB,
 * keeps every vector within a half: a match that would need more fails
 * with PCRE2_ERROR_HEAPLIMIT instead of asking. Not malloc: a signal
 * handler may send a request while its thread is inside malloc, and the
 * frames (20 KiB at least) fit in no buffer on a thread's stack. 2 MiB: a
 * route rule such as ^/files/(\w+/?)+$ needs 1.7 MiB for an 8 KiB path of
 * one-letter segments; only the pages a match touches become resident. */
#define FRAMES_KIB 2048
#define FRAMES_BYTES ((size_t)FRAMES_KIB * 1024)
/* The steps a match may take (PCRE2's match limit: calls of its internal
 * match function, the JIT code's alike) before it fails. PCRE2's own,
 * 10,000,000, let one rule that backtracks without end, such as
 * ^/users/(\w+-?)+$ on "/users/" and 40 letters and a "!", take 15 ms
 * with JIT and 147 ms without (0.15 and 1.4 ms now), 0.45 s and 4.8 s
 * with 32 such rules. Real paths take far fewer: ^/files/(\w+/?)+$ takes 12,000
 * on 8 KiB of one-letter segments. A rule may lower it with
 * (*LIMIT_MATCH=n), not raise it (PCRE2 takes the smaller). The
 * interpreter's depth of backtracking needs no limit of its own: its
 * frames are held to FRAMES_KIB. */
#define MATCH_LIMIT 100000

struct match_slot {
    pcre2_match_context *context;
    pcre2_match_data *md;
    char *frames;  /* 2 * FRAMES_BYTES once a rule has no JIT code, else NULL */
    unsigned half; /* the half that holds the frames in use */
    int busy;
};
static struct match_slot slots[MATCH_SLOTS];
static int slots_made;    /* atomic: slots ready, set after they are made */
static bool slots_begun;  /* their contexts and match data made */
static bool slots_jit;    /* their JIT stacks made */
static bool slots_frames; /* their frames mapped */
static bool slots_making; /* the match data's allocator takes from malloc */

static void *slot_malloc(size_t n, void *data)
{
    struct match_slot *slot = data;
    if (slots_making)
        return malloc(n); /* the match data itself, at load */
    if (!slot->frames || n > FRAMES_BYTES)
        return NULL; /* not asked: the heap limit */
    slot->half ^= 1;
    return slot->frames + slot->half * FRAMES_BYTES;
}

static void slot_free(void *p, void *data)
{
    struct match_slot *slot = data;
    if (!p)
        return;
    if (!(slot->frames && (char *)p >= slot->frames &&
          (char *)p < slot->frames + 2 * FRAMES_BYTES)) {
        free(p); /* not at a match: only the frames are freed there */
        return;
    }
    /* The frames a growth copied from: their pages go back to the system,
     * or each slot would keep both halves resident, up to 4 MiB, after one
     * long match. Not the half handed out last, which holds the frames in
     * use: in a child forked while another thread's match grew them, the
     * match data may still name the old half, and the next growth then
     * hands that same half out and frees it. (At most a few growths per
     * slot: the match data keeps its largest frames.) */
    if ((char *)p != slot->frames + slot->half * FRAMES_BYTES)
        madvise(p, FRAMES_BYTES, MADV_DONTNEED);
}

/* Make the slots, once, at load; with JIT stacks for a rule with JIT
 * code, with frames for one without. A slot that cannot have what a rule
 * needs is not used (the slots up to it are). */
static void slots_make(bool jit)
{
    int made = __atomic_load_n(&slots_made, __ATOMIC_RELAXED);
    if (!slots_begun) {
        slots_begun = true;
        slots_making = true;
        for (; made < MATCH_SLOTS; made++) {
            struct match_slot *slot = &slots[made];
            pcre2_general_context *g = pcre2_general_context_create(slot_malloc, slot_free, slot);
            pcre2_match_context *context = g ? pcre2_match_context_create(NULL) : NULL;
            pcre2_match_data *md = context ? pcre2_match_data_create(ROUTE_REFS, g) : NULL;
            pcre2_general_context_free(g); /* the match data keeps its allocator */
            if (!md) {
                pcre2_match_context_free(context);
                break;
            }
            pcre2_set_heap_limit(context, FRAMES_KIB);
            pcre2_set_match_limit(context, MATCH_LIMIT);
            slot->context = context;
            slot->md = md;
        }
        slots_making = false;
    }
    if (jit && !slots_jit) {
        slots_jit = true;
        for (int i = 0; i < made; i++) {
            pcre2_jit_stack *stack = pcre2_jit_stack_create(JIT_STACK_START, JIT_STACK_MAX, NULL);
            if (!stack) {
                made = i;
                break;
            }
            pcre2_jit_stack_assign(slots[i].context, NULL, stack);
        }
    }
    if (!jit && !slots_frames) {
        slots_frames = true;
        for (int i = 0; i < made; i++) {
            void *m = mmap(NULL, 2 * FRAMES_BYTES, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
            if (m == MAP_FAILED) {
                made = i;
                break;
            }
            slots[i].frames = m;
        }
    }
    __atomic_store_n(&slots_made, made, __ATOMIC_RELEASE);
}

/* A slot is given up for after SLOT_WAIT_MS of waiting for one to come
 * free: its holder does not go on (a thread stopped in a signal handler
 * that interrupted its match, or by a debugger), or is gone for good (a
 * handler that left the lookup by siglongjmp: its slot is never given
 * back). Without a slot, PCRE2 would take 32 KiB of the thread's stack
 * for JIT code, which a thread with a small stack does not have, and the
 * interpreter's frames from malloc; and a lookup holds its slot for
 * microseconds (at most its rules' match limits' worth), so a wait is
 * short. Once a wait was given up, lookups that find no slot free after
 * their yields give up at once for SLOT_QUIET_MS: slots lost for good
 * cost every later lookup its rules, not a wait. */
#define SLOT_YIELDS 16
#define SLOT_WAIT_MS 100
#define SLOT_QUIET_MS 1000
static uint64_t slots_given_up_ms; /* when a wait was last given up (ts_mono_ms); atomic */

/* A free slot, taken; waits while all are in use, first yielding the CPU,
 * then sleeping 100 µs at a time (by the system call itself: glibc's
 * nanosleep is a cancellation point, and a thread cancelled here would
 * leave the hook's locks held). NULL when none was made, or none came
 * free for SLOT_WAIT_MS (at once after the yields, within SLOT_QUIET_MS
 * of a wait given up). Async-signal-safe. */
static struct match_slot *slot_take(void)
{
    int made = __atomic_load_n(&slots_made, __ATOMIC_ACQUIRE);
    uint64_t deadline = 0;
    for (unsigned waits = 0; made; waits++) {
        for (int i = 0; i < made; i++) {
            int free_ = 0;
            if (!__atomic_load_n(&slots[i].busy, __ATOMIC_RELAXED) &&
                __atomic_compare_exchange_n(&slots[i].busy, &free_, 1, false, __ATOMIC_ACQUIRE,
                                            __ATOMIC_RELAXED))
                return &slots[i];
        }
        if (waits < SLOT_YIELDS) {
            sched_yield();
            continue;
        }
        uint64_t given_up = __atomic_load_n(&slots_given_up_ms, __ATOMIC_RELAXED);
        if (given_up && ts_mono_ms() - given_up < SLOT_QUIET_MS)
            break;
        if (!ts_still_waiting(&deadline, SLOT_WAIT_MS)) {
            __atomic_store_n(&slots_given_up_ms, ts_mono_ms(), __ATOMIC_RELAXED);
            break;
        }
        struct timespec pause = {0, 100 * 1000};
        TS_REAL(syscall)(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, &pause, NULL);
    }
    return NULL;
}

static void slot_give_back(struct match_slot *slot)
{
    if (slot)
        __atomic_store_n(&slot->busy, 0, __ATOMIC_RELEASE);
}

/* ------------------------------------------------------------- matching */

/* Copy `pairs` offset pairs of md after a match that returned rc >= 0 into
 * ov (PCRE2_UNSET for groups that did not take part). */
static void copy_pairs(pcre2_match_data *md, int rc, PCRE2_SIZE *ov, uint32_t pairs)
{
    uint32_t have = pcre2_get_ovector_count(md);
    PCRE2_SIZE *v = pcre2_get_ovector_pointer(md);
    for (uint32_t i = 0; i < pairs; i++) {
        bool set = i < have && (rc == 0 || i < (uint32_t)rc);
        ov[2 * i] = set ? v[2 * i] : PCRE2_UNSET;
        ov[2 * i + 1] = set ? v[2 * i + 1] : PCRE2_UNSET;
    }
}

/* rule_match's answer without a slot (none came free): not PCRE2's */
#define NO_SLOT_FREE (-1000)

/* Match r against s[0..len) on slot: PCRE2's answer, >= 0 when it
 * matched, PCRE2_ERROR_NOMATCH when it did not, and below that when the
 * match failed (a limit reached, a (*UTF) rule's subject not UTF-8), or
 * NO_SLOT_FREE when slot is NULL. When it matched and ov is given, ov gets
 * `pairs` offset pairs (at most ROUTE_REFS; PCRE2_UNSET for groups that
 * did not take part). */
static int rule_match(struct match_slot *slot, const struct rule *r, const char *s, size_t len,
                      PCRE2_SIZE *ov, uint32_t pairs)
{
    if (!slot)
        return NO_SLOT_FREE;
    /* pcre2_match, which runs the JIT code where there is some: the fast
     * path, pcre2_jit_match, skips the checks a rule may need (a (*UTF)
     * rule's subject went unchecked, and invalid UTF-8 sent the JIT code
     * past its end), and a (*NO_JIT) rule has no JIT code for it to run
     * (every match failed) */
    int rc = pcre2_match(r->re, (PCRE2_SPTR)s, len, 0, 0, slot->md, slot->context);
    if (rc >= 0 && ov)
        copy_pairs(slot->md, rc, ov, pairs);
    return rc;
}

/* Rule i of set failed to match a subject of len bytes (rc, rule_match's
 * answer): whether that counts as a match (set->failure_matches). The
 * first failure of each variable is said on stderr: a rule the operator
 * wrote is not doing its work. The line is put together here, without
 * snprintf, whose frames would take kilobytes of a thread's stack. Out
 * of line: rare. */
static __attribute__((noinline, cold)) bool match_failed(struct rule_set *set, int i, int rc,
                                                         size_t len)
{
    if (!__atomic_exchange_n(&set->failure_said, 1, __ATOMIC_RELAXED) && !ts_log_muted) {
        char why[120] = "no matching slot came free within a second";
        if (rc != NO_SLOT_FREE && pcre2_get_error_message(rc, (PCRE2_UCHAR *)why, sizeof why) < 0)
            memcpy(why, "error", sizeof "error");
        char line[320];
        struct ts_cut_text t = {line, sizeof line - 1, 0}; /* a byte kept for the newline */
        static const char dash[] = " \xe2\x80\x94 counted as ";
        const char *counted = set->failure_matches ? "a match: no trace headers" : "no match";
        ts_cut_text_put(&t, "traceshim: ", 11);
        ts_cut_text_put(&t, set->var, strlen(set->var));
        ts_cut_text_put(&t, ": rule ", 7);
        ts_cut_text_put_uint(&t, (unsigned)i + 1);
        ts_cut_text_put(&t, ": match failed on ", 18);
        ts_cut_text_put_uint(&t, (unsigned)(len < 4000000000u ? len : 4000000000u));
        ts_cut_text_put(&t, " bytes: ", 8);
        ts_cut_text_put(&t, why, strlen(why));
        ts_cut_text_put(&t, dash, sizeof dash - 1);
        ts_cut_text_put(&t, counted, strlen(counted));
        ts_cut_text_put(&t, " (said once)", 12);
        line[t.len++] = '\n';
        ts_log_write_line(line, t.len);
    }
    return set->failure_matches;
}

/* Index of the first rule of set that matches s[0..len) on slot, or -1.
 * A rule whose match fails counts as set->failure_matches says. */
static int set_match(struct match_slot *slot, struct rule_set *set, const char *s, size_t len)
{
    for (int i = 0; i < set->n; i++) {
        int rc = rule_match(slot, &set->r[i], s, len, NULL, 0);
        if (rc >= 0 || (rc < PCRE2_ERROR_NOMATCH && match_failed(set, i, rc, len)))
            return i;
    }
    return -1;
}

/* ------------------------------------------------------------- loading */

static void set_free(struct rule_set *set)
{
    for (int i = 0; i < set->n; i++) {
        pcre2_code_free(set->r[i].re);
        free(set->r[i].tmpl);
    }
    memset(set, 0, sizeof *set);
}

/* s made safe for a one-line message: control bytes become '?', a long
 * one is cut with "...". */
static void shown(const char *s, size_t len, char *out, size_t cap)
{
    size_t n = 0;
    for (; n < len && n < SHOWN_MAX && n + 4 < cap; n++) {
        unsigned char c = (unsigned char)s[n];
        out[n] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    if (n < len) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
}

/* Compile one regex; on failure, why says what is wrong. */
static bool compile(const char *re, size_t len, struct rule *r, char *why, size_t whycap)
{
    int code;
    PCRE2_SIZE at;
    r->re = pcre2_compile((PCRE2_SPTR)re, len, 0, &code, &at, NULL);
    if (!r->re) {
        char msg[160], text[SHOWN_MAX + 4];
        pcre2_get_error_message(code, (PCRE2_UCHAR *)msg, sizeof msg);
        shown(re, len, text, sizeof text);
        snprintf(why, whycap, "bad regex \"%s\": %s at offset %zu", text, msg, (size_t)at);
        return false;
    }
    /* JIT code made, by its size: pcre2_jit_compile also succeeds for a
     * (*NO_JIT) rule, making none */
    size_t jit_size = 0;
    r->jit = pcre2_jit_compile(r->re, PCRE2_JIT_COMPLETE) == 0 &&
             pcre2_pattern_info(r->re, PCRE2_INFO_JITSIZE, &jit_size) == 0 && jit_size > 0;
    slots_make(r->jit);
    return true;
}

/* A TRACESHIM_ROUTES rule, REGEX=TEMPLATE split at its last '='. */
static bool route_rule(const char *text, size_t len, struct rule *r, char *why, size_t whycap)
{
    const char *eq = memrchr(text, '=', len);
    if (!eq) {
        snprintf(why, whycap, "missing '='");
        return false;
    }
    size_t relen = (size_t)(eq - text);
    if (relen == 0) {
        snprintf(why, whycap, "empty regex before '='");
        return false;
    }
    if (eq + 1 == text + len) { /* an empty http.route, and a span named "GET " */
        snprintf(why, whycap, "empty template after '='");
        return false;
    }
    if (!compile(text, relen, r, why, whycap))
        return false;
    uint32_t groups = 0;
    pcre2_pattern_info(r->re, PCRE2_INFO_CAPTURECOUNT, &groups);
    const char *t = eq + 1, *end = text + len;
    for (const char *p = t; p + 1 < end; p++) {
        if (*p != '$')
            continue;
        if (p[1] == '$') {
            p++;
            continue;
        }
        if (p[1] >= '0' && p[1] <= '9' && (uint32_t)(p[1] - '0') > groups) {
            snprintf(why, whycap, "template uses $%c but the regex has %u group%s", p[1],
                     (unsigned)groups, groups == 1 ? "" : "s");
            return false;
        }
    }
    size_t tlen = (size_t)(end - t);
    r->tmpl = malloc(tlen + 1);
    if (!r->tmpl) {
        snprintf(why, whycap, "out of memory");
        return false;
    }
    memcpy(r->tmpl, t, tlen);
    r->tmpl[tlen] = '\0';
    return true;
}

/* Load a comma-separated list into set. A bad rule: one line on stderr
 * (variable, rule number, what is wrong, what was expected, the fallback),
 * the list dropped whole and set->broken. Returns false then. */
static bool load_list(struct rule_set *set, const char *var, const char *v, bool is_routes,
                      const char *expected, const char *fallback)
{
    char why[320] = "";
    char item[RULE_TEXT_MAX];
    int num = 0;
    bool ok = true;
    const char *p = v;
    while (ok) {
        num++;
        size_t n = 0;
        bool too_long = false;
        for (; *p && *p != ','; p++) {
            char c = *p;
            if (c == '\\' && p[1]) { /* "\," is a comma; any other pair is PCRE2's */
                if (p[1] == ',') {
                    c = ',';
                    p++;
                } else {
                    if (n + 1 < sizeof item)
                        item[n++] = c;
                    else
                        too_long = true;
                    c = *++p;
                }
            }
            if (n + 1 < sizeof item)
                item[n++] = c;
            else
                too_long = true;
        }
        size_t a = 0;
        while (a < n && (item[a] == ' ' || item[a] == '\t'))
            a++;
        while (n > a && (item[n - 1] == ' ' || item[n - 1] == '\t'))
            n--;
        if (num > RULES_MAX) {
            snprintf(why, sizeof why, "more than %d rules", RULES_MAX);
            ok = false;
        } else if (too_long) {
            snprintf(why, sizeof why, "longer than %d bytes", RULE_TEXT_MAX - 1);
            ok = false;
        } else if (n == a) {
            snprintf(why, sizeof why, "empty rule");
            ok = false;
        } else {
            struct rule *r = &set->r[set->n];
            memset(r, 0, sizeof *r);
            ok = is_routes ? route_rule(item + a, n - a, r, why, sizeof why)
                           : compile(item + a, n - a, r, why, sizeof why);
            if (ok) {
                set->n++;
            } else {
                pcre2_code_free(r->re);
                r->re = NULL;
            }
        }
        if (!*p)
            break;
        p++; /* the separator */
    }
    if (ok)
        return true;
    ts_log_error("%s: rule %d: %s \xe2\x80\x94 expected %s; %s", var, num, why, expected, fallback);
    set_free(set);
    set->broken = true;
    return false;
}

/* Whether the last load met any of the variables: only then are the sets
 * cleared at the next, so that a process without rules (most) leaves
 * their .bss pages untouched (start_state.h). */
static bool rules_any TS_START_STATE;

int ts_rules_load(ts_env_lookup_fn get)
{
    if (rules_any) {
        set_free(&inject_to);
        set_free(&no_inject_to);
        set_free(&routes);
        set_free(&ignore_rules);
        rules_any = false;
    }
    if (!get)
        return 0;
    static const char host_re[] = "regular expressions matching host:port";
    struct {
        struct rule_set *set;
        const char *var;
        bool is_routes;
        const char *expected, *fallback;
    } lists[] = {
        {&inject_to, "TRACESHIM_INJECT_TO", false, host_re, "injecting everywhere"},
        {&no_inject_to, "TRACESHIM_NO_INJECT_TO", false, host_re, "injecting nowhere"},
        {&routes, "TRACESHIM_ROUTES", true, "REGEX=TEMPLATE", "using the built-in routes"},
        {&ignore_rules, "TRACESHIM_IGNORE", false, "regular expressions matching \"METHOD /path\"",
         "ignoring nothing"},
    };
    int errors = 0;
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
        const char *v = get(lists[i].var);
        if (!v || !*v)
            continue;
        rules_any = true;
        lists[i].set->var = lists[i].var;
        lists[i].set->failure_matches = lists[i].set == &no_inject_to;
        if (!load_list(lists[i].set, lists[i].var, v, lists[i].is_routes, lists[i].expected,
                       lists[i].fallback))
            errors++;
    }
    return errors;
}

TS_FORK_HANDLER void ts_rules_after_fork(void)
{
    /* Without rules, the slots' page is not touched (fork_state.h). */
    if (!rules_any)
        return;
    /* The child's only thread holds no slot, but for one it took in a
     * signal handler that interrupted its own match, which it gives back
     * when the handler returns and the match ends: no other match runs on
     * the thread meanwhile (the guard). The others' holders are gone. */
    for (int i = 0; i < MATCH_SLOTS; i++)
        TS_FORK_RESET(&slots[i].busy, 0);
}

/* ------------------------------------------------------------- injection */

/* The Host value host[0..len) as it is matched, into s (HOST_SUBJECT_MAX
 * bytes): host:port, the scheme's default_port when it has none. The name
 * is put in lower case and a dot that ends it goes: host names are
 * case-insensitive (RFC 3986, 3.2.2), and "api.partner.com." (fully
 * qualified) names api.partner.com, so a rule written for one form must
 * meet every one. Its length; 0 when it does not fit, and then *has_port
 * says whether the value as written holds a port. Out of line: inlined,
 * it made dest_match's frame, under every match, 64 bytes larger. */
static __attribute__((noinline)) size_t host_subject(const char *host, size_t len, int default_port,
                                                     char *s, bool *has_port)
{
    const char *end = host + len, *name_end;
    if (host[0] == '[') { /* an IPv6 address: the port after ']' */
        const char *close = memchr(host, ']', len);
        name_end = close ? close + 1 : end;
    } else {
        name_end = memchr(host, ':', len);
        if (!name_end)
            name_end = end;
    }
    *has_port = name_end < end;
    size_t name_len = (size_t)(name_end - host);
    if (name_len > 1 && host[name_len - 1] == '.')
        name_len--;
    if (name_len + (size_t)(end - name_end) + 7 >= HOST_SUBJECT_MAX)
        return 0;
    for (size_t i = 0; i < name_len; i++)
        s[i] = ts_ascii_lower(host[i]);
    struct ts_cut_text t = {s, HOST_SUBJECT_MAX, name_len};
    if (*has_port) {
        ts_cut_text_put(&t, name_end, (size_t)(end - name_end));
    } else {
        ts_cut_text_put(&t, ":", 1);
        ts_cut_text_put_uint(&t, (unsigned)default_port);
    }
    return t.len;
}

/* Whether a rule of set matches the Host (host_subject) or the peer
 * (ip:port, [v6]:port; a Unix-domain socket's path, peer_port 0). */
static bool dest_match(struct match_slot *slot, struct rule_set *set, const char *host,
                       size_t host_len, int default_port, const char *peer_ip, int peer_port)
{
    char s[HOST_SUBJECT_MAX];
    if (host && host_len) {
        bool has_port;
        size_t n = host_subject(host, host_len, default_port, s, &has_port);
        if (n ? set_match(slot, set, s, n) >= 0
              : has_port && set_match(slot, set, host, host_len) >= 0) /* too long: as written */
            return true;
    }
    if (peer_ip && *peer_ip && !peer_port) /* a Unix-domain socket's path */
        return set_match(slot, set, peer_ip, strlen(peer_ip)) >= 0;
    if (peer_ip && *peer_ip) {
        size_t ip_len = strlen(peer_ip);
        if (ip_len + 9 < sizeof s) { /* brackets, a colon and five digits */
            struct ts_cut_text t = {s, sizeof s, 0};
            ts_cut_text_put_ip_port(&t, peer_ip, ip_len, (unsigned)peer_port);
            if (set_match(slot, set, s, t.len) >= 0)
                return true;
        }
    }
    return false;
}

bool ts_rules_should_inject(const char *host, size_t host_len, int default_port,
                            const char *peer_ip, int peer_port)
{
    if (no_inject_to.broken)
        return false;
    if (!no_inject_to.n && !inject_to.n)
        return true;
    struct match_slot *slot = slot_take();
    bool inject = !(no_inject_to.n && dest_match(slot, &no_inject_to, host, host_len, default_port,
                                                 peer_ip, peer_port)) &&
                  !(inject_to.n && !dest_match(slot, &inject_to, host, host_len, default_port,
                                               peer_ip, peer_port));
    slot_give_back(slot);
    return inject;
}

/* ------------------------------------------------------------- routes */

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* The placeholder for a path segment that is an identifier, or NULL: all
 * digits, a UUID (8-4-4-4-12 hex digits), or 16 or more hex digits. The
 * first byte that rules a kind out ends the look (paths past
 * CLASSED_PATH_MAX bytes; shorter ones: classed_route). */
static const char *segment_kind(const char *s, size_t n)
{
    if (!n)
        return NULL;
    size_t i = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++;
    if (i == n)
        return "{id}";
    if (n == 36 && s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-') {
        size_t hex = 0;
        for (size_t k = 0; k < n; k++)
            hex += is_hex(s[k]);
        if (hex == 32)
            return "{uuid}";
    }
    if (n < 16)
        return NULL;
    while (i < n && is_hex(s[i]))
        i++;
    return i == n ? "{hex}" : NULL;
}

/* memcpy for the few bytes between a route's placeholders (fewer than
 * 64), without the call: words, the last one overlapping (copies of a
 * known size, a load and a store each). */
static inline void copy_short(char *dst, const char *src, size_t n)
{
    if (n >= 8) {
        for (size_t i = 0; i + 8 < n; i += 8)
            memcpy(dst + i, src + i, 8);
        memcpy(dst + n - 8, src + n - 8, 8);
    } else if (n >= 4) {
        memcpy(dst, src, 4);
        memcpy(dst + n - 4, src + n - 4, 4);
    } else {
        for (size_t i = 0; i < n; i++)
            dst[i] = src[i];
    }
}

/* The built-in route of a path of any length: numeric, UUID and long hex
 * segments collapsed, the bytes between them copied as one run. */
static size_t scanned_route(const char *path, size_t len, char *out, size_t cap)
{
    struct ts_cut_text route = {out, cap - 1, 0}; /* a byte kept for the NUL */
    size_t run = 0; /* start of the bytes not yet copied */
    size_t i = 0;
    while (i < len) {
        if (path[i] == '/') {
            i++;
            continue;
        }
        size_t seg = i;
        while (i < len && path[i] != '/') /* segments are short: no call for it */
            i++;
        const char *kind = segment_kind(path + seg, i - seg);
        if (kind) {
            ts_cut_text_put(&route, path + run, seg - run);
            ts_cut_text_put(&route, kind, strlen(kind));
            run = i;
        }
    }
    ts_cut_text_put(&route, path + run, len - run);
    out[route.len] = '\0';
    return route.len;
}

/* Paths up to this long are classed whole before their segments are
 * looked at (classed_route): nearly every request's. One bit short of a
 * word: the bit after a segment's last byte is always in the word. */
#define CLASSED_PATH_MAX 63

/* Bit i of each mask says what byte i of a path is. */
struct path_classes {
    uint64_t slash, digit, hex;
};

#ifdef __SSE2__
/* The classes of the 16 bytes x, into bits at..at+15 of pc. */
static inline void class_16(__m128i x, unsigned at, struct path_classes *pc)
{
    /* a byte is in [lo, lo+k] when byte - lo, unsigned, is at most k */
    __m128i d = _mm_sub_epi8(x, _mm_set1_epi8('0'));
    __m128i digit = _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(9)), d);
    __m128i a = _mm_sub_epi8(_mm_or_si128(x, _mm_set1_epi8(0x20)), _mm_set1_epi8('a'));
    __m128i a_to_f = _mm_cmpeq_epi8(_mm_min_epu8(a, _mm_set1_epi8(5)), a);
    __m128i slash = _mm_cmpeq_epi8(x, _mm_set1_epi8('/'));
    pc->slash |= (uint64_t)(unsigned)_mm_movemask_epi8(slash) << at;
    pc->digit |= (uint64_t)(unsigned)_mm_movemask_epi8(digit) << at;
    pc->hex |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_or_si128(digit, a_to_f)) << at;
}
#endif

/* The classes of path[0..len), len <= CLASSED_PATH_MAX. */
static inline void class_path(const char *path, size_t len, struct path_classes *pc)
{
    *pc = (struct path_classes){0, 0, 0};
#ifdef __SSE2__
    unsigned at = 0;
    for (; at + 16 <= len; at += 16)
        class_16(_mm_loadu_si128((const __m128i *)(const void *)(path + at)), at, pc);
    if (at < len) { /* the rest, padded with NULs, which are in no class */
        char rest[16] = {0};
        copy_short(rest, path + at, (len - at) & 15); /* fewer than 16 */
        class_16(_mm_loadu_si128((const __m128i *)(const void *)rest), at, pc);
    }
#else
    for (size_t i = 0; i < len; i++) {
        uint64_t bit = (uint64_t)1 << i;
        pc->slash |= path[i] == '/' ? bit : 0;
        pc->digit |= path[i] >= '0' && path[i] <= '9' ? bit : 0;
        pc->hex |= is_hex(path[i]) ? bit : 0;
    }
#endif
}

/* Room in out that classed_route needs: a path of CLASSED_PATH_MAX bytes
 * at its longest as a route ("/1/2" becomes "/{id}/{id}") and its NUL,
 * so that it never has to cut the route short. */
#define CLASSED_ROUTE_ROOM ((CLASSED_PATH_MAX + 1) / 2 * 5 + 1)

/* scanned_route for a path of at most CLASSED_PATH_MAX bytes into an out
 * of CLASSED_ROUTE_ROOM bytes or more. The path's bytes are classed in a
 * few vector steps; word operations on the masks then find, all at once,
 * the segments that can be identifiers (all digits, or 16 bytes or more),
 * and only those are looked at: most segments are words and cost nothing. */
static size_t classed_route(const char *path, size_t len, char *out)
{
    struct path_classes pc;
    class_path(path, len, &pc);
    uint64_t in_seg = (((uint64_t)1 << len) - 1) & ~pc.slash;
    uint64_t starts = in_seg & ~(in_seg << 1);
    uint64_t after = (in_seg << 1) & ~in_seg; /* the bit after each segment */
    /* Adding a segment's first bit to its digits carries through to the
     * bit after it only when every byte of it is a digit. */
    uint64_t all_digits = ((in_seg & pc.digit) + starts) & after;
    uint64_t ends = all_digits;
    if (len >= 16) { /* and the ends of the segments of 16 bytes or more */
        uint64_t run16 = in_seg & in_seg >> 1; /* bit i: bytes i..i+15 all in a segment */
        run16 &= run16 >> 2;
        run16 &= run16 >> 4;
        run16 &= run16 >> 8;
        ends |= after & run16 << 16;
    }
    char *o = out;
    size_t run = 0; /* start of the bytes not yet copied */
    while (ends) {
        unsigned end = (unsigned)__builtin_ctzll(ends);
        ends &= ends - 1;
        uint64_t below = ((uint64_t)1 << end) - 1;
        unsigned seg = 63 - (unsigned)__builtin_clzll(starts & below);
        uint64_t m = below & ~(((uint64_t)1 << seg) - 1);
        size_t kind_len; /* the placeholder's: "{id}", "{uuid}", "{hex}" */
        if (all_digits & ((uint64_t)1 << end))
            kind_len = 4;
        else if (end - seg == 36 && !(m & ~pc.hex & ~((uint64_t)0x842100 << seg)) &&
                 path[seg + 8] == '-' && path[seg + 13] == '-' && path[seg + 18] == '-' &&
                 path[seg + 23] == '-') /* hex digits but at the dashes */
            kind_len = 6;
        else if (!(m & ~pc.hex))
            kind_len = 5;
        else
            continue;
        copy_short(o, path + run, seg - run);
        o += seg - run;
        if (kind_len == 4) /* each a copy of a known length: a store or two */
            memcpy(o, "{id}", 4);
        else if (kind_len == 6)
            memcpy(o, "{uuid}", 6);
        else
            memcpy(o, "{hex}", 5);
        o += kind_len;
        run = end;
    }
    copy_short(o, path + run, len - run);
    o += len - run;
    *o = '\0';
    return (size_t)(o - out);
}

/* The built-in route: numeric, UUID and long hex segments collapsed. */
static size_t builtin_route(const char *path, size_t len, char *out, size_t cap)
{
    if (len <= CLASSED_PATH_MAX && cap >= CLASSED_ROUTE_ROOM)
        return classed_route(path, len, out);
    return scanned_route(path, len, out, cap);
}

/* A rule's template with $0..$9 replaced by the captures, "$$" by "$". */
static size_t expand(const char *tmpl, const char *path, const PCRE2_SIZE *ov, char *out,
                     size_t cap)
{
    struct ts_cut_text route = {out, cap - 1, 0}; /* a byte kept for the NUL */
    for (const char *t = tmpl; *t; t++) {
        if (t[0] == '$' && t[1] == '$') {
            ts_cut_text_put(&route, "$", 1);
            t++;
        } else if (t[0] == '$' && t[1] >= '0' && t[1] <= '9') {
            int g = t[1] - '0';
            if (ov[2 * g] != PCRE2_UNSET && ov[2 * g + 1] >= ov[2 * g])
                ts_cut_text_put(&route, path + ov[2 * g], ov[2 * g + 1] - ov[2 * g]);
            t++;
        } else {
            ts_cut_text_put(&route, t, 1);
        }
    }
    out[route.len] = '\0';
    return route.len;
}

/* The route by the first TRACESHIM_ROUTES rule that matches, else the
 * built-in one. Out of line: without rules, the built-in route saves no
 * registers for the matching it does not do. */
static __attribute__((noinline)) size_t user_route(const char *path, size_t len, char *out,
                                                   size_t cap)
{
    struct match_slot *slot = slot_take();
    for (int i = 0; i < routes.n; i++) {
        PCRE2_SIZE ov[2 * ROUTE_REFS];
        int rc = rule_match(slot, &routes.r[i], path, len, ov, ROUTE_REFS);
        if (rc >= 0) {
            size_t n = expand(routes.r[i].tmpl, path, ov, out, cap);
            if (n) {
                slot_give_back(slot);
                return n;
            }
            continue; /* its template came out empty ($1 of a group that took
                       * no part): no route, so the next rule has its turn */
        }
        if (rc < PCRE2_ERROR_NOMATCH)
            (void)match_failed(&routes, i, rc, len); /* no match */
    }
    slot_give_back(slot);
    return builtin_route(path, len, out, cap);
}

size_t ts_rules_route(const char *path, size_t len, char *out, size_t cap)
{
    if (!cap)
        return 0;
    if (routes.n)
        return user_route(path, len, out, cap);
    return builtin_route(path, len, out, cap);
}

/* ------------------------------------------------------------- ignore */

/* Whether "METHOD /path", s[0..len), matches a TRACESHIM_IGNORE rule. */
static bool ignore_match(const char *s, size_t len)
{
    struct match_slot *slot = slot_take();
    bool ignored = set_match(slot, &ignore_rules, s, len) >= 0;
    slot_give_back(slot);
    return ignored;
}

/* ts_rules_ignored for a path apart from its method (an absolute-form
 * target's): "METHOD /path" put together. Out of line, so that its
 * buffer is on the stack only then. */
static __attribute__((noinline)) bool ignored_copied(const char *method, size_t method_len,
                                                     const char *path, size_t path_len)
{
    char s[SUBJECT_MAX];
    if (method_len + 1 + path_len > sizeof s)
        return false;
    memcpy(s, method, method_len);
    s[method_len] = ' ';
    memcpy(s + method_len + 1, path, path_len);
    return ignore_match(s, method_len + 1 + path_len);
}

bool ts_rules_ignored(const char *method, size_t method_len, const char *path, size_t path_len)
{
    if (!ignore_rules.n)
        return false;
    /* The request line already holds "METHOD /path" in one piece. */
    if (path == method + method_len + 1 && method[method_len] == ' ')
        return ignore_match(method, method_len + 1 + path_len);
    return ignored_copied(method, method_len, path, path_len);
}
