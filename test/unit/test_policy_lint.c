/* Unit tests for the operator tools of the policy library: policy/lint.c
 * (`xdpathctl policy lint`: every warning, the errors, a clean set, exit
 * codes, file attribution) and policy/explain.c (`policy get` and
 * `policy explain`: the verdict, the rule that allows it or the reason
 * nothing does, both sides, named ports, endPort ranges, ipBlock except,
 * non-isolated pods, the node's own addresses). Models come from YAML
 * through the real parser. explain's verdicts are cross-checked against
 * policy_sim over a compiled result, for every pair of pods and a set of
 * ports: what the datapath decides. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

#include "compile.h"
#include "explain.h"
#include "lint.h"
#include "parse.h"
#include "sim.h"

#define IN XDP_DIR_INGRESS
#define EG XDP_DIR_EGRESS

/* ---- the model ------------------------------------------------------------ */

#define NS(name, labels) \
	"---\napiVersion: v1\nkind: Namespace\nmetadata: {name: " name ", labels: {" labels "}}\n"
#define POD(ns, name, labels, ips, extra) \
	"---\napiVersion: v1\nkind: Pod\nmetadata: {namespace: " ns ", name: " name \
	", labels: {" labels "}}\nspec: {" extra "}\nstatus: {podIPs: [" ips "]}\n"
#define NP(ns, name) \
	"---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n" \
	"metadata: {namespace: " ns ", name: " name "}\nspec:\n"

/* x: a, b (http 8080, metrics 9090, dual stack), c; y: d; a hostNetwork
 * pod; kube-system: dns. */
static const char *const CLUSTER =
	NS("x", "team: a") NS("'y'", "team: b")
	POD("x", "a", "app: a", "{ip: 10.0.0.1}", "")
	POD("x", "b", "app: b", "{ip: 10.0.0.2}, {ip: 'fd00::2'}",
	    "containers: [{name: c, ports: [{name: http, containerPort: 8080}, "
	    "{name: metrics, containerPort: 9090}, {name: dns, containerPort: 53, protocol: UDP}]}]")
	POD("x", "c", "app: c", "{ip: 10.0.0.3}", "")
	POD("'y'", "d", "app: d", "{ip: 10.0.1.4}", "")
	POD("x", "h", "app: h", "{ip: 192.168.0.1}", "hostNetwork: true")
	POD("kube-system", "dns", "k8s-app: kube-dns", "{ip: 10.0.9.9}",
	    "containers: [{name: c, ports: [{name: dns, containerPort: 53, protocol: UDP}, "
	    "{name: dns-tcp, containerPort: 53}]}]");

#define POLICIES \
	/* b: from app=a on TCP 80 */ \
	NP("x", "p1") \
	"  podSelector: {matchLabels: {app: b}}\n" \
	"  ingress:\n" \
	"  - from: [{podSelector: {matchLabels: {app: a}}}]\n" \
	"    ports: [{port: 80}]\n" \
	/* b: from namespaces team=b on the port named http */ \
	NP("x", "p2") \
	"  podSelector: {matchLabels: {app: b}}\n" \
	"  ingress:\n" \
	"  - from: [{namespaceSelector: {matchLabels: {team: b}}}]\n" \
	"    ports: [{port: http}]\n" \
	/* c: egress to 10.0.1.0/24 on TCP 1000-2000 only */ \
	NP("x", "p3") \
	"  podSelector: {matchLabels: {app: c}}\n" \
	"  policyTypes: [Egress]\n" \
	"  egress:\n" \
	"  - to: [{ipBlock: {cidr: 10.0.1.0/24}}]\n" \
	"    ports: [{port: 1000, endPort: 2000}]\n" \
	/* d: from 10.0.0.0/16 except 10.0.0.0/31 (x/a) */ \
	NP("'y'", "p4") \
	"  podSelector: {matchLabels: {app: d}}\n" \
	"  ingress:\n" \
	"  - from: [{ipBlock: {cidr: 10.0.0.0/16, except: [10.0.0.0/31]}}]\n"

static void parse_into(struct policy_set *s, const char *text)
{
	assert_int_equal(policy_parse(s, text, strlen(text), "t.yaml"), 0);
	if (s->nerrors)
		fail_msg("unexpected error: %s", s->errors[0].reason);
}

static void model(struct policy_set *s)
{
	memset(s, 0, sizeof(*s));
	parse_into(s, CLUSTER);
	parse_into(s, POLICIES);
	assert_int_equal(s->npols, 4);
}

/* ---- explain -------------------------------------------------------------- */

static int explain(const struct policy_set *s, const char *from, const char *to,
		   const char *port, struct explain *e)
{
	struct explain_req req = { .from = from, .to = to, .port = port };
	char err[256];
	int ret = policy_explain(s, &req, e, err, sizeof(err));

	if (ret)
		fail_msg("explain %s -> %s %s: %s", from, to, port ? port : "-", err);
	return e->allowed;
}

