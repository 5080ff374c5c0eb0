/* portset: sets of (protocol, port range), the form every rule's ports take
 * inside the compiler. Owns their normalisation (sort, merge overlapping and
 * adjacent ranges), the conversion to a CIDR map port set (struct
 * xdp_portset) and the split of a range into the aligned power-of-two blocks
 * the policy LPM stores. Internal to policy/. */
#ifndef XDPATH_POLICY_PORTSET_H
#define XDPATH_POLICY_PORTSET_H

#include <stddef.h>
#include <stdint.h>

#include "xdpath/policy.h"

/* proto 0: every protocol and every port (then lo 0, hi 65535). Ports in
 * host order, inclusive; every port of a protocol is 0..65535. */
struct prange {
	uint8_t proto;
	uint16_t lo, hi;
};

#define PRANGE_ANY ((struct prange){ 0, 0, 65535 })

/* Sort and merge in place; returns the new count. A proto-0 range absorbs
 * everything: the result is then that one range. */
size_t prange_normalize(struct prange *r, size_t n);

/* A normalised set -> a map port set (every unused byte zero). -E2BIG if it
 * needs more than XDP_PORTSET_MAX ranges. */
int portset_make(const struct prange *r, size_t n, uint32_t cookie, struct xdp_portset *out);

/* Does a map port set allow (proto, port)? (the datapath's check) */
int portset_allows(const struct xdp_portset *ps, uint8_t proto, uint16_t port);

/* A block of 2^k ports starting at start (aligned to 2^k). */
struct pblock {
	uint16_t start;
	uint8_t k;
};

#define PBLOCK_MAX 32

/* The fewest aligned blocks that cover lo..hi exactly; returns how many
 * (at most PBLOCK_MAX: 2 * 16 - 2 for the worst range). */
size_t prange_blocks(uint16_t lo, uint16_t hi, struct pblock *out);

#endif
