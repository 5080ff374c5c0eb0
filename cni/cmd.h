/* cmd: the six CNI commands. Each returns 0 or a CNI error code (set in e);
 * ADD and VERSION hand back the JSON to print in *out. */
#ifndef XDPATH_CNI_CMD_H
#define XDPATH_CNI_CMD_H

#include "cni.h"

int cmd_add(const struct cni_env *env, struct netconf *nc, struct json_object **out,
	    struct cni_err *e);
int cmd_del(const struct cni_env *env, struct netconf *nc, struct cni_err *e);
int cmd_check(const struct cni_env *env, struct netconf *nc, struct cni_err *e);
int cmd_gc(const struct cni_env *env, struct netconf *nc, struct cni_err *e);
int cmd_status(const struct cni_env *env, struct netconf *nc, struct cni_err *e);
struct json_object *cmd_version(const char *requested);

#endif
