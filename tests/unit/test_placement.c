/* test_placement.c — where the reporter thread runs (reporter/placement.h),
 * on this process's own thread, each scenario in a child of its own: the
 * thread leaves out the processor that rang TS_PLACEMENT_STEADY wake-ups
 * in a row, moves when another one does, runs anywhere again when
 * released; never on a processor outside the set it was given or was
 * given since (someone else's taskset), nothing with a single processor,
 * under the idle policy or under a seccomp filter. And the queue's note of the ringing processor
 * (reporter/queue.h), which feeds it.
 *
 * Needs two processors this process may run on; with fewer each test is
 * reported as skipped. */
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "isolated.h"
#include "preload/real.h"
#include "preload/sandbox.h"
#include "reporter/placement.h"
#include "reporter/queue.h"

/* The first two processors this process may run on. */
static int cpu_a = -1, cpu_b = -1;

static int find_two_processors(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0)
        return -1;
    for (int c = 0; c < CPU_SETSIZE; c++) {
        if (!CPU_ISSET(c, &set))
            continue;
        if (cpu_a < 0)
            cpu_a = c;
        else if (cpu_b < 0)
            cpu_b = c;
    }
    return cpu_b >= 0 ? 0 : -1;
}

static void need_two(void)
{
    if (cpu_b < 0)
        skip();
}

/* The set of two processors at most, or one (b -1). */
static cpu_set_t cpus(int a, int b)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(a, &set);
    if (b >= 0)
        CPU_SET(b, &set);
    return set;
}

/* Put this thread on exactly the processors given (b -1: a alone). */
static void run_on(int a, int b)
{
    cpu_set_t set = cpus(a, b);
    CHECK(sched_setaffinity(0, sizeof set, &set) == 0, "sched_setaffinity");
}

/* This thread's set is exactly the processors given (b -1: a alone). */
static bool runs_on(int a, int b)
{
    cpu_set_t want = cpus(a, b), now;
    CHECK(sched_getaffinity(0, sizeof now, &now) == 0, "sched_getaffinity");
    return CPU_EQUAL(&want, &now);
}

/* test_NAME: the scenario NAME in a child of its own, with two processors. */
#define SCENARIO(name)                                                                             \
    static void test_##name(void **state)                                                          \
    {                                                                                              \
        (void)state;                                                                               \
        need_two();                                                                                \
        run_in_child(NULL, name);                                                                  \
    }

/* Placement started on a thread that may run on both processors. */
static void start_on_both(void)
{
    run_on(cpu_a, cpu_b);
    CHECK(ts_rep_placement_start(), "not started on two processors");
}

static void rings(int cpu, int n)
{
    for (int i = 0; i < n; i++)
        ts_rep_placement_rung_from(cpu);
}

static void steady_ringer_is_left_out(void)
{
    start_on_both();
    rings(cpu_b, TS_PLACEMENT_STEADY - 1);
    CHECK(runs_on(cpu_a, cpu_b) && ts_rep_placement_left_out() == -1,
          "left out before %d rings in a row", TS_PLACEMENT_STEADY);
    rings(cpu_b, 1);
    CHECK(runs_on(cpu_a, -1) && ts_rep_placement_left_out() == cpu_b, "the ringer left out");
    rings(-1, 10); /* not rung: nothing changes */
    CHECK(runs_on(cpu_a, -1), "kept");
    /* the program's thread moved: the other one is left out instead */
    rings(cpu_a, TS_PLACEMENT_STEADY - 1);
    CHECK(runs_on(cpu_a, -1), "moved early");
    rings(cpu_a, 1);
    CHECK(runs_on(cpu_b, -1) && ts_rep_placement_left_out() == cpu_a, "not moved");
}

SCENARIO(steady_ringer_is_left_out)

static void alternating_ringers_change_nothing(void)
{
    start_on_both();
    for (int i = 0; i < 20; i++) {
        rings(cpu_a, TS_PLACEMENT_STEADY - 1);
        rings(cpu_b, TS_PLACEMENT_STEADY - 1);
    }
    CHECK(runs_on(cpu_a, cpu_b) && ts_rep_placement_left_out() == -1, "changed");
}

SCENARIO(alternating_ringers_change_nothing)

static void release_runs_anywhere_again(void)
{
    start_on_both();
    rings(cpu_a, TS_PLACEMENT_STEADY);
    CHECK(runs_on(cpu_b, -1), "left out");
    ts_rep_placement_release();
    CHECK(runs_on(cpu_a, cpu_b) && ts_rep_placement_left_out() == -1, "not released");
    /* the count starts again after a release */
    rings(cpu_a, TS_PLACEMENT_STEADY - 1);
    CHECK(runs_on(cpu_a, cpu_b), "left out again too early");
    rings(cpu_a, 1);
    CHECK(runs_on(cpu_b, -1), "not left out again");
}

SCENARIO(release_runs_anywhere_again)

/* Someone else narrowed the thread to one processor while one was left
 * out: that set stays, neither widened back by a release nor by a ring. */
static void someone_elses_set_is_kept(void)
{
    start_on_both();
    rings(cpu_b, TS_PLACEMENT_STEADY);
    CHECK(runs_on(cpu_a, -1), "left out");
    run_on(cpu_b, -1); /* an administrator's taskset -a */
    rings(cpu_a, TS_PLACEMENT_STEADY);
    CHECK(runs_on(cpu_b, -1), "widened by a ring");
    ts_rep_placement_release();
    CHECK(runs_on(cpu_b, -1), "widened by a release");
    rings(cpu_b, TS_PLACEMENT_STEADY);
    CHECK(runs_on(cpu_b, -1), "its only processor left out");
    /* given both again: a processor found unusable is not asked about
     * again (no system calls at each ring) until another one rings */
    run_on(cpu_a, cpu_b);
    rings(cpu_b, 1);
    CHECK(runs_on(cpu_a, cpu_b), "asked again about an unusable ringer");
    rings(cpu_a, TS_PLACEMENT_STEADY);
    CHECK(runs_on(cpu_b, -1) && ts_rep_placement_left_out() == cpu_a, "the new set not used");
}

