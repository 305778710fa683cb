/* deep_bind.c — dlopen with RTLD_DEEPBIND, and the calls it would hide.
 *
 * The objects a deep-bound dlopen loads look symbols up in their own
 * dependencies before the global scope, where the preloaded shim is: a
 * PHP extension's libcurl (PHP loads every extension so) binds connect,
 * send, recv and SSL_write to libc's and libssl's own, and its requests
 * never reach a hook. After such a load, the relocations of the new
 * objects that name a function the shim interposes, and that they do not
 * define themselves, are pointed at what the global lookup answers (the
 * shim's hook, or an interposer preloaded before it): as a dlopen without
 * RTLD_DEEPBIND would have bound them. A name an object defines itself
 * keeps its own definition, which is what RTLD_DEEPBIND asks for.
 *
 * Every other dlopen goes to the C library's by a jump (the hook is a few
 * instructions of assembly): the loader takes the caller's object from
 * the return address (its RUNPATH, $ORIGIN, its namespace), which must
 * stay the program's. So does a deep
 * one whose file is not a path free of '$' (the loader would read it
 * against the shim's object); those stay as they were. */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../preload/init.h"
#include "../preload/loaded_objects.h"
#include "../preload/next_symbol.h"
#include "../preload/real.h"
#include "../preload/self_image.h"

#if defined(__x86_64__)
#define DEEP_JUMP_SLOT R_X86_64_JUMP_SLOT
#define DEEP_GLOB_DAT R_X86_64_GLOB_DAT
#elif defined(__aarch64__)
#define DEEP_JUMP_SLOT R_AARCH64_JUMP_SLOT
#define DEEP_GLOB_DAT R_AARCH64_GLOB_DAT
#endif

#ifdef DEEP_JUMP_SLOT

/* The objects a dlopen may have added: the loader lists them in load
 * order, the new ones last. */
#define DEEP_OBJECTS_MAX 1024

struct object_list {
    unsigned n;
    struct dl_phdr_info info[DEEP_OBJECTS_MAX];
};

static int list_one(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct object_list *l = arg;
    if (l->n == DEEP_OBJECTS_MAX)
        return 1;
    l->info[l->n++] = *info;
    return 0;
}

/* The shim's own symbol table: the names it defines are those it
 * interposes (traceshim.map exports nothing else but its version). */
static int find_self(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    if (!ts_object_info_holds(info, (uintptr_t)&find_self))
        return 0;
    return ts_symbol_table_read(info, arg) ? 1 : -1;
}

/* Where a slot of an object lies within its PT_GNU_RELRO (read-only once
 * relocated): [*lo, *hi), empty without one. */
static void relro_of(const struct dl_phdr_info *info, uintptr_t *lo, uintptr_t *hi)
{
    *lo = *hi = 0;
    for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++)
        if (info->dlpi_phdr[i].p_type == PT_GNU_RELRO) {
            *lo = info->dlpi_addr + info->dlpi_phdr[i].p_vaddr;
            *hi = *lo + info->dlpi_phdr[i].p_memsz;
        }
}

/* *slot = to, through a writable mapping of its page when it lies in the
 * object's read-only relocations. An aligned word's store: a thread
 * calling through the slot meanwhile takes the old function or the new. */
static void slot_set(void **slot, void *to, uintptr_t relro_lo, uintptr_t relro_hi)
{
    uintptr_t at = (uintptr_t)slot;
    if (at < relro_lo || at >= relro_hi) {
        __atomic_store_n(slot, to, __ATOMIC_RELAXED);
        return;
    }
    uintptr_t page = at & ~((uintptr_t)sysconf(_SC_PAGESIZE) - 1);
    size_t len = (size_t)sysconf(_SC_PAGESIZE);
    if (mprotect((void *)page, len, PROT_READ | PROT_WRITE) != 0)
        return; /* left as it was bound */
    __atomic_store_n(slot, to, __ATOMIC_RELAXED);
    mprotect((void *)page, len, PROT_READ);
}

/* The relocations [rel, rel + size) of one object: those of a function
 * slot (the PLT's, and a function's address taken) whose symbol the
 * object does not define and the shim does, bound as the global lookup
 * binds it. */
static void rebind_relocs(const struct dl_phdr_info *info, const ElfW(Rela) * rel, size_t size,
                          const ElfW(Sym) * syms, const char *names,
                          const struct ts_symbol_table *self, uintptr_t relro_lo,
                          uintptr_t relro_hi)
{
    for (size_t i = 0; i < size / sizeof *rel; i++) {
        unsigned long type = ELF64_R_TYPE(rel[i].r_info);
        if (type != DEEP_JUMP_SLOT && type != DEEP_GLOB_DAT)
            continue;
        const ElfW(Sym) *sym = &syms[ELF64_R_SYM(rel[i].r_info)];
        if (sym->st_shndx != SHN_UNDEF || !sym->st_name)
            continue; /* its own, as RTLD_DEEPBIND asks */
        const char *name = names + sym->st_name;
        if (!ts_symbol_defined(self, name))
            continue;
        void *global = dlsym(RTLD_DEFAULT, name);
        void **slot = (void **)(info->dlpi_addr + rel[i].r_offset);
        if (global && *slot != global)
            slot_set(slot, global, relro_lo, relro_hi);
    }
}

