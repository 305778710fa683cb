/* test_fdtable.c — the fd table: tracking, reference counts, reuse. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "preload/fdtable.h"

struct obj {
    struct ts_fd_ref ref;
    int destroyed;
};

static void obj_destroy(struct ts_fd_ref *r)
{
    ((struct obj *)r)->destroyed++;
}

static void obj_init(struct obj *o)
{
    atomic_init(&o->ref.refs, 1);
    o->ref.destroy = obj_destroy;
    o->destroyed = 0;
}

static void test_untracked_by_default(void **state)
{
    assert_false(ts_fd_tracked(3));
    assert_false(ts_fd_tracked(-1));
    assert_false(ts_fd_tracked(TS_FD_MAX));
    assert_null(ts_fd_acquire(3));
    assert_null(ts_fd_acquire(-5));
}

/* fd numbers above 65535, up to the table's last slot, are tracked like
 * any other; the first number past it is refused (install hands the
 * object back: the caller keeps it untracked). */
static void test_high_fd_numbers(void **state)
{
    static const int fds[] = {65535, 65536, 70000, TS_FD_MAX - 1};
    struct obj o[4];
    for (int i = 0; i < 4; i++) {
        obj_init(&o[i]);
        assert_null(ts_fd_install(fds[i], &o[i].ref));
        assert_true(ts_fd_tracked(fds[i]));
        assert_true(ts_fd_high_water() > fds[i]);
        struct ts_fd_ref *r = ts_fd_acquire(fds[i]);
        assert_ptr_equal(r, &o[i].ref);
        ts_fd_put(r);
    }
    for (int i = 0; i < 4; i++) {
        struct ts_fd_ref *old = ts_fd_remove(fds[i]);
        assert_ptr_equal(old, &o[i].ref);
        ts_fd_put(old);
        assert_int_equal(o[i].destroyed, 1);
    }
    struct obj past;
    obj_init(&past);
    assert_ptr_equal(ts_fd_install(TS_FD_MAX, &past.ref), &past.ref);
    assert_false(ts_fd_tracked(TS_FD_MAX));
}

static void test_install_acquire_remove(void **state)
{
    struct obj o;
    obj_init(&o);
    assert_null(ts_fd_install(7, &o.ref));
    assert_true(ts_fd_tracked(7));
    assert_true(ts_fd_high_water() >= 8);
    struct ts_fd_ref *r = ts_fd_acquire(7);
    assert_ptr_equal(r, &o.ref);
    assert_int_equal(atomic_load(&o.ref.refs), 2);

    /* removed while in use: destroyed only when the user lets go */
    struct ts_fd_ref *old = ts_fd_remove(7);
    assert_ptr_equal(old, &o.ref);
    ts_fd_put(old);
    assert_false(ts_fd_tracked(7));
    assert_int_equal(o.destroyed, 0);
    ts_fd_put(r);
    assert_int_equal(o.destroyed, 1);
    assert_null(ts_fd_acquire(7));
}

static void test_replace_returns_previous(void **state)
{
    struct obj a, b;
    obj_init(&a);
    obj_init(&b);
    assert_null(ts_fd_install(9, &a.ref));
    struct ts_fd_ref *prev = ts_fd_install(9, &b.ref);
    assert_ptr_equal(prev, &a.ref);
    ts_fd_put(prev);
    assert_int_equal(a.destroyed, 1);
    struct ts_fd_ref *r = ts_fd_acquire(9);
    assert_ptr_equal(r, &b.ref);
    ts_fd_put(r);
    ts_fd_put(ts_fd_remove(9));
    assert_int_equal(b.destroyed, 1);
}

static void test_shared_between_two_fds(void **state)
{
    struct obj o;
    obj_init(&o);
    ts_fd_install(11, &o.ref);
    ts_fd_retain(&o.ref);
    ts_fd_install(12, &o.ref); /* a dup: two slots, two references */
    ts_fd_put(ts_fd_remove(11));
    assert_int_equal(o.destroyed, 0);
    assert_true(ts_fd_tracked(12));
    ts_fd_put(ts_fd_remove(12));
    assert_int_equal(o.destroyed, 1);
}

static void test_out_of_range_not_tracked(void **state)
{
    struct obj o;
    obj_init(&o);
    assert_ptr_equal(ts_fd_install(TS_FD_MAX + 3, &o.ref), &o.ref);
    assert_false(ts_fd_tracked(TS_FD_MAX + 3));
    assert_null(ts_fd_remove(TS_FD_MAX + 3));
}

/* Many threads acquire and release while another replaces the object:
 * every object is destroyed exactly once, never while held. */
#define ROUNDS 20000
static struct obj pool[ROUNDS + 1];
static atomic_int stop;

static void *hammer(void *arg)
{
    while (!atomic_load(&stop)) {
        struct ts_fd_ref *r = ts_fd_acquire(20);
        if (r) {
            assert_int_equal(((struct obj *)r)->destroyed, 0);
            ts_fd_put(r);
        }
    }
    return NULL;
}

static void test_concurrent_replace(void **state)
{
    pthread_t t[3];
    obj_init(&pool[0]);
    ts_fd_install(20, &pool[0].ref);
    for (int i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, hammer, NULL);
    for (int i = 1; i <= ROUNDS; i++) {
        obj_init(&pool[i]);
        struct ts_fd_ref *old = ts_fd_install(20, &pool[i].ref);
        ts_fd_put(old);
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    ts_fd_put(ts_fd_remove(20));
    for (int i = 0; i <= ROUNDS; i++)
        assert_int_equal(pool[i].destroyed, 1);
}

/* A signal handler that interrupted the shim empties slots without ever
 * running destroy (which takes locks): the last reference is kept, any
 * other is dropped. */
static void test_put_unless_last(void **state)
{
    (void)state;
    struct obj o;
    obj_init(&o);
    ts_fd_retain(&o.ref); /* two references */
    assert_true(ts_fd_put_unless_last(&o.ref));
    assert_int_equal(atomic_load(&o.ref.refs), 1);
    assert_false(ts_fd_put_unless_last(&o.ref)); /* the last: kept, not destroyed */
    assert_int_equal(atomic_load(&o.ref.refs), 1);
    assert_int_equal(o.destroyed, 0);
    ts_fd_put(&o.ref);
    assert_int_equal(o.destroyed, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_untracked_by_default),
        cmocka_unit_test(test_install_acquire_remove),
        cmocka_unit_test(test_high_fd_numbers),
        cmocka_unit_test(test_replace_returns_previous),
        cmocka_unit_test(test_shared_between_two_fds),
        cmocka_unit_test(test_out_of_range_not_tracked),
        cmocka_unit_test(test_concurrent_replace),
        cmocka_unit_test(test_put_unless_last),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
