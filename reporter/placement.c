/* placement.c — the reporter thread's processors (placement.h). */
#include "placement.h"

#include <pthread.h>
#include <sched.h>
#include <stdbool.h>

#include "../preload/fd_split.h"
#include "../preload/sandbox.h"

static struct {
    bool on;
    cpu_set_t allowed; /* what it may run on */
    cpu_set_t last;    /* what it set last, or found at its start */
    int left_out;      /* the processor left out of last, -1 for none */
    int candidate;     /* the processor that rang last, */
    unsigned streak;   /* and how many wake-ups in a row, */
    int unusable;      /* and whether it was found outside allowed (then it, else -1) */
} place = {.left_out = -1, .candidate = -1, .unusable = -1};

static bool place_calls_allowed(void)
{
    if (place.on && ts_sandbox_filter_seen())
        place.on = false; /* a filter of the program's might kill it for the call */
    return place.on;
}

/* The thread's set now. One that is not what it set last was set by
 * someone else, and is what it may run on from now on: an administrator's
 * `taskset -a` narrowing it must hold, and from here that cannot be told
 * from the kernel's own narrowing (a processor gone offline, a smaller
 * cpuset), after which the processor left out is not used again until
 * someone sets a set. (A set given between this read and place_set is
 * overwritten; one equal to last is not seen.) */
static bool place_read_allowed(void)
{
    cpu_set_t now;
    if (sched_getaffinity(0, sizeof now, &now) != 0) {
        place.on = false;
        return false;
    }
    if (!CPU_EQUAL(&now, &place.last)) {
        place.allowed = now;
        place.last = now;
        place.left_out = -1;
    }
    return true;
}

static void place_set(const cpu_set_t *set, int left_out)
{
    if (sched_setaffinity(0, sizeof *set, set) == 0) {
        place.last = *set;
        place.left_out = left_out;
        return;
    }
    /* Refused (nothing of set in the thread's cpuset): placement ends, the
     * thread on all of its set if it can be. */
    place.on = false;
    if (place.left_out >= 0)
        (void)sched_setaffinity(0, sizeof place.allowed, &place.allowed);
}

bool ts_rep_placement_start(void)
{
    place.left_out = -1;
    place.candidate = -1;
    place.streak = 0;
    place.unusable = -1;
    /* A thread that inherited a real-time or the idle policy is left as
     * the program made it, as for its scheduling (reporter.c). */
    int policy;
    struct sched_param param;
    place.on = pthread_getschedparam(pthread_self(), &policy, &param) == 0 &&
               (policy == SCHED_OTHER || policy == SCHED_BATCH) && !ts_sandbox_filter_seen() &&
               !ts_fd_split_filtered() &&
               sched_getaffinity(0, sizeof place.allowed, &place.allowed) == 0 &&
               CPU_COUNT(&place.allowed) > 1;
    place.last = place.allowed;
    return place.on;
}

bool ts_rep_placement_rung_from(int cpu)
{
    if (cpu < 0 || !place.on)
        return place.on;
    if (cpu != place.candidate) {
        place.candidate = cpu;
        place.streak = 0;
        place.unusable = -1;
    }
    if (place.streak < TS_PLACEMENT_STEADY)
        place.streak++;
    if (place.streak < TS_PLACEMENT_STEADY || cpu == place.left_out || cpu == place.unusable ||
        !place_calls_allowed() || !place_read_allowed())
        return place.on;
    if (cpu >= CPU_SETSIZE || !CPU_ISSET(cpu, &place.allowed) || CPU_COUNT(&place.allowed) < 2) {
        place.unusable = cpu; /* not asked again until another processor rings */
        return place.on;
    }
    cpu_set_t set = place.allowed;
    CPU_CLR(cpu, &set);
    place_set(&set, cpu);
    return place.on;
}

bool ts_rep_placement_release(void)
{
    place.candidate = -1;
    place.streak = 0;
    place.unusable = -1;
    if (place.left_out < 0 || !place_calls_allowed() || !place_read_allowed())
        return place.on;
    /* The read finds someone else's set, if any, and takes it: nothing
     * left out then, and nothing to widen it to. */
    if (place.left_out >= 0)
        place_set(&place.allowed, -1);
    return place.on;
}

int ts_rep_placement_left_out(void)
{
    return place.left_out;
}
