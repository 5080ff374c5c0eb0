/* ctl_filter: `xdpathctl filter ...`. The offline commands (check, test,
 * fields, catalog) run the filter library here, no agent needed; the live
 * ones (add, list, del, enable, disable, sanity, watch) are requests to the
 * agent, which owns the rule table in the datapath. */
#include <errno.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "ctl.h"
#include "eval.h"
#include "lang.h"
#include "pcap.h"

/* ---- filter check / test / fields (offline) ------------------------------------- */

/* Compile expr; on an error, print it with a caret under the column. */
static int filter_compile(const char *expr, struct xf_match *m)
{
	struct xf_error e;
	int err = xf_compile(expr, m, &e);

	if (!err)
		return 0;
	fprintf(stderr, "xdpathctl: filter: column %d: %s\n  %s\n  %*s^\n", e.col, e.msg, expr,
		e.col > 0 ? e.col - 1 : 0, "");
	return err;
}

static int filter_check(const char *expr, bool json)
{
	struct xf_match m;
	char buf[8192];

	if (filter_compile(expr, &m))
		return 2;
	if (json) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "expr", json_object_new_string(expr));
		json_object_object_add(o, "alternatives", json_object_new_int(m.nconj));
		xf_match_format(&m, buf, sizeof(buf));
		json_object_object_add(o, "compiled", json_object_new_string(buf));
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
								JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
		return 0;
	}
	xf_match_format(&m, buf, sizeof(buf));
	printf("ok: %d alternative%s\n%s\n", m.nconj, m.nconj == 1 ? "" : "s", buf);
	return 0;
}

struct pcap_run {
	const struct xf_match *m;
	unsigned long n, matched;
	struct json_object *list;   /* numbers of matching packets (1-based) */
};

static int pcap_one(void *ctx, const unsigned char *frame, size_t caplen, size_t origlen)
{
	struct pcap_run *r = ctx;
	struct xf_summary s;

	(void)origlen;
	r->n++;
	xf_summarize(frame, caplen, &s);
	if (xf_match_eval(r->m, &s, frame, caplen)) {
		r->matched++;
		json_object_array_add(r->list, json_object_new_int64((int64_t)r->n));
	}
	return 0;
}

static int filter_test(const char *expr, const char *pcap, bool json)
{
	struct xf_match m;
	struct pcap_run r = { &m, 0, 0, json_object_new_array() };
	char err[512];
	int rc;

	if (filter_compile(expr, &m)) {
		json_object_put(r.list);
		return 2;
	}
	rc = xf_pcap_each(pcap, pcap_one, &r, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "xdpathctl: %s\n", err);
		json_object_put(r.list);
		return 1;
	}
	if (json) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "packets", json_object_new_int64((int64_t)r.n));
		json_object_object_add(o, "matched", json_object_new_int64((int64_t)r.matched));
		json_object_object_add(o, "matching", r.list);
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
		return 0;
	}
	printf("%lu of %lu packets match", r.matched, r.n);
	for (size_t i = 0; i < json_object_array_length(r.list) && i < 20; i++)
		printf("%s%lld", i ? ", " : ": #",
		       (long long)json_object_get_int64(json_object_array_get_idx(r.list, i)));
	printf("%s\n", json_object_array_length(r.list) > 20 ? ", ..." : "");
	json_object_put(r.list);
	return 0;
}

static int filter_fields(bool json)
{
	static const char *const types[] = { "number", "boolean", "IPv4", "IPv6", "MAC", "flags",
					     "layer" };
	struct table t = { .ncols = 3 };
	static const char *const head[] = { "FIELD", "TYPE", "MEANING" };
	struct json_object *arr = json_object_new_array();

	table_row(&t, head);
	for (size_t i = 0; i < xf_nfields; i++) {
		const struct xf_field_info *f = &xf_fields[i];
		char type[24];
		const char *row[3] = { f->name, type, f->doc };

		if (f->type == XT_UINT)
			snprintf(type, sizeof(type), "%u-bit", f->bits);
		else
			snprintf(type, sizeof(type), "%s", types[f->type]);
		table_row(&t, row);
		if (json) {
			struct json_object *o = json_object_new_object();

			json_object_object_add(o, "name", json_object_new_string(f->name));
			json_object_object_add(o, "type", json_object_new_string(type));
			json_object_object_add(o, "doc", json_object_new_string(f->doc));
			if (f->consts)
				json_object_object_add(o, "names", json_object_new_string(f->consts));
			json_object_array_add(arr, o);
		}
	}
	if (json) {
		table_discard(&t);
		printf("%s\n", json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY));
	} else {
		table_print(&t);
	}
	json_object_put(arr);
	return 0;
}

