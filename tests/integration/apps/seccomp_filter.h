/* seccomp_filter.h — a probe's own seccomp filter: two system calls get
 * an action of the filter's (SECCOMP_RET_TRAP, SECCOMP_RET_KILL_PROCESS),
 * every other is allowed; or, with none named (-1), all are. Installed
 * after PR_SET_NO_NEW_PRIVS through prctl, or through the seccomp system
 * call as libseccomp's seccomp_load does. Header-only, like probe.h,
 * whose fail() it uses (included after it). */
#ifndef SECCOMP_FILTER_H
#define SECCOMP_FILTER_H

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

enum filter_door { THROUGH_PRCTL, THROUGH_SECCOMP_CALL };

static void install_filter(long first, long second, unsigned action, enum filter_door door)
{
    struct sock_filter two[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)first, 2, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)second, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_K, action),
    };
    struct sock_filter all[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
    struct sock_fprog prog = first < 0 ? (struct sock_fprog){1, all}
                                       : (struct sock_fprog){sizeof two / sizeof two[0], two};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        (door == THROUGH_PRCTL ? prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog)
                               : syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog)) != 0)
        fail("seccomp filter");
}

#endif
