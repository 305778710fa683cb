/* elf_inspect.h — what `traceshim check` learns about a program without
 * running it: reads the ELF file with libelf (is it a program, static or
 * dynamic, a Go binary, built for this machine, which of the calls
 * libtraceshim.so interposes it imports, which libraries it needs), finds
 * and reads those libraries the way the dynamic loader would, reads a
 * script's #! line and the file's set-user-ID / set-group-ID / capability
 * state, and turns all that into one verdict. No output: check.c prints. */
#ifndef TS_ELF_INSPECT_H
#define TS_ELF_INSPECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The interposed calls that open a connection or move its bytes (the
 * socket and I/O part of preload/traceshim.map). Bit i of a hook mask
 * stands for ts_elf_hook_names[i]. */
enum {
    TS_ELF_HOOK_CONNECT,
    TS_ELF_HOOK_ACCEPT,
    TS_ELF_HOOK_ACCEPT4,
    TS_ELF_HOOK_READ,
    TS_ELF_HOOK_READ_CHK,
    TS_ELF_HOOK_READV,
    TS_ELF_HOOK_RECV,
    TS_ELF_HOOK_RECV_CHK,
    TS_ELF_HOOK_RECVFROM,
    TS_ELF_HOOK_RECVFROM_CHK,
    TS_ELF_HOOK_RECVMSG,
    TS_ELF_HOOK_RECVMMSG,
    TS_ELF_HOOK_WRITE,
    TS_ELF_HOOK_WRITEV,
    TS_ELF_HOOK_SEND,
    TS_ELF_HOOK_SENDTO,
    TS_ELF_HOOK_SENDMSG,
    TS_ELF_HOOK_SENDMMSG,
    TS_ELF_HOOK_SENDFILE,
    TS_ELF_HOOK_SENDFILE64,
    TS_ELF_HOOK_SPLICE,
    TS_ELF_HOOK_COUNT
};
extern const char *const ts_elf_hook_names[TS_ELF_HOOK_COUNT];

/* The calls that make a connection the shim tracks: without one of them,
 * no fd is ever tracked and the other hooks pass every call through. */
#define TS_ELF_HOOKS_CONNECTION                                                                    \
    ((1u << TS_ELF_HOOK_CONNECT) | (1u << TS_ELF_HOOK_ACCEPT) | (1u << TS_ELF_HOOK_ACCEPT4))

typedef enum {
    TS_ELF_NOT_ELF,     /* not an ELF file (a script, text, data, empty) */
    TS_ELF_NOT_PROGRAM, /* ELF, but a relocatable object, core dump or shared library */
    TS_ELF_PROGRAM,     /* an executable (ET_EXEC, PIE or static PIE) */
} ts_elf_kind;

/* One ELF file's facts. Strings are owned by the struct (ts_elf_file_free). */
typedef struct {
    ts_elf_kind kind;
    const char *not_program; /* TS_ELF_NOT_PROGRAM: "a shared library", ... */
    bool exec_refused;       /* TS_ELF_NOT_PROGRAM the kernel never starts: damaged,
                                an object file, a core dump */
    int refused_errno;       /* with exec_refused: execve's error (ENOEXEC; EIO for
                                an interpreter's name cut off by the file's end) */
    int elf_class;           /* ELFCLASS32 or ELFCLASS64 */
    int machine;             /* e_machine */
    bool foreign;            /* class or machine differs from this build's */
    bool dynamic;            /* has a program interpreter (PT_INTERP) */
    char *interp;            /* that interpreter, NULL when static */
    bool static_pie;         /* ET_DYN, no interpreter, DF_1_PIE */
    bool loader;             /* glibc's dynamic loader (ET_DYN, an entry point, no
                                interpreter, defines _rtld_global): run as a
                                program, it runs the program its arguments name */
    const char *go_marker;   /* NULL, or what showed it is Go (static string) */
    bool imports_known;      /* false: no dynamic symbol table to read */
    uint32_t hooks;          /* hooked calls it imports (undefined dynamic symbols) */
    char **needed;           /* DT_NEEDED entries, in order */
    size_t n_needed;
    char *soname, *rpath, *runpath; /* DT_SONAME, DT_RPATH, DT_RUNPATH; NULL when absent */
} ts_elf_file;

/* Reads path. Returns 0 (out filled; a non-ELF file is kind TS_ELF_NOT_ELF)
 * or -1 when the file cannot be opened or read: err then says why, and
 * errno is set. out needs ts_elf_file_free after a 0. */
int ts_elf_read(const char *path, ts_elf_file *out, char *err, size_t errlen);
void ts_elf_file_free(ts_elf_file *f);

/* A human name for an e_machine/class pair ("x86-64", "32-bit ARM", ...);
 * buf is used for machines without a name. */
const char *ts_elf_machine_name(int machine, int elf_class, char *buf, size_t len);

/* The same for the machine this command and the library are built for. */
const char *ts_elf_host_name(char *buf, size_t len);

/* One library the program loads, found (path != NULL) or not. */
typedef struct {
    char *name;     /* as DT_NEEDED names it */
    char *path;     /* the file the loader would open; NULL when not found */
    size_t parent;  /* index of the library that needs it; SIZE_MAX: the program */
    unsigned depth; /* 1: the program needs it, 2: one of those needs it, ... */
    bool readable;  /* found and read */
    uint32_t hooks; /* hooked calls it imports */
} ts_elf_lib;

