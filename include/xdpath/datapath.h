/* datapath: every BPF map shared by the agent, the CNI plugin and the BPF
 * programs, by pin name, with its key and value. Plain fixed-size types only
 * (this header compiles for the BPF target and for userspace).
 *
 * All pins live under one root directory on bpffs (default /sys/fs/bpf/xdpath,
 * one root per agent so several sandbox nodes can share a machine):
 *   <root>/<XDP_PIN_*>            maps
 *   <root>/prog_<name>            programs the CNI attaches to new pods */
#ifndef XDPATH_DATAPATH_H
#define XDPATH_DATAPATH_H

#include <linux/types.h>

#include "endpoint.h"

#define XDP_DEFAULT_PIN_ROOT "/sys/fs/bpf/xdpath"

/* Map pin names (= the map names in the BPF objects). */
#define XDP_PIN_ENDPOINTS "xdp_endpoints" /* HASH   xdp_ep_key -> xdp_ep_info */
#define XDP_PIN_NODES     "xdp_nodes"     /* LPM    xdp_cidr_key -> xdp_node_info */
#define XDP_PIN_CONFIG    "xdp_config"    /* ARRAY  [0] -> xdp_config */
#define XDP_PIN_DROPS     "xdp_drops"     /* PERCPU_ARRAY [reason] -> xdp_counter */
#define XDP_PIN_FWD       "xdp_fwd"       /* PERCPU_ARRAY [xdp_fwd] -> xdp_counter */
#define XDP_PIN_EP_STATS  "xdp_ep_stats"  /* PERCPU_HASH ep_id -> xdp_ep_stats */
#define XDP_PIN_CT        "xdp_ct"        /* LRU_HASH xdp_ct_key -> xdp_ct_entry (policy, issue 4) */
#define XDP_PIN_EVENTS    "xdp_events"    /* RINGBUF of struct xdp_drop_event (policy drops) */

/* Program pins: the CNI attaches prog_from_pod to each new host veth. */
#define XDP_PIN_PROG_FROM_POD "prog_from_pod"
#define XDP_PIN_POD_PROGS "xdp_pod_progs"  /* PROG_ARRAY: pod_entry tail calls from_pod */
#define XDP_POD_PROG_MAIN 0
#define XDP_PIN_TUNNEL_PROGS "xdp_tunnel_progs"  /* PROG_ARRAY: pod_entry on xdpvx0 tail calls to_pod */

#define XDP_MAX_ENDPOINTS 65536
#define XDP_MAX_NODES     4096
#define XDP_MAX_CT        262144
#define XDP_EVENTS_BYTES  (256 * 1024)

/* Why a packet was dropped. Every drop path in bpf/ records one of these;
 * the names (xdp_drop_names in agent/) are what operators see. Append only:
 * the values index a pinned map that survives upgrades. */
enum xdp_drop_reason {
	XDP_DROP_NONE = 0,
	XDP_DROP_TRUNCATED,      /* shorter than the headers it claims */
	XDP_DROP_BAD_IP,         /* malformed IPv4/IPv6 header (ihl, version, lengths) */
	XDP_DROP_SPOOF_MAC,      /* source MAC is not the endpoint's */
	XDP_DROP_SPOOF_IP,       /* source IP is not the endpoint's */
	XDP_DROP_NO_ENDPOINT,    /* from-pod on a veth with no endpoint */
	XDP_DROP_FIB,            /* no route for a remote pod CIDR */
	XDP_DROP_TUNNEL,         /* could not set the tunnel key */
	XDP_DROP_REDIRECT,       /* a redirect helper failed */
	XDP_DROP_POLICY,         /* denied by NetworkPolicy (issue 4) */
	XDP_DROP_NOT_READY,      /* endpoint known but its datapath state is not ready */
	XDP_DROP_UNSUPPORTED,    /* ethertype/protocol the datapath refuses from pods */
	XDP_DROP_FILTER,         /* an emergency filter (issue 6) dropped it */
	XDP_DROP_NO_PROG,        /* pod_entry found no from_pod to tail call */
	XDP_DROP_MAX,
};

/* Why NetworkPolicy denied a packet (the detail of XDP_DROP_POLICY). */
enum xdp_pol_why {
	XDP_POL_WHY_NONE = 0,
	XDP_POL_WHY_NOT_READY,   /* the endpoint's policy state is not written (new pod, map full) */
	XDP_POL_WHY_NO_RULE,     /* isolated in this direction and no rule allows it */
	XDP_POL_WHY_FRAGMENT,    /* a later fragment of an untracked flow */
	XDP_POL_WHY_NO_PORTS,    /* too short to read its ports, isolated */
	XDP_POL_WHY_FAMILY,      /* neither IPv4 nor IPv6 */
	XDP_POL_WHY_MAX,
};

/* One policy drop, on the xdp_events ring buffer (best effort: dropped
 * when the agent does not keep up). */
struct xdp_drop_event {
	__u64 ts_ns;             /* bpf_ktime_get_ns */
	__u32 ep_id;             /* the endpoint whose policy denied it */
	__u32 len;               /* packet length */
	__u8 reason;             /* enum xdp_drop_reason */
	__u8 dir;                /* XDP_DIR_INGRESS / XDP_DIR_EGRESS */
	__u8 why;                /* enum xdp_pol_why */
	__u8 family;             /* XDP_EP_FAMILY_* */
	__u8 proto;
	__u8 pad[3];
	__be16 sport, dport;     /* network order; 0 for protocols without ports */
	__u8 saddr[16];
	__u8 daddr[16];
};

