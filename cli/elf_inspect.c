/* elf_inspect.c — reads programs and their libraries for `traceshim check`
 * (see elf_inspect.h): libelf for the ELF facts, the loader's own search
 * order (RPATH, LD_LIBRARY_PATH, RUNPATH, ld.so.cache, default directories)
 * for the libraries, stat/getxattr/statvfs for secure-execution mode. */
#include "cli/elf_inspect.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

/* clang-format off */
const char *const ts_elf_hook_names[TS_ELF_HOOK_COUNT] = {
    [TS_ELF_HOOK_CONNECT] = "connect",
    [TS_ELF_HOOK_ACCEPT] = "accept",
    [TS_ELF_HOOK_ACCEPT4] = "accept4",
    [TS_ELF_HOOK_READ] = "read",
    [TS_ELF_HOOK_READ_CHK] = "__read_chk",
    [TS_ELF_HOOK_READV] = "readv",
    [TS_ELF_HOOK_RECV] = "recv",
    [TS_ELF_HOOK_RECV_CHK] = "__recv_chk",
    [TS_ELF_HOOK_RECVFROM] = "recvfrom",
    [TS_ELF_HOOK_RECVFROM_CHK] = "__recvfrom_chk",
    [TS_ELF_HOOK_RECVMSG] = "recvmsg",
    [TS_ELF_HOOK_RECVMMSG] = "recvmmsg",
    [TS_ELF_HOOK_WRITE] = "write",
    [TS_ELF_HOOK_WRITEV] = "writev",
    [TS_ELF_HOOK_SEND] = "send",
    [TS_ELF_HOOK_SENDTO] = "sendto",
    [TS_ELF_HOOK_SENDMSG] = "sendmsg",
    [TS_ELF_HOOK_SENDMMSG] = "sendmmsg",
    [TS_ELF_HOOK_SENDFILE] = "sendfile",
    [TS_ELF_HOOK_SENDFILE64] = "sendfile64",
    [TS_ELF_HOOK_SPLICE] = "splice",
};
/* clang-format on */

/* The machine and word size this command (and the library, built with
 * it) is compiled for; 0 when the compiler does not say. */
#if defined(__x86_64__)
#define HOST_MACHINE EM_X86_64
#define HOST_MULTIARCH "x86_64-linux-gnu"
#elif defined(__aarch64__)
#define HOST_MACHINE EM_AARCH64
#define HOST_MULTIARCH "aarch64-linux-gnu"
#elif defined(__i386__)
#define HOST_MACHINE EM_386
#define HOST_MULTIARCH "i386-linux-gnu"
#elif defined(__arm__)
#define HOST_MACHINE EM_ARM
#elif defined(__riscv)
#define HOST_MACHINE EM_RISCV
#elif defined(__powerpc64__)
#define HOST_MACHINE EM_PPC64
#elif defined(__s390x__)
#define HOST_MACHINE EM_S390
#else
#define HOST_MACHINE 0
#endif
#define HOST_CLASS (sizeof(void *) == 8 ? ELFCLASS64 : ELFCLASS32)

#ifdef HOST_MULTIARCH
#define MULTIARCH_DIRS "/lib/" HOST_MULTIARCH ":/usr/lib/" HOST_MULTIARCH ":"
#else
#define MULTIARCH_DIRS ""
#endif
#define DEFAULT_DIRS MULTIARCH_DIRS "/lib64:/usr/lib64:/lib:/usr/lib"
#define CACHE_FILE "/etc/ld.so.cache"

/* Every file is opened like this: a FIFO must not block the open, a
 * terminal must not become the controlling one. Only regular files are read. */
#define OPEN_FLAGS (O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)

/* Go's build ID note: name "Go" (padded with NULs), type 4. */
#define GO_NOTE_TYPE 4