/* ---- filter catalog (offline) ------------------------------------------------ */

static struct json_object *catalog_json(const struct xf_catalog_entry *e)
{
	struct json_object *o = json_object_new_object(), *aliases = json_object_new_array();
	const char *p = e->aliases;

	while (p && *p) {
		size_t n = strcspn(p, ",");

		json_object_array_add(aliases, json_object_new_string_len(p, (int)n));
		p += n + (p[n] == ',');
	}
	json_object_object_add(o, "id", json_object_new_string(e->id));
	json_object_object_add(o, "aliases", aliases);
	json_object_object_add(o, "title", json_object_new_string(e->title));
	json_object_object_add(o, "rule", json_object_new_string(e->rule));
	json_object_object_add(o, "action",
			       json_object_new_string(xf_catalog_action_name(e->action)));
	json_object_object_add(o, "scope",
			       json_object_new_string(xf_catalog_scope_name(e->scope)));
	json_object_object_add(o, "sanity", json_object_new_boolean(e->sanity));
	json_object_object_add(o, "source", json_object_new_string(e->source));
	json_object_object_add(o, "risk", json_object_new_string(e->risk));
	return o;
}

/* Print o, then free it. */
static void catalog_print(struct json_object *o)
{
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
							JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

/* Every field of one entry, a line each. */
static void catalog_show(const struct xf_catalog_entry *e)
{
	struct table t = { .ncols = 2 };
	const char *rows[][2] = {
		{ "id:", e->id },
		{ "aliases:", e->aliases ? e->aliases : "-" },
		{ "title:", e->title },
		{ "rule:", e->rule },
		{ "action:", xf_catalog_action_name(e->action) },
		{ "scope:", xf_catalog_scope_name(e->scope) },
		{ "sanity:", e->sanity ? "yes" : "no" },
		{ "source:", e->source },
		{ "risk:", e->risk },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		table_row(&t, rows[i]);
	table_print(&t);
}

/* `filter catalog ID`: one entry, by id or alias, in full. */
static int catalog_one(const char *id, bool json)
{
	const struct xf_catalog_entry *e = xf_catalog_find(id);

	if (!e) {
		fprintf(stderr, "xdpathctl: filter catalog: no entry '%s' "
				"(`xdpathctl filter catalog` lists them)\n", id);
		return 1;
	}
	if (json)
		catalog_print(catalog_json(e));
	else
		catalog_show(e);
	return 0;
}

/* `filter catalog [ID]`: the list (-o json: every field of every entry),
 * or one entry. */
static int filter_catalog(const char *id, bool json)
{
	static const char *const head[] = { "ID", "ACTION", "SCOPE", "SANITY", "TITLE" };
	struct table t = { .ncols = 5 };
	struct json_object *arr;

	if (id)
		return catalog_one(id, json);
	if (json) {
		arr = json_object_new_array();
		for (size_t i = 0; i < xf_catalog_len; i++)
			json_object_array_add(arr, catalog_json(&xf_catalog[i]));
		catalog_print(arr);
		return 0;
	}
	table_row(&t, head);
	for (size_t i = 0; i < xf_catalog_len; i++) {
		const struct xf_catalog_entry *e = &xf_catalog[i];
		const char *row[5] = { e->id, xf_catalog_action_name(e->action),
				       xf_catalog_scope_name(e->scope), e->sanity ? "yes" : "no",
				       e->title };

		table_row(&t, row);
	}
	table_print(&t);
	return 0;
}

/* ---- live commands (the agent) ----------------------------------------------- */

/* "90s", "15m", "2h", "1d", "1h30m" -> seconds; -1 if malformed. */
static long long parse_duration(const char *s)
{
	long long total = 0, n;
	char *end;

	if (!s || !*s)
		return -1;
	while (*s) {
		if (*s < '0' || *s > '9')
			return -1;
		n = strtoll(s, &end, 10);
		if (end == s || n < 0 || n > 100000000)
			return -1;
		switch (*end) {
		case 's': break;
		case 'm': n *= 60; break;
		case 'h': n *= 3600; break;
		case 'd': n *= 86400; break;
		default: return -1;
		}
		total += n;
		s = end + 1;
	}
	return total > 0 ? total : -1;
}

/* Send req (consumed); the answer object, or NULL after printing why (an
 * {"error"} answer included). */
static struct json_object *call(const char *sock, struct json_object *req)
{
	struct json_object *o, *e, *col, *expr;
	char *text = request(sock, req);

	json_object_put(req);
	if (!text)
		return NULL;
	o = json_tokener_parse(text);
	free(text);
	if (!o) {
		fprintf(stderr, "xdpathctl: the agent's answer is not JSON\n");
		return NULL;
	}
	if (!json_object_object_get_ex(o, "error", &e))
		return o;
	fprintf(stderr, "xdpathctl: %s\n", json_object_get_string(e));
	if (json_object_object_get_ex(o, "column", &col) &&
	    json_object_object_get_ex(o, "expr", &expr) && json_object_get_int(col) > 0)
		fprintf(stderr, "  %s\n  %*s^\n", json_object_get_string(expr),
			json_object_get_int(col) - 1, "");
	json_object_put(o);
	return NULL;
}

static void print_json(struct json_object *o)
{
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
								JSON_C_TO_STRING_NOSLASHESCAPE));
}

