/* config: agent config file parsing (json-c). */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xdpath/datapath.h"

/* Where an error goes: "<key>: <why>". */
struct perr {
	char *buf;
	size_t len;
};

static int fail(struct perr *e, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(struct perr *e, const char *key, const char *fmt, ...)
{
	int n = snprintf(e->buf, e->len, "%s: ", key);
	va_list ap;

	if (n < 0 || (size_t)n >= e->len)
		return -1;
	va_start(ap, fmt);
	vsnprintf(e->buf + n, e->len - n, fmt, ap);
	va_end(ap);
	return -1;
}

const char *config_mode_name(int mode)
{
	return mode == XDP_MODE_VXLAN ? "vxlan" : "native";
}

/* ---- typed getters: absent is fine (the default stays), wrong type is not */

/* null counts as absent (generators write "nodeIP6": null for none). */
static struct json_object *get(struct json_object *o, const char *k)
{
	struct json_object *v;

	return json_object_object_get_ex(o, k, &v) && !json_object_is_type(v, json_type_null) ? v
											       : NULL;
}

static int get_str(struct json_object *o, const char *k, const char *key, char *dst, size_t len,
		   struct perr *e)
{
	struct json_object *v = get(o, k);
	const char *s;

	if (!v)
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return fail(e, key, "must be a string");
	s = json_object_get_string(v);
	if (!*s)
		return fail(e, key, "must not be empty");
	if (strlen(s) >= len)
		return fail(e, key, "longer than %zu bytes", len - 1);
	strcpy(dst, s);
	return 0;
}

/* An absolute path; an absent key leaves dst as it was. key names it in
 * errors (e.g. "cniConf.path" for a nested one). */
static int get_path_as(struct json_object *o, const char *k, const char *key, char *dst,
		       size_t len, struct perr *e)
{
	if (!get(o, k))
		return 0;
	if (get_str(o, k, key, dst, len, e))
		return -1;
	if (dst[0] != '/')
		return fail(e, key, "must be an absolute path: \"%s\"", dst);
	return 0;
}

static int get_path(struct json_object *o, const char *k, char *dst, size_t len, struct perr *e)
{
	return get_path_as(o, k, k, dst, len, e);
}

/* key names the value in errors (a nested one with its section). */
static int get_uint_as(struct json_object *o, const char *k, const char *key, uint32_t min,
		       uint32_t max, uint32_t *out, struct perr *e)
{
	struct json_object *v = get(o, k);
	int64_t n;

	if (!v)
		return 0;
	if (!json_object_is_type(v, json_type_int))
		return fail(e, key, "must be an integer");
	n = json_object_get_int64(v);
	if (n < min || n > max)
		return fail(e, key, "%lld is out of range %u..%u", (long long)n, min, max);
	*out = (uint32_t)n;
	return 0;
}

static int get_uint(struct json_object *o, const char *k, uint32_t min, uint32_t max,
		    uint32_t *out, struct perr *e)
{
	return get_uint_as(o, k, k, min, max, out, e);
}

static int get_bool_as(struct json_object *o, const char *k, const char *key, bool *out,
		       struct perr *e)
{
	struct json_object *v = get(o, k);

	if (!v)
		return 0;
	if (!json_object_is_type(v, json_type_boolean))
		return fail(e, key, "must be true or false");
	*out = json_object_get_boolean(v);
	return 0;
}

static int get_bool(struct json_object *o, const char *k, bool *out, struct perr *e)
{
	return get_bool_as(o, k, k, out, e);
}

/* An address of one family (AF_INET / AF_INET6). */
static int get_ip(struct json_object *o, const char *k, const char *key, int family,
		  struct ipaddr *out, struct perr *e)
{
	char s[IPADDR_STRLEN + 1];

	s[0] = '\0';
	if (get_str(o, k, key, s, sizeof(s), e))
		return -1;
	if (!s[0])
		return 0;
	if (ipaddr_parse(s, out) || out->family != family) {
		out->family = 0;
		return fail(e, key, "\"%s\" is not an IPv%d address", s, family == AF_INET ? 4 : 6);
	}
	return 0;
}

/* A network address with its prefix, host bits clear. */
static int parse_cidr(struct json_object *v, const char *key, struct ipnet *out, struct perr *e)
{
	const char *s;

	if (!json_object_is_type(v, json_type_string))
		return fail(e, key, "must be a CIDR string");
	s = json_object_get_string(v);
	if (ipnet_parse(s, out))
		return fail(e, key, "\"%s\" is not a CIDR", s);
	if (ipnet_has_host_bits(out))
		return fail(e, key, "\"%s\" has host bits set", s);
	return 0;
}

/* An array of CIDRs into out[max]; *n is the count. */
static int get_cidrs(struct json_object *o, const char *k, const char *key, struct ipnet *out,
		     int max, int *n, struct perr *e)
{
	struct json_object *v = get(o, k);
	char ikey[128];
	size_t len;

	*n = 0;
	if (!v)
		return 0;
	if (!json_object_is_type(v, json_type_array))
		return fail(e, key, "must be an array of CIDR strings");
	len = json_object_array_length(v);
	if (len > (size_t)max)
		return fail(e, key, "at most %d CIDRs", max);
	for (size_t i = 0; i < len; i++) {
		snprintf(ikey, sizeof(ikey), "%s[%zu]", key, i);
		if (parse_cidr(json_object_array_get_idx(v, i), ikey, &out[i], e))
			return -1;
		*n = (int)i + 1;
	}
	return 0;
}

/* Every key of o must be one of known (NULL-terminated). */
static int check_keys(struct json_object *o, const char *const *known, const char *prefix,
		      struct perr *e)
{
	json_object_object_foreach(o, k, v) {
		const char *const *p = known;
		char key[160];

		(void)v;
		while (*p && strcmp(*p, k))
			p++;
		if (*p)
			continue;
		snprintf(key, sizeof(key), "%s%s", prefix, k);
		return fail(e, key, "unknown key");
	}
	return 0;
}

/* ---- sections ----------------------------------------------------------- */

static const char *const peer_keys[] = { "name", "nodeIP", "nodeIP6", "podCIDRs", NULL };

/* Each pod CIDR needs a next hop / tunnel endpoint of a family the datapath
 * can use: the tunnel is IPv4 only (bpf_skb_set_tunnel_key remote_ipv4). */
static int check_peer_nexthops(const struct cfg_peer *p, const char *key, int mode,
			       struct perr *e)
{
	char cidr[CIDR_STRLEN], k[160];

	for (int i = 0; i < p->ncidrs; i++) {
		bool v4 = p->cidrs[i].ip.family == AF_INET;

		ipnet_fmt(&p->cidrs[i], cidr);
		if (mode == XDP_MODE_VXLAN && !p->ip4.family) {
			snprintf(k, sizeof(k), "%s.nodeIP", key);
			return fail(e, k, "required in vxlan mode (tunnel endpoint of %s)", cidr);
		}
		if (mode == XDP_MODE_NATIVE && v4 && !p->ip4.family) {
			snprintf(k, sizeof(k), "%s.nodeIP", key);
			return fail(e, k, "required for IPv4 pod CIDR %s in native mode", cidr);
		}
		if (mode == XDP_MODE_NATIVE && !v4 && !p->ip6.family) {
			snprintf(k, sizeof(k), "%s.nodeIP6", key);
			return fail(e, k, "required for IPv6 pod CIDR %s in native mode", cidr);
		}
	}
	return 0;
}

static int parse_peer(struct json_object *o, const char *key, struct cfg_peer *p, int mode,
		      struct perr *e)
{
	char k[160], prefix[160];

	if (!json_object_is_type(o, json_type_object))
		return fail(e, key, "must be an object");
	snprintf(prefix, sizeof(prefix), "%s.", key);
	if (check_keys(o, peer_keys, prefix, e))
		return -1;
	snprintf(k, sizeof(k), "%s.name", key);
	if (!get(o, "name"))
		return fail(e, k, "required");
	if (get_str(o, "name", k, p->name, sizeof(p->name), e))
		return -1;
	snprintf(k, sizeof(k), "%s.nodeIP", key);
	if (get_ip(o, "nodeIP", k, AF_INET, &p->ip4, e))
		return -1;
	snprintf(k, sizeof(k), "%s.nodeIP6", key);
	if (get_ip(o, "nodeIP6", k, AF_INET6, &p->ip6, e))
		return -1;
	if (!p->ip4.family && !p->ip6.family)
		return fail(e, key, "needs nodeIP or nodeIP6");
	snprintf(k, sizeof(k), "%s.podCIDRs", key);
	if (!get(o, "podCIDRs"))
		return fail(e, k, "required");
	if (get_cidrs(o, "podCIDRs", k, p->cidrs, CFG_MAX_CIDRS, &p->ncidrs, e))
		return -1;
	return check_peer_nexthops(p, key, mode, e);
}

/* A peer's pod CIDR must not cover this node's own pods. */
static int check_peer_overlap(const struct agent_config *c, const struct cfg_peer *p,
			      const char *key, struct perr *e)
{
	char a[CIDR_STRLEN], b[CIDR_STRLEN], k[160];

	for (int i = 0; i < p->ncidrs; i++) {
		for (int j = 0; j < c->npod_cidrs; j++) {
			if (!ipnet_overlap(&p->cidrs[i], &c->pod_cidrs[j]))
				continue;
			snprintf(k, sizeof(k), "%s.podCIDRs[%d]", key, i);
			return fail(e, k, "%s overlaps this node's podCIDR %s",
				    ipnet_fmt(&p->cidrs[i], a), ipnet_fmt(&c->pod_cidrs[j], b));
		}
	}
	return 0;
}

static int parse_peers(struct json_object *o, struct agent_config *c, struct perr *e)
{
	struct json_object *v = get(o, "peers");
	char key[64];
	size_t n;

	if (!v)
		return 0;
	if (!json_object_is_type(v, json_type_array))
		return fail(e, "peers", "must be an array of objects");
	n = json_object_array_length(v);
	if (n > CFG_MAX_PEERS)
		return fail(e, "peers", "at most %d peers", CFG_MAX_PEERS);
	c->peers = calloc(n ? n : 1, sizeof(*c->peers));
	if (!c->peers)
		return fail(e, "peers", "out of memory");
	for (size_t i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "peers[%zu]", i);
		if (parse_peer(json_object_array_get_idx(v, i), key, &c->peers[i], c->mode, e) ||
		    check_peer_overlap(c, &c->peers[i], key, e))
			return -1;
		for (size_t j = 0; j < i; j++)
			if (!strcmp(c->peers[j].name, c->peers[i].name))
				return fail(e, key, "duplicate peer name \"%s\"", c->peers[i].name);
		c->npeers = (int)i + 1;
	}
	return 0;
}

