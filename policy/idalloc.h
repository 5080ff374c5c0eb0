/* idalloc: the node-local identity allocator (struct id_alloc, declared
 * opaque in compile.h). Owns the identity key of a pod (namespace, sorted pod
 * labels, sorted namespace labels, sorted named container ports) and the
 * key -> identity table that lives across compilations.
 *
 * Same key -> same identity for as long as some compilation uses it. A key
 * that a completed compilation did not use is forgotten (memory stays bounded
 * by the live label sets); identities come from a monotonic counter, so a
 * forgotten identity is never handed out again (no aliasing in the maps
 * while the agent applies a delta). Internal to policy/. */
#ifndef XDPATH_POLICY_IDALLOC_H
#define XDPATH_POLICY_IDALLOC_H

#include <stdint.h>

#include "compile.h"

/* Start a compilation (marks every key unused). */
void id_alloc_begin(struct id_alloc *a);
/* The identity of pod (in a namespace with ns_labels); 0 if out of memory
 * or out of identities. */
uint32_t id_alloc_pod(struct id_alloc *a, const struct pod *pod, const struct labels *ns_labels);
/* End a successful compilation: forget the keys it did not use. */
void id_alloc_sweep(struct id_alloc *a);
/* Live keys (for tests). */
size_t id_alloc_count(const struct id_alloc *a);

#endif
