/* test_bpf: the BPF datapath (bpf/) under BPF_PROG_TEST_RUN.
 *
 * main() moves the process into a private network namespace, so the FIB
 * lookups of native routing see only what the fixture builds there:
 *   xtb-a, xtb-b   host veths of pods A and B (peers xtb-ap, xtb-bp)
 *   xtb-up         the "uplink", 192.168.99.1/24 + fd00:99::1/64, with
 *                  routes to the remote pod CIDRs (below) and a permanent
 *                  neighbour for the next hop .2 / ::2
 *   xtb-sm         a second uplink with MTU SMALL_MTU, 192.168.98.1/24 +
 *                  fd00:98::1/64, next hop .2 / ::2 known (the kernel's
 *                  forwarding ignores an unlocked route MTU, and so does
 *                  bpf_fib_lookup: a small MTU has to be the device's)
 * All three skeletons are loaded with their LIBBPF_PIN_BY_NAME maps pinned
 * under a private /sys/fs/bpf/xdpt-bpf-<pid>, removed at the end (group
 * teardown, and atexit for an early exit). Every test starts from empty
 * counters and the standard endpoint/node maps (test_setup).
 *
 * Kernel test_run notes (6.x): the __sk_buff ctx accepts mark, priority,
 * ingress_ifindex (-> skb_iif), ifindex (-> skb->dev, must exist in the
 * caller's netns), cb, tstamp, wire_len, gso_segs, gso_size, hwtstamp and
 * nothing else (anything else set: -EINVAL). data_in is refused with
 * -EINVAL below ETH_HLEN, and on 6.18 also below ETH_HLEN + 20 for
 * ethertype 0x0800 and ETH_HLEN + 40 for 0x86dd: frames cut inside the IP
 * header go through the program attached to a veth instead
 * (expect_dropped_live). Redirect helpers only record their target and
 * return TC_ACT_REDIRECT, nothing is transmitted; bpf_skb_set_tunnel_key
 * works. The skb is CHECKSUM_NONE, so skb->csum handling is not covered.
 * Needs root. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "pindir.h"
#include "testutil.h"
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <libmnl/libmnl.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/if_packet.h>
#include <linux/magic.h>
#include <linux/pkt_cls.h>
#include <linux/rtnetlink.h>
#include <linux/udp.h>

#include "from_pod.skel.h"
#include "ipaddr.h"
#include "netns.h"
#include "nl.h"
#include "to_pod.skel.h"
#include "xdp_uplink.skel.h"
#include "xdpath/datapath.h"
#include "xdpath/policy.h"

#define BPFFS        "/sys/fs/bpf"
#define IF_A         "xtb-a"
#define IF_A_PEER    "xtb-ap"
#define IF_B         "xtb-b"
#define IF_B_PEER    "xtb-bp"
#define IF_UP        "xtb-up"
#define IF_UP_PEER   "xtb-upp"
#define IF_SM        "xtb-sm"
#define IF_SM_PEER   "xtb-smp"
#define SMALL_MTU    1300        /* of xtb-sm; >= 1280 for IPv6 */
#define BIG_PAYLOAD  1372        /* + IPv4/UDP headers = 1400 > SMALL_MTU */
#define EP_C_ID      3000        /* the not-ready endpoint has no veth */
#define EP_C_IFINDEX 3000
#define VNI          42
#define MAX_FRAME    4096

/* Locally administered unicast MACs. */
static const uint8_t pod_a_mac[6]  = { 0x02, 0x0a, 0x00, 0x00, 0x00, 0x0a };
static const uint8_t host_a_mac[6] = { 0x02, 0x0a, 0x00, 0x00, 0x01, 0x0a };
static const uint8_t pod_b_mac[6]  = { 0x02, 0x0a, 0x00, 0x00, 0x00, 0x14 };
static const uint8_t host_b_mac[6] = { 0x02, 0x0a, 0x00, 0x00, 0x01, 0x14 };
static const uint8_t pod_c_mac[6]  = { 0x02, 0x0a, 0x00, 0x00, 0x00, 0x1e };
static const uint8_t host_c_mac[6] = { 0x02, 0x0a, 0x00, 0x00, 0x01, 0x1e };
static const uint8_t up_mac[6]     = { 0x02, 0x0a, 0x00, 0x00, 0x02, 0x01 };
static const uint8_t up_peer_mac[6] = { 0x02, 0x0a, 0x00, 0x00, 0x02, 0xff };
static const uint8_t nh_mac[6]     = { 0x02, 0x0a, 0x00, 0x00, 0x02, 0x02 };
static const uint8_t sm_mac[6]     = { 0x02, 0x0a, 0x00, 0x00, 0x03, 0x01 };
static const uint8_t sm_peer_mac[6] = { 0x02, 0x0a, 0x00, 0x00, 0x03, 0xff };
static const uint8_t sm_nh_mac[6]  = { 0x02, 0x0a, 0x00, 0x00, 0x03, 0x02 };
static const uint8_t evil_mac[6]   = { 0x02, 0x0a, 0x00, 0x00, 0x00, 0x66 };
static const uint8_t bcast_mac[6]  = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

/* Per-family addresses; every test that exists for both families takes one
 * of these as its state. Remote CIDRs are all in xdp_nodes; the kernel
 * routes differ: */
struct fam {
	int family;              /* AF_INET / AF_INET6 */
	const char *a, *b, *c;   /* endpoints: A, B (ready), C (not ready) */
	const char *stranger;    /* pod-CIDR-looking, in no map */
	const char *outside;     /* outside the cluster, no node */
	const char *remote;      /* route via .2/::2, neighbour known */
	const char *noneigh;     /* route via .3/::3, no neighbour */
	const char *noroute;     /* no kernel route at all */
	const char *unreach;     /* unreachable route */
	const char *small_mtu;   /* via xtb-sm (MTU SMALL_MTU), neighbour known */
	const char *cidrs[5];    /* the node CIDRs of remote..small_mtu */
	const char *nh, *nh_noneigh, *nh_sm;
	const char *up_addr, *sm_addr;
	const char *local_only_src[4]; /* pairs src,dst that must go to the stack */
	const char *local_only_dst[4];
};

static const struct fam V4 = {
	.family = AF_INET,
	.a = "10.1.0.10", .b = "10.1.0.20", .c = "10.1.0.30",
	.stranger = "10.1.0.99", .outside = "8.8.8.8",
	.remote = "10.2.0.5", .noneigh = "10.3.0.5", .noroute = "10.4.0.5",
	.unreach = "10.5.0.5", .small_mtu = "10.6.0.5",
	.cidrs = { "10.2.0.0/24", "10.3.0.0/24", "10.4.0.0/24", "10.5.0.0/24", "10.6.0.0/24" },
	.nh = "192.168.99.2", .nh_noneigh = "192.168.99.3", .nh_sm = "192.168.98.2",
	.up_addr = "192.168.99.1/24", .sm_addr = "192.168.98.1/24",
	/* the gateway, limited broadcast, mDNS multicast, another link-local */
	.local_only_src = { "10.1.0.10", "10.1.0.10", "10.1.0.10", "10.1.0.10" },
	.local_only_dst = { "169.254.1.1", "255.255.255.255", "224.0.0.251", "169.254.169.254" },
};

static const struct fam V6 = {
	.family = AF_INET6,
	.a = "fd00:1::10", .b = "fd00:1::20", .c = "fd00:1::30",
	.stranger = "fd00:1::99", .outside = "2001:db8::1",
	.remote = "fd00:2::5", .noneigh = "fd00:3::5", .noroute = "fd00:4::5",
	.unreach = "fd00:5::5", .small_mtu = "fd00:6::5",
	.cidrs = { "fd00:2::/64", "fd00:3::/64", "fd00:4::/64", "fd00:5::/64", "fd00:6::/64" },
	.nh = "fd00:99::2", .nh_noneigh = "fd00:99::3", .nh_sm = "fd00:98::2",
	.up_addr = "fd00:99::1/64", .sm_addr = "fd00:98::1/64",
	/* ND solicitation (solicited-node multicast), the gateway, all-nodes,
	 * DAD (unspecified source) */
	.local_only_src = { "fe80::aa", "fe80::aa", "fd00:1::10", "::" },
	.local_only_dst = { "ff02::1:ff00:20", "fe80::1", "ff02::1", "ff02::1:ff00:10" },
};

/* ---- global fixture ------------------------------------------------------- */

static struct from_pod *fp;
static struct to_pod *tp;
static struct xdp_uplink *xu;
static int ncpus;
static struct nl nl;
static int if_a, if_b, if_up, if_sm;
static int if_a_peer, if_up_peer;

static int report(const char *what, int err)
{
	fprintf(stderr, "test_bpf: %s: %s\n", what, strerror(err < 0 ? -err : err));
	return -1;
}

static void pin_dir_remove(void)
{
	int err = pindir_remove();

	if (err)
		report("rmdir pin dir", err);
}

static int link_index(const char *name, int *ifindex)
{
	struct nl_link l;
	int err;

	err = nl_link_get(&nl, name, &l);
	if (err)
		return report(name, err);
	*ifindex = l.ifindex;
	return 0;
}

static int link_up(const char *name)
{
	int ifindex, err;

	if (link_index(name, &ifindex))
		return -1;
	err = nl_link_set_up(&nl, ifindex);
	return err ? report(name, err) : 0;
}

static int veth(const char *name, const uint8_t *mac, const char *peer, const uint8_t *peer_mac,
		int mtu, int *ifindex)
{
	int self, err;

	self = netns_self();
	if (self < 0)
		return report("netns_self", self);
	err = nl_veth_create(&nl, name, mac, peer, peer_mac, self, mtu);
	close(self);
	if (err)
		return report(name, err);
	if (link_up(name) || link_up(peer))
		return -1;
	return link_index(name, ifindex);
}

/* "unreachable <dst>": nl.c has no route types, so one raw request. */
static int route_unreachable(const char *cidr)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct mnl_socket *s;
	struct nlmsghdr *nlh;
	struct rtmsg *rtm;
	struct ipnet dst;
	int n, err = -EIO;

	if (ipnet_parse(cidr, &dst))
		return -EINVAL;
	s = mnl_socket_open(NETLINK_ROUTE);
	if (!s)
		return -errno;
	if (mnl_socket_bind(s, 0, MNL_SOCKET_AUTOPID) < 0) {
		err = -errno;
		goto out;
	}
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_NEWROUTE;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE | NLM_F_ACK;
	nlh->nlmsg_seq = 1;
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = dst.ip.family;
	rtm->rtm_dst_len = dst.prefix;
	rtm->rtm_table = RT_TABLE_MAIN;
	rtm->rtm_protocol = RTPROT_STATIC;
	rtm->rtm_scope = RT_SCOPE_UNIVERSE;
	rtm->rtm_type = RTN_UNREACHABLE;
	mnl_attr_put(nlh, RTA_DST, ipaddr_len(&dst.ip), dst.ip.b);
	if (mnl_socket_sendto(s, nlh, nlh->nlmsg_len) < 0) {
		err = -errno;
		goto out;
	}
	n = mnl_socket_recvfrom(s, buf, sizeof(buf));
	if (n < 0) {
		err = -errno;
		goto out;
	}
	nlh = (struct nlmsghdr *)buf;
	if (nlh->nlmsg_type == NLMSG_ERROR)
		err = ((struct nlmsgerr *)mnl_nlmsg_get_payload(nlh))->error;
out:
	mnl_socket_close(s);
	return err;
}

static int routes(const struct fam *f)
{
	struct ipnet up = N(f->up_addr), sm = N(f->sm_addr), c;
	struct ipaddr nh = A(f->nh), nh2 = A(f->nh_noneigh), nh3 = A(f->nh_sm);
	int err;

	err = nl_addr_add(&nl, if_up, &up, RT_SCOPE_UNIVERSE, IFA_F_NODAD);
	if (!err)
		err = nl_addr_add(&nl, if_sm, &sm, RT_SCOPE_UNIVERSE, IFA_F_NODAD);
	if (err)
		return report("addresses", err);
	c = N(f->cidrs[0]);
	err = nl_route_add(&nl, if_up, &c, &nh, RT_SCOPE_UNIVERSE, 0);
	if (!err)
		err = nl_neigh_add(&nl, if_up, &nh, nh_mac);
	if (!err) {
		c = N(f->cidrs[1]);
		err = nl_route_add(&nl, if_up, &c, &nh2, RT_SCOPE_UNIVERSE, 0);
	}
	/* cidrs[2]: no route. */
	if (!err)
		err = route_unreachable(f->cidrs[3]);
	if (!err) {
		c = N(f->cidrs[4]);
		err = nl_route_add(&nl, if_sm, &c, &nh3, RT_SCOPE_UNIVERSE, 0);
	}
	if (!err)
		err = nl_neigh_add(&nl, if_sm, &nh3, sm_nh_mac);
	return err ? report("routes", err) : 0;
}

static int network(void)
{
	struct nl_link lo;
	int err;

	err = nl_open(&nl);
	if (err)
		return report("nl_open", err);
	err = nl_link_get(&nl, "lo", &lo);
	if (!err)
		err = nl_link_set_up(&nl, lo.ifindex);
	if (err)
		return report("lo up", err);
	if (veth(IF_A, host_a_mac, IF_A_PEER, pod_a_mac, 0, &if_a) ||
	    veth(IF_B, host_b_mac, IF_B_PEER, pod_b_mac, 0, &if_b) ||
	    veth(IF_UP, up_mac, IF_UP_PEER, up_peer_mac, 0, &if_up) ||
	    veth(IF_SM, sm_mac, IF_SM_PEER, sm_peer_mac, SMALL_MTU, &if_sm))
		return -1;
	if (link_index(IF_A_PEER, &if_a_peer) || link_index(IF_UP_PEER, &if_up_peer))
		return -1;
	/* The "pods" stay silent (no IPv6 autoconfiguration traffic): the
	 * live tests count every packet they see. */
	err = sysctl_write("net/ipv6/conf/" IF_A_PEER "/disable_ipv6", "1");
	if (!err)
		err = sysctl_write("net/ipv6/conf/" IF_UP_PEER "/disable_ipv6", "1");
	if (err)
		return report("disable_ipv6", err);
	/* Router everywhere (bpf_fib_lookup answers FWD_DISABLED otherwise). */
	err = sysctl_write("net/ipv4/ip_forward", "1");
	if (!err)
		err = sysctl_write("net/ipv6/conf/all/forwarding", "1");
	if (err)
		return report("forwarding sysctl", err);
	return routes(&V4) || routes(&V6) ? -1 : 0;
}

