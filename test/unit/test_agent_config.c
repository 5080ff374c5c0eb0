/* test_agent_config: the agent's config parser (agent/config.c) and the
 * nftables script built from it (agent/masq.c). Pure: no kernel needed. */
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

#include "config.h"
#include "masq.h"
#include "xdpath/datapath.h"

static const char *const full =
	"{\"nodeName\": \"node-a\", \"pinRoot\": \"/sys/fs/bpf/t\", \"stateDir\": \"/run/t\","
	" \"endpointDir\": \"/run/t/eps\", \"uplink\": \"eth0\", \"mode\": \"vxlan\", \"vni\": 42,"
	" \"vxlanPort\": 4789, \"nodeIP\": \"10.0.0.1\", \"nodeIP6\": \"fd00::1\","
	" \"podCIDRs\": [\"10.244.1.0/24\", \"fd00:244:1::/64\"],"
	" \"clusterCIDRs\": [\"10.244.0.0/16\", \"fd00:244::/48\"], \"masquerade\": true,"
	" \"peers\": [{\"name\": \"node-b\", \"nodeIP\": \"10.0.0.2\", \"nodeIP6\": null,"
	"             \"podCIDRs\": [\"10.244.2.0/24\"]}],"
	" \"logLevel\": \"warn\"}";

/* Parse text: it must fail with a message that starts with key + ": " and
 * contains needle. */
