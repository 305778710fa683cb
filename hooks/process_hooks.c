/* process_hooks.c — the calls that replace, start and end processes.
 *
 * exec, spawn, system and popen (whose shells the shim starts:
 * shell_command.h, shell_pipe.h):
 * the child gets an environment that carries the trace on (TRACEPARENT
 * naming the current span) and, when the program dropped them, the
 * library and its configuration (exec_env.h). Before an exec
 * replaces the process, its spans go out (bounded).
 * exit, _exit and main's return: the exit code for the process span; _exit
 * runs no destructors, so it flushes itself (a forked worker that ends
 * with _exit, as Python's ForkingHTTPServer's do, keeps its spans). _exit
 * and exec are async-signal-safe, and a handler that interrupted malloc
 * may call them: in a process that has installed a signal handler
 * (signal_hooks.h notes it) they start no thread and encode
 * nothing, but hand the flush to the reporter thread, which a process
 * with a process span starts when it installs its first handler for that.
 * The same flush ends a process that a signal from outside ends
 * (signal_hooks.h), and one that kills itself.
 *
 * An exec hook may run in a vfork child (dash runs every command so): it
 * shares its parent's memory and must not allocate, lock or init. Its pid
 * is not the one the shim recorded, which is how it is recognised, and it
 * builds the child's environment on its stack; every other caller, in
 * pages mapped for the call. */
#include <alloca.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../preload/ascii.h"
#include "../preload/config.h"
#include "../preload/context.h"
#include "../preload/death.h"
#include "../preload/init.h"
#include "../preload/log.h"
#include "../preload/process.h"
#include "../preload/real.h"
#include "../preload/start_state.h"
#include "../reporter/program_stderr.h"
#include "../reporter/reporter.h"
#include "conn.h"
#include "exec_env.h"
#include "exit_order.h"
#include "process_hooks.h"
#include "process_span.h"
#include "refused_address.h"
#include "shell_command.h"
#include "shell_pipe.h"
#include "signal_hooks.h"
#include "tls_sessions.h"

/* The most entries a vfork child's environment array may take of its
 * stack (16 KiB); see call_with_stacked_env. */
#define EXEC_ENV_VFORK_SLOTS 2048

bool ts_process_hooks_own(void)
{
    return ts_active && !ts_guard_active() && !ts_process_foreign();
}

/* The context a child continues: the request this thread serves, else the
 * process's (its process span, or the TRACEPARENT it inherited); with the
 * tracestate of its trace. */
static struct ts_exec_ctx child_context(void)
{
    struct ts_exec_ctx p = {ts_ctx_current(), NULL, 0};
    if (!p.ctx)
        p.ctx = ts_ctx_process();
    if (p.ctx)
        p.tracestate = ts_conn_tracestate_of(p.ctx, &p.tracestate_len);
    return p;
}

/* May this call run in a signal handler that interrupted malloc? Then it
 * must start no thread and encode nothing (the reporter thread, started
 * when the handler was installed, does the flush). */
static bool maybe_in_a_handler(void)
{
    return ts_signal_program_has_handlers();
}

/* The process image ends (exec, _exit): its span ends and its spans go
 * out through send, or through send_signal_safe when this may run in a
 * signal handler (in_handler: surely in one, the shim's). */
static void process_image_ends(void (*send)(unsigned), void (*send_signal_safe)(unsigned),
                               bool in_handler)
{
    if (in_handler || maybe_in_a_handler()) {
        ts_pspan_end_signal_safe();
        send_signal_safe(ts_cfg.exit_timeout_ms);
    } else {
        ts_pspan_end();
        send(ts_cfg.exit_timeout_ms);
    }
}

/* The process image is about to be replaced: end its span and the
 * requests its connections still wait on (a server that executes a CGI
 * program on the socket: mini_httpd), send its spans. execve is
 * async-signal-safe, and a handler may call it. */
