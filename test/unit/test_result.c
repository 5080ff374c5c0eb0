/* Unit tests for cni/result.c (result JSON in every spec version, prevResult
 * parsing) and cmd_version(). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"
#include <json-c/json.h>

#include "cmd.h"
#include "cni.h"

static const char *const versions[] = { "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0" };
#define NVERSIONS (sizeof(versions) / sizeof(versions[0]))

static const uint8_t host_mac[6] = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 };
static const uint8_t pod_mac[6] = { 0x06, 0xaa, 0xbb, 0xcc, 0xdd, 0xee };


/* Host veth (no sandbox), pod eth0; a v4 address with a gateway, a v6 one
 * without; a default route with a gateway and one without. */
static void sample(struct cni_result *r)
{
	memset(r, 0, sizeof(*r));
	strcpy(r->ifs[0].name, "xdp0123456789a");
	memcpy(r->ifs[0].mac, host_mac, 6);
	r->ifs[0].mtu = 1450;
	strcpy(r->ifs[1].name, "eth0");
	memcpy(r->ifs[1].mac, pod_mac, 6);
	r->ifs[1].mtu = 1450;
	strcpy(r->ifs[1].sandbox, "/run/netns/pod");
	r->nifs = 2;
	r->ips[0].addr = N("10.244.0.5/24");
	r->ips[0].gw = A("169.254.1.1");
	r->ips[0].has_gw = true;
	r->ips[0].iface = 1;
	r->ips[1].addr = N("fd00:10:244::5/64");
	r->ips[1].iface = 0;
	r->nips = 2;
	r->routes[0].dst = N("0.0.0.0/0");
	r->routes[0].gw = A("169.254.1.1");
	r->routes[0].has_gw = true;
	r->routes[1].dst = N("fd00::/8");
	r->nroutes = 2;
}

/* o[k], or NULL when absent. */
static struct json_object *get(struct json_object *o, const char *k)
{
	struct json_object *v;

	assert_non_null(o);
	return json_object_object_get_ex(o, k, &v) ? v : NULL;
}

static struct json_object *idx(struct json_object *o, const char *k, size_t i)
{
	struct json_object *arr = get(o, k);

	assert_non_null(arr);
	assert_true(json_object_is_type(arr, json_type_array));
	assert_true(i < json_object_array_length(arr));
	return json_object_array_get_idx(arr, i);
}

static void assert_member_str(struct json_object *o, const char *k, const char *want)
{
	struct json_object *v = get(o, k);

	if (!v || !json_object_is_type(v, json_type_string))
		fail_msg("\"%s\" missing or not a string in %s", k, json_object_to_json_string(o));
	assert_string_equal(json_object_get_string(v), want);
}

static void assert_member_int(struct json_object *o, const char *k, int want)
{
	struct json_object *v = get(o, k);

	if (!v || !json_object_is_type(v, json_type_int))
		fail_msg("\"%s\" missing or not an int in %s", k, json_object_to_json_string(o));
	assert_int_equal(json_object_get_int(v), want);
}

static struct json_object *parse_json(const char *s)
{
	struct json_object *o = json_tokener_parse(s);

	if (!o)
		fail_msg("bad test JSON: %s", s);
	return o;
}

/* ---- cni_result_to_json ----------------------------------------------- */

static void test_to_json_versions(void **state)
{
	struct cni_result r;

	(void)state;
	sample(&r);
	for (size_t i = 0; i < NVERSIONS; i++) {
		struct json_object *o = cni_result_to_json(&r, versions[i]), *it;
		bool pre1 = cni_version_parse(versions[i]) < CNI_V(1, 0, 0);
		bool v11 = !strcmp(versions[i], "1.1.0");

		assert_member_str(o, "cniVersion", versions[i]);
		assert_int_equal(json_object_array_length(get(o, "interfaces")), 2);
		assert_int_equal(json_object_array_length(get(o, "ips")), 2);
		assert_int_equal(json_object_array_length(get(o, "routes")), 2);

		/* interfaces: mtu is a 1.1.0 field; sandbox only when set. */
		it = idx(o, "interfaces", 0);
		assert_member_str(it, "name", "xdp0123456789a");
		assert_member_str(it, "mac", "02:11:22:33:44:55");
		assert_null(get(it, "sandbox"));
		if (v11)
			assert_member_int(it, "mtu", 1450);
		else
			assert_null(get(it, "mtu"));
		it = idx(o, "interfaces", 1);
		assert_member_str(it, "name", "eth0");
		assert_member_str(it, "mac", "06:aa:bb:cc:dd:ee");
		assert_member_str(it, "sandbox", "/run/netns/pod");
		assert_int_equal(get(it, "mtu") != NULL, v11);

		/* ips: "version" before 1.0.0 only; gateway only when has_gw. */
		it = idx(o, "ips", 0);
		assert_member_str(it, "address", "10.244.0.5/24");
		assert_member_str(it, "gateway", "169.254.1.1");
		assert_member_int(it, "interface", 1);
		if (pre1)
			assert_member_str(it, "version", "4");
		else
			assert_null(get(it, "version"));
		it = idx(o, "ips", 1);
		assert_member_str(it, "address", "fd00:10:244::5/64");
		assert_null(get(it, "gateway"));
		assert_member_int(it, "interface", 0);
		if (pre1)
			assert_member_str(it, "version", "6");
		else
			assert_null(get(it, "version"));

		it = idx(o, "routes", 0);
		assert_member_str(it, "dst", "0.0.0.0/0");
		assert_member_str(it, "gw", "169.254.1.1");
		it = idx(o, "routes", 1);
		assert_member_str(it, "dst", "fd00::/8");
		assert_null(get(it, "gw"));

		/* No dns: an empty object. */
		it = get(o, "dns");
		assert_non_null(it);
		assert_true(json_object_is_type(it, json_type_object));
		assert_int_equal(json_object_object_length(it), 0);
		json_object_put(o);
	}
}

