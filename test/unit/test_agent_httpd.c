/* test_agent_httpd: the health/metrics HTTP server (agent/httpd.c) over
 * real loopback TCP, a client thread on the other end; and the Prometheus
 * exposition of the metrics JSON (agent/prom.c). No kernel state beyond
 * loopback sockets. */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "httpd.h"
#include "prom.h"
#include "sock.h"

#define BIG_LEN (100 * 1024)

static int64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* ---- the server side ------------------------------------------------------ */

struct seen {
	int calls;
	char method[16];
	char path[256];
	struct json_object *metrics; /* for /metrics */
};

static int handler(void *ctx, const char *method, const char *path, struct httpd_resp *r)
{
	struct seen *s = ctx;
	struct hbuf b = { 0 };

	s->calls++;
	snprintf(s->method, sizeof(s->method), "%s", method);
	snprintf(s->path, sizeof(s->path), "%s", path);
	if (!strcmp(path, "/hello")) {
		if (hbuf_printf(&b, "hello %s\n", "world"))
			return -ENOMEM;
		httpd_resp_take(r, &b);
		return 0;
	}
	if (!strcmp(path, "/big")) {
		for (int i = 0; b.len < BIG_LEN; i++)
			if (hbuf_printf(&b, "%07d\n", i))
				return -ENOMEM;
		r->ctype = "application/octet-stream";
		httpd_resp_take(r, &b);
		return 0;
	}
	if (!strcmp(path, "/metrics")) {
		int err = prom_render(s->metrics, &b);

		if (err) {
			hbuf_free(&b);
			return err;
		}
		r->ctype = PROM_CONTENT_TYPE;
		httpd_resp_take(r, &b);
		return 0;
	}
	if (!strcmp(path, "/fail")) {
		r->body = strdup("half-built");
		r->len = 10;
		return -EIO;
	}
	r->status = 404;
	return 0;
}

/* ---- the client side ------------------------------------------------------ */

struct client {
	int family;
	int port;
	const char *req;      /* sent as is; NULL: send nothing */
	int trickle_ms;       /* >0: one byte of req every trickle_ms */
	int hold_ms;          /* wait this long before reading */
	bool shut_wr;         /* end the request with EOF */
	char resp[BIG_LEN + 4096];
	size_t len;
	int connect_err;
};

static int client_connect(struct client *c)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	int fd = socket(c->family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (c->family == AF_INET) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(c->port);
		s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	} else {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(c->port);
		s6->sin6_addr = in6addr_loopback;
	}
	if (connect(fd, (struct sockaddr *)&ss, sizeof(ss))) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static void *client_main(void *arg)
{
	struct client *c = arg;
	struct timespec tick;
	int fd = client_connect(c);
	ssize_t n;

	if (fd < 0) {
		c->connect_err = fd;
		return NULL;
	}
	for (size_t i = 0; c->req && c->req[i]; i++) {
		size_t len = c->trickle_ms ? 1 : strlen(c->req);

		if (send(fd, c->req + i, len, MSG_NOSIGNAL) < 0)
			break;
		if (!c->trickle_ms)
			break;
		/* stop once the answer is there (more bytes would draw a reset) */
		if (poll(&(struct pollfd){ .fd = fd, .events = POLLIN }, 1, c->trickle_ms))
			break;
	}
	if (c->shut_wr)
		shutdown(fd, SHUT_WR);
	if (c->hold_ms) {
		tick = (struct timespec){ c->hold_ms / 1000, (c->hold_ms % 1000) * 1000000L };
		nanosleep(&tick, NULL);
	}
	while (c->len < sizeof(c->resp) - 1 &&
	       (n = recv(fd, c->resp + c->len, sizeof(c->resp) - 1 - c->len, 0)) > 0)
		c->len += n;
	c->resp[c->len] = '\0';
	close(fd);
	return NULL;
}

/* Run the client against lfd: wait for its connection, serve it; how long
 * httpd_serve took, in ms. */
static int64_t exchange(int lfd, struct client *c, struct seen *s)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };
	pthread_t t;
	int64_t t0;

	c->port = httpd_port(lfd);
	assert_true(c->port > 0);
	assert_int_equal(pthread_create(&t, NULL, client_main, c), 0);
	assert_int_equal(poll(&p, 1, 5000), 1);
	t0 = now_ms();
	httpd_serve(lfd, handler, s);
	t0 = now_ms() - t0;
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(c->connect_err, 0);
	return t0;
}

