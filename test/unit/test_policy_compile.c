/* Unit tests for the policy compiler (policy/compile.c and friends) and the
 * datapath reference model (policy/sim.c). The model is built in C with the
 * small builders below (no parser). Every compile is checked for the
 * output invariants (sorted, unique, zeroed padding, masked prefixes), and
 * decisions are checked through policy_sim, i.e. the way the datapath will
 * look the entries up; a randomised test compares policy_sim against a
 * direct evaluation of the upstream semantics on the model. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "testutil.h"

#include "compile.h"
#include "idalloc.h"
#include "parse.h"
#include "sim.h"

#define IN  XDP_DIR_INGRESS
#define EG  XDP_DIR_EGRESS
#define TCP L4_TCP
#define UDP L4_UDP
#define SCTP L4_SCTP
#define ICMP 1

#define MAX_RULES 8
#define MAX_PEERS 8
#define MAX_PORTS 32

/* ---- model builders ------------------------------------------------------ */

struct tb {
	struct policy_set s;
};

static char *xstrdup(const char *s)
{
	char *d = strdup(s);

	assert_non_null(d);
	return d;
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	assert_non_null(p);
	return p;
}

static struct tb *tb_new(size_t pods, size_t pols, size_t nss)
{
	struct tb *t = xcalloc(1, sizeof(*t));

	t->s.pods = xcalloc(pods, sizeof(struct pod));
	t->s.pols = xcalloc(pols, sizeof(struct netpol));
	t->s.nss = xcalloc(nss, sizeof(struct namespace));
	return t;
}

static void tb_free(struct tb *t)
{
	policy_set_free(&t->s);
	free(t);
}

static void label_add(struct labels *l, const char *k, const char *v)
{
	l->v = realloc(l->v, (l->n + 1) * sizeof(*l->v));
	assert_non_null(l->v);
	l->v[l->n].key = xstrdup(k);
	l->v[l->n].value = xstrdup(v);
	l->n++;
}

/* "a=1,b=2" */
static void labels_parse(struct labels *l, const char *spec)
{
	char *s, *save = NULL;

	if (!spec || !*spec)
		return;
	s = xstrdup(spec);
	for (char *tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');

		assert_non_null(eq);
		*eq = '\0';
		label_add(l, tok, eq + 1);
	}
	free(s);
}

/* A selector: NULL absent; "" {}; else comma-separated terms "k=v",
 * "k in a|b", "k notin a|b", "k" (Exists), "!k" (DoesNotExist). */
static void sel_parse(struct selector *sel, const char *spec)
{
	char *s, *save = NULL;

	memset(sel, 0, sizeof(*sel));
	if (!spec)
		return;
	sel->present = true;
	if (!*spec)
		return;
	s = xstrdup(spec);
	for (char *tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '='), *sp = strchr(tok, ' ');
		struct sel_expr *e;

		if (eq && !sp) {
			*eq = '\0';
			label_add(&sel->match_labels, tok, eq + 1);
			continue;
		}
		sel->exprs = realloc(sel->exprs, (sel->nexprs + 1) * sizeof(*sel->exprs));
		assert_non_null(sel->exprs);
		e = &sel->exprs[sel->nexprs++];
		memset(e, 0, sizeof(*e));
		if (!sp) {
			e->op = *tok == '!' ? SEL_DOES_NOT_EXIST : SEL_EXISTS;
			e->key = xstrdup(tok + (*tok == '!'));
			continue;
		}
		*sp = '\0';
		e->key = xstrdup(tok);
		tok = sp + 1;
		if (!strncmp(tok, "in ", 3)) {
			e->op = SEL_IN;
			tok += 3;
		} else {
			assert_int_equal(strncmp(tok, "notin ", 6), 0);
			e->op = SEL_NOT_IN;
			tok += 6;
		}
		for (char *save2 = NULL, *v = strtok_r(tok, "|", &save2); v;
		     v = strtok_r(NULL, "|", &save2)) {
			e->values = realloc(e->values, (e->nvalues + 1) * sizeof(char *));
			assert_non_null(e->values);
			e->values[e->nvalues++] = xstrdup(v);
		}
	}
	free(s);
}

/* ips: NULL (none) or "10.0.0.1" or "10.0.0.1,fd00::1". */
static struct pod *pod_add(struct tb *t, const char *ns, const char *name, const char *ips,
			   const char *labels)
{
	struct pod *p = &t->s.pods[t->s.npods++];
	char *s, *save = NULL;

	p->ns = xstrdup(ns);
	p->name = xstrdup(name);
	labels_parse(&p->labels, labels);
	if (!ips)
		return p;
	s = xstrdup(ips);
	for (char *tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		p->ips[p->nips++] = A(tok);
	free(s);
	return p;
}

static void pod_port(struct pod *p, const char *name, uint8_t proto, uint16_t port)
{
	p->ports = realloc(p->ports, (p->nports + 1) * sizeof(*p->ports));
	assert_non_null(p->ports);
	p->ports[p->nports++] = (struct container_port){ name ? xstrdup(name) : NULL, proto, port };
}

/* Labels as the API server stores them: with kubernetes.io/metadata.name. */
static struct namespace *ns_add(struct tb *t, const char *name, const char *labels)
{
	struct namespace *n = &t->s.nss[t->s.nnss++];

	n->name = xstrdup(name);
	label_add(&n->labels, "kubernetes.io/metadata.name", name);
	labels_parse(&n->labels, labels);
	return n;
}

static struct netpol *pol_add(struct tb *t, const char *ns, const char *name, const char *podsel,
			      bool ingress, bool egress)
{
	struct netpol *p = &t->s.pols[t->s.npols++];

	p->ns = xstrdup(ns);
	p->name = xstrdup(name);
	sel_parse(&p->pod_sel, podsel);
	p->ingress_isolates = ingress;
	p->egress_isolates = egress;
	p->ingress = xcalloc(MAX_RULES, sizeof(struct rule));
	p->egress = xcalloc(MAX_RULES, sizeof(struct rule));
	return p;
}

static struct rule *rule_add(struct netpol *p, int dir)
{
	struct rule *r = dir == IN ? &p->ingress[p->ningress++] : &p->egress[p->negress++];

	assert_true(p->ningress <= MAX_RULES && p->negress <= MAX_RULES);
	r->peers = xcalloc(MAX_PEERS, sizeof(struct peer));
	r->ports = xcalloc(MAX_PORTS, sizeof(struct policy_port));
	return r;
}

static struct peer *peer_add(struct rule *r, const char *podsel, const char *nssel)
{
	struct peer *pe = &r->peers[r->npeers++];

	assert_true(r->npeers <= MAX_PEERS);
	sel_parse(&pe->pod_sel, podsel);
	sel_parse(&pe->ns_sel, nssel);
	return pe;
}

/* An ipBlock peer; excepts as a NULL-terminated list. */
static struct peer *peer_block(struct rule *r, const char *cidr, ...)
{
	struct peer *pe = &r->peers[r->npeers++];
	const char *e;
	va_list ap;

	pe->has_ip_block = true;
	pe->ip_block.cidr = N(cidr);
	va_start(ap, cidr);
	while ((e = va_arg(ap, const char *))) {
		struct ip_block *b = &pe->ip_block;

		b->except = realloc(b->except, (b->nexcept + 1) * sizeof(*b->except));
		assert_non_null(b->except);
		b->except[b->nexcept++] = N(e);
	}
	va_end(ap);
	return pe;
}

static void port_add(struct rule *r, uint8_t proto, uint16_t port, uint16_t end, const char *name)
{
	struct policy_port *pp = &r->ports[r->nports++];

	assert_true(r->nports <= MAX_PORTS);
	*pp = (struct policy_port){ proto, port, end, name ? xstrdup(name) : NULL };
}

/* ---- checking a result ----------------------------------------------------- */

static bool zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++) {
		if (b[i])
			return false;
	}
	return true;
}

/* Data bits beyond prefixlen are zero (key: u32 prefixlen, then data). */
static void assert_masked(const void *key, size_t ksize)
{
	const uint8_t *d = (const uint8_t *)key + 4;
	uint32_t plen;

	memcpy(&plen, key, 4);
	assert_true(plen <= (ksize - 4) * 8);
	for (size_t i = 0; i < ksize - 4; i++) {
		uint32_t bits = plen > i * 8 ? plen - i * 8 : 0;

		if (bits < 8 && (d[i] & (uint8_t)~(0xff00 >> bits)))
			fail_msg("key bits set beyond prefix %u (byte %zu)", plen, i);
	}
}

static void check_portset(const struct xdp_portset *ps, size_t nrules)
{
	assert_int_equal(ps->pad, 0);
	assert_true(ps->nranges <= XDP_PORTSET_MAX);
	if (ps->flags & XDP_PORTSET_ALL)
		assert_int_equal(ps->nranges, 0);
	if (ps->flags || ps->nranges)
		assert_true(ps->rule_cookie < nrules);
	else
		assert_int_equal(ps->rule_cookie, 0);
	for (uint32_t i = 0; i < ps->nranges; i++) {
		const struct xdp_port_range *r = &ps->r[i];

		assert_int_not_equal(r->proto, 0);
		assert_int_equal(r->pad, 0);
		assert_true(r->lo <= r->hi);
		/* sorted and merged: no overlap, no adjacency within a protocol */
		if (i) {
			const struct xdp_port_range *p = &ps->r[i - 1];

			assert_true(p->proto < r->proto ||
				    (p->proto == r->proto && p->hi && (uint32_t)p->hi + 1 < r->lo));
		}
	}
	assert_true(zero(&ps->r[ps->nranges], (XDP_PORTSET_MAX - ps->nranges) * sizeof(ps->r[0])));
}