static void before_exec(void)
{
    ts_death_due(0); /* a death put off comes first: the exec would lose it */
    if (!ts_process_hooks_own())
        return;
    int saved = errno;
    uint64_t held = ts_signal_hold_handlers(); /* (an _exit in one: see there) */
    ts_guard_enter();
    ts_process_image_ends(TS_IMAGE_EXEC);
    process_image_ends(ts_rep_flush, ts_rep_flush_signal_safe, false);
    ts_guard_leave();
    ts_signal_release_handlers(held);
    errno = saved;
}

/* The first two bytes of the regular file fd, or of path relative to it
 * (at_flags: AT_SYMLINK_NOFOLLOW counts), into head; false when they
 * cannot be read. An fd open for no reading (O_PATH, O_WRONLY) is read
 * again by its /proc name. pread moves no offset. */
static bool file_head(int fd, const char *path, int at_flags, char head[2])
{
    bool own = *path != '\0';
    if (own)
        fd = openat(fd, path,
                    O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK |
                        (at_flags & AT_SYMLINK_NOFOLLOW ? O_NOFOLLOW : 0));
    else if (pread(fd, head, 2, 0) == 2)
        return true;
    else if (errno == EBADF) {
        char name[sizeof "/proc/self/fd/" + 20] = "/proc/self/fd/", digits[20];
        const char *first = ts_ascii_decimal_before(digits + sizeof digits, (unsigned)fd);
        size_t n = (size_t)(digits + sizeof digits - first);
        memcpy(name + sizeof "/proc/self/fd/" - 1, first, n);
        name[sizeof "/proc/self/fd/" - 1 + n] = '\0';
        fd = open(name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        own = true;
    } else
        return false;
    if (fd < 0)
        return false;
    bool read = pread(fd, head, 2, 0) == 2;
    if (own)
        TS_REAL(close)(fd);
    return read;
}

/* Would the kernel refuse the #! script at path relative to dirfd (or
 * the open file dirfd: path "")? It names the script to the interpreter
 * as /dev/fd/N or /dev/fd/N/path when execveat starts it by a relative
 * path or as an open file, and with FD_CLOEXEC on N that name is gone in
 * the new image: ENOENT. */
static bool script_name_lost(int dirfd, const char *path, int at_flags)
{
    if (dirfd == AT_FDCWD || *path == '/')
        return false;
    int fd_flags = TS_REAL(fcntl)(dirfd, F_GETFD);
    char head[2];
    return fd_flags >= 0 && (fd_flags & FD_CLOEXEC) && file_head(dirfd, path, at_flags, head) &&
           head[0] == '#' && head[1] == '!';
}

/* Does the kernel say the caller may not execute path (as cannot_start
 * has it) by its effective ids and ACLs, as exec judges? Asked with
 * faccessat2 itself: where it is missing (before Linux 5.8, or a seccomp
 * profile that answers ENOSYS), glibc's faccessat falls back to the real
 * ids or the mode bits alone, and could refuse what exec would start. No
 * answer but EACCES counts. */
static bool may_not_execute(int dirfd, const char *path, int at_flags)
{
    return TS_REAL(syscall)(SYS_faccessat2, dirfd, path, X_OK,
                            AT_EACCESS | (at_flags & AT_EMPTY_PATH)) != 0 &&
           errno == EACCES;
}

/* Is there nothing at path (relative to dirfd; at_flags: an execveat's,
 * of which AT_SYMLINK_NOFOLLOW and AT_EMPTY_PATH count; path "" and
 * AT_EMPTY_PATH: the open file dirfd) an exec could start: no file (a
 * closed fd), no regular file (a directory, the working directory for
 * AT_FDCWD; with AT_SYMLINK_NOFOLLOW, a symbolic link, which that exec
 * refuses), one the caller may not execute, as the kernel judges it
 * (effective ids, ACLs), or a #! script whose name would be gone
 * (script_name_lost)? Any other answer is left to the exec. (errno kept) */
static bool cannot_start(int dirfd, const char *path, int at_flags)
{
    int saved = errno;
    struct stat st;
    bool nothing;
    int look = at_flags & (AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH);
    if (fstatat(dirfd, path, &st, look) != 0)
        nothing = errno == ENOENT || errno == ENOTDIR || errno == EBADF; /* (a bad dirfd) */
    else
        nothing = !S_ISREG(st.st_mode) || may_not_execute(dirfd, path, at_flags) ||
                  script_name_lost(dirfd, path, at_flags);
    errno = saved;
    return nothing;
}

/* What an exec is to start: a file, relative to dirfd (AT_FDCWD but for
 * execveat), with execveat's at_flags, or looked up in PATH when search;
 * or, open_file, the open file dirfd (fexecve, execveat's AT_EMPTY_PATH);
 * with the arguments argv. */
struct exec_target {
    int dirfd;
    const char *file;
    bool search;
    bool open_file;
    int at_flags;
    char *const *argv;
};

/* An array of strings the kernel refuses with EFAULT (refused_address.h):
 * the array, or one of its entries, in the zero page. NULL is none: an
 * empty environment, or argv, for Linux. */
static bool strings_refused(char *const strings[])
{
    if (!ts_address_opaque(strings)) /* (exec's argv is declared nonnull) */
        return false;
    if (ts_address_refused(strings))
        return true;
    for (size_t i = 0; strings[i]; i++)
        if (ts_address_refused(strings[i]))
            return true;
    return false;
}

/* Is there no file for an exec to start: the kernel refuses the path or
 * argv (EFAULT: strings_refused), file cannot be started (cannot_start)
 * or, with search and no '/' in it, none in any directory of PATH can (as
 * execvp looks: "/bin:/usr/bin" without one, an empty entry the current
 * directory)? The exec then fails with nothing
 * replaced, so the process span is not ended for it (nor a flush waited
 * for): a program that looks for its command itself, as Python's
 * os.execvp tries each PATH directory with execve, would end it for good
 * at the first miss. A refusal the look cannot foresee (a security
 * module's, a file that is no program) still ends it. */
static bool nothing_to_exec(const struct exec_target *t)
{
    if (t->at_flags & ~(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW))
        return true; /* execveat's EINVAL, or AT_EXECVE_CHECK (Linux 6.14): a check that runs
                        nothing */
    if (strings_refused(t->argv))
        return true; /* the kernel's EFAULT */
    if (t->open_file)
        return cannot_start(t->dirfd, "", AT_EMPTY_PATH);
    const char *file = t->file;
    if (ts_address_refused(file) || !*file)
        return true; /* the kernel's EFAULT (glibc's execvp reads it first); "": ENOENT */
    if (!t->search || strchr(file, '/'))
        return cannot_start(t->dirfd, file, t->at_flags);
    const char *dirs = getenv("PATH");
    if (!dirs)
        dirs = "/bin:/usr/bin";
    size_t flen = strlen(file), dirs_len = strlen(dirs);
    if (flen > NAME_MAX || dirs_len > PATH_MAX)
        return false; /* not told: let the exec answer */
    /* on the stack, as glibc's execvp takes it: a caller on a small stack
     * that fits glibc's fits this */
    char *candidate = alloca(dirs_len + 1 + flen + 2);
    for (const char *d = dirs;; d++) {
        const char *end = strchrnul(d, ':');
        size_t at = end > d ? (size_t)(end - d) : 1; /* "" is "." */
        memcpy(candidate, end > d ? d : ".", at);
        candidate[at] = '/';
        memcpy(candidate + at + 1, file, flen + 1);
        if (!cannot_start(AT_FDCWD, candidate, 0))
            return false;
        if (!*end)
            return true;
        d = end;
    }
}

/* before_exec, unless the exec cannot start anything (nothing_to_exec). */
static void before_exec_of(const struct exec_target *t)
{
    if (ts_process_hooks_own() && !nothing_to_exec(t))
        before_exec();
}

/* A real exec or spawn call, given the environment to use. */
typedef int (*with_env_fn)(void *call, char *const env[]);

/* An environment the kernel refuses with EFAULT (strings_refused). */
static bool env_refused(char *const envp[])
{
    return strings_refused(envp);
}

/* The child's environment wholly in pages mapped for it, the array and
 * the strings ts_exec_env_build writes, so that a caller on a small stack
 * (a 16 KiB thread, a handler on an 8 KiB alternate stack) that glibc's
 * exec, spawn or system fits in fits in the shim's too: a ts_exec_env_buf
 * alone is 8.8 KB. Never in a vfork child. *mapped: the mapping's length,
 * for munmap. NULL when mmap fails. */
static char **mapped_child_env(char *const envp[], const struct ts_exec_ctx *parent, bool follow,
                               size_t *mapped)
{
    size_t slots = ts_exec_env_slots(envp);
    *mapped = slots * sizeof(char *) + sizeof(struct ts_exec_env_buf);
    char **env = mmap(NULL, *mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (env == MAP_FAILED)
        return NULL;
    return ts_exec_env_build(envp, env, slots, parent, follow,
                             (struct ts_exec_env_buf *)(void *)(env + slots));
}

/* Did the kernel refuse the call for the size of its arguments and
 * environment, which the shim's entries may have tipped over ARG_MAX? An
 * exec answers -1 and errno, a spawn the error number. */
static bool too_big(int r)
{
    return r == -1 ? errno == E2BIG : r == E2BIG;
}

/* The call made again with the program's own environment, after the one
 * with the shim's entries was too big: the child starts, without the
 * trace context (a trace of its own, if the shim is in it). */
static int again_as_it_was(char *const envp[], with_env_fn fn, void *call)
{
    int saved = errno;
    ts_log_info("the environment with the trace context is too big to exec (E2BIG): "
                "the child starts without it");
    errno = saved;
    return fn(call, envp);
}

/* The child's environment in a vfork child, on its stack (the only
 * memory it may take: a mapping would stay in its parent when the exec
 * succeeds), up to EXEC_ENV_VFORK_SLOTS entries; beyond, the environment
 * as it is. The call is made here, where the frame lives; never inlined,
 * so that no other caller's frame holds its 8.8 KB of strings. */
static __attribute__((noinline)) int call_with_stacked_env(char *const envp[], with_env_fn fn,
                                                           void *call)
{
    size_t slots = ts_exec_env_slots(envp);
    if (slots > EXEC_ENV_VFORK_SLOTS)
        return fn(call, envp);
    char **env = alloca(slots * sizeof *env);
    struct ts_exec_env_buf buf;
    struct ts_exec_ctx parent = child_context();
    int r = fn(call, ts_exec_env_build(envp, env, slots, &parent, ts_cfg.follow_exec, &buf));
    return too_big(r) ? again_as_it_was(envp, fn, call) : r;
}

/* The real call, an exec's counted in flight (death.h). */
static int exec_call(with_env_fn fn, void *call, char *const env[], const struct exec_target *exec)
{
    if (!exec)
        return fn(call, env);
    __atomic_add_fetch(&ts_death_execs_in_flight, 1, __ATOMIC_ACQ_REL);
    /* a death put off during the flush before, begun meanwhile, or on its
     * way, first (counted first: a signal from here on is sent again to
     * survive the exec, or finds the death claimed) */
    ts_death_awaited();
    int r = fn(call, env);
    int saved = errno;
    __atomic_sub_fetch(&ts_death_execs_in_flight, 1, __ATOMIC_ACQ_REL);
    errno = saved;
    return r;
}

/* Make the call with the child's environment; exec: the process image is
 * to be replaced by it (NULL for a spawn), and ends once the environment
 * holds the context, which the request the image still serves may be
 * (before_exec ends it). (An exec that succeeds never returns; its
 * process image, mappings included, is gone.) */
static int with_child_env(char *const envp[], with_env_fn fn, void *call,
                          const struct exec_target *exec)
{
    ts_death_due(0); /* no child, no new image, once a death is under way */
    bool refused = env_refused(envp);
    if (!ts_active || ts_guard_active() || refused) {
        if (exec && !refused) /* (a refused one: the exec fails, EFAULT) */
            before_exec_of(exec);
        return exec_call(fn, call, envp, exec);
    }
    if (ts_process_foreign())
        return call_with_stacked_env(envp, fn, call);
    struct ts_exec_ctx parent = child_context();
    size_t mapped;
    char **env = mapped_child_env(envp, &parent, ts_cfg.follow_exec, &mapped);
    if (exec)
        before_exec_of(exec);
    if (!env)
        return exec_call(fn, call, envp, exec);
    int r = exec_call(fn, call, env, exec);
    int saved = errno;
    munmap(env, mapped);
    errno = saved;
    return too_big(r) ? again_as_it_was(envp, fn, call) : r;
}

/* ---------------------------------------------------------------- exec */

struct exec_call {
    const char *path; /* or the file to look up in PATH */
    int fd;           /* fexecve's file; execveat's dirfd */
    char *const *argv;
    int flags; /* execveat's */
};

static int call_execve(void *p, char *const env[])
{
    struct exec_call *c = p;
    return TS_REAL(execve)(c->path, c->argv, env);
}

static int call_execvpe(void *p, char *const env[])
{
    struct exec_call *c = p;
    return TS_REAL(execvpe)(c->path, c->argv, env);
}

static int call_fexecve(void *p, char *const env[])
{
    struct exec_call *c = p;
    return TS_REAL(fexecve)(c->fd, c->argv, env);
}

static int call_execveat(void *p, char *const env[])
{
    struct exec_call *c = p;
    return TS_REAL(execveat)(c->fd, c->path, c->argv, env, c->flags);
}

/* (path and argv made opaque: glibc declares them nonnull, and the
 * compiler would drop the hooks' tests of them for NULL) */
static int exec_path(const char *path, char *const argv[], char *const envp[])
{
    path = ts_address_opaque(path);
    argv = ts_address_opaque(argv);
    struct exec_call c = {.path = path, .argv = argv};
    return with_child_env(envp, call_execve, &c,
                          &(struct exec_target){AT_FDCWD, path, false, false, 0, argv});
}

static int exec_file(const char *file, char *const argv[], char *const envp[])
{
    file = ts_address_opaque(file);
    argv = ts_address_opaque(argv);
    struct exec_call c = {.path = file, .argv = argv};
    return with_child_env(envp, call_execvpe, &c,
                          &(struct exec_target){AT_FDCWD, file, true, false, 0, argv});
}

TS_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
    return exec_path(path, argv, envp);
}

TS_EXPORT int execv(const char *path, char *const argv[])
{
    return exec_path(path, argv, environ);
}

TS_EXPORT int execvp(const char *file, char *const argv[])
{
    return exec_file(file, argv, environ);
}

TS_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
    return exec_file(file, argv, envp);
}

