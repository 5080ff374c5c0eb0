/* ctx: the state of one compilation, shared by compile.c (which builds it:
 * namespaces, identities, the ipcache, one rule_ref per rule, and walks the
 * endpoints) and rule.c (which turns one rule, for one endpoint, into
 * entries). Internal to policy/. */
#ifndef XDPATH_POLICY_CTX_H
#define XDPATH_POLICY_CTX_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "compile.h"
#include "vec.h"

#define NAMED_EVALUATED 1u /* resolved against at least one pod */
#define NAMED_RESOLVED  2u /* some pod had it */

struct nsinfo {
	const char *name;
	const struct namespace *obj;  /* NULL: only known from its pods */
	const struct labels *labels;
	struct label synth;           /* the API server's own label, when obj is NULL */
	struct labels synth_labels;
	size_t first, n;              /* its identities in ctx.idents */
};

struct ident {
	uint32_t id;
	size_t ns;
	const struct pod *pod;        /* one of its pods: labels, named ports */
};

struct peer_ids {
	bool done;
	struct vec ids;               /* size_t: indexes in ctx.idents */
};

/* One rule, by cookie. */
struct rule_info {
	const struct netpol *pol;
	const struct rule *rule;
	int dir, idx;
	size_t peers;                 /* its first slot in ctx.peer_cache */
	size_t ports;                 /* its first slot in ctx.named */
};

/* A port name a rule resolves per destination (egress). */
struct dyn_port {
	const struct policy_port *pp;
	size_t slot;                  /* in ctx.named */
};

struct ctx {
	const struct policy_set *set;
	struct id_alloc *ids;
	struct nsinfo *nss;
	size_t nnss;
	struct ident *idents;         /* sorted by (namespace, identity) */
	size_t nidents;
	size_t *by_id;                /* ident indexes sorted by identity */
	uint32_t *pod_id;             /* per pod; 0: no identity (hostNetwork) */
	size_t *pol_order;            /* policies by (ns, name, index): cookie order */
	size_t *pod_order;            /* pods by (ns, name, index) */
	uint32_t *cookie_base;        /* per policy */
	struct rule_info *rinfo;
	size_t nrules;
	struct peer_ids *peer_cache;
	uint8_t *named;               /* NAMED_* per (rule, port) */
	/* output */
	struct vec ipcache, pol, cidr, eps, errors;
	/* scratch */
	struct vec specs, dyn, tmp, blocks, branges;
};

/* The namespace called name (every pod's namespace has one), or NULL. */
struct nsinfo *ns_find(const struct ctx *x, const char *name);
/* The identity id, or NULL. */
const struct ident *ident_by_id(const struct ctx *x, uint32_t id);

/* Append the entries rule cookie allows for endpoint ep_id (pod): policy
 * LPM entries to x->pol, ipBlock peers to x->blocks / x->branges (for
 * cidr.c, once the direction is complete). 0 or -ENOMEM. */
int rule_compile(struct ctx *x, uint32_t ep_id, const struct pod *pod, uint32_t cookie);

/* The API defaults a port's protocol to TCP: never widen a missing one to
 * "every protocol" (proto 0 inside the compiler). */
static inline uint8_t port_proto(const struct policy_port *pp)
{
	return pp->proto ? pp->proto : L4_TCP;
}

static inline void cidr_key(struct xdp_cidr_key *k, const struct ipaddr *a)
{
	memset(k, 0, sizeof(*k));
	k->prefixlen = XDP_CIDR_PREFIX(ipaddr_bits(a));
	k->family = a->family == AF_INET ? XDP_EP_FAMILY_V4 : XDP_EP_FAMILY_V6;
	memcpy(k->addr, a->b, ipaddr_len(a));
}

static inline void key_addr(const struct xdp_cidr_key *k, struct ipaddr *a)
{
	memset(a, 0, sizeof(*a));
	a->family = k->family == XDP_EP_FAMILY_V4 ? AF_INET : AF_INET6;
	memcpy(a->b, k->addr, ipaddr_len(a));
}

#endif