#define ASSERT_SORTED(arr, n, ksize)                                                      \
	do {                                                                              \
		for (size_t i_ = 1; i_ < (n); i_++)                                       \
			if (memcmp(&(arr)[i_ - 1], &(arr)[i_], (ksize)) >= 0)             \
				fail_msg("%s[%zu] out of order or duplicate", #arr, i_); \
	} while (0)

static void check(const struct compiled *c)
{
	ASSERT_SORTED(c->ipcache, c->nipcache, sizeof(struct xdp_cidr_key));
	ASSERT_SORTED(c->pol, c->npol, sizeof(struct xdp_pol_key));
	ASSERT_SORTED(c->cidr, c->ncidr, sizeof(struct xdp_polcidr_key));
	ASSERT_SORTED(c->eps, c->neps, sizeof(uint32_t));
	for (size_t i = 0; i < c->nipcache; i++) {
		const struct ipcache_entry *e = &c->ipcache[i];

		assert_true(zero(e->key.pad, sizeof(e->key.pad)));
		assert_true(e->key.family == XDP_EP_FAMILY_V4 || e->key.family == XDP_EP_FAMILY_V6);
		assert_int_equal(e->key.prefixlen,
				 XDP_CIDR_PREFIX(e->key.family == XDP_EP_FAMILY_V4 ? 32 : 128));
		assert_true(e->val.identity >= XDP_ID_FIRST_POD);
		assert_masked(&e->key, sizeof(e->key));
	}
	for (size_t i = 0; i < c->npol; i++) {
		const struct pol_entry *e = &c->pol[i];

		assert_true(zero(e->key.pad, sizeof(e->key.pad)) && e->key.pad2 == 0);
		assert_true(e->key.dir <= 1);
		assert_true(e->key.prefixlen >= XDP_POL_PREFIX_ANY_PROTO &&
			    e->key.prefixlen <= XDP_POL_PREFIX_PORT);
		assert_true(e->key.prefixlen == XDP_POL_PREFIX_ANY_PROTO ||
			    e->key.prefixlen >= XDP_POL_PREFIX_ANY_PORT);
		assert_true(e->key.identity == XDP_ID_ANY || e->key.identity >= XDP_ID_FIRST_POD);
		assert_true(e->val.rule_cookie < c->nrules);
		assert_int_equal(e->val.flags, 0);
		assert_masked(&e->key, sizeof(e->key));
	}
	for (size_t i = 0; i < c->ncidr; i++) {
		const struct cidr_entry *e = &c->cidr[i];

		assert_true(zero(e->key.pad, sizeof(e->key.pad)));
		assert_true(e->key.dir <= 1);
		assert_masked(&e->key, sizeof(e->key));
		check_portset(&e->val, c->nrules);
	}
	for (size_t i = 0; i < c->neps; i++)
		assert_int_equal(c->eps[i].val.generation, 0);
	for (size_t i = 0; i < c->nrules; i++)
		assert_int_equal(c->rules[i].cookie, i);
}

static void compile_ids(struct tb *t, const struct pol_endpoint *eps, size_t neps,
			struct id_alloc *ids, struct compiled *c)
{
	assert_int_equal(policy_compile(&t->s, eps, neps, ids, c), 0);
	check(c);
}

/* Compile with a throwaway allocator. */
static void compile(struct tb *t, const struct pol_endpoint *eps, size_t neps, struct compiled *c)
{
	struct id_alloc *ids = id_alloc_new();

	assert_non_null(ids);
	compile_ids(t, eps, neps, ids, c);
	id_alloc_free(ids);
}

static int allowed(const struct compiled *c, uint32_t ep, int dir, const char *ip, uint8_t proto,
		   uint16_t port)
{
	struct ipaddr a = A(ip);

	return policy_sim(c, ep, dir, &a, proto, port, NULL);
}

static uint32_t cookie_for(const struct compiled *c, uint32_t ep, int dir, const char *ip,
			   uint8_t proto, uint16_t port)
{
	struct ipaddr a = A(ip);
	uint32_t cookie = 0xdead;

	assert_int_equal(policy_sim(c, ep, dir, &a, proto, port, &cookie), 1);
	return cookie;
}

static uint32_t ident(const struct compiled *c, const char *ip)
{
	struct ipaddr a = A(ip);

	return policy_sim_identity(c, &a);
}

static const struct ep_pol_entry *ep_find(const struct compiled *c, uint32_t ep)
{
	for (size_t i = 0; i < c->neps; i++) {
		if (c->eps[i].ep_id == ep)
			return &c->eps[i];
	}
	return NULL;
}

static uint32_t ep_flags(const struct compiled *c, uint32_t ep)
{
	const struct ep_pol_entry *e = ep_find(c, ep);

	assert_non_null(e);
	return e->val.flags;
}

static const struct pol_entry *pol_find(const struct compiled *c, uint32_t ep, int dir,
					uint32_t id, uint8_t proto, uint16_t port, uint32_t plen)
{
	for (size_t i = 0; i < c->npol; i++) {
		const struct xdp_pol_key *k = &c->pol[i].key;

		if (k->ep_id == ep && k->dir == dir && k->identity == id && k->proto == proto &&
		    k->dport == htons(port) && k->prefixlen == plen)
			return &c->pol[i];
	}
	return NULL;
}

static size_t npol_of(const struct compiled *c, uint32_t ep, int dir)
{
	size_t n = 0;

	for (size_t i = 0; i < c->npol; i++)
		n += c->pol[i].key.ep_id == ep && c->pol[i].key.dir == dir;
	return n;
}

static size_t ncidr_of(const struct compiled *c, uint32_t ep, int dir)
{
	size_t n = 0;

	for (size_t i = 0; i < c->ncidr; i++)
		n += c->cidr[i].key.ep_id == ep && c->cidr[i].key.dir == dir;
	return n;
}

static const struct cidr_entry *cidr_find(const struct compiled *c, uint32_t ep, int dir,
					  const char *cidr)
{
	struct ipnet n = N(cidr);
	struct xdp_polcidr_key k;

	memset(&k, 0, sizeof(k));
	k.prefixlen = XDP_POLCIDR_PREFIX(n.prefix);
	k.ep_id = ep;
	k.dir = (uint8_t)dir;
	k.family = n.ip.family == AF_INET ? XDP_EP_FAMILY_V4 : XDP_EP_FAMILY_V6;
	memcpy(k.addr, n.ip.b, ipaddr_len(&n.ip));
	for (size_t i = 0; i < c->ncidr; i++) {
		if (!memcmp(&c->cidr[i].key, &k, sizeof(k)))
			return &c->cidr[i];
	}
	return NULL;
}

/* "*" every port of every protocol, "-" empty, else e.g. "tcp/80,udp/53-60,sctp/any". */
static const char *ps_str(const struct xdp_portset *ps, char *buf, size_t len)
{
	size_t off = 0;

	if (ps->flags & XDP_PORTSET_ALL)
		return "*";
	if (!ps->nranges)
		return "-";
	buf[0] = '\0';
	for (uint32_t i = 0; i < ps->nranges; i++) {
		const struct xdp_port_range *r = &ps->r[i];
		const char *p = r->proto == TCP ? "tcp" : r->proto == UDP ? "udp" : "sctp";

		if (!r->lo && !r->hi)
			off += snprintf(buf + off, len - off, "%s%s/any", i ? "," : "", p);
		else if (r->lo == r->hi)
			off += snprintf(buf + off, len - off, "%s%s/%u", i ? "," : "", p, r->lo);
		else
			off += snprintf(buf + off, len - off, "%s%s/%u-%u", i ? "," : "", p, r->lo,
					r->hi);
	}
	return buf;
}

static void assert_cidr(const struct compiled *c, uint32_t ep, int dir, const char *cidr,
			const char *ports)
{
	const struct cidr_entry *e = cidr_find(c, ep, dir, cidr);
	char buf[256];

	if (!e)
		fail_msg("no CIDR entry %s", cidr);
	assert_string_equal(ps_str(&e->val, buf, sizeof(buf)), ports);
}

static bool has_error(const struct compiled *c, const char *kind, const char *ns,
		      const char *name, const char *needle)
{
	for (size_t i = 0; i < c->nerrors; i++) {
		const struct policy_error *e = &c->errors[i];

		if (!strcmp(e->kind, kind) && e->ns && !strcmp(e->ns, ns) && e->name &&
		    !strcmp(e->name, name) && strstr(e->reason, needle))
			return true;
	}
	return false;
}

/* ---- selectors ------------------------------------------------------------- */

static bool sel_match(const char *sel, const char *labels)
{
	struct selector s;
	struct labels l = { 0 };
	bool r;

	sel_parse(&s, sel);
	labels_parse(&l, labels);
	r = selector_matches(&s, &l);
	selector_free(&s);
	labels_free(&l);
	return r;
}

static void test_selector(void **state)
{
	(void)state;
	/* {} matches everything, absent puts no constraint */
	assert_true(sel_match("", ""));
	assert_true(sel_match("", "a=1"));
	assert_true(sel_match(NULL, "a=1"));
	/* matchLabels: every pair */
	assert_true(sel_match("a=1", "a=1,b=2"));
	assert_true(sel_match("a=1,b=2", "b=2,a=1"));
	assert_false(sel_match("a=1,b=2", "a=1"));
	assert_false(sel_match("a=1", "a=2"));
	assert_false(sel_match("a=1", ""));
	assert_true(sel_match("a=", "a="));
	assert_false(sel_match("a=", "b="));
	/* In: present and listed */
	assert_true(sel_match("a in 1|2", "a=2"));
	assert_false(sel_match("a in 1|2", "a=3"));
	assert_false(sel_match("a in 1|2", "b=1"));
	/* NotIn: absent, or present and not listed */
	assert_true(sel_match("a notin 1|2", "b=1"));
	assert_true(sel_match("a notin 1|2", "a=3"));
	assert_false(sel_match("a notin 1|2", "a=1"));
	/* Exists / DoesNotExist */
	assert_true(sel_match("a", "a=x"));
	assert_true(sel_match("a", "a="));
	assert_false(sel_match("a", "b=x"));
	assert_true(sel_match("!a", "b=x"));
	assert_false(sel_match("!a", "a=x"));
	/* everything ANDed */
	assert_true(sel_match("a=1,b in x|y,c notin z,d,!e", "a=1,b=y,c=w,d=0"));
	assert_false(sel_match("a=1,b in x|y,c notin z,d,!e", "a=1,b=y,c=w,d=0,e=1"));
	assert_false(sel_match("a=1,b in x|y,c notin z,d,!e", "a=1,b=y,c=z,d=0"));
	assert_false(sel_match("a=1,b in x|y,c notin z,d,!e", "a=2,b=y,c=w,d=0"));
	/* a NULL label set is the empty one */
	{
		struct selector s;

		sel_parse(&s, "!a");
		assert_true(selector_matches(&s, NULL));
		selector_free(&s);
	}
}

/* ---- isolation ------------------------------------------------------------- */

static void test_no_policy(void **state)
{
	struct pol_endpoint eps[] = { { 10, "default", "web" } };
	struct tb *t = tb_new(4, 1, 1);
	struct compiled c;

	(void)state;
	pod_add(t, "default", "web", "10.0.0.1", "app=web");
	pod_add(t, "default", "client", "10.0.0.2", "app=client");
	compile(t, eps, 1, &c);
	assert_int_equal(c.neps, 1);
	assert_int_equal(c.eps[0].ep_id, 10);
	assert_int_equal(c.eps[0].val.flags, XDP_EP_POL_READY);
	assert_int_equal(c.npol, 0);
	assert_int_equal(c.ncidr, 0);
	assert_int_equal(c.nrules, 0);
	assert_int_equal(c.nerrors, 0);
	assert_int_equal(c.nipcache, 2);
	assert_true(allowed(&c, 10, IN, "10.0.0.2", TCP, 80));
	assert_true(allowed(&c, 10, IN, "8.8.8.8", UDP, 53));
	assert_true(allowed(&c, 10, EG, "8.8.8.8", ICMP, 0));
	assert_int_equal(cookie_for(&c, 10, IN, "1.2.3.4", TCP, 1), POLICY_SIM_NO_RULE);
	/* an endpoint we do not know: fail closed */
	assert_false(allowed(&c, 11, IN, "10.0.0.2", TCP, 80));
	compiled_free(&c);
	tb_free(t);
}

static void test_deny_all_ingress(void **state)
{
	struct pol_endpoint eps[] = { { 10, "default", "web" }, { 11, "other", "web" } };
	struct tb *t = tb_new(4, 1, 1);
	struct compiled c;

	(void)state;
	pod_add(t, "default", "web", "10.0.0.1", "app=web");
	pod_add(t, "default", "client", "10.0.0.2", "app=client");
	pod_add(t, "other", "web", "10.0.1.1", "app=web");
	pol_add(t, "default", "deny", "", true, false);
	compile(t, eps, 2, &c);
	assert_int_equal(ep_flags(&c, 10), XDP_EP_POL_READY | XDP_EP_POL_INGRESS_ISOLATED);
	assert_int_equal(ep_flags(&c, 11), XDP_EP_POL_READY);
	assert_int_equal(c.npol, 0);
	assert_int_equal(c.ncidr, 0);
	assert_false(allowed(&c, 10, IN, "10.0.0.2", TCP, 80));
	assert_false(allowed(&c, 10, IN, "8.8.8.8", ICMP, 0));
	assert_false(allowed(&c, 10, IN, "10.0.1.1", TCP, 80));
	/* egress and the other namespace are untouched */
	assert_true(allowed(&c, 10, EG, "10.0.0.2", TCP, 80));
	assert_true(allowed(&c, 11, IN, "10.0.0.2", TCP, 80));
	compiled_free(&c);
	tb_free(t);
}

static void test_egress_isolation_independent(void **state)
{
	struct pol_endpoint eps[] = { { 10, "default", "web" } };
	struct tb *t = tb_new(4, 2, 1);
	struct netpol *p;
	struct compiled c;

	(void)state;
	pod_add(t, "default", "web", "10.0.0.1", "app=web");
	pod_add(t, "default", "db", "10.0.0.2", "app=db");
	pol_add(t, "default", "deny-egress", "app=web", false, true);
	compile(t, eps, 1, &c);
	assert_int_equal(ep_flags(&c, 10), XDP_EP_POL_READY | XDP_EP_POL_EGRESS_ISOLATED);
	assert_true(allowed(&c, 10, IN, "10.0.0.2", TCP, 80));
	assert_true(allowed(&c, 10, IN, "8.8.8.8", TCP, 80));
	assert_false(allowed(&c, 10, EG, "10.0.0.2", TCP, 80));
	assert_false(allowed(&c, 10, EG, "8.8.8.8", UDP, 53));
	compiled_free(&c);

	/* open egress to db on 5432 only: ingress stays open */
	p = pol_add(t, "default", "to-db", "app=web", false, true);
	peer_add(rule_add(p, EG), "app=db", NULL);
	port_add(&p->egress[0], TCP, 5432, 0, NULL);
	compile(t, eps, 1, &c);
	assert_int_equal(ep_flags(&c, 10), XDP_EP_POL_READY | XDP_EP_POL_EGRESS_ISOLATED);
	assert_true(allowed(&c, 10, EG, "10.0.0.2", TCP, 5432));
	assert_false(allowed(&c, 10, EG, "10.0.0.2", TCP, 5433));
	assert_true(allowed(&c, 10, IN, "8.8.8.8", TCP, 80));
	assert_int_equal(npol_of(&c, 10, IN), 0);
	assert_int_equal(npol_of(&c, 10, EG), 1);
	compiled_free(&c);
	tb_free(t);
}

/* ---- peers ----------------------------------------------------------------- */

static void test_pod_selector_same_namespace(void **state)
{
	struct pol_endpoint eps[] = { { 10, "default", "web" } };
	struct tb *t = tb_new(8, 1, 1);
	const struct pol_entry *e;
	struct netpol *p;
	struct compiled c;
	uint32_t client;

	(void)state;
	pod_add(t, "default", "web", "10.0.0.1", "app=web");
	pod_add(t, "default", "client", "10.0.0.2", "app=client");
	pod_add(t, "default", "client-b", "10.0.0.4", "app=client");
	pod_add(t, "default", "other", "10.0.0.3", "app=other");
	pod_add(t, "prod", "client", "10.0.1.2", "app=client");
	p = pol_add(t, "default", "allow-client", "app=web", true, false);
	peer_add(rule_add(p, IN), "app=client", NULL);
	compile(t, eps, 1, &c);

	client = ident(&c, "10.0.0.2");
	assert_true(client >= XDP_ID_FIRST_POD);
	/* one label set, one identity, one entry: every protocol */
	assert_int_equal(ident(&c, "10.0.0.4"), client);
	assert_int_not_equal(ident(&c, "10.0.1.2"), client); /* other namespace */
	assert_int_equal(ident(&c, "8.8.8.8"), XDP_ID_WORLD);
	assert_int_equal(c.npol, 1);
	e = &c.pol[0];
	assert_int_equal(e->key.prefixlen, XDP_POL_PREFIX_ANY_PROTO);
	assert_int_equal(e->key.ep_id, 10);
	assert_int_equal(e->key.dir, IN);
	assert_int_equal(e->key.identity, client);
	assert_int_equal(e->key.proto, 0);
	assert_int_equal(e->key.dport, 0);
	assert_int_equal(e->val.rule_cookie, 0);
	assert_int_equal(c.nrules, 1);
	assert_string_equal(c.rules[0].ns, "default");
	assert_string_equal(c.rules[0].policy, "allow-client");
	assert_int_equal(c.rules[0].dir, IN);
	assert_int_equal(c.rules[0].rule, 0);

	assert_true(allowed(&c, 10, IN, "10.0.0.2", TCP, 80));
	assert_true(allowed(&c, 10, IN, "10.0.0.4", UDP, 53));
	assert_true(allowed(&c, 10, IN, "10.0.0.2", ICMP, 0));
	assert_false(allowed(&c, 10, IN, "10.0.0.3", TCP, 80));
	assert_false(allowed(&c, 10, IN, "10.0.1.2", TCP, 80));
	assert_false(allowed(&c, 10, IN, "8.8.8.8", TCP, 80));
	assert_true(allowed(&c, 10, EG, "8.8.8.8", TCP, 80));
	assert_int_equal(cookie_for(&c, 10, IN, "10.0.0.2", TCP, 80), 0);
	compiled_free(&c);
	tb_free(t);
}

static void test_namespace_selector(void **state)
{
	struct pol_endpoint eps[] = { { 10, "prod", "db" } };
	struct tb *t = tb_new(8, 1, 4);
	struct netpol *p;
	struct compiled c;

	(void)state;
	ns_add(t, "prod", "env=prod");
	ns_add(t, "prod2", "env=prod");
	ns_add(t, "dev", "env=dev");
	pod_add(t, "prod", "db", "10.0.0.1", "app=db");
	pod_add(t, "prod", "a", "10.0.0.2", "app=a");
	pod_add(t, "prod2", "b", "10.0.0.3", "app=b");
	pod_add(t, "dev", "c", "10.0.0.4", "app=a");
	/* "ghost" has pods but no Namespace object: it still has its name label */
	pod_add(t, "ghost", "d", "10.0.0.5", "app=d");
	p = pol_add(t, "prod", "from-prod", "app=db", true, false);
	peer_add(rule_add(p, IN), NULL, "env=prod");
	peer_add(rule_add(p, IN), NULL, "kubernetes.io/metadata.name=ghost");
	port_add(&p->ingress[1], TCP, 5432, 0, NULL);
	compile(t, eps, 1, &c);

	/* every pod of prod and prod2, whatever its labels (db itself too) */
	assert_int_equal(npol_of(&c, 10, IN), 3 + 1);
	assert_true(allowed(&c, 10, IN, "10.0.0.1", TCP, 80));
	assert_true(allowed(&c, 10, IN, "10.0.0.2", TCP, 80));
	assert_true(allowed(&c, 10, IN, "10.0.0.3", UDP, 9));
	assert_false(allowed(&c, 10, IN, "10.0.0.4", TCP, 80));
	assert_true(allowed(&c, 10, IN, "10.0.0.5", TCP, 5432));
	assert_false(allowed(&c, 10, IN, "10.0.0.5", TCP, 80));
	assert_false(allowed(&c, 10, IN, "10.9.9.9", TCP, 5432));
	assert_int_equal(cookie_for(&c, 10, IN, "10.0.0.5", TCP, 5432), 1);
	compiled_free(&c);
	tb_free(t);
}

static void test_and_vs_or_peers(void **state)
{
	struct pol_endpoint eps[] = { { 10, "prod", "and" }, { 11, "prod", "or" },
				      { 12, "prod", "all-ns" } };
	struct tb *t = tb_new(8, 3, 2);
	struct netpol *p;
	struct rule *r;
	struct compiled c;

	(void)state;
	ns_add(t, "prod", "env=prod");
	ns_add(t, "dev", "env=dev");
	pod_add(t, "prod", "and", "10.0.0.1", "role=and");
	pod_add(t, "prod", "or", "10.0.0.2", "role=or");
	pod_add(t, "prod", "all-ns", "10.0.0.3", "role=all-ns");
	pod_add(t, "dev", "client", "10.0.1.1", "app=client");
	pod_add(t, "dev", "other", "10.0.1.2", "app=other");
	pod_add(t, "prod", "client", "10.0.0.11", "app=client");
	pod_add(t, "prod", "other", "10.0.0.12", "app=other");
	/* one peer with both selectors: client pods in dev namespaces */
	p = pol_add(t, "prod", "and", "role=and", true, false);
	peer_add(rule_add(p, IN), "app=client", "env=dev");
	/* two peers: client pods of prod, or any pod of dev */
	p = pol_add(t, "prod", "or", "role=or", true, false);
	r = rule_add(p, IN);
	peer_add(r, "app=client", NULL);
	peer_add(r, NULL, "env=dev");
	/* namespaceSelector {}: client pods of every namespace */
	p = pol_add(t, "prod", "all-ns", "role=all-ns", true, false);
	peer_add(rule_add(p, IN), "app=client", "");
	compile(t, eps, 3, &c);

	assert_true(allowed(&c, 10, IN, "10.0.1.1", TCP, 80));
	assert_false(allowed(&c, 10, IN, "10.0.1.2", TCP, 80));
	assert_false(allowed(&c, 10, IN, "10.0.0.11", TCP, 80));
	assert_false(allowed(&c, 10, IN, "10.0.0.12", TCP, 80));
	assert_int_equal(npol_of(&c, 10, IN), 1);

	assert_true(allowed(&c, 11, IN, "10.0.1.1", TCP, 80));
	assert_true(allowed(&c, 11, IN, "10.0.1.2", TCP, 80));
	assert_true(allowed(&c, 11, IN, "10.0.0.11", TCP, 80));
	assert_false(allowed(&c, 11, IN, "10.0.0.12", TCP, 80));
	assert_int_equal(npol_of(&c, 11, IN), 3);

	assert_true(allowed(&c, 12, IN, "10.0.1.1", TCP, 80));
	assert_true(allowed(&c, 12, IN, "10.0.0.11", TCP, 80));
	assert_false(allowed(&c, 12, IN, "10.0.1.2", TCP, 80));
	assert_false(allowed(&c, 12, IN, "10.0.0.12", TCP, 80));
	compiled_free(&c);
	tb_free(t);
}

/* Peers that select nothing, and a rule with no peers (everyone, the world
 * included). */
static void test_empty_and_all_peers(void **state)
{
	struct pol_endpoint eps[] = { { 10, "default", "web" }, { 11, "default", "api" } };
	struct tb *t = tb_new(4, 2, 1);
	struct netpol *p;
	struct compiled c;

	(void)state;
	pod_add(t, "default", "web", "10.0.0.1", "app=web");
	pod_add(t, "default", "api", "10.0.0.2", "app=api");
	p = pol_add(t, "default", "nobody", "app=web", true, false);
	peer_add(rule_add(p, IN), "app=nobody", NULL);
	peer_add(&p->ingress[0], NULL, NULL); /* invalid: selects nothing */
	p = pol_add(t, "default", "everyone", "app=api", true, false);
	port_add(rule_add(p, IN), TCP, 443, 0, NULL);
	compile(t, eps, 2, &c);
	assert_int_equal(ep_flags(&c, 10), XDP_EP_POL_READY | XDP_EP_POL_INGRESS_ISOLATED);
	assert_int_equal(npol_of(&c, 10, IN), 0);
	assert_false(allowed(&c, 10, IN, "10.0.0.2", TCP, 80));
	assert_non_null(pol_find(&c, 11, IN, XDP_ID_ANY, TCP, 443, XDP_POL_PREFIX_PORT));
	assert_int_equal(c.npol, 1);
	assert_true(allowed(&c, 11, IN, "10.0.0.1", TCP, 443));
	assert_true(allowed(&c, 11, IN, "203.0.113.9", TCP, 443));
	assert_false(allowed(&c, 11, IN, "203.0.113.9", TCP, 80));
	compiled_free(&c);
	tb_free(t);
}

/* ---- ipBlock --------------------------------------------------------------- */

static void test_ipblock_except(void **state)
{
	struct pol_endpoint eps[] = { { 10, "default", "web" } };
	struct tb *t = tb_new(2, 1, 1);
	struct netpol *p;
	struct compiled c;

	(void)state;
	pod_add(t, "default", "web", "10.0.0.1", "app=web");
	p = pol_add(t, "default", "ipb", "app=web", true, false);
	peer_block(rule_add(p, IN), "10.0.0.0/8", "10.1.0.0/16", NULL);
	port_add(&p->ingress[0], TCP, 80, 0, NULL);
	compile(t, eps, 1, &c);
	assert_int_equal(c.npol, 0);
	assert_int_equal(c.ncidr, 2);
	assert_cidr(&c, 10, IN, "10.0.0.0/8", "tcp/80");
	assert_cidr(&c, 10, IN, "10.1.0.0/16", "-");
	assert_int_equal(cidr_find(&c, 10, IN, "10.0.0.0/8")->val.rule_cookie, 0);
	assert_true(allowed(&c, 10, IN, "10.2.3.4", TCP, 80));
	assert_false(allowed(&c, 10, IN, "10.2.3.4", TCP, 81));
	assert_false(allowed(&c, 10, IN, "10.2.3.4", UDP, 80));
	assert_false(allowed(&c, 10, IN, "10.1.3.4", TCP, 80));
	assert_false(allowed(&c, 10, IN, "11.0.0.1", TCP, 80));
	/* ipBlock applies to pod addresses too, by address */
	assert_true(allowed(&c, 10, IN, "10.0.0.1", TCP, 80));
	compiled_free(&c);
	tb_free(t);
}

/* The brief's case: A allows 10/8 except 10.1/16 on tcp/80, B allows
 * 10.1/16 on udp/53. */
static void test_ipblock_overlap_except_other_rule(void **state)
{
	struct pol_endpoint eps[] = { { 10, "default", "web" } };
	struct tb *t = tb_new(2, 1, 1);
	struct netpol *p;
	struct compiled c;

	(void)state;
	pod_add(t, "default", "web", "10.0.0.1", "app=web");
	p = pol_add(t, "default", "ipb", "app=web", true, false);
	peer_block(rule_add(p, IN), "10.0.0.0/8", "10.1.0.0/16", NULL);
	port_add(&p->ingress[0], TCP, 80, 0, NULL);
	peer_block(rule_add(p, IN), "10.1.0.0/16", NULL);
	port_add(&p->ingress[1], UDP, 53, 0, NULL);
	compile(t, eps, 1, &c);
	assert_int_equal(c.ncidr, 2);
	assert_cidr(&c, 10, IN, "10.0.0.0/8", "tcp/80");
	assert_cidr(&c, 10, IN, "10.1.0.0/16", "udp/53");
	assert_int_equal(cidr_find(&c, 10, IN, "10.1.0.0/16")->val.rule_cookie, 1);
	assert_true(allowed(&c, 10, IN, "10.9.0.1", TCP, 80));
	assert_false(allowed(&c, 10, IN, "10.9.0.1", UDP, 53));
	assert_true(allowed(&c, 10, IN, "10.1.0.1", UDP, 53));
	assert_false(allowed(&c, 10, IN, "10.1.0.1", TCP, 80));
	compiled_free(&c);
	tb_free(t);
}

/* Unions over nested blocks: each prefix gets every containing block's
 * ports, an except of one block does not hide another block. */
static void test_ipblock_union(void **state)
{
	struct pol_endpoint eps[] = { { 10, "default", "web" } };
	struct tb *t = tb_new(2, 2, 1);
	struct netpol *p;
	struct compiled c;

	(void)state;
	pod_add(t, "default", "web", "10.0.0.1", "app=web");
	p = pol_add(t, "default", "a", "app=web", true, false);
	peer_block(rule_add(p, IN), "10.0.0.0/8", NULL);                       /* 0 */
	port_add(&p->ingress[0], TCP, 80, 0, NULL);
	peer_block(rule_add(p, IN), "10.1.0.0/16", "10.1.2.0/24", NULL);       /* 1 */
	port_add(&p->ingress[1], UDP, 53, 0, NULL);
	/* the same prefix in two rules: one entry, both port sets */
	peer_block(rule_add(p, IN), "192.168.0.0/16", NULL);                   /* 2 */
	port_add(&p->ingress[2], TCP, 443, 0, NULL);
	peer_block(rule_add(p, IN), "192.168.0.0/16", "192.168.7.0/24", NULL); /* 3 */
	port_add(&p->ingress[3], TCP, 444, 0, NULL);
	port_add(&p->ingress[3], SCTP, 0, 0, NULL);
	/* a block inside another block's except re-allows its part */
	peer_block(rule_add(p, IN), "172.16.0.0/12", "172.17.0.0/16", NULL);   /* 4 */
	port_add(&p->ingress[4], TCP, 80, 0, NULL);
	peer_block(rule_add(p, IN), "172.17.5.0/24", NULL);                    /* 5 */
	port_add(&p->ingress[5], TCP, 80, 0, NULL);
	/* same ports inside a shorter block of an earlier rule: redundant */
	peer_block(rule_add(p, IN), "10.200.0.0/16", NULL);                    /* 6 */
	port_add(&p->ingress[6], TCP, 80, 0, NULL);
	/* a rule with no ports: every protocol */
	p = pol_add(t, "default", "b", "app=web", true, false);
	peer_block(rule_add(p, IN), "10.1.2.128/25", NULL);                     /* 7 */
	compile(t, eps, 1, &c);

	assert_cidr(&c, 10, IN, "10.0.0.0/8", "tcp/80");
	assert_cidr(&c, 10, IN, "10.1.0.0/16", "tcp/80,udp/53");
	assert_cidr(&c, 10, IN, "10.1.2.0/24", "tcp/80");
	assert_cidr(&c, 10, IN, "10.1.2.128/25", "*");
	assert_cidr(&c, 10, IN, "192.168.0.0/16", "tcp/443-444,sctp/any");
	assert_int_equal(cidr_find(&c, 10, IN, "192.168.0.0/16")->val.rule_cookie, 2);
	assert_cidr(&c, 10, IN, "192.168.7.0/24", "tcp/443");
	assert_cidr(&c, 10, IN, "172.16.0.0/12", "tcp/80");
	assert_cidr(&c, 10, IN, "172.17.0.0/16", "-");
	assert_cidr(&c, 10, IN, "172.17.5.0/24", "tcp/80");
	assert_null(cidr_find(&c, 10, IN, "10.200.0.0/16"));
	assert_int_equal(c.ncidr, 9);
	assert_int_equal(cidr_find(&c, 10, IN, "10.1.2.128/25")->val.rule_cookie, 0);

	assert_true(allowed(&c, 10, IN, "10.1.9.9", UDP, 53));
	assert_true(allowed(&c, 10, IN, "10.1.9.9", TCP, 80));
	assert_false(allowed(&c, 10, IN, "10.1.2.9", UDP, 53));
	assert_true(allowed(&c, 10, IN, "10.1.2.9", TCP, 80));
	assert_true(allowed(&c, 10, IN, "10.1.2.200", ICMP, 0));
	assert_true(allowed(&c, 10, IN, "192.168.7.1", TCP, 443));
	assert_false(allowed(&c, 10, IN, "192.168.7.1", TCP, 444));
	assert_false(allowed(&c, 10, IN, "192.168.7.1", SCTP, 9));
	assert_true(allowed(&c, 10, IN, "192.168.8.1", SCTP, 9));
	assert_false(allowed(&c, 10, IN, "172.17.4.1", TCP, 80));
	assert_true(allowed(&c, 10, IN, "172.17.5.1", TCP, 80));
	assert_true(allowed(&c, 10, IN, "172.18.5.1", TCP, 80));
	assert_true(allowed(&c, 10, IN, "10.200.1.1", TCP, 80));
	compiled_free(&c);
	tb_free(t);
}

static void test_ipblock_v6(void **state)
{
	struct pol_endpoint eps[] = { { 10, "default", "web" } };
	struct tb *t = tb_new(4, 1, 1);
	struct netpol *p;
	struct compiled c;

	(void)state;
	pod_add(t, "default", "web", "10.0.0.1,fd00::1", "app=web");
	pod_add(t, "default", "client", "10.0.0.2,fd00::2", "app=client");
	p = pol_add(t, "default", "v6", "app=web", false, true);
	peer_block(rule_add(p, EG), "2001:db8::/32", "2001:db8:1::/48", NULL);
	peer_add(rule_add(p, EG), "app=client", NULL);
	port_add(&p->egress[1], UDP, 53, 0, NULL);
	compile(t, eps, 1, &c);
	assert_int_equal(c.nipcache, 4);
	assert_int_equal(ident(&c, "fd00::2"), ident(&c, "10.0.0.2"));
	assert_int_equal(ident(&c, "fd00::3"), XDP_ID_WORLD);
	assert_cidr(&c, 10, EG, "2001:db8::/32", "*");
	assert_cidr(&c, 10, EG, "2001:db8:1::/48", "-");
	assert_true(allowed(&c, 10, EG, "2001:db8:2::1", TCP, 1));
	assert_false(allowed(&c, 10, EG, "2001:db8:1::1", TCP, 1));
	assert_false(allowed(&c, 10, EG, "2001:db9::1", TCP, 1));
	assert_true(allowed(&c, 10, EG, "fd00::2", UDP, 53));
	assert_false(allowed(&c, 10, EG, "fd00::2", UDP, 54));
	assert_true(allowed(&c, 10, EG, "10.0.0.2", UDP, 53));
	/* a v4 block never matches v6 and back */
	assert_false(allowed(&c, 10, EG, "32.1.13.184", TCP, 1));
	compiled_free(&c);
	tb_free(t);
}

/* ---- ports ----------------------------------------------------------------- */

static void test_ports(void **state)
{
	struct pol_endpoint eps[] = { { 10, "default", "web" } };
	struct tb *t = tb_new(4, 1, 1);
	const struct pol_entry *e;
	struct netpol *p;
	struct rule *r;
	struct compiled c;
	uint32_t id;

	(void)state;
	pod_add(t, "default", "web", "10.0.0.1", "app=web");
	pod_add(t, "default", "client", "10.0.0.2", "app=client");
	p = pol_add(t, "default", "ports", "app=web", true, false);
	r = rule_add(p, IN);
	peer_add(r, "app=client", NULL);
	port_add(r, TCP, 80, 0, NULL);        /* one port */
	port_add(r, UDP, 0, 0, NULL);         /* every UDP port */
	port_add(r, TCP, 8000, 8015, NULL);   /* one aligned block of 16 */
	port_add(r, TCP, 100, 110, NULL);     /* 100-103, 104-107, 108-109, 110 */
	port_add(r, SCTP, 3868, 0, NULL);
	port_add(r, TCP, 8010, 8012, NULL);   /* inside 8000-8015: merged away */
	compile(t, eps, 1, &c);
	id = ident(&c, "10.0.0.2");

	e = pol_find(&c, 10, IN, id, TCP, 80, XDP_POL_PREFIX_PORT);
	assert_non_null(e);
	/* network order: the high byte first, so the LPM sees the high bits first */
	assert_int_equal(((const uint8_t *)&e->key.dport)[0], 0);
	assert_int_equal(((const uint8_t *)&e->key.dport)[1], 80);
	assert_non_null(pol_find(&c, 10, IN, id, UDP, 0, XDP_POL_PREFIX_ANY_PORT));
	assert_non_null(pol_find(&c, 10, IN, id, TCP, 8000, XDP_POL_PREFIX_BLOCK(4)));
	assert_non_null(pol_find(&c, 10, IN, id, TCP, 100, XDP_POL_PREFIX_BLOCK(2)));
	assert_non_null(pol_find(&c, 10, IN, id, TCP, 104, XDP_POL_PREFIX_BLOCK(2)));
	assert_non_null(pol_find(&c, 10, IN, id, TCP, 108, XDP_POL_PREFIX_BLOCK(1)));
	assert_non_null(pol_find(&c, 10, IN, id, TCP, 110, XDP_POL_PREFIX_PORT));
	assert_non_null(pol_find(&c, 10, IN, id, SCTP, 3868, XDP_POL_PREFIX_PORT));
	assert_int_equal(c.npol, 8);

	assert_true(allowed(&c, 10, IN, "10.0.0.2", TCP, 80));
	assert_false(allowed(&c, 10, IN, "10.0.0.2", TCP, 81));
	assert_false(allowed(&c, 10, IN, "10.0.0.2", SCTP, 80));
	assert_true(allowed(&c, 10, IN, "10.0.0.2", UDP, 1));
	assert_true(allowed(&c, 10, IN, "10.0.0.2", UDP, 65535));
	assert_false(allowed(&c, 10, IN, "10.0.0.2", TCP, 7999));
	for (int port = 8000; port <= 8015; port++)
		assert_true(allowed(&c, 10, IN, "10.0.0.2", TCP, (uint16_t)port));
	assert_false(allowed(&c, 10, IN, "10.0.0.2", TCP, 8016));
	assert_false(allowed(&c, 10, IN, "10.0.0.2", TCP, 99));
	for (int port = 100; port <= 110; port++)
		assert_true(allowed(&c, 10, IN, "10.0.0.2", TCP, (uint16_t)port));
	assert_false(allowed(&c, 10, IN, "10.0.0.2", TCP, 111));
	assert_true(allowed(&c, 10, IN, "10.0.0.2", SCTP, 3868));
	assert_false(allowed(&c, 10, IN, "10.0.0.2", ICMP, 0));
	compiled_free(&c);
	tb_free(t);
}

/* Ranges: every split is exact, over the whole port space. */
static void test_port_range_blocks(void **state)
{
	static const uint16_t ranges[][2] = {
		{ 1, 65535 }, { 0, 65535 }, { 1, 1 }, { 80, 90 }, { 1023, 1025 },
		{ 32768, 60999 }, { 65535, 65535 }, { 3, 65534 },
	};
	struct pol_endpoint eps[] = { { 10, "default", "web" } };

	(void)state;
	for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
		struct tb *t = tb_new(2, 1, 1);
		struct netpol *p;
		struct compiled c;

		pod_add(t, "default", "web", "10.0.0.1", "app=web");
		p = pol_add(t, "default", "range", "", true, false);
		port_add(rule_add(p, IN), TCP, ranges[i][0], ranges[i][1], NULL);
		compile(t, eps, 1, &c);
		assert_true(c.npol <= 30);
		for (uint32_t port = 0; port <= 65535; port++) {
			/* "port 0" in the model means no port: every port */
			int want = ranges[i][0] == 0 ||
				   (port >= ranges[i][0] && port <= ranges[i][1]);

			if (allowed(&c, 10, IN, "1.1.1.1", TCP, (uint16_t)port) != want)
				fail_msg("range %u-%u port %u", ranges[i][0], ranges[i][1], port);
		}
		if (ranges[i][0] == 1 && ranges[i][1] == 65535)
			assert_int_equal(c.npol, 16);
		if (ranges[i][0] == 0)
			assert_non_null(pol_find(&c, 10, IN, 0, TCP, 0, XDP_POL_PREFIX_ANY_PORT));
		compiled_free(&c);
		tb_free(t);
	}
}

