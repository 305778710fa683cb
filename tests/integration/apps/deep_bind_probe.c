/* deep_bind_probe.c PLUGIN FLAGS PORT — dlopen(PLUGIN, FLAGS) and one GET
 * by the plugin's plugin_get (apps/deep_bind_plugin.c). FLAGS: a
 * comma-separated list of now, lazy, deep (RTLD_NOW, RTLD_LAZY,
 * RTLD_DEEPBIND). PLUGIN may be a bare name, found through the probe's
 * own RUNPATH, which the loader reads from the object that calls dlopen.
 * Prints "STATUS OWN_CLOSES": the GET's status, and how many times the
 * plugin's own close ran. */
#define _GNU_SOURCE
#include "probe.h"

#include <dlfcn.h>

int main(int argc, char **argv)
{
    if (argc != 4)
        fail("usage: deep_bind_probe PLUGIN now|lazy[,deep] PORT");
    int flags = (strstr(argv[2], "lazy") ? RTLD_LAZY : RTLD_NOW) |
                (strstr(argv[2], "deep") ? RTLD_DEEPBIND : 0);
    void *h = dlopen(argv[1], flags);
    if (!h)
        fail("dlopen %s: %s", argv[1], dlerror());
    int (*get)(int, const char *) = (int (*)(int, const char *))dlsym(h, "plugin_get");
    int *own_closes = dlsym(h, "plugin_own_closes");
    if (!get || !own_closes)
        fail("the plugin's symbols");
    int status = get(atoi(argv[3]), "/deep");
    printf("%d %d\n", status, *own_closes);
    return status == 200 ? 0 : 1;
}
