/* Unit tests for cni/endpoint.c (derived names and MACs, the on-disk
 * records, map entries) and cni/mac.c. Each test that touches the disk gets
 * a fresh mkdtemp() directory, removed again in teardown. */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "testutil.h"

#include "endpoint.h"
#include "mac.h"

#define ID  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

struct fx {
	char dir[64];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	strcpy(f->dir, "/tmp/xdpath-ep-XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
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

static void sample(struct endpoint *ep, const char *id, const char *ifname)
{
	memset(ep, 0, sizeof(*ep));
	snprintf(ep->container_id, sizeof(ep->container_id), "%s", id);
	snprintf(ep->ifname, sizeof(ep->ifname), "%s", ifname);
	strcpy(ep->network, "k8s-pod-network");
	strcpy(ep->netns, "/run/netns/cni-1234");
	strcpy(ep->pod_namespace, "default");
	strcpy(ep->pod_name, "web-0");
	strcpy(ep->pod_uid, "6b1e2f4a-0000-4000-8000-000000000001");
	endpoint_host_ifname("xdp", id, ifname, ep->host_ifname);
	ep->host_ifindex = 42;
	ep->pod_ifindex = 2;
	endpoint_macs(id, ifname, ep->host_mac, ep->pod_mac);
	ep->mtu = 1450;
	assert_int_equal(ipnet_parse("10.244.1.7/32", &ep->ips[0]), 0);
	assert_int_equal(ipnet_parse("fd00:10:244:1::7/128", &ep->ips[1]), 0);
	ep->nips = 2;
}

static void assert_ep_equal(const struct endpoint *a, const struct endpoint *b)
{
	assert_string_equal(a->container_id, b->container_id);
	assert_string_equal(a->ifname, b->ifname);
	assert_string_equal(a->network, b->network);
	assert_string_equal(a->netns, b->netns);
	assert_string_equal(a->pod_namespace, b->pod_namespace);
	assert_string_equal(a->pod_name, b->pod_name);
	assert_string_equal(a->pod_uid, b->pod_uid);
	assert_string_equal(a->host_ifname, b->host_ifname);
	assert_int_equal(a->host_ifindex, b->host_ifindex);
	assert_memory_equal(a->host_mac, b->host_mac, 6);
	assert_int_equal(a->pod_ifindex, b->pod_ifindex);
	assert_memory_equal(a->pod_mac, b->pod_mac, 6);
	assert_int_equal(a->mtu, b->mtu);
	assert_int_equal(a->nips, b->nips);
	for (int i = 0; i < a->nips; i++) {
		assert_true(ipaddr_equal(&a->ips[i].ip, &b->ips[i].ip));
		assert_int_equal(a->ips[i].prefix, b->ips[i].prefix);
	}
}

static int count_entries(const char *dir, const char *suffix)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name), sl = strlen(suffix);

		/* Hidden names count: write_atomic's temporaries are ".<name>.tmp". */
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && len >= sl &&
		    !strcmp(de->d_name + len - sl, suffix))
			n++;
	}
	closedir(d);
	return n;
}

/* ---- derived names and MACs ------------------------------------------- */

static bool is_hex(const char *s)
{
	for (; *s; s++)
		if (!strchr("0123456789abcdef", *s))
			return false;
	return true;
}