static void test_named_ports_ingress(void **state)
{
	struct pol_endpoint eps[] = { { 10, "default", "web1" }, { 11, "default", "web2" },
				      { 12, "default", "web3" } };
	struct tb *t = tb_new(4, 2, 1);
	struct netpol *p;
	struct compiled c;
	struct pod *pod;

	(void)state;
	pod = pod_add(t, "default", "web1", "10.0.0.1", "app=web");
	pod_port(pod, "http", TCP, 8080);
	pod_port(pod, NULL, TCP, 9999);
	pod = pod_add(t, "default", "web2", "10.0.0.2", "app=web");
	pod_port(pod, "http", TCP, 80);
	pod_port(pod, "metrics", TCP, 9090);
	pod = pod_add(t, "default", "web3", "10.0.0.3", "app=web");
	pod_port(pod, "http", UDP, 8080); /* wrong protocol */
	p = pol_add(t, "default", "http", "app=web", true, false);
	port_add(rule_add(p, IN), TCP, 0, 0, "http");
	port_add(&p->ingress[0], TCP, 0, 0, "metrics");
	/* a name no selected pod has */
	p = pol_add(t, "default", "nope", "app=web", true, false);
	peer_block(rule_add(p, IN), "192.168.0.0/16", NULL);
	port_add(&p->ingress[0], TCP, 0, 0, "nope");
	compile(t, eps, 3, &c);

	assert_non_null(pol_find(&c, 10, IN, XDP_ID_ANY, TCP, 8080, XDP_POL_PREFIX_PORT));
	assert_int_equal(npol_of(&c, 10, IN), 1);
	assert_non_null(pol_find(&c, 11, IN, XDP_ID_ANY, TCP, 80, XDP_POL_PREFIX_PORT));
	assert_non_null(pol_find(&c, 11, IN, XDP_ID_ANY, TCP, 9090, XDP_POL_PREFIX_PORT));
	assert_int_equal(npol_of(&c, 11, IN), 2);
	assert_int_equal(npol_of(&c, 12, IN), 0);
	assert_int_equal(ep_flags(&c, 12), XDP_EP_POL_READY | XDP_EP_POL_INGRESS_ISOLATED);
	assert_int_equal(c.ncidr, 0);
	assert_true(allowed(&c, 10, IN, "1.2.3.4", TCP, 8080));
	assert_false(allowed(&c, 10, IN, "1.2.3.4", TCP, 80));
	assert_true(allowed(&c, 11, IN, "1.2.3.4", TCP, 80));
	assert_false(allowed(&c, 11, IN, "1.2.3.4", TCP, 8080));
	assert_false(allowed(&c, 12, IN, "1.2.3.4", UDP, 8080));
	/* resolved somewhere: no warning for http; nope: one warning */
	assert_false(has_error(&c, "NetworkPolicy", "default", "http", ""));
	assert_true(has_error(&c, "NetworkPolicy", "default", "nope",
			      "spec.ingress[0].ports[0].port \"nope\""));
	assert_int_equal(c.nerrors, 1);
	compiled_free(&c);
	tb_free(t);
}

