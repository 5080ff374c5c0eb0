/* Unit tests for cni/ipam.c: config parsing and the reservation store. Each
 * test gets a fresh mkdtemp() dataDir, removed again in teardown. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "testutil.h"

#include "ipam.h"

#define NET "net1"

struct fx {
	char dir[64];
	char net[128];            /* <dir>/net1 */
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	strcpy(f->dir, "/tmp/xdpath-ipam-XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	snprintf(f->net, sizeof(f->net), "%s/" NET, f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	remove_tree(f->dir);
	free(f);
	return 0;
}

/* ---- helpers ---------------------------------------------------------- */

static int parse(const char *network, const char *dir, const char *json,
		 struct ipam_config *cfg, char *err, size_t errlen)
{
	struct json_object *o;
	int ret;

	o = json_tokener_parse(json);
	if (!o)
		fail_msg("bad test JSON: %s", json);
	if (dir)
		json_object_object_add(o, "dataDir", json_object_new_string(dir));
	ret = ipam_config_parse(o, network, cfg, err, errlen);
	json_object_put(o);
	return ret;
}

static void cfg_load(const char *dir, const char *json, struct ipam_config *cfg)
{
	char err[512] = "";

	if (parse(NET, dir, json, cfg, err, sizeof(err)))
		fail_msg("parse of %s failed: %s", json, err);
}

static void expect_err_net(const char *network, const char *json, const char *want)
{
	struct ipam_config cfg;
	char err[512] = "";

	if (parse(network, NULL, json, &cfg, err, sizeof(err)) != -1)
		fail_msg("parse of %s succeeded, wanted \"%s\"", json, want);
	if (!strstr(err, want))
		fail_msg("parse of %s: error \"%s\" lacks \"%s\"", json, err, want);
}

static void expect_err(const char *json, const char *want)
{
	expect_err_net(NET, json, want);
}

static void assert_addr(const struct ipaddr *a, const char *want)
{
	char buf[IPADDR_STRLEN];

	assert_string_equal(ipaddr_fmt(a, buf), want);
}

static void assert_net(const struct ipnet *n, const char *want)
{
	char buf[CIDR_STRLEN];

	assert_string_equal(ipnet_fmt(n, buf), want);
}

/* Contents of <net>/<name>, or NULL if it does not exist. */
static const char *slurp(const struct fx *f, const char *name)
{
	static char buf[4096];
	char path[512];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", f->net, name);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return NULL;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n < 0 ? 0 : n] = '\0';
	return buf;
}

static bool exists(const struct fx *f, const char *name)
{
	char path[512];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/%s", f->net, name);
	return lstat(path, &sb) == 0;
}

static void put(const struct fx *f, const char *name, const char *data)
{
	char path[512];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", f->net, name);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(data, fp);
	fclose(fp);
}

/* Names in <net> and <net>/attachments, for before/after comparisons. */
static int count_entries(const struct fx *f)
{
	char path[512];
	int n = 0;
	FILE *p;
	char line[512];

	snprintf(path, sizeof(path), "find '%s' | sort", f->net);
	p = popen(path, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p))
		n++;
	pclose(p);
	return n;
}

static void open_store(const struct ipam_config *cfg, struct ipam_store *st)
{
	int ret = ipam_open(cfg, st, 1000);

	if (ret)
		fail_msg("ipam_open: %s", strerror(-ret));
}

