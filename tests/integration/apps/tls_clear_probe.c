/* tls_clear_probe.c STALLED_PORT PORT — an OpenSSL client that gives up on
 * a write and reuses its handle, for test_tls.py: over a non-blocking
 * socket with a 4 KiB send buffer it writes a POST of 500 KB to
 * 127.0.0.1:STALLED_PORT (a server that never reads), gets WANT_WRITE,
 * gives up; closes the socket, calls SSL_clear, connects the same handle
 * to 127.0.0.1:PORT (apps/tlsapp.py) and sends GET /echo-headers. Prints
 * "WRITE <count> asked <n>" for that write, then the response's first
 * line, or "NO ANSWER" after 5 s. Exit 2 when the probe itself failed. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int connect_to(int port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    int small = 4096;
    setsockopt(s, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a) != 0)
        exit(2);
    return s;
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL *ssl = ctx ? SSL_new(ctx) : NULL;
    int s = connect_to(atoi(argv[1]));
    if (!ssl || SSL_set_fd(ssl, s) != 1 || SSL_connect(ssl) != 1)
        return 2;
    fcntl(s, F_SETFL, O_NONBLOCK);
    size_t body = 500000;
    char *post = malloc(body + 128);
    if (!post)
        return 2;
    int head = sprintf(post, "POST /old HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n", body);
    memset(post + head, 'O', body);
    int n = SSL_write(ssl, post, head + (int)body);
    if (n > 0 || SSL_get_error(ssl, n) != SSL_ERROR_WANT_WRITE)
        return 2; /* the server was to take none of it */
    close(s); /* given up */
    SSL_clear(ssl);
    s = connect_to(atoi(argv[2]));
    if (SSL_set_fd(ssl, s) != 1 || SSL_connect(ssl) != 1)
        return 2;
    static const char get[] = "GET /echo-headers HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    n = SSL_write(ssl, get, (int)sizeof get - 1);
    printf("WRITE %d asked %zu\n", n, sizeof get - 1);
    struct pollfd p = {s, POLLIN, 0};
    char answer[4096];
    int got = poll(&p, 1, 5000) == 1 ? SSL_read(ssl, answer, sizeof answer - 1) : 0;
    if (got > 0) {
        answer[got] = '\0';
        answer[strcspn(answer, "\r\n")] = '\0';
        printf("%s\n", answer);
    } else {
        printf("NO ANSWER\n");
    }
    SSL_shutdown(ssl);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    free(post);
    close(s);
    return 0;
}
