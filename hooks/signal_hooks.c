/* signal_hooks.c — the program's signal dispositions: its handlers, and
 * the deaths by signal that run no exit code.
 *
 * sigaction and the signal family note the program's first handler (an
 * _exit or exec may run inside one from then on: process_hooks.c) and
 * have the reporter ready for a flush handed over from there.
 *
 * A process that a signal ends runs no exit handler, and the spans its
 * reporter had not written yet went with it: every stop of a service
 * that leaves SIGTERM at its default (python3 -m http.server, a node
 * server, most small C daemons) and every Ctrl-C lost up to
 * OTEL_BSP_SCHEDULE_DELAY of its last spans. Two doors:
 * - a signal the process sends itself (kill of its own pid, raise) is
 *   seen before it goes: the flush runs there, in a normal context;
 * - SIGTERM, SIGINT and SIGHUP from outside, where the program leaves
 *   them at their default, find a handler of the shim's, installed at
 *   start-up (TRACESHIM_SIGNAL_FLUSH): it hands the flush to the
 *   reporter thread, then puts the default back, which ends the process
 *   with the same signal sent again, as it would have (its parent sees
 *   the same status). The program never sees that handler:
 *   sigaction and the signal family report SIG_DFL in its place, and set
 *   it again for a SIG_DFL asked for. A signal the program ignores
 *   (nohup) or catches stays its own. Not in a PID namespace's init,
 *   which gets from its own namespace only the signals it has handlers
 *   for: one of the shim's would let them in. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../preload/config.h"
#include "../preload/death.h"
#include "../preload/fork_state.h"
#include "../preload/guard.h"
#include "../preload/init.h"
#include "../preload/process.h"
#include "../preload/real.h"
#include "../preload/start_state.h"
#include "../preload/stats.h"
#include "../reporter/reporter.h"
#include "process_hooks.h"
#include "process_span.h"
#include "signal_hooks.h"

/* ---------------------------------------------------- the program's own */

/* Has the program installed a signal handler (a function: not SIG_DFL,
 * SIG_IGN or SIG_HOLD)? Until it has, no _exit or exec can run in one
 * (atomic; set for good, before the handler is in place). */
static bool handler_installed TS_START_STATE;

/* The signals the program has installed a handler of its own for, bit
 * sig - 1 (atomic; set for good). Its handler runs with the signal
 * blocked (but with SA_NODEFER): ts_signal_maybe_in_a_handler. */
static uint64_t handled_signals TS_START_STATE;

/* A handler the blocked signals cannot tell has been installed (atomic;
 * set for good): one with SA_NODEFER (sysv_signal, and signal itself in a
 * program built for strict ISO C, which glibc makes __sysv_signal), or
 * one through a raw rt_sigaction, whose flags the shim does not read.
 * ts_signal_maybe_in_a_handler then says yes everywhere. */
static bool handler_unseen TS_START_STATE;

/* The program's main has started: every constructor has run (atomic). */
static bool main_started TS_START_STATE;

/* Stored once, as handler_installed is. */
static void handler_unseen_now(void)
{
    if (!__atomic_load_n(&handler_unseen, __ATOMIC_RELAXED))
        __atomic_store_n(&handler_unseen, true, __ATOMIC_RELAXED);
}

void ts_signal_raw_action_coming(const void *kernel_act)
{
    /* Its handler is not read: the pointer is the program's, and may be
     * one the kernel answers with EFAULT. Any new action counts. */
    if (kernel_act && !ts_process_foreign())
        handler_unseen_now();
}

bool ts_signal_program_has_handlers(void)
{
    return __atomic_load_n(&handler_installed, __ATOMIC_SEQ_CST);
}

/* The handled signals this thread holds off while the shim ends the
 * process image (ts_signal_hold_handlers), bit sig - 1: blocked by the
 * shim, not by a handler's entry. initial-exec TLS: read in a handler. */
static __thread uint64_t held_here __attribute__((tls_model("initial-exec")));

