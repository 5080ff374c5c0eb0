/* policysrc: a policy source -> policy_set -> compiled -> the policy maps. */
#include "policysrc.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent.h"
#include "compile.h"
#include "endpoint.h"
#include "log.h"
#include "parse.h"
#include "node.h"
#include "policymap.h"
#include "policysource.h"

#define SEL_TEXT_MAX 160

struct policy_src {
	struct id_alloc *ids;        /* one for the agent's lifetime */
	bool good;                   /* set/comp hold a good result */
	struct policy_set set;
	struct compiled comp;
	struct pol_endpoint *eps;    /* the endpoints comp was compiled for (strings owned) */
	size_t neps;
	long compile_ms;
	uint64_t sig;                /* files and endpoints of the last good load */
	int last_err;                /* of the last failed load, 0 after a good one */
	struct policymap maps;       /* what the pinned maps hold */
	const struct policy_source *src; /* where policies, pods and namespaces come from */
};

/* ---- endpoints -------------------------------------------------------------- */

struct ep_vec {
	struct pol_endpoint *v;
	size_t n, cap;
	int err;
};

static void eps_free(struct pol_endpoint *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free((char *)v[i].ns);
		free((char *)v[i].name);
	}
	free(v);
}

static int ep_add(const struct endpoint *ep, void *ctx)
{
	struct ep_vec *e = ctx;

	if (e->n == e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 16;
		struct pol_endpoint *v = realloc(e->v, cap * sizeof(*v));

		if (!v)
			return e->err = -ENOMEM;
		e->v = v;
		e->cap = cap;
	}
	e->v[e->n].ep_id = (uint32_t)ep->host_ifindex;
	e->v[e->n].ns = strdup(ep->pod_namespace);
	e->v[e->n].name = strdup(ep->pod_name);
	e->n++;
	if (!e->v[e->n - 1].ns || !e->v[e->n - 1].name)
		return e->err = -ENOMEM;
	return 0;
}

/* ---- loading ---------------------------------------------------------------- */

static bool same_str(const char *x, const char *y)
{
	return (!x && !y) || (x && y && !strcmp(x, y));
}

static bool same_error(const struct policy_error *x, const struct policy_error *y)
{
	return same_str(x->kind, y->kind) && same_str(x->ns, y->ns) && same_str(x->name, y->name) &&
	       same_str(x->reason, y->reason);
}

static bool had_error(const struct policy_src *s, const struct policy_error *e)
{
	if (!s->good)
		return false;
	for (size_t i = 0; i < s->set.nerrors; i++)
		if (same_error(&s->set.errors[i], e))
			return true;
	for (size_t i = 0; i < s->comp.nerrors; i++)
		if (same_error(&s->comp.errors[i], e))
			return true;
	return false;
}

/* Each invalid object once: those the previous good result did not have
 * (logged, and reported where the source can: Events on the object). */
static void log_new_errors(struct agent *a, const struct policy_src *s,
			   const struct policy_error *v, size_t n)
{
	char esc[1024];

	for (size_t i = 0; i < n; i++) {
		if (had_error(s, &v[i]))
			continue;
		log_warn("policy", "invalid object", "kind=%s object=%s/%s reason=\"%s\"",
			 v[i].kind ? v[i].kind : "-", v[i].ns ? v[i].ns : "-",
			 v[i].name ? v[i].name : "-",
			 log_esc(v[i].reason ? v[i].reason : "", esc, sizeof(esc)));
		if (s->src->report)
			s->src->report(a, &v[i], false);
	}
}

static void commit(struct agent *a, struct policy_src *s, bool used)
{
	if (s->src->commit)
		s->src->commit(a, used);
}

static long now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static struct policy_src *src_get(struct agent *a)
{
	if (!a->policy) {
		a->policy = calloc(1, sizeof(*a->policy));
		if (a->policy && !(a->policy->ids = id_alloc_new())) {
			free(a->policy);
			a->policy = NULL;
		}
		if (a->policy)
			a->policy->src = a->cfg.kube.enabled ? &policy_source_k8s
							     : &policy_source_dir;
	}
	return a->policy;
}

const char *policysrc_dir(const struct agent *a)
{
	return a->cfg.policy_dir;
}

static bool was_failed(const uint32_t *v, size_t n, uint32_t ep)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == ep)
			return true;
	return false;
}

/* Endpoints whose entries stopped fitting in this apply, to the source
 * (an Event on their Pod): they are denied everything until they fit. */
