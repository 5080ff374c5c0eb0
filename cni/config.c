/* config: the network configuration on stdin -> struct netconf.
 * Owns every key xdpath reads, their defaults and their validation. */
#include "cni.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "xdpath/datapath.h"

/* A string member, or NULL. -1 if present but not a string. */
static int get_str(struct json_object *o, const char *key, const char **out)
{
	struct json_object *v;

	*out = NULL;
	if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return -1;
	*out = json_object_get_string(v);
	return 0;
}

static int copy_str(struct json_object *o, const char *key, char *dst, size_t len,
		    const char *def, struct cni_err *e)
{
	const char *s;

	if (get_str(o, key, &s))
		return cni_fail(e, CNI_ERR_INVALID_CONFIG, "invalid network config",
				"\"%s\" must be a string", key);
	if (!s)
		s = def;
	if (strlen(s) >= len)
		return cni_fail(e, CNI_ERR_INVALID_CONFIG, "invalid network config",
				"\"%s\" is longer than %zu bytes", key, len - 1);
	strcpy(dst, s);
	return 0;
}

static int get_int(struct json_object *o, const char *key, int lo, int hi, int def, int *out,
		   struct cni_err *e)
{
	struct json_object *v;

	*out = def;
	if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_int))
		return cni_fail(e, CNI_ERR_INVALID_CONFIG, "invalid network config",
				"\"%s\" must be an integer", key);
	int64_t x = json_object_get_int64(v);
	if (x < lo || x > hi)
		return cni_fail(e, CNI_ERR_INVALID_CONFIG, "invalid network config",
				"\"%s\" %lld is out of range %d..%d", key, (long long)x, lo, hi);
	*out = (int)x;
	return 0;
}

static int parse_version(struct json_object *root, enum cni_cmd cmd, struct netconf *nc,
			 struct cni_err *e)
{
	const char *v;

	if (get_str(root, "cniVersion", &v))
		return cni_fail(e, CNI_ERR_DECODE, "failed to decode version",
				"\"cniVersion\" must be a string");
	if (!v)
		return cni_fail(e, CNI_ERR_INVALID_CONFIG, "invalid network config",
				"\"cniVersion\" is required");
	if (strlen(v) >= sizeof(nc->cni_version) || (nc->version = cni_version_parse(v)) < 0)
		return cni_fail(e, CNI_ERR_DECODE, "failed to decode version",
				"cniVersion \"%.32s\" is not a version string", v);
	strcpy(nc->cni_version, v);
	if (!cni_version_supported(nc->version))
		return cni_fail(e, CNI_ERR_INCOMPATIBLE_VERSION, "incompatible CNI versions",
				"config is \"%s\", plugin supports [0.3.0 0.3.1 0.4.0 1.0.0 1.1.0]",
				v);
	if (cmd == CMD_CHECK && nc->version < CNI_V(0, 4, 0))
		return cni_fail(e, CNI_ERR_INCOMPATIBLE_VERSION, "incompatible CNI versions",
				"config version %s does not allow CHECK (needs >= 0.4.0)", v);
	if ((cmd == CMD_GC || cmd == CMD_STATUS) && nc->version < CNI_V(1, 1, 0))
		return cni_fail(e, CNI_ERR_INCOMPATIBLE_VERSION, "incompatible CNI versions",
				"config version %s does not allow %s (needs >= 1.1.0)", v,
				cmd == CMD_GC ? "GC" : "STATUS");
	return 0;
}

static int parse_ipam(struct json_object *root, struct netconf *nc, struct cni_err *e)
{
	struct json_object *ipam;
	char err[512];

	if (!json_object_object_get_ex(root, "ipam", &ipam) ||
	    !json_object_is_type(ipam, json_type_object))
		return cni_fail(e, CNI_ERR_INVALID_CONFIG, "invalid network config",
				"\"ipam\" object is required (e.g. {\"type\": \"xdpath\", "
				"\"ranges\": [[{\"subnet\": \"10.244.0.0/24\"}]]})");
	if (copy_str(ipam, "type", nc->ipam_type, sizeof(nc->ipam_type), "", e))
		return e->code;
	if (!nc->ipam_type[0])
		return cni_fail(e, CNI_ERR_INVALID_CONFIG, "invalid network config",
				"\"ipam.type\" is required");
	if (strchr(nc->ipam_type, '/'))
		return cni_fail(e, CNI_ERR_INVALID_CONFIG, "invalid network config",
				"\"ipam.type\" \"%s\" must be a plugin name, not a path",
				nc->ipam_type);
	nc->ipam_builtin = !strcmp(nc->ipam_type, "xdpath");
	if (!nc->ipam_builtin)
		return 0;
	if (ipam_config_parse(ipam, nc->name, &nc->ipam, err, sizeof(err)))
		return cni_fail(e, CNI_ERR_INVALID_CONFIG, "invalid network config", "%s", err);
	/* The kernel disables IPv6 on a link whose MTU is below 1280. */
	for (int i = 0; i < nc->ipam.nsets && nc->mtu && nc->mtu < 1280; i++)
		if (nc->ipam.sets[i].n && nc->ipam.sets[i].r[0].subnet.ip.family == AF_INET6)
			return cni_fail(e, CNI_ERR_INVALID_CONFIG, "invalid network config",
					"\"mtu\" %d is below 1280, the IPv6 minimum, and range "
					"set %d is IPv6", nc->mtu, i);
	return 0;
}

static int parse_object_member(struct json_object *root, const char *key,
			       struct json_object **out, struct cni_err *e)
{
	struct json_object *v;

