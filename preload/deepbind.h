/* deepbind.h — libraries loaded with dlopen(..., RTLD_DEEPBIND): their
 * calls to the functions the shim interposes are bound back to the shim.
 *
 * Why: such a library binds its undefined symbols in its own dependencies
 * first, so its calls to connect, send or read go to the C library and
 * never reach a hook. PHP loads every extension so (php-curl: Guzzle and
 * most PHP HTTP clients). After the real dlopen, each object that call
 * loaded has the slots of its global offset table (JUMP_SLOT and GLOB_DAT
 * relocations) that name a function the shim exports, and that hold the
 * very function that hook stands in front of (dlsym(RTLD_NEXT) from the
 * shim), pointed at the hook instead: what the loader would have bound
 * them to without RTLD_DEEPBIND. A slot the loader has not filled yet
 * (lazy binding) is judged by what the call's handle answers, in the
 * objects it holds (deepbind_objects.h), and else left to the loader. A
 * slot that holds a definition of the library's own, or of another
 * dependency of its, is left as it is (that is what RTLD_DEEPBIND is
 * for); so is one of an object that binds through the global scope (it
 * holds the hook already), which makes it harmless that "loaded by that
 * call" means "not there before it" (another thread may load one
 * meanwhile). TLS functions the global scope does not define: see
 * deepbind.c's resolved_per_site.
 *
 * The dlopen hook (hooks/dl_hooks.c) must not change which object called
 * dlopen: the loader finds a bare name in the caller's RPATH and RUNPATH
 * and expands $ORIGIN for it. So every call it does not take goes to the
 * real dlopen by a tail jump, with the caller's return address, and it
 * takes only those that RTLD_DEEPBIND asks for and that name a path
 * (a '/', no '$'): their answer is the same whoever calls. */
#ifndef TS_DEEPBIND_H
#define TS_DEEPBIND_H

#include <stdbool.h>

/* The C library's dlopen, for the shim's own libraries (libcrypto,
 * libunwind, the TLS libraries' handles): the name dlopen is a hook. */
void *ts_real_dlopen(const char *file, int flags);

/* The real dlopen, for the hook's entry (hooks/dl_hooks.c), which jumps
 * to it with its caller's registers; set by ts_dlopen_resolve. */
extern void *(*ts_dlopen_next)(const char *, int);

/* Sets ts_dlopen_next (once) and returns it. */
void *(*ts_dlopen_resolve(void))(const char *, int);

/* In a fork's child: the lock of the binding's stores let go (the thread
 * that held it is not in the child). */
void ts_deepbind_after_fork(void);

/* The real dlopen, then the slots of each object it loaded bound back to
 * the shim's hooks (above). errno and dlerror() as the real call left
 * them. */
void *ts_dlopen_deepbind(const char *file, int flags);

#endif
