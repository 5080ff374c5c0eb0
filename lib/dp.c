/* dp: pinned-datapath client (libbpf). */
#include "dp.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "xdpath/datapath.h"
#include "xdpath/policy.h"

/* Our TC filter slot: one handle/priority, so a re-attach replaces in place. */
#define DP_TC_HANDLE 1
#define DP_TC_PRIO   1

static int pin_get(const char *root, const char *name)
{
	char path[PATH_MAX];
	int fd;

	if (snprintf(path, sizeof(path), "%s/%s", root, name) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = bpf_obj_get(path);
	return fd < 0 ? -errno : fd;
}

int dp_open(struct dp *dp, const char *root)
{
	dp->endpoints_fd = pin_get(root, XDP_PIN_ENDPOINTS);
	dp->config_fd = pin_get(root, XDP_PIN_CONFIG);
	dp->from_pod_fd = pin_get(root, XDP_PIN_PROG_FROM_POD);
	if (dp->endpoints_fd < 0 || dp->config_fd < 0 || dp->from_pod_fd < 0) {
		int err = dp->endpoints_fd < 0 ? dp->endpoints_fd
			  : dp->config_fd < 0  ? dp->config_fd
					       : dp->from_pod_fd;

		dp_close(dp);
		return err;
	}
	return 0;
}

void dp_close(struct dp *dp)
{
	int *fds[] = { &dp->endpoints_fd, &dp->config_fd, &dp->from_pod_fd };

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}

bool dp_ready(const struct dp *dp)
{
	struct xdp_config cfg;
	__u32 zero = 0;

	return !bpf_map_lookup_elem(dp->config_fd, &zero, &cfg) && (cfg.flags & XDP_CFG_F_READY);
}

static bool enforcing(const struct dp *dp)
{
	struct xdp_config cfg;
	__u32 zero = 0;

	return !bpf_map_lookup_elem(dp->config_fd, &zero, &cfg) && (cfg.flags & XDP_CFG_F_POLICY);
}

int dp_policy_wait(const struct dp *dp, const char *root, __u32 ep_id, int timeout_ms)
{
	struct timespec t0, now, nap = { 0, 2 * 1000 * 1000 };
	struct xdp_ep_pol v;
	int fd, err = -ETIMEDOUT;

	if (!enforcing(dp))
		return 0;
	fd = pin_get(root, XDP_PIN_EP_POL);
	if (fd < 0)
		return fd;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if (!bpf_map_lookup_elem(fd, &ep_id, &v) && (v.flags & XDP_EP_POL_READY)) {
			err = 0;
			break;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000 >=
		    timeout_ms)
			break;
		nanosleep(&nap, NULL);
	}
	close(fd);
	return err;
}

int dp_endpoint_add(const struct dp *dp, const struct endpoint *ep, __u32 flags)
{
	struct xdp_ep_key key;
	struct xdp_ep_info info;

	for (int i = 0; i < ep->nips; i++) {
		endpoint_to_map(ep, i, &key, &info);
		info.flags = flags;
		if (bpf_map_update_elem(dp->endpoints_fd, &key, &info, BPF_ANY))
			return -errno;
	}
	return 0;
}

int dp_endpoint_del(const struct dp *dp, int host_ifindex)
{
	struct xdp_ep_key key, next, doomed[ENDPOINT_MAX_IPS * 4];
	struct xdp_ep_info info;
	void *prev = NULL;
	int n = 0;

	/* Collect first: deleting while walking restarts the walk. */
	while (!bpf_map_get_next_key(dp->endpoints_fd, prev, &next)) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(dp->endpoints_fd, &key, &info))
			continue;
		if ((int)info.host_ifindex == host_ifindex && n < (int)(sizeof(doomed) / sizeof(doomed[0])))
			doomed[n++] = key;
	}
	for (int i = 0; i < n; i++)
		if (bpf_map_delete_elem(dp->endpoints_fd, &doomed[i]) && errno != ENOENT)
			return -errno;
	return n;
}

int dp_tc_attach(int ifindex, int prog_fd, bool ingress)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = DP_TC_HANDLE, .priority = DP_TC_PRIO,
		    .prog_fd = prog_fd, .flags = BPF_TC_F_REPLACE);
	int err;

	if (!ingress)
		hook.attach_point = BPF_TC_EGRESS;
	err = bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST)
		return err;
	return bpf_tc_attach(&hook, &opts);
}

int dp_tc_prog_id(int ifindex, bool ingress)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
		    .attach_point = ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = DP_TC_HANDLE, .priority = DP_TC_PRIO);
	int err = bpf_tc_query(&hook, &opts);

	if (err == -ENOENT || err == -EINVAL)
		return 0;
	return err ? err : (int)opts.prog_id;
}
