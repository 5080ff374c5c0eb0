/* rule: one rule of a policy, for one endpoint -> entries (see ctx.h).
 *
 * The rule's ports become port ranges (struct prange): numeric ports and
 * ranges as they are, ingress port names resolved against the endpoint's
 * own pod. Egress port names resolve against the destination: per identity
 * for selector peers, and for a rule with no peers per identity that has
 * the name (an address that is no pod's has no named ports). For an
 * ipBlock peer they resolve per pod address inside the block and not
 * excepted, each a /32 (/128) block of its own: cidr.c unions it with
 * every other block that contains it. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "cidr.h"
#include "ctx.h"
#include "order.h"
#include "portset.h"

/* ---- peers -------------------------------------------------------------- */

static int add_ns_idents(const struct ctx *x, const struct nsinfo *ns, const struct selector *sel,
			 struct vec *ids)
{
	for (size_t i = ns->first; i < ns->first + ns->n; i++) {
		size_t *p;

		if (!selector_matches(sel, &x->idents[i].pod->labels))
			continue;
		p = vec_push(ids);
		if (!p)
			return -ENOMEM;
		*p = i;
	}
	return 0;
}

/* The identities a selector peer selects: podSelector alone -> the policy's
 * namespace; namespaceSelector alone -> every pod of the matching
 * namespaces; both -> the pods matching podSelector in those namespaces. A
 * peer with neither (the API rejects it) selects nothing. Computed once per
 * compilation. */
static const struct vec *peer_ids(struct ctx *x, const struct rule_info *ri, size_t p, int *err)
{
	struct peer_ids *c = &x->peer_cache[ri->peers + p];
	const struct peer *pe = &ri->rule->peers[p];
	const struct nsinfo *ns;

	*err = 0;
	if (c->done)
		return &c->ids;
	c->done = true;
	if (!pe->pod_sel.present && !pe->ns_sel.present)
		return &c->ids;
	if (!pe->ns_sel.present) {
		ns = ns_find(x, ri->pol->ns);
		if (ns)
			*err = add_ns_idents(x, ns, &pe->pod_sel, &c->ids);
		return &c->ids;
	}
	for (size_t k = 0; k < x->nnss && !*err; k++) {
		if (selector_matches(&pe->ns_sel, x->nss[k].labels))
			*err = add_ns_idents(x, &x->nss[k], &pe->pod_sel, &c->ids);
	}
	return &c->ids;
}

/* ---- ports -------------------------------------------------------------- */

static int push_range(struct vec *v, uint8_t proto, uint16_t lo, uint16_t hi)
{
	struct prange *r = vec_push(v);

	if (!r)
		return -ENOMEM;
	*r = (struct prange){ proto, lo, hi };
	return 0;
}

/* A named port against one pod's container ports (protocol must match);
 * appends what it resolves to, returns how many or -ENOMEM. */
static int resolve(const struct pod *pod, const struct policy_port *pp, uint8_t proto,
		   struct vec *out)
{
	int n = 0;

	for (size_t i = 0; i < pod->nports; i++) {
		const struct container_port *c = &pod->ports[i];

		if (!c->name || strcmp(c->name, pp->port_name) || c->proto != proto || !c->port)
			continue;
		if (push_range(out, proto, c->port, c->port))
			return -ENOMEM;
		n++;
	}
	return n;
}

/* ---- policy LPM entries ------------------------------------------------- */

static int pol_push(struct ctx *x, uint32_t ep_id, int dir, uint32_t id, uint8_t proto,
		    uint16_t port, uint32_t plen, uint32_t cookie)
{
	struct pol_entry *e = vec_push(&x->pol);

	if (!e)
		return -ENOMEM;
	e->key.prefixlen = plen;
	e->key.ep_id = ep_id;
	e->key.dir = (uint8_t)dir;
	e->key.identity = id;
	e->key.proto = proto;
	e->key.dport = htons(port);
	e->val.rule_cookie = cookie;
	return 0;
}

