/* Unit tests for cni/config.c: netconf_parse(), its defaults and every
 * error path with its CNI code and message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "cni.h"

#define IPAM "\"ipam\":{\"type\":\"xdpath\",\"ranges\":[[{\"subnet\":\"10.244.0.0/24\"}]]}"
/* A valid 1.0.0 config with extra members (each ending in ',') spliced in. */
#define CONF(extra) "{\"cniVersion\":\"1.0.0\",\"name\":\"net1\"," extra IPAM "}"
#define CONF_V(v, extra) "{\"cniVersion\":\"" v "\",\"name\":\"net1\"," extra IPAM "}"

static int parse_len(const char *buf, size_t len, enum cni_cmd cmd, struct netconf *nc,
		     struct cni_err *e)
{
	memset(e, 0, sizeof(*e));
	return netconf_parse(buf, len, cmd, nc, e);
}

static int parse(const char *json, enum cni_cmd cmd, struct netconf *nc, struct cni_err *e)
{
	return parse_len(json, strlen(json), cmd, nc, e);
}

/* Parse must fail with code and a details text containing needle. */
static void expect_err_len(const char *buf, size_t len, enum cni_cmd cmd, int code,
			   const char *needle)
{
	struct netconf nc;
	struct cni_err e;
	int ret = parse_len(buf, len, cmd, &nc, &e);

	netconf_free(&nc);
	if (ret != code || e.code != code || !e.msg[0] || !strstr(e.details, needle))
		fail_msg("%.*s: got %d/%d \"%s\" \"%s\", want %d \"%s\"", (int)len, buf, ret,
			 e.code, e.msg, e.details, code, needle);
}

static void expect_err(const char *json, enum cni_cmd cmd, int code, const char *needle)
{
	expect_err_len(json, strlen(json), cmd, code, needle);
}

static void expect_ok(const char *json, enum cni_cmd cmd)
{
	struct netconf nc;
	struct cni_err e;
	int ret = parse(json, cmd, &nc, &e);

	netconf_free(&nc);
	if (ret || e.code)
		fail_msg("%s: got %d \"%s\"", json, ret, e.details);
}

/* ---- valid configs ---------------------------------------------------- */

static void test_versions(void **state)
{
	static const struct {
		const char *json, *v;
		int num;
	} cases[] = {
		{ CONF_V("0.3.0", ""), "0.3.0", CNI_V(0, 3, 0) },
		{ CONF_V("0.3.1", ""), "0.3.1", CNI_V(0, 3, 1) },
		{ CONF_V("0.4.0", ""), "0.4.0", CNI_V(0, 4, 0) },
		{ CONF_V("1.0.0", ""), "1.0.0", CNI_V(1, 0, 0) },
		{ CONF_V("1.1.0", ""), "1.1.0", CNI_V(1, 1, 0) },
	};
	struct netconf nc;
	struct cni_err e;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(parse(cases[i].json, CMD_ADD, &nc, &e), 0);
		assert_int_equal(e.code, 0);
		assert_string_equal(nc.cni_version, cases[i].v);
		assert_int_equal(nc.version, cases[i].num);
		assert_non_null(nc.root);
		netconf_free(&nc);
		assert_null(nc.root);
	}
	/* The version gates: CHECK from 0.4.0, GC and STATUS from 1.1.0. */
	expect_ok(CONF_V("0.4.0", ""), CMD_CHECK);
	expect_ok(CONF_V("1.0.0", ""), CMD_CHECK);
	expect_ok(CONF_V("1.1.0", ""), CMD_GC);
	expect_ok(CONF_V("1.1.0", ""), CMD_STATUS);
	expect_ok(CONF_V("0.3.0", ""), CMD_DEL);
}