/* One IPv4 and one IPv6 cluster CIDR at most: xdp_config has one of each. */
static int parse_cluster(struct json_object *o, struct agent_config *c, struct perr *e)
{
	struct ipnet nets[2];
	int n;

	if (get_cidrs(o, "clusterCIDRs", "clusterCIDRs", nets, 2, &n, e))
		return -1;
	for (int i = 0; i < n; i++) {
		struct ipnet *slot = nets[i].ip.family == AF_INET ? &c->cluster4 : &c->cluster6;
		char key[32];

		snprintf(key, sizeof(key), "clusterCIDRs[%d]", i);
		if (slot->ip.family)
			return fail(e, key, "at most one IPv4 and one IPv6 CIDR");
		*slot = nets[i];
	}
	return 0;
}

static int parse_mode(struct json_object *o, struct agent_config *c, struct perr *e)
{
	char mode[16] = "native";

	if (get_str(o, "mode", "mode", mode, sizeof(mode), e))
		return -1;
	if (!strcmp(mode, "native"))
		c->mode = XDP_MODE_NATIVE;
	else if (!strcmp(mode, "vxlan"))
		c->mode = XDP_MODE_VXLAN;
	else
		return fail(e, "mode", "\"%s\" is not \"native\" or \"vxlan\"", mode);
	return 0;
}

