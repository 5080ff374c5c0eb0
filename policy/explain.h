/* explain: NetworkPolicy semantics read straight off the model (a
 * policy_set: pods, namespaces, policies), for operators. Owns the answers
 * of `xdpathctl policy get` (policy_view: which policies select a pod and
 * what each of its directions allows, entry by entry, with the policy and
 * rule behind each) and `xdpathctl policy explain` (policy_explain: the
 * verdict for one connection, both sides, and the rule that allows it or
 * why no rule does), plus the model queries lint.c shares.
 *
 * Independent of any node: no compiled result is needed, so pods of every
 * node are answered alike. The decision is the datapath's (sim.h) for the
 * same model: egress of the source if it is a pod, ingress of the
 * destination if it is a pod; hostNetwork pods have no identity (their
 * addresses are the world's) and no endpoint (no check). Two things only a
 * node knows are the caller's: its own addresses (ingress from the node to
 * its endpoints is always allowed: explain_req.host/local) and endpoints
 * left fail closed by the compiler (the agent checks its local endpoints
 * against policy_sim as well). */
#ifndef XDPATH_POLICY_EXPLAIN_H
#define XDPATH_POLICY_EXPLAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"

#define EXPLAIN_IPPROTO_ICMP   1
#define EXPLAIN_IPPROTO_ICMPV6 58

/* ---- model queries (shared with lint.c) --------------------------------- */

/* The namespace labels a selector sees: its Namespace object's, or, for a
 * namespace only known from its pods, the one label the API server gives
 * every namespace (kept in *buf). */
struct ns_labels_buf {
	struct label l;
	struct labels ls;
};
const struct labels *policy_ns_labels(const struct policy_set *s, const char *ns,
				      struct ns_labels_buf *buf);

const struct pod *policy_pod_find(const struct policy_set *s, const char *ns, const char *name);
/* The pod with an identity (not hostNetwork) that owns address a; the first
 * in the set if several claim it; NULL: the world. */
const struct pod *policy_pod_by_ip(const struct policy_set *s, const struct ipaddr *a);

/* Does pol isolate pod in dir (XDP_DIR_*): same namespace, the policyType,
 * and spec.podSelector matches? */
bool policy_isolates(const struct netpol *pol, const struct pod *pod, int dir);

/* Does peer pe (of a rule of pol) select the remote pod rp (NULL: no pod,
 * or a hostNetwork one) at address a (NULL: unknown; an ipBlock then
 * matches nothing)? */
bool policy_peer_matches(const struct policy_set *s, const struct netpol *pol,
			 const struct peer *pe, const struct pod *rp, const struct ipaddr *a);

/* Does pp allow (proto, port)? A port name resolves against target's
 * container ports (ingress: the selected pod; egress: the destination pod;
 * NULL: nothing). port 0 matches only a port that allows every port. */
bool policy_port_matches(const struct policy_port *pp, uint8_t proto, uint16_t port,
			 const struct pod *target);

/* "app=web,tier in (a,b),!legacy"; "{}" for the empty selector. */
const char *policy_selector_text(const struct selector *sel, char *buf, size_t len);

/* ---- policy get ---------------------------------------------------------- */

/* Pods a selector peer selects, grouped by identity (namespace, labels,
 * named container ports: what the compiler gives one identity). */
struct view_ident {
	const struct pod *pod;         /* the first of them: namespace, labels, ports */
	const struct pod **pods;
	size_t npods;
};

/* One allow entry: a peer of a rule times a port of the rule. */
struct view_entry {
	const struct netpol *pol;
	int rule;                      /* index in spec.ingress / spec.egress */
	int peer_idx;                  /* -1: the rule has no peers (every peer) */
	const struct peer *peer;       /* NULL: every peer */
	struct view_ident *ids;        /* a selector peer: what it selects */
	size_t nids;
	const struct policy_port *port; /* NULL: every port of every protocol */
	uint16_t *resolved;            /* a port name: the numbers it names, sorted */
	size_t nresolved;
};

struct view_dir {
	bool isolated;
	const struct netpol **pols;    /* the policies that isolate it (name order) */
	size_t npols;
	struct view_entry *v;
	size_t n;
};

struct policy_view {
	const struct pod *pod;
	const struct netpol **pols;    /* every policy that selects it, name order */
	size_t npols;
	struct view_dir dir[2];        /* [XDP_DIR_INGRESS], [XDP_DIR_EGRESS] */
};

/* The view of pod. 0 or -ENOMEM. */
int policy_view(const struct policy_set *s, const struct pod *pod, struct policy_view *out);
void policy_view_free(struct policy_view *v);

/* ---- policy explain -------------------------------------------------------- */

struct explain_req {
	const char *from, *to;         /* "NS/POD" or an IP address */
	const char *port;              /* see explain_parse_port; NULL: every port of TCP */
	/* The node asking: its addresses (the datapath's XDP_ID_HOST) and
	 * which pods are its endpoints; ingress from the node to those is
	 * always allowed. Both may be empty/NULL. */
	const struct ipaddr *host;
	size_t nhost;
	bool (*local)(void *arg, const struct pod *pod);
	void *arg;
};

/* "80", "80/TCP", "53/udp", "http/TCP" (a port name, copied to namebuf:
 * policy_explain resolves it against the destination pod), "TCP" (port 0:
 * only a rule that allows every port of TCP matches), "ICMP" (ping: port 0,
 * protocol 1; policy_explain makes it 58 for IPv6). The protocol defaults
 * to TCP; NULL or "" is "TCP". 0, or -EINVAL with a message in err. */
int explain_parse_port(const char *spec, uint8_t *proto, uint16_t *port, char *namebuf,
		       size_t namelen, char *err, size_t errlen);

enum explain_why {
	EXPLAIN_NOT_CHECKED,           /* no check on this side: not a pod with an endpoint */
	EXPLAIN_NOT_ISOLATED,          /* no policy isolates it in this direction */
	EXPLAIN_HOST,                  /* ingress from the node to its endpoint */
	EXPLAIN_RULE,                  /* a rule allows it */
	EXPLAIN_NO_RULE,               /* isolated and no rule matches */
};

/* One rule of a policy that isolates the side's pod, against the packet. */
struct explain_rule {
	const struct netpol *pol;
	int rule;
	bool peer_ok, port_ok;
};

struct explain_side {
	enum explain_why why;
	bool allowed;
	const struct netpol *pol;      /* EXPLAIN_RULE: the first allowing rule in */
	int rule;                      /* (namespace, name, index) order */
	const struct netpol **isolating;
	size_t nisolating;
	struct explain_rule *rules;    /* every rule of the isolating policies */
	size_t nrules;
	char *text;                    /* one sentence */
};

struct explain {
	const struct pod *from, *to;   /* NULL: an address no pod owns (the world) */
	struct ipaddr from_ip, to_ip;
	bool from_host;                /* from is the node (one of req->host) */
	bool to_local;                 /* req->local(to) */
	uint8_t proto;
	uint16_t port;
	char port_name[64];            /* the name --port gave, "" if none */
	struct explain_side egress, ingress;
	bool allowed;
	char *text;                    /* the verdict and why, one line */
};

/* 0; -EINVAL (an unknown pod, a bad address or port, no common address
 * family: err says which) or -ENOMEM. */
int policy_explain(const struct policy_set *s, const struct explain_req *req,
		   struct explain *out, char *err, size_t errlen);
void explain_free(struct explain *e);

/* "notChecked", "notIsolated", "host", "rule", "noRule" (for JSON). */
const char *explain_why_name(enum explain_why why);

#endif
