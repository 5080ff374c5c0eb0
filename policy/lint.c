/* lint: offline checks of manifest files (see lint.h).
 *
 * The files are parsed into one policy_set, in order, exactly as the agent
 * parses its policyDir; each file is also parsed alone to learn which
 * file each policy (its last definition) came from. Then every policy is
 * checked against the whole set. Diagnostics come out file by file: the
 * parser's errors first, then the warnings policy by policy. */
#include "lint.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compile.h"
#include "explain.h"
#include "parse.h"
#include "xdpath/policy.h"

#define KUBE_SYSTEM "kube-system"
#define DNS_PORT    53
#define DNS_UDP     1u
#define DNS_TCP     2u
#define SEL_LEN     256

struct origin {
	char *ns, *name;
	size_t file;
};

struct lint {
	const struct lint_file *files;
	struct policy_set set;
	struct origin *org;
	size_t norg, caporg;
	size_t *errs;                 /* per file: its errors' first index in set.errors, and end */
	struct lint_report *out;
	size_t cap;
	/* kube-system as the DNS checks see it */
	struct ns_labels_buf ks_buf;
	const struct labels *ks_labels;
	bool ks_pods;                 /* the files hold pods of kube-system */
};

static const char *s0(const char *s)
{
	return s ? s : "";
}

static uint8_t pp_proto(const struct policy_port *pp)
{
	return pp->proto ? pp->proto : L4_TCP;
}

/* ---- diagnostics ----------------------------------------------------------- */

static char *dup0(const char *s, int *err)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*err = -ENOMEM;
	return d;
}

static int diag(struct lint *l, enum lint_level level, const char *file, const char *check,
		const char *kind, const char *ns, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 8, 9)));

static int diag(struct lint *l, enum lint_level level, const char *file, const char *check,
		const char *kind, const char *ns, const char *name, const char *fmt, ...)
{
	struct lint_report *r = l->out;
	struct lint_diag *d;
	va_list ap;
	int err = 0;

	if (r->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;

		d = realloc(r->v, cap * sizeof(*d));
		if (!d)
			return -ENOMEM;
		r->v = d;
		l->cap = cap;
	}
	d = &r->v[r->n++];
	memset(d, 0, sizeof(*d));
	d->level = level;
	d->file = file;
	d->check = check;
	d->kind = dup0(kind, &err);
	d->ns = dup0(ns, &err);
	d->name = dup0(name, &err);
	va_start(ap, fmt);
	if (vasprintf(&d->msg, fmt, ap) < 0) {
		d->msg = NULL;
		err = -ENOMEM;
	}
	va_end(ap);
	r->nerrors += level == LINT_ERROR;
	r->nwarnings += level == LINT_WARNING;
	return err;
}

static int warn_pol(struct lint *l, const struct netpol *p, const char *file, const char *check,
		    const char *msg)
{
	return diag(l, LINT_WARNING, file, check, "NetworkPolicy", p->ns, p->name, "%s", msg);
}

/* ---- loading ------------------------------------------------------------------ */

static int origin_set(struct lint *l, const char *ns, const char *name, size_t file)
{
	struct origin *o;

	for (size_t i = 0; i < l->norg; i++) {
		if (!strcmp(l->org[i].ns, s0(ns)) && !strcmp(l->org[i].name, s0(name))) {
			l->org[i].file = file;
			return 0;
		}
	}
	if (l->norg == l->caporg) {
		size_t cap = l->caporg ? l->caporg * 2 : 16;

		o = realloc(l->org, cap * sizeof(*o));
		if (!o)
			return -ENOMEM;
		l->org = o;
		l->caporg = cap;
	}
	o = &l->org[l->norg];
	o->ns = strdup(s0(ns));
	o->name = strdup(s0(name));
	o->file = file;
	if (!o->ns || !o->name) {
		free(o->ns);
		free(o->name);
		return -ENOMEM;
	}
	l->norg++;
	return 0;
}

static size_t origin_of(const struct lint *l, const struct netpol *p)
{
	for (size_t i = 0; i < l->norg; i++) {
		if (!strcmp(l->org[i].ns, s0(p->ns)) && !strcmp(l->org[i].name, s0(p->name)))
			return l->org[i].file;
	}
	return 0;
}

static const char *check_of(const struct policy_error *e)
{
	return e->reason && strstr(e->reason, "ipBlock.except[") ? "ipblock-except" : "invalid";
}

