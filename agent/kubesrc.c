/* kubesrc: informer caches -> policies, filters, peers; Events back. */
#include "kubesrc.h"

#include <curl/curl.h>
#include <errno.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "filters.h"
#include "filtersrc.h"
#include "httpd.h"
#include "kube.h"
#include "kwatch.h"
#include "log.h"
#include "masq.h"
#include "node.h"
#include "parse.h"
#include "policysrc.h"
#include "prom.h"
#include "xdpath/datapath.h"

#define NODE_WAIT_S   60      /* for the own Node's addresses at start */
#define EVENT_QUEUE_MAX 256

enum { R_PODS, R_NAMESPACES, R_NETPOLS, R_NODES, R_XDPFILTERS, R_NUM };

/* ---- decoded values --------------------------------------------------------- */

/* Pods, Namespaces, NetworkPolicies: a one-object policy_set (or one error). */
static void *decode_policy(struct json_object *obj, const char *kind)
{
	struct policy_set *set = calloc(1, sizeof(*set));

	if (!set)
		return NULL;
	if (policy_decode(set, obj, kind, "api")) {
		policy_set_free(set);
		free(set);
		return NULL;
	}
	return set;
}

static void free_policy(void *v)
{
	policy_set_free(v);
	free(v);
}

struct knode {
	char name[CFG_NAME_MAX];
	struct ipaddr ip4, ip6;
	struct ipnet cidrs[CFG_MAX_CIDRS];
	int ncidrs;
};

static void node_cidr(struct knode *n, const char *s)
{
	struct ipnet net;

	if (!s || n->ncidrs >= CFG_MAX_CIDRS || ipnet_parse(s, &net) || ipnet_has_host_bits(&net))
		return;
	for (int i = 0; i < n->ncidrs; i++)
		if (n->cidrs[i].prefix == net.prefix && ipaddr_equal(&n->cidrs[i].ip, &net.ip))
			return;
	n->cidrs[n->ncidrs++] = net;
}

/* metadata.name, spec.podCIDRs (spec.podCIDR on old servers), the first
 * InternalIP of each family. */
static void *decode_node(struct json_object *obj, const char *kind)
{
	/* Wrong types read as absent: a malformed Node is just one without. */
	struct json_object *spec = kube_obj(obj, "spec"), *cidrs = kube_arr(spec, "podCIDRs"),
			   *addrs = kube_arr(kube_obj(obj, "status"), "addresses");
	const char *name = kube_str(kube_obj(obj, "metadata"), "name");
	struct knode *n;

	(void)kind;
	if (!name || strlen(name) >= CFG_NAME_MAX || !(n = calloc(1, sizeof(*n))))
		return NULL;
	snprintf(n->name, sizeof(n->name), "%s", name);
	for (size_t i = 0; cidrs && i < json_object_array_length(cidrs); i++)
		node_cidr(n, json_object_get_string(json_object_array_get_idx(cidrs, i)));
	node_cidr(n, kube_str(spec, "podCIDR"));
	for (size_t i = 0; addrs && i < json_object_array_length(addrs); i++) {
		struct json_object *ad = json_object_array_get_idx(addrs, i);
		const char *type = kube_str(ad, "type"), *addr = kube_str(ad, "address");
		struct ipaddr ip;

		if (!type || strcmp(type, "InternalIP") || !addr || ipaddr_parse(addr, &ip))
			continue;
		if (ip.family == AF_INET && !n->ip4.family)
			n->ip4 = ip;
		if (ip.family == AF_INET6 && !n->ip6.family)
			n->ip6 = ip;
	}
	return n;
}

/* XdpFilters stay JSON: filtersrc.c reads them, and there are few. */
static void *decode_json(struct json_object *obj, const char *kind)
{
	(void)kind;
	return json_object_get(obj);
}

static void free_json(void *v)
{
	json_object_put(v);
}

