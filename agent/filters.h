/* filters: the node's emergency drop filters by name (issue 6). Owns the
 * filter table (name, rule text, action, scope, expiry, origin: the CLI, the
 * catalog or sanity mode), its state file <stateDir>/filters.json, the
 * datapath's copy through filtermap.c, expiry, the sampled-drop ring
 * (xdp_filter_events), the rules of XdpFilter objects (filtersrc.h) and the
 * filter-* API commands:
 *   filter-add     {name, expr, action, rate, per, scope, expireSeconds}
 *   filter-del     {name}
 *   filter-list    -> every rule with its compiled form, counters, expiry
 *   filter-enable  {id, action?, scope?, expireSeconds?} (a catalog entry)
 *   filter-disable {id}
 *   filter-sanity  {on: bool} / {} -> sanity mode (the catalog's sanity set)
 *   filter-events  {since} -> the recent sampled drops after seq since
 * Rules stay in the pinned maps when the agent stops: the datapath keeps
 * applying them, and expiry is enforced there too. At start the state file
 * and the maps are reconciled: a rule in both is adopted untouched; in the
 * file only (the pins were lost), written again; in the maps only, removed. */
#ifndef XDPATH_AGENT_FILTERS_H
#define XDPATH_AGENT_FILTERS_H

#include <stdbool.h>

struct agent;
struct json_object;

/* Open the maps, load and reconcile the state, read filterDir: before the
 * uplink is attached, so that a restart keeps XDP on while uplink rules
 * exist. 0 or -errno (filters then unavailable, the agent runs on). */
int filters_open(struct agent *a);
/* The sample ring: its epoll fd, or -errno (no `filter watch`). */
int filters_ring(struct agent *a);
void filters_close(struct agent *a);
/* Expired rules out, pod-scoped rules follow their pod's veth. */
void filters_resync(struct agent *a);
/* Take the waiting sampled drops. */
void filters_consume(struct agent *a);
/* Some active rule runs on the uplink (then XDP must be attached there). */
bool filters_want_uplink(const struct agent *a);
/* Set by a change that made filters_want_uplink() change; cleared by the
 * caller once it re-attached. */
bool filters_uplink_changed(struct agent *a);
/* XdpFilter objects (filtersrc.h) -> the rules of origin "xdpfilter": new
 * objects added, changed ones replaced (new rule first), deleted ones
 * removed; invalid ones reported. Takes specs. filters_sync_dir reads
 * filterDir (an unreadable directory changes nothing). */
struct filter_specs;
void filters_sync(struct agent *a, struct filter_specs *specs);
void filters_sync_dir(struct agent *a);
/* A filter-* command; NULL if cmd is not one. */
struct json_object *filters_api(struct agent *a, const char *cmd, struct json_object *req);
/* Counters for /metrics-style output: rules, and hits/drops summed. */
struct json_object *filters_metrics(struct agent *a);

#endif
