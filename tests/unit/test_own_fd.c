/* test_own_fd.c — the shim's own fds against a program that closes or
 * replaces them (reporter/own_fd.h): a number the program takes is given
 * up at once, never closed by the shim and never used again; the program's
 * close waits for a system call the shim has in progress on the number,
 * but never long; a forked child starts with no call in progress; more fds
 * than the registry holds still work (with the fstat check alone). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "preload/clock.h"
#include "preload/real.h"
#include "reporter/own_fd.h"

static int open_null(void)
{
    int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    return fd;
}

static bool fd_open(int fd)
{
    return fcntl(fd, F_GETFD) >= 0;
}

static void test_taken_number_is_given_up_not_closed(void **state)
{
    (void)state;
    struct ts_own_fd o = TS_OWN_FD_NONE;
    assert_int_equal(ts_own_fd_adopt(&o, open_null()), 0);
    int fd = o.fd;
    assert_true(ts_own_fd_valid(&o));
    ts_own_fd_taken((unsigned)fd, (unsigned)fd);
    assert_false(ts_own_fd_valid(&o));
    errno = 0;
    assert_false(ts_own_fd_begin(&o));
    assert_int_equal(errno, EBADF);
    assert_int_equal(o.fd, -1);
    assert_true(fd_open(fd)); /* the number is the program's to close */
    ts_own_fd_close(&o);      /* forgotten: closes nothing */
    assert_true(fd_open(fd));
    close(fd);
}

static void test_range_and_other_numbers(void **state)
{
    (void)state;
    struct ts_own_fd a = TS_OWN_FD_NONE, b = TS_OWN_FD_NONE;
    assert_int_equal(ts_own_fd_adopt(&a, open_null()), 0);
    assert_int_equal(ts_own_fd_adopt(&b, open_null()), 0);
    int lo = a.fd < b.fd ? a.fd : b.fd, hi = a.fd < b.fd ? b.fd : a.fd;
    ts_own_fd_taken((unsigned)hi + 1, ~0U); /* numbers above ours: nothing */
    ts_own_fd_taken(0, (unsigned)lo - 1);
    assert_true(ts_own_fd_valid(&a) && ts_own_fd_valid(&b));
    int fa = a.fd, fb = b.fd;
    ts_own_fd_taken(3, ~0U); /* close_range(3, ~0U, 0) */
    assert_false(ts_own_fd_begin(&a));
    assert_false(ts_own_fd_begin(&b));
    close(fa);
    close(fb);
}

/* The hooks ask ts_own_fd_among about every fd the program closes: the
 * answer is exact for our numbers, for numbers that share their low six
 * bits (the quick filter cannot tell those apart), for ranges across the
 * filter's wrap, and after one of two numbers with the same bits is let go. */
static void test_among_sees_exactly_our_numbers(void **state)
{
    (void)state;
    struct ts_own_fd a = TS_OWN_FD_NONE, twin = TS_OWN_FD_NONE;
    assert_int_equal(ts_own_fd_adopt(&a, open_null()), 0);
    unsigned fa = (unsigned)a.fd;
    assert_true(ts_own_fd_among(fa, fa));
    assert_false(ts_own_fd_among(fa + 1, fa + 1));
    assert_false(ts_own_fd_among(fa + 64, fa + 64)); /* same low bits, not ours */
    assert_false(ts_own_fd_among(fa + 1, fa + 63));  /* every other bit */
    assert_false(ts_own_fd_among(fa + 1, fa + 64));  /* wraps to our bit: the walk says no */
    assert_true(ts_own_fd_among(fa > 5 ? fa - 5 : 0, fa + 5));
    assert_false(ts_own_fd_among(fa + 1, fa)); /* an empty range */

    /* a second number with the same low six bits: fa + 64 (free in this
     * test process, which opens a handful of fds) */
    int null_fd = open_null();
    assert_true(fcntl((int)fa + 64, F_GETFD) < 0);
    int twin_fd = dup2(null_fd, (int)fa + 64);
    close(null_fd);
    assert_int_equal(twin_fd, (int)fa + 64);
    assert_int_equal(ts_own_fd_adopt(&twin, twin_fd), 0);
    assert_true(ts_own_fd_among(fa + 64, fa + 64));
    ts_own_fd_close(&a); /* lets go of fa: its twin keeps the shared bit */
    assert_false(ts_own_fd_among(fa, fa));
    assert_true(ts_own_fd_among(fa + 64, fa + 64));
    ts_own_fd_close(&twin);
    assert_false(ts_own_fd_among(fa + 64, fa + 64));
}