static int load_file(struct lint *l, size_t i)
{
	const struct lint_file *f = &l->files[i];
	struct policy_set alone = { 0 };
	size_t e0 = l->set.nerrors;
	int err;

	err = policy_parse(&alone, f->text, f->len, f->name);
	for (size_t k = 0; !err && k < alone.npols; k++)
		err = origin_set(l, alone.pols[k].ns, alone.pols[k].name, i);
	policy_set_free(&alone);
	if (!err)
		err = policy_parse(&l->set, f->text, f->len, f->name);
	l->errs[2 * i] = e0;
	l->errs[2 * i + 1] = l->set.nerrors;
	return err;
}

/* File f: the parser's errors, then its policies' warnings. */
static int check_policy(struct lint *l, const struct netpol *p, const char *file);

static int check_file(struct lint *l, size_t f)
{
	const char *name = l->files[f].name;
	int err = 0;

	for (size_t k = l->errs[2 * f]; k < l->errs[2 * f + 1] && !err; k++) {
		const struct policy_error *e = &l->set.errors[k];

		err = diag(l, LINT_ERROR, name, check_of(e), e->kind, e->ns, e->name, "%s",
			   s0(e->reason));
	}
	for (size_t i = 0; i < l->set.npols && !err; i++) {
		if (origin_of(l, &l->set.pols[i]) == f)
			err = check_policy(l, &l->set.pols[i], name);
	}
	return err;
}

/* ---- selectors ------------------------------------------------------------------- */

/* Does every pod that p selects certainly match q? Judged from the terms:
 * each of q's must be one of p's (or implied by one). */
static bool requires_label(const struct selector *p, const char *k, const char *v)
{
	for (size_t i = 0; i < p->match_labels.n; i++) {
		if (!strcmp(s0(p->match_labels.v[i].key), k) &&
		    !strcmp(s0(p->match_labels.v[i].value), v))
			return true;
	}
	for (size_t i = 0; i < p->nexprs; i++) {
		const struct sel_expr *e = &p->exprs[i];

		if (e->op == SEL_IN && e->nvalues == 1 && !strcmp(s0(e->key), k) &&
		    !strcmp(s0(e->values[0]), v))
			return true;
	}
	return false;
}

static bool in_values(const struct sel_expr *e, const char *v)
{
	for (size_t i = 0; i < e->nvalues; i++) {
		if (!strcmp(s0(e->values[i]), v))
			return true;
	}
	return false;
}

static bool same_expr(const struct sel_expr *a, const struct sel_expr *b)
{
	if (a->op != b->op || strcmp(s0(a->key), s0(b->key)) || a->nvalues != b->nvalues)
		return false;
	for (size_t i = 0; i < a->nvalues; i++) {
		if (!in_values(b, s0(a->values[i])))
			return false;
	}
	return true;
}

static bool implies_expr(const struct selector *p, const struct sel_expr *q)
{
	for (size_t i = 0; i < p->nexprs; i++) {
		if (same_expr(&p->exprs[i], q))
			return true;
	}
	for (size_t i = 0; i < p->match_labels.n; i++) {
		const struct label *l = &p->match_labels.v[i];

		if (strcmp(s0(l->key), s0(q->key)))
			continue;
		switch (q->op) {
		case SEL_EXISTS:
			return true;
		case SEL_IN:
			return in_values(q, s0(l->value));
		case SEL_NOT_IN:
			return !in_values(q, s0(l->value));
		case SEL_DOES_NOT_EXIST:
			return false;
		}
	}
	return false;
}

static bool sel_implies(const struct selector *p, const struct selector *q)
{
	if (!q->present)
		return true;
	for (size_t i = 0; i < q->match_labels.n; i++) {
		if (!requires_label(p, s0(q->match_labels.v[i].key), s0(q->match_labels.v[i].value)))
			return false;
	}
	for (size_t i = 0; i < q->nexprs; i++) {
		if (!implies_expr(p, &q->exprs[i]))
			return false;
	}
	return true;
}

/* ---- DNS ----------------------------------------------------------------------------- */

/* Does pod name port 53 of proto so? */
static bool names_dns(const struct pod *pod, const char *name, uint8_t proto)
{
	for (size_t i = 0; i < pod->nports; i++) {
		const struct container_port *c = &pod->ports[i];

		if (c->name && !strcmp(c->name, name) && c->proto == proto && c->port == DNS_PORT)
			return true;
	}
	return false;
}

static bool is_ks_pod(const struct pod *p)
{
	return !p->host_network && !strcmp(s0(p->ns), KUBE_SYSTEM);
}

/* A port name counts when a kube-system pod of the files gives it port 53;
 * with no kube-system pods there is nothing to resolve it against: it may
 * well be DNS, so it is not held against the policy. */
