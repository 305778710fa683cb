/* start_faults.c — prints the page faults (minor and major) the process
 * took before main, as "faults_at_main=N" (test_startup.py): the loader's
 * mapping and relocation of every object, and the constructors, a
 * preloaded library's among them. Each is a page first touched, about one
 * to two microseconds here, and every process a traced shell or make
 * starts pays them. */
#include <stdio.h>
#include <sys/resource.h>

int main(void)
{
    struct rusage self;
    getrusage(RUSAGE_SELF, &self);
    printf("faults_at_main=%ld\n", self.ru_minflt + self.ru_majflt);
    return 0;
}