/* The options of add/enable into req; 2 (usage error, printed) or 0. */
static int action_opts(const struct filter_args *fa, struct json_object *req)
{
	long long exp;

	if (fa->action) {
		unsigned long rate;
		char *end;

		if (!strncmp(fa->action, "rate-limit=", 11)) {
			rate = strtoul(fa->action + 11, &end, 10);
			if (end == fa->action + 11 || (strcmp(end, "/s") && *end) || !rate) {
				fprintf(stderr, "xdpathctl: --action rate-limit=N/s: N packets per "
						"second, N > 0\n");
				return 2;
			}
			json_object_object_add(req, "action", json_object_new_string("rate-limit"));
			json_object_object_add(req, "rate", json_object_new_int64((int64_t)rate));
		} else if (!strcmp(fa->action, "drop") || !strcmp(fa->action, "pass") ||
			   !strcmp(fa->action, "count")) {
			json_object_object_add(req, "action", json_object_new_string(fa->action));
		} else {
			fprintf(stderr, "xdpathctl: --action must be drop, pass, count or "
					"rate-limit=N/s, not \"%s\"\n", fa->action);
			return 2;
		}
	}
	if (fa->per) {
		if (strcmp(fa->per, "rule") && strcmp(fa->per, "src") && strcmp(fa->per, "dst")) {
			fprintf(stderr, "xdpathctl: --per must be rule, src or dst\n");
			return 2;
		}
		json_object_object_add(req, "per", json_object_new_string(fa->per));
	}
	if (fa->expire) {
		exp = parse_duration(fa->expire);
		if (exp < 0) {
			fprintf(stderr, "xdpathctl: --expire: a duration such as 90s, 15m, 2h, 1d "
					"or 1h30m, not \"%s\"\n", fa->expire);
			return 2;
		}
		json_object_object_add(req, "expireSeconds", json_object_new_int64(exp));
	}
	if (fa->scope) {
		const char *slash = strchr(fa->scope, '/');

		if (strcmp(fa->scope, "all") && strcmp(fa->scope, "uplink") && strcmp(fa->scope, "pods") &&
		    (!slash || slash == fa->scope || !slash[1] || strchr(slash + 1, '/'))) {
			fprintf(stderr, "xdpathctl: --scope must be all, uplink, pods or "
					"NAMESPACE/POD, not \"%s\"\n", fa->scope);
			return 2;
		}
		json_object_object_add(req, "scope", json_object_new_string(fa->scope));
	}
	if (fa->per && (!fa->action || strncmp(fa->action, "rate-limit=", 11))) {
		fprintf(stderr, "xdpathctl: --per applies to --action rate-limit=N/s only\n");
		return 2;
	}
	return 0;
}

static struct json_object *new_req(const char *cmd)
{
	struct json_object *req = json_object_new_object();

	json_object_object_add(req, "cmd", json_object_new_string(cmd));
	return req;
}

static void print_added(struct json_object *o)
{
	printf("%s: %s, %s, scope %s", str(o, "name"), str(o, "action"),
	       boolean(o, "indexed") ? "indexed" : "scanned", str(o, "scope"));
	if (num(o, "expires"))
		printf(", expires in %lld s", num(o, "expiresInSeconds"));
	printf("\n");
}

/* filter add / filter enable: the request with the action options, the
 * pushed rule as the answer. */
