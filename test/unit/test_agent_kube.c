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
	write_file(dir, name, text);
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
	/* A dangling character, data after the padding: not base64 either. */
	expect_kc_error("clusters: [{name: c, cluster: {server: \"https://h\", "
			"certificate-authority-data: \"QUJDR\"}}]\n"
			"contexts: [{name: x, context: {cluster: c}}]\ncurrent-context: x\n",
			"not base64");
	expect_kc_error("clusters: [{name: c, cluster: {server: \"https://h\", "
			"certificate-authority-data: \"QUI=Qg==\"}}]\n"
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

/* kube_setup on h sends exactly "Bearer token", and not the one before. */
static void expect_bearer(const struct kube *k, CURL *h, const char *token, const char *not)
{
	struct curl_slist *hdrs = NULL;
	char want[256];

	assert_int_equal(kube_setup(k, h, "/api", &hdrs), 0);
	assert_true(has_header(hdrs, "Accept: application/json"));
	snprintf(want, sizeof(want), "Authorization: Bearer %s", token);
	assert_true(has_header(hdrs, want));
	if (not) {
		snprintf(want, sizeof(want), "Authorization: Bearer %s", not);
		assert_false(has_header(hdrs, want));
	}
	curl_slist_free_all(hdrs);
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
	expect_bearer(&k, h, "first-token", NULL);
	put("tok.txt", "second-token");
	expect_bearer(&k, h, "second-token", "first-token");
	put("tok.txt", " \n");                     /* empty: no token, an error */
	assert_int_equal(kube_setup(&k, h, "/api", &hdrs), -ENODATA);
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

/* ---- more kubeconfig cases ------------------------------------------------ */

/* Standard base64 of n bytes, a newline every wrap characters (0: none). */
static char *b64(const void *data, size_t n, size_t wrap, const char *nl)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = data;
	char *out = malloc(n * 2 + 16 + (wrap ? (n * 2 / wrap + 1) * strlen(nl) : 0));
	size_t o = 0, col = 0;

	assert_non_null(out);
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) |
			     (i + 2 < n ? p[i + 2] : 0);
		char q[4] = { tab[v >> 18 & 63], tab[v >> 12 & 63],
			      i + 1 < n ? tab[v >> 6 & 63] : '=', i + 2 < n ? tab[v & 63] : '=' };

		for (int j = 0; j < 4; j++) {
			if (wrap && col == wrap) {
				o += (size_t)sprintf(out + o, "%s", nl);
				col = 0;
			}
			out[o++] = q[j];
			col++;
		}
	}
	out[o] = '\0';
	return out;
}

static void expect_kc_rc(const char *yaml, int rc, const char *needle)
{
	struct kube k;
	char err[512];

	assert_int_equal(open_kc(&k, yaml, err, sizeof(err)), rc);
	if (!strstr(err, needle))
		fail_msg("error \"%s\" does not mention \"%s\"", err, needle);
}

/* current-context picks its context, and the context its cluster and user,
 * by name, not by position (here crossed: context m -> cluster c3, user u1). */
static void test_kubeconfig_current_context(void **state)
{
	static const char *const yaml =
		"apiVersion: v1\nkind: Config\n"
		"preferences: {}\n"
		"clusters:\n"
		"- name: c1\n  cluster:\n    server: https://one.example:6443\n"
		"- name: c2\n  cluster:\n    server: https://two.example:6443\n"
		"- name: c3\n  cluster:\n    server: https://three.example:6443///\n"
		"users:\n"
		"- name: u1\n  user:\n    token: token-one\n"
		"- name: u2\n  user:\n    token: token-two\n"
		"- name: u3\n  user:\n    token: token-three\n"
		"contexts:\n"
		"- name: first\n  context: {cluster: c1, user: u2}\n"
		"- name: m\n  context:\n    cluster: c3\n    user: u1\n    namespace: kube-system\n"
		"- name: last\n  context: {cluster: c2, user: u3}\n"
		"current-context: m\n";
	char err[512];
	struct kube k;

	(void)state;
	assert_int_equal(open_kc(&k, yaml, err, sizeof(err)), 0);
	assert_string_equal(k.server, "https://three.example:6443");  /* every trailing '/' gone */
	assert_non_null(k.token);
	assert_string_equal(k.token, "token-one");
	assert_string_equal(k.token_file, "");
	assert_int_equal(k.ca.len, 0);                                /* system CAs */
	assert_int_equal(k.cert.len, 0);
	assert_int_equal(k.key.len, 0);
	assert_false(k.insecure);
	assert_non_null(strstr(k.user_agent, "xdpathd/"));
	kube_close(&k);
	kube_close(&k);                                               /* idempotent */
}

