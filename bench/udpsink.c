/*
 * udpsink — a stand-in Jaeger agent for the benchmarks: it receives UDP
 * datagrams on 127.0.0.1 and counts them, without decoding anything.
 *
 *   udpsink PORT_FILE [MAX_SECONDS] [MARKER]
 *
 * Binds a port the kernel picks, writes its number to PORT_FILE once it is
 * ready to receive, and counts datagrams and bytes until SIGTERM/SIGINT (or
 * MAX_SECONDS, default 600). At the end it prints one line on stdout:
 *
 *   datagrams=N bytes=N marker=N kernel_drops=N rcvbuf=N
 *
 * The shim counts a Jaeger span as exported once sendto() accepted its
 * datagram; loopback UDP still loses datagrams when the receiver falls
 * behind, and nothing tells the sender. So the sink counts what really
 * arrived: "marker" is how many times MARKER occurs in the received bytes
 * (pick a string that occurs exactly once per span, the operation name,
 * to count spans received), and "kernel_drops" is the socket's own count of
 * datagrams dropped for want of buffer space (SO_RXQ_OVFL).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Jaeger's emitBatch datagrams are at most 65000 bytes; a little more
 * room shows a larger one as truncated instead of silently cut. */
enum { DATAGRAM_BYTES = 65536 + 1024, RECEIVE_BUFFER_BYTES = 4 << 20 };

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int signo)
{
    (void)signo;
    stop_requested = 1;
}

static uint64_t count_occurrences(const char *data, size_t length, const char *marker,
                                  size_t marker_length)
{
    uint64_t found = 0;
    const char *cursor = data;
    const char *end = data + length;
    while (marker_length > 0 && (size_t)(end - cursor) >= marker_length) {
        const char *hit = memmem(cursor, (size_t)(end - cursor), marker, marker_length);
        if (hit == NULL) {
            break;
        }
        found++;
        cursor = hit + marker_length;
    }
    return found;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PORT_FILE [MAX_SECONDS] [MARKER]\n", argv[0]);
        return 2;
    }
    unsigned max_seconds = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 600;
    const char *marker = argc > 3 ? argv[3] : "";
    size_t marker_length = strlen(marker);

    struct sigaction stop_action = {.sa_handler = on_stop_signal};
    sigaction(SIGTERM, &stop_action, NULL);
    sigaction(SIGINT, &stop_action, NULL);
    sigaction(SIGALRM, &stop_action, NULL);
    alarm(max_seconds);

    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    /* As large a buffer as the system allows an unprivileged program
     * (net.core.rmem_max caps it): an agent that is merely a little late
     * should not lose datagrams; one that is far behind still will. */
    int buffer_bytes = RECEIVE_BUFFER_BYTES;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer_bytes, sizeof buffer_bytes);
    int enable = 1;
    setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &enable, sizeof enable);
    struct sockaddr_in address = {.sin_family = AF_INET,
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t address_length = sizeof address;
    if (bind(fd, (struct sockaddr *)&address, sizeof address) != 0 ||
        getsockname(fd, (struct sockaddr *)&address, &address_length) != 0) {
        perror("udpsink: bind");
        return 1;
    }
    int effective_buffer = 0;
    socklen_t option_length = sizeof effective_buffer;
    getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &effective_buffer, &option_length);

    /* Through a temporary name, as tinyhttpd does: a reader never sees a
     * half-written port. */
    char temporary_path[4096];
    snprintf(temporary_path, sizeof temporary_path, "%s.tmp", argv[1]);
    FILE *port_file = fopen(temporary_path, "w");
    if (port_file == NULL || fprintf(port_file, "%u\n", ntohs(address.sin_port)) < 0 ||
        fclose(port_file) != 0 || rename(temporary_path, argv[1]) != 0) {
        perror("udpsink: port file");
        return 1;
    }

    static char datagram[DATAGRAM_BYTES];
    char control[CMSG_SPACE(sizeof(uint32_t))];
    uint64_t datagrams = 0, bytes = 0, markers = 0, truncated = 0;
    uint32_t kernel_drops = 0;
    while (!stop_requested) {
        /* poll with a timeout so a stop request is noticed while idle */
        struct pollfd readable = {.fd = fd, .events = POLLIN};
        if (poll(&readable, 1, 200) <= 0) {
            continue;
        }
        struct iovec piece = {.iov_base = datagram, .iov_len = sizeof datagram};
        struct msghdr message = {.msg_iov = &piece,
                                 .msg_iovlen = 1,
                                 .msg_control = control,
                                 .msg_controllen = sizeof control};
        ssize_t got = recvmsg(fd, &message, MSG_DONTWAIT);
        if (got < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                continue;
            }
            perror("udpsink: recvmsg");
            return 1;
        }
        datagrams++;
        bytes += (uint64_t)got;
        if (message.msg_flags & MSG_TRUNC) {
            truncated++;
        }
        markers += count_occurrences(datagram, (size_t)got, marker, marker_length);
        /* SO_RXQ_OVFL: the socket's cumulative drop counter rides along
         * with each datagram; the last one seen is the total so far. */
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&message); c != NULL;
             c = CMSG_NXTHDR(&message, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
                memcpy(&kernel_drops, CMSG_DATA(c), sizeof kernel_drops);
            }
        }
    }
    /* What arrived before the stop request is the sender's too: read the
     * datagrams still queued on the socket before counting. */
    for (;;) {
        ssize_t got = recv(fd, datagram, sizeof datagram, MSG_DONTWAIT | MSG_TRUNC);
        if (got < 0) {
            break;
        }
        datagrams++;
        bytes += (uint64_t)got;
        if ((size_t)got > sizeof datagram) {
            truncated++;
            got = (ssize_t)sizeof datagram;
        }
        markers += count_occurrences(datagram, (size_t)got, marker, marker_length);
    }
    printf("datagrams=%llu bytes=%llu marker=%llu kernel_drops=%u truncated=%llu rcvbuf=%d\n",
           (unsigned long long)datagrams, (unsigned long long)bytes,
           (unsigned long long)markers, kernel_drops, (unsigned long long)truncated,
           effective_buffer);
    return 0;
}
