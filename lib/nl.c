/* nl: rtnetlink requests over libmnl.
 * One request in flight per socket: every call sends its message and reads
 * the whole answer (ack, or dump up to NLMSG_DONE) before it returns, so the
 * socket never holds a stale message for the next call. */
#include "nl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <linux/if_ether.h>
#include <endian.h>
#include <linux/fib_rules.h>
#include <linux/lwtunnel.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>

/* Our requests carry a few names, addresses and nests: far below this. */
#define NL_REQ_SIZE	8192
/* A message longer than the recv() buffer is cut (MSG_TRUNC, ENOSPC from
 * libmnl); 32 KiB is the largest batch the kernel builds for a dump reader. */
#define NL_RECV_SIZE	32768

#define NL_ALIGNED	__attribute__((aligned(NLMSG_ALIGNTO)))

/* A request being built, on the caller's stack. */
struct nl_req {
	char buf[NL_REQ_SIZE];
} NL_ALIGNED;

static bool family_ok(int family)
{
	return family == AF_INET || family == AF_INET6;
}

static bool name_ok(const char *name)
{
	return name && name[0] && strnlen(name, IFNAMSIZ) < IFNAMSIZ;
}

/* ---- transport ---------------------------------------------------------- */

int nl_open(struct nl *nl)
{
	int err;

	memset(nl, 0, sizeof(*nl));
	nl->sock = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!nl->sock)
		return -errno;
	if (mnl_socket_bind(nl->sock, 0, MNL_SOCKET_AUTOPID) < 0) {
		err = -errno;
		nl_close(nl);
		return err;
	}
	nl->portid = mnl_socket_get_portid(nl->sock);
	return 0;
}

void nl_close(struct nl *nl)
{
	if (nl->sock)
		mnl_socket_close(nl->sock);
	nl->sock = NULL;
}

/* NLMSG_ERROR: error 0 is the ack, anything else the request's -errno. */
static int nl_error_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

	(void)data;
	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*e)) {
		errno = EBADMSG;
		return MNL_CB_ERROR;
	}
	if (!e->error)
		return MNL_CB_STOP;
	errno = -e->error;
	return MNL_CB_ERROR;
}

/* NLMSG_DONE carries the dump's own error (e.g. it failed part way), which
 * libmnl's default handler drops. */
static int nl_done_cb(const struct nlmsghdr *nlh, void *data)
{
	const int *err = mnl_nlmsg_get_payload(nlh);

	(void)data;
	if (mnl_nlmsg_get_payload_len(nlh) >= sizeof(*err) && *err < 0) {
		errno = -*err;
		return MNL_CB_ERROR;
	}
	return MNL_CB_STOP;
}

/* libmnl ignores a control type below the array length whose slot is NULL,
 * so both terminators are ours. Not const: mnl_cb_run2() takes it mutable. */
static mnl_cb_t nl_ctl_cbs[NLMSG_MIN_TYPE] = {
	[NLMSG_ERROR] = nl_error_cb,
	[NLMSG_DONE] = nl_done_cb,
};

/* True if buf holds the message that ends an exchange. */
static bool nl_batch_ends(const void *buf, size_t len)
{
	const struct nlmsghdr *nlh = buf;
	int left = (int)len;

	for (; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
		if (nlh->nlmsg_type == NLMSG_ERROR || nlh->nlmsg_type == NLMSG_DONE)
			return true;
	}
	return false;
}

/* Send nlh and read until its ack or NLMSG_DONE; cb (may be NULL) sees every
 * data message. After a failure (an interrupted dump, say) the rest of the
 * answer is still read, and dropped. Returns 0 or the first -errno. */
