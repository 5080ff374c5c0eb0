/* api: unix socket server and the JSON it answers with. */
#include "api.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "events.h"
#include "filters.h"
#include "kubesrc.h"
#include "sock.h"
#include "xdpath/filter.h"
#include "compile.h"
#include "endpoint.h"
#include "explain.h"
#include "log.h"
#include "policysrc.h"
#include "sim.h"
#include "xdpath/datapath.h"

#define REQ_MAX 4096
#define IO_TIMEOUT_MS 1000

/* Indexed by enum xdp_drop_reason: append together with the enum. */
const char *const xdp_drop_names[] = {
	[XDP_DROP_NONE] = "none",
	[XDP_DROP_TRUNCATED] = "truncated",
	[XDP_DROP_BAD_IP] = "bad_ip",
	[XDP_DROP_SPOOF_MAC] = "spoofed_mac",
	[XDP_DROP_SPOOF_IP] = "spoofed_ip",
	[XDP_DROP_NO_ENDPOINT] = "no_endpoint",
	[XDP_DROP_FIB] = "no_route",
	[XDP_DROP_TUNNEL] = "tunnel",
	[XDP_DROP_REDIRECT] = "redirect_failed",
	[XDP_DROP_POLICY] = "policy_denied",
	[XDP_DROP_NOT_READY] = "not_ready",
	[XDP_DROP_UNSUPPORTED] = "unsupported",
	[XDP_DROP_FILTER] = "filter",
	[XDP_DROP_NO_PROG] = "no_program",
};
_Static_assert(sizeof(xdp_drop_names) / sizeof(xdp_drop_names[0]) == XDP_DROP_MAX,
	       "a name for every drop reason");

const char *const xdp_fwd_names[] = {
	[XDP_FWD_PEER] = "redirect_peer",
	[XDP_FWD_NEIGH] = "redirect_neigh",
	[XDP_FWD_TUNNEL] = "tunnel",
	[XDP_FWD_STACK] = "stack",
};
_Static_assert(sizeof(xdp_fwd_names) / sizeof(xdp_fwd_names[0]) == XDP_FWD_MAX,
	       "a name for every forwarding verdict");

/* ---- socket --------------------------------------------------------------- */

int api_listen(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, err;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	unlink(path); /* a previous agent's */
	/* chmod after bind: the file exists only then (a umask would race). */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || chmod(path, 0600) || listen(fd, 16)) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

static void set_timeouts(int fd)
{
	struct timeval tv = { .tv_sec = IO_TIMEOUT_MS / 1000, .tv_usec = 0 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* Read until one whole JSON value has arrived (or EOF, or the limit). */
static struct json_object *read_request(int fd, char *err, size_t errlen)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o = NULL;
	char buf[REQ_MAX];
	size_t total = 0;
	ssize_t n;

	snprintf(err, errlen, "incomplete request");
	while (tok && !o && total < REQ_MAX) {
		n = recv(fd, buf, sizeof(buf) - total, 0);
		if (n <= 0)
			break;
		total += n;
		o = json_tokener_parse_ex(tok, buf, (int)n);
		if (!o && json_tokener_get_error(tok) != json_tokener_continue) {
			snprintf(err, errlen, "bad JSON: %s",
				 json_tokener_error_desc(json_tokener_get_error(tok)));
			break;
		}
	}
	json_tokener_free(tok);
	return o;
}

static void send_all(int fd, const char *s)
{
	size_t len = strlen(s), off = 0;

	while (off < len) {
		ssize_t n = send(fd, s + off, len - off, MSG_NOSIGNAL);

		if (n <= 0)
			return;
		off += n;
	}
}

static struct json_object *error_obj(const char *msg)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "error", json_object_new_string(msg));
	return o;
}

static struct json_object *api_policy_get(struct agent *a, struct json_object *req);
static struct json_object *api_policy_explain(struct agent *a, struct json_object *req);

/* {"cmd":"drops","since":N}: the policy drops after seq N (events.c). */
static struct json_object *api_drops(struct agent *a, struct json_object *req)
{
	struct json_object *v;
	int64_t since = 0;

	if (json_object_object_get_ex(req, "since", &v)) {
		if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0)
			return error_obj("\"since\" must be a sequence number (>= 0)");
		since = json_object_get_int64(v);
	}
	return events_json(a, (uint64_t)since);
}

static struct json_object *dispatch(struct agent *a, struct json_object *req)
{
	struct json_object *c, *resp;
	const char *cmd;
	char msg[160];