/* fexecve: glibc's refuses a NULL argv or environment (EINVAL), before
 * the kernel sees either; the shim's child environment would stand in for
 * a NULL one, and the program start. (argv made opaque, as exec_path's) */
TS_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
    argv = ts_address_opaque(argv);
    if (!argv || !envp) {
        ts_death_due(0); /* (as with_child_env) */
        return TS_REAL(fexecve)(fd, argv, envp);
    }
    struct exec_call c = {.fd = fd, .argv = argv};
    return with_child_env(envp, call_fexecve, &c,
                          &(struct exec_target){fd, NULL, false, true, 0, argv});
}

/* What execveat starts: the file at path relative to dirfd, or with
 * AT_EMPTY_PATH and an empty path the open file dirfd, as fexecve's. A
 * path in the zero page (NULL too) is the kernel's EFAULT: nothing. */
static struct exec_target execveat_target(int dirfd, const char *path, int flags,
                                          char *const argv[])
{
    bool open_file = !ts_address_refused(path) && !*path && (flags & AT_EMPTY_PATH);
    return (struct exec_target){dirfd, path, false, open_file, flags, argv};
}

/* execveat (glibc 2.34; path and argv made opaque, as exec_path's) */
TS_EXPORT int execveat(int dirfd, const char *path, char *const argv[], char *const envp[],
                       int flags)
{
    path = ts_address_opaque(path);
    argv = ts_address_opaque(argv);
    struct exec_call c = {.path = path, .fd = dirfd, .argv = argv, .flags = flags};
    struct exec_target t = execveat_target(dirfd, path, flags, argv);
    return with_child_env(envp, call_execveat, &c, &t);
}