static int nl_run(struct nl *nl, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	char buf[NL_RECV_SIZE] NL_ALIGNED;
	unsigned int seq = ++nl->seq;
	ssize_t n;
	int err = 0;

	nlh->nlmsg_seq = seq;
	if (mnl_socket_sendto(nl->sock, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	do {
		n = mnl_socket_recvfrom(nl->sock, buf, sizeof(buf));
		if (n < 0)
			return -errno;
		if (!err && mnl_cb_run2(buf, n, seq, nl->portid, cb, data, nl_ctl_cbs,
					MNL_ARRAY_SIZE(nl_ctl_cbs)) == MNL_CB_ERROR)
			err = -errno;
	} while (!nl_batch_ends(buf, n));
	return err;
}

static int nl_request(struct nl *nl, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	return nl_run(nl, nlh, cb, data);
}

/* -EINTR if the table changed during the dump; the caller may retry. */
static int nl_dump(struct nl *nl, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_DUMP;
	return nl_run(nl, nlh, cb, data);
}

static struct nlmsghdr *nl_msg(struct nl_req *req, uint16_t type, uint16_t flags)
{
	struct nlmsghdr *nlh;

	/* libmnl 1.0.4 leaves attribute padding unwritten; send no stack garbage. */
	memset(req, 0, sizeof(*req));
	nlh = mnl_nlmsg_put_header(req->buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = flags;
	return nlh;
}

/* ---- attribute parsing -------------------------------------------------- */

struct nl_tb {
	const struct nlattr **tb;
	unsigned int max;
};

static int nl_tb_cb(const struct nlattr *attr, void *data)
{
	const struct nl_tb *t = data;
	unsigned int type = mnl_attr_get_type(attr);

	if (type <= t->max)
		t->tb[type] = attr;
	return MNL_CB_OK;
}

/* Index attributes by type; types above max (newer kernels) are skipped. */
static void nl_parse(const struct nlmsghdr *nlh, size_t hdrlen, const struct nlattr **tb,
		     unsigned int max)
{
	struct nl_tb t = { tb, max };

	memset(tb, 0, (max + 1) * sizeof(*tb));
	mnl_attr_parse(nlh, hdrlen, nl_tb_cb, &t);
}

static void nl_parse_nested(const struct nlattr *nest, const struct nlattr **tb, unsigned int max)
{
	struct nl_tb t = { tb, max };

	memset(tb, 0, (max + 1) * sizeof(*tb));
	mnl_attr_parse_nested(nest, nl_tb_cb, &t);
}

/* 0 if absent or malformed. */
static uint32_t attr_u32(const struct nlattr *a)
{
	if (!a || mnl_attr_validate(a, MNL_TYPE_U32) < 0)
		return 0;
	return mnl_attr_get_u32(a);
}

static void attr_str(const struct nlattr *a, char *dst, size_t size)
{
	dst[0] = '\0';
	if (a && mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
		snprintf(dst, size, "%s", mnl_attr_get_str(a));
}

/* out is the family's zero address unless a holds one of the right size. */
static bool attr_ip(const struct nlattr *a, int family, struct ipaddr *out)
{
	memset(out, 0, sizeof(*out));
	out->family = family;
	if (!a || mnl_attr_get_payload_len(a) != (uint16_t)ipaddr_len(out))
		return false;
	memcpy(out->b, mnl_attr_get_payload(a), ipaddr_len(out));
	return true;
}

/* ---- links -------------------------------------------------------------- */

static struct ifinfomsg *link_hdr(struct nlmsghdr *nlh, int ifindex)
{
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));

	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	return ifi;
}

static int link_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *tb[IFLA_MAX + 1], *info[IFLA_INFO_MAX + 1];
	struct nl_link *l = data;

	if (nlh->nlmsg_type != RTM_NEWLINK || mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifi))
		return MNL_CB_OK;
	nl_parse(nlh, sizeof(*ifi), tb, IFLA_MAX);
	l->ifindex = ifi->ifi_index;
	l->up = ifi->ifi_flags & IFF_UP;
	l->noarp = ifi->ifi_flags & IFF_NOARP;
	l->peer_ifindex = (int)attr_u32(tb[IFLA_LINK]);
	l->mtu = (int)attr_u32(tb[IFLA_MTU]);
	if (tb[IFLA_ADDRESS] && mnl_attr_get_payload_len(tb[IFLA_ADDRESS]) == sizeof(l->mac))
		memcpy(l->mac, mnl_attr_get_payload(tb[IFLA_ADDRESS]), sizeof(l->mac));
	attr_str(tb[IFLA_IFNAME], l->name, sizeof(l->name));
	if (tb[IFLA_LINKINFO]) {
		nl_parse_nested(tb[IFLA_LINKINFO], info, IFLA_INFO_MAX);
		attr_str(info[IFLA_INFO_KIND], l->kind, sizeof(l->kind));
	}
	return MNL_CB_OK;
}