static void test_host_ifname(void **state)
{
	static const char *const prefixes[] = { "xdp", "a", "abcd" };
	char a[16], b[16];

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		size_t pl = strlen(prefixes[i]);

		endpoint_host_ifname(prefixes[i], ID, "eth0", a);
		assert_int_equal(strlen(a), pl + 11);
		assert_true(strlen(a) <= 15);
		assert_memory_equal(a, prefixes[i], pl);
		assert_true(is_hex(a + pl));
		endpoint_host_ifname(prefixes[i], ID, "eth0", b);
		assert_string_equal(a, b);
	}
	/* A longer prefix is cut to 4: the name always fits IFNAMSIZ. */
	endpoint_host_ifname("abcdefgh", ID, "eth0", a);
	assert_int_equal(strlen(a), 15);
	assert_memory_equal(a, "abcd", 4);

	/* The hash separates id from ifname. */
	endpoint_host_ifname("xdp", "ab", "c", a);
	endpoint_host_ifname("xdp", "a", "bc", b);
	assert_string_not_equal(a, b);
	endpoint_host_ifname("xdp", ID, "eth0", a);
	endpoint_host_ifname("xdp", ID, "eth1", b);
	assert_string_not_equal(a, b);
	endpoint_host_ifname("xdp", "c1", "eth0", a);
	endpoint_host_ifname("xdp", "c2", "eth0", b);
	assert_string_not_equal(a, b);
	/* Same attachment, other prefix: same hash. */
	endpoint_host_ifname("xdp", ID, "eth0", a);
	endpoint_host_ifname("veth", ID, "eth0", b);
	assert_string_equal(a + 3, b + 4);
}

static void test_macs(void **state)
{
	static const char *const ids[][2] = {
		{ ID, "eth0" }, { ID, "eth1" }, { "a", "b" }, { "ab", "c" }, { "a", "bc" },
	};
	uint8_t h[5][6], p[5][6], h2[6], p2[6];

	(void)state;
	for (size_t i = 0; i < 5; i++) {
		endpoint_macs(ids[i][0], ids[i][1], h[i], p[i]);
		assert_int_equal(h[i][0] & 3, 2); /* unicast, locally administered */
		assert_int_equal(p[i][0] & 3, 2);
		assert_memory_not_equal(h[i], p[i], 6);
		endpoint_macs(ids[i][0], ids[i][1], h2, p2);
		assert_memory_equal(h[i], h2, 6);
		assert_memory_equal(p[i], p2, 6);
		for (size_t j = 0; j < i; j++) {
			assert_memory_not_equal(h[i], h[j], 6);
			assert_memory_not_equal(p[i], p[j], 6);
		}
	}
}

/* ---- records ---------------------------------------------------------- */

static void test_write_read(void **state)
{
	struct fx *f = *state;
	struct endpoint ep, back;
	struct json_object *o, *v;
	char path[512];

	sample(&ep, ID, "eth0");
	assert_int_equal(endpoint_write(f->dir, &ep), 0);
	memset(&back, 0x5a, sizeof(back));
	assert_int_equal(endpoint_read(f->dir, ID, "eth0", &back), 0);
	assert_ep_equal(&ep, &back);
	assert_int_equal(back.nips, 2);
	assert_int_equal(back.ips[0].ip.family, AF_INET);
	assert_int_equal(back.ips[1].ip.family, AF_INET6);

	/* The documented file: <dir>/<id>:<ifname>.json, JSON, schema 1. */
	snprintf(path, sizeof(path), "%s/%s:eth0.json", f->dir, ID);
	o = json_object_from_file(path);
	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "schema", &v));
	assert_true(json_object_is_type(v, json_type_int));
	assert_int_equal(json_object_get_int(v), 1);
	assert_true(json_object_object_get_ex(o, "hostMac", &v));
	assert_int_equal(strlen(json_object_get_string(v)), 17);
	assert_true(json_object_object_get_ex(o, "ips", &v));
	assert_string_equal(json_object_get_string(json_object_array_get_idx(v, 0)),
			    "10.244.1.7/32");
	assert_string_equal(json_object_get_string(json_object_array_get_idx(v, 1)),
			    "fd00:10:244:1::7/128");
	json_object_put(o);
	assert_int_equal(count_entries(f->dir, ".tmp"), 0);
	assert_int_equal(count_entries(f->dir, ""), 1);

	/* Rewriting replaces the record. */
	ep.host_ifindex = 43;
	ep.nips = 1;
	assert_int_equal(endpoint_write(f->dir, &ep), 0);
	assert_int_equal(endpoint_read(f->dir, ID, "eth0", &back), 0);
	assert_ep_equal(&ep, &back);
	assert_int_equal(count_entries(f->dir, ""), 1);

	/* A second ifname is a second record. */
	sample(&ep, ID, "net1");
	assert_int_equal(endpoint_write(f->dir, &ep), 0);
	assert_int_equal(count_entries(f->dir, ".json"), 2);
	assert_int_equal(count_entries(f->dir, ".tmp"), 0);
}

