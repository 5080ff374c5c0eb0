/* test_agent_filters: the pure parts of the agent's filter table: what a
 * compiled rule needs from the datapath (agent/filtermap.c: walks, index
 * keys, exact rules, required fields) and XdpFilter objects into specs
 * (agent/filtersrc.c), every validation message included. No kernel. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "testutil.h"

#include "filtermap.h"
#include "filtersrc.h"
#include "lang.h"

static void compile(const char *text, struct xf_match *m)
{
	struct xf_error e;

	if (xf_compile(text, m, &e))
		fail_msg("%s: column %d: %s", text, e.col, e.msg);
}

static void test_need(void **state)
{
	struct xf_match m;

	(void)state;
	compile("ip.src == 10.0.0.1 and udp.dport == 53", &m);
	assert_int_equal(filtermap_need(&m), 0);
	compile("tcp.opt.mss in 1..500", &m);
	assert_int_equal(filtermap_need(&m), XF_NEED_TCP_OPTS);
	compile("ip.opt.lsrr or icmp6.nd.rdnss_bad", &m);
	assert_int_equal(filtermap_need(&m), XF_NEED_IP4_OPTS | XF_NEED_ND_OPTS);
	compile("tcp.hdr_len + ip.hdr_len > ip.tot_len or not tcp.opt.malformed", &m);
	assert_int_equal(filtermap_need(&m), XF_NEED_TCP_OPTS);
}

static void test_index_keys(void **state)
{
	uint64_t key;
	struct xf_match m;
	uint32_t field;

	(void)state;
	compile("ip.src == 10.1.2.3", &m);
	assert_true(filtermap_index_key(&m, &field, &key));
	assert_int_equal(field, XF_IP_SRC);
	assert_int_equal(key, 0x0a010203);
	assert_true(filtermap_exact(&m));

	compile("udp.dport == 53 and ip.ttl < 5", &m); /* indexed, not exact */
	assert_true(filtermap_index_key(&m, &field, &key));
	assert_int_equal(field, XF_UDP_DPORT);
	assert_int_equal(key, 53);
	assert_false(filtermap_exact(&m));

	/* a set: two values, one write could not link both: scanned */
	compile("tcp.dport in {22, 80}", &m);
	assert_false(filtermap_index_key(&m, &field, &key));
	compile("ip.src == 10.0.0.0/8", &m);   /* a prefix is a range */
	assert_false(filtermap_index_key(&m, &field, &key));
	compile("not ip.src == 10.1.2.3", &m); /* negated */
	assert_false(filtermap_index_key(&m, &field, &key));
	compile("ip.ttl == 1", &m);            /* not an indexed field */
	assert_false(filtermap_index_key(&m, &field, &key));
	/* every alternative on the same field and value: indexed */
	compile("ip.src == 10.1.2.3 and (tcp or udp)", &m);
	assert_true(filtermap_index_key(&m, &field, &key));
	assert_int_equal(field, XF_IP_SRC);
	assert_false(filtermap_exact(&m));
	compile("ip6.src == fd00::1", &m);     /* /128: the low half */
	assert_true(filtermap_index_key(&m, &field, &key));
	assert_int_equal(field, XF_IP6_SRC_LO);
	assert_int_equal(key, 1);
	assert_false(filtermap_exact(&m));     /* the high half is a second test */
}

static int has(const __u64 req[2], unsigned f)
{
	return (int)((req[f / 64] >> (f % 64)) & 1);
}