/* By index if ifindex > 0, else by name. */
static int link_get(struct nl *nl, int ifindex, const char *name, struct nl_link *out)
{
	struct nl_req req;
	struct nlmsghdr *nlh;

	memset(out, 0, sizeof(*out));
	nlh = nl_msg(&req, RTM_GETLINK, 0);
	link_hdr(nlh, ifindex);
	if (name)
		mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	/* No counters wanted; keeps the reply small. */
	mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	return nl_request(nl, nlh, link_cb, out);
}

int nl_link_get(struct nl *nl, const char *name, struct nl_link *out)
{
	if (!name_ok(name))
		return -EINVAL;
	return link_get(nl, 0, name, out);
}

int nl_link_get_index(struct nl *nl, int ifindex, struct nl_link *out)
{
	if (ifindex <= 0)
		return -EINVAL;
	return link_get(nl, ifindex, NULL, out);
}

/* The attributes both veth ends are created with; a NULL mac lets the
 * kernel pick a random one. */
static void link_put_attrs(struct nlmsghdr *nlh, const char *name, const uint8_t mac[6], int mtu)
{
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	if (mac)
		mnl_attr_put(nlh, IFLA_ADDRESS, ETH_ALEN, mac);
	if (mtu > 0)
		mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
}

int nl_veth_create(struct nl *nl, const char *host_name, const uint8_t host_mac[6],
		   const char *peer_name, const uint8_t peer_mac[6], int peer_netns_fd, int mtu)
{
	struct nl_req req;
	struct nlattr *linkinfo, *data, *peer;
	struct nlmsghdr *nlh;

	if (!name_ok(host_name) || !name_ok(peer_name) || peer_netns_fd < 0)
		return -EINVAL;
	nlh = nl_msg(&req, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
	link_hdr(nlh, 0);
	link_put_attrs(nlh, host_name, host_mac, mtu);

	linkinfo = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
	data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	peer = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
	/* The peer is a whole RTM_NEWLINK body: ifinfomsg, then attributes.
	 * IFLA_NET_NS_FD creates it in the pod netns under its final name. */
	link_hdr(nlh, 0);
	link_put_attrs(nlh, peer_name, peer_mac, mtu);
	mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, peer_netns_fd);
	mnl_attr_nest_end(nlh, peer);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, linkinfo);

	return nl_request(nl, nlh, NULL, NULL);
}

int nl_link_set_up(struct nl *nl, int ifindex)
{
	struct nl_req req;
	struct nlmsghdr *nlh = nl_msg(&req, RTM_NEWLINK, 0);
	struct ifinfomsg *ifi = link_hdr(nlh, ifindex);

	ifi->ifi_change = IFF_UP;
	ifi->ifi_flags = IFF_UP;
	return nl_request(nl, nlh, NULL, NULL);
}

int nl_link_del(struct nl *nl, int ifindex)
{
	struct nl_req req;
	struct nlmsghdr *nlh = nl_msg(&req, RTM_DELLINK, 0);

	link_hdr(nlh, ifindex);
	return nl_request(nl, nlh, NULL, NULL);
}

int nl_link_set_mtu(struct nl *nl, int ifindex, int mtu)
{
	struct nl_req req;
	struct nlmsghdr *nlh = nl_msg(&req, RTM_NEWLINK, 0);

	if (mtu <= 0)
		return -EINVAL;
	link_hdr(nlh, ifindex);
	mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
	return nl_request(nl, nlh, NULL, NULL);
}

int nl_vxlan_create(struct nl *nl, const char *name, uint16_t port, int mtu)
{
	struct nl_req req;
	struct nlattr *linkinfo, *data;
	struct nlmsghdr *nlh;

	if (!name_ok(name) || !port)
		return -EINVAL;
	struct ifinfomsg *ifi;

	nlh = nl_msg(&req, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
	ifi = link_hdr(nlh, 0);
	/* NOARP: the kernel cannot ARP/ND through a collect_md device (no
	 * tunnel key on neighbour probes); inner frames carry our own MAC and
	 * the receiving datapath rewrites them anyway. */
	ifi->ifi_flags |= IFF_NOARP;
	ifi->ifi_change |= IFF_NOARP;
	link_put_attrs(nlh, name, NULL, mtu);
	linkinfo = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "vxlan");
	data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	/* No VNI, remote or local: every packet brings its own tunnel key. */
	mnl_attr_put_u8(nlh, IFLA_VXLAN_COLLECT_METADATA, 1);
	mnl_attr_put_u8(nlh, IFLA_VXLAN_LEARNING, 0);
	mnl_attr_put_u16(nlh, IFLA_VXLAN_PORT, htons(port));
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, linkinfo);
	return nl_request(nl, nlh, NULL, NULL);
}

