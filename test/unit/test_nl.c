/* test_nl: nl.c and netns.c against the real kernel.
 * main() moves the process into a private network namespace ("host") and
 * makes a second one ("pod"). Neither is named or mounted, so both vanish
 * with the process and the real host is never touched. Needs root. */
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>

#include "ipaddr.h"
#include "netns.h"
#include "nl.h"

#define HOST_IF		"xt-host0"
#define POD_IF		"xt-pod0"
#define DOT_HOST_IF	"xt.h1"		/* a dot in a name must survive sysctl keys */
#define DOT_POD_IF	"xt.p1"
#define MISSING_IF	"xt-none0"
#define MISSING_INDEX	999999
#define VETH_MTU	1400
#define ROUTE_MTU	1300		/* >= 1280 so IPv6 takes it too */
#define MAX_LIST	64
#define BUF_SIZE	8192

/* Locally administered unicast MACs. */
static const uint8_t host_mac[6] = { 0x02, 0x00, 0x5e, 0x00, 0x00, 0x01 };
static const uint8_t pod_mac[6] = { 0x02, 0x00, 0x5e, 0x00, 0x00, 0x02 };
static const uint8_t other_mac[6] = { 0x02, 0x00, 0x5e, 0x00, 0x00, 0x03 };

static int host_ns = -1, pod_ns = -1;
static struct nl host_nl, pod_nl;

/* The fixture: one veth pair, host end in host_ns, pod end in pod_ns, down. */
struct pair {
	struct nl_link host;
	struct nl_link pod;
};


static int report(const char *what, int err)
{
	fprintf(stderr, "test_nl: %s: %s\n", what, strerror(-err));
	return -1;
}

/* ---- fixtures ----------------------------------------------------------- */

static int pair_setup(void **state)
{
	static struct pair p;
	int err;

	err = nl_veth_create(&host_nl, HOST_IF, host_mac, POD_IF, pod_mac, pod_ns, VETH_MTU);
	if (err)
		return report("create " HOST_IF, err);
	err = nl_link_get(&host_nl, HOST_IF, &p.host);
	if (err)
		return report("get " HOST_IF, err);
	err = nl_link_get(&pod_nl, POD_IF, &p.pod);
	if (err)
		return report("get " POD_IF, err);
	*state = &p;
	return 0;
}

/* Tests may have deleted a link already; anything else failing is loud. */
static int del_link(struct nl *nl, const char *name)
{
	struct nl_link l;
	int err;

	err = nl_link_get(nl, name, &l);
	if (err == -ENODEV)
		return 0;
	if (!err)
		err = nl_link_del(nl, l.ifindex);
	return err ? report(name, err) : 0;
}

static int pair_teardown(void **state)
{
	(void)state;
	/* Deleting one veth end removes the other. */
	if (del_link(&host_nl, HOST_IF) || del_link(&host_nl, DOT_HOST_IF))
		return -1;
	return 0;
}

static void pair_up(const struct pair *p)
{
	assert_int_equal(nl_link_set_up(&host_nl, p->host.ifindex), 0);
	assert_int_equal(nl_link_set_up(&pod_nl, p->pod.ifindex), 0);
}

static int lo_up(struct nl *nl)
{
	struct nl_link lo;
	int err;

	err = nl_link_get(nl, "lo", &lo);
	if (!err)
		err = nl_link_set_up(nl, lo.ifindex);
	if (!err)
		err = nl_link_get(nl, "lo", &lo);
	if (!err && !lo.up)
		err = -EIO;
	return err;
}

/* The host_nl socket belongs to host_ns, pod_nl to pod_ns: a netlink
 * socket stays in the netns it was opened in. */
static int group_setup(void **state)
{
	int err;

	(void)state;
	err = netns_enter(pod_ns);
	if (err)
		return report("enter pod netns", err);
	err = nl_open(&pod_nl);
	if (err)
		return report("nl_open in pod netns", err);
	err = netns_enter(host_ns);
	if (err)
		return report("enter host netns", err);
	err = nl_open(&host_nl);
	if (err)
		return report("nl_open in host netns", err);
	err = lo_up(&host_nl);
	if (err)
		return report("host lo up", err);
	err = lo_up(&pod_nl);
	if (err)
		return report("pod lo up", err);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	nl_close(&host_nl);
	nl_close(&pod_nl);
	return 0;
}

