/* compile: a policy_set (policies, pods, namespaces) and the endpoints of
 * one node -> the exact contents of the policy maps (include/xdpath/policy.h):
 * ipcache, per-endpoint policy LPM entries, per-endpoint CIDR entries and
 * isolation state. Pure computation, no kernel: the agent writes the result
 * (or a delta against the previous result) into the maps.
 *
 * Identities are allocated by an id_alloc that lives across compilations,
 * so that a change compiles to a small delta. The identity of a pod is its
 * label set: namespace, pod labels, namespace labels and its named container
 * ports (pods that differ only in what a port name means get different
 * identities, so named ports resolve exactly). */
#ifndef XDPATH_POLICY_COMPILE_H
#define XDPATH_POLICY_COMPILE_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "xdpath/datapath.h"
#include "xdpath/policy.h"

struct id_alloc;                 /* opaque; label-set -> identity, stable */
struct id_alloc *id_alloc_new(void);
void id_alloc_free(struct id_alloc *a);

/* A pod of this node that has a datapath endpoint. */
struct pol_endpoint {
	uint32_t ep_id;              /* xdp_ep_info.ep_id (host veth ifindex) */
	const char *ns;
	const char *name;
};

struct ipcache_entry {
	struct xdp_cidr_key key;
	struct xdp_ipcache_val val;
};

struct pol_entry {
	struct xdp_pol_key key;
	struct xdp_pol_val val;
};

struct cidr_entry {
	struct xdp_polcidr_key key;
	struct xdp_portset val;
};

struct ep_pol_entry {
	uint32_t ep_id;
	struct xdp_ep_pol val;
};

/* Why an entry exists, for `xdpathctl policy explain`: cookie -> source. */
struct rule_ref {
	uint32_t cookie;
	const char *ns, *policy;     /* borrowed from the policy_set */
	int dir;                     /* XDP_DIR_* */
	int rule;                    /* index in spec.ingress / spec.egress */
};

struct compiled {
	struct ipcache_entry *ipcache;
	size_t nipcache;
	struct pol_entry *pol;
	size_t npol;
	struct cidr_entry *cidr;
	size_t ncidr;
	struct ep_pol_entry *eps;
	size_t neps;
	struct rule_ref *rules;
	size_t nrules;
	/* Problems found while compiling (a named port no pod has, an
	 * endpoint whose entries exceed its share of a map: that endpoint is
	 * left isolated with no rules, i.e. fail closed). */
	struct policy_error *errors;
	size_t nerrors;
};

/* One endpoint's share of the policy and CIDR maps: an endpoint whose
 * entries exceed it is left isolated in both directions with no rules
 * (fail closed) and reported in errors. */
#define POL_EP_MAX_ENTRIES (XDP_MAX_POLICY / 4)
#define POL_EP_MAX_CIDR    (XDP_MAX_POL_CIDR / 4)

/* Every array is sorted by key (memcmp order), so that two results can be
 * diffed in one pass. 0 or -errno (-ENOMEM). */
int policy_compile(const struct policy_set *set, const struct pol_endpoint *eps, size_t neps,
		   struct id_alloc *ids, struct compiled *out);
void compiled_free(struct compiled *c);

/* A delta between two results: entries to put (new or changed value) and
 * keys to delete, per map. Applying puts before deletes never opens a
 * window where traffic that both results allow is denied. */
struct compiled_delta {
	struct ipcache_entry *ipcache_put;   size_t nipcache_put;
	struct xdp_cidr_key *ipcache_del;    size_t nipcache_del;
	struct pol_entry *pol_put;           size_t npol_put;
	struct xdp_pol_key *pol_del;         size_t npol_del;
	struct cidr_entry *cidr_put;         size_t ncidr_put;
	struct xdp_polcidr_key *cidr_del;    size_t ncidr_del;
	struct ep_pol_entry *eps_put;        size_t neps_put;
	uint32_t *eps_del;                   size_t neps_del;
};

int compiled_diff(const struct compiled *old, const struct compiled *cur,
		  struct compiled_delta *d);
void compiled_delta_free(struct compiled_delta *d);

/* The element of a struct compiled array (n elements of esize bytes,
 * sorted by their leading ksize-byte key with memcmp, as compile.c sorts
 * them) whose key is key; NULL if none. */
const void *compiled_find(const void *base, size_t n, size_t esize, size_t ksize,
			  const void *key);

/* "TCP", "UDP", "SCTP", "ICMP", "ICMPv6" or the number. buf: 8 bytes. */
const char *policy_proto_name(uint8_t proto, char *buf);

/* Does sel match these labels? (exposed for tests and explain) */
struct selector;
bool selector_matches(const struct selector *sel, const struct labels *labels);

#endif