static struct client *new_client(const char *req)
{
	struct client *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	c->family = AF_INET;
	c->req = req;
	return c;
}

/* The response's status code (-1: none). */
static int resp_status(const struct client *c)
{
	int st = -1;

	if (sscanf(c->resp, "HTTP/1.1 %d ", &st) != 1)
		return -1;
	return st;
}

static const char *resp_body(const struct client *c)
{
	const char *p = strstr(c->resp, "\r\n\r\n");

	assert_non_null(p);
	return p + 4;
}

static bool resp_header(const struct client *c, const char *name, char *val, size_t len)
{
	const char *end = strstr(c->resp, "\r\n\r\n"), *p = strstr(c->resp, "\r\n");
	size_t nlen = strlen(name);

	for (; p && p < end; p = strstr(p + 2, "\r\n")) {
		const char *line = p + 2, *eol = strstr(line, "\r\n");

		if (!strncasecmp(line, name, nlen) && line[nlen] == ':') {
			line += nlen + 1;
			while (*line == ' ')
				line++;
			snprintf(val, len, "%.*s", (int)(eol - line), line);
			return true;
		}
	}
	return false;
}

/* Status, framing and the body's length agree. */
static void check_response(const struct client *c, int status, const char *body)
{
	char v[256];

	assert_int_equal(resp_status(c), status);
	assert_true(resp_header(c, "Content-Length", v, sizeof(v)));
	assert_int_equal(strtoul(v, NULL, 10), strlen(resp_body(c)));
	assert_true(resp_header(c, "Connection", v, sizeof(v)));
	assert_string_equal(v, "close");
	assert_true(resp_header(c, "Content-Type", v, sizeof(v)));
	if (body)
		assert_string_equal(resp_body(c), body);
}

static int setup_v4(void **state)
{
	int fd = httpd_listen("127.0.0.1:0");

	if (fd < 0)
		return -1;
	*state = (void *)(intptr_t)fd;
	return 0;
}

static int teardown_fd(void **state)
{
	close((int)(intptr_t)*state);
	return 0;
}

#define LFD ((int)(intptr_t)*state)

/* ---- httpd ---------------------------------------------------------------- */

static void test_listen_socket(void **state)
{
	assert_true(httpd_port(LFD) > 0);
	assert_true(fcntl(LFD, F_GETFL) & O_NONBLOCK);
	assert_true(fcntl(LFD, F_GETFD) & FD_CLOEXEC);
}

static void test_get_200(void **state)
{
	struct client *c = new_client("GET /hello HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\n\r\n");
	struct seen s = { 0 };
	char v[128];

	exchange(LFD, c, &s);
	check_response(c, 200, "hello world\n");
	assert_true(resp_header(c, "Content-Length", v, sizeof(v)));
	assert_string_equal(v, "12");
	assert_true(resp_header(c, "Content-Type", v, sizeof(v)));
	assert_string_equal(v, "text/plain; charset=utf-8");
	assert_int_equal(s.calls, 1);
	assert_string_equal(s.method, "GET");
	assert_string_equal(s.path, "/hello");
	free(c);
}

static void test_http10_bare_lf(void **state)
{
	struct client *c = new_client("GET /hello HTTP/1.0\n\n");
	struct seen s = { 0 };

	exchange(LFD, c, &s);
	check_response(c, 200, "hello world\n");
	free(c);
}

static void test_head(void **state)
{
	struct client *c = new_client("HEAD /hello HTTP/1.1\r\n\r\n");
	struct seen s = { 0 };
	char v[64];

	exchange(LFD, c, &s);
	assert_int_equal(resp_status(c), 200);
	assert_true(resp_header(c, "Content-Length", v, sizeof(v)));
	assert_string_equal(v, "12"); /* the GET's length, no body */
	assert_string_equal(resp_body(c), "");
	assert_string_equal(s.method, "HEAD");
	free(c);
}

static void test_404_from_handler(void **state)
{
	struct client *c = new_client("GET /nope HTTP/1.1\r\n\r\n");
	struct seen s = { 0 };

	exchange(LFD, c, &s);
	check_response(c, 404, "404 Not Found\n");
	assert_int_equal(s.calls, 1);
	free(c);
}

static void test_query_stripped(void **state)
{
	struct client *c = new_client("GET /hello?debug=1&x=%20y#frag HTTP/1.1\r\n\r\n");
	struct seen s = { 0 };

	exchange(LFD, c, &s);
	check_response(c, 200, "hello world\n");
	assert_string_equal(s.path, "/hello");
	free(c);
}

