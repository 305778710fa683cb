/* own_fd.c — see own_fd.h. */
#include "own_fd.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../preload/clock.h"
#include "../preload/fd_split.h"
#include "../preload/fork_state.h"
#include "../preload/real.h"

/* What the hooks see of the shim's fds: a few entries (the span file and a
 * socket per network exporter and for the sampling strategy), found by
 * number. An entry belongs to one ts_own_fd from adopt to forget/close. */
#define OWN_SLOTS 16
#define OWN_TAKEN_WAIT_MS 200

struct own_slot {
    atomic_bool used;  /* claimed by a ts_own_fd */
    atomic_int fd;     /* the number, -1 while none */
    atomic_bool taken; /* the program closed or replaced it (set by a hook) */
    atomic_int busy;   /* how many of the shim's system calls on it are under way */
};

static struct own_slot own_slots[OWN_SLOTS] TS_FORK_STATE;

/* Bit n is set when an entry may hold a number whose low six bits are n:
 * the hooks' close and dup2 ask about every fd the program closes (nginx
 * closes a file per request), and nearly always the answer is no, found
 * here with one load instead of a walk over every entry. Set before an
 * entry gets its number; recomputed when one lets go of its number (both
 * under own_slots_lock), so a bit is never clear while an entry holds a
 * number that maps to it. */
static _Atomic uint64_t own_fd_bits;

/* The entries' numbers and the bits change under this lock: a number
 * given to an entry while another lets go of its own (the reporter's
 * export and a program's thread keeping the span file before it gives its
 * access up, file_exporter.h ts_file_export_keep) could otherwise lose its
 * bit to the other's recompute. Held for a few stores, never across a
 * system call; a holder interrupted by a signal whose handler comes here
 * on the same thread is not waited for past OWN_LOCK_WAIT_MS (the bit then
 * rests on the fstat check alone, as for an fd without an entry). */
static atomic_bool own_slots_lock TS_FORK_STATE;
#define OWN_LOCK_WAIT_MS 50

static bool own_lock(void)
{
    uint64_t deadline = 0;
    for (unsigned i = 0; atomic_exchange_explicit(&own_slots_lock, true, memory_order_acquire);
         i++) {
        /* a holder off the processor: yield to it, for a while */
        if (i % 64 == 63 && !ts_still_waiting(&deadline, OWN_LOCK_WAIT_MS))
            return false;
        sched_yield();
    }
    return true;
}

static void own_unlock(bool locked)
{
    if (locked)
        atomic_store_explicit(&own_slots_lock, false, memory_order_release);
}

static uint64_t own_fd_bit(int fd)
{
    return (uint64_t)1 << ((unsigned)fd & 63);
}

static void own_fd_bits_recompute(void)
{
    uint64_t bits = 0;
    for (int i = 0; i < OWN_SLOTS; i++) {
        int fd = atomic_load(&own_slots[i].fd);
        if (fd >= 0)
            bits |= own_fd_bit(fd);
    }
    atomic_store(&own_fd_bits, bits);
}

/* The bits of the numbers first..last (mod 64): every bit when the range
 * covers 64 numbers or more. */
static uint64_t own_fd_range_bits(unsigned first, unsigned last)
{
    unsigned count = last - first + 1;
    if (last < first || count == 0 || count >= 64)
        return ~(uint64_t)0;
    uint64_t run = ((uint64_t)1 << count) - 1;
    unsigned shift = first & 63;
    return shift ? run << shift | run >> (64 - shift) : run;
}

/* The end of a call on the number: never below zero (a child forked in
 * the middle of one, from a signal handler, starts at zero and then ends
 * it: ts_own_fd_after_fork). */
static void slot_call_done(struct own_slot *s)
{
    int busy = atomic_load(&s->busy);
    while (busy > 0 && !atomic_compare_exchange_weak(&s->busy, &busy, busy - 1)) {
        /* busy reloaded */
    }
}

/* The start of a call of the shim's on the number: false (and no call
 * under way) when the program has taken it. The call is announced, then
 * the program's mark looked for; the hook marks, then looks for the
 * announcement (both sequentially consistent): one of the two sees the
 * other, so either the shim stays off the number or the program's close
 * waits until the call is over. */
static bool slot_call_start(struct own_slot *s)
{
    atomic_fetch_add(&s->busy, 1);
    if (!atomic_load(&s->taken))
        return true;
    slot_call_done(s);
    return false;
}

static struct own_slot *slot_of(const struct ts_own_fd *o)
{
    return o->slot > 0 && o->slot <= OWN_SLOTS ? &own_slots[o->slot - 1] : NULL;
}

/* Claim an entry for o (keeps the one it has). No entry free: o works
 * without, protected by the fstat check alone. */
static void slot_claim(struct ts_own_fd *o)
{
    if (slot_of(o))
        return;
    for (int i = 0; i < OWN_SLOTS; i++) {
        bool expected = false;
        if (atomic_compare_exchange_strong(&own_slots[i].used, &expected, true)) {
            atomic_store(&own_slots[i].fd, -1);
            o->slot = i + 1;
            return;
        }
    }
}

static void slot_release(struct ts_own_fd *o)
{
    struct own_slot *s = slot_of(o);
    o->slot = 0;
    if (!s)
        return;
    bool locked = own_lock();
    atomic_store(&s->fd, -1);
    own_fd_bits_recompute();
    own_unlock(locked);
    atomic_store(&s->taken, false);
    atomic_store(&s->busy, 0);
    atomic_store(&s->used, false);
}