static void test_write_mkdir(void **state)
{
	struct fx *f = *state;
	struct endpoint ep, back;
	char dir[256], file[256];

	/* The directory is created, parents included. */
	snprintf(dir, sizeof(dir), "%s/run/xdpath/endpoints", f->dir);
	sample(&ep, "c1", "eth0");
	assert_int_equal(endpoint_write(dir, &ep), 0);
	assert_int_equal(endpoint_read(dir, "c1", "eth0", &back), 0);
	assert_ep_equal(&ep, &back);
	/* A file where the directory should be is an error, not a crash. */
	snprintf(file, sizeof(file), "%s/file", f->dir);
	write_file(f->dir, "file", "x");
	assert_true(endpoint_write(file, &ep) < 0);
}

static void test_remove(void **state)
{
	struct fx *f = *state;
	struct endpoint ep;

	sample(&ep, "c1", "eth0");
	assert_int_equal(endpoint_write(f->dir, &ep), 0);
	sample(&ep, "c1", "eth1");
	assert_int_equal(endpoint_write(f->dir, &ep), 0);
	assert_int_equal(endpoint_remove(f->dir, "c1", "eth0"), 0);
	assert_int_equal(endpoint_read(f->dir, "c1", "eth0", &ep), -ENOENT);
	assert_int_equal(endpoint_remove(f->dir, "c1", "eth0"), 0);
	/* The other record is untouched. */
	assert_int_equal(endpoint_read(f->dir, "c1", "eth1", &ep), 0);
	assert_int_equal(count_entries(f->dir, ".json"), 1);
	/* The temp file of an ADD killed before its rename goes too. */
	write_file(f->dir, ".c1:eth1.json.tmp", "{\"schema\":");  /* write_atomic's name */
	assert_int_equal(endpoint_remove(f->dir, "c1", "eth1"), 0);
	assert_int_equal(count_entries(f->dir, ".tmp"), 0);
	assert_int_equal(count_entries(f->dir, ".json"), 0);
	/* Nothing there at all. */
	assert_int_equal(endpoint_remove("/nonexistent/xdpath", "c1", "eth0"), 0);
}

static void test_read_errors(void **state)
{
	struct fx *f = *state;
	struct endpoint ep;

	assert_int_equal(endpoint_read(f->dir, "nope", "eth0", &ep), -ENOENT);
	assert_int_equal(endpoint_read("/nonexistent/xdpath", "nope", "eth0", &ep), -ENOENT);
	write_file(f->dir, "c1:eth0.json", "this is not json");
	assert_int_equal(endpoint_read(f->dir, "c1", "eth0", &ep), -EINVAL);
	write_file(f->dir, "c1:eth0.json", "");
	assert_int_equal(endpoint_read(f->dir, "c1", "eth0", &ep), -EINVAL);
	write_file(f->dir, "c1:eth0.json", "null");
	assert_int_equal(endpoint_read(f->dir, "c1", "eth0", &ep), -EINVAL);
	write_file(f->dir, "c1:eth0.json", "[1,2]");
	assert_int_equal(endpoint_read(f->dir, "c1", "eth0", &ep), -EINVAL);
	write_file(f->dir, "c1:eth0.json", "{\"schema\":1,\"containerId\":\"c1\"}");
	assert_int_equal(endpoint_read(f->dir, "c1", "eth0", &ep), -EINVAL);
}