static void expect_error_with(const char *text, const char *key, const char *needle)
{
	struct agent_config c;
	char err[512], want[128];

	assert_int_equal(config_parse(text, &c, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: ", key);
	if (strncmp(err, want, strlen(want)))
		fail_msg("error \"%s\" does not start with \"%s\"", err, want);
	if (!strstr(err, needle))
		fail_msg("error \"%s\" does not mention \"%s\"", err, needle);
	assert_null(c.peers);
}

static void expect_error(const char *text, const char *key)
{
	expect_error_with(text, key, "");
}

static void test_full(void **state)
{
	struct ipaddr ip4, ip6;
	struct agent_config c;
	char err[256] = "";

	(void)state;
	assert_int_equal(config_parse(full, &c, err, sizeof(err)), 0);
	assert_string_equal(c.node_name, "node-a");
	assert_string_equal(c.pin_root, "/sys/fs/bpf/t");
	assert_string_equal(c.state_dir, "/run/t");
	assert_string_equal(c.endpoint_dir, "/run/t/eps");
	assert_string_equal(c.uplink, "eth0");
	assert_int_equal(c.mode, XDP_MODE_VXLAN);
	assert_int_equal(c.vni, 42);
	assert_int_equal(c.vxlan_port, 4789);
	ip4 = A("10.0.0.1");
	ip6 = A("fd00::1");
	assert_true(ipaddr_equal(&c.node_ip4, &ip4));
	assert_true(ipaddr_equal(&c.node_ip6, &ip6));
	assert_int_equal(c.npod_cidrs, 2);
	assert_int_equal(c.cluster4.prefix, 16);
	assert_int_equal(c.cluster6.prefix, 48);
	assert_true(c.masquerade);
	assert_int_equal(c.npeers, 1);
	assert_string_equal(c.peers[0].name, "node-b");
	assert_int_equal(c.peers[0].ip4.family, AF_INET);
	assert_int_equal(c.peers[0].ip6.family, 0); /* null is absent */
	assert_int_equal(c.peers[0].ncidrs, 1);
	assert_int_equal(c.log_level, LOG_WARN);
	assert_true(c.log_level_set);
	config_free(&c);
}

static void test_defaults(void **state)
{
	struct agent_config c;
	char err[256];

	(void)state;
	assert_int_equal(config_parse("{\"nodeName\": \"n\", \"uplink\": \"ens3\"}", &c, err,
				      sizeof(err)), 0);
	assert_string_equal(c.pin_root, XDP_DEFAULT_PIN_ROOT);
	assert_string_equal(c.state_dir, "/run/xdpath");
	assert_string_equal(c.endpoint_dir, XDP_DEFAULT_ENDPOINT_DIR);
	assert_int_equal(c.mode, XDP_MODE_NATIVE);
	assert_int_equal(c.vni, 1);
	assert_int_equal(c.vxlan_port, 8472);
	assert_int_equal(c.node_ip4.family, 0);
	assert_int_equal(c.cluster4.ip.family, 0);
	assert_false(c.masquerade);
	assert_int_equal(c.npeers, 0);
	assert_int_equal(c.log_level, LOG_INFO);
	assert_false(c.log_level_set);
	assert_string_equal(config_mode_name(c.mode), "native");
	config_free(&c);
}

static void test_errors(void **state)
{
	(void)state;
	expect_error("{\"uplink\": \"eth0\"}", "nodeName");
	expect_error("{\"nodeName\": \"\", \"uplink\": \"eth0\"}", "nodeName");
	expect_error("{\"nodeName\": \"n\"}", "uplink");
	expect_error("{\"nodeName\": \"n\", \"uplink\": \"a/b\"}", "uplink");
	expect_error("{\"nodeName\": \"n\", \"uplink\": \"averyveryverylongname\"}", "uplink");
	expect_error("{\"nodeName\": \"n\", \"uplink\": \"e\", \"mode\": \"routes\"}", "mode");
	expect_error("{\"nodeName\": \"n\", \"uplink\": \"e\", \"vni\": 0}", "vni");
	expect_error("{\"nodeName\": \"n\", \"uplink\": \"e\", \"vni\": 1.5}", "vni");
	expect_error("{\"nodeName\": \"n\", \"uplink\": \"e\", \"vxlanPort\": 65536}", "vxlanPort");
	expect_error("{\"nodeName\": \"n\", \"uplink\": \"e\", \"endpointDir\": \"x\"}",
		     "endpointDir");
	expect_error("{\"nodeName\": \"n\", \"uplink\": \"e\", \"nodeIP\": \"fd00::1\"}", "nodeIP");
	expect_error("{\"nodeName\": \"n\", \"uplink\": \"e\", \"podCIDRs\": [\"10.1.1.1/24\"]}",
		     "podCIDRs[0]");
	expect_error("{\"nodeName\": \"n\", \"uplink\": \"e\", \"podCIDRs\": [1]}", "podCIDRs[0]");
	expect_error("{\"nodeName\": \"n\", \"uplink\": \"e\", \"clusterCIDRs\": [\"fd00::/48\","
		     " \"fd01::/48\"]}", "clusterCIDRs[1]");
	expect_error("{\"nodeName\": \"n\", \"uplink\": \"e\", \"clusterCIDRs\": [\"a\", \"b\","
		     " \"c\"]}", "clusterCIDRs");
	expect_error("{\"nodeName\": \"n\", \"uplink\": \"e\", \"masquerade\": 1}", "masquerade");
	expect_error("{\"nodeName\": \"n\", \"uplink\": \"e\", \"logLevel\": \"trace\"}", "logLevel");
	expect_error("{\"nodeName\": \"n\", \"uplink\": \"e\", \"node\": \"x\"}", "node");
	expect_error("{\"nodeName\": \"n\", \"uplink\": \"e\", \"peers\": [1]}", "peers[0]");
	expect_error("{\"nodeName\": \"n\", \"uplink\": \"e\", \"peers\": [{\"name\": \"b\","
		     " \"nodeIP\": \"10.0.0.2\", \"podCIDRs\": [\"10.2.0.0/16\"]}, {\"name\": \"c\","
		     " \"nodeIP\": \"10.0.0.3\", \"podCIDRs\": [\"fd00::/64\"]}]}",
		     "peers[1].nodeIP6");
	expect_error("[1]", "(top level)");
	expect_error("{", "(file)");
	expect_error("{} {}", "(file)");
}

static void test_peer_count_limit(void **state)
{
	static char text[CFG_MAX_PEERS * 80 + 256];
	struct agent_config c;
	char err[256];
	size_t off;

	(void)state;
	off = (size_t)snprintf(text, sizeof(text),
			       "{\"nodeName\": \"n\", \"uplink\": \"e\", \"peers\": [");
	for (int i = 0; i <= CFG_MAX_PEERS; i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off,
					"%s{\"name\": \"p%d\", \"nodeIP\": \"10.0.0.1\","
					" \"podCIDRs\": []}", i ? "," : "", i);
	snprintf(text + off, sizeof(text) - off, "]}");
	assert_int_equal(config_parse(text, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "peers: at most"));
}

/* ---- masquerade script -------------------------------------------------- */

static void test_masq_on(void **state)
{
	struct agent_config c;
	char err[256], buf[4096];

	(void)state;
	assert_int_equal(config_parse(full, &c, err, sizeof(err)), 0);
	assert_int_equal(masq_script(&c, buf, sizeof(buf)), 0);
	/* The whole table replaced in one transaction. */
	assert_non_null(strstr(buf, "add table inet xdpath\ndelete table inet xdpath\n"
				    "table inet xdpath {"));
	assert_non_null(strstr(buf, "type nat hook postrouting priority srcnat; policy accept;"));
	assert_non_null(strstr(buf, "oifname \"eth0\" ip saddr { 10.244.1.0/24 } ip daddr != "
				    "{ 10.244.0.0/16, 10.244.1.0/24, 10.244.2.0/24 } masquerade"));
	assert_non_null(strstr(buf, "oifname \"eth0\" ip6 saddr { fd00:244:1::/64 } ip6 daddr != "
				    "{ fd00:244::/48, fd00:244:1::/64 } masquerade"));
	/* Too small a buffer is an error, not a truncated script. */
	assert_int_equal(masq_script(&c, buf, 100), -ENOSPC);
	config_free(&c);
}

static void test_masq_off_and_v4_only(void **state)
{
	struct agent_config c;
	char err[256], buf[4096];

	(void)state;
	assert_int_equal(config_parse("{\"nodeName\": \"n\", \"uplink\": \"e\"}", &c, err,
				      sizeof(err)), 0);
	assert_int_equal(masq_script(&c, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "add table inet xdpath\ndelete table inet xdpath\n");
	config_free(&c);

	assert_int_equal(config_parse("{\"nodeName\": \"n\", \"uplink\": \"e\", \"masquerade\": true,"
				      " \"podCIDRs\": [\"10.1.0.0/24\"]}", &c, err, sizeof(err)), 0);
	assert_int_equal(masq_script(&c, buf, sizeof(buf)), 0);
	assert_non_null(strstr(buf, "ip saddr { 10.1.0.0/24 } ip daddr != { 10.1.0.0/24 }"));
	assert_null(strstr(buf, "ip6"));
	config_free(&c);
}

/* Today's keys: nodeName from $NODE_NAME, kubernetes, httpAddress, cniConf. */
#define BASE "\"uplink\": \"eth0\""

static void test_node_name_from_env(void **state)
{
	struct agent_config c;
	char err[256];

	(void)state;
	setenv("NODE_NAME", "from-env", 1);
	assert_int_equal(config_parse("{" BASE "}", &c, err, sizeof(err)), 0);
	assert_string_equal(c.node_name, "from-env");
	config_free(&c);
	assert_int_equal(config_parse("{\"nodeName\": \"cfg\", " BASE "}", &c, err, sizeof(err)), 0);
	assert_string_equal(c.node_name, "cfg");            /* the config wins */
	config_free(&c);
	unsetenv("NODE_NAME");
	assert_int_equal(config_parse("{" BASE "}", &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "nodeName"));
	assert_non_null(strstr(err, "NODE_NAME"));
}

static void test_kubernetes(void **state)
{
	struct agent_config c;
	char err[256];

	(void)state;
	assert_int_equal(config_parse("{\"nodeName\": \"n\", " BASE ", \"kubernetes\": "
				      "{\"inCluster\": true}, \"masquerade\": true}", &c, err,
				      sizeof(err)), 0);
	assert_true(c.kube.enabled && c.kube.in_cluster);
	assert_string_equal(c.kube.sa_dir, "/var/run/secrets/kubernetes.io/serviceaccount");
	config_free(&c);
	assert_int_equal(config_parse("{\"nodeName\": \"n\", " BASE ", \"kubernetes\": "
				      "{\"kubeconfig\": \"/etc/kc\", \"serviceAccountDir\": \"/sa\"}}",
				      &c, err, sizeof(err)), 0);
	assert_true(c.kube.enabled && !c.kube.in_cluster);
	assert_string_equal(c.kube.kubeconfig, "/etc/kc");
	assert_string_equal(c.kube.sa_dir, "/sa");
	config_free(&c);
	expect_error("{\"nodeName\": \"n\", " BASE ", \"kubernetes\": {}}", "kubernetes");
	expect_error("{\"nodeName\": \"n\", " BASE ", \"kubernetes\": {\"inCluster\": true, "
		     "\"kubeconfig\": \"/k\"}}", "kubernetes");
	expect_error("{\"nodeName\": \"n\", " BASE ", \"kubernetes\": {\"kubeconfig\": \"k\"}}",
		     "kubernetes.kubeconfig");
	expect_error("{\"nodeName\": \"n\", " BASE ", \"kubernetes\": {\"inCluster\": true, "
		     "\"x\": 1}}", "kubernetes.x");
	expect_error("{\"nodeName\": \"n\", " BASE ", \"kubernetes\": {\"inCluster\": true}, "
		     "\"policyDir\": \"/p\"}", "kubernetes");
	expect_error("{\"nodeName\": \"n\", " BASE ", \"kubernetes\": 1}", "kubernetes");
	/* Without the API, masquerade still needs the pod CIDRs in the config. */
	expect_error("{\"nodeName\": \"n\", " BASE ", \"masquerade\": true}", "podCIDRs");
}

static void test_http_and_cni_conf(void **state)
{
	static const char *const good[] = { "0.0.0.0:9890", "[::1]:9890", ":9890" };
	/* Numeric hosts only, as httpd_listen takes them: no lookup at start. */
	static const char *const bad[] = { "9890", "host:", "h:99999", "h:9x", "localhost:9890",
					   "1.2.3.4: 80", "1.2.3.4:+80", "[::1:80", "::1:80" };
	struct agent_config c;
	char text[256], err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(text, sizeof(text), "{\"nodeName\": \"n\", " BASE ", \"httpAddress\": \"%s\"}",
			 good[i]);
		assert_int_equal(config_parse(text, &c, err, sizeof(err)), 0);
		assert_string_equal(c.http_address, good[i]);
		config_free(&c);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "{\"nodeName\": \"n\", " BASE ", \"httpAddress\": \"%s\"}",
			 bad[i]);
		expect_error(text, "httpAddress");
	}
	assert_int_equal(config_parse("{\"nodeName\": \"n\", " BASE ", \"cniConf\": {\"path\": "
				      "\"/etc/cni/net.d/05-xdpath.conflist\"}}", &c, err, sizeof(err)), 0);
	assert_string_equal(c.cni_conf.path, "/etc/cni/net.d/05-xdpath.conflist");
	assert_string_equal(c.cni_conf.ipam_dir, "/run/xdpath/ipam");
	assert_int_equal(c.cni_conf.mtu, 0);
	config_free(&c);
	expect_error("{\"nodeName\": \"n\", " BASE ", \"cniConf\": {}}", "cniConf.path");
	expect_error("{\"nodeName\": \"n\", " BASE ", \"cniConf\": {\"path\": \"/c\", \"mtu\": 100}}",
		     "cniConf.mtu");
	expect_error("{\"nodeName\": \"n\", " BASE ", \"cniConf\": {\"path\": \"/c\", \"x\": 1}}",
		     "cniConf.x");
}

/* ---- more on today's keys --------------------------------------------------- */

/* $NODE_NAME as the test found it, put back after each test that sets it. */
static char *saved_node_name;
static bool had_node_name;

static int save_node_name(void **state)
{
	const char *v = getenv("NODE_NAME");

	(void)state;
	had_node_name = v != NULL;
	saved_node_name = v ? strdup(v) : NULL;
	return v && !saved_node_name ? -1 : 0;
}

static int restore_node_name(void **state)
{
	(void)state;
	if (had_node_name)
		setenv("NODE_NAME", saved_node_name, 1);
	else
		unsetenv("NODE_NAME");
	free(saved_node_name);
	saved_node_name = NULL;
	return 0;
}

/* Parse text that must be accepted. */
static void expect_ok(const char *text, struct agent_config *c)
{
	char err[512] = "";

	if (config_parse(text, c, err, sizeof(err)))
		fail_msg("rejected: %s\n  %s", err, text);
}

static void test_node_name_env_cases(void **state)
{
	char text[512], longname[300];
	struct agent_config c;

	(void)state;
	/* Absent from the config: $NODE_NAME. */
	setenv("NODE_NAME", "worker-7", 1);
	expect_ok("{" BASE "}", &c);
	assert_string_equal(c.node_name, "worker-7");
	config_free(&c);
	/* null counts as absent. */
	expect_ok("{\"nodeName\": null, " BASE "}", &c);
	assert_string_equal(c.node_name, "worker-7");
	config_free(&c);
	/* Present: the config wins over the environment. */
	expect_ok("{\"nodeName\": \"from-config\", " BASE "}", &c);
	assert_string_equal(c.node_name, "from-config");
	config_free(&c);
	/* Present but empty: an error, not a fallback. */
	expect_error("{\"nodeName\": \"\", " BASE "}", "nodeName");
	expect_error("{\"nodeName\": 7, " BASE "}", "nodeName");
	/* An empty $NODE_NAME is no name. */
	setenv("NODE_NAME", "", 1);
	expect_error_with("{" BASE "}", "nodeName", "NODE_NAME");
	/* Neither: the error names both. */
	unsetenv("NODE_NAME");
	expect_error_with("{" BASE "}", "nodeName", "NODE_NAME");
	/* Too long for node_name. */
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	setenv("NODE_NAME", longname, 1);
	expect_error_with("{" BASE "}", "nodeName", "NODE_NAME");
	snprintf(text, sizeof(text), "{\"nodeName\": \"ok\", " BASE "}");
	expect_ok(text, &c);                       /* the config's wins, the env is not read */
	assert_string_equal(c.node_name, "ok");
	config_free(&c);
}

#define KN "{\"nodeName\": \"n\", " BASE ", "

static void test_kubernetes_section(void **state)
{
	struct agent_config c;

	(void)state;
	expect_ok(KN "\"kubernetes\": {\"inCluster\": true}}", &c);
	assert_true(c.kube.enabled);
	assert_true(c.kube.in_cluster);
	assert_string_equal(c.kube.kubeconfig, "");
	assert_string_equal(c.kube.sa_dir, "/var/run/secrets/kubernetes.io/serviceaccount");
	config_free(&c);
	expect_ok(KN "\"kubernetes\": {\"kubeconfig\": \"/x\"}}", &c);
	assert_true(c.kube.enabled);
	assert_false(c.kube.in_cluster);
	assert_string_equal(c.kube.kubeconfig, "/x");
	config_free(&c);
	expect_ok(KN "\"kubernetes\": {\"inCluster\": false, \"kubeconfig\": \"/x\"}}", &c);
	assert_true(c.kube.enabled && !c.kube.in_cluster);
	config_free(&c);
	/* Without the section: off. */
	expect_ok(KN "\"mode\": \"native\"}", &c);
	assert_false(c.kube.enabled);
	config_free(&c);

	/* Exactly one of inCluster and kubeconfig. */
	expect_error_with(KN "\"kubernetes\": {\"inCluster\": true, \"kubeconfig\": \"/x\"}}",
			  "kubernetes", "exactly one");
	expect_error_with(KN "\"kubernetes\": {}}", "kubernetes", "exactly one");
	expect_error_with(KN "\"kubernetes\": {\"inCluster\": false}}", "kubernetes", "exactly one");
	/* Paths are absolute. */
	expect_error_with(KN "\"kubernetes\": {\"kubeconfig\": \"etc/kubeconfig\"}}",
			  "kubernetes.kubeconfig", "absolute");
	expect_error_with(KN "\"kubernetes\": {\"kubeconfig\": \"./kc\"}}",
			  "kubernetes.kubeconfig", "absolute");
	expect_error_with(KN "\"kubernetes\": {\"inCluster\": true, \"serviceAccountDir\": \"sa\"}}",
			  "kubernetes.serviceAccountDir", "absolute");
	/* Unknown keys are named with their section. */
	expect_error(KN "\"kubernetes\": {\"inCluster\": true, \"token\": \"t\"}}",
		     "kubernetes.token");
	expect_error(KN "\"kubernetes\": {\"kubeconfig\": \"/x\", \"incluster\": true}}",
		     "kubernetes.incluster");
	expect_error(KN "\"kubernetes\": true}", "kubernetes");
	expect_error(KN "\"kubernetes\": \"/x\"}", "kubernetes");
	/* Clusterless sources do not mix with the API server. */
	expect_error_with(KN "\"kubernetes\": {\"inCluster\": true}, \"policyDir\": \"/p\"}",
			  "kubernetes", "policyDir");
	expect_error_with(KN "\"policyDir\": \"/p\", \"kubernetes\": {\"kubeconfig\": \"/k\"}}",
			  "kubernetes", "policyDir");
	expect_error(KN "\"kubernetes\": {\"inCluster\": true}, \"filterDir\": \"/f\"}",
		     "kubernetes");

	/* masquerade without podCIDRs: fine with the API (the Node has them). */
	expect_ok(KN "\"masquerade\": true, \"kubernetes\": {\"inCluster\": true}}", &c);
	assert_true(c.masquerade);
	assert_int_equal(c.npod_cidrs, 0);
	config_free(&c);
	expect_ok(KN "\"masquerade\": true, \"kubernetes\": {\"kubeconfig\": \"/k\"}}", &c);
	config_free(&c);
	expect_error_with(KN "\"masquerade\": true}", "podCIDRs", "masquerade");
	expect_error(KN "\"masquerade\": true, \"kubernetes\": {}}", "kubernetes");
}

static void test_http_address_more(void **state)
{
	static const char *const good[] = { "0.0.0.0:9890", "[::1]:9890", ":9890", "127.0.0.1:0",
					    "[::]:65535" };
	static const char *const bad[] = { "9890", "host:", "h:99999", "h:65536", "h:-1", ":",
					   "[::1]", "0.0.0.0:98x0" };
	struct agent_config c;
	char text[256];

	(void)state;
	expect_ok(KN "\"mode\": \"native\"}", &c);
	assert_string_equal(c.http_address, "");    /* off by default */
	config_free(&c);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(text, sizeof(text), KN "\"httpAddress\": \"%s\"}", good[i]);
		expect_ok(text, &c);
		assert_string_equal(c.http_address, good[i]);
		config_free(&c);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), KN "\"httpAddress\": \"%s\"}", bad[i]);
		expect_error_with(text, "httpAddress", bad[i]);
	}
	expect_error(KN "\"httpAddress\": \"\"}", "httpAddress");
	expect_error(KN "\"httpAddress\": 9890}", "httpAddress");
}