static void set_err(char *err, size_t len, const char *fmt, ...)
{
    if (!err || len == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
}

/* elf_version() once per process; false if libelf refuses. */
static bool elf_ready(void)
{
    static int state;
    if (state == 0)
        state = elf_version(EV_CURRENT) != EV_NONE ? 1 : -1;
    return state > 0;
}

static int hook_index(const char *name)
{
    /* Every hook name starts with one of these; most symbols fail here. */
    if (name[0] != 'c' && name[0] != 'a' && name[0] != 'r' && name[0] != 'w' && name[0] != 's' &&
        name[0] != '_')
        return -1;
    for (int i = 0; i < TS_ELF_HOOK_COUNT; i++)
        if (strcmp(name, ts_elf_hook_names[i]) == 0)
            return i;
    return -1;
}

static int push_str(char ***arr, size_t *n, const char *s)
{
    char *copy = strdup(s);
    char **grown = copy ? realloc(*arr, (*n + 1) * sizeof **arr) : NULL;
    if (!grown) {
        free(copy);
        return -1;
    }
    grown[(*n)++] = copy;
    *arr = grown;
    return 0;
}

/* The string at offset off of a string table's data, or NULL when the
 * offset or the terminating NUL lies outside it. */
static const char *table_str(const Elf_Data *strs, size_t off)
{
    if (!strs || !strs->d_buf || off >= strs->d_size)
        return NULL;
    const char *s = (const char *)strs->d_buf + off;
    return memchr(s, '\0', strs->d_size - off) ? s : NULL;
}

/* The data of the string table a section links to (sh_link). */
static Elf_Data *linked_strings(Elf *e, const GElf_Shdr *sh)
{
    Elf_Scn *s = elf_getscn(e, sh->sh_link);
    return s ? elf_getdata(s, NULL) : NULL;
}

static bool has_go_note(Elf_Scn *scn)
{
    Elf_Data *d = elf_getdata(scn, NULL);
    if (!d || !d->d_buf)
        return false;
    size_t off = 0, name_off, desc_off, next;
    GElf_Nhdr nh;
    while (off < d->d_size && (next = gelf_getnote(d, off, &nh, &name_off, &desc_off)) > 0) {
        const char *name = (const char *)d->d_buf + name_off;
        if (nh.n_type == GO_NOTE_TYPE && nh.n_namesz >= 2 && nh.n_namesz <= 4 &&
            memcmp(name, "Go", 2) == 0 && (nh.n_namesz == 2 || name[2] == '\0'))
            return true;
        off = next;
    }
    return false;
}

/* DT_NEEDED, DT_SONAME, DT_RPATH, DT_RUNPATH and DT_FLAGS_1 from the
 * dynamic section. Returns -1 when out of memory. */
static int read_dynamic(Elf *e, Elf_Scn *scn, const GElf_Shdr *sh, ts_elf_file *out,
                        uint64_t *flags1)
{
    Elf_Data *d = elf_getdata(scn, NULL);
    Elf_Data *strs = linked_strings(e, sh);
    if (!d || !d->d_buf || sh->sh_entsize == 0)
        return 0;
    size_t n = sh->sh_size / sh->sh_entsize;
    for (size_t i = 0; i < n; i++) {
        GElf_Dyn dyn;
        if (!gelf_getdyn(d, (int)i, &dyn) || dyn.d_tag == DT_NULL)
            break;
        const char *s = NULL;
        char **slot = NULL;
        switch (dyn.d_tag) {
        case DT_NEEDED:
            s = table_str(strs, dyn.d_un.d_val);
            if (s && push_str(&out->needed, &out->n_needed, s) != 0)
                return -1;
            continue;
        case DT_SONAME:
            slot = &out->soname;
            break;
        case DT_RPATH:
            slot = &out->rpath;
            break;
        case DT_RUNPATH:
            slot = &out->runpath;
            break;
        case DT_FLAGS_1:
            *flags1 = dyn.d_un.d_val;
            continue;
        default:
            continue;
        }
        s = table_str(strs, dyn.d_un.d_val);
        if (s && !*slot && !(*slot = strdup(s)))
            return -1;
    }
    return 0;
}

/* Hooked calls among the undefined (imported) symbols of a symbol table. */
static uint32_t imported_hooks(Elf *e, Elf_Scn *scn)
{
    GElf_Shdr sh;
    if (!gelf_getshdr(scn, &sh) || sh.sh_entsize == 0)
        return 0;
    Elf_Data *d = elf_getdata(scn, NULL);
    Elf_Data *strs = linked_strings(e, &sh);
    if (!d || !d->d_buf)
        return 0;
    uint32_t mask = 0;
    size_t n = sh.sh_size / sh.sh_entsize;
    for (size_t i = 1; i < n; i++) {
        GElf_Sym sym;
        if (!gelf_getsym(d, (int)i, &sym))
            break;
        if (sym.st_shndx != SHN_UNDEF || sym.st_name == 0 || GELF_ST_BIND(sym.st_info) == STB_LOCAL)
            continue;
        const char *name = table_str(strs, sym.st_name);
        int h = name ? hook_index(name) : -1;
        if (h >= 0)
            mask |= 1u << h;
    }
    return mask;
}

/* Does a symbol table define a symbol of this type (STT_FUNC, ...) named
 * one or the other (other may be NULL)? */
static bool defines_symbol(Elf *e, Elf_Scn *scn, int type, const char *one, const char *other)
{
    GElf_Shdr sh;
    if (!scn || !gelf_getshdr(scn, &sh) || sh.sh_entsize == 0)
        return false;
    Elf_Data *d = elf_getdata(scn, NULL);
    Elf_Data *strs = linked_strings(e, &sh);
    if (!d || !d->d_buf || !strs)
        return false;
    size_t n = sh.sh_size / sh.sh_entsize;
    for (size_t i = 1; i < n; i++) {
        GElf_Sym sym;
        if (!gelf_getsym(d, (int)i, &sym))
            break;
        if (sym.st_shndx == SHN_UNDEF || GELF_ST_TYPE(sym.st_info) != type)
            continue;
        const char *name = table_str(strs, sym.st_name);
        if (name && (strcmp(name, one) == 0 || (other && strcmp(name, other) == 0)))
            return true;
    }
    return false;
}

/* A file the kernel will not start: execve fails with err. */
static void refused(ts_elf_file *out, const char *what, int err)
{
    out->kind = TS_ELF_NOT_PROGRAM;
    out->not_program = what;
    out->exec_refused = true;
    out->refused_errno = err;
}

/* The facts of an open ELF handle; -1 when out of memory. */
static int read_elf(Elf *e, ts_elf_file *out)
{
    GElf_Ehdr eh;
    if (!gelf_getehdr(e, &eh)) {
        refused(out, "a damaged ELF file", ENOEXEC);
        return 0;
    }
    out->elf_class = gelf_getclass(e);
    out->machine = eh.e_machine;
    out->foreign =
        out->elf_class != HOST_CLASS || (HOST_MACHINE != 0 && eh.e_machine != HOST_MACHINE);

    size_t phnum = 0;
    if (elf_getphdrnum(e, &phnum) != 0)
        phnum = 0;
    size_t raw_len = 0;
    const char *raw = elf_rawfile(e, &raw_len);
    bool interp_cut = false, interp_bad = false;
    for (size_t i = 0; i < phnum; i++) {
        GElf_Phdr ph;
        if (!gelf_getphdr(e, (int)i, &ph) || ph.p_type != PT_INTERP)
            continue;
        out->dynamic = true;
        /* The kernel takes the first one only. It wants a name of 2 to
         * PATH_MAX bytes (ENOEXEC otherwise), reads it whole (EIO when the
         * file ends first), and wants it to end in a NUL (ENOEXEC). */
        if (ph.p_filesz < 2 || ph.p_filesz > PATH_MAX)
            interp_bad = true;
        else if (raw && (ph.p_offset > raw_len || ph.p_filesz > raw_len - ph.p_offset))
            interp_cut = true;
        else if (raw && raw[ph.p_offset + ph.p_filesz - 1] != '\0')
            interp_bad = true;
        if (raw && ph.p_offset < raw_len && ph.p_filesz > 0) {
            size_t len = ph.p_filesz;
            if (len > raw_len - ph.p_offset)
                len = raw_len - ph.p_offset;
            out->interp = strndup(raw + ph.p_offset, len);
            if (!out->interp)
                return -1;
        }
        break;
    }

    size_t shstrndx;
    bool have_names = elf_getshdrstrndx(e, &shstrndx) == 0;
    Elf_Scn *scn = NULL, *dynsym = NULL, *symtab = NULL;
    bool go_note = false, go_buildinfo = false, go_pclntab = false;
    uint64_t flags1 = 0;
    while ((scn = elf_nextscn(e, scn)) != NULL) {
        GElf_Shdr sh;
        if (!gelf_getshdr(scn, &sh))
            continue;
        switch (sh.sh_type) {
        case SHT_DYNSYM:
            dynsym = scn;
            break;
        case SHT_SYMTAB:
            symtab = scn;
            break;
        case SHT_DYNAMIC:
            if (read_dynamic(e, scn, &sh, out, &flags1) != 0)
                return -1;
            break;
        case SHT_NOTE:
            if (!go_note)
                go_note = has_go_note(scn);
            break;
        default:
            break;
        }
        const char *name = have_names ? elf_strptr(e, shstrndx, sh.sh_name) : NULL;
        if (name && strcmp(name, ".go.buildinfo") == 0)
            go_buildinfo = true;
        else if (name && strcmp(name, ".gopclntab") == 0)
            go_pclntab = true;
    }

    if (dynsym) {
        out->imports_known = true;
        out->hooks = imported_hooks(e, dynsym);
    }
    /* gccgo programs run on libgo.so, which makes its calls through the C
     * library: those are ordinary dynamic programs, not "Go" here. */
    bool gccgo = false;
    for (size_t i = 0; i < out->n_needed; i++)
        if (strncmp(out->needed[i], "libgo.so", 8) == 0)
            gccgo = true;
    if (go_note)
        out->go_marker = "Go build ID note (.note.go.buildid)";
    else if (go_buildinfo)
        out->go_marker = "Go build information (.go.buildinfo)";
    else if (go_pclntab)
        out->go_marker = "Go line table (.gopclntab)";
    else if (!gccgo && defines_symbol(e, symtab, STT_FUNC, "runtime.main", "runtime.goexit"))
        out->go_marker = "Go runtime symbols (runtime.main)";

    switch (eh.e_type) {
    case ET_EXEC:
        out->kind = TS_ELF_PROGRAM;
        break;
    case ET_DYN:
        /* A PIE has an interpreter, a static PIE says so in DT_FLAGS_1;
         * otherwise an entry point without a soname still means a program.
         * glibc's dynamic loader has a soname and an entry point, no
         * interpreter of its own, and is the one object that defines
         * _rtld_global (libc.so.6 imports it; its soname differs by
         * machine: ld-linux-x86-64.so.2, ld-linux-aarch64.so.1,
         * ld64.so.2, ld.so.1): run as a program (ld.so PROGRAM ARGS) it
         * loads PROGRAM as the kernel's call would, LD_PRELOAD too. A
         * plain library with an entry point (libc.so.6, which prints its
         * version) stays a library, and a static PIE that exports the
         * name is still a static PIE. */
        if (!out->dynamic && eh.e_entry != 0 && out->soname && !(flags1 & DF_1_PIE) &&
            defines_symbol(e, dynsym, STT_OBJECT, "_rtld_global", NULL)) {
            out->kind = TS_ELF_PROGRAM;
            out->loader = true;
        } else if (out->dynamic || (flags1 & DF_1_PIE) || (!out->soname && eh.e_entry != 0)) {
            out->kind = TS_ELF_PROGRAM;
            out->static_pie = !out->dynamic;
        } else {
            out->kind = TS_ELF_NOT_PROGRAM;
            out->not_program = "a shared library";
        }
        break;
    case ET_REL:
        refused(out, "a relocatable object file", ENOEXEC);
        break;
    case ET_CORE:
        refused(out, "a core dump", ENOEXEC);
        break;
    default:
        refused(out, "an ELF file of unknown type", ENOEXEC);
        break;
    }
    /* The kernel reads a program's whole header table before it starts it:
     * a table that is missing or runs past the end of the file (a truncated
     * copy) is no program (ENOEXEC), nor is one whose entries are not its
     * class's size or that has more than 64 KiB of them. The count is the
     * header's own: elf_getphdrnum answers only the entries the file still
     * holds. Then the interpreter's name (above). */
    size_t declared = eh.e_phnum;
    if ((eh.e_type == ET_EXEC || eh.e_type == ET_DYN) && raw) {
        size_t entry = gelf_fsize(e, ELF_T_PHDR, 1, EV_CURRENT);
        if (declared == 0 || entry == 0 || eh.e_phentsize != entry || declared > 65536 / entry ||
            eh.e_phoff > raw_len || declared > (raw_len - eh.e_phoff) / entry || interp_bad)
            refused(out, "a damaged ELF file", ENOEXEC);
        else if (interp_cut)
            refused(out, "a damaged ELF file", EIO);
        if (out->exec_refused)
            out->static_pie = false;
    }
    return 0;
}

int ts_elf_read(const char *path, ts_elf_file *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    int fd = open(path, OPEN_FLAGS);
    if (fd < 0) {
        set_err(err, errlen, "%s", strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int saved = errno;
        set_err(err, errlen, "%s", strerror(saved));
        close(fd);
        errno = saved;
        return -1;
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        set_err(err, errlen, "%s", strerror(EISDIR));
        errno = EISDIR;
        return -1;
    }
    unsigned char magic[SELFMAG];
    if (!S_ISREG(st.st_mode) || pread(fd, magic, SELFMAG, 0) != SELFMAG ||
        memcmp(magic, ELFMAG, SELFMAG) != 0) {
        /* Devices and FIFOs are never ELF programs; nothing is read from them. */
        close(fd);
        out->kind = TS_ELF_NOT_ELF;
        return 0;
    }
    if (!elf_ready()) {
        close(fd);
        set_err(err, errlen, "libelf: %s", elf_errmsg(-1));
        errno = EINVAL;
        return -1;
    }
    Elf *e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
    int r = 0;
    if (!e || elf_kind(e) != ELF_K_ELF) {
        refused(out, "a damaged ELF file", ENOEXEC);
    } else if (read_elf(e, out) != 0) {
        ts_elf_file_free(out);
        set_err(err, errlen, "%s", strerror(ENOMEM));
        errno = ENOMEM;
        r = -1;
    }
    if (e)
        elf_end(e);
    close(fd);
    return r;
}

void ts_elf_file_free(ts_elf_file *f)
{
    for (size_t i = 0; i < f->n_needed; i++)
        free(f->needed[i]);
    free(f->needed);
    free(f->interp);
    free(f->soname);
    free(f->rpath);
    free(f->runpath);
    memset(f, 0, sizeof *f);
}

const char *ts_elf_machine_name(int machine, int elf_class, char *buf, size_t len)
{
    bool is64 = elf_class == ELFCLASS64;
    switch (machine) {
    case EM_X86_64:
        return is64 ? "x86-64" : "x32 (x86-64, 32-bit pointers)";
    case EM_386:
        return "32-bit x86 (i386)";
    case EM_AARCH64:
        return is64 ? "64-bit ARM (AArch64)" : "AArch64 ILP32";
    case EM_ARM:
        return "32-bit ARM";
    case EM_RISCV:
        return is64 ? "64-bit RISC-V" : "32-bit RISC-V";
    case EM_PPC64:
        return "64-bit PowerPC";
    case EM_PPC:
        return "32-bit PowerPC";
    case EM_S390:
        return is64 ? "s390x" : "s390";
    case EM_MIPS:
        return "MIPS";
    default:
        snprintf(buf, len, "ELF machine %d, %d-bit", machine, is64 ? 64 : 32);
        return buf;
    }
}

const char *ts_elf_host_name(char *buf, size_t len)
{
    return ts_elf_machine_name(HOST_MACHINE, HOST_CLASS, buf, len);
}

/* ---- finding libraries ---- */

/* ld.so.cache: glibc's new format ("glibc-ld.so.cache1.1"), alone or
 * after the old one ("ld.so-1.7.0"). String offsets count from the start
 * of the new-format header. */
#define CACHE_OLD_MAGIC "ld.so-1.7.0"
#define CACHE_NEW_MAGIC "glibc-ld.so.cache1.1"
#define CACHE_NEW_HEADER 48 /* magic+version 20, nlibs, len_strings, flags, pad, ext, unused[3] */
#define CACHE_NEW_ENTRY 24  /* flags, key, value, osversion, hwcap (u64) */
#define CACHE_OLD_ENTRY 12
#define CACHE_FLAG_ELF_LIBC6 0x0003
#define CACHE_FLAG_TYPE_MASK 0x00ff

typedef struct {
    const ts_elf_file *exe;
    char exe_origin[PATH_MAX];
    const char *ld_library_path;
    const char *default_dirs;
    int elf_class, machine;
    const unsigned char *cache; /* mapped cache file, NULL when none */
    size_t cache_len;
    const unsigned char *cache_new; /* the new-format header within it */
    uint32_t cache_nlibs;
} search_ctx;

static uint32_t rd32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static void cache_open(search_ctx *c, const char *file)
{
    int fd = open(file, OPEN_FLAGS);
    if (fd < 0)
        return;
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > CACHE_NEW_HEADER) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p != MAP_FAILED) {
            c->cache = p;
            c->cache_len = (size_t)st.st_size;
        }
    }
    close(fd);
    if (!c->cache)
        return;
    size_t at = 0;
    if (memcmp(c->cache, CACHE_OLD_MAGIC, sizeof CACHE_OLD_MAGIC - 1) == 0) {
        uint32_t old_n = rd32(c->cache + 12);
        if (old_n > (c->cache_len - 16) / CACHE_OLD_ENTRY)
            return;
        at = (16 + (size_t)old_n * CACHE_OLD_ENTRY + 7) & ~(size_t)7;
    }
    if (at + CACHE_NEW_HEADER > c->cache_len ||
        memcmp(c->cache + at, CACHE_NEW_MAGIC, sizeof CACHE_NEW_MAGIC - 1) != 0)
        return;
    uint32_t n = rd32(c->cache + at + 20);
    if (n > (c->cache_len - at - CACHE_NEW_HEADER) / CACHE_NEW_ENTRY)
        return;
    c->cache_new = c->cache + at;
    c->cache_nlibs = n;
}

