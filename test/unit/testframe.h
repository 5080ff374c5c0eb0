/* testframe: the byte-level frame builder of the filter unit tests
 * (test_filter_summary.c, test_filter_catalog.c): append bytes big endian,
 * patch a 16-bit field in place; each test builds its headers on it. */
#ifndef XDPATH_TEST_TESTFRAME_H
#define XDPATH_TEST_TESTFRAME_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct fr {
	unsigned char b[2048];
	size_t n;
	size_t l3, l4;      /* where the last IP and L4 headers start */
	int v6;
};

static inline void put(struct fr *f, const void *d, size_t n)
{
	assert_true(f->n + n <= sizeof(f->b));
	memcpy(f->b + f->n, d, n);
	f->n += n;
}

static inline void put8(struct fr *f, unsigned v)
{
	unsigned char c = (unsigned char)v;

	put(f, &c, 1);
}

static inline void put16(struct fr *f, unsigned v)
{
	put8(f, v >> 8);
	put8(f, v);
}

static inline void put32(struct fr *f, uint32_t v)
{
	put16(f, v >> 16);
	put16(f, v & 0xffff);
}

/* n bytes of v. */
static inline void fill(struct fr *f, unsigned v, size_t n)
{
	while (n--)
		put8(f, v);
}

static inline void set16(struct fr *f, size_t off, unsigned v)
{
	f->b[off] = (unsigned char)(v >> 8);
	f->b[off + 1] = (unsigned char)v;
}

#endif
