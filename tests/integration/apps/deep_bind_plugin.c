/* deep_bind_plugin.c — a plugin for apps/deep_bind_probe.c, built as a
 * shared library: one GET to 127.0.0.1 by connect, send and recv, and a
 * close of its own that it calls itself (what RTLD_DEEPBIND is for: a
 * plugin's own definitions before everyone else's). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

int plugin_own_closes;

/* The plugin's own close: counted, then the system call. */
int close(int fd)
{
    plugin_own_closes++;
    return (int)syscall(SYS_close, fd);
}

/* GET path from 127.0.0.1:port on a connection of its own; the status
 * code, or -1. */
int plugin_get(int port, const char *path)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        return -1;
    char req[256], resp[4096];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n", path, port);
    if (send(fd, req, (size_t)n, 0) != n)
        return -1;
    size_t got = 0;
    for (;;) { /* the head and a Content-Length body */
        ssize_t r = recv(fd, resp + got, sizeof resp - 1 - got, 0);
        if (r <= 0)
            break;
        got += (size_t)r;
        resp[got] = '\0';
        char *end = strstr(resp, "\r\n\r\n"), *len = strcasestr(resp, "\r\nContent-Length:");
        if (end && len && got >= (size_t)(end + 4 - resp) + (size_t)atoi(len + 17))
            break;
    }
    close(fd);
    int status = -1;
    return sscanf(resp, "HTTP/1.%*d %d", &status) == 1 ? status : -1;
}