static void report_map_full(struct agent *a, struct policy_src *s, const uint32_t *old,
			    size_t nold)
{
	char ns[256] = "", name[256] = "", why[200];
	struct policy_error e = { "Pod", ns, name, why };

	if (!s->src->report)
		return;
	for (size_t i = 0; i < s->maps.nfailed; i++) {
		if (was_failed(old, nold, s->maps.failed[i]))
			continue;
		ns[0] = name[0] = '\0';
		policysrc_ep_name(a, s->maps.failed[i], ns, sizeof(ns), name, sizeof(name));
		if (!ns[0])
			continue;
		snprintf(why, sizeof(why), "policy map full: the allow entries of this pod do not "
			 "fit, so all its traffic is denied until they do (endpoint %u)",
			 s->maps.failed[i]);
		s->src->report(a, &e, true);
	}
}

/* The last good result -> the maps; enforcement starts after the first
 * successful apply. */
static int apply(struct agent *a, struct policy_src *s)
{
	uint32_t old[POLICYMAP_FAILED_MAX];
	size_t nold = s->maps.nfailed;
	int err;

	memcpy(old, s->maps.failed, nold * sizeof(old[0]));
	err = policymap_apply(a, &s->maps, &s->comp);
	if (err)
		return err;
	report_map_full(a, s, old, nold);
	if (!a->policy_on) {
		a->policy_on = true;
		err = node_config_write(a, a->ready);
		if (err) {
			a->policy_on = false;
			policymap_free(&s->maps); /* retried at the next load */
			log_error("policy", "cannot enable enforcement in xdp_config", "err=\"%s\"",
				  strerror(-err));
			return err;
		}
		log_info("policy", "NetworkPolicy enforced", NULL);
	}
	return 0;
}

int policysrc_load(struct agent *a, bool force)
{
	struct policy_src *s = src_get(a);
	struct policy_set set = { 0 };
	struct compiled comp = { 0 };
	struct ep_vec eps = { 0 };
	const char *dir = a->cfg.kube.enabled ? "(kubernetes)" : a->cfg.policy_dir;
	const char *why = "out of memory";
	uint64_t sig = 0xcbf29ce484222325ULL;
	int err, nfiles = 0;
	long t0, ms;

	if (!s) {
		log_warn("policy", "policy load failed, keeping the previous result",
			 "err=\"out of memory\"");
		return -ENOMEM;
	}
	if (!dir[0]) { /* none (any more, after a reload): nothing loaded or enforced */
		policymap_free(&s->maps);
		if (a->policy_on) {
			a->policy_on = false;
			node_config_write(a, a->ready);
			log_info("policy", "policyDir removed: NetworkPolicy no longer enforced", NULL);
		}
		if (s->good) {
			compiled_free(&s->comp);
			policy_set_free(&s->set);
			s->good = false;
		}
		eps_free(s->eps, s->neps);
		s->eps = NULL;
		s->neps = 0;
		return 0;
	}
	err = endpoint_foreach(a->cfg.endpoint_dir, ep_add, &eps);
	if (eps.err)
		err = eps.err;
	if (err) {
		why = "cannot read endpoint records";
		goto fail;
	}
	for (size_t i = 0; i < eps.n; i++) {
		sig = policy_sig(sig, &eps.v[i].ep_id, sizeof(eps.v[i].ep_id));
		sig = policy_sig(sig, eps.v[i].ns, strlen(eps.v[i].ns) + 1);
		sig = policy_sig(sig, eps.v[i].name, strlen(eps.v[i].name) + 1);
	}
	err = s->src->load(a, &set, &sig, &nfiles, &why);
	if (err)
		goto fail;
	if (!force && s->good && sig == s->sig && s->maps.synced) {
		policy_set_free(&set);
		eps_free(eps.v, eps.n);
		commit(a, s, false);
		return 0;
	}
	t0 = now_ms();
	err = policy_compile(&set, eps.v, eps.n, s->ids, &comp);
	ms = now_ms() - t0;
	if (err) {
		why = "compile failed";
		policy_set_free(&set);
		commit(a, s, false);
		goto fail;
	}
	log_new_errors(a, s, set.errors, set.nerrors);
	log_new_errors(a, s, comp.errors, comp.nerrors);
	if (s->good) {
		compiled_free(&s->comp);
		policy_set_free(&s->set);
	}
	eps_free(s->eps, s->neps);
	s->set = set;
	s->comp = comp;
	s->eps = eps.v;
	s->neps = eps.n;
	s->compile_ms = ms;
	s->sig = sig;
	s->good = true;
	s->last_err = 0;
	commit(a, s, true);
	log_info("policy", "policies loaded",
		 "source=%s objects=%d policies=%zu pods=%zu namespaces=%zu errors=%zu "
		 "entries_policy=%zu entries_cidr=%zu entries_ipcache=%zu compile_ms=%ld",
		 dir, nfiles, set.npols, set.npods, set.nnss, set.nerrors + comp.nerrors, comp.npol,
		 comp.ncidr, comp.nipcache, ms);
	return apply(a, s);
fail:
	policy_set_free(&set);
	eps_free(eps.v, eps.n);
	/* The same failure again (every resync) is logged at debug level. */
	log_kv(err == s->last_err ? LOG_DEBUG : LOG_WARN, "policy",
	       "policy load failed, keeping the previous result", "dir=%s why=\"%s\" err=\"%s\"",
	       dir, why, strerror(-err));
	s->last_err = err;
	return err;
}