static bool port_allows_dns(const struct lint *l, const struct policy_port *pp, uint8_t proto)
{
	uint16_t end;

	if (pp_proto(pp) != proto)
		return false;
	if (pp->port_name) {
		if (!l->ks_pods)
			return true;
		for (size_t i = 0; i < l->set.npods; i++) {
			const struct pod *p = &l->set.pods[i];

			if (is_ks_pod(p) && names_dns(p, pp->port_name, proto))
				return true;
		}
		return false;
	}
	end = pp->end_port > pp->port ? pp->end_port : pp->port;
	return !pp->port || (pp->port <= DNS_PORT && DNS_PORT <= end);
}

static bool peer_allows_dns(const struct lint *l, const struct netpol *pol, const struct peer *pe)
{
	if (pe->has_ip_block)
		return true;
	if (!pe->pod_sel.present && !pe->ns_sel.present)
		return false;
	if (pe->ns_sel.present ? !selector_matches(&pe->ns_sel, l->ks_labels)
			       : strcmp(s0(pol->ns), KUBE_SYSTEM))
		return false;
	if (!pe->pod_sel.present || !l->ks_pods)
		return true;
	for (size_t i = 0; i < l->set.npods; i++) {
		if (is_ks_pod(&l->set.pods[i]) &&
		    selector_matches(&pe->pod_sel, &l->set.pods[i].labels))
			return true;
	}
	return false;
}

/* DNS_UDP | DNS_TCP: what pol's egress rules allow to kube-system on 53. */
static unsigned pol_dns(const struct lint *l, const struct netpol *pol)
{
	unsigned got = 0;

	for (size_t r = 0; r < pol->negress; r++) {
		const struct rule *ru = &pol->egress[r];
		bool peer = !ru->npeers;

		for (size_t i = 0; i < ru->npeers && !peer; i++)
			peer = peer_allows_dns(l, pol, &ru->peers[i]);
		if (!peer)
			continue;
		if (!ru->nports)
			return DNS_UDP | DNS_TCP;
		for (size_t i = 0; i < ru->nports; i++) {
			got |= port_allows_dns(l, &ru->ports[i], L4_UDP) ? DNS_UDP : 0;
			got |= port_allows_dns(l, &ru->ports[i], L4_TCP) ? DNS_TCP : 0;
		}
	}
	return got;
}

/* What pod may send to DNS: the union over the policies isolating its egress. */
static unsigned pod_dns(const struct lint *l, const struct pod *pod)
{
	unsigned got = 0;

	for (size_t i = 0; i < l->set.npols; i++) {
		if (policy_isolates(&l->set.pols[i], pod, XDP_DIR_EGRESS))
			got |= pol_dns(l, &l->set.pols[i]);
	}
	return got;
}

/* Without its pods: the policies that certainly select all of them. */
static unsigned abstract_dns(const struct lint *l, const struct netpol *p)
{
	unsigned got = 0;

	for (size_t i = 0; i < l->set.npols; i++) {
		const struct netpol *q = &l->set.pols[i];

		if (q->egress_isolates && !strcmp(s0(q->ns), s0(p->ns)) &&
		    sel_implies(&p->pod_sel, &q->pod_sel))
			got |= pol_dns(l, q);
	}
	return got;
}

static int check_dns(struct lint *l, const struct netpol *p, const char *file)
{
	const struct pod *example = NULL;
	unsigned blocked = 0;
	char who[600], msg[1024];

	if (!p->egress_isolates)
		return 0;
	for (size_t i = 0; i < l->set.npods; i++) {
		const struct pod *pod = &l->set.pods[i];
		unsigned b;

		if (pod->host_network || !policy_isolates(p, pod, XDP_DIR_EGRESS))
			continue;
		b = (DNS_UDP | DNS_TCP) & ~pod_dns(l, pod);
		if (b && !example)
			example = pod;
		blocked |= b;
	}
	if (!example)
		blocked = (DNS_UDP | DNS_TCP) & ~abstract_dns(l, p);
	if (!blocked)
		return 0;
	if (example)
		snprintf(who, sizeof(who), "pod %s/%s", s0(example->ns), s0(example->name));
	else
		snprintf(who, sizeof(who), "its pods");
	if (blocked == (DNS_UDP | DNS_TCP))
		snprintf(msg, sizeof(msg), "blocks DNS: egress is isolated and no egress rule of "
			 "the policies selecting %s allows UDP 53 or TCP 53 to kube-system", who);
	else
		snprintf(msg, sizeof(msg), "blocks DNS over %s: egress is isolated and no egress "
			 "rule of the policies selecting %s allows %s 53 to kube-system (%s 53 is "
			 "allowed)", blocked == DNS_UDP ? "UDP" : "TCP", who,
			 blocked == DNS_UDP ? "UDP" : "TCP", blocked == DNS_UDP ? "TCP" : "UDP");
	return warn_pol(l, p, file, "dns-blocked", msg);
}