struct vxlan_get {
	struct nl_link *link;
	struct nl_vxlan *vx;
};

static int vxlan_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *tb[IFLA_MAX + 1], *info[IFLA_INFO_MAX + 1], *vx[IFLA_VXLAN_MAX + 1];
	struct vxlan_get *g = data;

	link_cb(nlh, g->link);
	if (nlh->nlmsg_type != RTM_NEWLINK || mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifi))
		return MNL_CB_OK;
	nl_parse(nlh, sizeof(*ifi), tb, IFLA_MAX);
	if (!tb[IFLA_LINKINFO])
		return MNL_CB_OK;
	nl_parse_nested(tb[IFLA_LINKINFO], info, IFLA_INFO_MAX);
	if (!info[IFLA_INFO_DATA] || strcmp(g->link->kind, "vxlan"))
		return MNL_CB_OK;
	nl_parse_nested(info[IFLA_INFO_DATA], vx, IFLA_VXLAN_MAX);
	if (vx[IFLA_VXLAN_PORT] && mnl_attr_get_payload_len(vx[IFLA_VXLAN_PORT]) == 2)
		g->vx->port = ntohs(mnl_attr_get_u16(vx[IFLA_VXLAN_PORT]));
	g->vx->collect_md = vx[IFLA_VXLAN_COLLECT_METADATA] &&
			    mnl_attr_get_u8(vx[IFLA_VXLAN_COLLECT_METADATA]);
	g->vx->learning = vx[IFLA_VXLAN_LEARNING] && mnl_attr_get_u8(vx[IFLA_VXLAN_LEARNING]);
	return MNL_CB_OK;
}

int nl_vxlan_get(struct nl *nl, const char *name, struct nl_link *link, struct nl_vxlan *vx)
{
	struct vxlan_get g = { link, vx };
	struct nl_req req;
	struct nlmsghdr *nlh;
	int err;

	if (!name_ok(name))
		return -EINVAL;
	memset(link, 0, sizeof(*link));
	memset(vx, 0, sizeof(*vx));
	nlh = nl_msg(&req, RTM_GETLINK, 0);
	link_hdr(nlh, 0);
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	err = nl_request(nl, nlh, vxlan_cb, &g);
	if (err)
		return err;
	return strcmp(link->kind, "vxlan") ? -EMEDIUMTYPE : 0;
}

/* ---- addresses ---------------------------------------------------------- */

int nl_addr_add(struct nl *nl, int ifindex, const struct ipnet *addr, int scope, uint32_t flags)
{
	struct nl_req req;
	struct nlmsghdr *nlh;
	struct ifaddrmsg *ifa;

	if (!family_ok(addr->ip.family))
		return -EAFNOSUPPORT;
	nlh = nl_msg(&req, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE);
	ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = addr->ip.family;
	ifa->ifa_prefixlen = addr->prefix;
	ifa->ifa_flags = (uint8_t)flags; /* the u8 field; IFA_FLAGS has them all */
	ifa->ifa_scope = scope;
	ifa->ifa_index = ifindex;
	/* IPv4 reads the address from IFA_LOCAL (IFA_ADDRESS would be the peer
	 * on a point-to-point link); both equal means no peer. */
	if (addr->ip.family == AF_INET)
		mnl_attr_put(nlh, IFA_LOCAL, ipaddr_len(&addr->ip), addr->ip.b);
	mnl_attr_put(nlh, IFA_ADDRESS, ipaddr_len(&addr->ip), addr->ip.b);
	mnl_attr_put_u32(nlh, IFA_FLAGS, flags);
	return nl_request(nl, nlh, NULL, NULL);
}

struct addr_list {
	int ifindex;
	int family;
	struct ipnet *out;
	int max;
	int n;
};