	if (!json_object_object_get_ex(req, "cmd", &c) || !json_object_is_type(c, json_type_string))
		return error_obj("request must be {\"cmd\": \"status\"|\"endpoints\"|\"metrics\"|"
				 "\"policies\"|\"policy-get\"|\"policy-explain\"|\"drops\"|"
				 "\"filter-*\"}");
	cmd = json_object_get_string(c);
	if (!strcmp(cmd, "status"))
		return api_status(a);
	if (!strcmp(cmd, "endpoints"))
		return api_endpoints(a);
	if (!strcmp(cmd, "metrics"))
		return api_metrics(a);
	if (!strcmp(cmd, "policies"))
		return policysrc_json(a);
	if (!strcmp(cmd, "policy-get"))
		return api_policy_get(a, req);
	if (!strcmp(cmd, "policy-explain"))
		return api_policy_explain(a, req);
	if (!strcmp(cmd, "drops"))
		return api_drops(a, req);
	resp = filters_api(a, cmd, req);
	if (resp)
		return resp;
	snprintf(msg, sizeof(msg), "unknown cmd \"%.64s\"", cmd);
	return error_obj(msg);
}

void api_serve(struct agent *a, int lfd, void (*settle)(struct agent *a))
{
	struct json_object *req, *resp;
	char err[128];
	int fd = sock_accept(lfd);

	if (fd < 0)
		return;
	set_timeouts(fd);
	req = read_request(fd, err, sizeof(err));
	resp = req ? dispatch(a, req) : error_obj(err);
	if (settle)
		settle(a);
	send_all(fd, json_object_to_json_string_ext(resp, JSON_C_TO_STRING_PLAIN |
								  JSON_C_TO_STRING_NOSLASHESCAPE));
	send_all(fd, "\n");
	json_object_put(req);
	json_object_put(resp);
	close(fd);
}

/* ---- map reading ---------------------------------------------------------- */

static int ncpus(void)
{
	static int n;

	if (!n)
		n = libbpf_num_possible_cpus();
	return n > 0 ? n : 1;
}

/* Per-CPU counter structs summed over CPUs (nfields __u64 each). */
static int percpu_sum(int fd, const void *key, __u64 *out, int nfields)
{
	int n = ncpus();
	__u64 *vals = calloc((size_t)n * nfields, sizeof(__u64));

	memset(out, 0, nfields * sizeof(__u64));
	if (!vals)
		return -ENOMEM;
	if (bpf_map_lookup_elem(fd, key, vals)) {
		free(vals);
		return -errno;
	}
	for (int c = 0; c < n; c++)
		for (int f = 0; f < nfields; f++)
			out[f] += vals[c * nfields + f];
	free(vals);
	return 0;
}

static int count_keys(int fd, __u32 key_size)
{
	char key[64], next[64];
	void *prev = NULL;
	int n = 0;

	if (key_size > sizeof(key))
		return -1;
	while (!bpf_map_get_next_key(fd, prev, next)) {
		memcpy(key, next, key_size);
		prev = key;
		n++;
	}
	return n;
}

/* ---- answers -------------------------------------------------------------- */

#define ADD(o, k, v) json_object_object_add(o, k, v)

long agent_uptime_ms(const struct agent *a)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - a->started.tv_sec) * 1000 +
	       (now.tv_nsec - a->started.tv_nsec) / 1000000;
}

static int u32_cmp(const void *a, const void *b)
{
	__u32 x = *(const __u32 *)a, y = *(const __u32 *)b;

	return x < y ? -1 : x > y;
}

/* Endpoints the datapath serves: distinct host veths in xdp_endpoints. */
static int count_endpoints(int fd)
{
	struct xdp_ep_key k, next;
	struct xdp_ep_info v;
	__u32 *ids = NULL;
	int n = 0, cap = 0, distinct = 0;
	void *prev = NULL;

	while (!bpf_map_get_next_key(fd, prev, &next)) {
		k = next;
		prev = &k;
		if (bpf_map_lookup_elem(fd, &k, &v))
			continue;
		if (n == cap) {
			__u32 *p = realloc(ids, (cap = cap * 2 + 256) * sizeof(*ids));

			if (!p)
				break;
			ids = p;
		}
		ids[n++] = v.host_ifindex;
	}
	if (n)
		qsort(ids, n, sizeof(*ids), u32_cmp);
	for (int i = 0; i < n; i++)
		distinct += !i || ids[i] != ids[i - 1];
	free(ids);
	return distinct;
}

struct json_object *api_status(struct agent *a)
{
	struct json_object *o = json_object_new_object();