/* The error policy_explain gives. */
static void explain_err(const struct policy_set *s, const char *from, const char *to,
			const char *port, const char *needle)
{
	struct explain_req req = { .from = from, .to = to, .port = port };
	struct explain e;
	char err[256] = "";

	assert_int_equal(policy_explain(s, &req, &e, err, sizeof(err)), -EINVAL);
	if (!strstr(err, needle))
		fail_msg("explain %s -> %s %s: error \"%s\", want \"%s\"", from, to,
			 port ? port : "-", err, needle);
}

static void assert_contains(const char *hay, const char *needle)
{
	if (!hay || !strstr(hay, needle))
		fail_msg("\"%s\"\ndoes not contain \"%s\"", hay ? hay : "(null)", needle);
}

static void assert_side(const struct explain_side *sd, enum explain_why why, const char *pol,
			int rule)
{
	char name[128];

	if (sd->why != why)
		fail_msg("why %s, want %s: %s", explain_why_name(sd->why), explain_why_name(why),
			 sd->text);
	assert_int_equal(sd->allowed, why != EXPLAIN_NO_RULE);
	if (!pol)
		return;
	assert_non_null(sd->pol);
	snprintf(name, sizeof(name), "%s/%s", sd->pol->ns, sd->pol->name);
	assert_string_equal(name, pol);
	assert_int_equal(sd->rule, rule);
}

static void test_explain_allow_rule(void **state)
{
	struct policy_set s;
	struct explain e;

	(void)state;
	model(&s);
	assert_true(explain(&s, "x/a", "x/b", "80/TCP", &e));
	assert_side(&e.egress, EXPLAIN_NOT_ISOLATED, NULL, 0);
	assert_side(&e.ingress, EXPLAIN_RULE, "x/p1", 0);
	assert_ptr_equal(e.from, policy_pod_find(&s, "x", "a"));
	assert_int_equal(e.proto, L4_TCP);
	assert_int_equal(e.port, 80);
	assert_contains(e.ingress.text, "rule 0 of x/p1 allows it (from pods app=a in x on TCP 80)");
	assert_contains(e.text, "allowed");
	/* the protocol defaults to TCP; an IP maps to its pod */
	explain_free(&e);
	assert_true(explain(&s, "10.0.0.1", "x/b", "80", &e));
	assert_ptr_equal(e.from, policy_pod_find(&s, "x", "a"));
	assert_side(&e.ingress, EXPLAIN_RULE, "x/p1", 0);
	explain_free(&e);
	/* UDP 80 is not TCP 80 */
	assert_false(explain(&s, "x/a", "x/b", "80/udp", &e));
	assert_contains(e.ingress.text, "rule 0 of x/p1 allows x/a only on TCP 80");
	explain_free(&e);
	policy_set_free(&s);
}

static void test_explain_deny_reason(void **state)
{
	struct policy_set s;
	struct explain e;

	(void)state;
	model(&s);
	assert_false(explain(&s, "x/c", "x/b", "80/TCP", &e));
	assert_side(&e.egress, EXPLAIN_NO_RULE, NULL, 0); /* c's egress: only 10.0.1.0/24 */
	assert_side(&e.ingress, EXPLAIN_NO_RULE, NULL, 0);
	assert_int_equal(e.ingress.nisolating, 2);
	assert_int_equal(e.ingress.nrules, 2);
	assert_false(e.ingress.rules[0].peer_ok);
	assert_true(e.ingress.rules[0].port_ok);
	assert_contains(e.ingress.text,
			"x/b is isolated for ingress by [x/p1, x/p2] and no rule matches: "
			"rule 0 of x/p1 allows only from pods app=a in x; "
			"rule 0 of x/p2 allows only from every pod in namespaces team=b "
			"on TCP port \"http\"");
	assert_contains(e.egress.text, "x/c is isolated for egress by [x/p3] and no rule "
			"matches: rule 0 of x/p3 allows only to 10.0.1.0/24 on TCP 1000-2000");
	assert_contains(e.text, "denied: egress of x/c: ");
	assert_contains(e.text, "; ingress of x/b: ");
	explain_free(&e);
	/* the right peer on the wrong port */
	assert_false(explain(&s, "x/a", "x/b", "81", &e));
	assert_contains(e.ingress.text, "rule 0 of x/p1 allows x/a only on TCP 80");
	assert_true(e.ingress.rules[0].peer_ok);
	assert_false(e.ingress.rules[0].port_ok);
	explain_free(&e);
	/* no --port: only a rule that allows every port of TCP would do */
	assert_false(explain(&s, "x/a", "x/b", NULL, &e));
	assert_int_equal(e.port, 0);
	explain_free(&e);
	/* ping: only port-less rules */
	assert_false(explain(&s, "x/a", "x/b", "ICMP", &e));
	assert_int_equal(e.proto, 1);
	explain_free(&e);
	policy_set_free(&s);
}

