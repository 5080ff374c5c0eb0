/* result: struct cni_result <-> the spec's Success result JSON, for every
 * supported version (0.3.x/0.4.0 carry ips[].version, >= 1.0.0 does not). */
#include "cni.h"
#include "mac.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

static void add_str(struct json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v));
}

static struct json_object *iface_json(const struct cni_iface *i, int version)
{
	struct json_object *o = json_object_new_object();
	char mac[18];

	add_str(o, "name", i->name);
	mac_fmt(i->mac, mac);
	add_str(o, "mac", mac);
	if (i->mtu && version >= CNI_V(1, 1, 0)) /* mtu is a 1.1.0 field */
		json_object_object_add(o, "mtu", json_object_new_int(i->mtu));
	if (i->sandbox[0])
		add_str(o, "sandbox", i->sandbox);
	return o;
}

static struct json_object *ip_json(const struct cni_ip *ip, int version)
{
	struct json_object *o = json_object_new_object();
	char buf[CIDR_STRLEN];

	if (version < CNI_V(1, 0, 0))
		add_str(o, "version", ip->addr.ip.family == AF_INET ? "4" : "6");
	if (ip->iface >= 0)
		json_object_object_add(o, "interface", json_object_new_int(ip->iface));
	add_str(o, "address", ipnet_fmt(&ip->addr, buf));
	if (ip->has_gw)
		add_str(o, "gateway", ipaddr_fmt(&ip->gw, buf));
	return o;
}

static struct json_object *route_json(const struct cni_route *r)
{
	struct json_object *o = json_object_new_object();
	char buf[CIDR_STRLEN];

	add_str(o, "dst", ipnet_fmt(&r->dst, buf));
	if (r->has_gw)
		add_str(o, "gw", ipaddr_fmt(&r->gw, buf));
	return o;
}

struct json_object *cni_result_to_json(const struct cni_result *r, const char *version)
{
	struct json_object *o = json_object_new_object();
	struct json_object *ifs = json_object_new_array();
	struct json_object *ips = json_object_new_array();
	struct json_object *routes = json_object_new_array();
	int v = cni_version_parse(version);

	add_str(o, "cniVersion", version);
	for (int i = 0; i < r->nifs; i++)
		json_object_array_add(ifs, iface_json(&r->ifs[i], v));
	for (int i = 0; i < r->nips; i++)
		json_object_array_add(ips, ip_json(&r->ips[i], v));
	for (int i = 0; i < r->nroutes; i++)
		json_object_array_add(routes, route_json(&r->routes[i]));
	json_object_object_add(o, "interfaces", ifs);
	json_object_object_add(o, "ips", ips);
	json_object_object_add(o, "routes", routes);
	json_object_object_add(o, "dns", r->dns ? json_object_get(r->dns) : json_object_new_object());
	return o;
}

static const char *member_str(struct json_object *o, const char *k)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static struct json_object *member_array(struct json_object *o, const char *k, bool *bad)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, k, &v) || json_object_is_type(v, json_type_null))
		return NULL;
	if (!json_object_is_type(v, json_type_array))
		*bad = true;
	return json_object_is_type(v, json_type_array) ? v : NULL;
}

#define PREV_FAIL(e, ...) cni_fail(e, CNI_ERR_INVALID_CONFIG, "invalid prevResult", __VA_ARGS__)

static int parse_ifaces(struct json_object *arr, struct cni_result *r, struct cni_err *e)
{
	size_t n = arr ? json_object_array_length(arr) : 0;

	if (n > XDP_MAX_IFS)
		n = XDP_MAX_IFS; /* later plugins may add interfaces; we check ours */
	for (size_t i = 0; i < n; i++) {
		struct json_object *it = json_object_array_get_idx(arr, i), *mtu;
		struct cni_iface *f = &r->ifs[r->nifs];
		const char *name = member_str(it, "name"), *mac = member_str(it, "mac");
		const char *sb = member_str(it, "sandbox");

		if (!json_object_is_type(it, json_type_object) || !name || strlen(name) > 15)
			return PREV_FAIL(e, "prevResult.interfaces[%zu] needs a \"name\"", i);
		strcpy(f->name, name);
		if (mac && mac_parse(mac, f->mac))
			return PREV_FAIL(e, "prevResult.interfaces[%zu].mac \"%s\" is not a MAC", i,
					 mac);
		if (sb)
			snprintf(f->sandbox, sizeof(f->sandbox), "%s", sb);
		if (json_object_object_get_ex(it, "mtu", &mtu) &&
		    json_object_is_type(mtu, json_type_int))
			f->mtu = json_object_get_int(mtu); /* 1.1.0 */
		r->nifs++;
	}
	return 0;
}

