/* test_span.c — the span record: names, attributes, limits; and ids. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "preload/ids.h"
#include "preload/span.h"

static void test_name_and_attrs(void **state)
{
    struct ts_span s;
    ts_span_clear(&s);
    ts_span_set_name(&s, "GET /x", 6);
    ts_span_attr_cstr(&s, "http.request.method", "GET");
    ts_span_attr_int(&s, "http.response.status_code", 404);
    ts_span_attr_bool(&s, "flag", true);
    assert_int_equal(s.name_len, 6);
    assert_memory_equal(ts_span_name(&s), "GET /x", 6);
    const struct ts_attr *a = ts_span_attr_find(&s, "http.request.method");
    assert_non_null(a);
    assert_int_equal(a->type, TS_ATTR_STR);
    assert_int_equal(a->len, 3);
    assert_memory_equal(ts_span_attr_sval(&s, a), "GET", 3);
    a = ts_span_attr_find(&s, "http.response.status_code");
    assert_int_equal(a->type, TS_ATTR_INT);
    assert_int_equal(a->num, 404);
    assert_int_equal(ts_span_attr_find(&s, "flag")->num, 1);
    assert_null(ts_span_attr_find(&s, "missing"));
    /* a damaged record: a count past the slots set, a slot with no key */
    s.attrs[s.nattrs].key = NULL;
    s.nattrs++;
    assert_null(ts_span_attr_find(&s, "missing"));
    assert_int_equal(ts_span_attr_find(&s, "flag")->num, 1);
}

/* A slot that held something before (records are reused without being
 * cleared past their fixed fields) is written whole: no stale number on a
 * string, no stale offset on a number, values stored one after another. */
static void test_attrs_overwrite_stale_slots(void **state)
{
    struct ts_span s;
    memset(&s, 0x5a, sizeof s);
    ts_span_clear(&s);
    ts_span_set_name(&s, "n", 1);
    ts_span_attr_str(&s, "a", "xyz", 3);
    ts_span_attr_cstr(&s, "b", "");
    ts_span_attr_int(&s, "c", -7);
    ts_span_attr_bool(&s, "d", false);
    ts_span_attr_cstr(&s, "e", "12");
    assert_int_equal(s.nattrs, 5);
    assert_int_equal(s.str_used, 6);
    const struct ts_attr *a = &s.attrs[0];
    assert_string_equal(a->key, "a");
    assert_int_equal(a->type, TS_ATTR_STR);
    assert_int_equal(a->off, 1);
    assert_int_equal(a->len, 3);
    assert_int_equal(a->num, 0);
    a = &s.attrs[1];
    assert_int_equal(a->type, TS_ATTR_STR);
    assert_int_equal(a->off, 4);
    assert_int_equal(a->len, 0);
    assert_int_equal(a->num, 0);
    a = &s.attrs[2];
    assert_int_equal(a->type, TS_ATTR_INT);
    assert_int_equal(a->num, -7);
    assert_int_equal(a->off, 0);
    assert_int_equal(a->len, 0);
    a = &s.attrs[3];
    assert_int_equal(a->type, TS_ATTR_BOOL);
    assert_int_equal(a->num, 0);
    a = &s.attrs[4];
    assert_int_equal(a->off, 4);
    assert_int_equal(a->len, 2);
    assert_memory_equal(ts_span_attr_sval(&s, a), "12", 2);
}

/* Values of every length from 0 to 40, one after another: each stored
 * whole at its offset, nothing written past it (short values are copied
 * with overlapping words). */
static void test_values_of_every_length(void **state)
{
    struct ts_span s;
    memset(&s, 0x5a, sizeof s);
    ts_span_clear(&s);
    char src[41];
    for (int i = 0; i < 41; i++)
        src[i] = (char)('A' + i);
    size_t off = 0;
    for (size_t len = 0; len <= 40; len++) {
        if (s.nattrs == TS_SPAN_MAX_ATTRS)
            s.nattrs = 0; /* reuse the slots: only the buffer is looked at */
        ts_span_attr_str(&s, "k", src + (len % 3), len);
        const struct ts_attr *a = &s.attrs[s.nattrs - 1];
        assert_int_equal(a->off, off);
        assert_int_equal(a->len, len);
        assert_memory_equal(s.str + off, src + (len % 3), len);
        off += len;
        assert_int_equal(s.str_used, off);
        assert_int_equal((unsigned char)s.str[off], 0x5a); /* nothing past it */
    }
}