	ADD(o, "ready", json_object_new_boolean(a->ready));
	ADD(o, "nodeName", json_object_new_string(a->cfg.node_name));
	ADD(o, "mode", json_object_new_string(config_mode_name(a->cfg.mode)));
	ADD(o, "pinRoot", json_object_new_string(a->cfg.pin_root));
	ADD(o, "uplink", json_object_new_string(a->cfg.uplink));
	ADD(o, "endpoints", json_object_new_int(count_endpoints(a->dp.endpoints_fd)));
	ADD(o, "uptimeSec", json_object_new_int64(agent_uptime_ms(a) / 1000));
	ADD(o, "startupMs", json_object_new_int64(a->startup_ms));
	ADD(o, "version", json_object_new_string(XDPATH_VERSION));
	ADD(o, "connectionsShed", json_object_new_uint64(sock_shed_count()));
	if (a->kube) {
		ADD(o, "synced", json_object_new_boolean(a->synced));
		ADD(o, "kubernetes", kubesrc_status(a));
	}
	return o;
}

/* Every address of ep has its entry, pointing at its veth. */
static bool in_map(const struct agent *a, const struct endpoint *ep)
{
	struct xdp_ep_key k;
	struct xdp_ep_info want, got;

	for (int i = 0; i < ep->nips; i++) {
		endpoint_to_map(ep, i, &k, &want);
		if (bpf_map_lookup_elem(a->dp.endpoints_fd, &k, &got) ||
		    got.host_ifindex != want.host_ifindex)
			return false;
	}
	return ep->nips > 0;
}

static void add_stats(struct agent *a, struct json_object *o, __u32 ep_id)
{
	__u64 s[sizeof(struct xdp_ep_stats) / sizeof(__u64)];
	int fd = loader_map_fd(&a->ld, XDP_PIN_EP_STATS);

	_Static_assert(sizeof(struct xdp_ep_stats) == 7 * sizeof(__u64), "seven counters");
	if (fd < 0 || percpu_sum(fd, &ep_id, s, 7))
		memset(s, 0, sizeof(s));
	ADD(o, "tx_packets", json_object_new_uint64(s[0]));
	ADD(o, "tx_bytes", json_object_new_uint64(s[1]));
	ADD(o, "rx_packets", json_object_new_uint64(s[2]));
	ADD(o, "rx_bytes", json_object_new_uint64(s[3]));
	ADD(o, "drops", json_object_new_uint64(s[4]));
	ADD(o, "policy_denied_ingress", json_object_new_uint64(s[5]));
	ADD(o, "policy_denied_egress", json_object_new_uint64(s[6]));
}

struct ep_list {
	struct agent *a;
	struct json_object *arr;
};

static int endpoint_json(const struct endpoint *ep, void *ctx)
{
	struct ep_list *l = ctx;
	struct json_object *o = json_object_new_object(), *ips;
	struct agent *a = l->a;
	struct xdp_ep_key k;
	struct xdp_ep_info v;
	char cidr[CIDR_STRLEN];
	int id = dp_tc_prog_id(ep->host_ifindex, true);

	ADD(o, "podNamespace", json_object_new_string(ep->pod_namespace));
	ADD(o, "podName", json_object_new_string(ep->pod_name));
	ADD(o, "containerId", json_object_new_string(ep->container_id));
	ADD(o, "ifname", json_object_new_string(ep->ifname));
	ADD(o, "hostIfname", json_object_new_string(ep->host_ifname));
	ADD(o, "hostIfindex", json_object_new_int(ep->host_ifindex));
	ips = json_object_new_array();
	for (int i = 0; i < ep->nips; i++)
		json_object_array_add(ips, json_object_new_string(ipnet_fmt(&ep->ips[i], cidr)));
	ADD(o, "ips", ips);
	ADD(o, "tcAttached", json_object_new_boolean(id > 0 && (__u32)id == a->from_pod_id));
	ADD(o, "inMap", json_object_new_boolean(in_map(a, ep)));
	endpoint_to_map(ep, 0, &k, &v);
	add_stats(a, o, v.ep_id);
	json_object_array_add(l->arr, o);
	return 0;
}

struct json_object *api_endpoints(struct agent *a)
{
	struct ep_list l = { a, json_object_new_array() };

	endpoint_foreach(a->cfg.endpoint_dir, endpoint_json, &l);
	return l.arr;
}

static struct json_object *counter_obj(const __u64 *c)
{
	struct json_object *o = json_object_new_object();

	ADD(o, "packets", json_object_new_uint64(c[0]));
	ADD(o, "bytes", json_object_new_uint64(c[1]));
	return o;
}