static void test_defaults(void **state)
{
	const char *json = CONF("");
	struct netconf nc;
	struct cni_err e;

	(void)state;
	assert_int_equal(parse(json, CMD_ADD, &nc, &e), 0);
	assert_string_equal(nc.name, "net1");
	assert_int_equal(nc.mtu, 0);
	assert_string_equal(nc.host_prefix, XDP_DEFAULT_HOST_PREFIX);
	assert_string_equal(nc.host_prefix, "xdp");
	assert_string_equal(nc.endpoint_dir, "/run/xdpath/endpoints");
	assert_int_equal(nc.lock_timeout_ms, 10000);
	assert_true(nc.ipam_builtin);
	assert_string_equal(nc.ipam_type, "xdpath");
	assert_string_equal(nc.ipam.network, "net1");
	assert_int_equal(nc.ipam.nsets, 1);
	assert_null(nc.dns);
	assert_null(nc.prev);
	assert_ptr_equal(nc.raw, json);
	assert_int_equal(nc.raw_len, strlen(json));
	assert_string_equal(nc.dp_root, "");
	netconf_free(&nc);
	assert_int_equal(parse(CONF("\"datapath\":{},"), CMD_ADD, &nc, &e), 0);
	assert_string_equal(nc.dp_root, "/sys/fs/bpf/xdpath");
	assert_int_equal(nc.policy_wait_ms, 2000);
	netconf_free(&nc);
	assert_int_equal(parse(CONF("\"datapath\":{\"policyWaitMs\":0},"), CMD_ADD, &nc, &e), 0);
	assert_int_equal(nc.policy_wait_ms, 0);
	netconf_free(&nc);
}

static void test_explicit(void **state)
{
	const char *json = CONF("\"mtu\":1450,\"lockTimeoutMs\":250,\"hostVethPrefix\":\"abcd\","
				"\"endpointDir\":\"/tmp/ep\",\"dns\":{\"nameservers\":[\"10.0.0.10\"]},"
				"\"prevResult\":{\"cniVersion\":\"1.0.0\"},");
	struct json_object *v;
	struct netconf nc;
	struct cni_err e;

	(void)state;
	assert_int_equal(parse(json, CMD_ADD, &nc, &e), 0);
	assert_int_equal(nc.mtu, 1450);
	assert_int_equal(nc.lock_timeout_ms, 250);
	assert_string_equal(nc.host_prefix, "abcd");
	assert_string_equal(nc.endpoint_dir, "/tmp/ep");
	assert_non_null(nc.dns);
	assert_true(json_object_object_get_ex(nc.dns, "nameservers", &v));
	assert_non_null(nc.prev);
	assert_true(json_object_object_get_ex(nc.prev, "cniVersion", &v));
	netconf_free(&nc);

	/* Bounds are inclusive; null means "use the default". */
	expect_ok(CONF("\"mtu\":68,"), CMD_ADD);
	expect_ok(CONF("\"mtu\":65535,"), CMD_ADD);
	expect_ok(CONF("\"lockTimeoutMs\":1,"), CMD_ADD);
	assert_int_equal(parse(CONF("\"mtu\":null,\"dns\":null,\"prevResult\":null,"), CMD_ADD,
			       &nc, &e), 0);
	assert_int_equal(nc.mtu, 0);
	assert_null(nc.dns);
	assert_null(nc.prev);
	netconf_free(&nc);
	/* Whitespace after the object is fine. */
	expect_ok(CONF("") " \n\t\r\n", CMD_ADD);
}

static void test_delegated_ipam(void **state)
{
	/* The delegated plugin validates its own section. */
	const char *json = "{\"cniVersion\":\"1.0.0\",\"name\":\"net1\","
			   "\"ipam\":{\"type\":\"host-local\",\"subnet\":\"nonsense\"}}";
	struct netconf nc;
	struct cni_err e;

	(void)state;
	assert_int_equal(parse(json, CMD_ADD, &nc, &e), 0);
	assert_false(nc.ipam_builtin);
	assert_string_equal(nc.ipam_type, "host-local");
	assert_int_equal(nc.ipam.nsets, 0);
	netconf_free(&nc);
}

static void test_version_cmd(void **state)
{
	const char *json = "{\"cniVersion\":\"0.4.0\"}";
	struct netconf nc;
	struct cni_err e;

	(void)state;
	assert_int_equal(parse(json, CMD_VERSION, &nc, &e), 0);
	assert_string_equal(nc.cni_version, "0.4.0");
	assert_int_equal(nc.version, CNI_V(0, 4, 0));
	netconf_free(&nc);
	/* The same config is not enough for ADD. */
	expect_err(json, CMD_ADD, CNI_ERR_INVALID_CONFIG, "\"name\" is required");
}

/* ---- errors ----------------------------------------------------------- */

