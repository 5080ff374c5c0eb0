/* Unit tests for policy/parse.c (and policy/load.c under it): manifests ->
 * policy_set. Every semantic default, every validation error with its
 * message, the input formats (YAML streams, JSON, lists), duplicates and
 * error recovery. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "parse.h"
#include "testutil.h"

/* A NetworkPolicy ns1/p; spec lines follow, indented by two spaces. */
#define NP "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n" \
	   "metadata:\n  name: p\n  namespace: ns1\nspec:\n"
#define NP_ALL NP "  podSelector: {}\n"

static void parse_ok(struct policy_set *s, const char *text)
{
	int ret = policy_parse(s, text, strlen(text), "t.yaml");

	assert_int_equal(ret, 0);
}

/* Parse text alone: no errors, and the one policy it holds. */
static const struct netpol *one_pol(struct policy_set *s, const char *text)
{
	memset(s, 0, sizeof(*s));
	parse_ok(s, text);
	if (s->nerrors)
		fail_msg("%s\nunexpected error: %s", text, s->errors[0].reason);
	assert_int_equal(s->npols, 1);
	return &s->pols[0];
}

static const struct policy_error *find_err(const struct policy_set *s, const char *needle)
{
	for (size_t i = 0; i < s->nerrors; i++)
		if (strstr(s->errors[i].reason, needle))
			return &s->errors[i];
	return NULL;
}

/* text must yield an error containing needle and no object at all. */
static void expect_err(const char *text, const char *needle)
{
	struct policy_set s = { 0 };

	parse_ok(&s, text);
	if (!find_err(&s, needle)) {
		for (size_t i = 0; i < s.nerrors; i++)
			print_message("  got: %s\n", s.errors[i].reason);
		fail_msg("%s\nwant an error containing: %s", text, needle);
	}
	assert_int_equal(s.npols + s.npods + s.nnss, 0);
	policy_set_free(&s);
}

static const char *label(const struct labels *l, const char *key)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->v[i].key, key))
			return l->v[i].value;
	return NULL;
}

static const struct pod *find_pod(const struct policy_set *s, const char *ns, const char *name)
{
	for (size_t i = 0; i < s->npods; i++)
		if (!strcmp(s->pods[i].ns, ns) && !strcmp(s->pods[i].name, name))
			return &s->pods[i];
	fail_msg("no pod %s/%s", ns, name);
	return NULL;
}

static const struct netpol *find_pol(const struct policy_set *s, const char *ns,
				     const char *name)
{
	for (size_t i = 0; i < s->npols; i++)
		if (!strcmp(s->pols[i].ns, ns) && !strcmp(s->pols[i].name, name))
			return &s->pols[i];
	fail_msg("no policy %s/%s", ns, name);
	return NULL;
}

/* ---- semantic defaults ------------------------------------------------ */

static void test_policy_types_default(void **state)
{
	struct policy_set s;
	const struct netpol *p;

	(void)state;
	/* No egress rules: Ingress only. */
	p = one_pol(&s, NP_ALL "  ingress: [{}]\n");
	assert_string_equal(p->ns, "ns1");
	assert_string_equal(p->name, "p");
	assert_true(p->ingress_isolates);
	assert_false(p->egress_isolates);
	policy_set_free(&s);

	/* Egress rules: Ingress and Egress. */
	p = one_pol(&s, NP_ALL "  egress: [{}]\n");
	assert_true(p->ingress_isolates);
	assert_true(p->egress_isolates);
	assert_int_equal(p->negress, 1);
	policy_set_free(&s);

	/* An empty egress list is no egress rule; policyTypes [] is absent. */
	p = one_pol(&s, NP_ALL "  egress: []\n  policyTypes: []\n");
	assert_true(p->ingress_isolates);
	assert_false(p->egress_isolates);
	policy_set_free(&s);

	/* Nothing but podSelector: deny all ingress. */
	p = one_pol(&s, NP_ALL);
	assert_true(p->ingress_isolates);
	assert_false(p->egress_isolates);
	assert_int_equal(p->ningress, 0);
	policy_set_free(&s);
}

static void test_policy_types_explicit(void **state)
{
	struct policy_set s;
	const struct netpol *p;

	(void)state;
	p = one_pol(&s, NP_ALL "  policyTypes: [Ingress, Egress]\n");
	assert_true(p->ingress_isolates);
	assert_true(p->egress_isolates);
	assert_int_equal(p->ningress + p->negress, 0);
	policy_set_free(&s);

	/* Egress only: the ingress rules are ignored (and dropped). */
	p = one_pol(&s, NP_ALL "  policyTypes: [Egress]\n  ingress: [{}]\n  egress: [{}]\n");
	assert_false(p->ingress_isolates);
	assert_true(p->egress_isolates);
	assert_int_equal(p->ningress, 0);
	assert_null(p->ingress);
	assert_int_equal(p->negress, 1);
	policy_set_free(&s);

	/* Ingress only although there are egress rules. */
	p = one_pol(&s, NP_ALL "  policyTypes: [Ingress]\n  egress: [{}]\n");
	assert_true(p->ingress_isolates);
	assert_false(p->egress_isolates);
	assert_int_equal(p->negress, 0);
	policy_set_free(&s);
}

static void test_pod_selector(void **state)
{
	const struct selector *sel;
	struct policy_set s;
	const struct netpol *p;

	(void)state;
	/* {} is present and empty: every pod of the namespace. */
	p = one_pol(&s, NP_ALL);
	assert_true(p->pod_sel.present);
	assert_int_equal(p->pod_sel.match_labels.n, 0);
	assert_int_equal(p->pod_sel.nexprs, 0);
	policy_set_free(&s);

	p = one_pol(&s, NP "  podSelector:\n"
			   "    matchLabels: {app: web, app.kubernetes.io/tier: \"1\"}\n"
			"    matchExpressions:\n"
			"      - {key: env, operator: In, values: [prod, staging]}\n"
			"      - {key: env, operator: NotIn, values: [\"\"]}\n"
			"      - {key: canary, operator: Exists}\n"
			"      - {key: example.com/legacy, operator: DoesNotExist, values: []}\n");
	sel = &p->pod_sel;
	assert_true(sel->present);
	assert_int_equal(sel->match_labels.n, 2);
	assert_string_equal(label(&sel->match_labels, "app"), "web");
	assert_string_equal(label(&sel->match_labels, "app.kubernetes.io/tier"), "1");
	assert_int_equal(sel->nexprs, 4);
	assert_string_equal(sel->exprs[0].key, "env");
	assert_int_equal(sel->exprs[0].op, SEL_IN);
	assert_int_equal(sel->exprs[0].nvalues, 2);
	assert_string_equal(sel->exprs[0].values[0], "prod");
	assert_string_equal(sel->exprs[0].values[1], "staging");
	assert_int_equal(sel->exprs[1].op, SEL_NOT_IN);
	assert_string_equal(sel->exprs[1].values[0], "");
	assert_int_equal(sel->exprs[2].op, SEL_EXISTS);
	assert_int_equal(sel->exprs[2].nvalues, 0);
	assert_int_equal(sel->exprs[3].op, SEL_DOES_NOT_EXIST);
	assert_string_equal(sel->exprs[3].key, "example.com/legacy");
	policy_set_free(&s);
}