static void test_to_json_details(void **state)
{
	struct json_object *o, *dns = parse_json("{\"nameservers\":[\"10.96.0.10\"],"
						 "\"search\":[\"svc.cluster.local\"]}");
	struct cni_result r;

	(void)state;
	sample(&r);
	r.ips[1].iface = -1;  /* no interface index */
	r.ifs[0].mtu = 0;     /* kernel default: no mtu even in 1.1.0 */
	r.dns = dns;
	o = cni_result_to_json(&r, "1.1.0");
	assert_null(get(idx(o, "ips", 1), "interface"));
	assert_member_int(idx(o, "ips", 0), "interface", 1);
	assert_null(get(idx(o, "interfaces", 0), "mtu"));
	assert_member_int(idx(o, "interfaces", 1), "mtu", 1450);
	assert_true(json_object_equal(get(o, "dns"), dns));
	json_object_put(o);
	/* The result took its own reference: dns is still ours. */
	assert_int_equal(json_object_array_length(get(dns, "nameservers")), 1);
	json_object_put(dns);

	/* An empty result still has the three arrays. */
	memset(&r, 0, sizeof(r));
	o = cni_result_to_json(&r, "0.3.1");
	assert_int_equal(json_object_array_length(get(o, "interfaces")), 0);
	assert_int_equal(json_object_array_length(get(o, "ips")), 0);
	assert_int_equal(json_object_array_length(get(o, "routes")), 0);
	json_object_put(o);
}

/* ---- cni_result_parse ------------------------------------------------- */

static void assert_same(const struct cni_result *a, const struct cni_result *b, bool mtu)
{
	assert_int_equal(a->nifs, b->nifs);
	for (int i = 0; i < a->nifs; i++) {
		assert_string_equal(a->ifs[i].name, b->ifs[i].name);
		assert_memory_equal(a->ifs[i].mac, b->ifs[i].mac, 6);
		assert_string_equal(a->ifs[i].sandbox, b->ifs[i].sandbox);
		assert_int_equal(b->ifs[i].mtu, mtu ? a->ifs[i].mtu : 0);
	}
	assert_int_equal(a->nips, b->nips);
	for (int i = 0; i < a->nips; i++) {
		assert_true(ipaddr_equal(&a->ips[i].addr.ip, &b->ips[i].addr.ip));
		assert_int_equal(a->ips[i].addr.prefix, b->ips[i].addr.prefix);
		assert_int_equal(a->ips[i].has_gw, b->ips[i].has_gw);
		if (a->ips[i].has_gw)
			assert_true(ipaddr_equal(&a->ips[i].gw, &b->ips[i].gw));
		assert_int_equal(a->ips[i].iface, b->ips[i].iface);
	}
	assert_int_equal(a->nroutes, b->nroutes);
	for (int i = 0; i < a->nroutes; i++) {
		assert_true(ipaddr_equal(&a->routes[i].dst.ip, &b->routes[i].dst.ip));
		assert_int_equal(a->routes[i].dst.prefix, b->routes[i].dst.prefix);
		assert_int_equal(a->routes[i].has_gw, b->routes[i].has_gw);
		if (a->routes[i].has_gw)
			assert_true(ipaddr_equal(&a->routes[i].gw, &b->routes[i].gw));
	}
}

