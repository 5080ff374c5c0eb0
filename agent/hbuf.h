/* hbuf: a growable byte buffer, NUL-terminated once anything is in it:
 * the agent's HTTP bodies (httpd.c, prom.c) and the API client's response
 * bodies (kube.c). Start from { 0 }; hbuf_free() when not handed over. */
#ifndef XDPATH_AGENT_HBUF_H
#define XDPATH_AGENT_HBUF_H

#include <stddef.h>

struct hbuf {
	char *buf;
	size_t len, cap;
};

/* Append formatted text: 0, or -ENOMEM (the buffer keeps what it had). */
int hbuf_printf(struct hbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append n bytes: 0 or -ENOMEM. */
int hbuf_put(struct hbuf *b, const char *s, size_t n);
void hbuf_free(struct hbuf *b);

#endif
