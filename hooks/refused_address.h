/* refused_address.h — the program's pointers the hooks must not read.
 *
 * A buffer, iovec array, message or environment a program passes at an
 * address in the zero page (NULL, or a field of a NULL struct) is one the
 * kernel refuses with EFAULT. A hook that would read it first (to parse,
 * rewrite or copy) passes the call on instead, so that the program gets
 * the kernel's answer rather than a crash in the shim. Any other bad
 * address is read by the shim before the kernel could refuse it: a
 * program that passes one has a bug the shim cannot see. */
#ifndef TS_REFUSED_ADDRESS_H
#define TS_REFUSED_ADDRESS_H

#include <stdbool.h>
#include <stdint.h>

#define TS_LOWEST_ADDRESS 4096

/* p, as the compiler cannot see through: glibc declares some of the
 * pointers the hooks are given nonnull (exec's path and argv), and GCC
 * would fold a test of one for NULL away. */
static inline const void *ts_address_opaque(const void *p)
{
    __asm__("" : "+r"(p));
    return p;
}

static inline bool ts_address_refused(const void *p)
{
    return (uintptr_t)ts_address_opaque(p) < TS_LOWEST_ADDRESS;
}

#endif
