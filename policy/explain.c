/* explain: policy get / policy explain over the model (see explain.h).
 *
 * Everything here reads the policy_set as upstream NetworkPolicy defines
 * it, with the datapath's own readings where upstream leaves a choice:
 * hostNetwork pods are no peers and have no endpoint, a port name resolves
 * against the destination pod's container ports of the same protocol, and
 * a rule's ports default to TCP. Policies are visited in (namespace, name)
 * order and rules by index: the compiler's cookie order, so "the first rule
 * that allows it" is the one with the smallest cookie. */
#include "explain.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compile.h"
#include "xdpath/policy.h"

#define NS_NAME_LABEL "kubernetes.io/metadata.name"
#define SEL_LEN 256

static const char *s0(const char *s)
{
	return s ? s : "";
}

/* ---- model queries ---------------------------------------------------------- */

const struct labels *policy_ns_labels(const struct policy_set *s, const char *ns,
				      struct ns_labels_buf *buf)
{
	for (size_t i = 0; i < s->nnss; i++) {
		if (!strcmp(s0(s->nss[i].name), s0(ns)))
			return &s->nss[i].labels;
	}
	buf->l = (struct label){ (char *)NS_NAME_LABEL, (char *)s0(ns) };
	buf->ls = (struct labels){ &buf->l, 1 };
	return &buf->ls;
}

const struct pod *policy_pod_find(const struct policy_set *s, const char *ns, const char *name)
{
	for (size_t i = 0; i < s->npods; i++) {
		if (!strcmp(s0(s->pods[i].ns), ns) && !strcmp(s0(s->pods[i].name), name))
			return &s->pods[i];
	}
	return NULL;
}

const struct pod *policy_pod_by_ip(const struct policy_set *s, const struct ipaddr *a)
{
	for (size_t i = 0; i < s->npods; i++) {
		const struct pod *p = &s->pods[i];

		for (size_t j = 0; !p->host_network && j < p->nips; j++) {
			if (ipaddr_equal(&p->ips[j], a))
				return p;
		}
	}
	return NULL;
}

bool policy_isolates(const struct netpol *pol, const struct pod *pod, int dir)
{
	bool iso = dir == XDP_DIR_INGRESS ? pol->ingress_isolates : pol->egress_isolates;

	/* spec.podSelector is not optional: absent reads as {} */
	return iso && !strcmp(s0(pol->ns), s0(pod->ns)) &&
	       selector_matches(&pol->pod_sel, &pod->labels);
}

static bool in_block(const struct ip_block *b, const struct ipaddr *a)
{
	if (!a || !ipnet_contains(&b->cidr, a))
		return false;
	for (size_t i = 0; i < b->nexcept; i++) {
		if (ipnet_contains(&b->except[i], a))
			return false;
	}
	return true;
}

bool policy_peer_matches(const struct policy_set *s, const struct netpol *pol,
			 const struct peer *pe, const struct pod *rp, const struct ipaddr *a)
{
	struct ns_labels_buf buf;

	if (pe->has_ip_block)
		return in_block(&pe->ip_block, a);
	/* a peer with neither selector (the API rejects it) selects nothing */
	if (!rp || rp->host_network || (!pe->pod_sel.present && !pe->ns_sel.present))
		return false;
	if (!pe->ns_sel.present) {
		if (strcmp(s0(rp->ns), s0(pol->ns)))
			return false;
	} else if (!selector_matches(&pe->ns_sel, policy_ns_labels(s, rp->ns, &buf))) {
		return false;
	}
	return selector_matches(&pe->pod_sel, &rp->labels);
}

static uint8_t pp_proto(const struct policy_port *pp)
{
	return pp->proto ? pp->proto : L4_TCP;
}

/* The port target's container ports give name for proto, or 0. */
static uint16_t named(const struct pod *target, const char *name, uint8_t proto, size_t *from)
{
	for (size_t i = *from; target && i < target->nports; i++) {
		const struct container_port *c = &target->ports[i];

		if (c->name && !strcmp(c->name, name) && c->proto == proto && c->port) {
			*from = i + 1;
			return c->port;
		}
	}
	return 0;
}

bool policy_port_matches(const struct policy_port *pp, uint8_t proto, uint16_t port,
			 const struct pod *target)
{
	size_t at = 0;
	uint16_t p;

	if (pp_proto(pp) != proto)
		return false;
	if (pp->port_name) {
		while (port && (p = named(target, pp->port_name, proto, &at)))
			if (p == port)
				return true;
		return false;
	}
	if (!pp->port)
		return true;
	return port >= pp->port && port <= (pp->end_port > pp->port ? pp->end_port : pp->port);
}

