/* placement.h — which processors the reporter thread runs on: off the one
 * of the program's thread that keeps waking it.
 *
 * Why: on a machine whose processors the program and its clients share,
 * a reporter thread that runs where the program's thread just was makes
 * the kernel wake that thread elsewhere: woken by its next request while
 * the reporter holds its last processor, it goes to the client's, and the
 * two, waking each other in turn, then look like one busy processor to the
 * scheduler and stay together while the other processor idles
 * (bench/PROFILE.md, sessions 36 and 48: on two cores a µs-scale server
 * lost 3 points of throughput to it). So once the same processor has rung
 * the queue's doorbell several wake-ups in a row, the thread's affinity
 * leaves that processor out; the program's thread keeps it to itself, and
 * the reporter runs on the others.
 *
 * Never wider than what the thread was given: the set it inherited at its
 * start (taskset, a container's cpuset), or one set since by someone else
 * (an administrator's taskset -a), which replaces it. Nothing when that set
 * is a single processor, when the thread inherited a real-time or the idle
 * policy, under a seccomp filter (a call it does not list might kill the
 * program), or once a call failed. The thread runs anywhere in that set
 * again while it is behind and when it is idle (ts_rep_placement_release:
 * at a backlog, and when the schedule delay passed with nothing queued). A
 * program's thread that waits for it (a flush at exit) does not widen it:
 * the waiter's processor is idle then, but only a process that kept one
 * processor busy has left it out, the others are rarely all busy, and the
 * thread is put under the normal policy for the job (reporter.c,
 * rep_wait_unbatched): at worst it waits for the running task's slice on
 * one of them (a few milliseconds).
 *
 * Once the thread has set its affinity, a later, larger cpuset no longer
 * reaches it on Linux 6.2 and later (the kernel keeps the set asked for);
 * a processor left out and then lost to the kernel's own narrowing (gone
 * offline, a smaller cpuset) is taken for someone else's choice and not
 * used again until someone sets a set.
 *
 * The reporter thread's alone: its state is set up anew at the thread's
 * start (a forked child's thread too). The queue notes the processor that
 * rang (reporter/queue.h). */
#ifndef TS_PLACEMENT_H
#define TS_PLACEMENT_H

#include <stdbool.h>

/* Wake-ups rung from one processor in a row before the thread leaves it. */
#define TS_PLACEMENT_STEADY 4

/* At the reporter thread's start (a forked child's thread starts anew):
 * the set it may run on. False when placement is off for its life. */
bool ts_rep_placement_start(void);

/* The reporter thread was woken by a ring from processor cpu (-1: not
 * rung since it last looked; nothing changes). False once placement is
 * off (the rings need not be noted any more). */
bool ts_rep_placement_rung_from(int cpu);

/* The reporter thread may run anywhere in its set again (it is behind,
 * or idle); the count of rings starts again. False once placement is
 * off. */
bool ts_rep_placement_release(void);

/* The processor the reporter thread leaves out, -1 for none (tests). */
int ts_rep_placement_left_out(void);

#endif
