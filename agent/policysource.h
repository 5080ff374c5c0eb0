/* policysource: where the agent's NetworkPolicy, Pod and Namespace objects
 * come from. policysrc.c compiles whatever a source returns and writes the
 * maps; a source only produces objects. Sources: the manifest directory
 * (policydir.c, "policyDir") and the Kubernetes API (kubesrc.c). */
#ifndef XDPATH_AGENT_POLICYSOURCE_H
#define XDPATH_AGENT_POLICYSOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"

struct agent;

struct policy_source {
	const char *name;
	/* Every current object into set (fresh, empty). *sig is mixed with a
	 * digest that changes whenever the objects may have (the engine
	 * skips recompiling when it did not); *nobjs counts the units read
	 * (files). 0, or -errno with *why saying what failed (the previous
	 * result is kept). */
	int (*load)(struct agent *a, struct policy_set *set, uint64_t *sig, int *nobjs,
		    const char **why);
	/* Optional, after a load that returned 0: used says whether its set
	 * replaced the previous one (a borrowed set's owner may now free what
	 * only the previous one pointed to). */
	void (*commit)(struct agent *a, bool used);
	/* Optional: a problem with one object, once per new problem: invalid
	 * (a NetworkPolicy, Pod, ... that is skipped) or, for a Pod, map_full
	 * (its allow entries do not fit the policy map: it is denied). */
	void (*report)(struct agent *a, const struct policy_error *e, bool map_full);
};

extern const struct policy_source policy_source_dir;
extern const struct policy_source policy_source_k8s;

/* FNV-1a step, for the sources' and the engine's signatures. */
static inline uint64_t policy_sig(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}

#endif