const char *policy_selector_text(const struct selector *sel, char *buf, size_t len)
{
	static const char *const ops[] = { [SEL_IN] = " in", [SEL_NOT_IN] = " notin" };
	size_t off = 0;

#define PUT(...) do { if (off < len) off += snprintf(buf + off, len - off, __VA_ARGS__); } while (0)
	buf[0] = '\0';
	for (size_t i = 0; i < sel->match_labels.n; i++)
		PUT("%s%s=%s", off ? "," : "", s0(sel->match_labels.v[i].key),
		    s0(sel->match_labels.v[i].value));
	for (size_t i = 0; i < sel->nexprs; i++) {
		const struct sel_expr *e = &sel->exprs[i];

		if (off)
			PUT(",");
		if (e->op == SEL_EXISTS || e->op == SEL_DOES_NOT_EXIST) {
			PUT("%s%s", e->op == SEL_DOES_NOT_EXIST ? "!" : "", s0(e->key));
			continue;
		}
		PUT("%s%s (", s0(e->key), ops[e->op]);
		for (size_t v = 0; v < e->nvalues; v++)
			PUT("%s%s", v ? "," : "", s0(e->values[v]));
		PUT(")");
	}
#undef PUT
	if (!off)
		snprintf(buf, len, "{}");
	else if (off >= len && len > 4)
		memcpy(buf + len - 4, "...", 4);
	return buf;
}

/* ---- policies of a pod -------------------------------------------------------- */

static int pol_cmp(const void *a, const void *b)
{
	const struct netpol *x = *(const struct netpol *const *)a;
	const struct netpol *y = *(const struct netpol *const *)b;
	int r = strcmp(s0(x->ns), s0(y->ns));

	return r ? r : strcmp(s0(x->name), s0(y->name));
}

/* The policies that isolate pod in dir (dir -1: in either), name order. */
static int pols_of(const struct policy_set *s, const struct pod *pod, int dir,
		   const struct netpol ***out, size_t *n)
{
	*n = 0;
	*out = calloc(s->npols + 1, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	for (size_t i = 0; i < s->npols; i++) {
		const struct netpol *p = &s->pols[i];
		bool sel = dir < 0 ? policy_isolates(p, pod, XDP_DIR_INGRESS) ||
					     policy_isolates(p, pod, XDP_DIR_EGRESS)
				   : policy_isolates(p, pod, dir);

		if (sel)
			(*out)[(*n)++] = p;
	}
	if (*n > 1)
		qsort(*out, *n, sizeof(**out), pol_cmp);
	return 0;
}

/* ---- policy get ---------------------------------------------------------------- */

static bool has_label(const struct labels *l, const struct label *x)
{
	for (size_t i = 0; i < l->n; i++) {
		if (!strcmp(s0(l->v[i].key), s0(x->key)))
			return !strcmp(s0(l->v[i].value), s0(x->value));
	}
	return false;
}

static bool has_named(const struct pod *p, const struct container_port *c)
{
	for (size_t i = 0; i < p->nports; i++) {
		const struct container_port *d = &p->ports[i];

		if (d->name && !strcmp(d->name, c->name) && d->proto == c->proto &&
		    d->port == c->port)
			return true;
	}
	return false;
}

static bool named_subset(const struct pod *a, const struct pod *b)
{
	for (size_t i = 0; i < a->nports; i++) {
		if (a->ports[i].name && !has_named(b, &a->ports[i]))
			return false;
	}
	return true;
}

/* The compiler's identity key: namespace, labels, named ports. */
static bool same_identity(const struct pod *a, const struct pod *b)
{
	if (strcmp(s0(a->ns), s0(b->ns)) || a->labels.n != b->labels.n)
		return false;
	for (size_t i = 0; i < a->labels.n; i++) {
		if (!has_label(&b->labels, &a->labels.v[i]))
			return false;
	}
	return named_subset(a, b) && named_subset(b, a);
}

static int pod_cmp(const void *a, const void *b)
{
	const struct pod *x = *(const struct pod *const *)a, *y = *(const struct pod *const *)b;
	int r = strcmp(s0(x->ns), s0(y->ns));

	return r ? r : strcmp(s0(x->name), s0(y->name));
}

static void idents_free(struct view_ident *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].pods);
	free(v);
}

