/* guard.c — storage of the reentrancy guard (see guard.h). */
#include "guard.h"

__thread int ts_guard_depth __attribute__((tls_model("initial-exec")));
