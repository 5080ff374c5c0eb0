/* cidr: the ipBlock peers of one endpoint and direction -> the entries of the
 * per-endpoint CIDR LPM (xdp_pol_cidr).
 *
 * The map holds one port set per prefix and the datapath reads only the
 * longest matching prefix, so overlapping blocks are resolved here: every
 * cidr and every except of every block becomes a candidate prefix, and a
 * prefix's port set is the union of the port sets of the blocks that
 * contain it and do not except it. For an address, its longest matching
 * candidate is contained in exactly the cidrs and excepts that contain the
 * address, so that union is exactly what the address is allowed. A
 * candidate whose set equals what it would inherit from its nearest
 * ancestor (or that is empty with no ancestor: a miss denies) is not
 * emitted. Internal to policy/. */
#ifndef XDPATH_POLICY_CIDR_H
#define XDPATH_POLICY_CIDR_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "portset.h"
#include "vec.h"

struct cblock {
	struct ipnet cidr;
	const struct ipnet *except;
	size_t nexcept;
	size_t first, n;      /* its (normalised, non-empty) ranges in the caller's array */
	uint32_t cookie;
};

/* Append struct cidr_entry elements for (ep_id, dir) to out (unsorted).
 * 0, -E2BIG (a prefix needs more than XDP_PORTSET_MAX ranges) or -ENOMEM. */
int cidr_compile(const struct cblock *b, size_t nb, const struct prange *ranges,
		 uint32_t ep_id, int dir, struct vec *out);

#endif
