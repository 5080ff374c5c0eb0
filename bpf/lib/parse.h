/* parse: Ethernet + IPv4/IPv6 into a packet summary, validating every
 * length the headers claim against the frame. Nothing after L3 is read
 * here (policy and filters parse L4 themselves). */
#ifndef XDPATH_BPF_PARSE_H
#define XDPATH_BPF_PARSE_H

#include "common.h"

struct pkt {
	__u16 proto;             /* ETH_P_* (host order) */
	__u8 family;             /* XDP_EP_FAMILY_V4 / _V6, 0 for non-IP */
	__u8 ttl;                /* TTL / hop limit */
	__u8 l4proto;
	__u8 local_only;         /* link-local / multicast / broadcast: for the host */
	__u8 src_link_local;     /* IPv6 source fe80::/10 or :: (ND, MLD, DAD) */
	__u8 saddr[16];
	__u8 daddr[16];
	__u32 ip_len;            /* total length claimed by the IP header */
};

/* Make the first len bytes linear and readable; 0 or a drop reason. */
__always_inline_fn int pull(struct __sk_buff *skb, __u32 len)
{
	if ((void *)(long)skb->data + len <= (void *)(long)skb->data_end)
		return 0;
	if (skb->len < len)
		return XDP_DROP_TRUNCATED;
	if (bpf_skb_pull_data(skb, len))
		return XDP_DROP_TRUNCATED;
	if ((void *)(long)skb->data + len > (void *)(long)skb->data_end)
		return XDP_DROP_TRUNCATED;
	return 0;
}

__always_inline_fn int parse_ipv4(struct __sk_buff *skb, struct pkt *p)
{
	struct iphdr *ip;
	__u32 hlen;

	if (pull(skb, L3_OFF + sizeof(*ip)))
		return XDP_DROP_TRUNCATED;
	ip = (void *)(long)skb->data + L3_OFF;
	if ((void *)(ip + 1) > (void *)(long)skb->data_end)
		return XDP_DROP_TRUNCATED;
	hlen = ip->ihl * 4;
	if (ip->version != 4 || hlen < sizeof(*ip))
		return XDP_DROP_BAD_IP;
	p->ip_len = bpf_ntohs(ip->tot_len);
	if (p->ip_len < hlen || L3_OFF + p->ip_len > skb->len)
		return XDP_DROP_BAD_IP;
	p->family = XDP_EP_FAMILY_V4;
	p->ttl = ip->ttl;
	p->l4proto = ip->protocol;
	__builtin_memset(p->saddr, 0, sizeof(p->saddr));
	__builtin_memset(p->daddr, 0, sizeof(p->daddr));
	__builtin_memcpy(p->saddr, &ip->saddr, 4);
	__builtin_memcpy(p->daddr, &ip->daddr, 4);
	/* 224.0.0.0/4 multicast, 255.255.255.255, 169.254.0.0/16 (the gateway). */
	p->local_only = (p->daddr[0] & 0xf0) == 0xe0 || ip->daddr == 0xffffffff ||
			(p->daddr[0] == 169 && p->daddr[1] == 254);
	return 0;
}

__always_inline_fn int ipv6_unspecified(const __u8 *a)
{
	const __u32 *w = (const __u32 *)a;

	return !(w[0] | w[1] | w[2] | w[3]);
}

__always_inline_fn int parse_ipv6(struct __sk_buff *skb, struct pkt *p)
{
	struct ipv6hdr *ip6;

	if (pull(skb, L3_OFF + sizeof(*ip6)))
		return XDP_DROP_TRUNCATED;
	ip6 = (void *)(long)skb->data + L3_OFF;
	if ((void *)(ip6 + 1) > (void *)(long)skb->data_end)
		return XDP_DROP_TRUNCATED;
	if (ip6->version != 6)
		return XDP_DROP_BAD_IP;
	p->ip_len = sizeof(*ip6) + bpf_ntohs(ip6->payload_len);
	/* payload_len 0 is an empty packet (padded to the Ethernet minimum), or
	 * a BIG TCP GSO packet whose length is the skb's. */
	if (!ip6->payload_len && skb->gso_size)
		p->ip_len = skb->len - L3_OFF;
	if (L3_OFF + p->ip_len > skb->len)
		return XDP_DROP_BAD_IP;
	p->family = XDP_EP_FAMILY_V6;
	p->ttl = ip6->hop_limit;
	p->l4proto = ip6->nexthdr;
	__builtin_memcpy(p->saddr, &ip6->saddr, 16);
	__builtin_memcpy(p->daddr, &ip6->daddr, 16);
	/* ff00::/8 multicast, fe80::/10 link-local (ND, the gateway). */
	p->local_only = p->daddr[0] == 0xff || (p->daddr[0] == 0xfe && (p->daddr[1] & 0xc0) == 0x80);
	/* fe80::/10 or :: (DAD): not an endpoint address, only valid on-link. */
	p->src_link_local = (p->saddr[0] == 0xfe && (p->saddr[1] & 0xc0) == 0x80) ||
			    ipv6_unspecified(p->saddr);
	return 0;
}

/* 0 and p filled, or a drop reason. Non-IP frames come back with family 0. */
__always_inline_fn int parse(struct __sk_buff *skb, struct pkt *p)
{
	p->family = 0;
	p->local_only = 0;
	p->src_link_local = 0;
	p->proto = bpf_ntohs(skb->protocol);
	if (pull(skb, ETH_HLEN))
		return XDP_DROP_TRUNCATED;
	if (p->proto == ETH_P_IP)
		return parse_ipv4(skb, p);
	if (p->proto == ETH_P_IPV6)
		return parse_ipv6(skb, p);
	return 0;
}

__always_inline_fn void ep_key(struct xdp_ep_key *k, const struct pkt *p, const __u8 *addr)
{
	__builtin_memset(k, 0, sizeof(*k));
	k->family = p->family;
	if (p->family == XDP_EP_FAMILY_V4)
		__builtin_memcpy(k->addr, addr, 4);
	else
		__builtin_memcpy(k->addr, addr, 16);
}

#endif