static void test_405(void **state)
{
	static const char *const reqs[] = {
		"POST /hello HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
		"PUT /hello HTTP/1.1\r\n\r\n",
		"DELETE /hello HTTP/1.0\r\n\r\n",
	};

	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		struct client *c = new_client(reqs[i]);
		struct seen s = { 0 };
		char v[64];

		exchange(LFD, c, &s);
		check_response(c, 405, NULL);
		assert_true(resp_header(c, "Allow", v, sizeof(v)));
		assert_string_equal(v, "GET, HEAD");
		assert_int_equal(s.calls, 0);
		free(c);
	}
}

static void test_400(void **state)
{
	static const char *const reqs[] = {
		"garbage\r\n\r\n",
		"GET\r\n\r\n",
		"GET /hello\r\n\r\n",
		"GET  /hello HTTP/1.1\r\n\r\n",
		"GET /hello HTTP/2.0\r\n\r\n",
		"GET /hello HTTP/1.1 extra\r\n\r\n",
		"get /hello HTTP/1.1\r\n\r\n",
		"GET hello HTTP/1.1\r\n\r\n",
		"GET * HTTP/1.1\r\n\r\n",
		"GET /he\x01llo HTTP/1.1\r\n\r\n",
		"\r\n\r\n",
		"GET /hello HTTP/1.1\r\n", /* EOF before the head's end */
	};

	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		struct client *c = new_client(reqs[i]);
		struct seen s = { 0 };

		c->shut_wr = true; /* EOF after it: the last one is cut short */
		exchange(LFD, c, &s);
		if (resp_status(c) != 400)
			fail_msg("request %zu: got \"%.40s\"", i, c->resp);
		check_response(c, 400, "400 Bad Request\n");
		assert_int_equal(s.calls, 0);
		free(c);
	}
}

static void test_handler_error_500(void **state)
{
	struct client *c = new_client("GET /fail HTTP/1.1\r\n\r\n");
	struct seen s = { 0 };

	exchange(LFD, c, &s);
	check_response(c, 500, "500 Internal Server Error\n");
	free(c);
}

static void test_headers_too_large(void **state)
{
	char *req = malloc(HTTPD_HDR_MAX + 200);
	struct client *c;
	struct seen s = { 0 };

	assert_non_null(req);
	strcpy(req, "GET /hello HTTP/1.1\r\nX-Pad: ");
	memset(req + strlen(req), 'a', HTTPD_HDR_MAX);
	req[HTTPD_HDR_MAX + 20] = '\0';
	c = new_client(req);
	exchange(LFD, c, &s);
	check_response(c, 431, NULL);
	assert_int_equal(s.calls, 0);
	free(c);
	free(req);
}

/* A client that connects and says nothing holds the loop for the timeout,
 * not longer, and gets no answer. */
static void test_silent_client(void **state)
{
	struct client *c = new_client(NULL);
	struct seen s = { 0 };
	int64_t ms;

	c->hold_ms = 600;
	ms = exchange(LFD, c, &s);
	assert_true(ms >= HTTPD_TIMEOUT_MS - 20);
	if (ms > 300)
		fail_msg("httpd_serve took %lld ms with a silent client", (long long)ms);
	assert_int_equal(c->len, 0);
	assert_int_equal(s.calls, 0);
	free(c);
}

/* One byte every 40 ms: the timeout bounds the whole head, not each read. */
static void test_trickling_client(void **state)
{
	struct client *c = new_client("GET /hello HTTP/1.1\r\nHost: a-rather-long-host-name\r\n\r\n");
	struct seen s = { 0 };
	int64_t ms;

	c->trickle_ms = 40;
	ms = exchange(LFD, c, &s);
	if (ms > 300)
		fail_msg("httpd_serve took %lld ms with a trickling client", (long long)ms);
	assert_int_equal(resp_status(c), 408);
	assert_int_equal(s.calls, 0);
	free(c);
}

/* A large answer to a client that reads late: the loop does not wait. */
static void test_big_body_slow_reader(void **state)
{
	struct client *c = new_client("GET /big HTTP/1.1\r\n\r\n");
	struct seen s = { 0 };
	char v[64];
	int64_t ms;

	c->hold_ms = 300;
	ms = exchange(LFD, c, &s);
	if (ms > 100)
		fail_msg("httpd_serve took %lld ms for a reader that waits", (long long)ms);
	check_response(c, 200, NULL);
	assert_true(resp_header(c, "Content-Type", v, sizeof(v)));
	assert_string_equal(v, "application/octet-stream");
	assert_true(strlen(resp_body(c)) >= BIG_LEN);
	assert_memory_equal(resp_body(c), "0000000\n0000001\n", 16);
	free(c);
}

