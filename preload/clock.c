/* clock.c — the kernel's clocks, read without libc's clock_gettime (see
 * clock.h), and the wall-clock time of a span's moment. */
#include "clock.h"

#include <elf.h>
#include <link.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>

#include "fork_state.h"
#include "real.h"

#if defined(__x86_64__)
#define CLOCK_VDSO_NAME "__vdso_clock_gettime"
#elif defined(__aarch64__)
#define CLOCK_VDSO_NAME "__kernel_clock_gettime"
#endif

/* The vDSO's clock_gettime, looked up at start-up (ts_clock_look_up) or at
 * the first read before it; it stays NULL where there is none, and every
 * read is then a system call. With the fork handlers'
 * state: a forked child that reads a clock on its way out touches no
 * page more for it. */
ts_vdso_clock_fn ts_clock_vdso TS_FORK_STATE;
static bool clock_looked_up TS_FORK_STATE;

/* name's address in the vDSO mapped at base, or NULL. Its dynamic symbol
 * table is read through DT_HASH's count when there is one, else up to the
 * string table, which the linker puts right after it. (Not next_symbol.h's
 * tables: they are found through dl_iterate_phdr, which takes the
 * loader's lock, and a first read may come from a signal handler.) */
static void *vdso_symbol(uintptr_t base, const char *name)
{
    const ElfW(Ehdr) *eh = (const ElfW(Ehdr) *)base;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0)
        return NULL;
    const ElfW(Phdr) *ph = (const ElfW(Phdr) *)(base + eh->e_phoff);
    uintptr_t bias = 0;
    const ElfW(Dyn) *dyn = NULL;
    bool have_load = false;
    for (int i = 0; i < eh->e_phnum; i++) {
        if (ph[i].p_type == PT_LOAD && !have_load) {
            bias = base + ph[i].p_offset - ph[i].p_vaddr;
            have_load = true;
        } else if (ph[i].p_type == PT_DYNAMIC) {
            dyn = (const ElfW(Dyn) *)(base + ph[i].p_offset);
        }
    }
    if (!dyn || !have_load)
        return NULL;
    const ElfW(Sym) *sym = NULL;
    const char *str = NULL;
    const Elf32_Word *hash = NULL;
    for (; dyn->d_tag != DT_NULL; dyn++) {
        if (dyn->d_tag == DT_SYMTAB)
            sym = (const ElfW(Sym) *)(bias + dyn->d_un.d_ptr);
        else if (dyn->d_tag == DT_STRTAB)
            str = (const char *)(bias + dyn->d_un.d_ptr);
        else if (dyn->d_tag == DT_HASH)
            hash = (const Elf32_Word *)(bias + dyn->d_un.d_ptr);
    }
    if (!sym || !str)
        return NULL;
    size_t count = hash ? hash[1]
                   : (uintptr_t)str > (uintptr_t)sym
                       ? ((uintptr_t)str - (uintptr_t)sym) / sizeof *sym
                       : 0;
    for (size_t i = 0; i < count; i++)
        if (sym[i].st_shndx != SHN_UNDEF && ELF64_ST_TYPE(sym[i].st_info) == STT_FUNC &&
            strcmp(str + sym[i].st_name, name) == 0)
            return (void *)(bias + sym[i].st_value);
    return NULL;
}

void ts_clock_look_up(void)
{
    if (__atomic_load_n(&clock_looked_up, __ATOMIC_ACQUIRE))
        return;
#ifdef CLOCK_VDSO_NAME
    /* the same answer from any thread: a race is harmless */
    uintptr_t base = (uintptr_t)getauxval(AT_SYSINFO_EHDR);
    if (base)
        __atomic_store_n(&ts_clock_vdso, (ts_vdso_clock_fn)vdso_symbol(base, CLOCK_VDSO_NAME),
                         __ATOMIC_RELAXED);
#endif
    __atomic_store_n(&clock_looked_up, true, __ATOMIC_RELEASE);
}

void ts_clock_read_slow(clockid_t clock, struct timespec *ts)
{
    ts_clock_look_up();
    ts_vdso_clock_fn vdso = __atomic_load_n(&ts_clock_vdso, __ATOMIC_RELAXED);
    if (!vdso || vdso(clock, ts) != 0)
        TS_REAL(syscall)(SYS_clock_gettime, clock, ts);
}

/* The wall clock's lead over the moments' clock (modulo 2^64), and the
 * moment it was read at (0: never). A thread that finds it stale reads it
 * again; two doing so at once store near-equal values. */
static uint64_t wall_offset;
static uint64_t wall_offset_read_at;

/* Reads of the two clocks further apart than this (the thread was
 * preempted between them) are taken again, up to WALL_OFFSET_TRIES times:
 * the difference would place every span start of the next 100 ms early by
 * the delay. */
#define WALL_OFFSET_READS_APART_NS 20000
#define WALL_OFFSET_TRIES 4

/* The wall clock's lead, read between two moments (*at: their middle). */
static uint64_t wall_offset_read(uint64_t *at)
{
    uint64_t before, wall, after;
    int tries = 0;
    do {
        before = ts_moment_ns();
        wall = ts_now_ns();
        after = ts_moment_ns();
    } while (after - before > WALL_OFFSET_READS_APART_NS && ++tries < WALL_OFFSET_TRIES);
    *at = before + (after - before) / 2;
    return wall - *at;
}

uint64_t ts_wall_ns_at(uint64_t moment)
{
    uint64_t read_at = __atomic_load_n(&wall_offset_read_at, __ATOMIC_ACQUIRE);
    if (__builtin_expect(read_at == 0 ||
                             (moment > read_at && moment - read_at > TS_WALL_OFFSET_MAX_AGE_NS),
                         0)) {
        uint64_t now, offset = wall_offset_read(&now);
        __atomic_store_n(&wall_offset, offset, __ATOMIC_RELAXED);
        __atomic_store_n(&wall_offset_read_at, now, __ATOMIC_RELEASE);
        return moment + offset;
    }
    return moment + __atomic_load_n(&wall_offset, __ATOMIC_RELAXED);
}