/* The execl family: the variadic arguments as an argv on the stack. */
#define COLLECT_ARGV(first, ap, argv)                                                              \
    do {                                                                                           \
        va_list count_;                                                                            \
        va_copy(count_, ap);                                                                       \
        size_t n_ = 1;                                                                             \
        while (va_arg(count_, char *))                                                             \
            n_++;                                                                                  \
        va_end(count_);                                                                            \
        argv = alloca((n_ + 1) * sizeof(char *));                                                  \
        argv[0] = (char *)(first);                                                                 \
        for (size_t i_ = 1; i_ <= n_; i_++)                                                        \
            argv[i_] = va_arg(ap, char *);                                                         \
    } while (0)

TS_EXPORT int execl(const char *path, const char *arg, ...)
{
    char **argv;
    va_list ap;
    va_start(ap, arg);
    COLLECT_ARGV(arg, ap, argv);
    va_end(ap);
    return exec_path(path, argv, environ);
}

TS_EXPORT int execlp(const char *file, const char *arg, ...)
{
    char **argv;
    va_list ap;
    va_start(ap, arg);
    COLLECT_ARGV(arg, ap, argv);
    va_end(ap);
    return exec_file(file, argv, environ);
}

TS_EXPORT int execle(const char *path, const char *arg, ...)
{
    char **argv;
    va_list ap;
    va_start(ap, arg);
    COLLECT_ARGV(arg, ap, argv);
    char *const *envp = va_arg(ap, char *const *); /* after the NULL */
    va_end(ap);
    return exec_path(path, argv, envp);
}

