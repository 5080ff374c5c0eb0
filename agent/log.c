/* log: logfmt lines on stderr. */
#include "log.h"

#include <bpf/libbpf.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

enum log_level log_min_level = LOG_INFO;

static const char *const names[] = {
	[LOG_DEBUG] = "debug",
	[LOG_INFO] = "info",
	[LOG_WARN] = "warn",
	[LOG_ERROR] = "error",
};

int log_level_parse(const char *s, enum log_level *out)
{
	for (int i = LOG_DEBUG; i <= LOG_ERROR; i++) {
		if (!strcmp(s, names[i])) {
			*out = i;
			return 0;
		}
	}
	return -1;
}

const char *log_level_name(enum log_level l)
{
	return l <= LOG_ERROR ? names[l] : "?";
}

const char *log_esc(const char *s, char *buf, size_t len)
{
	size_t o = 0;

	for (; *s && o + 2 < len; s++) {
		if (*s == '"' || *s == '\\')
			buf[o++] = '\\';
		buf[o++] = *s == '\n' ? ' ' : *s;
	}
	buf[o] = '\0';
	return buf;
}

/* A log line being built; never overflows, a long line is cut. */
struct line {
	char buf[4096];
	size_t len;
};

static void put(struct line *l, const char *fmt, va_list ap)
{
	size_t room = sizeof(l->buf) - l->len;
	int n = vsnprintf(l->buf + l->len, room, fmt, ap);

	if (n > 0)
		l->len += (size_t)n < room ? (size_t)n : room - 1;
}

static void putf(struct line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct line *l, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	put(l, fmt, ap);
	va_end(ap);
}

/* msg is always quoted. */
static void put_quoted(struct line *l, const char *s)
{
	char esc[1024];

	putf(l, "\"%s\"", log_esc(s, esc, sizeof(esc)));
}

void log_kv(enum log_level level, const char *component, const char *msg, const char *kv, ...)
{
	struct line l = { .len = 0 };
	struct timespec ts;
	struct tm tm;
	va_list ap;

	if (level < log_min_level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	putf(&l, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s component=%s msg=",
	     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	     ts.tv_nsec / 1000000, names[level], component);
	put_quoted(&l, msg);
	if (kv && *kv) {
		putf(&l, " ");
		va_start(ap, kv);
		put(&l, kv, ap);
		va_end(ap);
	}
	/* One write per line, so concurrent writers never interleave. */
	putf(&l, "\n");
	if (l.buf[l.len - 1] != '\n')
		l.buf[l.len - 1] = '\n';
	fwrite(l.buf, 1, l.len, stderr);
	fflush(stderr);
}

static int libbpf_cb(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	enum log_level l = level == LIBBPF_WARN ? LOG_WARN : LOG_DEBUG;
	char msg[1024];
	size_t n;

	/* libbpf's debug level narrates every relocation: never useful here. */
	if (level == LIBBPF_DEBUG || l < log_min_level)
		return 0;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* bpf_tc_hook_create() on a device that has clsact already: expected
	 * at every attach, not worth a warning. */
	if (strstr(msg, "Exclusivity flag on"))
		return 0;
	n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		msg[--n] = '\0';
	log_kv(l, "libbpf", msg, NULL);
	return 0;
}

void log_libbpf(void)
{
	libbpf_set_print(libbpf_cb);
}