static int group_setup(void **state)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = pindir);
	int err;

	(void)state;
	ncpus = libbpf_num_possible_cpus();
	if (ncpus <= 0)
		return report("possible cpus", ncpus);
	if (network())
		return -1;
	err = pindir_make("xdpt-bpf");
	if (err)
		return report("pin dir under " PINDIR_BPFFS, err);
	/* The first load creates and pins the maps, the others reuse the pins. */
	fp = from_pod__open_opts(&opts);
	if (!fp)
		return report("open from_pod", errno);
	err = from_pod__load(fp);
	if (err)
		return report("load from_pod", err);
	tp = to_pod__open_opts(&opts);
	if (!tp)
		return report("open to_pod", errno);
	err = to_pod__load(tp);
	if (err)
		return report("load to_pod", err);
	xu = xdp_uplink__open_opts(&opts);
	if (!xu)
		return report("open xdp_uplink", errno);
	err = xdp_uplink__load(xu);
	if (err)
		return report("load xdp_uplink", err);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	xdp_uplink__destroy(xu);
	to_pod__destroy(tp);
	from_pod__destroy(fp);
	xu = NULL;
	tp = NULL;
	fp = NULL;
	pin_dir_remove();
	nl_close(&nl);
	return 0;
}

/* ---- maps ----------------------------------------------------------------- */

static int map_fd(const struct bpf_map *m)
{
	return bpf_map__fd(m);
}

#define FD(name) map_fd(fp->maps.name)

static void clear_hash(int fd, size_t key_size)
{
	uint8_t key[64];

	assert_true(key_size <= sizeof(key));
	/* Restart from the first key each time: the current one is gone. */
	while (bpf_map_get_next_key(fd, NULL, key) == 0)
		assert_int_equal(bpf_map_delete_elem(fd, key), 0);
}

static void clear_percpu_array(int fd, uint32_t n)
{
	struct xdp_counter zero[ncpus];

	memset(zero, 0, sizeof(zero));
	for (uint32_t i = 0; i < n; i++)
		assert_int_equal(bpf_map_update_elem(fd, &i, zero, BPF_ANY), 0);
}

static struct xdp_ep_key ep_key(const char *addr)
{
	struct ipaddr a = A(addr);
	struct xdp_ep_key k;

	memset(&k, 0, sizeof(k));
	k.family = a.family == AF_INET ? XDP_EP_FAMILY_V4 : XDP_EP_FAMILY_V6;
	memcpy(k.addr, a.b, ipaddr_len(&a));
	return k;
}

static void ep_add(const char *addr, uint32_t host_ifindex, const uint8_t *host_mac,
		   const uint8_t *pod_mac, uint32_t ep_id, uint32_t flags)
{
	struct xdp_ep_key k = ep_key(addr);
	struct xdp_ep_info v;

	memset(&v, 0, sizeof(v));
	v.host_ifindex = host_ifindex;
	v.pod_ifindex = 2;
	memcpy(v.host_mac, host_mac, 6);
	memcpy(v.pod_mac, pod_mac, 6);
	v.ep_id = ep_id;
	v.flags = flags;
	assert_int_equal(bpf_map_update_elem(FD(xdp_endpoints), &k, &v, BPF_ANY), 0);
}

static void node_add(const char *cidr, const char *node_ip4, uint32_t node_id)
{
	struct ipnet n = N(cidr);
	struct ipaddr nip = A(node_ip4);
	struct xdp_cidr_key k;
	struct xdp_node_info v;

	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	k.prefixlen = XDP_CIDR_PREFIX(n.prefix);
	k.family = n.ip.family == AF_INET ? XDP_EP_FAMILY_V4 : XDP_EP_FAMILY_V6;
	memcpy(k.addr, n.ip.b, ipaddr_len(&n.ip));
	memcpy(&v.node_ip4, nip.b, 4);
	v.node_id = node_id;
	assert_int_equal(bpf_map_update_elem(FD(xdp_nodes), &k, &v, BPF_ANY), 0);
}

static void config_set(uint32_t mode)
{
	struct xdp_config c;
	uint32_t zero = 0;

	memset(&c, 0, sizeof(c));
	c.flags = XDP_CFG_F_READY;
	c.mode = mode;
	c.uplink_ifindex = if_up;
	c.tunnel_ifindex = 1; /* lo: test_run never transmits */
	c.vni = VNI;
	memcpy(&c.node_ip4, A("192.168.99.1").b, 4);
	assert_int_equal(bpf_map_update_elem(FD(xdp_config), &zero, &c, BPF_ANY), 0);
}

/* Empty counters, endpoints A, B (ready) and C (not ready) of both families,
 * every remote CIDR owned by a node, native mode. */
static int test_setup(void **state)
{
	static const struct fam *fams[] = { &V4, &V6 };

	(void)state;
	clear_hash(FD(xdp_endpoints), sizeof(struct xdp_ep_key));
	clear_hash(FD(xdp_nodes), sizeof(struct xdp_cidr_key));
	clear_hash(FD(xdp_ep_stats), sizeof(uint32_t));
	clear_hash(FD(xdp_ct), sizeof(struct xdp_ct_key));
	clear_hash(FD(xdp_ipcache), sizeof(struct xdp_cidr_key));
	clear_hash(FD(xdp_ipcache_host), sizeof(struct xdp_cidr_key));
	clear_hash(FD(xdp_policy), sizeof(struct xdp_pol_key));
	clear_hash(FD(xdp_pol_cidr), sizeof(struct xdp_polcidr_key));
	clear_hash(FD(xdp_ep_policy), sizeof(uint32_t));
	clear_percpu_array(FD(xdp_drops), XDP_DROP_MAX);
	clear_percpu_array(FD(xdp_fwd), XDP_FWD_MAX);
	for (int i = 0; i < 2; i++) {
		const struct fam *f = fams[i];

		ep_add(f->a, if_a, host_a_mac, pod_a_mac, if_a, XDP_EP_F_READY);
		ep_add(f->b, if_b, host_b_mac, pod_b_mac, if_b, XDP_EP_F_READY);
		ep_add(f->c, EP_C_IFINDEX, host_c_mac, pod_c_mac, EP_C_ID, 0);
		for (int j = 0; j < 5; j++)
			node_add(f->cidrs[j], j == 1 ? "192.168.99.3" : "192.168.99.2", 2 + j);
	}
	config_set(XDP_MODE_NATIVE);
	return 0;
}

/* ---- counters --------------------------------------------------------------- */

static struct xdp_counter counter(int fd, uint32_t idx)
{
	struct xdp_counter v[ncpus], sum = { 0, 0 };

	assert_int_equal(bpf_map_lookup_elem(fd, &idx, v), 0);
	for (int i = 0; i < ncpus; i++) {
		sum.packets += v[i].packets;
		sum.bytes += v[i].bytes;
	}
	return sum;
}

static struct xdp_ep_stats ep_stats(uint32_t ep_id)
{
	struct xdp_ep_stats v[ncpus], sum;

	memset(&sum, 0, sizeof(sum));
	if (bpf_map_lookup_elem(FD(xdp_ep_stats), &ep_id, v))
		return sum; /* never counted */
	for (int i = 0; i < ncpus; i++) {
		sum.tx_packets += v[i].tx_packets;
		sum.tx_bytes += v[i].tx_bytes;
		sum.rx_packets += v[i].rx_packets;
		sum.rx_bytes += v[i].rx_bytes;
		sum.drops += v[i].drops;
		sum.policy_denied_ingress += v[i].policy_denied_ingress;
		sum.policy_denied_egress += v[i].policy_denied_egress;
	}
	return sum;
}

/* Exactly `packets` packets of `bytes` each went to drop reason `reason`
 * (XDP_DROP_NONE: none at all), and nothing else was dropped. */
static void expect_drops(int reason, uint64_t packets, uint64_t bytes)
{
	for (uint32_t i = 0; i < XDP_DROP_MAX; i++) {
		struct xdp_counter c = counter(FD(xdp_drops), i);

		if ((int)i == reason && reason != XDP_DROP_NONE) {
			assert_int_equal(c.packets, packets);
			assert_int_equal(c.bytes, packets * bytes);
		} else {
			if (c.packets)
				fprintf(stderr, "unexpected drop reason %u\n", i);
			assert_int_equal(c.packets, 0);
		}
	}
}

/* The same for the forwarding verdicts (how = -1: none). */
static void expect_fwds(int how, uint64_t packets, uint64_t bytes)
{
	for (uint32_t i = 0; i < XDP_FWD_MAX; i++) {
		struct xdp_counter c = counter(FD(xdp_fwd), i);

		if ((int)i == how) {
			assert_int_equal(c.packets, packets);
			assert_int_equal(c.bytes, packets * bytes);
		} else {
			if (c.packets)
				fprintf(stderr, "unexpected fwd verdict %u\n", i);
			assert_int_equal(c.packets, 0);
		}
	}
}

static void expect_drop(int reason, uint64_t bytes)
{
	expect_drops(reason, 1, bytes);
	expect_fwds(-1, 0, 0);
}

static void expect_fwd(int how, uint64_t bytes)
{
	expect_fwds(how, 1, bytes);
	expect_drops(XDP_DROP_NONE, 0, 0);
}

static void expect_ep(uint32_t ep_id, uint64_t tx, uint64_t rx, uint64_t drops, uint64_t bytes)
{
	struct xdp_ep_stats s = ep_stats(ep_id);

	assert_int_equal(s.tx_packets, tx);
	assert_int_equal(s.tx_bytes, tx * bytes);
	assert_int_equal(s.rx_packets, rx);
	assert_int_equal(s.rx_bytes, rx * bytes);
	assert_int_equal(s.drops, drops);
}

/* The policy drops counted against ep_id, per direction. */
static void expect_ep_denied(uint32_t ep_id, uint64_t ingress, uint64_t egress)
{
	struct xdp_ep_stats s = ep_stats(ep_id);

	assert_int_equal(s.policy_denied_ingress, ingress);
	assert_int_equal(s.policy_denied_egress, egress);
}

/* No per-endpoint stats at all. */
static void expect_no_ep_stats(void)
{
	uint32_t key;

	assert_int_not_equal(bpf_map_get_next_key(FD(xdp_ep_stats), NULL, &key), 0);
}

/* ---- packets ---------------------------------------------------------------- */

static uint32_t sum16(const void *data, size_t len, uint32_t sum)
{
	const uint8_t *p = data;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void ipv4_csum_set(uint8_t *frame)
{
	struct iphdr *ip = (struct iphdr *)(frame + ETH_HLEN);

	ip->check = 0;
	ip->check = htons(fold(sum16(ip, ip->ihl * 4, 0)));
}

static int ipv4_csum_ok(const uint8_t *frame)
{
	const struct iphdr *ip = (const struct iphdr *)(frame + ETH_HLEN);

	return fold(sum16(ip, ip->ihl * 4, 0)) == 0;
}

/* Ethernet + IPv4/IPv6 (family from the addresses) + an L4 header: UDP, or
 * for IPPROTO_ICMPV6 a neighbour solicitation. payload bytes follow. The L4
 * checksum is valid. Returns the frame length. */
static size_t build(uint8_t *buf, const uint8_t *dmac, const uint8_t *smac, const char *src,
		    const char *dst, uint8_t ttl, uint8_t proto, size_t payload)
{
	struct ipaddr s = A(src), d = A(dst);
	struct ethhdr *eth = (struct ethhdr *)buf;
	size_t l3 = s.family == AF_INET ? sizeof(struct iphdr) : sizeof(struct ipv6hdr);
	size_t l4len = 8 + payload, csum_off;
	uint8_t *l4 = buf + ETH_HLEN + l3;
	uint32_t sum;

	assert_int_equal(s.family, d.family);
	assert_true(ETH_HLEN + l3 + l4len <= MAX_FRAME);
	memset(buf, 0, ETH_HLEN + l3 + l4len);
	memcpy(eth->h_dest, dmac, 6);
	memcpy(eth->h_source, smac, 6);
	if (s.family == AF_INET) {
		struct iphdr *ip = (struct iphdr *)(buf + ETH_HLEN);

		eth->h_proto = htons(ETH_P_IP);
		ip->version = 4;
		ip->ihl = 5;
		ip->tot_len = htons(l3 + l4len);
		ip->id = htons(0x1234);
		ip->frag_off = htons(0x4000); /* DF */
		ip->ttl = ttl;
		ip->protocol = proto;
		memcpy(&ip->saddr, s.b, 4);
		memcpy(&ip->daddr, d.b, 4);
		ipv4_csum_set(buf);
		sum = sum16(s.b, 4, 0);
		sum = sum16(d.b, 4, sum);
		sum += proto + l4len;
	} else {
		struct ipv6hdr *ip6 = (struct ipv6hdr *)(buf + ETH_HLEN);

		eth->h_proto = htons(ETH_P_IPV6);
		ip6->version = 6;
		ip6->payload_len = htons(l4len);
		ip6->nexthdr = proto;
		ip6->hop_limit = ttl;
		memcpy(&ip6->saddr, s.b, 16);
		memcpy(&ip6->daddr, d.b, 16);
		sum = sum16(s.b, 16, 0);
		sum = sum16(d.b, 16, sum);
		sum += proto + l4len;
	}
	for (size_t i = 0; i < payload; i++)
		l4[8 + i] = (uint8_t)(i * 7 + 1);
	if (proto == IPPROTO_ICMPV6) {
		l4[0] = 135; /* neighbour solicitation: type, code, csum, reserved, target... */
		csum_off = 2;
	} else {
		struct udphdr *udp = (struct udphdr *)l4;

		udp->source = htons(40000);
		udp->dest = htons(53);
		udp->len = htons(l4len);
		csum_off = 6;
	}
	sum = sum16(l4, l4len, sum);
	l4[csum_off] = fold(sum) >> 8;
	l4[csum_off + 1] = fold(sum) & 0xff;
	return ETH_HLEN + l3 + l4len;
}

static size_t udp(uint8_t *buf, const uint8_t *dmac, const uint8_t *smac, const char *src,
		  const char *dst, uint8_t ttl)
{
	return build(buf, dmac, smac, src, dst, ttl, IPPROTO_UDP, 32);
}

/* A frame pod A sends to dst through its gateway (the host veth). */
static size_t from_a(uint8_t *buf, const char *dst, uint8_t ttl)
{
	const char *src = strchr(dst, ':') ? V6.a : V4.a;

	return udp(buf, host_a_mac, pod_a_mac, src, dst, ttl);
}

/* A frame arriving on the uplink for dst. */
static size_t from_wire(uint8_t *buf, const char *src, const char *dst, uint8_t ttl)
{
	return udp(buf, up_mac, up_peer_mac, src, dst, ttl);
}

/* What forwarding must make of frame: new MACs (NULL: unchanged), TTL or
 * hop limit - 1, IPv4 header checksum recomputed. */
static void forwarded(uint8_t *frame, const uint8_t *dmac, const uint8_t *smac)
{
	struct ethhdr *eth = (struct ethhdr *)frame;

	if (dmac)
		memcpy(eth->h_dest, dmac, 6);
	if (smac)
		memcpy(eth->h_source, smac, 6);
	if (eth->h_proto == htons(ETH_P_IP)) {
		((struct iphdr *)(frame + ETH_HLEN))->ttl--;
		ipv4_csum_set(frame);
	} else {
		((struct ipv6hdr *)(frame + ETH_HLEN))->hop_limit--;
	}
}

/* ---- running programs ------------------------------------------------------- */

struct out {
	uint8_t data[MAX_FRAME];
	uint32_t len;
};

/* Run a TC program once on frame as if it arrived on ifindex. Returns the
 * test_run error (0 or -errno); *verdict gets the program's return. */
static int run_tc_raw(const struct bpf_program *prog, const void *frame, uint32_t len,
		      uint32_t ifindex, uint32_t gso_size, uint32_t *verdict, struct out *o)
{
	struct __sk_buff ctx;
	int err;

	memset(&ctx, 0, sizeof(ctx));
	ctx.ifindex = ifindex;
	ctx.ingress_ifindex = ifindex;
	ctx.gso_size = gso_size;
	if (gso_size)
		ctx.gso_segs = (len + gso_size - 1) / gso_size;
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		    .data_in = frame,
		    .data_size_in = len,
		    .data_out = o->data,
		    .data_size_out = sizeof(o->data),
		    .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx),
		    .repeat = 1);
	err = bpf_prog_test_run_opts(bpf_program__fd(prog), &opts);
	if (err)
		return -errno;
	*verdict = opts.retval;
	o->len = opts.data_size_out;
	return 0;
}