/* Several connections waiting: one call answers them all. */
static void test_several_pending(void **state)
{
	struct client *c[4];
	pthread_t t[4];
	struct seen s = { 0 };
	int port = httpd_port(LFD);

	for (int i = 0; i < 4; i++) {
		c[i] = new_client("GET /hello HTTP/1.1\r\n\r\n");
		c[i]->port = port;
		assert_int_equal(pthread_create(&t[i], NULL, client_main, c[i]), 0);
	}
	/* Let all four connect (the handshake completes in the kernel). */
	usleep(100 * 1000);
	httpd_serve(LFD, handler, &s);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		check_response(c[i], 200, "hello world\n");
		free(c[i]);
	}
	assert_int_equal(s.calls, 4);
}

/* Out of descriptors, accept(2) fails and leaves the connection waiting,
 * the listening fd readable: the epoll loop would spin on it. sock_accept
 * sheds it instead (the client sees EOF), and serves again once a
 * descriptor is free. The limit is set to the lowest free fd number, so the
 * process has none left but the reserve. */
static void test_out_of_descriptors(void **state)
{
	struct client c = { .family = AF_INET, .port = httpd_port(LFD) };
	struct timeval tv = { .tv_sec = 2 };
	unsigned long shed = sock_shed_count();
	struct rlimit old, low;
	int c1, c2, fd, free_fd;
	char b;

	assert_int_equal(sock_reserve(), 0);
	errno = 0;
	assert_int_equal(sock_accept(LFD), -1); /* nothing waiting */
	assert_int_equal(errno, EAGAIN);
	c1 = client_connect(&c);
	c2 = client_connect(&c);
	assert_true(c1 >= 0 && c2 >= 0);
	assert_int_equal(setsockopt(c1, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	free_fd = dup(0);
	assert_true(free_fd >= 0);
	close(free_fd);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = free_fd;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	assert_int_equal(dup(0), -1); /* really out */
	errno = 0;
	fd = sock_accept(LFD);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	assert_int_equal(fd, -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(sock_shed_count(), shed + 1);
	assert_int_equal(read(c1, &b, 1), 0); /* closed unserved, not left hanging */
	/* Descriptors back: the next connection is accepted, the reserve retaken. */
	fd = sock_accept(LFD);
	assert_true(fd >= 0);
	assert_int_equal(sock_shed_count(), shed + 1);
	close(fd);
	close(c1);
	close(c2);
}

static void test_ipv6(void **state)
{
	int fd = httpd_listen("[::1]:0");
	struct client *c = new_client("GET /hello HTTP/1.1\r\n\r\n");
	struct seen s = { 0 };

	(void)state;
	if (fd < 0)
		fail_msg("httpd_listen([::1]:0) = %d: IPv6 loopback is needed (the agent serves "
			 "IPv6 addresses)", fd);
	c->family = AF_INET6;
	exchange(fd, c, &s);
	check_response(c, 200, "hello world\n");
	close(fd);
	free(c);
}

/* ":PORT" is every address: IPv4 loopback reaches it too. */
static void test_any_address(void **state)
{
	int fd = httpd_listen(":0");
	struct client *c = new_client("GET /hello HTTP/1.1\r\n\r\n");
	struct seen s = { 0 };

	(void)state;
	assert_true(fd >= 0);
	exchange(fd, c, &s);
	check_response(c, 200, "hello world\n");
	close(fd);
	free(c);
}

static void test_bad_addresses(void **state)
{
	static const char *const bad[] = {
		"", ":", "9090", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:80x",
		"127.0.0.1:-1", "127.0.0.1: 80", "::1:80", "[::1]", "[::1:80", "[]:80", "::1]:80",
		"localhost:80", "300.1.1.1:80", "10.1:80", "[127.0.0.1]:80", "[::1]x:80",
		"127.0.0.1:99999999999999999999",
	};

	(void)state;
	assert_int_equal(httpd_listen(NULL), -EINVAL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int fd = httpd_listen(bad[i]);

		if (fd != -EINVAL)
			fail_msg("httpd_listen(\"%s\") = %d, want -EINVAL", bad[i], fd);
	}
}

static void test_hbuf(void **state)
{
	struct hbuf b = { 0 };
	struct httpd_resp r = { 0 };

	(void)state;
	assert_int_equal(hbuf_put(&b, "", 0), 0);
	assert_string_equal(b.buf, "");
	for (int i = 0; i < 1000; i++)
		assert_int_equal(hbuf_printf(&b, "%d,", i), 0);
	assert_int_equal(b.len, strlen(b.buf));
	assert_memory_equal(b.buf, "0,1,2,", 6);
	assert_string_equal(b.buf + b.len - 4, "999,");
	assert_int_equal(hbuf_printf(&b, "%5000s", "x"), 0); /* one step past the doubling */
	assert_int_equal(b.len, strlen(b.buf));
	assert_int_equal(hbuf_put(&b, "ab\0c", 4), 0);
	assert_memory_equal(b.buf + b.len - 4, "ab\0c", 5);
	httpd_resp_take(&r, &b);
	assert_null(b.buf);
	assert_int_equal(b.len, 0);
	assert_non_null(r.body);
	free(r.body);
	hbuf_free(&b);
}

/* ---- prom ----------------------------------------------------------------- */

static const char *const metrics_json =
	"{\"drops\": {\"truncated\": {\"packets\": 3, \"bytes\": 180},"
	"            \"policy_denied\": {\"packets\": 9007199254740993, \"bytes\": 420}},"
	" \"forward\": {\"redirect_peer\": {\"packets\": 100, \"bytes\": 6400},"
	"             \"stack\": {\"packets\": 0, \"bytes\": 0}},"
	" \"maps\": {\"xdp_endpoints\": {\"entries\": 4, \"capacity\": 65536},"
	"          \"xdp_ct\": {\"entries\": 12, \"capacity\": 262144},"
	"          \"xdp_nodes\": {\"entries\": -1, \"capacity\": 4096}},"
	" \"endpoints\": [{\"podNamespace\": \"default\", \"podName\": \"web-1\","
	"                 \"ifname\": \"eth0\", \"epId\": 7, \"tx_packets\": 10,"
	"                 \"rx_packets\": 20, \"drops\": 2, \"policy_denied_ingress\": 1,"
	"                 \"policy_denied_egress\": 0},"
	"                {\"podNamespace\": \"kube-system\", \"podName\": \"dns-0\","
	"                 \"ifname\": \"eth0\", \"epId\": 9, \"tx_packets\": 5,"
	"                 \"rx_packets\": 6, \"drops\": 0, \"policy_denied_ingress\": 0,"
	"                 \"policy_denied_egress\": 4}],"
	" \"conntrack\": {\"expiredRemoved\": 5},"
	" \"filters\": {\"activeRules\": 2, \"hits\": 30, \"drops\": 25, \"capacity\": 1024}}";

static struct json_object *parse(const char *s)
{
	struct json_object *o = json_tokener_parse(s);

	assert_non_null(o);
	return o;
}

static char *render(struct json_object *m)
{
	struct hbuf b = { 0 };

	assert_int_equal(prom_render(m, &b), 0);
	assert_int_equal(hbuf_put(&b, "", 0), 0);
	return b.buf;
}

/* text has line as one whole line. */
static void has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; (p = strstr(p, line)); p++)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return;
	fail_msg("no line \"%s\" in:\n%s", line, text);
}

static void no_line_starting(const char *text, const char *prefix)
{
	for (const char *p = text; (p = strstr(p, prefix)); p++)
		if (p == text || p[-1] == '\n')
			fail_msg("unexpected line \"%.80s\"", p);
}

static const char *name_end(const char *p)
{
	if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' || *p == ':'))
		return NULL;
	while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
	       *p == '_' || *p == ':')
		p++;
	return p;
}

