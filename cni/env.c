/* env: CNI error reporting, spec versions, and the CNI_* environment. */
#include "cni.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *const cni_supported_versions[] = { "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0", NULL };

int cni_fail(struct cni_err *e, int code, const char *msg, const char *details_fmt, ...)
{
	va_list ap;

	if (e->code)
		return e->code;
	e->code = code;
	snprintf(e->msg, sizeof(e->msg), "%s", msg);
	va_start(ap, details_fmt);
	vsnprintf(e->details, sizeof(e->details), details_fmt, ap);
	va_end(ap);
	return code;
}

int cni_version_parse(const char *s)
{
	unsigned a, b, c;
	char tail;

	/* Digits and dots only: sscanf alone would take " 1.+0.0". */
	if (!s || !isdigit((unsigned char)s[0]) || s[strspn(s, "0123456789.")] ||
	    sscanf(s, "%u.%u.%u%c", &a, &b, &c, &tail) != 3 || a > 99 || b > 99 || c > 99)
		return -1;
	return CNI_V(a, b, c);
}

bool cni_version_supported(int v)
{
	for (int i = 0; cni_supported_versions[i]; i++)
		if (cni_version_parse(cni_supported_versions[i]) == v)
			return true;
	return false;
}

/* Container IDs and network names: ^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$ (libcni). */
static bool valid_id(const char *s)
{
	if (!s || !isalnum((unsigned char)s[0]))
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("_.-", *s))
			return false;
	return true;
}

/* Interface names: 1..15 bytes, not "." or "..", no '/', ':' or whitespace. */
static bool valid_ifname(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > 15 || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (; *s; s++)
		if (*s == '/' || *s == ':' || isspace((unsigned char)*s))
			return false;
	return true;
}

static const struct {
	const char *name;
	enum cni_cmd cmd;
} commands[] = {
	{ "ADD", CMD_ADD }, { "DEL", CMD_DEL }, { "CHECK", CMD_CHECK },
	{ "VERSION", CMD_VERSION }, { "GC", CMD_GC }, { "STATUS", CMD_STATUS },
};

static int copy_arg(char *dst, size_t len, const char *v, size_t vlen, const char *key,
		    struct cni_err *e)
{
	if (vlen >= len)
		return cni_fail(e, CNI_ERR_INVALID_ENV, "invalid CNI_ARGS",
				"CNI_ARGS %s is longer than %zu bytes", key, len - 1);
	memcpy(dst, v, vlen);
	dst[vlen] = '\0';
	return 0;
}

/* CNI_ARGS is "K=V;K=V". Unknown keys are an error unless IgnoreUnknown is
 * true, as in the reference plugins. */
static int parse_cni_args(struct cni_env *env, struct cni_err *e)
{
	const char *p = env->args, *end;
	bool ignore_unknown = false;
	char unknown[128] = "";

	if (!p)
		return 0;
	for (; *p; p = *end ? end + 1 : end) {
		const char *eq;
		size_t klen;

		end = strchrnul(p, ';');
		if (end == p)
			continue;
		eq = memchr(p, '=', end - p);
		if (!eq)
			return cni_fail(e, CNI_ERR_INVALID_ENV, "invalid CNI_ARGS",
					"CNI_ARGS pair \"%.*s\" has no '='", (int)(end - p), p);
		klen = eq - p;
#define KEY_IS(k) (klen == strlen(k) && !strncmp(p, k, klen))
		if (KEY_IS("K8S_POD_NAMESPACE")) {
			if (copy_arg(env->pod_namespace, sizeof(env->pod_namespace), eq + 1,
				     end - eq - 1, "K8S_POD_NAMESPACE", e))
				return e->code;
		} else if (KEY_IS("K8S_POD_NAME")) {
			if (copy_arg(env->pod_name, sizeof(env->pod_name), eq + 1, end - eq - 1,
				     "K8S_POD_NAME", e))
				return e->code;
		} else if (KEY_IS("K8S_POD_UID")) {
			if (copy_arg(env->pod_uid, sizeof(env->pod_uid), eq + 1, end - eq - 1,
				     "K8S_POD_UID", e))
				return e->code;
		} else if (KEY_IS("IgnoreUnknown")) {
			/* A bool as libcni reads it: "1" or "true" in any case. */
			ignore_unknown = (end - eq == 2 && eq[1] == '1') ||
					 (end - eq == 5 && !strncasecmp(eq + 1, "true", 4));
		} else if (!KEY_IS("K8S_POD_INFRA_CONTAINER_ID") && !unknown[0]) {
			snprintf(unknown, sizeof(unknown), "%.*s", (int)klen, p);
		}
#undef KEY_IS
	}
	if (unknown[0] && !ignore_unknown)
		return cni_fail(e, CNI_ERR_INVALID_ENV, "invalid CNI_ARGS",
				"unknown CNI_ARGS key \"%s\" (set IgnoreUnknown=1 to ignore it)",
				unknown);
	return 0;
}

