/* catalog: the patch catalog of the emergency XDP drop filters (issue 6):
 * named, documented mitigations an SRE turns on by id
 * (`xdpathctl filter enable CVE-2019-11477`) instead of writing a rule
 * during an incident. Each entry is a rule in the filter language
 * (lang.h) with the action and scope it is meant to run with, its primary
 * source and the legitimate traffic it could drop.
 *
 * The entries come from the malformed-packets catalog of the shared
 * reference notes; its ids (MALF-*, CVE-*) are kept so that alerts
 * correlate with it. `sanity` marks the entries that are exactly checks the
 * Linux receive path already applies (ip_rcv_core, ipv6_rcv, tcp_v4_rcv,
 * __udp4_lib_rcv): together they form the built-in sanity mode, which
 * drops nothing a Linux receiver would have accepted. Pure C, no kernel. */
#ifndef XDPATH_FILTER_CATALOG_H
#define XDPATH_FILTER_CATALOG_H

#include <stdbool.h>
#include <stddef.h>

#include "xdpath/filter.h"

struct xf_catalog_entry {
	const char *id;          /* "CVE-2019-11477", "MALF-IPV4-IHL-LT5" */
	const char *aliases;     /* other ids it answers, comma-separated, or NULL */
	const char *title;       /* one line */
	const char *rule;        /* filter language (lang.h) */
	enum xf_action action;   /* what `filter enable` installs it with */
	unsigned scope;          /* XF_SCOPE_* */
	const char *source;      /* the primary reference: advisory, commit, RFC */
	const char *risk;        /* the legitimate traffic it could drop */
	bool sanity;             /* a check the Linux receive path itself applies */
};

extern const struct xf_catalog_entry xf_catalog[];
extern const size_t xf_catalog_len;

/* The entry whose id or one of whose aliases is id (case-insensitive), or
 * NULL. */
const struct xf_catalog_entry *xf_catalog_find(const char *id);

/* Names for the CLI and the docs: "drop", "pass", "count", "rate-limit";
 * "uplink,pods", "uplink", "pods". Never NULL. */
const char *xf_catalog_action_name(enum xf_action a);
const char *xf_catalog_scope_name(unsigned scope);

#endif