static void test_explain_named_port(void **state)
{
	struct policy_set s;
	struct explain e;

	(void)state;
	model(&s);
	assert_true(explain(&s, "y/d", "x/b", "8080", &e));
	assert_side(&e.ingress, EXPLAIN_RULE, "x/p2", 0);
	explain_free(&e);
	assert_false(explain(&s, "y/d", "x/b", "9090", &e)); /* metrics: another name */
	assert_contains(e.ingress.text, "rule 0 of x/p2 allows y/d only on TCP port \"http\"");
	explain_free(&e);
	/* a name in --port resolves against the destination */
	assert_true(explain(&s, "y/d", "x/b", "http/TCP", &e));
	assert_int_equal(e.port, 8080);
	assert_string_equal(e.port_name, "http");
	explain_free(&e);
	/* dns is a UDP port of b: as TCP it does not exist */
	explain_err(&s, "y/d", "x/b", "dns", "x/b has no TCP container port named \"dns\"");
	assert_false(explain(&s, "y/d", "x/b", "dns/UDP", &e));
	assert_int_equal(e.port, 53);
	assert_int_equal(e.proto, L4_UDP);
	explain_free(&e);
	explain_err(&s, "y/d", "10.9.9.9", "http", "a port name needs a destination pod");
	policy_set_free(&s);
}

static void test_explain_end_port(void **state)
{
	static const struct {
		const char *port;
		bool ok;
	} cases[] = {
		{ "999", false }, { "1000", true }, { "1500", true }, { "2000", true },
		{ "2001", false }, { "1500/UDP", false }, { "65535", false },
	};
	struct policy_set s;
	struct explain e;

	(void)state;
	model(&s);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		/* y/d's ingress allows 10.0.0.3: only c's egress decides */
		assert_int_equal(explain(&s, "x/c", "y/d", cases[i].port, &e), cases[i].ok);
		if (cases[i].ok)
			assert_side(&e.egress, EXPLAIN_RULE, "x/p3", 0);
		else
			assert_contains(e.egress.text, "rule 0 of x/p3 allows y/d only on "
					"TCP 1000-2000");
		assert_side(&e.ingress, EXPLAIN_RULE, "y/p4", 0);
		explain_free(&e);
	}
	/* the same port to an address outside the block */
	assert_false(explain(&s, "x/c", "10.0.2.1", "1500", &e));
	assert_null(e.to);
	assert_side(&e.ingress, EXPLAIN_NOT_CHECKED, NULL, 0);
	assert_contains(e.ingress.text, "10.0.2.1 is not a pod: no ingress check");
	assert_contains(e.egress.text, "allows only to 10.0.1.0/24");
	explain_free(&e);
	policy_set_free(&s);
}

static void test_explain_ipblock_except(void **state)
{
	struct policy_set s;
	struct explain e;

	(void)state;
	model(&s);
	/* 10.0.0.1 (x/a) is inside the except */
	assert_false(explain(&s, "x/a", "y/d", "80", &e));
	assert_contains(e.ingress.text, "rule 0 of y/p4 allows only from 10.0.0.0/16 except "
			"10.0.0.0/31");
	explain_free(&e);
	/* an address of the block no pod owns: the world, allowed */
	assert_true(explain(&s, "10.0.0.9", "y/d", "80", &e));
	assert_null(e.from);
	assert_side(&e.egress, EXPLAIN_NOT_CHECKED, NULL, 0);
	assert_side(&e.ingress, EXPLAIN_RULE, "y/p4", 0);
	explain_free(&e);
	/* outside the block */
	assert_false(explain(&s, "10.1.0.9", "y/d", "80", &e));
	explain_free(&e);
	/* the hostNetwork pod's address is the world's: outside the block */
	assert_false(explain(&s, "x/h", "y/d", "80", &e));
	assert_side(&e.ingress, EXPLAIN_NO_RULE, NULL, 0);
	explain_free(&e);
	assert_true(explain(&s, "x/h", "x/c", "80", &e));
	assert_side(&e.egress, EXPLAIN_NOT_CHECKED, NULL, 0);
	assert_contains(e.egress.text, "x/h uses the host network: no egress check");
	explain_free(&e);
	policy_set_free(&s);
}

static void test_explain_both_sides(void **state)
{
	struct policy_set s;
	struct explain e;

	(void)state;
	model(&s);
	/* egress allows, ingress denies: c -> d is allowed on 1500 (previous
	 * test); with d's ingress made stricter it is not */
	parse_into(&s, NP("'y'", "p4")
		   "  podSelector: {matchLabels: {app: d}}\n"
		   "  ingress:\n"
		   "  - from: [{ipBlock: {cidr: 10.0.0.0/16, except: [10.0.0.0/29]}}]\n");
	assert_false(explain(&s, "x/c", "y/d", "1500", &e));
	assert_true(e.egress.allowed);
	assert_false(e.ingress.allowed);
	assert_contains(e.text, "denied: ingress of y/d: ");
	assert_null(strstr(e.text, "egress of x/c"));
	explain_free(&e);
	/* egress denies, ingress allows */
	assert_false(explain(&s, "x/c", "x/b", "8080", &e));
	assert_false(e.egress.allowed);
	explain_free(&e);
	parse_into(&s, NP("x", "p2")
		   "  podSelector: {matchLabels: {app: b}}\n"
		   "  ingress:\n"
		   "  - from: [{podSelector: {matchLabels: {app: c}}}]\n"
		   "    ports: [{port: http}]\n");
	assert_false(explain(&s, "x/c", "x/b", "8080", &e));
	assert_false(e.egress.allowed);
	assert_side(&e.ingress, EXPLAIN_RULE, "x/p2", 0);
	assert_contains(e.text, "denied: egress of x/c: ");
	assert_null(strstr(e.text, "ingress of"));
	explain_free(&e);
	policy_set_free(&s);
}