SCENARIO(someone_elses_set_is_kept)

static void one_processor_is_left_alone(void)
{
    run_on(cpu_a, -1);
    CHECK(!ts_rep_placement_start(), "placement on with one processor");
    rings(cpu_a, 3 * TS_PLACEMENT_STEADY);
    rings(cpu_b, 3 * TS_PLACEMENT_STEADY); /* a processor outside its set */
    ts_rep_placement_release();
    CHECK(runs_on(cpu_a, -1), "changed");
}

/* A thread that inherited the idle (or a real-time) policy is left as
 * the program made it. */
static void idle_policy_is_left_alone(void)
{
    run_on(cpu_a, cpu_b);
    struct sched_param param = {.sched_priority = 0};
    CHECK(sched_setscheduler(0, SCHED_IDLE, &param) == 0, "SCHED_IDLE");
    CHECK(!ts_rep_placement_start(), "placement on under SCHED_IDLE");
    rings(cpu_a, 3 * TS_PLACEMENT_STEADY);
    CHECK(runs_on(cpu_a, cpu_b), "changed");
}

SCENARIO(idle_policy_is_left_alone)

SCENARIO(one_processor_is_left_alone)

/* A ring from a processor the thread may not use changes nothing. */
static void foreign_ringer_is_ignored(void)
{
    start_on_both();
    rings(CPU_SETSIZE + 3, 2 * TS_PLACEMENT_STEADY);
    CHECK(runs_on(cpu_a, cpu_b), "changed for a processor out of range");
    cpu_set_t set;
    CHECK(sched_getaffinity(0, sizeof set, &set) == 0, "sched_getaffinity");
    int outside = -1;
    for (int c = 0; c < CPU_SETSIZE && outside < 0; c++)
        if (!CPU_ISSET(c, &set))
            outside = c;
    CHECK(outside >= 0, "every processor in the set");
    rings(outside, 2 * TS_PLACEMENT_STEADY);
    CHECK(runs_on(cpu_a, cpu_b), "changed for processor %d, outside its set", outside);
}

SCENARIO(foreign_ringer_is_ignored)

/* Once the program installs a seccomp filter no call is made: what was
 * set stays. */
static void no_calls_under_a_filter(void)
{
    start_on_both();
    rings(cpu_a, TS_PLACEMENT_STEADY);
    CHECK(runs_on(cpu_b, -1), "left out");
    ts_sandbox_filter_coming();
    CHECK(!ts_rep_placement_release(), "on under a filter");
    CHECK(!ts_rep_placement_rung_from(cpu_b), "on under a filter");
    rings(cpu_b, TS_PLACEMENT_STEADY);
    CHECK(runs_on(cpu_b, -1), "a call made under a filter");
    CHECK(!ts_rep_placement_start(), "started under a filter");
}

SCENARIO(no_calls_under_a_filter)

/* The queue: a ring notes its processor only when asked to, and each note
 * is taken once. */
static void queue_notes_the_ringer(void)
{
    static struct ts_rep_queue q;
    CHECK(ts_rep_queue_init(&q, 64), "queue");
    run_on(cpu_b, -1);
    /* a push rings only for a consumer that sleeps: the doorbell set as
     * ts_rep_queue_wait sets it before its futex wait */
    ts_rep_queue_note_ringers(&q, false);
    __atomic_store_n(&q.doorbell, 1, __ATOMIC_SEQ_CST);
    ts_rep_queue_nudge(&q);
    CHECK(ts_rep_queue_take_ringer(&q) == -1, "noted while not asked");
    ts_rep_queue_note_ringers(&q, true);
    __atomic_store_n(&q.doorbell, 1, __ATOMIC_SEQ_CST);
    ts_rep_queue_nudge(&q);
    int got = ts_rep_queue_take_ringer(&q);
    CHECK(got == cpu_b, "noted %d, ran on %d", got, cpu_b);
    CHECK(ts_rep_queue_take_ringer(&q) == -1, "taken twice");
    /* no sleeper, no ring, no note */
    ts_rep_queue_nudge(&q);
    CHECK(ts_rep_queue_take_ringer(&q) == -1, "noted without a ring");
    /* nor once the program installed a seccomp filter */
    ts_sandbox_filter_coming();
    __atomic_store_n(&q.doorbell, 1, __ATOMIC_SEQ_CST);
    ts_rep_queue_nudge(&q);
    CHECK(ts_rep_queue_take_ringer(&q) == -1, "noted under a filter");
}

SCENARIO(queue_notes_the_ringer)

int main(void)
{
    ts_real_resolve();
    (void)find_two_processors();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_steady_ringer_is_left_out),
        cmocka_unit_test(test_alternating_ringers_change_nothing),
        cmocka_unit_test(test_release_runs_anywhere_again),
        cmocka_unit_test(test_someone_elses_set_is_kept),
        cmocka_unit_test(test_one_processor_is_left_alone),
        cmocka_unit_test(test_idle_policy_is_left_alone),
        cmocka_unit_test(test_foreign_ringer_is_ignored),
        cmocka_unit_test(test_no_calls_under_a_filter),
        cmocka_unit_test(test_queue_notes_the_ringer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
