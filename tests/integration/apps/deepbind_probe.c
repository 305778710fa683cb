/* deepbind_probe.c — a GET made by a library the program dlopens, as PHP
 * loads its extensions (RTLD_DEEPBIND): the library's own socket, connect,
 * send, recv and close, bound by the loader to the C library's before the
 * shim's.
 *
 * Built from this file: with -DPROBE_LIBRARY -shared -fPIC, the library
 * (probe_get); without, the program:
 *
 *   deepbind_probe LIB FLAGS PORT PATH [NESTED_LIB]
 *
 * dlopens LIB with FLAGS (a comma list of DEEPBIND, NOW, LAZY, GLOBAL:
 * RTLD_ each) and calls its probe_get(PORT, PATH, NESTED_LIB), which makes
 * the GET itself, or, given NESTED_LIB, dlopens that (RTLD_NOW |
 * RTLD_DEEPBIND, from inside the library: through the library's own
 * binding of dlopen) and has its probe_get make it. Prints the response's
 * status line; exit status 0 for a 2xx, 1 otherwise, 2 when the probe
 * fails.
 *
 * PROBE_RACE_LIB=PATH in the environment: first, while a thread opens and
 * closes PATH (RTLD_NOW, or the flags of PROBE_RACE_FLAGS) again and
 * again, LIB is opened with FLAGS and closed 2000 times. Built with
 * -DPROBE_PROGRAM_SEND (and -rdynamic), the program defines send itself
 * and prints "program sends: N" after the status line.
 *
 * Two more libraries, for a library whose own dependency defines send
 * (what RTLD_DEEPBIND is for): -DPROBE_SEND_LIBRARY makes one that
 * defines send (counted in probe_own_sends, sent by the system call), and
 * a probe library built with -DPROBE_OWN_SEND and linked with it prints
 * "own sends: N" after the status line. -DPROBE_CONSTRUCTOR_LIBRARY makes
 * one whose constructor dlopens $PROBE_INNER with RTLD_NOW | RTLD_DEEPBIND
 * (or $PROBE_INNER_FLAGS) through the C library's dlopen when it is itself
 * loaded so (its own table is not bound back yet), and whose probe_get is
 * that library's; with $PROBE_CLOSE, it first opens and closes that
 * library. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>

#include "probe.h"

typedef int probe_get_fn(int port, const char *path, const char *nested);

/* A comma list of DEEPBIND, NOW, LAZY, GLOBAL: the RTLD_ flags. */
__attribute__((unused)) static int parse_flags(const char *list)
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

#if defined(PROBE_SEND_LIBRARY)
#include <sys/syscall.h>

int probe_own_sends;

ssize_t send(int fd, const void *buf, size_t n, int flags)
{
    probe_own_sends++;
    return syscall(SYS_sendto, fd, buf, n, flags, NULL, 0);
}

#elif defined(PROBE_CONSTRUCTOR_LIBRARY)

static probe_get_fn *inner_get;

__attribute__((constructor)) static void open_inner(void)
{
    const char *close_it = getenv("PROBE_CLOSE");
    if (close_it) { /* an unload during the call that loads this library */
        void *other = dlopen(close_it, RTLD_NOW);
        if (!other)
            fail("dlopen $PROBE_CLOSE: %s", dlerror());
        dlclose(other);
    }
    const char *inner = getenv("PROBE_INNER");
    const char *flags = getenv("PROBE_INNER_FLAGS");
    void *h = inner ? dlopen(inner, parse_flags(flags ? flags : "DEEPBIND,NOW")) : NULL;
    if (!h)
        fail("dlopen $PROBE_INNER: %s", inner ? dlerror() : "not set");
    inner_get = (probe_get_fn *)dlsym(h, "probe_get");
    if (!inner_get)
        fail("no probe_get in %s", inner);
}

int probe_get(int port, const char *path, const char *nested)
{
    return inner_get(port, path, nested);
}

#elif defined(PROBE_LIBRARY)

#ifdef PROBE_OWN_SEND
extern int probe_own_sends;
#endif

int probe_calls = 1; /* in .data, written at each call */

int probe_get(int port, const char *path, const char *nested)
{
    probe_calls++;
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
#ifdef PROBE_OWN_SEND
    printf("own sends: %d\n", probe_own_sends);
#endif
    return status;
}

#else

#ifdef PROBE_PROGRAM_SEND
#include <sys/syscall.h>

/* The program's own send (exported with -rdynamic): the global scope's
 * first definition. */
static int program_sends;

ssize_t send(int fd, const void *buf, size_t n, int flags)
{
    program_sends++;
    return syscall(SYS_sendto, fd, buf, n, flags, NULL, 0);
}
#endif

static volatile int racing = 1;
static int race_flags = RTLD_NOW;

static void *open_and_close(void *path)
{
    while (racing) {
        void *h = dlopen(path, race_flags);
        if (!h)
            fail("dlopen %s: %s", (const char *)path, dlerror());
        dlclose(h);
    }
    return NULL;
}

/* LIB opened and closed while another thread does the same with another
 * library: each open of LIB is bound back while the other thread's
 * dlopen and dlclose take the loader's locks. */
static void race(const char *lib, int flags, const char *other)
{
    pthread_t t;
    if (pthread_create(&t, NULL, open_and_close, (void *)other) != 0)
        fail("pthread_create");
    for (int i = 0; i < 2000; i++) {
        void *h = dlopen(lib, flags);
        if (!h)
            fail("dlopen %s: %s", lib, dlerror());
        dlclose(h);
    }
    racing = 0;
    pthread_join(t, NULL);
}

int main(int argc, char **argv)
{
    if (argc != 5 && argc != 6)
        fail("usage: deepbind_probe LIB FLAGS PORT PATH [NESTED_LIB]");
    if (getenv("PROBE_RACE_FLAGS"))
        race_flags = parse_flags(getenv("PROBE_RACE_FLAGS"));
    if (getenv("PROBE_RACE_LIB"))
        race(argv[1], parse_flags(argv[2]), getenv("PROBE_RACE_LIB"));
    void *h = dlopen(argv[1], parse_flags(argv[2]));
    if (!h)
        fail("dlopen %s: %s", argv[1], dlerror());
    if (dlerror() != NULL)
        fail("dlerror() after a dlopen that succeeded");
    probe_get_fn *get = (probe_get_fn *)dlsym(h, "probe_get");
    if (!get)
        fail("no probe_get in %s", argv[1]);
    int status = get(atoi(argv[3]), argv[4], argc == 6 ? argv[5] : NULL);
#ifdef PROBE_PROGRAM_SEND
    printf("program sends: %d\n", program_sends);
#endif
    fflush(stdout);
    return status >= 200 && status < 300 ? 0 : 1;
}

#endif