bool ts_signal_maybe_in_a_handler(void)
{
    if (__atomic_load_n(&handler_unseen, __ATOMIC_RELAXED))
        return true;
    uint64_t handled = __atomic_load_n(&handled_signals, __ATOMIC_RELAXED);
    if (!handled)
        return false;
    uint64_t blocked = 0; /* the kernel's sigset: 8 bytes, bit sig - 1 */
    if (TS_REAL(syscall)(SYS_rt_sigprocmask, SIG_BLOCK, NULL, &blocked, sizeof blocked) != 0)
        return true;
    return (blocked & handled & ~held_here) != 0;
}

#define SIG_BIT(sig) (UINT64_C(1) << ((sig)-1))

/* Raised by a fault on the thread that made it: never held, or the
 * kernel would kill the process at once, handler or not (SIGABRT: abort
 * unblocks it anyway). */
#define FAULT_SIGNALS                                                                              \
    (SIG_BIT(SIGSEGV) | SIG_BIT(SIGBUS) | SIG_BIT(SIGILL) | SIG_BIT(SIGFPE) | SIG_BIT(SIGTRAP) |   \
     SIG_BIT(SIGSYS) | SIG_BIT(SIGABRT))

static void flush_then_die(int sig);

/* Of handled, the signals whose action is a handler of the program's now:
 * not one it put back to SIG_DFL or SIG_IGN since (handled_signals keeps
 * every signal that ever had one), nor a stop signal the shim's handler
 * took over then (its death may not wait: a second stop ends the process
 * during the export), nor a signal the C library keeps for itself (its
 * setxid and cancellation; a program's loop over every signal asks for
 * those too, and is refused). A sigaction each. */
static uint64_t with_program_handlers(uint64_t handled)
{
    uint64_t now_handled = 0;
    for (int sig = 1; sig <= 64; sig++) {
        struct sigaction now;
        if ((handled & SIG_BIT(sig)) && TS_REAL(sigaction)(sig, NULL, &now) == 0 &&
            now.sa_handler != SIG_DFL && now.sa_handler != SIG_IGN &&
            now.sa_handler != flush_then_die)
            now_handled |= SIG_BIT(sig);
    }
    return now_handled;
}

uint64_t ts_signal_hold_handlers(void)
{
    uint64_t handled = __atomic_load_n(&handled_signals, __ATOMIC_RELAXED) & ~FAULT_SIGNALS;
    if (!handled || !ts_active || ts_process_foreign())
        return 0;
    handled = with_program_handlers(handled);
    uint64_t before = 0;
    if (!handled ||
        TS_REAL(syscall)(SYS_rt_sigprocmask, SIG_BLOCK, &handled, &before, sizeof handled) != 0)
        return 0;
    uint64_t added = handled & ~before; /* those a handler's entry or the program blocked stay so */
    held_here |= added;
    return added;
}

void ts_signal_release_handlers(uint64_t held)
{
    if (!held)
        return;
    held_here &= ~held; /* first: a handler that runs at the unblock is one */
    (void)TS_REAL(syscall)(SYS_rt_sigprocmask, SIG_UNBLOCK, &held, NULL, sizeof held);
}

/* A process that may run a signal handler needs its exporters prepared:
 * a flush handed over from an _exit or exec in the handler must not
 * allocate. With a process span to export, it also needs the reporter
 * thread running: an _exit in the handler must not start it. Asked for
 * here in a normal context: the first handler cannot be running yet, and
 * main has started (a thread is never started from a constructor: the
 * program's allocator may not be ready). */
