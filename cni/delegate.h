/* delegate: run another CNI plugin (a delegated IPAM) the way the spec says:
 * same environment with CNI_COMMAND set, the same config on stdin, its result
 * or its error JSON on stdout. */
#ifndef XDPATH_CNI_DELEGATE_H
#define XDPATH_CNI_DELEGATE_H

#include <stddef.h>

#include "cni.h"

/* Find type in CNI_PATH and run it. On success *out (if out != NULL) holds
 * the parsed stdout (NULL when the plugin printed nothing). On failure e
 * carries the plugin's own code and message, or ours (4: not in CNI_PATH). */
int delegate_exec(const char *type, const char *command, const struct cni_env *env,
		  const char *conf, size_t len, struct json_object **out, struct cni_err *e);

/* A delegated IPAM result -> addresses (ips[].address) and routes. */
int delegate_ipam_result(struct json_object *res, struct cni_result *r, struct cni_err *e);

#endif
