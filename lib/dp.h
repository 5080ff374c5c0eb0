/* dp: a client of the pinned datapath, everything a process needs to put a
 * pod on it or take it off: the endpoint map and the from-pod program
 * (pinned by the agent under its pin root), and TC attachment. Used by the
 * CNI plugin at ADD/DEL and by the agent when it reconciles. */
#ifndef XDPATH_LIB_DP_H
#define XDPATH_LIB_DP_H

#include <limits.h>
#include <stdbool.h>

#include "endpoint.h"

struct dp {
	int endpoints_fd;        /* xdp_endpoints map */
	int config_fd;           /* xdp_config map */
	int from_pod_fd;         /* prog_from_pod */
};

/* Open the pins under root. -ENOENT when the datapath is not loaded there. */
int dp_open(struct dp *dp, const char *root);
void dp_close(struct dp *dp);
/* The agent has finished loading and reconciling (XDP_CFG_F_READY). */
bool dp_ready(const struct dp *dp);

/* Wait up to timeout_ms for the agent to have written endpoint ep_id's
 * policy state (xdp_ep_policy READY). 0 when it is there or NetworkPolicy
 * is not enforced on this node (then there is nothing to wait for),
 * -ETIMEDOUT, or -errno. Until then the datapath denies the endpoint's
 * traffic (fail closed), so this only spares the pod a dead start. */
int dp_policy_wait(const struct dp *dp, const char *root, __u32 ep_id, int timeout_ms);

/* One map entry per address of ep, with flags (XDP_EP_F_*). */
int dp_endpoint_add(const struct dp *dp, const struct endpoint *ep, __u32 flags);
/* Remove the entries of host veth ifindex (found by scanning the map, so no
 * record is needed); returns how many, or -errno. */
int dp_endpoint_del(const struct dp *dp, int host_ifindex);

/* Attach prog_fd at TC ingress (or egress) of ifindex: clsact is created if
 * missing; an existing xdpath filter is replaced atomically. */
int dp_tc_attach(int ifindex, int prog_fd, bool ingress);
/* The id of the program at our TC slot, 0 if none, or -errno. */
int dp_tc_prog_id(int ifindex, bool ingress);

#endif