/* The pods selector peer pe selects, grouped by identity. */
static int peer_idents(const struct policy_set *s, const struct netpol *pol,
		       const struct peer *pe, struct view_entry *e)
{
	const struct pod **pods = calloc(s->npods + 1, sizeof(*pods));
	size_t n = 0;
	int err = -ENOMEM;

	if (!pods)
		return -ENOMEM;
	for (size_t i = 0; i < s->npods; i++) {
		if (policy_peer_matches(s, pol, pe, &s->pods[i], NULL))
			pods[n++] = &s->pods[i];
	}
	if (n > 1)
		qsort(pods, n, sizeof(*pods), pod_cmp);
	e->ids = calloc(n + 1, sizeof(*e->ids));
	if (!e->ids)
		goto out;
	for (size_t i = 0; i < n; i++) {
		struct view_ident *id = NULL;

		for (size_t k = 0; k < e->nids && !id; k++) {
			if (same_identity(e->ids[k].pod, pods[i]))
				id = &e->ids[k];
		}
		if (!id) {
			id = &e->ids[e->nids++];
			id->pod = pods[i];
			id->pods = calloc(n + 1, sizeof(*id->pods));
			if (!id->pods)
				goto out;
		}
		id->pods[id->npods++] = pods[i];
	}
	err = 0;
out:
	free(pods);
	return err;
}