static const struct kres resources[R_NUM] = {
	[R_PODS] = { "pods", "", "v1", "Pod", false, decode_policy, free_policy },
	[R_NAMESPACES] = { "namespaces", "", "v1", "Namespace", false, decode_policy, free_policy },
	[R_NETPOLS] = { "networkpolicies", "networking.k8s.io", "v1", "NetworkPolicy", false,
			decode_policy, free_policy },
	[R_NODES] = { "nodes", "", "v1", "Node", false, decode_node, free },
	[R_XDPFILTERS] = { "xdpfilters", "xdpath.io", "v1alpha1", "XdpFilter", true, decode_json,
			   free_json },
};

/* ---- state ------------------------------------------------------------------ */

struct event_req {
	char *body;
	char ns[256];
};

struct kubesrc {
	struct kube k;
	struct kwatch w;
	uint64_t seen[R_NUM];        /* generations applied */
	struct kgrave *pending;      /* taken with the last policy snapshot */
	long first_sync_ms;          /* uptime at the first enforced sync, -1 before */
	/* Events: a queue served by a writer thread. */
	pthread_t writer;
	bool writer_started;
	pthread_mutex_t qmu;
	pthread_cond_t qcv;
	struct event_req q[EVENT_QUEUE_MAX];
	int qhead, qlen;
	uint64_t events_posted, events_failed, events_dropped;
};

static struct kubesrc *ks(const struct agent *a)
{
	return a->kube;
}

/* ---- the policy source -------------------------------------------------------- */

struct counts {
	size_t pols, pods, nss, errors;
};

static void count_one(const char *key, void *val, void *ctx)
{
	const struct policy_set *s = val;
	struct counts *c = ctx;

	(void)key;
	c->pols += s->npols;
	c->pods += s->npods;
	c->nss += s->nnss;
	c->errors += s->nerrors;
}

static void copy_one(const char *key, void *val, void *ctx)
{
	const struct policy_set *s = val;
	struct policy_set *out = ctx;

	(void)key;
	memcpy(out->pols + out->npols, s->pols, s->npols * sizeof(*s->pols));
	out->npols += s->npols;
	memcpy(out->pods + out->npods, s->pods, s->npods * sizeof(*s->pods));
	out->npods += s->npods;
	memcpy(out->nss + out->nnss, s->nss, s->nnss * sizeof(*s->nss));
	out->nnss += s->nnss;
	memcpy(out->errors + out->nerrors, s->errors, s->nerrors * sizeof(*s->errors));
	out->nerrors += s->nerrors;
}

static const int policy_res[] = { R_PODS, R_NAMESPACES, R_NETPOLS };

bool kubesrc_synced(const struct agent *a)
{
	struct kubesrc *k = ks(a);
	bool ok = k != NULL;

	if (!k)
		return false;
	kwatch_lock(&k->w);
	for (size_t i = 0; i < sizeof(policy_res) / sizeof(policy_res[0]); i++)
		ok = ok && k->w.res[policy_res[i]].st.synced;
	kwatch_unlock(&k->w);
	return ok;
}

static void commit_k8s(struct agent *a, bool used)
{
	struct kubesrc *k = ks(a);

	if (!k || !k->pending)
		return;
	if (used)
		kwatch_grave_free(k->pending);
	else
		kwatch_grave_return(&k->w, k->pending);
	k->pending = NULL;
}

/* A snapshot of the caches as a borrowed set: the decoded objects are
 * shared, only the arrays are new. */