struct taker {
    int fd;
    atomic_bool done;
    uint64_t took_ms;
};

static void *take(void *arg)
{
    struct taker *t = arg;
    uint64_t t0 = ts_mono_ms();
    ts_own_fd_taken((unsigned)t->fd, (unsigned)t->fd);
    t->took_ms = ts_mono_ms() - t0;
    atomic_store(&t->done, true);
    return NULL;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

/* The program's close comes while the shim is in a call on the number: it
 * waits until the call is over, and the shim then lets the number go. */
static void test_close_waits_for_the_call_in_progress(void **state)
{
    (void)state;
    struct ts_own_fd o = TS_OWN_FD_NONE;
    assert_int_equal(ts_own_fd_adopt(&o, open_null()), 0);
    int fd = o.fd;
    assert_true(ts_own_fd_begin(&o));
    struct taker t = {.fd = fd};
    pthread_t th;
    pthread_create(&th, NULL, take, &t);
    sleep_ms(50);
    assert_false(atomic_load(&t.done)); /* still waiting for our call */
    ts_own_fd_end(&o);
    pthread_join(th, NULL);
    assert_true(atomic_load(&t.done));
    assert_false(ts_own_fd_begin(&o));
    close(fd);
}

/* A call that never ends (a hung file system) holds the program's close
 * up for a fraction of a second, not for ever. */
static void test_the_wait_is_bounded(void **state)
{
    (void)state;
    struct ts_own_fd o = TS_OWN_FD_NONE;
    assert_int_equal(ts_own_fd_adopt(&o, open_null()), 0);
    int fd = o.fd;
    assert_true(ts_own_fd_begin(&o));
    struct taker t = {.fd = fd};
    take(&t);
    assert_true(t.took_ms >= 150 && t.took_ms < 1000);
    ts_own_fd_end(&o);
    assert_false(ts_own_fd_begin(&o));
    close(fd);
}

/* fork while the reporter is in a call: the child has no reporter thread,
 * so its program's close must not wait for one. */
static void test_forked_child_has_no_call_in_progress(void **state)
{
    (void)state;
    struct ts_own_fd o = TS_OWN_FD_NONE;
    assert_int_equal(ts_own_fd_adopt(&o, open_null()), 0);
    int fd = o.fd;
    assert_true(ts_own_fd_begin(&o));
    pid_t pid = fork();
    if (pid == 0) {
        ts_own_fd_after_fork();
        struct taker t = {.fd = fd};
        take(&t);
        _exit(t.took_ms < 100 ? 0 : 1);
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    ts_own_fd_end(&o);
    ts_own_fd_close(&o);
    assert_false(fd_open(fd));
}

/* More own fds than the registry has entries: the extra ones work, checked
 * by fstat alone; closing them closes them. */
static void test_more_fds_than_entries(void **state)
{
    (void)state;
    enum { N = 24 };
    struct ts_own_fd o[N];
    for (int i = 0; i < N; i++) {
        o[i] = (struct ts_own_fd)TS_OWN_FD_NONE;
        assert_int_equal(ts_own_fd_adopt(&o[i], open_null()), 0);
        assert_true(ts_own_fd_begin(&o[i]));
        ts_own_fd_end(&o[i]);
    }
    for (int i = 0; i < N; i++) {
        int fd = o[i].fd;
        ts_own_fd_close(&o[i]);
        assert_false(fd_open(fd));
    }
    /* every entry is free again */
    struct ts_own_fd again = TS_OWN_FD_NONE;
    assert_int_equal(ts_own_fd_adopt(&again, open_null()), 0);
    assert_true(again.slot > 0);
    ts_own_fd_close(&again);
}

int main(void)
{
    ts_real_resolve();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_taken_number_is_given_up_not_closed),
        cmocka_unit_test(test_range_and_other_numbers),
        cmocka_unit_test(test_among_sees_exactly_our_numbers),
        cmocka_unit_test(test_close_waits_for_the_call_in_progress),
        cmocka_unit_test(test_the_wait_is_bounded),
        cmocka_unit_test(test_forked_child_has_no_call_in_progress),
        cmocka_unit_test(test_more_fds_than_entries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