static int emit_ranges(struct ctx *x, uint32_t ep_id, int dir, uint32_t id,
		       const struct prange *r, size_t n, uint32_t cookie)
{
	struct pblock b[PBLOCK_MAX];

	for (size_t i = 0; i < n; i++) {
		size_t nb;

		if (!r[i].proto) {
			if (pol_push(x, ep_id, dir, id, 0, 0, XDP_POL_PREFIX_ANY_PROTO, cookie))
				return -ENOMEM;
			continue;
		}
		nb = prange_blocks(r[i].lo, r[i].hi, b);
		for (size_t k = 0; k < nb; k++) {
			if (pol_push(x, ep_id, dir, id, r[i].proto, b[k].start,
				     XDP_POL_PREFIX_BLOCK(b[k].k), cookie))
				return -ENOMEM;
		}
	}
	return 0;
}

/* The rule's egress port names against one destination pod -> x->tmp
 * (normalised). */
static int resolve_dyn(struct ctx *x, const struct pod *pod, size_t *n)
{
	x->tmp.n = 0;
	for (size_t i = 0; i < x->dyn.n; i++) {
		const struct dyn_port *d = vec_at(&x->dyn, i);
		int r = resolve(pod, d->pp, port_proto(d->pp), &x->tmp);

		if (r < 0)
			return r;
		x->named[d->slot] |= NAMED_EVALUATED | (r ? NAMED_RESOLVED : 0);
	}
	*n = prange_normalize(x->tmp.v, x->tmp.n);
	return 0;
}

/* One selected identity: the rule's fixed ports, plus its egress port
 * names as this identity's pods define them. */
static int emit_ident(struct ctx *x, uint32_t ep_id, int dir, const struct ident *id,
		      size_t nspecs, uint32_t cookie)
{
	size_t n;
	int err;

	err = emit_ranges(x, ep_id, dir, id->id, x->specs.v, nspecs, cookie);
	if (err || !x->dyn.n)
		return err;
	err = resolve_dyn(x, id->pod, &n);
	return err ? err : emit_ranges(x, ep_id, dir, id->id, x->tmp.v, n, cookie);
}

/* ---- CIDR peers --------------------------------------------------------- */

static int push_block(struct ctx *x, const struct ipnet *cidr, const struct ipnet *except,
		      size_t nexcept, const struct prange *r, size_t n, uint32_t cookie)
{
	struct cblock *b;

	if (!n)
		return 0;
	if (vec_reserve(&x->branges, n))
		return -ENOMEM;
	b = vec_push(&x->blocks);
	if (!b)
		return -ENOMEM;
	*b = (struct cblock){ *cidr, except, nexcept, x->branges.n, n, cookie };
	memcpy(vec_at(&x->branges, x->branges.n), r, n * sizeof(*r));
	x->branges.n += n;
	return 0;
}

static bool in_except(const struct ip_block *ib, const struct ipaddr *a)
{
	for (size_t i = 0; i < ib->nexcept; i++) {
		if (ipnet_contains(&ib->except[i], a))
			return true;
	}
	return false;
}

/* Egress port names on an ipBlock: the pods whose addresses are in the
 * block (and not excepted) resolve them, each as its own /32 or /128. The
 * ipcache is sorted by address within a family, so they are one slice. */
