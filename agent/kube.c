/* kube: API server connection config and requests (libcurl, json-c). */
#include "kube.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "fsutil.h"
#include "hbuf.h"
#include "load.h"

#define TOKEN_MAX (64 * 1024)
#define KUBE_CONNECT_TIMEOUT_S 5L
#define KUBE_REQUEST_TIMEOUT_S 30L

/* The message into err; returns code. */
static int __attribute__((format(printf, 4, 5))) errf(char *err, size_t len, int code,
						      const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return code;
}

/* ---- blobs and base64 ------------------------------------------------------ */

static int blob_file(struct kube_blob *b, const char *path)
{
	size_t len = 0;
	char *text = NULL;
	int err = read_all_at(AT_FDCWD, path, &text, &len);

	if (err)
		return err;
	b->p = text;
	b->len = len;
	return 0;
}

static int b64val(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Standard base64 (kubeconfig *-data fields); white space skipped, nothing
 * but padding after the data. */
static int blob_b64(struct kube_blob *b, const char *s)
{
	size_t n = strlen(s);
	unsigned acc = 0;
	int bits = 0;
	char *out = malloc(n * 3 / 4 + 4);
	const char *p;

	if (!out)
		return -ENOMEM;
	b->len = 0;
	for (p = s; *p && *p != '='; p++) {
		int v = b64val((unsigned char)*p);

		if (v < 0) {
			if (strchr(" \t\r\n", *p))
				continue;
			free(out);
			return -EINVAL;
		}
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[b->len++] = (char)((acc >> bits) & 0xff);
		}
	}
	/* Padding and white space only after the data; no dangling 6 bits. */
	for (; *p; p++)
		if (!strchr("= \t\r\n", *p))
			bits = 6;
	if (bits >= 6) {
		free(out);
		return -EINVAL;
	}
	out[b->len] = '\0';
	b->p = out;
	return 0;
}

static void blob_free(struct kube_blob *b)
{
	free(b->p);
	b->p = NULL;
	b->len = 0;
}

/* ---- in-cluster ------------------------------------------------------------ */

static int open_in_cluster(struct kube *k, const struct cfg_kube *cfg, char *err, size_t len)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST"), *port = getenv("KUBERNETES_SERVICE_PORT");
	char path[PATH_MAX];
	int rc;

	if (!host || !*host || !port || !*port)
		return errf(err, len, -EINVAL, "kubernetes.inCluster: KUBERNETES_SERVICE_HOST and "
			    "KUBERNETES_SERVICE_PORT must be set");
	snprintf(k->server, sizeof(k->server), strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s",
		 host, port);
	if ((size_t)snprintf(k->token_file, sizeof(k->token_file), "%.4000s/token", cfg->sa_dir) >=
		    sizeof(k->token_file) ||
	    (size_t)snprintf(path, sizeof(path), "%.4000s/ca.crt", cfg->sa_dir) >= sizeof(path))
		return errf(err, len, -ENAMETOOLONG, "kubernetes.serviceAccountDir: too long");
	rc = blob_file(&k->ca, path);
	if (rc)
		return errf(err, len, rc, "kubernetes.inCluster: cannot read %s: %s", path,
			    strerror(-rc));
	return 0;
}

/* ---- kubeconfig ------------------------------------------------------------ */

struct json_object *kube_get(struct json_object *o, const char *key)
{
	struct json_object *v;

