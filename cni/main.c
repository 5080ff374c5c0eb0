/* xdpath CNI plugin entry point: read the environment and stdin, run the
 * command, print the result or the spec's error JSON on stdout. */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "cni.h"

#define STDIN_MAX (16 << 20)

static int read_stdin(char **buf, size_t *len, struct cni_err *e)
{
	size_t cap = 4096, n = 0;
	char *b = malloc(cap + 1);

	if (!b)
		return cni_fail(e, CNI_ERR_IO, "cannot read network config", "out of memory");
	for (;;) {
		ssize_t r = read(STDIN_FILENO, b + n, cap - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			free(b);
			return cni_fail(e, CNI_ERR_IO, "cannot read network config", "stdin: %s",
					strerror(errno));
		}
		if (r == 0)
			break;
		n += r;
		if (n == cap) {
			char *nb;

			if (cap >= STDIN_MAX) {
				free(b);
				return cni_fail(e, CNI_ERR_IO, "cannot read network config",
						"stdin is larger than %d bytes", STDIN_MAX);
			}
			cap *= 2;
			nb = realloc(b, cap + 1);
			if (!nb) {
				free(b);
				return cni_fail(e, CNI_ERR_IO, "cannot read network config",
						"out of memory");
			}
			b = nb;
		}
	}
	b[n] = '\0';
	*buf = b;
	*len = n;
	return 0;
}

static void print_json(struct json_object *o)
{
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
}

static int report(const struct cni_err *e, const char *version)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "cniVersion", json_object_new_string(version));
	json_object_object_add(o, "code", json_object_new_int(e->code));
	json_object_object_add(o, "msg", json_object_new_string(e->msg));
	if (e->details[0])
		json_object_object_add(o, "details", json_object_new_string(e->details));
	print_json(o);
	json_object_put(o);
	fprintf(stderr, "xdpath: error %d: %s: %s\n", e->code, e->msg, e->details);
	return 1;
}

static const char *requested_version(const char *buf)
{
	static char v[16];
	struct json_object *o = json_tokener_parse(buf), *cv;

	snprintf(v, sizeof(v), "%s", CNI_LATEST);
	if (o && json_object_object_get_ex(o, "cniVersion", &cv) &&
	    json_object_is_type(cv, json_type_string))
		snprintf(v, sizeof(v), "%s", json_object_get_string(cv));
	json_object_put(o);
	return v;
}

int main(void)
{
	struct cni_err e = { 0 };
	struct netconf nc = { 0 };
	struct json_object *out = NULL;
	struct cni_env env;
	char *buf = NULL;
	size_t len = 0;
	int rc;

	if (cni_env_load(&env, &e))
		return report(&e, CNI_LATEST);
	if (env.cmd == CMD_NONE) {
		fprintf(stderr, "xdpath CNI plugin (eBPF datapath); supports CNI spec "
				"0.3.0 0.3.1 0.4.0 1.0.0 1.1.0\n");
		return 0;
	}
	if (read_stdin(&buf, &len, &e))
		return report(&e, CNI_LATEST);
	if (env.cmd == CMD_VERSION) {
		out = cmd_version(requested_version(buf));
		goto print;
	}
	if (netconf_parse(buf, len, env.cmd, &nc, &e))
		goto fail;

	switch (env.cmd) {
	case CMD_ADD:
		cmd_add(&env, &nc, &out, &e);
		break;
	case CMD_DEL:
		cmd_del(&env, &nc, &e);
		break;
	case CMD_CHECK:
		cmd_check(&env, &nc, &e);
		break;
	case CMD_GC:
		cmd_gc(&env, &nc, &e);
		break;
	case CMD_STATUS:
		cmd_status(&env, &nc, &e);
		break;
	default:
		break;
	}
	if (e.code)
		goto fail;
print:
	if (out)
		print_json(out);
	json_object_put(out);
	netconf_free(&nc);
	free(buf);
	return 0;
fail:
	rc = report(&e, nc.cni_version[0] && cni_version_supported(nc.version) ? nc.cni_version
									      : CNI_LATEST);
	netconf_free(&nc);
	free(buf);
	return rc;
}
