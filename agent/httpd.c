/* httpd: one request per connection, answered inline (httpd.h). */
#include "httpd.h"
#include "sock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_CTYPE "text/plain; charset=utf-8"
#define LISTEN_BACKLOG 64
#define DRAIN_MAX 65536

void httpd_resp_take(struct httpd_resp *resp, struct hbuf *b)
{
	free(resp->body);
	resp->body = b->buf;
	resp->len = b->len;
	*b = (struct hbuf){ 0 };
}

/* ---- listening ------------------------------------------------------------ */

/* "0".."65535", digits only. */
static int parse_port(const char *s)
{
	long v = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (*s - '0');
		if (v > 65535)
			return -EINVAL;
	}
	return (int)v;
}

/* addr -> a socket address (":PORT" -> the IPv6 wildcard); 0 or -EINVAL. */
static int parse_addr(const char *addr, struct sockaddr_storage *ss, socklen_t *sslen)
{
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	const char *colon = strrchr(addr, ':');
	char host[INET6_ADDRSTRLEN];
	size_t hlen;
	int port;

	if (!colon || (port = parse_port(colon + 1)) < 0)
		return -EINVAL;
	memset(ss, 0, sizeof(*ss));
	hlen = colon - addr;
	if (hlen == 0) {
		s6->sin6_family = AF_INET6;
		s6->sin6_addr = in6addr_any;
		s6->sin6_port = htons(port);
		*sslen = sizeof(*s6);
		return 0;
	}
	if (addr[0] == '[') {
		if (hlen < 3 || addr[hlen - 1] != ']' || hlen - 2 >= sizeof(host))
			return -EINVAL;
		memcpy(host, addr + 1, hlen - 2);
		host[hlen - 2] = '\0';
		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
			return -EINVAL;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		*sslen = sizeof(*s6);
		return 0;
	}
	if (hlen >= sizeof(host))
		return -EINVAL;
	memcpy(host, addr, hlen);
	host[hlen] = '\0';
	/* inet_pton, not inet_aton: "10.1" or "0x7f.1" are not addresses here. */
	if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
		return -EINVAL;
	s4->sin_family = AF_INET;
	s4->sin_port = htons(port);
	*sslen = sizeof(*s4);
	return 0;
}

static int listen_on(const struct sockaddr_storage *ss, socklen_t sslen, bool dual)
{
	int fd, one = 1, zero = 0, err;

	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    (dual && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero))) ||
	    bind(fd, (const struct sockaddr *)ss, sslen) || listen(fd, LISTEN_BACKLOG)) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

int httpd_listen(const char *addr)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	socklen_t sslen;
	bool any;
	int fd, port;

	if (!addr || parse_addr(addr, &ss, &sslen))
		return -EINVAL;
	any = addr[0] == ':';
	fd = listen_on(&ss, sslen, any);
	if (fd != -EAFNOSUPPORT || !any)
		return fd;
	/* No IPv6 on this host (ipv6.disable=1): every IPv4 address then. */
	port = ((struct sockaddr_in6 *)&ss)->sin6_port;
	memset(&ss, 0, sizeof(ss));
	s4->sin_family = AF_INET;
	s4->sin_addr.s_addr = htonl(INADDR_ANY);
	s4->sin_port = port;
	return listen_on(&ss, sizeof(*s4), false);
}

int httpd_port(int lfd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(lfd, (struct sockaddr *)&ss, &len))
		return -errno;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return -EAFNOSUPPORT;
}

/* ---- one connection ------------------------------------------------------- */

static int64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* The socket's timeout for the next call: what is left until deadline
 * (SO_RCVTIMEO alone would restart with every byte a slow client trickles). */
static bool set_timeout(int fd, int opt, int64_t deadline)
{
	int64_t left = deadline - now_ms();
	struct timeval tv;

	if (left <= 0)
		return false;
	tv.tv_sec = left / 1000;
	tv.tv_usec = (left % 1000) * 1000;
	return !setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof(tv));
}

static bool head_complete(const char *buf, size_t len)
{
	return memmem(buf, len, "\r\n\r\n", 4) || memmem(buf, len, "\n\n", 2);
}

/* Read the request head into buf (NUL-terminated): 0, the status to
 * answer with, or -1 when nothing arrived (close without an answer). */
