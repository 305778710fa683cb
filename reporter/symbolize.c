/* symbolize.c — names for the frames of a call stack (see symbolize.h).
 *
 * Per frame: dladdr1 gives the module (its link map: path and load bias)
 * and, when the address lies inside an exported symbol, its name. For the
 * other addresses the module's file is read once: the function symbols of
 * its .symtab (section headers, symbol table, string table, with pread and
 * every offset checked against the file's size) become a sorted array
 * searched by address. Files are read, never mapped: a file rewritten
 * while the program runs must not be able to raise SIGBUS in it. Modules
 * without a .symtab (stripped) are remembered as such. */
#include "symbolize.h"

#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../preload/real.h"

#define SYM_MODULES 16                     /* modules whose symbols are kept */
#define SYM_PATH 1024                      /* longest module path shown */
#define SYM_MAX_TABLE ((uint64_t)64 << 20) /* a bigger .symtab/.strtab is not read */
#define SYM_FUNC_SHOWN 256                 /* a longer function name is cut */
#define SYM_ELFCLASS (__ELF_NATIVE_CLASS == 64 ? ELFCLASS64 : ELFCLASS32) /* our own files' */

/* A function symbol: link-time address, size, name (offset in the pool). */
struct sym_fn {
    uintptr_t addr;
    uint32_t size;
    uint32_t name;
};

struct sym_module {
    const struct link_map *lm; /* NULL: free slot */
    uintptr_t bias;            /* l_addr: run-time minus link-time address */
    char key[SYM_PATH];        /* l_name as the loader has it ("" for the program) */
    char path[SYM_PATH];       /* the file, as shown */
    struct sym_fn *fns;        /* sorted by addr; NULL: no .symtab */
    size_t nfns;
    char *pool;    /* the names, NUL-terminated */
    uint64_t used; /* for eviction: the least recently used goes */
};

static struct sym_module sym_modules[SYM_MODULES];
static uint64_t sym_tick;
static char sym_exe[SYM_PATH]; /* the program's path, from /proc/self/exe */

/* Copy src[0..len) to dst[0..cap) with a NUL after it: all of it, or as
 * much as fits and does not end in part of a UTF-8 character (a long C++
 * or Rust symbol, a path with UTF-8 names, cut inside a character, would
 * show its first bytes as U+FFFD in every exporter). cap >= 1. Returns the
 * length copied. */
static size_t sym_copy_cut(char *dst, size_t cap, const char *src, size_t len)
{
    if (len >= cap)
        len = ts_utf8_whole(src, cap - 1);
    memcpy(dst, src, len);
    dst[len] = 0;
    return len;
}

void ts_sym_reset(void)
{
    for (size_t i = 0; i < SYM_MODULES; i++) {
        free(sym_modules[i].fns);
        free(sym_modules[i].pool);
    }
    memset(sym_modules, 0, sizeof sym_modules);
    sym_exe[0] = 0;
}

/* ------------------------------------------------------- reading ELF */

/* Exactly len bytes at off, or false. */
static bool sym_pread(int fd, void *buf, size_t len, uint64_t off)
{
    char *p = buf;
    while (len > 0) {
        ssize_t r = pread(fd, p, len, (off_t)off);
        if (r <= 0)
            return false;
        p += r;
        len -= (size_t)r;
        off += (uint64_t)r;
    }
    return true;
}

/* A section wholly inside a file of `size` bytes and not absurdly big. */
static bool sym_section_ok(const ElfW(Shdr) * sh, uint64_t size)
{
    return sh->sh_offset <= size && sh->sh_size <= size - sh->sh_offset &&
           sh->sh_size <= SYM_MAX_TABLE;
}

static int sym_fn_cmp(const void *a, const void *b)
{
    const struct sym_fn *x = a, *y = b;
    if (x->addr != y->addr)
        return x->addr < y->addr ? -1 : 1;
    return x->size < y->size ? -1 : x->size > y->size; /* the sized one last */
}