static void test_cni_conf_more(void **state)
{
	struct agent_config c;

	(void)state;
	expect_ok(KN "\"mode\": \"native\"}", &c);
	assert_string_equal(c.cni_conf.path, "");   /* off by default */
	config_free(&c);
	expect_ok(KN "\"cniConf\": {\"path\": \"/etc/cni/net.d/05-xdpath.conflist\"}}", &c);
	assert_string_equal(c.cni_conf.path, "/etc/cni/net.d/05-xdpath.conflist");
	/* The default, as documented (docs/install.md, README: /run on purpose). */
	assert_string_equal(c.cni_conf.ipam_dir, CFG_DEFAULT_IPAM_DIR);
	assert_string_equal(c.cni_conf.ipam_dir, "/run/xdpath/ipam");
	assert_int_equal(c.cni_conf.mtu, 0);
	config_free(&c);
	expect_ok(KN "\"cniConf\": {\"path\": \"/c/x.conflist\", \"ipamDir\": \"/var/lib/x\", "
		  "\"mtu\": 1450}}", &c);
	assert_string_equal(c.cni_conf.ipam_dir, "/var/lib/x");
	assert_int_equal(c.cni_conf.mtu, 1450);
	config_free(&c);
	expect_ok(KN "\"cniConf\": {\"path\": \"/c\", \"mtu\": 576}}", &c);
	assert_int_equal(c.cni_conf.mtu, 576);
	config_free(&c);
	expect_ok(KN "\"cniConf\": {\"path\": \"/c\", \"mtu\": 65535}}", &c);
	assert_int_equal(c.cni_conf.mtu, 65535);
	config_free(&c);

	expect_error_with(KN "\"cniConf\": {}}", "cniConf.path", "required");
	expect_error_with(KN "\"cniConf\": {\"ipamDir\": \"/i\", \"mtu\": 1400}}", "cniConf.path",
			  "required");
	expect_error_with(KN "\"cniConf\": {\"path\": \"net.d/x.conflist\"}}", "cniConf.path",
			  "absolute");
	expect_error(KN "\"cniConf\": {\"path\": \"\"}}", "cniConf.path");
	expect_error_with(KN "\"cniConf\": {\"path\": \"/c\", \"ipamDir\": \"ipam\"}}",
			  "cniConf.ipamDir", "absolute");
	expect_error(KN "\"cniConf\": {\"path\": \"/c\", \"dataDir\": \"/d\"}}", "cniConf.dataDir");
	expect_error(KN "\"cniConf\": \"/etc/cni/net.d/x.conflist\"}", "cniConf");
	/* mtu: 576..65535, an integer. */
	{
		static const char *const bad[] = { "100", "575", "65536", "0", "-1", "1400.5",
						   "\"1400\"" };
		char text[256], err[512];

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			snprintf(text, sizeof(text), KN "\"cniConf\": {\"path\": \"/c\", \"mtu\": %s}}",
				 bad[i]);
			assert_int_equal(config_parse(text, &c, err, sizeof(err)), -1);
			if (!strstr(err, "mtu"))
				fail_msg("mtu %s: error \"%s\" does not name mtu", bad[i], err);
		}
	}
}

