/* stack_client.c — one HTTP request made from a function with a name, for
 * test_stacks.py: under TRACESHIM_STACKS the client span's code.stacktrace
 * must start in fetch_inventory and pass through main.
 *
 * Compiled by the test with cc -O0 -g (no -rdynamic: the names are in the
 * executable's .symtab only). Usage: stack_client PORT [PATH]; prints the
 * response's status line and exits 0 on a 200. */
#define _GNU_SOURCE /* strcasestr */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* GET path from 127.0.0.1:port with send/recv; returns the status code. */
static int fetch_inventory(int port, const char *path)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    char req[512];
    int n =
        snprintf(req, sizeof req,
                 "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n", path, port);
    if (send(fd, req, (size_t)n, 0) != n) {
        close(fd);
        return -1;
    }
    /* The head and a Content-Length body (the server may keep the
     * connection open), or up to the close. */
    char resp[4096];
    size_t got = 0;
    ssize_t r;
    while (got < sizeof resp - 1 && (r = recv(fd, resp + got, sizeof resp - 1 - got, 0)) > 0) {
        got += (size_t)r;
        resp[got] = 0;
        char *end = strstr(resp, "\r\n\r\n");
        char *cl = strcasestr(resp, "\r\nContent-Length:");
        if (end && cl && cl < end && got >= (size_t)(end + 4 - resp) + strtoul(cl + 17, NULL, 10))
            break;
    }
    resp[got] = 0;
    close(fd);
    char *eol = strstr(resp, "\r\n");
    if (eol)
        *eol = 0;
    printf("%s\n", resp);
    int status = 0;
    return sscanf(resp, "HTTP/1.%*d %d", &status) == 1 ? status : -1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: stack_client PORT [PATH]\n");
        return 2;
    }
    int status = fetch_inventory(atoi(argv[1]), argc > 2 ? argv[2] : "/inventory");
    return status == 200 ? 0 : 1;
}