/* certificate-authority-data decodes to exactly the original bytes: every
 * padding (length mod 3), unwrapped, wrapped at 76 and 64 columns, with
 * CRLF, in a double-quoted, a plain and a literal block scalar. */
static void test_kubeconfig_ca_data_exact(void **state)
{
	static const char *const pem =
		"-----BEGIN CERTIFICATE-----\n"
		"MIIDBTCCAe2gAwIBAgIIQ2x1c3RlckNBMA0GCSqGSIb3DQEBCwUAMBUxEzARBgNV\n"
		"BAMTCmt1YmVybmV0ZXMwHhcNMjQwMTAxMDAwMDAwWhcNMzQwMTAxMDAwMDAwWjAV\n"
		"MRMwEQYDVQQDEwprdWJlcm5ldGVzMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIB\n"
		"-----END CERTIFICATE-----\n";
	char yaml[4096], err[512];
	size_t full = strlen(pem);
	struct kube k;

	(void)state;
	for (size_t cut = 0; cut < 3; cut++) {
		size_t n = full - cut;            /* n mod 3 takes every value */
		struct {
			size_t wrap;
			const char *nl;
			int style;                /* 0 quoted, 1 plain, 2 block */
		} forms[] = { { 0, "", 0 }, { 0, "", 1 }, { 76, "\\n", 0 }, { 64, "\\r\\n", 0 },
			      { 76, "\n      ", 2 }, { 64, "\n      ", 2 } };

		for (size_t f = 0; f < sizeof(forms) / sizeof(forms[0]); f++) {
			char *enc = b64(pem, n, forms[f].wrap, forms[f].nl);

			snprintf(yaml, sizeof(yaml),
				 "clusters:\n- name: c\n  cluster:\n    server: https://h:1\n"
				 "    certificate-authority-data: %s%s%s\n"
				 "contexts: [{name: x, context: {cluster: c}}]\ncurrent-context: x\n",
				 forms[f].style == 0 ? "\"" : forms[f].style == 2 ? "|\n      " : "",
				 enc, forms[f].style == 0 ? "\"" : "");
			free(enc);
			if (open_kc(&k, yaml, err, sizeof(err)))
				fail_msg("cut %zu form %zu: %s", cut, f, err);
			if (k.ca.len != n || memcmp(k.ca.p, pem, n))
				fail_msg("cut %zu form %zu: decoded %zu bytes, want %zu", cut, f, k.ca.len,
					 n);
			kube_close(&k);
			assert_null(k.ca.p);
		}
	}
}

