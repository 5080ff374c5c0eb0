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
#include "endpoint.h"
#include "log.h"
#include "policysrc.h"
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

static struct json_object *dispatch(struct agent *a, struct json_object *req)
{
	struct json_object *c;
	const char *cmd;
	char msg[160];

	if (!json_object_object_get_ex(req, "cmd", &c) || !json_object_is_type(c, json_type_string))
		return error_obj("request must be {\"cmd\": \"status\"|\"endpoints\"|\"metrics\"|"
				 "\"policies\"}");
	cmd = json_object_get_string(c);
	if (!strcmp(cmd, "status"))
		return api_status(a);
	if (!strcmp(cmd, "endpoints"))
		return api_endpoints(a);
	if (!strcmp(cmd, "metrics"))
		return api_metrics(a);
	if (!strcmp(cmd, "policies"))
		return policysrc_json(a);
	snprintf(msg, sizeof(msg), "unknown cmd \"%.64s\"", cmd);
	return error_obj(msg);
}

void api_serve(struct agent *a, int lfd)
{
	struct json_object *req, *resp;
	char err[128];
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return;
	set_timeouts(fd);
	req = read_request(fd, err, sizeof(err));
	resp = req ? dispatch(a, req) : error_obj(err);
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

	_Static_assert(sizeof(struct xdp_ep_stats) == 5 * sizeof(__u64), "five counters");
	if (fd < 0 || percpu_sum(fd, &ep_id, s, 5))
		memset(s, 0, sizeof(s));
	ADD(o, "tx_packets", json_object_new_uint64(s[0]));
	ADD(o, "tx_bytes", json_object_new_uint64(s[1]));
	ADD(o, "rx_packets", json_object_new_uint64(s[2]));
	ADD(o, "rx_bytes", json_object_new_uint64(s[3]));
	ADD(o, "drops", json_object_new_uint64(s[4]));
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

struct json_object *api_metrics(struct agent *a)
{
	static const char *const maps[] = { XDP_PIN_ENDPOINTS, XDP_PIN_NODES, XDP_PIN_CONFIG,
					    XDP_PIN_DROPS,     XDP_PIN_FWD,   XDP_PIN_EP_STATS,
					    XDP_PIN_CT };
	struct json_object *o = json_object_new_object(), *m = json_object_new_object();

	/* Reason 0 ("none") is never counted. */
	ADD(o, "drops", counters(loader_map_fd(&a->ld, XDP_PIN_DROPS), xdp_drop_names, 1,
				 XDP_DROP_MAX));
	ADD(o, "forward", counters(loader_map_fd(&a->ld, XDP_PIN_FWD), xdp_fwd_names, 0,
				   XDP_FWD_MAX));
	for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++)
		ADD(m, maps[i], map_obj(a, maps[i]));
	ADD(o, "maps", m);
	return o;
}
