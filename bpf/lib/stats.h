/* stats: drop reasons, forwarding verdicts and per-endpoint counters.
 * Every drop goes through drop(), so no drop path goes uncounted. */
#ifndef XDPATH_BPF_STATS_H
#define XDPATH_BPF_STATS_H

#include "maps.h"

__always_inline_fn void counter_add(void *map, __u32 idx, __u64 bytes)
{
	struct xdp_counter *c = bpf_map_lookup_elem(map, &idx);

	if (c) {
		c->packets++;
		c->bytes += bytes;
	}
}

__always_inline_fn struct xdp_ep_stats *ep_stats(__u32 ep_id)
{
	struct xdp_ep_stats *s = bpf_map_lookup_elem(&xdp_ep_stats, &ep_id);
	struct xdp_ep_stats zero = {};

	if (s || !ep_id)
		return s;
	bpf_map_update_elem(&xdp_ep_stats, &ep_id, &zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(&xdp_ep_stats, &ep_id);
}

__always_inline_fn void ep_tx(__u32 ep_id, __u64 bytes)
{
	struct xdp_ep_stats *s = ep_stats(ep_id);

	if (s) {
		s->tx_packets++;
		s->tx_bytes += bytes;
	}
}

__always_inline_fn void ep_rx(__u32 ep_id, __u64 bytes)
{
	struct xdp_ep_stats *s = ep_stats(ep_id);

	if (s) {
		s->rx_packets++;
		s->rx_bytes += bytes;
	}
}

/* Count a drop against its reason (and the endpoint, if known). */
__always_inline_fn int drop(struct __sk_buff *skb, enum xdp_drop_reason reason, __u32 ep_id)
{
	struct xdp_ep_stats *s;

	counter_add(&xdp_drops, reason, skb->len);
	if (ep_id && (s = ep_stats(ep_id)))
		s->drops++;
	return TC_ACT_SHOT;
}

/* A NetworkPolicy drop, counted against the endpoint whose policy denied
 * it and the direction. */
__always_inline_fn int drop_policy(struct __sk_buff *skb, __u32 ep_id, __u8 dir)
{
	struct xdp_ep_stats *s;

	counter_add(&xdp_drops, XDP_DROP_POLICY, skb->len);
	if ((s = ep_stats(ep_id))) {
		s->drops++;
		if (dir == XDP_DIR_INGRESS)
			s->policy_denied_ingress++;
		else
			s->policy_denied_egress++;
	}
	return TC_ACT_SHOT;
}

__always_inline_fn int fwd(struct __sk_buff *skb, enum xdp_fwd how, int verdict)
{
	counter_add(&xdp_fwd, how, skb->len);
	return verdict;
}

#endif