static void test_named_ports_egress(void **state)
{
	struct pol_endpoint eps[] = { { 10, "default", "client" }, { 11, "default", "any" } };
	struct tb *t = tb_new(8, 2, 1);
	struct netpol *p;
	struct compiled c;
	struct pod *pod;
	uint32_t a, b;

	(void)state;
	pod_add(t, "default", "client", "10.0.0.1", "app=client");
	pod_add(t, "default", "any", "10.0.0.9", "app=any");
	pod = pod_add(t, "default", "web-a1", "10.0.1.1", "app=web");
	pod_port(pod, "http", TCP, 8080);
	pod_port(pod, "dns", UDP, 5353);
	pod = pod_add(t, "default", "web-a2", "10.0.1.2", "app=web");
	pod_port(pod, "dns", UDP, 5353); /* ports in another order: same identity */
	pod_port(pod, "http", TCP, 8080);
	pod = pod_add(t, "default", "web-b", "10.0.2.1", "app=web");
	pod_port(pod, "http", TCP, 80);
	pod = pod_add(t, "default", "web-c", "10.0.3.1", "app=web"); /* no http */
	pod_port(pod, NULL, TCP, 80);
	pod = pod_add(t, "kube-system", "coredns", "10.0.9.1", "k8s-app=dns");
	pod_port(pod, "dns", UDP, 53);
	p = pol_add(t, "default", "to-web", "app=client", false, true);
	peer_add(rule_add(p, EG), "app=web", NULL);
	port_add(&p->egress[0], TCP, 0, 0, "http");
	port_add(&p->egress[0], TCP, 443, 0, NULL);
	/* no peers: the name is looked up on every pod */
	p = pol_add(t, "default", "dns-anywhere", "app=any", false, true);
	port_add(rule_add(p, EG), UDP, 0, 0, "dns");
	compile(t, eps, 2, &c);

	a = ident(&c, "10.0.1.1");
	b = ident(&c, "10.0.2.1");
	assert_int_equal(ident(&c, "10.0.1.2"), a);
	assert_int_not_equal(a, b); /* same labels, different meaning of "http" */
	assert_int_not_equal(ident(&c, "10.0.3.1"), a);
	assert_non_null(pol_find(&c, 10, EG, a, TCP, 8080, XDP_POL_PREFIX_PORT));
	assert_non_null(pol_find(&c, 10, EG, b, TCP, 80, XDP_POL_PREFIX_PORT));
	assert_null(pol_find(&c, 10, EG, a, TCP, 80, XDP_POL_PREFIX_PORT));
	/* 3 identities x 443, and http where it resolves: a -> 8080, b -> 80 */
	assert_int_equal(npol_of(&c, 10, EG), 3 + 2);
	assert_true(allowed(&c, 10, EG, "10.0.1.1", TCP, 8080));
	assert_true(allowed(&c, 10, EG, "10.0.1.2", TCP, 8080));
	assert_false(allowed(&c, 10, EG, "10.0.1.1", TCP, 80));
	assert_true(allowed(&c, 10, EG, "10.0.2.1", TCP, 80));
	assert_false(allowed(&c, 10, EG, "10.0.2.1", TCP, 8080));
	assert_false(allowed(&c, 10, EG, "10.0.3.1", TCP, 80));
	assert_true(allowed(&c, 10, EG, "10.0.3.1", TCP, 443));
	assert_false(allowed(&c, 10, EG, "10.0.1.1", UDP, 5353));

	assert_int_equal(npol_of(&c, 11, EG), 2);
	assert_true(allowed(&c, 11, EG, "10.0.1.1", UDP, 5353));
	assert_true(allowed(&c, 11, EG, "10.0.1.2", UDP, 5353));
	assert_true(allowed(&c, 11, EG, "10.0.9.1", UDP, 53));
	assert_false(allowed(&c, 11, EG, "10.0.9.1", UDP, 5353));
	assert_false(allowed(&c, 11, EG, "8.8.8.8", UDP, 53));
	assert_int_equal(c.nerrors, 0);
	compiled_free(&c);
	tb_free(t);
}