static void test_peers(void **state)
{
	const struct peer *pe;
	struct policy_set s;
	const struct netpol *p;

	(void)state;
	/* from absent, null and [] all mean every peer. */
	p = one_pol(&s, NP_ALL "  ingress:\n    - {}\n    - from: null\n    - from: []\n"
			"    - ports: []\n");
	assert_int_equal(p->ningress, 4);
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(p->ingress[i].npeers, 0);
		assert_int_equal(p->ingress[i].nports, 0);
	}
	policy_set_free(&s);

	p = one_pol(&s, NP_ALL "  egress:\n    - to:\n"
			"        - podSelector: {}\n"
			"        - namespaceSelector: {matchLabels: {team: a}}\n"
			"        - namespaceSelector: {}\n"
			"          podSelector: {matchLabels: {app: db}}\n"
			"        - ipBlock: {cidr: 10.1.2.3/16, except: [10.1.128.0/17, 10.1.0.0/24]}\n"
			"        - ipBlock: {cidr: \"fd00::/8\"}\n");
	assert_int_equal(p->negress, 1);
	assert_int_equal(p->egress[0].npeers, 5);
	pe = p->egress[0].peers;
	/* podSelector alone: pods of the policy's namespace. */
	assert_true(pe[0].pod_sel.present);
	assert_false(pe[0].ns_sel.present);
	assert_false(pe[0].has_ip_block);
	assert_false(pe[1].pod_sel.present);
	assert_true(pe[1].ns_sel.present);
	assert_string_equal(label(&pe[1].ns_sel.match_labels, "team"), "a");
	assert_true(pe[2].pod_sel.present);
	assert_true(pe[2].ns_sel.present);
	assert_int_equal(pe[2].ns_sel.match_labels.n, 0);
	/* cidr host bits are dropped, as net.ParseCIDR does. */
	assert_true(pe[3].has_ip_block);
	assert_false(pe[3].pod_sel.present || pe[3].ns_sel.present);
	{
		struct ipnet want = N("10.1.0.0/16"), ex0 = N("10.1.128.0/17");

		assert_memory_equal(&pe[3].ip_block.cidr, &want, sizeof(want));
		assert_int_equal(pe[3].ip_block.nexcept, 2);
		assert_memory_equal(&pe[3].ip_block.except[0], &ex0, sizeof(ex0));
	}
	assert_int_equal(pe[4].ip_block.cidr.ip.family, AF_INET6);
	assert_int_equal(pe[4].ip_block.cidr.prefix, 8);
	policy_set_free(&s);
}

static void test_ports(void **state)
{
	const struct policy_port *pp;
	struct policy_set s;
	const struct netpol *p;

	(void)state;
	p = one_pol(&s, NP_ALL "  ingress:\n    - ports:\n"
			"        - port: 80\n"
			"        - {protocol: UDP, port: 53}\n"
			"        - {protocol: SCTP}\n"
			"        - port: http-alt\n"
			"        - {port: 8000, endPort: 8080}\n"
			"        - {port: 443, endPort: 443}\n"
			"        - {}\n");
	assert_int_equal(p->ingress[0].nports, 7);
	pp = p->ingress[0].ports;
	/* protocol defaults to TCP. */
	assert_int_equal(pp[0].proto, L4_TCP);
	assert_int_equal(pp[0].port, 80);
	assert_int_equal(pp[0].end_port, 0);
	assert_null(pp[0].port_name);
	assert_int_equal(pp[1].proto, L4_UDP);
	assert_int_equal(pp[1].port, 53);
	/* No port: every port of the protocol. */
	assert_int_equal(pp[2].proto, L4_SCTP);
	assert_int_equal(pp[2].port, 0);
	assert_null(pp[2].port_name);
	/* A named port: resolved per destination pod. */
	assert_int_equal(pp[3].proto, L4_TCP);
	assert_int_equal(pp[3].port, 0);
	assert_string_equal(pp[3].port_name, "http-alt");
	assert_int_equal(pp[4].port, 8000);
	assert_int_equal(pp[4].end_port, 8080);
	assert_int_equal(pp[5].port, 443);
	assert_int_equal(pp[5].end_port, 443);
	assert_int_equal(pp[6].proto, L4_TCP);
	assert_int_equal(pp[6].port, 0);
	assert_null(pp[6].port_name);
	policy_set_free(&s);
}

/* YAML resolves plain scalars like go-yaml (kubectl): 80 is an int, "80"
 * a string, so a named port "80", which is invalid. */
static void test_yaml_scalars(void **state)
{
	struct policy_set s;
	const struct netpol *p;

	(void)state;
	p = one_pol(&s, NP_ALL "  ingress:\n    - ports:\n        - port: 0x50\n"
			"        - port: !!int \"81\"\n        - port: 8_080\n"
			"        - port: !!str web\n");
	assert_int_equal(p->ingress[0].ports[0].port, 80);
	assert_int_equal(p->ingress[0].ports[1].port, 81);
	assert_int_equal(p->ingress[0].ports[2].port, 8080);
	assert_string_equal(p->ingress[0].ports[3].port_name, "web");
	policy_set_free(&s);

	expect_err(NP_ALL "  ingress: [{ports: [{port: \"80\"}]}]\n",
		   "spec.ingress[0].ports[0].port: \"80\" is not a valid port name "
		   "(must contain at least one letter)");
	expect_err(NP_ALL "  ingress: [{ports: [{port: '443'}]}]\n",
		   "\"443\" is not a valid port name");
	expect_err(NP_ALL "  ingress: [{ports: [{port: 80.5}]}]\n",
		   "spec.ingress[0].ports[0].port: expected an integer or a port name, got 80.5");
	expect_err(NP_ALL "  ingress: [{ports: [{port: !!int web}]}]\n",
		   "cannot decode \"web\" as !!int");
	/* YAML 1.1 bools, as go-yaml reads them: a label value must be quoted. */
	expect_err(NP "  podSelector: {matchLabels: {enabled: yes}}\n",
		   "spec.podSelector.matchLabels.enabled: expected a string, got true");
	expect_err(NP "  podSelector: {matchLabels: {version: 1.0}}\n",
		   "spec.podSelector.matchLabels.version: expected a string, got 1");
	expect_err(NP "  podSelector: {matchLabels: {x: ~}}\n",
		   "spec.podSelector.matchLabels.x: expected a string, got null");
	p = one_pol(&s, NP "  podSelector: {matchLabels: {enabled: \"yes\", version: '1.0', "
			"n: \"n\"}}\n");
	assert_string_equal(label(&p->pod_sel.match_labels, "enabled"), "yes");
	assert_string_equal(label(&p->pod_sel.match_labels, "version"), "1.0");
	policy_set_free(&s);
}

/* ---- validation errors ------------------------------------------------ */