	*out = NULL;
	if (!json_object_object_get_ex(root, key, &v) || json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_object))
		return cni_fail(e, CNI_ERR_INVALID_CONFIG, "invalid network config",
				"\"%s\" must be an object", key);
	*out = v;
	return 0;
}

/* "datapath": {"pinRoot": "/sys/fs/bpf/xdpath", "policyWaitMs": 2000}: the
 * node runs xdpathd and every pod must be on its datapath. Absent: routes
 * only. */
static int parse_datapath(struct json_object *root, struct netconf *nc, struct cni_err *e)
{
	struct json_object *dp;

	if (parse_object_member(root, "datapath", &dp, e) || !dp)
		return e->code;
	if (copy_str(dp, "pinRoot", nc->dp_root, sizeof(nc->dp_root), XDP_DEFAULT_PIN_ROOT, e))
		return e->code;
	if (nc->dp_root[0] != '/')
		return cni_fail(e, CNI_ERR_INVALID_CONFIG, "invalid network config",
				"\"datapath.pinRoot\" \"%s\" must be an absolute path", nc->dp_root);
	return get_int(dp, "policyWaitMs", 0, 60000, XDP_DEFAULT_POLICY_WAIT_MS,
		       &nc->policy_wait_ms, e);
}

int netconf_parse(const char *buf, size_t len, enum cni_cmd cmd, struct netconf *nc,
		  struct cni_err *e)
{
	struct json_tokener *tok;
	struct json_object *root;
	enum json_tokener_error jerr;
	size_t off;

	memset(nc, 0, sizeof(*nc));
	nc->raw = buf;
	nc->raw_len = len;
	tok = json_tokener_new();
	if (!tok)
		return cni_fail(e, CNI_ERR_INTERNAL, "out of memory", "json_tokener_new");
	root = json_tokener_parse_ex(tok, buf, (int)len);
	jerr = json_tokener_get_error(tok);
	off = tok->char_offset;
	if (jerr == json_tokener_continue && len) {
		/* The end of input completes a top-level scalar ("5", "null"). */
		root = json_tokener_parse_ex(tok, "", 1);
		jerr = json_tokener_get_error(tok);
	}
	/* Only whitespace may follow the value. */
	for (size_t i = off; jerr == json_tokener_success && i < len; i++)
		if (!buf[i] || !strchr(" \t\r\n", buf[i]))
			jerr = json_tokener_error_parse_unexpected;
	json_tokener_free(tok);
	if (jerr != json_tokener_success) {
		json_object_put(root);
		return cni_fail(e, CNI_ERR_DECODE, "failed to decode network config",
				"invalid JSON at byte %zu: %s", off,
				len ? json_tokener_error_desc(jerr) : "empty input");
	}
	nc->root = root;
	if (!json_object_is_type(root, json_type_object))
		return cni_fail(e, CNI_ERR_DECODE, "failed to decode network config",
				"network config must be a JSON object");

	if (parse_version(root, cmd, nc, e))
		return e->code;
	if (cmd == CMD_VERSION)
		return 0;

	if (copy_str(root, "name", nc->name, sizeof(nc->name), "", e))
		return e->code;
	if (!nc->name[0])
		return cni_fail(e, CNI_ERR_INVALID_CONFIG, "invalid network config",
				"\"name\" is required");
	if (!cni_valid_network_name(nc->name))
		return cni_fail(e, CNI_ERR_INVALID_CONFIG, "invalid network config",
				"network name \"%s\" must match ^[a-zA-Z0-9][a-zA-Z0-9_.\\-]*$",
				nc->name);
	if (get_int(root, "mtu", 68, 65535, 0, &nc->mtu, e) ||
	    get_int(root, "lockTimeoutMs", 1, 600000, XDP_DEFAULT_LOCK_TIMEOUT_MS,
		    &nc->lock_timeout_ms, e) ||
	    copy_str(root, "hostVethPrefix", nc->host_prefix, sizeof(nc->host_prefix),
		     XDP_DEFAULT_HOST_PREFIX, e) ||
	    copy_str(root, "endpointDir", nc->endpoint_dir, sizeof(nc->endpoint_dir),
		     XDP_DEFAULT_ENDPOINT_DIR, e))
		return e->code;
	/* host veth = prefix + 11 hex digits, and IFNAMSIZ leaves 15 bytes. */
	if (!nc->host_prefix[0] || strlen(nc->host_prefix) > 4 ||
	    strpbrk(nc->host_prefix, "/: \t\n\v\f\r"))
		return cni_fail(e, CNI_ERR_INVALID_CONFIG, "invalid network config",
				"\"hostVethPrefix\" \"%s\" must be 1-4 characters without "
				"'/', ':' or spaces",
				nc->host_prefix);
	if (nc->endpoint_dir[0] != '/')
		return cni_fail(e, CNI_ERR_INVALID_CONFIG, "invalid network config",
				"\"endpointDir\" \"%s\" must be an absolute path",
				nc->endpoint_dir);
	if (parse_object_member(root, "dns", &nc->dns, e) || parse_datapath(root, nc, e))
		return e->code;
	if (parse_object_member(root, "prevResult", &nc->prev, e)) {
		/* DEL is best effort: a bad cached result must not block cleanup,
		 * which works from our own state anyway. */
		if (cmd != CMD_DEL)
			return e->code;
		fprintf(stderr, "xdpath: DEL: ignoring prevResult: %s\n", e->details);
		memset(e, 0, sizeof(*e));
	}
	return parse_ipam(root, nc, e);
}

void netconf_free(struct netconf *nc)
{
	json_object_put(nc->root);
	nc->root = NULL;
}