static int push(const char *sock, struct json_object *req, const struct filter_args *fa, bool json)
{
	struct json_object *o;

	if (action_opts(fa, req)) {
		json_object_put(req);
		return 2;
	}
	o = call(sock, req);
	if (!o)
		return 1;
	if (json)
		print_json(o);
	else
		print_added(o);
	json_object_put(o);
	return 0;
}

static int filter_add(const char *sock, const char *name, const char *expr,
		      const struct filter_args *fa, bool json)
{
	struct json_object *req;
	struct xf_match m;

	if (filter_compile(expr, &m))
		return 2;
	req = new_req("filter-add");
	json_object_object_add(req, "name", json_object_new_string(name));
	json_object_object_add(req, "expr", json_object_new_string(expr));
	return push(sock, req, fa, json);
}

static int filter_enable(const char *sock, const char *id, const struct filter_args *fa, bool json)
{
	struct json_object *req = new_req("filter-enable");

	json_object_object_add(req, "id", json_object_new_string(id));
	return push(sock, req, fa, json);
}

/* filter del NAME / filter disable ID: one key, a one-line answer. */
static int filter_simple(const char *sock, const char *cmd, const char *key, const char *val,
			 const char *done, bool json)
{
	struct json_object *req = new_req(cmd), *o;

	json_object_object_add(req, key, json_object_new_string(val));
	o = call(sock, req);
	if (!o)
		return 1;
	if (json)
		print_json(o);
	else
		printf("%s %s\n", done, val);
	json_object_put(o);
	return 0;
}

static int filter_sanity(const char *sock, const char *onoff, bool json)
{
	struct json_object *req = new_req("filter-sanity"), *o;

	if (onoff && strcmp(onoff, "on") && strcmp(onoff, "off")) {
		fprintf(stderr, "xdpathctl: filter sanity on|off\n");
		json_object_put(req);
		return 2;
	}
	if (onoff)
		json_object_object_add(req, "on", json_object_new_boolean(!strcmp(onoff, "on")));
	o = call(sock, req);
	if (!o)
		return 1;
	if (json)
		print_json(o);
	else
		printf("sanity mode %s\n", boolean(o, "sanity") ? "on" : "off");
	json_object_put(o);
	return 0;
}

static void expiry_cell(struct json_object *e, char *buf, size_t len)
{
	long long left = num(e, "expiresInSeconds");

	if (!num(e, "expires"))
		snprintf(buf, len, "never");
	else if (left <= 0)
		snprintf(buf, len, "expired");
	else if (left >= 3600)
		snprintf(buf, len, "%lldh%02lldm", left / 3600, left % 3600 / 60);
	else
		snprintf(buf, len, "%lldm%02llds", left / 60, left % 60);
}

static int filter_list(const char *sock, bool json)
{
	static const char *const head[] = { "NAME", "ACTION", "SCOPE", "HITS", "BYTES",
					    "DROPS", "EXPIRES", "STATE", "RULE" };
	struct table t = { .ncols = 9, .right = { [3] = true, [4] = true, [5] = true } };
	struct json_object *o = call(sock, new_req("filter-list")), *arr;

	if (!o)
		return 1;
	if (json) {
		print_json(o);
		json_object_put(o);
		return 0;
	}
	table_row(&t, head);
	json_object_object_get_ex(o, "filters", &arr);
	for (size_t i = 0; arr && i < json_object_array_length(arr); i++) {
		struct json_object *e = json_object_array_get_idx(arr, i);
		char act[48], hits[24], bytes[24], drops[24], exp[24], rule[84];
		const char *row[9] = { str(e, "name"), act, str(e, "scope"), hits, bytes, drops,
				       exp, boolean(e, "active") ? "active" : str(e, "status"),
				       rule };

		if (num(e, "rate"))
			snprintf(act, sizeof(act), "rate-limit=%lld/s/%s", num(e, "rate"), str(e, "per"));
		else
			snprintf(act, sizeof(act), "%s", str(e, "action"));
		snprintf(hits, sizeof(hits), "%lld", num(e, "hits"));
		snprintf(bytes, sizeof(bytes), "%lld", num(e, "bytes"));
		snprintf(drops, sizeof(drops), "%lld", num(e, "drops"));
		expiry_cell(e, exp, sizeof(exp));
		snprintf(rule, sizeof(rule), "%.80s", str(e, "expr"));
		if (strlen(str(e, "expr")) > 80)
			memcpy(rule + 77, "...", 4);
		table_row(&t, row);
	}
	table_print(&t);
	printf("sanity mode %s\n", boolean(o, "sanity") ? "on" : "off");
	json_object_object_get_ex(o, "invalid", &arr);
	for (size_t i = 0; arr && i < json_object_array_length(arr); i++) {
		struct json_object *p = json_object_array_get_idx(arr, i);

		printf("%s%s: %s\n", i ? "" : "invalid XdpFilter objects (skipped):\n  ",
		       str(p, "at"), str(p, "error"));
		if (i + 1 < json_object_array_length(arr))
			printf("  ");
	}
	json_object_put(o);
	return 0;
}

