/* test_tls_out.c — a program write on a TLS session across retries and
 * partial counts (hooks/tls_out.h), against a scripted TLS library: the
 * library sees exactly the program's bytes plus the inserted lines, a
 * retry after "call again" gets the very same buffer and length, partial
 * counts are turned into counts of the program's own bytes, never more
 * than a call asked for, and a write that is not rewritten goes from the
 * program's own buffer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "hooks/tls_out.h"

#define AGAIN (-1)

/* The library: takes[i] is what its i-th call takes (AGAIN: asks to be
 * called again); what it took is appended to wire, and each call's buffer
 * and length are recorded. */
struct lib {
    long takes[16];
    int calls;
    char wire[256];
    size_t wire_len;
    const void *bufs[16];
    size_t lens[16];
};

static long lib_write(void *ctx, const void *buf, size_t len)
{
    struct lib *l = ctx;
    int i = l->calls++;
    assert_true(i < 16);
    l->bufs[i] = buf;
    l->lens[i] = len;
    long t = l->takes[i];
    if (t <= 0)
        return t;
    if (!buf && len == 0) /* GnuTLS: go on with the call that asked for it */
        return t;
    if ((size_t)t > len)
        t = (long)len;
    memcpy(l->wire + l->wire_len, buf, (size_t)t);
    l->wire_len += (size_t)t;
    return t;
}

static const char APP[] = "GET / HTTP/1.1\r\n\r\n"; /* 18 bytes */
static const char INS[] = "X: 1\r\n";               /* 6 bytes, inserted at 16 */
static const char EXPECT[] = "GET / HTTP/1.1\r\nX: 1\r\n\r\n";

/* Collect APP with INS inserted before its blank line, as conn_send.c
 * hands it over: the program's bytes, the lines, the program's rest. */
static void collect_rewritten(struct tls_out *o)
{
    memset(o, 0, sizeof *o);
    tls_out_collect(o, APP, 18);
    struct iovec v[3] = {{(void *)APP, 16}, {(void *)INS, 6}, {(void *)(APP + 16), 2}};
    assert_int_equal(tls_out_sink(o, v, 3, 16, 6), 24);
    tls_out_ready(o, 18);
    assert_true(o->rewritten);
}

/* The write is done: the library took exactly EXPECT, and the write is
 * no longer under way. */
static void assert_all_out(const struct tls_out *o, const struct lib *l)
{
    assert_int_equal(l->wire_len, 24);
    assert_memory_equal(l->wire, EXPECT, 24);
    assert_false(o->active);
}

static void test_identity_write_uses_the_programs_buffer(void **state)
{
    (void)state;
    struct tls_out o;
    memset(&o, 0, sizeof o);
    tls_out_collect(&o, APP, 18);
    struct iovec v = {(void *)APP, 18};
    assert_int_equal(tls_out_sink(&o, &v, 1, 0, 0), 18);
    tls_out_ready(&o, 18);
    assert_false(o.rewritten);
    assert_null(o.buf);
    struct lib l = {.takes = {18}};
    assert_int_equal(tls_out_send(&o, APP, 18, lib_write, &l), 18);
    assert_ptr_equal(l.bufs[0], APP);
    assert_false(o.active);
}

static void test_retry_gets_the_same_buffer_and_length(void **state)
{
    (void)state;
    struct tls_out o;
    collect_rewritten(&o);
    struct lib l = {.takes = {AGAIN, AGAIN, 100}};
    assert_int_equal(tls_out_send(&o, APP, 18, lib_write, &l), AGAIN);
    assert_true(o.active);
    assert_int_equal(tls_out_send(&o, APP, 18, lib_write, &l), AGAIN);
    assert_int_equal(tls_out_send(&o, APP, 18, lib_write, &l), 18);
    assert_int_equal(l.calls, 3);
    for (int i = 1; i < 3; i++) {
        assert_ptr_equal(l.bufs[i], l.bufs[0]);
        assert_int_equal(l.lens[i], 24);
    }
    assert_all_out(&o, &l);
    assert_null(o.buf);
}

static void test_partial_counts_are_the_programs_bytes(void **state)
{
    (void)state;
    struct tls_out o;
    collect_rewritten(&o);
    /* 5 of the program's; a cut inside the lines (wire 19: program 16);
     * then the lines' rest and one byte; then the rest */
    struct lib l = {.takes = {5, 14, 4, 100}};
    assert_int_equal(tls_out_send(&o, APP, 18, lib_write, &l), 5);
    assert_int_equal(tls_out_send(&o, APP + 5, 13, lib_write, &l), 11);
    assert_int_equal(tls_out_send(&o, APP + 16, 2, lib_write, &l), 1);
    assert_int_equal(tls_out_send(&o, APP + 17, 1, lib_write, &l), 1);
    assert_all_out(&o, &l);
}

static void test_only_inserted_bytes_taken_calls_again(void **state)
{
    (void)state;
    struct tls_out o;
    collect_rewritten(&o);
    /* 16 program bytes; then only 3 of the lines: never a count of 0 */
    struct lib l = {.takes = {16, 3, AGAIN, 100}};
    assert_int_equal(tls_out_send(&o, APP, 18, lib_write, &l), 16);
    assert_int_equal(tls_out_send(&o, APP + 16, 2, lib_write, &l), AGAIN);
    assert_int_equal(l.calls, 3);
    assert_ptr_equal(l.bufs[2], (const char *)l.bufs[0] + 19); /* the retry: same place */
    assert_int_equal(l.lens[2], 5);
    assert_int_equal(tls_out_send(&o, APP + 16, 2, lib_write, &l), 2);
    assert_memory_equal(l.wire, EXPECT, 24);
}