/* Allocate for (id, ifname) and expect a single lease with address want. */
static void alloc1(struct ipam_store *st, const struct ipam_config *cfg, const char *id,
		   const char *ifname, const char *want)
{
	struct ipam_lease l[IPAM_MAX_SETS];
	char err[512] = "";
	int n = -1, ret;

	ret = ipam_alloc(st, cfg, id, ifname, l, &n, err, sizeof(err));
	if (ret)
		fail_msg("alloc %s/%s: %d %s", id, ifname, ret, err);
	assert_int_equal(n, 1);
	assert_net(&l[0].addr, want);
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

static const char *V4 = "{\"type\":\"xdpath\",\"ranges\":[[{\"subnet\":\"10.1.0.0/24\"}]]}";
static const char *V4_30 = "{\"type\":\"xdpath\",\"ranges\":[[{\"subnet\":\"10.0.0.0/30\"}]]}";

/* ---- config ------------------------------------------------------------ */

static void test_cfg_defaults_v4(void **state)
{
	struct ipam_config cfg;
	const struct ipam_range *r;

	(void)state;
	cfg_load(NULL, V4, &cfg);
	assert_string_equal(cfg.network, NET);
	assert_string_equal(cfg.data_dir, IPAM_DEFAULT_DATA_DIR);
	assert_int_equal(cfg.nsets, 1);
	assert_int_equal(cfg.sets[0].n, 1);
	assert_int_equal(cfg.nroutes, 0);
	r = &cfg.sets[0].r[0];
	assert_net(&r->subnet, "10.1.0.0/24");
	assert_true(r->has_gateway);
	assert_addr(&r->gateway, "10.1.0.1");
	assert_addr(&r->start, "10.1.0.1");
	assert_addr(&r->end, "10.1.0.254");

	cfg_load("/var/lib/x", V4_30, &cfg);
	assert_string_equal(cfg.data_dir, "/var/lib/x");
	r = &cfg.sets[0].r[0];
	assert_addr(&r->gateway, "10.0.0.1");
	assert_addr(&r->start, "10.0.0.1");
	assert_addr(&r->end, "10.0.0.2");
}

static void test_cfg_defaults_v6(void **state)
{
	struct ipam_config cfg;
	const struct ipam_range *r;

	(void)state;
	cfg_load(NULL, "{\"ranges\":[[{\"subnet\":\"fd00::/120\"}]]}", &cfg);
	r = &cfg.sets[0].r[0];
	assert_net(&r->subnet, "fd00::/120");
	assert_addr(&r->gateway, "fd00::1");
	assert_addr(&r->start, "fd00::1");
	assert_addr(&r->end, "fd00::ff");

	cfg_load(NULL, "{\"ranges\":[[{\"subnet\":\"fd00:1::/64\"}]]}", &cfg);
	r = &cfg.sets[0].r[0];
	assert_addr(&r->end, "fd00:1::ffff:ffff:ffff:ffff");

	cfg_load(NULL, "{\"ranges\":[[{\"subnet\":\"fd00::/126\"}]]}", &cfg);
	r = &cfg.sets[0].r[0];
	assert_addr(&r->start, "fd00::1");
	assert_addr(&r->end, "fd00::3");
}

static void test_cfg_explicit(void **state)
{
	struct ipam_config cfg;
	const struct ipam_range *r;

	(void)state;
	cfg_load(NULL,
		 "{\"type\":\"xdpath\",\"dataDir\":\"/d\","
		 " \"subnet\":\"10.9.0.0/16\",\"rangeStart\":\"10.9.1.0\",\"rangeEnd\":\"10.9.1.255\","
		 " \"gateway\":\"10.9.255.254\","
		 " \"ranges\":[[{\"subnet\":\"10.1.0.0/24\",\"rangeStart\":\"10.1.0.10\","
		 "              \"rangeEnd\":\"10.1.0.20\",\"gateway\":\"10.1.0.254\"},"
		 "             {\"subnet\":\"10.2.0.0/24\"}],"
		 "            [{\"subnet\":\"fd00::/120\",\"gateway\":\"fd00::fe\"}]],"
		 " \"routes\":[{\"dst\":\"0.0.0.0/0\",\"gw\":\"10.1.0.254\"},{\"dst\":\"fd00:1::/64\"}],"
		 " \"unknownKey\":{\"x\":[1,2]}}",
		 &cfg);
	assert_string_equal(cfg.data_dir, "/d");
	/* The legacy top-level range is set 0. */
	assert_int_equal(cfg.nsets, 3);
	r = &cfg.sets[0].r[0];
	assert_int_equal(cfg.sets[0].n, 1);
	assert_net(&r->subnet, "10.9.0.0/16");
	assert_addr(&r->start, "10.9.1.0");
	assert_addr(&r->end, "10.9.1.255");
	assert_addr(&r->gateway, "10.9.255.254");

	assert_int_equal(cfg.sets[1].n, 2);
	r = &cfg.sets[1].r[0];
	assert_addr(&r->start, "10.1.0.10");
	assert_addr(&r->end, "10.1.0.20");
	assert_addr(&r->gateway, "10.1.0.254");
	r = &cfg.sets[1].r[1];
	assert_net(&r->subnet, "10.2.0.0/24");
	assert_addr(&r->gateway, "10.2.0.1");

	assert_int_equal(cfg.sets[2].n, 1);
	assert_addr(&cfg.sets[2].r[0].gateway, "fd00::fe");
	assert_addr(&cfg.sets[2].r[0].end, "fd00::ff");

	assert_int_equal(cfg.nroutes, 2);
	assert_net(&cfg.routes[0].dst, "0.0.0.0/0");
	assert_true(cfg.routes[0].has_gw);
	assert_addr(&cfg.routes[0].gw, "10.1.0.254");
	assert_net(&cfg.routes[1].dst, "fd00:1::/64");
	assert_false(cfg.routes[1].has_gw);

	/* Disjoint ranges of one subnet do not overlap (host-local allows it). */
	cfg_load(NULL,
		 "{\"ranges\":[[{\"subnet\":\"10.1.0.0/24\",\"rangeEnd\":\"10.1.0.100\"}],"
		 "[{\"subnet\":\"10.1.0.0/24\",\"rangeStart\":\"10.1.0.101\"}]]}", &cfg);
	assert_int_equal(cfg.nsets, 2);
	/* null members count as absent. */
	cfg_load(NULL, "{\"ranges\":[[{\"subnet\":\"10.1.0.0/24\",\"gateway\":null}]],"
		 "\"routes\":null,\"dataDir\":null}", &cfg);
	assert_addr(&cfg.sets[0].r[0].gateway, "10.1.0.1");
	assert_string_equal(cfg.data_dir, IPAM_DEFAULT_DATA_DIR);
}

static void test_cfg_errors_ranges(void **state)
{
	static const struct {
		const char *json, *want;
	} cases[] = {
		{ "{\"type\":\"xdpath\"}", "ipam: no ranges" },
		{ "{\"ranges\":[]}", "ipam: no ranges" },
		{ "{\"ranges\":{}}", "ipam: ranges {}: not an array" },
		{ "{\"ranges\":\"10.0.0.0/24\"}", "ipam: ranges \"10.0.0.0/24\": not an array" },
		{ "{\"ranges\":[{\"subnet\":\"10.0.0.0/24\"}]}", "ipam: ranges[0] {" },
		{ "{\"ranges\":[{\"subnet\":\"10.0.0.0/24\"}]}", "not an array" },
		{ "{\"ranges\":[[]]}", "ipam: ranges[0]: empty range set" },
		{ "{\"ranges\":[[\"10.0.0.0/24\"]]}",
		  "ipam: ranges[0][0] \"10.0.0.0/24\": not an object" },
		{ "{\"ranges\":[[{}]]}", "ipam: ranges[0][0].subnet: missing" },
		{ "{\"ranges\":[[{\"subnet\":24}]]}", "ipam: ranges[0][0].subnet 24: not a string" },
		{ "{\"ranges\":[[{\"subnet\":\"10.0.0.0/24\"},{\"subnet\":\"10.1.0.0/33\"}]]}",
		  "ipam: ranges[0][1].subnet \"10.1.0.0/33\": invalid CIDR" },
		{ "{\"ranges\":[[{\"subnet\":\"10.1.0.0\"}]]}", "\"10.1.0.0\": invalid CIDR" },
		{ "{\"ranges\":[[{\"subnet\":\"10.0.0.0/31\"}]]}",
		  "ranges[0][0].subnet \"10.0.0.0/31\": network 10.0.0.0/31 too small to allocate from" },
		{ "{\"ranges\":[[{\"subnet\":\"10.0.0.7/32\"}]]}",
		  "network 10.0.0.7/32 too small to allocate from" },
		{ "{\"ranges\":[[{\"subnet\":\"fd00::/127\"}]]}",
		  "network fd00::/127 too small to allocate from" },
		{ "{\"ranges\":[[{\"subnet\":\"fd00::1/128\"}]]}", "too small to allocate from" },
		{ "{\"ranges\":[[{\"subnet\":\"10.1.0.5/24\"}]]}",
		  "ipam: ranges[0][0].subnet \"10.1.0.5/24\": has host bits set" },
		{ "{\"ranges\":[[{\"subnet\":\"fd00::1/64\"}]]}",
		  "\"fd00::1/64\": has host bits set (network is fd00::/64)" },
		{ "{\"ranges\":[[{\"subnet\":\"10.1.0.0/24\",\"rangeStart\":\"10.1.0.x\"}]]}",
		  "ipam: ranges[0][0].rangeStart \"10.1.0.x\": invalid IP address" },
		{ "{\"ranges\":[[{\"subnet\":\"10.1.0.0/24\",\"rangeStart\":5}]]}",
		  "ipam: ranges[0][0].rangeStart 5: not a string" },
		{ "{\"ranges\":[[{\"subnet\":\"10.1.0.0/24\",\"rangeStart\":\"10.2.0.5\"}]]}",
		  "ipam: ranges[0][0].rangeStart \"10.2.0.5\": not in subnet 10.1.0.0/24" },
		{ "{\"ranges\":[[{\"subnet\":\"10.1.0.0/24\",\"rangeEnd\":\"10.1.1.0\"}]]}",
		  "ipam: ranges[0][0].rangeEnd \"10.1.1.0\": not in subnet 10.1.0.0/24" },
		{ "{\"ranges\":[[{\"subnet\":\"10.1.0.0/24\",\"rangeEnd\":\"\"}]]}",
		  "ipam: ranges[0][0].rangeEnd \"\": invalid IP address" },
		{ "{\"ranges\":[[{\"subnet\":\"10.1.0.0/24\",\"gateway\":\"10.0.0.1\"}]]}",
		  "ipam: ranges[0][0].gateway \"10.0.0.1\": not in subnet 10.1.0.0/24" },
		{ "{\"ranges\":[[{\"subnet\":\"10.1.0.0/24\",\"gateway\":\"fd00::1\"}]]}",
		  "ipam: ranges[0][0].gateway \"fd00::1\": not in subnet 10.1.0.0/24" },
		{ "{\"ranges\":[[{\"subnet\":\"10.1.0.0/24\",\"gateway\":\"1.2.3\"}]]}",
		  "ipam: ranges[0][0].gateway \"1.2.3\": invalid IP address" },
		{ "{\"ranges\":[[{\"subnet\":\"10.1.0.0/24\",\"rangeStart\":\"10.1.0.0\"}]]}",
		  "rangeStart \"10.1.0.0\": is the network address of 10.1.0.0/24" },
		{ "{\"ranges\":[[{\"subnet\":\"10.1.0.0/24\",\"rangeEnd\":\"10.1.0.255\"}]]}",
		  "rangeEnd \"10.1.0.255\": is the broadcast address of 10.1.0.0/24" },
		{ "{\"ranges\":[[{\"subnet\":\"10.1.0.0/24\",\"rangeStart\":\"10.1.0.20\","
		  "\"rangeEnd\":\"10.1.0.10\"}]]}",
		  "ipam: ranges[0][0].rangeStart \"10.1.0.20\": after rangeEnd 10.1.0.10" },
		{ "{\"ranges\":[[{\"subnet\":\"10.1.0.0/24\"},{\"subnet\":\"fd00::/120\"}]]}",
		  "ipam: ranges[0][1].subnet \"fd00::/120\": mixed address families in range set "
		  "ranges[0]" },
		{ "{\"ranges\":[[{\"subnet\":\"10.1.0.0/24\"},{\"subnet\":\"10.1.0.0/25\"}]]}",
		  "ipam: ranges[0][1] 10.1.0.1-10.1.0.126: overlaps ranges[0][0] 10.1.0.1-10.1.0.254" },
		{ "{\"ranges\":[[{\"subnet\":\"10.1.0.0/24\",\"rangeEnd\":\"10.1.0.50\"}],"
		  "[{\"subnet\":\"fd00::/120\"}],"
		  "[{\"subnet\":\"10.1.0.0/24\",\"rangeStart\":\"10.1.0.50\"}]]}",
		  "ipam: ranges[2][0] 10.1.0.50-10.1.0.254: overlaps ranges[0][0] 10.1.0.1-10.1.0.50" },
		{ "{\"ranges\":[[{\"subnet\":\"fd00::/120\"}],[{\"subnet\":\"fd00::/112\"}]]}",
		  "ipam: ranges[1][0] fd00::1-fd00::ffff: overlaps ranges[0][0] fd00::1-fd00::ff" },
		{ "{\"subnet\":\"10.1.0.0/16\",\"ranges\":[[{\"subnet\":\"10.1.5.0/24\"}]]}",
		  "ipam: ranges[0][0] 10.1.5.1-10.1.5.254: overlaps subnet 10.1.0.1-10.1.255.254" },
		{ "{\"subnet\":\"10.1.0.0/33\"}", "ipam: subnet \"10.1.0.0/33\": invalid CIDR" },
		{ "{\"subnet\":\"10.1.0.0/24\",\"rangeStart\":\"10.1.1.1\"}",
		  "ipam: rangeStart \"10.1.1.1\": not in subnet 10.1.0.0/24" },
		{ "{\"gateway\":\"10.1.0.1\",\"ranges\":[[{\"subnet\":\"10.1.0.0/24\"}]]}",
		  "ipam: gateway \"10.1.0.1\": needs a top-level subnet" },
		{ "{\"ranges\":[[{\"subnet\":\"10.1.0.0/24\"}],[{\"subnet\":\"10.2.0.0/24\"}],"
		  "[{\"subnet\":\"10.3.0.0/24\"}],[{\"subnet\":\"10.4.0.0/24\"}],"
		  "[{\"subnet\":\"10.5.0.0/24\"}]]}",
		  "ipam: ranges: 5 range sets, at most 4" },
		{ "{\"subnet\":\"10.9.0.0/24\",\"ranges\":[[{\"subnet\":\"10.1.0.0/24\"}],"
		  "[{\"subnet\":\"10.2.0.0/24\"}],[{\"subnet\":\"10.3.0.0/24\"}],"
		  "[{\"subnet\":\"10.4.0.0/24\"}]]}",
		  "ipam: ranges: 5 range sets, at most 4" },
		{ "{\"ranges\":[[{\"subnet\":\"10.1.0.0/24\"},{\"subnet\":\"10.2.0.0/24\"},"
		  "{\"subnet\":\"10.3.0.0/24\"},{\"subnet\":\"10.4.0.0/24\"},"
		  "{\"subnet\":\"10.5.0.0/24\"},{\"subnet\":\"10.6.0.0/24\"},"
		  "{\"subnet\":\"10.7.0.0/24\"},{\"subnet\":\"10.8.0.0/24\"},"
		  "{\"subnet\":\"10.9.0.0/24\"}]]}",
		  "ipam: ranges[0]: 9 ranges, at most 8" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_err(cases[i].json, cases[i].want);
}

static void test_cfg_errors_other(void **state)
{
	static const char *R = "\"ranges\":[[{\"subnet\":\"10.1.0.0/24\"}]]";
	static const struct {
		const char *fmt, *want;
	} cases[] = {
		{ "{%s,\"routes\":{}}", "ipam: routes {}: not an array" },
		{ "{%s,\"routes\":[\"0.0.0.0/0\"]}", "ipam: routes[0] \"0.0.0.0/0\": not an object" },
		{ "{%s,\"routes\":[{\"gw\":\"10.1.0.1\"}]}", "ipam: routes[0].dst: missing" },
		{ "{%s,\"routes\":[{\"dst\":\"0.0.0.0/0\"},{\"dst\":\"10.0.0.0/40\"}]}",
		  "ipam: routes[1].dst \"10.0.0.0/40\": invalid CIDR" },
		{ "{%s,\"routes\":[{\"dst\":\"default\"}]}",
		  "ipam: routes[0].dst \"default\": invalid CIDR" },
		{ "{%s,\"routes\":[{\"dst\":[]}]}", "ipam: routes[0].dst []: not a string" },
		{ "{%s,\"routes\":[{\"dst\":\"10.2.0.1/16\"}]}",
		  "ipam: routes[0].dst \"10.2.0.1/16\": has host bits set" },
		{ "{%s,\"routes\":[{\"dst\":\"0.0.0.0/0\",\"gw\":\"nope\"}]}",
		  "ipam: routes[0].gw \"nope\": invalid IP address" },
		{ "{%s,\"routes\":[{\"dst\":\"0.0.0.0/0\",\"gw\":\"fd00::1\"}]}",
		  "ipam: routes[0].gw \"fd00::1\": address family differs from dst" },
		{ "{%s,\"routes\":[{\"dst\":\"0.0.0.0/0\"},{\"dst\":\"0.0.0.0/0\"},"
		  "{\"dst\":\"0.0.0.0/0\"},{\"dst\":\"0.0.0.0/0\"},{\"dst\":\"0.0.0.0/0\"},"
		  "{\"dst\":\"0.0.0.0/0\"},{\"dst\":\"0.0.0.0/0\"},{\"dst\":\"0.0.0.0/0\"},"
		  "{\"dst\":\"0.0.0.0/0\"},{\"dst\":\"0.0.0.0/0\"},{\"dst\":\"0.0.0.0/0\"},"
		  "{\"dst\":\"0.0.0.0/0\"},{\"dst\":\"0.0.0.0/0\"},{\"dst\":\"0.0.0.0/0\"},"
		  "{\"dst\":\"0.0.0.0/0\"},{\"dst\":\"0.0.0.0/0\"},{\"dst\":\"0.0.0.0/0\"}]}",
		  "ipam: routes: 17 routes, at most 16" },
		{ "{%s,\"dataDir\":5}", "ipam: dataDir 5: not a string" },
	};
	char json[2048];
	struct ipam_config cfg;
	char err[512];
	char longname[200];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(json, sizeof(json), cases[i].fmt, R);
		expect_err(json, cases[i].want);
	}
	snprintf(json, sizeof(json), "{%s}", R);
	expect_err_net("a/b", json, "ipam: network name \"a/b\": not usable as a directory name");
	expect_err_net(".", json, "ipam: network name \".\": not usable as a directory name");
	expect_err_net("..", json, "ipam: network name \"..\": not usable as a directory name");
	expect_err_net("", json, "not usable as a directory name");
	expect_err_net(NULL, json, "not usable as a directory name");
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	expect_err_net(longname, json, "longer than 127 bytes");
	/* "..x" and "a.b" are ordinary names. */
	assert_int_equal(parse("..x", NULL, json, &cfg, err, sizeof(err)), 0);
	assert_int_equal(parse("a.b", NULL, json, &cfg, err, sizeof(err)), 0);
	/* Not an object at all. */
	assert_int_equal(ipam_config_parse(NULL, NET, &cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not an object"));
	/* A tiny err buffer is truncated, never overrun. */
	memset(err, 'x', sizeof(err));
	assert_int_equal(parse(NET, NULL, "{}", &cfg, err, 8), -1);
	assert_int_equal(strlen(err), 7);
	assert_int_equal(err[8], 'x');
	assert_int_equal(parse(NET, NULL, "{}", &cfg, NULL, 0), -1);
}

/* ---- store --------------------------------------------------------------- */

static void test_alloc_first_and_files(void **state)
{
	struct fx *f = *state;
	struct ipam_config cfg;
	struct ipam_store st;
	struct ipam_lease l[IPAM_MAX_SETS];
	char err[256] = "";
	int n = 0;
	struct stat sb;

	cfg_load(f->dir, V4, &cfg);
	open_store(&cfg, &st);
	assert_int_equal(stat(f->net, &sb), 0);
	assert_true(S_ISDIR(sb.st_mode));
	assert_true(exists(f, "lock"));
	assert_true(exists(f, "attachments"));

	assert_int_equal(ipam_alloc(&st, &cfg, "ctr1", "eth0", l, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	/* .1 is the gateway. */
	assert_net(&l[0].addr, "10.1.0.2/24");
	assert_true(l[0].has_gateway);
	assert_addr(&l[0].gateway, "10.1.0.1");
	assert_int_equal(l[0].set, 0);

	assert_string_equal(slurp(f, "10.1.0.2"), "ctr1\neth0\n");
	assert_string_equal(slurp(f, "attachments/ctr1:eth0"), "0 10.1.0.2/24\n");
	assert_string_equal(slurp(f, "last_reserved_ip.0"), "10.1.0.2");
	assert_false(exists(f, "attachments/.tmp"));

	/* lookup returns the same lease. */
	memset(l, 0, sizeof(l));
	assert_int_equal(ipam_lookup(&st, &cfg, "ctr1", "eth0", l, &n), 0);
	assert_int_equal(n, 1);
	assert_net(&l[0].addr, "10.1.0.2/24");
	assert_addr(&l[0].gateway, "10.1.0.1");
	assert_int_equal(ipam_lookup(&st, &cfg, "ctr1", "eth1", l, &n), -ENOENT);
	assert_int_equal(n, 0);
	assert_int_equal(ipam_lookup(&st, &cfg, "nope", "eth0", l, &n), -ENOENT);
	ipam_close(&st);
	assert_int_equal(st.dirfd, -1);
	assert_int_equal(st.lockfd, -1);
	ipam_close(&st);
}

static void test_alloc_round_robin(void **state)
{
	struct fx *f = *state;
	struct ipam_config cfg;
	struct ipam_store st;

	cfg_load(f->dir, V4, &cfg);
	open_store(&cfg, &st);
	alloc1(&st, &cfg, "a", "eth0", "10.1.0.2/24");
	alloc1(&st, &cfg, "b", "eth0", "10.1.0.3/24");
	assert_int_equal(ipam_release(&st, "a", "eth0"), 0);
	/* The freed .2 is not reused right away. */
	alloc1(&st, &cfg, "c", "eth0", "10.1.0.4/24");
	ipam_close(&st);

	/* The cursor survives reopening the store. */
	open_store(&cfg, &st);
	alloc1(&st, &cfg, "d", "eth0", "10.1.0.5/24");
	/* A cursor inside the range is continued after... */
	put(f, "last_reserved_ip.0", "10.1.0.100\n");
	alloc1(&st, &cfg, "e", "eth0", "10.1.0.101/24");
	/* ...one outside every range (config changed) restarts at rangeStart,
	 * skipping the gateway and the reserved addresses. */
	put(f, "last_reserved_ip.0", "10.7.0.100");
	alloc1(&st, &cfg, "g", "eth0", "10.1.0.2/24");
	put(f, "last_reserved_ip.0", "garbage");
	alloc1(&st, &cfg, "h", "eth0", "10.1.0.6/24");
	ipam_close(&st);
}

static void test_alloc_wraps(void **state)
{
	struct fx *f = *state;
	struct ipam_config cfg;
	struct ipam_store st;

	cfg_load(f->dir,
		 "{\"ranges\":[[{\"subnet\":\"10.1.0.0/24\",\"rangeStart\":\"10.1.0.10\","
		 "\"rangeEnd\":\"10.1.0.12\"}]]}", &cfg);
	open_store(&cfg, &st);
	alloc1(&st, &cfg, "a", "eth0", "10.1.0.10/24");
	alloc1(&st, &cfg, "b", "eth0", "10.1.0.11/24");
	alloc1(&st, &cfg, "c", "eth0", "10.1.0.12/24");
	assert_int_equal(ipam_release(&st, "b", "eth0"), 0);
	/* After the end it wraps to the start and finds the hole. */
	alloc1(&st, &cfg, "d", "eth0", "10.1.0.11/24");
	ipam_close(&st);
}

static void test_alloc_repeat(void **state)
{
	struct fx *f = *state;
	struct ipam_config cfg;
	struct ipam_store st;
	int before;

	cfg_load(f->dir, V4, &cfg);
	open_store(&cfg, &st);
	alloc1(&st, &cfg, "a", "eth0", "10.1.0.2/24");
	before = count_entries(f);
	/* Repeat ADD: same address, nothing new on disk. */
	alloc1(&st, &cfg, "a", "eth0", "10.1.0.2/24");
	alloc1(&st, &cfg, "a", "eth0", "10.1.0.2/24");
	assert_int_equal(count_entries(f), before);
	assert_string_equal(slurp(f, "last_reserved_ip.0"), "10.1.0.2");
	/* Another interface of the same container is another attachment. */
	alloc1(&st, &cfg, "a", "eth1", "10.1.0.3/24");
	assert_string_equal(slurp(f, "10.1.0.3"), "a\neth1\n");
	/* And the same ifname in another container too. */
	alloc1(&st, &cfg, "b", "eth0", "10.1.0.4/24");
	ipam_close(&st);
}

static void test_alloc_dual_stack(void **state)
{
	struct fx *f = *state;
	struct ipam_config cfg;
	struct ipam_store st;
	struct ipam_lease l[IPAM_MAX_SETS];
	char err[256] = "";
	int n = 0;

	cfg_load(f->dir,
		 "{\"ranges\":[[{\"subnet\":\"10.1.0.0/24\"}],[{\"subnet\":\"fd00::/120\"}]]}",
		 &cfg);
	open_store(&cfg, &st);
	assert_int_equal(ipam_alloc(&st, &cfg, "a", "eth0", l, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 2);
	assert_net(&l[0].addr, "10.1.0.2/24");
	assert_addr(&l[0].gateway, "10.1.0.1");
	assert_int_equal(l[0].set, 0);
	assert_net(&l[1].addr, "fd00::2/120");
	assert_true(l[1].has_gateway);
	assert_addr(&l[1].gateway, "fd00::1");
	assert_int_equal(l[1].set, 1);
	assert_string_equal(slurp(f, "fd00::2"), "a\neth0\n");
	assert_string_equal(slurp(f, "attachments/a:eth0"), "0 10.1.0.2/24\n1 fd00::2/120\n");
	assert_string_equal(slurp(f, "last_reserved_ip.1"), "fd00::2");

	assert_int_equal(ipam_alloc(&st, &cfg, "b", "eth0", l, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 2);
	assert_net(&l[0].addr, "10.1.0.3/24");
	assert_net(&l[1].addr, "fd00::3/120");

	memset(l, 0, sizeof(l));
	assert_int_equal(ipam_lookup(&st, &cfg, "a", "eth0", l, &n), 0);
	assert_int_equal(n, 2);
	assert_net(&l[1].addr, "fd00::2/120");
	assert_addr(&l[1].gateway, "fd00::1");
	assert_int_equal(l[1].set, 1);

	assert_int_equal(ipam_release(&st, "a", "eth0"), 0);
	assert_false(exists(f, "10.1.0.2"));
	assert_false(exists(f, "fd00::2"));
	ipam_close(&st);
}

static void test_alloc_multi_range(void **state)
{
	struct fx *f = *state;
	struct ipam_config cfg;
	struct ipam_store st;
	struct ipam_lease l[IPAM_MAX_SETS];
	char err[256] = "";
	int n = 0;

	cfg_load(f->dir,
		 "{\"ranges\":[[{\"subnet\":\"10.1.0.0/24\",\"rangeStart\":\"10.1.0.10\","
		 "\"rangeEnd\":\"10.1.0.10\"},{\"subnet\":\"10.2.0.0/16\",\"rangeStart\":"
		 "\"10.2.0.20\",\"rangeEnd\":\"10.2.0.20\",\"gateway\":\"10.2.255.254\"}]]}",
		 &cfg);
	open_store(&cfg, &st);
	alloc1(&st, &cfg, "a", "eth0", "10.1.0.10/24");
	assert_int_equal(ipam_alloc(&st, &cfg, "b", "eth0", l, &n, err, sizeof(err)), 0);
	/* The second range brings its own prefix and gateway. */
	assert_net(&l[0].addr, "10.2.0.20/16");
	assert_addr(&l[0].gateway, "10.2.255.254");
	assert_int_equal(ipam_alloc(&st, &cfg, "c", "eth0", l, &n, err, sizeof(err)), -ENOSPC);
	assert_int_equal(n, 0);
	assert_string_equal(err, "no IP addresses available in range set: "
			    "10.1.0.10-10.1.0.10,10.2.0.20-10.2.0.20");
	ipam_close(&st);
}

static void test_alloc_exhaustion(void **state)
{
	struct fx *f = *state;
	struct ipam_config cfg;
	struct ipam_store st;
	struct ipam_lease l[IPAM_MAX_SETS];
	char err[256] = "";
	int n = 0, before;

	cfg_load(f->dir, V4_30, &cfg);
	open_store(&cfg, &st);
	/* /30: .0 network, .1 gateway, .3 broadcast: only .2. */
	alloc1(&st, &cfg, "a", "eth0", "10.0.0.2/30");
	before = count_entries(f);
	assert_int_equal(ipam_alloc(&st, &cfg, "b", "eth0", l, &n, err, sizeof(err)), -ENOSPC);
	assert_int_equal(n, 0);
	assert_string_equal(err, "no IP addresses available in range set: 10.0.0.1-10.0.0.2");
	/* The failed call left nothing behind. */
	assert_int_equal(count_entries(f), before);
	assert_false(exists(f, "attachments/b:eth0"));
	assert_int_equal(ipam_lookup(&st, &cfg, "b", "eth0", l, &n), -ENOENT);
	/* The existing holder still gets its address back. */
	alloc1(&st, &cfg, "a", "eth0", "10.0.0.2/30");
	assert_int_equal(ipam_release(&st, "a", "eth0"), 0);
	alloc1(&st, &cfg, "b", "eth0", "10.0.0.2/30");
	ipam_close(&st);
}

static void test_alloc_exhaustion_second_set(void **state)
{
	struct fx *f = *state;
	struct ipam_config cfg;
	struct ipam_store st;
	struct ipam_lease l[IPAM_MAX_SETS];
	char err[256] = "";
	int n = 0, before;

	cfg_load(f->dir,
		 "{\"ranges\":[[{\"subnet\":\"10.1.0.0/24\"}],[{\"subnet\":\"fd00::/126\"}]]}",
		 &cfg);
	open_store(&cfg, &st);
	assert_int_equal(ipam_alloc(&st, &cfg, "a", "eth0", l, &n, err, sizeof(err)), 0);
	assert_net(&l[1].addr, "fd00::2/126");
	assert_int_equal(ipam_alloc(&st, &cfg, "b", "eth0", l, &n, err, sizeof(err)), 0);
	/* IPv6 has no broadcast: the last address is usable. */
	assert_net(&l[1].addr, "fd00::3/126");
	before = count_entries(f);
	assert_int_equal(ipam_alloc(&st, &cfg, "c", "eth0", l, &n, err, sizeof(err)), -ENOSPC);
	assert_string_equal(err, "no IP addresses available in range set: fd00::1-fd00::3");
	/* The IPv4 address it could have had is not held. */
	assert_int_equal(count_entries(f), before);
	assert_false(exists(f, "10.1.0.4"));
	ipam_close(&st);
}

static void test_alloc_io_failure_undone(void **state)
{
	struct fx *f = *state;
	struct ipam_config cfg;
	struct ipam_store st;
	struct ipam_lease l[IPAM_MAX_SETS];
	char err[256] = "", path[256];
	int n = 0;

	cfg_load(f->dir, V4, &cfg);
	open_store(&cfg, &st);
	/* Break the record directory: the allocation must fail cleanly. */
	snprintf(path, sizeof(path), "%s/attachments", f->net);
	assert_int_equal(rmdir(path), 0);
	put(f, "attachments", "not a directory");
	assert_int_equal(ipam_alloc(&st, &cfg, "a", "eth0", l, &n, err, sizeof(err)), -ENOTDIR);
	assert_non_null(strstr(err, "attachments/a:eth0"));
	assert_false(exists(f, "10.1.0.2"));
	assert_false(exists(f, "last_reserved_ip.0"));

	/* Invalid names are refused before touching the disk. */
	assert_int_equal(ipam_alloc(&st, &cfg, "../x", "eth0", l, &n, err, sizeof(err)), -EINVAL);
	assert_int_equal(ipam_alloc(&st, &cfg, "a", "e:0", l, &n, err, sizeof(err)), -EINVAL);
	assert_int_equal(ipam_alloc(&st, &cfg, "", "eth0", l, &n, err, sizeof(err)), -EINVAL);
	assert_int_equal(ipam_release(&st, "a/b", "eth0"), -EINVAL);
	ipam_close(&st);
}

static void test_release(void **state)
{
	struct fx *f = *state;
	struct ipam_config cfg;
	struct ipam_store st;

	cfg_load(f->dir, V4, &cfg);
	open_store(&cfg, &st);
	alloc1(&st, &cfg, "a", "eth0", "10.1.0.2/24");
	alloc1(&st, &cfg, "a", "eth1", "10.1.0.3/24");
	assert_int_equal(ipam_release(&st, "a", "eth0"), 0);
	assert_false(exists(f, "10.1.0.2"));
	assert_false(exists(f, "attachments/a:eth0"));
	/* Only that attachment. */
	assert_true(exists(f, "10.1.0.3"));
	assert_true(exists(f, "attachments/a:eth1"));
	/* Idempotent, and unknown attachments are not an error. */
	assert_int_equal(ipam_release(&st, "a", "eth0"), 0);
	assert_int_equal(ipam_release(&st, "unknown", "eth0"), 0);
	ipam_close(&st);
}

static void test_release_crash_leftovers(void **state)
{
	struct fx *f = *state;
	struct ipam_config cfg;
	struct ipam_store st;
	struct ipam_lease l[IPAM_MAX_SETS];
	int n = 0;

	cfg_load(f->dir, V4, &cfg);
	open_store(&cfg, &st);
	alloc1(&st, &cfg, "other", "eth0", "10.1.0.2/24");

	/* Killed after the record, before any IP file. */
	put(f, "attachments/crash:eth0", "0 10.1.0.7/24\n");
	assert_int_equal(ipam_lookup(&st, &cfg, "crash", "eth0", l, &n), -ENOENT);
	assert_int_equal(ipam_release(&st, "crash", "eth0"), 0);
	assert_false(exists(f, "attachments/crash:eth0"));

	/* A record naming an address someone else holds (taken after the
	 * crash): release must not free it. */
	put(f, "attachments/crash:eth0", "0 10.1.0.2/24\n");
	assert_int_equal(ipam_release(&st, "crash", "eth0"), 0);
	assert_false(exists(f, "attachments/crash:eth0"));
	assert_string_equal(slurp(f, "10.1.0.2"), "other\neth0\n");

	/* Killed between O_EXCL create and write: an empty IP file. */
	put(f, "attachments/crash:eth0", "0 10.1.0.8/24\ngarbage line\n");
	put(f, "10.1.0.8", "");
	assert_int_equal(ipam_release(&st, "crash", "eth0"), 0);
	assert_false(exists(f, "10.1.0.8"));
	assert_false(exists(f, "attachments/crash:eth0"));
	ipam_close(&st);
}

static void test_alloc_after_crash(void **state)
{
	struct fx *f = *state;
	struct ipam_config cfg;
	struct ipam_store st;

	cfg_load(f->dir, V4, &cfg);
	open_store(&cfg, &st);
	/* A partial record: the repeated ADD must not trust it. */
	put(f, "attachments/a:eth0", "0 10.1.0.50/24\n");
	alloc1(&st, &cfg, "a", "eth0", "10.1.0.2/24");
	assert_string_equal(slurp(f, "attachments/a:eth0"), "0 10.1.0.2/24\n");
	assert_string_equal(slurp(f, "10.1.0.2"), "a\neth0\n");
	assert_false(exists(f, "10.1.0.50"));

	/* Record listing an address whose file is someone else's. */
	alloc1(&st, &cfg, "b", "eth0", "10.1.0.3/24");
	put(f, "attachments/c:eth0", "0 10.1.0.3/24\n");
	alloc1(&st, &cfg, "c", "eth0", "10.1.0.4/24");
	assert_string_equal(slurp(f, "10.1.0.3"), "b\neth0\n");
	ipam_close(&st);
}

struct freed_log {
	char names[8][64];
	int n;
};

static void on_freed(const char *id, const char *ifname, void *ctx)
{
	struct freed_log *log = ctx;

	if (log->n < 8)
		snprintf(log->names[log->n], sizeof(log->names[0]), "%s:%s", id, ifname);
	log->n++;
}

static bool logged(const struct freed_log *log, const char *name)
{
	for (int i = 0; i < log->n && i < 8; i++) {
		if (!strcmp(log->names[i], name))
			return true;
	}
	return false;
}

static void test_gc(void **state)
{
	struct fx *f = *state;
	struct ipam_config cfg;
	struct ipam_store st;
	struct freed_log log = { 0 };
	const struct ipam_attachment valid[] = {
		{ "a", "eth0" },
		{ "c", "eth0" },
	};

	cfg_load(f->dir, V4, &cfg);
	open_store(&cfg, &st);
	alloc1(&st, &cfg, "a", "eth0", "10.1.0.2/24");
	alloc1(&st, &cfg, "b", "eth0", "10.1.0.3/24");
	alloc1(&st, &cfg, "c", "eth0", "10.1.0.4/24");
	alloc1(&st, &cfg, "a", "eth1", "10.1.0.5/24");
	/* Leftover IP file with no record and no valid owner. */
	put(f, "10.1.0.50", "ghost\neth0\n");
	/* IP file of a valid attachment without a record: kept. */
	put(f, "10.1.0.51", "c\neth0\n");
	/* Not ours to judge. */
	put(f, "10.1.0.52", "");
	put(f, "junk", "x\ny\n");
	put(f, "attachments/.tmp", "0 10.1.0.99/24\n");

	assert_int_equal(ipam_gc(&st, valid, 2, on_freed, &log), 0);
	assert_int_equal(log.n, 2);
	assert_true(logged(&log, "b:eth0"));
	assert_true(logged(&log, "a:eth1"));

	assert_true(exists(f, "10.1.0.2"));
	assert_true(exists(f, "attachments/a:eth0"));
	assert_true(exists(f, "10.1.0.4"));
	assert_true(exists(f, "attachments/c:eth0"));
	assert_false(exists(f, "10.1.0.3"));
	assert_false(exists(f, "attachments/b:eth0"));
	assert_false(exists(f, "10.1.0.5"));
	assert_false(exists(f, "attachments/a:eth1"));
	assert_false(exists(f, "10.1.0.50"));
	assert_true(exists(f, "10.1.0.51"));
	assert_true(exists(f, "10.1.0.52"));
	assert_true(exists(f, "junk"));
	assert_true(exists(f, "lock"));
	assert_true(exists(f, "last_reserved_ip.0"));
	assert_false(exists(f, "attachments/.tmp"));

	/* Nothing valid: everything goes; a NULL callback is fine. */
	assert_int_equal(ipam_gc(&st, NULL, 0, NULL, NULL), 0);
	assert_false(exists(f, "10.1.0.2"));
	assert_false(exists(f, "10.1.0.4"));
	assert_false(exists(f, "10.1.0.51"));
	assert_false(exists(f, "attachments/a:eth0"));
	ipam_close(&st);
}

static void test_status(void **state)
{
	struct fx *f = *state;
	struct ipam_config cfg;
	struct ipam_store st;
	char err[256] = "";

	cfg_load(f->dir, V4_30, &cfg);
	open_store(&cfg, &st);
	assert_int_equal(ipam_status(&st, &cfg, err, sizeof(err)), 0);
	alloc1(&st, &cfg, "a", "eth0", "10.0.0.2/30");
	assert_int_equal(ipam_status(&st, &cfg, err, sizeof(err)), -ENOSPC);
	assert_string_equal(err, "no IP addresses available in range set: 10.0.0.1-10.0.0.2");
	assert_int_equal(ipam_release(&st, "a", "eth0"), 0);
	assert_int_equal(ipam_status(&st, &cfg, err, sizeof(err)), 0);
	assert_false(exists(f, ".probe"));

	/* The store directory vanished under us: unusable. */
	remove_tree(f->net);
	err[0] = '\0';
	assert_int_equal(ipam_status(&st, &cfg, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "not writable"));
	ipam_close(&st);
}

static void test_open_creates_parents(void **state)
{
	struct fx *f = *state;
	struct ipam_config cfg;
	struct ipam_store st;
	char dir[256], path[300];
	struct stat sb;

	snprintf(dir, sizeof(dir), "%s/a/b//c/", f->dir);
	cfg_load(dir, V4, &cfg);
	open_store(&cfg, &st);
	snprintf(path, sizeof(path), "%s/a/b/c/" NET "/attachments", f->dir);
	assert_int_equal(stat(path, &sb), 0);
	assert_true(S_ISDIR(sb.st_mode));
	ipam_close(&st);

	/* A file where a directory should be. */
	snprintf(dir, sizeof(dir), "%s/file", f->dir);
	assert_int_equal(close(open(dir, O_CREAT | O_WRONLY, 0644)), 0);
	snprintf(dir, sizeof(dir), "%s/file/sub", f->dir);
	cfg_load(dir, V4, &cfg);
	assert_int_equal(ipam_open(&cfg, &st, 100), -ENOTDIR);
	assert_int_equal(st.dirfd, -1);
	assert_int_equal(st.lockfd, -1);
}

static void test_lock_same_process(void **state)
{
	struct fx *f = *state;
	struct ipam_config cfg;
	struct ipam_store a, b;
	struct timespec t0;
	long ms;

	cfg_load(f->dir, V4, &cfg);
	open_store(&cfg, &a);
	/* flock() conflicts between open file descriptions, even in one process. */
	assert_int_equal(ipam_open(&cfg, &b, 0), -EAGAIN);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(ipam_open(&cfg, &b, 50), -EAGAIN);
	ms = ms_since(&t0);
	assert_true(ms >= 45 && ms < 1000);
	ipam_close(&a);
	assert_int_equal(ipam_open(&cfg, &b, 0), 0);
	ipam_close(&b);
}

static void test_lock_timeout(void **state)
{
	struct fx *f = *state;
	struct ipam_config cfg;
	struct ipam_store st;
	struct sigaction sa;
	struct timespec t0;
	int p[2], status;
	pid_t pid;
	char c;
	long ms;

	cfg_load(f->dir, V4, &cfg);
	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		if (ipam_open(&cfg, &st, 1000))
			_exit(1);
		if (write(p[1], "x", 1) != 1)
			_exit(1);
		sleep(30);
		_exit(0);
	}
	close(p[1]);
	assert_int_equal(read(p[0], &c, 1), 1);
	close(p[0]);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(ipam_open(&cfg, &st, 200), -EAGAIN);
	ms = ms_since(&t0);
	if (ms < 190 || ms > 700)
		fail_msg("lock wait took %ld ms, wanted ~200", ms);
	assert_int_equal(st.dirfd, -1);
	assert_int_equal(st.lockfd, -1);
	/* The temporary SIGALRM handler is gone again. */
	assert_int_equal(sigaction(SIGALRM, NULL, &sa), 0);
	assert_true(sa.sa_handler == SIG_DFL);

	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	/* The lock died with its holder. */
	assert_int_equal(ipam_open(&cfg, &st, 1000), 0);
	ipam_close(&st);
}

static void test_lock_wait_succeeds(void **state)
{
	struct fx *f = *state;
	struct ipam_config cfg;
	struct ipam_store st;
	struct timespec t0;
	int p[2], status;
	pid_t pid;
	char c;
	long ms;

	cfg_load(f->dir, V4, &cfg);
	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		if (ipam_open(&cfg, &st, 1000))
			_exit(1);
		if (write(p[1], "x", 1) != 1)
			_exit(1);
		usleep(150 * 1000);
		ipam_close(&st);
		_exit(0);
	}
	close(p[1]);
	assert_int_equal(read(p[0], &c, 1), 1);
	close(p[0]);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(ipam_open(&cfg, &st, 5000), 0);
	ms = ms_since(&t0);
	if (ms < 50 || ms > 2000)
		fail_msg("lock acquired after %ld ms, wanted ~150", ms);
	ipam_close(&st);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

#define NCHILD 20

static void test_concurrent_alloc(void **state)
{
	struct fx *f = *state;
	struct ipam_config cfg;
	struct ipam_store st;
	struct ipam_lease l[IPAM_MAX_SETS];
	struct ipaddr seen[NCHILD];
	pid_t pids[NCHILD];
	char id[32];
	int status, n, failed = 0;

	cfg_load(f->dir,
		 "{\"ranges\":[[{\"subnet\":\"10.1.0.0/24\"}],[{\"subnet\":\"fd00::/120\"}]]}",
		 &cfg);
	for (int i = 0; i < NCHILD; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			char err[256];

			snprintf(id, sizeof(id), "ctr%d", i);
			if (ipam_open(&cfg, &st, 10000))
				_exit(2);
			if (ipam_alloc(&st, &cfg, id, "eth0", l, &n, err, sizeof(err)) || n != 2)
				_exit(3);
			ipam_close(&st);
			_exit(0);
		}
	}
	/* Reap them all before judging, so none outlives the teardown. */
	for (int i = 0; i < NCHILD; i++) {
		if (waitpid(pids[i], &status, 0) != pids[i])
			status = -1;
		if (!WIFEXITED(status) || WEXITSTATUS(status))
			failed = i + 1;
	}
	if (failed)
		fail_msg("child %d failed", failed - 1);

	open_store(&cfg, &st);
	for (int i = 0; i < NCHILD; i++) {
		snprintf(id, sizeof(id), "ctr%d", i);
		assert_int_equal(ipam_lookup(&st, &cfg, id, "eth0", l, &n), 0);
		assert_int_equal(n, 2);
		assert_true(ipnet_contains(&cfg.sets[0].r[0].subnet, &l[0].addr.ip));
		assert_true(ipnet_contains(&cfg.sets[1].r[0].subnet, &l[1].addr.ip));
		for (int j = 0; j < i; j++)
			assert_false(ipaddr_equal(&seen[j], &l[0].addr.ip));
		seen[i] = l[0].addr.ip;
	}
	/* Dense: exactly .2 .. .21 and ::2 .. ::15 were handed out. */
	assert_int_equal(ipam_alloc(&st, &cfg, "next", "eth1", l, &n, NULL, 0), 0);
	assert_net(&l[0].addr, "10.1.0.22/24");
	assert_net(&l[1].addr, "fd00::16/120");
	ipam_close(&st);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_cfg_defaults_v4),
		T(test_cfg_defaults_v6),
		T(test_cfg_explicit),
		T(test_cfg_errors_ranges),
		T(test_cfg_errors_other),
		T(test_alloc_first_and_files),
		T(test_alloc_round_robin),
		T(test_alloc_wraps),
		T(test_alloc_repeat),
		T(test_alloc_dual_stack),
		T(test_alloc_multi_range),
		T(test_alloc_exhaustion),
		T(test_alloc_exhaustion_second_set),
		T(test_alloc_io_failure_undone),
		T(test_release),
		T(test_release_crash_leftovers),
		T(test_alloc_after_crash),
		T(test_gc),
		T(test_status),
		T(test_open_creates_parents),
		T(test_lock_same_process),
		T(test_lock_timeout),
		T(test_lock_wait_succeeds),
		T(test_concurrent_alloc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
