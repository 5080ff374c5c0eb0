/* ctl_filter: `xdpathctl filter ...`. The offline commands (check, test,
 * fields, catalog) run the filter library here, no agent needed; the live
 * ones (add, list, del, enable, disable, sanity, watch) are requests to the
 * agent, which owns the rule table in the datapath. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	if (xf_match_eval(r->m, &s)) {
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

int ctl_filter(const char *sock, int nwords, char **words, const struct filter_args *fa,
	       bool json)
{
	(void)sock;
	if (nwords == 3 && !strcmp(words[1], "check") && !fa->pcap)
		return filter_check(words[2], json);
	if (nwords == 3 && !strcmp(words[1], "test") && fa->pcap)
		return filter_test(words[2], fa->pcap, json);
	if (nwords == 2 && !strcmp(words[1], "fields") && !fa->pcap)
		return filter_fields(json);
	return -1;
}