/* ---- selectors that match nothing ------------------------------------------------------- */

static bool any_pod_in(const struct lint *l, const struct netpol *p)
{
	for (size_t i = 0; i < l->set.npods; i++) {
		const struct pod *pod = &l->set.pods[i];

		if (!strcmp(s0(pod->ns), s0(p->ns)) && selector_matches(&p->pod_sel, &pod->labels))
			return true;
	}
	return false;
}

static bool any_peer_pod(const struct lint *l, const struct netpol *p, const struct peer *pe)
{
	for (size_t i = 0; i < l->set.npods; i++) {
		if (policy_peer_matches(&l->set, p, pe, &l->set.pods[i], NULL))
			return true;
	}
	return false;
}

static int check_selectors(struct lint *l, const struct netpol *p, const char *file)
{
	char sel[SEL_LEN], nsel[SEL_LEN], where[SEL_LEN + 16], msg[1024];
	int err = 0;

	if (!any_pod_in(l, p)) {
		snprintf(msg, sizeof(msg), "spec.podSelector %s matches no pod of namespace %s in "
			 "the files", policy_selector_text(&p->pod_sel, sel, sizeof(sel)), s0(p->ns));
		err = warn_pol(l, p, file, "selector-no-pods", msg);
	}
	for (int dir = XDP_DIR_INGRESS; dir <= XDP_DIR_EGRESS && !err; dir++) {
		const struct rule *rs = dir == XDP_DIR_INGRESS ? p->ingress : p->egress;
		size_t nr = dir == XDP_DIR_INGRESS ? p->ningress : p->negress;

		for (size_t r = 0; r < nr && !err; r++) {
			for (size_t k = 0; k < rs[r].npeers && !err; k++) {
				const struct peer *pe = &rs[r].peers[k];

				if (!pe->pod_sel.present || any_peer_pod(l, p, pe))
					continue;
				if (pe->ns_sel.present &&
				    strcmp(policy_selector_text(&pe->ns_sel, nsel, sizeof(nsel)), "{}"))
					snprintf(where, sizeof(where), "namespaces %s", nsel);
				else if (pe->ns_sel.present)
					snprintf(where, sizeof(where), "any namespace");
				else
					snprintf(where, sizeof(where), "namespace %s", s0(p->ns));
				snprintf(msg, sizeof(msg), "spec.%s[%zu].%s[%zu].podSelector %s matches "
					 "no pod of %s in the files",
					 dir == XDP_DIR_INGRESS ? "ingress" : "egress", r,
					 dir == XDP_DIR_INGRESS ? "from" : "to", k,
					 policy_selector_text(&pe->pod_sel, sel, sizeof(sel)), where);
				err = warn_pol(l, p, file, "selector-no-pods", msg);
			}
		}
	}
	return err;
}

/* ---- port names ----------------------------------------------------------------------------- */

/* Is pod a destination of rule r of p in dir? Ingress: p selects it;
 * egress: a peer of the rule selects it (an ipBlock: one of its addresses). */
static bool is_target(const struct lint *l, const struct netpol *p, const struct rule *r,
		      int dir, const struct pod *pod)
{
	if (pod->host_network)
		return false;
	if (dir == XDP_DIR_INGRESS)
		return !strcmp(s0(pod->ns), s0(p->ns)) && selector_matches(&p->pod_sel, &pod->labels);
	if (!r->npeers)
		return true;
	for (size_t k = 0; k < r->npeers; k++) {
		if (policy_peer_matches(&l->set, p, &r->peers[k], pod, NULL))
			return true;
		for (size_t j = 0; j < pod->nips; j++)
			if (policy_peer_matches(&l->set, p, &r->peers[k], pod, &pod->ips[j]))
				return true;
	}
	return false;
}

static bool names_port(const struct pod *pod, const char *name, int proto)
{
	for (size_t i = 0; i < pod->nports; i++) {
		const struct container_port *c = &pod->ports[i];

		if (c->name && !strcmp(c->name, name) && (proto < 0 || c->proto == proto))
			return true;
	}
	return false;
}

