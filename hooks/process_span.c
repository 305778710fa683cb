/* process_span.c — the span of a traced process's life (see process_span.h). */
#include "process_span.h"

#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../preload/clock.h"
#include "../preload/config.h"
#include "../preload/context.h"
#include "../preload/fork_state.h"
#include "../preload/process.h"
#include "../preload/real.h"
#include "../reporter/reporter.h"
#include "span_link.h"
#include "url_redact.h"

#define NAME_MAX_CHARS 64 /* a span name: the command, shortened */
#define CMDLINE_MAX 512   /* process.command_line, truncated */
#define CMDLINE_READ 4096 /* of /proc/self/cmdline, redacted before the cut */

static struct ts_span pspan;
static uint64_t pspan_start;            /* pspan.start_ns as a moment (preload/clock.h) */
static pid_t pspan_owner TS_FORK_STATE; /* the pid that ends it; 0: none */
static atomic_bool pspan_ended;
static int exit_code;
static bool have_exit_code TS_FORK_STATE;

/* The command line, arguments separated by spaces, what commonly carries
 * a credential redacted (ts_args_redact: a URL's user and signature, an
 * Authorization header, curl's -u); returns its length. */
static size_t read_cmdline(char *out, size_t cap)
{
    /* Read well past what is kept, redacted whole, cut after: an argument
     * cut first could lose what marks it a secret (a URL's '@'). */
    char args[CMDLINE_READ];
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = TS_REAL(read)(fd, args, sizeof args);
    TS_REAL(close)(fd);
    if (n <= 0)
        return 0;
    size_t len = (size_t)n;
    if (len == sizeof args) { /* maybe more: the last argument, cut, is left out */
        const char *last = memrchr(args, '\0', len);
        len = last ? (size_t)(last - args) : 0;
    }
    while (len && args[len - 1] == '\0')
        len--;
    len = ts_args_redact(args, len, out, cap - 1);
    out[len] = '\0';
    return len;
}

/* "curl http://…" from "/usr/bin/curl http://…": the program's base name,
 * its arguments, cut with an ellipsis when long: at a word boundary when
 * that keeps at least half of the room, else inside the word (a URL, most
 * often the argument that tells one run from another, is one long
 * word). */
static size_t short_name(const char *cmd, size_t len, char *out, size_t cap)
{
    const char *end = memchr(cmd, ' ', len);
    size_t prog_len = end ? (size_t)(end - cmd) : len;
    const char *slash = memrchr(cmd, '/', prog_len);
    const char *start = slash ? slash + 1 : cmd;
    size_t rest = len - (size_t)(start - cmd);
    if (rest <= NAME_MAX_CHARS && rest < cap) {
        memcpy(out, start, rest);
        return rest;
    }
    size_t cut = NAME_MAX_CHARS - 3;
    while (cut > NAME_MAX_CHARS / 2 && start[cut] != ' ')
        cut--;
    if (start[cut] != ' ')
        cut = ts_utf8_whole(start, NAME_MAX_CHARS - 3);
    if (cut + 4 > cap)
        return 0;
    memcpy(out, start, cut);
    memcpy(out + cut, "...", 3);
    return cut + 3;
}

void ts_pspan_start(void)
{
    if (!ts_cfg.process_spans)
        return;
    char cmd[CMDLINE_MAX + 1];
    size_t len = read_cmdline(cmd, sizeof cmd);
    if (!len)
        len = (size_t)snprintf(cmd, sizeof cmd, "%s", ts_proc.exe_name);
    char name[NAME_MAX_CHARS + 1];
    size_t name_len = short_name(cmd, len, name, sizeof name);

    ts_span_clear(&pspan);
    pspan.kind = TS_KIND_INTERNAL;
    pspan_start = ts_moment_ns();
    pspan.start_ns = ts_wall_ns_at(pspan_start);
    ts_span_set_name(&pspan, name, name_len);
    struct ts_ctx mine;
    ts_span_link(&pspan, ts_ctx_process(), &mine);
    ts_span_attr_int(&pspan, "process.pid", ts_proc.pid);
    ts_span_attr_int(&pspan, "process.parent_pid", getppid());
    ts_span_attr_str(&pspan, "process.command_line", cmd, len);
    ts_ctx_set_process(&mine);
    pspan_owner = ts_proc.pid;
    atomic_store(&pspan_ended, false);
}

void ts_pspan_set_exit_code(int code)
{
    if (!pspan_owner)
        return; /* no process span here (a forked child's copy stays shared) */
    exit_code = code;
    have_exit_code = true;
}

/* The span ends and is queued, once, by ts_rep_submit_last (the flush
 * follows) or, from _exit, ts_rep_submit_signal_safe. */
static void pspan_end(bool signal_safe)
{
    if (!pspan_owner || pspan_owner != getpid() || atomic_exchange(&pspan_ended, true))
        return;
    /* No earlier than the wall clock says: the spans after a step of the
     * wall clock forward (started on the new time) stay inside the process
     * span, which holds the process's whole life. */
    uint64_t end = ts_moment_ns(), by_wall = ts_wall_ns_at(end);
    pspan.end_ns = ts_wall_end_ns(pspan.start_ns, pspan_start, end);
    if (by_wall > pspan.end_ns)
        pspan.end_ns = by_wall;
    if (have_exit_code) {
        ts_span_attr_int(&pspan, "process.exit_code", exit_code & 0xff);
        if ((exit_code & 0xff) != 0)
            pspan.status = TS_STATUS_ERROR;
    }
    if (signal_safe)
        ts_rep_submit_signal_safe(&pspan);
    else
        ts_rep_submit_last(&pspan);
}

void ts_pspan_end(void)
{
    pspan_end(false);
}

void ts_pspan_end_signal_safe(void)
{
    pspan_end(true);
}

bool ts_pspan_here(void)
{
    return pspan_owner != 0;
}

bool ts_pspan_will_export(void)
{
    return pspan_owner && pspan_owner == getpid() && pspan.sampled;
}

TS_FORK_HANDLER void ts_pspan_after_fork(void)
{
    pspan_owner = 0;
    have_exit_code = false;
}
