/* policy: the NetworkPolicy maps, written by the agent from the policy
 * compiler's output (policy/compile.h) and read by bpf/lib/policy.h.
 *
 * Identities: every distinct (namespace, pod labels, namespace labels) set
 * of pods gets a node-local 32-bit identity; IPs map to identities through
 * the ipcache (longest prefix match: pod /32 and /128, the rest of the world
 * XDP_ID_WORLD). ipBlock peers are matched by address, not identity, through
 * a per-endpoint CIDR LPM, so that an ipBlock that covers a pod IP applies to
 * that pod exactly (upstream semantics) without widening to its identity.
 *
 * A packet is allowed in direction D for endpoint E if its remote identity
 * (or XDP_ID_ANY) or its remote address is allowed for (E, D, proto, port).
 * Cost: hash lookups (ipcache, then per identity: the port, the block sizes
 * the endpoint has, any port, any protocol) and one CIDR LPM lookup,
 * whatever the number of rules, pods or identities. */
#ifndef XDPATH_POLICY_MAPS_H
#define XDPATH_POLICY_MAPS_H

#include <linux/types.h>

#include "datapath.h"

#define XDP_PIN_IPCACHE   "xdp_ipcache"    /* LPM  xdp_cidr_key -> xdp_ipcache_val (prefixes) */
#define XDP_PIN_IPCACHE_HOST "xdp_ipcache_host" /* HASH xdp_cidr_key -> xdp_ipcache_val (/32, /128) */
#define XDP_PIN_POLICY    "xdp_policy"     /* HASH xdp_pol_key -> xdp_pol_val */
#define XDP_PIN_POL_CIDR  "xdp_pol_cidr"   /* LPM  xdp_polcidr_key -> xdp_portset */
#define XDP_PIN_EP_POL    "xdp_ep_policy"  /* HASH ep_id -> xdp_ep_pol */

#define XDP_MAX_POLICY    262144
#define XDP_MAX_POL_CIDR  65536
#define XDP_MAX_IPCACHE   131072

#define XDP_ID_WORLD      1u  /* any address no pod owns */
#define XDP_ID_HOST       2u  /* the node itself (health probes: always allowed) */
#define XDP_ID_ANY        0u  /* in xdp_pol_key: rule allows every peer */
#define XDP_ID_FIRST_POD  256u

#define XDP_DIR_INGRESS   0
#define XDP_DIR_EGRESS    1

struct xdp_ipcache_val {
	__u32 identity;
	__u32 flags;
};

/* Policy entry: {ep_id, dir, identity, proto, dport} with LPM semantics
 * (the compiler and policy/sim.c treat it as a prefix match), stored in a
 * hash with the prefix length as part of the key (see below). The fixed
 * part (ep_id, dir, identity) is always matched in full; then a prefix of
 * XDP_POL_PREFIX_ANY_PROTO allows every protocol, XDP_POL_PREFIX_ANY_PORT
 * every port of proto, XDP_POL_PREFIX_PORT one port, and a port range
 * (endPort) becomes a few aligned blocks in between. dport is in network
 * order; bits past the prefix are zero. */
struct xdp_pol_key {
	__u32 prefixlen;
	__u32 ep_id;
	__u8 dir;             /* XDP_DIR_* */
	__u8 pad[3];
	__u32 identity;       /* remote identity, or XDP_ID_ANY */
	__u8 proto;
	__be16 dport;
	__u8 pad2;
} __attribute__((packed));

#define XDP_POL_PREFIX_ANY_PROTO 96
#define XDP_POL_PREFIX_ANY_PORT  104
#define XDP_POL_PREFIX_PORT      120
/* A block of 2^k ports starting at an aligned port: 120 - k. */
#define XDP_POL_PREFIX_BLOCK(k)  (120 - (k))

/* xdp_policy is a hash, not a trie, so that the datapath's cost does not
 * grow with the number of entries: the prefix length is part of the key
 * and says which kind an entry is (one port, a block, any port of the
 * protocol, any protocol; the bits past it are zero), and the datapath
 * looks up the kinds that can exist: the port, any port, any protocol,
 * and the block sizes the endpoint has in that direction
 * (xdp_ep_pol.blocks). Pod addresses (/32, /128) are likewise hashed in
 * xdp_ipcache_host; only shorter prefixes go to the xdp_ipcache LPM. */
static inline int xdp_ipcache_key_host(const struct xdp_cidr_key *k)
{
	return k->prefixlen == XDP_CIDR_PREFIX(k->family == XDP_EP_FAMILY_V4 ? 32 : 128);
}

/* A block entry's size as k (2^k ports), 0 for the other kinds. */
static inline int xdp_pol_key_block(const struct xdp_pol_key *k)
{
	return k->prefixlen > XDP_POL_PREFIX_ANY_PORT && k->prefixlen < XDP_POL_PREFIX_PORT
		       ? XDP_POL_PREFIX_PORT - (int)k->prefixlen
		       : 0;
}

struct xdp_pol_val {
	__u32 rule_cookie;    /* which policy/rule allowed it (for explain/metrics) */
	__u32 flags;
};

/* Per-endpoint, per-direction CIDR peers (ipBlock): LPM over
 * {ep_id, dir, family, addr}; the value is the set of ports allowed.
 * An except prefix is stored with an empty set (nranges 0, no all flag). */
struct xdp_polcidr_key {
	__u32 prefixlen;      /* counts ep_id(32) + dir(8) + family(8) + pad(16) + addr bits */
	__u32 ep_id;
	__u8 dir;
	__u8 family;
	__u8 pad[2];
	__u8 addr[16];
};
#define XDP_POLCIDR_PREFIX(plen) (64 + (plen))

#define XDP_PORTSET_MAX 8
#define XDP_PORTSET_ALL (1u << 0) /* every port of every protocol */

struct xdp_port_range {
	__u8 proto;           /* 0 = any */
	__u8 pad;
	__u16 lo, hi;         /* host order, inclusive; 0,0 = all ports of proto */
};

struct xdp_portset {
	__u32 flags;
	__u32 nranges;
	__u32 rule_cookie;
	__u32 pad;
	struct xdp_port_range r[XDP_PORTSET_MAX];
};

/* Isolation state of an endpoint. An endpoint absent from this map is
 * treated as isolated in both directions with no rules (fail closed) once
 * XDP_EP_F_POLICY_READY is required by the datapath. */
#define XDP_EP_POL_INGRESS_ISOLATED (1u << 0)
#define XDP_EP_POL_EGRESS_ISOLATED  (1u << 1)
#define XDP_EP_POL_READY            (1u << 2)
struct xdp_ep_pol {
	__u32 flags;
	__u32 generation;     /* bumped per update, for atomic switch-over */
	__u16 blocks[2];      /* [XDP_DIR_*]: bit k-1 set if it has blocks of 2^k ports (k 1..15) */
	__u32 pad;
};

#endif
