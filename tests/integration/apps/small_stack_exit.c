/* small_stack_exit.c PORT [KIB] — a thread with a stack of KIB KiB (16 when
 * not given; more for a library built with the sanitizers), below which 1 MiB
 * is mapped PROT_NONE (a frame that outgrows the stack faults at once
 * rather than write over another mapping), sends one GET to 127.0.0.1:PORT,
 * reads the answer and ends the process with exit(0) from that thread, for
 * test_exporter_transport.py: the flush at exit runs on that thread when
 * the reporter shares the program's fd table, and its export must fit.
 * Exit 3 when the request fails, 2 on a usage error. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define GUARD (1 << 20)

static int port;

static void *request_then_exit(void *arg)
{
    (void)arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    static const char req[] = "GET /small HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    char buf[512];
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        write(fd, req, sizeof req - 1) != (ssize_t)(sizeof req - 1) || read(fd, buf, sizeof buf) <= 0)
        exit(3);
    while (read(fd, buf, sizeof buf) > 0)
        ;
    close(fd);
    exit(0);
}

int main(int argc, char **argv)
{
    if (argc != 2 && argc != 3)
        return 2;
    port = atoi(argv[1]);
    size_t stack = (size_t)(argc == 3 ? atoi(argv[2]) : 16) << 10;
    char *area = mmap(NULL, GUARD + stack, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (area == MAP_FAILED || mprotect(area + GUARD, stack, PROT_READ | PROT_WRITE) != 0)
        return 2;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstack(&attr, area + GUARD, stack);
    pthread_t t;
    if (pthread_create(&t, &attr, request_then_exit, NULL) != 0)
        return 2;
    pthread_join(t, NULL);
    return 1; /* not reached: the thread exits */
}