/* ---- lookups written here, not through nl.c ------------------------------ */

static bool has_addr(const struct ipnet *list, int n, const struct ipnet *want)
{
	for (int i = 0; i < n; i++) {
		if (ipaddr_equal(&list[i].ip, &want->ip) && list[i].prefix == want->prefix)
			return true;
	}
	return false;
}

/* Number of main-table routes to cidr; the last one found goes in out. */
static int find_route(struct nl *nl, const char *cidr, struct nl_route *out)
{
	struct nl_route list[MAX_LIST];
	struct ipnet dst = N(cidr);
	int n, found = 0;

	n = nl_route_list(nl, dst.ip.family, list, MAX_LIST);
	assert_true(n >= 0);
	assert_true(n < MAX_LIST); /* else the answer could be cut short */
	for (int i = 0; i < n; i++) {
		if (!ipaddr_equal(&list[i].dst.ip, &dst.ip) || list[i].dst.prefix != dst.prefix)
			continue;
		*out = list[i];
		found++;
	}
	return found;
}

struct neigh {
	bool found;
	uint16_t state;
	uint8_t mac[6];
};

static int neigh_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct ndmsg *ndm = mnl_nlmsg_get_payload(nlh);
	struct neigh *nb = data;
	const struct nlattr *a;

	if (nlh->nlmsg_type != RTM_NEWNEIGH)
		return MNL_CB_OK;
	nb->found = true;
	nb->state = ndm->ndm_state;
	mnl_attr_for_each(a, nlh, sizeof(*ndm)) {
		if (mnl_attr_get_type(a) == NDA_LLADDR && mnl_attr_get_payload_len(a) == sizeof(nb->mac))
			memcpy(nb->mac, mnl_attr_get_payload(a), sizeof(nb->mac));
	}
	return MNL_CB_OK;
}

/* One RTM_GETNEIGH on a socket of its own, in the current (host) netns. */
static int neigh_get(int ifindex, const struct ipaddr *addr, struct neigh *out)
{
	char buf[BUF_SIZE] __attribute__((aligned(NLMSG_ALIGNTO)));
	const unsigned int seq = 1;
	struct mnl_socket *s;
	struct nlmsghdr *nlh;
	struct ndmsg *ndm;
	unsigned int portid;
	ssize_t n;
	int ret;

	memset(out, 0, sizeof(*out));
	s = mnl_socket_open(NETLINK_ROUTE);
	if (!s)
		return -errno;
	if (mnl_socket_bind(s, 0, MNL_SOCKET_AUTOPID) < 0) {
		ret = -errno;
		goto out;
	}
	portid = mnl_socket_get_portid(s);

	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETNEIGH;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = seq;
	ndm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ndm));
	ndm->ndm_family = addr->family;
	ndm->ndm_ifindex = ifindex;
	mnl_attr_put(nlh, NDA_DST, ipaddr_len(addr), addr->b);
	if (mnl_socket_sendto(s, nlh, nlh->nlmsg_len) < 0) {
		ret = -errno;
		goto out;
	}
	do {
		n = mnl_socket_recvfrom(s, buf, sizeof(buf));
		if (n < 0) {
			ret = -errno;
			goto out;
		}
		ret = mnl_cb_run(buf, n, seq, portid, neigh_cb, out);
	} while (ret == MNL_CB_OK);
	ret = ret == MNL_CB_ERROR ? -errno : 0;
out:
	mnl_socket_close(s);
	return ret;
}

/* ---- links -------------------------------------------------------------- */

