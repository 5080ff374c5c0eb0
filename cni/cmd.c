/* cmd: ADD, DEL, CHECK, GC, STATUS and VERSION as sequences of steps over
 * ipam/delegate (addresses), attach (links) and endpoint (the record). */
#include "cmd.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attach.h"
#include "datapath.h"
#include "delegate.h"
#include "endpoint.h"

static void log_warn(const char *what, const char *detail)
{
	fprintf(stderr, "xdpath: %s: %s\n", what, detail);
}

static int ipam_open_err(int err, struct cni_err *e)
{
	if (err == -EAGAIN)
		return cni_fail(e, CNI_ERR_TRY_AGAIN, "IPAM store busy",
				"timed out waiting for the IPAM lock; try again");
	return cni_fail(e, CNI_ERR_INTERNAL, "IPAM store unusable", "%s", strerror(-err));
}

/* Default routes for each family the pod has, when the config names none. */
static void default_routes(struct cni_result *r)
{
	bool v4 = false, v6 = false;

	for (int i = 0; i < r->nips; i++) {
		v4 |= r->ips[i].addr.ip.family == AF_INET;
		v6 |= r->ips[i].addr.ip.family == AF_INET6;
	}
	if (v4)
		ipnet_parse("0.0.0.0/0", &r->routes[r->nroutes++].dst);
	if (v6)
		ipnet_parse("::/0", &r->routes[r->nroutes++].dst);
}

/* Pod addresses are host routes (/32, /128) behind the link-local gateway,
 * whatever prefix the allocator's range has. */
static void routed_ips(struct cni_result *r)
{
	for (int i = 0; i < r->nips; i++) {
		struct cni_ip *ip = &r->ips[i];

		ip->addr.prefix = ipaddr_bits(&ip->addr.ip);
		attach_gateway(ip->addr.ip.family, &ip->gw);
		ip->has_gw = true;
		ip->iface = 1;
	}
	for (int i = 0; i < r->nroutes; i++) {
		attach_gateway(r->routes[i].dst.ip.family, &r->routes[i].gw);
		r->routes[i].has_gw = true;
	}
}

static int builtin_alloc(const struct cni_env *env, const struct netconf *nc,
			 struct cni_result *r, struct cni_err *e)
{
	struct ipam_lease leases[IPAM_MAX_SETS];
	struct ipam_store st;
	char err_msg[512] = "";
	int n = 0, err;

	err = ipam_open(&nc->ipam, &st, nc->lock_timeout_ms);
	if (err)
		return ipam_open_err(err, e);
	err = ipam_alloc(&st, &nc->ipam, env->container_id, env->ifname, leases, &n, err_msg,
			 sizeof(err_msg));
	ipam_close(&st);
	if (err)
		return cni_fail(e, CNI_ERR_INTERNAL, "IP allocation failed", "%s",
				err_msg[0] ? err_msg : strerror(-err));
	for (int i = 0; i < n; i++)
		r->ips[r->nips++].addr = leases[i].addr;
	for (int i = 0; i < nc->ipam.nroutes; i++)
		r->routes[r->nroutes++].dst = nc->ipam.routes[i].dst;
	return 0;
}

static int delegated_alloc(const struct cni_env *env, const struct netconf *nc,
			   struct cni_result *r, struct cni_err *e)
{
	struct json_object *res = NULL;

	if (delegate_exec(nc->ipam_type, "ADD", env, nc->raw, nc->raw_len, &res, e) ||
	    delegate_ipam_result(res, r, e)) {
		json_object_put(res);
		return e->code;
	}
	/* r->dns borrows from res; keep res alive with the config. */
	json_object_object_add(nc->root, "xdpath.ipamResult", res);
	return 0;
}

static int ipam_release_any(const struct cni_env *env, const struct netconf *nc,
			    struct cni_err *e)
{
	struct ipam_store st;
	int err;