/* Read the function symbols of fd's .symtab into m->fns / m->pool. */
static void sym_read_symtab(struct sym_module *m, int fd)
{
    struct stat st;
    ElfW(Ehdr) eh;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || !sym_pread(fd, &eh, sizeof eh, 0))
        return;
    uint64_t size = (uint64_t)st.st_size;
    if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != SYM_ELFCLASS ||
        eh.e_shentsize != sizeof(ElfW(Shdr)) || eh.e_shnum == 0 || eh.e_shnum >= SHN_LORESERVE ||
        eh.e_shoff > size || (uint64_t)eh.e_shnum * sizeof(ElfW(Shdr)) > size - eh.e_shoff)
        return;
    ElfW(Shdr) *sh = malloc((size_t)eh.e_shnum * sizeof *sh);
    ElfW(Sym) *syms = NULL;
    char *strtab = NULL;
    if (!sh || !sym_pread(fd, sh, (size_t)eh.e_shnum * sizeof *sh, eh.e_shoff))
        goto out;
    const ElfW(Shdr) *symtab = NULL, *strsec = NULL;
    for (size_t i = 0; i < eh.e_shnum && !symtab; i++)
        if (sh[i].sh_type == SHT_SYMTAB && sh[i].sh_entsize == sizeof(ElfW(Sym)) &&
            sh[i].sh_link < eh.e_shnum && sh[sh[i].sh_link].sh_type == SHT_STRTAB)
            symtab = &sh[i], strsec = &sh[sh[i].sh_link];
    if (!symtab || !sym_section_ok(symtab, size) || !sym_section_ok(strsec, size) ||
        strsec->sh_size == 0)
        goto out;
    size_t nsyms = symtab->sh_size / sizeof(ElfW(Sym)), strsize = strsec->sh_size;
    syms = malloc(nsyms * sizeof *syms + 1);
    strtab = malloc(strsize);
    if (!syms || !strtab || !sym_pread(fd, syms, nsyms * sizeof *syms, symtab->sh_offset) ||
        !sym_pread(fd, strtab, strsize, strsec->sh_offset))
        goto out;

    /* Count first: the arrays are allocated at their final size. */
    size_t nfns = 0, pool_len = 0;
    for (size_t i = 0; i < nsyms; i++) {
        unsigned type = ELF64_ST_TYPE(syms[i].st_info) /* the same for ELF32 */;
        if ((type != STT_FUNC && type != STT_GNU_IFUNC) || syms[i].st_shndx == SHN_UNDEF ||
            syms[i].st_value == 0 || syms[i].st_name == 0 || syms[i].st_name >= strsize) {
            syms[i].st_name = 0; /* skipped below */
            continue;
        }
        nfns++;
        pool_len += strnlen(strtab + syms[i].st_name, strsize - syms[i].st_name) + 1;
    }
    if (nfns == 0 || pool_len > UINT32_MAX)
        goto out;
    m->fns = malloc(nfns * sizeof *m->fns);
    m->pool = malloc(pool_len);
    if (!m->fns || !m->pool) {
        free(m->fns);
        free(m->pool);
        m->fns = NULL;
        m->pool = NULL;
        goto out;
    }
    size_t at = 0;
    for (size_t i = 0; i < nsyms; i++) {
        if (syms[i].st_name == 0)
            continue;
        const char *name = strtab + syms[i].st_name;
        size_t len = strnlen(name, strsize - syms[i].st_name);
        m->fns[m->nfns++] = (struct sym_fn){
            (uintptr_t)syms[i].st_value,
            syms[i].st_size > UINT32_MAX ? UINT32_MAX : (uint32_t)syms[i].st_size, (uint32_t)at};
        memcpy(m->pool + at, name, len);
        m->pool[at + len] = 0;
        at += len + 1;
    }
    qsort(m->fns, m->nfns, sizeof *m->fns, sym_fn_cmp);
out:
    free(sh);
    free(syms);
    free(strtab);
}

/* The function symbol whose range holds the link-time address v: among
 * the few last ones starting at or before v, the nearest that covers it (a
 * size-0 symbol, only when it is the nearest: it covers up to the next). */
static const struct sym_fn *sym_find(const struct sym_module *m, uintptr_t v)
{
    size_t lo = 0, hi = m->nfns; /* lo: first index with addr > v */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->fns[mid].addr <= v)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo, k = 0; i-- > 0 && k < 16; k++) {
        const struct sym_fn *f = &m->fns[i];
        if (f->size ? v - f->addr < f->size : i + 1 == lo)
            return f;
    }
    return NULL;
}

/* ---------------------------------------------------------- modules */

static const char *sym_exe_path(void)
{
    if (!sym_exe[0]) {
        ssize_t n = readlink("/proc/self/exe", sym_exe, sizeof sym_exe);
        size_t len = n > 0 ? (size_t)n : 0;
        if (len == sizeof sym_exe) /* filled: a longer path, cut (readlink does not say) */
            len = ts_utf8_whole(sym_exe, sizeof sym_exe - 1);
        sym_exe[len] = 0;
    }
    return sym_exe;
}

/* The cache entry of the module lm (loaded, with its symbols, on first
 * use). dli_fname is the loader's name for it. */
