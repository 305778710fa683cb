/* stack_client.c — one HTTP request made from a function with a name, for
 * test_stacks.py: under TRACESHIM_STACKS the client span's code.stacktrace
 * must start in fetch_inventory and pass through main.
 *
 * Compiled by the test with cc -O0 -g (no -rdynamic: the names are in the
 * executable's .symtab only). Usage: stack_client PORT [PATH]; prints the
 * response's status line and exits 0 on a 200. */
#define _GNU_SOURCE /* strcasestr, and probe.h */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "probe.h"

/* GET path from 127.0.0.1:port with send/recv; returns the status code.
 * The send stays here, not in probe.h's http_get: the span's stack is
 * taken at the send, and the test wants this function as frame #0. */
static int fetch_inventory(int port, const char *path)
{
    int fd = connect_loopback(port, 0);
    if (fd < 0)
        return -1;
    char req[512];
    int n =
        snprintf(req, sizeof req,
                 "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n", path, port);
    if (send(fd, req, (size_t)n, 0) != n) {
        close(fd);
        return -1;
    }
    /* The head and a Content-Length body (the server may keep the
     * connection open), or what came up to the close: an incomplete
     * response still has its status line, so the result is not checked. */
    char resp[4096];
    recv_response(fd, resp, sizeof resp);
    close(fd);
    char *eol = strstr(resp, "\r\n");
    if (eol)
        *eol = 0;
    printf("%s\n", resp);
    return http_status(resp);
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