static int parse_xdp_uplink(struct json_object *o, struct agent_config *c, struct perr *e)
{
	static const char *const names[] = { "auto", "native", "generic", "off" };
	char v[16] = "auto";

	if (get_str(o, "xdpUplink", "xdpUplink", v, sizeof(v), e))
		return -1;
	for (int i = 0; i < 4; i++) {
		if (!strcmp(v, names[i])) {
			c->xdp_uplink = i;
			return 0;
		}
	}
	return fail(e, "xdpUplink", "\"%s\" is not auto, native, generic or off", v);
}

static int parse_log_level(struct json_object *o, struct agent_config *c, struct perr *e)
{
	char lvl[16] = "";

	if (get_str(o, "logLevel", "logLevel", lvl, sizeof(lvl), e))
		return -1;
	if (!lvl[0])
		return 0;
	if (log_level_parse(lvl, &c->log_level))
		return fail(e, "logLevel", "\"%s\" is not debug, info, warn or error", lvl);
	c->log_level_set = true;
	return 0;
}

static int parse_required(struct json_object *o, struct agent_config *c, struct perr *e)
{
	const char *env = getenv("NODE_NAME");

	/* A DaemonSet shares one config between nodes: the downward API
	 * gives each pod its node's name in $NODE_NAME. */
	if (!get(o, "nodeName") && (!env || !*env))
		return fail(e, "nodeName", "required (or set $NODE_NAME)");
	if (!get(o, "nodeName")) {
		if (strlen(env) >= sizeof(c->node_name))
			return fail(e, "nodeName", "$NODE_NAME is longer than %zu bytes",
				    sizeof(c->node_name) - 1);
		strcpy(c->node_name, env);
	} else if (get_str(o, "nodeName", "nodeName", c->node_name, sizeof(c->node_name), e)) {
		return -1;
	}
	if (!get(o, "uplink"))
		return fail(e, "uplink", "required");
	if (get_str(o, "uplink", "uplink", c->uplink, sizeof(c->uplink), e))
		return -1;
	if (strchr(c->uplink, '/') || strchr(c->uplink, ' ') || strchr(c->uplink, ':'))
		return fail(e, "uplink", "\"%s\" is not an interface name", c->uplink);
	return 0;
}

