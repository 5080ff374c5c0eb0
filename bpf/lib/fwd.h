/* fwd: the three ways out of the datapath that skip the host's IP stack:
 * into a local pod (bpf_redirect_peer), to a remote node by native routing
 * (bpf_fib_lookup + bpf_redirect_neigh), or through the vxlan device
 * (bpf_skb_set_tunnel_key). Each returns a TC verdict and counts it. */
#ifndef XDPATH_BPF_FWD_H
#define XDPATH_BPF_FWD_H

#include <stddef.h>

#include "parse.h"
#include "stats.h"

#define IPV4_TTL_OFF   (L3_OFF + offsetof(struct iphdr, ttl))
#define IPV4_CSUM_OFF  (L3_OFF + offsetof(struct iphdr, check))
#define IPV6_HLIM_OFF  (L3_OFF + offsetof(struct ipv6hdr, hop_limit))

/* The router's half of forwarding: TTL/hop limit - 1 (with the IPv4 header
 * checksum). The caller has checked ttl > 1. A CHECKSUM_COMPLETE skb->csum
 * covers the L3 header: IPv6 has no header checksum to absorb the change,
 * so the helper must fix skb->csum; in IPv4 the TTL and check changes
 * cancel out in the sum. */
__always_inline_fn int dec_ttl(struct __sk_buff *skb, const struct pkt *p)
{
	__u8 ttl = p->ttl - 1;

	if (p->family == XDP_EP_FAMILY_V6)
		return bpf_skb_store_bytes(skb, IPV6_HLIM_OFF, &ttl, 1, BPF_F_RECOMPUTE_CSUM);
	/* TTL is the high byte of the 16-bit word it shares with protocol. */
	if (bpf_l3_csum_replace(skb, IPV4_CSUM_OFF, bpf_htons((__u16)p->ttl << 8),
				bpf_htons((__u16)ttl << 8), 2))
		return -1;
	return bpf_skb_store_bytes(skb, IPV4_TTL_OFF, &ttl, 1, 0);
}

__always_inline_fn int set_macs(struct __sk_buff *skb, const __u8 *dst, const __u8 *src)
{
	__u8 macs[12];

	__builtin_memcpy(macs, dst, 6);
	__builtin_memcpy(macs + 6, src, 6);
	return bpf_skb_store_bytes(skb, 0, macs, sizeof(macs), 0);
}

/* Into a pod of this node, straight to its netns-side interface. */
__always_inline_fn int deliver_local(struct __sk_buff *skb, const struct pkt *p,
				     const struct xdp_ep_info *ep, __u32 src_ep)
{
	__u64 len = skb->len;

	if (p->ttl <= 1) /* the host stack sends Time Exceeded */
		return fwd(skb, XDP_FWD_STACK, TC_ACT_OK);
	if (!(ep->flags & XDP_EP_F_READY))
		return drop(skb, XDP_DROP_NOT_READY, src_ep);
	if (set_macs(skb, ep->pod_mac, ep->host_mac) || dec_ttl(skb, p))
		return drop(skb, XDP_DROP_REDIRECT, src_ep);
	ep_rx(ep->ep_id, len);
	return fwd(skb, XDP_FWD_PEER, bpf_redirect_peer(ep->host_ifindex, 0));
}

__always_inline_fn void cidr_key(struct xdp_cidr_key *k, const struct pkt *p)
{
	__builtin_memset(k, 0, sizeof(*k));
	k->family = p->family;
	if (p->family == XDP_EP_FAMILY_V4) {
		k->prefixlen = XDP_CIDR_PREFIX(32);
		__builtin_memcpy(k->addr, p->daddr, 4);
	} else {
		k->prefixlen = XDP_CIDR_PREFIX(128);
		__builtin_memcpy(k->addr, p->daddr, 16);
	}
}

