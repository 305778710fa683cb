/* direct.c — whether the hooks may still make the program's system calls
 * themselves (see direct.h). */
#include "direct.h"

bool ts_direct_allowed = true;

void ts_direct_end(void)
{
    __atomic_store_n(&ts_direct_allowed, false, __ATOMIC_RELAXED);
}