static uint32_t run_tc(const struct bpf_program *prog, const void *frame, uint32_t len,
		       uint32_t ifindex, uint32_t gso_size, struct out *o)
{
	uint32_t verdict = ~0u;

	assert_int_equal(run_tc_raw(prog, frame, len, ifindex, gso_size, &verdict, o), 0);
	return verdict;
}

/* from_pod on pod A's host veth / to_pod on the uplink. */
static uint32_t run_from_a(const void *frame, uint32_t len, struct out *o)
{
	return run_tc(fp->progs.from_pod, frame, len, if_a, 0, o);
}

static uint32_t run_to_pod(const void *frame, uint32_t len, struct out *o)
{
	return run_tc(tp->progs.to_pod, frame, len, if_up, 0, o);
}

static void expect_out(const struct out *o, const uint8_t *frame, size_t len)
{
	assert_int_equal(o->len, len);
	assert_memory_equal(o->data, frame, len);
	if (len >= ETH_HLEN + sizeof(struct iphdr) &&
	    ((const struct ethhdr *)frame)->h_proto == htons(ETH_P_IP))
		assert_true(ipv4_csum_ok(o->data));
}

/* ---- from_pod: the loader ----------------------------------------------------- */

/* All three objects share one set of maps through the pins. */
static void test_maps_shared(void **state)
{
	static const char *pins[] = { XDP_PIN_ENDPOINTS, XDP_PIN_NODES, XDP_PIN_CONFIG,
				      XDP_PIN_DROPS, XDP_PIN_FWD, XDP_PIN_EP_STATS, XDP_PIN_CT,
				      XDP_PIN_IPCACHE, XDP_PIN_POLICY, XDP_PIN_POL_CIDR,
				      XDP_PIN_EP_POL };
	struct bpf_map_info a, b;
	uint32_t la = sizeof(a), lb = sizeof(b);
	char path[256];
	struct stat st;

	(void)state;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	assert_int_equal(bpf_obj_get_info_by_fd(map_fd(fp->maps.xdp_drops), &a, &la), 0);
	assert_int_equal(bpf_obj_get_info_by_fd(map_fd(tp->maps.xdp_drops), &b, &lb), 0);
	assert_int_equal(a.id, b.id);
	la = sizeof(a);
	lb = sizeof(b);
	assert_int_equal(bpf_obj_get_info_by_fd(map_fd(fp->maps.xdp_endpoints), &a, &la), 0);
	assert_int_equal(bpf_obj_get_info_by_fd(map_fd(tp->maps.xdp_endpoints), &b, &lb), 0);
	assert_int_equal(a.id, b.id);
	for (size_t i = 0; i < sizeof(pins) / sizeof(pins[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", pindir, pins[i]);
		assert_int_equal(stat(path, &st), 0);
	}
}

/* The __sk_buff fields the programs depend on reach them through test_run. */
static void test_ctx_fields(void **state)
{
	uint8_t pkt[MAX_FRAME];
	struct __sk_buff ctx;
	struct out o;
	size_t len;
	int err;

	(void)state;
	len = from_a(pkt, V4.b, 64);
	/* A field test_run does not support is refused, not ignored. */
	memset(&ctx, 0, sizeof(ctx));
	ctx.ingress_ifindex = if_a;
	ctx.protocol = 1;
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt, .data_size_in = len,
		    .data_out = o.data, .data_size_out = sizeof(o.data),
		    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx));
	err = bpf_prog_test_run_opts(bpf_program__fd(fp->progs.from_pod), &opts);
	assert_int_equal(err < 0 ? errno : 0, EINVAL);
	/* ingress_ifindex alone (skb->ifindex stays lo) is what anti-spoofing uses. */
	ctx.protocol = 0;
	err = bpf_prog_test_run_opts(bpf_program__fd(fp->progs.from_pod), &opts);
	assert_int_equal(err, 0);
	assert_int_equal(opts.retval, TC_ACT_REDIRECT);
}

/* ---- from_pod: local delivery --------------------------------------------------- */

static void test_from_pod_local(void **state)
{
	const struct fam *f = *state;
	uint8_t pkt[MAX_FRAME], want[MAX_FRAME];
	struct out o;
	size_t len = from_a(pkt, f->b, 64);

	memcpy(want, pkt, len);
	forwarded(want, pod_b_mac, host_b_mac);
	assert_int_equal(run_from_a(pkt, len, &o), TC_ACT_REDIRECT);
	expect_out(&o, want, len);
	expect_fwd(XDP_FWD_PEER, len);
	expect_ep(if_a, 1, 0, 0, len);
	expect_ep(if_b, 0, 1, 0, len);
}

/* TTL 1: not forwarded, the host sends Time Exceeded. Nothing rewritten. */
static void test_from_pod_ttl1(void **state)
{
	const struct fam *f = *state;
	uint8_t pkt[MAX_FRAME];
	struct out o;
	size_t len = from_a(pkt, f->b, 1);

	assert_int_equal(run_from_a(pkt, len, &o), TC_ACT_OK);
	expect_out(&o, pkt, len);
	expect_fwd(XDP_FWD_STACK, len);
	expect_ep(if_a, 1, 0, 0, len);
	expect_ep(if_b, 0, 0, 0, len);
}

static void test_from_pod_ttl0(void **state)
{
	const struct fam *f = *state;
	uint8_t pkt[MAX_FRAME];
	struct out o;
	size_t len = from_a(pkt, f->b, 0);

	assert_int_equal(run_from_a(pkt, len, &o), TC_ACT_OK);
	expect_out(&o, pkt, len);
	expect_fwd(XDP_FWD_STACK, len);
}

static void test_from_pod_not_ready(void **state)
{
	const struct fam *f = *state;
	uint8_t pkt[MAX_FRAME];
	struct out o;
	size_t len = from_a(pkt, f->c, 64);

	assert_int_equal(run_from_a(pkt, len, &o), TC_ACT_SHOT);
	expect_drop(XDP_DROP_NOT_READY, len);
	expect_ep(if_a, 1, 0, 1, len);
	expect_ep(EP_C_ID, 0, 0, 0, len);
}

/* ---- from_pod: anti-spoofing ------------------------------------------------------ */

static void test_from_pod_spoof_unknown_ip(void **state)
{
	const struct fam *f = *state;
	uint8_t pkt[MAX_FRAME];
	struct out o;
	size_t len = udp(pkt, host_a_mac, pod_a_mac, f->stranger, f->b, 64);

	assert_int_equal(run_from_a(pkt, len, &o), TC_ACT_SHOT);
	expect_drop(XDP_DROP_SPOOF_IP, len);
	expect_no_ep_stats();
}

/* B's address (B's MAC too) sent from A's veth. */
static void test_from_pod_spoof_other_ep(void **state)
{
	const struct fam *f = *state;
	uint8_t pkt[MAX_FRAME];
	struct out o;
	size_t len = udp(pkt, host_a_mac, pod_b_mac, f->b, f->outside, 64);

	assert_int_equal(run_from_a(pkt, len, &o), TC_ACT_SHOT);
	expect_drop(XDP_DROP_SPOOF_IP, len);
	expect_no_ep_stats();
}

static void test_from_pod_spoof_mac(void **state)
{
	const struct fam *f = *state;
	uint8_t pkt[MAX_FRAME];
	struct out o;
	size_t len = udp(pkt, host_a_mac, evil_mac, f->a, f->b, 64);

	assert_int_equal(run_from_a(pkt, len, &o), TC_ACT_SHOT);
	expect_drop(XDP_DROP_SPOOF_MAC, len);
	expect_no_ep_stats();
}

/* ---- from_pod: to the host stack ---------------------------------------------------- */

static void test_from_pod_arp(void **state)
{
	uint8_t pkt[60];
	struct ethhdr *eth = (struct ethhdr *)pkt;
	static const uint8_t arp[] = { 0, 1, 8, 0, 6, 4, 0, 1 }; /* ethernet/IPv4 request */
	struct out o;

	(void)state;
	memset(pkt, 0, sizeof(pkt));
	memcpy(eth->h_dest, bcast_mac, 6);
	memcpy(eth->h_source, pod_a_mac, 6);
	eth->h_proto = htons(ETH_P_ARP);
	memcpy(pkt + ETH_HLEN, arp, sizeof(arp));
	memcpy(pkt + ETH_HLEN + 8, pod_a_mac, 6);
	memcpy(pkt + ETH_HLEN + 14, A(V4.a).b, 4);
	memcpy(pkt + ETH_HLEN + 24, A(XDP_GW4).b, 4);
	assert_int_equal(run_from_a(pkt, sizeof(pkt), &o), TC_ACT_OK);
	expect_out(&o, pkt, sizeof(pkt));
	expect_fwd(XDP_FWD_STACK, sizeof(pkt));
}

/* The gateway, broadcast, multicast and link-local (ND for IPv6): the
 * host's business. From the pod's own address they count as its traffic;
 * IPv6 link-local and unspecified sources (ND, MLD, DAD) are no endpoint's
 * and are let through to on-link destinations only. */
static void test_from_pod_local_only(void **state)
{
	const struct fam *f = *state;
	uint8_t pkt[MAX_FRAME];
	struct out o;
	size_t len = 0;
	uint64_t own = 0;

	for (int i = 0; i < 4; i++) {
		uint8_t proto = i == 0 && f->family == AF_INET6 ? IPPROTO_ICMPV6 : IPPROTO_UDP;
		size_t n = build(pkt, i == 1 && f->family == AF_INET ? bcast_mac : host_a_mac,
				 pod_a_mac, f->local_only_src[i], f->local_only_dst[i],
				 proto == IPPROTO_ICMPV6 ? 255 : 64, proto, 32);

		assert_true(!len || n == len);
		len = n;
		assert_int_equal(run_from_a(pkt, len, &o), TC_ACT_OK);
		expect_out(&o, pkt, len);
		own += !strcmp(f->local_only_src[i], f->a);
	}
	expect_fwds(XDP_FWD_STACK, 4, len);
	expect_drops(XDP_DROP_NONE, 0, 0);
	if (own)
		expect_ep(if_a, own, 0, 0, len);
	else
		expect_no_ep_stats();
}

static void expect_dropped(const struct bpf_program *prog, uint32_t ifindex, const uint8_t *pkt,
			   size_t len, int reason);

/* The stack-bound shortcuts are no way around anti-spoofing: a forged
 * source to the gateway's range (metadata, node-local DNS) or to multicast
 * is dropped, and so is a link-local IPv6 source to anything off-link. */
static void test_from_pod_local_only_spoofed(void **state)
{
	const struct fam *f = *state;
	uint8_t pkt[MAX_FRAME];
	const char *dst = f->family == AF_INET ? "169.254.169.254" : "ff02::1";
	size_t len = build(pkt, host_a_mac, pod_a_mac, f->stranger, dst, 64, IPPROTO_UDP, 32);

	expect_dropped(fp->progs.from_pod, if_a, pkt, len, XDP_DROP_SPOOF_IP);
	if (f->family == AF_INET6) {
		test_setup(NULL);
		len = build(pkt, host_a_mac, pod_a_mac, "fe80::aa", f->b, 64, IPPROTO_UDP, 32);
		expect_dropped(fp->progs.from_pod, if_a, pkt, len, XDP_DROP_SPOOF_IP);
	}
}

/* LLDP, and an 802.1Q tag: the datapath refuses what it does not parse. */
static void test_from_pod_unsupported(void **state)
{
	uint8_t pkt[60];
	struct ethhdr *eth = (struct ethhdr *)pkt;
	struct out o;

	(void)state;
	memset(pkt, 0, sizeof(pkt));
	memcpy(eth->h_dest, host_a_mac, 6);
	memcpy(eth->h_source, pod_a_mac, 6);
	eth->h_proto = htons(0x88cc);
	assert_int_equal(run_from_a(pkt, sizeof(pkt), &o), TC_ACT_SHOT);
	eth->h_proto = htons(ETH_P_8021Q);
	assert_int_equal(run_from_a(pkt, sizeof(pkt), &o), TC_ACT_SHOT);
	expect_drops(XDP_DROP_UNSUPPORTED, 2, sizeof(pkt));
	expect_fwds(-1, 0, 0);
}