/* Egress port names on an ipBlock resolve per pod inside the block, as
 * host entries; ingress ones against the endpoint itself. */
static void test_named_ports_ipblock(void **state)
{
	struct pol_endpoint eps[] = { { 10, "default", "client" }, { 11, "default", "web" } };
	struct tb *t = tb_new(8, 2, 1);
	struct netpol *p;
	struct compiled c;
	struct pod *pod;

	(void)state;
	pod = pod_add(t, "default", "client", "10.0.0.1", "app=client");
	pod_port(pod, "http", TCP, 7000);
	pod = pod_add(t, "default", "web", "10.0.1.1,fd00::11", "app=web");
	pod_port(pod, "http", TCP, 8080);
	pod = pod_add(t, "default", "web-x", "10.0.2.1", "app=web");
	pod_port(pod, "http", TCP, 8081);
	pod_add(t, "default", "plain", "10.0.1.2", "app=plain");
	pod = pod_add(t, "default", "far", "10.9.0.1", "app=web");
	pod_port(pod, "http", TCP, 8082);
	p = pol_add(t, "default", "egress", "app=client", false, true);
	peer_block(rule_add(p, EG), "10.0.0.0/16", "10.0.2.0/24", NULL);
	port_add(&p->egress[0], TCP, 0, 0, "http");
	port_add(&p->egress[0], TCP, 443, 0, NULL);
	p = pol_add(t, "default", "ingress", "app=web", true, false);
	peer_block(rule_add(p, IN), "192.168.0.0/16", NULL);
	port_add(&p->ingress[0], TCP, 0, 0, "http");
	compile(t, eps, 2, &c);

	assert_cidr(&c, 10, EG, "10.0.0.0/16", "tcp/443");
	assert_cidr(&c, 10, EG, "10.0.2.0/24", "-");
	assert_cidr(&c, 10, EG, "10.0.1.1/32", "tcp/443,tcp/8080");
	/* the endpoint's own address resolves like any other pod's */
	assert_cidr(&c, 10, EG, "10.0.0.1/32", "tcp/443,tcp/7000");
	assert_int_equal(ncidr_of(&c, 10, EG), 4);
	assert_true(allowed(&c, 10, EG, "10.0.1.1", TCP, 8080));
	assert_true(allowed(&c, 10, EG, "10.0.1.1", TCP, 443));
	assert_false(allowed(&c, 10, EG, "10.0.1.1", TCP, 8081));
	assert_false(allowed(&c, 10, EG, "10.0.1.2", TCP, 8080));  /* no such name */
	assert_true(allowed(&c, 10, EG, "10.0.1.2", TCP, 443));
	assert_false(allowed(&c, 10, EG, "10.0.1.99", TCP, 8080)); /* no pod */
	assert_false(allowed(&c, 10, EG, "10.0.2.1", TCP, 8081));  /* excepted */
	assert_false(allowed(&c, 10, EG, "10.0.2.1", TCP, 443));
	assert_false(allowed(&c, 10, EG, "10.9.0.1", TCP, 8082));  /* outside */
	assert_false(allowed(&c, 10, EG, "fd00::11", TCP, 8080));  /* v6 not in the block */

	assert_cidr(&c, 11, IN, "192.168.0.0/16", "tcp/8080");
	assert_int_equal(ncidr_of(&c, 11, IN), 1);
	assert_true(allowed(&c, 11, IN, "192.168.3.3", TCP, 8080));
	assert_false(allowed(&c, 11, IN, "192.168.3.3", TCP, 8081));
	assert_int_equal(c.nerrors, 0);
	compiled_free(&c);
	tb_free(t);
}

/* ---- several policies, policyTypes, cookies -------------------------------- */

static void test_policies_union(void **state)
{
	struct pol_endpoint eps[] = { { 10, "default", "web" } };
	struct tb *t = tb_new(4, 3, 1);
	struct netpol *p;
	struct compiled c;

	(void)state;
	pod_add(t, "default", "web", "10.0.0.1", "app=web,tier=fe");
	pod_add(t, "default", "a", "10.0.0.2", "app=a");
	pod_add(t, "default", "b", "10.0.0.3", "app=b");
	p = pol_add(t, "default", "p1", "app=web", true, false);
	peer_add(rule_add(p, IN), "app=a", NULL);
	port_add(&p->ingress[0], TCP, 80, 0, NULL);
	p = pol_add(t, "default", "p2", "tier=fe", true, false);
	peer_add(rule_add(p, IN), "app=b", NULL);
	port_add(&p->ingress[0], UDP, 53, 0, NULL);
	/* policyTypes [Egress]: its ingress rules are not in force */
	p = pol_add(t, "default", "p3", "app=web", false, true);
	rule_add(p, IN);
	rule_add(p, EG);
	compile(t, eps, 1, &c);
	assert_int_equal(ep_flags(&c, 10), XDP_EP_POL_READY | XDP_EP_POL_INGRESS_ISOLATED |
						   XDP_EP_POL_EGRESS_ISOLATED);
	assert_true(allowed(&c, 10, IN, "10.0.0.2", TCP, 80));
	assert_false(allowed(&c, 10, IN, "10.0.0.2", UDP, 53));
	assert_true(allowed(&c, 10, IN, "10.0.0.3", UDP, 53));
	assert_false(allowed(&c, 10, IN, "10.0.0.3", TCP, 80));
	assert_false(allowed(&c, 10, IN, "8.8.8.8", TCP, 80));
	assert_true(allowed(&c, 10, EG, "8.8.8.8", TCP, 80)); /* p3's egress rule: all */
	assert_int_equal(npol_of(&c, 10, IN), 2);
	assert_int_equal(c.nrules, 4);
	assert_int_equal(cookie_for(&c, 10, IN, "10.0.0.3", UDP, 53), 1);
	assert_int_equal(c.rules[3].dir, EG);
	assert_string_equal(c.rules[3].policy, "p3");
	compiled_free(&c);
	tb_free(t);
}

/* The same key from several rules keeps the smallest cookie, and cookies
 * follow (namespace, name), not the order of the set. */
static void test_cookies(void **state)
{
	struct pol_endpoint eps[] = { { 10, "default", "web" } };
	struct tb *t1 = tb_new(2, 2, 1), *t2 = tb_new(2, 2, 1);
	struct tb *ts[2] = { t1, t2 };
	struct compiled c1, c2;

	(void)state;
	for (int k = 0; k < 2; k++) {
		const char *names[2] = { k ? "zeta" : "alpha", k ? "alpha" : "zeta" };

		pod_add(ts[k], "default", "web", "10.0.0.1", "app=web");
		pod_add(ts[k], "default", "a", "10.0.0.2", "app=a");
		for (int i = 0; i < 2; i++) {
			struct netpol *p = pol_add(ts[k], "default", names[i], "app=web", true, false);

			/* rule 0 opens nothing, rule 1 the same key in both */
			peer_add(rule_add(p, IN), "app=nobody", NULL);
			peer_add(rule_add(p, IN), "app=a", NULL);
			port_add(&p->ingress[1], TCP, 80, 0, NULL);
		}
	}
	compile(t1, eps, 1, &c1);
	compile(t2, eps, 1, &c2);
	assert_int_equal(c1.npol, 1);
	assert_int_equal(c1.pol[0].val.rule_cookie, 1); /* alpha's rule 1, not zeta's 3 */
	assert_string_equal(c1.rules[1].policy, "alpha");
	assert_string_equal(c2.rules[1].policy, "alpha");
	assert_string_equal(c1.rules[3].policy, "zeta");
	assert_int_equal(c1.npol, c2.npol);
	assert_memory_equal(c1.pol, c2.pol, c1.npol * sizeof(*c1.pol));
	compiled_free(&c1);
	compiled_free(&c2);
	tb_free(t1);
	tb_free(t2);
}

/* ---- pods without identity or address ------------------------------------- */

