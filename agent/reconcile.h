/* reconcile: endpoint records (written by the CNI plugin into endpointDir)
 * -> the datapath. A record whose host veth exists (same name, same
 * ifindex) gets its xdp_endpoints entries (XDP_EP_F_READY) and from_pod at
 * TC ingress of the veth; a record whose veth is gone is deleted; map
 * entries no live record wants, and counters of vanished endpoints, are
 * removed. The CNI plugin does the same per pod at ADD/DEL; both are
 * idempotent, so whichever runs first, the result is the same. */
#ifndef XDPATH_AGENT_RECONCILE_H
#define XDPATH_AGENT_RECONCILE_H

#include <stdbool.h>

struct agent;

/* The CNI plugin writes a pod's map entries before its record: entries of
 * an existing veth that no record wants are only removed when they are
 * still unwanted this long after they were first seen. */
#define RECONCILE_GRACE_MS 3000

struct reconcile_stats {
	int live;            /* records with their veth: in the datapath */
	int removed_records; /* records whose veth was gone */
	int removed_keys;    /* stale xdp_endpoints entries */
	int waiting_keys;    /* entries of a live veth without a record, in their grace
			      * period (RECONCILE_GRACE_MS): another pass is due */
	int failed;          /* records that could not be applied (logged) */
};

/* Every record. force: attach from_pod without asking what is attached
 * (a freshly loaded program cannot be there yet). 0 or -errno. */
int reconcile_all(struct agent *a, bool force, struct reconcile_stats *st);
/* One record, by its file name in endpointDir ("<id>:<ifname>.json"), after
 * it was written. Stale state elsewhere waits for the next full pass. */
int reconcile_one(struct agent *a, const char *filename);

#endif
