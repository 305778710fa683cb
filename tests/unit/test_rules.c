/* test_rules.c — TRACESHIM_ROUTES, TRACESHIM_IGNORE, TRACESHIM_INJECT_TO
 * and TRACESHIM_NO_INJECT_TO: list syntax and escapes, the built-in
 * routes, first match wins, captures, inject allow/deny by Host and by
 * peer, ignore, and that each bad list yields exactly one stderr line and
 * its feature's safe default. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "fake_env.h"
#include "hooks/rules.h"
#include "isolated.h"
#include "preload/cut_text.h"
#include "preload/log.h"
#include "stderr_capture.h"

static char captured[8192];

/* ts_rules_load with the fake env, capturing stderr; clears the env. */
static int load(void)
{
    struct stderr_capture cap;
    stderr_capture_begin(&cap);
    int errors = ts_rules_load(env_lookup);
    stderr_capture_end(&cap, captured, sizeof captured);
    env_reset();
    return errors;
}

static int setup(void **state)
{
    (void)state;
    env_reset();
    assert_int_equal(load(), 0);
    return 0;
}

static void load_one(const char *var, const char *value)
{
    env_set(var, value);
    assert_int_equal(load(), 0);
    assert_string_equal(captured, "");
}

static const char *route(const char *path)
{
    static char out[TS_ROUTE_MAX];
    size_t n = ts_rules_route(path, strlen(path), out, sizeof out);
    assert_int_equal(n, strlen(out));
    return out;
}

static bool ignored(const char *method, const char *path)
{
    return ts_rules_ignored(method, strlen(method), path, strlen(path));
}

static bool inject(const char *host, const char *ip, int port)
{
    return ts_rules_should_inject(host, host ? strlen(host) : 0, 80, ip, port);
}

static bool inject_https(const char *host, const char *ip, int port)
{
    return ts_rules_should_inject(host, host ? strlen(host) : 0, 443, ip, port);
}

/* ------------------------------------------------------------- routes */

static void test_builtin_routes(void **state)
{
    (void)state;
    assert_string_equal(route("/"), "/");
    assert_string_equal(route(""), "");
    assert_string_equal(route("/users/42"), "/users/{id}");
    assert_string_equal(route("/users/42/orders/7"), "/users/{id}/orders/{id}");
    assert_string_equal(route("/users/42/"), "/users/{id}/");
    assert_string_equal(route("/items/3f2b9c1e-8d4a-4b6f-9e2d-1a2b3c4d5e6f"), "/items/{uuid}");
    assert_string_equal(route("/blob/0123456789abcdef0123"), "/blob/{hex}");
    assert_string_equal(route("/blob/0123456789ABCDEF"), "/blob/{hex}");
    assert_string_equal(route("/blob/0123456789abcde"), "/blob/0123456789abcde"); /* 15 */
    assert_string_equal(route("/v2/users/x42"), "/v2/users/x42");
    assert_string_equal(route("/a//b"), "/a//b");
    assert_string_equal(route("/12345678901234567890"), "/{id}"); /* digits before hex */
    /* a route never overflows its buffer */
    char out[8];
    assert_int_equal(ts_rules_route("/users/42", 9, out, sizeof out), 7);
    assert_string_equal(out, "/users/");
}

/* The built-in rule as first written, counting every byte: the reference
 * for the one that stops at the first byte that rules a kind out. */
