/* policy: the NetworkPolicy check points. Egress is checked at from-pod,
 * ingress before delivery; both see the parsed packet and the endpoints.
 *
 * Nothing is enforced unless the agent sets XDP_CFG_F_POLICY in xdp_config
 * (it does once it has written the policy state). With the flag, the
 * decision is exactly policy/sim.c's (policy_sim), over the maps of
 * include/xdpath/policy.h:
 *   no xdp_ep_policy entry, or not XDP_EP_POL_READY   -> deny (fail closed)
 *   a reply of a tracked connection (xdp_ct)           -> allow
 *   not isolated in this direction                     -> allow
 *   remote identity: ipcache longest match, else XDP_ID_WORLD
 *   ingress from XDP_ID_HOST                           -> allow
 *   xdp_policy LPM (ep, dir, identity, proto, dport), then identity
 *   XDP_ID_ANY; then xdp_pol_cidr LPM (ep, dir, remote address) and its
 *   port set; any match                                -> allow
 * Every allowed packet that is not a reply creates or refreshes the xdp_ct
 * entry of its forward tuple with the direction that allowed it, so that
 * replies pass the other way (see XDP_CT_F_* in datapath.h).
 *
 * Ports: TCP, UDP and SCTP use the destination port; everything else is
 * port 0 with its protocol number. IPv6 extension headers are not walked:
 * the next header is the protocol, port 0. Fragments (IPv4 MF or offset,
 * IPv6 fragment header) are never matched against policy, only against
 * conntrack: a first fragment carries its ports, later fragments have
 * ports 0, so those only match port-less flows (ICMP, other protocols) and
 * are otherwise dropped.
 *
 * Not done: ICMP errors (destination unreachable, packet too big, time
 * exceeded) are not related to the connection they quote; they go through
 * policy like any ICMP packet. */
/* KNOWN BUG (blocks enabling XDP_CFG_F_POLICY; see issue 4's closing note):
 * the conntrack key of ICMP/ICMPv6 has both ports 0, without the echo
 * identifier, and entries never expire, so all pings between two pods are
 * one "connection" and later pings pass as replies even under deny. Fix:
 * echo id in the ct key only ((id,0) request, (0,id) reply) and timeouts. */
#ifndef XDPATH_BPF_POLICY_H
#define XDPATH_BPF_POLICY_H

#include "maps.h"
#include "parse.h"

#ifndef IPPROTO_SCTP
#define IPPROTO_SCTP 132
#endif
#define XDP_IPV6_FRAG_HDR 44

/* The L4 view of a packet the policy needs. */
struct flow {
	__be16 sport;
	__be16 dport;            /* network order */
	__u8 proto;
	__u8 frag;
};

__always_inline_fn int has_ports(__u8 proto)
{
	return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP;
}

/* Read the two ports at off (inside the IP packet's ip_len). 0 or -1. */
__always_inline_fn int flow_ports(struct __sk_buff *skb, const struct pkt *p, __u32 off,
				  struct flow *f)
{
	__be16 ports[2];

	if (off + sizeof(ports) > p->ip_len ||
	    bpf_skb_load_bytes(skb, L3_OFF + off, ports, sizeof(ports)))
		return -1;
	f->sport = ports[0];
	f->dport = ports[1];
	return 0;
}

/* 0 and f filled, or -1 (a port-carrying packet too short for its ports). */
__always_inline_fn int flow_parse(struct __sk_buff *skb, const struct pkt *p, struct flow *f)
{
	__u32 off;

	f->sport = 0;
	f->dport = 0;
	f->frag = 0;
	f->proto = p->l4proto;
	if (p->family == XDP_EP_FAMILY_V4) {
		__u8 vihl;
		__be16 frag_off;

		if (bpf_skb_load_bytes(skb, L3_OFF, &vihl, 1) ||
		    bpf_skb_load_bytes(skb, L3_OFF + 6, &frag_off, 2))
			return -1;
		off = (vihl & 0x0f) * 4;
		if (frag_off & bpf_htons(0x3fff)) { /* MF or an offset */
			f->frag = 1;
			if (frag_off & bpf_htons(0x1fff))
				return 0; /* no L4 header here */
		}
	} else {
		off = sizeof(struct ipv6hdr);
		if (f->proto == XDP_IPV6_FRAG_HDR) {
			__u8 fh[4]; /* nexthdr, reserved, offset (13 bits) + flags */

			f->frag = 1;
			if (bpf_skb_load_bytes(skb, L3_OFF + off, fh, sizeof(fh)))
				return 0; /* ct lookup on the fragment header's proto */
			f->proto = fh[0];
			if (((fh[2] << 8) | fh[3]) & 0xfff8)
				return 0;
			off += 8;
		}
	}
	if (!has_ports(f->proto))
		return 0;
	if (flow_ports(skb, p, off, f))
		return f->frag ? 0 : -1; /* a first fragment may be cut before the ports */
	return 0;
}

