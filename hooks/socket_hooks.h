/* socket_hooks.h — what the connection-making hooks (socket_hooks.c) offer
 * the other hooks. */
#ifndef TS_SOCKET_HOOKS_H
#define TS_SOCKET_HOOKS_H

#include <sys/socket.h>

/* After a recvmsg that returned control messages (msg as the kernel filled
 * it): the fds another process handed over with SCM_RIGHTS. A connected
 * stream socket among them is followed as a server's connection (Node's
 * cluster primary accepts every connection and hands it to a worker, which
 * never calls accept); any other fd's number forgets what it held. Keeps
 * errno. */
void ts_socket_fds_received(const struct msghdr *msg);

/* At start-up: a connection the process was started on (inetd's, xinetd's,
 * systemd's Accept=yes and tcpserver's children get the accepted socket as
 * fds 0, 1 and 2) is followed as a server's, fds 1 and 2 as copies of fd
 * 0 when they are the same socket. Nothing for any other fd 0. */
void ts_socket_hooks_init(void);

#endif