static void test_round_trip(void **state)
{
	struct cni_result r, back;
	struct cni_err e;

	(void)state;
	sample(&r);
	r.ips[1].iface = -1;
	for (size_t i = 0; i < NVERSIONS; i++) {
		/* Through text, as a runtime would hand it back. */
		struct json_object *o = cni_result_to_json(&r, versions[i]);
		struct json_object *p = parse_json(json_object_to_json_string(o));

		memset(&e, 0, sizeof(e));
		memset(&back, 0x5a, sizeof(back));
		assert_int_equal(cni_result_parse(p, &back, &e), 0);
		assert_int_equal(e.code, 0);
		assert_same(&r, &back, !strcmp(versions[i], "1.1.0"));
		json_object_put(p);
		json_object_put(o);
	}
}

static void test_parse_lenient(void **state)
{
	struct cni_result r;
	struct cni_err e = { 0 };
	struct json_object *o;

	(void)state;
	/* Nothing at all is an empty result. */
	o = parse_json("{\"cniVersion\":\"1.0.0\"}");
	assert_int_equal(cni_result_parse(o, &r, &e), 0);
	assert_int_equal(r.nifs + r.nips + r.nroutes, 0);
	json_object_put(o);
	/* Interfaces past ours are not looked at, nor indices into them. */
	o = parse_json("{\"interfaces\":[{\"name\":\"a\"},{\"name\":\"b\"},{\"name\":\"c\"}],"
		       "\"ips\":[{\"address\":\"10.0.0.2/24\",\"interface\":2}]}");
	assert_int_equal(cni_result_parse(o, &r, &e), 0);
	assert_int_equal(r.nifs, XDP_MAX_IFS);
	assert_int_equal(r.nips, 1);
	assert_int_equal(r.ips[0].iface, 2);
	assert_false(r.ips[0].has_gw);
	json_object_put(o);
	/* No mac: zeros; 0.3.x "version" is ignored. */
	o = parse_json("{\"interfaces\":[{\"name\":\"eth0\"}],"
		       "\"ips\":[{\"version\":\"4\",\"address\":\"10.0.0.2/24\"}]}");
	assert_int_equal(cni_result_parse(o, &r, &e), 0);
	assert_memory_equal(r.ifs[0].mac, "\0\0\0\0\0\0", 6);
	assert_int_equal(r.ips[0].iface, -1);
	json_object_put(o);
}

static void expect_parse_err(const char *json, const char *needle)
{
	struct json_object *o = parse_json(json);
	struct cni_result r;
	struct cni_err e = { 0 };
	int ret = cni_result_parse(o, &r, &e);

	json_object_put(o);
	if (ret != CNI_ERR_INVALID_CONFIG || e.code != CNI_ERR_INVALID_CONFIG ||
	    strcmp(e.msg, "invalid prevResult") || !strstr(e.details, needle))
		fail_msg("%s: got %d \"%s\" \"%s\", want 7 \"%s\"", json, ret, e.msg, e.details,
			 needle);
}

static void test_parse_errors(void **state)
{
	(void)state;
	expect_parse_err("{\"interfaces\":{}}", "must be arrays");
	expect_parse_err("{\"interfaces\":\"eth0\"}", "must be arrays");
	expect_parse_err("{\"ips\":{\"address\":\"10.0.0.2/24\"}}", "must be arrays");
	expect_parse_err("{\"routes\":1}", "must be arrays");
	expect_parse_err("{\"interfaces\":[{\"mac\":\"02:00:00:00:00:01\"}]}",
			 "interfaces[0] needs a \"name\"");
	expect_parse_err("{\"interfaces\":[\"eth0\"]}", "interfaces[0] needs a \"name\"");
	expect_parse_err("{\"interfaces\":[{\"name\":\"0123456789abcdef\"}]}",
			 "interfaces[0] needs a \"name\"");
	expect_parse_err("{\"interfaces\":[{\"name\":\"eth0\",\"mac\":\"zz:00:00:00:00:01\"}]}",
			 "interfaces[0].mac \"zz:00:00:00:00:01\" is not a MAC");
	expect_parse_err("{\"interfaces\":[{\"name\":\"a\"},"
			 "{\"name\":\"eth0\",\"mac\":\"02:00:00:00:00\"}]}",
			 "interfaces[1].mac");
	expect_parse_err("{\"ips\":[{\"address\":\"10.0.0.2\"}]}", "ips[0].address is not a CIDR");
	expect_parse_err("{\"ips\":[{\"address\":\"10.0.0.2/24\"},{\"address\":\"fd00::/129\"}]}",
			 "ips[1].address is not a CIDR");
	expect_parse_err("{\"ips\":[{\"gateway\":\"10.0.0.1\"}]}", "ips[0].address is not a CIDR");
	expect_parse_err("{\"ips\":[{\"address\":\"10.0.0.2/24\",\"gateway\":\"10.0.0.256\"}]}",
			 "ips[0].gateway \"10.0.0.256\" is not an IP");
	expect_parse_err("{\"ips\":[{\"address\":\"10.0.0.2/24\",\"gateway\":\"10.0.0.1/24\"}]}",
			 "gateway \"10.0.0.1/24\" is not an IP");
	expect_parse_err("{\"interfaces\":[{\"name\":\"eth0\"}],"
			 "\"ips\":[{\"address\":\"10.0.0.2/24\",\"interface\":-1}]}",
			 "ips[0].interface is not an index");
	expect_parse_err("{\"interfaces\":[{\"name\":\"eth0\"}],"
			 "\"ips\":[{\"address\":\"10.0.0.2/24\",\"interface\":\"0\"}]}",
			 "ips[0].interface is not an index");
	expect_parse_err("{\"interfaces\":[{\"name\":\"eth0\"}],"
			 "\"ips\":[{\"address\":\"10.0.0.2/24\",\"interface\":1}]}",
			 "ips[0].interface 1 is out of range");
	expect_parse_err("{\"ips\":[{\"address\":\"10.0.0.2/24\",\"interface\":0}]}",
			 "ips[0].interface 0 is out of range");
	expect_parse_err("{\"ips\":[{\"address\":\"10.0.0.1/24\"},{\"address\":\"10.0.0.2/24\"},"
			 "{\"address\":\"10.0.0.3/24\"},{\"address\":\"10.0.0.4/24\"},"
			 "{\"address\":\"10.0.0.5/24\"}]}",
			 "prevResult has 5 ips, at most 4 supported");
	expect_parse_err("{\"routes\":[{\"gw\":\"10.0.0.1\"}]}", "routes[0].dst is not a CIDR");
	expect_parse_err("{\"routes\":[{\"dst\":\"0.0.0.0/0\",\"gw\":\"x\"}]}",
			 "routes[0].gw \"x\" is not an IP");
}

