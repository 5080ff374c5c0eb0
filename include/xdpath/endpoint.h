/* endpoint: the record of one pod attachment, shared by the CNI plugin (which
 * writes it), the agent (which loads it into BPF maps) and the BPF datapath
 * (which keys on it). Plain fixed-size types only, so this header compiles for
 * both the BPF target and userspace.
 *
 * The datapath keys endpoints by address: one xdp_ep_key per pod IP, all
 * mapping to the same xdp_ep_info. Everything the from-pod and to-pod programs
 * need to deliver a packet (bpf_redirect_peer target, MAC rewrite) is in the
 * value, so delivery is one hash lookup. */
#ifndef XDPATH_ENDPOINT_H
#define XDPATH_ENDPOINT_H

#ifdef __bpf__
#include <linux/types.h>
#else
#include <linux/types.h>
#endif

#define XDP_EP_FAMILY_V4 4
#define XDP_EP_FAMILY_V6 6

/* Map key: one pod address. IPv4 uses addr[0..3], the rest zero. */
struct xdp_ep_key {
	__u8 family;      /* XDP_EP_FAMILY_V4 / _V6 */
	__u8 pad[3];
	__u8 addr[16];    /* network byte order */
};

#define XDP_EP_F_READY   (1u << 0) /* datapath state (policy) installed */

/* Map value: how to reach the endpoint. */
struct xdp_ep_info {
	__u32 host_ifindex;   /* host-side veth, in the node netns: bpf_redirect_peer target */
	__u32 pod_ifindex;    /* pod-side interface index, in the pod netns */
	__u8 host_mac[6];     /* source MAC for frames delivered to the pod */
	__u8 pod_mac[6];      /* destination MAC for frames delivered to the pod */
	__u32 ep_id;          /* endpoint id (the host veth ifindex today) */
	__u32 flags;          /* XDP_EP_F_* */
};

/* The pod's default gateway: a link-local address owned by every host veth. */
#define XDP_GW4 "169.254.1.1"
#define XDP_GW6 "fe80::1"

/* Where the CNI plugin writes one JSON record per attachment
 * (<dir>/<containerID>:<ifname>.json, schema in docs/architecture.md). */
#define XDP_DEFAULT_ENDPOINT_DIR "/run/xdpath/endpoints"

#endif