static void test_err_json(void **state)
{
	static const char nul_tail[] = CONF("") "\n\0";

	(void)state;
	expect_err_len("", 0, CMD_ADD, CNI_ERR_DECODE, "empty input");
	expect_err("hello", CMD_ADD, CNI_ERR_DECODE, "invalid JSON");
	expect_err("{\"cniVersion\":", CMD_ADD, CNI_ERR_DECODE, "unexpected end");
	expect_err(CONF("") "x", CMD_ADD, CNI_ERR_DECODE, "invalid JSON");
	expect_err(CONF("") " {}", CMD_ADD, CNI_ERR_DECODE, "invalid JSON");
	/* A NUL byte is not whitespace. */
	expect_err_len(nul_tail, sizeof(nul_tail) - 1, CMD_ADD, CNI_ERR_DECODE, "invalid JSON");
	expect_err("[1]", CMD_ADD, CNI_ERR_DECODE, "must be a JSON object");
	expect_err("\"str\"", CMD_ADD, CNI_ERR_DECODE, "must be a JSON object");
	expect_err("5", CMD_ADD, CNI_ERR_DECODE, "must be a JSON object");
	expect_err("null", CMD_ADD, CNI_ERR_DECODE, "must be a JSON object");
	expect_err("[1]", CMD_VERSION, CNI_ERR_DECODE, "must be a JSON object");
}

static void test_err_version(void **state)
{
	(void)state;
	expect_err("{\"name\":\"net1\"," IPAM "}", CMD_ADD, CNI_ERR_INVALID_CONFIG,
		   "\"cniVersion\" is required");
	expect_err("{}", CMD_VERSION, CNI_ERR_INVALID_CONFIG, "\"cniVersion\" is required");
	expect_err("{\"cniVersion\":100}", CMD_ADD, CNI_ERR_DECODE,
		   "\"cniVersion\" must be a string");
	expect_err(CONF_V("abc", ""), CMD_ADD, CNI_ERR_DECODE, "\"abc\" is not a version string");
	expect_err(CONF_V("1.0", ""), CMD_ADD, CNI_ERR_DECODE, "not a version string");
	expect_err(CONF_V("1.0.0.0", ""), CMD_ADD, CNI_ERR_DECODE, "not a version string");
	expect_err(CONF_V(" 1.0.0", ""), CMD_ADD, CNI_ERR_DECODE, "not a version string");
	expect_err(CONF_V("1.0.0-rc1-and-something-long", ""), CMD_ADD, CNI_ERR_DECODE,
		   "not a version string");
	expect_err(CONF_V("0.2.0", ""), CMD_ADD, CNI_ERR_INCOMPATIBLE_VERSION,
		   "config is \"0.2.0\", plugin supports [0.3.0 0.3.1 0.4.0 1.0.0 1.1.0]");
	expect_err(CONF_V("0.2.0", ""), CMD_VERSION, CNI_ERR_INCOMPATIBLE_VERSION, "0.2.0");
	expect_err(CONF_V("2.0.0", ""), CMD_ADD, CNI_ERR_INCOMPATIBLE_VERSION, "2.0.0");
	expect_err(CONF_V("0.3.1", ""), CMD_CHECK, CNI_ERR_INCOMPATIBLE_VERSION,
		   "does not allow CHECK");
	expect_err(CONF_V("1.0.0", ""), CMD_GC, CNI_ERR_INCOMPATIBLE_VERSION, "does not allow GC");
	expect_err(CONF_V("1.0.0", ""), CMD_STATUS, CNI_ERR_INCOMPATIBLE_VERSION,
		   "does not allow STATUS");
}

static void test_err_name(void **state)
{
	(void)state;
	expect_err("{\"cniVersion\":\"1.0.0\"," IPAM "}", CMD_ADD, CNI_ERR_INVALID_CONFIG,
		   "\"name\" is required");
	expect_err("{\"cniVersion\":\"1.0.0\",\"name\":\"\"," IPAM "}", CMD_ADD,
		   CNI_ERR_INVALID_CONFIG, "\"name\" is required");
	expect_err("{\"cniVersion\":\"1.0.0\",\"name\":7," IPAM "}", CMD_ADD,
		   CNI_ERR_INVALID_CONFIG, "\"name\" must be a string");
	expect_err("{\"cniVersion\":\"1.0.0\",\"name\":\"a/b\"," IPAM "}", CMD_ADD,
		   CNI_ERR_INVALID_CONFIG, "network name \"a/b\"");
	expect_err("{\"cniVersion\":\"1.0.0\",\"name\":\"-net\"," IPAM "}", CMD_ADD,
		   CNI_ERR_INVALID_CONFIG, "network name \"-net\"");
	expect_ok("{\"cniVersion\":\"1.0.0\",\"name\":\"k8s-pod_net.1\"," IPAM "}", CMD_ADD);
}

