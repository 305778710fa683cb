/* self_image.c — this module's segments in memory (see self_image.h). */
#include "self_image.h"

#include <link.h>
#include <string.h>

/* Defined by the linker: the first byte of the module's ELF header, which
 * the first loaded segment maps. */
extern const char __ehdr_start[] __attribute__((visibility("hidden")));

static ElfW(Phdr) phdr_at(const ElfW(Ehdr) *eh, int i)
{
    ElfW(Phdr) ph;
    memcpy(&ph, __ehdr_start + eh->e_phoff + (size_t)i * sizeof ph, sizeof ph);
    return ph;
}

unsigned ts_self_segments(struct ts_self_segment *out, unsigned max)
{
    ElfW(Ehdr) eh;
    memcpy(&eh, __ehdr_start, sizeof eh);
    /* The load bias: where the segment holding the header (file offset 0)
     * landed, against the address the headers say. */
    uintptr_t bias = 0;
    int i;
    for (i = 0; i < eh.e_phnum; i++) {
        ElfW(Phdr) ph = phdr_at(&eh, i);
        if (ph.p_type == PT_LOAD && ph.p_offset == 0) {
            bias = (uintptr_t)__ehdr_start - ph.p_vaddr;
            break;
        }
    }
    if (i == eh.e_phnum)
        return 0;
    unsigned n = 0;
    for (i = 0; i < eh.e_phnum; i++) {
        ElfW(Phdr) ph = phdr_at(&eh, i);
        if (ph.p_type != PT_LOAD)
            continue;
        if (n < max)
            out[n] = (struct ts_self_segment){bias + ph.p_vaddr, bias + ph.p_vaddr + ph.p_memsz,
                                              ph.p_flags};
        n++;
    }
    return n;
}

bool ts_self_segments_hold(const struct ts_self_segment *seg, unsigned n, const void *p)
{
    for (unsigned i = 0; i < n; i++)
        if ((uintptr_t)p >= seg[i].lo && (uintptr_t)p < seg[i].hi)
            return true;
    return false;
}

bool ts_self_holds(const void *p)
{
    struct ts_self_segment seg[TS_SELF_SEGMENTS_MAX];
    unsigned n = ts_self_segments(seg, TS_SELF_SEGMENTS_MAX);
    return ts_self_segments_hold(seg, n < TS_SELF_SEGMENTS_MAX ? n : TS_SELF_SEGMENTS_MAX, p);
}