static int block_dyn(struct ctx *x, const struct ip_block *ib, uint32_t cookie)
{
	const struct ipcache_entry *v = x->ipcache.v;
	struct ipaddr first, last, a;
	struct xdp_cidr_key lo, hi;
	size_t i = 0, j = x->ipcache.n;

	ipnet_first(&ib->cidr, &first);
	ipnet_last(&ib->cidr, &last);
	cidr_key(&lo, &first);
	cidr_key(&hi, &last);
	while (i < j) {
		size_t mid = (i + j) / 2;

		if (ipcache_cmp(&v[mid].key, &lo) < 0)
			i = mid + 1;
		else
			j = mid;
	}
	for (; i < x->ipcache.n && ipcache_cmp(&v[i].key, &hi) <= 0; i++) {
		const struct ident *id = ident_by_id(x, v[i].val.identity);
		struct ipnet host;
		size_t n;
		int err;

		key_addr(&v[i].key, &a);
		if (!id || in_except(ib, &a))
			continue;
		err = resolve_dyn(x, id->pod, &n);
		if (err)
			return err;
		host = (struct ipnet){ a, ipaddr_bits(&a) };
		err = push_block(x, &host, NULL, 0, x->tmp.v, n, cookie);
		if (err)
			return err;
	}
	return 0;
}

/* ---- one endpoint ------------------------------------------------------- */

/* The rule's ports that do not depend on the remote pod -> x->specs
 * (normalised, count in *n); egress port names -> x->dyn. */
static int rule_ports(struct ctx *x, const struct rule_info *ri, const struct pod *pod, size_t *n)
{
	const struct rule *r = ri->rule;
	int err = 0;

	x->specs.n = 0;
	x->dyn.n = 0;
	if (!r->nports)
		err = push_range(&x->specs, 0, 0, 65535);
	for (size_t i = 0; i < r->nports && !err; i++) {
		const struct policy_port *pp = &r->ports[i];
		uint8_t proto = port_proto(pp);
		size_t slot = ri->ports + i;
		struct dyn_port *d;
		int got;

		if (pp->port_name && ri->dir == XDP_DIR_EGRESS) {
			d = vec_push(&x->dyn);
			if (!d)
				return -ENOMEM;
			*d = (struct dyn_port){ pp, slot };
		} else if (pp->port_name) {
			got = resolve(pod, pp, proto, &x->specs);
			if (got < 0)
				return got;
			x->named[slot] |= NAMED_EVALUATED | (got ? NAMED_RESOLVED : 0);
		} else if (!pp->port) {
			err = push_range(&x->specs, proto, 0, 65535);
		} else {
			err = push_range(&x->specs, proto, pp->port,
					 pp->end_port > pp->port ? pp->end_port : pp->port);
		}
	}
	*n = prange_normalize(x->specs.v, x->specs.n);
	return err;
}

int rule_compile(struct ctx *x, uint32_t ep_id, const struct pod *pod, uint32_t cookie)
{
	const struct rule_info *ri = &x->rinfo[cookie];
	const struct rule *r = ri->rule;
	size_t nspecs;
	int err;

	err = rule_ports(x, ri, pod, &nspecs);
	if (err || (!nspecs && !x->dyn.n))
		return err;
	/* No peers: every remote. Port names can only mean pods' ports. */
	if (!r->npeers) {
		err = emit_ranges(x, ep_id, ri->dir, XDP_ID_ANY, x->specs.v, nspecs, cookie);
		for (size_t i = 0; !err && x->dyn.n && i < x->nidents; i++) {
			size_t n;

			err = resolve_dyn(x, x->idents[i].pod, &n);
			if (!err)
				err = emit_ranges(x, ep_id, ri->dir, x->idents[i].id, x->tmp.v, n,
						  cookie);
		}
		return err;
	}
	for (size_t p = 0; p < r->npeers && !err; p++) {
		const struct peer *pe = &r->peers[p];
		const struct vec *ids;

		if (pe->has_ip_block) {
			err = push_block(x, &pe->ip_block.cidr, pe->ip_block.except,
					 pe->ip_block.nexcept, x->specs.v, nspecs, cookie);
			if (!err && x->dyn.n)
				err = block_dyn(x, &pe->ip_block, cookie);
			continue;
		}
		ids = peer_ids(x, ri, p, &err);
		for (size_t i = 0; i < ids->n && !err; i++)
			err = emit_ident(x, ep_id, ri->dir, &x->idents[*(size_t *)vec_at(ids, i)],
					 nspecs, cookie);
	}
	return err;
}
