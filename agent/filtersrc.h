/* filtersrc: XdpFilter objects (xdpath.io/v1alpha1, cluster-scoped; the
 * CRD is deploy/crds/xdpfilter.yaml) -> filter specs, the cluster-wide way
 * to push an emergency filter. They come from the Kubernetes API's watch
 * (kubesrc.c) or, for clusterless use, a manifest directory (agent config
 * "filterDir"); both feed filters_sync(). An invalid object is
 * reported with the reason and skipped; the others are applied.
 *
 *   apiVersion: xdpath.io/v1alpha1
 *   kind: XdpFilter
 *   metadata: {name: memcached-flood}
 *   spec:
 *     rule: 'udp.dport == 11211'      # or catalog: CVE-2019-11477 (exactly one)
 *     action: drop                    # drop | pass | count | rate-limit
 *     rate: 1000                      # rate-limit: packets/s
 *     per: src                        # rate-limit: rule | src | dst
 *     scope: all                      # all | uplink | pods | NAMESPACE/POD
 *     expires: "2026-11-23T00:00:00Z" # optional, RFC 3339 UTC
 *
 * The rule on each node is named "crd:" + metadata.name. */
#ifndef XDPATH_AGENT_FILTERSRC_H
#define XDPATH_AGENT_FILTERSRC_H

#include <stddef.h>
#include <stdint.h>

#define FILTER_CRD_PREFIX "crd:"

struct json_object;

struct filter_spec {
	char name[64];           /* "crd:" + metadata.name */
	char expr[2048];
	int action;              /* enum xf_action */
	int per;                 /* enum xf_rate_per */
	uint32_t rate;
	char scope[320];         /* as `xdpathctl filter add --scope` */
	int64_t expires;         /* unix seconds; 0: never */
};

struct filter_problem {
	char where[320];         /* "file:line name" */
	char msg[320];
};

struct filter_specs {
	struct filter_spec *v;
	size_t n, cap;
	struct filter_problem *bad;
	size_t nbad, badcap;
	size_t files;            /* manifests read */
};

/* One XdpFilter object into specs (or a problem); objects of other kinds
 * are ignored. where: its origin for messages. 0 or -ENOMEM. */
int filtersrc_object(struct filter_specs *specs, struct json_object *obj, const char *where);
/* Every *.yaml, *.yml, *.json of dir. 0, or -errno if dir cannot be read. */
int filtersrc_load_dir(const char *dir, struct filter_specs *specs);
void filtersrc_free(struct filter_specs *specs);

#endif