/* A record with one member replaced must not parse. */
static void test_read_bad_members(void **state)
{
	static const char *const bad[][2] = {
		{ "hostMac", "\"02:00:00:00:00\"" }, { "podMac", "\"zz:00:00:00:00:01\"" },
		{ "hostIfindex", "\"42\"" },         { "mtu", "1.5" },
		{ "ifname", "\"0123456789abcdef\"" }, { "ips", "[\"10.0.0.1\"]" },
		{ "ips", "\"10.0.0.1/32\"" },         { "ips", "[null]" },
		{ "containerId", "7" },
	};
	struct fx *f = *state;
	struct endpoint ep;
	char path[512];

	snprintf(path, sizeof(path), "%s/c1:eth0.json", f->dir);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct json_object *o;

		sample(&ep, "c1", "eth0");
		assert_int_equal(endpoint_write(f->dir, &ep), 0);
		o = json_object_from_file(path);
		assert_non_null(o);
		json_object_object_add(o, bad[i][0], json_tokener_parse(bad[i][1]));
		assert_int_equal(json_object_to_file(path, o), 0);
		json_object_put(o);
		if (endpoint_read(f->dir, "c1", "eth0", &ep) != -EINVAL)
			fail_msg("%s = %s was accepted", bad[i][0], bad[i][1]);
	}
}

struct seen {
	int n;
	char ids[8][300];
	int stop_at;  /* return 1 at this call (1-based), 0 = never */
};

static int collect(const struct endpoint *ep, void *ctx)
{
	struct seen *s = ctx;

	assert_true(s->n < 8);
	snprintf(s->ids[s->n], sizeof(s->ids[0]), "%s/%s", ep->container_id, ep->ifname);
	s->n++;
	return s->n == s->stop_at ? 77 : 0;
}

static bool seen_has(const struct seen *s, const char *id)
{
	for (int i = 0; i < s->n; i++)
		if (!strcmp(s->ids[i], id))
			return true;
	return false;
}

static void test_foreach(void **state)
{
	struct fx *f = *state;
	struct seen s = { 0 };
	struct endpoint ep;
	char path[512];

	sample(&ep, "c1", "eth0");
	assert_int_equal(endpoint_write(f->dir, &ep), 0);
	sample(&ep, "c2", "eth0");
	assert_int_equal(endpoint_write(f->dir, &ep), 0);
	sample(&ep, "c2", "net1");
	assert_int_equal(endpoint_write(f->dir, &ep), 0);
	/* Noise: other suffixes, a stale temp file, garbage, a directory. */
	write_file(f->dir, "README", "not a record");
	write_file(f->dir, ".c3:eth0.json.tmp", "{\"containerId\":\"c3\"}");
	write_file(f->dir, "c4:eth0.json", "garbage");
	write_file(f->dir, "c5:eth0.json", "{\"schema\":1}");
	write_file(f->dir, ".json", "{}");
	snprintf(path, sizeof(path), "%s/c6:eth0.json", f->dir);
	assert_int_equal(mkdir(path, 0755), 0);

	assert_int_equal(endpoint_foreach(f->dir, collect, &s), 0);
	assert_int_equal(s.n, 3);
	assert_true(seen_has(&s, "c1/eth0"));
	assert_true(seen_has(&s, "c2/eth0"));
	assert_true(seen_has(&s, "c2/net1"));

	/* A callback's error stops the walk and is returned. */
	memset(&s, 0, sizeof(s));
	s.stop_at = 2;
	assert_int_equal(endpoint_foreach(f->dir, collect, &s), 77);
	assert_int_equal(s.n, 2);

	/* An absent directory is empty. */
	memset(&s, 0, sizeof(s));
	snprintf(path, sizeof(path), "%s/absent", f->dir);
	assert_int_equal(endpoint_foreach(path, collect, &s), 0);
	assert_int_equal(s.n, 0);
}

/* A record that cannot be read now (here: out of descriptors) is not a
 * record that is not there: the walk stops with the error, so the agent
 * never sweeps live endpoints on a partial view. The limit leaves one
 * descriptor, which opendir takes. */
static void test_foreach_unreadable_stops(void **state)
{
	struct fx *f = *state;
	struct rlimit old, low;
	struct endpoint ep;
	struct seen s;
	int free_fd, err;

	sample(&ep, "c1", "eth0");
	assert_int_equal(endpoint_write(f->dir, &ep), 0);
	free_fd = dup(0);
	assert_true(free_fd >= 0);
	close(free_fd);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = free_fd + 1;
	memset(&s, 0, sizeof(s));
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	err = endpoint_foreach(f->dir, collect, &s);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	assert_int_equal(err, -EMFILE);
	assert_int_equal(s.n, 0);
	/* Descriptors back: the same walk sees the record. */
	assert_int_equal(endpoint_foreach(f->dir, collect, &s), 0);
	assert_int_equal(s.n, 1);
}

