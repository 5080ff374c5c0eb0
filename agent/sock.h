/* sock: accepting on the agent's listening sockets (the CLI's unix socket and
 * the HTTP port) without spinning when file descriptors run out.
 *
 * accept(2) failing with EMFILE or ENFILE leaves the connection in the
 * backlog and the listening fd readable, so a level-triggered epoll loop
 * would come straight back and fail again, at 100 % CPU, until a descriptor
 * frees. sock_accept() keeps one descriptor in reserve for that case: it
 * gives the reserve up, accepts the waiting connection and closes it at once
 * (the client sees the connection closed, not a hang), then takes the
 * reserve again. Single-threaded: called from the main loop only. */
#ifndef XDPATH_AGENT_SOCK_H
#define XDPATH_AGENT_SOCK_H

/* Take the reserve descriptor now, while there are descriptors to take.
 * 0 or -errno. Idempotent. */
int sock_reserve(void);
/* accept4(lfd, SOCK_CLOEXEC) that sheds the connection when descriptors run
 * out. The accepted fd, or -1 with errno set: EAGAIN when nothing (more) is
 * waiting or a connection was shed, EINTR/ECONNABORTED to try again. */
int sock_accept(int lfd);
/* Connections shed for want of a descriptor, since start. */
unsigned long sock_shed_count(void);

#endif
