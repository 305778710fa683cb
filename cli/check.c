/* check.c — `traceshim check [--warn] PROGRAM`: says, without running it,
 * whether libtraceshim.so can see PROGRAM's network calls (elf_inspect does
 * the reading). A bare name is looked up on PATH as the shell does; a #!
 * script is followed to its interpreter (through /usr/bin/env too), and a
 * file the kernel refuses but a shell runs itself (no #!) to /bin/sh.
 *
 * Output on stdout: the verdict line, one sentence of why, then details
 * ("key: value" lines). With --warn (what `traceshim run` uses) nothing goes
 * to stdout, libraries are not read, and only a program that would run
 * untraced for the user running this gets one line on stderr.
 * Exit status: 0 traceable, 1 not traceable, 2 bad usage or a file that
 * cannot be read. */
#include "cli/elf_inspect.h"
#include "common/terminal_text.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The kernel follows at most this many #! interpreters in a row. */
#define MAX_SCRIPTS 4

/* The shell whose verdict stands for a program execve refuses (ENOEXEC)
 * and a shell runs as a script of its own: sh for most callers (bash under
 * traceshim run); the programs it starts are traced either way. */
#define SCRIPT_SHELL "/bin/sh"

typedef struct {
    char script[PATH_MAX]; /* the script */
    char line[600];        /* its #! line, as written */
    bool via_env;          /* the interpreter is env, which runs the next file */
} script_hop;

typedef struct {
    bool warn;           /* --warn: the one-line mode for `run` */
    const char *given;   /* PROGRAM as typed */
    char path[PATH_MAX]; /* the file the verdict is about */
    script_hop hops[MAX_SCRIPTS];
    int n_hops;
    char shell_script[PATH_MAX];    /* non-empty: execve refuses this file (ENOEXEC), a
                                       shell runs it itself, and path is that shell */
    char shell_why[PATH_MAX + 160]; /* why execve refuses it */
    ts_elf_file file;
    ts_elf_secure secure;
    ts_elf_libs libs;
    bool have_libs;
    ts_elf_verdict verdict;
} check;

static void usage(FILE *out)
{
    fputs("usage: traceshim check [--warn] PROGRAM\n"
          "\n"
          "Says whether traceshim can trace PROGRAM, without running it: reads its ELF\n"
          "file and the libraries it links, and prints a verdict line (traceable, or\n"
          "not traceable and the reason), one sentence of why, then details: linking,\n"
          "interpreter, which interposed calls it imports, its TLS library.\n"
          "A bare name is looked up on PATH; for a #! script its interpreter is checked,\n"
          "for a script the kernel refuses and a shell runs itself (no #!) /bin/sh.\n"
          "\n"
          "  --warn      for traceshim run: print nothing on stdout, and one line on\n"
          "              stderr only when PROGRAM would run untraced for this user\n"
          "              (exit status 1), or would not start at all: an ELF file the\n"
          "              kernel refuses, damaged or not a program (exit status 3)\n"
          "  -h, --help  show this help\n"
          "\n"
          "Exit status: 0 traceable, 1 not traceable, 2 bad usage or unreadable file.\n",
          out);
}

/* Writes text to out with the characters a terminal must not get as they
 * are escaped (common/terminal_text.h: \x1b, \r, \u202e, a byte that is
 * not UTF-8 as \xNN): the names check shows come from the file it reads
 * (a #! line, DT_NEEDED entries, PT_INTERP, paths), and a name with
 * "\e]0;...\a" or "\e[2J" in it retitled or cleared the terminal. */
static void put_escaped(FILE *out, const char *text)
{
    char esc[TS_TERMINAL_ESC_MAX];
    for (const char *s = text; *s;) {
        size_t n = ts_terminal_char(s, esc);
        if (esc[0])
            fputs(esc, out);
        else
            fwrite(s, 1, n, out);
        s += n;
    }
}

/* vfprintf to out through put_escaped: every character of the text is
 * escaped but the format's own line end (a format that ends in "\n"),
 * so a newline in a name cannot start a line of its own. Each line check
 * writes with a name in it goes through here. */
