/* process.c — resource facts about this process (see process.h). */
#include "process.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "cut_text.h"
#include "fork_state.h"

struct ts_process ts_proc TS_FORK_STATE;

/* Copy text into out, cut (between UTF-8 characters) where out ends. */
static void text_into(char *out, size_t cap, const char *text)
{
    struct ts_cut_text t = {out, cap - 1, 0};
    ts_cut_text_put(&t, text, strlen(text));
    out[t.len] = '\0';
}

/* Copy the last path component of path into out. */
static void basename_into(char *out, size_t cap, const char *path)
{
    const char *slash = strrchr(path, '/');
    text_into(out, cap, slash ? slash + 1 : path);
}

void ts_process_load(void)
{
    ts_proc.pid = getpid();

    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        basename_into(ts_proc.exe_name, sizeof ts_proc.exe_name, exe);
    } else {
        basename_into(ts_proc.exe_name, sizeof ts_proc.exe_name,
                      program_invocation_name ? program_invocation_name : "unknown");
    }

    /* The program's name as invoked is the better default service name:
     * for "python3 frontend.py" /proc/self/exe says python3.11 either way,
     * but a symlinked tool (e.g. busybox applets) is known by argv[0]. */
    if (ts_cfg.service_name[0])
        text_into(ts_proc.service_name, sizeof ts_proc.service_name, ts_cfg.service_name);
    else
        basename_into(ts_proc.service_name, sizeof ts_proc.service_name,
                      program_invocation_short_name ? program_invocation_short_name
                                                    : ts_proc.exe_name);

    if (gethostname(ts_proc.host_name, sizeof ts_proc.host_name) != 0)
        strcpy(ts_proc.host_name, "unknown");
    ts_proc.host_name[sizeof ts_proc.host_name - 1] = '\0';
}

TS_FORK_HANDLER void ts_process_after_fork(void)
{
    ts_proc.pid = getpid();
}