int ts_own_fd_adopt(struct ts_own_fd *o, int fd)
{
    o->fd = -1;
    if (fd < 0)
        return -1;
    if (fd <= STDERR_FILENO) {
        int moved = TS_REAL(fcntl)(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
        int err = errno;
        TS_REAL(close)(fd);
        if (moved < 0) {
            errno = err;
            return -1;
        }
        fd = moved;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int err = errno;
        TS_REAL(close)(fd);
        errno = err;
        return -1;
    }
    o->fd = fd;
    o->dev = st.st_dev;
    o->ino = st.st_ino;
    if (ts_fd_split_here) {
        /* In a table of the shim's own (fd_split.h): no program call can
         * reach the number, and the program's numbers are not ours to
         * watch. */
        slot_release(o);
        return 0;
    }
    slot_claim(o);
    struct own_slot *s = slot_of(o);
    if (s) {
        atomic_store(&s->taken, false);
        bool locked = own_lock();
        atomic_fetch_or(&own_fd_bits, own_fd_bit(fd));
        atomic_store(&s->fd, fd);
        own_unlock(locked);
        /* A close of the program's that came between the open and the line
         * above was not seen by the hooks: look again now that they see it. */
        if (!ts_own_fd_valid(o)) {
            ts_own_fd_forget(o);
            errno = EBADF;
            return -1;
        }
    }
    return 0;
}

bool ts_own_fd_valid(const struct ts_own_fd *o)
{
    struct stat st;
    if (o->fd < 0)
        return false;
    struct own_slot *s = slot_of(o);
    if (s && atomic_load(&s->taken))
        return false;
    if (fstat(o->fd, &st) != 0)
        return false;
    return st.st_dev == o->dev && st.st_ino == o->ino;
}

bool ts_own_fd_begin(struct ts_own_fd *o)
{
    if (o->fd < 0) {
        errno = EBADF;
        return false;
    }
    struct own_slot *s = slot_of(o);
    if (s && !slot_call_start(s)) {
        ts_own_fd_forget(o);
        errno = EBADF;
        return false;
    }
    return true;
}

void ts_own_fd_end(struct ts_own_fd *o)
{
    struct own_slot *s = slot_of(o);
    if (s)
        slot_call_done(s);
}

int ts_own_fd_copy(const struct ts_own_fd *o)
{
    if (o->fd < 0) {
        errno = EBADF;
        return -1;
    }
    /* As ts_own_fd_begin, without forgetting o when the number is taken:
     * o is its owner's, who may still be using it. */
    struct own_slot *s = slot_of(o);
    if (s && !slot_call_start(s)) {
        errno = EBADF;
        return -1;
    }
    int fd = ts_fd_split_here ? ts_fd_split_borrow(o->fd)
                              : TS_REAL(fcntl)(o->fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
    int err = fd < 0 ? (ts_fd_split_here ? EBADF : errno) : 0;
    if (s)
        slot_call_done(s);
    if (fd < 0) {
        errno = err;
        return -1;
    }
    /* A number closed or replaced behind the hooks' back (a raw system
     * call) is someone else's file now: not what o opened. */
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_dev != o->dev || st.st_ino != o->ino) {
        TS_REAL(close)(fd);
        errno = EBADF;
        return -1;
    }
    return fd;
}

/* Cold: rare (an exporter's socket or file closed), and a forked child's
 * handler calls it, where a page of hot code would fault in. */
__attribute__((cold)) void ts_own_fd_close(struct ts_own_fd *o)
{
    if (o->fd < 0 && !o->slot)
        return; /* nothing held (a forked child's): no call into hot code */
    if (ts_own_fd_valid(o) && ts_own_fd_begin(o)) {
        TS_REAL(close)(o->fd);
        ts_own_fd_end(o);
    }
    ts_own_fd_forget(o);
}

void ts_own_fd_forget(struct ts_own_fd *o)
{
    if (o->fd < 0 && !o->slot)
        return; /* nothing held: no store (a forked child's page stays shared) */
    o->fd = -1;
    slot_release(o);
}

bool ts_own_fd_among(unsigned first, unsigned last)
{
    if (!(atomic_load_explicit(&own_fd_bits, memory_order_acquire) &
          own_fd_range_bits(first, last)))
        return false;
    for (int i = 0; i < OWN_SLOTS; i++) {
        int fd = atomic_load_explicit(&own_slots[i].fd, memory_order_relaxed);
        if (fd >= 0 && (unsigned)fd >= first && (unsigned)fd <= last &&
            atomic_load_explicit(&own_slots[i].used, memory_order_relaxed))
            return true;
    }
    return false;
}

void ts_own_fd_taken(unsigned first, unsigned last)
{
    for (int i = 0; i < OWN_SLOTS; i++) {
        struct own_slot *s = &own_slots[i];
        if (!atomic_load(&s->used))
            continue;
        int fd = atomic_load(&s->fd);
        if (fd < 0 || (unsigned)fd < first || (unsigned)fd > last)
            continue;
        atomic_store(&s->taken, true);
        /* The reporter thread is in one short call on the number: let it
         * finish. Bounded all the same, should it be stuck (a span file on
         * a hung network file system). */
        uint64_t deadline = 0;
        while (atomic_load(&s->busy) > 0 && ts_still_waiting(&deadline, OWN_TAKEN_WAIT_MS))
            sched_yield();
    }
}

TS_FORK_HANDLER void ts_own_fd_after_fork(void)
{
    /* a thread of the parent's may have held it: the child has one thread */
    TS_FORK_RESET(&own_slots_lock, false);
    for (int i = 0; i < OWN_SLOTS; i++)
        if (atomic_load(&own_slots[i].busy))
            atomic_store(&own_slots[i].busy, 0);
}