static int addr_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *tb[IFA_MAX + 1];
	struct addr_list *l = data;
	struct ipnet *a;

	if (nlh->nlmsg_type != RTM_NEWADDR || mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifa))
		return MNL_CB_OK;
	if ((int)ifa->ifa_index != l->ifindex || !family_ok(ifa->ifa_family))
		return MNL_CB_OK;
	if ((l->family != AF_UNSPEC && ifa->ifa_family != l->family) || l->n >= l->max)
		return MNL_CB_OK;
	nl_parse(nlh, sizeof(*ifa), tb, IFA_MAX);
	a = &l->out[l->n];
	/* IFA_LOCAL is our end when IFA_ADDRESS names a peer (IPv4 only). */
	if (!attr_ip(tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS], ifa->ifa_family, &a->ip))
		return MNL_CB_OK;
	a->prefix = ifa->ifa_prefixlen;
	l->n++;
	return MNL_CB_OK;
}

int nl_addr_list(struct nl *nl, int ifindex, int family, struct ipnet *out, int max)
{
	struct nl_req req;
	struct addr_list l = { ifindex, family, out, max, 0 };
	struct nlmsghdr *nlh;
	struct ifaddrmsg *ifa;
	int err;

	if (max < 0 || (family != AF_UNSPEC && !family_ok(family)))
		return -EINVAL;
	nlh = nl_msg(&req, RTM_GETADDR, 0);
	ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = family;
	err = nl_dump(nl, nlh, addr_cb, &l);
	return err ? err : l.n;
}

/* ---- routes ------------------------------------------------------------- */

/* rtmsg in table, plus RTA_DST (none for a default route) and RTA_OIF. */
static struct nlmsghdr *route_msg(struct nl_req *req, uint16_t type, uint16_t flags, int ifindex,
				  const struct ipnet *dst, int protocol, int scope, int rtype,
				  uint32_t table)
{
	struct nlmsghdr *nlh = nl_msg(req, type, flags);
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));

	rtm->rtm_family = dst->ip.family;
	rtm->rtm_dst_len = dst->prefix;
	/* rtm_table is a u8; RTA_TABLE carries the full id. */
	rtm->rtm_table = table < 256 ? table : RT_TABLE_UNSPEC;
	mnl_attr_put_u32(nlh, RTA_TABLE, table);
	rtm->rtm_protocol = protocol;
	rtm->rtm_scope = scope;
	rtm->rtm_type = rtype;
	if (dst->prefix > 0)
		mnl_attr_put(nlh, RTA_DST, ipaddr_len(&dst->ip), dst->ip.b);
	if (ifindex > 0)
		mnl_attr_put_u32(nlh, RTA_OIF, ifindex);
	return nlh;
}

int nl_route_add(struct nl *nl, int ifindex, const struct ipnet *dst, const struct ipaddr *gw,
		 int scope, int mtu)
{
	return nl_route_add_in(nl, RT_TABLE_MAIN, 0, ifindex, dst, gw, scope, mtu);
}

int nl_route_add_in(struct nl *nl, uint32_t table, unsigned int flags, int ifindex,
		    const struct ipnet *dst, const struct ipaddr *gw, int scope, int mtu)
{
	return nl_route_add_proto(nl, table, flags, RTPROT_BOOT, ifindex, dst, gw, scope, mtu);
}

int nl_route_add_proto(struct nl *nl, uint32_t table, unsigned int flags, int protocol,
		       int ifindex, const struct ipnet *dst, const struct ipaddr *gw, int scope,
		       int mtu)
{
	struct nl_req req;
	struct nlmsghdr *nlh;
	struct nlattr *mx;

	if (!family_ok(dst->ip.family))
		return -EAFNOSUPPORT;
	if (gw && gw->family != dst->ip.family)
		return -EINVAL;
	nlh = route_msg(&req, RTM_NEWROUTE,
			NLM_F_CREATE | (flags & NL_ROUTE_EXCL ? NLM_F_EXCL : NLM_F_REPLACE), ifindex,
			dst, protocol, scope, RTN_UNICAST, table);
	if (flags & NL_ROUTE_ONLINK)
		((struct rtmsg *)mnl_nlmsg_get_payload(nlh))->rtm_flags |= RTNH_F_ONLINK;
	/* Always with RTA_OIF: an IPv6 link-local gateway (fe80::1) means
	 * nothing without the device. */
	if (gw)
		mnl_attr_put(nlh, RTA_GATEWAY, ipaddr_len(gw), gw->b);
	if (mtu > 0) {
		mx = mnl_attr_nest_start(nlh, RTA_METRICS);
		mnl_attr_put_u32(nlh, RTAX_MTU, mtu);
		mnl_attr_nest_end(nlh, mx);
	}
	return nl_request(nl, nlh, NULL, NULL);
}