static void test_veth_create(void **state)
{
	const struct pair *p = *state;
	struct nl_link l;

	assert_string_equal(p->host.name, HOST_IF);
	assert_string_equal(p->host.kind, "veth");
	assert_memory_equal(p->host.mac, host_mac, sizeof(host_mac));
	assert_int_equal(p->host.mtu, VETH_MTU);
	assert_false(p->host.up);

	assert_string_equal(p->pod.name, POD_IF);
	assert_string_equal(p->pod.kind, "veth");
	assert_memory_equal(p->pod.mac, pod_mac, sizeof(pod_mac));
	assert_int_equal(p->pod.mtu, VETH_MTU);

	/* Each end's IFLA_LINK is the other's index. */
	assert_int_equal(p->host.peer_ifindex, p->pod.ifindex);
	assert_int_equal(p->pod.peer_ifindex, p->host.ifindex);

	/* Each end exists only in its own netns. */
	assert_int_equal(nl_link_get(&host_nl, POD_IF, &l), -ENODEV);
	assert_int_equal(nl_link_get(&pod_nl, HOST_IF, &l), -ENODEV);

	assert_int_equal(nl_link_get_index(&host_nl, p->host.ifindex, &l), 0);
	assert_string_equal(l.name, HOST_IF);
	assert_memory_equal(l.mac, host_mac, sizeof(host_mac));
}

static void test_veth_exists(void **state)
{
	struct nl_link l;

	(void)state;
	assert_int_equal(nl_veth_create(&host_nl, HOST_IF, host_mac, "xt-pod1", pod_mac,
					pod_ns, 0), -EEXIST);
	/* A taken peer name fails the pair as a whole: no host end is left. */
	assert_int_equal(nl_veth_create(&host_nl, "xt-host1", host_mac, POD_IF, pod_mac,
					pod_ns, 0), -EEXIST);
	assert_int_equal(nl_link_get(&host_nl, "xt-host1", &l), -ENODEV);
	assert_int_equal(nl_link_get(&pod_nl, "xt-pod1", &l), -ENODEV);
}

static void test_link_missing(void **state)
{
	struct nl_link l;

	(void)state;
	assert_int_equal(nl_link_get(&host_nl, MISSING_IF, &l), -ENODEV);
	assert_int_equal(nl_link_get_index(&host_nl, MISSING_INDEX, &l), -ENODEV);
	assert_int_equal(nl_link_del(&host_nl, MISSING_INDEX), -ENODEV);
	assert_int_equal(nl_link_set_up(&host_nl, MISSING_INDEX), -ENODEV);
	assert_int_equal(nl_link_get(&host_nl, "name-longer-than-ifnamsiz", &l), -EINVAL);
}

static void test_link_set_up(void **state)
{
	const struct pair *p = *state;
	struct nl_link l;

	assert_int_equal(nl_link_set_up(&host_nl, p->host.ifindex), 0);
	assert_int_equal(nl_link_get(&host_nl, HOST_IF, &l), 0);
	assert_true(l.up);
	/* The pod end is untouched. */
	assert_int_equal(nl_link_get(&pod_nl, POD_IF, &l), 0);
	assert_false(l.up);
	assert_int_equal(nl_link_set_up(&pod_nl, p->pod.ifindex), 0);
	assert_int_equal(nl_link_get(&pod_nl, POD_IF, &l), 0);
	assert_true(l.up);
}

static void test_link_del(void **state)
{
	const struct pair *p = *state;
	struct nl_link l;

	assert_int_equal(nl_link_del(&host_nl, p->host.ifindex), 0);
	assert_int_equal(nl_link_get(&host_nl, HOST_IF, &l), -ENODEV);
	assert_int_equal(nl_link_get(&pod_nl, POD_IF, &l), -ENODEV);
	assert_int_equal(nl_link_del(&host_nl, p->host.ifindex), -ENODEV);
}

/* ---- addresses ---------------------------------------------------------- */