static void test_host_network_and_no_ip(void **state)
{
	struct pol_endpoint eps[] = { { 10, "default", "web" } };
	struct tb *t = tb_new(4, 1, 1);
	struct netpol *p;
	struct compiled c;
	struct pod *pod;
	uint32_t id;

	(void)state;
	pod_add(t, "default", "web", "10.0.0.1", "app=web");
	pod = pod_add(t, "default", "node-agent", "192.168.1.10", "app=client");
	pod->host_network = true;
	pod_add(t, "default", "pending", NULL, "app=client");
	p = pol_add(t, "default", "from-client", "app=web", true, false);
	peer_add(rule_add(p, IN), "app=client", NULL);
	compile(t, eps, 1, &c);
	/* web only: the hostNetwork pod's address is the node's, pending has none */
	assert_int_equal(c.nipcache, 1);
	assert_int_equal(ident(&c, "192.168.1.10"), XDP_ID_WORLD);
	assert_false(allowed(&c, 10, IN, "192.168.1.10", TCP, 80));
	/* the pending pod has an identity already: its entry waits for its IP */
	assert_int_equal(c.npol, 1);
	id = c.pol[0].key.identity;
	assert_true(id >= XDP_ID_FIRST_POD);
	assert_int_not_equal(id, ident(&c, "10.0.0.1"));
	compiled_free(&c);
	tb_free(t);
}

static void test_unknown_and_duplicate_endpoints(void **state)
{
	struct pol_endpoint eps[] = { { 10, "default", "ghost" }, { 11, "default", "web" },
				      { 12, "default", "web" }, { 12, "default", "a" },
				      { 13, NULL, NULL } };
	struct tb *t = tb_new(4, 1, 1);
	struct compiled c;

	(void)state;
	pod_add(t, "default", "web", "10.0.0.1", "app=web");
	pod_add(t, "default", "a", "10.0.0.2", "app=a");
	compile(t, eps, 5, &c);
	assert_int_equal(c.neps, 4);
	assert_int_equal(ep_flags(&c, 10), XDP_EP_POL_INGRESS_ISOLATED | XDP_EP_POL_EGRESS_ISOLATED);
	assert_int_equal(ep_flags(&c, 11), XDP_EP_POL_READY);
	assert_int_equal(ep_flags(&c, 12), XDP_EP_POL_INGRESS_ISOLATED | XDP_EP_POL_EGRESS_ISOLATED);
	assert_int_equal(ep_flags(&c, 13), XDP_EP_POL_INGRESS_ISOLATED | XDP_EP_POL_EGRESS_ISOLATED);
	assert_false(allowed(&c, 10, IN, "10.0.0.2", TCP, 80));
	assert_false(allowed(&c, 12, EG, "10.0.0.2", TCP, 80));
	assert_true(allowed(&c, 11, IN, "10.0.0.2", TCP, 80));
	assert_true(has_error(&c, "Pod", "default", "ghost", "no such pod"));
	assert_true(has_error(&c, "Pod", "default", "a", "claimed by 2 pods"));
	assert_int_equal(c.nerrors, 4);
	compiled_free(&c);
	tb_free(t);
}

static void test_duplicate_pod_ip(void **state)
{
	struct pol_endpoint eps[] = { { 10, "default", "web" } };
	struct tb *t = tb_new(4, 1, 1);
	struct compiled c;

	(void)state;
	pod_add(t, "default", "web", "10.0.0.1", "app=web");
	pod_add(t, "default", "old", "10.0.0.2", "app=old");
	pod_add(t, "default", "new", "10.0.0.2", "app=new");
	compile(t, eps, 1, &c);
	assert_int_equal(c.nipcache, 2);
	assert_int_equal(c.nerrors, 1);
	assert_non_null(strstr(c.errors[0].reason, "10.0.0.2"));
	compiled_free(&c);
	tb_free(t);
}

/* ---- fail closed ----------------------------------------------------------- */

static void test_fail_closed_entry_limit(void **state)
{
	struct pol_endpoint eps[] = { { 10, "default", "web" }, { 11, "default", "api" } };
	const size_t npods = 3000;
	struct tb *t = tb_new(npods + 2, 2, 1);
	struct netpol *p;
	struct compiled c;
	char name[32], labels[32];

	(void)state;
	pod_add(t, "default", "web", "10.0.0.1", "app=web");
	pod_add(t, "default", "api", "10.0.0.2", "app=api");
	for (size_t i = 0; i < npods; i++) {
		snprintf(name, sizeof(name), "c%zu", i);
		snprintf(labels, sizeof(labels), "app=c,i=%zu", i);
		pod_add(t, "other", name, NULL, labels);
	}
	/* 3000 identities x 23 ports > POL_EP_MAX_ENTRIES */
	p = pol_add(t, "default", "huge", "app=web", false, true);
	peer_add(rule_add(p, EG), "app=c", "");
	for (int i = 0; i < 23; i++)
		port_add(&p->egress[0], TCP, (uint16_t)(1000 + 2 * i), 0, NULL);
	p = pol_add(t, "default", "small", "app=api", false, true);
	peer_add(rule_add(p, EG), "app=c", "");
	port_add(&p->egress[0], TCP, 1000, 0, NULL);
	compile(t, eps, 2, &c);
	assert_true(npods * 23 > POL_EP_MAX_ENTRIES);
	assert_int_equal(ep_flags(&c, 10), XDP_EP_POL_READY | XDP_EP_POL_INGRESS_ISOLATED |
						   XDP_EP_POL_EGRESS_ISOLATED);
	assert_int_equal(npol_of(&c, 10, EG) + npol_of(&c, 10, IN), 0);
	assert_false(allowed(&c, 10, IN, "10.0.0.2", TCP, 80));
	assert_true(has_error(&c, "Pod", "default", "web", "exceed its share"));
	assert_int_equal(npol_of(&c, 11, EG), npods);
	assert_int_equal(ep_flags(&c, 11), XDP_EP_POL_READY | XDP_EP_POL_EGRESS_ISOLATED);
	compiled_free(&c);
	tb_free(t);
}

static void test_fail_closed_cidr_limit(void **state)
{
	struct pol_endpoint eps[] = { { 10, "default", "web" } };
	struct tb *t = tb_new(2, 1, 1);
	struct ip_block *b;
	struct netpol *p;
	struct compiled c;

	(void)state;
	pod_add(t, "default", "web", "10.0.0.1", "app=web");
	p = pol_add(t, "default", "holes", "app=web", true, false);
	b = &peer_block(rule_add(p, IN), "10.0.0.0/8", NULL)->ip_block;
	b->nexcept = POL_EP_MAX_CIDR + 1;
	b->except = xcalloc(b->nexcept, sizeof(*b->except));
	for (size_t i = 0; i < b->nexcept; i++) {
		char s[32];

		snprintf(s, sizeof(s), "10.%zu.%zu.0/24", i >> 8, i & 255);
		b->except[i] = N(s);
	}
	compile(t, eps, 1, &c);
	assert_int_equal(c.ncidr, 0);
	assert_int_equal(ep_flags(&c, 10), XDP_EP_POL_READY | XDP_EP_POL_INGRESS_ISOLATED |
						   XDP_EP_POL_EGRESS_ISOLATED);
	assert_true(has_error(&c, "Pod", "default", "web", "exceed its share"));
	compiled_free(&c);

	b->nexcept = POL_EP_MAX_CIDR - 1; /* fits: the cidr and every except */
	compile(t, eps, 1, &c);
	assert_int_equal(c.ncidr, POL_EP_MAX_CIDR);
	assert_int_equal(c.nerrors, 0);
	assert_true(allowed(&c, 10, IN, "10.200.0.1", TCP, 1));
	assert_false(allowed(&c, 10, IN, "10.0.0.1", TCP, 1));
	compiled_free(&c);
	tb_free(t);
}

static void test_fail_closed_portset(void **state)
{
	struct pol_endpoint eps[] = { { 10, "default", "web" } };
	struct tb *t = tb_new(4, 1, 1);
	struct netpol *p;
	struct compiled c;

	(void)state;
	pod_add(t, "default", "web", "10.0.0.1", "app=web");
	pod_add(t, "default", "a", "10.0.0.2", "app=a");
	p = pol_add(t, "default", "many", "app=web", true, true);
	peer_add(rule_add(p, IN), "app=a", NULL);
	peer_block(rule_add(p, IN), "192.168.0.0/16", NULL);
	/* adjacent ports merge: 8 + 8 of them are 2 ranges */
	for (int i = 0; i < 16; i++)
		port_add(&p->ingress[1], i < 8 ? TCP : UDP, (uint16_t)(100 + i % 8), 0, NULL);
	peer_add(rule_add(p, EG), "app=a", NULL);
	compile(t, eps, 1, &c);
	assert_cidr(&c, 10, IN, "192.168.0.0/16", "tcp/100-107,udp/100-107");
	assert_int_equal(c.nerrors, 0);
	compiled_free(&c);

	/* 9 ranges on one prefix: ingress fails closed, egress still works */
	port_add(&p->ingress[1], TCP, 9000, 0, NULL);
	for (int i = 0; i < 6; i++)
		port_add(&p->ingress[1], SCTP, (uint16_t)(10 + 2 * i), 0, NULL);
	compile(t, eps, 1, &c);
	assert_int_equal(ep_flags(&c, 10), XDP_EP_POL_READY | XDP_EP_POL_INGRESS_ISOLATED |
						   XDP_EP_POL_EGRESS_ISOLATED);
	assert_int_equal(npol_of(&c, 10, IN), 0);
	assert_int_equal(ncidr_of(&c, 10, IN), 0);
	assert_false(allowed(&c, 10, IN, "10.0.0.2", TCP, 80));
	assert_false(allowed(&c, 10, IN, "192.168.0.1", TCP, 100));
	assert_true(allowed(&c, 10, EG, "10.0.0.2", TCP, 80));
	assert_true(has_error(&c, "Pod", "default", "web", "ingress isolated with no rules"));
	compiled_free(&c);
	tb_free(t);
}

/* ---- identities ------------------------------------------------------------ */

static void test_identity_stability(void **state)
{
	struct pol_endpoint eps[] = { { 10, "default", "web" } };
	struct id_alloc *ids = id_alloc_new();
	struct tb *t = tb_new(8, 1, 2);
	struct compiled c;
	struct pod *pod;
	uint32_t a, b, d, e, a2;

	(void)state;
	ns_add(t, "default", "team=x");
	pod_add(t, "default", "web", "10.0.0.1", "app=web");
	pod_add(t, "default", "a", "10.0.0.2", "app=a,tier=1");
	pod_add(t, "default", "b", "10.0.0.3", "tier=1,app=a"); /* label order */
	pod_add(t, "other", "d", "10.0.0.4", "app=a,tier=1");   /* namespace */
	pod = pod_add(t, "default", "e", "10.0.0.5", "app=a,tier=1");
	pod_port(pod, "http", TCP, 80);                         /* named port */
	pod_port(pod, NULL, TCP, 81);
	compile_ids(t, eps, 1, ids, &c);
	a = ident(&c, "10.0.0.2");
	b = ident(&c, "10.0.0.3");
	d = ident(&c, "10.0.0.4");
	e = ident(&c, "10.0.0.5");
	assert_int_equal(a, b);
	assert_int_not_equal(a, d);
	assert_int_not_equal(a, e);
	assert_true(a >= XDP_ID_FIRST_POD && d >= XDP_ID_FIRST_POD && e >= XDP_ID_FIRST_POD);
	assert_int_equal(id_alloc_count(ids), 4);
	compiled_free(&c);

	/* again: the same identities */
	compile_ids(t, eps, 1, ids, &c);
	assert_int_equal(ident(&c, "10.0.0.2"), a);
	assert_int_equal(ident(&c, "10.0.0.4"), d);
	assert_int_equal(ident(&c, "10.0.0.5"), e);
	compiled_free(&c);

	/* a namespace label is part of the key */
	label_add(&t->s.nss[0].labels, "extra", "1");
	compile_ids(t, eps, 1, ids, &c);
	a2 = ident(&c, "10.0.0.2");
	assert_int_not_equal(a2, a);
	assert_int_equal(ident(&c, "10.0.0.4"), d); /* other namespace untouched */
	/* the unused keys are gone, their identities not handed out again */
	assert_int_equal(id_alloc_count(ids), 4);
	compiled_free(&c);
	t->s.nss[0].labels.n--;
	free(t->s.nss[0].labels.v[t->s.nss[0].labels.n].key);
	free(t->s.nss[0].labels.v[t->s.nss[0].labels.n].value);
	compile_ids(t, eps, 1, ids, &c);
	assert_true(ident(&c, "10.0.0.2") > a2);
	compiled_free(&c);
	id_alloc_free(ids);
	tb_free(t);
}

/* ---- diff ------------------------------------------------------------------ */

/* Apply a delta to old's arrays the way the agent applies it to the maps,
 * and check that the result is cur. */
