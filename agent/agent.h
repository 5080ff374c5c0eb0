/* agent: the state of one xdpathd process, shared by its modules. main.c
 * owns the life cycle (start-up steps, event loop, reload); each module
 * owns one piece of node state:
 *   loader.c    bpffs, BPF objects, pins, program attachment on the uplink
 *   migrate.c   pinned maps whose layout changed across an upgrade
 *   node.c      xdp_config, the vxlan device, peers (xdp_nodes, native routes)
 *   masq.c      the nftables masquerade table
 *   reconcile.c endpoint records -> xdp_endpoints + from_pod on host veths
 *   policysrc.c a policy source -> a compiled policy (the engine)
 *   policydir.c the policyDir manifest source (policysource.h: the interface)
 *   policymap.c a compiled policy -> the policy maps (as a delta)
 *   ctsweep.c   expired connection-tracking entries out of xdp_ct
 *   events.c    the datapath's policy-drop events (ring buffer) -> recent history
 *   filtermap.c compiled filter rules -> the filter maps (atomic publication)
 *   filters.c   the named emergency filters: table, state file, expiry, API
 *   kube.c      the API server connection (kubeconfig / in-cluster), requests
 *   kwatch.c    list + watch informers, one thread per resource, caches
 *   kubesrc.c   the caches -> policy source, filters, peers; Events back
 *   httpd.c     /healthz /readyz /metrics (prom.c: the Prometheus text)
 *   hbuf.c      a growable byte buffer (HTTP bodies, API responses)
 *   cniconf.c   the CNI conflist, written once the node is ready
 *   api.c       the local unix socket (status, endpoints, metrics, policies) */
#ifndef XDPATH_AGENT_AGENT_H
#define XDPATH_AGENT_AGENT_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "config.h"
#include "dp.h"
#include "loader.h"
#include "nl.h"

#define XDPATH_VERSION "0.3.0"
#define AGENT_SOCKET_NAME "xdpathd.sock"
#define AGENT_TUNNEL_DEV "xdpvx0"
/* Our routes' rtm_protocol (iproute2 shows it as "proto 217"). */
#define AGENT_RTPROT 0xd9
#define AGENT_RESYNC_SEC 10

struct cfg_peer;
struct policy_src;
struct events;
struct filters;
struct kubesrc;

struct agent {
	struct agent_config cfg;
	struct loader ld;
	struct dp dp;              /* the pinned endpoint/config maps and prog_from_pod */
	struct nl nl;              /* rtnetlink, in the node netns */
	int uplink_ifindex;
	bool uplink_is_veth;        /* auto XDP stays off there (see step_attach) */
	int tunnel_ifindex;        /* xdpvx0 in vxlan mode, else 0 */
	uint32_t from_pod_id;      /* the loaded from_pod program's id */
	bool ready;                /* XDP_CFG_F_READY is set */
	bool policy_on;            /* XDP_CFG_F_POLICY is set (policyDir, policy maps written) */
	uint64_t ct_expired;       /* conntrack entries removed by ct_sweep */
	bool masq_ok;              /* the masquerade table matches cfg */
	struct timespec started;   /* CLOCK_MONOTONIC */
	long startup_ms;
	int nendpoints;            /* records with a live veth, at the last full reconcile */
	int waiting_keys;          /* map entries in their grace period: a pass is due */
	struct policy_src *policy; /* policysrc.c; NULL until the first load */
	struct events *events;     /* events.c; NULL if the ring buffer is not open */
	struct filters *filters;   /* filters.c; NULL if the filter maps cannot be opened */
	struct kubesrc *kube;      /* kubesrc.c; NULL without "kubernetes" */
	struct cfg_peer *kpeers;   /* peers from Node objects (node.c adds them to the config's) */
	int nkpeers;
	bool synced;               /* the first full sync is enforced (/readyz) */
};

/* The first full sync is enforced: ready for CNI ADDs and /readyz (node.c). */
void agent_synced(struct agent *a);

/* Milliseconds since start (CLOCK_MONOTONIC). */
long agent_uptime_ms(const struct agent *a);

#endif
