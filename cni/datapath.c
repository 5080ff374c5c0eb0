/* datapath: register pods with the pinned datapath. */
#include "datapath.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "dp.h"

static int open_ready(const struct netconf *nc, struct dp *dp, struct cni_err *e)
{
	int err = dp_open(dp, nc->dp_root);

	if (err)
		return cni_fail(e, CNI_ERR_TRY_AGAIN, "datapath not ready",
				"no datapath pinned at %s (%s): is xdpathd running on this node?",
				nc->dp_root, strerror(-err));
	if (!dp_ready(dp)) {
		dp_close(dp);
		return cni_fail(e, CNI_ERR_TRY_AGAIN, "datapath not ready",
				"xdpathd at %s has not finished starting", nc->dp_root);
	}
	return 0;
}

int cni_dp_register(const struct netconf *nc, const struct endpoint *ep, struct cni_err *e)
{
	struct dp dp;
	int err;

	if (!nc->dp_root[0])
		return 0;
	if (open_ready(nc, &dp, e))
		return e->code;
	/* Map entries first: from_pod drops a source it cannot find. */
	err = dp_endpoint_add(&dp, ep, XDP_EP_F_READY);
	if (!err)
		err = dp_tc_attach(ep->host_ifindex, dp.from_pod_fd, true);
	if (err) {
		dp_close(&dp);
		return cni_fail(e, CNI_ERR_INTERNAL, "cannot attach pod to the datapath", "%s: %s",
				ep->host_ifname, strerror(-err));
	}
	/* The pod is denied until the agent has compiled its policy (it does
	 * on seeing the endpoint record): wait, bounded, so that it does not
	 * start in the dark; past the bound it stays denied, never opened. */
	err = dp_policy_wait(&dp, nc->dp_root, (__u32)ep->host_ifindex, nc->policy_wait_ms);
	dp_close(&dp);
	if (err)
		fprintf(stderr, "xdpath: %s: pod policy not in place after %d ms (%s): its traffic "
			"is denied until the agent writes it\n", ep->host_ifname, nc->policy_wait_ms,
			strerror(-err));
	return 0;
}

int cni_dp_unregister(const struct netconf *nc, int host_ifindex)
{
	struct dp dp;
	int err;

	if (!nc->dp_root[0] || host_ifindex <= 0)
		return 0;
	err = dp_open(&dp, nc->dp_root);
	if (err) /* no datapath, no entries; the agent sweeps if it comes back */
		return err == -ENOENT ? 0 : err;
	err = dp_endpoint_del(&dp, host_ifindex);
	dp_close(&dp);
	return err < 0 ? err : 0;
}

int cni_dp_check(const struct netconf *nc, const struct endpoint *ep, struct cni_err *e)
{
	struct xdp_ep_key key;
	struct xdp_ep_info want, have;
	char buf[CIDR_STRLEN];
	struct dp dp;

	if (!nc->dp_root[0])
		return 0;
	if (dp_open(&dp, nc->dp_root))
		return cni_fail(e, CNI_ERR_INTERNAL, "attachment does not match prevResult",
				"no datapath pinned at %s", nc->dp_root);
	for (int i = 0; i < ep->nips && !e->code; i++) {
		endpoint_to_map(ep, i, &key, &want);
		if (bpf_map_lookup_elem(dp.endpoints_fd, &key, &have) ||
		    have.host_ifindex != want.host_ifindex)
			cni_fail(e, CNI_ERR_INTERNAL, "attachment does not match prevResult",
				 "datapath has no endpoint entry for %s on %s",
				 ipnet_fmt(&ep->ips[i], buf), ep->host_ifname);
	}
	if (!e->code && dp_tc_prog_id(ep->host_ifindex, true) <= 0)
		cni_fail(e, CNI_ERR_INTERNAL, "attachment does not match prevResult",
			 "no datapath program on %s", ep->host_ifname);
	dp_close(&dp);
	return e->code;
}