/* certificate-authority: relative to the kubeconfig's directory, or absolute. */
static void test_kubeconfig_ca_file(void **state)
{
	char yaml[1024], err[512], sub[128];
	struct kube k;

	(void)state;
	snprintf(sub, sizeof(sub), "%s/pki", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	put("pki/ca.crt", "REL-CA\n");
	put("abs-ca.crt", "ABSOLUTE-CA\n");
	assert_int_equal(open_kc(&k, "clusters: [{name: c, cluster: {server: \"https://h:1\", "
				 "certificate-authority: pki/ca.crt}}]\n"
				 "contexts: [{name: x, context: {cluster: c}}]\ncurrent-context: x\n",
				 err, sizeof(err)), 0);
	assert_int_equal(k.ca.len, 7);
	assert_memory_equal(k.ca.p, "REL-CA\n", 7);
	kube_close(&k);
	/* Absolute: the kubeconfig's directory is not prepended. */
	snprintf(yaml, sizeof(yaml), "clusters: [{name: c, cluster: {server: \"https://h:1\", "
		 "certificate-authority: %s/abs-ca.crt}}]\n"
		 "contexts: [{name: x, context: {cluster: c}}]\ncurrent-context: x\n", dir);
	assert_int_equal(open_kc(&k, yaml, err, sizeof(err)), 0);
	assert_int_equal(k.ca.len, 12);
	assert_memory_equal(k.ca.p, "ABSOLUTE-CA\n", 12);
	kube_close(&k);
	/* A missing one: an error naming the path it looked at. */
	snprintf(yaml, sizeof(yaml), "%s/pki/nope.crt", dir);
	expect_kc_rc("clusters: [{name: c, cluster: {server: \"https://h:1\", "
		     "certificate-authority: pki/nope.crt}}]\n"
		     "contexts: [{name: x, context: {cluster: c}}]\ncurrent-context: x\n",
		     -ENOENT, yaml);
}

/* token, tokenFile (relative, absolute), client-certificate-data with
 * client-key-data; a certificate without its key and the reverse. */
static void test_kubeconfig_user_credentials(void **state)
{
	static const char *const crt = "-----BEGIN CERTIFICATE-----\nCLIENT\n-----END CERTIFICATE-----\n";
	static const char *const key = "-----BEGIN EC PRIVATE KEY-----\nKEY\n-----END EC PRIVATE KEY-----\n";
	char yaml[2048], err[512], want[256];
	char *c64 = b64(crt, strlen(crt), 0, ""), *k64 = b64(key, strlen(key), 0, "");
	struct kube k;

	(void)state;
#define KC_USER "clusters: [{name: c, cluster: {server: \"https://h:1\"}}]\n" \
		"contexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n" \
		"users: [{name: u, user: %s}]\n"
	snprintf(yaml, sizeof(yaml), KC_USER, "{token: \"abc.def-ghi\"}");
	assert_int_equal(open_kc(&k, yaml, err, sizeof(err)), 0);
	assert_string_equal(k.token, "abc.def-ghi");
	assert_string_equal(k.token_file, "");
	kube_close(&k);
	assert_null(k.token);

	snprintf(yaml, sizeof(yaml), KC_USER, "{tokenFile: secrets/tok}");
	assert_int_equal(open_kc(&k, yaml, err, sizeof(err)), 0);
	snprintf(want, sizeof(want), "%s/secrets/tok", dir);
	assert_string_equal(k.token_file, want);
	assert_null(k.token);
	kube_close(&k);

	snprintf(yaml, sizeof(yaml), KC_USER, "{tokenFile: /var/run/tok}");
	assert_int_equal(open_kc(&k, yaml, err, sizeof(err)), 0);
	assert_string_equal(k.token_file, "/var/run/tok");
	kube_close(&k);

	snprintf(want, sizeof(want), "{client-certificate-data: %s, client-key-data: %s}", c64, k64);
	snprintf(yaml, sizeof(yaml), KC_USER, want);
	assert_int_equal(open_kc(&k, yaml, err, sizeof(err)), 0);
	assert_int_equal(k.cert.len, strlen(crt));
	assert_memory_equal(k.cert.p, crt, strlen(crt));
	assert_int_equal(k.key.len, strlen(key));
	assert_memory_equal(k.key.p, key, strlen(key));
	assert_null(k.token);
	kube_close(&k);
	assert_null(k.cert.p);
	assert_null(k.key.p);

	snprintf(want, sizeof(want), "{client-certificate-data: %s}", c64);
	snprintf(yaml, sizeof(yaml), KC_USER, want);
	expect_kc_rc(yaml, -EINVAL, "needs its key");
	snprintf(want, sizeof(want), "{client-key-data: %s}", k64);
	snprintf(yaml, sizeof(yaml), KC_USER, want);
	expect_kc_rc(yaml, -EINVAL, "needs its key");
	/* A token with a certificate but no key: still refused, nothing leaked. */
	snprintf(want, sizeof(want), "{token: t, client-certificate-data: %s}", c64);
	snprintf(yaml, sizeof(yaml), KC_USER, want);
	expect_kc_rc(yaml, -EINVAL, "needs its key");
	snprintf(yaml, sizeof(yaml), KC_USER, "{client-key-data: \"%%%%\"}");
	expect_kc_rc(yaml, -EINVAL, "client-key-data");
	snprintf(yaml, sizeof(yaml), KC_USER, "{client-certificate-data: \"QUJD!\"}");
	expect_kc_rc(yaml, -EINVAL, "client-certificate-data: not base64");

	/* Credential plugins are refused, by name. */
	snprintf(yaml, sizeof(yaml), KC_USER,
		 "{exec: {apiVersion: client.authentication.k8s.io/v1, command: aws, "
		 "args: [eks, get-token]}}");
	expect_kc_rc(yaml, -ENOTSUP, "exec");
	snprintf(yaml, sizeof(yaml), KC_USER, "{auth-provider: {name: gcp}}");
	expect_kc_rc(yaml, -ENOTSUP, "auth-provider");
	/* No user at all in the context: no credentials, fine. */
	assert_int_equal(open_kc(&k, "clusters: [{name: c, cluster: {server: \"https://h:1\"}}]\n"
				 "contexts: [{name: x, context: {cluster: c}}]\ncurrent-context: x\n",
				 err, sizeof(err)), 0);
	assert_null(k.token);
	assert_string_equal(k.token_file, "");
	kube_close(&k);
#undef KC_USER
	free(c64);
	free(k64);
}

/* Every error names what is wrong, with the errno kube.h documents. */
static void test_kubeconfig_error_messages(void **state)
{
	static const char *const base =
		"clusters:\n- name: c\n  cluster: {server: \"%s\"}\n"
		"users:\n- name: u\n  user: {token: t}\n"
		"contexts:\n- name: x\n  context: {cluster: %s, user: %s}\n"
		"%s\n";
	char yaml[1024], err[512], want[256];
	struct cfg_kube c = { .enabled = true };
	const char *colon;
	struct kube k;
	int line, col;

	(void)state;
	snprintf(yaml, sizeof(yaml), base, "https://h:1", "c", "u", "");
	expect_kc_rc(yaml, -EINVAL, "no current-context");
	snprintf(yaml, sizeof(yaml), base, "https://h:1", "c", "u", "current-context: \"\"");
	expect_kc_rc(yaml, -EINVAL, "no current-context");
	snprintf(yaml, sizeof(yaml), base, "https://h:1", "c", "u", "current-context: prod");
	expect_kc_rc(yaml, -EINVAL, "context \"prod\" not found");
	snprintf(yaml, sizeof(yaml), base, "https://h:1", "other", "u", "current-context: x");
	expect_kc_rc(yaml, -EINVAL, "cluster \"other\" of context \"x\" not found");
	snprintf(yaml, sizeof(yaml), base, "https://h:1", "c", "ghost", "current-context: x");
	expect_kc_rc(yaml, -EINVAL, "user \"ghost\" not found");
	snprintf(yaml, sizeof(yaml), base, "http://h:8080", "c", "u", "current-context: x");
	expect_kc_rc(yaml, -EINVAL, "server must be an https:// URL");
	snprintf(yaml, sizeof(yaml), base, "", "c", "u", "current-context: x");
	expect_kc_rc(yaml, -EINVAL, "https://");
	expect_kc_rc("clusters: [{name: c, cluster: {server: \"https://h\", "
		     "certificate-authority-data: \"LS0t LS1C\\n@@@@\"}}]\n"
		     "contexts: [{name: x, context: {cluster: c}}]\ncurrent-context: x\n",
		     -EINVAL, "certificate-authority-data: not base64");

	/* A YAML syntax error: kubeconfig:LINE:COL. */
	snprintf(want, sizeof(want), "%s/kubeconfig", dir);
	assert_int_not_equal(open_kc(&k, "apiVersion: v1\nclusters:\n- name: c\n  cluster: {server: "
				 "\"https://h\"\ncurrent-context: x\n", err, sizeof(err)), 0);
	if (!strstr(err, want))
		fail_msg("error \"%s\" does not name %s", err, want);
	colon = strstr(err, "kubeconfig:");
	while (colon && sscanf(colon, "kubeconfig:%d:%d:", &line, &col) != 2)
		colon = strstr(colon + 1, "kubeconfig:");
	if (!colon)
		fail_msg("error \"%s\" has no kubeconfig:LINE:COL", err);
	assert_true(line >= 4 && line <= 6);
	assert_true(col >= 1);
	/* Not one mapping: empty, a list, two documents. */
	expect_kc_rc("", -EINVAL, "not one YAML mapping");
	expect_kc_rc("- a\n- b\n", -EINVAL, "not one YAML mapping");
	expect_kc_rc("current-context: x\n---\ncurrent-context: y\n", -EINVAL,
		     "not one YAML mapping");

	/* A file that is not there: named. */
	snprintf(c.kubeconfig, sizeof(c.kubeconfig), "%s/no/such/kubeconfig", dir);
	err[0] = '\0';
	assert_int_equal(kube_open(&k, &c, err, sizeof(err)), -ENOENT);
	if (!strstr(err, c.kubeconfig))
		fail_msg("error \"%s\" does not name %s", err, c.kubeconfig);
	kube_close(&k);                   /* after a failed open: harmless */
}

/* insecure-skip-tls-verify: YAML booleans. */
static void test_kubeconfig_insecure(void **state)
{
	static const char *const base =
		"clusters: [{name: c, cluster: {server: \"https://h:1\", insecure-skip-tls-verify: %s}}]\n"
		"contexts: [{name: x, context: {cluster: c}}]\ncurrent-context: x\n";
	char yaml[512], err[512];
	struct kube k;

	(void)state;
	snprintf(yaml, sizeof(yaml), base, "true");
	assert_int_equal(open_kc(&k, yaml, err, sizeof(err)), 0);
	assert_true(k.insecure);
	kube_close(&k);
	snprintf(yaml, sizeof(yaml), base, "false");
	assert_int_equal(open_kc(&k, yaml, err, sizeof(err)), 0);
	assert_false(k.insecure);
	kube_close(&k);
}

/* A quoted "false" is a string, not a boolean: it must not turn TLS
 * verification off (kubectl rejects it: cannot unmarshal string into bool). */
static void test_kubeconfig_insecure_quoted_false(void **state)
{
	static const char *const yaml =
		"clusters: [{name: c, cluster: {server: \"https://h:1\", "
		"insecure-skip-tls-verify: \"false\"}}]\n"
		"contexts: [{name: x, context: {cluster: c}}]\ncurrent-context: x\n";
	char err[512] = "";
	struct kube k;
	int rc;

	(void)state;
	rc = open_kc(&k, yaml, err, sizeof(err));
	if (!rc) {
		bool insecure = k.insecure;

		kube_close(&k);
		if (insecure)
			fail_msg("insecure-skip-tls-verify: \"false\" turned verification off");
	}
}

/* ---- in-cluster, more ------------------------------------------------------- */

static void test_in_cluster_more(void **state)
{
	struct cfg_kube c = { .enabled = true, .in_cluster = true };
	char err[512], want[256];
	struct kube k;
	CURL *h;

	(void)state;
	snprintf(c.sa_dir, sizeof(c.sa_dir), "%s/sa2", dir);
	assert_int_equal(mkdir(c.sa_dir, 0700), 0);
	put("sa2/token", "sa-token-1\r\n\n");
	setenv("KUBERNETES_SERVICE_HOST", "kubernetes.default.svc", 1);
	unsetenv("KUBERNETES_SERVICE_PORT");
	assert_int_equal(kube_open(&k, &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "KUBERNETES_SERVICE_PORT"));
	setenv("KUBERNETES_SERVICE_PORT", "", 1);
	assert_int_equal(kube_open(&k, &c, err, sizeof(err)), -EINVAL);
	setenv("KUBERNETES_SERVICE_HOST", "", 1);
	setenv("KUBERNETES_SERVICE_PORT", "6443", 1);
	assert_int_equal(kube_open(&k, &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "KUBERNETES_SERVICE_HOST"));
	setenv("KUBERNETES_SERVICE_HOST", "kubernetes.default.svc", 1);
	/* No ca.crt: the full path is named. */
	snprintf(want, sizeof(want), "%s/sa2/ca.crt", dir);
	assert_int_equal(kube_open(&k, &c, err, sizeof(err)), -ENOENT);
	if (!strstr(err, want))
		fail_msg("error \"%s\" does not name %s", err, want);
	put("sa2/ca.crt", "-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----\n");
	assert_int_equal(kube_open(&k, &c, err, sizeof(err)), 0);
	assert_string_equal(k.server, "https://kubernetes.default.svc:6443");
	assert_int_equal(k.ca.len, strlen("-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----\n"));
	assert_null(k.token);
	assert_false(k.insecure);
	/* The service account's token, through kube_setup, white space stripped;
	 * then rotated. */
	h = kube_handle();
	assert_non_null(h);
	expect_bearer(&k, h, "sa-token-1", NULL);
	put("sa2/token", "sa-token-2\n");
	expect_bearer(&k, h, "sa-token-2", "sa-token-1");
	curl_easy_cleanup(h);
	kube_close(&k);

	setenv("KUBERNETES_SERVICE_HOST", "2001:db8::10", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	assert_int_equal(kube_open(&k, &c, err, sizeof(err)), 0);
	assert_string_equal(k.server, "https://[2001:db8::10]:443");
	kube_close(&k);
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
}

/* A kubeconfig's literal token, through kube_setup; no credentials: no
 * Authorization header. */
static void test_setup_literal_token(void **state)
{
	struct curl_slist *hdrs = NULL;
	char err[512];
	struct kube k;
	CURL *h;
	int n = 0;

	(void)state;
	assert_int_equal(open_kc(&k, "clusters: [{name: c, cluster: {server: \"https://h:1\"}}]\n"
				 "users: [{name: u, user: {token: lit-token}}]\n"
				 "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
				 "current-context: x\n", err, sizeof(err)), 0);
	h = kube_handle();
	assert_non_null(h);
	assert_int_equal(kube_setup(&k, h, "/api", &hdrs), 0);
	assert_true(has_header(hdrs, "Authorization: Bearer lit-token"));
	curl_slist_free_all(hdrs);
	hdrs = NULL;
	kube_close(&k);
	assert_int_equal(open_kc(&k, "clusters: [{name: c, cluster: {server: \"https://h:1\"}}]\n"
				 "contexts: [{name: x, context: {cluster: c}}]\n"
				 "current-context: x\n", err, sizeof(err)), 0);
	assert_int_equal(kube_setup(&k, h, "/api", &hdrs), 0);
	for (struct curl_slist *l = hdrs; l; l = l->next) {
		assert_null(strstr(l->data, "Authorization"));
		n++;
	}
	assert_int_equal(n, 1);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
	kube_close(&k);
}

/* ---- conflist, more ----------------------------------------------------- */

static void test_cniconf_fields(void **state)
{
	struct json_object *c, *p, *ipam, *ranges, *r;
	char path[256], sub[200];
	struct dirent *de;
	DIR *d;

	(void)state;
	snprintf(sub, sizeof(sub), "%s/sub", dir);
	snprintf(path, sizeof(path), "%s/05-xdpath.conflist", sub);
	agent_for_conf(path);
	a.tunnel_ifindex = 0;
	c = cniconf_build(&a);
	assert_non_null(c);
	assert_string_equal(kube_str(c, "cniVersion"), "1.1.0");
	assert_string_equal(kube_str(c, "name"), "xdpath");
	assert_non_null(kube_arr(c, "plugins"));
	assert_int_equal(json_object_array_length(kube_arr(c, "plugins")), 1);
	p = json_object_array_get_idx(kube_arr(c, "plugins"), 0);
	assert_string_equal(kube_str(p, "type"), "xdpath");
	assert_int_equal(json_object_get_int(kube_get(p, "mtu")), 1400);
	assert_string_equal(kube_str(p, "endpointDir"), "/run/x/endpoints");
	assert_string_equal(kube_str(kube_obj(p, "datapath"), "pinRoot"), "/sys/fs/bpf/x");
	ipam = kube_obj(p, "ipam");
	assert_string_equal(kube_str(ipam, "type"), "xdpath");
	assert_string_equal(kube_str(ipam, "dataDir"), "/run/x/ipam");
	ranges = kube_arr(ipam, "ranges");
	assert_non_null(ranges);
	assert_int_equal(json_object_array_length(ranges), 2);
	r = json_tokener_parse("[[{\"subnet\":\"10.244.1.0/24\"}],[{\"subnet\":\"fd00:10:244:1::/64\"}]]");
	assert_true(json_object_equal(ranges, r));
	json_object_put(r);
	json_object_put(c);

	/* No configured MTU and no tunnel: the plugin's default (no key). */
	a.cfg.cni_conf.mtu = 0;
	c = cniconf_build(&a);
	p = json_object_array_get_idx(kube_arr(c, "plugins"), 0);
	assert_null(kube_get(p, "mtu"));
	json_object_put(c);
	a.cfg.cni_conf.mtu = 1400;

	/* No pod CIDRs: -ENODATA, nothing written, not even the directory. */
	a.cfg.npod_cidrs = 0;
	assert_int_equal(cniconf_write(&a), -ENODATA);
	assert_int_not_equal(access(path, F_OK), 0);
	a.cfg.npod_cidrs = 2;
	assert_int_equal(cniconf_write(&a), 0);
	c = json_object_from_file(path);
	assert_non_null(c);
	r = cniconf_build(&a);
	assert_true(json_object_equal(c, r));
	json_object_put(r);
	json_object_put(c);
	d = opendir(sub);
	assert_non_null(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			assert_string_equal(de->d_name, "05-xdpath.conflist");
	closedir(d);
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
		cmocka_unit_test(test_kubeconfig_current_context),
		cmocka_unit_test(test_kubeconfig_ca_data_exact),
		cmocka_unit_test(test_kubeconfig_ca_file),
		cmocka_unit_test(test_kubeconfig_user_credentials),
		cmocka_unit_test(test_kubeconfig_error_messages),
		cmocka_unit_test(test_kubeconfig_insecure),
		cmocka_unit_test(test_kubeconfig_insecure_quoted_false),
		cmocka_unit_test(test_in_cluster_more),
		cmocka_unit_test(test_setup_literal_token),
		cmocka_unit_test(test_cniconf_fields),
	};

	log_min_level = LOG_ERROR + 1;
	return cmocka_run_group_tests(tests, setup, teardown);
}
