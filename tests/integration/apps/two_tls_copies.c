/* two_tls_copies.c MODULE... — loads each module (fake_tls_user.c)
 * RTLD_LOCAL, as Python loads extension modules, and has each write one
 * byte through a handle of the copy of the TLS library it binds. Prints
 * "1:1 2:1": each module's answer (-1: its handle went to another copy). */
#include <dlfcn.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODULE...\n", argv[0]);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
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
