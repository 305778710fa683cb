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
 * Request bodies (Content-Length or chunked) are read and thrown away, and
 * the answer goes once the whole request is in, so the same program serves
 * as the OTLP and Zipkin receiver when exporters are measured: a POST gets
 * 200 with an empty body (an empty OTLP export response), anything else
 * the 3-byte one.
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

static const char post_response[] = "HTTP/1.1 200 OK\r\n"
                                    "Content-Length: 0\r\n"
                                    "\r\n";

/* Where the current request is: its head, a body of known length, or a
 * chunked body's size lines, data, line ends and trailer. */
enum request_state {
    AT_HEAD = 0,
    IN_BODY,          /* body_to_discard bytes left */
    CHUNK_SIZE_LINE,  /* hex size (and extensions) up to LF */
    CHUNK_DATA,       /* body_to_discard bytes of chunk data left */
    CHUNK_DATA_END,   /* the CRLF after a chunk's data, up to LF */
    TRAILER_LINE_START,
    TRAILER_LINE,     /* a trailer field, up to LF */
};

struct connection {
    int fd;
    size_t buffered;        /* bytes of unparsed input in buffer */
    enum request_state state;
    size_t body_to_discard; /* IN_BODY, CHUNK_DATA: bytes still to skip */
    size_t chunk_size;      /* CHUNK_SIZE_LINE: the size read so far */
    int chunk_size_done;    /* CHUNK_SIZE_LINE: past the digits (extensions) */
    int answer_is_post;     /* the request being read is a POST */
    char buffer[CONNECTION_BUFFER_BYTES];
};

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int signo)
{
    (void)signo;
    stop_requested = 1;
}

/* The value of a header in a complete request head (after "\r\nname:"),
 * or NULL. */
static const char *header_value(const char *head, size_t head_length, const char *name_with_colon)
{
    size_t name_length = strlen(name_with_colon);
    for (size_t i = 0; i + 2 + name_length <= head_length; i++) {
        if (head[i] == '\r' && head[i + 1] == '\n' &&
            strncasecmp(head + i + 2, name_with_colon, name_length) == 0) {
            const char *value = head + i + 2 + name_length;
            while (*value == ' ' || *value == '\t') {
                value++;
            }
            return value;
        }
    }
    return NULL;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* Consumes body bytes of the current request from data; returns how many,
 * and sets *complete when the request ended within them. */
static size_t skip_body(struct connection *connection, const char *data, size_t length,
                        int *complete)
{
    size_t used = 0;
    *complete = 0;
    while (used < length && !*complete) {
        char c = data[used];
        switch (connection->state) {
        case IN_BODY:
        case CHUNK_DATA: {
            size_t skip = length - used < connection->body_to_discard
                              ? length - used
                              : connection->body_to_discard;
            connection->body_to_discard -= skip;
            used += skip;
            if (connection->body_to_discard == 0) {
                if (connection->state == IN_BODY) {
                    *complete = 1;
                } else {
                    connection->state = CHUNK_DATA_END;
                }
            }
            continue;
        }
        case CHUNK_SIZE_LINE:
            used++;
            if (c == '\n') {
                if (connection->chunk_size == 0) {
                    connection->state = TRAILER_LINE_START;
                } else {
                    connection->body_to_discard = connection->chunk_size;
                    connection->state = CHUNK_DATA;
                }
                connection->chunk_size = 0;
                connection->chunk_size_done = 0;
            } else if (!connection->chunk_size_done && hex_digit(c) >= 0) {
                connection->chunk_size = connection->chunk_size * 16 + (size_t)hex_digit(c);
            } else {
                connection->chunk_size_done = 1; /* ";ext", CR: ignored */
            }
            continue;
        case CHUNK_DATA_END:
            used++;
            if (c == '\n') {
                connection->state = CHUNK_SIZE_LINE;
            }
            continue;
        case TRAILER_LINE_START:
            used++;
            if (c == '\n') {
                *complete = 1; /* the empty line that ends the body */
            } else if (c != '\r') {
                connection->state = TRAILER_LINE;
            }
            continue;
        case TRAILER_LINE:
            used++;
            if (c == '\n') {
                connection->state = TRAILER_LINE_START;
            }
            continue;
        case AT_HEAD:
            *complete = 1;
            continue;
        }
    }
    return used;
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
    /* As an exporter's receiver it reads batches of hundreds of KiB: a
     * long body goes straight into this discard buffer, in big reads, so
     * that the stand-in collector costs the machine little beside the
     * servers measured. All but its last byte: that one comes through the
     * connection buffer, where the request is answered. */
    static char discard[256 << 10];
    for (;;) {
        if (connection->state == IN_BODY && connection->buffered == 0 &&
            connection->body_to_discard > sizeof connection->buffer) {
            size_t want = connection->body_to_discard - 1;
            ssize_t got = read(connection->fd, discard, want < sizeof discard ? want : sizeof discard);
            if (got == 0) {
                return 0;
            }
            if (got < 0) {
                return errno == EAGAIN || errno == EINTR;
            }
            connection->body_to_discard -= (size_t)got;
            continue;
        }
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
            int complete = 0;
            if (connection->state != AT_HEAD) {
                consumed += skip_body(connection, unparsed, unparsed_length, &complete);
                if (!complete) {
                    break;
                }
            } else {
                const char *head_end = find_head_end(unparsed, unparsed_length);
                if (head_end == NULL) {
                    break;
                }
                size_t head_length = (size_t)(head_end - unparsed) + 4;
                consumed += head_length;
                connection->answer_is_post = strncmp(unparsed, "POST ", 5) == 0;
                const char *coding = header_value(unparsed, head_length, "transfer-encoding:");
                const char *length = header_value(unparsed, head_length, "content-length:");
                if (coding != NULL && strncasecmp(coding, "chunked", 7) == 0) {
                    connection->state = CHUNK_SIZE_LINE;
                    continue;
                }
                size_t body_length = length != NULL ? (size_t)strtoull(length, NULL, 10) : 0;
                if (body_length > 0) {
                    connection->state = IN_BODY;
                    connection->body_to_discard = body_length;
                    continue;
                }
            }
            connection->state = AT_HEAD; /* the request is in: answer it */
            /* The response is tiny and the socket buffer empty between
             * requests of one keep-alive client, so one write suffices. */
            const char *response = connection->answer_is_post ? post_response : fixed_response;
            size_t response_length = connection->answer_is_post ? sizeof post_response - 1
                                                                : sizeof fixed_response - 1;
            if (write(connection->fd, response, response_length) != (ssize_t)response_length) {
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
