/* libFuzzer target: the policy manifest parser (policy_parse: format
 * detection, JSON, YAML with anchors and merges, every kind, validation,
 * duplicates). Each input is parsed twice into one set, so that replacement
 * runs too, and the model's invariants are checked after each parse. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)

static const char *label(const struct labels *l, const char *key)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->v[i].key, key))
			return l->v[i].value;
	return NULL;
}

static void check_selector(const struct selector *s)
{
	for (size_t i = 0; i < s->match_labels.n; i++)
		CHECK(s->match_labels.v[i].key && s->match_labels.v[i].value);
	for (size_t i = 0; i < s->nexprs; i++) {
		const struct sel_expr *e = &s->exprs[i];

		CHECK(e->key);
		CHECK((e->op == SEL_IN || e->op == SEL_NOT_IN) == (e->nvalues > 0));
		for (size_t j = 0; j < e->nvalues; j++)
			CHECK(e->values[j]);
	}
}

static void check_rules(const struct rule *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < r[i].npeers; j++) {
			const struct peer *p = &r[i].peers[j];

			CHECK(p->has_ip_block != (p->pod_sel.present || p->ns_sel.present));
			check_selector(&p->pod_sel);
			check_selector(&p->ns_sel);
			for (size_t k = 0; k < p->ip_block.nexcept; k++)
				CHECK(p->ip_block.except[k].prefix > p->ip_block.cidr.prefix);
		}
		for (size_t j = 0; j < r[i].nports; j++) {
			const struct policy_port *pp = &r[i].ports[j];

			CHECK(pp->proto == L4_TCP || pp->proto == L4_UDP || pp->proto == L4_SCTP);
			CHECK(!pp->end_port || (pp->port && pp->end_port >= pp->port));
			CHECK(!(pp->port && pp->port_name));
		}
	}
}

static void check(const struct policy_set *s)
{
	for (size_t i = 0; i < s->npols; i++) {
		const struct netpol *p = &s->pols[i];

		CHECK(p->ns && p->name && p->pod_sel.present);
		CHECK(p->ingress_isolates || !p->ningress);
		CHECK(p->egress_isolates || !p->negress);
		check_selector(&p->pod_sel);
		check_rules(p->ingress, p->ningress);
		check_rules(p->egress, p->negress);
	}
	for (size_t i = 0; i < s->npods; i++)
		CHECK(s->pods[i].ns && s->pods[i].name && s->pods[i].nips <= 4);
	for (size_t i = 0; i < s->nnss; i++) {
		const char *v = label(&s->nss[i].labels, "kubernetes.io/metadata.name");

		CHECK(s->nss[i].name && v && !strcmp(v, s->nss[i].name));
	}
	for (size_t i = 0; i < s->nerrors; i++)
		CHECK(s->errors[i].reason);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct policy_set set = { 0 };
	size_t n;

	if (policy_parse(&set, (const char *)data, size, "fuzz"))
		goto out;
	check(&set);
	n = set.npols + set.npods + set.nnss;
	/* The same objects again: each replaces itself. */
	if (policy_parse(&set, (const char *)data, size, "fuzz"))
		goto out;
	check(&set);
	CHECK(set.npols + set.npods + set.nnss == n);
out:
	policy_set_free(&set);
	return 0;
}
