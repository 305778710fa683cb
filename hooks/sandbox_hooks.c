/* sandbox_hooks.c — a thread that enters seccomp's strict mode
 * (prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT), or the seccomp system call's
 * SECCOMP_SET_MODE_STRICT) may then make four system calls: read, write,
 * _exit and sigreturn. Any other kills the process, and the time stamp
 * counter faults (the clock the shim reads through the vDSO). Such a
 * thread hands its sockets' bytes to a supervisor with write; the shim's
 * rewrite would send them with sendmsg, and its bookkeeping reads the
 * clock. So the thread holds the reentrancy guard for good before it
 * enters: every hook then passes its calls straight on, as for a call the
 * shim makes itself. Other threads are not in strict mode and are traced
 * as before; but the stop signals go back to their default for the whole
 * process, as the shim's handler, run on that thread, would be killed by
 * its first system call. A call that fails (the kernel refuses strict mode
 * to a thread under a filter) leaves the thread traced, as it was. */
#include <errno.h>
#include <linux/seccomp.h>
#include <stdarg.h>
#include <sys/prctl.h>

#include "../preload/guard.h"
#include "../preload/init.h"
#include "../preload/real.h"
#include "../preload/sandbox.h"
#include "sandbox_hooks.h"
#include "signal_hooks.h"

struct ts_strict_note ts_sandbox_strict_coming(void)
{
    struct ts_strict_note note = {false, false};
    /* a stop signal then ends the process as untraced */
    note.signals_given_up = ts_signal_hooks_give_up();
    if (!ts_guard_active()) {
        ts_guard_enter(); /* never left: the thread can do nothing else */
        note.guard_entered = true;
    }
    return note;
}

void ts_sandbox_strict_refused(struct ts_strict_note note)
{
    int saved = errno;
    if (note.guard_entered)
        ts_guard_leave();
    if (note.signals_given_up)
        ts_signal_hooks_take_back();
    errno = saved;
}

/* glibc's prctl reads its four variadic arguments whatever the option;
 * so does this one, and passes them on. */
TS_EXPORT int prctl(int option, ...)
{
    va_list ap;
    va_start(ap, option);
    unsigned long a2 = va_arg(ap, unsigned long), a3 = va_arg(ap, unsigned long);
    unsigned long a4 = va_arg(ap, unsigned long), a5 = va_arg(ap, unsigned long);
    va_end(ap);
    if (option == PR_SET_SECCOMP && a2 == SECCOMP_MODE_STRICT) {
        struct ts_strict_note note = ts_sandbox_strict_coming();
        int r = TS_REAL(prctl)(option, a2, a3, a4, a5);
        if (r != 0) /* (in strict mode now, nothing but the return) */
            ts_sandbox_strict_refused(note);
        return r;
    }
    if (option == PR_SET_SECCOMP && a2 == SECCOMP_MODE_FILTER)
        ts_sandbox_filter_coming();
    return TS_REAL(prctl)(option, a2, a3, a4, a5);
}
