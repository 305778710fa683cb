/* death.c — a death by signal put off (see death.h). */
#include "death.h"

#include "fork_state.h"
#include "process.h"

int ts_death_pending;
void (*ts_death_carry_out)(int sig);
static unsigned death_put_offs; /* (atomic) */

bool ts_death_put_off(int sig)
{
    int none = 0;
    if (!__atomic_compare_exchange_n(&ts_death_pending, &none, sig, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE) &&
        none != sig)
        return false;
    return __atomic_fetch_add(&death_put_offs, 1, __ATOMIC_RELAXED) < TS_DEATH_PUT_OFFS;
}

void ts_death_due(void)
{
    int sig = __atomic_load_n(&ts_death_pending, __ATOMIC_ACQUIRE);
    if (__builtin_expect(sig <= 0, 1) || ts_process_foreign() || !ts_death_carry_out ||
        !__atomic_compare_exchange_n(&ts_death_pending, &sig, -1, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE))
        return;
    ts_death_carry_out(sig);
}

TS_FORK_HANDLER void ts_death_after_fork(void)
{
    if (__atomic_load_n(&ts_death_pending, __ATOMIC_RELAXED))
        __atomic_store_n(&ts_death_pending, 0, __ATOMIC_RELAXED);
    if (__atomic_load_n(&death_put_offs, __ATOMIC_RELAXED))
        __atomic_store_n(&death_put_offs, 0, __ATOMIC_RELAXED);
}
