/* sandbox.c — see sandbox.h. */
#include "sandbox.h"

static bool filter_seen;

void ts_sandbox_filter_coming(void)
{
    __atomic_store_n(&filter_seen, true, __ATOMIC_SEQ_CST);
}

bool ts_sandbox_filter_seen(void)
{
    return __atomic_load_n(&filter_seen, __ATOMIC_ACQUIRE);
}
