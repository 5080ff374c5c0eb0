/* prom: the agent's metrics in the Prometheus text exposition format,
 * version 0.0.4 (issue 5). Owns the metric names, their types and help
 * texts, and the mapping from the {"cmd":"metrics"} JSON (api_metrics(),
 * api.c) to them; no agent state, so the mapping is testable on its own.
 *
 * Families prom_render() writes (each only when the JSON has a sample):
 *   xdpath_drops_total{reason}                 counter  packets dropped
 *   xdpath_drop_bytes_total{reason}            counter
 *   xdpath_forward_total{verdict}              counter  packets forwarded
 *   xdpath_forward_bytes_total{verdict}        counter
 *   xdpath_map_entries{map}                    gauge
 *   xdpath_map_capacity{map}                   gauge    max_entries
 *   xdpath_endpoint_tx_packets_total{namespace,pod,interface}  counter
 *   xdpath_endpoint_tx_bytes_total{...}, _rx_packets_total, _rx_bytes_total
 *   xdpath_endpoint_drops_total{namespace,pod,interface}       counter
 *   xdpath_endpoint_policy_denied_total{namespace,pod,interface,direction}
 *   xdpath_conntrack_expired_removed_total     counter
 *   xdpath_filter_rules_active, xdpath_filter_rules_capacity   gauges
 *   xdpath_filter_hits_total, xdpath_filter_drops_total  counters: per rule
 *     {rule,action} when "filters" has a "rules" array (the entries of
 *     filter-list: name, action, active, hits, drops, bytes -> also
 *     xdpath_filter_bytes_total), else the node's sums without labels.
 * Conntrack occupancy is xdpath_map_entries{map="xdp_ct"}. */
#ifndef XDPATH_AGENT_PROM_H
#define XDPATH_AGENT_PROM_H

#include <stdbool.h>

struct hbuf;
struct json_object;

#define PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Append the exposition of metrics (api_metrics()'s shape; missing parts
 * are left out). 0, or -ENOMEM. */
int prom_render(struct json_object *metrics, struct hbuf *out);

/* One family with one sample: # HELP, # TYPE, then `name{labels} v`.
 * labels: NULL/"" or the inner text, `a="x",b="y"`, values escaped
 * (prom_escape). 0, -EINVAL (a name outside [a-zA-Z_:][a-zA-Z0-9_:]*),
 * or -ENOMEM. A counter's name should end in _total. */
int prom_gauge(struct hbuf *out, const char *name, const char *help, const char *labels,
	       double v);
int prom_counter(struct hbuf *out, const char *name, const char *help, const char *labels,
		 double v);

/* The same in parts, for a family with several samples: the header once
 * (type "counter", "gauge", "untyped", "summary" or "histogram"), then
 * each sample; -EINVAL for a bad name or type. */
int prom_family(struct hbuf *out, const char *name, const char *type, const char *help);
int prom_sample(struct hbuf *out, const char *name, const char *labels, double v);

/* Append s as a label value's text: \ " and newline escaped. */
int prom_escape(struct hbuf *out, const char *s);
/* Whether name is a valid metric name. */
bool prom_name_ok(const char *name);

#endif