void policysrc_free(struct agent *a)
{
	struct policy_src *s = a->policy;

	if (!s)
		return;
	if (s->good) {
		compiled_free(&s->comp);
		policy_set_free(&s->set);
	}
	eps_free(s->eps, s->neps);
	policymap_free(&s->maps);
	id_alloc_free(s->ids);
	free(s);
	a->policy = NULL;
}

/* ---- API -------------------------------------------------------------------- */

#define ADD(o, k, v) json_object_object_add(o, k, v)

struct sbuf {
	char *p;
	size_t len, off;
};

static void sb_add(struct sbuf *b, const char *fmt, const char *x, const char *y)
{
	if (b->off < b->len)
		b->off += snprintf(b->p + b->off, b->len - b->off, fmt, x, y);
}

/* "app=web,tier in (a,b),!legacy"; "{}" selects every pod. */
static const char *selector_text(const struct selector *sel, char *buf, size_t len)
{
	struct sbuf b = { buf, len, 0 };
	static const char *const ops[] = { [SEL_IN] = " in", [SEL_NOT_IN] = " notin" };

	buf[0] = '\0';
	for (size_t i = 0; i < sel->match_labels.n; i++) {
		sb_add(&b, "%s%s=", b.off ? "," : "", sel->match_labels.v[i].key);
		sb_add(&b, "%s%s", sel->match_labels.v[i].value, "");
	}
	for (size_t i = 0; i < sel->nexprs; i++) {
		const struct sel_expr *e = &sel->exprs[i];

		if (b.off)
			sb_add(&b, "%s%s", ",", "");
		if (e->op == SEL_EXISTS || e->op == SEL_DOES_NOT_EXIST) {
			sb_add(&b, "%s%s", e->op == SEL_DOES_NOT_EXIST ? "!" : "", e->key);
			continue;
		}
		sb_add(&b, "%s%s (", e->key, ops[e->op]);
		for (size_t v = 0; v < e->nvalues; v++)
			sb_add(&b, "%s%s", v ? "," : "", e->values[v]);
		sb_add(&b, "%s%s", ")", "");
	}
	if (!b.off)
		snprintf(buf, len, "{}");
	else if (b.off >= len && len > 4)
		memcpy(buf + len - 4, "...", 4);
	return buf;
}

static struct json_object *str_or_null(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

static const struct pod *pod_find(const struct policy_set *set, const char *ns, const char *name)
{
	for (size_t i = 0; i < set->npods; i++)
		if (!strcmp(set->pods[i].ns, ns) && !strcmp(set->pods[i].name, name))
			return &set->pods[i];
	return NULL;
}

/* The local endpoints (with their Pod) that pol's podSelector selects. */
static struct json_object *selects(const struct policy_src *s, const struct netpol *pol)
{
	struct json_object *arr = json_object_new_array();
	char buf[520];

	for (size_t i = 0; i < s->neps; i++) {
		const struct pol_endpoint *ep = &s->eps[i];
		const struct pod *pod;
		bool dup = false;

		if (strcmp(ep->ns, pol->ns))
			continue;
		pod = pod_find(&s->set, ep->ns, ep->name);
		if (!pod || !selector_matches(&pol->pod_sel, &pod->labels))
			continue;
		for (size_t j = 0; j < i; j++)
			dup |= !strcmp(s->eps[j].ns, ep->ns) && !strcmp(s->eps[j].name, ep->name);
		if (dup)
			continue;
		snprintf(buf, sizeof(buf), "%s/%s", ep->ns, ep->name);
		json_object_array_add(arr, json_object_new_string(buf));
	}
	return arr;
}

static void add_errors(struct json_object *arr, const struct policy_error *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct json_object *o = json_object_new_object();

		ADD(o, "kind", str_or_null(v[i].kind));
		ADD(o, "namespace", str_or_null(v[i].ns));
		ADD(o, "name", str_or_null(v[i].name));
		ADD(o, "reason", str_or_null(v[i].reason));
		json_object_array_add(arr, o);
	}
}

