/* test_elf_inspect.c — unit tests for cli/elf_inspect.c, the reading behind
 * `traceshim check`. The fixtures are built when the test runs, with the
 * system's cc, in a temporary folder: dynamic programs with and without
 * socket calls, FORTIFY imports, static and static-PIE programs, a shared
 * library found through $ORIGIN, LD_LIBRARY_PATH and a hand-made
 * ld.so.cache, Go markers added with objcopy, scripts, set-user-ID copies. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/elf_inspect.h"

static char dir[256];    /* the temporary folder with the fixtures */
static bool have_cc;     /* cc builds dynamic programs */
static bool have_static; /* cc -static works (libc.a installed) */
static bool have_objcopy;

/* ---- helpers ---- */

static const char *fx(const char *name)
{
    static char bufs[8][PATH_MAX];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, PATH_MAX, "%s/%s", dir, name);
    return b;
}

static void write_file(const char *path, const void *data, size_t len, mode_t mode)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(path, mode), 0);
}

/* Runs a shell command (quiet); true when it succeeded. */
static bool sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    char quiet[4200];
    snprintf(quiet, sizeof quiet, "(%s) >/dev/null 2>&1", cmd);
    return system(quiet) == 0;
}

/* Compiles source text into dir/out with extra cc flags. */
static bool build(const char *out, const char *flags, const char *src)
{
    char c_file[PATH_MAX];
    snprintf(c_file, sizeof c_file, "%s/%s.c", dir, out);
    write_file(c_file, src, strlen(src), 0644);
    return sh("cd '%s' && cc -o '%s' '%s' %s", dir, out, c_file, flags);
}

static ts_elf_file read_ok(const char *path)
{
    ts_elf_file f;
    char err[256] = "";
    if (ts_elf_read(path, &f, err, sizeof err) != 0)
        fail_msg("ts_elf_read(%s): %s", path, err);
    return f;
}

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond))                                                                               \
            skip();                                                                                \
    } while (0)

static const ts_elf_lib *find_lib(const ts_elf_libs *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->libs[i].name, name) == 0)
            return &l->libs[i];
    return NULL;
}

#define HOOK(h) (1u << TS_ELF_HOOK_##h)

/* The file's ELF header, read with libelf. */
static bool read_ehdr(const char *path, GElf_Ehdr *eh)
{
    if (elf_version(EV_CURRENT) == EV_NONE)
        return false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    Elf *e = elf_begin(fd, ELF_C_READ, NULL);
    bool ok = e && gelf_getehdr(e, eh) != NULL;
    if (e)
        elf_end(e);
    close(fd);
    return ok;
}

/* Where the file's PT_INTERP (the interpreter's name) starts; 0: none. */
static size_t interp_offset(const char *path)
{
    if (elf_version(EV_CURRENT) == EV_NONE)
        return 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    Elf *e = elf_begin(fd, ELF_C_READ, NULL);
    size_t n = 0, at = 0;
    if (e && elf_getphdrnum(e, &n) == 0) {
        for (size_t i = 0; i < n && !at; i++) {
            GElf_Phdr ph;
            if (gelf_getphdr(e, (int)i, &ph) && ph.p_type == PT_INTERP)
                at = (size_t)ph.p_offset;
        }
    }
    if (e)
        elf_end(e);
    close(fd);
    return at;
}

/* Copy src to dst and rewrite one program header of the copy: the first
 * of type `type` after its first PT_INTERP (after==true), or the first
 * PT_INTERP itself, becomes PT_INTERP with the given offset (unless
 * keep_offset) and size. A 64-bit build's own class only. */