/* One object a deep-bound dlopen loaded. */
static void rebind_object(const struct dl_phdr_info *info, const struct ts_symbol_table *self)
{
    const ElfW(Sym) *syms = NULL;
    const char *names = NULL;
    const ElfW(Rela) *plt = NULL, *rela = NULL;
    size_t plt_size = 0, rela_size = 0;
    bool plt_rela = true;
    for (const ElfW(Dyn) *d = ts_dynamic_of(info); d && d->d_tag != DT_NULL; d++) {
        switch (d->d_tag) {
        case DT_SYMTAB:
            syms = (const ElfW(Sym) *)ts_dyn_address(info, d->d_un.d_ptr);
            break;
        case DT_STRTAB:
            names = (const char *)ts_dyn_address(info, d->d_un.d_ptr);
            break;
        case DT_JMPREL:
            plt = (const ElfW(Rela) *)ts_dyn_address(info, d->d_un.d_ptr);
            break;
        case DT_PLTRELSZ:
            plt_size = d->d_un.d_val;
            break;
        case DT_PLTREL:
            plt_rela = d->d_un.d_val == DT_RELA;
            break;
        case DT_RELA:
            rela = (const ElfW(Rela) *)ts_dyn_address(info, d->d_un.d_ptr);
            break;
        case DT_RELASZ:
            rela_size = d->d_un.d_val;
            break;
        default:
            break;
        }
    }
    if (!syms || !names || !plt_rela)
        return;
    uintptr_t relro_lo, relro_hi;
    relro_of(info, &relro_lo, &relro_hi);
    if (plt)
        rebind_relocs(info, plt, plt_size, syms, names, self, relro_lo, relro_hi);
    if (rela)
        rebind_relocs(info, rela, rela_size, syms, names, self, relro_lo, relro_hi);
}

/* Is file one whose deep-bound load the shim follows: a path the loader
 * reads the same from any caller? */
static bool rebinds_after(const char *file)
{
    return file && strchr(file, '/') && !strchr(file, '$');
}

static __attribute__((noinline)) void *dlopen_deep(const char *file, int mode)
{
    static struct object_list before, after; /* under the lock below */
    static pthread_mutex_t deep_mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&deep_mu);
    before.n = 0;
    dl_iterate_phdr(list_one, &before);
    void *h = TS_REAL(dlopen)(file, mode);
    int saved = errno;
    struct ts_symbol_table self;
    if (h && before.n < DEEP_OBJECTS_MAX && dl_iterate_phdr(find_self, &self) == 1) {
        after.n = 0;
        dl_iterate_phdr(list_one, &after);
        /* the new ones: after the last of those listed before, as long as
         * no object before them went away meanwhile */
        unsigned same = 0;
        while (same < before.n && same < after.n &&
               before.info[same].dlpi_addr == after.info[same].dlpi_addr &&
               before.info[same].dlpi_phdr == after.info[same].dlpi_phdr)
            same++;
        if (same == before.n)
            for (unsigned i = same; i < after.n; i++)
                rebind_object(&after.info[i], &self);
    }
    pthread_mutex_unlock(&deep_mu);
    errno = saved;
    return h;
}

/* Which function the program's dlopen goes on to, its arguments as they
 * came: the C library's, or dlopen_deep. */
__attribute__((visibility("hidden"), used)) void *ts_dlopen_target(const char *file, int mode)
{
    if (__builtin_expect(!(mode & RTLD_DEEPBIND), 1) || !rebinds_after(file) || !ts_ready())
        return (void *)TS_REAL(dlopen);
    return (void *)dlopen_deep;
}

/* dlopen itself: asks ts_dlopen_target, then jumps there with the
 * arguments and the return address the program's call left, whatever the
 * compiler's optimisation (a C function's own call of the C library's
 * dlopen would make the shim the caller the loader sees). */
#if defined(__x86_64__)
__asm__(".text\n"
        ".globl dlopen\n"
        ".type dlopen, @function\n"
        "dlopen:\n"
        "    push %rdi\n"
        "    push %rsi\n"
        "    sub $8, %rsp\n" /* the call's stack 16-byte aligned */
        "    call ts_dlopen_target\n"
        "    add $8, %rsp\n"
        "    pop %rsi\n"
        "    pop %rdi\n"
        "    jmp *%rax\n"
        ".size dlopen, .-dlopen\n");
#elif defined(__aarch64__)
__asm__(".text\n"
        ".globl dlopen\n"
        ".type dlopen, %function\n"
        "dlopen:\n"
        "    stp x29, x30, [sp, #-32]!\n"
        "    stp x0, x1, [sp, #16]\n"
        "    bl ts_dlopen_target\n"
        "    mov x16, x0\n"
        "    ldp x0, x1, [sp, #16]\n"
        "    ldp x29, x30, [sp], #32\n"
        "    br x16\n"
        ".size dlopen, .-dlopen\n");
#endif

#endif