/* `{k="v",...}` at p: past it, or NULL. Values: \\ \" \n escapes only. */
static const char *labels_end(const char *p)
{
	if (*p != '{')
		return p;
	p++;
	while (*p != '}') {
		if (!(p = name_end(p)) || *p++ != '=' || *p++ != '"')
			return NULL;
		for (; *p != '"'; p++) {
			if (!*p || *p == '\n')
				return NULL;
			if (*p == '\\' && p[1] != '\\' && p[1] != '"' && p[1] != 'n')
				return NULL;
			if (*p == '\\')
				p++;
		}
		p++;
		if (*p == ',')
			p++;
		else if (*p != '}')
			return NULL;
	}
	return p + 1;
}

#define MAX_FAMS 64

/* The whole text is well-formed 0.0.4: every line a comment or a sample
 * `name{labels} value`; each family's HELP and TYPE once, before its
 * samples, its samples together; no series twice. Returns the number of
 * families. */
static int check_exposition(const char *text)
{
	char fams[MAX_FAMS][128], cur[128] = "", line[1024];
	char *series[1024];
	int nfams = 0, nseries = 0, helps[MAX_FAMS] = { 0 };
	const char *p = text;

	assert_true(!*text || text[strlen(text) - 1] == '\n');
	while (*p) {
		const char *eol = strchr(p, '\n'), *e;
		char name[128], type[32], *end;

		assert_non_null(eol);
		assert_true((size_t)(eol - p) < sizeof(line));
		snprintf(line, sizeof(line), "%.*s", (int)(eol - p), p);
		p = eol + 1;
		if (!strncmp(line, "# HELP ", 7)) {
			int i;

			e = name_end(line + 7);
			assert_non_null(e);
			assert_true(*e == ' ');
			snprintf(name, sizeof(name), "%.*s", (int)(e - line - 7), line + 7);
			for (i = 0; i < nfams && strcmp(fams[i], name); i++)
				;
			if (i == nfams) {
				assert_true(nfams < MAX_FAMS);
				strcpy(fams[nfams++], name);
			}
			if (++helps[i] != 1)
				fail_msg("HELP twice for %s", name);
			continue;
		}
		if (!strncmp(line, "# TYPE ", 7)) {
			assert_int_equal(sscanf(line, "# TYPE %127s %31s", name, type), 2);
			assert_non_null(name_end(name));
			assert_true(!strcmp(type, "counter") || !strcmp(type, "gauge"));
			/* the TYPE opens the family: its HELP was just before */
			assert_int_equal(nfams > 0 && !strcmp(fams[nfams - 1], name), 1);
			if (!strcmp(cur, name))
				fail_msg("TYPE twice for %s", name);
			for (int i = 0; i < nfams - 1; i++)
				if (!strcmp(fams[i], name))
					fail_msg("family %s opened twice", name);
			strcpy(cur, name);
			continue;
		}
		assert_true(line[0] != '#');
		e = name_end(line);
		if (!e)
			fail_msg("bad name in \"%s\"", line);
		snprintf(name, sizeof(name), "%.*s", (int)(e - line), line);
		if (strcmp(name, cur))
			fail_msg("sample \"%s\" outside its family (in %s)", line, cur);
		e = labels_end(e);
		if (!e || *e != ' ')
			fail_msg("bad labels in \"%s\"", line);
		strtod(e + 1, &end);
		if (end == e + 1 || *end)
			fail_msg("bad value in \"%s\"", line);
		for (int i = 0; i < nseries; i++)
			if (!strncmp(series[i], line, e - line) && series[i][e - line] == '\0')
				fail_msg("series twice: %s", line);
		assert_true(nseries < 1024);
		series[nseries] = strndup(line, e - line);
		assert_non_null(series[nseries++]);
	}
	for (int i = 0; i < nseries; i++)
		free(series[i]);
	return nfams;
}