static void test_err_ports(void **state)
{
	(void)state;
	expect_err(NP_ALL "  ingress:\n    - ports:\n        - port: 80\n"
		   "        - {port: 80, endPort: 70}\n",
		   "spec.ingress[0].ports[1].endPort: 70 is less than port 80");
	expect_err(NP_ALL "  ingress: [{ports: [{protocol: ICMP}]}]\n",
		   "spec.ingress[0].ports[0].protocol: \"ICMP\" is not one of TCP, UDP, SCTP");
	expect_err(NP_ALL "  ingress: [{ports: [{protocol: tcp, port: 1}]}]\n",
		   "protocol: \"tcp\" is not one of TCP, UDP, SCTP");
	expect_err(NP_ALL "  egress: [{ports: [{port: 0}]}]\n",
		   "spec.egress[0].ports[0].port: 0 is not a valid port number (1-65535)");
	expect_err(NP_ALL "  egress: [{ports: [{port: 65536}]}]\n",
		   "port: 65536 is not a valid port number (1-65535)");
	expect_err(NP_ALL "  egress: [{ports: [{port: 1, endPort: 70000}]}]\n",
		   "endPort: 70000 is not a valid port number (1-65535)");
	expect_err(NP_ALL "  egress: [{ports: [{endPort: 90}]}]\n",
		   "spec.egress[0].ports[0].endPort: may not be given without port");
	expect_err(NP_ALL "  egress: [{ports: [{port: http, endPort: 90}]}]\n",
		   "spec.egress[0].ports[0].endPort: may not be given with a named port");
	expect_err(NP_ALL "  egress: [{ports: [{port: 80, endPort: \"90\"}]}]\n",
		   "endPort: expected an integer, got \"90\"");
	expect_err(NP_ALL "  egress: [{ports: [{port: [80]}]}]\n",
		   "port: expected an integer or a port name, got a list");
	/* Named ports are IANA service names. */
	expect_err(NP_ALL "  egress: [{ports: [{port: HTTP}]}]\n",
		   "\"HTTP\" is not a valid port name (must contain only lower case");
	expect_err(NP_ALL "  egress: [{ports: [{port: a--b}]}]\n",
		   "\"a--b\" is not a valid port name (must not contain consecutive '-')");
	expect_err(NP_ALL "  egress: [{ports: [{port: -ab}]}]\n",
		   "\"-ab\" is not a valid port name (must not begin or end with '-')");
	expect_err(NP_ALL "  egress: [{ports: [{port: abcdefghijklmnop}]}]\n",
		   "\"abcdefghijklmnop\" is not a valid port name (must be 1-15 characters)");
	expect_err(NP_ALL "  egress: [{ports: [{port: \"\"}]}]\n", "\"\" is not a valid port name");
}

static void test_err_selectors(void **state)
{
	(void)state;
	expect_err(NP "  podSelector:\n    matchExpressions:\n      - {key: a, operator: Foo}\n",
		   "spec.podSelector.matchExpressions[0].operator: \"Foo\" is not one of In, "
		   "NotIn, Exists, DoesNotExist");
	expect_err(NP "  podSelector: {matchExpressions: [{key: a, operator: In}]}\n",
		   "spec.podSelector.matchExpressions[0].values: must be non-empty for operator In");
	expect_err(NP "  podSelector: {matchExpressions: [{key: a, operator: NotIn, values: []}]}\n",
		   "values: must be non-empty for operator NotIn");
	expect_err(NP "  podSelector: {matchExpressions: [{key: a, operator: Exists, values: [x]}]}\n",
		   "spec.podSelector.matchExpressions[0].values: must be empty for operator Exists");
	expect_err(NP "  podSelector: {matchExpressions: [{key: a, operator: DoesNotExist, "
		   "values: [x]}]}\n", "values: must be empty for operator DoesNotExist");
	expect_err(NP "  podSelector: {matchExpressions: [{operator: Exists}]}\n",
		   "spec.podSelector.matchExpressions[0].key: is required");
	expect_err(NP "  podSelector: {matchExpressions: [{key: a}]}\n",
		   "spec.podSelector.matchExpressions[0].operator: is required");
	expect_err(NP "  podSelector: {matchExpressions: [{key: a, operator: In, values: [\"b c\"]}]}\n",
		   "matchExpressions[0].values[0]: \"b c\" is not a valid label value");
	expect_err(NP "  podSelector: {matchExpressions: [{key: \"a b\", operator: Exists}]}\n",
		   "matchExpressions[0].key: \"a b\" is not a valid label key");
	/* Label keys: [DNS subdomain prefix/]name, name <= 63. */
	expect_err(NP "  podSelector: {matchLabels: {-app: x}}\n",
		   "spec.podSelector.matchLabels: key \"-app\" is not a valid label key");
	expect_err(NP "  podSelector: {matchLabels: {Example.com/app: x}}\n",
		   "key \"Example.com/app\" is not a valid label key (the prefix before '/' "
		   "must be a DNS subdomain");
	expect_err(NP "  podSelector: {matchLabels: {/app: x}}\n",
		   "prefix before '/' must not be empty");
	expect_err(NP "  podSelector: {matchLabels: {a/b/c: x}}\n",
		   "key \"a/b/c\" is not a valid label key");
	expect_err(NP "  podSelector: {matchLabels: {example.com/: x}}\n",
		   "the name part must not be empty");
	expect_err(NP "  podSelector: {matchLabels: {"
		   "a234567890123456789012345678901234567890123456789012345678901234: x}}\n",
		   "the name part must be no more than 63 characters");
	/* Values: <= 63, empty allowed. */
	expect_err(NP "  podSelector: {matchLabels: {app: \"web!\"}}\n",
		   "spec.podSelector.matchLabels.app: \"web!\" is not a valid label value");
	expect_err(NP "  podSelector: {matchLabels: {app: _web}}\n",
		   "\"_web\" is not a valid label value");
	expect_err(NP "  podSelector: {matchLabels: {app: "
		   "a234567890123456789012345678901234567890123456789012345678901234}}\n",
		   "is not a valid label value (must be no more than 63 characters)");
	expect_err(NP "  podSelector: []\n", "spec.podSelector: expected a mapping, got a list");
	expect_err(NP "  podSelector: {matchExpressions: {key: a}}\n",
		   "spec.podSelector.matchExpressions: expected a list, got a mapping");
}