/* --------------------------------------------------------------- spawn */

struct spawn_call {
    pid_t *pid;
    const char *path;
    const posix_spawn_file_actions_t *actions;
    const posix_spawnattr_t *attr;
    char *const *argv;
};

static int call_spawn(void *p, char *const env[])
{
    struct spawn_call *c = p;
    return TS_REAL(posix_spawn)(c->pid, c->path, c->actions, c->attr, c->argv, env);
}

static int call_spawnp(void *p, char *const env[])
{
    struct spawn_call *c = p;
    return TS_REAL(posix_spawnp)(c->pid, c->path, c->actions, c->attr, c->argv, env);
}

TS_EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *actions,
                          const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    struct spawn_call c = {pid, path, actions, attr, argv};
    return with_child_env(envp, call_spawn, &c, NULL);
}

TS_EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *actions,
                           const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    struct spawn_call c = {pid, file, actions, attr, argv};
    return with_child_env(envp, call_spawnp, &c, NULL);
}

/* -------------------------------------------------------- system, popen */

/* The shell's environment for a system() or popen() call: the one an
 * exec would get, in pages mapped for it (*mapped: their length, for
 * munmap; 0 when it is the program's own, which an environment the
 * kernel would refuse stays). errno is kept. */
static char **shell_env(size_t *mapped)
{
    int saved = errno;
    struct ts_exec_ctx parent = child_context();
    *mapped = 0;
    char **env = env_refused(environ)
                     ? NULL
                     : mapped_child_env(environ, &parent, ts_cfg.follow_exec, mapped);
    errno = saved;
    return env ? env : environ;
}

