/* exit_order.c — see exit_order.h. */
#include "exit_order.h"

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "../preload/clock.h"
#include "../preload/config.h"
#include "../preload/fork_state.h"

enum { EXIT_NONE = 0, EXIT_RUNNING = 1, EXIT_FLUSHED = 2 };

static int exit_state TS_FORK_STATE;       /* atomic: EXIT_* */
static pthread_t exit_first TS_FORK_STATE; /* the first caller, once exit_state is not EXIT_NONE */
#define EXIT_POLL_NS (1000 * 1000) /* a waiting thread looks again every millisecond */

void ts_exit_order_enter(void)
{
    int none = EXIT_NONE;
    pthread_t self = pthread_self();
    if (__atomic_compare_exchange_n(&exit_state, &none, EXIT_RUNNING, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE)) {
        __atomic_store_n(&exit_first, self, __ATOMIC_RELEASE);
        return;
    }
    uint64_t deadline = ts_mono_ms() + ts_cfg.exit_timeout_ms;
    while (__atomic_load_n(&exit_state, __ATOMIC_ACQUIRE) == EXIT_RUNNING &&
           ts_mono_ms() < deadline) {
        /* The first caller's thread, back in exit from one of its own
         * handlers (or a signal handler), would wait for itself. Its id
         * may not be stored yet: the first caller is then in the lines
         * above, on another thread. */
        pthread_t first = __atomic_load_n(&exit_first, __ATOMIC_ACQUIRE);
        if (first && pthread_equal(first, self))
            return;
        struct timespec pause = {0, EXIT_POLL_NS};
        nanosleep(&pause, NULL);
    }
}

void ts_exit_order_flushed(void)
{
    __atomic_store_n(&exit_state, EXIT_FLUSHED, __ATOMIC_RELEASE);
}

TS_FORK_HANDLER void ts_exit_order_after_fork(void)
{
    __atomic_store_n(&exit_state, EXIT_NONE, __ATOMIC_RELAXED);
    __atomic_store_n(&exit_first, (pthread_t)0, __ATOMIC_RELAXED);
}
