/* compile: a policy_set and this node's endpoints -> the contents of the
 * policy maps (see compile.h for the contract, include/xdpath/policy.h for
 * the maps).
 *
 * Order of work: namespaces (labels, synthesised when a pod's namespace is
 * not in the set), identities (one per distinct pod key, see idalloc.h), the
 * ipcache, one rule_ref per (policy, direction, rule), then per endpoint and
 * direction the rules of the selecting policies (rule.c; ipBlock peers are
 * collected per direction and resolved by cidr.c), then the per-endpoint
 * limits, the sort, and warnings for port names nothing resolved. */
#include "compile.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cidr.h"
#include "ctx.h"
#include "idalloc.h"
#include "order.h"
#include "portset.h"
#include "vec.h"

#define NS_NAME_LABEL "kubernetes.io/metadata.name"

static const char *s0(const char *s)
{
	return s ? s : "";
}

static int add_error(struct ctx *x, const char *kind, const char *ns, const char *name,
		     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int add_error(struct ctx *x, const char *kind, const char *ns, const char *name,
		     const char *fmt, ...)
{
	struct policy_error *e = vec_push(&x->errors);
	char reason[512];
	va_list ap;

	if (!e)
		return -ENOMEM;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	e->kind = strdup(kind);
	e->ns = ns ? strdup(ns) : NULL;
	e->name = name ? strdup(name) : NULL;
	e->reason = strdup(reason);
	if (!e->kind || (ns && !e->ns) || (name && !e->name) || !e->reason)
		return -ENOMEM;
	return 0;
}

const char *policy_proto_name(uint8_t proto, char *buf)
{
	switch (proto) {
	case L4_TCP:
		return "TCP";
	case L4_UDP:
		return "UDP";
	case L4_SCTP:
		return "SCTP";
	case 1:
		return "ICMP";
	case 58:
		return "ICMPv6";
	}
	snprintf(buf, 8, "%u", proto);
	return buf;
}

/* ---- namespaces --------------------------------------------------------- */

static int nsinfo_cmp(const void *a, const void *b)
{
	const struct nsinfo *x = a, *y = b;
	int r = strcmp(x->name, y->name);

	if (r)
		return r;
	/* a Namespace object beats a name only known from pods; the first
	 * object in the set beats later duplicates */
	if (!x->obj != !y->obj)
		return x->obj ? -1 : 1;
	return x->obj < y->obj ? -1 : x->obj > y->obj;
}

struct nsinfo *ns_find(const struct ctx *x, const char *name)
{
	size_t lo = 0, hi = x->nnss;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int r = strcmp(x->nss[mid].name, s0(name));

		if (!r)
			return &x->nss[mid];
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* A pod's namespace need not be in the set: it then has the one label the
 * API server gives every namespace. */
static int build_namespaces(struct ctx *x)
{
	const struct policy_set *s = x->set;
	size_t n = 0;

	x->nss = calloc(s->nnss + s->npods + 1, sizeof(*x->nss));
	if (!x->nss)
		return -ENOMEM;
	for (size_t i = 0; i < s->nnss; i++) {
		x->nss[n].name = s0(s->nss[i].name);
		x->nss[n++].obj = &s->nss[i];
	}
	for (size_t i = 0; i < s->npods; i++)
		x->nss[n++].name = s0(s->pods[i].ns);
	qsort(x->nss, n, sizeof(*x->nss), nsinfo_cmp);
	x->nnss = 0;
	for (size_t i = 0; i < n; i++) {
		if (x->nnss && !strcmp(x->nss[x->nnss - 1].name, x->nss[i].name))
			continue;
		x->nss[x->nnss++] = x->nss[i];
	}
	for (size_t i = 0; i < x->nnss; i++) {
		struct nsinfo *ns = &x->nss[i];

		if (ns->obj) {
			ns->labels = &ns->obj->labels;
			continue;
		}
		ns->synth.key = (char *)NS_NAME_LABEL;
		ns->synth.value = (char *)ns->name;
		ns->synth_labels.v = &ns->synth;
		ns->synth_labels.n = 1;
		ns->labels = &ns->synth_labels;
	}
	return 0;
}

/* ---- identities and the ipcache ----------------------------------------- */

static int ident_cmp(const void *a, const void *b)
{
	const struct ident *x = a, *y = b;

	if (x->ns != y->ns)
		return x->ns < y->ns ? -1 : 1;
	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return x->pod < y->pod ? -1 : x->pod > y->pod;
}

static int by_id_cmp(const void *a, const void *b, void *arg)
{
	const struct ident *v = arg;
	uint32_t x = v[*(const size_t *)a].id, y = v[*(const size_t *)b].id;

	return x < y ? -1 : x > y;
}

const struct ident *ident_by_id(const struct ctx *x, uint32_t id)
{
	size_t lo = 0, hi = x->nidents;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		uint32_t v = x->idents[x->by_id[mid]].id;

		if (v == id)
			return &x->idents[x->by_id[mid]];
		if (v < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* hostNetwork pods have no identity: their addresses are the node's. */
static int build_identities(struct ctx *x)
{
	const struct policy_set *s = x->set;
	size_t n = 0;

	x->pod_id = calloc(s->npods + 1, sizeof(*x->pod_id));
	x->idents = calloc(s->npods + 1, sizeof(*x->idents));
	x->by_id = calloc(s->npods + 1, sizeof(*x->by_id));
	if (!x->pod_id || !x->idents || !x->by_id)
		return -ENOMEM;
	for (size_t i = 0; i < s->npods; i++) {
		const struct pod *pod = &s->pods[i];
		struct nsinfo *ns;

		if (pod->host_network)
			continue;
		ns = ns_find(x, pod->ns);
		x->pod_id[i] = id_alloc_pod(x->ids, pod, ns->labels);
		if (!x->pod_id[i])
			return -ENOMEM;
		x->idents[n++] = (struct ident){ x->pod_id[i], (size_t)(ns - x->nss), pod };
	}
	qsort(x->idents, n, sizeof(*x->idents), ident_cmp);
	x->nidents = 0;
	for (size_t i = 0; i < n; i++) {
		struct ident *last = x->nidents ? &x->idents[x->nidents - 1] : NULL;

		if (last && last->id == x->idents[i].id)
			continue;
		x->idents[x->nidents++] = x->idents[i];
	}
	for (size_t i = x->nidents; i-- > 0;) {
		struct nsinfo *ns = &x->nss[x->idents[i].ns];

		ns->first = i;
		ns->n++;
	}
	for (size_t i = 0; i < x->nidents; i++)
		x->by_id[i] = i;
	qsort_r(x->by_id, x->nidents, sizeof(*x->by_id), by_id_cmp, x->idents);
	return 0;
}

struct ipc_tmp {
	struct ipcache_entry e;
	size_t pod;
};

static int ipc_tmp_cmp(const void *a, const void *b)
{
	const struct ipc_tmp *x = a, *y = b;
	int r = ipcache_cmp(&x->e, &y->e);

	if (r)
		return r;
	if (x->e.val.identity != y->e.val.identity)
		return x->e.val.identity < y->e.val.identity ? -1 : 1;
	return x->pod < y->pod ? -1 : x->pod > y->pod;
}

/* One /32 or /128 per pod address; an address two pods claim keeps the
 * smaller identity (deterministic) and is reported. */
static int build_ipcache(struct ctx *x)
{
	const struct policy_set *s = x->set;
	struct vec t = VEC_INIT(struct ipc_tmp);
	char buf[IPADDR_STRLEN];
	int err = 0;

	for (size_t i = 0; i < s->npods; i++) {
		const struct pod *pod = &s->pods[i];

		for (size_t j = 0; x->pod_id[i] && j < pod->nips && j < 4; j++) {
			struct ipc_tmp *e;

			if (pod->ips[j].family != AF_INET && pod->ips[j].family != AF_INET6)
				continue;
			e = vec_push(&t);
			if (!e) {
				err = -ENOMEM;
				goto out;
			}
			cidr_key(&e->e.key, &pod->ips[j]);
			e->e.val.identity = x->pod_id[i];
			e->pod = i;
		}
	}
	vsort(t.v, t.n, t.size, ipc_tmp_cmp);
	for (size_t i = 0; i < t.n; i++) {
		const struct ipc_tmp *e = vec_at(&t, i), *prev = i ? vec_at(&t, i - 1) : NULL;
		const struct pod *pod = &s->pods[e->pod];
		struct ipcache_entry *out;
		struct ipaddr a;

		if (prev && !ipcache_cmp(&prev->e, &e->e)) {
			if (prev->e.val.identity == e->e.val.identity)
				continue;
			key_addr(&e->e.key, &a);
			err = add_error(x, "Pod", pod->ns, pod->name,
					"status.podIPs %s: also the address of pod %s/%s, which keeps it",
					ipaddr_fmt(&a, buf), s0(s->pods[prev->pod].ns),
					s0(s->pods[prev->pod].name));
			if (err)
				goto out;
			continue;
		}
		out = vec_push(&x->ipcache);
		if (!out) {
			err = -ENOMEM;
			goto out;
		}
		*out = e->e;
	}
	if (x->ipcache.n > XDP_MAX_IPCACHE)
		err = add_error(x, "ipcache", NULL, NULL, "%zu entries exceed the map's %d",
				x->ipcache.n, XDP_MAX_IPCACHE);
out:
	vec_free(&t);
	return err;
}

/* ---- rules -------------------------------------------------------------- */

static int pol_order_cmp(const void *a, const void *b, void *arg)
{
	const struct policy_set *s = arg;
	size_t i = *(const size_t *)a, j = *(const size_t *)b;
	const struct netpol *x = &s->pols[i], *y = &s->pols[j];
	int r = strcmp(s0(x->ns), s0(y->ns));

	if (!r)
		r = strcmp(s0(x->name), s0(y->name));
	return r ? r : (i < j ? -1 : i > j);
}

static int pod_order_cmp(const void *a, const void *b, void *arg)
{
	const struct policy_set *s = arg;
	size_t i = *(const size_t *)a, j = *(const size_t *)b;
	const struct pod *x = &s->pods[i], *y = &s->pods[j];
	int r = strcmp(s0(x->ns), s0(y->ns));

	if (!r)
		r = strcmp(s0(x->name), s0(y->name));
	return r ? r : (i < j ? -1 : i > j);
}

/* Cookies follow (namespace, name), not the order of the set, so that the
 * same policies always compile to the same cookies. */
static int build_rules(struct ctx *x, struct vec *refs)
{
	const struct policy_set *s = x->set;
	size_t npeers = 0, nports = 0, c = 0;

	x->pol_order = calloc(s->npols + 1, sizeof(*x->pol_order));
	x->cookie_base = calloc(s->npols + 1, sizeof(*x->cookie_base));
	if (!x->pol_order || !x->cookie_base)
		return -ENOMEM;
	for (size_t i = 0; i < s->npols; i++) {
		x->pol_order[i] = i;
		x->nrules += s->pols[i].ningress + s->pols[i].negress;
	}
	qsort_r(x->pol_order, s->npols, sizeof(*x->pol_order), pol_order_cmp, (void *)s);
	x->rinfo = calloc(x->nrules + 1, sizeof(*x->rinfo));
	if (!x->rinfo || vec_reserve(refs, x->nrules))
		return -ENOMEM;
	for (size_t k = 0; k < s->npols; k++) {
		const struct netpol *pol = &s->pols[x->pol_order[k]];

		x->cookie_base[x->pol_order[k]] = (uint32_t)c;
		for (int dir = XDP_DIR_INGRESS; dir <= XDP_DIR_EGRESS; dir++) {
			const struct rule *r = dir == XDP_DIR_INGRESS ? pol->ingress : pol->egress;
			size_t nr = dir == XDP_DIR_INGRESS ? pol->ningress : pol->negress;

			for (size_t i = 0; i < nr; i++, c++) {
				struct rule_ref *ref = vec_push(refs);

				x->rinfo[c] = (struct rule_info){ pol, &r[i], dir, (int)i, npeers, nports };
				npeers += r[i].npeers;
				nports += r[i].nports;
				*ref = (struct rule_ref){ (uint32_t)c, pol->ns, pol->name, dir, (int)i };
			}
		}
	}
	x->peer_cache = calloc(npeers + 1, sizeof(*x->peer_cache));
	x->named = calloc(nports + 1, 1);
	if (!x->peer_cache || !x->named)
		return -ENOMEM;
	for (size_t i = 0; i < npeers; i++)
		x->peer_cache[i].ids.size = sizeof(size_t);
	return 0;
}

static uint32_t cookie_of(const struct ctx *x, size_t pol, int dir, size_t rule)
{
	const struct netpol *p = &x->set->pols[pol];

	return x->cookie_base[pol] + (uint32_t)(dir == XDP_DIR_EGRESS ? p->ningress : 0) +
	       (uint32_t)rule;
}

/* The slice of pol_order (or pod_order) whose namespace is ns. */
static void ns_range(const struct ctx *x, const size_t *order, size_t n, bool pods,
		     const char *ns, size_t *lo, size_t *hi)
{
	size_t a = 0, b = n;

	while (a < b) {
		size_t mid = (a + b) / 2;
		const char *v = pods ? x->set->pods[order[mid]].ns : x->set->pols[order[mid]].ns;

		if (strcmp(s0(v), s0(ns)) < 0)
			a = mid + 1;
		else
			b = mid;
	}
	*lo = a;
	for (b = n; a < b;) {
		size_t mid = (a + b) / 2;
		const char *v = pods ? x->set->pods[order[mid]].ns : x->set->pols[order[mid]].ns;

		if (strcmp(s0(v), s0(ns)) <= 0)
			a = mid + 1;
		else
			b = mid;
	}
	*hi = a;
}

static const struct pod *pod_find(const struct ctx *x, const char *ns, const char *name)
{
	size_t lo, hi;

	if (!ns || !name)
		return NULL;
	ns_range(x, x->pod_order, x->set->npods, true, ns, &lo, &hi);
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int r = strcmp(s0(x->set->pods[x->pod_order[mid]].name), name);

		if (!r) {
			/* the first of duplicates */
			while (mid > lo && !strcmp(s0(x->set->pods[x->pod_order[mid - 1]].name), name))
				mid--;
			return &x->set->pods[x->pod_order[mid]];
		}
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* The union of the rules of every policy that selects the pod and has this
 * policyType; *isolated if there is any such policy. */
static int compile_dir(struct ctx *x, uint32_t ep_id, const struct pod *pod, int dir,
		       bool *isolated)
{
	size_t lo, hi;
	int err = 0;

	x->blocks.n = 0;
	x->branges.n = 0;
	ns_range(x, x->pol_order, x->set->npols, false, pod->ns, &lo, &hi);
	for (size_t k = lo; k < hi && !err; k++) {
		const struct netpol *pol = &x->set->pols[x->pol_order[k]];
		bool isolates = dir == XDP_DIR_INGRESS ? pol->ingress_isolates : pol->egress_isolates;
		size_t nr = dir == XDP_DIR_INGRESS ? pol->ningress : pol->negress;

		/* spec.podSelector is not optional: absent reads as {} */
		if (!isolates || !selector_matches(&pol->pod_sel, &pod->labels))
			continue;
		*isolated = true;
		for (size_t i = 0; i < nr && !err; i++)
			err = rule_compile(x, ep_id, pod, cookie_of(x, x->pol_order[k], dir, i));
	}
	if (err || !x->blocks.n)
		return err;
	return cidr_compile(x->blocks.v, x->blocks.n, x->branges.v, ep_id, dir, &x->cidr);
}

/* Sort one endpoint's entries; of equal keys keep the smallest cookie. */
static size_t pol_dedup(struct pol_entry *v, size_t n)
{
	size_t out = 0;

	vsort(v, n, sizeof(*v), pol_cmp);
	for (size_t i = 0; i < n; i++) {
		if (out && !pol_cmp(&v[out - 1], &v[i])) {
			if (v[i].val.rule_cookie < v[out - 1].val.rule_cookie)
				v[out - 1].val = v[i].val;
			continue;
		}
		v[out++] = v[i];
	}
	return out;
}

static int push_ep(struct ctx *x, uint32_t ep_id, uint32_t flags)
{
	struct ep_pol_entry *e = vec_push(&x->eps);

	if (!e)
		return -ENOMEM;
	e->ep_id = ep_id;
	e->val.flags = flags;
	return 0;
}

#define ISOLATED_BOTH (XDP_EP_POL_INGRESS_ISOLATED | XDP_EP_POL_EGRESS_ISOLATED)

static int compile_ep(struct ctx *x, const struct pol_endpoint *ep)
{
	const struct pod *pod = pod_find(x, ep->ns, ep->name);
	size_t pol0 = x->pol.n, cidr0 = x->cidr.n, npol, ncidr;
	uint32_t flags = XDP_EP_POL_READY;
	int err;

	/* Without the pod there are no labels to select it by: fail closed,
	 * and not ready (the datapath says why it drops). */
	if (!pod) {
		err = add_error(x, "Pod", ep->ns, ep->name,
				"endpoint %u: no such pod: isolated, not ready", ep->ep_id);
		return err ? err : push_ep(x, ep->ep_id, ISOLATED_BOTH);
	}
	for (int dir = XDP_DIR_INGRESS; dir <= XDP_DIR_EGRESS; dir++) {
		size_t p = x->pol.n, c = x->cidr.n;
		bool isolated = false;

		err = compile_dir(x, ep->ep_id, pod, dir, &isolated);
		if (isolated)
			flags |= dir == XDP_DIR_INGRESS ? XDP_EP_POL_INGRESS_ISOLATED
							: XDP_EP_POL_EGRESS_ISOLATED;
		if (err != -E2BIG) {
			if (err)
				return err;
			continue;
		}
		x->pol.n = p;
		x->cidr.n = c;
		err = add_error(x, "Pod", pod->ns, pod->name,
				"endpoint %u: an ipBlock prefix needs more than %d port ranges: "
				"%s isolated with no rules", ep->ep_id, XDP_PORTSET_MAX,
				dir == XDP_DIR_INGRESS ? "ingress" : "egress");
		if (err)
			return err;
	}
	npol = x->pol.n > pol0 ? pol_dedup(vec_at(&x->pol, pol0), x->pol.n - pol0) : 0;
	x->pol.n = pol0 + npol;
	ncidr = x->cidr.n - cidr0;
	if (npol > POL_EP_MAX_ENTRIES || ncidr > POL_EP_MAX_CIDR) {
		x->pol.n = pol0;
		x->cidr.n = cidr0;
		flags |= ISOLATED_BOTH;
		err = add_error(x, "Pod", pod->ns, pod->name,
				"endpoint %u: %zu policy and %zu CIDR entries exceed its share "
				"(%d, %d): isolated with no rules", ep->ep_id, npol, ncidr,
				POL_EP_MAX_ENTRIES, POL_EP_MAX_CIDR);
		if (err)
			return err;
	}
	return push_ep(x, ep->ep_id, flags);
}

static int ep_order_cmp(const void *a, const void *b, void *arg)
{
	const struct pol_endpoint *eps = arg;
	size_t i = *(const size_t *)a, j = *(const size_t *)b;
	int r = ep_cmp(&eps[i].ep_id, &eps[j].ep_id);

	return r ? r : (i < j ? -1 : i > j);
}

/* Endpoints in key order; an ep_id claimed twice is a bug upstream of us:
 * fail closed for it. */
static int compile_eps(struct ctx *x, const struct pol_endpoint *eps, size_t neps)
{
	size_t *order = calloc(neps + 1, sizeof(*order));
	int err = 0;

	if (!order)
		return -ENOMEM;
	for (size_t i = 0; i < neps; i++)
		order[i] = i;
	qsort_r(order, neps, sizeof(*order), ep_order_cmp, (void *)eps);
	for (size_t i = 0, j; i < neps && !err; i = j) {
		const struct pol_endpoint *ep = &eps[order[i]];

		for (j = i + 1; j < neps && eps[order[j]].ep_id == ep->ep_id; j++)
			;
		if (j - i == 1) {
			err = compile_ep(x, ep);
			continue;
		}
		for (size_t k = i; k < j && !err; k++)
			err = add_error(x, "Pod", eps[order[k]].ns, eps[order[k]].name,
					"endpoint %u: claimed by %zu pods: isolated, not ready",
					ep->ep_id, j - i);
		if (!err)
			err = push_ep(x, ep->ep_id, ISOLATED_BOTH);
	}
	free(order);
	return err;
}

/* A port name that no pod it was resolved against has (ingress: the local
 * pods the policy selects; egress: the pods its peers select): no entry,
 * reported once per policy port. */
static int named_warnings(struct ctx *x)
{
	char pbuf[8];
	int err = 0;

	for (size_t c = 0; c < x->nrules && !err; c++) {
		const struct rule_info *ri = &x->rinfo[c];

		for (size_t i = 0; i < ri->rule->nports && !err; i++) {
			const struct policy_port *pp = &ri->rule->ports[i];
			bool in = ri->dir == XDP_DIR_INGRESS;

			if (!pp->port_name || x->named[ri->ports + i] != NAMED_EVALUATED)
				continue;
			err = add_error(x, "NetworkPolicy", ri->pol->ns, ri->pol->name,
					"spec.%s[%d].ports[%zu].port \"%s\": no %s pod has a %s port "
					"of that name", in ? "ingress" : "egress", ri->idx, i,
					pp->port_name, in ? "selected local" : "destination",
					policy_proto_name(port_proto(pp), pbuf));
		}
	}
	return err;
}

/* ---- the whole ---------------------------------------------------------- */

static void ctx_free(struct ctx *x)
{
	free(x->nss);
	free(x->idents);
	free(x->by_id);
	free(x->pod_id);
	free(x->pol_order);
	free(x->pod_order);
	free(x->cookie_base);
	for (size_t i = 0; x->peer_cache && i < x->nrules; i++) {
		const struct rule_info *ri = &x->rinfo[i];

		for (size_t p = 0; p < ri->rule->npeers; p++)
			vec_free(&x->peer_cache[ri->peers + p].ids);
	}
	free(x->rinfo);
	free(x->peer_cache);
	free(x->named);
	vec_free(&x->specs);
	vec_free(&x->dyn);
	vec_free(&x->tmp);
	vec_free(&x->blocks);
	vec_free(&x->branges);
}

/* The port-range block sizes each endpoint has per direction
 * (xdp_ep_pol.blocks): the datapath looks up only those. */
static void ep_blocks(struct ctx *x)
{
	const struct pol_entry *pol = x->pol.v;

	for (size_t i = 0; i < x->pol.n; i++) {
		const struct xdp_pol_key *k = &pol[i].key;
		int b = xdp_pol_key_block(k);
		struct ep_pol_entry *ep;

		if (!b)
			continue;
		ep = (struct ep_pol_entry *)compiled_find(x->eps.v, x->eps.n, sizeof(*ep),
							   sizeof(ep->ep_id), &k->ep_id);
		if (ep)
			ep->val.blocks[k->dir & 1] |= (__u16)(1u << (b - 1));
	}
}

static int build(struct ctx *x, const struct pol_endpoint *eps, size_t neps, struct vec *refs)
{
	const struct policy_set *s = x->set;
	int err;

	err = build_namespaces(x);
	if (!err)
		err = build_identities(x);
	if (!err)
		err = build_ipcache(x);
	if (!err)
		err = build_rules(x, refs);
	if (err)
		return err;
	x->pod_order = calloc(s->npods + 1, sizeof(*x->pod_order));
	if (!x->pod_order)
		return -ENOMEM;
	for (size_t i = 0; i < s->npods; i++)
		x->pod_order[i] = i;
	qsort_r(x->pod_order, s->npods, sizeof(*x->pod_order), pod_order_cmp, (void *)s);
	err = compile_eps(x, eps, neps);
	if (!err)
		err = named_warnings(x);
	if (!err && x->pol.n > XDP_MAX_POLICY)
		err = add_error(x, "policy", NULL, NULL, "%zu entries exceed the map's %d",
				x->pol.n, XDP_MAX_POLICY);
	if (!err && x->cidr.n > XDP_MAX_POL_CIDR)
		err = add_error(x, "policy", NULL, NULL, "%zu CIDR entries exceed the map's %d",
				x->cidr.n, XDP_MAX_POL_CIDR);
	if (err)
		return err;
	vsort(x->pol.v, x->pol.n, x->pol.size, pol_cmp);
	vsort(x->cidr.v, x->cidr.n, x->cidr.size, cidr_cmp);
	ep_blocks(x);
	return 0;
}

int policy_compile(const struct policy_set *set, const struct pol_endpoint *eps, size_t neps,
		   struct id_alloc *ids, struct compiled *out)
{
	struct ctx x = {
		.set = set,
		.ids = ids,
		.ipcache = VEC_INIT(struct ipcache_entry),
		.pol = VEC_INIT(struct pol_entry),
		.cidr = VEC_INIT(struct cidr_entry),
		.eps = VEC_INIT(struct ep_pol_entry),
		.errors = VEC_INIT(struct policy_error),
		.specs = VEC_INIT(struct prange),
		.dyn = VEC_INIT(struct dyn_port),
		.tmp = VEC_INIT(struct prange),
		.blocks = VEC_INIT(struct cblock),
		.branges = VEC_INIT(struct prange),
	};
	struct vec refs = VEC_INIT(struct rule_ref);
	int err;

	memset(out, 0, sizeof(*out));
	id_alloc_begin(ids);
	err = build(&x, eps, neps, &refs);
	ctx_free(&x);
	out->ipcache = vec_take(&x.ipcache, &out->nipcache);
	out->pol = vec_take(&x.pol, &out->npol);
	out->cidr = vec_take(&x.cidr, &out->ncidr);
	out->eps = vec_take(&x.eps, &out->neps);
	out->rules = vec_take(&refs, &out->nrules);
	out->errors = vec_take(&x.errors, &out->nerrors);
	if (err) {
		compiled_free(out);
		return err;
	}
	id_alloc_sweep(ids);
	return 0;
}

void compiled_free(struct compiled *c)
{
	for (size_t i = 0; i < c->nerrors; i++) {
		free(c->errors[i].kind);
		free(c->errors[i].ns);
		free(c->errors[i].name);
		free(c->errors[i].reason);
	}
	free(c->ipcache);
	free(c->pol);
	free(c->cidr);
	free(c->eps);
	free(c->rules);
	free(c->errors);
	memset(c, 0, sizeof(*c));
}
