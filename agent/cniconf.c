/* cniconf: the node's CNI conflist, written atomically. */
#include "cniconf.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "fsutil.h"
#include "log.h"
#include "xdpath/datapath.h"

#define ADD(o, k, v) json_object_object_add(o, k, v)

/* The pods' MTU: configured, else the tunnel's in vxlan mode, else the
 * plugin's default (omitted). */
static int pod_mtu(struct agent *a)
{
	struct nl_link l;

	if (a->cfg.cni_conf.mtu)
		return (int)a->cfg.cni_conf.mtu;
	if (a->tunnel_ifindex && !nl_link_get_index(&a->nl, a->tunnel_ifindex, &l))
		return l.mtu;
	return 0;
}

struct json_object *cniconf_build(struct agent *a)
{
	struct json_object *list = json_object_new_object(), *plugins = json_object_new_array(),
			   *p = json_object_new_object(), *dp = json_object_new_object(),
			   *ipam = json_object_new_object(), *ranges = json_object_new_array();
	char cidr[CIDR_STRLEN];
	int mtu = pod_mtu(a);

	ADD(list, "cniVersion", json_object_new_string("1.1.0"));
	ADD(list, "name", json_object_new_string("xdpath"));
	ADD(p, "type", json_object_new_string("xdpath"));
	if (mtu)
		ADD(p, "mtu", json_object_new_int(mtu));
	ADD(p, "endpointDir", json_object_new_string(a->cfg.endpoint_dir));
	ADD(dp, "pinRoot", json_object_new_string(a->cfg.pin_root));
	ADD(p, "datapath", dp);
	ADD(ipam, "type", json_object_new_string("xdpath"));
	ADD(ipam, "dataDir", json_object_new_string(a->cfg.cni_conf.ipam_dir));
	/* One range set per pod CIDR: a pod gets one address of each. */
	for (int i = 0; i < a->cfg.npod_cidrs; i++) {
		struct json_object *set = json_object_new_array(), *r = json_object_new_object();

		ADD(r, "subnet", json_object_new_string(ipnet_fmt(&a->cfg.pod_cidrs[i], cidr)));
		json_object_array_add(set, r);
		json_object_array_add(ranges, set);
	}
	ADD(ipam, "ranges", ranges);
	ADD(p, "ipam", ipam);
	json_object_array_add(plugins, p);
	ADD(list, "plugins", plugins);
	return list;
}

/* The runtime reads *.conflist: write_atomic's temporary is never picked up. */
static int write_conf(const char *path, const char *text)
{
	char dir[PATH_MAX];
	int err;

	snprintf(dir, sizeof(dir), "%s", path);
	err = mkdir_p(dirname(dir), 0755);
	return err ? err : write_atomic(path, text, strlen(text), true);
}

int cniconf_write(struct agent *a)
{
	const char *path = a->cfg.cni_conf.path;
	struct json_object *c;
	const char *text;
	char *old = NULL;
	size_t len = 0;
	int err;

	if (!path[0])
		return 0;
	if (!a->cfg.npod_cidrs) {
		log_error("cni", "no pod CIDRs: cannot write the CNI config", "path=%s", path);
		return -ENODATA;
	}
	c = cniconf_build(a);
	if (!c)
		return -ENOMEM;
	text = json_object_to_json_string_ext(c, JSON_C_TO_STRING_PRETTY |
							     JSON_C_TO_STRING_NOSLASHESCAPE);

	if (!read_all_at(AT_FDCWD, path, &old, &len) && old && !strcmp(old, text)) {
		err = 0;
		goto out;
	}
	err = write_conf(path, text);
	if (err)
		log_error("cni", "cannot write the CNI config", "path=%s err=\"%s\"", path,
			  strerror(-err));
	else
		log_info("cni", "CNI config written", "path=%s", path);
out:
	free(old);
	json_object_put(c);
	return err;
}