static int u16_cmp(const void *a, const void *b)
{
	return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

static int add_resolved(struct view_entry *e, const struct pod *target, size_t *cap)
{
	const struct policy_port *pp = e->port;
	size_t at = 0;
	uint16_t p;

	while ((p = named(target, pp->port_name, pp_proto(pp), &at))) {
		if (e->nresolved == *cap) {
			size_t c = *cap ? *cap * 2 : 4;
			uint16_t *v = realloc(e->resolved, c * sizeof(*v));

			if (!v)
				return -ENOMEM;
			e->resolved = v;
			*cap = c;
		}
		e->resolved[e->nresolved++] = p;
	}
	return 0;
}

/* A port name: ingress resolves it against the pod itself, egress against
 * the destinations the entry's peer allows. */
static int resolve_entry(const struct policy_set *s, const struct pod *pod, int dir,
			 struct view_entry *e)
{
	size_t cap = 0, out = 0;
	int err = 0;

	if (dir == XDP_DIR_INGRESS) {
		err = add_resolved(e, pod, &cap);
	} else if (e->peer && !e->peer->has_ip_block) {
		for (size_t i = 0; i < e->nids && !err; i++)
			err = add_resolved(e, e->ids[i].pod, &cap);
	} else {
		for (size_t i = 0; i < s->npods && !err; i++) {
			const struct pod *p = &s->pods[i];
			bool in = !e->peer;

			for (size_t j = 0; !in && j < p->nips; j++)
				in = in_block(&e->peer->ip_block, &p->ips[j]);
			if (in && !p->host_network)
				err = add_resolved(e, p, &cap);
		}
	}
	if (err || !e->nresolved)
		return err;
	qsort(e->resolved, e->nresolved, sizeof(*e->resolved), u16_cmp);
	for (size_t i = 0; i < e->nresolved; i++) {
		if (!out || e->resolved[out - 1] != e->resolved[i])
			e->resolved[out++] = e->resolved[i];
	}
	e->nresolved = out;
	return 0;
}

static struct view_entry *entry_push(struct view_dir *d, size_t *cap)
{
	struct view_entry *v;

	if (d->n == *cap) {
		size_t c = *cap ? *cap * 2 : 16;

		v = realloc(d->v, c * sizeof(*v));
		if (!v)
			return NULL;
		d->v = v;
		*cap = c;
	}
	v = &d->v[d->n++];
	memset(v, 0, sizeof(*v));
	return v;
}

/* One rule: every (peer, port) pair, a missing list counting as "every". */
static int view_rule(const struct policy_set *s, const struct pod *pod, int dir,
		     const struct netpol *pol, int ri, struct view_dir *d, size_t *cap)
{
	const struct rule *r = dir == XDP_DIR_INGRESS ? &pol->ingress[ri] : &pol->egress[ri];
	size_t npe = r->npeers ? r->npeers : 1, npo = r->nports ? r->nports : 1;
	int err = 0;

	for (size_t i = 0; i < npe && !err; i++) {
		const struct peer *pe = r->npeers ? &r->peers[i] : NULL;

		for (size_t k = 0; k < npo && !err; k++) {
			struct view_entry *e = entry_push(d, cap);

			if (!e)
				return -ENOMEM;
			e->pol = pol;
			e->rule = ri;
			e->peer_idx = pe ? (int)i : -1;
			e->peer = pe;
			e->port = r->nports ? &r->ports[k] : NULL;
			if (pe && !pe->has_ip_block)
				err = peer_idents(s, pol, pe, e);
			if (!err && e->port && e->port->port_name)
				err = resolve_entry(s, pod, dir, e);
		}
	}
	return err;
}

void policy_view_free(struct policy_view *v)
{
	for (int d = 0; d < 2; d++) {
		for (size_t i = 0; i < v->dir[d].n; i++) {
			idents_free(v->dir[d].v[i].ids, v->dir[d].v[i].nids);
			free(v->dir[d].v[i].resolved);
		}
		free(v->dir[d].v);
		free(v->dir[d].pols);
	}
	free(v->pols);
	memset(v, 0, sizeof(*v));
}

int policy_view(const struct policy_set *s, const struct pod *pod, struct policy_view *out)
{
	int err;

	memset(out, 0, sizeof(*out));
	out->pod = pod;
	err = pols_of(s, pod, -1, &out->pols, &out->npols);
	for (int dir = XDP_DIR_INGRESS; dir <= XDP_DIR_EGRESS && !err; dir++) {
		struct view_dir *d = &out->dir[dir];
		size_t cap = 0;

		err = pols_of(s, pod, dir, &d->pols, &d->npols);
		d->isolated = d->npols > 0;
		for (size_t i = 0; i < d->npols && !err; i++) {
			const struct netpol *p = d->pols[i];
			size_t nr = dir == XDP_DIR_INGRESS ? p->ningress : p->negress;

			for (size_t r = 0; r < nr && !err; r++)
				err = view_rule(s, pod, dir, p, (int)r, d, &cap);
		}
	}
	if (err)
		policy_view_free(out);
	return err;
}

/* ---- port argument -------------------------------------------------------------- */

static int proto_of(const char *s, uint8_t *proto)
{
	static const struct {
		const char *name;
		uint8_t proto;
	} protos[] = {
		{ "TCP", L4_TCP }, { "UDP", L4_UDP }, { "SCTP", L4_SCTP },
		{ "ICMP", EXPLAIN_IPPROTO_ICMP },
	};

	for (size_t i = 0; i < sizeof(protos) / sizeof(protos[0]); i++) {
		if (!strcasecmp(s, protos[i].name)) {
			*proto = protos[i].proto;
			return 0;
		}
	}
	return -1;
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

/* A port name as the API allows it: 1-15 of [a-z0-9-], a letter, no
 * leading, trailing or double '-'. */
static bool port_name_ok(const char *s)
{
	size_t n = strlen(s);
	bool letter = false;

	if (!n || n > 15 || s[0] == '-' || s[n - 1] == '-' || strstr(s, "--"))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) && s[i] != '-')
			return false;
		letter |= islower((unsigned char)s[i]) != 0;
	}
	return letter;
}

int explain_parse_port(const char *spec, uint8_t *proto, uint16_t *port, char *namebuf,
		       size_t namelen, char *err, size_t errlen)
{
	char buf[64], *slash;
	const char *num;

	*proto = L4_TCP;
	*port = 0;
	namebuf[0] = '\0';
	if (!spec || !*spec)
		return 0;
	if (strlen(spec) >= sizeof(buf))
		goto bad;
	strcpy(buf, spec);
	slash = strchr(buf, '/');
	if (slash) {
		*slash = '\0';
		if (proto_of(slash + 1, proto))
			goto bad_proto;
		num = buf;
	} else if (!proto_of(buf, proto)) {
		return 0; /* "TCP", "ICMP": every port */
	} else {
		num = buf;
	}
	if (*proto == EXPLAIN_IPPROTO_ICMP) {
		snprintf(err, errlen, "port \"%s\": ICMP has no ports (say ICMP)", spec);
		return -EINVAL;
	}
	if (all_digits(num)) {
		long v = strlen(num) > 5 ? 0 : strtol(num, NULL, 10);

		if (v < 1 || v > 65535) {
			snprintf(err, errlen, "port \"%s\": %s is not a port number (1-65535)", spec,
				 num);
			return -EINVAL;
		}
		*port = (uint16_t)v;
		return 0;
	}
	if (!port_name_ok(num) || strlen(num) >= namelen)
		goto bad;
	strcpy(namebuf, num);
	return 0;
bad_proto:
	snprintf(err, errlen, "port \"%s\": protocol \"%s\" is not TCP, UDP, SCTP or ICMP", spec,
		 slash + 1);
	return -EINVAL;
bad:
	snprintf(err, errlen, "port \"%s\": want PORT[/PROTOCOL] (80, 53/UDP, http/TCP), "
		 "a protocol alone (TCP: every port) or ICMP", spec);
	return -EINVAL;
}