static void test_addr(void **state)
{
	const struct pair *p = *state;
	struct ipnet v4 = N("10.1.2.3/32"), v6 = N("fd00::3/128");
	struct ipnet list[MAX_LIST];
	int n;

	assert_int_equal(nl_addr_add(&pod_nl, p->pod.ifindex, &v4, RT_SCOPE_UNIVERSE, IFA_F_NODAD), 0);
	assert_int_equal(nl_addr_add(&pod_nl, p->pod.ifindex, &v6, RT_SCOPE_UNIVERSE, IFA_F_NODAD), 0);
	n = nl_addr_list(&pod_nl, p->pod.ifindex, AF_UNSPEC, list, MAX_LIST);
	assert_int_equal(n, 2);
	assert_true(has_addr(list, n, &v4));
	assert_true(has_addr(list, n, &v6));

	/* Adding again replaces: no error, no second copy. */
	assert_int_equal(nl_addr_add(&pod_nl, p->pod.ifindex, &v4, RT_SCOPE_UNIVERSE, IFA_F_NODAD), 0);
	assert_int_equal(nl_addr_add(&pod_nl, p->pod.ifindex, &v6, RT_SCOPE_UNIVERSE, IFA_F_NODAD), 0);
	n = nl_addr_list(&pod_nl, p->pod.ifindex, AF_INET, list, MAX_LIST);
	assert_int_equal(n, 1);
	assert_true(has_addr(list, n, &v4));
	n = nl_addr_list(&pod_nl, p->pod.ifindex, AF_INET6, list, MAX_LIST);
	assert_int_equal(n, 1);
	assert_true(has_addr(list, n, &v6));

	/* max bounds what is filled; other links' addresses are not listed. */
	assert_int_equal(nl_addr_list(&pod_nl, p->pod.ifindex, AF_UNSPEC, list, 1), 1);
	assert_int_equal(nl_addr_list(&host_nl, p->host.ifindex, AF_UNSPEC, list, MAX_LIST), 0);
}

/* IFA_F_NOPREFIXROUTE does not fit ifa_flags: it only works through IFA_FLAGS. */
static void test_addr_noprefixroute(void **state)
{
	const struct pair *p = *state;
	struct ipnet plain = N("10.1.4.4/24"), noprefix = N("10.1.3.3/24");
	struct nl_route r;

	pair_up(p);
	assert_int_equal(nl_addr_add(&pod_nl, p->pod.ifindex, &plain, RT_SCOPE_UNIVERSE, 0), 0);
	assert_int_equal(nl_addr_add(&pod_nl, p->pod.ifindex, &noprefix, RT_SCOPE_UNIVERSE,
				     IFA_F_NOPREFIXROUTE), 0);
	assert_int_equal(find_route(&pod_nl, "10.1.4.0/24", &r), 1);
	assert_int_equal(r.ifindex, p->pod.ifindex);
	assert_int_equal(find_route(&pod_nl, "10.1.3.0/24", &r), 0);
}

/* ---- routes ------------------------------------------------------------- */

static void test_routes(void **state)
{
	const struct pair *p = *state;
	struct ipaddr gw4 = A("169.254.1.1"), gw6 = A("fe80::1");
	struct ipnet gw4net = N("169.254.1.1/32"), def4 = N("0.0.0.0/0"), def6 = N("::/0");
	struct ipnet pod = N("10.1.2.3/32");
	struct nl_route r;

	pair_up(p);
	/* The pod side: gateway reachable on the link, then defaults through it. */
	assert_int_equal(nl_route_add(&pod_nl, p->pod.ifindex, &gw4net, NULL, RT_SCOPE_LINK, 0), 0);
	assert_int_equal(nl_route_add(&pod_nl, p->pod.ifindex, &def4, &gw4, RT_SCOPE_UNIVERSE, 0), 0);
	assert_int_equal(nl_route_add(&pod_nl, p->pod.ifindex, &def6, &gw6, RT_SCOPE_UNIVERSE, 0), 0);
	/* The host side: the pod address on its veth. */
	assert_int_equal(nl_route_add(&host_nl, p->host.ifindex, &pod, NULL, RT_SCOPE_LINK, 0), 0);
	/* Replace: adding the same routes again is fine and adds no copy. */
	assert_int_equal(nl_route_add(&pod_nl, p->pod.ifindex, &def4, &gw4, RT_SCOPE_UNIVERSE, 0), 0);
	assert_int_equal(nl_route_add(&pod_nl, p->pod.ifindex, &def6, &gw6, RT_SCOPE_UNIVERSE, 0), 0);

	assert_int_equal(find_route(&pod_nl, "169.254.1.1/32", &r), 1);
	assert_false(r.has_gw);
	assert_int_equal(r.ifindex, p->pod.ifindex);
	assert_int_equal(r.scope, RT_SCOPE_LINK);
	assert_int_equal(r.mtu, 0);

	assert_int_equal(find_route(&pod_nl, "0.0.0.0/0", &r), 1);
	assert_true(r.has_gw);
	assert_true(ipaddr_equal(&r.gw, &gw4));
	assert_int_equal(r.ifindex, p->pod.ifindex);
	assert_int_equal(r.scope, RT_SCOPE_UNIVERSE);

	assert_int_equal(find_route(&pod_nl, "::/0", &r), 1);
	assert_true(r.has_gw);
	assert_true(ipaddr_equal(&r.gw, &gw6));
	assert_int_equal(r.ifindex, p->pod.ifindex);

	assert_int_equal(find_route(&host_nl, "10.1.2.3/32", &r), 1);
	assert_false(r.has_gw);
	assert_int_equal(r.ifindex, p->host.ifindex);
	assert_int_equal(r.scope, RT_SCOPE_LINK);

	/* Routes belong to the socket's netns. */
	assert_int_equal(find_route(&host_nl, "0.0.0.0/0", &r), 0);
	assert_int_equal(find_route(&pod_nl, "10.1.2.3/32", &r), 0);
}