static int load_k8s(struct agent *a, struct policy_set *set, uint64_t *sig, int *nobjs,
		    const char **why)
{
	struct kubesrc *k = ks(a);
	struct counts c = { 0 };
	int err = 0;

	if (!k) {
		*why = "not connected to the API server";
		return -ENOTCONN;
	}
	if (!kubesrc_synced(a)) {
		*why = "waiting for the first list of pods, namespaces and networkpolicies";
		return -EAGAIN;
	}
	commit_k8s(a, false); /* a snapshot never committed: its values back first */
	kwatch_lock(&k->w);
	for (size_t i = 0; i < sizeof(policy_res) / sizeof(policy_res[0]); i++) {
		kwatch_foreach(&k->w, policy_res[i], count_one, &c);
		*sig = policy_sig(*sig, &k->w.res[policy_res[i]].gen, sizeof(uint64_t));
	}
	set->borrowed = true;
	set->pols = calloc(c.pols + 1, sizeof(*set->pols));
	set->pods = calloc(c.pods + 1, sizeof(*set->pods));
	set->nss = calloc(c.nss + 1, sizeof(*set->nss));
	set->errors = calloc(c.errors + 1, sizeof(*set->errors));
	if (!set->pols || !set->pods || !set->nss || !set->errors) {
		*why = "out of memory";
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < sizeof(policy_res) / sizeof(policy_res[0]); i++)
		kwatch_foreach(&k->w, policy_res[i], copy_one, set);
	*nobjs = (int)(c.pols + c.pods + c.nss + c.errors);
	/* Values dropped from the cache before this snapshot: freed once it
	 * has replaced the set that may still point into them. */
	k->pending = kwatch_grave_take(&k->w);
out:
	kwatch_unlock(&k->w);
	return err;
}

static void event_post(struct agent *a, const struct policy_error *e, bool map_full);

const struct policy_source policy_source_k8s = {
	.name = "kubernetes",
	.load = load_k8s,
	.commit = commit_k8s,
	.report = event_post,
};

/* ---- Events ------------------------------------------------------------------ */

static void rfc3339(char *buf, size_t len)
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* An invalid or unenforceable NetworkPolicy, or a Pod whose allow entries
 * do not fit the policy map: a Warning Event on it, as `kubectl describe`
 * shows. Queued; the writer posts it. */
static void event_post(struct agent *a, const struct policy_error *e, bool map_full)
{
	struct kubesrc *k = ks(a);
	struct json_object *ev, *md, *io, *src;
	char ts[32], gen[300];
	struct event_req *r;
	bool pod = map_full; /* map_full problems are a Pod's */

	if (!k || !e->kind || !e->ns || !e->name || !e->ns[0] || !e->name[0])
		return;
	/* Invalid objects: only NetworkPolicies get an Event (a Pod's own
	 * problems, no such pod yet and the like, are transient). */
	if (!map_full && strcmp(e->kind, "NetworkPolicy"))
		return;
	rfc3339(ts, sizeof(ts));
	snprintf(gen, sizeof(gen), "%.240s.", e->name);
	ev = json_object_new_object();
	md = json_object_new_object();
	io = json_object_new_object();
	src = json_object_new_object();
	json_object_object_add(ev, "apiVersion", json_object_new_string("v1"));
	json_object_object_add(ev, "kind", json_object_new_string("Event"));
	json_object_object_add(md, "generateName", json_object_new_string(gen));
	json_object_object_add(md, "namespace", json_object_new_string(e->ns));
	json_object_object_add(ev, "metadata", md);
	json_object_object_add(io, "apiVersion", json_object_new_string(pod ? "v1"
									    : "networking.k8s.io/v1"));
	json_object_object_add(io, "kind", json_object_new_string(e->kind));
	json_object_object_add(io, "namespace", json_object_new_string(e->ns));
	json_object_object_add(io, "name", json_object_new_string(e->name));
	json_object_object_add(ev, "involvedObject", io);
	json_object_object_add(ev, "type", json_object_new_string("Warning"));
	json_object_object_add(ev, "reason", json_object_new_string(pod ? "PolicyMapFull"
									 : "PolicyNotEnforced"));
	json_object_object_add(ev, "message", json_object_new_string(e->reason ? e->reason : ""));
	json_object_object_add(src, "component", json_object_new_string("xdpathd"));
	json_object_object_add(src, "host", json_object_new_string(a->cfg.node_name));
	json_object_object_add(ev, "source", src);
	json_object_object_add(ev, "reportingComponent", json_object_new_string("xdpath.io/xdpathd"));
	json_object_object_add(ev, "reportingInstance", json_object_new_string(a->cfg.node_name));
	json_object_object_add(ev, "firstTimestamp", json_object_new_string(ts));
	json_object_object_add(ev, "lastTimestamp", json_object_new_string(ts));
	json_object_object_add(ev, "count", json_object_new_int(1));
	pthread_mutex_lock(&k->qmu);
	if (k->qlen == EVENT_QUEUE_MAX) {
		k->events_dropped++;
	} else {
		r = &k->q[(k->qhead + k->qlen) % EVENT_QUEUE_MAX];
		r->body = strdup(json_object_to_json_string_ext(ev, JSON_C_TO_STRING_PLAIN));
		snprintf(r->ns, sizeof(r->ns), "%s", e->ns);
		k->qlen += r->body != NULL;
		pthread_cond_signal(&k->qcv);
	}
	pthread_mutex_unlock(&k->qmu);
	json_object_put(ev);
}