	if (!nc->ipam_builtin)
		return delegate_exec(nc->ipam_type, "DEL", env, nc->raw, nc->raw_len, NULL, e);
	err = ipam_open(&nc->ipam, &st, nc->lock_timeout_ms);
	if (err)
		return ipam_open_err(err, e);
	err = ipam_release(&st, env->container_id, env->ifname);
	ipam_close(&st);
	if (err)
		return cni_fail(e, CNI_ERR_INTERNAL, "IP release failed", "%s", strerror(-err));
	return 0;
}

static void fill_ifaces(struct cni_result *r, const struct attach *a, const struct netconf *nc,
			const struct cni_env *env)
{
	struct cni_iface *h = &r->ifs[0], *p = &r->ifs[1];

	memset(r->ifs, 0, sizeof(r->ifs));
	r->nifs = 2;
	snprintf(h->name, sizeof(h->name), "%s", a->host_name);
	memcpy(h->mac, a->host_mac, 6);
	h->mtu = a->hl.mtu;
	snprintf(p->name, sizeof(p->name), "%s", env->ifname);
	memcpy(p->mac, a->pod_mac, 6);
	p->mtu = a->pl.mtu;
	snprintf(p->sandbox, sizeof(p->sandbox), "%s", env->netns);
	(void)nc;
}

static void fill_endpoint(const struct attach *a, const struct netconf *nc,
			  const struct cni_env *env, const struct cni_result *r, struct endpoint *ep)
{
	memset(ep, 0, sizeof(*ep));
	snprintf(ep->container_id, sizeof(ep->container_id), "%s", env->container_id);
	snprintf(ep->ifname, sizeof(ep->ifname), "%s", env->ifname);
	snprintf(ep->network, sizeof(ep->network), "%s", nc->name);
	snprintf(ep->netns, sizeof(ep->netns), "%s", env->netns);
	snprintf(ep->pod_namespace, sizeof(ep->pod_namespace), "%s", env->pod_namespace);
	snprintf(ep->pod_name, sizeof(ep->pod_name), "%s", env->pod_name);
	snprintf(ep->pod_uid, sizeof(ep->pod_uid), "%s", env->pod_uid);
	snprintf(ep->host_ifname, sizeof(ep->host_ifname), "%s", a->host_name);
	ep->host_ifindex = a->hl.ifindex;
	ep->pod_ifindex = a->pl.ifindex;
	memcpy(ep->host_mac, a->host_mac, 6);
	memcpy(ep->pod_mac, a->pod_mac, 6);
	ep->mtu = a->pl.mtu;
	for (int i = 0; i < r->nips; i++)
		ep->ips[ep->nips++] = r->ips[i].addr;
}

static int register_endpoint(const struct attach *a, const struct netconf *nc,
			     const struct cni_env *env, const struct cni_result *r,
			     struct cni_err *e)
{
	struct endpoint ep;
	int err;

	fill_endpoint(a, nc, env, r, &ep);
	err = endpoint_write(nc->endpoint_dir, &ep);
	if (err)
		return cni_fail(e, CNI_ERR_INTERNAL, "cannot register endpoint", "%s: %s",
				nc->endpoint_dir, strerror(-err));
	return 0;
}

struct add_ctx {
	const struct netconf *nc;
	const struct cni_env *env;
	const struct cni_result *r;
};

/* attach's before_up hook: the endpoint is recorded, then the datapath
 * takes the pod over, before its host veth comes up. Record first: the
 * agent removes map entries that have no record. */
static int join_datapath(struct attach *a, void *ctx, struct cni_err *e)
{
	struct add_ctx *c = ctx;
	struct endpoint ep;

	if (register_endpoint(a, c->nc, c->env, c->r, e))
		return e->code;
	fill_endpoint(a, c->nc, c->env, c->r, &ep);
	return cni_dp_register(c->nc, &ep, e);
}