static void cache_close(search_ctx *c)
{
    if (c->cache)
        munmap((void *)c->cache, c->cache_len);
    c->cache = c->cache_new = NULL;
}

/* A NUL-terminated string at a cache offset, or NULL. */
static const char *cache_str(const search_ctx *c, uint32_t off)
{
    size_t base = (size_t)(c->cache_new - c->cache);
    if (base + off >= c->cache_len)
        return NULL;
    const char *s = (const char *)c->cache_new + off;
    return memchr(s, '\0', c->cache_len - base - off) ? s : NULL;
}

/* Is path an ELF file of the program's class and machine? */
static bool usable(const search_ctx *c, const char *path)
{
    int fd = open(path, OPEN_FLAGS);
    if (fd < 0)
        return false;
    unsigned char h[20];
    struct stat st;
    bool ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
              pread(fd, h, sizeof h, 0) == (ssize_t)sizeof h && memcmp(h, ELFMAG, SELFMAG) == 0 &&
              h[EI_CLASS] == c->elf_class;
    close(fd);
    if (!ok)
        return false;
    int machine = h[EI_DATA] == ELFDATA2MSB ? (h[18] << 8 | h[19]) : (h[19] << 8 | h[18]);
    return machine == c->machine;
}

static bool cache_find(const search_ctx *c, const char *name, char *out, size_t len)
{
    if (!c->cache_new)
        return false;
    const unsigned char *e = c->cache_new + CACHE_NEW_HEADER;
    for (uint32_t i = 0; i < c->cache_nlibs; i++, e += CACHE_NEW_ENTRY) {
        if ((rd32(e) & CACHE_FLAG_TYPE_MASK) != CACHE_FLAG_ELF_LIBC6)
            continue;
        const char *key = cache_str(c, rd32(e + 4));
        if (!key || strcmp(key, name) != 0)
            continue;
        const char *value = cache_str(c, rd32(e + 8));
        if (value && strlen(value) < len && usable(c, value)) {
            strcpy(out, value);
            return true;
        }
    }
    return false;
}

