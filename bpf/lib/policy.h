/* policy: the NetworkPolicy check points (issue 4 fills them in). Egress is
 * checked at from-pod, ingress before delivery; both see the parsed packet
 * and the endpoints. Connection tracking lives in xdp_ct. */
#ifndef XDPATH_BPF_POLICY_H
#define XDPATH_BPF_POLICY_H

#include "parse.h"

/* 0 to allow, or a drop reason. No policy yet: everything is allowed. */
__always_inline_fn int policy_egress(struct __sk_buff *skb, const struct pkt *p,
				     const struct xdp_ep_info *src)
{
	(void)skb;
	(void)p;
	(void)src;
	return 0;
}

__always_inline_fn int policy_ingress(struct __sk_buff *skb, const struct pkt *p,
				      const struct xdp_ep_info *dst)
{
	(void)skb;
	(void)p;
	(void)dst;
	return 0;
}

#endif