/* The shell's environment with the shim's entries was too big (E2BIG),
 * as an exec's may be (again_as_it_was): the shell is started again with
 * the program's own. */
static void shell_env_too_big(int errno_before)
{
    ts_log_info("the environment with the trace context is too big for the shell (E2BIG): "
                "it starts without it");
    errno = errno_before; /* the failed start's, not the program's to see */
}

static void shell_env_done(char **env, size_t mapped)
{
    int saved = errno;
    if (mapped)
        munmap(env, mapped); /* the shell has its copy */
    errno = saved;
}

/* system: the shim starts the shell itself (shell_command.h), with the
 * environment an exec would get, so that a threaded server's request
 * hands its context to the command it runs. system(NULL) asks whether
 * there is a shell at all: glibc answers. */
TS_EXPORT int system(const char *command)
{
    ts_death_due(0); /* (glibc's would ignore SIGINT meanwhile) */
    if (!command || !ts_process_hooks_own())
        return TS_REAL(system)(command);
    int errno_before = errno;
    struct ts_shell_call call;
    ts_shell_begin(&call, command);
    size_t mapped;
    char **env = shell_env(&mapped);
    ts_shell_start(&call, env);
    shell_env_done(env, mapped);
    if (call.err == E2BIG && mapped) {
        shell_env_too_big(errno_before);
        ts_shell_start(&call, environ);
    }
    return ts_shell_end(&call);
}