/* ---- policy explain: the two ends --------------------------------------------------- */

static bool is_host(const struct explain_req *req, const struct ipaddr *a)
{
	for (size_t i = 0; i < req->nhost; i++) {
		if (ipaddr_equal(&req->host[i], a))
			return true;
	}
	return false;
}

/* "NS/POD" -> the pod; an address -> the pod that owns it, or none. */
static int resolve_end(const struct policy_set *s, const char *spec, const char *what,
		       const struct pod **pod, struct ipaddr *ip, char *err, size_t errlen)
{
	char buf[512], *slash;

	*pod = NULL;
	memset(ip, 0, sizeof(*ip));
	if (!spec || !*spec) {
		snprintf(err, errlen, "%s: a pod (NAMESPACE/NAME) or an IP address is required",
			 what);
		return -EINVAL;
	}
	if (!ipaddr_parse(spec, ip)) {
		*pod = policy_pod_by_ip(s, ip);
		return 0;
	}
	slash = strchr(spec, '/');
	if (!slash || slash == spec || !slash[1] || strchr(slash + 1, '/') ||
	    strlen(spec) >= sizeof(buf)) {
		snprintf(err, errlen, "%s: \"%.200s\" is neither NAMESPACE/NAME nor an IP address",
			 what, spec);
		return -EINVAL;
	}
	strcpy(buf, spec);
	buf[slash - spec] = '\0';
	*pod = policy_pod_find(s, buf, buf + (slash - spec) + 1);
	if (!*pod) {
		snprintf(err, errlen, "%s: no pod %.200s (pods are known from their Pod objects)",
			 what, spec);
		return -EINVAL;
	}
	return 0; /* the address: chosen with the other end's family */
}

static const struct ipaddr *pod_ip(const struct pod *p, int family)
{
	for (size_t i = 0; i < p->nips; i++) {
		if (p->ips[i].family == family)
			return &p->ips[i];
	}
	return NULL;
}

static int no_addr(const char *what, const struct pod *p, int fam, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s: pod %s/%s has no %s address (status.podIPs)", what, s0(p->ns),
		 s0(p->name), fam == AF_INET ? "IPv4" : "IPv6");
	return -EINVAL;
}

/* The addresses the packet carries: the address given, or a pod's address
 * of the family of the other end (both pods: IPv4 if both have one). */
static int pick_family(struct explain *e, char *err, size_t errlen)
{
	int fam = e->from_ip.family ? e->from_ip.family : e->to_ip.family;
	const struct ipaddr *a;

	if (e->from_ip.family && e->to_ip.family && e->from_ip.family != e->to_ip.family) {
		snprintf(err, errlen, "from and to are addresses of different families");
		return -EINVAL;
	}
	if (!fam)
		fam = pod_ip(e->from, AF_INET) && pod_ip(e->to, AF_INET) ? AF_INET : AF_INET6;
	if (!e->from_ip.family) {
		a = pod_ip(e->from, fam);
		if (!a)
			return no_addr("from", e->from, fam, err, errlen);
		e->from_ip = *a;
	}
	if (!e->to_ip.family) {
		a = pod_ip(e->to, fam);
		if (!a)
			return no_addr("to", e->to, fam, err, errlen);
		e->to_ip = *a;
	}
	return 0;
}

static int resolve_port(struct explain *e, const struct explain_req *req, char *err,
			size_t errlen)
{
	char pbuf[8];
	size_t at = 0;
	int ret;

	ret = explain_parse_port(req->port, &e->proto, &e->port, e->port_name,
				 sizeof(e->port_name), err, errlen);
	if (ret)
		return ret;
	if (e->proto == EXPLAIN_IPPROTO_ICMP && e->to_ip.family == AF_INET6)
		e->proto = EXPLAIN_IPPROTO_ICMPV6;
	if (!e->port_name[0])
		return 0;
	if (!e->to) {
		snprintf(err, errlen, "port \"%s\": a port name needs a destination pod",
			 req->port);
		return -EINVAL;
	}
	e->port = named(e->to, e->port_name, e->proto, &at);
	if (!e->port) {
		snprintf(err, errlen, "port \"%s\": %s/%s has no %s container port named \"%s\"",
			 req->port, s0(e->to->ns), s0(e->to->name), policy_proto_name(e->proto, pbuf),
			 e->port_name);
		return -EINVAL;
	}
	return 0;
}

