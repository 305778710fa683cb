/* test_loaded_objects.c — which loaded object holds an address
 * (preload/loaded_objects.c), checked against dladdr, and whether the
 * module itself holds one (ts_self_holds, preload/self_image.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "preload/loaded_objects.h"
#include "preload/self_image.h"

static int in_this_program; /* data of the test program itself */

/* A function by name, where it is defined (a program built without PIE
 * would give its own PLT entry for &getpid). getpid, getppid and
 * gnu_get_libc_version: functions no sanitizer intercepts, glibc's in
 * every build of this test. */
static const void *fn(const char *name)
{
    void *p = dlsym(RTLD_DEFAULT, name);
    assert_non_null(p);
    return p;
}

static ts_object_id object_of(const void *p)
{
    ts_object_id id;
    ts_objects_of(&p, &id, 1);
    return id;
}

/* dladdr's answer, the slow way the module replaces. */
static uintptr_t dladdr_base(const void *p)
{
    Dl_info info;
    return dladdr(p, &info) ? (uintptr_t)info.dli_fbase : 0;
}

static void test_objects_are_dladdrs(void **state)
{
    (void)state;
    const void *addrs[] = {
        fn("getpid"),                           /* glibc */
        fn("gnu_get_libc_version"),             /* glibc again */
        (const void *)test_objects_are_dladdrs, /* this program's code */
        &in_this_program,                       /* this program's data */
        fn("_cmocka_run_group_tests"),          /* libcmocka */
    };
    enum { N = sizeof addrs / sizeof addrs[0] };
    ts_object_id ids[N];
    memset(ids, 0xa5, sizeof ids); /* every one written */
    ts_objects_of(addrs, ids, N);
    for (size_t i = 0; i < N; i++) {
        assert_true(ids[i] != 0);
        assert_true(ids[i] == dladdr_base(addrs[i]));
    }
    assert_true(ids[0] == ids[1]);
    assert_true(ids[2] == ids[3]);
    assert_true(ids[0] != ids[2]);
    assert_true(ids[0] != ids[4]);
    assert_true(ids[2] != ids[4]);
}

static void test_no_object_holds_the_stack_or_null(void **state)
{
    (void)state;
    int on_stack = 0;
    void *on_heap = malloc(64);
    assert_non_null(on_heap);
    assert_true(object_of(&on_stack) == 0);
    assert_true(object_of(NULL) == 0);
    assert_true(object_of(on_heap) == 0);
    free(on_heap);
    ts_objects_of(NULL, NULL, 0); /* nothing asked: nothing touched */
}

static void test_object_holds_all(void **state)
{
    (void)state;
    const void *libc = fn("gnu_get_libc_version");
    /* More than one walk's batch (32), glibc's all along, ... */
    const void *many[70];
    for (size_t i = 0; i < 70; i++)
        many[i] = fn(i % 2 ? "getpid" : "getppid");
    assert_true(ts_object_holds_all(libc, many, 70));
    /* ... and with one stranger in the last batch, in the first. */
    many[69] = (const void *)test_object_holds_all;
    assert_false(ts_object_holds_all(libc, many, 70));
    many[69] = fn("getpid");
    many[0] = fn("_cmocka_run_group_tests");
    assert_false(ts_object_holds_all(libc, many, 70));
    assert_false(ts_object_holds_all(libc, many, 1));
    /* Exactly one batch, and none. */
    assert_true(ts_object_holds_all(libc, many + 1, 32));
    assert_true(ts_object_holds_all(libc, NULL, 0));
    /* NULL is in no object, and a home in none holds nothing. */
    const void *null_fn[] = {NULL};
    assert_false(ts_object_holds_all(libc, null_fn, 1));
    int on_stack;
    assert_false(ts_object_holds_all(&on_stack, many + 1, 1));
    assert_false(ts_object_holds_all(&on_stack, NULL, 0));
}

static void test_self_holds(void **state)
{
    (void)state;
    int on_stack = 0;
    assert_true(ts_self_holds((const void *)test_self_holds));
    assert_true(ts_self_holds("a literal of this test"));
    assert_true(ts_self_holds(&in_this_program));
    assert_false(ts_self_holds(fn("getpid")));
    assert_false(ts_self_holds(fn("_cmocka_run_group_tests")));
    assert_false(ts_self_holds(&on_stack));
    assert_false(ts_self_holds(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_objects_are_dladdrs),
        cmocka_unit_test(test_no_object_holds_the_stack_or_null),
        cmocka_unit_test(test_object_holds_all),
        cmocka_unit_test(test_self_holds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