/* popen: the shim starts the shell itself (shell_pipe.h), for the same
 * reason as system's, and its pclose waits for the shells it started. */
TS_EXPORT FILE *popen(const char *command, const char *mode)
{
    ts_death_due(0);
    if (!command || !mode || !ts_active || ts_guard_active() || !ts_process_hooks_own())
        return TS_REAL(popen)(command, mode);
    int errno_before = errno;
    size_t mapped;
    char **env = shell_env(&mapped);
    FILE *f = ts_shell_popen(command, mode, env);
    shell_env_done(env, mapped);
    if (!f && errno == E2BIG && mapped) {
        shell_env_too_big(errno_before);
        f = ts_shell_popen(command, mode, environ);
    }
    return f;
}

TS_EXPORT int pclose(FILE *stream)
{
    int status;
    if (ts_shell_pclose(stream, &status))
        return status;
    return TS_REAL(pclose)(stream);
}

/* ----------------------------------------------------------------- exit */

/* The process ends, and its sockets close with it: a server's response
 * that runs to the close ends now. Also from a signal handler (_exit is
 * async-signal-safe; Python, nginx and the sanitizers install handlers):
 * not when it interrupted the shim (ts_process_hooks_own: the guard), whose locks
 * this thread may hold; any other thread's it waits for a bounded while
 * (ts_process_image_ends), and the span goes to the queue, which a handler may
 * use, for the flush handed to the reporter thread. */
static void sockets_closing(void)
{
    if (!ts_process_hooks_own())
        return;
    uint64_t held = ts_signal_hold_handlers(); /* (see ts_process_ends_now) */
    ts_guard_enter();
    ts_process_image_ends(TS_IMAGE_EXITING);
    ts_guard_leave();
    ts_signal_release_handlers(held);
}

TS_EXPORT void exit(int status)
{
    ts_death_awaited(); /* a death under way comes first: the signal's status */
    if (__atomic_load_n(&ts_active, __ATOMIC_ACQUIRE))
        ts_exit_order_enter(); /* another thread's exit first: its flush */
    ts_pspan_set_exit_code(status);
    sockets_closing();
    TS_REAL(exit)(status);
    __builtin_unreachable();
}

void ts_process_image_ends(enum ts_image_end how)
{
    ts_conn_image_ends(how);
    tls_sessions_image_ends(how);
    if (how == TS_IMAGE_EXITING)
        ts_program_stderr_exiting(); /* the exit handlers may close it (coreutils do) */
}

/* No destructors will run: end the process span and flush here. Once the
 * program has a signal handler this may be running in it, interrupting
 * malloc: then no thread is started and nothing encoded here (the
 * reporter thread, if it runs, does the flush). Not at all when the
 * handler interrupted the shim itself, which may hold its locks
 * (ts_process_hooks_own). */