static void vsay(FILE *out, const char *fmt, va_list ap)
{
    char small[1024], *text = small;
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    if (n >= (int)sizeof small) {
        text = malloc((size_t)n + 1);
        if (text)
            vsnprintf(text, (size_t)n + 1, fmt, again);
    }
    va_end(again);
    if (n < 0 || !text) {
        fputs("(out of memory)\n", out);
        return;
    }
    size_t len = strlen(fmt);
    bool line_end = len > 0 && fmt[len - 1] == '\n';
    if (line_end)
        text[n - 1] = '\0'; /* the format's "\n", the text's last character */
    put_escaped(out, text);
    if (line_end)
        fputc('\n', out);
    if (text != small)
        free(text);
}

static void say(FILE *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(FILE *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsay(out, fmt, ap);
    va_end(ap);
}

/* A message on stderr (not in --warn mode, where `run` stays quiet);
 * returns 2, the exit status for file errors. A name's control characters
 * are shown, not obeyed (put_escaped): a script written on Windows names
 * "/bin/sh\r" on its #! line, whose \r moved the cursor back over the
 * message. */
static int file_error(const check *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int file_error(const check *c, const char *fmt, ...)
{
    if (c->warn)
        return 2;
    fputs("traceshim check: ", stderr);
    va_list ap;
    va_start(ap, fmt);
    vsay(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 2;
}

/* Finds name the way the shell does: with a slash it is a path, else the
 * first executable regular file of that name in a PATH directory. */
static bool resolve(const char *name, char *out, size_t len)
{
    if (strchr(name, '/')) {
        snprintf(out, len, "%s", name);
        return true;
    }
    const char *path = getenv("PATH");
    char fallback[256];
    if (!path) {
        size_t n = confstr(_CS_PATH, fallback, sizeof fallback);
        path = n > 0 && n <= sizeof fallback ? fallback : "/usr/bin:/bin";
    }
    for (const char *p = path;;) {
        const char *end = strchr(p, ':');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        int w = n == 0 ? snprintf(out, len, "%s", name)
                       : snprintf(out, len, "%.*s/%s", (int)n, p, name);
        struct stat st;
        if (w > 0 && (size_t)w < len && stat(out, &st) == 0 && S_ISREG(st.st_mode) &&
            access(out, X_OK) == 0)
            return true;
        if (!end)
            return false;
        p = end + 1;
    }
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash && slash[1] ? slash + 1 : path;
}

/* execve refuses the program (ENOEXEC) for the reason in why: no #! line,
 * or a #! line (its own or an interpreter's) the kernel does not take. A
 * shell that starts it runs it as a script of its own, as bash and sh do
 * (traceshim run does the same): the verdict is about that shell. */
static void run_by_shell(check *c, const char *why)
{
    snprintf(c->shell_script, sizeof c->shell_script, "%s",
             c->n_hops ? c->hops[0].script : c->path);
    snprintf(c->shell_why, sizeof c->shell_why, "%s", why);
    c->n_hops = 0;
    snprintf(c->path, sizeof c->path, "%s", SCRIPT_SHELL);
}

/* Reads c->path, following #! lines to the interpreter, and to the shell
 * for a file execve refuses and a shell runs. Returns 0 or the exit status
 * 2 (message printed). */
static int read_program(check *c)
{
    for (;;) {
        char err[256];
        if (ts_elf_read(c->path, &c->file, err, sizeof err) != 0) {
            if (c->n_hops > 0)
                return file_error(c, "%s: its interpreter %s: %s", c->hops[c->n_hops - 1].script,
                                  c->path, err);
            return file_error(c, "%s: %s", c->path, err);
        }
        /* execve wants execute permission on the program and on each
         * interpreter (EACCES; as the shell says, 126) */
        if (access(c->path, X_OK) != 0) {
            int e = errno;
            ts_elf_file_free(&c->file);
            if (c->n_hops > 0)
                return file_error(c, "%s: its interpreter %s: %s (not executable for this user)",
                                  c->hops[c->n_hops - 1].script, c->path, strerror(e));
            return file_error(c, "%s: %s (not executable for this user)", c->path, strerror(e));
        }
        if (c->file.kind != TS_ELF_NOT_ELF || c->n_hops == MAX_SCRIPTS || c->shell_script[0])
            return 0;
        ts_elf_shebang sb;
        int r = ts_elf_read_shebang(c->path, &sb);
        if (r < 0 && errno != ENOEXEC)
            return file_error(c, "%s: %s", c->path, strerror(errno));
        if (r <= 0) {
            char why[sizeof c->shell_why];
            if (r == 0 && c->n_hops == 0 && !ts_elf_shell_runs_it(c->path))
                return 0; /* not ELF, no #!, binary: the verdict says so */
            if (r == 0 && c->n_hops == 0)
                snprintf(why, sizeof why, "it has no #! line");
            else if (r == 0)
                snprintf(why, sizeof why,
                         "its #! interpreter %s is neither an ELF program nor a #! script",
                         c->path);
            else
                snprintf(why, sizeof why, "%s%s%s",
                         c->n_hops ? "the #! line of its interpreter " : "its #! line",
                         c->n_hops ? c->path : "",
                         sb.interp_cut ? " names an interpreter whose name runs past the 256 "
                                         "bytes the kernel reads"
                                       : " names no interpreter");
            ts_elf_file_free(&c->file);
            run_by_shell(c, why);
            continue;
        }
        script_hop *h = &c->hops[c->n_hops++];
        snprintf(h->script, sizeof h->script, "%s", c->path);
        snprintf(h->line, sizeof h->line, "#!%s%s%s", sb.interp, sb.arg[0] ? " " : "", sb.arg);
        char target[256];
        if (strcmp(base_name(sb.interp), "env") == 0 &&
            ts_elf_env_target(sb.arg, target, sizeof target)) {
            /* env runs target from PATH, with LD_PRELOAD still set: that is the program */
            h->via_env = true;
            if (!resolve(target, c->path, sizeof c->path))
                return file_error(c, "%s: %s runs %s, which is not on PATH", h->script, sb.interp,
                                  target);
        } else {
            snprintf(c->path, sizeof c->path, "%s", sb.interp);
        }
        ts_elf_file_free(&c->file);
    }
}

static void hook_list(FILE *out, uint32_t mask)
{
    const char *sep = "";
    for (int i = 0; i < TS_ELF_HOOK_COUNT; i++) {
        if (mask & (1u << i)) {
            say(out, "%s%s", sep, ts_elf_hook_names[i]);
            sep = ", ";
        }
    }
}

static const char *user_name(uid_t uid, char *buf, size_t len)
{
    struct passwd *pw = getpwuid(uid);
    if (pw)
        snprintf(buf, len, "%s (uid %u)", pw->pw_name, (unsigned)uid);
    else
        snprintf(buf, len, "uid %u", (unsigned)uid);
    return buf;
}

static const char *group_name(gid_t gid, char *buf, size_t len)
{
    struct group *gr = getgrgid(gid);
    if (gr)
        snprintf(buf, len, "%s (gid %u)", gr->gr_name, (unsigned)gid);
    else
        snprintf(buf, len, "gid %u", (unsigned)gid);
    return buf;
}

/* The first library that imports a connection call, or NULL. */
static const ts_elf_lib *first_connecting_lib(const check *c)
{
    for (size_t i = 0; c->have_libs && i < c->libs.n; i++)
        if (c->libs.libs[i].hooks & TS_ELF_HOOKS_CONNECTION)
            return &c->libs.libs[i];
    return NULL;
}

static const char *lib_parent_name(const check *c, const ts_elf_lib *lib)
{
    return lib->parent == SIZE_MAX ? base_name(c->path) : c->libs.libs[lib->parent].name;
}

/* The sentence after the verdict line. */
static void print_why(FILE *out, const check *c)
{
    const char *p = c->path;
    const ts_elf_file *f = &c->file;
    char buf[128], buf2[128], who[192];
    if (c->n_hops > 0)
        say(out, "%s is a script run by %s: ", c->hops[0].script, p);
    else if (c->shell_script[0])
        say(out,
            "execve refuses %s (%s), and a shell that starts it runs it as a script of "
            "its own, as %s would: ",
            c->shell_script, c->shell_why, p);
    switch (c->verdict) {
    case TS_ELF_V_TRACEABLE:
        if (!f->imports_known) {
            say(out,
                "%s is dynamically linked, but has no dynamic symbol table to show which "
                "calls it imports; the C library calls it makes are interposed.\n",
                p);
        } else if (f->hooks & TS_ELF_HOOKS_CONNECTION) {
            say(out, "%s is dynamically linked and imports ", p);
            hook_list(out, f->hooks & TS_ELF_HOOKS_CONNECTION);
            fputs(" from the C library, which libtraceshim.so interposes.\n", out);
        } else {
            const ts_elf_lib *lib = first_connecting_lib(c);
            if (lib && lib->depth > 1)
                snprintf(who, sizeof who, "%s (needed by %s)", lib->name, lib_parent_name(c, lib));
            else
                snprintf(who, sizeof who, "%s", lib ? lib->name : "?");
            say(out, "%s is dynamically linked and its library %s imports ", p, who);
            hook_list(out, lib ? lib->hooks & TS_ELF_HOOKS_CONNECTION : 0);
            fputs(" from the C library, which libtraceshim.so interposes.\n", out);
        }
        break;
    case TS_ELF_V_NO_NETWORK: {
        size_t n = c->have_libs ? c->libs.n : 0;
        char libs[64];
        if (n > 1)
            snprintf(libs, sizeof libs, "the %zu libraries it loads import", n);
        else
            snprintf(libs, sizeof libs, "%s library it loads imports", n ? "the" : "any");
        say(out,
            "%s is dynamically linked, but neither it nor %s connect, accept or accept4; "
            "a module it loads at run time (dlopen, such as Python's _socket) or a program "
            "it starts may still make those calls, and they are traced.\n",
            p, libs);
        break;
    }
    case TS_ELF_V_LOADER:
        say(out,
            "%s is the dynamic loader, run as a program: it loads the program its arguments "
            "name (%s PROGRAM [ARGS]) and preloads LD_PRELOAD's libraries into it as when the "
            "kernel starts that program, so the program it runs is what is traced (traceshim "
            "check PROGRAM says whether it can be).\n",
            p, p);
        break;
    case TS_ELF_V_NOT_EXECUTABLE:
        if (f->kind == TS_ELF_NOT_ELF && c->n_hops == MAX_SCRIPTS)
            say(out,
                "%s is another script; like the kernel, traceshim check follows at most "
                "%d #! interpreters.\n",
                p, MAX_SCRIPTS);
        else if (f->kind == TS_ELF_NOT_ELF)
            say(out,
                "%s is neither an ELF program nor a #! script, so there is no process "
                "image for the dynamic loader to preload libtraceshim.so into.\n",
                p);
        else
            say(out, "%s is %s, not a program the dynamic loader starts.\n", p, f->not_program);
        break;
    case TS_ELF_V_FOREIGN:
        say(out,
            "%s is built for %s, but libtraceshim.so is built for %s, and the dynamic "
            "loader does not preload a library built for another machine.\n",
            p, ts_elf_machine_name(f->machine, f->elf_class, buf, sizeof buf),
            ts_elf_host_name(buf2, sizeof buf2));
        break;
    case TS_ELF_V_GO:
        say(out,
            "%s is a Go program: Go makes its network system calls itself instead of "
            "calling the C library's connect, send and recv, so there is nothing for "
            "LD_PRELOAD to interpose%s.\n",
            p, f->dynamic ? ", even though it is dynamically linked (cgo)" : "");
        break;
    case TS_ELF_V_STATIC:
        say(out,
            "%s is statically linked: it has no program interpreter (PT_INTERP), so no "
            "dynamic loader runs, LD_PRELOAD is never read and its calls to the C "
            "library are bound when it was built; programs it starts are still traced "
            "if they can be.\n",
            p);
        break;
    case TS_ELF_V_SETID: {
        /* who: the user and/or real group that runs it without a change of ids */
        const ts_elf_secure *s = &c->secure;
        char user[128] = "", group[128] = "", runner[300];
        if (s->setuid)
            user_name(s->uid, user, sizeof user);
        if (s->setgid)
            group_name(s->gid, group, sizeof group);
        if (s->setuid && s->setgid)
            snprintf(runner, sizeof runner, "%s with real group %s", user, group);
        else if (s->setuid)
            snprintf(runner, sizeof runner, "%s", user);
        else
            snprintf(runner, sizeof runner, "a user whose real group is %s", group);
        say(out,
            "%s is %s%s%s%s%s: started by anyone but %s, it runs in secure-execution "
            "mode (AT_SECURE), in which the dynamic loader ignores LD_PRELOAD entries "
            "that contain a slash, such as the path traceshim run gives "
            "libtraceshim.so, and loads others only from the system library "
            "directories and only if they are set-user-ID themselves; so it is traced "
            "only when %s starts it.\n",
            p, s->setuid ? "set-user-ID " : "", user, s->setuid && s->setgid ? " and " : "",
            s->setgid ? "set-group-ID " : "", group, runner, runner);
        break;
    }
    case TS_ELF_V_CAPS:
        say(out,
            "%s has file capabilities (security.capability): started by any user but "
            "root, it runs in secure-execution mode (AT_SECURE), in which the dynamic "
            "loader ignores LD_PRELOAD entries that contain a slash, such as the path "
            "traceshim run gives libtraceshim.so; so it runs untraced unless root starts "
            "it.\n",
            p);
        break;
    }
}

static void print_libraries(FILE *out, const check *c)
{
    const ts_elf_libs *l = &c->libs;
    size_t direct = 0;
    for (size_t i = 0; i < l->n; i++)
        direct += l->libs[i].depth == 1;
    say(out, "libraries: %zu needed", direct);
    const char *sep = " (";
    for (size_t i = 0; i < l->n; i++) {
        if (l->libs[i].depth == 1) {
            say(out, "%s%s", sep, l->libs[i].name);
            sep = ", ";
        }
    }
    say(out, "%s, %zu loaded in all%s", direct ? ")" : "", l->n,
        l->truncated ? " (stopped there: there are more)" : "");
    if (l->n_missing) {
        fputs("; not found: ", out);
        sep = "";
        for (size_t i = 0; i < l->n; i++) {
            if (!l->libs[i].path) {
                say(out, "%s%s", sep, l->libs[i].name);
                sep = ", ";
            }
        }
    }
    fputc('\n', out);
}

static void print_imports(FILE *out, const check *c)
{
    const ts_elf_file *f = &c->file;
    if (!f->imports_known) {
        fputs("imports: unknown (no dynamic symbol table)\n", out);
        return;
    }
    say(out, "imports: %s: ", base_name(c->path));
    if (f->hooks)
        hook_list(out, f->hooks);
    else
        fputs("none of the interposed calls", out);
    fputc('\n', out);
    if (!c->have_libs)
        return;
    /* The libraries it needs itself one line each; deeper ones, only when
     * they can open a connection, on one line. */
    bool deeper = false;
    for (size_t i = 0; i < c->libs.n; i++) {
        const ts_elf_lib *lib = &c->libs.libs[i];
        if (lib->depth == 1 && lib->hooks) {
            say(out, "imports: %s: ", lib->name);
            hook_list(out, lib->hooks);
            fputc('\n', out);
        } else if (lib->depth > 1 && (lib->hooks & TS_ELF_HOOKS_CONNECTION)) {
            say(out, "%s%s", deeper ? ", " : "imports: connect/accept also in ", lib->name);
            deeper = true;
        }
    }
    if (deeper)
        fputs(" (libraries of its libraries)\n", out);
}

static void print_tls(FILE *out, const check *c)
{
    const ts_elf_lib *found[3] = {NULL, NULL, NULL};
    for (size_t i = 0; i < c->libs.n; i++) {
        const ts_elf_lib *lib = &c->libs.libs[i];
        ts_elf_tls t = lib->depth <= 2 ? ts_elf_tls_of(lib->name) : TS_ELF_TLS_NONE;
        if (t != TS_ELF_TLS_NONE && !found[t])
            found[t] = lib;
    }
    static const char *const names[] = {NULL, "OpenSSL", "GnuTLS"};
    for (int t = TS_ELF_TLS_OPENSSL; t <= TS_ELF_TLS_GNUTLS; t++) {
        const ts_elf_lib *lib = found[t];
        if (!lib)
            continue;
        /* libtraceshim.so interposes both libraries' read and write calls */
        say(out, "TLS library: uses %s (%s, dynamic): HTTPS traced", names[t], lib->name);
        if (lib->depth > 1)
            say(out, " (needed by %s)", lib_parent_name(c, lib));
        fputc('\n', out);
    }
    if (!found[TS_ELF_TLS_OPENSSL] && !found[TS_ELF_TLS_GNUTLS])
        fputs("TLS library: no dynamic TLS library seen; statically linked TLS (Node's bundled "
              "OpenSSL, Go's crypto/tls) cannot be traced, a libssl loaded at run time "
              "(Python's ssl module) is traced\n",
              out);
}

static void print_details(FILE *out, const check *c)
{
    const ts_elf_file *f = &c->file;
    char real[PATH_MAX], buf[128];
    const char *first = c->n_hops            ? c->hops[0].script
                        : c->shell_script[0] ? c->shell_script
                                             : c->path;
    if (realpath(first, real) && strcmp(real, first) != 0)
        say(out, "program: %s (%s)\n", first, real);
    else
        say(out, "program: %s\n", first);
    if (c->shell_script[0])
        say(out,
            "script: execve refuses %s (%s); a shell runs it itself: what follows is about %s\n",
            c->shell_script, c->shell_why, c->path);
    for (int i = 0; i < c->n_hops; i++) {
        const script_hop *h = &c->hops[i];
        const char *next = i + 1 < c->n_hops ? c->hops[i + 1].script : c->path;
        say(out, "script: %s starts with \"%s\": what follows is about %s%s\n", h->script, h->line,
            next, h->via_env ? ", which env runs" : "");
    }
    if (f->kind == TS_ELF_NOT_ELF) {
        fputs("file: no ELF header and no #! line\n", out);
        return;
    }
    if (f->kind == TS_ELF_NOT_PROGRAM) {
        say(out, "file: ELF, %s\n", f->not_program);
        return;
    }
    say(out, "machine: %s\n", ts_elf_machine_name(f->machine, f->elf_class, buf, sizeof buf));
    if (f->loader)
        say(out, "linking: the dynamic loader itself (no interpreter)\n");
    else if (f->dynamic)
        say(out, "linking: dynamic, interpreter %s\n", f->interp ? f->interp : "(unreadable)");
    else
        say(out, "linking: static%s (no interpreter)\n", f->static_pie ? " PIE" : "");
    if (f->go_marker)
        say(out, "Go: yes, %s\n", f->go_marker);
    const ts_elf_secure *s = &c->secure;
    if (s->setuid)
        say(out, "set-user-ID: %s%s\n", user_name(s->uid, buf, sizeof buf),
            s->nosuid_mount ? " (no effect: the file system is mounted nosuid)" : "");
    if (s->setgid)
        say(out, "set-group-ID: %s%s\n", group_name(s->gid, buf, sizeof buf),
            s->nosuid_mount ? " (no effect: the file system is mounted nosuid)" : "");
    if (s->caps)
        say(out, "capabilities: yes (security.capability)%s\n",
            s->nosuid_mount ? " (no effect: the file system is mounted nosuid)" : "");
    if (f->dynamic && f->interp && strncmp(base_name(f->interp), "ld-linux", 8) != 0)
        say(out, "note: %s is not glibc's loader; libtraceshim.so is built for glibc\n", f->interp);
    if (!f->dynamic || f->go_marker || f->foreign)
        return;
    if (c->have_libs)
        print_libraries(out, c);
    print_imports(out, c);
    if (c->have_libs)
        print_tls(out, c);
}

/* The one line `traceshim run` prints for a program it cannot trace. */
static void print_warning(FILE *out, const check *c)
{
    char buf[128], buf2[128];
    const ts_elf_file *f = &c->file;
    say(out, "traceshim: not tracing '%s'", base_name(c->given));
    if (c->n_hops > 0 || c->shell_script[0])
        say(out, " (run by %s)", c->path);
    fputs(": ", out);
    switch (c->verdict) {
    case TS_ELF_V_NOT_EXECUTABLE:
        say(out, "not an ELF executable (%s)",
            f->kind == TS_ELF_NOT_ELF ? "no ELF header, no #! line" : f->not_program);
        break;
    case TS_ELF_V_FOREIGN:
        say(out, "built for %s, libtraceshim.so for %s",
            ts_elf_machine_name(f->machine, f->elf_class, buf, sizeof buf),
            ts_elf_host_name(buf2, sizeof buf2));
        break;
    case TS_ELF_V_GO:
        fputs("a Go binary makes its own system calls, not the C library's", out);
        break;
    case TS_ELF_V_STATIC:
        fputs("statically linked, so LD_PRELOAD is never read", out);
        break;
    case TS_ELF_V_SETID:
        say(out, "set-%s-ID, so the loader ignores LD_PRELOAD (secure-execution mode)",
            c->secure.setuid ? "user" : "group");
        break;
    case TS_ELF_V_CAPS:
        fputs("file capabilities, so the loader ignores LD_PRELOAD (secure-execution mode)", out);
        break;
    default:
        break;
    }
    fputs("; running it anyway\n", out);
}

int main(int argc, char **argv)
{
    check c;
    memset(&c, 0, sizeof c);
    bool only_args = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!only_args && (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)) {
            usage(stdout);
            return 0;
        } else if (!only_args && strcmp(a, "--warn") == 0) {
            c.warn = true;
        } else if (!only_args && strcmp(a, "--") == 0) {
            only_args = true;
        } else if (!only_args && a[0] == '-' && a[1] != '\0') {
            say(stderr, "traceshim check: unknown option %s\n", a);
            usage(stderr);
            return 2;
        } else if (c.given) {
            say(stderr, "traceshim check: only one PROGRAM, got %s and %s\n", c.given, a);
            usage(stderr);
            return 2;
        } else {
            c.given = a;
        }
    }
    if (!c.given || !c.given[0]) {
        fputs("traceshim check: no PROGRAM given\n", stderr);
        usage(stderr);
        return 2;
    }
    if (!resolve(c.given, c.path, sizeof c.path))
        return file_error(&c, "%s: command not found (looked in the PATH directories)", c.given);

    int status = read_program(&c);
    if (status != 0)
        return status;
    if (c.file.kind == TS_ELF_PROGRAM && ts_elf_read_secure(c.path, &c.secure) != 0)
        memset(&c.secure, 0, sizeof c.secure);
    if (c.warn && !ts_elf_secure_for(&c.secure, getuid(), getgid()))
        memset(&c.secure, 0, sizeof c.secure); /* this user gets no secure mode: traced */
    /* Libraries only decide between the two traceable verdicts: not for --warn. */
    if (!c.warn && c.file.kind == TS_ELF_PROGRAM && c.file.dynamic && !c.file.foreign &&
        !c.file.go_marker) {
        if (ts_elf_load_libs(c.path, &c.file, NULL, &c.libs) != 0) {
            ts_elf_file_free(&c.file);
            fputs("traceshim check: out of memory\n", stderr);
            return 2;
        }
        c.have_libs = true;
    }
    c.verdict = ts_elf_decide(&c.file, c.have_libs ? &c.libs : NULL, &c.secure);
    bool ok = ts_elf_verdict_ok(c.verdict);

    if (c.warn && c.n_hops == 0 && c.file.exec_refused && !c.file.foreign) {
        /* execve fails: run says so, as the kernel would, instead of running it */
        say(stderr, "traceshim: %s: %s (%s)\n", c.given, strerror(c.file.refused_errno),
            c.file.not_program);
        ts_elf_file_free(&c.file);
        return 3;
    }
    if (c.warn) {
        if (!ok)
            print_warning(stderr, &c);
    } else {
        printf("%s\n", ts_elf_verdict_line(c.verdict));
        print_why(stdout, &c);
        print_details(stdout, &c);
    }
    ts_elf_file_free(&c.file);
    ts_elf_libs_free(&c.libs);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "traceshim check: cannot write output: %s\n", strerror(errno));
        return 2;
    }
    return ok ? 0 : 1;
}