static const char *const top_keys[] = {
	"nodeName", "pinRoot", "stateDir", "endpointDir", "uplink", "mode", "vni", "vxlanPort",
	"nodeIP", "nodeIP6", "podCIDRs", "clusterCIDRs", "masquerade", "xdpUplink", "peers",
	"logLevel", "policyDir", "filterDir", "kubernetes", "httpAddress", "cniConf", NULL,
};

static const char *const kube_keys[] = { "inCluster", "kubeconfig", "serviceAccountDir", NULL };

static int parse_kube(struct json_object *o, struct agent_config *c, struct perr *e)
{
	struct json_object *k = get(o, "kubernetes");
	struct cfg_kube *kc = &c->kube;

	if (!k)
		return 0;
	if (!json_object_is_type(k, json_type_object))
		return fail(e, "kubernetes", "must be an object");
	if (check_keys(k, kube_keys, "kubernetes.", e) ||
	    get_bool_as(k, "inCluster", "kubernetes.inCluster", &kc->in_cluster, e) ||
	    get_path_as(k, "kubeconfig", "kubernetes.kubeconfig", kc->kubeconfig,
			sizeof(kc->kubeconfig), e) ||
	    get_path_as(k, "serviceAccountDir", "kubernetes.serviceAccountDir", kc->sa_dir,
			sizeof(kc->sa_dir), e))
		return -1;
	if (kc->in_cluster == !!kc->kubeconfig[0])
		return fail(e, "kubernetes", "exactly one of inCluster: true and kubeconfig");
	if (c->policy_dir[0] || c->filter_dir[0])
		return fail(e, "kubernetes", "policyDir and filterDir are for clusterless use: "
			    "with kubernetes, policies and filters come from the API server");
	kc->enabled = true;
	return 0;
}