/* No endpoint, no node CIDR: masquerade / node addresses, the stack's job. */
static void test_from_pod_outside(void **state)
{
	const struct fam *f = *state;
	uint8_t pkt[MAX_FRAME];
	struct out o;
	size_t len = from_a(pkt, f->outside, 64);

	assert_int_equal(run_from_a(pkt, len, &o), TC_ACT_OK);
	expect_out(&o, pkt, len);
	expect_fwd(XDP_FWD_STACK, len);
	expect_ep(if_a, 1, 0, 0, len);
}

/* An address of the pod CIDR that no endpoint has: the same. */
static void test_from_pod_stranger(void **state)
{
	const struct fam *f = *state;
	uint8_t pkt[MAX_FRAME];
	struct out o;
	size_t len = from_a(pkt, f->stranger, 64);

	assert_int_equal(run_from_a(pkt, len, &o), TC_ACT_OK);
	expect_out(&o, pkt, len);
	expect_fwd(XDP_FWD_STACK, len);
}

/* ---- from_pod: remote pods, vxlan ---------------------------------------------------- */

/* bpf_skb_set_tunnel_key works under test_run (it attaches the per-CPU
 * metadata dst to the test skb), so the tunnel path runs to its redirect.
 * The MACs stay: the whole frame is the vxlan payload. */
static void test_from_pod_vxlan(void **state)
{
	const struct fam *f = *state;
	uint8_t pkt[MAX_FRAME], want[MAX_FRAME];
	struct out o;
	size_t len = from_a(pkt, f->remote, 64);

	config_set(XDP_MODE_VXLAN);
	memcpy(want, pkt, len);
	forwarded(want, NULL, NULL);
	assert_int_equal(run_from_a(pkt, len, &o), TC_ACT_REDIRECT);
	expect_out(&o, want, len);
	expect_fwd(XDP_FWD_TUNNEL, len);
	expect_ep(if_a, 1, 0, 0, len);
}

static void test_from_pod_vxlan_ttl1(void **state)
{
	const struct fam *f = *state;
	uint8_t pkt[MAX_FRAME];
	struct out o;
	size_t len = from_a(pkt, f->remote, 1);

	config_set(XDP_MODE_VXLAN);
	assert_int_equal(run_from_a(pkt, len, &o), TC_ACT_OK);
	expect_out(&o, pkt, len);
	expect_fwd(XDP_FWD_STACK, len);
}

/* ---- from_pod: remote pods, native routing -------------------------------------------- */

/* Route and neighbour known: MACs from the neighbour and the uplink. */
static void test_from_pod_native(void **state)
{
	const struct fam *f = *state;
	uint8_t pkt[MAX_FRAME], want[MAX_FRAME];
	struct out o;
	size_t len = from_a(pkt, f->remote, 64);

	memcpy(want, pkt, len);
	forwarded(want, nh_mac, up_mac);
	assert_int_equal(run_from_a(pkt, len, &o), TC_ACT_REDIRECT);
	expect_out(&o, want, len);
	expect_fwd(XDP_FWD_NEIGH, len);
	expect_ep(if_a, 1, 0, 0, len);
}

/* Route, no neighbour: bpf_redirect_neigh resolves it; MACs left to it. */
static void test_from_pod_native_no_neigh(void **state)
{
	const struct fam *f = *state;
	uint8_t pkt[MAX_FRAME], want[MAX_FRAME];
	struct out o;
	size_t len = from_a(pkt, f->noneigh, 64);

	memcpy(want, pkt, len);
	forwarded(want, NULL, NULL);
	assert_int_equal(run_from_a(pkt, len, &o), TC_ACT_REDIRECT);
	expect_out(&o, want, len);
	expect_fwd(XDP_FWD_NEIGH, len);
}

/* A node owns the CIDR but the kernel has no route: NOT_FWDED, the stack
 * decides (and sends the ICMP). */
static void test_from_pod_native_no_route(void **state)
{
	const struct fam *f = *state;
	uint8_t pkt[MAX_FRAME];
	struct out o;
	size_t len = from_a(pkt, f->noroute, 64);

	assert_int_equal(run_from_a(pkt, len, &o), TC_ACT_OK);
	expect_out(&o, pkt, len);
	expect_fwd(XDP_FWD_STACK, len);
}

/* An unreachable route: dropped as XDP_DROP_FIB. */
static void test_from_pod_native_unreachable(void **state)
{
	const struct fam *f = *state;
	uint8_t pkt[MAX_FRAME];
	struct out o;
	size_t len = from_a(pkt, f->unreach, 64);

	assert_int_equal(run_from_a(pkt, len, &o), TC_ACT_SHOT);
	expect_drop(XDP_DROP_FIB, len);
	expect_ep(if_a, 1, 0, 1, len);
}

/* Larger than the egress MTU: the stack sends Frag Needed / Packet Too Big. */
static void test_from_pod_native_too_big(void **state)
{
	const struct fam *f = *state;
	uint8_t pkt[MAX_FRAME];
	struct out o;
	size_t len = build(pkt, host_a_mac, pod_a_mac, f->a, f->small_mtu, 64, IPPROTO_UDP,
			   BIG_PAYLOAD);

	assert_int_equal(run_from_a(pkt, len, &o), TC_ACT_OK);
	expect_out(&o, pkt, len);
	expect_fwd(XDP_FWD_STACK, len);
}

/* The same size as a GSO packet (segments of 1000): forwarded, the
 * segments fit. The lookup skips its MTU check (tot_len 0) and the
 * kernel's is_skb_forwardable() lets GSO through. */
static void test_from_pod_native_gso(void **state)
{
	const struct fam *f = *state;
	uint8_t pkt[MAX_FRAME], want[MAX_FRAME];
	struct out o;
	size_t len = build(pkt, host_a_mac, pod_a_mac, f->a, f->small_mtu, 64, IPPROTO_UDP,
			   BIG_PAYLOAD);

	memcpy(want, pkt, len);
	forwarded(want, sm_nh_mac, sm_mac);
	assert_int_equal(run_tc(fp->progs.from_pod, pkt, len, if_a, 1000, &o), TC_ACT_REDIRECT);
	expect_out(&o, want, len);
	expect_fwd(XDP_FWD_NEIGH, len);
}

static void test_from_pod_native_ttl1(void **state)
{
	const struct fam *f = *state;
	uint8_t pkt[MAX_FRAME];
	struct out o;
	size_t len = from_a(pkt, f->remote, 1);

	assert_int_equal(run_from_a(pkt, len, &o), TC_ACT_OK);
	expect_out(&o, pkt, len);
	expect_fwd(XDP_FWD_STACK, len);
}

/* Forwarding off on the pod's veth: FWD_DISABLED, left to the stack. */
static void test_from_pod_native_fwd_disabled(void **state)
{
	const struct fam *f = *state;
	const char *key = f->family == AF_INET ? "net/ipv4/conf/" IF_A "/forwarding"
					       : "net/ipv6/conf/" IF_A "/forwarding";
	uint8_t pkt[MAX_FRAME];
	struct out o;
	size_t len = from_a(pkt, f->remote, 64);
	uint32_t verdict;

	assert_int_equal(sysctl_write(key, "0"), 0);
	verdict = run_from_a(pkt, len, &o);
	assert_int_equal(sysctl_write(key, "1"), 0);
	assert_int_equal(verdict, TC_ACT_OK);
	expect_out(&o, pkt, len);
	expect_fwd(XDP_FWD_STACK, len);
}

/* ---- from_pod: malformed frames ---------------------------------------------------------- */

/* Below ETH_HLEN test_run itself refuses the frame (the kernel never hands a
 * TC program less than an Ethernet header either). */
static void test_from_pod_runt(void **state)
{
	uint8_t pkt[13];
	uint32_t verdict;
	struct out o;

	(void)state;
	memset(pkt, 0xff, sizeof(pkt));
	assert_int_equal(run_tc_raw(fp->progs.from_pod, pkt, sizeof(pkt), if_a, 0, &verdict, &o),
			 -EINVAL);
	expect_drops(XDP_DROP_NONE, 0, 0);
	expect_fwds(-1, 0, 0);
}

/* A frame of len bytes: pod A's IPv4 or IPv6 UDP packet, cut (or with
 * fields changed by the caller afterwards). */
static size_t malformed_base(uint8_t *pkt, int family)
{
	return from_a(pkt, family == AF_INET ? V4.b : V6.b, 64);
}

static void expect_dropped(const struct bpf_program *prog, uint32_t ifindex, const uint8_t *pkt,
			   size_t len, int reason)
{
	struct out o;

	assert_int_equal(run_tc(prog, pkt, len, ifindex, 0, &o), TC_ACT_SHOT);
	expect_drop(reason, len);
}

/* The frame through the real datapath: prog on the TC ingress of ifindex
 * (a veth), the frame sent out of its peer with a packet socket, then wait
 * for it to be counted as dropped for reason. No verdict to read here, but
 * drop() is the only way to that counter and it always returns SHOT. */
static void expect_dropped_live(const struct bpf_program *prog, int ifindex, int peer_ifindex,
				const uint8_t *pkt, size_t len, int reason)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = bpf_program__fd(prog));
	struct sockaddr_ll sll;
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	int fd, err, i;

	err = bpf_tc_hook_create(&hook);
	assert_true(err == 0 || err == -EEXIST);
	assert_int_equal(bpf_tc_attach(&hook, &opts), 0);
	fd = socket(AF_PACKET, SOCK_RAW, 0);
	assert_true(fd >= 0);
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_ifindex = peer_ifindex;
	sll.sll_halen = ETH_ALEN;
	memcpy(sll.sll_addr, pkt, ETH_ALEN);
	assert_int_equal(sendto(fd, pkt, len, 0, (struct sockaddr *)&sll, sizeof(sll)), (ssize_t)len);
	close(fd);
	for (i = 0; i < 200 && !counter(FD(xdp_drops), reason).packets; i++)
		nanosleep(&ts, NULL);
	opts.prog_fd = 0;
	opts.prog_id = 0;
	opts.flags = 0;
	assert_int_equal(bpf_tc_detach(&hook, &opts), 0);
	hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS; /* removes the clsact qdisc */
	assert_int_equal(bpf_tc_hook_destroy(&hook), 0);
	expect_drop(reason, len);
}

/* An IPv4/IPv6 frame cut inside the fixed IP header. Recent kernels (6.18
 * here) refuse these in test_run (-EINVAL below ETH_HLEN + 20 for 0x0800,
 * ETH_HLEN + 40 for 0x86dd), yet a pod can send one (packet socket): then
 * the frame goes through the attached program for real. */
static void expect_truncated(const struct bpf_program *prog, uint32_t ifindex, const uint8_t *pkt,
			     size_t len)
{
	uint32_t verdict;
	struct out o;
	int err;

	err = run_tc_raw(prog, pkt, len, ifindex, 0, &verdict, &o);
	if (err == -EINVAL) {
		expect_drops(XDP_DROP_NONE, 0, 0);
		expect_dropped_live(prog, ifindex, ifindex == (uint32_t)if_a ? if_a_peer : if_up_peer,
				    pkt, len, XDP_DROP_TRUNCATED);
		return;
	}
	assert_int_equal(err, 0);
	assert_int_equal(verdict, TC_ACT_SHOT);
	expect_drop(XDP_DROP_TRUNCATED, len);
}

static void test_from_pod_eth_only(void **state)
{
	const struct fam *f = *state;
	uint8_t pkt[MAX_FRAME];

	malformed_base(pkt, f->family);
	expect_truncated(fp->progs.from_pod, if_a, pkt, ETH_HLEN);
}

static void test_from_pod_ipv4_truncated(void **state)
{
	uint8_t pkt[MAX_FRAME];

	(void)state;
	malformed_base(pkt, AF_INET);
	expect_truncated(fp->progs.from_pod, if_a, pkt, ETH_HLEN + 10);
	/* One byte short of the fixed header. */
	test_setup(NULL);
	expect_truncated(fp->progs.from_pod, if_a, pkt, ETH_HLEN + 19);
}

static void test_from_pod_ipv4_version(void **state)
{
	uint8_t pkt[MAX_FRAME];
	size_t len = malformed_base(pkt, AF_INET);

	(void)state;
	pkt[ETH_HLEN] = 0x55; /* version 5, ihl 5 */
	ipv4_csum_set(pkt);
	expect_dropped(fp->progs.from_pod, if_a, pkt, len, XDP_DROP_BAD_IP);
	test_setup(NULL);
	pkt[ETH_HLEN] = 0x65; /* an IPv6 header would say 6 */
	expect_dropped(fp->progs.from_pod, if_a, pkt, len, XDP_DROP_BAD_IP);
}

static void test_from_pod_ipv4_ihl(void **state)
{
	uint8_t pkt[MAX_FRAME];
	size_t len = malformed_base(pkt, AF_INET);

	(void)state;
	pkt[ETH_HLEN] = 0x44; /* ihl 4: 16 bytes, shorter than the header */
	expect_dropped(fp->progs.from_pod, if_a, pkt, len, XDP_DROP_BAD_IP);
	test_setup(NULL);
	pkt[ETH_HLEN] = 0x40; /* ihl 0 */
	expect_dropped(fp->progs.from_pod, if_a, pkt, len, XDP_DROP_BAD_IP);
}

static void test_from_pod_ipv4_tot_len_long(void **state)
{
	uint8_t pkt[MAX_FRAME];
	size_t len = malformed_base(pkt, AF_INET);
	struct iphdr *ip = (struct iphdr *)(pkt + ETH_HLEN);

	(void)state;
	ip->tot_len = htons(len - ETH_HLEN + 1);
	ipv4_csum_set(pkt);
	expect_dropped(fp->progs.from_pod, if_a, pkt, len, XDP_DROP_BAD_IP);
	test_setup(NULL);
	ip->tot_len = htons(0xffff);
	ipv4_csum_set(pkt);
	expect_dropped(fp->progs.from_pod, if_a, pkt, len, XDP_DROP_BAD_IP);
}

