/* xdpathctl: the operator's view of one node's agent, over its local API
 * (<stateDir>/xdpathd.sock). Aligned tables by default, the agent's raw
 * JSON with -o json. Exit 1 if the agent cannot be reached or answers with
 * an error, 2 on a usage error. `policy lint` needs no agent: it runs the
 * policy library (policy/lint.h) over the files here, and exits 0 when
 * they are clean, 1 with warnings, 2 with errors. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl.h"
#include "fsutil.h"
#include "lint.h"

#define DEFAULT_SOCKET "/run/xdpath/xdpathd.sock"
#define TIMEOUT_SEC 10

static void usage(FILE *f)
{
	fprintf(f, "usage: xdpathctl [--socket PATH] [-o table|json] COMMAND\n"
		   "commands:\n"
		   "  status | endpoint list | metrics | policy list\n"
		   "  policy get NAMESPACE/POD\n"
		   "      the policies that select the pod and what each direction allows\n"
		   "  policy explain --from NAMESPACE/POD|IP --to NAMESPACE/POD|IP [--port PORT]\n"
		   "      allowed or denied, by which policy and rule, or why no rule matches;\n"
		   "      PORT: 80, 80/TCP, 53/UDP, 3868/SCTP, http/TCP (a port name of the\n"
		   "      destination pod), TCP alone (no port: only rules that allow every\n"
		   "      port match; the default) or ICMP (ping)\n"
		   "  policy drops [--follow]\n"
		   "      the recent policy drops: pod, direction, why, protocol, addresses\n"
		   "      (--follow: print new ones as they come, until interrupted)\n"
		   "  filter check EXPR\n"
		   "      compile a filter rule offline: the compiled tests, or the error and\n"
		   "      where it is (exit 2)\n"
		   "  filter test EXPR --pcap FILE\n"
		   "      which packets of a capture the rule matches (offline)\n"
		   "  filter fields\n"
		   "      the fields a rule can test\n"
		   "  filter catalog [ID]\n"
		   "      the catalog of ready-made mitigations (offline); with an id or an\n"
		   "      alias (CVE-2019-11477), every field of that entry: rule, source, risk\n"
		   "  filter add NAME EXPR [--action drop|pass|count|rate-limit=N/s] [--per rule|src|dst]\n"
		   "             [--expire 90s|15m|2h|1d] [--scope all|uplink|pods|NAMESPACE/POD]\n"
		   "      push a rule to this node's datapath now (default: drop, all, no expiry)\n"
		   "  filter list | filter del NAME\n"
		   "      the rules with hits, bytes, drops and expiry; remove one\n"
		   "  filter enable ID [--action ...] [--expire ...] [--scope ...] | filter disable ID\n"
		   "      a catalog mitigation, as a rule named by its id\n"
		   "  filter sanity [on|off]\n"
		   "      the catalog's sanity set (the kernel's own header checks) as one switch\n"
		   "  filter watch [--follow]\n"
		   "      sampled dropped packets: rule, where, addresses (--follow: as they come)\n"
		   "  policy lint FILE...\n"
		   "      check manifests offline (no agent); exit 0 clean, 1 warnings, 2 errors\n"
		   "options:\n"
		   "  --socket PATH  the agent's socket (default " DEFAULT_SOCKET ")\n"
		   "  -o table|json  aligned tables (default) or JSON (the agent's answer)\n");
}

/* ---- talking to the agent ------------------------------------------------- */

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { TIMEOUT_SEC, 0 };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int err = errno;

		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

/* The whole answer, NUL-terminated; NULL with errno. */
static char *read_all(int fd)
{
	size_t cap = 65536, len = 0;
	char *buf = malloc(cap + 1), *nb;
	ssize_t n;

	while (buf && (n = read(fd, buf + len, cap - len)) > 0) {
		len += n;
		if (len == cap) {
			nb = realloc(buf, (cap *= 2) + 1);
			if (!nb)
				free(buf);
			buf = nb;
		}
	}
	if (buf && n < 0) {
		free(buf);
		return NULL;
	}
	if (buf)
		buf[len] = '\0';
	return buf;
}

/* The answer to req, or NULL after printing why. */
char *request(const char *path, struct json_object *reqobj)
{
	const char *req = json_object_to_json_string_ext(reqobj, JSON_C_TO_STRING_PLAIN);
	char *resp;
	int fd = connect_to(path);

	if (fd < 0) {
		fprintf(stderr, "xdpathctl: cannot reach xdpathd at %s: %s (is the agent running?)\n",
			path, strerror(errno));
		return NULL;
	}
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req) || shutdown(fd, SHUT_WR) ||
	    !(resp = read_all(fd))) {
		fprintf(stderr, "xdpathctl: talking to xdpathd at %s: %s\n", path, strerror(errno));
		close(fd);
		return NULL;
	}
	close(fd);
	return resp;
}

/* ---- tables --------------------------------------------------------------- */

void table_row(struct table *t, const char *const *cells)
{
	if (t->nrows == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		t->cells = realloc(t->cells, (size_t)t->cap * t->ncols * sizeof(char *));
		if (!t->cells)
			exit(1);
	}
	for (int c = 0; c < t->ncols; c++)
		t->cells[t->nrows * t->ncols + c] = strdup(cells[c] ? cells[c] : "");
	t->nrows++;
}