int cmd_add(const struct cni_env *env, struct netconf *nc, struct json_object **out,
	    struct cni_err *e)
{
	struct cni_result r = { 0 };
	struct ipnet ips[XDP_MAX_IPS];
	struct attach a;
	struct cni_err ignored = { 0 };
	bool allocated = false;

	struct add_ctx ctx = { nc, env, &r };

	if (attach_open(&a, nc, env, e))
		goto out;
	a.before_up = join_datapath;
	a.before_up_ctx = &ctx;
	if (nc->ipam_builtin ? builtin_alloc(env, nc, &r, e) : delegated_alloc(env, nc, &r, e))
		goto rollback;
	allocated = true;
	if (r.nroutes == 0)
		default_routes(&r);
	routed_ips(&r);
	for (int i = 0; i < r.nips; i++)
		ips[i] = r.ips[i].addr;
	if (attach_setup(&a, nc, env, ips, r.nips, r.routes, r.nroutes, e))
		goto rollback;
	fill_ifaces(&r, &a, nc, env);
	if (nc->dns)
		r.dns = nc->dns;
	*out = cni_result_to_json(&r, nc->cni_version);
	goto out;

rollback:
	/* Leave nothing behind: no map entry, no veth, no reservation, no record. */
	cni_dp_unregister(nc, a.hl.ifindex);
	attach_remove_host(a.host_name);
	if (allocated && ipam_release_any(env, nc, &ignored))
		log_warn("rollback: IP release failed", ignored.details);
	endpoint_remove(nc->endpoint_dir, env->container_id, env->ifname);
out:
	attach_close(&a);
	return e->code;
}

/* The host veth's ifindex: from the live link, else from the record (the
 * link may already be gone with its netns). 0 if neither exists. */
static int host_ifindex(const struct netconf *nc, const struct cni_env *env,
			const char *host_name)
{
	struct endpoint ep;
	struct nl_link l;
	struct nl nl;
	int ifindex = 0;

	if (!nc->dp_root[0])
		return 0;
	if (!nl_open(&nl)) {
		if (!nl_link_get(&nl, host_name, &l))
			ifindex = l.ifindex;
		nl_close(&nl);
	}
	if (!ifindex && !endpoint_read(nc->endpoint_dir, env->container_id, env->ifname, &ep))
		ifindex = ep.host_ifindex;
	return ifindex;
}

int cmd_del(const struct cni_env *env, struct netconf *nc, struct cni_err *e)
{
	char host_name[16];
	int err;

	/* Everything is found from (containerID, ifname): no netns, no prevResult
	 * and no record needed, so DEL also undoes an ADD killed midway. */
	endpoint_host_ifname(nc->host_prefix, env->container_id, env->ifname, host_name);
	err = attach_remove_pod_rules(env->netns, env->ifname);
	if (err)
		log_warn("DEL: cannot remove pod source rules", strerror(-err));
	err = cni_dp_unregister(nc, host_ifindex(nc, env, host_name));
	if (err)
		return cni_fail(e, CNI_ERR_INTERNAL, "cannot remove pod from the datapath", "%s",
				strerror(-err));
	err = attach_remove_host(host_name);
	if (err)
		return cni_fail(e, CNI_ERR_INTERNAL, "cannot delete host veth", "%s: %s", host_name,
				strerror(-err));
	/* The record goes before the addresses: a delegated IPAM that fails
	 * must not leave the agent an endpoint whose veth is gone. */
	err = endpoint_remove(nc->endpoint_dir, env->container_id, env->ifname);
	if (err)
		return cni_fail(e, CNI_ERR_INTERNAL, "cannot remove endpoint record", "%s",
				strerror(-err));
	return ipam_release_any(env, nc, e);
}