/* ---- policy explain: texts ------------------------------------------------------------- */

static void peer_text(FILE *f, const struct netpol *pol, const struct peer *pe)
{
	char sel[SEL_LEN], net[CIDR_STRLEN];
	const struct ip_block *b = &pe->ip_block;

	if (pe->has_ip_block) {
		fprintf(f, "%s", ipnet_fmt(&b->cidr, net));
		for (size_t i = 0; i < b->nexcept; i++)
			fprintf(f, "%s%s", i ? ", " : b->nexcept > 1 ? " except (" : " except ",
				ipnet_fmt(&b->except[i], net));
		if (b->nexcept > 1)
			fprintf(f, ")");
		return;
	}
	if (!pe->pod_sel.present && !pe->ns_sel.present) {
		fprintf(f, "nothing");
		return;
	}
	if (!pe->pod_sel.present || !policy_selector_text(&pe->pod_sel, sel, sizeof(sel)) ||
	    !strcmp(sel, "{}"))
		fprintf(f, "every pod");
	else
		fprintf(f, "pods %s", sel);
	if (!pe->ns_sel.present)
		fprintf(f, " in %s", s0(pol->ns));
	else if (!strcmp(policy_selector_text(&pe->ns_sel, sel, sizeof(sel)), "{}"))
		fprintf(f, " in every namespace");
	else
		fprintf(f, " in namespaces %s", sel);
}

static void peers_text(FILE *f, const struct netpol *pol, const struct rule *r)
{
	if (!r->npeers)
		fprintf(f, "anywhere");
	for (size_t i = 0; i < r->npeers; i++) {
		fprintf(f, "%s", i ? " or " : "");
		peer_text(f, pol, &r->peers[i]);
	}
}

static void port_text(FILE *f, const struct policy_port *pp)
{
	char pbuf[8];
	const char *proto = policy_proto_name(pp_proto(pp), pbuf);

	if (pp->port_name)
		fprintf(f, "%s port \"%s\"", proto, pp->port_name);
	else if (!pp->port)
		fprintf(f, "every %s port", proto);
	else if (pp->end_port > pp->port)
		fprintf(f, "%s %u-%u", proto, pp->port, pp->end_port);
	else
		fprintf(f, "%s %u", proto, pp->port);
}

static void ports_text(FILE *f, const struct rule *r)
{
	if (!r->nports)
		fprintf(f, "every port");
	for (size_t i = 0; i < r->nports; i++) {
		fprintf(f, "%s", i ? ", " : "");
		port_text(f, &r->ports[i]);
	}
}

static const struct rule *rule_of(const struct netpol *pol, int dir, int idx)
{
	return dir == XDP_DIR_INGRESS ? &pol->ingress[idx] : &pol->egress[idx];
}

static void end_text(FILE *f, const struct pod *pod, const struct ipaddr *ip)
{
	char buf[IPADDR_STRLEN];

	if (pod)
		fprintf(f, "%s/%s", s0(pod->ns), s0(pod->name));
	else
		fprintf(f, "%s", ipaddr_fmt(ip, buf));
}

/* Why rule x does not allow the packet: the part(s) that do not match. */
static void miss_text(FILE *f, const struct explain *e, int dir, const struct explain_rule *x)
{
	const struct rule *r = rule_of(x->pol, dir, x->rule);
	const char *fromto = dir == XDP_DIR_INGRESS ? "from" : "to";

	fprintf(f, "rule %d of %s/%s allows ", x->rule, s0(x->pol->ns), s0(x->pol->name));
	if (x->peer_ok) {
		if (dir == XDP_DIR_INGRESS)
			end_text(f, e->from, &e->from_ip);
		else
			end_text(f, e->to, &e->to_ip);
		fprintf(f, " only on ");
		ports_text(f, r);
		return;
	}
	fprintf(f, "only %s ", fromto);
	peers_text(f, x->pol, r);
	if (!x->port_ok) {
		fprintf(f, " on ");
		ports_text(f, r);
	}
}