static void test_route_mtu(void **state)
{
	const struct pair *p = *state;
	struct ipnet v4 = N("10.9.0.0/24"), v6 = N("fd00:9::/64");
	struct nl_route r;

	pair_up(p);
	assert_int_equal(nl_route_add(&pod_nl, p->pod.ifindex, &v4, NULL, RT_SCOPE_LINK, ROUTE_MTU), 0);
	assert_int_equal(nl_route_add(&pod_nl, p->pod.ifindex, &v6, NULL, RT_SCOPE_UNIVERSE,
				      ROUTE_MTU), 0);
	assert_int_equal(find_route(&pod_nl, "10.9.0.0/24", &r), 1);
	assert_int_equal(r.mtu, ROUTE_MTU);
	assert_int_equal(find_route(&pod_nl, "fd00:9::/64", &r), 1);
	assert_int_equal(r.mtu, ROUTE_MTU);
}

static void test_route_del(void **state)
{
	const struct pair *p = *state;
	struct ipnet v4 = N("10.9.1.0/24"), v6 = N("fd00:1::/64");
	struct nl_route r;

	pair_up(p);
	assert_int_equal(nl_route_add(&pod_nl, p->pod.ifindex, &v4, NULL, RT_SCOPE_LINK, 0), 0);
	assert_int_equal(nl_route_add(&pod_nl, p->pod.ifindex, &v6, NULL, RT_SCOPE_UNIVERSE, 0), 0);
	assert_int_equal(find_route(&pod_nl, "10.9.1.0/24", &r), 1);
	assert_int_equal(find_route(&pod_nl, "fd00:1::/64", &r), 1);

	assert_int_equal(nl_route_del(&pod_nl, p->pod.ifindex, &v4), 0);
	assert_int_equal(nl_route_del(&pod_nl, p->pod.ifindex, &v6), 0);
	assert_int_equal(find_route(&pod_nl, "10.9.1.0/24", &r), 0);
	assert_int_equal(find_route(&pod_nl, "fd00:1::/64", &r), 0);

	assert_int_equal(nl_route_del(&pod_nl, p->pod.ifindex, &v4), -ESRCH);
	assert_int_equal(nl_route_del(&pod_nl, p->pod.ifindex, &v6), -ESRCH);
}

/* Routes in a numbered table, EXCL and onlink, as the per-attachment pod
 * tables use them. */
static void test_route_table(void **state)
{
	const struct pair *p = *state;
	struct ipnet def4 = N("0.0.0.0/0"), def6 = N("::/0");
	struct ipaddr gw4 = A("169.254.1.1"), gw6 = A("fe80::1");
	struct nl_route list[MAX_LIST];
	const uint32_t table = 0x78640001;
	int n;

	pair_up(p);
	/* No route to 169.254.1.1 anywhere: only onlink makes it a valid gateway. */
	assert_int_equal(nl_route_add_in(&pod_nl, table, 0, p->pod.ifindex, &def4, &gw4,
					 RT_SCOPE_UNIVERSE, 0), -ENETUNREACH);
	assert_int_equal(nl_route_add_in(&pod_nl, table, NL_ROUTE_ONLINK, p->pod.ifindex, &def4,
					 &gw4, RT_SCOPE_UNIVERSE, 0), 0);
	assert_int_equal(nl_route_add_in(&pod_nl, table, NL_ROUTE_ONLINK, p->pod.ifindex, &def6,
					 &gw6, RT_SCOPE_UNIVERSE, 0), 0);
	/* EXCL refuses a second route for the same destination. */
	assert_int_equal(nl_route_add_in(&pod_nl, table, NL_ROUTE_EXCL | NL_ROUTE_ONLINK,
					 p->pod.ifindex, &def4, &gw4, RT_SCOPE_UNIVERSE, 0), -EEXIST);
	n = nl_route_list_in(&pod_nl, table, AF_INET, list, MAX_LIST);
	assert_int_equal(n, 1);
	assert_int_equal(list[0].ifindex, p->pod.ifindex);
	assert_true(ipaddr_equal(&list[0].gw, &gw4));
	assert_int_equal(nl_route_list_in(&pod_nl, table, AF_INET6, list, MAX_LIST), 1);
	/* Nothing leaked into the main table. */
	assert_int_equal(nl_route_list(&pod_nl, AF_INET, list, MAX_LIST), 0);
}