int nl_route_add_encap(struct nl *nl, uint32_t table, int protocol, int ifindex,
		       const struct ipnet *dst, uint64_t id, const struct ipaddr *tun_dst)
{
	struct nl_req req;
	struct nlmsghdr *nlh;
	struct nlattr *encap;

	if (!family_ok(dst->ip.family))
		return -EAFNOSUPPORT;
	if (tun_dst->family != AF_INET)
		return -EAFNOSUPPORT; /* LWTUNNEL_ENCAP_IP: IPv4 outer header */
	nlh = route_msg(&req, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, ifindex, dst, protocol,
			RT_SCOPE_UNIVERSE, RTN_UNICAST, table);
	mnl_attr_put_u16(nlh, RTA_ENCAP_TYPE, LWTUNNEL_ENCAP_IP);
	encap = mnl_attr_nest_start(nlh, RTA_ENCAP);
	mnl_attr_put_u64(nlh, LWTUNNEL_IP_ID, htobe64(id));
	mnl_attr_put(nlh, LWTUNNEL_IP_DST, 4, tun_dst->b);
	mnl_attr_nest_end(nlh, encap);
	return nl_request(nl, nlh, NULL, NULL);
}

int nl_route_del(struct nl *nl, int ifindex, const struct ipnet *dst)
{
	struct nl_req req;
	struct nlmsghdr *nlh;

	if (!family_ok(dst->ip.family))
		return -EAFNOSUPPORT;
	/* Unspecified protocol and type, and scope NOWHERE, match any route. */
	nlh = route_msg(&req, RTM_DELROUTE, 0, ifindex, dst, RTPROT_UNSPEC, RT_SCOPE_NOWHERE,
			RTN_UNSPEC, RT_TABLE_MAIN);
	return nl_request(nl, nlh, NULL, NULL);
}

int nl_route_del_proto(struct nl *nl, uint32_t table, int protocol, const struct ipnet *dst)
{
	struct nl_req req;
	struct nlmsghdr *nlh;

	if (!family_ok(dst->ip.family) || !protocol)
		return -EINVAL;
	/* The kernel only deletes a route whose protocol matches a non-zero one. */
	nlh = route_msg(&req, RTM_DELROUTE, 0, 0, dst, protocol, RT_SCOPE_NOWHERE, RTN_UNSPEC,
			table);
	return nl_request(nl, nlh, NULL, NULL);
}

struct route_list {
	uint32_t table;
	int protocol;          /* 0: any */
	int family;
	struct nl_route *out;
	int max;
	int n;
};

static int route_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *tb[RTA_MAX + 1], *mx[RTAX_MAX + 1];
	struct route_list *l = data;
	struct nl_route *r;
	uint32_t table;

	if (nlh->nlmsg_type != RTM_NEWROUTE || mnl_nlmsg_get_payload_len(nlh) < sizeof(*rtm))
		return MNL_CB_OK;
	if (!family_ok(rtm->rtm_family) || rtm->rtm_type != RTN_UNICAST || l->n >= l->max)
		return MNL_CB_OK;
	if (l->family != AF_UNSPEC && rtm->rtm_family != l->family)
		return MNL_CB_OK;
	nl_parse(nlh, sizeof(*rtm), tb, RTA_MAX);
	/* rtm_table is a u8: ids above 255 are only in RTA_TABLE. */
	table = tb[RTA_TABLE] ? attr_u32(tb[RTA_TABLE]) : rtm->rtm_table;
	if (table != l->table || (l->protocol && rtm->rtm_protocol != l->protocol))
		return MNL_CB_OK;

	r = &l->out[l->n++];
	memset(r, 0, sizeof(*r));
	attr_ip(tb[RTA_DST], rtm->rtm_family, &r->dst.ip);
	r->dst.prefix = rtm->rtm_dst_len;
	r->has_gw = attr_ip(tb[RTA_GATEWAY], rtm->rtm_family, &r->gw);
	r->ifindex = (int)attr_u32(tb[RTA_OIF]);
	r->scope = rtm->rtm_scope;
	r->protocol = rtm->rtm_protocol;
	if (tb[RTA_METRICS]) {
		nl_parse_nested(tb[RTA_METRICS], mx, RTAX_MAX);
		r->mtu = (int)attr_u32(mx[RTAX_MTU]);
	}
	return MNL_CB_OK;
}

