/* sanitizer_exec.c — runs /usr/bin/NAME (NAME: the name it was started as)
 * without the sanitizer runtime in LD_PRELOAD, and with the plain library
 * in place of the sanitized one.
 *
 * Built statically by scripts/test.sh for the integration run under
 * ASan+UBSan, as build-asan/sanitizer-bin/curl, .../wget and .../wget2,
 * first on PATH.
 * Programs linked with GnuTLS hang at start-up under any preloaded ASan
 * runtime, traceshim or not (see SANITIZER_CANNOT_RUN in tshelp.py); a
 * traced shell or server that runs curl reaches it through this, which the
 * loader does not preload into (static), so the process it execs is curl
 * traced by the plain library.
 *
 * The paths are compiled in (-DRUNTIME=... -DSANITIZED_LIB=... -DPLAIN_LIB=...),
 * not read from the environment: a program that clears its environment
 * before exec gets back the shim's variables only. The runtime is dropped
 * from LD_PRELOAD, the sanitized library replaced by the plain one;
 * entries are compared by their real paths. */
#define _GNU_SOURCE
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int same_file(const char *a, const char *b)
{
    char ra[PATH_MAX], rb[PATH_MAX];
    if (!a || !b || !*a || !*b)
        return 0;
    if (!realpath(a, ra) || !realpath(b, rb))
        return strcmp(a, b) == 0;
    return strcmp(ra, rb) == 0;
}

int main(int argc, char **argv)
{
    (void)argc;
    const char *slash = strrchr(argv[0], '/');
    const char *name = slash ? slash + 1 : argv[0];
    char real[PATH_MAX];
    snprintf(real, sizeof real, "/usr/bin/%s", name);

    const char *runtime = RUNTIME, *sanitized = SANITIZED_LIB, *plain = PLAIN_LIB;
    const char *preload = getenv("LD_PRELOAD");
    if (preload) {
        size_t cap = strlen(preload) + strlen(plain) * 4 + 1;
        char *copy = strdup(preload), *out = calloc(1, cap);
        if (!copy || !out)
            return 127;
        size_t used = 0;
        for (char *save = NULL, *e = strtok_r(copy, " :", &save); e; e = strtok_r(NULL, " :", &save)) {
            if (same_file(e, runtime))
                continue;
            const char *put = same_file(e, sanitized) ? plain : e;
            if (used + strlen(put) + 2 > cap)
                continue;
            used += (size_t)sprintf(out + used, "%s%s", used ? " " : "", put);
        }
        if (used)
            setenv("LD_PRELOAD", out, 1);
        else
            unsetenv("LD_PRELOAD");
    }
    execv(real, argv);
    fprintf(stderr, "sanitizer_exec: cannot run %s\n", real);
    return 127;
}