static void test_explain_not_isolated(void **state)
{
	struct policy_set s;
	struct explain e;

	(void)state;
	model(&s);
	assert_true(explain(&s, "x/a", "x/c", "443/TCP", &e));
	assert_side(&e.egress, EXPLAIN_NOT_ISOLATED, NULL, 0);
	assert_side(&e.ingress, EXPLAIN_NOT_ISOLATED, NULL, 0);
	assert_contains(e.ingress.text, "x/c is not isolated for ingress: no policy with Ingress "
			"in its policyTypes selects it");
	assert_contains(e.egress.text, "x/a is not isolated for egress");
	explain_free(&e);
	/* an isolating policy with no rules */
	parse_into(&s, NP("x", "deny") "  podSelector: {matchLabels: {app: c}}\n");
	assert_false(explain(&s, "x/a", "x/c", "443/TCP", &e));
	assert_contains(e.ingress.text, "x/c is isolated for ingress by [x/deny] and no rule "
			"matches: x/deny allows no ingress");
	explain_free(&e);
	policy_set_free(&s);
}

static bool is_local(void *arg, const struct pod *pod)
{
	(void)arg;
	return !strcmp(pod->name, "b");
}

static void test_explain_host_and_v6(void **state)
{
	struct ipaddr host = A("192.168.0.1");
	struct explain_req req = { .from = "192.168.0.1", .to = "x/b", .port = "81",
				   .host = &host, .nhost = 1, .local = is_local };
	struct policy_set s;
	struct explain e;
	char err[256];

	(void)state;
	model(&s);
	assert_int_equal(policy_explain(&s, &req, &e, err, sizeof(err)), 0);
	assert_true(e.allowed && e.from_host && e.to_local);
	assert_side(&e.ingress, EXPLAIN_HOST, NULL, 0);
	explain_free(&e);
	/* the node of another pod: the world */
	req.to = "x/c";
	parse_into(&s, NP("x", "deny") "  podSelector: {matchLabels: {app: c}}\n");
	assert_int_equal(policy_explain(&s, &req, &e, err, sizeof(err)), 0);
	assert_false(e.allowed);
	explain_free(&e);
	/* IPv6 to b: a's only address is IPv4 */
	explain_err(&s, "x/a", "fd00::2", "80", "from: pod x/a has no IPv6 address");
	assert_false(explain(&s, "fd00::9", "x/b", "ICMP", &e));
	assert_int_equal(e.proto, 58);
	explain_free(&e);
	policy_set_free(&s);
}

static void test_explain_errors(void **state)
{
	struct policy_set s;

	(void)state;
	model(&s);
	explain_err(&s, "x/nope", "x/b", "80", "from: no pod x/nope");
	explain_err(&s, "x/a", "zz", "80", "to: \"zz\" is neither NAMESPACE/NAME nor an IP");
	explain_err(&s, "x/a", "", "80", "to: a pod (NAMESPACE/NAME) or an IP address is required");
	explain_err(&s, "x/a", "x/b", "0", "0 is not a port number (1-65535)");
	explain_err(&s, "x/a", "x/b", "70000/TCP", "is not a port number");
	explain_err(&s, "x/a", "x/b", "80/FOO", "protocol \"FOO\" is not TCP, UDP, SCTP or ICMP");
	explain_err(&s, "x/a", "x/b", "80/ICMP", "ICMP has no ports");
	explain_err(&s, "x/a", "x/b", "8 0", "want PORT[/PROTOCOL]");
	explain_err(&s, "10.0.0.1", "fd00::2", "80", "different families");
	policy_set_free(&s);
}

/* ---- explain against the datapath's decision ------------------------------ */