static void test_from_pod_ipv4_tot_len_short(void **state)
{
	uint8_t pkt[MAX_FRAME];
	size_t len = malformed_base(pkt, AF_INET);
	struct iphdr *ip = (struct iphdr *)(pkt + ETH_HLEN);

	(void)state;
	ip->tot_len = htons(19); /* < ihl * 4 */
	ipv4_csum_set(pkt);
	expect_dropped(fp->progs.from_pod, if_a, pkt, len, XDP_DROP_BAD_IP);
	test_setup(NULL);
	ip->ihl = 6;            /* options claimed, tot_len 20 < 24 */
	ip->tot_len = htons(20);
	ipv4_csum_set(pkt);
	expect_dropped(fp->progs.from_pod, if_a, pkt, len, XDP_DROP_BAD_IP);
}

/* A header with options: the checksum update covers all of it. */
static void test_from_pod_ipv4_options(void **state)
{
	uint8_t pkt[MAX_FRAME], want[MAX_FRAME];
	size_t len = from_a(pkt, V4.b, 64);
	struct iphdr *ip = (struct iphdr *)(pkt + ETH_HLEN);
	struct out o;

	(void)state;
	/* Four NOPs after the fixed header (the UDP checksum does not cover them). */
	memmove(pkt + ETH_HLEN + 24, pkt + ETH_HLEN + 20, len - ETH_HLEN - 20);
	memset(pkt + ETH_HLEN + 20, 1, 4);
	len += 4;
	ip->ihl = 6;
	ip->tot_len = htons(len - ETH_HLEN);
	ipv4_csum_set(pkt);
	memcpy(want, pkt, len);
	forwarded(want, pod_b_mac, host_b_mac);
	assert_int_equal(run_from_a(pkt, len, &o), TC_ACT_REDIRECT);
	expect_out(&o, want, len);
	expect_fwd(XDP_FWD_PEER, len);
}

/* Trailing bytes after tot_len (Ethernet padding) are fine: delivered. */
static void test_from_pod_ipv4_padded(void **state)
{
	uint8_t pkt[MAX_FRAME], want[MAX_FRAME];
	size_t len = build(pkt, host_a_mac, pod_a_mac, V4.a, V4.b, 64, IPPROTO_UDP, 0);
	struct out o;

	(void)state;
	assert_int_equal(len, ETH_HLEN + 28);
	memset(pkt + len, 0, 60 - len);
	memcpy(want, pkt, 60);
	forwarded(want, pod_b_mac, host_b_mac);
	assert_int_equal(run_from_a(pkt, 60, &o), TC_ACT_REDIRECT);
	expect_out(&o, want, 60);
	expect_fwd(XDP_FWD_PEER, 60);
}

static void test_from_pod_ipv6_truncated(void **state)
{
	uint8_t pkt[MAX_FRAME];

	(void)state;
	malformed_base(pkt, AF_INET6);
	expect_truncated(fp->progs.from_pod, if_a, pkt, ETH_HLEN + 30);
	test_setup(NULL);
	expect_truncated(fp->progs.from_pod, if_a, pkt, ETH_HLEN + 39);
}

static void test_from_pod_ipv6_version(void **state)
{
	uint8_t pkt[MAX_FRAME];
	size_t len = malformed_base(pkt, AF_INET6);

	(void)state;
	pkt[ETH_HLEN] = 0x40 | (pkt[ETH_HLEN] & 0x0f);
	expect_dropped(fp->progs.from_pod, if_a, pkt, len, XDP_DROP_BAD_IP);
}

static void test_from_pod_ipv6_payload_len(void **state)
{
	struct out o;
	uint8_t pkt[MAX_FRAME];
	size_t len = malformed_base(pkt, AF_INET6);
	struct ipv6hdr *ip6 = (struct ipv6hdr *)(pkt + ETH_HLEN);

	(void)state;
	ip6->payload_len = htons(len - ETH_HLEN - sizeof(*ip6) + 1);
	expect_dropped(fp->progs.from_pod, if_a, pkt, len, XDP_DROP_BAD_IP);
	test_setup(NULL);
	ip6->payload_len = htons(0xffff);
	expect_dropped(fp->progs.from_pod, if_a, pkt, len, XDP_DROP_BAD_IP);
	/* 0 with bytes behind it and no GSO: an empty packet padded to the
	 * Ethernet minimum, forwarded like any other (BIG TCP sets gso_size). */
	test_setup(NULL);
	ip6->payload_len = 0;
	assert_int_not_equal(run_from_a(pkt, len, &o), TC_ACT_SHOT);
	expect_drops(XDP_DROP_NONE, 0, 0);
}

/* ---- to_pod -------------------------------------------------------------------------------- */

static void test_to_pod_local(void **state)
{
	const struct fam *f = *state;
	uint8_t pkt[MAX_FRAME], want[MAX_FRAME];
	struct out o;
	size_t len = from_wire(pkt, f->remote, f->b, 63);

	memcpy(want, pkt, len);
	forwarded(want, pod_b_mac, host_b_mac);
	assert_int_equal(run_to_pod(pkt, len, &o), TC_ACT_REDIRECT);
	expect_out(&o, want, len);
	expect_fwd(XDP_FWD_PEER, len);
	expect_ep(if_b, 0, 1, 0, len);
	expect_ep(if_a, 0, 0, 0, len);
}

/* A frame flooded to the uplink for another host's MAC carries a local
 * pod's address: not ours to route (the stack drops PACKET_OTHERHOST). */
static void test_to_pod_other_host(void **state)
{
	const struct fam *f = *state;
	static const uint8_t other_mac[6] = { 0x02, 0x99, 0x99, 0x99, 0x99, 0x99 };
	uint8_t pkt[MAX_FRAME];
	struct out o;
	size_t len = udp(pkt, other_mac, up_peer_mac, f->remote, f->b, 63);

	assert_int_equal(run_to_pod(pkt, len, &o), TC_ACT_OK);
	expect_out(&o, pkt, len);
	expect_drops(XDP_DROP_NONE, 0, 0);
	expect_no_ep_stats();
}

/* The node's own traffic: to the stack, uncounted (to_pod counts only
 * what it forwards or drops). */
static void test_to_pod_not_local(void **state)
{
	const struct fam *f = *state;
	uint8_t pkt[MAX_FRAME];
	struct out o;
	size_t len = from_wire(pkt, f->remote, f->family == AF_INET ? "192.168.99.1" : "fd00:99::1",
			       64);

	assert_int_equal(run_to_pod(pkt, len, &o), TC_ACT_OK);
	expect_out(&o, pkt, len);
	expect_fwds(-1, 0, 0);
	expect_drops(XDP_DROP_NONE, 0, 0);
	len = from_wire(pkt, f->remote, f->stranger, 64);
	assert_int_equal(run_to_pod(pkt, len, &o), TC_ACT_OK);
	expect_out(&o, pkt, len);
	expect_fwds(-1, 0, 0);
	expect_no_ep_stats();
}

static void test_to_pod_local_only(void **state)
{
	const struct fam *f = *state;
	uint8_t pkt[MAX_FRAME];
	struct out o;
	size_t len = from_wire(pkt, f->local_only_src[0], f->local_only_dst[0], 255);

	assert_int_equal(run_to_pod(pkt, len, &o), TC_ACT_OK);
	expect_out(&o, pkt, len);
	expect_fwds(-1, 0, 0);
	expect_drops(XDP_DROP_NONE, 0, 0);
}

static void test_to_pod_ttl1(void **state)
{
	const struct fam *f = *state;
	uint8_t pkt[MAX_FRAME];
	struct out o;
	size_t len = from_wire(pkt, f->remote, f->b, 1);

	assert_int_equal(run_to_pod(pkt, len, &o), TC_ACT_OK);
	expect_out(&o, pkt, len);
	expect_fwd(XDP_FWD_STACK, len);
	expect_no_ep_stats();
}

static void test_to_pod_not_ready(void **state)
{
	const struct fam *f = *state;
	uint8_t pkt[MAX_FRAME];
	struct out o;
	size_t len = from_wire(pkt, f->remote, f->c, 64);

	assert_int_equal(run_to_pod(pkt, len, &o), TC_ACT_SHOT);
	expect_drop(XDP_DROP_NOT_READY, len);
}

static void test_to_pod_non_ip(void **state)
{
	uint8_t pkt[60];
	struct ethhdr *eth = (struct ethhdr *)pkt;
	struct out o;

	(void)state;
	memset(pkt, 0, sizeof(pkt));
	memcpy(eth->h_dest, bcast_mac, 6);
	memcpy(eth->h_source, up_peer_mac, 6);
	eth->h_proto = htons(ETH_P_ARP);
	assert_int_equal(run_to_pod(pkt, sizeof(pkt), &o), TC_ACT_OK);
	eth->h_proto = htons(0x88cc);
	assert_int_equal(run_to_pod(pkt, sizeof(pkt), &o), TC_ACT_OK);
	expect_fwds(-1, 0, 0);
	expect_drops(XDP_DROP_NONE, 0, 0);
}

static void test_to_pod_malformed(void **state)
{
	const struct fam *f = *state;
	uint8_t pkt[MAX_FRAME];
	size_t len = from_wire(pkt, f->remote, f->b, 64);

	pkt[ETH_HLEN] = (pkt[ETH_HLEN] & 0x0f) | 0x50; /* version 5 */
	expect_dropped(tp->progs.to_pod, if_up, pkt, len, XDP_DROP_BAD_IP);
	test_setup(NULL);
	len = from_wire(pkt, f->remote, f->b, 64);
	expect_dropped(tp->progs.to_pod, if_up, pkt, len - 1, XDP_DROP_BAD_IP); /* length > frame */
	expect_no_ep_stats();
}

static void test_to_pod_truncated(void **state)
{
	const struct fam *f = *state;
	uint8_t pkt[MAX_FRAME];

	from_wire(pkt, f->remote, f->b, 64);
	expect_truncated(tp->progs.to_pod, if_up, pkt, ETH_HLEN + (f->family == AF_INET ? 19 : 39));
}

/* ---- NetworkPolicy (bpf/lib/policy.h) ------------------------------------------------ */

#define ID_A 300u
#define ID_B 400u
#define ID_R 500u   /* f->remote */

static void policy_enable(void)
{
	struct xdp_config c;
	uint32_t zero = 0;

	assert_int_equal(bpf_map_lookup_elem(FD(xdp_config), &zero, &c), 0);
	c.flags |= XDP_CFG_F_POLICY;
	assert_int_equal(bpf_map_update_elem(FD(xdp_config), &zero, &c, BPF_ANY), 0);
}

static void ep_pol_set_blocks(uint32_t ep_id, uint32_t flags, uint16_t in, uint16_t out)
{
	struct xdp_ep_pol v = { .flags = flags, .generation = 1, .blocks = { in, out } };

	assert_int_equal(bpf_map_update_elem(FD(xdp_ep_policy), &ep_id, &v, BPF_ANY), 0);
}

static void ep_pol_set(uint32_t ep_id, uint32_t flags)
{
	struct xdp_ep_pol v = { .flags = flags, .generation = 1 };

	assert_int_equal(bpf_map_update_elem(FD(xdp_ep_policy), &ep_id, &v, BPF_ANY), 0);
}

static void ipcache_add(const char *cidr, uint32_t identity)
{
	struct ipnet n = N(cidr);
	struct xdp_cidr_key k;
	struct xdp_ipcache_val v = { .identity = identity };

	memset(&k, 0, sizeof(k));
	k.prefixlen = XDP_CIDR_PREFIX(n.prefix);
	k.family = n.ip.family == AF_INET ? XDP_EP_FAMILY_V4 : XDP_EP_FAMILY_V6;
	memcpy(k.addr, n.ip.b, ipaddr_len(&n.ip));
	assert_int_equal(bpf_map_update_elem(xdp_ipcache_key_host(&k) ? FD(xdp_ipcache_host)
								       : FD(xdp_ipcache),
					     &k, &v, BPF_ANY), 0);
}

/* plen: XDP_POL_PREFIX_* */
static void pol_add(uint32_t ep_id, uint8_t dir, uint32_t identity, uint8_t proto, uint16_t port,
		    uint32_t plen)
{
	struct xdp_pol_key k;
	struct xdp_pol_val v = { .rule_cookie = 7 };

	memset(&k, 0, sizeof(k));
	k.prefixlen = plen;
	k.ep_id = ep_id;
	k.dir = dir;
	k.identity = identity;
	if (plen > XDP_POL_PREFIX_ANY_PROTO)
		k.proto = proto;
	if (plen > XDP_POL_PREFIX_ANY_PORT)
		k.dport = htons(port);
	if (plen > XDP_POL_PREFIX_ANY_PORT && plen < XDP_POL_PREFIX_PORT)
		k.dport = htons(port & ~((1u << (XDP_POL_PREFIX_PORT - plen)) - 1));
	assert_int_equal(bpf_map_update_elem(FD(xdp_policy), &k, &v, BPF_ANY), 0);
}

static void pol_cidr_add(uint32_t ep_id, uint8_t dir, const char *cidr,
			 const struct xdp_portset *ps)
{
	struct ipnet n = N(cidr);
	struct xdp_polcidr_key k;

	memset(&k, 0, sizeof(k));
	k.prefixlen = XDP_POLCIDR_PREFIX(n.prefix);
	k.ep_id = ep_id;
	k.dir = dir;
	k.family = n.ip.family == AF_INET ? XDP_EP_FAMILY_V4 : XDP_EP_FAMILY_V6;
	memcpy(k.addr, n.ip.b, ipaddr_len(&n.ip));
	assert_int_equal(bpf_map_update_elem(FD(xdp_pol_cidr), &k, ps, BPF_ANY), 0);
}

static const char *host_cidr(const char *addr)
{
	static char buf[4][64];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%d", addr, strchr(addr, ':') ? 128 : 32);
	return buf[i];
}

/* A, B and f->remote have identities; both endpoints ready, not isolated. */
static void policy_base(const struct fam *f)
{
	ipcache_add(host_cidr(f->a), ID_A);
	ipcache_add(host_cidr(f->b), ID_B);
	ipcache_add(host_cidr(f->remote), ID_R);
	ep_pol_set(if_a, XDP_EP_POL_READY);
	ep_pol_set(if_b, XDP_EP_POL_READY);
	policy_enable();
}

/* The udp() frame made into proto with these ports (proto 1/58: ICMP echo
 * request, ports ignored). L4 checksum not fixed up: nothing checks it. */
