/* Unit tests for cni/env.c: the CNI_* environment, CNI_ARGS, spec versions
 * and cni_fail(). Every test starts from an environment with no CNI_*. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cni.h"

static const char *const vars[] = {
	"CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_ARGS", "CNI_PATH",
};

static int clear_env(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
	return 0;
}

static void set_add(const char *cmd)
{
	setenv("CNI_COMMAND", cmd, 1);
	setenv("CNI_CONTAINERID", "c0ffee", 1);
	setenv("CNI_IFNAME", "eth0", 1);
	setenv("CNI_NETNS", "/run/netns/pod", 1);
}

static int load(struct cni_env *env, struct cni_err *e)
{
	memset(e, 0, sizeof(*e));
	return cni_env_load(env, e);
}

static void expect_err(int code, const char *needle)
{
	struct cni_env env;
	struct cni_err e;
	int ret = load(&env, &e);

	if (ret != code || e.code != code || !e.msg[0] || !strstr(e.details, needle))
		fail_msg("got %d/%d \"%s\" \"%s\", want %d \"%s\"", ret, e.code, e.msg, e.details,
			 code, needle);
}

static void expect_ok(void)
{
	struct cni_env env;
	struct cni_err e;
	int ret = load(&env, &e);

	if (ret || e.code)
		fail_msg("got %d \"%s\"", ret, e.details);
}

/* ---- CNI_COMMAND ------------------------------------------------------ */

static void test_no_command(void **state)
{
	struct cni_env env;
	struct cni_err e;

	(void)state;
	setenv("CNI_IFNAME", "a/b", 1); /* not looked at without a command */
	assert_int_equal(load(&env, &e), 0);
	assert_int_equal(env.cmd, CMD_NONE);
	assert_null(env.command);
	assert_int_equal(e.code, 0);
	setenv("CNI_COMMAND", "", 1); /* empty is unset */
	assert_int_equal(load(&env, &e), 0);
	assert_int_equal(env.cmd, CMD_NONE);
}

static void test_unknown_command(void **state)
{
	struct cni_env env;
	struct cni_err e;

	(void)state;
	setenv("CNI_COMMAND", "FROB", 1);
	assert_int_equal(load(&env, &e), CNI_ERR_INVALID_ENV);
	assert_string_equal(e.msg, "unknown CNI_COMMAND");
	assert_non_null(strstr(e.details, "FROB is not one of ADD"));
	set_add("add"); /* case matters */
	expect_err(CNI_ERR_INVALID_ENV, "add is not one of ADD");
}

static void test_commands(void **state)
{
	static const struct {
		const char *name;
		enum cni_cmd cmd;
	} cases[] = {
		{ "ADD", CMD_ADD }, { "DEL", CMD_DEL }, { "CHECK", CMD_CHECK },
		{ "VERSION", CMD_VERSION }, { "GC", CMD_GC }, { "STATUS", CMD_STATUS },
	};
	struct cni_env env;
	struct cni_err e;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		set_add(cases[i].name);
		setenv("CNI_PATH", "/opt/cni/bin", 1);
		setenv("CNI_ARGS", "K8S_POD_NAME=web", 1);
		assert_int_equal(load(&env, &e), 0);
		assert_int_equal(env.cmd, cases[i].cmd);
		assert_string_equal(env.command, cases[i].name);
		assert_string_equal(env.container_id, "c0ffee");
		assert_string_equal(env.ifname, "eth0");
		assert_string_equal(env.netns, "/run/netns/pod");
		assert_string_equal(env.path, "/opt/cni/bin");
		assert_string_equal(env.args, "K8S_POD_NAME=web");
	}
}

/* ---- required variables ----------------------------------------------- */

static void test_add_missing(void **state)
{
	static const char *const cmds[] = { "ADD", "CHECK" };
	static const char *const req[] = { "CNI_CONTAINERID", "CNI_IFNAME", "CNI_NETNS" };
	struct cni_env env;
	struct cni_err e;

	(void)state;
	for (size_t c = 0; c < 2; c++) {
		for (size_t i = 0; i < 3; i++) {
			set_add(cmds[c]);
			unsetenv(req[i]);
			assert_int_equal(load(&env, &e), CNI_ERR_INVALID_ENV);
			assert_string_equal(e.msg, "missing environment variables");
			for (size_t j = 0; j < 3; j++)
				assert_int_equal(!!strstr(e.details, req[j]), i == j);
			/* Empty counts as missing. */
			setenv(req[i], "", 1);
			expect_err(CNI_ERR_INVALID_ENV, req[i]);
		}
	}
	clear_env(NULL);
	setenv("CNI_COMMAND", "ADD", 1);
	expect_err(CNI_ERR_INVALID_ENV,
		   "required env variables [CNI_CONTAINERID,CNI_IFNAME,CNI_NETNS] missing");
}

