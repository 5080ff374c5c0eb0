/* node: xdp_config, the tunnel device, peers. */
#include "node.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "cniconf.h"
#include "config.h"
#include "log.h"
#include "xdpath/datapath.h"

/* IPv4 outer header (20) + UDP (8) + VXLAN (8) + inner Ethernet (14). */
#define VXLAN_OVERHEAD 50

/* ---- tunnel -------------------------------------------------------------- */

static int tunnel_create(struct agent *a, int mtu)
{
	struct nl_link l;
	int err;

	err = nl_vxlan_create(&a->nl, AGENT_TUNNEL_DEV, a->cfg.vxlan_port, mtu);
	if (err)
		return err;
	err = nl_link_get(&a->nl, AGENT_TUNNEL_DEV, &l);
	if (err)
		return err;
	log_info("node", "created vxlan device", "dev=" AGENT_TUNNEL_DEV " port=%u mtu=%d",
		 a->cfg.vxlan_port, mtu);
	a->tunnel_ifindex = l.ifindex;
	return 0;
}

/* A device of ours with other settings (port changed in the config, not
 * collect_md, or ARP on) is replaced; only the MTU can be changed in place. */
static int tunnel_reuse(struct agent *a, const struct nl_link *l, const struct nl_vxlan *vx,
			int mtu)
{
	int err;

	if (!vx->collect_md || vx->learning || vx->port != a->cfg.vxlan_port || !l->noarp) {
		log_info("node", "vxlan device settings differ, recreating",
			 "dev=" AGENT_TUNNEL_DEV " port=%u collect_md=%d", vx->port, vx->collect_md);
		err = nl_link_del(&a->nl, l->ifindex);
		return err ? err : tunnel_create(a, mtu);
	}
	if (l->mtu != mtu) {
		err = nl_link_set_mtu(&a->nl, l->ifindex, mtu);
		if (err)
			return err;
	}
	a->tunnel_ifindex = l->ifindex;
	return 0;
}

static int tunnel_delete(struct agent *a)
{
	struct nl_vxlan vx;
	struct nl_link l;
	int err = nl_vxlan_get(&a->nl, AGENT_TUNNEL_DEV, &l, &vx);

	a->tunnel_ifindex = 0;
	if (err == -ENODEV || err == -EMEDIUMTYPE)
		return 0;
	if (err)
		return err;
	log_info("node", "native mode: deleting vxlan device", "dev=" AGENT_TUNNEL_DEV);
	return nl_link_del(&a->nl, l.ifindex);
}

int node_tunnel_sync(struct agent *a)
{
	struct nl_link up, l;
	struct nl_vxlan vx;
	int err, mtu;

	if (a->cfg.mode != XDP_MODE_VXLAN)
		return tunnel_delete(a);
	err = nl_link_get_index(&a->nl, a->uplink_ifindex, &up);
	if (err)
		return err;
	mtu = up.mtu - VXLAN_OVERHEAD;
	err = nl_vxlan_get(&a->nl, AGENT_TUNNEL_DEV, &l, &vx);
	if (err == -EMEDIUMTYPE) {
		log_error("node", "a non-vxlan device has our tunnel's name", "dev=" AGENT_TUNNEL_DEV
			  " kind=%s", l.kind);
		return -EEXIST;
	}
	if (err == -ENODEV)
		err = tunnel_create(a, mtu);
	else if (!err)
		err = tunnel_reuse(a, &l, &vx, mtu);
	if (err)
		return err;
	return nl_link_set_up(&a->nl, a->tunnel_ifindex);
}

/* ---- xdp_config ------------------------------------------------------- */

static void ip4_of(const struct ipaddr *a, __u32 *out)
{
	if (a->family == AF_INET)
		memcpy(out, a->b, 4);
}

static void ip6_of(const struct ipaddr *a, __u8 *out)
{
	if (a->family == AF_INET6)
		memcpy(out, a->b, 16);
}

static __u32 config_flags(struct agent *a)
{
	int fd = loader_map_fd(&a->ld, XDP_PIN_CONFIG);
	struct xdp_config x;
	__u32 zero = 0;

	return fd >= 0 && !bpf_map_lookup_elem(fd, &zero, &x) ? x.flags : 0;
}

bool node_config_was_ready(struct agent *a)
{
	return config_flags(a) & XDP_CFG_F_READY;
}

bool node_config_was_enforcing(struct agent *a)
{
	return config_flags(a) & XDP_CFG_F_POLICY;
}