void table_print(struct table *t)
{
	int w[MAX_COLS] = { 0 };

	for (int i = 0; i < t->nrows * t->ncols; i++) {
		int len = (int)strlen(t->cells[i]);

		if (len > w[i % t->ncols])
			w[i % t->ncols] = len;
	}
	for (int r = 0; r < t->nrows; r++) {
		for (int c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r * t->ncols + c];
			bool last = c == t->ncols - 1;

			if (t->right[c] && r > 0)
				printf("%*s%s", w[c], s, last ? "" : "  ");
			else
				printf("%-*s%s", last ? 0 : w[c], s, last ? "" : "  ");
		}
		printf("\n");
	}
	for (int i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
}

void table_discard(struct table *t)
{
	for (int i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
}

const char *str(struct json_object *o, const char *k)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, k, &v))
		return "-";
	return json_object_get_string(v);
}

bool boolean(struct json_object *o, const char *k)
{
	struct json_object *v;

	return json_object_object_get_ex(o, k, &v) && json_object_get_boolean(v);
}

long long num(struct json_object *o, const char *k)
{
	struct json_object *v;

	return json_object_object_get_ex(o, k, &v) ? (long long)json_object_get_int64(v) : 0;
}

/* ---- commands -------------------------------------------------------------- */

/* With the API server: where, whether synced, and each informer's state. */
static void print_kube(struct json_object *o)
{
	static const char *const head[] = { "RESOURCE", "SYNCED", "OBJECTS", "EVENTS",
					    "RELISTS", "410S", "ERRORS", "LIST-MS" };
	struct json_object *k, *res;
	struct table t = { .ncols = 8 };
	char cells[7][24];

	if (!json_object_object_get_ex(o, "kubernetes", &k) ||
	    !json_object_object_get_ex(k, "resources", &res) ||
	    !json_object_is_type(res, json_type_array))
		return;
	printf("\nkubernetes: %s, %s (first sync %lld ms)\n", str(k, "server"),
	       boolean(o, "synced") ? "synced" : "not synced yet", num(k, "firstSyncMs"));
	table_row(&t, head);
	for (size_t i = 0; i < json_object_array_length(res); i++) {
		struct json_object *r = json_object_array_get_idx(res, i);
		static const char *const keys[] = { "objects", "events", "relists", "expired",
						    "errors", "listMs" };
		const char *row[8] = { str(r, "resource"), boolean(r, "synced") ? "yes" : "no" };

		for (int c = 0; c < 6; c++) {
			snprintf(cells[c], sizeof(cells[c]), "%lld", num(r, keys[c]));
			row[c + 2] = cells[c];
		}
		table_row(&t, row);
	}
	table_print(&t);
}

static void print_status(struct json_object *o)
{
	long long up = num(o, "uptimeSec");
	char uptime[32], startup[32], eps[32];
	struct table t = { .ncols = 2 };
	const char *rows[][2] = {
		{ "ready:", boolean(o, "ready") ? "yes" : "no" },
		{ "node:", str(o, "nodeName") },
		{ "mode:", str(o, "mode") },
		{ "uplink:", str(o, "uplink") },
		{ "pin root:", str(o, "pinRoot") },
		{ "endpoints:", eps },
		{ "uptime:", uptime },
		{ "startup:", startup },
		{ "version:", str(o, "version") },
	};

	snprintf(uptime, sizeof(uptime), "%lldh%02lldm%02llds", up / 3600, up / 60 % 60, up % 60);
	snprintf(startup, sizeof(startup), "%lld ms", num(o, "startupMs"));
	snprintf(eps, sizeof(eps), "%lld", num(o, "endpoints"));
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		table_row(&t, rows[i]);
	table_print(&t);
	print_kube(o);
}

static void ips_joined(struct json_object *o, char *buf, size_t len)
{
	struct json_object *ips;
	size_t off = 0;

	buf[0] = '\0';
	if (!json_object_object_get_ex(o, "ips", &ips) || !json_object_is_type(ips, json_type_array))
		return;
	for (size_t i = 0; i < json_object_array_length(ips) && off < len; i++)
		off += snprintf(buf + off, len - off, "%s%s", i ? "," : "",
				json_object_get_string(json_object_array_get_idx(ips, i)));
}

static void print_endpoints(struct json_object *arr)
{
	static const char *const head[] = { "NAMESPACE", "POD",     "CONTAINER", "IFNAME",
					    "HOST-IF",   "IFINDEX", "IPS",       "TC",
					    "MAP",       "TX-PKTS", "RX-PKTS",   "DROPS" };
	struct table t = { .ncols = 12, .right = { [5] = true, [9] = true, [10] = true, [11] = true } };
	char ifindex[16], tx[24], rx[24], drops[24], ips[256], cid[16];

	table_row(&t, head);
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *e = json_object_array_get_idx(arr, i);
		const char *row[12] = { str(e, "podNamespace"), str(e, "podName"), cid,
					str(e, "ifname"), str(e, "hostIfname"), ifindex, ips,
					boolean(e, "tcAttached") ? "yes" : "NO",
					boolean(e, "inMap") ? "yes" : "NO", tx, rx, drops };

		snprintf(cid, sizeof(cid), "%.12s", str(e, "containerId"));
		snprintf(ifindex, sizeof(ifindex), "%lld", num(e, "hostIfindex"));
		snprintf(tx, sizeof(tx), "%lld", num(e, "tx_packets"));
		snprintf(rx, sizeof(rx), "%lld", num(e, "rx_packets"));
		snprintf(drops, sizeof(drops), "%lld", num(e, "drops"));
		ips_joined(e, ips, sizeof(ips));
		table_row(&t, row);
	}
	table_print(&t);
}

