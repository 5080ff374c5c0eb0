/* hbuf: a growable byte buffer (hbuf.h). */
#include "hbuf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hbuf_grow(struct hbuf *b, size_t need)
{
	size_t cap = b->cap ? b->cap : 256;
	char *p;

	if (b->cap - b->len >= need)
		return 0;
	if (need > SIZE_MAX / 2 - b->len)
		return -ENOMEM;
	while (cap - b->len < need)
		cap *= 2;
	p = realloc(b->buf, cap);
	if (!p)
		return -ENOMEM;
	b->buf = p;
	b->cap = cap;
	return 0;
}

int hbuf_put(struct hbuf *b, const char *s, size_t n)
{
	if (hbuf_grow(b, n + 1))
		return -ENOMEM;
	memcpy(b->buf + b->len, s, n);
	b->len += n;
	b->buf[b->len] = '\0';
	return 0;
}

int hbuf_printf(struct hbuf *b, const char *fmt, ...)
{
	size_t room = b->cap - b->len;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(room ? b->buf + b->len : NULL, room, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n < room) {
		b->len += n;
		return 0;
	}
	if (hbuf_grow(b, (size_t)n + 1)) {
		if (room)
			b->buf[b->len] = '\0'; /* undo the truncated attempt */
		return -ENOMEM;
	}
	va_start(ap, fmt);
	vsnprintf(b->buf + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += n;
	return 0;
}

void hbuf_free(struct hbuf *b)
{
	free(b->buf);
	*b = (struct hbuf){ 0 };
}
