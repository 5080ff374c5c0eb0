/* parse: Kubernetes manifests (JSON or YAML; one object, several YAML
 * documents, or `List` kinds) -> struct policy_set. Understands
 * NetworkPolicy (networking.k8s.io/v1), Namespace and Pod (v1); other kinds
 * are ignored. Every field is validated; an invalid object is recorded in
 * set->errors (kind, namespace/name, reason naming the field and value) and
 * skipped, and every valid object is kept. */
#ifndef XDPATH_POLICY_PARSE_H
#define XDPATH_POLICY_PARSE_H

#include <stddef.h>

#include "model.h"

/* Add the objects of one manifest (text of len bytes; source names it in
 * errors, e.g. a file name) to set. A document that is not JSON/YAML at all
 * is one error (with the line) and nothing else is lost. 0 or -ENOMEM. */
int policy_parse(struct policy_set *set, const char *text, size_t len, const char *source);
/* Add one decoded JSON object (a watch event's or a list's item) to set.
 * kind is used when the object has none (list items); source names it in
 * errors. 0 or -ENOMEM. */
struct json_object;
int policy_decode(struct policy_set *set, struct json_object *obj, const char *kind,
		  const char *source);
void policy_set_free(struct policy_set *set);
/* Free what the model owns in one part (for code that builds models). */
void labels_free(struct labels *l);
void selector_free(struct selector *s);
void policy_netpol_free(struct netpol *p);

#endif