static void *writer(void *arg)
{
	struct kubesrc *k = arg;
	CURL *h = kube_handle();
	char path[512], err[256];

	for (;;) {
		struct event_req r;
		struct json_object *ans;
		long status;
		int rc;

		pthread_mutex_lock(&k->qmu);
		while (!k->qlen && !atomic_load(&k->w.stop))
			pthread_cond_wait(&k->qcv, &k->qmu);
		if (!k->qlen) {
			pthread_mutex_unlock(&k->qmu);
			break;
		}
		r = k->q[k->qhead];
		k->qhead = (k->qhead + 1) % EVENT_QUEUE_MAX;
		k->qlen--;
		pthread_mutex_unlock(&k->qmu);
		snprintf(path, sizeof(path), "/api/v1/namespaces/%s/events", r.ns);
		rc = h ? kube_request(&k->k, h, "POST", path, r.body, &status, &ans, err, sizeof(err))
		       : -ENOMEM;
		pthread_mutex_lock(&k->qmu);
		if (!rc && status / 100 == 2)
			k->events_posted++;
		else
			k->events_failed++;
		pthread_mutex_unlock(&k->qmu);
		if (rc || status / 100 != 2)
			log_warn("k8s", "cannot post an Event", "namespace=%s status=%ld err=\"%s\"", r.ns,
				 rc ? 0L : status, rc ? err : kube_status_message(ans));
		json_object_put(ans);
		free(r.body);
	}
	if (h)
		curl_easy_cleanup(h);
	return NULL;
}

/* ---- nodes -> peers ---------------------------------------------------------- */

struct peer_vec {
	struct agent *a;
	struct cfg_peer *v;
	int n, cap;
};

static bool configured(const struct agent_config *c, const char *name)
{
	for (int i = 0; i < c->npeers; i++)
		if (!strcmp(c->peers[i].name, name))
			return true;
	return false;
}

/* A pod CIDR is routable to a peer when the datapath has a next hop of a
 * usable family: vxlan tunnels over IPv4; native routes via the same family. */
static bool usable(const struct agent *a, const struct knode *n, const struct ipnet *c)
{
	if (a->cfg.mode == XDP_MODE_VXLAN)
		return n->ip4.family != 0;
	return c->ip.family == AF_INET ? n->ip4.family != 0 : n->ip6.family != 0;
}

static void add_peer(const char *key, void *val, void *ctx)
{
	const struct knode *n = val;
	struct peer_vec *pv = ctx;
	struct cfg_peer *p;

	(void)key;
	if (!strcmp(n->name, pv->a->cfg.node_name) || configured(&pv->a->cfg, n->name) ||
	    pv->n == pv->cap)
		return;
	p = &pv->v[pv->n];
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", n->name);
	p->ip4 = n->ip4;
	p->ip6 = n->ip6;
	for (int i = 0; i < n->ncidrs; i++)
		if (usable(pv->a, n, &n->cidrs[i]))
			p->cidrs[p->ncidrs++] = n->cidrs[i];
	pv->n += p->ncidrs > 0;
}

static int peer_cmp(const void *x, const void *y)
{
	return strcmp(((const struct cfg_peer *)x)->name, ((const struct cfg_peer *)y)->name);
}

/* The other Nodes -> a->kpeers (sorted, so node ids are stable), then the
 * maps and routes follow. */