/* Routes tagged with an owner's protocol: listed and deleted by it, and a
 * route of another protocol to the same destination is never touched. */
static void test_route_proto(void **state)
{
	const struct pair *p = *state;
	struct ipnet peer4 = N("10.9.2.0/24"), peer6 = N("fd00:9:2::/64"), other = N("10.9.3.0/24");
	struct ipaddr gw4 = A("10.9.0.2"), gw6 = A("fd00:9::2");
	struct nl_route list[MAX_LIST];
	const int proto = 0xd9;

	pair_up(p);
	assert_int_equal(nl_addr_add(&host_nl, p->host.ifindex, &(struct ipnet){ A("10.9.0.1"), 24 },
				     RT_SCOPE_UNIVERSE, 0), 0);
	assert_int_equal(nl_addr_add(&host_nl, p->host.ifindex, &(struct ipnet){ A("fd00:9::1"), 64 },
				     RT_SCOPE_UNIVERSE, IFA_F_NODAD), 0);
	assert_int_equal(nl_route_add_proto(&host_nl, RT_TABLE_MAIN, 0, proto, p->host.ifindex,
					    &peer4, &gw4, RT_SCOPE_UNIVERSE, 0), 0);
	assert_int_equal(nl_route_add_proto(&host_nl, RT_TABLE_MAIN, 0, proto, p->host.ifindex,
					    &peer6, &gw6, RT_SCOPE_UNIVERSE, 0), 0);
	/* Replace, not a second copy. */
	assert_int_equal(nl_route_add_proto(&host_nl, RT_TABLE_MAIN, 0, proto, p->host.ifindex,
					    &peer4, &gw4, RT_SCOPE_UNIVERSE, 0), 0);
	assert_int_equal(nl_route_add(&host_nl, p->host.ifindex, &other, &gw4, RT_SCOPE_UNIVERSE, 0),
			 0);

	assert_int_equal(nl_route_list_proto(&host_nl, RT_TABLE_MAIN, AF_INET, proto, list,
					     MAX_LIST), 1);
	assert_int_equal(list[0].protocol, proto);
	assert_int_equal(list[0].dst.prefix, 24);
	assert_true(ipaddr_equal(&list[0].dst.ip, &peer4.ip));
	assert_true(ipaddr_equal(&list[0].gw, &gw4));
	assert_int_equal(nl_route_list_proto(&host_nl, RT_TABLE_MAIN, AF_INET6, proto, list,
					     MAX_LIST), 1);
	assert_true(ipaddr_equal(&list[0].gw, &gw6));

	/* Another protocol's route is not ours to delete. */
	assert_int_equal(nl_route_del_proto(&host_nl, RT_TABLE_MAIN, proto, &other), -ESRCH);
	assert_int_equal(nl_route_del_proto(&host_nl, RT_TABLE_MAIN, proto, &peer4), 0);
	assert_int_equal(nl_route_del_proto(&host_nl, RT_TABLE_MAIN, proto, &peer6), 0);
	assert_int_equal(nl_route_del_proto(&host_nl, RT_TABLE_MAIN, proto, &peer4), -ESRCH);
	assert_int_equal(nl_route_list_proto(&host_nl, RT_TABLE_MAIN, AF_UNSPEC, proto, list,
					     MAX_LIST), 0);
	assert_int_equal(nl_route_del(&host_nl, p->host.ifindex, &other), 0);
}