typedef struct {
    ts_elf_lib *libs; /* breadth-first, each name once, as the loader orders them */
    size_t n, cap;
    size_t n_missing; /* libraries not found */
    bool truncated;   /* more than TS_ELF_MAX_LIBS: the rest not read */
} ts_elf_libs;

#define TS_ELF_MAX_LIBS 256

/* Where the loader looks besides the objects' own RPATH/RUNPATH. NULL
 * members take the system's: $LD_LIBRARY_PATH, /etc/ld.so.cache, and the
 * default directories. */
typedef struct {
    const char *ld_library_path;
    const char *cache_file;
    const char *default_dirs; /* colon-separated */
} ts_elf_search;

/* Finds and reads every library prog (read from prog_path) needs,
 * directly or through other libraries, as the dynamic loader would: the
 * needing object's DT_RPATH (and the program's), LD_LIBRARY_PATH, its
 * DT_RUNPATH, ld.so.cache, the default directories; $ORIGIN expanded; a
 * candidate built for another machine is skipped. Returns 0, or -1 when
 * out of memory. out needs ts_elf_libs_free. */
int ts_elf_load_libs(const char *prog_path, const ts_elf_file *prog, const ts_elf_search *where,
                     ts_elf_libs *out);
void ts_elf_libs_free(ts_elf_libs *libs);

/* Which TLS library a DT_NEEDED name is. */
typedef enum {
    TS_ELF_TLS_NONE,
    TS_ELF_TLS_OPENSSL, /* libssl.so* */
    TS_ELF_TLS_GNUTLS,  /* libgnutls.so* */
} ts_elf_tls;
ts_elf_tls ts_elf_tls_of(const char *needed);

/* A script's #! line as the kernel splits it: the interpreter, then
 * everything after it up to the end of the line as one argument. */
typedef struct {
    char interp[256];
    char arg[256];   /* "" when none */
    bool interp_cut; /* -1 (ENOEXEC): the interpreter's name does not end
                        within the bytes the kernel reads */
} ts_elf_shebang;

/* Returns 1 (path starts with #!; out filled), 0 (it does not) or -1
 * (cannot read it, or the kernel refuses the #! line: ENOEXEC, for a line
 * that names no interpreter or one cut off; errno set). */
int ts_elf_read_shebang(const char *path, ts_elf_shebang *out);

/* Would a shell run path as a script of its own after execve refused it
 * (ENOEXEC)? bash does unless the file's first line, within its first 80
 * bytes, holds a NUL byte (a binary file: "cannot execute binary file");
 * sh (dash) runs any. Runs under `traceshim run` are bash's. Never for
 * a file that is not regular (a FIFO, a device): execve refuses it with
 * EACCES, and no shell gets to run it. */
bool ts_elf_shell_runs_it(const char *path);

/* For `#!/usr/bin/env [-S] [VAR=VALUE...] NAME ...`: the NAME env runs,
 * copied to name; false when arg does not name one. */
bool ts_elf_env_target(const char *arg, char *name, size_t len);

/* What makes the kernel start a program in secure-execution mode
 * (AT_SECURE), in which the loader ignores LD_PRELOAD paths. */
typedef struct {
    bool setuid, setgid; /* the bits, and for set-group-ID group execute */
    uid_t uid;           /* the file's owner */
    gid_t gid;           /* the file's group */
    bool caps;           /* file capabilities (security.capability) */
    bool nosuid_mount;   /* on a nosuid mount: none of the above applies */
} ts_elf_secure;

/* Reads path's mode, owner, capabilities and mount flags. Returns 0 or -1
 * (errno set). */
int ts_elf_read_secure(const char *path, ts_elf_secure *out);

/* Does the file carry anything that can start it in secure mode? */
bool ts_elf_secure_any(const ts_elf_secure *s);

/* Would a process with real ids ruid/rgid that runs the file get AT_SECURE
 * (set-user-ID to someone else, set-group-ID to another group, capabilities
 * gained by a user other than root)? */
bool ts_elf_secure_for(const ts_elf_secure *s, uid_t ruid, gid_t rgid);

typedef enum {
    TS_ELF_V_TRACEABLE,      /* dynamic, and something imports connect/accept */
    TS_ELF_V_NO_NETWORK,     /* dynamic, nothing imports connect/accept (still exit 0) */
    TS_ELF_V_LOADER,         /* the dynamic loader: the program it runs is traced */
    TS_ELF_V_NOT_EXECUTABLE, /* not an ELF program */
    TS_ELF_V_FOREIGN,        /* built for another machine than the library */
    TS_ELF_V_GO,             /* a Go binary */
    TS_ELF_V_STATIC,         /* no program interpreter */
    TS_ELF_V_SETID,          /* set-user-ID or set-group-ID */
    TS_ELF_V_CAPS,           /* file capabilities */
} ts_elf_verdict;

/* The verdict: the first that applies of not an executable, another
 * machine, Go, static, set-user/group-ID, capabilities, the dynamic
 * loader, then traceable with or without connection calls. secure and
 * libs may be NULL. */
ts_elf_verdict ts_elf_decide(const ts_elf_file *prog, const ts_elf_libs *libs,
                             const ts_elf_secure *secure);

/* The verdict line: "traceable", "not traceable: statically linked", ... */
const char *ts_elf_verdict_line(ts_elf_verdict v);

/* Is the verdict one that lets libtraceshim.so see the program's calls? */
bool ts_elf_verdict_ok(ts_elf_verdict v);

#endif
