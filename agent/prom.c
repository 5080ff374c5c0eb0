/* prom: the metrics JSON -> Prometheus text format 0.0.4 (prom.h). */
#include "prom.h"

#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpd.h"

/* A family as prom_render writes it. */
struct famdef {
	const char *name;
	const char *type;
	const char *help;
};

/* A family being written: its header goes out before its first sample,
 * so that a family without samples leaves no trace. */
struct fam {
	struct hbuf *out;
	const struct famdef *d;
	bool started;
};

struct label {
	const char *key;
	const char *value;
};

/* ---- text ----------------------------------------------------------------- */

bool prom_name_ok(const char *name)
{
	const char *p = name;

	if (!p || !*p)
		return false;
	for (; *p; p++) {
		char c = *p;
		bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';

		if (!alpha && (p == name || c < '0' || c > '9'))
			return false;
	}
	return true;
}

/* Escape \ and newline, and " too in a label value (not in HELP text). */
static int escape(struct hbuf *out, const char *s, bool quote)
{
	const char *run = s;
	int err;

	for (; *s; s++) {
		const char *rep = *s == '\\' ? "\\\\" : *s == '\n' ? "\\n"
				: *s == '"' && quote ? "\\\"" : NULL;

		if (!rep)
			continue;
		if ((err = hbuf_put(out, run, s - run)) || (err = hbuf_put(out, rep, 2)))
			return err;
		run = s + 1;
	}
	return hbuf_put(out, run, s - run);
}

int prom_escape(struct hbuf *out, const char *s)
{
	return escape(out, s ? s : "", true);
}

/* Shortest text that reads back as v (Go's FormatFloat 'g', -1 does the
 * same); NaN and the infinities as the format spells them. */