int node_config_write(struct agent *a, bool ready)
{
	const struct agent_config *c = &a->cfg;
	int fd = loader_map_fd(&a->ld, XDP_PIN_CONFIG);
	struct xdp_config x;
	__u32 zero = 0;

	memset(&x, 0, sizeof(x));
	x.flags = (ready ? XDP_CFG_F_READY : 0) | (a->policy_on ? XDP_CFG_F_POLICY : 0);
	x.mode = (__u32)c->mode;
	x.uplink_ifindex = (__u32)a->uplink_ifindex;
	x.tunnel_ifindex = (__u32)a->tunnel_ifindex;
	x.vni = c->vni;
	ip4_of(&c->node_ip4, &x.node_ip4);
	ip6_of(&c->node_ip6, x.node_ip6);
	ip4_of(&c->cluster4.ip, &x.cluster4);
	x.cluster4_len = c->cluster4.ip.family ? (__u32)c->cluster4.prefix : 0;
	ip6_of(&c->cluster6.ip, x.cluster6);
	x.cluster6_len = c->cluster6.ip.family ? (__u32)c->cluster6.prefix : 0;
	if (fd < 0)
		return fd;
	/* One ARRAY element: the update is atomic for readers. */
	return bpf_map_update_elem(fd, &zero, &x, BPF_ANY) ? -errno : 0;
}

/* The node takes pods (XDP_CFG_F_READY: CNI ADDs are accepted) and its CNI
 * config is installed. */
void agent_synced(struct agent *a)
{
	int err;

	if (a->synced)
		return;
	err = node_config_write(a, true);
	if (err) {
		log_error("main", "cannot mark the datapath ready", "err=\"%s\"", strerror(-err));
		return;
	}
	a->ready = true;
	a->synced = true;
	a->startup_ms = agent_uptime_ms(a);
	log_info("main", "ready", "node=%s mode=%s endpoints=%d startup_ms=%ld", a->cfg.node_name,
		 config_mode_name(a->cfg.mode), a->nendpoints, a->startup_ms);
	cniconf_write(a);
}

/* ---- xdp_nodes -------------------------------------------------------- */

static void cidr_key(const struct ipnet *n, struct xdp_cidr_key *k)
{
	memset(k, 0, sizeof(*k));
	k->prefixlen = XDP_CIDR_PREFIX(n->prefix);
	k->family = n->ip.family == AF_INET ? XDP_EP_FAMILY_V4 : XDP_EP_FAMILY_V6;
	memcpy(k->addr, n->ip.b, ipaddr_len(&n->ip));
}

static int key_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct xdp_cidr_key));
}

/* The peers: the config's, then those from Node objects (kubesrc.c). */
static int npeers(const struct agent *a)
{
	return a->cfg.npeers + a->nkpeers;
}

static const struct cfg_peer *peer_at(const struct agent *a, int i)
{
	return i < a->cfg.npeers ? &a->cfg.peers[i] : &a->kpeers[i - a->cfg.npeers];
}

/* The wanted keys, sorted (for bsearch while sweeping the map). */
static struct xdp_cidr_key *wanted_keys(const struct agent *a, int *n)
{
	struct xdp_cidr_key *keys = calloc((size_t)npeers(a) * CFG_MAX_CIDRS + 1, sizeof(*keys));

	*n = 0;
	if (!keys)
		return NULL;
	for (int i = 0; i < npeers(a); i++)
		for (int j = 0; j < peer_at(a, i)->ncidrs; j++)
			cidr_key(&peer_at(a, i)->cidrs[j], &keys[(*n)++]);
	if (*n)
		qsort(keys, *n, sizeof(*keys), key_cmp);
	return keys;
}

static int nodes_put(int fd, const struct agent *a)
{
	struct xdp_node_info v;
	struct xdp_cidr_key k;

	for (int i = 0; i < npeers(a); i++) {
		const struct cfg_peer *p = peer_at(a, i);

		memset(&v, 0, sizeof(v));
		ip4_of(&p->ip4, &v.node_ip4);
		ip6_of(&p->ip6, v.node_ip6);
		v.node_id = (__u32)i + 1;
		for (int j = 0; j < p->ncidrs; j++) {
			cidr_key(&p->cidrs[j], &k);
			if (bpf_map_update_elem(fd, &k, &v, BPF_ANY))
				return -errno;
		}
	}
	return 0;
}