/* name -> {packets, bytes} for every index of a per-CPU counter array. */
static struct json_object *counters(int fd, const char *const *names, __u32 first, __u32 n)
{
	struct json_object *o = json_object_new_object();
	__u64 c[2];

	for (__u32 i = first; i < n; i++) {
		if (fd < 0 || percpu_sum(fd, &i, c, 2))
			memset(c, 0, sizeof(c));
		ADD(o, names[i], counter_obj(c));
	}
	return o;
}

static struct json_object *map_obj(const struct agent *a, const char *name)
{
	struct json_object *o = json_object_new_object();
	int fd = loader_map_fd(&a->ld, name);
	struct bpf_map_info i;
	__u32 len = sizeof(i);
	int entries;

	memset(&i, 0, sizeof(i));
	if (fd >= 0)
		bpf_obj_get_info_by_fd(fd, &i, &len);
	/* Arrays always hold max_entries elements. */
	entries = i.type == BPF_MAP_TYPE_ARRAY || i.type == BPF_MAP_TYPE_PERCPU_ARRAY
			  ? (int)i.max_entries
			  : count_keys(fd, i.key_size);
	ADD(o, "entries", json_object_new_int(entries));
	ADD(o, "capacity", json_object_new_int((int)i.max_entries));
	return o;
}

static int endpoint_counter_json(const struct endpoint *ep, void *ctx)
{
	static const char *const keep[] = { "tx_packets", "rx_packets", "drops",
					    "policy_denied_ingress", "policy_denied_egress" };
	struct ep_list *l = ctx;
	struct json_object *o = json_object_new_object(), *all = json_object_new_object(), *v;
	struct xdp_ep_key k;
	struct xdp_ep_info info;

	ADD(o, "podNamespace", json_object_new_string(ep->pod_namespace));
	ADD(o, "podName", json_object_new_string(ep->pod_name));
	ADD(o, "ifname", json_object_new_string(ep->ifname));
	ADD(o, "epId", json_object_new_int(ep->host_ifindex));
	endpoint_to_map(ep, 0, &k, &info);
	add_stats(l->a, all, info.ep_id);
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		if (json_object_object_get_ex(all, keep[i], &v))
			ADD(o, keep[i], json_object_get(v));
	json_object_put(all);
	json_object_array_add(l->arr, o);
	return 0;
}

static struct json_object *ct_obj(struct agent *a)
{
	struct json_object *o = json_object_new_object();

	ADD(o, "expiredRemoved", json_object_new_uint64(a->ct_expired));
	return o;
}

/* Per-endpoint counters, policy drops by direction among them. */
static struct json_object *endpoint_counters(struct agent *a)
{
	struct ep_list l = { a, json_object_new_array() };

	endpoint_foreach(a->cfg.endpoint_dir, endpoint_counter_json, &l);
	return l.arr;
}

struct json_object *api_metrics(struct agent *a)
{
	static const char *const maps[] = { XDP_PIN_ENDPOINTS, XDP_PIN_NODES, XDP_PIN_CONFIG,
					    XDP_PIN_DROPS,     XDP_PIN_FWD,   XDP_PIN_EP_STATS,
					    XDP_PIN_CT,        XDP_PIN_IPCACHE, XDP_PIN_IPCACHE_HOST, XDP_PIN_POLICY,
					    XDP_PIN_POL_CIDR,  XDP_PIN_EP_POL, XDP_PIN_FILTER_INDEX,
					    XDP_PIN_FILTER_RATE };
	struct json_object *o = json_object_new_object(), *m = json_object_new_object();

	/* Reason 0 ("none") is never counted. */
	ADD(o, "drops", counters(loader_map_fd(&a->ld, XDP_PIN_DROPS), xdp_drop_names, 1,
				 XDP_DROP_MAX));
	ADD(o, "forward", counters(loader_map_fd(&a->ld, XDP_PIN_FWD), xdp_fwd_names, 0,
				   XDP_FWD_MAX));
	for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++)
		ADD(m, maps[i], map_obj(a, maps[i]));
	ADD(o, "maps", m);
	ADD(o, "endpoints", endpoint_counters(a));
	ADD(o, "conntrack", ct_obj(a));
	ADD(o, "filters", filters_metrics(a));
	return o;
}

/* ---- policy get / policy explain ------------------------------------------ */

#define SEL_TEXT 256

static const char *s0(const char *s)
{
	return s ? s : "";
}