static void test_explain_vs_sim(void **state)
{
	static const char *const ports[] = { NULL, "80", "81", "1000", "1500", "2001", "8080",
					     "9090", "53/UDP", "ICMP", "SCTP" };
	const char *const extra =
		NP("x", "eg")
		"  podSelector: {matchLabels: {app: a}}\n"
		"  egress:\n"
		"  - to: [{podSelector: {}}, {namespaceSelector: {matchLabels: {team: b}}}]\n"
		"    ports: [{port: http}, {port: 53, protocol: UDP}]\n"
		"  - to: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.0.0.2/32]}}]\n"
		"    ports: [{port: 1000, endPort: 1999}]\n"
		NP("'y'", "all") "  podSelector: {}\n  ingress: [{}]\n";
	struct pol_endpoint eps[8];
	struct compiled c;
	struct id_alloc *ids = id_alloc_new();
	struct policy_set s;
	size_t neps = 0, checked = 0;

	(void)state;
	model(&s);
	parse_into(&s, extra);
	for (size_t i = 0; i < s.npods; i++) {
		if (!s.pods[i].host_network)
			eps[neps++] = (struct pol_endpoint){ (uint32_t)(10 + i), s.pods[i].ns,
							     s.pods[i].name };
	}
	assert_non_null(ids);
	assert_int_equal(policy_compile(&s, eps, neps, ids, &c), 0);
	for (size_t i = 0; i < neps; i++) {
		for (size_t j = 0; j < neps; j++) {
			for (size_t k = 0; k < sizeof(ports) / sizeof(ports[0]); k++) {
				char from[64], to[64];
				struct explain e;
				int dirs[2] = { EG, IN };
				const struct pol_endpoint *ends[2] = { &eps[i], &eps[j] };

				if (i == j)
					continue;
				snprintf(from, sizeof(from), "%s/%s", eps[i].ns, eps[i].name);
				snprintf(to, sizeof(to), "%s/%s", eps[j].ns, eps[j].name);
				explain(&s, from, to, ports[k], &e);
				for (int d = 0; d < 2; d++) {
					const struct explain_side *sd = d ? &e.ingress : &e.egress;
					const struct ipaddr *remote = d ? &e.from_ip : &e.to_ip;
					uint32_t cookie;
					bool found;
					int sim = policy_sim(&c, ends[d]->ep_id, dirs[d], remote, e.proto,
							     e.port, &cookie);

					if (sim != (int)sd->allowed)
						fail_msg("%s -> %s %s %s: explain %d, sim %d: %s", from,
							 to, ports[k] ? ports[k] : "-",
							 d ? "ingress" : "egress", sd->allowed, sim,
							 sd->text);
					if (!sim || cookie == POLICY_SIM_NO_RULE) {
						assert_true(!sim || sd->why == EXPLAIN_NOT_ISOLATED);
						continue;
					}
					/* The rule the datapath cites is one explain finds
					 * matching (a CIDR entry cites the smallest cookie
					 * of its prefix: here one ipBlock per endpoint and
					 * direction, so that is the matching rule too). */
					assert_true(cookie < c.nrules);
					found = false;
					for (size_t r = 0; r < sd->nrules; r++) {
						const struct explain_rule *x = &sd->rules[r];

						if (!strcmp(x->pol->ns, c.rules[cookie].ns) &&
						    !strcmp(x->pol->name, c.rules[cookie].policy) &&
						    x->rule == c.rules[cookie].rule) {
							assert_true(x->peer_ok && x->port_ok);
							found = true;
						}
					}
					assert_true(found);
					checked++;
				}
				assert_int_equal(e.allowed, e.egress.allowed && e.ingress.allowed);
				explain_free(&e);
			}
		}
	}
	assert_true(checked > 20);
	compiled_free(&c);
	id_alloc_free(ids);
	policy_set_free(&s);
}

/* ---- policy get ------------------------------------------------------------ */

static void test_view(void **state)
{
	struct policy_set s;
	struct policy_view v;
	const struct view_dir *in;

	(void)state;
	model(&s);
	parse_into(&s, POD("x", "a2", "app: a", "{ip: 10.0.0.11}", "")
		   POD("x", "a3", "app: a", "{ip: 10.0.0.12}",
		       "containers: [{name: c, ports: [{name: http, containerPort: 81}]}]"));
	assert_int_equal(policy_view(&s, policy_pod_find(&s, "x", "b"), &v), 0);
	assert_int_equal(v.npols, 2);
	in = &v.dir[IN];
	assert_true(in->isolated);
	assert_false(v.dir[EG].isolated);
	assert_int_equal(v.dir[EG].n, 0);
	assert_int_equal(in->npols, 2);
	assert_int_equal(in->n, 2);
	/* p1: pods app=a, three pods in two identities (a3 names a port) */
	assert_string_equal(in->v[0].pol->name, "p1");
	assert_int_equal(in->v[0].rule, 0);
	assert_int_equal(in->v[0].nids, 2);
	assert_int_equal(in->v[0].ids[0].npods, 2);
	assert_string_equal(in->v[0].ids[0].pods[0]->name, "a");
	assert_string_equal(in->v[0].ids[0].pods[1]->name, "a2");
	assert_string_equal(in->v[0].ids[1].pods[0]->name, "a3");
	assert_int_equal(in->v[0].port->port, 80);
	assert_int_equal(in->v[0].nresolved, 0);
	/* p2: namespaces team=b (y/d), port http resolved on b itself */
	assert_string_equal(in->v[1].pol->name, "p2");
	assert_int_equal(in->v[1].nids, 1);
	assert_string_equal(in->v[1].ids[0].pod->name, "d");
	assert_int_equal(in->v[1].nresolved, 1);
	assert_int_equal(in->v[1].resolved[0], 8080);
	policy_view_free(&v);

	/* c: egress to an ipBlock on a range; ingress not isolated */
	assert_int_equal(policy_view(&s, policy_pod_find(&s, "x", "c"), &v), 0);
	assert_false(v.dir[IN].isolated);
	assert_true(v.dir[EG].isolated);
	assert_int_equal(v.dir[EG].n, 1);
	assert_true(v.dir[EG].v[0].peer->has_ip_block);
	assert_int_equal(v.dir[EG].v[0].port->end_port, 2000);
	policy_view_free(&v);

	/* a rule with neither peers nor ports: one entry, every peer, every port */
	parse_into(&s, NP("'y'", "all") "  podSelector: {}\n  ingress: [{}]\n");
	assert_int_equal(policy_view(&s, policy_pod_find(&s, "y", "d"), &v), 0);
	assert_int_equal(v.dir[IN].n, 2);
	assert_string_equal(v.dir[IN].v[0].pol->name, "all");
	assert_null(v.dir[IN].v[0].peer);
	assert_int_equal(v.dir[IN].v[0].peer_idx, -1);
	assert_null(v.dir[IN].v[0].port);
	policy_view_free(&v);
	policy_set_free(&s);
}