static void test_smaller_pieces_never_count_more_than_asked(void **state)
{
    (void)state;
    struct tls_out o;
    collect_rewritten(&o);
    /* a partial count, then the program goes on 3 bytes at a time: each
     * call offers the wire bytes of its 3 (the lines with the byte after
     * them), however much the library would take */
    struct lib l = {.takes = {5, 100, 100, 100, 100, 100}};
    assert_int_equal(tls_out_send(&o, APP, 18, lib_write, &l), 5);
    size_t told = 5;
    static const size_t offered[] = {3, 3, 3, 9, 1};
    for (int i = 0; told < 18; i++) {
        size_t ask = 18 - told < 3 ? 18 - told : 3;
        long r = tls_out_send(&o, APP + told, ask, lib_write, &l);
        assert_true(r > 0 && (size_t)r <= ask);
        assert_int_equal(l.lens[i + 1], offered[i]);
        told += (size_t)r;
    }
    assert_int_equal(l.calls, 6);
    assert_all_out(&o, &l);
}

static void test_empty_retry_repeats_the_call_that_asked(void **state)
{
    (void)state;
    struct tls_out o;
    collect_rewritten(&o);
    struct lib l = {.takes = {5, AGAIN, 100, 100}};
    assert_int_equal(tls_out_send(&o, APP, 18, lib_write, &l), 5);
    assert_false(tls_out_retry_due(&o));
    assert_int_equal(tls_out_send(&o, APP + 5, 4, lib_write, &l), AGAIN);
    assert_true(tls_out_retry_due(&o));
    /* GnuTLS's NULL, 0: the same buffer and length as the call it repeats,
     * and a count of that call's bytes */
    assert_int_equal(tls_out_send(&o, NULL, 0, lib_write, &l), 4);
    assert_ptr_equal(l.bufs[2], l.bufs[1]);
    assert_int_equal(l.lens[2], 4);
    assert_false(tls_out_retry_due(&o));
    assert_int_equal(tls_out_send(&o, APP + 9, 9, lib_write, &l), 9);
    assert_all_out(&o, &l);
}

static void test_identity_retry_null_zero(void **state)
{
    (void)state;
    struct tls_out o;
    memset(&o, 0, sizeof o);
    tls_out_collect(&o, APP, 18);
    assert_int_equal(tls_out_pass(&o), 18);
    tls_out_ready(&o, 18);
    struct lib l = {.takes = {AGAIN, 10, 8}};
    assert_int_equal(tls_out_send(&o, APP, 18, lib_write, &l), AGAIN);
    /* GnuTLS's retry may pass NULL, 0: it goes as it is */
    assert_int_equal(tls_out_send(&o, NULL, 0, lib_write, &l), 10);
    assert_null(l.bufs[1]);
    assert_int_equal(l.lens[1], 0);
    /* the rest from where the program now points, never past the write */
    assert_int_equal(tls_out_send(&o, APP + 10, 100, lib_write, &l), 8);
    assert_ptr_equal(l.bufs[2], APP + 10);
    assert_int_equal(l.lens[2], 8);
    assert_false(o.active);
}

static void test_prog_at_with_two_blocks(void **state)
{
    (void)state;
    struct tls_out o;
    memset(&o, 0, sizeof o);
    o.rewritten = true;
    o.nins = 2;
    o.ins[0].at = 10, o.ins[0].len = 5; /* wire 10..15 */
    o.ins[1].at = 30, o.ins[1].len = 4; /* wire 30..34 */
    assert_int_equal(tls_out_prog_at(&o, 10), 10);
    assert_int_equal(tls_out_prog_at(&o, 12), 10);
    assert_int_equal(tls_out_prog_at(&o, 15), 10);
    assert_int_equal(tls_out_prog_at(&o, 16), 11);
    assert_int_equal(tls_out_prog_at(&o, 30), 25);
    assert_int_equal(tls_out_prog_at(&o, 33), 25);
    assert_int_equal(tls_out_prog_at(&o, 40), 31);
}

static void test_sink_stops_before_a_block_it_cannot_remember(void **state)
{
    (void)state;
    struct tls_out o;
    memset(&o, 0, sizeof o);
    tls_out_collect(&o, APP, 18);
    o.nins = TLS_OUT_MAX_INS;
    struct iovec v[3] = {{(void *)APP, 16}, {(void *)INS, 6}, {(void *)(APP + 16), 2}};
    assert_int_equal(tls_out_sink(&o, v, 3, 16, 6), 16); /* a prefix, as a socket takes */
    assert_false(o.rewritten);
    tls_out_drop(&o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity_write_uses_the_programs_buffer),
        cmocka_unit_test(test_retry_gets_the_same_buffer_and_length),
        cmocka_unit_test(test_partial_counts_are_the_programs_bytes),
        cmocka_unit_test(test_only_inserted_bytes_taken_calls_again),
        cmocka_unit_test(test_smaller_pieces_never_count_more_than_asked),
        cmocka_unit_test(test_empty_retry_repeats_the_call_that_asked),
        cmocka_unit_test(test_identity_retry_null_zero),
        cmocka_unit_test(test_prog_at_with_two_blocks),
        cmocka_unit_test(test_sink_stops_before_a_block_it_cannot_remember),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