/* Searches a colon-separated directory list (an RPATH, RUNPATH,
 * LD_LIBRARY_PATH) for name, with $ORIGIN as origin. */
static bool dirs_find(const search_ctx *c, const char *list, const char *origin, const char *name,
                      char *out, size_t len)
{
    if (!list)
        return false;
    const char *p = list;
    while (*p) {
        const char *end = strchr(p, ':');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        char dir[PATH_MAX];
        size_t used = 0;
        bool ok = n > 0;
        for (size_t i = 0; ok && i < n;) {
            size_t skip = 0;
            if (strncmp(p + i, "$ORIGIN", 7) == 0)
                skip = 7;
            else if (strncmp(p + i, "${ORIGIN}", 9) == 0)
                skip = 9;
            else if (p[i] == '$')
                ok = false; /* $LIB, $PLATFORM: not expanded here */
            if (!ok)
                break;
            if (skip) {
                size_t ol = strlen(origin);
                if (used + ol >= sizeof dir) {
                    ok = false;
                } else {
                    memcpy(dir + used, origin, ol);
                    used += ol;
                }
                i += skip;
            } else {
                if (used + 1 >= sizeof dir)
                    ok = false;
                else
                    dir[used++] = p[i];
                i++;
            }
        }
        if (ok) {
            dir[used] = '\0';
            int w = snprintf(out, len, "%s/%s", dir, name);
            if (w > 0 && (size_t)w < len && usable(c, out))
                return true;
        }
        if (!end)
            break;
        p = end + 1;
    }
    return false;
}

