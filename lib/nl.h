/* nl: the plugin's netlink calls (libmnl), one request per function.
 * Owns link, address, route and neighbour programming in whatever network
 * namespace the socket was opened in. No fork/exec of ip(8).
 * Every function returns 0 or a negative errno (the kernel's, from the ack). */
#ifndef XDPATH_CNI_NL_H
#define XDPATH_CNI_NL_H

#include <stdbool.h>
#include <stdint.h>

#include "ipaddr.h"

struct mnl_socket;

struct nl {
	struct mnl_socket *sock;
	unsigned int portid;
	unsigned int seq;
};

struct nl_link {
	int ifindex;
	int peer_ifindex;      /* IFLA_LINK (veth peer index, in the peer's netns); 0 if none */
	int mtu;
	bool up;               /* IFF_UP */
	bool noarp;            /* IFF_NOARP */
	uint8_t mac[6];
	char name[16];
	char kind[16];         /* IFLA_INFO_KIND, "" if none */
};

struct nl_route {
	struct ipnet dst;
	struct ipaddr gw;
	bool has_gw;
	int ifindex;
	int scope;             /* RT_SCOPE_* */
	int mtu;               /* RTAX_MTU, 0 if unset */
	int protocol;          /* rtm_protocol (RTPROT_*, or an owner's own id) */
};

/* A collect_md ("external") vxlan device: one device for every remote
 * endpoint, the tunnel key comes with each packet (bpf_skb_set_tunnel_key). */
struct nl_vxlan {
	uint16_t port;         /* UDP destination port, host order */
	bool collect_md;       /* IFLA_VXLAN_COLLECT_METADATA */
	bool learning;         /* IFLA_VXLAN_LEARNING */
};

/* Open a NETLINK_ROUTE socket in the calling thread's current netns. */
int nl_open(struct nl *nl);
void nl_close(struct nl *nl);

int nl_link_get(struct nl *nl, const char *name, struct nl_link *out);    /* -ENODEV if absent */
int nl_link_get_index(struct nl *nl, int ifindex, struct nl_link *out);   /* -ENODEV if absent */

/* Create a veth pair: host end named host_name in this socket's netns, peer end
 * named peer_name created directly inside the netns peer_netns_fd. MACs and
 * mtu (0 = kernel default) are set at creation. -EEXIST if a name is taken. */
int nl_veth_create(struct nl *nl, const char *host_name, const uint8_t host_mac[6],
		   const char *peer_name, const uint8_t peer_mac[6], int peer_netns_fd, int mtu);
int nl_link_set_up(struct nl *nl, int ifindex);
int nl_link_del(struct nl *nl, int ifindex);                              /* -ENODEV if absent */
int nl_link_set_mtu(struct nl *nl, int ifindex, int mtu);

/* Create a collect_md vxlan device (learning off, mtu 0 = kernel default).
 * -EEXIST if the name is taken. */
int nl_vxlan_create(struct nl *nl, const char *name, uint16_t port, int mtu);
/* The link and, if it is a vxlan device, its settings (-EMEDIUMTYPE if it is
 * some other kind). -ENODEV if absent. */
int nl_vxlan_get(struct nl *nl, const char *name, struct nl_link *link, struct nl_vxlan *vx);

/* Add (replace if present) an address. scope: RT_SCOPE_UNIVERSE / RT_SCOPE_LINK.
 * flags: IFA_F_* (IFA_F_NODAD, IFA_F_NOPREFIXROUTE). */
int nl_addr_add(struct nl *nl, int ifindex, const struct ipnet *addr, int scope, uint32_t flags);
/* Fill up to max addresses of family (AF_UNSPEC = both) on ifindex; returns count or -errno. */
int nl_addr_list(struct nl *nl, int ifindex, int family, struct ipnet *out, int max);

/* Add or replace a route in the main table. gw may be NULL; mtu 0 = unset. */
int nl_route_add(struct nl *nl, int ifindex, const struct ipnet *dst, const struct ipaddr *gw,
		 int scope, int mtu);

#define NL_ROUTE_EXCL   1u /* create only: -EEXIST if the table has a route for dst */
#define NL_ROUTE_ONLINK 2u /* the gateway is on the link whatever the table says */

/* The same in any table (ids above 255 included), with NL_ROUTE_* flags. */
int nl_route_add_in(struct nl *nl, uint32_t table, unsigned int flags, int ifindex,
		    const struct ipnet *dst, const struct ipaddr *gw, int scope, int mtu);
/* Unicast routes of family in table; returns count or -errno. */
int nl_route_list_in(struct nl *nl, uint32_t table, int family, struct nl_route *out, int max);

/* Routes owned by one program carry its rtm_protocol, so it can find (and
 * only ever replace or delete) its own. Add or replace: */
int nl_route_add_proto(struct nl *nl, uint32_t table, unsigned int flags, int protocol,
		       int ifindex, const struct ipnet *dst, const struct ipaddr *gw, int scope,
		       int mtu);
/* A route through a collect_md tunnel device: encapsulated with tunnel id
 * id to the IPv4 endpoint tun_dst (lwtunnel "encap ip"), for either
 * family of dst. Replaces an existing route to dst. */
int nl_route_add_encap(struct nl *nl, uint32_t table, int protocol, int ifindex,
		       const struct ipnet *dst, uint64_t id, const struct ipaddr *tun_dst);
/* Delete the route to dst of that protocol; -ESRCH if there is none. */
int nl_route_del_proto(struct nl *nl, uint32_t table, int protocol, const struct ipnet *dst);
/* Unicast routes of family in table with that protocol; count or -errno. */
int nl_route_list_proto(struct nl *nl, uint32_t table, int family, int protocol,
			struct nl_route *out, int max);

/* Policy rule "from src lookup table" at priority prio; 0 also when the same
 * rule exists already. */
int nl_rule_add(struct nl *nl, const struct ipnet *src, uint32_t table, uint32_t prio);
/* Delete every rule of family that looks up table; returns how many. */
int nl_rule_del_table(struct nl *nl, int family, uint32_t table);
int nl_route_del(struct nl *nl, int ifindex, const struct ipnet *dst);    /* -ESRCH if absent */
/* Main-table unicast routes of family; returns count or -errno. */
int nl_route_list(struct nl *nl, int family, struct nl_route *out, int max);

/* A permanent neighbour entry ip -> mac on ifindex (replace if present). */
int nl_neigh_add(struct nl *nl, int ifindex, const struct ipaddr *ip, const uint8_t mac[6]);

#endif
