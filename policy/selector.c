/* selector: LabelSelector matching (metav1.LabelSelector semantics). */
#include <string.h>

#include "compile.h"

static const char *label_get(const struct labels *l, const char *key)
{
	for (size_t i = 0; i < l->n; i++) {
		if (l->v[i].key && !strcmp(l->v[i].key, key))
			return l->v[i].value ? l->v[i].value : "";
	}
	return NULL;
}

static bool in_values(const struct sel_expr *e, const char *v)
{
	for (size_t i = 0; i < e->nvalues; i++) {
		if (e->values[i] && !strcmp(e->values[i], v))
			return true;
	}
	return false;
}

static bool expr_matches(const struct sel_expr *e, const struct labels *labels)
{
	const char *v = e->key ? label_get(labels, e->key) : NULL;

	switch (e->op) {
	case SEL_IN:
		return v && in_values(e, v);
	case SEL_NOT_IN:
		return !v || !in_values(e, v);
	case SEL_EXISTS:
		return v != NULL;
	case SEL_DOES_NOT_EXIST:
		return v == NULL;
	}
	return false; /* an operator we do not know selects nothing */
}

/* An absent selector puts no constraint on the labels: what "absent" means
 * for a peer (the policy's namespace, every pod) is the caller's business. */
bool selector_matches(const struct selector *sel, const struct labels *labels)
{
	static const struct labels none;

	if (!sel->present)
		return true;
	if (!labels)
		labels = &none;
	for (size_t i = 0; i < sel->match_labels.n; i++) {
		const struct label *l = &sel->match_labels.v[i];
		const char *v = l->key ? label_get(labels, l->key) : NULL;

		if (!v || strcmp(v, l->value ? l->value : ""))
			return false;
	}
	for (size_t i = 0; i < sel->nexprs; i++) {
		if (!expr_matches(&sel->exprs[i], labels))
			return false;
	}
	return true;
}