__always_inline_fn int fwd_native(struct __sk_buff *skb, const struct pkt *p, __u32 src_ep)
{
	struct bpf_fib_lookup fib = {};
	struct bpf_redir_neigh nh = {};
	int rc;

	fib.ifindex = skb->ingress_ifindex;
	/* A GSO super-packet's length is not what goes on the wire: let the
	 * lookup skip its MTU check, and check plain packets ourselves. */
	fib.tot_len = skb->gso_size ? 0 : p->ip_len;
	if (p->family == XDP_EP_FAMILY_V4) {
		fib.family = AF_INET;
		__builtin_memcpy(&fib.ipv4_src, p->saddr, 4);
		__builtin_memcpy(&fib.ipv4_dst, p->daddr, 4);
	} else {
		fib.family = AF_INET6;
		__builtin_memcpy(fib.ipv6_src, p->saddr, 16);
		__builtin_memcpy(fib.ipv6_dst, p->daddr, 16);
	}
	rc = bpf_fib_lookup(skb, &fib, sizeof(fib), 0);
	if (rc == BPF_FIB_LKUP_RET_FRAG_NEEDED || rc == BPF_FIB_LKUP_RET_NOT_FWDED ||
	    rc == BPF_FIB_LKUP_RET_FWD_DISABLED || rc == BPF_FIB_LKUP_RET_UNSUPP_LWT)
		return fwd(skb, XDP_FWD_STACK, TC_ACT_OK); /* the stack sends ICMP or knows better */
	if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH)
		return drop(skb, XDP_DROP_FIB, src_ep);
	if (dec_ttl(skb, p))
		return drop(skb, XDP_DROP_REDIRECT, src_ep);
	if (rc == BPF_FIB_LKUP_RET_SUCCESS) {
		if (set_macs(skb, fib.dmac, fib.smac))
			return drop(skb, XDP_DROP_REDIRECT, src_ep);
		return fwd(skb, XDP_FWD_NEIGH, bpf_redirect(fib.ifindex, 0));
	}
	/* No neighbour yet: the kernel resolves it and fills the MACs. */
	if (p->family == XDP_EP_FAMILY_V4) {
		nh.nh_family = AF_INET;
		nh.ipv4_nh = fib.ipv4_dst;
	} else {
		nh.nh_family = AF_INET6;
		__builtin_memcpy(nh.ipv6_nh, fib.ipv6_dst, 16);
	}
	return fwd(skb, XDP_FWD_NEIGH, bpf_redirect_neigh(fib.ifindex, &nh, sizeof(nh), 0));
}

__always_inline_fn int fwd_tunnel(struct __sk_buff *skb, const struct pkt *p,
				  const struct xdp_config *cfg, const struct xdp_node_info *node,
				  __u32 src_ep)
{
	struct bpf_tunnel_key key = {};

	__u32 mtu_len = 0;

	if (!cfg->tunnel_ifindex)
		return drop(skb, XDP_DROP_TUNNEL, src_ep);
	/* A redirect skips the device's MTU check: too big for the tunnel goes
	 * to the stack, which routes it to the same tunnel (the agent's encap
	 * route) and sends Fragmentation Needed / Packet Too Big. */
	if (bpf_check_mtu(skb, cfg->tunnel_ifindex, &mtu_len, 0, 0) == BPF_MTU_CHK_RET_FRAG_NEEDED)
		return fwd(skb, XDP_FWD_STACK, TC_ACT_OK);
	key.remote_ipv4 = bpf_ntohl(node->node_ip4); /* host order, as the helper wants */
	key.tunnel_id = cfg->vni;
	key.tunnel_ttl = 64;
	if (bpf_skb_set_tunnel_key(skb, &key, sizeof(key), BPF_F_ZERO_CSUM_TX))
		return drop(skb, XDP_DROP_TUNNEL, src_ep);
	if (dec_ttl(skb, p))
		return drop(skb, XDP_DROP_REDIRECT, src_ep);
	return fwd(skb, XDP_FWD_TUNNEL, bpf_redirect(cfg->tunnel_ifindex, 0));
}

/* To the node that owns the destination's pod CIDR, if there is one.
 * Returns -1 when the destination is not a remote pod. */
__always_inline_fn int forward_remote(struct __sk_buff *skb, const struct pkt *p,
				      const struct xdp_config *cfg, __u32 src_ep)
{
	struct xdp_cidr_key k;
	struct xdp_node_info *node;

	cidr_key(&k, p);
	node = bpf_map_lookup_elem(&xdp_nodes, &k);
	if (!node)
		return -1;
	if (p->ttl <= 1)
		return fwd(skb, XDP_FWD_STACK, TC_ACT_OK);
	if (cfg->mode == XDP_MODE_VXLAN)
		return fwd_tunnel(skb, p, cfg, node, src_ep);
	return fwd_native(skb, p, src_ep);
}

#endif
