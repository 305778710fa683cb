/* sanitizer_options.c — in a library built with -DTS_SANITIZE=address only:
 * the ASan runtime's default options, for the traced processes that lose
 * ASAN_OPTIONS.
 *
 * A program that clears its environment before exec (env -i, execle with
 * an empty envp) gets the shim's own variables back, LD_PRELOAD among them,
 * but not ASAN_OPTIONS. The runtime then refuses a library list that does
 * not start with itself (the launcher puts the shim first) and checks the
 * program's leaks at exit, which are not the shim's to answer for.
 * ASAN_OPTIONS, when set, still overrides these. */
const char *__asan_default_options(void);

__attribute__((visibility("default"))) const char *__asan_default_options(void)
{
    return "verify_asan_link_order=0:detect_leaks=0";
}
