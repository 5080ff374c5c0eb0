/* vec: a growable array of fixed-size elements, for the policy library's
 * scratch space and output arrays. Internal to policy/. */
#ifndef XDPATH_POLICY_VEC_H
#define XDPATH_POLICY_VEC_H

#include <stdlib.h>
#include <string.h>

struct vec {
	void *v;
	size_t n, cap;
	size_t size;          /* of one element */
};

#define VEC_INIT(type) { .size = sizeof(type) }

static inline void *vec_at(const struct vec *a, size_t i)
{
	return (char *)a->v + i * a->size;
}

static inline int vec_reserve(struct vec *a, size_t more)
{
	size_t cap = a->cap ? a->cap : 16;
	void *v;

	if (a->n + more <= a->cap)
		return 0;
	while (cap < a->n + more)
		cap *= 2;
	v = realloc(a->v, cap * a->size);
	if (!v)
		return -1;
	a->v = v;
	a->cap = cap;
	return 0;
}

/* A new zeroed element at the end, or NULL (out of memory). */
static inline void *vec_push(struct vec *a)
{
	void *e;

	if (vec_reserve(a, 1))
		return NULL;
	e = vec_at(a, a->n++);
	memset(e, 0, a->size);
	return e;
}

/* qsort without its undefined behaviour for an empty array (NULL base). */
static inline void vsort(void *base, size_t n, size_t size,
			 int (*cmp)(const void *, const void *))
{
	if (n > 1)
		qsort(base, n, size, cmp);
}

static inline void vec_free(struct vec *a)
{
	free(a->v);
	a->v = NULL;
	a->n = a->cap = 0;
}

/* Hand the elements over to the caller (NULL when empty). */
static inline void *vec_take(struct vec *a, size_t *n)
{
	void *v = a->v;

	*n = a->n;
	if (!a->n) {
		free(v);
		v = NULL;
	}
	a->v = NULL;
	a->n = a->cap = 0;
	return v;
}

#endif
