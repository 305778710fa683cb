/* soak_server.h — the accept loop the soak's two servers share: a thread
 * per connection, stopped by SIGTERM or SIGINT. */
#ifndef SOAK_SERVER_H
#define SOAK_SERVER_H

/* Serve listen_fd until SIGTERM or SIGINT: each accepted connection runs
 * handle(fd) on a thread of its own (handle closes fd). Then stop
 * accepting and wait up to drain_ms for the connection threads to end.
 * Returns how many were still running (0: all ended). */
int soak_serve(int listen_fd, void (*handle)(int fd), int drain_ms);

/* Connections accepted so far (for the servers' exit lines). */
unsigned long soak_served_connections(void);

#endif