static void side_name(FILE *f, const struct explain *e, int dir)
{
	fprintf(f, "%s of ", dir == XDP_DIR_INGRESS ? "ingress" : "egress");
	if (dir == XDP_DIR_INGRESS)
		end_text(f, e->to, &e->to_ip);
	else
		end_text(f, e->from, &e->from_ip);
}

static void side_text(FILE *f, const struct explain *e, int dir, const struct explain_side *sd)
{
	const struct pod *pod = dir == XDP_DIR_INGRESS ? e->to : e->from;
	const char *d = dir == XDP_DIR_INGRESS ? "ingress" : "egress";
	bool first = true;

	switch (sd->why) {
	case EXPLAIN_NOT_CHECKED:
		end_text(f, pod, dir == XDP_DIR_INGRESS ? &e->to_ip : &e->from_ip);
		if (pod)
			fprintf(f, " uses the host network: no %s check", d);
		else
			fprintf(f, " is not a pod: no %s check", d);
		return;
	case EXPLAIN_NOT_ISOLATED:
		fprintf(f, "%s/%s is not isolated for %s: no policy with %s in its policyTypes "
			"selects it", s0(pod->ns), s0(pod->name), d,
			dir == XDP_DIR_INGRESS ? "Ingress" : "Egress");
		return;
	case EXPLAIN_HOST:
		fprintf(f, "from this node: ingress from the node to its own pods is always "
			"allowed (kubelet probes)");
		return;
	case EXPLAIN_RULE:
		fprintf(f, "rule %d of %s/%s allows it (%s ", sd->rule, s0(sd->pol->ns),
			s0(sd->pol->name), dir == XDP_DIR_INGRESS ? "from" : "to");
		peers_text(f, sd->pol, rule_of(sd->pol, dir, sd->rule));
		fprintf(f, " on ");
		ports_text(f, rule_of(sd->pol, dir, sd->rule));
		fprintf(f, ")");
		return;
	case EXPLAIN_NO_RULE:
		break;
	}
	fprintf(f, "%s/%s is isolated for %s by [", s0(pod->ns), s0(pod->name), d);
	for (size_t i = 0; i < sd->nisolating; i++)
		fprintf(f, "%s%s/%s", i ? ", " : "", s0(sd->isolating[i]->ns),
			s0(sd->isolating[i]->name));
	fprintf(f, "] and no rule matches");
	for (size_t i = 0; i < sd->nisolating; i++) {
		const struct netpol *p = sd->isolating[i];
		bool any = false;

		for (size_t k = 0; k < sd->nrules; k++) {
			if (sd->rules[k].pol != p)
				continue;
			fprintf(f, "%s", first ? ": " : "; ");
			miss_text(f, e, dir, &sd->rules[k]);
			first = false;
			any = true;
		}
		if (!any) {
			fprintf(f, "%s%s/%s allows no %s", first ? ": " : "; ", s0(p->ns),
				s0(p->name), d);
			first = false;
		}
	}
}

static char *text_of(const struct explain *e, int dir, const struct explain_side *sd)
{
	char *buf = NULL;
	size_t len;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	side_text(f, e, dir, sd);
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	return buf;
}

