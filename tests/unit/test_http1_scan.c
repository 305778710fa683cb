/* test_http1_scan.c — the head parsers' bulk scans (hooks/http1_scan.h)
 * against a byte-by-byte reference: every byte value at every position of
 * runs of every length up to three SSE2 blocks, in exact-size heap copies
 * so that ASan sees any read past the end. Both the word (SWAR) scans and,
 * where the compiler has SSE2, the sixteen-byte ones and the fast header
 * line's block masks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hooks/http1_scan.h"

enum { MAX_RUN = 49 };

/* A scan stops at the run's first failing byte when a whole block (of
 * eight bytes: the SSE2 scans finish with a word) holds it, and otherwise
 * where fewer than eight bytes are left, for the caller's byte loop. */
static void check_stop(const char *buf, size_t len, const char *stop,
                       bool (*pass)(unsigned char, unsigned char), unsigned char least,
                       const char *what, int b, size_t at)
{
    size_t first = 0;
    while (first < len && pass((unsigned char)buf[first], least))
        first++;
    size_t blocks = len - len % 8;
    size_t want = first < blocks ? first : blocks;
    if (stop != buf + want)
        fail_msg("%s: stopped at %td, not %zu (len %zu, byte %#x at %zu)", what, stop - buf, want,
                 len, b, at);
}

/* The tests the scans make, a byte at a time (least is the plain scans'). */
static bool name_pass(unsigned char c, unsigned char least)
{
    (void)least;
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

static bool plain_pass(unsigned char c, unsigned char least)
{
    return c >= least && c != 0x7f;
}

/* Every scan over buf[0..len) (a heap copy of exactly len bytes). */
static void scan_all(const char *buf, size_t len, int b, size_t at)
{
    const char *end = buf + len;
    check_stop(buf, len, ts_http_scan_name_swar(buf, end), name_pass, 0, "name swar", b, at);
    check_stop(buf, len, ts_http_scan_plain_swar(buf, end, 0x20), plain_pass, 0x20, "value swar", b,
               at);
    check_stop(buf, len, ts_http_scan_plain_swar(buf, end, 0x21), plain_pass, 0x21, "target swar",
               b, at);
#ifdef __SSE2__
    check_stop(buf, len, ts_http_scan_name_sse2(buf, end), name_pass, 0, "name sse2", b, at);
    check_stop(buf, len, ts_http_scan_plain_sse2(buf, end, 0x20), plain_pass, 0x20, "value sse2", b,
               at);
    check_stop(buf, len, ts_http_scan_plain_sse2(buf, end, 0x21), plain_pass, 0x21, "target sse2",
               b, at);
#endif
}

/* Runs of one passing byte with one byte of every value put at every
 * position; the fills are a letter, a digit, '-', a space and obs-text, so
 * each scan sees runs it passes whole and runs it stops in at once. */
static void test_every_byte_every_position(void **state)
{
    static const unsigned char fills[] = {'x', 'Q', '7', '-', ' ', 0x80, 0xff, '~'};
    for (size_t f = 0; f < sizeof fills; f++) {
        for (size_t len = 0; len <= MAX_RUN; len++) {
            char *buf = malloc(len ? len : 1);
            assert_non_null(buf);
            memset(buf, fills[f], len);
            scan_all(buf, len, -1, 0);
            for (size_t at = 0; at < len; at++) {
                for (int b = 0; b < 256; b++) {
                    memset(buf, fills[f], len);
                    buf[at] = (char)b;
                    scan_all(buf, len, b, at);
                }
            }
            free(buf);
        }
    }
}

/* Two failing bytes in one block: the first is the one found (a borrow
 * from the first may flag the bytes after it in a word, never before). */
static void test_first_of_two(void **state)
{
    static const unsigned char bad[] = {0x00, 0x09, 0x0d, 0x0a, 0x1f, 0x20, 0x7f, ':'};
    enum { LEN = 32 };
    char *buf = malloc(LEN);
    assert_non_null(buf);
    for (size_t i = 0; i < sizeof bad; i++) {
        for (size_t j = 0; j < sizeof bad; j++) {
            for (size_t a = 0; a < LEN; a++) {
                for (size_t d = 1; a + d < LEN && d < 17; d++) {
                    memset(buf, 'a', LEN);
                    buf[a] = (char)bad[i];
                    buf[a + d] = (char)bad[j];
                    scan_all(buf, LEN, bad[i], a);
                }
            }
        }
    }
    free(buf);
}

#ifdef __SSE2__
/* The fast paths' block masks (ts_http_name_stops, ts_http_value_stops,
 * ts_http_target_stops): every byte value at every position of a block of
 * each fill, each bit against the byte-by-byte test. */
static void test_stop_masks(void **state)
{
    (void)state;
    static const unsigned char fills[] = {'x', 'Q', '7', '-', ' ', '\t', 0x80, 0xff};
    char block[16];
    for (size_t f = 0; f < sizeof fills; f++) {
        for (size_t at = 0; at < 16; at++) {
            for (int b = 0; b < 256; b++) {
                memset(block, fills[f], sizeof block);
                block[at] = (char)b;
                unsigned name = ts_http_name_stops(block), value = ts_http_value_stops(block),
                         target = ts_http_target_stops(block);
                for (unsigned i = 0; i < 16; i++) {
                    unsigned char c = (unsigned char)block[i];
                    bool name_stop = !name_pass(c, 0);
                    bool value_stop = c < 0x20 || c >= 0x7f; /* tab and obs-text too */
                    bool target_stop = c <= 0x20 || c >= 0x7f;
                    if (((name >> i) & 1) != name_stop || ((value >> i) & 1) != value_stop ||
                        ((target >> i) & 1) != target_stop)
                        fail_msg("byte %#x at %u (fill %#x): name %d value %d target %d", c, i,
                                 fills[f], (name >> i) & 1, (value >> i) & 1, (target >> i) & 1);
                }
                assert_int_equal(name >> 16, 0);
                assert_int_equal(value >> 16, 0);
                assert_int_equal(target >> 16, 0);
            }
        }
    }
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_byte_every_position),
        cmocka_unit_test(test_first_of_two),
#ifdef __SSE2__
        cmocka_unit_test(test_stop_masks),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
