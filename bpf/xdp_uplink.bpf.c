// SPDX-License-Identifier: GPL-2.0
/* xdp_uplink: XDP on the node's uplink, the earliest hook for every packet
 * that reaches the node: the emergency drop filters (lib/filter.h) of scope
 * "uplink" run here, in front of the host stack and of to_pod (TC). A
 * packet they do not drop goes on unchanged. Declares frags support, so
 * GRO/TSO-sized frames on veth are not refused; the summary reads them
 * with bpf_xdp_load_bytes, which sees every fragment. */
#define XF_CTX struct xdp_md
#define XF_LOAD(ctx, off, to, n) bpf_xdp_load_bytes(ctx, off, to, n)
#define XF_LEN(ctx) ((__u32)bpf_xdp_get_buff_len(ctx))

#include "lib/common.h"
#include "lib/filter.h"
#include "lib/maps.h"
#include "lib/stats.h"

SEC("xdp.frags")
int xdp_uplink(struct xdp_md *ctx)
{
	__u32 len;

	if (xf_run_filters(ctx, XF_SCOPE_UPLINK, ctx->ingress_ifindex, &len) == XF_PASS)
		return XDP_PASS;
	counter_add(&xdp_drops, XDP_DROP_FILTER, len);
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
