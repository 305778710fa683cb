/* loaded_objects.c — which loaded object holds an address (see
 * loaded_objects.h). */
#include "loaded_objects.h"

#include <link.h>

struct lookup {
    const void *const *addrs;
    ts_object_id *ids;
    size_t n;
    size_t left; /* addresses not found yet */
};

bool ts_object_info_holds(const struct dl_phdr_info *info, uintptr_t addr)
{
    for (ElfW(Half) p = 0; p < info->dlpi_phnum; p++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[p];
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && addr >= lo && addr - lo < ph->p_memsz)
            return true;
    }
    return false;
}

/* One object: claim the addresses that lie in one of its loaded segments. */
static int claim_addresses(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct lookup *l = arg;
    ts_object_id id = 0;
    for (int p = 0; p < info->dlpi_phnum; p++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[p];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        if (!id || lo < id)
            id = lo;
    }
    for (size_t i = 0; i < l->n; i++) {
        if (!l->ids[i] && ts_object_info_holds(info, (uintptr_t)l->addrs[i])) {
            l->ids[i] = id;
            l->left--;
        }
    }
    return l->left == 0; /* nonzero ends the walk */
}

void ts_objects_of(const void *const *addrs, ts_object_id *ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ids[i] = 0;
    struct lookup l = {addrs, ids, n, n};
    if (n)
        dl_iterate_phdr(claim_addresses, &l);
}

bool ts_object_holds_all(const void *home, const void *const *addrs, size_t n)
{
    /* home and up to BATCH addresses in each walk, home first. */
    enum { BATCH = 32 };
    const void *batch[1 + BATCH];
    ts_object_id ids[1 + BATCH];
    batch[0] = home;
    for (size_t done = 0;; done += BATCH) {
        size_t take = n - done < BATCH ? n - done : BATCH;
        for (size_t i = 0; i < take; i++)
            batch[1 + i] = addrs[done + i];
        ts_objects_of(batch, ids, 1 + take);
        if (!ids[0])
            return false;
        for (size_t i = 0; i < take; i++)
            if (ids[1 + i] != ids[0])
                return false;
        if (done + take >= n)
            return true;
    }
}
