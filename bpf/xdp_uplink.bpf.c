// SPDX-License-Identifier: GPL-2.0
/* xdp_uplink: XDP on the node's uplink, the earliest hook for every packet
 * that reaches the node. Today it passes everything; it is where the
 * emergency drop filters (issue 6) run, in front of to_pod. Declares
 * frags support so that GRO/TSO-sized frames on veth are not refused. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp.frags")
int xdp_uplink(struct xdp_md *ctx)
{
	(void)ctx;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