static int read_head(int fd, char *buf, size_t cap)
{
	int64_t deadline = now_ms() + HTTPD_TIMEOUT_MS;
	size_t len = 0;
	ssize_t n;

	buf[0] = '\0';
	while (!head_complete(buf, len)) {
		if (len >= cap - 1)
			return 431;
		if (!set_timeout(fd, SO_RCVTIMEO, deadline))
			return len ? 408 : -1;
		n = recv(fd, buf + len, cap - 1 - len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return len ? 408 : -1;
		if (n <= 0) /* EOF (or reset) before the end of the head */
			return len ? 400 : -1;
		len += n;
		buf[len] = '\0';
	}
	return 0;
}

static bool is_upper(char c)
{
	return c >= 'A' && c <= 'Z';
}

/* "METHOD SP TARGET SP HTTP/1.x" + CRLF or LF, in place: the method and
 * the path (query and fragment cut off) NUL-terminated. 0 or 400. */
static int parse_request_line(char *buf, char **method, char **path)
{
	char *p = buf, *target;

	*method = p;
	while (is_upper(*p))
		p++;
	if (p == *method || p - *method > 16 || *p != ' ')
		return 400;
	*p++ = '\0';
	target = p;
	while (*p > ' ' && *p < 0x7f)
		p++;
	if (p == target || *p != ' ')
		return 400;
	*p++ = '\0';
	if (strncmp(p, "HTTP/1.", 7) || p[7] < '0' || p[7] > '9')
		return 400;
	p += 8;
	if (*p == '\r')
		p++;
	if (*p != '\n')
		return 400;
	target[strcspn(target, "?#")] = '\0';
	*path = target;
	return 0;
}

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	}
	return status < 400 ? "OK" : "Error";
}

static int send_all(int fd, const char *s, size_t len, int flags, int64_t deadline)
{
	while (len) {
		ssize_t n;

		if (!set_timeout(fd, SO_SNDTIMEO, deadline))
			return -ETIMEDOUT;
		n = send(fd, s, len, flags | MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		s += n;
		len -= n;
	}
	return 0;
}

/* Room for the whole answer in the socket buffer: the kernel delivers it
 * after close, whatever pace the client reads at. */
static void fit_sndbuf(int fd, size_t need)
{
	int cur = 0, want;
	socklen_t len = sizeof(cur);

	if (need > INT32_MAX / 2 || getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &cur, &len))
		return;
	/* The kernel reports twice what was set (bookkeeping overhead). */
	if ((size_t)cur / 2 >= need)
		return;
	want = (int)need;
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &want, sizeof(want));
}

static void respond(int fd, const struct httpd_resp *r, bool head)
{
	int64_t deadline = now_ms() + HTTPD_TIMEOUT_MS;
	const char *ctype = r->ctype ? r->ctype : DEFAULT_CTYPE;
	const char *body = r->body ? r->body : "";
	size_t blen = r->body ? r->len : 0;
	char hdr[512], dflt[64];
	int hlen;

	/* An error without a body: its reason phrase, for a human at curl. */
	if (!r->body && r->status >= 400) {
		blen = snprintf(dflt, sizeof(dflt), "%d %s\n", r->status, reason(r->status));
		body = dflt;
		ctype = DEFAULT_CTYPE;
	}
	hlen = snprintf(hdr, sizeof(hdr),
			"HTTP/1.1 %d %s\r\n"
			"Content-Type: %.200s\r\n"
			"Content-Length: %zu\r\n"
			"%s"
			"Cache-Control: no-store\r\n"
			"Connection: close\r\n\r\n",
			r->status, reason(r->status), ctype, blen,
			r->status == 405 ? "Allow: GET, HEAD\r\n" : "");
	if (hlen < 0 || (size_t)hlen >= sizeof(hdr))
		return;
	if (head)
		blen = 0;
	fit_sndbuf(fd, hlen + blen);
	if (send_all(fd, hdr, hlen, blen ? MSG_MORE : 0, deadline) || !blen)
		return;
	send_all(fd, body, blen, 0, deadline);
}

/* Close without a reset: unread request bytes would make the kernel send
 * RST, and the client could lose the answer to it. */
static void finish(int fd)
{
	char sink[4096];
	size_t drained = 0;
	ssize_t n;

	shutdown(fd, SHUT_WR);
	while (drained < DRAIN_MAX && (n = recv(fd, sink, sizeof(sink), MSG_DONTWAIT)) > 0)
		drained += n;
	close(fd);
}

static void serve_one(int fd, httpd_handler fn, void *ctx)
{
	struct httpd_resp r = { .status = 200 };
	char buf[HTTPD_HDR_MAX + 1];
	char *method = NULL, *path = NULL;
	int st;

	st = read_head(fd, buf, sizeof(buf));
	if (st < 0)
		goto out;
	if (!st)
		st = parse_request_line(buf, &method, &path);
	if (!st && strcmp(method, "GET") && strcmp(method, "HEAD"))
		st = 405;
	if (!st && path[0] != '/')
		st = 400; /* "*" or an absolute URI: not for this server */
	if (!st && fn(ctx, method, path, &r) < 0) {
		free(r.body);
		r = (struct httpd_resp){ .status = 500 };
	}
	if (st)
		r.status = st;
	if (r.status < 100 || r.status > 599) {
		free(r.body);
		r = (struct httpd_resp){ .status = 500 };
	}
	respond(fd, &r, method && !strcmp(method, "HEAD"));
	free(r.body);
out:
	finish(fd);
}

void httpd_serve(int lfd, httpd_handler fn, void *ctx)
{
	int64_t stop = now_ms() + HTTPD_TIMEOUT_MS;

	do {
		int fd = sock_accept(lfd);

		if (fd < 0 && (errno == EINTR || errno == ECONNABORTED))
			continue;
		if (fd < 0)
			return;
		serve_one(fd, fn, ctx);
	} while (now_ms() < stop);
}