/* A name written in place with bytes after it, and attributes that share
 * bytes the span already holds: no copy, no room taken, the values read
 * back as the bytes referred to. */
static void test_name_in_place_and_shared_values(void **state)
{
    struct ts_span s;
    memset(&s, 0x5a, sizeof s);
    ts_span_clear(&s);
    ts_span_attr_cstr(&s, "first", "ab"); /* the name need not come first */
    struct ts_attrs at = ts_attrs_begin(&s);
    char *room = ts_attrs_room(&at);
    assert_ptr_equal(room, s.str + 2);
    memcpy(room, "PUT /a/very/long/route", 22);
    ts_attrs_name_written(&at, 8, 22); /* the name: "PUT /a/v", the route after it whole */
    ts_attrs_end(&at);
    assert_int_equal(s.name_off, 2);
    assert_int_equal(s.name_len, 8);
    assert_int_equal(s.str_used, 24);
    assert_memory_equal(ts_span_name(&s), "PUT /a/v", 8);
    ts_span_attr_ref(&s, "route", (uint16_t)(s.name_off + 4), 18);
    ts_span_attr_ref(&s, "method", s.name_off, 3);
    assert_int_equal(s.str_used, 24); /* nothing copied */
    const struct ts_attr *a = ts_span_attr_find(&s, "route");
    assert_int_equal(a->type, TS_ATTR_STR);
    assert_int_equal(a->num, 0);
    size_t n;
    const char *p = ts_span_bytes(&s, a->off, a->len, &n);
    assert_int_equal(n, 18);
    assert_memory_equal(p, "/a/very/long/route", 18);
    a = ts_span_attr_find(&s, "method");
    assert_memory_equal(ts_span_attr_sval(&s, a), "PUT", a->len);
    assert_int_equal(a->len, 3);

    /* the attribute ts_span_attr_str returns is the one it added */
    const struct ts_attr *c = ts_span_attr_str(&s, "client", "10.0.0.1", 8);
    assert_ptr_equal(c, &s.attrs[s.nattrs - 1]);
    ts_span_attr_ref(&s, "peer", c->off, c->len);
    assert_int_equal(s.str_used, 32);
    assert_memory_equal(ts_span_attr_sval(&s, ts_span_attr_find(&s, "peer")), "10.0.0.1", 8);

    /* past the last slot: dropped, and ts_span_attr_str says so */
    while (s.nattrs < TS_SPAN_MAX_ATTRS)
        ts_span_attr_int(&s, "n", 1);
    assert_null(ts_span_attr_str(&s, "late", "x", 1));
    ts_span_attr_ref(&s, "late", 0, 1);
    assert_int_equal(s.nattrs, TS_SPAN_MAX_ATTRS);
    assert_int_equal(s.dropped_attrs, 2); /* and counted */
    assert_int_equal(s.str_used, 32);
}

/* A value cut where the span's text ends is cut before a UTF-8 character
 * it would split (the exporters show a part as U+FFFD). */
static void test_value_cut_between_characters(void **state)
{
    (void)state;
    for (size_t pad = 0; pad < 3; pad++) {
        struct ts_span s;
        ts_span_clear(&s);
        char big[TS_SPAN_STRBUF + 8];
        memset(big, 'n', pad);
        for (size_t i = pad; i + 3 <= sizeof big; i += 3)
            memcpy(big + i, "\xe6\x97\xa5", 3); /* 日 */
        ts_span_set_name(&s, "x", 1);
        const struct ts_attr *a =
            ts_span_attr_str(&s, "k", big, sizeof big - (sizeof big - pad) % 3);
        assert_non_null(a);
        size_t whole_chars = (TS_SPAN_STRBUF - 1 - pad) / 3;
        assert_int_equal(a->len, pad + 3 * whole_chars);
    }
}