static void handler_coming(int sig, void (*handler)(int), int flags)
{
    if (handler == SIG_DFL || handler == SIG_IGN || handler == SIG_HOLD || handler == SIG_ERR)
        return;
    /* A vfork child's handlers are not its parent's, whose memory (and
     * this flag) it shares. */
    if (ts_process_foreign())
        return;
    if (flags & SA_NODEFER)
        handler_unseen_now();
    if (sig >= 1 && sig <= 64 &&
        !(__atomic_load_n(&handled_signals, __ATOMIC_RELAXED) & (UINT64_C(1) << (sig - 1))))
        __atomic_fetch_or(&handled_signals, UINT64_C(1) << (sig - 1), __ATOMIC_RELAXED);
    /* Stored once: a program that installs handlers again and again must
     * not write a line that every call reads (start_state.h). */
    if (!__atomic_load_n(&handler_installed, __ATOMIC_SEQ_CST))
        __atomic_store_n(&handler_installed, true, __ATOMIC_SEQ_CST);
    /* At every handler, not only the first: a first one installed where
     * the thread could not start (inside the shim) must not leave the
     * process without it. Once it runs, this is a few loads. */
    if (__atomic_load_n(&main_started, __ATOMIC_SEQ_CST) && ts_process_hooks_own())
        ts_rep_prepare_for_handlers(ts_pspan_will_export());
}

/* Main starts: a handler installed before it (by a constructor) starts
 * the reporter thread now. */
void ts_signal_main_starts(void)
{
    __atomic_store_n(&main_started, true, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&handler_installed, __ATOMIC_SEQ_CST) && ts_process_hooks_own())
        ts_rep_prepare_for_handlers(ts_pspan_will_export());
}

/* ------------------------------------------------ the shim's own handler */

/* Does the shim take SIGTERM, SIGINT and SIGHUP where the program leaves
 * them at their default (fixed at start-up; off again in a forked child
 * that is a PID namespace's init)? */
static bool takes_defaults TS_START_STATE;

/* The flush before a death by signal has been done, or begun (atomic):
 * a process flushes once, whichever door the signal came by. */
static bool death_flushed;

/* Where sig is in ts_stop_signals; -1 when it is not there. */
static int stop_index(int sig)
{
    for (size_t i = 0; i < TS_STOP_SIGNALS; i++)
        if (ts_stop_signals[i] == sig)
            return (int)i;
    return -1;
}

/* What the program reads of a stop signal the shim's handler stands in
 * for: the default as the kernel recorded it when the shim took it (its
 * flags and mask: a change through glibc adds SA_RESTORER, signal adds
 * SA_RESTART). */
static struct sigaction program_default[TS_STOP_SIGNALS];

/* Is a SIG_DFL the program asks for for sig to be the shim's handler? */
static bool takes_default(int sig)
{
    return stop_index(sig) >= 0 && __atomic_load_n(&takes_defaults, __ATOMIC_RELAXED) &&
           !ts_process_foreign(); /* a vfork child's handlers are its own */
}

/* A death put off (death.h), carried out by a hook that comes first (an
 * exec, an exit, a fork...): a normal context, or a handler of the
 * program's (the export chooses); ts_death_due ends the process next. */
static void death_carried_out(int sig)
{
    int saved = errno;
    if (!__atomic_exchange_n(&death_flushed, true, __ATOMIC_ACQ_REL)) {
        (void)ts_signal_hold_handlers(); /* (for good: see flush_then_die) */
        ts_process_ends_now(128 + sig, false);
    }
    errno = saved;
}

/* How long a death is put off before the signal comes again. */
#define DEATH_AGAIN_MS 20

/* The signal came at a busy moment: its death put off (death.h), and a
 * one-shot timer that sends the signal again to the process. False, the
 * death to be carried out now, when it has been put off enough, or no
 * timer can be had (without one, a thread blocked in a send could hold it
 * off for good). */
static bool death_put_off(int sig)
{
    struct sigevent again = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = sig};
    struct itimerspec soon = {.it_value = {.tv_nsec = DEATH_AGAIN_MS * 1000000L}};
    int timer; /* the kernel's timer id is an int */
    if (TS_REAL(syscall)(SYS_timer_create, CLOCK_MONOTONIC, &again, &timer) != 0)
        return false;
    if (!ts_death_put_off(sig) || TS_REAL(syscall)(SYS_timer_settime, timer, 0, &soon, NULL) != 0) {
        (void)TS_REAL(syscall)(SYS_timer_delete, timer);
        return false;
    }
    return true;
}