/* Where the loader finds name for an object with these RPATH/RUNPATH and
 * origin directory. */
static bool find_lib(const search_ctx *c, const char *name, const ts_elf_file *loader,
                     const char *origin, char *out, size_t len)
{
    if (strchr(name, '/')) {
        if (strlen(name) >= len || !usable(c, name))
            return false;
        strcpy(out, name);
        return true;
    }
    if (!loader->runpath) {
        if (dirs_find(c, loader->rpath, origin, name, out, len))
            return true;
        if (loader != c->exe && !c->exe->runpath &&
            dirs_find(c, c->exe->rpath, c->exe_origin, name, out, len))
            return true;
    }
    /* $ORIGIN in LD_LIBRARY_PATH is the program's directory. */
    return dirs_find(c, c->ld_library_path, c->exe_origin, name, out, len) ||
           dirs_find(c, loader->runpath, origin, name, out, len) || cache_find(c, name, out, len) ||
           dirs_find(c, c->default_dirs, origin, name, out, len);
}

/* The directory of path, symbolic links resolved (the loader's $ORIGIN). */
static void origin_of(const char *path, char *out, size_t len)
{
    char real[PATH_MAX];
    const char *p = realpath(path, real) ? real : path;
    const char *slash = strrchr(p, '/');
    if (!slash)
        snprintf(out, len, ".");
    else if (slash == p)
        snprintf(out, len, "/");
    else
        snprintf(out, len, "%.*s", (int)(slash - p), p);
}