static void sync_peers(struct agent *a)
{
	struct kubesrc *k = ks(a);
	struct peer_vec pv = { a, NULL, 0, 0 };

	kwatch_lock(&k->w);
	pv.cap = (int)k->w.res[R_NODES].n;
	pv.v = calloc((size_t)pv.cap + 1, sizeof(*pv.v));
	if (pv.v)
		kwatch_foreach(&k->w, R_NODES, add_peer, &pv);
	kwatch_unlock(&k->w);
	if (!pv.v) {
		log_warn("k8s", "out of memory building peers", NULL);
		return;
	}
	qsort(pv.v, (size_t)pv.n, sizeof(*pv.v), peer_cmp);
	if (pv.n > CFG_MAX_PEERS - a->cfg.npeers) { /* the same ones kept on every node */
		log_warn("k8s", "more Nodes than peers fit: the last by name are left out",
			 "nodes=%d max=%d", pv.n, CFG_MAX_PEERS - a->cfg.npeers);
		pv.n = CFG_MAX_PEERS - a->cfg.npeers;
	}
	free(a->kpeers);
	a->kpeers = pv.v;
	a->nkpeers = pv.n;
	node_peers_sync(a);
	node_routes_sync(a);
	if (a->cfg.masquerade)
		masq_sync(a); /* their pod CIDRs are inside the cluster: not masqueraded */
	log_info("k8s", "peers from Node objects", "peers=%d", pv.n);
}

/* The own Node's addresses and pod CIDRs where the config has none. */
static bool fill_own(struct agent *a, const struct knode *n)
{
	struct agent_config *c = &a->cfg;

	if (!c->node_ip4.family)
		c->node_ip4 = n->ip4;
	if (!c->node_ip6.family)
		c->node_ip6 = n->ip6;
	if (!c->npod_cidrs) {
		memcpy(c->pod_cidrs, n->cidrs, sizeof(n->cidrs));
		c->npod_cidrs = n->ncidrs;
	}
	return (c->node_ip4.family || c->node_ip6.family) && c->npod_cidrs;
}

static bool needs_own(const struct agent_config *c)
{
	return (!c->node_ip4.family && !c->node_ip6.family) || !c->npod_cidrs;
}

/* Wait for the Node informer to have our Node. */
static int own_node(struct agent *a)
{
	struct kubesrc *k = ks(a);
	struct knode n;
	bool found = false;

	for (int i = 0; i < NODE_WAIT_S * 10; i++) {
		struct knode *p;

		kwatch_lock(&k->w);
		p = kwatch_get(&k->w, R_NODES, a->cfg.node_name);
		if (p)
			n = *p;
		kwatch_unlock(&k->w);
		if (p) {
			found = true;
			if (fill_own(a, &n))
				return 0;
		}
		if (i % 50 == 0)
			log_info("k8s", found ? "waiting for the Node's addresses and podCIDRs"
					      : "waiting for the Node object", "node=%s",
				 a->cfg.node_name);
		usleep(100000);
	}
	log_error("k8s", "the Node object has no InternalIP or podCIDRs and the config has "
		  "none", "node=%s found=%d", a->cfg.node_name, found);
	return -ENODATA;
}

/* ---- filters --------------------------------------------------------------- */

static void add_filter(const char *key, void *val, void *ctx)
{
	char where[320];

	snprintf(where, sizeof(where), "xdpfilters/%s", key);
	filtersrc_object(ctx, val, where);
}

static void sync_filters(struct agent *a)
{
	struct kubesrc *k = ks(a);
	struct filter_specs specs = { 0 };

	kwatch_lock(&k->w);
	kwatch_foreach(&k->w, R_XDPFILTERS, add_filter, &specs);
	kwatch_unlock(&k->w);
	filters_sync(a, &specs);
}

/* ---- life cycle -------------------------------------------------------------- */

