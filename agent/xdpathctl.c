/* xdpathctl: the operator's view of one node's agent, over its local API
 * (<stateDir>/xdpathd.sock). Aligned tables by default, the agent's raw
 * JSON with -o json. Exit 1 if the agent cannot be reached or answers with
 * an error, 2 on a usage error. */
#include <errno.h>
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

#define DEFAULT_SOCKET "/run/xdpath/xdpathd.sock"
#define TIMEOUT_SEC 10
#define MAX_COLS 12

static void usage(FILE *f)
{
	fprintf(f, "usage: xdpathctl [--socket PATH] status|endpoint list|metrics|policy list "
		   "[-o table|json]\n"
		   "  --socket PATH  the agent's socket (default " DEFAULT_SOCKET ")\n"
		   "  -o table|json  aligned tables (default) or the agent's JSON\n");
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

/* The answer to {"cmd": cmd}, or NULL after printing why. */
static char *request(const char *path, const char *cmd)
{
	char req[64];
	char *resp;
	int fd = connect_to(path);

	if (fd < 0) {
		fprintf(stderr, "xdpathctl: cannot reach xdpathd at %s: %s (is the agent running?)\n",
			path, strerror(errno));
		return NULL;
	}
	snprintf(req, sizeof(req), "{\"cmd\":\"%s\"}\n", cmd);
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

struct table {
	int ncols;
	bool right[MAX_COLS];        /* right-aligned (numbers) */
	char **cells;                /* rows * ncols, row-major */
	int nrows, cap;
};

static void table_row(struct table *t, const char *const *cells)
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

static void table_print(struct table *t)
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

static const char *str(struct json_object *o, const char *k)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, k, &v))
		return "-";
	return json_object_get_string(v);
}

static bool boolean(struct json_object *o, const char *k)
{
	struct json_object *v;

	return json_object_object_get_ex(o, k, &v) && json_object_get_boolean(v);
}

static long long num(struct json_object *o, const char *k)
{
	struct json_object *v;

	return json_object_object_get_ex(o, k, &v) ? (long long)json_object_get_int64(v) : 0;
}

/* ---- commands -------------------------------------------------------------- */

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

/* The API command for argv's command words; NULL if unknown. */
static const char *api_cmd(int argc, char **argv)
{
	if (argc == 1 && !strcmp(argv[0], "status"))
		return "status";
	if (argc == 1 && !strcmp(argv[0], "metrics"))
		return "metrics";
	if (argc == 2 && !strcmp(argv[0], "endpoint") && !strcmp(argv[1], "list"))
		return "endpoints";
	if (argc == 1 && !strcmp(argv[0], "endpoints"))
		return "endpoints";
	if (argc == 2 && !strcmp(argv[0], "policy") && !strcmp(argv[1], "list"))
		return "policies";
	return NULL;
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
	else
		print_metrics(o);
	json_object_put(o);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock = DEFAULT_SOCKET, *cmd;
	bool json = false;
	char *resp;
	int c, rc;

	while ((c = getopt_long(argc, argv, "s:o:h", opts, NULL)) != -1) {
		if (c == 's') {
			sock = optarg;
		} else if (c == 'o' && (!strcmp(optarg, "json") || !strcmp(optarg, "table"))) {
			json = !strcmp(optarg, "json");
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
	cmd = api_cmd(argc - optind, argv + optind);
	if (!cmd) {
		usage(stderr);
		return 2;
	}
	resp = request(sock, cmd);
	if (!resp)
		return 1;
	rc = show(cmd, resp, json);
	free(resp);
	return rc;
}
