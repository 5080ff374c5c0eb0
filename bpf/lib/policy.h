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
 *   remote identity: xdp_ipcache_host (pod addresses, hash), else the
 *   xdp_ipcache LPM, else XDP_ID_WORLD
 *   ingress from XDP_ID_HOST                           -> allow
 *   allow entries (ep, dir, identity, proto, dport) in the xdp_policy hash:
 *   the port, the endpoint's port-range block sizes, any port, any
 *   protocol; then the same for identity XDP_ID_ANY; then the
 *   xdp_pol_cidr LPM (ep, dir, remote address) and its port set; any
 *   match                                              -> allow
 * Hash lookups except the CIDR trie (ipBlock peers, consulted last), so
 * the cost does not grow with the number of pods, identities or rules.
 * Every allowed packet that is not a reply creates or refreshes the xdp_ct
 * entry of its forward tuple with the direction that allowed it, so that
 * replies pass the other way and the rest of the connection skips the
 * policy lookups (see XDP_CT_F_* in datapath.h). Entries older than their
 * lifetime (xdp_ct_life_ns) count as absent.
 *
 * Ports: TCP, UDP and SCTP use the destination port; everything else is
 * port 0 with its protocol number. ICMP echo identifiers go into the
 * tracking key only. ICMP errors (destination unreachable, packet too big,
 * time exceeded, parameter problem) quoting a tracked connection are
 * related to it and pass like its replies. IPv6 extension headers other
 * than the fragment header are not walked: the next header is the
 * protocol, port 0. Fragments (IPv4 MF or offset, IPv6 fragment header)
 * are never matched against policy, only against conntrack: a first
 * fragment carries its ports, later fragments have ports 0, so those only
 * match port-less flows (ICMP, other protocols) and are otherwise dropped. */
#ifndef XDPATH_BPF_POLICY_H
#define XDPATH_BPF_POLICY_H

#include "maps.h"
#include "parse.h"

#ifndef IPPROTO_SCTP
#define IPPROTO_SCTP 132
#endif
#define XDP_IPV6_FRAG_HDR 44

#define ICMP_ECHOREPLY_T    0
#define ICMP_ECHO_T         8
#define ICMPV6_ECHO_REQ_T   128
#define ICMPV6_ECHO_REPLY_T 129
#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_RST 0x04
#define TCP_FLAG_ACK 0x10

#define FLOW_UNPARSED 0
#define FLOW_OK       1
#define FLOW_NOPORTS  2          /* a port-carrying packet too short for its ports */

/* The L4 view of a packet the policy needs. The program declares one per
 * packet with state FLOW_UNPARSED (flow_init); the first check fills it. */
struct flow {
	__be16 sport;
	__be16 dport;            /* policy ports, network order */
	__be16 ct_sport;
	__be16 ct_dport;         /* tracking ports: the ports, or the echo id */
	__u8 proto;
	__u8 frag;
	__u8 tcp_flags;
	__u8 icmp_err;           /* an ICMP error: rel is the tuple it quotes */
	__u8 state;              /* FLOW_*: parsed once per packet, for both checks */
	__u8 have_rev, have_fwd; /* rev / fwd looked up (both checks see the same tuples) */
	__u64 now;               /* bpf_ktime_get_ns, once per packet */
	struct xdp_ct_entry *rev; /* the reply (or related) tuple's entry, or NULL */
	struct xdp_ct_entry *fwd; /* the packet's own tuple's entry, or NULL */
	__u8 rel_saddr[16];
	__u8 rel_daddr[16];
	__be16 rel_sport;
	__be16 rel_dport;
	__u8 rel_proto;
};

__always_inline_fn int has_ports(__u8 proto)
{
	return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP;
}

__always_inline_fn int is_icmp(const struct pkt *p, __u8 proto)
{
	return p->family == XDP_EP_FAMILY_V4 ? proto == IPPROTO_ICMP : proto == IPPROTO_ICMPV6;
}