/* ---- lint ------------------------------------------------------------------- */

static void lint2(const char *a, const char *b, struct lint_report *r)
{
	struct lint_file f[2] = {
		{ "a.yaml", a, strlen(a) },
		{ "b.yaml", b ? b : "", b ? strlen(b) : 0 },
	};

	assert_int_equal(policy_lint(f, b ? 2 : 1, r), 0);
}

static void dump(const struct lint_report *r)
{
	for (size_t i = 0; i < r->n; i++)
		print_message("  %s %s %s %s/%s: %s\n", lint_level_name(r->v[i].level),
			      r->v[i].file ? r->v[i].file : "-", r->v[i].check,
			      r->v[i].ns ? r->v[i].ns : "-", r->v[i].name ? r->v[i].name : "-",
			      r->v[i].msg);
}

/* The diagnostic of check about object name (NULL: any) whose message
 * contains needle. */
static const struct lint_diag *find(const struct lint_report *r, const char *check,
				    const char *name, const char *needle)
{
	const struct lint_diag *got = NULL;

	for (size_t i = 0; i < r->n && !got; i++) {
		const struct lint_diag *d = &r->v[i];

		if (strcmp(d->check, check) || (name && (!d->name || strcmp(d->name, name))))
			continue;
		if (strstr(d->msg, needle))
			got = d;
	}
	if (!got) {
		dump(r);
		fail_msg("no %s diagnostic for %s containing \"%s\"", check, name ? name : "-",
			 needle);
	}
	return got;
}

static size_t count(const struct lint_report *r, const char *check)
{
	size_t n = 0;

	for (size_t i = 0; i < r->n; i++)
		n += !strcmp(r->v[i].check, check);
	return n;
}

#define ALLOW_DNS(ns, name, sel) \
	NP(ns, name) "  podSelector: {" sel "}\n  policyTypes: [Egress]\n" \
	"  egress:\n  - to: [{namespaceSelector: {matchLabels: " \
	"{kubernetes.io/metadata.name: kube-system}}, podSelector: {matchLabels: " \
	"{k8s-app: kube-dns}}}]\n    ports: [{port: 53, protocol: UDP}, {port: dns-tcp}]\n"

static void test_lint_clean(void **state)
{
	const char *pols =
		POLICIES
		NP("x", "deny-egress") "  podSelector: {}\n  policyTypes: [Egress]\n"
		ALLOW_DNS("x", "allow-dns", "");
	struct lint_report r;

	(void)state;
	lint2(CLUSTER, pols, &r);
	if (r.n) {
		dump(&r);
		fail_msg("want no diagnostics");
	}
	assert_true(r.pods_checked);
	assert_int_equal(lint_exit_code(&r), 0);
	lint_report_free(&r);
}

static void test_lint_dns(void **state)
{
	const char *pols =
		NP("x", "deny-egress") "  podSelector: {}\n  policyTypes: [Egress]\n"
		/* y: UDP only, by an ipBlock */
		NP("'y'", "udp-only") "  podSelector: {}\n  egress:\n"
		"  - to: [{ipBlock: {cidr: 10.0.9.0/24}}]\n    ports: [{port: 53, protocol: UDP}]\n"
		/* kube-system itself, a range covering 53 on TCP and UDP to any namespace */
		NP("kube-system", "ks") "  podSelector: {}\n  egress:\n"
		"  - to: [{namespaceSelector: {}}]\n"
		"    ports: [{port: 50, endPort: 60}, {port: 50, endPort: 60, protocol: UDP}]\n";
	struct lint_report r;
	const struct lint_diag *d;

	(void)state;
	lint2(CLUSTER, pols, &r);
	d = find(&r, "dns-blocked", "deny-egress", "blocks DNS: egress is isolated and no egress "
		 "rule of the policies selecting pod x/a allows UDP 53 or TCP 53 to kube-system");
	assert_int_equal(d->level, LINT_WARNING);
	assert_string_equal(d->file, "b.yaml");
	assert_string_equal(d->ns, "x");
	assert_string_equal(d->kind, "NetworkPolicy");
	find(&r, "dns-blocked", "udp-only", "blocks DNS over TCP: egress is isolated and no egress "
	     "rule of the policies selecting pod y/d allows TCP 53 to kube-system (UDP 53 is "
	     "allowed)");
	assert_int_equal(count(&r, "dns-blocked"), 2);
	assert_int_equal(lint_exit_code(&r), 1);
	lint_report_free(&r);

	/* allowed by another policy that selects the same pods: no warning;
	 * a namespaceSelector that is not kube-system's does not count */
	lint2(CLUSTER, NP("x", "deny-egress") "  podSelector: {}\n  policyTypes: [Egress]\n"
	      NP("x", "to-y") "  podSelector: {matchLabels: {app: a}}\n  egress:\n"
	      "  - to: [{namespaceSelector: {matchLabels: {team: b}}}]\n"
	      ALLOW_DNS("x", "dns-b", "matchLabels: {app: b}"), &r);
	find(&r, "dns-blocked", "deny-egress", "selecting pod x/a allows UDP 53 or TCP 53");
	find(&r, "dns-blocked", "to-y", "selecting pod x/a allows UDP 53 or TCP 53");
	assert_int_equal(count(&r, "dns-blocked"), 2);
	lint_report_free(&r);
}

