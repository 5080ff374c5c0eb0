/* lint: offline checks of a set of manifest files (`xdpathctl policy lint`).
 * Owns the checks and their messages; the files are loaded with the
 * library's own parser (policy_parse), Pods and Namespaces included, so
 * what lint reads is what the agent would read. Pure: the caller reads the
 * files.
 *
 * Errors: whatever the parser rejects (syntax errors with file:line:col,
 * invalid objects with the field and value; among them an ipBlock except
 * that is not strictly inside its cidr, which the API server refuses too).
 * Warnings, each naming the file and the policy:
 *   dns-blocked        egress isolated, and no egress rule of any policy
 *                      selecting those pods allows UDP (TCP) 53 to
 *                      kube-system (a namespaceSelector that matches it,
 *                      any namespace, an ipBlock, or no peers at all)
 *   selector-no-pods   a podSelector (spec.podSelector or a peer's) that
 *                      matches no Pod of the files
 *   named-port-unknown a port name that no container port of the
 *                      destination pods names (ingress: the pods the policy
 *                      selects; egress: the pods the rule's peers select)
 * The last two need Pods: without any, one info says they were skipped.
 * With Pods, dns-blocked looks at each selected pod; without (or for a
 * policy that selects none of them), at the policies whose podSelector
 * certainly selects every pod this one does (same namespace, a subset of
 * its terms). */
#ifndef XDPATH_POLICY_LINT_H
#define XDPATH_POLICY_LINT_H

#include <stdbool.h>
#include <stddef.h>

struct lint_file {
	const char *name;            /* reported as is */
	const char *text;
	size_t len;
};

enum lint_level { LINT_INFO, LINT_WARNING, LINT_ERROR };

struct lint_diag {
	enum lint_level level;
	const char *file;            /* a lint_file's name, or NULL */
	const char *check;           /* "invalid", "dns-blocked", ... (static) */
	char *kind, *ns, *name;      /* the object, each may be NULL */
	char *msg;
};

struct lint_report {
	struct lint_diag *v;
	size_t n;
	size_t nerrors, nwarnings;
	bool pods_checked;           /* the files hold at least one Pod */
};

/* Lint the files together (later objects replace earlier ones, as the
 * agent's policyDir reads them). 0 or -ENOMEM. */
int policy_lint(const struct lint_file *files, size_t n, struct lint_report *out);
void lint_report_free(struct lint_report *r);

/* 0 clean (infos only), 1 warnings, 2 errors. */
int lint_exit_code(const struct lint_report *r);
const char *lint_level_name(enum lint_level l);

#endif