static int parse_ips(struct json_object *arr, struct cni_result *r, struct cni_err *e)
{
	size_t n = arr ? json_object_array_length(arr) : 0;

	if (n > XDP_MAX_IPS)
		return PREV_FAIL(e, "prevResult has %zu ips, at most %d supported", n, XDP_MAX_IPS);
	for (size_t i = 0; i < n; i++) {
		struct json_object *it = json_object_array_get_idx(arr, i), *idx;
		struct cni_ip *ip = &r->ips[r->nips];
		const char *addr = member_str(it, "address"), *gw = member_str(it, "gateway");

		if (!addr || ipnet_parse(addr, &ip->addr))
			return PREV_FAIL(e, "prevResult.ips[%zu].address is not a CIDR", i);
		if (gw && ipaddr_parse(gw, &ip->gw))
			return PREV_FAIL(e, "prevResult.ips[%zu].gateway \"%s\" is not an IP", i, gw);
		ip->has_gw = gw != NULL;
		ip->iface = -1;
		if (json_object_object_get_ex(it, "interface", &idx)) {
			ip->iface = json_object_get_int(idx);
			if (!json_object_is_type(idx, json_type_int) || ip->iface < 0)
				return PREV_FAIL(e, "prevResult.ips[%zu].interface is not an index", i);
		}
		r->nips++;
	}
	return 0;
}

static int parse_routes(struct json_object *arr, struct cni_result *r, struct cni_err *e)
{
	size_t n = arr ? json_object_array_length(arr) : 0;

	if (n > XDP_MAX_ROUTES)
		return PREV_FAIL(e, "prevResult has %zu routes, at most %d supported", n,
				 XDP_MAX_ROUTES);
	for (size_t i = 0; i < n; i++) {
		struct json_object *it = json_object_array_get_idx(arr, i);
		struct cni_route *rt = &r->routes[r->nroutes];
		const char *dst = member_str(it, "dst"), *gw = member_str(it, "gw");

		if (!dst || ipnet_parse(dst, &rt->dst))
			return PREV_FAIL(e, "prevResult.routes[%zu].dst is not a CIDR", i);
		if (gw && ipaddr_parse(gw, &rt->gw))
			return PREV_FAIL(e, "prevResult.routes[%zu].gw \"%s\" is not an IP", i, gw);
		rt->has_gw = gw != NULL;
		r->nroutes++;
	}
	return 0;
}

int cni_result_parse(struct json_object *o, struct cni_result *r, struct cni_err *e)
{
	struct json_object *ifs, *ips, *routes;
	bool bad = false;

	memset(r, 0, sizeof(*r));
	ifs = member_array(o, "interfaces", &bad);
	ips = member_array(o, "ips", &bad);
	routes = member_array(o, "routes", &bad);
	if (bad)
		return PREV_FAIL(e, "prevResult interfaces, ips and routes must be arrays");
	if (parse_ifaces(ifs, r, e) || parse_ips(ips, r, e) || parse_routes(routes, r, e))
		return e->code;
	for (int i = 0; i < r->nips; i++)
		if (r->ips[i].iface >= r->nifs &&
		    (!ifs || json_object_array_length(ifs) <= XDP_MAX_IFS))
			return PREV_FAIL(e, "prevResult.ips[%d].interface %d is out of range", i,
					 r->ips[i].iface);
	return 0;
}
