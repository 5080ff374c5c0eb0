/* attach: veth pair, addresses, routes, neighbours and sysctls of one pod. */
#include "attach.h"

#include <errno.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "endpoint.h"
#include "mac.h"
#include "netns.h"
#include "xdpath/endpoint.h"

#define NL_FAIL(e, what, err)                                                        \
	cni_fail(e, CNI_ERR_INTERNAL, "netlink request failed", "%s: %s", what, \
		 strerror(-(err)))

void attach_gateway(int family, struct ipaddr *gw)
{
	ipaddr_parse(family == AF_INET ? XDP_GW4 : XDP_GW6, gw);
}

static bool same_ns(int a, int b)
{
	struct stat sa, sb;

	return !fstat(a, &sa) && !fstat(b, &sb) && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int attach_open(struct attach *a, const struct netconf *nc, const struct cni_env *env,
		struct cni_err *e)
{
	int err;

	memset(a, 0, sizeof(*a));
	a->host_ns = a->pod_ns = -1;
	endpoint_host_ifname(nc->host_prefix, env->container_id, env->ifname, a->host_name);
	endpoint_macs(env->container_id, env->ifname, a->host_mac, a->pod_mac);

	a->host_ns = netns_self();
	if (a->host_ns < 0)
		return cni_fail(e, CNI_ERR_INTERNAL, "cannot open own netns", "%s",
				strerror(-a->host_ns));
	a->pod_ns = netns_open(env->netns);
	if (a->pod_ns < 0)
		return cni_fail(e, CNI_ERR_INVALID_ENV, "invalid CNI_NETNS",
				"CNI_NETNS \"%s\": %s", env->netns,
				a->pod_ns == -EINVAL ? "not a network namespace"
						     : strerror(-a->pod_ns));
	if (same_ns(a->host_ns, a->pod_ns))
		return cni_fail(e, CNI_ERR_INVALID_ENV, "invalid CNI_NETNS",
				"CNI_NETNS \"%s\" is the plugin's own network namespace",
				env->netns);
	err = nl_open(&a->host);
	if (err)
		return NL_FAIL(e, "open (node)", err);
	err = netns_enter(a->pod_ns);
	if (err)
		return cni_fail(e, CNI_ERR_INTERNAL, "cannot enter CNI_NETNS", "setns %s: %s",
				env->netns, strerror(-err));
	err = nl_open(&a->pod);
	netns_enter(a->host_ns);
	if (err)
		return NL_FAIL(e, "open (pod)", err);
	return 0;
}

void attach_close(struct attach *a)
{
	nl_close(&a->host);
	nl_close(&a->pod);
	if (a->pod_ns >= 0)
		close(a->pod_ns);
	if (a->host_ns >= 0)
		close(a->host_ns);
	a->pod_ns = a->host_ns = -1;
}

static bool has_family(const struct ipnet *ips, int nips, int family)
{
	for (int i = 0; i < nips; i++)
		if (ips[i].ip.family == family)
			return true;
	return false;
}

struct sysctl_kv {
	const char *fmt; /* one %s: the interface name */
	const char *val;
};

static int write_sysctls(const char *ifname, const struct sysctl_kv *kv, int n,
			 struct cni_err *e)
{
	char key[128];

	for (int i = 0; i < n; i++) {
		int err;

		snprintf(key, sizeof(key), kv[i].fmt, ifname);
		err = sysctl_write(key, kv[i].val);
		if (err)
			return cni_fail(e, CNI_ERR_INTERNAL, "cannot set sysctl", "%s=%s: %s", key,
					kv[i].val, strerror(-err));
	}
	return 0;
}

/* Find an existing pair from an earlier ADD of this attachment. Returns 1 to
 * reuse it, 0 when a fresh pair is to be created. A stale host end (its pod
 * end is not our CNI_IFNAME) is removed; a foreign CNI_IFNAME is an error. */
static int find_existing(struct attach *a, const struct cni_env *env, struct cni_err *e)
{
	bool have_host = nl_link_get(&a->host, a->host_name, &a->hl) == 0;
	bool have_pod = nl_link_get(&a->pod, env->ifname, &a->pl) == 0;
	int err;

	if (have_host && have_pod && a->pl.peer_ifindex == a->hl.ifindex &&
	    a->hl.peer_ifindex == a->pl.ifindex && !strcmp(a->pl.kind, "veth"))
		return 1;
	if (have_pod)
		return cni_fail(e, CNI_ERR_INTERNAL, "container interface already exists",
				"interface \"%s\" already exists in %s", env->ifname, env->netns);
	if (have_host) {
		err = nl_link_del(&a->host, a->hl.ifindex);
		if (err && err != -ENODEV)
			return NL_FAIL(e, "delete stale host veth", err);
	}
	return 0;
}

static int create_pair(struct attach *a, const struct netconf *nc, const struct cni_env *env,
		       struct cni_err *e)
{
	int err = nl_veth_create(&a->host, a->host_name, a->host_mac, env->ifname, a->pod_mac,
				 a->pod_ns, nc->mtu);

	if (err)
		return NL_FAIL(e, "create veth pair", err);
	err = nl_link_get(&a->host, a->host_name, &a->hl);
	if (!err)
		err = nl_link_get(&a->pod, env->ifname, &a->pl);
	if (err)
		return NL_FAIL(e, "read back veth pair", err);
	return 0;
}

static int setup_pod_sysctls(struct attach *a, const struct cni_env *env, bool v6,
			     struct cni_err *e)
{
	/* DAD would hold the pod's IPv6 addresses tentative for ~2 s. */
	static const struct sysctl_kv kv[] = { { "net/ipv6/conf/%s/accept_dad", "0" } };
	int err;

	if (!v6)
		return 0;
	err = netns_enter(a->pod_ns);
	if (err)
		return cni_fail(e, CNI_ERR_INTERNAL, "cannot enter CNI_NETNS", "%s", strerror(-err));
	write_sysctls(env->ifname, kv, 1, e);
	netns_enter(a->host_ns);
	return e->code;
}

/* A pod route goes into the attachment's own table (replacing), and into
 * the main table unless another interface of the pod already owns it there. */
static int pod_route_add(struct attach *a, uint32_t table, const struct ipnet *dst,
			 const struct ipaddr *gw, int scope)
{
	/* onlink: the gateway is on this link by construction, and the main
	 * table's route to it may belong to another interface. */
	unsigned int onlink = gw ? NL_ROUTE_ONLINK : 0;
	int err = nl_route_add_in(&a->pod, table, onlink, a->pl.ifindex, dst, gw, scope, 0);

	if (err)
		return err;
	err = nl_route_add_in(&a->pod, RT_TABLE_MAIN, NL_ROUTE_EXCL | onlink, a->pl.ifindex, dst,
			      gw, scope, 0);
	return err == -EEXIST ? 0 : err;
}

static int setup_pod(struct attach *a, const struct cni_env *env, const struct ipnet *ips,
		     int nips, const struct cni_route *routes, int nroutes, struct cni_err *e)
{
	uint32_t table = endpoint_pod_table(env->ifname);
	struct ipaddr gw;
	struct ipnet gw32;
	int err, ifindex = a->pl.ifindex;

	if (setup_pod_sysctls(a, env, has_family(ips, nips, AF_INET6), e))
		return e->code;
	err = nl_link_set_up(&a->pod, ifindex);
	if (err)
		return NL_FAIL(e, "set pod interface up", err);
	for (int i = 0; i < nips; i++) {
		err = nl_addr_add(&a->pod, ifindex, &ips[i], RT_SCOPE_UNIVERSE, IFA_F_NODAD);
		if (err)
			return NL_FAIL(e, "add pod address", err);
		err = nl_rule_add(&a->pod, &ips[i], table, XDP_POD_RULE_PRIO);
		if (err)
			return NL_FAIL(e, "add pod source rule", err);
	}
	for (int fam = AF_INET; fam <= AF_INET6; fam += AF_INET6 - AF_INET) {
		if (!has_family(ips, nips, fam))
			continue;
		attach_gateway(fam, &gw);
		if (fam == AF_INET) {
			/* The gateway is not in the pod's /32: reach it on-link. */
			gw32 = (struct ipnet){ .ip = gw, .prefix = 32 };
			err = pod_route_add(a, table, &gw32, NULL, RT_SCOPE_LINK);
			if (err)
				return NL_FAIL(e, "add pod gateway route", err);
		}
		err = nl_neigh_add(&a->pod, ifindex, &gw, a->host_mac);
		if (err)
			return NL_FAIL(e, "add pod gateway neighbour", err);
	}
	for (int i = 0; i < nroutes; i++) {
		attach_gateway(routes[i].dst.ip.family, &gw);
		err = pod_route_add(a, table, &routes[i].dst, &gw, RT_SCOPE_UNIVERSE);
		if (err)
			return NL_FAIL(e, "add pod route", err);
	}
	return 0;
}

static int setup_host_sysctls(struct attach *a, bool v4, bool v6, struct cni_err *e)
{
	static const struct sysctl_kv kv4[] = {
		{ "net/ipv4/conf/%s/forwarding", "1" },
		{ "net/ipv4/conf/%s/rp_filter", "1" }, /* only the pod's own /32 comes back here */
		{ "net/ipv4/conf/%s/proxy_arp", "0" }, /* the gateway is a real local address */
	};
	static const struct sysctl_kv kv6[] = {
		{ "net/ipv6/conf/%s/accept_ra", "0" },
		{ "net/ipv6/conf/%s/accept_dad", "0" },
		{ "net/ipv6/conf/%s/proxy_ndp", "0" },
	};
	static const struct sysctl_kv fwd6[] = { { "net/ipv6/conf/%s/force_forwarding", "1" } };
	char key[128];
	int err;

	if (v4 && write_sysctls(a->host_name, kv4, 3, e))
		return e->code;
	if (!v6)
		return 0;
	if (write_sysctls(a->host_name, kv6, 3, e))
		return e->code;
	/* IPv6 forwarding is node-wide before Linux 6.17; per device after. */
	snprintf(key, sizeof(key), fwd6[0].fmt, a->host_name);
	err = sysctl_write(key, "1");
	if (err == -ENOENT)
		err = sysctl_write("net/ipv6/conf/all/forwarding", "1");
	if (err)
		return cni_fail(e, CNI_ERR_INTERNAL, "cannot set sysctl",
				"IPv6 forwarding on %s: %s", a->host_name, strerror(-err));
	return 0;
}

static int setup_host(struct attach *a, const struct ipnet *ips, int nips, struct cni_err *e)
{
	bool v4 = has_family(ips, nips, AF_INET), v6 = has_family(ips, nips, AF_INET6);
	int err, ifindex = a->hl.ifindex;
	struct ipnet gw;

	if (setup_host_sysctls(a, v4, v6, e))
		return e->code;
	err = nl_link_set_up(&a->host, ifindex);
	if (err)
		return NL_FAIL(e, "set host veth up", err);
	if (v4) {
		attach_gateway(AF_INET, &gw.ip);
		gw.prefix = 32;
		err = nl_addr_add(&a->host, ifindex, &gw, RT_SCOPE_LINK, 0);
		if (err)
			return NL_FAIL(e, "add gateway address", err);
	}
	if (v6) {
		attach_gateway(AF_INET6, &gw.ip);
		gw.prefix = 64;
		err = nl_addr_add(&a->host, ifindex, &gw, RT_SCOPE_LINK, IFA_F_NODAD);
		if (err)
			return NL_FAIL(e, "add gateway address", err);
	}
	for (int i = 0; i < nips; i++) {
		err = nl_route_add(&a->host, ifindex, &ips[i], NULL, RT_SCOPE_LINK, 0);
		if (err)
			return NL_FAIL(e, "add host route to pod", err);
		err = nl_neigh_add(&a->host, ifindex, &ips[i].ip, a->pod_mac);
		if (err)
			return NL_FAIL(e, "add pod neighbour", err);
	}
	return 0;
}

int attach_setup(struct attach *a, const struct netconf *nc, const struct cni_env *env,
		 const struct ipnet *ips, int nips, const struct cni_route *routes, int nroutes,
		 struct cni_err *e)
{
	int reuse = find_existing(a, env, e);

	if (reuse < 0 || e->code)
		return e->code;
	if (!reuse && create_pair(a, nc, env, e))
		return e->code;
	if (setup_pod(a, env, ips, nips, routes, nroutes, e))
		return e->code;
	if (a->before_up && a->before_up(a, a->before_up_ctx, e))
		return e->code;
	return setup_host(a, ips, nips, e);
}

#define DRIFT(e, ...) cni_fail(e, CNI_ERR_INTERNAL, "attachment does not match prevResult", __VA_ARGS__)

static bool addr_present(const struct ipnet *have, int n, const struct ipnet *want)
{
	for (int i = 0; i < n; i++)
		if (ipaddr_equal(&have[i].ip, &want->ip) && have[i].prefix == want->prefix)
			return true;
	return false;
}

static bool route_present(const struct nl_route *have, int n, const struct ipnet *dst,
			  const struct ipaddr *gw, int ifindex)
{
	struct ipaddr want, got;

	ipnet_first(dst, &want);
	for (int i = 0; i < n; i++) {
		ipnet_first(&have[i].dst, &got);
		if (have[i].dst.prefix != dst->prefix || !ipaddr_equal(&got, &want))
			continue;
		if (ifindex && have[i].ifindex != ifindex)
			continue;
		if (gw && (!have[i].has_gw || !ipaddr_equal(&have[i].gw, gw)))
			continue;
		return true;
	}
	return false;
}

static int find_container_iface(const struct cni_env *env, const struct cni_result *prev,
				struct cni_err *e)
{
	for (int i = 0; i < prev->nifs; i++)
		if (!strcmp(prev->ifs[i].name, env->ifname) && prev->ifs[i].sandbox[0])
			return i;
	DRIFT(e, "prevResult has no interface \"%s\" with a sandbox", env->ifname);
	return -1;
}

static int check_links(struct attach *a, const struct cni_env *env, const struct cni_iface *want,
		       struct cni_err *e)
{
	char m1[MAC_STRLEN], m2[MAC_STRLEN];

	if (nl_link_get(&a->pod, env->ifname, &a->pl))
		return DRIFT(e, "interface %s is missing from %s", env->ifname, env->netns);
	if (strcmp(a->pl.kind, "veth"))
		return DRIFT(e, "interface %s is a \"%s\", not a veth", env->ifname, a->pl.kind);
	if (memcmp(a->pl.mac, want->mac, 6))
		return DRIFT(e, "interface %s has MAC %s, prevResult says %s", env->ifname,
			     mac_fmt(a->pl.mac, m1), mac_fmt(want->mac, m2));
	if (!a->pl.up)
		return DRIFT(e, "interface %s is down", env->ifname);
	if (nl_link_get(&a->host, a->host_name, &a->hl))
		return DRIFT(e, "host veth %s is missing", a->host_name);
	if (a->hl.peer_ifindex != a->pl.ifindex || a->pl.peer_ifindex != a->hl.ifindex)
		return DRIFT(e, "host veth %s is not the peer of %s", a->host_name, env->ifname);
	if (!a->hl.up)
		return DRIFT(e, "host veth %s is down", a->host_name);
	return 0;
}

/* Every prevResult route must be in the pod's main table (on any of its
 * interfaces: the first attachment owns the main table's routes, and later
 * chained plugins may add their own). */
static int check_pod_route(struct attach *a, const struct cni_route *rt, struct cni_err *e)
{
	struct nl_route routes[256];
	char buf[CIDR_STRLEN];
	int nr = nl_route_list(&a->pod, rt->dst.ip.family, routes, 256);

	if (nr < 0)
		return NL_FAIL(e, "list pod routes", nr);
	if (!route_present(routes, nr, &rt->dst, rt->has_gw ? &rt->gw : NULL, 0))
		return DRIFT(e, "pod route %s is missing", ipnet_fmt(&rt->dst, buf));
	return 0;
}

/* The attachment's own table must route each family it has addresses of
 * through its own interface, or its source addresses leave by another one. */
static int check_pod_table(struct attach *a, const struct cni_result *prev, int idx,
			   struct cni_err *e)
{
	uint32_t table = endpoint_pod_table(prev->ifs[idx].name);
	struct nl_route routes[256];

	for (int i = 0; i < prev->nips; i++) {
		int fam = prev->ips[i].addr.ip.family, nr, j;

		if (prev->ips[i].iface != idx)
			continue;
		nr = nl_route_list_in(&a->pod, table, fam, routes, 256);
		if (nr < 0)
			return NL_FAIL(e, "list pod routes", nr);
		for (j = 0; j < nr && routes[j].ifindex != a->pl.ifindex; j++)
			;
		if (j == nr)
			return DRIFT(e, "pod routing table %u has no IPv%c route via %s", table,
				     fam == AF_INET ? '4' : '6', prev->ifs[idx].name);
	}
	return 0;
}

static int check_addrs_routes(struct attach *a, const struct cni_result *prev, int idx,
			      struct cni_err *e)
{
	struct ipnet have[16];
	struct nl_route routes[256];
	char buf[CIDR_STRLEN];
	int n, nr;

	n = nl_addr_list(&a->pod, a->pl.ifindex, AF_UNSPEC, have, 16);
	if (n < 0)
		return NL_FAIL(e, "list pod addresses", n);
	for (int i = 0; i < prev->nips; i++) {
		const struct cni_ip *ip = &prev->ips[i];
		struct ipnet host = { .ip = ip->addr.ip, .prefix = ipaddr_bits(&ip->addr.ip) };

		if (ip->iface != idx)
			continue;
		if (!addr_present(have, n, &ip->addr))
			return DRIFT(e, "address %s is missing from the pod interface",
				     ipnet_fmt(&ip->addr, buf));
		nr = nl_route_list(&a->host, ip->addr.ip.family, routes, 256);
		if (nr < 0)
			return NL_FAIL(e, "list node routes", nr);
		if (!route_present(routes, nr, &host, NULL, a->hl.ifindex))
			return DRIFT(e, "node route %s dev %s is missing", ipnet_fmt(&host, buf),
				     a->host_name);
	}
	for (int i = 0; i < prev->nroutes; i++)
		if (check_pod_route(a, &prev->routes[i], e))
			return e->code;
	return check_pod_table(a, prev, idx, e);
}

int attach_check(struct attach *a, const struct cni_env *env, const struct cni_result *prev,
		 struct cni_err *e)
{
	int idx = find_container_iface(env, prev, e);

	if (idx < 0)
		return e->code;
	if (strcmp(prev->ifs[idx].sandbox, env->netns))
		return DRIFT(e, "prevResult sandbox \"%s\" is not CNI_NETNS \"%s\"",
			     prev->ifs[idx].sandbox, env->netns);
	if (check_links(a, env, &prev->ifs[idx], e))
		return e->code;
	return check_addrs_routes(a, prev, idx, e);
}

int attach_remove_pod_rules(const char *netns, const char *ifname)
{
	uint32_t table = endpoint_pod_table(ifname);
	int self, pod, err;
	struct nl nl;

	if (!netns)
		return 0;
	pod = netns_open(netns);
	if (pod < 0)
		return pod == -ENOENT || pod == -EINVAL ? 0 : pod;
	self = netns_self();
	err = self < 0 ? self : netns_enter(pod);
	if (!err) {
		err = nl_open(&nl);
		netns_enter(self);
	}
	if (!err) {
		int n4 = nl_rule_del_table(&nl, AF_INET, table);
		int n6 = nl_rule_del_table(&nl, AF_INET6, table);

		err = n4 < 0 ? n4 : n6 < 0 && n6 != -EAFNOSUPPORT ? n6 : 0;
		nl_close(&nl);
	}
	if (self >= 0)
		close(self);
	close(pod);
	return err;
}

int attach_remove_host(const char *host_name)
{
	struct nl nl;
	struct nl_link l;
	int err = nl_open(&nl);

	if (err)
		return err;
	err = nl_link_get(&nl, host_name, &l);
	if (!err)
		err = nl_link_del(&nl, l.ifindex);
	nl_close(&nl);
	return err == -ENODEV ? 0 : err;
}
