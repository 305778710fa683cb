/* access_hooks.c — the calls by which a program gives up access it has:
 * its user or groups (setuid and its kin, setgroups, initgroups) and its
 * root (chroot, pivot_root). Past such a call the span file's path may be
 * closed to the process for good (a directory only the old user may
 * write, a file outside the new root), whether its first span, which
 * starts the reporter thread, came before or comes after. Each of these
 * calls first keeps the span file open in the program's fd table
 * (reporter.h ts_rep_before_giving_up_access), so that no process has to
 * wait for the reporter thread at its first span. glibc applies a change
 * of user or groups to every thread (the reporter thread too); one made
 * through syscall(2) changes the calling thread alone, and leaves the
 * reporter thread its access. */
#include <grp.h>
#include <stdbool.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../preload/init.h"
#include "../preload/real.h"
#include "../reporter/reporter.h"

/* name(params): keep the file as above, then the C library's name(args).
 * becomes: the user the call makes the process for good, or (uid_t)-1 (a
 * span file this process made is given to that user, and taken back if
 * the call fails: reporter.h). */
#define TS_ACCESS_HOOK(name, params, args, becomes)                                                \
    TS_EXPORT int name params                                                                      \
    {                                                                                              \
        /* traced, and not the shim's own call */                                                  \
        bool given = ts_ready() && ts_rep_before_giving_up_access(becomes);                        \
        int rc = TS_REAL(name) args;                                                               \
        if (rc != 0 && given) /* refused: the process is who it was */                             \
            ts_rep_access_kept_after_all();                                                        \
        return rc;                                                                                 \
    }

#define SAME ((uid_t)-1)

/* The process's real, effective and saved users. Through syscall(2),
 * which the shim imports already: a process's start pays the loader's
 * lookup of each function the library imports, for every process, and
 * these run only at a change of user. */
static bool current_users(uid_t *r, uid_t *e, uid_t *s)
{
    return TS_REAL(syscall)(SYS_getresuid, r, e, s) == 0;
}

/* The user the process is for good once its real, effective and saved
 * users are r, e and s (SAME: as they are): one user, not root. SAME when
 * root stays in any of them (a daemon that acts as a user for a while and
 * comes back, as cron's and Samba's do: the file stays root's, as it holds
 * every user's spans) or they differ. */
static uid_t for_good(uid_t r, uid_t e, uid_t s)
{
    uid_t now_r, now_e, now_s;
    if (!current_users(&now_r, &now_e, &now_s))
        return SAME;
    r = r == SAME ? now_r : r;
    e = e == SAME ? now_e : e;
    s = s == SAME ? now_s : s;
    return r != 0 && r == e && e == s ? e : SAME;
}

/* setuid as root sets all three; as another user only the effective one. */
static uid_t after_setuid(uid_t uid)
{
    uid_t r, e, s;
    if (!current_users(&r, &e, &s))
        return SAME;
    return e == 0 ? for_good(uid, uid, uid) : for_good(SAME, uid, SAME);
}

/* setreuid sets the saved user to the new effective one when it sets the
 * real one, or an effective one other than the real one. */
static uid_t after_setreuid(uid_t ruid, uid_t euid)
{
    uid_t r, e, s;
    if (!current_users(&r, &e, &s))
        return SAME;
    bool saved_too = ruid != SAME || (euid != SAME && euid != r);
    return for_good(ruid, euid, saved_too ? (euid != SAME ? euid : e) : SAME);
}

TS_ACCESS_HOOK(setuid, (uid_t uid), (uid), after_setuid(uid))
TS_ACCESS_HOOK(setgid, (gid_t gid), (gid), SAME)
TS_ACCESS_HOOK(seteuid, (uid_t euid), (euid), for_good(SAME, euid, SAME))
TS_ACCESS_HOOK(setegid, (gid_t egid), (egid), SAME)
TS_ACCESS_HOOK(setreuid, (uid_t ruid, uid_t euid), (ruid, euid), after_setreuid(ruid, euid))
TS_ACCESS_HOOK(setregid, (gid_t rgid, gid_t egid), (rgid, egid), SAME)
TS_ACCESS_HOOK(setresuid, (uid_t ruid, uid_t euid, uid_t suid), (ruid, euid, suid),
               for_good(ruid, euid, suid))
TS_ACCESS_HOOK(setresgid, (gid_t rgid, gid_t egid, gid_t sgid), (rgid, egid, sgid), SAME)
TS_ACCESS_HOOK(setgroups, (size_t n, const gid_t *groups), (n, groups), SAME)
TS_ACCESS_HOOK(initgroups, (const char *user, gid_t group), (user, group), SAME)
TS_ACCESS_HOOK(chroot, (const char *path), (path), SAME)
TS_ACCESS_HOOK(pivot_root, (const char *new_root, const char *put_old), (new_root, put_old), SAME)