int kubesrc_open(struct agent *a)
{
	struct kubesrc *k = calloc(1, sizeof(*k));
	char err[512];
	int rc;

	if (!k)
		return -ENOMEM;
	k->first_sync_ms = -1;
	rc = kube_open(&k->k, &a->cfg.kube, err, sizeof(err));
	if (rc) {
		log_error("k8s", "cannot use the API server config", "err=\"%s\"", err);
		free(k);
		return rc;
	}
	pthread_mutex_init(&k->qmu, NULL);
	pthread_cond_init(&k->qcv, NULL);
	a->kube = k;
	rc = kwatch_start(&k->w, &k->k, resources, R_NUM);
	if (!rc) {
		rc = -pthread_create(&k->writer, NULL, writer, k);
		k->writer_started = !rc;
	}
	if (rc) {
		log_error("k8s", "cannot start the informers", "err=\"%s\"", strerror(-rc));
		return rc;
	}
	log_info("k8s", "watching the API server", "server=%s node=%s", k->k.server,
		 a->cfg.node_name);
	return needs_own(&a->cfg) ? own_node(a) : 0;
}

int kubesrc_fd(const struct agent *a)
{
	return ks(a) ? ks(a)->w.efd : -1;
}

static bool changed(struct kubesrc *k, int i)
{
	uint64_t g = k->w.res[i].gen;
	bool ch = g != k->seen[i];

	k->seen[i] = g;
	return ch;
}

void kubesrc_changed(struct agent *a)
{
	struct kubesrc *k = ks(a);
	bool pol = false, nodes, filt;

	if (!k)
		return;
	kwatch_ack(&k->w);
	kwatch_lock(&k->w);
	for (size_t i = 0; i < sizeof(policy_res) / sizeof(policy_res[0]); i++)
		pol |= changed(k, policy_res[i]);
	nodes = changed(k, R_NODES);
	filt = changed(k, R_XDPFILTERS) && k->w.res[R_XDPFILTERS].st.synced;
	kwatch_unlock(&k->w);
	if (nodes)
		sync_peers(a);
	if (filt)
		sync_filters(a);
	if (pol && kubesrc_synced(a) && !policysrc_load(a, false) && k->first_sync_ms < 0) {
		k->first_sync_ms = agent_uptime_ms(a);
		log_info("k8s", "first sync enforced", "ms=%ld", k->first_sync_ms);
		agent_synced(a);
	}
}

void kubesrc_close(struct agent *a)
{
	struct kubesrc *k = ks(a);

	if (!k)
		return;
	kwatch_stop(&k->w);
	pthread_mutex_lock(&k->qmu);
	pthread_cond_broadcast(&k->qcv);
	pthread_mutex_unlock(&k->qmu);
	if (k->writer_started)
		pthread_join(k->writer, NULL);
	/* The caches stay allocated: the policy engine's last set points into
	 * them, and the process is exiting. */
}

/* ---- status and metrics -------------------------------------------------------- */

static double mono_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + t.tv_nsec / 1e9;
}

struct json_object *kubesrc_status(struct agent *a)
{
	struct kubesrc *k = ks(a);
	struct json_object *o = json_object_new_object(), *arr = json_object_new_array();

	if (!k)
		return o;
	json_object_object_add(o, "server", json_object_new_string(k->k.server));
	kwatch_lock(&k->w);
	for (int i = 0; i < R_NUM; i++) {
		const struct kwatch_res *c = &k->w.res[i];
		struct json_object *r = json_object_new_object();

		json_object_object_add(r, "resource", json_object_new_string(resources[i].resource));
		json_object_object_add(r, "synced", json_object_new_boolean(c->st.synced));
		json_object_object_add(r, "objects", json_object_new_int64((int64_t)c->n));
		json_object_object_add(r, "events", json_object_new_uint64(c->st.events));
		json_object_object_add(r, "relists", json_object_new_uint64(c->st.relists));
		json_object_object_add(r, "expired", json_object_new_uint64(c->st.expired));
		json_object_object_add(r, "errors", json_object_new_uint64(c->st.errors));
		json_object_object_add(r, "listMs", json_object_new_int64(c->st.list_ms));
		json_object_array_add(arr, r);
	}
	kwatch_unlock(&k->w);
	json_object_object_add(o, "resources", arr);
	json_object_object_add(o, "firstSyncMs", json_object_new_int64(k->first_sync_ms));
	pthread_mutex_lock(&k->qmu);
	json_object_object_add(o, "eventsPosted", json_object_new_uint64(k->events_posted));
	json_object_object_add(o, "eventsFailed", json_object_new_uint64(k->events_failed));
	json_object_object_add(o, "eventsDropped", json_object_new_uint64(k->events_dropped));
	pthread_mutex_unlock(&k->qmu);
	return o;
}

