/* filtermap: compiled filter rules -> the pinned filter maps
 * (include/xdpath/filter.h), one rule at a time, each publication atomic
 * for the datapath: the rule goes into a slot no list names, its counters
 * are zeroed, the config is widened (walks, indexed fields), and only then
 * is the one hash value that names it (an index bucket or the scan list)
 * replaced; removal unlinks first and narrows the config after. Slots are
 * handed out round robin and every reference carries the slot's
 * generation, so a packet holding a just-unlinked slot never evaluates a
 * different rule under its number.
 *
 * The maps are the whole truth: filtermap_init() rebuilds this state from
 * them (rules linked by the index or the scan list), so rules survive an
 * agent restart untouched; a slot that holds a rule no list names (a
 * restart between writing and linking) is cleared. No names here: the
 * agent's filter table (filters.c) maps names to (slot, gen). */
#ifndef XDPATH_AGENT_FILTERMAP_H
#define XDPATH_AGENT_FILTERMAP_H

#include <stdbool.h>
#include <stdint.h>

#include "xdpath/filter.h"

struct fm_slot {
	uint32_t gen;            /* 0: free */
	bool indexed;            /* linked in the index bucket (field, key); else in the scan list */
	bool exact;              /* indexed, and the index test is the whole rule */
	uint8_t scope;
	uint32_t need;           /* XF_NEED_* its tests read */
	uint32_t field;          /* indexed: the bucket's field and value */
	uint64_t key;
};

/* The maps, by fd. */
struct filtermap_fds {
	int rules, index, scan, cfg, stats, ports;
};

struct filtermap {
	int rules_fd, index_fd, scan_fd, cfg_fd, stats_fd, ports_fd;
	struct fm_slot slot[XF_MAX_RULES];
	uint32_t next;           /* the round robin's next slot to try */
	uint32_t last_gen;
	uint32_t nrules;
	uint32_t sample_shift;
};

/* Over map fds the caller keeps (the agent's loader, a test's skeleton),
 * the state rebuilt from the maps. A fresh table samples drops at
 * XF_SAMPLE_SHIFT_DEFAULT. 0 or -errno. */
int filtermap_init(struct filtermap *fm, const struct filtermap_fds *fds);

/* Publish rule (its gen is set here); *slot and *gen name it. 0, -ENOSPC
 * (no free slot, or the scan list is full), -EINVAL (an empty match) or
 * -errno of a map write (then nothing is linked). */
int filtermap_add(struct filtermap *fm, struct xf_rule *rule, uint32_t *slot, uint32_t *gen);
/* Unlink and clear a rule; -ENOENT if slot does not hold gen. */
int filtermap_del(struct filtermap *fm, uint32_t slot, uint32_t gen);
/* The rule's counters summed over CPUs. */
int filtermap_stats(const struct filtermap *fm, uint32_t slot, struct xf_stats *out);
/* Drops of a rule go to the sample ring 1 in 2^shift (per CPU). */
int filtermap_set_sampling(struct filtermap *fm, uint32_t shift);
/* The slot holds this rule, linked. */
bool filtermap_has(const struct filtermap *fm, uint32_t slot, uint32_t gen);

/* The walks (XF_NEED_*) a match reads, and whether every alternative tests
 * one indexed field for equality with one and the same value (then *field
 * and *key name its index bucket). Pure: exposed for tests. */
uint32_t filtermap_need(const struct xf_match *m);
/* The walk (XF_NEED_*) that produces summary field f, 0 if none. */
uint32_t filtermap_field_need(unsigned f);
bool filtermap_index_key(const struct xf_match *m, uint32_t *field, uint64_t *key);
/* The summary fields every alternative of m needs present (a test that is
 * not negated fails on an absent field): into req[2]. */
void filtermap_required(const struct xf_match *m, __u64 req[2]);
/* Indexed, and the index test is the rule's only test. */
bool filtermap_exact(const struct xf_match *m);

#endif