void ts_process_ends_now(int status, bool in_handler)
{
    if (in_handler && ts_guard_only_a_call() ? !ts_active || ts_process_foreign()
                                             : !ts_process_hooks_own()) {
        /* A handler that interrupted the exit's own flush although the
         * shim held the program's handlers off (ts_signal_hold_handlers:
         * one installed through a raw rt_sigaction, which the hold does
         * not know; or a flush of another thread's, a signal for the
         * process delivered to this one): a flush handed to the reporter
         * thread is waited for, or the process went with its spans half
         * written. */
        if (ts_active && ts_guard_active())
            ts_rep_wait_interrupted_flush();
        return;
    }
    /* A handler that came before the flush was handed over would end the
     * process with nothing handed (the wait above finds no job). Released
     * after: the flush before a signal the process sends itself, which
     * must find the mask as it was. */
    uint64_t held = ts_signal_hold_handlers();
    ts_guard_enter();
    ts_process_image_ends(TS_IMAGE_GONE); /* (see sockets_closing) */
    ts_pspan_set_exit_code(status);
    process_image_ends(ts_rep_exit, ts_rep_exit_signal_safe, in_handler);
    ts_guard_leave();
    ts_signal_release_handlers(held);
}

static void exiting_now(int status)
{
    /* Held off for good: the process ends next, and a handler let run
     * between would end it with another status than the one asked for. */
    (void)ts_signal_hold_handlers();
    ts_death_awaited(); /* a death under way comes first: the signal's status */
    ts_process_ends_now(status, false);
    ts_death_due(0); /* (or one put off during that flush) */
}

TS_EXPORT void _exit(int status)
{
    exiting_now(status);
    TS_REAL(_exit)(status);
    __builtin_unreachable();
}

/* C11's quick_exit runs the at_quick_exit handlers and then glibc's own
 * _exit, which no hook sees: the spans went with it. The flush is the
 * last of those handlers (registered at start-up, before the program's
 * constructors could register any), so that what the program's handlers
 * do is in it, with the status the hook keeps. */
static int quick_exit_status;

static void flush_at_quick_exit(void)
{
    exiting_now(__atomic_load_n(&quick_exit_status, __ATOMIC_RELAXED));
}

void ts_process_hooks_init(void)
{
    (void)at_quick_exit(flush_at_quick_exit);
}

TS_EXPORT void quick_exit(int status)
{
    __atomic_store_n(&quick_exit_status, status, __ATOMIC_RELAXED);
    TS_REAL(quick_exit)(status);
    __builtin_unreachable();
}

TS_EXPORT void _Exit(int status)
{
    exiting_now(status);
    TS_REAL(_Exit)(status);
    __builtin_unreachable();
}

/* main's return value is the exit code; glibc passes it to exit by an
 * internal call, so the program's main is wrapped to see it (and to know
 * when main starts: ts_signal_main_starts). */
typedef int (*main_fn)(int, char **, char **);
static main_fn program_main TS_START_STATE;

/* glibc also ends a program by internal calls to exit, which no hook sees:
 * error(), error_at_line(), err() and its kin (coreutils, grep, tar and
 * xargs report most failures so), also from inside an atexit handler. An
 * on_exit handler is given the status however exit was reached. Registered
 * as main starts, it runs after every handler main registers, so an exit
 * made inside one of those (a nested exit carries on through the list with
 * its own status) is the status it sees. Not in a vfork child, whose
 * memory is its parent's. */
static void exit_status_seen(int status, void *arg)
{
    (void)arg;
    if (ts_active && !ts_process_foreign())
        ts_pspan_set_exit_code(status);
}

static int main_wrapper(int argc, char **argv, char **envp)
{
    ts_signal_main_starts();
    if (ts_pspan_here())
        (void)on_exit(exit_status_seen, NULL);
    int r = program_main(argc, argv, envp);
    ts_death_due(0); /* (as at exit) */
    ts_pspan_set_exit_code(r);
    sockets_closing();
    return r;
}

TS_EXPORT int __libc_start_main(main_fn main, int argc, char **argv, void (*init)(void),
                                void (*fini)(void), void (*rtld_fini)(void), void *stack_end)
{
    program_main = main;
    return TS_REAL(__libc_start_main)(main_wrapper, argc, argv, init, fini, rtld_fini, stack_end);
}