static void test_required(void **state)
{
	struct xf_match m;
	__u64 req[2];

	(void)state;
	compile("tcp.flags.syn and tcp.opt.mss in 1..500", &m);
	filtermap_required(&m, req);
	assert_true(has(req, XF_TCP_FLAGS) && has(req, XF_TCP_OPT_MSS));
	/* only what every alternative needs */
	compile("tcp.dport == 1 or udp.dport == 1", &m);
	filtermap_required(&m, req);
	assert_true(req[0] == 0 && req[1] == 0);
	/* a negated test needs nothing: it holds on an absent field */
	compile("not tcp.opt.malformed", &m);
	filtermap_required(&m, req);
	assert_true(req[0] == 0 && req[1] == 0);
	compile("ip.tot_len > l3.len", &m);
	filtermap_required(&m, req);
	assert_true(has(req, XF_IP_TOT_LEN) && has(req, XF_L3_LEN));
	compile("l4[0:2] == 53", &m);
	filtermap_required(&m, req);
	assert_true(has(req, XF_L4_OFF));
	compile("l2[12:2] == 0x800", &m);
	filtermap_required(&m, req);
	assert_true(req[0] == 0 && req[1] == 0);
}

/* ---- XdpFilter objects ---------------------------------------------------------------- */

static void parse(struct filter_specs *s, const char *json)
{
	struct json_object *o = json_tokener_parse(json);

	assert_non_null(o);
	assert_int_equal(filtersrc_object(s, o, "t.yaml:1"), 0);
	json_object_put(o);
}

#define OBJ(spec) "{\"apiVersion\":\"xdpath.io/v1alpha1\",\"kind\":\"XdpFilter\"," \
		  "\"metadata\":{\"name\":\"f\"},\"spec\":" spec "}"

static void expect_problem(const char *json, const char *msg)
{
	struct filter_specs s = { 0 };

	parse(&s, json);
	assert_int_equal(s.n, 0);
	assert_int_equal(s.nbad, 1);
	if (!strstr(s.bad[0].msg, msg))
		fail_msg("%s: got \"%s\", wanted \"%s\"", json, s.bad[0].msg, msg);
	filtersrc_free(&s);
}

static void test_object_valid(void **state)
{
	struct filter_specs s = { 0 };

	(void)state;
	parse(&s, OBJ("{\"rule\":\"udp.dport == 11211\",\"action\":\"rate-limit\",\"rate\":100,"
		      "\"per\":\"src\",\"scope\":\"uplink\",\"expires\":\"2030-01-01T00:00:00Z\"}"));
	parse(&s, "{\"apiVersion\":\"xdpath.io/v1alpha1\",\"kind\":\"XdpFilter\","
		  "\"metadata\":{\"name\":\"sack\"},\"spec\":{\"catalog\":\"cve-2019-11479\"}}");
	parse(&s, "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"x\"}}");
	assert_int_equal(s.nbad, 0);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.v[0].name, "crd:f");
	assert_string_equal(s.v[0].expr, "udp.dport == 11211");
	assert_int_equal(s.v[0].action, XF_ACT_RATE);
	assert_int_equal(s.v[0].rate, 100);
	assert_int_equal(s.v[0].per, XF_RATE_SRC);
	assert_string_equal(s.v[0].scope, "uplink");
	assert_int_equal(s.v[0].expires, 1893456000);
	/* a catalog entry by alias, with its own rule, action and scope */
	assert_string_equal(s.v[1].name, "crd:sack");
	assert_string_equal(s.v[1].expr, "tcp.flags.syn and tcp.opt.mss in 1..500");
	assert_int_equal(s.v[1].action, XF_ACT_DROP);
	assert_string_equal(s.v[1].scope, "all");
	assert_int_equal(s.v[1].expires, 0);
	filtersrc_free(&s);
}