/* Has a span begun that has not ended, other than the process's own? A
 * thread may be about to end it (a threaded server's worker that has just
 * written its response: the signal comes to the main thread, outside the
 * shim). Or one has, and the reporter thread its end starts is not
 * claimed yet: that thread is still inside the shim. */
static bool spans_under_way(void)
{
    uint64_t started = ts_stats_get(TS_STAT_SPANS_STARTED) - (ts_pspan_here() ? 1 : 0);
    uint64_t ended = ts_stats_get(TS_STAT_SPANS_FINISHED);
    return started > ended || (started > 0 && !ts_rep_thread_running());
}

/* Is this a busy moment for the export, the death to be put off? The
 * thread is inside the shim's work, whose locks the export may need (put
 * off again each time the signal finds it there, up to the budget); or
 * it has just sent a request or a response whose span it is about to end
 * (once: a send that still blocks when the signal comes again holds
 * nothing the export needs, and may block for good). */
static bool busy_moment(int pending)
{
    if (ts_guard_only_a_call())
        return pending == 0;
    return ts_guard_active();
}

/* How long the handler waits for spans under way on other threads. */
#define SPANS_UNDER_WAY_WAIT_MS 20

/* A span under way on another thread (a threaded server's worker that
 * has just written its response, the signal on the main thread): its
 * end is waited for, a little; the death is claimed, so that no other
 * thread exits, executes or forks meanwhile (death.h). */
static void spans_waited_for(void)
{
    struct timespec ms = {0, 1000000L};
    for (int i = 0; i < SPANS_UNDER_WAY_WAIT_MS && spans_under_way(); i++)
        (void)nanosleep(&ms, NULL);
}

/* The shim's handler. The spans go out, handed to the reporter thread
 * (this may have interrupted malloc: no thread is started here; without
 * one, only a span file that is the only exporter is written here, with
 * no memory from malloc: reporter.h ts_rep_flush_possible_in_handler),
 * unless the thread is inside the shim's own work; a busy moment
 * puts the death off, to be carried out when the signal comes again (or
 * by an exec or an exit meanwhile: death.h). None in a vfork child. Then
 * the default ends the process with the same signal. A stop signal that
 * comes while the spans go out (this handler runs again, on this thread
 * or another: SA_NODEFER) is a copy of the first, which the export goes
 * on after, or, TS_DEATH_ECHO_MS later, a second stop, which ends the
 * process at once. (The kernel does not put the default back as this
 * begins, SA_RESETHAND: timeout(1)'s copy then ended the process in the
 * middle of the export.) */
static void flush_then_die(int sig)
{
    int saved = errno;
    if (__atomic_load_n(&ts_active, __ATOMIC_ACQUIRE) && getpid() != 1 && !ts_process_foreign()) {
        if (ts_death_after_exec(sig)) { /* an exec under way: its new image dies */
            errno = saved;
            return;
        }
        int pending = __atomic_load_n(&ts_death_pending, __ATOMIC_ACQUIRE);
        if (pending < 0) { /* a death being carried out: it ends this one */
            if (!ts_death_claimed_just_now())
                ts_death_now(-pending); /* a second stop: no more waiting, same status */
            errno = saved;
            return;
        }
        if (busy_moment(pending) && death_put_off(sig)) {
            errno = saved;
            return;
        }
        if (!ts_death_claim(sig, pending)) { /* another thread took it on meanwhile */
            errno = saved;
            return;
        }
        if (!ts_guard_active())
            spans_waited_for();
        if ((!ts_guard_active() || ts_guard_only_a_call()) && ts_rep_flush_possible_in_handler() &&
            !__atomic_exchange_n(&death_flushed, true, __ATOMIC_ACQ_REL)) {
            /* Held for good: the process dies next, and a handler of the
             * program's let run between (in this one) could _exit with
             * another status, or leave by siglongjmp with the death
             * claimed and never carried out. */
            (void)ts_signal_hold_handlers();
            ts_process_ends_now(128 + sig, true);
        }
    }
    ts_death_now(sig);
    errno = saved;
}