static size_t l4pkt(uint8_t *buf, const uint8_t *dmac, const uint8_t *smac, const char *src,
		    const char *dst, uint8_t proto, uint16_t sport, uint16_t dport)
{
	size_t len = udp(buf, dmac, smac, src, dst, 64);
	int v4 = ((struct ethhdr *)buf)->h_proto == htons(ETH_P_IP);
	uint8_t *l4 = buf + ETH_HLEN + (v4 ? sizeof(struct iphdr) : sizeof(struct ipv6hdr));

	if (v4) {
		((struct iphdr *)(buf + ETH_HLEN))->protocol = proto;
		ipv4_csum_set(buf);
	} else {
		((struct ipv6hdr *)(buf + ETH_HLEN))->nexthdr = proto;
	}
	if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6) {
		memset(l4, 0, 8);
		l4[0] = proto == IPPROTO_ICMP ? 8 : 128;
	} else {
		l4[0] = sport >> 8;
		l4[1] = sport & 0xff;
		l4[2] = dport >> 8;
		l4[3] = dport & 0xff;
		if (proto == IPPROTO_TCP) {
			l4[12] = 5 << 4;  /* data offset */
			l4[13] = 0x10;    /* ACK */
		}
	}
	return len;
}

static uint32_t run_from_b(const void *frame, uint32_t len, struct out *o)
{
	return run_tc(fp->progs.from_pod, frame, len, if_b, 0, o);
}

/* A -> B through from_pod (egress of A, ingress of B): the verdict. */
static uint32_t a_to_b(const struct fam *f, uint8_t proto, uint16_t sport, uint16_t dport,
		       size_t *len)
{
	uint8_t pkt[MAX_FRAME];
	struct out o;

	*len = l4pkt(pkt, host_a_mac, pod_a_mac, f->a, f->b, proto, sport, dport);
	return run_from_a(pkt, *len, &o);
}

static uint32_t wire_to(const char *src, const char *dst, uint8_t proto, uint16_t sport,
			uint16_t dport, size_t *len)
{
	uint8_t pkt[MAX_FRAME];
	struct out o;

	*len = l4pkt(pkt, up_mac, up_peer_mac, src, dst, proto, sport, dport);
	return run_to_pod(pkt, *len, &o);
}

/* Without XDP_CFG_F_POLICY, a state that would deny everything denies
 * nothing (the agent has not taken over yet). */
static void test_policy_flag_off(void **state)
{
	const struct fam *f = *state;
	size_t len;

	ep_pol_set(if_a, XDP_EP_POL_READY | XDP_EP_POL_INGRESS_ISOLATED |
				 XDP_EP_POL_EGRESS_ISOLATED);
	ep_pol_set(if_b, XDP_EP_POL_READY | XDP_EP_POL_INGRESS_ISOLATED |
				 XDP_EP_POL_EGRESS_ISOLATED);
	assert_int_equal(a_to_b(f, IPPROTO_TCP, 40000, 80, &len), TC_ACT_REDIRECT);
	expect_fwd(XDP_FWD_PEER, len);
	test_setup(NULL);
	ep_pol_set(if_b, XDP_EP_POL_INGRESS_ISOLATED); /* not ready either */
	assert_int_equal(wire_to(f->remote, f->b, IPPROTO_UDP, 40000, 53, &len), TC_ACT_REDIRECT);
	expect_fwd(XDP_FWD_PEER, len);
	assert_int_not_equal(bpf_map_get_next_key(FD(xdp_ct), NULL, &(struct xdp_ct_key){ 0 }), 0);
}

/* Flag on, no endpoint state: fail closed, counted. */
static void test_policy_no_state(void **state)
{
	const struct fam *f = *state;
	size_t len;

	policy_enable();
	assert_int_equal(a_to_b(f, IPPROTO_TCP, 40000, 80, &len), TC_ACT_SHOT);
	expect_drop(XDP_DROP_POLICY, len);
	expect_ep(if_a, 1, 0, 1, len);
	/* A's egress allows (not isolated) but B has no state. */
	test_setup(NULL);
	policy_enable();
	ep_pol_set(if_a, XDP_EP_POL_READY);
	assert_int_equal(a_to_b(f, IPPROTO_TCP, 40000, 80, &len), TC_ACT_SHOT);
	expect_drop(XDP_DROP_POLICY, len);
	/* Present but not ready. */
	test_setup(NULL);
	policy_enable();
	ep_pol_set(if_b, 0);
	assert_int_equal(wire_to(f->remote, f->b, IPPROTO_UDP, 40000, 53, &len), TC_ACT_SHOT);
	expect_drop(XDP_DROP_POLICY, len);
	expect_ep(if_b, 0, 0, 1, len);
}

static void test_policy_not_isolated(void **state)
{
	const struct fam *f = *state;
	size_t len;

	policy_base(f);
	assert_int_equal(a_to_b(f, IPPROTO_TCP, 40000, 80, &len), TC_ACT_REDIRECT);
	expect_fwd(XDP_FWD_PEER, len);
	test_setup(NULL);
	policy_base(f);
	assert_int_equal(wire_to(f->remote, f->b, IPPROTO_UDP, 40000, 53, &len), TC_ACT_REDIRECT);
	expect_fwd(XDP_FWD_PEER, len);
}

/* B isolated for ingress, A's identity allowed to TCP 80 only. */
static void test_policy_ingress_port(void **state)
{
	const struct fam *f = *state;
	size_t len;

	policy_base(f);
	ep_pol_set(if_b, XDP_EP_POL_READY | XDP_EP_POL_INGRESS_ISOLATED);
	pol_add(if_b, XDP_DIR_INGRESS, ID_A, IPPROTO_TCP, 80, XDP_POL_PREFIX_PORT);
	assert_int_equal(a_to_b(f, IPPROTO_TCP, 40000, 80, &len), TC_ACT_REDIRECT);
	expect_fwd(XDP_FWD_PEER, len);
	expect_ep(if_b, 0, 1, 0, len);
	assert_int_equal(a_to_b(f, IPPROTO_TCP, 40001, 81, &len), TC_ACT_SHOT);
	assert_int_equal(a_to_b(f, IPPROTO_UDP, 40002, 80, &len), TC_ACT_SHOT);
	expect_drops(XDP_DROP_POLICY, 2, len);
	/* Counted against B, whose ingress denied them, not the sender. */
	expect_ep(if_a, 3, 0, 0, len);
	expect_ep(if_b, 0, 1, 2, len);
	expect_ep_denied(if_b, 2, 0);
	/* The same port from another identity (remote, through to_pod). */
	assert_int_equal(wire_to(f->remote, f->b, IPPROTO_TCP, 40000, 80, &len), TC_ACT_SHOT);
	expect_drops(XDP_DROP_POLICY, 3, len);
	expect_ep(if_b, 0, 1, 3, len);
	expect_ep_denied(if_b, 3, 0);
	expect_ep_denied(if_a, 0, 0);
}

/* XDP_ID_ANY: every peer, here for UDP of any port. */
static void test_policy_any(void **state)
{
	const struct fam *f = *state;
	size_t len;

	policy_base(f);
	ep_pol_set(if_b, XDP_EP_POL_READY | XDP_EP_POL_INGRESS_ISOLATED);
	pol_add(if_b, XDP_DIR_INGRESS, XDP_ID_ANY, IPPROTO_UDP, 0, XDP_POL_PREFIX_ANY_PORT);
	assert_int_equal(wire_to(f->remote, f->b, IPPROTO_UDP, 40000, 53, &len), TC_ACT_REDIRECT);
	assert_int_equal(wire_to(f->outside, f->b, IPPROTO_UDP, 40000, 9999, &len),
			 TC_ACT_REDIRECT);
	expect_fwds(XDP_FWD_PEER, 2, len);
	assert_int_equal(wire_to(f->outside, f->b, IPPROTO_TCP, 40000, 53, &len), TC_ACT_SHOT);
	expect_drops(XDP_DROP_POLICY, 1, len);
}

/* ipBlock: the remote /24 (/64) with an except /32 (/128), TCP 80-90. */
static void test_policy_cidr(void **state)
{
	const struct fam *f = *state;
	int v4 = f->family == AF_INET;
	const char *in = v4 ? "10.2.0.6" : "fd00:2::6";
	struct xdp_portset ps, none;
	size_t len;

	memset(&ps, 0, sizeof(ps));
	memset(&none, 0, sizeof(none));
	ps.nranges = 1;
	ps.rule_cookie = 9;
	ps.r[0].proto = IPPROTO_TCP;
	ps.r[0].lo = 80;
	ps.r[0].hi = 90;
	policy_base(f);
	ep_pol_set(if_b, XDP_EP_POL_READY | XDP_EP_POL_INGRESS_ISOLATED);
	pol_cidr_add(if_b, XDP_DIR_INGRESS, f->cidrs[0], &ps);
	pol_cidr_add(if_b, XDP_DIR_INGRESS, host_cidr(f->remote), &none);
	assert_int_equal(wire_to(in, f->b, IPPROTO_TCP, 40000, 85, &len), TC_ACT_REDIRECT);
	assert_int_equal(wire_to(in, f->b, IPPROTO_TCP, 40000, 90, &len), TC_ACT_REDIRECT);
	expect_fwds(XDP_FWD_PEER, 2, len);
	assert_int_equal(wire_to(in, f->b, IPPROTO_TCP, 40000, 91, &len), TC_ACT_SHOT);
	assert_int_equal(wire_to(in, f->b, IPPROTO_UDP, 40000, 85, &len), TC_ACT_SHOT);
	assert_int_equal(wire_to(f->remote, f->b, IPPROTO_TCP, 40000, 85, &len), TC_ACT_SHOT);
	assert_int_equal(wire_to(f->outside, f->b, IPPROTO_TCP, 40000, 85, &len), TC_ACT_SHOT);
	expect_drops(XDP_DROP_POLICY, 4, len);
	/* XDP_PORTSET_ALL: every protocol and port. */
	test_setup(NULL);
	policy_base(f);
	ep_pol_set(if_b, XDP_EP_POL_READY | XDP_EP_POL_INGRESS_ISOLATED);
	ps.flags = XDP_PORTSET_ALL;
	ps.nranges = 0;
	pol_cidr_add(if_b, XDP_DIR_INGRESS, f->cidrs[0], &ps);
	assert_int_equal(wire_to(in, f->b, IPPROTO_UDP, 40000, 7, &len), TC_ACT_REDIRECT);
	expect_fwd(XDP_FWD_PEER, len);
}

/* A isolated for egress (to the world, UDP 53 only); B's ingress is not
 * isolated, and isolating it does not change A's egress. */
static void test_policy_egress(void **state)
{
	const struct fam *f = *state;
	uint8_t pkt[MAX_FRAME];
	struct out o;
	size_t len;

	policy_base(f);
	ep_pol_set(if_a, XDP_EP_POL_READY | XDP_EP_POL_EGRESS_ISOLATED);
	pol_add(if_a, XDP_DIR_EGRESS, XDP_ID_WORLD, IPPROTO_UDP, 53, XDP_POL_PREFIX_PORT);
	len = l4pkt(pkt, host_a_mac, pod_a_mac, f->a, f->outside, IPPROTO_UDP, 40000, 53);
	assert_int_equal(run_from_a(pkt, len, &o), TC_ACT_OK);
	expect_fwd(XDP_FWD_STACK, len);
	len = l4pkt(pkt, host_a_mac, pod_a_mac, f->a, f->outside, IPPROTO_UDP, 40000, 54);
	assert_int_equal(run_from_a(pkt, len, &o), TC_ACT_SHOT);
	assert_int_equal(a_to_b(f, IPPROTO_UDP, 40000, 53, &len), TC_ACT_SHOT); /* B is ID_B */
	expect_drops(XDP_DROP_POLICY, 2, len);
	/* B's ingress isolation is its own: B may receive from the remote. */
	ep_pol_set(if_b, XDP_EP_POL_READY | XDP_EP_POL_INGRESS_ISOLATED);
	pol_add(if_b, XDP_DIR_INGRESS, ID_R, IPPROTO_UDP, 53, XDP_POL_PREFIX_PORT);
	assert_int_equal(wire_to(f->remote, f->b, IPPROTO_UDP, 40000, 53, &len), TC_ACT_REDIRECT);
	/* and A's egress to B, allowed now, still meets B's ingress. */
	pol_add(if_a, XDP_DIR_EGRESS, ID_B, IPPROTO_UDP, 53, XDP_POL_PREFIX_PORT);
	assert_int_equal(a_to_b(f, IPPROTO_UDP, 40000, 53, &len), TC_ACT_SHOT);
	pol_add(if_b, XDP_DIR_INGRESS, ID_A, IPPROTO_UDP, 0, XDP_POL_PREFIX_ANY_PORT);
	assert_int_equal(a_to_b(f, IPPROTO_UDP, 40000, 53, &len), TC_ACT_REDIRECT);
	expect_drops(XDP_DROP_POLICY, 3, len);
	/* two by A's egress, one by B's ingress */
	expect_ep(if_a, 5, 0, 2, len);
	expect_ep_denied(if_a, 0, 2);
	expect_ep_denied(if_b, 1, 0);
}

/* Replies: A may open TCP 80 on B; A accepts nothing and B sends nothing,
 * yet B's answers reach A. A new connection the other way does not. */