/* {name: {a, b}} as rows "name a b" under head. */
static void print_pairs(struct json_object *o, const char *const head[3], const char *a,
			const char *b)
{
	struct table t = { .ncols = 3, .right = { [1] = true, [2] = true } };
	char x[24], y[24];

	table_row(&t, head);
	if (o) {
		json_object_object_foreach(o, k, v) {
			const char *row[3] = { k, x, y };

			snprintf(x, sizeof(x), "%lld", num(v, a));
			snprintf(y, sizeof(y), "%lld", num(v, b));
			table_row(&t, row);
		}
	}
	table_print(&t);
}

/* Per-endpoint counters: who sends, who receives, whose policy denies. */
static void print_ep_counters(struct json_object *o)
{
	static const char *const head[] = { "NAMESPACE", "POD", "IFNAME", "TX-PKTS", "RX-PKTS",
					    "DROPS", "DENIED-IN", "DENIED-OUT" };
	struct table t = { .ncols = 8, .right = { [3] = true, [4] = true, [5] = true, [6] = true,
						  [7] = true } };
	struct json_object *arr = NULL;
	char c[5][24];

	if (!json_object_object_get_ex(o, "endpoints", &arr) || !json_object_is_type(arr, json_type_array))
		return;
	table_row(&t, head);
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *e = json_object_array_get_idx(arr, i);
		const char *row[8] = { str(e, "podNamespace"), str(e, "podName"), str(e, "ifname"),
				       c[0], c[1], c[2], c[3], c[4] };

		snprintf(c[0], sizeof(c[0]), "%lld", num(e, "tx_packets"));
		snprintf(c[1], sizeof(c[1]), "%lld", num(e, "rx_packets"));
		snprintf(c[2], sizeof(c[2]), "%lld", num(e, "drops"));
		snprintf(c[3], sizeof(c[3]), "%lld", num(e, "policy_denied_ingress"));
		snprintf(c[4], sizeof(c[4]), "%lld", num(e, "policy_denied_egress"));
		table_row(&t, row);
	}
	table_print(&t);
}

static void print_metrics(struct json_object *o)
{
	static const char *const drops[3] = { "DROP REASON", "PACKETS", "BYTES" };
	static const char *const fwd[3] = { "FORWARD", "PACKETS", "BYTES" };
	static const char *const maps[3] = { "MAP", "ENTRIES", "CAPACITY" };
	struct json_object *d = NULL, *f = NULL, *m = NULL;

	json_object_object_get_ex(o, "drops", &d);
	json_object_object_get_ex(o, "forward", &f);
	json_object_object_get_ex(o, "maps", &m);
	print_pairs(d, drops, "packets", "bytes");
	printf("\n");
	print_pairs(f, fwd, "packets", "bytes");
	printf("\n");
	print_pairs(m, maps, "entries", "capacity");
	printf("\n");
	print_ep_counters(o);
	if (json_object_object_get_ex(o, "filters", &f) && json_object_object_get_ex(f, "capacity", NULL))
		printf("\nfilters: %lld active of %lld, %lld hits, %lld drops (xdpathctl filter list)\n",
		       num(f, "activeRules"), num(f, "capacity"), num(f, "hits"), num(f, "drops"));
}

/* "a,b" of the strings in o[k]. */
static void joined(struct json_object *o, const char *k, char *buf, size_t len)
{
	struct json_object *arr;
	size_t off = 0;

	snprintf(buf, len, "-");
	if (!json_object_object_get_ex(o, k, &arr) || !json_object_is_type(arr, json_type_array))
		return;
	for (size_t i = 0; i < json_object_array_length(arr) && off < len; i++)
		off += snprintf(buf + off, len - off, "%s%s", i ? "," : "",
				json_object_get_string(json_object_array_get_idx(arr, i)));
}

static const char *or_dash(struct json_object *o, const char *k)
{
	struct json_object *v;

	return json_object_object_get_ex(o, k, &v) && v ? json_object_get_string(v) : "-";
}

static void print_policies(struct json_object *o)
{
	static const char *const head[] = { "NAMESPACE", "NAME", "TYPES",
					    "INGRESS", "EGRESS", "SELECTS" };
	static const char *const ehead[] = { "KIND", "NAMESPACE/NAME", "REASON" };
	struct table t = { .ncols = 6, .right = { [3] = true, [4] = true } };
	struct json_object *pols = NULL, *errs = NULL;
	char types[64], in[24], eg[24], sel[1024], obj[600];

	json_object_object_get_ex(o, "policies", &pols);
	json_object_object_get_ex(o, "errors", &errs);
	table_row(&t, head);
	for (size_t i = 0; pols && i < json_object_array_length(pols); i++) {
		struct json_object *p = json_object_array_get_idx(pols, i);
		const char *row[6] = { str(p, "namespace"), str(p, "name"), types, in, eg, sel };

		joined(p, "types", types, sizeof(types));
		joined(p, "selects", sel, sizeof(sel));
		if (!strcmp(sel, ""))
			snprintf(sel, sizeof(sel), "-");
		snprintf(in, sizeof(in), "%lld", num(p, "ingressRules"));
		snprintf(eg, sizeof(eg), "%lld", num(p, "egressRules"));
		table_row(&t, row);
	}
	table_print(&t);
	if (!errs || !json_object_array_length(errs))
		return;
	printf("\nInvalid objects:\n");
	t = (struct table){ .ncols = 3 };
	table_row(&t, ehead);
	for (size_t i = 0; i < json_object_array_length(errs); i++) {
		struct json_object *e = json_object_array_get_idx(errs, i);
		const char *row[3] = { or_dash(e, "kind"), obj, or_dash(e, "reason") };

		snprintf(obj, sizeof(obj), "%s/%s", or_dash(e, "namespace"), or_dash(e, "name"));
		table_row(&t, row);
	}
	table_print(&t);
}