static int check_ipam(const struct cni_env *env, const struct netconf *nc,
		      const struct cni_result *prev, struct cni_err *e)
{
	struct ipam_lease leases[IPAM_MAX_SETS];
	struct ipam_store st;
	char buf[CIDR_STRLEN];
	int n = 0, err;

	if (!nc->ipam_builtin)
		return delegate_exec(nc->ipam_type, "CHECK", env, nc->raw, nc->raw_len, NULL, e);
	err = ipam_open(&nc->ipam, &st, nc->lock_timeout_ms);
	if (err)
		return ipam_open_err(err, e);
	err = ipam_lookup(&st, &nc->ipam, env->container_id, env->ifname, leases, &n);
	ipam_close(&st);
	if (err)
		return cni_fail(e, CNI_ERR_INTERNAL, "no IP reservation",
				"no reservation for container %s ifname %s", env->container_id,
				env->ifname);
	for (int i = 0; i < prev->nips; i++) {
		bool found = false;

		for (int j = 0; j < n; j++)
			found |= ipaddr_equal(&leases[j].addr.ip, &prev->ips[i].addr.ip);
		if (!found)
			return cni_fail(e, CNI_ERR_INTERNAL, "attachment does not match prevResult",
					"address %s is not reserved for this attachment",
					ipnet_fmt(&prev->ips[i].addr, buf));
	}
	return 0;
}

int cmd_check(const struct cni_env *env, struct netconf *nc, struct cni_err *e)
{
	struct cni_result prev;
	struct endpoint ep;
	struct attach a;

	if (!nc->prev)
		return cni_fail(e, CNI_ERR_INVALID_CONFIG, "invalid network config",
				"CHECK needs \"prevResult\" (the result of ADD)");
	if (cni_result_parse(nc->prev, &prev, e) || check_ipam(env, nc, &prev, e))
		return e->code;
	if (!attach_open(&a, nc, env, e))
		attach_check(&a, env, &prev, e);
	attach_close(&a);
	if (e->code)
		return e->code;
	if (endpoint_read(nc->endpoint_dir, env->container_id, env->ifname, &ep))
		return cni_fail(e, CNI_ERR_INTERNAL, "endpoint not registered",
				"no endpoint record for %s:%s in %s", env->container_id,
				env->ifname, nc->endpoint_dir);
	return cni_dp_check(nc, &ep, e);
}

struct gc_ctx {
	const struct netconf *nc;
	struct ipam_attachment *valid;
	int nvalid;
	int err;
};

static bool gc_is_valid(const struct gc_ctx *g, const char *id, const char *ifname)
{
	for (int i = 0; i < g->nvalid; i++)
		if (!strcmp(g->valid[i].id, id) && !strcmp(g->valid[i].ifname, ifname))
			return true;
	return false;
}

static void gc_remove(struct gc_ctx *g, const char *id, const char *ifname)
{
	char host_name[16];
	int err;

	endpoint_host_ifname(g->nc->host_prefix, id, ifname, host_name);
	err = attach_remove_host(host_name);
	if (!err)
		err = endpoint_remove(g->nc->endpoint_dir, id, ifname);
	if (err && !g->err)
		g->err = err;
}

static void gc_freed(const char *id, const char *ifname, void *ctx)
{
	gc_remove(ctx, id, ifname);
}

static int gc_endpoint(const struct endpoint *ep, void *ctx)
{
	struct gc_ctx *g = ctx;

	if (strcmp(ep->network, g->nc->name) || gc_is_valid(g, ep->container_id, ep->ifname))
		return 0;
	gc_remove(g, ep->container_id, ep->ifname);
	return 0;
}