/* Tracking ports of an ICMP echo (type, id); 0 if it is no echo. */
__always_inline_fn int echo_ports(const struct pkt *p, __u8 type, __be16 id, __be16 *sport,
				  __be16 *dport)
{
	int v4 = p->family == XDP_EP_FAMILY_V4;

	if (type == (v4 ? ICMP_ECHO_T : ICMPV6_ECHO_REQ_T)) {
		*sport = id;
		return 1;
	}
	if (type == (v4 ? ICMP_ECHOREPLY_T : ICMPV6_ECHO_REPLY_T)) {
		*dport = id;
		return 1;
	}
	return 0;
}

__always_inline_fn int icmp_is_error(const struct pkt *p, __u8 type)
{
	if (p->family == XDP_EP_FAMILY_V4)
		return type == 3 || type == 11 || type == 12; /* unreach, time exceeded, param problem */
	return type >= 1 && type <= 4; /* unreach, too big, time exceeded, param problem */
}

/* The packet an ICMP error at off quotes: its addresses, protocol and
 * tracking ports into f->rel_*. 0, or -1 if too short to tell. */
__always_inline_fn int icmp_quoted(struct __sk_buff *skb, const struct pkt *p, __u32 off,
				   struct flow *f)
{
	__u8 l4[8];
	__u32 hl;

	off += 8; /* the ICMP header */
	__builtin_memset(f->rel_saddr, 0, sizeof(f->rel_saddr));
	__builtin_memset(f->rel_daddr, 0, sizeof(f->rel_daddr));
	if (p->family == XDP_EP_FAMILY_V4) {
		struct iphdr ip;

		if (off + sizeof(ip) > p->ip_len ||
		    bpf_skb_load_bytes(skb, L3_OFF + off, &ip, sizeof(ip)))
			return -1;
		hl = ip.ihl * 4;
		if (ip.version != 4 || hl < sizeof(ip))
			return -1;
		__builtin_memcpy(f->rel_saddr, &ip.saddr, 4);
		__builtin_memcpy(f->rel_daddr, &ip.daddr, 4);
		f->rel_proto = ip.protocol;
	} else {
		struct ipv6hdr ip6;

		if (off + sizeof(ip6) > p->ip_len ||
		    bpf_skb_load_bytes(skb, L3_OFF + off, &ip6, sizeof(ip6)))
			return -1;
		hl = sizeof(ip6);
		__builtin_memcpy(f->rel_saddr, &ip6.saddr, 16);
		__builtin_memcpy(f->rel_daddr, &ip6.daddr, 16);
		f->rel_proto = ip6.nexthdr;
	}
	f->rel_sport = 0;
	f->rel_dport = 0;
	off += hl;
	if (!has_ports(f->rel_proto) && !is_icmp(p, f->rel_proto))
		return 0;
	/* RFC 792 quotes at least 8 bytes past the IP header. */
	if (off + sizeof(l4) > p->ip_len || bpf_skb_load_bytes(skb, L3_OFF + off, l4, sizeof(l4)))
		return -1;
	if (has_ports(f->rel_proto)) {
		__builtin_memcpy(&f->rel_sport, &l4[0], 2);
		__builtin_memcpy(&f->rel_dport, &l4[2], 2);
	} else {
		__be16 id;

		__builtin_memcpy(&id, &l4[4], 2);
		echo_ports(p, l4[0], id, &f->rel_sport, &f->rel_dport);
	}
	return 0;
}

/* ICMP/ICMPv6 at off: echo id, or the quoted packet of an error. */
__always_inline_fn void flow_icmp(struct __sk_buff *skb, const struct pkt *p, __u32 off,
				  struct flow *f)
{
	__u8 h[8]; /* type, code, checksum, id, sequence */
	__be16 id;

	if (off + sizeof(h) > p->ip_len || bpf_skb_load_bytes(skb, L3_OFF + off, h, sizeof(h)))
		return;
	__builtin_memcpy(&id, &h[4], 2);
	if (echo_ports(p, h[0], id, &f->ct_sport, &f->ct_dport))
		return;
	if (icmp_is_error(p, h[0]) && !icmp_quoted(skb, p, off, f))
		f->icmp_err = 1;
}