static void test_err_peers(void **state)
{
	(void)state;
	expect_err(NP_ALL "  egress: [{to: [{ipBlock: {cidr: 10.0.0.0/33}}]}]\n",
		   "spec.egress[0].to[0].ipBlock.cidr: \"10.0.0.0/33\" is not a CIDR");
	expect_err(NP_ALL "  egress: [{to: [{ipBlock: {cidr: 10.0.0.1}}]}]\n",
		   "spec.egress[0].to[0].ipBlock.cidr: \"10.0.0.1\" is not a CIDR");
	expect_err(NP_ALL "  egress: [{to: [{ipBlock: {cidr: \"\"}}]}]\n",
		   "cidr: \"\" is not a CIDR");
	expect_err(NP_ALL "  egress: [{to: [{ipBlock: {except: [10.0.0.0/8]}}]}]\n",
		   "spec.egress[0].to[0].ipBlock.cidr: is required");
	expect_err(NP_ALL "  ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/16, except: [10.1.0.0/24]}}]}]\n",
		   "spec.ingress[0].from[0].ipBlock.except[0]: \"10.1.0.0/24\" is not strictly "
		   "inside cidr 10.0.0.0/16");
	/* Equal is not strictly inside. */
	expect_err(NP_ALL "  ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/16, except: [10.0.0.0/16]}}]}]\n",
		   "\"10.0.0.0/16\" is not strictly inside cidr 10.0.0.0/16");
	expect_err(NP_ALL "  ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/16, except: [\"fd00::/64\"]}}]}]\n",
		   "except[0]: \"fd00::/64\" is not strictly inside cidr 10.0.0.0/16");
	expect_err(NP_ALL "  ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/16, except: [10.0.300.0/24]}}]}]\n",
		   "except[0]: \"10.0.300.0/24\" is not a CIDR");
	expect_err(NP_ALL "  ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8}, podSelector: {}}]}]\n",
		   "spec.ingress[0].from[0]: ipBlock may not be combined with podSelector or "
		   "namespaceSelector");
	expect_err(NP_ALL "  ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8}, namespaceSelector: {}}]}]\n",
		   "ipBlock may not be combined");
	expect_err(NP_ALL "  ingress: [{from: [{}]}]\n",
		   "spec.ingress[0].from[0]: must have podSelector, namespaceSelector or ipBlock");
	expect_err(NP_ALL "  ingress: [{from: [null]}]\n",
		   "spec.ingress[0].from[0]: expected a mapping, got null");
	expect_err(NP_ALL "  ingress: [{from: {podSelector: {}}}]\n",
		   "spec.ingress[0].from: expected a list, got a mapping");
}

static void test_err_spec(void **state)
{
	(void)state;
	expect_err(NP_ALL "  policyTypes: [Ingress, Foo]\n",
		   "spec.policyTypes[1]: \"Foo\" is not one of Ingress, Egress");
	expect_err(NP_ALL "  policyTypes: [Ingress, Egress, Ingress]\n",
		   "spec.policyTypes: may not have more than 2 entries");
	expect_err(NP_ALL "  policyTypes: Ingress\n",
		   "spec.policyTypes: expected a list, got \"Ingress\"");
	expect_err(NP "  ingress: [{}]\n",
		   "spec.podSelector: is required ({} selects every pod of the namespace)");
	expect_err(NP "  podSelector: null\n", "spec.podSelector: is required");
	expect_err("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p}\n",
		   "spec: is required");
	expect_err(NP_ALL "  ingress: x\n", "spec.ingress: expected a list, got \"x\"");
	expect_err(NP_ALL "  egress: [5]\n", "spec.egress[0]: expected a mapping, got 5");
	expect_err("apiVersion: extensions/v1beta1\nkind: NetworkPolicy\nmetadata: {name: p}\n"
		   "spec: {podSelector: {}}\n",
		   "apiVersion: \"extensions/v1beta1\" is not networking.k8s.io/v1");
}

static void test_err_metadata(void **state)
{
	struct policy_set s = { 0 };

	(void)state;
	expect_err("kind: NetworkPolicy\nmetadata: {namespace: a}\nspec: {podSelector: {}}\n",
		   "t.yaml:1: metadata.name: is required");
	expect_err("kind: NetworkPolicy\n"
		   "spec: {podSelector: {}}\n", "t.yaml:1: metadata: is required");
	expect_err("kind: NetworkPolicy\nmetadata: {name: Bad_Name}\nspec: {podSelector: {}}\n",
		   "metadata.name: \"Bad_Name\" is not a valid name (must consist of lower case");
	expect_err("kind: NetworkPolicy\nmetadata: {name: a, namespace: a.b}\n"
		   "spec: {podSelector: {}}\n",
		   "metadata.namespace: \"a.b\" is not a valid namespace");
	expect_err("kind: NetworkPolicy\nmetadata: {name: a, labels: {a: \"b c\"}}\n"
		   "spec: {podSelector: {}}\n",
		   "metadata.labels.a: \"b c\" is not a valid label value");
	expect_err("kind: Namespace\nmetadata: {name: my.ns}\n",
		   "metadata.name: \"my.ns\" is not a valid name");
	expect_err("kind: Namespace\nmetadata: {name: \"\"}\n", "metadata.name: is required");
	expect_err("kind: Pod\nmetadata: {name: a, namespace: [x]}\n",
		   "metadata.namespace: expected a string, got a list");
	expect_err("apiVersion: v2\nkind: Pod\n"
		   "metadata: {name: a}\n", "apiVersion: \"v2\" is not v1");

	/* The error names the object: kind, namespace (defaulted), name. */
	parse_ok(&s, "kind: NetworkPolicy\nmetadata: {name: x}\nspec: {podSelector: 3}\n");
	assert_int_equal(s.nerrors, 1);
	assert_string_equal(s.errors[0].kind, "NetworkPolicy");
	assert_string_equal(s.errors[0].ns, "default");
	assert_string_equal(s.errors[0].name, "x");
	assert_string_equal(s.errors[0].reason, "spec.podSelector: expected a mapping, got 3");
	policy_set_free(&s);

	/* No kind: a document error, with source and line. */
	parse_ok(&s, "kind: Namespace\nmetadata: {name: a}\n---\nmetadata: {name: b}\n---\n42\n");
	assert_int_equal(s.nnss, 1);
	assert_int_equal(s.nerrors, 2);
	assert_null(s.errors[0].kind);
	assert_string_equal(s.errors[0].reason, "t.yaml:4: kind is required");
	assert_string_equal(s.errors[1].reason, "t.yaml:6: not a Kubernetes object (42)");
	policy_set_free(&s);
}

/* Errors in one object are all reported (up to a cap), not just the first. */
static void test_err_many(void **state)
{
	struct policy_set s = { 0 };
	char text[4096];
	int n;

	(void)state;
	parse_ok(&s, NP_ALL "  ingress: [{ports: [{port: 0}, {protocol: X}]}]\n"
			    "  policyTypes: [Z]\n");
	assert_int_equal(s.nerrors, 3);
	assert_non_null(find_err(&s, "ports[0].port: 0"));
	assert_non_null(find_err(&s, "ports[1].protocol: \"X\""));
	assert_non_null(find_err(&s, "policyTypes[0]: \"Z\""));
	policy_set_free(&s);

	n = snprintf(text, sizeof(text), NP_ALL "  ingress: [{ports: [");
	for (int i = 0; i < 25; i++)
		n += snprintf(text + n, sizeof(text) - n, "{port: 0},");
	snprintf(text + n, sizeof(text) - n, "]}]\n");
	parse_ok(&s, text);
	assert_int_equal(s.nerrors, 11);
	assert_string_equal(s.errors[10].reason, "15 more errors");
	assert_string_equal(s.errors[10].name, "p");
	policy_set_free(&s);
}

