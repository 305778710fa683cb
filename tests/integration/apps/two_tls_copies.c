/* two_tls_copies.c MODULE1 MODULE2 — loads both modules (fake_tls_user.c)
 * RTLD_LOCAL, as Python loads extension modules, and has each write
 * through its own copy of the TLS library, one byte. Prints "1:1 2:1":
 * each module's answer (-1: its handle went to the other copy). */
#include <dlfcn.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s MODULE1 MODULE2\n", argv[0]);
        return 2;
    }
    for (int i = 1; i <= 2; i++) {
        void *h = dlopen(argv[i], RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            fprintf(stderr, "%s\n", dlerror());
            return 2;
        }
        int (*write_one)(void) = (int (*)(void))dlsym(h, "fake_tls_user_write");
        if (!write_one)
            return 2;
        printf("%s%d:%d", i > 1 ? " " : "", i, write_one());
    }
    printf("\n");
    return 0;
}