/* Nested keys are named with their section in errors ("cniConf.path",
 * "kubernetes.kubeconfig" already are): the same for every nested key. */
static void test_nested_key_name_cni_mtu(void **state)
{
	(void)state;
	expect_error(KN "\"cniConf\": {\"path\": \"/c\", \"mtu\": 100}}", "cniConf.mtu");
}

static void test_nested_key_name_in_cluster(void **state)
{
	(void)state;
	expect_error(KN "\"kubernetes\": {\"inCluster\": \"yes\"}}", "kubernetes.inCluster");
}

#undef KN

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_peer_count_limit),
		cmocka_unit_test(test_masq_on),
		cmocka_unit_test(test_masq_off_and_v4_only),
		cmocka_unit_test(test_node_name_from_env),
		cmocka_unit_test(test_kubernetes),
		cmocka_unit_test(test_http_and_cni_conf),
		cmocka_unit_test_setup_teardown(test_node_name_env_cases, save_node_name,
						restore_node_name),
		cmocka_unit_test(test_kubernetes_section),
		cmocka_unit_test(test_http_address_more),
		cmocka_unit_test(test_cni_conf_more),
		cmocka_unit_test(test_nested_key_name_cni_mtu),
		cmocka_unit_test(test_nested_key_name_in_cluster),
	};

	/* The tests that expect "nodeName: required" need it unset. */
	unsetenv("NODE_NAME");
	log_min_level = LOG_ERROR + 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