static int check_port(struct lint *l, const struct netpol *p, const char *file, int dir,
		      size_t ri, size_t pi)
{
	const struct rule *r = dir == XDP_DIR_INGRESS ? &p->ingress[ri] : &p->egress[ri];
	const struct policy_port *pp = &r->ports[pi];
	const struct pod *other = NULL;
	char pbuf[8], obuf[8], msg[1024];
	size_t ntargets = 0;

	for (size_t i = 0; i < l->set.npods; i++) {
		const struct pod *pod = &l->set.pods[i];

		if (!is_target(l, p, r, dir, pod))
			continue;
		ntargets++;
		if (names_port(pod, pp->port_name, pp_proto(pp)))
			return 0;
		if (!other && names_port(pod, pp->port_name, -1))
			other = pod;
	}
	if (!ntargets) /* the selectors select nothing: reported as such */
		return 0;
	snprintf(msg, sizeof(msg), "spec.%s[%zu].ports[%zu].port \"%s\": no %s has a %s container "
		 "port of that name, so it allows nothing",
		 dir == XDP_DIR_INGRESS ? "ingress" : "egress", ri, pi, pp->port_name,
		 dir == XDP_DIR_INGRESS ? "pod the policy selects" : "destination pod of the rule",
		 policy_proto_name(pp_proto(pp), pbuf));
	if (other) {
		size_t n = strlen(msg);

		for (size_t i = 0; i < other->nports; i++) {
			const struct container_port *c = &other->ports[i];

			if (c->name && !strcmp(c->name, pp->port_name)) {
				snprintf(msg + n, sizeof(msg) - n, " (%s/%s names %s %u so)",
					 s0(other->ns), s0(other->name),
					 policy_proto_name(c->proto, obuf), c->port);
				break;
			}
		}
	}
	return warn_pol(l, p, file, "named-port-unknown", msg);
}

static int check_ports(struct lint *l, const struct netpol *p, const char *file)
{
	int err = 0;

	for (int dir = XDP_DIR_INGRESS; dir <= XDP_DIR_EGRESS && !err; dir++) {
		const struct rule *rs = dir == XDP_DIR_INGRESS ? p->ingress : p->egress;
		size_t nr = dir == XDP_DIR_INGRESS ? p->ningress : p->negress;

		for (size_t r = 0; r < nr && !err; r++) {
			for (size_t k = 0; k < rs[r].nports && !err; k++) {
				if (rs[r].ports[k].port_name)
					err = check_port(l, p, file, dir, r, k);
			}
		}
	}
	return err;
}

/* ---- the whole ------------------------------------------------------------------------------ */

static int check_policy(struct lint *l, const struct netpol *p, const char *file)
{
	int err = 0;

	if (l->out->pods_checked)
		err = check_selectors(l, p, file);
	if (!err && l->out->pods_checked)
		err = check_ports(l, p, file);
	return err ? err : check_dns(l, p, file);
}

static void lint_free(struct lint *l)
{
	for (size_t i = 0; i < l->norg; i++) {
		free(l->org[i].ns);
		free(l->org[i].name);
	}
	free(l->org);
	free(l->errs);
	policy_set_free(&l->set);
}

int policy_lint(const struct lint_file *files, size_t n, struct lint_report *out)
{
	struct lint l = { .files = files, .out = out };
	int err = 0;

	memset(out, 0, sizeof(*out));
	l.errs = calloc(2 * n + 1, sizeof(*l.errs));
	if (!l.errs)
		return -ENOMEM;
	for (size_t i = 0; i < n && !err; i++)
		err = load_file(&l, i);
	if (err)
		goto out;
	out->pods_checked = l.set.npods > 0;
	l.ks_labels = policy_ns_labels(&l.set, KUBE_SYSTEM, &l.ks_buf);
	for (size_t i = 0; i < l.set.npods; i++)
		l.ks_pods |= is_ks_pod(&l.set.pods[i]);
	if (!out->pods_checked && l.set.npols)
		err = diag(&l, LINT_INFO, NULL, "pods-not-checked", NULL, NULL, NULL,
			   "no Pod in the files: podSelectors and port names were not checked "
			   "against pods");
	for (size_t f = 0; f < n && !err; f++)
		err = check_file(&l, f);
out:
	lint_free(&l);
	if (err)
		lint_report_free(out);
	return err;
}

void lint_report_free(struct lint_report *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->v[i].kind);
		free(r->v[i].ns);
		free(r->v[i].name);
		free(r->v[i].msg);
	}
	free(r->v);
	memset(r, 0, sizeof(*r));
}

int lint_exit_code(const struct lint_report *r)
{
	if (r->nerrors)
		return 2;
	return r->nwarnings ? 1 : 0;
}

const char *lint_level_name(enum lint_level l)
{
	switch (l) {
	case LINT_INFO:
		return "info";
	case LINT_WARNING:
		return "warning";
	case LINT_ERROR:
		break;
	}
	return "error";
}