static void test_policy_reply(void **state)
{
	const struct fam *f = *state;
	uint8_t pkt[MAX_FRAME];
	struct out o;
	size_t len;

	policy_base(f);
	ep_pol_set(if_a, XDP_EP_POL_READY | XDP_EP_POL_INGRESS_ISOLATED);
	ep_pol_set(if_b, XDP_EP_POL_READY | XDP_EP_POL_INGRESS_ISOLATED |
				 XDP_EP_POL_EGRESS_ISOLATED);
	pol_add(if_b, XDP_DIR_INGRESS, ID_A, IPPROTO_TCP, 80, XDP_POL_PREFIX_PORT);
	len = l4pkt(pkt, host_b_mac, pod_b_mac, f->b, f->a, IPPROTO_TCP, 80, 40000);
	assert_int_equal(run_from_b(pkt, len, &o), TC_ACT_SHOT); /* not yet a reply */
	expect_drops(XDP_DROP_POLICY, 1, len);
	assert_int_equal(a_to_b(f, IPPROTO_TCP, 40000, 80, &len), TC_ACT_REDIRECT);
	assert_int_equal(run_from_b(pkt, len, &o), TC_ACT_REDIRECT);
	assert_int_equal(run_from_b(pkt, len, &o), TC_ACT_REDIRECT);
	expect_fwds(XDP_FWD_PEER, 3, len);
	expect_ep(if_a, 1, 2, 0, len);
	/* Another port of the same pair is a new connection. */
	len = l4pkt(pkt, host_b_mac, pod_b_mac, f->b, f->a, IPPROTO_TCP, 80, 40001);
	assert_int_equal(run_from_b(pkt, len, &o), TC_ACT_SHOT);
	len = l4pkt(pkt, host_b_mac, pod_b_mac, f->b, f->a, IPPROTO_TCP, 40000, 80);
	assert_int_equal(run_from_b(pkt, len, &o), TC_ACT_SHOT);
	expect_drops(XDP_DROP_POLICY, 3, len);
	/* Across nodes: A (egress not isolated) to the remote, the answer comes
	 * back through to_pod into A, whose ingress accepts nothing. */
	len = l4pkt(pkt, host_a_mac, pod_a_mac, f->a, f->remote, IPPROTO_UDP, 40000, 53);
	assert_int_equal(wire_to(f->remote, f->a, IPPROTO_UDP, 53, 40000, &len), TC_ACT_SHOT);
	assert_int_equal(run_from_a(pkt, len, &o), TC_ACT_REDIRECT); /* native, neighbour known */
	assert_int_equal(wire_to(f->remote, f->a, IPPROTO_UDP, 53, 40000, &len), TC_ACT_REDIRECT);
	assert_int_equal(wire_to(f->remote, f->a, IPPROTO_UDP, 53, 40001, &len), TC_ACT_SHOT);
	expect_drops(XDP_DROP_POLICY, 5, len);
	/* The entry's timestamp is refreshed. */
	{
		struct xdp_ct_key k;
		struct xdp_ct_entry e;
		struct ipaddr a = A(f->a), r = A(f->remote);
		struct timespec ts;

		memset(&k, 0, sizeof(k));
		memcpy(k.saddr, a.b, ipaddr_len(&a));
		memcpy(k.daddr, r.b, ipaddr_len(&r));
		k.sport = htons(40000);
		k.dport = htons(53);
		k.proto = IPPROTO_UDP;
		k.family = f->family == AF_INET ? XDP_EP_FAMILY_V4 : XDP_EP_FAMILY_V6;
		assert_int_equal(bpf_map_lookup_elem(FD(xdp_ct), &k, &e), 0);
		assert_int_equal(e.flags, XDP_CT_F_EGRESS | XDP_CT_F_REPLIED);
		clock_gettime(CLOCK_MONOTONIC, &ts);
		assert_true(e.last_seen_ns <= (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec);
		assert_true(e.last_seen_ns + 5000000000ull >
			    (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec);
	}
}

/* The node itself (health probes) always reaches an isolated pod; ICMP has
 * port 0 and its own protocol. */
static void test_policy_host_icmp(void **state)
{
	const struct fam *f = *state;
	uint8_t icmp = f->family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6;
	size_t len;

	policy_base(f);
	ipcache_add(host_cidr(f->nh), XDP_ID_HOST);
	ep_pol_set(if_b, XDP_EP_POL_READY | XDP_EP_POL_INGRESS_ISOLATED);
	assert_int_equal(wire_to(f->nh, f->b, IPPROTO_TCP, 40000, 8080, &len), TC_ACT_REDIRECT);
	assert_int_equal(wire_to(f->remote, f->b, icmp, 0, 0, &len), TC_ACT_SHOT);
	pol_add(if_b, XDP_DIR_INGRESS, ID_R, icmp, 0, XDP_POL_PREFIX_ANY_PORT);
	assert_int_equal(wire_to(f->remote, f->b, icmp, 0, 0, &len), TC_ACT_REDIRECT);
	expect_fwds(XDP_FWD_PEER, 2, len);
	expect_drops(XDP_DROP_POLICY, 1, len);
}

struct ev_sink {
	struct xdp_drop_event ev[8];
	int n;
};

static int ev_collect(void *ctx, void *data, size_t len)
{
	struct ev_sink *k = ctx;

	if (len >= sizeof(struct xdp_drop_event) && k->n < 8)
		memcpy(&k->ev[k->n++], data, sizeof(struct xdp_drop_event));
	return 0;
}

/* Every policy drop is on the xdp_events ring buffer with the endpoint
 * whose policy denied it, the direction, why, and the packet's tuple. */
static void test_policy_drop_events(void **state)
{
	const struct fam *f = *state;
	struct ev_sink sink = { .n = 0 };
	struct ring_buffer *rb = ring_buffer__new(FD(xdp_events), ev_collect, &sink, NULL);
	struct ipaddr a = A(f->a), b = A(f->b);
	size_t len;

	assert_non_null(rb);
	ring_buffer__consume(rb); /* earlier tests' events */
	sink.n = 0;
	policy_base(f);
	ep_pol_set(if_b, XDP_EP_POL_READY | XDP_EP_POL_INGRESS_ISOLATED);
	assert_int_equal(a_to_b(f, IPPROTO_TCP, 40000, 80, &len), TC_ACT_SHOT);
	ep_pol_set(if_a, XDP_EP_POL_INGRESS_ISOLATED); /* not READY */
	assert_int_equal(a_to_b(f, IPPROTO_UDP, 40001, 53, &len), TC_ACT_SHOT);
	assert_int_equal(ring_buffer__consume(rb), 2);
	assert_int_equal(sink.n, 2);
	assert_int_equal(sink.ev[0].ep_id, if_b);
	assert_int_equal(sink.ev[0].dir, XDP_DIR_INGRESS);
	assert_int_equal(sink.ev[0].why, XDP_POL_WHY_NO_RULE);
	assert_int_equal(sink.ev[0].reason, XDP_DROP_POLICY);
	assert_int_equal(sink.ev[0].proto, IPPROTO_TCP);
	assert_int_equal(ntohs(sink.ev[0].sport), 40000);
	assert_int_equal(ntohs(sink.ev[0].dport), 80);
	assert_int_equal(sink.ev[0].len, len);
	assert_memory_equal(sink.ev[0].saddr, a.b, ipaddr_len(&a));
	assert_memory_equal(sink.ev[0].daddr, b.b, ipaddr_len(&b));
	assert_int_equal(sink.ev[1].ep_id, if_a);
	assert_int_equal(sink.ev[1].dir, XDP_DIR_EGRESS);
	assert_int_equal(sink.ev[1].why, XDP_POL_WHY_NOT_READY);
	assert_int_equal(sink.ev[1].proto, IPPROTO_UDP);
	ring_buffer__free(rb);
}

/* Port ranges (endPort) are aligned blocks in the xdp_policy hash; the
 * datapath looks up only the block sizes the endpoint has in that
 * direction (xdp_ep_pol.blocks); exact entries work either way. */
static void test_policy_ranges(void **state)
{
	const struct fam *f = *state;
	size_t len;

	policy_base(f);
	ep_pol_set(if_b, XDP_EP_POL_READY | XDP_EP_POL_INGRESS_ISOLATED);
	/* 8000-8015 (a 16-port block), 8016-8017 (2 ports) and 9000 exactly */
	pol_add(if_b, XDP_DIR_INGRESS, ID_A, IPPROTO_TCP, 8000, XDP_POL_PREFIX_BLOCK(4));
	pol_add(if_b, XDP_DIR_INGRESS, ID_A, IPPROTO_TCP, 8016, XDP_POL_PREFIX_BLOCK(1));
	pol_add(if_b, XDP_DIR_INGRESS, ID_A, IPPROTO_TCP, 9000, XDP_POL_PREFIX_PORT);
	assert_int_equal(a_to_b(f, IPPROTO_TCP, 40000, 8003, &len), TC_ACT_SHOT); /* no sizes */
	assert_int_equal(a_to_b(f, IPPROTO_TCP, 40001, 9000, &len), TC_ACT_REDIRECT);
	ep_pol_set_blocks(if_b, XDP_EP_POL_READY | XDP_EP_POL_INGRESS_ISOLATED, 1u << 3, 0);
	assert_int_equal(a_to_b(f, IPPROTO_TCP, 40002, 8000, &len), TC_ACT_REDIRECT);
	assert_int_equal(a_to_b(f, IPPROTO_TCP, 40003, 8015, &len), TC_ACT_REDIRECT);
	assert_int_equal(a_to_b(f, IPPROTO_TCP, 40004, 8016, &len), TC_ACT_SHOT); /* size 2 not on */
	ep_pol_set_blocks(if_b, XDP_EP_POL_READY | XDP_EP_POL_INGRESS_ISOLATED,
			  (1u << 3) | (1u << 0), 0);
	assert_int_equal(a_to_b(f, IPPROTO_TCP, 40005, 8017, &len), TC_ACT_REDIRECT);
	assert_int_equal(a_to_b(f, IPPROTO_TCP, 40006, 8018, &len), TC_ACT_SHOT);
	assert_int_equal(a_to_b(f, IPPROTO_TCP, 40007, 7999, &len), TC_ACT_SHOT);
	assert_int_equal(a_to_b(f, IPPROTO_UDP, 40008, 8001, &len), TC_ACT_SHOT);
	assert_int_equal(a_to_b(f, IPPROTO_TCP, 40009, 9000, &len), TC_ACT_REDIRECT);
	/* the egress sizes do not open ingress blocks */
	ep_pol_set_blocks(if_b, XDP_EP_POL_READY | XDP_EP_POL_INGRESS_ISOLATED, 0, 0xffff);
	assert_int_equal(a_to_b(f, IPPROTO_TCP, 40010, 8004, &len), TC_ACT_SHOT);
	expect_drops(XDP_DROP_POLICY, 6, len);
}

/* An ICMP echo (reply: an echo reply) from src to dst with this id. */
static size_t echo(uint8_t *buf, const uint8_t *dmac, const uint8_t *smac, const char *src,
		   const char *dst, int reply, uint16_t id)
{
	int v4 = !strchr(src, ':');
	size_t len = l4pkt(buf, dmac, smac, src, dst, v4 ? IPPROTO_ICMP : IPPROTO_ICMPV6, 0, 0);
	uint8_t *l4 = buf + ETH_HLEN + (v4 ? sizeof(struct iphdr) : sizeof(struct ipv6hdr));

	if (reply)
		l4[0] = v4 ? 0 : 129;
	l4[4] = id >> 8;
	l4[5] = id & 0xff;
	return len;
}

/* Each ping session is its own connection: the echo id is tracked, so a
 * first exchange does not open the pair for later pings, and an isolated
 * pod's own request is not taken for a reply. */
static void test_policy_echo_id(void **state)
{
	const struct fam *f = *state;
	uint8_t icmp = f->family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6;
	uint8_t pkt[MAX_FRAME];
	struct out o;
	size_t len;

	policy_base(f);
	ep_pol_set(if_a, XDP_EP_POL_READY | XDP_EP_POL_INGRESS_ISOLATED);
	ep_pol_set(if_b, XDP_EP_POL_READY | XDP_EP_POL_INGRESS_ISOLATED);
	len = echo(pkt, host_a_mac, pod_a_mac, f->a, f->b, 0, 1);
	assert_int_equal(run_from_a(pkt, len, &o), TC_ACT_SHOT);
	pol_add(if_b, XDP_DIR_INGRESS, ID_A, icmp, 0, XDP_POL_PREFIX_ANY_PORT);
	assert_int_equal(run_from_a(pkt, len, &o), TC_ACT_REDIRECT);
	len = echo(pkt, host_b_mac, pod_b_mac, f->b, f->a, 1, 1);
	assert_int_equal(run_from_b(pkt, len, &o), TC_ACT_REDIRECT); /* the reply */
	/* Policy gone: session 1 goes on, session 2 is new and denied. */
	clear_hash(FD(xdp_policy), sizeof(struct xdp_pol_key));
	len = echo(pkt, host_a_mac, pod_a_mac, f->a, f->b, 0, 1);
	assert_int_equal(run_from_a(pkt, len, &o), TC_ACT_REDIRECT);
	len = echo(pkt, host_a_mac, pod_a_mac, f->a, f->b, 0, 2);
	assert_int_equal(run_from_a(pkt, len, &o), TC_ACT_SHOT);
	/* B's own request to A is no reply of session 1, nor is a reply of
	 * session 3 that A never started. */
	len = echo(pkt, host_b_mac, pod_b_mac, f->b, f->a, 0, 1);
	assert_int_equal(run_from_b(pkt, len, &o), TC_ACT_SHOT);
	len = echo(pkt, host_b_mac, pod_b_mac, f->b, f->a, 1, 3);
	assert_int_equal(run_from_b(pkt, len, &o), TC_ACT_SHOT);
	expect_drops(XDP_DROP_POLICY, 4, len);
	expect_fwds(XDP_FWD_PEER, 3, len);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* Move the tracked A -> B tuple's last_seen back by age seconds. */
static void ct_age(const struct fam *f, uint8_t proto, uint16_t sport, uint16_t dport,
		   uint64_t age, uint32_t *flags)
{
	struct ipaddr a = A(f->a), b = A(f->b);
	struct xdp_ct_key k;
	struct xdp_ct_entry e;

	memset(&k, 0, sizeof(k));
	memcpy(k.saddr, a.b, ipaddr_len(&a));
	memcpy(k.daddr, b.b, ipaddr_len(&b));
	k.sport = htons(sport);
	k.dport = htons(dport);
	k.proto = proto;
	k.family = f->family == AF_INET ? XDP_EP_FAMILY_V4 : XDP_EP_FAMILY_V6;
	assert_int_equal(bpf_map_lookup_elem(FD(xdp_ct), &k, &e), 0);
	*flags = e.flags;
	e.last_seen_ns = mono_ns() - age * 1000000000ull;
	assert_int_equal(bpf_map_update_elem(FD(xdp_ct), &k, &e, BPF_EXIST), 0);
}

/* Entries expire: an idle UDP flow after XDP_CT_LIFE_OTHER, established
 * TCP not, TCP after FIN within XDP_CT_LIFE_CLOSING. */
static void test_policy_ct_expiry(void **state)
{
	const struct fam *f = *state;
	uint8_t pkt[MAX_FRAME];
	struct tcphdr *th;
	struct out o;
	uint32_t flags;
	size_t len;

	policy_base(f);
	ep_pol_set(if_a, XDP_EP_POL_READY | XDP_EP_POL_INGRESS_ISOLATED);
	ep_pol_set(if_b, XDP_EP_POL_READY | XDP_EP_POL_INGRESS_ISOLATED);
	pol_add(if_b, XDP_DIR_INGRESS, ID_A, 0, 0, XDP_POL_PREFIX_ANY_PROTO);
	assert_int_equal(a_to_b(f, IPPROTO_UDP, 40000, 53, &len), TC_ACT_REDIRECT);
	assert_int_equal(a_to_b(f, IPPROTO_TCP, 40001, 80, &len), TC_ACT_REDIRECT);
	len = l4pkt(pkt, host_b_mac, pod_b_mac, f->b, f->a, IPPROTO_TCP, 80, 40001);
	assert_int_equal(run_from_b(pkt, len, &o), TC_ACT_REDIRECT);
	clear_hash(FD(xdp_policy), sizeof(struct xdp_pol_key));
	/* UDP, idle just under and just over its lifetime. */
	ct_age(f, IPPROTO_UDP, 40000, 53, XDP_CT_LIFE_OTHER - 2, &flags);
	len = l4pkt(pkt, host_b_mac, pod_b_mac, f->b, f->a, IPPROTO_UDP, 53, 40000);
	assert_int_equal(run_from_b(pkt, len, &o), TC_ACT_REDIRECT);
	ct_age(f, IPPROTO_UDP, 40000, 53, XDP_CT_LIFE_OTHER + 1, &flags);
	assert_int_equal(a_to_b(f, IPPROTO_UDP, 40000, 53, &len), TC_ACT_SHOT);
	/* A's egress tracked that again; once expired, B's answer is none. */
	ct_age(f, IPPROTO_UDP, 40000, 53, XDP_CT_LIFE_OTHER + 1, &flags);
	assert_int_equal(flags, XDP_CT_F_EGRESS);
	len = l4pkt(pkt, host_b_mac, pod_b_mac, f->b, f->a, IPPROTO_UDP, 53, 40000);
	assert_int_equal(run_from_b(pkt, len, &o), TC_ACT_SHOT);
	/* TCP that saw a reply lives long; FIN shortens it. */
	ct_age(f, IPPROTO_TCP, 40001, 80, 3600, &flags);
	assert_int_equal(flags, XDP_CT_F_EGRESS | XDP_CT_F_INGRESS | XDP_CT_F_REPLIED);
	assert_int_equal(a_to_b(f, IPPROTO_TCP, 40001, 80, &len), TC_ACT_REDIRECT);
	len = l4pkt(pkt, host_a_mac, pod_a_mac, f->a, f->b, IPPROTO_TCP, 40001, 80);
	th = (struct tcphdr *)(pkt + ETH_HLEN + (f->family == AF_INET ? sizeof(struct iphdr)
								     : sizeof(struct ipv6hdr)));
	/* A SYN on the tracked tuple is a new connection: policy again. */
	th->ack = 0;
	th->syn = 1;
	assert_int_equal(run_from_a(pkt, len, &o), TC_ACT_SHOT);
	th->syn = 0;
	th->ack = 1;
	th->fin = 1;
	assert_int_equal(run_from_a(pkt, len, &o), TC_ACT_REDIRECT);
	ct_age(f, IPPROTO_TCP, 40001, 80, XDP_CT_LIFE_CLOSING + 1, &flags);
	assert_true(flags & XDP_CT_F_CLOSING);
	assert_int_equal(a_to_b(f, IPPROTO_TCP, 40001, 80, &len), TC_ACT_SHOT);
	expect_drops(XDP_DROP_POLICY, 4, len);
}

/* An ICMP error (v4 port unreachable, v6 destination unreachable) quoting
 * inner_src -> inner_dst UDP sport -> dport, sent by src to dst. */
static size_t icmp_error(uint8_t *buf, const uint8_t *dmac, const uint8_t *smac, const char *src,
			 const char *dst, const char *inner_src, const char *inner_dst,
			 uint16_t sport, uint16_t dport)
{
	int v4 = !strchr(src, ':');
	size_t iphl = v4 ? sizeof(struct iphdr) : sizeof(struct ipv6hdr);
	uint8_t inner[MAX_FRAME];
	size_t ilen = l4pkt(inner, dmac, smac, inner_src, inner_dst, IPPROTO_UDP, sport, dport);
	size_t len = build(buf, dmac, smac, src, dst, 64, IPPROTO_UDP, 80);
	uint8_t *l4 = buf + ETH_HLEN + iphl;

	if (v4) {
		((struct iphdr *)(buf + ETH_HLEN))->protocol = IPPROTO_ICMP;
		ipv4_csum_set(buf);
	} else {
		((struct ipv6hdr *)(buf + ETH_HLEN))->nexthdr = IPPROTO_ICMPV6;
	}
	assert_true(len >= ETH_HLEN + iphl + 8 + iphl + 8 && ilen >= ETH_HLEN + iphl + 8);
	l4[0] = v4 ? 3 : 1;
	l4[1] = v4 ? 3 : 4; /* port unreachable */
	memcpy(l4 + 8, inner + ETH_HLEN, iphl + 8);
	return len;
}

/* Related ICMP errors pass like replies; errors quoting anything else go
 * through policy. */
static void test_policy_icmp_error(void **state)
{
	const struct fam *f = *state;
	uint8_t pkt[MAX_FRAME];
	struct out o;
	size_t len;

	policy_base(f);
	ep_pol_set(if_a, XDP_EP_POL_READY | XDP_EP_POL_INGRESS_ISOLATED);
	len = l4pkt(pkt, host_a_mac, pod_a_mac, f->a, f->remote, IPPROTO_UDP, 40000, 53);
	assert_int_equal(run_from_a(pkt, len, &o), TC_ACT_REDIRECT);
	len = icmp_error(pkt, up_mac, up_peer_mac, f->remote, f->a, f->a, f->remote, 40000, 53);
	assert_int_equal(run_to_pod(pkt, len, &o), TC_ACT_REDIRECT);
	len = icmp_error(pkt, up_mac, up_peer_mac, f->remote, f->a, f->a, f->remote, 40000, 54);
	assert_int_equal(run_to_pod(pkt, len, &o), TC_ACT_SHOT);
	/* An error quoting the reverse of the flow is no error about it. */
	len = icmp_error(pkt, up_mac, up_peer_mac, f->remote, f->a, f->remote, f->a, 53, 40000);
	assert_int_equal(run_to_pod(pkt, len, &o), TC_ACT_SHOT);
	expect_drops(XDP_DROP_POLICY, 2, len);
}

/* IPv4 fragments: conntrack only. */
static void test_policy_fragments(void **state)
{
	uint8_t pkt[MAX_FRAME];
	struct iphdr *ip = (struct iphdr *)(pkt + ETH_HLEN);
	struct out o;
	size_t len;

	(void)state;
	policy_base(&V4);
	ep_pol_set(if_b, XDP_EP_POL_READY | XDP_EP_POL_INGRESS_ISOLATED);
	pol_add(if_b, XDP_DIR_INGRESS, ID_A, IPPROTO_UDP, 53, XDP_POL_PREFIX_PORT);
	/* A first fragment of an allowed flow is not matched against policy. */
	len = l4pkt(pkt, host_a_mac, pod_a_mac, V4.a, V4.b, IPPROTO_UDP, 40000, 53);
	ip->frag_off = htons(0x2000); /* MF */
	ipv4_csum_set(pkt);
	assert_int_equal(run_from_a(pkt, len, &o), TC_ACT_SHOT);
	/* Once the flow is tracked, its first fragment passes. */
	assert_int_equal(a_to_b(&V4, IPPROTO_UDP, 40000, 53, &len), TC_ACT_REDIRECT);
	len = l4pkt(pkt, host_a_mac, pod_a_mac, V4.a, V4.b, IPPROTO_UDP, 40000, 53);
	ip->frag_off = htons(0x2000);
	ipv4_csum_set(pkt);
	assert_int_equal(run_from_a(pkt, len, &o), TC_ACT_REDIRECT);
	/* A later fragment has no ports: not matched (documented limit). */
	ip->frag_off = htons(0x0010);
	ipv4_csum_set(pkt);
	assert_int_equal(run_from_a(pkt, len, &o), TC_ACT_SHOT);
	expect_drops(XDP_DROP_POLICY, 2, len);
	expect_fwds(XDP_FWD_PEER, 2, len);
}

/* IPv6 fragment header: conntrack only, ports of a first fragment. */
static void test_policy_fragments_v6(void **state)
{
	uint8_t pkt[MAX_FRAME];
	struct ipv6hdr *ip6 = (struct ipv6hdr *)(pkt + ETH_HLEN);
	uint8_t *l4 = pkt + ETH_HLEN + sizeof(*ip6);
	struct out o;
	size_t len;

	(void)state;
	policy_base(&V6);
	ep_pol_set(if_b, XDP_EP_POL_READY | XDP_EP_POL_INGRESS_ISOLATED);
	pol_add(if_b, XDP_DIR_INGRESS, ID_A, IPPROTO_UDP, 53, XDP_POL_PREFIX_PORT);
	assert_int_equal(a_to_b(&V6, IPPROTO_UDP, 40000, 53, &len), TC_ACT_REDIRECT);
	/* fragment header (8) + the UDP ports, offset 0, M set */
	len = l4pkt(pkt, host_a_mac, pod_a_mac, V6.a, V6.b, IPPROTO_UDP, 40000, 53);
	memmove(l4 + 8, l4, len - ETH_HLEN - sizeof(*ip6) - 8);
	memset(l4, 0, 8);
	l4[0] = IPPROTO_UDP;
	l4[3] = 1; /* M */
	ip6->nexthdr = 44;
	assert_int_equal(run_from_a(pkt, len, &o), TC_ACT_REDIRECT);
	/* the same to port 54: untracked */
	l4[8 + 3] = 54;
	assert_int_equal(run_from_a(pkt, len, &o), TC_ACT_SHOT);
	expect_drops(XDP_DROP_POLICY, 1, len);
	expect_fwds(XDP_FWD_PEER, 2, len);
}

/* ---- xdp_uplink ------------------------------------------------------------------------------ */

static void test_xdp_uplink_pass(void **state)
{
	const struct fam *f = *state;
	uint8_t pkt[MAX_FRAME], out[MAX_FRAME];
	size_t len = from_wire(pkt, f->remote, f->b, 64);
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt, .data_size_in = len,
		    .data_out = out, .data_size_out = sizeof(out), .repeat = 1);

	assert_int_equal(bpf_prog_test_run_opts(bpf_program__fd(xu->progs.xdp_uplink), &opts), 0);
	assert_int_equal(opts.retval, XDP_PASS);
	assert_int_equal(opts.data_size_out, len);
	assert_memory_equal(out, pkt, len);
	expect_fwds(-1, 0, 0);
	expect_drops(XDP_DROP_NONE, 0, 0);
}

/* ---- main ------------------------------------------------------------------------------------ */

static void cleanup(void)
{
	pin_dir_remove();
}

#define T(f) { #f, f, test_setup, NULL, NULL }
#define T46(f) { #f "_v4", f, test_setup, NULL, (void *)&V4 }, \
	       { #f "_v6", f, test_setup, NULL, (void *)&V6 }

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_maps_shared),
		T(test_ctx_fields),
		T46(test_from_pod_local),
		T46(test_from_pod_ttl1),
		T46(test_from_pod_ttl0),
		T46(test_from_pod_not_ready),
		T46(test_from_pod_spoof_unknown_ip),
		T46(test_from_pod_spoof_other_ep),
		T46(test_from_pod_spoof_mac),
		T(test_from_pod_arp),
		T46(test_from_pod_local_only),
		T46(test_from_pod_local_only_spoofed),
		T(test_from_pod_unsupported),
		T46(test_from_pod_outside),
		T46(test_from_pod_stranger),
		T46(test_from_pod_vxlan),
		T46(test_from_pod_vxlan_ttl1),
		T46(test_from_pod_native),
		T46(test_from_pod_native_no_neigh),
		T46(test_from_pod_native_no_route),
		T46(test_from_pod_native_unreachable),
		T46(test_from_pod_native_too_big),
		T46(test_from_pod_native_gso),
		T46(test_from_pod_native_ttl1),
		T46(test_from_pod_native_fwd_disabled),
		T(test_from_pod_runt),
		T46(test_from_pod_eth_only),
		T(test_from_pod_ipv4_truncated),
		T(test_from_pod_ipv4_version),
		T(test_from_pod_ipv4_ihl),
		T(test_from_pod_ipv4_tot_len_long),
		T(test_from_pod_ipv4_tot_len_short),
		T(test_from_pod_ipv4_options),
		T(test_from_pod_ipv4_padded),
		T(test_from_pod_ipv6_truncated),
		T(test_from_pod_ipv6_version),
		T(test_from_pod_ipv6_payload_len),
		T46(test_to_pod_local),
		T46(test_to_pod_other_host),
		T46(test_to_pod_not_local),
		T46(test_to_pod_local_only),
		T46(test_to_pod_ttl1),
		T46(test_to_pod_not_ready),
		T(test_to_pod_non_ip),
		T46(test_to_pod_malformed),
		T46(test_to_pod_truncated),
		T46(test_policy_flag_off),
		T46(test_policy_no_state),
		T46(test_policy_not_isolated),
		T46(test_policy_ingress_port),
		T46(test_policy_any),
		T46(test_policy_cidr),
		T46(test_policy_egress),
		T46(test_policy_reply),
		T46(test_policy_host_icmp),
		T46(test_policy_ranges),
		T46(test_policy_drop_events),
		T46(test_policy_echo_id),
		T46(test_policy_ct_expiry),
		T46(test_policy_icmp_error),
		T(test_policy_fragments),
		T(test_policy_fragments_v6),
		T46(test_xdp_uplink_pass),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "test_bpf: must run as root (BPF, bpffs, network namespaces)\n");
		return 1;
	}
	/* Private netns: the FIB the programs consult is the fixture's alone. */
	if (unshare(CLONE_NEWNET) < 0) {
		report("unshare", errno);
		return 1;
	}
	atexit(cleanup);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
