/*
 * tinyhttpd — a µs-scale HTTP/1.1 server for the benchmarks.
 *
 *   tinyhttpd PORT_FILE [MAX_SECONDS]
 *
 * Listens on 127.0.0.1 on a port the kernel picks (so runs never collide),
 * writes that port number to PORT_FILE once it accepts, and answers every
 * request with the same small 200 response, keeping the connection alive.
 * One thread, one epoll loop: the work per request is a read, a scan for the
 * end of the head and a write, so any cost the shim adds is as visible as it
 * can be (DESIGN §7 "µs-scale server").
 *
 * Request bodies (Content-Length) are read and thrown away, so the same
 * program serves as the OTLP receiver when the shim's exporter is measured.
 *
 * SIGTERM/SIGINT end the loop and main returns, so a traced instance runs
 * its exit path (flush, TRACESHIM_STATS line). MAX_SECONDS (default 600)
 * bounds its life even if the script that started it dies.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

enum { CONNECTION_BUFFER_BYTES = 4096, MAX_EVENTS = 256 };

static const char fixed_response[] =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: text/plain\r\n"
    "Content-Length: 3\r\n"
    "\r\n"
    "ok\n";

struct connection {
    int fd;
    size_t buffered;        /* bytes of unparsed input in buffer */
    size_t body_to_discard; /* body bytes of the current request still to skip */
    char buffer[CONNECTION_BUFFER_BYTES];
};

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int signo)
{
    (void)signo;
    stop_requested = 1;
}

/* Content-Length of a complete request head, 0 when there is none. */
static size_t content_length_of(const char *head, size_t head_length)
{
    static const char name[] = "\r\ncontent-length:";
    const size_t name_length = sizeof name - 1;
    for (size_t i = 0; i + name_length <= head_length; i++) {
        if (strncasecmp(head + i, name, name_length) == 0) {
            return (size_t)strtoull(head + i + name_length, NULL, 10);
        }
    }
    return 0;
}

static const char *find_head_end(const char *data, size_t length)
{
    return memmem(data, length, "\r\n\r\n", 4);
}

static void close_connection(int epoll_fd, struct connection *connection)
{
    epoll_ctl(epoll_fd, EPOLL_CTL_DEL, connection->fd, NULL);
    close(connection->fd);
    free(connection);
}

/* Answers every complete request in the buffer; false when the peer closed
 * or the connection broke. */
static int serve_readable(struct connection *connection)
{
    for (;;) {
        ssize_t got = read(connection->fd, connection->buffer + connection->buffered,
                           sizeof connection->buffer - connection->buffered);
        if (got == 0) {
            return 0;
        }
        if (got < 0) {
            return errno == EAGAIN || errno == EINTR;
        }
        connection->buffered += (size_t)got;

        size_t consumed = 0;
        for (;;) {
            char *unparsed = connection->buffer + consumed;
            size_t unparsed_length = connection->buffered - consumed;
            if (connection->body_to_discard > 0) {
                size_t skip = unparsed_length < connection->body_to_discard
                                  ? unparsed_length
                                  : connection->body_to_discard;
                connection->body_to_discard -= skip;
                consumed += skip;
                if (connection->body_to_discard > 0) {
                    break;
                }
                continue;
            }
            const char *head_end = find_head_end(unparsed, unparsed_length);
            if (head_end == NULL) {
                break;
            }
            size_t head_length = (size_t)(head_end - unparsed) + 4;
            connection->body_to_discard = content_length_of(unparsed, head_length);
            consumed += head_length;
            /* The response is tiny and the socket buffer empty between
             * requests of one keep-alive client, so one write suffices. */
            if (write(connection->fd, fixed_response, sizeof fixed_response - 1) !=
                (ssize_t)(sizeof fixed_response - 1)) {
                return 0;
            }
        }
        memmove(connection->buffer, connection->buffer + consumed,
                connection->buffered - consumed);
        connection->buffered -= consumed;
        if (connection->buffered == sizeof connection->buffer) {
            return 0; /* a head larger than the buffer: not a client of ours */
        }
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PORT_FILE [MAX_SECONDS]\n", argv[0]);
        return 2;
    }
    unsigned max_seconds = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 600;

    struct sigaction stop_action = {.sa_handler = on_stop_signal};
    sigaction(SIGTERM, &stop_action, NULL);
    sigaction(SIGINT, &stop_action, NULL);
    sigaction(SIGALRM, &stop_action, NULL);
    signal(SIGPIPE, SIG_IGN);
    alarm(max_seconds);

    int listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int enable = 1;
    setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &enable, sizeof enable);
    struct sockaddr_in address = {.sin_family = AF_INET,
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t address_length = sizeof address;
    if (bind(listen_fd, (struct sockaddr *)&address, sizeof address) != 0 ||
        listen(listen_fd, 4096) != 0 ||
        getsockname(listen_fd, (struct sockaddr *)&address, &address_length) != 0) {
        perror("tinyhttpd: listen");
        return 1;
    }

    int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event listen_event = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listen_fd, &listen_event);

    /* Written last, through a temporary name, so a reader never sees a
     * half-written port or a port nobody listens on yet. */
    char temporary_path[4096];
    snprintf(temporary_path, sizeof temporary_path, "%s.tmp", argv[1]);
    FILE *port_file = fopen(temporary_path, "w");
    if (port_file == NULL || fprintf(port_file, "%u\n", ntohs(address.sin_port)) < 0 ||
        fclose(port_file) != 0 || rename(temporary_path, argv[1]) != 0) {
        perror("tinyhttpd: port file");
        return 1;
    }

    struct epoll_event events[MAX_EVENTS];
    while (!stop_requested) {
        int ready = epoll_wait(epoll_fd, events, MAX_EVENTS, 1000);
        for (int i = 0; i < ready; i++) {
            struct connection *connection = events[i].data.ptr;
            if (connection == NULL) {
                int client_fd;
                while ((client_fd = accept4(listen_fd, NULL, NULL,
                                            SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    setsockopt(client_fd, IPPROTO_TCP, TCP_NODELAY, &enable, sizeof enable);
                    struct connection *accepted = calloc(1, sizeof *accepted);
                    if (accepted == NULL) {
                        close(client_fd);
                        continue;
                    }
                    accepted->fd = client_fd;
                    struct epoll_event client_event = {.events = EPOLLIN, .data.ptr = accepted};
                    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, client_fd, &client_event);
                }
                continue;
            }
            if (!serve_readable(connection)) {
                close_connection(epoll_fd, connection);
            }
        }
    }
    return 0;
}
