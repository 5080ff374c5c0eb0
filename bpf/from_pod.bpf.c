// SPDX-License-Identifier: GPL-2.0
/* from_pod: every packet a pod sends, reached by a tail call from pod_entry
 * (the program on the pod's host veth, after the emergency filters). Steps:
 * parse and validate; anti-spoofing (source IP and MAC must be the
 * endpoint's); egress policy; then deliver to a local pod, forward to the
 * node that owns a remote pod CIDR, or hand to the host stack. */
#include "lib/common.h"
#include "lib/fwd.h"
#include "lib/maps.h"
#include "lib/parse.h"
#include "lib/policy.h"
#include "lib/stats.h"

static __always_inline int mac_equal(const __u8 *a, const __u8 *b)
{
	/* memcmp is not lowered for BPF: compare as 4 + 2 bytes. */
	return *(const __u32 *)a == *(const __u32 *)b &&
	       *(const __u16 *)(a + 4) == *(const __u16 *)(b + 4);
}

/* The endpoint whose veth this is, from the source address; NULL and a
 * drop reason if the packet is not from it. */
static __always_inline const struct xdp_ep_info *source_ep(struct __sk_buff *skb,
							   const struct pkt *p, int *reason)
{
	struct xdp_ep_key k;
	struct xdp_ep_info *ep;
	struct ethhdr *eth = (void *)(long)skb->data;

	ep_key(&k, p, p->saddr);
	ep = bpf_map_lookup_elem(&xdp_endpoints, &k);
	if (!ep || ep->host_ifindex != skb->ingress_ifindex) {
		*reason = XDP_DROP_SPOOF_IP;
		return NULL;
	}
	if ((void *)(eth + 1) > (void *)(long)skb->data_end) {
		*reason = XDP_DROP_TRUNCATED;
		return NULL;
	}
	if (!mac_equal(eth->h_source, ep->pod_mac)) {
		*reason = XDP_DROP_SPOOF_MAC;
		return NULL;
	}
	return ep;
}

SEC("tc")
int from_pod(struct __sk_buff *skb)
{
	const struct xdp_config *cfg = config_get();
	const struct xdp_ep_info *src, *dst;
	struct xdp_ep_key k;
	struct pkt p;
	struct flow f;
	int reason, rc;

	reason = parse(skb, &p);
	if (reason)
		return drop(skb, reason, 0);
	if (p.proto == ETH_P_ARP)
		return fwd(skb, XDP_FWD_STACK, TC_ACT_OK); /* the gateway answers */
	if (!p.family)
		return drop(skb, XDP_DROP_UNSUPPORTED, 0);
	/* ND, MLD and DAD come from link-local or unspecified sources, which no
	 * endpoint owns: fine for on-link destinations only, never forwarded. */
	if (p.src_link_local)
		return p.local_only ? fwd(skb, XDP_FWD_STACK, TC_ACT_OK)
				    : drop(skb, XDP_DROP_SPOOF_IP, 0);

	src = source_ep(skb, &p, &reason);
	if (!src)
		return drop(skb, reason, 0);
	if (p.local_only) { /* multicast, broadcast, the gateway itself */
		ep_tx(src->ep_id, skb->len);
		return fwd(skb, XDP_FWD_STACK, TC_ACT_OK);
	}
	ep_tx(src->ep_id, skb->len);
	flow_init(&f);
	reason = policy_egress(skb, &p, &f, src);
	if (reason)
		return policy_drop(skb, &p, &f, src->ep_id, XDP_DIR_EGRESS, reason);
	if (!cfg)
		return fwd(skb, XDP_FWD_STACK, TC_ACT_OK);

	ep_key(&k, &p, p.daddr);
	dst = bpf_map_lookup_elem(&xdp_endpoints, &k);
	if (dst) {
		reason = policy_ingress(skb, &p, &f, dst);
		if (reason)
			return policy_drop(skb, &p, &f, dst->ep_id, XDP_DIR_INGRESS, reason);
		return deliver_local(skb, &p, dst, src->ep_id);
	}
	rc = forward_remote(skb, &p, cfg, src->ep_id);
	if (rc >= 0)
		return rc;
	/* Node addresses, Services (kube-proxy), outside the cluster (masquerade). */
	return fwd(skb, XDP_FWD_STACK, TC_ACT_OK);
}

char LICENSE[] SEC("license") = "GPL";
