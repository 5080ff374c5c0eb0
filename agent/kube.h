/* kube: the connection to the Kubernetes API server, and plain requests on
 * it. Owns the client configuration (in-cluster: the service account's
 * token, re-read at every request so that a rotated one is picked up, its
 * CA bundle and KUBERNETES_SERVICE_HOST/PORT; or a kubeconfig, parsed with
 * libyaml: current-context -> cluster (server, certificate-authority[-data],
 * insecure-skip-tls-verify) and user (token, tokenFile,
 * client-certificate[-data] / client-key[-data]; exec and auth-provider
 * plugins are refused)) and libcurl handles set up with it (TLS, HTTP/2
 * where the server offers it, bearer token). Thread-safe after
 * kube_open: every thread uses its own handle. kwatch.c builds list and
 * watch on it. */
#ifndef XDPATH_AGENT_KUBE_H
#define XDPATH_AGENT_KUBE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"

struct json_object;
typedef void CURL;
struct curl_slist;

struct kube_blob {
	char *p;
	size_t len;
};

struct kube {
	char server[512];            /* https://host:port, no trailing slash */
	struct kube_blob ca;         /* PEM CA bundle (len 0: system CAs) */
	bool insecure;               /* insecure-skip-tls-verify */
	char token_file[PATH_MAX];   /* re-read per request; "" when none */
	char *token;                 /* a kubeconfig's literal token, or NULL */
	struct kube_blob cert, key;  /* client certificate and key (PEM) */
	char user_agent[96];
};

/* From the agent config's "kubernetes" section. 0, or -errno with a
 * message in err naming what is missing or wrong. */
int kube_open(struct kube *k, const struct cfg_kube *cfg, char *err, size_t errlen);
void kube_close(struct kube *k);

/* A handle for requests on k (kube_setup per request). NULL on ENOMEM. */
CURL *kube_handle(void);
/* Point h at path (e.g. "/api/v1/pods?watch=1"), with TLS and
 * authentication. *hdrs must be freed (curl_slist_free_all) after the
 * request. 0 or -errno (the token file cannot be read). */
int kube_setup(const struct kube *k, CURL *h, const char *path, struct curl_slist **hdrs);

/* One request with a JSON answer. method "GET" / "POST" / "PATCH"; body
 * NULL or JSON (patch: merge patch). *status is the HTTP status (0 when no
 * answer came); *out the parsed body (NULL if none or not JSON). 0, or
 * -errno for a transport failure (message in err). */
int kube_request(const struct kube *k, CURL *h, const char *method, const char *path,
		 const char *body, long *status, struct json_object **out, char *err,
		 size_t errlen);

/* A curl write callback appending the body to a struct hbuf (hbuf.h; as
 * CURLOPT_WRITEDATA); a buffer that cannot grow fails the transfer. */
size_t kube_buf_write(char *data, size_t size, size_t n, void *buf);

/* Members of a JSON object (NULL when o is NULL, the key is absent or of
 * another type): any value, a string, an object, an array. */
struct json_object *kube_get(struct json_object *o, const char *key);
const char *kube_str(struct json_object *o, const char *key);
struct json_object *kube_obj(struct json_object *o, const char *key);
struct json_object *kube_arr(struct json_object *o, const char *key);

/* A Status object's message, or a fallback, for logs. */
const char *kube_status_message(struct json_object *status_obj);

#endif
