/* access_hooks.c — the calls by which a program gives up access it has:
 * its user or groups (setuid and its kin, setgroups, initgroups) and its
 * root (chroot, pivot_root). The reporter thread opens the span file when the
 * process's first span starts it; a program that gives its access up
 * right after that span (as root, then another user, or a jail) could do
 * so before the thread has opened the file, and a file in a directory only
 * the old user may write, or outside the new root, would then be closed to
 * it for good. Each of these calls first waits for the thread to have
 * tried the file (reporter.h ts_rep_before_giving_up_access), so that no
 * process has to wait for that at its first span. glibc applies a change
 * of user or groups to every thread (the reporter thread too); one made
 * through syscall(2) changes the calling thread alone, and leaves the
 * reporter thread its access. */
#include <grp.h>
#include <unistd.h>

#include "../preload/init.h"
#include "../preload/real.h"
#include "../reporter/reporter.h"

/* name(params): wait as above, then the C library's name(args). */
#define TS_ACCESS_HOOK(name, params, args)                                                         \
    TS_EXPORT int name params                                                                      \
    {                                                                                              \
        ts_rep_before_giving_up_access();                                                          \
        return TS_REAL(name) args;                                                                 \
    }

TS_ACCESS_HOOK(setuid, (uid_t uid), (uid))
TS_ACCESS_HOOK(setgid, (gid_t gid), (gid))
TS_ACCESS_HOOK(seteuid, (uid_t euid), (euid))
TS_ACCESS_HOOK(setegid, (gid_t egid), (egid))
TS_ACCESS_HOOK(setreuid, (uid_t ruid, uid_t euid), (ruid, euid))
TS_ACCESS_HOOK(setregid, (gid_t rgid, gid_t egid), (rgid, egid))
TS_ACCESS_HOOK(setresuid, (uid_t ruid, uid_t euid, uid_t suid), (ruid, euid, suid))
TS_ACCESS_HOOK(setresgid, (gid_t rgid, gid_t egid, gid_t sgid), (rgid, egid, sgid))
TS_ACCESS_HOOK(setgroups, (size_t n, const gid_t *groups), (n, groups))
TS_ACCESS_HOOK(initgroups, (const char *user, gid_t group), (user, group))
TS_ACCESS_HOOK(chroot, (const char *path), (path))
TS_ACCESS_HOOK(pivot_root, (const char *new_root, const char *put_old), (new_root, put_old))