static void test_err_fields(void **state)
{
	(void)state;
	expect_err(CONF("\"mtu\":\"1500\","), CMD_ADD, CNI_ERR_INVALID_CONFIG,
		   "\"mtu\" must be an integer");
	expect_err(CONF("\"mtu\":1500.5,"), CMD_ADD, CNI_ERR_INVALID_CONFIG,
		   "\"mtu\" must be an integer");
	expect_err(CONF("\"mtu\":10,"), CMD_ADD, CNI_ERR_INVALID_CONFIG,
		   "\"mtu\" 10 is out of range 68..65535");
	expect_err(CONF("\"mtu\":70000,"), CMD_ADD, CNI_ERR_INVALID_CONFIG,
		   "\"mtu\" 70000 is out of range");
	expect_err(CONF("\"mtu\":-1,"), CMD_ADD, CNI_ERR_INVALID_CONFIG, "\"mtu\" -1 is out");
	expect_err(CONF("\"lockTimeoutMs\":0,"), CMD_ADD, CNI_ERR_INVALID_CONFIG,
		   "\"lockTimeoutMs\" 0 is out of range");
	expect_err(CONF("\"datapath\":{\"policyWaitMs\":-1},"), CMD_ADD, CNI_ERR_INVALID_CONFIG,
		   "\"policyWaitMs\" -1 is out of range 0..60000");
	expect_err(CONF("\"datapath\":{\"policyWaitMs\":\"2s\"},"), CMD_ADD,
		   CNI_ERR_INVALID_CONFIG, "\"policyWaitMs\" must be an integer");
	expect_err(CONF("\"hostVethPrefix\":\"\","), CMD_ADD, CNI_ERR_INVALID_CONFIG,
		   "\"hostVethPrefix\" \"\"");
	expect_err(CONF("\"hostVethPrefix\":\"abcde\","), CMD_ADD, CNI_ERR_INVALID_CONFIG,
		   "\"hostVethPrefix\" \"abcde\"");
	expect_err(CONF("\"hostVethPrefix\":\"a/b\","), CMD_ADD, CNI_ERR_INVALID_CONFIG,
		   "\"hostVethPrefix\"");
	/* The kernel refuses these in interface names (dev_valid_name). */
	expect_err(CONF("\"hostVethPrefix\":\"a:b\","), CMD_ADD, CNI_ERR_INVALID_CONFIG,
		   "\"hostVethPrefix\"");
	expect_err(CONF("\"hostVethPrefix\":\"a b\","), CMD_ADD, CNI_ERR_INVALID_CONFIG,
		   "\"hostVethPrefix\"");
	expect_err(CONF("\"hostVethPrefix\":\"abcdefghi\","), CMD_ADD, CNI_ERR_INVALID_CONFIG,
		   "\"hostVethPrefix\" is longer than 7 bytes");
	expect_err(CONF("\"hostVethPrefix\":3,"), CMD_ADD, CNI_ERR_INVALID_CONFIG,
		   "\"hostVethPrefix\" must be a string");
	expect_err(CONF("\"endpointDir\":\"run/xdpath\","), CMD_ADD, CNI_ERR_INVALID_CONFIG,
		   "\"endpointDir\" \"run/xdpath\" must be an absolute path");
	expect_err(CONF("\"endpointDir\":\"\","), CMD_ADD, CNI_ERR_INVALID_CONFIG,
		   "must be an absolute path");
	expect_err(CONF("\"dns\":[],"), CMD_ADD, CNI_ERR_INVALID_CONFIG,
		   "\"dns\" must be an object");
	expect_err(CONF("\"dns\":\"8.8.8.8\","), CMD_DEL, CNI_ERR_INVALID_CONFIG,
		   "\"dns\" must be an object");
}