static const char *getenv_nonempty(const char *k)
{
	const char *v = getenv(k);

	return v && *v ? v : NULL;
}

int cni_env_load(struct cni_env *env, struct cni_err *e)
{
	char missing[128] = "";
	bool need_id = false, need_netns = false, need_path = false;

	memset(env, 0, sizeof(*env));
	env->command = getenv_nonempty("CNI_COMMAND");
	env->container_id = getenv_nonempty("CNI_CONTAINERID");
	env->netns = getenv_nonempty("CNI_NETNS");
	env->ifname = getenv_nonempty("CNI_IFNAME");
	env->args = getenv_nonempty("CNI_ARGS");
	env->path = getenv_nonempty("CNI_PATH");

	if (!env->command)
		return CNI_OK; /* caller prints "about" */
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(env->command, commands[i].name))
			env->cmd = commands[i].cmd;
	if (env->cmd == CMD_NONE)
		return cni_fail(e, CNI_ERR_INVALID_ENV, "unknown CNI_COMMAND",
				"%s is not one of ADD, DEL, CHECK, GC, STATUS, VERSION", env->command);

	switch (env->cmd) {
	case CMD_ADD:
	case CMD_CHECK:
		need_netns = true;
		/* fallthrough */
	case CMD_DEL:
		need_id = true;
		break;
	default:
		break;
	}
	/* CNI_PATH is optional in the spec; we need it only to delegate IPAM. */
	(void)need_path;
#define MISSING(var, name)                                                        \
	if (!(var))                                                               \
		snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing), \
			 "%s%s", missing[0] ? "," : "", name)
	if (need_id) {
		MISSING(env->container_id, "CNI_CONTAINERID");
		MISSING(env->ifname, "CNI_IFNAME");
	}
	if (need_netns)
		MISSING(env->netns, "CNI_NETNS");
#undef MISSING
	if (missing[0])
		return cni_fail(e, CNI_ERR_INVALID_ENV, "missing environment variables",
				"required env variables [%s] missing", missing);
	if (env->container_id && !valid_id(env->container_id))
		return cni_fail(e, CNI_ERR_INVALID_ENV, "invalid CNI_CONTAINERID",
				"CNI_CONTAINERID \"%s\" must match ^[a-zA-Z0-9][a-zA-Z0-9_.\\-]*$",
				env->container_id);
	/* State files are named ".<id>:<ifname>.json.tmp": keep them under
	 * NAME_MAX. DEL stays lenient: nothing can exist for such an ID. */
	if (env->container_id && env->cmd != CMD_DEL && strlen(env->container_id) > CNI_MAX_ID_LEN)
		return cni_fail(e, CNI_ERR_INVALID_ENV, "invalid CNI_CONTAINERID",
				"CNI_CONTAINERID is %zu bytes, at most %d are supported",
				strlen(env->container_id), CNI_MAX_ID_LEN);
	if (env->ifname && !valid_ifname(env->ifname))
		return cni_fail(e, CNI_ERR_INVALID_ENV, "invalid CNI_IFNAME",
				"CNI_IFNAME \"%s\" must be 1-15 bytes without '/', ':' or spaces",
				env->ifname);
	return parse_cni_args(env, e);
}

bool cni_valid_network_name(const char *s)
{
	return valid_id(s);
}
