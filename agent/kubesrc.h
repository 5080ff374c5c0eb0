/* kubesrc: the agent as a Kubernetes controller (agent config
 * "kubernetes"). Owns the informers (kwatch.h) on Pods, Namespaces,
 * NetworkPolicies, Nodes and XdpFilters, and turns their caches into the
 * agent's inputs:
 *   - a policy source (policysource.h) whose sets borrow the decoded
 *     objects of the cache, so a change costs a compile, not a re-parse;
 *   - the filters (filters_sync) from XdpFilter objects;
 *   - the peers (node.c) from the other Node objects: their InternalIPs and
 *     spec.podCIDRs; the own Node's fill nodeIP/nodeIP6/podCIDRs when the
 *     config has none;
 *   - Events written back on NetworkPolicies that cannot be enforced
 *     (invalid, or compiled with errors), by a writer thread.
 * Fail closed: until Pods, Namespaces and NetworkPolicies have each been
 * listed once, no policy is computed (the previous run's pinned maps keep
 * enforcing) and a fresh node is not marked ready for CNI ADDs. */
#ifndef XDPATH_AGENT_KUBESRC_H
#define XDPATH_AGENT_KUBESRC_H

#include <stdbool.h>

#include "policysource.h"

struct agent;
struct hbuf;
struct json_object;

extern const struct policy_source policy_source_k8s;

/* Connect, start the informers and, when the config lacks the node's
 * addresses or pod CIDRs, read them from its Node object (retried for a
 * while: a node without them cannot be set up). 0 or -errno. */
int kubesrc_open(struct agent *a);
/* The eventfd that polls readable after a cache change, or -1. */
int kubesrc_fd(const struct agent *a);
/* After the fd polled readable: apply what changed (policies, filters,
 * peers), and mark the node ready after the first full sync. */
void kubesrc_changed(struct agent *a);
/* Pods, Namespaces and NetworkPolicies listed at least once. */
bool kubesrc_synced(const struct agent *a);
/* Informer counters as Prometheus text. */
int kubesrc_prom(struct agent *a, struct hbuf *out);
/* {"resources":[{resource, synced, objects, events, relists, ...}]} */
struct json_object *kubesrc_status(struct agent *a);
void kubesrc_close(struct agent *a);

/* What the agent reads and writes in the API, for RBAC checks:
 * [{"group":"","resource":"pods","verbs":["get","list","watch"]},...]. */
struct json_object *kubesrc_api_resources(void);

#endif
