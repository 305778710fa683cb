/* process.h — facts about this process that become resource attributes,
 * gathered once at init (and the pid again after fork). */
#ifndef TS_PROCESS_H
#define TS_PROCESS_H

#include <stdbool.h>
#include <sys/types.h>
#include <unistd.h>

struct ts_process {
    pid_t pid;
    char exe_name[256];     /* basename of /proc/self/exe, else argv[0]'s */
    char service_name[256]; /* OTEL_SERVICE_NAME / JAEGER_SERVICE_NAME, else exe_name */
    char host_name[256];
};

extern struct ts_process ts_proc;

/* Fill ts_proc from the system and the loaded configuration. */
void ts_process_load(void);

/* In a vfork child (or a child made by a raw clone without the fork
 * handlers): it shares or copied the parent's memory without the shim
 * knowing, so the shim's state is not its to change. Costs a getpid. */
static inline bool ts_process_foreign(void)
{
    return ts_proc.pid != 0 && getpid() != ts_proc.pid;
}

/* After fork, in the child: refresh the pid. */
void ts_process_after_fork(void);

#endif
