/* diff: two compiled results -> the puts and deletes that turn the maps
 * holding the first into the maps holding the second. One merge pass per
 * map over arrays sorted by key (order.h). */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "compile.h"
#include "vec.h"

/* One map: elements of esize bytes, the key first (ksize bytes), the
 * value right after it. Values are compared with memcmp, so there must be
 * no padding for a struct copy to leave undefined. */
_Static_assert(sizeof(struct ipcache_entry) ==
	       sizeof(struct xdp_cidr_key) + sizeof(struct xdp_ipcache_val), "padding");
_Static_assert(sizeof(struct pol_entry) ==
	       sizeof(struct xdp_pol_key) + sizeof(struct xdp_pol_val), "padding");
_Static_assert(sizeof(struct cidr_entry) ==
	       sizeof(struct xdp_polcidr_key) + sizeof(struct xdp_portset), "padding");
_Static_assert(sizeof(struct ep_pol_entry) == sizeof(uint32_t) + sizeof(struct xdp_ep_pol),
	       "padding");

struct mapdesc {
	size_t esize, ksize;
};

static int push(struct vec *v, const void *p)
{
	void *e = vec_push(v);

	if (!e)
		return -ENOMEM;
	memcpy(e, p, v->size);
	return 0;
}

static int merge(const struct mapdesc *m, const void *a, size_t na, const void *b, size_t nb,
		 struct vec *put, struct vec *del)
{
	size_t i = 0, j = 0;

	while (i < na || j < nb) {
		const char *x = (const char *)a + i * m->esize, *y = (const char *)b + j * m->esize;
		int r = i == na ? 1 : j == nb ? -1 : memcmp(x, y, m->ksize);
		int err = 0;

		if (r < 0) {
			err = push(del, x);
			i++;
		} else if (r > 0) {
			err = push(put, y);
			j++;
		} else {
			if (memcmp(x + m->ksize, y + m->ksize, m->esize - m->ksize))
				err = push(put, y);
			i++;
			j++;
		}
		if (err)
			return err;
	}
	return 0;
}

#define DESC(type, keyfield) \
	{ sizeof(type), offsetof(type, keyfield) + sizeof(((type *)0)->keyfield) }

int compiled_diff(const struct compiled *old, const struct compiled *cur,
		  struct compiled_delta *d)
{
	static const struct mapdesc ipc = DESC(struct ipcache_entry, key);
	static const struct mapdesc pol = DESC(struct pol_entry, key);
	static const struct mapdesc cidr = DESC(struct cidr_entry, key);
	static const struct mapdesc eps = DESC(struct ep_pol_entry, ep_id);
	struct vec v[8] = {
		VEC_INIT(struct ipcache_entry), VEC_INIT(struct xdp_cidr_key),
		VEC_INIT(struct pol_entry), VEC_INIT(struct xdp_pol_key),
		VEC_INIT(struct cidr_entry), VEC_INIT(struct xdp_polcidr_key),
		VEC_INIT(struct ep_pol_entry), VEC_INIT(uint32_t),
	};
	int err;

	memset(d, 0, sizeof(*d));
	err = merge(&ipc, old->ipcache, old->nipcache, cur->ipcache, cur->nipcache, &v[0], &v[1]);
	if (!err)
		err = merge(&pol, old->pol, old->npol, cur->pol, cur->npol, &v[2], &v[3]);
	if (!err)
		err = merge(&cidr, old->cidr, old->ncidr, cur->cidr, cur->ncidr, &v[4], &v[5]);
	if (!err)
		err = merge(&eps, old->eps, old->neps, cur->eps, cur->neps, &v[6], &v[7]);
	d->ipcache_put = vec_take(&v[0], &d->nipcache_put);
	d->ipcache_del = vec_take(&v[1], &d->nipcache_del);
	d->pol_put = vec_take(&v[2], &d->npol_put);
	d->pol_del = vec_take(&v[3], &d->npol_del);
	d->cidr_put = vec_take(&v[4], &d->ncidr_put);
	d->cidr_del = vec_take(&v[5], &d->ncidr_del);
	d->eps_put = vec_take(&v[6], &d->neps_put);
	d->eps_del = vec_take(&v[7], &d->neps_del);
	if (err)
		compiled_delta_free(d);
	return err;
}

void compiled_delta_free(struct compiled_delta *d)
{
	free(d->ipcache_put);
	free(d->ipcache_del);
	free(d->pol_put);
	free(d->pol_del);
	free(d->cidr_put);
	free(d->cidr_del);
	free(d->eps_put);
	free(d->eps_del);
	memset(d, 0, sizeof(*d));
}
