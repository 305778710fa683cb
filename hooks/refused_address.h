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

static inline bool ts_address_refused(const void *p)
{
    return (uintptr_t)p < TS_LOWEST_ADDRESS;
}

#endif