/* The shim's handler for sig, as sigaction takes it: the other two stop
 * signals wait while it runs (sig itself may not: SA_NODEFER, so that a
 * second stop can end the process while the export runs). */
static void shim_action(int sig, struct sigaction *sa)
{
    memset(sa, 0, sizeof *sa);
    sa->sa_handler = flush_then_die;
    sa->sa_flags = SA_NODEFER | SA_RESTART;
    sigemptyset(&sa->sa_mask);
    for (size_t i = 0; i < TS_STOP_SIGNALS; i++)
        if (ts_stop_signals[i] != sig)
            sigaddset(&sa->sa_mask, ts_stop_signals[i]);
}

/* What the program sees of sig's disposition: the shim's handler is the
 * default it left. */
static void as_the_program_left_it(int sig, struct sigaction *old)
{
    int i = stop_index(sig);
    if (old && old->sa_handler == flush_then_die && i >= 0)
        *old = program_default[i];
}

/* The shim's handler for each stop signal the program leaves at its
 * default (one it ignores, or handles, stays so); a disposition changed
 * between the look and the change (by another thread) is put back. */
static void take_defaults_now(void)
{
    for (size_t i = 0; i < TS_STOP_SIGNALS; i++) {
        int sig = ts_stop_signals[i];
        struct sigaction now, shim, before;
        if (TS_REAL(sigaction)(sig, NULL, &now) != 0 || now.sa_handler != SIG_DFL)
            continue;
        program_default[i] = now;
        shim_action(sig, &shim);
        if (TS_REAL(sigaction)(sig, &shim, &before) == 0 && before.sa_handler != SIG_DFL)
            (void)TS_REAL(sigaction)(sig, &before, NULL);
    }
}

void ts_signal_hooks_init(void)
{
    ts_rep_maybe_in_a_handler = ts_signal_maybe_in_a_handler; /* whatever the shim's own */
    if (!ts_cfg.signal_flush || ts_cfg.exporters == 0 || ts_proc.pid == 1)
        return;
    ts_death_carry_out = death_carried_out;
    ts_death_handler = flush_then_die;
    __atomic_store_n(&takes_defaults, true, __ATOMIC_RELAXED);
    /* (the constructor runs before any code of the program's: nothing
     * changes a disposition between the look and the change; one ignored,
     * nohup's, is left so) */
    take_defaults_now();
    ts_rep_prepare_unwaited();
}

bool ts_signal_hooks_give_up(void)
{
    if (!__atomic_exchange_n(&takes_defaults, false, __ATOMIC_RELAXED))
        return false;
    for (size_t i = 0; i < TS_STOP_SIGNALS; i++) {
        struct sigaction now;
        if (TS_REAL(sigaction)(ts_stop_signals[i], NULL, &now) == 0 &&
            now.sa_handler == flush_then_die)
            (void)TS_REAL(sigaction)(ts_stop_signals[i], &program_default[i], NULL);
    }
    return true;
}

void ts_signal_hooks_take_back(void)
{
    if (!__atomic_exchange_n(&takes_defaults, true, __ATOMIC_RELAXED))
        take_defaults_now();
}

/* A forked child keeps the handlers. One that is a PID namespace's init
 * (unshare -pf before its exec) gives the shim's up: they would let in
 * the signals the kernel drops for it. */
TS_FORK_HANDLER void ts_signal_hooks_after_fork(void)
{
    if (__atomic_load_n(&death_flushed, __ATOMIC_RELAXED))
        __atomic_store_n(&death_flushed, false, __ATOMIC_RELAXED);
    ts_death_after_fork();
    if (ts_proc.pid == 1)
        ts_signal_hooks_give_up();
}

/* --------------------------------------------------- the doors themselves */

/* glibc adds it to every action it gives the kernel (x86-64, arm64) */
#ifndef SA_RESTORER
#define SA_RESTORER 0x04000000
#endif

/* The program sets sig, one the shim takes, to its default with flags
 * and mask, as glibc's door would give them to the kernel: the shim's
 * handler goes in in its place, in the one change (another thread's
 * change is never undone), the program's record of the default kept for
 * it to read, as the kernel would have kept it. old: the action before,
 * as the program reads it. */