static void test_limits_truncate_never_overflow(void **state)
{
    struct ts_span s;
    ts_span_clear(&s);
    char big[4000];
    memset(big, 'x', sizeof big);
    ts_span_set_name(&s, big, sizeof big);
    assert_int_equal(s.name_len, TS_SPAN_STRBUF);
    ts_span_attr_str(&s, "k", "v", 1);
    assert_int_equal(ts_span_attr_find(&s, "k")->len, 0); /* no room left */
    for (int i = 0; i < TS_SPAN_MAX_ATTRS + 5; i++)
        ts_span_attr_int(&s, "n", i);
    assert_int_equal(s.nattrs, TS_SPAN_MAX_ATTRS);
}

/* The same attributes through a cursor and through the setters one at a
 * time give the same span, byte for byte: fields, slots, string buffer.
 * From a buffer with room left to one nearly full (values cut short, an
 * empty value past the end) and an attribute count up to the limit and
 * past it (dropped, ts_attrs_str says so); the counts reach the span only
 * at ts_attrs_end. */
static void test_cursor_builds_what_setters_build(void **state)
{
    char big[TS_SPAN_STRBUF];
    memset(big, 'v', sizeof big);
    static const size_t used_before[] = {0, 7, TS_SPAN_STRBUF - 40, TS_SPAN_STRBUF - 3,
                                         TS_SPAN_STRBUF};
    static const int nattrs_before[] = {0, 3, TS_SPAN_MAX_ATTRS - 6, TS_SPAN_MAX_ATTRS - 1,
                                        TS_SPAN_MAX_ATTRS};
    for (size_t u = 0; u < sizeof used_before / sizeof *used_before; u++) {
        for (size_t k = 0; k < sizeof nattrs_before / sizeof *nattrs_before; k++) {
            struct ts_span one, cur;
            memset(&one, 0x5a, sizeof one);
            ts_span_clear(&one);
            one.str_used = (uint16_t)used_before[u];
            one.nattrs = (uint8_t)nattrs_before[k];
            memcpy(&cur, &one, sizeof one);

            const struct ts_attr *shared = ts_span_attr_str(&one, "a", "10.0.0.1", 8);
            int tried = shared ? 7 : 6; /* "b" shares a's bytes, if a has any */
            if (shared)
                ts_span_attr_ref(&one, "b", shared->off, shared->len);
            ts_span_attr_cstr(&one, "c", "https");
            ts_span_attr_int(&one, "d", 8080);
            ts_span_attr_bool(&one, "e", true);
            ts_span_attr_str(&one, "f", big, 30);
            ts_span_attr_cstr(&one, "g", "");

            struct ts_attrs at = ts_attrs_begin(&cur);
            shared = ts_attrs_str(&at, "a", "10.0.0.1", 8);
            if (shared)
                ts_attrs_ref(&at, "b", shared->off, shared->len);
            ts_attrs_cstr(&at, "c", "https");
            ts_attrs_int(&at, "d", 8080);
            ts_attrs_bool(&at, "e", true);
            ts_attrs_str(&at, "f", big, 30);
            assert_int_equal(cur.nattrs, nattrs_before[k]); /* not yet */
            assert_int_equal(cur.str_used, used_before[u]);
            ts_attrs_cstr(&at, "g", "");
            ts_attrs_end(&at);

            assert_memory_equal(&one, &cur, sizeof one);
            assert_true(one.nattrs <= TS_SPAN_MAX_ATTRS);
            assert_true(one.str_used <= TS_SPAN_STRBUF);
            int added = one.nattrs - nattrs_before[k];
            assert_int_equal(added, TS_SPAN_MAX_ATTRS - nattrs_before[k] < 7
                                        ? TS_SPAN_MAX_ATTRS - nattrs_before[k]
                                        : 7);
            assert_int_equal(one.dropped_attrs,
                             tried - added);       /* OTLP's dropped_attributes_count */
            if (cur.nattrs == TS_SPAN_MAX_ATTRS) { /* full: dropped, and counted */
                struct ts_attrs more = ts_attrs_begin(&cur);
                assert_null(ts_attrs_str(&more, "late", "x", 1));
                ts_attrs_end(&more);
                assert_int_equal(cur.dropped_attrs, one.dropped_attrs + 1);
                cur.dropped_attrs--;
                assert_memory_equal(&one, &cur, sizeof one);
            }
        }
    }
}

