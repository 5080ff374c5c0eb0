/* node: what this node needs to reach the others, from the config and
 * the Node objects (a->kpeers, kubesrc.c):
 * xdp_config (mode, devices, addresses, cluster CIDRs, the READY flag), the
 * collect_md vxlan device (vxlan mode), xdp_nodes (each peer's pod CIDRs ->
 * its underlay address) and, in native mode, a kernel route per peer pod
 * CIDR via the peer's node IP on the uplink (rtm_protocol AGENT_RTPROT, so
 * stale ones are found and only ours are ever touched). Every function
 * makes the node match the config, whatever it found: safe to repeat. */
#ifndef XDPATH_AGENT_NODE_H
#define XDPATH_AGENT_NODE_H

#include <stdbool.h>

struct agent;

/* vxlan mode: create or reuse xdpvx0 (recreated if its settings differ),
 * MTU = uplink MTU - 50, up; sets a->tunnel_ifindex. Native mode: delete a
 * leftover xdpvx0. */
int node_tunnel_sync(struct agent *a);
/* Write xdp_config; ready sets XDP_CFG_F_READY, a->policy_on
 * XDP_CFG_F_POLICY. */
/* The pinned xdp_config already says ready (a restart). */
bool node_config_was_ready(struct agent *a);
/* The pinned xdp_config already enforces NetworkPolicy (a restart). */
bool node_config_was_enforcing(struct agent *a);
int node_config_write(struct agent *a, bool ready);
/* xdp_nodes = the peers' pod CIDRs; stale entries removed. Returns the
 * number of entries, or -errno. */
int node_peers_sync(struct agent *a);
/* Native mode: our routes = the peers' pod CIDRs; vxlan mode: none.
 * Returns the number of routes that could not be installed (logged). */
int node_routes_sync(struct agent *a);

#endif