static void test_prom_render(void **state)
{
	struct json_object *m = parse(metrics_json);
	char *t = render(m);

	(void)state;
	has_line(t, "# HELP xdpath_drops_total Packets the datapath dropped, by reason.");
	has_line(t, "# TYPE xdpath_drops_total counter");
	has_line(t, "xdpath_drops_total{reason=\"truncated\"} 3");
	has_line(t, "xdpath_drops_total{reason=\"policy_denied\"} 9007199254740993");
	has_line(t, "# TYPE xdpath_drop_bytes_total counter");
	has_line(t, "xdpath_drop_bytes_total{reason=\"truncated\"} 180");
	has_line(t, "xdpath_forward_total{verdict=\"redirect_peer\"} 100");
	has_line(t, "xdpath_forward_total{verdict=\"stack\"} 0");
	has_line(t, "xdpath_forward_bytes_total{verdict=\"redirect_peer\"} 6400");
	has_line(t, "# TYPE xdpath_map_entries gauge");
	has_line(t, "xdpath_map_entries{map=\"xdp_endpoints\"} 4");
	has_line(t, "# TYPE xdpath_map_capacity gauge");
	has_line(t, "xdpath_map_capacity{map=\"xdp_endpoints\"} 65536");
	has_line(t, "xdpath_map_entries{map=\"xdp_ct\"} 12");
	/* -1: the agent could not count; no sample rather than a wrong one */
	no_line_starting(t, "xdpath_map_entries{map=\"xdp_nodes\"}");
	has_line(t, "xdpath_map_capacity{map=\"xdp_nodes\"} 4096");
	has_line(t, "# TYPE xdpath_endpoint_tx_packets_total counter");
	has_line(t, "xdpath_endpoint_tx_packets_total{namespace=\"default\",pod=\"web-1\","
		    "interface=\"eth0\"} 10");
	has_line(t, "xdpath_endpoint_rx_packets_total{namespace=\"kube-system\",pod=\"dns-0\","
		    "interface=\"eth0\"} 6");
	has_line(t, "xdpath_endpoint_drops_total{namespace=\"default\",pod=\"web-1\","
		    "interface=\"eth0\"} 2");
	has_line(t, "xdpath_endpoint_policy_denied_total{namespace=\"default\",pod=\"web-1\","
		    "interface=\"eth0\",direction=\"ingress\"} 1");
	has_line(t, "xdpath_endpoint_policy_denied_total{namespace=\"kube-system\",pod=\"dns-0\","
		    "interface=\"eth0\",direction=\"egress\"} 4");
	/* the metrics command keeps packets only: no empty byte families */
	no_line_starting(t, "# TYPE xdpath_endpoint_tx_bytes_total");
	has_line(t, "# TYPE xdpath_conntrack_expired_removed_total counter");
	has_line(t, "xdpath_conntrack_expired_removed_total 5");
	has_line(t, "# TYPE xdpath_filter_rules_active gauge");
	has_line(t, "xdpath_filter_rules_active 2");
	has_line(t, "xdpath_filter_rules_capacity 1024");
	/* no per-rule entries: the node's sums */
	has_line(t, "xdpath_filter_hits_total 30");
	has_line(t, "xdpath_filter_drops_total 25");
	assert_int_equal(check_exposition(t), 15);
	free(t);
	json_object_put(m);
}