/* ---- policy get ----------------------------------------------------------- */

static struct json_object *get(struct json_object *o, const char *k)
{
	struct json_object *v = NULL;

	json_object_object_get_ex(o, k, &v);
	return v;
}

/* "k=v,..." of a JSON object of strings. */
static void labels_joined(struct json_object *o, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	if (!json_object_is_type(o, json_type_object))
		return;
	json_object_object_foreach(o, k, v) {
		if (off < len)
			off += snprintf(buf + off, len - off, "%s%s=%s", off ? "," : "", k,
					json_object_get_string(v));
	}
}

/* A selector peer as explain says it: "pods app=a in x". */
static void selector_peer(struct json_object *p, char *buf, size_t len)
{
	const char *pod = json_object_get_string(get(p, "podSelector"));
	const char *ns = json_object_get_string(get(p, "namespaceSelector"));
	size_t off;

	if (!pod || !strcmp(pod, "{}"))
		off = snprintf(buf, len, "every pod");
	else
		off = snprintf(buf, len, "pods %s", pod);
	if (off >= len)
		return;
	if (!ns)
		snprintf(buf + off, len - off, " in %s", or_dash(p, "namespace"));
	else if (!strcmp(ns, "{}"))
		snprintf(buf + off, len - off, " in every namespace");
	else
		snprintf(buf + off, len - off, " in namespaces %s", ns);
}

/* "x/a,x/a2 (identity 257); x/a3 (identity 258)". */
static void identities(struct json_object *p, char *buf, size_t len)
{
	struct json_object *ids = get(p, "identities");
	size_t off = 0, n = ids ? json_object_array_length(ids) : 0;

	snprintf(buf, len, "(no pods)");
	for (size_t i = 0; i < n && off < len; i++) {
		struct json_object *id = json_object_array_get_idx(ids, i), *pods = get(id, "pods");
		const char *ns = or_dash(id, "namespace");

		off += snprintf(buf + off, len - off, "%s", i ? "; " : "");
		for (size_t k = 0; pods && k < json_object_array_length(pods) && off < len; k++)
			off += snprintf(buf + off, len - off, "%s%s/%s", k ? "," : "", ns,
					json_object_get_string(json_object_array_get_idx(pods, k)));
		if (off < len && get(id, "identity"))
			off += snprintf(buf + off, len - off, " (identity %lld)", num(id, "identity"));
	}
}

static void peer_cell(struct json_object *p, char *buf, size_t len)
{
	const char *kind = or_dash(p, "kind");
	struct json_object *exc = get(p, "except");
	size_t off;

	if (!strcmp(kind, "any")) {
		snprintf(buf, len, "any peer");
		return;
	}
	if (!strcmp(kind, "ipBlock")) {
		off = snprintf(buf, len, "%s", or_dash(p, "cidr"));
		for (size_t i = 0; exc && i < json_object_array_length(exc) && off < len; i++)
			off += snprintf(buf + off, len - off, "%s%s", i ? "," : " except ",
					json_object_get_string(json_object_array_get_idx(exc, i)));
		return;
	}
	selector_peer(p, buf, len);
	off = strlen(buf);
	if (off + 2 < len) {
		snprintf(buf + off, len - off, ": ");
		identities(p, buf + off + 2, len - off - 2);
	}
}

static void port_cell(struct json_object *e, char *buf, size_t len)
{
	struct json_object *res = get(e, "resolved");
	size_t off;

	if (get(e, "portName")) {
		off = snprintf(buf, len, "%s (", or_dash(e, "portName"));
		for (size_t i = 0; res && i < json_object_array_length(res) && off < len; i++)
			off += snprintf(buf + off, len - off, "%s%d", i ? "," : "",
					json_object_get_int(json_object_array_get_idx(res, i)));
		if (off < len)
			snprintf(buf + off, len - off, "%s)",
				 res && json_object_array_length(res) ? "" : "no such port");
	} else if (!get(e, "port")) {
		snprintf(buf, len, "any");
	} else if (get(e, "endPort")) {
		snprintf(buf, len, "%lld-%lld", num(e, "port"), num(e, "endPort"));
	} else {
		snprintf(buf, len, "%lld", num(e, "port"));
	}
}