static void test_vxlan(void **state)
{
	struct nl_vxlan vx;
	struct nl_link l;

	(void)state;
	assert_int_equal(nl_vxlan_get(&host_nl, "xt-vx0", &l, &vx), -ENODEV);
	assert_int_equal(nl_vxlan_create(&host_nl, "xt-vx0", 8472, 1450), 0);
	assert_int_equal(nl_vxlan_create(&host_nl, "xt-vx0", 8472, 1450), -EEXIST);
	assert_int_equal(nl_vxlan_get(&host_nl, "xt-vx0", &l, &vx), 0);
	assert_string_equal(l.kind, "vxlan");
	assert_int_equal(l.mtu, 1450);
	assert_int_equal(vx.port, 8472);
	assert_true(vx.collect_md);
	assert_false(vx.learning);
	assert_int_equal(nl_link_set_mtu(&host_nl, l.ifindex, 1400), 0);
	assert_int_equal(nl_link_get(&host_nl, "xt-vx0", &l), 0);
	assert_int_equal(l.mtu, 1400);
	assert_int_equal(nl_link_set_mtu(&host_nl, l.ifindex, 0), -EINVAL);
	/* Not a vxlan device. */
	assert_int_equal(nl_vxlan_get(&host_nl, "lo", &l, &vx), -EMEDIUMTYPE);
	assert_int_equal(nl_vxlan_create(&host_nl, "xt-vx1", 0, 0), -EINVAL);
	assert_int_equal(nl_link_get(&host_nl, "xt-vx0", &l), 0);
	assert_int_equal(nl_link_del(&host_nl, l.ifindex), 0);
}

static void test_rules(void **state)
{
	struct ipnet src4 = N("10.1.9.9/32"), src6 = N("fd00:9::9/128");
	const uint32_t table = 0x78640002;

	(void)state;
	assert_int_equal(nl_rule_add(&pod_nl, &src4, table, 1000), 0);
	assert_int_equal(nl_rule_add(&pod_nl, &src4, table, 1000), 0); /* identical: no copy */
	assert_int_equal(nl_rule_add(&pod_nl, &src6, table, 1000), 0);
	assert_int_equal(nl_rule_del_table(&pod_nl, AF_INET, table), 1);
	assert_int_equal(nl_rule_del_table(&pod_nl, AF_INET, table), 0);
	assert_int_equal(nl_rule_del_table(&pod_nl, AF_INET6, table), 1);
	assert_int_equal(nl_rule_del_table(&pod_nl, AF_INET6, table + 1), 0);
}

/* ---- neighbours --------------------------------------------------------- */

static void check_neigh(int ifindex, const char *addr)
{
	struct ipaddr a = A(addr);
	struct neigh nb;

	assert_int_equal(nl_neigh_add(&host_nl, ifindex, &a, pod_mac), 0);
	assert_int_equal(neigh_get(ifindex, &a, &nb), 0);
	assert_true(nb.found);
	assert_int_equal(nb.state, NUD_PERMANENT);
	assert_memory_equal(nb.mac, pod_mac, sizeof(pod_mac));

	/* Replace in place with a new MAC. */
	assert_int_equal(nl_neigh_add(&host_nl, ifindex, &a, other_mac), 0);
	assert_int_equal(neigh_get(ifindex, &a, &nb), 0);
	assert_int_equal(nb.state, NUD_PERMANENT);
	assert_memory_equal(nb.mac, other_mac, sizeof(other_mac));
}

static void test_neigh(void **state)
{
	const struct pair *p = *state;
	struct ipaddr a = A("10.1.2.99");
	struct neigh nb;

	pair_up(p);
	check_neigh(p->host.ifindex, "10.1.2.3");
	check_neigh(p->host.ifindex, "fd00::3");
	/* The lookup itself can tell absence. */
	assert_int_equal(neigh_get(p->host.ifindex, &a, &nb), -ENOENT);
}

/* ---- netns and sysctl --------------------------------------------------- */