static void test_object_problems(void **state)
{
	struct filter_specs s = { 0 };

	(void)state;
	expect_problem(OBJ("{}"), "exactly one of rule and catalog");
	expect_problem(OBJ("{\"rule\":\"udp\",\"catalog\":\"CVE-2019-11477\"}"),
		       "exactly one of rule and catalog");
	expect_problem(OBJ("{\"rule\":\"udp.dprt == 1\"}"), "spec.rule: column 1: unknown field");
	expect_problem(OBJ("{\"catalog\":\"CVE-0000-0000\"}"), "spec.catalog: no catalog entry");
	expect_problem(OBJ("{\"rule\":\"udp\",\"action\":\"reject\"}"), "spec.action:");
	expect_problem(OBJ("{\"rule\":\"udp\",\"action\":\"rate-limit\"}"),
		       "spec.rate: required with action rate-limit");
	expect_problem(OBJ("{\"rule\":\"udp\",\"rate\":5}"), "spec.rate: required with action");
	expect_problem(OBJ("{\"rule\":\"udp\",\"action\":\"rate-limit\",\"rate\":0}"),
		       "spec.rate: an integer");
	expect_problem(OBJ("{\"rule\":\"udp\",\"per\":\"flow\"}"), "spec.per:");
	expect_problem(OBJ("{\"rule\":\"udp\",\"scope\":\"node\"}"), "spec.scope:");
	expect_problem(OBJ("{\"rule\":\"udp\",\"expires\":\"tomorrow\"}"), "spec.expires:");
	expect_problem(OBJ("{\"rule\":\"udp\",\"expires\":\"2030-01-01T00:00:00+02:00\"}"),
		       "spec.expires:");
	expect_problem(OBJ("{\"rule\":5}"), "are strings");
	expect_problem(OBJ("[]"), "spec: required");
	expect_problem("{\"apiVersion\":\"xdpath.io/v2\",\"kind\":\"XdpFilter\"}", "apiVersion:");
	expect_problem("{\"apiVersion\":\"xdpath.io/v1alpha1\",\"kind\":\"XdpFilter\","
		       "\"metadata\":{\"name\":\"Bad_Name\"},\"spec\":{\"rule\":\"udp\"}}",
		       "metadata.name:");
	/* a second object of the same name is the problem, the first stays */
	parse(&s, OBJ("{\"rule\":\"udp\"}"));
	parse(&s, OBJ("{\"rule\":\"tcp\"}"));
	assert_int_equal(s.n, 1);
	assert_int_equal(s.nbad, 1);
	assert_non_null(strstr(s.bad[0].msg, "another XdpFilter has this name"));
	assert_non_null(strstr(s.bad[0].where, "t.yaml:1 f"));
	filtersrc_free(&s);
}

/* ---- filterDir ------------------------------------------------------------------------- */

#define DIR_OBJ(name) "apiVersion: xdpath.io/v1alpha1\nkind: XdpFilter\nmetadata:\n  name: " \
		      name "\nspec:\n  rule: udp.dport == 9\n"

static int setup_dir(void **state)
{
	static char dir[32];

	snprintf(dir, sizeof(dir), "/tmp/xdpath-fltsrc-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	*state = dir;
	return 0;
}

static int teardown_dir(void **state)
{
	remove_tree(*state);
	return 0;
}

/* A manifest that cannot be read (here a unix socket: open(2) fails with
 * ENXIO; in production out of descriptors or I/O) fails the whole load, so
 * the agent keeps its rules instead of losing that file's; one that is not
 * a file is reported and the others load. */
static void test_load_dir(void **state)
{
	const char *dir = *state;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct filter_specs s = { 0 };
	char sub[600];
	int fd;

	write_file(dir, "a.yaml", DIR_OBJ("a"));
	write_file(dir, "b.yaml", DIR_OBJ("b"));
	snprintf(sub, sizeof(sub), "%s/c.yaml", dir);
	assert_int_equal(mkdir(sub, 0755), 0);
	assert_int_equal(filtersrc_load_dir(dir, &s), 0);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.nbad, 1);
	assert_string_equal(s.bad[0].where, "c.yaml");
	filtersrc_free(&s);

	if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/d.yaml", dir) >=
	    sizeof(sa.sun_path))
		fail_msg("socket path too long");
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	assert_int_equal(filtersrc_load_dir(dir, &s), -ENXIO);
	filtersrc_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_need),
		cmocka_unit_test(test_index_keys),
		cmocka_unit_test(test_required),
		cmocka_unit_test(test_object_valid),
		cmocka_unit_test(test_object_problems),
		cmocka_unit_test_setup_teardown(test_load_dir, setup_dir, teardown_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