static void apply_one(const void *old, size_t nold, const void *put, size_t nput,
		      const void *del, size_t ndel, const void *cur, size_t ncur, size_t esize,
		      size_t ksize)
{
	char *m = xcalloc(nold + nput + 1, esize);
	size_t n = 0;

	for (size_t i = 0; i < nold; i++) {
		const char *e = (const char *)old + i * esize;
		bool gone = false;

		for (size_t j = 0; j < ndel && !gone; j++)
			gone = !memcmp(e, (const char *)del + j * ksize, ksize);
		if (!gone)
			memcpy(m + n++ * esize, e, esize);
	}
	for (size_t j = 0; j < nput; j++) {
		const char *p = (const char *)put + j * esize;
		size_t i;

		for (i = 0; i < n && memcmp(m + i * esize, p, ksize); i++)
			;
		memcpy(m + i * esize, p, esize);
		if (i == n)
			n++;
	}
	assert_int_equal(n, ncur);
	for (size_t i = 0; i < ncur; i++) {
		const char *want = (const char *)cur + i * esize;
		bool found = false;

		for (size_t j = 0; j < n && !found; j++)
			found = !memcmp(m + j * esize, want, esize);
		assert_true(found);
	}
	free(m);
}

static void check_diff(const struct compiled *old, const struct compiled *cur,
		       struct compiled_delta *d)
{
	assert_int_equal(compiled_diff(old, cur, d), 0);
	apply_one(old->ipcache, old->nipcache, d->ipcache_put, d->nipcache_put, d->ipcache_del,
		  d->nipcache_del, cur->ipcache, cur->nipcache, sizeof(struct ipcache_entry),
		  sizeof(struct xdp_cidr_key));
	apply_one(old->pol, old->npol, d->pol_put, d->npol_put, d->pol_del, d->npol_del, cur->pol,
		  cur->npol, sizeof(struct pol_entry), sizeof(struct xdp_pol_key));
	apply_one(old->cidr, old->ncidr, d->cidr_put, d->ncidr_put, d->cidr_del, d->ncidr_del,
		  cur->cidr, cur->ncidr, sizeof(struct cidr_entry), sizeof(struct xdp_polcidr_key));
	apply_one(old->eps, old->neps, d->eps_put, d->neps_put, d->eps_del, d->neps_del, cur->eps,
		  cur->neps, sizeof(struct ep_pol_entry), sizeof(uint32_t));
}

static size_t delta_size(const struct compiled_delta *d)
{
	return d->nipcache_put + d->nipcache_del + d->npol_put + d->npol_del + d->ncidr_put +
	       d->ncidr_del + d->neps_put + d->neps_del;
}

static void test_diff(void **state)
{
	struct pol_endpoint eps[] = { { 10, "default", "web" }, { 11, "default", "db" } };
	struct id_alloc *ids = id_alloc_new();
	struct tb *t = tb_new(8, 2, 1);
	struct compiled c1, c2, c3, c4, empty = { 0 };
	struct compiled_delta d;
	struct netpol *p;
	uint32_t old_id;

	(void)state;
	pod_add(t, "default", "web", "10.0.0.1", "app=web");
	pod_add(t, "default", "db", "10.0.0.2", "app=db");
	pod_add(t, "default", "a", "10.0.0.3", "app=a");
	p = pol_add(t, "default", "web-from-a", "app=web", true, false);
	peer_add(rule_add(p, IN), "app=a", NULL);
	port_add(&p->ingress[0], TCP, 80, 0, NULL);
	peer_block(rule_add(p, IN), "192.168.0.0/16", "192.168.1.0/24", NULL);
	p = pol_add(t, "default", "db-deny", "app=db", true, true);
	compile_ids(t, eps, 2, ids, &c1);

	/* nothing changed: nothing to do */
	compile_ids(t, eps, 2, ids, &c2);
	assert_int_equal(compiled_diff(&c1, &c2, &d), 0);
	assert_int_equal(delta_size(&d), 0);
	compiled_delta_free(&d);
	compiled_free(&c2);

	/* from nothing: everything is a put */
	check_diff(&empty, &c1, &d);
	assert_int_equal(d.nipcache_put, c1.nipcache);
	assert_int_equal(d.npol_put, c1.npol);
	assert_int_equal(d.ncidr_put, c1.ncidr);
	assert_int_equal(d.neps_put, 2);
	compiled_delta_free(&d);

	/* a's label changes: its identity moves, web's entry follows */
	old_id = ident(&c1, "10.0.0.3");
	label_add(&t->s.pods[2].labels, "v", "2");
	compile_ids(t, eps, 2, ids, &c2);
	check_diff(&c1, &c2, &d);
	assert_int_equal(d.nipcache_put, 1);
	assert_int_equal(d.ipcache_put[0].val.identity, ident(&c2, "10.0.0.3"));
	assert_int_not_equal(ident(&c2, "10.0.0.3"), old_id);
	assert_int_equal(d.nipcache_del, 0);
	assert_int_equal(d.npol_put, 1);
	assert_int_equal(d.pol_put[0].key.identity, ident(&c2, "10.0.0.3"));
	assert_int_equal(d.npol_del, 1);
	assert_int_equal(d.pol_del[0].identity, old_id);
	assert_int_equal(d.ncidr_put + d.ncidr_del + d.neps_put + d.neps_del, 0);
	compiled_delta_free(&d);

	/* a new pod with a known label set: one ipcache put */
	pod_add(t, "default", "a2", "10.0.0.4", "app=a,v=2");
	compile_ids(t, eps, 2, ids, &c3);
	check_diff(&c2, &c3, &d);
	assert_int_equal(delta_size(&d), 1);
	assert_int_equal(d.nipcache_put, 1);
	compiled_delta_free(&d);

	/* web's policy deleted: its entries go, its flags change */
	policy_netpol_free(&t->s.pols[0]);
	t->s.pols[0] = t->s.pols[1];
	memset(&t->s.pols[1], 0, sizeof(t->s.pols[1]));
	t->s.npols = 1;
	compile_ids(t, eps, 2, ids, &c4);
	check_diff(&c3, &c4, &d);
	assert_int_equal(d.npol_del, c3.npol);
	assert_int_equal(d.ncidr_del, c3.ncidr);
	assert_int_equal(d.npol_put + d.ncidr_put + d.nipcache_put + d.nipcache_del, 0);
	assert_int_equal(d.neps_put, 1);
	assert_int_equal(d.eps_put[0].ep_id, 10);
	assert_int_equal(d.eps_put[0].val.flags, XDP_EP_POL_READY);
	assert_int_equal(d.neps_del, 0);
	compiled_delta_free(&d);

	/* an endpoint gone */
	compiled_free(&c1);
	compile_ids(t, eps, 1, ids, &c1);
	check_diff(&c4, &c1, &d);
	assert_int_equal(d.neps_del, 1);
	assert_int_equal(d.eps_del[0], 11);
	compiled_delta_free(&d);

	compiled_free(&c1);
	compiled_free(&c2);
	compiled_free(&c3);
	compiled_free(&c4);
	id_alloc_free(ids);
	tb_free(t);
}

/* ---- randomised: the simulator against the semantics ----------------------- */

static uint64_t rng_state;

static uint32_t rnd(uint32_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state % n);
}

static const struct labels *ref_ns_labels(const struct policy_set *s, const char *ns,
					  struct labels *synth, struct label *l)
{
	for (size_t i = 0; i < s->nnss; i++) {
		if (!strcmp(s->nss[i].name, ns))
			return &s->nss[i].labels;
	}
	*l = (struct label){ (char *)"kubernetes.io/metadata.name", (char *)ns };
	*synth = (struct labels){ l, 1 };
	return synth;
}

static const struct pod *ref_pod_by_ip(const struct policy_set *s, const struct ipaddr *a)
{
	for (size_t i = 0; i < s->npods; i++) {
		for (size_t j = 0; j < s->pods[i].nips; j++) {
			if (!s->pods[i].host_network && ipaddr_equal(&s->pods[i].ips[j], a))
				return &s->pods[i];
		}
	}
	return NULL;
}

static bool ref_peer(const struct policy_set *s, const struct netpol *pol, const struct peer *pe,
		     const struct ipaddr *a, const struct pod *rp)
{
	struct labels synth;
	struct label l;

	if (pe->has_ip_block) {
		if (!ipnet_contains(&pe->ip_block.cidr, a))
			return false;
		for (size_t i = 0; i < pe->ip_block.nexcept; i++) {
			if (ipnet_contains(&pe->ip_block.except[i], a))
				return false;
		}
		return true;
	}
	if (!rp || (!pe->pod_sel.present && !pe->ns_sel.present))
		return false;
	if (pe->ns_sel.present ? !selector_matches(&pe->ns_sel, ref_ns_labels(s, rp->ns, &synth, &l))
			       : strcmp(rp->ns, pol->ns))
		return false;
	return selector_matches(&pe->pod_sel, &rp->labels);
}

static bool ref_port(const struct policy_port *pp, uint8_t proto, uint16_t port,
		     const struct pod *target)
{
	if (proto != pp->proto)
		return false;
	if (pp->port_name) {
		for (size_t i = 0; target && i < target->nports; i++) {
			const struct container_port *cp = &target->ports[i];

			if (cp->name && !strcmp(cp->name, pp->port_name) && cp->proto == proto &&
			    cp->port == port)
				return true;
		}
		return false;
	}
	if (!pp->port)
		return true;
	return port >= pp->port && port <= (pp->end_port > pp->port ? pp->end_port : pp->port);
}

/* Upstream NetworkPolicy, read straight off the model. */
static bool ref_allowed(const struct policy_set *s, const struct pod *ep, int dir,
			const struct ipaddr *a, uint8_t proto, uint16_t port)
{
	const struct pod *rp = ref_pod_by_ip(s, a);
	bool isolated = false;

	for (size_t i = 0; i < s->npols; i++) {
		const struct netpol *pol = &s->pols[i];
		const struct rule *rules = dir == IN ? pol->ingress : pol->egress;
		size_t nr = dir == IN ? pol->ningress : pol->negress;

		if (strcmp(pol->ns, ep->ns) || !selector_matches(&pol->pod_sel, &ep->labels) ||
		    !(dir == IN ? pol->ingress_isolates : pol->egress_isolates))
			continue;
		isolated = true;
		for (size_t r = 0; r < nr; r++) {
			bool peer_ok = !rules[r].npeers, port_ok = !rules[r].nports;

			for (size_t k = 0; k < rules[r].npeers && !peer_ok; k++)
				peer_ok = ref_peer(s, pol, &rules[r].peers[k], a, rp);
			for (size_t k = 0; k < rules[r].nports && !port_ok; k++)
				port_ok = ref_port(&rules[r].ports[k], proto, port,
						   dir == IN ? ep : rp);
			if (peer_ok && port_ok)
				return true;
		}
	}
	return !isolated;
}

static const char *pick(const char *const *v, size_t n)
{
	return v[rnd((uint32_t)n)];
}

#define PICK(v) pick(v, sizeof(v) / sizeof(v[0]))

static void random_rule(struct rule *r)
{
	static const char *const podsels[] = { NULL, "", "app=web", "app in web|db", "tier",
					       "!tier", "app notin db", "tier=be" };
	static const char *const nssels[] = { NULL, NULL, "", "env=prod", "env notin prod",
					      "kubernetes.io/metadata.name=c" };
	static const char *const cidrs[][3] = {
		{ "10.0.0.0/8", "10.0.1.0/24", NULL },   { "10.0.1.0/24", NULL, NULL },
		{ "10.0.1.0/28", "10.0.1.4/30", NULL },  { "0.0.0.0/0", "10.0.0.0/16", "10.1.0.0/16" },
		{ "192.168.0.0/16", NULL, NULL },        { "10.0.0.0/16", "10.0.0.0/24", NULL },
		{ "fd00::/64", "fd00::/120", NULL },     { "10.0.2.7/32", NULL, NULL },
	};
	uint32_t npeers = rnd(4), nports = rnd(4);

	if (npeers == 3)
		npeers = 0;
	for (uint32_t i = 0; i < npeers; i++) {
		if (rnd(3) == 0) {
			const char *const *c = cidrs[rnd(sizeof(cidrs) / sizeof(cidrs[0]))];

			peer_block(r, c[0], c[1], c[2], NULL);
			continue;
		}
		const char *ps = PICK(podsels), *ns = PICK(nssels);

		if (!ps && !ns)
			ps = "";
		peer_add(r, ps, ns);
	}
	for (uint32_t i = 0; i < nports; i++) {
		switch (rnd(8)) {
		case 0: port_add(r, TCP, 80, 0, NULL); break;
		case 1: port_add(r, UDP, 53, 0, NULL); break;
		case 2: port_add(r, TCP, 8000, 8100, NULL); break;
		case 3: port_add(r, TCP, 0, 0, "http"); break;
		case 4: port_add(r, UDP, 0, 0, "dns"); break;
		case 5: port_add(r, SCTP, 0, 0, NULL); break;
		case 6: port_add(r, TCP, 0, 0, "metrics"); break;
		case 7: port_add(r, TCP, 443, 0, NULL); break;
		}
	}
}

