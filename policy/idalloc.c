/* idalloc: pod label set -> node-local identity, stable across compilations.
 * An open-addressing hash table over the encoded key. */
#include "idalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vec.h"

struct id_slot {
	uint8_t *key;         /* NULL: empty slot */
	size_t len;
	uint64_t hash;
	uint64_t gen;         /* last compilation that used it */
	uint32_t id;
};

struct id_alloc {
	struct id_slot *t;
	size_t cap, n;        /* cap: power of two */
	uint64_t gen;
	uint32_t next;
};

struct id_alloc *id_alloc_new(void)
{
	struct id_alloc *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->next = XDP_ID_FIRST_POD;
	return a;
}

void id_alloc_free(struct id_alloc *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->cap; i++)
		free(a->t[i].key);
	free(a->t);
	free(a);
}

size_t id_alloc_count(const struct id_alloc *a)
{
	return a->n;
}

static uint64_t fnv1a(const uint8_t *p, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return h;
}

static struct id_slot *slot_find(struct id_slot *t, size_t cap, const uint8_t *key, size_t len,
				 uint64_t hash)
{
	for (size_t i = hash & (cap - 1);; i = (i + 1) & (cap - 1)) {
		struct id_slot *s = &t[i];

		if (!s->key)
			return s;
		if (s->hash == hash && s->len == len && !memcmp(s->key, key, len))
			return s;
	}
}

/* Move the keys into a new table of cap slots (a power of two, more than
 * twice what moves); with sweep, the keys this compilation did not use are
 * freed instead. */
static int rehash(struct id_alloc *a, size_t cap, bool sweep)
{
	struct id_slot *t = calloc(cap, sizeof(*t));
	size_t n = 0;

	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < a->cap; i++) {
		struct id_slot *s = &a->t[i];

		if (!s->key)
			continue;
		if (sweep && s->gen != a->gen) {
			free(s->key);
			continue;
		}
		*slot_find(t, cap, s->key, s->len, s->hash) = *s;
		n++;
	}
	free(a->t);
	a->t = t;
	a->cap = cap;
	a->n = n;
	return 0;
}

void id_alloc_begin(struct id_alloc *a)
{
	a->gen++;
}

void id_alloc_sweep(struct id_alloc *a)
{
	size_t live = 0, cap = 16;

	for (size_t i = 0; i < a->cap; i++)
		live += a->t[i].key && a->t[i].gen == a->gen;
	while (cap < live * 2 + 2)
		cap *= 2;
	/* Out of memory: keep the stale keys, the next sweep retries. */
	rehash(a, cap, true);
}

static uint32_t lookup(struct id_alloc *a, const uint8_t *key, size_t len)
{
	uint64_t hash = fnv1a(key, len);
	struct id_slot *s;

	if ((a->n + 1) * 2 > a->cap && rehash(a, a->cap ? a->cap * 2 : 64, false))
		return 0;
	s = slot_find(a->t, a->cap, key, len, hash);
	if (!s->key) {
		if (a->next == UINT32_MAX)
			return 0;
		s->key = malloc(len);
		if (!s->key)
			return 0;
		memcpy(s->key, key, len);
		s->len = len;
		s->hash = hash;
		s->id = a->next++;
		a->n++;
	}
	s->gen = a->gen;
	return s->id;
}

/* ---- the key ---------------------------------------------------------- */

/* Every string is length-prefixed and every list counted, so no two
 * different label sets encode alike whatever bytes the strings hold. */
static int put(struct vec *b, const void *p, size_t len)
{
	if (vec_reserve(b, len))
		return -1;
	memcpy(vec_at(b, b->n), p, len);
	b->n += len;
	return 0;
}

static int put_u32(struct vec *b, uint32_t v)
{
	return put(b, &v, sizeof(v));
}

static int put_str(struct vec *b, const char *s)
{
	size_t len = s ? strlen(s) : 0;

	return put_u32(b, (uint32_t)len) || put(b, s ? s : "", len);
}

static const char *s0(const char *s)
{
	return s ? s : "";
}

static int label_cmp(const void *a, const void *b)
{
	const struct label *x = *(const struct label *const *)a;
	const struct label *y = *(const struct label *const *)b;
	int r = strcmp(s0(x->key), s0(y->key));

	return r ? r : strcmp(s0(x->value), s0(y->value));
}

static int put_labels(struct vec *b, const struct labels *l)
{
	const struct label **v;
	int err = 0;

	if (!l || !l->n)
		return put_u32(b, 0);
	v = malloc(l->n * sizeof(*v));
	if (!v)
		return -1;
	for (size_t i = 0; i < l->n; i++)
		v[i] = &l->v[i];
	qsort(v, l->n, sizeof(*v), label_cmp);
	err = put_u32(b, (uint32_t)l->n);
	for (size_t i = 0; i < l->n && !err; i++)
		err = put_str(b, v[i]->key) || put_str(b, v[i]->value);
	free(v);
	return err;
}

static int port_cmp(const void *a, const void *b)
{
	const struct container_port *x = *(const struct container_port *const *)a;
	const struct container_port *y = *(const struct container_port *const *)b;
	int r = strcmp(x->name, y->name);

	if (r)
		return r;
	if (x->proto != y->proto)
		return x->proto < y->proto ? -1 : 1;
	return x->port < y->port ? -1 : x->port > y->port;
}

/* Only named ports: they are what a policy's port name resolves against. */
static int put_ports(struct vec *b, const struct pod *pod)
{
	const struct container_port **v;
	size_t n = 0;
	int err = 0;

	v = malloc((pod->nports ? pod->nports : 1) * sizeof(*v));
	if (!v)
		return -1;
	for (size_t i = 0; i < pod->nports; i++) {
		if (pod->ports[i].name)
			v[n++] = &pod->ports[i];
	}
	qsort(v, n, sizeof(*v), port_cmp);
	err = put_u32(b, (uint32_t)n);
	for (size_t i = 0; i < n && !err; i++) {
		uint8_t pp[3] = { v[i]->proto, (uint8_t)(v[i]->port >> 8), (uint8_t)v[i]->port };

		err = put_str(b, v[i]->name) || put(b, pp, sizeof(pp));
	}
	free(v);
	return err;
}

uint32_t id_alloc_pod(struct id_alloc *a, const struct pod *pod, const struct labels *ns_labels)
{
	struct vec b = VEC_INIT(uint8_t);
	uint32_t id = 0;

	if (put_str(&b, pod->ns) || put_labels(&b, &pod->labels) || put_labels(&b, ns_labels) ||
	    put_ports(&b, pod))
		goto out;
	id = lookup(a, b.v, b.n);
out:
	vec_free(&b);
	return id;
}