int nl_route_list(struct nl *nl, int family, struct nl_route *out, int max)
{
	return nl_route_list_in(nl, RT_TABLE_MAIN, family, out, max);
}

int nl_route_list_in(struct nl *nl, uint32_t table, int family, struct nl_route *out, int max)
{
	return nl_route_list_proto(nl, table, family, 0, out, max);
}

int nl_route_list_proto(struct nl *nl, uint32_t table, int family, int protocol,
			struct nl_route *out, int max)
{
	struct nl_req req;
	struct route_list l = { table, protocol, family, out, max, 0 };
	struct nlmsghdr *nlh;
	struct rtmsg *rtm;
	int err;

	if (max < 0 || (family != AF_UNSPEC && !family_ok(family)))
		return -EINVAL;
	nlh = nl_msg(&req, RTM_GETROUTE, 0);
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = family;
	err = nl_dump(nl, nlh, route_cb, &l);
	return err ? err : l.n;
}

/* ---- policy rules ------------------------------------------------------- */

static struct nlmsghdr *rule_msg(struct nl_req *req, uint16_t type, uint16_t flags, int family,
				 uint32_t table)
{
	struct nlmsghdr *nlh = nl_msg(req, type, flags);
	struct fib_rule_hdr *frh = mnl_nlmsg_put_extra_header(nlh, sizeof(*frh));

	frh->family = family;
	frh->action = FR_ACT_TO_TBL;
	frh->table = table < 256 ? table : RT_TABLE_UNSPEC;
	mnl_attr_put_u32(nlh, FRA_TABLE, table);
	return nlh;
}

int nl_rule_add(struct nl *nl, const struct ipnet *src, uint32_t table, uint32_t prio)
{
	struct nl_req req;
	struct nlmsghdr *nlh;
	struct fib_rule_hdr *frh;
	int err;

	if (!family_ok(src->ip.family))
		return -EAFNOSUPPORT;
	/* EXCL makes an identical rule an error instead of a duplicate. */
	nlh = rule_msg(&req, RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL, src->ip.family, table);
	frh = mnl_nlmsg_get_payload(nlh);
	frh->src_len = src->prefix;
	mnl_attr_put(nlh, FRA_SRC, ipaddr_len(&src->ip), src->ip.b);
	mnl_attr_put_u32(nlh, FRA_PRIORITY, prio);
	err = nl_request(nl, nlh, NULL, NULL);
	return err == -EEXIST ? 0 : err;
}

/* The kernel deletes the first rule matching the attributes given, so one
 * table-only request per rule, until none is left. */
#define NL_RULE_DEL_MAX 64

int nl_rule_del_table(struct nl *nl, int family, uint32_t table)
{
	struct nl_req req;
	int n, err = 0;

	if (!family_ok(family))
		return -EAFNOSUPPORT;
	for (n = 0; n < NL_RULE_DEL_MAX; n++) {
		err = nl_request(nl, rule_msg(&req, RTM_DELRULE, 0, family, table), NULL, NULL);
		if (err)
			break;
	}
	return err == -ENOENT || !err ? n : err;
}

/* ---- neighbours --------------------------------------------------------- */

int nl_neigh_add(struct nl *nl, int ifindex, const struct ipaddr *ip, const uint8_t mac[6])
{
	struct nl_req req;
	struct nlmsghdr *nlh;
	struct ndmsg *ndm;

	if (!family_ok(ip->family))
		return -EAFNOSUPPORT;
	nlh = nl_msg(&req, RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE);
	ndm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ndm));
	ndm->ndm_family = ip->family;
	ndm->ndm_ifindex = ifindex;
	ndm->ndm_state = NUD_PERMANENT;
	mnl_attr_put(nlh, NDA_DST, ipaddr_len(ip), ip->b);
	mnl_attr_put(nlh, NDA_LLADDR, ETH_ALEN, mac);
	return nl_request(nl, nlh, NULL, NULL);
}
