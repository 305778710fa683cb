/*
 * holdconns — opens N keep-alive connections to a server on 127.0.0.1,
 * makes one GET on each, and holds them all open, so the server's memory
 * can be read while it tracks N connections (DESIGN §7 "memory added").
 *
 *   holdconns PORT CONNECTIONS HOLD_SECONDS
 *
 * Prints "ready N" on stdout once every connection got its answer, then
 * sleeps HOLD_SECONDS (or until killed) and exits, closing them all.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s PORT CONNECTIONS HOLD_SECONDS\n", argv[0]);
        return 2;
    }
    struct sockaddr_in address = {.sin_family = AF_INET,
                                  .sin_port = htons((unsigned short)atoi(argv[1])),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int connections = atoi(argv[2]);
    static const char request[] = "GET /hold HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    char answer[4096];
    for (int i = 0; i < connections; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&address, sizeof address) != 0) {
            fprintf(stderr, "holdconns: connection %d: ", i);
            perror("connect");
            return 1;
        }
        /* One request and its whole (small) answer, so the server has
         * parsed a head on every connection it now holds. */
        if (write(fd, request, sizeof request - 1) != (ssize_t)(sizeof request - 1) ||
            read(fd, answer, sizeof answer) <= 0) {
            fprintf(stderr, "holdconns: connection %d: no answer\n", i);
            return 1;
        }
    }
    printf("ready %d\n", connections);
    fflush(stdout);
    sleep((unsigned)atoi(argv[3]));
    return 0;
}