static int default_set(int sig, int flags, const sigset_t *mask, struct sigaction *old)
{
    struct sigaction shim, before;
    shim_action(sig, &shim);
    int r = TS_REAL(sigaction)(sig, &shim, &before);
    if (r != 0)
        return r;
    as_the_program_left_it(sig, &before);
    struct sigaction *record = &program_default[stop_index(sig)];
    memset(record, 0, sizeof *record);
    record->sa_handler = SIG_DFL;
    record->sa_flags = flags | SA_RESTORER;
    record->sa_mask = *mask;
    if (old)
        *old = before;
    return 0;
}

typedef int (*sigaction_fn)(int, const struct sigaction *, struct sigaction *);

static int sigaction_door(sigaction_fn real, int sig, const struct sigaction *act,
                          struct sigaction *old)
{
    if (act)
        ts_death_due(sig); /* a death under way by sig is not the program's to take over */
    if (act) {
        handler_coming(sig, act->sa_handler, act->sa_flags); /* sa_sigaction shares its place */
        if (act->sa_handler == SIG_DFL && takes_default(sig))
            return default_set(sig, act->sa_flags, &act->sa_mask, old);
    }
    int r = real(sig, act, old);
    if (r == 0)
        as_the_program_left_it(sig, old);
    return r;
}

TS_EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    return sigaction_door(TS_REAL(sigaction), sig, act, old);
}

TS_EXPORT int __sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    return sigaction_door(TS_REAL(__sigaction), sig, act, old);
}

/* signal(sig, SIG_DFL) and its kin for a signal the shim takes, with the
 * flags and mask glibc 2.36's would give the kernel; the handler before. */
static __sighandler_t default_set_as(int sig, int flags, bool sig_in_mask)
{
    sigset_t mask;
    sigemptyset(&mask);
    if (sig_in_mask)
        sigaddset(&mask, sig);
    struct sigaction before;
    return default_set(sig, flags, &mask, &before) == 0 ? before.sa_handler : SIG_ERR;
}

/* glibc's signal, bsd_signal and ssignal are one function (BSD's
 * semantics: SA_RESTART, the signal blocked in its handler), and so are
 * sysv_signal and __sysv_signal (SA_RESETHAND | SA_NODEFER): each name is
 * a door of its own. */
#define TS_SIGNAL_HOOK(name, flags, sig_in_mask)                                                   \
    TS_EXPORT __sighandler_t name(int sig, __sighandler_t handler)                                 \
    {                                                                                              \
        ts_death_due(sig);                                                                         \
        handler_coming(sig, handler, flags);                                                       \
        if (handler == SIG_DFL && takes_default(sig))                                              \
            return default_set_as(sig, flags, sig_in_mask);                                        \
        __sighandler_t before = TS_REAL(name)(sig, handler);                                       \
        return before == flush_then_die ? SIG_DFL : before;                                        \
    }
TS_SIGNAL_HOOK(signal, SA_RESTART, true)
TS_SIGNAL_HOOK(bsd_signal, SA_RESTART, true)
TS_SIGNAL_HOOK(ssignal, SA_RESTART, true)
TS_SIGNAL_HOOK(sysv_signal, (int)(SA_RESETHAND | SA_NODEFER), false)
TS_SIGNAL_HOOK(__sysv_signal, (int)(SA_RESETHAND | SA_NODEFER), false)
#undef TS_SIGNAL_HOOK

/* sigset also takes sig out of the thread's blocked signals (but for
 * SIG_HOLD), and answers SIG_HOLD when it was among them. */