/* cni.dev/valid-attachments (and the pre-fix name cni.dev/attachments). */
static int parse_valid(struct json_object *root, struct gc_ctx *g, struct cni_err *e)
{
	const char *key = "cni.dev/valid-attachments";
	struct json_object *arr = NULL;
	size_t n;

	/* The first key present with a value wins; name it in errors. */
	if (!json_object_object_get_ex(root, key, &arr) || !arr) {
		key = "cni.dev/attachments";
		json_object_object_get_ex(root, key, &arr);
	}
	if (!arr)
		return 0;
	if (!json_object_is_type(arr, json_type_array))
		return cni_fail(e, CNI_ERR_INVALID_CONFIG, "invalid network config",
				"\"%s\" must be an array", key);
	n = json_object_array_length(arr);
	g->valid = calloc(n ? n : 1, sizeof(*g->valid));
	if (!g->valid)
		return cni_fail(e, CNI_ERR_INTERNAL, "out of memory", "GC list of %zu", n);
	for (size_t i = 0; i < n; i++) {
		struct json_object *it = json_object_array_get_idx(arr, i), *id, *ifn;

		if (!json_object_object_get_ex(it, "containerID", &id) ||
		    !json_object_object_get_ex(it, "ifname", &ifn) ||
		    !json_object_is_type(id, json_type_string) ||
		    !json_object_is_type(ifn, json_type_string))
			return cni_fail(e, CNI_ERR_INVALID_CONFIG, "invalid network config",
					"%s[%zu] needs string \"containerID\" and \"ifname\"",
					key, i);
		g->valid[g->nvalid].id = json_object_get_string(id);
		g->valid[g->nvalid++].ifname = json_object_get_string(ifn);
	}
	return 0;
}

int cmd_gc(const struct cni_env *env, struct netconf *nc, struct cni_err *e)
{
	struct gc_ctx g = { .nc = nc };
	struct ipam_store st;
	int err;

	if (parse_valid(nc->root, &g, e))
		goto out;
	/* Continue past errors and report the first, as the spec asks. */
	if (nc->ipam_builtin) {
		err = ipam_open(&nc->ipam, &st, nc->lock_timeout_ms);
		if (err) {
			ipam_open_err(err, e);
		} else {
			err = ipam_gc(&st, g.valid, g.nvalid, gc_freed, &g);
			ipam_close(&st);
			if (err)
				cni_fail(e, CNI_ERR_INTERNAL, "IPAM GC failed", "%s", strerror(-err));
		}
	} else {
		delegate_exec(nc->ipam_type, "GC", env, nc->raw, nc->raw_len, NULL, e);
	}
	err = endpoint_foreach(nc->endpoint_dir, gc_endpoint, &g);
	if (err || g.err)
		cni_fail(e, CNI_ERR_INTERNAL, "GC failed", "%s", strerror(-(err ? err : g.err)));
out:
	free(g.valid);
	return e->code;
}

int cmd_status(const struct cni_env *env, struct netconf *nc, struct cni_err *e)
{
	struct ipam_store st;
	char msg[512] = "";
	int err;

	if (!nc->ipam_builtin)
		return delegate_exec(nc->ipam_type, "STATUS", env, nc->raw, nc->raw_len, NULL, e);
	err = ipam_open(&nc->ipam, &st, nc->lock_timeout_ms);
	if (err == -EAGAIN) /* busy, not broken */
		return ipam_open_err(err, e);
	if (err)
		return cni_fail(e, CNI_ERR_NOT_AVAILABLE, "IPAM store unusable", "%s: %s",
				nc->ipam.data_dir, strerror(-err));
	err = ipam_status(&st, &nc->ipam, msg, sizeof(msg));
	ipam_close(&st);
	if (err)
		return cni_fail(e, CNI_ERR_NOT_AVAILABLE, "plugin cannot serve ADD", "%s",
				msg[0] ? msg : strerror(-err));
	return 0;
}

struct json_object *cmd_version(const char *requested)
{
	struct json_object *o = json_object_new_object(), *arr = json_object_new_array();
	int v = cni_version_parse(requested);

	json_object_object_add(o, "cniVersion",
			       json_object_new_string(v > 0 && cni_version_supported(v) ? requested
											  : CNI_LATEST));
	for (int i = 0; cni_supported_versions[i]; i++)
		json_object_array_add(arr, json_object_new_string(cni_supported_versions[i]));
	json_object_object_add(o, "supportedVersions", arr);
	return o;
}