/* Endpoints denied because their entries did not fit, as errors of their pod. */
static void add_map_full(struct json_object *arr, const struct policy_src *s)
{
	for (size_t i = 0; i < s->maps.nfailed; i++) {
		struct json_object *e = json_object_new_object();
		const char *ns = "", *name = "";
		char why[160];

		for (size_t k = 0; k < s->neps; k++)
			if (s->eps[k].ep_id == s->maps.failed[i]) {
				ns = s->eps[k].ns;
				name = s->eps[k].name;
			}
		snprintf(why, sizeof(why),
			 "endpoint %u: policy map full: its entries do not fit, all its traffic is "
			 "denied until they do", s->maps.failed[i]);
		ADD(e, "kind", json_object_new_string("Pod"));
		ADD(e, "namespace", json_object_new_string(ns));
		ADD(e, "name", json_object_new_string(name));
		ADD(e, "reason", json_object_new_string(why));
		json_object_array_add(arr, e);
	}
}

struct json_object *policysrc_json(struct agent *a)
{
	struct json_object *o = json_object_new_object(), *pols = json_object_new_array(),
			   *errs = json_object_new_array(), *st = json_object_new_object(),
			   *ent = json_object_new_object();
	const struct policy_src *s = a->policy && a->policy->good ? a->policy : NULL;
	char sel[SEL_TEXT_MAX];

	for (size_t i = 0; s && i < s->set.npols; i++) {
		const struct netpol *p = &s->set.pols[i];
		struct json_object *po = json_object_new_object(), *types = json_object_new_array();

		ADD(po, "namespace", json_object_new_string(p->ns));
		ADD(po, "name", json_object_new_string(p->name));
		ADD(po, "podSelector", json_object_new_string(selector_text(&p->pod_sel, sel,
									    sizeof(sel))));
		if (p->ingress_isolates)
			json_object_array_add(types, json_object_new_string("Ingress"));
		if (p->egress_isolates)
			json_object_array_add(types, json_object_new_string("Egress"));
		ADD(po, "types", types);
		ADD(po, "ingressRules", json_object_new_int((int)p->ningress));
		ADD(po, "egressRules", json_object_new_int((int)p->negress));
		ADD(po, "selects", selects(s, p));
		json_object_array_add(pols, po);
	}
	if (s) {
		add_errors(errs, s->set.errors, s->set.nerrors);
		add_errors(errs, s->comp.errors, s->comp.nerrors);
		add_map_full(errs, s);
	}
	ADD(st, "policies", json_object_new_int(s ? (int)s->set.npols : 0));
	ADD(st, "pods", json_object_new_int(s ? (int)s->set.npods : 0));
	ADD(st, "namespaces", json_object_new_int(s ? (int)s->set.nnss : 0));
	ADD(ent, "policy", json_object_new_int(s ? (int)s->comp.npol : 0));
	ADD(ent, "cidr", json_object_new_int(s ? (int)s->comp.ncidr : 0));
	ADD(ent, "ipcache", json_object_new_int(s ? (int)s->comp.nipcache : 0));
	ADD(st, "entries", ent);
	ADD(st, "compileMs", json_object_new_int64(s ? s->compile_ms : 0));
	ADD(st, "mapFullEndpoints", json_object_new_int(a->policy ? (int)a->policy->maps.nfailed : 0));
	ADD(st, "mapFullEntriesTotal",
	    json_object_new_uint64(a->policy ? a->policy->maps.map_full_total : 0));
	ADD(o, "policies", pols);
	ADD(o, "errors", errs);
	ADD(o, "stats", st);
	return o;
}

/* ---- the last good result, for the policy-get / policy-explain API ------- */

static const struct policy_src *good(const struct agent *a)
{
	return a->policy && a->policy->good ? a->policy : NULL;
}

const struct policy_set *policysrc_set(const struct agent *a)
{
	return good(a) ? &good(a)->set : NULL;
}

const struct compiled *policysrc_compiled(const struct agent *a)
{
	return good(a) ? &good(a)->comp : NULL;
}

void policysrc_ep_name(const struct agent *a, uint32_t ep_id, char *ns, size_t nslen, char *name,
		       size_t namelen)
{
	const struct policy_src *s = a->policy;

	for (size_t i = 0; s && i < s->neps; i++) {
		if (s->eps[i].ep_id == ep_id) {
			snprintf(ns, nslen, "%s", s->eps[i].ns);
			snprintf(name, namelen, "%s", s->eps[i].name);
			return;
		}
	}
}

uint32_t policysrc_ep_id(const struct agent *a, const char *ns, const char *name)
{
	const struct policy_src *s = good(a);

	for (size_t i = 0; s && i < s->neps; i++) {
		if (!strcmp(s->eps[i].ns, ns) && !strcmp(s->eps[i].name, name))
			return s->eps[i].ep_id;
	}
	return 0;
}