TS_EXPORT __sighandler_t sigset(int sig, __sighandler_t handler)
{
    ts_death_due(sig);
    handler_coming(sig, handler, 0);
    if (!(handler == SIG_DFL && takes_default(sig))) {
        __sighandler_t before = TS_REAL(sigset)(sig, handler);
        return before == flush_then_die ? SIG_DFL : before;
    }
    __sighandler_t before = default_set_as(sig, 0, false);
    sigset_t one, blocked;
    sigemptyset(&one);
    sigaddset(&one, sig);
    if (before == SIG_ERR || pthread_sigmask(SIG_UNBLOCK, &one, &blocked) != 0)
        return SIG_ERR;
    return sigismember(&blocked, sig) ? SIG_HOLD : before;
}

/* ----------------------------------------------------- death by signal */

/* A program that ends itself with a signal runs no exit handler: CPython,
 * after a KeyboardInterrupt (Ctrl-C), sets SIGINT back to its default and
 * sends it to itself, so that its parent sees it die of it, and the spans
 * of its last seconds went with it. Will sig, sent to this process by
 * this thread, end it? One the process does not catch (the shim's handler
 * is the default it left), ignore or block here, whose default action
 * ends it without a core dump. Signals that dump core (abort's SIGABRT)
 * are left alone: they come from a program in trouble, whose memory the
 * flush should not trust. */
static bool signal_ends_process(int sig)
{
    /* A PID namespace's init (a container's first process) gets from its
     * own namespace only the signals it has handlers for: the kernel drops
     * the rest, SIGKILL too, and it lives on. */
    if (getpid() == 1)
        return false;
    switch (sig) {
    case SIGKILL:
        return true;
    case SIGHUP:
    case SIGINT:
    case SIGTERM:
    case SIGUSR1:
    case SIGUSR2:
    case SIGALRM:
    case SIGPIPE:
        break;
    default:
        return false;
    }
    struct sigaction now;
    sigset_t blocked;
    if (TS_REAL(sigaction)(sig, NULL, &now) != 0)
        return false;
    as_the_program_left_it(sig, &now);
    return !(now.sa_flags & SA_SIGINFO) && now.sa_handler == SIG_DFL &&
           pthread_sigmask(SIG_BLOCK, NULL, &blocked) == 0 && !sigismember(&blocked, sig);
}

/* Before such a signal: the spans go out as at _exit, the process span
 * with the status a shell gives a death by signal (128 + sig). */
static void before_fatal_signal(int sig)
{
    if (ts_process_hooks_own() && signal_ends_process(sig) &&
        !__atomic_exchange_n(&death_flushed, true, __ATOMIC_ACQ_REL))
        ts_process_ends_now(128 + sig, false);
}

/* A stop signal the process sends itself finds, where it comes from the
 * program's own handler, the default that handler left (SA_RESETHAND,
 * in the kernel: no hook saw it). node catches SIGTERM and SIGINT to put
 * the terminal right, then raises the signal again, blocked until its
 * handler returns: the shim's handler takes the default back, to run as
 * the signal is let through. (A thread that takes the signal with
 * sigwait never runs a handler.) */
static void default_taken_back(int sig)
{
    struct sigaction now, shim, before;
    if (!takes_default(sig) || !__atomic_load_n(&ts_active, __ATOMIC_ACQUIRE) ||
        TS_REAL(sigaction)(sig, NULL, &now) != 0 || now.sa_handler != SIG_DFL)
        return;
    /* (the default's record: what the program's handler left, as the
     * program would read it) */
    program_default[stop_index(sig)] = now;
    shim_action(sig, &shim);
    if (TS_REAL(sigaction)(sig, &shim, &before) == 0 && before.sa_handler != SIG_DFL)
        (void)TS_REAL(sigaction)(sig, &before, NULL); /* a change came between */
}

/* Either way, before a signal the process sends itself. */
static void before_own_signal(int sig)
{
    int saved = errno;
    before_fatal_signal(sig);
    default_taken_back(sig);
    errno = saved;
}

TS_EXPORT int kill(pid_t pid, int sig)
{
    if (pid > 0 && pid == getpid()) /* (a vfork child's: ts_process_hooks_own says no) */
        before_own_signal(sig);
    return TS_REAL(kill)(pid, sig);
}

TS_EXPORT int raise(int sig)
{
    before_own_signal(sig);
    return TS_REAL(raise)(sig);
}