/* Adds the libraries loader needs that are not listed yet. Returns -1
 * when out of memory. */
static int add_needed(const search_ctx *c, ts_elf_libs *out, const ts_elf_file *loader,
                      const char *loader_path, size_t parent, unsigned depth)
{
    char origin[PATH_MAX];
    origin_of(loader_path, origin, sizeof origin);
    for (size_t i = 0; i < loader->n_needed; i++) {
        const char *name = loader->needed[i];
        bool seen = false;
        for (size_t j = 0; j < out->n && !seen; j++)
            seen = strcmp(out->libs[j].name, name) == 0;
        if (seen)
            continue;
        if (out->n >= TS_ELF_MAX_LIBS) {
            out->truncated = true;
            return 0;
        }
        if (out->n == out->cap) {
            size_t cap = out->cap ? out->cap * 2 : 16;
            ts_elf_lib *grown = realloc(out->libs, cap * sizeof *grown);
            if (!grown)
                return -1;
            out->libs = grown;
            out->cap = cap;
        }
        ts_elf_lib *lib = &out->libs[out->n];
        memset(lib, 0, sizeof *lib);
        lib->parent = parent;
        lib->depth = depth;
        if (!(lib->name = strdup(name)))
            return -1;
        out->n++;
        char path[PATH_MAX];
        if (find_lib(c, name, loader, origin, path, sizeof path)) {
            if (!(lib->path = strdup(path)))
                return -1;
        } else {
            out->n_missing++;
        }
    }
    return 0;
}