/* The informer counters, one family each, a sample per resource. */
enum { M_EVENTS, M_RELISTS, M_EXPIRED, M_ERRORS, M_SYNCED, M_LAG, M_LIST, M_NUM };

static const struct {
	const char *name, *type, *help;
	bool synced_only;            /* no sample before the first list */
} kmetrics[M_NUM] = {
	[M_EVENTS] = { "xdpath_k8s_watch_events_total", "counter",
		       "Watch events applied to the cache.", false },
	[M_RELISTS] = { "xdpath_k8s_relists_total", "counter",
			"Full lists of a resource (the first included).", false },
	[M_EXPIRED] = { "xdpath_k8s_watch_expired_total", "counter",
			"Watches ended by 410 Gone (a relist followed).", false },
	[M_ERRORS] = { "xdpath_k8s_errors_total", "counter", "Failed list or watch requests.",
		       false },
	[M_SYNCED] = { "xdpath_k8s_synced", "gauge", "1 once the resource was listed.", false },
	[M_LAG] = { "xdpath_k8s_watch_lag_seconds", "gauge",
		    "Seconds since the watch's last event or bookmark.", true },
	[M_LIST] = { "xdpath_k8s_list_duration_seconds", "gauge",
		     "Duration of the last full list.", true },
};

int kubesrc_prom(struct agent *a, struct hbuf *out)
{
	struct kubesrc *k = ks(a);
	double v[M_NUM][R_NUM], now = mono_now();
	bool synced[R_NUM];
	char labels[128];
	int rc = 0;

	if (!k)
		return 0;
	kwatch_lock(&k->w);
	for (int i = 0; i < R_NUM; i++) {
		const struct kstats *st = &k->w.res[i].st;

		v[M_EVENTS][i] = (double)st->events;
		v[M_RELISTS][i] = (double)st->relists;
		v[M_EXPIRED][i] = (double)st->expired;
		v[M_ERRORS][i] = (double)st->errors;
		v[M_SYNCED][i] = st->synced;
		v[M_LAG][i] = now - st->last_seen;
		v[M_LIST][i] = st->list_ms / 1000.0;
		synced[i] = st->synced;
	}
	kwatch_unlock(&k->w);
	for (int m = 0; m < M_NUM && !rc; m++) {
		rc = prom_family(out, kmetrics[m].name, kmetrics[m].type, kmetrics[m].help);
		for (int i = 0; i < R_NUM && !rc; i++) {
			if (kmetrics[m].synced_only && !synced[i])
				continue;
			snprintf(labels, sizeof(labels), "resource=\"%s\"", resources[i].resource);
			rc = prom_sample(out, kmetrics[m].name, labels, v[m][i]);
		}
	}
	if (!rc)
		rc = prom_gauge(out, "xdpath_k8s_first_sync_seconds",
				"From agent start to the first enforced sync (-1 before).", NULL,
				k->first_sync_ms < 0 ? -1 : k->first_sync_ms / 1000.0);
	return rc;
}

struct json_object *kubesrc_api_resources(void)
{
	struct json_object *arr = json_object_new_array();
	static const char *const read[] = { "get", "list", "watch" };
	static const char *const write[] = { "create", "patch" };

	for (int i = 0; i <= R_NUM; i++) {
		struct json_object *o = json_object_new_object(), *verbs = json_object_new_array();
		bool ev = i == R_NUM;

		json_object_object_add(o, "group", json_object_new_string(ev ? "" : resources[i].group));
		json_object_object_add(o, "resource",
				       json_object_new_string(ev ? "events" : resources[i].resource));
		for (int v = 0; v < (ev ? 2 : 3); v++)
			json_object_array_add(verbs, json_object_new_string(ev ? write[v] : read[v]));
		json_object_object_add(o, "verbs", verbs);
		json_object_array_add(arr, o);
	}
	return arr;
}
