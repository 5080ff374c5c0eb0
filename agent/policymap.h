/* policymap: a compiled policy (policy/compile.h) -> the pinned policy maps
 * (include/xdpath/policy.h). Each apply writes the delta against what was
 * last applied (puts before deletes); the first one (and the one after a
 * failed apply) diffs against nothing and also deletes whatever else the
 * maps hold (they are pinned: a previous run's state). The node's own
 * addresses (nodeIP, nodeIP6) are added to the ipcache as XDP_ID_HOST. */
#ifndef XDPATH_AGENT_POLICYMAP_H
#define XDPATH_AGENT_POLICYMAP_H

#include <stdbool.h>
#include <stdint.h>

#include "compile.h"

struct agent;

#define POLICYMAP_FAILED_MAX 64

struct policymap {
	struct compiled cur;   /* what the maps hold (only the four entry arrays) */
	bool synced;           /* cur is in the maps; false: the next apply is a full one */
	/* Endpoints whose entries did not fit (map full) at the last apply:
	 * denied (not READY) until an apply fits them. */
	uint32_t failed[POLICYMAP_FAILED_MAX];
	size_t nfailed;
	uint64_t map_full_total; /* entries that did not fit, over the agent's life */
};

/* 0 or -errno (then the next apply is a full one). A policy or CIDR map
 * that is full is not an error of the apply: the endpoints whose entries
 * did not fit are denied (their xdp_ep_policy entry is written without
 * READY: fail closed), listed in pm->failed, logged, and retried by the
 * next apply, which is a full one (its sweep frees what is stale). */
int policymap_apply(struct agent *a, struct policymap *pm, const struct compiled *comp);
void policymap_free(struct policymap *pm);

#endif