static const char *const watch_head[] = { "TIME", "RULE", "AT", "INTERFACE", "LEN",
					   "PROTO", "SRC", "DST" };

static void watch_rows(struct json_object *arr, bool header)
{
	struct table t = { .ncols = 8, .right = { [4] = true } };

	if (header)
		table_row(&t, watch_head);
	for (size_t i = 0; arr && i < json_object_array_length(arr); i++) {
		struct json_object *e = json_object_array_get_idx(arr, i);
		char len[16], proto[8], src[64], dst[64];
		const char *row[8] = { str(e, "time"), str(e, "rule"), str(e, "at"),
				       str(e, "interface"), len, proto, src, dst };

		snprintf(len, sizeof(len), "%lld", num(e, "len"));
		snprintf(proto, sizeof(proto), "%s", str(e, "proto"));
		if (json_object_object_get_ex(e, "dstPort", NULL)) {
			snprintf(src, sizeof(src), "%s:%lld", str(e, "src"), num(e, "srcPort"));
			snprintf(dst, sizeof(dst), "%s:%lld", str(e, "dst"), num(e, "dstPort"));
		} else {
			snprintf(src, sizeof(src), "%s", str(e, "src"));
			snprintf(dst, sizeof(dst), "%s", str(e, "dst"));
		}
		table_row(&t, row);
	}
	table_print(&t);
}

/* The sampled drops; --follow: new ones as they come, until interrupted. */
static int filter_watch(const char *sock, bool follow, bool json)
{
	long long since = 0;
	bool header = true;

	for (;;) {
		struct json_object *req = new_req("filter-events"), *o, *arr;

		json_object_object_add(req, "since", json_object_new_int64(since));
		o = call(sock, req);
		if (!o)
			return 1;
		json_object_object_get_ex(o, "events", &arr);
		if (json) {
			for (size_t i = 0; arr && i < json_object_array_length(arr); i++)
				printf("%s\n", json_object_to_json_string_ext(
						       json_object_array_get_idx(arr, i),
						       JSON_C_TO_STRING_PLAIN));
		} else if (arr && (json_object_array_length(arr) || !follow)) {
			watch_rows(arr, header);
			header = false;
		}
		fflush(stdout);
		since = num(o, "last");
		json_object_put(o);
		if (!follow)
			return 0;
		usleep(200000);
	}
}

int ctl_filter(const char *sock, int nwords, char **words, const struct filter_args *fa,
	       bool json)
{
	if (nwords == 3 && !strcmp(words[1], "check") && !fa->pcap)
		return filter_check(words[2], json);
	if (nwords == 3 && !strcmp(words[1], "test") && fa->pcap)
		return filter_test(words[2], fa->pcap, json);
	if (nwords == 2 && !strcmp(words[1], "fields") && !fa->pcap)
		return filter_fields(json);
	if ((nwords == 2 || nwords == 3) && !strcmp(words[1], "catalog") && !fa->pcap)
		return filter_catalog(nwords == 3 ? words[2] : NULL, json);
	if (fa->pcap)
		return -1;
	if (nwords == 4 && !strcmp(words[1], "add"))
		return filter_add(sock, words[2], words[3], fa, json);
	if (nwords == 2 && !strcmp(words[1], "list"))
		return filter_list(sock, json);
	if (nwords == 3 && !strcmp(words[1], "del"))
		return filter_simple(sock, "filter-del", "name", words[2], "deleted", json);
	if (nwords == 3 && !strcmp(words[1], "enable"))
		return filter_enable(sock, words[2], fa, json);
	if (nwords == 3 && !strcmp(words[1], "disable"))
		return filter_simple(sock, "filter-disable", "id", words[2], "disabled", json);
	if ((nwords == 2 || nwords == 3) && !strcmp(words[1], "sanity"))
		return filter_sanity(sock, nwords == 3 ? words[2] : NULL, json);
	if (nwords == 2 && !strcmp(words[1], "watch"))
		return filter_watch(sock, fa->follow, json);
	return -1;
}