static void print_dir(struct json_object *d, const char *name)
{
	static const char *const head[] = { "POLICY", "RULE", "PROTOCOL", "PORT", "PEER" };
	struct table t = { .ncols = 5, .right = { [1] = true } };
	struct json_object *allow = get(d, "allow");
	char pols[1024], rule[16], port[256], peer[4096];

	if (!boolean(d, "isolated")) {
		printf("\n%s: not isolated (every peer, every port)\n", name);
		return;
	}
	joined(d, "policies", pols, sizeof(pols));
	printf("\n%s: isolated by %s\n", name, pols);
	if (!allow || !json_object_array_length(allow)) {
		printf("nothing allowed\n");
		return;
	}
	table_row(&t, head);
	for (size_t i = 0; i < json_object_array_length(allow); i++) {
		struct json_object *e = json_object_array_get_idx(allow, i);
		const char *row[5] = { str(e, "policy"), rule, str(e, "protocol"), port, peer };

		snprintf(rule, sizeof(rule), "%lld", num(e, "rule"));
		port_cell(e, port, sizeof(port));
		peer_cell(get(e, "peer"), peer, sizeof(peer));
		table_row(&t, row);
	}
	table_print(&t);
}

static void print_policy_get(struct json_object *o)
{
	struct json_object *pod = get(o, "pod"), *pols = get(o, "policies");
	char name[600], node[300], ips[256], labels[1024], id[32], sel[2048];
	struct table t = { .ncols = 2 };
	const char *rows[][2] = {
		{ "pod:", name }, { "node:", node }, { "ips:", ips }, { "labels:", labels },
		{ "identity:", id }, { "policies:", sel },
	};
	size_t off = 0;

	snprintf(name, sizeof(name), "%s/%s", str(pod, "namespace"), str(pod, "name"));
	snprintf(node, sizeof(node), "%s%s", or_dash(pod, "node"),
		 boolean(pod, "local") ? " (an endpoint of this node)" : "");
	ips_joined(pod, ips, sizeof(ips));
	labels_joined(get(pod, "labels"), labels, sizeof(labels));
	if (get(pod, "identity"))
		snprintf(id, sizeof(id), "%lld", num(pod, "identity"));
	else
		snprintf(id, sizeof(id), "-");
	snprintf(sel, sizeof(sel), "none");
	for (size_t i = 0; pols && i < json_object_array_length(pols) && off < sizeof(sel); i++) {
		struct json_object *p = json_object_array_get_idx(pols, i);
		char types[64];

		joined(p, "types", types, sizeof(types));
		off += snprintf(sel + off, sizeof(sel) - off, "%s%s/%s (%s)", i ? ", " : "",
				str(p, "namespace"), str(p, "name"), types);
	}
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		table_row(&t, rows[i]);
	table_print(&t);
	if (boolean(pod, "hostNetwork"))
		printf("hostNetwork pod: it has no endpoint, no policy is enforced on it\n");
	print_dir(get(o, "ingress"), "Ingress");
	print_dir(get(o, "egress"), "Egress");
}

/* ---- policy explain ------------------------------------------------------------ */

static void end_cell(struct json_object *e, char *buf, size_t len)
{
	if (strcmp(or_dash(e, "kind"), "pod")) {
		snprintf(buf, len, "%s (not a pod: %s)", str(e, "ip"), str(e, "identity"));
		return;
	}
	snprintf(buf, len, "%s/%s %s (%s%s)", str(e, "namespace"), str(e, "name"), str(e, "ip"),
		 boolean(e, "hostNetwork") ? "hostNetwork pod" : "pod",
		 boolean(e, "local") ? ", on this node" : "");
}

static void side_cell(struct json_object *sd, char *buf, size_t len)
{
	struct json_object *dp = get(sd, "datapath");
	size_t off;

	off = snprintf(buf, len, "%s: %s", boolean(sd, "allowed") ? "allowed" : "denied",
		       str(sd, "reason"));
	if (dp && !boolean(dp, "agrees") && off < len)
		snprintf(buf + off, len - off, " [this node's datapath %s it]",
			 boolean(dp, "allowed") ? "allows" : "denies");
}

static void print_policy_explain(struct json_object *o)
{
	char from[600], to[600], port[64], eg[8192], in[8192];
	struct table t = { .ncols = 2 };
	const char *rows[][2] = {
		{ "verdict:", boolean(o, "allowed") ? "allowed" : "denied" },
		{ "from:", from }, { "to:", to }, { "port:", port },
		{ "egress:", eg }, { "ingress:", in },
	};

	end_cell(get(o, "from"), from, sizeof(from));
	end_cell(get(o, "to"), to, sizeof(to));
	if (get(o, "portName"))
		snprintf(port, sizeof(port), "%s %lld (%s)", str(o, "protocol"), num(o, "port"),
			 str(o, "portName"));
	else if (num(o, "port"))
		snprintf(port, sizeof(port), "%s %lld", str(o, "protocol"), num(o, "port"));
	else
		snprintf(port, sizeof(port), "%s (no port: a rule must allow every port)",
			 str(o, "protocol"));
	side_cell(get(o, "egress"), eg, sizeof(eg));
	side_cell(get(o, "ingress"), in, sizeof(in));
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		table_row(&t, rows[i]);
	table_print(&t);
	if (get(o, "note"))
		printf("note: %s\n", str(o, "note"));
}

/* ---- policy lint (offline) -------------------------------------------------------- */

