/* test_own_fd.c — the shim's own fds against a program that closes or
 * replaces them (reporter/own_fd.h): a number the program takes is given
 * up at once, never closed by the shim and never used again; the program's
 * close waits for a system call the shim has in progress on the number,
 * but never long; a forked child starts with no call in progress; more fds
 * than the registry holds still work (with the fstat check alone); a copy
 * is the same file, in the calling thread's table, or none; entries
 * changed on two threads at once keep the hooks' filter right. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "preload/clock.h"
#include "preload/fd_split.h"
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

/* The program's close of o's number, made on a thread of its own while
 * the shim's call on it is under way, still waits 50 ms later, and ends
 * once ts_own_fd_end(o) ends that call. Returns how long it took (ms). */
static uint64_t close_waits_for_the_end(struct ts_own_fd *o)
{
    struct taker t = {.fd = o->fd};
    pthread_t th;
    pthread_create(&th, NULL, take, &t);
    sleep_ms(50);
    assert_false(atomic_load(&t.done)); /* still waiting for the call */
    ts_own_fd_end(o);
    pthread_join(th, NULL);
    assert_true(atomic_load(&t.done));
    return t.took_ms;
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
    (void)close_waits_for_the_end(&o);
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

/* Two calls on one number at once (the exporter's copy of the kept span
 * file while a program's thread gives it away): the program's close waits
 * for both, not only for the first to end. */
static void test_close_waits_for_every_call_in_progress(void **state)
{
    (void)state;
    struct ts_own_fd o = TS_OWN_FD_NONE;
    assert_int_equal(ts_own_fd_adopt(&o, open_null()), 0);
    struct ts_own_fd other_user = o; /* the same entry, as a second caller sees it */
    int fd = o.fd;
    assert_true(ts_own_fd_begin(&o));
    assert_true(ts_own_fd_begin(&other_user));
    ts_own_fd_end(&other_user);
    /* the first call is still under way */
    assert_true(close_waits_for_the_end(&o) < 150);
    close(fd);
    ts_own_fd_forget(&o);
}

/* A child forked in the middle of a call (from a signal handler) that then
 * ends it: the count stays at zero, and the child's next call is waited
 * for as any other. */
static void test_a_call_ended_after_the_fork_reset(void **state)
{
    (void)state;
    struct ts_own_fd o = TS_OWN_FD_NONE;
    assert_int_equal(ts_own_fd_adopt(&o, open_null()), 0);
    int fd = o.fd;
    assert_true(ts_own_fd_begin(&o));
    ts_own_fd_after_fork(); /* as in the child */
    ts_own_fd_end(&o);
    assert_true(ts_own_fd_begin(&o));
    (void)close_waits_for_the_end(&o);
    close(fd);
    ts_own_fd_forget(&o);
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

static int open_temp(char *path)
{
    strcpy(path, "/tmp/ts-own-fd-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    return fd;
}

static void assert_same_file(int a, int b)
{
    struct stat sa, sb;
    assert_int_equal(fstat(a, &sa), 0);
    assert_int_equal(fstat(b, &sb), 0);
    assert_true(sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino);
}

/* A copy (the span file kept before a program gives its access up,
 * file_exporter.h ts_file_export_keep): a new number above stderr, close
 * on exec, the same open file; the original stays as it was, registered. */
static void test_copy_is_the_same_file(void **state)
{
    (void)state;
    char path[32];
    struct ts_own_fd o = TS_OWN_FD_NONE;
    assert_int_equal(ts_own_fd_adopt(&o, open_temp(path)), 0);
    unlink(path);
    int copy = ts_own_fd_copy(&o);
    assert_true(copy > STDERR_FILENO && copy != o.fd);
    assert_true(fcntl(copy, F_GETFD) & FD_CLOEXEC);
    assert_same_file(copy, o.fd);
    assert_int_equal(write(copy, "x", 1), 1);
    assert_int_equal(lseek(o.fd, 0, SEEK_CUR), 1); /* one file description */
    close(copy);
    assert_true(ts_own_fd_valid(&o));
    assert_true(ts_own_fd_among((unsigned)o.fd, (unsigned)o.fd));
    ts_own_fd_close(&o);
}

/* A number the program took is copied no more, and the original is not
 * forgotten by the copy (its owner finds out at its own next use). */
static void test_copy_refuses_a_taken_number(void **state)
{
    (void)state;
    struct ts_own_fd o = TS_OWN_FD_NONE;
    assert_int_equal(ts_own_fd_adopt(&o, open_null()), 0);
    int fd = o.fd;
    ts_own_fd_taken((unsigned)fd, (unsigned)fd);
    errno = 0;
    assert_int_equal(ts_own_fd_copy(&o), -1);
    assert_int_equal(errno, EBADF);
    assert_int_equal(o.fd, fd);
    assert_false(ts_own_fd_begin(&o));
    close(fd);
}

/* A number replaced behind the hooks' back (a raw dup2): the copy would be
 * someone else's file, so there is none, and nothing is left open. */
static void test_copy_refuses_a_replaced_number(void **state)
{
    (void)state;
    char path[32];
    struct ts_own_fd o = TS_OWN_FD_NONE;
    assert_int_equal(ts_own_fd_adopt(&o, open_temp(path)), 0);
    unlink(path);
    int other = open_null();
    assert_int_equal(syscall(SYS_dup2, other, o.fd), o.fd);
    int probe = open_null(); /* the lowest free number before the copy */
    close(probe);
    errno = 0;
    assert_int_equal(ts_own_fd_copy(&o), -1);
    assert_int_equal(errno, EBADF);
    int after = open_null();
    assert_int_equal(after, probe); /* the refused copy was closed */
    close(after);
    close(other);
    close(o.fd);
    ts_own_fd_forget(&o);
}

struct split_copy {
    const struct ts_own_fd *o;
    bool split;
    int copy;
    struct stat st;
};

static void *copy_in_own_table(void *arg)
{
    struct split_copy *c = arg;
    c->split = ts_fd_split();
    c->copy = ts_own_fd_copy(c->o);
    if (c->copy >= 0 && fstat(c->copy, &c->st) != 0)
        c->copy = -2;
    return NULL;
}

/* On a thread with an fd table of its own the copy is taken from the
 * program's table (pidfd_getfd): the same file, under a number of the
 * thread's table. */
static void test_copy_into_a_thread_of_its_own_table(void **state)
{
    (void)state;
    char path[32];
    struct ts_own_fd o = TS_OWN_FD_NONE;
    assert_int_equal(ts_own_fd_adopt(&o, open_temp(path)), 0);
    unlink(path);
    struct split_copy c = {.o = &o};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, copy_in_own_table, &c), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    if (!c.split) {
        ts_own_fd_close(&o);
        skip(); /* no close_range unshare or pidfd_getfd here */
    }
    assert_true(c.copy >= 0);
    struct stat st;
    assert_int_equal(fstat(o.fd, &st), 0);
    assert_true(st.st_dev == c.st.st_dev && st.st_ino == c.st.st_ino);
    ts_own_fd_close(&o);
}

/* Entries taken and let go on two threads at once (the reporter's
 * exporters and a program's thread keeping the span file): the filter the
 * hooks read never loses the bit of a number an entry holds. */
struct churn {
    atomic_bool stop;
    atomic_int lost;
};

static void *churn_entries(void *arg)
{
    struct churn *c = arg;
    while (!atomic_load(&c->stop)) {
        struct ts_own_fd o = TS_OWN_FD_NONE;
        if (ts_own_fd_adopt(&o, open("/dev/null", O_WRONLY | O_CLOEXEC)) != 0)
            continue;
        if (!ts_own_fd_among((unsigned)o.fd, (unsigned)o.fd))
            atomic_fetch_add(&c->lost, 1);
        ts_own_fd_close(&o);
    }
    return NULL;
}

static void test_entries_changed_on_two_threads(void **state)
{
    (void)state;
    struct churn c = {false, 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, churn_entries, &c), 0);
    uint64_t end = ts_mono_ms() + 300;
    int lost = 0;
    while (ts_mono_ms() < end) {
        struct ts_own_fd o = TS_OWN_FD_NONE;
        assert_int_equal(ts_own_fd_adopt(&o, open_null()), 0);
        for (int i = 0; i < 8; i++)
            lost += !ts_own_fd_among((unsigned)o.fd, (unsigned)o.fd);
        ts_own_fd_close(&o);
    }
    atomic_store(&c.stop, true);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(lost + atomic_load(&c.lost), 0);
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
        cmocka_unit_test(test_close_waits_for_every_call_in_progress),
        cmocka_unit_test(test_a_call_ended_after_the_fork_reset),
        cmocka_unit_test(test_more_fds_than_entries),
        cmocka_unit_test(test_copy_is_the_same_file),
        cmocka_unit_test(test_copy_refuses_a_taken_number),
        cmocka_unit_test(test_copy_refuses_a_replaced_number),
        cmocka_unit_test(test_copy_into_a_thread_of_its_own_table),
        cmocka_unit_test(test_entries_changed_on_two_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
