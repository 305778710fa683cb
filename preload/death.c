/* death.c — a death by signal under way (see death.h). */
#include "death.h"

#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "fork_state.h"
#include "process.h"
#include "real.h"

const int ts_stop_signals[TS_STOP_SIGNALS] = {SIGTERM, SIGINT, SIGHUP};
int ts_death_pending;
unsigned ts_death_execs_in_flight;
void (*ts_death_carry_out)(int sig);
void (*ts_death_handler)(int sig);
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

/* When the death under way was claimed (ts_mono_ms; atomic). */
static uint64_t death_claimed_ms;

bool ts_death_claim(int sig, int pending)
{
    /* Noted before the claim shows: a copy of the signal that finds the
     * claim finds its time too. */
    uint64_t now = ts_mono_ms();
    __atomic_store_n(&death_claimed_ms, now, __ATOMIC_RELEASE);
    return __atomic_compare_exchange_n(&ts_death_pending, &pending, -sig, false, __ATOMIC_ACQ_REL,
                                       __ATOMIC_ACQUIRE);
}

bool ts_death_claimed_just_now(void)
{
    uint64_t claimed = __atomic_load_n(&death_claimed_ms, __ATOMIC_ACQUIRE);
    uint64_t now = ts_mono_ms();
    /* (a claim that lost its race may have noted a later time meanwhile) */
    return now < claimed || now - claimed < TS_DEATH_ECHO_MS;
}

/* sig at its default action again. */
static void default_back(int sig)
{
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    (void)TS_REAL(sigaction)(sig, &dfl, NULL);
}

void ts_death_now(int sig)
{
    default_back(sig);
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, sig);
    (void)pthread_sigmask(SIG_UNBLOCK, &one, NULL);
    (void)TS_REAL(syscall)(SYS_tgkill, getpid(), TS_REAL(syscall)(SYS_gettid), sig);
}

bool ts_death_after_exec(int sig)
{
    if (!__atomic_load_n(&ts_death_execs_in_flight, __ATOMIC_ACQUIRE))
        return false;
    default_back(sig);
    (void)TS_REAL(syscall)(SYS_kill, getpid(), sig);
    return true;
}

void ts_death_due(int sig)
{
    int pending = __atomic_load_n(&ts_death_pending, __ATOMIC_ACQUIRE);
    if (__builtin_expect(pending == 0, 1) || ts_process_foreign())
        return;
    int dying = pending < 0 ? -pending : pending;
    if (sig && sig != dying)
        return;
    if (pending > 0 && ts_death_claim(dying, pending)) {
        if (ts_death_carry_out)
            ts_death_carry_out(dying);
        ts_death_now(dying);
        return;
    }
    /* another thread carries it out: its signal ends this one too */
    struct timespec ms = {0, 1000000L};
    for (unsigned waited = 0; waited < ts_cfg.exit_timeout_ms + 1000; waited++)
        (void)nanosleep(&ms, NULL);
    ts_death_now(dying);
}

/* Is a stop signal pending for the process, blocked here, that the
 * shim's handler is to take? */
static bool stop_signal_on_its_way(void)
{
    sigset_t pending;
    if (!ts_death_handler || sigpending(&pending) != 0)
        return false;
    for (size_t i = 0; i < TS_STOP_SIGNALS; i++) {
        struct sigaction now;
        int sig = ts_stop_signals[i];
        if (sigismember(&pending, sig) == 1 && TS_REAL(sigaction)(sig, NULL, &now) == 0 &&
            now.sa_handler == ts_death_handler)
            return true;
    }
    return false;
}

/* Cold: at an exec or the process's end (a forked child's _exit too). */
__attribute__((cold)) void ts_death_awaited(void)
{
    struct timespec ms = {0, 1000000L};
    for (int i = 0; i < 50 && !__atomic_load_n(&ts_death_pending, __ATOMIC_ACQUIRE) &&
                    stop_signal_on_its_way();
         i++)
        (void)nanosleep(&ms, NULL);
    ts_death_due(0);
}

TS_FORK_HANDLER void ts_death_after_fork(void)
{
    if (__atomic_load_n(&ts_death_pending, __ATOMIC_RELAXED))
        __atomic_store_n(&ts_death_pending, 0, __ATOMIC_RELAXED);
    if (__atomic_load_n(&death_put_offs, __ATOMIC_RELAXED))
        __atomic_store_n(&death_put_offs, 0, __ATOMIC_RELAXED);
}