static struct json_object *str_or_null(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

static struct json_object *nsname(const char *ns, const char *name)
{
	char buf[512];

	snprintf(buf, sizeof(buf), "%s/%s", s0(ns), s0(name));
	return json_object_new_string(buf);
}

static struct json_object *labels_obj(const struct labels *l)
{
	struct json_object *o = json_object_new_object();

	for (size_t i = 0; i < l->n; i++)
		ADD(o, s0(l->v[i].key), json_object_new_string(s0(l->v[i].value)));
	return o;
}

static struct json_object *sel_or_null(const struct selector *sel)
{
	char buf[SEL_TEXT];

	if (!sel->present)
		return NULL;
	return json_object_new_string(policy_selector_text(sel, buf, sizeof(buf)));
}

static struct json_object *ip_str(const struct ipaddr *a)
{
	char buf[IPADDR_STRLEN];

	return json_object_new_string(ipaddr_fmt(a, buf));
}

/* The identity this node's ipcache gives pod (through one of its
 * addresses), or NULL (no address, hostNetwork, not compiled). */
static struct json_object *identity_of(const struct compiled *c, const struct pod *pod)
{
	uint32_t id;

	if (!c || pod->host_network || !pod->nips)
		return NULL;
	id = policy_sim_identity(c, &pod->ips[0]);
	return id >= XDP_ID_FIRST_POD ? json_object_new_int64(id) : NULL;
}

static const struct ep_pol_entry *ep_state(const struct compiled *c, uint32_t ep_id)
{
	for (size_t i = 0; c && ep_id && i < c->neps; i++) {
		if (c->eps[i].ep_id == ep_id)
			return &c->eps[i];
	}
	return NULL;
}

/* The pod and, on this node, its endpoint's state in the compiled result. */
static struct json_object *pod_obj(struct agent *a, const struct pod *pod)
{
	const struct compiled *c = policysrc_compiled(a);
	uint32_t ep_id = policysrc_ep_id(a, s0(pod->ns), s0(pod->name));
	const struct ep_pol_entry *ep = ep_state(c, ep_id);
	struct json_object *o = json_object_new_object(), *ips = json_object_new_array();

	ADD(o, "namespace", json_object_new_string(s0(pod->ns)));
	ADD(o, "name", json_object_new_string(s0(pod->name)));
	ADD(o, "node", str_or_null(pod->node));
	for (size_t i = 0; i < pod->nips; i++)
		json_object_array_add(ips, ip_str(&pod->ips[i]));
	ADD(o, "ips", ips);
	ADD(o, "labels", labels_obj(&pod->labels));
	ADD(o, "hostNetwork", json_object_new_boolean(pod->host_network));
	ADD(o, "local", json_object_new_boolean(ep_id != 0));
	ADD(o, "identity", identity_of(c, pod));
	if (ep) {
		struct json_object *d = json_object_new_object();

		ADD(d, "epId", json_object_new_int64(ep_id));
		ADD(d, "ready", json_object_new_boolean(ep->val.flags & XDP_EP_POL_READY));
		ADD(d, "ingressIsolated",
		    json_object_new_boolean(ep->val.flags & XDP_EP_POL_INGRESS_ISOLATED));
		ADD(d, "egressIsolated",
		    json_object_new_boolean(ep->val.flags & XDP_EP_POL_EGRESS_ISOLATED));
		ADD(o, "datapath", d);
	}
	return o;
}

static struct json_object *types_arr(const struct netpol *p)
{
	struct json_object *t = json_object_new_array();

	if (p->ingress_isolates)
		json_object_array_add(t, json_object_new_string("Ingress"));
	if (p->egress_isolates)
		json_object_array_add(t, json_object_new_string("Egress"));
	return t;
}

static struct json_object *peer_obj(const struct compiled *c, const struct view_entry *e)
{
	struct json_object *o = json_object_new_object(), *arr;
	char net[CIDR_STRLEN];

	if (!e->peer) {
		ADD(o, "kind", json_object_new_string("any"));
		return o;
	}
	if (e->peer->has_ip_block) {
		const struct ip_block *b = &e->peer->ip_block;

		ADD(o, "kind", json_object_new_string("ipBlock"));
		ADD(o, "cidr", json_object_new_string(ipnet_fmt(&b->cidr, net)));
		arr = json_object_new_array();
		for (size_t i = 0; i < b->nexcept; i++)
			json_object_array_add(arr,
					      json_object_new_string(ipnet_fmt(&b->except[i], net)));
		ADD(o, "except", arr);
		return o;
	}
	ADD(o, "kind", json_object_new_string("pods"));
	ADD(o, "podSelector", sel_or_null(&e->peer->pod_sel));
	ADD(o, "namespaceSelector", sel_or_null(&e->peer->ns_sel));
	if (!e->peer->ns_sel.present)
		ADD(o, "namespace", json_object_new_string(s0(e->pol->ns)));
	arr = json_object_new_array();
	for (size_t i = 0; i < e->nids; i++) {
		const struct view_ident *id = &e->ids[i];
		struct json_object *io = json_object_new_object(), *pods = json_object_new_array();
		struct json_object *num = NULL;

		for (size_t k = 0; k < id->npods; k++) {
			json_object_array_add(pods, json_object_new_string(s0(id->pods[k]->name)));
			if (!num)
				num = identity_of(c, id->pods[k]);
		}
		ADD(io, "identity", num);
		ADD(io, "namespace", json_object_new_string(s0(id->pod->ns)));
		ADD(io, "labels", labels_obj(&id->pod->labels));
		ADD(io, "pods", pods);
		json_object_array_add(arr, io);
	}
	ADD(o, "identities", arr);
	return o;
}

static struct json_object *entry_obj(const struct compiled *c, const struct view_entry *e)
{
	const struct policy_port *pp = e->port;
	struct json_object *o = json_object_new_object(), *res;
	char pbuf[8];

	ADD(o, "policy", nsname(e->pol->ns, e->pol->name));
	ADD(o, "rule", json_object_new_int(e->rule));
	ADD(o, "peer", peer_obj(c, e));
	ADD(o, "protocol", json_object_new_string(
		pp ? policy_proto_name(pp->proto ? pp->proto : L4_TCP, pbuf) : "any"));
	ADD(o, "port", pp && pp->port ? json_object_new_int(pp->port) : NULL);
	if (pp && pp->end_port > pp->port)
		ADD(o, "endPort", json_object_new_int(pp->end_port));
	if (!pp || !pp->port_name)
		return o;
	ADD(o, "portName", json_object_new_string(pp->port_name));
	res = json_object_new_array();
	for (size_t i = 0; i < e->nresolved; i++)
		json_object_array_add(res, json_object_new_int(e->resolved[i]));
	ADD(o, "resolved", res);
	return o;
}

static struct json_object *view_dir_obj(const struct compiled *c, const struct view_dir *d)
{
	struct json_object *o = json_object_new_object(), *pols = json_object_new_array();
	struct json_object *allow = json_object_new_array();

	for (size_t i = 0; i < d->npols; i++)
		json_object_array_add(pols, nsname(d->pols[i]->ns, d->pols[i]->name));
	for (size_t i = 0; i < d->n; i++)
		json_object_array_add(allow, entry_obj(c, &d->v[i]));
	ADD(o, "isolated", json_object_new_boolean(d->isolated));
	ADD(o, "policies", pols);
	ADD(o, "allow", allow);
	return o;
}

static const struct policy_set *need_set(struct agent *a, struct json_object **err)
{
	const struct policy_set *s = policysrc_set(a);

	*err = s ? NULL : error_obj("no policies loaded (policyDir is not set, or has not "
				    "loaded yet)");
	return s;
}

static const char *req_str(struct json_object *req, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(req, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* {"cmd":"policy-get","pod":"NS/POD"} */
static struct json_object *api_policy_get(struct agent *a, struct json_object *req)
{
	const char *spec = req_str(req, "pod"), *slash;
	const struct policy_set *s;
	const struct pod *pod = NULL;
	struct json_object *o, *err, *pols;
	struct policy_view v;
	char ns[256], msg[400];

	if (!spec || !(slash = strchr(spec, '/')) || slash == spec || !slash[1] ||
	    (size_t)(slash - spec) >= sizeof(ns))
		return error_obj("policy-get needs \"pod\": \"NAMESPACE/NAME\"");
	s = need_set(a, &err);
	if (!s)
		return err;
	snprintf(ns, sizeof(ns), "%.*s", (int)(slash - spec), spec);
	pod = policy_pod_find(s, ns, slash + 1);
	if (!pod) {
		snprintf(msg, sizeof(msg), "no pod %.300s in the policy source (pods are known from "
			 "their Pod manifests)", spec);
		return error_obj(msg);
	}
	if (policy_view(s, pod, &v))
		return error_obj("out of memory");
	o = json_object_new_object();
	ADD(o, "pod", pod_obj(a, pod));
	pols = json_object_new_array();
	for (size_t i = 0; i < v.npols; i++) {
		struct json_object *p = json_object_new_object();

		ADD(p, "namespace", json_object_new_string(s0(v.pols[i]->ns)));
		ADD(p, "name", json_object_new_string(s0(v.pols[i]->name)));
		ADD(p, "types", types_arr(v.pols[i]));
		json_object_array_add(pols, p);
	}
	ADD(o, "policies", pols);
	ADD(o, "ingress", view_dir_obj(policysrc_compiled(a), &v.dir[XDP_DIR_INGRESS]));
	ADD(o, "egress", view_dir_obj(policysrc_compiled(a), &v.dir[XDP_DIR_EGRESS]));
	policy_view_free(&v);
	return o;
}

static bool is_local(void *arg, const struct pod *pod)
{
	return policysrc_ep_id(arg, s0(pod->ns), s0(pod->name)) != 0;
}

static struct json_object *end_obj(struct agent *a, const struct explain *e, bool from)
{
	const struct pod *pod = from ? e->from : e->to;
	const struct ipaddr *ip = from ? &e->from_ip : &e->to_ip;
	struct json_object *o = json_object_new_object();

	ADD(o, "kind", json_object_new_string(pod ? "pod" : "address"));
	ADD(o, "ip", ip_str(ip));
	if (!pod) {
		ADD(o, "identity", json_object_new_string(from && e->from_host ? "host" : "world"));
		return o;
	}
	ADD(o, "namespace", json_object_new_string(s0(pod->ns)));
	ADD(o, "name", json_object_new_string(s0(pod->name)));
	ADD(o, "node", str_or_null(pod->node));
	ADD(o, "hostNetwork", json_object_new_boolean(pod->host_network));
	ADD(o, "local", json_object_new_boolean(is_local(a, pod)));
	ADD(o, "identity", identity_of(policysrc_compiled(a), pod));
	return o;
}

static struct json_object *rule_ref_obj(const char *ns, const char *name, int rule)
{
	struct json_object *o = json_object_new_object();

	ADD(o, "policy", nsname(ns, name));
	ADD(o, "rule", json_object_new_int(rule));
	return o;
}

/* What the datapath decides on this node for a local endpoint: policy_sim
 * over the compiled result. Ingress from the node is not in the compiled
 * ipcache (policymap.c adds it): explain's answer stands for it. Returns
 * NULL when this side is not a local endpoint; *allowed is sim's verdict. */
static struct json_object *datapath_obj(struct agent *a, const struct explain *e, int dir,
					const struct explain_side *sd, bool *allowed)
{
	const struct pod *pod = dir == XDP_DIR_INGRESS ? e->to : e->from;
	const struct ipaddr *remote = dir == XDP_DIR_INGRESS ? &e->from_ip : &e->to_ip;
	const struct compiled *c = policysrc_compiled(a);
	struct json_object *o;
	uint32_t ep_id, cookie = POLICY_SIM_NO_RULE;
	int sim;

	*allowed = sd->allowed;
	if (!pod || !c || sd->why == EXPLAIN_NOT_CHECKED || sd->why == EXPLAIN_HOST)
		return NULL;
	ep_id = policysrc_ep_id(a, s0(pod->ns), s0(pod->name));
	if (!ep_id)
		return NULL;
	sim = policy_sim(c, ep_id, dir, remote, e->proto, e->port, &cookie);
	*allowed = sim == 1;
	o = json_object_new_object();
	ADD(o, "epId", json_object_new_int64(ep_id));
	ADD(o, "allowed", json_object_new_boolean(sim == 1));
	if (sim == 1 && cookie < c->nrules && c->rules[cookie].cookie == cookie)
		ADD(o, "by", rule_ref_obj(c->rules[cookie].ns, c->rules[cookie].policy,
					  c->rules[cookie].rule));
	else
		ADD(o, "by", NULL);
	ADD(o, "agrees", json_object_new_boolean(*allowed == sd->allowed));
	return o;
}

/* The compiler's problems with pod (fail closed, ...): why the datapath may
 * disagree with the model. */
static struct json_object *pod_problems(struct agent *a, const struct pod *pod)
{
	const struct compiled *c = policysrc_compiled(a);
	struct json_object *arr = json_object_new_array();

	for (size_t i = 0; c && pod && i < c->nerrors; i++) {
		const struct policy_error *pe = &c->errors[i];

		if (pe->kind && !strcmp(pe->kind, "Pod") && !strcmp(s0(pe->ns), s0(pod->ns)) &&
		    !strcmp(s0(pe->name), s0(pod->name)))
			json_object_array_add(arr, json_object_new_string(s0(pe->reason)));
	}
	return arr;
}

static struct json_object *side_obj(struct agent *a, const struct explain *e, int dir,
				    const struct explain_side *sd, bool *allowed)
{
	struct json_object *o = json_object_new_object(), *iso = json_object_new_array();
	struct json_object *rules = json_object_new_array(), *dp;

	ADD(o, "checked", json_object_new_boolean(sd->why != EXPLAIN_NOT_CHECKED));
	ADD(o, "isolated", json_object_new_boolean(sd->nisolating > 0));
	ADD(o, "why", json_object_new_string(explain_why_name(sd->why)));
	ADD(o, "by", sd->why == EXPLAIN_RULE ? rule_ref_obj(sd->pol->ns, sd->pol->name, sd->rule)
					     : NULL);
	for (size_t i = 0; i < sd->nisolating; i++)
		json_object_array_add(iso, nsname(sd->isolating[i]->ns, sd->isolating[i]->name));
	ADD(o, "isolatedBy", iso);
	for (size_t i = 0; i < sd->nrules; i++) {
		struct json_object *r = rule_ref_obj(sd->rules[i].pol->ns, sd->rules[i].pol->name,
						     sd->rules[i].rule);

		ADD(r, "peerMatches", json_object_new_boolean(sd->rules[i].peer_ok));
		ADD(r, "portMatches", json_object_new_boolean(sd->rules[i].port_ok));
		json_object_array_add(rules, r);
	}
	ADD(o, "rules", rules);
	ADD(o, "reason", json_object_new_string(s0(sd->text)));
	dp = datapath_obj(a, e, dir, sd, allowed);
	if (dp && *allowed != sd->allowed)
		ADD(dp, "problems", pod_problems(a, dir == XDP_DIR_INGRESS ? e->to : e->from));
	ADD(o, "allowed", json_object_new_boolean(*allowed));
	if (dp)
		ADD(o, "datapath", dp);
	return o;
}

/* "port": "80/TCP" | 80 (optional). */
static const char *req_port(struct json_object *req, char *buf, size_t len, bool *bad)
{
	struct json_object *v;

	*bad = false;
	if (!json_object_object_get_ex(req, "port", &v) || !v)
		return NULL;
	if (json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	if (json_object_is_type(v, json_type_int)) {
		snprintf(buf, len, "%lld", (long long)json_object_get_int64(v));
		return buf;
	}
	*bad = true;
	return NULL;
}

/* {"cmd":"policy-explain","from":"NS/POD|IP","to":"NS/POD|IP","port":"80/TCP"} */
static struct json_object *api_policy_explain(struct agent *a, struct json_object *req)
{
	struct ipaddr host[2];
	struct explain_req er = { .local = is_local, .arg = a, .host = host };
	struct json_object *o, *err;
	const struct policy_set *s;
	bool bad, eg_ok, in_ok;
	struct explain e;
	char pbuf[32], msg[300], proto[8];

	er.from = req_str(req, "from");
	er.to = req_str(req, "to");
	er.port = req_port(req, pbuf, sizeof(pbuf), &bad);
	if (bad)
		return error_obj("\"port\" must be a string (\"80/TCP\") or a number");
	s = need_set(a, &err);
	if (!s)
		return err;
	if (a->cfg.node_ip4.family)
		host[er.nhost++] = a->cfg.node_ip4;
	if (a->cfg.node_ip6.family)
		host[er.nhost++] = a->cfg.node_ip6;
	if (policy_explain(s, &er, &e, msg, sizeof(msg)))
		return error_obj(msg);
	o = json_object_new_object();
	ADD(o, "from", end_obj(a, &e, true));
	ADD(o, "to", end_obj(a, &e, false));
	ADD(o, "protocol", json_object_new_string(policy_proto_name(e.proto, proto)));
	ADD(o, "port", json_object_new_int(e.port));
	if (e.port_name[0])
		ADD(o, "portName", json_object_new_string(e.port_name));
	ADD(o, "egress", side_obj(a, &e, XDP_DIR_EGRESS, &e.egress, &eg_ok));
	ADD(o, "ingress", side_obj(a, &e, XDP_DIR_INGRESS, &e.ingress, &in_ok));
	/* this node's datapath has the last word on its own endpoints */
	ADD(o, "allowed", json_object_new_boolean(eg_ok && in_ok));
	ADD(o, "reason", json_object_new_string(s0(e.text)));
	if ((eg_ok && in_ok) != e.allowed)
		ADD(o, "note", json_object_new_string("this node's datapath decides otherwise than "
						      "the policies say (see datapath.problems)"));
	explain_free(&e);
	return o;
}
