/* httpd: a minimal HTTP/1.1 server for the agent's health and metrics
 * endpoint (issue 5), served from the single-threaded epoll loop. Owns the
 * listening socket's setup, the accepted connections (one request each,
 * then closed: no keep-alive, no pipelining), request-line parsing and the
 * response framing. What a path answers is the handler's business; httpd
 * answers 400 (malformed request line), 405 (not GET/HEAD), 408 (partial
 * request at the timeout), 431 (headers over HTTPD_HDR_MAX) and 500 (the
 * handler failed) itself. Request headers and bodies are read and ignored.
 *
 * A client can hold the loop for at most HTTPD_TIMEOUT_MS per connection
 * while its request is read, however it paces its bytes; one
 * httpd_serve() call accepts no more once HTTPD_TIMEOUT_MS have passed
 * (the rest wait in the backlog: the listening fd stays readable and
 * level-triggered epoll comes back), so a call returns within about twice
 * the timeout whatever the clients do. The response goes to the socket
 * buffer, enlarged to hold it, so a client that does not read does not
 * stall the loop either (a send that still blocks gives up after
 * HTTPD_TIMEOUT_MS).
 * Response bodies are built in a struct hbuf (hbuf.h). */
#ifndef XDPATH_AGENT_HTTPD_H
#define XDPATH_AGENT_HTTPD_H

#include <stddef.h>

#include "hbuf.h"

#define HTTPD_TIMEOUT_MS 200
#define HTTPD_HDR_MAX 8192

struct httpd_resp {
	int status;        /* 200 unless the handler says otherwise */
	const char *ctype; /* static; "text/plain; charset=utf-8" unless set */
	char *body;        /* malloc'd, freed by httpd; NULL: empty (or the
			    * status's reason phrase for an error status) */
	size_t len;
};

/* method is "GET" or "HEAD" (a HEAD response's body is not sent); path
 * is the request target without its query string ("/metrics"). 0, or
 * -errno: httpd answers 500 (and frees whatever body was set). */
typedef int (*httpd_handler)(void *ctx, const char *method, const char *path,
			     struct httpd_resp *resp);

/* addr: "IPV4:PORT", "[IPV6]:PORT" or ":PORT" (every address, IPv6 and
 * IPv4 on one socket; IPv4 only where the host has no IPv6). Numeric
 * addresses only: no name lookup in the agent's start-up. A non-blocking,
 * close-on-exec listening TCP socket, or -errno (-EINVAL: a bad addr). */
int httpd_listen(const char *addr);
/* The port lfd is bound to (after binding port 0), or -errno. */
int httpd_port(int lfd);
/* lfd is readable: accept the pending connections and answer each. */
void httpd_serve(int lfd, httpd_handler fn, void *ctx);

/* Move b's contents into resp as its body (b is left empty). */
void httpd_resp_take(struct httpd_resp *resp, struct hbuf *b);

#endif
