/* model: NetworkPolicy (networking.k8s.io/v1), Namespace and Pod objects as
 * the policy library sees them. Owned by policy/parse.c (which fills it from
 * JSON/YAML manifests, validating every field) and read by policy/compile.c.
 * Strings are owned by the model (malloc'd, freed by the *_free functions). */
#ifndef XDPATH_POLICY_MODEL_H
#define XDPATH_POLICY_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipaddr.h"

struct label {
	char *key;
	char *value;
};

struct labels {
	struct label *v;
	size_t n;
};

enum sel_op { SEL_IN, SEL_NOT_IN, SEL_EXISTS, SEL_DOES_NOT_EXIST };

struct sel_expr {
	char *key;
	enum sel_op op;
	char **values;
	size_t nvalues;
};

/* A LabelSelector. present=false: the field was absent (null). An empty
 * present selector ({}) matches everything. */
struct selector {
	bool present;
	struct labels match_labels;
	struct sel_expr *exprs;
	size_t nexprs;
};

struct ip_block {
	struct ipnet cidr;
	struct ipnet *except;
	size_t nexcept;
};

/* One peer (from/to entry): podSelector and/or namespaceSelector, or ipBlock. */
struct peer {
	struct selector pod_sel;
	struct selector ns_sel;
	bool has_ip_block;
	struct ip_block ip_block;
};

enum l4proto { L4_TCP = 6, L4_UDP = 17, L4_SCTP = 132 };

/* One NetworkPolicyPort. port_name set for a named port (resolved per
 * destination pod); port 0 and no name = all ports of the protocol. */
struct policy_port {
	uint8_t proto;           /* enum l4proto; default TCP */
	uint16_t port;           /* numeric port, 0 if none or named */
	uint16_t end_port;       /* 0 if none; else >= port */
	char *port_name;
};

/* One ingress or egress rule: peers OR'ed, ports OR'ed; npeers == 0 means
 * all peers, nports == 0 means all ports. */
struct rule {
	struct peer *peers;
	size_t npeers;
	struct policy_port *ports;
	size_t nports;
};

struct netpol {
	char *ns;
	char *name;
	struct selector pod_sel;     /* spec.podSelector (required; {} = all pods) */
	bool ingress_isolates;       /* policyTypes has Ingress (or defaulted) */
	bool egress_isolates;        /* policyTypes has Egress (or defaulted) */
	struct rule *ingress;
	size_t ningress;
	struct rule *egress;
	size_t negress;
};

struct container_port {
	char *name;                  /* may be NULL */
	uint8_t proto;
	uint16_t port;
};

struct pod {
	char *ns;
	char *name;
	struct labels labels;
	struct ipaddr ips[4];
	size_t nips;
	struct container_port *ports;
	size_t nports;
	char *node;                  /* spec.nodeName, may be NULL */
	bool host_network;
};

struct namespace {
	char *name;
	struct labels labels;        /* includes kubernetes.io/metadata.name */
};

/* A problem with one object: reported and skipped, everything else kept. */
struct policy_error {
	char *kind;                  /* "NetworkPolicy", "Pod", ... or NULL */
	char *ns;
	char *name;
	char *reason;                /* names the field and value, e.g. spec.ingress[0].ports[1].endPort 70 < port 80 */
};

/* Everything loaded from a set of manifests. */
struct policy_set {
	struct netpol *pols;
	size_t npols;
	struct pod *pods;
	size_t npods;
	struct namespace *nss;
	size_t nnss;
	struct policy_error *errors;
	size_t nerrors;
	/* The objects (and errors) belong to someone else, e.g. the agent's
	 * watch cache: policy_set_free frees only the arrays. */
	bool borrowed;
};

#endif
