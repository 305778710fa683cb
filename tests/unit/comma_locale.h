/* comma_locale.h — a locale whose decimal point is a comma, for the tests
 * of the numbers the shim reads and writes inside a program that called
 * setlocale(LC_ALL, "") under such a locale (de_DE). Built with localedef
 * from glibc's de_DE source (Debian's locales package, which
 * scripts/install-deps.sh installs) into a temporary LOCPATH. A test runs
 * with cmocka_unit_test_setup_teardown(test, comma_locale_setup,
 * comma_locale_teardown) and calls comma_locale_enter(state) first.
 * Include after cmocka.h. */
#ifndef TS_TEST_COMMA_LOCALE_H
#define TS_TEST_COMMA_LOCALE_H

#include <locale.h>
#include <stdio.h>
#include <stdlib.h>

/* Build the locale in a new directory, which *state names; NULL when
 * localedef is not there at all (comma_locale_enter then skips). */
static int comma_locale_setup(void **state)
{
    static char dir[32];
    *state = NULL;
    if (system("command -v localedef >/dev/null 2>&1") != 0)
        return 0;
    snprintf(dir, sizeof dir, "/tmp/ts-locale-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    *state = dir;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "localedef -i de_DE -f ISO-8859-1 '%s/de_DE.ISO-8859-1' 2>&1", dir);
    if (system(cmd) != 0) {
        print_error("localedef could not build de_DE from its source (/usr/share/i18n/locales/"
                    "de_DE is in Debian's locales package: run scripts/install-deps.sh)\n");
        return -1;
    }
    return 0;
}

/* The C locale and the environment back, the directory gone, pass or fail. */
static int comma_locale_teardown(void **state)
{
    setlocale(LC_NUMERIC, "C");
    unsetenv("LOCPATH");
    if (!*state)
        return 0;
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", (const char *)*state);
    return system(cmd) == 0 ? 0 : -1;
}

/* Make the locale the process's LC_NUMERIC, and check that it bites:
 * libc's own strtod stops at the '.'. */
static void comma_locale_enter(void **state)
{
    const char *dir = *state;
    if (!dir) {
        print_message("localedef not found (glibc's libc-bin): locale test skipped\n");
        skip();
    }
    assert_int_equal(setenv("LOCPATH", dir, 1), 0);
    if (!setlocale(LC_NUMERIC, "de_DE.ISO-8859-1"))
        fail_msg("setlocale(LC_NUMERIC, de_DE.ISO-8859-1) failed with LOCPATH=%s", dir);
    assert_string_equal(localeconv()->decimal_point, ",");
    assert_true(strtod("0.99", NULL) == 0.0);
}

#endif