static struct tb *random_set(void)
{
	static const char *const nss[] = { "a", "b", "c" };
	static const char *const apps[] = { "web", "db", "cache" };
	static const char *const tiers[] = { NULL, "fe", "be" };
	struct tb *t = tb_new(16, 8, 3);
	char name[16], labels[64], ip[32];
	uint32_t npols = 2 + rnd(6);

	ns_add(t, "a", "env=prod");
	ns_add(t, "b", rnd(2) ? "env=prod" : "env=dev");
	/* "c" has no Namespace object */
	for (int i = 0; i < 12; i++) {
		const char *tier = PICK(tiers);
		struct pod *p;

		snprintf(name, sizeof(name), "p%d", i);
		snprintf(labels, sizeof(labels), "app=%s%s%s", PICK(apps), tier ? ",tier=" : "",
			 tier ? tier : "");
		snprintf(ip, sizeof(ip), i % 4 == 3 ? "10.0.%d.%d,fd00::%d" : "10.0.%d.%d",
			 i % 3, i + 1, i + 1);
		p = pod_add(t, nss[i % 3], name, ip, labels);
		p->host_network = i == 11;
		if (rnd(2))
			pod_port(p, "http", TCP, rnd(2) ? 80 : 8080);
		if (rnd(3) == 0)
			pod_port(p, "dns", UDP, 53);
		if (rnd(3) == 0)
			pod_port(p, "metrics", TCP, 9090);
	}
	for (uint32_t i = 0; i < npols; i++) {
		static const char *const sels[] = { "", "", "app=web", "tier", "app notin cache" };
		struct netpol *p;
		uint32_t n;

		snprintf(name, sizeof(name), "pol%u", i);
		p = pol_add(t, nss[rnd(3)], name, PICK(sels), rnd(4) != 0, rnd(3) != 0);
		for (n = rnd(3); n; n--)
			random_rule(rule_add(p, IN));
		for (n = rnd(3); n; n--)
			random_rule(rule_add(p, EG));
	}
	return t;
}

static void test_random_vs_semantics(void **state)
{
	static const char *const ext[] = { "10.0.1.200", "10.0.1.5", "10.0.2.7", "10.1.0.1",
					   "192.168.3.4", "8.8.8.8", "10.0.0.77", "fd00::77",
					   "fd00::1:5", "0.0.0.1" };
	static const uint16_t ports[] = { 0, 53, 80, 443, 8050, 8080, 9090, 8101 };
	static const uint8_t protos[] = { TCP, UDP, SCTP, ICMP };
	size_t checks = 0, allows = 0, isolated = 0, iso_allows = 0;
	const char *env = getenv("POLICY_TEST_RANDOM_ITERS");
	int iters = env ? atoi(env) : 300;

	(void)state;
	rng_state = 0x9e3779b97f4a7c15ULL;
	for (int iter = 0; iter < iters; iter++) {
		struct pol_endpoint eps[16];
		struct tb *t = random_set();
		struct ipaddr remotes[64];
		size_t neps = 0, nrem = 0;
		struct compiled c;

		for (size_t i = 0; i < t->s.npods; i++) {
			const struct pod *p = &t->s.pods[i];

			if (!p->host_network)
				eps[neps++] = (struct pol_endpoint){ 100 + (uint32_t)i, p->ns, p->name };
			for (size_t j = 0; j < p->nips; j++)
				remotes[nrem++] = p->ips[j];
		}
		for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++)
			remotes[nrem++] = A(ext[i]);
		compile(t, eps, neps, &c);
		for (size_t i = 0; i < c.nerrors; i++) {
			if (strcmp(c.errors[i].kind, "NetworkPolicy"))
				fail_msg("iter %d: %s", iter, c.errors[i].reason);
		}
		for (size_t e = 0; e < neps; e++) {
			const struct pod *pod = &t->s.pods[eps[e].ep_id - 100];

			for (int dir = IN; dir <= EG; dir++)
			for (size_t r = 0; r < nrem; r++)
			for (size_t pr = 0; pr < sizeof(protos); pr++)
			for (size_t po = 0; po < sizeof(ports) / sizeof(ports[0]); po++) {
				uint16_t port = protos[pr] == ICMP ? 0 : ports[po];
				uint32_t cookie;
				bool want = ref_allowed(&t->s, pod, dir, &remotes[r], protos[pr], port);
				int got = policy_sim(&c, eps[e].ep_id, dir, &remotes[r], protos[pr],
						     port, &cookie);
				char buf[IPADDR_STRLEN];

				if (got != want)
					fail_msg("iter %d ep %s/%s dir %d remote %s proto %u port %u: "
						 "sim %d, semantics %d", iter, pod->ns, pod->name, dir,
						 ipaddr_fmt(&remotes[r], buf), protos[pr], port, got,
						 want);
				if (got && cookie != POLICY_SIM_NO_RULE) {
					assert_true(cookie < c.nrules);
					assert_int_equal(c.rules[cookie].dir, dir);
					assert_string_equal(c.rules[cookie].ns, pod->ns);
				}
				checks++;
				allows += got;
				isolated += !!(ep_flags(&c, eps[e].ep_id) &
					       (dir == IN ? XDP_EP_POL_INGRESS_ISOLATED
							  : XDP_EP_POL_EGRESS_ISOLATED));
				iso_allows += got && cookie != POLICY_SIM_NO_RULE;
			}
		}
		compiled_free(&c);
		tb_free(t);
	}
	print_message("random: %zu decisions checked, %zu allowed; %zu isolated, %zu of them "
		      "allowed by a rule\n", checks, allows, isolated, iso_allows);
	/* enough of both outcomes where it matters */
	assert_true(isolated > checks / 2);
	assert_true(iso_allows > isolated / 10 && iso_allows < isolated - isolated / 10);
}

/* ---- timing ---------------------------------------------------------------- */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A cluster: npods pods over nns namespaces, npols policies of the usual
 * kinds (default deny, allow from an app, from a namespace, ipBlock
 * egress, DNS egress, named ports). */
static struct tb *scale_set(size_t npods, size_t nns, size_t npols)
{
	static const char *const apps[] = { "web", "api", "db", "cache", "worker" };
	struct tb *t = tb_new(npods, npols, nns);
	char a[64], b[64], c[64];

	for (size_t i = 0; i < nns; i++) {
		snprintf(a, sizeof(a), "ns%zu", i);
		snprintf(b, sizeof(b), "team=t%zu,env=%s", i % 10, i % 2 ? "prod" : "dev");
		ns_add(t, a, b);
	}
	for (size_t i = 0; i < npods; i++) {
		struct pod *p;

		snprintf(a, sizeof(a), "ns%zu", i % nns);
		snprintf(b, sizeof(b), "pod%zu", i);
		snprintf(c, sizeof(c), "10.%zu.%zu.%zu", (i >> 16) & 255, (i >> 8) & 255, i & 255);
		p = pod_add(t, a, b, c, NULL);
		label_add(&p->labels, "app", apps[(i / nns) % 5]);
		snprintf(a, sizeof(a), "%zu", (i / nns / 5) % 4);
		label_add(&p->labels, "version", a);
		if (i % 3 == 0)
			pod_port(p, "http", TCP, i % 2 ? 8080 : 80);
	}
	for (size_t i = 0; i < npols; i++) {
		const char *app = apps[(i / nns) % 5], *from = apps[(i / nns + 1) % 5];
		struct netpol *p;
		struct rule *r;

		snprintf(a, sizeof(a), "ns%zu", i % nns);
		snprintf(b, sizeof(b), "pol%zu", i);
		snprintf(c, sizeof(c), "app=%s", app);
		switch ((i / nns) % 5) {
		case 0: /* default deny, both ways, plus DNS */
			p = pol_add(t, a, b, "", true, true);
			r = rule_add(p, EG);
			peer_add(r, NULL, "kubernetes.io/metadata.name=ns0");
			port_add(r, UDP, 53, 0, NULL);
			port_add(r, TCP, 53, 0, NULL);
			break;
		case 1: /* from another app of the namespace, named port */
			p = pol_add(t, a, b, c, true, false);
			snprintf(c, sizeof(c), "app=%s", from);
			r = rule_add(p, IN);
			peer_add(r, c, NULL);
			port_add(r, TCP, 0, 0, "http");
			port_add(r, TCP, 9090, 0, NULL);
			break;
		case 2: /* from the same team's namespaces */
			p = pol_add(t, a, b, c, true, false);
			snprintf(c, sizeof(c), "team=t%zu", i % 10);
			r = rule_add(p, IN);
			peer_add(r, NULL, c);
			port_add(r, TCP, 8000, 8999, NULL);
			break;
		case 3: /* egress to the world but the cluster */
			p = pol_add(t, a, b, c, false, true);
			r = rule_add(p, EG);
			peer_block(r, "0.0.0.0/0", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
				   NULL);
			port_add(r, TCP, 443, 0, NULL);
			break;
		default: /* egress to prod apps, by name */
			p = pol_add(t, a, b, c, false, true);
			snprintf(c, sizeof(c), "app=%s", from);
			r = rule_add(p, EG);
			peer_add(r, c, "env=prod");
			port_add(r, TCP, 0, 0, "http");
			break;
		}
	}
	return t;
}

static void time_one(size_t npods, size_t nns, size_t npols, size_t neps)
{
	struct tb *t = scale_set(npods, nns, npols);
	struct pol_endpoint *eps = xcalloc(neps, sizeof(*eps));
	struct id_alloc *ids = id_alloc_new();
	struct compiled c1, c2;
	struct compiled_delta d;
	double t0, t1, t2, t3;

	/* this node's pods: spread over namespaces and apps */
	for (size_t i = 0; i < neps; i++) {
		const struct pod *p = &t->s.pods[(i * 7919) % npods];

		eps[i] = (struct pol_endpoint){ 1000 + (uint32_t)i, p->ns, p->name };
	}
	t0 = now();
	compile_ids(t, eps, neps, ids, &c1);
	t1 = now();
	label_add(&t->s.pods[1].labels, "rollout", "2");
	compile_ids(t, eps, neps, ids, &c2);
	t2 = now();
	assert_int_equal(compiled_diff(&c1, &c2, &d), 0);
	t3 = now();
	print_message("%zu pods / %zu namespaces / %zu policies, %zu local endpoints: "
		      "compile %.1f ms, recompile %.1f ms, diff %.2f ms (delta %zu); "
		      "%zu ipcache, %zu policy, %zu CIDR entries, %zu errors\n",
		      npods, nns, npols, neps, (t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3,
		      delta_size(&d), c1.nipcache, c1.npol, c1.ncidr, c1.nerrors);
	for (size_t i = 0; i < c1.nerrors && getenv("POLICY_TEST_ERRORS"); i++)
		print_message("  %s %s/%s: %s\n", c1.errors[i].kind, c1.errors[i].ns,
			      c1.errors[i].name, c1.errors[i].reason);
	compiled_delta_free(&d);
	compiled_free(&c1);
	compiled_free(&c2);
	id_alloc_free(ids);
	free(eps);
	tb_free(t);
}

static void test_timing(void **state)
{
	(void)state;
	if (getenv("POLICY_TEST_NO_TIMING"))
		skip();
	time_one(1000, 100, 1000, 100);
	time_one(1000, 100, 1000, 1000);
	time_one(10000, 1000, 10000, 100);
	time_one(10000, 1000, 10000, 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_selector),
		cmocka_unit_test(test_no_policy),
		cmocka_unit_test(test_deny_all_ingress),
		cmocka_unit_test(test_egress_isolation_independent),
		cmocka_unit_test(test_pod_selector_same_namespace),
		cmocka_unit_test(test_namespace_selector),
		cmocka_unit_test(test_and_vs_or_peers),
		cmocka_unit_test(test_empty_and_all_peers),
		cmocka_unit_test(test_ipblock_except),
		cmocka_unit_test(test_ipblock_overlap_except_other_rule),
		cmocka_unit_test(test_ipblock_union),
		cmocka_unit_test(test_ipblock_v6),
		cmocka_unit_test(test_ports),
		cmocka_unit_test(test_port_range_blocks),
		cmocka_unit_test(test_named_ports_ingress),
		cmocka_unit_test(test_named_ports_egress),
		cmocka_unit_test(test_named_ports_ipblock),
		cmocka_unit_test(test_policies_union),
		cmocka_unit_test(test_cookies),
		cmocka_unit_test(test_host_network_and_no_ip),
		cmocka_unit_test(test_unknown_and_duplicate_endpoints),
		cmocka_unit_test(test_duplicate_pod_ip),
		cmocka_unit_test(test_fail_closed_entry_limit),
		cmocka_unit_test(test_fail_closed_cidr_limit),
		cmocka_unit_test(test_fail_closed_portset),
		cmocka_unit_test(test_identity_stability),
		cmocka_unit_test(test_diff),
		cmocka_unit_test(test_random_vs_semantics),
		cmocka_unit_test(test_timing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