static void test_parse_limits(void **state)
{
	char buf[4096];
	size_t n = 0;
	struct json_object *o;
	struct cni_result r;
	struct cni_err e = { 0 };

	(void)state;
	/* Exactly XDP_MAX_IPS ips and XDP_MAX_ROUTES routes fit. */
	n += snprintf(buf + n, sizeof(buf) - n, "{\"ips\":[");
	for (int i = 0; i < XDP_MAX_IPS; i++)
		n += snprintf(buf + n, sizeof(buf) - n, "%s{\"address\":\"10.0.0.%d/24\"}",
			      i ? "," : "", i + 1);
	n += snprintf(buf + n, sizeof(buf) - n, "],\"routes\":[");
	for (int i = 0; i < XDP_MAX_ROUTES; i++)
		n += snprintf(buf + n, sizeof(buf) - n, "%s{\"dst\":\"10.%d.0.0/16\"}",
			      i ? "," : "", i);
	snprintf(buf + n, sizeof(buf) - n, "]}");
	o = parse_json(buf);
	assert_int_equal(cni_result_parse(o, &r, &e), 0);
	assert_int_equal(r.nips, XDP_MAX_IPS);
	assert_int_equal(r.nroutes, XDP_MAX_ROUTES);
	json_object_put(o);

	/* One route more is refused. */
	strcpy(buf + strlen(buf) - 2, ",{\"dst\":\"10.200.0.0/16\"}]}");
	o = parse_json(buf);
	assert_int_equal(cni_result_parse(o, &r, &e), CNI_ERR_INVALID_CONFIG);
	assert_non_null(strstr(e.details, "routes, at most"));
	json_object_put(o);
}

/* ---- cmd_version ------------------------------------------------------ */

static void assert_version_reply(const char *requested, const char *want)
{
	struct json_object *o = cmd_version(requested), *arr;

	assert_member_str(o, "cniVersion", want);
	arr = get(o, "supportedVersions");
	assert_non_null(arr);
	assert_int_equal(json_object_array_length(arr), NVERSIONS);
	for (size_t i = 0; i < NVERSIONS; i++)
		assert_string_equal(json_object_get_string(json_object_array_get_idx(arr, i)),
				    versions[i]);
	assert_int_equal(json_object_object_length(o), 2);
	json_object_put(o);
}

static void test_cmd_version(void **state)
{
	(void)state;
	assert_version_reply("0.4.0", "0.4.0");
	assert_version_reply("0.3.0", "0.3.0");
	assert_version_reply("1.0.0", "1.0.0");
	assert_version_reply("1.1.0", "1.1.0");
	assert_version_reply("0.2.0", "1.1.0");
	assert_version_reply("2.0.0", "1.1.0");
	assert_version_reply("abc", "1.1.0");
	assert_version_reply("", "1.1.0");
	assert_version_reply(NULL, "1.1.0");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_to_json_versions),
		cmocka_unit_test(test_to_json_details),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_parse_lenient),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_parse_limits),
		cmocka_unit_test(test_cmd_version),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