/* Without pods: judged from the policies that select every pod this one does. */
static void test_lint_dns_without_pods(void **state)
{
	const char *pols =
		NP("x", "deny-egress") "  podSelector: {}\n  policyTypes: [Egress]\n"
		NP("x", "web") "  podSelector: {matchLabels: {app: web, tier: front}}\n"
		"  policyTypes: [Egress]\n"
		ALLOW_DNS("x", "dns-web", "matchLabels: {app: web}");
	struct lint_report r;
	const struct lint_diag *d;

	(void)state;
	lint2(pols, NULL, &r);
	assert_false(r.pods_checked);
	d = find(&r, "pods-not-checked", NULL, "no Pod in the files: podSelectors and port names "
		 "were not checked");
	assert_int_equal(d->level, LINT_INFO);
	assert_null(d->file);
	find(&r, "dns-blocked", "deny-egress", "selecting its pods allows UDP 53 or TCP 53");
	assert_int_equal(count(&r, "dns-blocked"), 1); /* web: dns-web covers it */
	assert_int_equal(count(&r, "selector-no-pods"), 0);
	assert_int_equal(lint_exit_code(&r), 1);
	lint_report_free(&r);
}

static void test_lint_selector_no_pods(void **state)
{
	const char *pols =
		NP("x", "ghost") "  podSelector: {matchLabels: {app: ghost}}\n"
		NP("x", "peers") "  podSelector: {matchLabels: {app: b}}\n  ingress:\n"
		"  - from: [{podSelector: {matchLabels: {app: a}}}, "
		"{podSelector: {matchLabels: {app: nope}}}]\n"
		"  - from: [{namespaceSelector: {matchLabels: {team: b}}, "
		"podSelector: {matchLabels: {app: a}}}]\n";
	struct lint_report r;

	(void)state;
	lint2(CLUSTER, pols, &r);
	find(&r, "selector-no-pods", "ghost", "spec.podSelector app=ghost matches no pod of "
	     "namespace x in the files");
	/* two in one policy */
	assert_int_equal(count(&r, "selector-no-pods"), 3);
	assert_int_equal(lint_exit_code(&r), 1);
	lint_report_free(&r);
	lint2(CLUSTER, NP("x", "peers") "  podSelector: {matchLabels: {app: b}}\n  ingress:\n"
	      "  - from: [{podSelector: {matchLabels: {app: nope}}}]\n", &r);
	find(&r, "selector-no-pods", "peers", "spec.ingress[0].from[0].podSelector app=nope matches "
	     "no pod of namespace x in the files");
	lint_report_free(&r);
	lint2(CLUSTER, NP("x", "peers") "  podSelector: {matchLabels: {app: b}}\n  ingress:\n"
	      "  - from: [{namespaceSelector: {matchLabels: {team: b}}, "
	      "podSelector: {matchLabels: {app: a}}}]\n", &r);
	find(&r, "selector-no-pods", "peers", "spec.ingress[0].from[0].podSelector app=a matches "
	     "no pod of namespaces team=b in the files");
	lint_report_free(&r);
}