static void fmt_double(char *buf, size_t len, double v)
{
	if (isnan(v)) {
		snprintf(buf, len, "NaN");
		return;
	}
	if (isinf(v)) {
		snprintf(buf, len, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(buf, len, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			return;
	}
}

static bool type_ok(const char *type)
{
	static const char *const types[] = { "counter", "gauge", "untyped", "summary",
					     "histogram" };

	for (size_t i = 0; type && i < sizeof(types) / sizeof(types[0]); i++)
		if (!strcmp(type, types[i]))
			return true;
	return false;
}

int prom_family(struct hbuf *out, const char *name, const char *type, const char *help)
{
	int err;

	if (!prom_name_ok(name) || !type_ok(type))
		return -EINVAL;
	if ((err = hbuf_printf(out, "# HELP %s ", name)) || (err = escape(out, help ? help : "",
									    false)))
		return err;
	return hbuf_printf(out, "\n# TYPE %s %s\n", name, type);
}

/* `name{labels} text`: text is the value already formatted. */
static int sample_text(struct hbuf *out, const char *name, const char *labels, const char *text)
{
	if (labels && *labels)
		return hbuf_printf(out, "%s{%s} %s\n", name, labels, text);
	return hbuf_printf(out, "%s %s\n", name, text);
}

int prom_sample(struct hbuf *out, const char *name, const char *labels, double v)
{
	char text[40];

	if (!prom_name_ok(name))
		return -EINVAL;
	fmt_double(text, sizeof(text), v);
	return sample_text(out, name, labels, text);
}

static int one(struct hbuf *out, const char *name, const char *type, const char *help,
	       const char *labels, double v)
{
	int err = prom_family(out, name, type, help);

	return err ? err : prom_sample(out, name, labels, v);
}

int prom_gauge(struct hbuf *out, const char *name, const char *help, const char *labels,
	       double v)
{
	return one(out, name, "gauge", help, labels, v);
}

int prom_counter(struct hbuf *out, const char *name, const char *help, const char *labels,
		 double v)
{
	return one(out, name, "counter", help, labels, v);
}

/* ---- samples from JSON ---------------------------------------------------- */

/* A JSON number as a sample value: integers exactly (counters pass 2^53),
 * doubles shortest. False for anything else, and for negative numbers:
 * the agent reports -1 for "could not count", which is no sample. */
static bool json_value(struct json_object *v, char *buf, size_t len)
{
	double d;

	if (json_object_is_type(v, json_type_int)) {
		if (json_object_get_int64(v) < 0)
			return false;
		snprintf(buf, len, "%llu", (unsigned long long)json_object_get_uint64(v));
		return true;
	}
	if (!json_object_is_type(v, json_type_double))
		return false;
	d = json_object_get_double(v);
	if (d < 0)
		return false;
	fmt_double(buf, len, d);
	return true;
}

static int labels_text(struct hbuf *lb, const struct label *l, size_t n)
{
	int err = 0;

	for (size_t i = 0; i < n && !err; i++) {
		err = hbuf_printf(lb, "%s%s=\"", i ? "," : "", l[i].key);
		if (!err)
			err = prom_escape(lb, l[i].value);
		if (!err)
			err = hbuf_put(lb, "\"", 1);
	}
	return err;
}

/* One sample of f from the JSON number v (skipped when v is none). */
static int fam_sample(struct fam *f, const struct label *l, size_t nl, struct json_object *v)
{
	struct hbuf lb = { 0 };
	char text[40];
	int err;

	if (!v || !json_value(v, text, sizeof(text)))
		return 0;
	if (!f->started) {
		err = prom_family(f->out, f->d->name, f->d->type, f->d->help);
		if (err)
			return err;
		f->started = true;
	}
	err = labels_text(&lb, l, nl);
	if (!err)
		err = sample_text(f->out, f->d->name, lb.buf, text);
	hbuf_free(&lb);
	return err;
}

static struct json_object *get(struct json_object *o, const char *key)
{
	struct json_object *v;

	return o && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static const char *get_str(struct json_object *o, const char *key)
{
	struct json_object *v = get(o, key);

	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
}

/* {NAME: {field: N}, ...} -> d{label="NAME"} N for each entry. */
static int by_name(struct hbuf *out, struct json_object *obj, const char *label,
		   const char *field, const struct famdef *d)
{
	struct fam f = { out, d, false };

	if (!obj || !json_object_is_type(obj, json_type_object))
		return 0;
	json_object_object_foreach(obj, name, v) {
		struct label l = { label, name };
		int err = fam_sample(&f, &l, 1, get(v, field));

		if (err)
			return err;
	}
	return 0;
}

/* {key: N} -> d N, no labels. */
static int scalar(struct hbuf *out, struct json_object *obj, const char *key,
		  const struct famdef *d)
{
	struct fam f = { out, d, false };

	return fam_sample(&f, NULL, 0, get(obj, key));
}

/* ---- the families --------------------------------------------------------- */

static const struct famdef drops_pkts = {
	"xdpath_drops_total", "counter", "Packets the datapath dropped, by reason."
};
static const struct famdef drops_bytes = {
	"xdpath_drop_bytes_total", "counter", "Bytes the datapath dropped, by reason."
};
static const struct famdef fwd_pkts = {
	"xdpath_forward_total", "counter",
	"Packets the datapath forwarded, by verdict (where it sent them)."
};
static const struct famdef fwd_bytes = {
	"xdpath_forward_bytes_total", "counter", "Bytes the datapath forwarded, by verdict."
};
static const struct famdef map_entries = {
	"xdpath_map_entries", "gauge", "Entries in a pinned BPF map (arrays: all of them)."
};
static const struct famdef map_capacity = {
	"xdpath_map_capacity", "gauge", "A pinned BPF map's max_entries."
};

static int datapath(struct hbuf *out, struct json_object *m)
{
	int err;

	if ((err = by_name(out, get(m, "drops"), "reason", "packets", &drops_pkts)) ||
	    (err = by_name(out, get(m, "drops"), "reason", "bytes", &drops_bytes)) ||
	    (err = by_name(out, get(m, "forward"), "verdict", "packets", &fwd_pkts)) ||
	    (err = by_name(out, get(m, "forward"), "verdict", "bytes", &fwd_bytes)) ||
	    (err = by_name(out, get(m, "maps"), "map", "entries", &map_entries)))
		return err;
	return by_name(out, get(m, "maps"), "map", "capacity", &map_capacity);
}

/* A per-endpoint family: up to two JSON fields, told apart by "direction". */
struct epdef {
	struct famdef d;
	const char *key[2];
	const char *direction[2];
};

static const struct epdef ep_fams[] = {
	{ { "xdpath_endpoint_tx_packets_total", "counter", "Packets an endpoint (pod) sent." },
	  { "tx_packets" } },
	{ { "xdpath_endpoint_tx_bytes_total", "counter", "Bytes an endpoint (pod) sent." },
	  { "tx_bytes" } },
	{ { "xdpath_endpoint_rx_packets_total", "counter",
	    "Packets the datapath delivered to an endpoint (pod)." },
	  { "rx_packets" } },
	{ { "xdpath_endpoint_rx_bytes_total", "counter",
	    "Bytes the datapath delivered to an endpoint (pod)." },
	  { "rx_bytes" } },
	{ { "xdpath_endpoint_drops_total", "counter",
	    "Packets dropped that the datapath counted against an endpoint, for any reason." },
	  { "drops" } },
	{ { "xdpath_endpoint_policy_denied_total", "counter",
	    "Packets an endpoint's NetworkPolicy denied, by direction (ingress: to the pod)." },
	  { "policy_denied_ingress", "policy_denied_egress" },
	  { "ingress", "egress" } },
};

static int endpoint_fam(struct hbuf *out, struct json_object *eps, const struct epdef *e)
{
	struct fam f = { out, &e->d, false };
	size_t n = json_object_array_length(eps);
	int err;

	for (size_t i = 0; i < n; i++) {
		struct json_object *ep = json_object_array_get_idx(eps, i);
		struct label l[4] = {
			{ "namespace", get_str(ep, "podNamespace") },
			{ "pod", get_str(ep, "podName") },
			/* a pod with two interfaces has two endpoints */
			{ "interface", get_str(ep, "ifname") },
		};

		for (int k = 0; k < 2 && e->key[k]; k++) {
			l[3] = (struct label){ "direction", e->direction[k] };
			err = fam_sample(&f, l, e->direction[k] ? 4 : 3, get(ep, e->key[k]));
			if (err)
				return err;
		}
	}
	return 0;
}

static int endpoints(struct hbuf *out, struct json_object *m)
{
	struct json_object *eps = get(m, "endpoints");
	int err;

	if (!eps || !json_object_is_type(eps, json_type_array))
		return 0;
	for (size_t i = 0; i < sizeof(ep_fams) / sizeof(ep_fams[0]); i++)
		if ((err = endpoint_fam(out, eps, &ep_fams[i])))
			return err;
	return 0;
}

static const struct famdef ct_expired = {
	"xdpath_conntrack_expired_removed_total", "counter",
	"Expired connection-tracking entries the agent removed from xdp_ct."
};

static const struct famdef filt_active = {
	"xdpath_filter_rules_active", "gauge", "Emergency filter rules active in the datapath."
};
static const struct famdef filt_capacity = {
	"xdpath_filter_rules_capacity", "gauge", "Emergency filter rules the datapath can hold."
};
static const struct famdef filt_hits = {
	"xdpath_filter_hits_total", "counter", "Packets the emergency filters matched (by rule, when labelled)."
};
static const struct famdef filt_drops = {
	"xdpath_filter_drops_total", "counter", "Packets the emergency filters dropped (by rule, when labelled)."
};
static const struct famdef filt_bytes = {
	"xdpath_filter_bytes_total", "counter", "Bytes an emergency filter rule matched."
};

/* filter-list entries -> {rule, action} samples of d; inactive rules
 * (not in the datapath: no counters) are left out. */
static int filter_rules(struct hbuf *out, struct json_object *rules, const char *field,
			const struct famdef *d)
{
	struct fam f = { out, d, false };
	size_t n = json_object_array_length(rules);
	int err;

	for (size_t i = 0; i < n; i++) {
		struct json_object *r = json_object_array_get_idx(rules, i), *act = get(r, "active");
		struct label l[2] = { { "rule", get_str(r, "name") }, { "action", get_str(r, "action") } };

		if (act && !json_object_get_boolean(act))
			continue;
		if ((err = fam_sample(&f, l, 2, get(r, field))))
			return err;
	}
	return 0;
}

static int filters(struct hbuf *out, struct json_object *m)
{
	struct json_object *fo = get(m, "filters"), *rules = get(fo, "rules");
	int err;

	if ((err = scalar(out, fo, "activeRules", &filt_active)) ||
	    (err = scalar(out, fo, "capacity", &filt_capacity)))
		return err;
	if (!rules || !json_object_is_type(rules, json_type_array)) {
		err = scalar(out, fo, "hits", &filt_hits);
		return err ? err : scalar(out, fo, "drops", &filt_drops);
	}
	if ((err = filter_rules(out, rules, "hits", &filt_hits)) ||
	    (err = filter_rules(out, rules, "drops", &filt_drops)))
		return err;
	return filter_rules(out, rules, "bytes", &filt_bytes);
}

int prom_render(struct json_object *metrics, struct hbuf *out)
{
	int err;

	if ((err = datapath(out, metrics)) || (err = endpoints(out, metrics)) ||
	    (err = scalar(out, get(metrics, "conntrack"), "expiredRemoved", &ct_expired)))
		return err;
	return filters(out, metrics);
}