static void test_del_needs(void **state)
{
	struct cni_env env;
	struct cni_err e;

	(void)state;
	set_add("DEL");
	unsetenv("CNI_NETNS"); /* the netns may already be gone */
	assert_int_equal(load(&env, &e), 0);
	assert_int_equal(env.cmd, CMD_DEL);
	assert_null(env.netns);
	unsetenv("CNI_CONTAINERID");
	expect_err(CNI_ERR_INVALID_ENV, "[CNI_CONTAINERID]");
	set_add("DEL");
	unsetenv("CNI_IFNAME");
	expect_err(CNI_ERR_INVALID_ENV, "[CNI_IFNAME]");
}

static void test_no_needs(void **state)
{
	static const char *const cmds[] = { "GC", "STATUS", "VERSION" };
	struct cni_env env;
	struct cni_err e;

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		clear_env(NULL);
		setenv("CNI_COMMAND", cmds[i], 1);
		assert_int_equal(load(&env, &e), 0);
		assert_null(env.container_id);
		assert_null(env.ifname);
		assert_null(env.netns);
	}
}

/* ---- validation ------------------------------------------------------- */

static void test_container_id(void **state)
{
	static const char *const bad[] = { "-abc", "ab c", "a/b", ".abc", "_a", "a;b", "a:b" };
	struct cni_env env;
	struct cni_err e;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		set_add("ADD");
		setenv("CNI_CONTAINERID", bad[i], 1);
		assert_int_equal(load(&env, &e), CNI_ERR_INVALID_ENV);
		assert_string_equal(e.msg, "invalid CNI_CONTAINERID");
		assert_non_null(strstr(e.details, bad[i]));
	}
	/* Also checked for DEL and, when given, for GC. */
	set_add("DEL");
	setenv("CNI_CONTAINERID", "a/b", 1);
	expect_err(CNI_ERR_INVALID_ENV, "CNI_CONTAINERID \"a/b\"");
	set_add("ADD");
	setenv("CNI_CONTAINERID", "a.b-c_d", 1);
	assert_int_equal(load(&env, &e), 0);
	assert_string_equal(env.container_id, "a.b-c_d");
	setenv("CNI_CONTAINERID", "0123456789abcdefABCDEF", 1);
	expect_ok();
}

static void test_ifname(void **state)
{
	static const char *const bad[] = { "0123456789abcdef", ".", "..", "a/b", "a:b", "a b",
					   "a\tb", "eth0\n" };
	struct cni_env env;
	struct cni_err e;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		set_add("ADD");
		setenv("CNI_IFNAME", bad[i], 1);
		assert_int_equal(load(&env, &e), CNI_ERR_INVALID_ENV);
		assert_string_equal(e.msg, "invalid CNI_IFNAME");
		assert_non_null(strstr(e.details, "must be 1-15 bytes"));
	}
	/* "" is unset, so missing. */
	set_add("ADD");
	setenv("CNI_IFNAME", "", 1);
	expect_err(CNI_ERR_INVALID_ENV, "[CNI_IFNAME]");
	set_add("ADD");
	setenv("CNI_IFNAME", "0123456789abcde", 1); /* 15: the maximum */
	assert_int_equal(load(&env, &e), 0);
	assert_string_equal(env.ifname, "0123456789abcde");
	setenv("CNI_IFNAME", "...", 1);
	expect_ok();
	setenv("CNI_IFNAME", "eth0.100", 1);
	expect_ok();
}

/* ---- CNI_ARGS --------------------------------------------------------- */

static void test_args_pod(void **state)
{
	struct cni_env env;
	struct cni_err e;

	(void)state;
	set_add("ADD");
	setenv("CNI_ARGS", "IgnoreUnknown=1;K8S_POD_NAMESPACE=kube-system;K8S_POD_NAME=coredns-0;"
			   "K8S_POD_INFRA_CONTAINER_ID=c0ffee;K8S_POD_UID=1234-abcd", 1);
	assert_int_equal(load(&env, &e), 0);
	assert_string_equal(env.pod_namespace, "kube-system");
	assert_string_equal(env.pod_name, "coredns-0");
	assert_string_equal(env.pod_uid, "1234-abcd");
	/* The known keys need no IgnoreUnknown; empty values are fine. */
	setenv("CNI_ARGS", "K8S_POD_NAMESPACE=;K8S_POD_NAME=web;K8S_POD_INFRA_CONTAINER_ID=x", 1);
	assert_int_equal(load(&env, &e), 0);
	assert_string_equal(env.pod_namespace, "");
	assert_string_equal(env.pod_name, "web");
	assert_string_equal(env.pod_uid, "");
	/* Without CNI_ARGS everything is empty. */
	unsetenv("CNI_ARGS");
	assert_int_equal(load(&env, &e), 0);
	assert_null(env.args);
	assert_string_equal(env.pod_name, "");
	/* A prefix of a known key is not that key. */
	setenv("CNI_ARGS", "K8S_POD=web", 1);
	expect_err(CNI_ERR_INVALID_ENV, "unknown CNI_ARGS key \"K8S_POD\"");
}

