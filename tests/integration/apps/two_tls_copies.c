/* two_tls_copies.c MODULE... — loads each module (fake_tls_user.c)
 * RTLD_LOCAL, as Python loads extension modules, and has each write one
 * byte through a handle of the copy of the TLS library it binds. Prints
 * "1:1 2:1": each module's answer (-1: its handle went to another copy).
 * A MODULE written +PATH is loaded RTLD_GLOBAL (its copy joins the global
 * scope); the word "again" has every module loaded so far write once
 * more ("again 1:1 2:1"). */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

typedef int write_one_fn(void);

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODULE...\n", argv[0]);
        return 2;
    }
    write_one_fn *modules[64];
    int n = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "again") == 0) {
            printf(" again");
            for (int k = 0; k < n; k++)
                printf(" %d:%d", k + 1, modules[k]());
            continue;
        }
        int global = argv[i][0] == '+';
        void *h = dlopen(argv[i] + global, RTLD_NOW | (global ? RTLD_GLOBAL : RTLD_LOCAL));
        if (!h) {
            fprintf(stderr, "%s\n", dlerror());
            return 2;
        }
        write_one_fn *write_one = (write_one_fn *)dlsym(h, "fake_tls_user_write");
        if (!write_one || n == 64)
            return 2;
        modules[n++] = write_one;
        printf("%s%d:%d", n > 1 ? " " : "", n, write_one());
    }
    printf("\n");
    return 0;
}
