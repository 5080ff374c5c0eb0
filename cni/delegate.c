/* delegate: exec a plugin from CNI_PATH and collect its result. */
#include "delegate.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define DELEGATE_OUT_MAX (1 << 20)

static int find_plugin(const char *type, const char *cni_path, char *out, size_t len)
{
	const char *p = cni_path, *end;

	for (; p && *p; p = *end ? end + 1 : end) {
		end = strchrnul(p, ':');
		if (end == p)
			continue;
		if ((size_t)snprintf(out, len, "%.*s/%s", (int)(end - p), p, type) >= len)
			continue;
		if (access(out, X_OK) == 0)
			return 0;
	}
	return -ENOENT;
}

/* Write conf to the child's stdin and read its stdout, without deadlocking
 * on a child that writes before it has read everything. */
static int pump(int in_fd, int out_fd, const char *conf, size_t len, char *buf, size_t cap,
		size_t *got)
{
	size_t sent = 0;

	*got = 0;
	while (out_fd >= 0) {
		struct pollfd pfd[2] = { { out_fd, POLLIN, 0 }, { in_fd, POLLOUT, 0 } };
		int n = in_fd >= 0 ? 2 : 1;

		if (poll(pfd, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 2 && pfd[1].revents) {
			ssize_t w = write(in_fd, conf + sent, len - sent);

			if (w > 0)
				sent += w;
			if (w < 0 || sent == len) {
				close(in_fd);
				in_fd = -1;
			}
		}
		if (pfd[0].revents) {
			ssize_t r = read(out_fd, buf + *got, cap - 1 - *got);

			if (r <= 0) {
				out_fd = -1;
				break;
			}
			*got += r;
			if (*got == cap - 1)
				return -E2BIG;
		}
	}
	if (in_fd >= 0)
		close(in_fd);
	buf[*got] = '\0';
	return 0;
}

static void child_exec(const char *path, const char *command, int in_rd, int out_wr)
{
	dup2(in_rd, STDIN_FILENO);
	dup2(out_wr, STDOUT_FILENO);
	setenv("CNI_COMMAND", command, 1);
	execl(path, path, (char *)NULL);
	_exit(127);
}

static int report_child_error(const char *type, int status, const char *out, struct cni_err *e)
{
	struct json_object *o = json_tokener_parse(out), *v;
	int code = CNI_ERR_INTERNAL;
	const char *msg = "delegated plugin failed", *details = "";

	if (o && json_object_object_get_ex(o, "code", &v) && json_object_get_int(v) > 0)
		code = json_object_get_int(v);
	if (o && json_object_object_get_ex(o, "msg", &v))
		msg = json_object_get_string(v);
	if (o && json_object_object_get_ex(o, "details", &v))
		details = json_object_get_string(v);
	cni_fail(e, code, "delegated IPAM plugin failed", "%s: %s%s%s (exit status %d)", type,
		 msg, details[0] ? ": " : "", details, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	json_object_put(o);
	return code;
}

int delegate_exec(const char *type, const char *command, const struct cni_env *env,
		  const char *conf, size_t len, struct json_object **out, struct cni_err *e)
{
	char path[PATH_MAX], *buf = NULL;
	int in[2] = { -1, -1 }, outp[2] = { -1, -1 }, status = 0, err;
	size_t got = 0;
	pid_t pid;

	if (out)
		*out = NULL;
	if (!env->path)
		return cni_fail(e, CNI_ERR_INVALID_ENV, "missing environment variables",
				"CNI_PATH is required to run the delegated IPAM plugin \"%s\"", type);
	if (find_plugin(type, env->path, path, sizeof(path)))
		return cni_fail(e, CNI_ERR_INVALID_ENV, "delegated plugin not found",
				"IPAM plugin \"%s\" not found in CNI_PATH %s", type, env->path);
	buf = malloc(DELEGATE_OUT_MAX);
	if (!buf || pipe2(in, O_CLOEXEC) || pipe2(outp, O_CLOEXEC)) {
		cni_fail(e, CNI_ERR_INTERNAL, "cannot run delegated plugin", "%s", strerror(errno));
		goto out;
	}
	signal(SIGPIPE, SIG_IGN);
	pid = fork();
	if (pid < 0) {
		cni_fail(e, CNI_ERR_INTERNAL, "cannot run delegated plugin", "fork: %s",
			 strerror(errno));
		goto out;
	}
	if (pid == 0)
		child_exec(path, command, in[0], outp[1]);
	close(in[0]);
	close(outp[1]);
	in[0] = outp[1] = -1;
	err = pump(in[1], outp[0], conf, len, buf, DELEGATE_OUT_MAX, &got);
	in[1] = -1; /* closed by pump */
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (err) {
		cni_fail(e, CNI_ERR_INTERNAL, "delegated plugin failed", "%s: %s", type,
			 strerror(-err));
		goto out;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		report_child_error(type, status, buf, e);
		goto out;
	}
	if (out && got) {
		*out = json_tokener_parse(buf);
		if (!*out)
			cni_fail(e, CNI_ERR_DECODE, "failed to decode delegated result",
				 "%s printed invalid JSON", type);
	}
out:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (outp[i] >= 0)
			close(outp[i]);
	}
	free(buf);
	return e->code;
}

int delegate_ipam_result(struct json_object *res, struct cni_result *r, struct cni_err *e)
{
	struct json_object *dns;

	if (!res)
		return cni_fail(e, CNI_ERR_INTERNAL, "delegated IPAM returned no result",
				"the IPAM plugin exited 0 but printed nothing");
	if (cni_result_parse(res, r, e))
		return e->code;
	if (r->nips == 0)
		return cni_fail(e, CNI_ERR_INTERNAL, "delegated IPAM returned no addresses",
				"the IPAM result has an empty \"ips\" list");
	r->nifs = 0;
	r->dns = json_object_object_get_ex(res, "dns", &dns) ? dns : NULL;
	return 0;
}