int ts_elf_load_libs(const char *prog_path, const ts_elf_file *prog, const ts_elf_search *where,
                     ts_elf_libs *out)
{
    memset(out, 0, sizeof *out);
    search_ctx c = {0};
    c.exe = prog;
    c.elf_class = prog->elf_class;
    c.machine = prog->machine;
    c.ld_library_path =
        where && where->ld_library_path ? where->ld_library_path : getenv("LD_LIBRARY_PATH");
    c.default_dirs = where && where->default_dirs ? where->default_dirs : DEFAULT_DIRS;
    origin_of(prog_path, c.exe_origin, sizeof c.exe_origin);
    cache_open(&c, where && where->cache_file ? where->cache_file : CACHE_FILE);

    int r = add_needed(&c, out, prog, prog_path, SIZE_MAX, 1);
    for (size_t i = 0; r == 0 && i < out->n; i++) {
        if (!out->libs[i].path)
            continue;
        ts_elf_file f;
        if (ts_elf_read(out->libs[i].path, &f, NULL, 0) != 0) {
            if (errno == ENOMEM)
                r = -1;
            continue;
        }
        out->libs[i].readable = true;
        out->libs[i].hooks = f.hooks;
        /* out->libs may move while its children are added: copy first. */
        char *path = strdup(out->libs[i].path);
        unsigned depth = out->libs[i].depth + 1;
        r = path ? add_needed(&c, out, &f, path, i, depth) : -1;
        free(path);
        ts_elf_file_free(&f);
    }
    cache_close(&c);
    if (r != 0)
        ts_elf_libs_free(out);
    return r;
}

void ts_elf_libs_free(ts_elf_libs *libs)
{
    for (size_t i = 0; i < libs->n; i++) {
        free(libs->libs[i].name);
        free(libs->libs[i].path);
    }
    free(libs->libs);
    memset(libs, 0, sizeof *libs);
}

ts_elf_tls ts_elf_tls_of(const char *needed)
{
    if (strncmp(needed, "libssl.so", 9) == 0)
        return TS_ELF_TLS_OPENSSL;
    if (strncmp(needed, "libgnutls.so", 12) == 0)
        return TS_ELF_TLS_GNUTLS;
    return TS_ELF_TLS_NONE;
}

/* ---- scripts ---- */

/* The kernel reads this much of a file for its #! line (BINPRM_BUF_SIZE). */
#define SHEBANG_MAX 256

static bool blank(char c)
{
    return c == ' ' || c == '\t';
}

/* What ends the interpreter's name for the kernel (fs/binfmt_script.c,
 * next_terminator): a blank or a NUL byte. */
static bool name_end(char c)
{
    return blank(c) || c == '\0';
}

int ts_elf_read_shebang(const char *path, ts_elf_shebang *out)
{
    memset(out, 0, sizeof *out);
    int fd = open(path, OPEN_FLAGS);
    if (fd < 0)
        return -1;
    /* NUL padding past the end of a short file, as the kernel's buffer has */
    char buf[SHEBANG_MAX + 1] = {0};
    struct stat st;
    ssize_t n = 0;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
        n = pread(fd, buf, SHEBANG_MAX, 0);
    int saved = errno;
    close(fd);
    if (n < 0) {
        errno = saved;
        return -1;
    }
    if (n < 2 || buf[0] != '#' || buf[1] != '!')
        return 0;
    /* The kernel's reading (load_script): the line ends at a newline
     * before any NUL byte in the buffer; without one, the interpreter's
     * name must end (blank or NUL) within the buffer, at its last byte at
     * the latest, else it is taken as cut off: ENOEXEC, and a shell runs
     * the file itself. The line then ends before that last byte. */
    char *end = memchr(buf, '\n', strnlen(buf, SHEBANG_MAX));
    if (!end) {
        const char *past = buf + SHEBANG_MAX;
        const char *q = buf + 2;
        while (q < past && blank(*q))
            q++;
        const char *name = q;
        while (q < past && !name_end(*q))
            q++;
        if (q == past) {
            out->interp_cut = q != name; /* else blanks alone: no interpreter */
            errno = ENOEXEC;
            return -1;
        }
        end = buf + SHEBANG_MAX - 1;
    }
    *end = '\0';
    char *p = buf + 2;
    while (blank(*p))
        p++;
    size_t ilen = 0;
    while (!name_end(p[ilen]))
        ilen++;
    if (ilen == 0) {
        errno = ENOEXEC; /* no interpreter named */
        return -1;
    }
    memcpy(out->interp, p, ilen);
    out->interp[ilen] = '\0';
    p += ilen;
    while (blank(*p))
        p++;
    size_t alen = strlen(p);
    while (alen > 0 && (p[alen - 1] == ' ' || p[alen - 1] == '\t' || p[alen - 1] == '\r'))
        alen--;
    if (alen >= sizeof out->arg)
        alen = sizeof out->arg - 1;
    memcpy(out->arg, p, alen);
    out->arg[alen] = '\0';
    return 1;
}

bool ts_elf_shell_runs_it(const char *path)
{
    int fd = open(path, OPEN_FLAGS);
    if (fd < 0)
        return false;
    char buf[80]; /* bash's check_binary_file looks at this much */
    struct stat st;
    ssize_t n = -1;
    /* Only a regular file: execve refuses anything else with EACCES (a
     * FIFO, a device), before any shell gets to run it. */
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
        n = pread(fd, buf, sizeof buf, 0);
    close(fd);
    if (n < 0)
        return false;
    for (ssize_t i = 0; i < n && buf[i] != '\n'; i++)
        if (buf[i] == '\0')
            return false;
    return true;
}