/* The xdp_ct key of the packet as seen (reverse: with source and
 * destination swapped). */
__always_inline_fn void ct_key(struct xdp_ct_key *k, const struct pkt *p, const struct flow *f,
			       int reverse)
{
	const __u8 *s = reverse ? p->daddr : p->saddr;
	const __u8 *d = reverse ? p->saddr : p->daddr;

	__builtin_memset(k, 0, sizeof(*k));
	if (p->family == XDP_EP_FAMILY_V4) {
		__builtin_memcpy(k->saddr, s, 4);
		__builtin_memcpy(k->daddr, d, 4);
	} else {
		__builtin_memcpy(k->saddr, s, 16);
		__builtin_memcpy(k->daddr, d, 16);
	}
	k->sport = reverse ? f->dport : f->sport;
	k->dport = reverse ? f->sport : f->dport;
	k->proto = f->proto;
	k->family = p->family;
}

/* Is the tuple in k tracked with flag? Refreshes it if so. */
__always_inline_fn int ct_has(const struct xdp_ct_key *k, __u32 flag)
{
	struct xdp_ct_entry *e = bpf_map_lookup_elem(&xdp_ct, k);

	if (!e || !(e->flags & flag))
		return 0;
	e->last_seen_ns = bpf_ktime_get_ns();
	return 1;
}

/* Track the forward tuple in k as allowed by flag. */
__always_inline_fn void ct_note(const struct xdp_ct_key *k, __u32 flag)
{
	struct xdp_ct_entry *e = bpf_map_lookup_elem(&xdp_ct, k);
	struct xdp_ct_entry n = {};

	if (e) {
		e->last_seen_ns = bpf_ktime_get_ns();
		if (!(e->flags & flag))
			e->flags |= flag; /* racy but only ever adds a bit */
		return;
	}
	n.last_seen_ns = bpf_ktime_get_ns();
	n.flags = flag;
	bpf_map_update_elem(&xdp_ct, k, &n, BPF_NOEXIST);
}

__always_inline_fn void addr_copy(__u8 *dst, const struct pkt *p, const __u8 *addr)
{
	if (p->family == XDP_EP_FAMILY_V4)
		__builtin_memcpy(dst, addr, 4);
	else
		__builtin_memcpy(dst, addr, 16);
}

__always_inline_fn __u32 addr_bits(const struct pkt *p)
{
	return p->family == XDP_EP_FAMILY_V4 ? 32 : 128;
}

__always_inline_fn __u32 remote_identity(const struct pkt *p, const __u8 *remote)
{
	struct xdp_cidr_key k;
	struct xdp_ipcache_val *v;

	__builtin_memset(&k, 0, sizeof(k));
	k.prefixlen = XDP_CIDR_PREFIX(addr_bits(p));
	k.family = p->family;
	addr_copy(k.addr, p, remote);
	v = bpf_map_lookup_elem(&xdp_ipcache, &k);
	return v ? v->identity : XDP_ID_WORLD;
}

__always_inline_fn int pol_match(__u32 ep_id, __u8 dir, __u32 identity, const struct flow *f)
{
	struct xdp_pol_key k;

	__builtin_memset(&k, 0, sizeof(k));
	k.prefixlen = XDP_POL_PREFIX_PORT;
	k.ep_id = ep_id;
	k.dir = dir;
	k.identity = identity;
	k.proto = f->proto;
	k.dport = f->dport;
	return bpf_map_lookup_elem(&xdp_policy, &k) != NULL;
}