/* ---- map entries ------------------------------------------------------ */

static void test_to_map(void **state)
{
	static const uint8_t zero[16];
	static const uint8_t v6[16] = { 0xfd, 0x00, 0x00, 0x10, 0x02, 0x44, 0x00, 0x01,
					0, 0, 0, 0, 0, 0, 0, 0x07 };
	struct xdp_ep_key key;
	struct xdp_ep_info info;
	struct endpoint ep;

	(void)state;
	sample(&ep, ID, "eth0");
	memset(&key, 0xff, sizeof(key));
	memset(&info, 0xff, sizeof(info));
	endpoint_to_map(&ep, 0, &key, &info);
	assert_int_equal(key.family, XDP_EP_FAMILY_V4);
	assert_memory_equal(key.addr, "\x0a\xf4\x01\x07", 4);
	assert_memory_equal(key.addr + 4, zero, 12);
	assert_memory_equal(key.pad, zero, 3);
	assert_int_equal(info.host_ifindex, 42);
	assert_int_equal(info.pod_ifindex, 2);
	assert_memory_equal(info.host_mac, ep.host_mac, 6);
	assert_memory_equal(info.pod_mac, ep.pod_mac, 6);
	assert_int_equal(info.ep_id, 42);
	assert_int_equal(info.flags, 0); /* not READY until the agent says so */

	endpoint_to_map(&ep, 1, &key, &info);
	assert_int_equal(key.family, XDP_EP_FAMILY_V6);
	assert_memory_equal(key.addr, v6, 16);
	assert_int_equal(info.host_ifindex, 42);
	assert_memory_equal(info.pod_mac, ep.pod_mac, 6);
}

/* ---- mac.c ------------------------------------------------------------ */

static void test_mac(void **state)
{
	static const char *const bad[] = {
		"zz:00:00:00:00:01", "02:00:00:00:00", "02:00:00:00:00:01x",
		"02:00:00:00:00:01:02", "02:00:00:00:00:01 ", " 02:00:00:00:00:01",
		"2:0:0:0:0:1", "-1:00:00:00:00:00", "+2:00:00:00:00:01", "0x:00:00:00:00:01",
		"02-00-00-00-00-01", "0200.0000.0001", "", "02:00:00:00:00:1",
	};
	const uint8_t m[6] = { 0x02, 0x00, 0x5e, 0xa0, 0xff, 0x01 };
	uint8_t back[6], keep[6] = { 1, 2, 3, 4, 5, 6 };
	char buf[MAC_STRLEN];

	(void)state;
	assert_ptr_equal(mac_fmt(m, buf), buf);
	assert_string_equal(buf, "02:00:5e:a0:ff:01");
	assert_int_equal(mac_parse(buf, back), 0);
	assert_memory_equal(back, m, 6);
	assert_int_equal(mac_parse("02:00:5E:A0:FF:01", back), 0);
	assert_memory_equal(back, m, 6);
	assert_int_equal(mac_parse("ff:ff:ff:ff:ff:ff", back), 0);
	assert_string_equal(mac_fmt(back, buf), "ff:ff:ff:ff:ff:ff");
	assert_int_equal(mac_parse(NULL, back), -1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memcpy(back, keep, 6);
		if (mac_parse(bad[i], back) != -1)
			fail_msg("\"%s\" was accepted", bad[i]);
		assert_memory_equal(back, keep, 6); /* untouched on error */
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_host_ifname),
		cmocka_unit_test(test_macs),
		cmocka_unit_test_setup_teardown(test_write_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_mkdir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_bad_members, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreach, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreach_unreadable_stops, setup, teardown),
		cmocka_unit_test(test_to_map),
		cmocka_unit_test(test_mac),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
