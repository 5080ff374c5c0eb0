// SPDX-License-Identifier: GPL-2.0
/* pod_entry: TC ingress of a pod's host-side veth, the program the CNI
 * attaches (pinned as prog_from_pod). The emergency filters of scope "pods"
 * (lib/filter.h) see the frame as the pod sent it, before anything parses
 * it; then a tail call to from_pod (xdp_pod_progs[XDP_POD_PROG_MAIN]).
 * A tail call, not one program: from_pod's stack and the filters' together
 * exceed the verifier's 512 bytes; and two objects verify in parallel at the
 * agent's start. TC, not XDP on the host veth: XDP on a veth turns every GSO
 * packet the pod sends into XDP frames (agent/main.c measured 3-4x less
 * throughput), a cost every pod would pay for filters that are usually
 * empty.
 *
 * In vxlan mode the agent also attaches it at TC ingress of the tunnel
 * device (xdp_config.tunnel_ifindex): pod traffic from other nodes reached
 * the uplink's XDP encapsulated, so the filters of scope "uplink" see it
 * here again, decapsulated, as the sending pod sent it; then a tail call to
 * to_pod (xdp_tunnel_progs). One program for both, not two: the filters
 * are most of the verifier's work at start-up. */
#define XF_CTX struct __sk_buff
#define XF_LOAD(ctx, off, to, n) bpf_skb_load_bytes(ctx, off, to, n)
#define XF_LEN(ctx) ((ctx)->len)

#include "lib/common.h"
#include "lib/filter.h"
#include "lib/maps.h"
#include "lib/stats.h"

/* Set by the loader before pod_entry is pinned. Pinned: a prog array's
 * entries are dropped when its last user reference goes, and attached
 * pod_entry programs outlive the agent. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xdp_pod_progs SEC(".maps");

/* The same, on the tunnel device: to_pod. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xdp_tunnel_progs SEC(".maps");

SEC("tc")
int pod_entry(struct __sk_buff *skb)
{
	const struct xdp_config *cfg = config_get();
	int tunnel = cfg && cfg->tunnel_ifindex && skb->ingress_ifindex == cfg->tunnel_ifindex;
	__u32 len;

	if (xf_run_filters(skb, tunnel ? XF_SCOPE_UPLINK : XF_SCOPE_PODS, skb->ingress_ifindex,
			   &len) == XF_DROP)
		return drop(skb, XDP_DROP_FILTER, 0);
	if (tunnel)
		bpf_tail_call(skb, &xdp_tunnel_progs, 0);
	else
		bpf_tail_call(skb, &xdp_pod_progs, XDP_POD_PROG_MAIN);
	return drop(skb, XDP_DROP_NO_PROG, 0); /* fail closed: never around policy */
}

char LICENSE[] SEC("license") = "GPL";
