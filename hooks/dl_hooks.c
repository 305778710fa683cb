/* dl_hooks.c — dlopen: a library loaded with RTLD_DEEPBIND has its calls
 * bound back to the hooks (preload/deepbind.h).
 *
 * Written in assembly, not C: every dlopen the shim does not take must
 * reach the C library's with the caller's own return address, by which
 * the loader knows who called (a bare name is searched in the caller's
 * RPATH and RUNPATH, $ORIGIN is the caller's folder), and C cannot promise
 * a tail call. The entry asks ts_dlopen_route with the caller's arguments,
 * puts them back, and jumps: to ts_dlopen_deepbind, which then returns to
 * the caller itself, or to the real dlopen. Only on x86-64; elsewhere
 * dlopen is not interposed and such libraries are not traced. */
#include <dlfcn.h>
#include <stdbool.h>
#include <string.h>

#include "../preload/config.h"
#include "../preload/deepbind.h"
#include "../preload/init.h"

#if defined(__x86_64__)
/* Should this dlopen go through ts_dlopen_deepbind (true) or straight to
 * ts_dlopen_next? Sets ts_dlopen_next first. Called by the entry below. */
bool ts_dlopen_route(const char *file, int flags);

bool ts_dlopen_route(const char *file, int flags)
{
    ts_dlopen_resolve();
    /* a path with no '$': the loader neither searches the caller's RPATH
     * and RUNPATH for it nor expands $ORIGIN (or $LIB, $PLATFORM) with the
     * caller's */
    if (!(flags & RTLD_DEEPBIND) || !file || !strchr(file, '/') || strchr(file, '$'))
        return false;
    /* the shim started first, as the other hooks start it: a library the
     * program links may load one so from its constructor, before the
     * shim's own has run */
    if (!__atomic_load_n(&ts_active, __ATOMIC_ACQUIRE) && !ts_guard_active())
        ts_init();
    return __atomic_load_n(&ts_active, __ATOMIC_ACQUIRE) && ts_cfg.deepbind;
}

__asm__(".text\n"
        ".globl dlopen\n"
        ".type dlopen, @function\n"
        "dlopen:\n"
        ".cfi_startproc\n"
        "    endbr64\n"
        "    push %rdi\n" /* file and flags, kept across the call */
        ".cfi_adjust_cfa_offset 8\n"
        "    push %rsi\n"
        ".cfi_adjust_cfa_offset 8\n"
        "    sub $8, %rsp\n" /* the stack 16-byte aligned at the call */
        ".cfi_adjust_cfa_offset 8\n"
        "    call ts_dlopen_route\n"
        "    add $8, %rsp\n"
        ".cfi_adjust_cfa_offset -8\n"
        "    pop %rsi\n"
        ".cfi_adjust_cfa_offset -8\n"
        "    pop %rdi\n"
        ".cfi_adjust_cfa_offset -8\n"
        "    test %al, %al\n"
        "    jnz 1f\n"
        "    jmp *ts_dlopen_next(%rip)\n"
        "1:  jmp ts_dlopen_deepbind\n"
        ".cfi_endproc\n"
        ".size dlopen, .-dlopen\n");
#endif
