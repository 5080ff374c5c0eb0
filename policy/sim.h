/* sim: the reference model of the datapath's policy decision, over a
 * compiled result (the maps' contents) instead of the maps. What
 * bpf/lib/policy.h must implement, what the compiler's tests check against
 * upstream semantics, and what `xdpathctl policy explain` runs.
 *
 * For endpoint E, direction D, remote address R, (proto, port):
 *   1. E absent from the endpoint map, or not XDP_EP_POL_READY: deny.
 *   2. E not isolated in D: allow.
 *   3. ipcache longest match on R -> identity (a miss is XDP_ID_WORLD);
 *      ingress from XDP_ID_HOST (the node: kubelet probes) is allowed.
 *   4. policy LPM (E, D, identity, proto, port), then (E, D, XDP_ID_ANY,
 *      ...): a match allows.
 *   5. CIDR LPM (E, D, R): the longest match's port set decides (an except
 *      prefix has an empty set); a miss denies.
 * Stateless: replies of allowed connections are conntrack's business. */
#ifndef XDPATH_POLICY_SIM_H
#define XDPATH_POLICY_SIM_H

#include <stdint.h>

#include "compile.h"

/* *cookie when allowed without a rule (not isolated, host). */
#define POLICY_SIM_NO_RULE UINT32_MAX

/* 1 allowed, 0 denied. When allowed, *cookie (may be NULL) is the
 * rule_cookie of the entry that allowed it (for a CIDR match, the smallest
 * cookie of the rules that allow that prefix), or POLICY_SIM_NO_RULE. */
int policy_sim(const struct compiled *c, uint32_t ep_id, int dir, const struct ipaddr *remote,
	       uint8_t proto, uint16_t port, uint32_t *cookie);

/* The identity the datapath gives an address (step 3). */
uint32_t policy_sim_identity(const struct compiled *c, const struct ipaddr *remote);

#endif