static bool rewrite_interp(const char *src, const char *dst, bool after, Elf64_Word type,
                           bool keep_offset, Elf64_Off offset, Elf64_Xword size)
{
    if (!sh("cp '%s' '%s'", src, dst))
        return false;
    int fd = open(dst, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return false;
    Elf64_Ehdr eh;
    bool ok = false, seen_interp = false;
    if (pread(fd, &eh, sizeof eh, 0) == (ssize_t)sizeof eh && eh.e_ident[EI_CLASS] == ELFCLASS64) {
        for (unsigned i = 0; i < eh.e_phnum && !ok; i++) {
            Elf64_Phdr ph;
            off_t at = (off_t)(eh.e_phoff + (Elf64_Off)i * eh.e_phentsize);
            if (pread(fd, &ph, sizeof ph, at) != (ssize_t)sizeof ph)
                break;
            bool target = after ? seen_interp && ph.p_type == type : ph.p_type == PT_INTERP;
            seen_interp |= ph.p_type == PT_INTERP;
            if (!target)
                continue;
            ph.p_type = PT_INTERP;
            if (!keep_offset)
                ph.p_offset = offset;
            ph.p_filesz = ph.p_memsz = size;
            ok = pwrite(fd, &ph, sizeof ph, at) == (ssize_t)sizeof ph;
        }
    }
    close(fd);
    return ok;
}

static const char *src_plain = "int main(void) { return 0; }\n";
static const char *src_net =
    "#include <sys/socket.h>\n"
    "#include <netinet/in.h>\n"
    "int main(void) {\n"
    "    struct sockaddr_in a = {0};\n"
    "    int fd = socket(AF_INET, SOCK_STREAM, 0);\n"
    "    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) send(fd, \"x\", 1, 0);\n"
    "    return 0;\n"
    "}\n";
/* With _FORTIFY_SOURCE and a buffer of known size, read and recv become
 * __read_chk and __recv_chk. */
static const char *src_fortify = "#include <unistd.h>\n"
                                 "#include <sys/socket.h>\n"
                                 "int main(int argc, char **argv) {\n"
                                 "    char buf[16];\n"
                                 "    (void)argv;\n"
                                 "    if (read(0, buf, (size_t)argc * 8) < 0) return 1;\n"
                                 "    return recv(0, buf, (size_t)argc * 8, 0) < 0;\n"
                                 "}\n";
static const char *src_lib = "#include <sys/socket.h>\n"
                             "int fix_connect(int fd, const struct sockaddr *a, socklen_t n) { "
                             "return connect(fd, a, n); }\n";
static const char *src_uses_lib = "int fix_connect(int, const void *, unsigned);\n"
                                  "int main(int argc, char **argv) { (void)argv; return argc > 5 ? "
                                  "fix_connect(-1, 0, 0) : 0; }\n";
/* A C function named like Go's runtime entry point. */
static const char *src_go_symbol = "void go_main(void) __asm__(\"runtime.main\");\n"
                                   "void go_main(void) {}\n"
                                   "int main(void) { go_main(); return 0; }\n";

static int setup(void **state)
{
    (void)state;
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/ts-elf-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (!mkdtemp(dir))
        return -1;
    have_cc = build("plain", "", src_plain);
    if (!have_cc)
        return 0; /* every test that needs a fixture skips */
    build("net", "", src_net);
    build("fortify", "-O2 -D_FORTIFY_SOURCE=2", src_fortify);
    have_static = build("static", "-static", src_plain);
    build("static_pie", "-static-pie", src_plain);
    sh("cd '%s' && cc -c -o obj.o plain.c", dir);
    write_file(fx("libfix.c"), src_lib, strlen(src_lib), 0644);
    sh("cd '%s' && cc -shared -fPIC -o libfix.so -Wl,-soname,libfix.so libfix.c", dir);
    build("uses_lib_origin", "-L. -lfix -Wl,-rpath,'$ORIGIN' -Wl,--disable-new-dtags",
          src_uses_lib);
    build("uses_lib_runpath", "-L. -lfix -Wl,-rpath,'$ORIGIN' -Wl,--enable-new-dtags",
          src_uses_lib);
    build("uses_lib_plain", "-L. -lfix", src_uses_lib);
    build("go_symbol", "", src_go_symbol);
    /* a stand-in for gccgo's runtime library */
    sh("cd '%s' && cc -shared -fPIC -o libgo.so.99 -Wl,-soname,libgo.so.99 libfix.c", dir);
    sh("cd '%s' && cc -o gccgo_like go_symbol.c -L. -Wl,--no-as-needed -l:libgo.so.99 "
       "-Wl,-rpath,'$ORIGIN'",
       dir);
    have_objcopy = sh("command -v objcopy");
    if (have_objcopy) {
        /* Go's build ID note: namesz 4 "Go\0\0", descsz 4, type 4 */
        static const unsigned char note[] = {4, 0, 0,   0,   4, 0, 0,   0,   4,   0,
                                             0, 0, 'G', 'o', 0, 0, 'a', 'b', 'c', 'd'};
        write_file(fx("go.note"), note, sizeof note, 0644);
        write_file(fx("go.info"), "\xff Go buildinf:", 14, 0644);
        sh("cd '%s' && objcopy --add-section .note.go.buildid=go.note plain go_note", dir);
        sh("cd '%s' && objcopy --add-section .go.buildinfo=go.info plain go_buildinfo", dir);
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (dir[0])
        sh("rm -rf '%s'", dir);
    return 0;
}

/* ---- the hook table ---- */

/* Every name in the table is exported by libtraceshim.so (its version
 * script), so check never claims a call the shim does not interpose. */
static void test_hook_names_are_hooks(void **state)
{
    (void)state;
    char map_path[PATH_MAX];
    snprintf(map_path, sizeof map_path, "%s", __FILE__);
    char *cut = strstr(map_path, "tests/unit/test_elf_inspect.c");
    REQUIRE(cut != NULL);
    strcpy(cut, "preload/traceshim.map");
    FILE *f = fopen(map_path, "r");
    REQUIRE(f != NULL);
    static char text[8192];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    for (int i = 0; i < TS_ELF_HOOK_COUNT; i++) {
        assert_non_null(ts_elf_hook_names[i]);
        char word[64];
        bool found = false;
        for (const char *p = text; *p && !found;) {
            size_t w = strcspn(p, " \t\n;:{}");
            if (w > 0 && w < sizeof word) {
                memcpy(word, p, w);
                word[w] = '\0';
                found = strcmp(word, ts_elf_hook_names[i]) == 0;
            }
            p += w ? w : 1;
        }
        if (!found)
            fail_msg("%s is not exported by preload/traceshim.map", ts_elf_hook_names[i]);
    }
    assert_int_equal(TS_ELF_HOOKS_CONNECTION, HOOK(CONNECT) | HOOK(ACCEPT) | HOOK(ACCEPT4));
}

/* ---- reading programs ---- */

static void test_dynamic_without_network(void **state)
{
    (void)state;
    REQUIRE(have_cc);
    ts_elf_file f = read_ok(fx("plain"));
    assert_int_equal(f.kind, TS_ELF_PROGRAM);
    assert_true(f.dynamic);
    assert_false(f.foreign);
    assert_non_null(f.interp);
    assert_non_null(strstr(f.interp, "ld-"));
    assert_null(f.go_marker);
    assert_true(f.imports_known);
    assert_int_equal(f.hooks, 0);
    assert_true(f.n_needed >= 1);
    bool libc = false;
    for (size_t i = 0; i < f.n_needed; i++)
        libc |= strncmp(f.needed[i], "libc.so", 7) == 0;
    assert_true(libc);

    ts_elf_libs libs;
    assert_int_equal(ts_elf_load_libs(fx("plain"), &f, NULL, &libs), 0);
    const ts_elf_lib *lc = find_lib(&libs, "libc.so.6");
    assert_non_null(lc);
    assert_non_null(lc->path);
    assert_true(lc->readable);
    assert_int_equal(lc->depth, 1);
    assert_int_equal(lc->parent, SIZE_MAX);
    assert_int_equal(libs.n_missing, 0);
    assert_int_equal(ts_elf_decide(&f, &libs, NULL), TS_ELF_V_NO_NETWORK);
    assert_string_equal(ts_elf_verdict_line(TS_ELF_V_NO_NETWORK),
                        "traceable: no network calls found");
    assert_true(ts_elf_verdict_ok(TS_ELF_V_NO_NETWORK));
    ts_elf_libs_free(&libs);
    ts_elf_file_free(&f);
}

static void test_dynamic_with_network(void **state)
{
    (void)state;
    REQUIRE(have_cc);
    ts_elf_file f = read_ok(fx("net"));
    assert_int_equal(f.kind, TS_ELF_PROGRAM);
    assert_true(f.hooks & HOOK(CONNECT));
    assert_true(f.hooks & HOOK(SEND));
    assert_false(f.hooks & HOOK(RECV));
    assert_int_equal(ts_elf_decide(&f, NULL, NULL), TS_ELF_V_TRACEABLE);
    assert_string_equal(ts_elf_verdict_line(TS_ELF_V_TRACEABLE), "traceable");
    ts_elf_file_free(&f);
}

static void test_fortify_imports(void **state)
{
    (void)state;
    REQUIRE(have_cc);
    ts_elf_file f = read_ok(fx("fortify"));
    assert_true(f.hooks & HOOK(READ_CHK));
    assert_true(f.hooks & HOOK(RECV_CHK));
    assert_false(f.hooks & TS_ELF_HOOKS_CONNECTION);
    ts_elf_file_free(&f);
}

static void test_static(void **state)
{
    (void)state;
    REQUIRE(have_static);
    ts_elf_file f = read_ok(fx("static"));
    assert_int_equal(f.kind, TS_ELF_PROGRAM);
    assert_false(f.dynamic);
    assert_null(f.interp);
    assert_false(f.static_pie);
    assert_int_equal(f.hooks, 0);
    assert_int_equal(ts_elf_decide(&f, NULL, NULL), TS_ELF_V_STATIC);
    assert_string_equal(ts_elf_verdict_line(TS_ELF_V_STATIC), "not traceable: statically linked");
    assert_false(ts_elf_verdict_ok(TS_ELF_V_STATIC));
    ts_elf_file_free(&f);

    if (access(fx("static_pie"), F_OK) != 0)
        return; /* the toolchain has no static-pie */
    f = read_ok(fx("static_pie"));
    assert_int_equal(f.kind, TS_ELF_PROGRAM);
    assert_false(f.dynamic);
    assert_true(f.static_pie);
    assert_int_equal(ts_elf_decide(&f, NULL, NULL), TS_ELF_V_STATIC);
    ts_elf_file_free(&f);
}

static void test_not_programs(void **state)
{
    (void)state;
    REQUIRE(have_cc);
    write_file(fx("text"), "hello\n", 6, 0755);
    write_file(fx("empty"), "", 0, 0755);
    write_file(fx("short_elf"), "\177ELF", 4, 0755);
    const char *not_elf[] = {"text", "empty"};
    for (size_t i = 0; i < 2; i++) {
        ts_elf_file f = read_ok(fx(not_elf[i]));
        assert_int_equal(f.kind, TS_ELF_NOT_ELF);
        assert_int_equal(ts_elf_decide(&f, NULL, NULL), TS_ELF_V_NOT_EXECUTABLE);
        ts_elf_file_free(&f);
    }
    ts_elf_file f = read_ok(fx("short_elf"));
    assert_int_equal(f.kind, TS_ELF_NOT_PROGRAM);
    ts_elf_file_free(&f);

    f = read_ok(fx("obj.o"));
    assert_int_equal(f.kind, TS_ELF_NOT_PROGRAM);
    assert_string_equal(f.not_program, "a relocatable object file");
    assert_true(f.exec_refused);
    ts_elf_file_free(&f);

    /* a program cut inside its program header table: the kernel refuses it
     * (it was "statically linked": no PT_INTERP among the headers read) */
    assert_true(sh("cd '%s' && head -c 100 plain > plain_cut", dir));
    f = read_ok(fx("plain_cut"));
    assert_int_equal(f.kind, TS_ELF_NOT_PROGRAM);
    assert_string_equal(f.not_program, "a damaged ELF file");
    assert_true(f.exec_refused);
    assert_int_equal(ts_elf_decide(&f, NULL, NULL), TS_ELF_V_NOT_EXECUTABLE);
    ts_elf_file_free(&f);

    /* cut after a few of its headers: libelf counts only those, and the
     * ones it read held no PT_INTERP; it was called statically linked */
    GElf_Ehdr eh;
    assert_true(read_ehdr(fx("plain"), &eh));
    assert_true(sh("cd '%s' && head -c %zu plain > plain_cut_table", dir,
                   (size_t)eh.e_phoff + 2 * (size_t)eh.e_phentsize));
    f = read_ok(fx("plain_cut_table"));
    assert_int_equal(f.kind, TS_ELF_NOT_PROGRAM);
    assert_true(f.exec_refused);
    assert_int_equal(f.refused_errno, ENOEXEC);
    assert_false(f.static_pie);
    ts_elf_file_free(&f);

    /* the whole table, the interpreter's name cut off by the end: the
     * kernel's read of it fails (EIO); it was called traceable */
    f = read_ok(fx("plain"));
    assert_non_null(f.interp);
    char plain_interp[PATH_MAX];
    snprintf(plain_interp, sizeof plain_interp, "%s", f.interp);
    size_t name_starts = interp_offset(fx("plain"));
    ts_elf_file_free(&f);
    assert_true(name_starts > 0);
    assert_true(sh("cd '%s' && head -c %zu plain > plain_cut_interp", dir, name_starts + 4));
    f = read_ok(fx("plain_cut_interp"));
    assert_int_equal(f.kind, TS_ELF_NOT_PROGRAM);
    assert_string_equal(f.not_program, "a damaged ELF file");
    assert_true(f.exec_refused);
    assert_int_equal(f.refused_errno, EIO);
    assert_int_equal(ts_elf_decide(&f, NULL, NULL), TS_ELF_V_NOT_EXECUTABLE);
    ts_elf_file_free(&f);

    /* the kernel reads the first PT_INTERP only: a second one, of a size
     * it would refuse, changes nothing */
    if (sizeof(void *) == 8) {
        assert_true(rewrite_interp(fx("plain"), fx("second_interp"), true, PT_NOTE, true, 0, 1));
        f = read_ok(fx("second_interp"));
        assert_int_equal(f.kind, TS_ELF_PROGRAM);
        assert_false(f.exec_refused);
        assert_string_equal(f.interp, plain_interp);
        ts_elf_file_free(&f);
        /* a name longer than PATH_MAX is refused before it is read: ENOEXEC,
         * although the file also ends first */
        assert_true(rewrite_interp(fx("plain"), fx("huge_interp"), false, 0, true, 0, 1u << 20));
        f = read_ok(fx("huge_interp"));
        assert_true(f.exec_refused);
        assert_int_equal(f.refused_errno, ENOEXEC);
        ts_elf_file_free(&f);
    }

    f = read_ok(fx("libfix.so"));
    assert_int_equal(f.kind, TS_ELF_NOT_PROGRAM);
    assert_string_equal(f.not_program, "a shared library");
    assert_false(f.exec_refused); /* the kernel starts one (libc.so.6 prints its version) */
    assert_string_equal(f.soname, "libfix.so");
    assert_true(f.hooks & HOOK(CONNECT)); /* libraries' imports are read the same way */
    assert_int_equal(ts_elf_decide(&f, NULL, NULL), TS_ELF_V_NOT_EXECUTABLE);
    assert_string_equal(ts_elf_verdict_line(TS_ELF_V_NOT_EXECUTABLE),
                        "not traceable: not an ELF executable");
    ts_elf_file_free(&f);

    f = read_ok("/dev/null");
    assert_int_equal(f.kind, TS_ELF_NOT_ELF);
    ts_elf_file_free(&f);

    /* a FIFO without a writer: neither the open nor a read may block */
    assert_int_equal(mkfifo(fx("fifo"), 0755), 0);
    f = read_ok(fx("fifo"));
    assert_int_equal(f.kind, TS_ELF_NOT_ELF);
    ts_elf_file_free(&f);
    ts_elf_shebang sb;
    assert_int_equal(ts_elf_read_shebang(fx("fifo"), &sb), 0);
}

static void test_file_errors(void **state)
{
    (void)state;
    ts_elf_file f;
    char err[256] = "";
    errno = 0;
    assert_int_equal(ts_elf_read("/nonexistent/traceshim-test", &f, err, sizeof err), -1);
    assert_int_equal(errno, ENOENT);
    assert_string_equal(err, strerror(ENOENT));
    assert_int_equal(ts_elf_read("/", &f, err, sizeof err), -1);
    assert_int_equal(errno, EISDIR);
}

/* Patch e_machine: a program for another machine. */
static void test_foreign_machine(void **state)
{
    (void)state;
    REQUIRE(have_cc);
    REQUIRE(sh("cp '%s' '%s'", fx("plain"), fx("foreign")));
    int fd = open(fx("foreign"), O_RDWR);
    assert_true(fd >= 0);
    ts_elf_file f = read_ok(fx("plain"));
    uint16_t other = f.machine == EM_S390 ? EM_X86_64 : EM_S390;
    ts_elf_file_free(&f);
    assert_int_equal(pwrite(fd, &other, 2, 18), 2); /* little-endian hosts */
    close(fd);
    f = read_ok(fx("foreign"));
    if (f.machine != other) { /* a big-endian host wrote it the other way round */
        ts_elf_file_free(&f);
        skip();
    }
    assert_true(f.foreign);
    assert_int_equal(ts_elf_decide(&f, NULL, NULL), TS_ELF_V_FOREIGN);
    char buf[64];
    assert_string_equal(ts_elf_machine_name(EM_S390, ELFCLASS64, buf, sizeof buf), "s390x");
    assert_string_equal(ts_elf_machine_name(9999, ELFCLASS32, buf, sizeof buf),
                        "ELF machine 9999, 32-bit");
    ts_elf_file_free(&f);
}

/* ---- Go ---- */

static void test_go_markers(void **state)
{
    (void)state;
    REQUIRE(have_cc);
    ts_elf_file f = read_ok(fx("go_symbol"));
    assert_non_null(f.go_marker);
    assert_non_null(strstr(f.go_marker, "runtime.main"));
    assert_int_equal(ts_elf_decide(&f, NULL, NULL), TS_ELF_V_GO);
    assert_string_equal(ts_elf_verdict_line(TS_ELF_V_GO),
                        "not traceable: Go binary (makes its own system calls)");
    ts_elf_file_free(&f);

    /* gccgo's programs run on libgo.so, through the C library */
    if (access(fx("gccgo_like"), F_OK) == 0) {
        f = read_ok(fx("gccgo_like"));
        assert_null(f.go_marker);
        ts_elf_file_free(&f);
    }

    /* the plain program is not Go */
    f = read_ok(fx("plain"));
    assert_null(f.go_marker);
    ts_elf_file_free(&f);

    REQUIRE(have_objcopy && access(fx("go_note"), F_OK) == 0);
    f = read_ok(fx("go_note"));
    assert_non_null(f.go_marker);
    assert_non_null(strstr(f.go_marker, ".note.go.buildid"));
    assert_true(f.dynamic); /* Go wins over "dynamic" */
    assert_int_equal(ts_elf_decide(&f, NULL, NULL), TS_ELF_V_GO);
    ts_elf_file_free(&f);

    REQUIRE(access(fx("go_buildinfo"), F_OK) == 0);
    f = read_ok(fx("go_buildinfo"));
    assert_non_null(f.go_marker);
    assert_non_null(strstr(f.go_marker, ".go.buildinfo"));
    ts_elf_file_free(&f);
}

/* ---- libraries ---- */

static void test_library_through_origin(void **state)
{
    (void)state;
    REQUIRE(have_cc && access(fx("uses_lib_origin"), F_OK) == 0);
    const char *progs[] = {"uses_lib_origin", "uses_lib_runpath"};
    for (size_t k = 0; k < 2; k++) {
        ts_elf_file f = read_ok(fx(progs[k]));
        assert_int_equal(f.hooks & TS_ELF_HOOKS_CONNECTION, 0);
        assert_non_null(k == 0 ? f.rpath : f.runpath);
        assert_string_equal(k == 0 ? f.rpath : f.runpath, "$ORIGIN");
        /* LD_LIBRARY_PATH and the defaults name nothing useful */
        ts_elf_search where = {
            .ld_library_path = "", .cache_file = "/nonexistent", .default_dirs = "/nonexistent"};
        ts_elf_libs libs;
        assert_int_equal(ts_elf_load_libs(fx(progs[k]), &f, &where, &libs), 0);
        const ts_elf_lib *lib = find_lib(&libs, "libfix.so");
        assert_non_null(lib);
        assert_non_null(lib->path);
        assert_string_equal(lib->path, fx("libfix.so"));
        assert_true(lib->hooks & HOOK(CONNECT));
        assert_int_equal(lib->depth, 1);
        /* libc is nowhere to be found with these search rules */
        assert_true(libs.n_missing >= 1);
        assert_null(find_lib(&libs, "libc.so.6")->path);
        /* the verdict comes from the library's import */
        assert_int_equal(ts_elf_decide(&f, &libs, NULL), TS_ELF_V_TRACEABLE);
        ts_elf_libs_free(&libs);
        ts_elf_file_free(&f);
    }
}

static void test_library_search_path(void **state)
{
    (void)state;
    REQUIRE(have_cc && access(fx("uses_lib_plain"), F_OK) == 0);
    ts_elf_file f = read_ok(fx("uses_lib_plain"));
    assert_null(f.rpath);
    assert_null(f.runpath);
    ts_elf_libs libs;

    /* not found: the verdict cannot see the library's connect */
    ts_elf_search nowhere = {.ld_library_path = "/nonexistent", .cache_file = "/nonexistent"};
    assert_int_equal(ts_elf_load_libs(fx("uses_lib_plain"), &f, &nowhere, &libs), 0);
    assert_null(find_lib(&libs, "libfix.so")->path);
    assert_non_null(find_lib(&libs, "libc.so.6")->path); /* the default directories */
    assert_int_equal(libs.n_missing, 1);
    assert_int_equal(ts_elf_decide(&f, &libs, NULL), TS_ELF_V_NO_NETWORK);
    ts_elf_libs_free(&libs);

    /* LD_LIBRARY_PATH, after an empty and a missing entry */
    char llp[PATH_MAX + 32];
    snprintf(llp, sizeof llp, "::/nonexistent:%s", dir);
    ts_elf_search env = {.ld_library_path = llp, .cache_file = "/nonexistent"};
    assert_int_equal(ts_elf_load_libs(fx("uses_lib_plain"), &f, &env, &libs), 0);
    assert_string_equal(find_lib(&libs, "libfix.so")->path, fx("libfix.so"));
    assert_int_equal(ts_elf_decide(&f, &libs, NULL), TS_ELF_V_TRACEABLE);
    ts_elf_libs_free(&libs);

    /* an ld.so.cache in glibc's new format that names the library */
    unsigned char cache[512] = {0};
    memcpy(cache, "glibc-ld.so.cache1.1", 20);
    uint32_t nlibs = 1, key = 48 + 24, value = key + sizeof "libfix.so";
    memcpy(cache + 20, &nlibs, 4);
    int32_t flags = 0x0303;
    memcpy(cache + 48, &flags, 4);
    memcpy(cache + 52, &key, 4);
    memcpy(cache + 56, &value, 4);
    memcpy(cache + key, "libfix.so", sizeof "libfix.so");
    const char *target = fx("libfix.so");
    memcpy(cache + value, target, strlen(target) + 1);
    uint32_t len_strings = value + (uint32_t)strlen(target) + 1 - key;
    memcpy(cache + 24, &len_strings, 4);
    write_file(fx("ld.so.cache"), cache, value + strlen(target) + 1, 0644);
    ts_elf_search cached = {.ld_library_path = "", .cache_file = fx("ld.so.cache")};
    assert_int_equal(ts_elf_load_libs(fx("uses_lib_plain"), &f, &cached, &libs), 0);
    assert_string_equal(find_lib(&libs, "libfix.so")->path, fx("libfix.so"));
    ts_elf_libs_free(&libs);

    /* a library for another machine is passed over */
    REQUIRE(sh("mkdir -p '%s/other' && cp '%s' '%s/other/libfix.so'", dir, fx("libfix.so"), dir));
    char other[PATH_MAX];
    snprintf(other, sizeof other, "%s/other/libfix.so", dir);
    int fd = open(other, O_RDWR);
    assert_true(fd >= 0);
    uint16_t m = EM_S390;
    assert_int_equal(pwrite(fd, &m, 2, 18), 2);
    close(fd);
    snprintf(llp, sizeof llp, "%s/other:%s", dir, dir);
    assert_int_equal(ts_elf_load_libs(fx("uses_lib_plain"), &f, &env, &libs), 0);
    assert_string_equal(find_lib(&libs, "libfix.so")->path, fx("libfix.so"));
    ts_elf_libs_free(&libs);
    ts_elf_file_free(&f);
}

static void test_tls_names(void **state)
{
    (void)state;
    assert_int_equal(ts_elf_tls_of("libssl.so.3"), TS_ELF_TLS_OPENSSL);
    assert_int_equal(ts_elf_tls_of("libssl.so.1.1"), TS_ELF_TLS_OPENSSL);
    assert_int_equal(ts_elf_tls_of("libgnutls.so.30"), TS_ELF_TLS_GNUTLS);
    assert_int_equal(ts_elf_tls_of("libcrypto.so.3"), TS_ELF_TLS_NONE);
    assert_int_equal(ts_elf_tls_of("libssl3.so"), TS_ELF_TLS_NONE); /* NSS */
    assert_int_equal(ts_elf_tls_of("libc.so.6"), TS_ELF_TLS_NONE);
}

/* Real system programs, when installed: curl links OpenSSL through libcurl. */
static void test_system_programs(void **state)
{
    (void)state;
    REQUIRE(access("/usr/bin/curl", R_OK) == 0);
    ts_elf_file f = read_ok("/usr/bin/curl");
    assert_int_equal(f.kind, TS_ELF_PROGRAM);
    assert_true(f.dynamic);
    ts_elf_libs libs;
    assert_int_equal(ts_elf_load_libs("/usr/bin/curl", &f, NULL, &libs), 0);
    const ts_elf_lib *curl = find_lib(&libs, "libcurl.so.4");
    REQUIRE(curl != NULL && curl->path != NULL);
    assert_true(curl->hooks & HOOK(CONNECT));
    assert_int_equal(ts_elf_decide(&f, &libs, NULL), TS_ELF_V_TRACEABLE);
    const ts_elf_lib *ssl = NULL;
    for (size_t i = 0; i < libs.n && !ssl; i++)
        if (ts_elf_tls_of(libs.libs[i].name) == TS_ELF_TLS_OPENSSL)
            ssl = &libs.libs[i];
    if (ssl) {
        assert_int_equal(ssl->depth, 2);
        assert_string_equal(libs.libs[ssl->parent].name, "libcurl.so.4");
    }
    ts_elf_libs_free(&libs);
    ts_elf_file_free(&f);
}

/* glibc's dynamic loader run as a program (ld.so PROGRAM): it has a soname,
 * an entry point and no interpreter, like a library, and was called "a
 * shared library" (not traceable, exit 1), while `traceshim run ld.so
 * PROGRAM` traces PROGRAM. What tells it from a library is that it
 * defines _rtld_global; a library with an entry point (libc.so.6 prints
 * its version), or one that only has the loader's soname, stays one. */
static void test_the_dynamic_loader(void **state)
{
    (void)state;
    ts_elf_file self = read_ok("/proc/self/exe");
    REQUIRE(self.interp != NULL);
    char loader[PATH_MAX];
    snprintf(loader, sizeof loader, "%s", self.interp);
    ts_elf_libs libs;
    assert_int_equal(ts_elf_load_libs("/proc/self/exe", &self, NULL, &libs), 0);
    const ts_elf_lib *lc = find_lib(&libs, "libc.so.6");
    char libc[PATH_MAX];
    snprintf(libc, sizeof libc, "%s", lc && lc->path ? lc->path : "");
    ts_elf_libs_free(&libs);
    ts_elf_file_free(&self);

    ts_elf_file f = read_ok(loader);
    assert_int_equal(f.kind, TS_ELF_PROGRAM);
    assert_true(f.loader);
    assert_false(f.dynamic);
    assert_false(f.static_pie);
    assert_non_null(f.soname);
    assert_int_equal(ts_elf_decide(&f, NULL, NULL), TS_ELF_V_LOADER);
    assert_true(ts_elf_verdict_ok(TS_ELF_V_LOADER));
    assert_string_equal(ts_elf_verdict_line(TS_ELF_V_LOADER),
                        "traceable: the dynamic loader (the program it runs is traced)");
    /* set-user-ID, it would run in secure-execution mode all the same */
    ts_elf_secure s = {.setuid = true, .uid = 0};
    assert_int_equal(ts_elf_decide(&f, NULL, &s), TS_ELF_V_SETID);
    ts_elf_file_free(&f);

    /* libc.so.6: an entry point, a soname, and PT_INTERP; its verdict as before */
    REQUIRE(libc[0] != '\0');
    f = read_ok(libc);
    assert_false(f.loader);
    assert_int_equal(f.kind, TS_ELF_PROGRAM);
    assert_true(f.dynamic);
    assert_int_equal(ts_elf_decide(&f, NULL, NULL), TS_ELF_V_NO_NETWORK);
    ts_elf_file_free(&f);

    REQUIRE(have_cc);
    /* an entry point and a soname, no interpreter: a library, even named as the loader */
    assert_true(sh("cd '%s' && cc -shared -fPIC -o libentry.so -Wl,-soname,ld-linux-x86-64.so.2 "
                   "-Wl,-e,fix_connect libfix.c",
                   dir));
    f = read_ok(fx("libentry.so"));
    assert_false(f.loader);
    assert_int_equal(f.kind, TS_ELF_NOT_PROGRAM);
    assert_string_equal(f.not_program, "a shared library");
    assert_int_equal(ts_elf_decide(&f, NULL, NULL), TS_ELF_V_NOT_EXECUTABLE);
    ts_elf_file_free(&f);
    /* ... and one that defines _rtld_global is taken for the loader */
    write_file(fx("rtld.c"), "int _rtld_global[4];\nvoid rtld_start(void) {}\n", 46, 0644);
    assert_true(sh("cd '%s' && cc -shared -fPIC -nostdlib -o librtld.so -Wl,-soname,ld.so.1 "
                   "-Wl,-e,rtld_start rtld.c",
                   dir));
    f = read_ok(fx("librtld.so"));
    assert_true(f.loader);
    assert_int_equal(ts_elf_decide(&f, NULL, NULL), TS_ELF_V_LOADER);
    ts_elf_file_free(&f);
    /* a static PIE that exports the name is still a static PIE (it was
     * called the loader, "traceable") */
    write_file(fx("sp.c"), "int _rtld_global[4];\nint main(void) { return 0; }\n", 50, 0644);
    REQUIRE(
        sh("cd '%s' && cc -static-pie -Wl,--export-dynamic-symbol=_rtld_global -o sp sp.c", dir));
    f = read_ok(fx("sp"));
    assert_false(f.loader);
    assert_true(f.static_pie);
    assert_int_equal(ts_elf_decide(&f, NULL, NULL), TS_ELF_V_STATIC);
    ts_elf_file_free(&f);
}

/* ---- scripts ---- */

static void test_shebang(void **state)
{
    (void)state;
    ts_elf_shebang sb;
    write_file(fx("s1"), "#!/bin/sh\necho\n", 15, 0755);
    assert_int_equal(ts_elf_read_shebang(fx("s1"), &sb), 1);
    assert_string_equal(sb.interp, "/bin/sh");
    assert_string_equal(sb.arg, "");

    const char *s2 = "#! /usr/bin/env  -S python3 -u \t\r\nprint()\n";
    write_file(fx("s2"), s2, strlen(s2), 0755);
    assert_int_equal(ts_elf_read_shebang(fx("s2"), &sb), 1);
    assert_string_equal(sb.interp, "/usr/bin/env");
    assert_string_equal(sb.arg, "-S python3 -u");

    write_file(fx("s3"), "#!/bin/bash -e", 14, 0755); /* no newline: still a line */
    assert_int_equal(ts_elf_read_shebang(fx("s3"), &sb), 1);
    assert_string_equal(sb.interp, "/bin/bash");
    assert_string_equal(sb.arg, "-e");

    write_file(fx("s4"), "#!\n", 3, 0755);
    errno = 0;
    assert_int_equal(ts_elf_read_shebang(fx("s4"), &sb), -1);
    assert_int_equal(errno, ENOEXEC);

    /* an interpreter cut off by the kernel's 256-byte buffer */
    char longline[400];
    memset(longline, 'x', sizeof longline);
    memcpy(longline, "#!/", 3);
    write_file(fx("s5"), longline, sizeof longline, 0755);
    errno = 0;
    assert_int_equal(ts_elf_read_shebang(fx("s5"), &sb), -1);
    assert_int_equal(errno, ENOEXEC);
    assert_true(sb.interp_cut);
    /* the kernel wants the name ended within its buffer: a blank at byte
     * 256 is too late, at byte 255 (the last) in time (a 253-byte name
     * runs with ENOENT, a 254-byte one gives ENOEXEC) */
    longline[256] = ' ';
    write_file(fx("s5"), longline, sizeof longline, 0755);
    assert_int_equal(ts_elf_read_shebang(fx("s5"), &sb), -1);
    assert_true(sb.interp_cut);
    longline[255] = ' ';
    write_file(fx("s5"), longline, sizeof longline, 0755);
    assert_int_equal(ts_elf_read_shebang(fx("s5"), &sb), 1);
    assert_int_equal(strlen(sb.interp), 253);
    /* blanks alone: no interpreter, nothing cut */
    memset(longline + 2, ' ', sizeof longline - 2);
    write_file(fx("s5"), longline, sizeof longline, 0755);
    assert_int_equal(ts_elf_read_shebang(fx("s5"), &sb), -1);
    assert_false(sb.interp_cut);
    /* no newline and no argument: the end of the file ends the name (it
     * was taken for a name cut off) */
    write_file(fx("s5"), "#!/bin/sh", 9, 0755);
    assert_int_equal(ts_elf_read_shebang(fx("s5"), &sb), 1);
    assert_string_equal(sb.interp, "/bin/sh");

    write_file(fx("s6"), "echo hi\n", 8, 0755);
    assert_int_equal(ts_elf_read_shebang(fx("s6"), &sb), 0);
    assert_int_equal(ts_elf_read_shebang("/nonexistent/x", &sb), -1);
}

/* bash's check_binary_file: a NUL byte in the first line of the first 80
 * bytes makes a file it does not run as a script */
static void test_shell_runs_it(void **state)
{
    (void)state;
    write_file(fx("t1"), "echo hi\n", 8, 0755);
    assert_true(ts_elf_shell_runs_it(fx("t1")));
    write_file(fx("t2"), "", 0, 0755);
    assert_true(ts_elf_shell_runs_it(fx("t2")));
    write_file(fx("t3"), "ab\0cd\n", 6, 0755);
    assert_false(ts_elf_shell_runs_it(fx("t3")));
    write_file(fx("t4"), "ab\ncd\0\n", 7, 0755); /* after the first line: text */
    assert_true(ts_elf_shell_runs_it(fx("t4")));
    char late[100];
    memset(late, 'x', sizeof late);
    late[90] = '\0'; /* past the 80 bytes bash reads */
    write_file(fx("t5"), late, sizeof late, 0755);
    assert_true(ts_elf_shell_runs_it(fx("t5")));
    assert_false(ts_elf_shell_runs_it("/nonexistent/x"));
}

static void test_env_target(void **state)
{
    (void)state;
    char name[64];
    assert_true(ts_elf_env_target("python3", name, sizeof name));
    assert_string_equal(name, "python3");
    assert_true(ts_elf_env_target("-S python3 -u", name, sizeof name));
    assert_string_equal(name, "python3");
    assert_true(ts_elf_env_target("-S A=1 -u HOME -C / node --flag", name, sizeof name));
    assert_string_equal(name, "node");
    assert_true(ts_elf_env_target("--split-string=ruby -w", name, sizeof name));
    assert_string_equal(name, "ruby");
    /* without -S env gets one word: options and spaces name no program */
    assert_false(ts_elf_env_target("-i", name, sizeof name));
    assert_false(ts_elf_env_target("", name, sizeof name));
    assert_false(ts_elf_env_target("-S", name, sizeof name));
    assert_false(ts_elf_env_target("A=1", name, sizeof name));
    assert_false(ts_elf_env_target("averyveryverylongprogramname", name, 8));
}

/* ---- secure-execution mode ---- */

static void test_secure_rules(void **state)
{
    (void)state;
    ts_elf_secure s = {.setuid = true, .uid = 0, .gid = 0};
    assert_true(ts_elf_secure_any(&s));
    assert_false(ts_elf_secure_for(&s, 0, 0));   /* its owner runs it */
    assert_true(ts_elf_secure_for(&s, 1000, 0)); /* anyone else */
    s = (ts_elf_secure){.setgid = true, .uid = 0, .gid = 50};
    assert_false(ts_elf_secure_for(&s, 1000, 50));
    assert_true(ts_elf_secure_for(&s, 0, 0)); /* even root, with another real group */
    s = (ts_elf_secure){.caps = true};
    assert_false(ts_elf_secure_for(&s, 0, 0));
    assert_true(ts_elf_secure_for(&s, 1000, 1000));
    s = (ts_elf_secure){.setuid = true, .caps = true, .nosuid_mount = true};
    assert_false(ts_elf_secure_any(&s));
    assert_false(ts_elf_secure_for(&s, 1000, 1000));
}

static void test_secure_files(void **state)
{
    (void)state;
    REQUIRE(have_cc);
    REQUIRE(sh("cp '%s' '%s' && chmod 4755 '%s'", fx("plain"), fx("suid"), fx("suid")));
    ts_elf_secure s;
    assert_int_equal(ts_elf_read_secure(fx("suid"), &s), 0);
    assert_true(s.setuid);
    assert_false(s.setgid);
    assert_int_equal(s.uid, getuid());
    ts_elf_file f = read_ok(fx("suid"));
    if (!s.nosuid_mount) {
        assert_int_equal(ts_elf_decide(&f, NULL, &s), TS_ELF_V_SETID);
        assert_string_equal(ts_elf_verdict_line(TS_ELF_V_SETID), "not traceable: setuid/setgid");
        assert_false(ts_elf_secure_for(&s, getuid(), getgid()));
    } else {
        assert_int_equal(ts_elf_decide(&f, NULL, &s), TS_ELF_V_NO_NETWORK);
    }
    ts_elf_file_free(&f);

    /* set-group-ID without group execute is mandatory locking, not an id change */
    assert_int_equal(chmod(fx("suid"), 02744), 0);
    assert_int_equal(ts_elf_read_secure(fx("suid"), &s), 0);
    assert_false(s.setuid);
    assert_false(s.setgid);
    assert_int_equal(chmod(fx("suid"), 02755), 0);
    assert_int_equal(ts_elf_read_secure(fx("suid"), &s), 0);
    assert_true(s.setgid);
    assert_int_equal(s.gid, getegid());

    assert_int_equal(ts_elf_read_secure(fx("plain"), &s), 0);
    assert_false(s.setuid || s.setgid || s.caps);
    assert_int_equal(ts_elf_read_secure("/nonexistent/x", &s), -1);
}

/* The order of the verdicts: the most basic reason wins. */
static void test_verdict_order(void **state)
{
    (void)state;
    ts_elf_file f = {
        .kind = TS_ELF_PROGRAM, .dynamic = true, .imports_known = true, .hooks = HOOK(CONNECT)};
    ts_elf_secure s = {.setuid = true, .uid = 0};
    assert_int_equal(ts_elf_decide(&f, NULL, &s), TS_ELF_V_SETID);
    s = (ts_elf_secure){.caps = true};
    assert_int_equal(ts_elf_decide(&f, NULL, &s), TS_ELF_V_CAPS);
    assert_string_equal(ts_elf_verdict_line(TS_ELF_V_CAPS), "not traceable: file capabilities");
    f.dynamic = false;
    assert_int_equal(ts_elf_decide(&f, NULL, &s), TS_ELF_V_STATIC);
    f.go_marker = "test";
    assert_int_equal(ts_elf_decide(&f, NULL, &s), TS_ELF_V_GO);
    f.foreign = true;
    assert_int_equal(ts_elf_decide(&f, NULL, &s), TS_ELF_V_FOREIGN);
    f.kind = TS_ELF_NOT_PROGRAM;
    assert_int_equal(ts_elf_decide(&f, NULL, &s), TS_ELF_V_NOT_EXECUTABLE);

    /* no symbol table to read: it may well connect */
    f = (ts_elf_file){.kind = TS_ELF_PROGRAM, .dynamic = true, .imports_known = false};
    assert_int_equal(ts_elf_decide(&f, NULL, NULL), TS_ELF_V_TRACEABLE);
    /* read and write alone make no connection the shim tracks */
    f.imports_known = true;
    f.hooks = HOOK(READ) | HOOK(WRITE) | HOOK(SEND);
    assert_int_equal(ts_elf_decide(&f, NULL, NULL), TS_ELF_V_NO_NETWORK);
    f.hooks |= HOOK(ACCEPT4);
    assert_int_equal(ts_elf_decide(&f, NULL, NULL), TS_ELF_V_TRACEABLE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hook_names_are_hooks),
        cmocka_unit_test(test_dynamic_without_network),
        cmocka_unit_test(test_dynamic_with_network),
        cmocka_unit_test(test_fortify_imports),
        cmocka_unit_test(test_static),
        cmocka_unit_test(test_not_programs),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_foreign_machine),
        cmocka_unit_test(test_go_markers),
        cmocka_unit_test(test_library_through_origin),
        cmocka_unit_test(test_library_search_path),
        cmocka_unit_test(test_tls_names),
        cmocka_unit_test(test_system_programs),
        cmocka_unit_test(test_the_dynamic_loader),
        cmocka_unit_test(test_shebang),
        cmocka_unit_test(test_shell_runs_it),
        cmocka_unit_test(test_env_target),
        cmocka_unit_test(test_secure_rules),
        cmocka_unit_test(test_secure_files),
        cmocka_unit_test(test_verdict_order),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
