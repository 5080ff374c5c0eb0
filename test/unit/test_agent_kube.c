/* test_agent_kube: the API client's configuration (agent/kube.c: kubeconfig
 * and in-cluster, the bearer token re-read per request) and the CNI conflist
 * the agent writes (agent/cniconf.c). Files live in a temporary directory;
 * no network is used. */
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <json-c/json.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "agent.h"
#include "cniconf.h"
#include "kube.h"

static char dir[64];

static void put(const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/xdpath-kube-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

/* kube_open on a kubeconfig text: 0 or the error, message in err. */
static int open_kc(struct kube *k, const char *yaml, char *err, size_t len)
{
	struct cfg_kube c = { .enabled = true };

	put("kubeconfig", yaml);
	snprintf(c.kubeconfig, sizeof(c.kubeconfig), "%s/kubeconfig", dir);
	err[0] = '\0';
	return kube_open(k, &c, err, len);
}

static void expect_kc_error(const char *yaml, const char *needle)
{
	struct kube k;
	char err[512];

	assert_int_not_equal(open_kc(&k, yaml, err, sizeof(err)), 0);
	if (!strstr(err, needle))
		fail_msg("error \"%s\" does not mention \"%s\"", err, needle);
}

/* "-----BEGIN X-----\nabc\n" base64, wrapped. */
#define PEM "-----BEGIN CERTIFICATE-----\nMIIBxyz\n-----END CERTIFICATE-----\n"
#define PEM_B64 "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJ4eXoKLS0tLS1FTkQg\n      Q0VSVElGSUNBVEUtLS0tLQo="

static const char *const two_contexts =
	"apiVersion: v1\nkind: Config\n"
	"clusters:\n"
	"- name: a\n  cluster: {server: \"https://a.example:6443/\", certificate-authority-data: \"" PEM_B64 "\"}\n"
	"- name: b\n  cluster: {server: \"https://10.0.0.9:443\", insecure-skip-tls-verify: true}\n"
	"users:\n"
	"- name: ua\n  user: {token: tok-a}\n"
	"- name: ub\n  user: {tokenFile: tok.txt}\n"
	"contexts:\n"
	"- name: ca\n  context: {cluster: a, user: ua}\n"
	"- name: cb\n  context: {cluster: b, user: ub}\n"
	"current-context: %s\n";

static void test_kubeconfig_contexts(void **state)
{
	char yaml[2048], err[512], want[256];
	struct kube k;

	(void)state;
	snprintf(yaml, sizeof(yaml), two_contexts, "ca");
	assert_int_equal(open_kc(&k, yaml, err, sizeof(err)), 0);
	assert_string_equal(k.server, "https://a.example:6443");   /* trailing slash gone */
	assert_int_equal(k.ca.len, strlen(PEM));
	assert_memory_equal(k.ca.p, PEM, strlen(PEM));              /* wrapped base64 decoded */
	assert_string_equal(k.token, "tok-a");
	assert_false(k.insecure);
	assert_string_equal(k.token_file, "");
	kube_close(&k);

	snprintf(yaml, sizeof(yaml), two_contexts, "cb");
	assert_int_equal(open_kc(&k, yaml, err, sizeof(err)), 0);
	assert_string_equal(k.server, "https://10.0.0.9:443");
	assert_true(k.insecure);
	assert_int_equal(k.ca.len, 0);
	assert_null(k.token);
	snprintf(want, sizeof(want), "%s/tok.txt", dir);             /* relative to the kubeconfig */
	assert_string_equal(k.token_file, want);
	kube_close(&k);
}

static void test_kubeconfig_files_and_client_cert(void **state)
{
	char yaml[2048], err[512];
	struct kube k;

	(void)state;
	put("ca.pem", "CA-BYTES\n");
	put("client.crt", "CERT\n");
	snprintf(yaml, sizeof(yaml),
		 "clusters: [{name: c, cluster: {server: \"https://h:1\", certificate-authority: ca.pem}}]\n"
		 "users: [{name: u, user: {client-certificate: %s/client.crt, client-key-data: S0VZCg==}}]\n"
		 "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
		 "current-context: x\n", dir);
	assert_int_equal(open_kc(&k, yaml, err, sizeof(err)), 0);
	assert_int_equal(k.ca.len, 9);
	assert_memory_equal(k.ca.p, "CA-BYTES\n", 9);
	assert_int_equal(k.cert.len, 5);
	assert_memory_equal(k.cert.p, "CERT\n", 5);
	assert_int_equal(k.key.len, 4);
	assert_memory_equal(k.key.p, "KEY\n", 4);
	kube_close(&k);
}

static void test_kubeconfig_errors(void **state)
{
	static const char *const base =
		"clusters: [{name: c, cluster: {server: \"%s\"}}]\n"
		"users: [{name: u, user: %s}]\n"
		"contexts: [{name: x, context: {cluster: %s, user: %s}}]\n"
		"current-context: %s\n";
	char yaml[1024], err[256];
	struct kube k;
	struct cfg_kube c = { .enabled = true };

	(void)state;
	snprintf(yaml, sizeof(yaml), base, "https://h:1", "{exec: {command: aws}}", "c", "u", "x");
	expect_kc_error(yaml, "exec");
	snprintf(yaml, sizeof(yaml), base, "https://h:1", "{token: t}", "c", "u", "nope");
	expect_kc_error(yaml, "context \"nope\" not found");
	snprintf(yaml, sizeof(yaml), base, "https://h:1", "{token: t}", "zz", "u", "x");
	expect_kc_error(yaml, "cluster \"zz\"");
	snprintf(yaml, sizeof(yaml), base, "https://h:1", "{token: t}", "c", "who", "x");
	expect_kc_error(yaml, "user \"who\" not found");
	snprintf(yaml, sizeof(yaml), base, "http://h:1", "{token: t}", "c", "u", "x");
	expect_kc_error(yaml, "https://");
	snprintf(yaml, sizeof(yaml), base, "https://h:1", "{client-certificate-data: Q0VSVAo=}", "c",
		 "u", "x");
	expect_kc_error(yaml, "needs its key");
	expect_kc_error("clusters: [{name: c, cluster: {server: \"https://h\", "
			"certificate-authority-data: \"not*base64\"}}]\n"
			"contexts: [{name: x, context: {cluster: c}}]\ncurrent-context: x\n",
			"not base64");
	expect_kc_error("clusters: []\ncontexts: []\n", "no current-context");
	expect_kc_error("clusters: [\n  - {name: c\n", "kubeconfig:");
	snprintf(c.kubeconfig, sizeof(c.kubeconfig), "%s/missing", dir);
	assert_int_equal(kube_open(&k, &c, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, c.kubeconfig));
}

static void test_in_cluster(void **state)
{
	struct cfg_kube c = { .enabled = true, .in_cluster = true };
	char err[512], want[256];
	struct kube k;

	(void)state;
	snprintf(c.sa_dir, sizeof(c.sa_dir), "%s/sa", dir);
	mkdir(c.sa_dir, 0700);
	unsetenv("KUBERNETES_SERVICE_HOST");
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	assert_int_equal(kube_open(&k, &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "KUBERNETES_SERVICE_HOST"));
	setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
	assert_int_equal(kube_open(&k, &c, err, sizeof(err)), -ENOENT);  /* no ca.crt */
	assert_non_null(strstr(err, "ca.crt"));
	put("sa/ca.crt", "CA\n");
	put("sa/token", "t1\n");
	assert_int_equal(kube_open(&k, &c, err, sizeof(err)), 0);
	assert_string_equal(k.server, "https://10.96.0.1:443");
	snprintf(want, sizeof(want), "%s/sa/token", dir);
	assert_string_equal(k.token_file, want);
	assert_int_equal(k.ca.len, 3);
	kube_close(&k);
	setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
	assert_int_equal(kube_open(&k, &c, err, sizeof(err)), 0);
	assert_string_equal(k.server, "https://[fd00::1]:443");
	kube_close(&k);
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
}

static bool has_header(struct curl_slist *h, const char *want)
{
	for (; h; h = h->next)
		if (!strcmp(h->data, want))
			return true;
	return false;
}

/* The token file is read at every request: a rotated token is used next. */
static void test_token_rotation(void **state)
{
	char yaml[512], err[256];
	struct curl_slist *hdrs = NULL;
	struct kube k;
	CURL *h;

	(void)state;
	put("tok.txt", "first-token\n");
	snprintf(yaml, sizeof(yaml),
		 "clusters: [{name: c, cluster: {server: \"https://h:1\"}}]\n"
		 "users: [{name: u, user: {tokenFile: tok.txt}}]\n"
		 "contexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n");
	assert_int_equal(open_kc(&k, yaml, err, sizeof(err)), 0);
	h = kube_handle();
	assert_non_null(h);
	assert_int_equal(kube_setup(&k, h, "/api", &hdrs), 0);
	assert_true(has_header(hdrs, "Authorization: Bearer first-token"));
	curl_slist_free_all(hdrs);
	hdrs = NULL;
	put("tok.txt", "second-token");
	assert_int_equal(kube_setup(&k, h, "/api", &hdrs), 0);
	assert_true(has_header(hdrs, "Authorization: Bearer second-token"));
	assert_false(has_header(hdrs, "Authorization: Bearer first-token"));
	curl_slist_free_all(hdrs);
	hdrs = NULL;
	snprintf(yaml, sizeof(yaml), "%s/tok.txt", dir);
	unlink(yaml);
	assert_int_equal(kube_setup(&k, h, "/api", &hdrs), -ENOENT);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
	kube_close(&k);
}

static struct agent a;

static void agent_for_conf(const char *path)
{
	memset(&a, 0, sizeof(a));
	snprintf(a.cfg.endpoint_dir, sizeof(a.cfg.endpoint_dir), "/run/x/endpoints");
	snprintf(a.cfg.pin_root, sizeof(a.cfg.pin_root), "/sys/fs/bpf/x");
	snprintf(a.cfg.cni_conf.ipam_dir, sizeof(a.cfg.cni_conf.ipam_dir), "/run/x/ipam");
	snprintf(a.cfg.cni_conf.path, sizeof(a.cfg.cni_conf.path), "%s", path);
	a.cfg.cni_conf.mtu = 1400;
	a.cfg.pod_cidrs[0] = N("10.244.1.0/24");
	a.cfg.pod_cidrs[1] = N("fd00:10:244:1::/64");
	a.cfg.npod_cidrs = 2;
}

static const char *const want_conf =
	"{\"cniVersion\":\"1.1.0\",\"name\":\"xdpath\",\"plugins\":[{\"type\":\"xdpath\",\"mtu\":1400,"
	"\"endpointDir\":\"/run/x/endpoints\",\"datapath\":{\"pinRoot\":\"/sys/fs/bpf/x\"},"
	"\"ipam\":{\"type\":\"xdpath\",\"dataDir\":\"/run/x/ipam\",\"ranges\":[[{\"subnet\":"
	"\"10.244.1.0/24\"}],[{\"subnet\":\"fd00:10:244:1::/64\"}]]}}]}";

static void test_cniconf(void **state)
{
	char path[256], sub[200];
	struct json_object *c, *f;
	struct stat st1, st2;
	struct dirent *de;
	DIR *d;

	(void)state;
	snprintf(sub, sizeof(sub), "%s/net.d", dir);
	snprintf(path, sizeof(path), "%s/05-xdpath.conflist", sub);
	agent_for_conf(path);
	c = cniconf_build(&a);
	assert_string_equal(json_object_to_json_string_ext(c, JSON_C_TO_STRING_PLAIN |
							      JSON_C_TO_STRING_NOSLASHESCAPE),
			    want_conf);
	assert_int_equal(cniconf_write(&a), 0);         /* creates net.d too */
	f = json_object_from_file(path);
	assert_non_null(f);
	assert_true(json_object_equal(c, f));
	json_object_put(f);
	json_object_put(c);
	d = opendir(sub);
	assert_non_null(d);
	while ((de = readdir(d)))
		assert_null(strstr(de->d_name, ".tmp"));  /* the temporary was renamed */
	closedir(d);
	assert_int_equal(stat(path, &st1), 0);
	assert_int_equal(cniconf_write(&a), 0);         /* unchanged: not rewritten */
	assert_int_equal(stat(path, &st2), 0);
	assert_int_equal(st1.st_ino, st2.st_ino);
	a.cfg.cni_conf.mtu = 1300;                      /* changed: replaced */
	assert_int_equal(cniconf_write(&a), 0);
	assert_int_equal(stat(path, &st2), 0);
	assert_int_not_equal(st1.st_ino, st2.st_ino);
	unlink(path);
	a.cfg.npod_cidrs = 0;
	assert_int_equal(cniconf_write(&a), -ENODATA);
	assert_int_not_equal(access(path, F_OK), 0);
	a.cfg.cni_conf.path[0] = '\0';                  /* not configured: nothing to do */
	assert_int_equal(cniconf_write(&a), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kubeconfig_contexts),
		cmocka_unit_test(test_kubeconfig_files_and_client_cert),
		cmocka_unit_test(test_kubeconfig_errors),
		cmocka_unit_test(test_in_cluster),
		cmocka_unit_test(test_token_rotation),
		cmocka_unit_test(test_cniconf),
	};

	log_min_level = LOG_ERROR + 1;
	return cmocka_run_group_tests(tests, setup, teardown);
}
