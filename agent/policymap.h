/* policymap: a compiled policy (policy/compile.h) -> the pinned policy maps
 * (include/xdpath/policy.h). Each apply writes the delta against what was
 * last applied (puts before deletes); the first one (and the one after a
 * failed apply) diffs against nothing and also deletes whatever else the
 * maps hold (they are pinned: a previous run's state). The node's own
 * addresses (nodeIP, nodeIP6) are added to the ipcache as XDP_ID_HOST. */
#ifndef XDPATH_AGENT_POLICYMAP_H
#define XDPATH_AGENT_POLICYMAP_H

#include <stdbool.h>

#include "compile.h"

struct agent;

struct policymap {
	struct compiled cur;   /* what the maps hold (only the four entry arrays) */
	bool synced;           /* cur is in the maps; false: the next apply is a full one */
};

/* 0 or -errno (then the next apply is a full one). */
int policymap_apply(struct agent *a, struct policymap *pm, const struct compiled *comp);
void policymap_free(struct policymap *pm);

#endif
