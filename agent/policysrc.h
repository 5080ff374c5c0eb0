/* policysrc: the agent's policy engine. A policy source (policysource.h;
 * policyDir's manifests or the Kubernetes API's cache) fills a fresh
 * policy_set, which is
 * compiled for this node's endpoints (the endpoint records: ep_id =
 * hostIfindex); the last good result is kept in memory for the API
 * ({"cmd":"policies"}, policy-get, policy-explain) and written to the
 * policy maps as a delta (policymap.h); after the first successful write
 * XDP_CFG_F_POLICY is set in xdp_config (a->policy_on). */
#ifndef XDPATH_AGENT_POLICYSRC_H
#define XDPATH_AGENT_POLICYSRC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct agent;
struct compiled;
struct json_object;
struct policy_set;

/* Load the source again. force=false skips the work when neither what it
 * read (policyDir's files; the API cache's generations) nor the endpoint
 * records changed since the last good load. A failed load keeps the previous result (logged). 0 or -errno. */
int policysrc_load(struct agent *a, bool force);
/* The directory to watch ("" when none is configured). */
const char *policysrc_dir(const struct agent *a);
/* {"policies":[...],"errors":[...],"stats":{...}} (a new reference). */
struct json_object *policysrc_json(struct agent *a);
void policysrc_free(struct agent *a);

/* For {"cmd":"policy-get"} and {"cmd":"policy-explain"} (api.c): the last
 * good policy set and what it compiled to (NULL when there is none), and
 * the ep_id of pod ns/name among the endpoints it was compiled for (0: the
 * pod has no endpoint on this node). Valid until the next load. */
const struct policy_set *policysrc_set(const struct agent *a);
const struct compiled *policysrc_compiled(const struct agent *a);
uint32_t policysrc_ep_id(const struct agent *a, const char *ns, const char *name);

/* The namespace and name of endpoint ep_id (as of the last load); left
 * unchanged when unknown. */
void policysrc_ep_name(const struct agent *a, uint32_t ep_id, char *ns, size_t nslen, char *name,
		       size_t namelen);

#endif
