/* sim: the datapath's policy decision over a compiled result (see sim.h).
 * LPM lookups are done the way a BPF_MAP_TYPE_LPM_TRIE answers them: for
 * every prefix length present, longest first, mask the key's data to it and
 * look for that exact key (the compiler clears the bits beyond each entry's
 * prefix, so exact search in the sorted array finds it). */
#include "sim.h"

#include <arpa/inet.h>
#include <string.h>

#include "order.h"
#include "portset.h"

const void *compiled_find(const void *base, size_t n, size_t esize, size_t ksize,
			  const void *key)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const void *e = (const char *)base + mid * esize;
		int r = memcmp(e, key, ksize);

		if (!r)
			return e;
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* The prefix lengths present, longest first: the array is sorted by key
 * and the key starts with prefixlen, so each length is one run; jump from
 * run to run. Returns how many (at most 8 * 64 + 1). */
static size_t lengths(const void *base, size_t n, size_t esize, uint32_t *out)
{
	size_t i = 0, k = 0;

	while (i < n) {
		const void *e = (const char *)base + i * esize;
		size_t lo = i + 1, hi = n;

		memcpy(&out[k++], e, sizeof(uint32_t));
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;

			if (memcmp((const char *)base + mid * esize, e, sizeof(uint32_t)))
				hi = mid;
			else
				lo = mid + 1;
		}
		i = lo;
	}
	for (size_t a = 1; a < k; a++) {
		for (size_t b = a; b && out[b - 1] < out[b]; b--) {
			uint32_t t = out[b];

			out[b] = out[b - 1];
			out[b - 1] = t;
		}
	}
	return k;
}

/* key: a u32 prefixlen, then the data; ksize <= 64. */
static const void *lpm(const void *base, size_t n, size_t esize, size_t ksize, const void *key,
		       uint32_t maxlen)
{
	uint32_t plens[8 * 64 + 1];
	size_t np = lengths(base, n, esize, plens);
	uint8_t k[64];

	for (size_t p = 0; p < np; p++) {
		uint8_t *data = k + sizeof(uint32_t);
		size_t dlen = ksize - sizeof(uint32_t);
		uint32_t plen = plens[p];
		const void *e;

		if (plen > maxlen)
			continue;
		memcpy(k, key, ksize);
		memcpy(k, &plen, sizeof(plen));
		for (size_t i = 0; i < dlen; i++) {
			uint32_t bits = plen > i * 8 ? plen - i * 8 : 0;

			if (bits < 8)
				data[i] &= (uint8_t)(0xff00 >> bits);
		}
		e = compiled_find(base, n, esize, ksize, k);
		if (e)
			return e;
	}
	return NULL;
}

uint32_t policy_sim_identity(const struct compiled *c, const struct ipaddr *remote)
{
	const struct ipcache_entry *e;
	struct xdp_cidr_key k;

	memset(&k, 0, sizeof(k));
	k.family = remote->family == AF_INET ? XDP_EP_FAMILY_V4 : XDP_EP_FAMILY_V6;
	memcpy(k.addr, remote->b, ipaddr_len(remote));
	e = lpm(c->ipcache, c->nipcache, sizeof(*e), sizeof(k), &k,
		XDP_CIDR_PREFIX(ipaddr_bits(remote)));
	return e ? e->val.identity : XDP_ID_WORLD;
}

static const struct pol_entry *pol_lookup(const struct compiled *c, uint32_t ep_id, int dir,
					  uint32_t id, uint8_t proto, uint16_t port)
{
	struct xdp_pol_key k;

	memset(&k, 0, sizeof(k));
	k.ep_id = ep_id;
	k.dir = (uint8_t)dir;
	k.identity = id;
	k.proto = proto;
	k.dport = htons(port);
	return lpm(c->pol, c->npol, sizeof(struct pol_entry), sizeof(k), &k,
		   XDP_POL_PREFIX_PORT);
}

static const struct cidr_entry *cidr_lookup(const struct compiled *c, uint32_t ep_id, int dir,
					    const struct ipaddr *remote)
{
	struct xdp_polcidr_key k;

	memset(&k, 0, sizeof(k));
	k.ep_id = ep_id;
	k.dir = (uint8_t)dir;
	k.family = remote->family == AF_INET ? XDP_EP_FAMILY_V4 : XDP_EP_FAMILY_V6;
	memcpy(k.addr, remote->b, ipaddr_len(remote));
	return lpm(c->cidr, c->ncidr, sizeof(struct cidr_entry), sizeof(k), &k,
		   XDP_POLCIDR_PREFIX(ipaddr_bits(remote)));
}

static int allow(uint32_t *cookie, uint32_t v)
{
	if (cookie)
		*cookie = v;
	return 1;
}

int policy_sim(const struct compiled *c, uint32_t ep_id, int dir, const struct ipaddr *remote,
	       uint8_t proto, uint16_t port, uint32_t *cookie)
{
	uint32_t iso = dir == XDP_DIR_INGRESS ? XDP_EP_POL_INGRESS_ISOLATED
					      : XDP_EP_POL_EGRESS_ISOLATED;
	const struct ep_pol_entry *ep;
	const struct pol_entry *pe;
	const struct cidr_entry *ce;
	uint32_t id;

	ep = compiled_find(c->eps, c->neps, sizeof(*ep), sizeof(ep->ep_id), &ep_id);
	if (!ep || !(ep->val.flags & XDP_EP_POL_READY))
		return 0;
	if (!(ep->val.flags & iso))
		return allow(cookie, POLICY_SIM_NO_RULE);
	id = policy_sim_identity(c, remote);
	if (id == XDP_ID_HOST && dir == XDP_DIR_INGRESS)
		return allow(cookie, POLICY_SIM_NO_RULE);
	pe = pol_lookup(c, ep_id, dir, id, proto, port);
	if (!pe)
		pe = pol_lookup(c, ep_id, dir, XDP_ID_ANY, proto, port);
	if (pe)
		return allow(cookie, pe->val.rule_cookie);
	ce = cidr_lookup(c, ep_id, dir, remote);
	if (ce && portset_allows(&ce->val, proto, port))
		return allow(cookie, ce->val.rule_cookie);
	return 0;
}