static void test_prev_result(void **state)
{
	struct netconf nc;
	struct cni_err e;

	(void)state;
	expect_err(CONF("\"prevResult\":[],"), CMD_ADD, CNI_ERR_INVALID_CONFIG,
		   "\"prevResult\" must be an object");
	expect_err(CONF("\"prevResult\":\"x\","), CMD_CHECK, CNI_ERR_INVALID_CONFIG,
		   "\"prevResult\" must be an object");
	/* DEL works from its own state: a broken prevResult is dropped. */
	assert_int_equal(parse(CONF("\"prevResult\":[],"), CMD_DEL, &nc, &e), 0);
	assert_int_equal(e.code, 0);
	assert_string_equal(e.details, "");
	assert_null(nc.prev);
	assert_true(nc.ipam_builtin); /* parsing went on after it */
	assert_int_equal(nc.ipam.nsets, 1);
	netconf_free(&nc);
	/* ...but the rest of the config is still validated. */
	expect_err("{\"cniVersion\":\"1.0.0\",\"name\":\"net1\",\"prevResult\":1}", CMD_DEL,
		   CNI_ERR_INVALID_CONFIG, "\"ipam\" object is required");
}

static void test_err_ipam(void **state)
{
	(void)state;
	expect_err("{\"cniVersion\":\"1.0.0\",\"name\":\"net1\"}", CMD_ADD,
		   CNI_ERR_INVALID_CONFIG, "\"ipam\" object is required");
	expect_err("{\"cniVersion\":\"1.0.0\",\"name\":\"net1\",\"ipam\":[]}", CMD_ADD,
		   CNI_ERR_INVALID_CONFIG, "\"ipam\" object is required");
	expect_err("{\"cniVersion\":\"1.0.0\",\"name\":\"net1\",\"ipam\":{}}", CMD_ADD,
		   CNI_ERR_INVALID_CONFIG, "\"ipam.type\" is required");
	expect_err("{\"cniVersion\":\"1.0.0\",\"name\":\"net1\",\"ipam\":{\"type\":1}}", CMD_ADD,
		   CNI_ERR_INVALID_CONFIG, "\"type\" must be a string");
	expect_err("{\"cniVersion\":\"1.0.0\",\"name\":\"net1\",\"ipam\":{\"type\":\"../x/y\"}}",
		   CMD_ADD, CNI_ERR_INVALID_CONFIG, "\"ipam.type\" \"../x/y\" must be a plugin name");
	expect_err("{\"cniVersion\":\"1.0.0\",\"name\":\"net1\",\"ipam\":{\"type\":\"xdpath\","
		   "\"ranges\":[[{\"subnet\":\"10.244.0.0/31\"}]]}}",
		   CMD_ADD, CNI_ERR_INVALID_CONFIG, "10.244.0.0/31");
	expect_err("{\"cniVersion\":\"1.0.0\",\"name\":\"net1\",\"ipam\":{\"type\":\"xdpath\","
		   "\"ranges\":[[{\"subnet\":\"10.244.0.7/24\"}]]}}",
		   CMD_ADD, CNI_ERR_INVALID_CONFIG, "10.244.0.7/24");
	expect_err("{\"cniVersion\":\"1.0.0\",\"name\":\"net1\",\"ipam\":{\"type\":\"xdpath\"}}",
		   CMD_ADD, CNI_ERR_INVALID_CONFIG, "ipam: no ranges");
}

/* The first error wins: a later check must not overwrite it. */
static void test_first_error_kept(void **state)
{
	struct netconf nc;
	struct cni_err e;

	(void)state;
	assert_int_equal(parse(CONF("\"mtu\":1,\"lockTimeoutMs\":0,"), CMD_ADD, &nc, &e),
			 CNI_ERR_INVALID_CONFIG);
	assert_non_null(strstr(e.details, "\"mtu\""));
	assert_null(strstr(e.details, "lockTimeoutMs"));
	assert_string_equal(e.msg, "invalid network config");
	netconf_free(&nc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_versions),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_explicit),
		cmocka_unit_test(test_delegated_ipam),
		cmocka_unit_test(test_version_cmd),
		cmocka_unit_test(test_err_json),
		cmocka_unit_test(test_err_version),
		cmocka_unit_test(test_err_name),
		cmocka_unit_test(test_err_fields),
		cmocka_unit_test(test_prev_result),
		cmocka_unit_test(test_err_ipam),
		cmocka_unit_test(test_first_error_kept),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
