/* symbolize.h — call stacks from raw addresses to names, on the reporter
 * side (TRACESHIM_STACKS).
 *
 * A span's frames (preload/stacks.h) become two attributes of the
 * OpenTelemetry conventions, so every exporter carries them unchanged:
 * code.stacktrace, one frame per line ("#0 fetch_inventory+0x1d
 * (/usr/local/bin/shop)"), and code.function, the first frame's function.
 * Names come from dladdr (exported symbols) and, for the rest (static
 * functions, executables linked without -rdynamic), from the module file's
 * ELF .symtab, read once per module through a small cache.
 *
 * Never called on the program's threads while it runs: the reporter thread
 * calls it, or the exit flush. Not thread-safe: one caller at a time (the
 * reporter's export mutex). */
#ifndef TS_SYMBOLIZE_H
#define TS_SYMBOLIZE_H

#include <stddef.h>
#include <stdint.h>

#include "../preload/span.h"

/* One frame, resolved. Strings point into the symbolizer's cache: valid
 * until the next call. */
struct ts_sym_frame {
    const char *module; /* path of the file mapped there; NULL: unknown */
    const char *func;   /* NULL: no symbol covers the address */
    size_t func_len;
    uintptr_t offset; /* from the function's start; or, without func, the
                       * module-relative address (as addr2line wants it) */
};

/* Resolve a return address (the symbol looked up is that of ip - 1, the
 * call instruction). */
void ts_sym_resolve(uintptr_t ip, struct ts_sym_frame *out);

/* Write the stack text of ips[0..n) into out[0..cap): whole lines only,
 * a last line "(N more frames)" when some did not fit and that note does. Returns its
 * length (no NUL is written). The first frame's function is copied to
 * func[0..func_cap) (NUL-terminated; empty when unknown). */
size_t ts_sym_stack_text(const uintptr_t *ips, size_t n, char *out, size_t cap, char *func,
                         size_t func_cap);

/* Turn s's frames into code.function and code.stacktrace (as much of the
 * stack as the span's string buffer has room for), then forget them. */
void ts_sym_attach(struct ts_span *s);

/* Forget the module cache (unmaps the files read). */
void ts_sym_reset(void);

#endif
