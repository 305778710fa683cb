/* deepbind_probe.c — a GET made by a library the program dlopens, as PHP
 * loads its extensions (RTLD_DEEPBIND): the library's own socket, connect,
 * send, recv and close, bound by the loader to the C library's before the
 * shim's.
 *
 * Built twice from this file: with -DPROBE_LIBRARY -shared -fPIC, the
 * library (probe_get); without, the program:
 *
 *   deepbind_probe LIB FLAGS PORT PATH [NESTED_LIB]
 *
 * dlopens LIB with FLAGS (a comma list of DEEPBIND, NOW, LAZY, GLOBAL:
 * RTLD_ each) and calls its probe_get(PORT, PATH, NESTED_LIB), which makes
 * the GET itself, or, given NESTED_LIB, dlopens that (RTLD_NOW |
 * RTLD_DEEPBIND, from inside the library: through the library's own
 * binding of dlopen) and has its probe_get make it. Prints the response's
 * status line; exit status 0 for a 2xx, 1 otherwise, 2 when the probe
 * fails. */
#define _GNU_SOURCE
#include <dlfcn.h>

#include "probe.h"

typedef int probe_get_fn(int port, const char *path, const char *nested);

#ifdef PROBE_LIBRARY

int probe_get(int port, const char *path, const char *nested)
{
    if (nested) {
        void *h = dlopen(nested, RTLD_NOW | RTLD_DEEPBIND);
        if (!h)
            fail("dlopen %s: %s", nested, dlerror());
        probe_get_fn *get = (probe_get_fn *)dlsym(h, "probe_get");
        if (!get)
            fail("no probe_get in %s", nested);
        return get(port, path, NULL);
    }
    int fd = connect_loopback(port, 0);
    if (fd < 0)
        fail("connect to 127.0.0.1:%d", port);
    char resp[4096];
    int status = http_get(fd, port, path, resp, sizeof resp);
    close(fd);
    char *eol = strstr(resp, "\r\n");
    if (eol)
        *eol = '\0';
    printf("%s\n", resp);
    return status;
}

#else

static int parse_flags(const char *list)
{
    static const struct {
        const char *name;
        int flag;
    } known[] = {{"DEEPBIND", RTLD_DEEPBIND},
                 {"NOW", RTLD_NOW},
                 {"LAZY", RTLD_LAZY},
                 {"GLOBAL", RTLD_GLOBAL}};
    int flags = 0;
    char copy[256];
    snprintf(copy, sizeof copy, "%s", list);
    for (char *save = NULL, *word = strtok_r(copy, ",", &save); word;
         word = strtok_r(NULL, ",", &save)) {
        size_t i = 0;
        while (i < sizeof known / sizeof known[0] && strcmp(word, known[i].name) != 0)
            i++;
        if (i == sizeof known / sizeof known[0])
            fail("unknown flag %s", word);
        flags |= known[i].flag;
    }
    return flags;
}

int main(int argc, char **argv)
{
    if (argc != 5 && argc != 6)
        fail("usage: deepbind_probe LIB FLAGS PORT PATH [NESTED_LIB]");
    void *h = dlopen(argv[1], parse_flags(argv[2]));
    if (!h)
        fail("dlopen %s: %s", argv[1], dlerror());
    if (dlerror() != NULL)
        fail("dlerror() after a dlopen that succeeded");
    probe_get_fn *get = (probe_get_fn *)dlsym(h, "probe_get");
    if (!get)
        fail("no probe_get in %s", argv[1]);
    int status = get(atoi(argv[3]), argv[4], argc == 6 ? argv[5] : NULL);
    fflush(stdout);
    return status >= 200 && status < 300 ? 0 : 1;
}

#endif