static void test_ids_nonzero_and_distinct(void **state)
{
    uint8_t a[16], b[16], s1[8], s2[8];
    ts_ids_new_trace(a);
    ts_ids_new_trace(b);
    ts_ids_new_span(s1);
    ts_ids_new_span(s2);
    assert_false(ts_id_is_zero(a, 16));
    assert_false(ts_id_is_zero(s1, 8));
    assert_memory_not_equal(a, b, 16);
    assert_memory_not_equal(s1, s2, 8);
}

/* A root span's two ids drawn in one call: neither zero, and none the
 * same as the ids drawn before or after them. */
static void test_ids_trace_and_span_together(void **state)
{
    (void)state;
    uint8_t before[8], trace[16], span[8], after[8];
    ts_ids_new_span(before);
    ts_ids_new_trace_and_span(trace, span);
    ts_ids_new_span(after);
    assert_false(ts_id_is_zero(trace, 16));
    assert_false(ts_id_is_zero(span, 8));
    assert_memory_not_equal(trace, trace + 8, 8);
    assert_memory_not_equal(span, before, 8);
    assert_memory_not_equal(span, after, 8);
    assert_memory_not_equal(span, trace, 8);
    assert_memory_not_equal(span, trace + 8, 8);
}

/* A thread's generator seeds itself on its first id (its state starts
 * all zero, which the generator would never leave: ids of zero, forever),
 * and two threads' ids differ. */
static void *ids_of_new_thread(void *arg)
{
    uint8_t *out = arg;
    ts_ids_new_span(out);
    ts_ids_new_trace(out + 8);
    return NULL;
}

static void test_ids_new_thread_seeded(void **state)
{
    uint8_t a[24], b[24];
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, ids_of_new_thread, a), 0);
    pthread_join(t, NULL);
    assert_int_equal(pthread_create(&t, NULL, ids_of_new_thread, b), 0);
    pthread_join(t, NULL);
    assert_false(ts_id_is_zero(a, 8));
    assert_false(ts_id_is_zero(a + 8, 16));
    assert_false(ts_id_is_zero(b, 8));
    assert_memory_not_equal(a, b, 8);
    assert_memory_not_equal(a + 8, b + 8, 16);
    uint8_t mine[8];
    ts_ids_new_span(mine);
    assert_memory_not_equal(mine, a, 8);
}

static void test_ids_differ_after_fork(void **state)
{
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    uint8_t warm[8];
    ts_ids_new_span(warm); /* the parent's generator is seeded and has state */
    pid_t pid = fork();
    if (pid == 0) {
        ts_ids_after_fork();
        uint8_t id[8];
        ts_ids_new_span(id);
        (void)!write(pipefd[1], id, 8);
        _exit(0);
    }
    uint8_t mine[8], child[8];
    ts_ids_new_span(mine);
    assert_int_equal(read(pipefd[0], child, 8), 8);
    waitpid(pid, NULL, 0);
    assert_memory_not_equal(mine, child, 8);
    close(pipefd[0]);
    close(pipefd[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name_and_attrs),
        cmocka_unit_test(test_attrs_overwrite_stale_slots),
        cmocka_unit_test(test_values_of_every_length),
        cmocka_unit_test(test_limits_truncate_never_overflow),
        cmocka_unit_test(test_value_cut_between_characters),
        cmocka_unit_test(test_name_in_place_and_shared_values),
        cmocka_unit_test(test_cursor_builds_what_setters_build),
        cmocka_unit_test(test_ids_nonzero_and_distinct),
        cmocka_unit_test(test_ids_trace_and_span_together),
        cmocka_unit_test(test_ids_differ_after_fork),
        cmocka_unit_test(test_ids_new_thread_seeded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