/* "HOST:PORT", "[V6]:PORT" or ":PORT" (httpd_listen parses it again). */
/* The host part of "HOST:PORT" up to colon: empty, an IPv4 address or a
 * bracketed IPv6 one (what httpd_listen accepts). */
static bool numeric_host(const char *s, const char *colon)
{
	char host[INET6_ADDRSTRLEN + 2];
	size_t n = (size_t)(colon - s);
	unsigned char buf[16];

	if (!n)
		return true;
	if (n >= sizeof(host))
		return false;
	if (s[0] == '[') {
		if (n < 3 || s[n - 1] != ']')
			return false;
		memcpy(host, s + 1, n - 2);
		host[n - 2] = '\0';
		return inet_pton(AF_INET6, host, buf) == 1;
	}
	memcpy(host, s, n);
	host[n] = '\0';
	return inet_pton(AF_INET, host, buf) == 1;
}

static int parse_http(struct json_object *o, struct agent_config *c, struct perr *e)
{
	const char *colon;
	char *end;
	long port;

	if (get_str(o, "httpAddress", "httpAddress", c->http_address, sizeof(c->http_address), e))
		return -1;
	if (!c->http_address[0])
		return 0;
	colon = strrchr(c->http_address, ':');
	port = colon && colon[1] >= '0' && colon[1] <= '9' ? strtol(colon + 1, &end, 10) : -1;
	if (!colon || port < 0 || *end || port > 65535 || !numeric_host(c->http_address, colon))
		return fail(e, "httpAddress", "\"%s\" is not IP:PORT, [IPV6]:PORT or :PORT "
			    "(numeric: no name lookup)", c->http_address);
	return 0;
}

static const char *const cni_keys[] = { "path", "ipamDir", "mtu", NULL };

static int parse_cni_conf(struct json_object *o, struct agent_config *c, struct perr *e)
{
	struct json_object *k = get(o, "cniConf");
	struct cfg_cni_conf *cc = &c->cni_conf;

	if (!k)
		return 0;
	if (!json_object_is_type(k, json_type_object))
		return fail(e, "cniConf", "must be an object");
	snprintf(cc->ipam_dir, sizeof(cc->ipam_dir), "%s", CFG_DEFAULT_IPAM_DIR);
	if (check_keys(k, cni_keys, "cniConf.", e))
		return -1;
	if (!get(k, "path"))
		return fail(e, "cniConf.path", "required");
	if (get_path_as(k, "path", "cniConf.path", cc->path, sizeof(cc->path), e) ||
	    get_path_as(k, "ipamDir", "cniConf.ipamDir", cc->ipam_dir, sizeof(cc->ipam_dir), e) ||
	    get_uint_as(k, "mtu", "cniConf.mtu", 576, 65535, &cc->mtu, e))
		return -1;
	return 0;
}

static void defaults(struct agent_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->pin_root, sizeof(c->pin_root), "%s", XDP_DEFAULT_PIN_ROOT);
	snprintf(c->state_dir, sizeof(c->state_dir), "%s", CFG_DEFAULT_STATE_DIR);
	snprintf(c->endpoint_dir, sizeof(c->endpoint_dir), "%s", XDP_DEFAULT_ENDPOINT_DIR);
	c->mode = XDP_MODE_NATIVE;
	c->vni = CFG_DEFAULT_VNI;
	c->vxlan_port = CFG_DEFAULT_VXLAN_PORT;
	c->log_level = LOG_INFO;
	snprintf(c->kube.sa_dir, sizeof(c->kube.sa_dir), "%s", CFG_DEFAULT_SA_DIR);
}

