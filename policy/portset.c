/* portset: normalising port ranges, map port sets, LPM port blocks. */
#include "portset.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "vec.h"

static int prange_cmp(const void *a, const void *b)
{
	const struct prange *x = a, *y = b;

	if (x->proto != y->proto)
		return x->proto < y->proto ? -1 : 1;
	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	return x->hi < y->hi ? -1 : x->hi > y->hi;
}

size_t prange_normalize(struct prange *r, size_t n)
{
	size_t out = 0;

	for (size_t i = 0; i < n; i++) {
		if (r[i].proto == 0) {
			r[0] = PRANGE_ANY;
			return 1;
		}
	}
	vsort(r, n, sizeof(*r), prange_cmp);
	for (size_t i = 0; i < n; i++) {
		struct prange *last = out ? &r[out - 1] : NULL;

		/* adjacent counts as overlapping: 80-89 and 90-99 are 80-99 */
		if (last && last->proto == r[i].proto && r[i].lo <= (uint32_t)last->hi + 1) {
			if (r[i].hi > last->hi)
				last->hi = r[i].hi;
			continue;
		}
		r[out++] = r[i];
	}
	return out;
}

int portset_make(const struct prange *r, size_t n, uint32_t cookie, struct xdp_portset *out)
{
	memset(out, 0, sizeof(*out));
	if (!n)
		return 0;
	out->rule_cookie = cookie;
	if (r[0].proto == 0) {
		out->flags = XDP_PORTSET_ALL;
		return 0;
	}
	if (n > XDP_PORTSET_MAX)
		return -E2BIG;
	out->nranges = (uint32_t)n;
	for (size_t i = 0; i < n; i++) {
		bool all = r[i].lo == 0 && r[i].hi == 65535;

		out->r[i].proto = r[i].proto;
		/* the map's spelling of "every port of proto" is 0,0 */
		out->r[i].lo = all ? 0 : r[i].lo;
		out->r[i].hi = all ? 0 : r[i].hi;
	}
	return 0;
}

int portset_allows(const struct xdp_portset *ps, uint8_t proto, uint16_t port)
{
	if (ps->flags & XDP_PORTSET_ALL)
		return 1;
	for (uint32_t i = 0; i < ps->nranges && i < XDP_PORTSET_MAX; i++) {
		const struct xdp_port_range *r = &ps->r[i];

		if (r->proto && r->proto != proto)
			continue;
		if ((!r->lo && !r->hi) || (port >= r->lo && port <= r->hi))
			return 1;
	}
	return 0;
}

size_t prange_blocks(uint16_t lo, uint16_t hi, struct pblock *out)
{
	uint32_t p = lo;
	size_t n = 0;

	while (p <= hi) {
		uint8_t k = 0;

		/* grow while p stays aligned and the block stays inside */
		while (k < 16 && !(p & ((2u << k) - 1)) && p + (2u << k) - 1 <= hi)
			k++;
		out[n].start = (uint16_t)p;
		out[n].k = k;
		n++;
		p += 1u << k;
	}
	return n;
}