/* Read the ports and TCP flags at off (inside the IP packet's ip_len).
 * 0 or -1. */
__always_inline_fn int flow_ports(struct __sk_buff *skb, const struct pkt *p, __u32 off,
				  struct flow *f)
{
	__be16 ports[2];

	if (off + sizeof(ports) > p->ip_len ||
	    bpf_skb_load_bytes(skb, L3_OFF + off, ports, sizeof(ports)))
		return -1;
	f->sport = ports[0];
	f->dport = ports[1];
	f->ct_sport = ports[0];
	f->ct_dport = ports[1];
	if (f->proto == IPPROTO_TCP && off + 14 <= p->ip_len)
		bpf_skb_load_bytes(skb, L3_OFF + off + 13, &f->tcp_flags, 1);
	return 0;
}

/* 0 and f filled, or -1 (a port-carrying packet too short for its ports). */
__always_inline_fn int flow_parse(struct __sk_buff *skb, const struct pkt *p, struct flow *f)
{
	__u32 off;

	f->sport = 0;
	f->dport = 0;
	f->ct_sport = 0;
	f->ct_dport = 0;
	f->frag = 0;
	f->tcp_flags = 0;
	f->icmp_err = 0;
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
	if (is_icmp(p, f->proto)) {
		if (!f->frag)
			flow_icmp(skb, p, off, f);
		return 0;
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
	k->sport = reverse ? f->ct_dport : f->ct_sport;
	k->dport = reverse ? f->ct_sport : f->ct_dport;
	k->proto = f->proto;
	k->family = p->family;
}

/* The key of the connection an ICMP error quotes, as it was sent. */
__always_inline_fn void ct_key_related(struct xdp_ct_key *k, const struct pkt *p,
				       const struct flow *f)
{
	__builtin_memset(k, 0, sizeof(*k));
	__builtin_memcpy(k->saddr, f->rel_saddr, 16);
	__builtin_memcpy(k->daddr, f->rel_daddr, 16);
	k->sport = f->rel_sport;
	k->dport = f->rel_dport;
	k->proto = f->rel_proto;
	k->family = p->family;
}

__always_inline_fn struct xdp_ct_entry *ct_lookup(const struct xdp_ct_key *k, __u64 now)
{
	struct xdp_ct_entry *e = bpf_map_lookup_elem(&xdp_ct, k);

	if (!e || now - e->last_seen_ns > xdp_ct_life_ns(k->proto, e->flags))
		return 0;
	return e;
}

/* Close on FIN or RST; racy updates only ever add bits. */
__always_inline_fn void ct_touch(struct xdp_ct_entry *e, const struct flow *f, __u32 add,
				 __u64 now)
{
	if (f->tcp_flags & (TCP_FLAG_FIN | TCP_FLAG_RST))
		add |= XDP_CT_F_CLOSING;
	if ((e->flags & add) != add)
		e->flags |= add;
	e->last_seen_ns = now;
}

/* Is entry e (a lookup's result) tracked with flag? Refreshes it if so
 * (add: flags to set on it). */
__always_inline_fn int ct_has(struct xdp_ct_entry *e, __u32 flag, const struct flow *f, __u32 add)
{
	if (!e || !(e->flags & flag))
		return 0;
	ct_touch(e, f, add, f->now);
	return 1;
}

/* Track the forward tuple (key k, entry e: f->fwd) as allowed by flag. An
 * expired entry, or a TCP SYN reusing a closing one, starts over. */
__always_inline_fn void ct_note(const struct xdp_ct_key *k, __u32 flag, struct flow *f)
{
	struct xdp_ct_entry *e = f->fwd;
	struct xdp_ct_entry n = {};

	if (e && !(f->tcp_flags & TCP_FLAG_SYN && e->flags & XDP_CT_F_CLOSING)) {
		ct_touch(e, f, flag, f->now);
		return;
	}
	n.last_seen_ns = f->now;
	n.flags = flag;
	bpf_map_update_elem(&xdp_ct, k, &n, BPF_ANY);
	f->have_fwd = 0; /* a new entry: the other check looks it up again */
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
	v = bpf_map_lookup_elem(&xdp_ipcache_host, &k); /* pods: O(1) */
	if (!v)
		v = bpf_map_lookup_elem(&xdp_ipcache, &k); /* prefixes, if any */
	return v ? v->identity : XDP_ID_WORLD;
}

/* An allow entry of (ep, dir) for identity that covers the packet: the
 * exact port, any port of its protocol, any protocol, then a block of each
 * size the endpoint has (blocks: bit k-1 for 2^k ports). Hash lookups
 * only: the cost does not depend on how many entries exist. */
__always_inline_fn int pol_match(__u32 ep_id, __u8 dir, __u32 identity, const struct flow *f,
				 __u32 blocks)
{
	__u16 port = bpf_ntohs(f->dport);
	struct xdp_pol_key k;

	__builtin_memset(&k, 0, sizeof(k));
	k.prefixlen = XDP_POL_PREFIX_PORT;
	k.ep_id = ep_id;
	k.dir = dir;
	k.identity = identity;
	k.proto = f->proto;
	k.dport = f->dport;
	if (bpf_map_lookup_elem(&xdp_policy, &k))
		return 1;
	for (int b = 1; b < 16; b++) {
		if (!(blocks & (1u << (b - 1))))
			continue;
		k.prefixlen = XDP_POL_PREFIX_BLOCK(b);
		k.dport = bpf_htons(port & ~((1u << b) - 1));
		if (bpf_map_lookup_elem(&xdp_policy, &k))
			return 1;
	}
	k.prefixlen = XDP_POL_PREFIX_ANY_PORT;
	k.dport = 0;
	if (bpf_map_lookup_elem(&xdp_policy, &k))
		return 1;
	k.prefixlen = XDP_POL_PREFIX_ANY_PROTO;
	k.proto = 0;
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

/* 0 to allow, or why it is denied (XDP_POL_WHY_*): endpoint ep_id's check
 * in direction dir (remote: the other end's address). */
__always_inline_fn int policy_check(struct __sk_buff *skb, const struct pkt *p, struct flow *f,
				    __u32 ep_id, __u8 dir)
{
	const struct xdp_config *cfg = config_get();
	__u32 flag = dir == XDP_DIR_INGRESS ? XDP_CT_F_INGRESS : XDP_CT_F_EGRESS;
	__u32 other = dir == XDP_DIR_INGRESS ? XDP_CT_F_EGRESS : XDP_CT_F_INGRESS;
	__u32 iso = dir == XDP_DIR_INGRESS ? XDP_EP_POL_INGRESS_ISOLATED
					   : XDP_EP_POL_EGRESS_ISOLATED;
	const __u8 *remote = dir == XDP_DIR_INGRESS ? p->saddr : p->daddr;
	struct xdp_ep_pol *ep;
	struct xdp_ct_key k;
	__u32 id, blocks;

	if (!cfg || !(cfg->flags & XDP_CFG_F_POLICY))
		return 0;
	if (p->family != XDP_EP_FAMILY_V4 && p->family != XDP_EP_FAMILY_V6)
		return XDP_POL_WHY_FAMILY;
	ep = bpf_map_lookup_elem(&xdp_ep_policy, &ep_id);
	if (!ep || !(ep->flags & XDP_EP_POL_READY))
		return XDP_POL_WHY_NOT_READY;
	if (f->state == FLOW_UNPARSED) {
		f->state = flow_parse(skb, p, f) ? FLOW_NOPORTS : FLOW_OK;
		f->now = bpf_ktime_get_ns();
	}
	if (f->state != FLOW_OK) /* no ports to match or track */
		return ep->flags & iso ? XDP_POL_WHY_NO_PORTS : 0;
	/* A reply, or an error about a packet: the other direction's check
	 * allowed the connection. (Both checks of a packet share the lookups.) */
	if (!f->have_rev) {
		if (f->icmp_err)
			ct_key_related(&k, p, f);
		else
			ct_key(&k, p, f, 1);
		f->rev = ct_lookup(&k, f->now);
		f->have_rev = 1;
	}
	if (ct_has(f->rev, other, f, f->icmp_err ? 0 : XDP_CT_F_REPLIED))
		return 0;
	/* The rest of a connection this check allowed; a TCP SYN opens a new
	 * one (even on a reused tuple) and always meets the policy. */
	ct_key(&k, p, f, 0);
	if (!f->have_fwd) {
		f->fwd = ct_lookup(&k, f->now);
		f->have_fwd = 1;
	}
	if ((f->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) != TCP_FLAG_SYN &&
	    ct_has(f->fwd, flag, f, 0))
		return 0;
	if (!(ep->flags & iso)) {
		if (!f->frag)
			ct_note(&k, flag, f);
		return 0;
	}
	if (f->frag)
		return XDP_POL_WHY_FRAGMENT;
	blocks = ep->blocks[dir & 1];
	id = remote_identity(p, remote);
	if (!(id == XDP_ID_HOST && dir == XDP_DIR_INGRESS) &&
	    !pol_match(ep_id, dir, id, f, blocks) &&
	    !pol_match(ep_id, dir, XDP_ID_ANY, f, blocks) &&
	    !cidr_match(ep_id, dir, p, remote, f))
		return XDP_POL_WHY_NO_RULE;
	ct_note(&k, flag, f);
	return 0;
}

__always_inline_fn void flow_init(struct flow *f)
{
	f->state = FLOW_UNPARSED;
	f->have_rev = 0;
	f->have_fwd = 0;
	f->rev = 0;
	f->fwd = 0;
}

/* Count a policy drop against the endpoint and direction (stats.h) and
 * put it on the xdp_events ring buffer for `xdpathctl policy drops`. */
__always_inline_fn int policy_drop(struct __sk_buff *skb, const struct pkt *p,
				   const struct flow *f, __u32 ep_id, __u8 dir, int why)
{
	struct xdp_drop_event *ev = bpf_ringbuf_reserve(&xdp_events, sizeof(*ev), 0);

	if (ev) {
		ev->ts_ns = bpf_ktime_get_ns();
		ev->ep_id = ep_id;
		ev->len = skb->len;
		ev->reason = XDP_DROP_POLICY;
		ev->dir = dir;
		ev->why = (__u8)why;
		ev->family = p->family;
		ev->proto = f->state == FLOW_UNPARSED ? p->l4proto : f->proto;
		ev->pad[0] = ev->pad[1] = ev->pad[2] = 0;
		ev->sport = f->state == FLOW_UNPARSED ? 0 : f->sport;
		ev->dport = f->state == FLOW_UNPARSED ? 0 : f->dport;
		__builtin_memcpy(ev->saddr, p->saddr, 16);
		__builtin_memcpy(ev->daddr, p->daddr, 16);
		bpf_ringbuf_submit(ev, 0);
	}
	return drop_policy(skb, ep_id, dir);
}

/* 0 to allow, or why not (XDP_POL_WHY_*): the source endpoint's egress policy. */
__always_inline_fn int policy_egress(struct __sk_buff *skb, const struct pkt *p, struct flow *f,
				     const struct xdp_ep_info *src)
{
	return policy_check(skb, p, f, src->ep_id, XDP_DIR_EGRESS);
}

/* 0 to allow, or why not (XDP_POL_WHY_*): the destination endpoint's ingress policy. */
__always_inline_fn int policy_ingress(struct __sk_buff *skb, const struct pkt *p, struct flow *f,
				      const struct xdp_ep_info *dst)
{
	return policy_check(skb, p, f, dst->ep_id, XDP_DIR_INGRESS);
}

#endif