static void test_invalid_among_valid(void **state)
{
	struct policy_set s = { 0 };
	const struct policy_error *e;

	(void)state;
	parse_ok(&s, "kind: NetworkPolicy\nmetadata: {name: a, namespace: ns}\n"
		     "spec: {podSelector: {}}\n"
		     "---\n"
		     "kind: NetworkPolicy\nmetadata: {name: b, namespace: ns}\n"
		     "spec: {podSelector: {}, ingress: [{ports: [{port: 80, endPort: 79}]}]}\n"
		     "---\n"
		     "kind: NetworkPolicy\nmetadata: {name: c, namespace: ns}\n"
		     "spec: {podSelector: {}}\n");
	assert_int_equal(s.npols, 2);
	find_pol(&s, "ns", "a");
	find_pol(&s, "ns", "c");
	assert_int_equal(s.nerrors, 1);
	e = &s.errors[0];
	assert_string_equal(e->kind, "NetworkPolicy");
	assert_string_equal(e->ns, "ns");
	assert_string_equal(e->name, "b");
	assert_string_equal(e->reason, "spec.ingress[0].ports[0].endPort: 79 is less than port 80");
	policy_set_free(&s);
}

/* ---- formats ---------------------------------------------------------- */

static void test_multi_doc_yaml(void **state)
{
	struct policy_set s = { 0 };

	(void)state;
	parse_ok(&s, "---\n# leading marker and comment\n---\n"
		     "kind: Namespace\nmetadata: {name: a}\n"
		     "---\n"
		     "---\n"
		     "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: ignored}\n"
		     "...\n"
		     "---\n"
		     "kind: Pod\nmetadata: {name: p1, namespace: a}\n"
		     "--- {kind: NetworkPolicy, metadata: {name: np, namespace: a}, spec: {podSelector: {}}}\n");
	assert_int_equal(s.nerrors, 0);
	assert_int_equal(s.nnss, 1);
	assert_int_equal(s.npods, 1);
	assert_int_equal(s.npols, 1);
	assert_string_equal(s.pols[0].name, "np");
	policy_set_free(&s);
}

static void test_lists(void **state)
{
	struct policy_set s = { 0 };

	(void)state;
	/* kind: List; items carry their kind. */
	parse_ok(&s, "apiVersion: v1\nkind: List\nitems:\n"
		     "  - {kind: Namespace, metadata: {name: a}}\n"
		     "  - {kind: Pod, metadata: {name: p, namespace: a}}\n"
		     "  - {kind: ConfigMap, metadata: {name: c}}\n");
	assert_int_equal(s.nerrors, 0);
	assert_int_equal(s.nnss, 1);
	assert_int_equal(s.npods, 1);
	policy_set_free(&s);

	/* Typed lists, as the API returns them: items without kind. */
	parse_ok(&s, "{\"kind\":\"NetworkPolicyList\",\"apiVersion\":\"networking.k8s.io/v1\","
		     "\"items\":[{\"metadata\":{\"name\":\"a\",\"namespace\":\"x\"},"
		     "\"spec\":{\"podSelector\":{}}}]}\n"
		     "{\"kind\":\"PodList\",\"items\":[{\"metadata\":{\"name\":\"p\"}}]}\n"
		     "{\"kind\":\"NamespaceList\",\"items\":[{\"metadata\":{\"name\":\"x\"}},"
		     "{\"metadata\":{\"name\":\"y\"}}]}");
	assert_int_equal(s.nerrors, 0);
	assert_int_equal(s.npols, 1);
	assert_string_equal(s.pols[0].ns, "x");
	assert_int_equal(s.npods, 1);
	assert_string_equal(s.pods[0].ns, "default");
	assert_int_equal(s.nnss, 2);
	policy_set_free(&s);

	/* A top-level JSON array. */
	parse_ok(&s, "[{\"kind\":\"Namespace\",\"metadata\":{\"name\":\"a\"}},\n"
		     " {\"kind\":\"Namespace\",\"metadata\":{\"name\":\"b\"}}]");
	assert_int_equal(s.nerrors, 0);
	assert_int_equal(s.nnss, 2);
	policy_set_free(&s);

	/* A generic List item needs its kind; an unnamed bad item is located. */
	parse_ok(&s, "kind: List\nitems:\n  - {metadata: {name: a}}\n"
		     "  - {kind: Namespace, metadata: {}}\n"
		     "  - {kind: Namespace, metadata: {name: ok}}\n");
	assert_int_equal(s.nnss, 1);
	assert_int_equal(s.nerrors, 2);
	assert_string_equal(s.errors[0].reason, "t.yaml:1: items[0]: kind is required");
	assert_string_equal(s.errors[1].reason, "t.yaml:1: items[1]: metadata.name: is required");
	policy_set_free(&s);

	parse_ok(&s, "kind: List\nitems: {a: 1}\n");
	assert_non_null(find_err(&s, "items: expected a list, got a mapping"));
	policy_set_free(&s);
}

static void test_json(void **state)
{
	struct policy_set s = { 0 };
	const struct netpol *p;

	(void)state;
	p = one_pol(&s, "{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"NetworkPolicy\","
			"\"metadata\":{\"name\":\"p\",\"namespace\":\"n\"},\"spec\":{\"podSelector\":{},"
			"\"ingress\":[{\"ports\":[{\"port\":80},{\"port\":\"http\"}]}]}}");
	assert_int_equal(p->ingress[0].ports[0].port, 80);
	assert_string_equal(p->ingress[0].ports[1].port_name, "http");
	policy_set_free(&s);

	/* JSON strings stay strings: "80" is a (bad) port name. */
	parse_ok(&s, "{\"kind\":\"NetworkPolicy\",\"metadata\":{\"name\":\"p\"},\"spec\":"
		     "{\"podSelector\":{},\"ingress\":[{\"ports\":[{\"port\":\"80\"}]}]}}");
	assert_non_null(find_err(&s, "port: \"80\" is not a valid port name"));
	policy_set_free(&s);

	/* A YAML flow mapping starts with '{' too. */
	parse_ok(&s, "{kind: Namespace, metadata: {name: flow}}\n");
	assert_int_equal(s.nerrors, 0);
	assert_int_equal(s.nnss, 1);
	policy_set_free(&s);

	/* An embedded NUL would make C see another value than the API server. */
	parse_ok(&s, "{\"kind\":\"Namespace\",\"metadata\":{\"name\":\"a\",\"labels\":"
		     "{\"x\":\"a\\u0000b\"}}}");
	assert_non_null(find_err(&s, "metadata.labels.x: contains a NUL character"));
	assert_int_equal(s.nnss, 0);
	policy_set_free(&s);
}