/* portset_allows (policy/portset.c). */
__always_inline_fn int portset_match(const struct xdp_portset *ps, __u8 proto, __u16 port)
{
	__u32 n = ps->nranges;

	if (ps->flags & XDP_PORTSET_ALL)
		return 1;
#pragma unroll
	for (int i = 0; i < XDP_PORTSET_MAX; i++) {
		const struct xdp_port_range *r = &ps->r[i];

		if ((__u32)i >= n)
			break;
		if (r->proto && r->proto != proto)
			continue;
		if ((!r->lo && !r->hi) || (port >= r->lo && port <= r->hi))
			return 1;
	}
	return 0;
}

__always_inline_fn int cidr_match(__u32 ep_id, __u8 dir, const struct pkt *p, const __u8 *remote,
				  const struct flow *f)
{
	struct xdp_polcidr_key k;
	struct xdp_portset *ps;

	__builtin_memset(&k, 0, sizeof(k));
	k.prefixlen = XDP_POLCIDR_PREFIX(addr_bits(p));
	k.ep_id = ep_id;
	k.dir = dir;
	k.family = p->family;
	addr_copy(k.addr, p, remote);
	ps = bpf_map_lookup_elem(&xdp_pol_cidr, &k);
	return ps && portset_match(ps, f->proto, bpf_ntohs(f->dport));
}

/* 0 to allow, or XDP_DROP_POLICY: endpoint ep_id's check in direction dir
 * (remote: the other end's address). */
__always_inline_fn int policy_check(struct __sk_buff *skb, const struct pkt *p, __u32 ep_id,
				    __u8 dir)
{
	const struct xdp_config *cfg = config_get();
	__u32 flag = dir == XDP_DIR_INGRESS ? XDP_CT_F_INGRESS : XDP_CT_F_EGRESS;
	__u32 other = dir == XDP_DIR_INGRESS ? XDP_CT_F_EGRESS : XDP_CT_F_INGRESS;
	__u32 iso = dir == XDP_DIR_INGRESS ? XDP_EP_POL_INGRESS_ISOLATED
					   : XDP_EP_POL_EGRESS_ISOLATED;
	const __u8 *remote = dir == XDP_DIR_INGRESS ? p->saddr : p->daddr;
	struct xdp_ep_pol *ep;
	struct xdp_ct_key k;
	struct flow f;
	__u32 id;

	if (!cfg || !(cfg->flags & XDP_CFG_F_POLICY))
		return 0;
	if (p->family != XDP_EP_FAMILY_V4 && p->family != XDP_EP_FAMILY_V6)
		return XDP_DROP_POLICY;
	ep = bpf_map_lookup_elem(&xdp_ep_policy, &ep_id);
	if (!ep || !(ep->flags & XDP_EP_POL_READY))
		return XDP_DROP_POLICY;
	if (flow_parse(skb, p, &f)) /* no ports to match or track */
		return ep->flags & iso ? XDP_DROP_POLICY : 0;
	/* A reply: the other direction's check allowed the connection. */
	ct_key(&k, p, &f, 1);
	if (ct_has(&k, other))
		return 0;
	ct_key(&k, p, &f, 0);
	if (!(ep->flags & iso)) {
		if (!f.frag)
			ct_note(&k, flag);
		return 0;
	}
	if (f.frag)
		return ct_has(&k, flag) ? 0 : XDP_DROP_POLICY;
	id = remote_identity(p, remote);
	if (!(id == XDP_ID_HOST && dir == XDP_DIR_INGRESS) &&
	    !pol_match(ep_id, dir, id, &f) && !pol_match(ep_id, dir, XDP_ID_ANY, &f) &&
	    !cidr_match(ep_id, dir, p, remote, &f))
		return XDP_DROP_POLICY;
	ct_note(&k, flag);
	return 0;
}

/* 0 to allow, or a drop reason: the source endpoint's egress policy. */
__always_inline_fn int policy_egress(struct __sk_buff *skb, const struct pkt *p,
				     const struct xdp_ep_info *src)
{
	return policy_check(skb, p, src->ep_id, XDP_DIR_EGRESS);
}

/* 0 to allow, or a drop reason: the destination endpoint's ingress policy. */
__always_inline_fn int policy_ingress(struct __sk_buff *skb, const struct pkt *p,
				      const struct xdp_ep_info *dst)
{
	return policy_check(skb, p, dst->ep_id, XDP_DIR_INGRESS);
}

#endif
