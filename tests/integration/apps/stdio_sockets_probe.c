/* stdio_sockets_probe.c — a program whose fds 0, 1 and 2 are its own
 * connections, for test_hostile.py: the shim's messages must not go into
 * them.
 *
 *   stdio_sockets_probe PORT
 *
 * Closes 0, 1 and 2, connects three sockets to 127.0.0.1:PORT (they take
 * those numbers), GETs /stdio/N on each, waits 400 ms (the test makes the
 * shim's export fail then: a message for stderr), GETs again on each, and
 * exits 0; 1 when a number or an answer was not what it should be. */
#define _GNU_SOURCE
#include "probe.h"

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    int port = atoi(argv[1]);
    close(0);
    close(1);
    close(2);
    int fds[3];
    for (int i = 0; i < 3; i++)
        if ((fds[i] = connect_loopback(port, 0)) != i)
            return 1;
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 3; i++) {
            char path[32], resp[1024];
            snprintf(path, sizeof path, "/stdio/%d", i);
            if (http_get(fds[i], port, path, resp, sizeof resp) != 200)
                return 1;
        }
        sleep_ms(400);
    }
    return 0;
}