static const char *reference_kind(const char *s, size_t n)
{
    size_t digits = 0, hex = 0;
    for (size_t i = 0; i < n; i++) {
        digits += s[i] >= '0' && s[i] <= '9';
        hex += (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
               (s[i] >= 'A' && s[i] <= 'F');
    }
    if (n && digits == n)
        return "{id}";
    if (n == 36 && s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-' && hex == 32)
        return "{uuid}";
    if (n >= 16 && hex == n)
        return "{hex}";
    return NULL;
}

/* Segments of every length up to 40 from digit, hex and UUID patterns,
 * each with every byte of a small set put at every position. */
static void test_builtin_route_segments(void **state)
{
    (void)state;
    static const char *const bases[] = {
        "1234567890123456789012345678901234567890",
        "0123456789abcdefABCDEF0123456789abcdef01",
        "3f2b9c1e-8d4a-4b6f-9e2d-1a2b3c4d5e6f0000",
        "deadbeef-dead-beef-dead-beefdeadbeefcafe",
    };
    static const char swaps[] = {'0', '9', 'a', 'f', 'A', 'F', 'g', 'G', '-', '/', 'x', '~'};
    for (size_t b = 0; b < sizeof bases / sizeof bases[0]; b++) {
        for (size_t n = 1; n <= 40; n++) {
            for (size_t at = 0; at <= n; at++) {
                for (size_t k = 0; k < sizeof swaps; k++) {
                    char seg[41];
                    memcpy(seg, bases[b], n);
                    if (at < n)
                        seg[at] = swaps[k];
                    if (memchr(seg, '/', n))
                        continue; /* a slash makes two segments */
                    char path[43], out[TS_ROUTE_MAX], want[64];
                    path[0] = '/';
                    memcpy(path + 1, seg, n);
                    const char *kind = reference_kind(seg, n);
                    snprintf(want, sizeof want, "/%.*s", kind ? (int)strlen(kind) : (int)n,
                             kind ? kind : seg);
                    size_t len = ts_rules_route(path, n + 1, out, sizeof out);
                    if (len != strlen(want) || strcmp(out, want) != 0)
                        fail_msg("/%.*s: route %s, want %s", (int)n, seg, out, want);
                }
            }
        }
    }
}

/* A path of random segments (numbers, UUIDs, hex runs, words, empty
 * ones, near misses of each) of at most max bytes, from *seed. */
static size_t random_path(uint32_t *seed, char *p, size_t max)
{
    static const char *const pieces[] = {
        "42", "0", "123456789", "3f2b9c1e-8d4a-4b6f-9e2d-1a2b3c4d5e6f",
        "3f2b9c1e-8d4a-4b6f-9e2d-1a2b3c4d5e6g", "3f2b9c1e8d4a-4b6f-9e2d-1a2b3c4d5e6f0",
        "0123456789abcdef", "0123456789ABCDEF0", "0123456789abcde", "deadbeefdeadbeefg",
        "api", "items", "v2", "x42", "42x", "", "-", "..", "%20", "caf\xc3\xa9", "a-b",
    };
    size_t n = 0;
    while (n < max) {
        *seed = *seed * 1103515245u + 12345u;
        uint32_t r = *seed >> 8;
        if (r % 9 == 0 && n) /* a segment of random bytes now and then */
            p[n++] = "0123456789abcdefABCDEFgx-/"[r / 9 % 26];
        else if (r % 11 == 0 && n)
            break;
        else {
            const char *piece = pieces[r / 11 % (sizeof pieces / sizeof *pieces)];
            size_t k = strlen(piece);
            if (n + 1 + k > max)
                break;
            p[n++] = '/';
            memcpy(p + n, piece, k);
            n += k;
        }
    }
    return n;
}

/* Paths that fit in a word of classes are routed by classed_route, longer
 * ones and small buffers by scanned_route, byte by byte: the two agree. A
 * path behind a long first segment takes the scan, and a route into a
 * small buffer is the whole one cut short, before a character it would split. */
static void test_builtin_route_classed_and_scanned_agree(void **state)
{
    (void)state;
    uint32_t seed = 12345;
    char prefixed[256];
    memset(prefixed, 'w', 80);
    prefixed[0] = '/';
    for (int i = 0; i < 200000; i++) {
        char path[80];
        size_t max = i < 1000 ? (size_t)i % 66 : 30 + (size_t)i % 36; /* every length to 65 */
        size_t len = random_path(&seed, path, max);
        char whole[TS_ROUTE_MAX], scanned[TS_ROUTE_MAX], cut[TS_ROUTE_MAX];
        size_t n = ts_rules_route(path, len, whole, sizeof whole);
        assert_int_equal(n, strlen(whole));
        memcpy(prefixed + 80, path, len);
        size_t pn = ts_rules_route(prefixed, 80 + len, scanned, sizeof scanned);
        if (len && path[0] == '/' &&
            (pn != 80 + n || memcmp(scanned, prefixed, 80) != 0 || strcmp(scanned + 80, whole)))
            fail_msg("%.*s: route %s, behind a long segment %s", (int)len, path, whole,
                     scanned + 80);
        size_t cap = 1 + (size_t)i % 120;
        size_t cn = ts_rules_route(path, len, cut, cap);
        size_t want = n < cap - 1 ? n : ts_utf8_whole(whole, cap - 1); /* no part of an é */
        if (cn != want || memcmp(cut, whole, want) != 0 || cut[want] != '\0')
            fail_msg("%.*s: route %s, into %zu bytes %s", (int)len, path, whole, cap, cut);
    }
}

static void test_user_routes_first_match_wins(void **state)
{
    (void)state;
    load_one("TRACESHIM_ROUTES",
             "^/users/[^/]+$=/users/{name}, ^/users/=/users/*,^/a/(\\d+)/b/(\\w+)=/a/$1/b/$2");
    assert_string_equal(route("/users/bob"), "/users/{name}");
    assert_string_equal(route("/users/bob/x"), "/users/*");
    assert_string_equal(route("/a/12/b/cd"), "/a/12/b/cd");
    /* none matched: the built-in routes still apply */
    assert_string_equal(route("/orders/12"), "/orders/{id}");
}

static void test_template_references(void **state)
{
    (void)state;
    load_one("TRACESHIM_ROUTES", "^/(v\\d)/(?:x|(y))/=/$1/$2/$$/$0|,^(.*)$=$1");
    assert_string_equal(route("/v1/x/z"), "/v1//$//v1/x/|");
    assert_string_equal(route("/v1/y/z"), "/v1/y/$//v1/y/|");
    /* (.*)=$1 keeps paths as they are */
    assert_string_equal(route("/users/42"), "/users/42");
}

/* A template that comes out empty for a path (a group that took no part)
 * gives no route: the next rule, then the built-in one, as if the rule had
 * not matched (not a span named "GET " with an empty http.route). */
static void test_empty_expansion_passes_on(void **state)
{
    (void)state;
    load_one("TRACESHIM_ROUTES", "^/(?:a|(b))/=$1, ^/a/x=/a/{x}");
    assert_string_equal(route("/b/1"), "b");
    assert_string_equal(route("/a/x"), "/a/{x}");
    assert_string_equal(route("/a/7"), "/a/{id}");
}

static void test_escapes_and_blanks(void **state)
{
    (void)state;
    /* "\," is a comma in the rule, "\\" stays PCRE2's escaped backslash
     * and the comma after it separates; blanks around a rule go */
    load_one("TRACESHIM_ROUTES", "  ^/a\\,b$=/comma ,^/q\\d$=/q{d}\t");
    assert_string_equal(route("/a,b"), "/comma");
    assert_string_equal(route("/q7"), "/q{d}");
    load_one("TRACESHIM_IGNORE", "^GET /x\\\\,^GET /y");
    assert_true(ignored("GET", "/x\\"));
    assert_true(ignored("GET", "/y"));
    assert_false(ignored("GET", "/x"));
    /* the regex may hold '=': the template follows the last one */
    load_one("TRACESHIM_ROUTES", "^/k(?=e)=/look");
    assert_string_equal(route("/ke"), "/look");
}

/* A rule JIT cannot run is matched all the same: (*NO_JIT) gets no JIT
 * code (pcre2_jit_compile succeeds, making none), and a (*UTF) rule's
 * subject is checked before the JIT code reads it (invalid UTF-8 sent it
 * past the subject's end). */
static void test_rules_jit_does_not_run(void **state)
{
    (void)state;
    load_one("TRACESHIM_NO_INJECT_TO", "(*NO_JIT)^example\\.com:");
    assert_false(inject("example.com", "10.0.0.1", 80));
    assert_true(inject("example.org", "10.0.0.1", 80));
    load_one("TRACESHIM_ROUTES", "(*NO_JIT)^/a/(\\d+)$=/a/{n}");
    assert_string_equal(route("/a/12"), "/a/{n}");
    load_one("TRACESHIM_IGNORE", "(*NO_JIT)^GET /health$");
    assert_true(ignored("GET", "/health"));
    /* "/\xf4" (a lead byte, its character cut off) as the last bytes before
     * a page that cannot be read: not UTF-8, so no match */
    load_one("TRACESHIM_ROUTES", "(*UTF)(*UCP)^/\\w=/y");
    assert_string_equal(route("/\xc3\xa9"), "/y"); /* "/é" */
    long page = sysconf(_SC_PAGESIZE);
    char *m =
        mmap(NULL, 2 * (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(m != MAP_FAILED);
    assert_int_equal(mprotect(m + page, (size_t)page, PROT_NONE), 0);
    char *subject = m + page - 2;
    memcpy(subject, "/\xf4", 2);
    char out[TS_ROUTE_MAX];
    struct stderr_capture cap;
    stderr_capture_begin(&cap);
    size_t n = ts_rules_route(subject, 2, out, sizeof out);
    stderr_capture_end(&cap, captured, sizeof captured);
    assert_int_equal(n, 2);
    assert_memory_equal(out, "/\xf4", 2);
    assert_non_null(strstr(captured, "TRACESHIM_ROUTES: rule 1: match failed on 2 bytes: UTF-8 "));
    munmap(m, 2 * (size_t)page);
}

/* ------------------------------------------------------------- no malloc */

/* Every malloc that rules.c and PCRE2 (linked in statically) make comes
 * here (the test is linked with --wrap=malloc): counted while counting. */
void *__real_malloc(size_t n);
static volatile int counting, mallocs;

void *__wrap_malloc(size_t n)
{
    if (counting)
        mallocs++;
    return __real_malloc(n);
}

#ifndef PR_SET_MDWE
#define PR_SET_MDWE 65
#define PR_MDWE_REFUSE_EXEC_GAIN 1
#endif

static char long_path[65536];

/* This process's resident memory, KiB. */
static long resident_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, resident = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* "/files/" and n one-letter segments ("a/"): the rule ^/files/(\w+/?)+$
 * backtracks over each, and its frames (the interpreter's) or its stack
 * (JIT code's) grow with n. */
static const char *files_path(size_t n)
{
    size_t len = 0;
    memcpy(long_path, "/files/", 7);
    len = 7;
    for (size_t i = 0; i < n && len + 3 < sizeof long_path; i++) {
        memcpy(long_path + len, "a/", 2);
        len += 2;
    }
    long_path[len] = '\0';
    return long_path;
}

/* Matches of every kind, counting mallocs, in a process of their own:
 * this program run again ("test_rules matches"), so that no JIT code of
 * an earlier test's is about (PCRE2 keeps its executable memory for the
 * next compile). With nojit, executable memory is refused it before it
 * starts (PR_SET_MDWE, as systemd's MemoryDenyWriteExecute=yes does), so
 * that every rule runs on the interpreter. */
static int matches_take_no_malloc(bool nojit)
{
    ts_log_muted = true; /* the failed match's line */
    int code;
    PCRE2_SIZE at;
    pcre2_code *probe = pcre2_compile((PCRE2_SPTR) "^a", 2, 0, &code, &at, NULL);
    CHECK(probe, "compile");
    CHECK((pcre2_jit_compile(probe, PCRE2_JIT_COMPLETE) == 0) == !nojit, "JIT %s",
          nojit ? "still works" : "does not work");
    pcre2_code_free(probe);
    env_set("TRACESHIM_ROUTES", "^/files/(\\w+/?)+$=/files/*,^/users/(\\d+)$=/users/$1");
    env_set("TRACESHIM_IGNORE", "^GET /health$");
    env_set("TRACESHIM_NO_INJECT_TO", "^partner\\.example:");
    CHECK(ts_rules_load(env_lookup) == 0, "load");
    env_reset();
    char out[TS_ROUTE_MAX];
    if (nojit) {
        /* The frames grow from 20 KiB to 2 MiB in turns between the two
         * halves of the slot's region (1.7 MiB used): the half each growth
         * left goes back to the system, or 2.9 MiB stayed resident. */
        long before = resident_kib();
        const char *path = files_path(4000);
        ts_rules_route(path, strlen(path), out, sizeof out);
        long grew = resident_kib() - before;
        CHECK(strcmp(out, "/files/*") == 0 && grew < 2300, "%s, resident +%ld KiB", out, grew);
    }
    for (int round = 0; round < 2; round++) { /* the second with the frames grown */
        counting = 1;
        size_t n = ts_rules_route("/users/42", 9, out, sizeof out);
        bool health = ts_rules_ignored("GET", 3, "/health", 7);
        bool partner = ts_rules_should_inject("partner.example", 15, 80, "10.0.0.1", 80);
        bool other = ts_rules_should_inject("other.example", 13, 80, "10.0.0.1", 80);
        counting = 0;
        CHECK(n == 9 && strcmp(out, "/users/42") == 0, "route %s", out);
        CHECK(health && !partner && other, "ignore %d, inject %d %d", health, partner, other);
        CHECK(mallocs == 0, "%d mallocs in round %d", mallocs, round);
        /* the interpreter's frames grow from 20 KiB to 320 KiB for this one
         * (190 used; the JIT code takes 21 KiB of its stack) */
        const char *path = files_path(450);
        counting = 1;
        n = ts_rules_route(path, strlen(path), out, sizeof out);
        counting = 0;
        CHECK(strcmp(out, "/files/*") == 0, "route of %zu bytes: %s", strlen(path), out);
        CHECK(mallocs == 0, "%d mallocs in round %d", mallocs, round);
        /* past the frames' limit (2 MiB: 12 KiB of one-letter segments need
         * about 2.5), or the JIT stack's (1 MiB: 60 KiB need about 1.4): no
         * match, and nothing asked for */
        path = files_path(nojit ? 6000 : 30000);
        counting = 1;
        n = ts_rules_route(path, strlen(path), out, sizeof out);
        counting = 0;
        CHECK(strcmp(out, "/files/*") != 0, "route of %zu bytes: %s", strlen(path), out);
        CHECK(mallocs == 0, "%d mallocs in round %d", mallocs, round);
    }
    return 0;
}

static void run_matches(bool nojit)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(60);
        if (nojit && prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0)
            _exit(77);
        execl("/proc/self/exe", "test_rules", "matches", nojit ? "nojit" : "jit", (char *)NULL);
        _exit(126);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
        skip(); /* before Linux 6.3: no PR_SET_MDWE */
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* No match takes memory from malloc, with JIT code or with the
 * interpreter (whose backtracking frames, 20 KiB at least, came from
 * malloc at every match): a signal handler may make a request while its
 * thread is inside malloc. */
static void test_matches_take_no_malloc_with_jit(void **state)
{
    (void)state;
    run_matches(false);
}

static void test_matches_take_no_malloc_without_jit(void **state)
{
    (void)state;
    run_matches(true);
}

/* ------------------------------------------------------------- failures */

/* A match that fails: the deny list's counts as a match (no headers),
 * every other list's as no match; each variable's first failure is said
 * on stderr, once. "(*LIMIT_MATCH=50)" makes these rules fail early. */
static void test_failed_matches(void **state)
{
    (void)state;
    static const char *const bomb = "(*LIMIT_MATCH=50)(x+x+)+[yz]";
    char rules[160];
    snprintf(rules, sizeof rules, "%s=/bomb,^/(x)=/$1", bomb);
    env_set("TRACESHIM_ROUTES", rules);
    env_set("TRACESHIM_IGNORE", bomb);
    env_set("TRACESHIM_NO_INJECT_TO", bomb);
    assert_int_equal(load(), 0);
    struct stderr_capture cap;
    stderr_capture_begin(&cap);
    char r1[TS_ROUTE_MAX], r2[TS_ROUTE_MAX];
    snprintf(r1, sizeof r1, "%s", route("/xxxxxxxxxxxxxxxxxxxx"));
    snprintf(r2, sizeof r2, "%s", route("/xxxxxxxxxxxxxxxxxxxxxxxxxxxxx"));
    bool ignored_failed = ignored("GET", "/xxxxxxxxxxxxxxxxxxxx");
    bool ignored_matched = ignored("GET", "/xxy"); /* before the limit */
    bool inject_failed = inject("xxxxxxxxxxxxxxxxxxxx", "10.0.0.1", 80);
    bool inject_failed_port = inject("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx:8080", "10.0.0.1", 80);
    bool inject_other = inject("example.com", "10.0.0.1", 80); /* no failure, no match */
    stderr_capture_end(&cap, captured, sizeof captured);
    assert_string_equal(r1, "/x"); /* the next rule's */
    assert_string_equal(r2, "/x");
    assert_false(ignored_failed);
    assert_true(ignored_matched);
    assert_false(inject_failed);
    assert_false(inject_failed_port);
    assert_true(inject_other);
    static const char want[] =
        "traceshim: TRACESHIM_ROUTES: rule 1: match failed on 21 bytes: match limit exceeded "
        "\xe2\x80\x94 counted as no match (said once)\n"
        "traceshim: TRACESHIM_IGNORE: rule 1: match failed on 25 bytes: match limit exceeded "
        "\xe2\x80\x94 counted as no match (said once)\n"
        "traceshim: TRACESHIM_NO_INJECT_TO: rule 1: match failed on 23 bytes: match limit "
        "exceeded \xe2\x80\x94 counted as a match: no trace headers (said once)\n";
    assert_string_equal(captured, want);
}

/* A match may take 100,000 steps (PCRE2's own limit: 10,000,000). A deny
 * rule that backtracks over every way to split a run of letters fails,
 * and so counts as matching, on a host of 18, where it took some 250,000
 * steps to say no; on 12 it says no within the limit. A rule cannot raise
 * the limit with (*LIMIT_MATCH=). */
static void test_match_limit(void **state)
{
    (void)state;
    static const char *const rules[] = {"^(\\w+-?)+$", "(*LIMIT_MATCH=10000000)^(\\w+-?)+$"};
    for (size_t i = 0; i < 2; i++) {
        load_one("TRACESHIM_NO_INJECT_TO", rules[i]);
        struct stderr_capture cap;
        stderr_capture_begin(&cap);
        bool eighteen = inject("aaaaaaaaaaaaaaaaaa", "10.0.0.1", 80);
        bool twelve = inject("aaaaaaaaaaaa", "10.0.0.1", 80);
        stderr_capture_end(&cap, captured, sizeof captured);
        if (eighteen || !twelve ||
            !strstr(captured, "rule 1: match failed on 21 bytes: match "
                              "limit exceeded"))
            fail_msg("%s: headers %d on 18 letters, %d on 12; %s", rules[i], eighteen, twelve,
                     captured);
    }
}

/* Each slot's JIT stack grows as a match needs: 32 KiB failed a route rule
 * on a path of 2 KiB, and an IGNORE rule on a request of 2 KiB. 8 KiB
 * take about 190 KiB. */
static void test_jit_stack_grows(void **state)
{
    (void)state;
    load_one("TRACESHIM_ROUTES", "^/files/(\\w+/?)+$=/files/*");
    assert_string_equal(route(files_path(1050)), "/files/*");
    assert_string_equal(route(files_path(4000)), "/files/*");
    load_one("TRACESHIM_IGNORE", "^GET /files/(\\w+/?)+$");
    static char line[4096] = "GET "; /* the request line holds "METHOD /path" */
    const char *path = files_path(1050);
    size_t n = strlen(path);
    memcpy(line + 4, path, n);
    assert_true(ts_rules_ignored(line, 3, line + 4, n));
    assert_string_equal(captured, "");
}

/* ------------------------------------------------------------- slots */

static volatile int matching_stop;

/* Matches, each a long backtrack over the path, until matching_stop. */
static void *match_on(void *arg)
{
    (void)arg;
    static const char path[] = "/users/12345678901234567890/abcdefgh";
    char out[TS_ROUTE_MAX];
    while (!matching_stop)
        ts_rules_route(path, sizeof path - 1, out, sizeof out);
    return NULL;
}

static long ms_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Sixteen threads match without pause, so that every slot is in use at
 * almost any moment (the matches of the threads not running at the moment
 * hold theirs), and the process forks: the child's only thread finds the
 * slots the parent's threads held free, and matches at once. Kept taken,
 * it waited for them (for a second) and gave up. */
static void forked_child_matches(void)
{
    ts_log_muted = true; /* the matches fail: their match limit */
    env_set("TRACESHIM_ROUTES", "^(.|.|.)*\\d[a-z]{9}=y,^/x$=/ex");
    CHECK(ts_rules_load(env_lookup) == 0, "load");
    env_reset();
    pthread_t t[16];
    for (int i = 0; i < 16; i++)
        CHECK(pthread_create(&t[i], NULL, match_on, NULL) == 0, "thread %d", i);
    struct timespec pause = {0, 50 * 1000 * 1000};
    nanosleep(&pause, NULL);
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        ts_rules_after_fork(); /* the shim's fork handler's call */
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        char out[TS_ROUTE_MAX];
        ts_rules_route("/x", 2, out, sizeof out);
        long took = ms_since(&t0);
        CHECK(strcmp(out, "/ex") == 0 && took < 500, "route %s after %ld ms", out, took);
        _exit(0);
    }
    int status;
    CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
    matching_stop = 1;
    for (int i = 0; i < 16; i++)
        pthread_join(t[i], NULL);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
}

static void test_forked_child_frees_the_slots(void **state)
{
    (void)state;
    run_in_child(NULL, forked_child_matches);
}

/* ------------------------------------------------------------- bad rules */

struct bad {
    const char *var, *value, *line;
};

static void test_bad_rules_one_line(void **state)
{
    (void)state;
    static const struct bad cases[] = {
        {"TRACESHIM_ROUTES", "^/a=/b,^/c",
         "traceshim: TRACESHIM_ROUTES: rule 2: missing '=' \xe2\x80\x94 expected REGEX=TEMPLATE; "
         "using the built-in routes\n"},
        {"TRACESHIM_ROUTES", "=/x",
         "traceshim: TRACESHIM_ROUTES: rule 1: empty regex before '=' \xe2\x80\x94 expected "
         "REGEX=TEMPLATE; using the built-in routes\n"},
        {"TRACESHIM_ROUTES", "^/a=/b,^/x$= ",
         "traceshim: TRACESHIM_ROUTES: rule 2: empty template after '=' \xe2\x80\x94 expected "
         "REGEX=TEMPLATE; using the built-in routes\n"},
        {"TRACESHIM_ROUTES", "(/a=/b",
         "traceshim: TRACESHIM_ROUTES: rule 1: bad regex \"(/a\": missing closing parenthesis "
         "at offset 3 \xe2\x80\x94 expected REGEX=TEMPLATE; using the built-in routes\n"},
        {"TRACESHIM_ROUTES", "^/(a)=/$2",
         "traceshim: TRACESHIM_ROUTES: rule 1: template uses $2 but the regex has 1 group "
         "\xe2\x80\x94 expected REGEX=TEMPLATE; using the built-in routes\n"},
        {"TRACESHIM_ROUTES", "^/a=/b,,^/c=/d",
         "traceshim: TRACESHIM_ROUTES: rule 2: empty rule \xe2\x80\x94 expected REGEX=TEMPLATE; "
         "using the built-in routes\n"},
        {"TRACESHIM_IGNORE", "^GET /health,[",
         "traceshim: TRACESHIM_IGNORE: rule 2: bad regex \"[\": missing terminating ] for "
         "character class at offset 1 \xe2\x80\x94 expected regular expressions matching "
         "\"METHOD /path\"; ignoring nothing\n"},
        {"TRACESHIM_INJECT_TO", "a)",
         "traceshim: TRACESHIM_INJECT_TO: rule 1: bad regex \"a)\": unmatched closing "
         "parenthesis at offset 1 \xe2\x80\x94 expected regular expressions matching "
         "host:port; injecting everywhere\n"},
        {"TRACESHIM_NO_INJECT_TO", "x,*",
         "traceshim: TRACESHIM_NO_INJECT_TO: rule 2: bad regex \"*\": quantifier does not "
         "follow a repeatable item at offset 0 \xe2\x80\x94 expected regular expressions "
         "matching host:port; injecting nowhere\n"},
        {"TRACESHIM_IGNORE", "\x01\n(",
         "traceshim: TRACESHIM_IGNORE: rule 1: bad regex \"?\?(\": missing closing parenthesis "
         "at offset 3 \xe2\x80\x94 expected regular expressions matching \"METHOD /path\"; "
         "ignoring nothing\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        env_set(cases[i].var, cases[i].value);
        assert_int_equal(load(), 1);
        if (strcmp(captured, cases[i].line) != 0)
            fail_msg("%s=%s:\n got  %s want %s", cases[i].var, cases[i].value, captured,
                     cases[i].line);
    }
}

static void test_too_many_and_too_long(void **state)
{
    (void)state;
    char many[33 * 3 + 1] = "";
    for (int i = 0; i < 33; i++)
        strcat(many, i ? ",^x" : "^x");
    env_set("TRACESHIM_IGNORE", many);
    assert_int_equal(load(), 1);
    assert_non_null(strstr(captured, "TRACESHIM_IGNORE: rule 33: more than 32 rules"));
    char longr[1100];
    memset(longr, 'a', sizeof longr - 1);
    longr[sizeof longr - 1] = '\0';
    env_set("TRACESHIM_IGNORE", longr);
    assert_int_equal(load(), 1);
    assert_non_null(strstr(captured, "TRACESHIM_IGNORE: rule 1: longer than 1023 bytes"));
}

static void test_bad_routes_fall_back(void **state)
{
    (void)state;
    env_set("TRACESHIM_ROUTES", "^/users/[^/]+$=/users/{name},oops");
    assert_int_equal(load(), 1);
    /* the whole list is dropped: built-in routes */
    assert_string_equal(route("/users/bob"), "/users/bob");
    assert_string_equal(route("/users/42"), "/users/{id}");
}

static void test_each_bad_list_own_line(void **state)
{
    (void)state;
    env_set("TRACESHIM_ROUTES", "x");
    env_set("TRACESHIM_IGNORE", "(");
    env_set("TRACESHIM_INJECT_TO", "(");
    env_set("TRACESHIM_NO_INJECT_TO", "(");
    assert_int_equal(load(), 4);
    int lines = 0;
    for (const char *p = captured; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 4);
}

/* ------------------------------------------------------------- injection */

static void test_inject_default_everywhere(void **state)
{
    (void)state;
    assert_true(inject("example.com", "10.0.0.1", 80));
    assert_true(inject(NULL, "10.0.0.1", 80));
    assert_true(inject(NULL, NULL, 0));
}

static void test_inject_allow(void **state)
{
    (void)state;
    load_one("TRACESHIM_INJECT_TO", "^internal\\.example:80$,^10\\.1\\.");
    assert_true(inject("internal.example", "192.0.2.1", 80)); /* Host with default port */
    assert_true(inject("internal.example:80", "192.0.2.1", 80));
    assert_false(inject("internal.example:8080", "192.0.2.1", 8080));
    assert_true(inject("other.example", "10.1.2.3", 443)); /* by peer */
    assert_false(inject("other.example", "10.2.2.3", 443));
    assert_false(inject(NULL, "192.0.2.1", 80));
    /* over TLS a Host without a port means 443 */
    assert_false(inject_https("internal.example", "192.0.2.1", 443));
    load_one("TRACESHIM_INJECT_TO", "^internal\\.example:443$");
    assert_true(inject_https("internal.example", "192.0.2.1", 443));
    assert_false(inject("internal.example", "192.0.2.1", 80));
}

static void test_inject_deny_wins(void **state)
{
    (void)state;
    env_set("TRACESHIM_INJECT_TO", ".");
    env_set("TRACESHIM_NO_INJECT_TO", "^api\\.partner\\.com:,:9999$");
    assert_int_equal(load(), 0);
    assert_false(inject("api.partner.com", "203.0.113.5", 80));
    assert_false(inject("api.partner.com:443", "203.0.113.5", 443));
    assert_false(inject("localhost:8080", "127.0.0.1", 9999)); /* by peer */
    assert_true(inject("localhost:8080", "127.0.0.1", 8080));
    assert_true(inject("[::1]:8080", "::1", 8080));
    load_one("TRACESHIM_NO_INJECT_TO", "^\\[::1\\]:8080$");
    assert_false(inject(NULL, "::1", 8080));
    assert_false(inject("[::1]:8080", "127.0.0.1", 1));
    assert_true(inject("[::1]", "127.0.0.1", 80)); /* "[::1]:80" */
    /* a Unix-domain socket's peer is its path, with no port: a request
     * without a Host is reached by it */
    load_one("TRACESHIM_NO_INJECT_TO", "^/run/legacy\\.sock$");
    assert_false(inject(NULL, "/run/legacy.sock", 0));
    assert_true(inject(NULL, "/run/app.sock", 0));
    assert_false(inject("localhost", "/run/legacy.sock", 0));
    load_one("TRACESHIM_NO_INJECT_TO", ".*");
    assert_false(inject(NULL, "/run/app.sock", 0));
}

/* A host name in any case, and with the dot that makes it fully
 * qualified, is matched as one form: lower case, no final dot. */
static void test_host_names_in_any_form(void **state)
{
    (void)state;
    load_one("TRACESHIM_NO_INJECT_TO", "^api\\.partner\\.com:");
    assert_false(inject("API.Partner.com", "10.0.0.1", 80));
    assert_false(inject("api.partner.com.", "10.0.0.1", 80));
    assert_false(inject("API.PARTNER.COM.:8443", "10.0.0.1", 8443));
    assert_true(inject("api.partner.com.example", "10.0.0.1", 80));
    assert_true(inject("api.partner.co", "10.0.0.1", 80));
    load_one("TRACESHIM_INJECT_TO", "^internal\\.example:80$,^\\[::ffff:a00:1\\]:80$");
    assert_true(inject("Internal.Example.", "192.0.2.1", 80));
    assert_true(inject("[::FFFF:A00:1]", "192.0.2.1", 80)); /* an address's hex digits too */
    assert_false(inject(".", "192.0.2.1", 80));
    /* a value too long for a host name is matched as written, with its port */
    load_one("TRACESHIM_NO_INJECT_TO", "partner\\.com:443$");
    char longer[400];
    memset(longer, 'x', 300);
    memcpy(longer + 300, ".partner.com:443", sizeof ".partner.com:443");
    assert_false(inject(longer, "10.0.0.1", 443));
    longer[301] = 'P';
    assert_true(inject(longer, "10.0.0.1", 443));
}

static void test_broken_deny_injects_nowhere(void **state)
{
    (void)state;
    env_set("TRACESHIM_NO_INJECT_TO", "(");
    assert_int_equal(load(), 1);
    assert_false(inject("example.com", "10.0.0.1", 80));
    assert_false(inject(NULL, "10.0.0.1", 80));
    env_set("TRACESHIM_INJECT_TO", "(");
    env_set("TRACESHIM_NO_INJECT_TO", "^x:");
    assert_int_equal(load(), 1);
    assert_true(inject("example.com", "10.0.0.1", 80)); /* broken allow: everywhere */
    assert_false(inject("x", "10.0.0.1", 80));          /* but the deny list holds */
}

/* ------------------------------------------------------------- ignore */

static void test_ignore(void **state)
{
    (void)state;
    assert_false(ignored("GET", "/health"));
    load_one("TRACESHIM_IGNORE", "^GET /health$, ^(GET|HEAD) /metrics");
    assert_true(ignored("GET", "/health"));
    assert_false(ignored("POST", "/health"));
    assert_false(ignored("GET", "/healthz"));
    assert_true(ignored("HEAD", "/metrics/x"));
    assert_false(ignored("GET", "/api"));
    /* the request line in place ("METHOD /path" contiguous) */
    const char line[] = "GET /health HTTP/1.1";
    assert_true(ts_rules_ignored(line, 3, line + 4, 7));
    assert_false(ts_rules_ignored(line, 3, line + 4, 6));
    /* too long to build: traced. "METHOD /path" is put together up to
     * 512 bytes (on the program thread's stack, which may be 16 KiB) */
    static char path[4096];
    memset(path, 'a', sizeof path - 1);
    path[0] = '/';
    load_one("TRACESHIM_IGNORE", "^GET /a");
    assert_false(ignored("GET", path));
    assert_true(ignored("GET", "/aa"));
    path[512 - 4] = '\0'; /* "GET " and 508 bytes: the most that is built */
    assert_true(ignored("GET", path));
    path[512 - 4] = 'a';
    path[512 - 3] = '\0';
    assert_false(ignored("GET", path));
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "matches") == 0) /* run_matches's process */
        return matches_take_no_malloc(strcmp(argv[2], "nojit") == 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_builtin_routes, setup),
        cmocka_unit_test_setup(test_builtin_route_segments, setup),
        cmocka_unit_test_setup(test_builtin_route_classed_and_scanned_agree, setup),
        cmocka_unit_test_setup(test_user_routes_first_match_wins, setup),
        cmocka_unit_test_setup(test_template_references, setup),
        cmocka_unit_test_setup(test_empty_expansion_passes_on, setup),
        cmocka_unit_test_setup(test_escapes_and_blanks, setup),
        cmocka_unit_test_setup(test_rules_jit_does_not_run, setup),
        cmocka_unit_test_setup(test_matches_take_no_malloc_with_jit, setup),
        cmocka_unit_test_setup(test_matches_take_no_malloc_without_jit, setup),
        cmocka_unit_test_setup(test_forked_child_frees_the_slots, setup),
        cmocka_unit_test_setup(test_failed_matches, setup),
        cmocka_unit_test_setup(test_jit_stack_grows, setup),
        cmocka_unit_test_setup(test_match_limit, setup),
        cmocka_unit_test_setup(test_bad_rules_one_line, setup),
        cmocka_unit_test_setup(test_too_many_and_too_long, setup),
        cmocka_unit_test_setup(test_bad_routes_fall_back, setup),
        cmocka_unit_test_setup(test_each_bad_list_own_line, setup),
        cmocka_unit_test_setup(test_inject_default_everywhere, setup),
        cmocka_unit_test_setup(test_inject_allow, setup),
        cmocka_unit_test_setup(test_inject_deny_wins, setup),
        cmocka_unit_test_setup(test_host_names_in_any_form, setup),
        cmocka_unit_test_setup(test_broken_deny_injects_nowhere, setup),
        cmocka_unit_test_setup(test_ignore, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