static void test_lint_named_ports(void **state)
{
	const char *pols =
		NP("x", "in") "  podSelector: {matchLabels: {app: b}}\n  ingress:\n"
		"  - ports: [{port: http}, {port: web}, {port: dns, protocol: UDP}, {port: metrics, "
		"protocol: UDP}]\n"
		NP("x", "out") "  podSelector: {matchLabels: {app: a}}\n  policyTypes: [Egress]\n"
		"  egress:\n"
		"  - to: [{podSelector: {matchLabels: {app: b}}}]\n    ports: [{port: http}]\n"
		"  - to: [{podSelector: {matchLabels: {app: c}}}]\n    ports: [{port: http}]\n"
		"  - to: [{ipBlock: {cidr: 10.0.0.0/30}}]\n    ports: [{port: metrics}, {port: sql}]\n"
		"  - ports: [{port: dns-tcp}, {port: 53, protocol: UDP}]\n";
	struct lint_report r;

	(void)state;
	lint2(CLUSTER, pols, &r);
	find(&r, "named-port-unknown", "in", "spec.ingress[0].ports[1].port \"web\": no pod the "
	     "policy selects has a TCP container port of that name, so it allows nothing");
	assert_int_equal(count(&r, "named-port-unknown"), 4);
	lint_report_free(&r);
	/* the UDP metrics hint, and egress */
	lint2(CLUSTER, NP("x", "in") "  podSelector: {matchLabels: {app: b}}\n  ingress:\n"
	      "  - ports: [{port: metrics, protocol: UDP}]\n", &r);
	find(&r, "named-port-unknown", "in", "\"metrics\": no pod the policy selects has a UDP "
	     "container port of that name, so it allows nothing (x/b names TCP 9090 so)");
	lint_report_free(&r);
	lint2(CLUSTER, NP("x", "out") "  podSelector: {matchLabels: {app: a}}\n"
	      "  policyTypes: [Egress]\n  egress:\n"
	      "  - to: [{podSelector: {matchLabels: {app: c}}}]\n    ports: [{port: http}]\n"
	      ALLOW_DNS("x", "dns", ""), &r);
	find(&r, "named-port-unknown", "out", "spec.egress[0].ports[0].port \"http\": no "
	     "destination pod of the rule has a TCP container port of that name");
	assert_int_equal(r.n, 1);
	lint_report_free(&r);
	lint2(CLUSTER, NP("x", "out") "  podSelector: {matchLabels: {app: a}}\n"
	      "  policyTypes: [Egress]\n  egress:\n"
	      "  - to: [{ipBlock: {cidr: 10.0.0.0/30}}]\n    ports: [{port: sql}]\n"
	      ALLOW_DNS("x", "dns", ""), &r);
	find(&r, "named-port-unknown", "out", "spec.egress[0].ports[0].port \"sql\"");
	assert_int_equal(r.n, 1);
	lint_report_free(&r);
}

static void test_lint_errors(void **state)
{
	const char *bad_except =
		NP("x", "exc") "  podSelector: {}\n  ingress:\n"
		"  - from: [{ipBlock: {cidr: 10.0.0.0/24, except: [10.1.0.0/16]}}]\n"
		NP("x", "wide") "  podSelector: {}\n  ingress:\n"
		"  - from: [{ipBlock: {cidr: 10.0.0.0/24, except: [10.0.0.0/16]}}]\n";
	const char *broken = "kind: NetworkPolicy\nmetadata: {name: x\n  : [\n";
	struct lint_report r;
	const struct lint_diag *d;

	(void)state;
	lint2(bad_except, broken, &r);
	d = find(&r, "ipblock-except", "exc", "spec.ingress[0].from[0].ipBlock.except[0]: "
		 "\"10.1.0.0/16\" is not strictly inside cidr 10.0.0.0/24");
	assert_int_equal(d->level, LINT_ERROR);
	assert_string_equal(d->file, "a.yaml");
	find(&r, "ipblock-except", "wide", "\"10.0.0.0/16\" is not strictly inside cidr "
	     "10.0.0.0/24");
	d = find(&r, "invalid", NULL, "b.yaml:");
	assert_null(d->name);
	assert_string_equal(d->file, "b.yaml");
	assert_int_equal(r.nerrors, 3);
	assert_int_equal(lint_exit_code(&r), 2);
	lint_report_free(&r);
}

/* Warnings name the file that defines the policy (its last definition). */
static void test_lint_files(void **state)
{
	const char *a = NP("x", "one") "  podSelector: {matchLabels: {app: ghost}}\n"
			NP("x", "two") "  podSelector: {matchLabels: {app: ghost}}\n";
	const char *b = POD("x", "p", "app: p", "{ip: 10.0.0.1}", "")
			NP("x", "two") "  podSelector: {matchLabels: {app: ghost2}}\n";
	struct lint_report r;

	(void)state;
	lint2(a, b, &r);
	assert_string_equal(find(&r, "selector-no-pods", "one", "app=ghost ")->file, "a.yaml");
	assert_string_equal(find(&r, "selector-no-pods", "two", "app=ghost2")->file, "b.yaml");
	/* a.yaml's diagnostics first */
	assert_string_equal(r.v[0].file, "a.yaml");
	assert_int_equal(r.nwarnings, 2);
	lint_report_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_explain_allow_rule),
		cmocka_unit_test(test_explain_deny_reason),
		cmocka_unit_test(test_explain_named_port),
		cmocka_unit_test(test_explain_end_port),
		cmocka_unit_test(test_explain_ipblock_except),
		cmocka_unit_test(test_explain_both_sides),
		cmocka_unit_test(test_explain_not_isolated),
		cmocka_unit_test(test_explain_host_and_v6),
		cmocka_unit_test(test_explain_errors),
		cmocka_unit_test(test_explain_vs_sim),
		cmocka_unit_test(test_view),
		cmocka_unit_test(test_lint_clean),
		cmocka_unit_test(test_lint_dns),
		cmocka_unit_test(test_lint_dns_without_pods),
		cmocka_unit_test(test_lint_selector_no_pods),
		cmocka_unit_test(test_lint_named_ports),
		cmocka_unit_test(test_lint_errors),
		cmocka_unit_test(test_lint_files),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