static void test_syntax_errors(void **state)
{
	struct policy_set s = { 0 };

	(void)state;
	/* A broken YAML document: one error with source and line; the
	 * documents before and after it are kept. */
	parse_ok(&s, "kind: Namespace\nmetadata: {name: a}\n"
		     "---\n"
		     "kind: Namespace\nmetadata: {name: b\nspec: 1\n"
		     "---\n"
		     "kind: Namespace\nmetadata: {name: c}\n");
	assert_int_equal(s.nerrors, 1);
	assert_null(s.errors[0].kind);
	assert_non_null(strstr(s.errors[0].reason, "t.yaml:6:"));
	assert_non_null(strstr(s.errors[0].reason, "flow mapping at line 5"));
	assert_int_equal(s.nnss, 2);
	assert_string_equal(s.nss[0].name, "a");
	assert_string_equal(s.nss[1].name, "c");
	policy_set_free(&s);

	parse_ok(&s, "kind: Namespace\nmetadata:\n  name: a\n   labels: {}\n");
	assert_int_equal(s.nerrors, 1);
	assert_non_null(strstr(s.errors[0].reason, "t.yaml:4:"));
	assert_int_equal(s.nnss, 0);
	policy_set_free(&s);

	/* Broken JSON: line and column of the problem. */
	parse_ok(&s, "{\"kind\": \"Namespace\",\n \"metadata\": {\"name\": \"a\"},\n \"x\": ]\n}");
	assert_int_equal(s.nerrors, 1);
	assert_non_null(strstr(s.errors[0].reason, "t.yaml:3:7: invalid JSON"));
	policy_set_free(&s);

	/* JSON values before the broken one are kept. */
	parse_ok(&s, "{\"kind\":\"Namespace\",\"metadata\":{\"name\":\"a\"}}\n\n{\"kind\":");
	assert_int_equal(s.nnss, 1);
	assert_int_equal(s.nerrors, 1);
	assert_non_null(strstr(s.errors[0].reason, "t.yaml:3:"));
	policy_set_free(&s);

	/* Not YAML at all: a tab where indentation is expected. */
	parse_ok(&s, "a:\n\t- b\n");
	assert_int_equal(s.nerrors, 1);
	assert_non_null(strstr(s.errors[0].reason, "t.yaml:2:"));
	policy_set_free(&s);

	/* Duplicate keys: kubectl refuses the document. */
	parse_ok(&s, "kind: Namespace\nmetadata: {name: a}\nmetadata: {name: b}\n");
	assert_int_equal(s.nnss, 0);
	assert_non_null(find_err(&s, "t.yaml:3:1: duplicate mapping key \"metadata\""));
	policy_set_free(&s);

	/* Empty input and comments only: nothing, no error. */
	parse_ok(&s, "");
	parse_ok(&s, "# nothing\n\n");
	assert_int_equal(s.nerrors, 0);
	assert_int_equal(policy_parse(&s, NULL, 0, NULL), 0);
	policy_set_free(&s);
}

