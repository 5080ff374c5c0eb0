/* order: the one order of every array in a struct compiled: memcmp over the
 * map key (that is what makes sorting, de-duplication and the one-pass diff
 * deterministic, padding included: every key is memset before it is filled).
 * compile.c sorts with it, diff.c merges with it, sim.c searches with it.
 * Internal to policy/. */
#ifndef XDPATH_POLICY_ORDER_H
#define XDPATH_POLICY_ORDER_H

#include <string.h>

#include "compile.h"

static inline int ipcache_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct xdp_cidr_key));
}

static inline int pol_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct xdp_pol_key));
}

static inline int cidr_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct xdp_polcidr_key));
}

static inline int ep_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(uint32_t));
}

#endif