static int parse_obj(struct json_object *o, struct agent_config *c, struct perr *e)
{
	uint32_t port = c->vxlan_port;

	if (!json_object_is_type(o, json_type_object))
		return fail(e, "(top level)", "must be a JSON object");
	if (check_keys(o, top_keys, "", e) || parse_required(o, c, e) ||
	    get_path(o, "pinRoot", c->pin_root, sizeof(c->pin_root), e) ||
	    get_path(o, "stateDir", c->state_dir, sizeof(c->state_dir), e) ||
	    get_path(o, "endpointDir", c->endpoint_dir, sizeof(c->endpoint_dir), e) ||
	    (get(o, "policyDir") && get_path(o, "policyDir", c->policy_dir, sizeof(c->policy_dir), e)) ||
	    (get(o, "filterDir") && get_path(o, "filterDir", c->filter_dir, sizeof(c->filter_dir), e)) ||
	    parse_mode(o, c, e) || get_uint(o, "vni", 1, (1u << 24) - 1, &c->vni, e) ||
	    get_uint(o, "vxlanPort", 1, 65535, &port, e) ||
	    get_ip(o, "nodeIP", "nodeIP", AF_INET, &c->node_ip4, e) ||
	    get_ip(o, "nodeIP6", "nodeIP6", AF_INET6, &c->node_ip6, e) ||
	    get_cidrs(o, "podCIDRs", "podCIDRs", c->pod_cidrs, CFG_MAX_CIDRS, &c->npod_cidrs, e) ||
	    parse_cluster(o, c, e) || get_bool(o, "masquerade", &c->masquerade, e) || parse_xdp_uplink(o, c, e) ||
	    parse_log_level(o, c, e) || parse_peers(o, c, e) || parse_kube(o, c, e) ||
	    parse_http(o, c, e) || parse_cni_conf(o, c, e))
		return -1;
	c->vxlan_port = (uint16_t)port;
	/* With the API server, the node's Node object has them. */
	if (c->masquerade && !c->npod_cidrs && !c->kube.enabled)
		return fail(e, "podCIDRs", "required when masquerade is true");
	return 0;
}

int config_parse(const char *text, struct agent_config *cfg, char *err, size_t errlen)
{
	struct perr e = { err, errlen };
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o;
	size_t len = strlen(text);
	int rc;

	defaults(cfg);
	if (!tok)
		return fail(&e, "(file)", "out of memory");
	o = json_tokener_parse_ex(tok, text, (int)len);
	if (!o) {
		enum json_tokener_error je = json_tokener_get_error(tok);

		json_tokener_free(tok);
		return fail(&e, "(file)", "not valid JSON: %s",
			    je == json_tokener_continue ? "unexpected end of data"
							: json_tokener_error_desc(je));
	}
	/* Anything but white space after the object is an error too. */
	rc = strspn(text + json_tokener_get_parse_end(tok), " \t\r\n") ==
			     len - json_tokener_get_parse_end(tok)
		     ? parse_obj(o, cfg, &e)
		     : fail(&e, "(file)", "not valid JSON: data after the top-level object");
	json_tokener_free(tok);
	json_object_put(o);
	if (rc)
		config_free(cfg);
	return rc;
}

int config_load(const char *path, struct agent_config *cfg, char *err, size_t errlen)
{
	struct perr e = { err, errlen };
	FILE *f = fopen(path, "re");
	char *text = NULL;
	size_t cap = 0;
	ssize_t n;
	int rc;

	if (!f)
		return fail(&e, "(file)", "cannot open %s: %s", path, strerror(errno));
	n = getdelim(&text, &cap, '\0', f);
	rc = n < 0 && ferror(f) ? -errno : 0;
	fclose(f);
	if (n < 0) {
		free(text);
		return rc ? fail(&e, "(file)", "cannot read %s: %s", path, strerror(-rc))
			  : fail(&e, "(file)", "%s is empty", path);
	}
	rc = config_parse(text, cfg, err, errlen);
	free(text);
	return rc;
}

void config_free(struct agent_config *cfg)
{
	free(cfg->peers);
	cfg->peers = NULL;
	cfg->npeers = 0;
}