	return o && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

const char *kube_str(struct json_object *o, const char *key)
{
	struct json_object *v = kube_get(o, key);

	return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

struct json_object *kube_obj(struct json_object *o, const char *key)
{
	struct json_object *v = kube_get(o, key);

	return json_object_is_type(v, json_type_object) ? v : NULL;
}

struct json_object *kube_arr(struct json_object *o, const char *key)
{
	struct json_object *v = kube_get(o, key);

	return json_object_is_type(v, json_type_array) ? v : NULL;
}

/* The entry named name of a kubeconfig list ("clusters", "users",
 * "contexts"): its inner object under field. */
static struct json_object *named(struct json_object *doc, const char *list, const char *name,
				 const char *field)
{
	struct json_object *arr;

	if (!json_object_object_get_ex(doc, list, &arr) || !json_object_is_type(arr, json_type_array))
		return NULL;
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *it = json_object_array_get_idx(arr, i);
		const char *n = kube_str(it, "name");

		if (n && !strcmp(n, name))
			return kube_obj(it, field);
	}
	return NULL;
}

/* A file path of the kubeconfig, relative to the kubeconfig's directory. */
static void rel_path(char *out, size_t len, const char *dir, const char *p)
{
	snprintf(out, len, p[0] == '/' ? "%s%s" : "%s/%s", p[0] == '/' ? "" : dir, p);
}

/* data (base64) or file, into b; neither: left empty. */
static int load_pem(struct kube_blob *b, struct json_object *o, const char *data_key,
		    const char *file_key, const char *dir, char *err, size_t len)
{
	const char *data = kube_str(o, data_key), *file = kube_str(o, file_key);
	char path[PATH_MAX];
	int rc;

	if (data) {
		rc = blob_b64(b, data);
		return rc ? errf(err, len, rc, "kubeconfig: %s: not base64", data_key) : 0;
	}
	if (!file)
		return 0;
	rel_path(path, sizeof(path), dir, file);
	rc = blob_file(b, path);
	return rc ? errf(err, len, rc, "kubeconfig: cannot read %s: %s", path, strerror(-rc)) : 0;
}

static int load_user(struct kube *k, struct json_object *user, const char *dir, char *err,
		     size_t len)
{
	const char *tok = kube_str(user, "token"), *tokfile = kube_str(user, "tokenFile");
	int rc;

	if (kube_obj(user, "exec") || kube_obj(user, "auth-provider"))
		return errf(err, len, -ENOTSUP, "kubeconfig: the user's %s plugin is not supported; "
			    "use a token or a client certificate",
			    kube_obj(user, "exec") ? "exec" : "auth-provider");
	if (tok && !(k->token = strdup(tok)))
		return -ENOMEM;
	if (tokfile)
		rel_path(k->token_file, sizeof(k->token_file), dir, tokfile);
	rc = load_pem(&k->cert, user, "client-certificate-data", "client-certificate", dir, err,
		      len);
	if (!rc)
		rc = load_pem(&k->key, user, "client-key-data", "client-key", dir, err, len);
	if (!rc && !k->cert.len != !k->key.len)
		rc = errf(err, len, -EINVAL, "kubeconfig: a client certificate needs its key and "
			  "the key its certificate");
	return rc;
}

static int parse_kubeconfig(struct kube *k, struct json_object *doc, const char *dir, char *err,
			    size_t len)
{
	const char *cur = kube_str(doc, "current-context"), *cname, *uname, *server;
	struct json_object *ctx, *cluster, *user;
	struct json_object *ins;
	int rc;

	if (!cur || !*cur)
		return errf(err, len, -EINVAL, "kubeconfig: no current-context");
	ctx = named(doc, "contexts", cur, "context");
	if (!ctx)
		return errf(err, len, -EINVAL, "kubeconfig: context \"%s\" not found", cur);
	cname = kube_str(ctx, "cluster");
	uname = kube_str(ctx, "user");
	cluster = cname ? named(doc, "clusters", cname, "cluster") : NULL;
	if (!cluster)
		return errf(err, len, -EINVAL, "kubeconfig: cluster \"%s\" of context \"%s\" not found",
			    cname ? cname : "", cur);
	server = kube_str(cluster, "server");
	if (!server || strncmp(server, "https://", 8))
		return errf(err, len, -EINVAL, "kubeconfig: cluster \"%s\": server must be an "
			    "https:// URL", cname);
	snprintf(k->server, sizeof(k->server), "%s", server);
	while (k->server[0] && k->server[strlen(k->server) - 1] == '/')
		k->server[strlen(k->server) - 1] = '\0';
	/* Only a real boolean: a quoted "false" must not turn verification off. */
	if (json_object_object_get_ex(cluster, "insecure-skip-tls-verify", &ins)) {
		if (!json_object_is_type(ins, json_type_boolean))
			return errf(err, len, -EINVAL, "kubeconfig: cluster \"%s\": "
				    "insecure-skip-tls-verify must be true or false", cname);
		k->insecure = json_object_get_boolean(ins);
	}
	rc = load_pem(&k->ca, cluster, "certificate-authority-data", "certificate-authority", dir,
		      err, len);
	if (rc)
		return rc;
	user = uname ? named(doc, "users", uname, "user") : NULL;
	if (uname && !user)
		return errf(err, len, -EINVAL, "kubeconfig: user \"%s\" not found", uname);
	return user ? load_user(k, user, dir, err, len) : 0;
}

static int syntax(void *arg, int line, int col, const char *msg)
{
	char *err = arg;

	snprintf(err, 256, "kubeconfig:%d:%d: %s", line, col, msg);
	return 0;
}

static int open_kubeconfig(struct kube *k, const char *path, char *err, size_t len)
{
	struct docs docs = { 0 };
	char *text = NULL, dirbuf[PATH_MAX], synerr[256] = "";
	size_t tlen = 0;
	int rc = read_all_at(AT_FDCWD, path, &text, &tlen);

	if (rc)
		return errf(err, len, rc, "kubernetes.kubeconfig: cannot read %s: %s", path,
			    strerror(-rc));
	rc = load_docs(text ? text : "", tlen, &docs, syntax, synerr);
	free(text);
	if (!rc && (docs.n != 1 || !json_object_is_type(docs.v[0].v, json_type_object)))
		rc = errf(err, len, -EINVAL, "kubernetes.kubeconfig: %s: %s", path,
			  synerr[0] ? synerr : "not one YAML mapping");
	if (!rc) {
		snprintf(dirbuf, sizeof(dirbuf), "%s", path);
		rc = parse_kubeconfig(k, docs.v[0].v, dirname(dirbuf), err, len);
	}
	docs_free(&docs);
	return rc;
}

int kube_open(struct kube *k, const struct cfg_kube *cfg, char *err, size_t errlen)
{
	int rc;

	memset(k, 0, sizeof(*k));
	snprintf(k->user_agent, sizeof(k->user_agent), "xdpathd/" XDPATH_VERSION);
	if (curl_global_init(CURL_GLOBAL_DEFAULT))
		return errf(err, errlen, -ENOMEM, "cannot initialise libcurl");
	rc = cfg->in_cluster ? open_in_cluster(k, cfg, err, errlen)
			     : open_kubeconfig(k, cfg->kubeconfig, err, errlen);
	if (rc)
		kube_close(k);
	return rc;
}

void kube_close(struct kube *k)
{
	blob_free(&k->ca);
	blob_free(&k->cert);
	blob_free(&k->key);
	free(k->token);
	k->token = NULL;
}

/* ---- requests -------------------------------------------------------------- */

CURL *kube_handle(void)
{
	return curl_easy_init();
}

/* The bearer token: the file's (re-read, a rotated token takes effect at the
 * next request) or the literal one. */
static int bearer(const struct kube *k, char *buf, size_t len)
{
	char *text = NULL;
	size_t n = 0;
	int rc;

	buf[0] = '\0';
	if (!k->token_file[0]) {
		if (k->token)
			snprintf(buf, len, "Authorization: Bearer %s", k->token);
		return 0;
	}
	rc = read_all_at(AT_FDCWD, k->token_file, &text, &n);
	if (rc)
		return rc;
	while (n && strchr(" \t\r\n", text[n - 1]))
		n--;
	if (n >= TOKEN_MAX || !n) { /* an empty token is no token: say so */
		free(text);
		return n ? -E2BIG : -ENODATA;
	}
	snprintf(buf, len, "Authorization: Bearer %.*s", (int)n, text ? text : "");
	free(text);
	return 0;
}

static void set_blob(CURL *h, CURLoption opt, const struct kube_blob *b)
{
	struct curl_blob cb = { .data = b->p, .len = b->len, .flags = CURL_BLOB_COPY };

	curl_easy_setopt(h, opt, &cb);
}

int kube_setup(const struct kube *k, CURL *h, const char *path, struct curl_slist **hdrs)
{
	/* Per thread: every watcher has its own handle and header. */
	static __thread char *tauth;
	char url[2048];
	int rc;

	if (!tauth && !(tauth = malloc(TOKEN_MAX + 32)))
		return -ENOMEM;
	curl_easy_reset(h);
	snprintf(url, sizeof(url), "%s%s", k->server, path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_USERAGENT, k->user_agent);
	curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, KUBE_CONNECT_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPIDLE, 15L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPINTVL, 5L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
	if (k->ca.len)
		set_blob(h, CURLOPT_CAINFO_BLOB, &k->ca);
	if (k->insecure) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (k->cert.len) {
		set_blob(h, CURLOPT_SSLCERT_BLOB, &k->cert);
		set_blob(h, CURLOPT_SSLKEY_BLOB, &k->key);
	}
	*hdrs = curl_slist_append(NULL, "Accept: application/json");
	rc = bearer(k, tauth, TOKEN_MAX + 32);
	if (rc)
		return rc;
	if (tauth[0])
		*hdrs = curl_slist_append(*hdrs, tauth);
	return *hdrs ? 0 : -ENOMEM;
}

size_t kube_buf_write(char *data, size_t size, size_t n, void *arg)
{
	return hbuf_put(arg, data, size * n) ? 0 : size * n;
}

int kube_request(const struct kube *k, CURL *h, const char *method, const char *path,
		 const char *body, long *status, struct json_object **out, char *err,
		 size_t errlen)
{
	struct curl_slist *hdrs = NULL;
	struct hbuf s = { 0 };
	CURLcode cc;
	int rc;

	*status = 0;
	*out = NULL;
	rc = kube_setup(k, h, path, &hdrs);
	if (rc) {
		snprintf(err, errlen, "cannot read the token: %s", strerror(-rc));
		goto out;
	}
	if (body) {
		hdrs = curl_slist_append(hdrs, strcmp(method, "PATCH")
						       ? "Content-Type: application/json"
						       : "Content-Type: application/merge-patch+json");
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	}
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, KUBE_REQUEST_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, kube_buf_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
	cc = curl_easy_perform(h);
	if (cc != CURLE_OK) {
		rc = cc == CURLE_WRITE_ERROR ? -ENOMEM : -EIO; /* only the buffer refuses */
		snprintf(err, errlen, "%s", curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
	if (s.buf)
		*out = json_tokener_parse(s.buf);
out:
	curl_slist_free_all(hdrs);
	free(s.buf);
	return rc;
}

const char *kube_status_message(struct json_object *st)
{
	const char *m = kube_str(st, "message");

	return m ? m : "(no message)";
}