static void test_yaml_anchors(void **state)
{
	struct policy_set s = { 0 };
	const struct netpol *p;
	char *bomb;
	size_t n = 0;

	(void)state;
	p = one_pol(&s, "kind: NetworkPolicy\nmetadata: {name: p}\nspec:\n"
			"  podSelector: &sel {matchLabels: {app: web}}\n"
			"  ingress:\n    - from: [{podSelector: *sel}]\n"
			"      ports: &ports [{port: 80}]\n"
			"  egress:\n    - ports: *ports\n");
	assert_string_equal(label(&p->ingress[0].peers[0].pod_sel.match_labels, "app"), "web");
	assert_int_equal(p->egress[0].ports[0].port, 80);
	policy_set_free(&s);

	/* << merges; explicit keys win. */
	parse_ok(&s, "kind: List\nitems:\n"
		     "  - kind: Pod\n    metadata: &m {name: a, namespace: ns, labels: {app: x}}\n"
		     "  - kind: Pod\n    metadata:\n      <<: *m\n      name: b\n");
	assert_int_equal(s.nerrors, 0);
	assert_int_equal(s.npods, 2);
	assert_string_equal(find_pod(&s, "ns", "b")->labels.v[0].value, "x");
	policy_set_free(&s);

	parse_ok(&s, "kind: Pod\nmetadata: {name: *nope}\n");
	assert_non_null(find_err(&s, "t.yaml:2:18: unknown alias *nope"));
	policy_set_free(&s);

	/* Exponential alias expansion is refused, not walked. */
	bomb = malloc(4096);
	assert_non_null(bomb);
	n += sprintf(bomb + n, "kind: Namespace\nmetadata: {name: x}\n"
			       "a0: &a0 [x, x, x, x, x, x, x, x]\n");
	for (int i = 1; i < 12; i++)
		n += sprintf(bomb + n,
			     "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n", i,
			     i, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
	parse_ok(&s, bomb);
	free(bomb);
	assert_int_equal(s.nnss, 0);
	assert_non_null(find_err(&s, "document larger than"));
	policy_set_free(&s);
}

/* The YAML corners the loader handles itself. */
static void test_yaml_structure(void **state)
{
	struct policy_set s = { 0 };
	char *text;
	size_t n = 0;

	(void)state;
	/* << with a list: earlier mappings win over later ones. */
	parse_ok(&s, "x: &a {team: a, tier: one}\ny: &b {team: b, env: prod}\n"
		     "kind: Namespace\nmetadata:\n  name: m\n  labels:\n    <<: [*a, *b]\n"
		     "    tier: two\n");
	assert_int_equal(s.nerrors, 0);
	assert_string_equal(label(&s.nss[0].labels, "team"), "a");
	assert_string_equal(label(&s.nss[0].labels, "env"), "prod");
	assert_string_equal(label(&s.nss[0].labels, "tier"), "two");
	policy_set_free(&s);

	parse_ok(&s, "kind: Namespace\nmetadata: {name: m, <<: [x]}\n");
	assert_non_null(find_err(&s, "t.yaml:2:"));
	assert_non_null(find_err(&s, "the value of << must be a mapping or a list of mappings"));
	policy_set_free(&s);

	/* An alias as a key (its string), an anchored key. */
	parse_ok(&s, "k: &k app\nkind: Namespace\n"
		     "metadata: {name: m, labels: {*k : web, &j x: z}}\n");
	assert_int_equal(s.nerrors, 0);
	assert_string_equal(label(&s.nss[0].labels, "app"), "web");
	assert_string_equal(label(&s.nss[0].labels, "x"), "z");
	policy_set_free(&s);

	parse_ok(&s, "m: &m {a: b}\nkind: Namespace\nmetadata: {name: m, labels: {*m : web}}\n");
	assert_non_null(find_err(&s, "alias *m as a mapping key must be a string"));
	policy_set_free(&s);

	parse_ok(&s, "kind: Namespace\n? [a, b]\n: c\n");
	assert_non_null(find_err(&s, "t.yaml:2:3: complex mapping keys are not supported"));
	policy_set_free(&s);

	parse_ok(&s, "kind: Namespace\nmetadata: {name: m, labels: {\"a\\0b\": x}}\n");
	assert_non_null(find_err(&s, "mapping key contains a NUL character"));
	policy_set_free(&s);

	/* Nesting and anchor limits. */
	text = malloc(1 << 16);
	assert_non_null(text);
	n = sprintf(text, "kind: Namespace\nmetadata: {name: m}\nx: ");
	for (int i = 0; i < 70; i++)
		text[n++] = '[';
	text[n] = '\0';
	parse_ok(&s, text);
	assert_non_null(find_err(&s, "t.yaml:3:67: nested deeper than 64 levels"));
	assert_int_equal(s.nnss, 0);
	policy_set_free(&s);

	n = sprintf(text, "kind: Namespace\nmetadata: {name: m}\nx: [");
	for (int i = 0; i < 4100; i++)
		n += sprintf(text + n, "&a%d 1,", i);
	sprintf(text + n, "]\n");
	parse_ok(&s, text);
	assert_non_null(find_err(&s, "more than 4096 anchors in one document"));
	policy_set_free(&s);
	free(text);

	/* Not UTF-8: a reader error, located. */
	parse_ok(&s, "kind: Namespace\nmetadata: {name: m}\nx: \xff\xfe\n");
	assert_int_equal(s.nerrors, 1);
	assert_non_null(strstr(s.errors[0].reason, "t.yaml:3:"));
	assert_non_null(strstr(s.errors[0].reason, "invalid"));
	policy_set_free(&s);

	/* A UTF-8 byte order mark, YAML and JSON. */
	parse_ok(&s, "\xef\xbb\xbfkind: Namespace\nmetadata: {name: a}\n");
	parse_ok(&s, "\xef\xbb\xbf{\"kind\": \"Namespace\", \"metadata\": {\"name\": \"b\"}}");
	assert_int_equal(s.nerrors, 0);
	assert_int_equal(s.nnss, 2);
	policy_set_free(&s);
}

/* go-yaml v2 number forms, as kubectl reads them. */
static void test_yaml_numbers(void **state)
{
	struct policy_set s;
	const struct netpol *p;

	(void)state;
	p = one_pol(&s, NP_ALL "  ingress: [{ports: [{port: 0o17}, {port: 017}, {port: 0b101}, "
			"{port: +8_0}, {port: 0xFF}]}]\n");
	assert_int_equal(p->ingress[0].ports[0].port, 15);
	assert_int_equal(p->ingress[0].ports[1].port, 15);
	assert_int_equal(p->ingress[0].ports[2].port, 5);
	assert_int_equal(p->ingress[0].ports[3].port, 80);
	assert_int_equal(p->ingress[0].ports[4].port, 255);
	policy_set_free(&s);

	/* Floats are not ports; neither is 08 (not octal, so a float). */
	expect_err(NP_ALL "  ingress: [{ports: [{port: 08}]}]\n", "got 8");
	expect_err(NP_ALL "  ingress: [{ports: [{port: 1e+3}]}]\n", "got 1000");
	expect_err(NP_ALL "  ingress: [{ports: [{port: .inf}]}]\n", "got inf");
	expect_err(NP_ALL "  ingress: [{ports: [{port: !!float 80}]}]\n", "got 80");
	expect_err(NP_ALL "  ingress: [{ports: [{port: 99999999999999999999}]}]\n", "got 1e+20");
	/* Not numbers at all (go-yaml wants a signed exponent): strings. */
	p = one_pol(&s, NP_ALL "  ingress: [{ports: [{port: 1e3}]}]\n");
	assert_string_equal(p->ingress[0].ports[0].port_name, "1e3");
	policy_set_free(&s);
	expect_err(NP_ALL "  ingress: [{ports: [{port: 0xZZ}]}]\n",
		   "\"0xZZ\" is not a valid port name");
}

/* Values in messages are quoted, escaped and cut; names have lengths. */
static void test_messages(void **state)
{
	char text[1024], want[256];

	(void)state;
	expect_err(NP_ALL "  ingress: [{ports: [{protocol: \"T\\tC\\\"P\"}]}]\n",
		   "protocol: \"T\\x09C\\\"P\" is not one of");
	snprintf(text, sizeof(text), NP_ALL "  ingress: [{ports: [{protocol: %0300d}]}]\n", 7);
	snprintf(want, sizeof(want), "protocol: \"%070d...\" is not one of", 0);
	expect_err(text, want);
	snprintf(text, sizeof(text), "kind: Namespace\nmetadata: {name: a%063d}\n", 0);
	expect_err(text, "is not a valid name (must be no more than 63 characters)");
	snprintf(text, sizeof(text), "kind: Pod\nmetadata: {name: a%0253d}\n", 0);
	expect_err(text, "is not a valid name (must be no more than 253 characters)");
	expect_err("kind: Pod\nmetadata: {name: a..b}\n", "\"a..b\" is not a valid name");
	expect_err("kind: Pod\nmetadata: {name: a.b-}\n", "\"a.b-\" is not a valid name");
	expect_err("kind: [Pod]\n", "t.yaml:1: kind: expected a string, got a list");
	expect_err("kind: List\nitems: [{kind: List, items: [{kind: List, items: [{kind: List, "
		   "items: [{kind: List, items: [{kind: List, items: []}]}]}]}]}]\n",
		   "t.yaml:1: items[0].items[0].items[0].items[0].items[0]: lists nested deeper than 4");
}

/* ---- duplicates: the later replaces the earlier ----------------------- */

static void test_duplicates(void **state)
{
	struct policy_set s = { 0 };

	(void)state;
	parse_ok(&s, NP_ALL "  ingress: [{}]\n---\n" NP_ALL "  egress: [{}, {}]\n");
	assert_int_equal(s.npols, 1);
	assert_int_equal(s.pols[0].ningress, 0);
	assert_int_equal(s.pols[0].negress, 2);

	/* A later call replaces too; another namespace is another object. */
	parse_ok(&s, NP_ALL "  ingress: [{}, {}, {}]\n---\n"
		     "kind: NetworkPolicy\nmetadata: {name: p, namespace: ns2}\n"
		     "spec: {podSelector: {}}\n");
	assert_int_equal(s.npols, 2);
	assert_int_equal(find_pol(&s, "ns1", "p")->ningress, 3);
	find_pol(&s, "ns2", "p");

	/* An invalid update is refused; the object stays as it was. */
	parse_ok(&s, NP_ALL "  ingress: [{ports: [{port: 0}]}]\n");
	assert_int_equal(s.npols, 2);
	assert_int_equal(find_pol(&s, "ns1", "p")->ningress, 3);
	assert_int_equal(s.nerrors, 1);
	policy_set_free(&s);

	/* Namespaces (cluster-scoped) and pods, many of them. */
	for (int round = 0; round < 2; round++) {
		char buf[128];

		for (int i = 0; i < 300; i++) {
			snprintf(buf, sizeof(buf), "kind: Namespace\n"
						   "metadata: {name: ns%d, labels: {r: \"%d\"}}\n"
				 "---\nkind: Pod\n"
				 "metadata: {name: p%d, namespace: ns%d}\n", i % 100, round, i,
				 i % 7);
			parse_ok(&s, buf);
		}
	}
	assert_int_equal(s.nnss, 100);
	assert_int_equal(s.npods, 300);
	assert_string_equal(label(&s.nss[42].labels, "r"), "1");
	policy_set_free(&s);
}

/* ---- Namespace and Pod ------------------------------------------------ */

static void test_namespace(void **state)
{
	struct policy_set s = { 0 };

	(void)state;
	parse_ok(&s, "apiVersion: v1\nkind: Namespace\nmetadata: {name: prod, labels: {team: a}}\n"
		     "---\nkind: Namespace\nmetadata:\n  name: dev\n"
		     "  labels: {kubernetes.io/metadata.name: wrong}\n");
	assert_int_equal(s.nerrors, 0);
	assert_int_equal(s.nnss, 2);
	assert_string_equal(s.nss[0].name, "prod");
	assert_int_equal(s.nss[0].labels.n, 2);
	assert_string_equal(label(&s.nss[0].labels, "team"), "a");
	/* The API server always sets it, overriding what was given. */
	assert_string_equal(label(&s.nss[0].labels, "kubernetes.io/metadata.name"), "prod");
	assert_int_equal(s.nss[1].labels.n, 1);
	assert_string_equal(label(&s.nss[1].labels, "kubernetes.io/metadata.name"), "dev");
	policy_set_free(&s);
}

static void test_pod(void **state)
{
	struct policy_set s = { 0 };
	const struct pod *p;
	struct ipaddr a4 = A("10.244.1.5"), a6 = A("fd00::5");

	(void)state;
	parse_ok(&s, "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  namespace: prod\n"
		     "  labels: {app: web}\n"
		     "spec:\n  nodeName: node-a\n  containers:\n"
		     "    - name: c1\n      ports:\n        - {name: http, containerPort: 8080}\n"
		     "        - {containerPort: 53, protocol: UDP}\n"
		     "    - name: c2\n    - name: c3\n"
		     "      ports: [{name: sctp-x, containerPort: 9, protocol: SCTP}]\n"
		     "status:\n  phase: Running\n  podIP: 10.244.1.5\n"
		     "  podIPs: [{ip: 10.244.1.5}, {ip: \"fd00::5\"}]\n"
		     "---\n"
		     "kind: Pod\nmetadata: {name: old}\nspec: {hostNetwork: true}\n"
		     "status: {podIP: 10.0.0.9}\n"
		     "---\n"
		     "kind: Pod\nmetadata: {name: pending}\nstatus: {podIP: \"\", phase: Pending}\n"
		     "---\n"
		     "kind: Pod\nmetadata: {name: done}\n"
		     "status: {podIP: 10.0.0.3, phase: Succeeded}\n");
	assert_int_equal(s.nerrors, 0);
	assert_int_equal(s.npods, 4);

	p = find_pod(&s, "prod", "web");
	assert_string_equal(label(&p->labels, "app"), "web");
	assert_string_equal(p->node, "node-a");
	assert_false(p->host_network);
	/* podIP duplicates podIPs[0]. */
	assert_int_equal(p->nips, 2);
	assert_true(ipaddr_equal(&p->ips[0], &a4));
	assert_true(ipaddr_equal(&p->ips[1], &a6));
	assert_int_equal(p->nports, 3);
	assert_string_equal(p->ports[0].name, "http");
	assert_int_equal(p->ports[0].port, 8080);
	assert_int_equal(p->ports[0].proto, L4_TCP);
	assert_null(p->ports[1].name);
	assert_int_equal(p->ports[1].port, 53);
	assert_int_equal(p->ports[1].proto, L4_UDP);
	assert_string_equal(p->ports[2].name, "sctp-x");
	assert_int_equal(p->ports[2].proto, L4_SCTP);

	/* podIP alone (older API servers); the default namespace. */
	p = find_pod(&s, "default", "old");
	assert_true(p->host_network);
	assert_null(p->node);
	assert_int_equal(p->nips, 1);
	assert_int_equal(p->ips[0].family, AF_INET);
	assert_int_equal(find_pod(&s, "default", "pending")->nips, 0);
	/* A finished pod's IP may be another pod's by now. */
	assert_int_equal(find_pod(&s, "default", "done")->nips, 0);
	policy_set_free(&s);

	expect_err("kind: Pod\nmetadata: {name: a}\nstatus: {podIPs: [{ip: 10.0.0.256}]}\n",
		   "status.podIPs[0].ip: \"10.0.0.256\" is not an IP address");
	expect_err("kind: Pod\nmetadata: {name: a}\nstatus: {podIP: x}\n",
		   "status.podIP: \"x\" is not an IP address");
	expect_err("kind: Pod\nmetadata: {name: a}\n"
		   "status: {podIPs: [{ip: 10.0.0.1}, {ip: 10.0.0.2}, "
		   "{ip: 10.0.0.3}, {ip: 10.0.0.4}, {ip: 10.0.0.5}]}\n",
		   "status.podIPs[4].ip: more than 4 pod IPs");
	expect_err("kind: Pod\nmetadata: {name: a}\n"
		   "spec: {containers: [{ports: [{name: http}]}]}\n",
		   "spec.containers[0].ports[0].containerPort: is required");
	expect_err("kind: Pod\nmetadata: {name: a}\n"
		   "spec: {containers: [{ports: [{containerPort: 0}]}]}\n",
		   "spec.containers[0].ports[0].containerPort: 0 is not a valid port number");
	expect_err("kind: Pod\nmetadata: {name: a}\nspec: {containers: [{}, {ports: "
		   "[{name: Web, containerPort: 80}]}]}\n",
		   "spec.containers[1].ports[0].name: \"Web\" is not a valid port name");
	expect_err("kind: Pod\nmetadata: {name: a}\nspec: {containers: [{ports: "
		   "[{containerPort: 80, protocol: icmp}]}]}\n",
		   "spec.containers[0].ports[0].protocol: \"icmp\" is not one of TCP, UDP, SCTP");
	expect_err("kind: Pod\nmetadata: {name: a}\nspec: {hostNetwork: \"true\"}\n",
		   "spec.hostNetwork: expected a boolean, got \"true\"");
	expect_err("kind: Pod\nmetadata: {name: a, labels: {app: on}}\n",
		   "metadata.labels.app: expected a string, got true (YAML reads unquoted y, n, "
		   "yes, no, on, off as booleans: quote it)");
	expect_err("kind: Pod\nmetadata: {name: a, namespace: n}\n",
		   "metadata.namespace: expected a string, got false");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_types_default),
		cmocka_unit_test(test_policy_types_explicit),
		cmocka_unit_test(test_pod_selector),
		cmocka_unit_test(test_peers),
		cmocka_unit_test(test_ports),
		cmocka_unit_test(test_yaml_scalars),
		cmocka_unit_test(test_err_ports),
		cmocka_unit_test(test_err_selectors),
		cmocka_unit_test(test_err_peers),
		cmocka_unit_test(test_err_spec),
		cmocka_unit_test(test_err_metadata),
		cmocka_unit_test(test_err_many),
		cmocka_unit_test(test_invalid_among_valid),
		cmocka_unit_test(test_multi_doc_yaml),
		cmocka_unit_test(test_lists),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_yaml_anchors),
		cmocka_unit_test(test_yaml_structure),
		cmocka_unit_test(test_yaml_numbers),
		cmocka_unit_test(test_messages),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_namespace),
		cmocka_unit_test(test_pod),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
