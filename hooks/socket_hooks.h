/* socket_hooks.h — what the connection-making hooks (socket_hooks.c) offer
 * the other hooks. */
#ifndef TS_SOCKET_HOOKS_H
#define TS_SOCKET_HOOKS_H

#include <stdbool.h>
#include <sys/socket.h>
#include <sys/types.h>

/* After a recvmsg that returned control messages (msg as the kernel filled
 * it): the fds another process handed over with SCM_RIGHTS. A connected
 * stream socket among them is followed as a server's connection (Node's
 * cluster primary accepts every connection and hands it to a worker, which
 * never calls accept); any other fd's number forgets what it held. Keeps
 * errno. */
void ts_socket_fds_received(const struct msghdr *msg);

/* TCP Fast Open: a send that connects (sendto or sendmsg with MSG_FASTOPEN
 * and the address to). Before the call: true when its bytes go through
 * the connection's send path (conn.h ts_conn_send_fast_open), the kernel
 * then deciding what the call does: fd is a TCP socket the shim follows
 * (a second call while the first connects, or after it), or one in no
 * connection (never connected, or its attempt failed), which is tracked
 * now as a client's connection, as connect tracks one. After such a call
 * (its result r): a socket it left in no connection (refused,
 * unreachable, Fast Open off) is not followed. Both keep errno. */
bool ts_socket_fast_open_follows(int fd, const struct sockaddr *to, socklen_t to_len);
void ts_socket_fast_open_ends(int fd, ssize_t r);

/* In a forked child (its fork handler): a child of a thread with an fd
 * table of its own (fdtable.h ts_fd_unshared_here) has that table, and is
 * traced afresh. */
void ts_socket_hooks_after_fork(void);

/* At start-up: a connection the process was started on (inetd's, xinetd's,
 * systemd's Accept=yes and tcpserver's children get the accepted socket as
 * fds 0, 1 and 2) is followed as a server's, fds 1 and 2 as copies of fd
 * 0 when they are the same socket. Nothing for any other fd 0. */
void ts_socket_hooks_init(void);

#endif