/* Delete every key not in keys[n]; returns how many. */
static int nodes_sweep(int fd, const struct xdp_cidr_key *keys, int n)
{
	struct xdp_cidr_key k, next, *doomed = NULL;
	void *prev = NULL;
	int nd = 0, cap = 0;

	/* Collect first: deleting while walking restarts the walk. */
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		k = next;
		prev = &k;
		if (n && bsearch(&k, keys, n, sizeof(k), key_cmp))
			continue;
		if (nd == cap) {
			struct xdp_cidr_key *d = realloc(doomed, (cap = cap * 2 + 16) * sizeof(k));

			if (!d)
				break;
			doomed = d;
		}
		doomed[nd++] = k;
	}
	for (int i = 0; i < nd; i++)
		bpf_map_delete_elem(fd, &doomed[i]);
	free(doomed);
	return nd;
}

int node_peers_sync(struct agent *a)
{
	int fd = loader_map_fd(&a->ld, XDP_PIN_NODES), n, err, swept;
	struct xdp_cidr_key *keys;

	if (fd < 0)
		return fd;
	keys = wanted_keys(a, &n);
	if (!keys)
		return -ENOMEM;
	err = nodes_put(fd, a);
	swept = err ? 0 : nodes_sweep(fd, keys, n);
	free(keys);
	if (err)
		return err;
	log_debug("node", "peers synced", "entries=%d removed=%d", n, swept);
	return n;
}

/* ---- routes to peers' pod CIDRs ----------------------------------------- */

#define ROUTES_MAX (CFG_MAX_PEERS * CFG_MAX_CIDRS)

static bool route_wanted(const struct agent *a, const struct nl_route *r)
{
	for (int i = 0; i < npeers(a); i++)
		for (int j = 0; j < peer_at(a, i)->ncidrs; j++)
			if (peer_at(a, i)->cidrs[j].prefix == r->dst.prefix &&
			    ipaddr_equal(&peer_at(a, i)->cidrs[j].ip, &r->dst.ip))
				return true;
	return false;
}

/* Our routes that the config no longer has. */
static void routes_sweep(struct agent *a, int family)
{
	struct nl_route *rs = calloc(ROUTES_MAX, sizeof(*rs));
	char cidr[CIDR_STRLEN];
	int n;

	if (!rs)
		return;
	n = nl_route_list_proto(&a->nl, RT_TABLE_MAIN, family, AGENT_RTPROT, rs, ROUTES_MAX);
	for (int i = 0; i < n; i++) {
		if (route_wanted(a, &rs[i]))
			continue;
		if (!nl_route_del_proto(&a->nl, RT_TABLE_MAIN, AGENT_RTPROT, &rs[i].dst))
			log_info("node", "removed route of a peer that is gone", "dst=%s",
				 ipnet_fmt(&rs[i].dst, cidr));
	}
	free(rs);
}

/* Native: via the peer's node address on the uplink. VXLAN: through the
 * tunnel device with the peer as tunnel endpoint, so that the node's own
 * traffic to remote pods, and what the datapath hands to the host stack
 * (TTL expiry, packets too big for the tunnel), take the same path. */
static int route_put(struct agent *a, const struct cfg_peer *p, const struct ipnet *dst)
{
	const struct ipaddr *gw = dst->ip.family == AF_INET ? &p->ip4 : &p->ip6;
	char cidr[CIDR_STRLEN], via[IPADDR_STRLEN];
	int err;

	if (a->cfg.mode == XDP_MODE_VXLAN) {
		gw = &p->ip4;
		err = nl_route_add_encap(&a->nl, RT_TABLE_MAIN, AGENT_RTPROT, a->tunnel_ifindex, dst,
					 a->cfg.vni, gw);
	} else {
		err = nl_route_add_proto(&a->nl, RT_TABLE_MAIN, 0, AGENT_RTPROT, a->uplink_ifindex,
					 dst, gw, RT_SCOPE_UNIVERSE, 0);
	}
	if (err)
		log_error("node", "cannot install route to peer", "peer=%s dst=%s via=%s err=\"%s\"",
			  p->name, ipnet_fmt(dst, cidr), ipaddr_fmt(gw, via), strerror(-err));
	return err;
}

int node_routes_sync(struct agent *a)
{
	int failed = 0;

	routes_sweep(a, AF_INET);
	routes_sweep(a, AF_INET6);
	for (int i = 0; i < npeers(a); i++)
		for (int j = 0; j < peer_at(a, i)->ncidrs; j++)
			failed += route_put(a, peer_at(a, i), &peer_at(a, i)->cidrs[j]) != 0;
	return failed;
}