bool ts_elf_env_target(const char *arg, char *name, size_t len)
{
    bool split = false;
    const char *p = arg;
    /* Without -S, env gets the whole rest of the line as one word. */
    if (strncmp(p, "-S", 2) == 0) {
        split = true;
        p += 2;
    } else if (strncmp(p, "--split-string=", 15) == 0) {
        split = true;
        p += 15;
    } else if (strncmp(p, "--split-string ", 15) == 0) {
        split = true;
        p += 15;
    }
    bool takes_value = false;
    while (*p) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        size_t wl = split ? strcspn(p, " \t") : strlen(p);
        const char *w = p;
        p += wl;
        if (takes_value) {
            takes_value = false;
            continue;
        }
        if (w[0] == '-') {
            /* -u NAME and -C DIR take the next word; -i, -0, -v do not. */
            takes_value = wl == 2 && (w[1] == 'u' || w[1] == 'C');
            if (!split)
                return false;
            continue;
        }
        if (memchr(w, '=', wl))
            continue; /* VAR=VALUE */
        if (wl == 0 || wl >= len)
            return false;
        memcpy(name, w, wl);
        name[wl] = '\0';
        return true;
    }
    return false;
}

/* ---- secure-execution mode ---- */

int ts_elf_read_secure(const char *path, ts_elf_secure *out)
{
    memset(out, 0, sizeof *out);
    struct stat st;
    if (stat(path, &st) != 0)
        return -1;
    out->setuid = (st.st_mode & S_ISUID) != 0;
    /* set-group-ID without group execute marks mandatory locking, not an id change */
    out->setgid = (st.st_mode & S_ISGID) && (st.st_mode & S_IXGRP);
    out->uid = st.st_uid;
    out->gid = st.st_gid;
    out->caps = getxattr(path, "security.capability", NULL, 0) > 0;
    struct statvfs sv;
    out->nosuid_mount = statvfs(path, &sv) == 0 && (sv.f_flag & ST_NOSUID);
    return 0;
}

bool ts_elf_secure_any(const ts_elf_secure *s)
{
    return !s->nosuid_mount && (s->setuid || s->setgid || s->caps);
}

bool ts_elf_secure_for(const ts_elf_secure *s, uid_t ruid, gid_t rgid)
{
    if (s->nosuid_mount)
        return false;
    return (s->setuid && s->uid != ruid) || (s->setgid && s->gid != rgid) || (s->caps && ruid != 0);
}

/* ---- the verdict ---- */

ts_elf_verdict ts_elf_decide(const ts_elf_file *prog, const ts_elf_libs *libs,
                             const ts_elf_secure *secure)
{
    if (prog->kind != TS_ELF_PROGRAM)
        return TS_ELF_V_NOT_EXECUTABLE;
    if (prog->foreign)
        return TS_ELF_V_FOREIGN;
    if (prog->go_marker)
        return TS_ELF_V_GO;
    if (!prog->dynamic && !prog->loader)
        return TS_ELF_V_STATIC;
    if (secure && ts_elf_secure_any(secure))
        return secure->setuid || secure->setgid ? TS_ELF_V_SETID : TS_ELF_V_CAPS;
    if (prog->loader)
        return TS_ELF_V_LOADER;
    if (!prog->imports_known || (prog->hooks & TS_ELF_HOOKS_CONNECTION))
        return TS_ELF_V_TRACEABLE;
    for (size_t i = 0; libs && i < libs->n; i++)
        if (libs->libs[i].hooks & TS_ELF_HOOKS_CONNECTION)
            return TS_ELF_V_TRACEABLE;
    return TS_ELF_V_NO_NETWORK;
}

const char *ts_elf_verdict_line(ts_elf_verdict v)
{
    switch (v) {
    case TS_ELF_V_TRACEABLE:
        return "traceable";
    case TS_ELF_V_NO_NETWORK:
        return "traceable: no network calls found";
    case TS_ELF_V_LOADER:
        return "traceable: the dynamic loader (the program it runs is traced)";
    case TS_ELF_V_NOT_EXECUTABLE:
        return "not traceable: not an ELF executable";
    case TS_ELF_V_FOREIGN:
        return "not traceable: built for another machine";
    case TS_ELF_V_GO:
        return "not traceable: Go binary (makes its own system calls)";
    case TS_ELF_V_STATIC:
        return "not traceable: statically linked";
    case TS_ELF_V_SETID:
        return "not traceable: setuid/setgid";
    case TS_ELF_V_CAPS:
        return "not traceable: file capabilities";
    }
    return "not traceable";
}

bool ts_elf_verdict_ok(ts_elf_verdict v)
{
    return v == TS_ELF_V_TRACEABLE || v == TS_ELF_V_NO_NETWORK || v == TS_ELF_V_LOADER;
}