static void check_sysctl_round_trip(const char *ifname)
{
	char key[128], val[16];

	snprintf(key, sizeof(key), "net/ipv4/conf/%s/forwarding", ifname);
	assert_int_equal(sysctl_write(key, "1"), 0);
	assert_int_equal(sysctl_read(key, val, sizeof(val)), 0);
	assert_string_equal(val, "1");
	assert_int_equal(sysctl_write(key, "0"), 0);
	assert_int_equal(sysctl_read(key, val, sizeof(val)), 0);
	assert_string_equal(val, "0");
}

static void test_sysctl(void **state)
{
	char val[16];

	(void)state;
	check_sysctl_round_trip(HOST_IF);
	assert_int_equal(nl_veth_create(&host_nl, DOT_HOST_IF, NULL, DOT_POD_IF, NULL, pod_ns, 0), 0);
	check_sysctl_round_trip(DOT_HOST_IF);

	assert_int_equal(sysctl_read("net/ipv4/conf/" MISSING_IF "/forwarding", val, sizeof(val)),
			 -ENOENT);
	assert_int_equal(sysctl_write("net/ipv4/conf/" MISSING_IF "/forwarding", "1"), -ENOENT);
	assert_int_equal(sysctl_read("net/../kernel/hostname", val, sizeof(val)), -EINVAL);
	assert_int_equal(sysctl_read("/proc/sys/net/ipv4/ip_forward", val, sizeof(val)), -EINVAL);
	/* "0\n" does not fit in one byte. */
	assert_int_equal(sysctl_read("net/ipv4/ip_forward", val, 1), -EOVERFLOW);
}

static void test_netns(void **state)
{
	struct stat self_st, pod_st;
	int fd, err;

	(void)state;
	fd = netns_open("/proc/self/ns/net");
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(netns_open("/etc/hostname"), -EINVAL);
	assert_int_equal(netns_open("/proc/self/ns/uts"), -EINVAL);
	assert_int_equal(netns_open("/nonexistent/xdpath-netns"), -ENOENT);

	/* Into the pod netns and back before asserting, so a failure cannot
	 * strand later tests in the wrong netns. */
	assert_int_equal(netns_enter(pod_ns), 0);
	fd = netns_self();
	err = netns_enter(host_ns);
	assert_int_equal(err, 0);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &self_st), 0);
	assert_int_equal(fstat(pod_ns, &pod_st), 0);
	close(fd);
	assert_true(self_st.st_ino == pod_st.st_ino && self_st.st_dev == pod_st.st_dev);

	assert_int_equal(netns_enter(-1), -EBADF);
}

/* Move into a private netns ("host") and make a second one ("pod"). Both are
 * held only by our fds, so nothing outlives the process. */
static int sandbox(void)
{
	int err;

	if (geteuid() != 0) {
		fprintf(stderr, "test_nl: must run as root (creates network namespaces)\n");
		return -1;
	}
	if (unshare(CLONE_NEWNET) < 0)
		return report("unshare", -errno);
	host_ns = netns_self();
	if (host_ns < 0)
		return report("host netns", host_ns);
	if (unshare(CLONE_NEWNET) < 0)
		return report("unshare", -errno);
	pod_ns = netns_self();
	if (pod_ns < 0)
		return report("pod netns", pod_ns);
	err = netns_enter(host_ns);
	if (err)
		return report("back to host netns", err);
	return 0;
}

#define PAIR_TEST(f) cmocka_unit_test_setup_teardown(f, pair_setup, pair_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		PAIR_TEST(test_veth_create),
		PAIR_TEST(test_veth_exists),
		cmocka_unit_test(test_link_missing),
		PAIR_TEST(test_link_set_up),
		PAIR_TEST(test_addr),
		PAIR_TEST(test_addr_noprefixroute),
		PAIR_TEST(test_routes),
		PAIR_TEST(test_route_mtu),
		PAIR_TEST(test_route_del),
		PAIR_TEST(test_route_table),
		PAIR_TEST(test_route_proto),
		cmocka_unit_test(test_vxlan),
		PAIR_TEST(test_rules),
		PAIR_TEST(test_neigh),
		PAIR_TEST(test_link_del),
		PAIR_TEST(test_sysctl),
		cmocka_unit_test(test_netns),
	};
	int ret;

	if (sandbox())
		return 1;
	ret = cmocka_run_group_tests(tests, group_setup, group_teardown);
	close(pod_ns);
	close(host_ns);
	return ret;
}