/* Per-rule filter counters (the entries of filter-list under "rules"), and
 * escaping in label values. */
static void test_prom_filter_rules(void **state)
{
	struct json_object *m = parse(
		"{\"filters\": {\"activeRules\": 2, \"hits\": 31, \"drops\": 25, \"capacity\": 1024,"
		" \"rules\": [{\"name\": \"block-dns\", \"action\": \"drop\", \"active\": true,"
		"              \"hits\": 30, \"drops\": 25, \"bytes\": 1800},"
		"             {\"name\": \"we\\\"ird\\\\rule\\nx\", \"action\": \"rate\","
		"              \"active\": true, \"hits\": 1, \"drops\": 0, \"bytes\": 60},"
		"             {\"name\": \"off\", \"action\": \"drop\", \"active\": false,"
		"              \"hits\": 0, \"drops\": 0, \"bytes\": 0}]}}");
	char *t = render(m);

	(void)state;
	has_line(t, "# TYPE xdpath_filter_hits_total counter");
	has_line(t, "xdpath_filter_hits_total{rule=\"block-dns\",action=\"drop\"} 30");
	has_line(t, "xdpath_filter_drops_total{rule=\"block-dns\",action=\"drop\"} 25");
	has_line(t, "xdpath_filter_bytes_total{rule=\"block-dns\",action=\"drop\"} 1800");
	has_line(t, "xdpath_filter_hits_total{rule=\"we\\\"ird\\\\rule\\nx\",action=\"rate\"} 1");
	no_line_starting(t, "xdpath_filter_hits_total{rule=\"off\"");
	no_line_starting(t, "xdpath_filter_hits_total 31");
	assert_int_equal(check_exposition(t), 5);
	free(t);
	json_object_put(m);
}

static void test_prom_empty(void **state)
{
	struct json_object *m = parse("{\"drops\": {}, \"endpoints\": [], \"filters\": {},"
				      " \"maps\": 3, \"forward\": {\"x\": \"y\"}}");
	char *t;

	(void)state;
	t = render(m);
	assert_string_equal(t, "");
	free(t);
	json_object_put(m);
	t = render(NULL);
	assert_string_equal(t, "");
	free(t);
}

