/* isolated.h — run a unit-test scenario in a forked child, for scenarios
 * that start threads, change process-wide state (the reporter, the
 * counters, the configuration) or may deadlock.
 *
 * Inside the child use CHECK, not cmocka's assertions: those jump back to
 * the test runner, which lives in the parent. A child that fails exits 1;
 * one that deadlocks is killed by its alarm after 60 s; either fails the
 * calling test in the parent. Include after <cmocka.h>. */
#ifndef TS_TEST_ISOLATED_H
#define TS_TEST_ISOLATED_H

#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "CHECK failed at %s:%d: %s: ", __FILE__, __LINE__, #cond);             \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
            _exit(1);                                                                              \
        }                                                                                          \
    } while (0)

/* Run setup (if any) and then fn in a fresh child process; assert in the
 * parent that the child exited with status 0. */
static inline void run_in_child(void (*setup)(void), void (*fn)(void))
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(60); /* a deadlock fails the test instead of hanging it */
        if (setup)
            setup();
        fn();
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status))
        fail_msg("scenario killed by signal %d", WTERMSIG(status));
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

#endif
