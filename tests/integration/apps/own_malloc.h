/* own_malloc.h — a probe's own malloc family in front of glibc's (its
 * __libc_* functions), as programs with an allocator of their own have
 * it: the shim's allocations come here too. Every allocation, and every
 * free of a block, first calls own_malloc_enter(), which the probe
 * defines before it includes this file. Header-only, like probe.h. */
#ifndef OWN_MALLOC_H
#define OWN_MALLOC_H

#include <stddef.h>

static void own_malloc_enter(void);

extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void *__libc_memalign(size_t align, size_t n);
extern void __libc_free(void *p);

void *malloc(size_t n)
{
    own_malloc_enter();
    return __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
    own_malloc_enter();
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
    own_malloc_enter();
    return __libc_realloc(p, n);
}

void free(void *p)
{
    if (p)
        own_malloc_enter();
    __libc_free(p);
}

void *memalign(size_t align, size_t n)
{
    own_malloc_enter();
    return __libc_memalign(align, n);
}

void *aligned_alloc(size_t align, size_t n)
{
    return memalign(align, n);
}

int posix_memalign(void **out, size_t align, size_t n)
{
    void *p = memalign(align, n);
    if (!p)
        return 12; /* ENOMEM */
    *out = p;
    return 0;
}

#endif