static void test_prom_helpers(void **state)
{
	struct hbuf b = { 0 };

	(void)state;
	assert_int_equal(prom_gauge(&b, "xdpath_watch_lag_seconds", "Lag, \\ and\nnewline.",
				    "resource=\"pods\"", 0.25), 0);
	assert_int_equal(prom_counter(&b, "xdpath_relists_total", "Relists.", NULL, 3), 0);
	assert_int_equal(prom_family(&b, "xdpath_sync_seconds", "gauge", "Sync."), 0);
	assert_int_equal(prom_sample(&b, "xdpath_sync_seconds", "", 0.1), 0);
	assert_int_equal(prom_sample(&b, "xdpath_sync_seconds", "a=\"1\"", 1e-9), 0);
	assert_int_equal(prom_sample(&b, "xdpath_sync_seconds", "a=\"2\"", INFINITY), 0);
	assert_int_equal(prom_sample(&b, "xdpath_sync_seconds", "a=\"3\"", NAN), 0);
	assert_int_equal(prom_sample(&b, "xdpath_sync_seconds", "a=\"4\"", 12345678901.0), 0);
	assert_int_equal(prom_escape(&b, "a\"b\\c\nd"), 0);
	assert_string_equal(b.buf,
			    "# HELP xdpath_watch_lag_seconds Lag, \\\\ and\\nnewline.\n"
			    "# TYPE xdpath_watch_lag_seconds gauge\n"
			    "xdpath_watch_lag_seconds{resource=\"pods\"} 0.25\n"
			    "# HELP xdpath_relists_total Relists.\n"
			    "# TYPE xdpath_relists_total counter\n"
			    "xdpath_relists_total 3\n"
			    "# HELP xdpath_sync_seconds Sync.\n"
			    "# TYPE xdpath_sync_seconds gauge\n"
			    "xdpath_sync_seconds 0.1\n"
			    "xdpath_sync_seconds{a=\"1\"} 1e-09\n"
			    "xdpath_sync_seconds{a=\"2\"} +Inf\n"
			    "xdpath_sync_seconds{a=\"3\"} NaN\n"
			    "xdpath_sync_seconds{a=\"4\"} 12345678901\n"
			    "a\\\"b\\\\c\\nd");
	hbuf_free(&b);
	assert_int_equal(prom_gauge(&b, "1bad", "x", NULL, 1), -EINVAL);
	assert_int_equal(prom_counter(&b, "bad-name_total", "x", NULL, 1), -EINVAL);
	assert_int_equal(prom_family(&b, "ok", "count", "x"), -EINVAL);
	assert_int_equal(prom_sample(&b, "", NULL, 1), -EINVAL);
	assert_null(b.buf);
	assert_true(prom_name_ok("a"));
	assert_true(prom_name_ok("_a:b_9"));
	assert_true(prom_name_ok(":x"));
	assert_false(prom_name_ok("9a"));
	assert_false(prom_name_ok("a.b"));
	assert_false(prom_name_ok("a b"));
	assert_false(prom_name_ok(""));
	assert_false(prom_name_ok(NULL));
}

/* The two together: GET /metrics answers the exposition with its type. */
static void test_metrics_over_http(void **state)
{
	struct client *c = new_client("GET /metrics HTTP/1.1\r\nAccept: text/plain\r\n\r\n");
	struct seen s = { .metrics = parse(metrics_json) };
	char v[128];

	exchange(LFD, c, &s);
	check_response(c, 200, NULL);
	assert_true(resp_header(c, "Content-Type", v, sizeof(v)));
	assert_string_equal(v, "text/plain; version=0.0.4; charset=utf-8");
	has_line(resp_body(c), "xdpath_drops_total{reason=\"truncated\"} 3");
	assert_int_equal(check_exposition(resp_body(c)), 15);
	json_object_put(s.metrics);
	free(c);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup_v4, teardown_fd)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_listen_socket),
		T(test_get_200),
		T(test_http10_bare_lf),
		T(test_head),
		T(test_404_from_handler),
		T(test_query_stripped),
		T(test_405),
		T(test_400),
		T(test_handler_error_500),
		T(test_headers_too_large),
		T(test_silent_client),
		T(test_trickling_client),
		T(test_big_body_slow_reader),
		T(test_several_pending),
		cmocka_unit_test_setup_teardown(test_out_of_descriptors, setup_v4, teardown_fd),
		cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_any_address),
		cmocka_unit_test(test_bad_addresses),
		cmocka_unit_test(test_hbuf),
		cmocka_unit_test(test_prom_render),
		cmocka_unit_test(test_prom_filter_rules),
		cmocka_unit_test(test_prom_empty),
		cmocka_unit_test(test_prom_helpers),
		T(test_metrics_over_http),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