static struct json_object *jstr(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

static void lint_json(char **names, int n, char **readerr, const struct lint_report *r,
		      size_t nerrors)
{
	struct json_object *o = json_object_new_object(), *files = json_object_new_array();
	struct json_object *diags = json_object_new_array();

	for (int i = 0; i < n; i++)
		json_object_array_add(files, json_object_new_string(names[i]));
	for (int i = 0; i < n; i++) {
		struct json_object *d;

		if (!readerr[i])
			continue;
		d = json_object_new_object();
		json_object_object_add(d, "level", json_object_new_string("error"));
		json_object_object_add(d, "file", json_object_new_string(names[i]));
		json_object_object_add(d, "check", json_object_new_string("unreadable"));
		json_object_object_add(d, "kind", NULL);
		json_object_object_add(d, "namespace", NULL);
		json_object_object_add(d, "name", NULL);
		json_object_object_add(d, "message", json_object_new_string(readerr[i]));
		json_object_array_add(diags, d);
	}
	for (size_t i = 0; i < r->n; i++) {
		const struct lint_diag *x = &r->v[i];
		struct json_object *d = json_object_new_object();

		json_object_object_add(d, "level", json_object_new_string(lint_level_name(x->level)));
		json_object_object_add(d, "file", jstr(x->file));
		json_object_object_add(d, "check", json_object_new_string(x->check));
		json_object_object_add(d, "kind", jstr(x->kind));
		json_object_object_add(d, "namespace", jstr(x->ns));
		json_object_object_add(d, "name", jstr(x->name));
		json_object_object_add(d, "message", jstr(x->msg));
		json_object_array_add(diags, d);
	}
	json_object_object_add(o, "files", files);
	json_object_object_add(o, "diagnostics", diags);
	json_object_object_add(o, "errors", json_object_new_int64((int64_t)nerrors));
	json_object_object_add(o, "warnings", json_object_new_int64((int64_t)r->nwarnings));
	json_object_object_add(o, "podsChecked", json_object_new_boolean(r->pods_checked));
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
							 JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

static void lint_table(char **names, int n, char **readerr, const struct lint_report *r,
		       size_t nerrors)
{
	static const char *const head[] = { "FILE", "LEVEL", "OBJECT", "CHECK", "MESSAGE" };
	struct table t = { .ncols = 5 };
	char obj[600];

	table_row(&t, head);
	for (int i = 0; i < n; i++) {
		const char *row[5] = { names[i], "error", "-", "unreadable", readerr[i] };

		if (readerr[i])
			table_row(&t, row);
	}
	for (size_t i = 0; i < r->n; i++) {
		const struct lint_diag *x = &r->v[i];
		const char *row[5] = { x->file ? x->file : "-", lint_level_name(x->level), obj,
				       x->check, x->msg };

		if (x->name)
			snprintf(obj, sizeof(obj), "%s %s/%s", x->kind ? x->kind : "object",
				 x->ns ? x->ns : "-", x->name);
		else
			snprintf(obj, sizeof(obj), "%s", x->kind ? x->kind : "-");
		table_row(&t, row);
	}
	if (t.nrows > 1)
		table_print(&t);
	else
		table_discard(&t); /* clean: the summary alone */
	printf("%s%zu error%s, %zu warning%s in %d file%s\n", t.nrows > 1 ? "\n" : "", nerrors,
	       nerrors == 1 ? "" : "s", r->nwarnings, r->nwarnings == 1 ? "" : "s", n,
	       n == 1 ? "" : "s");
}

/* Lint the files here; the exit code says how it went (see lint.h). */
static int lint_cmd(int n, char **names, bool json)
{
	struct lint_file *files = calloc(n + 1, sizeof(*files));
	char **texts = calloc(n + 1, sizeof(*texts)), **readerr = calloc(n + 1, sizeof(*readerr));
	struct lint_report r;
	size_t nf = 0, nerrors = 0;
	int rc = 2;

	if (!files || !texts || !readerr)
		goto out;
	for (int i = 0; i < n; i++) {
		size_t len = 0;
		int err = read_all_at(AT_FDCWD, names[i], &texts[i], &len);

		if (err) {
			readerr[i] = strdup(strerror(-err));
			nerrors++;
			continue;
		}
		files[nf++] = (struct lint_file){ names[i], texts[i] ? texts[i] : "", len };
	}
	if (policy_lint(files, nf, &r)) {
		fprintf(stderr, "xdpathctl: out of memory\n");
		goto out;
	}
	nerrors += r.nerrors;
	if (json)
		lint_json(names, n, readerr, &r, nerrors);
	else
		lint_table(names, n, readerr, &r, nerrors);
	rc = nerrors ? 2 : lint_exit_code(&r);
	lint_report_free(&r);
out:
	for (int i = 0; i < n && texts && readerr; i++) {
		free(texts[i]);
		free(readerr[i]);
	}
	free(files);
	free(texts);
	free(readerr);
	return rc;
}

/* ---- policy drops ----------------------------------------------------------------- */

static void addr_port(struct json_object *e, const char *addr, const char *port, char *buf,
		      size_t len)
{
	const char *a = str(e, addr);
	long long p = num(e, port);

	if (!p)
		snprintf(buf, len, "%s", a);
	else if (strchr(a, ':'))
		snprintf(buf, len, "[%s]:%lld", a, p);
	else
		snprintf(buf, len, "%s:%lld", a, p);
}

/* The columns of one drop event (pod, src, dst formatted into the buffers). */
static void drop_row(struct json_object *e, const char *row[7], char *pod, size_t podlen,
		     char *src, char *dst, size_t addrlen)
{
	if (*str(e, "podName"))
		snprintf(pod, podlen, "%s/%s", str(e, "podNamespace"), str(e, "podName"));
	else
		snprintf(pod, podlen, "endpoint %lld", num(e, "epId"));
	addr_port(e, "src", "srcPort", src, addrlen);
	addr_port(e, "dst", "dstPort", dst, addrlen);
	row[0] = str(e, "time");
	row[1] = pod;
	row[2] = str(e, "direction");
	row[3] = str(e, "why");
	row[4] = str(e, "protocol");
	row[5] = src;
	row[6] = dst;
}

static const char *const drops_head[7] = { "TIME", "POD", "DIRECTION", "WHY", "PROTOCOL",
					   "SOURCE", "DESTINATION" };

static void print_drops(struct json_object *o, bool header)
{
	struct table t = { .ncols = 7 };
	struct json_object *arr = NULL;
	char pod[320], src[64], dst[64];
	const char *row[7];

	json_object_object_get_ex(o, "events", &arr);
	if (header)
		table_row(&t, drops_head);
	for (size_t i = 0; arr && i < json_object_array_length(arr); i++) {
		drop_row(json_object_array_get_idx(arr, i), row, pod, sizeof(pod), src, dst,
			 sizeof(src));
		table_row(&t, row);
	}
	if (t.nrows)
		table_print(&t);
	else
		table_discard(&t);
}

/* Follow mode prints as events come: fixed columns, not a table. */
static void print_drops_fixed(struct json_object *arr, bool header)
{
	static const char *const fmt = "%-20s  %-28s  %-9s  %-9s  %-8s  %-28s  %s\n";
	char pod[320], src[64], dst[64];
	const char *r[7];

	if (header)
		printf(fmt, drops_head[0], drops_head[1], drops_head[2], drops_head[3],
		       drops_head[4], drops_head[5], drops_head[6]);
	for (size_t i = 0; arr && i < json_object_array_length(arr); i++) {
		drop_row(json_object_array_get_idx(arr, i), r, pod, sizeof(pod), src, dst,
			 sizeof(src));
		printf(fmt, r[0], r[1], r[2], r[3], r[4], r[5], r[6]);
	}
}

/* Print the drops from now on as they come (JSON: one event per line),
 * asking for those after the last seen every 250 ms. Until interrupted or
 * the agent goes away. */
static int follow_drops(const char *sock, bool json)
{
	int64_t since = 0;
	bool first = true;

	for (;;) {
		struct json_object *req = json_object_new_object(), *o, *arr = NULL, *last;
		char *resp;

		json_object_object_add(req, "cmd", json_object_new_string("drops"));
		json_object_object_add(req, "since", json_object_new_int64(since));
		resp = request(sock, req);
		json_object_put(req);
		if (!resp)
			return 1;
		o = json_tokener_parse(resp);
		free(resp);
		if (!o || !json_object_object_get_ex(o, "events", &arr)) {
			fprintf(stderr, "xdpathctl: unexpected answer from the agent\n");
			json_object_put(o);
			return 1;
		}
		if (first) /* only what happens from now on (the history: without --follow) */
			arr = NULL;
		for (size_t i = 0; json && arr && i < json_object_array_length(arr); i++)
			printf("%s\n", json_object_to_json_string_ext(
						json_object_array_get_idx(arr, i),
						JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		if (!json)
			print_drops_fixed(arr, first);
		fflush(stdout);
		first = false;
		if (json_object_object_get_ex(o, "last", &last))
			since = json_object_get_int64(last);
		json_object_put(o);
		usleep(250 * 1000);
	}
}

/* ---- commands ------------------------------------------------------------------- */

struct explain_args {
	const char *from, *to, *port;
};

/* The request for argv's command words, and the name show() knows it by;
 * NULL if unknown. */
static const char *api_cmd(int argc, char **argv, const struct explain_args *x,
			   struct json_object **req)
{
	const char *cmd = NULL;

	*req = json_object_new_object();
	if (argc == 1 && !strcmp(argv[0], "status"))
		cmd = "status";
	else if (argc == 1 && !strcmp(argv[0], "metrics"))
		cmd = "metrics";
	else if (argc == 2 && !strcmp(argv[0], "endpoint") && !strcmp(argv[1], "list"))
		cmd = "endpoints";
	else if (argc == 1 && !strcmp(argv[0], "endpoints"))
		cmd = "endpoints";
	else if (argc == 2 && !strcmp(argv[0], "policy") && !strcmp(argv[1], "list"))
		cmd = "policies";
	else if (argc == 3 && !strcmp(argv[0], "policy") && !strcmp(argv[1], "get"))
		cmd = "policy-get";
	else if (argc == 2 && !strcmp(argv[0], "policy") && !strcmp(argv[1], "explain") &&
		 x->from && x->to)
		cmd = "policy-explain";
	else if (argc == 2 && !strcmp(argv[0], "policy") && !strcmp(argv[1], "drops"))
		cmd = "drops";
	if (!cmd || (strcmp(cmd, "policy-explain") && (x->from || x->to || x->port))) {
		json_object_put(*req);
		*req = NULL;
		return NULL;
	}
	json_object_object_add(*req, "cmd", json_object_new_string(cmd));
	if (!strcmp(cmd, "policy-get"))
		json_object_object_add(*req, "pod", json_object_new_string(argv[2]));
	if (!strcmp(cmd, "policy-explain")) {
		json_object_object_add(*req, "from", json_object_new_string(x->from));
		json_object_object_add(*req, "to", json_object_new_string(x->to));
		if (x->port)
			json_object_object_add(*req, "port", json_object_new_string(x->port));
	}
	return cmd;
}

static int show(const char *cmd, const char *resp, bool json)
{
	struct json_object *o = json_tokener_parse(resp), *err;

	if (!o) {
		fprintf(stderr, "xdpathctl: the agent's answer is not JSON\n");
		return 1;
	}
	if (json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, "error", &err)) {
		fprintf(stderr, "xdpathctl: agent: %s\n", json_object_get_string(err));
		json_object_put(o);
		return 1;
	}
	if (json)
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
								 JSON_C_TO_STRING_NOSLASHESCAPE));
	else if (!strcmp(cmd, "status"))
		print_status(o);
	else if (!strcmp(cmd, "endpoints"))
		print_endpoints(o);
	else if (!strcmp(cmd, "policies"))
		print_policies(o);
	else if (!strcmp(cmd, "policy-get"))
		print_policy_get(o);
	else if (!strcmp(cmd, "policy-explain"))
		print_policy_explain(o);
	else if (!strcmp(cmd, "drops"))
		print_drops(o, true);
	else
		print_metrics(o);
	json_object_put(o);
	return 0;
}

int main(int argc, char **argv)
{
	enum { OPT_FROM = 256, OPT_TO, OPT_PORT, OPT_FOLLOW, OPT_PCAP, OPT_ACTION, OPT_PER,
	       OPT_EXPIRE, OPT_SCOPE };
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ "from", required_argument, NULL, OPT_FROM },
		{ "to", required_argument, NULL, OPT_TO },
		{ "port", required_argument, NULL, OPT_PORT },
		{ "follow", no_argument, NULL, OPT_FOLLOW },
		{ "pcap", required_argument, NULL, OPT_PCAP },
		{ "action", required_argument, NULL, OPT_ACTION },
		{ "per", required_argument, NULL, OPT_PER },
		{ "expire", required_argument, NULL, OPT_EXPIRE },
		{ "scope", required_argument, NULL, OPT_SCOPE },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock = DEFAULT_SOCKET, *cmd;
	struct explain_args x = { 0 };
	struct json_object *req;
	char **words;
	bool json = false, follow = false;
	struct filter_args fa = { 0 };
	char *resp;
	int c, rc, nwords;

	while ((c = getopt_long(argc, argv, "s:o:h", opts, NULL)) != -1) {
		if (c == 's') {
			sock = optarg;
		} else if (c == 'o' && (!strcmp(optarg, "json") || !strcmp(optarg, "table"))) {
			json = !strcmp(optarg, "json");
		} else if (c == OPT_FROM) {
			x.from = optarg;
		} else if (c == OPT_TO) {
			x.to = optarg;
		} else if (c == OPT_PORT) {
			x.port = optarg;
		} else if (c == OPT_FOLLOW) {
			follow = true;
		} else if (c == OPT_PCAP) {
			fa.pcap = optarg;
		} else if (c == OPT_ACTION) {
			fa.action = optarg;
		} else if (c == OPT_PER) {
			fa.per = optarg;
		} else if (c == OPT_EXPIRE) {
			fa.expire = optarg;
		} else if (c == OPT_SCOPE) {
			fa.scope = optarg;
		} else if (c == 'h') {
			usage(stdout);
			return 0;
		} else {
			if (c == 'o')
				fprintf(stderr, "xdpathctl: -o: \"%s\" is not table or json\n", optarg);
			usage(stderr);
			return 2;
		}
	}
	words = argv + optind;
	nwords = argc - optind;
	if (nwords >= 2 && !strcmp(words[0], "policy") && !strcmp(words[1], "lint")) {
		if (nwords == 2 || x.from || x.to || x.port) {
			usage(stderr);
			return 2;
		}
		return lint_cmd(nwords - 2, words + 2, json);
	}
	if (nwords >= 1 && !strcmp(words[0], "filter")) {
		fa.follow = follow;
		rc = ctl_filter(sock, nwords, words, &fa, json);
		if (rc >= 0)
			return rc;
		usage(stderr);
		return 2;
	}
	if (fa.pcap || fa.action || fa.per || fa.expire || fa.scope) {
		usage(stderr);
		return 2;
	}
	if (follow) {
		if (nwords != 2 || strcmp(words[0], "policy") || strcmp(words[1], "drops")) {
			usage(stderr);
			return 2;
		}
		return follow_drops(sock, json);
	}
	cmd = api_cmd(nwords, words, &x, &req);
	if (!cmd) {
		if (nwords == 2 && !strcmp(words[0], "policy") && !strcmp(words[1], "explain"))
			fprintf(stderr, "xdpathctl: policy explain needs --from and --to\n");
		usage(stderr);
		return 2;
	}
	resp = request(sock, req);
	json_object_put(req);
	if (!resp)
		return 1;
	rc = show(cmd, resp, json);
	free(resp);
	return rc;
}