static void test_args_unknown(void **state)
{
	static const char *const ignored[] = {
		"FOO=bar;IgnoreUnknown=1", "IgnoreUnknown=true;FOO=bar", "IgnoreUnknown=TRUE;FOO=1",
		"IgnoreUnknown=True;FOO=1;K8S_POD_NAME=x",
	};
	static const char *const refused[] = {
		"IgnoreUnknown=0;FOO=bar", "IgnoreUnknown=false;FOO=bar",
		"IgnoreUnknown=10;FOO=bar", "IgnoreUnknown=truex;FOO=bar",
		"XIgnoreUnknown=1;FOO=bar", "FOO=bar;K8S_POD_NAME=IgnoreUnknown=1",
		"FOO=IgnoreUnknown=true",
	};
	struct cni_env env;
	struct cni_err e;

	(void)state;
	set_add("ADD");
	setenv("CNI_ARGS", "K8S_POD_NAME=web;FOO=bar;BAZ=1", 1);
	assert_int_equal(load(&env, &e), CNI_ERR_INVALID_ENV);
	assert_string_equal(e.msg, "invalid CNI_ARGS");
	assert_non_null(strstr(e.details, "unknown CNI_ARGS key \"FOO\""));
	for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++) {
		setenv("CNI_ARGS", ignored[i], 1);
		if (load(&env, &e))
			fail_msg("%s: %s", ignored[i], e.details);
	}
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		setenv("CNI_ARGS", refused[i], 1);
		if (load(&env, &e) != CNI_ERR_INVALID_ENV || !strstr(e.details, "unknown CNI_ARGS key"))
			fail_msg("%s: got %d \"%s\"", refused[i], e.code, e.details);
	}
}

/* CNI_ARGS = "<key>=" followed by n letters. */
static void set_arg(const char *key, size_t n)
{
	char buf[512];
	size_t k = strlen(key);

	assert_true(k + 1 + n < sizeof(buf));
	memcpy(buf, key, k);
	buf[k] = '=';
	memset(buf + k + 1, 'v', n);
	buf[k + 1 + n] = '\0';
	setenv("CNI_ARGS", buf, 1);
}

static void test_args_syntax(void **state)
{
	struct cni_env env;
	struct cni_err e;

	(void)state;
	set_add("ADD");
	setenv("CNI_ARGS", "K8S_POD_NAME=web;K8S_POD_UID", 1);
	expect_err(CNI_ERR_INVALID_ENV, "CNI_ARGS pair \"K8S_POD_UID\" has no '='");
	setenv("CNI_ARGS", "IgnoreUnknown=1;junk", 1); /* no '=' is never ignored */
	expect_err(CNI_ERR_INVALID_ENV, "\"junk\" has no '='");
	setenv("CNI_ARGS", ";;K8S_POD_NAME=web;;;K8S_POD_NAMESPACE=ns;", 1);
	assert_int_equal(load(&env, &e), 0);
	assert_string_equal(env.pod_name, "web");
	assert_string_equal(env.pod_namespace, "ns");
	setenv("CNI_ARGS", ";", 1);
	expect_ok();

	/* Values up to the buffer size minus one fit, one more does not. */
	set_arg("K8S_POD_NAME", 255);
	assert_int_equal(load(&env, &e), 0);
	assert_int_equal(strlen(env.pod_name), 255);
	set_arg("K8S_POD_NAME", 256);
	expect_err(CNI_ERR_INVALID_ENV, "CNI_ARGS K8S_POD_NAME is longer than 255 bytes");
	set_arg("K8S_POD_NAMESPACE", 255);
	expect_ok();
	set_arg("K8S_POD_NAMESPACE", 256);
	expect_err(CNI_ERR_INVALID_ENV, "K8S_POD_NAMESPACE is longer than 255 bytes");
	set_arg("K8S_POD_UID", 63);
	assert_int_equal(load(&env, &e), 0);
	assert_int_equal(strlen(env.pod_uid), 63);
	set_arg("K8S_POD_UID", 64);
	expect_err(CNI_ERR_INVALID_ENV, "K8S_POD_UID is longer than 63 bytes");
}

/* ---- versions, names, cni_fail ---------------------------------------- */

