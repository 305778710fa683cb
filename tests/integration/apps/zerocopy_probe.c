/* zerocopy_probe.c — a request head whose first part went out in a plain
 * send and whose rest goes with MSG_ZEROCOPY, for test_errno.py.
 *
 *   zerocopy_probe
 *
 * The probe connects to itself with small socket buffers and a
 * non-blocking client end that has SO_ZEROCOPY. Its first request's head
 * (12 KiB, padded with 'A') does not fit: the first send is short, and
 * the rest is sent with MSG_ZEROCOPY as the server end reads. Then a
 * second head, padded with 'B', goes in a plain send. Under the shim the
 * first head's rest is owed bytes of its own (the head with the trace
 * header lines): sent zero-copy, the kernel would still point at them
 * when the shim reuses that memory for the second head. The server end
 * reads both heads and prints how many 'B' bytes the first one holds,
 * which must be none, and whether the two heads arrived whole. Last, the
 * notes of the zerocopy sends: one for each that succeeded, numbered from
 * 0 (the shim's own bytes go first in plain sends, and each of the
 * program's calls is one call with the flag). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "probe.h"

#define PAD 12000

static char *padded_head(const char *path, char fill, size_t *len)
{
    char *h = malloc(PAD + 200);
    if (!h)
        fail("malloc");
    int n = sprintf(h, "GET %s HTTP/1.1\r\nHost: probe\r\nX-Pad: ", path);
    memset(h + n, fill, PAD);
    n += PAD;
    n += sprintf(h + n, "\r\n\r\n");
    *len = (size_t)n;
    return h;
}

static char got[1 << 20];
static size_t got_len;

/* What the server end has now, read without waiting. */
static void drain(int server)
{
    ssize_t k;
    while (got_len < sizeof got &&
           (k = recv(server, got + got_len, sizeof got - got_len, MSG_DONTWAIT)) > 0)
        got_len += (size_t)k;
}

/* The end of the head that starts at from, or NULL while incomplete. */
static const char *head_end(const char *from)
{
    const char *e = memmem(from, (size_t)(got + got_len - from), "\r\n\r\n", 4);
    return e ? e + 4 : NULL;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    alarm(20);
    int port;
    int listener = listen_loopback(1, &port);
    int tiny = 1, sndbuf = 4096, on = 1;
    setsockopt(listener, SOL_SOCKET, SO_RCVBUF, &tiny, sizeof tiny);
    int client, server;
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (c < 0)
        fail("socket");
    setsockopt(c, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    struct sockaddr_in a = loopback(port);
    if (connect(c, (struct sockaddr *)&a, sizeof a) < 0)
        fail("connect");
    client = c;
    server = accept(listener, NULL, NULL);
    if (server < 0)
        fail("accept");
    if (setsockopt(client, SOL_SOCKET, SO_ZEROCOPY, &on, sizeof on) < 0)
        fail("SO_ZEROCOPY");
    fcntl(client, F_SETFL, O_NONBLOCK);

    size_t len1, len2;
    char *h1 = padded_head("/first", 'A', &len1);
    char *h2 = padded_head("/second", 'B', &len2);
    ssize_t r = send(client, h1, len1, MSG_NOSIGNAL);
    printf("first send: %s\n", r > 0 && (size_t)r < len1 ? "short" : "NOT SHORT");
    size_t done = r > 0 ? (size_t)r : 0;
    unsigned zerocopy_calls = 0;
    for (int i = 0; done < len1 && i < 20000; i++) {
        drain(server);
        r = send(client, h1 + done, len1 - done, MSG_NOSIGNAL | MSG_ZEROCOPY);
        if (r > 0) {
            done += (size_t)r;
            zerocopy_calls++;
        }
        else if (errno != EAGAIN)
            fail("send with MSG_ZEROCOPY");
        sleep_ms(1);
    }
    printf("first head: %s\n", done == len1 ? "sent" : "NOT SENT");
    done = 0;
    for (int i = 0; done < len2 && i < 20000; i++) {
        r = send(client, h2 + done, len2 - done, MSG_NOSIGNAL);
        if (r > 0)
            done += (size_t)r;
        else if (errno != EAGAIN)
            fail("send");
        drain(server);
        sleep_ms(1);
    }
    const char *end1 = NULL, *end2 = NULL;
    for (int i = 0; i < 5000 && !(end1 && (end2 = head_end(end1))); i++) {
        drain(server);
        end1 = head_end(got);
        if (!(end1 && head_end(end1)))
            sleep_ms(1);
    }
    if (!end1 || !end2)
        fail("the server end did not get both heads");
    /* the padding's value: the trace header lines hold a 'B' or two */
    const char *pad = memmem(got, (size_t)(end1 - got), "X-Pad: ", 7);
    const char *pad_end = pad ? memmem(pad, (size_t)(end1 - pad), "\r\n", 2) : NULL;
    if (!pad_end)
        fail("the first head has no X-Pad line");
    size_t as = 0, bs = 0;
    for (const char *p = pad + 7; p < pad_end; p++) {
        as += *p == 'A';
        bs += *p == 'B';
    }
    printf("first head's padding: %zu bytes, 'A' %s, 'B' %zu\n", (size_t)(pad_end - pad - 7),
           as == PAD ? "all" : "NOT ALL", bs);
    printf("second head: %s\n", memmem(end1, (size_t)(end2 - end1), "GET /second", 11) == end1
                                    ? "whole"
                                    : "NOT WHOLE");
    struct zerocopy_notes z = zerocopy_notes_read(client, zerocopy_calls - 1);
    if (z.notes && z.lo == 0 && z.hi + 1 == zerocopy_calls && !z.odd)
        printf("zerocopy notes: one for each call\n");
    else
        printf("zerocopy notes: %u calls, %d notes naming %u..%u, %d odd reads\n",
               zerocopy_calls, z.notes, z.lo, z.hi, z.odd);
    close(client);
    close(server);
    close(listener);
    printf("done\n");
    return 0;
}
