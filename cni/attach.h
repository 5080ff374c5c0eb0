/* attach: wiring one pod into the node (routed model, no bridge).
 *
 *   node netns                          pod netns
 *   <prefix><hash> ----- veth ----- CNI_IFNAME
 *     169.254.1.1/32, fe80::1/64          IP/32, IP/128
 *     route IP/32 dev <host veth>         default via 169.254.1.1 / fe80::1
 *     neigh IP -> pod MAC (permanent)     neigh gateway -> host MAC (permanent)
 *                                         from IP lookup <table of CNI_IFNAME>
 *
 * Both ends' neighbours are static so neither side waits on ARP/NDP; the
 * gateway is also a real address of the host veth, so a pod that flushes its
 * neighbour table still resolves it. Owns everything on the two links; the
 * caller owns IPAM and the endpoint record. */
#ifndef XDPATH_CNI_ATTACH_H
#define XDPATH_CNI_ATTACH_H

#include "cni.h"
#include "nl.h"

struct attach {
	int host_ns;            /* fd of the netns the plugin runs in */
	int pod_ns;             /* fd of CNI_NETNS */
	struct nl host, pod;    /* rtnetlink sockets bound to each netns */
	char host_name[16];
	uint8_t host_mac[6], pod_mac[6];
	struct nl_link hl, pl;  /* the two ends, filled by setup */
	/* Called once both ends exist and the pod side is configured, before
	 * the host end comes up (so before any packet can cross): where the
	 * datapath takes the pod over. Optional; returns a CNI code. */
	int (*before_up)(struct attach *a, void *ctx, struct cni_err *e);
	void *before_up_ctx;
};

/* Open CNI_NETNS and a netlink socket in each namespace. */
int attach_open(struct attach *a, const struct netconf *nc, const struct cni_env *env,
		struct cni_err *e);
void attach_close(struct attach *a);

/* Create (or, for a repeated ADD, reuse) the veth pair and program both sides.
 * ips are the pod addresses (host prefix: /32, /128); routes go via the
 * link-local gateway of their family. On error the caller removes the pair. */
int attach_setup(struct attach *a, const struct netconf *nc, const struct cni_env *env,
		 const struct ipnet *ips, int nips, const struct cni_route *routes, int nroutes,
		 struct cni_err *e);

/* Compare the live state against a prevResult; drift -> error naming it. */
int attach_check(struct attach *a, const struct cni_env *env, const struct cni_result *prev,
		 struct cni_err *e);

/* Delete the host veth (and with it the pod end) in the current netns.
 * 0 also when it is already gone. */
int attach_remove_host(const char *host_name);

/* Delete the pod's source rules for ifname (best effort: 0 when the netns
 * is gone). The routes go with the link. */
int attach_remove_pod_rules(const char *netns, const char *ifname);

/* The gateway the pod routes through, per family. */
void attach_gateway(int family, struct ipaddr *gw);

#endif