static void test_version_parse(void **state)
{
	static const char *const bad[] = {
		"", "1", "1.0", "1.0.0.0", "1.0.0 ", " 1.0.0", "+1.0.0", "1.-0.0", "1. 0.0",
		"a.b.c", "1..0", "1.0.", ".1.0", "100.0.0", "0.100.0", "0.0.100", "1.0.0-rc1",
		"v1.0.0", "1,0,0",
	};

	(void)state;
	assert_int_equal(cni_version_parse("1.0.0"), 10000);
	assert_int_equal(cni_version_parse("0.3.1"), 301);
	assert_int_equal(cni_version_parse("1.1.0"), CNI_V(1, 1, 0));
	assert_int_equal(cni_version_parse("0.0.0"), 0);
	assert_int_equal(cni_version_parse("99.99.99"), 999999);
	assert_int_equal(cni_version_parse(NULL), -1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (cni_version_parse(bad[i]) != -1)
			fail_msg("\"%s\" parsed as %d", bad[i], cni_version_parse(bad[i]));
	/* Ordering is numeric, not textual. */
	assert_true(cni_version_parse("0.10.0") > cni_version_parse("0.4.0"));
	assert_true(cni_version_parse("1.0.0") > cni_version_parse("0.99.99"));
}

static void test_version_supported(void **state)
{
	int n = 0;

	(void)state;
	for (int i = 0; cni_supported_versions[i]; i++, n++)
		assert_true(cni_version_supported(cni_version_parse(cni_supported_versions[i])));
	assert_int_equal(n, 5);
	assert_string_equal(cni_supported_versions[0], "0.3.0");
	assert_string_equal(cni_supported_versions[4], CNI_LATEST);
	assert_true(cni_version_supported(CNI_V(0, 4, 0)));
	assert_false(cni_version_supported(CNI_V(0, 2, 0)));
	assert_false(cni_version_supported(CNI_V(0, 1, 0)));
	assert_false(cni_version_supported(CNI_V(0, 3, 2)));
	assert_false(cni_version_supported(CNI_V(1, 0, 1)));
	assert_false(cni_version_supported(CNI_V(1, 2, 0)));
	assert_false(cni_version_supported(0));
	assert_false(cni_version_supported(-1));
}

static void test_network_name(void **state)
{
	(void)state;
	assert_true(cni_valid_network_name("k8s-pod-network"));
	assert_true(cni_valid_network_name("a"));
	assert_true(cni_valid_network_name("0a_b.c-d"));
	assert_false(cni_valid_network_name(""));
	assert_false(cni_valid_network_name(NULL));
	assert_false(cni_valid_network_name("-a"));
	assert_false(cni_valid_network_name("a/b"));
	assert_false(cni_valid_network_name("a b"));
	assert_false(cni_valid_network_name(".."));
}

static void test_fail(void **state)
{
	struct cni_err e = { 0 };
	char big[2000];

	(void)state;
	assert_int_equal(cni_fail(&e, CNI_ERR_INVALID_CONFIG, "first", "detail %d", 1),
			 CNI_ERR_INVALID_CONFIG);
	assert_int_equal(e.code, CNI_ERR_INVALID_CONFIG);
	assert_string_equal(e.msg, "first");
	assert_string_equal(e.details, "detail 1");
	/* The second error returns the first code and changes nothing. */
	assert_int_equal(cni_fail(&e, CNI_ERR_IO, "second", "detail %d", 2),
			 CNI_ERR_INVALID_CONFIG);
	assert_int_equal(e.code, CNI_ERR_INVALID_CONFIG);
	assert_string_equal(e.msg, "first");
	assert_string_equal(e.details, "detail 1");

	/* Over-long details are truncated, not overflowed. */
	memset(&e, 0, sizeof(e));
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(cni_fail(&e, CNI_ERR_INTERNAL, big, "%s", big), CNI_ERR_INTERNAL);
	assert_int_equal(strlen(e.details), sizeof(e.details) - 1);
	assert_int_equal(strlen(e.msg), sizeof(e.msg) - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_no_command, clear_env),
		cmocka_unit_test_setup(test_unknown_command, clear_env),
		cmocka_unit_test_setup(test_commands, clear_env),
		cmocka_unit_test_setup(test_add_missing, clear_env),
		cmocka_unit_test_setup(test_del_needs, clear_env),
		cmocka_unit_test_setup(test_no_needs, clear_env),
		cmocka_unit_test_setup(test_container_id, clear_env),
		cmocka_unit_test_setup(test_ifname, clear_env),
		cmocka_unit_test_setup(test_args_pod, clear_env),
		cmocka_unit_test_setup(test_args_unknown, clear_env),
		cmocka_unit_test_setup(test_args_syntax, clear_env),
		cmocka_unit_test(test_version_parse),
		cmocka_unit_test(test_version_supported),
		cmocka_unit_test(test_network_name),
		cmocka_unit_test(test_fail),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