static struct sym_module *sym_module_for(const struct link_map *lm, const char *dli_fname)
{
    const char *key = lm->l_name ? lm->l_name : "";
    struct sym_module *m = NULL, *victim = NULL; /* a free slot, else the least used */
    for (size_t i = 0; i < SYM_MODULES; i++) {
        struct sym_module *e = &sym_modules[i];
        if (e->lm == lm && e->bias == lm->l_addr && strncmp(e->key, key, SYM_PATH - 1) == 0) {
            m = e;
            break;
        }
        if (!victim || (victim->lm && (!e->lm || e->used < victim->used)))
            victim = e;
    }
    if (!m) {
        m = victim;
        free(m->fns);
        free(m->pool);
        memset(m, 0, sizeof *m);
        m->lm = lm;
        m->bias = lm->l_addr;
        snprintf(m->key, sizeof m->key, "%s", key);
        /* The program itself has no name in its link map; its file is
         * opened through /proc/self/exe (the very file, even if replaced). */
        const char *file = key[0] ? key : "/proc/self/exe";
        const char *shown = key[0] ? key : sym_exe_path()[0] ? sym_exe : dli_fname;
        if (!shown)
            shown = "?";
        sym_copy_cut(m->path, sizeof m->path, shown, strlen(shown));
        int fd = open(file, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* never wait on a FIFO */
        if (fd >= 0) {
            sym_read_symtab(m, fd);
            TS_REAL(close)(fd);
        }
    }
    m->used = ++sym_tick;
    return m;
}

void ts_sym_resolve(uintptr_t ip, struct ts_sym_frame *out)
{
    memset(out, 0, sizeof *out);
    out->offset = ip;
    uintptr_t at = ip ? ip - 1 : 0; /* inside the call instruction */
    Dl_info info;
    struct link_map *lm = NULL;
    if (!dladdr1((void *)at, &info, (void **)&lm, RTLD_DL_LINKMAP) || !lm)
        return;
    struct sym_module *m = sym_module_for(lm, info.dli_fname);
    out->module = m->path;
    if (info.dli_sname && info.dli_saddr) {
        out->func = info.dli_sname;
        out->func_len = strlen(info.dli_sname);
        out->offset = ip - (uintptr_t)info.dli_saddr;
        return;
    }
    const struct sym_fn *f = m->fns ? sym_find(m, at - m->bias) : NULL;
    if (f) {
        out->func = m->pool + f->name;
        out->func_len = strlen(out->func);
        out->offset = ip - (m->bias + f->addr);
        return;
    }
    out->offset = ip - m->bias;
}

/* ------------------------------------------------------------- text */

size_t ts_sym_stack_text(const uintptr_t *ips, size_t n, char *out, size_t cap, char *func,
                         size_t func_cap)
{
    size_t len = 0;
    if (func_cap)
        func[0] = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        struct ts_sym_frame f;
        ts_sym_resolve(ips[i], &f);
        if (i == 0 && f.func && func_cap)
            sym_copy_cut(func, func_cap, f.func, f.func_len);
        char line[SYM_FUNC_SHOWN + SYM_PATH + 64];
        int k;
        if (f.func)
            k = snprintf(line, sizeof line, "#%zu %.*s+0x%lx (%s)", i,
                         (int)(f.func_len <= SYM_FUNC_SHOWN
                                   ? f.func_len
                                   : ts_utf8_whole(f.func, SYM_FUNC_SHOWN)),
                         f.func, (unsigned long)f.offset, f.module);
        else
            k = snprintf(line, sizeof line, "#%zu 0x%lx (%s)", i, (unsigned long)f.offset,
                         f.module ? f.module : "?");
        if (k < 0)
            break;
        size_t need = (size_t)k < sizeof line ? (size_t)k : sizeof line - 1;
        size_t sep = len ? 1 : 0;
        if (len + sep + need > cap)
            break;
        if (sep)
            out[len++] = '\n';
        memcpy(out + len, line, need);
        len += need;
    }
    if (i < n) {
        char note[40];
        int k = snprintf(note, sizeof note, "%s(%zu more frame%s)", len ? "\n" : "", n - i,
                         n - i == 1 ? "" : "s");
        if (k > 0 && len + (size_t)k <= cap) {
            memcpy(out + len, note, (size_t)k);
            len += (size_t)k;
        }
    }
    return len;
}

void ts_sym_attach(struct ts_span *s)
{
    size_t n = ts_span_nframes(s);
    s->nframes = 0;
    size_t nattrs = ts_span_nattrs(s);
    if (n == 0)
        return;
    if (nattrs >= TS_SPAN_MAX_ATTRS) { /* code.stacktrace (code.function, not looked up) */
        ts_span_attr_dropped(s);
        return;
    }
    size_t room = ts_span_str_room(s);
    char text[TS_SPAN_STRBUF], func[SYM_FUNC_SHOWN + 1];
    size_t len = ts_sym_stack_text(s->frames, n, text, room, func, sizeof func);
    size_t flen = strlen(func);
    bool with_func = flen > 0 && nattrs + 2 <= TS_SPAN_MAX_ATTRS;
    if (with_func && len + flen > room) /* both must fit: fewer frames */
        len =
            flen < room ? ts_sym_stack_text(s->frames, n, text, room - flen, func, sizeof func) : 0;
    if (with_func && flen <= room)
        ts_span_attr_str(s, "code.function", func, flen);
    else if (flen > 0 && !with_func)
        ts_span_attr_dropped(s);
    if (len > 0)
        ts_span_attr_str(s, "code.stacktrace", text, len);
}