static char *verdict_text(const struct explain *e)
{
	const struct explain_side *sides[2] = { &e->egress, &e->ingress };
	const int dirs[2] = { XDP_DIR_EGRESS, XDP_DIR_INGRESS };
	char *buf = NULL;
	size_t len;
	bool first = true;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	fprintf(f, "%s", e->allowed ? "allowed" : "denied");
	for (int i = 0; i < 2; i++) {
		if (!e->allowed && sides[i]->allowed)
			continue;
		fprintf(f, "%s", first ? ": " : "; ");
		side_name(f, e, dirs[i]);
		fprintf(f, ": %s", sides[i]->text);
		first = false;
	}
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* ---- policy explain: the decision ----------------------------------------------------- */

static bool rule_allows(const struct policy_set *s, const struct explain *e, int dir,
			struct explain_rule *x)
{
	const struct rule *r = rule_of(x->pol, dir, x->rule);
	const struct pod *self = dir == XDP_DIR_INGRESS ? e->to : e->from;
	const struct pod *rp = dir == XDP_DIR_INGRESS ? e->from : e->to;
	const struct ipaddr *ra = dir == XDP_DIR_INGRESS ? &e->from_ip : &e->to_ip;

	if (rp && rp->host_network)
		rp = NULL;
	x->peer_ok = !r->npeers;
	x->port_ok = !r->nports;
	for (size_t i = 0; i < r->npeers && !x->peer_ok; i++)
		x->peer_ok = policy_peer_matches(s, x->pol, &r->peers[i], rp, ra);
	for (size_t i = 0; i < r->nports && !x->port_ok; i++)
		x->port_ok = policy_port_matches(&r->ports[i], e->proto, e->port,
						 dir == XDP_DIR_INGRESS ? self : rp);
	return x->peer_ok && x->port_ok;
}

static int eval_side(const struct policy_set *s, struct explain *e, int dir,
		     struct explain_side *sd)
{
	const struct pod *pod = dir == XDP_DIR_INGRESS ? e->to : e->from;
	size_t nr = 0;
	int err;

	sd->allowed = true;
	if (!pod || pod->host_network) {
		sd->why = EXPLAIN_NOT_CHECKED;
		goto text;
	}
	err = pols_of(s, pod, dir, &sd->isolating, &sd->nisolating);
	if (err)
		return err;
	if (!sd->nisolating) {
		sd->why = EXPLAIN_NOT_ISOLATED;
		goto text;
	}
	if (dir == XDP_DIR_INGRESS && e->from_host && e->to_local) {
		sd->why = EXPLAIN_HOST;
		goto text;
	}
	for (size_t i = 0; i < sd->nisolating; i++) {
		const struct netpol *p = sd->isolating[i];

		nr += dir == XDP_DIR_INGRESS ? p->ningress : p->negress;
	}
	sd->rules = calloc(nr + 1, sizeof(*sd->rules));
	if (!sd->rules)
		return -ENOMEM;
	sd->why = EXPLAIN_NO_RULE;
	sd->allowed = false;
	for (size_t i = 0; i < sd->nisolating; i++) {
		const struct netpol *p = sd->isolating[i];
		size_t n = dir == XDP_DIR_INGRESS ? p->ningress : p->negress;

		for (size_t r = 0; r < n; r++) {
			struct explain_rule *x = &sd->rules[sd->nrules++];

			x->pol = p;
			x->rule = (int)r;
			if (rule_allows(s, e, dir, x) && !sd->allowed) {
				sd->allowed = true;
				sd->why = EXPLAIN_RULE;
				sd->pol = p;
				sd->rule = (int)r;
			}
		}
	}
text:
	sd->text = text_of(e, dir, sd);
	return sd->text ? 0 : -ENOMEM;
}

int policy_explain(const struct policy_set *s, const struct explain_req *req,
		   struct explain *out, char *err, size_t errlen)
{
	int ret;

	memset(out, 0, sizeof(*out));
	ret = resolve_end(s, req->from, "from", &out->from, &out->from_ip, err, errlen);
	if (!ret)
		ret = resolve_end(s, req->to, "to", &out->to, &out->to_ip, err, errlen);
	if (!ret)
		ret = pick_family(out, err, errlen);
	if (!ret)
		ret = resolve_port(out, req, err, errlen);
	if (ret)
		return ret;
	out->from_host = is_host(req, &out->from_ip);
	out->to_local = out->to && req->local && req->local(req->arg, out->to);
	ret = eval_side(s, out, XDP_DIR_EGRESS, &out->egress);
	if (!ret)
		ret = eval_side(s, out, XDP_DIR_INGRESS, &out->ingress);
	if (!ret) {
		out->allowed = out->egress.allowed && out->ingress.allowed;
		out->text = verdict_text(out);
		ret = out->text ? 0 : -ENOMEM;
	}
	if (ret) {
		explain_free(out);
		snprintf(err, errlen, "out of memory");
	}
	return ret;
}

static void side_free(struct explain_side *sd)
{
	free(sd->isolating);
	free(sd->rules);
	free(sd->text);
}

void explain_free(struct explain *e)
{
	side_free(&e->egress);
	side_free(&e->ingress);
	free(e->text);
	memset(e, 0, sizeof(*e));
}

const char *explain_why_name(enum explain_why why)
{
	switch (why) {
	case EXPLAIN_NOT_CHECKED:
		return "notChecked";
	case EXPLAIN_NOT_ISOLATED:
		return "notIsolated";
	case EXPLAIN_HOST:
		return "host";
	case EXPLAIN_RULE:
		return "rule";
	case EXPLAIN_NO_RULE:
		break;
	}
	return "noRule";
}
