// SPDX-License-Identifier: GPL-2.0
/* to_pod: TC ingress of the node's uplink, and of the vxlan device (tail
 * called there by pod_entry, after the filters). A packet for a local pod
 * goes straight into it (ingress policy first); everything else (the
 * node's own traffic, masqueraded replies) goes to the host stack. */
#include <linux/if_packet.h>

#include "lib/common.h"
#include "lib/filter_maps.h" /* created here, first: see filter_maps.h */
#include "lib/fwd.h"
#include "lib/maps.h"
#include "lib/parse.h"
#include "lib/policy.h"
#include "lib/stats.h"

SEC("tc")
int to_pod(struct __sk_buff *skb)
{
	const struct xdp_config *cfg;
	const struct xdp_ep_info *dst;
	struct xdp_ep_key k;
	struct pkt p;
	struct flow f;
	int reason;

	reason = parse(skb, &p);
	if (reason)
		return drop(skb, reason, 0);
	if (!p.family || p.local_only)
		return TC_ACT_OK;
	/* A frame flooded to us for another host's MAC is not ours to route
	 * (the stack drops it). Decapsulated frames carry the sender's inner
	 * MACs, so the tunnel device is exempt. */
	cfg = config_get();
	if (skb->pkt_type != PACKET_HOST && (!cfg || skb->ingress_ifindex != cfg->tunnel_ifindex))
		return TC_ACT_OK;
	ep_key(&k, &p, p.daddr);
	dst = bpf_map_lookup_elem(&xdp_endpoints, &k);
	if (!dst)
		return TC_ACT_OK;
	flow_init(&f);
	reason = policy_ingress(skb, &p, &f, dst);
	if (reason)
		return policy_drop(skb, &p, &f, dst->ep_id, XDP_DIR_INGRESS, reason);
	return deliver_local(skb, &p, dst, 0);
}

char LICENSE[] SEC("license") = "GPL";
