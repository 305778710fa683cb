/* get_once.c PORT PATH — one GET to 127.0.0.1:PORT, the response's status
 * line on stdout; exit status 0 for a 2xx, 1 otherwise, 2 when the probe
 * itself fails.
 *
 * test_system_mode.py links it against libtraceshim.so (DT_NEEDED), so the
 * library is in the process without LD_PRELOAD naming it: what
 * /etc/ld.so.preload does, without touching the host's /etc. */
#define _GNU_SOURCE
#include "probe.h"

int main(int argc, char **argv)
{
    if (argc != 3)
        fail("usage: get_once PORT PATH");
    int port = atoi(argv[1]);
    int fd = connect_loopback(port, 0);
    if (fd < 0)
        fail("connect to 127.0.0.1:%d", port);
    char resp[4096];
    int status = http_get(fd, port, argv[2], resp, sizeof resp);
    close(fd);
    char *eol = strstr(resp, "\r\n");
    if (eol)
        *eol = '\0';
    printf("%s\n", resp);
    return status >= 200 && status < 300 ? 0 : 1;
}