/* How a packet left the datapath. */
enum xdp_fwd {
	XDP_FWD_PEER = 0,        /* bpf_redirect_peer into a local pod */
	XDP_FWD_NEIGH,           /* bpf_redirect_neigh out of the uplink (native routing) */
	XDP_FWD_TUNNEL,          /* encapsulated to a remote node (vxlan) */
	XDP_FWD_STACK,           /* handed to the host stack (outside the cluster, node IPs, ARP/ND, TTL expiry, too big) */
	XDP_FWD_MAX,
};

struct xdp_counter {
	__u64 packets;
	__u64 bytes;
};

/* Per-endpoint traffic (PERCPU_HASH keyed by ep_id). */
struct xdp_ep_stats {
	__u64 tx_packets;        /* from the pod */
	__u64 tx_bytes;
	__u64 rx_packets;        /* delivered to the pod by the datapath */
	__u64 rx_bytes;
	__u64 drops;             /* every drop counted against the endpoint */
	__u64 policy_denied_ingress; /* of those: its ingress policy denied (packets) */
	__u64 policy_denied_egress;  /* its egress policy denied */
};

/* LPM key for a CIDR of either family: prefixlen counts the 32 bits of
 * family+pad, then the address bits (so IPv4 /24 -> 32 + 24). */
struct xdp_cidr_key {
	__u32 prefixlen;
	__u8 family;             /* XDP_EP_FAMILY_V4 / _V6 */
	__u8 pad[3];
	__u8 addr[16];
};
#define XDP_CIDR_PREFIX(plen) (32 + (plen))

/* A remote node that owns a pod CIDR. */
struct xdp_node_info {
	__u32 node_ip4;          /* underlay IPv4 (network order): tunnel endpoint / next hop */
	__u8 node_ip6[16];       /* underlay IPv6, all zero if none */
	__u32 node_id;
};

enum xdp_mode {
	XDP_MODE_NATIVE = 0,     /* bpf_fib_lookup + bpf_redirect_neigh on the uplink */
	XDP_MODE_VXLAN = 1,      /* bpf_skb_set_tunnel_key + redirect to the vxlan device */
};

#define XDP_CFG_F_READY (1u << 0) /* the agent finished loading and reconciling */
#define XDP_CFG_F_POLICY (1u << 1) /* enforce NetworkPolicy (the agent sets it once it writes policy state) */

/* Node-wide datapath configuration (ARRAY, one element), written by the agent. */
struct xdp_config {
	__u32 flags;             /* XDP_CFG_F_* */
	__u32 mode;              /* enum xdp_mode */
	__u32 uplink_ifindex;
	__u32 tunnel_ifindex;    /* collect_md vxlan device (vxlan mode) */
	__u32 vni;
	__u32 node_ip4;          /* this node's underlay IPv4 (network order) */
	__u8 node_ip6[16];
	__u32 cluster4;          /* cluster pod CIDR, IPv4 (network order) */
	__u32 cluster4_len;
	__u8 cluster6[16];       /* cluster pod CIDR, IPv6 */
	__u32 cluster6_len;
	__u8 gw_mac[6];          /* unused: host veth MACs are per endpoint */
	__u8 pad[2];
};

/* Connection tracking (seam for issue 4). */
struct xdp_ct_key {
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 sport;
	__u16 dport;
	__u8 proto;
	__u8 family;
	__u8 pad[2];
};

struct xdp_ct_entry {
	__u64 last_seen_ns;
	__u32 flags;             /* XDP_CT_F_*: which checks allowed the forward direction */
	__u32 pad;
};

/* Keyed on the 5-tuple of the first allowed packet (the forward direction;
 * IPv4 addresses in the first 4 bytes, rest zero; ports in network order,
 * 0 for protocols without ports). ICMP/ICMPv6 echo carries its identifier
 * in the key, as Linux conntrack does: (id, 0) for a request, (0, id) for a
 * reply, so each ping session is its own connection. A packet whose
 * reversed tuple is tracked is a reply: at egress it passes if the forward
 * direction was allowed by ingress (XDP_CT_F_INGRESS), at ingress if it was
 * allowed by egress. An ICMP error quoting a tracked packet is related to
 * its connection and passes the same way. */
#define XDP_CT_F_INGRESS (1u << 0) /* the destination's ingress check allowed it */
#define XDP_CT_F_EGRESS  (1u << 1) /* the source's egress check allowed it */
#define XDP_CT_F_REPLIED (1u << 2) /* a reply was seen */
#define XDP_CT_F_CLOSING (1u << 3) /* TCP FIN or RST seen */

/* Entry lifetimes in seconds since last_seen_ns (CLOCK_MONOTONIC, what
 * bpf_ktime_get_ns reads). The datapath treats an older entry as absent;
 * the agent sweeps them. */
#define XDP_CT_LIFE_TCP     21600 /* established TCP */
#define XDP_CT_LIFE_TCP_NEW 60    /* TCP without a reply yet */
#define XDP_CT_LIFE_CLOSING 10    /* TCP after FIN or RST */
#define XDP_CT_LIFE_OTHER   60    /* UDP, SCTP, ICMP, anything else */

static inline __u64 xdp_ct_life_ns(__u8 proto, __u32 flags)
{
	__u64 s = XDP_CT_LIFE_OTHER;

	if (proto == 6) /* IPPROTO_TCP */
		s = flags & XDP_CT_F_CLOSING ? XDP_CT_LIFE_CLOSING :
		    flags & XDP_CT_F_REPLIED ? XDP_CT_LIFE_TCP : XDP_CT_LIFE_TCP_NEW;
	return s * 1000000000ull;
}

#endif
